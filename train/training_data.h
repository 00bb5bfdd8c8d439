// Training batches as a pure function of (seed, step): a batch never depends on what was
// generated before it, so an interrupted run that resumes at step s sees exactly the batches
// an uninterrupted run would have seen. No LibTorch here.
#ifndef FRINGE_TRAIN_TRAINING_DATA_H_
#define FRINGE_TRAIN_TRAINING_DATA_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
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

// Standardises a frame as serving does before tiling: x-ray spikes and hot/dead pixels replaced
// (common/spike_filter.h), then zero mean and unit variance (constant frames become zeros).
cv::Mat StandardiseFrame(const cv::Mat& frame);

// Applies the configured augmentation to one standardised tile and its mask, in place, from
// `seed`: flips, 90-degree rotations, the photometric ops on the standardised tile (contrast,
// low-frequency background, blur; the tile is then brought back to its own mean and standard
// deviation), noise x' = (x + N(0, rho)) / sqrt(1 + rho^2). The mask only follows the
// geometric ops. Configs without photometric ranges give exactly the tiles they always gave.
void Augment(const v1::AugmentationConfig& config, uint64_t seed, cv::Mat* image, cv::Mat* mask);

// The gamma of the photometric augmentation on a raw (non-negative) frame, before it is
// standardised: mean * (x / mean)^gamma with gamma drawn log-uniformly in [gamma_min,
// gamma_max] from `seed`. Returns the gamma applied (1 when the range is unset).
double ApplyGamma(const v1::AugmentationConfig& config, uint64_t seed, cv::Mat* raw_frame);

// The simulator options of a synthetic data section at `size` x `size` px: the classic
// simulator's ranges with the section's overrides, then domain randomisation (randomize,
// randomize_without) or the held-out generator. INVALID_ARGUMENT naming an unknown factor.
absl::StatusOr<sim::SimulatorOptions> SyntheticSimulatorOptions(const v1::SyntheticDataConfig& s,
                                                                int size);

// Checks a synthetic data section. `evaluation` allows held_out_generator (evaluation sets);
// training data asking for it is INVALID_ARGUMENT "held_out_generator is for evaluation only".
// `model_pixel_nm` is the model's pixel size (scale augmentation needs it).
absl::Status ValidateSyntheticDataConfig(const v1::SyntheticDataConfig& s, double model_pixel_nm,
                                         bool evaluation);

// Synthetic frames at the model's pixel size. Without scale augmentation: one simulator at
// `size` px (frames as simulated). With it: the pixel-size range is split into log-spaced
// buckets, each with its own simulator whose frame covers the same field of view (size x
// model pixel, in nm) at the bucket's smallest pixel size; a frame's bucket is drawn from its
// seed and index (equal probability per bucket: piecewise log-uniform, uniform inside a bucket),
// simulated, and resampled to the model's pixel size as the server would (PlanScale,
// ResampleImage, ResampleMap > 0.5), then centre-cropped to at most size x size (a bucket
// whose frames may be served as they are, within the 2% native tolerance, is never smaller
// than size). Thread-safe and deterministic in (seed, index).
class ScaledSimulator {
 public:
  static absl::StatusOr<std::unique_ptr<ScaledSimulator>> Create(const v1::SyntheticDataConfig& s,
                                                                 int size, double model_pixel_nm);
  struct Frame {
    cv::Mat image;  // Raw intensities (CV_32F) at the model's pixel size (or as simulated).
    cv::Mat mask;   // CV_8U 0/1.
    sim::SampleParams params;  // As simulated (pixel_size_nm: the simulated pixel size).
    double pixel_size_nm = 0;  // Of `image`: the model's when resampled.
    bool resampled = false;
  };
  Frame Generate(uint64_t base_seed, uint64_t index) const;
  bool scaled() const { return !buckets_.empty() && scale_; }
  // Provenance: the (first) simulator's options and, when scaled, the buckets.
  nlohmann::json Describe() const;

 private:
  struct Bucket {
    double pixel_min_nm, pixel_max_nm;
    std::unique_ptr<sim::HrtemSimulator> simulator;
  };
  std::vector<Bucket> buckets_;
  // With classic_fraction > 0: the same buckets with every nuisance factor at its classic value.
  std::vector<Bucket> classic_buckets_;
  double classic_fraction_ = 0;
  bool scale_ = false;
  int size_ = 0;
  double model_pixel_nm_ = 0;
};

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
  std::unique_ptr<ScaledSimulator> simulator_;  // Training images.
  std::unique_ptr<ScaledSimulator> validation_simulator_;
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
