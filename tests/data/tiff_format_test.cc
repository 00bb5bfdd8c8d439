#include "data/tiff_format.h"

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace fringe::data {
namespace {

using testing::AsciiTag;
using testing::BytesOf;
using testing::DoubleTag;
using testing::MakeTiff;
using testing::RationalTag;
using testing::ShortTag;
using testing::StatusIs;
using testing::TempDir;
using testing::TiffSpec;
using testing::WriteBytes;

constexpr int kUInt = 1;
constexpr int kInt = 2;
constexpr int kFloat = 3;

TiffSpec Spec(int bits, int format, bool big_endian = false) {
  TiffSpec s;
  s.width = 3;
  s.height = 2;
  s.bits = bits;
  s.sample_format = format;
  s.big_endian = big_endian;
  return s;
}

std::vector<double> Pixels(const Image& image) {
  cv::Mat d;
  image.pixels.convertTo(d, CV_64F);
  return std::vector<double>(d.begin<double>(), d.end<double>());
}

TEST(TiffTest, SampleTypesIncludingOnesOpenCvRefuses) {
  TempDir dir;
  struct Case {
    const char* name;
    TiffSpec spec;
    std::string data;
    int depth;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {"int32 (DigitalMicrograph)",
       Spec(32, kInt),
       BytesOf<int32_t>({-5, 0, 7, 70000, -70000, 16777216}),
       CV_32F,
       {-5, 0, 7, 70000, -70000, 16777216}},
      {"uint32",
       Spec(32, kUInt),
       BytesOf<uint32_t>({4000000000u, 1, 2, 3, 4, 5}),
       CV_32F,
       {4e9, 1, 2, 3, 4, 5}},
      {"int16",
       Spec(16, kInt),
       BytesOf<int16_t>({-32768, -1, 0, 1, 2, 32767}),
       CV_16S,
       {-32768, -1, 0, 1, 2, 32767}},
      {"int8",
       Spec(8, kInt),
       std::string("\x80\xff\x00\x01\x02\x7f", 6),
       CV_32F,
       {-128, -1, 0, 1, 2, 127}},
      {"float32 big-endian (ImageJ)",
       Spec(32, kFloat, true),
       BytesOf<float>({0.5f, -1.5f, 2866.f, 3774.f, 0.f, 1e-3f}, true),
       CV_32F,
       {0.5, -1.5, 2866, 3774, 0, 1e-3}},
      {"uint16 big-endian",
       Spec(16, kUInt, true),
       BytesOf<uint16_t>({1, 256, 65535, 4, 5, 6}, true),
       CV_16U,
       {1, 256, 65535, 4, 5, 6}},
      {"float64",
       Spec(64, kFloat),
       BytesOf<double>({0.25, -2, 3, 4, 5, 6}),
       CV_32F,
       {0.25, -2, 3, 4, 5, 6}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.File("t.tif");
    WriteBytes(path, MakeTiff(c.spec, c.data));
    absl::StatusOr<Image> image = ReadImage(path);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->format, "tiff");
    EXPECT_EQ(image->pixels.depth(), c.depth);
    ASSERT_EQ(image->pixels.rows, 2);
    ASSERT_EQ(image->pixels.cols, 3);
    const std::vector<double> got = Pixels(*image);
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_NEAR(got[i], c.values[i], std::abs(c.values[i]) * 1e-7) << i;
    }
  }
}

TEST(TiffTest, ImageJCalibration) {
  TempDir dir;
  struct Case {
    std::string description;
    uint32_t num, den;
    std::optional<double> nm;
  };
  const std::vector<Case> cases = {
      {"ImageJ=1.51a\nunit=micron\nmin=86.0\n", 5928571, 1000000, 1000.0 / 5.928571},
      {"ImageJ=1.53t\nunit=nm\n", 50, 1, 0.02},
      {"ImageJ=1.53t\nunit=\\u00B5m\n", 4, 1, 250.0},
      {"ImageJ=1.53t\nunit=A\n", 2, 1, 0.05},
      {"ImageJ=1.53t\nunit=pixel\n", 1, 1, std::nullopt},
      {"ImageJ=1.53t\n", 72, 1, std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    TiffSpec spec = Spec(32, kFloat, true);
    spec.extra = {AsciiTag(270, c.description), RationalTag(282, c.num, c.den, true),
                  RationalTag(283, c.num, c.den, true), ShortTag(296, 1, true)};
    WriteBytes(dir.File("ij.tif"), MakeTiff(spec, std::string(24, '\0')));
    absl::StatusOr<Image> image = ReadImage(dir.File("ij.tif"));
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->pixel_size_nm.has_value(), c.nm.has_value());
    if (c.nm.has_value()) {
      EXPECT_NEAR(*image->pixel_size_nm, *c.nm, *c.nm * 1e-6);
    }
  }
}

TEST(TiffTest, ResolutionInCentimetresButNotPrintPlaceholders) {
  TempDir dir;
  struct Case {
    uint16_t unit;
    uint32_t num, den;
    std::optional<double> nm;
  };
  const std::vector<Case> cases = {
      {3, 7038270, 1, 1e7 / 7038270.0},        // TVIPS: pixels per cm
      {2, 72, 1, std::nullopt},                // 72 dpi: a print setting
      {3, 283464567, 10000000, std::nullopt},  // 72 dpi expressed per cm
      {1, 5, 1, std::nullopt},                 // no unit, no ImageJ description
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.num);
    TiffSpec spec = Spec(8, kUInt);
    spec.extra = {RationalTag(282, c.num, c.den, false), RationalTag(283, c.num, c.den, false),
                  ShortTag(296, c.unit, false)};
    WriteBytes(dir.File("r.tif"), MakeTiff(spec, std::string(6, '\0')));
    absl::StatusOr<Image> image = ReadImage(dir.File("r.tif"));
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->pixel_size_nm.has_value(), c.nm.has_value());
    if (c.nm.has_value()) {
      EXPECT_NEAR(*image->pixel_size_nm, *c.nm, *c.nm * 1e-6);
    }
  }
}

