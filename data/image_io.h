// Readers for the image formats microscopists use (TIFF, PNG, JPEG, NPY, MRC, Gatan DM3/DM4)
// and the NPY writer (files are replaced atomically: base/file_util.h).
//
// Every reader returns one 2-D, single-channel frame plus what the file says about its physical
// pixel size. Errors are absl::Status values whose message starts with the file's path and says
// what is wrong; no exception escapes this module (OpenCV's are caught here).
//
// Status codes: NotFound (the file does not exist), PermissionDenied (it cannot be read),
// OutOfRange (frame index outside the stack), InvalidArgument (everything about the content:
// unknown or wrong magic, truncated, unsupported dtype or layout, not an image).
#ifndef FRINGE_DATA_IMAGE_IO_H_
#define FRINGE_DATA_IMAGE_IO_H_

#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/image.h"

namespace fringe::data {

// Reads frame `frame` (0 for single images) of the image file at `path`.
//
// The format is chosen by the file's magic bytes first (TIFF "II*\0"/"MM\0*", PNG, JPEG, NPY
// "\x93NUMPY", DM3/DM4 version word, MRC "MAP " stamp at byte 208) and by the extension only
// when no magic matches (pre-2000 MRC files have no stamp: .mrc .mrcs .map .ccp4 .st .ali .rec).
// A known extension on a file without that format's magic is an error ("wrong magic").
//
// Pixel size sources: MRC cell/sampling in Angstrom; DM ImageData.Calibrations.Dimension scale
// and units; TIFF DigitalMicrograph tags, FEI/Thermo "[Scan] PixelWidth", ImageJ "unit=" +
// X/YResolution, or X/YResolution in pixels per centimetre (TVIPS); none for PNG, JPEG, NPY.
//
// DM files: the image with the largest data among ImageList entries 1..n-1 is read (entry 0 is
// DigitalMicrograph's RGBA thumbnail); 1-D signals (spectra, line profiles, also when stored as
// N x 1 images) and complex data (FFTs) are rejected.
absl::StatusOr<Image> ReadImage(const std::string& path, int frame = 0);

// Reads a 2-D or 3-D C-order .npy array (format versions 1.0, 2.0 and 3.0; little- or
// big-endian) into a cv::Mat of the exact depth: bool/u1 -> CV_8U, i1 -> CV_8S, u2 -> CV_16U,
// i2 -> CV_16S, i4 -> CV_32S, f2 -> CV_16F, f4 -> CV_32F, f8 -> CV_64F; u4, i8 and u8 have no
// cv::Mat depth and are read as CV_64F. 3-D arrays give a cv::Mat with dims == 3
// {frames, rows, cols}. Fortran-order arrays, other ranks and other dtypes are rejected with an
// InvalidArgument naming the file and the problem.
absl::StatusOr<cv::Mat> ReadNpy(const std::string& path);

// Writes a 2-D single-channel matrix as a version 1.0 .npy file (little-endian, C order, header
// padded to 64 bytes like numpy does). Supported depths: CV_8U, CV_8S, CV_16U, CV_16S, CV_32S,
// CV_16F, CV_32F, CV_64F. The file is replaced atomically (WriteFileAtomically), so readers never
// see a half-written array. Non-continuous matrices (ROIs) are fine.
absl::Status WriteNpy(const std::string& path, const cv::Mat& m);

}  // namespace fringe::data

#endif  // FRINGE_DATA_IMAGE_IO_H_
