// One poller per server for every Jobs.Watch call. The job store may be shared by several
// servers (PostgreSQL), so a change made elsewhere raises no event here; the poller reads
// each watched job once per interval - one read per job, however many clients watch it -
// and tells each watcher when its job's record changed. A thread per watcher would cost a
// thread and a store round trip per client per interval.
#ifndef FRINGE_SERVER_JOB_WATCHER_H_
#define FRINGE_SERVER_JOB_WATCHER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/jobs/job_store.h"

namespace fringe {

class JobWatcher {
 public:
  // Called on the poller thread with the job's record when it is first read and whenever it
  // changes afterwards, or with the error of reading it (NOT_FOUND for an unknown id).
  using Update = std::function<void(const absl::StatusOr<JobRecord>& record)>;

  // `store` must outlive the watcher.
  JobWatcher(JobStore* store, std::chrono::milliseconds interval);
  // Stops the poller; no update is delivered afterwards.
  ~JobWatcher();
  JobWatcher(const JobWatcher&) = delete;
  JobWatcher& operator=(const JobWatcher&) = delete;

  // Starts watching `job_id` (the first read happens at once, not after an interval) and
  // returns the handle for Unwatch().
  uint64_t Watch(const std::string& job_id, Update update);
  // After it returns, `update` of that watch is never called again (it waits for a call in
  // progress on another thread; from inside an update it just stops the next ones).
  void Unwatch(uint64_t watch);

  size_t watching() const;

 private:
  struct Entry {
    std::string job_id;
    Update update;
    std::string last;  // The record as last delivered (serialised), "" before the first.
    bool delivered = false;
  };
  void Loop();

  JobStore* const store_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;  // Guards watches_, next_, stop_, poll_now_.
  std::condition_variable cv_;
  std::map<uint64_t, Entry> watches_;
  uint64_t next_ = 1;
  bool stop_ = false;
  bool poll_now_ = false;
  // Held while updates are delivered, so Unwatch() can wait for one in progress.
  std::mutex deliver_mu_;
  std::thread thread_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_JOB_WATCHER_H_
