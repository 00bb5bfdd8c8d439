#include "data/npy_format.h"

#include <cctype>
#include <climits>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fringe::data {
namespace {

constexpr size_t kNpyMagicLen = 6;
constexpr size_t kMaxHeaderLen = 1 << 20;  // numpy itself refuses headers above 10 KB by default

// A value in the header dict. numpy writes only strings, True/False and tuples of ints; a list
// (structured dtype) is recognised so it can be rejected with a clear message.
struct PyValue {
  enum Kind { kString, kBool, kNone, kTuple, kList } kind = kNone;
  std::string str;
  bool boolean = false;
  std::vector<int64_t> ints;
};

// Recursive-descent parser for the subset of Python literal syntax numpy's header uses.
class PyDictParser {
 public:
  explicit PyDictParser(absl::string_view text) : text_(text) {}

  // Fills `out` with key -> value; returns an error message or "".
  std::string Parse(std::map<std::string, PyValue>& out) {
    SkipSpace();
    if (!Consume('{')) return "header does not start with '{'";
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      if (!ParseString(key)) return "expected a quoted key in the header dict";
      SkipSpace();
      if (!Consume(':')) return absl::StrCat("expected ':' after key '", key, "'");
      PyValue value;
      std::string err = ParseValue(value);
      if (!err.empty()) return absl::StrCat(err, " (value of '", key, "')");
      out[key] = std::move(value);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return "expected ',' or '}' in the header dict";
    }
    return "";
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ParseString(std::string& out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return false;
    out = std::string(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }
  bool ParseInt(int64_t& out) {
    const size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (pos_ == start || pos_ - start > 18) return false;
    out = std::stoll(std::string(text_.substr(start, pos_ - start)));
    if (pos_ < text_.size() && (text_[pos_] == 'L' || text_[pos_] == 'l')) ++pos_;  // Python 2
    return true;
  }
  std::string ParseValue(PyValue& value) {
    SkipSpace();
    if (pos_ >= text_.size()) return "header ends inside a value";
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      value.kind = PyValue::kString;
      return ParseString(value.str) ? "" : "unterminated string";
    }
    if (c == '(') {
      ++pos_;
      value.kind = PyValue::kTuple;
      while (true) {
        SkipSpace();
        if (Consume(')')) return "";
        int64_t v = 0;
        if (!ParseInt(v)) return "expected a non-negative integer in the shape tuple";
        value.ints.push_back(v);
        SkipSpace();
        if (Consume(',')) continue;
        SkipSpace();
        if (Consume(')')) return "";
        return "expected ',' or ')' in the shape tuple";
      }
    }
    if (c == '[') {
      // Structured dtypes are lists of tuples; skip to the matching bracket.
      int depth = 0;
      for (; pos_ < text_.size(); ++pos_) {
        if (text_[pos_] == '[') ++depth;
        if (text_[pos_] == ']' && --depth == 0) {
          ++pos_;
          value.kind = PyValue::kList;
          return "";
        }
      }
      return "unterminated list";
    }
    for (const auto& [word, kind, b] :
         {std::tuple<absl::string_view, PyValue::Kind, bool>{"True", PyValue::kBool, true},
          {"False", PyValue::kBool, false},
          {"None", PyValue::kNone, false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        value.kind = kind;
        value.boolean = b;
        return "";
      }
    }
    return absl::StrCat("unexpected character '", std::string(1, c), "'");
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

// Maps a numpy type string such as "<f4" to a ScalarType; nullopt when unsupported.
std::optional<std::pair<ScalarType, bool>> ParseDescr(const std::string& descr) {
  if (descr.size() < 3) return std::nullopt;
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return std::nullopt;
  static const std::map<std::string, ScalarType> kTypes = {
      {"b1", ScalarType::kBool},    {"u1", ScalarType::kUInt8},   {"i1", ScalarType::kInt8},
      {"u2", ScalarType::kUInt16},  {"i2", ScalarType::kInt16},   {"u4", ScalarType::kUInt32},
      {"i4", ScalarType::kInt32},   {"u8", ScalarType::kUInt64},  {"i8", ScalarType::kInt64},
      {"f2", ScalarType::kFloat16}, {"f4", ScalarType::kFloat32}, {"f8", ScalarType::kFloat64}};
  const auto it = kTypes.find(descr.substr(1));
  if (it == kTypes.end()) return std::nullopt;
  // '>' is the only order that differs from this little-endian host; single bytes never swap.
  const bool swap = order == '>' && ScalarSize(it->second) > 1;
  return std::make_pair(it->second, swap);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

absl::StatusOr<std::string> DescrForDepth(int depth) {
  switch (depth) {
    case CV_8U:
      return std::string("|u1");
    case CV_8S:
      return std::string("|i1");
    case CV_16U:
      return std::string("<u2");
    case CV_16S:
      return std::string("<i2");
    case CV_32S:
      return std::string("<i4");
    case CV_16F:
      return std::string("<f2");
    case CV_32F:
      return std::string("<f4");
    case CV_64F:
      return std::string("<f8");
    default:
      return absl::InvalidArgumentError(absl::StrCat("cv::Mat depth ", depth, " has no npy dtype"));
  }
}

}  // namespace

absl::StatusOr<NpyHeader> ReadNpyHeader(ByteSource& source) {
  char pre[10];
  FRINGE_RETURN_IF_ERROR(source.Read(0, 8, pre, "the NPY preamble"));
  if (std::memcmp(pre, kNpyMagic, kNpyMagicLen) != 0) {
    return source.Error("not an NPY file: wrong magic (expected \\x93NUMPY)");
  }
  const int major = static_cast<unsigned char>(pre[6]);
  const int minor = static_cast<unsigned char>(pre[7]);
  uint64_t header_len = 0;
  uint64_t header_start = 0;
  if (major == 1) {
    FRINGE_RETURN_IF_ERROR(source.Read(8, 2, pre + 8, "the NPY header length"));
    header_len = LoadLittle<uint16_t>(pre + 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    char len4[4];
    FRINGE_RETURN_IF_ERROR(source.Read(8, 4, len4, "the NPY header length"));
    header_len = LoadLittle<uint32_t>(len4);
    header_start = 12;
  } else {
    return source.Error(absl::StrCat("unsupported NPY format version ", major, ".", minor,
                                     " (supported: 1.0, 2.0, 3.0)"));
  }
  if (header_len > kMaxHeaderLen) {
    return source.Error(absl::StrCat("NPY header length ", header_len, " is implausibly large"));
  }
  FRINGE_ASSIGN_OR_RETURN(
      const std::string text,
      source.ReadString(header_start, static_cast<size_t>(header_len), "the NPY header"));

  std::map<std::string, PyValue> dict;
  const std::string err = PyDictParser(text).Parse(dict);
  if (!err.empty()) return source.Error(absl::StrCat("malformed NPY header: ", err));

  NpyHeader h;
  h.data_offset = header_start + header_len;
  const auto descr = dict.find("descr");
  const auto fortran = dict.find("fortran_order");
  const auto shape = dict.find("shape");
  if (descr == dict.end() || fortran == dict.end() || shape == dict.end()) {
    return source.Error("malformed NPY header: needs 'descr', 'fortran_order' and 'shape'");
  }
  if (descr->second.kind == PyValue::kList) {
    return source.Error("unsupported dtype: structured arrays (record dtypes) are not images");
  }
  if (descr->second.kind != PyValue::kString || fortran->second.kind != PyValue::kBool ||
      shape->second.kind != PyValue::kTuple) {
    return source.Error("malformed NPY header: wrong value types for descr/fortran_order/shape");
  }
  h.descr = descr->second.str;
  const auto parsed = ParseDescr(h.descr);
  if (!parsed.has_value()) {
    return source.Error(absl::StrCat(
        "unsupported dtype '", h.descr,
        "' (supported: bool, u1, i1, u2, i2, u4, i4, u8, i8, f2, f4, f8, either byte order)"));
  }
  h.type = parsed->first;
  h.big_endian = parsed->second;
  h.fortran_order = fortran->second.boolean;
  h.shape = shape->second.ints;
  if (h.fortran_order) {
    // Column-major data would need a transpose per frame; numpy users get a C-order copy with
    // np.ascontiguousarray(a) before np.save.
    return source.Error(
        absl::StrCat("fortran_order arrays are not supported (shape ", ShapeString(h.shape),
                     "); save a C-order copy: np.save(f, np.ascontiguousarray(a))"));
  }
  uint64_t count = 1;
  for (const int64_t d : h.shape) {
    if (d > INT_MAX || __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count)) {
      return source.Error(absl::StrCat("NPY shape ", ShapeString(h.shape), " is too large"));
    }
  }
  if (__builtin_mul_overflow(count, ScalarSize(h.type), &h.data_bytes)) {
    return source.Error(absl::StrCat("NPY shape ", ShapeString(h.shape), " is too large"));
  }
  if (h.data_offset > source.size() || h.data_bytes > source.size() - h.data_offset) {
    return source.Error(absl::StrCat(
        "truncated: header says shape ", ShapeString(h.shape), " of '", h.descr,
        "' = ", h.data_bytes, " bytes of data after the ", h.data_offset, "-byte header, but only ",
        source.size() > h.data_offset ? source.size() - h.data_offset : 0, " bytes follow"));
  }
  return h;
}

absl::StatusOr<Image> ReadNpyImage(ByteSource& source, int frame) {
  FRINGE_ASSIGN_OR_RETURN(const NpyHeader h, ReadNpyHeader(source));
  if (h.shape.size() != 2 && h.shape.size() != 3) {
    return source.Error(absl::StrCat("NPY array has shape ", ShapeString(h.shape),
                                     ": need 2-D (height, width) or 3-D (frames, height, width)"));
  }
  const bool stack = h.shape.size() == 3;
  const int64_t frames = stack ? h.shape[0] : 1;
  const int rows = static_cast<int>(h.shape[stack ? 1 : 0]);
  const int cols = static_cast<int>(h.shape[stack ? 2 : 1]);
  if (rows == 0 || cols == 0 || frames == 0) {
    return source.Error(absl::StrCat("NPY array ", ShapeString(h.shape), " is empty"));
  }
  if (frame < 0 || frame >= frames) {
    return absl::OutOfRangeError(absl::StrCat(source.path(), ": frame ", frame,
                                              " out of range: the array has ", frames,
                                              frames == 1 ? " frame" : " frames"));
  }
  const size_t frame_bytes = static_cast<size_t>(rows) * cols * ScalarSize(h.type);
  std::string buffer(frame_bytes, '\0');
  FRINGE_RETURN_IF_ERROR(source.Read(h.data_offset + frame_bytes * frame, frame_bytes,
                                     buffer.data(), "NPY frame data"));
  Image image;
  image.format = "npy";
  for (const int64_t d : h.shape) image.original_shape.push_back(static_cast<int>(d));
  image.pixels = ToImageDepth(RawToMat(h.type, h.big_endian, rows, cols, buffer.data()));
  return image;
}

std::string FormatNpyHeader(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string dict = absl::StrCat(
      "{'descr': '", descr, "', 'fortran_order': False, 'shape': ", ShapeString(shape), ", }");
  // numpy pads with spaces so that magic + version + length + dict + '\n' is a multiple of 64
  // (aligned data for memory mapping).
  const size_t unpadded = kNpyMagicLen + 2 + 2 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string out(kNpyMagic, kNpyMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>((dict.size() >> 8) & 0xff));
  out += dict;
  return out;
}

absl::StatusOr<cv::Mat> ReadNpy(const std::string& path) {
  FRINGE_ASSIGN_OR_RETURN(ByteSource source, ByteSource::Open(path));
  FRINGE_ASSIGN_OR_RETURN(const NpyHeader h, ReadNpyHeader(source));
  if (h.shape.size() != 2 && h.shape.size() != 3) {
    return source.Error(absl::StrCat("NPY array has shape ", ShapeString(h.shape),
                                     ": ReadNpy supports 2-D and 3-D arrays"));
  }
  std::string buffer(static_cast<size_t>(h.data_bytes), '\0');
  FRINGE_RETURN_IF_ERROR(
      source.Read(h.data_offset, buffer.size(), buffer.data(), "NPY array data"));
  if (h.shape.size() == 2) {
    return RawToMat(h.type, h.big_endian, static_cast<int>(h.shape[0]),
                    static_cast<int>(h.shape[1]), buffer.data());
  }
  const int frames = static_cast<int>(h.shape[0]);
  const int rows = static_cast<int>(h.shape[1]);
  const int cols = static_cast<int>(h.shape[2]);
  if (static_cast<int64_t>(frames) * rows > INT_MAX) {
    return source.Error(absl::StrCat("NPY array ", ShapeString(h.shape), " is too large"));
  }
  // Decode as one (frames*rows) x cols plane, then view it as a 3-D matrix without copying.
  cv::Mat flat = RawToMat(h.type, h.big_endian, frames * rows, cols, buffer.data());
  const int sizes[3] = {frames, rows, cols};
  return flat.reshape(1, 3, sizes).clone();
}

absl::Status WriteNpy(const std::string& path, const cv::Mat& m) {
  if (m.empty() || m.dims != 2 || m.channels() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": WriteNpy needs a non-empty 2-D single-channel matrix (got dims=", m.dims,
        ", channels=", m.channels(), ", ", m.rows, "x", m.cols, ")"));
  }
  absl::StatusOr<std::string> descr = DescrForDepth(m.depth());
  if (!descr.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", descr.status().message()));
  }
  std::string bytes = FormatNpyHeader(*descr, {m.rows, m.cols});
  const size_t row_bytes = static_cast<size_t>(m.cols) * m.elemSize();
  const size_t header = bytes.size();
  bytes.resize(header + row_bytes * m.rows);
  for (int r = 0; r < m.rows; ++r) {
    std::memcpy(bytes.data() + header + row_bytes * r, m.ptr(r), row_bytes);
  }
  return WriteFileAtomically(path, bytes);
}

}  // namespace fringe::data
