#include "analysis/deletion_curve.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fringe::analysis {
namespace {

// splitmix64: small, portable and good enough to shuffle patch orders.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int PatchesAt(int k, int steps, int n) {
  return static_cast<int>(std::lround(static_cast<double>(k) * n / steps));
}

}  // namespace

int PatchCount(cv::Size size, int patch) {
  if (patch <= 0 || size.width <= 0 || size.height <= 0) return 0;
  return ((size.width + patch - 1) / patch) * ((size.height + patch - 1) / patch);
}

cv::Rect PatchRect(cv::Size size, int patch, int index) {
  const int cols = (size.width + patch - 1) / patch;
  const cv::Rect r((index % cols) * patch, (index / cols) * patch, patch, patch);
  return r & cv::Rect(0, 0, size.width, size.height);
}

std::vector<int> OrderPatchesByRelevance(const cv::Mat& relevance, int patch) {
  const int n = PatchCount(relevance.size(), patch);
  cv::Mat r;
  relevance.convertTo(r, CV_64F);
  r.setTo(0, r != r);
  std::vector<double> sums(n, 0.0);
  for (int i = 0; i < n; ++i) sums[i] = cv::sum(r(PatchRect(r.size(), patch, i)))[0];
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return sums[a] > sums[b]; });
  return order;
}

