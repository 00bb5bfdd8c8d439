// Layer-wise Relevance Propagation over the canonised U-Net (Bach et al. 2015; Montavon et al.
// 2018/2019), layer by layer, explicitly: no autograd tricks. Internal: includes torch.
//
// For a linear layer z_j = sum_i a_i w_ij + b_j (a convolution or the 2x2/stride-2
// transposed convolution) every rule has the form
//   z'_j = sum_i a'_i w'_ij + b'_j,  s_j = R_j / stab(z'_j),  R_i = a'_i sum_j w'_ij s_j,
// evaluated as one forward convolution (z' = Apply(a', w')), an element-wise division and
// one adjoint convolution (c = ApplyAdjoint(s, w'^T)), with w' precomputed per model:
//   zero        w' = w, b' = b, stab(z) = z (R_j = 0 where z_j = 0)          (LRP-0)
//   epsilon     w' = w, b' = b, stab(z) = z + eps * sign(z)                  (LRP-eps)
//               (eps = epsilon x std(z) of the layer unless relative_epsilon is off)
//   gamma       w' = w + gamma w+, b' = b + gamma b+                          (LRP-gamma)
//   zplus       w' = w+, b' = b+                                              (LRP-z+)
//   alpha-beta  R_i = a_i [alpha sum_j w+_ij R_j / z+_j - beta sum_j w-_ij R_j / z-_j],
//               z+ = a.w+ + b+, z- = a.w- + b-, alpha - beta = 1             (LRP-alpha-beta)
//   flat        a' = 1, w' = 1, no bias                                       (LRP-flat)
//   wsquare     a' = 1, w' = w^2, no bias                                     (LRP-w^2)
//   zbox        z_ij = a_i w_ij - l_i w+_ij - h_i w-_ij, no bias, l <= a <= h (LRP-z^B)
// gamma, zplus and alpha-beta split a signed input (the image, or the decoder convs'
// cat(up, skip) input) into a+ and a- and pair a+ with w+ and a- with w- (the "positive
// contributions" (a_i w_ij)^+ = a+ w+ + a- w-), so they stay well defined there.
// The non-linear parts: max-pooling gives each window's relevance to its winner, a skip
// concatenation splits relevance by channel (the skip part rejoins the encoder output it
// copies, which also feeds the pooling), ReLU and dropout (eval) pass relevance through.
// FCN8s (canonical_fcn8s.h) adds two kinds of node: a crop routes relevance back to the
// uncropped position (the cropped-away border gets none), and an element-wise addition
// z = a + b (the score fusions) splits R_z in proportion to each input's contribution,
// R_a = a R / stab(z), R_b = b R / stab(z), with the stabiliser of the rule of the transposed
// convolution that reads z (zero: none; epsilon: the epsilon rule's; others: `stabilizer`).
#ifndef FRINGE_MODELS_ATTRIBUTION_LRP_H_
#define FRINGE_MODELS_ATTRIBUTION_LRP_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "models/attribution/canonical_fcn8s.h"
#include "models/attribution/canonical_unet.h"

