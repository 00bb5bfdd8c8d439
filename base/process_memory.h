// This process's memory as Linux reports it in /proc/self/status, for metrics, the training
// memory budget and benchmarks.
#ifndef FRINGE_BASE_PROCESS_MEMORY_H_
#define FRINGE_BASE_PROCESS_MEMORY_H_

#include <cstdint>
#include <string>

namespace fringe {

// The "KEY:   1234 kB" entry of /proc/self/status in bytes, e.g. "VmRSS" (resident now) or
// "VmHWM" (peak resident); 0 when there is no such entry (or no /proc).
int64_t ProcessStatusBytes(const std::string& key);

inline int64_t ResidentBytes() { return ProcessStatusBytes("VmRSS"); }

}  // namespace fringe

#endif  // FRINGE_BASE_PROCESS_MEMORY_H_
