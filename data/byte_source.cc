#include "data/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fringe::data {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "fringe::data assumes a little-endian host (x86-64, AArch64)");

constexpr size_t kWindowBytes = 64 * 1024;

}  // namespace

absl::StatusOr<ByteSource> ByteSource::Open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": unreadable: ", std::strerror(err)));
    }
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot stat: ", std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not an image file"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": unreadable: ", std::strerror(err)));
    }
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  ByteSource source(path, fd, static_cast<uint64_t>(st.st_size));
  if (source.size_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty file (0 bytes)"));
  }
  return source;
}

ByteSource::ByteSource(ByteSource&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      window_(std::move(other.window_)),
      window_offset_(other.window_offset_) {}

ByteSource& ByteSource::operator=(ByteSource&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    window_ = std::move(other.window_);
    window_offset_ = other.window_offset_;
  }
  return *this;
}

ByteSource::~ByteSource() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status ByteSource::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(path_, ": ", message));
}

absl::Status ByteSource::ReadUncached(uint64_t offset, size_t n, void* out) {
  auto* dst = static_cast<char*>(out);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat(path_, ": read error at offset ", offset + done, ": ",
                                              std::strerror(errno)));
    }
    if (got == 0) {
      // The file shrank after Open(): report it like any other truncation.
      return Error(
          absl::StrCat("truncated: file ended at offset ", offset + done, " while reading"));
    }
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

absl::Status ByteSource::Read(uint64_t offset, size_t n, void* out, absl::string_view what) {
  if (offset > size_ || n > size_ - offset) {
    return Error(absl::StrCat("truncated: reading ", what, " needs bytes [", offset, ", ",
                              offset + n, ") but the file has ", size_, " bytes"));
  }
  if (n == 0) return absl::OkStatus();
  if (n > kWindowBytes / 2) return ReadUncached(offset, n, out);
  if (offset < window_offset_ || offset + n > window_offset_ + window_.size()) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kWindowBytes, size_ - offset));
    window_.resize(len);
    window_offset_ = offset;
    absl::Status s = ReadUncached(offset, len, window_.data());
    if (!s.ok()) {
      window_.clear();
      return s;
    }
  }
  std::memcpy(out, window_.data() + (offset - window_offset_), n);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ByteSource::ReadString(uint64_t offset, size_t n,
                                                   absl::string_view what) {
  std::string s(n, '\0');
  absl::Status st = Read(offset, n, s.data(), what);
  if (!st.ok()) return st;
  return s;
}

void SwapBytesInPlace(void* data, size_t elem_size, size_t count) {
  auto* p = static_cast<unsigned char*>(data);
  for (size_t i = 0; i < count; ++i, p += elem_size) std::reverse(p, p + elem_size);
}

}  // namespace fringe::data
