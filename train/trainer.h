// The training engine behind `fringe-train train` (and, later, server-side training jobs):
// U-Net and FCN8s training on synthetic and/or labelled data with cross-entropy + Dice loss,
// Adam with warm-up and cosine decay, fine-tuning (ImageNet VGG16 backbone, frozen warm-up,
// discriminative learning rates), periodic validation, checkpoints with exact resume, early
// stopping, and a final model version written into a repository with its provenance.
// Torch-free header.
#ifndef FRINGE_TRAIN_TRAINER_H_
#define FRINGE_TRAIN_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/train_config.pb.h"
#include "train/train_config.h"  // Parse/Load/Validate, for the trainer's callers.

namespace fringe {

struct TrainProgress {
  int64_t step = 0;  // Steps done.
  int64_t total_steps = 0;
  double loss = 0;  // Mean training loss since the last report.
  double learning_rate = 0;
  bool validated = false;                    // True when this report carries validation numbers.
  std::map<std::string, double> validation;  // "dice", "iou", ..., "dice_dose_lt100", ...
};

struct TrainResult {
  int64_t steps = 0;
  bool stopped_early = false;
  bool resumed = false;
  int64_t resumed_from_step = 0;
  std::map<std::string, double> best_validation;
  int64_t best_step = 0;
  int64_t version = 0;          // The model version written (0 if none).
  std::string version_dir;      // Where it was written ("" if no output).
  double seconds = 0;           // This run's wall time.
  double training_seconds = 0;  // Training time over this run and the runs it resumed.
};

class Trainer {
 public:
  struct Options {
    bool resume = false;  // Continue from the newest checkpoint when there is one.
    int64_t stop_after_steps =
        0;  // Tests/CLI: stop (checkpointing) after this many steps of this run.
    bool write_version = true;  // Write the model version at the end.
    // The source revision recorded in the version's provenance (fringe-train and fringe-study
    // pass SourceTreeRevision); empty = the revision fringe was built from.
    std::string source_revision;
    int report_every = 10;  // Steps between progress callbacks.
    // When it becomes true (e.g. from a SIGINT handler) the run checkpoints and returns
    // CANCELLED; resuming later continues exactly.
    const std::atomic<bool>* stop_requested = nullptr;
    // Called before every optimisation step; it may block. The server's training jobs wait
    // here while inference is queued (device sharing), so a waiting tile is delayed by at
    // most one step.
    std::function<void()> before_step;
    // Called between the micro-batches of a step (TrainConfig.micro_batch) and after a batch
    // is prepared without prefetch; it may block.
    std::function<void()> between_micro_batches;
    // Runs one piece of the device's work and returns true, or returns false without running
    // it (the run then checkpoints and stops as if stop_requested were set). Pieces: a
    // batch's preparation (without prefetch), each micro-batch's forward and backward (the
    // last one with the optimiser step), each validation image. Unset: called directly. The
    // server runs them on its inference workers between requests (Scheduler::
    // RunTrainingPiece), so a waiting tile is delayed by at most one piece.
    std::function<bool(const std::function<void()>&)> run_piece;
    // Where the network trains: "cpu" or "cuda:N". Checkpoints resume on any device; the
    // version written at the end is always loadable on a CPU.
    std::string device = "cpu";
    // Prepare the next batch on another thread while this one trains (fastest alone). Off,
    // batches are made on the training thread after before_step(), so a server's job uses
    // the CPU only while it holds the device.
    bool prefetch = true;
  };

  // Validates the config and prepares the data; FAILED_PRECONDITION when checkpoints exist
  // but resume is false (so a run never silently overwrites another's).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const v1::TrainConfig& config,
                                                         const Options& options);
  ~Trainer();

  // Trains to the end (or early stop, time limit, stop_after_steps). `on_progress` is called
  // from this thread. A corrupt checkpoint is reported (DATA_LOSS naming the file) and never
  // deleted.
  absl::StatusOr<TrainResult> Run(const std::function<void(const TrainProgress&)>& on_progress);

  // Flat copy of all trainable parameters (tests compare runs with it).
  std::vector<float> ParameterSnapshot() const;
  // The same by parameter name ("conv1_1.conv.weight", "down.0.first.conv.bias", ...).
  std::map<std::string, std::vector<float>> NamedParameterSnapshot() const;

 private:
  class Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fringe

#endif  // FRINGE_TRAIN_TRAINER_H_
