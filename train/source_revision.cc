#include "train/source_revision.h"

#include <cstdio>

namespace fringe {

std::string SourceTreeRevision() {
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
  const std::string git = std::string("git -C '") + FRINGE_SOURCE_DIR + "' ";
  std::string revision = run(git + "rev-parse --short HEAD 2>/dev/null");
  if (revision.empty()) return FRINGE_GIT_REVISION;
  if (!run(git + "status --porcelain --untracked-files=no 2>/dev/null").empty()) {
    revision += "-dirty";
  }
  return revision;
}

}  // namespace fringe
