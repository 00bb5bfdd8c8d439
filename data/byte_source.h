// Bounds-checked random access to a file's bytes, shared by the hand-written format parsers
// (NPY, MRC, DM3/DM4, TIFF tags) so that every one of them reports a truncated or corrupt file
// as an error naming the file, never reads past the end, and never loads a whole stack to get
// one frame.
#ifndef FRINGE_DATA_BYTE_SOURCE_H_
#define FRINGE_DATA_BYTE_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fringe::data {

// A read-only file opened for random access. Small reads are served from a 64 KiB window so the
// tag-by-tag parsers (DM, TIFF IFDs) do not issue one system call per field. Move-only; not
// thread-safe (one parser owns one source).
class ByteSource {
 public:
  // Opens `path`. NotFound when it does not exist, InvalidArgument when it is a directory or
  // empty, PermissionDenied when it cannot be opened for reading; messages name the path.
  static absl::StatusOr<ByteSource> Open(const std::string& path);

  ByteSource(ByteSource&& other) noexcept;
  ByteSource& operator=(ByteSource&& other) noexcept;
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;
  ~ByteSource();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  // Copies exactly `n` bytes starting at `offset` into `out`. When the range runs past the end of
  // the file, returns InvalidArgument "<path>: truncated: reading <what> needs bytes [a, b) but
  // the file has N bytes".
  absl::Status Read(uint64_t offset, size_t n, void* out, absl::string_view what);
  absl::StatusOr<std::string> ReadString(uint64_t offset, size_t n, absl::string_view what);

  // InvalidArgument "<path>: <message>", the error every parser uses for malformed content.
  absl::Status Error(absl::string_view message) const;

 private:
  ByteSource(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  absl::Status ReadUncached(uint64_t offset, size_t n, void* out);

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string window_;  // cached bytes [window_offset_, window_offset_ + window_.size())
  uint64_t window_offset_ = 0;
};

// Byte-order helpers. The host is little-endian (checked in byte_source.cc).
template <typename T>
T LoadLittle(const void* p) {
  static_assert(std::is_trivially_copyable_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
T LoadBig(const void* p) {
  static_assert(std::is_trivially_copyable_v<T>);
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

template <typename T>
T Load(const void* p, bool big_endian) {
  return big_endian ? LoadBig<T>(p) : LoadLittle<T>(p);
}

// Reverses the byte order of `count` elements of `elem_size` bytes each, in place.
void SwapBytesInPlace(void* data, size_t elem_size, size_t count);

}  // namespace fringe::data

#endif  // FRINGE_DATA_BYTE_SOURCE_H_
