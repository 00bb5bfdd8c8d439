// One background thread running closures in submission order. For gRPC handlers whose work
// may block (loading a model, a database round trip) but is rare and must not run inside a
// reaction; inference goes through the Scheduler instead.
#ifndef FRINGE_SERVER_SERIAL_EXECUTOR_H_
#define FRINGE_SERVER_SERIAL_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace fringe {

class SerialExecutor {
 public:
  SerialExecutor();
  // Runs what is queued, then joins.
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Queues `task`; false (task dropped) once the executor is being destroyed.
  bool Submit(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SERIAL_EXECUTOR_H_
