#include "server/priority.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace fringe {

absl::Status ValidatePriority(v1::Priority priority, const char* field) {
  if (v1::Priority_IsValid(priority)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", static_cast<int>(priority),
                   "; expected 0..4 (UNSPECIFIED, LIVE, INTERACTIVE, EXPLAIN, BATCH)"));
}

WorkClass WorkClassOf(v1::Priority priority) {
  switch (priority) {
    case v1::PRIORITY_LIVE:
      return WorkClass::kLive;
    case v1::PRIORITY_EXPLAIN:
      return WorkClass::kExplain;
    case v1::PRIORITY_BATCH:
      return WorkClass::kBatch;
    default:
      return WorkClass::kInteractive;
  }
}

int JobRank(v1::Priority priority) {
  // LIVE 3, INTERACTIVE 2, EXPLAIN 1, BATCH 0: the store claims the highest first.
  return 3 - static_cast<int>(WorkClassOf(priority));
}

v1::Priority PriorityOfJobRank(int rank) {
  switch (std::clamp(rank, 0, 3)) {
    case 3:
      return v1::PRIORITY_LIVE;
    case 2:
      return v1::PRIORITY_INTERACTIVE;
    case 1:
      return v1::PRIORITY_EXPLAIN;
    default:
      return v1::PRIORITY_BATCH;
  }
}

}  // namespace fringe
