#include "data/npy_format.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace fringe::data {
namespace {

using testing::BytesOf;
using testing::MakeNpy;
using testing::StatusIs;
using testing::TempDir;
using testing::WriteBytes;

// A rows x cols matrix of `depth` with distinct values, negative ones where the type allows.
cv::Mat Ramp(int depth, int rows = 3, int cols = 5) {
  cv::Mat m(rows, cols, CV_64F);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) m.at<double>(r, c) = 7.0 * r + c - 3.0;
  }
  if (depth == CV_8U || depth == CV_16U) m += 3.0;
  if (depth == CV_32F || depth == CV_64F || depth == CV_16F) m *= 0.25;
  cv::Mat out;
  m.convertTo(out, depth);
  return out;
}

bool SameMat(const cv::Mat& a, const cv::Mat& b) {
  if (a.type() != b.type() || a.size != b.size) return false;
  cv::Mat a64, b64;
  a.convertTo(a64, CV_64F);
  b.convertTo(b64, CV_64F);
  return cv::norm(a64, b64, cv::NORM_INF) == 0;
}

TEST(NpyTest, WriteThenReadIsExactForEveryDepth) {
  TempDir dir;
  for (const int depth : {CV_8U, CV_8S, CV_16U, CV_16S, CV_32S, CV_16F, CV_32F, CV_64F}) {
    SCOPED_TRACE(depth);
    const cv::Mat m = Ramp(depth);
    const std::string path = dir.File("a.npy");
    ASSERT_TRUE(WriteNpy(path, m).ok());
    absl::StatusOr<cv::Mat> back = ReadNpy(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(SameMat(*back, m));

    // ReadImage keeps 8U/16U/16S/32F and converts the rest to float32 with the same values.
    absl::StatusOr<Image> image = ReadImage(path);
    ASSERT_TRUE(image.ok()) << image.status();
    const bool native = depth == CV_8U || depth == CV_16U || depth == CV_16S || depth == CV_32F;
    EXPECT_EQ(image->pixels.depth(), native ? depth : CV_32F);
    EXPECT_EQ(image->format, "npy");
    EXPECT_EQ(image->original_shape, (std::vector<int>{3, 5}));
    EXPECT_FALSE(image->pixel_size_nm.has_value());
    cv::Mat expected;
    m.convertTo(expected, image->pixels.depth());
    EXPECT_TRUE(SameMat(image->pixels, expected));
  }
}

TEST(NpyTest, WrittenHeaderIsWhatNumpyWrites) {
  TempDir dir;
  ASSERT_TRUE(WriteNpy(dir.File("f.npy"), Ramp(CV_32F, 4, 6)).ok());
  const std::string bytes = testing::ReadBytes(dir.File("f.npy"));
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>(bytes[8]) |
                            (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  const size_t data_offset = 10 + header_len;
  EXPECT_EQ(data_offset % 64, 0u);  // numpy >= 1.20 aligns the data to 64 bytes
  EXPECT_EQ(bytes[data_offset - 1], '\n');
  const std::string dict = bytes.substr(10, header_len);
  EXPECT_NE(dict.find("'descr': '<f4'"), std::string::npos) << dict;
  EXPECT_NE(dict.find("'fortran_order': False"), std::string::npos) << dict;
  EXPECT_NE(dict.find("'shape': (4, 6)"), std::string::npos) << dict;
  EXPECT_EQ(bytes.size(), data_offset + 4 * 6 * 4);
}

TEST(NpyTest, WritesOnlyTheRoiOfANonContinuousMatrix) {
  TempDir dir;
  const cv::Mat big = Ramp(CV_16U, 6, 8);
  const cv::Mat roi = big(cv::Rect(2, 1, 3, 4));
  ASSERT_FALSE(roi.isContinuous());
  ASSERT_TRUE(WriteNpy(dir.File("roi.npy"), roi).ok());
  absl::StatusOr<cv::Mat> back = ReadNpy(dir.File("roi.npy"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameMat(*back, roi.clone()));
}

TEST(NpyTest, WriteRejectsMultiChannelAndEmpty) {
  TempDir dir;
  const std::string path = dir.File("bad.npy");
  EXPECT_TRUE(StatusIs(WriteNpy(path, cv::Mat(2, 2, CV_8UC3, cv::Scalar::all(1))),
                       absl::StatusCode::kInvalidArgument, {path, "single-channel"}));
  EXPECT_TRUE(StatusIs(WriteNpy(path, cv::Mat()), absl::StatusCode::kInvalidArgument, {path}));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(NpyTest, ReadsBigEndianDtypes) {
  TempDir dir;
  struct Case {
    std::string descr;
    std::string data;
    int depth;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {">f4", BytesOf<float>({1.5f, -2.25f, 3e5f, 0.f}, true), CV_32F, {1.5, -2.25, 3e5, 0}},
      {">u2", BytesOf<uint16_t>({1, 258, 65535, 0}, true), CV_16U, {1, 258, 65535, 0}},
      {">i2", BytesOf<int16_t>({-1, 258, -32768, 7}, true), CV_16S, {-1, 258, -32768, 7}},
      {">i4", BytesOf<int32_t>({-70000, 1, 2, 16777216}, true), CV_32S, {-70000, 1, 2, 16777216}},
      {">f8", BytesOf<double>({1e-3, -4.0, 2.5, 1e10}, true), CV_64F, {1e-3, -4.0, 2.5, 1e10}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.descr);
    const std::string path = dir.File("be.npy");
    WriteBytes(
        path,
        MakeNpy("{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': (2, 2), }", c.data));
    absl::StatusOr<cv::Mat> m = ReadNpy(path);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(m->depth(), c.depth);
    cv::Mat d;
    m->convertTo(d, CV_64F);
    for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(d.at<double>(i / 2, i % 2), c.values[i]);
    absl::StatusOr<Image> image = ReadImage(path);
    ASSERT_TRUE(image.ok()) << image.status();
    cv::Mat f;
    image->pixels.convertTo(f, CV_64F);
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(f.at<double>(i / 2, i % 2), c.values[i], std::abs(c.values[i]) * 1e-7);
    }
  }
}

TEST(NpyTest, ReadsTypesWithoutAnOpenCvDepth) {
  TempDir dir;
  const std::string path = dir.File("t.npy");
  // uint32 above 2^31 must not wrap; numpy bools are bytes.
  WriteBytes(path, MakeNpy("{'descr': '<u4', 'fortran_order': False, 'shape': (1, 3), }",
                           BytesOf<uint32_t>({4000000000u, 1u, 0u})));
  absl::StatusOr<cv::Mat> m = ReadNpy(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->depth(), CV_64F);
  EXPECT_EQ(m->at<double>(0, 0), 4000000000.0);
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->pixels.depth(), CV_32F);
  EXPECT_FLOAT_EQ(image->pixels.at<float>(0, 0), 4e9f);

  WriteBytes(path, MakeNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (1, 3), }",
                           std::string("\x01\x00\x01", 3)));
  m = ReadNpy(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->depth(), CV_8U);
  EXPECT_EQ(m->at<uint8_t>(0, 0), 1);
  EXPECT_EQ(m->at<uint8_t>(0, 1), 0);

  WriteBytes(path, MakeNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }",
                           BytesOf<int64_t>({-5, 1LL << 40})));
  m = ReadNpy(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at<double>(0, 0), -5.0);
  EXPECT_EQ(m->at<double>(0, 1), static_cast<double>(1LL << 40));
}

