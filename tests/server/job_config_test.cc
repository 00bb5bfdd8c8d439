// What a submitted job may set (ResolveJobConfig): the server decides where a job writes and
// with how many threads, a job names datasets, starting models and pretrained weights only by
// name, and never a path on the server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "models/model_registry.h"
#include "server/job_runner.h"
#include "server/model_repository.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

class JobConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("jobcfg_repo");
    testing::WriteUNetVersion(root_, "default", 1, testing::TinyUNetConfig());
    ModelRepository::Options options;
    options.root = root_;
    options.warm_up = false;
    repository_ = *ModelRepository::Create(options, ModelRegistry::WithBuiltins());
    ASSERT_TRUE(repository_->LoadAll().ok());
    paths_.state_dir = testing::MakeTempDir("jobcfg_state");
    paths_.repository_root = root_;
    paths_.threads = 3;
  }
  void TearDown() override {
    fs::remove_all(root_);
    fs::remove_all(paths_.state_dir);
  }

  // A small valid job: the tiny U-Net on 64x64 simulations.
  v1::TrainingJobSpec Spec() const {
    v1::TrainingJobSpec spec;
    v1::TrainConfig* c = spec.mutable_config();
    *c->mutable_model() = testing::TinyUNetConfig();
    c->mutable_synthetic()->set_image_size(64);
    c->set_tile(64);
    c->set_validation_size(64);
    return spec;
  }
  absl::StatusOr<v1::TrainConfig> Resolve(const v1::TrainingJobSpec& spec) const {
    return ResolveJobConfig(spec, "job-1", paths_, *repository_);
  }

  std::string root_;
  std::unique_ptr<ModelRepository> repository_;
  JobPaths paths_;
};

TEST_F(JobConfigTest, TheServerDecidesWhereAJobWritesAndWithHowManyThreads) {
  v1::TrainingJobSpec spec = Spec();
  spec.mutable_config()->set_output_repository("/tmp/elsewhere");
  spec.mutable_config()->set_checkpoint_dir("/tmp/elsewhere/ckpt");
  spec.mutable_config()->set_threads(64);
  auto config = Resolve(spec);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->output_repository(), root_);
  EXPECT_EQ(config->checkpoint_dir(), paths_.state_dir + "/jobs/job-1/checkpoints");
  EXPECT_EQ(config->threads(), 3);
  EXPECT_EQ(config->output_name(), "retrained");
  spec.set_output_name("../../etc");
  EXPECT_EQ(Resolve(spec).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobConfigTest, PathsFromTheClientAreRefused) {
  v1::TrainingJobSpec weights = Spec();
  weights.mutable_config()->set_vgg16_weights("/etc/passwd");
  EXPECT_EQ(Resolve(weights).status().code(), absl::StatusCode::kInvalidArgument);
  v1::TrainingJobSpec start = Spec();
  start.mutable_config()->set_init_from(root_ + "/default/1");
  EXPECT_EQ(Resolve(start).status().code(), absl::StatusCode::kInvalidArgument);
  v1::TrainingJobSpec data = Spec();
  data.mutable_config()->mutable_labelled()->set_path("/etc");
  EXPECT_EQ(Resolve(data).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobConfigTest, NamesResolveInsideTheServersFolders) {
  v1::TrainingJobSpec spec = Spec();
  spec.mutable_init_from()->set_name("default");
  auto started = Resolve(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->init_from(), root_ + "/default/1");
  spec.mutable_init_from()->set_name("ghost");
  EXPECT_EQ(Resolve(spec).status().code(), absl::StatusCode::kNotFound);

  v1::TrainingJobSpec data = Spec();
  data.set_dataset("corrections");
  EXPECT_EQ(Resolve(data).status().code(), absl::StatusCode::kNotFound);
  fs::create_directories(paths_.state_dir + "/datasets/corrections");
  auto with_data = Resolve(data);
  ASSERT_TRUE(with_data.ok()) << with_data.status();
  EXPECT_EQ(with_data->labelled().path(), paths_.state_dir + "/datasets/corrections");
  data.set_dataset("../jobs");
  EXPECT_EQ(Resolve(data).status().code(), absl::StatusCode::kInvalidArgument);

  v1::TrainingJobSpec weights = Spec();
  weights.set_pretrained_weights("vgg16.pt");
  EXPECT_EQ(Resolve(weights).status().code(), absl::StatusCode::kNotFound);
  fs::create_directories(paths_.state_dir + "/pretrained");
  std::ofstream(paths_.state_dir + "/pretrained/vgg16.pt") << "weights";
  // Found by name; the trainer's own rule then refuses vgg16 weights for a U-Net.
  auto found = Resolve(weights);
  EXPECT_EQ(found.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(found.status().message().find("fcn8s"), std::string::npos) << found.status();
  weights.set_pretrained_weights(".hidden");
  EXPECT_EQ(Resolve(weights).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fringe
