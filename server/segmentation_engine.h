// The core of Segmentation.Segment / SegmentStream, free of gRPC: validate a request, pick
// the model version, run it over the frame and encode the response.
#ifndef FRINGE_SERVER_SEGMENTATION_ENGINE_H_
#define FRINGE_SERVER_SEGMENTATION_ENGINE_H_

#include "absl/status/statusor.h"
#include "common/tensor_codec.h"
#include "fringe/v1/segmentation.pb.h"
#include "server/model_repository.h"

namespace fringe {

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

 private:
  const ModelRepository* repository_;
  const Options options_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SEGMENTATION_ENGINE_H_
