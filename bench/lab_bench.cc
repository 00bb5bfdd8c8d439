// lab_bench: the shared lab server's promise, measured in one run against the real
// fringe-server: a live stream's latency with the server idle, while a training job runs, and
// while a batch flood runs; and the training job's speed alone versus sharing the device with
// a live stream that uses about half of the capacity. Prints a table and writes JSON.
// Not a test: numbers depend on the machine.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "client/fringe_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_repository.h"

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5))];
}

fringe::v1::SegmentRequest Tile(int side, fringe::v1::Priority priority, uint64_t seed) {
  fringe::v1::SegmentRequest r;
  r.set_id("t");
  r.set_priority(priority);
  cv::Mat m(side, side, CV_32F);
  cv::RNG(seed).fill(m, cv::RNG::NORMAL, 100.0, 20.0);
  *r.mutable_image() = *fringe::MakeWireImage(m);
  return r;
}

struct Latency {
  double p50 = 0, p99 = 0;
  size_t n = 0;
};

// Sends `count` live tiles, one every `period` (open loop, as a camera would), and returns the
// end-to-end latencies.
Latency LiveStream(fringe::FringeClient& client, int side, int count,
                   std::chrono::duration<double> period) {
  std::vector<double> ms;
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(period * i));
    const auto t0 = Clock::now();
    auto r = client.Segment(Tile(side, fringe::v1::PRIORITY_LIVE, i));
    if (r.ok()) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return {Percentile(ms, 50), Percentile(ms, 99), ms.size()};
}

