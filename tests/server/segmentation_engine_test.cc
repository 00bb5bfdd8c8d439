#include "server/segmentation_engine.h"

#include <gtest/gtest.h>

#include "server/explanation_engine.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

class SegmentationEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(testing::MakeTempDir("engine"));
    testing::WriteUNetVersion(*root_, "tiny", 1, testing::TinyUNetConfig());
    v1::ModelConfig scaled = testing::TinyUNetConfig();
    scaled.set_pixel_size_nm(0.0225);
    testing::WriteUNetVersion(*root_, "tiny-scaled", 1, scaled);
    ModelRepository::Options options;
    options.root = *root_;
    repo_ = ModelRepository::Create(options, ModelRegistry::WithBuiltins())->release();
    ASSERT_TRUE(repo_->LoadAll().ok());
  }
  static void TearDownTestSuite() {
    delete repo_;
    delete root_;
  }

  static v1::SegmentRequest Request(int rows, int cols) {
    v1::SegmentRequest request;
    request.set_id("r1");
    cv::Mat frame(rows, cols, CV_16U);
    cv::randu(frame, 0, 4000);
    *request.mutable_image()->mutable_tensor() = *MatToTensor(frame);
    return request;
  }

  SegmentationEngine engine_{repo_, {}};
  static std::string* root_;
  static ModelRepository* repo_;
};

std::string* SegmentationEngineTest::root_ = nullptr;
ModelRepository* SegmentationEngineTest::repo_ = nullptr;

TEST_F(SegmentationEngineTest, SegmentsAFrameLargerThanATile) {
  v1::SegmentRequest request = Request(150, 97);
  request.set_probabilities(v1::PROBABILITIES_FLOAT16);
  auto response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->id(), "r1");
  EXPECT_EQ(response->model_name(), "tiny");
  EXPECT_EQ(response->model_version(), 1);
  EXPECT_EQ(response->mask().dtype(), v1::DTYPE_UINT8);
  EXPECT_EQ(response->mask().shape(0), 150);
  EXPECT_EQ(response->mask().shape(1), 97);
  EXPECT_EQ(response->probabilities().dtype(), v1::DTYPE_FLOAT16);
  EXPECT_GT(response->timings().tiles(), 1);
  EXPECT_GT(response->timings().compute_ms(), 0);
}

TEST_F(SegmentationEngineTest, ProbabilitiesAgreeWithTheMask) {
  v1::SegmentRequest request = Request(64, 64);
  request.set_probabilities(v1::PROBABILITIES_FLOAT32);
  auto response = engine_.Segment(request);
  ASSERT_TRUE(response.ok());
  auto mask = TensorToMat(response->mask(), "mask");
  auto p = TensorToMat(response->probabilities(), "p");
  ASSERT_TRUE(mask.ok() && p.ok());
  EXPECT_EQ(cv::countNonZero((*p > 0.5f) != (*mask == 1)), 0);
}

