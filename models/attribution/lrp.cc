#include "models/attribution/lrp.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe::attribution {
namespace {

const std::vector<std::pair<LrpRule, std::string>>& RuleTable() {
  static const std::vector<std::pair<LrpRule, std::string>> table = {
      {LrpRule::kZero, "zero"},       {LrpRule::kEpsilon, "epsilon"},
      {LrpRule::kGamma, "gamma"},     {LrpRule::kAlphaBeta, "alpha-beta"},
      {LrpRule::kZPlus, "zplus"},     {LrpRule::kFlat, "flat"},
      {LrpRule::kWSquare, "wsquare"}, {LrpRule::kZBox, "zbox"}};
  return table;
}

const std::vector<std::string>& GroupNames() {
  static const std::vector<std::string> groups = {"first", "encoder", "upsample", "decoder",
                                                  "head"};
  return groups;
}

std::map<std::string, LrpRule> Groups(LrpRule first, LrpRule encoder, LrpRule rest) {
  return {{"first", first},
          {"encoder", encoder},
          {"upsample", rest},
          {"decoder", rest},
          {"head", rest}};
}

// s = R / (z + eps * sign(z)) with sign(0) = +1 (the epsilon stabiliser of LRP-eps). With
// eps = 0 (LRP-0) a neuron with z = 0 passes nothing on: s = 0 there, as its gradient would.
torch::Tensor Divide(const torch::Tensor& r, const torch::Tensor& z, double eps) {
  if (eps > 0) return r / torch::where(z >= 0, z + eps, z - eps);
  const torch::Tensor zero = z == 0;
  return torch::where(zero, torch::zeros_like(r), r / torch::where(zero, torch::ones_like(z), z));
}

torch::Tensor AddBias(const torch::Tensor& z, const torch::Tensor& bias, bool ignore) {
  if (ignore || !bias.defined()) return z;
  return z + bias.reshape({1, -1, 1, 1});
}

double Sum(const torch::Tensor& t) { return t.sum().item<double>(); }

}  // namespace

std::string LrpRuleName(LrpRule rule) {
  for (const auto& [r, name] : RuleTable()) {
    if (r == rule) return name;
  }
  return "?";
}

std::optional<LrpRule> ParseLrpRule(const std::string& name) {
  for (const auto& [rule, n] : RuleTable()) {
    if (n == name) return rule;
  }
  return std::nullopt;
}

std::vector<std::string> LrpRuleNames() {
  std::vector<std::string> names;
  for (const auto& entry : RuleTable()) names.push_back(entry.second);
  return names;
}

std::vector<std::string> LrpCompositeNames() {
  return {"epsilon-gamma-box",
          "epsilon-plus-flat",
          "epsilon-alpha2-beta1-flat",
          "epsilon",
          "zero",
          "gamma",
          "alpha-beta",
          "zplus"};
}

