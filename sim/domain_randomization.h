// Domain randomisation for fringe-sim: the nuisance factors a segmentation model must learn to
// ignore, grouped by name, with the ranges training draws them from, and a held-out generator
// that training never uses (GitHub issue 12: a model that learned fringe-sim instead of HRTEM
// marks amorphous carbon as gold on data from any other simulator or microscope).
//
// Each factor switches on a group of SimulatorOptions fields (hrtem_simulator.h); the
// held-out-physics matrix trains with one factor left at the classic simulator's narrow values
// and tests with it on, so its cost shows as a Dice difference.
//
//   carbon        film density, thickness ramps, graphitic fragments, holes/edges, contamination
//   content       carbon-only frames, one small particle, touching and out-of-frame particles
//   morphology    truncated octahedra, decahedra, icosahedra beside spheres
//   illumination  intensity ramps, beam tilt
//   aberrations   A1, A2, B2 beside defocus and Cs
//   detector      gain non-uniformity, read noise, hot/dead pixels, x-ray spikes, drift blur
#ifndef FRINGE_SIM_DOMAIN_RANDOMIZATION_H_
#define FRINGE_SIM_DOMAIN_RANDOMIZATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/hrtem_simulator.h"

namespace fringe::sim {

// The factor names above, in that order.
const std::vector<std::string>& NuisanceFactorNames();

// `base` with every nuisance factor set to its training range, except those named in
// `without`, which keep base's values (the classic simulator's, unless base says otherwise).
// Geometry, dose, pixel size and the classic optics ranges are taken from `base` unchanged.
// InvalidArgument naming the unknown factor (and listing the known ones) otherwise.
absl::StatusOr<SimulatorOptions> RandomizedOptions(const SimulatorOptions& base,
                                                   const std::vector<std::string>& without = {});

// The held-out generator: RandomizedOptions(base) with the carbon film and the detector swapped
// for models training never uses (CarbonModel::kPhaseField, DetectorModel::kScintillatorCcd).
// For evaluation only: a model judged on it has seen neither.
SimulatorOptions HeldOutGeneratorOptions(const SimulatorOptions& base);

}  // namespace fringe::sim

#endif  // FRINGE_SIM_DOMAIN_RANDOMIZATION_H_
