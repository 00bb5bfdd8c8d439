// The core of Explain.Explain, free of gRPC: validate, pick the model version, standardise and
// pad the frame, run the attribution engine, crop and encode the relevance.
#ifndef FRINGE_SERVER_EXPLANATION_ENGINE_H_
#define FRINGE_SERVER_EXPLANATION_ENGINE_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "common/tensor_codec.h"
#include "fringe/v1/explain.pb.h"
#include "models/attribution/attribution.h"
#include "server/model_repository.h"

namespace fringe {

class ExplanationEngine {
 public:
  // `repository` must outlive the engine.
  ExplanationEngine(const ModelRepository* repository, DecodeLimits limits);

  // Explains one frame; errors as documented in explain.proto. Thread-safe. The attribution
  // engine of a version is built on first use and kept (it precomputes per-rule weights).
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request);

 private:
  absl::StatusOr<std::shared_ptr<const Explainer>> ExplainerFor(const ServableModel& model);

  const ModelRepository* repository_;
  const DecodeLimits limits_;
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const Explainer>> explainers_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_EXPLANATION_ENGINE_H_
