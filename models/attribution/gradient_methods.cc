#include "models/attribution/gradient_methods.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe::attribution {
namespace {

namespace F = torch::nn::functional;

// dT/dx for each sample of `xs` (the samples are independent: BatchNorm is folded), and T.
std::pair<torch::Tensor, torch::Tensor> BatchGradients(const DifferentiableNet& net,
                                                       const torch::Tensor& xs,
                                                       const TargetSpec& target) {
  torch::AutoGradMode enable_grad(true);
  const torch::Tensor x = xs.detach().clone().requires_grad_(true);
  const torch::Tensor values = target.Values(net.Logits(x, nullptr));
  torch::Tensor grad = torch::autograd::grad({values.sum()}, {x})[0];
  return {grad.detach(), values.detach()};
}

// T for every sample of `xs`, `batch` at a time, without gradients.
torch::Tensor BatchValues(const DifferentiableNet& net, const torch::Tensor& xs,
                          const TargetSpec& target, int batch) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> values;
  for (int64_t i = 0; i < xs.size(0); i += batch) {
    values.push_back(target.Values(
        net.Logits(xs.narrow(0, i, std::min<int64_t>(batch, xs.size(0) - i)), nullptr)));
  }
  return torch::cat(values);
}

double Value(const DifferentiableNet& net, const torch::Tensor& x, const TargetSpec& target) {
  torch::NoGradGuard no_grad;
  return target.Values(net.Logits(x, nullptr)).sum().item<double>();
}

torch::Tensor ChannelSum(const torch::Tensor& t) { return t.sum(1, /*keepdim=*/true); }

// Patch origins along one side: 0, stride, ... and one flush with the far border.
std::vector<int64_t> Origins(int64_t side, int64_t patch, int64_t stride) {
  std::vector<int64_t> origins;
  for (int64_t p = 0; p + patch <= side; p += stride) origins.push_back(p);
  if (origins.empty() || origins.back() + patch < side) origins.push_back(side - patch);
  return origins;
}

}  // namespace

MethodResult Gradient(const DifferentiableNet& net, const torch::Tensor& x,
                      const TargetSpec& target, bool times_input) {
  auto [grad, values] = BatchGradients(net, x, target);
  MethodResult result;
  result.map = ChannelSum(times_input ? grad * x : grad);
  result.target_value = values.sum().item<double>();
  return result;
}

MethodResult IntegratedGradients(const DifferentiableNet& net, const torch::Tensor& x,
                                 const TargetSpec& target,
                                 const IntegratedGradientsOptions& options) {
  const torch::Tensor baseline = torch::full_like(x, options.baseline);
  const torch::Tensor delta = x - baseline;
  torch::Tensor grad_sum = torch::zeros_like(x);
  for (int k0 = 0; k0 < options.steps; k0 += options.batch) {
    const int n = std::min(options.batch, options.steps - k0);
    // Midpoints of the n sub-intervals starting at k0.
    const torch::Tensor alphas =
        (torch::arange(k0, k0 + n, x.options()) + 0.5) / static_cast<double>(options.steps);
    const torch::Tensor points = baseline + alphas.reshape({-1, 1, 1, 1}) * delta;
    grad_sum += BatchGradients(net, points, target).first.sum(0, /*keepdim=*/true);
  }
  MethodResult result;
  result.map = ChannelSum(delta * grad_sum / static_cast<double>(options.steps));
  result.target_value = Value(net, x, target);
  result.reference_value = Value(net, baseline, target);
  return result;
}

MethodResult SmoothGrad(const DifferentiableNet& net, const torch::Tensor& x,
                        const TargetSpec& target, const SmoothGradOptions& options) {
  const double sigma = options.noise * (x.max() - x.min()).item<double>();
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  torch::Tensor grad_sum = torch::zeros_like(x);
  for (int k0 = 0; k0 < options.samples; k0 += options.batch) {
    const int n = std::min(options.batch, options.samples - k0);
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes[0] = n;
    const torch::Tensor noise = torch::randn(sizes, generator, x.options());
    grad_sum += BatchGradients(net, x + sigma * noise, target).first.sum(0, /*keepdim=*/true);
  }
  MethodResult result;
  result.map = ChannelSum(grad_sum / static_cast<double>(options.samples));
  result.target_value = Value(net, x, target);
  return result;
}

