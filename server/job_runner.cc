#include "server/job_runner.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "base/process_memory.h"
#include "base/safe_name.h"
#include "base/status_macros.h"
#include "models/torch_models.h"
#include "server/dataset_store.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace fringe {
namespace fs = std::filesystem;

absl::StatusOr<v1::TrainConfig> ResolveJobConfig(const v1::TrainingJobSpec& spec,
                                                 const std::string& job_id, const JobPaths& paths,
                                                 const ModelRepository& repository) {
  v1::TrainConfig config = spec.config();
  const std::string name = !spec.output_name().empty()     ? spec.output_name()
                           : !config.output_name().empty() ? config.output_name()
                                                           : "retrained";
  if (!IsSafeName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("output_name \"", name, "\": use letters, digits, '-', '_', '.'"));
  }
  config.set_output_name(name);
  config.set_output_repository(paths.repository_root);
  config.set_checkpoint_dir((fs::path(paths.state_dir) / "jobs" / job_id / "checkpoints").string());
  config.set_threads(paths.threads);
  if (!spec.dataset().empty()) {
    if (!IsSafeName(spec.dataset())) {
      return absl::InvalidArgumentError(absl::StrCat("bad dataset name \"", spec.dataset(), "\""));
    }
    const fs::path dir = fs::path(paths.state_dir) / "datasets" / spec.dataset();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat("no dataset \"", spec.dataset(),
                                              "\" on this server (Datasets.Upload it first)"));
    }
    config.mutable_labelled()->set_path(dir.string());
  } else if (!config.labelled().path().empty()) {
    // Server-side training reads only uploaded datasets, never arbitrary server paths.
    return absl::InvalidArgumentError(
        "config.labelled.path is not allowed in a job; upload the data and name it in dataset");
  }
  // A client never names a file on the server: pretrained weights come from the operator's
  // folder by name, so a job cannot make the server open (and train on) an arbitrary path.
  if (!config.vgg16_weights().empty()) {
    return absl::InvalidArgumentError(
        "config.vgg16_weights is a path on the server and is not allowed in a job; put the "
        "weights in the server's <state_dir>/pretrained/ and name the file in "
        "pretrained_weights");
  }
  if (!spec.pretrained_weights().empty()) {
    if (!IsSafeName(spec.pretrained_weights())) {
      return absl::InvalidArgumentError(absl::StrCat("pretrained_weights \"",
                                                     spec.pretrained_weights(),
                                                     "\": use letters, digits, '-', '_', '.'"));
    }
    const fs::path file = fs::path(paths.state_dir) / "pretrained" / spec.pretrained_weights();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      return absl::NotFoundError(absl::StrCat("no pretrained weights \"", spec.pretrained_weights(),
                                              "\" in this server's pretrained folder"));
    }
    config.set_vgg16_weights(file.string());
  }
  if (!spec.init_from().name().empty()) {
    FRINGE_ASSIGN_OR_RETURN(ServableModel start,
                            repository.Get(spec.init_from().name(), spec.init_from().version()));
    config.set_init_from(start.version_dir);
  } else if (!config.init_from().empty()) {
    return absl::InvalidArgumentError(
        "config.init_from is not allowed in a job; name a served model in init_from");
  }
  ApplyTrainConfigDefaults(&config);
  FRINGE_RETURN_IF_ERROR(ValidateTrainConfig(config));
  return config;
}

JobRunner::JobRunner(JobStore* store, Scheduler* scheduler, ModelRepository* repository,
                     ServerMetrics* metrics, Options options)
    : store_(store),
      scheduler_(scheduler),
      repository_(repository),
      metrics_(metrics),
      options_(std::move(options)) {}

JobRunner::~JobRunner() { Stop(); }

absl::Status JobRunner::Start() {
  FRINGE_ASSIGN_OR_RETURN(const int released, store_->ReleaseClaims(options_.server_id));
  if (released > 0) {
    spdlog::info("jobs_released server={} count={} (resuming after a restart)", options_.server_id,
                 released);
  }
  for (int i = 0; i < options_.max_running; ++i) threads_.emplace_back([this] { Loop(); });
  return absl::OkStatus();
}

