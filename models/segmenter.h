// The interface every served segmentation model implements. Kept free of LibTorch so the
// server, scheduler and tests compile without torch headers.
#ifndef FRINGE_MODELS_SEGMENTER_H_
#define FRINGE_MODELS_SEGMENTER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace fringe {

class Segmenter {
 public:
  virtual ~Segmenter() = default;

  // Computes class probabilities for a batch of normalised single-channel tiles.
  // `input` holds n * h * w floats laid out N x 1 x H x W; h and w are multiples of
  // input_multiple(). On success `probs` holds n * num_classes() * h * w floats laid out
  // N x C x H x W, summing to 1 over C at every pixel. Safe to call from several threads.
  virtual absl::Status Predict(const float* input, int n, int h, int w,
                               std::vector<float>* probs) const = 0;

  virtual int num_classes() const = 0;

  // Tile sides must be multiples of this (2^depth for a U-Net).
  virtual int input_multiple() const = 0;

  // Trainable parameters, 0 for models that are not networks.
  virtual int64_t parameter_count() const { return 0; }
};

}  // namespace fringe

#endif  // FRINGE_MODELS_SEGMENTER_H_
