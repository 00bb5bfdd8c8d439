// What the U-Net and FCN8s attribution tests share: random frames, frame <-> tensor, and an
// Explainer loaded from a network's weights written as a temporary model version.
#ifndef FRINGE_TESTS_MODELS_ATTRIBUTION_ATTRIBUTION_TEST_UTIL_H_
#define FRINGE_TESTS_MODELS_ATTRIBUTION_ATTRIBUTION_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

#include "models/attribution/attribution.h"
#include "models/repository_layout.h"
#include "tests/support/test_repository.h"

namespace fringe::testing {

inline cv::Mat RandomFrame(int rows, int cols, uint64_t seed) {
  cv::Mat frame(rows, cols, CV_32F);
  cv::RNG rng(seed);
  rng.fill(frame, cv::RNG::NORMAL, 0, 1);
  return frame;
}

// A 1 x 1 x rows x cols copy of a CV_32F frame.
inline torch::Tensor ToTensor(const cv::Mat& mat) {
  return torch::from_blob(const_cast<float*>(mat.ptr<float>()), {1, 1, mat.rows, mat.cols},
                          torch::kFloat32)
      .clone();
}

// A request for `method` explaining the logits of class 1 inside `box`.
inline AttributionRequest BoxRequest(const std::string& method, const cv::Rect& box,
                                     std::map<std::string, std::string> parameters = {}) {
  AttributionRequest request;
  request.method = method;
  request.parameters = std::move(parameters);
  request.target.kind = AttributionTarget::Kind::kBox;
  request.target.box = box;
  return request;
}

// Saves `net` as a version's weights in a temporary folder and loads an Explainer from it with
// `config`; null (and a test failure) when that fails.
template <class Net>
std::unique_ptr<Explainer> LoadExplainerFor(Net& net, const v1::ModelConfig& config) {
  const std::string dir = MakeTempDir("fringe_attribution");
  torch::save(net, repository_layout::WeightsPath(dir));
  auto explainer = Explainer::Load(config, dir);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(explainer.ok()) << explainer.status();
  return explainer.ok() ? std::move(explainer).value() : nullptr;
}

}  // namespace fringe::testing

#endif  // FRINGE_TESTS_MODELS_ATTRIBUTION_ATTRIBUTION_TEST_UTIL_H_
