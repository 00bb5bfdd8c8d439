// attribution_bench: how much each attribution method costs next to one forward pass.
// A depth-4, base-8 U-Net (random init, BatchNorm calibrated on random frames) on a 512x512
// tile: times the eager module's forward pass (and the oneDNN serving plan when available),
// then every method through the public Explainer API, each the median of --runs runs in the
// same process. Prints a table (method, ms, ratio to the eager forward, peak RSS growth) and
// the default LRP composite's per-layer relevance, and writes JSON with --json.
//
//   attribution_bench [--runs 3] [--threads 1] [--size 512] [--json PATH]
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/attribution/attribution.h"
#include "models/model_config.h"
#include "models/unet.h"
#include "models/unet_onednn.h"

namespace {

using Clock = std::chrono::steady_clock;

// Reads a "VmXXX:   1234 kB" line of /proc/self/status, in MiB.
double ProcStatusMiB(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  }
  return 0;
}

// Resets the peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0), so that each method's
// peak is measured on its own.
void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

struct Row {
  std::string name;
  double ms = 0;
  double ratio = 0;
  double peak_rss_mib = 0;
  std::string note;
};

Row Measure(const std::string& name, int runs, const std::function<std::string()>& fn) {
  std::vector<double> times;
  double peak = 0;
  std::string note;
  for (int i = 0; i < runs; ++i) {
    ResetPeakRss();
    const double before = ProcStatusMiB("VmRSS");
    const auto start = Clock::now();
    note = fn();
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    peak = std::max(peak, ProcStatusMiB("VmHWM") - before);
  }
  std::sort(times.begin(), times.end());
  return {name, times[times.size() / 2], 0, peak, note};
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, threads = 1, size = 512;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--runs") {
      runs = std::max(1, std::atoi(next().c_str()));
    } else if (arg == "--threads") {
      threads = std::max(1, std::atoi(next().c_str()));
    } else if (arg == "--size") {
      size = std::max(16, std::atoi(next().c_str()) / 16 * 16);
    } else if (arg == "--json") {
      json_path = next();
    } else {
      std::cerr << "usage: attribution_bench [--runs N] [--threads N] [--size PX] [--json PATH]\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);

  fringe::v1::ModelConfig config;
  config.set_architecture("unet");
  config.mutable_unet()->set_depth(4);
  config.mutable_unet()->set_base_filters(8);
  config.mutable_unet()->set_batch_norm(true);
  config.set_tile_size(512);
  config.set_pixel_size_nm(0.02);
  fringe::ApplyModelConfigDefaults(&config);

  fringe::UNetOptions options;
  options.depth = 4;
  options.base_filters = 8;
  options.num_classes = 2;
  options.batch_norm = true;
  torch::manual_seed(0);
  fringe::UNet net(options);
  // Calibrate BatchNorm on random frames, as training would: with the default statistics the
  // activations of a random net shrink layer by layer and its logits are mostly the head's
  // bias, which then absorbs nearly all LRP relevance (an unrepresentative residual).
  net->train();
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 4; ++i) net->forward(torch::randn({2, 1, 128, 128}));
  }
  net->eval();
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("attribution_bench_" + std::to_string(getpid())))
          .string();
  std::filesystem::create_directories(dir);
  torch::save(net, dir + "/weights.pt");
  auto explainer = fringe::Explainer::Load(config, dir);
  std::filesystem::remove_all(dir);
  if (!explainer.ok()) {
    std::cerr << explainer.status() << "\n";
    return 1;
  }

  cv::Mat frame(size, size, CV_32F);
  cv::randn(frame, 0, 1);
  const torch::Tensor x = torch::randn({1, 1, size, size});

  std::vector<Row> rows;
  rows.push_back(Measure("forward (eager module)", runs, [&] {
    c10::InferenceMode inference;
    net->forward(x);
    return std::string();
  }));
  const double forward_ms = rows[0].ms;
  fringe::UNet folded(options);
  {
    torch::NoGradGuard no_grad;
    auto src = net->parameters();
    auto dst = folded->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    auto src_b = net->buffers();
    auto dst_b = folded->buffers();
    for (size_t i = 0; i < src_b.size(); ++i) dst_b[i].copy_(src_b[i]);
  }
  folded->eval();
  folded->FoldBatchNorm();
  if (fringe::UNetOneDnnPlan::Available()) {
    const fringe::UNetOneDnnPlan plan(folded);
    rows.push_back(Measure("forward (oneDNN plan)", runs, [&] {
      c10::InferenceMode inference;
      plan.Forward(x);
      return std::string();
    }));
  }

  struct Method {
    std::string method;
    std::map<std::string, std::string> parameters;
  };
  const std::vector<Method> methods = {
      {"lrp", {}},  // epsilon-gamma-box
      {"lrp-epsilon", {}},
      {"lrp-epsilon-plus-flat", {}},
      {"lrp-epsilon-alpha2-beta1-flat", {}},
      {"lrp-zplus", {}},
      {"lrp-gamma", {}},
      {"lrp-alpha-beta", {}},
      {"gradient", {}},
      {"gradient-x-input", {}},
      {"integrated-gradients", {{"steps", "16"}, {"batch", "4"}}},
      {"smoothgrad", {{"samples", "8"}, {"batch", "4"}}},
      {"grad-cam", {}},
      {"occlusion", {{"patch", "64"}, {"stride", "64"}, {"batch", "8"}}},
      {"frequency-occlusion", {{"n_bands", "8"}}},
  };
  for (const Method& m : methods) {
    fringe::AttributionRequest request;
    request.method = m.method;
    request.parameters = m.parameters;
    request.target.kind = fringe::AttributionTarget::Kind::kBox;
    request.target.box = cv::Rect(size / 4, size / 4, size / 2, size / 2);
    std::string label = m.method;
    for (const auto& [k, v] : m.parameters) label += " " + k + "=" + v;
    rows.push_back(Measure(label, runs, [&] {
      auto result = (*explainer)->Explain(frame, request);
      if (!result.ok()) {
        std::cerr << m.method << ": " << result.status() << "\n";
        std::exit(1);
      }
      char note[96];
      std::snprintf(note, sizeof(note), "residual/T %.3g",
                    result->conservation_residual / (std::abs(result->target_value) + 1e-12));
      return std::string(note);
    }));
  }
  for (Row& row : rows) row.ratio = row.ms / forward_ms;
  // Where the default composite's relevance goes, layer by layer (absorbed by biases and
  // stabilisers on the way down).
  std::vector<std::pair<std::string, double>> profile;
  {
    fringe::AttributionRequest request;
    request.method = "lrp";
    request.target.kind = fringe::AttributionTarget::Kind::kBox;
    request.target.box = cv::Rect(size / 4, size / 4, size / 2, size / 2);
    auto result = (*explainer)->Explain(frame, request);
    if (result.ok()) {
      profile = result->layer_sums;
      profile.insert(profile.begin(), {"target", result->target_value});
    }
  }

  std::printf("attribution_bench: U-Net depth 4, base 8, %dx%d, %d thread(s), median of %d\n", size,
              size, threads, runs);
  std::printf("%-52s %10s %8s %12s  %s\n", "method", "ms", "x fwd", "peak RSS MiB", "note");
  for (const Row& row : rows) {
    std::printf("%-52s %10.1f %8.2f %12.1f  %s\n", row.name.c_str(), row.ms, row.ratio,
                row.peak_rss_mib, row.note.c_str());
  }
  std::printf("\nlrp (epsilon-gamma-box) relevance on the cut below each layer:\n");
  for (const auto& [name, sum] : profile) std::printf("  %-22s %12.5g\n", name.c_str(), sum);
  if (!json_path.empty()) {
    nlohmann::json out;
    out["model"] = {{"architecture", "unet"}, {"depth", 4}, {"base_filters", 8}};
    out["size"] = size;
    out["threads"] = threads;
    out["runs"] = runs;
    for (const auto& [name, sum] : profile) out["lrp_layer_sums"].push_back({name, sum});
    for (const Row& row : rows) {
      out["rows"].push_back({{"method", row.name},
                             {"ms", row.ms},
                             {"ratio_to_forward", row.ratio},
                             {"peak_rss_delta_mib", row.peak_rss_mib},
                             {"note", row.note}});
    }
    std::ofstream(json_path) << out.dump(2) << "\n";
  }
  return 0;
}
