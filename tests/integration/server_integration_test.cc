// End-to-end tests: the real fringe-server binary on a loopback port, driven through the
// client library and the real `fringe` CLI.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <thread>

#include "client/fringe_client.h"
#include "common/tensor_codec.h"
#include "data/image_io.h"
#include "tests/support/server_process.h"
#include "tests/support/test_client.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

class ServerIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new std::string(testing::MakeTinyRepository("it_repo"));
    server_ = new testing::ServerProcess(FRINGE_SERVER_BIN, *repo_, {"--workers", "2"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }

  std::unique_ptr<FringeClient> Client() { return testing::ConnectTo(server_->address()); }

  static v1::SegmentRequest Request(const std::string& id, int rows, int cols, uint64_t seed) {
    return testing::NoiseRequest(id, rows, cols, seed);
  }

  static std::string* repo_;
  static testing::ServerProcess* server_;
};

std::string* ServerIntegrationTest::repo_ = nullptr;
testing::ServerProcess* ServerIntegrationTest::server_ = nullptr;

TEST_F(ServerIntegrationTest, HealthAndModels) {
  auto client = Client();
  auto health = client->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);
  auto models = client->ListModels();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->models_size(), 1);
  EXPECT_EQ(models->models(0).name(), "tiny");
  EXPECT_EQ(models->models(0).serving_version(), 2);
  EXPECT_EQ(client->Describe("ghost", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerIntegrationTest, ServerMetadataSaysWhatAndWhereTheServerIs) {
  const auto before = std::chrono::system_clock::now() - std::chrono::hours(1);
  auto m = Client()->GetServerMetadata();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->api_version(), "fringe.v1");
  EXPECT_FALSE(m->server_version().empty());
  EXPECT_EQ(m->device(), "cpu");
  EXPECT_EQ(m->default_model(), "tiny");
  EXPECT_EQ(m->workers(), 2);
  EXPECT_EQ(m->max_message_bytes(), int64_t{256} << 20);
  EXPECT_GT(m->max_image_pixels(), 0);
  EXPECT_FALSE(m->server_id().empty());
  EXPECT_GT(
      m->started_unix_ms(),
      std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count());
  const std::set<std::string> services(m->services().begin(), m->services().end());
  for (const char* s : {"fringe.v1.Segmentation", "fringe.v1.Models", "fringe.v1.Explain",
                        "fringe.v1.Jobs", "fringe.v1.Datasets", "fringe.v1.Server"}) {
    EXPECT_TRUE(services.count(s)) << s;
  }
  std::string output;
  ASSERT_EQ(testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "info"}, &output),
            0)
      << output;
  EXPECT_NE(output.find("api fringe.v1"), std::string::npos) << output;
  EXPECT_NE(output.find("default model tiny"), std::string::npos) << output;
}

TEST_F(ServerIntegrationTest, UnarySegmentPinsVersions) {
  auto client = Client();
  v1::SegmentRequest request = Request("one", 200, 130, 1);
  auto latest = client->Segment(request);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->id(), "one");
  EXPECT_EQ(latest->model_version(), 2);
  EXPECT_EQ(latest->mask().shape(0), 200);
  EXPECT_EQ(latest->mask().shape(1), 130);
  request.mutable_model()->set_name("tiny");
  request.mutable_model()->set_version(1);
  auto pinned = client->Segment(request);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->model_version(), 1);
}

TEST_F(ServerIntegrationTest, StreamReturnsEveryIdOnceInOrder) {
  auto client = Client();
  constexpr int kTiles = 120;
  int sent = 0;
  std::vector<std::string> received;
  const absl::Status status = client->SegmentStream(
      [&](v1::SegmentRequest* r) {
        if (sent == kTiles) return false;
        *r = Request("tile-" + std::to_string(sent), 64, 64, sent);
        ++sent;
        return true;
      },
      [&](v1::SegmentResponse&& r) {
        EXPECT_FALSE(r.has_error()) << r.error().message();
        EXPECT_EQ(r.mask().shape(0), 64);
        received.push_back(r.id());
      },
      /*max_in_flight=*/8);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(received.size(), static_cast<size_t>(kTiles));
  for (int i = 0; i < kTiles; ++i) EXPECT_EQ(received[i], "tile-" + std::to_string(i));
}

