#include "server/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

namespace fringe {
namespace {

TEST(WorkerPoolTest, RunsEveryAcceptedTaskAndRejectsBeyondTheBound) {
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::atomic<int> ran{0};
  WorkerPool pool(1, 3);
  // The first task blocks the only worker; three more fill the queue; the fifth is refused.
  ASSERT_TRUE(pool.TrySubmit([&] {
    open.wait();
    ++ran;
  }));
  while (pool.queued() != 0) std::this_thread::yield();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));
  gate.set_value();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 4);
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));
}

TEST(WorkerPoolTest, ShutdownDrainsQueuedWork) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(2, 100);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(pool.TrySubmit([&] {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++ran;
      }));
    }
  }  // Destructor drains.
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace fringe
