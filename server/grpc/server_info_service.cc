#include "server/grpc/server_info_service.h"

#include <chrono>

namespace fringe {

v1::ServerMetadata MakeServerMetadata(const v1::ServerConfig& config,
                                      const std::vector<std::string>& services) {
  v1::ServerMetadata m;
  m.set_api_version("fringe.v1");
  m.set_server_version(FRINGE_VERSION);
  m.set_server_id(config.server_id());
  m.set_device(config.device().empty() ? "cpu" : config.device());
  m.set_started_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
  m.set_max_message_bytes(config.max_message_bytes());
  m.set_max_image_pixels(config.max_image_pixels());
  m.set_workers(config.workers());
  for (const std::string& s : services) m.add_services(s);
  return m;
}

grpc::ServerUnaryReactor* ServerInfoService::GetMetadata(
    grpc::CallbackServerContext* context, const v1::GetServerMetadataRequest* /*request*/,
    v1::ServerMetadata* response) {
  *response = metadata_;
  response->set_default_model(repository_->default_model());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace fringe
