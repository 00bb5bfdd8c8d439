// The core of Segmentation.Segment / SegmentStream, free of gRPC: validate a request, pick
// the model version, run it over the frame and encode the response.
#ifndef FRINGE_SERVER_SEGMENTATION_ENGINE_H_
#define FRINGE_SERVER_SEGMENTATION_ENGINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pixel_scale.h"
#include "common/tensor_codec.h"
#include "fringe/v1/segmentation.pb.h"
#include "models/frame_segmenter.h"
#include "server/model_repository.h"

namespace fringe {

// The response's record of how a frame with `requested` pixel size was brought to a model
// trained at `model_pixel_nm` (shared by Segment and Explain responses).
v1::FrameScale FrameScaleProto(const PixelSize& requested, double model_pixel_nm,
                               const ScalePlan& plan);

class ExplanationEngine;

class SegmentationEngine {
 public:
  struct Options {
    int max_batch = 4;
    DecodeLimits limits;
  };

  // `repository` (and `explanation`, which may be null) must outlive the engine.
  SegmentationEngine(const ModelRepository* repository, Options options,
                     ExplanationEngine* explanation = nullptr);

  // The model version `request` runs on: request.model, where an empty name means the default
  // model and version 0 its serving version. Errors as ModelRepository::Get.
  absl::StatusOr<ServableModel> Resolve(const v1::SegmentRequest& request) const;

  // A request with the model version it was resolved to, once.
  struct Job {
    const v1::SegmentRequest* request = nullptr;
    ServableModel model;
  };

  // Segments resolved requests; results in order. Requests on the same model version with
  // the same frame size share network calls (dynamic batching); the others run alone. One
  // bad request fails only its own result. A request that asks for an explanation
  // (request.explain) gets it on exactly the version that segmented it (FAILED_PRECONDITION
  // when the engine has no explanation engine). INVALID_ARGUMENT for malformed requests
  // (naming the field). Fills every response field except timings.queue_ms and
  // timings.total_ms, which belong to the caller.
  std::vector<absl::StatusOr<v1::SegmentResponse>> Run(const std::vector<Job>& jobs) const;

  // Resolve() then Run() for one request.
  absl::StatusOr<v1::SegmentResponse> Segment(const v1::SegmentRequest& request) const;

  // A key under which the scheduler may batch this request with others: non-empty only for
  // a raw-tensor frame that fits in one tile of `model` ("name:version:HxW"). Cheap: no
  // decoding.
  static std::string BatchKey(const v1::SegmentRequest& request, const ServableModel& model);

 private:
  struct Prepared;
  absl::StatusOr<Prepared> Prepare(const v1::SegmentRequest& request,
                                   const ServableModel& model) const;
  absl::StatusOr<v1::SegmentResponse> Encode(const v1::SegmentRequest& request,
                                             const Prepared& prepared, FrameOutput out,
                                             double compute_ms) const;
  // Adds request.explain's explanation to a successful response.
  absl::Status AddExplanation(const Job& job, v1::SegmentResponse* response) const;

  const ModelRepository* repository_;
  const Options options_;
  ExplanationEngine* explanation_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SEGMENTATION_ENGINE_H_
