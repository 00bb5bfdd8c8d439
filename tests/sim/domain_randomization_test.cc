// Domain randomisation (GitHub issue 12): every nuisance knob does what it says, scenes are the
// same at any pixel size, the held-out generator differs from training, and randomised
// generation stays deterministic.
#include "sim/domain_randomization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sim/dataset_writer.h"
#include "sim/hrtem_physics.h"
#include "sim/hrtem_simulator.h"
#include "sim/specimen.h"

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::unique_ptr<HrtemSimulator> Make(const SimulatorOptions& o) {
  absl::StatusOr<std::unique_ptr<HrtemSimulator>> sim = HrtemSimulator::Create(o);
  EXPECT_TRUE(sim.ok()) << sim.status();
  return sim.ok() ? std::move(*sim) : nullptr;
}

Sample RenderOk(const HrtemSimulator& sim, const SampleParams& p) {
  absl::StatusOr<Sample> s = sim.Render(p);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : Sample{};
}

// A small, particle-free, noiseless field for knob tests.
SimulatorOptions Plain(int size = 128) {
  SimulatorOptions o;
  o.height = o.width = size;
  o.particles_min = o.particles_max = 0;
  o.shot_noise = false;
  o.keep_intermediates = true;
  o.overrides.pixel_size_nm = 0.025;
  o.overrides.carbon_thickness_nm = 4.0;
  o.overrides.defocus_nm = -10.0;
  o.overrides.cs_um = 0.0;
  return o;
}

// Power of `image` (mean removed) in the annulus k_lo..k_hi (cycles/pixel), restricted to
// directions within `half_angle` of `angle` (rad, folded to half the circle) if half_angle < pi.
double BandPower(const cv::Mat& image, double k_lo, double k_hi, double angle = 0.0,
                 double half_angle = kPi) {
  cv::Mat f;
  image.convertTo(f, CV_32F);
  f -= cv::mean(f)[0];
  cv::Mat spec;
  cv::dft(f, spec, cv::DFT_COMPLEX_OUTPUT);
  const int h = f.rows;
  const int w = f.cols;
  double sum = 0.0;
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const double fy = (i <= h / 2 ? i : i - h) / double(h);
      const double fx = (j <= w / 2 ? j : j - w) / double(w);
      const double k = std::hypot(fx, fy);
      if (k < k_lo || k > k_hi) continue;
      if (half_angle < kPi) {
        double d = std::fmod(std::atan2(fy, fx) - angle + 4.0 * kPi, kPi);
        d = std::min(d, kPi - d);
        if (d > half_angle) continue;
      }
      const cv::Vec2f c = spec.at<cv::Vec2f>(i, j);
      sum += double(c[0]) * c[0] + double(c[1]) * c[1];
    }
  }
  return sum;
}

TEST(DomainRandomizationTest, DefaultsDrawNothing) {
  auto sim = Make(SimulatorOptions{});
  const SampleParams p = sim->DrawParams(3, 4);
  EXPECT_FALSE(p.carbon_only || p.single_small_particle || p.particles_touch ||
               p.particle_out_of_frame);
  EXPECT_EQ(p.carbon_model, "random_atoms");
  EXPECT_EQ(p.detector_model, "counting");
  EXPECT_EQ(p.carbon_density_per_a3, 0.11);
  EXPECT_EQ(p.carbon_hole, "none");
  EXPECT_TRUE(p.contamination.empty());
  EXPECT_EQ(p.a1_nm + p.a2_nm + p.b2_nm + p.beam_tilt_x_mrad + p.beam_tilt_y_mrad, 0.0);
  EXPECT_EQ(p.xray_spikes, 0);
  for (const ParticleParams& q : p.particles) EXPECT_EQ(q.morphology, "sphere");
}

