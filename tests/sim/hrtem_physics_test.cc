#include "sim/hrtem_physics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fringe::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;
// CODATA SI constants, for independent checks of the closed forms.
constexpr double kH = 6.62607015e-34;     // J s
constexpr double kM0 = 9.1093837015e-31;  // kg
constexpr double kE = 1.602176634e-19;    // C
constexpr double kC = 299792458.0;        // m/s

double SiWavelengthA(double volts) {
  const double p = std::sqrt(2.0 * kM0 * kE * volts * (1.0 + kE * volts / (2.0 * kM0 * kC * kC)));
  return kH / p * 1e10;
}

TEST(HrtemPhysicsTest, WavelengthMatchesRelativisticFormula) {
  // DESIGN.md: 300 kV -> 1.97 pm.
  EXPECT_NEAR(ElectronWavelengthA(300.0), 0.0197, 0.00005);
  for (double kv : {80.0, 200.0, 300.0}) {
    EXPECT_NEAR(ElectronWavelengthA(kv) / SiWavelengthA(kv * 1e3), 1.0, 1e-6) << kv << " kV";
  }
}

TEST(HrtemPhysicsTest, InteractionConstantMatchesRelativisticMass) {
  // sigma = 2 pi m e lambda / h^2 with the relativistic mass m = m0 + eV/c^2.
  for (double kv : {200.0, 300.0}) {
    const double volts = kv * 1e3;
    const double m = kM0 + kE * volts / (kC * kC);
    const double sigma_si = 2.0 * kPi * m * kE * (SiWavelengthA(volts) * 1e-10) / (kH * kH);
    EXPECT_NEAR(InteractionConstant(kv) / (sigma_si * 1e-10), 1.0, 1e-6) << kv << " kV";
  }
  EXPECT_NEAR(InteractionConstant(300.0), 6.53e-4, 0.01e-4);  // rad/(V A)
}

TEST(HrtemPhysicsTest, ScatteringToPotentialConstantIsHSquaredOverTwoPiM0E) {
  EXPECT_NEAR(kScatteringToPotentialVA2 / (kH * kH / (2.0 * kPi * kM0 * kE) * 1e20), 1.0, 1e-6);
}

TEST(HrtemPhysicsTest, CtfPhaseMatchesFormulaAtSamplePoints) {
  const double lambda = ElectronWavelengthA(300.0);
  for (double k : {0.05, 0.2, 0.4246, 0.8, 1.2}) {
    for (double df_nm : {-25.0, -7.5, 0.0, 12.0, 25.0}) {
      for (double cs_um : {-20.0, 0.0, 5.0, 20.0}) {
        const double df = df_nm * 10.0;  // A
        const double cs = cs_um * 1e4;   // A
        const double expected =
            kPi * lambda * df * k * k + 0.5 * kPi * cs * std::pow(lambda, 3) * std::pow(k, 4);
        EXPECT_NEAR(CtfPhase(k, lambda, df, cs), expected, 1e-12 * (1.0 + std::fabs(expected)));
        EXPECT_NEAR(PhaseContrastTransfer(k, lambda, df, cs), -std::sin(expected), 1e-12);
      }
    }
  }
  EXPECT_EQ(CtfPhase(0.0, lambda, 100.0, 1e4), 0.0);
}

TEST(HrtemPhysicsTest, ScherzerDefocusGivesTextbookPointResolution) {
  // At Scherzer defocus df = -sqrt(4/3 Cs lambda) the transfer first crosses
  // zero at k = 1.51 Cs^(-1/4) lambda^(-3/4): checks the signs of both terms.
  const double lambda = ElectronWavelengthA(300.0);
  const double cs = 1.2e7;  // 1.2 mm in A
  const double df = -std::sqrt(4.0 / 3.0 * cs * lambda);
  const double k_zero = 1.5197 * std::pow(cs, -0.25) * std::pow(lambda, -0.75);
  EXPECT_NEAR(CtfPhase(k_zero, lambda, df, cs), 0.0, 2e-3);
  // In between, chi is negative (-sin chi > 0: positive phase contrast).
  EXPECT_LT(CtfPhase(0.7 * k_zero, lambda, df, cs), -0.5);
  EXPECT_GT(PhaseContrastTransfer(0.7 * k_zero, lambda, df, cs), 0.5);
}

