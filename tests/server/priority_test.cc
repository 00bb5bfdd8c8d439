#include "server/priority.h"

#include <gtest/gtest.h>

namespace fringe {
namespace {

TEST(PriorityTest, RequestsAndJobsRankTheClassesAlike) {
  const v1::Priority order[] = {v1::PRIORITY_LIVE, v1::PRIORITY_INTERACTIVE, v1::PRIORITY_EXPLAIN,
                                v1::PRIORITY_BATCH};
  for (int i = 0; i + 1 < 4; ++i) {
    EXPECT_LT(static_cast<int>(WorkClassOf(order[i])), static_cast<int>(WorkClassOf(order[i + 1])));
    EXPECT_GT(JobRank(order[i]), JobRank(order[i + 1]));  // The store claims higher first.
  }
  for (v1::Priority p : order) EXPECT_EQ(PriorityOfJobRank(JobRank(p)), p);
  // UNSPECIFIED is INTERACTIVE on both sides.
  EXPECT_EQ(WorkClassOf(v1::PRIORITY_UNSPECIFIED), WorkClass::kInteractive);
  EXPECT_EQ(JobRank(v1::PRIORITY_UNSPECIFIED), JobRank(v1::PRIORITY_INTERACTIVE));
}

TEST(PriorityTest, UnknownValuesAreRefusedNamingTheField) {
  EXPECT_TRUE(ValidatePriority(v1::PRIORITY_BATCH, "priority").ok());
  const absl::Status s = ValidatePriority(static_cast<v1::Priority>(9), "priority");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("priority is 9"), std::string::npos) << s;
}

}  // namespace
}  // namespace fringe
