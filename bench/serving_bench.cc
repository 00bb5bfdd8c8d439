// serving_bench: in-process forward throughput of a model on 512x512 tiles versus the same
// model served by the real fringe-server over loopback streaming at several concurrencies.
// Prints a table and writes JSON. Not a test: numbers depend on the machine.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

#include "client/fringe_client.h"
#include "models/frame_segmenter.h"
#include "models/torch_models.h"
#include "server/model_repository.h"
#include "tests/support/server_process.h"

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

cv::Mat RandomTile(int side, uint64_t seed) {
  cv::Mat m(side, side, CV_32F);
  cv::RNG(seed).fill(m, cv::RNG::NORMAL, 100.0, 20.0);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serving_bench: in-process vs served segmentation throughput"};
  std::string repository = "models/repository", model = "", server_bin,
              json_path = "bench-serving.json";
  int tiles = 24, threads = 2, side = 512;
  std::vector<int> concurrency = {1, 4, 16};
  app.add_option("--repository", repository)->capture_default_str();
  app.add_option("--model", model, "Model name (default: the repository's default)");
  app.add_option("--server-bin", server_bin, "fringe-server binary")->required();
  app.add_option("--tiles", tiles, "Tiles per measurement")->capture_default_str();
  app.add_option("--threads", threads, "LibTorch intra-op threads (both paths)")
      ->capture_default_str();
  app.add_option("--size", side, "Tile side in pixels")->capture_default_str();
  app.add_option("--concurrency", concurrency, "Requests in flight")->capture_default_str();
  app.add_option("--json", json_path, "Where to write the results")->capture_default_str();
  std::string device = "cpu";
  app.add_option("--device", device, "cpu or cuda:N (both paths)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  nlohmann::json out;
  out["tile"] = side;
  out["tiles_per_run"] = tiles;
  out["intra_op_threads"] = threads;
  out["device"] = device;

  // In-process: the exact code path the server's workers run, without gRPC; once with the
  // eager LibTorch module and once with the oneDNN plan the server uses.
  fringe::SetTorchIntraOpThreads(threads);
  struct Local {
    double tps = 0, p50 = 0, p95 = 0;
  };
  std::string model_id;
  int64_t parameters = 0;
  auto measure = [&](bool onednn) -> std::optional<Local> {
    fringe::ModelRepository::Options options;
    options.root = repository;
    options.default_model = model;
    options.runtime.onednn = onednn;
    options.runtime.device = device;
    auto repo = fringe::ModelRepository::Create(options, fringe::ModelRegistry::WithBuiltins());
    if (!repo.ok() || !(*repo)->LoadAll().ok()) return std::nullopt;
    auto servable = (*repo)->Get(model, 0);
    if (!servable.ok()) return std::nullopt;
    model_id = servable->name + ":" + std::to_string(servable->version);
    parameters = servable->segmenter->parameter_count();
    fringe::FrameSegmenterOptions tiling;
    tiling.tile_size = servable->config.tile_size();
    tiling.tile_margin = servable->config.tile_margin();
    std::vector<double> ms;
    const auto start = Clock::now();
    for (int i = 0; i < tiles; ++i) {
      const cv::Mat tile = RandomTile(side, i);
      const auto t0 = Clock::now();
      if (!fringe::SegmentFrame(*servable->segmenter, tile, tiling).ok()) return std::nullopt;
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return Local{tiles / seconds, Percentile(ms, 50), Percentile(ms, 95)};
  };
  const auto eager = measure(false);
  const auto fast = measure(true);
  if (!eager || !fast) {
    std::fprintf(stderr, "cannot load or run the model from %s\n", repository.c_str());
    return 1;
  }
  const double local_tps = fast->tps;
  out["model"] = model_id;
  out["parameters"] = parameters;
  out["in_process_eager"] = {
      {"tiles_per_s", eager->tps}, {"p50_ms", eager->p50}, {"p95_ms", eager->p95}};
  out["in_process"] = {{"tiles_per_s", fast->tps}, {"p50_ms", fast->p50}, {"p95_ms", fast->p95}};

  fringe::testing::ServerProcess server(
      server_bin, repository,
      {"--workers", "1", "--intra-op-threads", std::to_string(threads), "--log-level", "warn",
       "--device", device});
  std::printf("model %s, %lld params, %dx%d tiles, %d intra-op threads\n\n", model_id.c_str(),
              static_cast<long long>(parameters), side, side, threads);
  std::printf("%-22s %10s %9s %9s %9s %8s\n", "path", "tiles/s", "p50 ms", "p95 ms", "p99 ms",
              "ratio");
  std::printf("%-22s %10.2f %9.1f %9.1f %9s %8.2f\n", "in-process eager", eager->tps, eager->p50,
              eager->p95, "-", eager->tps / local_tps);
  std::printf("%-22s %10.2f %9.1f %9.1f %9s %8s\n", "in-process oneDNN", fast->tps, fast->p50,
              fast->p95, "-", "1.00");

  nlohmann::json served = nlohmann::json::array();
  for (int c : concurrency) {
    // c streams, one request in flight on each: c requests in flight in total.
    std::vector<double> latencies;
    std::mutex mu;
    std::vector<std::thread> clients;
    const int per_stream = std::max(1, tiles / c);
    // Frames are made before timing starts: a microscope's camera delivers them for free, and
    // the client's cost of inventing random pixels is not serving overhead.
    std::vector<fringe::v1::Image> frames;
    for (int i = 0; i < 8; ++i) frames.push_back(*fringe::MakeWireImage(RandomTile(side, 77 + i)));
    const auto start = Clock::now();
    for (int s = 0; s < c; ++s) {
      clients.emplace_back([&, s] {
        fringe::FringeClient::Options o;
        o.target = server.address();
        auto client = fringe::FringeClient::Create(o);
        int sent = 0;
        Clock::time_point sent_at;
        const absl::Status status = client->SegmentStream(
            [&](fringe::v1::SegmentRequest* r) {
              if (sent == per_stream) return false;
              r->set_id(std::to_string(sent));
              *r->mutable_image() = frames[(s + sent) % frames.size()];
              r->mutable_model()->set_name(model);
              ++sent;
              sent_at = Clock::now();
              return true;
            },
            [&](fringe::v1::SegmentResponse&&) {
              const double ms =
                  std::chrono::duration<double, std::milli>(Clock::now() - sent_at).count();
              std::lock_guard<std::mutex> lock(mu);
              latencies.push_back(ms);
            },
            1);
        if (!status.ok()) {
          std::fprintf(stderr, "stream failed: %s\n", std::string(status.message()).c_str());
        }
      });
    }
    for (auto& t : clients) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double tps = latencies.size() / seconds;
    std::printf("%-22s %10.2f %9.1f %9.1f %9.1f %8.2f\n",
                ("served, concurrency " + std::to_string(c)).c_str(), tps,
                Percentile(latencies, 50), Percentile(latencies, 95), Percentile(latencies, 99),
                tps / local_tps);
    served.push_back({{"concurrency", c},
                      {"tiles", latencies.size()},
                      {"tiles_per_s", tps},
                      {"p50_ms", Percentile(latencies, 50)},
                      {"p95_ms", Percentile(latencies, 95)},
                      {"p99_ms", Percentile(latencies, 99)},
                      {"ratio_to_in_process", tps / local_tps}});
  }
  out["served"] = served;
  server.StopWith(SIGTERM);
  std::ofstream(json_path) << out.dump(2) << "\n";
  std::printf("\nwrote %s\n", json_path.c_str());
  return 0;
}
