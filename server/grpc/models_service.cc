#include "server/grpc/models_service.h"

#include "base/status_macros.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/scheduled_call.h"
#include "server/paging.h"

namespace fringe {

// Both views only copy metadata under the repository's lock, so they answer inline.
grpc::ServerUnaryReactor* ModelsService::List(grpc::CallbackServerContext* context,
                                              const v1::ListModelsRequest* request,
                                              v1::ListModelsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto page_size = paging::PageSize(request->page_size(), paging::kMaxPageSize);
  if (!page_size.ok()) {
    reactor->Finish(ToGrpcStatus(page_size.status()));
    return reactor;
  }
  *response = repository_->List();  // By name.
  std::vector<std::string> names;
  for (const v1::ModelDescription& m : response->models()) names.push_back(m.name());
  const paging::Page page = paging::NamePage(names, request->page_token(), *page_size);
  auto* models = response->mutable_models();
  models->DeleteSubrange(static_cast<int>(page.end), models->size() - static_cast<int>(page.end));
  models->DeleteSubrange(0, static_cast<int>(page.begin));
  response->set_next_page_token(page.next_token);
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

grpc::ServerUnaryReactor* ModelsService::Lifecycle(grpc::CallbackServerContext* context,
                                                   v1::ModelDescription* response, const char* what,
                                                   Operation op) {
  return FinishInBackground(&background_, context, what,
                            [response, op = std::move(op)]() -> absl::Status {
                              FRINGE_ASSIGN_OR_RETURN(*response, op());
                              return absl::OkStatus();
                            });
}

grpc::ServerUnaryReactor* ModelsService::Load(grpc::CallbackServerContext* context,
                                              const v1::ModelVersionRequest* request,
                                              v1::ModelDescription* response) {
  return Lifecycle(context, response, "models_load", [this, request] {
    return repository_->Load(request->name(), request->version());
  });
}

grpc::ServerUnaryReactor* ModelsService::Unload(grpc::CallbackServerContext* context,
                                                const v1::ModelVersionRequest* request,
                                                v1::ModelDescription* response) {
  return Lifecycle(context, response, "models_unload", [this, request] {
    return repository_->Unload(request->name(), request->version());
  });
}

grpc::ServerUnaryReactor* ModelsService::Promote(grpc::CallbackServerContext* context,
                                                 const v1::ModelVersionRequest* request,
                                                 v1::ModelDescription* response) {
  return Lifecycle(context, response, "models_promote", [this, request] {
    return repository_->Promote(request->name(), request->version());
  });
}

grpc::ServerUnaryReactor* ModelsService::Rollback(grpc::CallbackServerContext* context,
                                                  const v1::ModelVersionRequest* request,
                                                  v1::ModelDescription* response) {
  return Lifecycle(context, response, "models_rollback",
                   [this, request] { return repository_->Rollback(request->name()); });
}

}  // namespace fringe
