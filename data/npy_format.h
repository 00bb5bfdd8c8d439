// The NumPy .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// "\x93NUMPY", major, minor, a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), then
// a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (h, w), } padded with
// spaces and a newline, then the raw array.
#ifndef FRINGE_DATA_NPY_FORMAT_H_
#define FRINGE_DATA_NPY_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/byte_source.h"
#include "data/image.h"
#include "data/raw_pixels.h"

namespace fringe::data {

inline constexpr char kNpyMagic[] = "\x93NUMPY";  // 6 bytes, without the terminating NUL

struct NpyHeader {
  std::string descr;  // as written, e.g. "<f4"
  ScalarType type = ScalarType::kUInt8;
  bool big_endian = false;  // data needs byte swapping on this (little-endian) host
  bool fortran_order = false;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;  // first byte of the array
  uint64_t data_bytes = 0;   // product(shape) * element size
};

// Parses and validates the header: magic, version, dict syntax, a supported dtype, C order,
// and that the file holds all data_bytes. Errors name the file and the problem.
absl::StatusOr<NpyHeader> ReadNpyHeader(ByteSource& source);

// Reads frame `frame` of a 2-D (frame must be 0) or 3-D (frames, h, w) array as an Image
// (depth policy of Image::pixels; no pixel size).
absl::StatusOr<Image> ReadNpyImage(ByteSource& source, int frame);

// The complete header (magic through the newline) numpy would write for a little-endian
// C-order array of `descr` (e.g. "<f4") and `shape`, padded to a multiple of 64 bytes.
std::string FormatNpyHeader(const std::string& descr, const std::vector<int64_t>& shape);

}  // namespace fringe::data

#endif  // FRINGE_DATA_NPY_FORMAT_H_
