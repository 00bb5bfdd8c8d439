#include "sim/dataset_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>

namespace fringe::sim {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fringe_sim_test_XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountLines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

SimulatorOptions SmallOptions() {
  SimulatorOptions o;
  o.height = 64;
  o.width = 80;
  o.diameter_min_nm = 0.8;
  o.diameter_max_nm = 1.2;
  return o;
}

TEST(DatasetWriterTest, StemHasSeedAndPaddedIndex) {
  EXPECT_EQ(SampleStem(7, 42), "sim_7_000042");
  EXPECT_EQ(SampleStem(123, 1234567), "sim_123_1234567");
}

TEST(DatasetWriterTest, WritesTheLabelledDatasetLayout) {
  absl::StatusOr<std::unique_ptr<HrtemSimulator>> sim = HrtemSimulator::Create(SmallOptions());
  ASSERT_TRUE(sim.ok()) << sim.status();
  TempDir dir;
  DatasetJob job;
  job.out_dir = dir.path() / "set";
  job.base_seed = 5;
  job.start_index = 10;
  job.count = 3;
  job.threads = 2;
  int calls = 0;
  absl::StatusOr<DatasetSummary> summary =
      GenerateDataset(**sim, job, [&](const DatasetProgress& p) {
        ++calls;
        EXPECT_EQ(p.total, 3);
        EXPECT_LE(p.done, 3);
      });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->images, 3);
  EXPECT_GE(calls, 1);

  for (uint64_t index = 10; index < 13; ++index) {
    const std::string stem = SampleStem(5, index);
    const Sample expected = (*sim)->Generate(5, index);
    const cv::Mat image =
        cv::imread((job.out_dir / "images" / (stem + ".tif")).string(), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(image.type(), CV_32FC1) << stem;
    EXPECT_EQ(cv::norm(image, expected.image, cv::NORM_INF), 0.0) << stem;
    const cv::Mat mask =
        cv::imread((job.out_dir / "masks" / (stem + ".png")).string(), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(mask.type(), CV_8UC1) << stem;
    cv::Mat expected_mask;
    expected.mask.convertTo(expected_mask, CV_8UC1, 255.0);
    EXPECT_EQ(cv::norm(mask, expected_mask, cv::NORM_INF), 0.0) << stem;
  }

  // The data set reader takes manifest.json or params.csv, never both.
  EXPECT_FALSE(fs::exists(job.out_dir / "params.csv"));
  const std::string csv = ReadFile(job.out_dir / "params_table.csv");
  EXPECT_EQ(CountLines(csv), 4);
  EXPECT_EQ(csv.rfind("stem,image,mask,base_seed,index,seed", 0), 0u);
  EXPECT_NE(csv.find("\nsim_5_000010,images/sim_5_000010.tif,masks/sim_5_000010.png,5,10,"),
            std::string::npos);
  const std::string jsonl = ReadFile(job.out_dir / "params.jsonl");
  EXPECT_EQ(CountLines(jsonl), 3);
  const nlohmann::json first = nlohmann::json::parse(jsonl.substr(0, jsonl.find('\n')));
  EXPECT_EQ(first.at("stem"), "sim_5_000010");
  EXPECT_EQ(first.at("index"), 10);
  const nlohmann::json manifest = nlohmann::json::parse(ReadFile(job.out_dir / "manifest.json"));
  EXPECT_EQ(manifest.at("count"), 3);
  EXPECT_EQ(manifest.at("base_seed"), 5);
  EXPECT_EQ(manifest.at("options").at("width"), 80);
  ASSERT_EQ(manifest.at("items").size(), 3u);
  const nlohmann::json& item = manifest.at("items").at("sim_5_000012");
  const Sample twelfth = (*sim)->Generate(5, 12);
  EXPECT_DOUBLE_EQ(item.at("dose_e_per_A2").get<double>(), twelfth.params.dose_e_per_a2);
  EXPECT_DOUBLE_EQ(item.at("pixel_size_nm").get<double>(), twelfth.params.pixel_size_nm);

  // No temporary files are left behind.
  for (const auto& e : fs::recursive_directory_iterator(job.out_dir)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
  // A second run into the same directory needs overwrite.
  absl::StatusOr<DatasetSummary> again = GenerateDataset(**sim, job);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  job.overwrite = true;
  job.threads = 1;
  EXPECT_TRUE(GenerateDataset(**sim, job).ok());
}

#ifdef FRINGE_SIM_BINARY
// Runs fringe-sim with `args`; returns its exit status and fills `output`
// with stdout + stderr.
int RunCli(const std::string& args, std::string* output) {
  const std::string command = std::string(FRINGE_SIM_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  output->clear();
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output->append(buffer, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(FringeSimCliTest, WritesADatasetAndReportsSpeed) {
  TempDir dir;
  const fs::path out = dir.path() / "cli";
  std::string output;
  ASSERT_EQ(RunCli("--out " + out.string() +
                       " --count 3 --seed 9 --size 80x64 --threads 2 --diameter 0.8:1.2 "
                       "--defocus=-10:10",
                   &output),
            0)
      << output;
  EXPECT_NE(output.find("images/s"), std::string::npos) << output;
  EXPECT_TRUE(fs::exists(out / "images" / "sim_9_000002.tif"));
  EXPECT_TRUE(fs::exists(out / "masks" / "sim_9_000002.png"));
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
  const cv::Mat image =
      cv::imread((out / "images" / "sim_9_000000.tif").string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(image.size(), cv::Size(80, 64));
  const nlohmann::json manifest = nlohmann::json::parse(ReadFile(out / "manifest.json"));
  EXPECT_EQ(manifest.at("options").at("defocus_min_nm"), -10.0);
}

TEST(FringeSimCliTest, RejectsBadArgumentsWithAClearMessage) {
  TempDir dir;
  const std::string out = " --out " + (dir.path() / "x").string();
  std::string output;
  EXPECT_NE(RunCli(out + " --count 1 --dose abc", &output), 0);
  EXPECT_NE(output.find("--dose"), std::string::npos) << output;
  EXPECT_NE(RunCli(out + " --count 1 --dose 100:10", &output), 0);
  EXPECT_NE(output.find("dose_min"), std::string::npos) << output;
  EXPECT_NE(RunCli(out + " --count 1 --size 12x", &output), 0);
  EXPECT_NE(output.find("--size"), std::string::npos) << output;
  EXPECT_NE(RunCli(out, &output), 0);  // --count is required
  EXPECT_NE(output.find("count"), std::string::npos) << output;
}
#endif  // FRINGE_SIM_BINARY

}  // namespace
}  // namespace fringe::sim
