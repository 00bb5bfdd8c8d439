#include "models/receptive_field.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/model_config.h"
#include "models/segmentation_net.h"

namespace fringe {
namespace {

using Iv = PixelInterval;

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

// Output o of a convolution (or pool) reads inputs o * s - p + t * d, t = 0..k-1.
Iv ConvBack(Iv v, int64_t k, int64_t s, int64_t p, int64_t d) {
  return {v.first * s - p, v.last * s - p + (k - 1) * d};
}
// "Same" 3x3 convolution (padding = dilation), as in ConvBnRelu.
Iv Conv3Back(Iv v, int64_t d) { return ConvBack(v, 3, 1, d, d); }
// 2x2 / stride-2 max-pool (ceil mode only adds windows at the border).
Iv PoolBack(Iv v) { return ConvBack(v, 2, 2, 0, 1); }
// Output o of a transposed convolution reads inputs j with 0 <= o + p - s j <= k - 1.
Iv TransposedBack(Iv v, int64_t k, int64_t s, int64_t p) {
  return {CeilDiv(v.first + p - k + 1, s), FloorDiv(v.last + p, s)};
}
Iv Union(Iv a, Iv b) { return {std::min(a.first, b.first), std::max(a.last, b.last)}; }
Iv Shift(Iv v, int64_t offset) { return {v.first + offset, v.last + offset}; }

// U-Net (models/unet.cc): encoder block l = two 3x3 convs at dilation[l], then a pool; the
// bottleneck; decoder level l = 2x2/2 transposed conv, concatenation with encoder block l's
// output, two 3x3 convs at dilation[l]; a 1x1 head.
class UNetTrace {
 public:
  explicit UNetTrace(const v1::UNetParams& p) : p_(p) {}
  Iv Output(int64_t o) const { return Decoder(0, {o, o}); }

 private:
  int64_t Dilation(int level) const { return p_.dilation().empty() ? 1 : p_.dilation(level); }
  Iv Block(int level, Iv v) const {
    return Conv3Back(Conv3Back(v, Dilation(level)), Dilation(level));
  }
  // `v` on the output of encoder block `level`.
  Iv Encoder(int level, Iv v) const {
    v = Block(level, v);
    return level == 0 ? v : Encoder(level - 1, PoolBack(v));
  }
  Iv Bottleneck(Iv v) const { return Encoder(p_.depth() - 1, PoolBack(Block(p_.depth(), v))); }
  // `v` on the output of decoder block `level`.
  Iv Decoder(int level, Iv v) const {
    v = Block(level, v);  // Now on the concatenation [up-sampled, skip].
    const Iv skip = Encoder(level, v);
    const Iv up = TransposedBack(v, 2, 2, 0);
    return Union(skip, level + 1 == p_.depth() ? Bottleneck(up) : Decoder(level + 1, up));
  }
  const v1::UNetParams& p_;
};

// FCN8s (models/fcn8s.cc): 5 blocks of 3x3 convs (2, 2, 3, 3, 3) each followed by a pool,
// fc6 (k x k, "same"), fc7 and the score layers (1x1), and the fusions
// crop(upscore2(score_fr), 1) + score_pool4(pool4), crop(upscore_pool4(.), 1) +
// score_pool3(pool3), crop(upscore8(.), 4).
class FCN8sTrace {
 public:
  explicit FCN8sTrace(const v1::FCN8sParams& p) : p_(p) {}
  Iv Output(int64_t o) const {
    Iv v = TransposedBack(Shift({o, o}, 4), 16, 8, 0);  // On fuse3 (pool3 resolution).
    const Iv from_pool3 = Pool(3, v);
    v = TransposedBack(Shift(v, 1), 4, 2, 0);  // On fuse4 (pool4 resolution).
    const Iv from_pool4 = Pool(4, v);
    v = TransposedBack(Shift(v, 1), 4, 2, 0);  // On score_fr = fc7 = fc6's output.
    const int64_t k = p_.fc6_kernel(), d = Dilation(5);
    v = ConvBack(v, k, 1, d * (k - 1) / 2, d);  // fc6, on pool5.
    return Union(Union(from_pool3, from_pool4), Pool(5, v));
  }

