// The shared lab server over a real socket with the real binaries: training jobs that run,
// serve, survive kill -9 and cancel; model lifecycle (broken version, promote, rollback,
// unload); dataset upload; a real /metrics scrape checked by promtool.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <thread>

#include "client/fringe_client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_client.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

using testing::MakeTempDir;
using testing::ServerProcess;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::unique_ptr<FringeClient> Connect(const ServerProcess& server) {
  return testing::ConnectTo(server.address(), 120s);
}

std::string MakeRepository() {
  const std::string root = MakeTempDir("lab_repo");
  testing::WriteUNetVersion(root, "default", 1, testing::TinyUNetConfig());
  return root;
}

// A tiny training job: 64x64 synthetic frames, a depth-2 U-Net.
v1::SubmitJobRequest TinyJob(int steps, const std::string& name) {
  v1::SubmitJobRequest request;
  v1::TrainConfig* c = request.mutable_spec()->mutable_config();
  *c->mutable_model() = testing::TinyUNetConfig();
  c->mutable_synthetic()->set_image_size(64);
  c->set_tile(64);
  c->set_batch_size(2);
  c->set_steps(steps);
  c->set_validate_every(10);
  c->set_checkpoint_every(10);
  c->set_validation_images(2);
  c->set_validation_size(64);
  c->set_seed(3);
  request.mutable_spec()->set_output_name(name);
  request.set_client_id("tester");
  return request;
}

v1::SegmentRequest Request(const std::string& model, int64_t version) {
  v1::SegmentRequest request;
  request.set_id("r");
  request.mutable_model()->set_name(model);
  request.mutable_model()->set_version(version);
  cv::Mat frame(64, 64, CV_32F);
  cv::randu(frame, 0, 1);
  *request.mutable_image() = *MakeWireImage(frame);
  return request;
}

v1::Job WaitFor(FringeClient& client, const std::string& id,
                const std::function<bool(const v1::Job&)>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto job = client.GetJob(id);
    if (job.ok() && done(*job)) return *job;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "timed out waiting for " << id << ": "
                    << (job.ok() ? job->DebugString() : job.status().ToString());
      return job.ok() ? *job : v1::Job();
    }
    std::this_thread::sleep_for(100ms);
  }
}

TEST(LabServerTest, JobRunsToCompletionAndItsVersionServes) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = Connect(server);
  auto job = client->SubmitJob(TinyJob(20, "retrained"));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_QUEUED);
  int updates = 0;
  auto last = client->WatchJob(job->id(), [&](const v1::Job&) { ++updates; });
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->state(), v1::JOB_SUCCEEDED) << last->DebugString();
  EXPECT_GE(updates, 2);  // At least queued/running and the end.
  EXPECT_EQ(last->progress().step(), 20);
  EXPECT_EQ(last->result().model_name(), "retrained");
  EXPECT_EQ(last->result().model_version(), 1);
  EXPECT_TRUE(last->result().metrics().count("dice"));
  auto response = client->Segment(Request("retrained", 0));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_name(), "retrained");
  EXPECT_EQ(response->model_version(), 1);
  // Listed, and filtered by state.
  v1::ListJobsRequest list;
  list.set_state(v1::JOB_SUCCEEDED);
  auto jobs = client->ListJobs(list);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->jobs_size(), 1);
  EXPECT_EQ(jobs->jobs(0).owner(), "tester");
}

// Two servers sharing one PostgreSQL queue: a job submitted to one is run by exactly one of
// them and both report the same result.
TEST(LabServerTest, TwoServersShareAPostgresQueue) {
  const char* url = std::getenv("FRINGE_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    if (const char* required = std::getenv("FRINGE_REQUIRE_POSTGRES");
        required != nullptr && std::string(required) == "1") {
      FAIL() << "FRINGE_TEST_POSTGRES_URL is not set (deploy/test.sh starts a local cluster)";
    }
    GTEST_SKIP() << "no PostgreSQL (set FRINGE_TEST_POSTGRES_URL)";
  }
  const std::string database = std::string(url) +
                               (std::string(url).find('?') == std::string::npos ? "?" : "&") +
                               "schema=fringe_lab_" + std::to_string(getpid());
  const std::string repo = MakeRepository();
  ServerProcess a(
      FRINGE_SERVER_BIN, repo,
      {"--jobs-database", database, "--server-id", "a", "--repository-poll-seconds", "1"});
  ServerProcess b(
      FRINGE_SERVER_BIN, repo,
      {"--jobs-database", database, "--server-id", "b", "--repository-poll-seconds", "1"});
  auto client_a = Connect(a);
  auto client_b = Connect(b);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto job = client_a->SubmitJob(TinyJob(10, "shared"));
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->id());
  }
  std::set<int64_t> versions;
  for (const std::string& id : ids) {
    const v1::Job done = WaitFor(
        *client_b, id, [](const v1::Job& j) { return j.state() == v1::JOB_SUCCEEDED; }, 300s);
    ASSERT_EQ(done.state(), v1::JOB_SUCCEEDED) << done.DebugString();
    EXPECT_EQ(done.attempts(), 1);  // Never run twice.
    versions.insert(done.result().model_version());
  }
  EXPECT_EQ(versions.size(), 3u) << "each job registered its own version";
  v1::ListJobsRequest list;
  auto seen_by_a = client_a->ListJobs(list);
  ASSERT_TRUE(seen_by_a.ok());
  EXPECT_EQ(seen_by_a->jobs_size(), 3);
}

