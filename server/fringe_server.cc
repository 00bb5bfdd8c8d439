#include "server/fringe_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "models/torch_models.h"

namespace fringe {

absl::StatusOr<std::unique_ptr<FringeServer>> FringeServer::Start(const v1::ServerConfig& config,
                                                                  ModelRegistry registry) {
  std::unique_ptr<FringeServer> s(new FringeServer());
  s->config_ = config;

  ModelRepository::Options repo_options;
  repo_options.root = config.repository();
  repo_options.default_model = config.default_model();
  repo_options.runtime.device = config.device().empty() ? "cpu" : config.device();
  auto repository = ModelRepository::Create(repo_options, std::move(registry));
  if (!repository.ok()) return repository.status();
  s->repository_ = *std::move(repository);

  const int intra_op = config.intra_op_threads();
  // Torch's thread count is per thread for OpenMP, so every worker sets it itself.
  s->pool_ = std::make_unique<WorkerPool>(config.workers(), config.max_queue(),
                                          [intra_op] { SetTorchIntraOpThreads(intra_op); });

  SegmentationEngine::Options engine_options;
  engine_options.max_batch = config.max_batch_size();
  engine_options.limits.max_pixels = config.max_image_pixels();
  s->engine_ = std::make_unique<SegmentationEngine>(s->repository_.get(), engine_options);

  SegmentationService::Options service_options;
  service_options.stream_max_in_flight = config.stream_max_in_flight();
  s->segmentation_service_ =
      std::make_unique<SegmentationService>(s->engine_.get(), s->pool_.get(), service_options);
  s->models_service_ = std::make_unique<ModelsService>(s->repository_.get());
  s->explanation_engine_ =
      std::make_unique<ExplanationEngine>(s->repository_.get(), engine_options.limits);
  s->explain_service_ =
      std::make_unique<ExplainService>(s->explanation_engine_.get(), s->pool_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen(), grpc::InsecureServerCredentials(), &s->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<int64_t>(config.max_message_bytes(), std::numeric_limits<int>::max())));
  builder.SetMaxSendMessageSize(static_cast<int>(
      std::min<int64_t>(config.max_message_bytes(), std::numeric_limits<int>::max())));
  builder.RegisterService(s->segmentation_service_.get());
  builder.RegisterService(s->models_service_.get());
  builder.RegisterService(s->explain_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen()));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(false);
  spdlog::info("listening address={} port={} workers={} intra_op_threads={}", config.listen(),
               s->port_, config.workers(), intra_op);
  return s;
}

FringeServer::~FringeServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::Status FringeServer::LoadModels() {
  if (absl::Status s = repository_->LoadAll(); !s.ok()) return s;
  server_->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("serving default_model={}", repository_->default_model());
  return absl::OkStatus();
}

void FringeServer::Shutdown(std::chrono::milliseconds drain) {
  if (shut_down_) return;
  shut_down_ = true;
  spdlog::info("shutting_down drain_ms={}", drain.count());
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Blocks until every call has finished or the deadline has cancelled it; the workers keep
  // running meanwhile so in-flight streams can complete.
  server_->Shutdown(std::chrono::system_clock::now() + drain);
  pool_->Shutdown();
  spdlog::info("shut_down");
}

}  // namespace fringe
