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

  // The model version `request` runs on (empty name: the default model; version 0: its
  // serving version). Errors as ModelRepository::Get.
  absl::StatusOr<ServableModel> Resolve(const v1::ExplainRequest& request) const;

  // Explains one frame on `model` (from Resolve); errors as documented in explain.proto.
  // Thread-safe. The attribution engine of a version is built on first use and kept while
  // that version stays loaded (it precomputes per-rule weights).
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request,
                                              const ServableModel& model);
  // Resolve() then Explain().
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request);

  // The explanation a segmentation request asks for (request.explain), on the model version
  // that segmented it.
  absl::StatusOr<v1::TileExplanation> ExplainTile(const v1::SegmentRequest& request,
                                                  const ServableModel& model);

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
