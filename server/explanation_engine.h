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
  // engine of a version is built on first use and kept while that version stays loaded (it
  // precomputes per-rule weights).
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request);

  // The explanation a SegmentStream request asks for (request.explain), on exactly the model
  // version that segmented it.
  absl::StatusOr<v1::TileExplanation> ExplainTile(const v1::SegmentRequest& request,
                                                  const std::string& model_name,
                                                  int64_t model_version);

  // Drops cached explainers of versions that are no longer loaded (their memory goes with
  // them). Called when the repository changes; also done lazily on every lookup.
  void DropUnloaded();
  size_t cached() const;

 private:
  struct CacheEntry {
    std::weak_ptr<const Segmenter> segmenter;  // Identifies the loaded instance.
    std::shared_ptr<const Explainer> explainer;
  };
  absl::StatusOr<std::shared_ptr<const Explainer>> ExplainerFor(const ServableModel& model);
  void DropUnloadedLocked();

  const ModelRepository* repository_;
  const DecodeLimits limits_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, CacheEntry> explainers_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_EXPLANATION_ENGINE_H_
