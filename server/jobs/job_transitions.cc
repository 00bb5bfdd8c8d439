#include "server/jobs/job_transitions.h"

#include "absl/strings/str_cat.h"

namespace fringe::job_transitions {

absl::Status ValidateWorker(const std::string& worker) {
  // An empty worker would be indistinguishable from "nobody holds the claim".
  if (worker.empty()) return absl::InvalidArgumentError("worker id must not be empty");
  return absl::OkStatus();
}

absl::Status ValidateLease(std::chrono::milliseconds lease) {
  if (lease.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease must be positive, got ", lease.count(), " ms"));
  }
  return absl::OkStatus();
}

absl::Status JobNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
}

absl::Status CheckHolder(const JobRecord& job, const std::string& worker) {
  if (job.state != JobState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job.id, " is ",
                                                      std::string(JobStateName(job.state)),
                                                      ", not held by worker '", worker, "'"));
  }
  if (job.worker != worker) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, " is held by worker '", job.worker, "', not '", worker, "'"));
  }
  return absl::OkStatus();
}

bool LeaseExpired(const JobRecord& job, int64_t now_ms) {
  return job.state == JobState::kRunning && job.lease_until_ms <= now_ms;
}

void ApplyClaim(JobRecord* job, const std::string& worker, int64_t now_ms,
                std::chrono::milliseconds lease) {
  job->state = JobState::kRunning;
  job->worker = worker;
  ++job->attempts;
  // started_ms records the first start, so a reclaimed job still shows how long it has been
  // in the works; `progress` is kept too: it may tell the new runner where to resume.
  if (job->started_ms == 0) job->started_ms = now_ms;
  job->lease_until_ms = now_ms + lease.count();
  job->updated_ms = now_ms;
}

absl::Status ApplyHeartbeat(JobRecord* job, const std::string& worker, const std::string& progress,
                            int64_t now_ms, std::chrono::milliseconds lease) {
  if (absl::Status s = CheckHolder(*job, worker); !s.ok()) return s;
  if (!progress.empty()) job->progress = progress;
  job->lease_until_ms = now_ms + lease.count();
  job->updated_ms = now_ms;
  return absl::OkStatus();
}

absl::Status ApplyFinish(JobRecord* job, const std::string& worker, JobState state,
                         const std::string& result, const std::string& error, int64_t now_ms) {
  if (!IsTerminal(state)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot finish job ", job->id, " as ",
                                                   std::string(JobStateName(state)),
                                                   ": not a terminal state"));
  }
  if (IsTerminal(job->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job->id, " is already ", std::string(JobStateName(job->state))));
  }
  if (absl::Status s = CheckHolder(*job, worker); !s.ok()) return s;
  job->state = state;
  job->result = result;
  job->error = error;
  job->worker.clear();
  job->lease_until_ms = 0;
  job->finished_ms = now_ms;
  job->updated_ms = now_ms;
  return absl::OkStatus();
}

absl::Status ApplyCancel(JobRecord* job, int64_t now_ms) {
  if (IsTerminal(job->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job->id, " is already ", std::string(JobStateName(job->state))));
  }
  job->cancel_requested = true;
  job->updated_ms = now_ms;
  // A running job is only stopped by its runner; but when its lease has run out nobody is
  // running it, and waiting for a reclaim just to cancel it would leave it RUNNING for nothing.
  if (job->state == JobState::kQueued || LeaseExpired(*job, now_ms)) {
    job->error = job->state == JobState::kQueued ? kCancelledWhileQueued : kCancelledWorkerGone;
    job->state = JobState::kCancelled;
    job->worker.clear();
    job->lease_until_ms = 0;
    job->finished_ms = now_ms;
  }
  return absl::OkStatus();
}

}  // namespace fringe::job_transitions
