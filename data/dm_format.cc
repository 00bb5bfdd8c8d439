#include "data/dm_format.h"

#include <algorithm>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "data/pixel_calibration.h"
#include "data/raw_pixels.h"

namespace fringe::data {
namespace {

constexpr int kMaxTagDepth = 64;
constexpr uint64_t kMaxInfoEntries = 1024;

// Tag entry kinds and the encoded value types of data tags.
constexpr uint8_t kTagGroup = 20;
constexpr uint8_t kTagData = 21;
constexpr uint64_t kTypeStruct = 15;
constexpr uint64_t kTypeString = 18;
constexpr uint64_t kTypeArray = 20;

// Bytes of a simple encoded type: 2 int16, 3 int32, 4 uint16, 5 uint32, 6 float32, 7 float64,
// 8 bool, 9 char, 10 octet, 11 int64, 12 uint64 (the last two only in DM4).
std::optional<uint64_t> SimpleSize(uint64_t type) {
  switch (type) {
    case 2:
    case 4:
      return 2;
    case 3:
    case 5:
    case 6:
      return 4;
    case 7:
    case 11:
    case 12:
      return 8;
    case 8:
    case 9:
    case 10:
      return 1;
    default:
      return std::nullopt;
  }
}

struct DmTag {
  std::string label;
  bool is_group = false;
  std::vector<DmTag> children;
  std::vector<uint64_t> info;  // encoded type of a data tag
  uint64_t data_offset = 0;
  uint64_t data_size = 0;

  const DmTag* Child(absl::string_view name) const {
    for (const DmTag& c : children) {
      if (c.label == name) return &c;
    }
    return nullptr;
  }
  const DmTag* Path(std::initializer_list<absl::string_view> names) const {
    const DmTag* t = this;
    for (const absl::string_view n : names) {
      t = t->Child(n);
      if (t == nullptr) return nullptr;
    }
    return t;
  }
};

// Byte size of a data tag's value from its encoded type, or nullopt for types this reader does
// not know (DM4 can still skip those using the tag's total size).
std::optional<uint64_t> DataSize(const std::vector<uint64_t>& info) {
  if (info.empty()) return std::nullopt;
  const uint64_t t = info[0];
  if (auto s = SimpleSize(t); s.has_value()) return info.size() == 1 ? s : std::nullopt;
  auto struct_size = [&](size_t nfields_at) -> std::optional<uint64_t> {
    // Struct layout: ..., name length, field count, then (name length, type) per field.
    if (info.size() <= nfields_at) return std::nullopt;
    const uint64_t nfields = info[nfields_at];
    if (nfields > kMaxInfoEntries || info.size() < nfields_at + 1 + 2 * nfields) {
      return std::nullopt;
    }
    uint64_t total = 0;
    for (uint64_t f = 0; f < nfields; ++f) {
      const auto s = SimpleSize(info[nfields_at + 2 + 2 * f]);
      if (!s.has_value()) return std::nullopt;
      total += *s;
    }
    return total;
  };
  if (t == kTypeString) {
    return info.size() == 2 ? std::optional<uint64_t>(info[1]) : std::nullopt;
  }
  if (t == kTypeStruct) {
    const auto s = struct_size(2);
    if (!s.has_value() || info.size() != 3 + 2 * info[2]) return std::nullopt;
    return s;
  }
  if (t == kTypeArray && info.size() >= 3) {
    uint64_t elem = 0;
    if (const auto s = SimpleSize(info[1]); s.has_value() && info.size() == 3) {
      elem = *s;
    } else if (info[1] == kTypeStruct) {
      const auto s2 = struct_size(3);
      if (!s2.has_value() || info.size() != 5 + 2 * info[3]) return std::nullopt;
      elem = *s2;
    } else {
      return std::nullopt;
    }
    uint64_t total = 0;
    if (__builtin_mul_overflow(elem, info.back(), &total)) return std::nullopt;
    return total;
  }
  return std::nullopt;
}

class DmParser {
 public:
  DmParser(ByteSource& source, int version, bool little_endian_data)
      : src_(source), version_(version), little_(little_endian_data) {}

