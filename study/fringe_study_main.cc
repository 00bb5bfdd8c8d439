// fringe-study: the architecture study in one command (see study/study_runner.h).
//   build/study/fringe-study --config study/architecture_study.pbtxt --out study-output
// Ctrl-C checkpoints the running candidate; the same command again goes on from there.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "study/study_runner.h"
#include "train/source_revision.h"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnSignal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fringe-study: train and compare segmentation architectures on one held-out set"};
  std::string config_path, out_dir = "study-output", only, vgg16;
  double minutes = 0;
  int threads = 0;
  bool quiet = false;
  app.add_option("--config", config_path, "Text-format fringe.v1.StudyConfig")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_dir, "Output folder (resumes what is there) [study-output]");
  app.add_option("--minutes", minutes,
                 "Training budget per candidate in minutes (overrides the config)")
      ->check(CLI::PositiveNumber);
  app.add_option("--only", only, "Comma-separated candidate names to run (others keep results)");
  app.add_option("--vgg16-weights", vgg16,
                 "torchvision vgg16 state dict for the ImageNet-initialised candidates")
      ->check(CLI::ExistingFile);
  app.add_option("--threads", threads, "LibTorch threads for training and evaluation")
      ->check(CLI::Range(1, 256));
  app.add_flag("--quiet", quiet, "No progress output");
  CLI11_PARSE(app, argc, argv);

  auto study = fringe::study::LoadStudyConfig(config_path);
  if (!study.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(study.status().message()).c_str());
    return 2;
  }
  if (minutes > 0) study->set_minutes_per_candidate(minutes);
  if (!vgg16.empty()) study->set_vgg16_weights(vgg16);
  if (threads > 0) study->mutable_base()->set_threads(threads);

  fringe::study::StudyOptions options;
  options.out_dir = out_dir;
  if (!only.empty()) options.only = absl::StrSplit(only, ',', absl::SkipEmpty());
  options.quiet = quiet;
  options.stop_requested = &g_stop;
  options.source_revision = fringe::SourceTreeRevision();
  std::vector<std::string> args(argv, argv + argc);
  options.command = absl::StrJoin(args, " ");
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const absl::Status status = fringe::study::RunStudy(*study, options);
  if (!status.ok()) {
    const bool stopped = status.code() == absl::StatusCode::kCancelled;
    std::fprintf(stderr, "%s: %s%s\n", stopped ? "stopped" : "error",
                 std::string(status.message()).c_str(),
                 stopped ? " (run the same command again to go on)" : "");
    return stopped ? 130 : 1;
  }
  return 0;
}
