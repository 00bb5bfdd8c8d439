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

struct SegmentationEngine::Prepared {
  ServableModel model;
  FrameInput input;
  FrameSegmenterOptions tiling;
};

absl::StatusOr<SegmentationEngine::Prepared> SegmentationEngine::Prepare(
    const v1::SegmentRequest& request) const {
  FRINGE_RETURN_IF_ERROR(ValidateRequest(request));
  Prepared p;
  FRINGE_ASSIGN_OR_RETURN(p.model,
                          repository_->Get(request.model().name(), request.model().version()));
  FRINGE_ASSIGN_OR_RETURN(p.input.frame, DecodeImageToFloat(request.image(), options_.limits));
  FRINGE_ASSIGN_OR_RETURN(p.input.statistics, ReadFrameStatistics(request.image()));
  p.tiling.tile_size = p.model.config.tile_size();
  p.tiling.tile_margin = p.model.config.tile_margin();
  p.tiling.max_batch = options_.max_batch;
  p.tiling.standardize =
      p.model.config.normalization().kind() == v1::Normalization::STANDARDIZE_FRAME;
  return p;
}

absl::StatusOr<v1::SegmentResponse> SegmentationEngine::Encode(const v1::SegmentRequest& request,
                                                               const Prepared& prepared,
                                                               FrameOutput out,
                                                               double compute_ms) const {
  v1::SegmentResponse response;
  response.set_id(request.id());
  response.set_model_name(prepared.model.name);
  response.set_model_version(prepared.model.version);
  FRINGE_ASSIGN_OR_RETURN(*response.mutable_mask(), MatToTensor(out.mask));
  if (request.probabilities() != v1::PROBABILITIES_NONE) {
    // Foreground probability: class 1 ("particle") when there is one.
    const cv::Mat& p = out.class_probabilities.size() > 1 ? out.class_probabilities[1]
                                                          : out.class_probabilities[0];
    FRINGE_ASSIGN_OR_RETURN(*response.mutable_probabilities(),
                            EncodeProbabilities(p, request.probabilities()));
  }
  response.mutable_timings()->set_compute_ms(compute_ms);
  response.mutable_timings()->set_tiles(out.tiles);
  return response;
}

absl::StatusOr<v1::SegmentResponse> SegmentationEngine::Segment(
    const v1::SegmentRequest& request) const {
  return std::move(SegmentBatch({&request}).front());
}

std::vector<absl::StatusOr<v1::SegmentResponse>> SegmentationEngine::SegmentBatch(
    const std::vector<const v1::SegmentRequest*>& requests) const {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<absl::StatusOr<v1::SegmentResponse>> results(requests.size(),
                                                           absl::InternalError("not segmented"));
  std::vector<absl::StatusOr<Prepared>> prepared;
  prepared.reserve(requests.size());
  for (const v1::SegmentRequest* r : requests) prepared.push_back(Prepare(*r));

  // Groups of requests that can share network calls: same model version, same frame size,
  // same tiling.
  std::vector<bool> done(requests.size(), false);
  for (size_t i = 0; i < requests.size(); ++i) {
    if (done[i]) continue;
    if (!prepared[i].ok()) {
      results[i] = prepared[i].status();
      done[i] = true;
      continue;
    }
    const Prepared& lead = *prepared[i];
    std::vector<size_t> group = {i};
    for (size_t j = i + 1; j < requests.size(); ++j) {
      if (done[j] || !prepared[j].ok()) continue;
      const Prepared& p = *prepared[j];
      if (p.model.segmenter == lead.model.segmenter &&
          p.input.frame.size() == lead.input.frame.size() &&
          p.tiling.standardize == lead.tiling.standardize) {
        group.push_back(j);
      }
    }
    std::vector<FrameInput> inputs;
    for (size_t k : group) {
      inputs.push_back(prepared[k]->input);
      done[k] = true;
    }
    auto outputs = SegmentFrames(*lead.model.segmenter, inputs, lead.tiling);
    // Every request of a shared call is charged the whole call: that is how long it took.
    const double compute_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    for (size_t g = 0; g < group.size(); ++g) {
      const size_t k = group[g];
      if (!outputs.ok()) {
        results[k] = outputs.status();
      } else {
        results[k] = Encode(*requests[k], *prepared[k], std::move((*outputs)[g]), compute_ms);
      }
    }
  }
  return results;
}

std::string SegmentationEngine::BatchKey(const v1::SegmentRequest& request,
                                         std::string* model) const {
  auto servable = repository_->Get(request.model().name(), request.model().version());
  if (!servable.ok()) {
    if (model != nullptr) *model = request.model().name();
    return "";
  }
  if (model != nullptr) *model = absl::StrCat(servable->name, ":", servable->version);
  if (!request.image().has_tensor()) return "";
  const v1::Tensor& t = request.image().tensor();
  if (t.shape_size() != 2) return "";
  const int64_t h = t.shape(0), w = t.shape(1);
  const int64_t tile = servable->config.tile_size();
  const int multiple = servable->segmenter->input_multiple();
  if (h <= 0 || w <= 0 || h > tile || w > tile || h % multiple != 0 || w % multiple != 0) return "";
  return absl::StrCat(servable->name, ":", servable->version, ":", h, "x", w);
}

}  // namespace fringe
