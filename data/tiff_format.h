// TIFF files from microscopes and image software. Pixels are decoded by OpenCV (libtiff: every
// compression, byte order, strips and tiles); this file adds what OpenCV lacks: a bounds check
// of the strip table (clear "truncated" errors), a reader for uncompressed sample types OpenCV
// refuses (uint32, 64-bit integers, float16), and the pixel size from the tags microscope
// software writes.
#ifndef FRINGE_DATA_TIFF_FORMAT_H_
#define FRINGE_DATA_TIFF_FORMAT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/byte_source.h"
#include "data/image.h"

namespace fringe::data {

// One image file directory (the tags of one page) of a classic or BigTIFF file.
class TiffIfd {
 public:
  // Parses page `index` (0-based) by walking the IFD chain. Also reports how many pages the
  // file has in `page_count` when non-null (the whole chain is walked then).
  static absl::StatusOr<TiffIfd> Read(ByteSource& source, int index, int* page_count);

  bool big_endian() const { return big_endian_; }
  bool Has(uint16_t tag) const { return entries_.count(tag) > 0; }
  // Integer values of a BYTE/SHORT/LONG/LONG8 (or signed) tag; nullopt when absent or another
  // type.
  std::optional<std::vector<uint64_t>> Uints(ByteSource& source, uint16_t tag) const;
  // First value of a numeric tag as a double (RATIONAL, FLOAT, DOUBLE and integers).
  std::optional<double> Real(ByteSource& source, uint16_t tag) const;
  // Bytes of an ASCII/BYTE/UNDEFINED tag, without trailing NULs (capped at 1 MiB).
  std::optional<std::string> Text(ByteSource& source, uint16_t tag) const;
  uint64_t Uint(ByteSource& source, uint16_t tag, uint64_t fallback) const;

 private:
  struct Entry {
    uint16_t type = 0;
    uint64_t count = 0;
    uint64_t offset = 0;       // where the values are when they do not fit in the entry
    std::string inline_bytes;  // the values when they fit (up to 4 or 8 bytes)
  };
  absl::StatusOr<std::string> Values(ByteSource& source, const Entry& e, uint64_t max_bytes) const;

  bool big_endian_ = false;
  std::map<uint16_t, Entry> entries_;
};

// Pixel size stated by TIFF tags of page 0 (see ReadImage), per axis, in nanometres.
struct TiffCalibration {
  std::optional<double> x_nm, y_nm;
  std::string source;  // "dm", "fei", "imagej", "resolution-cm" or ""
};
TiffCalibration ReadTiffCalibration(ByteSource& source, const TiffIfd& ifd);

// Reads page `frame` of the TIFF file behind `source` (see ReadImage for the contract).
absl::StatusOr<Image> ReadTiffImage(ByteSource& source, int frame);

}  // namespace fringe::data

#endif  // FRINGE_DATA_TIFF_FORMAT_H_
