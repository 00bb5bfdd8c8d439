// gRPC handlers for fringe.v1.Models: read-only views of the ModelRepository.
#ifndef FRINGE_SERVER_MODELS_SERVICE_H_
#define FRINGE_SERVER_MODELS_SERVICE_H_

#include "fringe/v1/models.grpc.pb.h"
#include "server/model_repository.h"

namespace fringe {

class ModelsService final : public v1::Models::CallbackService {
 public:
  // `repository` must outlive the service.
  explicit ModelsService(const ModelRepository* repository) : repository_(repository) {}

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListModelsRequest* request,
                                 v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* Describe(grpc::CallbackServerContext* context,
                                     const v1::DescribeModelRequest* request,
                                     v1::ModelDescription* response) override;

 private:
  const ModelRepository* repository_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_MODELS_SERVICE_H_
