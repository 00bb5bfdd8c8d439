// Builds small model repositories on disk for tests.
#ifndef FRINGE_TESTS_SUPPORT_TEST_REPOSITORY_H_
#define FRINGE_TESTS_SUPPORT_TEST_REPOSITORY_H_

#include <string>

#include "fringe/v1/model_config.pb.h"

namespace fringe::testing {

// A fresh empty directory under the test temp dir, removed by the caller if wanted.
std::string MakeTempDir(const std::string& prefix);

// A tiny U-Net config (depth 2, base 4 filters, 64-pixel tiles) that runs in milliseconds.
v1::ModelConfig TinyUNetConfig();

// Writes <root>/<name>/<version>/{config.pbtxt, weights.pt} with seeded random weights.
void WriteUNetVersion(const std::string& root, const std::string& name, int version,
                      const v1::ModelConfig& config, uint64_t seed = 1);

// The same for any torch architecture ("unet", "fcn8s").
void WriteModelVersion(const std::string& root, const std::string& name, int version,
                       const v1::ModelConfig& config, uint64_t seed = 1);

// Writes a text file, creating parent directories.
void WriteTextFile(const std::string& path, const std::string& text);

}  // namespace fringe::testing

#endif  // FRINGE_TESTS_SUPPORT_TEST_REPOSITORY_H_
