#include "sim/random.h"

#include <array>
#include <cmath>

namespace fringe::sim {
namespace {

constexpr uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// ln(k!) for k >= 0. Exact table (cumulative sums of logs) below 256, where
// PTRS evaluates it most often, and the Stirling series above, which is
// accurate to double precision there. std::lgamma is avoided because glibc's
// version writes the global `signgam`, a data race in parallel generation.
double LogFactorial(int64_t k) {
  constexpr int kTableSize = 256;
  static const std::array<double, kTableSize> kTable = [] {
    std::array<double, kTableSize> t{};
    t[0] = 0.0;
    for (int i = 1; i < kTableSize; ++i) t[i] = t[i - 1] + std::log(double(i));
    return t;
  }();
  if (k < kTableSize) return kTable[static_cast<size_t>(k)];
  const double x = double(k) + 1.0;  // ln(k!) = lgamma(k + 1)
  const double inv = 1.0 / x;
  const double inv2 = inv * inv;
  constexpr double kHalfLog2Pi = 0.91893853320467274178;
  return (x - 0.5) * std::log(x) - x + kHalfLog2Pi +
         inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0));
}

}  // namespace

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t ImageSeed(uint64_t base_seed, uint64_t index) {
  // Two rounds so that neighbouring base seeds and neighbouring indices do not
  // produce related seeds (SplitMix64 is a bijection, so distinct indices of
  // one base seed never collide).
  return SplitMix64(SplitMix64(base_seed) ^ SplitMix64(index ^ 0xD1B54A32D192ED03ULL));
}

Rng::Rng(uint64_t seed, RngStream stream) {
  uint64_t x = SplitMix64(seed) ^ SplitMix64(static_cast<uint64_t>(stream) * 0xA24BAED4963EE407ULL);
  for (uint64_t& s : s_) {
    x = SplitMix64(x);
    s = x;
  }
  // xoshiro's state must not be all zero; SplitMix64 outputs make that
  // practically impossible, but guard anyway.
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;
}

uint64_t Rng::NextU64() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Rng::Uniform() { return double(NextU64() >> 11) * 0x1.0p-53; }

double Rng::Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }

int64_t Rng::UniformInt(int64_t lo, int64_t hi) {
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range == 0) return static_cast<int64_t>(NextU64());  // full 64-bit range
  // Rejection of the top partial block makes x % range exactly uniform.
  const uint64_t threshold = (0 - range) % range;  // = 2^64 mod range
  uint64_t x = NextU64();
  while (x < threshold) x = NextU64();
  return lo + static_cast<int64_t>(x % range);
}

double Rng::Normal() {
  double u = 0.0;
  double v = 0.0;
  double s = 0.0;
  do {
    u = 2.0 * Uniform() - 1.0;
    v = 2.0 * Uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  // Only one of the pair is used so that the stream position does not depend
  // on call history (no cached second variate).
  return u * std::sqrt(-2.0 * std::log(s) / s);
}

int64_t Rng::Poisson(double mean) {
  if (!(mean > 0.0)) return 0;
  if (mean < 10.0) {
    // Inversion by sequential search: one uniform, O(mean) steps.
    const double u = Uniform();
    double p = std::exp(-mean);
    double cdf = p;
    int64_t k = 0;
    while (u > cdf && k < 1000) {  // the cap only guards against rounding
      ++k;
      p *= mean / double(k);
      cdf += p;
    }
    return k;
  }
  // PTRS: W. Hormann, "The transformed rejection method for generating
  // Poisson random variables", Insurance: Math. & Econ. 12 (1993) 39-45.
  const double slam = std::sqrt(mean);
  const double loglam = std::log(mean);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  while (true) {
    const double u = Uniform() - 0.5;
    const double v = Uniform();
    const double us = 0.5 - std::fabs(u);
    if (us <= 0.0) continue;  // u == -0.5 exactly: the transform is singular
    const auto k = static_cast<int64_t>(std::floor((2.0 * a / us + b) * u + mean + 0.43));
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -mean + double(k) * loglam - LogFactorial(k)) {
      return k;
    }
  }
}

}  // namespace fringe::sim
