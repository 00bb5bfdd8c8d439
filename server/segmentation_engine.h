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

class SegmentationEngine {
 public:
  struct Options {
    int max_batch = 4;
    DecodeLimits limits;
  };

  // `repository` must outlive the engine.
  SegmentationEngine(const ModelRepository* repository, Options options);

  // Segments one request. INVALID_ARGUMENT for malformed requests (naming the field),
  // NOT_FOUND / FAILED_PRECONDITION / UNAVAILABLE from the repository. Fills every response
  // field except timings.queue_ms and timings.total_ms, which belong to the caller.
  absl::StatusOr<v1::SegmentResponse> Segment(const v1::SegmentRequest& request) const;

  // Segments several requests; results in request order. Requests that resolve to the same
  // model version and frame size share network calls (dynamic batching); the others run
  // alone. One bad request fails only its own result.
  std::vector<absl::StatusOr<v1::SegmentResponse>> SegmentBatch(
      const std::vector<const v1::SegmentRequest*>& requests) const;

  // A key under which the scheduler may batch this request with others: non-empty only for
  // a raw-tensor frame that fits in one tile of a loaded model ("name:version:HxW"). Cheap:
  // no decoding. Also returns the resolved "name:version" for metrics in `model`.
  std::string BatchKey(const v1::SegmentRequest& request, std::string* model) const;

 private:
  struct Prepared;
  absl::StatusOr<Prepared> Prepare(const v1::SegmentRequest& request) const;
  absl::StatusOr<v1::SegmentResponse> Encode(const v1::SegmentRequest& request,
                                             const Prepared& prepared, FrameOutput out,
                                             double compute_ms) const;

  const ModelRepository* repository_;
  const Options options_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SEGMENTATION_ENGINE_H_
