// Explainer: validates requests, turns frames and targets into tensors, parses the textual
// parameters into the typed options of lrp.h / gradient_methods.h and packs the results.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "models/attribution/attribution.h"
#include "models/attribution/canonical_fcn8s.h"
#include "models/attribution/canonical_unet.h"
#include "models/attribution/gradient_methods.h"
#include "models/attribution/lrp.h"
#include "models/attribution/torchscript_net.h"
#include "models/fcn8s.h"
#include "models/model_config.h"
#include "models/repository_layout.h"
#include "models/segmentation_net.h"
#include "models/unet.h"
#include "models/unet_io.h"

namespace fringe {
namespace {

using attribution::CanonicalFCN8s;
using attribution::CanonicalUNet;
using attribution::DifferentiableNet;
using attribution::LrpEngine;
using attribution::MethodResult;
using attribution::TargetSpec;

constexpr int kMaxSide = 8192;
constexpr char kDefaultComposite[] = "epsilon-gamma-box";

// Typed access to a request's textual parameters. Remembers what the method asked for, so
// that names nobody asked for are reported (a typo must not silently fall back to a
// default), and what was used, defaults included, for the result's provenance.
class Parameters {
 public:
  Parameters(const std::map<std::string, std::string>& given, std::string method)
      : given_(given), method_(std::move(method)) {}

  absl::StatusOr<double> Double(const std::string& name, double fallback, double low, double high) {
    known_.push_back(name);
    auto it = given_.find(name);
    double value = fallback;
    if (it != given_.end()) {
      used_.insert(name);
      if (!absl::SimpleAtod(it->second, &value) || !std::isfinite(value)) {
        return Invalid(name, it->second, "a finite number");
      }
      if (value < low || value > high) {
        return Invalid(name, it->second, absl::StrCat("a number in [", low, ", ", high, "]"));
      }
    }
    effective_[name] = it != given_.end() ? it->second : absl::StrCat(value);
    return value;
  }

  absl::StatusOr<int64_t> Int(const std::string& name, int64_t fallback, int64_t low,
                              int64_t high) {
    known_.push_back(name);
    auto it = given_.find(name);
    int64_t value = fallback;
    if (it != given_.end()) {
      used_.insert(name);
      if (!absl::SimpleAtoi(it->second, &value) || value < low || value > high) {
        return Invalid(name, it->second, absl::StrCat("an integer in [", low, ", ", high, "]"));
      }
    }
    effective_[name] = absl::StrCat(value);
    return value;
  }

  absl::StatusOr<bool> Bool(const std::string& name, bool fallback) {
    known_.push_back(name);
    auto it = given_.find(name);
    bool value = fallback;
    if (it != given_.end()) {
      used_.insert(name);
      if (!absl::SimpleAtob(it->second, &value)) {
        return Invalid(name, it->second, "true or false");
      }
    }
    effective_[name] = value ? "true" : "false";
    return value;
  }

  absl::StatusOr<std::string> String(const std::string& name, const std::string& fallback,
                                     const std::vector<std::string>& allowed = {}) {
    known_.push_back(name);
    auto it = given_.find(name);
    std::string value = fallback;
    if (it != given_.end()) {
      used_.insert(name);
      value = it->second;
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return Invalid(name, value, absl::StrCat("one of ", absl::StrJoin(allowed, ", ")));
      }
    }
    effective_[name] = value;
    return value;
  }

  bool Has(const std::string& name) const { return given_.count(name) > 0; }

  // Every "<prefix>x" parameter as x -> value.
  std::map<std::string, std::string> Prefixed(const std::string& prefix) {
    known_.push_back(prefix + "<...>");
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : given_) {
      if (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0) {
        out[key.substr(prefix.size())] = value;
        used_.insert(key);
      }
    }
    return out;
  }

