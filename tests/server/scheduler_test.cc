#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace fringe {
namespace {

using namespace std::chrono_literals;

// Records what happened to every work: "run:<name>" (with the batch it ran in) or
// "drop:<name>:<code>".
struct Log {
  std::mutex mu;
  std::vector<std::string> events;
  std::vector<size_t> batch_sizes;
  void Add(std::string e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(e));
  }
  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> lock(mu);
    return events;
  }
};

class TestWork : public ScheduledWork {
 public:
  TestWork(Log* log, std::string name) : log_(log), name_(std::move(name)) {}
  void Drop(const absl::Status& reason) override {
    log_->Add("drop:" + name_ + ":" + absl::StatusCodeToString(reason.code()));
  }
  Log* log_;
  std::string name_;
};

BatchRunner Runner(Log* log) {
  return [log](WorkBatch& batch) {
    {
      std::lock_guard<std::mutex> lock(log->mu);
      log->batch_sizes.push_back(batch.size());
    }
    for (auto& w : batch) {
      auto* t = static_cast<TestWork*>(w.get());
      log->Add("run:" + t->name_);
    }
  };
}

// A work that blocks its worker until released, to build up a queue behind it.
struct Gate {
  std::promise<void> started, release;
  BatchRunner Runner() {
    return [this](WorkBatch&) {
      started.set_value();
      release.get_future().wait();
    };
  }
};

WorkInfo Info(WorkClass c, std::string client = "", std::string key = "") {
  WorkInfo info;
  info.work_class = c;
  info.client = std::move(client);
  info.batch_key = std::move(key);
  return info;
}

std::unique_ptr<Scheduler> Make(Scheduler::Options options = {}) {
  return std::make_unique<Scheduler>(options);
}

// Occupies the single worker; returns once the gate work runs.
void Block(Scheduler& s, Gate& gate, Log* log) {
  ASSERT_TRUE(s.Submit(Info(WorkClass::kLive, "gate"), std::make_unique<TestWork>(log, "gate"),
                       gate.Runner())
                  .ok());
  gate.started.get_future().wait();
}

TEST(SchedulerTest, MoreUrgentClassesRunFirst) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  for (auto [c, name] : {std::pair{WorkClass::kBatch, "batch"},
                         {WorkClass::kExplain, "explain"},
                         {WorkClass::kInteractive, "interactive"},
                         {WorkClass::kLive, "live"}}) {
    ASSERT_TRUE(s->Submit(Info(c), std::make_unique<TestWork>(&log, name), Runner(&log)).ok());
  }
  EXPECT_EQ(s->stats().queued[static_cast<int>(WorkClass::kBatch)], 1u);
  gate.release.set_value();
  s->Shutdown();
  EXPECT_EQ(log.Events(),
            (std::vector<std::string>{"run:live", "run:interactive", "run:explain", "run:batch"}));
}

TEST(SchedulerTest, ClientsOfOneClassTakeTurns) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(s->Submit(Info(WorkClass::kBatch, "flood"),
                          std::make_unique<TestWork>(&log, "a" + std::to_string(i)), Runner(&log))
                    .ok());
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(s->Submit(Info(WorkClass::kBatch, "polite"),
                          std::make_unique<TestWork>(&log, "b" + std::to_string(i)), Runner(&log))
                    .ok());
  }
  gate.release.set_value();
  s->Shutdown();
  EXPECT_EQ(log.Events(),
            (std::vector<std::string>{"run:a0", "run:b0", "run:a1", "run:b1", "run:a2", "run:a3"}));
}

TEST(SchedulerTest, SameKeyWorksRunTogetherUpToMaxBatch) {
  Log log;
  Gate gate;
  Scheduler::Options options;
  options.max_batch = 4;
  auto s = Make(options);
  Block(*s, gate, &log);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->Submit(Info(WorkClass::kLive, i % 2 ? "x" : "y", "unet:1:512x512"),
                          std::make_unique<TestWork>(&log, std::to_string(i)), Runner(&log))
                    .ok());
  }
  ASSERT_TRUE(s->Submit(Info(WorkClass::kLive, "y", "other"),
                        std::make_unique<TestWork>(&log, "other"), Runner(&log))
                  .ok());
  gate.release.set_value();
  s->Shutdown();
  std::lock_guard<std::mutex> lock(log.mu);
  EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{4, 1, 1}));
  EXPECT_EQ(log.events.size(), 6u);
}

