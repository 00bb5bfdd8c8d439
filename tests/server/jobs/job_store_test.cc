// One suite, run against every JobStore backend.
//
// SQLite cases always run, each on a fresh file under /tmp. PostgreSQL cases run against the
// server named by FRINGE_TEST_POSTGRES_URL (deploy/postgres-test.sh starts a throwaway one);
// each case gets its own PostgreSQL schema (`schema=` in the store URL, named after the test
// process and dropped afterwards), so cases are independent and may run in parallel
// (ctest -j). Without the variable the PostgreSQL cases are skipped - or fail when
// FRINGE_REQUIRE_POSTGRES=1, so CI cannot silently lose them. The cases are always registered
// and decide at run time, because CTest discovers test names at build time, when the
// environment may differ.
#include "server/jobs/job_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fringe {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kLongLease{60'000};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// All 256 byte values, NULs among them, twice.
std::string AllBytes() {
  std::string s;
  for (int round = 0; round < 2; ++round) {
    for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  }
  return s;
}

void ExpectSameRecord(const JobRecord& a, const JobRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.owner, b.owner);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.spec, b.spec);
  EXPECT_EQ(a.progress, b.progress);
  EXPECT_EQ(a.result, b.result);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.worker, b.worker);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.cancel_requested, b.cancel_requested);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.updated_ms, b.updated_ms);
  EXPECT_EQ(a.started_ms, b.started_ms);
  EXPECT_EQ(a.finished_ms, b.finished_ms);
  EXPECT_EQ(a.lease_until_ms, b.lease_until_ms);
}

class JobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  bool postgres() const { return GetParam() == "postgres"; }

  void SetUp() override {
    if (postgres()) {
      base_url_ = Env("FRINGE_TEST_POSTGRES_URL");
      if (base_url_.empty()) {
        if (Env("FRINGE_REQUIRE_POSTGRES") == "1") {
          GTEST_FAIL() << "FRINGE_REQUIRE_POSTGRES=1 but FRINGE_TEST_POSTGRES_URL is not set "
                          "(start one with: bash deploy/postgres-test.sh start; export "
                          "FRINGE_TEST_POSTGRES_URL=$(bash deploy/postgres-test.sh url))";
        }
        GTEST_SKIP() << "FRINGE_TEST_POSTGRES_URL is not set";
      }
      static std::atomic<int> counter{0};
      schema_ = "fringe_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
      // A schema left by a crashed run whose pid came round again.
      DropSchema();
      url_ =
          base_url_ + (base_url_.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
    } else {
      char tmpl[] = "/tmp/fringe_jobs_XXXXXX";
      ASSERT_NE(mkdtemp(tmpl), nullptr);
      dir_ = tmpl;
      // A directory that does not exist yet: Open must create it.
      url_ = "sqlite:" + dir_ + "/queue/jobs.db";
    }
  }

  void TearDown() override {
    if (postgres() && !schema_.empty()) DropSchema();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<JobStore> Open() {
    auto store = OpenJobStore(url_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Runs `sql` directly on the backend's database; {T} stands for the jobs tables' prefix.
  void ExecSql(std::string sql) {
    if (postgres()) {
      for (size_t p; (p = sql.find("{T}")) != std::string::npos;) sql.replace(p, 3, schema_ + ".");
      pqxx::connection conn(base_url_);
      pqxx::nontransaction tx(conn);
      tx.exec(sql);
    } else {
      for (size_t p; (p = sql.find("{T}")) != std::string::npos;) sql.erase(p, 3);
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open((dir_ + "/queue/jobs.db").c_str(), &db), SQLITE_OK);
      char* error = nullptr;
      EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << error;
      sqlite3_free(error);
      sqlite3_close(db);
    }
  }

  void DropSchema() {
    try {
      pqxx::connection conn(base_url_);
      pqxx::nontransaction tx(conn);
      tx.exec("SET client_min_messages TO warning");  // No "drop cascades to ..." notices.
      tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(schema_) + " CASCADE");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping schema " << schema_ << ": " << e.what();
    }
  }

  std::string url_;
  std::string base_url_;  // PostgreSQL: the server, without our schema.
  std::string schema_;    // PostgreSQL: this case's schema.
  std::string dir_;       // SQLite: this case's directory.
};

TEST_P(JobStoreTest, SubmitThenGet) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto job = store->Submit("alice", 3, "spec-bytes");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id.rfind("job-", 0), 0u) << job->id;
  EXPECT_EQ(job->owner, "alice");
  EXPECT_EQ(job->priority, 3);
  EXPECT_EQ(job->state, JobState::kQueued);
  EXPECT_EQ(job->spec, "spec-bytes");
  EXPECT_EQ(job->attempts, 0);
  EXPECT_EQ(job->worker, "");
  EXPECT_FALSE(job->cancel_requested);
  EXPECT_GT(job->created_ms, 1'600'000'000'000);  // Unix ms, not seconds.
  EXPECT_EQ(job->updated_ms, job->created_ms);
  EXPECT_EQ(job->started_ms, 0);
  EXPECT_EQ(job->finished_ms, 0);
  EXPECT_EQ(job->lease_until_ms, 0);

  auto got = store->Get(job->id);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameRecord(*got, *job);

  auto second = store->Submit("alice", 0, "");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->id, job->id);
  EXPECT_GT(second->id, job->id);  // Zero-padded: ids sort in submission order.

  auto missing = store->Get("job-99999999");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("job-99999999"), std::string::npos);
}