std::optional<std::map<std::string, LrpRule>> LrpCompositeGroups(const std::string& composite) {
  // Following Zennit's presets, translated to a U-Net: the rule that suits "lower" layers
  // (gamma / z+ / alpha-beta, which favour positive evidence and give less noisy maps) goes
  // to the encoder, epsilon to the decoder and head (upper layers, close to the logit), and
  // an input-domain rule to the first layer (z-box for a bounded, signed input; flat to
  // spread relevance uniformly over the receptive field).
  if (composite == "epsilon-gamma-box") {
    return Groups(LrpRule::kZBox, LrpRule::kGamma, LrpRule::kEpsilon);
  }
  if (composite == "epsilon-plus-flat") {
    return Groups(LrpRule::kFlat, LrpRule::kZPlus, LrpRule::kEpsilon);
  }
  if (composite == "epsilon-alpha2-beta1-flat") {
    return Groups(LrpRule::kFlat, LrpRule::kAlphaBeta, LrpRule::kEpsilon);
  }
  for (LrpRule rule :
       {LrpRule::kEpsilon, LrpRule::kZero, LrpRule::kGamma, LrpRule::kAlphaBeta, LrpRule::kZPlus}) {
    if (composite == LrpRuleName(rule)) return Groups(rule, rule, rule);
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<LrpRule>> ResolveLrpRules(
    const std::vector<LinearLayer>& layers, const std::string& composite,
    const std::map<std::string, std::string>& overrides) {
  const auto groups = LrpCompositeGroups(composite);
  if (!groups) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown LRP composite \"", composite,
                     "\"; known: ", absl::StrJoin(LrpCompositeNames(), ", ")));
  }
  std::vector<LrpRule> rules;
  for (const LinearLayer& layer : layers) rules.push_back(groups->at(layer.group));
  std::map<std::string, LrpRule> group_overrides, layer_overrides;
  for (const auto& [key, value] : overrides) {
    const auto rule = ParseLrpRule(value);
    if (!rule) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter rule.", key, ": unknown rule \"", value,
                       "\"; known: ", absl::StrJoin(LrpRuleNames(), ", ")));
    }
    const bool is_group =
        std::find(GroupNames().begin(), GroupNames().end(), key) != GroupNames().end();
    bool is_layer = false;
    for (const LinearLayer& layer : layers) is_layer = is_layer || layer.name == key;
    if (is_group) {
      group_overrides[key] = *rule;
    } else if (is_layer) {
      layer_overrides[key] = *rule;
    } else {
      std::vector<std::string> names;
      for (const LinearLayer& layer : layers) names.push_back(layer.name);
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter rule.", key, ": no layer or group named \"", key, "\"; groups: ",
          absl::StrJoin(GroupNames(), ", "), "; layers: ", absl::StrJoin(names, ", ")));
    }
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    if (auto it = group_overrides.find(layers[i].group); it != group_overrides.end()) {
      rules[i] = it->second;
    }
    if (auto it = layer_overrides.find(layers[i].name); it != layer_overrides.end()) {
      rules[i] = it->second;
    }
  }
  return rules;
}

torch::Tensor MaxPoolRelevance(const torch::Tensor& relevance, const torch::Tensor& indices,
                               at::IntArrayRef input_sizes) {
  const int64_t n = input_sizes[0], c = input_sizes[1];
  torch::Tensor out = torch::zeros({n, c, input_sizes[2] * input_sizes[3]}, relevance.options());
  // Each window has exactly one winner, so scatter_add moves every pooled cell's relevance to
  // it and the total is conserved.
  out.scatter_add_(2, indices.reshape({n, c, -1}), relevance.reshape({n, c, -1}));
  return out.reshape(input_sizes);
}

LrpEngine::LrpEngine(std::shared_ptr<const CanonicalUNet> net)
    : net_(std::move(net)), layers_(&net_->layers()) {
  Precompute();
}

LrpEngine::LrpEngine(std::shared_ptr<const CanonicalFCN8s> net)
    : fcn_(std::move(net)), layers_(&fcn_->layers()) {
  Precompute();
}

void LrpEngine::Precompute() {
  torch::NoGradGuard no_grad;
  // The default composite (epsilon-gamma-box) needs w everywhere, w + 0.25 w+ on the encoder
  // and w+ / w- on the first layer; build those once so a default request allocates no
  // weights. Everything else is built on first use.
  const auto& layers = *layers_;
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    Weights(i, layers[i], Variant::kPlain, 0);
    if (layers[i].group == "encoder") Weights(i, layers[i], Variant::kGamma, 0.25);
    if (layers[i].group == "first") {
      Weights(i, layers[i], Variant::kPositive, 0);
      Weights(i, layers[i], Variant::kNegative, 0);
    }
  }
}

