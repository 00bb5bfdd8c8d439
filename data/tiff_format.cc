#include "data/tiff_format.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "data/pixel_calibration.h"
#include "data/raw_pixels.h"

namespace fringe::data {
namespace {

// Baseline and extension tags used here.
constexpr uint16_t kTagImageWidth = 256;
constexpr uint16_t kTagImageLength = 257;
constexpr uint16_t kTagBitsPerSample = 258;
constexpr uint16_t kTagCompression = 259;
constexpr uint16_t kTagImageDescription = 270;
constexpr uint16_t kTagStripOffsets = 273;
constexpr uint16_t kTagSamplesPerPixel = 277;
constexpr uint16_t kTagStripByteCounts = 279;
constexpr uint16_t kTagXResolution = 282;
constexpr uint16_t kTagYResolution = 283;
constexpr uint16_t kTagResolutionUnit = 296;
constexpr uint16_t kTagTileOffsets = 324;
constexpr uint16_t kTagTileByteCounts = 325;
constexpr uint16_t kTagSampleFormat = 339;
// FEI/Thermo Fisher SEM/FIB/TEM: an INI-style text block with "[Scan] PixelWidth=<metres>".
constexpr uint16_t kTagFeiSfeg = 34680;
constexpr uint16_t kTagFeiHelios = 34682;
// DigitalMicrograph's private tags when it saves a TIFF: units (ASCII) and scales (DOUBLE).
constexpr uint16_t kTagDmUnitX = 65003;
constexpr uint16_t kTagDmUnitY = 65004;
constexpr uint16_t kTagDmScaleX = 65009;
constexpr uint16_t kTagDmScaleY = 65010;

constexpr uint16_t kResolutionUnitCentimetre = 3;
constexpr uint64_t kSampleFormatInt = 2;
constexpr uint64_t kSampleFormatFloat = 3;
constexpr int kMaxPages = 1 << 16;

size_t TypeSize(uint16_t type) {
  switch (type) {
    case 1:  // BYTE
    case 2:  // ASCII
    case 6:  // SBYTE
    case 7:  // UNDEFINED
      return 1;
    case 3:  // SHORT
    case 8:  // SSHORT
      return 2;
    case 4:   // LONG
    case 9:   // SLONG
    case 11:  // FLOAT
    case 13:  // IFD
      return 4;
    case 5:   // RATIONAL
    case 10:  // SRATIONAL
    case 12:  // DOUBLE
    case 16:  // LONG8
    case 17:  // SLONG8
    case 18:  // IFD8
      return 8;
    default:
      return 0;
  }
}

// FEI writes "[Scan]\r\nPixelWidth=3.3724e-006\r\n..." in metres.
std::optional<double> FeiValue(absl::string_view text, absl::string_view key) {
  absl::string_view section = text;
  if (const size_t at = text.find("[Scan]"); at != absl::string_view::npos) {
    section = text.substr(at);
  }
  const std::string needle = absl::StrCat("\n", key, "=");
  const size_t at = section.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view value = section.substr(at + needle.size());
  value = value.substr(0, value.find_first_of("\r\n"));
  double v = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(value), &v)) return std::nullopt;
  return v;
}

// A resolution that is a whole number of dots per inch (72, 96, 300...) is a print setting that
// image software writes by default, not a measured pixel size.
bool LooksLikeDpiPlaceholder(double pixels_per_cm) {
  const double dpi = pixels_per_cm * 2.54;
  return dpi <= 10000 && std::abs(dpi - std::round(dpi)) < 1e-3 * std::max(1.0, dpi);
}

}  // namespace