  // Parses the group whose (sorted, open, count) header starts at `pos`; advances `pos` past it.
  absl::Status ParseGroup(uint64_t& pos, DmTag& group, int depth) {
    if (depth > kMaxTagDepth) return src_.Error("corrupt DM tag tree: nesting too deep");
    group.is_group = true;
    pos += 2;  // "sorted" and "open" flags: display hints only
    FRINGE_ASSIGN_OR_RETURN(const uint64_t count, ReadLength(pos, "a DM tag group count"));
    // Each tag takes at least 3 bytes; a larger count means a corrupt or truncated file.
    if (count > (src_.size() - std::min(pos, src_.size())) / 3) {
      return src_.Error(absl::StrCat("corrupt DM tag tree: group at offset ", pos, " claims ",
                                     count, " tags, more than the file can hold"));
    }
    // Reserve modestly: a corrupt count must not turn into a huge allocation.
    group.children.reserve(static_cast<size_t>(std::min<uint64_t>(count, 1024)));
    for (uint64_t i = 0; i < count; ++i) {
      unsigned char head[3];
      FRINGE_RETURN_IF_ERROR(src_.Read(pos, 3, head, "a DM tag header"));
      const uint8_t kind = head[0];
      const uint16_t label_len = LoadBig<uint16_t>(head + 1);
      pos += 3;
      DmTag tag;
      FRINGE_ASSIGN_OR_RETURN(tag.label, src_.ReadString(pos, label_len, "a DM tag label"));
      pos += label_len;
      std::optional<uint64_t> total_size;  // DM4: bytes of the tag after this field
      if (version_ == 4) {
        FRINGE_ASSIGN_OR_RETURN(total_size, ReadLength(pos, "a DM4 tag size"));
      }
      if (kind == kTagGroup) {
        FRINGE_RETURN_IF_ERROR(ParseGroup(pos, tag, depth + 1));
      } else if (kind == kTagData) {
        FRINGE_RETURN_IF_ERROR(ParseData(pos, total_size, tag));
      } else {
        return src_.Error(absl::StrCat("corrupt DM tag tree: unknown tag kind ", int{kind},
                                       " at offset ", pos - 3 - label_len,
                                       " (expected 20 = group or 21 = data)"));
      }
      group.children.push_back(std::move(tag));
    }
    return absl::OkStatus();
  }

  // Numeric value of a simple data tag (DataType, Dimensions[i], Scale, ...).
  std::optional<double> Number(const DmTag* tag) {
    if (tag == nullptr || tag->is_group || tag->info.size() != 1) return std::nullopt;
    const auto size = SimpleSize(tag->info[0]);
    if (!size.has_value()) return std::nullopt;
    unsigned char b[8];
    if (!src_.Read(tag->data_offset, *size, b, "a DM number").ok()) return std::nullopt;
    const bool big = !little_;
    switch (tag->info[0]) {
      case 2:
        return Load<int16_t>(b, big);
      case 3:
        return Load<int32_t>(b, big);
      case 4:
        return Load<uint16_t>(b, big);
      case 5:
        return Load<uint32_t>(b, big);
      case 6:
        return Load<float>(b, big);
      case 7:
        return Load<double>(b, big);
      case 8:
      case 10:
        return b[0];
      case 9:
        return static_cast<signed char>(b[0]);
      case 11:
        return static_cast<double>(Load<int64_t>(b, big));
      case 12:
        return static_cast<double>(Load<uint64_t>(b, big));
      default:
        return std::nullopt;
    }
  }

