// The robustness study (issue 12) end to end on a tiny problem: a 2-candidate held-out-physics
// matrix (all factors / without carbon), two synthetic evaluation sets (one from the held-out
// generator), a temporary labelled folder and an unlabelled frame without particles, seconds
// of training each. Checks the report's numbers are present and consistent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "study/study_result.h"
#include "study/study_runner.h"

namespace fringe::study {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// clang-format off
std::string TinyRobustnessStudy(const fs::path& dir) {
  const std::string synthetic =
      "image_size: 64 particles_min: 1 particles_max: 2 diameter_min_nm: 0.6 "
      "diameter_max_nm: 1.0 dose_min: 300 dose_max: 1000 randomize: true "
      "scale_pixel_min_nm: 0.015 scale_pixel_max_nm: 0.035";
  return std::string(
      "title: 'tiny robustness study'\n"
      "minutes_per_candidate: 0.03\n"
      "held_out { images: 2 seed: 99 size: 64 synthetic {\n"
      "  image_size: 64 particles_min: 1 particles_max: 2 diameter_min_nm: 0.6\n"
      "  diameter_max_nm: 1.0 dose_min: 300 dose_max: 1000 } }\n"
      "latency_tile: 32 latency_repeats: 1 spectrum_images: 0\n"
      "base {\n"
      "  model { architecture: 'unet' unet { depth: 2 base_filters: 2 batch_norm: true }\n"
      "    tile_size: 64 tile_margin: 8 pixel_size_nm: 0.0225\n"
      "    classes: 'background' classes: 'particle' }\n"
      "  synthetic { ") + synthetic + " }\n"
      "  loss { focal_gamma: 1 false_positive_weight: 0.5 }\n"
      "  carbon_only_crop_fraction: 0.25\n"
      "  tile: 32 batch_size: 2 steps: 100000 learning_rate: 0.01\n"
      "  validate_every: 2 validation_images: 1 validation_size: 64 seed: 5 threads: 1\n"
      "}\n"
      "candidates { name: 'all-factors' description: 'reference' }\n"
      "candidates { name: 'without-carbon' description: 'carbon left out'\n"
      "  train { synthetic { " + synthetic + " randomize_without: 'carbon' } } }\n"
      "evaluation_sets { name: 'randomized' synthetic { images: 3 size: 64 seed: 31\n"
      "  synthetic { " + synthetic + " } } }\n"
      "evaluation_sets { name: 'held-out-generator' synthetic { images: 3 size: 64 seed: 32\n"
      "  synthetic { image_size: 64 particles_min: 1 particles_max: 2 diameter_min_nm: 0.6\n"
      "  diameter_max_nm: 1.0 dose_min: 300 dose_max: 1000 held_out_generator: true } } }\n"
      "evaluation_sets { name: 'labelled' labelled_folder: '" + (dir / "labelled").string() +
      "' montage_frames: 1 }\n"
      "evaluation_sets { name: 'carbon' unlabelled { files { path: '" +
      (dir / "carbon.png").string() + "' pixel_size_nm: 0.045 }\n"
      "  expect_no_particles: true } }\n"
      "evaluation_sets { name: 'absent' labelled_folder: '" + (dir / "nowhere").string() +
      "' optional: true }\n";
}
// clang-format on

TEST(RobustnessStudyTest, MatrixAndEvaluationSetsEndToEnd) {
  const fs::path dir =
      fs::temp_directory_path() / ("fringe_robustness_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "labelled" / "images");
  fs::create_directories(dir / "labelled" / "labels");
  cv::RNG rng(4);
  for (int i = 0; i < 2; ++i) {
    cv::Mat image(64, 64, CV_8U), label = cv::Mat::zeros(64, 64, CV_8U);
    rng.fill(image, cv::RNG::NORMAL, 128, 20);
    cv::circle(label, {20 + 10 * i, 30}, 9, cv::Scalar(255), -1);
    image.setTo(cv::Scalar(60), label);
    cv::imwrite((dir / "labelled" / "images" / ("image_" + std::to_string(i) + ".png")).string(),
                image);
    cv::imwrite((dir / "labelled" / "labels" / ("label_" + std::to_string(i) + ".png")).string(),
                label);
  }
  cv::Mat carbon(48, 40, CV_16U);
  rng.fill(carbon, cv::RNG::NORMAL, 1000, 50);
  cv::imwrite((dir / "carbon.png").string(), carbon);

  auto study = ParseStudyConfig(TinyRobustnessStudy(dir));
  ASSERT_TRUE(study.ok()) << study.status();
  StudyOptions options;
  options.out_dir = (dir / "out").string();
  options.quiet = true;
  {
    const absl::Status st = RunStudy(*study, options);
    ASSERT_TRUE(st.ok()) << st;
  }

  const nlohmann::json report = nlohmann::json::parse(Read(dir / "out" / "study.json"));
  ASSERT_EQ(report["evaluation_sets"].size(), 5u);
  ASSERT_EQ(report["candidates"].size(), 2u);
  std::map<std::string, std::map<std::string, nlohmann::json>> by;
  for (const auto& c : report["candidates"]) {
    EXPECT_EQ(c["status"], "done") << c.dump();
    EXPECT_TRUE(c["randomized"].get<bool>());
    ASSERT_EQ(c["evaluation_sets"].size(), 5u);
    for (const auto& s : c["evaluation_sets"]) by[c["name"]][s["set"]] = s;
  }
  EXPECT_EQ(report["candidates"][1]["factors_left_out"], nlohmann::json({"carbon"}));
  for (const std::string name : {"all-factors", "without-carbon"}) {
    for (const std::string set : {"randomized", "held-out-generator", "labelled"}) {
      const auto& s = by[name][set];
      EXPECT_EQ(s["status"], "done");
      EXPECT_EQ(s["frames"], set == "labelled" ? 2 : 3);
      for (const char* key : {"dice", "precision", "recall", "false_positive_area"}) {
        EXPECT_GE(s[key].get<double>(), 0.0) << name << " " << set << " " << key;
        EXPECT_LE(s[key].get<double>(), 1.0) << name << " " << set << " " << key;
      }
      EXPECT_LE(s["false_positive_area"].get<double>(),
                s["max_false_positive_area"].get<double>() + 1e-12);
    }
    EXPECT_EQ(by[name]["labelled"]["montages"].size(), 1u);
    const auto& carbon_set = by[name]["carbon"];
    EXPECT_EQ(carbon_set["status"], "done");
    EXPECT_EQ(carbon_set["frames"], 1);
    EXPECT_FALSE(carbon_set["labelled"].get<bool>());
    EXPECT_GE(carbon_set["false_positive_area"].get<double>(), 0.0);
    ASSERT_EQ(carbon_set["montages"].size(), 1u);
    const cv::Mat montage =
        cv::imread((dir / "out" / carbon_set["montages"][0].get<std::string>()).string());
    EXPECT_EQ(montage.rows, 48);  // The frame at its own size (mask brought back), twice.
    EXPECT_EQ(montage.cols, 80);
    EXPECT_EQ(by[name]["absent"]["status"].get<std::string>().rfind("skipped:", 0), 0u);
  }

  // The cost column: reference Dice minus the candidate's, per set, in the CSV and the markdown.
  const std::string csv = Read(dir / "out" / "evaluation_sets.csv");
  std::istringstream lines(csv);
  std::string line;
  int costs = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("without-carbon,randomized,", 0) != 0 &&
        line.rfind("without-carbon,held-out-generator,", 0) != 0) {
      continue;
    }
    const std::string set =
        line.find(",randomized,") != std::string::npos ? "randomized" : "held-out-generator";
    const double expected = by["all-factors"][set]["dice"].get<double>() -
                            by["without-carbon"][set]["dice"].get<double>();
    const double cost = std::stod(line.substr(line.rfind(',') + 1));
    EXPECT_NEAR(cost, expected, 1e-5) << line;
    ++costs;
  }
  EXPECT_EQ(costs, 2) << csv;
  const std::string md = Read(dir / "out" / "study.md");
  for (const char* s : {"### randomized", "### held-out-generator", "### labelled", "### carbon",
                        "### absent", "cost of leaving X out", "skipped:"}) {
    EXPECT_NE(md.find(s), std::string::npos) << s;
  }

