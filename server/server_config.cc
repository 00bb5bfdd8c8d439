#include "server/server_config.h"

#include <google/protobuf/text_format.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace fringe {

v1::ServerConfig DefaultServerConfig() {
  v1::ServerConfig config;
  config.set_listen("127.0.0.1:50051");
  config.set_repository("models/repository");
  config.set_workers(1);
  config.set_max_message_bytes(int64_t{256} << 20);
  config.set_max_batch_size(4);
  config.set_stream_max_in_flight(16);
  config.set_max_queue(1024);
  config.set_metrics_listen("127.0.0.1:9464");
  config.set_max_image_pixels(int64_t{8192} * 8192);
  config.set_device("cpu");
  return config;
}

absl::StatusOr<v1::ServerConfig> MergeServerConfigFile(const v1::ServerConfig& base,
                                                       const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  v1::ServerConfig from_file;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &from_file)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a valid text-format fringe.v1.ServerConfig"));
  }
  v1::ServerConfig merged = base;
  merged.MergeFrom(from_file);  // proto3 scalars: only non-default file values override.
  return merged;
}

absl::Status FinalizeServerConfig(v1::ServerConfig* config) {
  if (config->workers() < 1 || config->workers() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers is ", config->workers(), "; expected 1..256"));
  }
  if (config->intra_op_threads() == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    config->set_intra_op_threads(std::max(1, cores / config->workers()));
  }
  if (config->intra_op_threads() < 1) {
    return absl::InvalidArgumentError("intra_op_threads must be >= 1");
  }
  if (config->max_message_bytes() < (1 << 20)) {
    return absl::InvalidArgumentError("max_message_bytes must be at least 1 MiB");
  }
  if (config->max_batch_size() < 1)
    return absl::InvalidArgumentError("max_batch_size must be >= 1");
  if (config->stream_max_in_flight() < 1) {
    return absl::InvalidArgumentError("stream_max_in_flight must be >= 1");
  }
  if (config->max_queue() < 1) return absl::InvalidArgumentError("max_queue must be >= 1");
  if (config->listen().empty()) return absl::InvalidArgumentError("listen is empty");
  return absl::OkStatus();
}

}  // namespace fringe