TEST(DomainRandomizationTest, RandomizedOptionsRejectsAnUnknownFactorNamingIt) {
  absl::StatusOr<SimulatorOptions> o = RandomizedOptions(SimulatorOptions{}, {"carbon", "dust"});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("dust"), std::string::npos);
  EXPECT_NE(o.status().message().find("aberrations"), std::string::npos);
  absl::StatusOr<SimulatorOptions> without = RandomizedOptions(SimulatorOptions{}, {"detector"});
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->xray_spikes_max, 0);
  EXPECT_GT(without->graphitic_fraction_max, 0.0);
}

TEST(DomainRandomizationTest, HeldOutGeneratorDiffersFromTraining) {
  const SimulatorOptions train = *RandomizedOptions(SimulatorOptions{});
  const SimulatorOptions held = HeldOutGeneratorOptions(SimulatorOptions{});
  EXPECT_EQ(train.carbon_model, CarbonModel::kRandomAtoms);
  EXPECT_EQ(train.detector_model, DetectorModel::kCounting);
  EXPECT_EQ(held.carbon_model, CarbonModel::kPhaseField);
  EXPECT_EQ(held.detector_model, DetectorModel::kScintillatorCcd);
  SimulatorOptions small = held;
  small.height = small.width = 96;
  auto sim = Make(small);
  const Sample s = sim->Generate(5, 0);
  EXPECT_EQ(s.params.carbon_model, "phase_field");
  EXPECT_EQ(s.params.detector_model, "scintillator_ccd");
  const double mean = cv::mean(s.image)[0];
  EXPECT_TRUE(std::isfinite(mean));
  EXPECT_GT(mean, 0.3 * s.params.ElectronsPerPixel());
  EXPECT_LT(mean, 3.0 * s.params.ElectronsPerPixel());
}

TEST(DomainRandomizationTest, PhaseFieldCarbonHasNoAtomsButCarbonLikeContrast) {
  SimulatorOptions o = Plain(128);
  o.carbon_model = CarbonModel::kPhaseField;
  auto phase = Make(o);
  auto atoms = Make(Plain(128));
  const Sample a = phase->Generate(2, 0);
  const Sample b = atoms->Generate(2, 0);
  EXPECT_EQ(a.params.num_carbon_atoms, 0);
  cv::Scalar ma, sa, mb, sb;
  cv::meanStdDev(a.potential, ma, sa);
  cv::meanStdDev(b.potential, mb, sb);
  // Same mean projected potential (same atoms per area) and a comparable roughness.
  EXPECT_NEAR(ma[0], mb[0], 0.1 * mb[0]);
  EXPECT_GT(sa[0], 0.3 * sb[0]);
  EXPECT_LT(sa[0], 3.0 * sb[0]);
}

TEST(DomainRandomizationTest, CarbonOnlyFramesHaveEmptyMasks) {
  SimulatorOptions o;
  o.height = o.width = 64;
  o.overrides.pixel_size_nm = 0.1;
  o.carbon_only_fraction = 1.0;
  auto sim = Make(o);
  for (uint64_t i = 0; i < 3; ++i) {
    const Sample s = sim->Generate(1, i);
    EXPECT_TRUE(s.params.carbon_only);
    EXPECT_TRUE(s.params.particles.empty());
    EXPECT_EQ(cv::countNonZero(s.mask), 0);
  }
}

TEST(DomainRandomizationTest, SingleSmallParticleFramesHaveOneSmallParticle) {
  SimulatorOptions o;
  o.height = o.width = 128;
  o.overrides.pixel_size_nm = 0.05;
  o.single_small_particle_fraction = 1.0;
  auto sim = Make(o);
  for (uint64_t i = 0; i < 3; ++i) {
    const SampleParams p = sim->DrawParams(1, i);
    ASSERT_EQ(p.particles.size(), 1u);
    EXPECT_GE(p.particles[0].diameter_nm, 1.5);
    EXPECT_LE(p.particles[0].diameter_nm, 3.0);
  }
}

