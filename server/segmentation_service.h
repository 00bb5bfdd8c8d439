// gRPC handlers for fringe.v1.Segmentation (callback API). Thin: they queue work on the
// WorkerPool, call SegmentationEngine there, and convert statuses once.
#ifndef FRINGE_SERVER_SEGMENTATION_SERVICE_H_
#define FRINGE_SERVER_SEGMENTATION_SERVICE_H_

#include <atomic>

#include "fringe/v1/segmentation.grpc.pb.h"
#include "server/segmentation_engine.h"
#include "server/worker_pool.h"

namespace fringe {

class SegmentationService final : public v1::Segmentation::CallbackService {
 public:
  struct Options {
    int stream_max_in_flight = 16;  // Requests of one stream queued or running.
    int retry_after_ms = 100;       // Hint sent with RESOURCE_EXHAUSTED.
  };

  // `engine` and `pool` must outlive the service.
  SegmentationService(const SegmentationEngine* engine, WorkerPool* pool, Options options);

  grpc::ServerUnaryReactor* Segment(grpc::CallbackServerContext* context,
                                    const v1::SegmentRequest* request,
                                    v1::SegmentResponse* response) override;

  grpc::ServerBidiReactor<v1::SegmentRequest, v1::SegmentResponse>* SegmentStream(
      grpc::CallbackServerContext* context) override;

 private:
  class StreamReactor;

  const SegmentationEngine* engine_;
  WorkerPool* pool_;
  const Options options_;
  std::atomic<uint64_t> next_stream_id_{1};
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SEGMENTATION_SERVICE_H_
