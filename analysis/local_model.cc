// The analysis library's one LibTorch translation unit.
#include "analysis/local_model.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/model_config.h"
#include "models/repository_layout.h"
#include "models/torch_models.h"
#include "models/unet.h"
#include "models/unet_io.h"
#include "models/unet_onednn.h"

namespace fringe::analysis {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxSide = 8192;

absl::Status CheckFrames(const std::vector<cv::Mat>& frames, int multiple) {
  if (frames.empty()) return absl::InvalidArgumentError("no frames");
  for (const cv::Mat& f : frames) {
    if (f.type() != CV_32FC1 || f.size() != frames[0].size() || f.rows % multiple != 0 ||
        f.cols % multiple != 0 || f.rows == 0 || f.rows > kMaxSide || f.cols > kMaxSide) {
      return absl::InvalidArgumentError(
          absl::StrCat("frames must be CV_32F of one size with sides multiples of ", multiple,
                       " and at most ", kMaxSide, " (prepare them with PrepareFrame)"));
    }
  }
  return absl::OkStatus();
}

// N x 1 x H x W tensor holding copies of the frames.
torch::Tensor Stack(const std::vector<cv::Mat>& frames) {
  const int64_t n = static_cast<int64_t>(frames.size()), h = frames[0].rows, w = frames[0].cols;
  torch::Tensor x = torch::empty({n, 1, h, w}, torch::kFloat32);
  float* dst = x.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const cv::Mat c = frames[i].isContinuous() ? frames[i] : frames[i].clone();
    std::copy(c.ptr<float>(), c.ptr<float>() + h * w, dst + i * h * w);
  }
  return x;
}

}  // namespace

PreparedFrame PrepareFrame(const cv::Mat& frame, int multiple) {
  PreparedFrame p;
  p.stats = ComputeFrameStats(frame);
  cv::Mat standardised = Standardise(frame, p.stats);
  const int pad_y = (multiple - frame.rows % multiple) % multiple;
  const int pad_x = (multiple - frame.cols % multiple) % multiple;
  cv::copyMakeBorder(standardised, p.input, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT, cv::Scalar(0));
  p.valid = cv::Rect(0, 0, frame.cols, frame.rows);
  return p;
}

struct LocalModel::Impl {
  v1::ModelConfig config;
  std::string version_dir;
  // forward() is not const in the torch API; in eval + inference mode it mutates nothing.
  mutable UNet net{nullptr};
  std::unique_ptr<UNetOneDnnPlan> plan;
  std::unique_ptr<Segmenter> segmenter;
  std::unique_ptr<Explainer> explainer;
  int multiple = 1;

  torch::Tensor Forward(const torch::Tensor& x) const {
    return plan ? plan->Forward(x) : net->forward(x);
  }
};

LocalModel::LocalModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalModel::~LocalModel() = default;

