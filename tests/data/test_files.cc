#include "test_files.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fringe::data::testing {
namespace {

uint64_t DmSimpleSize(uint64_t type) {
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
    default:
      return 1;
  }
}

}  // namespace

TempDir::TempDir() {
  std::string base = ::testing::TempDir();
  if (base.empty() || base.back() != '/') base.push_back('/');
  std::string tmpl = base + "fringe_data_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

::testing::AssertionResult StatusIs(const absl::Status& status, absl::StatusCode code,
                                    std::initializer_list<std::string> parts) {
  if (status.code() != code) {
    return ::testing::AssertionFailure()
           << "expected code " << absl::StatusCodeToString(code) << ", got " << status;
  }
  for (const std::string& part : parts) {
    if (std::string(status.message()).find(part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message lacks \"" << part << "\": " << status.message();
    }
  }
  return ::testing::AssertionSuccess();
}

std::string SamplesDir() {
  const char* env = std::getenv("FRINGE_SHARED_DIR");
  const std::string shared = (env != nullptr && *env != '\0')
                                 ? std::string(env)
                                 : std::string(FRINGE_SOURCE_DIR) + "/../shared";
  return shared + "/microscopy-samples";
}

bool HaveSamples() {
  std::error_code ec;
  return std::filesystem::exists(SamplesDir() + "/PROVENANCE.md", ec);
}

std::string MakeNpy(const std::string& header, const std::string& data, int major) {
  const size_t len_bytes = major == 1 ? 2 : 4;
  std::string dict = header;
  const size_t unpadded = 6 + 2 + len_bytes + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  out += major == 1 ? Bytes<uint16_t>(static_cast<uint16_t>(dict.size()))
                    : Bytes<uint32_t>(static_cast<uint32_t>(dict.size()));
  return out + dict + data;
}

std::string MakeMrc(const MrcSpec& s, const std::string& data) {
  std::string h(1024, '\0');
  auto put_int = [&](int word, int32_t v) {
    const std::string b = Bytes(v, s.big_endian);
    h.replace(4 * word, 4, b);
  };
  auto put_float = [&](int word, float v) {
    const std::string b = Bytes(v, s.big_endian);
    h.replace(4 * word, 4, b);
  };
  put_int(0, s.nx);
  put_int(1, s.ny);
  put_int(2, s.nz);
  put_int(3, s.mode);
  put_int(7, s.mxyz[0] ? s.mxyz[0] : s.nx);
  put_int(8, s.mxyz[1] ? s.mxyz[1] : s.ny);
  put_int(9, s.mxyz[2] ? s.mxyz[2] : s.nz);
  for (int i = 0; i < 3; ++i) put_float(10 + i, s.cella[i]);
  for (int i = 0; i < 3; ++i) put_float(13 + i, 90.0f);
  for (int i = 0; i < 3; ++i) put_int(16 + i, s.mapcrs[i]);
  put_int(23, s.nsymbt);
  if (s.imod_flags >= 0) {
    put_int(38, 1146047817);
    put_int(39, s.imod_flags);
  }
  if (s.stamp) {
    put_int(27, 20140);
    h.replace(208, 4, "MAP ");
    h.replace(212, 4,
              s.big_endian ? std::string("\x11\x11\0\0", 4) : std::string("\x44\x44\0\0", 4));
  }
  return h + std::string(static_cast<size_t>(s.nsymbt), '\xff') + data;
}

TiffTag AsciiTag(uint16_t tag, const std::string& text) {
  return {tag, 2, static_cast<uint32_t>(text.size() + 1), text + std::string(1, '\0')};
}
TiffTag RationalTag(uint16_t tag, uint32_t num, uint32_t den, bool big_endian) {
  return {tag, 5, 1, Bytes(num, big_endian) + Bytes(den, big_endian)};
}
TiffTag ShortTag(uint16_t tag, uint16_t value, bool big_endian) {
  return {tag, 3, 1, Bytes(value, big_endian)};
}
TiffTag DoubleTag(uint16_t tag, double value, bool big_endian) {
  return {tag, 12, 1, Bytes(value, big_endian)};
}

std::string MakeTiff(const TiffSpec& s, const std::string& data) {
  const bool be = s.big_endian;
  auto longv = [&](uint32_t v) { return Bytes(v, be); };
  auto shorts = [&](uint16_t v, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += Bytes(v, be);
    return out;
  };
  std::vector<TiffTag> tags = {
      {256, 4, 1, longv(static_cast<uint32_t>(s.width))},
      {257, 4, 1, longv(static_cast<uint32_t>(s.height))},
      {258, 3, static_cast<uint32_t>(s.samples), shorts(static_cast<uint16_t>(s.bits), s.samples)},
      {259, 3, 1, shorts(1, 1)},
      {262, 3, 1, shorts(s.samples >= 3 ? 2 : 1, 1)},
      {273, 4, 1, longv(0)},  // strip offset, filled in below
      {277, 3, 1, shorts(static_cast<uint16_t>(s.samples), 1)},
      {278, 4, 1, longv(static_cast<uint32_t>(s.height))},
      {279, 4, 1, longv(static_cast<uint32_t>(data.size()))},
      {339, 3, static_cast<uint32_t>(s.samples),
       shorts(static_cast<uint16_t>(s.sample_format), s.samples)},
  };
  for (const TiffTag& t : s.extra) tags.push_back(t);
  std::stable_sort(tags.begin(), tags.end(),
                   [](const TiffTag& a, const TiffTag& b) { return a.tag < b.tag; });
  std::string body = data;
  if (body.size() % 2) body.push_back('\0');
  const uint32_t ifd_bytes = 2 + 12 * static_cast<uint32_t>(tags.size()) + 4;
  uint32_t extra_bytes = 0;
  for (const TiffTag& t : tags) {
    if (t.value.size() > 4)
      extra_bytes += static_cast<uint32_t>(t.value.size() + t.value.size() % 2);
  }
  // Layout: header, then either data + IFD + tag values (what libtiff writes) or IFD + tag values
  // + data (what many cameras write; lets a test cut the pixel data while the IFD survives).
  const uint32_t ifd_offset = s.ifd_first ? 8 : 8 + static_cast<uint32_t>(body.size());
  const uint32_t data_offset = s.ifd_first ? 8 + ifd_bytes + extra_bytes : 8;
  for (TiffTag& t : tags) {
    if (t.tag == 273) t.value = longv(data_offset);
  }
  std::string ifd = Bytes(static_cast<uint16_t>(tags.size()), be);
  std::string extra;
  const uint32_t extra_base = ifd_offset + ifd_bytes;
  for (const TiffTag& t : tags) {
    ifd += Bytes(t.tag, be) + Bytes(t.type, be) + Bytes(t.count, be);
    if (t.value.size() <= 4) {
      ifd += t.value + std::string(4 - t.value.size(), '\0');
    } else {
      ifd += longv(extra_base + static_cast<uint32_t>(extra.size()));
      extra += t.value;
      if (extra.size() % 2) extra.push_back('\0');
    }
  }
  ifd += longv(0);
  const std::string head =
      (be ? std::string("MM\0*", 4) : std::string("II*\0", 4)) + longv(ifd_offset);
  return s.ifd_first ? head + ifd + extra + body : head + body + ifd + extra;
}

std::string DmBuilder::Length(uint64_t v) const {
  return version_ == 4 ? Bytes<uint64_t>(v, true) : Bytes<uint32_t>(static_cast<uint32_t>(v), true);
}

std::string DmBuilder::GroupBody(const std::vector<std::string>& tags) const {
  std::string body("\0\0", 2);  // sorted, open
  body += Length(tags.size());
  for (const std::string& t : tags) body += t;
  return body;
}

std::string DmBuilder::Group(const std::string& label, const std::vector<std::string>& tags) const {
  const std::string body = GroupBody(tags);
  std::string out = "\x14" + Bytes<uint16_t>(static_cast<uint16_t>(label.size()), true) + label;
  if (version_ == 4) out += Length(body.size());
  return out + body;
}

std::string DmBuilder::Data(const std::string& label, const std::vector<uint64_t>& info,
                            const std::string& value) const {
  std::string body = "%%%%" + Length(info.size());
  for (const uint64_t i : info) body += Length(i);
  body += value;
  std::string out = "\x15" + Bytes<uint16_t>(static_cast<uint16_t>(label.size()), true) + label;
  if (version_ == 4) out += Length(body.size());
  return out + body;
}

std::string DmBuilder::UInt32(const std::string& label, uint32_t v) const {
  return Data(label, {5}, Bytes(v, !little_));
}

std::string DmBuilder::Float(const std::string& label, float v) const {
  return Data(label, {6}, Bytes(v, !little_));
}

std::string DmBuilder::Text(const std::string& label, const std::u16string& text) const {
  std::string value;
  for (const char16_t c : text) value += Bytes<uint16_t>(static_cast<uint16_t>(c), !little_);
  return Data(label, {20, 4, text.size()}, value);
}

std::string DmBuilder::ImageEntry(int data_type, uint64_t elem_type,
                                  const std::vector<uint32_t>& dims, const std::string& data,
                                  float scale_x, const std::u16string& unit_x, float scale_y,
                                  const std::u16string& unit_y) const {
  std::vector<std::string> dim_tags;
  for (const uint32_t d : dims) dim_tags.push_back(UInt32("", d));
  const std::vector<std::string> calibration = {
      Group("Dimension",
            {Group("", {Float("Origin", 0), Float("Scale", scale_x), Text("Units", unit_x)}),
             Group("", {Float("Origin", 0), Float("Scale", scale_y), Text("Units", unit_y)})})};
  return Group(
      "",
      {Group("ImageData",
             {Group("Calibrations", calibration),
              Data("Data", {20, elem_type, data.size() / DmSimpleSize(elem_type)}, data),
              UInt32("DataType", static_cast<uint32_t>(data_type)), Group("Dimensions", dim_tags)}),
       Text("Name", u"test")});
}

std::string DmBuilder::File(const std::vector<std::string>& root_tags) const {
  const std::string body = GroupBody(root_tags);
  return Bytes<uint32_t>(static_cast<uint32_t>(version_), true) + Length(body.size()) +
         Bytes<uint32_t>(little_ ? 1 : 0, true) + body + std::string(8, '\0');
}

}  // namespace fringe::data::testing
