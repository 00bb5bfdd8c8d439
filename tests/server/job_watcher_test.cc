// The server's one job poller: first state at once, changes only when they happen, one
// update stream per watch, nothing after Unwatch.
#include "server/job_watcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "tests/support/test_repository.h"

namespace fringe {
namespace {

class JobWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenJobStore("sqlite:" + testing::MakeTempDir("watcher") + "/jobs.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Collects what one watch receives.
  struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<absl::StatusOr<JobRecord>> updates;

    JobWatcher::Update Callback() {
      return [this](const absl::StatusOr<JobRecord>& r) {
        std::lock_guard<std::mutex> lock(mu);
        updates.push_back(r);
        cv.notify_all();
      };
    }
    // Waits (up to 5 s) until `n` updates have arrived; returns how many there are.
    size_t WaitFor(size_t n) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(5), [&] { return updates.size() >= n; });
      return updates.size();
    }
  };

  std::unique_ptr<JobStore> store_;
};

TEST_F(JobWatcherTest, TheFirstStateComesAtOnceNotAfterAnInterval) {
  auto job = store_->Submit("alice", 0, "spec");
  ASSERT_TRUE(job.ok()) << job.status();
  JobWatcher watcher(store_.get(), std::chrono::minutes(1));
  Seen seen;
  const uint64_t w = watcher.Watch(job->id, seen.Callback());
  ASSERT_EQ(seen.WaitFor(1), 1u);
  EXPECT_EQ(seen.updates[0]->id, job->id);
  watcher.Unwatch(w);
}

TEST_F(JobWatcherTest, DeliversChangesOnlyToEveryWatcherOfAJob) {
  auto job = store_->Submit("alice", 0, "spec");
  ASSERT_TRUE(job.ok()) << job.status();
  JobWatcher watcher(store_.get(), std::chrono::milliseconds(50));
  Seen a, b;
  const uint64_t wa = watcher.Watch(job->id, a.Callback());
  const uint64_t wb = watcher.Watch(job->id, b.Callback());
  ASSERT_EQ(a.WaitFor(1), 1u);
  ASSERT_EQ(b.WaitFor(1), 1u);
  EXPECT_EQ(a.updates[0]->state, JobState::kQueued);
  // Several polling rounds without a change deliver nothing new.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(a.WaitFor(1), 1u);

  ASSERT_TRUE(store_->Cancel(job->id).ok());
  ASSERT_EQ(a.WaitFor(2), 2u);
  EXPECT_EQ(a.updates[1]->state, JobState::kCancelled);
  ASSERT_EQ(b.WaitFor(2), 2u);
  EXPECT_EQ(watcher.watching(), 2u);
  watcher.Unwatch(wa);
  watcher.Unwatch(wb);
  EXPECT_EQ(watcher.watching(), 0u);
}

TEST_F(JobWatcherTest, AnUnknownJobIsReportedAsNotFound) {
  JobWatcher watcher(store_.get(), std::chrono::milliseconds(50));
  Seen seen;
  const uint64_t w = watcher.Watch("job-99999999", seen.Callback());
  ASSERT_GE(seen.WaitFor(1), 1u);
  EXPECT_EQ(seen.updates[0].status().code(), absl::StatusCode::kNotFound);
  watcher.Unwatch(w);
}

TEST_F(JobWatcherTest, NothingArrivesAfterUnwatchEvenFromInsideAnUpdate) {
  auto first = store_->Submit("alice", 0, "spec");
  ASSERT_TRUE(first.ok());
  JobWatcher watcher(store_.get(), std::chrono::milliseconds(20));
  int calls = 0;
  uint64_t self = 0;
  std::mutex mu;
  std::condition_variable cv;
  {
    // Held while watching, so the first update sees `self` set.
    std::lock_guard<std::mutex> lock(mu);
    self = watcher.Watch(first->id, [&](const absl::StatusOr<JobRecord>&) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      watcher.Unwatch(self);  // From the poller thread itself: must not deadlock.
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return calls == 1; }));
  }
  ASSERT_TRUE(store_->Cancel(first->id).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(watcher.watching(), 0u);
}

}  // namespace
}  // namespace fringe
