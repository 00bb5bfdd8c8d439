// The scheduler seen from clients over a real socket: a live stream stays fast while a batch
// flood runs, a full queue answers RESOURCE_EXHAUSTED with a retry hint and loses nothing,
// and a cancelled stream's queued tiles leave the queue at once.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "client/fringe_client.h"
#include "common/status_details.h"
#include "fringe/v1/segmentation.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

using testing::MakeTempDir;
using testing::ServerProcess;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string MakeRepository() {
  const std::string root = MakeTempDir("sched_repo");
  testing::WriteUNetVersion(root, "default", 1, testing::TinyUNetConfig());
  return root;
}

v1::SegmentRequest Frame(const std::string& id, int side, v1::Priority priority,
                         const std::string& client) {
  v1::SegmentRequest request;
  request.set_id(id);
  request.set_priority(priority);
  request.set_client_id(client);
  cv::Mat frame(side, side, CV_32F);
  cv::randu(frame, 0, 1);
  *request.mutable_image() = *MakeWireImage(frame);
  return request;
}

std::unique_ptr<v1::Segmentation::Stub> Stub(const ServerProcess& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // A channel per stub: the flood and the live client do not share a connection.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return v1::Segmentation::NewStub(
      grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

TEST(SchedulingTest, LiveTilesOvertakeABatchFlood) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository(), {"--intra-op-threads", "1"});
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> batch_ms;
  std::vector<std::thread> flood;
  for (int t = 0; t < 6; ++t) {
    flood.emplace_back([&, t] {
      auto stub = Stub(server);
      const v1::SegmentRequest request =
          Frame("b" + std::to_string(t), 384, v1::PRIORITY_BATCH, "flood-" + std::to_string(t));
      while (!stop) {
        grpc::ClientContext context;
        v1::SegmentResponse response;
        const auto start = Clock::now();
        if (stub->Segment(&context, request, &response).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          batch_ms.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
      }
    });
  }
  std::this_thread::sleep_for(500ms);  // Let the batch queue fill.
  auto stub = Stub(server);
  std::vector<double> live_ms;
  for (int i = 0; i < 30; ++i) {
    grpc::ClientContext context;
    v1::SegmentResponse response;
    const auto start = Clock::now();
    ASSERT_TRUE(
        stub->Segment(&context, Frame("live", 64, v1::PRIORITY_LIVE, "scope"), &response).ok());
    live_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    std::this_thread::sleep_for(20ms);
  }
  stop = true;
  for (auto& t : flood) t.join();
  ASSERT_GE(batch_ms.size(), 5u);
  const double live_p99 = Percentile(live_ms, 0.99), batch_p50 = Percentile(batch_ms, 0.5);
  // A live tile waits for at most the batch frame already running; a batch frame waits for
  // the five others ahead of it as well.
  EXPECT_LT(live_p99, batch_p50) << "live p99 " << live_p99 << " ms, batch p50 " << batch_p50;
}

TEST(SchedulingTest, FullQueueRejectsWithRetryHintAndLosesNothing) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository(),
                       {"--config", [] {
                          const std::string path = MakeTempDir("sched_cfg") + "/server.pbtxt";
                          testing::WriteTextFile(path, "max_queue: 3\nretry_after_ms: 250\n");
                          return path;
                        }()});
  constexpr int kCalls = 24;
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::mutex mu;
  std::set<std::string> ids;
  std::vector<std::string> hints;
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      auto stub = Stub(server);
      grpc::ClientContext context;
      v1::SegmentResponse response;
      const std::string id = "call-" + std::to_string(i);
      const grpc::Status status =
          stub->Segment(&context, Frame(id, 256, v1::PRIORITY_BATCH, id), &response);
      std::lock_guard<std::mutex> lock(mu);
      if (status.ok()) {
        ++ok;
        EXPECT_TRUE(ids.insert(response.id()).second) << "answered twice: " << response.id();
        EXPECT_EQ(response.id(), id);
      } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++exhausted;
        // The hint is gRPC's rich error model: a google.rpc.Status with a RetryInfo detail,
        // read here from the raw trailer as any gRPC client would.
        google::rpc::Status details;
        google::rpc::RetryInfo retry;
        std::string hint;
        if (details.ParseFromString(status.error_details()) && details.details_size() == 1 &&
            details.details(0).UnpackTo(&retry)) {
          hint = std::to_string(retry.retry_delay().seconds() * 1000 +
                                retry.retry_delay().nanos() / 1000000);
        }
        hints.push_back(hint);
        EXPECT_NE(status.error_message().find("queue is full"), std::string::npos);
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok + exhausted, kCalls);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_GT(ok.load(), 0);
  for (const std::string& h : hints) EXPECT_EQ(h, "250");
  // The client library turns the same detail into the status it returns.
  auto client = FringeClient::Create({server.address()});
  absl::Status rejected;
  std::vector<std::thread> flood;
  std::mutex rejected_mu;
  for (int i = 0; i < kCalls; ++i) {
    flood.emplace_back([&, i] {
      auto r = client->Segment(Frame("flood-" + std::to_string(i), 256, v1::PRIORITY_BATCH,
                                     "flood-" + std::to_string(i)));
      std::lock_guard<std::mutex> lock(rejected_mu);
      if (!r.ok() && r.status().code() == absl::StatusCode::kResourceExhausted) {
        rejected = r.status();
      }
    });
  }
  for (auto& t : flood) t.join();
  ASSERT_FALSE(rejected.ok()) << "a flood of 24 against a queue of 3 got no RESOURCE_EXHAUSTED";
  ASSERT_TRUE(RetryDelay(rejected).has_value()) << rejected;
  EXPECT_EQ(RetryDelay(rejected)->count(), 250);
}

