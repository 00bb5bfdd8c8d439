// Pixel-size-aware serving end to end (issue 12): the real fringe-server on a loopback port,
// the client library and the real `fringe` CLI. Frames with a known pixel size are resampled to
// the model's, answered at their own size, and carry warnings when the size is unknown or out
// of range; the shipped default model gives the same masks for one scene at two pixel sizes.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "client/fringe_client.h"
#include "common/segmentation_metrics.h"
#include "common/spike_filter.h"
#include "common/tensor_codec.h"
#include "sim/domain_randomization.h"
#include "sim/hrtem_simulator.h"
#include "tests/support/server_process.h"
#include "tests/support/test_client.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

class PixelScaleIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new std::string(testing::MakeTempDir("scale_repo"));
    v1::ModelConfig scaled = testing::TinyUNetConfig();
    scaled.set_pixel_size_nm(0.0225);
    testing::WriteUNetVersion(*repo_, "scaled", 1, scaled, 3);
    server_ = new testing::ServerProcess(FRINGE_SERVER_BIN, *repo_, {"--workers", "1"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }

  static v1::SegmentRequest Request(const std::string& id, int rows, int cols, uint64_t seed) {
    return testing::NoiseRequest(id, rows, cols, seed);
  }

  static std::string* repo_;
  static testing::ServerProcess* server_;
};

std::string* PixelScaleIntegrationTest::repo_ = nullptr;
testing::ServerProcess* PixelScaleIntegrationTest::server_ = nullptr;

TEST_F(PixelScaleIntegrationTest, ExplainAtAnotherPixelSizeAnswersAtTheInputSize) {
  auto client = testing::ConnectTo(server_->address());
  v1::ExplainRequest request;
  request.set_id("scaled");
  request.mutable_model()->set_name("scaled");
  *request.mutable_image() = Request("x", 40, 48, 5).image();
  request.mutable_image()->set_pixel_size_nm(0.045);  // Explained at 80x96, answered at 40x48.
  request.mutable_target()->set_kind(v1::ExplainTarget::BOX);
  request.mutable_target()->set_x0(5);
  request.mutable_target()->set_y0(5);
  request.mutable_target()->set_x1(30);
  request.mutable_target()->set_y1(25);
  request.set_method("gradient-x-input");
  auto response = client->Explain(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().decision(), v1::FrameScale::RESAMPLED);
  EXPECT_EQ(response->scale().model_height(), 80);
  EXPECT_TRUE(response->warnings().empty());
  auto relevance = TensorToMat(response->relevance(), "relevance");
  ASSERT_TRUE(relevance.ok());
  ASSERT_EQ(relevance->size(), cv::Size(48, 40));
  // Resampled back with its sum kept (up to interpolation).
  EXPECT_NEAR(cv::sum(*relevance)[0], response->relevance_sum(),
              0.05 * std::abs(response->relevance_sum()) + 1e-3);
  // A box partly outside the frame is clipped to it (as without resampling) ...
  request.mutable_target()->set_x1(60);
  EXPECT_TRUE(client->Explain(request).ok());
  // ... and one wholly outside is refused in the user's coordinates, not the model's.
  request.mutable_target()->set_x0(50);
  request.mutable_target()->set_x1(70);
  auto bad = client->Explain(request);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_NE(bad.status().message().find("(50,5)-(70,25)"), std::string::npos) << bad.status();
}

TEST_F(PixelScaleIntegrationTest, CliSegmentReportsPixelSizeWarningsWithoutFailing) {
  const std::string dir = testing::MakeTempDir("cli_scale");
  cv::Mat frame(64, 64, CV_16U);
  cv::randu(frame, 0, 3000);
  ASSERT_TRUE(cv::imwrite(dir + "/f.png", frame));  // PNG: no pixel size.
  std::string output;
  int code = testing::RunCommand({FRINGE_CLI_BIN, "--server", server_->address(), "segment",
                                  dir + "/f.png", "--model", "scaled", "--out", dir + "/a"},
                                 &output);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("warning: pixel size unknown"), std::string::npos) << output;
  code = testing::RunCommand(
      {FRINGE_CLI_BIN, "--server", server_->address(), "segment", dir + "/f.png", "--model",
       "scaled", "--pixel-size-nm", "0.045", "--out", dir + "/b"},
      &output);
  EXPECT_EQ(code, 0) << output;
  EXPECT_EQ(output.find("warning"), std::string::npos) << output;
  const cv::Mat mask = cv::imread(dir + "/b/f_mask.png", cv::IMREAD_UNCHANGED);
  EXPECT_EQ(mask.size(), cv::Size(64, 64));
  // Masks stay OUT/<stem>_mask.png and nothing else is named *_mask.png.
  int masks = 0;
  for (const auto& entry : fs::directory_iterator(dir + "/b")) {
    masks += entry.path().filename().string().find("_mask.png") != std::string::npos;
  }
  EXPECT_EQ(masks, 1);
  // An out-of-range pixel size is a warning, never a failure.
  code = testing::RunCommand(
      {FRINGE_CLI_BIN, "--server", server_->address(), "segment", dir + "/f.png", "--model",
       "scaled", "--pixel-size-nm", "5", "--out", dir + "/c"},
      &output);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("warning: out of domain"), std::string::npos) << output;
}