// Keyset paging: pages of two after the last shown job cover every job once, newest first,
// also within one millisecond (the sequence number breaks ties) and with a filter.
TEST_P(JobStoreTest, ListPagesAfterACursor) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto job = store->Submit(i == 2 ? "bob" : "alice", 0, "s");
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->id);
  }
  std::vector<std::string> seen;
  JobFilter filter;
  filter.limit = 2;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store->List(filter);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const JobRecord& r : *page) seen.push_back(r.id);
    if (page->size() < 2) break;
    filter.after = JobFilter::Cursor{page->back().created_ms, *ParseJobId(page->back().id)};
  }
  ASSERT_EQ(seen.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(seen[i], ids[4 - i]);

  JobFilter alice;
  alice.owner = "alice";
  alice.limit = 2;
  auto first = store->List(alice);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  alice.after = JobFilter::Cursor{first->back().created_ms, *ParseJobId(first->back().id)};
  auto second = store->List(alice);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0].id, ids[1]);  // ids[2] is bob's.
  EXPECT_EQ((*second)[1].id, ids[0]);
}

TEST_P(JobStoreTest, ListFiltersAndOrdersNewestFirst) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto job = store->Submit(i % 2 == 0 ? "alice" : "bob", i, "s" + std::to_string(i));
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->id);
  }
  auto claimed = store->ClaimNext("w1", kLongLease);  // Highest priority: ids[4].
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();
  EXPECT_EQ((*claimed)->id, ids[4]);

  auto all = store->List(JobFilter{});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ((*all)[i].id, ids[4 - i]);

  JobFilter alice;
  alice.owner = "alice";
  auto by_owner = store->List(alice);
  ASSERT_TRUE(by_owner.ok()) << by_owner.status();
  ASSERT_EQ(by_owner->size(), 3u);
  EXPECT_EQ((*by_owner)[0].id, ids[4]);
  EXPECT_EQ((*by_owner)[1].id, ids[2]);
  EXPECT_EQ((*by_owner)[2].id, ids[0]);

  JobFilter queued;
  queued.state = JobState::kQueued;
  auto by_state = store->List(queued);
  ASSERT_TRUE(by_state.ok()) << by_state.status();
  EXPECT_EQ(by_state->size(), 4u);

  JobFilter running_bob;
  running_bob.state = JobState::kRunning;
  running_bob.owner = "bob";
  auto none = store->List(running_bob);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());

  JobFilter two;
  two.limit = 2;
  auto limited = store->List(two);
  ASSERT_TRUE(limited.ok()) << limited.status();
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0].id, ids[4]);

  JobFilter unlimited;
  unlimited.limit = 0;
  auto everything = store->List(unlimited);
  ASSERT_TRUE(everything.ok()) << everything.status();
  EXPECT_EQ(everything->size(), 5u);
}

