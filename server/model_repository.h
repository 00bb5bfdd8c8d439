// The models a server holds: `<root>/<name>/<version>/{config.pbtxt,weights.pt}` with
// integer versions, the highest READY version serving. A version that fails to load is kept
// as FAILED with its error and never takes a READY version down.
#ifndef FRINGE_SERVER_MODEL_REPOSITORY_H_
#define FRINGE_SERVER_MODEL_REPOSITORY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

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

  ModelRepository(Options options, ModelRegistry registry);
  VersionEntry LoadVersion(const std::string& dir) const;
  v1::ModelDescription DescribeLocked(const std::string& name, const Versions& versions) const;
  std::string AvailableLocked() const;
  // The entry for `name` (empty = the default model): UNAVAILABLE while loading, NOT_FOUND
  // listing what exists.
  absl::StatusOr<std::map<std::string, Versions>::const_iterator> FindLocked(
      const std::string& name) const;
  static int64_t ServingVersion(const Versions& versions);

  const Options options_;
  const ModelRegistry registry_;
  mutable std::mutex mu_;
  std::map<std::string, Versions> models_;
  std::string default_model_;
  bool ready_ = false;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_MODEL_REPOSITORY_H_