TEST(DomainRandomizationTest, TouchingParticlesMergeMasksAndLaterLabelsWin) {
  SimulatorOptions o;
  o.height = o.width = 256;
  o.overrides.pixel_size_nm = 0.05;
  o.particles_min = o.particles_max = 4;
  o.touching_fraction = 1.0;
  auto sim = Make(o);
  int touching_pairs = 0;
  for (uint64_t i = 0; i < 3; ++i) {
    const Sample s = sim->Generate(9, i);
    ASSERT_TRUE(s.params.particles_touch);
    const auto& ps = s.params.particles;
    for (size_t a = 0; a < ps.size(); ++a) {
      for (size_t b = a + 1; b < ps.size(); ++b) {
        const double d = std::hypot(ps[a].center_x_nm - ps[b].center_x_nm,
                                    ps[a].center_y_nm - ps[b].center_y_nm);
        if (d < 0.5 * (ps[a].diameter_nm + ps[b].diameter_nm) + 0.05) ++touching_pairs;
      }
    }
    // Connected components of the mask are fewer than particles when any touch.
    cv::Mat labels;
    const int components = cv::connectedComponents(s.mask, labels, 4) - 1;
    EXPECT_LE(components, static_cast<int>(ps.size()));
  }
  EXPECT_GT(touching_pairs, 0);
}

TEST(DomainRandomizationTest, OutOfFrameParticleIsCutByTheEdgeAndDoesNotWrap) {
  SimulatorOptions o;
  o.height = o.width = 128;
  o.overrides.pixel_size_nm = 0.05;
  o.particles_min = o.particles_max = 0;
  o.out_of_frame_fraction = 1.0;
  o.overrides.carbon_thickness_nm = 0.0;
  o.shot_noise = false;
  o.keep_intermediates = true;
  auto sim = Make(o);
  const Sample s = sim->Generate(4, 0);
  ASSERT_TRUE(s.params.particle_out_of_frame);
  ASSERT_EQ(s.params.particles.size(), 1u);
  const ParticleParams& p = s.params.particles[0];
  const double full = kPi * 0.25 * p.diameter_nm * p.diameter_nm / (0.05 * 0.05);
  EXPECT_LT(double(p.footprint_pixels), 0.97 * full);
  EXPECT_GT(p.footprint_pixels, 0);
  // No potential on the far side of the field (no wrap-around of atoms).
  const int w = o.width;
  const bool left = p.center_x_nm<1.0, right = p.center_x_nm> w * 0.05 - 1.0;
  const bool top = p.center_y_nm < 1.0;
  cv::Rect far;
  // The strip 2-10 pixels from the opposite edge (bilinear deposition of an atom within half a
  // pixel of the edge and the atom's own potential reach one pixel across the periodic cell).
  if (left)
    far = cv::Rect(w - 10, 0, 8, w);
  else if (right)
    far = cv::Rect(2, 0, 8, w);
  else if (top)
    far = cv::Rect(0, w - 10, w, 8);
  else
    far = cv::Rect(0, 2, w, 8);
  double lo, hi, peak;
  cv::minMaxLoc(s.potential(far), &lo, &hi);
  cv::minMaxLoc(s.potential, &lo, &peak);
  // Wrapped atoms would put whole gold columns there; only band-limit ringing is left.
  EXPECT_LT(hi, 0.2 * peak);
}

