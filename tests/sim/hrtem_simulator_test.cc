#include "sim/hrtem_simulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sim/hrtem_physics.h"

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::unique_ptr<HrtemSimulator> MakeSimulator(const SimulatorOptions& options) {
  absl::StatusOr<std::unique_ptr<HrtemSimulator>> sim = HrtemSimulator::Create(options);
  EXPECT_TRUE(sim.ok()) << sim.status();
  return sim.ok() ? std::move(*sim) : nullptr;
}

bool SameBytes(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && a.isContinuous() && b.isContinuous() &&
         std::memcmp(a.data, b.data, a.total() * a.elemSize()) == 0;
}

ParticleParams Particle(double x_nm, double y_nm, double diameter_nm, const std::string& axis,
                        double rotation_deg = 0.0) {
  ParticleParams p;
  p.center_x_nm = x_nm;
  p.center_y_nm = y_nm;
  p.diameter_nm = diameter_nm;
  p.zone_axis = axis;
  p.rotation_deg = rotation_deg;
  return p;
}

// Noiseless, carbon-free image of one 6 nm particle in the middle of a
// 512 x 512, 0.025 nm/pixel field, imaged at the defocus where the weak-phase
// transfer -sin(chi) is maximal at spatial frequency k_target (Cs = 0).
SimulatorOptions LatticeOptions(const std::string& axis, double k_target) {
  SimulatorOptions o;
  o.height = o.width = 512;
  o.shot_noise = false;
  const double lambda = ElectronWavelengthA(o.voltage_kv);
  o.overrides.pixel_size_nm = 0.025;
  o.overrides.carbon_thickness_nm = 0.0;
  o.overrides.cs_um = 0.0;
  o.overrides.defocus_nm = -1.0 / (2.0 * lambda * k_target * k_target) / 10.0;  // chi = -pi/2
  o.overrides.focal_spread_nm = 3.0;
  o.overrides.particles = {{Particle(6.4, 6.4, 6.0, axis, 17.0)}};
  return o;
}

// Returns the spatial frequency (1/A) of the strongest Fourier peak of
// `image` with k in [k_lo, k_hi], refined to sub-pixel by parabolic fits of
// the log power along both axes.
double StrongestPeakFrequency(const cv::Mat& image, double pixel_a, double k_lo, double k_hi) {
  cv::Mat f;
  image.convertTo(f, CV_32F);
  f -= cv::mean(f)[0];
  cv::Mat spectrum;
  cv::dft(f, spectrum, cv::DFT_COMPLEX_OUTPUT);
  const int h = f.rows;
  const int w = f.cols;
  cv::Mat power(h, w, CV_64F);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const cv::Vec2f c = spectrum.at<cv::Vec2f>(i, j);
      power.at<double>(i, j) = double(c[0]) * c[0] + double(c[1]) * c[1] + 1e-30;
    }
  }
  const auto signed_index = [](int i, int n) { return i <= n / 2 ? i : i - n; };
  double best = -1.0;
  int bi = 0;
  int bj = 0;
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const double k =
          std::hypot(signed_index(i, h) / (h * pixel_a), signed_index(j, w) / (w * pixel_a));
      if (k < k_lo || k > k_hi) continue;
      if (power.at<double>(i, j) > best) {
        best = power.at<double>(i, j);
        bi = i;
        bj = j;
      }
    }
  }
  const auto log_power = [&](int i, int j) {
    return std::log(power.at<double>((i + h) % h, (j + w) % w));
  };
  const auto vertex = [](double m, double c, double p) {
    const double denom = m - 2.0 * c + p;
    return denom < 0.0 ? 0.5 * (m - p) / denom : 0.0;
  };
  const double di = vertex(log_power(bi - 1, bj), log_power(bi, bj), log_power(bi + 1, bj));
  const double dj = vertex(log_power(bi, bj - 1), log_power(bi, bj), log_power(bi, bj + 1));
  return std::hypot((signed_index(bi, h) + di) / (h * pixel_a),
                    (signed_index(bj, w) + dj) / (w * pixel_a));
}

TEST(HrtemSimulatorTest, OnZone110ParticleShows111Fringes) {
  const double k111 = std::sqrt(3.0) / kGoldLatticeConstantA;  // 1 / 0.2355 nm
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(LatticeOptions("[110]", k111));
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(1, 0);
  ASSERT_EQ(s.params.particles.size(), 1u);
  // The band excludes {200} (k = 1.155 k111) and its tails.
  const double k = StrongestPeakFrequency(s.image, 0.25, 0.9 * k111, 1.08 * k111);
  EXPECT_NEAR(1.0 / k, 2.355, 0.02 * 2.355) << "d = " << 1.0 / k << " A";
}

