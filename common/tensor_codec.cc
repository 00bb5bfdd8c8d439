#include "common/tensor_codec.h"

#include <cmath>
#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire format is little-endian and fringe copies it as-is");

struct DTypeInfo {
  int cv_depth;
  int bytes;
};

absl::StatusOr<DTypeInfo> InfoFor(v1::DType dtype, const std::string& field) {
  switch (dtype) {
    case v1::DTYPE_UINT8:
      return DTypeInfo{CV_8U, 1};
    case v1::DTYPE_UINT16:
      return DTypeInfo{CV_16U, 2};
    case v1::DTYPE_INT16:
      return DTypeInfo{CV_16S, 2};
    case v1::DTYPE_FLOAT32:
      return DTypeInfo{CV_32F, 4};
    case v1::DTYPE_FLOAT16:
      return DTypeInfo{CV_16F, 2};
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".dtype is ", v1::DType_Name(dtype),
                       "; expected one of uint8, uint16, int16, float32, float16"));
  }
}

std::string ShapeString(const v1::Tensor& t) {
  return absl::StrCat("(", absl::StrJoin(t.shape(), ", "), ")");
}

}  // namespace

std::string DTypeName(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_UINT8:
      return "uint8";
    case v1::DTYPE_UINT16:
      return "uint16";
    case v1::DTYPE_INT16:
      return "int16";
    case v1::DTYPE_FLOAT32:
      return "float32";
    case v1::DTYPE_FLOAT16:
      return "float16";
    default:
      return "unspecified";
  }
}

absl::StatusOr<cv::Mat> TensorToMat(const v1::Tensor& tensor, const std::string& field,
                                    const DecodeLimits& limits) {
  auto info = InfoFor(tensor.dtype(), field);
  if (!info.ok()) return info.status();
  if (tensor.shape_size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".shape is ", ShapeString(tensor), "; expected (height, width)"));
  }
  const int64_t h = tensor.shape(0), w = tensor.shape(1);
  if (h <= 0 || w <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".shape is ", ShapeString(tensor), "; both sizes must be > 0"));
  }
  // Compare before multiplying further so absurd shapes cannot overflow.
  if (h > limits.max_pixels || w > limits.max_pixels || h * w > limits.max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".shape ", ShapeString(tensor),
                                                   " has more than the limit of ",
                                                   limits.max_pixels, " pixels"));
  }
  const int64_t expected = h * w * info->bytes;
  if (static_cast<int64_t>(tensor.data().size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".data has ", tensor.data().size(), " bytes; shape ", ShapeString(tensor),
        " with dtype ", DTypeName(tensor.dtype()), " needs ", expected));
  }
  cv::Mat mat(static_cast<int>(h), static_cast<int>(w), CV_MAKETYPE(info->cv_depth, 1));
  std::memcpy(mat.data, tensor.data().data(), expected);
  if (info->cv_depth == CV_32F || info->cv_depth == CV_16F) {
    cv::Mat as_float;
    mat.convertTo(as_float, CV_32F);
    if (!cv::checkRange(as_float, /*quiet=*/true)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".data contains NaN or Inf values"));
    }
  }
  return mat;
}

absl::StatusOr<cv::Mat> DecodeImageToFloat(const v1::Image& image, const DecodeLimits& limits) {
  cv::Mat raw;
  switch (image.payload_case()) {
    case v1::Image::kTensor: {
      auto mat = TensorToMat(image.tensor(), "image.tensor", limits);
      if (!mat.ok()) return mat.status();
      raw = *std::move(mat);
      break;
    }
    case v1::Image::kEncoded: {
      const std::string& bytes = image.encoded().data();
      if (bytes.empty()) return absl::InvalidArgumentError("image.encoded.data is empty");
      try {
        const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U,
                             const_cast<char*>(bytes.data()));
        raw = cv::imdecode(buffer, cv::IMREAD_UNCHANGED | cv::IMREAD_ANYDEPTH);
      } catch (const cv::Exception& e) {
        raw.release();
      }
      if (raw.empty()) {
        return absl::InvalidArgumentError("image.encoded.data could not be decoded as PNG or TIFF");
      }
      if (static_cast<int64_t>(raw.rows) * raw.cols > limits.max_pixels) {
        return absl::InvalidArgumentError(absl::StrCat("image.encoded is ", raw.rows, "x", raw.cols,
                                                       "; the limit is ", limits.max_pixels,
                                                       " pixels"));
      }
      if (raw.channels() == 3 || raw.channels() == 4) {
        cv::Mat grey;
        cv::cvtColor(raw, grey, raw.channels() == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
        raw = grey;
      } else if (raw.channels() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("image.encoded has ", raw.channels(), " channels; expected 1, 3 or 4"));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError("image is empty: set image.tensor or image.encoded");
  }
  cv::Mat frame;
  raw.convertTo(frame, CV_32F);
  if (!cv::checkRange(frame, /*quiet=*/true)) {
    return absl::InvalidArgumentError("image contains NaN or Inf values");
  }
  return frame;
}

absl::StatusOr<std::optional<FrameStats>> ReadFrameStatistics(const v1::Image& image) {
  if (!image.has_statistics()) return std::optional<FrameStats>();
  const v1::FrameStatistics& s = image.statistics();
  if (!std::isfinite(s.mean()) || !std::isfinite(s.stddev()) || s.stddev() <= 0) {
    return absl::InvalidArgumentError(
        "image.statistics must have a finite mean and a finite stddev > 0");
  }
  return std::optional<FrameStats>(FrameStats{s.mean(), s.stddev()});
}

absl::StatusOr<v1::Tensor> MatToTensor(const cv::Mat& mat) {
  if (mat.dims != 2 || mat.channels() != 1) {
    return absl::InvalidArgumentError("only 2-D single-channel matrices can be encoded");
  }
  v1::Tensor tensor;
  switch (mat.depth()) {
    case CV_8U:
      tensor.set_dtype(v1::DTYPE_UINT8);
      break;
    case CV_16U:
      tensor.set_dtype(v1::DTYPE_UINT16);
      break;
    case CV_16S:
      tensor.set_dtype(v1::DTYPE_INT16);
      break;
    case CV_32F:
      tensor.set_dtype(v1::DTYPE_FLOAT32);
      break;
    case CV_16F:
      tensor.set_dtype(v1::DTYPE_FLOAT16);
      break;
    default:
      return absl::InvalidArgumentError("unsupported matrix depth for a tensor");
  }
  tensor.add_shape(mat.rows);
  tensor.add_shape(mat.cols);
  const cv::Mat contiguous = mat.isContinuous() ? mat : mat.clone();
  tensor.set_data(reinterpret_cast<const char*>(contiguous.data),
                  contiguous.total() * contiguous.elemSize());
  return tensor;
}

}  // namespace fringe
