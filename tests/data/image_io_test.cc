#include "data/image_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "test_files.h"

namespace fringe::data {
namespace {

using testing::ReadBytes;
using testing::StatusIs;
using testing::TempDir;
using testing::WriteBytes;

cv::Mat Pattern(int depth, int rows = 17, int cols = 23) {
  cv::Mat m(rows, cols, CV_64F);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) m.at<double>(r, c) = (r * 31 + c * 7) % 251;
  }
  if (depth == CV_16U) m *= 250.0;  // use the high byte too
  if (depth == CV_32F) m = m * 0.37 - 20.0;
  cv::Mat out;
  m.convertTo(out, depth);
  return out;
}

bool Same(const cv::Mat& a, const cv::Mat& b) {
  return a.type() == b.type() && a.size() == b.size() && cv::norm(a, b, cv::NORM_INF) == 0;
}

TEST(ImageIoTest, TiffRoundTripsKeepDepthAndValues) {
  TempDir dir;
  for (const int depth : {CV_8U, CV_16U, CV_32F}) {
    SCOPED_TRACE(depth);
    const cv::Mat m = Pattern(depth);
    const std::string path = dir.File("a.tif");
    ASSERT_TRUE(cv::imwrite(path, m));
    absl::StatusOr<Image> image = ReadImage(path);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->format, "tiff");
    EXPECT_TRUE(Same(image->pixels, m));
    EXPECT_EQ(image->original_shape, (std::vector<int>{17, 23}));
    EXPECT_FALSE(image->pixel_size_nm.has_value());  // OpenCV writes no calibration
  }
}

TEST(ImageIoTest, PngRoundTrips8And16Bit) {
  TempDir dir;
  for (const int depth : {CV_8U, CV_16U}) {
    const cv::Mat m = Pattern(depth);
    ASSERT_TRUE(cv::imwrite(dir.File("a.png"), m));
    absl::StatusOr<Image> image = ReadImage(dir.File("a.png"));
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->format, "png");
    EXPECT_TRUE(Same(image->pixels, m));
  }
}

TEST(ImageIoTest, GreyStoredAsRgbStaysExact) {
  TempDir dir;
  for (const int depth : {CV_8U, CV_16U}) {
    const cv::Mat grey = Pattern(depth);
    cv::Mat rgb, rgba;
    cv::cvtColor(grey, rgb, cv::COLOR_GRAY2BGR);
    cv::cvtColor(grey, rgba, cv::COLOR_GRAY2BGRA);
    for (const cv::Mat& colour : {rgb, rgba}) {
      ASSERT_TRUE(cv::imwrite(dir.File("g.png"), colour));
      absl::StatusOr<Image> image = ReadImage(dir.File("g.png"));
      ASSERT_TRUE(image.ok()) << image.status();
      EXPECT_TRUE(Same(image->pixels, grey));
      ASSERT_TRUE(cv::imwrite(dir.File("g.tif"), colour));
      image = ReadImage(dir.File("g.tif"));
      ASSERT_TRUE(image.ok()) << image.status();
      EXPECT_TRUE(Same(image->pixels, grey));
    }
  }
}

TEST(ImageIoTest, ColourBecomesLuminance) {
  TempDir dir;
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(0, 0, 0));
  bgr.at<cv::Vec3b>(0, 0) = {0, 0, 200};  // red
  bgr.at<cv::Vec3b>(0, 1) = {0, 200, 0};  // green
  bgr.at<cv::Vec3b>(1, 0) = {200, 0, 0};  // blue
  bgr.at<cv::Vec3b>(1, 1) = {10, 20, 30};
  ASSERT_TRUE(cv::imwrite(dir.File("c.png"), bgr));
  absl::StatusOr<Image> image = ReadImage(dir.File("c.png"));
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->pixels.type(), CV_8UC1);
  EXPECT_NEAR(image->pixels.at<uint8_t>(0, 0), 0.299 * 200, 1);
  EXPECT_NEAR(image->pixels.at<uint8_t>(0, 1), 0.587 * 200, 1);
  EXPECT_NEAR(image->pixels.at<uint8_t>(1, 0), 0.114 * 200, 1);
  EXPECT_NEAR(image->pixels.at<uint8_t>(1, 1), 0.299 * 30 + 0.587 * 20 + 0.114 * 10, 1);
}

