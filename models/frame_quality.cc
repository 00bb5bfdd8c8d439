#include "models/frame_quality.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "models/lattice_band.h"

namespace fringe {
namespace {

constexpr int kMaxLatticeWindow = 2048;

double MeanEntropyBits(const std::vector<cv::Mat>& probs) {
  if (probs.size() < 2) return 0;
  const double norm = 1.0 / std::log2(static_cast<double>(probs.size()));
  double total = 0;
  const int rows = probs[0].rows, cols = probs[0].cols;
  for (int r = 0; r < rows; ++r) {
    for (const cv::Mat& p : probs) {
      const float* row = p.ptr<float>(r);
      for (int c = 0; c < cols; ++c) {
        const double v = row[c];
        if (v > 1e-12) total -= v * std::log2(v);
      }
    }
  }
  return total * norm / (static_cast<double>(rows) * cols);
}

// Mean band energy over mask == 1 divided by that over mask == 0; 0 when either is empty.
double LatticeContrast(const cv::Mat& standardised, const cv::Mat& mask, double pixel_size_nm) {
  LatticeBandOptions options;
  options.pixel_size_nm = pixel_size_nm;
  auto band = LatticeBand::Create(options);
  if (!band.ok()) return 0;  // Spacings unresolvable at this pixel size.
  cv::Rect window(0, 0, standardised.cols, standardised.rows);
  if (window.width > kMaxLatticeWindow) {
    window.x = (window.width - kMaxLatticeWindow) / 2;
    window.width = kMaxLatticeWindow;
  }
  if (window.height > kMaxLatticeWindow) {
    window.y = (window.height - kMaxLatticeWindow) / 2;
    window.height = kMaxLatticeWindow;
  }
  const cv::Mat energy = (*band)->Energy(standardised(window));
  const cv::Mat m = mask(window);
  const int inside = cv::countNonZero(m);
  const int outside = static_cast<int>(m.total()) - inside;
  if (inside == 0 || outside == 0) return 0;
  const double e_in = cv::mean(energy, m)[0];
  const double e_out = cv::mean(energy, m == 0)[0];
  return e_out > 0 ? e_in / e_out : 0;
}

}  // namespace

FrameQuality AssessFrame(const cv::Mat& standardised,
                         const std::vector<cv::Mat>& class_probabilities, const cv::Mat& mask,
                         double pixel_size_nm, const ScalePlan& scale,
                         const FrameQualityThresholds& t) {
  FrameQuality q;
  if (mask.empty()) return q;
  q.particle_fraction = static_cast<double>(cv::countNonZero(mask)) / mask.total();
  q.mean_entropy_bits = MeanEntropyBits(class_probabilities);
  if (scale.decision == ScaleDecision::kOutOfRange) {
    q.reasons.push_back(scale.warning);
  }
  if (q.particle_fraction > t.max_particle_fraction) {
    q.reasons.push_back(absl::StrFormat(
        "%.0f%% of the frame predicted as particle (in-domain frames stay below %.0f%%)",
        100 * q.particle_fraction, 100 * t.max_particle_fraction));
  }
  if (q.mean_entropy_bits > t.max_mean_entropy_bits) {
    q.reasons.push_back(absl::StrFormat(
        "mean predictive entropy %.3f bits is above %.3f: the model is unsure across the frame",
        q.mean_entropy_bits, t.max_mean_entropy_bits));
  }
  if (pixel_size_nm > 0 && q.particle_fraction >= t.lattice_min_particle_fraction) {
    try {
      q.lattice_contrast = LatticeContrast(standardised, mask, pixel_size_nm);
      q.lattice_checked = q.lattice_contrast > 0;
    } catch (const cv::Exception&) {
      q.lattice_checked = false;  // A quality signal never fails a request.
    }
    if (q.lattice_checked && q.lattice_contrast < t.min_lattice_contrast &&
        q.mean_entropy_bits > t.lattice_entropy_bits) {
      q.reasons.push_back(absl::StrFormat(
          "predicted particles carry no lattice fringes (Au lattice-band power %.2fx the "
          "background's; gold on a zone axis shows >= %.2fx) and the model is unsure (mean "
          "entropy %.3f bits)",
          q.lattice_contrast, t.min_lattice_contrast, q.mean_entropy_bits));
    }
  }
  q.out_of_domain = !q.reasons.empty();
  return q;
}

}  // namespace fringe