  // INVALID_ARGUMENT naming every parameter the method did not ask for.
  absl::Status CheckAllUsed() const {
    std::vector<std::string> unknown;
    for (const auto& entry : given_) {
      if (!used_.count(entry.first)) unknown.push_back(entry.first);
    }
    if (unknown.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("method \"", method_, "\" has no parameter", unknown.size() > 1 ? "s " : " ",
                     absl::StrJoin(unknown, ", "),
                     "; it takes: ", known_.empty() ? "none" : absl::StrJoin(known_, ", ")));
  }

  void Set(const std::string& name, const std::string& value) { effective_[name] = value; }
  const std::map<std::string, std::string>& effective() const { return effective_; }

 private:
  absl::Status Invalid(const std::string& name, const std::string& value,
                       const std::string& expected) const {
    return absl::InvalidArgumentError(absl::StrCat("parameter ", name, " of method \"", method_,
                                                   "\" is \"", value, "\"; expected ", expected));
  }

  const std::map<std::string, std::string>& given_;
  std::string method_;
  std::vector<std::string> known_;
  std::set<std::string> used_;
  std::map<std::string, std::string> effective_;
};

std::vector<std::string> GradientMethodNames() {
  return {"gradient", "gradient-x-input", "integrated-gradients", "smoothgrad",
          "grad-cam", "occlusion",        "frequency-occlusion"};
}

torch::Tensor MatToTensor(const cv::Mat& mat) {
  const cv::Mat continuous = mat.isContinuous() ? mat : mat.clone();
  return torch::from_blob(const_cast<float*>(continuous.ptr<float>()),
                          {1, 1, continuous.rows, continuous.cols}, torch::kFloat32)
      .clone();
}

cv::Mat TensorToMat(const torch::Tensor& map) {
  const torch::Tensor t = map.detach().to(torch::kFloat32).contiguous();
  const int rows = static_cast<int>(t.size(2)), cols = static_cast<int>(t.size(3));
  return cv::Mat(rows, cols, CV_32F, const_cast<float*>(t.data_ptr<float>())).clone();
}

// "a:b,c:d" -> [(a, b), (c, d)]; "inf" allowed as an upper end.
absl::StatusOr<std::vector<std::pair<double, double>>> ParseRanges(const std::string& name,
                                                                   const std::string& text) {
  std::vector<std::pair<double, double>> ranges;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::vector<std::string> ends = absl::StrSplit(item, ':');
    double a = 0, b = 0;
    if (ends.size() != 2 || !absl::SimpleAtod(ends[0], &a) || !absl::SimpleAtod(ends[1], &b) ||
        !(a >= 0) || !(b > a) || std::isinf(a)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter ", name, ": \"", std::string(item),
          "\" is not a range \"low:high\" with 0 <= low < high (e.g. \"0.1:0.2,0.2:inf\")"));
    }
    ranges.emplace_back(a, b);
  }
  if (ranges.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("parameter ", name, " lists no ranges"));
  }
  return ranges;
}

}  // namespace

std::vector<std::string> KnownAttributionMethods() {
  std::vector<std::string> methods = {"lrp"};
  for (const std::string& composite : attribution::LrpCompositeNames()) {
    methods.push_back("lrp-" + composite);
  }
  for (const std::string& name : GradientMethodNames()) methods.push_back(name);
  return methods;
}

struct Explainer::Impl {
  v1::ModelConfig config;
  std::shared_ptr<const DifferentiableNet> net;
  // Null for a TorchScript model: no layer structure, no LRP.
  std::unique_ptr<LrpEngine> lrp;

  absl::StatusOr<TargetSpec> MakeTarget(const torch::Tensor& x,
                                        const AttributionTarget& target) const;
  absl::StatusOr<Attribution> Run(const torch::Tensor& x, const TargetSpec& target,
                                  const AttributionRequest& request) const;
};

Explainer::Explainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Explainer::~Explainer() = default;