TEST(DomainRandomizationTest, HoleRegionIsNearVacuum) {
  SimulatorOptions o = Plain(128);
  o.carbon_hole_probability = 1.0;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(6, 0);
  p.carbon_hole = "hole";
  p.hole_center_x_nm = 0.3 * 128 * 0.025;
  p.hole_center_y_nm = 0.5 * 128 * 0.025;
  p.hole_radius_nm = 0.8;
  const Sample s = RenderOk(*sim, p);
  const double px = 0.025;
  double in_sum = 0, in_sq = 0, out_sum = 0, out_sq = 0;
  int in_n = 0, out_n = 0;
  for (int i = 0; i < 128; ++i) {
    for (int j = 0; j < 128; ++j) {
      const double d =
          std::hypot((j + 0.5) * px - p.hole_center_x_nm, (i + 0.5) * px - p.hole_center_y_nm);
      const double v = s.intensity.at<float>(i, j);
      if (d < 0.5 * p.hole_radius_nm) {
        in_sum += v, in_sq += v * v, ++in_n;
      } else if (d > 1.5 * p.hole_radius_nm) {
        out_sum += v, out_sq += v * v, ++out_n;
      }
    }
  }
  const double in_var = in_sq / in_n - std::pow(in_sum / in_n, 2);
  const double out_var = out_sq / out_n - std::pow(out_sum / out_n, 2);
  EXPECT_LT(in_var, 0.1 * out_var);
}

TEST(DomainRandomizationTest, GraphiticFragmentsRaisePowerAtTheirFringeSpacing) {
  SimulatorOptions o = Plain(256);
  o.overrides.pixel_size_nm = 0.02;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(8, 0);
  const Sample plain = RenderOk(*sim, p);
  p.graphitic_fraction = 0.5;
  const Sample graphitic = RenderOk(*sim, p);
  EXPECT_GT(graphitic.params.num_graphitic_fragments, 0);
  // 1/0.335 nm at 0.02 nm/px is 0.0597 cycles/px; Au {111} (0.235 nm) is 0.085.
  const double band =
      BandPower(graphitic.potential, 0.055, 0.065) / BandPower(plain.potential, 0.055, 0.065);
  EXPECT_GT(band, 1.5);
}

TEST(DomainRandomizationTest, ContaminationAndThicknessRampAddCarbonWhereTheySay) {
  SimulatorOptions o = Plain(128);
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(8, 1);
  const Sample plain = RenderOk(*sim, p);
  SampleParams q = p;
  q.contamination.push_back({1.6, 1.6, 1.2, 4.0});
  const Sample dirty = RenderOk(*sim, q);
  EXPECT_GT(dirty.params.num_carbon_atoms, plain.params.num_carbon_atoms);
  const cv::Rect centre(56, 56, 16, 16), corner(0, 0, 16, 16);
  EXPECT_GT(cv::mean(dirty.potential(centre))[0] - cv::mean(plain.potential(centre))[0], 5.0);
  EXPECT_NEAR(cv::mean(dirty.potential(corner))[0], cv::mean(plain.potential(corner))[0], 1.0);
  SampleParams r = p;
  r.carbon_thickness_gradient = 0.8;
  r.carbon_gradient_angle_deg = 0.0;  // thicker towards +x
  const Sample ramp = RenderOk(*sim, r);
  EXPECT_GT(cv::mean(ramp.potential(cv::Rect(96, 0, 32, 128)))[0],
            1.5 * cv::mean(ramp.potential(cv::Rect(0, 0, 32, 128)))[0]);
}

TEST(DomainRandomizationTest, A1MakesThePowerSpectrumAnisotropic) {
  SimulatorOptions o = Plain(128);
  o.overrides.defocus_nm = 0.0;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(3, 0);
  const auto ratio = [&](const Sample& s) {
    return BandPower(s.intensity, 0.08, 0.2, 0.0, 0.3) /
           BandPower(s.intensity, 0.08, 0.2, kPi / 4, 0.3);
  };
  const double off = ratio(RenderOk(*sim, p));
  p.a1_nm = 10.0;
  p.a1_azimuth_deg = 0.0;
  const double on = ratio(RenderOk(*sim, p));
  p.a1_azimuth_deg = 45.0;
  const double turned = ratio(RenderOk(*sim, p));
  EXPECT_GT(off, 0.67);
  EXPECT_LT(off, 1.5);
  EXPECT_GT(on, 1.8);
  EXPECT_LT(turned, 1.0 / 1.8);
}

