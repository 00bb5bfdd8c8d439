// The request queue without a socket: what a gRPC handler relies on - every request answered
// exactly once, the model version resolved once and kept, explanations on the version that
// segmented, cancellation, and one metrics record per request.
#include "server/request_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <opencv2/core.hpp>

#include "common/tensor_codec.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

// Holds the scheduler's only worker (with a training piece, which runs only on a worker)
// from construction until Release(), so requests queued meanwhile wait in the queue.
class WorkerBlocker {
 public:
  explicit WorkerBlocker(Scheduler* scheduler)
      : thread_([this, scheduler] {
          scheduler->RunTrainingPiece([this] {
            std::unique_lock<std::mutex> lock(mu_);
            blocking_ = true;
            cv_.notify_all();
            cv_.wait(lock, [this] { return released_; });
          });
        }) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return blocking_; });
  }
  ~WorkerBlocker() { Release(); }

  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocking_ = false;
  bool released_ = false;
  std::thread thread_;  // Last: started once the members it uses exist.
};

class RequestQueueTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(testing::MakeTempDir("queue"));
    testing::WriteUNetVersion(*root_, "tiny", 1, testing::TinyUNetConfig(), 1);
    testing::WriteUNetVersion(*root_, "tiny", 2, testing::TinyUNetConfig(), 2);
    ModelRepository::Options options;
    options.root = *root_;
    options.warm_up = false;
    repo_ = ModelRepository::Create(options, ModelRegistry::WithBuiltins())->release();
    ASSERT_TRUE(repo_->LoadAll().ok());
  }
  static void TearDownTestSuite() {
    delete repo_;
    delete root_;
  }

  static std::shared_ptr<v1::SegmentRequest> Request(const std::string& id) {
    auto request = std::make_shared<v1::SegmentRequest>();
    request->set_id(id);
    cv::Mat frame(64, 64, CV_16U);
    cv::randu(frame, 0, 4000);
    *request->mutable_image()->mutable_tensor() = *MatToTensor(frame);
    request->mutable_model()->set_name("tiny");
    return request;
  }

  // Queues a segmentation and waits for its one answer.
  absl::StatusOr<v1::SegmentResponse> SegmentAndWait(std::shared_ptr<v1::SegmentRequest> request,
                                                     uint64_t* ticket = nullptr) {
    std::promise<absl::StatusOr<v1::SegmentResponse>> answer;
    std::atomic<int> calls{0};
    const uint64_t t = queue_.Segment("Segment", std::move(request), CallInfo{"tester"},
                                      [&](absl::StatusOr<v1::SegmentResponse> r) {
                                        if (calls.fetch_add(1) == 0) answer.set_value(std::move(r));
                                      });
    if (ticket != nullptr) *ticket = t;
    auto result = answer.get_future().get();
    EXPECT_EQ(calls.load(), 1);
    return result;
  }

  static Scheduler::Options SchedulerOptions(ServerMetrics* metrics) {
    Scheduler::Options o;
    o.workers = 1;
    o.metrics = metrics;
    return o;
  }

  static std::string* root_;
  static ModelRepository* repo_;
  ServerMetrics metrics_;
  ExplanationEngine explanation_{repo_, {}};
  SegmentationEngine segmentation_{repo_, {}, &explanation_};
  Scheduler scheduler_{SchedulerOptions(&metrics_)};
  RequestQueue queue_{&segmentation_, &explanation_, &scheduler_, &metrics_};
};

std::string* RequestQueueTest::root_ = nullptr;
ModelRepository* RequestQueueTest::repo_ = nullptr;

TEST_F(RequestQueueTest, AnswersOnceWithTimingsAndRecordsTheRequest) {
  uint64_t ticket = 0;
  auto response = SegmentAndWait(Request("a"), &ticket);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_NE(ticket, 0u);
  EXPECT_EQ(response->id(), "a");
  EXPECT_EQ(response->model_name(), "tiny");
  EXPECT_EQ(response->model_version(), 2);  // The serving version: the highest ready one.
  EXPECT_GE(response->timings().total_ms(), response->timings().queue_ms());
  EXPECT_GE(response->timings().total_ms(), response->timings().compute_ms());
  const std::string exposition = metrics_.Serialize();
  EXPECT_NE(exposition.find("fringe_requests_total{code=\"OK\",method=\"Segment\",model=\"tiny\","
                            "version=\"2\"} 1"),
            std::string::npos)
      << exposition;
}