absl::StatusOr<MethodResult> GradCam(const DifferentiableNet& net, const torch::Tensor& x,
                                     const TargetSpec& target, const GradCamOptions& options) {
  std::vector<std::string> names = net.ActivationNames();
  names.erase(std::remove(names.begin(), names.end(), "head"), names.end());
  if (std::find(names.begin(), names.end(), options.layer) == names.end()) {
    return absl::InvalidArgumentError(absl::StrCat("parameter layer: no layer named \"",
                                                   options.layer,
                                                   "\"; known: ", absl::StrJoin(names, ", ")));
  }
  torch::AutoGradMode enable_grad(true);
  // The weights do not require gradients, so the input must, or no graph would be recorded.
  const torch::Tensor input = x.detach().clone().requires_grad_(true);
  torch::Tensor activation;
  const torch::Tensor logits =
      net.Logits(input, [&](const std::string& name, const torch::Tensor& a) {
        if (name == options.layer) activation = a;
      });
  const torch::Tensor values = target.Values(logits);
  const torch::Tensor grad = torch::autograd::grad({values.sum()}, {activation})[0];
  torch::NoGradGuard no_grad;
  const torch::Tensor weights = grad.mean({2, 3}, /*keepdim=*/true);
  torch::Tensor cam = (weights * activation.detach()).sum(1, /*keepdim=*/true);
  if (options.relu) cam = torch::relu(cam);
  if (cam.size(2) != x.size(2) || cam.size(3) != x.size(3)) {
    cam = F::interpolate(cam, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
  }
  MethodResult result;
  result.map = cam;
  result.target_value = values.sum().item<double>();
  return result;
}

MethodResult Occlusion(const DifferentiableNet& net, const torch::Tensor& x,
                       const TargetSpec& target, const OcclusionOptions& options) {
  torch::NoGradGuard no_grad;
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t patch_h = std::min<int64_t>(options.patch, h);
  const int64_t patch_w = std::min<int64_t>(options.patch, w);
  std::vector<std::pair<int64_t, int64_t>> origins;
  for (int64_t y : Origins(h, patch_h, options.stride)) {
    for (int64_t x0 : Origins(w, patch_w, options.stride)) origins.emplace_back(y, x0);
  }
  const double value = Value(net, x, target);
  torch::Tensor drop_sum = torch::zeros({1, 1, h, w}, x.options());
  torch::Tensor count = torch::zeros({1, 1, h, w}, x.options());
  for (size_t i0 = 0; i0 < origins.size(); i0 += options.batch) {
    const size_t n = std::min<size_t>(options.batch, origins.size() - i0);
    torch::Tensor xs = x.repeat({static_cast<int64_t>(n), 1, 1, 1});
    for (size_t j = 0; j < n; ++j) {
      const auto [y, x0] = origins[i0 + j];
      xs[j].narrow(1, y, patch_h).narrow(2, x0, patch_w).fill_(options.baseline);
    }
    const torch::Tensor values = target.Values(net.Logits(xs, nullptr));
    for (size_t j = 0; j < n; ++j) {
      const auto [y, x0] = origins[i0 + j];
      const double drop = value - values[j].item<double>();
      drop_sum.narrow(2, y, patch_h).narrow(3, x0, patch_w).add_(drop);
      count.narrow(2, y, patch_h).narrow(3, x0, patch_w).add_(1.0);
    }
  }
  MethodResult result;
  result.map = drop_sum / count.clamp_min(1.0);
  result.target_value = value;
  result.reference_value = Value(net, torch::full_like(x, options.baseline), target);
  return result;
}

MethodResult FrequencyOcclusion(const DifferentiableNet& net, const torch::Tensor& x,
                                const TargetSpec& target,
                                const FrequencyOcclusionOptions& options) {
  torch::NoGradGuard no_grad;
  const int64_t h = x.size(2), w = x.size(3);
  const auto real = x.options();
  const torch::Tensor ky = torch::fft::fftfreq(h, real).reshape({h, 1});
  const torch::Tensor kx = torch::fft::fftfreq(w, real).reshape({1, w});
  const torch::Tensor radius = torch::sqrt(ky * ky + kx * kx);
  const torch::Tensor spectrum = torch::fft::fft2(x);
  // The ring is symmetric under k -> -k, so every x_b is real up to rounding.
  std::vector<torch::Tensor> removed;  // x_b per band.
  for (const FrequencyBand& band : options.bands) {
    const torch::Tensor keep = 1.0 - ((radius >= band.low) & (radius < band.high)).to(real);
    removed.push_back(torch::real(torch::fft::ifft2(spectrum * keep)).contiguous());
  }
  const torch::Tensor logits = net.Logits(x, nullptr);
  const double value = target.Values(logits).sum().item<double>();
  const torch::Tensor base_map = target.Map(logits);
  MethodResult result;
  result.map = torch::zeros({1, 1, h, w}, real);
  for (size_t b0 = 0; b0 < removed.size(); b0 += options.batch) {
    const size_t n = std::min<size_t>(options.batch, removed.size() - b0);
    const torch::Tensor xs =
        torch::cat(std::vector<torch::Tensor>(removed.begin() + b0, removed.begin() + b0 + n));
    const torch::Tensor band_logits = net.Logits(xs, nullptr);
    const torch::Tensor values = target.Values(band_logits);
    const torch::Tensor maps = target.Map(band_logits);
    for (size_t j = 0; j < n; ++j) {
      const double drop = value - values[j].item<double>();
      result.layer_sums.emplace_back(options.bands[b0 + j].label, drop);
      if (options.output_map) {
        result.map += base_map - maps[j].unsqueeze(0);
      } else {
        const torch::Tensor energy = ChannelSum((x - xs[j].unsqueeze(0)).pow(2));
        const double total = energy.sum().item<double>();
        if (total > 0) result.map += drop * energy / total;
      }
    }
  }
  result.target_value = value;
  result.reference_value = Value(net, torch::zeros_like(x), target);
  return result;
}

}  // namespace fringe::attribution
