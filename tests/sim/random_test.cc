#include "sim/random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

namespace fringe::sim {
namespace {

TEST(RngTest, SameSeedAndStreamGiveSameSequence) {
  Rng a(42, RngStream::kCarbon);
  Rng b(42, RngStream::kCarbon);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.NextU64(), b.NextU64());
}

TEST(RngTest, StreamsAndSeedsAreIndependent) {
  Rng base(42, RngStream::kCarbon);
  Rng other_stream(42, RngStream::kNoise);
  Rng other_seed(43, RngStream::kCarbon);
  int same_stream = 0;
  int same_seed = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = base.NextU64();
    same_stream += x == other_stream.NextU64();
    same_seed += x == other_seed.NextU64();
  }
  EXPECT_EQ(same_stream, 0);
  EXPECT_EQ(same_seed, 0);
}

TEST(RngTest, ImageSeedsAreDistinct) {
  std::set<uint64_t> seeds;
  for (uint64_t base = 0; base < 20; ++base) {
    for (uint64_t index = 0; index < 500; ++index) seeds.insert(ImageSeed(base, index));
  }
  EXPECT_EQ(seeds.size(), 20u * 500u);
  EXPECT_EQ(ImageSeed(5, 9), ImageSeed(5, 9));
}

TEST(RngTest, UniformHasUnitIntervalMoments) {
  Rng rng(1);
  constexpr int kN = 200000;
  double sum = 0.0;
  double sum2 = 0.0;
  for (int i = 0; i < kN; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum2 += u * u;
  }
  const double mean = sum / kN;
  EXPECT_NEAR(mean, 0.5, 0.003);
  EXPECT_NEAR(sum2 / kN - mean * mean, 1.0 / 12.0, 0.002);
}

TEST(RngTest, UniformIntCoversInclusiveRangeEvenly) {
  Rng rng(2);
  std::vector<int> counts(7, 0);
  constexpr int kN = 70000;
  for (int i = 0; i < kN; ++i) {
    const int64_t v = rng.UniformInt(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    ++counts[static_cast<size_t>(v + 3)];
  }
  for (int c : counts) EXPECT_NEAR(c, kN / 7, 5 * std::sqrt(kN / 7.0));
  EXPECT_EQ(rng.UniformInt(5, 5), 5);
}

TEST(RngTest, NormalHasZeroMeanUnitVariance) {
  Rng rng(3);
  constexpr int kN = 200000;
  double sum = 0.0;
  double sum2 = 0.0;
  for (int i = 0; i < kN; ++i) {
    const double x = rng.Normal();
    sum += x;
    sum2 += x * x;
  }
  EXPECT_NEAR(sum / kN, 0.0, 0.01);
  EXPECT_NEAR(sum2 / kN, 1.0, 0.015);
}

// Mean and variance of the Poisson sampler in both regimes (inversion below
// 10, PTRS above) must equal the mean.
class PoissonTest : public testing::TestWithParam<double> {};

TEST_P(PoissonTest, MeanAndVarianceEqualLambda) {
  const double lambda = GetParam();
  Rng rng(4, RngStream::kNoise);
  constexpr int kN = 200000;
  double sum = 0.0;
  double sum2 = 0.0;
  for (int i = 0; i < kN; ++i) {
    const auto k = static_cast<double>(rng.Poisson(lambda));
    ASSERT_GE(k, 0.0);
    sum += k;
    sum2 += k * k;
  }
  const double mean = sum / kN;
  const double var = sum2 / kN - mean * mean;
  EXPECT_NEAR(mean, lambda, 5.0 * std::sqrt(lambda / kN));
  // Standard error of the sample variance ~ lambda * sqrt(2 / n) (+ a
  // kurtosis term that matters only for small lambda).
  EXPECT_NEAR(var / lambda, 1.0, 0.02 + 5.0 / std::sqrt(lambda * kN));
}

INSTANTIATE_TEST_SUITE_P(Regimes, PoissonTest,
                         testing::Values(0.3, 2.0, 9.9, 10.1, 37.5, 250.0, 5000.0));

TEST(RngTest, PoissonProbabilityOfZeroIsExpMinusLambda) {
  Rng rng(5);
  constexpr int kN = 200000;
  int zeros = 0;
  for (int i = 0; i < kN; ++i) zeros += rng.Poisson(2.0) == 0;
  const double p = std::exp(-2.0);
  EXPECT_NEAR(double(zeros) / kN, p, 5.0 * std::sqrt(p * (1 - p) / kN));
  EXPECT_EQ(rng.Poisson(0.0), 0);
  EXPECT_EQ(rng.Poisson(-1.0), 0);
}

}  // namespace
}  // namespace fringe::sim
