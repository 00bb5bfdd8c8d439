#include "server/models_service.h"

#include <spdlog/spdlog.h>

#include "server/grpc_status.h"

namespace fringe {

// Both views only copy metadata under the repository's lock, so they answer inline.
grpc::ServerUnaryReactor* ModelsService::List(grpc::CallbackServerContext* context,
                                              const v1::ListModelsRequest* /*request*/,
                                              v1::ListModelsResponse* response) {
  *response = repository_->List();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ModelsService::Describe(grpc::CallbackServerContext* context,
                                                  const v1::DescribeModelRequest* request,
                                                  v1::ModelDescription* response) {
  auto description = repository_->Describe(request->name(), request->version());
  if (description.ok()) *response = *std::move(description);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(description.status()));
  return reactor;
}

grpc::ServerUnaryReactor* ModelsService::RunInBackground(grpc::CallbackServerContext* context,
                                                         const v1::ModelVersionRequest* request,
                                                         v1::ModelDescription* response,
                                                         const char* what, Operation op) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = background_.Submit([=, op = std::move(op)] {
    auto result = op(*request);
    if (result.ok()) {
      *response = *std::move(result);
    } else {
      spdlog::warn("models_{}_failed name={} version={} error=\"{}\"", what, request->name(),
                   request->version(), std::string(result.status().message()));
    }
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* ModelsService::Load(grpc::CallbackServerContext* context,
                                              const v1::ModelVersionRequest* request,
                                              v1::ModelDescription* response) {
  return RunInBackground(context, request, response, "load", [this](const auto& r) {
    return repository_->Load(r.name(), r.version());
  });
}

grpc::ServerUnaryReactor* ModelsService::Unload(grpc::CallbackServerContext* context,
                                                const v1::ModelVersionRequest* request,
                                                v1::ModelDescription* response) {
  return RunInBackground(context, request, response, "unload", [this](const auto& r) {
    return repository_->Unload(r.name(), r.version());
  });
}

grpc::ServerUnaryReactor* ModelsService::Promote(grpc::CallbackServerContext* context,
                                                 const v1::ModelVersionRequest* request,
                                                 v1::ModelDescription* response) {
  return RunInBackground(context, request, response, "promote", [this](const auto& r) {
    return repository_->Promote(r.name(), r.version());
  });
}

grpc::ServerUnaryReactor* ModelsService::Rollback(grpc::CallbackServerContext* context,
                                                  const v1::ModelVersionRequest* request,
                                                  v1::ModelDescription* response) {
  return RunInBackground(context, request, response, "rollback",
                         [this](const auto& r) { return repository_->Rollback(r.name()); });
}

}  // namespace fringe
