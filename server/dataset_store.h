// Labelled datasets uploaded to the server (Datasets.Upload) for training jobs:
// <state_dir>/datasets/<name>/{images,masks}/. An upload is written into a hidden staging
// folder and renamed into place only when every file is whole (SHA-256) and every image has
// a readable mask of its size, so a dataset is either complete or absent.
#ifndef FRINGE_SERVER_DATASET_STORE_H_
#define FRINGE_SERVER_DATASET_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/safe_name.h"
#include "base/sha256.h"

namespace fringe {

struct DatasetSummary {
  std::string name;
  int pairs = 0;
  int64_t bytes = 0;
};

// One upload in progress. Destroying it without Commit() removes everything it wrote.
class DatasetUpload {
 public:
  ~DatasetUpload();

  // Appends `data` at `offset` of `file` ("images/<stem>.<ext>" or "masks/<stem>.<ext>").
  // Chunks of a file come in order; a non-empty `sha256` marks the file's last chunk and is
  // checked. INVALID_ARGUMENT for a bad name, a gap or overlap, or a checksum mismatch;
  // RESOURCE_EXHAUSTED past the upload's byte limit.
  absl::Status Write(const std::string& dataset, const std::string& file, int64_t offset,
                     const std::string& data, const std::string& sha256);
  // Checks the pairs and publishes the dataset. ALREADY_EXISTS for a taken name.
  absl::StatusOr<DatasetSummary> Commit();

 private:
  friend class DatasetStore;
  struct FileState {
    int64_t size = 0;
    bool complete = false;
  };
  DatasetUpload(std::string root, std::string staging, int64_t max_bytes);

  const std::string root_;
  const std::string staging_;
  const int64_t max_bytes_;
  std::string name_;
  int64_t bytes_ = 0;
  bool committed_ = false;
  std::map<std::string, FileState> files_;
  std::unique_ptr<Sha256> hashing_;  // Of the file being written.
  std::string hashing_file_;
};

class DatasetStore {
 public:
  // `state_dir`/datasets is created when absent.
  explicit DatasetStore(std::string state_dir, int64_t max_upload_bytes = int64_t{8} << 30);

  std::unique_ptr<DatasetUpload> BeginUpload() const;
  absl::StatusOr<std::vector<DatasetSummary>> List() const;
  std::string root() const { return root_; }

 private:
  std::string root_;
  int64_t max_upload_bytes_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_DATASET_STORE_H_