 private:
  static constexpr int kConvs[5] = {2, 2, 3, 3, 3};
  int64_t Dilation(int i) const { return p_.dilation().empty() ? 1 : p_.dilation(i); }
  // `v` on the output of pool `n` (1..5).
  Iv Pool(int n, Iv v) const {
    v = PoolBack(v);
    for (int i = 0; i < kConvs[n - 1]; ++i) v = Conv3Back(v, Dilation(n - 1));
    return n == 1 ? v : Pool(n - 1, v);
  }
  const v1::FCN8sParams& p_;
};

absl::StatusOr<v1::ModelConfig> Filled(const v1::ModelConfig& config) {
  v1::ModelConfig filled = config;
  ApplyModelConfigDefaults(&filled);
  if (absl::Status s = ValidateModelConfig(filled); !s.ok()) return s;
  if (!IsTorchArchitecture(filled.architecture())) {
    return absl::UnimplementedError(absl::StrCat("architecture ", filled.architecture(),
                                                 " has no convolutional receptive field"));
  }
  return filled;
}

int64_t Period(const v1::ModelConfig& config) {
  return config.architecture() == "unet" ? (int64_t{1} << config.unet().depth()) : 32;
}

Iv Trace(const v1::ModelConfig& config, int64_t o) {
  if (config.architecture() == "unet") return UNetTrace(config.unet()).Output(o);
  return FCN8sTrace(config.fcn8s()).Output(o);
}

}  // namespace

absl::StatusOr<PixelInterval> ReceptiveFieldInterval(const v1::ModelConfig& config,
                                                     int64_t output_index) {
  auto filled = Filled(config);
  if (!filled.ok()) return filled.status();
  return Trace(*filled, output_index);
}

absl::StatusOr<ReceptiveField> AnalyticReceptiveField(const v1::ModelConfig& config,
                                                      double pixel_size_nm) {
  auto filled = Filled(config);
  if (!filled.ok()) return filled.status();
  ReceptiveField field;
  const int64_t period = Period(*filled);
  for (int64_t o = 0; o < period; ++o) {
    field.pixels = std::max(field.pixels, Trace(*filled, o).size());
  }
  if (pixel_size_nm > 0) field.nanometres = field.pixels * pixel_size_nm;
  return field;
}

absl::StatusOr<ReceptiveField> AnalyticReceptiveField(const v1::ModelConfig& config) {
  return AnalyticReceptiveField(config, config.pixel_size_nm());
}

void ReceptiveFieldToProto(const ReceptiveField& field, v1::ReceptiveField* proto) {
  proto->set_pixels(static_cast<int32_t>(field.pixels));
  proto->set_nanometres(field.nanometres);
}

namespace {

struct Extent {
  PixelInterval rows, cols;
};

// Gives the probe network positive constant weights (see the header) in place.
void MakeProbeWeights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    torch::Tensor& p = item.value();
    const std::string& name = item.key();
    if (p.dim() >= 2) {
      p.fill_(1.0 / static_cast<double>(p.numel() / p.size(0)));
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      p.zero_();
    } else {
      p.fill_(1.0);  // BatchNorm scale.
    }
    p.set_requires_grad(false);
  }
  for (auto& item : module.named_buffers()) {
    const std::string& name = item.key();
    if (name.find("running_mean") != std::string::npos) item.value().zero_();
    if (name.find("running_var") != std::string::npos) item.value().fill_(1.0);
  }
}

