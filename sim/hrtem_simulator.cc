#include "sim/hrtem_simulator.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <new>
#include <opencv2/core.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sim/hrtem_physics.h"
#include "sim/random.h"
#include "sim/simulator_validation.h"
#include "sim/specimen.h"

namespace fringe::sim {

using internal::MorphologyOf;
using internal::OuterRadiusNm;
using internal::ValidateOptions;
using internal::ValidateParams;

namespace {

constexpr double kPi = 3.14159265358979323846;
// Band limit of the projected potential and of the wave (cycles/pixel):
// 2/3 of Nyquist, the usual anti-aliasing choice of multislice codes, so that
// products of band-limited functions (|psi|^2) alias as little as possible.
constexpr double kBandLimitCyclesPerPx = 1.0 / 3.0;

// Returns from the enclosing function with the status of `expr` unless OK.
#define FRINGE_SIM_RETURN_IF_ERROR(expr)                \
  do {                                                  \
    if (absl::Status status_ = (expr); !status_.ok()) { \
      return status_;                                   \
    }                                                   \
  } while (false)

// FFTW's planner is not thread-safe (execution is); every plan creation and
// destruction in the process goes through this lock.
std::mutex& FftwPlannerMutex() {
  static std::mutex mutex;
  return mutex;
}

struct FftwDeleter {
  void operator()(void* p) const { fftwf_free(p); }
};
using RealBuffer = std::unique_ptr<float[], FftwDeleter>;
using ComplexBuffer = std::unique_ptr<fftwf_complex[], FftwDeleter>;

// fftwf_malloc'd buffers all share FFTW's preferred alignment, which the
// new-array execute functions require to match the planning buffers.
RealBuffer AllocReal(size_t n) {
  void* p = fftwf_malloc(sizeof(float) * n);
  if (p == nullptr) throw std::bad_alloc();
  return RealBuffer(static_cast<float*>(p));
}

ComplexBuffer AllocComplex(size_t n) {
  void* p = fftwf_malloc(sizeof(fftwf_complex) * n);
  if (p == nullptr) throw std::bad_alloc();
  return ComplexBuffer(static_cast<fftwf_complex*>(p));
}

// Signed FFT frequency (cycles/pixel) of index i on an axis of n samples.
double FftFrequency(int i, int n) { return (i <= n / 2 ? i : i - n) / double(n); }

double Sinc(double x) {
  if (x == 0.0) return 1.0;
  return std::sin(kPi * x) / (kPi * x);
}

// Adds one (bilinearly split) count per atom to `grid` (height x width,
// periodic). Atom positions in A, pixel centres at (j + 0.5) * pixel_a.
void DepositBilinear(const std::vector<Vec2>& atoms, double pixel_a, int height, int width,
                     float* grid) {
  std::fill(grid, grid + static_cast<size_t>(height) * width, 0.0f);
  for (const Vec2& atom : atoms) {
    const double u = atom.x / pixel_a - 0.5;
    const double v = atom.y / pixel_a - 0.5;
    const double fu = std::floor(u);
    const double fv = std::floor(v);
    const auto wx = static_cast<float>(u - fu);
    const auto wy = static_cast<float>(v - fv);
    const int j0 = ((static_cast<int>(fu) % width) + width) % width;
    const int i0 = ((static_cast<int>(fv) % height) + height) % height;
    const int j1 = (j0 + 1) % width;
    const int i1 = (i0 + 1) % height;
    float* row0 = grid + static_cast<size_t>(i0) * width;
    float* row1 = grid + static_cast<size_t>(i1) * width;
    row0[j0] += (1.0f - wx) * (1.0f - wy);
    row0[j1] += wx * (1.0f - wy);
    row1[j0] += (1.0f - wx) * wy;
    row1[j1] += wx * wy;
  }
}

}  // namespace

namespace {

// Content knobs: the single small particle's diameter range (nm).
constexpr double kSmallDiameterMinNm = 1.5;
constexpr double kSmallDiameterMaxNm = 3.0;

// Draws the per-image nuisance values (domain randomisation) from RngStream::kNuisance: always
// the same number of draws in the same order, so switching one knob never moves another. All
// geometry is in nm relative to the field of view in nm, never in pixels.
void DrawNuisance(const SimulatorOptions& o, SampleParams* p) {
  Rng r(p->seed, RngStream::kNuisance);
  const double fov_x = p->width * p->pixel_size_nm;
  const double fov_y = p->height * p->pixel_size_nm;
  // Content.
  const double u_content = r.Uniform();
  const double u_touch = r.Uniform();
  const double u_out = r.Uniform();
  p->carbon_only = u_content < o.carbon_only_fraction;
  p->single_small_particle =
      !p->carbon_only && u_content < o.carbon_only_fraction + o.single_small_particle_fraction;
  p->particles_touch = u_touch < o.touching_fraction;
  p->particle_out_of_frame = !p->carbon_only && u_out < o.out_of_frame_fraction;
  // Carbon.
  p->carbon_model = o.carbon_model == CarbonModel::kPhaseField ? "phase_field" : "random_atoms";
  p->carbon_density_per_a3 = r.Uniform(o.carbon_density_min, o.carbon_density_max);
  p->carbon_thickness_gradient = r.Uniform(0.0, o.carbon_thickness_gradient_max);
  p->carbon_gradient_angle_deg = r.Uniform(0.0, 360.0);
  p->graphitic_fraction = r.Uniform(0.0, o.graphitic_fraction_max);
  const double u_hole = r.Uniform();
  const double u_edge = r.Uniform();
  const double hole_u[4] = {r.Uniform(), r.Uniform(), r.Uniform(), r.Uniform()};
  if (u_hole < o.carbon_hole_probability) {
    const double fov_min = std::min(fov_x, fov_y);
    if (u_edge < 0.5) {  // a hole inside the field
      p->carbon_hole = "hole";
      p->hole_radius_nm = (0.15 + 0.2 * hole_u[0]) * fov_min;
      p->hole_center_x_nm = hole_u[1] * fov_x;
      p->hole_center_y_nm = hole_u[2] * fov_y;
    } else {  // the film's edge: a large disk of vacuum whose rim crosses the field
      p->carbon_hole = "edge";
      const double radius = (2.0 + 8.0 * hole_u[0]) * std::max(fov_x, fov_y);
      const double angle = 2.0 * kPi * hole_u[1];
      const double inset = (hole_u[2] - 0.5) * 0.6 * 0.5 * fov_min;  // rim within the field
      p->hole_radius_nm = radius;
      p->hole_center_x_nm = 0.5 * fov_x + (radius + inset) * std::cos(angle);
      p->hole_center_y_nm = 0.5 * fov_y + (radius + inset) * std::sin(angle);
    }
  }
  const double u_contamination = r.Uniform();
  const int64_t patches = r.UniformInt(1, 3);
  for (int64_t i = 0; i < 3; ++i) {
    SampleParams::ContaminationPatch c;
    c.center_x_nm = r.Uniform() * fov_x;
    c.center_y_nm = r.Uniform() * fov_y;
    c.radius_nm = r.Uniform(0.8, 2.5);
    c.thickness_nm = r.Uniform(1.5, 5.0);
    if (u_contamination < o.contamination_probability && i < patches) {
      p->contamination.push_back(c);
    }
  }
  // Illumination.
  p->illumination_gradient = r.Uniform(0.0, o.illumination_gradient_max);
  p->illumination_gradient_angle_deg = r.Uniform(0.0, 360.0);
  const double tilt = o.beam_tilt_max_mrad * std::sqrt(r.Uniform());  // uniform in a disk
  const double tilt_angle = r.Uniform(0.0, 2.0 * kPi);
  p->beam_tilt_x_mrad = tilt * std::cos(tilt_angle);
  p->beam_tilt_y_mrad = tilt * std::sin(tilt_angle);
  // Aberrations.
  p->a1_nm = r.Uniform(0.0, o.a1_max_nm);
  p->a1_azimuth_deg = r.Uniform(0.0, 180.0);
  p->a2_nm = r.Uniform(0.0, o.a2_max_nm);
  p->a2_azimuth_deg = r.Uniform(0.0, 120.0);
  p->b2_nm = r.Uniform(0.0, o.b2_max_nm);
  p->b2_azimuth_deg = r.Uniform(0.0, 360.0);
  // Detector.
  p->detector_model =
      o.detector_model == DetectorModel::kScintillatorCcd ? "scintillator_ccd" : "counting";
  p->gain_nonuniformity = r.Uniform(0.0, o.gain_nonuniformity_max);
  p->read_noise_e = r.Uniform(0.0, o.read_noise_max_e);
  p->hot_pixel_fraction = r.Uniform(0.0, o.hot_pixel_fraction_max);
  p->dead_pixel_fraction = r.Uniform(0.0, o.dead_pixel_fraction_max);
  p->xray_spikes = r.UniformInt(0, o.xray_spikes_max);
  p->drift_blur_nm = r.Uniform(0.0, o.drift_blur_max_nm);
  p->drift_angle_deg = r.Uniform(0.0, 180.0);
  const double ccd[4] = {r.Uniform(0.6, 1.2), r.Uniform(0.15, 0.4), r.Uniform(3.0, 10.0),
                         r.Uniform(1.5, 4.0)};
  if (o.detector_model == DetectorModel::kScintillatorCcd) {
    p->ccd_psf_sigma_px = ccd[0];
    p->ccd_tail_weight = ccd[1];
    p->ccd_tail_length_px = ccd[2];
    p->ccd_gain_shape = ccd[3];
  }
}

}  // namespace

struct HrtemSimulator::FftPlans {
  fftwf_plan r2c = nullptr;       // real image -> half spectrum
  fftwf_plan c2r = nullptr;       // half spectrum -> real image (destroys input)
  fftwf_plan forward = nullptr;   // complex wave -> spectrum
  fftwf_plan backward = nullptr;  // spectrum -> complex wave

