#include "server/grpc/segmentation_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/grpc/grpc_status.h"
#include "server/grpc/scheduled_call.h"

namespace fringe {

grpc::ServerUnaryReactor* SegmentationService::Segment(grpc::CallbackServerContext* context,
                                                       const v1::SegmentRequest* request,
                                                       v1::SegmentResponse* response) {
  auto* reactor = new ScheduledUnaryReactor(queue_);
  // The request outlives the work: gRPC keeps it until Finish().
  std::shared_ptr<const v1::SegmentRequest> shared(request, [](const v1::SegmentRequest*) {});
  const uint64_t ticket =
      queue_->Segment("Segment", shared, CallInfoOf(request->client_id(), context),
                      [reactor, response](absl::StatusOr<v1::SegmentResponse> result) {
                        if (result.ok()) *response = *std::move(result);
                        reactor->Finish(ToGrpcStatus(result.status()));
                      });
  if (ticket != 0) reactor->SetTicket(ticket);
  return reactor;
}

// One bidirectional stream. Requests are numbered as they arrive; results may finish in any
// order on the workers and are written one at a time, strictly in arrival order - or, when
// the first request asks for STREAM_ORDER_COMPLETION, in the order they finish. At
// most stream_max_in_flight requests are queued or running: beyond that the reactor stops
// reading, which pushes back on the client through gRPC flow control. When the client goes
// away, the stream's queued requests leave the scheduler at once.
class SegmentationService::StreamReactor final
    : public grpc::ServerBidiReactor<v1::SegmentRequest, v1::SegmentResponse> {
 public:
  StreamReactor(SegmentationService* service, grpc::CallbackServerContext* context, uint64_t id)
      : service_(service),
        context_(context),
        stream_id_(id),
        client_(ClientOf("", context)),
        deadline_(SteadyDeadline(context)) {
    spdlog::info("stream_open stream={} peer={}", stream_id_, context_->peer());
    read_pending_ = true;
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // Client half-closed (or the call broke).
      std::lock_guard<std::mutex> lock(mu_);
      read_pending_ = false;
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    auto request = std::make_shared<v1::SegmentRequest>();
    request->Swap(&incoming_);
    int64_t seq;
    {
      // read_pending_ stays true until the end of this reaction, so a worker finishing the
      // last result meanwhile cannot Finish (and free) the stream under our feet.
      std::lock_guard<std::mutex> lock(mu_);
      if (next_read_seq_ == 0) {
        by_completion_ = request->stream_order() == v1::STREAM_ORDER_COMPLETION;
      }
      seq = next_read_seq_++;
      ++in_flight_;
    }
    const std::string id = request->id();
    CallInfo call;
    call.client = request->client_id().empty() ? client_ : request->client_id();
    call.deadline = deadline_;
    call.group = stream_id_;
    service_->queue_->Segment("SegmentStream", std::move(request), call,
                              [this, seq, id](absl::StatusOr<v1::SegmentResponse> result) {
                                v1::SegmentResponse response;
                                if (result.ok()) {
                                  response = *std::move(result);
                                } else {
                                  *response.mutable_error() = ToStreamError(result.status());
                                }
                                response.set_id(id);
                                OnResult(seq, std::move(response));
                              });
    std::lock_guard<std::mutex> lock(mu_);
    read_pending_ = false;
    if (broken_) {
      MaybeFinishLocked();
    } else if (in_flight_ < service_->options_.stream_max_in_flight) {
      read_pending_ = true;
      StartRead(&incoming_);
    } else {
      read_paused_ = true;
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) broken_ = true;
    ++next_write_seq_;
    --in_flight_;
    ++written_;
    if (read_paused_ && !reads_done_ && !broken_) {
      read_paused_ = false;
      read_pending_ = true;
      StartRead(&incoming_);
    }
    MaybeWriteLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    cancelled_.store(true);
    // Queued tiles of this stream are dropped (answered CANCELLED internally) right away.
    const int dropped = service_->queue_->CancelGroup(stream_id_);
    if (dropped > 0) spdlog::info("stream_cancelled stream={} dropped={}", stream_id_, dropped);
  }

  void OnDone() override {
    spdlog::info("stream_closed stream={} responses={}", stream_id_, written_);
    // A worker may have called Finish() and still be releasing mu_: wait for it.
    { std::lock_guard<std::mutex> lock(mu_); }
    delete this;
  }

 private:
  void OnResult(int64_t seq, v1::SegmentResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_.emplace(seq, std::move(response));
    MaybeWriteLocked();
    MaybeFinishLocked();
  }

  void MaybeWriteLocked() {
    while (!writing_) {
      auto next = by_completion_ ? ready_.begin() : ready_.find(next_write_seq_);
      if (next == ready_.end()) return;
      if (broken_ || cancelled_.load()) {
        // The client is gone: drop results in order so the stream can finish.
        ready_.erase(next);
        ++next_write_seq_;
        --in_flight_;
        continue;
      }
      outgoing_ = std::move(next->second);
      ready_.erase(next);
      writing_ = true;
      StartWrite(&outgoing_);
    }
  }

  void MaybeFinishLocked() {
    // Finish exactly once, when no callback of ours can still arrive: no read or write
    // outstanding, no request queued or running, and the client is done or gone.
    if (finished_ || writing_ || read_pending_ || in_flight_ > 0) return;
    if (!reads_done_ && !broken_ && !cancelled_.load()) return;
    finished_ = true;
    Finish(cancelled_.load() ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  SegmentationService* service_;
  grpc::CallbackServerContext* context_;
  const uint64_t stream_id_;
  const std::string client_;
  const std::chrono::steady_clock::time_point deadline_;
  v1::SegmentRequest incoming_;
  v1::SegmentResponse outgoing_;
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;
  int64_t next_read_seq_ = 0;
  int64_t next_write_seq_ = 0;
  int in_flight_ = 0;
  int64_t written_ = 0;
  std::map<int64_t, v1::SegmentResponse> ready_;  // Finished, not yet written, by sequence.
  bool by_completion_ = false;                    // Write in finishing order.
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;
  bool read_pending_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

grpc::ServerBidiReactor<v1::SegmentRequest, v1::SegmentResponse>*
SegmentationService::SegmentStream(grpc::CallbackServerContext* context) {
  return new StreamReactor(this, context, next_stream_id_.fetch_add(1));
}

}  // namespace fringe
