// Conversions between wire tensors/images (fringe.v1.Tensor, fringe.v1.Image) and cv::Mat,
// with the validation the API promises (DESIGN §4: INVALID_ARGUMENT naming field and limit).
#ifndef FRINGE_COMMON_TENSOR_CODEC_H_
#define FRINGE_COMMON_TENSOR_CODEC_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/frame_stats.h"
#include "fringe/v1/tensor.pb.h"

namespace fringe {

struct DecodeLimits {
  int64_t max_pixels = int64_t{8192} * 8192;
};

// Decodes a 2-D single-channel tensor (uint8/uint16/int16/float32/float16) into a cv::Mat of
// the matching depth (a view is never returned: the Mat owns its data). `field` names the
// tensor in error messages, e.g. "image.tensor". Rejects unspecified dtype, rank != 2,
// non-positive or oversized shapes, byte counts that do not match, and NaN/Inf.
absl::StatusOr<cv::Mat> TensorToMat(const v1::Tensor& tensor, const std::string& field,
                                    const DecodeLimits& limits = {});

// Decodes an Image (tensor or encoded PNG/TIFF) into a CV_32F single-channel frame.
// Colour images are converted to luminance. Errors are INVALID_ARGUMENT naming the field.
absl::StatusOr<cv::Mat> DecodeImageToFloat(const v1::Image& image, const DecodeLimits& limits = {});

// The whole-frame statistics a client sent with `image` (nullopt when it sent none);
// INVALID_ARGUMENT unless the mean is finite and the stddev finite and > 0.
absl::StatusOr<std::optional<FrameStats>> ReadFrameStatistics(const v1::Image& image);

// Encodes a 2-D single-channel Mat (CV_8U, CV_16U, CV_16S, CV_32F, CV_16F) as a Tensor.
// Returns INVALID_ARGUMENT for other depths or channel counts.
absl::StatusOr<v1::Tensor> MatToTensor(const cv::Mat& mat);

// Human-readable dtype name ("uint8", ...).
std::string DTypeName(v1::DType dtype);

}  // namespace fringe

#endif  // FRINGE_COMMON_TENSOR_CODEC_H_