TEST_P(JobStoreTest, ClaimsByPriorityThenAge) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::map<std::string, std::string> id_of;
  for (const auto& [name, priority] : std::vector<std::pair<std::string, int>>{
           {"a", 0}, {"b", 5}, {"c", 5}, {"d", 1}, {"e", -2}}) {
    auto job = store->Submit("owner", priority, name);
    ASSERT_TRUE(job.ok()) << job.status();
    id_of[name] = job->id;
  }
  std::string order;
  while (true) {
    auto claimed = store->ClaimNext("worker-1", kLongLease);
    ASSERT_TRUE(claimed.ok()) << claimed.status();
    if (!claimed->has_value()) break;
    const JobRecord& job = **claimed;
    order += job.spec;
    EXPECT_EQ(job.id, id_of[job.spec]);
    EXPECT_EQ(job.state, JobState::kRunning);
    EXPECT_EQ(job.worker, "worker-1");
    EXPECT_EQ(job.attempts, 1);
    EXPECT_GE(job.started_ms, job.created_ms);
    EXPECT_EQ(job.updated_ms, job.started_ms);
    EXPECT_EQ(job.lease_until_ms, job.started_ms + kLongLease.count());
  }
  EXPECT_EQ(order, "bcdae");
  auto got = store->Get(id_of["a"]);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kRunning);
}

TEST_P(JobStoreTest, RejectsBadClaimArguments) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ClaimNext("", kLongLease).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ClaimNext("w", milliseconds(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReleaseClaims("").status().code(), absl::StatusCode::kInvalidArgument);
}

// Claims from `threads` threads until the queue is empty, through one shared store or one
// store (connection) per thread; every job must be claimed exactly once.
void ClaimConcurrently(std::vector<std::unique_ptr<JobStore>>& stores, int threads, int jobs) {
  std::set<std::string> submitted;
  for (int i = 0; i < jobs; ++i) {
    auto job = stores[0]->Submit("owner", i % 3, "job " + std::to_string(i));
    ASSERT_TRUE(job.ok()) << job.status();
    submitted.insert(job->id);
  }
  std::mutex mu;
  std::map<std::string, int> claims;
  std::vector<std::string> errors;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      JobStore& store = *stores[t % stores.size()];
      const std::string worker = "worker-" + std::to_string(t);
      while (true) {
        auto claimed = store.ClaimNext(worker, kLongLease);
        if (!claimed.ok() || !claimed->has_value()) {
          if (!claimed.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            errors.push_back(claimed.status().ToString());
          }
          return;
        }
        const absl::Status finished =
            store.Finish((*claimed)->id, worker, JobState::kSucceeded, "done", "");
        std::lock_guard<std::mutex> lock(mu);
        ++claims[(*claimed)->id];
        if (!finished.ok()) errors.push_back(finished.ToString());
      }
    });
  }
  for (std::thread& th : pool) th.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(claims.size(), submitted.size());
  for (const auto& [id, count] : claims) {
    EXPECT_EQ(count, 1) << id;
    EXPECT_EQ(submitted.count(id), 1u) << id;
  }
  JobFilter succeeded;
  succeeded.state = JobState::kSucceeded;
  succeeded.limit = 0;
  auto done = stores[0]->List(succeeded);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->size(), submitted.size());
  for (const JobRecord& job : *done) EXPECT_EQ(job.attempts, 1) << job.id;
}

TEST_P(JobStoreTest, ParallelClaimersOnOneStoreNeverShareAJob) {
  std::vector<std::unique_ptr<JobStore>> stores;
  stores.push_back(Open());
  ASSERT_NE(stores[0], nullptr);
  ClaimConcurrently(stores, 4, 50);
}

TEST_P(JobStoreTest, ParallelClaimersOnSeparateConnectionsNeverShareAJob) {
  // Separate stores = separate connections: SQLite's file lock, PostgreSQL's SKIP LOCKED, as
  // between servers.
  std::vector<std::unique_ptr<JobStore>> stores;
  for (int i = 0; i < 4; ++i) {
    stores.push_back(Open());
    ASSERT_NE(stores.back(), nullptr);
  }
  ClaimConcurrently(stores, 4, 50);
}

