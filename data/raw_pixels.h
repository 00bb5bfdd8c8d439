// Element types of raw pixel buffers and their conversion to cv::Mat, shared by the NPY, MRC,
// DM and TIFF readers so that every format maps dtypes and colour the same way.
#ifndef FRINGE_DATA_RAW_PIXELS_H_
#define FRINGE_DATA_RAW_PIXELS_H_

#include <cstddef>
#include <opencv2/core.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fringe::data {

enum class ScalarType {
  kBool,  // one byte, 0 or 1
  kUInt8,
  kInt8,
  kUInt16,
  kInt16,
  kUInt32,
  kInt32,
  kUInt64,
  kInt64,
  kFloat16,
  kFloat32,
  kFloat64,
};

// Bytes per element.
size_t ScalarSize(ScalarType type);
// numpy-style name ("uint16", "float32", ...), used in error messages.
absl::string_view ScalarName(ScalarType type);

// Copies `rows` x `cols` elements from `data` (host order after swapping when `swap_bytes`) into
// a new single-channel cv::Mat whose depth holds every value exactly where OpenCV has one:
// bool/uint8 -> CV_8U, int8 -> CV_8S, uint16 -> CV_16U, int16 -> CV_16S, int32 -> CV_32S,
// float16 -> CV_16F, float32 -> CV_32F, float64 -> CV_64F. uint32, int64 and uint64 have no
// cv::Mat depth and become CV_64F (exact for uint32, nearest double for 64-bit values).
cv::Mat RawToMat(ScalarType type, bool swap_bytes, int rows, int cols, const void* data);

// Applies the Image depth policy: CV_8U, CV_16U, CV_16S and CV_32F are kept as they are, every
// other depth is converted to CV_32F. Single-channel input only.
cv::Mat ToImageDepth(const cv::Mat& m);

// Reduces an OpenCV-ordered (B, G, R[, A]) image to one channel: when all colour channels are
// identical (grey stored as RGB, common in exported PNG/TIFF) the first channel is returned
// unchanged, so grey values stay exact; otherwise the ITU-R BT.601 luminance
// (0.299 R + 0.587 G + 0.114 B) in the same depth (CV_32F for depths cvtColor lacks). Alpha is
// ignored. A single-channel input is returned as is; two channels (grey + alpha) give the grey.
absl::StatusOr<cv::Mat> ToLuminance(const cv::Mat& m);

}  // namespace fringe::data

#endif  // FRINGE_DATA_RAW_PIXELS_H_
