#include "server/explanation_engine.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/frame_stats.h"
#include "common/status_macros.h"

namespace fringe {

ExplanationEngine::ExplanationEngine(const ModelRepository* repository, DecodeLimits limits)
    : repository_(repository), limits_(limits) {}

absl::StatusOr<std::shared_ptr<const Explainer>> ExplanationEngine::ExplainerFor(
    const ServableModel& model) {
  const auto key = std::make_pair(model.name, model.version);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = explainers_.find(key);
    if (it != explainers_.end()) return it->second;
  }
  if (model.config.architecture() != "unet") {
    return absl::FailedPreconditionError(
        absl::StrCat("model \"", model.name, "\" is a \"", model.config.architecture(),
                     "\"; the attribution engine explains \"unet\" models"));
  }
  // Built outside the lock: loading takes a while and two racing loads are harmless.
  FRINGE_ASSIGN_OR_RETURN(std::unique_ptr<Explainer> loaded,
                          Explainer::Load(model.config, model.version_dir));
  std::shared_ptr<const Explainer> explainer = std::move(loaded);
  std::lock_guard<std::mutex> lock(mu_);
  return explainers_.emplace(key, explainer).first->second;
}

absl::StatusOr<v1::ExplainResponse> ExplanationEngine::Explain(const v1::ExplainRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  FRINGE_ASSIGN_OR_RETURN(ServableModel model,
                          repository_->Get(request.model().name(), request.model().version()));
  FRINGE_ASSIGN_OR_RETURN(cv::Mat frame, DecodeImageToFloat(request.image(), limits_));
  FRINGE_ASSIGN_OR_RETURN(std::shared_ptr<const Explainer> explainer, ExplainerFor(model));

  AttributionRequest attribution;
  attribution.method = request.method().empty() ? "lrp" : request.method();
  attribution.parameters.insert(request.parameters().begin(), request.parameters().end());
  const v1::ExplainTarget& t = request.target();
  AttributionTarget& target = attribution.target;
  target.class_index = t.has_class_index() ? t.class_index() : 1;
  target.contrastive = t.contrastive();
  switch (t.kind()) {
    case v1::ExplainTarget::PREDICTED:
      target.kind = AttributionTarget::Kind::kPredicted;
      break;
    case v1::ExplainTarget::BOX:
      target.kind = AttributionTarget::Kind::kBox;
      target.box = cv::Rect(cv::Point(t.x0(), t.y0()), cv::Point(t.x1(), t.y1()));
      break;
    case v1::ExplainTarget::PIXEL:
      target.kind = AttributionTarget::Kind::kPixel;
      target.pixel = cv::Point(t.x0(), t.y0());
      break;
    case v1::ExplainTarget::MASK: {
      target.kind = AttributionTarget::Kind::kMask;
      FRINGE_ASSIGN_OR_RETURN(cv::Mat mask, TensorToMat(t.mask(), "target.mask", limits_));
      if (mask.size() != frame.size() || mask.depth() != CV_8U) {
        return absl::InvalidArgumentError("target.mask must be uint8 with the image's shape");
      }
      target.mask = mask;
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("target.kind is ", t.kind()));
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
  const cv::Mat relevance = result.relevance(cv::Rect(0, 0, frame.cols, frame.rows)).clone();
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
  response.set_compute_ms(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return response;
}

}  // namespace fringe
