#include "server/serving_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace fringe::serving_policy {

int64_t ServingVersion(const v1::ServingPolicy& policy, const std::vector<int64_t>& ready) {
  if (policy.pinned_version() != 0 &&
      std::find(ready.begin(), ready.end(), policy.pinned_version()) != ready.end()) {
    return policy.pinned_version();
  }
  return ready.empty() ? 0 : ready.back();
}

v1::ServingPolicy Promote(v1::ServingPolicy policy, int64_t serving_now, int64_t version) {
  if (serving_now != 0 && serving_now != version) policy.add_history(serving_now);
  policy.set_pinned_version(version);
  return policy;
}

absl::StatusOr<RollbackPlan> Rollback(v1::ServingPolicy policy, int64_t serving_now,
                                      const std::string& model) {
  while (policy.history_size() > 0 && policy.history(policy.history_size() - 1) == serving_now) {
    policy.mutable_history()->RemoveLast();
  }
  if (policy.history_size() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("model \"", model, "\" has no earlier serving version to roll back to"));
  }
  RollbackPlan plan;
  plan.target = policy.history(policy.history_size() - 1);
  policy.mutable_history()->RemoveLast();
  policy.set_pinned_version(plan.target);
  plan.policy = std::move(policy);
  return plan;
}

}  // namespace fringe::serving_policy