TEST_F(ServerIntegrationTest, ConcurrentClients) {
  constexpr int kClients = 4, kPerClient = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = Client();
      std::set<std::string> ids;
      int sent = 0;
      const absl::Status status = client->SegmentStream(
          [&](v1::SegmentRequest* r) {
            if (sent == kPerClient) return false;
            *r = Request("c" + std::to_string(c) + "-" + std::to_string(sent), 96, 80, sent);
            ++sent;
            return true;
          },
          [&](v1::SegmentResponse&& r) {
            if (!r.has_error()) ids.insert(r.id());
          },
          4);
      auto unary = client->Segment(Request("u" + std::to_string(c), 50, 50, c));
      if (status.ok() && unary.ok() && ids.size() == kPerClient) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
}

TEST_F(ServerIntegrationTest, BadInputGetsTheRightCodeOverTheWire) {
  auto client = Client();
  v1::SegmentRequest request = Request("bad", 32, 32, 1);
  request.mutable_image()->mutable_tensor()->mutable_data()->resize(10);
  auto r = client->Segment(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("image.tensor.data"), std::string::npos) << r.status();

  request = Request("nan", 8, 8, 1);
  cv::Mat nan_frame(8, 8, CV_32F, cv::Scalar(0.0f));
  nan_frame.at<float>(0, 0) = std::numeric_limits<float>::infinity();
  *request.mutable_image() = *MakeWireImage(nan_frame);
  EXPECT_EQ(client->Segment(request).status().code(), absl::StatusCode::kInvalidArgument);

  request = Request("who", 32, 32, 1);
  request.mutable_model()->set_name("ghost");
  r = client->Segment(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("tiny"), std::string::npos);

  request.mutable_model()->set_name("tiny");
  request.mutable_model()->set_version(99);
  EXPECT_EQ(client->Segment(request).status().code(), absl::StatusCode::kNotFound);

  // The server is still healthy afterwards.
  EXPECT_TRUE(client->Segment(Request("fine", 32, 32, 1)).ok());
}

