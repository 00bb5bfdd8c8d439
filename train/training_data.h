// Training batches as a pure function of (seed, step): a batch never depends on what was
// generated before it, so an interrupted run that resumes at step s sees exactly the batches
// an uninterrupted run would have seen. No LibTorch here.
#ifndef FRINGE_TRAIN_TRAINING_DATA_H_
#define FRINGE_TRAIN_TRAINING_DATA_H_

#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/train_config.pb.h"
#include "sim/hrtem_simulator.h"

namespace fringe {

// N standardised single-channel tiles (N x T x T floats) and their 0/1 masks.
struct Batch {
  int size = 0;
  int tile = 0;
  std::vector<float> images;
  std::vector<uint8_t> masks;
};

// A held-out image with its mask and dose (for per-dose validation).
struct ValidationImage {
  cv::Mat image;  // CV_32F, standardised over the whole frame.
  cv::Mat mask;   // CV_8U 0/1.
  std::optional<double> dose;
  std::string name;
  std::optional<double> pixel_size_nm;  // Known for synthetic images.
};

// Deterministic 64-bit mixing of several values (SplitMix64 chain).
uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c = 0);

// Standardises a frame (zero mean, unit variance; constant frames become zeros), as serving
// does before tiling.
cv::Mat StandardiseFrame(const cv::Mat& frame);

// Applies the configured augmentation to one standardised tile and its mask, in place, from
// `seed`: flips, 90-degree rotations, noise x' = (x + N(0, rho)) / sqrt(1 + rho^2).
void Augment(const v1::AugmentationConfig& config, uint64_t seed, cv::Mat* image, cv::Mat* mask);

class TrainingData {
 public:
  // Validates the data sections of `config` (simulator options, labelled folder) and loads the
  // labelled images into memory. INVALID_ARGUMENT / NOT_FOUND name the problem.
  static absl::StatusOr<std::unique_ptr<TrainingData>> Create(const v1::TrainConfig& config);

  // The training batch of `step`. Thread-safe; the same step always gives the same batch.
  Batch MakeBatch(int64_t step) const;

  // The held-out validation images: synthetic ones from validation_seed (never a training
  // seed) plus the labelled validation split, if any.
  std::vector<ValidationImage> MakeValidationSet() const;

  // A JSON description of the data (simulator options, folder, split) for provenance.
  std::string Describe() const;

 private:
  TrainingData() = default;
  // One tile of the batch at `step`, position `i`.
  void MakeTile(int64_t step, int i, float* image, uint8_t* mask) const;

  v1::TrainConfig config_;
  std::unique_ptr<sim::HrtemSimulator> simulator_;  // Training images.
  std::unique_ptr<sim::HrtemSimulator> validation_simulator_;
  struct Labelled {
    cv::Mat image;  // Standardised.
    cv::Mat mask;
    std::optional<double> dose;
    std::string stem;
  };
  std::vector<Labelled> labelled_train_;
  std::vector<Labelled> labelled_validation_;
  std::string labelled_path_;
};

}  // namespace fringe

#endif  // FRINGE_TRAIN_TRAINING_DATA_H_
