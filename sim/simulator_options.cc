// SimulatorOptions and SampleParams apart from rendering: their checks (every option and
// parameter named in its error) and their JSON form (provenance, manifests).
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sim/hrtem_simulator.h"
#include "sim/simulator_validation.h"
#include "sim/specimen.h"

namespace fringe::sim {
namespace internal {
namespace {

// Returns OK when lo <= value <= hi (NaN fails), else InvalidArgument naming
// the option.
absl::Status CheckRange(const std::string& name, double value, double lo, double hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " must be in [", lo, ", ", hi, "] (got ", value, ")"));
}

absl::Status CheckMinMax(const std::string& prefix, const std::string& min_name, double min,
                         const std::string& max_name, double max, double lo, double hi) {
  FRINGE_RETURN_IF_ERROR(CheckRange(prefix + min_name, min, lo, hi));
  FRINGE_RETURN_IF_ERROR(CheckRange(prefix + max_name, max, lo, hi));
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
constexpr Bounds kDoseBounds{1e-3, 1e7};           // e/A^2
constexpr Bounds kPixelSizeBounds{1e-3, 10.0};     // nm
constexpr Bounds kDiameterBounds{0.3, 200.0};      // nm
constexpr Bounds kDefocusBounds{-1e5, 1e5};        // nm
constexpr Bounds kCsBounds{-1e5, 1e5};             // um
constexpr Bounds kFocalSpreadBounds{0.0, 1e3};     // nm
constexpr Bounds kConvergenceBounds{0.0, 100.0};   // mrad
constexpr Bounds kCarbonBounds{0.0, 100.0};        // nm
constexpr Bounds kMtf50Bounds{1e-3, 1e3};          // cycles/pixel
constexpr Bounds kCarbonDensityBounds{0.01, 0.2};  // atoms/A^3 (graphite: 0.113)

}  // namespace

// Radius (nm) a particle of `diameter_nm` may reach: its atoms' centres lie
// within diameter/2 and the footprint adds the atomic radius (see
// GoldParticleAtomsA). Used for placement, so footprints never touch.
double OuterRadiusNm(double diameter_nm) { return 0.5 * diameter_nm + 0.1 * kGoldAtomicRadiusA; }

// The same for any morphology: polyhedra reach beyond their equal-area radius.
double OuterRadiusNm(double diameter_nm, Morphology morphology) {
  return MorphologyReach(morphology) * 0.5 * diameter_nm + 0.1 * kGoldAtomicRadiusA;
}

Morphology MorphologyOf(const ParticleParams& p) {
  absl::StatusOr<Morphology> m = ParseMorphology(p.morphology);
  return m.ok() ? *m : Morphology::kSphere;
}

// Checks that forced or rendered particles are well formed, lie inside a
// field of view of fov_x_nm x fov_y_nm and do not overlap.
// With `may_touch` particles may touch: their equal-area disks must not overlap. With
// `may_leave` a particle may reach outside the field as long as its centre is inside.
absl::Status CheckParticles(const std::string& name, const std::vector<ParticleParams>& particles,
                            double fov_x_nm, double fov_y_nm, bool need_beam_direction,
                            bool may_touch = false, bool may_leave = false) {
  if (particles.size() > kMaxParticles) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has ", particles.size(), " particles (at most ", kMaxParticles, ")"));
  }
  for (size_t i = 0; i < particles.size(); ++i) {
    const ParticleParams& p = particles[i];
    const std::string pname = absl::StrCat(name, "[", i, "]");
    FRINGE_RETURN_IF_ERROR(
        CheckRange(pname + ".diameter_nm", p.diameter_nm, kDiameterBounds.lo, kDiameterBounds.hi));
    if (auto m = ParseMorphology(p.morphology); !m.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(pname, ".morphology: ", m.status().message()));
    }
    const double r = OuterRadiusNm(p.diameter_nm, MorphologyOf(p));
    if (may_leave) {
      if (!(p.center_x_nm >= 0.0 && p.center_x_nm <= fov_x_nm && p.center_y_nm >= 0.0 &&
            p.center_y_nm <= fov_y_nm)) {
        return absl::InvalidArgumentError(absl::StrCat(
            pname, " (centre ", p.center_x_nm, ", ", p.center_y_nm,
            " nm) must have its centre inside the ", fov_x_nm, " x ", fov_y_nm, " nm field"));
      }
    } else if (!(p.center_x_nm - r >= 0.0 && p.center_x_nm + r <= fov_x_nm &&
                 p.center_y_nm - r >= 0.0 && p.center_y_nm + r <= fov_y_nm)) {
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
      const double reach = may_touch ? 0.5 * (p.diameter_nm + q.diameter_nm) * (1.0 - 1e-9)
                                     : r + OuterRadiusNm(q.diameter_nm, MorphologyOf(q));
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
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "height", o.height, 16, 8192));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "width", o.width, 16, 8192));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "voltage_kv", o.voltage_kv, 1.0, 5000.0));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "dose_min", o.dose_min, "dose_max", o.dose_max,
                                     kDoseBounds.lo, kDoseBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "pixel_size_min_nm", o.pixel_size_min_nm,
                                     "pixel_size_max_nm", o.pixel_size_max_nm, kPixelSizeBounds.lo,
                                     kPixelSizeBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "particles_min", o.particles_min, "particles_max",
                                     o.particles_max, 0, double(kMaxParticles)));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "diameter_min_nm", o.diameter_min_nm, "diameter_max_nm",
                                     o.diameter_max_nm, kDiameterBounds.lo, kDiameterBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "min_particle_gap_nm", o.min_particle_gap_nm, 0.0, 100.0));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "edge_margin_nm", o.edge_margin_nm, 0.0, 100.0));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "placement_attempts", o.placement_attempts, 1, 1e6));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "on_zone_fraction", o.on_zone_fraction, 0.0, 1.0));
  if (o.on_zone_fraction > 0.0 && o.zone_axes.empty()) {
    return absl::InvalidArgumentError(p + "zone_axes must not be empty when on_zone_fraction > 0");
  }
  for (size_t i = 0; i < o.zone_axes.size(); ++i) {
    if (auto axis = ParseZoneAxis(o.zone_axes[i]); !axis.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, "zone_axes[", i, "]: ", axis.status().message()));
    }
  }
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "defocus_min_nm", o.defocus_min_nm, "defocus_max_nm",
                                     o.defocus_max_nm, kDefocusBounds.lo, kDefocusBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "cs_min_um", o.cs_min_um, "cs_max_um", o.cs_max_um,
                                     kCsBounds.lo, kCsBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "focal_spread_min_nm", o.focal_spread_min_nm,
                                     "focal_spread_max_nm", o.focal_spread_max_nm,
                                     kFocalSpreadBounds.lo, kFocalSpreadBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "convergence_min_mrad", o.convergence_min_mrad,
                                     "convergence_max_mrad", o.convergence_max_mrad,
                                     kConvergenceBounds.lo, kConvergenceBounds.hi));
  FRINGE_RETURN_IF_ERROR(
      CheckRange(p + "objective_aperture_mrad", o.objective_aperture_mrad, 0.0, 1000.0));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "carbon_thickness_min_nm", o.carbon_thickness_min_nm,
                                     "carbon_thickness_max_nm", o.carbon_thickness_max_nm,
                                     kCarbonBounds.lo, kCarbonBounds.hi));
  if (o.detector_mtf) {
    FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "mtf50_min_cycles_per_px", o.mtf50_min_cycles_per_px,
                                       "mtf50_max_cycles_per_px", o.mtf50_max_cycles_per_px,
                                       kMtf50Bounds.lo, kMtf50Bounds.hi));
  }

  // Domain randomisation.
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "carbon_model", static_cast<int>(o.carbon_model), 0, 1));
  FRINGE_RETURN_IF_ERROR(CheckMinMax(p, "carbon_density_min", o.carbon_density_min,
                                     "carbon_density_max", o.carbon_density_max,
                                     kCarbonDensityBounds.lo, kCarbonDensityBounds.hi));
  const std::pair<const char*, std::pair<double, double>> unit_ranges[] = {
      {"carbon_thickness_gradient_max", {o.carbon_thickness_gradient_max, 0.95}},
      {"graphitic_fraction_max", {o.graphitic_fraction_max, 1.0}},
      {"carbon_hole_probability", {o.carbon_hole_probability, 1.0}},
      {"contamination_probability", {o.contamination_probability, 1.0}},
      {"carbon_only_fraction", {o.carbon_only_fraction, 1.0}},
      {"single_small_particle_fraction", {o.single_small_particle_fraction, 1.0}},
      {"touching_fraction", {o.touching_fraction, 1.0}},
      {"out_of_frame_fraction", {o.out_of_frame_fraction, 1.0}},
      {"illumination_gradient_max", {o.illumination_gradient_max, 0.95}},
      {"beam_tilt_max_mrad", {o.beam_tilt_max_mrad, 20.0}},
      {"a1_max_nm", {o.a1_max_nm, 1e3}},
      {"a2_max_nm", {o.a2_max_nm, 1e5}},
      {"b2_max_nm", {o.b2_max_nm, 1e5}},
      {"gain_nonuniformity_max", {o.gain_nonuniformity_max, 0.5}},
      {"read_noise_max_e", {o.read_noise_max_e, 1e4}},
      {"hot_pixel_fraction_max", {o.hot_pixel_fraction_max, 0.1}},
      {"dead_pixel_fraction_max", {o.dead_pixel_fraction_max, 0.1}},
      {"xray_spikes_max", {double(o.xray_spikes_max), 1e5}},
      {"drift_blur_max_nm", {o.drift_blur_max_nm, 10.0}},
  };
  for (const auto& [name, value] : unit_ranges) {
    FRINGE_RETURN_IF_ERROR(CheckRange(p + name, value.first, 0.0, value.second));
  }
  if (o.carbon_only_fraction + o.single_small_particle_fraction > 1.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "carbon_only_fraction + single_small_particle_fraction must not exceed 1 (got ",
        o.carbon_only_fraction + o.single_small_particle_fraction, ")"));
  }
  double weight_sum = 0.0;
  for (size_t i = 0; i < o.morphology_weights.size(); ++i) {
    FRINGE_RETURN_IF_ERROR(CheckRange(absl::StrCat(p, "morphology_weights[", i, "]"),
                                      o.morphology_weights[i], 0.0, 1e6));
    weight_sum += o.morphology_weights[i];
  }
  if (!(weight_sum > 0.0)) {
    return absl::InvalidArgumentError(p + "morphology_weights must not all be 0");
  }
  FRINGE_RETURN_IF_ERROR(
      CheckRange(p + "detector_model", static_cast<int>(o.detector_model), 0, 1));

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
      FRINGE_RETURN_IF_ERROR(CheckRange(q + spec.first, **value, spec.second.lo, spec.second.hi));
    }
  }
  if (ov.particle_count.has_value()) {
    FRINGE_RETURN_IF_ERROR(
        CheckRange(q + "particle_count", *ov.particle_count, 0, double(kMaxParticles)));
  }
  const double min_pixel_nm = ov.pixel_size_nm.value_or(o.pixel_size_min_nm);
  if (ov.particles.has_value()) {
    FRINGE_RETURN_IF_ERROR(CheckParticles(q + "particles", *ov.particles, o.width * min_pixel_nm,
                                          o.height * min_pixel_nm,
                                          /*need_beam_direction=*/false));
  }

  // Memory guard: the thickest film at the largest pixel size.
  const double max_pixel_a = 10.0 * ov.pixel_size_nm.value_or(o.pixel_size_max_nm);
  const double max_thickness_a = 10.0 * ov.carbon_thickness_nm.value_or(o.carbon_thickness_max_nm) *
                                 (1.0 + o.carbon_thickness_gradient_max);
  const double max_atoms = std::max(kCarbonDensityPerA3, o.carbon_density_max) * o.height *
                           max_pixel_a * o.width * max_pixel_a * max_thickness_a;
  if (max_atoms > kMaxCarbonAtoms) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "carbon_thickness_max_nm (", o.carbon_thickness_max_nm, ") is too large for a ", o.width,
        "x", o.height, " image: up to ", max_atoms, " carbon atoms (limit ", kMaxCarbonAtoms, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNuisanceParams(const SampleParams& sp) {
  const std::string p = "SampleParams.";
  if (sp.carbon_model != "random_atoms" && sp.carbon_model != "phase_field") {
    return absl::InvalidArgumentError(
        p + "carbon_model must be \"random_atoms\" or \"phase_field\" (got \"" + sp.carbon_model +
        "\")");
  }
  if (sp.detector_model != "counting" && sp.detector_model != "scintillator_ccd") {
    return absl::InvalidArgumentError(
        p + "detector_model must be \"counting\" or \"scintillator_ccd\" (got \"" +
        sp.detector_model + "\")");
  }
  if (sp.carbon_hole != "none" && sp.carbon_hole != "hole" && sp.carbon_hole != "edge") {
    return absl::InvalidArgumentError(
        p + "carbon_hole must be \"none\", \"hole\" or \"edge\" (got \"" + sp.carbon_hole + "\")");
  }
  const std::pair<const char*, std::pair<double, Bounds>> checks[] = {
      {"carbon_density_per_a3", {sp.carbon_density_per_a3, kCarbonDensityBounds}},
      {"carbon_thickness_gradient", {sp.carbon_thickness_gradient, {0.0, 0.95}}},
      {"carbon_gradient_angle_deg", {sp.carbon_gradient_angle_deg, {-1e6, 1e6}}},
      {"graphitic_fraction", {sp.graphitic_fraction, {0.0, 1.0}}},
      {"hole_center_x_nm", {sp.hole_center_x_nm, {-1e6, 1e6}}},
      {"hole_center_y_nm", {sp.hole_center_y_nm, {-1e6, 1e6}}},
      {"hole_radius_nm", {sp.hole_radius_nm, {0.0, 1e6}}},
      {"illumination_gradient", {sp.illumination_gradient, {0.0, 0.95}}},
      {"illumination_gradient_angle_deg", {sp.illumination_gradient_angle_deg, {-1e6, 1e6}}},
      {"beam_tilt_x_mrad", {sp.beam_tilt_x_mrad, {-20.0, 20.0}}},
      {"beam_tilt_y_mrad", {sp.beam_tilt_y_mrad, {-20.0, 20.0}}},
      {"a1_nm", {sp.a1_nm, {0.0, 1e3}}},
      {"a1_azimuth_deg", {sp.a1_azimuth_deg, {-1e6, 1e6}}},
      {"a2_nm", {sp.a2_nm, {0.0, 1e5}}},
      {"a2_azimuth_deg", {sp.a2_azimuth_deg, {-1e6, 1e6}}},
      {"b2_nm", {sp.b2_nm, {0.0, 1e5}}},
      {"b2_azimuth_deg", {sp.b2_azimuth_deg, {-1e6, 1e6}}},
      {"gain_nonuniformity", {sp.gain_nonuniformity, {0.0, 0.5}}},
      {"read_noise_e", {sp.read_noise_e, {0.0, 1e4}}},
      {"hot_pixel_fraction", {sp.hot_pixel_fraction, {0.0, 0.1}}},
      {"dead_pixel_fraction", {sp.dead_pixel_fraction, {0.0, 0.1}}},
      {"xray_spikes", {double(sp.xray_spikes), {0.0, 1e5}}},
      {"drift_blur_nm", {sp.drift_blur_nm, {0.0, 10.0}}},
      {"drift_angle_deg", {sp.drift_angle_deg, {-1e6, 1e6}}},
      {"ccd_psf_sigma_px", {sp.ccd_psf_sigma_px, {0.0, 100.0}}},
      {"ccd_tail_weight", {sp.ccd_tail_weight, {0.0, 1.0}}},
      {"ccd_tail_length_px", {sp.ccd_tail_length_px, {0.0, 1000.0}}},
      {"ccd_gain_shape", {sp.ccd_gain_shape, {0.0, 1e4}}},
  };
  for (const auto& [name, check] : checks) {
    FRINGE_RETURN_IF_ERROR(CheckRange(p + name, check.first, check.second.lo, check.second.hi));
  }
  if (sp.detector_model == "scintillator_ccd" && !(sp.ccd_gain_shape > 0.0)) {
    return absl::InvalidArgumentError(p + "ccd_gain_shape must be > 0 for the scintillator CCD");
  }
  if (sp.contamination.size() > 100) {
    return absl::InvalidArgumentError(p + "contamination has more than 100 patches");
  }
  for (size_t i = 0; i < sp.contamination.size(); ++i) {
    const auto& c = sp.contamination[i];
    const std::string cname = absl::StrCat(p, "contamination[", i, "].");
    FRINGE_RETURN_IF_ERROR(CheckRange(cname + "radius_nm", c.radius_nm, 0.0, 100.0));
    FRINGE_RETURN_IF_ERROR(CheckRange(cname + "thickness_nm", c.thickness_nm, 0.0, 50.0));
    FRINGE_RETURN_IF_ERROR(CheckRange(cname + "center_x_nm", c.center_x_nm, -1e6, 1e6));
    FRINGE_RETURN_IF_ERROR(CheckRange(cname + "center_y_nm", c.center_y_nm, -1e6, 1e6));
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
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "voltage_kv", sp.voltage_kv, 1.0, 5000.0));
  FRINGE_RETURN_IF_ERROR(
      CheckRange(p + "dose_e_per_a2", sp.dose_e_per_a2, kDoseBounds.lo, kDoseBounds.hi));
  FRINGE_RETURN_IF_ERROR(
      CheckRange(p + "pixel_size_nm", sp.pixel_size_nm, kPixelSizeBounds.lo, kPixelSizeBounds.hi));
  FRINGE_RETURN_IF_ERROR(
      CheckRange(p + "defocus_nm", sp.defocus_nm, kDefocusBounds.lo, kDefocusBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "cs_um", sp.cs_um, kCsBounds.lo, kCsBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "focal_spread_nm", sp.focal_spread_nm,
                                    kFocalSpreadBounds.lo, kFocalSpreadBounds.hi));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "convergence_mrad", sp.convergence_mrad,
                                    kConvergenceBounds.lo, kConvergenceBounds.hi));
  FRINGE_RETURN_IF_ERROR(
      CheckRange(p + "objective_aperture_mrad", sp.objective_aperture_mrad, 0.0, 1000.0));
  FRINGE_RETURN_IF_ERROR(CheckRange(p + "carbon_thickness_nm", sp.carbon_thickness_nm,
                                    kCarbonBounds.lo, kCarbonBounds.hi));
  if (sp.mtf50_cycles_per_px != 0.0) {
    FRINGE_RETURN_IF_ERROR(CheckRange(p + "mtf50_cycles_per_px", sp.mtf50_cycles_per_px,
                                      kMtf50Bounds.lo, kMtf50Bounds.hi));
  }
  FRINGE_RETURN_IF_ERROR(ValidateNuisanceParams(sp));
  const double atoms = sp.carbon_density_per_a3 * sp.height * sp.width *
                       std::pow(10.0 * sp.pixel_size_nm, 2) * 10.0 * sp.carbon_thickness_nm *
                       (1.0 + sp.carbon_thickness_gradient);
  if (atoms > kMaxCarbonAtoms) {
    return absl::InvalidArgumentError(absl::StrCat(p, "carbon_thickness_nm (",
                                                   sp.carbon_thickness_nm, ") needs ", atoms,
                                                   " carbon atoms (limit ", kMaxCarbonAtoms, ")"));
  }
  return CheckParticles(p + "particles", sp.particles, sp.width * sp.pixel_size_nm,
                        sp.height * sp.pixel_size_nm, /*need_beam_direction=*/true,
                        sp.particles_touch, sp.particle_out_of_frame);
}

}  // namespace internal