TEST(TiffTest, DigitalMicrographAndFeiTags) {
  TempDir dir;
  TiffSpec dm = Spec(32, kInt);
  // DM writes the unit as Latin-1 ("\xb5m") and the scale as a DOUBLE.
  dm.extra = {AsciiTag(65003, "\xb5m"), AsciiTag(65004, "\xb5m"),
              DoubleTag(65009, 0.16867469251155853, false),
              DoubleTag(65010, 0.16867469251155853, false)};
  WriteBytes(dir.File("dm.tif"), MakeTiff(dm, std::string(24, '\0')));
  absl::StatusOr<Image> image = ReadImage(dir.File("dm.tif"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_NEAR(image->pixel_size_nm.value_or(0), 168.67469251155853, 1e-9);

  TiffSpec fei = Spec(16, kUInt);
  fei.extra = {AsciiTag(34682,
                        "[User]\r\nDate=06/13/2016\r\n\r\n[Beam]\r\nPixelWidth=9e-9\r\n\r\n"
                        "[Scan]\r\nInternalScan=1\r\nPixelWidth=3.3724e-006\r\n"
                        "PixelHeight=3.3724e-006\r\n")};
  WriteBytes(dir.File("fei.tif"), MakeTiff(fei, std::string(12, '\0')));
  image = ReadImage(dir.File("fei.tif"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_NEAR(image->pixel_size_nm.value_or(0), 3372.4, 1e-6);  // [Scan], not [Beam]
}

TEST(TiffTest, TruncatedPixelDataNamesTheStrip) {
  TempDir dir;
  TiffSpec spec = Spec(16, kUInt);
  spec.width = 64;
  spec.height = 64;
  spec.ifd_first = true;
  const std::string full = MakeTiff(spec, std::string(64 * 64 * 2, '\x01'));
  const std::string path = dir.File("cut.tif");
  WriteBytes(path, full.substr(0, full.size() - 1000));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "truncated", "strip 0"}));
  WriteBytes(path, full.substr(0, 6));
  EXPECT_TRUE(
      StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument, {path, "truncated"}));
}

}  // namespace
}  // namespace fringe::data