LrpEngine::WeightPair LrpEngine::MakeWeights(const LinearLayer& layer, Variant variant,
                                             double gamma) {
  const torch::Tensor& w = layer.weight;
  torch::Tensor f;
  switch (variant) {
    case Variant::kPlain:
      f = w;
      break;
    case Variant::kPositive:
      f = w.clamp_min(0);
      break;
    case Variant::kNegative:
      f = w.clamp_max(0);
      break;
    case Variant::kGamma:
      f = w + gamma * w.clamp_min(0);
      break;
    case Variant::kGammaNegative:
      f = w + gamma * w.clamp_max(0);
      break;
    case Variant::kSquare:
      f = w * w;
      break;
    case Variant::kOnes:
      f = torch::ones_like(w);
      break;
  }
  f = f.contiguous();
  return {f, layer.AdjointWeight(f)};
}

LrpEngine::WeightPair LrpEngine::Weights(int layer_index, const LinearLayer& layer, Variant variant,
                                         double gamma) const {
  if (layer_index < 0) return MakeWeights(layer, variant, gamma);
  const bool has_gamma = variant == Variant::kGamma || variant == Variant::kGammaNegative;
  const auto key = std::make_tuple(layer_index, variant, has_gamma ? gamma : 0.0);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    torch::NoGradGuard no_grad;
    it = cache_.emplace(key, MakeWeights(layer, variant, gamma)).first;
  }
  return it->second;
}

LinearLayer LrpEngine::TargetHead(const torch::Tensor& class_weights) const {
  // The last layer computes the logits in both architectures.
  LinearLayer head = layers_->back();
  const torch::Tensor cw = class_weights.to(head.weight.dtype());
  if (head.kind == LinearLayer::Kind::kConv) {
    head.name = "head";
    head.weight = (head.weight * cw.reshape({-1, 1, 1, 1})).sum(0, /*keepdim=*/true).contiguous();
  } else {
    // [in, out, k, k]: the outputs are dimension 1.
    head.weight = (head.weight * cw.reshape({1, -1, 1, 1})).sum(1, /*keepdim=*/true).contiguous();
  }
  head.bias = (head.bias * cw).sum().reshape({1});
  return head;
}

