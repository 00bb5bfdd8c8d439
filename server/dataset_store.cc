#include "server/dataset_store.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "data/labelled_dataset.h"

namespace fringe {
namespace fs = std::filesystem;

DatasetStore::DatasetStore(std::string state_dir, int64_t max_upload_bytes)
    : root_((fs::path(state_dir) / "datasets").string()), max_upload_bytes_(max_upload_bytes) {
  std::error_code ec;
  fs::create_directories(root_, ec);
}

std::unique_ptr<DatasetUpload> DatasetStore::BeginUpload() const {
  static std::atomic<int> counter{0};
  const std::string staging =
      (fs::path(root_) / absl::StrCat(".upload-", getpid(), "-", counter++)).string();
  return std::unique_ptr<DatasetUpload>(new DatasetUpload(root_, staging, max_upload_bytes_));
}

absl::StatusOr<std::vector<DatasetSummary>> DatasetStore::List() const {
  std::vector<DatasetSummary> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name[0] == '.') continue;
    DatasetSummary d;
    d.name = name;
    auto dataset = data::LabelledDataset::Open(e.path().string());
    if (dataset.ok()) d.pairs = static_cast<int>(dataset->items().size());
    for (const auto& f : fs::recursive_directory_iterator(e.path(), ec)) {
      if (f.is_regular_file()) d.bytes += static_cast<int64_t>(f.file_size());
    }
    out.push_back(d);
  }
  std::sort(out.begin(), out.end(),
            [](const DatasetSummary& a, const DatasetSummary& b) { return a.name < b.name; });
  return out;
}

DatasetUpload::DatasetUpload(std::string root, std::string staging, int64_t max_bytes)
    : root_(std::move(root)), staging_(std::move(staging)), max_bytes_(max_bytes) {}

DatasetUpload::~DatasetUpload() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);  // A broken or cancelled upload leaves nothing behind.
  }
}

absl::Status DatasetUpload::Write(const std::string& dataset, const std::string& file,
                                  int64_t offset, const std::string& data,
                                  const std::string& sha256) {
  if (name_.empty()) {
    if (!IsSafeName(dataset)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dataset name \"", dataset, "\": use letters, digits, '-', '_', '.' (not first)"));
    }
    name_ = dataset;
  } else if (dataset != name_) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk for dataset \"", dataset, "\" inside the upload of \"", name_, "\""));
  }
  const size_t slash = file.find('/');
  const std::string folder = slash == std::string::npos ? "" : file.substr(0, slash);
  const std::string base = slash == std::string::npos ? "" : file.substr(slash + 1);
  if ((folder != "images" && folder != "masks") || !IsSafeName(base)) {
    return absl::InvalidArgumentError(
        absl::StrCat("file \"", file, "\": expected images/<name> or masks/<name>"));
  }
  FileState& state = files_[file];
  if (state.complete) {
    return absl::InvalidArgumentError(absl::StrCat("file \"", file, "\" was already completed"));
  }
  if (offset != state.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("file \"", file, "\": chunk at offset ", offset, ", expected ", state.size));
  }
  bytes_ += static_cast<int64_t>(data.size());
  if (bytes_ > max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("upload exceeds the server's limit of ", max_bytes_, " bytes"));
  }
  if (hashing_file_ != file) {
    if (!hashing_file_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "file \"", hashing_file_, "\" ended without its sha256 before \"", file, "\" began"));
    }
    hashing_ = std::make_unique<Sha256>();
    hashing_file_ = file;
  }
  const fs::path path = fs::path(staging_) / file;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  hashing_->Update(data.data(), data.size());
  state.size += static_cast<int64_t>(data.size());
  if (!sha256.empty()) {
    const std::string digest = hashing_->HexDigest();
    hashing_file_.clear();
    if (digest != sha256) {
      return absl::InvalidArgumentError(absl::StrCat("file \"", file, "\": sha256 ", digest,
                                                     " does not match the client's ", sha256));
    }
    state.complete = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<DatasetSummary> DatasetUpload::Commit() {
  if (name_.empty()) return absl::InvalidArgumentError("the upload contained no files");
  for (const auto& [file, state] : files_) {
    if (!state.complete) {
      return absl::InvalidArgumentError(
          absl::StrCat("file \"", file, "\" is incomplete (no chunk carried its sha256)"));
    }
  }
  // Every image must have a mask (and vice versa) and each pair must read with equal sizes.
  FRINGE_ASSIGN_OR_RETURN(data::LabelledDataset dataset, data::LabelledDataset::Open(staging_));
  if (dataset.items().empty()) return absl::InvalidArgumentError("the upload has no image pairs");
  for (const data::DatasetItem& item : dataset.items()) {
    FRINGE_RETURN_IF_ERROR(dataset.Load(item).status());
  }
  const fs::path target = fs::path(root_) / name_;
  std::error_code ec;
  if (fs::exists(target, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("dataset \"", name_, "\" already exists"));
  }
  fs::rename(staging_, target, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot publish dataset ", name_, ": ", ec.message()));
  }
  committed_ = true;
  return DatasetSummary{name_, static_cast<int>(dataset.items().size()), bytes_};
}

}  // namespace fringe
