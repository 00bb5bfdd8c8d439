#include "server/model_repository.h"

#include <google/protobuf/text_format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/image_io.h"
#include "models/model_config.h"
#include "models/receptive_field.h"
#include "models/repository_layout.h"
#include "server/serving_policy.h"

namespace fringe {

namespace fs = std::filesystem;

ModelRepository::ModelRepository(Options options, ModelRegistry registry)
    : options_(std::move(options)), registry_(std::move(registry)) {}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(const Options& options,
                                                                         ModelRegistry registry) {
  if (options.root.empty()) return absl::InvalidArgumentError("repository path is empty");
  return std::unique_ptr<ModelRepository>(new ModelRepository(options, std::move(registry)));
}

namespace {

// Reads <root>/<name>/serving.pbtxt; a missing file is the default policy (latest).
absl::Status ReadPolicy(const std::string& path, v1::ServingPolicy* policy) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return absl::OkStatus();
  return ReadTextProto(path, policy);
}

}  // namespace

ModelRepository::VersionEntry ModelRepository::LoadVersion(const std::string& dir) const {
  VersionEntry entry;
  entry.dir = dir;
  auto config = LoadModelConfig(repository_layout::ConfigPath(dir));
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
  std::map<std::string, Model> loaded;
  int ready_count = 0;
  for (const std::string& name : repository_layout::ListModels(options_.root)) {
    // Every version-named directory, complete or not: a broken one is reported as FAILED.
    for (int64_t version :
         repository_layout::ListVersions(options_.root, name, repository_layout::Versions::kAll)) {
      VersionEntry entry = LoadVersion(repository_layout::VersionDir(options_.root, name, version));
      if (entry.state == v1::MODEL_STATE_READY) {
        ++ready_count;
        spdlog::info("model_loaded name={} version={} architecture={} parameters={}", name, version,
                     entry.config.architecture(), entry.segmenter->parameter_count());
      } else {
        spdlog::warn("model_load_failed name={} version={} error=\"{}\"", name, version,
                     entry.error);
      }
      loaded[name].versions[version] = std::move(entry);
    }
    if (loaded.count(name)) {
      v1::ServingPolicy& policy = loaded[name].policy;
      if (absl::Status st =
              ReadPolicy(repository_layout::ServingPolicyPath(options_.root, name), &policy);
          !st.ok()) {
        spdlog::warn("serving_policy_ignored name={} error=\"{}\"", name,
                     std::string(st.message()));
        policy.Clear();
      }
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
  for (const auto& [name, model] : models_) {
    if (model.policy.pinned_version() != 0) {
      spdlog::info("serving_policy name={} pinned_version={} serving={}", name,
                   model.policy.pinned_version(), ServingVersion(model));
    }
  }
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

int64_t ModelRepository::ServingVersion(const Model& model) {
  std::vector<int64_t> ready;
  for (const auto& [version, entry] : model.versions) {
    if (entry.state == v1::MODEL_STATE_READY) ready.push_back(version);
  }
  return serving_policy::ServingVersion(model.policy, ready);
}

std::string ModelRepository::AvailableLocked() const {
  std::vector<std::string> parts;
  for (const auto& [name, model] : models_) {
    std::vector<std::string> vs;
    for (const auto& [v, entry] : model.versions) {
      if (entry.state == v1::MODEL_STATE_READY) vs.push_back(absl::StrCat(v));
    }
    parts.push_back(absl::StrCat(name, " (versions ",
                                 vs.empty() ? "none ready" : absl::StrJoin(vs, ", "), ")"));
  }
  return absl::StrJoin(parts, "; ");
}

absl::StatusOr<std::map<std::string, ModelRepository::Model>::const_iterator>
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
  auto entry = model->second.versions.find(chosen);
  if (entry == model->second.versions.end()) {
    return absl::NotFoundError(absl::StrCat("model \"", wanted, "\" has no version ", version,
                                            "; available: ", AvailableLocked()));
  }
  if (entry->second.state == v1::MODEL_STATE_UNLOADED) {
    return absl::FailedPreconditionError(absl::StrCat("model \"", wanted, "\" version ", chosen,
                                                      " is unloaded; Models.Load brings it back"));
  }
  if (entry->second.state != v1::MODEL_STATE_READY) {
    return absl::FailedPreconditionError(absl::StrCat("model \"", wanted, "\" version ", chosen,
                                                      " failed to load: ", entry->second.error));
  }
  return ServableModel{wanted, chosen, entry->second.config, entry->second.segmenter,
                       entry->second.dir};
}

v1::ModelDescription ModelRepository::DescribeLocked(const std::string& name,
                                                     const Model& model) const {
  v1::ModelDescription d;
  d.set_name(name);
  d.set_serving_version(ServingVersion(model));
  d.set_is_default(name == default_model_);
  d.set_pinned_version(model.policy.pinned_version());
  // The serving network's receptive field (absent for models that are not networks).
  auto serving = model.versions.find(d.serving_version());
  if (serving != model.versions.end()) {
    auto field = AnalyticReceptiveField(serving->second.config);
    if (field.ok()) ReceptiveFieldToProto(*field, d.mutable_receptive_field());
  }
  for (const auto& [version, entry] : model.versions) {
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
  for (const auto& [name, model] : models_) {
    *response.add_models() = DescribeLocked(name, model);
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

ModelRepository::~ModelRepository() {
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    stop_watching_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void ModelRepository::SetOnChange(std::function<void()> on_change) {
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = std::move(on_change);
}

void ModelRepository::NotifyChange() {
  std::function<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    callback = on_change_;
  }
  if (callback) callback();
}

std::string ModelRepository::ResolveName(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return name.empty() ? default_model_ : name;
}

absl::Status ModelRepository::SavePolicy(const std::string& name,
                                         const v1::ServingPolicy& policy) const {
  std::string text;
  google::protobuf::TextFormat::PrintToString(policy, &text);
  return WriteFileAtomically(
      repository_layout::ServingPolicyPath(options_.root, name),
      "# Written by fringe-server (Models.Promote/Rollback); 0 = latest ready version.\n" + text);
}

absl::Status ModelRepository::LoadAndInstall(const std::string& name, int64_t version) {
  const std::string dir = repository_layout::VersionDir(options_.root, name, version);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model \"", name, "\" has no version directory ", dir));
  }
  VersionEntry entry = LoadVersion(dir);  // Slow: outside the lock, old version serving.
  const bool ok = entry.state == v1::MODEL_STATE_READY;
  const std::string error = entry.error;
  if (ok) {
    spdlog::info("model_loaded name={} version={} architecture={} parameters={}", name, version,
                 entry.config.architecture(), entry.segmenter->parameter_count());
  } else {
    spdlog::warn("model_load_failed name={} version={} error=\"{}\"", name, version, error);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    models_[name].versions[version] = std::move(entry);
  }
  if (!ok) {
    return absl::FailedPreconditionError(
        absl::StrCat("model \"", name, "\" version ", version, " failed to load: ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ModelDescription> ModelRepository::Load(const std::string& name,
                                                           int64_t version) {
  if (!ready()) return absl::UnavailableError("the server is still loading its models");
  if (version < 0) return absl::InvalidArgumentError("version must be >= 0");
  const std::string wanted = ResolveName(name);
  if (wanted.empty() || wanted.find('/') != std::string::npos || wanted[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat("bad model name \"", wanted, "\""));
  }
  {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
    if (version == 0) {
      // Every version directory of this model not known yet.
      std::error_code ec;
      if (!fs::is_directory(repository_layout::ModelDir(options_.root, wanted), ec)) {
        return absl::NotFoundError(absl::StrCat(
            "no model directory ", repository_layout::ModelDir(options_.root, wanted)));
      }
      std::vector<int64_t> fresh;
      for (int64_t number : repository_layout::ListVersions(options_.root, wanted,
                                                            repository_layout::Versions::kAll)) {
        std::lock_guard<std::mutex> lock(mu_);
        auto model = models_.find(wanted);
        if (model == models_.end() || !model->second.versions.count(number)) {
          fresh.push_back(number);
        }
      }
      for (int64_t v : fresh) LoadAndInstall(wanted, v).IgnoreError();  // Recorded per version.
    } else {
      absl::Status s = LoadAndInstall(wanted, version);
      if (!s.ok()) {
        NotifyChange();
        return s;
      }
    }
  }
  NotifyChange();
  return Describe(wanted, 0);
}

absl::StatusOr<v1::ModelDescription> ModelRepository::Unload(const std::string& name,
                                                             int64_t version) {
  std::shared_ptr<const Segmenter> released;  // Freed outside the lock.
  std::string wanted;
  {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    FRINGE_ASSIGN_OR_RETURN(const auto found, FindLocked(name));
    wanted = found->first;
    Model& model = models_[wanted];
    auto entry = model.versions.find(version);
    if (entry == model.versions.end()) {
      return absl::NotFoundError(absl::StrCat("model \"", wanted, "\" has no version ", version,
                                              "; available: ", AvailableLocked()));
    }
    if (entry->second.state != v1::MODEL_STATE_READY) {
      return absl::FailedPreconditionError(
          absl::StrCat("model \"", wanted, "\" version ", version, " is not loaded"));
    }
    if (model.policy.pinned_version() == version) {
      return absl::FailedPreconditionError(
          absl::StrCat("model \"", wanted, "\" version ", version,
                       " is pinned; promote another version (or 0 for latest) first"));
    }
    int ready = 0;
    for (const auto& [v, e] : model.versions) ready += e.state == v1::MODEL_STATE_READY;
    if (wanted == default_model_ && ready == 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "version ", version, " is the last ready version of the default model \"", wanted, "\""));
    }
    released = std::move(entry->second.segmenter);
    entry->second.state = v1::MODEL_STATE_UNLOADED;
    entry->second.error.clear();
  }
  spdlog::info("model_unloaded name={} version={}", wanted, version);
  // Requests still running keep their reference; the memory goes with the last of them.
  released.reset();
#ifdef __GLIBC__
  // Give the freed weights back to the system now rather than keep them in malloc's pools.
  malloc_trim(0);
#endif
  NotifyChange();
  return Describe(wanted, 0);
}

absl::Status ModelRepository::PinVersion(const std::string& name, int64_t version,
                                         v1::ServingPolicy policy) {
  if (version != 0) {
    bool ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Versions& versions = models_[name].versions;
      auto entry = versions.find(version);
      ready = entry != versions.end() && entry->second.state == v1::MODEL_STATE_READY;
    }
    // A version not loaded yet is loaded first; if that fails nothing changes.
    if (!ready) FRINGE_RETURN_IF_ERROR(LoadAndInstall(name, version));
  }
  policy.set_pinned_version(version);
  FRINGE_RETURN_IF_ERROR(SavePolicy(name, policy));
  std::lock_guard<std::mutex> lock(mu_);
  models_[name].policy = policy;
  return absl::OkStatus();
}

absl::StatusOr<v1::ModelDescription> ModelRepository::Promote(const std::string& name,
                                                              int64_t version) {
  if (version < 0) return absl::InvalidArgumentError("version must be >= 0");
  std::string wanted;
  {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
    v1::ServingPolicy policy;
    {
      std::lock_guard<std::mutex> lock(mu_);
      FRINGE_ASSIGN_OR_RETURN(const auto found, FindLocked(name));
      wanted = found->first;
      // Remember what serves now, before loading `version` could change "latest".
      policy =
          serving_policy::Promote(found->second.policy, ServingVersion(found->second), version);
    }
    FRINGE_RETURN_IF_ERROR(PinVersion(wanted, version, std::move(policy)));
  }
  spdlog::info("model_promoted name={} pinned_version={}", wanted, version);
  NotifyChange();
  return Describe(wanted, 0);
}

absl::StatusOr<v1::ModelDescription> ModelRepository::Rollback(const std::string& name) {
  std::string wanted;
  int64_t target = 0;
  {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
    v1::ServingPolicy policy;
    {
      std::lock_guard<std::mutex> lock(mu_);
      FRINGE_ASSIGN_OR_RETURN(const auto found, FindLocked(name));
      wanted = found->first;
      FRINGE_ASSIGN_OR_RETURN(
          serving_policy::RollbackPlan plan,
          serving_policy::Rollback(found->second.policy, ServingVersion(found->second), wanted));
      target = plan.target;
      policy = std::move(plan.policy);
    }
    FRINGE_RETURN_IF_ERROR(PinVersion(wanted, target, std::move(policy)));
  }
  spdlog::info("model_rolled_back name={} pinned_version={}", wanted, target);
  NotifyChange();
  return Describe(wanted, 0);
}

int ModelRepository::Rescan() {
  if (!ready()) return 0;
  int changed = 0;
  {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
    // What is on disk now: complete versions only, so a directory still being copied in by
    // hand is picked up once its config.pbtxt is there.
    std::error_code ec;
    if (!fs::is_directory(options_.root, ec)) return 0;  // Briefly unreadable: change nothing.
    std::map<std::string, std::vector<int64_t>> on_disk;
    for (const std::string& name : repository_layout::ListModels(options_.root)) {
      on_disk[name] = repository_layout::ListVersions(options_.root, name);
    }
    std::vector<std::pair<std::string, int64_t>> to_load;
    std::vector<std::shared_ptr<const Segmenter>> released;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [name, versions] : on_disk) {
        auto model = models_.find(name);
        for (int64_t v : versions) {
          if (model == models_.end() || !model->second.versions.count(v)) {
            to_load.emplace_back(name, v);
          }
        }
      }
      // Versions whose directory vanished are dropped (never the last of the default model).
      for (auto& [name, model] : models_) {
        const auto& present = on_disk[name];
        for (auto it = model.versions.begin(); it != model.versions.end();) {
          const bool gone = std::find(present.begin(), present.end(), it->first) == present.end();
          int ready = 0;
          for (const auto& [v, e] : model.versions) ready += e.state == v1::MODEL_STATE_READY;
          if (gone && !(name == default_model_ && ready == 1 &&
                        it->second.state == v1::MODEL_STATE_READY)) {
            spdlog::info("model_removed name={} version={}", name, it->first);
            released.push_back(std::move(it->second.segmenter));
            it = model.versions.erase(it);
            ++changed;
          } else {
            ++it;
          }
        }
      }
    }
    for (const auto& [name, version] : to_load) {
      LoadAndInstall(name, version).IgnoreError();  // Recorded as READY or FAILED.
      ++changed;
    }
  }
  if (changed > 0) NotifyChange();
  return changed;
}

void ModelRepository::StartWatching(std::chrono::milliseconds interval) {
  if (watcher_.joinable() || interval.count() <= 0) return;
  watcher_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(watch_mu_);
    while (!watch_cv_.wait_for(lock, interval, [this] { return stop_watching_; })) {
      lock.unlock();
      Rescan();
      lock.lock();
    }
  });
}

}  // namespace fringe
