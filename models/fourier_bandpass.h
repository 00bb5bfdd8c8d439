// The classic non-learning baseline for gold nanoparticles in HRTEM (DESIGN.md section 3):
// a crystalline Au particle near a zone axis shows lattice fringes at its interplanar spacings
// (Au {111} 0.235 nm, {200} 0.204 nm), i.e. Bragg spots on rings |k| = 1/d in Fourier space,
// while the amorphous carbon support and shot noise spread their power over all frequencies.
// Keeping only thin rings around those frequencies and measuring where the band-passed signal
// is locally strong finds the particles. Served as architecture "fourier-bandpass" so it can
// be compared with the networks through the same API. No LibTorch here.
//
// Per tile (tiles are standardised single-channel images, see frame_segmenter.h):
//   1-2. Local fringe energy from models/lattice_band.h (ring band-pass on the analytic signal,
//      Gaussian-smoothed squared envelope), divided by its median over the tile.
//   3. Threshold (Otsu on log-energy, floored above the noise, or a fixed value); a pixel must
//      also reach a fraction of the local plateau energy, which puts edges where the blurred
//      energy step really is instead of growing masks with fringe contrast. Close with a
//      disk, drop small connected components.
//   4. p(particle) = logistic of log(energy / that pixel's threshold), clamped so that
//      p > 0.5 exactly on the cleaned mask: argmax of the probabilities reproduces it.
// Energies are normalised per tile (not per frame: Predict sees tiles), which equals the
// frame's median for frames up to one tile (1024 px by default).
// Limitations: particles off a zone axis (no fringes resolved in the image; e.g. [111] zones
// show only {220} at 0.144 nm unless that spacing is configured) are not found; a tile mostly
// covered by particles has a median energy that belongs to them (the Otsu mode's noise floor
// uses a low quantile instead); a weak particle within ~1.5 nm of a much stronger one loses
// its near side to the stronger one's plateau; a frame mixing vacuum and thick carbon may
// show carbon above the noise floor.
#ifndef FRINGE_MODELS_FOURIER_BANDPASS_H_
#define FRINGE_MODELS_FOURIER_BANDPASS_H_

#include <map>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "models/lattice_band.h"
#include "models/segmenter.h"

namespace fringe {

// Fills fields left at 0/empty with the defaults documented in model_config.proto:
// d_spacings_nm [0.235, 0.204], relative_bandwidth 0.1, smoothing_nm 0.4, threshold 0 (Otsu),
// min_area_nm2 1, closing_nm 0.3.
void ApplyFourierBandpassDefaults(v1::FourierBandpassParams* params);

// Checks a "fourier-bandpass" config whose defaults have been applied. INVALID_ARGUMENT
// naming the field: pixel_size_nm must be > 0; every d_spacings_nm entry > 0, resolvable
// (pixel_size_nm / d < 0.5 cycles/pixel, the Nyquist limit) and at most 128 pixels;
// relative_bandwidth in [0.02, 0.5]; smoothing_nm > 0 and closing_nm >= 0, both at most 256
// pixels; threshold, min_area_nm2 >= 0; exactly 2 classes (or none).
absl::Status ValidateFourierBandpassConfig(const v1::ModelConfig& config);

class FourierBandpassSegmenter : public Segmenter {
 public:
  // Everything one tile's segmentation computes, for diagnostics and tests. All maps have the
  // tile's size.
  struct TileResult {
    cv::Mat energy;  // CV_32F local fringe energy in units of the tile's median.
    // Detection threshold (Otsu or the configured value), same units. Edges lie where the
    // energy falls below max(threshold, 0.4 x the local plateau).
    double threshold = 0;
    cv::Mat mask;         // CV_8U cleaned mask, 1 = particle.
    cv::Mat probability;  // CV_32F p(particle); > 0.5 exactly where mask == 1.
  };

  // Applies defaults to a copy of `config`, validates it (ValidateFourierBandpassConfig) and
  // converts the physical parameters to pixels.
  static absl::StatusOr<std::unique_ptr<FourierBandpassSegmenter>> Create(
      const v1::ModelConfig& config);

  // Segments each of the n tiles independently. INVALID_ARGUMENT for null pointers,
  // non-positive sizes or non-finite input values; INTERNAL if OpenCV fails. Thread-safe.
  absl::Status Predict(const float* input, int n, int h, int w,
                       std::vector<float>* probs) const override;

  // Segments one tile (CV_32FC1, non-empty, finite values). Thread-safe and deterministic.
  absl::StatusOr<TileResult> SegmentTile(const cv::Mat& tile) const;

  int num_classes() const override { return 2; }
  int input_multiple() const override { return 1; }
  int64_t parameter_count() const override { return 0; }

  // Ring centres in cycles/pixel, one per configured spacing.
  const std::vector<double>& band_centers() const { return band_->band_centers(); }

 private:
  FourierBandpassSegmenter() = default;

  absl::StatusOr<TileResult> SegmentTileUnchecked(const cv::Mat& tile) const;

  std::unique_ptr<LatticeBand> band_;  // Steps 1-2: the fringe energy.
  double threshold_ = 0;               // 0 = Otsu
  double min_area_px_ = 0;
  double closing_px_ = 0;
  double edge_reach_px_ = 0;  // Radius of the local plateau (maximum) search.
  int plateau_block_px_ = 1;  // Coarse grid of that search.
};

// The registry's factory: FourierBandpassSegmenter::Create, as a Segmenter. Needs no weights.
absl::StatusOr<std::unique_ptr<Segmenter>> CreateFourierBandpassSegmenter(
    const v1::ModelConfig& config);

}  // namespace fringe

#endif  // FRINGE_MODELS_FOURIER_BANDPASS_H_
