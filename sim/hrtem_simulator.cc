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
#include "sim/specimen.h"

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Band limit of the projected potential and of the wave (cycles/pixel):
// 2/3 of Nyquist, the usual anti-aliasing choice of multislice codes, so that
// products of band-limited functions (|psi|^2) alias as little as possible.
constexpr double kBandLimitCyclesPerPx = 1.0 / 3.0;
// Upper bound on carbon atoms per image, to reject option sets that would
// need gigabytes (e.g. 8192^2 pixels with a thick film).
constexpr double kMaxCarbonAtoms = 5e7;
// Upper bound on particles per image (instance labels are 16-bit).
constexpr size_t kMaxParticles = 1000;

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

// Returns OK when lo <= value <= hi (NaN fails), else InvalidArgument naming
// the option.
absl::Status CheckRange(const std::string& name, double value, double lo, double hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " must be in [", lo, ", ", hi, "] (got ", value, ")"));
}

absl::Status CheckMinMax(const std::string& prefix, const std::string& min_name, double min,
                         const std::string& max_name, double max, double lo, double hi) {
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(prefix + min_name, min, lo, hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(prefix + max_name, max, lo, hi));
  if (min > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, min_name, " (", min, ") must not exceed ", prefix, max_name, " (", max, ")"));
  }
  return absl::OkStatus();
}

// Sanity bounds shared by options, overrides and Render's parameter checks.
struct Bounds {
  double lo;
  double hi;
};
constexpr Bounds kDoseBounds{1e-3, 1e7};          // e/A^2
constexpr Bounds kPixelSizeBounds{1e-3, 10.0};    // nm
constexpr Bounds kDiameterBounds{0.3, 200.0};     // nm
constexpr Bounds kDefocusBounds{-1e5, 1e5};       // nm
constexpr Bounds kCsBounds{-1e5, 1e5};            // um
constexpr Bounds kFocalSpreadBounds{0.0, 1e3};    // nm
constexpr Bounds kConvergenceBounds{0.0, 100.0};  // mrad
constexpr Bounds kCarbonBounds{0.0, 100.0};       // nm
constexpr Bounds kMtf50Bounds{1e-3, 1e3};         // cycles/pixel

// Radius (nm) a particle of `diameter_nm` may reach: its atoms' centres lie
// within diameter/2 and the footprint adds the atomic radius (see
// GoldParticleAtomsA). Used for placement, so footprints never touch.
double OuterRadiusNm(double diameter_nm) { return 0.5 * diameter_nm + 0.1 * kGoldAtomicRadiusA; }