TEST_F(ServerIntegrationTest, BadTileInAStreamIsAnsweredAndTheStreamGoesOn) {
  auto client = Client();
  int sent = 0;
  std::vector<v1::SegmentResponse> responses;
  const absl::Status status = client->SegmentStream(
      [&](v1::SegmentRequest* r) {
        if (sent == 5) return false;
        *r = Request("s" + std::to_string(sent), 32, 32, sent);
        if (sent == 2) r->mutable_image()->mutable_tensor()->set_dtype(v1::DTYPE_UNSPECIFIED);
        ++sent;
        return true;
      },
      [&](v1::SegmentResponse&& r) { responses.push_back(std::move(r)); }, 2);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(responses.size(), 5u);
  EXPECT_EQ(responses[2].id(), "s2");
  EXPECT_EQ(responses[2].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(responses[2].error().message().find("dtype"), std::string::npos);
  EXPECT_FALSE(responses[3].has_error());
}

TEST_F(ServerIntegrationTest, LargeFrameInOneMessageAndClientSideTiling) {
  auto client = Client();
  // 2048 x 2048 float32 = 16 MiB, far above gRPC's 4 MiB default limit.
  cv::Mat frame(2048, 2048, CV_32F);
  cv::RNG(5).fill(frame, cv::RNG::NORMAL, 10.0, 3.0);
  v1::SegmentRequest request;
  request.set_id("big");
  *request.mutable_image() = *MakeWireImage(frame);
  auto whole = client->Segment(request);
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto server_mask = TensorToMat(whole->mask(), "mask");
  ASSERT_TRUE(server_mask.ok());

  auto client_mask = client->SegmentLargeFrame(frame, v1::ModelRef(), /*chunk=*/768, /*margin=*/64);
  ASSERT_TRUE(client_mask.ok()) << client_mask.status();
  ASSERT_EQ(client_mask->size(), frame.size());
  // Tiles sit at different places in the two paths, so a few pixels near tile seams may
  // differ; whole-frame statistics keep the rest identical.
  const double agree =
      1.0 - cv::countNonZero(*client_mask != *server_mask) / static_cast<double>(frame.total());
  EXPECT_GT(agree, 0.95);
}

TEST_F(ServerIntegrationTest, CliSegmentsFilesOfEveryFormat) {
  const std::string dir = testing::MakeTempDir("cli");
  cv::Mat u16(100, 90, CV_16U), f32(70, 70, CV_32F), u8(64, 80, CV_8U);
  cv::randu(u16, 0, 60000);
  cv::randn(f32, 0, 1);
  cv::randu(u8, 0, 255);
  ASSERT_TRUE(cv::imwrite(dir + "/a16.tif", u16));
  ASSERT_TRUE(cv::imwrite(dir + "/b32.tif", f32));
  ASSERT_TRUE(cv::imwrite(dir + "/c8.png", u8));
  ASSERT_TRUE(data::WriteNpy(dir + "/d.npy", f32).ok());
  std::string output;
  const int code = testing::RunCommand(
      {FRINGE_CLI_BIN, "--server", server_->address(), "segment", dir + "/a16.tif",
       dir + "/b32.tif", dir + "/c8.png", dir + "/d.npy", "--out", dir + "/out", "--probabilities"},
      &output);
  ASSERT_EQ(code, 0) << output;
  for (auto [stem, size] : std::vector<std::pair<std::string, cv::Size>>{
           {"a16", u16.size()}, {"b32", f32.size()}, {"c8", u8.size()}, {"d", f32.size()}}) {
    const cv::Mat mask = cv::imread(dir + "/out/" + stem + "_mask.png", cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(mask.empty()) << stem << "\n" << output;
    EXPECT_EQ(mask.size(), size);
    EXPECT_EQ(mask.type(), CV_8U);
    EXPECT_EQ(cv::countNonZero((mask != 0) & (mask != 255)), 0);
    const cv::Mat overlay = cv::imread(dir + "/out/" + stem + "_overlay.png");
    EXPECT_EQ(overlay.size(), size);
    EXPECT_TRUE(fs::exists(dir + "/out/" + stem + "_probability.tif"));
    EXPECT_NE(output.find(stem + "_mask.png"), std::string::npos);
  }
}

TEST_F(ServerIntegrationTest, CliReportsUnreadableFilesAndUnknownModels) {
  const std::string dir = testing::MakeTempDir("cli_bad");
  testing::WriteTextFile(dir + "/junk.tif", "this is not a tiff");
  cv::Mat ok(32, 32, CV_8U, cv::Scalar(9));
  ASSERT_TRUE(cv::imwrite(dir + "/ok.png", ok));
  std::string output;
  int code = testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "segment",
                                  dir + "/junk.tif", dir + "/ok.png", "--out", dir + "/out"},
                                 &output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("junk.tif"), std::string::npos) << output;
  EXPECT_TRUE(fs::exists(dir + "/out/ok_mask.png")) << "one bad file must not stop the rest";

  code = testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "segment",
                              dir + "/ok.png", "--model", "ghost", "--out", dir + "/out2"},
                             &output);
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("unknown model"), std::string::npos) << output;

  code = testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "health"}, &output);
  EXPECT_EQ(code, 0);
  EXPECT_NE(output.find("SERVING"), std::string::npos);
  code = testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "models"}, &output);
  EXPECT_EQ(code, 0);
  EXPECT_NE(output.find("tiny"), std::string::npos);
  code = testing::RunCommand({FRINGE_CLI_BIN, "--server", "127.0.0.1:1", "health"}, &output);
  EXPECT_EQ(code, 1);
}

TEST_F(ServerIntegrationTest, ExplainReturnsAConsistentRelevanceMap) {
  auto client = Client();
  v1::ExplainRequest request;
  request.set_id("why");
  *request.mutable_image() = Request("x", 64, 96, 3).image();  // Multiples of 4: no padding.
  request.mutable_target()->set_kind(v1::ExplainTarget::BOX);
  request.mutable_target()->set_x0(10);
  request.mutable_target()->set_y0(5);
  request.mutable_target()->set_x1(40);
  request.mutable_target()->set_y1(30);
  for (const char* method : {"lrp", "gradient-x-input"}) {
    request.set_method(method);
    auto response = client->Explain(request);
    ASSERT_TRUE(response.ok()) << method << ": " << response.status();
    EXPECT_EQ(response->id(), "why");
    EXPECT_EQ(response->model_version(), 2);
    auto relevance = TensorToMat(response->relevance(), "relevance");
    ASSERT_TRUE(relevance.ok());
    ASSERT_EQ(relevance->size(), cv::Size(96, 64));
    EXPECT_NEAR(cv::sum(*relevance)[0], response->relevance_sum(),
                1e-3 * (1 + std::abs(response->relevance_sum())))
        << method;
    EXPECT_NEAR(response->target_value() - response->reference_value() - response->relevance_sum(),
                response->conservation_residual(), 1e-6 * (1 + std::abs(response->target_value())));
  }
  request.set_method("lrp");
  request.mutable_image()->mutable_statistics()->set_stddev(0);  // Would divide by zero.
  auto bad_stats = client->Explain(request);
  EXPECT_EQ(bad_stats.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_stats.status().message().find("image.statistics"), std::string::npos);
  request.mutable_image()->clear_statistics();

  request.set_method("astrology");
  auto bad = client->Explain(request);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("astrology"), std::string::npos);
}

