#include "data/image_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/byte_source.h"
#include "data/dm_format.h"
#include "data/mrc_format.h"
#include "data/npy_format.h"
#include "data/raw_pixels.h"
#include "data/tiff_format.h"

namespace fringe::data {
namespace {

enum class Format { kUnknown, kTiff, kPng, kJpeg, kNpy, kMrc, kDm3, kDm4 };

constexpr unsigned char kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

Format SniffMagic(const unsigned char* b, size_t n) {
  if (n >= 6 && std::memcmp(b, kNpyMagic, 6) == 0) return Format::kNpy;
  if (n >= 8 && std::memcmp(b, kPngMagic, 8) == 0) return Format::kPng;
  if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                 (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)))) {
    return Format::kTiff;
  }
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return Format::kJpeg;
  // MRC2014 and CCP4 maps carry "MAP " at byte 208. Checked before DM: a big-endian MRC whose nx
  // is 3 or 4 would otherwise look like a DM version word.
  if (n >= kMrcHeaderBytes && std::memcmp(b + kMrcMapStampOffset, "MAP ", 4) == 0) {
    return Format::kMrc;
  }
  // DM3/DM4 start with a big-endian version word 3 or 4; the byte-order flag after the tag-tree
  // length must be 0 or 1. Together that is specific enough.
  if (n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 && (b[3] == 3 || b[3] == 4)) {
    const Format dm = b[3] == 3 ? Format::kDm3 : Format::kDm4;
    const size_t flag_at = b[3] == 3 ? 8 : 12;
    if (n < flag_at + 4) return dm;  // cut inside the header: let the reader say "truncated"
    const unsigned char* flag = b + flag_at;
    if (flag[0] == 0 && flag[1] == 0 && flag[2] == 0 && flag[3] <= 1) return dm;
  }
  return Format::kUnknown;
}

std::string Extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return absl::AsciiStrToLower(path.substr(dot + 1));
}

std::string HexPrefix(const unsigned char* b, size_t n) {
  std::string out;
  constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n && i < 8; ++i) {
    if (i > 0) out.push_back(' ');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

// PNG is a chain of chunks ending in IEND; walking the lengths finds truncation, which libpng
// would only report on stderr.
absl::Status CheckPngComplete(ByteSource& source) {
  uint64_t pos = 8;
  while (true) {
    unsigned char head[8];
    if (!source.Read(pos, 8, head, "a PNG chunk header").ok()) {
      return source.Error(absl::StrCat("truncated: PNG ends at byte ", source.size(),
                                       " inside the chunk starting at ", pos, " (no IEND)"));
    }
    const uint64_t len = LoadBig<uint32_t>(head);
    if (std::memcmp(head + 4, "IEND", 4) == 0) return absl::OkStatus();
    pos += 12 + len;
    if (pos > source.size()) {
      return source.Error(
          absl::StrCat("truncated: PNG chunk '", std::string(reinterpret_cast<char*>(head + 4), 4),
                       "' runs to byte ", pos, " but the file has ", source.size(), " bytes"));
    }
  }
}

// A JPEG ends with the EOI marker FF D9; libjpeg fills a truncated image with grey and only
// warns, so look for the marker near the end (some writers append a few padding bytes).
absl::Status CheckJpegComplete(ByteSource& source) {
  const uint64_t tail_len = std::min<uint64_t>(source.size(), 64);
  FRINGE_ASSIGN_OR_RETURN(const std::string tail,
                          source.ReadString(source.size() - tail_len, tail_len, "JPEG tail"));
  if (tail.find("\xff\xd9") == std::string::npos) {
    return source.Error("truncated: JPEG has no end-of-image marker (FF D9)");
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> ReadWithOpenCv(ByteSource& source, int frame, const std::string& format) {
  if (frame != 0) {
    return absl::OutOfRangeError(absl::StrCat(source.path(), ": frame ", frame, " out of range: a ",
                                              format, " file holds one image"));
  }
  cv::Mat decoded;
  try {
    decoded = cv::imread(source.path(), cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return source.Error(absl::StrCat("OpenCV could not decode the ", format, ": ", e.what()));
  }
  if (decoded.empty()) return source.Error(absl::StrCat("corrupt ", format, ": decoding failed"));
  absl::StatusOr<cv::Mat> grey = ToLuminance(decoded);
  if (!grey.ok()) return source.Error(grey.status().message());
  Image image;
  image.format = format;
  image.pixels = ToImageDepth(*grey);
  image.original_shape = {image.pixels.rows, image.pixels.cols};
  return image;
}

}  // namespace

absl::StatusOr<Image> ReadImage(const std::string& path, int frame) {
  FRINGE_ASSIGN_OR_RETURN(ByteSource source, ByteSource::Open(path));
  if (frame < 0) {
    return absl::OutOfRangeError(absl::StrCat(path, ": frame ", frame, " out of range"));
  }
  unsigned char head[kMrcHeaderBytes];
  const size_t n = static_cast<size_t>(std::min<uint64_t>(source.size(), sizeof(head)));
  FRINGE_RETURN_IF_ERROR(source.Read(0, n, head, "the file signature"));
  Format format = SniffMagic(head, n);
  const std::string ext = Extension(path);
  if (format == Format::kUnknown) {
    if (ext == "mrc" || ext == "mrcs" || ext == "map" || ext == "ccp4" || ext == "st" ||
        ext == "ali" || ext == "rec") {
      format = Format::kMrc;  // MRC files written before MRC2014 have no "MAP " stamp
    } else {
      const char* expected = nullptr;
      if (ext == "tif" || ext == "tiff") expected = "TIFF (II*\\0 or MM\\0*)";
      if (ext == "png") expected = "PNG (\\x89PNG)";
      if (ext == "jpg" || ext == "jpeg") expected = "JPEG (FF D8 FF)";
      if (ext == "npy") expected = "NPY (\\x93NUMPY)";
      if (ext == "dm3") expected = "DM3 (00 00 00 03)";
      if (ext == "dm4") expected = "DM4 (00 00 00 04)";
      if (expected != nullptr) {
        return source.Error(absl::StrCat(
            "wrong magic: the extension says .", ext, " but the file does not start with the ",
            expected, " signature (it starts with ", HexPrefix(head, n), "); corrupt or misnamed"));
      }
      return source.Error(absl::StrCat("unrecognised image format (starts with ",
                                       HexPrefix(head, n),
                                       "); supported: TIFF, PNG, JPEG, NPY, MRC, DM3, DM4"));
    }
  }
  absl::StatusOr<Image> image;
  switch (format) {
    case Format::kTiff:
      image = ReadTiffImage(source, frame);
      break;
    case Format::kPng:
      FRINGE_RETURN_IF_ERROR(CheckPngComplete(source));
      image = ReadWithOpenCv(source, frame, "png");
      break;
    case Format::kJpeg:
      FRINGE_RETURN_IF_ERROR(CheckJpegComplete(source));
      image = ReadWithOpenCv(source, frame, "jpeg");
      break;
    case Format::kNpy:
      image = ReadNpyImage(source, frame);
      break;
    case Format::kMrc:
      image = ReadMrcImage(source, frame);
      break;
    case Format::kDm3:
    case Format::kDm4:
      image = ReadDmImage(source, frame);
      break;
    case Format::kUnknown:
      break;
  }
  if (image.ok() &&
      (image->pixels.empty() || image->pixels.dims != 2 || image->pixels.channels() != 1)) {
    return absl::InternalError(absl::StrCat(path, ": reader produced an invalid image"));
  }
  return image;
}

}  // namespace fringe::data