TEST_F(RequestQueueTest, AnUnknownModelIsAnsweredAtOnceWithoutQueueing) {
  auto request = Request("b");
  request->mutable_model()->set_name("absent");
  bool answered_inline = false;
  absl::Status status;
  const uint64_t ticket = queue_.Segment("Segment", request, CallInfo{"tester"},
                                         [&](absl::StatusOr<v1::SegmentResponse> r) {
                                           answered_inline = true;
                                           status = r.status();
                                         });
  EXPECT_EQ(ticket, 0u);
  EXPECT_TRUE(answered_inline);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(status.message()).find("tiny"), std::string::npos) << status;
  EXPECT_NE(metrics_.Serialize().find("fringe_requests_total{code=\"NOT_FOUND\",method=\"Segment\","
                                      "model=\"absent\""),
            std::string::npos);
}

TEST_F(RequestQueueTest, ARequestKeepsTheVersionItWasQueuedWith) {
  // The request waits in the queue while the version changes.
  WorkerBlocker blocker(&scheduler_);
  std::promise<absl::StatusOr<v1::SegmentResponse>> answer;
  queue_.Segment("Segment", Request("c"), CallInfo{"tester"},
                 [&](absl::StatusOr<v1::SegmentResponse> r) { answer.set_value(std::move(r)); });
  ASSERT_TRUE(repo_->Promote("tiny", 1).ok());  // Serving version 2 -> 1 while c is queued.
  blocker.Release();
  auto response = answer.get_future().get();
  ASSERT_TRUE(repo_->Rollback("tiny").ok());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_version(), 2);
}

TEST_F(RequestQueueTest, AnExplainedSegmentationIsExplainedOnTheSameVersion) {
  auto request = Request("d");
  request->mutable_model()->set_version(1);
  request->mutable_explain()->set_method("gradient");
  auto response = SegmentAndWait(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_version(), 1);
  ASSERT_TRUE(response->has_explanation());
  EXPECT_EQ(response->explanation().relevance().shape(0), 64);
  EXPECT_EQ(response->explanation().relevance().shape(1), 64);
}

TEST_F(RequestQueueTest, ExplainsInTheExplainClass) {
  auto request = std::make_shared<v1::ExplainRequest>();
  request->set_id("e");
  request->mutable_model()->set_name("tiny");
  cv::Mat frame(64, 64, CV_32F);
  cv::randu(frame, 0, 1);
  *request->mutable_image()->mutable_tensor() = *MatToTensor(frame);
  std::promise<absl::StatusOr<v1::ExplainResponse>> answer;
  EXPECT_NE(queue_.Explain(
                request, CallInfo{"tester"},
                [&](absl::StatusOr<v1::ExplainResponse> r) { answer.set_value(std::move(r)); }),
            0u);
  auto response = answer.get_future().get();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_version(), 2);
  EXPECT_EQ(response->method(), "lrp");
  EXPECT_NE(metrics_.Serialize().find("fringe_requests_total{code=\"OK\",method=\"Explain\""),
            std::string::npos);
}

TEST_F(RequestQueueTest, CancellingAStreamGroupAnswersItsQueuedRequestsCancelled) {
  WorkerBlocker blocker(&scheduler_);
  std::atomic<int> cancelled{0}, answered{0};
  CallInfo stream{"tester"};
  stream.group = 7;
  for (int i = 0; i < 3; ++i) {
    queue_.Segment("SegmentStream", Request("s" + std::to_string(i)), stream,
                   [&](absl::StatusOr<v1::SegmentResponse> r) {
                     ++answered;
                     if (r.status().code() == absl::StatusCode::kCancelled) ++cancelled;
                   });
  }
  EXPECT_EQ(queue_.CancelGroup(7), 3);
  EXPECT_EQ(cancelled.load(), 3);  // Answered on the cancelling thread, before any ran.
  blocker.Release();
  scheduler_.Shutdown();
  EXPECT_EQ(answered.load(), 3);  // Exactly once each.
}

}  // namespace
}  // namespace fringe
