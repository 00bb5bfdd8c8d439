// The serving rules on their own: which version serves, and what Promote and Rollback do to
// the stored history.
#include "server/serving_policy.h"

#include <gtest/gtest.h>

namespace fringe::serving_policy {
namespace {

v1::ServingPolicy Policy(int64_t pinned, std::vector<int64_t> history = {}) {
  v1::ServingPolicy p;
  p.set_pinned_version(pinned);
  for (int64_t v : history) p.add_history(v);
  return p;
}

TEST(ServingPolicyTest, PinnedServesWhileReadyElseTheLatestReady) {
  EXPECT_EQ(ServingVersion(Policy(0), {1, 2, 5}), 5);
  EXPECT_EQ(ServingVersion(Policy(2), {1, 2, 5}), 2);
  EXPECT_EQ(ServingVersion(Policy(3), {1, 2, 5}), 5) << "a broken or vanished pin falls back";
  EXPECT_EQ(ServingVersion(Policy(0), {}), 0);
  EXPECT_EQ(ServingVersion(Policy(4), {}), 0);
}

TEST(ServingPolicyTest, PromoteRecordsWhatServedBefore) {
  v1::ServingPolicy p = Promote(Policy(0), 5, 2);
  EXPECT_EQ(p.pinned_version(), 2);
  ASSERT_EQ(p.history_size(), 1);
  EXPECT_EQ(p.history(0), 5);
  p = Promote(p, 2, 2);  // Promoting what serves adds nothing.
  EXPECT_EQ(p.history_size(), 1);
  p = Promote(p, 0, 3);  // Nothing served: nothing to remember.
  EXPECT_EQ(p.history_size(), 1);
  p = Promote(p, 3, 0);  // Back to "latest".
  EXPECT_EQ(p.pinned_version(), 0);
  EXPECT_EQ(p.history_size(), 2);
  EXPECT_EQ(p.history(1), 3);
}

TEST(ServingPolicyTest, RollbackPinsTheLastDifferentVersionAndPopsIt) {
  auto plan = Rollback(Policy(4, {1, 2, 4, 4}), 4, "au");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->target, 2);
  EXPECT_EQ(plan->policy.pinned_version(), 2);
  ASSERT_EQ(plan->policy.history_size(), 1);
  EXPECT_EQ(plan->policy.history(0), 1);
  auto none = Rollback(Policy(3, {3, 3}), 3, "au");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("\"au\""), std::string::npos);
  EXPECT_EQ(Rollback(Policy(0), 1, "au").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fringe::serving_policy