// One forward pass on an h x w ramp centred at (centre_row, centre_col), then one backward
// pass per output pixel in `pixels`: the extents of each one's non-zero input gradient.
absl::StatusOr<std::vector<Extent>> Footprints(
    const SegmentationNet& net, int64_t h, int64_t w, int64_t centre_row, int64_t centre_col,
    const std::vector<std::pair<int64_t, int64_t>>& pixels) {
  // float32 keeps LibTorch's fast (oneDNN) convolutions; the smallest gradients at a
  // footprint's corner are ~1e-20 for the deepest networks here, far above float32's
  // denormals, and the input ramp's unit steps stay exact.
  auto ramp = [](int64_t n, int64_t centre) {
    return (torch::arange(n, torch::kFloat32) - static_cast<float>(centre)).abs();
  };
  const torch::Tensor x = (1 + ramp(h, centre_row).unsqueeze(1) + ramp(w, centre_col).unsqueeze(0))
                              .reshape({1, 1, h, w})
                              .set_requires_grad(true);
  const torch::Tensor logits = net.forward(x);
  std::vector<Extent> out;
  for (size_t i = 0; i < pixels.size(); ++i) {
    const auto [row, col] = pixels[i];
    const torch::Tensor grad = torch::autograd::grad({logits[0][0][row][col]}, {x},
                                                     /*grad_outputs=*/{},
                                                     /*retain_graph=*/i + 1 < pixels.size())[0];
    const torch::Tensor nonzero = grad[0][0] != 0;
    const torch::Tensor rows = nonzero.any(1).nonzero().flatten();
    const torch::Tensor cols = nonzero.any(0).nonzero().flatten();
    if (rows.numel() == 0 || cols.numel() == 0) {
      return absl::InternalError("the probed output does not depend on the input at all");
    }
    out.push_back({{rows.min().item<int64_t>(), rows.max().item<int64_t>()},
                   {cols.min().item<int64_t>(), cols.max().item<int64_t>()}});
  }
  return out;
}

}  // namespace

absl::StatusOr<ReceptiveFieldFootprint> EmpiricalReceptiveField(
    const v1::ModelConfig& config, const ReceptiveFieldProbe& options) {
  auto filled = Filled(config);
  if (!filled.ok()) return filled.status();
  v1::ModelConfig probe = *filled;
  if (options.reduce_width) {
    probe.mutable_unet()->set_base_filters(1);
    probe.mutable_fcn8s()->set_width_divisor(64);
    probe.mutable_fcn8s()->set_fc6_channels(2);
    probe.mutable_fcn8s()->set_fc7_channels(2);
  }
  const int64_t multiple = NetworkInputMultiple(probe);
  const int64_t period = Period(probe);
  int64_t size = options.image_size;
  if (size <= 0) {
    auto analytic = AnalyticReceptiveField(probe);
    if (!analytic.ok()) return analytic.status();
    // Every feature the probed pixel depends on sees only its own footprint, so zero padding
    // is never reached while the footprint is inside the image: a margin for the sweep and
    // for an analytic field that might be too small (then `clipped` tells) is enough.
    size = analytic->pixels + 8 * period;
  }
  size = (size + multiple - 1) / multiple * multiple;
  ReceptiveFieldFootprint out;
  out.image_size = static_cast<int>(size);
  const int64_t c = size / 2;
  out.output_row = out.output_col = c;
  auto touches_border = [size](const PixelInterval& v) {
    return v.first == 0 || v.last == size - 1;
  };
  try {
    torch::manual_seed(0);  // Construction draws initial weights; all are overwritten.
    auto net = BuildSegmentationNet(probe);
    if (!net.ok()) return net.status();
    net->module->eval();
    MakeProbeWeights(*net->module);
    auto centre = Footprints(*net, size, size, c, c, {{c, c}});
    if (!centre.ok()) return centre.status();
    out.rows = centre->front().rows;
    out.cols = centre->front().cols;
    out.max_pixels = std::max(out.rows.size(), out.cols.size());
    out.clipped = touches_border(out.rows) || touches_border(out.cols);
    if (options.sweep_period) {
      // Rows and columns depend on each other's position not at all (square kernels, separable
      // ramp), so the row extent of output rows c .. c + period - 1 is measured on an image
      // only one period wide: the sweep costs what a single square probe does.
      const int64_t width = std::max(period, multiple);
      std::vector<std::pair<int64_t, int64_t>> pixels;
      for (int64_t r = 0; r < period; ++r) pixels.push_back({c + r, width / 2});
      auto sweep = Footprints(*net, size, width, c, width / 2, pixels);
      if (!sweep.ok()) return sweep.status();
      for (const Extent& e : *sweep) {
        out.max_pixels = std::max(out.max_pixels, e.rows.size());
        out.clipped = out.clipped || touches_border(e.rows);
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("receptive-field probe failed: ", e.what_without_backtrace()));
  }
  return out;
}

}  // namespace fringe
