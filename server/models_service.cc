#include "server/models_service.h"

#include "server/grpc_status.h"

namespace fringe {

// Both handlers only copy metadata under the repository's lock, so they answer inline.
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

}  // namespace fringe