// Checks that forced or rendered particles are well formed, lie inside a
// field of view of fov_x_nm x fov_y_nm and do not overlap.
absl::Status CheckParticles(const std::string& name, const std::vector<ParticleParams>& particles,
                            double fov_x_nm, double fov_y_nm, bool need_beam_direction) {
  if (particles.size() > kMaxParticles) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has ", particles.size(), " particles (at most ", kMaxParticles, ")"));
  }
  for (size_t i = 0; i < particles.size(); ++i) {
    const ParticleParams& p = particles[i];
    const std::string pname = absl::StrCat(name, "[", i, "]");
    FRINGE_SIM_RETURN_IF_ERROR(
        CheckRange(pname + ".diameter_nm", p.diameter_nm, kDiameterBounds.lo, kDiameterBounds.hi));
    const double r = OuterRadiusNm(p.diameter_nm);
    if (!(p.center_x_nm - r >= 0.0 && p.center_x_nm + r <= fov_x_nm && p.center_y_nm - r >= 0.0 &&
          p.center_y_nm + r <= fov_y_nm)) {
      return absl::InvalidArgumentError(
          absl::StrCat(pname, " (centre ", p.center_x_nm, ", ", p.center_y_nm, " nm, diameter ",
                       p.diameter_nm, " nm, outer radius ", r, " nm) does not fit inside the ",
                       fov_x_nm, " x ", fov_y_nm, " nm field of view"));
    }
    if (need_beam_direction) {
      const auto& b = p.beam_direction;
      const double n2 = b[0] * b[0] + b[1] * b[1] + b[2] * b[2];
      if (!(n2 > 1e-12 && n2 < 1e12)) {
        return absl::InvalidArgumentError(pname + ".beam_direction must be a non-zero vector");
      }
    } else if (p.zone_axis != "random") {
      if (auto axis = ParseZoneAxis(p.zone_axis); !axis.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(pname, ".zone_axis: ", axis.status().message(), " (or \"random\")"));
      }
    }
    if (!std::isfinite(p.rotation_deg)) {
      return absl::InvalidArgumentError(pname + ".rotation_deg must be finite");
    }
    for (double f : p.lattice_offset) {
      if (!std::isfinite(f)) {
        return absl::InvalidArgumentError(pname + ".lattice_offset must be finite");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      const ParticleParams& q = particles[j];
      const double dist = std::hypot(p.center_x_nm - q.center_x_nm, p.center_y_nm - q.center_y_nm);
      const double reach = r + OuterRadiusNm(q.diameter_nm);
      if (dist < reach) {
        return absl::InvalidArgumentError(
            absl::StrCat(pname, " overlaps ", name, "[", j, "] (centres ", dist,
                         " nm apart, outer radii sum ", reach, " nm)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const SimulatorOptions& o) {
  const std::string p = "SimulatorOptions.";
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "height", o.height, 16, 8192));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "width", o.width, 16, 8192));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "voltage_kv", o.voltage_kv, 1.0, 5000.0));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "dose_min", o.dose_min, "dose_max", o.dose_max,
                                         kDoseBounds.lo, kDoseBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "pixel_size_min_nm", o.pixel_size_min_nm,
                                         "pixel_size_max_nm", o.pixel_size_max_nm,
                                         kPixelSizeBounds.lo, kPixelSizeBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "particles_min", o.particles_min, "particles_max",
                                         o.particles_max, 0, double(kMaxParticles)));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "diameter_min_nm", o.diameter_min_nm, "diameter_max_nm",
                                         o.diameter_max_nm, kDiameterBounds.lo,
                                         kDiameterBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(
      CheckRange(p + "min_particle_gap_nm", o.min_particle_gap_nm, 0.0, 100.0));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "edge_margin_nm", o.edge_margin_nm, 0.0, 100.0));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "placement_attempts", o.placement_attempts, 1, 1e6));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "on_zone_fraction", o.on_zone_fraction, 0.0, 1.0));
  if (o.on_zone_fraction > 0.0 && o.zone_axes.empty()) {
    return absl::InvalidArgumentError(p + "zone_axes must not be empty when on_zone_fraction > 0");
  }
  for (size_t i = 0; i < o.zone_axes.size(); ++i) {
    if (auto axis = ParseZoneAxis(o.zone_axes[i]); !axis.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, "zone_axes[", i, "]: ", axis.status().message()));
    }
  }
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "defocus_min_nm", o.defocus_min_nm, "defocus_max_nm",
                                         o.defocus_max_nm, kDefocusBounds.lo, kDefocusBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "cs_min_um", o.cs_min_um, "cs_max_um", o.cs_max_um,
                                         kCsBounds.lo, kCsBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "focal_spread_min_nm", o.focal_spread_min_nm,
                                         "focal_spread_max_nm", o.focal_spread_max_nm,
                                         kFocalSpreadBounds.lo, kFocalSpreadBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "convergence_min_mrad", o.convergence_min_mrad,
                                         "convergence_max_mrad", o.convergence_max_mrad,
                                         kConvergenceBounds.lo, kConvergenceBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(
      CheckRange(p + "objective_aperture_mrad", o.objective_aperture_mrad, 0.0, 1000.0));
  FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "carbon_thickness_min_nm", o.carbon_thickness_min_nm,
                                         "carbon_thickness_max_nm", o.carbon_thickness_max_nm,
                                         kCarbonBounds.lo, kCarbonBounds.hi));
  if (o.detector_mtf) {
    FRINGE_SIM_RETURN_IF_ERROR(CheckMinMax(p, "mtf50_min_cycles_per_px", o.mtf50_min_cycles_per_px,
                                           "mtf50_max_cycles_per_px", o.mtf50_max_cycles_per_px,
                                           kMtf50Bounds.lo, kMtf50Bounds.hi));
  }

  // Overrides: the same physical bounds, under their own names.
  const SampleOverrides& ov = o.overrides;
  const std::string q = p + "overrides.";
  const std::pair<const std::optional<double>*, std::pair<const char*, Bounds>> forced[] = {
      {&ov.dose_e_per_a2, {"dose_e_per_a2", kDoseBounds}},
      {&ov.pixel_size_nm, {"pixel_size_nm", kPixelSizeBounds}},
      {&ov.defocus_nm, {"defocus_nm", kDefocusBounds}},
      {&ov.cs_um, {"cs_um", kCsBounds}},
      {&ov.focal_spread_nm, {"focal_spread_nm", kFocalSpreadBounds}},
      {&ov.convergence_mrad, {"convergence_mrad", kConvergenceBounds}},
      {&ov.carbon_thickness_nm, {"carbon_thickness_nm", kCarbonBounds}},
      {&ov.mtf50_cycles_per_px, {"mtf50_cycles_per_px", kMtf50Bounds}},
  };
  for (const auto& [value, spec] : forced) {
    if (value->has_value()) {
      FRINGE_SIM_RETURN_IF_ERROR(
          CheckRange(q + spec.first, **value, spec.second.lo, spec.second.hi));
    }
  }
  if (ov.particle_count.has_value()) {
    FRINGE_SIM_RETURN_IF_ERROR(
        CheckRange(q + "particle_count", *ov.particle_count, 0, double(kMaxParticles)));
  }
  const double min_pixel_nm = ov.pixel_size_nm.value_or(o.pixel_size_min_nm);
  if (ov.particles.has_value()) {
    FRINGE_SIM_RETURN_IF_ERROR(CheckParticles(q + "particles", *ov.particles,
                                              o.width * min_pixel_nm, o.height * min_pixel_nm,
                                              /*need_beam_direction=*/false));
  }

  // Memory guard: the thickest film at the largest pixel size.
  const double max_pixel_a = 10.0 * ov.pixel_size_nm.value_or(o.pixel_size_max_nm);
  const double max_thickness_a = 10.0 * ov.carbon_thickness_nm.value_or(o.carbon_thickness_max_nm);
  const double max_atoms =
      kCarbonDensityPerA3 * o.height * max_pixel_a * o.width * max_pixel_a * max_thickness_a;
  if (max_atoms > kMaxCarbonAtoms) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "carbon_thickness_max_nm (", o.carbon_thickness_max_nm, ") is too large for a ", o.width,
        "x", o.height, " image: up to ", max_atoms, " carbon atoms (limit ", kMaxCarbonAtoms, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateParams(const SampleParams& sp, const SimulatorOptions& o) {
  const std::string p = "SampleParams.";
  if (sp.height != o.height || sp.width != o.width) {
    return absl::InvalidArgumentError(absl::StrCat(p, "height x width (", sp.height, "x", sp.width,
                                                   ") must match the simulator's (", o.height, "x",
                                                   o.width, ")"));
  }
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "voltage_kv", sp.voltage_kv, 1.0, 5000.0));
  FRINGE_SIM_RETURN_IF_ERROR(
      CheckRange(p + "dose_e_per_a2", sp.dose_e_per_a2, kDoseBounds.lo, kDoseBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(
      CheckRange(p + "pixel_size_nm", sp.pixel_size_nm, kPixelSizeBounds.lo, kPixelSizeBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(
      CheckRange(p + "defocus_nm", sp.defocus_nm, kDefocusBounds.lo, kDefocusBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "cs_um", sp.cs_um, kCsBounds.lo, kCsBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "focal_spread_nm", sp.focal_spread_nm,
                                        kFocalSpreadBounds.lo, kFocalSpreadBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "convergence_mrad", sp.convergence_mrad,
                                        kConvergenceBounds.lo, kConvergenceBounds.hi));
  FRINGE_SIM_RETURN_IF_ERROR(
      CheckRange(p + "objective_aperture_mrad", sp.objective_aperture_mrad, 0.0, 1000.0));
  FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "carbon_thickness_nm", sp.carbon_thickness_nm,
                                        kCarbonBounds.lo, kCarbonBounds.hi));
  if (sp.mtf50_cycles_per_px != 0.0) {
    FRINGE_SIM_RETURN_IF_ERROR(CheckRange(p + "mtf50_cycles_per_px", sp.mtf50_cycles_per_px,
                                          kMtf50Bounds.lo, kMtf50Bounds.hi));
  }
  const double atoms = kCarbonDensityPerA3 * sp.height * sp.width *
                       std::pow(10.0 * sp.pixel_size_nm, 2) * 10.0 * sp.carbon_thickness_nm;
  if (atoms > kMaxCarbonAtoms) {
    return absl::InvalidArgumentError(absl::StrCat(p, "carbon_thickness_nm (",
                                                   sp.carbon_thickness_nm, ") needs ", atoms,
                                                   " carbon atoms (limit ", kMaxCarbonAtoms, ")"));
  }
  return CheckParticles(p + "particles", sp.particles, sp.width * sp.pixel_size_nm,
                        sp.height * sp.pixel_size_nm, /*need_beam_direction=*/true);
}

}  // namespace

