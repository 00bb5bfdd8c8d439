#include "server/grpc/fringe_server.h"

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

  s->metrics_ = std::make_unique<ServerMetrics>();
  if (config.metrics_listen() != "off" && !config.metrics_listen().empty()) {
    auto http = MetricsHttpServer::Start(config.metrics_listen(), s->metrics_.get());
    if (!http.ok()) return http.status();
    s->metrics_http_ = *std::move(http);
  }

  const int intra_op = config.intra_op_threads();
  Scheduler::Options scheduling;
  scheduling.workers = config.workers();
  scheduling.max_batch = config.max_batch_size();
  scheduling.max_queue_delay = std::chrono::microseconds(config.max_queue_delay_us());
  scheduling.max_queue_per_class = static_cast<size_t>(config.max_queue());
  scheduling.max_in_flight_per_client = config.max_in_flight_per_client();
  scheduling.retry_after = std::chrono::milliseconds(config.retry_after_ms());
  // Torch's thread count is per thread for OpenMP, so every worker sets it itself.
  scheduling.on_thread_start = [intra_op] { SetTorchIntraOpThreads(intra_op); };
  scheduling.metrics = s->metrics_.get();
  s->scheduler_ = std::make_unique<Scheduler>(scheduling);

  SegmentationEngine::Options engine_options;
  engine_options.max_batch = config.max_batch_size();
  engine_options.limits.max_pixels = config.max_image_pixels();
  s->explanation_engine_ =
      std::make_unique<ExplanationEngine>(s->repository_.get(), engine_options.limits);
  s->engine_ = std::make_unique<SegmentationEngine>(s->repository_.get(), engine_options,
                                                    s->explanation_engine_.get());
  s->request_queue_ = std::make_unique<RequestQueue>(s->engine_.get(), s->explanation_engine_.get(),
                                                     s->scheduler_.get(), s->metrics_.get());

  SegmentationService::Options service_options;
  service_options.stream_max_in_flight = config.stream_max_in_flight();
  s->segmentation_service_ =
      std::make_unique<SegmentationService>(s->request_queue_.get(), service_options);
  s->models_service_ = std::make_unique<ModelsService>(s->repository_.get());
  s->explain_service_ = std::make_unique<ExplainService>(s->request_queue_.get());

  auto store = OpenJobStore(config.jobs_database());
  if (!store.ok()) return store.status();
  s->job_store_ = *std::move(store);
  s->dataset_store_ = std::make_unique<DatasetStore>(config.state_dir());
  JobPaths paths;
  paths.state_dir = config.state_dir();
  paths.repository_root = config.repository();
  paths.threads = config.training_threads() > 0 ? config.training_threads() : intra_op;
  // Watch streams see a change within this interval (a job reports progress every few
  // seconds at most, so 250 ms is prompt without loading a shared database).
  s->job_watcher_ =
      std::make_unique<JobWatcher>(s->job_store_.get(), std::chrono::milliseconds(250));
  s->jobs_service_ = std::make_unique<JobsService>(s->job_store_.get(), s->job_watcher_.get(),
                                                   s->repository_.get(), paths);
  s->datasets_service_ = std::make_unique<DatasetsService>(s->dataset_store_.get());
  JobRunner::Options runner;
  runner.server_id = config.server_id();
  runner.paths = paths;
  runner.max_running = config.max_running_jobs();
  runner.memory_budget_bytes = config.training_memory_budget_mb() << 20;
  runner.device = repo_options.runtime.device;
  s->job_runner_ = std::make_unique<JobRunner>(s->job_store_.get(), s->scheduler_.get(),
                                               s->repository_.get(), s->metrics_.get(), runner);
  JobStore* job_store = s->job_store_.get();
  ServerMetrics* metrics = s->metrics_.get();
  s->metrics_->AddScrapeHook([job_store, metrics] {
    // Counts by state from the queue itself (shared with other servers when on PostgreSQL).
    for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                           JobState::kFailed, JobState::kCancelled}) {
      JobFilter filter;
      filter.state = state;
      filter.limit = 0;
      auto jobs = job_store->List(filter);
      if (jobs.ok()) metrics->SetJobs(std::string(JobStateName(state)), jobs->size());
    }
  });

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
  builder.RegisterService(s->jobs_service_.get());
  builder.RegisterService(s->datasets_service_.get());
  s->server_info_service_ = std::make_unique<ServerInfoService>(
      MakeServerMetadata(config, {"fringe.v1.Segmentation", "fringe.v1.Models", "fringe.v1.Explain",
                                  "fringe.v1.Jobs", "fringe.v1.Datasets", "fringe.v1.Server",
                                  "grpc.health.v1.Health"}),
      s->repository_.get());
  builder.RegisterService(s->server_info_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen()));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(false);
  spdlog::info("listening address={} port={} metrics_port={} workers={} intra_op_threads={}",
               config.listen(), s->port_, s->metrics_port(), config.workers(), intra_op);
  return s;
}

FringeServer::~FringeServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::Status FringeServer::LoadModels() {
  if (absl::Status s = repository_->LoadAll(); !s.ok()) return s;
  // Unloaded or replaced versions take their cached explainers with them.
  repository_->SetOnChange([this] {
    explanation_engine_->DropUnloaded();
    UpdateModelMetrics();
  });
  UpdateModelMetrics();
  if (config_.repository_poll_seconds() > 0) {
    repository_->StartWatching(std::chrono::seconds(config_.repository_poll_seconds()));
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  spdlog::info("serving default_model={}", repository_->default_model());
  if (absl::Status s = job_runner_->Start(); !s.ok()) return s;
  return absl::OkStatus();
}

void FringeServer::UpdateModelMetrics() {
  std::map<v1::ModelState, int64_t> counts;
  const v1::ListModelsResponse list = repository_->List();  // Outlives the loop.
  for (const auto& model : list.models()) {
    for (const auto& version : model.versions()) ++counts[version.state()];
  }
  for (v1::ModelState state : {v1::MODEL_STATE_READY, v1::MODEL_STATE_FAILED,
                               v1::MODEL_STATE_UNLOADED, v1::MODEL_STATE_LOADING}) {
    std::string name = v1::ModelState_Name(state).substr(std::string("MODEL_STATE_").size());
    metrics_->SetModelVersions(name, counts[state]);
  }
}

void FringeServer::Shutdown(std::chrono::milliseconds drain) {
  if (shut_down_) return;
  shut_down_ = true;
  // Start() may have failed half-way: stop only what exists.
  if (server_) {
    spdlog::info("shutting_down drain_ms={}", drain.count());
    server_->GetHealthCheckService()->SetServingStatus(false);
    // Blocks until every call has finished or the deadline has cancelled it; the workers keep
    // running meanwhile so in-flight streams can complete.
    server_->Shutdown(std::chrono::system_clock::now() + drain);
  }
  // Running jobs checkpoint and keep their claim: the next start resumes them.
  if (job_runner_) job_runner_->Stop();
  if (scheduler_) scheduler_->Shutdown();
  // Scrapes read the job store, which goes before the metrics server otherwise would.
  metrics_http_.reset();
  if (server_) spdlog::info("shut_down");
}

}  // namespace fringe
