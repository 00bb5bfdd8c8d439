#include "server/model_repository.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/process_memory.h"
#include "models/model_config.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<ModelRepository> Open(const std::string& root,
                                      const std::string& default_model = "") {
  ModelRepository::Options options;
  options.root = root;
  options.default_model = default_model;
  auto repo = ModelRepository::Create(options, ModelRegistry::WithBuiltins());
  EXPECT_TRUE(repo.ok());
  return *std::move(repo);
}

TEST(ModelRepositoryTest, ServesHighestLoadableVersionAndReportsBrokenOnes) {
  const std::string root = testing::MakeTempDir("repo");
  const v1::ModelConfig config = testing::TinyUNetConfig();
  testing::WriteUNetVersion(root, "au", 1, config);
  testing::WriteUNetVersion(root, "au", 2, config);
  // Version 3: a syntax error in its config. Version 4: weights missing.
  testing::WriteTextFile(root + "/au/3/config.pbtxt", "architecture: unet {{{");
  testing::WriteTextFile(root + "/au/4/config.pbtxt", ModelConfigToText(config));
  // Version 5: an architecture nobody knows.
  v1::ModelConfig alien = config;
  alien.set_architecture("transformer-xl");
  testing::WriteTextFile(root + "/au/5/config.pbtxt", ModelConfigToText(alien));
  testing::WriteTextFile(root + "/au/README.md", "not a version");

  auto repo = Open(root);
  EXPECT_FALSE(repo->ready());
  EXPECT_EQ(repo->Get("au", 0).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(repo->LoadAll().ok());
  EXPECT_TRUE(repo->ready());

  auto serving = repo->Get("", 0);  // Default model, serving version.
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->name, "au");
  EXPECT_EQ(serving->version, 2);
  EXPECT_EQ(repo->Get("au", 1)->version, 1);

  auto broken = repo->Get("au", 3);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(broken.status().message().find("line 1"), std::string::npos) << broken.status();
  EXPECT_NE(repo->Get("au", 4).status().message().find("weights.pt"), std::string::npos);
  EXPECT_NE(repo->Get("au", 5).status().message().find("transformer-xl"), std::string::npos);

  auto unknown = repo->Get("ag", 0);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("au (versions 1, 2)"), std::string::npos)
      << unknown.status();
  EXPECT_EQ(repo->Get("au", 9).status().code(), absl::StatusCode::kNotFound);

  const v1::ListModelsResponse list = repo->List();
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.default_model(), "au");
  EXPECT_EQ(list.models(0).serving_version(), 2);
  ASSERT_EQ(list.models(0).versions_size(), 5);
  EXPECT_EQ(list.models(0).versions(2).state(), v1::MODEL_STATE_FAILED);
  EXPECT_GT(list.models(0).versions(0).parameters(), 0);

  auto described = repo->Describe("au", 2);
  ASSERT_TRUE(described.ok());
  ASSERT_EQ(described->versions_size(), 1);
  EXPECT_EQ(described->versions(0).config().tile_size(), 64);
}

TEST(ModelRepositoryTest, DefaultModelPreference) {
  const std::string root = testing::MakeTempDir("repo_default");
  testing::WriteUNetVersion(root, "alpha", 1, testing::TinyUNetConfig());
  testing::WriteUNetVersion(root, "default", 1, testing::TinyUNetConfig());
  auto repo = Open(root);
  ASSERT_TRUE(repo->LoadAll().ok());
  EXPECT_EQ(repo->default_model(), "default");

  auto named = Open(root, "alpha");
  ASSERT_TRUE(named->LoadAll().ok());
  EXPECT_EQ(named->default_model(), "alpha");

  auto missing = Open(root, "gamma");
  EXPECT_EQ(missing->LoadAll().code(), absl::StatusCode::kNotFound);
}