TEST_P(JobStoreTest, ExpiredLeaseLetsAnotherWorkerReclaim) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto job = store->Submit("owner", 0, "spec");
  ASSERT_TRUE(job.ok()) << job.status();

  auto first = store->ClaimNext("w1", kLongLease);
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status();
  auto while_held = store->ClaimNext("w2", kLongLease);
  ASSERT_TRUE(while_held.ok()) << while_held.status();
  EXPECT_FALSE(while_held->has_value()) << "claimed a job whose lease is still running";

  // w1 "dies" with a lease about to end.
  auto beat = store->Heartbeat(job->id, "w1", "halfway", milliseconds(100));
  ASSERT_TRUE(beat.ok()) << beat.status();
  std::this_thread::sleep_for(milliseconds(250));

  auto second = store->ClaimNext("w2", kLongLease);
  ASSERT_TRUE(second.ok() && second->has_value()) << second.status();
  EXPECT_EQ((*second)->id, job->id);
  EXPECT_EQ((*second)->worker, "w2");
  EXPECT_EQ((*second)->attempts, 2);
  EXPECT_EQ((*second)->started_ms, (*first)->started_ms);  // The first start.
  EXPECT_EQ((*second)->progress, "halfway");               // Kept for the new runner.

  // The old holder is told it lost the claim.
  EXPECT_EQ(store->Heartbeat(job->id, "w1", "", kLongLease).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Finish(job->id, "w1", JobState::kSucceeded, "", "").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->Finish(job->id, "w2", JobState::kSucceeded, "ok", "").ok());
}

