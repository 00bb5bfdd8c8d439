#include "server/jobs/job_store.h"

#include <cctype>
#include <cinttypes>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/jobs/postgres_job_store.h"
#include "server/jobs/sqlite_job_store.h"

namespace fringe {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "QUEUED";
    case JobState::kRunning:
      return "RUNNING";
    case JobState::kSucceeded:
      return "SUCCEEDED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

absl::StatusOr<JobState> ParseJobState(std::string_view name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled}) {
    if (JobStateName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown job state '", std::string(name), "'"));
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

std::string FormatJobId(int64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "job-%08" PRId64, seq);
  return buf;
}

std::optional<int64_t> ParseJobId(const std::string& id) {
  constexpr std::string_view kPrefix = "job-";
  if (id.size() <= kPrefix.size() || id.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  int64_t seq = 0;
  if (!absl::SimpleAtoi(id.substr(kPrefix.size()), &seq) || seq < 0 || FormatJobId(seq) != id) {
    return std::nullopt;
  }
  return seq;
}

std::string RedactJobStoreUrl(const std::string& url) {
  std::string out = url;
  // user:password@ in the authority part.
  if (const size_t scheme_end = out.find("://"); scheme_end != std::string::npos) {
    const size_t authority = scheme_end + 3;
    const size_t authority_end = out.find_first_of("/?#", authority);
    const size_t at =
        out.rfind('@', authority_end == std::string::npos ? out.size() - 1 : authority_end - 1);
    if (at != std::string::npos && at >= authority) {
      const size_t colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
    }
  }
  // password=... as a query or keyword parameter.
  for (size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    const bool starts_param = pos == 0 || out[pos - 1] == '?' || out[pos - 1] == '&' ||
                              std::isspace(static_cast<unsigned char>(out[pos - 1]));
    if (!starts_param) {
      pos += 9;
      continue;
    }
    size_t end = out.find_first_of("& \t", pos);
    if (end == std::string::npos) end = out.size();
    out.replace(pos, end - pos, "password=***");
    pos += 12;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& url) {
  if (url.empty()) return absl::InvalidArgumentError("job store URL is empty");
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    return OpenPostgresJobStore(url);
  }
  if (absl::StartsWith(url, "sqlite:")) {
    std::string path = url.substr(7);
    // sqlite:///abs/path and sqlite://rel/path, as other tools spell SQLite URLs.
    if (absl::StartsWith(path, "//")) path.erase(0, 2);
    if (path.empty()) return absl::InvalidArgumentError("job store URL 'sqlite:' names no file");
    return OpenSqliteJobStore(path);
  }
  // Anything that looks like "scheme:" (two characters or more, so a Windows drive letter is
  // still a path) is a URL we do not know: better an error than a file named "postgress:...".
  size_t i = 0;
  while (i < url.size() && (std::isalnum(static_cast<unsigned char>(url[i])) || url[i] == '+' ||
                            url[i] == '-' || url[i] == '.')) {
    ++i;
  }
  if (i >= 2 && i < url.size() && url[i] == ':' &&
      std::isalpha(static_cast<unsigned char>(url[0]))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown job store scheme '", url.substr(0, i), "' in '", RedactJobStoreUrl(url),
        "': use sqlite:PATH, a file path, or postgresql://USER@HOST:PORT/DB"));
  }
  return OpenSqliteJobStore(url);
}

}  // namespace fringe
