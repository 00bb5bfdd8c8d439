#include "sim/specimen.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "sim/hrtem_physics.h"
#include "sim/random.h"

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

Vec3 Apply(const Mat3& m, const Vec3& v) {
  return Vec3{m[0] * v.x + m[1] * v.y + m[2] * v.z, m[3] * v.x + m[4] * v.y + m[5] * v.z,
              m[6] * v.x + m[7] * v.y + m[8] * v.z};
}

TEST(ParseZoneAxisTest, ParsesMillerIndices) {
  absl::StatusOr<Vec3> v = ParseZoneAxis("[110]");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_NEAR(v->x, 1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(v->y, 1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(v->z, 0.0, 1e-12);
  v = ParseZoneAxis("[1-12]");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_NEAR(v->y, -1.0 / std::sqrt(6.0), 1e-12);
  EXPECT_NEAR(v->z, 2.0 / std::sqrt(6.0), 1e-12);
}

TEST(ParseZoneAxisTest, RejectsMalformedAxes) {
  for (const char* bad : {"110", "[11]", "[1100]", "[000]", "[1a0]", "[-]", "", "random"}) {
    EXPECT_FALSE(ParseZoneAxis(bad).ok()) << bad;
  }
}

TEST(CrystalToLabRotationTest, BringsBeamDirectionOntoZAndIsARotation) {
  Rng rng(11);
  std::vector<Vec3> directions = {{0, 0, 1}, {0, 0, -1}, {1, 1, 0}, {1, 1, 1}, {1, 0, 0}};
  for (int i = 0; i < 20; ++i) directions.push_back(RandomUnitVector(&rng));
  for (const Vec3& d : directions) {
    for (double rotation : {0.0, 37.0, 270.0}) {
      const Mat3 m = CrystalToLabRotation(d, rotation);
      const double n = std::sqrt(d.x * d.x + d.y * d.y + d.z * d.z);
      const Vec3 z = Apply(m, Vec3{d.x / n, d.y / n, d.z / n});
      EXPECT_NEAR(z.x, 0.0, 1e-12);
      EXPECT_NEAR(z.y, 0.0, 1e-12);
      EXPECT_NEAR(z.z, 1.0, 1e-12);
      // Orthonormal with determinant +1.
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) {
          double dot = 0.0;
          for (int k = 0; k < 3; ++k) dot += m[3 * r + k] * m[3 * c + k];
          EXPECT_NEAR(dot, r == c ? 1.0 : 0.0, 1e-12);
        }
      }
      const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                         m[2] * (m[3] * m[7] - m[4] * m[6]);
      EXPECT_NEAR(det, 1.0, 1e-12);
    }
  }
}

TEST(CrystalToLabRotationTest, RotatesInPlaneCounterClockwise) {
  const Mat3 m0 = CrystalToLabRotation(Vec3{0, 0, 1}, 0.0);
  const Mat3 m90 = CrystalToLabRotation(Vec3{0, 0, 1}, 90.0);
  const Vec3 x0 = Apply(m0, Vec3{1, 0, 0});
  const Vec3 x90 = Apply(m90, Vec3{1, 0, 0});
  EXPECT_NEAR(x0.x, 1.0, 1e-12);
  EXPECT_NEAR(x90.x, 0.0, 1e-12);
  EXPECT_NEAR(x90.y, 1.0, 1e-12);
}

TEST(GoldParticleTest, LatticeSphereIsFccWithinTheCutoff) {
  const Vec2 center{50.0, 60.0};
  const double rc = 14.0;  // A
  const std::vector<Vec3> atoms =
      GoldLatticeSphereA(center, rc, CrystalToLabRotation(Vec3{1, 1, 0}, 20.0));
  double min_d2 = 1e9;
  for (size_t i = 0; i < atoms.size(); ++i) {
    const double r = std::sqrt(std::pow(atoms[i].x - center.x, 2) +
                               std::pow(atoms[i].y - center.y, 2) + atoms[i].z * atoms[i].z);
    EXPECT_LE(r, rc + 1e-9);
    for (size_t j = 0; j < i; ++j) {
      min_d2 = std::min(min_d2, std::pow(atoms[i].x - atoms[j].x, 2) +
                                    std::pow(atoms[i].y - atoms[j].y, 2) +
                                    std::pow(atoms[i].z - atoms[j].z, 2));
    }
  }
  // fcc nearest-neighbour distance a / sqrt(2) = 2.884 A; 4 atoms per a^3.
  EXPECT_NEAR(std::sqrt(min_d2), kGoldLatticeConstantA / std::sqrt(2.0), 1e-9);
  const double expected = 4.0 / std::pow(kGoldLatticeConstantA, 3) * 4.0 / 3.0 * kPi * rc * rc * rc;
  EXPECT_NEAR(double(atoms.size()) / expected, 1.0, 0.08);
}