TEST_P(JobStoreTest, HeartbeatRecordsProgressOnlyForTheHolder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto job = store->Submit("owner", 0, "spec");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(store->Heartbeat(job->id, "w1", "p", kLongLease).status().code(),
            absl::StatusCode::kFailedPrecondition);  // Not claimed yet.

  auto claimed = store->ClaimNext("w1", milliseconds(1000));
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();
  auto beat = store->Heartbeat(job->id, "w1", "epoch 1", kLongLease);
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->progress, "epoch 1");
  EXPECT_EQ(beat->lease_until_ms, beat->updated_ms + kLongLease.count());
  EXPECT_GT(beat->lease_until_ms, (*claimed)->lease_until_ms);
  EXPECT_FALSE(beat->cancel_requested);

  auto keep = store->Heartbeat(job->id, "w1", "", kLongLease);  // Empty keeps the report.
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_EQ(keep->progress, "epoch 1");

  auto other = store->Heartbeat(job->id, "w2", "hijack", kLongLease);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("w1"), std::string::npos) << other.status();
  auto got = store->Get(job->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->progress, "epoch 1");
  EXPECT_EQ(got->worker, "w1");

  EXPECT_EQ(store->Heartbeat("job-77777777", "w1", "", kLongLease).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Heartbeat(job->id, "w1", "", milliseconds(-5)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(JobStoreTest, FinishIsTerminalAndOnlyForTheHolder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto job = store->Submit("owner", 0, "spec");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(store->Finish(job->id, "w1", JobState::kSucceeded, "", "").code(),
            absl::StatusCode::kFailedPrecondition);  // QUEUED: nobody holds it.
  auto claimed = store->ClaimNext("w1", kLongLease);
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();

  EXPECT_EQ(store->Finish(job->id, "w1", JobState::kRunning, "", "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Finish(job->id, "w1", JobState::kQueued, "", "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Finish("job-77777777", "w1", JobState::kFailed, "", "").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Finish(job->id, "w2", JobState::kFailed, "", "").code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(store->Finish(job->id, "w1", JobState::kFailed, "partial", "out of memory").ok());
  auto got = store->Get(job->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kFailed);
  EXPECT_EQ(got->result, "partial");
  EXPECT_EQ(got->error, "out of memory");
  EXPECT_EQ(got->worker, "");
  EXPECT_EQ(got->lease_until_ms, 0);
  EXPECT_GE(got->finished_ms, got->started_ms);
  EXPECT_EQ(got->attempts, 1);

  const absl::Status again = store->Finish(job->id, "w1", JobState::kSucceeded, "", "");
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("FAILED"), std::string::npos) << again;
  auto next = store->ClaimNext("w1", kLongLease);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());  // Terminal jobs never run again.
}

TEST_P(JobStoreTest, CancelQueuedRunningAndTerminalJobs) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto queued = store->Submit("owner", 0, "q");
  auto running = store->Submit("owner", 9, "r");
  ASSERT_TRUE(queued.ok() && running.ok());

  // QUEUED -> CANCELLED at once.
  auto cancelled = store->Cancel(queued->id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_TRUE(cancelled->cancel_requested);
  EXPECT_GT(cancelled->finished_ms, 0);
  EXPECT_FALSE(cancelled->error.empty());

  // RUNNING -> cancel_requested; the runner sees it in its heartbeat and finishes.
  auto claimed = store->ClaimNext("w1", kLongLease);
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();
  EXPECT_EQ((*claimed)->id, running->id);
  auto requested = store->Cancel(running->id);
  ASSERT_TRUE(requested.ok()) << requested.status();
  EXPECT_EQ(requested->state, JobState::kRunning);
  EXPECT_TRUE(requested->cancel_requested);
  EXPECT_EQ(requested->worker, "w1");
  auto beat = store->Heartbeat(running->id, "w1", "", kLongLease);
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_TRUE(beat->cancel_requested);
  ASSERT_TRUE(store->Finish(running->id, "w1", JobState::kCancelled, "", "cancelled by user").ok());
  auto got = store->Get(running->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kCancelled);
  EXPECT_EQ(got->error, "cancelled by user");

  // Terminal -> FAILED_PRECONDITION naming the state.
  const auto again = store->Cancel(running->id);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("CANCELLED"), std::string::npos) << again.status();
  EXPECT_EQ(store->Cancel("job-77777777").status().code(), absl::StatusCode::kNotFound);

  auto next = store->ClaimNext("w1", kLongLease);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

TEST_P(JobStoreTest, CancelOfAJobWhoseWorkerIsGoneFinishesIt) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto a = store->Submit("owner", 0, "a");
  auto b = store->Submit("owner", 1, "b");
  ASSERT_TRUE(a.ok() && b.ok());
  // b first, with a long lease: claiming a first with its short lease could let the second
  // claim take a again on a slow machine.
  auto claimed_b = store->ClaimNext("w1", kLongLease);
  ASSERT_TRUE(claimed_b.ok() && claimed_b->has_value() && (*claimed_b)->id == b->id);
  auto claimed_a = store->ClaimNext("w1", milliseconds(50));  // Lease soon over.
  ASSERT_TRUE(claimed_a.ok() && claimed_a->has_value() && (*claimed_a)->id == a->id);
  auto requested = store->Cancel(b->id);  // Held: only requested.
  ASSERT_TRUE(requested.ok()) << requested.status();
  EXPECT_EQ(requested->state, JobState::kRunning);
  std::this_thread::sleep_for(milliseconds(150));

  // a's lease ran out: nobody is running it, so cancelling finishes it at once.
  auto cancelled = store->Cancel(a->id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(cancelled->worker, "");

  // b's cancellation was requested and then its worker died: it must not run again.
  ASSERT_TRUE(store->Heartbeat(b->id, "w1", "", milliseconds(1)).ok());
  std::this_thread::sleep_for(milliseconds(20));
  auto next = store->ClaimNext("w2", kLongLease);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->has_value());
  auto got = store->Get(b->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kCancelled);
  EXPECT_EQ(got->attempts, 1);
}

TEST_P(JobStoreTest, ReleaseClaimsRequeuesAfterACrash) {
  std::string id, cancelled_id;
  int64_t started = 0;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto job = store->Submit("owner", 1, "resume me");
    auto doomed = store->Submit("owner", 0, "cancel me");
    ASSERT_TRUE(job.ok() && doomed.ok());
    id = job->id;
    cancelled_id = doomed->id;
    auto claimed = store->ClaimNext("server-a", kLongLease);
    ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();
    ASSERT_EQ((*claimed)->id, id);
    started = (*claimed)->started_ms;
    ASSERT_TRUE(store->Heartbeat(id, "server-a", "checkpoint 3", kLongLease).ok());
    ASSERT_TRUE(store->ClaimNext("server-a", kLongLease).ok());  // doomed
    ASSERT_TRUE(store->Cancel(cancelled_id).ok());
    // The process dies here: no Finish, the store just goes away.
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto before = store->ClaimNext("server-b", kLongLease);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->has_value()) << "leases still run";

  auto other = store->ReleaseClaims("server-b");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*other, 0);
  auto released = store->ReleaseClaims("server-a");
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(*released, 2);

  auto requeued = store->Get(id);
  ASSERT_TRUE(requeued.ok());
  EXPECT_EQ(requeued->state, JobState::kQueued);
  EXPECT_EQ(requeued->worker, "");
  EXPECT_EQ(requeued->lease_until_ms, 0);
  EXPECT_EQ(requeued->progress, "checkpoint 3");
  auto gone = store->Get(cancelled_id);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->state, JobState::kCancelled);

  auto again = store->ClaimNext("server-a", kLongLease);
  ASSERT_TRUE(again.ok() && again->has_value()) << again.status();
  EXPECT_EQ((*again)->id, id);
  EXPECT_EQ((*again)->attempts, 2);
  EXPECT_EQ((*again)->started_ms, started);
  EXPECT_EQ((*again)->progress, "checkpoint 3");
}

