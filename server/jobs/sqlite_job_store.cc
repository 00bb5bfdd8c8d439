#include "server/jobs/sqlite_job_store.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/jobs/job_transitions.h"

namespace fringe {
namespace {

namespace jt = job_transitions;

// Bumped with every schema change; a store refuses a database written by a newer version.
constexpr int kSchemaVersion = 1;
// Long enough to ride out another connection's transaction (they are a few statements each),
// short enough that a stuck writer surfaces as UNAVAILABLE instead of a hung server.
constexpr int kBusyTimeoutMs = 10000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS fringe_jobs_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fringe_jobs (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused
  id               TEXT UNIQUE,                        -- FormatJobId(seq), set right after insert
  owner            TEXT NOT NULL,
  priority         INTEGER NOT NULL,
  state            TEXT NOT NULL
                   CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  spec             BLOB NOT NULL,
  progress         BLOB NOT NULL DEFAULT x'',
  result           BLOB NOT NULL DEFAULT x'',
  error            TEXT NOT NULL DEFAULT '',
  worker           TEXT NOT NULL DEFAULT '',
  attempts         INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_ms       INTEGER NOT NULL,
  updated_ms       INTEGER NOT NULL,
  started_ms       INTEGER NOT NULL DEFAULT 0,
  finished_ms      INTEGER NOT NULL DEFAULT 0,
  lease_until_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS fringe_jobs_by_run_order ON fringe_jobs (state, priority DESC, created_ms, seq);
CREATE INDEX IF NOT EXISTS fringe_jobs_by_worker ON fringe_jobs (worker, state);
CREATE INDEX IF NOT EXISTS fringe_jobs_by_owner ON fringe_jobs (owner, created_ms);
INSERT OR IGNORE INTO fringe_jobs_meta (key, value) VALUES ('schema_version', '1');
)sql";

constexpr char kColumns[] =
    "id, owner, priority, state, spec, progress, result, error, worker, attempts, "
    "cancel_requested, created_ms, updated_ms, started_ms, finished_ms, lease_until_ms";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {  // The primary code of an extended one.
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    default:
      return absl::StatusCode::kInternal;
  }
}

// A prepared statement, finalised on destruction.
class Statement {
 public:
  static absl::StatusOr<Statement> Prepare(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return absl::Status(CodeFor(rc), absl::StrCat("preparing '", sql, "': ", sqlite3_errmsg(db)));
    }
    return Statement(db, stmt);
  }
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  // Binds parameters 1, 2, ... in order.
  Statement& Int(int64_t v) {
    sqlite3_bind_int64(stmt_, ++bound_, v);
    return *this;
  }
  Statement& Text(const std::string& v) {
    sqlite3_bind_text(stmt_, ++bound_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Bytes with embedded NULs: a BLOB, never text (text would stop at the first NUL in places).
  Statement& Blob(const std::string& v) {
    // std::string::data() is never null, so an empty string binds an empty BLOB, not NULL.
    sqlite3_bind_blob(stmt_, ++bound_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }

  // True with a row to read, false when done.
  absl::StatusOr<bool> Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return absl::Status(CodeFor(rc), sqlite3_errmsg(db_));
  }
  // Runs a statement that returns no rows.
  absl::Status Run() {
    FRINGE_ASSIGN_OR_RETURN(const bool row, Step());
    (void)row;
    return absl::OkStatus();
  }

  int64_t ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::string ColumnBytes(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    const int n = sqlite3_column_bytes(stmt_, i);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

  // The record in the current row, columns as in kColumns.
  absl::StatusOr<JobRecord> Record() const {
    JobRecord job;
    job.id = ColumnBytes(0);
    job.owner = ColumnBytes(1);
    job.priority = static_cast<int>(ColumnInt(2));
    FRINGE_ASSIGN_OR_RETURN(job.state, ParseJobState(ColumnBytes(3)));
    job.spec = ColumnBytes(4);
    job.progress = ColumnBytes(5);
    job.result = ColumnBytes(6);
    job.error = ColumnBytes(7);
    job.worker = ColumnBytes(8);
    job.attempts = static_cast<int>(ColumnInt(9));
    job.cancel_requested = ColumnInt(10) != 0;
    job.created_ms = ColumnInt(11);
    job.updated_ms = ColumnInt(12);
    job.started_ms = ColumnInt(13);
    job.finished_ms = ColumnInt(14);
    job.lease_until_ms = ColumnInt(15);
    return job;
  }

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bound_ = 0;
};

std::string StateText(JobState s) { return std::string(JobStateName(s)); }

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path) {
  const bool in_memory = path == ":memory:" || path.rfind("file:", 0) == 0;
  if (!in_memory) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create the directory of job store '", path, "': ", ec.message()));
    }
  }
  sqlite3* db = nullptr;
  // NOMUTEX: the store serialises use of its one connection with its own mutex.
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                     (in_memory ? SQLITE_OPEN_URI : 0),
                                 nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);  // Even a failed open allocates a handle.
    return absl::UnavailableError(absl::StrCat("cannot open job store '", path, "': ", message));
  }
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(db, path));
  if (absl::Status s = store->InitSchema(); !s.ok()) {
    if (s.code() == absl::StatusCode::kFailedPrecondition) return s;
    return absl::UnavailableError(
        absl::StrCat("cannot open job store '", path, "': ", s.message()));
  }
  return store;
}

absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path) {
  FRINGE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store, SqliteJobStore::Open(path));
  return std::unique_ptr<JobStore>(std::move(store));
}

SqliteJobStore::SqliteJobStore(sqlite3* db, std::string path) : path_(std::move(path)), db_(db) {}

SqliteJobStore::~SqliteJobStore() { sqlite3_close(db_); }

absl::Status SqliteJobStore::Error(const char* what) const {
  return absl::Status(CodeFor(sqlite3_extended_errcode(db_)),
                      absl::StrCat("job store '", path_, "': ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status SqliteJobStore::Exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return Error(sql);
  return absl::OkStatus();
}

absl::Status SqliteJobStore::InitSchema() {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_extended_result_codes(db_, 1);
  // Set before anything touches the file: other processes may hold it.
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // WAL: readers never block the writer; FULL: a commit is on disk when it returns, so a
  // claimed job is never claimed twice after a power cut (NORMAL would survive kill -9 only).
  // Switching a fresh file to WAL takes an exclusive lock, and SQLite may answer SQLITE_BUSY
  // without calling the busy handler while another process opens the same file at that
  // moment (servers starting together): retry for as long as the busy timeout allows.
  for (int waited_ms = 0;; waited_ms += 10) {
    const int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) break;
    if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= kBusyTimeoutMs) {
      return Error("PRAGMA journal_mode=WAL");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FRINGE_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  FRINGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    FRINGE_RETURN_IF_ERROR(Exec(kSchema));
    FRINGE_ASSIGN_OR_RETURN(
        Statement version,
        Statement::Prepare(db_, "SELECT value FROM fringe_jobs_meta WHERE key = 'schema_version'"));
    FRINGE_ASSIGN_OR_RETURN(const bool has_row, version.Step());
    int found = 0;
    if (!has_row || !absl::SimpleAtoi(version.ColumnBytes(0), &found)) {
      return absl::DataLossError("fringe_jobs_meta has no valid schema_version");
    }
    if (found > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("job store '", path_, "' has schema version ", found,
                       ", newer than this build's ", kSchemaVersion, "; upgrade the server"));
    }
    // Migrations from older versions go here, keyed on `found`.
    return absl::OkStatus();
  }();
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok() && !sqlite3_get_autocommit(db_)) Exec("ROLLBACK").IgnoreError();
  return status;
}

absl::Status SqliteJobStore::InWriteTransaction(const std::function<absl::Status()>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  // IMMEDIATE takes the write lock up front (waiting up to the busy timeout). A deferred
  // transaction that reads and then writes can fail with SQLITE_BUSY at once, without waiting.
  FRINGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status status = body();
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok() && !sqlite3_get_autocommit(db_)) Exec("ROLLBACK").IgnoreError();
  return status;
}

absl::StatusOr<JobRecord> SqliteJobStore::ReadLocked(const std::string& id) {
  FRINGE_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, absl::StrCat("SELECT ", kColumns, " FROM fringe_jobs WHERE id = ?")));
  stmt.Text(id);
  FRINGE_ASSIGN_OR_RETURN(const bool found, stmt.Step());
  if (!found) return jt::JobNotFound(id);
  return stmt.Record();
}

