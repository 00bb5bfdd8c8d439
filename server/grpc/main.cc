// fringe-server: serves the models of a repository over gRPC.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/logging.h"
#include "models/model_registry.h"
#include "models/torch_models.h"
#include "server/grpc/fringe_server.h"
#include "server/server_config.h"

namespace {

// Writes the bound port so tests and scripts can use --listen host:0.
bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!(out << port << "\n")) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fringe-server: HRTEM segmentation over gRPC (fringe.v1)"};
  std::string config_path, listen, repository, default_model, device, port_file;
  std::string log_level = "info", metrics_listen, metrics_port_file, state_dir, jobs_database,
              server_id;
  int workers = 0, intra_op_threads = 0;
  double max_message_mb = 0, drain_seconds = 30;
  app.add_option("--config", config_path, "Text-format fringe.v1.ServerConfig file");
  app.add_option("--repository", repository, "Model repository directory [models/repository]");
  app.add_option("--listen", listen, "gRPC address HOST:PORT; port 0 picks one [127.0.0.1:50051]");
  CLI::Option* workers_flag = app.add_option("--workers", workers, "Inference worker threads [1]");
  CLI::Option* intra_flag = app.add_option("--intra-op-threads", intra_op_threads,
                                           "LibTorch threads per worker [cores / workers]");
  app.add_option("--default-model", default_model, "Model used when a request names none");
  app.add_option("--device", device, "cpu or cuda:N [cpu]");
  app.add_option("--max-message-mb", max_message_mb, "gRPC message size limit in MiB [256]");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics HOST:PORT; port 0 picks one; off disables [127.0.0.1:9464]");
  app.add_option("--port-file", port_file, "Write the bound port to this file once listening");
  app.add_option("--metrics-port-file", metrics_port_file,
                 "Write the bound /metrics port to this file once listening");
  int max_queue_delay_us = -1, max_in_flight_per_client = -1, repository_poll_seconds = 0;
  CLI::Option* delay_flag = app.add_option("--max-queue-delay-us", max_queue_delay_us,
                                           "Dynamic batching: wait for a batch to fill [0]");
  CLI::Option* client_flag =
      app.add_option("--max-in-flight-per-client", max_in_flight_per_client,
                     "Queued + running requests per client; 0 = no limit [0]");
  CLI::Option* poll_flag = app.add_option("--repository-poll-seconds", repository_poll_seconds,
                                          "Scan the repository for new versions; < 0 = off [5]");
  app.add_option("--state-dir", state_dir, "Job checkpoints and uploaded datasets [fringe-state]");
  app.add_option("--jobs-database", jobs_database,
                 "sqlite:PATH or postgresql://... [sqlite:<state-dir>/jobs.db]");
  app.add_option("--server-id", server_id, "This server's name in a shared job queue");
  int training_threads = 0;
  app.add_option("--training-threads", training_threads,
                 "LibTorch threads of a training job [--intra-op-threads]");
  int64_t training_memory_budget_mb = -1;
  CLI::Option* budget_flag =
      app.add_option("--training-memory-budget-mb", training_memory_budget_mb,
                     "Training stops before the process exceeds this resident size; 0 = none [0]");
  app.add_option("--drain-seconds", drain_seconds,
                 "On SIGTERM/SIGINT, how long in-flight calls may finish [30]");
  app.add_option("--log-level", log_level, "debug, info, warn or error [info]");
  CLI11_PARSE(app, argc, argv);

  fringe::ConfigureLogging(log_level);
  fringe::v1::ServerConfig config = fringe::DefaultServerConfig();
  if (!config_path.empty()) {
    auto merged = fringe::MergeServerConfigFile(config, config_path);
    if (!merged.ok()) {
      spdlog::error("config_error error=\"{}\"", std::string(merged.status().message()));
      return 2;
    }
    config = *merged;
  }
  if (!listen.empty()) config.set_listen(listen);
  if (!repository.empty()) config.set_repository(repository);
  // Given flags always override, so a bad value is reported rather than ignored.
  if (workers_flag->count() > 0) config.set_workers(workers);
  if (intra_flag->count() > 0) {
    if (intra_op_threads < 1) {
      spdlog::error("config_error error=\"--intra-op-threads must be >= 1\"");
      return 2;
    }
    config.set_intra_op_threads(intra_op_threads);
  }
  if (!default_model.empty()) config.set_default_model(default_model);
  if (!device.empty()) config.set_device(device);
  if (max_message_mb > 0)
    config.set_max_message_bytes(static_cast<int64_t>(max_message_mb * (1 << 20)));
  if (!metrics_listen.empty()) config.set_metrics_listen(metrics_listen);
  if (delay_flag->count() > 0) config.set_max_queue_delay_us(max_queue_delay_us);
  if (client_flag->count() > 0) config.set_max_in_flight_per_client(max_in_flight_per_client);
  if (poll_flag->count() > 0) config.set_repository_poll_seconds(repository_poll_seconds);
  if (!state_dir.empty()) config.set_state_dir(state_dir);
  if (!jobs_database.empty()) config.set_jobs_database(jobs_database);
  if (!server_id.empty()) config.set_server_id(server_id);
  if (budget_flag->count() > 0) config.set_training_memory_budget_mb(training_memory_budget_mb);
  if (training_threads > 0) config.set_training_threads(training_threads);
  if (absl::Status s = fringe::FinalizeServerConfig(&config); !s.ok()) {
    spdlog::error("config_error error=\"{}\"", std::string(s.message()));
    return 2;
  }

  // Block the shutdown signals in every thread (threads inherit the mask) and take them
  // synchronously with sigwait below: no async-signal-safety concerns.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  fringe::SetTorchIntraOpThreads(config.intra_op_threads());
  auto server = fringe::FringeServer::Start(config, fringe::ModelRegistry::WithBuiltins());
  if (!server.ok()) {
    spdlog::error("start_failed error=\"{}\"", std::string(server.status().message()));
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) {
    spdlog::error("port_file_failed path={}", port_file);
    return 1;
  }
  if (!metrics_port_file.empty() && !WritePortFile(metrics_port_file, (*server)->metrics_port())) {
    spdlog::error("port_file_failed path={}", metrics_port_file);
    return 1;
  }

  std::atomic<int> exit_code{0};
  std::thread loader([&] {
    if (absl::Status s = (*server)->LoadModels(); !s.ok()) {
      spdlog::error("load_failed error=\"{}\"", std::string(s.message()));
      exit_code = 1;
      kill(getpid(), SIGTERM);
    }
  });

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal_received signal={}", received == SIGTERM ? "SIGTERM" : "SIGINT");
  loader.join();
  (*server)->Shutdown(std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000)));
  return exit_code.load();
}