absl::StatusOr<TiffIfd> TiffIfd::Read(ByteSource& source, int index, int* page_count) {
  unsigned char head[16];
  FRINGE_RETURN_IF_ERROR(source.Read(0, 8, head, "the TIFF header"));
  TiffIfd ifd;
  if (head[0] == 'I' && head[1] == 'I') {
    ifd.big_endian_ = false;
  } else if (head[0] == 'M' && head[1] == 'M') {
    ifd.big_endian_ = true;
  } else {
    return source.Error("not a TIFF file: wrong magic (expected II or MM)");
  }
  const bool big = ifd.big_endian_;
  const uint16_t magic = Load<uint16_t>(head + 2, big);
  const bool bigtiff = magic == 43;
  if (magic != 42 && !bigtiff) {
    return source.Error(absl::StrCat("not a TIFF file: version ", magic, " (expected 42 or 43)"));
  }
  uint64_t offset = 0;
  if (bigtiff) {
    FRINGE_RETURN_IF_ERROR(source.Read(0, 16, head, "the BigTIFF header"));
    offset = Load<uint64_t>(head + 8, big);
  } else {
    offset = Load<uint32_t>(head + 4, big);
  }
  const size_t entry_bytes = bigtiff ? 20 : 12;
  const size_t inline_bytes = bigtiff ? 8 : 4;
  std::set<uint64_t> seen;
  int page = 0;
  bool found = false;
  while (offset != 0 && page < kMaxPages) {
    if (!seen.insert(offset).second) {
      return source.Error(absl::StrCat("corrupt TIFF: the IFD chain loops at offset ", offset));
    }
    unsigned char count_bytes[8];
    FRINGE_RETURN_IF_ERROR(source.Read(offset, bigtiff ? 8 : 2, count_bytes, "a TIFF directory"));
    const uint64_t count =
        bigtiff ? Load<uint64_t>(count_bytes, big) : uint64_t{Load<uint16_t>(count_bytes, big)};
    const uint64_t first_entry = offset + (bigtiff ? 8 : 2);
    if (count > (source.size() - std::min(first_entry, source.size())) / entry_bytes) {
      return source.Error(absl::StrCat("truncated: TIFF directory at offset ", offset, " lists ",
                                       count, " tags but the file has ", source.size(), " bytes"));
    }
    const uint64_t next_at = first_entry + count * entry_bytes;
    if (page == index) {
      std::string raw;
      FRINGE_ASSIGN_OR_RETURN(
          raw, source.ReadString(first_entry, count * entry_bytes, "a TIFF directory"));
      for (uint64_t i = 0; i < count; ++i) {
        const char* p = raw.data() + i * entry_bytes;
        Entry e;
        const uint16_t tag = Load<uint16_t>(p, big);
        e.type = Load<uint16_t>(p + 2, big);
        e.count = bigtiff ? Load<uint64_t>(p + 4, big) : Load<uint32_t>(p + 4, big);
        const char* value = p + (bigtiff ? 12 : 8);
        const size_t size = TypeSize(e.type);
        if (size != 0 && e.count <= inline_bytes / size) {
          e.inline_bytes.assign(value, inline_bytes);
        } else {
          e.offset = bigtiff ? Load<uint64_t>(value, big) : Load<uint32_t>(value, big);
        }
        ifd.entries_[tag] = std::move(e);
      }
      found = true;
      if (page_count == nullptr) return ifd;
    }
    unsigned char next[8];
    FRINGE_RETURN_IF_ERROR(
        source.Read(next_at, bigtiff ? 8 : 4, next, "the next-directory offset"));
    offset = bigtiff ? Load<uint64_t>(next, big) : uint64_t{Load<uint32_t>(next, big)};
    ++page;
  }
  if (page_count != nullptr) *page_count = page;
  if (!found) {
    return absl::OutOfRangeError(absl::StrCat(source.path(), ": frame ", index,
                                              " out of range: the TIFF file has ", page,
                                              page == 1 ? " page" : " pages"));
  }
  return ifd;
}

absl::StatusOr<std::string> TiffIfd::Values(ByteSource& source, const Entry& e,
                                            uint64_t max_bytes) const {
  const uint64_t bytes = std::min<uint64_t>(TypeSize(e.type) * e.count, max_bytes);
  if (!e.inline_bytes.empty()) return e.inline_bytes.substr(0, static_cast<size_t>(bytes));
  return source.ReadString(e.offset, static_cast<size_t>(bytes), "TIFF tag values");
}

