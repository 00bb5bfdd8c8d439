// Multiply-accumulate operations (MACs) of one network forward pass, counted from the
// operations the network really runs: its forward is traced by LibTorch's JIT tracer on a
// tile of the given size, and every convolution, transposed convolution and matrix product
// in the trace is counted from its recorded tensor shapes. So the count follows the code
// (padding, crops, ceil-mode pools, dilation) instead of a hand-written formula that could
// drift from it. Element-wise work (ReLU, BatchNorm, additions, pools) is not counted: it is
// a few per cent of the convolutions here. FLOPs = 2 x MACs. Torch-free header.
#ifndef FRINGE_MODELS_MAC_COUNT_H_
#define FRINGE_MODELS_MAC_COUNT_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"

namespace fringe {

struct MacCount {
  int64_t total = 0;
  // By kind: "convolution", "transposed convolution", "matrix product".
  std::map<std::string, int64_t> by_operation;
};

// MACs of one `tile` x `tile` single-channel tile through the network `config` describes
// (weights are irrelevant: a fresh network is built). INVALID_ARGUMENT for an architecture
// that is not a torch network or a tile that is not a positive multiple of its input
// multiple; INTERNAL when tracing fails.
absl::StatusOr<MacCount> CountMultiplyAccumulates(const v1::ModelConfig& config, int tile);

}  // namespace fringe

#endif  // FRINGE_MODELS_MAC_COUNT_H_
