#include "study/study_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <sstream>

#include "client/fringe_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_repository.h"

namespace fringe::study {
namespace {

namespace fs = std::filesystem;

// Two tiny U-Nets and the Fourier baseline on 64x64 simulations, two seconds of training
// each: the whole pipeline (train, evaluate, explain, report) in a few seconds.
constexpr char kTinyStudy[] = R"pb(
  title: "tiny study"
  minutes_per_candidate: 0.03
  held_out {
    images: 4
    seed: 99
    size: 64
    synthetic {
      image_size: 64
      particles_min: 1
      particles_max: 2
      diameter_min_nm: 0.6
      diameter_max_nm: 1.0
      dose_min: 60
      dose_max: 1000
    }
  }
  latency_tile: 32
  latency_repeats: 2
  spectrum_images: 2
  base {
    model {
      architecture: "unet"
      unet { depth: 2 base_filters: 2 batch_norm: true }
      tile_size: 64
      tile_margin: 8
      pixel_size_nm: 0.0225
      classes: "background"
      classes: "particle"
    }
    synthetic {
      image_size: 64
      particles_min: 1
      particles_max: 2
      diameter_min_nm: 0.6
      diameter_max_nm: 1.0
      dose_min: 300
      dose_max: 1000
    }
    tile: 32
    batch_size: 2
    steps: 100000
    learning_rate: 0.01
    validate_every: 2
    validation_images: 2
    validation_size: 64
    seed: 5
    threads: 1
  }
  candidates { name: "narrow" description: "base 2" }
  candidates {
    name: "wide"
    description: "base 4, dilated bottleneck"
    train {
      model {
        architecture: "unet"
        unet {
          depth: 2
          base_filters: 4
          batch_norm: true
          dilation: [ 1, 1, 2 ]
        }
        tile_size: 64
        tile_margin: 8
        pixel_size_nm: 0.0225
        classes: "background"
        classes: "particle"
      }
      learning_rate: 0.005
    }
  }
  candidates {
    name: "imagenet"
    description: "needs weights"
    needs_vgg16_weights: true
    train {
      model {
        architecture: "fcn8s"
        fcn8s { width_divisor: 1 }
        classes: "background"
        classes: "particle"
        pixel_size_nm: 0.0225
      }
    }
  }
  candidates {
    name: "fourier"
    description: "baseline"
    untrained: true
    train {
      model {
        architecture: "fourier-bandpass"
        pixel_size_nm: 0.0225
        classes: "background"
        classes: "particle"
      }
    }
  }
)pb";

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(StudyConfigTest, CandidateFieldsReplaceTheBase) {
  auto study = ParseStudyConfig(kTinyStudy);
  ASSERT_TRUE(study.ok()) << study.status();
  const v1::TrainConfig wide = CandidateTrainConfig(*study, study->candidates(1), "/out");
  EXPECT_EQ(wide.model().unet().base_filters(), 4);
  EXPECT_EQ(wide.model().classes_size(), 2);  // Replaced, not appended to the base's.
  EXPECT_EQ(wide.model().unet().dilation_size(), 3);
  EXPECT_DOUBLE_EQ(wide.learning_rate(), 0.005);
  EXPECT_EQ(wide.batch_size(), 2);  // Not set by the candidate: the base's.
  EXPECT_NEAR(wide.max_seconds(), 0.03 * 60, 1e-9);
  EXPECT_EQ(wide.output_repository(), "/out/repository");
  EXPECT_EQ(wide.checkpoint_dir(), "/out/checkpoints/wide");
  const v1::TrainConfig narrow = CandidateTrainConfig(*study, study->candidates(0), "/out");
  EXPECT_EQ(narrow.model().unet().base_filters(), 2);
}

TEST(StudyConfigTest, RejectsBadStudies) {
  auto expect_invalid = [](const std::string& text, const std::string& needle) {
    auto study = ParseStudyConfig(text);
    ASSERT_FALSE(study.ok()) << text;
    EXPECT_EQ(study.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(study.status().message().find(needle), std::string::npos) << study.status();
  };
  const std::string base = "base { seed: 5 model { architecture: \"unet\" } } ";
  expect_invalid(base, "no candidates");
  expect_invalid(base + "candidates { name: \"a\" } candidates { name: \"a\" }", "listed twice");
  expect_invalid(base + "candidates { name: \"a/b\" }", "must be letters");
  expect_invalid(base + "held_out { seed: 5 } candidates { name: \"a\" }", "held_out.seed");
  expect_invalid(base + "candidates { name: \"a\" train { batch_size: -1 } }", "candidate a");
  EXPECT_FALSE(ParseStudyConfig("not a study {").ok());
}

TEST(StudyRunnerTest, RunsResumesAndReports) {
  auto study = ParseStudyConfig(kTinyStudy);
  ASSERT_TRUE(study.ok()) << study.status();
  const fs::path out = testing::MakeTempDir("study");
  StudyOptions options;
  options.out_dir = out.string();
  options.quiet = true;
  options.command = "fringe-study --config tiny.pbtxt";

  // Interrupted before the first step: nothing is finished, the run says so.
  std::atomic<bool> stop{true};
  options.stop_requested = &stop;
  EXPECT_EQ(RunStudy(*study, options).code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(fs::exists(out / "candidates" / "narrow" / "result.json"));

  stop = false;
  ASSERT_TRUE(RunStudy(*study, options).ok());
  for (const char* name : {"narrow", "wide", "fourier"}) {
    SCOPED_TRACE(name);
    const std::string text = Read(out / "candidates" / name / "result.json");
    ASSERT_FALSE(text.empty());
    const nlohmann::json r = nlohmann::json::parse(text).at("result");
    EXPECT_EQ(r.at("status"), "done");
    EXPECT_EQ(r.at("frames"), 4);
    EXPECT_GE(r.at("dice").get<double>(), 0.0);
    EXPECT_LE(r.at("dice").get<double>(), 1.0);
  }
  // Latency is measured side by side at the end: in the study's table, for every candidate.
  const nlohmann::json all = nlohmann::json::parse(Read(out / "study.json")).at("candidates");
  for (const nlohmann::json& r : all) {
    if (r.at("status") == "done") EXPECT_GT(r.at("latency_ms").get<double>(), 0.0) << r.at("name");
  }
  const nlohmann::json wide =
      nlohmann::json::parse(Read(out / "candidates" / "wide" / "result.json")).at("result");
  EXPECT_GT(wide.at("steps").get<int64_t>(), 0);
  EXPECT_GT(wide.at("macs").get<int64_t>(), 0);
  // Depth 2 with a bottleneck at dilation 2 sees further than the same net undilated.
  const nlohmann::json narrow =
      nlohmann::json::parse(Read(out / "candidates" / "narrow" / "result.json")).at("result");
  EXPECT_GT(wide.at("receptive_field_px").get<int64_t>(),
            narrow.at("receptive_field_px").get<int64_t>());
  EXPECT_GE(wide.at("training_seconds").get<double>(), 0.03 * 60);
  const nlohmann::json fourier =
      nlohmann::json::parse(Read(out / "candidates" / "fourier" / "result.json")).at("result");
  EXPECT_TRUE(fourier.at("receptive_field_px").is_null());
  EXPECT_EQ(fourier.at("steps"), 0);

  const std::string md = Read(out / "study.md");
  EXPECT_NE(md.find("| narrow | unet |"), std::string::npos) << md;
  EXPECT_NE(md.find("| fourier | fourier-bandpass |"), std::string::npos);
  EXPECT_NE(md.find("- imagenet (needs weights): skipped: needs ImageNet VGG16 weights"),
            std::string::npos);
  for (const char* file :
       {"study.csv", "study.json", "dice_vs_dose.png", "dice_vs_receptive_field.png"}) {
    EXPECT_GT(fs::file_size(out / file), 0u) << file;
  }

  // Every candidate is served through the same API from the study's repository.
  {
    testing::ServerProcess server(FRINGE_SERVER_BIN, (out / "repository").string(),
                                  {"--default-model", "narrow"});
    FringeClient::Options client_options;
    client_options.target = server.address();
    auto client = FringeClient::Create(client_options);
    for (const char* name : {"narrow", "wide", "fourier"}) {
      v1::SegmentRequest request;
      request.set_id(name);
      request.mutable_model()->set_name(name);
      cv::Mat frame(64, 64, CV_32F);
      cv::randu(frame, 0, 1);
      *request.mutable_image() = *MakeWireImage(frame);
      auto response = client->Segment(request);
      ASSERT_TRUE(response.ok()) << name << ": " << response.status();
      EXPECT_EQ(response->model_name(), name);
      EXPECT_EQ(response->mask().shape_size(), 2);
    }
  }

  // A rerun reuses every finished candidate: no new version is trained.
  const auto versions = [&](const char* name) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(out / "repository" / name)) n += e.is_directory();
    return n;
  };
  ASSERT_EQ(versions("narrow"), 1);
  const std::string before = Read(out / "candidates" / "narrow" / "result.json");
  ASSERT_TRUE(RunStudy(*study, options).ok());
  EXPECT_EQ(versions("narrow"), 1);
  EXPECT_EQ(Read(out / "candidates" / "narrow" / "result.json"), before);

  // Another configuration never reuses those results.
  v1::StudyConfig changed = *study;
  changed.mutable_base()->set_learning_rate(0.02);
  const absl::Status s = RunStudy(changed, options);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("another configuration of candidate narrow"), std::string::npos);
}

}  // namespace
}  // namespace fringe::study
