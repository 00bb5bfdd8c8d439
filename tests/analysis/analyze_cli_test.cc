// `fringe analyze` end to end (the real `fringe` binary, which hands the work to
// fringe-analyze) on a tiny untrained U-Net written with WriteUNetVersion, and
// `fringe explain --npy` against a real server. The model is untrained: the checks are about
// files, shapes and consistency with the library, never about quality.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "analysis/filter_grid.h"
#include "analysis/local_model.h"
#include "data/image_io.h"
#include "tests/support/server_process.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Lines(const std::string& path) {
  const std::string text = ReadText(path);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class AnalyzeCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir("analyze_cli"));
    testing::WriteUNetVersion(*dir_ + "/repo", "tiny", 1, testing::TinyUNetConfig(), 5);
    // Two 64x64 frames: noise with a disc of fringes, the disc as the label.
    fs::create_directories(*dir_ + "/data/images");
    fs::create_directories(*dir_ + "/data/masks");
    for (const int i : {0, 1}) {
      cv::Mat frame(64, 64, CV_32F), mask = cv::Mat::zeros(64, 64, CV_8U);
      cv::RNG(i + 1).fill(frame, cv::RNG::NORMAL, 100, 5);
      cv::circle(mask, {28 + 8 * i, 32}, 14, cv::Scalar(255), cv::FILLED);
      for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x) {
          if (mask.at<uchar>(y, x)) frame.at<float>(y, x) += 20 * std::cos(x * 1.1 + y * 0.4);
        }
      }
      const std::string stem = "f" + std::to_string(i);
      ASSERT_TRUE(data::WriteNpy(*dir_ + "/data/images/" + stem + ".npy", frame).ok());
      ASSERT_TRUE(cv::imwrite(*dir_ + "/data/masks/" + stem + ".png", mask));
    }
    // An untrained net may predict either class everywhere: target one that has pixels in
    // both frames.
    auto model = analysis::LocalModel::Load(*dir_ + "/repo/tiny/1");
    ASSERT_TRUE(model.ok()) << model.status();
    class_ = -1;
    for (const int c : {1, 0}) {
      bool present = true;
      for (const int i : {0, 1}) {
        auto frame = data::ReadNpy(*dir_ + "/data/images/f" + std::to_string(i) + ".npy");
        const auto p = analysis::PrepareFrame(*frame, 4);
        const auto logits = (*model)->Logits({p.input});
        const cv::Mat argmax = (*logits)[0][1] > (*logits)[0][0];
        const int n = cv::countNonZero(argmax);
        if ((c == 1 && n == 0) || (c == 0 && n == 64 * 64)) present = false;
      }
      if (present) {
        class_ = c;
        break;
      }
    }
    ASSERT_GE(class_, 0);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  // Runs `fringe analyze WHAT` on the tiny model with `extra` arguments into a fresh folder.
  static int Analyze(const std::string& what, const std::vector<std::string>& extra,
                     std::string* out_dir, std::string* output) {
    *out_dir = *dir_ + "/out_" + what + "_" + std::to_string(runs_++);
    std::vector<std::string> argv = {FRINGE_CLI_BIN,  "analyze",   what,   "--repository",
                                     *dir_ + "/repo", "--model",   "tiny", "--out",
                                     *out_dir,        "--threads", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::RunCommand(argv, output);
  }

  static std::string* dir_;
  static int class_;
  static int runs_;
};
std::string* AnalyzeCliTest::dir_ = nullptr;
int AnalyzeCliTest::class_ = 1;
int AnalyzeCliTest::runs_ = 0;

