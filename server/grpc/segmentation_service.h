// gRPC handlers for fringe.v1.Segmentation (callback API). Thin: they hand each request to
// the RequestQueue (which schedules it, runs the engines and records it) and convert the
// status once; the stream reactor adds ordering and flow control.
#ifndef FRINGE_SERVER_GRPC_SEGMENTATION_SERVICE_H_
#define FRINGE_SERVER_GRPC_SEGMENTATION_SERVICE_H_

#include <atomic>

#include "fringe/v1/segmentation.grpc.pb.h"
#include "server/request_queue.h"

namespace fringe {

class SegmentationService final : public v1::Segmentation::CallbackService {
 public:
  struct Options {
    int stream_max_in_flight = 16;  // Requests of one stream queued or running.
  };

  // `queue` must outlive the service.
  SegmentationService(RequestQueue* queue, Options options) : queue_(queue), options_(options) {}

  grpc::ServerUnaryReactor* Segment(grpc::CallbackServerContext* context,
                                    const v1::SegmentRequest* request,
                                    v1::SegmentResponse* response) override;

  grpc::ServerBidiReactor<v1::SegmentRequest, v1::SegmentResponse>* SegmentStream(
      grpc::CallbackServerContext* context) override;

 private:
  class StreamReactor;

  RequestQueue* queue_;
  const Options options_;
  std::atomic<uint64_t> next_stream_id_{1};
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_SEGMENTATION_SERVICE_H_
