// Decides what runs next on the device. Inference work waits in bounded queues, one per
// priority class (live > interactive > explain > batch); inside a class, clients take turns
// (round robin) so one client's flood cannot starve another's requests. Works that share a
// batch key (same model, version and tile shape) run together in one network call, up to
// max_batch, optionally waiting up to max_queue_delay for a batch to fill (dynamic batching).
// Training shares the device in short pieces (a batch's preparation, one micro-batch's forward
// and backward, one validation image): RunTrainingPiece() runs a piece on a worker thread
// when no inference is queued or running, and inference waits for at most the piece in
// progress.
//
// Shared by every service, so it knows nothing of gRPC: a work item is an object that is
// either run (by its batch runner) or dropped with a status, exactly once.
#ifndef FRINGE_SERVER_SCHEDULER_H_
#define FRINGE_SERVER_SCHEDULER_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace fringe {

class ServerMetrics;

// Priority classes, most urgent first.
enum class WorkClass { kLive = 0, kInteractive = 1, kExplain = 2, kBatch = 3 };
inline constexpr int kWorkClasses = 4;
const char* WorkClassName(WorkClass c);

// One unit of queued work. Exactly one of "run by its BatchRunner" or Drop() happens.
class ScheduledWork {
 public:
  virtual ~ScheduledWork() = default;
  // The work leaves the queue without running (deadline passed, cancelled, shutting down).
  // Called without scheduler locks held, on a worker or on the cancelling thread.
  virtual void Drop(const absl::Status& reason) = 0;
};

using WorkBatch = std::vector<std::unique_ptr<ScheduledWork>>;
// Runs a batch of works that were submitted with the same batch key (a batch of one for
// unbatchable work). Called on a worker thread; owns the works.
using BatchRunner = std::function<void(WorkBatch& batch)>;

struct WorkInfo {
  WorkClass work_class = WorkClass::kInteractive;
  std::string client;     // Fairness and in-flight limits; "" is one shared anonymous client.
  std::string batch_key;  // Non-empty: may run together with queued works of the same key.
  std::string model;      // For metrics: "name:version" or "name".
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint64_t group = 0;  // Non-zero: CancelGroup() removes every queued work of the group.
};

class Scheduler {
 public:
  struct Options {
    int workers = 1;
    int max_batch = 4;
    // How long the oldest batchable work may wait for its batch to fill; 0 = batch only what
    // is already queued.
    std::chrono::microseconds max_queue_delay{0};
    size_t max_queue_per_class = 1024;
    // While a more urgent class has had work within this window, less urgent work runs one
    // request at a time: a batch of big frames would otherwise hold the device for several
    // frames' time while a live tile waits (dynamic batching is for throughput when nobody
    // latency-sensitive is around).
    std::chrono::milliseconds urgent_window{1000};
    int max_in_flight_per_client = 0;  // Queued + running works per client; 0 = unlimited.
    std::chrono::milliseconds retry_after{100};  // Hint given with RESOURCE_EXHAUSTED.
    std::function<void()> on_thread_start;       // Once per worker (LibTorch thread settings).
    ServerMetrics* metrics = nullptr;            // Optional; must outlive the scheduler.
  };

  explicit Scheduler(Options options);
  // Shuts down (running everything still queued).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `work` and returns a ticket for Cancel(). RESOURCE_EXHAUSTED (naming the class or
  // client limit) when its class queue is full or its client has too much in flight;
  // UNAVAILABLE after Shutdown(). A rejected work is dropped with that status before Submit
  // returns, so every work is answered exactly once either way.
  absl::StatusOr<uint64_t> Submit(const WorkInfo& info, std::unique_ptr<ScheduledWork> work,
                                  BatchRunner run);

  // Removes a queued work and drops it with CANCELLED. False when it already runs or is done.
  bool Cancel(uint64_t ticket);
  // Cancels every queued work of `group` (a stream that went away); returns how many.
  int CancelGroup(uint64_t group);

  // Runs `piece` on a worker thread as soon as no inference is queued or running and training
  // is not paused, and blocks until it has run. Pieces run on the workers (not on the job's
  // own thread) so that training and inference share one set of LibTorch/OpenMP threads: a
  // training thread's own OpenMP team would compete with the workers' for the same cores and
  // slow the next live tile. Returns false without running it once `stop` becomes true or
  // the scheduler shuts down. An exception thrown by `piece` is rethrown here.
  bool RunTrainingPiece(const std::function<void()>& piece,
                        const std::atomic<bool>* stop = nullptr);
  void SetTrainingPaused(bool paused);

  struct Stats {
    std::array<size_t, kWorkClasses> queued{};
    size_t running = 0;
    bool training_piece_active = false;
    uint64_t training_pieces = 0;  // Run so far.
  };
  Stats stats() const;

  // Stops accepting, runs what is queued, joins the workers. Idempotent.
  void Shutdown();

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    uint64_t ticket = 0;
    WorkInfo info;
    std::unique_ptr<ScheduledWork> work;
    BatchRunner run;
    Clock::time_point enqueued;
  };
  struct ClassQueue {
    std::map<std::string, std::deque<Entry>> by_client;
    std::deque<std::string> turn;  // Clients with queued work, in round-robin order.
    size_t size = 0;
  };

  absl::StatusOr<uint64_t> TryEnqueue(const WorkInfo& info, std::unique_ptr<ScheduledWork>& work,
                                      BatchRunner& run);
  void WorkerLoop();
  // Chooses the next batch, or returns false and sets `wake` to when to look again.
  bool TakeBatchLocked(std::vector<Entry>* batch, std::vector<Entry>* expired,
                       Clock::time_point* wake);
  void RemoveEntryLocked(ClassQueue& q, const std::string& client, size_t index,
                         std::vector<Entry>* out);
  void FinishedLocked(const std::vector<Entry>& batch);
  size_t QueuedLocked() const;
  void UpdateQueueGaugesLocked();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::array<ClassQueue, kWorkClasses> queues_;
  std::array<Clock::time_point, kWorkClasses> last_submit_{};
  std::unordered_map<uint64_t, std::pair<int, std::string>> where_;  // ticket -> class, client
  std::unordered_map<std::string, int> in_flight_;                   // client -> count
  uint64_t next_ticket_ = 1;
  size_t running_ = 0;
  struct TrainingPiece {
    const std::function<void()>* run = nullptr;
    bool started = false;
    bool done = false;
    std::exception_ptr error;
  };
  std::deque<TrainingPiece*> pieces_;  // Waiting, owned by their RunTrainingPiece callers.
  bool training_active_ = false;       // A piece is running.
  bool training_paused_ = false;
  uint64_t training_pieces_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SCHEDULER_H_
