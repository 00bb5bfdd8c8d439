#include "sim/domain_randomization.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe::sim {
namespace {

// Training ranges, one function per factor. Reasons for each range: sim/README.md.
void SetCarbon(SimulatorOptions& o) {
  o.carbon_density_min = 0.08;
  o.carbon_density_max = 0.13;
  o.carbon_thickness_gradient_max = 0.6;
  o.graphitic_fraction_max = 0.3;  // fragments 0.8-2 nm deep: faint 0.34 nm fringes
  o.carbon_hole_probability = 0.15;
  o.contamination_probability = 0.3;
}

void SetContent(SimulatorOptions& o) {
  o.carbon_only_fraction = 0.15;
  o.single_small_particle_fraction = 0.15;
  o.touching_fraction = 0.15;
  o.out_of_frame_fraction = 0.3;
}

void SetMorphology(SimulatorOptions& o) { o.morphology_weights = {0.4, 0.2, 0.2, 0.2}; }

void SetIllumination(SimulatorOptions& o) {
  o.illumination_gradient_max = 0.3;
  o.beam_tilt_max_mrad = 1.0;
}

void SetAberrations(SimulatorOptions& o) {
  o.a1_max_nm = 5.0;
  o.a2_max_nm = 100.0;
  o.b2_max_nm = 200.0;
}

void SetDetector(SimulatorOptions& o) {
  o.gain_nonuniformity_max = 0.05;
  o.read_noise_max_e = 2.0;
  o.hot_pixel_fraction_max = 1e-4;
  o.dead_pixel_fraction_max = 1e-4;
  o.xray_spikes_max = 5;
  o.drift_blur_max_nm = 0.1;
}

struct Factor {
  const char* name;
  void (*set)(SimulatorOptions&);
};

constexpr Factor kFactors[] = {
    {"carbon", SetCarbon},           {"content", SetContent},
    {"morphology", SetMorphology},   {"illumination", SetIllumination},
    {"aberrations", SetAberrations}, {"detector", SetDetector},
};

}  // namespace

const std::vector<std::string>& NuisanceFactorNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Factor& f : kFactors) n.emplace_back(f.name);
    return n;
  }();
  return names;
}

absl::StatusOr<SimulatorOptions> RandomizedOptions(const SimulatorOptions& base,
                                                   const std::vector<std::string>& without) {
  const std::vector<std::string>& names = NuisanceFactorNames();
  for (const std::string& w : without) {
    if (std::find(names.begin(), names.end(), w) == names.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown nuisance factor \"", w, "\"; known: ", absl::StrJoin(names, ", ")));
    }
  }
  SimulatorOptions o = base;
  for (const Factor& f : kFactors) {
    if (std::find(without.begin(), without.end(), f.name) == without.end()) f.set(o);
  }
  return o;
}

SimulatorOptions HeldOutGeneratorOptions(const SimulatorOptions& base) {
  SimulatorOptions o = *RandomizedOptions(base);
  o.carbon_model = CarbonModel::kPhaseField;
  o.detector_model = DetectorModel::kScintillatorCcd;
  return o;
}

}  // namespace fringe::sim