namespace {
nlohmann::json NuisanceJson(const SampleParams& p) {
  nlohmann::json patches = nlohmann::json::array();
  for (const auto& c : p.contamination) {
    patches.push_back({{"center_x_nm", c.center_x_nm},
                       {"center_y_nm", c.center_y_nm},
                       {"radius_nm", c.radius_nm},
                       {"thickness_nm", c.thickness_nm}});
  }
  return nlohmann::json{{"carbon_only", p.carbon_only},
                        {"single_small_particle", p.single_small_particle},
                        {"particles_touch", p.particles_touch},
                        {"particle_out_of_frame", p.particle_out_of_frame},
                        {"carbon_model", p.carbon_model},
                        {"carbon_density_per_A3", p.carbon_density_per_a3},
                        {"carbon_thickness_gradient", p.carbon_thickness_gradient},
                        {"carbon_gradient_angle_deg", p.carbon_gradient_angle_deg},
                        {"graphitic_fraction", p.graphitic_fraction},
                        {"num_graphitic_fragments", p.num_graphitic_fragments},
                        {"carbon_hole", p.carbon_hole},
                        {"hole_center_x_nm", p.hole_center_x_nm},
                        {"hole_center_y_nm", p.hole_center_y_nm},
                        {"hole_radius_nm", p.hole_radius_nm},
                        {"contamination", std::move(patches)},
                        {"illumination_gradient", p.illumination_gradient},
                        {"illumination_gradient_angle_deg", p.illumination_gradient_angle_deg},
                        {"beam_tilt_x_mrad", p.beam_tilt_x_mrad},
                        {"beam_tilt_y_mrad", p.beam_tilt_y_mrad},
                        {"a1_nm", p.a1_nm},
                        {"a1_azimuth_deg", p.a1_azimuth_deg},
                        {"a2_nm", p.a2_nm},
                        {"a2_azimuth_deg", p.a2_azimuth_deg},
                        {"b2_nm", p.b2_nm},
                        {"b2_azimuth_deg", p.b2_azimuth_deg},
                        {"detector_model", p.detector_model},
                        {"gain_nonuniformity", p.gain_nonuniformity},
                        {"read_noise_e", p.read_noise_e},
                        {"hot_pixel_fraction", p.hot_pixel_fraction},
                        {"dead_pixel_fraction", p.dead_pixel_fraction},
                        {"xray_spikes", p.xray_spikes},
                        {"drift_blur_nm", p.drift_blur_nm},
                        {"drift_angle_deg", p.drift_angle_deg},
                        {"ccd_psf_sigma_px", p.ccd_psf_sigma_px},
                        {"ccd_tail_weight", p.ccd_tail_weight},
                        {"ccd_tail_length_px", p.ccd_tail_length_px},
                        {"ccd_gain_shape", p.ccd_gain_shape}};
}
}  // namespace