TEST(HrtemPhysicsTest, TemporalEnvelopeMatchesFormula) {
  const double lambda = ElectronWavelengthA(300.0);
  for (double delta_nm : {2.0, 3.0, 4.0}) {
    const double delta = 10.0 * delta_nm;
    for (double k : {0.0, 0.3, 0.7, 1.0}) {
      const double expected = std::exp(-0.5 * std::pow(kPi * lambda * delta, 2) * std::pow(k, 4));
      EXPECT_NEAR(TemporalEnvelope(k, lambda, delta), expected, 1e-12);
    }
  }
  // Larger focal spread damps more.
  EXPECT_LT(TemporalEnvelope(0.8, lambda, 40.0), TemporalEnvelope(0.8, lambda, 20.0));
}

TEST(HrtemPhysicsTest, SpatialEnvelopeVanishesWithoutConvergenceOrAberration) {
  const double lambda = ElectronWavelengthA(300.0);
  EXPECT_DOUBLE_EQ(SpatialEnvelope(0.8, lambda, 250.0, 2e5, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(SpatialEnvelope(0.8, lambda, 0.0, 0.0, 1e-3), 1.0);
  const double k = 0.8;
  const double df = 250.0;
  const double cs = 2e5;
  const double alpha = 0.5e-3;
  const double grad = lambda * df * k + cs * std::pow(lambda, 3) * std::pow(k, 3);
  EXPECT_NEAR(SpatialEnvelope(k, lambda, df, cs, alpha),
              std::exp(-std::pow(kPi * alpha / lambda * grad, 2)), 1e-12);
  EXPECT_LT(SpatialEnvelope(k, lambda, df, cs, 1e-3), SpatialEnvelope(k, lambda, df, cs, 1e-4));
}

TEST(HrtemPhysicsTest, ScatteringFactorsScaleWithAtomicNumber) {
  // f_e(0) is the sum of the Peng a_i coefficients.
  EXPECT_NEAR(ElectronScatteringFactorA(Element::kCarbon, 0.0), 2.5088, 1e-4);
  EXPECT_NEAR(ElectronScatteringFactorA(Element::kGold, 0.0), 10.5714, 1e-4);
  double previous_c = 1e9;
  double previous_au = 1e9;
  for (double k = 0.0; k <= 4.0; k += 0.25) {
    const double c = ElectronScatteringFactorA(Element::kCarbon, k);
    const double au = ElectronScatteringFactorA(Element::kGold, k);
    EXPECT_GT(au, c) << "k = " << k;  // Z = 79 scatters more than Z = 6
    EXPECT_LT(c, previous_c);         // monotonically decreasing
    EXPECT_LT(au, previous_au);
    previous_c = c;
    previous_au = au;
  }
  EXPECT_NEAR(ProjectedPotentialFourier(Element::kGold, 0.0),
              kScatteringToPotentialVA2 * ElectronScatteringFactorA(Element::kGold, 0.0), 1e-9);
  EXPECT_LT(ProjectedPotentialFourier(Element::kGold, 1.0),
            kScatteringToPotentialVA2 * ElectronScatteringFactorA(Element::kGold, 1.0));
}

TEST(HrtemPhysicsTest, DetectorMtfIsOneAtZeroAndHalfAtMtf50) {
  EXPECT_DOUBLE_EQ(DetectorMtf(0.0, 0.3), 1.0);
  EXPECT_NEAR(DetectorMtf(0.3, 0.3), 0.5, 1e-12);
  EXPECT_LT(DetectorMtf(0.5, 0.3), DetectorMtf(0.4, 0.3));
}

}  // namespace
}  // namespace fringe::sim
