// attribution_bench: how much each attribution method costs next to one forward pass.
// A depth-4, base-8 U-Net (random init, BatchNorm calibrated on random frames) on a 512x512
// tile: times the eager module's forward pass (and the oneDNN serving plan when available),
// then every method through the public Explainer API, each the median of --runs runs in the
// same process. Prints a table (method, ms, ratio to the eager forward, peak RSS growth) and
// the default LRP composite's per-layer relevance, and writes JSON with --json.
//
// The memory mode checks that a request's memory is freed when it ends (issue 6: no growth
// over 1,000 requests): it runs --memory-requests LRP explains (default composite, box
// target) on a --memory-size tile one after another and reports the resident set size before
// the first, after a warm-up of 10 (allocator pools and oneDNN caches fill once), after the
// last, its peak, and the growth per request after the warm-up, sampled every tenth of the run.
//
//   attribution_bench [--mode all|timing|memory] [--runs 3] [--threads 1] [--size 512]
//                     [--memory-requests 1000] [--memory-size 64] [--json PATH]
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

#include "base/process_memory.h"
#include "models/attribution/attribution.h"
#include "models/model_config.h"
#include "models/repository_layout.h"
#include "models/unet.h"
#include "models/unet_onednn.h"

namespace {

using Clock = std::chrono::steady_clock;

// A /proc/self/status memory entry ("VmRSS", "VmHWM") in MiB.
double ProcStatusMiB(const std::string& key) {
  return static_cast<double>(fringe::ProcessStatusBytes(key)) / (1 << 20);
}

// Resets the peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0), so that each method's
// peak is measured on its own.
void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

struct MemoryCheck {
  int requests = 0;
  int warmup = 0;
  int size = 0;
  double rss_before_mib = 0;
  double rss_after_warmup_mib = 0;
  double rss_after_mib = 0;
  double peak_rss_mib = 0;
  double growth_per_request_kib = 0;  // (after - after warm-up) / requests after warm-up.
  double ms_per_request = 0;
  std::vector<std::pair<int, double>> samples;  // (requests done, RSS MiB).
};

// Runs `requests` LRP explains back to back and watches the resident set size.
MemoryCheck CheckMemory(const fringe::Explainer& explainer, int requests, int size) {
  MemoryCheck m;
  m.requests = requests;
  m.size = size;
  m.warmup = std::min(10, requests);
  cv::Mat frame(size, size, CV_32F);
  cv::randn(frame, 0, 1);
  fringe::AttributionRequest request;
  request.method = "lrp";
  request.target.kind = fringe::AttributionTarget::Kind::kBox;
  request.target.box = cv::Rect(size / 4, size / 4, size / 2, size / 2);
  ResetPeakRss();
  m.rss_before_mib = ProcStatusMiB("VmRSS");
  m.samples.push_back({0, m.rss_before_mib});
  const int every = std::max(1, requests / 10);
  const auto start = Clock::now();
  for (int i = 1; i <= requests; ++i) {
    auto result = explainer.Explain(frame, request);
    if (!result.ok()) {
      std::cerr << "memory check: " << result.status() << "\n";
      std::exit(1);
    }
    if (i == m.warmup) m.rss_after_warmup_mib = ProcStatusMiB("VmRSS");
    if (i % every == 0 || i == requests) m.samples.push_back({i, ProcStatusMiB("VmRSS")});
  }
  m.ms_per_request = std::chrono::duration<double, std::milli>(Clock::now() - start).count() /
                     std::max(1, requests);
  m.rss_after_mib = ProcStatusMiB("VmRSS");
  m.peak_rss_mib = ProcStatusMiB("VmHWM");
  if (requests > m.warmup) {
    m.growth_per_request_kib =
        (m.rss_after_mib - m.rss_after_warmup_mib) * 1024.0 / (requests - m.warmup);
  }
  return m;
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
  int runs = 3, threads = 1, size = 512, memory_requests = 1000, memory_size = 64;
  std::string json_path, mode = "all";
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
    } else if (arg == "--mode") {
      mode = next();
      if (mode != "all" && mode != "timing" && mode != "memory") {
        std::cerr << "--mode is all, timing or memory\n";
        return 2;
      }
    } else if (arg == "--memory-requests") {
      memory_requests = std::max(1, std::atoi(next().c_str()));
    } else if (arg == "--memory-size") {
      memory_size = std::max(16, std::atoi(next().c_str()) / 16 * 16);
    } else {
      std::cerr << "usage: attribution_bench [--mode all|timing|memory] [--runs N] [--threads N] "
                   "[--size PX] [--memory-requests N] [--memory-size PX] [--json PATH]\n";
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
  torch::save(net, fringe::repository_layout::WeightsPath(dir));
  auto explainer = fringe::Explainer::Load(config, dir);
  std::filesystem::remove_all(dir);
  if (!explainer.ok()) {
    std::cerr << explainer.status() << "\n";
    return 1;
  }

  cv::Mat frame(size, size, CV_32F);
  cv::randn(frame, 0, 1);
  const torch::Tensor x = torch::randn({1, 1, size, size});

  const bool timing = mode != "memory", memory = mode != "timing";
  std::vector<Row> rows;
  std::vector<std::pair<std::string, double>> profile;
  if (timing) {
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
  }
  MemoryCheck mem;
  if (memory) mem = CheckMemory(**explainer, memory_requests, memory_size);

  if (timing) {
    std::printf("attribution_bench: U-Net depth 4, base 8, %dx%d, %d thread(s), median of %d\n",
                size, size, threads, runs);
    std::printf("%-52s %10s %8s %12s  %s\n", "method", "ms", "x fwd", "peak RSS MiB", "note");
    for (const Row& row : rows) {
      std::printf("%-52s %10.1f %8.2f %12.1f  %s\n", row.name.c_str(), row.ms, row.ratio,
                  row.peak_rss_mib, row.note.c_str());
    }
    std::printf("\nlrp (epsilon-gamma-box) relevance on the cut below each layer:\n");
    for (const auto& [name, sum] : profile) std::printf("  %-22s %12.5g\n", name.c_str(), sum);
  }
  if (memory) {
    const std::string warmup_label = "after " + std::to_string(mem.warmup) + " (warm-up)";
    std::printf(
        "\nmemory: %d LRP explains (epsilon-gamma-box, box target) on a %dx%d tile, "
        "%.1f ms each\n",
        mem.requests, mem.size, mem.size, mem.ms_per_request);
    std::printf("%-28s %10s\n", "resident set size", "MiB");
    std::printf("%-28s %10.1f\n", "before the first request", mem.rss_before_mib);
    std::printf("%-28s %10.1f\n", warmup_label.c_str(), mem.rss_after_warmup_mib);
    std::printf("%-28s %10.1f\n", "after the last request", mem.rss_after_mib);
    std::printf("%-28s %10.1f\n", "peak during the run", mem.peak_rss_mib);
    std::printf("growth after the warm-up: %.2f KiB per request (%.1f MiB over %d requests)\n",
                mem.growth_per_request_kib, mem.rss_after_mib - mem.rss_after_warmup_mib,
                mem.requests - mem.warmup);
  }
  if (!json_path.empty()) {
    nlohmann::json out;
    out["model"] = {{"architecture", "unet"}, {"depth", 4}, {"base_filters", 8}};
    out["size"] = size;
    out["threads"] = threads;
    out["runs"] = runs;
    out["mode"] = mode;
    for (const auto& [name, sum] : profile) out["lrp_layer_sums"].push_back({name, sum});
    for (const Row& row : rows) {
      out["rows"].push_back({{"method", row.name},
                             {"ms", row.ms},
                             {"ratio_to_forward", row.ratio},
                             {"peak_rss_delta_mib", row.peak_rss_mib},
                             {"note", row.note}});
    }
    if (memory) {
      nlohmann::json samples = nlohmann::json::array();
      for (const auto& [done, rss] : mem.samples)
        samples.push_back({{"requests", done}, {"rss_mib", rss}});
      out["memory"] = {{"method", "lrp (epsilon-gamma-box)"},
                       {"tile", mem.size},
                       {"requests", mem.requests},
                       {"warmup_requests", mem.warmup},
                       {"ms_per_request", mem.ms_per_request},
                       {"rss_before_mib", mem.rss_before_mib},
                       {"rss_after_warmup_mib", mem.rss_after_warmup_mib},
                       {"rss_after_mib", mem.rss_after_mib},
                       {"peak_rss_mib", mem.peak_rss_mib},
                       {"growth_per_request_kib", mem.growth_per_request_kib},
                       {"samples", samples}};
    }
    std::ofstream(json_path) << out.dump(2) << "\n";
  }
  return 0;
}
