#include "common/tensor_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <opencv2/imgcodecs.hpp>

namespace fringe {
namespace {

cv::Mat Ramp(int rows, int cols, int type) {
  cv::Mat m(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m.at<float>(r, c) = static_cast<float>(r * cols + c) - 7.0f;
  cv::Mat out;
  m.convertTo(out, type);
  return out;
}

TEST(TensorCodecTest, RoundTripsEveryDtype) {
  for (int type : {CV_8U, CV_16U, CV_16S, CV_32F, CV_16F}) {
    const cv::Mat m = Ramp(5, 7, type);
    auto tensor = MatToTensor(m);
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    EXPECT_EQ(tensor->shape(0), 5);
    EXPECT_EQ(tensor->shape(1), 7);
    auto back = TensorToMat(*tensor, "t");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->type(), m.type());
    ASSERT_EQ(back->total() * back->elemSize(), m.total() * m.elemSize());
    EXPECT_EQ(std::memcmp(back->data, m.data, m.total() * m.elemSize()), 0) << "type " << type;
  }
}

TEST(TensorCodecTest, DecodesToFloat) {
  v1::Image image;
  *image.mutable_tensor() = *MatToTensor(Ramp(3, 4, CV_16U));
  auto frame = DecodeImageToFloat(image);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->type(), CV_32F);
  EXPECT_FLOAT_EQ(frame->at<float>(2, 3), 2 * 4 + 3 - 7.0f);
}

TEST(TensorCodecTest, RejectsWrongByteCount) {
  v1::Tensor t = *MatToTensor(Ramp(4, 4, CV_8U));
  t.mutable_data()->pop_back();
  auto r = TensorToMat(t, "image.tensor");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("image.tensor.data has 15 bytes"), std::string::npos)
      << r.status();
}

TEST(TensorCodecTest, RejectsBadShapesAndDtypes) {
  v1::Tensor t = *MatToTensor(Ramp(4, 4, CV_8U));
  v1::Tensor no_dtype = t;
  no_dtype.set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_NE(TensorToMat(no_dtype, "x").status().message().find("x.dtype"), std::string::npos);
  v1::Tensor rank3 = t;
  rank3.add_shape(1);
  EXPECT_NE(TensorToMat(rank3, "x").status().message().find("x.shape"), std::string::npos);
  v1::Tensor zero = t;
  zero.set_shape(0, 0);
  EXPECT_EQ(TensorToMat(zero, "x").status().code(), absl::StatusCode::kInvalidArgument);
  v1::Tensor negative = t;
  negative.set_shape(0, -4);
  EXPECT_EQ(TensorToMat(negative, "x").status().code(), absl::StatusCode::kInvalidArgument);
  v1::Tensor absurd = t;
  absurd.set_shape(0, int64_t{1} << 40);
  auto r = TensorToMat(absurd, "x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("limit"), std::string::npos);
}

TEST(TensorCodecTest, RejectsNanAndInf) {
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    cv::Mat m = Ramp(4, 4, CV_32F);
    m.at<float>(2, 1) = bad;
    auto r = TensorToMat(*MatToTensor(m), "image.tensor");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("NaN or Inf"), std::string::npos);
  }
}

TEST(TensorCodecTest, DecodesEncodedPngAndRejectsGarbage) {
  const cv::Mat m = Ramp(6, 9, CV_16U);
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", m, png));
  v1::Image image;
  image.mutable_encoded()->set_data(png.data(), png.size());
  auto frame = DecodeImageToFloat(image);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->rows, 6);
  EXPECT_EQ(frame->cols, 9);
  EXPECT_FLOAT_EQ(frame->at<float>(5, 8), static_cast<float>(m.at<uint16_t>(5, 8)));

  image.mutable_encoded()->set_data("definitely not an image");
  EXPECT_EQ(DecodeImageToFloat(image).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImageToFloat(v1::Image()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorCodecTest, FrameStatisticsAreOptionalAndValidated) {
  v1::Image image;
  auto none = ReadFrameStatistics(image);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  image.mutable_statistics()->set_mean(3);
  image.mutable_statistics()->set_stddev(2);
  auto given = ReadFrameStatistics(image);
  ASSERT_TRUE(given.ok() && given->has_value());
  EXPECT_EQ((*given)->mean, 3);
  EXPECT_EQ((*given)->stddev, 2);
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity()}) {
    image.mutable_statistics()->set_stddev(bad);
    auto r = ReadFrameStatistics(image);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("image.statistics"), std::string::npos);
  }
}

}  // namespace
}  // namespace fringe
