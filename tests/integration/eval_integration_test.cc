// End-to-end test of `fringe eval`: the real fringe-server with a tiny untrained U-Net and the
// real `fringe` CLI over labelled folders this test writes. The model is untrained, so the
// checks are about structure and consistency (every stem, bin counts, Dice that agrees with
// masks from `fringe segment`), never about quality.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "absl/strings/str_split.h"
#include "client/cli/eval_command.h"
#include "client/fringe_client.h"
#include "common/segmentation_metrics.h"
#include "tests/support/server_process.h"
#include "tests/support/test_client.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One image and its mask: noise with a brighter disc, the disc as the label (or no disc and
// an empty mask).
void WritePair(const std::string& dir, const std::string& stem, int seed, cv::Size image_size,
               cv::Size mask_size, bool empty_mask = false) {
  cv::RNG rng(seed);
  cv::Mat mask = cv::Mat::zeros(mask_size, CV_8U);
  if (!empty_mask)
    cv::circle(mask, {mask_size.width / 2 + rng.uniform(-8, 8), mask_size.height / 2},
               12 + seed % 8, cv::Scalar(255), cv::FILLED);
  cv::Mat image(image_size, CV_16U);
  rng.fill(image, cv::RNG::UNIFORM, 1000, 3000);
  if (image_size == mask_size && !empty_mask) image.setTo(cv::Scalar(5000), mask);
  fs::create_directories(dir + "/images");
  fs::create_directories(dir + "/masks");
  ASSERT_TRUE(cv::imwrite(dir + "/images/" + stem + ".tif", image));
  ASSERT_TRUE(cv::imwrite(dir + "/masks/" + stem + ".png", mask));
}

// Stems and doses (e/A^2) spanning the three bins, both bin edges and an unknown dose.
const std::vector<std::pair<std::string, std::string>>& Doses() {
  static const auto* doses = new std::vector<std::pair<std::string, std::string>>{
      {"lo_a", "40"},  {"lo_b", "99.5"}, {"mid", "100"},
      {"hi_a", "300"}, {"hi_b", "900"},  {"nodose", ""}};
  return *doses;
}

