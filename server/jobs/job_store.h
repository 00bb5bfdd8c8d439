// The persistent queue of long-running jobs (retraining). It survives server restarts (kill -9
// included) and may be shared by several servers through one PostgreSQL database: a job is
// claimed by one server (its `worker` id) under a lease that the holder renews with Heartbeat();
// a job whose lease runs out is claimable again, so a job outlives the server that ran it.
//
// Payloads (`spec`, `progress`, `result`) are opaque bytes (serialized protobufs); the store
// never looks inside them. Every method is thread-safe; no method throws.
#ifndef FRINGE_SERVER_JOBS_JOB_STORE_H_
#define FRINGE_SERVER_JOBS_JOB_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fringe {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

// "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED" (also the spelling in the database).
std::string_view JobStateName(JobState state);
// The inverse of JobStateName(); INVALID_ARGUMENT for any other spelling.
absl::StatusOr<JobState> ParseJobState(std::string_view name);
// True for SUCCEEDED, FAILED and CANCELLED: the states a job never leaves.
bool IsTerminal(JobState state);

struct JobRecord {
  std::string id;     // "job-00000042": assigned by Submit(), unique across a shared store.
  std::string owner;  // Client id that submitted it.
  int priority = 0;   // Higher runs first.
  JobState state = JobState::kQueued;
  std::string spec;      // Opaque bytes, set at submit, never changed.
  std::string progress;  // Opaque bytes, latest progress report.
  std::string result;    // Opaque bytes, set when finished.
  std::string error;     // Human-readable, for FAILED/CANCELLED.
  std::string worker;    // Server that holds the claim; "" when none (QUEUED or terminal).
  int attempts = 0;      // Times claimed.
  bool cancel_requested = false;
  // Unix ms, 0 = never. PostgreSQL takes them from the database's clock, so the servers
  // sharing it agree on lease expiry even when their own clocks drift.
  int64_t created_ms = 0, updated_ms = 0, started_ms = 0, finished_ms = 0;
  int64_t lease_until_ms = 0;  // 0 when nobody holds the claim.
};

struct JobFilter {
  std::optional<JobState> state;  // Unset: any state.
  std::string owner;              // Empty: any owner.
  int limit = 100;                // At most this many records; <= 0 means no limit.
  // Keyset paging: only jobs listed after this one (newest first: created earlier, or at the
  // same time with a smaller sequence number). Unset: from the newest.
  struct Cursor {
    int64_t created_ms = 0;
    int64_t seq = 0;
  };
  std::optional<Cursor> after;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Appends a QUEUED job and returns it with its new id and timestamps.
  virtual absl::StatusOr<JobRecord> Submit(const std::string& owner, int priority,
                                           const std::string& spec) = 0;

  // The job `id`; NOT_FOUND naming the id when there is none.
  virtual absl::StatusOr<JobRecord> Get(const std::string& id) = 0;

  // The jobs matching `filter`, newest first.
  virtual absl::StatusOr<std::vector<JobRecord>> List(const JobFilter& filter) = 0;

  // Atomically claims the next runnable job for `worker` (highest priority, then oldest): a
  // QUEUED job, or a RUNNING job whose lease expired (its worker died). Sets RUNNING, worker,
  // attempts + 1, started_ms (first time only), lease_until = now + lease. Returns nullopt when
  // nothing is runnable. An expired RUNNING job whose cancellation was requested is not run
  // again: it becomes CANCELLED here. Concurrent claimers (threads or servers) never get the
  // same job. INVALID_ARGUMENT for an empty worker or a non-positive lease.
  virtual absl::StatusOr<std::optional<JobRecord>> ClaimNext(const std::string& worker,
                                                             std::chrono::milliseconds lease) = 0;

  // Records `progress` (an empty string keeps the previous report) and extends the lease to
  // now + lease. The holder may heartbeat after its lease ran out as long as nobody reclaimed
  // the job. FAILED_PRECONDITION when `worker` no longer holds the claim (the job was
  // reclaimed, released or finished) - the runner then stops; NOT_FOUND for an unknown id.
  // Returns the record, so the runner sees cancel_requested.
  virtual absl::StatusOr<JobRecord> Heartbeat(const std::string& id, const std::string& worker,
                                              const std::string& progress,
                                              std::chrono::milliseconds lease) = 0;

  // Terminal transition by the claim holder to SUCCEEDED/FAILED/CANCELLED with result/error;
  // releases the claim (worker "", lease 0). INVALID_ARGUMENT for a non-terminal state,
  // FAILED_PRECONDITION when `worker` does not hold the claim or the job is already terminal,
  // NOT_FOUND for an unknown id.
  virtual absl::Status Finish(const std::string& id, const std::string& worker, JobState state,
                              const std::string& result, const std::string& error) = 0;

  // QUEUED -> CANCELLED at once; RUNNING -> cancel_requested = true (the runner sees it in its
  // next Heartbeat(), stops and calls Finish(kCancelled)), or CANCELLED at once when its lease
  // has already expired (nobody is running it); terminal -> FAILED_PRECONDITION naming the
  // state; NOT_FOUND for an unknown id. Returns the updated record.
  virtual absl::StatusOr<JobRecord> Cancel(const std::string& id) = 0;

  // For server start-up: every RUNNING job claimed by `worker` goes back to QUEUED (its
  // previous process died), so it is resumed at once instead of waiting for its lease to run
  // out; attempts are kept. A released job whose cancellation was requested becomes CANCELLED
  // instead. Returns how many jobs were released (both kinds). INVALID_ARGUMENT for an empty
  // worker.
  virtual absl::StatusOr<int> ReleaseClaims(const std::string& worker) = 0;
};

// Opens (creating when absent) the store at `url`:
//   "sqlite:PATH", "sqlite://PATH" or a bare PATH -> SQLite file (parent directories created;
//       WAL journal; a busy timeout so several processes may share the file);
//   "postgresql://..." or "postgres://..." -> PostgreSQL (libpq URL; schema and tables created
//       when absent). An extra query parameter `schema=NAME` puts the tables in that
//       PostgreSQL schema (created when absent) instead of the connection's current schema,
//       e.g. one schema per test. `connect_timeout` defaults to 10 s.
// INVALID_ARGUMENT for an empty URL or an unknown scheme; UNAVAILABLE when the database cannot
// be opened or reached (the message names the URL without its password); FAILED_PRECONDITION
// when the database was written by a newer schema version than this build knows.
absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& url);

// The id of the job with sequence number `seq`: "job-" + at least 8 digits, zero-padded so ids
// sort like their sequence numbers.
std::string FormatJobId(int64_t seq);
// The sequence number of a FormatJobId() id; nullopt for anything else.
std::optional<int64_t> ParseJobId(const std::string& id);

// `url` with any password removed (user:secret@ and password=... query parameters), for
// messages and logs.
std::string RedactJobStoreUrl(const std::string& url);

}  // namespace fringe

#endif  // FRINGE_SERVER_JOBS_JOB_STORE_H_
