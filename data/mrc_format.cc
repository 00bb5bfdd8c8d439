#include "data/mrc_format.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/pixel_calibration.h"
#include "data/raw_pixels.h"

namespace fringe::data {
namespace {

// IMOD writes this stamp at word 39 and a flags word after it; bit 0 set means mode-0 bytes are
// signed. Without IMOD's stamp MRC2014 defines mode 0 as signed.
constexpr int32_t kImodStamp = 1146047817;
constexpr int32_t kMaxDim = 1 << 20;

struct MrcHeader {
  int32_t nx = 0, ny = 0, nz = 0, mode = 0;
  std::array<int32_t, 3> m{};       // MX, MY, MZ: sampling of the unit cell along X, Y, Z
  std::array<float, 3> cella{};     // cell lengths in Angstrom along X, Y, Z
  std::array<int32_t, 3> mapcrs{};  // which axis (1 = X, 2 = Y, 3 = Z) runs along col/row/section
  int32_t nsymbt = 0;
  int32_t imod_stamp = 0, imod_flags = 0;
};

MrcHeader ParseHeader(const char* h, bool big) {
  auto word = [&](int i) { return Load<int32_t>(h + 4 * i, big); };
  auto real = [&](int i) { return Load<float>(h + 4 * i, big); };
  MrcHeader out;
  out.nx = word(0);
  out.ny = word(1);
  out.nz = word(2);
  out.mode = word(3);
  out.m = {word(7), word(8), word(9)};
  out.cella = {real(10), real(11), real(12)};
  out.mapcrs = {word(16), word(17), word(18)};
  out.nsymbt = word(23);
  out.imod_stamp = word(38);
  out.imod_flags = word(39);
  return out;
}

std::optional<ScalarType> ModeType(const MrcHeader& h) {
  switch (h.mode) {
    case 0:
      return (h.imod_stamp == kImodStamp && (h.imod_flags & 1) == 0) ? ScalarType::kUInt8
                                                                     : ScalarType::kInt8;
    case 1:
      return ScalarType::kInt16;
    case 2:
      return ScalarType::kFloat32;
    case 6:
      return ScalarType::kUInt16;
    case 12:
      return ScalarType::kFloat16;
    default:
      return std::nullopt;
  }
}

bool Plausible(const MrcHeader& h) {
  const bool known_mode = h.mode == 0 || h.mode == 1 || h.mode == 2 || h.mode == 3 || h.mode == 4 ||
                          h.mode == 6 || h.mode == 12 || h.mode == 101;
  return known_mode && h.nx > 0 && h.ny > 0 && h.nz > 0 && h.nx <= kMaxDim && h.ny <= kMaxDim &&
         h.nz <= kMaxDim && h.nsymbt >= 0;
}

// Pixel length (nm) along the axis that MAPC/MAPR assigns to columns (which = 0) or rows (1).
std::optional<double> AxisPixelNm(const MrcHeader& h, int which) {
  std::array<int32_t, 3> map = h.mapcrs;
  std::array<int32_t, 3> sorted = map;
  std::sort(sorted.begin(), sorted.end());
  if (sorted != std::array<int32_t, 3>{1, 2, 3}) map = {1, 2, 3};  // unset in some old files
  const int axis = map[which] - 1;
  if (h.m[axis] <= 0 || !(h.cella[axis] > 0)) return std::nullopt;
  return static_cast<double>(h.cella[axis]) / h.m[axis] * 0.1;  // Angstrom -> nm
}

}  // namespace

absl::StatusOr<Image> ReadMrcImage(ByteSource& source, int frame) {
  char raw[kMrcHeaderBytes];
  FRINGE_RETURN_IF_ERROR(source.Read(0, kMrcHeaderBytes, raw, "the 1024-byte MRC header"));
  // MACHST: 0x44 0x44 (or 0x44 0x41, written by many programs) = little-endian, 0x11 0x11 =
  // big-endian. Older writers leave it zero, so fall back to whichever byte order gives a sane
  // header.
  const unsigned char st0 = static_cast<unsigned char>(raw[212]);
  std::optional<bool> big;
  if (st0 == 0x44) big = false;
  if (st0 == 0x11) big = true;
  bool big_endian = false;
  if (big.has_value() && Plausible(ParseHeader(raw, *big))) {
    big_endian = *big;
  } else if (Plausible(ParseHeader(raw, false))) {
    big_endian = false;
  } else if (Plausible(ParseHeader(raw, true))) {
    big_endian = true;
  } else {
    const MrcHeader le = ParseHeader(raw, false);
    return source.Error(absl::StrCat("not a valid MRC header (nx=", le.nx, ", ny=", le.ny,
                                     ", nz=", le.nz, ", mode=", le.mode, ", nsymbt=", le.nsymbt,
                                     " in either byte order)"));
  }
  const MrcHeader h = ParseHeader(raw, big_endian);
  const std::optional<ScalarType> type = ModeType(h);
  if (!type.has_value()) {
    const char* what = (h.mode == 3 || h.mode == 4) ? " (complex data, e.g. an FFT)"
                       : h.mode == 101              ? " (packed 4-bit)"
                                                    : "";
    return source.Error(absl::StrCat("unsupported MRC mode ", h.mode, what,
                                     "; supported: 0 int8, 1 int16, 2 float32, 6 uint16, "
                                     "12 float16"));
  }
  const uint64_t frame_bytes = static_cast<uint64_t>(h.nx) * h.ny * ScalarSize(*type);
  const uint64_t data_offset = kMrcHeaderBytes + static_cast<uint64_t>(h.nsymbt);
  const uint64_t needed = data_offset + frame_bytes * static_cast<uint64_t>(h.nz);
  if (source.size() < needed) {
    return source.Error(absl::StrCat("truncated: header says ", h.nx, "x", h.ny, "x", h.nz, " ",
                                     ScalarName(*type), " after 1024 + ", h.nsymbt,
                                     " header bytes = ", needed, " bytes, but the file has ",
                                     source.size()));
  }
  if (frame < 0 || frame >= h.nz) {
    return absl::OutOfRangeError(absl::StrCat(source.path(), ": frame ", frame,
                                              " out of range: the MRC file has ", h.nz,
                                              h.nz == 1 ? " section" : " sections"));
  }
  if (static_cast<uint64_t>(h.nx) * h.ny > (1ull << 31)) {
    return source.Error(absl::StrCat("MRC section ", h.nx, "x", h.ny, " is too large"));
  }
  std::string buffer(static_cast<size_t>(frame_bytes), '\0');
  FRINGE_RETURN_IF_ERROR(source.Read(data_offset + frame_bytes * frame, buffer.size(),
                                     buffer.data(), "MRC section data"));
  Image image;
  image.format = "mrc";
  image.original_shape =
      h.nz > 1 ? std::vector<int>{h.nz, h.ny, h.nx} : std::vector<int>{h.ny, h.nx};
  image.pixels = ToImageDepth(RawToMat(*type, big_endian, h.ny, h.nx, buffer.data()));
  SetPixelSize(AxisPixelNm(h, 0), AxisPixelNm(h, 1), image);
  return image;
}

}  // namespace fringe::data