absl::StatusOr<std::unique_ptr<Explainer>> Explainer::Load(const v1::ModelConfig& config_in,
                                                           const std::string& version_dir) {
  v1::ModelConfig config = config_in;
  ApplyModelConfigDefaults(&config);
  const std::string& architecture = config.architecture();
  if (architecture != "unet" && architecture != "fcn8s") {
    return absl::InvalidArgumentError(
        absl::StrCat("attribution needs a \"unet\" or \"fcn8s\" model; this one is \"",
                     architecture, "\" (TorchScript models: Explainer::LoadTorchScript)"));
  }
  FRINGE_RETURN_IF_ERROR(ValidateModelConfig(config));
  const std::string weights_path = repository_layout::WeightsPath(version_dir);
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (architecture == "unet") {
    FRINGE_ASSIGN_OR_RETURN(UNet net, LoadUNetWeights(config, weights_path));
    try {
      net->eval();
      auto canonical = std::make_shared<const CanonicalUNet>(net);
      impl->lrp = std::make_unique<LrpEngine>(canonical);
      impl->net = std::move(canonical);
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load U-Net weights from ", weights_path, ": ", e.what_without_backtrace()));
    }
  } else {
    FRINGE_ASSIGN_OR_RETURN(SegmentationNet loaded, LoadSegmentationNet(config, weights_path));
    auto module = std::dynamic_pointer_cast<FCN8sImpl>(loaded.module);
    if (!module) return absl::InternalError("LoadSegmentationNet(fcn8s) returned no FCN8s");
    try {
      FCN8s net(module);
      net->eval();
      auto canonical = std::make_shared<const CanonicalFCN8s>(net);
      impl->lrp = std::make_unique<LrpEngine>(canonical);
      impl->net = std::move(canonical);
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load FCN8s weights from ", weights_path, ": ", e.what_without_backtrace()));
    }
  }
  // The constructor is private (Load is the only way to build one), so make_unique cannot
  // reach it.
  return std::unique_ptr<Explainer>(new Explainer(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Explainer>> Explainer::LoadTorchScript(const std::string& path,
                                                                      int input_multiple) {
  FRINGE_ASSIGN_OR_RETURN(std::unique_ptr<attribution::TorchScriptNet> net,
                          attribution::TorchScriptNet::Load(path, input_multiple));
  auto impl = std::make_unique<Impl>();
  impl->config.set_architecture("torchscript");
  impl->net = std::move(net);
  return std::unique_ptr<Explainer>(new Explainer(std::move(impl)));
}

int Explainer::input_multiple() const { return impl_->net->input_multiple(); }
int Explainer::num_classes() const { return impl_->net->num_classes(); }

std::vector<std::string> Explainer::layer_names() const {
  std::vector<std::string> names;
  if (impl_->lrp) {
    for (const auto& layer : impl_->lrp->layers()) names.push_back(layer.name);
  }
  return names;
}

absl::StatusOr<TargetSpec> Explainer::Impl::MakeTarget(const torch::Tensor& x,
                                                       const AttributionTarget& target) const {
  const int classes = net->num_classes();
  const int c = target.class_index;
  if (c < 0 || c >= classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("target.class_index is ", c, "; the model has classes 0..", classes - 1));
  }
  if (target.contrastive && classes < 2) {
    return absl::InvalidArgumentError("target.contrastive needs a model with 2+ classes");
  }
  TargetSpec spec;
  spec.class_weights = torch::zeros({classes}, torch::kFloat32);
  if (target.contrastive) spec.class_weights.fill_(-1.0 / (classes - 1));
  spec.class_weights[c] = 1.0;

  const int rows = static_cast<int>(x.size(2)), cols = static_cast<int>(x.size(3));
  cv::Mat region = cv::Mat::zeros(rows, cols, CV_32F);
  switch (target.kind) {
    case AttributionTarget::Kind::kPredicted: {
      torch::NoGradGuard no_grad;
      const torch::Tensor predicted = (net->Logits(x, nullptr).argmax(1, /*keepdim=*/true) == c);
      spec.region = predicted.to(torch::kFloat32);
      return spec;
    }
    case AttributionTarget::Kind::kMask:
      if (target.mask.type() != CV_8UC1 || target.mask.rows != rows || target.mask.cols != cols) {
        return absl::InvalidArgumentError(
            absl::StrCat("target.mask must be CV_8UC1 of the frame's size ", cols, "x", rows));
      }
      region.setTo(1.0f, target.mask != 0);
      break;
    case AttributionTarget::Kind::kBox: {
      const cv::Rect box = target.box & cv::Rect(0, 0, cols, rows);
      if (box.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "target.box (", target.box.x, ",", target.box.y, " ", target.box.width, "x",
            target.box.height, ") does not overlap the ", cols, "x", rows, " frame"));
      }
      region(box).setTo(1.0f);
      break;
    }
    case AttributionTarget::Kind::kPixel:
      if (!cv::Rect(0, 0, cols, rows).contains(target.pixel)) {
        return absl::InvalidArgumentError(absl::StrCat("target.pixel (", target.pixel.x, ",",
                                                       target.pixel.y, ") is outside the ", cols,
                                                       "x", rows, " frame"));
      }
      region.at<float>(target.pixel) = 1.0f;
      break;
  }
  spec.region = MatToTensor(region);
  return spec;
}

