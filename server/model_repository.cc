#include "server/model_repository.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "models/model_config.h"

namespace fringe {

namespace fs = std::filesystem;

ModelRepository::ModelRepository(Options options, ModelRegistry registry)
    : options_(std::move(options)), registry_(std::move(registry)) {}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(const Options& options,
                                                                         ModelRegistry registry) {
  if (options.root.empty()) return absl::InvalidArgumentError("repository path is empty");
  return std::unique_ptr<ModelRepository>(new ModelRepository(options, std::move(registry)));
}

ModelRepository::VersionEntry ModelRepository::LoadVersion(const std::string& dir) const {
  VersionEntry entry;
  entry.dir = dir;
  auto config = LoadModelConfig(dir + "/config.pbtxt");
  if (!config.ok()) {
    entry.state = v1::MODEL_STATE_FAILED;
    entry.error = std::string(config.status().message());
    return entry;
  }
  entry.config = *config;
  auto segmenter = registry_.Create(entry.config, LoadContext{dir, options_.runtime});
  if (!segmenter.ok()) {
    entry.state = v1::MODEL_STATE_FAILED;
    entry.error = std::string(segmenter.status().message());
    return entry;
  }
  if (options_.warm_up) {
    // The first forward pass allocates and picks kernels; do it before declaring READY.
    const int side = entry.config.tile_size();
    std::vector<float> tile(static_cast<size_t>(side) * side, 0.0f), probs;
    if (absl::Status s = (*segmenter)->Predict(tile.data(), 1, side, side, &probs); !s.ok()) {
      entry.state = v1::MODEL_STATE_FAILED;
      entry.error = absl::StrCat("warm-up failed: ", s.message());
      return entry;
    }
  }
  entry.segmenter = std::move(*segmenter);
  entry.state = v1::MODEL_STATE_READY;
  return entry;
}

absl::Status ModelRepository::LoadAll() {
  std::error_code ec;
  if (!fs::is_directory(options_.root, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model repository ", options_.root, " is not a directory"));
  }
  std::map<std::string, Versions> loaded;
  std::vector<fs::path> model_dirs;
  for (const auto& e : fs::directory_iterator(options_.root, ec)) {
    // Hidden directories (e.g. .checkpoints of a training run) are not models.
    if (e.is_directory() && e.path().filename().string()[0] != '.') {
      model_dirs.push_back(e.path());
    }
  }
  std::sort(model_dirs.begin(), model_dirs.end());
  int ready_count = 0;
  for (const fs::path& model_dir : model_dirs) {
    const std::string name = model_dir.filename().string();
    for (const auto& v : fs::directory_iterator(model_dir, ec)) {
      int64_t version = 0;
      if (!v.is_directory() || !absl::SimpleAtoi(v.path().filename().string(), &version) ||
          version <= 0) {
        continue;  // Not a version directory (e.g. a README next to the versions).
      }
      VersionEntry entry = LoadVersion(v.path().string());
      if (entry.state == v1::MODEL_STATE_READY) {
        ++ready_count;
        spdlog::info("model_loaded name={} version={} architecture={} parameters={}", name, version,
                     entry.config.architecture(), entry.segmenter->parameter_count());
      } else {
        spdlog::warn("model_load_failed name={} version={} error=\"{}\"", name, version,
                     entry.error);
      }
      loaded[name][version] = std::move(entry);
    }
  }
  if (ready_count == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no loadable model version under ", options_.root));
  }
  std::string default_model = options_.default_model;
  if (default_model.empty()) {
    default_model = loaded.count("default") ? "default" : loaded.begin()->first;
  } else if (!loaded.count(default_model)) {
    std::vector<std::string> names;
    for (const auto& [n, versions] : loaded) names.push_back(n);
    return absl::NotFoundError(
        absl::StrCat("default model \"", default_model,
                     "\" is not in the repository; available: ", absl::StrJoin(names, ", ")));
  }
  std::lock_guard<std::mutex> lock(mu_);
  models_ = std::move(loaded);
  default_model_ = default_model;
  ready_ = true;
  return absl::OkStatus();
}

bool ModelRepository::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

std::string ModelRepository::default_model() const {
  std::lock_guard<std::mutex> lock(mu_);
  return default_model_;
}

int64_t ModelRepository::ServingVersion(const Versions& versions) {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->second.state == v1::MODEL_STATE_READY) return it->first;
  }
  return 0;
}

