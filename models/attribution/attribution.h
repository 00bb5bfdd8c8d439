// The attribution engine's public API: why did a U-Net segment a region the way it did?
// Layer-wise Relevance Propagation (LRP) and companion methods (gradients, Integrated
// Gradients, SmoothGrad, Grad-CAM, occlusion, Fourier-band occlusion) over a loaded model
// version (shared/DESIGN.md section 3, "Explainability"). Free of LibTorch: the server, the
// CLI and the analysis tools include only this header.
//
// What is explained is always a scalar target: the sum of class-c logits (or of a contrast
// logit(c) - mean of the other logits) over a region of the output. Every method returns an
// input-sized map whose entries say how much each input pixel contributed to that target.
#ifndef FRINGE_MODELS_ATTRIBUTION_ATTRIBUTION_H_
#define FRINGE_MODELS_ATTRIBUTION_ATTRIBUTION_H_

#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"

namespace fringe {

// The scalar being explained: T = sum over the region's pixels p of g(p), where
// g = logit_c, or with `contrastive` g = logit_c - mean over k != c of logit_k (for two
// classes: logit_c - logit_other).
struct AttributionTarget {
  enum class Kind {
    kPredicted,  // All pixels whose argmax class is class_index (may be empty: T = 0).
    kMask,       // Pixels where `mask` (CV_8U, frame-sized) is non-zero.
    kBox,        // Pixels inside `box`, clipped to the frame (must stay non-empty).
    kPixel,      // The single pixel `pixel` (must lie inside the frame).
  };
  Kind kind = Kind::kPredicted;
  int class_index = 1;
  cv::Mat mask;
  cv::Rect box;
  cv::Point pixel;
  bool contrastive = false;
};

// One attribution request. `method` is one of KnownAttributionMethods():
//   "lrp"                     LRP with a composite (parameter `composite`, default
//                             "epsilon-gamma-box"); "lrp-<composite>" names one directly:
//                             "lrp-epsilon-gamma-box", "lrp-epsilon-plus-flat",
//                             "lrp-epsilon-alpha2-beta1-flat", and the single-rule composites
//                             "lrp-epsilon", "lrp-zero", "lrp-gamma", "lrp-alpha-beta",
//                             "lrp-zplus".
//   "gradient", "gradient-x-input", "integrated-gradients", "smoothgrad", "grad-cam",
//   "occlusion", "frequency-occlusion".
// `parameters` (all optional, values as text; each method rejects names it does not use):
//   LRP: epsilon (0.25, in units of each layer's pre-activation standard deviation unless
//        absolute_epsilon is true), gamma (0.25), alpha (2) / beta (1) with alpha - beta = 1,
//        stabilizer (1e-6), ignore_bias (false: biases absorb relevance; true can be unstable
//        for epsilon/gamma where a bias alone opened a neuron), low / high (z-box bounds,
//        default the input's min / max), composite (method "lrp" only), and rule
//        overrides "rule.<layer or group>=<rule>", e.g. "rule.down.0.first=zplus",
//        "rule.encoder=alpha-beta". Rules: zero, epsilon, gamma, alpha-beta, zplus, flat,
//        wsquare, zbox. Groups: first (down.0.first), encoder (other down.* and bottleneck.*
//        convolutions), upsample (up.*, the transposed convolutions), decoder (up_blocks.*),
//        head. FCN8s: first (conv1_1), encoder (conv1_2..conv5_3, fc6, fc7), decoder
//        (score_fr, score_pool4, score_pool3), upsample (upscore2, upscore_pool4), head
//        (upscore8). A layer name beats a group.
//   integrated-gradients: steps (64), baseline (0 = the standardised mean), batch (8).
//   smoothgrad: samples (16), noise (0.15, sigma as a fraction of the input's max - min),
//        seed (0), batch (8).
//   grad-cam: layer ("bottleneck"; any block or convolution name such as "down.1",
//        "up_blocks.0", "up.1", "down.0.second"; FCN8s: "fc7", or "conv3_2", "pool4",
//        "score_pool4", "fuse_pool3", ...), relu (true).
//   occlusion: patch (8), stride (patch / 2), baseline (0), batch (16).
//   frequency-occlusion: bands ("lo:hi,..." in cycles/pixel), or bands_nm ("d_lo:d_hi,..."
//        lattice spacings in nm, needs pixel_size_nm, default the model config's), or
//        n_bands (8 equal rings covering [0, sqrt(0.5)] cycles/pixel, the default);
//        map ("input" or "output"), batch (8).
struct AttributionRequest {
  std::string method = "lrp";
  std::map<std::string, std::string> parameters;
  AttributionTarget target;
};

// The result of one request.
struct Attribution {
  // CV_32F, the frame's size: relevance (or attribution) of each input pixel.
  cv::Mat relevance;
  // T at the frame, and at the method's reference input (Integrated Gradients' baseline,
  // the fully occluded frame for occlusion, the all-zero frame for frequency-occlusion; 0
  // for LRP, gradients, SmoothGrad and Grad-CAM, whose residual is then not meaningful).
  double target_value = 0;
  double reference_value = 0;
  // Sum of `relevance`, and target_value - reference_value - relevance_sum: what the method
  // did not conserve (for LRP: what biases and stabilisers absorbed; for Integrated
  // Gradients: the integration error).
  double relevance_sum = 0;
  double conservation_residual = 0;
  // LRP: per layer ("head", "up_blocks.1.second", ..., "pool.0", ..., "down.0.first"), output
  // to input, the total relevance on the cut just below that layer (relevance at its input
  // plus relevance parked on skip connections that bypass it); with conservative rules every
  // entry equals target_value. frequency-occlusion: per band
  // ("0.0625-0.125 c/px"), the target's drop T(x) - T(x without the band). Empty otherwise.
  std::vector<std::pair<std::string, double>> layer_sums;
  std::string method;
  // Every parameter the method used, defaults included (LRP also lists "rule.<layer>").
  std::map<std::string, std::string> parameters;
  double milliseconds = 0;
};

// Every method name Explain() accepts.
std::vector<std::string> KnownAttributionMethods();

// Attribution over one loaded U-Net or FCN8s version (or a TorchScript model). Holds its own
// BatchNorm-folded copy of the weights and the LRP rule weights precomputed from it; independent of
// the serving model.
class Explainer {
 public:
  // Loads `version_dir`/weights.pt (as written by torch::save for the U-Net or FCN8s
  // `config` describes). INVALID_ARGUMENT for an architecture other than "unet" and
  // "fcn8s" or weights that do not match the config; NOT_FOUND when the weights file is
  // missing.
  static absl::StatusOr<std::unique_ptr<Explainer>> Load(const v1::ModelConfig& config,
                                                         const std::string& version_dir);
  // A user's TorchScript model at `path` (one input N x 1 x H x W, output N x C x H x W
  // logits; frames must be multiples of `input_multiple`). Gradient methods, occlusion and
  // frequency occlusion work on it; LRP and Grad-CAM need the layer structure and are refused
  // (FAILED_PRECONDITION / INVALID_ARGUMENT). NOT_FOUND for a missing file, INVALID_ARGUMENT
  // for one torch cannot load or a model whose output is not logits of the input's size.
  static absl::StatusOr<std::unique_ptr<Explainer>> LoadTorchScript(const std::string& path,
                                                                    int input_multiple = 1);
  ~Explainer();
  Explainer(const Explainer&) = delete;
  Explainer& operator=(const Explainer&) = delete;

  // Explains `request.target` for `standardised_frame`: CV_32F single channel, finite, both
  // sides positive multiples of input_multiple() (callers pad) and at most 8192. Returns
  // INVALID_ARGUMENT for a bad frame or target, an unknown method (listing the known ones) or
  // a bad parameter (naming it and what is allowed); INTERNAL if LibTorch fails. Thread-safe.
  absl::StatusOr<Attribution> Explain(const cv::Mat& standardised_frame,
                                      const AttributionRequest& request) const;

  int input_multiple() const;
  int num_classes() const;
  // Layer names in forward order ("down.0.first", ..., "up.0", ..., "head"; FCN8s "conv1_1",
  // ..., "upscore8"); empty for a TorchScript model.
  std::vector<std::string> layer_names() const;

 private:
  struct Impl;
  explicit Explainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fringe

#endif  // FRINGE_MODELS_ATTRIBUTION_ATTRIBUTION_H_