nlohmann::json ParticleParams::ToJson() const {
  return nlohmann::json{{"center_x_nm", center_x_nm},           {"center_y_nm", center_y_nm},
                        {"diameter_nm", diameter_nm},           {"zone_axis", zone_axis},
                        {"beam_direction", beam_direction},     {"rotation_deg", rotation_deg},
                        {"lattice_offset", lattice_offset},     {"num_atoms", num_atoms},
                        {"footprint_pixels", footprint_pixels}, {"morphology", morphology}};
}

double SampleParams::ElectronsPerPixel() const {
  const double pixel_a = 10.0 * pixel_size_nm;
  return dose_e_per_a2 * pixel_a * pixel_a;
}

nlohmann::json SampleParams::ToJson() const {
  nlohmann::json particles_json = nlohmann::json::array();
  for (const ParticleParams& p : particles) particles_json.push_back(p.ToJson());
  nlohmann::json j{{"base_seed", base_seed},
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
  j["domain_randomization"] = NuisanceJson(*this);
  return j;
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
  j["domain_randomization"] = nlohmann::json{
      {"carbon_model", o.carbon_model == CarbonModel::kPhaseField ? "phase_field" : "random_atoms"},
      {"carbon_density_min_per_A3", o.carbon_density_min},
      {"carbon_density_max_per_A3", o.carbon_density_max},
      {"carbon_thickness_gradient_max", o.carbon_thickness_gradient_max},
      {"graphitic_fraction_max", o.graphitic_fraction_max},
      {"carbon_hole_probability", o.carbon_hole_probability},
      {"contamination_probability", o.contamination_probability},
      {"carbon_only_fraction", o.carbon_only_fraction},
      {"single_small_particle_fraction", o.single_small_particle_fraction},
      {"touching_fraction", o.touching_fraction},
      {"out_of_frame_fraction", o.out_of_frame_fraction},
      {"morphology_weights",
       {{"sphere", o.morphology_weights[0]},
        {"truncated_octahedron", o.morphology_weights[1]},
        {"decahedron", o.morphology_weights[2]},
        {"icosahedron", o.morphology_weights[3]}}},
      {"illumination_gradient_max", o.illumination_gradient_max},
      {"beam_tilt_max_mrad", o.beam_tilt_max_mrad},
      {"a1_max_nm", o.a1_max_nm},
      {"a2_max_nm", o.a2_max_nm},
      {"b2_max_nm", o.b2_max_nm},
      {"detector_model",
       o.detector_model == DetectorModel::kScintillatorCcd ? "scintillator_ccd" : "counting"},
      {"gain_nonuniformity_max", o.gain_nonuniformity_max},
      {"read_noise_max_e", o.read_noise_max_e},
      {"hot_pixel_fraction_max", o.hot_pixel_fraction_max},
      {"dead_pixel_fraction_max", o.dead_pixel_fraction_max},
      {"xray_spikes_max", o.xray_spikes_max},
      {"drift_blur_max_nm", o.drift_blur_max_nm}};
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

}  // namespace fringe::sim