TEST(HrtemSimulatorTest, OnZone100ParticleShows200FringesNot111) {
  // Down [100] the {111} planes are not edge-on, so the strongest peak in a
  // band containing both spacings must be {200} at 0.204 nm.
  const double k200 = 2.0 / kGoldLatticeConstantA;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(LatticeOptions("[100]", k200));
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(1, 0);
  const double k = StrongestPeakFrequency(s.image, 0.25, 0.38, 0.55);
  EXPECT_NEAR(1.0 / k, 2.039, 0.02 * 2.039) << "d = " << 1.0 / k << " A";
}

SimulatorOptions VacuumOptions(double dose) {
  SimulatorOptions o;
  o.height = o.width = 256;
  o.overrides.pixel_size_nm = 0.025;
  o.overrides.carbon_thickness_nm = 0.0;
  o.overrides.particle_count = 0;
  o.overrides.dose_e_per_a2 = dose;
  return o;
}

TEST(HrtemSimulatorTest, ShotNoiseVarianceFollowsDose) {
  double variance[2];
  const double doses[2] = {100.0, 800.0};
  for (int d = 0; d < 2; ++d) {
    std::unique_ptr<HrtemSimulator> sim = MakeSimulator(VacuumOptions(doses[d]));
    ASSERT_NE(sim, nullptr);
    const Sample s = sim->Generate(3, 0);
    cv::Scalar mean;
    cv::Scalar stddev;
    cv::meanStdDev(s.image, mean, stddev);
    const double expected = doses[d] * 0.25 * 0.25;  // e/A^2 * (0.25 A)^2 per pixel
    EXPECT_DOUBLE_EQ(s.params.ElectronsPerPixel(), expected);
    EXPECT_NEAR(mean[0] / expected, 1.0, 0.01) << "dose " << doses[d];
    variance[d] = stddev[0] * stddev[0];
    EXPECT_NEAR(variance[d] / mean[0], 1.0, 0.04) << "Poisson: variance = mean";
    // Counts are whole numbers.
    EXPECT_EQ(s.image.at<float>(17, 23), std::round(s.image.at<float>(17, 23)));
  }
  EXPECT_NEAR(variance[1] / variance[0], 8.0, 0.08 * 8.0);
}

TEST(HrtemSimulatorTest, NoiselessVacuumIsTheIncidentBeam) {
  SimulatorOptions o = VacuumOptions(200.0);
  o.shot_noise = false;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(3, 0);
  double lo = 0.0;
  double hi = 0.0;
  cv::minMaxLoc(s.image, &lo, &hi);
  EXPECT_NEAR(lo, s.params.ElectronsPerPixel(), 1e-3);
  EXPECT_NEAR(hi, s.params.ElectronsPerPixel(), 1e-3);
}

TEST(HrtemSimulatorTest, MaskAreaMatchesParticleDiameter) {
  for (const char* axis : {"[110]", "[100]", "[111]", "random"}) {
    for (double diameter : {3.0, 5.0}) {
      SimulatorOptions o;
      o.height = o.width = 256;
      o.overrides.pixel_size_nm = 0.025;  // 6.4 nm field
      o.overrides.carbon_thickness_nm = 0.0;
      o.overrides.particles = {{Particle(3.2, 3.1, diameter, axis, 40.0)}};
      std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
      ASSERT_NE(sim, nullptr);
      const Sample s = sim->Generate(5, 2);
      const double area_nm2 = cv::countNonZero(s.mask) * 0.025 * 0.025;
      EXPECT_NEAR(area_nm2 / (kPi * diameter * diameter / 4.0), 1.0, 0.03)
          << axis << " d = " << diameter;
      EXPECT_EQ(s.params.particles[0].footprint_pixels, cv::countNonZero(s.mask));
      // The footprint is centred on the requested position.
      const cv::Moments m = cv::moments(s.mask, true);
      EXPECT_NEAR(m.m10 / m.m00 + 0.5, 3.2 / 0.025, 2.0);
      EXPECT_NEAR(m.m01 / m.m00 + 0.5, 3.1 / 0.025, 2.0);
    }
  }
}