std::optional<std::vector<uint64_t>> TiffIfd::Uints(ByteSource& source, uint16_t tag) const {
  const auto it = entries_.find(tag);
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  const size_t size = TypeSize(e.type);
  const bool integer = e.type == 1 || e.type == 3 || e.type == 4 || e.type == 6 || e.type == 8 ||
                       e.type == 9 || e.type == 16 || e.type == 17;
  if (!integer || e.count > (1u << 24)) return std::nullopt;
  absl::StatusOr<std::string> raw = Values(source, e, size * e.count);
  if (!raw.ok() || raw->size() != size * e.count) return std::nullopt;
  std::vector<uint64_t> out(static_cast<size_t>(e.count));
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = raw->data() + i * size;
    switch (size) {
      case 1:
        out[i] = static_cast<unsigned char>(*p);
        break;
      case 2:
        out[i] = Load<uint16_t>(p, big_endian_);
        break;
      case 4:
        out[i] = Load<uint32_t>(p, big_endian_);
        break;
      default:
        out[i] = Load<uint64_t>(p, big_endian_);
        break;
    }
  }
  return out;
}

uint64_t TiffIfd::Uint(ByteSource& source, uint16_t tag, uint64_t fallback) const {
  const auto v = Uints(source, tag);
  return (v.has_value() && !v->empty()) ? v->front() : fallback;
}

std::optional<double> TiffIfd::Real(ByteSource& source, uint16_t tag) const {
  const auto it = entries_.find(tag);
  if (it == entries_.end() || it->second.count == 0) return std::nullopt;
  const Entry& e = it->second;
  absl::StatusOr<std::string> raw = Values(source, e, TypeSize(e.type));
  if (!raw.ok() || raw->size() != TypeSize(e.type)) return std::nullopt;
  const char* p = raw->data();
  switch (e.type) {
    case 5: {
      const uint32_t den = Load<uint32_t>(p + 4, big_endian_);
      if (den == 0) return std::nullopt;
      return static_cast<double>(Load<uint32_t>(p, big_endian_)) / den;
    }
    case 10: {
      const int32_t den = Load<int32_t>(p + 4, big_endian_);
      if (den == 0) return std::nullopt;
      return static_cast<double>(Load<int32_t>(p, big_endian_)) / den;
    }
    case 11:
      return Load<float>(p, big_endian_);
    case 12:
      return Load<double>(p, big_endian_);
    default: {
      const auto v = Uints(source, tag);
      if (v.has_value() && !v->empty()) return static_cast<double>(v->front());
      return std::nullopt;
    }
  }
}

