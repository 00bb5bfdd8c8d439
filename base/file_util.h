// Whole-file reads and atomic writes: the one place fringe touches a file as a whole.
// Errors name the path: NOT_FOUND (no such file or directory), PERMISSION_DENIED (cannot be
// read or written), INVALID_ARGUMENT (a text proto that does not parse), INTERNAL (the rest).
#ifndef FRINGE_BASE_FILE_UTIL_H_
#define FRINGE_BASE_FILE_UTIL_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace fringe {

// The status for a failed system call: `message` plus strerror(err), coded as above.
absl::Status ErrnoStatus(int err, const std::string& message);

// The whole file, bytes as they are.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Parses a text-format proto file into `message` (cleared first). INVALID_ARGUMENT names the
// path, the message type and the parser's line/column complaint.
absl::Status ReadTextProto(const std::string& path, google::protobuf::Message* message);

// Replaces `path` with `bytes` so that readers see the old file or the new one, never a part:
// written to a temporary file next to it, fsync'ed, renamed over it (keeping its permissions,
// else 0644), and the directory fsync'ed (best effort).
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace fringe

#endif  // FRINGE_BASE_FILE_UTIL_H_
