#include "server/paging.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fringe::paging {

absl::StatusOr<int> PageSize(int requested, int default_size) {
  if (requested < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size is ", requested, "; expected 0 (the default) or more"));
  }
  if (requested == 0) return default_size;
  return std::min(requested, kMaxPageSize);
}

Page NamePage(const std::vector<std::string>& sorted_names, const std::string& token,
              int page_size) {
  Page page;
  page.begin =
      token.empty()
          ? 0
          : static_cast<size_t>(std::upper_bound(sorted_names.begin(), sorted_names.end(), token) -
                                sorted_names.begin());
  page.end = std::min(sorted_names.size(), page.begin + static_cast<size_t>(page_size));
  if (page.end < sorted_names.size() && page.end > page.begin) {
    page.next_token = sorted_names[page.end - 1];
  }
  return page;
}

std::string JobToken(const JobFilter::Cursor& cursor) {
  return absl::StrCat(cursor.created_ms, ".", cursor.seq);
}

absl::StatusOr<JobFilter::Cursor> ParseJobToken(const std::string& token) {
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  JobFilter::Cursor cursor;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &cursor.created_ms) ||
      !absl::SimpleAtoi(parts[1], &cursor.seq) || cursor.created_ms < 0 || cursor.seq < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token \"", token, "\" is not one this server issued (pass next_page_token as is)"));
  }
  return cursor;
}

}  // namespace fringe::paging
