#include "models/repository_layout.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe::repository_layout {
namespace {

namespace fs = std::filesystem;

bool IsModelName(const std::string& name) { return !name.empty() && name[0] != '.'; }

}  // namespace

std::string ModelDir(const std::string& root, const std::string& name) {
  return (fs::path(root) / name).string();
}

std::string VersionDir(const std::string& root, const std::string& name, int64_t version) {
  return (fs::path(root) / name / std::to_string(version)).string();
}

std::string ConfigPath(const std::string& version_dir) {
  return (fs::path(version_dir) / kConfigFile).string();
}

std::string WeightsPath(const std::string& version_dir) {
  return (fs::path(version_dir) / kWeightsFile).string();
}

std::string ServingPolicyPath(const std::string& root, const std::string& name) {
  return (fs::path(root) / name / kServingPolicyFile).string();
}

std::optional<int64_t> ParseVersion(const std::string& directory_name) {
  // Canonical decimal only, so that one version has one directory name.
  if (directory_name.empty() || directory_name.size() > 18 || directory_name[0] == '0') {
    return std::nullopt;
  }
  for (char c : directory_name) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t version = 0;
  if (!absl::SimpleAtoi(directory_name, &version) || version <= 0) return std::nullopt;
  return version;
}

std::vector<std::string> ListModels(const std::string& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (IsModelName(name) && it->is_directory(ec)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<int64_t> ListVersions(const std::string& root, const std::string& name,
                                  Versions which) {
  std::vector<int64_t> versions;
  if (!IsModelName(name)) return versions;
  std::error_code ec;
  for (fs::directory_iterator it(ModelDir(root, name), ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::optional<int64_t> v = ParseVersion(it->path().filename().string());
    if (!v || !it->is_directory(ec)) continue;
    if (which == Versions::kComplete && !fs::exists(it->path() / kConfigFile, ec)) continue;
    versions.push_back(*v);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<std::string> ResolveVersionDir(const std::string& root,
                                              const std::string& model_ref) {
  const size_t colon = model_ref.rfind(':');
  const std::string name = model_ref.substr(0, colon);
  if (name.empty() || !IsModelName(name) || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("model \"", model_ref, "\": expected NAME or NAME:VERSION"));
  }
  std::error_code ec;
  if (!fs::is_directory(ModelDir(root, name), ec)) {
    const std::vector<std::string> names = ListModels(root);
    return absl::NotFoundError(
        absl::StrCat("no model \"", name, "\" in ", root, " (",
                     names.empty() ? "no models" : absl::StrJoin(names, ", "), ")"));
  }
  const std::vector<int64_t> versions = ListVersions(root, name);
  if (colon != std::string::npos) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(model_ref.substr(colon + 1), &v) || v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model \"", model_ref, "\": the version must be a positive integer"));
    }
    if (std::find(versions.begin(), versions.end(), v) == versions.end()) {
      return absl::NotFoundError(absl::StrCat("model \"", name, "\" has no version ", v,
                                              " (versions: ", absl::StrJoin(versions, ", "), ")"));
    }
    return VersionDir(root, name, v);
  }
  if (versions.empty()) {
    return absl::NotFoundError(
        absl::StrCat("model \"", name, "\" has no version directory with a ", kConfigFile));
  }
  return VersionDir(root, name, versions.back());
}

absl::StatusOr<std::string> CreateStagingDir(const std::string& root, const std::string& name) {
  if (!IsModelName(name) || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad model name \"", name, "\""));
  }
  static std::atomic<int64_t> counter{0};
  std::error_code ec;
  fs::create_directories(ModelDir(root, name), ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", ModelDir(root, name), ": ", ec.message()));
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path dir =
        fs::path(ModelDir(root, name)) / absl::StrCat(".staging-", getpid(), "-", counter++);
    if (fs::create_directory(dir, ec)) return dir.string();
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
    }
  }
  return absl::InternalError(absl::StrCat("cannot create a staging directory in ", root));
}

absl::StatusOr<CommittedVersion> CommitVersion(const std::string& root, const std::string& name,
                                               const std::string& staging_dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(staging_dir) / kConfigFile, ec)) {
    fs::remove_all(staging_dir, ec);
    return absl::InvalidArgumentError(
        absl::StrCat(staging_dir, " has no ", kConfigFile, ": not a model version"));
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    // Past every version-named directory, broken ones included: a number is never reused.
    const std::vector<int64_t> taken = ListVersions(root, name, Versions::kAll);
    const int64_t next = taken.empty() ? 1 : taken.back() + 1;
    const std::string dir = VersionDir(root, name, next);
    // rename(2) onto an existing non-empty directory fails: the version is someone else's.
    // An existing empty one would be replaced, so check first and try the next number.
    if (fs::exists(dir, ec)) continue;
    std::error_code rename_error;
    fs::rename(staging_dir, dir, rename_error);
    if (!rename_error) return CommittedVersion{next, dir};
  }
  fs::remove_all(staging_dir, ec);
  return absl::InternalError(
      absl::StrCat("cannot find a free version number for ", name, " in ", root));
}

}  // namespace fringe::repository_layout
