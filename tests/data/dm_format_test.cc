#include "data/dm_format.h"

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace fringe::data {
namespace {

using testing::BytesOf;
using testing::DmBuilder;
using testing::StatusIs;
using testing::TempDir;
using testing::WriteBytes;

// DM encoded element types of Data arrays.
constexpr uint64_t kElemInt16 = 2;
constexpr uint64_t kElemInt32 = 3;
constexpr uint64_t kElemUInt16 = 4;
constexpr uint64_t kElemUInt32 = 5;
constexpr uint64_t kElemFloat = 6;
constexpr uint64_t kElemDouble = 7;
constexpr uint64_t kElemInt8 = 9;
constexpr uint64_t kElemOctet = 10;

// Values of a 3-wide, 2-high test image: row-major r * 10 + c.
const std::vector<double> kValues = {0, 1, 2, 10, 11, 12};

template <typename T>
std::string Encode(bool big) {
  std::vector<T> v;
  for (const double x : kValues) v.push_back(static_cast<T>(x));
  return BytesOf(v, big);
}

// A file with a 4x4 RGBA thumbnail first (as DigitalMicrograph writes it) and then the image.
std::string MakeDm(const DmBuilder& b, const std::string& entry) {
  const std::string thumbnail =
      b.ImageEntry(23, kElemInt32, {4, 4}, std::string(64, '\x7f'), 1, u"", 1, u"");
  return b.File({b.Group("ImageList", {thumbnail, entry}), b.UInt32("Version", 1)});
}

struct TypeCase {
  int data_type;
  uint64_t elem;
  std::string (*encode)(bool);
  int depth;
};

TEST(DmTest, ReadsEveryDataTypeInBothVersionsAndByteOrders) {
  TempDir dir;
  const std::vector<TypeCase> cases = {
      {1, kElemInt16, &Encode<int16_t>, CV_16S},    {2, kElemFloat, &Encode<float>, CV_32F},
      {6, kElemOctet, &Encode<uint8_t>, CV_8U},     {7, kElemInt32, &Encode<int32_t>, CV_32F},
      {9, kElemInt8, &Encode<int8_t>, CV_32F},      {10, kElemUInt16, &Encode<uint16_t>, CV_16U},
      {11, kElemUInt32, &Encode<uint32_t>, CV_32F}, {12, kElemDouble, &Encode<double>, CV_32F},
  };
  for (const int version : {3, 4}) {
    for (const bool little : {true, false}) {
      for (const TypeCase& c : cases) {
        SCOPED_TRACE("version=" + std::to_string(version) + " little=" + std::to_string(little) +
                     " type=" + std::to_string(c.data_type));
        const DmBuilder b(version, little);
        const std::string path = dir.File(version == 3 ? "x.dm3" : "x.dm4");
        WriteBytes(path, MakeDm(b, b.ImageEntry(c.data_type, c.elem, {3, 2}, c.encode(!little),
                                                0.5f, u"nm", 0.5f, u"nm")));
        absl::StatusOr<Image> image = ReadImage(path);
        ASSERT_TRUE(image.ok()) << image.status();
        EXPECT_EQ(image->format, version == 3 ? "dm3" : "dm4");
        EXPECT_EQ(image->pixels.depth(), c.depth);
        ASSERT_EQ(image->pixels.rows, 2);  // Dimensions list x (width) first
        ASSERT_EQ(image->pixels.cols, 3);
        EXPECT_EQ(image->original_shape, (std::vector<int>{2, 3}));
        cv::Mat d;
        image->pixels.convertTo(d, CV_64F);
        for (int i = 0; i < 6; ++i) EXPECT_EQ(d.at<double>(i / 3, i % 3), kValues[i]) << i;
        EXPECT_NEAR(image->pixel_size_nm.value_or(0), 0.5, 1e-7);
      }
    }
  }
}

TEST(DmTest, RgbaBecomesLuminance) {
  TempDir dir;
  const DmBuilder b(3, true);
  // Memory order R, G, B, A: a grey pixel (9,9,9) and a pure red one (200,0,0).
  const std::string data = std::string("\x09\x09\x09\x00", 4) + std::string("\xc8\x00\x00\xff", 4);
  // (2 x 1 would be a 1-D signal for DM, so the image is 2 x 2.)
  WriteBytes(dir.File("c.dm3"),
             MakeDm(b, b.ImageEntry(23, kElemInt32, {2, 2}, data + data, 1, u"", 1, u"")));
  absl::StatusOr<Image> image = ReadImage(dir.File("c.dm3"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.depth(), CV_8U);
  EXPECT_EQ(image->pixels.at<uint8_t>(0, 0), 9);
  EXPECT_NEAR(image->pixels.at<uint8_t>(0, 1), 0.299 * 200, 1.0);  // red weight, not blue
}

TEST(DmTest, PixelSizeUnits) {
  TempDir dir;
  struct Case {
    std::u16string unit_x, unit_y;
    float sx, sy;
    std::optional<double> square, x, y;
  };
  const std::vector<Case> cases = {
      {u"\u00b5m", u"\u00b5m", 0.25f, 0.25f, 250.0, 250.0, 250.0},  // micro sign
      {u"um", u"um", 2.f, 2.f, 2000.0, 2000.0, 2000.0},
      {u"\u00c5", u"\u00c5", 3.f, 3.f, 0.3, 0.3, 0.3},  // Angstrom
      {u"nm", u"A", 1.f, 2.f, std::nullopt, 1.0, 0.2},  // non-square, mixed units
      {u"1/nm", u"1/nm", 0.17f, 0.17f, std::nullopt, std::nullopt, std::nullopt},
      {u"", u"", 1.f, 1.f, std::nullopt, std::nullopt, std::nullopt},
  };
  for (const Case& c : cases) {
    const DmBuilder b(4, true);
    WriteBytes(dir.File("p.dm4"),
               MakeDm(b, b.ImageEntry(10, kElemUInt16, {3, 2}, Encode<uint16_t>(false), c.sx,
                                      c.unit_x, c.sy, c.unit_y)));
    absl::StatusOr<Image> image = ReadImage(dir.File("p.dm4"));
    ASSERT_TRUE(image.ok()) << image.status();
    auto near = [](std::optional<double> got, std::optional<double> want) {
      if (got.has_value() != want.has_value()) return false;
      return !want.has_value() || std::abs(*got - *want) < 1e-6 * *want;
    };
    EXPECT_TRUE(near(image->pixel_size_nm, c.square)) << c.sx;
    EXPECT_TRUE(near(image->pixel_size_x_nm, c.x)) << c.sx;
    EXPECT_TRUE(near(image->pixel_size_y_nm, c.y)) << c.sx;
  }
}

TEST(DmTest, PicksTheLargestDataImageAndSkipsTheThumbnail) {
  TempDir dir;
  const DmBuilder b(3, true);
  const std::string small =
      b.ImageEntry(6, kElemOctet, {2, 2}, std::string("\x01\x02\x03\x04"), 1, u"", 1, u"");
  const std::string big =
      b.ImageEntry(10, kElemUInt16, {3, 2}, Encode<uint16_t>(false), 1, u"nm", 1, u"nm");
  // The thumbnail (entry 0, 64 bytes) is larger than both data images but must be skipped.
  const std::string thumbnail =
      b.ImageEntry(23, kElemInt32, {4, 4}, std::string(64, '\x7f'), 1, u"", 1, u"");
  WriteBytes(dir.File("m.dm3"), b.File({b.Group("ImageList", {thumbnail, small, big})}));
  absl::StatusOr<Image> image = ReadImage(dir.File("m.dm3"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.depth(), CV_16U);
  EXPECT_EQ(image->pixels.at<uint16_t>(1, 2), 12);

  // A file with only one image (no thumbnail) reads that image.
  WriteBytes(dir.File("one.dm3"), b.File({b.Group("ImageList", {small})}));
  image = ReadImage(dir.File("one.dm3"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->pixels.at<uint8_t>(1, 1), 4);
}

TEST(DmTest, ReadsFramesOfAStack) {
  TempDir dir;
  const DmBuilder b(4, true);
  std::vector<int16_t> v;
  for (int z = 0; z < 4; ++z) {
    for (int i = 0; i < 6; ++i) v.push_back(static_cast<int16_t>(100 * z + i));
  }
  const std::string path = dir.File("s.dm4");
  WriteBytes(path,
             MakeDm(b, b.ImageEntry(1, kElemInt16, {3, 2, 4}, BytesOf(v), 1, u"nm", 1, u"nm")));
  for (int z = 0; z < 4; ++z) {
    absl::StatusOr<Image> image = ReadImage(path, z);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->original_shape, (std::vector<int>{4, 2, 3}));
    EXPECT_EQ(image->pixels.at<int16_t>(1, 2), 100 * z + 5);
  }
  EXPECT_TRUE(StatusIs(ReadImage(path, 4).status(), absl::StatusCode::kOutOfRange,
                       {path, "frame 4", "4 frames"}));
}

TEST(DmTest, RejectsSignalsThatAreNotImages) {
  TempDir dir;
  const DmBuilder b(3, true);
  const std::string path = dir.File("r.dm3");
  WriteBytes(path, MakeDm(b, b.ImageEntry(2, kElemFloat, {4, 1}, BytesOf<float>({1, 2, 3, 4}), 1,
                                          u"eV", 1, u"")));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "1-D signal", "4 x 1"}));
  WriteBytes(path,
             MakeDm(b, b.ImageEntry(3, kElemFloat, {2, 2}, std::string(32, '\0'), 1, u"", 1, u"")));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "DataType 3", "complex"}));
  // Data that does not fill the Dimensions.
  WriteBytes(path, MakeDm(b, b.ImageEntry(2, kElemFloat, {3, 3}, BytesOf<float>({1, 2, 3, 4}), 1,
                                          u"", 1, u"")));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "16 bytes", "3 x 3", "need 36"}));
  // No ImageList at all.
  WriteBytes(path, b.File({b.UInt32("Version", 1)}));
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                       {path, "no ImageList"}));
}

TEST(DmTest, RejectsTruncatedAndCorruptFiles) {
  TempDir dir;
  for (const int version : {3, 4}) {
    const DmBuilder b(version, true);
    const std::string full = MakeDm(
        b, b.ImageEntry(10, kElemUInt16, {3, 2}, Encode<uint16_t>(false), 1, u"nm", 1, u"nm"));
    const std::string path = dir.File(version == 3 ? "t.dm3" : "t.dm4");
    for (const size_t keep : {size_t{10}, size_t{20}, full.size() / 2, full.size() - 12}) {
      SCOPED_TRACE(keep);
      WriteBytes(path, full.substr(0, keep));
      EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                           {path, "truncated"}));
    }
    // Break the first data tag's %%%% marker.
    std::string corrupt = full;
    corrupt.replace(corrupt.find("%%%%"), 4, "%%x%");
    WriteBytes(path, corrupt);
    EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                         {path, "corrupt DM tag tree"}));
  }
}

}  // namespace
}  // namespace fringe::data
