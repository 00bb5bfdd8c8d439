#include "data/mrc_format.h"

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace fringe::data {
namespace {

using testing::BytesOf;
using testing::MakeMrc;
using testing::MrcSpec;
using testing::StatusIs;
using testing::TempDir;
using testing::WriteBytes;

// 16-bit IEEE half-precision bit patterns of small test values.
constexpr uint16_t kHalfOne = 0x3C00;
constexpr uint16_t kHalfMinusTwo = 0xC000;
constexpr uint16_t kHalfHalf = 0x3800;
constexpr uint16_t kHalfThousand = 0x63D0;  // 1000

TEST(MrcTest, ReadsEveryImageModeWithItsDepthAndPixelSize) {
  TempDir dir;
  struct Case {
    int mode;
    std::string data;  // 3 x 2 image (nx = 3, ny = 2)
    int depth;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {0, std::string("\x01\xff\x7f\x80\x00\x05", 6), CV_32F, {1, -1, 127, -128, 0, 5}},
      {1, BytesOf<int16_t>({-300, 2, 3, 4, 5, 32767}), CV_16S, {-300, 2, 3, 4, 5, 32767}},
      {2, BytesOf<float>({0.5f, -1.f, 2.f, 3.f, 4.f, 1e6f}), CV_32F, {0.5, -1, 2, 3, 4, 1e6}},
      {6, BytesOf<uint16_t>({65535, 2, 3, 4, 5, 6}), CV_16U, {65535, 2, 3, 4, 5, 6}},
      {12,
       BytesOf<uint16_t>({kHalfOne, kHalfMinusTwo, kHalfHalf, kHalfThousand, 0, kHalfOne}),
       CV_32F,
       {1, -2, 0.5, 1000, 0, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mode);
    MrcSpec spec;
    spec.nx = 3;
    spec.ny = 2;
    spec.mode = c.mode;
    spec.cella[0] = 4.8f;  // 3 samples over 4.8 A -> 1.6 A = 0.16 nm per pixel
    spec.cella[1] = 3.2f;  // 2 samples over 3.2 A -> 0.16 nm
    const std::string path = dir.File("m.mrc");
    WriteBytes(path, MakeMrc(spec, c.data));
    absl::StatusOr<Image> image = ReadImage(path);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->format, "mrc");
    EXPECT_EQ(image->pixels.depth(), c.depth);
    ASSERT_EQ(image->pixels.rows, 2);
    ASSERT_EQ(image->pixels.cols, 3);
    EXPECT_EQ(image->original_shape, (std::vector<int>{2, 3}));
    cv::Mat d;
    image->pixels.convertTo(d, CV_64F);
    for (int i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(d.at<double>(i / 3, i % 3), c.values[i]) << i;
    ASSERT_TRUE(image->pixel_size_nm.has_value());
    EXPECT_NEAR(*image->pixel_size_nm, 0.16, 1e-6);
  }
}

TEST(MrcTest, SkipsTheExtendedHeader) {
  TempDir dir;
  MrcSpec spec;
  spec.nx = 2;
  spec.ny = 2;
  spec.mode = 6;
  spec.nsymbt = 4096;  // e.g. an FEI extended header; filled with 0xFF by the writer
  const std::string path = dir.File("ext.mrc");
  WriteBytes(path, MakeMrc(spec, BytesOf<uint16_t>({10, 20, 30, 40})));
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.at<uint16_t>(0, 0), 10);
  EXPECT_EQ(image->pixels.at<uint16_t>(1, 1), 40);
  EXPECT_FALSE(image->pixel_size_nm.has_value());  // cell 0: uncalibrated
}

TEST(MrcTest, ReadsSectionsOfAStack) {
  TempDir dir;
  MrcSpec spec;
  spec.nx = 2;
  spec.ny = 2;
  spec.nz = 3;
  spec.mode = 2;
  std::vector<float> v;
  for (int z = 0; z < 3; ++z) {
    for (int i = 0; i < 4; ++i) v.push_back(10.f * z + i);
  }
  const std::string path = dir.File("stack.mrcs");
  WriteBytes(path, MakeMrc(spec, BytesOf(v)));
  for (int z = 0; z < 3; ++z) {
    absl::StatusOr<Image> image = ReadImage(path, z);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->original_shape, (std::vector<int>{3, 2, 2}));
    EXPECT_EQ(image->pixels.at<float>(1, 0), 10.f * z + 2);
  }
  EXPECT_TRUE(StatusIs(ReadImage(path, 3).status(), absl::StatusCode::kOutOfRange,
                       {path, "frame 3", "3 sections"}));
}

TEST(MrcTest, ReadsBigEndianFiles) {
  TempDir dir;
  MrcSpec spec;
  spec.nx = 2;
  spec.ny = 1;
  spec.mode = 1;
  spec.big_endian = true;
  spec.cella[0] = 20.f;
  spec.cella[1] = 10.f;
  const std::string path = dir.File("be.mrc");
  WriteBytes(path, MakeMrc(spec, BytesOf<int16_t>({-2, 513}, true)));
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.at<int16_t>(0, 0), -2);
  EXPECT_EQ(image->pixels.at<int16_t>(0, 1), 513);
  EXPECT_NEAR(image->pixel_size_nm.value_or(0), 1.0, 1e-9);
}

