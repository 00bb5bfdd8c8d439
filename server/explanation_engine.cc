#include "server/explanation_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "common/frame_stats.h"
#include "models/frame_preparation.h"
#include "server/segmentation_engine.h"

namespace fringe {

ExplanationEngine::ExplanationEngine(const ModelRepository* repository, DecodeLimits limits)
    : repository_(repository), limits_(limits) {}

void ExplanationEngine::DropUnloadedLocked() {
  for (auto it = explainers_.begin(); it != explainers_.end();) {
    it = it->second.segmenter.expired() ? explainers_.erase(it) : std::next(it);
  }
}

void ExplanationEngine::DropUnloaded() {
  std::lock_guard<std::mutex> lock(mu_);
  DropUnloadedLocked();
}

size_t ExplanationEngine::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return explainers_.size();
}

absl::StatusOr<std::shared_ptr<const Explainer>> ExplanationEngine::ExplainerFor(
    const ServableModel& model) {
  const auto key = std::make_pair(model.name, model.version);
  {
    std::lock_guard<std::mutex> lock(mu_);
    DropUnloadedLocked();
    auto it = explainers_.find(key);
    // A version unloaded and loaded again is a new instance: rebuild its explainer.
    if (it != explainers_.end() && it->second.segmenter.lock() == model.segmenter) {
      return it->second.explainer;
    }
  }
  if (model.config.architecture() != "unet" && model.config.architecture() != "fcn8s") {
    return absl::FailedPreconditionError(
        absl::StrCat("model \"", model.name, "\" is a \"", model.config.architecture(),
                     "\"; the attribution engine explains \"unet\" and \"fcn8s\" models"));
  }
  // Built outside the lock: loading takes a while and two racing loads are harmless.
  FRINGE_ASSIGN_OR_RETURN(std::unique_ptr<Explainer> loaded,
                          Explainer::Load(model.config, model.version_dir));
  std::shared_ptr<const Explainer> explainer = std::move(loaded);
  std::lock_guard<std::mutex> lock(mu_);
  explainers_[key] = CacheEntry{model.segmenter, explainer};
  return explainer;
}

namespace {

// A box (or a 1x1 pixel box) given in the frame's pixels, in the model-scale frame's pixels:
// the part inside the frame, covered by the smallest model-scale box. Unresampled frames keep
// the box as given (the attribution engine clips it). INVALID_ARGUMENT, in the user's
// coordinates, when nothing of the box lies inside a resampled frame.
absl::StatusOr<cv::Rect> BoxToModelScale(const cv::Rect& box, cv::Size frame,
                                         const ScalePlan& plan) {
  if (!plan.resampled()) return box;
  const cv::Rect inside = box & cv::Rect(cv::Point(0, 0), frame);
  if (inside.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("target (", box.x, ",", box.y, ")-(", box.br().x,
                                                   ",", box.br().y, ") has no pixel inside the ",
                                                   frame.width, "x", frame.height, " frame"));
  }
  const int x0 = static_cast<int>(std::floor(inside.x * plan.factor_x));
  const int y0 = static_cast<int>(std::floor(inside.y * plan.factor_y));
  const int x1 = std::max(x0 + 1, static_cast<int>(std::ceil(inside.br().x * plan.factor_x)));
  const int y1 = std::max(y0 + 1, static_cast<int>(std::ceil(inside.br().y * plan.factor_y)));
  return cv::Rect(cv::Point(x0, y0), cv::Point(x1, y1)) &
         cv::Rect(cv::Point(0, 0), plan.model_size);
}

}  // namespace

absl::StatusOr<v1::TileExplanation> ExplanationEngine::ExplainTile(
    const v1::SegmentRequest& request, const ServableModel& model) {
  v1::ExplainRequest explain;
  explain.set_id(request.id());
  explain.mutable_model()->set_name(model.name);
  explain.mutable_model()->set_version(model.version);
  *explain.mutable_image() = request.image();
  explain.set_method(request.explain().method());
  explain.mutable_parameters()->insert(request.explain().parameters().begin(),
                                       request.explain().parameters().end());
  *explain.mutable_target() = request.explain().target();
  FRINGE_ASSIGN_OR_RETURN(v1::ExplainResponse response, Explain(explain, model));
  v1::TileExplanation tile;
  *tile.mutable_relevance() = std::move(*response.mutable_relevance());
  tile.set_method(response.method());
  tile.set_target_value(response.target_value());
  tile.set_relevance_sum(response.relevance_sum());
  tile.set_compute_ms(response.compute_ms());
  return tile;
}

absl::StatusOr<ServableModel> ExplanationEngine::Resolve(const v1::ExplainRequest& request) const {
  return repository_->Get(request.model().name(), request.model().version());
}

absl::StatusOr<v1::ExplainResponse> ExplanationEngine::Explain(const v1::ExplainRequest& request) {
  FRINGE_ASSIGN_OR_RETURN(const ServableModel model, Resolve(request));
  return Explain(request, model);
}