TEST_F(ServerIntegrationTest, CliExplainWritesRelevanceFiles) {
  const std::string dir = testing::MakeTempDir("cli_explain");
  cv::Mat frame(64, 64, CV_16U);
  cv::randu(frame, 0, 3000);
  ASSERT_TRUE(cv::imwrite(dir + "/f.tif", frame));
  std::string output;
  const int code =
      testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "explain",
                           dir + "/f.tif", "--target", "pixel=20,30", "--out", dir + "/out"},
                          &output);
  ASSERT_EQ(code, 0) << output;
  const cv::Mat relevance = cv::imread(dir + "/out/f_relevance.tif", cv::IMREAD_UNCHANGED);
  EXPECT_EQ(relevance.type(), CV_32F);
  EXPECT_EQ(relevance.size(), frame.size());
  EXPECT_EQ(cv::imread(dir + "/out/f_relevance.png").size(), frame.size());
  EXPECT_EQ(testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "explain",
                                 dir + "/f.tif", "--target", "box=1,2", "--out", dir + "/out"},
                                &output),
            1);
  EXPECT_NE(output.find("box=X0,Y0,X1,Y1"), std::string::npos) << output;
}

TEST(ServerStartupTest, BadRepositoryOrFlagsExitWithAMessage) {
  std::string output;
  EXPECT_EQ(testing::RunCommand({FRINGE_SERVER_BIN, "--listen", "127.0.0.1:0", "--metrics-listen",
                                 "off", "--repository", "/nonexistent/repo"},
                                &output),
            1);
  EXPECT_NE(output.find("/nonexistent/repo is not a directory"), std::string::npos) << output;
  // Half-built servers shut down cleanly (exit 1 with the reason, no crash).
  const std::string state = testing::MakeTempDir("bad_flags");
  EXPECT_EQ(testing::RunCommand(
                {FRINGE_SERVER_BIN, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                 "--state-dir", state, "--jobs-database", "mysql://nowhere/jobs"},
                &output),
            1)
      << output;
  EXPECT_NE(output.find("mysql"), std::string::npos) << output;
  EXPECT_EQ(testing::RunCommand({FRINGE_SERVER_BIN, "--listen", "127.0.0.1:0", "--state-dir", state,
                                 "--metrics-listen", "no-port-here"},
                                &output),
            1)
      << output;
  EXPECT_NE(output.find("--metrics-listen must be HOST:PORT"), std::string::npos) << output;
  EXPECT_EQ(testing::RunCommand({FRINGE_SERVER_BIN, "--workers", "-3"}, &output), 2) << output;
  EXPECT_NE(output.find("workers"), std::string::npos) << output;
}

// A separate server so the SIGTERM does not take the shared one down.
TEST(ServerShutdownTest, SigtermDrainsAStreamInFlight) {
  const std::string repo = testing::MakeTempDir("drain_repo");
  testing::WriteUNetVersion(repo, "tiny", 1, testing::TinyUNetConfig());
  // A generous drain limit: the test is about draining, not about speed on a loaded machine.
  testing::ServerProcess server(FRINGE_SERVER_BIN, repo,
                                {"--workers", "1", "--drain-seconds", "300"});
  FringeClient::Options options;
  options.target = server.address();
  auto client = FringeClient::Create(options);

  constexpr int kTiles = 24;
  std::atomic<int> sent{0};
  int received = 0;
  std::atomic<bool> signalled{false};
  std::thread stopper;
  const absl::Status status = client->SegmentStream(
      [&](v1::SegmentRequest* r) {
        if (sent == kTiles) return false;
        r->set_id(std::to_string(sent.load()));
        cv::Mat frame(192, 192, CV_32F);
        cv::randn(frame, 0, 1);
        *r->mutable_image() = *MakeWireImage(frame);
        ++sent;
        return true;
      },
      [&](v1::SegmentResponse&& r) {
        EXPECT_FALSE(r.has_error()) << r.error().message();
        ++received;
        if (received == 3 && !signalled.exchange(true)) {
          stopper = std::thread([&] { EXPECT_EQ(server.StopWith(SIGTERM, 300000), 0); });
        }
      },
      8);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(received, kTiles);
  ASSERT_TRUE(signalled.load());
  stopper.join();
  // New calls are refused once it is gone.
  EXPECT_FALSE(client->Health().ok());
}

}  // namespace
}  // namespace fringe
