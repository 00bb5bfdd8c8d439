#include "train/source_revision.h"

#include <cstdio>

namespace fringe {

// The source tree's revision when training runs (with "-dirty" for uncommitted changes); the
// configure-time revision when git or the tree is not there.
std::string SourceTreeRevision(const std::string& source_dir, const std::string& fallback) {
  auto run = [](const std::string& command) {
    std::string out;
    if (FILE* pipe = popen(command.c_str(), "r")) {
      char buf[128];
      while (fgets(buf, sizeof(buf), pipe)) out += buf;
      if (pclose(pipe) != 0) return std::string();
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  };
  const std::string git = "git -C '" + source_dir + "' ";
  std::string revision = run(git + "rev-parse --short HEAD 2>/dev/null");
  if (revision.empty()) return fallback;
  if (!run(git + "status --porcelain --untracked-files=no 2>/dev/null").empty()) {
    revision += "-dirty";
  }
  return revision;
}

}  // namespace fringe
