#include "base/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace fringe {

void ConfigureLogging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("fringe");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace fringe
