// One frame as every reader returns it (data/image_io.h reads any format; the per-format readers
// in data/*_format.h fill the same struct), in its own header so that those readers need not
// include image_io.h - which includes them.
#ifndef FRINGE_DATA_IMAGE_H_
#define FRINGE_DATA_IMAGE_H_

#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fringe::data {

// One frame read from an image file.
struct Image {
  // 2-D, one channel. Kept in the file's depth when that is CV_8U, CV_16U, CV_16S or CV_32F;
  // int8, int32, uint32, int64, float16 and float64 data are converted to CV_32F (values kept,
  // 32-bit integers above 2^24 rounded). RGB/RGBA data become luminance (see ToLuminance in
  // raw_pixels.h: an RGB image whose channels are equal keeps its grey values exactly).
  cv::Mat pixels;

  // Physical size of one pixel in nanometres, set only when the file states a real-space length
  // calibration for both axes and the pixels are square (x and y within 0.01%). Reciprocal
  // (1/nm), energy (eV), missing, negative or placeholder (72 dpi) calibrations give nullopt.
  std::optional<double> pixel_size_nm;
  // Per-axis sizes in nanometres (x = along a row, y = down a column), set whenever the file
  // calibrates that axis in a length unit; they differ for non-square pixels, where
  // pixel_size_nm stays empty.
  std::optional<double> pixel_size_x_nm;
  std::optional<double> pixel_size_y_nm;

  // Detected format: "tiff", "png", "jpeg", "npy", "mrc", "dm3" or "dm4".
  std::string format;

  // Shape of the data in the file, numpy order: {height, width} for one image,
  // {frames, height, width} for stacks and volumes (the frame index selects the first axis).
  std::vector<int> original_shape;
};

}  // namespace fringe::data

#endif  // FRINGE_DATA_IMAGE_H_