absl::StatusOr<Attribution> Explainer::Explain(const cv::Mat& frame,
                                               const AttributionRequest& request) const {
  const auto start = std::chrono::steady_clock::now();
  const int multiple = input_multiple();
  if (frame.empty() || frame.type() != CV_32FC1) {
    return absl::InvalidArgumentError("frame must be a non-empty single-channel CV_32F image");
  }
  if (frame.rows % multiple != 0 || frame.cols % multiple != 0 || frame.rows > kMaxSide ||
      frame.cols > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat("frame is ", frame.cols, "x", frame.rows,
                                                   "; sides must be multiples of ", multiple,
                                                   " (pad it) and at most ", kMaxSide));
  }
  if (!cv::checkRange(frame, /*quiet=*/true)) {
    return absl::InvalidArgumentError("frame contains NaN or Inf");
  }
  const std::vector<std::string> methods = KnownAttributionMethods();
  if (std::find(methods.begin(), methods.end(), request.method) == methods.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown attribution method \"", request.method,
                                                   "\"; known: ", absl::StrJoin(methods, ", ")));
  }
  try {
    const torch::Tensor x = MatToTensor(frame);
    FRINGE_ASSIGN_OR_RETURN(const TargetSpec target, impl_->MakeTarget(x, request.target));
    FRINGE_ASSIGN_OR_RETURN(Attribution result, impl_->Run(x, target, request));
    result.method = request.method;
    result.milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("attribution (", request.method, ") failed: ", e.what_without_backtrace()));
  } catch (const cv::Exception& e) {
    return absl::InternalError(
        absl::StrCat("attribution (", request.method, ") failed: ", e.what()));
  }
}