TEST(MrcTest, OldFilesWithoutStampAreReadByExtensionOnly) {
  TempDir dir;
  MrcSpec spec;
  spec.nx = 2;
  spec.ny = 2;
  spec.mode = 2;
  spec.stamp = false;  // pre-MRC2014: no "MAP ", no MACHST
  const std::string bytes = MakeMrc(spec, BytesOf<float>({1, 2, 3, 4}));
  WriteBytes(dir.File("old.mrc"), bytes);
  absl::StatusOr<Image> image = ReadImage(dir.File("old.mrc"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.at<float>(1, 1), 4.f);
  WriteBytes(dir.File("old.bin"), bytes);
  EXPECT_TRUE(StatusIs(ReadImage(dir.File("old.bin")).status(), absl::StatusCode::kInvalidArgument,
                       {"old.bin", "unrecognised"}));
}

TEST(MrcTest, CalibrationEdgeCases) {
  TempDir dir;
  const std::string path = dir.File("c.mrc");
  MrcSpec spec;
  spec.nx = 2;
  spec.ny = 2;
  spec.mode = 2;
  const std::string data = BytesOf<float>({1, 2, 3, 4});

  // A negative cell (written by some 4D-STEM software) means "uncalibrated".
  spec.cella[0] = -20.f;
  spec.cella[1] = -20.f;
  WriteBytes(path, MakeMrc(spec, data));
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_FALSE(image->pixel_size_nm.has_value());
  EXPECT_FALSE(image->pixel_size_x_nm.has_value());

  // Non-square pixels: per-axis sizes only. MX differs from NX (sampling of the cell).
  spec.cella[0] = 40.f;
  spec.cella[1] = 10.f;
  spec.mxyz[0] = 4;
  spec.mxyz[1] = 2;
  WriteBytes(path, MakeMrc(spec, data));
  image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_FALSE(image->pixel_size_nm.has_value());
  EXPECT_NEAR(image->pixel_size_x_nm.value_or(0), 1.0, 1e-9);
  EXPECT_NEAR(image->pixel_size_y_nm.value_or(0), 0.5, 1e-9);

  // Columns run along Z (MAPC = 3), rows along X (MAPR = 1).
  spec.cella[2] = 80.f;
  spec.mxyz[2] = 4;
  spec.mapcrs[0] = 3;
  spec.mapcrs[1] = 1;
  spec.mapcrs[2] = 2;
  WriteBytes(path, MakeMrc(spec, data));
  image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_NEAR(image->pixel_size_x_nm.value_or(0), 2.0, 1e-9);
  EXPECT_NEAR(image->pixel_size_y_nm.value_or(0), 1.0, 1e-9);
}

TEST(MrcTest, ImodUnsignedBytes) {
  TempDir dir;
  MrcSpec spec;
  spec.nx = 2;
  spec.ny = 1;
  spec.mode = 0;
  spec.imod_flags = 0;  // IMOD stamp without the "signed bytes" flag
  const std::string path = dir.File("u8.mrc");
  WriteBytes(path, MakeMrc(spec, std::string("\xc8\x01", 2)));
  absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.depth(), CV_8U);
  EXPECT_EQ(image->pixels.at<uint8_t>(0, 0), 200);
}

TEST(MrcTest, RejectsTruncatedComplexAndGarbage) {
  TempDir dir;
  const std::string path = dir.File("bad.mrc");
  MrcSpec spec;
  spec.nx = 64;
  spec.ny = 64;
  spec.mode = 2;
  WriteBytes(path, MakeMrc(spec, std::string(1000, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "truncated", "64x64x1 float32", "17408"}));

  spec.nx = 2;
  spec.ny = 2;
  spec.mode = 4;
  WriteBytes(path, MakeMrc(spec, std::string(32, '\0')));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "unsupported MRC mode 4", "complex"}));

  WriteBytes(path, std::string(2048, '\x7f'));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "not a valid MRC header"}));

  WriteBytes(path, std::string(100, '\0'));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "truncated", "1024-byte MRC header"}));
}

}  // namespace
}  // namespace fringe::data
