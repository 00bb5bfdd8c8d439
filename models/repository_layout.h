// The model repository on disk. This is the one place that knows its layout; the server, the
// trainer, fringe-train init, the study, the analysis tools and the explainer all go through it.
//
//   <root>/<name>/<version>/config.pbtxt   the version's fringe.v1.ModelConfig (text format)
//   <root>/<name>/<version>/weights.pt     its weights (absent for weightless models)
//   <root>/<name>/serving.pbtxt            its serving policy (pinned version, rollback history)
//
// A model is a directory under <root> whose name does not start with '.' (".checkpoints" or a
// staging folder are not models). A version is a directory named by a positive decimal integer
// written without sign or leading zeros; it is complete once its config.pbtxt exists. New
// versions appear only by renaming a fully written staging directory (CommitVersion), so a
// complete version is never half-written. Torch-free: std::filesystem and absl only.
#ifndef FRINGE_MODELS_REPOSITORY_LAYOUT_H_
#define FRINGE_MODELS_REPOSITORY_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fringe::repository_layout {

inline constexpr char kConfigFile[] = "config.pbtxt";
inline constexpr char kWeightsFile[] = "weights.pt";
inline constexpr char kServingPolicyFile[] = "serving.pbtxt";

std::string ModelDir(const std::string& root, const std::string& name);
std::string VersionDir(const std::string& root, const std::string& name, int64_t version);
std::string ConfigPath(const std::string& version_dir);
std::string WeightsPath(const std::string& version_dir);
std::string ServingPolicyPath(const std::string& root, const std::string& name);

// The version a directory name stands for ("7" -> 7); nullopt for anything else ("07", "+7",
// "0", "7a", ".tmp-12-7").
std::optional<int64_t> ParseVersion(const std::string& directory_name);

// Model names under `root`, sorted; empty when `root` is unreadable.
std::vector<std::string> ListModels(const std::string& root);

// Which version directories a listing returns.
enum class Versions {
  kComplete,  // Those holding a config.pbtxt: what can be served, resolved or resumed from.
  kAll,       // Every version-named directory: a broken one is reported, never reused.
};
// The versions of `name`, ascending; empty when the model directory is unreadable.
std::vector<int64_t> ListVersions(const std::string& root, const std::string& name,
                                  Versions which = Versions::kComplete);

// "NAME" (its highest complete version) or "NAME:VERSION" -> that version's directory.
// INVALID_ARGUMENT for a malformed reference; NOT_FOUND naming what exists.
absl::StatusOr<std::string> ResolveVersionDir(const std::string& root,
                                              const std::string& model_ref);

// A fresh, empty staging directory inside <root>/<name>/ (hidden, so never taken for a model
// or a version) where a new version's files are written before CommitVersion publishes them.
absl::StatusOr<std::string> CreateStagingDir(const std::string& root, const std::string& name);

struct CommittedVersion {
  int64_t version = 0;
  std::string dir;
};
// Publishes a fully written staging directory as the next free version of `name` with one
// rename, retrying with the next number when another writer took it meanwhile. The staging
// directory is gone afterwards either way. INVALID_ARGUMENT when it lacks a config.pbtxt;
// INTERNAL when no rename succeeds.
absl::StatusOr<CommittedVersion> CommitVersion(const std::string& root, const std::string& name,
                                               const std::string& staging_dir);

}  // namespace fringe::repository_layout

#endif  // FRINGE_MODELS_REPOSITORY_LAYOUT_H_
