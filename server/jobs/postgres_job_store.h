// JobStore on PostgreSQL (libpqxx), for several servers sharing one queue. Claims use
// SELECT ... FOR UPDATE SKIP LOCKED, so concurrent servers never claim the same job and never
// wait on each other's claims; job ids come from a database sequence, so they are unique across
// servers; all times come from the database's clock (now()), so leases mean the same to every
// server whatever their own clocks say.
#ifndef FRINGE_SERVER_JOBS_POSTGRES_JOB_STORE_H_
#define FRINGE_SERVER_JOBS_POSTGRES_JOB_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "server/jobs/job_store.h"

namespace fringe {

class PostgresJobStore final : public JobStore {
 public:
  // Connects to `url` (a libpq URL: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS]) and
  // creates the schema when absent. Besides libpq's own parameters it takes `schema=NAME`
  // (letters, digits, '_'): the PostgreSQL schema holding the tables, created when absent;
  // without it the connection's current schema (search_path) is used. `connect_timeout`
  // defaults to 10 s. INVALID_ARGUMENT for a bad schema name; UNAVAILABLE when the server
  // cannot be reached or refuses us (the message names the URL without its password);
  // FAILED_PRECONDITION when a newer schema version wrote the tables.
  static absl::StatusOr<std::unique_ptr<PostgresJobStore>> Open(const std::string& url);
  ~PostgresJobStore() override;

  PostgresJobStore(const PostgresJobStore&) = delete;
  PostgresJobStore& operator=(const PostgresJobStore&) = delete;

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

  // The PostgreSQL schema holding the tables.
  const std::string& schema() const { return schema_; }

 private:
  struct Impl;  // The pqxx connection and the SQL built for this schema; keeps pqxx out of here.

  PostgresJobStore(std::unique_ptr<Impl> impl, std::string redacted_url, std::string schema);

  std::mutex mu_;  // One connection; libpqxx allows one open transaction per connection.
  const std::unique_ptr<Impl> impl_;
  const std::string url_;  // Without the password, for messages.
  const std::string schema_;
};

// OpenJobStore() for a postgresql:// or postgres:// URL.
absl::StatusOr<std::unique_ptr<JobStore>> OpenPostgresJobStore(const std::string& url);

}  // namespace fringe

#endif  // FRINGE_SERVER_JOBS_POSTGRES_JOB_STORE_H_
