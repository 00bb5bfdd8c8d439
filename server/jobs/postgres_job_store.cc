#include "server/jobs/postgres_job_store.h"

#include <cctype>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "server/jobs/job_transitions.h"

namespace fringe {
namespace {

namespace jt = job_transitions;

// Bumped with every schema change; a store refuses tables written by a newer version.
constexpr int kSchemaVersion = 1;
constexpr char kDefaultConnectTimeoutS[] = "10";
// Serialises schema creation between servers starting at once: CREATE ... IF NOT EXISTS
// alone races (two creators collide on the catalog's unique indexes). "fringe" in ASCII.
constexpr int64_t kSchemaLockKey = 0x6672696e6765;

// Milliseconds since the epoch on the database's clock. now() is the transaction's start, so
// every timestamp one transaction writes is the same instant.
constexpr char kNowMs[] = "(EXTRACT(EPOCH FROM now()) * 1000)::bigint";

constexpr char kColumns[] =
    "id, owner, priority, state, spec, progress, result, error, worker, attempts, "
    "cancel_requested, created_ms, updated_ms, started_ms, finished_ms, lease_until_ms";

// The schema of version kSchemaVersion; $S stands for the quoted schema name.
constexpr char kSchemaSql[] = R"sql(
CREATE TABLE IF NOT EXISTS $S.fringe_jobs_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS $S.fringe_jobs_seq;
CREATE TABLE IF NOT EXISTS $S.fringe_jobs (
  seq              BIGINT PRIMARY KEY,  -- from fringe_jobs_seq: unique across servers
  id               TEXT NOT NULL UNIQUE,
  owner            TEXT NOT NULL,
  priority         INTEGER NOT NULL,
  state            TEXT NOT NULL
                   CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  spec             BYTEA NOT NULL,
  progress         BYTEA NOT NULL DEFAULT '',
  result           BYTEA NOT NULL DEFAULT '',
  error            TEXT NOT NULL DEFAULT '',
  worker           TEXT NOT NULL DEFAULT '',
  attempts         INTEGER NOT NULL DEFAULT 0,
  cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
  created_ms       BIGINT NOT NULL,
  updated_ms       BIGINT NOT NULL,
  started_ms       BIGINT NOT NULL DEFAULT 0,
  finished_ms      BIGINT NOT NULL DEFAULT 0,
  lease_until_ms   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS fringe_jobs_by_run_order ON $S.fringe_jobs (priority DESC, created_ms, seq)
  WHERE state IN ('QUEUED', 'RUNNING');
CREATE INDEX IF NOT EXISTS fringe_jobs_by_worker ON $S.fringe_jobs (worker) WHERE state = 'RUNNING';
CREATE INDEX IF NOT EXISTS fringe_jobs_by_created ON $S.fringe_jobs (created_ms DESC, seq DESC);
INSERT INTO $S.fringe_jobs_meta (key, value) VALUES ('schema_version', '1')
  ON CONFLICT (key) DO NOTHING;
)sql";

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string StateText(JobState s) { return std::string(JobStateName(s)); }

// Runs `body`, turning every exception into a status (DESIGN rule 4). When the connection
// turns out to be broken (the database restarted, a proxy dropped it) and `reconnect` gives a
// fresh one, `body` runs once more: that is safe for writes too, because nothing was committed
// - libpqxx reports a connection lost during COMMIT as in_doubt_error, which is not retried.
template <typename Body>
auto Guarded(const std::string& url, const char* what, Body&& body,
             const std::function<bool()>& reconnect = nullptr) -> decltype(body()) {
  auto fail = [&](absl::StatusCode code, const char* kind, const std::exception& e) {
    return absl::Status(code, absl::StrCat("job store ", url, ": ", what, ": ", kind, e.what()));
  };
  for (int attempt = 0;; ++attempt) {
    try {
      return body();
    } catch (const pqxx::broken_connection& e) {
      if (attempt == 0 && reconnect && reconnect()) continue;
      return fail(absl::StatusCode::kUnavailable, "connection lost: ", e);
    } catch (const pqxx::in_doubt_error& e) {
      return fail(absl::StatusCode::kUnavailable, "commit outcome unknown: ", e);
    } catch (const pqxx::transaction_rollback& e) {
      // Serialization failure or deadlock: nothing was written, a retry may succeed.
      return fail(absl::StatusCode::kAborted, "", e);
    } catch (const pqxx::insufficient_privilege& e) {
      return fail(absl::StatusCode::kPermissionDenied, "", e);
    } catch (const pqxx::sql_error& e) {
      return fail(absl::StatusCode::kInternal, "", e);
    } catch (const std::exception& e) {
      return fail(absl::StatusCode::kInternal, "", e);
    }
  }
}

// Splits off the parameters libpq does not know (`schema`) and adds our defaults.
struct ParsedUrl {
  std::string libpq_url;
  std::string schema;  // Empty: the connection's current schema.
};

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  ParsedUrl parsed;
  const size_t query_start = url.find('?');
  parsed.libpq_url = url.substr(0, query_start);
  std::vector<std::string> kept;
  bool has_timeout = false;
  if (query_start != std::string::npos) {
    for (absl::string_view param : absl::StrSplit(url.substr(query_start + 1), '&')) {
      if (param.empty()) continue;
      if (absl::StartsWith(param, "schema=")) {
        parsed.schema = std::string(param.substr(7));
        if (parsed.schema.empty()) return absl::InvalidArgumentError("schema= is empty");
        for (const char c : parsed.schema) {
          // A plain identifier needs no URL decoding and can never inject SQL.
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
            return absl::InvalidArgumentError(absl::StrCat(
                "schema '", parsed.schema, "' in the job store URL must be letters, digits, '_'"));
          }
        }
        continue;
      }
      if (absl::StartsWith(param, "connect_timeout=")) has_timeout = true;
      kept.emplace_back(param);
    }
  }
  // libpq waits forever for a host that drops packets; a server start-up should fail instead.
  if (!has_timeout) kept.push_back(absl::StrCat("connect_timeout=", kDefaultConnectTimeoutS));
  absl::StrAppend(&parsed.libpq_url, "?", absl::StrJoin(kept, "&"));
  return parsed;
}