TEST(ModelRepositoryTest, EmptyOrMissingRootFails) {
  EXPECT_EQ(Open("/nonexistent/repo")->LoadAll().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Open(testing::MakeTempDir("repo_empty"))->LoadAll().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fringe

namespace fringe {
namespace {

std::unique_ptr<ModelRepository> LoadedRepository(const std::string& root) {
  ModelRepository::Options options;
  options.root = root;
  auto repo = ModelRepository::Create(options, ModelRegistry::WithBuiltins());
  EXPECT_TRUE(repo.ok());
  EXPECT_TRUE((*repo)->LoadAll().ok());
  return *std::move(repo);
}

TEST(ModelLifecycleTest, PromoteRollbackAndPolicySurvivesARestart) {
  const std::string root = testing::MakeTempDir("lifecycle");
  for (int v = 1; v <= 3; ++v)
    testing::WriteUNetVersion(root, "m", v, testing::TinyUNetConfig(), v);
  auto repo = LoadedRepository(root);
  EXPECT_EQ(repo->Get("m", 0)->version, 3);
  ASSERT_TRUE(repo->Promote("m", 1).ok());
  EXPECT_EQ(repo->Get("m", 0)->version, 1);
  ASSERT_TRUE(repo->Promote("m", 2).ok());
  EXPECT_EQ(repo->Get("m", 0)->version, 2);
  auto back = repo->Rollback("m");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->serving_version(), 1);
  back = repo->Rollback("m");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->serving_version(), 3);  // What served before the first promote.
  EXPECT_EQ(repo->Rollback("m").status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(repo->Promote("m", 2).ok());
  EXPECT_EQ(repo->Promote("m", 9).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->Get("m", 0)->version, 2);  // A failed promote changes nothing.
  repo.reset();
  auto restarted = LoadedRepository(root);
  EXPECT_EQ(restarted->Get("m", 0)->version, 2);
  EXPECT_EQ(restarted->Describe("m", 0)->pinned_version(), 2);
  ASSERT_TRUE(restarted->Promote("m", 0).ok());  // Back to "latest".
  EXPECT_EQ(restarted->Get("m", 0)->version, 3);
  // Promoting a version that is only on disk loads it; rolling back returns to what served
  // before, even though loading the newer version changed "latest" on the way.
  testing::WriteUNetVersion(root, "m", 4, testing::TinyUNetConfig(), 4);
  ASSERT_TRUE(restarted->Promote("m", 4).ok());
  EXPECT_EQ(restarted->Get("m", 0)->version, 4);
  auto previous = restarted->Rollback("m");
  ASSERT_TRUE(previous.ok()) << previous.status();
  EXPECT_EQ(previous->serving_version(), 3);
}

TEST(ModelLifecycleTest, RescanLoadsNewVersionsAndDropsVanishedOnes) {
  const std::string root = testing::MakeTempDir("rescan");
  testing::WriteUNetVersion(root, "m", 1, testing::TinyUNetConfig());
  auto repo = LoadedRepository(root);
  int changes = 0;
  repo->SetOnChange([&] { ++changes; });
  EXPECT_EQ(repo->Rescan(), 0);
  testing::WriteUNetVersion(root, "m", 2, testing::TinyUNetConfig(), 2);
  testing::WriteTextFile(root + "/m/3/config.pbtxt", "not a config");
  EXPECT_EQ(repo->Rescan(), 2);
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(repo->Get("m", 0)->version, 2);  // The broken 3 never serves.
  EXPECT_EQ(repo->Get("m", 3).status().code(), absl::StatusCode::kFailedPrecondition);
  std::filesystem::remove_all(root + "/m/2");
  EXPECT_EQ(repo->Rescan(), 1);
  EXPECT_EQ(repo->Get("m", 0)->version, 1);
  std::filesystem::remove_all(root + "/m/1");
  repo->Rescan();  // The last ready version of the default model is never dropped.
  EXPECT_TRUE(repo->Get("m", 1).ok());
}

TEST(ModelLifecycleTest, UnloadReturnsTheMemory) {
  const std::string root = testing::MakeTempDir("unload");
  testing::WriteUNetVersion(root, "m", 1, testing::TinyUNetConfig());
  v1::ModelConfig big = testing::TinyUNetConfig();
  big.mutable_unet()->set_depth(4);
  big.mutable_unet()->set_base_filters(32);  // ~7.8 M parameters: tens of MB with its plan.
  big.set_tile_size(64);
  testing::WriteUNetVersion(root, "m", 2, big);
  auto repo = LoadedRepository(root);
  const double loaded = static_cast<double>(ResidentBytes());
  auto unloaded = repo->Unload("m", 2);
  ASSERT_TRUE(unloaded.ok()) << unloaded.status();
  EXPECT_EQ(unloaded->versions(1).state(), v1::MODEL_STATE_UNLOADED);
  const double after = static_cast<double>(ResidentBytes());
  EXPECT_LT(after, loaded - 20e6) << "loaded " << loaded / 1e6 << " MB, after " << after / 1e6;
  EXPECT_EQ(repo->Get("m", 0)->version, 1);
  EXPECT_EQ(repo->Unload("m", 1).status().code(), absl::StatusCode::kFailedPrecondition)
      << "the last ready version of the default model must stay";
  ASSERT_TRUE(repo->Load("m", 2).ok());
  EXPECT_EQ(repo->Get("m", 0)->version, 2);
}

}  // namespace
}  // namespace fringe
