#include "server/explain_service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "server/scheduled_call.h"

namespace fringe {
namespace {

using Clock = std::chrono::steady_clock;

// One queued Explain call; answers it exactly once, run or dropped.
class ExplainWork final : public ScheduledWork {
 public:
  ExplainWork(ExplanationEngine* engine, ServerMetrics* metrics,
              grpc::CallbackServerContext* context, ScheduledUnaryReactor* reactor,
              const v1::ExplainRequest* request, v1::ExplainResponse* response)
      : engine_(engine),
        metrics_(metrics),
        context_(context),
        reactor_(reactor),
        request_(request),
        response_(response),
        received_(Clock::now()) {}

  void Run() {
    auto result = engine_->Explain(*request_);
    if (result.ok()) {
      *response_ = *std::move(result);
      spdlog::info("explain id={} model={}:{} method={} compute_ms={:.1f}", response_->id(),
                   response_->model_name(), response_->model_version(), response_->method(),
                   response_->compute_ms());
      if (metrics_ != nullptr) {
        metrics_->ObserveComputeSeconds("Explain", response_->model_name(),
                                        response_->compute_ms() / 1000);
      }
    }
    Answer(result.status());
  }

  void Drop(const absl::Status& reason) override { Answer(reason); }

 private:
  void Answer(const absl::Status& status) {
    if (!status.ok()) {
      spdlog::info("explain_failed id={} code={} error=\"{}\"", request_->id(),
                   absl::StatusCodeToString(status.code()), std::string(status.message()));
    }
    if (metrics_ != nullptr) {
      metrics_->RecordRequest("Explain",
                              status.ok() ? response_->model_name() : request_->model().name(),
                              status.ok() ? absl::StrCat(response_->model_version()) : "",
                              absl::StatusCodeToString(status.code()),
                              std::chrono::duration<double>(Clock::now() - received_).count());
    }
    reactor_->Finish(ToGrpcStatus(status));
  }

  ExplanationEngine* engine_;
  ServerMetrics* metrics_;
  grpc::CallbackServerContext* context_;
  ScheduledUnaryReactor* reactor_;
  const v1::ExplainRequest* request_;
  v1::ExplainResponse* response_;
  const Clock::time_point received_;
};

}  // namespace

grpc::ServerUnaryReactor* ExplainService::Explain(grpc::CallbackServerContext* context,
                                                  const v1::ExplainRequest* request,
                                                  v1::ExplainResponse* response) {
  auto* reactor = new ScheduledUnaryReactor(scheduler_);
  WorkInfo info;
  info.work_class = WorkClass::kExplain;
  info.client = ClientOf(request->client_id(), context);
  info.deadline = SteadyDeadline(context);
  info.model = request->model().name();
  auto work = std::make_unique<ExplainWork>(engine_, metrics_, context, reactor, request, response);
  // Explanations run one at a time: each needs its own backward pass, nothing to share.
  auto ticket = scheduler_->Submit(info, std::move(work), [](WorkBatch& batch) {
    for (auto& w : batch) static_cast<ExplainWork*>(w.get())->Run();
  });
  if (ticket.ok()) reactor->SetTicket(*ticket);
  return reactor;
}

}  // namespace fringe