// Number of distinct projected positions (rounded to 0.01 A).
size_t CountColumns(const std::vector<Vec3>& atoms) {
  std::set<std::pair<long, long>> columns;
  for (const Vec3& a : atoms) columns.insert({std::lround(a.x * 100), std::lround(a.y * 100)});
  return columns.size();
}

TEST(GoldParticleTest, OnZoneAtomsStackInColumnsOffZoneTheyDoNot) {
  const double diameter = 40.0;
  for (const char* axis : {"[110]", "[100]", "[111]"}) {
    const Vec3 d = *ParseZoneAxis(axis);
    const std::vector<Vec3> atoms =
        GoldParticleAtomsA(Vec2{0, 0}, diameter, CrystalToLabRotation(d, 33.0));
    // Through a 4 nm sphere columns hold 3.5 ([111]) to 6 atoms on average.
    EXPECT_GT(double(atoms.size()) / double(CountColumns(atoms)), 3.0) << axis;
  }
  const std::vector<Vec3> tilted =
      GoldParticleAtomsA(Vec2{0, 0}, diameter, CrystalToLabRotation(Vec3{0.31, 0.52, 0.79}, 0));
  EXPECT_LT(double(tilted.size()) / double(CountColumns(tilted)), 1.1);
}

TEST(ConvexHullTest, KeepsOnlyCornersCounterClockwise) {
  std::vector<Vec2> points = {{0, 0}, {4, 0}, {4, 4}, {0, 4}, {2, 2}, {1, 3}, {2, 0}, {4, 4}};
  const std::vector<Vec2> hull = ConvexHull(points);
  ASSERT_EQ(hull.size(), 4u);
  double area2 = 0.0;
  for (size_t i = 0; i < hull.size(); ++i) {
    const Vec2& a = hull[i];
    const Vec2& b = hull[(i + 1) % hull.size()];
    area2 += a.x * b.y - b.x * a.y;
  }
  EXPECT_DOUBLE_EQ(area2, 32.0);  // positive: counter-clockwise, area 16
}

TEST(RasterizeTest, SquareCoversExactlyItsPixelCentres) {
  cv::Mat labels = cv::Mat::zeros(20, 20, CV_16UC1);
  // Pixel size 2 A; square [4, 24) x [6, 16) A holds centres of columns 2..11
  // and rows 3..7: 10 x 5 pixels.
  const std::vector<Vec2> square = {{4, 6}, {23.9, 6}, {23.9, 15.9}, {4, 15.9}};
  EXPECT_EQ(RasterizeConvexPolygon(square, 2.0, 3, &labels), 50);
  EXPECT_EQ(cv::countNonZero(labels), 50);
  EXPECT_EQ(labels.at<uint16_t>(3, 2), 3);
  EXPECT_EQ(labels.at<uint16_t>(7, 11), 3);
  EXPECT_EQ(labels.at<uint16_t>(2, 2), 0);
  EXPECT_EQ(labels.at<uint16_t>(3, 12), 0);
}

TEST(RasterizeTest, ClipsAtTheImageBorder) {
  cv::Mat labels = cv::Mat::zeros(10, 10, CV_16UC1);
  const std::vector<Vec2> big = {{-50, -50}, {50, -50}, {50, 50}, {-50, 50}};
  EXPECT_EQ(RasterizeConvexPolygon(big, 1.0, 1, &labels), 100);
}