TEST(NpyTest, ReadsVersion2HeadersAndKeyOrderVariants) {
  TempDir dir;
  const std::string path = dir.File("v2.npy");
  // numpy writes format 2.0 for headers over 64 KiB; key order and spacing are free.
  WriteBytes(path, MakeNpy("{'shape':(2,1),'fortran_order':False,'descr':'<i2'}",
                           BytesOf<int16_t>({-3, 4}), 2));
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.depth(), CV_16S);
  EXPECT_EQ(image->pixels.rows, 2);
  EXPECT_EQ(image->pixels.at<int16_t>(0, 0), -3);
  EXPECT_EQ(image->pixels.at<int16_t>(1, 0), 4);
}

TEST(NpyTest, ThreeDimensionalArraysAreFrameStacks) {
  TempDir dir;
  const std::string path = dir.File("stack.npy");
  std::vector<float> values;
  for (int f = 0; f < 3; ++f) {
    for (int i = 0; i < 4 * 5; ++i) values.push_back(100.0f * f + i);
  }
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, 5), }",
                           BytesOf(values)));
  for (int f = 0; f < 3; ++f) {
    absl::StatusOr<Image> image = ReadImage(path, f);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->original_shape, (std::vector<int>{3, 4, 5}));
    EXPECT_EQ(image->pixels.rows, 4);
    EXPECT_EQ(image->pixels.cols, 5);
    EXPECT_EQ(image->pixels.at<float>(3, 4), 100.0f * f + 19);
  }
  EXPECT_TRUE(StatusIs(ReadImage(path, 3).status(), absl::StatusCode::kOutOfRange,
                       {path, "frame 3", "3 frames"}));
  absl::StatusOr<cv::Mat> whole = ReadNpy(path);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->dims, 3);
  EXPECT_EQ(whole->size[0], 3);
  EXPECT_EQ(whole->at<float>(2, 1, 3), 208.0f);
}