TEST(SchedulingTest, CancellingAStreamEmptiesItsQueuedTiles) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository(), {"--intra-op-threads", "1"});
  auto stub = Stub(server);
  grpc::ClientContext context;
  auto stream = stub->SegmentStream(&context);
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(stream->Write(Frame("t" + std::to_string(i), 512, v1::PRIORITY_BATCH, "cam")));
  }
  httplib::Client http("127.0.0.1", server.metrics_port());
  auto queued = [&] {
    auto res = http.Get("/metrics");
    const std::string key = "\nfringe_queue_depth{class=\"batch\"} ";
    const size_t at = res->body.find(key);
    return at == std::string::npos ? -1.0 : std::stod(res->body.substr(at + key.size()));
  };
  const auto deadline = Clock::now() + 10s;
  while (queued() < 5 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_GE(queued(), 5) << "the tiles never queued up";
  const double waiting = queued();
  context.TryCancel();
  const auto cancelled = Clock::now();
  while (queued() > 0 && Clock::now() - cancelled < 10s) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(queued(), 0);
  stream->Finish();
  // The tiles that were waiting left the queue unrun: each is counted as answered CANCELLED
  // (running them would have taken ~1 s each on one thread, and counted OK).
  auto res = http.Get("/metrics");
  const std::string key = "fringe_requests_total{code=\"CANCELLED\",method=\"SegmentStream\"";
  const size_t at = res->body.find(key);
  ASSERT_NE(at, std::string::npos) << res->body;
  const size_t value = res->body.find("} ", at) + 2;
  EXPECT_GE(std::stod(res->body.substr(value)), waiting - 1);
  // And the server keeps serving.
  auto client = FringeClient::Create({server.address()});
  EXPECT_TRUE(client->Segment(Frame("after", 64, v1::PRIORITY_LIVE, "x")).ok());
}

TEST(SchedulingTest, StreamedTilesCanCarryTheirRelevance) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = FringeClient::Create({server.address()});
  // The same target message as Explain.Explain: unset (the predicted region), a box of
  // class 1, a contrastive pixel, and a kind no server knows.
  std::vector<v1::ExplainTarget> targets(4);
  targets[1].set_kind(v1::ExplainTarget::BOX);
  targets[1].set_x0(8);
  targets[1].set_y0(8);
  targets[1].set_x1(40);
  targets[1].set_y1(40);
  targets[1].set_class_index(1);
  targets[2].set_kind(v1::ExplainTarget::PIXEL);
  targets[2].set_x0(3);
  targets[2].set_y0(4);
  targets[2].set_contrastive(true);
  targets[3].set_kind(static_cast<v1::ExplainTarget::Kind>(99));
  std::vector<v1::SegmentRequest> requests;
  for (size_t i = 0; i < targets.size(); ++i) {
    v1::SegmentRequest r = Frame("x-" + std::to_string(i), 72, v1::PRIORITY_LIVE, "scope");
    r.mutable_explain()->set_method("gradient");
    *r.mutable_explain()->mutable_target() = targets[i];
    requests.push_back(r);
  }
  requests.push_back(Frame("plain", 72, v1::PRIORITY_LIVE, "scope"));
  size_t next = 0;
  std::vector<v1::SegmentResponse> responses;
  const absl::Status status = client->SegmentStream(
      [&](v1::SegmentRequest* r) {
        if (next == requests.size()) return false;
        *r = requests[next++];
        return true;
      },
      [&](v1::SegmentResponse&& r) { responses.push_back(std::move(r)); }, 4);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(responses.size(), 5u);
  for (int i = 0; i < 3; ++i) {
    const v1::SegmentResponse& r = responses[i];
    ASSERT_FALSE(r.has_error()) << r.error().message();
    ASSERT_TRUE(r.has_explanation()) << r.id();
    EXPECT_EQ(r.explanation().method(), "gradient");
    EXPECT_EQ(r.explanation().relevance().shape(0), 72);
    EXPECT_EQ(r.explanation().relevance().shape(1), 72);
    EXPECT_EQ(r.mask().shape(0), 72);  // Still segmented.
  }
  EXPECT_EQ(responses[3].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(responses[3].error().message().find("target.kind is 99"), std::string::npos)
      << responses[3].error().message();
  EXPECT_FALSE(responses[4].has_explanation());
  EXPECT_FALSE(responses[4].has_error());
}