TEST(ImageIoTest, JpegReadsApproximately) {
  TempDir dir;
  const cv::Mat m(32, 32, CV_8U, cv::Scalar(120));
  ASSERT_TRUE(cv::imwrite(dir.File("a.jpg"), m));
  absl::StatusOr<Image> image = ReadImage(dir.File("a.jpg"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->format, "jpeg");
  EXPECT_NEAR(cv::mean(image->pixels)[0], 120, 2);
}

TEST(ImageIoTest, MultiPageTiffFrames) {
  TempDir dir;
  std::vector<cv::Mat> pages;
  for (int i = 0; i < 3; ++i) pages.push_back(cv::Mat(4, 6, CV_16U, cv::Scalar(1000 * (i + 1))));
  const std::string path = dir.File("stack.tif");
  ASSERT_TRUE(cv::imwrite(path, pages));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Image> image = ReadImage(path, i);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->original_shape, (std::vector<int>{3, 4, 6}));
    EXPECT_EQ(image->pixels.at<uint16_t>(2, 3), 1000 * (i + 1));
  }
  EXPECT_TRUE(StatusIs(ReadImage(path, 3).status(), absl::StatusCode::kOutOfRange,
                       {path, "frame 3", "3 pages"}));
  EXPECT_TRUE(
      StatusIs(ReadImage(path, -1).status(), absl::StatusCode::kOutOfRange, {path, "frame -1"}));
}

TEST(ImageIoTest, MagicWinsOverExtension) {
  TempDir dir;
  const cv::Mat m = Pattern(CV_8U);
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", m, png));
  WriteBytes(dir.File("really_png.tif"), std::string(png.begin(), png.end()));
  absl::StatusOr<Image> image = ReadImage(dir.File("really_png.tif"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->format, "png");
  EXPECT_TRUE(Same(image->pixels, m));

  ASSERT_TRUE(WriteNpy(dir.File("really_npy.png"), m).ok());
  image = ReadImage(dir.File("really_npy.png"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->format, "npy");
}

TEST(ImageIoTest, ErrorsNameTheFileAndTheProblem) {
  TempDir dir;
  const std::string missing = dir.File("missing.tif");
  EXPECT_TRUE(StatusIs(ReadImage(missing).status(), absl::StatusCode::kNotFound,
                       {missing, "no such file"}));
  EXPECT_TRUE(StatusIs(ReadImage(dir.path()).status(), absl::StatusCode::kInvalidArgument,
                       {dir.path(), "is a directory"}));
  WriteBytes(dir.File("empty.png"), "");
  EXPECT_TRUE(StatusIs(ReadImage(dir.File("empty.png")).status(),
                       absl::StatusCode::kInvalidArgument, {"empty.png", "empty file"}));
  WriteBytes(dir.File("text.png"), "<html>not an image</html>");
  EXPECT_TRUE(StatusIs(ReadImage(dir.File("text.png")).status(), absl::StatusCode::kInvalidArgument,
                       {"text.png", "wrong magic", ".png", "3c 68 74 6d"}));
  WriteBytes(dir.File("text.dm3"), "<html>not an image</html>");
  EXPECT_TRUE(StatusIs(ReadImage(dir.File("text.dm3")).status(), absl::StatusCode::kInvalidArgument,
                       {"text.dm3", "wrong magic", "DM3"}));
  WriteBytes(dir.File("notes.txt"), "hello");
  EXPECT_TRUE(StatusIs(ReadImage(dir.File("notes.txt")).status(),
                       absl::StatusCode::kInvalidArgument, {"notes.txt", "unrecognised"}));
}

TEST(ImageIoTest, UnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read files without read permission";
  TempDir dir;
  const std::string path = dir.File("secret.png");
  ASSERT_TRUE(cv::imwrite(path, Pattern(CV_8U)));
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kPermissionDenied,
                       {path, "unreadable"}));
}

TEST(ImageIoTest, TruncatedFilesAreReportedAsTruncated) {
  TempDir dir;
  const cv::Mat m = Pattern(CV_16U, 64, 64);
  for (const std::string ext : {".png", ".tif", ".jpg"}) {
    SCOPED_TRACE(ext);
    std::vector<uchar> encoded;
    const cv::Mat src = ext == ".jpg" ? Pattern(CV_8U, 64, 64) : m;
    ASSERT_TRUE(cv::imencode(ext, src, encoded));
    const std::string path = dir.File("cut" + ext);
    // TIFF from OpenCV puts the directory at the end: cut inside the pixel data but keep the
    // directory reachable by copying the header's IFD offset situation as is (drop the middle).
    std::string bytes(encoded.begin(), encoded.end());
    if (ext == ".tif") {
      // Shorten the file and move nothing: the IFD offset now points past the end.
      bytes = bytes.substr(0, bytes.size() / 2);
    } else {
      bytes = bytes.substr(0, bytes.size() * 2 / 3);
    }
    WriteBytes(path, bytes);
    EXPECT_TRUE(StatusIs(ReadImage(path).status(), absl::StatusCode::kInvalidArgument,
                         {path, "truncated"}));
  }
}

}  // namespace
}  // namespace fringe::data
