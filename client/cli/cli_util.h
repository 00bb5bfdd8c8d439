// Small pieces the command-line tools share: error reporting and writing images atomically.
#ifndef FRINGE_CLIENT_CLI_CLI_UTIL_H_
#define FRINGE_CLIENT_CLI_CLI_UTIL_H_

#include <opencv2/core.hpp>
#include <string>

#include "absl/status/status.h"

namespace fringe {

// Prints "error: WHAT: MESSAGE (CODE)" to stderr and returns exit code 1.
int ReportError(const std::string& what, const absl::Status& status);

// Encodes `image` in the format its extension names (.png, .tif, ...) and replaces `path`
// atomically (temporary file + rename), so readers never see half an image.
absl::Status WriteImageFile(const std::string& path, const cv::Mat& image);

}  // namespace fringe

#endif  // FRINGE_CLIENT_CLI_CLI_UTIL_H_
