// Synthetic HRTEM images of gold nanoparticles on amorphous carbon, with
// exact ground-truth masks, for training and testing segmentation models
// without hand labels (DESIGN.md section 3).
//
// Image formation (all lengths in Angstrom internally; options and recorded
// parameters use the units in their names, nm / um / mrad / e/A^2):
//   1. Specimen: an amorphous carbon slab (0.11 atoms/A^3, min spacing
//      1.4 A) and 0..N spherical fcc Au particles (a = 4.078 A), each on a
//      zone axis or randomly oriented, never overlapping in projection.
//   2. Projected potential v_z (V*A): atoms are deposited (bilinear) into one
//      grid per element, Fourier transformed, multiplied by the element's
//      projected-potential transform (Peng 1996 five-Gaussian scattering
//      factors, Debye-Waller damped) and summed. Band-limited to 2/3 of
//      Nyquist to keep the exit wave from aliasing.
//   3. Exit wave in the phase-object approximation: psi = exp(i sigma v_z).
//   4. Objective lens: psi(k) * A(k) * exp(-i chi(k)) * E_t(k) * E_s(k) with
//      chi = pi lambda df k^2 + pi/2 Cs lambda^3 k^4, temporal and spatial
//      coherence envelopes and a hard objective aperture.
//   5. Detector: intensity |psi|^2 (1 = vacuum), blurred by a Lorentzian MTF,
//      scaled to electrons per pixel (dose * pixel area) and Poisson sampled.
//   6. Mask: each particle's footprint, the convex hull of its projected atoms
//      grown by the Au atomic radius, rasterised at pixel centres. Its area
//      matches the requested diameter (pi d^2 / 4).
// The simulation cell is periodic (carbon wraps around; particles are kept
// inside the field of view).
#ifndef FRINGE_SIM_HRTEM_SIMULATOR_H_
#define FRINGE_SIM_HRTEM_SIMULATOR_H_

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fringe::sim {

// How the amorphous support film is modelled. kRandomAtoms is what training uses;
// kPhaseField is the held-out generator (see sim/domain_randomization.h): no atoms, a Gaussian
// random phase field with amorphous carbon's radial power spectrum, structurally unlike anything
// training sees.
enum class CarbonModel { kRandomAtoms = 0, kPhaseField = 1 };

// How electrons become counts. kCounting: a direct-electron counting detector, Lorentzian MTF,
// Poisson noise (training). kScintillatorCcd: the held-out detector, a scintillator-coupled CCD
// with a Gaussian-plus-tail point spread, gamma-distributed conversion gain and correlated noise.
enum class DetectorModel { kCounting = 0, kScintillatorCcd = 1 };

// One gold particle. Positions are measured from the image's top-left
// corner: x along columns, y along rows.
struct ParticleParams {
  double center_x_nm = 0.0;
  double center_y_nm = 0.0;
  // Diameter of the disk with the footprint's area. The particle is a sphere
  // cut from the lattice (so faceted); atom centres stay within diameter/2
  // and the footprint within diameter/2 + 0.144 nm (the Au atomic radius).
  double diameter_nm = 0.0;
  // Crystal direction along the beam, "[uvw]" (e.g. "[110]"), or "random".
  std::string zone_axis = "[110]";
  // Unit vector (crystal coordinates) along the beam; derived from zone_axis,
  // or drawn uniformly for "random". This, not zone_axis, is rendered.
  std::array<double, 3> beam_direction = {0.0, 0.0, 0.0};
  // In-plane rotation of the crystal about the beam (degrees).
  double rotation_deg = 0.0;
  // Shift of the lattice from the particle centre, in lattice constants
  // along the crystal axes (drawn uniformly in [0, 1)^3; 0 = a site at the
  // centre). Varies which atoms form the surface.
  std::array<double, 3> lattice_offset = {0.0, 0.0, 0.0};
  // "sphere" (the classic cut sphere), "truncated_octahedron", "decahedron" or "icosahedron"
  // (sim/specimen.h). For the twinned shapes beam_direction is in the particle frame whose z is
  // the 5-fold axis (a shared <110> of the segments): on zone "[110]" means down that axis.
  std::string morphology = "sphere";
  // Filled in by rendering: number of Au atoms and of mask pixels.
  int64_t num_atoms = 0;
  int64_t footprint_pixels = 0;

  // All fields, units in the key names.
  nlohmann::json ToJson() const;
};

// Everything that determines one image. DrawParams fills it from a seed;
// Render turns it into pixels (carbon and noise are drawn from `seed`).
struct SampleParams {
  uint64_t base_seed = 0;
  uint64_t index = 0;
  uint64_t seed = 0;  // ImageSeed(base_seed, index); seeds carbon and noise
  int height = 0;
  int width = 0;
  double voltage_kv = 300.0;
  double dose_e_per_a2 = 0.0;  // electrons per A^2
  double pixel_size_nm = 0.0;
  double defocus_nm = 0.0;  // negative = underfocus
  double cs_um = 0.0;
  double focal_spread_nm = 0.0;
  double convergence_mrad = 0.0;         // illumination semi-angle (1/e)
  double objective_aperture_mrad = 0.0;  // 0 = no aperture
  double carbon_thickness_nm = 0.0;      // 0 = no support film
  double mtf50_cycles_per_px = 0.0;      // 0 = ideal detector
  bool shot_noise = true;
  std::vector<ParticleParams> particles;
  int64_t num_carbon_atoms = 0;  // filled in by rendering

  // --- Domain randomisation: the values drawn for this image (all "off" by default). Lengths
  // in nm, positions from the image's top-left corner, angles in degrees counter-clockwise
  // from +x (columns) towards +y (rows).
  // Content of the frame.
  bool carbon_only = false;            // no particle at all
  bool single_small_particle = false;  // one particle of 1.5-3 nm
  bool particles_touch = false;        // particles placed in contact (masks merge)
  bool particle_out_of_frame = false;  // one particle partly outside the field
  // Carbon film.
  std::string carbon_model = "random_atoms";  // or "phase_field" (held out)
  double carbon_density_per_a3 = 0.11;
  double carbon_thickness_gradient = 0.0;  // relative: thickness * (1 + g t), t in [-1, 1]
  double carbon_gradient_angle_deg = 0.0;
  double graphitic_fraction = 0.0;      // of the field's area covered by fragments
  int64_t num_graphitic_fragments = 0;  // filled in by rendering
  // Vacuum where the film is missing: a disk (a hole; a large disk whose rim crosses the field
  // is a film edge). hole_radius_nm = 0: none.
  std::string carbon_hole = "none";  // "none", "hole" or "edge"
  double hole_center_x_nm = 0.0;
  double hole_center_y_nm = 0.0;
  double hole_radius_nm = 0.0;
  // Hydrocarbon contamination: dome-shaped amorphous patches (no lattice) on the film.
  struct ContaminationPatch {
    double center_x_nm = 0.0;
    double center_y_nm = 0.0;
    double radius_nm = 0.0;
    double thickness_nm = 0.0;  // at the centre
  };
  std::vector<ContaminationPatch> contamination;
  // Illumination.
  double illumination_gradient = 0.0;  // relative intensity ramp 1 + g t, t in [-1, 1]
  double illumination_gradient_angle_deg = 0.0;
  double beam_tilt_x_mrad = 0.0;
  double beam_tilt_y_mrad = 0.0;
  // Aberrations beyond defocus and Cs (hrtem_physics.h AberrationPhase).
  double a1_nm = 0.0;
  double a1_azimuth_deg = 0.0;
  double a2_nm = 0.0;
  double a2_azimuth_deg = 0.0;
  double b2_nm = 0.0;
  double b2_azimuth_deg = 0.0;
  // Detector.
  std::string detector_model = "counting";  // or "scintillator_ccd" (held out)
  double gain_nonuniformity = 0.0;          // relative std of the per-pixel gain
  double read_noise_e = 0.0;                // electrons/pixel (std)
  double hot_pixel_fraction = 0.0;
  double dead_pixel_fraction = 0.0;
  int64_t xray_spikes = 0;
  double drift_blur_nm = 0.0;
  double drift_angle_deg = 0.0;
  // Held-out scintillator CCD: point spread (pixels) and conversion-gain shape.
  double ccd_psf_sigma_px = 0.0;
  double ccd_tail_weight = 0.0;
  double ccd_tail_length_px = 0.0;
  double ccd_gain_shape = 0.0;  // gamma shape per electron (variance of gain = mean^2 / shape)

  // Electrons per pixel in vacuum: dose (e/A^2) * pixel area (A^2).
  double ElectronsPerPixel() const;
  // All fields, units in the key names (e.g. "defocus_nm", "dose_e_per_A2").
  nlohmann::json ToJson() const;
};

// Values forced on every image instead of drawn from the option ranges
// (tests, controlled studies). Unset fields are drawn as usual; the random
// streams advance identically either way, so forcing one value leaves the
// others unchanged.
struct SampleOverrides {
  std::optional<double> dose_e_per_a2;
  std::optional<double> pixel_size_nm;
  std::optional<double> defocus_nm;
  std::optional<double> cs_um;
  std::optional<double> focal_spread_nm;
  std::optional<double> convergence_mrad;
  std::optional<double> carbon_thickness_nm;
  std::optional<double> mtf50_cycles_per_px;
  // Number of particles to attempt (random sizes and positions).
  std::optional<int> particle_count;
  // Exact particles (centre, diameter, zone_axis, rotation_deg are used;
  // beam_direction and lattice_offset are derived/drawn). They must lie inside
  // the field of view (with their outer radius, diameter/2 + 0.144 nm) and
  // must not overlap. Takes precedence over particle_count.
  std::optional<std::vector<ParticleParams>> particles;
};

struct SimulatorOptions {
  int height = 512;  // pixels; 16..8192, any value (FFTW handles all sizes)
  int width = 512;
  double voltage_kv = 300.0;
  double dose_min = 30.0;  // e/A^2, drawn log-uniformly in [min, max]
  double dose_max = 1000.0;
  double pixel_size_min_nm = 0.02;
  double pixel_size_max_nm = 0.025;
  int particles_min = 1;  // attempted; fewer are placed when they do not fit
  int particles_max = 5;
  double diameter_min_nm = 2.0;
  double diameter_max_nm = 7.0;
  double min_particle_gap_nm = 0.3;  // between footprints
  double edge_margin_nm = 0.2;       // between footprints and the image edge
  int placement_attempts = 200;      // random positions tried per particle
  double on_zone_fraction = 0.7;     // the rest are randomly oriented
  std::vector<std::string> zone_axes = {"[110]", "[100]", "[111]"};
  double defocus_min_nm = -25.0;
  double defocus_max_nm = 25.0;
  double cs_min_um = -20.0;
  double cs_max_um = 20.0;
  double focal_spread_min_nm = 2.0;
  double focal_spread_max_nm = 4.0;
  double convergence_min_mrad = 0.1;
  double convergence_max_mrad = 0.3;
  double objective_aperture_mrad = 20.0;  // 0 = none (band limit only)
  double carbon_thickness_min_nm = 2.0;
  double carbon_thickness_max_nm = 8.0;
  bool detector_mtf = true;
  double mtf50_min_cycles_per_px = 0.25;  // Nyquist = 0.5
  double mtf50_max_cycles_per_px = 0.4;
  bool shot_noise = true;

  // --- Domain randomisation (sim/domain_randomization.h groups these into named nuisance
  // factors and sets their training ranges). Every default below is "off" and leaves the
  // classic simulator's output byte-identical. Values are drawn per image from their own
  // random stream (RngStream::kNuisance), in physical units wherever they are physical, so a
  // scene re-rendered at another pixel size over the same field of view (nm) is the same
  // scene. Each drawn value is recorded in SampleParams.
  //
  // Carbon support film.
  CarbonModel carbon_model = CarbonModel::kRandomAtoms;
  double carbon_density_min = 0.11;  // atoms/A^3, drawn uniformly per image
  double carbon_density_max = 0.11;
  // Linear thickness ramp across the frame: thickness * (1 + g * t), t in [-1, 1] along a
  // random direction, g drawn in [0, max] (wedge-shaped and uneven films).
  double carbon_thickness_gradient_max = 0.0;
  // Turbostratic / graphitic fragments (curved stacks of graphene layers, 0.34 nm apart, seen
  // edge-on as short fringes): fraction of the film area they cover, drawn in [0, max].
  double graphitic_fraction_max = 0.0;
  // Probability that a frame shows a hole in the film or the film's edge (vacuum region).
  double carbon_hole_probability = 0.0;
  // Probability of hydrocarbon contamination (thicker amorphous patches, no lattice).
  double contamination_probability = 0.0;
  // Frame content.
  double carbon_only_fraction = 0.0;            // frames with no particle at all
  double single_small_particle_fraction = 0.0;  // frames with one particle of 1.5-3 nm
  double touching_fraction = 0.0;               // frames whose particles may touch (masks merge)
  double out_of_frame_fraction = 0.0;           // frames with a particle partly outside the field
  // Particle morphology: relative weights of sphere (cut from the lattice), truncated
  // octahedron, decahedron (5-fold twinned) and icosahedron (20-fold twinned). Default: spheres.
  std::array<double, 4> morphology_weights = {1.0, 0.0, 0.0, 0.0};
  // Illumination: relative intensity ramp across the frame (drawn in [0, max]) and beam tilt.
  double illumination_gradient_max = 0.0;
  double beam_tilt_max_mrad = 0.0;
  // Higher-order aberrations (coefficient magnitudes drawn in [0, max], random azimuths):
  // twofold astigmatism A1, threefold astigmatism A2, axial coma B2.
  double a1_max_nm = 0.0;
  double a2_max_nm = 0.0;
  double b2_max_nm = 0.0;
  // Detector beyond Poisson counting.
  DetectorModel detector_model = DetectorModel::kCounting;
  double gain_nonuniformity_max = 0.0;  // relative std of the per-pixel gain
  double read_noise_max_e = 0.0;        // Gaussian read noise, electrons/pixel (std)
  double hot_pixel_fraction_max = 0.0;
  double dead_pixel_fraction_max = 0.0;
  int xray_spikes_max = 0;         // isolated extreme pixels per frame, drawn in [0, max]
  double drift_blur_max_nm = 0.0;  // linear motion blur length during the exposure

  // Also return the projected potential and noiseless intensity (tests).
  bool keep_intermediates = false;
  SampleOverrides overrides;
};

// All options (overrides included, where set), for data set manifests.
nlohmann::json SimulatorOptionsToJson(const SimulatorOptions& options);

struct Sample {
  cv::Mat image;      // CV_32FC1, electron counts per pixel (noisy unless shot_noise off)
  cv::Mat mask;       // CV_8UC1, 0 background, 1 particle
  cv::Mat instances;  // CV_16UC1, 0 background, i + 1 for params.particles[i]
  SampleParams params;
  // Only with keep_intermediates: projected potential v_z (CV_32FC1, V*A)
  // and noiseless detected intensity (CV_32FC1, vacuum = 1).
  cv::Mat potential;
  cv::Mat intensity;
};

class HrtemSimulator {
 public:
  // Validates `options` and plans the FFTs. Returns InvalidArgument naming
  // the offending option (e.g. "SimulatorOptions.dose_min ...") when a
  // value is out of range, a min exceeds its max, a zone axis does not
  // parse, or forced particles do not fit or overlap.
  static absl::StatusOr<std::unique_ptr<HrtemSimulator>> Create(const SimulatorOptions& options);

  ~HrtemSimulator();
  HrtemSimulator(const HrtemSimulator&) = delete;
  HrtemSimulator& operator=(const HrtemSimulator&) = delete;

  const SimulatorOptions& options() const { return options_; }

  // Draws the parameters of image `index` of the data set `base_seed`.
  // Deterministic and thread-safe.
  SampleParams DrawParams(uint64_t base_seed, uint64_t index) const;

  // Renders `params` (as from DrawParams, possibly edited). Returns
  // InvalidArgument naming the field ("SampleParams.pixel_size_nm ...") if
  // the size differs from the options', a value is out of physical range,
  // or particles leave the field of view or overlap. Deterministic given
  // params; thread-safe.
  absl::StatusOr<Sample> Render(const SampleParams& params) const;

  // Render(DrawParams(base_seed, index)): the same inputs give byte-identical
  // outputs, whichever thread or order images are generated in.
  Sample Generate(uint64_t base_seed, uint64_t index) const;

 private:
  struct FftPlans;
  explicit HrtemSimulator(const SimulatorOptions& options);
  Sample RenderValidated(const SampleParams& params) const;

  SimulatorOptions options_;
  std::unique_ptr<FftPlans> plans_;
  int half_width_ = 0;  // width / 2 + 1 columns of the real-to-complex spectra
  // Squared spatial frequency (cycles/pixel)^2 of each spectrum element, for
  // the full complex grid (height x width) and the half grid.
  std::vector<float> nu2_full_;
  std::vector<float> nu2_half_;
  // Pixel-size independent factor of the potential spectrum: undoes the
  // bilinear deposition's sinc^2 blur and zeroes |nu| > 1/3 (band limit).
  std::vector<float> potential_filter_half_;
};

}  // namespace fringe::sim

#endif  // FRINGE_SIM_HRTEM_SIMULATOR_H_