double TrainingSteps(int metrics_port) {
  httplib::Client http("127.0.0.1", metrics_port);
  auto res = http.Get("/metrics");
  if (!res) return -1;
  const std::string key = "\nfringe_training_steps_total ";
  const size_t at = res->body.find(key);
  return at == std::string::npos ? -1 : std::stod(res->body.substr(at + key.size()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lab_bench: live latency under training and floods; training speed shared"};
  std::string repository = "models/repository", server_bin, json_path = "bench-lab.json";
  int side = 256, live_count = 80, train_tile = 64, micro_batch = 1, batch = 4, threads = 2;
  double window_s = 20;
  app.add_option("--repository", repository)->capture_default_str();
  app.add_option("--server-bin", server_bin, "fringe-server binary")->required();
  app.add_option("--tile", side, "Live tile side")->capture_default_str();
  app.add_option("--live-count", live_count, "Live tiles per phase")->capture_default_str();
  app.add_option("--train-tile", train_tile, "Training crop side")->capture_default_str();
  app.add_option("--batch", batch, "Training batch")->capture_default_str();
  app.add_option("--micro-batch", micro_batch, "Training micro-batch")->capture_default_str();
  app.add_option("--window", window_s, "Seconds to time training alone")->capture_default_str();
  app.add_option("--threads", threads, "Server intra-op threads")->capture_default_str();
  int training_threads = 0;
  app.add_option("--training-threads", training_threads, "Training job threads [--threads]");
  app.add_option("--json", json_path)->capture_default_str();
  std::string device = "cpu";
  app.add_option("--device", device, "Server device: cpu or cuda:N (inference and training)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string state = fringe::testing::MakeTempDir("lab_bench");
  fringe::testing::ServerProcess server(
      server_bin, repository,
      {"--intra-op-threads", std::to_string(threads), "--state-dir", state,
       "--repository-poll-seconds", "-1", "--device", device});
  fringe::FringeClient::Options options;
  options.target = server.address();
  auto client = fringe::FringeClient::Create(options);

  // Capacity: the service time of one live tile on an idle server.
  for (int i = 0; i < 5; ++i) (void)client->Segment(Tile(side, fringe::v1::PRIORITY_LIVE, 99));
  std::vector<double> service;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    if (auto r = client->Segment(Tile(side, fringe::v1::PRIORITY_LIVE, i)); !r.ok()) {
      std::fprintf(stderr, "segment: %s\n", r.status().ToString().c_str());
      return 1;
    }
    service.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const double s = Percentile(service, 50);
  const auto half_capacity = std::chrono::duration<double>(2 * s);  // One tile per 2 service times.
  std::printf(
      "live tile %dx%d: %.1f ms per tile idle; stream at 50%% capacity = 1 tile / %.0f ms\n", side,
      side, s * 1000, 2 * s * 1000);

  const Latency idle = LiveStream(*client, side, live_count, half_capacity);

  // A training job on the same device: the default U-Net architecture, small crops,
  // micro-batches so a waiting tile is delayed by at most one short piece.
  fringe::v1::SubmitJobRequest job;
  fringe::v1::TrainConfig* c = job.mutable_spec()->mutable_config();
  c->mutable_model()->set_architecture("unet");
  c->mutable_model()->mutable_unet()->set_depth(4);
  c->mutable_model()->mutable_unet()->set_base_filters(8);
  c->mutable_model()->mutable_unet()->set_batch_norm(true);
  c->mutable_model()->set_tile_size(512);
  c->mutable_model()->set_tile_margin(32);
  c->mutable_synthetic()->set_image_size(train_tile);
  c->set_tile(train_tile);
  c->set_batch_size(batch);
  c->set_micro_batch(micro_batch);
  c->set_steps(1000000);
  c->set_validate_every(1000000);
  c->set_checkpoint_every(1000000);
  c->set_validation_images(1);
  c->set_validation_size(train_tile);
  job.mutable_spec()->set_output_name("bench");
  auto submitted = client->SubmitJob(job);
  if (!submitted.ok()) {
    std::fprintf(stderr, "submit: %s\n", submitted.status().ToString().c_str());
    return 1;
  }
  // Warm up, then training alone.
  while (TrainingSteps(server.metrics_port()) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double s0 = TrainingSteps(server.metrics_port());
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_s));
  const double alone = (TrainingSteps(server.metrics_port()) - s0) /
                       std::chrono::duration<double>(Clock::now() - t0).count();

  // Training + the live stream at half capacity.
  s0 = TrainingSteps(server.metrics_port());
  t0 = Clock::now();
  const Latency training = LiveStream(*client, side, live_count, half_capacity);
  const double shared = (TrainingSteps(server.metrics_port()) - s0) /
                        std::chrono::duration<double>(Clock::now() - t0).count();
  (void)client->CancelJob(submitted->id());  // The server stops with the bench anyway.
  while (true) {
    auto j = client->GetJob(submitted->id());
    if (!j.ok() || j->state() >= fringe::v1::JOB_SUCCEEDED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  // A batch flood from four clients (full 512x512 frames) + the live stream.
  std::atomic<bool> stop{false};
  std::vector<std::thread> flood;
  for (int t = 0; t < 4; ++t) {
    flood.emplace_back([&, t] {
      auto c2 = fringe::FringeClient::Create(options);
      fringe::v1::SegmentRequest r = Tile(512, fringe::v1::PRIORITY_BATCH, 1000 + t);
      r.set_client_id("flood-" + std::to_string(t));
      while (!stop) (void)c2->Segment(r);  // A flood: refusals (queue full) are expected.
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Latency flooded = LiveStream(*client, side, live_count, half_capacity);
  stop = true;
  for (auto& t : flood) t.join();

  std::printf("\n%-34s %10s %10s %8s\n", "live stream (50% capacity)", "p50 ms", "p99 ms",
              "p99/idle");
  for (const auto& [name, l] : {std::pair{"idle", idle},
                                {"while training", training},
                                {"while a batch flood runs", flooded}}) {
    std::printf("%-34s %10.1f %10.1f %8.2f\n", name, l.p50, l.p99, l.p99 / idle.p99);
  }
  std::printf("\n%-34s %10s %10s\n", "training (steps/s)", "steps/s", "ratio");
  std::printf("%-34s %10.2f %10.2f\n", "alone", alone, 1.0);
  std::printf("%-34s %10.2f %10.2f\n", "with the live stream", shared, shared / alone);
  std::printf(
      "\ntargets: live p99 while training <= 1.5x idle; training keeps >= 0.40 of its speed\n");

  nlohmann::json out;
  out["live_tile"] = side;
  out["device"] = device;
  out["service_ms"] = s * 1000;
  out["stream_period_ms"] = 2 * s * 1000;
  out["training"] = {{"tile", train_tile}, {"batch", batch}, {"micro_batch", micro_batch}};
  for (const auto& [name, l] :
       {std::pair{"idle", idle}, {"training", training}, {"batch_flood", flooded}}) {
    out["live"][name] = {
        {"p50_ms", l.p50}, {"p99_ms", l.p99}, {"n", l.n}, {"p99_over_idle", l.p99 / idle.p99}};
  }
  out["training_steps_per_s"] = {{"alone", alone}, {"shared", shared}, {"ratio", shared / alone}};
  std::ofstream(json_path) << out.dump(2) << "\n";
  std::printf("wrote %s\n", json_path.c_str());
  return 0;
}