// The shipped default model on one simulated scene (the same particles and carbon over the
// same 10.24 nm field) rendered at 0.02 nm/px (512x512) and at 0.04 nm/px (256x256), each sent
// with its pixel size: both are resampled to the model's 0.0225 nm/px and the masks agree.
TEST(PixelScaleDefaultModelTest, SameSceneAtTwoPixelSizesGivesAgreeingMasks) {
  testing::ServerProcess server(FRINGE_SERVER_BIN, FRINGE_SOURCE_DIR "/models/repository",
                                {"--workers", "1"});
  auto client = testing::ConnectTo(server.address());
  auto render = [](int size, double pixel_nm, uint64_t index) {
    sim::SimulatorOptions options;
    options.height = options.width = size;
    options.overrides.pixel_size_nm = pixel_nm;
    options.overrides.dose_e_per_a2 = 400;
    auto simulator = sim::HrtemSimulator::Create(options);
    EXPECT_TRUE(simulator.ok()) << simulator.status();
    return (*simulator)->Generate(20261203, index);
  };
  auto segment = [&](const sim::Sample& sample, double pixel_nm) {
    v1::SegmentRequest request;
    request.set_id("scene");
    request.mutable_model()->set_name("default");
    *request.mutable_image() = *MakeWireImage(sample.image);
    request.mutable_image()->set_pixel_size_nm(pixel_nm);
    auto response = client->Segment(request);
    EXPECT_TRUE(response.ok()) << response.status();
    EXPECT_TRUE(response->warnings().empty());
    auto mask = TensorToMat(response->mask(), "mask");
    EXPECT_TRUE(mask.ok());
    return *mask;
  };
  double dice_sum = 0;
  const int scenes = 3;
  for (int index = 0; index < scenes; ++index) {
    const sim::Sample fine = render(512, 0.02, index);
    const sim::Sample coarse = render(256, 0.04, index);
    ASSERT_EQ(fine.params.particles.size(), coarse.params.particles.size());
    const cv::Mat fine_mask = segment(fine, 0.02);
    const cv::Mat coarse_mask = segment(coarse, 0.04);
    ASSERT_EQ(fine_mask.size(), cv::Size(512, 512));
    ASSERT_EQ(coarse_mask.size(), cv::Size(256, 256));
    // The fine mask on the coarse grid: the share of each 2x2 block that is particle.
    cv::Mat fine_f, share;
    fine_mask.convertTo(fine_f, CV_32F);
    cv::resize(fine_f, share, coarse_mask.size(), 0, 0, cv::INTER_AREA);
    const cv::Mat agreed = share >= 0.5f;
    const double dice = ComputeMetrics(CountConfusion(coarse_mask, agreed)).dice;
    EXPECT_GT(dice, 0.8) << "scene " << index;
    dice_sum += dice;
  }
  EXPECT_GE(dice_sum / scenes, 0.9);
}

// The spike filter runs on every served frame: it must never touch a real image feature
// (gold atom columns at the highest dose, fringes at the finest pixel size) and must catch the
// simulator's x-ray spikes, hot and dead pixels.
TEST(SpikeFilterOnSimulatedFramesTest, LeavesLatticesAloneAndCatchesDetectorDefects) {
  for (double dose : {30.0, 1000.0, 5000.0}) {
    for (double pixel : {0.01, 0.0225, 0.06}) {
      sim::SimulatorOptions options;
      options.height = options.width = 256;
      options.overrides.dose_e_per_a2 = dose;
      options.overrides.pixel_size_nm = pixel;
      options.overrides.particle_count = 3;
      auto simulator = sim::HrtemSimulator::Create(options);
      ASSERT_TRUE(simulator.ok()) << simulator.status();
      for (int i = 0; i < 3; ++i) {
        cv::Mat frame = (*simulator)->Generate(11, i).image.clone();
        EXPECT_EQ(RemoveSpikes(&frame), 0)
            << "dose " << dose << " pixel " << pixel << " frame " << i;
      }
    }
  }
  sim::SimulatorOptions base;
  base.height = base.width = 256;
  auto randomized = sim::RandomizedOptions(base);
  ASSERT_TRUE(randomized.ok());
  randomized->xray_spikes_max = 20;
  auto simulator = sim::HrtemSimulator::Create(*randomized);
  ASSERT_TRUE(simulator.ok()) << simulator.status();
  int removed = 0;
  for (int i = 0; i < 8; ++i) {
    cv::Mat frame = (*simulator)->Generate(12, i).image.clone();
    removed += RemoveSpikes(&frame);
  }
  EXPECT_GT(removed, 8);  // On average 10 spikes per frame plus hot and dead pixels.
}

}  // namespace
}  // namespace fringe
