#include "server/job_watcher.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fringe {
namespace {

// What a watcher sees of a record: everything a client is shown, so any visible change
// (state, progress, heartbeat-free fields) is delivered and nothing else is.
std::string Fingerprint(const JobRecord& r) {
  return absl::StrCat(static_cast<int>(r.state), "\x1f", r.progress, "\x1f", r.result, "\x1f",
                      r.error, "\x1f", r.attempts, "\x1f", r.cancel_requested, "\x1f", r.worker,
                      "\x1f", r.started_ms, "\x1f", r.finished_ms, "\x1f", r.priority);
}

}  // namespace

JobWatcher::JobWatcher(JobStore* store, std::chrono::milliseconds interval)
    : store_(store), interval_(interval), thread_([this] { Loop(); }) {}

JobWatcher::~JobWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t JobWatcher::Watch(const std::string& job_id, Update update) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_++;
    watches_[id] = {job_id, std::move(update), "", false};
    poll_now_ = true;
  }
  cv_.notify_all();
  return id;
}

void JobWatcher::Unwatch(uint64_t watch) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // Inside an update: the poller holds deliver_mu_ and checks watches_ before each call.
    std::lock_guard<std::mutex> lock(mu_);
    watches_.erase(watch);
    return;
  }
  std::lock_guard<std::mutex> deliver(deliver_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  watches_.erase(watch);
}

size_t JobWatcher::watching() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watches_.size();
}

void JobWatcher::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, interval_, [this] { return stop_ || poll_now_; });
    if (stop_) return;
    poll_now_ = false;
    std::set<std::string> ids;
    for (const auto& [id, w] : watches_) ids.insert(w.job_id);
    if (ids.empty()) continue;
    lock.unlock();
    // One read per job, outside the lock: the store may be a network round trip away.
    std::map<std::string, absl::StatusOr<JobRecord>> records;
    for (const std::string& job : ids) records.emplace(job, store_->Get(job));

    std::lock_guard<std::mutex> deliver(deliver_mu_);
    lock.lock();
    std::vector<uint64_t> handles;
    for (const auto& [id, w] : watches_) handles.push_back(id);
    for (uint64_t handle : handles) {
      auto it = watches_.find(handle);
      if (it == watches_.end()) continue;  // Unwatched by an earlier update.
      auto record = records.find(it->second.job_id);
      if (record == records.end()) continue;  // Added after the read: next round.
      const absl::StatusOr<JobRecord>& r = record->second;
      if (r.ok()) {
        std::string fingerprint = Fingerprint(*r);
        if (it->second.delivered && fingerprint == it->second.last) continue;
        it->second.last = std::move(fingerprint);
      }
      it->second.delivered = true;
      Update update = it->second.update;  // A copy: the watch may go away during the call.
      lock.unlock();
      update(r);
      lock.lock();
    }
  }
}

}  // namespace fringe