JobRecord ToRecord(const pqxx::row& row) {
  JobRecord job;
  job.id = row[0].as<std::string>();
  job.owner = row[1].as<std::string>();
  job.priority = row[2].as<int>();
  // The CHECK constraint keeps the column to the names ParseJobState knows.
  job.state = ParseJobState(row[3].c_str()).value_or(JobState::kFailed);
  // BYTEA arrives hex-escaped in text results; binarystring decodes it, NULs included.
  job.spec = pqxx::binarystring(row[4]).str();
  job.progress = pqxx::binarystring(row[5]).str();
  job.result = pqxx::binarystring(row[6]).str();
  job.error = row[7].as<std::string>();
  job.worker = row[8].as<std::string>();
  job.attempts = row[9].as<int>();
  job.cancel_requested = row[10].as<bool>();
  job.created_ms = row[11].as<int64_t>();
  job.updated_ms = row[12].as<int64_t>();
  job.started_ms = row[13].as<int64_t>();
  job.finished_ms = row[14].as<int64_t>();
  job.lease_until_ms = row[15].as<int64_t>();
  return job;
}

// Bytes as a binary parameter: sent as they are, so NULs survive (a text parameter would be
// cut at the first NUL by libpq).
pqxx::binarystring Bytes(const std::string& s) { return pqxx::binarystring(s.data(), s.size()); }

}  // namespace

struct PostgresJobStore::Impl {
  explicit Impl(std::string url)
      : libpq_url(std::move(url)), connection(std::make_unique<pqxx::connection>(libpq_url)) {}

  pqxx::connection& conn() { return *connection; }