namespace fringe::attribution {

enum class LrpRule { kZero, kEpsilon, kGamma, kAlphaBeta, kZPlus, kFlat, kWSquare, kZBox };

std::string LrpRuleName(LrpRule rule);
std::optional<LrpRule> ParseLrpRule(const std::string& name);
std::vector<std::string> LrpRuleNames();

// Named composites: a rule per layer group ("first", "encoder", "upsample", "decoder",
// "head"). "epsilon-gamma-box": z-box first layer, gamma encoder, epsilon elsewhere;
// "epsilon-plus-flat": flat first layer, z+ encoder, epsilon elsewhere;
// "epsilon-alpha2-beta1-flat": flat, alpha-beta, epsilon; and the single-rule composites
// "epsilon", "zero", "gamma", "alpha-beta", "zplus".
std::vector<std::string> LrpCompositeNames();
std::optional<std::map<std::string, LrpRule>> LrpCompositeGroups(const std::string& composite);

// Rules per layer (index = the canonical net's layers()) from a composite and overrides keyed
// by a layer name or a group (layer names win). INVALID_ARGUMENT naming an unknown composite,
// layer/group or rule.
absl::StatusOr<std::vector<LrpRule>> ResolveLrpRules(
    const std::vector<LinearLayer>& layers, const std::string& composite,
    const std::map<std::string, std::string>& overrides);
inline absl::StatusOr<std::vector<LrpRule>> ResolveLrpRules(
    const CanonicalUNet& net, const std::string& composite,
    const std::map<std::string, std::string>& overrides) {
  return ResolveLrpRules(net.layers(), composite, overrides);
}

struct LrpOptions {
  std::vector<LrpRule> rules;  // One per layer; empty = all epsilon.
  // The epsilon rule's stabiliser. Relative by default: at each layer eps = epsilon x the
  // standard deviation of that layer's pre-activations z (Montavon et al. 2019 suggest
  // ~0.25 std), so one value means the same at every depth and for any weight scale; an
  // absolute eps of 0.25 swallows nearly all relevance in layers whose |z| << 1.
  double epsilon = 0.25;
  bool relative_epsilon = true;
  double gamma = 0.25;
  double alpha = 2.0;
  double beta = 1.0;
  double stabilizer = 1e-6;  // Added (with z's sign) to the denominators of the other rules.
  bool ignore_bias = false;  // Leave biases out of every denominator (then conservative).
  // z-box bounds for the first layer (group "first"); unset = the input's min / max. Other
  // layers use their own input's min / max.
  std::optional<double> low, high;
  // Fill LrpLayerRecord::absorbed (one extra pass over each layer's output).
  bool record_absorbed = false;
};

struct LrpLayerRecord {
  // Layer ("down.0.first", "up.1", "head"), "pool.<level>" (U-Net), "pool<1..5>" or
  // "fuse_pool4" / "fuse_pool3" (FCN8s).
  std::string name;
  // LrpRuleName, "winner-takes-all" for a pooling, "contribution-split" for an addition.
  std::string rule;
  // Total relevance on the cut just below the layer: at its input plus what is parked on
  // skip connections bypassing it.
  double relevance_below = 0;
  // What the layer's biases and stabiliser absorbed: sum_j R_j - sum_j s_j (z'_j - b'_j),
  // computed from the layer's own terms (not as a difference of cut totals). Only with
  // LrpOptions::record_absorbed; 0 otherwise.
  double absorbed = 0;
};

struct ConcatSplit {  // Relevance at a decoder concatenation.
  int level = 0;
  double total = 0, upsampled = 0, skip = 0;
};

struct LrpResult {
  torch::Tensor relevance;  // Like the input: N x in_channels x H x W.
  double target_value = 0;
  std::vector<LrpLayerRecord> layers;  // Output to input.
  std::vector<ConcatSplit> concat_splits;
};

// Routes each pooled cell's relevance to the input position that won its max-pooling window
// (`indices` from max_pool2d_with_indices over an input of `input_sizes`).
torch::Tensor MaxPoolRelevance(const torch::Tensor& relevance, const torch::Tensor& indices,
                               at::IntArrayRef input_sizes);

class LrpEngine {
 public:
  // Precomputes the rule weights of the default composite (w, w+, w-, w + 0.25 w+) and their
  // adjoint layouts. Others (another gamma, flat, w^2) are built on first use and cached.
  explicit LrpEngine(std::shared_ptr<const CanonicalUNet> net);
  // The same for FCN8s; options.rules index CanonicalFCN8s::layers().
  explicit LrpEngine(std::shared_ptr<const CanonicalFCN8s> net);

  // Relevance of `input` (N x in_channels x H x W) for `target`. Thread-safe.
  LrpResult Explain(const torch::Tensor& input, const TargetSpec& target,
                    const LrpOptions& options) const;

  // One layer's step, exposed for tests. `pre_activation` (z with bias) may be undefined;
  // `absorbed` may be null. For the head, pass the layer returned by TargetHead().
  torch::Tensor PropagateLayer(int layer_index, const LinearLayer& layer, LrpRule rule,
                               const torch::Tensor& input, const torch::Tensor& pre_activation,
                               const torch::Tensor& relevance, const LrpOptions& options,
                               double* absorbed) const;

  // The single-output 1x1 layer computing sum_k w_k logit_k: LRP starts there, so that a
  // contrastive target is explained as one linear function, not as two relevances of
  // opposite sign.
  LinearLayer TargetHead(const torch::Tensor& class_weights) const;

  // The U-Net (only for an engine built from one) or the FCN8s (only for one built from it).
  const CanonicalUNet& net() const { return *net_; }
  const CanonicalFCN8s& fcn8s() const { return *fcn_; }
  const std::vector<LinearLayer>& layers() const { return *layers_; }

 private:
  void Precompute();
  LrpResult ExplainUNet(const torch::Tensor& input, const TargetSpec& target,
                        const LrpOptions& options) const;
  LrpResult ExplainFcn8s(const torch::Tensor& input, const TargetSpec& target,
                         const LrpOptions& options) const;

  enum class Variant { kPlain, kPositive, kNegative, kGamma, kGammaNegative, kSquare, kOnes };
  struct WeightPair {
    torch::Tensor forward, adjoint;
  };
  // Rule weights of layer `layer_index` (-1: `layer` is not cached, e.g. the target head).
  WeightPair Weights(int layer_index, const LinearLayer& layer, Variant variant,
                     double gamma) const;
  static WeightPair MakeWeights(const LinearLayer& layer, Variant variant, double gamma);

  std::shared_ptr<const CanonicalUNet> net_;
  std::shared_ptr<const CanonicalFCN8s> fcn_;
  const std::vector<LinearLayer>* layers_ = nullptr;  // Of whichever is set.
  mutable std::mutex mutex_;
  mutable std::map<std::tuple<int, Variant, double>, WeightPair> cache_;
};

}  // namespace fringe::attribution

#endif  // FRINGE_MODELS_ATTRIBUTION_LRP_H_
