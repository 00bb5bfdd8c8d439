// Physical constants and closed-form pieces of the HRTEM image formation
// model: electron wavelength, interaction constant, atomic scattering
// factors, the contrast transfer function (CTF) with its envelopes, and the
// detector MTF. Pure functions, safe to call from any thread.
//
// Units (everywhere in this file): lengths in Angstrom (A), spatial
// frequencies k in 1/A (k = 1/d, no 2*pi), potentials in volt (V), angles in
// radians, accelerating voltage in kV. 1 nm = 10 A, 1 um = 1e4 A.
#ifndef FRINGE_SIM_HRTEM_PHYSICS_H_
#define FRINGE_SIM_HRTEM_PHYSICS_H_

namespace fringe::sim {

// Chemical elements the simulator knows; the value is the atomic number Z.
enum class Element { kCarbon = 6, kGold = 79 };

// Face-centred cubic gold lattice constant (A).
inline constexpr double kGoldLatticeConstantA = 4.078;
// Gold metallic radius = half the fcc nearest-neighbour distance a/sqrt(2)/2 (A).
inline constexpr double kGoldAtomicRadiusA = 4.078 * 0.35355339059327373;
// Amorphous carbon support: number density (atoms/A^3) and minimum spacing (A).
inline constexpr double kCarbonDensityPerA3 = 0.11;
inline constexpr double kCarbonMinSpacingA = 1.4;
// Electron rest energy m0*c^2 (keV).
inline constexpr double kElectronRestEnergyKeV = 510.99895;
// h^2 / (2*pi*m0*e) in V*A^2: converts an electron scattering factor f_e(k)
// (A) into the 2D Fourier transform of an atom's projected potential
// (V*A^3), see ProjectedPotentialFourier. Equals 2*pi*a0*e (Kirkland 2010).
inline constexpr double kScatteringToPotentialVA2 = 47.87764731;

// Relativistic electron wavelength (A) at `voltage_kv`:
// lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2))). 300 kV -> 0.019687 A.
double ElectronWavelengthA(double voltage_kv);

// Relativistic interaction constant sigma (rad / (V*A)) at `voltage_kv`:
// sigma = 2*pi / (lambda*V) * (m0c^2 + eV) / (2*m0c^2 + eV), so the phase
// shift of a projected potential v_z (V*A) is sigma * v_z. 300 kV -> 6.5e-4.
double InteractionConstant(double voltage_kv);

// Elastic electron scattering factor f_e(k) (A) of a neutral isolated atom
// at spatial frequency k (1/A, k = 2 sin(theta) / lambda = 2 s), from the
// five-Gaussian fit of Peng, Ren, Dudarev & Whelan, Acta Cryst. A52 (1996)
// 257 (their 0 <= s <= 2 1/A parameters, also International Tables for
// Crystallography Vol. C): f_e = sum_i a_i exp(-b_i s^2).
double ElectronScatteringFactorA(Element element, double k_inv_a);

// Isotropic Debye-Waller B factor (A^2) used to damp each element's
// potential at room temperature: exp(-B s^2) = exp(-B k^2 / 4).
double DebyeWallerBA2(Element element);

// 2D Fourier transform (V*A^3) of one atom's projected potential at frequency
// k (1/A): kScatteringToPotentialVA2 * f_e(k) * exp(-B k^2 / 4). Its value at
// k = 0 is the atom's potential integrated over area and thickness.
double ProjectedPotentialFourier(Element element, double k_inv_a);

// Objective lens aberration phase chi(k) (rad) with the convention
// chi = pi*lambda*df*k^2 + (pi/2)*Cs*lambda^3*k^4 (negative df = underfocus).
// The image wave is psi(k) * exp(-i chi(k)).
double CtfPhase(double k_inv_a, double wavelength_a, double defocus_a, double cs_a);

// Axial aberrations beyond C1 (defocus) and C3 (Cs), as magnitudes (A) and azimuths (rad),
// and the beam tilt (rad, components along x and y).
struct Aberrations {
  double c1_a = 0.0;  // defocus (= df of CtfPhase; negative = underfocus)
  double c3_a = 0.0;  // spherical aberration Cs
  double a1_a = 0.0;  // twofold astigmatism
  double a1_azimuth_rad = 0.0;
  double a2_a = 0.0;  // threefold astigmatism
  double a2_azimuth_rad = 0.0;
  double b2_a = 0.0;  // axial coma
  double b2_azimuth_rad = 0.0;
  double tilt_x_rad = 0.0;
  double tilt_y_rad = 0.0;
};

// Anisotropic aberration phase chi (rad) at the 2D spatial frequency (kx, ky) (1/A), in the
// Krivanek / Haider notation (Krivanek et al., Ultramicroscopy 78 (1999) 1; Haider et al.,
// Ultramicroscopy 81 (2000) 163) with the complex angle w = lambda (kx + i ky):
//   chi = (2 pi / lambda) Re[ 1/2 w conj(w) C1 + 1/2 conj(w)^2 A1 + w^2 conj(w) B2
//                             + 1/3 conj(w)^3 A2 + 1/4 (w conj(w))^2 C3 ],
// where A1 = |A1| e^{2 i phi_A1}, A2 = |A2| e^{3 i phi_A2}, B2 = |B2| e^{-i phi_B2} (the sign
// makes phi_B2 the azimuth where the coma term peaks), so that
//   A1 term: pi lambda |A1| k^2 cos 2(theta - phi_A1)
//   A2 term: (2 pi / 3) lambda^2 |A2| k^3 cos 3(theta - phi_A2)
//   B2 term: 2 pi lambda^2 |B2| k^3 cos(theta - phi_B2)
// (theta the azimuth of k). With only C1 and C3 it equals CtfPhase. A beam tilt t (rad) moves
// the optic axis: chi_tilt(k) = chi(k + t/lambda) - chi(t/lambda) - grad chi(t/lambda) . k
// (the constant and the linear part are a phase and an image shift, dropped); to first order
// this is the axial coma and astigmatism that tilt induces through Cs and defocus.
double AberrationPhase(double kx_inv_a, double ky_inv_a, double wavelength_a,
                       const Aberrations& aberrations);

// Phase-contrast transfer function of a weak phase object, -sin(chi(k))
// (same arguments as CtfPhase); used for reporting and tests.
double PhaseContrastTransfer(double k_inv_a, double wavelength_a, double defocus_a, double cs_a);

// Temporal-coherence envelope exp(-(pi*lambda*Delta)^2 k^4 / 2) for a focal
// spread Delta (A, standard deviation of the Gaussian defocus distribution).
double TemporalEnvelope(double k_inv_a, double wavelength_a, double focal_spread_a);

// Spatial-coherence (partial coherence) envelope for a Gaussian
// distribution of illumination angles with 1/e semi-angle alpha (rad):
// exp(-(alpha / (2 lambda))^2 |grad_k chi|^2)
//   = exp(-(pi*alpha/lambda)^2 (lambda*df*k + Cs*lambda^3*k^3)^2).
double SpatialEnvelope(double k_inv_a, double wavelength_a, double defocus_a, double cs_a,
                       double convergence_rad);

// Detector modulation transfer function at spatial frequency nu (cycles per
// pixel, Nyquist = 0.5): 1 / (1 + (nu / mtf50)^2), i.e. a Lorentzian that
// falls to 1/2 at `mtf50_cycles_per_px` and keeps the mean dose (MTF(0) = 1).
double DetectorMtf(double nu_cycles_per_px, double mtf50_cycles_per_px);

// MTF of the held-out scintillator-coupled CCD: a Gaussian core (standard deviation
// `sigma_px` pixels) plus a weight `tail_weight` of exponential tail exp(-r / tail_length_px)
// (its 2D transform is (1 + (2 pi nu l)^2)^{-3/2}). 1 at nu = 0.
double ScintillatorMtf(double nu_cycles_per_px, double sigma_px, double tail_weight,
                       double tail_length_px);

}  // namespace fringe::sim

#endif  // FRINGE_SIM_HRTEM_PHYSICS_H_
