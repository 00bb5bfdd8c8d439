// Helpers shared by the fringe::data tests: temporary folders, writers for hand-built files in
// the formats under test (so round trips do not depend on the readers), status assertions, and
// the location of the real microscope samples.
#ifndef FRINGE_TESTS_DATA_TEST_FILES_H_
#define FRINGE_TESTS_DATA_TEST_FILES_H_

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace fringe::data::testing {

// A fresh folder under the test temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteBytes(const std::string& path, const std::string& bytes);
std::string ReadBytes(const std::string& path);

// Succeeds when `status` has `code` and its message contains every one of `parts`.
::testing::AssertionResult StatusIs(const absl::Status& status, absl::StatusCode code,
                                    std::initializer_list<std::string> parts);

// <FRINGE_SHARED_DIR or source-dir/../shared>/microscopy-samples, and whether it exists.
std::string SamplesDir();
bool HaveSamples();

// Raw bytes of a trivially copyable value in little- or big-endian order.
template <typename T>
std::string Bytes(T value, bool big_endian = false) {
  std::string out(sizeof(T), '\0');
  std::memcpy(out.data(), &value, sizeof(T));
  if (big_endian) std::string(out.rbegin(), out.rend()).swap(out);
  return out;
}
template <typename T>
std::string BytesOf(const std::vector<T>& values, bool big_endian = false) {
  std::string out;
  for (const T& v : values) out += Bytes(v, big_endian);
  return out;
}

// An .npy file: magic, version `major`.0, the dict `header` padded to 64 bytes, then `data`.
std::string MakeNpy(const std::string& header, const std::string& data, int major = 1);

// An MRC file (MRC2014 unless stamp is false).
struct MrcSpec {
  int nx = 1, ny = 1, nz = 1, mode = 2;
  float cella[3] = {0, 0, 0};
  int mxyz[3] = {0, 0, 0};  // 0 -> nx, ny, nz
  int mapcrs[3] = {1, 2, 3};
  int nsymbt = 0;
  bool big_endian = false;
  bool stamp = true;    // "MAP " at 208 and MACHST
  int imod_flags = -1;  // >= 0 writes the IMOD stamp with these flags
};
std::string MakeMrc(const MrcSpec& spec, const std::string& data);

// A minimal uncompressed single-strip TIFF (one page, one or more samples).
struct TiffTag {
  uint16_t tag;
  uint16_t type;  // 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL, 12 DOUBLE
  uint32_t count;
  std::string value;  // already in the file's byte order
};
struct TiffSpec {
  int width = 1, height = 1, bits = 8, sample_format = 1, samples = 1;
  bool big_endian = false;
  bool ifd_first = false;  // directory before the pixel data instead of after it
  std::vector<TiffTag> extra;
};
std::string MakeTiff(const TiffSpec& spec, const std::string& data);
TiffTag AsciiTag(uint16_t tag, const std::string& text);
TiffTag RationalTag(uint16_t tag, uint32_t num, uint32_t den, bool big_endian);
TiffTag ShortTag(uint16_t tag, uint16_t value, bool big_endian);
TiffTag DoubleTag(uint16_t tag, double value, bool big_endian);

// DM3/DM4 tag-tree builder.
class DmBuilder {
 public:
  DmBuilder(int version, bool little_endian_data)
      : version_(version), little_(little_endian_data) {}
  // A group entry holding `tags` (each the output of Group/Data/Number/Text/Array).
  std::string Group(const std::string& label, const std::vector<std::string>& tags) const;
  // A data entry with an explicit encoded type and raw value bytes.
  std::string Data(const std::string& label, const std::vector<uint64_t>& info,
                   const std::string& value) const;
  std::string UInt32(const std::string& label, uint32_t v) const;
  std::string Float(const std::string& label, float v) const;
  // Array of uint16 UTF-16 code units (how DM stores strings such as Units).
  std::string Text(const std::string& label, const std::u16string& text) const;
  // An ImageList entry: ImageData with Calibrations, Data (array of `elem_type`), DataType and
  // Dimensions, values already encoded in the data byte order.
  std::string ImageEntry(int data_type, uint64_t elem_type, const std::vector<uint32_t>& dims,
                         const std::string& data, float scale_x, const std::u16string& unit_x,
                         float scale_y, const std::u16string& unit_y) const;
  // The file: header, root group with `root_tags`, 8 zero bytes.
  std::string File(const std::vector<std::string>& root_tags) const;
  bool little() const { return little_; }

 private:
  std::string Length(uint64_t v) const;  // 4 or 8 bytes, big-endian
  std::string GroupBody(const std::vector<std::string>& tags) const;
  int version_;
  bool little_;
};

}  // namespace fringe::data::testing

#define FRINGE_SKIP_WITHOUT_SAMPLES()                                                      \
  do {                                                                                     \
    if (!::fringe::data::testing::HaveSamples()) {                                         \
      GTEST_SKIP() << "real microscope samples not found at "                              \
                   << ::fringe::data::testing::SamplesDir() << " (set FRINGE_SHARED_DIR)"; \
    }                                                                                      \
  } while (0)

#endif  // FRINGE_TESTS_DATA_TEST_FILES_H_
