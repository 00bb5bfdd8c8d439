// Which version of a model serves, and what Models.Promote and Models.Rollback do to the stored
// policy (<root>/<name>/serving.pbtxt): pure functions over the versions that are ready and the
// policy, without I/O or locks, so the rules are tested on their own (like job_transitions).
// ModelRepository applies them under its lock and persists the result.
#ifndef FRINGE_SERVER_SERVING_POLICY_H_
#define FRINGE_SERVER_SERVING_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/models.pb.h"

namespace fringe::serving_policy {

// The version that serves, given the ready versions in ascending order: the pinned one while
// it is ready; if it broke, was unloaded or vanished, the highest ready one rather than
// nothing; 0 when none is ready.
int64_t ServingVersion(const v1::ServingPolicy& policy, const std::vector<int64_t>& ready);

// The policy after pinning `version` (0 = follow the latest ready version): what served
// before (`serving_now`, 0 for nothing) goes on the rollback history unless it is `version`.
v1::ServingPolicy Promote(v1::ServingPolicy policy, int64_t serving_now, int64_t version);

struct RollbackPlan {
  int64_t target = 0;        // The version to pin.
  v1::ServingPolicy policy;  // The policy with it pinned and taken off the history.
};
// The most recent history entry that differs from what serves now, pinned and popped
// (entries equal to `serving_now` are dropped on the way, as rolling back to them would change
// nothing). FAILED_PRECONDITION naming `model` when there is none.
absl::StatusOr<RollbackPlan> Rollback(v1::ServingPolicy policy, int64_t serving_now,
                                      const std::string& model);

}  // namespace fringe::serving_policy

#endif  // FRINGE_SERVER_SERVING_POLICY_H_
