// Internal to sim/: the option and parameter checks and particle geometry shared by
// simulator_options.cc (validation) and hrtem_simulator.cc (drawing and rendering). Not part
// of the simulator's API; use HrtemSimulator::Create and Render, which run these checks.
#ifndef FRINGE_SIM_SIMULATOR_VALIDATION_H_
#define FRINGE_SIM_SIMULATOR_VALIDATION_H_

#include <cstddef>

#include "absl/status/status.h"
#include "sim/hrtem_simulator.h"
#include "sim/specimen.h"

namespace fringe::sim::internal {

// Upper bound on carbon atoms per image, to reject option sets that would need gigabytes
// (e.g. 8192^2 pixels with a thick film).
inline constexpr double kMaxCarbonAtoms = 5e7;
// Upper bound on particles per image (instance labels are 16-bit).
inline constexpr size_t kMaxParticles = 1000;

// Radius (nm) a particle may reach: a sphere's, or a polyhedron's beyond its equal-area
// radius; used for placement, so footprints never touch.
double OuterRadiusNm(double diameter_nm);
double OuterRadiusNm(double diameter_nm, Morphology morphology);
Morphology MorphologyOf(const ParticleParams& p);

// INVALID_ARGUMENT naming the first bad option / parameter.
absl::Status ValidateOptions(const SimulatorOptions& o);
absl::Status ValidateParams(const SampleParams& sp, const SimulatorOptions& o);

}  // namespace fringe::sim::internal

#endif  // FRINGE_SIM_SIMULATOR_VALIDATION_H_
