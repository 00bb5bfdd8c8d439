// fringe-train: creates and (soon) trains model versions for a fringe repository.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>

#include "base/file_util.h"
#include "common/progress_bar.h"
#include "data/image_io.h"
#include "models/model_config.h"
#include "models/repository_layout.h"
#include "models/torch_models.h"
#include "train/source_revision.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;

// `init`: writes <out>/config.pbtxt and freshly initialised <out>/weights.pt, marked
// untrained, so a repository can serve an architecture before any training has happened.
int RunInit(const std::string& config_path, const std::string& out_dir, uint64_t seed,
            const std::string& vgg16_weights) {
  auto config = fringe::LoadModelConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  if (config->architecture() != "unet" && config->architecture() != "fcn8s") {
    std::fprintf(stderr, "error: init supports architectures \"unet\" and \"fcn8s\", not \"%s\"\n",
                 config->architecture().c_str());
    return 1;
  }
  config->set_untrained(true);
  config->mutable_provenance()->set_created_by("fringe-train init");
  config->mutable_provenance()->set_seed(seed);
  config->mutable_provenance()->set_notes("random initialisation, never trained");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", out_dir.c_str(), ec.message().c_str());
    return 1;
  }
  const std::string weights = fringe::repository_layout::WeightsPath(out_dir);
  std::string imported;
  if (absl::Status s =
          fringe::WriteInitialWeights(*config, weights, seed, vgg16_weights, &imported);
      !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (!imported.empty()) {
    std::fprintf(stderr, "%s\n", imported.c_str());
    config->mutable_provenance()->set_notes("never trained on HRTEM; " + imported);
  }
  const std::string config_out = fringe::repository_layout::ConfigPath(out_dir);
  if (absl::Status s = fringe::WriteFileAtomically(
          config_out, "# Written by fringe-train init.\n" + fringe::ModelConfigToText(*config));
      !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("wrote %s and %s\n", config_out.c_str(), weights.c_str());
  return 0;
}

std::atomic<bool> g_stop{false};

extern "C" void OnSignal(int) { g_stop.store(true); }

std::string FormatMetrics(const std::map<std::string, double>& m) {
  std::string out;
  for (const char* key : {"dice", "iou", "precision", "recall", "dice_dose_lt100",
                          "dice_dose_100_300", "dice_dose_ge300"}) {
    auto it = m.find(key);
    if (it == m.end()) continue;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%s %.3f", out.empty() ? "" : ", ", key, it->second);
    out += buf;
  }
  return out;
}

// `train`: runs the Trainer; Ctrl-C checkpoints and stops (resume with --resume).
int RunTrain(const std::string& config_path, bool resume, int64_t stop_after,
             const std::string& output_repository, const std::string& vgg16_weights,
             const std::string& device) {
  auto config = fringe::LoadTrainConfig(config_path, [&](fringe::v1::TrainConfig* c) {
    if (!output_repository.empty()) c->set_output_repository(output_repository);
    if (!vgg16_weights.empty()) c->set_vgg16_weights(vgg16_weights);
  });
  if (!config.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  fringe::Trainer::Options options;
  options.resume = resume;
  options.stop_after_steps = stop_after;
  options.device = device;
  options.stop_requested = &g_stop;
  options.source_revision = fringe::SourceTreeRevision();
  std::fprintf(stderr, "preparing data (validation set of %d images)...\n",
               config->validation_images());
  auto trainer = fringe::Trainer::Create(*config, options);
  if (!trainer.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(trainer.status().message()).c_str());
    return 1;
  }
  fringe::ProgressBar bar("train", config->steps());
  double last_loss = 0;
  std::string last_val;
  auto result = (*trainer)->Run([&](const fringe::TrainProgress& p) {
    last_loss = p.loss;
    if (p.validated) {
      last_val = FormatMetrics(p.validation);
      std::fprintf(stderr, "%sstep %lld/%lld loss %.4f lr %.2e | validation: %s\n",
                   isatty(2) ? "\r\033[K" : "", static_cast<long long>(p.step),
                   static_cast<long long>(p.total_steps), p.loss, p.learning_rate,
                   last_val.c_str());
    }
    char suffix[64];
    std::snprintf(suffix, sizeof(suffix), "loss %.4f", last_loss);
    bar.Update(p.step, suffix);
  });
  bar.Finish();
  if (!result.ok()) {
    std::fprintf(stderr, "%s: %s\n",
                 result.status().code() == absl::StatusCode::kCancelled ? "stopped" : "error",
                 std::string(result.status().message()).c_str());
    return result.status().code() == absl::StatusCode::kCancelled ? 130 : 1;
  }
  std::printf("trained %lld steps in %.0f s%s%s; best validation at step %lld: %s\n",
              static_cast<long long>(result->steps), result->seconds,
              result->resumed ? " (resumed)" : "", result->stopped_early ? ", stopped early" : "",
              static_cast<long long>(result->best_step),
              FormatMetrics(result->best_validation).c_str());
  if (!result->version_dir.empty()) std::printf("wrote %s\n", result->version_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fringe-train: create and train fringe model versions"};
  app.require_subcommand(1);
  std::string config_path, out_dir;
  uint64_t seed = 1;
  CLI::App* init = app.add_subcommand("init", "Write a randomly initialised (untrained) version");
  init->add_option("--config", config_path, "Text-format fringe.v1.ModelConfig")
      ->required()
      ->check(CLI::ExistingFile);
  init->add_option("--out", out_dir, "Version directory, e.g. models/repository/NAME/1")
      ->required();
  init->add_option("--seed", seed, "Initialisation seed")->capture_default_str();
  std::string vgg16_weights;
  init->add_option("--vgg16-weights", vgg16_weights,
                   "fcn8s: initialise the backbone from torchvision's ImageNet vgg16 weights, "
                   "converted with: " +
                       std::string(fringe::kVgg16ConvertCommand))
      ->check(CLI::ExistingFile);
  std::string train_config;
  bool resume = false;
  int64_t stop_after = 0;
  CLI::App* train = app.add_subcommand("train", "Train a model version from a TrainConfig");
  train->add_option("--config", train_config, "Text-format fringe.v1.TrainConfig")
      ->required()
      ->check(CLI::ExistingFile);
  train->add_flag("--resume", resume, "Continue from the newest checkpoint");
  std::string output_repository;
  train->add_option("--output-repository", output_repository,
                    "Write the version (and, by default, checkpoints) here instead of the "
                    "config's output_repository");
  train
      ->add_option("--vgg16-weights", vgg16_weights,
                   "fcn8s: initialise the backbone from torchvision's ImageNet vgg16 weights "
                   "(sets the config's vgg16_weights); convert them with: " +
                       std::string(fringe::kVgg16ConvertCommand))
      ->check(CLI::ExistingFile);
  std::string device = "cpu";
  train->add_option("--device", device, "Where to train: cpu or cuda:N")->capture_default_str();
  train->add_option("--stop-after", stop_after,
                    "Checkpoint and stop after this many steps of this run (0 = run to the end)");
  CLI11_PARSE(app, argc, argv);
  if (*init) return RunInit(config_path, out_dir, seed, vgg16_weights);
  if (*train)
    return RunTrain(train_config, resume, stop_after, output_repository, vgg16_weights, device);
  return 2;
}