TEST_P(JobStoreTest, EverythingPersistsAcrossReopen) {
  std::vector<JobRecord> before;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(store->Submit("o" + std::to_string(i), i, "s").ok());
    auto claimed = store->ClaimNext("w", kLongLease);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    ASSERT_TRUE(store->Heartbeat((*claimed)->id, "w", "progress", kLongLease).ok());
    auto finished = store->ClaimNext("w", kLongLease);
    ASSERT_TRUE(finished.ok() && finished->has_value());
    ASSERT_TRUE(store->Finish((*finished)->id, "w", JobState::kSucceeded, "model v7", "").ok());
    auto all = store->List(JobFilter{});
    ASSERT_TRUE(all.ok());
    before = *all;
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto after = store->List(JobFilter{});
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) ExpectSameRecord((*after)[i], before[i]);
  // Ids keep counting after a reopen.
  auto next = store->Submit("o", 0, "s");
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->id, before.front().id);
}

TEST_P(JobStoreTest, BinaryBytesWithNulsRoundTrip) {
  const std::string bytes = AllBytes();
  const std::string nul_only(7, '\0');
  std::string id, empty_id;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto job = store->Submit(std::string("owner"), 0, bytes);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->spec, bytes);
    id = job->id;
    auto empty = store->Submit("owner", -1, "");
    ASSERT_TRUE(empty.ok()) << empty.status();
    empty_id = empty->id;
    auto claimed = store->ClaimNext("w", kLongLease);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    EXPECT_EQ((*claimed)->spec, bytes);
    auto beat = store->Heartbeat(id, "w", nul_only, kLongLease);
    ASSERT_TRUE(beat.ok()) << beat.status();
    EXPECT_EQ(beat->progress, nul_only);
    ASSERT_TRUE(store->Finish(id, "w", JobState::kSucceeded, bytes + nul_only, "").ok());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto got = store->Get(id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->spec.size(), bytes.size());
  EXPECT_EQ(got->spec, bytes);
  EXPECT_EQ(got->progress, nul_only);
  EXPECT_EQ(got->result, bytes + nul_only);
  auto empty = store->Get(empty_id);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->spec, "");
  EXPECT_EQ(empty->progress, "");
}

TEST_P(JobStoreTest, ServersStartingAtOnceShareOneSchema) {
  // Four stores open a database that has no tables yet, all at once, as servers starting
  // together would: each must succeed and see the same queue.
  std::vector<absl::StatusOr<std::unique_ptr<JobStore>>> stores(4);
  std::vector<std::thread> threads;
  for (auto& store : stores) {
    threads.emplace_back([&store, this] { store = OpenJobStore(url_); });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> ids;
  for (auto& store : stores) {
    ASSERT_TRUE(store.ok()) << store.status();
    auto job = (*store)->Submit("owner", 0, "s");
    ASSERT_TRUE(job.ok()) << job.status();
    ids.insert(job->id);
  }
  EXPECT_EQ(ids.size(), 4u);
  auto all = (*stores[0])->List(JobFilter{});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 4u);
}

