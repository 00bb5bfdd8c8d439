// Uploaded datasets (server/dataset_store.h): files arrive in ordered chunks with a
// SHA-256 each, and a dataset appears only whole - every file complete and checked, every
// image with a readable mask of its size; anything else leaves nothing behind.
#include "server/dataset_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "base/sha256.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

std::string Png(int rows, int cols, int value) {
  std::vector<uchar> bytes;
  cv::imencode(".png", cv::Mat(rows, cols, CV_8U, cv::Scalar(value)), bytes);
  return std::string(bytes.begin(), bytes.end());
}

// Sends `bytes` as `file` of `dataset` in chunks of `chunk` bytes, the last with its SHA-256.
absl::Status Send(DatasetUpload& upload, const std::string& dataset, const std::string& file,
                  const std::string& bytes, size_t chunk = 64) {
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    const bool last = at + chunk >= bytes.size();
    absl::Status s = upload.Write(dataset, file, static_cast<int64_t>(at), bytes.substr(at, chunk),
                                  last ? Sha256Hex(bytes) : "");
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

class DatasetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { state_ = testing::MakeTempDir("datasets"); }
  void TearDown() override { fs::remove_all(state_); }
  // Entries under <state>/datasets: published datasets and any leftover staging folder.
  int Entries() const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(fs::path(state_) / "datasets")) {
      n += !e.path().empty();
    }
    return n;
  }
  std::string state_;
};

TEST_F(DatasetStoreTest, AWholeUploadIsPublishedAndListed) {
  DatasetStore store(state_);
  auto upload = store.BeginUpload();
  ASSERT_TRUE(Send(*upload, "corrections", "images/a.png", Png(32, 48, 100)).ok());
  ASSERT_TRUE(Send(*upload, "corrections", "masks/a.png", Png(32, 48, 1)).ok());
  auto summary = upload->Commit();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->name, "corrections");
  EXPECT_EQ(summary->pairs, 1);
  EXPECT_TRUE(fs::exists(fs::path(store.root()) / "corrections" / "images" / "a.png"));
  upload.reset();
  auto list = store.List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "corrections");
  EXPECT_EQ(Entries(), 1) << "no staging folder may stay behind";

  // The name is taken now.
  auto again = store.BeginUpload();
  ASSERT_TRUE(Send(*again, "corrections", "images/b.png", Png(8, 8, 1)).ok());
  ASSERT_TRUE(Send(*again, "corrections", "masks/b.png", Png(8, 8, 0)).ok());
  EXPECT_EQ(again->Commit().status().code(), absl::StatusCode::kAlreadyExists);
  again.reset();
  EXPECT_EQ(Entries(), 1);
}

TEST_F(DatasetStoreTest, BrokenUploadsAreRefusedAndLeaveNothing) {
  DatasetStore store(state_, /*max_upload_bytes=*/4096);
  const std::string image = Png(16, 16, 50);
  {  // A checksum that does not match.
    auto upload = store.BeginUpload();
    EXPECT_TRUE(upload->Write("d", "images/a.png", 0, image, Sha256Hex(image)).ok());
    EXPECT_EQ(upload->Write("d", "masks/a.png", 0, image, Sha256Hex("other")).code(),
              absl::StatusCode::kInvalidArgument);
  }
  {  // A gap between chunks, and a file left without its checksum.
    auto upload = store.BeginUpload();
    EXPECT_TRUE(upload->Write("d", "images/a.png", 0, image.substr(0, 10), "").ok());
    EXPECT_EQ(upload->Write("d", "images/a.png", 20, image.substr(20), "").code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(upload->Commit().status().code(), absl::StatusCode::kInvalidArgument);
  }
  {  // Names that would leave the dataset folder, and a second dataset inside one upload.
    auto upload = store.BeginUpload();
    EXPECT_EQ(upload->Write("../d", "images/a.png", 0, "x", "").code(),
              absl::StatusCode::kInvalidArgument);
    for (const char* file :
         {"../../etc/passwd", "images/../a.png", "images/.a", "a.png", "other/a.png"}) {
      EXPECT_EQ(upload->Write("d", file, 0, "x", "").code(), absl::StatusCode::kInvalidArgument)
          << file;
    }
    EXPECT_TRUE(upload->Write("d", "images/b.png", 0, "x", "").ok());
    EXPECT_EQ(upload->Write("e", "images/c.png", 0, "x", "").code(),
              absl::StatusCode::kInvalidArgument);
  }
  {  // An image without a mask, and a mask of another size.
    auto upload = store.BeginUpload();
    ASSERT_TRUE(Send(*upload, "d", "images/a.png", image).ok());
    EXPECT_FALSE(upload->Commit().ok());
    ASSERT_TRUE(Send(*upload, "d", "masks/a.png", Png(8, 16, 1)).ok());
    EXPECT_FALSE(upload->Commit().ok());
  }
  {  // Past the server's byte limit.
    auto upload = store.BeginUpload();
    EXPECT_EQ(upload->Write("d", "images/big.png", 0, std::string(5000, 'x'), "").code(),
              absl::StatusCode::kResourceExhausted);
  }
  EXPECT_EQ(Entries(), 0) << "every refused upload must leave nothing behind";
  EXPECT_TRUE(store.List()->empty());
}

}  // namespace
}  // namespace fringe
