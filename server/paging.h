// Page sizes and page tokens of the fringe.v1 List calls (Jobs, Models, Datasets), as pure
// functions. Tokens are opaque to clients; inside, a name list's token is the last name of
// the page before (so a page survives entries added or removed meanwhile), and the job list's
// is the (created_ms, seq) of the last job shown (keyset paging in the store).
#ifndef FRINGE_SERVER_PAGING_H_
#define FRINGE_SERVER_PAGING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/jobs/job_store.h"

namespace fringe::paging {

inline constexpr int kMaxPageSize = 1000;

// `requested` when it is 1..kMaxPageSize, kMaxPageSize above that, `default_size` for 0;
// INVALID_ARGUMENT naming page_size when negative.
absl::StatusOr<int> PageSize(int requested, int default_size);

// One page of a list sorted by unique names: the entries [begin, end) that follow the name in
// `token` ("" = from the first), and the token of the next page ("" when this is the last).
struct Page {
  size_t begin = 0;
  size_t end = 0;
  std::string next_token;
};
Page NamePage(const std::vector<std::string>& sorted_names, const std::string& token,
              int page_size);

// The job list's tokens. INVALID_ARGUMENT for a token this server did not issue.
std::string JobToken(const JobFilter::Cursor& cursor);
absl::StatusOr<JobFilter::Cursor> ParseJobToken(const std::string& token);

}  // namespace fringe::paging

#endif  // FRINGE_SERVER_PAGING_H_