TEST_P(JobStoreTest, RefusesANewerSchemaVersion) {
  { ASSERT_NE(Open(), nullptr); }
  ExecSql("UPDATE {T}fringe_jobs_meta SET value = '99' WHERE key = 'schema_version'");
  auto store = OpenJobStore(url_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("99"), std::string::npos) << store.status();
}

INSTANTIATE_TEST_SUITE_P(Backends, JobStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Errors that need no database.

TEST(OpenJobStoreTest, UnknownSchemesAreInvalidArguments) {
  for (const std::string url :
       {"", "mysql://db/jobs", "postgress://u@h/db", "redis:jobs", "sqlite:", "sqlite://"}) {
    auto store = OpenJobStore(url);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

TEST(OpenJobStoreTest, UnreachablePostgresIsUnavailableWithoutThePassword) {
  // Port 1 on loopback: refused at once.
  auto store = OpenJobStore("postgresql://fringe:s3cret@127.0.0.1:1/jobs?schema=q");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_NE(store.status().message().find("127.0.0.1:1"), std::string::npos) << store.status();
  EXPECT_EQ(store.status().message().find("s3cret"), std::string::npos) << store.status();
  auto keyword = OpenJobStore("postgres://127.0.0.1:1/jobs?password=hunter2&sslmode=disable");
  EXPECT_EQ(keyword.status().code(), absl::StatusCode::kUnavailable) << keyword.status();
  EXPECT_EQ(keyword.status().message().find("hunter2"), std::string::npos) << keyword.status();
}

TEST(OpenJobStoreTest, BadPostgresSchemaNameIsInvalidArgument) {
  auto store = OpenJobStore("postgresql://u@127.0.0.1:1/db?schema=x;DROP");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << store.status();
}

TEST(OpenJobStoreTest, UnopenableSqliteFilesAreUnavailable) {
  char tmpl[] = "/tmp/fringe_jobs_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    FILE* f = std::fopen((dir + "/not-a-dir").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is no database, and no directory either\n", f);
    std::fclose(f);
  }
  auto under_file = OpenJobStore(dir + "/not-a-dir/jobs.db");
  EXPECT_EQ(under_file.status().code(), absl::StatusCode::kUnavailable) << under_file.status();
  auto not_db = OpenJobStore("sqlite:" + dir + "/not-a-dir");
  EXPECT_EQ(not_db.status().code(), absl::StatusCode::kUnavailable) << not_db.status();
  std::filesystem::remove_all(dir);
}

TEST(OpenJobStoreTest, BarePathsAndSqliteUrlsNameTheSameFile) {
  char tmpl[] = "/tmp/fringe_jobs_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::string id;
  {
    auto store = OpenJobStore(dir + "/jobs.db");
    ASSERT_TRUE(store.ok()) << store.status();
    auto job = (*store)->Submit("o", 0, "s");
    ASSERT_TRUE(job.ok());
    id = job->id;
  }
  for (const std::string url : {"sqlite:" + dir + "/jobs.db", "sqlite://" + dir + "/jobs.db"}) {
    auto store = OpenJobStore(url);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE((*store)->Get(id).ok()) << url;
  }
  std::filesystem::remove_all(dir);
}

TEST(JobStoreNamesTest, StatesIdsAndRedaction) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled}) {
    auto parsed = ParseJobState(JobStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(JobStateName(JobState::kCancelled), "CANCELLED");
  EXPECT_FALSE(ParseJobState("queued").ok());
  EXPECT_EQ(FormatJobId(42), "job-00000042");
  EXPECT_EQ(FormatJobId(1234567890), "job-1234567890");
  EXPECT_EQ(RedactJobStoreUrl("postgresql://me:pw@h:5/db?schema=s"),
            "postgresql://me@h:5/db?schema=s");
  EXPECT_EQ(RedactJobStoreUrl("postgres://h/db?sslmode=require&password=pw"),
            "postgres://h/db?sslmode=require&password=***");
  EXPECT_EQ(RedactJobStoreUrl("postgresql://me@h/db"), "postgresql://me@h/db");
  EXPECT_EQ(RedactJobStoreUrl("/var/lib/fringe/jobs.db"), "/var/lib/fringe/jobs.db");
}

}  // namespace
}  // namespace fringe
