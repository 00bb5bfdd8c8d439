// fringe-sim: writes a synthetic labelled HRTEM data set (images/, masks/,
// manifest.json, params.jsonl, params_table.csv) with HrtemSimulator.
//
//   fringe-sim --out data/sim --count 1000 --seed 7 --size 512 --threads 2
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sim/dataset_writer.h"
#include "sim/domain_randomization.h"
#include "sim/hrtem_physics.h"
#include "sim/hrtem_simulator.h"

namespace {

using fringe::sim::SimulatorOptions;

// Parses "MIN:MAX" or a single value "V" (meaning V:V).
absl::StatusOr<std::pair<double, double>> ParseRange(const std::string& flag,
                                                     const std::string& text) {
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  double lo = 0.0;
  double hi = 0.0;
  if (parts.size() == 1 && absl::SimpleAtod(parts[0], &lo)) return std::make_pair(lo, lo);
  if (parts.size() == 2 && absl::SimpleAtod(parts[0], &lo) && absl::SimpleAtod(parts[1], &hi)) {
    return std::make_pair(lo, hi);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": expected MIN:MAX or a single number, got '", text, "'"));
}

// Parses "N" (square) or "WxH".
absl::Status ParseSize(const std::string& text, SimulatorOptions* options) {
  const std::vector<std::string> parts = absl::StrSplit(text, 'x');
  int w = 0;
  int h = 0;
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], &w)) {
    h = w;
  } else if (!(parts.size() == 2 && absl::SimpleAtoi(parts[0], &w) &&
               absl::SimpleAtoi(parts[1], &h))) {
    return absl::InvalidArgumentError("--size: expected N or WIDTHxHEIGHT, got '" + text + "'");
  }
  options->width = w;
  options->height = h;
  return absl::OkStatus();
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

// Progress on stderr: a redrawn bar on a terminal, otherwise a line per 10%.
class ProgressBar {
 public:
  explicit ProgressBar(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0) {}

  void Update(const fringe::sim::DatasetProgress& p) {
    if (quiet_ || p.total <= 0 || finished_) return;
    const double rate = p.elapsed_seconds > 0 ? double(p.done) / p.elapsed_seconds : 0.0;
    const double eta = rate > 0 ? double(p.total - p.done) / rate : NAN;
    const bool finished = p.done >= p.total;
    finished_ = finished;
    if (tty_) {
      // Redraw at most ten times a second.
      if (!finished && p.elapsed_seconds - last_draw_seconds_ < 0.1) return;
      last_draw_seconds_ = p.elapsed_seconds;
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(kWidth * p.done / p.total);
      std::string bar(static_cast<size_t>(filled), '#');
      bar.resize(kWidth, '.');
      std::fprintf(stderr, "\r[%s] %lld/%lld  %.2f img/s  ETA %s ", bar.c_str(),
                   static_cast<long long>(p.done), static_cast<long long>(p.total), rate,
                   FormatDuration(eta).c_str());
      if (finished) std::fputc('\n', stderr);
      std::fflush(stderr);
      return;
    }
    const int decile = static_cast<int>(10 * p.done / p.total);
    if (decile > last_decile_) {
      last_decile_ = decile;
      std::fprintf(stderr, "%lld/%lld  %.2f img/s  ETA %s\n", static_cast<long long>(p.done),
                   static_cast<long long>(p.total), rate, FormatDuration(eta).c_str());
    }
  }

 private:
  bool quiet_;
  bool tty_;
  bool finished_ = false;
  int last_decile_ = 0;
  double last_draw_seconds_ = -1.0;
};

