// JobStore on one SQLite file: for a single server (several processes on one machine may share
// the file too). WAL journal with synchronous=FULL, so a committed transition survives kill -9
// and power loss; every write is a BEGIN IMMEDIATE transaction, so concurrent connections
// serialise on the file lock (with a busy timeout) instead of failing.
#ifndef FRINGE_SERVER_JOBS_SQLITE_JOB_STORE_H_
#define FRINGE_SERVER_JOBS_SQLITE_JOB_STORE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "server/jobs/job_store.h"

struct sqlite3;

namespace fringe {

class SqliteJobStore final : public JobStore {
 public:
  // Opens the database file at `path` (":memory:" for a private in-memory one), creating it
  // and its parent directories when absent. UNAVAILABLE when it cannot be opened or is not an
  // SQLite database; FAILED_PRECONDITION when a newer schema version wrote it.
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& path);
  ~SqliteJobStore() override;

  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  absl::StatusOr<JobRecord> Submit(const std::string& owner, int priority,
                                   const std::string& spec) override;
  absl::StatusOr<JobRecord> Get(const std::string& id) override;
  absl::StatusOr<std::vector<JobRecord>> List(const JobFilter& filter) override;
  absl::StatusOr<std::optional<JobRecord>> ClaimNext(const std::string& worker,
                                                     std::chrono::milliseconds lease) override;
  absl::StatusOr<JobRecord> Heartbeat(const std::string& id, const std::string& worker,
                                      const std::string& progress,
                                      std::chrono::milliseconds lease) override;
  absl::Status Finish(const std::string& id, const std::string& worker, JobState state,
                      const std::string& result, const std::string& error) override;
  absl::StatusOr<JobRecord> Cancel(const std::string& id) override;
  absl::StatusOr<int> ReleaseClaims(const std::string& worker) override;

 private:
  SqliteJobStore(sqlite3* db, std::string path);

  absl::Status InitSchema();
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT under mu_, rolling back when it fails.
  absl::Status InWriteTransaction(const std::function<absl::Status()>& body);
  // Reads, changes with `change` and writes back the job `id`, in one write transaction.
  absl::StatusOr<JobRecord> Update(const std::string& id,
                                   const std::function<absl::Status(JobRecord*, int64_t)>& change);
  absl::Status Exec(const char* sql);
  absl::StatusOr<JobRecord> ReadLocked(const std::string& id);
  absl::Status WriteLocked(const JobRecord& job);
  absl::Status Error(const char* what) const;

  const std::string path_;
  std::mutex mu_;  // One connection; SQLite connections must not run two statements at once.
  sqlite3* const db_;
};

// OpenJobStore() for a SQLite path.
absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path);

}  // namespace fringe

#endif  // FRINGE_SERVER_JOBS_SQLITE_JOB_STORE_H_
