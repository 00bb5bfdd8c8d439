// Structured logging: one line per event, `event key=value ...`, through spdlog.
#ifndef FRINGE_BASE_LOGGING_H_
#define FRINGE_BASE_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string>

namespace fringe {

// Sets the process-wide log pattern (ISO time, level, message) and level
// ("debug", "info", "warn", "error"). Logs go to stderr.
void ConfigureLogging(const std::string& level);

}  // namespace fringe

#endif  // FRINGE_BASE_LOGGING_H_
