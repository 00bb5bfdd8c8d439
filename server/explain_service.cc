#include "server/explain_service.h"

#include <spdlog/spdlog.h>

#include "server/grpc_status.h"

namespace fringe {

grpc::ServerUnaryReactor* ExplainService::Explain(grpc::CallbackServerContext* context,
                                                  const v1::ExplainRequest* request,
                                                  v1::ExplainResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ExplanationEngine* engine = engine_;
  const bool queued = pool_->TrySubmit([=] {
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
      return;
    }
    auto result = engine->Explain(*request);
    if (result.ok()) {
      *response = *std::move(result);
      spdlog::info("explain id={} model={}:{} method={} compute_ms={:.1f}", response->id(),
                   response->model_name(), response->model_version(), response->method(),
                   response->compute_ms());
    } else {
      spdlog::info("explain_failed id={} error=\"{}\"", request->id(),
                   std::string(result.status().message()));
    }
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    context->AddTrailingMetadata("retry-after-ms", "500");
    reactor->Finish(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the work queue is full; retry later"));
  }
  return reactor;
}

}  // namespace fringe