TEST(FootprintTest, ParticleFootprintHasTheAreaOfItsDiameter) {
  Rng rng(3);
  for (double diameter : {20.0, 35.0, 50.0, 70.0}) {  // A
    for (int trial = 0; trial < 3; ++trial) {
      const Vec3 beam = trial == 0 ? Vec3{1, 1, 0} : RandomUnitVector(&rng);
      const std::vector<Vec3> atoms =
          GoldParticleAtomsA(Vec2{64, 64}, diameter, CrystalToLabRotation(beam, 10.0 * trial));
      const std::vector<Vec2> polygon = FootprintPolygonA(atoms, kGoldAtomicRadiusA);
      double max_r = 0.0;
      for (const Vec2& p : polygon) max_r = std::max(max_r, std::hypot(p.x - 64, p.y - 64));
      EXPECT_LE(max_r, 0.5 * diameter + kGoldAtomicRadiusA + 1e-9);
      EXPECT_NEAR(PolygonAreaA2(polygon) / (kPi * diameter * diameter / 4), 1.0, 0.02)
          << "d = " << diameter << " A, trial " << trial;
    }
  }
}

TEST(FootprintTest, SkippingInteriorAtomsDoesNotChangeTheHull) {
  // FootprintPolygonA drops atoms far inside the rim; the hull of all
  // projected atoms must be the same polygon.
  Rng rng(4);
  for (int trial = 0; trial < 5; ++trial) {
    const std::vector<Vec3> atoms = GoldLatticeSphereA(
        Vec2{0, 0}, 20.0 + 3.0 * trial, CrystalToLabRotation(RandomUnitVector(&rng), 0.0));
    std::vector<Vec2> projected;
    for (const Vec3& a : atoms) projected.push_back(Vec2{a.x, a.y});
    const std::vector<Vec2> full = ConvexHull(projected);
    const std::vector<Vec2> fast = FootprintPolygonA(atoms, 0.0);
    ASSERT_EQ(full.size(), fast.size());
    for (size_t i = 0; i < full.size(); ++i) {
      EXPECT_EQ(full[i].x, fast[i].x);
      EXPECT_EQ(full[i].y, fast[i].y);
    }
  }
}

TEST(AmorphousCarbonTest, HasTheDensityAndMinimumSpacing) {
  Rng rng(7, RngStream::kCarbon);
  const double w = 30.0;
  const double h = 25.0;
  const double t = 20.0;
  std::vector<Vec3> atoms;
  GenerateAmorphousCarbon(w, h, t, &rng, &atoms);
  EXPECT_NEAR(double(atoms.size()), kCarbonDensityPerA3 * w * h * t, 1.0);
  double min_d2 = 1e9;
  for (size_t i = 0; i < atoms.size(); ++i) {
    ASSERT_GE(atoms[i].x, 0.0);
    ASSERT_LT(atoms[i].x, w);
    ASSERT_GE(atoms[i].y, 0.0);
    ASSERT_LT(atoms[i].y, h);
    ASSERT_GE(atoms[i].z, 0.0);
    ASSERT_LT(atoms[i].z, t);
    for (size_t j = 0; j < i; ++j) {
      double dx = std::fabs(atoms[i].x - atoms[j].x);
      double dy = std::fabs(atoms[i].y - atoms[j].y);
      dx = std::min(dx, w - dx);  // periodic in x and y
      dy = std::min(dy, h - dy);
      const double dz = atoms[i].z - atoms[j].z;
      min_d2 = std::min(min_d2, dx * dx + dy * dy + dz * dz);
    }
  }
  EXPECT_GE(std::sqrt(min_d2), kCarbonMinSpacingA);
  // Not a lattice: the closest pair is near the exclusion distance.
  EXPECT_LT(std::sqrt(min_d2), kCarbonMinSpacingA + 0.05);
}

TEST(AmorphousCarbonTest, ZeroThicknessHasNoAtomsAndSeedIsReproducible) {
  Rng rng(1);
  std::vector<Vec3> atoms = {{1, 2, 3}};
  GenerateAmorphousCarbon(20, 20, 0.0, &rng, &atoms);
  EXPECT_TRUE(atoms.empty());
  Rng a(9);
  Rng b(9);
  std::vector<Vec3> first;
  std::vector<Vec3> second;
  GenerateAmorphousCarbon(20, 20, 10, &a, &first);
  GenerateAmorphousCarbon(20, 20, 10, &b, &second);
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) ASSERT_EQ(first[i].x, second[i].x);
}

}  // namespace
}  // namespace fringe::sim
