#include "models/frame_segmenter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

namespace fringe {
namespace {

// Returns its input as the single "class": stitching must then reproduce the (normalised)
// input bit for bit, whatever the tiling.
class IdentityModel : public Segmenter {
 public:
  explicit IdentityModel(int multiple) : multiple_(multiple) {}
  absl::Status Predict(const float* input, int n, int h, int w,
                       std::vector<float>* probs) const override {
    if (h % multiple_ || w % multiple_) return absl::InvalidArgumentError("bad tile");
    ++calls;
    probs->assign(input, input + static_cast<size_t>(n) * h * w);
    return absl::OkStatus();
  }
  int num_classes() const override { return 1; }
  int input_multiple() const override { return multiple_; }
  mutable std::atomic<int> calls{0};

 private:
  int multiple_;
};

// Two classes: p(particle) = 1 where the input is above zero. Checks the argmax mask.
class ThresholdModel : public Segmenter {
 public:
  absl::Status Predict(const float* input, int n, int h, int w,
                       std::vector<float>* probs) const override {
    const size_t px = static_cast<size_t>(h) * w;
    probs->resize(2 * n * px);
    for (int i = 0; i < n; ++i) {
      for (size_t p = 0; p < px; ++p) {
        const float fg = input[i * px + p] > 0 ? 0.9f : 0.1f;
        (*probs)[(2 * i + 1) * px + p] = fg;
        (*probs)[(2 * i) * px + p] = 1 - fg;
      }
    }
    return absl::OkStatus();
  }
  int num_classes() const override { return 2; }
  int input_multiple() const override { return 4; }
};

cv::Mat RandomFrame(int rows, int cols, uint64_t seed) {
  cv::Mat m(rows, cols, CV_32F);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, -100.0f, 300.0f);
  return m;
}

TEST(FrameSegmenterTest, IdentityStitchingIsExactAtManySizes) {
  IdentityModel model(8);
  FrameSegmenterOptions options;
  options.tile_size = 64;
  options.tile_margin = 8;
  options.max_batch = 3;
  options.standardize = false;
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{
           {1, 1}, {5, 3}, {64, 64}, {65, 64}, {100, 37}, {129, 200}, {300, 301}}) {
    const cv::Mat frame = RandomFrame(rows, cols, rows * 1000 + cols);
    auto out = SegmentFrame(model, frame, options);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->class_probabilities.size(), 1u);
    const cv::Mat& back = out->class_probabilities[0];
    ASSERT_EQ(back.size(), frame.size());
    EXPECT_EQ(std::memcmp(back.data, frame.data, frame.total() * sizeof(float)), 0)
        << rows << "x" << cols;
  }
}

TEST(FrameSegmenterTest, StandardisesWithWholeFrameStatistics) {
  IdentityModel model(8);
  FrameSegmenterOptions options;
  options.tile_size = 32;
  options.tile_margin = 4;
  const cv::Mat frame = RandomFrame(90, 70, 3);
  auto out = SegmentFrame(model, frame, options);
  ASSERT_TRUE(out.ok());
  cv::Scalar mean, stddev;
  cv::meanStdDev(out->class_probabilities[0], mean, stddev);
  EXPECT_NEAR(mean[0], 0.0, 1e-4);
  EXPECT_NEAR(stddev[0], 1.0, 1e-4);
  EXPECT_GT(out->tiles, 4);

  // Given statistics win over the frame's own.
  options.statistics = FrameStats{100.0, 2.0};
  out = SegmentFrame(model, frame, options);
  ASSERT_TRUE(out.ok());
  EXPECT_NEAR(out->class_probabilities[0].at<float>(10, 10),
              (frame.at<float>(10, 10) - 100.0f) / 2.0f, 1e-4);
}

TEST(FrameSegmenterTest, BatchesTiles) {
  IdentityModel model(8);
  FrameSegmenterOptions options;
  options.tile_size = 32;
  options.tile_margin = 4;
  options.max_batch = 4;
  options.standardize = false;
  auto out = SegmentFrame(model, RandomFrame(100, 100, 1), options);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(model.calls.load(), (out->tiles + 3) / 4);
}

TEST(FrameSegmenterTest, MaskIsArgmax) {
  ThresholdModel model;
  FrameSegmenterOptions options;
  options.tile_size = 16;
  options.tile_margin = 2;
  options.standardize = false;
  const cv::Mat frame = RandomFrame(50, 45, 9);
  auto out = SegmentFrame(model, frame, options);
  ASSERT_TRUE(out.ok());
  const cv::Mat expected = (frame > 0) / 255;
  EXPECT_EQ(cv::countNonZero(out->mask != expected), 0);
}

TEST(FrameSegmenterTest, RejectsBadOptions) {
  IdentityModel model(8);
  FrameSegmenterOptions options;
  options.tile_size = 60;  // Not a multiple of 8.
  EXPECT_EQ(SegmentFrame(model, RandomFrame(10, 10, 1), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.tile_size = 64;
  EXPECT_EQ(SegmentFrame(model, cv::Mat(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fringe
