#include "server/server_config.h"

#include <google/protobuf/text_format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"

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
  config.set_retry_after_ms(100);
  config.set_state_dir("fringe-state");
  config.set_max_running_jobs(1);
  config.set_repository_poll_seconds(5);
  return config;
}

absl::StatusOr<v1::ServerConfig> MergeServerConfigFile(const v1::ServerConfig& base,
                                                       const std::string& path) {
  v1::ServerConfig from_file;
  FRINGE_RETURN_IF_ERROR(ReadTextProto(path, &from_file));
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
  if (config->max_queue_delay_us() < 0 || config->max_queue_delay_us() > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_delay_us is ", config->max_queue_delay_us(), "; expected 0..1000000"));
  }
  if (config->max_in_flight_per_client() < 0) {
    return absl::InvalidArgumentError("max_in_flight_per_client must be >= 0");
  }
  if (config->retry_after_ms() < 1)
    return absl::InvalidArgumentError("retry_after_ms must be >= 1");
  if (config->max_running_jobs() < 0) {
    return absl::InvalidArgumentError("max_running_jobs must be >= 0");
  }
  if (config->state_dir().empty()) return absl::InvalidArgumentError("state_dir is empty");
  if (config->training_memory_budget_mb() < 0) {
    return absl::InvalidArgumentError("training_memory_budget_mb must be >= 0");
  }
  if (config->jobs_database().empty()) {
    config->set_jobs_database(absl::StrCat("sqlite:", config->state_dir(), "/jobs.db"));
  }
  if (config->server_id().empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    std::error_code ec;
    const auto state = std::filesystem::absolute(config->state_dir(), ec);
    config->set_server_id(absl::StrCat(host, ":", ec ? config->state_dir() : state.string()));
  }
  return absl::OkStatus();
}

}  // namespace fringe
