#include "tests/support/test_repository.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "models/model_config.h"
#include "models/repository_layout.h"
#include "models/torch_models.h"

namespace fringe::testing {

namespace fs = std::filesystem;

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + "_XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

v1::ModelConfig TinyUNetConfig() {
  v1::ModelConfig config;
  config.set_architecture("unet");
  config.mutable_unet()->set_depth(2);
  config.mutable_unet()->set_base_filters(4);
  config.mutable_unet()->set_batch_norm(true);
  config.set_tile_size(64);
  config.set_tile_margin(8);
  config.set_description("tiny test U-Net");
  ApplyModelConfigDefaults(&config);
  return config;
}

void WriteTextFile(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

namespace {

// Writes <root>/<name>/<version>/config.pbtxt and its weights with `write_weights`.
void WriteVersion(const std::string& root, const std::string& name, int version,
                  const v1::ModelConfig& config,
                  const std::function<absl::Status(const std::string&)>& write_weights) {
  const std::string dir = repository_layout::VersionDir(root, name, version);
  fs::create_directories(dir);
  WriteTextFile(repository_layout::ConfigPath(dir), ModelConfigToText(config));
  const absl::Status s = write_weights(repository_layout::WeightsPath(dir));
  if (!s.ok()) throw std::runtime_error(std::string(s.message()));
}

}  // namespace

void WriteUNetVersion(const std::string& root, const std::string& name, int version,
                      const v1::ModelConfig& config, uint64_t seed) {
  WriteVersion(root, name, version, config, [&](const std::string& weights) {
    return WriteInitialUNetWeights(config, weights, seed);
  });
}

void WriteModelVersion(const std::string& root, const std::string& name, int version,
                       const v1::ModelConfig& config, uint64_t seed) {
  WriteVersion(root, name, version, config, [&](const std::string& weights) {
    return WriteInitialWeights(config, weights, seed);
  });
}

}  // namespace fringe::testing