absl::StatusOr<std::unique_ptr<LocalModel>> LocalModel::Load(const std::string& version_dir,
                                                             const Options& options) {
  FRINGE_ASSIGN_OR_RETURN(v1::ModelConfig config,
                          LoadModelConfig(repository_layout::ConfigPath(version_dir)));
  if (config.architecture() != "unet") {
    return absl::InvalidArgumentError(
        absl::StrCat(version_dir, " holds a \"", config.architecture(),
                     "\" model; the analysis tools run \"unet\" models"));
  }
  const std::string weights = repository_layout::WeightsPath(version_dir);
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->version_dir = version_dir;
  impl->multiple = 1 << config.unet().depth();
  FRINGE_ASSIGN_OR_RETURN(UNet net, LoadUNetWeights(config, weights));
  try {
    net->eval();
    net->FoldBatchNorm();
    impl->net = net;
    if (options.onednn && UNetOneDnnPlan::Available()) {
      impl->plan = std::make_unique<UNetOneDnnPlan>(impl->net);
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot prepare ", weights, ": ", e.what_without_backtrace()));
  }
  RuntimeOptions runtime;
  runtime.onednn = options.onednn;
  FRINGE_ASSIGN_OR_RETURN(impl->segmenter, LoadUNetSegmenter(config, weights, runtime));
  FRINGE_ASSIGN_OR_RETURN(impl->explainer, Explainer::Load(config, version_dir));
  return std::unique_ptr<LocalModel>(new LocalModel(std::move(impl)));
}

const v1::ModelConfig& LocalModel::config() const { return impl_->config; }
const std::string& LocalModel::version_dir() const { return impl_->version_dir; }
int LocalModel::num_classes() const { return impl_->config.classes_size(); }
int LocalModel::input_multiple() const { return impl_->multiple; }
const Segmenter& LocalModel::segmenter() const { return *impl_->segmenter; }
const Explainer& LocalModel::explainer() const { return *impl_->explainer; }

std::string LocalModel::label() const {
  const fs::path dir = fs::path(impl_->version_dir).lexically_normal();
  const fs::path clean = dir.filename().empty() ? dir.parent_path() : dir;
  return absl::StrCat(clean.parent_path().filename().string(), " v", clean.filename().string());
}

absl::StatusOr<std::vector<std::vector<cv::Mat>>> LocalModel::Logits(
    const std::vector<cv::Mat>& frames) const {
  FRINGE_RETURN_IF_ERROR(CheckFrames(frames, impl_->multiple));
  try {
    c10::InferenceMode inference;
    const torch::Tensor logits = impl_->Forward(Stack(frames)).contiguous();
    const int64_t classes = logits.size(1), h = logits.size(2), w = logits.size(3);
    std::vector<std::vector<cv::Mat>> out(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      for (int64_t c = 0; c < classes; ++c) {
        const float* p = logits[static_cast<int64_t>(i)][c].data_ptr<float>();
        out[i].push_back(
            cv::Mat(static_cast<int>(h), static_cast<int>(w), CV_32F, const_cast<float*>(p))
                .clone());
      }
    }
    return out;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("U-Net forward failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::vector<double>> LocalModel::RegionScores(const std::vector<cv::Mat>& frames,
                                                             const cv::Mat& region, int class_index,
                                                             bool contrastive) const {
  FRINGE_RETURN_IF_ERROR(CheckFrames(frames, impl_->multiple));
  const int classes = num_classes();
  if (class_index < 0 || class_index >= classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("class ", class_index, " is not one of the model's 0..", classes - 1));
  }
  if (region.type() != CV_8UC1 || region.size() != frames[0].size()) {
    return absl::InvalidArgumentError("the scored region must be CV_8U of the frames' size");
  }
  try {
    c10::InferenceMode inference;
    const torch::Tensor logits = impl_->Forward(Stack(frames));
    // Same class weights as the attribution engine's target: e_c, or e_c - mean of the others.
    torch::Tensor weights = torch::zeros({classes}, torch::kFloat32);
    if (contrastive && classes > 1) weights.fill_(-1.0 / (classes - 1));
    weights[class_index] = 1.0;
    cv::Mat mask;
    const cv::Mat nonzero = region != 0;
    nonzero.convertTo(mask, CV_32F, 1.0 / 255.0);
    const torch::Tensor m =
        torch::from_blob(mask.ptr<float>(), {1, 1, mask.rows, mask.cols}, torch::kFloat32);
    const torch::Tensor g = (logits * weights.view({1, classes, 1, 1})).sum(1, true);
    const torch::Tensor s = (g * m).sum({1, 2, 3}).to(torch::kFloat64).contiguous();
    return std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("U-Net forward failed: ", e.what_without_backtrace()));
  }
}

std::vector<cv::Mat> LocalModel::FirstLayerFilters() const {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = impl_->net->down[0]
                              ->as<UNetBlock>()
                              ->first->conv->weight.detach()
                              .sum(1)
                              .to(torch::kFloat32)
                              .contiguous();  // [out, k, k]
  std::vector<cv::Mat> filters;
  for (int64_t o = 0; o < w.size(0); ++o) {
    filters.push_back(cv::Mat(static_cast<int>(w.size(1)), static_cast<int>(w.size(2)), CV_32F,
                              const_cast<float*>(w[o].data_ptr<float>()))
                          .clone());
  }
  return filters;
}

}  // namespace fringe::analysis