TEST(SchedulerTest, LowerClassesRunOneAtATimeWhileUrgentWorkIsAround) {
  for (const auto window : {std::chrono::milliseconds(0), std::chrono::milliseconds(60000)}) {
    Log log;
    Gate gate;
    Scheduler::Options options;
    options.max_batch = 4;
    options.urgent_window = window;
    auto s = Make(options);
    Block(*s, gate, &log);  // A live request: urgent work was just here.
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(s->Submit(Info(WorkClass::kBatch, "c" + std::to_string(i), "k"),
                            std::make_unique<TestWork>(&log, "b"), Runner(&log))
                      .ok());
    }
    gate.release.set_value();
    s->Shutdown();
    std::lock_guard<std::mutex> lock(log.mu);
    if (window.count() == 0) {
      EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{3}));
    } else {
      EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{1, 1, 1}));
    }
  }
}

TEST(SchedulerTest, QueueDelayLetsABatchFill) {
  Log log;
  Scheduler::Options options;
  options.max_batch = 4;
  options.max_queue_delay = 300ms;
  auto s = Make(options);
  ASSERT_TRUE(s->Submit(Info(WorkClass::kLive, "a", "k"), std::make_unique<TestWork>(&log, "1"),
                        Runner(&log))
                  .ok());
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(s->Submit(Info(WorkClass::kLive, "a", "k"), std::make_unique<TestWork>(&log, "2"),
                        Runner(&log))
                  .ok());
  s->Shutdown();
  std::lock_guard<std::mutex> lock(log.mu);
  EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{2}));
}

TEST(SchedulerTest, FullQueueRejectsAndDropsExactlyOnce) {
  Log log;
  Gate gate;
  Scheduler::Options options;
  options.max_queue_per_class = 2;
  auto s = Make(options);
  Block(*s, gate, &log);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        s->Submit(Info(WorkClass::kBatch), std::make_unique<TestWork>(&log, "q"), Runner(&log))
            .ok());
  }
  auto rejected =
      s->Submit(Info(WorkClass::kBatch), std::make_unique<TestWork>(&log, "late"), Runner(&log));
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(rejected.status().message().find("batch queue is full"), std::string::npos);
  // Another class still has room: a batch flood never blocks live work.
  EXPECT_TRUE(
      s->Submit(Info(WorkClass::kLive), std::make_unique<TestWork>(&log, "live"), Runner(&log))
          .ok());
  gate.release.set_value();
  s->Shutdown();
  EXPECT_EQ(log.Events(), (std::vector<std::string>{"drop:late:RESOURCE_EXHAUSTED", "run:live",
                                                    "run:q", "run:q"}));
}

TEST(SchedulerTest, ClientInFlightLimit) {
  Log log;
  Gate gate;
  Scheduler::Options options;
  options.max_in_flight_per_client = 2;
  auto s = Make(options);
  Block(*s, gate, &log);
  EXPECT_TRUE(
      s->Submit(Info(WorkClass::kBatch, "c"), std::make_unique<TestWork>(&log, "1"), Runner(&log))
          .ok());
  EXPECT_TRUE(
      s->Submit(Info(WorkClass::kBatch, "c"), std::make_unique<TestWork>(&log, "2"), Runner(&log))
          .ok());
  auto third =
      s->Submit(Info(WorkClass::kBatch, "c"), std::make_unique<TestWork>(&log, "3"), Runner(&log));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.status().message().find("client \"c\""), std::string::npos);
  EXPECT_TRUE(
      s->Submit(Info(WorkClass::kBatch, "d"), std::make_unique<TestWork>(&log, "4"), Runner(&log))
          .ok());
  gate.release.set_value();
  s->Shutdown();
  // The limit counts work in flight, not forever: after the first ran, "c" may submit again.
  auto s2 = Make(options);
  for (int i = 0; i < 5; ++i) {
    std::promise<void> done;
    ASSERT_TRUE(s2->Submit(Info(WorkClass::kBatch, "c"), std::make_unique<TestWork>(&log, "again"),
                           [&done](WorkBatch&) { done.set_value(); })
                    .ok());
    done.get_future().wait();
    std::this_thread::sleep_for(5ms);  // The worker books the finish after the runner returns.
  }
}

TEST(SchedulerTest, CancelRemovesQueuedWork) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  auto keep =
      s->Submit(Info(WorkClass::kBatch), std::make_unique<TestWork>(&log, "keep"), Runner(&log));
  auto gone =
      s->Submit(Info(WorkClass::kBatch), std::make_unique<TestWork>(&log, "gone"), Runner(&log));
  ASSERT_TRUE(keep.ok() && gone.ok());
  EXPECT_TRUE(s->Cancel(*gone));
  EXPECT_FALSE(s->Cancel(*gone));  // Already answered.
  EXPECT_EQ(s->stats().queued[static_cast<int>(WorkClass::kBatch)], 1u);
  gate.release.set_value();
  s->Shutdown();
  EXPECT_EQ(log.Events(), (std::vector<std::string>{"drop:gone:CANCELLED", "run:keep"}));
}