std::optional<std::string> TiffIfd::Text(ByteSource& source, uint16_t tag) const {
  const auto it = entries_.find(tag);
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  if (e.type != 1 && e.type != 2 && e.type != 7) return std::nullopt;
  absl::StatusOr<std::string> raw = Values(source, e, 1 << 20);
  if (!raw.ok()) return std::nullopt;
  std::string s = std::move(raw).value();
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

TiffCalibration ReadTiffCalibration(ByteSource& source, const TiffIfd& ifd) {
  TiffCalibration cal;
  // 1. DigitalMicrograph's own tags: scale per pixel and a unit string (Latin-1 "µm").
  if (const auto sx = ifd.Real(source, kTagDmScaleX); sx.has_value()) {
    const auto ux = NanometresPerUnit(ifd.Text(source, kTagDmUnitX).value_or(""));
    const auto sy = ifd.Real(source, kTagDmScaleY);
    const auto uy = NanometresPerUnit(ifd.Text(source, kTagDmUnitY).value_or(""));
    if (ux.has_value()) {
      cal.x_nm = *sx * *ux;
      if (sy.has_value() && uy.has_value()) cal.y_nm = *sy * *uy;
      cal.source = "dm";
      return cal;
    }
  }
  // 2. FEI / Thermo Fisher INI block.
  for (const uint16_t tag : {kTagFeiHelios, kTagFeiSfeg}) {
    const auto text = ifd.Text(source, tag);
    if (!text.has_value()) continue;
    const auto w = FeiValue(*text, "PixelWidth");
    if (w.has_value() && *w > 0) {
      cal.x_nm = *w * 1e9;
      cal.y_nm = FeiValue(*text, "PixelHeight").value_or(*w) * 1e9;
      cal.source = "fei";
      return cal;
    }
  }
  const auto xres = ifd.Real(source, kTagXResolution);
  const auto yres = ifd.Real(source, kTagYResolution);
  // 3. ImageJ: "unit=micron" in the description, X/YResolution in pixels per that unit.
  if (const auto desc = ifd.Text(source, kTagImageDescription);
      desc.has_value() && desc->rfind("ImageJ=", 0) == 0) {
    std::optional<double> unit_nm;
    for (const absl::string_view line : absl::StrSplit(*desc, '\n')) {
      if (line.rfind("unit=", 0) == 0) unit_nm = NanometresPerUnit(line.substr(5));
    }
    if (unit_nm.has_value() && xres.has_value() && *xres > 0) {
      cal.x_nm = *unit_nm / *xres;
      cal.y_nm = (yres.has_value() && *yres > 0) ? *unit_nm / *yres : *cal.x_nm;
      cal.source = "imagej";
      return cal;
    }
    return cal;  // ImageJ without a unit: its resolution is not a length calibration
  }
  // 4. Plain resolution in pixels per centimetre (TVIPS cameras write the real pixel size this
  // way). Inches are only ever print settings (72 dpi), so they are ignored.
  if (ifd.Uint(source, kTagResolutionUnit, 2) == kResolutionUnitCentimetre && xres.has_value() &&
      *xres > 0 && !LooksLikeDpiPlaceholder(*xres)) {
    cal.x_nm = 1e7 / *xres;
    cal.y_nm = (yres.has_value() && *yres > 0) ? 1e7 / *yres : *cal.x_nm;
    cal.source = "resolution-cm";
  }
  return cal;
}

namespace {

// Reads an uncompressed, single-sample, stripped page without OpenCV: libtiff-based OpenCV
// rejects some sample types (uint32, 64-bit integers) that cameras and analysis programs do
// write.
absl::StatusOr<cv::Mat> ReadUncompressedStrips(ByteSource& source, const TiffIfd& ifd, int width,
                                               int height, int bits, uint64_t sample_format,
                                               bool big_endian) {
  std::optional<ScalarType> type;
  if (sample_format == kSampleFormatFloat) {
    if (bits == 16) type = ScalarType::kFloat16;
    if (bits == 32) type = ScalarType::kFloat32;
    if (bits == 64) type = ScalarType::kFloat64;
  } else if (sample_format == kSampleFormatInt) {
    if (bits == 8) type = ScalarType::kInt8;
    if (bits == 16) type = ScalarType::kInt16;
    if (bits == 32) type = ScalarType::kInt32;
    if (bits == 64) type = ScalarType::kInt64;
  } else {
    if (bits == 8) type = ScalarType::kUInt8;
    if (bits == 16) type = ScalarType::kUInt16;
    if (bits == 32) type = ScalarType::kUInt32;
    if (bits == 64) type = ScalarType::kUInt64;
  }
  const auto offsets = ifd.Uints(source, kTagStripOffsets);
  const auto counts = ifd.Uints(source, kTagStripByteCounts);
  if (!type.has_value() || !offsets.has_value() || !counts.has_value() ||
      offsets->size() != counts->size()) {
    return source.Error("unsupported TIFF layout");
  }
  const size_t total = static_cast<size_t>(width) * height * ScalarSize(*type);
  std::string buffer;
  buffer.reserve(total);
  for (size_t i = 0; i < offsets->size() && buffer.size() < total; ++i) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>((*counts)[i], total - buffer.size()));
    FRINGE_ASSIGN_OR_RETURN(const std::string strip,
                            source.ReadString((*offsets)[i], n, "TIFF strip data"));
    buffer += strip;
  }
  if (buffer.size() < total) {
    return source.Error(absl::StrCat("truncated: TIFF strips hold ", buffer.size(),
                                     " bytes, the image needs ", total));
  }
  return RawToMat(*type, big_endian, height, width, buffer.data());
}

}  // namespace