int Fail(const absl::Status& status) {
  std::cerr << "fringe-sim: error: " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fringe-sim: synthetic HRTEM images of Au nanoparticles on amorphous carbon with exact "
      "masks.\nWrites DIR/images/<stem>.tif (float32 counts), DIR/masks/<stem>.png (0/255), "
      "DIR/manifest.json, DIR/params.jsonl and DIR/params_table.csv; stem = "
      "sim_<seed>_<index:06d>.\n"
      "Ranges are MIN:MAX or a single value, e.g. --defocus -25:25 (or --defocus=-25:25)."};
  std::string out_dir;
  int64_t count = 0;
  uint64_t seed = 0;
  uint64_t start_index = 0;
  int threads = 1;
  std::string size = "512";
  bool overwrite = false;
  bool quiet = false;
  bool no_noise = false;
  bool no_mtf = false;
  SimulatorOptions defaults;
  const auto range_text = [](double lo, double hi) { return absl::StrCat(lo, ":", hi); };
  std::string dose = range_text(defaults.dose_min, defaults.dose_max);
  std::string pixel = range_text(defaults.pixel_size_min_nm, defaults.pixel_size_max_nm);
  std::string particles = range_text(defaults.particles_min, defaults.particles_max);
  std::string diameter = range_text(defaults.diameter_min_nm, defaults.diameter_max_nm);
  std::string defocus = range_text(defaults.defocus_min_nm, defaults.defocus_max_nm);
  std::string cs = range_text(defaults.cs_min_um, defaults.cs_max_um);
  std::string focal_spread = range_text(defaults.focal_spread_min_nm, defaults.focal_spread_max_nm);
  std::string convergence =
      range_text(defaults.convergence_min_mrad, defaults.convergence_max_mrad);
  std::string carbon =
      range_text(defaults.carbon_thickness_min_nm, defaults.carbon_thickness_max_nm);
  std::string mtf50 =
      range_text(defaults.mtf50_min_cycles_per_px, defaults.mtf50_max_cycles_per_px);
  std::vector<std::string> zone_axes = defaults.zone_axes;
  double on_zone = defaults.on_zone_fraction;
  double aperture = defaults.objective_aperture_mrad;
  double voltage = defaults.voltage_kv;

  app.add_option("--out", out_dir, "Output directory (created if needed)")->required();
  app.add_option("--count", count, "Number of images")
      ->required()
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app.add_option("--seed", seed, "Base seed; image i is seeded from (seed, i)")
      ->capture_default_str();
  app.add_option("--start-index", start_index, "Index of the first image (to shard a data set)")
      ->capture_default_str();
  app.add_option("--size", size, "Image size in pixels: N or WIDTHxHEIGHT")->capture_default_str();
  app.add_option("--threads", threads, "Worker threads (output does not depend on it)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--dose", dose, "Dose range (e/A^2), drawn log-uniformly")->capture_default_str();
  app.add_option("--pixel-size", pixel, "Pixel size range (nm)")->capture_default_str();
  app.add_option("--particles", particles,
                 "Particles attempted per image (fewer when they do not fit)")
      ->capture_default_str();
  app.add_option("--diameter", diameter, "Particle diameter range (nm)")->capture_default_str();
  app.add_option("--defocus", defocus, "Defocus range (nm, negative = underfocus)")
      ->capture_default_str();
  app.add_option("--cs", cs, "Spherical aberration range (um)")->capture_default_str();
  app.add_option("--focal-spread", focal_spread, "Focal spread range (nm)")->capture_default_str();
  app.add_option("--convergence", convergence, "Illumination semi-angle range (mrad)")
      ->capture_default_str();
  app.add_option("--carbon-thickness", carbon, "Carbon film thickness range (nm), 0 = none")
      ->capture_default_str();
  app.add_option("--mtf50", mtf50, "Detector MTF50 range (cycles/pixel)")->capture_default_str();
  app.add_option("--aperture", aperture, "Objective aperture (mrad), 0 = none")
      ->capture_default_str();
  app.add_option("--voltage", voltage, "Accelerating voltage (kV)")->capture_default_str();
  app.add_option("--on-zone-fraction", on_zone, "Fraction of particles on a zone axis")
      ->capture_default_str();
  app.add_option("--zone-axes", zone_axes, "Zone axes for on-zone particles")
      ->delimiter(',')
      ->capture_default_str();
  app.add_flag("--no-noise", no_noise, "Write noiseless expected counts");
  app.add_flag("--no-mtf", no_mtf, "Ideal detector (no MTF blur)");
  bool randomize = false;
  std::vector<std::string> randomize_without;
  bool held_out = false;
  app.add_flag("--randomize", randomize,
               "Domain randomisation: every nuisance factor at its training range "
               "(sim/README.md, Domain randomisation)");
  app.add_option("--randomize-without", randomize_without,
                 "With --randomize: factors left at the classic values, comma list of carbon, "
                 "content, morphology, illumination, aberrations, detector")
      ->delimiter(',');
  app.add_flag("--held-out-generator", held_out,
               "Evaluation only: randomised physics with the held-out phase-field carbon and "
               "scintillator CCD (never use for training)");
  app.add_flag("--overwrite", overwrite, "Allow writing into a directory that holds a data set");
  app.add_flag("-q,--quiet", quiet, "No progress output");
  CLI11_PARSE(app, argc, argv);

  SimulatorOptions options;
  if (absl::Status s = ParseSize(size, &options); !s.ok()) return Fail(s);
  const std::pair<const char*, std::pair<std::string*, std::pair<double*, double*>>> ranges[] = {
      {"--dose", {&dose, {&options.dose_min, &options.dose_max}}},
      {"--pixel-size", {&pixel, {&options.pixel_size_min_nm, &options.pixel_size_max_nm}}},
      {"--diameter", {&diameter, {&options.diameter_min_nm, &options.diameter_max_nm}}},
      {"--defocus", {&defocus, {&options.defocus_min_nm, &options.defocus_max_nm}}},
      {"--cs", {&cs, {&options.cs_min_um, &options.cs_max_um}}},
      {"--focal-spread",
       {&focal_spread, {&options.focal_spread_min_nm, &options.focal_spread_max_nm}}},
      {"--convergence",
       {&convergence, {&options.convergence_min_mrad, &options.convergence_max_mrad}}},
      {"--carbon-thickness",
       {&carbon, {&options.carbon_thickness_min_nm, &options.carbon_thickness_max_nm}}},
      {"--mtf50", {&mtf50, {&options.mtf50_min_cycles_per_px, &options.mtf50_max_cycles_per_px}}},
  };
  for (const auto& [flag, target] : ranges) {
    absl::StatusOr<std::pair<double, double>> r = ParseRange(flag, *target.first);
    if (!r.ok()) return Fail(r.status());
    *target.second.first = r->first;
    *target.second.second = r->second;
  }
  {
    absl::StatusOr<std::pair<double, double>> r = ParseRange("--particles", particles);
    if (!r.ok()) return Fail(r.status());
    if (r->first != std::floor(r->first) || r->second != std::floor(r->second)) {
      return Fail(absl::InvalidArgumentError("--particles: expected whole numbers"));
    }
    options.particles_min = static_cast<int>(r->first);
    options.particles_max = static_cast<int>(r->second);
  }
  options.zone_axes = zone_axes;
  options.on_zone_fraction = on_zone;
  options.objective_aperture_mrad = aperture;
  options.voltage_kv = voltage;
  options.shot_noise = !no_noise;
  options.detector_mtf = !no_mtf;

  if (!randomize_without.empty() && !randomize) {
    return Fail(absl::InvalidArgumentError("--randomize-without needs --randomize"));
  }
  if (held_out && !randomize_without.empty()) {
    return Fail(absl::InvalidArgumentError(
        "--held-out-generator randomises every factor; it takes no --randomize-without"));
  }
  if (randomize) {
    absl::StatusOr<SimulatorOptions> randomized =
        fringe::sim::RandomizedOptions(options, randomize_without);
    if (!randomized.ok()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--randomize-without: ", randomized.status().message())));
    }
    options = *randomized;
  }
  if (held_out) options = fringe::sim::HeldOutGeneratorOptions(options);

  absl::StatusOr<std::unique_ptr<fringe::sim::HrtemSimulator>> simulator =
      fringe::sim::HrtemSimulator::Create(options);
  if (!simulator.ok()) return Fail(simulator.status());

  const double smallest_fov_nm =
      std::min(options.width, options.height) * options.pixel_size_min_nm -
      2.0 * options.edge_margin_nm - 0.2 * fringe::sim::kGoldAtomicRadiusA;
  if (options.particles_max > 0 && smallest_fov_nm < options.diameter_min_nm) {
    std::cerr << "fringe-sim: warning: a " << options.diameter_min_nm
              << " nm particle does not fit a " << options.width << "x" << options.height
              << " image at " << options.pixel_size_min_nm
              << " nm/pixel; such images will have no particles\n";
  }

  fringe::sim::DatasetJob job;
  job.out_dir = out_dir;
  job.base_seed = seed;
  job.start_index = start_index;
  job.count = count;
  job.threads = threads;
  job.overwrite = overwrite;
  ProgressBar bar(quiet);
  absl::StatusOr<fringe::sim::DatasetSummary> summary = fringe::sim::GenerateDataset(
      **simulator, job, [&bar](const fringe::sim::DatasetProgress& p) { bar.Update(p); });
  if (!summary.ok()) {
    if (summary.status().code() == absl::StatusCode::kAlreadyExists) {
      return Fail(absl::AlreadyExistsError(
          absl::StrCat(summary.status().message(), " (pass --overwrite to replace it)")));
    }
    return Fail(summary.status());
  }
  if (!quiet) {
    std::fprintf(stderr,
                 "fringe-sim: wrote %lld images (%lld particles) of %dx%d to %s in %.2f s: %.2f "
                 "images/s on %d thread(s)\n",
                 static_cast<long long>(summary->images),
                 static_cast<long long>(summary->particles), options.width, options.height,
                 out_dir.c_str(), summary->seconds,
                 double(summary->images) / std::max(summary->seconds, 1e-9), threads);
  }
  return 0;
}
