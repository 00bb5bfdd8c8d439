// Runs training jobs from the JobStore on this server's device: claims the next job, trains
// it with the Trainer between inference requests (each piece of the training's device work
// runs through Scheduler::RunTrainingPiece), reports progress as heartbeats, and registers the
// trained version in the model repository. A job interrupted by a crash or shutdown keeps its
// checkpoint and its claim; the restarted server (same server id) releases the claim and resumes it
// from there.
#ifndef FRINGE_SERVER_JOB_RUNNER_H_
#define FRINGE_SERVER_JOB_RUNNER_H_

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/jobs.pb.h"
#include "server/jobs/job_store.h"
#include "server/model_repository.h"
#include "server/scheduler.h"
#include "server/server_metrics.h"

namespace fringe {

// Checks a submitted spec the way the runner will use it (the Trainer's validation on the
// config the server will actually run); INVALID_ARGUMENT / NOT_FOUND name the problem.
struct JobPaths {
  // <state_dir>/jobs/<id>/checkpoints, <state_dir>/datasets/<name>, and the operator's
  // ImageNet weights a job may name: <state_dir>/pretrained/<name>.
  std::string state_dir;
  std::string repository_root;  // Where trained versions are registered.
  int threads = 1;              // LibTorch intra-op threads for training.
};
absl::StatusOr<v1::TrainConfig> ResolveJobConfig(const v1::TrainingJobSpec& spec,
                                                 const std::string& job_id, const JobPaths& paths,
                                                 const ModelRepository& repository);

class JobRunner {
 public:
  struct Options {
    std::string server_id;
    JobPaths paths;
    int max_running = 1;
    std::chrono::milliseconds lease{30000};
    std::chrono::milliseconds poll{500};
    // Training stops (job FAILED, checkpoint kept) before a step when the process's resident
    // memory exceeds this; 0 = no budget. On the CPU the device memory is the process's.
    int64_t memory_budget_bytes = 0;
    std::string device = "cpu";  // Where jobs train: the server's inference device.
  };

  // Every pointer must outlive the runner; `metrics` may be null.
  JobRunner(JobStore* store, Scheduler* scheduler, ModelRepository* repository,
            ServerMetrics* metrics, Options options);
  // Stop()s.
  ~JobRunner();

  // Releases this server's stale claims (a previous process died) and starts claiming.
  absl::Status Start();
  // Stops claiming; running jobs checkpoint and stay claimed, to be resumed by the next
  // start of this server (or by another server once the lease runs out).
  void Stop();

 private:
  void Loop();
  void Run(JobRecord job);

  JobStore* store_;
  Scheduler* scheduler_;
  ModelRepository* repository_;
  ServerMetrics* metrics_;
  const Options options_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
  // The stop flags of the jobs training now: Stop() raises them so a job waiting for the
  // device (or between steps) checkpoints at once.
  std::mutex runs_mu_;
  std::set<std::atomic<bool>*> running_stops_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_JOB_RUNNER_H_
