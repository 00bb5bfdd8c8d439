// The job state machine, shared by the store backends: each backend locks a job's row, reads
// it, applies one of these pure functions and writes the row back, so SQLite and PostgreSQL
// cannot disagree on what a transition means or which error it returns.
#ifndef FRINGE_SERVER_JOBS_JOB_TRANSITIONS_H_
#define FRINGE_SERVER_JOBS_JOB_TRANSITIONS_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "server/jobs/job_store.h"

namespace fringe::job_transitions {

// The error text given to jobs cancelled without their runner's help.
inline constexpr char kCancelledWhileQueued[] = "cancelled before it started";
inline constexpr char kCancelledWorkerGone[] = "cancelled while its worker was gone";

// INVALID_ARGUMENT for an empty worker id or a non-positive lease.
absl::Status ValidateWorker(const std::string& worker);
absl::Status ValidateLease(std::chrono::milliseconds lease);

// NOT_FOUND naming `id`.
absl::Status JobNotFound(const std::string& id);

// OK when `worker` holds the claim on `job`; FAILED_PRECONDITION saying why not otherwise.
absl::Status CheckHolder(const JobRecord& job, const std::string& worker);

// True when `job` is RUNNING with a lease that ran out at or before `now_ms`.
bool LeaseExpired(const JobRecord& job, int64_t now_ms);

// Claims `job` (QUEUED, or RUNNING with an expired lease) for `worker`.
void ApplyClaim(JobRecord* job, const std::string& worker, int64_t now_ms,
                std::chrono::milliseconds lease);

// Heartbeat by `worker`: FAILED_PRECONDITION unless it holds the claim.
absl::Status ApplyHeartbeat(JobRecord* job, const std::string& worker, const std::string& progress,
                            int64_t now_ms, std::chrono::milliseconds lease);

// Finish by `worker`: INVALID_ARGUMENT for a non-terminal state, FAILED_PRECONDITION when the
// job is terminal or `worker` does not hold it.
absl::Status ApplyFinish(JobRecord* job, const std::string& worker, JobState state,
                         const std::string& result, const std::string& error, int64_t now_ms);

// Cancel: see JobStore::Cancel().
absl::Status ApplyCancel(JobRecord* job, int64_t now_ms);

}  // namespace fringe::job_transitions

#endif  // FRINGE_SERVER_JOBS_JOB_TRANSITIONS_H_