torch::Tensor LrpEngine::PropagateLayer(int layer_index, const LinearLayer& layer, LrpRule rule,
                                        const torch::Tensor& a, const torch::Tensor& pre,
                                        const torch::Tensor& relevance, const LrpOptions& options,
                                        double* absorbed) const {
  const torch::Tensor& r = relevance;
  const bool ignore_bias = options.ignore_bias;
  const double stab = options.stabilizer;
  const bool split_sign = !layer.nonnegative_input;
  const torch::Tensor& b = layer.bias;
  auto weights = [&](Variant v, double gamma = 0) { return Weights(layer_index, layer, v, gamma); };
  torch::Tensor out;
  // sum_j s_j (z'_j - b'_j): the relevance the linear part hands to the inputs. What is
  // missing from sum_j R_j went into the bias and the stabiliser.
  double passed = 0;
  switch (rule) {
    case LrpRule::kZero:
    case LrpRule::kEpsilon: {
      const double eps = rule == LrpRule::kZero ? 0.0 : options.epsilon;
      const WeightPair w = weights(Variant::kPlain);
      // The forward pass already computed z = a.w + b: reuse it (epsilon layers then cost a
      // single adjoint convolution).
      const torch::Tensor zlin =
          pre.defined() ? pre - b.reshape({1, -1, 1, 1}) : layer.Apply(a, w.forward);
      const torch::Tensor z = pre.defined() && !ignore_bias ? pre : AddBias(zlin, b, ignore_bias);
      const double scale = eps > 0 && options.relative_epsilon ? z.std().item<double>() : 1.0;
      // A layer whose z are all equal (std 0) still needs a positive stabiliser.
      const torch::Tensor s = Divide(r, z, eps * (scale > 0 ? scale : 1.0));
      out = a * layer.ApplyAdjoint(s, w.adjoint);
      if (absorbed) passed = Sum(s * zlin);
      break;
    }
    case LrpRule::kGamma: {
      const double gamma = options.gamma;
      const torch::Tensor bias = b + gamma * b.clamp_min(0);
      if (!split_sign) {
        // a >= 0: a (w + gamma w+) is exactly a w + gamma (a w)+.
        const WeightPair w = weights(Variant::kGamma, gamma);
        const torch::Tensor zlin = layer.Apply(a, w.forward);
        const torch::Tensor s = Divide(r, AddBias(zlin, bias, ignore_bias), stab);
        out = a * layer.ApplyAdjoint(s, w.adjoint);
        if (absorbed) passed = Sum(s * zlin);
      } else {
        // z_ij = a_i w_ij + gamma (a_i w_ij)+ with (a w)+ = a+ w+ + a- w-, i.e.
        // a+ (w + gamma w+) + a- (w + gamma w-): two convolutions each way.
        const WeightPair wgp = weights(Variant::kGamma, gamma),
                         wgn = weights(Variant::kGammaNegative, gamma);
        const torch::Tensor ap = a.clamp_min(0), an = a.clamp_max(0);
        const torch::Tensor zlin = layer.Apply(ap, wgp.forward) + layer.Apply(an, wgn.forward);
        const torch::Tensor s = Divide(r, AddBias(zlin, bias, ignore_bias), stab);
        out = ap * layer.ApplyAdjoint(s, wgp.adjoint) + an * layer.ApplyAdjoint(s, wgn.adjoint);
        if (absorbed) passed = Sum(s * zlin);
      }
      break;
    }
    case LrpRule::kZPlus: {
      const WeightPair wp = weights(Variant::kPositive);
      const torch::Tensor bias = b.clamp_min(0);
      if (!split_sign) {
        const torch::Tensor zlin = layer.Apply(a, wp.forward);
        const torch::Tensor s = Divide(r, AddBias(zlin, bias, ignore_bias), stab);
        out = a * layer.ApplyAdjoint(s, wp.adjoint);
        if (absorbed) passed = Sum(s * zlin);
      } else {
        const WeightPair wn = weights(Variant::kNegative);
        const torch::Tensor ap = a.clamp_min(0), an = a.clamp_max(0);
        const torch::Tensor zlin = layer.Apply(ap, wp.forward) + layer.Apply(an, wn.forward);
        const torch::Tensor s = Divide(r, AddBias(zlin, bias, ignore_bias), stab);
        out = ap * layer.ApplyAdjoint(s, wp.adjoint) + an * layer.ApplyAdjoint(s, wn.adjoint);
        if (absorbed) passed = Sum(s * zlin);
      }
      break;
    }
    case LrpRule::kAlphaBeta: {
      const double alpha = options.alpha, beta = options.beta;
      const WeightPair wp = weights(Variant::kPositive), wn = weights(Variant::kNegative);
      torch::Tensor ap = a, an;
      if (split_sign) {
        ap = a.clamp_min(0);
        an = a.clamp_max(0);
      }
      // Positive and negative contributions: (a w)+ = a+ w+ + a- w-, (a w)- = a+ w- + a- w+.
      torch::Tensor pos = layer.Apply(ap, wp.forward);
      if (split_sign) pos = pos + layer.Apply(an, wn.forward);
      // z+ >= 0 and z- <= 0: stabilise away from zero on their own side.
      const torch::Tensor sp = r / (AddBias(pos, b.clamp_min(0), ignore_bias) + stab);
      out = ap * layer.ApplyAdjoint(sp, wp.adjoint);
      if (split_sign) out = out + an * layer.ApplyAdjoint(sp, wn.adjoint);
      out = alpha * out;
      if (absorbed) passed = alpha * Sum(sp * pos);
      if (beta != 0) {
        torch::Tensor neg = layer.Apply(ap, wn.forward);
        if (split_sign) neg = neg + layer.Apply(an, wp.forward);
        const torch::Tensor sn = r / (AddBias(neg, b.clamp_max(0), ignore_bias) - stab);
        torch::Tensor back = ap * layer.ApplyAdjoint(sn, wn.adjoint);
        if (split_sign) back = back + an * layer.ApplyAdjoint(sn, wp.adjoint);
        out = out - beta * back;
        if (absorbed) passed -= beta * Sum(sn * neg);
      }
      break;
    }
    case LrpRule::kFlat:
    case LrpRule::kWSquare: {
      // Input-layer rules that ignore the activations: z_j = sum_i w'_ij over the receptive
      // field (zero padding excluded: those inputs are constants, not features).
      const WeightPair w = weights(rule == LrpRule::kFlat ? Variant::kOnes : Variant::kSquare);
      const torch::Tensor zlin = layer.Apply(torch::ones_like(a), w.forward);
      const torch::Tensor s = Divide(r, zlin, stab);
      out = layer.ApplyAdjoint(s, w.adjoint);
      if (absorbed) passed = Sum(s * zlin);
      break;
    }
    case LrpRule::kZBox: {
      // z_ij = a_i w_ij - l_i w+_ij - h_i w-_ij >= 0 for l <= a <= h: relevance measured
      // against the closest point of the box [l, h], no bias.
      double lo, hi;
      if (layer.group == "first" && options.low && options.high) {
        lo = *options.low;
        hi = *options.high;
      } else {
        lo = a.min().item<double>();
        hi = a.max().item<double>();
      }
      const WeightPair w = weights(Variant::kPlain), wp = weights(Variant::kPositive),
                       wn = weights(Variant::kNegative);
      const torch::Tensor ones = torch::ones_like(a);
      const torch::Tensor zlin =
          (pre.defined() ? pre - b.reshape({1, -1, 1, 1}) : layer.Apply(a, w.forward)) -
          lo * layer.Apply(ones, wp.forward) - hi * layer.Apply(ones, wn.forward);
      const torch::Tensor s = Divide(r, zlin, stab);
      out = a * layer.ApplyAdjoint(s, w.adjoint) - lo * layer.ApplyAdjoint(s, wp.adjoint) -
            hi * layer.ApplyAdjoint(s, wn.adjoint);
      if (absorbed) passed = Sum(s * zlin);
      break;
    }
  }
  if (absorbed) *absorbed = Sum(r) - passed;
  return out;
}