TEST(HrtemSimulatorTest, ParticlesNeverOverlap) {
  SimulatorOptions o;
  o.height = o.width = 256;
  o.particles_min = o.particles_max = 5;
  o.diameter_min_nm = 1.2;
  o.diameter_max_nm = 2.5;
  o.pixel_size_min_nm = o.pixel_size_max_nm = 0.025;
  o.overrides.carbon_thickness_nm = 0.0;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  int placed = 0;
  for (uint64_t index = 0; index < 12; ++index) {
    const SampleParams params = sim->DrawParams(11, index);
    absl::StatusOr<Sample> s = sim->Render(params);
    ASSERT_TRUE(s.ok()) << s.status();
    const size_t n = s->params.particles.size();
    ASSERT_GE(n, 1u);
    ASSERT_LE(n, 5u);
    placed += static_cast<int>(n);
    // Footprints are disjoint (their pixel counts add up to the mask) and
    // separated (each is its own 8-connected component).
    int64_t sum = 0;
    for (const ParticleParams& p : s->params.particles) sum += p.footprint_pixels;
    EXPECT_EQ(sum, cv::countNonZero(s->mask)) << "index " << index;
    cv::Mat components;
    EXPECT_EQ(cv::connectedComponents(s->mask, components, 8), static_cast<int>(n) + 1)
        << "index " << index;
  }
  EXPECT_GT(placed, 12 * 3);  // most particles fit at these sizes
}

TEST(HrtemSimulatorTest, FewerParticlesWhenTheyDoNotFit) {
  SimulatorOptions o;
  o.height = o.width = 64;  // 1.28-1.6 nm field: no 2 nm particle fits
  o.overrides.carbon_thickness_nm = 1.0;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(1, 0);
  EXPECT_TRUE(s.params.particles.empty());
  EXPECT_EQ(cv::countNonZero(s.mask), 0);
}

TEST(HrtemSimulatorTest, SameSeedIsByteIdenticalOtherSeedsDiffer) {
  SimulatorOptions o;
  o.height = o.width = 128;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  std::unique_ptr<HrtemSimulator> twin = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  ASSERT_NE(twin, nullptr);
  const Sample a = sim->Generate(7, 3);
  const Sample b = twin->Generate(7, 3);
  EXPECT_TRUE(SameBytes(a.image, b.image));
  EXPECT_TRUE(SameBytes(a.mask, b.mask));
  EXPECT_EQ(a.params.ToJson(), b.params.ToJson());
  const Sample other_index = sim->Generate(7, 4);
  const Sample other_seed = sim->Generate(8, 3);
  EXPECT_FALSE(SameBytes(a.image, other_index.image));
  EXPECT_FALSE(SameBytes(a.image, other_seed.image));
  EXPECT_NE(a.params.seed, other_seed.params.seed);
}