TEST_F(AnalyzeCliTest, DeletionWritesCurvesTablesAndFigures) {
  std::string out, output;
  ASSERT_EQ(
      Analyze("deletion",
              {"--data", *dir_ + "/data", "--methods", "lrp,gradient_x_input,random", "--steps",
               "4", "--patch", "16", "--random-seeds", "2", "--class", std::to_string(class_)},
              &out, &output),
      0)
      << output;
  EXPECT_NE(output.find("| `lrp` |"), std::string::npos) << output;
  const json j = json::parse(ReadText(out + "/deletion.json"));
  EXPECT_EQ(j["frames_used"], 2);
  ASSERT_EQ(j["summary"].size(), 3u);
  EXPECT_EQ(j["summary"][0]["method"], "lrp");
  EXPECT_EQ(j["summary"][1]["method"], "gradient-x-input");
  for (const auto& s : j["summary"]) {
    EXPECT_EQ(s["deletion_auc"]["n"], 2);
    EXPECT_EQ(s["fraction"].size(), 5u);
    EXPECT_DOUBLE_EQ(s["deletion_mean"][0].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(s["insertion_mean"][4].get<double>(), 1.0);
  }
  EXPECT_EQ(j["frames"][0]["patches"], 16);  // 64x64 in 16-px patches.
  EXPECT_EQ(Lines(out + "/deletion_curves.csv"), 1 + 3 * 2 * 5);
  EXPECT_EQ(Lines(out + "/deletion_frames.csv"), 1 + 2 * 3);
  EXPECT_EQ(Lines(out + "/deletion_table.md"), 2 + 3);
  for (const std::string png : {"deletion.png", "insertion.png"}) {
    const cv::Mat img = cv::imread(out + "/" + png);
    EXPECT_EQ(img.size(), cv::Size(820, 520)) << png;
  }
  EXPECT_FALSE(cv::imread(out + "/examples.png").empty());
}

TEST_F(AnalyzeCliTest, FiltersSpectrumLogitsAndBlur) {
  std::string out, output;
  ASSERT_EQ(Analyze("filters", {}, &out, &output), 0) << output;
  analysis::FilterGridOptions grid;
  grid.columns = 4;
  EXPECT_EQ(cv::imread(out + "/filters.png").size(),
            analysis::ComputeFilterGridLayout(4, grid).size);
  EXPECT_EQ(Lines(out + "/filters.csv"), 1 + 4 * 9);
  EXPECT_EQ(json::parse(ReadText(out + "/filters.json"))["filters"].size(), 4u);

  ASSERT_EQ(Analyze("spectrum",
                    {"--data", *dir_ + "/data", "--pixel-size", "0.02", "--class",
                     std::to_string(class_), "--method", "gradient-x-input", "--per-frame"},
                    &out, &output),
            0)
      << output;
  const json spectrum = json::parse(ReadText(out + "/spectrum.json"));
  EXPECT_EQ(spectrum["unit"], "1/nm");
  EXPECT_EQ(spectrum["frames"].size(), 2u);
  EXPECT_NEAR(spectrum["mean"]["relevance"]["f111"].get<double>(), 1 / 0.235, 1e-9);
  EXPECT_FALSE(cv::imread(out + "/spectrum.png").empty());
  EXPECT_FALSE(cv::imread(out + "/frames/f0_spectrum.png").empty());

  ASSERT_EQ(Analyze("logits", {*dir_ + "/data/images/f1.npy"}, &out, &output), 0) << output;
  auto model = analysis::LocalModel::Load(*dir_ + "/repo/tiny/1");
  ASSERT_TRUE(model.ok());
  auto frame = data::ReadNpy(*dir_ + "/data/images/f1.npy");
  const auto logits = (*model)->Logits({analysis::PrepareFrame(*frame, 4).input});
  for (const auto& [c, name] : {std::pair<int, std::string>{0, "background"}, {1, "particle"}}) {
    auto written = data::ReadNpy(out + "/f1_logit_" + name + ".npy");
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_LT(cv::norm(*written, (*logits)[0][c], cv::NORM_INF), 1e-5) << name;
  }
  EXPECT_FALSE(cv::imread(out + "/f1_logits.png").empty());
  EXPECT_EQ(json::parse(ReadText(out + "/f1_logits.json"))["classes"].size(), 2u);

  ASSERT_EQ(Analyze("blur", {"--data", *dir_ + "/data", "--sigmas", "0,2"}, &out, &output), 0)
      << output;
  const json blur = json::parse(ReadText(out + "/blur_sweep.json"));
  ASSERT_EQ(blur["points"].size(), 2u);
  for (const auto& p : blur["points"]) {
    EXPECT_GE(p["mean_dice"].get<double>(), 0.0);
    EXPECT_LE(p["mean_dice"].get<double>(), 1.0);
    EXPECT_EQ(p["frames"], 2);
  }
  EXPECT_EQ(Lines(out + "/blur_sweep.csv"), 1 + 2 * 2);
  EXPECT_FALSE(cv::imread(out + "/blur_sweep.png").empty());
}

TEST_F(AnalyzeCliTest, UsageErrorsNameTheProblem) {
  std::string out, output;
  EXPECT_NE(
      Analyze("deletion", {"--data", *dir_ + "/data", "--methods", "lrp,nope"}, &out, &output), 0);
  EXPECT_NE(output.find("unknown method \"nope\""), std::string::npos) << output;
  std::vector<std::string> argv = {FRINGE_CLI_BIN, "analyze",       "filters",
                                   "--repository", *dir_ + "/repo", "--model",
                                   "missing",      "--out",         *dir_ + "/x"};
  EXPECT_NE(testing::RunCommand(argv, &output), 0);
  EXPECT_NE(output.find("no model \"missing\""), std::string::npos) << output;
  EXPECT_NE(Analyze("blur", {*dir_ + "/data/images/f0.npy"}, &out, &output), 0);
  EXPECT_NE(output.find("has no true mask"), std::string::npos) << output;
  // A usage error is caught by `fringe` itself, before any model is loaded.
  argv = {FRINGE_CLI_BIN, "analyze", "deletion", "--steps", "0", "--out", *dir_ + "/y"};
  EXPECT_NE(testing::RunCommand(argv, &output), 0);
  EXPECT_NE(output.find("--steps"), std::string::npos) << output;
}

TEST_F(AnalyzeCliTest, ExplainWritesNpyOnRequest) {
  testing::ServerProcess server(FRINGE_SERVER_BIN, *dir_ + "/repo");
  const std::string out = *dir_ + "/explained";
  std::string output;
  ASSERT_EQ(testing::RunCommand({FRINGE_CLI_BIN, "--server", server.address(), "explain",
                                 *dir_ + "/data/images/f0.npy", "--model", "tiny", "--method",
                                 "gradient", "--out", out, "--npy"},
                                &output),
            0)
      << output;
  auto npy = data::ReadNpy(out + "/f0_relevance.npy");
  ASSERT_TRUE(npy.ok()) << npy.status();
  auto tif = data::ReadImage(out + "/f0_relevance.tif");
  ASSERT_TRUE(tif.ok()) << tif.status();
  EXPECT_EQ(npy->type(), CV_32F);
  EXPECT_EQ(npy->size(), cv::Size(64, 64));
  EXPECT_EQ(cv::norm(*npy, tif->pixels, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(*npy, cv::NORM_INF), 0.0);
  // Without the flag there is no .npy.
  const std::string plain = *dir_ + "/explained_plain";
  ASSERT_EQ(testing::RunCommand({FRINGE_CLI_BIN, "--server", server.address(), "explain",
                                 *dir_ + "/data/images/f0.npy", "--model", "tiny", "--out", plain},
                                &output),
            0)
      << output;
  EXPECT_TRUE(fs::exists(plain + "/f0_relevance.tif"));
  EXPECT_FALSE(fs::exists(plain + "/f0_relevance.npy"));
}

}  // namespace
}  // namespace fringe
