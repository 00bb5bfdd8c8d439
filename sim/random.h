// Deterministic, portable random numbers for the HRTEM simulator.
//
// The standard library's engines are portable but its distributions
// (std::uniform_real_distribution, std::poisson_distribution, ...) are not:
// libstdc++ and libc++ produce different numbers from the same engine state.
// Data sets must be reproducible from (base seed, image index) on any
// toolchain, so the simulator uses this small self-contained generator
// (xoshiro256**, seeded through SplitMix64) and its own distributions.
#ifndef FRINGE_SIM_RANDOM_H_
#define FRINGE_SIM_RANDOM_H_

#include <cstdint>

namespace fringe::sim {

// Independent random streams used for one image. Each stream gets its own
// seed, so that e.g. changing the dose does not move the carbon atoms.
enum class RngStream : uint64_t {
  kParameters = 1,  // imaging parameters (dose, defocus, ...)
  kParticles = 2,   // particle count, sizes, positions, orientations
  kCarbon = 3,      // amorphous carbon atom positions
  kNoise = 4,       // shot noise
  // Domain randomisation (sim/domain_randomization.h); unused, hence untouched, when every
  // nuisance option is off, so the classic streams above never move.
  kNuisance = 5,      // per-image nuisance values (carbon, content, optics, detector settings)
  kContent = 6,       // small / out-of-frame particle sizes and positions
  kMorphology = 7,    // per-particle morphology
  kCarbonExtras = 8,  // graphitic fragments, contamination patches
  kPhaseField = 9,    // held-out phase-field carbon
  kDetector = 10,     // per-pixel detector defects and noise beyond Poisson (drawn last)
};

// One step of SplitMix64: a bijective 64-bit mixer. Returns the mixed value.
uint64_t SplitMix64(uint64_t x);

// Returns the seed of image `index` in the data set with `base_seed`. Distinct
// (base_seed, index) pairs give well-separated seeds; the mapping is stable
// across releases (it is recorded in data set manifests).
uint64_t ImageSeed(uint64_t base_seed, uint64_t index);

// xoshiro256** (Blackman & Vigna 2018) with hand-written distributions whose
// output depends only on the seed. Not thread-safe: use one per thread/image.
class Rng {
 public:
  // Seeds the generator from `seed` and `stream` (expanded with SplitMix64).
  explicit Rng(uint64_t seed, RngStream stream = RngStream::kParameters);

  // Returns 64 uniformly distributed random bits.
  uint64_t NextU64();

  // Returns a double uniformly distributed in [0, 1) with 53 random bits.
  double Uniform();

  // Returns a double uniformly distributed in [lo, hi) (lo when lo == hi).
  double Uniform(double lo, double hi);

  // Returns an integer uniformly distributed in [lo, hi] (inclusive), lo <= hi.
  int64_t UniformInt(int64_t lo, int64_t hi);

  // Returns a standard normal variate (Marsaglia polar method).
  double Normal();

  // Returns a Poisson variate with the given mean (>= 0). Sequential search
  // inversion for small means, Hormann's PTRS transformed rejection for
  // large ones; exact in both regimes. A mean <= 0 gives 0.
  int64_t Poisson(double mean);

 private:
  uint64_t s_[4];
};

}  // namespace fringe::sim

#endif  // FRINGE_SIM_RANDOM_H_
