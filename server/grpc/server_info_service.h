// gRPC handler for fringe.v1.Server: the server's metadata, fixed at start-up except for the
// default model (read from the repository on each call). Answered inline: nothing blocks.
#ifndef FRINGE_SERVER_GRPC_SERVER_INFO_SERVICE_H_
#define FRINGE_SERVER_GRPC_SERVER_INFO_SERVICE_H_

#include "fringe/v1/server.grpc.pb.h"
#include "fringe/v1/server_config.pb.h"
#include "server/model_repository.h"

namespace fringe {

// The metadata a server with `config` (finalised) answering `services` reports.
v1::ServerMetadata MakeServerMetadata(const v1::ServerConfig& config,
                                      const std::vector<std::string>& services);

class ServerInfoService final : public v1::Server::CallbackService {
 public:
  // `repository` must outlive the service.
  ServerInfoService(v1::ServerMetadata metadata, const ModelRepository* repository)
      : metadata_(std::move(metadata)), repository_(repository) {}

  grpc::ServerUnaryReactor* GetMetadata(grpc::CallbackServerContext* context,
                                        const v1::GetServerMetadataRequest* request,
                                        v1::ServerMetadata* response) override;

 private:
  const v1::ServerMetadata metadata_;
  const ModelRepository* repository_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_SERVER_INFO_SERVICE_H_