TEST(SchedulerTest, CancelGroupDropsAStreamsTiles) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  for (int i = 0; i < 3; ++i) {
    WorkInfo info = Info(WorkClass::kLive, "stream-client");
    info.group = 7;
    ASSERT_TRUE(s->Submit(info, std::make_unique<TestWork>(&log, "t"), Runner(&log)).ok());
  }
  ASSERT_TRUE(s->Submit(Info(WorkClass::kLive, "stream-client"),
                        std::make_unique<TestWork>(&log, "other"), Runner(&log))
                  .ok());
  EXPECT_EQ(s->CancelGroup(7), 3);
  EXPECT_EQ(s->stats().queued[0], 1u);
  gate.release.set_value();
  s->Shutdown();
  EXPECT_EQ(log.Events(), (std::vector<std::string>{"drop:t:CANCELLED", "drop:t:CANCELLED",
                                                    "drop:t:CANCELLED", "run:other"}));
}

TEST(SchedulerTest, ExpiredWorkIsDroppedNotRun) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  WorkInfo info = Info(WorkClass::kInteractive);
  info.deadline = std::chrono::steady_clock::now() + 20ms;
  ASSERT_TRUE(s->Submit(info, std::make_unique<TestWork>(&log, "late"), Runner(&log)).ok());
  std::this_thread::sleep_for(60ms);
  gate.release.set_value();
  s->Shutdown();
  EXPECT_EQ(log.Events(), (std::vector<std::string>{"drop:late:DEADLINE_EXCEEDED"}));
}

TEST(SchedulerTest, TrainingPiecesRunOnTheWorkersBetweenInference) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  // Inference is running: the training piece must wait.
  std::promise<void> piece_started, finish_piece;
  std::thread::id piece_thread;
  auto piece = std::async(std::launch::async, [&] {
    return s->RunTrainingPiece([&] {
      piece_thread = std::this_thread::get_id();
      piece_started.set_value();
      finish_piece.get_future().wait();
    });
  });
  auto started = piece_started.get_future();
  EXPECT_EQ(started.wait_for(100ms), std::future_status::timeout);
  gate.release.set_value();
  ASSERT_EQ(started.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(s->stats().training_piece_active);
  // The piece runs on a worker, not on the thread that asked for it.
  std::thread::id tile_thread;
  // While the piece holds the device, new inference waits...
  std::promise<void> ran;
  ASSERT_TRUE(
      s->Submit(Info(WorkClass::kLive), std::make_unique<TestWork>(&log, "tile"), [&](WorkBatch&) {
         tile_thread = std::this_thread::get_id();
         ran.set_value();
       }).ok());
  auto ran_future = ran.get_future();
  EXPECT_EQ(ran_future.wait_for(100ms), std::future_status::timeout);
  // ...and runs as soon as the piece ends.
  finish_piece.set_value();
  EXPECT_TRUE(piece.get());
  EXPECT_EQ(ran_future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(piece_thread, tile_thread);  // One worker (Make()): the same thread ran both.
  EXPECT_EQ(s->stats().training_pieces, 1u);

  // An exception in a piece reaches the trainer.
  EXPECT_THROW(s->RunTrainingPiece([] { throw std::runtime_error("boom"); }), std::runtime_error);

  // Paused training does not get the device; a stop request frees the waiter unrun.
  s->SetTrainingPaused(true);
  std::atomic<bool> stop{false};
  bool paused_ran = false;
  auto paused = std::async(std::launch::async,
                           [&] { return s->RunTrainingPiece([&] { paused_ran = true; }, &stop); });
  EXPECT_EQ(paused.wait_for(150ms), std::future_status::timeout);
  stop = true;
  EXPECT_FALSE(paused.get());
  EXPECT_FALSE(paused_ran);
  s->SetTrainingPaused(false);
  s->Shutdown();
  EXPECT_FALSE(s->RunTrainingPiece([] {}));  // Refused after shutdown.
}

TEST(SchedulerTest, ShutdownRunsQueuedWorkThenRefuses) {
  Log log;
  Gate gate;
  auto s = Make();
  Block(*s, gate, &log);
  ASSERT_TRUE(
      s->Submit(Info(WorkClass::kBatch), std::make_unique<TestWork>(&log, "queued"), Runner(&log))
          .ok());
  std::thread stopper([&] { s->Shutdown(); });
  std::this_thread::sleep_for(50ms);
  gate.release.set_value();
  stopper.join();
  auto late =
      s->Submit(Info(WorkClass::kBatch), std::make_unique<TestWork>(&log, "late"), Runner(&log));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(log.Events(), (std::vector<std::string>{"run:queued", "drop:late:UNAVAILABLE"}));
}

}  // namespace
}  // namespace fringe
