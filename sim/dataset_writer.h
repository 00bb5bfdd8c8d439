// Writes simulated samples in the project's labelled data set layout (the one
// data/labelled_dataset.h reads):
//
//   DIR/images/<stem>.tif    float32 TIFF, electron counts per pixel
//   DIR/masks/<stem>.png     uint8 PNG, 0 background / 255 particle
//   DIR/manifest.json        generator, seeds, count, size, all options, and
//                            "items": {<stem>: {"dose_e_per_A2", "pixel_size_nm",
//                            seed, defocus, Cs, particle count, ...}}
//   DIR/params.jsonl         one JSON object per image, every parameter
//                            (particles included), in index order
//   DIR/params_table.csv     the same as a flat table (one row per image)
//
// The table is not called params.csv because the data set reader accepts
// either manifest.json or params.csv, not both.
//
// with stems "sim_<base seed>_<index, 6+ digits>". Every file is written to a
// temporary name in its final directory and renamed into place, so readers
// never see a half-written file.
#ifndef FRINGE_SIM_DATASET_WRITER_H_
#define FRINGE_SIM_DATASET_WRITER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/hrtem_simulator.h"

namespace fringe::sim {

// Returns "sim_<base_seed>_<index zero-padded to 6 digits>".
std::string SampleStem(uint64_t base_seed, uint64_t index);

// Encodes `sample` and writes DIR/images/<stem>.tif and DIR/masks/<stem>.png
// atomically; the two directories must exist.
absl::Status WriteSample(const std::filesystem::path& dir, const std::string& stem,
                         const Sample& sample);

// The params_table.csv header line and the row of one sample (no trailing
// newline). Columns: stem, image, mask, seeds, every imaging parameter with
// its unit in the name, particle count, mask fraction, and the particles'
// diameters and zone axes as ';'-separated lists.
std::string ParamsCsvHeader();
std::string ParamsCsvRow(const std::string& stem, const SampleParams& params);

struct DatasetJob {
  std::filesystem::path out_dir;
  uint64_t base_seed = 0;
  uint64_t start_index = 0;  // images start_index .. start_index + count - 1
  int64_t count = 0;
  int threads = 1;
  // Without it, a directory that already holds manifest.json is refused.
  bool overwrite = false;
};

struct DatasetProgress {
  int64_t done = 0;
  int64_t total = 0;
  double elapsed_seconds = 0.0;
};

struct DatasetSummary {
  int64_t images = 0;
  double seconds = 0.0;
  int64_t particles = 0;
};

// Generates job.count images with `simulator` on job.threads threads and
// writes the data set under job.out_dir (created if needed). `progress`
// (optional) is called from the calling thread a few times per second and
// once at the end. The files do not depend on the thread count. Returns the
// first error (invalid job, unwritable directory, encoding failure); files
// already written stay, and the params/manifest files are then not written.
absl::StatusOr<DatasetSummary> GenerateDataset(
    const HrtemSimulator& simulator, const DatasetJob& job,
    const std::function<void(const DatasetProgress&)>& progress = nullptr);

}  // namespace fringe::sim

#endif  // FRINGE_SIM_DATASET_WRITER_H_
