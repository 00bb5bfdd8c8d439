// fringe-server configuration: defaults, then the --config file, then command-line flags.
#ifndef FRINGE_SERVER_SERVER_CONFIG_H_
#define FRINGE_SERVER_SERVER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/server_config.pb.h"

namespace fringe {

// The built-in defaults (see server_config.proto).
v1::ServerConfig DefaultServerConfig();

// Parses a text-format ServerConfig and merges it over `base` (fields set in the file win).
absl::StatusOr<v1::ServerConfig> MergeServerConfigFile(const v1::ServerConfig& base,
                                                       const std::string& path);

// Fills derived defaults (intra-op threads from the core count) and checks ranges.
absl::Status FinalizeServerConfig(v1::ServerConfig* config);

}  // namespace fringe

#endif  // FRINGE_SERVER_SERVER_CONFIG_H_
