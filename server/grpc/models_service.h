// gRPC handlers for fringe.v1.Models: views of the ModelRepository (answered inline) and its
// lifecycle operations (run on one background thread: loading a version takes seconds and a
// reaction must never block).
#ifndef FRINGE_SERVER_GRPC_MODELS_SERVICE_H_
#define FRINGE_SERVER_GRPC_MODELS_SERVICE_H_

#include <functional>

#include "fringe/v1/models.grpc.pb.h"
#include "server/model_repository.h"
#include "server/serial_executor.h"

namespace fringe {

class ModelsService final : public v1::Models::CallbackService {
 public:
  // `repository` must outlive the service.
  explicit ModelsService(ModelRepository* repository) : repository_(repository) {}

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListModelsRequest* request,
                                 v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* Describe(grpc::CallbackServerContext* context,
                                     const v1::DescribeModelRequest* request,
                                     v1::ModelDescription* response) override;
  grpc::ServerUnaryReactor* Load(grpc::CallbackServerContext* context,
                                 const v1::ModelVersionRequest* request,
                                 v1::ModelDescription* response) override;
  grpc::ServerUnaryReactor* Unload(grpc::CallbackServerContext* context,
                                   const v1::ModelVersionRequest* request,
                                   v1::ModelDescription* response) override;
  grpc::ServerUnaryReactor* Promote(grpc::CallbackServerContext* context,
                                    const v1::ModelVersionRequest* request,
                                    v1::ModelDescription* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* context,
                                     const v1::ModelVersionRequest* request,
                                     v1::ModelDescription* response) override;

 private:
  using Operation = std::function<absl::StatusOr<v1::ModelDescription>()>;
  // Runs a lifecycle operation on background_ and answers with its description.
  grpc::ServerUnaryReactor* Lifecycle(grpc::CallbackServerContext* context,
                                      v1::ModelDescription* response, const char* what,
                                      Operation op);

  ModelRepository* repository_;
  SerialExecutor background_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_MODELS_SERVICE_H_