TEST(NpyTest, RejectsFortranOrderWithAClearError) {
  TempDir dir;
  const std::string path = dir.File("f.npy");
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                           BytesOf<float>({1, 2, 3, 4})));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "fortran_order", "ascontiguousarray"}));
  EXPECT_TRUE(StatusIs(ReadNpy(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "fortran_order"}));
}

TEST(NpyTest, RejectsUnsupportedDtypes) {
  TempDir dir;
  const std::string path = dir.File("c.npy");
  WriteBytes(path, MakeNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1, 1), }",
                           std::string(8, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "unsupported dtype '<c8'"}));
  WriteBytes(path, MakeNpy("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, "
                           "'shape': (1, 1), }",
                           std::string(8, '\0')));
  EXPECT_TRUE(
      StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument, {path, "structured"}));
}

TEST(NpyTest, RejectsTruncatedData) {
  TempDir dir;
  const std::string path = dir.File("t.npy");
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (64, 64), }",
                           std::string(100, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "truncated", "(64, 64)", "16384 bytes", "only 100"}));
  // A header cut short is truncated too.
  const std::string full =
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", std::string(4, '\0'));
  WriteBytes(path, full.substr(0, 30));
  EXPECT_TRUE(
      StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument, {path, "truncated"}));
}

TEST(NpyTest, RejectsOtherRanksAndMalformedHeaders) {
  TempDir dir;
  const std::string path = dir.File("r.npy");
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
                           std::string(20, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "shape (5,)", "2-D"}));
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", ""));
  EXPECT_TRUE(
      StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument, {path, "empty"}));
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'shape': (1, 1), }", std::string(4, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "malformed NPY header"}));
  WriteBytes(path, MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)",
                           std::string(4, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "malformed NPY header"}));
}

TEST(NpyTest, RejectsWrongMagic) {
  TempDir dir;
  const std::string path = dir.File("x.npy");
  WriteBytes(path, "PK\x03\x04 this is a zip (an .npz) not an .npy");
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "wrong magic", ".npy"}));
  EXPECT_TRUE(
      StatusIs(ReadNpy(path).status(), absl::StatusCode::kInvalidArgument, {path, "wrong magic"}));
}

}  // namespace
}  // namespace fringe::data
