#include "models/frame_preparation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/spike_filter.h"

namespace fringe {

PixelSize PixelSizeOf(const v1::Image& image) {
  const auto valid = [](double v) { return std::isfinite(v) && v > 0 ? v : 0.0; };
  PixelSize p;
  p.x_nm = valid(image.pixel_size_nm());
  p.y_nm = image.pixel_size_y_nm() != 0 ? valid(image.pixel_size_y_nm()) : p.x_nm;
  if (!p.known()) p = PixelSize{};
  return p;
}

PreparedFrame PrepareFrame(const cv::Mat& frame, PixelSize pixel, double model_pixel_nm,
                           bool remove_spikes) {
  PreparedFrame out;
  cv::Mat clean = frame.clone();
  if (remove_spikes) out.spikes_removed = RemoveSpikes(&clean);
  out.scale = PlanScale(clean.size(), pixel, model_pixel_nm);
  out.frame = ToModelScale(clean, out.scale);
  out.pixel_size_nm = model_pixel_nm > 0 ? model_pixel_nm : 0;
  if (out.scale.decision == ScaleDecision::kOutOfRange) {
    // Served as is: the frame's own pixel size is what the network sees.
    out.pixel_size_nm = pixel.x_nm;
  }
  if (!out.scale.warning.empty()) out.warnings.push_back(out.scale.warning);
  return out;
}

absl::Status CheckModelScaleSize(const ScalePlan& plan, int64_t max_pixels) {
  const int64_t pixels = static_cast<int64_t>(plan.model_size.width) * plan.model_size.height;
  if (!plan.resampled() || pixels <= max_pixels) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "image: a ", plan.frame_size.width, "x", plan.frame_size.height,
      " frame at the model's pixel size is ", plan.model_size.width, "x", plan.model_size.height,
      " pixels, above the limit of ", max_pixels, "; send it in smaller pieces"));
}

}  // namespace fringe
