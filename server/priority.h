// One priority convention for requests and training jobs: fringe.v1.Priority, most urgent
// first - LIVE > INTERACTIVE (also UNSPECIFIED) > EXPLAIN > BATCH. Requests wait in the
// scheduler's class of that name; queued jobs are claimed in that order (then oldest first).
#ifndef FRINGE_SERVER_PRIORITY_H_
#define FRINGE_SERVER_PRIORITY_H_

#include "absl/status/status.h"
#include "fringe/v1/segmentation.pb.h"
#include "server/scheduler.h"

namespace fringe {

// INVALID_ARGUMENT naming `field` for a value outside the enum.
absl::Status ValidatePriority(v1::Priority priority, const char* field);

// The scheduler class of a request.
WorkClass WorkClassOf(v1::Priority priority);

// The job store's integer for a job's priority (higher is claimed first) and back.
int JobRank(v1::Priority priority);
v1::Priority PriorityOfJobRank(int rank);

}  // namespace fringe

#endif  // FRINGE_SERVER_PRIORITY_H_
