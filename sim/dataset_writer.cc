#include "sim/dataset_writer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "data/image_io.h"

namespace fringe::sim {
namespace {

namespace fs = std::filesystem;

// Encodes `image` with the codec for `extension` (".tif", ".png"); OpenCV
// reports failures by exception, which stops here (DESIGN rule 4).
absl::StatusOr<std::string> Encode(const cv::Mat& image, const std::string& extension) {
  std::vector<uchar> buffer;
  try {
    if (!cv::imencode(extension, image, buffer)) {
      return absl::InternalError("OpenCV could not encode a " + extension + " image");
    }
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("OpenCV failed to encode ", extension, ": ", e.what()));
  }
  return std::string(buffer.begin(), buffer.end());
}

std::string CsvNumber(double v) { return absl::StrCat(v); }

}  // namespace

std::string SampleStem(uint64_t base_seed, uint64_t index) {
  char padded[32];
  std::snprintf(padded, sizeof padded, "%06llu", static_cast<unsigned long long>(index));
  return absl::StrCat("sim_", base_seed, "_", padded);
}

absl::Status WriteSample(const fs::path& dir, const std::string& stem, const Sample& sample) {
  absl::StatusOr<std::string> tif = Encode(sample.image, ".tif");
  if (!tif.ok()) return tif.status();
  cv::Mat mask_255;
  sample.mask.convertTo(mask_255, CV_8UC1, 255.0);
  absl::StatusOr<std::string> png = Encode(mask_255, ".png");
  if (!png.ok()) return png.status();
  if (absl::Status s = WriteFileAtomically((dir / "images" / (stem + ".tif")).string(), *tif);
      !s.ok()) {
    return s;
  }
  return WriteFileAtomically((dir / "masks" / (stem + ".png")).string(), *png);
}

std::string ParamsCsvHeader() {
  return "stem,image,mask,base_seed,index,seed,height,width,voltage_kv,dose_e_per_A2,"
         "electrons_per_pixel,pixel_size_nm,defocus_nm,cs_um,focal_spread_nm,convergence_mrad,"
         "objective_aperture_mrad,carbon_thickness_nm,mtf50_cycles_per_px,shot_noise,"
         "num_carbon_atoms,num_particles,particle_fraction,particle_diameters_nm,zone_axes";
}

std::string ParamsCsvRow(const std::string& stem, const SampleParams& p) {
  std::vector<std::string> diameters;
  std::vector<std::string> zones;
  int64_t footprint = 0;
  for (const ParticleParams& particle : p.particles) {
    diameters.push_back(CsvNumber(particle.diameter_nm));
    zones.push_back(particle.zone_axis);
    footprint += particle.footprint_pixels;
  }
  const double fraction =
      p.height * p.width > 0 ? double(footprint) / (double(p.height) * p.width) : 0.0;
  // Lists are ';'-separated so the CSV needs no quoting.
  return absl::StrCat(
      stem, ",images/", stem, ".tif,masks/", stem, ".png,", p.base_seed, ",", p.index, ",", p.seed,
      ",", p.height, ",", p.width, ",", CsvNumber(p.voltage_kv), ",", CsvNumber(p.dose_e_per_a2),
      ",", CsvNumber(p.ElectronsPerPixel()), ",", CsvNumber(p.pixel_size_nm), ",",
      CsvNumber(p.defocus_nm), ",", CsvNumber(p.cs_um), ",", CsvNumber(p.focal_spread_nm), ",",
      CsvNumber(p.convergence_mrad), ",", CsvNumber(p.objective_aperture_mrad), ",",
      CsvNumber(p.carbon_thickness_nm), ",", CsvNumber(p.mtf50_cycles_per_px), ",",
      p.shot_noise ? 1 : 0, ",", p.num_carbon_atoms, ",", p.particles.size(), ",",
      CsvNumber(fraction), ",", absl::StrJoin(diameters, ";"), ",", absl::StrJoin(zones, ";"));
}