TEST_F(SegmentationEngineTest, BadRequestsNameTheProblem) {
  struct Case {
    std::function<void(v1::SegmentRequest*)> spoil;
    absl::StatusCode code;
    std::string names;
  };
  const std::vector<Case> cases = {
      {[](v1::SegmentRequest* r) {
         r->mutable_image()->mutable_tensor()->set_dtype(v1::DTYPE_UNSPECIFIED);
       },
       absl::StatusCode::kInvalidArgument, "image.tensor.dtype"},
      {[](v1::SegmentRequest* r) {
         r->mutable_image()->mutable_tensor()->mutable_data()->append("x");
       },
       absl::StatusCode::kInvalidArgument, "image.tensor.data"},
      {[](v1::SegmentRequest* r) { r->mutable_image()->mutable_tensor()->set_shape(0, 0); },
       absl::StatusCode::kInvalidArgument, "image.tensor.shape"},
      {[](v1::SegmentRequest* r) { r->mutable_image()->mutable_tensor()->set_shape(0, 1 << 30); },
       absl::StatusCode::kInvalidArgument, "limit"},
      {[](v1::SegmentRequest* r) { r->mutable_image()->Clear(); },
       absl::StatusCode::kInvalidArgument, "image is empty"},
      {[](v1::SegmentRequest* r) { r->mutable_model()->set_name("nope"); },
       absl::StatusCode::kNotFound, "tiny (versions 1)"},
      {[](v1::SegmentRequest* r) { r->mutable_model()->set_version(7); },
       absl::StatusCode::kNotFound, "no version 7"},
      {[](v1::SegmentRequest* r) { r->set_probabilities(static_cast<v1::ProbabilityFormat>(9)); },
       absl::StatusCode::kInvalidArgument, "probabilities"},
      {[](v1::SegmentRequest* r) { r->mutable_image()->mutable_statistics()->set_stddev(-1); },
       absl::StatusCode::kInvalidArgument, "statistics"},
  };
  for (const Case& c : cases) {
    v1::SegmentRequest request = Request(32, 32);
    c.spoil(&request);
    auto response = engine_.Segment(request);
    EXPECT_EQ(response.status().code(), c.code) << c.names << ": " << response.status();
    EXPECT_NE(response.status().message().find(c.names), std::string::npos)
        << c.names << ": " << response.status();
  }
}

TEST_F(SegmentationEngineTest, NanFloatImageIsRejected) {
  v1::SegmentRequest request;
  cv::Mat frame(16, 16, CV_32F, cv::Scalar(1.0f));
  frame.at<float>(3, 3) = std::nanf("");
  *request.mutable_image()->mutable_tensor() = *MatToTensor(frame);
  EXPECT_EQ(engine_.Segment(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SegmentationEngineTest, ResamplesKnownPixelSizesAndAnswersAtTheInputSize) {
  v1::SegmentRequest request = Request(60, 44);
  request.mutable_model()->set_name("tiny-scaled");
  request.set_probabilities(v1::PROBABILITIES_FLOAT32);
  request.mutable_image()->set_pixel_size_nm(0.045);  // Twice the model's: enlarged 2x.
  auto response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().decision(), v1::FrameScale::RESAMPLED);
  EXPECT_EQ(response->scale().model_height(), 120);
  EXPECT_EQ(response->scale().model_width(), 88);
  EXPECT_DOUBLE_EQ(response->scale().model_pixel_size_nm(), 0.0225);
  EXPECT_EQ(response->mask().shape(0), 60);
  EXPECT_EQ(response->mask().shape(1), 44);
  EXPECT_EQ(response->probabilities().shape(0), 60);
  EXPECT_TRUE(response->warnings().empty());
  // Mask and probabilities still agree after resampling back.
  auto mask = TensorToMat(response->mask(), "mask");
  auto p = TensorToMat(response->probabilities(), "p");
  ASSERT_TRUE(mask.ok() && p.ok());
  EXPECT_EQ(cv::countNonZero((*p > 0.5f) != (*mask == 1)), 0);
  // Non-square pixels: each axis on its own.
  request.mutable_image()->set_pixel_size_y_nm(0.01125);
  response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().model_height(), 30);
  EXPECT_EQ(response->scale().model_width(), 88);
  EXPECT_EQ(response->mask().shape(0), 60);
}

TEST_F(SegmentationEngineTest, UnknownAndOutOfRangePixelSizesAreServedAsIsWithWarnings) {
  v1::SegmentRequest request = Request(64, 64);
  request.mutable_model()->set_name("tiny-scaled");
  auto response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().decision(), v1::FrameScale::UNKNOWN_PIXEL_SIZE);
  ASSERT_EQ(response->warnings_size(), 1);
  EXPECT_NE(response->warnings(0).find("pixel size unknown"), std::string::npos);
  EXPECT_EQ(response->mask().shape(0), 64);

  request.mutable_image()->set_pixel_size_nm(5.0);  // A survey image.
  response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().decision(), v1::FrameScale::OUT_OF_RANGE);
  EXPECT_EQ(response->scale().model_height(), 64);
  EXPECT_TRUE(response->quality().out_of_domain());
  ASSERT_EQ(response->warnings_size(), 1);
  EXPECT_NE(response->warnings(0).find("out of domain"), std::string::npos);

  // A model that records no pixel size never resamples and never warns.
  request.mutable_model()->set_name("tiny");
  response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().decision(), v1::FrameScale::NATIVE);
  EXPECT_TRUE(response->warnings().empty());
}

