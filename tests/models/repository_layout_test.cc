// The model repository's disk layout: version names, listings, "NAME[:VERSION]" resolution and
// the atomic commit of a staged version (concurrent writers never share a number).
#include "models/repository_layout.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "tests/support/test_repository.h"

namespace fringe::repository_layout {
namespace {

namespace fs = std::filesystem;
using testing::MakeTempDir;
using testing::WriteTextFile;

TEST(RepositoryLayoutTest, VersionNamesAreCanonicalPositiveIntegers) {
  EXPECT_EQ(ParseVersion("1"), 1);
  EXPECT_EQ(ParseVersion("12"), 12);
  for (const char* bad :
       {"", "0", "07", "+7", "-1", "7a", " 7", ".tmp-1-7", "99999999999999999999"}) {
    EXPECT_FALSE(ParseVersion(bad).has_value()) << bad;
  }
}

TEST(RepositoryLayoutTest, ListsModelsAndCompleteVersions) {
  const std::string root = MakeTempDir("layout");
  WriteTextFile(root + "/au/1/config.pbtxt", "architecture: \"unet\"");
  WriteTextFile(root + "/au/3/config.pbtxt", "architecture: \"unet\"");
  fs::create_directories(root + "/au/4");   // Being copied in by hand: not complete.
  fs::create_directories(root + "/au/07");  // Not a version name.
  fs::create_directories(root + "/au/.staging-1-0");
  WriteTextFile(root + "/au/README", "notes");
  fs::create_directories(root + "/.checkpoints/x");  // Hidden: not a model.
  fs::create_directories(root + "/pt");
  EXPECT_EQ(ListModels(root), (std::vector<std::string>{"au", "pt"}));
  EXPECT_EQ(ListVersions(root, "au"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ListVersions(root, "au", Versions::kAll), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_TRUE(ListVersions(root, "pt").empty());
  EXPECT_TRUE(ListVersions(root, "nope").empty());
  EXPECT_TRUE(ListModels(root + "/absent").empty());
  EXPECT_EQ(ConfigPath(VersionDir(root, "au", 3)), root + "/au/3/config.pbtxt");
  EXPECT_EQ(WeightsPath(VersionDir(root, "au", 3)), root + "/au/3/weights.pt");
  EXPECT_EQ(ServingPolicyPath(root, "au"), root + "/au/serving.pbtxt");
  fs::remove_all(root);
}

TEST(RepositoryLayoutTest, ResolvesReferencesAndNamesWhatExists) {
  const std::string root = MakeTempDir("layout");
  WriteTextFile(root + "/tiny/1/config.pbtxt", "x");
  WriteTextFile(root + "/tiny/3/config.pbtxt", "x");
  fs::create_directories(root + "/empty");
  auto latest = ResolveVersionDir(root, "tiny");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, VersionDir(root, "tiny", 3));
  auto one = ResolveVersionDir(root, "tiny:1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, VersionDir(root, "tiny", 1));
  auto missing = ResolveVersionDir(root, "tiny:2");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("1, 3"), std::string::npos) << missing.status();
  auto unknown = ResolveVersionDir(root, "nope");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("empty, tiny"), std::string::npos) << unknown.status();
  EXPECT_EQ(ResolveVersionDir(root, "empty").status().code(), absl::StatusCode::kNotFound);
  for (const char* bad : {"tiny:x", "tiny:0", ":1", "", "../tiny", ".hidden"}) {
    EXPECT_EQ(ResolveVersionDir(root, bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  fs::remove_all(root);
}

TEST(RepositoryLayoutTest, CommitPublishesTheNextNumberPastBrokenVersions) {
  const std::string root = MakeTempDir("layout");
  fs::create_directories(root + "/m/2");  // Broken (no config): its number is never reused.
  auto staged = CreateStagingDir(root, "m");
  ASSERT_TRUE(staged.ok()) << staged.status();
  EXPECT_TRUE(ListVersions(root, "m").empty()) << "a staging directory is not a version";
  WriteTextFile(ConfigPath(*staged), "architecture: \"unet\"");
  WriteTextFile(WeightsPath(*staged), "w");
  auto committed = CommitVersion(root, "m", *staged);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->version, 3);
  EXPECT_EQ(committed->dir, VersionDir(root, "m", 3));
  EXPECT_TRUE(fs::exists(WeightsPath(committed->dir)));
  EXPECT_FALSE(fs::exists(*staged));

  // Without a config it is not a version: refused, and the staging folder is cleaned up.
  auto empty = CreateStagingDir(root, "m");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(CommitVersion(root, "m", *empty).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(*empty));
  EXPECT_EQ(ListVersions(root, "m", Versions::kAll), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(CreateStagingDir(root, "../escape").status().code(),
            absl::StatusCode::kInvalidArgument);
  fs::remove_all(root);
}

TEST(RepositoryLayoutTest, ConcurrentCommitsGetDistinctVersions) {
  const std::string root = MakeTempDir("layout");
  constexpr int kWriters = 8;
  std::vector<int64_t> versions(kWriters, 0);
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      auto staged = CreateStagingDir(root, "m");
      if (!staged.ok()) return;
      WriteTextFile(ConfigPath(*staged), std::to_string(i));
      auto committed = CommitVersion(root, "m", *staged);
      if (committed.ok()) versions[i] = committed->version;
    });
  }
  for (std::thread& t : writers) t.join();
  const std::set<int64_t> distinct(versions.begin(), versions.end());
  EXPECT_EQ(distinct, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(ListVersions(root, "m").size(), static_cast<size_t>(kWriters));
  fs::remove_all(root);
}

}  // namespace
}  // namespace fringe::repository_layout
