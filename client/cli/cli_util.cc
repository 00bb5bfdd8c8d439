#include "client/cli/cli_util.h"

#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "data/image_io.h"

namespace fringe {

int ReportError(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "error: %s: %s (%s)\n", what.c_str(), std::string(status.message()).c_str(),
               absl::StatusCodeToString(status.code()).c_str());
  return 1;
}

absl::Status WriteImageFile(const std::string& path, const cv::Mat& image) {
  const std::string ext = std::filesystem::path(path).extension().string();
  std::vector<uchar> bytes;
  try {
    if (!cv::imencode(ext, image, bytes)) {
      return absl::InternalError(absl::StrCat("cannot encode ", path));
    }
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("cannot encode ", path, ": ", e.what()));
  }
  return WriteFileAtomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace fringe
