#include "server/segmentation_engine.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "models/frame_segmenter.h"

namespace fringe {

SegmentationEngine::SegmentationEngine(const ModelRepository* repository, Options options)
    : repository_(repository), options_(options) {}

namespace {

absl::Status ValidateRequest(const v1::SegmentRequest& request) {
  if (!v1::ProbabilityFormat_IsValid(request.probabilities())) {
    return absl::InvalidArgumentError(
        absl::StrCat("probabilities is ", request.probabilities(), "; expected 0..3"));
  }
  if (!v1::Priority_IsValid(request.priority())) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority is ", request.priority(), "; expected 0..4"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Tensor> EncodeProbabilities(const cv::Mat& p, v1::ProbabilityFormat format) {
  cv::Mat encoded;
  switch (format) {
    case v1::PROBABILITIES_UINT8:
      p.convertTo(encoded, CV_8U, 255.0);
      break;
    case v1::PROBABILITIES_FLOAT16:
      p.convertTo(encoded, CV_16F);
      break;
    default:
      encoded = p;
      break;
  }
  return MatToTensor(encoded);
}

}  // namespace

absl::StatusOr<v1::SegmentResponse> SegmentationEngine::Segment(
    const v1::SegmentRequest& request) const {
  const auto start = std::chrono::steady_clock::now();
  FRINGE_RETURN_IF_ERROR(ValidateRequest(request));
  FRINGE_ASSIGN_OR_RETURN(ServableModel model,
                          repository_->Get(request.model().name(), request.model().version()));
  FRINGE_ASSIGN_OR_RETURN(cv::Mat frame, DecodeImageToFloat(request.image(), options_.limits));
  FRINGE_ASSIGN_OR_RETURN(const std::optional<FrameStats> statistics,
                          ReadFrameStatistics(request.image()));

  FrameSegmenterOptions tiling;
  tiling.tile_size = model.config.tile_size();
  tiling.tile_margin = model.config.tile_margin();
  tiling.max_batch = options_.max_batch;
  tiling.statistics = statistics;
  tiling.standardize = model.config.normalization().kind() == v1::Normalization::STANDARDIZE_FRAME;
  FRINGE_ASSIGN_OR_RETURN(FrameOutput out, SegmentFrame(*model.segmenter, frame, tiling));

  v1::SegmentResponse response;
  response.set_id(request.id());
  response.set_model_name(model.name);
  response.set_model_version(model.version);
  FRINGE_ASSIGN_OR_RETURN(*response.mutable_mask(), MatToTensor(out.mask));
  if (request.probabilities() != v1::PROBABILITIES_NONE) {
    // Foreground probability: class 1 ("particle") when there is one.
    const cv::Mat& p = out.class_probabilities.size() > 1 ? out.class_probabilities[1]
                                                          : out.class_probabilities[0];
    FRINGE_ASSIGN_OR_RETURN(*response.mutable_probabilities(),
                            EncodeProbabilities(p, request.probabilities()));
  }
  response.mutable_timings()->set_compute_ms(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  response.mutable_timings()->set_tiles(out.tiles);
  return response;
}

}  // namespace fringe
