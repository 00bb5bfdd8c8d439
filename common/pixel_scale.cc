#include "common/pixel_scale.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fringe {

ScalePlan PlanScale(cv::Size frame_size, PixelSize frame, double model_pixel_nm,
                    double max_factor) {
  ScalePlan plan;
  plan.frame_size = plan.model_size = frame_size;
  if (!(model_pixel_nm > 0.0)) return plan;  // The model does not know its scale.
  if (!frame.known()) {
    plan.decision = ScaleDecision::kUnknownPixelSize;
    plan.warning = absl::StrFormat(
        "pixel size unknown: the frame is segmented as if it were at the model's %.4g nm/px; "
        "give it (file metadata, Image.pixel_size_nm or --pixel-size-nm) for a trustworthy mask",
        model_pixel_nm);
    return plan;
  }
  plan.factor_x = frame.x_nm / model_pixel_nm;
  plan.factor_y = frame.y_nm / model_pixel_nm;
  const auto beyond = [&](double f) { return f > max_factor || f < 1.0 / max_factor; };
  if (beyond(plan.factor_x) || beyond(plan.factor_y)) {
    plan.decision = ScaleDecision::kOutOfRange;
    plan.warning = absl::StrFormat(
        "out of domain: pixel size %.4g x %.4g nm is more than %gx away from the model's %.4g "
        "nm/px; the frame is segmented as it is and the mask is unlikely to be meaningful",
        frame.x_nm, frame.y_nm, max_factor, model_pixel_nm);
    plan.factor_x = plan.factor_y = 1.0;
    return plan;
  }
  const auto near_one = [](double f) { return std::abs(f - 1.0) <= kNativeScaleTolerance; };
  if (near_one(plan.factor_x) && near_one(plan.factor_y)) {
    plan.factor_x = plan.factor_y = 1.0;
    return plan;
  }
  plan.decision = ScaleDecision::kResampled;
  plan.model_size =
      cv::Size(std::max(1, static_cast<int>(std::lround(frame_size.width * plan.factor_x))),
               std::max(1, static_cast<int>(std::lround(frame_size.height * plan.factor_y))));
  return plan;
}

namespace {

cv::Mat Resize(const cv::Mat& image, cv::Size size, int shrink, int enlarge) {
  if (image.size() == size) return image.clone();
  const bool shrink_x = size.width < image.cols, shrink_y = size.height < image.rows;
  const bool grow_x = size.width > image.cols, grow_y = size.height > image.rows;
  cv::Mat out;
  if ((shrink_x && grow_y) || (grow_x && shrink_y)) {
    // Mixed directions: one axis at a time, each with its own interpolation.
    cv::Mat tmp;
    cv::resize(image, tmp, cv::Size(size.width, image.rows), 0, 0, shrink_x ? shrink : enlarge);
    cv::resize(tmp, out, size, 0, 0, shrink_y ? shrink : enlarge);
    return out;
  }
  cv::resize(image, out, size, 0, 0, (shrink_x || shrink_y) ? shrink : enlarge);
  return out;
}

}  // namespace

cv::Mat ResampleImage(const cv::Mat& image, cv::Size size) {
  return Resize(image, size, cv::INTER_AREA, cv::INTER_CUBIC);
}

cv::Mat ResampleMap(const cv::Mat& map, cv::Size size) {
  return Resize(map, size, cv::INTER_AREA, cv::INTER_LINEAR);
}

cv::Mat ToModelScale(const cv::Mat& frame, const ScalePlan& plan) {
  return plan.resampled() ? ResampleImage(frame, plan.model_size) : frame;
}

cv::Mat ToFrameScale(const cv::Mat& map, const ScalePlan& plan) {
  return plan.resampled() ? ResampleMap(map, plan.frame_size) : map;
}

}  // namespace fringe