// Jobs.List pages newest first with tokens; a token the server did not issue is refused.
TEST(LabServerTest, JobListsPageThroughEveryJob) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = Connect(server);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto job = client->SubmitJob(TinyJob(10, "page-" + std::to_string(i)));
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->id());
  }
  v1::ListJobsRequest request;
  request.set_page_size(2);
  auto first = client->ListJobs(request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->jobs_size(), 2);
  EXPECT_EQ(first->jobs(0).id(), ids[2]);
  ASSERT_FALSE(first->next_page_token().empty());
  request.set_page_token(first->next_page_token());
  auto second = client->ListJobs(request);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->jobs_size(), 1);
  EXPECT_EQ(second->jobs(0).id(), ids[0]);
  EXPECT_TRUE(second->next_page_token().empty());
  request.set_page_token("job-00000001");
  EXPECT_EQ(client->ListJobs(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LabServerTest, BadJobsAreRejectedAtSubmit) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = Connect(server);
  v1::SubmitJobRequest bad = TinyJob(20, "x");
  bad.mutable_spec()->mutable_config()->set_tile(63);  // Not a multiple of 2^depth.
  EXPECT_EQ(client->SubmitJob(bad).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SubmitJobRequest missing = TinyJob(20, "x");
  missing.mutable_spec()->set_dataset("never-uploaded");
  auto r = client->SubmitJob(missing);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("never-uploaded"), std::string::npos);
  v1::SubmitJobRequest sneaky = TinyJob(20, "../../etc");
  EXPECT_EQ(client->SubmitJob(sneaky).status().code(), absl::StatusCode::kInvalidArgument);
  // A job never makes the server open a path of the client's choosing: not as ImageNet
  // weights, not as a starting model, not as labelled data; named weights stay inside the
  // server's pretrained folder.
  v1::SubmitJobRequest weights_path = TinyJob(20, "x");
  weights_path.mutable_spec()->mutable_config()->set_vgg16_weights("/etc/passwd");
  r = client->SubmitJob(weights_path);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("vgg16_weights"), std::string::npos) << r.status();
  v1::SubmitJobRequest init_path = TinyJob(20, "x");
  init_path.mutable_spec()->mutable_config()->set_init_from("/etc");
  EXPECT_EQ(client->SubmitJob(init_path).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SubmitJobRequest data_path = TinyJob(20, "x");
  data_path.mutable_spec()->mutable_config()->mutable_labelled()->set_path("/etc");
  EXPECT_EQ(client->SubmitJob(data_path).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SubmitJobRequest escape = TinyJob(20, "x");
  escape.mutable_spec()->set_pretrained_weights("../jobs.db");
  EXPECT_EQ(client->SubmitJob(escape).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SubmitJobRequest absent = TinyJob(20, "x");
  absent.mutable_spec()->set_pretrained_weights("vgg16.pt");
  r = client->SubmitJob(absent);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("vgg16.pt"), std::string::npos) << r.status();
  // Present in the operator's folder: the name resolves there, and the trainer's own check
  // then applies (a U-Net cannot take vgg16 weights) - proof the file was found by name.
  fs::create_directories(fs::path(server.state_dir()) / "pretrained");
  std::ofstream(fs::path(server.state_dir()) / "pretrained" / "vgg16.pt") << "weights";
  r = client->SubmitJob(absent);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("fcn8s"), std::string::npos) << r.status();
  EXPECT_EQ(client->GetJob("job-99999999").status().code(), absl::StatusCode::kNotFound);
}

