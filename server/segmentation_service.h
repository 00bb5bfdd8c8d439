// gRPC handlers for fringe.v1.Segmentation (callback API). Thin: they queue work on the
// Scheduler (priority class, client, batch key, deadline), run SegmentationEngine there, and
// convert statuses once. A request that asks for an explanation also runs the
// ExplanationEngine on its frame.
#ifndef FRINGE_SERVER_SEGMENTATION_SERVICE_H_
#define FRINGE_SERVER_SEGMENTATION_SERVICE_H_

#include <atomic>

#include "fringe/v1/segmentation.grpc.pb.h"
#include "server/explanation_engine.h"
#include "server/scheduler.h"
#include "server/segmentation_engine.h"
#include "server/server_metrics.h"

namespace fringe {

class SegmentationService final : public v1::Segmentation::CallbackService {
 public:
  struct Options {
    int stream_max_in_flight = 16;  // Requests of one stream queued or running.
  };

  // Every pointer must outlive the service; `explainer` and `metrics` may be null.
  SegmentationService(const SegmentationEngine* engine, ExplanationEngine* explainer,
                      Scheduler* scheduler, ServerMetrics* metrics, Options options);

  grpc::ServerUnaryReactor* Segment(grpc::CallbackServerContext* context,
                                    const v1::SegmentRequest* request,
                                    v1::SegmentResponse* response) override;

  grpc::ServerBidiReactor<v1::SegmentRequest, v1::SegmentResponse>* SegmentStream(
      grpc::CallbackServerContext* context) override;

 private:
  class StreamReactor;
  class SegmentWork;

  // Queues one request; `done` receives the response or the error exactly once (on a worker,
  // or on this thread when the request is rejected). Returns the scheduler ticket (0 when
  // rejected).
  uint64_t Enqueue(const char* method, std::shared_ptr<const v1::SegmentRequest> request,
                   const std::string& client, std::chrono::steady_clock::time_point deadline,
                   uint64_t group, std::function<void(absl::StatusOr<v1::SegmentResponse>)> done);
  void RunBatch(WorkBatch& batch) const;

  const SegmentationEngine* engine_;
  ExplanationEngine* explainer_;
  Scheduler* scheduler_;
  ServerMetrics* metrics_;
  const Options options_;
  std::atomic<uint64_t> next_stream_id_{1};
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SEGMENTATION_SERVICE_H_
