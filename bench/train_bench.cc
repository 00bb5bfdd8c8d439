// train_bench: how fast this machine makes training data and trains. Simulator images/s at
// 512x512 on 1 and 2 threads, then training steps/s for a recipe (default: the default
// model's), data preparation included. Prints a table and writes JSON.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "sim/hrtem_simulator.h"
#include "train/trainer.h"
#include "train/training_data.h"

namespace {

using Clock = std::chrono::steady_clock;

double SimImagesPerSecond(int size, int threads, int images) {
  fringe::sim::SimulatorOptions options;
  options.height = options.width = size;
  auto sim = fringe::sim::HrtemSimulator::Create(options);
  if (!sim.ok()) return 0;
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = t; i < images; i += threads) (*sim)->Generate(99, i);
    });
  }
  for (auto& t : pool) t.join();
  return images / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"train_bench: simulator and training throughput"};
  std::string recipe = "models/recipes/default_unet.pbtxt", json_path = "bench-train.json";
  int images = 24, steps = 20;
  app.add_option("--recipe", recipe, "TrainConfig to time")->capture_default_str();
  app.add_option("--images", images, "Simulated images per measurement")->capture_default_str();
  app.add_option("--steps", steps, "Training steps to time")->capture_default_str();
  app.add_option("--json", json_path)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  nlohmann::json out;
  std::printf("%-40s %12s\n", "measurement", "rate");
  for (int threads : {1, 2}) {
    const double rate = SimImagesPerSecond(512, threads, images);
    std::printf("%-40s %9.2f /s\n",
                ("simulator 512x512, " + std::to_string(threads) + " thread(s)").c_str(), rate);
    out["simulator_512_images_per_s"][std::to_string(threads)] = rate;
  }

  auto config = fringe::LoadTrainConfig(recipe, [&](fringe::v1::TrainConfig* c) {
    c->set_output_repository("");
    c->set_checkpoint_dir("");
    c->set_steps(steps + 1);
    c->set_validate_every(1000000);
    c->set_validation_images(1);
  });
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  fringe::Trainer::Options options;
  options.write_version = false;
  options.report_every = 1;
  auto trainer = fringe::Trainer::Create(*config, options);
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(trainer.status().message()).c_str());
    return 1;
  }
  // Time from the end of the first step (warm-up) to the last.
  Clock::time_point first;
  int64_t first_step = 0, last_step = 0;
  Clock::time_point last;
  auto result = (*trainer)->Run([&](const fringe::TrainProgress& p) {
    if (p.step == 1) {
      first = Clock::now();
      first_step = 1;
    }
    last = Clock::now();
    last_step = p.step;
  });
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  const double seconds = std::chrono::duration<double>(last - first).count();
  const double steps_per_s = (last_step - first_step) / seconds;
  const double tiles_per_s = steps_per_s * config->batch_size();
  std::printf("%-40s %9.3f /s\n",
              ("training steps (batch " + std::to_string(config->batch_size()) + " x " +
               std::to_string(config->tile()) + "^2)")
                  .c_str(),
              steps_per_s);
  std::printf("%-40s %9.2f /s\n", "training tiles", tiles_per_s);
  out["recipe"] = recipe;
  out["batch_size"] = config->batch_size();
  out["tile"] = config->tile();
  out["threads"] = config->threads();
  out["training_steps_per_s"] = steps_per_s;
  out["training_tiles_per_s"] = tiles_per_s;
  std::ofstream(json_path) << out.dump(2) << "\n";
  std::printf("wrote %s\n", json_path.c_str());
  return 0;
}
