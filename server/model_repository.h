// The models a server holds: `<root>/<name>/<version>/{config.pbtxt,weights.pt}` with
// integer versions. Each model serves its pinned version, or else its highest READY version
// (policy in `<root>/<name>/serving.pbtxt`). A version that fails to load is kept as FAILED
// with its error and never takes a READY version down. Versions can be loaded, unloaded,
// promoted and rolled back while serving; a request keeps the version it started with.
#ifndef FRINGE_SERVER_MODEL_REPOSITORY_H_
#define FRINGE_SERVER_MODEL_REPOSITORY_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "fringe/v1/models.pb.h"
#include "models/model_registry.h"
#include "models/segmenter.h"

namespace fringe {

// A loaded model version ready to run; shared so a request keeps its model alive even if the
// version is unloaded meanwhile.
struct ServableModel {
  std::string name;
  int64_t version = 0;
  v1::ModelConfig config;
  std::shared_ptr<const Segmenter> segmenter;
  std::string version_dir;  // <root>/<name>/<version>
};

class ModelRepository {
 public:
  struct Options {
    std::string root;
    std::string default_model;  // Empty: "default" if present, else the first name.
    RuntimeOptions runtime;
    bool warm_up = true;  // Run one tile through each version after loading.
  };

  // Creates an empty repository; nothing is loaded until LoadAll().
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(const Options& options,
                                                                 ModelRegistry registry);

  // Scans the root and loads every version. Returns FAILED_PRECONDITION when the root does not
  // exist or no version of any model could be loaded, and NOT_FOUND when a configured default
  // model is absent; individual broken versions are recorded, not fatal.
  absl::Status LoadAll();

  // True once LoadAll() has succeeded.
  bool ready() const;

  // The version to run for (name, version); an empty name means the default model and
  // version 0 the serving version. NOT_FOUND lists what is available; UNAVAILABLE while
  // loading; FAILED_PRECONDITION for a version that failed to load.
  absl::StatusOr<ServableModel> Get(const std::string& name, int64_t version) const;

  // Lifecycle (see Models.Load/Unload/Promote/Rollback in models.proto); each returns the
  // description after the change.
  absl::StatusOr<v1::ModelDescription> Load(const std::string& name, int64_t version);
  absl::StatusOr<v1::ModelDescription> Unload(const std::string& name, int64_t version);
  absl::StatusOr<v1::ModelDescription> Promote(const std::string& name, int64_t version);
  absl::StatusOr<v1::ModelDescription> Rollback(const std::string& name);

  // Picks up versions and models added to or removed from disk since the last scan (new
  // ones are loaded, vanished ones dropped). Returns how many versions changed.
  int Rescan();
  // Rescans every `interval` on a background thread until the repository is destroyed.
  void StartWatching(std::chrono::milliseconds interval);
  // Called (without locks held) after every change, e.g. to drop caches of unloaded versions.
  void SetOnChange(std::function<void()> on_change);
  ~ModelRepository();

  v1::ListModelsResponse List() const;
  absl::StatusOr<v1::ModelDescription> Describe(const std::string& name, int64_t version) const;
  std::string default_model() const;

 private:
  struct VersionEntry {
    v1::ModelState state = v1::MODEL_STATE_UNSPECIFIED;
    std::string error;
    v1::ModelConfig config;
    std::shared_ptr<const Segmenter> segmenter;
    std::string dir;
  };
  using Versions = std::map<int64_t, VersionEntry>;
  struct Model {
    Versions versions;
    v1::ServingPolicy policy;
  };

  ModelRepository(Options options, ModelRegistry registry);
  VersionEntry LoadVersion(const std::string& dir) const;
  v1::ModelDescription DescribeLocked(const std::string& name, const Model& model) const;
  // Loads <root>/<name>/<version> outside the lock and installs it; FAILED_PRECONDITION
  // with the reason when it fails (recorded as FAILED).
  absl::Status LoadAndInstall(const std::string& name, int64_t version);
  absl::Status SavePolicy(const std::string& name, const v1::ServingPolicy& policy) const;
  // Pins `version` of `name` (0 = latest) with `policy`, whose history the caller updated:
  // loads the version if it is not ready, saves the policy file, installs it. Nothing changes
  // when loading or saving fails. Called with lifecycle_mu_ held.
  absl::Status PinVersion(const std::string& name, int64_t version, v1::ServingPolicy policy);
  std::string ResolveName(const std::string& name) const;
  void NotifyChange();
  std::string AvailableLocked() const;
  // The entry for `name` (empty = the default model): UNAVAILABLE while loading, NOT_FOUND
  // listing what exists.
  absl::StatusOr<std::map<std::string, Model>::const_iterator> FindLocked(
      const std::string& name) const;
  static int64_t ServingVersion(const Model& model);

  const Options options_;
  const ModelRegistry registry_;
  mutable std::mutex mu_;
  std::map<std::string, Model> models_;
  std::string default_model_;
  bool ready_ = false;
  std::function<void()> on_change_;
  // Serialises lifecycle operations (each loads outside mu_) so two cannot interleave.
  std::mutex lifecycle_mu_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_watching_ = false;
  std::thread watcher_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_MODEL_REPOSITORY_H_