  // Text of a string-like tag: DM stores strings as arrays of uint16 UTF-16 code units
  // (e.g. Units "µm"), occasionally as byte arrays. Returned as UTF-8 (bytes as stored for
  // byte arrays).
  std::string Text(const DmTag* tag) {
    if (tag == nullptr || tag->is_group || tag->info.size() != 3 || tag->info[0] != kTypeArray ||
        tag->data_size > 4096) {
      return "";
    }
    std::string raw(static_cast<size_t>(tag->data_size), '\0');
    if (!src_.Read(tag->data_offset, raw.size(), raw.data(), "a DM string").ok()) return "";
    if (tag->info[1] == 9 || tag->info[1] == 10) return raw;
    if (tag->info[1] != 4 && tag->info[1] != 2) return "";
    std::string out;
    for (size_t i = 0; i + 1 < raw.size(); i += 2) {
      uint32_t c = Load<uint16_t>(raw.data() + i, !little_);
      if (c >= 0xD800 && c <= 0xDBFF && i + 3 < raw.size()) {  // surrogate pair
        const uint32_t lo = Load<uint16_t>(raw.data() + i + 2, !little_);
        c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
    }
    return out;
  }

 private:
  absl::StatusOr<uint64_t> ReadLength(uint64_t& pos, absl::string_view what) {
    unsigned char b[8];
    const size_t n = version_ == 4 ? 8 : 4;
    FRINGE_RETURN_IF_ERROR(src_.Read(pos, n, b, what));
    pos += n;
    return n == 8 ? LoadBig<uint64_t>(b) : uint64_t{LoadBig<uint32_t>(b)};
  }

  absl::Status ParseData(uint64_t& pos, std::optional<uint64_t> total_size, DmTag& tag) {
    const uint64_t start = pos;
    char marker[4];
    FRINGE_RETURN_IF_ERROR(src_.Read(pos, 4, marker, "a DM data tag marker"));
    if (std::memcmp(marker, "%%%%", 4) != 0) {
      return src_.Error(absl::StrCat("corrupt DM tag tree: data tag '", tag.label, "' at offset ",
                                     pos, " lacks its %%%% marker"));
    }
    pos += 4;
    FRINGE_ASSIGN_OR_RETURN(const uint64_t ninfo, ReadLength(pos, "a DM type-info count"));
    if (ninfo == 0 || ninfo > kMaxInfoEntries) {
      return src_.Error(absl::StrCat("corrupt DM tag tree: data tag '", tag.label, "' has ", ninfo,
                                     " type-info entries"));
    }
    tag.info.resize(static_cast<size_t>(ninfo));
    for (uint64_t& v : tag.info) {
      FRINGE_ASSIGN_OR_RETURN(v, ReadLength(pos, "DM type info"));
    }
    std::optional<uint64_t> size = DataSize(tag.info);
    if (!size.has_value() && total_size.has_value() && *total_size >= pos - start) {
      size = *total_size - (pos - start);  // DM4 lets us skip types we do not decode
    }
    if (!size.has_value()) {
      return src_.Error(absl::StrCat("unsupported DM tag type [", absl::StrJoin(tag.info, ", "),
                                     "] in tag '", tag.label, "' at offset ", start));
    }
    tag.data_offset = pos;
    tag.data_size = *size;
    if (pos > src_.size() || *size > src_.size() - pos) {
      return src_.Error(absl::StrCat("truncated: DM tag '", tag.label, "' needs bytes [", pos, ", ",
                                     pos + *size, ") but the file has ", src_.size(), " bytes"));
    }
    pos += *size;
    return absl::OkStatus();
  }

  ByteSource& src_;
  int version_;
  bool little_;
};

struct DmPixelType {
  ScalarType scalar = ScalarType::kUInt8;
  uint64_t bytes = 1;
  bool rgba = false;
};

std::optional<DmPixelType> PixelType(int data_type) {
  switch (data_type) {
    case 1:
      return DmPixelType{ScalarType::kInt16, 2};
    case 2:
      return DmPixelType{ScalarType::kFloat32, 4};
    case 6:
    case 14:  // binary: one byte per pixel
      return DmPixelType{ScalarType::kUInt8, 1};
    case 7:
      return DmPixelType{ScalarType::kInt32, 4};
    case 9:
      return DmPixelType{ScalarType::kInt8, 1};
    case 10:
      return DmPixelType{ScalarType::kUInt16, 2};
    case 11:
      return DmPixelType{ScalarType::kUInt32, 4};
    case 12:
      return DmPixelType{ScalarType::kFloat64, 8};
    case 23:  // RGBA, 8 bits per channel, stored as one little-endian uint32 0xAABBGGRR
      return DmPixelType{ScalarType::kUInt8, 4, true};
    default:
      return std::nullopt;
  }
}

std::string DimsString(const std::vector<uint64_t>& dims) { return absl::StrJoin(dims, " x "); }

}  // namespace

absl::StatusOr<Image> ReadDmImage(ByteSource& source, int frame) {
  unsigned char head[16];
  FRINGE_RETURN_IF_ERROR(source.Read(0, 4, head, "the DM header"));
  const uint32_t version = LoadBig<uint32_t>(head);
  if (version != 3 && version != 4) {
    return source.Error(absl::StrCat("not a DM3/DM4 file: version word is ", version));
  }
  const uint64_t header_bytes = version == 3 ? 12 : 16;
  FRINGE_RETURN_IF_ERROR(source.Read(0, header_bytes, head, "the DM header"));
  const uint64_t root_len =
      version == 3 ? uint64_t{LoadBig<uint32_t>(head + 4)} : LoadBig<uint64_t>(head + 4);
  const uint32_t order = LoadBig<uint32_t>(head + header_bytes - 4);
  if (order > 1) {
    return source.Error(absl::StrCat("not a DM", version, " file: byte-order flag is ", order,
                                     " (expected 0 or 1)"));
  }
  if (root_len > source.size() || header_bytes + root_len > source.size()) {
    return source.Error(absl::StrCat("truncated: the DM", version, " header announces a ", root_len,
                                     "-byte tag tree after the ", header_bytes,
                                     "-byte header, but the file has ", source.size(), " bytes"));
  }
  DmParser parser(source, static_cast<int>(version), order == 1);
  DmTag root;
  uint64_t pos = header_bytes;
  FRINGE_RETURN_IF_ERROR(parser.ParseGroup(pos, root, 0));

  const DmTag* list = root.Child("ImageList");
  if (list == nullptr || !list->is_group || list->children.empty()) {
    return source.Error("DM file has no ImageList: it holds no image");
  }
  // Entry 0 is the RGBA thumbnail DigitalMicrograph stores for its file browser whenever there
  // is a real image after it; the data image is the largest of the others.
  const size_t first = list->children.size() > 1 ? 1 : 0;
  const DmTag* best = nullptr;  // ImageData of the chosen entry
  const DmTag* best_data = nullptr;
  size_t best_index = 0;
  for (size_t i = first; i < list->children.size(); ++i) {
    const DmTag* image_data = list->children[i].Child("ImageData");
    const DmTag* data = image_data == nullptr ? nullptr : image_data->Child("Data");
    if (data == nullptr || data->is_group) continue;
    if (best_data == nullptr || data->data_size > best_data->data_size) {
      best = image_data;
      best_data = data;
      best_index = i;
    }
  }
  if (best == nullptr || best_data == nullptr) {
    return source.Error("DM ImageList has no entry with ImageData.Data");
  }
  const DmTag& image_data = *best;
  const DmTag& data = *best_data;

  const std::optional<double> data_type_value = parser.Number(image_data.Child("DataType"));
  if (!data_type_value.has_value()) {
    return source.Error(absl::StrCat("DM image ", best_index, " has no ImageData.DataType"));
  }
  const int data_type = static_cast<int>(*data_type_value);
  const std::optional<DmPixelType> pixel = PixelType(data_type);
  if (!pixel.has_value()) {
    const bool complex =
        data_type == 3 || data_type == 5 || data_type == 13 || data_type == 27 || data_type == 28;
    return source.Error(absl::StrCat(
        "unsupported DM DataType ", data_type,
        complex ? " (complex data, e.g. an FFT: not a real-space image)" : "",
        "; supported: 1 int16, 2 float32, 6 uint8, 7 int32, 9 int8, 10 uint16, 11 uint32, "
        "12 float64, 14 binary, 23 RGBA"));
  }

  std::vector<uint64_t> dims;
  if (const DmTag* d = image_data.Child("Dimensions"); d != nullptr) {
    for (const DmTag& c : d->children) {
      const std::optional<double> v = parser.Number(&c);
      if (!v.has_value() || *v < 0) {
        return source.Error("DM ImageData.Dimensions holds a non-numeric or negative entry");
      }
      dims.push_back(static_cast<uint64_t>(*v));
    }
  }
  if (dims.size() < 2 || (dims.size() == 2 && (dims[0] == 1 || dims[1] == 1))) {
    // DM keeps spectra and line profiles in the same ImageList, sometimes as N x 1 "images".
    return source.Error(absl::StrCat("the DM data (Dimensions ", DimsString(dims),
                                     ") is a 1-D signal such as a spectrum or profile, not an "
                                     "image"));
  }
  if (dims.size() > 3) {
    return source.Error(absl::StrCat("DM data with ", dims.size(), " dimensions (",
                                     DimsString(dims),
                                     ", e.g. 4D-STEM) is not supported; need 2-D or a 3-D stack"));
  }
  const uint64_t width = dims[0];
  const uint64_t height = dims[1];
  const uint64_t frames = dims.size() == 3 ? dims[2] : 1;
  if (width == 0 || height == 0 || frames == 0 || width > (1u << 20) || height > (1u << 20) ||
      width * height > (1ull << 31)) {
    return source.Error(absl::StrCat("DM Dimensions ", DimsString(dims), " are not usable"));
  }
  const uint64_t frame_bytes = width * height * pixel->bytes;
  if (data.data_size != frame_bytes * frames) {
    return source.Error(absl::StrCat("DM image data holds ", data.data_size,
                                     " bytes but Dimensions ", DimsString(dims), " of DataType ",
                                     data_type, " need ", frame_bytes * frames));
  }
  if (frame < 0 || static_cast<uint64_t>(frame) >= frames) {
    return absl::OutOfRangeError(absl::StrCat(source.path(), ": frame ", frame,
                                              " out of range: the DM image has ", frames,
                                              frames == 1 ? " frame" : " frames"));
  }
  std::string buffer(static_cast<size_t>(frame_bytes), '\0');
  FRINGE_RETURN_IF_ERROR(source.Read(data.data_offset + frame_bytes * frame, buffer.size(),
                                     buffer.data(), "DM image data"));
  const bool big_data = order == 0;
  const int rows = static_cast<int>(height);
  const int cols = static_cast<int>(width);

  Image image;
  image.format = version == 3 ? "dm3" : "dm4";
  image.original_shape = frames > 1 ? std::vector<int>{static_cast<int>(frames), rows, cols}
                                    : std::vector<int>{rows, cols};
  if (pixel->rgba) {
    if (big_data) SwapBytesInPlace(buffer.data(), 4, static_cast<size_t>(width * height));
    cv::Mat rgba(rows, cols, CV_8UC4, buffer.data());
    cv::Mat bgra;
    cv::cvtColor(rgba, bgra, cv::COLOR_RGBA2BGRA);
    absl::StatusOr<cv::Mat> grey = ToLuminance(bgra);
    if (!grey.ok()) return source.Error(grey.status().message());
    image.pixels = grey->clone();
  } else {
    image.pixels = ToImageDepth(RawToMat(pixel->scalar, big_data, rows, cols, buffer.data()));
  }

  std::optional<double> axis_nm[2];
  if (const DmTag* cal = image_data.Path({"Calibrations", "Dimension"}); cal != nullptr) {
    for (size_t axis = 0; axis < 2 && axis < cal->children.size(); ++axis) {
      const std::optional<double> scale = parser.Number(cal->children[axis].Child("Scale"));
      const std::optional<double> unit_nm =
          NanometresPerUnit(parser.Text(cal->children[axis].Child("Units")));
      if (scale.has_value() && unit_nm.has_value()) axis_nm[axis] = *scale * *unit_nm;
    }
  }
  SetPixelSize(axis_nm[0], axis_nm[1], image);
  return image;
}

}  // namespace fringe::data