  // Replaces the connection with a fresh one; false when the database cannot be reached. A new
  // object rather than libpqxx 6's own reactivation, which took several calls to recover after
  // a database restart.
  bool Reconnect() {
    try {
      connection = std::make_unique<pqxx::connection>(libpq_url);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  // Builds the statements for the tables in `quoted_schema`.
  void Prepare(const std::string& quoted_schema) {
    jobs = quoted_schema + ".fringe_jobs";
    meta = quoted_schema + ".fringe_jobs_meta";
    seq = quoted_schema + ".fringe_jobs_seq";
    select_by_id = absl::StrCat("SELECT ", kColumns, " FROM ", jobs, " WHERE id = $1");
    lock_by_id = absl::StrCat("SELECT ", kColumns, ", ", kNowMs, " FROM ", jobs,
                              " WHERE id = $1 FOR UPDATE");
    write = absl::StrCat("UPDATE ", jobs,
                         " SET state = $2, progress = $3, result = $4, error = $5, worker = $6, "
                         "attempts = $7, cancel_requested = $8, updated_ms = $9, started_ms = $10, "
                         "finished_ms = $11, lease_until_ms = $12 WHERE id = $1");
  }

  // Reads the job `id` locked for update, with the transaction's now; NOT_FOUND when absent.
  absl::StatusOr<std::pair<JobRecord, int64_t>> Lock(pqxx::work& tx, const std::string& id) {
    const pqxx::result r = tx.exec_params(lock_by_id, id);
    if (r.empty()) return jt::JobNotFound(id);
    return std::make_pair(ToRecord(r[0]), r[0][16].as<int64_t>());
  }

  void Write(pqxx::work& tx, const JobRecord& job) {
    tx.exec_params(write, job.id, StateText(job.state), Bytes(job.progress), Bytes(job.result),
                   job.error, job.worker, job.attempts, job.cancel_requested, job.updated_ms,
                   job.started_ms, job.finished_ms, job.lease_until_ms);
  }

  // Locks, changes with `change` and writes back the job `id` in one transaction.
  template <typename Change>
  absl::StatusOr<JobRecord> Update(const std::string& id, Change&& change) {
    pqxx::work tx(conn());
    FRINGE_ASSIGN_OR_RETURN(auto locked, Lock(tx, id));
    JobRecord& job = locked.first;
    FRINGE_RETURN_IF_ERROR(change(&job, locked.second));
    Write(tx, job);
    tx.commit();
    return job;
  }

  const std::string libpq_url;
  std::unique_ptr<pqxx::connection> connection;
  std::string jobs, meta, seq;
  std::string select_by_id, lock_by_id, write;
};

absl::StatusOr<std::unique_ptr<PostgresJobStore>> PostgresJobStore::Open(const std::string& url) {
  const std::string redacted = RedactJobStoreUrl(url);
  FRINGE_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseUrl(url));
  std::unique_ptr<Impl> impl;
  std::string schema;
  const absl::Status status = Guarded(redacted, "opening", [&]() -> absl::Status {
    impl = std::make_unique<Impl>(parsed.libpq_url);
    schema = parsed.schema;
    if (schema.empty()) {
      pqxx::read_transaction tx(impl->conn());
      const pqxx::row row = tx.exec1("SELECT current_schema()");
      if (row[0].is_null()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "job store ", redacted, ": the search_path names no existing schema; add schema=NAME"));
      }
      schema = row[0].as<std::string>();
    }
    impl->Prepare(impl->conn().quote_name(schema));

    pqxx::work tx(impl->conn());
    // Creating what exists already needs CREATE privileges (checked before IF NOT EXISTS) and
    // leaves NOTICEs on stderr, so look first.
    if (tx.exec_params1("SELECT to_regclass($1)", impl->meta)[0].is_null()) {
      tx.exec("SET LOCAL client_min_messages TO warning");
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kSchemaLockKey);
      if (!parsed.schema.empty() &&
          tx.exec_params("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema).empty()) {
        tx.exec("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(schema));
      }
      tx.exec(ReplaceAll(kSchemaSql, "$S", tx.quote_name(schema)));
    }
    const pqxx::result version =
        tx.exec("SELECT value FROM " + impl->meta + " WHERE key = 'schema_version'");
    int found = 0;
    if (version.empty() || !absl::SimpleAtoi(version[0][0].c_str(), &found)) {
      return absl::DataLossError(
          absl::StrCat("job store ", redacted, ": fringe_jobs_meta has no valid schema_version"));
    }
    if (found > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("job store ", redacted, " has schema version ", found,
                       ", newer than this build's ", kSchemaVersion, "; upgrade the server"));
    }
    // Migrations from older versions go here, keyed on `found`.
    tx.commit();
    return absl::OkStatus();
  });
  if (!status.ok()) {
    switch (status.code()) {
      case absl::StatusCode::kFailedPrecondition:
      case absl::StatusCode::kDataLoss:
      case absl::StatusCode::kPermissionDenied:
        return status;
      default:
        // Whatever failed while connecting or creating the schema: the store cannot be used.
        return absl::UnavailableError(status.message());
    }
  }
  return std::unique_ptr<PostgresJobStore>(
      new PostgresJobStore(std::move(impl), redacted, std::move(schema)));
}

