#include "server/server_config.h"

#include <gtest/gtest.h>

#include "tests/support/test_repository.h"

namespace fringe {
namespace {

TEST(ServerConfigTest, FileOverridesDefaultsAndKeepsTheRest) {
  const std::string dir = testing::MakeTempDir("server_config");
  testing::WriteTextFile(dir + "/server.pbtxt", "listen: \"0.0.0.0:6000\"\nworkers: 3\n");
  auto config = MergeServerConfigFile(DefaultServerConfig(), dir + "/server.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen(), "0.0.0.0:6000");
  EXPECT_EQ(config->workers(), 3);
  EXPECT_EQ(config->repository(), "models/repository");  // Untouched default.
  EXPECT_EQ(config->max_message_bytes(), int64_t{256} << 20);
  ASSERT_TRUE(FinalizeServerConfig(&*config).ok());
  EXPECT_GE(config->intra_op_threads(), 1);
}

TEST(ServerConfigTest, BadFilesAndValuesAreRejected) {
  const std::string dir = testing::MakeTempDir("server_config_bad");
  testing::WriteTextFile(dir + "/bad.pbtxt", "workers: many\n");
  EXPECT_EQ(MergeServerConfigFile(DefaultServerConfig(), dir + "/bad.pbtxt").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MergeServerConfigFile(DefaultServerConfig(), dir + "/missing.pbtxt").status().code(),
            absl::StatusCode::kNotFound);
  v1::ServerConfig config = DefaultServerConfig();
  config.set_workers(0);
  EXPECT_NE(FinalizeServerConfig(&config).message().find("workers"), std::string::npos);
  config = DefaultServerConfig();
  config.set_max_message_bytes(1000);
  EXPECT_NE(FinalizeServerConfig(&config).message().find("max_message_bytes"), std::string::npos);
}

}  // namespace
}  // namespace fringe