TEST(LabServerTest, KillDuringTrainingResumesFromTheCheckpoint) {
  const std::string repo = MakeRepository();
  const std::string state = MakeTempDir("lab_state");
  const std::vector<std::string> args = {"--state-dir", state, "--server-id", "lab-1"};
  std::string id;
  {
    ServerProcess server(FRINGE_SERVER_BIN, repo, args);
    auto client = Connect(server);
    auto job = client->SubmitJob(TinyJob(400, "resumed"));
    ASSERT_TRUE(job.ok()) << job.status();
    id = job->id();
    WaitFor(
        *client, id, [](const v1::Job& j) { return j.progress().step() >= 30; }, 300s);
    ASSERT_EQ(server.StopWith(SIGKILL), 128 + SIGKILL);
  }
  ServerProcess restarted(FRINGE_SERVER_BIN, repo, args);
  auto client = Connect(restarted);
  const v1::Job done = WaitFor(
      *client, id, [](const v1::Job& j) { return j.state() == v1::JOB_SUCCEEDED; }, 600s);
  ASSERT_EQ(done.state(), v1::JOB_SUCCEEDED) << done.DebugString();
  EXPECT_EQ(done.attempts(), 2);
  // The restarted server trained only what was left after the last checkpoint (>= step 30).
  httplib::Client http("127.0.0.1", restarted.metrics_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string key = "\nfringe_training_steps_total ";  // The sample, not # HELP.
  const size_t at = metrics->body.find(key);
  ASSERT_NE(at, std::string::npos);
  const double steps = std::stod(metrics->body.substr(at + key.size()));
  EXPECT_GT(steps, 0);
  EXPECT_LE(steps, 400 - 30);
  EXPECT_TRUE(client->Segment(Request("resumed", 1)).ok());
}

TEST(LabServerTest, TrainingStopsAtTheMemoryBudgetAndServingGoesOn) {
  // A 1 MiB budget is below any process: the job must stop before it trains, not the server.
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository(), {"--training-memory-budget-mb", "1"});
  auto client = Connect(server);
  auto job = client->SubmitJob(TinyJob(50, "hungry"));
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::Job done = WaitFor(
      *client, job->id(), [](const v1::Job& j) { return j.state() >= v1::JOB_SUCCEEDED; }, 120s);
  EXPECT_EQ(done.state(), v1::JOB_FAILED);
  EXPECT_NE(done.error().find("training memory budget"), std::string::npos) << done.error();
  EXPECT_LT(done.progress().step(), 50);
  EXPECT_TRUE(client->Segment(Request("", 0)).ok());
}

