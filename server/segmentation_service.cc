#include "server/segmentation_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/grpc_status.h"

namespace fringe {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

bool DeadlinePassed(const grpc::CallbackServerContext* context) {
  return context->deadline() < std::chrono::system_clock::now();
}

// Runs one request on a worker thread: the status, or the response with timings filled.
absl::StatusOr<v1::SegmentResponse> RunOne(const SegmentationEngine& engine,
                                           const v1::SegmentRequest& request,
                                           Clock::time_point received) {
  const double queue_ms = MsSince(received);
  auto response = engine.Segment(request);
  if (response.ok()) {
    response->mutable_timings()->set_queue_ms(queue_ms);
    response->mutable_timings()->set_total_ms(MsSince(received));
  }
  return response;
}

}  // namespace

SegmentationService::SegmentationService(const SegmentationEngine* engine, WorkerPool* pool,
                                         Options options)
    : engine_(engine), pool_(pool), options_(options) {}

grpc::ServerUnaryReactor* SegmentationService::Segment(grpc::CallbackServerContext* context,
                                                       const v1::SegmentRequest* request,
                                                       v1::SegmentResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const Clock::time_point received = Clock::now();
  const SegmentationEngine* engine = engine_;
  const bool queued = pool_->TrySubmit([=] {
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
      return;
    }
    if (DeadlinePassed(context)) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed while queued"));
      return;
    }
    auto result = RunOne(*engine, *request, received);
    if (result.ok()) {
      *response = *std::move(result);
      spdlog::debug("segment id={} model={}:{} compute_ms={:.1f}", response->id(),
                    response->model_name(), response->model_version(),
                    response->timings().compute_ms());
    } else {
      spdlog::info("segment_failed id={} code={} error=\"{}\"", request->id(),
                   absl::StatusCodeToString(result.status().code()),
                   std::string(result.status().message()));
    }
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    context->AddTrailingMetadata("retry-after-ms", std::to_string(options_.retry_after_ms));
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the inference queue is full; retry later"));
  }
  return reactor;
}

// One bidirectional stream. Requests are numbered as they arrive; results may finish in any
// order on the workers but are written strictly in arrival order, one write at a time. At
// most stream_max_in_flight requests are queued or running: beyond that the reactor stops
// reading, which pushes back on the client through gRPC flow control.
class SegmentationService::StreamReactor final
    : public grpc::ServerBidiReactor<v1::SegmentRequest, v1::SegmentResponse> {
 public:
  StreamReactor(SegmentationService* service, grpc::CallbackServerContext* context, uint64_t id)
      : service_(service), context_(context), stream_id_(id) {
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
    const Clock::time_point received = Clock::now();
    int64_t seq;
    {
      // read_pending_ stays true until the end of this reaction, so a worker finishing the
      // last result meanwhile cannot Finish (and free) the stream under our feet.
      std::lock_guard<std::mutex> lock(mu_);
      seq = next_read_seq_++;
      ++in_flight_;
    }
    const SegmentationEngine* engine = service_->engine_;
    const bool queued = service_->pool_->TrySubmit([this, engine, request, received, seq] {
      v1::SegmentResponse response;
      if (cancelled_.load()) {
        response.mutable_error()->set_code(grpc::StatusCode::CANCELLED);
      } else {
        auto result = RunOne(*engine, *request, received);
        if (result.ok()) {
          response = *std::move(result);
        } else {
          const grpc::Status status = ToGrpcStatus(result.status());
          response.mutable_error()->set_code(status.error_code());
          response.mutable_error()->set_message(status.error_message());
        }
      }
      response.set_id(request->id());
      OnResult(seq, std::move(response));
    });
    if (!queued) {
      v1::SegmentResponse response;
      response.set_id(request->id());
      response.mutable_error()->set_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
      response.mutable_error()->set_message("the inference queue is full; retry later");
      OnResult(seq, std::move(response));
    }
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

  void OnCancel() override { cancelled_.store(true); }

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
      auto next = ready_.find(next_write_seq_);
      if (next == ready_.end()) return;
      if (broken_) {
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
    if (!reads_done_ && !broken_) return;
    finished_ = true;
    Finish(cancelled_.load() ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  SegmentationService* service_;
  grpc::CallbackServerContext* context_;
  const uint64_t stream_id_;
  v1::SegmentRequest incoming_;
  v1::SegmentResponse outgoing_;
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;
  int64_t next_read_seq_ = 0;
  int64_t next_write_seq_ = 0;
  int in_flight_ = 0;
  int64_t written_ = 0;
  std::map<int64_t, v1::SegmentResponse> ready_;
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
