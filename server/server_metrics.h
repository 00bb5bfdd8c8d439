// fringe-server's Prometheus metrics (names prefixed fringe_) in one registry, and the
// /metrics HTTP endpoint that exposes them. The registry is the one piece of global-ish
// mutable state DESIGN §5 allows; it is owned by the server and handed to what records.
#ifndef FRINGE_SERVER_SERVER_METRICS_H_
#define FRINGE_SERVER_SERVER_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}

namespace fringe {

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();

  // One finished RPC (or one request inside a stream): method ("Segment", "SegmentStream",
  // "Explain", ...), model name and version ("" when none was resolved), gRPC code name.
  void RecordRequest(const std::string& method, const std::string& model,
                     const std::string& version, const std::string& code, double seconds);
  // Time spent computing (network, stitching, attribution) for one request.
  void ObserveComputeSeconds(const std::string& method, const std::string& model, double seconds);
  // One segmented frame's quality signals (models/frame_quality.h) and how it was scaled
  // ("native", "resampled", "unknown_pixel_size", "out_of_range").
  void ObserveFrameQuality(const std::string& model, double particle_fraction,
                           double mean_entropy_bits, bool out_of_domain,
                           const std::string& scale_decision, int spikes_removed);
  // Time a work item waited in the scheduler, by priority class.
  void ObserveQueueSeconds(const std::string& work_class, double seconds);
  void ObserveBatchSize(const std::string& model, size_t size);
  void SetQueueDepth(const std::string& work_class, size_t depth);
  void SetInFlight(size_t running);
  // Jobs by state ("QUEUED", "RUNNING", ...).
  void SetJobs(const std::string& state, int64_t count);
  void SetTrainingProgress(const std::string& job, int64_t step, double loss);
  void RecordTrainingStep();
  // Model versions by state, set on every repository change.
  void SetModelVersions(const std::string& state, int64_t count);

  // Called at every scrape before serialising (e.g. to refresh job counts).
  void AddScrapeHook(std::function<void()> hook);

  // The Prometheus text exposition of everything (refreshes process memory first).
  std::string Serialize();

  prometheus::Registry& registry();

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
};

// Serves GET /metrics (text format 0.0.4) on its own thread. cpp-httplib's threads have
// normal stacks, unlike the civetweb Exposer's (DESIGN §7).
class MetricsHttpServer {
 public:
  // Binds HOST:PORT (port 0 picks one) and starts serving. UNAVAILABLE when it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                                  ServerMetrics* metrics);
  ~MetricsHttpServer();
  int port() const { return port_; }

 private:
  struct Impl;
  MetricsHttpServer() = default;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_SERVER_METRICS_H_