// With two workers a plain tile finishes long before an explained one sent just before it:
// in request order it waits, in completion order it comes first. Both orders answer every
// request once.
TEST(SchedulingTest, CompletionOrderLetsAFastTileOvertakeASlowOne) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository(),
                       {"--workers", "2", "--intra-op-threads", "1"});
  auto client = FringeClient::Create({server.address()});
  auto first_id = [&](v1::StreamOrder order) {
    v1::SegmentRequest slow = Frame("slow", 256, v1::PRIORITY_LIVE, "scope");
    slow.set_stream_order(order);
    slow.mutable_explain()->set_method("integrated-gradients");
    (*slow.mutable_explain()->mutable_parameters())["steps"] = "48";
    const std::vector<v1::SegmentRequest> requests = {
        slow, Frame("fast", 64, v1::PRIORITY_LIVE, "scope")};
    size_t next = 0;
    std::vector<std::string> ids;
    const absl::Status status = client->SegmentStream(
        [&](v1::SegmentRequest* r) {
          if (next == requests.size()) return false;
          *r = requests[next++];
          return true;
        },
        [&](v1::SegmentResponse&& r) {
          EXPECT_FALSE(r.has_error()) << r.id() << ": " << r.error().message();
          ids.push_back(r.id());
        },
        2);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_EQ(ids.size(), 2u);
    return ids.empty() ? std::string() : ids.front();
  };
  EXPECT_EQ(first_id(v1::STREAM_ORDER_UNSPECIFIED), "slow");
  EXPECT_EQ(first_id(v1::STREAM_ORDER_COMPLETION), "fast");
}

// Every network the server serves can be explained over the API; the Fourier baseline, which
// is no network, is refused with FAILED_PRECONDITION.
TEST(SchedulingTest, EveryServedNetworkCanBeExplained) {
  const std::string root = MakeRepository();
  v1::ModelConfig fcn = testing::TinyUNetConfig();
  fcn.set_architecture("fcn8s");
  fcn.clear_unet();
  fcn.mutable_fcn8s()->set_width_divisor(16);
  fcn.mutable_fcn8s()->set_fc6_channels(16);
  fcn.mutable_fcn8s()->set_fc7_channels(8);
  fcn.set_tile_size(96);
  fcn.set_tile_margin(16);
  testing::WriteModelVersion(root, "fcn", 1, fcn);
  testing::WriteTextFile(root + "/fourier/1/config.pbtxt", R"pb(
    architecture: "fourier-bandpass"
    fourier_bandpass {
      d_spacings_nm: 0.235
      d_spacings_nm: 0.204
      relative_bandwidth: 0.1
      smoothing_nm: 0.4
      min_area_nm2: 1
      closing_nm: 0.3
    }
    tile_size: 256
    tile_margin: 32
    classes: "background"
    classes: "particle"
    pixel_size_nm: 0.0225
  )pb");
  ServerProcess server(FRINGE_SERVER_BIN, root);
  auto client = FringeClient::Create({server.address()});
  for (const char* model : {"default", "fcn"}) {
    for (const char* method : {"lrp", "gradient"}) {
      v1::ExplainRequest request;
      request.mutable_model()->set_name(model);
      request.set_method(method);
      *request.mutable_image() = Frame("x", 75, v1::PRIORITY_EXPLAIN, "u").image();
      auto response = client->Explain(request);
      ASSERT_TRUE(response.ok()) << model << " " << method << ": " << response.status();
      EXPECT_EQ(response->relevance().shape(0), 75);
      EXPECT_EQ(response->relevance().shape(1), 75);
      EXPECT_EQ(response->model_name(), model);
    }
  }
  v1::ExplainRequest request;
  request.mutable_model()->set_name("fourier");
  *request.mutable_image() = Frame("x", 64, v1::PRIORITY_EXPLAIN, "u").image();
  auto refused = client->Explain(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("fourier-bandpass"), std::string::npos)
      << "refused for being no network, not for failing to load: " << refused.status();
  // ... while it segments fine.
  v1::SegmentRequest segment = Frame("x", 64, v1::PRIORITY_LIVE, "u");
  segment.mutable_model()->set_name("fourier");
  EXPECT_TRUE(client->Segment(segment).ok());
}

}  // namespace
}  // namespace fringe