std::vector<int> RandomPatchOrder(int count, uint64_t seed) {
  std::vector<int> order(std::max(0, count));
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = seed;
  for (int i = count - 1; i > 0; --i) {
    const int j = static_cast<int>(SplitMix64(state) % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

double TrapezoidAuc(const std::vector<double>& x, const std::vector<double>& y) {
  double area = 0;
  for (size_t i = 1; i < std::min(x.size(), y.size()); ++i) {
    area += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
  }
  return area;
}

absl::StatusOr<DeletionInsertion> RunDeletionInsertion(
    const cv::Mat& frame, const cv::Mat& reference, const std::vector<int>& order,
    const PixelFlippingOptions& options, const FrameScorer& scorer, cv::Rect region,
    const double* full_score, const double* reference_score) {
  if (frame.empty() || frame.type() != CV_32FC1 || reference.size() != frame.size() ||
      reference.type() != CV_32FC1) {
    return absl::InvalidArgumentError(
        "pixel flipping needs a CV_32F frame and a reference of the same size");
  }
  if (options.patch < 1 || options.steps < 1 || options.batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("patch (", options.patch, "), steps (",
                                                   options.steps, ") and batch (", options.batch,
                                                   ") must be >= 1"));
  }
  if (region.empty()) region = cv::Rect(0, 0, frame.cols, frame.rows);
  if ((region & cv::Rect(0, 0, frame.cols, frame.rows)) != region) {
    return absl::InvalidArgumentError("the perturbed region must lie inside the frame");
  }
  const int n = PatchCount(region.size(), options.patch);
  {
    std::vector<char> seen(n, 0);
    bool permutation = static_cast<int>(order.size()) == n;
    for (const int i : order) {
      if (!permutation) break;
      if (i < 0 || i >= n || seen[i]) permutation = false;
      if (permutation) seen[i] = 1;
    }
    if (!permutation) {
      return absl::InvalidArgumentError(
          absl::StrCat("the patch order must be a permutation of the ", n, " patches; it has ",
                       order.size(), " entries"));
    }
  }
  auto rect = [&](int index) {
    return PatchRect(region.size(), options.patch, index) + region.tl();
  };

  // Frames for steps 1..steps-1 of both curves, built incrementally: step k's frame is step
  // k-1's with the next patches replaced.
  std::vector<cv::Mat> frames;
  std::vector<int> which;  // 0 = deletion, 1 = insertion; with the step in `steps_of`.
  std::vector<int> steps_of;
  for (int curve = 0; curve < 2; ++curve) {
    cv::Mat current = (curve == 0 ? frame : reference).clone();
    const cv::Mat& source = curve == 0 ? reference : frame;
    int done = 0;
    for (int k = 1; k < options.steps; ++k) {
      const int upto = PatchesAt(k, options.steps, n);
      for (; done < upto; ++done) source(rect(order[done])).copyTo(current(rect(order[done])));
      frames.push_back(current.clone());
      which.push_back(curve);
      steps_of.push_back(k);
    }
  }
  std::vector<double> scores;
  scores.reserve(frames.size() + 2);
  std::vector<cv::Mat> batch;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    FRINGE_ASSIGN_OR_RETURN(std::vector<double> s, scorer(batch));
    if (s.size() != batch.size()) {
      return absl::InternalError(
          absl::StrCat("the scorer returned ", s.size(), " scores for ", batch.size(), " frames"));
    }
    scores.insert(scores.end(), s.begin(), s.end());
    batch.clear();
    return absl::OkStatus();
  };
  double full = 0, ref = 0;
  if (full_score == nullptr || reference_score == nullptr) {
    batch = {frame, reference};
    FRINGE_RETURN_IF_ERROR(flush());
    full = scores[0];
    ref = scores[1];
    scores.clear();
  }
  if (full_score != nullptr) full = *full_score;
  if (reference_score != nullptr) ref = *reference_score;
  if (!(std::abs(full - ref) > 1e-12 * std::max(1.0, std::abs(full))) || full == 0) {
    return absl::InvalidArgumentError(absl::StrCat("the frame scores ", full, " and the reference ",
                                                   ref, ": the curves cannot be normalised"));
  }
  for (const cv::Mat& f : frames) {
    batch.push_back(f);
    if (static_cast<int>(batch.size()) == options.batch) FRINGE_RETURN_IF_ERROR(flush());
  }
  FRINGE_RETURN_IF_ERROR(flush());

  DeletionInsertion out;
  out.full_score = full;
  out.reference_score = ref;
  for (int curve = 0; curve < 2; ++curve) {
    PerturbationCurve& c = curve == 0 ? out.deletion : out.insertion;
    c.fraction.assign(options.steps + 1, 0.0);
    c.score.assign(options.steps + 1, 0.0);
    for (int k = 0; k <= options.steps; ++k) c.fraction[k] = static_cast<double>(k) / options.steps;
    c.score.front() = curve == 0 ? full : ref;
    c.score.back() = curve == 0 ? ref : full;
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    PerturbationCurve& c = which[i] == 0 ? out.deletion : out.insertion;
    c.score[steps_of[i]] = scores[i];
  }
  for (PerturbationCurve* c : {&out.deletion, &out.insertion}) {
    c->normalised.resize(c->score.size());
    c->relative.resize(c->score.size());
    for (size_t k = 0; k < c->score.size(); ++k) {
      c->normalised[k] = (c->score[k] - ref) / (full - ref);
      c->relative[k] = c->score[k] / full;
    }
    c->auc = TrapezoidAuc(c->fraction, c->normalised);
    c->relative_auc = TrapezoidAuc(c->fraction, c->relative);
  }
  return out;
}

PerturbationCurve MeanCurve(const std::vector<PerturbationCurve>& curves) {
  PerturbationCurve out;
  if (curves.empty()) return out;
  out.fraction = curves[0].fraction;
  const size_t n = out.fraction.size();
  out.score.assign(n, 0.0);
  out.normalised.assign(n, 0.0);
  out.relative.assign(n, 0.0);
  for (const PerturbationCurve& c : curves) {
    for (size_t k = 0; k < n && k < c.score.size(); ++k) {
      out.score[k] += c.score[k] / curves.size();
      out.normalised[k] += c.normalised[k] / curves.size();
      if (k < c.relative.size()) out.relative[k] += c.relative[k] / curves.size();
    }
  }
  out.auc = TrapezoidAuc(out.fraction, out.normalised);
  out.relative_auc = TrapezoidAuc(out.fraction, out.relative);
  return out;
}

}  // namespace fringe::analysis