nlohmann::json ParticleParams::ToJson() const {
  return nlohmann::json{{"center_x_nm", center_x_nm},          {"center_y_nm", center_y_nm},
                        {"diameter_nm", diameter_nm},          {"zone_axis", zone_axis},
                        {"beam_direction", beam_direction},    {"rotation_deg", rotation_deg},
                        {"lattice_offset", lattice_offset},    {"num_atoms", num_atoms},
                        {"footprint_pixels", footprint_pixels}};
}

double SampleParams::ElectronsPerPixel() const {
  const double pixel_a = 10.0 * pixel_size_nm;
  return dose_e_per_a2 * pixel_a * pixel_a;
}

nlohmann::json SampleParams::ToJson() const {
  nlohmann::json particles_json = nlohmann::json::array();
  for (const ParticleParams& p : particles) particles_json.push_back(p.ToJson());
  return nlohmann::json{{"base_seed", base_seed},
                        {"index", index},
                        {"seed", seed},
                        {"height", height},
                        {"width", width},
                        {"voltage_kv", voltage_kv},
                        {"dose_e_per_A2", dose_e_per_a2},
                        {"electrons_per_pixel", ElectronsPerPixel()},
                        {"pixel_size_nm", pixel_size_nm},
                        {"defocus_nm", defocus_nm},
                        {"cs_um", cs_um},
                        {"focal_spread_nm", focal_spread_nm},
                        {"convergence_mrad", convergence_mrad},
                        {"objective_aperture_mrad", objective_aperture_mrad},
                        {"carbon_thickness_nm", carbon_thickness_nm},
                        {"mtf50_cycles_per_px", mtf50_cycles_per_px},
                        {"shot_noise", shot_noise},
                        {"num_carbon_atoms", num_carbon_atoms},
                        {"num_particles", particles.size()},
                        {"particles", std::move(particles_json)}};
}