TEST(DomainRandomizationTest, AberrationPhaseMatchesTheClassicCtfAndTheStatedTerms) {
  const double lambda = ElectronWavelengthA(300.0);
  Aberrations ab;
  ab.c1_a = -200.0;
  ab.c3_a = 1e4;
  EXPECT_NEAR(AberrationPhase(0.3, 0.4, lambda, ab), CtfPhase(0.5, lambda, -200.0, 1e4), 1e-9);
  Aberrations a2;
  a2.a2_a = 500.0;
  a2.a2_azimuth_rad = 0.2;
  const double k = 0.4, t = 0.7;
  EXPECT_NEAR(AberrationPhase(k * std::cos(t), k * std::sin(t), lambda, a2),
              2.0 * kPi / 3.0 * lambda * lambda * 500.0 * k * k * k * std::cos(3 * (t - 0.2)),
              1e-9);
  Aberrations b2;
  b2.b2_a = 800.0;
  b2.b2_azimuth_rad = -0.4;
  EXPECT_NEAR(AberrationPhase(k * std::cos(t), k * std::sin(t), lambda, b2),
              2.0 * kPi * lambda * lambda * 800.0 * k * k * k * std::cos(t + 0.4), 1e-9);
  // Tilt: no constant and no linear term.
  Aberrations tilt = ab;
  tilt.tilt_x_rad = 5e-3;
  EXPECT_NEAR(AberrationPhase(0.0, 0.0, lambda, tilt), 0.0, 1e-9);
  EXPECT_GT(
      std::fabs(AberrationPhase(0.3, 0.0, lambda, tilt) - AberrationPhase(0.3, 0.0, lambda, ab)),
      1e-3);
}

TEST(DomainRandomizationTest, DriftBlurLowersHighFrequencyPowerAlongTheDrift) {
  SimulatorOptions o = Plain(128);
  o.overrides.mtf50_cycles_per_px = 0.4;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(3, 2);
  const auto ratio = [&](const Sample& s) {
    return BandPower(s.intensity, 0.1, 0.3, 0.0, 0.4) /
           BandPower(s.intensity, 0.1, 0.3, kPi / 2, 0.4);
  };
  const double off = ratio(RenderOk(*sim, p));
  p.drift_blur_nm = 0.1;  // 4 pixels along x
  p.drift_angle_deg = 0.0;
  const double on = ratio(RenderOk(*sim, p));
  EXPECT_LT(on, 0.5 * off);
}

TEST(DomainRandomizationTest, IlluminationRampTiltsTheMeanIntensity) {
  SimulatorOptions o = Plain(128);
  o.overrides.carbon_thickness_nm = 0.0;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(3, 3);
  p.illumination_gradient = 0.3;
  p.illumination_gradient_angle_deg = 90.0;  // brighter towards the bottom rows
  const Sample s = RenderOk(*sim, p);
  EXPECT_NEAR(cv::mean(s.intensity(cv::Rect(0, 120, 128, 8)))[0], 1.28, 0.03);
  EXPECT_NEAR(cv::mean(s.intensity(cv::Rect(0, 0, 128, 8)))[0], 0.72, 0.03);
}

TEST(DomainRandomizationTest, XraySpikesAreIsolatedExtremePixelsOfTheDrawnCount) {
  SimulatorOptions o = Plain(128);
  o.shot_noise = true;
  o.overrides.dose_e_per_a2 = 200.0;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(3, 4);
  p.xray_spikes = 7;
  const Sample s = RenderOk(*sim, p);
  const double mean = p.ElectronsPerPixel();
  int extreme = 0;
  for (int i = 0; i < 128; ++i) {
    for (int j = 0; j < 128; ++j) {
      if (s.image.at<float>(i, j) < 9.9 * mean) continue;
      ++extreme;
      for (int di = -1; di <= 1; ++di) {
        for (int dj = -1; dj <= 1; ++dj) {
          if ((di || dj) && i + di >= 0 && i + di < 128 && j + dj >= 0 && j + dj < 128) {
            EXPECT_LT(s.image.at<float>(i + di, j + dj), 5.0 * mean);
          }
        }
      }
    }
  }
  EXPECT_EQ(extreme, 7);
}