absl::StatusOr<std::unique_ptr<JobStore>> OpenPostgresJobStore(const std::string& url) {
  FRINGE_ASSIGN_OR_RETURN(std::unique_ptr<PostgresJobStore> store, PostgresJobStore::Open(url));
  return std::unique_ptr<JobStore>(std::move(store));
}

PostgresJobStore::PostgresJobStore(std::unique_ptr<Impl> impl, std::string redacted_url,
                                   std::string schema)
    : impl_(std::move(impl)), url_(std::move(redacted_url)), schema_(std::move(schema)) {}

PostgresJobStore::~PostgresJobStore() = default;

absl::StatusOr<JobRecord> PostgresJobStore::Submit(const std::string& owner, int priority,
                                                   const std::string& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "submit",
      [&]() -> absl::StatusOr<JobRecord> {
        pqxx::work tx(impl_->conn());
        // The id is formatted here from the sequence, so both backends spell ids alike.
        const int64_t seq =
            tx.exec_params1("SELECT nextval($1::regclass)", impl_->seq)[0].as<int64_t>();
        const pqxx::result r = tx.exec_params(
            absl::StrCat("INSERT INTO ", impl_->jobs,
                         " (seq, id, owner, priority, state, spec, created_ms, updated_ms) "
                         "VALUES ($1, $2, $3, $4, 'QUEUED', $5, ",
                         kNowMs, ", ", kNowMs, ") RETURNING ", kColumns),
            seq, FormatJobId(seq), owner, priority, Bytes(spec));
        JobRecord job = ToRecord(r.at(0));
        tx.commit();
        return job;
      },
      [this] { return impl_->Reconnect(); });
}

absl::StatusOr<JobRecord> PostgresJobStore::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "get",
      [&]() -> absl::StatusOr<JobRecord> {
        pqxx::read_transaction tx(impl_->conn());
        const pqxx::result r = tx.exec_params(impl_->select_by_id, id);
        if (r.empty()) return jt::JobNotFound(id);
        return ToRecord(r[0]);
      },
      [this] { return impl_->Reconnect(); });
}

absl::StatusOr<std::vector<JobRecord>> PostgresJobStore::List(const JobFilter& filter) {
  const std::string state = filter.state.has_value() ? StateText(*filter.state) : "";
  const int64_t limit = filter.limit > 0 ? filter.limit : std::numeric_limits<int64_t>::max();
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "list",
      [&]() -> absl::StatusOr<std::vector<JobRecord>> {
        pqxx::read_transaction tx(impl_->conn());
        const pqxx::result r =
            tx.exec_params(absl::StrCat("SELECT ", kColumns, " FROM ", impl_->jobs,
                                        " WHERE ($1 = '' OR state = $1) AND ($2 = '' OR owner = $2)"
                                        " AND (NOT $4 OR created_ms < $5 OR"
                                        " (created_ms = $5 AND seq < $6))"
                                        " ORDER BY created_ms DESC, seq DESC LIMIT $3"),
                           state, filter.owner, limit, filter.after.has_value(),
                           filter.after ? filter.after->created_ms : int64_t{0},
                           filter.after ? filter.after->seq : int64_t{0});
        std::vector<JobRecord> jobs;
        jobs.reserve(r.size());
        for (const pqxx::row& row : r) jobs.push_back(ToRecord(row));
        return jobs;
      },
      [this] { return impl_->Reconnect(); });
}

