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
//        head. A layer name beats a group.
//   integrated-gradients: steps (64), baseline (0 = the standardised mean), batch (8).
//   smoothgrad: samples (16), noise (0.15, sigma as a fraction of the input's max - min),
//        seed (0), batch (8).
//   grad-cam: layer ("bottleneck"; any block or convolution name such as "down.1",
//        "up_blocks.0", "up.1", "down.0.second"), relu (true).
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

// Attribution over one loaded U-Net version. Holds its own BatchNorm-folded copy of the
// weights and the LRP rule weights precomputed from it; independent of the serving model.
class Explainer {
 public:
  // Loads `version_dir`/weights.pt (as written by torch::save for the U-Net `config`
  // describes). INVALID_ARGUMENT for an architecture other than "unet" or weights that do not
  // match the config; NOT_FOUND when the weights file is missing.
  static absl::StatusOr<std::unique_ptr<Explainer>> Load(const v1::ModelConfig& config,
                                                         const std::string& version_dir);
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
  // Layer names in forward order ("down.0.first", ..., "up.0", ..., "head").
  std::vector<std::string> layer_names() const;

 private:
  struct Impl;
  explicit Explainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fringe

#endif  // FRINGE_MODELS_ATTRIBUTION_ATTRIBUTION_H_
