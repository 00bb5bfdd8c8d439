#include "models/mac_count.h"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/torch.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/model_config.h"
#include "models/segmentation_net.h"

namespace fringe {
namespace {

std::optional<std::vector<int64_t>> Sizes(const torch::jit::Value* value) {
  const auto type = value->type()->cast<c10::TensorType>();
  if (!type) return std::nullopt;
  const auto sizes = type->sizes().concrete_sizes();  // c10::optional in this LibTorch.
  if (!sizes) return std::nullopt;
  return *sizes;
}

int64_t Numel(const std::vector<int64_t>& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

// Kernel elements per output element: weight sizes [.., in/groups (or out/groups when
// transposed), kh, kw, ...] without the first dimension.
int64_t KernelVolume(const std::vector<int64_t>& weight) {
  int64_t n = 1;
  for (size_t i = 1; i < weight.size(); ++i) n *= weight[i];
  return n;
}

// MACs of one traced node, 0 for nodes that are not products. Shapes are complete in a trace.
struct NodeCount {
  const char* kind = nullptr;  // MacCount::by_operation key; null for other nodes.
  int64_t macs = 0;
};

absl::StatusOr<NodeCount> NodeMacs(const torch::jit::Node& node) {
  const std::string kind = node.kind().toQualString();
  const bool conv = kind == "aten::conv2d" || kind == "aten::conv1d" || kind == "aten::conv3d";
  const bool transposed = kind == "aten::conv_transpose2d" || kind == "aten::conv_transpose1d" ||
                          kind == "aten::conv_transpose3d";
  const bool generic = kind == "aten::_convolution" || kind == "aten::convolution";
  const bool matmul = kind == "aten::mm" || kind == "aten::addmm" || kind == "aten::matmul" ||
                      kind == "aten::bmm" || kind == "aten::linear";
  if (!conv && !transposed && !generic && !matmul) return NodeCount{};
  auto missing = [&] {
    return absl::InternalError(absl::StrCat("the trace of ", kind, " has no tensor shapes"));
  };
  const auto out = Sizes(node.output(0));
  if (!out) return missing();
  if (matmul) {
    // out = A (.., k) x B (k, ..): every output element takes k MACs. addmm's A is input 1.
    const auto a = Sizes(node.input(kind == "aten::addmm" ? 1 : 0));
    if (!a || a->empty()) return missing();
    return NodeCount{"matrix product", Numel(*out) * a->back()};
  }
  const auto input = Sizes(node.input(0));
  const auto weight = Sizes(node.input(1));
  if (!input || !weight) return missing();
  bool is_transposed = transposed;
  if (generic) {
    // aten::_convolution / convolution(input, weight, bias, stride, padding, dilation,
    // transposed, ...).
    const auto flag = torch::jit::toIValue(node.input(6));
    if (!flag || !flag->isBool()) return missing();
    is_transposed = flag->toBool();
  }
  // A convolution: each output element sums in/groups x kernel products. A transposed one
  // scatters each input element into out/groups x kernel outputs.
  if (is_transposed) {
    return NodeCount{"transposed convolution", Numel(*input) * KernelVolume(*weight)};
  }
  return NodeCount{"convolution", Numel(*out) * KernelVolume(*weight)};
}

}  // namespace

absl::StatusOr<MacCount> CountMultiplyAccumulates(const v1::ModelConfig& config, int tile) {
  auto net = BuildSegmentationNet(config);
  if (!net.ok()) return net.status();
  const int multiple = NetworkInputMultiple(config);
  if (tile <= 0 || tile % multiple != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tile ", tile, " must be a positive multiple of ", multiple));
  }
  net->module->eval();
  // The tracer records parameters as constants, which it refuses for tensors that need grad.
  for (auto& p : net->module->parameters()) p.set_requires_grad(false);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::zeros({1, 1, tile, tile});
  std::shared_ptr<torch::jit::tracer::TracingState> state;
  try {
    auto traced = torch::jit::tracer::trace(
        {x},
        [&](torch::jit::Stack in) -> torch::jit::Stack { return {net->forward(in[0].toTensor())}; },
        [](const torch::autograd::Variable&) { return std::string(); });
    state = traced.first;
  } catch (const std::exception& e) {
    torch::jit::tracer::abandon();
    return absl::InternalError(absl::StrCat("tracing the network failed: ", e.what()));
  }
  MacCount count;
  for (const torch::jit::Node* node : state->graph->nodes()) {
    auto counted = NodeMacs(*node);
    if (!counted.ok()) return counted.status();
    if (counted->kind == nullptr) continue;
    count.total += counted->macs;
    count.by_operation[counted->kind] += counted->macs;
  }
  return count;
}

}  // namespace fringe