  // A rerun reuses the finished candidates (fingerprints include the sets) and rebuilds the
  // same tables.
  {
    const absl::Status st = RunStudy(*study, options);
    ASSERT_TRUE(st.ok()) << st;
  }
  EXPECT_EQ(Read(dir / "out" / "evaluation_sets.csv"), csv);
  fs::remove_all(dir);
}

TEST(RobustnessStudyTest, RejectsBadEvaluationSets) {
  const fs::path dir = "/tmp/none";
  std::string text = TinyRobustnessStudy(dir);
  EXPECT_TRUE(ParseStudyConfig(text).ok());
  auto with = [&](const std::string& extra) { return ParseStudyConfig(text + extra); };
  EXPECT_FALSE(with("evaluation_sets { name: \"randomized\" labelled_folder: \"x\" }").ok());
  EXPECT_FALSE(
      with("evaluation_sets { name: \"u\" unlabelled { files { path: \"a.png\" } } }").ok());
  EXPECT_FALSE(with("evaluation_sets { name: \"s\" synthetic { seed: 5 } }").ok());
  EXPECT_FALSE(with("evaluation_sets { name: \"bad name\" labelled_folder: \"x\" }").ok());
  auto unknown = with(
      "evaluation_sets { name: \"f\" synthetic { seed: 40 synthetic { randomize: true "
      "randomize_without: \"nope\" } } }");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("nope"), std::string::npos);
  // The held-out generator is fine in an evaluation set, never in training.
  EXPECT_TRUE(with("evaluation_sets { name: \"g\" synthetic { seed: 41 synthetic { "
                   "held_out_generator: true } } }")
                  .ok());
  auto training = ParseStudyConfig(text + R"pb(candidates {
                                                 name: "cheat"
                                                 train { synthetic { held_out_generator: true } }
                                               })pb");
  ASSERT_FALSE(training.ok());
  EXPECT_NE(training.status().message().find("held_out_generator is for evaluation only"),
            std::string::npos);
}

}  // namespace
}  // namespace fringe::study