namespace {

// The rule of every layer (epsilon where the options give none) and, for a z-box input rule
// without bounds, the input's own range as the bounds (written into `opts`).
std::vector<LrpRule> PrepareRules(const torch::Tensor& input, size_t layer_count,
                                  LrpOptions* opts) {
  std::vector<LrpRule> rules = opts->rules;
  if (rules.empty()) rules.assign(layer_count, LrpRule::kEpsilon);
  if (rules[0] == LrpRule::kZBox && !(opts->low && opts->high)) {
    opts->low = input.min().item<double>();
    opts->high = input.max().item<double>();
  }
  return rules;
}

}  // namespace

LrpResult LrpEngine::Explain(const torch::Tensor& input, const TargetSpec& target,
                             const LrpOptions& options) const {
  return fcn_ ? ExplainFcn8s(input, target, options) : ExplainUNet(input, target, options);
}

LrpResult LrpEngine::ExplainUNet(const torch::Tensor& input, const TargetSpec& target,
                                 const LrpOptions& options) const {
  torch::NoGradGuard no_grad;
  const CanonicalUNet& net = *net_;
  const auto& layers = net.layers();
  LrpOptions opts = options;
  const std::vector<LrpRule> rules = PrepareRules(input, net.layers().size(), &opts);

  ForwardTrace trace;
  const torch::Tensor logits = net.Forward(input, &trace);
  LrpResult result;
  // Start at the target's own linear head: f = sum_k w_k logit_k, R = region * f.
  const LinearLayer head = TargetHead(target.class_weights);
  const torch::Tensor f =
      (logits * target.class_weights.reshape({1, -1, 1, 1})).sum(1, /*keepdim=*/true);
  torch::Tensor r = f * target.region;
  result.target_value = Sum(r);

  std::vector<torch::Tensor> parked(net.depth());
  std::vector<double> parked_sums(net.depth(), 0.0);
  double parked_total = 0;
  auto step = [&](int index, const LinearLayer& layer, const torch::Tensor& pre) {
    double absorbed = 0;
    r = PropagateLayer(index == net.Head() ? -1 : index, layer, rules[index], trace.inputs[index],
                       pre, r, opts, opts.record_absorbed ? &absorbed : nullptr);
    // Release activations as soon as they are used: peak memory stays near the forward's.
    trace.inputs[index] = torch::Tensor();
    trace.pre_activations[index] = torch::Tensor();
    result.layers.push_back(
        {layer.name, LrpRuleName(rules[index]), Sum(r) + parked_total, absorbed});
  };
  auto step_at = [&](int index) { step(index, layers[index], trace.pre_activations[index]); };

  step(net.Head(), head, f);
  for (int i = net.depth() - 1; i >= 0; --i) {
    step_at(net.UpSecond(i));
    step_at(net.UpFirst(i));
    // cat(up, skip) along channels: each half keeps the relevance of its own channels.
    const int level = net.depth() - 1 - i;
    const int64_t up_channels = layers[net.Up(i)].out_channels();
    const double total = Sum(r);
    parked[level] = r.narrow(1, up_channels, r.size(1) - up_channels);
    r = r.narrow(1, 0, up_channels).contiguous();
    parked_sums[level] = Sum(parked[level]);
    parked_total += parked_sums[level];
    result.concat_splits.push_back({level, total, Sum(r), parked_sums[level]});
    step_at(net.Up(i));
  }
  step_at(net.BottleneckSecond());
  step_at(net.BottleneckFirst());
  for (int level = net.depth() - 1; level >= 0; --level) {
    r = MaxPoolRelevance(r, trace.pool_indices[level], trace.pool_input_sizes[level]);
    result.layers.push_back(
        {"pool." + std::to_string(level), "winner-takes-all", Sum(r) + parked_total, 0.0});
    // The encoder output fed both the pooling and the skip: its relevance is the sum of both.
    r = r + parked[level];
    parked[level] = torch::Tensor();
    parked_total -= parked_sums[level];
    step_at(net.DownSecond(level));
    step_at(net.DownFirst(level));
  }
  result.relevance = r;
  return result;
}

