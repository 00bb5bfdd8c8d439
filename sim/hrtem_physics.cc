#include "sim/hrtem_physics.h"

#include <cmath>

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

}  // namespace fringe::sim