TEST(DomainRandomizationTest, DeadPixelsAreZeroHotPixelsBrightGainAndReadNoiseAddVariance) {
  SimulatorOptions o = Plain(128);
  o.shot_noise = true;
  o.overrides.dose_e_per_a2 = 500.0;
  o.overrides.carbon_thickness_nm = 0.0;
  auto sim = Make(o);
  SampleParams p = sim->DrawParams(3, 5);
  const Sample clean = RenderOk(*sim, p);
  EXPECT_EQ(cv::countNonZero(clean.image == 0), 0);
  p.dead_pixel_fraction = 0.01;
  p.hot_pixel_fraction = 0.005;
  const Sample bad = RenderOk(*sim, p);
  const int zeros = cv::countNonZero(bad.image == 0);
  EXPECT_GE(zeros, 140);  // 164 drawn, a few may repeat
  EXPECT_LE(zeros, 164);
  EXPECT_GE(cv::countNonZero(bad.image > 4.0 * p.ElectronsPerPixel()), 60);
  p.dead_pixel_fraction = p.hot_pixel_fraction = 0.0;
  p.gain_nonuniformity = 0.1;
  p.read_noise_e = 5.0;
  cv::Scalar m0, s0, m1, s1;
  cv::meanStdDev(clean.image, m0, s0);
  cv::meanStdDev(RenderOk(*sim, p).image, m1, s1);
  const double mean = p.ElectronsPerPixel();  // 31 e/px in vacuum
  const double expected = std::sqrt(mean + 0.01 * mean * mean + 25.0);
  EXPECT_NEAR(s1[0], expected, 0.1 * expected);
  EXPECT_NEAR(s0[0], std::sqrt(mean), 0.1 * std::sqrt(mean));
}

// Every atom on an fcc site of its segment's lattice; footprint area near pi d^2 / 4.
TEST(DomainRandomizationTest, MorphologiesSitOnTwinnedFccLatticesWithTheRightFootprint) {
  const double a = kGoldLatticeConstantA;
  for (Morphology m :
       {Morphology::kTruncatedOctahedron, Morphology::kDecahedron, Morphology::kIcosahedron}) {
    for (double d : {25.0, 50.0}) {
      std::vector<int> segments;
      std::vector<Mat3> rotations;
      const Mat3 to_lab = CrystalToLabRotation(Vec3{0.3, 0.2, 1.0}, 31.0);
      const Vec2 c{100.0, 100.0};
      const Vec3 offset = m == Morphology::kTruncatedOctahedron ? Vec3{0.1, 0.2, 0.3} : Vec3{};
      const std::vector<Vec3> atoms =
          ParticleAtomsA(m, c, d, to_lab, offset, &segments, &rotations);
      ASSERT_EQ(atoms.size(), segments.size());
      ASSERT_GT(atoms.size(), 50u);
      std::set<int> used(segments.begin(), segments.end());
      const size_t expected_segments =
          m == Morphology::kDecahedron ? 5u : (m == Morphology::kIcosahedron ? 20u : 1u);
      EXPECT_EQ(used.size(), expected_segments) << MorphologyName(m) << " d=" << d;
      EXPECT_EQ(rotations.size(), expected_segments);
      for (size_t i = 0; i < atoms.size(); ++i) {
        // particle = to_lab^T (atom - centre); crystal = R_s^T particle - offset * a.
        const Vec3 r{atoms[i].x - c.x, atoms[i].y - c.y, atoms[i].z};
        const Mat3& L = to_lab;
        const Vec3 q{L[0] * r.x + L[3] * r.y + L[6] * r.z, L[1] * r.x + L[4] * r.y + L[7] * r.z,
                     L[2] * r.x + L[5] * r.y + L[8] * r.z};
        const Mat3& R = rotations[static_cast<size_t>(segments[i])];
        double u[3] = {R[0] * q.x + R[3] * q.y + R[6] * q.z, R[1] * q.x + R[4] * q.y + R[7] * q.z,
                       R[2] * q.x + R[5] * q.y + R[8] * q.z};
        const double off[3] = {offset.x, offset.y, offset.z};
        int parity = 0;
        for (int k = 0; k < 3; ++k) {
          const double v = (u[k] - a * off[k]) / (0.5 * a);
          ASSERT_NEAR(v, std::round(v), 1e-6) << MorphologyName(m);
          parity += static_cast<int>(std::lround(v));
        }
        ASSERT_EQ(parity & 1, 0);
        ASSERT_LE(std::sqrt(r.x * r.x + r.y * r.y + r.z * r.z),
                  MorphologyReach(m) * 0.5 * d + 1e-6);
      }
      // No two atoms closer than a twin boundary allows.
      double min_d2 = 1e30;
      for (size_t i = 0; i < atoms.size(); i += 7) {
        for (size_t j = 0; j < atoms.size(); ++j) {
          if (i == j) continue;
          const double dx = atoms[i].x - atoms[j].x, dy = atoms[i].y - atoms[j].y,
                       dz = atoms[i].z - atoms[j].z;
          min_d2 = std::min(min_d2, dx * dx + dy * dy + dz * dz);
        }
      }
      EXPECT_GT(std::sqrt(min_d2), 1.5) << MorphologyName(m);
      const double area =
          std::fabs(PolygonAreaA2(FootprintPolygonExactA(atoms, kGoldAtomicRadiusA)));
      EXPECT_NEAR(area, kPi * d * d / 4.0, 0.15 * kPi * d * d / 4.0) << MorphologyName(m);
    }
  }
}

