#include "data/raw_pixels.h"

#include <cstdint>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/byte_source.h"

namespace fringe::data {
namespace {

template <typename T>
cv::Mat WidenToDouble(bool swap_bytes, int rows, int cols, const void* data) {
  cv::Mat out(rows, cols, CV_64F);
  const auto* src = static_cast<const unsigned char*>(data);
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  auto* dst = out.ptr<double>();
  for (size_t i = 0; i < n; ++i) {
    dst[i] = static_cast<double>(swap_bytes ? LoadBig<T>(src + i * sizeof(T))
                                            : LoadLittle<T>(src + i * sizeof(T)));
  }
  return out;
}

int CvDepth(ScalarType type) {
  switch (type) {
    case ScalarType::kBool:
    case ScalarType::kUInt8:
      return CV_8U;
    case ScalarType::kInt8:
      return CV_8S;
    case ScalarType::kUInt16:
      return CV_16U;
    case ScalarType::kInt16:
      return CV_16S;
    case ScalarType::kInt32:
      return CV_32S;
    case ScalarType::kFloat16:
      return CV_16F;
    case ScalarType::kFloat32:
      return CV_32F;
    case ScalarType::kFloat64:
      return CV_64F;
    case ScalarType::kUInt32:
    case ScalarType::kInt64:
    case ScalarType::kUInt64:
      return -1;
  }
  return -1;
}

}  // namespace

size_t ScalarSize(ScalarType type) {
  switch (type) {
    case ScalarType::kBool:
    case ScalarType::kUInt8:
    case ScalarType::kInt8:
      return 1;
    case ScalarType::kUInt16:
    case ScalarType::kInt16:
    case ScalarType::kFloat16:
      return 2;
    case ScalarType::kUInt32:
    case ScalarType::kInt32:
    case ScalarType::kFloat32:
      return 4;
    case ScalarType::kUInt64:
    case ScalarType::kInt64:
    case ScalarType::kFloat64:
      return 8;
  }
  return 1;
}

absl::string_view ScalarName(ScalarType type) {
  switch (type) {
    case ScalarType::kBool:
      return "bool";
    case ScalarType::kUInt8:
      return "uint8";
    case ScalarType::kInt8:
      return "int8";
    case ScalarType::kUInt16:
      return "uint16";
    case ScalarType::kInt16:
      return "int16";
    case ScalarType::kUInt32:
      return "uint32";
    case ScalarType::kInt32:
      return "int32";
    case ScalarType::kUInt64:
      return "uint64";
    case ScalarType::kInt64:
      return "int64";
    case ScalarType::kFloat16:
      return "float16";
    case ScalarType::kFloat32:
      return "float32";
    case ScalarType::kFloat64:
      return "float64";
  }
  return "?";
}

cv::Mat RawToMat(ScalarType type, bool swap_bytes, int rows, int cols, const void* data) {
  switch (type) {
    case ScalarType::kUInt32:
      return WidenToDouble<uint32_t>(swap_bytes, rows, cols, data);
    case ScalarType::kInt64:
      return WidenToDouble<int64_t>(swap_bytes, rows, cols, data);
    case ScalarType::kUInt64:
      return WidenToDouble<uint64_t>(swap_bytes, rows, cols, data);
    default:
      break;
  }
  cv::Mat out(rows, cols, CV_MAKETYPE(CvDepth(type), 1));
  const size_t elem = ScalarSize(type);
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  std::memcpy(out.data, data, n * elem);
  if (swap_bytes && elem > 1) SwapBytesInPlace(out.data, elem, n);
  if (type == ScalarType::kBool) {
    // numpy bools are 0/1 bytes, but be strict about "any non-zero is true".
    cv::Mat t = out != 0;
    t.convertTo(out, CV_8U, 1.0 / 255.0);
  }
  return out;
}

cv::Mat ToImageDepth(const cv::Mat& m) {
  const int depth = m.depth();
  if (depth == CV_8U || depth == CV_16U || depth == CV_16S || depth == CV_32F) return m;
  cv::Mat out;
  m.convertTo(out, CV_32F);
  return out;
}

absl::StatusOr<cv::Mat> ToLuminance(const cv::Mat& m) {
  const int channels = m.channels();
  if (channels == 1) return m;
  std::vector<cv::Mat> planes;
  cv::split(m, planes);
  if (channels == 2) return planes[0];
  if (channels != 3 && channels != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported number of colour channels: ", channels));
  }
  // Exported "grey" images are very often RGB with R = G = B; taking one channel keeps every value
  // exact (a weighted sum in floating point or fixed point could round).
  if (cv::norm(planes[0], planes[1], cv::NORM_INF) == 0 &&
      cv::norm(planes[0], planes[2], cv::NORM_INF) == 0) {
    return planes[0];
  }
  cv::Mat src = m;
  const int depth = m.depth();
  if (depth != CV_8U && depth != CV_16U && depth != CV_32F) {
    m.convertTo(src, CV_MAKETYPE(CV_32F, channels));
  }
  cv::Mat grey;
  try {
    cv::cvtColor(src, grey, channels == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("colour to luminance conversion failed: ", e.what()));
  }
  return grey;
}

}  // namespace fringe::data
