// A fixed set of worker threads draining a bounded FIFO of tasks. Inference runs here so
// gRPC reactions never block (DESIGN §6, gRPC callback API).
#ifndef FRINGE_SERVER_WORKER_POOL_H_
#define FRINGE_SERVER_WORKER_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fringe {

class WorkerPool {
 public:
  // Starts `workers` threads; at most `max_queue` tasks wait at any time. `on_thread_start`
  // runs once on every worker (e.g. to set LibTorch's per-thread settings).
  WorkerPool(int workers, size_t max_queue, std::function<void()> on_thread_start = {});
  // Drains the queue, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; returns false (and drops it) when the queue is full or shutting down.
  bool TrySubmit(std::function<void()> task);

  // Stops accepting, runs every queued task, joins. Idempotent.
  void Shutdown();

  size_t queued() const;

 private:
  void Run();

  const size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_WORKER_POOL_H_
