// Between the RPC layer and the engines, free of gRPC: queues Segment and Explain requests on
// the Scheduler (priority class, client, deadline, batch key, stream group), runs them on its
// workers through the engines, and finishes every request the same way - request metrics, one
// log line, the callback - exactly once, whether it ran, failed or was dropped. The model
// version is resolved once, when the request is queued; the worker runs exactly that version
// (a request keeps its version even if it is unloaded meanwhile). The gRPC services
// (server/grpc/) only translate calls into this and statuses back.
#ifndef FRINGE_SERVER_REQUEST_QUEUE_H_
#define FRINGE_SERVER_REQUEST_QUEUE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/explain.pb.h"
#include "fringe/v1/segmentation.pb.h"
#include "server/explanation_engine.h"
#include "server/scheduler.h"
#include "server/segmentation_engine.h"
#include "server/server_metrics.h"

namespace fringe {

// Who asks and until when; the RPC layer fills it from its call.
struct CallInfo {
  std::string client;  // Fairness and per-client limits.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint64_t group = 0;  // Non-zero: the requests of one stream, cancelled together.
};

class RequestQueue {
 public:
  template <typename T>
  using Done = std::function<void(absl::StatusOr<T>)>;

  // Every pointer must outlive the queue; `metrics` may be null.
  RequestQueue(const SegmentationEngine* segmentation, ExplanationEngine* explanation,
               Scheduler* scheduler, ServerMetrics* metrics)
      : segmentation_(segmentation),
        explanation_(explanation),
        scheduler_(scheduler),
        metrics_(metrics) {}

  // Queues one segmentation (and its explanation, when request.explain asks). `method` names
  // the RPC in metrics and logs ("Segment", "SegmentStream"). `done` receives the response or
  // the error exactly once: on a worker, or on this thread when the request fails before it
  // is queued (unknown model, queue full). The request must stay alive until then. Returns
  // the ticket for Cancel(), 0 when `done` has already been called.
  uint64_t Segment(const char* method, std::shared_ptr<const v1::SegmentRequest> request,
                   const CallInfo& call, Done<v1::SegmentResponse> done);

  // Queues one explanation in the explain class; otherwise as Segment().
  uint64_t Explain(std::shared_ptr<const v1::ExplainRequest> request, const CallInfo& call,
                   Done<v1::ExplainResponse> done);

  // A queued request leaves at once (answered CANCELLED); a running one finishes.
  void Cancel(uint64_t ticket) { scheduler_->Cancel(ticket); }
  // Cancels every queued request of a stream; returns how many.
  int CancelGroup(uint64_t group) { return scheduler_->CancelGroup(group); }

 private:
  class SegmentWork;
  class ExplainWork;
  using Clock = std::chrono::steady_clock;

  // The one place a request ends: request metrics (and compute time when it ran), a log line.
  void Record(const char* method, const std::string& id, const std::string& model, int64_t version,
              const absl::Status& status, Clock::time_point received, double compute_ms) const;
  void RunSegmentBatch(WorkBatch& batch) const;

  // A request that fails before it is queued: recorded under the model name the client asked
  // for and answered here. Returns 0, the "no ticket" of Segment() and Explain().
  template <typename Request, typename Response>
  uint64_t Reject(const char* method, const Request& request, const absl::Status& status,
                  const Done<Response>& done) const {
    Record(method, request.id(), request.model().name(), 0, status, Clock::now(), -1);
    done(status);
    return 0;
  }

  const SegmentationEngine* segmentation_;
  ExplanationEngine* explanation_;
  Scheduler* scheduler_;
  ServerMetrics* metrics_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_REQUEST_QUEUE_H_
