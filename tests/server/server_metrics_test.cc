#include "server/server_metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace fringe {
namespace {

TEST(ServerMetricsTest, SerializesEveryFamilyWithLabels) {
  ServerMetrics metrics;
  metrics.RecordRequest("Segment", "default", "1", "OK", 0.12);
  metrics.RecordRequest("Segment", "default", "1", "INVALID_ARGUMENT", 0.001);
  metrics.ObserveQueueSeconds("live", 0.003);
  metrics.ObserveComputeSeconds("Segment", "default", 0.1);
  metrics.ObserveBatchSize("default:1", 3);
  metrics.SetJobs("RUNNING", 1);
  metrics.SetTrainingProgress("job-1", 40, 0.25);
  int hook_calls = 0;
  metrics.AddScrapeHook([&] { ++hook_calls; });
  const std::string text = metrics.Serialize();
  EXPECT_EQ(hook_calls, 1);
  for (const char* expected :
       {"fringe_requests_total{code=\"OK\",method=\"Segment\",model=\"default\",version=\"1\"} 1",
        "fringe_requests_total{code=\"INVALID_ARGUMENT\"", "fringe_request_duration_seconds_bucket",
        "fringe_queue_duration_seconds_count{class=\"live\"} 1",
        "fringe_batch_size_sum{model=\"default:1\"} 3", "fringe_jobs{state=\"RUNNING\"} 1",
        "fringe_training_step{job=\"job-1\"} 40", "fringe_queue_depth{class=\"batch\"} 0",
        "fringe_memory_bytes{kind=\"process_resident\"}"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

TEST(ServerMetricsTest, ExportsFrameQualityAndScaling) {
  ServerMetrics metrics;
  metrics.ObserveFrameQuality("default", 0.08, 0.03, false, "resampled", 0);
  metrics.ObserveFrameQuality("default", 0.7, 0.4, true, "unknown_pixel_size", 3);
  const std::string text = metrics.Serialize();
  for (const char* expected :
       {"fringe_frame_particle_fraction_count{model=\"default\"} 2",
        "fringe_frame_entropy_ratio_count{model=\"default\"} 2",
        "fringe_frames_out_of_domain_total{model=\"default\"} 1",
        "fringe_frames_scaled_total{decision=\"resampled\",model=\"default\"} 1",
        "fringe_frames_scaled_total{decision=\"unknown_pixel_size\",model=\"default\"} 1",
        "fringe_spikes_removed_total{model=\"default\"} 3"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

TEST(MetricsHttpServerTest, ServesTheExpositionOverHttp) {
  ServerMetrics metrics;
  metrics.RecordRequest("Explain", "default", "1", "OK", 0.5);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &metrics);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
  EXPECT_NE(res->body.find("method=\"Explain\""), std::string::npos);
  EXPECT_EQ(client.Get("/nothing-here")->status, 404);
}

TEST(MetricsHttpServerTest, RejectsBadAddresses) {
  ServerMetrics metrics;
  EXPECT_EQ(MetricsHttpServer::Start("no-port", &metrics).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsHttpServer::Start("127.0.0.1:99999", &metrics).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsHttpServer::Start("127.0.0.1:0", &metrics);
  ASSERT_TRUE(first.ok());
  auto clash = MetricsHttpServer::Start("127.0.0.1:" + std::to_string((*first)->port()), &metrics);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fringe