absl::StatusOr<DatasetSummary> GenerateDataset(
    const HrtemSimulator& simulator, const DatasetJob& job,
    const std::function<void(const DatasetProgress&)>& progress) {
  if (job.count < 0) return absl::InvalidArgumentError("DatasetJob.count must be >= 0");
  if (job.threads < 1) return absl::InvalidArgumentError("DatasetJob.threads must be >= 1");
  if (job.out_dir.empty()) return absl::InvalidArgumentError("DatasetJob.out_dir is empty");
  std::error_code ec;
  if (!job.overwrite && fs::exists(job.out_dir / "manifest.json", ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(job.out_dir.string(),
                     " already holds a data set (manifest.json); choose another directory or "
                     "allow overwriting"));
  }
  for (const char* sub : {"images", "masks"}) {
    fs::create_directories(job.out_dir / sub, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", (job.out_dir / sub).string(), ": ", ec.message()));
    }
  }

  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<std::string> csv_rows(static_cast<size_t>(job.count));
  std::vector<std::string> json_rows(static_cast<size_t>(job.count));
  std::vector<nlohmann::json> items(static_cast<size_t>(job.count));
  std::vector<int64_t> particle_counts(static_cast<size_t>(job.count), 0);
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::condition_variable changed;
  absl::Status first_error;

  const auto worker = [&] {
    while (!failed.load()) {
      const int64_t i = next.fetch_add(1);
      if (i >= job.count) break;
      const uint64_t index = job.start_index + static_cast<uint64_t>(i);
      const std::string stem = SampleStem(job.base_seed, index);
      absl::Status status;
      try {
        const Sample sample = simulator.Generate(job.base_seed, index);
        status = WriteSample(job.out_dir, stem, sample);
        csv_rows[static_cast<size_t>(i)] = ParamsCsvRow(stem, sample.params);
        const SampleParams& p = sample.params;
        nlohmann::json row = p.ToJson();
        row["stem"] = stem;
        json_rows[static_cast<size_t>(i)] = row.dump();
        // The manifest item: what the data set reader uses (dose, pixel
        // size) plus the headline parameters; params.jsonl has the rest.
        items[static_cast<size_t>(i)] = nlohmann::json{{"dose_e_per_A2", p.dose_e_per_a2},
                                                       {"pixel_size_nm", p.pixel_size_nm},
                                                       {"index", p.index},
                                                       {"seed", p.seed},
                                                       {"defocus_nm", p.defocus_nm},
                                                       {"cs_um", p.cs_um},
                                                       {"num_particles", p.particles.size()}};
        particle_counts[static_cast<size_t>(i)] =
            static_cast<int64_t>(sample.params.particles.size());
      } catch (const std::exception& e) {  // std::bad_alloc, cv::Exception
        status = absl::InternalError(absl::StrCat("generating ", stem, ": ", e.what()));
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!status.ok() && first_error.ok()) {
          first_error = status;
          failed.store(true);
        }
        done.fetch_add(1);
      }
      changed.notify_all();
    }
  };
  std::vector<std::thread> pool;
  const int threads =
      static_cast<int>(std::min<int64_t>(job.threads, std::max<int64_t>(1, job.count)));
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  {
    std::unique_lock<std::mutex> lock(mutex);
    while (done.load() < job.count && !failed.load()) {
      changed.wait_for(lock, std::chrono::milliseconds(250));
      if (progress) {
        const DatasetProgress now{done.load(), job.count, elapsed()};
        lock.unlock();
        progress(now);
        lock.lock();
      }
    }
  }
  for (std::thread& t : pool) t.join();
  if (!first_error.ok()) return first_error;
  if (progress) progress(DatasetProgress{job.count, job.count, elapsed()});

  // Per-image parameters in index order, then the manifest.
  std::string csv = ParamsCsvHeader() + "\n";
  for (const std::string& row : csv_rows) absl::StrAppend(&csv, row, "\n");
  std::string jsonl;
  for (const std::string& row : json_rows) absl::StrAppend(&jsonl, row, "\n");
  if (absl::Status s = WriteFileAtomically((job.out_dir / "params_table.csv").string(), csv);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFileAtomically((job.out_dir / "params.jsonl").string(), jsonl); !s.ok())
    return s;
  nlohmann::json manifest_items = nlohmann::json::object();
  for (int64_t i = 0; i < job.count; ++i) {
    manifest_items[SampleStem(job.base_seed, job.start_index + static_cast<uint64_t>(i))] =
        std::move(items[static_cast<size_t>(i)]);
  }
  const nlohmann::json manifest{
      {"generator", "fringe-sim"},
      {"format_version", 1},
      {"base_seed", job.base_seed},
      {"start_index", job.start_index},
      {"count", job.count},
      {"height", simulator.options().height},
      {"width", simulator.options().width},
      {"stem_pattern", absl::StrCat("sim_", job.base_seed, "_<index:06d>")},
      {"layout",
       {{"images", "images/<stem>.tif (float32, electron counts per pixel)"},
        {"masks", "masks/<stem>.png (uint8, 0 background, 255 particle)"},
        {"params", "params.jsonl, params_table.csv (one row per image, in index order)"}}},
      {"options", SimulatorOptionsToJson(simulator.options())},
      {"items", std::move(manifest_items)}};
  // Written last: its presence marks a complete data set.
  if (absl::Status s =
          WriteFileAtomically((job.out_dir / "manifest.json").string(), manifest.dump(1) + "\n");
      !s.ok()) {
    return s;
  }
  DatasetSummary summary;
  summary.images = job.count;
  summary.seconds = elapsed();
  for (int64_t c : particle_counts) summary.particles += c;
  return summary;
}

}  // namespace fringe::sim
