#include "server/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_details.h"
#include "server/server_metrics.h"

namespace fringe {

const char* WorkClassName(WorkClass c) {
  switch (c) {
    case WorkClass::kLive:
      return "live";
    case WorkClass::kInteractive:
      return "interactive";
    case WorkClass::kExplain:
      return "explain";
    case WorkClass::kBatch:
      return "batch";
  }
  return "unknown";
}

Scheduler::Scheduler(Options options) : options_(std::move(options)) {
  const int workers = std::max(1, options_.workers);
  for (int i = 0; i < workers; ++i) {
    threads_.emplace_back([this] {
      if (options_.on_thread_start) options_.on_thread_start();
      WorkerLoop();
    });
  }
}

Scheduler::~Scheduler() { Shutdown(); }

absl::StatusOr<uint64_t> Scheduler::Submit(const WorkInfo& info,
                                           std::unique_ptr<ScheduledWork> work, BatchRunner run) {
  absl::StatusOr<uint64_t> ticket = TryEnqueue(info, work, run);
  if (!ticket.ok()) work->Drop(ticket.status());
  return ticket;
}

absl::StatusOr<uint64_t> Scheduler::TryEnqueue(const WorkInfo& info,
                                               std::unique_ptr<ScheduledWork>& work,
                                               BatchRunner& run) {
  const int c = static_cast<int>(info.work_class);
  if (c < 0 || c >= kWorkClasses) return absl::InvalidArgumentError("unknown work class");
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  ClassQueue& q = queues_[c];
  if (q.size >= options_.max_queue_per_class) {
    absl::Status full = absl::ResourceExhaustedError(
        absl::StrCat("the ", WorkClassName(info.work_class), " queue is full (",
                     options_.max_queue_per_class, " requests); retry later"));
    SetRetryDelay(&full, options_.retry_after);
    return full;
  }
  auto in_flight = in_flight_.find(info.client);
  const int client_in_flight = in_flight == in_flight_.end() ? 0 : in_flight->second;
  if (options_.max_in_flight_per_client > 0 &&
      client_in_flight >= options_.max_in_flight_per_client) {
    absl::Status busy = absl::ResourceExhaustedError(absl::StrCat(
        "client \"", info.client, "\" has ", client_in_flight, " requests in flight (limit ",
        options_.max_in_flight_per_client, "); retry later"));
    SetRetryDelay(&busy, options_.retry_after);
    return busy;
  }
  ++in_flight_[info.client];
  const uint64_t ticket = next_ticket_++;
  auto [it, inserted] = q.by_client.try_emplace(info.client);
  if (it->second.empty()) q.turn.push_back(info.client);
  it->second.push_back(Entry{ticket, info, std::move(work), std::move(run), Clock::now()});
  ++q.size;
  last_submit_[c] = Clock::now();
  where_.emplace(ticket, std::make_pair(c, info.client));
  UpdateQueueGaugesLocked();
  cv_.notify_all();
  return ticket;
}

void Scheduler::RemoveEntryLocked(ClassQueue& q, const std::string& client, size_t index,
                                  std::vector<Entry>* out) {
  auto it = q.by_client.find(client);
  std::deque<Entry>& d = it->second;
  out->push_back(std::move(d[index]));
  d.erase(d.begin() + static_cast<std::ptrdiff_t>(index));
  --q.size;
  where_.erase(out->back().ticket);
  if (d.empty()) {
    q.by_client.erase(it);
    q.turn.erase(std::find(q.turn.begin(), q.turn.end(), client));
  }
}

bool Scheduler::Cancel(uint64_t ticket) {
  std::vector<Entry> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto w = where_.find(ticket);
    if (w == where_.end()) return false;
    const auto [c, client] = w->second;
    ClassQueue& q = queues_[c];
    std::deque<Entry>& d = q.by_client.at(client);
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i].ticket == ticket) {
        RemoveEntryLocked(q, client, i, &removed);
        break;
      }
    }
    FinishedLocked(removed);
  }
  for (Entry& e : removed) e.work->Drop(absl::CancelledError("cancelled while queued"));
  return !removed.empty();
}

int Scheduler::CancelGroup(uint64_t group) {
  if (group == 0) return 0;
  std::vector<Entry> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (ClassQueue& q : queues_) {
      std::vector<std::string> clients;
      for (const auto& [client, d] : q.by_client) clients.push_back(client);
      for (const std::string& client : clients) {
        auto it = q.by_client.find(client);
        for (size_t i = it->second.size(); i-- > 0;) {
          if (it->second[i].info.group == group) {
            const bool last = it->second.size() == 1;
            RemoveEntryLocked(q, client, i, &removed);
            if (last) break;  // The client's queue is gone.
          }
        }
      }
    }
    FinishedLocked(removed);
  }
  for (Entry& e : removed) e.work->Drop(absl::CancelledError("the stream was cancelled"));
  return static_cast<int>(removed.size());
}

size_t Scheduler::QueuedLocked() const {
  size_t n = 0;
  for (const ClassQueue& q : queues_) n += q.size;
  return n;
}

void Scheduler::UpdateQueueGaugesLocked() {
  if (options_.metrics == nullptr) return;
  for (int c = 0; c < kWorkClasses; ++c) {
    options_.metrics->SetQueueDepth(WorkClassName(static_cast<WorkClass>(c)), queues_[c].size);
  }
  options_.metrics->SetInFlight(running_);
}

void Scheduler::FinishedLocked(const std::vector<Entry>& batch) {
  for (const Entry& e : batch) {
    auto it = in_flight_.find(e.info.client);
    if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
  }
  UpdateQueueGaugesLocked();
}