TEST_F(SegmentationEngineTest, EveryResponseCarriesQualitySignals) {
  v1::SegmentRequest request = Request(64, 64);
  request.mutable_model()->set_name("tiny-scaled");
  request.mutable_image()->set_pixel_size_nm(0.0225);
  // One x-ray spike in the frame.
  cv::Mat frame(64, 64, CV_16U);
  cv::randu(frame, 900, 1100);
  frame.at<uint16_t>(10, 20) = 60000;
  *request.mutable_image()->mutable_tensor() = *MatToTensor(frame);
  auto response = engine_.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scale().decision(), v1::FrameScale::NATIVE);
  const v1::FrameQuality& q = response->quality();
  EXPECT_EQ(q.spikes_removed(), 1);
  auto mask = TensorToMat(response->mask(), "mask");
  ASSERT_TRUE(mask.ok());
  EXPECT_DOUBLE_EQ(q.particle_fraction(), cv::countNonZero(*mask) / 4096.0);
  EXPECT_GT(q.mean_entropy_bits(), 0.0);  // Random weights are never certain everywhere.
  EXPECT_LE(q.mean_entropy_bits(), 1.0);
  EXPECT_EQ(q.out_of_domain(), q.reasons_size() > 0);
}

TEST_F(SegmentationEngineTest, AFrameTooLargeAtTheModelScaleIsRefusedNamingTheSizes) {
  SegmentationEngine::Options options;
  options.limits.max_pixels = 100 * 100;
  SegmentationEngine small(repo_, options);
  v1::SegmentRequest request = Request(60, 44);
  request.mutable_model()->set_name("tiny-scaled");
  request.mutable_image()->set_pixel_size_nm(0.09);  // 4x: 240x176 at the model's scale.
  auto response = small.Segment(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(response.status().message().find("176x240"), std::string::npos) << response.status();
  request.mutable_image()->set_pixel_size_nm(0.0225);  // Native: within the limit.
  EXPECT_TRUE(small.Segment(request).ok());
}

TEST_F(SegmentationEngineTest, BatchKeyUsesTheModelScaleSize) {
  v1::SegmentRequest request = Request(32, 32);
  request.mutable_model()->set_name("tiny-scaled");
  request.mutable_image()->set_pixel_size_nm(0.045);
  auto model = engine_.Resolve(request);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(SegmentationEngine::BatchKey(request, *model), "tiny-scaled:1:64x64");
  request.mutable_image()->set_pixel_size_nm(0.09);  // 128x128: more than one 64-px tile.
  EXPECT_EQ(SegmentationEngine::BatchKey(request, *model), "");
  request.mutable_image()->set_pixel_size_nm(0.045);
  request.mutable_explain()->set_method("lrp");  // Explained frames run alone.
  EXPECT_EQ(SegmentationEngine::BatchKey(request, *model), "");
}

TEST_F(SegmentationEngineTest, AnExplainedRequestNeedsAnExplanationEngine) {
  v1::SegmentRequest request = Request(64, 64);
  request.mutable_explain()->set_method("lrp");
  auto response = engine_.Segment(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  ExplanationEngine explanation(repo_, {});
  SegmentationEngine explaining(repo_, {}, &explanation);
  response = explaining.Segment(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->explanation().method(), "lrp");
  EXPECT_EQ(response->explanation().relevance().shape(0), 64);
}

}  // namespace
}  // namespace fringe