std::string ModelRepository::AvailableLocked() const {
  std::vector<std::string> parts;
  for (const auto& [name, versions] : models_) {
    std::vector<std::string> vs;
    for (const auto& [v, entry] : versions) {
      if (entry.state == v1::MODEL_STATE_READY) vs.push_back(absl::StrCat(v));
    }
    parts.push_back(absl::StrCat(name, " (versions ",
                                 vs.empty() ? "none ready" : absl::StrJoin(vs, ", "), ")"));
  }
  return absl::StrJoin(parts, "; ");
}

absl::StatusOr<std::map<std::string, ModelRepository::Versions>::const_iterator>
ModelRepository::FindLocked(const std::string& name) const {
  if (!ready_) return absl::UnavailableError("the server is still loading its models");
  const std::string& wanted = name.empty() ? default_model_ : name;
  auto model = models_.find(wanted);
  if (model == models_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown model \"", wanted, "\"; available: ", AvailableLocked()));
  }
  return model;
}

absl::StatusOr<ServableModel> ModelRepository::Get(const std::string& name, int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  FRINGE_ASSIGN_OR_RETURN(const auto model, FindLocked(name));
  const std::string& wanted = model->first;
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.version is ", version, "; expected >= 0"));
  }
  const int64_t chosen = version == 0 ? ServingVersion(model->second) : version;
  auto entry = model->second.find(chosen);
  if (entry == model->second.end()) {
    return absl::NotFoundError(absl::StrCat("model \"", wanted, "\" has no version ", version,
                                            "; available: ", AvailableLocked()));
  }
  if (entry->second.state != v1::MODEL_STATE_READY) {
    return absl::FailedPreconditionError(absl::StrCat("model \"", wanted, "\" version ", chosen,
                                                      " failed to load: ", entry->second.error));
  }
  return ServableModel{wanted, chosen, entry->second.config, entry->second.segmenter,
                       entry->second.dir};
}

v1::ModelDescription ModelRepository::DescribeLocked(const std::string& name,
                                                     const Versions& versions) const {
  v1::ModelDescription d;
  d.set_name(name);
  d.set_serving_version(ServingVersion(versions));
  d.set_is_default(name == default_model_);
  for (const auto& [version, entry] : versions) {
    v1::ModelVersionInfo* info = d.add_versions();
    info->set_version(version);
    info->set_state(entry.state);
    info->set_error(entry.error);
    *info->mutable_config() = entry.config;
    if (entry.segmenter) info->set_parameters(entry.segmenter->parameter_count());
  }
  return d;
}

v1::ListModelsResponse ModelRepository::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  v1::ListModelsResponse response;
  response.set_default_model(default_model_);
  for (const auto& [name, versions] : models_) {
    *response.add_models() = DescribeLocked(name, versions);
  }
  return response;
}

absl::StatusOr<v1::ModelDescription> ModelRepository::Describe(const std::string& name,
                                                               int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  FRINGE_ASSIGN_OR_RETURN(const auto model, FindLocked(name));
  const std::string& wanted = model->first;
  v1::ModelDescription d = DescribeLocked(wanted, model->second);
  if (version != 0) {
    auto* versions = d.mutable_versions();
    auto keep = std::find_if(versions->begin(), versions->end(),
                             [&](const v1::ModelVersionInfo& v) { return v.version() == version; });
    if (keep == versions->end()) {
      return absl::NotFoundError(absl::StrCat("model \"", wanted, "\" has no version ", version,
                                              "; available: ", AvailableLocked()));
    }
    v1::ModelVersionInfo only = *keep;
    versions->Clear();
    *versions->Add() = only;
  }
  return d;
}

}  // namespace fringe
