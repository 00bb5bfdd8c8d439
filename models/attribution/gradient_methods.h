// Attribution methods that treat the network as a function rather than walking its layers:
// gradients (Simonyan et al. 2014), gradient x input (Shrikumar et al. 2016), Integrated
// Gradients (Sundararajan et al. 2017), SmoothGrad (Smilkov et al. 2017), Grad-CAM (Selvaraju
// et al. 2017; for segmentation Vinogradova et al. 2020), occlusion (Zeiler & Fergus 2014) and
// Fourier-band occlusion (after Horwath et al. 2019: HRTEM networks lean on lattice fringes,
// a ring in Fourier space). All run on any DifferentiableNet (the canonised U-Net or FCN8s, a
// TorchScript model) and the same scalar target T as
// LRP. Internal: includes torch. Inputs are 1 x in_channels x H x W.
#ifndef FRINGE_MODELS_ATTRIBUTION_GRADIENT_METHODS_H_
#define FRINGE_MODELS_ATTRIBUTION_GRADIENT_METHODS_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "models/attribution/canonical_unet.h"

namespace fringe::attribution {

struct MethodResult {
  torch::Tensor map;           // 1 x 1 x H x W (summed over input channels).
  double target_value = 0;     // T(x).
  double reference_value = 0;  // T at the method's reference input (see attribution.h).
  std::vector<std::pair<std::string, double>> layer_sums;
};

// dT/dx, or x * dT/dx.
MethodResult Gradient(const DifferentiableNet& net, const torch::Tensor& x,
                      const TargetSpec& target, bool times_input);

struct IntegratedGradientsOptions {
  int steps = 64;
  double baseline = 0;  // Constant baseline image (0 = the standardised mean).
  int batch = 8;        // Path points per forward/backward pass.
};
// (x - x0) * mean over the midpoints a_k = (k + 1/2) / steps of dT/dx at x0 + a_k (x - x0):
// the midpoint Riemann sum of the path integral, so sum(map) ~ T(x) - T(x0) (completeness).
MethodResult IntegratedGradients(const DifferentiableNet& net, const torch::Tensor& x,
                                 const TargetSpec& target,
                                 const IntegratedGradientsOptions& options);

struct SmoothGradOptions {
  int samples = 16;
  double noise = 0.15;  // sigma / (max(x) - min(x)).
  uint64_t seed = 0;
  int batch = 8;
};
// Mean gradient over noisy copies x + N(0, sigma^2); reproducible for a given seed.
MethodResult SmoothGrad(const DifferentiableNet& net, const torch::Tensor& x,
                        const TargetSpec& target, const SmoothGradOptions& options);

struct GradCamOptions {
  std::string layer = "bottleneck";  // One of net.ActivationNames() but "head".
  bool relu = true;
};
// sum_k alpha_k A_k with alpha_k the spatial mean of dT/dA_k, ReLU'd, bilinearly up-sampled
// to the input size. INVALID_ARGUMENT for an unknown layer (listing the known ones).
absl::StatusOr<MethodResult> GradCam(const DifferentiableNet& net, const torch::Tensor& x,
                                     const TargetSpec& target, const GradCamOptions& options);

struct OcclusionOptions {
  int patch = 8;
  int stride = 4;
  double baseline = 0;
  int batch = 16;
};
// T(x) - T(x with a patch set to the baseline), averaged over the patches covering each pixel
// (patches tile the image at `stride`, the last one flush with the border). The reference is
// T of the fully occluded image.
MethodResult Occlusion(const DifferentiableNet& net, const torch::Tensor& x,
                       const TargetSpec& target, const OcclusionOptions& options);

struct FrequencyBand {
  double low = 0, high = 0;  // |k| in cycles/pixel: low <= |k| < high is removed.
  std::string label;
};
struct FrequencyOcclusionOptions {
  std::vector<FrequencyBand> bands;
  bool output_map = false;
  int batch = 8;
};
// For each band, removes the ring from x's spectrum (x_b = IFFT(FFT(x) * (1 - ring))) and
// reports T(x) - T(x_b) in layer_sums. The map sums the bands' drops spread over the input in
// proportion to the removed signal's energy |x - x_b|^2 (map "input"), or, with output_map,
// the per-pixel drop of the target's summand region * g (map "output"); both sum to the total
// of the drops. The reference is T(0), the image with every frequency removed.
MethodResult FrequencyOcclusion(const DifferentiableNet& net, const torch::Tensor& x,
                                const TargetSpec& target, const FrequencyOcclusionOptions& options);

}  // namespace fringe::attribution

#endif  // FRINGE_MODELS_ATTRIBUTION_GRADIENT_METHODS_H_