TEST(HrtemSimulatorTest, ParallelGenerationMatchesSerial) {
  SimulatorOptions o;
  o.height = o.width = 96;
  o.pixel_size_min_nm = o.pixel_size_max_nm = 0.025;
  o.diameter_min_nm = 1.0;
  o.diameter_max_nm = 1.8;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  constexpr int kCount = 8;
  std::vector<Sample> serial;
  for (int i = 0; i < kCount; ++i) serial.push_back(sim->Generate(21, i));
  std::vector<Sample> parallel(kCount);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    // Reverse order on one thread, so timing and order both differ.
    threads.emplace_back([&, t] {
      for (int k = 0; k < kCount / 2; ++k) {
        const int i = t == 0 ? 2 * k : kCount - 1 - 2 * k;
        parallel[static_cast<size_t>(i)] = sim->Generate(21, static_cast<uint64_t>(i));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kCount; ++i) {
    EXPECT_TRUE(SameBytes(serial[i].image, parallel[i].image)) << i;
    EXPECT_TRUE(SameBytes(serial[i].mask, parallel[i].mask)) << i;
  }
}

TEST(HrtemSimulatorTest, ProjectedPotentialIntegratesToAtomicPotentials) {
  // The k = 0 component of the potential is the sum of the atoms' integrated
  // potentials: checks the per-area and FFT normalisations.
  SimulatorOptions o;
  o.height = 128;
  o.width = 160;
  o.keep_intermediates = true;
  o.overrides.particles = {{Particle(1.6, 1.28, 2.0, "[111]")}};
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(2, 1);
  ASSERT_GT(s.params.num_carbon_atoms, 0);
  ASSERT_GT(s.params.particles[0].num_atoms, 0);
  const double pixel_a = 10.0 * s.params.pixel_size_nm;
  const double integral = cv::sum(s.potential)[0] * pixel_a * pixel_a;  // V A^3
  const double expected =
      double(s.params.num_carbon_atoms) * ProjectedPotentialFourier(Element::kCarbon, 0.0) +
      double(s.params.particles[0].num_atoms) * ProjectedPotentialFourier(Element::kGold, 0.0);
  EXPECT_NEAR(integral / expected, 1.0, 1e-3);
  // The potential is strongest on the gold particle.
  double max_value = 0.0;
  cv::Point max_at;
  cv::minMaxLoc(s.potential, nullptr, &max_value, nullptr, &max_at);
  EXPECT_EQ(s.mask.at<uint8_t>(max_at), 1);
}

TEST(HrtemSimulatorTest, NonSquareImageKeepsXAndYApart) {
  // The particle's potential and its mask must sit where it was requested:
  // x along columns, y along rows (swapping them would move it 48 pixels).
  SimulatorOptions o;
  o.height = 96;
  o.width = 160;
  o.keep_intermediates = true;
  o.overrides.pixel_size_nm = 0.025;
  o.overrides.carbon_thickness_nm = 0.0;
  o.overrides.particles = {{Particle(2.4, 1.2, 1.8, "[110]")}};
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(6, 0);
  const double expected_col = 2.4 / 0.025 - 0.5;  // pixel centres at (j + 0.5) p
  const double expected_row = 1.2 / 0.025 - 0.5;
  // A small cluster of discrete atoms is off-centre by up to ~1 A (4 px).
  const cv::Moments mask_moments = cv::moments(s.mask, true);
  EXPECT_NEAR(mask_moments.m10 / mask_moments.m00, expected_col, 4.0);
  EXPECT_NEAR(mask_moments.m01 / mask_moments.m00, expected_row, 4.0);
  const cv::Moments potential_moments = cv::moments(s.potential, false);
  EXPECT_NEAR(potential_moments.m10 / potential_moments.m00, expected_col, 4.0);
  EXPECT_NEAR(potential_moments.m01 / potential_moments.m00, expected_row, 4.0);
  // Nearly all of the (gold-only) potential lies on the mask.
  cv::Mat on_mask;
  s.potential.copyTo(on_mask, s.mask);
  EXPECT_GT(cv::sum(on_mask)[0] / cv::sum(s.potential)[0], 0.95);
}

TEST(HrtemSimulatorTest, WorksAtManySizes) {
  for (const cv::Size size :
       {cv::Size(64, 64), cv::Size(128, 128), cv::Size(160, 96), cv::Size(97, 131)}) {
    SimulatorOptions o;
    o.width = size.width;
    o.height = size.height;
    o.diameter_min_nm = 1.0;
    o.diameter_max_nm = 2.0;
    std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
    ASSERT_NE(sim, nullptr);
    const Sample s = sim->Generate(4, 0);
    EXPECT_EQ(s.image.size(), size);
    EXPECT_EQ(s.mask.size(), size);
    EXPECT_EQ(s.image.type(), CV_32FC1);
    EXPECT_EQ(s.mask.type(), CV_8UC1);
    EXPECT_TRUE(cv::checkRange(s.image));
    // Scattering outside the aperture removes some intensity, never adds.
    const double mean = cv::mean(s.image)[0];
    EXPECT_GT(mean, 0.5 * s.params.ElectronsPerPixel()) << size;
    EXPECT_LT(mean, 1.1 * s.params.ElectronsPerPixel()) << size;
  }
}

TEST(HrtemSimulatorTest, OverridingOneValueLeavesTheOthersUnchanged) {
  SimulatorOptions o;
  o.height = o.width = 64;
  std::unique_ptr<HrtemSimulator> free_sim = MakeSimulator(o);
  o.overrides.defocus_nm = 3.0;
  std::unique_ptr<HrtemSimulator> forced_sim = MakeSimulator(o);
  ASSERT_NE(free_sim, nullptr);
  ASSERT_NE(forced_sim, nullptr);
  for (uint64_t i = 0; i < 5; ++i) {
    const SampleParams a = free_sim->DrawParams(9, i);
    const SampleParams b = forced_sim->DrawParams(9, i);
    EXPECT_EQ(b.defocus_nm, 3.0);
    EXPECT_NE(a.defocus_nm, 3.0);
    EXPECT_EQ(a.dose_e_per_a2, b.dose_e_per_a2);
    EXPECT_EQ(a.cs_um, b.cs_um);
    EXPECT_EQ(a.pixel_size_nm, b.pixel_size_nm);
    EXPECT_GE(a.dose_e_per_a2, 30.0);
    EXPECT_LE(a.dose_e_per_a2, 1000.0);
    EXPECT_GE(a.defocus_nm, -25.0);
    EXPECT_LE(a.defocus_nm, 25.0);
  }
}

struct InvalidCase {
  const char* name;
  void (*mutate)(SimulatorOptions*);
  const char* expected;  // substring of the error message
};

TEST(HrtemSimulatorTest, InvalidOptionsAreRejectedNamingTheOption) {
  const InvalidCase cases[] = {
      {"negative dose", [](SimulatorOptions* o) { o->dose_min = -1; }, "dose_min"},
      {"min above max", [](SimulatorOptions* o) { o->dose_min = 2000; }, "dose_min"},
      {"zero height", [](SimulatorOptions* o) { o->height = 0; }, "height"},
      {"huge width", [](SimulatorOptions* o) { o->width = 100000; }, "width"},
      {"nan pixel", [](SimulatorOptions* o) { o->pixel_size_max_nm = std::nan(""); },
       "pixel_size_max_nm"},
      {"defocus order",
       [](SimulatorOptions* o) {
         o->defocus_min_nm = 10;
         o->defocus_max_nm = -10;
       },
       "defocus_min_nm"},
      {"particles", [](SimulatorOptions* o) { o->particles_min = -1; }, "particles_min"},
      {"zone axis",
       [](SimulatorOptions* o) {
         o->zone_axes = {"[110]", "[11]"};
       },
       "zone_axes[1]"},
      {"fraction", [](SimulatorOptions* o) { o->on_zone_fraction = 1.5; }, "on_zone_fraction"},
      {"focal spread", [](SimulatorOptions* o) { o->focal_spread_min_nm = -2; },
       "focal_spread_min_nm"},
      {"aperture", [](SimulatorOptions* o) { o->objective_aperture_mrad = -1; },
       "objective_aperture_mrad"},
      {"carbon", [](SimulatorOptions* o) { o->carbon_thickness_max_nm = 1e6; },
       "carbon_thickness_max_nm"},
      {"forced dose", [](SimulatorOptions* o) { o->overrides.dose_e_per_a2 = 0.0; },
       "overrides.dose_e_per_a2"},
      {"forced outside",
       [](SimulatorOptions* o) { o->overrides.particles = {{Particle(0.5, 5, 3, "[110]")}}; },
       "overrides.particles[0]"},
      {"forced overlap",
       [](SimulatorOptions* o) {
         o->overrides.particles = {{Particle(4, 5, 3, "[110]"), Particle(6, 5, 3, "[100]")}};
       },
       "overrides.particles[1]"},
      {"forced axis",
       [](SimulatorOptions* o) { o->overrides.particles = {{Particle(5, 5, 3, "[1x0]")}}; },
       "overrides.particles[0].zone_axis"},
  };
  for (const InvalidCase& c : cases) {
    SimulatorOptions o;
    c.mutate(&o);
    absl::StatusOr<std::unique_ptr<HrtemSimulator>> sim = HrtemSimulator::Create(o);
    ASSERT_FALSE(sim.ok()) << c.name;
    EXPECT_EQ(sim.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(std::string(sim.status().message()).find(c.expected), std::string::npos)
        << c.name << ": " << sim.status().message();
  }
  EXPECT_TRUE(HrtemSimulator::Create(SimulatorOptions{}).ok());
}

TEST(HrtemSimulatorTest, RenderRejectsInconsistentParams) {
  SimulatorOptions o;
  o.height = o.width = 64;
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  SampleParams p = sim->DrawParams(1, 1);
  ASSERT_TRUE(sim->Render(p).ok());
  p.width = 65;
  absl::StatusOr<Sample> s = sim->Render(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("width"), std::string::npos);
  p = sim->DrawParams(1, 1);
  p.pixel_size_nm = -0.02;
  s = sim->Render(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("pixel_size_nm"), std::string::npos);
}

TEST(HrtemSimulatorTest, ParamsJsonCarriesUnitsInKeys) {
  SimulatorOptions o;
  o.height = o.width = 64;
  o.overrides.particles = {{Particle(0.64, 0.64, 0.9, "[110]")}};
  std::unique_ptr<HrtemSimulator> sim = MakeSimulator(o);
  ASSERT_NE(sim, nullptr);
  const Sample s = sim->Generate(1, 2);
  const nlohmann::json j = s.params.ToJson();
  EXPECT_EQ(j.at("index"), 2);
  EXPECT_EQ(j.at("seed"), s.params.seed);
  EXPECT_DOUBLE_EQ(j.at("defocus_nm").get<double>(), s.params.defocus_nm);
  ASSERT_EQ(j.at("particles").size(), 1u);
  EXPECT_EQ(j.at("particles")[0].at("zone_axis"), "[110]");
  EXPECT_GT(j.at("particles")[0].at("num_atoms").get<int>(), 0);
}

}  // namespace
}  // namespace fringe::sim