namespace {

// The adjoint of a crop: `r` placed at `offset` in a zero map of `sizes` (channel count taken
// from `r`). The cropped-away border never reached the output, so it gets no relevance.
torch::Tensor Uncrop(const torch::Tensor& r, at::IntArrayRef sizes, int64_t offset) {
  torch::Tensor out = torch::zeros({r.size(0), r.size(1), sizes[2], sizes[3]}, r.options());
  out.narrow(2, offset, r.size(2)).narrow(3, offset, r.size(3)).copy_(r);
  return out;
}

}  // namespace

LrpResult LrpEngine::ExplainFcn8s(const torch::Tensor& input, const TargetSpec& target,
                                  const LrpOptions& options) const {
  torch::NoGradGuard no_grad;
  const CanonicalFCN8s& net = *fcn_;
  const auto& layers = net.layers();
  LrpOptions opts = options;
  const std::vector<LrpRule> rules = PrepareRules(input, net.layers().size(), &opts);

  Fcn8sTrace trace;
  net.Forward(input, &trace);
  auto& t = trace.layers;
  LrpResult result;
  // The target's head is upscore8 with the class weights folded in: f = sum_k w_k logit_k
  // before the final crop; R = region * f on the cropped part.
  const LinearLayer head = TargetHead(target.class_weights);
  const torch::Tensor f_full =
      (t.pre_activations[net.Head()] * target.class_weights.reshape({1, -1, 1, 1}))
          .sum(1, /*keepdim=*/true);
  const int64_t head_crop = CanonicalFCN8s::CropOffset(head);
  torch::Tensor r = f_full.narrow(2, head_crop, input.size(2)).narrow(3, head_crop, input.size(3)) *
                    target.region;
  result.target_value = Sum(r);
  r = Uncrop(r, f_full.sizes(), head_crop);

  // Relevance waiting on a branch not yet propagated (the up-sampled half of a fusion while its
  // score half is walked) or parked on pool3 / pool4 until the backbone gets there: every
  // record's cut total includes it.
  double parked_total = 0;
  auto record = [&](const std::string& name, const std::string& rule, double absorbed) {
    result.layers.push_back({name, rule, Sum(r) + parked_total, absorbed});
  };
  auto step = [&](int index, const LinearLayer& layer, const torch::Tensor& pre) {
    double absorbed = 0;
    r = PropagateLayer(index == net.Head() ? -1 : index, layer, rules[index], t.inputs[index], pre,
                       r, opts, opts.record_absorbed ? &absorbed : nullptr);
    t.inputs[index] = torch::Tensor();
    t.pre_activations[index] = torch::Tensor();
    record(layer.name, LrpRuleName(rules[index]), absorbed);
  };
  auto step_at = [&](int index) { step(index, layers[index], t.pre_activations[index]); };
  // z = a + b: R_a = a R / stab(z), R_b = b R / stab(z) (see lrp.h for the stabiliser). With
  // zero relevance stays exact (LRP-0 == gradient x input); returns R_a, leaves R_b in r.
  auto split = [&](int slot, int consumer, const std::string& name) {
    const torch::Tensor& a = trace.fuse_upsampled[slot];
    const torch::Tensor& b = trace.fuse_skip[slot];
    const torch::Tensor z = a + b;
    double eps = opts.stabilizer;
    if (rules[consumer] == LrpRule::kZero) eps = 0;
    if (rules[consumer] == LrpRule::kEpsilon) {
      const double scale = opts.relative_epsilon ? z.std().item<double>() : 1.0;
      eps = opts.epsilon * (scale > 0 ? scale : 1.0);
    }
    const torch::Tensor s = Divide(r, z, eps);
    const double before = Sum(r);
    torch::Tensor ra = a * s;
    r = b * s;
    const double upsampled = Sum(ra);
    parked_total += upsampled;
    record(name, "contribution-split", opts.record_absorbed ? before - upsampled - Sum(r) : 0.0);
    trace.fuse_upsampled[slot] = trace.fuse_skip[slot] = torch::Tensor();
    return std::make_pair(ra, upsampled);
  };
  // After a score branch reached its pool: park it there, resume the up-sampled branch.
  torch::Tensor parked_pool3, parked_pool4;
  auto resume = [&](torch::Tensor& parked, std::pair<torch::Tensor, double> upsampled,
                    int up_index) {
    parked = r;
    parked_total += Sum(parked) - upsampled.second;
    r = Uncrop(upsampled.first, t.pre_activations[up_index].sizes(),
               CanonicalFCN8s::CropOffset(layers[up_index]));
  };

  step(net.Head(), head, f_full);
  auto up3 = split(1, net.Head(), "fuse_pool3");
  step_at(net.ScorePool3());
  resume(parked_pool3, std::move(up3), net.UpscorePool4());
  step_at(net.UpscorePool4());
  auto up4 = split(0, net.UpscorePool4(), "fuse_pool4");
  step_at(net.ScorePool4());
  resume(parked_pool4, std::move(up4), net.Upscore2());
  step_at(net.Upscore2());
  step_at(net.ScoreFr());
  step_at(net.Fc7());
  step_at(net.Fc6());
  int index = CanonicalFCN8s::kNumConvs;
  for (int block = 4; block >= 0; --block) {
    // pool3 / pool4 fed both the next block and a score layer: their relevance is the sum.
    torch::Tensor* parked = block == 2 ? &parked_pool3 : block == 3 ? &parked_pool4 : nullptr;
    if (parked != nullptr) {
      parked_total -= Sum(*parked);
      r = r + *parked;
      *parked = torch::Tensor();
    }
    r = MaxPoolRelevance(r, t.pool_indices[block], t.pool_input_sizes[block]);
    record("pool" + std::to_string(block + 1), "winner-takes-all", 0.0);
    for (int i = 0; i < FCN8sImpl::kConvsPerBlock[block]; ++i) step_at(--index);
  }
  result.relevance = r;
  return result;
}

}  // namespace fringe::attribution