bool Scheduler::TakeBatchLocked(std::vector<Entry>* batch, std::vector<Entry>* expired,
                                Clock::time_point* wake) {
  const Clock::time_point now = Clock::now();
  *wake = Clock::time_point::max();
  for (int c = 0; c < kWorkClasses; ++c) {
    ClassQueue& q = queues_[c];
    // Expired work never runs: sweep this class first.
    for (size_t t = 0; t < q.turn.size();) {
      const std::string client = q.turn[t];
      std::deque<Entry>& d = q.by_client.at(client);
      bool client_gone = false;
      for (size_t i = d.size(); i-- > 0;) {
        if (d[i].info.deadline <= now) {
          client_gone = d.size() == 1;
          RemoveEntryLocked(q, client, i, expired);
          if (client_gone) break;
        }
      }
      if (!client_gone) ++t;
    }
    if (q.size == 0) continue;

    // The next client in turn provides the head of the batch.
    const std::string client = q.turn.front();
    const Entry& head = q.by_client.at(client).front();
    const std::string key = head.info.batch_key;
    size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
    for (int urgent = 0; urgent < c; ++urgent) {
      if (now - last_submit_[urgent] < options_.urgent_window) max_batch = 1;
    }
    if (!key.empty() && max_batch > 1 && options_.max_queue_delay.count() > 0) {
      size_t same = 0;
      for (const auto& [name, d] : q.by_client) {
        for (const Entry& e : d) same += e.info.batch_key == key;
      }
      const Clock::time_point fill_by = head.enqueued + options_.max_queue_delay;
      if (same < max_batch && now < fill_by) {
        *wake = fill_by;
        return false;  // Wait a little for the batch to fill.
      }
    }
    RemoveEntryLocked(q, client, 0, batch);
    // The client goes to the back of the line when it still has work.
    if (!q.turn.empty() && q.turn.front() == client) {
      q.turn.pop_front();
      q.turn.push_back(client);
    }
    if (key.empty()) return true;
    // Fill the batch with same-key work, taking clients in turn order.
    for (size_t t = 0; t < q.turn.size() && batch->size() < max_batch;) {
      const std::string other = q.turn[t];
      std::deque<Entry>& d = q.by_client.at(other);
      bool gone = false;
      for (size_t i = 0; i < d.size() && batch->size() < max_batch;) {
        if (d[i].info.batch_key == key) {
          gone = d.size() == 1;
          RemoveEntryLocked(q, other, i, batch);
          if (gone) break;
        } else {
          ++i;
        }
      }
      if (!gone) ++t;
    }
    return true;
  }
  return false;
}

void Scheduler::WorkerLoop() {
  for (;;) {
    std::vector<Entry> batch;
    std::vector<Entry> expired;
    TrainingPiece* piece = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        // Inference waits only for the training piece in progress.
        if (!training_active_) {
          Clock::time_point wake;
          if (TakeBatchLocked(&batch, &expired, &wake)) break;
          if (!expired.empty()) break;
          // Training gets the device only when no inference is waiting or running.
          if (!pieces_.empty() && !training_paused_ && running_ == 0 && QueuedLocked() == 0) {
            piece = pieces_.front();
            pieces_.pop_front();
            piece->started = true;
            training_active_ = true;
            ++training_pieces_;
            break;
          }
          if (stopping_ && QueuedLocked() == 0) return;
          if (wake != Clock::time_point::max()) {
            cv_.wait_until(lock, wake);
            continue;
          }
        }
        cv_.wait(lock);
      }
      running_ += batch.size();
      FinishedLocked(expired);
      UpdateQueueGaugesLocked();
    }
    if (piece != nullptr) {
      try {
        (*piece->run)();
      } catch (...) {
        piece->error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu_);
      training_active_ = false;
      piece->done = true;
      cv_.notify_all();  // The trainer waits for its piece; inference may be waiting too.
      continue;
    }
    for (Entry& e : expired) {
      e.work->Drop(absl::DeadlineExceededError("the deadline passed while the request was queued"));
    }
    if (batch.empty()) continue;

    const Clock::time_point started = Clock::now();
    if (options_.metrics != nullptr) {
      for (const Entry& e : batch) {
        options_.metrics->ObserveQueueSeconds(
            WorkClassName(e.info.work_class),
            std::chrono::duration<double>(started - e.enqueued).count());
      }
      options_.metrics->ObserveBatchSize(batch.front().info.model, batch.size());
    }
    WorkBatch works;
    works.reserve(batch.size());
    for (Entry& e : batch) works.push_back(std::move(e.work));
    batch.front().run(works);
    works.clear();  // Release request memory before taking more work.

    std::lock_guard<std::mutex> lock(mu_);
    running_ -= batch.size();
    FinishedLocked(batch);
    cv_.notify_all();  // Training may be waiting for the device to go idle.
  }
}

bool Scheduler::RunTrainingPiece(const std::function<void()>& run, const std::atomic<bool>* stop) {
  TrainingPiece piece;
  piece.run = &run;
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_ || (stop != nullptr && stop->load())) return false;
  pieces_.push_back(&piece);
  cv_.notify_all();
  while (!piece.done) {
    if (!piece.started && (stopping_ || (stop != nullptr && stop->load()))) {
      pieces_.erase(std::find(pieces_.begin(), pieces_.end(), &piece));
      return false;
    }
    // Wake periodically to notice `stop`, which is not tied to our condition variable.
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  lock.unlock();
  if (piece.error) std::rethrow_exception(piece.error);
  return true;
}

void Scheduler::SetTrainingPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  training_paused_ = paused;
  cv_.notify_all();
}

Scheduler::Stats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  for (int c = 0; c < kWorkClasses; ++c) s.queued[c] = queues_[c].size;
  s.running = running_;
  s.training_piece_active = training_active_;
  s.training_pieces = training_pieces_;
  return s;
}

void Scheduler::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace fringe