absl::StatusOr<Attribution> Explainer::Impl::Run(const torch::Tensor& x, const TargetSpec& target,
                                                 const AttributionRequest& request) const {
  const std::string& method = request.method;
  Parameters params(request.parameters, method);
  Attribution out;
  MethodResult result;

  if (method.rfind("lrp", 0) == 0) {
    if (!lrp) {
      return absl::FailedPreconditionError(
          "LRP needs the layer structure; TorchScript models support gradient methods "
          "(gradient, gradient-x-input, integrated-gradients, smoothgrad, occlusion, "
          "frequency-occlusion)");
    }
    std::string composite = method == "lrp" ? "" : method.substr(4);
    if (method == "lrp") {
      FRINGE_ASSIGN_OR_RETURN(composite, params.String("composite", kDefaultComposite,
                                                       attribution::LrpCompositeNames()));
    }
    attribution::LrpOptions options;
    FRINGE_ASSIGN_OR_RETURN(options.epsilon, params.Double("epsilon", 0.25, 0, 1e6));
    FRINGE_ASSIGN_OR_RETURN(const bool absolute, params.Bool("absolute_epsilon", false));
    options.relative_epsilon = !absolute;
    FRINGE_ASSIGN_OR_RETURN(options.gamma, params.Double("gamma", 0.25, 0, 1e6));
    FRINGE_ASSIGN_OR_RETURN(options.alpha, params.Double("alpha", 2.0, 1, 1e6));
    FRINGE_ASSIGN_OR_RETURN(options.beta, params.Double("beta", 1.0, 0, 1e6));
    if (std::abs(options.alpha - options.beta - 1.0) > 1e-9) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters alpha and beta of method \"", method, "\" are ", options.alpha,
                       " and ", options.beta, "; alpha - beta must be 1 (relevance conservation)"));
    }
    FRINGE_ASSIGN_OR_RETURN(options.stabilizer, params.Double("stabilizer", 1e-6, 0, 1));
    FRINGE_ASSIGN_OR_RETURN(options.ignore_bias, params.Bool("ignore_bias", false));
    if (params.Has("low") != params.Has("high")) {
      return absl::InvalidArgumentError(absl::StrCat("parameters low and high of method \"", method,
                                                     "\" (z-box bounds) go together"));
    }
    if (params.Has("low")) {
      FRINGE_ASSIGN_OR_RETURN(const double low, params.Double("low", 0, -1e6, 1e6));
      FRINGE_ASSIGN_OR_RETURN(const double high, params.Double("high", 0, -1e6, 1e6));
      if (!(low < high)) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters low and high of method \"", method, "\": low must be < high"));
      }
      options.low = low;
      options.high = high;
    }
    FRINGE_ASSIGN_OR_RETURN(options.rules, attribution::ResolveLrpRules(lrp->layers(), composite,
                                                                        params.Prefixed("rule.")));
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    if (method != "lrp") params.Set("composite", composite);
    const auto& layers = lrp->layers();
    for (size_t i = 0; i < layers.size(); ++i) {
      params.Set("rule." + layers[i].name, attribution::LrpRuleName(options.rules[i]));
    }
    const attribution::LrpResult lrp_result = lrp->Explain(x, target, options);
    result.map = lrp_result.relevance.sum(1, /*keepdim=*/true);
    result.target_value = lrp_result.target_value;
    for (const auto& record : lrp_result.layers) {
      result.layer_sums.emplace_back(record.name, record.relevance_below);
    }
  } else if (method == "gradient" || method == "gradient-x-input") {
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    result = attribution::Gradient(*net, x, target, method == "gradient-x-input");
  } else if (method == "integrated-gradients") {
    attribution::IntegratedGradientsOptions options;
    FRINGE_ASSIGN_OR_RETURN(options.steps, params.Int("steps", 64, 1, 4096));
    FRINGE_ASSIGN_OR_RETURN(options.baseline, params.Double("baseline", 0, -1e6, 1e6));
    FRINGE_ASSIGN_OR_RETURN(options.batch, params.Int("batch", 8, 1, 256));
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    result = attribution::IntegratedGradients(*net, x, target, options);
  } else if (method == "smoothgrad") {
    attribution::SmoothGradOptions options;
    FRINGE_ASSIGN_OR_RETURN(options.samples, params.Int("samples", 16, 1, 4096));
    FRINGE_ASSIGN_OR_RETURN(options.noise, params.Double("noise", 0.15, 0, 10));
    FRINGE_ASSIGN_OR_RETURN(const int64_t seed,
                            params.Int("seed", 0, 0, std::numeric_limits<int64_t>::max()));
    options.seed = static_cast<uint64_t>(seed);
    FRINGE_ASSIGN_OR_RETURN(options.batch, params.Int("batch", 8, 1, 256));
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    result = attribution::SmoothGrad(*net, x, target, options);
  } else if (method == "grad-cam") {
    attribution::GradCamOptions options;
    FRINGE_ASSIGN_OR_RETURN(options.layer, params.String("layer", net->DefaultCamLayer()));
    FRINGE_ASSIGN_OR_RETURN(options.relu, params.Bool("relu", true));
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    FRINGE_ASSIGN_OR_RETURN(result, attribution::GradCam(*net, x, target, options));
  } else if (method == "occlusion") {
    const int64_t min_side = std::min(x.size(2), x.size(3));
    attribution::OcclusionOptions options;
    FRINGE_ASSIGN_OR_RETURN(options.patch,
                            params.Int("patch", std::min<int64_t>(8, min_side), 1, min_side));
    FRINGE_ASSIGN_OR_RETURN(options.stride,
                            params.Int("stride", std::max(1, options.patch / 2), 1, min_side));
    FRINGE_ASSIGN_OR_RETURN(options.baseline, params.Double("baseline", 0, -1e6, 1e6));
    FRINGE_ASSIGN_OR_RETURN(options.batch, params.Int("batch", 16, 1, 256));
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    result = attribution::Occlusion(*net, x, target, options);
  } else if (method == "frequency-occlusion") {
    attribution::FrequencyOcclusionOptions options;
    const int given = params.Has("bands") + params.Has("bands_nm") + params.Has("n_bands");
    if (given > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "method \"", method, "\" takes only one of the parameters bands, bands_nm, n_bands"));
    }
    FRINGE_ASSIGN_OR_RETURN(const std::string map,
                            params.String("map", "input", {"input", "output"}));
    options.output_map = map == "output";
    FRINGE_ASSIGN_OR_RETURN(options.batch, params.Int("batch", 8, 1, 256));
    FRINGE_ASSIGN_OR_RETURN(const double pixel_size,
                            params.Double("pixel_size_nm", config.pixel_size_nm(), 0, 1e6));
    if (params.Has("bands")) {
      FRINGE_ASSIGN_OR_RETURN(const std::string text, params.String("bands", ""));
      FRINGE_ASSIGN_OR_RETURN(const auto ranges, ParseRanges("bands", text));
      for (const auto& [low, high] : ranges) {
        options.bands.push_back({low, high, absl::StrFormat("%.4g-%.4g c/px", low, high)});
      }
    } else if (params.Has("bands_nm")) {
      FRINGE_ASSIGN_OR_RETURN(const std::string text, params.String("bands_nm", ""));
      if (!(pixel_size > 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter bands_nm of method \"", method,
                         "\" needs pixel_size_nm (the model config has none; pass pixel_size_nm)"));
      }
      FRINGE_ASSIGN_OR_RETURN(const auto ranges, ParseRanges("bands_nm", text));
      for (const auto& [d_low, d_high] : ranges) {
        if (!(d_low > 0)) {
          return absl::InvalidArgumentError("parameter bands_nm: spacings must be > 0 nm");
        }
        // A lattice spacing d (nm) shows as fringes at |k| = pixel_size / d cycles/pixel.
        options.bands.push_back({pixel_size / d_high, pixel_size / d_low,
                                 absl::StrFormat("%.4g-%.4g nm", d_low, d_high)});
      }
    } else {
      FRINGE_ASSIGN_OR_RETURN(const int64_t n, params.Int("n_bands", 8, 1, 256));
      // Equal rings up to the corner of the spectrum (|k| = sqrt(0.5)), so the bands together
      // remove every frequency.
      const double top = std::sqrt(0.5);
      for (int64_t i = 0; i < n; ++i) {
        const double low = top * i / n, high = top * (i + 1) / n;
        options.bands.push_back({low, i + 1 == n ? std::numeric_limits<double>::infinity() : high,
                                 absl::StrFormat("%.4g-%.4g c/px", low, high)});
      }
    }
    FRINGE_RETURN_IF_ERROR(params.CheckAllUsed());
    result = attribution::FrequencyOcclusion(*net, x, target, options);
  }

  out.relevance = TensorToMat(result.map);
  out.target_value = result.target_value;
  out.reference_value = result.reference_value;
  out.relevance_sum = result.map.sum().item<double>();
  out.conservation_residual = out.target_value - out.reference_value - out.relevance_sum;
  out.layer_sums = std::move(result.layer_sums);
  out.parameters = params.effective();
  return out;
}

}  // namespace fringe