TEST(LabServerTest, CancelStopsARunningJobAndAQueuedOneAtOnce) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = Connect(server);
  auto running = client->SubmitJob(TinyJob(100000, "long"));
  auto queued = client->SubmitJob(TinyJob(10, "later"));
  ASSERT_TRUE(running.ok() && queued.ok());
  WaitFor(
      *client, running->id(), [](const v1::Job& j) { return j.progress().step() > 0; }, 120s);
  auto q = client->CancelJob(queued->id());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->state(), v1::JOB_CANCELLED);
  ASSERT_TRUE(client->CancelJob(running->id()).ok());
  const v1::Job stopped = WaitFor(
      *client, running->id(), [](const v1::Job& j) { return j.state() == v1::JOB_CANCELLED; },
      120s);
  EXPECT_EQ(stopped.state(), v1::JOB_CANCELLED);
  EXPECT_EQ(client->CancelJob(running->id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Serving never stopped.
  EXPECT_TRUE(client->Segment(Request("", 0)).ok());
}

TEST(LabServerTest, ModelLifecycleKeepsServingThroughBrokenVersionsAndSwaps) {
  const std::string repo = MakeRepository();
  ServerProcess server(FRINGE_SERVER_BIN, repo, {"--repository-poll-seconds", "-1"});
  auto client = Connect(server);
  // A broken version 2 is reported and version 1 keeps serving.
  testing::WriteTextFile(repo + "/default/2/config.pbtxt", "architecture: \"unet\"\nbogus: 1\n");
  auto broken = client->ModelLifecycle("load", "default", 2);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kFailedPrecondition);
  auto served = client->Segment(Request("", 0));
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(served->model_version(), 1);

  // A good version 3 serves as the latest once loaded; requests during the swap all succeed.
  testing::WriteUNetVersion(repo, "default", 3, testing::TinyUNetConfig(), 7);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, answered{0};
  std::thread load([&] {
    auto c = Connect(server);
    while (!stop) {
      auto r = c->Segment(Request("", 0));
      if (r.ok()) {
        ++answered;
      } else {
        ++failures;
      }
    }
  });
  auto loaded = client->ModelLifecycle("load", "default", 3);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->serving_version(), 3);
  auto pinned = client->ModelLifecycle("promote", "default", 1);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->serving_version(), 1);
  EXPECT_EQ(pinned->pinned_version(), 1);
  std::this_thread::sleep_for(300ms);
  stop = true;
  load.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(client->Segment(Request("", 0))->model_version(), 1);

  // The pinned version cannot be unloaded; rollback returns to 3; then 1 can go.
  EXPECT_EQ(client->ModelLifecycle("unload", "default", 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto back = client->ModelLifecycle("rollback", "default", 0);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->serving_version(), 3);
  auto unloaded = client->ModelLifecycle("unload", "default", 1);
  ASSERT_TRUE(unloaded.ok()) << unloaded.status();
  EXPECT_EQ(client->Segment(Request("default", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(client->ModelLifecycle("load", "default", 1).ok());
  EXPECT_TRUE(client->Segment(Request("default", 1)).ok());
  // The policy file survives for the next start.
  EXPECT_TRUE(fs::exists(repo + "/default/serving.pbtxt"));
}

TEST(LabServerTest, RepositoryWatchPicksUpNewVersions) {
  const std::string repo = MakeRepository();
  ServerProcess server(FRINGE_SERVER_BIN, repo, {"--repository-poll-seconds", "1"});
  auto client = Connect(server);
  testing::WriteUNetVersion(repo, "watched", 1, testing::TinyUNetConfig(), 9);
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    seen = client->Segment(Request("watched", 1)).ok();
    if (!seen) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(seen);
}

TEST(LabServerTest, DatasetUploadIsAllOrNothing) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = Connect(server);
  const std::string dir = MakeTempDir("upload");
  fs::create_directories(dir + "/images");
  fs::create_directories(dir + "/masks");
  for (int i = 0; i < 3; ++i) {
    cv::Mat image(64, 64, CV_8U), mask = cv::Mat::zeros(64, 64, CV_8U);
    cv::randu(image, 0, 255);
    mask(cv::Rect(22, 22, 20, 20)).setTo(255);
    cv::imwrite(dir + "/images/f" + std::to_string(i) + ".png", image);
    cv::imwrite(dir + "/masks/f" + std::to_string(i) + ".png", mask);
  }
  int64_t last_sent = 0;
  auto info = client->UploadDataset(
      "lab-set", dir, [&](int64_t sent, int64_t) { last_sent = sent; },
      /*chunk_bytes=*/1000);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->pairs(), 3);
  EXPECT_EQ(info->bytes(), last_sent);
  EXPECT_EQ(client->UploadDataset("lab-set", dir, nullptr).status().code(),
            absl::StatusCode::kAlreadyExists);
  // A mask without its image: rejected, and nothing is published.
  cv::imwrite(dir + "/masks/orphan.png", cv::Mat::zeros(8, 8, CV_8U));
  EXPECT_EQ(client->UploadDataset("broken-set", dir, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto list = client->ListDatasets();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->datasets_size(), 1);
  EXPECT_EQ(list->datasets(0).name(), "lab-set");
  // A job can train on it.
  v1::SubmitJobRequest job = TinyJob(10, "on-data");
  job.mutable_spec()->set_dataset("lab-set");
  job.mutable_spec()->mutable_config()->set_labelled_fraction(1.0);
  auto submitted = client->SubmitJob(job);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const v1::Job done = WaitFor(
      *client, submitted->id(), [](const v1::Job& j) { return j.state() >= v1::JOB_SUCCEEDED; },
      300s);
  EXPECT_EQ(done.state(), v1::JOB_SUCCEEDED) << done.error();
}

TEST(LabServerTest, MetricsScrapePassesPromtool) {
  ServerProcess server(FRINGE_SERVER_BIN, MakeRepository());
  auto client = Connect(server);
  ASSERT_TRUE(client->Segment(Request("", 0)).ok());
  EXPECT_FALSE(client->Segment(Request("nope", 0)).ok());
  httplib::Client http("127.0.0.1", server.metrics_port());
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  for (const char* name :
       {"fringe_requests_total{code=\"OK\",method=\"Segment\",model=\"default\",version=\"1\"} 1",
        "code=\"NOT_FOUND\"", "fringe_queue_duration_seconds_bucket",
        "fringe_compute_duration_seconds_bucket", "fringe_batch_size_bucket",
        "fringe_queue_depth{class=\"live\"}", "fringe_jobs{state=\"QUEUED\"} 0",
        "fringe_model_versions{state=\"READY\"} 1", "fringe_memory_bytes"}) {
    EXPECT_NE(res->body.find(name), std::string::npos) << name;
  }
  const std::string file = MakeTempDir("scrape") + "/metrics.txt";
  std::ofstream(file) << res->body;
  std::string output;
  const int rc =
      testing::RunCommand({"/bin/sh", "-c", "promtool check metrics < " + file}, &output);
  EXPECT_EQ(rc, 0) << output;
}

}  // namespace
}  // namespace fringe