  ~FftPlans() {
    std::lock_guard<std::mutex> lock(FftwPlannerMutex());
    for (fftwf_plan plan : {r2c, c2r, forward, backward}) {
      if (plan != nullptr) fftwf_destroy_plan(plan);
    }
  }
};

HrtemSimulator::HrtemSimulator(const SimulatorOptions& options) : options_(options) {}

HrtemSimulator::~HrtemSimulator() = default;

absl::StatusOr<std::unique_ptr<HrtemSimulator>> HrtemSimulator::Create(
    const SimulatorOptions& options) {
  FRINGE_SIM_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<HrtemSimulator> sim(new HrtemSimulator(options));
  const int h = options.height;
  const int w = options.width;
  const int hw = w / 2 + 1;
  sim->half_width_ = hw;

  sim->nu2_full_.resize(static_cast<size_t>(h) * w);
  sim->nu2_half_.resize(static_cast<size_t>(h) * hw);
  sim->potential_filter_half_.resize(static_cast<size_t>(h) * hw);
  const double band2 = kBandLimitCyclesPerPx * kBandLimitCyclesPerPx;
  for (int i = 0; i < h; ++i) {
    const double fy = FftFrequency(i, h);
    for (int j = 0; j < w; ++j) {
      const double fx = FftFrequency(j, w);
      sim->nu2_full_[static_cast<size_t>(i) * w + j] = static_cast<float>(fx * fx + fy * fy);
    }
    for (int j = 0; j < hw; ++j) {
      const double fx = j / double(w);
      const double nu2 = fx * fx + fy * fy;
      const size_t idx = static_cast<size_t>(i) * hw + j;
      sim->nu2_half_[idx] = static_cast<float>(nu2);
      // Bilinear deposition convolves the atoms with a triangle kernel whose
      // transform is sinc^2(fx) sinc^2(fy); dividing it out restores the
      // atomic potential's shape inside the band limit.
      const double cic = std::pow(Sinc(fx) * Sinc(fy), 2);
      sim->potential_filter_half_[idx] = nu2 <= band2 ? static_cast<float>(1.0 / cic) : 0.0f;
    }
  }

  // FFTW_ESTIMATE picks plans from the sizes alone, so every process makes the
  // same plan and results are bit-reproducible across runs (FFTW_MEASURE
  // times candidates and may choose differently from run to run).
  auto plans = std::make_unique<FftPlans>();
  {
    const size_t n = static_cast<size_t>(h) * w;
    RealBuffer real = AllocReal(n);
    ComplexBuffer half = AllocComplex(static_cast<size_t>(h) * hw);
    ComplexBuffer a = AllocComplex(n);
    ComplexBuffer b = AllocComplex(n);
    std::lock_guard<std::mutex> lock(FftwPlannerMutex());
    plans->r2c = fftwf_plan_dft_r2c_2d(h, w, real.get(), half.get(), FFTW_ESTIMATE);
    plans->c2r = fftwf_plan_dft_c2r_2d(h, w, half.get(), real.get(), FFTW_ESTIMATE);
    plans->forward = fftwf_plan_dft_2d(h, w, a.get(), b.get(), FFTW_FORWARD, FFTW_ESTIMATE);
    plans->backward = fftwf_plan_dft_2d(h, w, b.get(), a.get(), FFTW_BACKWARD, FFTW_ESTIMATE);
  }
  if (plans->r2c == nullptr || plans->c2r == nullptr || plans->forward == nullptr ||
      plans->backward == nullptr) {
    return absl::InternalError(absl::StrCat("FFTW could not plan ", w, "x", h, " transforms"));
  }
  sim->plans_ = std::move(plans);
  return sim;
}

SampleParams HrtemSimulator::DrawParams(uint64_t base_seed, uint64_t index) const {
  const SimulatorOptions& o = options_;
  const SampleOverrides& ov = o.overrides;
  SampleParams p;
  p.base_seed = base_seed;
  p.index = index;
  p.seed = ImageSeed(base_seed, index);
  p.height = o.height;
  p.width = o.width;
  p.voltage_kv = o.voltage_kv;
  p.objective_aperture_mrad = o.objective_aperture_mrad;
  p.shot_noise = o.shot_noise;

  // Every value is drawn, then overrides applied, so the stream position
  // (and hence every other value) does not depend on which are forced.
  Rng rng(p.seed, RngStream::kParameters);
  const double pixel_size = rng.Uniform(o.pixel_size_min_nm, o.pixel_size_max_nm);
  // Log-uniform dose: the range spans 1.5 decades and low-dose images are the
  // ones segmentation models must learn to cope with (DESIGN.md section 3).
  const double dose = std::exp(rng.Uniform(std::log(o.dose_min), std::log(o.dose_max)));
  const double defocus = rng.Uniform(o.defocus_min_nm, o.defocus_max_nm);
  const double cs = rng.Uniform(o.cs_min_um, o.cs_max_um);
  const double focal_spread = rng.Uniform(o.focal_spread_min_nm, o.focal_spread_max_nm);
  const double convergence = rng.Uniform(o.convergence_min_mrad, o.convergence_max_mrad);
  const double carbon = rng.Uniform(o.carbon_thickness_min_nm, o.carbon_thickness_max_nm);
  const double mtf50 = rng.Uniform(o.mtf50_min_cycles_per_px, o.mtf50_max_cycles_per_px);
  p.pixel_size_nm = ov.pixel_size_nm.value_or(pixel_size);
  p.dose_e_per_a2 = ov.dose_e_per_a2.value_or(dose);
  p.defocus_nm = ov.defocus_nm.value_or(defocus);
  p.cs_um = ov.cs_um.value_or(cs);
  p.focal_spread_nm = ov.focal_spread_nm.value_or(focal_spread);
  p.convergence_mrad = ov.convergence_mrad.value_or(convergence);
  p.carbon_thickness_nm = ov.carbon_thickness_nm.value_or(carbon);
  p.mtf50_cycles_per_px = ov.mtf50_cycles_per_px.value_or(o.detector_mtf ? mtf50 : 0.0);

  DrawNuisance(o, &p);
  const bool forced = ov.particles.has_value() || ov.particle_count.has_value();
  if (forced) {
    p.carbon_only = p.single_small_particle = p.particles_touch = p.particle_out_of_frame = false;
  }

  Rng prng(p.seed, RngStream::kParticles);
  if (ov.particles.has_value()) {
    for (ParticleParams particle : *ov.particles) {
      Vec3 beam;
      const Morphology morphology = MorphologyOf(particle);
      const bool twinned =
          morphology == Morphology::kDecahedron || morphology == Morphology::kIcosahedron;
      if (particle.zone_axis == "random") {
        beam = RandomUnitVector(&prng);
      } else if (twinned) {
        beam = Vec3{0.0, 0.0, 1.0};  // down the 5-fold axis
      } else {
        beam = *ParseZoneAxis(particle.zone_axis);  // validated in Create
      }
      particle.beam_direction = {beam.x, beam.y, beam.z};
      particle.lattice_offset = {prng.Uniform(), prng.Uniform(), prng.Uniform()};
      particle.num_atoms = 0;
      particle.footprint_pixels = 0;
      p.particles.push_back(std::move(particle));
    }
    return p;
  }

  // Morphologies (one draw per attempted particle) and the content knobs' own values come from
  // their own streams, so the classic particle stream is untouched.
  Rng morph_rng(p.seed, RngStream::kMorphology);
  Rng content_rng(p.seed, RngStream::kContent);
  const double small_diameter = content_rng.Uniform(kSmallDiameterMinNm, kSmallDiameterMaxNm);
  double weight_sum = 0.0;
  for (double wgt : o.morphology_weights) weight_sum += wgt;
  const auto draw_morphology = [&](Rng* rng) {
    double u = rng->Uniform() * weight_sum;
    for (int m = 0; m < kNumMorphologies; ++m) {
      if (u < o.morphology_weights[m]) return static_cast<Morphology>(m);
      u -= o.morphology_weights[m];
    }
    for (int m = kNumMorphologies - 1; m >= 0; --m) {
      if (o.morphology_weights[m] > 0.0) return static_cast<Morphology>(m);
    }
    return Morphology::kSphere;
  };
  const auto set_orientation = [&](ParticleParams* particle, Morphology morphology, bool on_zone,
                                   int64_t zone_index, const Vec3& random_beam) {
    particle->morphology = MorphologyName(morphology);
    const bool twinned =
        morphology == Morphology::kDecahedron || morphology == Morphology::kIcosahedron;
    Vec3 beam = random_beam;
    if (on_zone) {
      particle->zone_axis = twinned ? "[110]" : o.zone_axes[static_cast<size_t>(zone_index)];
      beam = twinned ? Vec3{0.0, 0.0, 1.0} : *ParseZoneAxis(particle->zone_axis);
    } else {
      particle->zone_axis = "random";
    }
    particle->beam_direction = {beam.x, beam.y, beam.z};
  };
  // Whether a particle of `diameter` (outer radius r) centred at (x, y) nm keeps its distance
  // from every particle placed so far (touching frames: footprints may meet, not overlap).
  const auto fits_at = [&](double x, double y, double diameter, double r) {
    for (const ParticleParams& q : p.particles) {
      const double min_dist =
          p.particles_touch
              ? 0.5 * (diameter + q.diameter_nm) - 1e-9
              : r + OuterRadiusNm(q.diameter_nm, MorphologyOf(q)) + o.min_particle_gap_nm;
      if (std::hypot(x - q.center_x_nm, y - q.center_y_nm) < min_dist) return false;
    }
    return true;
  };
  const auto add_particle = [&](double x, double y, double diameter, double rotation,
                                const std::array<double, 3>& offset, Morphology morphology,
                                bool on_zone, int64_t zone_index, const Vec3& random_beam) {
    ParticleParams particle;
    particle.center_x_nm = x;
    particle.center_y_nm = y;
    particle.diameter_nm = diameter;
    particle.rotation_deg = rotation;
    particle.lattice_offset = offset;
    set_orientation(&particle, morphology, on_zone, zone_index, random_beam);
    p.particles.push_back(std::move(particle));
  };

  const int drawn_count = static_cast<int>(prng.UniformInt(o.particles_min, o.particles_max));
  int count = ov.particle_count.value_or(drawn_count);
  if (p.carbon_only) count = 0;
  if (p.single_small_particle) count = 1;
  const double fov_x = o.width * p.pixel_size_nm;
  const double fov_y = o.height * p.pixel_size_nm;
  const double margin = o.edge_margin_nm;
  // Largest diameter whose outer radius fits between the margins.
  const double largest = std::min(fov_x, fov_y) - 2.0 * margin - 2.0 * OuterRadiusNm(0.0);
  const double d_hi = std::min(o.diameter_max_nm, largest);
  const int num_zone_axes = static_cast<int>(o.zone_axes.size());
  for (int n = 0; n < count; ++n) {
    // A fixed number of draws per particle before placement.
    const double size_u = prng.Uniform();
    const bool on_zone = prng.Uniform() < o.on_zone_fraction && num_zone_axes > 0;
    const int64_t zone_index = num_zone_axes > 0 ? prng.UniformInt(0, num_zone_axes - 1) : 0;
    const Vec3 random_beam = RandomUnitVector(&prng);
    const double rotation = prng.Uniform(0.0, 360.0);
    const std::array<double, 3> offset = {prng.Uniform(), prng.Uniform(), prng.Uniform()};
    const Morphology morphology = draw_morphology(&morph_rng);
    const double reach = MorphologyReach(morphology);
    const double d_fit = std::min(o.diameter_max_nm, largest / reach);
    double diameter = 0.0;
    if (p.single_small_particle) {
      diameter = small_diameter;
      if (OuterRadiusNm(diameter, morphology) * 2.0 + 2.0 * margin > std::min(fov_x, fov_y)) {
        continue;
      }
    } else {
      const double hi = reach == 1.0 ? d_hi : d_fit;
      if (hi < o.diameter_min_nm) continue;  // nothing of the requested size fits
      diameter = o.diameter_min_nm + (hi - o.diameter_min_nm) * size_u;
    }
    const double r = OuterRadiusNm(diameter, morphology);
    for (int attempt = 0; attempt < o.placement_attempts; ++attempt) {
      double x = prng.Uniform(margin + r, fov_x - margin - r);
      double y = prng.Uniform(margin + r, fov_y - margin - r);
      if (p.particles_touch && !p.particles.empty()) {
        // In contact with an earlier particle: equal-area disks touching.
        const ParticleParams& q = p.particles[static_cast<size_t>(
            prng.UniformInt(0, static_cast<int64_t>(p.particles.size()) - 1))];
        const double angle = prng.Uniform(0.0, 2.0 * kPi);
        const double dist = 0.5 * (diameter + q.diameter_nm);
        x = q.center_x_nm + dist * std::cos(angle);
        y = q.center_y_nm + dist * std::sin(angle);
        if (x - r < margin || x + r > fov_x - margin || y - r < margin || y + r > fov_y - margin) {
          continue;
        }
      }
      if (!fits_at(x, y, diameter, r)) continue;
      add_particle(x, y, diameter, rotation, offset, morphology, on_zone, zone_index, random_beam);
      break;
    }
  }

  if (p.particle_out_of_frame) {
    // One more particle whose centre lies inside the field, 10-80% of its radius from an edge.
    const Morphology morphology = draw_morphology(&content_rng);
    const double diameter = content_rng.Uniform(o.diameter_min_nm, o.diameter_max_nm);
    const bool on_zone = content_rng.Uniform() < o.on_zone_fraction && num_zone_axes > 0;
    const int64_t zone_index = num_zone_axes > 0 ? content_rng.UniformInt(0, num_zone_axes - 1) : 0;
    const Vec3 random_beam = RandomUnitVector(&content_rng);
    const double rotation = content_rng.Uniform(0.0, 360.0);
    const std::array<double, 3> offset = {content_rng.Uniform(), content_rng.Uniform(),
                                          content_rng.Uniform()};
    const double r = OuterRadiusNm(diameter, morphology);
    bool placed = false;
    for (int attempt = 0; attempt < o.placement_attempts && !placed; ++attempt) {
      const int64_t edge = content_rng.UniformInt(0, 3);
      const double inset = content_rng.Uniform(0.1, 0.8) * 0.5 * diameter;
      const double along = content_rng.Uniform();
      double x = 0.0;
      double y = 0.0;
      if (edge == 0 || edge == 1) {  // left, right
        x = edge == 0 ? inset : fov_x - inset;
        y = along * fov_y;
      } else {  // top, bottom
        y = edge == 2 ? inset : fov_y - inset;
        x = along * fov_x;
      }
      if (!fits_at(x, y, diameter, r)) continue;
      add_particle(x, y, diameter, rotation, offset, morphology, on_zone, zone_index, random_beam);
      placed = true;
    }
    if (!placed) p.particle_out_of_frame = false;
  }
  return p;
}

absl::StatusOr<Sample> HrtemSimulator::Render(const SampleParams& params) const {
  FRINGE_SIM_RETURN_IF_ERROR(ValidateParams(params, options_));
  return RenderValidated(params);
}

Sample HrtemSimulator::Generate(uint64_t base_seed, uint64_t index) const {
  return RenderValidated(DrawParams(base_seed, index));
}

namespace {

// What the detector and phase-field helpers need of the simulator's FFT set-up.
struct Grid {
  int h;
  int w;
  int hw;  // columns of the half spectra
  fftwf_plan r2c;
  fftwf_plan c2r;
  const float* nu2_half;  // (cycles/pixel)^2 per half-spectrum element
};

bool InsideConvexPolygon(const std::vector<Vec2>& poly, const Vec2& p) {
  if (poly.size() < 3) return false;
  for (size_t i = 0; i < poly.size(); ++i) {
    const Vec2& a = poly[i];
    const Vec2& b = poly[(i + 1) % poly.size()];
    if ((b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x) < 0.0) return false;  // CCW
  }
  return true;
}

// Gamma(shape, 1) variate (Marsaglia & Tsang 2000; shape < 1 by the boost U^(1/shape)).
double GammaVariate(double shape, Rng* rng) {
  if (!(shape > 0.0)) return 0.0;
  if (shape < 1.0) {
    const double u = std::max(rng->Uniform(), 1e-300);
    return GammaVariate(shape + 1.0, rng) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0;
    double v = 0.0;
    do {
      x = rng->Normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng->Uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

// Held-out carbon (CarbonModel::kPhaseField): no atoms. The film's atom-count field per pixel
// is a Gaussian random field, mean m = density * local thickness * pixel area, fluctuations
// sqrt(m) times white noise filtered to the radial structure factor S(k) of a dense random
// packing (suppressed at long wavelengths by the minimum spacing, a first peak near 1/2.2 A):
//   S(k) = 1 - 0.75 exp(-(k / 0.3)^2) + 0.5 exp(-((k - 0.45) / 0.1)^2)   (k in 1/A)
// so its projected-potential power has amorphous carbon's shape without any atom in it. Added
// to `counts` (the count grid the atoms were deposited into).
template <typename Ramp, typename InHole>
void AddPhaseFieldCarbon(const SampleParams& sp, double pixel_a, const Grid& g, Ramp ramp,
                         InHole in_hole, float* counts, fftwf_complex* scratch) {
  const size_t n = static_cast<size_t>(g.h) * g.w;
  std::vector<float> keep(counts, counts + n);
  Rng rng(sp.seed, RngStream::kPhaseField);
  for (size_t r = 0; r < n; ++r) counts[r] = static_cast<float>(rng.Normal());
  fftwf_execute_dft_r2c(g.r2c, counts, scratch);
  const size_t nh = static_cast<size_t>(g.h) * g.hw;
  for (size_t idx = 0; idx < nh; ++idx) {
    const double nu = std::sqrt(double(g.nu2_half[idx]));
    const double k = nu / pixel_a;
    const double structure = 1.0 - 0.75 * std::exp(-std::pow(k / 0.3, 2)) +
                             0.5 * std::exp(-std::pow((k - 0.45) / 0.1, 2));
    const double fx = double(idx % g.hw) / g.w;
    const double fy = FftFrequency(static_cast<int>(idx / g.hw), g.h);
    // Pre-multiplied by the deposition kernel's transform, which the potential filter divides.
    const double cic = std::pow(Sinc(fx) * Sinc(fy), 2);
    const auto f = static_cast<float>(std::sqrt(structure) * cic / double(n));
    scratch[idx][0] *= f;
    scratch[idx][1] *= f;
  }
  fftwf_execute_dft_c2r(g.c2r, scratch, counts);
  const double per_pixel =
      sp.carbon_density_per_a3 * 10.0 * sp.carbon_thickness_nm * pixel_a * pixel_a;
  for (int i = 0; i < g.h; ++i) {
    for (int j = 0; j < g.w; ++j) {
      const size_t r = static_cast<size_t>(i) * g.w + j;
      const double x = (j + 0.5) * pixel_a;
      const double y = (i + 0.5) * pixel_a;
      double m = per_pixel * (1.0 + sp.carbon_thickness_gradient * ramp(x, y));
      if (in_hole(x, y)) m = 0.0;
      counts[r] = keep[r] + static_cast<float>(m + std::sqrt(m) * counts[r]);
    }
  }
}

// Held-out detector (DetectorModel::kScintillatorCcd): each electron gives a gamma-distributed
// light yield (shape ccd_gain_shape, mean 1 in electron units), the scintillator spreads it
// with a Gaussian core plus exponential tail (ScintillatorMtf) - noise included, unlike a
// counting detector - and the read-out adds correlated noise (a Gaussian-blurred white field
// plus row banding), read_noise_e in total.
void RenderScintillatorCcd(const SampleParams& sp, const Grid& g, float* intensity,
                           double electrons_per_pixel, Rng* noise, fftwf_complex* scratch,
                           float* image) {
  const size_t n = static_cast<size_t>(g.h) * g.w;
  const double shape = sp.ccd_gain_shape;
  for (size_t r = 0; r < n; ++r) {
    const double expected = std::max(0.0, double(intensity[r])) * electrons_per_pixel;
    if (!sp.shot_noise) {
      image[r] = static_cast<float>(expected);
      continue;
    }
    const int64_t electrons = noise->Poisson(expected);
    image[r] = electrons > 0
                   ? static_cast<float>(GammaVariate(shape * double(electrons), noise) / shape)
                   : 0.0f;
  }
  const size_t nh = static_cast<size_t>(g.h) * g.hw;
  std::copy(image, image + n, intensity);
  fftwf_execute_dft_r2c(g.r2c, intensity, scratch);
  for (size_t idx = 0; idx < nh; ++idx) {
    const auto m =
        static_cast<float>(ScintillatorMtf(std::sqrt(double(g.nu2_half[idx])), sp.ccd_psf_sigma_px,
                                           sp.ccd_tail_weight, sp.ccd_tail_length_px) /
                           double(n));
    scratch[idx][0] *= m;
    scratch[idx][1] *= m;
  }
  fftwf_execute_dft_c2r(g.c2r, scratch, intensity);
  std::copy(intensity, intensity + n, image);
  if (sp.read_noise_e > 0.0) {
    Rng read(sp.seed ^ 0x9e3779b97f4a7c15ULL, RngStream::kDetector);
    for (size_t r = 0; r < n; ++r) intensity[r] = static_cast<float>(read.Normal());
    fftwf_execute_dft_r2c(g.r2c, intensity, scratch);
    // Gaussian of 1 pixel standard deviation; its white-noise output has variance
    // 1 / (4 pi sigma^2), rescaled to 1.
    const double norm = std::sqrt(4.0 * 3.14159265358979323846);
    for (size_t idx = 0; idx < nh; ++idx) {
      const double nu2 = g.nu2_half[idx];
      const auto m = static_cast<float>(
          norm * std::exp(-2.0 * 3.14159265358979323846 * 3.14159265358979323846 * nu2) /
          double(n));
      scratch[idx][0] *= m;
      scratch[idx][1] *= m;
    }
    fftwf_execute_dft_c2r(g.c2r, scratch, intensity);
    const double white = 0.9 * sp.read_noise_e;
    const double banding = std::sqrt(1.0 - 0.81) * sp.read_noise_e;
    for (int i = 0; i < g.h; ++i) {
      const double row = banding * read.Normal();
      for (int j = 0; j < g.w; ++j) {
        const size_t r = static_cast<size_t>(i) * g.w + j;
        image[r] += static_cast<float>(white * intensity[r] + row);
      }
    }
  }
}

// Per-pixel detector defects, drawn last from RngStream::kDetector (their counts scale with
// the pixel count, nothing else's does): fixed-pattern gain, read noise (counting detector;
// the CCD's is correlated, see RenderScintillatorCcd), x-ray spikes, hot and dead pixels.
void ApplyDetectorDefects(const SampleParams& sp, const Grid& g, bool ccd,
                          double electrons_per_pixel, fftwf_complex* /*scratch*/,
                          float* /*scratch_real*/, float* image) {
  const size_t n = static_cast<size_t>(g.h) * g.w;
  if (sp.gain_nonuniformity == 0.0 && (sp.read_noise_e == 0.0 || ccd) && sp.xray_spikes == 0 &&
      sp.hot_pixel_fraction == 0.0 && sp.dead_pixel_fraction == 0.0) {
    return;
  }
  Rng rng(sp.seed, RngStream::kDetector);
  if (sp.gain_nonuniformity > 0.0) {
    for (size_t r = 0; r < n; ++r) {
      image[r] *= static_cast<float>(std::max(0.0, 1.0 + sp.gain_nonuniformity * rng.Normal()));
    }
  }
  if (!ccd && sp.read_noise_e > 0.0) {
    for (size_t r = 0; r < n; ++r) image[r] += static_cast<float>(sp.read_noise_e * rng.Normal());
  }
  const double mean = std::max(1.0, electrons_per_pixel);
  // X-ray spikes: isolated single pixels (no other spike in the 8 neighbours) at 10-100x the
  // mean count.
  std::vector<size_t> spikes;
  for (int64_t s = 0; s < sp.xray_spikes; ++s) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      const int i = static_cast<int>(rng.UniformInt(0, g.h - 1));
      const int j = static_cast<int>(rng.UniformInt(0, g.w - 1));
      bool isolated = true;
      for (size_t q : spikes) {
        const int qi = static_cast<int>(q / g.w);
        const int qj = static_cast<int>(q % g.w);
        if (std::abs(qi - i) <= 1 && std::abs(qj - j) <= 1) {
          isolated = false;
          break;
        }
      }
      if (!isolated) continue;
      const size_t r = static_cast<size_t>(i) * g.w + j;
      image[r] = static_cast<float>(rng.Uniform(10.0, 100.0) * mean);
      spikes.push_back(r);
      break;
    }
  }
  const auto hot = static_cast<int64_t>(std::llround(sp.hot_pixel_fraction * double(n)));
  for (int64_t s = 0; s < hot; ++s) {
    const auto r = static_cast<size_t>(rng.UniformInt(0, static_cast<int64_t>(n) - 1));
    image[r] = static_cast<float>(rng.Uniform(5.0, 20.0) * mean);
  }
  const auto dead = static_cast<int64_t>(std::llround(sp.dead_pixel_fraction * double(n)));
  for (int64_t s = 0; s < dead; ++s) {
    image[static_cast<size_t>(rng.UniformInt(0, static_cast<int64_t>(n) - 1))] = 0.0f;
  }
}

}  // namespace

Sample HrtemSimulator::RenderValidated(const SampleParams& params) const {
  Sample out;
  out.params = params;
  SampleParams& sp = out.params;
  const int h = sp.height;
  const int w = sp.width;
  const size_t n = static_cast<size_t>(h) * w;
  const size_t nh = static_cast<size_t>(h) * half_width_;
  const double pixel_a = 10.0 * sp.pixel_size_nm;  // nm -> A
  const double fov_x_a = w * pixel_a;
  const double fov_y_a = h * pixel_a;
  const bool phase_field = sp.carbon_model == "phase_field";
  // Position along a direction across the field, -1..1 at the corners (gradients).
  const auto ramp = [&](double angle_deg) {
    const double t = angle_deg * kPi / 180.0;
    const double c = std::cos(t);
    const double si = std::sin(t);
    const double half = 0.5 * (std::fabs(c) * fov_x_a + std::fabs(si) * fov_y_a);
    return [=](double x_a, double y_a) {
      return ((x_a - 0.5 * fov_x_a) * c + (y_a - 0.5 * fov_y_a) * si) / half;
    };
  };
  const auto carbon_ramp = ramp(sp.carbon_gradient_angle_deg);
  const double hole_r_a = 10.0 * sp.hole_radius_nm;
  const auto in_hole = [&](double x_a, double y_a) {
    if (!(hole_r_a > 0.0)) return false;
    return std::hypot(x_a - 10.0 * sp.hole_center_x_nm, y_a - 10.0 * sp.hole_center_y_nm) <
           hole_r_a;
  };

  // 1. Specimen: carbon film (periodic) and gold particles, with footprints.
  std::vector<Vec2> carbon;
  if (!phase_field) {
    Rng carbon_rng(sp.seed, RngStream::kCarbon);
    std::vector<Vec3> atoms;
    const double g = sp.carbon_thickness_gradient;
    const double thickness_a = 10.0 * sp.carbon_thickness_nm;
    // A thickness ramp: a slab at the largest thickness, thinned by position.
    GenerateAmorphousCarbon(fov_x_a, fov_y_a, g > 0.0 ? thickness_a * (1.0 + g) : thickness_a,
                            &carbon_rng, &atoms, sp.carbon_density_per_a3);
    carbon.reserve(atoms.size());
    for (const Vec3& atom : atoms) {
      if (g > 0.0 && atom.z >= thickness_a * (1.0 + g * carbon_ramp(atom.x, atom.y))) continue;
      carbon.push_back(Vec2{atom.x, atom.y});
    }
  }
  // Graphitic fragments and contamination: extra carbon atoms (periodic like the film).
  if (sp.graphitic_fraction > 0.0 || !sp.contamination.empty()) {
    Rng extras(sp.seed, RngStream::kCarbonExtras);
    std::vector<Vec2> more;
    if (sp.graphitic_fraction > 0.0) {
      // Mean fragment area: 3.5 nm long, 3.5 layers of 0.335 nm.
      constexpr double kMeanFragmentAreaA2 = 35.0 * 3.5 * kGraphiteLayerSpacingA;
      const auto fragments = static_cast<int64_t>(
          std::llround(sp.graphitic_fraction * fov_x_a * fov_y_a / kMeanFragmentAreaA2));
      for (int64_t i = 0; i < fragments; ++i) {
        GraphiticFragment f;
        f.center_a = Vec2{extras.Uniform() * fov_x_a, extras.Uniform() * fov_y_a};
        f.angle_rad = extras.Uniform(0.0, kPi);
        const double radius = extras.Uniform(15.0, 60.0);
        f.curvature_radius_a = extras.Uniform() < 0.5 ? -radius : radius;
        f.length_a = extras.Uniform(20.0, 50.0);
        f.depth_a = extras.Uniform(8.0, 20.0);
        f.layers = static_cast<int>(extras.UniformInt(2, 5));
        AppendGraphiticFragmentAtomsA(f, &more);
      }
      sp.num_graphitic_fragments = fragments;
    }
    for (const SampleParams::ContaminationPatch& c : sp.contamination) {
      const double radius_a = 10.0 * c.radius_nm;
      const double top_a = 10.0 * c.thickness_nm;
      if (!(radius_a > 0.0 && top_a > 0.0)) continue;
      std::vector<Vec3> dome;
      // Hydrocarbon: less dense than the film; a paraboloid dome, no lattice.
      GenerateAmorphousCarbon(2.0 * radius_a, 2.0 * radius_a, top_a, &extras, &dome, 0.09);
      for (const Vec3& atom : dome) {
        const double dx = atom.x - radius_a;
        const double dy = atom.y - radius_a;
        const double rho2 = (dx * dx + dy * dy) / (radius_a * radius_a);
        if (rho2 >= 1.0 || atom.z >= top_a * (1.0 - rho2)) continue;
        more.push_back(Vec2{10.0 * c.center_x_nm + dx, 10.0 * c.center_y_nm + dy});
      }
    }
    for (Vec2 a : more) {
      a.x -= fov_x_a * std::floor(a.x / fov_x_a);
      a.y -= fov_y_a * std::floor(a.y / fov_y_a);
      carbon.push_back(a);
    }
  }
  if (hole_r_a > 0.0) {
    carbon.erase(std::remove_if(carbon.begin(), carbon.end(),
                                [&](const Vec2& a) { return in_hole(a.x, a.y); }),
                 carbon.end());
  }
  sp.num_carbon_atoms = static_cast<int64_t>(carbon.size());
  std::vector<Vec2> gold;
  out.instances = cv::Mat(h, w, CV_16UC1, cv::Scalar(0));
  std::vector<std::vector<Vec2>> footprints;
  for (size_t i = 0; i < sp.particles.size(); ++i) {
    ParticleParams& particle = sp.particles[i];
    const Morphology morphology = MorphologyOf(particle);
    const auto& b = particle.beam_direction;
    const Mat3 rotation = CrystalToLabRotation(Vec3{b[0], b[1], b[2]}, particle.rotation_deg);
    const auto& f = particle.lattice_offset;
    const Vec2 center{10.0 * particle.center_x_nm, 10.0 * particle.center_y_nm};
    const std::vector<Vec3> atoms =
        morphology == Morphology::kSphere
            ? GoldParticleAtomsA(center, 10.0 * particle.diameter_nm, rotation,
                                 Vec3{f[0], f[1], f[2]})
            : ParticleAtomsA(morphology, center, 10.0 * particle.diameter_nm, rotation,
                             Vec3{f[0], f[1], f[2]});
    std::vector<Vec2> footprint = morphology == Morphology::kSphere
                                      ? FootprintPolygonA(atoms, kGoldAtomicRadiusA)
                                      : FootprintPolygonExactA(atoms, kGoldAtomicRadiusA);
    particle.footprint_pixels =
        RasterizeConvexPolygon(footprint, pixel_a, static_cast<uint16_t>(i + 1), &out.instances);
    int64_t imaged = 0;
    for (const Vec3& atom : atoms) {
      // Outside the field nothing is imaged (the cell is periodic: such atoms would wrap).
      if (sp.particle_out_of_frame &&
          !(atom.x >= 0.0 && atom.x < fov_x_a && atom.y >= 0.0 && atom.y < fov_y_a)) {
        continue;
      }
      // Touching particles: where an earlier particle already is, the later one has no atoms.
      if (sp.particles_touch) {
        bool inside = false;
        for (const std::vector<Vec2>& poly : footprints) {
          if (InsideConvexPolygon(poly, Vec2{atom.x, atom.y})) {
            inside = true;
            break;
          }
        }
        if (inside) continue;
      }
      gold.push_back(Vec2{atom.x, atom.y});
      ++imaged;
    }
    particle.num_atoms = imaged;
    if (sp.particles_touch) footprints.push_back(std::move(footprint));
  }
  // Plain loops and constructors rather than cv::MatExpr (Mat::zeros,
  // `instances > 0`), whose lazily initialised internals ThreadSanitizer
  // flags under parallel generation.
  out.mask.create(h, w, CV_8UC1);
  for (int i = 0; i < h; ++i) {
    const auto* label = out.instances.ptr<uint16_t>(i);
    auto* mask = out.mask.ptr<uint8_t>(i);
    for (int j = 0; j < w; ++j) mask[j] = label[j] != 0 ? 1 : 0;
  }

  // 2. Projected potential v_z (V*A). With N(k) the FFT of an element's
  // count grid, v_z(k) = sum_elements N(k) V_atom(k) / (pixel area); the extra
  // 1/n undoes FFTW's unnormalised forward+backward pair.
  RealBuffer real = AllocReal(n);
  ComplexBuffer spectrum = AllocComplex(nh);
  ComplexBuffer gold_spectrum = AllocComplex(nh);
  DepositBilinear(carbon, pixel_a, h, w, real.get());
  const Grid grid{h, w, half_width_, plans_->r2c, plans_->c2r, nu2_half_.data()};
  if (phase_field) {
    AddPhaseFieldCarbon(sp, pixel_a, grid, ramp(sp.carbon_gradient_angle_deg), in_hole, real.get(),
                        spectrum.get());
  }
  fftwf_execute_dft_r2c(plans_->r2c, real.get(), spectrum.get());
  const bool has_gold = !gold.empty();
  if (has_gold) {
    DepositBilinear(gold, pixel_a, h, w, real.get());
    fftwf_execute_dft_r2c(plans_->r2c, real.get(), gold_spectrum.get());
  }
  const double potential_scale = 1.0 / (pixel_a * pixel_a * double(n));
  for (size_t idx = 0; idx < nh; ++idx) {
    const float filter = potential_filter_half_[idx];
    if (filter == 0.0f) {
      spectrum[idx][0] = spectrum[idx][1] = 0.0f;
      continue;
    }
    const double k = std::sqrt(double(nu2_half_[idx])) / pixel_a;
    const double common = filter * potential_scale;
    const double vc = common * ProjectedPotentialFourier(Element::kCarbon, k);
    double re = vc * spectrum[idx][0];
    double im = vc * spectrum[idx][1];
    if (has_gold) {
      const double vg = common * ProjectedPotentialFourier(Element::kGold, k);
      re += vg * gold_spectrum[idx][0];
      im += vg * gold_spectrum[idx][1];
    }
    spectrum[idx][0] = static_cast<float>(re);
    spectrum[idx][1] = static_cast<float>(im);
  }
  fftwf_execute_dft_c2r(plans_->c2r, spectrum.get(), real.get());
  if (options_.keep_intermediates) out.potential = cv::Mat(h, w, CV_32FC1, real.get()).clone();

  // 3. Exit wave, phase-object approximation: psi = exp(i sigma v_z).
  ComplexBuffer wave = AllocComplex(n);
  ComplexBuffer wave_k = AllocComplex(n);
  const auto sigma = static_cast<float>(InteractionConstant(sp.voltage_kv));  // rad/(V*A)
  for (size_t r = 0; r < n; ++r) {
    const float phase = sigma * real[r];
    wave[r][0] = std::cos(phase);
    wave[r][1] = std::sin(phase);
  }
  fftwf_execute_dft(plans_->forward, wave.get(), wave_k.get());

  // 4. Objective lens: aperture, aberrations exp(-i chi), coherence envelopes.
  const double lambda = ElectronWavelengthA(sp.voltage_kv);
  const double defocus_a = 10.0 * sp.defocus_nm;
  const double cs_a = 1e4 * sp.cs_um;
  const double focal_spread_a = 10.0 * sp.focal_spread_nm;
  const double convergence_rad = 1e-3 * sp.convergence_mrad;
  double k_max = kBandLimitCyclesPerPx / pixel_a;  // 1/A
  if (sp.objective_aperture_mrad > 0.0) {
    k_max = std::min(k_max, 1e-3 * sp.objective_aperture_mrad / lambda);
  }
  constexpr double kDeg = kPi / 180.0;
  Aberrations ab;
  ab.c1_a = defocus_a;
  ab.c3_a = cs_a;
  ab.a1_a = 10.0 * sp.a1_nm;
  ab.a1_azimuth_rad = sp.a1_azimuth_deg * kDeg;
  ab.a2_a = 10.0 * sp.a2_nm;
  ab.a2_azimuth_rad = sp.a2_azimuth_deg * kDeg;
  ab.b2_a = 10.0 * sp.b2_nm;
  ab.b2_azimuth_rad = sp.b2_azimuth_deg * kDeg;
  ab.tilt_x_rad = 1e-3 * sp.beam_tilt_x_mrad;
  ab.tilt_y_rad = 1e-3 * sp.beam_tilt_y_mrad;
  const bool anisotropic = ab.a1_a != 0.0 || ab.a2_a != 0.0 || ab.b2_a != 0.0 ||
                           ab.tilt_x_rad != 0.0 || ab.tilt_y_rad != 0.0;
  const double k_max2_nu = k_max * k_max * pixel_a * pixel_a;  // in (cycles/pixel)^2
  const double inv_n = 1.0 / double(n);
  for (size_t idx = 0; idx < n; ++idx) {
    const double nu2 = nu2_full_[idx];
    if (nu2 > k_max2_nu) {
      wave_k[idx][0] = wave_k[idx][1] = 0.0f;
      continue;
    }
    const double k = std::sqrt(nu2) / pixel_a;
    double chi = 0.0;
    if (anisotropic) {
      const double kx = FftFrequency(static_cast<int>(idx % w), w) / pixel_a;
      const double ky = FftFrequency(static_cast<int>(idx / w), h) / pixel_a;
      chi = AberrationPhase(kx, ky, lambda, ab);
    } else {
      chi = CtfPhase(k, lambda, defocus_a, cs_a);
    }
    const double envelope = TemporalEnvelope(k, lambda, focal_spread_a) *
                            SpatialEnvelope(k, lambda, defocus_a, cs_a, convergence_rad) * inv_n;
    const double hr = envelope * std::cos(chi);
    const double hi = -envelope * std::sin(chi);
    const double re = wave_k[idx][0];
    const double im = wave_k[idx][1];
    wave_k[idx][0] = static_cast<float>(re * hr - im * hi);
    wave_k[idx][1] = static_cast<float>(re * hi + im * hr);
  }
  fftwf_execute_dft(plans_->backward, wave_k.get(), wave.get());
  for (size_t r = 0; r < n; ++r) real[r] = wave[r][0] * wave[r][0] + wave[r][1] * wave[r][1];

  // 5. Detector: MTF on the expected intensity, then shot noise. The MTF acts
  // on the signal only, as for a counting detector, so the counts stay
  // Poisson distributed.
  const bool ccd = sp.detector_model == "scintillator_ccd";
  const double drift_px = sp.drift_blur_nm / sp.pixel_size_nm;
  const double drift_c = std::cos(sp.drift_angle_deg * kDeg);
  const double drift_s = std::sin(sp.drift_angle_deg * kDeg);
  const bool counting_mtf = sp.mtf50_cycles_per_px > 0.0 && !ccd;
  if (counting_mtf && drift_px == 0.0) {
    fftwf_execute_dft_r2c(plans_->r2c, real.get(), spectrum.get());
    for (size_t idx = 0; idx < nh; ++idx) {
      const auto m = static_cast<float>(
          DetectorMtf(std::sqrt(double(nu2_half_[idx])), sp.mtf50_cycles_per_px) * inv_n);
      spectrum[idx][0] *= m;
      spectrum[idx][1] *= m;
    }
    fftwf_execute_dft_c2r(plans_->c2r, spectrum.get(), real.get());
  } else if (counting_mtf || drift_px > 0.0) {
    // Drift during the exposure: a box (linear motion) blur of drift_px pixels along the drift,
    // transfer sinc(L nu_parallel), applied to the signal before noise.
    fftwf_execute_dft_r2c(plans_->r2c, real.get(), spectrum.get());
    for (size_t idx = 0; idx < nh; ++idx) {
      const double fx = double(idx % half_width_) / w;
      const double fy = FftFrequency(static_cast<int>(idx / half_width_), h);
      double m = inv_n * Sinc(drift_px * (fx * drift_c + fy * drift_s));
      if (counting_mtf) m *= DetectorMtf(std::sqrt(double(nu2_half_[idx])), sp.mtf50_cycles_per_px);
      spectrum[idx][0] *= static_cast<float>(m);
      spectrum[idx][1] *= static_cast<float>(m);
    }
    fftwf_execute_dft_c2r(plans_->c2r, spectrum.get(), real.get());
  }
  if (sp.illumination_gradient > 0.0) {
    // Uneven illumination: a linear intensity ramp across the field.
    const auto ill = ramp(sp.illumination_gradient_angle_deg);
    for (int i = 0; i < h; ++i) {
      for (int j = 0; j < w; ++j) {
        real[static_cast<size_t>(i) * w + j] *= static_cast<float>(
            1.0 + sp.illumination_gradient * ill((j + 0.5) * pixel_a, (i + 0.5) * pixel_a));
      }
    }
  }
  if (options_.keep_intermediates) out.intensity = cv::Mat(h, w, CV_32FC1, real.get()).clone();

  const double electrons_per_pixel = sp.ElectronsPerPixel();
  out.image.create(h, w, CV_32FC1);
  auto* image = out.image.ptr<float>(0);  // continuous: freshly allocated
  Rng noise(sp.seed, RngStream::kNoise);
  if (!ccd) {
    for (size_t r = 0; r < n; ++r) {
      const double expected = std::max(0.0, double(real[r])) * electrons_per_pixel;
      image[r] = sp.shot_noise ? static_cast<float>(noise.Poisson(expected))
                               : static_cast<float>(expected);
    }
  } else {
    RenderScintillatorCcd(sp, grid, real.get(), electrons_per_pixel, &noise, spectrum.get(), image);
  }
  ApplyDetectorDefects(sp, grid, ccd, electrons_per_pixel, spectrum.get(), real.get(), image);
  return out;
}

}  // namespace fringe::sim

#undef FRINGE_SIM_RETURN_IF_ERROR