TEST(DomainRandomizationTest, MorphologiesAreDrawnRecordedAndRendered) {
  SimulatorOptions o;
  o.height = o.width = 128;
  o.overrides.pixel_size_nm = 0.08;
  o.particles_min = o.particles_max = 4;
  o.diameter_max_nm = 4.0;
  o.morphology_weights = {0.0, 1.0, 1.0, 1.0};
  auto sim = Make(o);
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 6; ++i) {
    const Sample s = sim->Generate(2, i);
    for (const ParticleParams& p : s.params.particles) {
      seen.insert(p.morphology);
      EXPECT_NE(p.morphology, "sphere");
      EXPECT_GT(p.num_atoms, 0);
      const double expected = kPi * 0.25 * p.diameter_nm * p.diameter_nm / (0.08 * 0.08);
      EXPECT_NEAR(double(p.footprint_pixels), expected, 0.2 * expected);
    }
    if (!s.params.particles.empty()) {
      EXPECT_EQ(s.params.ToJson()["particles"][0]["morphology"], s.params.particles[0].morphology);
    }
  }
  EXPECT_EQ(seen.size(), 3u);
}

// The same scene at half the pixel size over the same field of view (nm).
TEST(DomainRandomizationTest, SceneIsTheSameAtAnotherPixelSize) {
  SimulatorOptions base;
  SimulatorOptions fine = *RandomizedOptions(base);
  fine.height = fine.width = 512;
  fine.overrides.pixel_size_nm = 0.02;
  SimulatorOptions coarse = fine;
  coarse.height = coarse.width = 256;
  coarse.overrides.pixel_size_nm = 0.04;
  auto a = Make(fine);
  auto b = Make(coarse);
  for (uint64_t index : {0u, 1u}) {
    const Sample s = a->Generate(11, index);
    const Sample t = b->Generate(11, index);
    const SampleParams& p = s.params;
    const SampleParams& q = t.params;
    ASSERT_EQ(p.particles.size(), q.particles.size());
    for (size_t i = 0; i < p.particles.size(); ++i) {
      EXPECT_EQ(p.particles[i].center_x_nm, q.particles[i].center_x_nm);
      EXPECT_EQ(p.particles[i].center_y_nm, q.particles[i].center_y_nm);
      EXPECT_EQ(p.particles[i].diameter_nm, q.particles[i].diameter_nm);
      EXPECT_EQ(p.particles[i].morphology, q.particles[i].morphology);
      EXPECT_EQ(p.particles[i].num_atoms, q.particles[i].num_atoms);
    }
    EXPECT_EQ(p.num_carbon_atoms, q.num_carbon_atoms);
    EXPECT_EQ(p.num_graphitic_fragments, q.num_graphitic_fragments);
    EXPECT_EQ(p.carbon_hole, q.carbon_hole);
    EXPECT_EQ(p.hole_center_x_nm, q.hole_center_x_nm);
    EXPECT_EQ(p.hole_radius_nm, q.hole_radius_nm);
    EXPECT_EQ(p.contamination.size(), q.contamination.size());
    EXPECT_EQ(p.carbon_thickness_gradient, q.carbon_thickness_gradient);
    EXPECT_EQ(p.drift_blur_nm, q.drift_blur_nm);
    cv::Mat m;
    s.mask.convertTo(m, CV_32F);
    cv::resize(m, m, cv::Size(256, 256), 0, 0, cv::INTER_AREA);
    const cv::Mat down = m >= 0.5;
    const cv::Mat ref = t.mask > 0;
    const double inter = cv::countNonZero(down & ref);
    const double total = cv::countNonZero(down) + cv::countNonZero(ref);
    if (total > 0) {
      EXPECT_GE(2.0 * inter / total, 0.95) << "index " << index;
    }
  }
}

