// Wires the core objects (repository, scheduler, engines, metrics) to a gRPC server with health,
// reflection and the fringe.v1 services, and shuts it down gracefully.
#ifndef FRINGE_SERVER_GRPC_FRINGE_SERVER_H_
#define FRINGE_SERVER_GRPC_FRINGE_SERVER_H_

#include <grpcpp/server.h>

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "fringe/v1/server_config.pb.h"
#include "models/model_registry.h"
#include "server/dataset_store.h"
#include "server/explanation_engine.h"
#include "server/grpc/datasets_service.h"
#include "server/grpc/explain_service.h"
#include "server/grpc/jobs_service.h"
#include "server/grpc/models_service.h"
#include "server/grpc/segmentation_service.h"
#include "server/grpc/server_info_service.h"
#include "server/job_runner.h"
#include "server/job_watcher.h"
#include "server/jobs/job_store.h"
#include "server/model_repository.h"
#include "server/request_queue.h"
#include "server/scheduler.h"
#include "server/segmentation_engine.h"
#include "server/server_metrics.h"

namespace fringe {

class FringeServer {
 public:
  // Builds everything and starts listening with health NOT_SERVING; models are not loaded
  // yet (call LoadModels). UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<FringeServer>> Start(const v1::ServerConfig& config,
                                                             ModelRegistry registry);
  ~FringeServer();

  // Loads and warms up every model version, reports SERVING and starts running training
  // jobs. On error the server keeps running NOT_SERVING and the caller decides to shut down.
  absl::Status LoadModels();

  // The bound port (useful with port 0).
  int port() const { return port_; }
  // The bound /metrics port, 0 when metrics are off.
  int metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }

  // Reports NOT_SERVING, stops accepting calls, lets in-flight calls finish for up to
  // `drain`, cancels what is left, then drains the worker queue. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

 private:
  FringeServer() = default;
  void UpdateModelMetrics();

  v1::ServerConfig config_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ExplanationEngine> explanation_engine_;
  std::unique_ptr<SegmentationEngine> engine_;   // Uses explanation_engine_.
  std::unique_ptr<RequestQueue> request_queue_;  // Uses both engines and the scheduler.
  std::unique_ptr<SegmentationService> segmentation_service_;
  std::unique_ptr<ModelsService> models_service_;
  std::unique_ptr<ExplainService> explain_service_;
  std::unique_ptr<JobStore> job_store_;
  std::unique_ptr<DatasetStore> dataset_store_;
  std::unique_ptr<JobRunner> job_runner_;
  std::unique_ptr<JobWatcher> job_watcher_;  // Before jobs_service_: its watches use it.
  std::unique_ptr<JobsService> jobs_service_;
  std::unique_ptr<DatasetsService> datasets_service_;
  std::unique_ptr<ServerInfoService> server_info_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_FRINGE_SERVER_H_
