#include "sim/hrtem_physics.h"

#include <cmath>
#include <complex>

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;
// h / sqrt(2 m0 e) in A * V^(1/2): the non-relativistic wavelength is this
// divided by sqrt(V).
constexpr double kWavelengthConstantA = 12.26425966;

struct PengParameters {
  double a[5];  // A
  double b[5];  // A^2
};

// Peng, Ren, Dudarev & Whelan (1996), Acta Cryst. A52, 257-276: elastic
// scattering factors of neutral atoms, five-Gaussian fit for 0 <= s <= 2 1/A.
constexpr PengParameters kPengCarbon = {{0.0893, 0.2563, 0.7570, 1.0487, 0.3575},
                                        {0.2465, 1.7100, 6.4094, 18.6113, 50.2523}};
constexpr PengParameters kPengGold = {{0.9674, 1.8916, 3.3993, 3.0524, 1.2607},
                                      {0.2358, 1.4712, 5.6758, 18.7119, 61.5286}};

const PengParameters& PengFor(Element element) {
  return element == Element::kGold ? kPengGold : kPengCarbon;
}

}  // namespace

double ElectronWavelengthA(double voltage_kv) {
  const double volts = voltage_kv * 1e3;
  return kWavelengthConstantA /
         std::sqrt(volts * (1.0 + voltage_kv / (2.0 * kElectronRestEnergyKeV)));
}

double InteractionConstant(double voltage_kv) {
  const double volts = voltage_kv * 1e3;
  return 2.0 * kPi / (ElectronWavelengthA(voltage_kv) * volts) *
         (kElectronRestEnergyKeV + voltage_kv) / (2.0 * kElectronRestEnergyKeV + voltage_kv);
}

double ElectronScatteringFactorA(Element element, double k_inv_a) {
  const PengParameters& p = PengFor(element);
  const double s2 = 0.25 * k_inv_a * k_inv_a;  // s = sin(theta)/lambda = k/2
  double f = 0.0;
  for (int i = 0; i < 5; ++i) f += p.a[i] * std::exp(-p.b[i] * s2);
  return f;
}

double DebyeWallerBA2(Element element) {
  // Room-temperature thermal vibration: gold's measured B is about 0.6 A^2.
  // Amorphous carbon is dominated by static disorder, which the explicit
  // random positions already model, so a similar small value is used.
  return element == Element::kGold ? 0.62 : 0.5;
}

double ProjectedPotentialFourier(Element element, double k_inv_a) {
  const double k2 = k_inv_a * k_inv_a;
  return kScatteringToPotentialVA2 * ElectronScatteringFactorA(element, k_inv_a) *
         std::exp(-0.25 * DebyeWallerBA2(element) * k2);
}

double CtfPhase(double k_inv_a, double wavelength_a, double defocus_a, double cs_a) {
  const double k2 = k_inv_a * k_inv_a;
  return kPi * wavelength_a * defocus_a * k2 +
         0.5 * kPi * cs_a * wavelength_a * wavelength_a * wavelength_a * k2 * k2;
}

double PhaseContrastTransfer(double k_inv_a, double wavelength_a, double defocus_a, double cs_a) {
  return -std::sin(CtfPhase(k_inv_a, wavelength_a, defocus_a, cs_a));
}

double TemporalEnvelope(double k_inv_a, double wavelength_a, double focal_spread_a) {
  const double k2 = k_inv_a * k_inv_a;
  const double t = kPi * wavelength_a * focal_spread_a;
  return std::exp(-0.5 * t * t * k2 * k2);
}

double SpatialEnvelope(double k_inv_a, double wavelength_a, double defocus_a, double cs_a,
                       double convergence_rad) {
  const double grad = wavelength_a * defocus_a * k_inv_a + cs_a * wavelength_a * wavelength_a *
                                                               wavelength_a * k_inv_a * k_inv_a *
                                                               k_inv_a;
  const double t = kPi * convergence_rad / wavelength_a;
  return std::exp(-t * t * grad * grad);
}

double DetectorMtf(double nu_cycles_per_px, double mtf50_cycles_per_px) {
  const double r = nu_cycles_per_px / mtf50_cycles_per_px;
  return 1.0 / (1.0 + r * r);
}

namespace {

double AberrationPhaseNoTilt(double kx, double ky, double lambda, const Aberrations& ab) {
  const std::complex<double> w(lambda * kx, lambda * ky);
  const std::complex<double> wc = std::conj(w);
  const double ww = std::norm(w);
  const std::complex<double> a1 = std::polar(ab.a1_a, 2.0 * ab.a1_azimuth_rad);
  const std::complex<double> a2 = std::polar(ab.a2_a, 3.0 * ab.a2_azimuth_rad);
  const std::complex<double> b2 = std::polar(ab.b2_a, -ab.b2_azimuth_rad);
  const double re = 0.5 * ww * ab.c1_a + (0.5 * wc * wc * a1).real() + (w * w * wc * b2).real() +
                    (wc * wc * wc * a2).real() / 3.0 + 0.25 * ww * ww * ab.c3_a;
  return 2.0 * 3.14159265358979323846 / lambda * re;
}

}  // namespace

double AberrationPhase(double kx, double ky, double wavelength_a, const Aberrations& ab) {
  if (ab.tilt_x_rad == 0.0 && ab.tilt_y_rad == 0.0) {
    return AberrationPhaseNoTilt(kx, ky, wavelength_a, ab);
  }
  const double tx = ab.tilt_x_rad / wavelength_a;
  const double ty = ab.tilt_y_rad / wavelength_a;
  const double h = 1e-4;  // 1/A, central differences of a polynomial of degree 4
  const double gx = (AberrationPhaseNoTilt(tx + h, ty, wavelength_a, ab) -
                     AberrationPhaseNoTilt(tx - h, ty, wavelength_a, ab)) /
                    (2.0 * h);
  const double gy = (AberrationPhaseNoTilt(tx, ty + h, wavelength_a, ab) -
                     AberrationPhaseNoTilt(tx, ty - h, wavelength_a, ab)) /
                    (2.0 * h);
  return AberrationPhaseNoTilt(kx + tx, ky + ty, wavelength_a, ab) -
         AberrationPhaseNoTilt(tx, ty, wavelength_a, ab) - gx * kx - gy * ky;
}

double ScintillatorMtf(double nu, double sigma_px, double tail_weight, double tail_length_px) {
  constexpr double kTwoPi = 2.0 * 3.14159265358979323846;
  const double core = std::exp(-0.5 * std::pow(kTwoPi * sigma_px * nu, 2));
  const double tail = std::pow(1.0 + std::pow(kTwoPi * nu * tail_length_px, 2), -1.5);
  return (1.0 - tail_weight) * core + tail_weight * tail;
}

}  // namespace fringe::sim
