// Whole-file reads, text protos and atomic replacement, with the status codes their contracts
// name (base/file_util.h).
#include "base/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "fringe/v1/models.pb.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "fringe_base_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string File(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  int FilesInDir() const {
    int n = 0;
    for (const auto& entry : fs::directory_iterator(dir_)) n += entry.is_regular_file();
    return n;
  }
  std::string dir_;
};

TEST_F(FileUtilTest, ReadFileReadsWhatWasWrittenAndNamesAMissingFile) {
  const std::string path = File("state.json");
  const std::string text("{\"step\": 3}\n\0tail", 17);
  ASSERT_TRUE(WriteFileAtomically(path, text).ok());
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, text);
  const std::string big(300000, 'x');  // More than one read(2) chunk.
  ASSERT_TRUE(WriteFileAtomically(path, big).ok());
  EXPECT_EQ(ReadFile(path).value(), big);
  auto missing = ReadFile(File("absent.json"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("absent.json"), std::string::npos);
  EXPECT_EQ(ReadFile(dir_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FileUtilTest, WriteFileAtomicallyReplacesContentAndKeepsMode) {
  const std::string path = File("out.bin");
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  EXPECT_EQ(ReadFile(path).value(), "first");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  const std::string binary("\0\x01\xff second", 10);
  ASSERT_TRUE(WriteFileAtomically(path, binary).ok());
  EXPECT_EQ(ReadFile(path).value(), binary);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(FilesInDir(), 1) << "no temporary file may be left behind";

  const std::string nowhere = File("no/such/dir/out.bin");
  const absl::Status s = WriteFileAtomically(nowhere, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find(nowhere), std::string::npos) << s;
  EXPECT_NE(s.message().find("temporary file"), std::string::npos) << s;
}

TEST_F(FileUtilTest, ReadTextProtoParsesOrNamesPathTypeAndLine) {
  const std::string path = File("serving.pbtxt");
  ASSERT_TRUE(WriteFileAtomically(path, "pinned_version: 3\nhistory: 1\nhistory: 2\n").ok());
  v1::ServingPolicy policy;
  policy.set_pinned_version(9);
  ASSERT_TRUE(ReadTextProto(path, &policy).ok());
  EXPECT_EQ(policy.pinned_version(), 3);
  EXPECT_EQ(policy.history_size(), 2);

  ASSERT_TRUE(WriteFileAtomically(path, "pinned_version: 3\nno_such_field: 1\n").ok());
  const absl::Status bad = ReadTextProto(path, &policy);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  for (const char* part : {"serving.pbtxt", "fringe.v1.ServingPolicy", "line 2", "no_such_field"}) {
    EXPECT_NE(bad.message().find(part), std::string::npos) << part << " in " << bad;
  }
  EXPECT_EQ(ReadTextProto(File("absent.pbtxt"), &policy).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fringe