void JobRunner::Stop() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (std::atomic<bool>* stop : running_stops_) *stop = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void JobRunner::Loop() {
  SetTorchIntraOpThreads(options_.paths.threads);
  while (!stopping_) {
    auto claimed = store_->ClaimNext(options_.server_id, options_.lease);
    if (!claimed.ok()) {
      spdlog::warn("jobs_claim_failed error=\"{}\"", std::string(claimed.status().message()));
    } else if (claimed->has_value()) {
      Run(**std::move(claimed));
      continue;
    }
    // Nothing to do: look again shortly (another server may submit into a shared store).
    for (auto waited = std::chrono::milliseconds(0); waited < options_.poll && !stopping_;
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void JobRunner::Run(JobRecord job) {
  const auto fail = [&](const absl::Status& status) {
    spdlog::warn("job_failed id={} error=\"{}\"", job.id, std::string(status.message()));
    store_->Finish(job.id, options_.server_id, JobState::kFailed, "", std::string(status.message()))
        .IgnoreError();
  };
  v1::TrainingJobSpec spec;
  if (!spec.ParseFromString(job.spec)) return fail(absl::DataLossError("unreadable job spec"));
  auto config = ResolveJobConfig(spec, job.id, options_.paths, *repository_);
  if (!config.ok()) return fail(config.status());
  spdlog::info("job_started id={} attempt={} steps={} output={}", job.id, job.attempts,
               config->steps(), config->output_name());

  // The trainer stops at its next step when any of these become true.
  std::atomic<bool> stop{false};
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    if (stopping_) return;  // Claimed just as the server stopped: the next start resumes it.
    running_stops_.insert(&stop);
  }
  struct Unregister {
    JobRunner* runner;
    std::atomic<bool>* stop;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(runner->runs_mu_);
      runner->running_stops_.erase(stop);
    }
  } unregister{this, &stop};
  std::atomic<bool> cancelled{false}, lost{false};
  std::mutex mu;
  std::condition_variable cv;
  v1::JobProgress latest;
  if (!job.progress.empty()) latest.ParseFromString(job.progress);
  bool done = false;

  // Heartbeats keep the claim alive even while training waits for the device.
  std::thread heartbeat([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, options_.lease / 3, [&] { return done; })) {
      const std::string progress = latest.SerializeAsString();
      lock.unlock();
      auto record = store_->Heartbeat(job.id, options_.server_id, progress, options_.lease);
      lock.lock();
      if (!record.ok() && record.status().code() == absl::StatusCode::kFailedPrecondition) {
        lost = true;
        stop = true;
      } else if (record.ok() && record->cancel_requested) {
        cancelled = true;
        stop = true;
      }
      if (stopping_) stop = true;
    }
  });

  Trainer::Options options;
  options.resume = true;  // Continues from the job's checkpoint when there is one.
  options.device = options_.device;
  options.stop_requested = &stop;
  // Every piece of the training's device work runs on the scheduler's workers between
  // inference requests; a waiting tile is delayed by at most one piece.
  std::atomic<int64_t> over_budget{0};
  options.run_piece = [&](const std::function<void()>& piece) {
    if (stopping_) stop = true;
    if (options_.memory_budget_bytes > 0) {
      const int64_t resident = ResidentBytes();
      if (resident > options_.memory_budget_bytes) {
        over_budget = resident;
        stop = true;
      }
    }
    // The piece runs on an inference worker: with its own thread count, when one is set
    // (LibTorch's thread count belongs to the calling thread's OpenMP team).
    const int threads = options_.paths.threads;
    return scheduler_->RunTrainingPiece(
        [&piece, threads] {
          const int inference_threads = GetTorchIntraOpThreads();
          if (threads <= 0 || threads == inference_threads) return piece();
          SetTorchIntraOpThreads(threads);
          struct Restore {
            int n;
            ~Restore() { SetTorchIntraOpThreads(n); }
          } restore{inference_threads};
          piece();
        },
        &stop);
  };
  // On the CPU the batches are device work too (the simulator and the network share the
  // cores): they are made in pieces, on the workers. On a GPU they are not: they are made on
  // this thread while the GPU trains or serves, and only the GPU's work takes turns.
  options.prefetch = options_.device.rfind("cpu", 0) != 0;
  options.before_step = [&] {
    if (!stop && metrics_ != nullptr) metrics_->RecordTrainingStep();
  };
  const auto started = std::chrono::steady_clock::now();
  int64_t first_step = -1;
  absl::StatusOr<TrainResult> result = absl::UnknownError("not run");
  auto trainer = Trainer::Create(*config, options);
  if (!trainer.ok()) {
    result = trainer.status();
  } else {
    result = (*trainer)->Run([&](const TrainProgress& p) {
      if (first_step < 0) first_step = p.step - 1;
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::lock_guard<std::mutex> lock(mu);
      latest.set_step(p.step);
      latest.set_total_steps(p.total_steps);
      latest.set_loss(p.loss);
      latest.set_learning_rate(p.learning_rate);
      if (p.validated) {
        latest.mutable_validation()->clear();
        latest.mutable_validation()->insert(p.validation.begin(), p.validation.end());
      }
      const double rate = seconds > 0 ? (p.step - first_step) / seconds : 0;
      latest.set_steps_per_second(rate);
      latest.set_eta_seconds(rate > 0 ? (p.total_steps - p.step) / rate : 0);
      if (metrics_ != nullptr) metrics_->SetTrainingProgress(job.id, p.step, p.loss);
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  heartbeat.join();
  // Push the final progress before the terminal state.
  store_->Heartbeat(job.id, options_.server_id, latest.SerializeAsString(), options_.lease)
      .IgnoreError();

  if (lost) {
    spdlog::warn("job_claim_lost id={}: another server took it over", job.id);
    return;
  }
  if (!result.ok() && result.status().code() == absl::StatusCode::kCancelled) {
    if (over_budget > 0) {
      return fail(absl::ResourceExhaustedError(
          absl::StrCat("stopped at step ", latest.step(), ": the server's resident memory (",
                       over_budget.load() >> 20, " MiB) exceeds the training memory budget (",
                       options_.memory_budget_bytes >> 20, " MiB); checkpoint kept")));
    }
    if (cancelled) {
      spdlog::info("job_cancelled id={} step={}", job.id, latest.step());
      store_
          ->Finish(job.id, options_.server_id, JobState::kCancelled, "",
                   "cancelled; checkpoint kept")
          .IgnoreError();
    } else {
      // Shutting down: keep the claim; the next start of this server resumes the job.
      spdlog::info("job_paused_for_shutdown id={} step={}", job.id, latest.step());
    }
    return;
  }
  if (!result.ok()) return fail(result.status());

  v1::JobResult out;
  out.set_model_name(config->output_name());
  out.set_steps(result->steps);
  out.set_seconds(result->seconds);
  out.set_stopped_early(result->stopped_early);
  out.mutable_metrics()->insert(result->best_validation.begin(), result->best_validation.end());
  const int64_t version = result->version;
  if (version <= 0) return fail(absl::InternalError("the trainer wrote no model version"));
  out.set_model_version(version);
  // Register it now rather than at the next repository scan.
  if (auto loaded = repository_->Load(config->output_name(), version); !loaded.ok()) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("trained version ", version, " does not load: ", loaded.status().message())));
  }
  spdlog::info("job_succeeded id={} model={}:{} dice={:.3f}", job.id, config->output_name(),
               version,
               result->best_validation.count("dice") ? result->best_validation.at("dice") : 0.0);
  store_->Finish(job.id, options_.server_id, JobState::kSucceeded, out.SerializeAsString(), "")
      .IgnoreError();
}

}  // namespace fringe