TEST(DomainRandomizationTest, RandomizedGenerationIsDeterministicOnAnyThreadCount) {
  SimulatorOptions o = *RandomizedOptions(SimulatorOptions{});
  o.height = o.width = 96;
  o.overrides.pixel_size_nm = 0.05;
  auto sim = Make(o);
  std::vector<Sample> serial;
  for (uint64_t i = 0; i < 4; ++i) serial.push_back(sim->Generate(21, i));
  std::vector<Sample> parallel(4);
  std::vector<std::thread> threads;
  for (uint64_t i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { parallel[i] = sim->Generate(21, i); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(
        std::memcmp(serial[i].image.data, parallel[i].image.data, serial[i].image.total() * 4), 0);
    EXPECT_EQ(std::memcmp(serial[i].mask.data, parallel[i].mask.data, serial[i].mask.total()), 0);
    EXPECT_EQ(serial[i].params.ToJson(), parallel[i].params.ToJson());
  }
}

TEST(DomainRandomizationTest, InvalidNuisanceOptionsAndParamsAreRejectedNamingTheField) {
  SimulatorOptions o;
  o.carbon_hole_probability = 2.0;
  absl::StatusOr<std::unique_ptr<HrtemSimulator>> sim = HrtemSimulator::Create(o);
  ASSERT_FALSE(sim.ok());
  EXPECT_NE(sim.status().message().find(
                "SimulatorOptions.carbon_hole_probability must be in [0, 1] (got 2)"),
            std::string::npos)
      << sim.status();
  o = SimulatorOptions{};
  o.morphology_weights = {0, 0, 0, 0};
  EXPECT_FALSE(HrtemSimulator::Create(o).ok());
  o = SimulatorOptions{};
  o.carbon_density_min = 0.2;
  o.carbon_density_max = 0.1;
  EXPECT_FALSE(HrtemSimulator::Create(o).ok());
  o = SimulatorOptions{};
  o.height = o.width = 64;
  auto ok = Make(o);
  SampleParams p = ok->DrawParams(1, 1);
  p.xray_spikes = -1;
  absl::StatusOr<Sample> r = ok->Render(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("SampleParams.xray_spikes"), std::string::npos);
  p = ok->DrawParams(1, 1);
  p.detector_model = "film";
  EXPECT_FALSE(ok->Render(p).ok());
}

}  // namespace
}  // namespace fringe::sim
