#include "data/pixel_calibration.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace fringe::data {
namespace {

TEST(PixelCalibrationTest, LengthUnitsAsMicroscopeSoftwareWritesThem) {
  EXPECT_EQ(NanometresPerUnit("nm"), 1.0);
  EXPECT_EQ(NanometresPerUnit(" NM "), 1.0);
  EXPECT_EQ(NanometresPerUnit("\xc2\xb5m"), 1e3);  // UTF-8 micro sign (DM tags)
  EXPECT_EQ(NanometresPerUnit("\xb5m"), 1e3);      // Latin-1 micro sign (DM TIFF tags)
  EXPECT_EQ(NanometresPerUnit("\xce\xbcm"), 1e3);  // Greek mu
  EXPECT_EQ(NanometresPerUnit("um"), 1e3);
  EXPECT_EQ(NanometresPerUnit("micron"), 1e3);    // ImageJ
  EXPECT_EQ(NanometresPerUnit("\\u00B5m"), 1e3);  // ImageJ's escaped description
  EXPECT_EQ(NanometresPerUnit("micrometer"), 1e3);
  EXPECT_EQ(NanometresPerUnit("A"), 0.1);
  EXPECT_EQ(NanometresPerUnit("\xc3\x85"), 0.1);      // Å U+00C5
  EXPECT_EQ(NanometresPerUnit("\xe2\x84\xab"), 0.1);  // Å U+212B
  EXPECT_EQ(NanometresPerUnit("Angstrom"), 0.1);
  EXPECT_EQ(NanometresPerUnit("pm"), 1e-3);
  EXPECT_EQ(NanometresPerUnit("mm"), 1e6);
  EXPECT_EQ(NanometresPerUnit("m"), 1e9);
  EXPECT_FALSE(NanometresPerUnit("1/nm").has_value());  // reciprocal space
  EXPECT_FALSE(NanometresPerUnit("eV").has_value());    // spectrum axis
  EXPECT_FALSE(NanometresPerUnit("").has_value());
  EXPECT_FALSE(NanometresPerUnit("pixel").has_value());
}

TEST(PixelCalibrationTest, SquarePixelsOnly) {
  Image image;
  SetPixelSize(0.02, 0.02, image);
  EXPECT_EQ(image.pixel_size_nm, 0.02);
  SetPixelSize(0.02, 0.020000001, image);  // float32 round-off between axes
  EXPECT_TRUE(image.pixel_size_nm.has_value());
  SetPixelSize(1.0, 0.2, image);
  EXPECT_FALSE(image.pixel_size_nm.has_value());
  EXPECT_EQ(image.pixel_size_x_nm, 1.0);
  EXPECT_EQ(image.pixel_size_y_nm, 0.2);
  SetPixelSize(-10.0, -10.0, image);
  EXPECT_FALSE(image.pixel_size_nm.has_value());
  EXPECT_FALSE(image.pixel_size_x_nm.has_value());
  SetPixelSize(std::numeric_limits<double>::quiet_NaN(), 1.0, image);
  EXPECT_FALSE(image.pixel_size_nm.has_value());
  EXPECT_EQ(image.pixel_size_y_nm, 1.0);
  SetPixelSize(0.5, std::nullopt, image);
  EXPECT_FALSE(image.pixel_size_nm.has_value());
}

}  // namespace
}  // namespace fringe::data