// eval.csv as stem -> cells (dose, dice, iou, precision, recall, f1, compute_ms, quality...).
std::map<std::string, std::vector<std::string>> ReadEvalCsv(const std::string& path) {
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream in(ReadText(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line,
            "stem,dose,dice,iou,precision,recall,f1,compute_ms,particle_fraction,"
            "mean_entropy_bits,lattice_contrast,out_of_domain");
  while (std::getline(in, line)) {
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    EXPECT_EQ(cells.size(), 12u) << line;
    if (cells.size() != 12) continue;
    const std::string stem = cells[0];
    cells.erase(cells.begin());
    rows[stem] = cells;
  }
  return rows;
}

class EvalIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new std::string(testing::MakeTinyRepository("eval_repo"));
    server_ = new testing::ServerProcess(FRINGE_SERVER_BIN, *repo_, {"--workers", "2"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }

  // A clean labelled folder: 64x64 pairs for Doses() and a params.csv.
  static std::string MakeDataset(const std::string& prefix) {
    const std::string dir = testing::MakeTempDir(prefix);
    std::string csv = "stem,dose_e_per_A2\n";
    int seed = 1;
    for (const auto& [stem, dose] : Doses()) {
      // hi_b has nothing to find. The untrained models find nothing anywhere, so without it
      // every Dice would be 0 and the mean/pooled/per-bin checks below could not tell the
      // statistics apart (no value is asserted from it, only consistency).
      WritePair(dir, stem, seed++, {64, 64}, {64, 64}, /*empty_mask=*/stem == "hi_b");
      csv += stem + "," + dose + "\n";
    }
    testing::WriteTextFile(dir + "/params.csv", csv);
    return dir;
  }

  int Eval(const std::vector<std::string>& args, std::string* output) {
    std::vector<std::string> argv = {FRINGE_CLI_BIN, "--server", server_->address(), "eval"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(argv, output);
  }

  static std::string* repo_;
  static testing::ServerProcess* server_;
};

std::string* EvalIntegrationTest::repo_ = nullptr;
testing::ServerProcess* EvalIntegrationTest::server_ = nullptr;

TEST_F(EvalIntegrationTest, WritesEveryImageAndBinsByDose) {
  const std::string data = MakeDataset("eval_data");
  const std::string out = data + "/out";
  std::string output;
  ASSERT_EQ(Eval({"--data", data, "--out", out, "--max-in-flight", "2"}, &output), 0) << output;

  // The printed table names every image and has the summary rows.
  for (const auto& [stem, dose] : Doses()) {
    EXPECT_NE(output.find("\n" + stem + " "), std::string::npos) << stem << "\n" << output;
  }
  EXPECT_NE(output.find("pooled over all pixels"), std::string::npos) << output;
  EXPECT_NE(output.find("tiny v2"), std::string::npos) << output;

  const auto rows = ReadEvalCsv(out + "/eval.csv");
  ASSERT_EQ(rows.size(), Doses().size()) << ReadText(out + "/eval.csv");
  double dice_sum = 0;
  for (const auto& [stem, dose] : Doses()) {
    ASSERT_EQ(rows.count(stem), 1u) << stem;
    const std::vector<std::string>& cells = rows.at(stem);
    if (dose.empty()) {
      EXPECT_EQ(cells[0], "") << stem;
    } else {
      EXPECT_NEAR(std::stod(cells[0]), std::stod(dose), 1e-9) << stem;
    }
    const double dice = std::stod(cells[1]);
    EXPECT_GE(dice, 0.0);
    EXPECT_LE(dice, 1.0);
    EXPECT_NEAR(std::stod(cells[5]), dice, 1e-5) << "F1 equals Dice for " << stem;
    EXPECT_GE(std::stod(cells[6]), 0.0) << "server compute time for " << stem;
    const double fraction = std::stod(cells[7]);  // The response's quality signals.
    EXPECT_TRUE(fraction >= 0.0 && fraction <= 1.0) << stem;
    EXPECT_TRUE(cells[10] == "0" || cells[10] == "1") << stem;
    dice_sum += dice;
  }

  const auto summary = nlohmann::json::parse(ReadText(out + "/eval_summary.json"));
  EXPECT_EQ(summary["model"]["name"], "tiny");
  EXPECT_EQ(summary["model"]["version"], 2);  // What the server serves by default.
  EXPECT_EQ(summary["images"], 6);
  EXPECT_EQ(summary["evaluated"], 6);
  EXPECT_EQ(summary["failed"], 0);
  ASSERT_EQ(summary["dose_bins"].size(), 3u);
  // 40 and 99.5 | 100 | 300 and 900; the edges go to the upper bin.
  EXPECT_EQ(summary["dose_bins"][0]["count"], 2);
  EXPECT_EQ(summary["dose_bins"][1]["count"], 1);
  EXPECT_EQ(summary["dose_bins"][2]["count"], 2);
  EXPECT_EQ(summary["images_without_dose"], 1);
  EXPECT_NEAR(summary["mean"]["dice"].get<double>(), dice_sum / 6, 1e-5);
  const double bin2_mean = (std::stod(rows.at("hi_a")[1]) + std::stod(rows.at("hi_b")[1])) / 2;
  EXPECT_NEAR(summary["dose_bins"][2]["mean_dice"].get<double>(), bin2_mean, 1e-5);
  EXPECT_NEAR(summary["dose_bins"][1]["mean_dice"].get<double>(), std::stod(rows.at("mid")[1]),
              1e-5);

  const cv::Mat plot = cv::imread(out + "/dice_vs_dose.png", cv::IMREAD_COLOR);
  ASSERT_FALSE(plot.empty());
  EXPECT_EQ(plot.size(), cv::Size(900, 560));

  // The same images through `fringe segment`: Dice recomputed from its masks must match the
  // CSV, image by image, and the pooled Dice from the summed pixel counts.
  std::vector<std::string> argv = {FRINGE_CLI_BIN, "--server", server_->address(), "segment"};
  for (const auto& [stem, dose] : Doses()) argv.push_back(data + "/images/" + stem + ".tif");
  argv.insert(argv.end(), {"--out", data + "/segmented"});
  ASSERT_EQ(testing::RunCommand(argv, &output), 0) << output;
  ConfusionCounts pooled;
  for (const auto& [stem, dose] : Doses()) {
    const cv::Mat predicted =
        cv::imread(data + "/segmented/" + stem + "_mask.png", cv::IMREAD_GRAYSCALE);
    const cv::Mat truth = cv::imread(data + "/masks/" + stem + ".png", cv::IMREAD_GRAYSCALE);
    ASSERT_FALSE(predicted.empty()) << stem;
    const ConfusionCounts counts = CountConfusion(predicted, truth);
    pooled += counts;
    EXPECT_NEAR(std::stod(rows.at(stem)[1]), ComputeMetrics(counts).dice, 1e-5) << stem;
    EXPECT_NEAR(std::stod(rows.at(stem)[2]), ComputeMetrics(counts).iou, 1e-5) << stem;
  }
  EXPECT_EQ(summary["pooled"]["true_positive"], pooled.true_positive);
  EXPECT_EQ(summary["pooled"]["false_positive"], pooled.false_positive);
  EXPECT_NEAR(summary["pooled"]["dice"].get<double>(), ComputeMetrics(pooled).dice, 1e-9);
}

// In process, with every frame over the "large" limit: the client-side tiling path must give
// the same numbers as the stream, with no server compute time to report.
TEST_F(EvalIntegrationTest, ClientTiledFramesGiveTheSameNumbers) {
  const std::string data = MakeDataset("eval_large");
  auto client = testing::ConnectTo(server_->address());
  EvalArgs args;
  args.data_dir = data;
  args.server = server_->address();
  args.quiet = true;
  args.out_dir = data + "/streamed";
  ASSERT_EQ(RunEval(*client, args), 0);
  args.out_dir = data + "/tiled";
  args.large_pixels = 32 * 32;
  ASSERT_EQ(RunEval(*client, args), 0);

  const auto streamed = ReadEvalCsv(data + "/streamed/eval.csv");
  const auto tiled = ReadEvalCsv(data + "/tiled/eval.csv");
  ASSERT_EQ(tiled.size(), Doses().size());
  for (const auto& [stem, cells] : tiled) {
    ASSERT_EQ(streamed.count(stem), 1u) << stem;
    EXPECT_EQ(cells[0], streamed.at(stem)[0]) << stem;  // dose
    EXPECT_EQ(cells[1], streamed.at(stem)[1]) << stem;  // dice
    EXPECT_EQ(cells[6], "") << "no server timing for a client-tiled frame: " << stem;
    EXPECT_NE(streamed.at(stem)[6], "") << stem;
  }
}

TEST_F(EvalIntegrationTest, QuietPinnedVersionAndNoFilesWithoutOut) {
  const std::string data = MakeDataset("eval_quiet");
  std::string output;
  ASSERT_EQ(Eval({"--data", data, "--quiet", "--model", "tiny:1"}, &output), 0) << output;
  EXPECT_NE(output.find("tiny v1"), std::string::npos) << output;
  EXPECT_NE(output.find("pooled over all pixels"), std::string::npos) << output;
  EXPECT_NE(output.find("100-300   1 image "), std::string::npos) << output;
  EXPECT_EQ(output.find("\nlo_a "), std::string::npos) << "--quiet prints no image lines\n"
                                                       << output;
  EXPECT_EQ(output.find("wrote"), std::string::npos) << output;
  std::set<std::string> entries;
  for (const auto& entry : fs::directory_iterator(data)) {
    entries.insert(entry.path().filename().string());
  }
  EXPECT_EQ(entries, (std::set<std::string>{"images", "masks", "params.csv"}));
}

TEST_F(EvalIntegrationTest, MissingMaskFailsNamingTheImage) {
  const std::string data = MakeDataset("eval_missing");
  WritePair(data, "orphan", 9, {64, 64}, {64, 64});
  fs::remove(data + "/masks/orphan.png");
  std::string output;
  const int code = Eval({"--data", data, "--out", data + "/out"}, &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("orphan.tif"), std::string::npos) << output;
  EXPECT_NE(output.find("without a mask"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(data + "/out/eval.csv"));
}

TEST_F(EvalIntegrationTest, BadImagesAreReportedAndTheRestEvaluated) {
  const std::string data = MakeDataset("eval_bad");
  // An image that is no TIFF (with a good mask), and one whose mask has another size.
  WritePair(data, "junk", 11, {64, 64}, {64, 64});
  testing::WriteTextFile(data + "/images/junk.tif", "this is not a tiff");
  WritePair(data, "wrongsize", 12, {64, 64}, {48, 64});
  std::string output;
  const int code = Eval({"--data", data, "--out", data + "/out"}, &output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("junk.tif"), std::string::npos) << output;
  EXPECT_NE(output.find("wrongsize"), std::string::npos) << output;
  EXPECT_NE(output.find("2 of 8 images failed"), std::string::npos) << output;

  const auto rows = ReadEvalCsv(data + "/out/eval.csv");
  EXPECT_EQ(rows.size(), Doses().size());
  EXPECT_EQ(rows.count("junk"), 0u);
  EXPECT_EQ(rows.count("wrongsize"), 0u);
  const auto summary = nlohmann::json::parse(ReadText(data + "/out/eval_summary.json"));
  EXPECT_EQ(summary["images"], 8);
  EXPECT_EQ(summary["evaluated"], 6);
  EXPECT_EQ(summary["failed"], 2);
  std::set<std::string> failed;
  for (const auto& f : summary["failures"]) failed.insert(f["stem"].get<std::string>());
  EXPECT_EQ(failed, (std::set<std::string>{"junk", "wrongsize"}));
}

TEST_F(EvalIntegrationTest, UnknownModelUnreachableServerAndMissingFolder) {
  const std::string data = MakeDataset("eval_errors");
  std::string output;
  EXPECT_EQ(Eval({"--data", data, "--model", "ghost"}, &output), 1);
  EXPECT_NE(output.find("unknown model"), std::string::npos) << output;
  EXPECT_NE(output.find("tiny"), std::string::npos) << "lists what exists\n" << output;

  EXPECT_EQ(Eval({"--data", data, "--model", "tiny:7"}, &output), 1);
  EXPECT_NE(output.find("no version 7"), std::string::npos) << output;

  EXPECT_EQ(testing::RunCommand({FRINGE_CLI_BIN, "--server", "127.0.0.1:1", "eval", "--data", data},
                                &output),
            1);
  EXPECT_NE(output.find("cannot reach the server at 127.0.0.1:1"), std::string::npos) << output;

  EXPECT_EQ(Eval({"--data", data + "/nowhere"}, &output), 1);
  EXPECT_NE(output.find(data + "/nowhere"), std::string::npos) << output;
}

}  // namespace
}  // namespace fringe