nlohmann::json SimulatorOptionsToJson(const SimulatorOptions& o) {
  nlohmann::json j{{"height", o.height},
                   {"width", o.width},
                   {"voltage_kv", o.voltage_kv},
                   {"dose_min", o.dose_min},
                   {"dose_max", o.dose_max},
                   {"pixel_size_min_nm", o.pixel_size_min_nm},
                   {"pixel_size_max_nm", o.pixel_size_max_nm},
                   {"particles_min", o.particles_min},
                   {"particles_max", o.particles_max},
                   {"diameter_min_nm", o.diameter_min_nm},
                   {"diameter_max_nm", o.diameter_max_nm},
                   {"min_particle_gap_nm", o.min_particle_gap_nm},
                   {"edge_margin_nm", o.edge_margin_nm},
                   {"placement_attempts", o.placement_attempts},
                   {"on_zone_fraction", o.on_zone_fraction},
                   {"zone_axes", o.zone_axes},
                   {"defocus_min_nm", o.defocus_min_nm},
                   {"defocus_max_nm", o.defocus_max_nm},
                   {"cs_min_um", o.cs_min_um},
                   {"cs_max_um", o.cs_max_um},
                   {"focal_spread_min_nm", o.focal_spread_min_nm},
                   {"focal_spread_max_nm", o.focal_spread_max_nm},
                   {"convergence_min_mrad", o.convergence_min_mrad},
                   {"convergence_max_mrad", o.convergence_max_mrad},
                   {"objective_aperture_mrad", o.objective_aperture_mrad},
                   {"carbon_thickness_min_nm", o.carbon_thickness_min_nm},
                   {"carbon_thickness_max_nm", o.carbon_thickness_max_nm},
                   {"detector_mtf", o.detector_mtf},
                   {"mtf50_min_cycles_per_px", o.mtf50_min_cycles_per_px},
                   {"mtf50_max_cycles_per_px", o.mtf50_max_cycles_per_px},
                   {"shot_noise", o.shot_noise}};
  nlohmann::json overrides = nlohmann::json::object();
  const SampleOverrides& ov = o.overrides;
  const auto put = [&](const char* name, const std::optional<double>& v) {
    if (v.has_value()) overrides[name] = *v;
  };
  put("dose_e_per_A2", ov.dose_e_per_a2);
  put("pixel_size_nm", ov.pixel_size_nm);
  put("defocus_nm", ov.defocus_nm);
  put("cs_um", ov.cs_um);
  put("focal_spread_nm", ov.focal_spread_nm);
  put("convergence_mrad", ov.convergence_mrad);
  put("carbon_thickness_nm", ov.carbon_thickness_nm);
  put("mtf50_cycles_per_px", ov.mtf50_cycles_per_px);
  if (ov.particle_count.has_value()) overrides["particle_count"] = *ov.particle_count;
  if (ov.particles.has_value()) {
    nlohmann::json forced = nlohmann::json::array();
    for (const ParticleParams& p : *ov.particles) forced.push_back(p.ToJson());
    overrides["particles"] = std::move(forced);
  }
  if (!overrides.empty()) j["overrides"] = std::move(overrides);
  return j;
}

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

  Rng prng(p.seed, RngStream::kParticles);
  if (ov.particles.has_value()) {
    for (ParticleParams particle : *ov.particles) {
      Vec3 beam;
      if (particle.zone_axis == "random") {
        beam = RandomUnitVector(&prng);
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

  const int drawn_count = static_cast<int>(prng.UniformInt(o.particles_min, o.particles_max));
  const int count = ov.particle_count.value_or(drawn_count);
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
    if (d_hi < o.diameter_min_nm) continue;  // nothing of the requested size fits
    const double diameter = o.diameter_min_nm + (d_hi - o.diameter_min_nm) * size_u;
    const double r = OuterRadiusNm(diameter);
    for (int attempt = 0; attempt < o.placement_attempts; ++attempt) {
      const double x = prng.Uniform(margin + r, fov_x - margin - r);
      const double y = prng.Uniform(margin + r, fov_y - margin - r);
      bool fits = true;
      for (const ParticleParams& q : p.particles) {
        const double min_dist = r + OuterRadiusNm(q.diameter_nm) + o.min_particle_gap_nm;
        if (std::hypot(x - q.center_x_nm, y - q.center_y_nm) < min_dist) {
          fits = false;
          break;
        }
      }
      if (!fits) continue;
      ParticleParams particle;
      particle.center_x_nm = x;
      particle.center_y_nm = y;
      particle.diameter_nm = diameter;
      particle.rotation_deg = rotation;
      particle.lattice_offset = offset;
      Vec3 beam = random_beam;
      if (on_zone) {
        particle.zone_axis = o.zone_axes[static_cast<size_t>(zone_index)];
        beam = *ParseZoneAxis(particle.zone_axis);  // validated in Create
      } else {
        particle.zone_axis = "random";
      }
      particle.beam_direction = {beam.x, beam.y, beam.z};
      p.particles.push_back(std::move(particle));
      break;
    }
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

Sample HrtemSimulator::RenderValidated(const SampleParams& params) const {
  Sample out;
  out.params = params;
  SampleParams& sp = out.params;
  const int h = sp.height;
  const int w = sp.width;
  const size_t n = static_cast<size_t>(h) * w;
  const size_t nh = static_cast<size_t>(h) * half_width_;
  const double pixel_a = 10.0 * sp.pixel_size_nm;  // nm -> A

  // 1. Specimen: carbon film (periodic) and gold particles, with footprints.
  std::vector<Vec2> carbon;
  {
    Rng carbon_rng(sp.seed, RngStream::kCarbon);
    std::vector<Vec3> atoms;
    GenerateAmorphousCarbon(w * pixel_a, h * pixel_a, 10.0 * sp.carbon_thickness_nm, &carbon_rng,
                            &atoms);
    carbon.reserve(atoms.size());
    for (const Vec3& atom : atoms) carbon.push_back(Vec2{atom.x, atom.y});
  }
  sp.num_carbon_atoms = static_cast<int64_t>(carbon.size());
  std::vector<Vec2> gold;
  out.instances = cv::Mat(h, w, CV_16UC1, cv::Scalar(0));
  for (size_t i = 0; i < sp.particles.size(); ++i) {
    ParticleParams& particle = sp.particles[i];
    const auto& b = particle.beam_direction;
    const Mat3 rotation = CrystalToLabRotation(Vec3{b[0], b[1], b[2]}, particle.rotation_deg);
    const auto& f = particle.lattice_offset;
    const std::vector<Vec3> atoms =
        GoldParticleAtomsA(Vec2{10.0 * particle.center_x_nm, 10.0 * particle.center_y_nm},
                           10.0 * particle.diameter_nm, rotation, Vec3{f[0], f[1], f[2]});
    particle.num_atoms = static_cast<int64_t>(atoms.size());
    particle.footprint_pixels =
        RasterizeConvexPolygon(FootprintPolygonA(atoms, kGoldAtomicRadiusA), pixel_a,
                               static_cast<uint16_t>(i + 1), &out.instances);
    for (const Vec3& atom : atoms) gold.push_back(Vec2{atom.x, atom.y});
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
  const double k_max2_nu = k_max * k_max * pixel_a * pixel_a;  // in (cycles/pixel)^2
  const double inv_n = 1.0 / double(n);
  for (size_t idx = 0; idx < n; ++idx) {
    const double nu2 = nu2_full_[idx];
    if (nu2 > k_max2_nu) {
      wave_k[idx][0] = wave_k[idx][1] = 0.0f;
      continue;
    }
    const double k = std::sqrt(nu2) / pixel_a;
    const double chi = CtfPhase(k, lambda, defocus_a, cs_a);
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
  if (sp.mtf50_cycles_per_px > 0.0) {
    fftwf_execute_dft_r2c(plans_->r2c, real.get(), spectrum.get());
    for (size_t idx = 0; idx < nh; ++idx) {
      const auto m = static_cast<float>(
          DetectorMtf(std::sqrt(double(nu2_half_[idx])), sp.mtf50_cycles_per_px) * inv_n);
      spectrum[idx][0] *= m;
      spectrum[idx][1] *= m;
    }
    fftwf_execute_dft_c2r(plans_->c2r, spectrum.get(), real.get());
  }
  if (options_.keep_intermediates) out.intensity = cv::Mat(h, w, CV_32FC1, real.get()).clone();

  const double electrons_per_pixel = sp.ElectronsPerPixel();
  out.image.create(h, w, CV_32FC1);
  auto* image = out.image.ptr<float>(0);  // continuous: freshly allocated
  Rng noise(sp.seed, RngStream::kNoise);
  for (size_t r = 0; r < n; ++r) {
    const double expected = std::max(0.0, double(real[r])) * electrons_per_pixel;
    image[r] =
        sp.shot_noise ? static_cast<float>(noise.Poisson(expected)) : static_cast<float>(expected);
  }
  return out;
}

}  // namespace fringe::sim

#undef FRINGE_SIM_RETURN_IF_ERROR