absl::StatusOr<std::optional<JobRecord>> PostgresJobStore::ClaimNext(
    const std::string& worker, std::chrono::milliseconds lease) {
  FRINGE_RETURN_IF_ERROR(jt::ValidateWorker(worker));
  FRINGE_RETURN_IF_ERROR(jt::ValidateLease(lease));
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "claim",
      [&]() -> absl::StatusOr<std::optional<JobRecord>> {
        pqxx::work tx(impl_->conn());
        // A job whose cancellation was asked for while its worker died is finished, not rerun.
        // SKIP LOCKED: rows another claimer is looking at are its business, and locking a set of
        // rows in whatever order could deadlock with it.
        tx.exec_params(absl::StrCat("UPDATE ", impl_->jobs,
                                    " SET state = 'CANCELLED', error = $1, worker = '', "
                                    "lease_until_ms = 0, finished_ms = ",
                                    kNowMs, ", updated_ms = ", kNowMs,
                                    " WHERE seq IN (SELECT seq FROM ", impl_->jobs,
                                    " WHERE state = 'RUNNING' AND cancel_requested AND "
                                    "lease_until_ms <= ",
                                    kNowMs, " FOR UPDATE SKIP LOCKED)"),
                       std::string(jt::kCancelledWorkerGone));
        // One statement: the subquery picks and locks the next runnable row, skipping rows other
        // transactions hold, and the UPDATE claims it. Keep the SET in step with ApplyClaim().
        const pqxx::result r = tx.exec_params(
            absl::StrCat(
                "UPDATE ", impl_->jobs,
                " SET state = 'RUNNING', worker = $1, attempts = attempts + 1, "
                "started_ms = CASE WHEN started_ms = 0 THEN n.ms ELSE started_ms END, "
                "lease_until_ms = n.ms + $2, updated_ms = n.ms FROM (SELECT ",
                kNowMs, " AS ms) n WHERE seq = (SELECT seq FROM ", impl_->jobs,
                " WHERE state = 'QUEUED' OR (state = 'RUNNING' AND NOT cancel_requested AND "
                "lease_until_ms <= ",
                kNowMs,
                ") ORDER BY priority DESC, created_ms, seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "RETURNING ",
                kColumns),
            worker, static_cast<int64_t>(lease.count()));
        std::optional<JobRecord> claimed;
        if (!r.empty()) claimed = ToRecord(r[0]);
        tx.commit();
        return claimed;
      },
      [this] { return impl_->Reconnect(); });
}

absl::StatusOr<JobRecord> PostgresJobStore::Heartbeat(const std::string& id,
                                                      const std::string& worker,
                                                      const std::string& progress,
                                                      std::chrono::milliseconds lease) {
  FRINGE_RETURN_IF_ERROR(jt::ValidateWorker(worker));
  FRINGE_RETURN_IF_ERROR(jt::ValidateLease(lease));
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "heartbeat",
      [&]() -> absl::StatusOr<JobRecord> {
        return impl_->Update(id, [&](JobRecord* job, int64_t now) {
          return jt::ApplyHeartbeat(job, worker, progress, now, lease);
        });
      },
      [this] { return impl_->Reconnect(); });
}

absl::Status PostgresJobStore::Finish(const std::string& id, const std::string& worker,
                                      JobState state, const std::string& result,
                                      const std::string& error) {
  if (!IsTerminal(state)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot finish job ", id, " as ",
                                                   std::string(JobStateName(state)),
                                                   ": not a terminal state"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "finish",
      [&]() -> absl::Status {
        return impl_
            ->Update(id,
                     [&](JobRecord* job, int64_t now) {
                       return jt::ApplyFinish(job, worker, state, result, error, now);
                     })
            .status();
      },
      [this] { return impl_->Reconnect(); });
}

absl::StatusOr<JobRecord> PostgresJobStore::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "cancel",
      [&]() -> absl::StatusOr<JobRecord> {
        return impl_->Update(id,
                             [](JobRecord* job, int64_t now) { return jt::ApplyCancel(job, now); });
      },
      [this] { return impl_->Reconnect(); });
}

absl::StatusOr<int> PostgresJobStore::ReleaseClaims(const std::string& worker) {
  FRINGE_RETURN_IF_ERROR(jt::ValidateWorker(worker));
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded(
      url_, "release claims",
      [&]() -> absl::StatusOr<int> {
        pqxx::work tx(impl_->conn());
        const pqxx::result cancelled = tx.exec_params(
            absl::StrCat("UPDATE ", impl_->jobs,
                         " SET state = 'CANCELLED', error = $2, worker = '', lease_until_ms = 0, "
                         "finished_ms = ",
                         kNowMs, ", updated_ms = ", kNowMs,
                         " WHERE state = 'RUNNING' AND worker = $1 AND cancel_requested"),
            worker, std::string(jt::kCancelledWorkerGone));
        const pqxx::result requeued = tx.exec_params(
            absl::StrCat("UPDATE ", impl_->jobs,
                         " SET state = 'QUEUED', worker = '', lease_until_ms = 0, updated_ms = ",
                         kNowMs, " WHERE state = 'RUNNING' AND worker = $1"),
            worker);
        tx.commit();
        return static_cast<int>(cancelled.affected_rows() + requeued.affected_rows());
      },
      [this] { return impl_->Reconnect(); });
}

}  // namespace fringe