absl::StatusOr<Image> ReadTiffImage(ByteSource& source, int frame) {
  if (frame < 0) {
    return absl::OutOfRangeError(absl::StrCat(source.path(), ": frame ", frame, " out of range"));
  }
  int pages = 0;
  FRINGE_ASSIGN_OR_RETURN(const TiffIfd ifd, TiffIfd::Read(source, frame, &pages));
  const uint64_t width = ifd.Uint(source, kTagImageWidth, 0);
  const uint64_t height = ifd.Uint(source, kTagImageLength, 0);
  if (width == 0 || height == 0 || width > (1u << 20) || height > (1u << 20)) {
    return source.Error(
        absl::StrCat("TIFF page ", frame, " has unusable size ", width, "x", height));
  }
  // libtiff reports a strip past the end of the file only as a warning on stderr and OpenCV
  // then returns an empty image; check the strip/tile table here to say what is wrong.
  for (const auto& [off_tag, count_tag] : {std::pair{kTagStripOffsets, kTagStripByteCounts},
                                           std::pair{kTagTileOffsets, kTagTileByteCounts}}) {
    const auto offsets = ifd.Uints(source, off_tag);
    const auto counts = ifd.Uints(source, count_tag);
    if (!offsets.has_value() || !counts.has_value()) continue;
    for (size_t i = 0; i < offsets->size() && i < counts->size(); ++i) {
      if ((*offsets)[i] > source.size() || (*counts)[i] > source.size() - (*offsets)[i]) {
        return source.Error(
            absl::StrCat("truncated: TIFF ", off_tag == kTagStripOffsets ? "strip " : "tile ", i,
                         " needs bytes [", (*offsets)[i], ", ", (*offsets)[i] + (*counts)[i],
                         ") but the file has ", source.size(), " bytes"));
      }
    }
  }
  const int bits = static_cast<int>(ifd.Uint(source, kTagBitsPerSample, 1));
  const uint64_t sample_format = ifd.Uint(source, kTagSampleFormat, 1);
  const uint64_t samples = ifd.Uint(source, kTagSamplesPerPixel, 1);
  const uint64_t compression = ifd.Uint(source, kTagCompression, 1);

  // Sample types OpenCV's TIFF decoder refuses (it logs an error for each): read them directly
  // when the layout is simple enough, instead of asking OpenCV first.
  const bool opencv_refuses =
      (bits == 32 && sample_format != kSampleFormatInt && sample_format != kSampleFormatFloat) ||
      (bits == 64 && sample_format != kSampleFormatFloat) ||
      (bits == 16 && sample_format == kSampleFormatFloat);
  const bool raw_readable = compression == 1 && samples == 1 && ifd.Has(kTagStripOffsets);
  cv::Mat decoded;
  try {
    if (opencv_refuses && raw_readable) {
      // handled below
    } else if (frame == 0) {
      decoded = cv::imread(source.path(), cv::IMREAD_UNCHANGED);
    } else {
      std::vector<cv::Mat> pages_read;
      if (cv::imreadmulti(source.path(), pages_read, frame, 1, cv::IMREAD_UNCHANGED) &&
          !pages_read.empty()) {
        decoded = pages_read.front();
      }
    }
  } catch (const cv::Exception&) {
    decoded.release();  // fall through to the fallback or the error below
  }
  if (decoded.empty() && raw_readable) {
    absl::StatusOr<cv::Mat> raw =
        ReadUncompressedStrips(source, ifd, static_cast<int>(width), static_cast<int>(height), bits,
                               sample_format, ifd.big_endian());
    if (raw.ok()) decoded = std::move(raw).value();
  }
  if (decoded.empty()) {
    return source.Error(absl::StrCat("could not decode TIFF page ", frame, " (", width, "x", height,
                                     ", ", samples, " sample(s) of ", bits, " bits, sample format ",
                                     sample_format, ", compression ", compression,
                                     "): unsupported or corrupt"));
  }
  if (decoded.rows != static_cast<int>(height) || decoded.cols != static_cast<int>(width)) {
    return source.Error(absl::StrCat("TIFF decoder returned ", decoded.cols, "x", decoded.rows,
                                     " for a ", width, "x", height, " page"));
  }
  absl::StatusOr<cv::Mat> grey = ToLuminance(decoded);
  if (!grey.ok()) return source.Error(grey.status().message());

  Image image;
  image.format = "tiff";
  image.pixels = ToImageDepth(*grey);
  image.original_shape = pages > 1 ? std::vector<int>{pages, image.pixels.rows, image.pixels.cols}
                                   : std::vector<int>{image.pixels.rows, image.pixels.cols};
  // Calibration tags are read from page 0, where every writer puts them.
  absl::StatusOr<TiffIfd> first =
      frame == 0 ? absl::StatusOr<TiffIfd>(ifd) : TiffIfd::Read(source, 0, nullptr);
  if (first.ok()) {
    const TiffCalibration cal = ReadTiffCalibration(source, *first);
    SetPixelSize(cal.x_nm, cal.y_nm, image);
  }
  return image;
}

}  // namespace fringe::data
