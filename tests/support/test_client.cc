#include "tests/support/test_client.h"

#include <opencv2/core.hpp>

#include "tests/support/test_repository.h"

namespace fringe::testing {

std::unique_ptr<FringeClient> ConnectTo(const std::string& address, std::chrono::seconds timeout) {
  FringeClient::Options options;
  options.target = address;
  if (timeout.count() > 0) options.timeout = timeout;
  return FringeClient::Create(options);
}

v1::SegmentRequest NoiseRequest(const std::string& id, int rows, int cols, uint64_t seed) {
  v1::SegmentRequest request;
  request.set_id(id);
  cv::Mat frame(rows, cols, CV_16U);
  cv::RNG(seed).fill(frame, cv::RNG::UNIFORM, 0, 5000);
  *request.mutable_image() = *MakeWireImage(frame);
  return request;
}

std::string MakeTinyRepository(const std::string& prefix) {
  const std::string root = MakeTempDir(prefix);
  WriteUNetVersion(root, "tiny", 1, TinyUNetConfig(), 1);
  WriteUNetVersion(root, "tiny", 2, TinyUNetConfig(), 2);
  return root;
}

}  // namespace fringe::testing