absl::Status SqliteJobStore::WriteLocked(const JobRecord& job) {
  FRINGE_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_,
                         "UPDATE fringe_jobs SET state = ?, progress = ?, result = ?, error = ?, "
                         "worker = ?, attempts = ?, cancel_requested = ?, updated_ms = ?, "
                         "started_ms = ?, finished_ms = ?, lease_until_ms = ? WHERE id = ?"));
  stmt.Text(StateText(job.state))
      .Blob(job.progress)
      .Blob(job.result)
      .Text(job.error)
      .Text(job.worker)
      .Int(job.attempts)
      .Int(job.cancel_requested ? 1 : 0)
      .Int(job.updated_ms)
      .Int(job.started_ms)
      .Int(job.finished_ms)
      .Int(job.lease_until_ms)
      .Text(job.id);
  return stmt.Run();
}

absl::StatusOr<JobRecord> SqliteJobStore::Update(
    const std::string& id, const std::function<absl::Status(JobRecord*, int64_t)>& change) {
  JobRecord job;
  FRINGE_RETURN_IF_ERROR(InWriteTransaction([&]() -> absl::Status {
    FRINGE_ASSIGN_OR_RETURN(job, ReadLocked(id));
    FRINGE_RETURN_IF_ERROR(change(&job, NowMs()));
    return WriteLocked(job);
  }));
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::Submit(const std::string& owner, int priority,
                                                 const std::string& spec) {
  JobRecord job;
  FRINGE_RETURN_IF_ERROR(InWriteTransaction([&]() -> absl::Status {
    const int64_t now = NowMs();
    FRINGE_ASSIGN_OR_RETURN(
        Statement insert,
        Statement::Prepare(db_,
                           "INSERT INTO fringe_jobs (owner, priority, state, spec, created_ms, "
                           "updated_ms) VALUES (?, ?, 'QUEUED', ?, ?, ?)"));
    insert.Text(owner).Int(priority).Blob(spec).Int(now).Int(now);
    FRINGE_RETURN_IF_ERROR(insert.Run());
    // The id derives from the row's sequence number, known only after the insert; the
    // transaction hides the moment it is still NULL.
    const std::string id = FormatJobId(sqlite3_last_insert_rowid(db_));
    FRINGE_ASSIGN_OR_RETURN(Statement set_id,
                            Statement::Prepare(db_, "UPDATE fringe_jobs SET id = ? WHERE seq = ?"));
    set_id.Text(id).Int(sqlite3_last_insert_rowid(db_));
    FRINGE_RETURN_IF_ERROR(set_id.Run());
    FRINGE_ASSIGN_OR_RETURN(job, ReadLocked(id));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadLocked(id);
}

absl::StatusOr<std::vector<JobRecord>> SqliteJobStore::List(const JobFilter& filter) {
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM fringe_jobs WHERE id IS NOT NULL");
  if (filter.state.has_value()) sql += " AND state = ?";
  if (!filter.owner.empty()) sql += " AND owner = ?";
  if (filter.after) sql += " AND (created_ms < ? OR (created_ms = ? AND seq < ?))";
  sql += " ORDER BY created_ms DESC, seq DESC LIMIT ?";
  std::lock_guard<std::mutex> lock(mu_);
  FRINGE_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db_, sql));
  if (filter.state.has_value()) stmt.Text(StateText(*filter.state));
  if (!filter.owner.empty()) stmt.Text(filter.owner);
  if (filter.after) {
    stmt.Int(filter.after->created_ms);
    stmt.Int(filter.after->created_ms);
    stmt.Int(filter.after->seq);
  }
  stmt.Int(filter.limit > 0 ? filter.limit : -1);  // SQLite: a negative LIMIT means none.
  std::vector<JobRecord> jobs;
  while (true) {
    FRINGE_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    FRINGE_ASSIGN_OR_RETURN(JobRecord job, stmt.Record());
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<std::optional<JobRecord>> SqliteJobStore::ClaimNext(
    const std::string& worker, std::chrono::milliseconds lease) {
  FRINGE_RETURN_IF_ERROR(jt::ValidateWorker(worker));
  FRINGE_RETURN_IF_ERROR(jt::ValidateLease(lease));
  std::optional<JobRecord> claimed;
  FRINGE_RETURN_IF_ERROR(InWriteTransaction([&]() -> absl::Status {
    const int64_t now = NowMs();
    // A job whose cancellation was asked for while its worker died is finished, not rerun.
    FRINGE_ASSIGN_OR_RETURN(
        Statement cancel,
        Statement::Prepare(db_,
                           "UPDATE fringe_jobs SET state = 'CANCELLED', error = ?, worker = '', "
                           "lease_until_ms = 0, finished_ms = ?, updated_ms = ? "
                           "WHERE state = 'RUNNING' AND cancel_requested = 1 "
                           "AND lease_until_ms <= ?"));
    cancel.Text(jt::kCancelledWorkerGone).Int(now).Int(now).Int(now);
    FRINGE_RETURN_IF_ERROR(cancel.Run());
    FRINGE_ASSIGN_OR_RETURN(
        Statement next,
        Statement::Prepare(db_, absl::StrCat("SELECT ", kColumns,
                                             " FROM fringe_jobs WHERE state = 'QUEUED' OR "
                                             "(state = 'RUNNING' AND lease_until_ms <= ?) "
                                             "ORDER BY priority DESC, created_ms, seq LIMIT 1")));
    next.Int(now);
    FRINGE_ASSIGN_OR_RETURN(const bool found, next.Step());
    if (!found) return absl::OkStatus();
    FRINGE_ASSIGN_OR_RETURN(JobRecord job, next.Record());
    jt::ApplyClaim(&job, worker, now, lease);
    FRINGE_RETURN_IF_ERROR(WriteLocked(job));
    claimed = std::move(job);
    return absl::OkStatus();
  }));
  return claimed;
}

absl::StatusOr<JobRecord> SqliteJobStore::Heartbeat(const std::string& id,
                                                    const std::string& worker,
                                                    const std::string& progress,
                                                    std::chrono::milliseconds lease) {
  FRINGE_RETURN_IF_ERROR(jt::ValidateWorker(worker));
  FRINGE_RETURN_IF_ERROR(jt::ValidateLease(lease));
  return Update(id, [&](JobRecord* job, int64_t now) {
    return jt::ApplyHeartbeat(job, worker, progress, now, lease);
  });
}

absl::Status SqliteJobStore::Finish(const std::string& id, const std::string& worker,
                                    JobState state, const std::string& result,
                                    const std::string& error) {
  if (!IsTerminal(state)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot finish job ", id, " as ",
                                                   std::string(JobStateName(state)),
                                                   ": not a terminal state"));
  }
  return Update(id,
                [&](JobRecord* job, int64_t now) {
                  return jt::ApplyFinish(job, worker, state, result, error, now);
                })
      .status();
}

absl::StatusOr<JobRecord> SqliteJobStore::Cancel(const std::string& id) {
  return Update(id, [](JobRecord* job, int64_t now) { return jt::ApplyCancel(job, now); });
}

absl::StatusOr<int> SqliteJobStore::ReleaseClaims(const std::string& worker) {
  FRINGE_RETURN_IF_ERROR(jt::ValidateWorker(worker));
  int released = 0;
  FRINGE_RETURN_IF_ERROR(InWriteTransaction([&]() -> absl::Status {
    const int64_t now = NowMs();
    FRINGE_ASSIGN_OR_RETURN(
        Statement cancel,
        Statement::Prepare(db_,
                           "UPDATE fringe_jobs SET state = 'CANCELLED', error = ?, worker = '', "
                           "lease_until_ms = 0, finished_ms = ?, updated_ms = ? "
                           "WHERE state = 'RUNNING' AND worker = ? AND cancel_requested = 1"));
    cancel.Text(jt::kCancelledWorkerGone).Int(now).Int(now).Text(worker);
    FRINGE_RETURN_IF_ERROR(cancel.Run());
    released += sqlite3_changes(db_);
    FRINGE_ASSIGN_OR_RETURN(
        Statement requeue,
        Statement::Prepare(db_,
                           "UPDATE fringe_jobs SET state = 'QUEUED', worker = '', "
                           "lease_until_ms = 0, updated_ms = ? "
                           "WHERE state = 'RUNNING' AND worker = ?"));
    requeue.Int(now).Text(worker);
    FRINGE_RETURN_IF_ERROR(requeue.Run());
    released += sqlite3_changes(db_);
    return absl::OkStatus();
  }));
  return released;
}

}  // namespace fringe