absl::StatusOr<v1::ExplainResponse> ExplanationEngine::Explain(const v1::ExplainRequest& request,
                                                               const ServableModel& model) {
  const auto start = std::chrono::steady_clock::now();
  FRINGE_ASSIGN_OR_RETURN(cv::Mat decoded, DecodeImageToFloat(request.image(), limits_));
  FRINGE_ASSIGN_OR_RETURN(std::shared_ptr<const Explainer> explainer, ExplainerFor(model));
  // The network is explained on exactly what it segments: spikes out, at its pixel size.
  // Targets are given in the frame's pixels and mapped to the model's; the relevance comes
  // back at the frame's size with its sum kept.
  const PixelSize requested_pixel = PixelSizeOf(request.image());
  FRINGE_RETURN_IF_ERROR(
      CheckModelScaleSize(PlanScale(decoded.size(), requested_pixel, model.config.pixel_size_nm()),
                          limits_.max_pixels));
  const PreparedFrame prepared =
      PrepareFrame(decoded, requested_pixel, model.config.pixel_size_nm());
  const cv::Mat& frame = prepared.frame;
  const ScalePlan& plan = prepared.scale;

  AttributionRequest attribution;
  attribution.method = request.method().empty() ? "lrp" : request.method();
  attribution.parameters.insert(request.parameters().begin(), request.parameters().end());
  const v1::ExplainTarget& t = request.target();
  AttributionTarget& target = attribution.target;
  target.class_index = t.has_class_index() ? t.class_index() : 1;
  target.contrastive = t.contrastive();
  switch (t.kind()) {
    case v1::ExplainTarget::KIND_UNSPECIFIED:
    case v1::ExplainTarget::PREDICTED:
      target.kind = AttributionTarget::Kind::kPredicted;
      break;
    case v1::ExplainTarget::BOX: {
      target.kind = AttributionTarget::Kind::kBox;
      FRINGE_ASSIGN_OR_RETURN(target.box, BoxToModelScale(cv::Rect(cv::Point(t.x0(), t.y0()),
                                                                   cv::Point(t.x1(), t.y1())),
                                                          decoded.size(), plan));
      break;
    }
    case v1::ExplainTarget::PIXEL: {
      target.kind = AttributionTarget::Kind::kPixel;
      FRINGE_ASSIGN_OR_RETURN(const cv::Rect pixel, BoxToModelScale(cv::Rect(t.x0(), t.y0(), 1, 1),
                                                                    decoded.size(), plan));
      target.pixel = pixel.tl();
      break;
    }
    case v1::ExplainTarget::MASK: {
      target.kind = AttributionTarget::Kind::kMask;
      FRINGE_ASSIGN_OR_RETURN(cv::Mat mask, TensorToMat(t.mask(), "target.mask", limits_));
      if (mask.size() != decoded.size() || mask.depth() != CV_8U) {
        return absl::InvalidArgumentError("target.mask must be uint8 with the image's shape");
      }
      if (plan.resampled()) {
        cv::resize(mask, mask, plan.model_size, 0, 0, cv::INTER_NEAREST);
      }
      target.mask = mask;
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("target.kind is ", t.kind(), "; expected PREDICTED, MASK, BOX or PIXEL"));
  }

  // Standardise with whole-frame statistics (as segmentation does), then pad with zeros (the
  // mean) to the network's multiple; the relevance of the padding is cut off again.
  FRINGE_ASSIGN_OR_RETURN(const std::optional<FrameStats> statistics,
                          ReadFrameStatistics(request.image()));
  cv::Mat standardised = Standardise(frame, statistics ? *statistics : ComputeFrameStats(frame));
  const int m = explainer->input_multiple();
  const int pad_y = (m - frame.rows % m) % m, pad_x = (m - frame.cols % m) % m;
  cv::copyMakeBorder(standardised, standardised, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT,
                     cv::Scalar(0));
  if (target.kind == AttributionTarget::Kind::kMask) {
    cv::copyMakeBorder(target.mask, target.mask, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT,
                       cv::Scalar(0));
  }
  FRINGE_ASSIGN_OR_RETURN(Attribution result, explainer->Explain(standardised, attribution));

  v1::ExplainResponse response;
  response.set_id(request.id());
  response.set_model_name(model.name);
  response.set_model_version(model.version);
  cv::Mat relevance = result.relevance(cv::Rect(0, 0, frame.cols, frame.rows)).clone();
  if (plan.resampled()) {
    // Resampling keeps the mean; scaling by the pixel-count ratio keeps the sum, so
    // conservation (target = reference + relevance sum + residual) still holds.
    relevance = ToFrameScale(relevance, plan) *
                (static_cast<double>(frame.total()) / static_cast<double>(decoded.total()));
  }
  FRINGE_ASSIGN_OR_RETURN(*response.mutable_relevance(), MatToTensor(relevance));
  response.set_method(result.method);
  response.mutable_parameters()->insert(result.parameters.begin(), result.parameters.end());
  response.set_target_value(result.target_value);
  response.set_reference_value(result.reference_value);
  response.set_relevance_sum(result.relevance_sum);
  response.set_conservation_residual(result.conservation_residual);
  for (const auto& [layer, sum] : result.layer_sums) {
    v1::LayerRelevance* l = response.add_layer_sums();
    l->set_layer(layer);
    l->set_relevance(sum);
  }
  *response.mutable_scale() = FrameScaleProto(requested_pixel, model.config.pixel_size_nm(), plan);
  for (const std::string& w : prepared.warnings) response.add_warnings(w);
  response.set_compute_ms(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return response;
}

}  // namespace fringe
