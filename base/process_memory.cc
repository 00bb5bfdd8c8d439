#include "base/process_memory.h"

#include <cstdlib>
#include <fstream>

namespace fringe {

int64_t ProcessStatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10) * 1024;  // kB
    }
  }
  return 0;
}

}  // namespace fringe
