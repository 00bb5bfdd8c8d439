#include "server/server_metrics.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/process_memory.h"

namespace fringe {
namespace {

// Request latencies from 1 ms to ~60 s; a 512x512 CPU tile takes ~100 ms.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3,
          0.5,   0.75,   1,     1.5,  2.5,   5,    10,  30,   60};
}

}  // namespace

struct ServerMetrics::Families {
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& request_seconds;
  prometheus::Family<prometheus::Histogram>& compute_seconds;
  prometheus::Family<prometheus::Histogram>& queue_seconds;
  prometheus::Family<prometheus::Histogram>& batch_size;
  prometheus::Family<prometheus::Gauge>& queue_depth;
  prometheus::Family<prometheus::Gauge>& in_flight;
  prometheus::Family<prometheus::Gauge>& jobs;
  prometheus::Family<prometheus::Gauge>& training_step;
  prometheus::Family<prometheus::Gauge>& training_loss;
  prometheus::Family<prometheus::Counter>& training_steps;
  prometheus::Family<prometheus::Gauge>& model_versions;
  prometheus::Family<prometheus::Gauge>& memory;
  prometheus::Family<prometheus::Histogram>& particle_fraction;
  prometheus::Family<prometheus::Histogram>& entropy;
  prometheus::Family<prometheus::Counter>& out_of_domain;
  prometheus::Family<prometheus::Counter>& frame_scale;
  prometheus::Family<prometheus::Counter>& spikes;
  std::mutex hooks_mu;
  std::vector<std::function<void()>> hooks;
};

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  Registry& r = *registry_;
  f_.reset(new Families{
      BuildCounter()
          .Name("fringe_requests_total")
          .Help("Requests answered, by method, model, version and gRPC status code.")
          .Register(r),
      BuildHistogram()
          .Name("fringe_request_duration_seconds")
          .Help("Server-side time from receipt to response, by method and model.")
          .Register(r),
      BuildHistogram()
          .Name("fringe_compute_duration_seconds")
          .Help("Time computing a request (network, stitching, attribution).")
          .Register(r),
      BuildHistogram()
          .Name("fringe_queue_duration_seconds")
          .Help("Time a request waited in the scheduler, by priority class.")
          .Register(r),
      BuildHistogram()
          .Name("fringe_batch_size")
          .Help("Requests run together in one network call (dynamic batching).")
          .Register(r),
      BuildGauge()
          .Name("fringe_queue_depth")
          .Help("Requests waiting in the scheduler, by priority class.")
          .Register(r),
      BuildGauge().Name("fringe_in_flight").Help("Requests running on the device now.").Register(r),
      BuildGauge().Name("fringe_jobs").Help("Training jobs by state.").Register(r),
      BuildGauge()
          .Name("fringe_training_step")
          .Help("Last step reported by a running training job.")
          .Register(r),
      BuildGauge()
          .Name("fringe_training_loss")
          .Help("Last training loss reported by a running job.")
          .Register(r),
      BuildCounter()
          .Name("fringe_training_steps_total")
          .Help("Training steps run on this server's device.")
          .Register(r),
      BuildGauge()
          .Name("fringe_model_versions")
          .Help("Model versions in the repository by state.")
          .Register(r),
      BuildGauge()
          .Name("fringe_memory_bytes")
          .Help("Memory: process resident and peak resident bytes (the device is the CPU).")
          .Register(r),
      BuildHistogram()
          .Name("fringe_frame_particle_fraction")
          .Help("Share of each segmented frame predicted as particle, by model.")
          .Register(r),
      BuildHistogram()
          .Name("fringe_frame_entropy_ratio")
          .Help("Mean predictive entropy of each segmented frame over its maximum (0 certain .. 1 "
                "coin flip).")
          .Register(r),
      BuildCounter()
          .Name("fringe_frames_out_of_domain_total")
          .Help("Segmented frames flagged out of domain (FrameQuality.out_of_domain), by model.")
          .Register(r),
      BuildCounter()
          .Name("fringe_frames_scaled_total")
          .Help("Segmented frames by how they were brought to the model's pixel size.")
          .Register(r),
      BuildCounter()
          .Name("fringe_spikes_removed_total")
          .Help("X-ray spikes and hot pixels replaced before standardisation, by model.")
          .Register(r),
      {},
      {}});
  // Series that should exist from the start, so dashboards show zeros instead of gaps.
  f_->training_steps.Add({});
  for (const char* c : {"live", "interactive", "explain", "batch"}) SetQueueDepth(c, 0);
  SetInFlight(0);
}

ServerMetrics::~ServerMetrics() = default;

prometheus::Registry& ServerMetrics::registry() { return *registry_; }

void ServerMetrics::RecordRequest(const std::string& method, const std::string& model,
                                  const std::string& version, const std::string& code,
                                  double seconds) {
  f_->requests.Add({{"method", method}, {"model", model}, {"version", version}, {"code", code}})
      .Increment();
  f_->request_seconds.Add({{"method", method}, {"model", model}}, LatencyBuckets())
      .Observe(seconds);
}

void ServerMetrics::ObserveComputeSeconds(const std::string& method, const std::string& model,
                                          double seconds) {
  f_->compute_seconds.Add({{"method", method}, {"model", model}}, LatencyBuckets())
      .Observe(seconds);
}

void ServerMetrics::ObserveFrameQuality(const std::string& model, double particle_fraction,
                                        double mean_entropy_bits, bool out_of_domain,
                                        const std::string& scale_decision, int spikes_removed) {
  static const prometheus::Histogram::BucketBoundaries kFractionBuckets = {
      0.0001, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1};
  f_->particle_fraction.Add({{"model", model}}, kFractionBuckets).Observe(particle_fraction);
  f_->entropy.Add({{"model", model}}, kFractionBuckets).Observe(mean_entropy_bits);
  auto& ood = f_->out_of_domain.Add({{"model", model}});
  if (out_of_domain) ood.Increment();
  f_->frame_scale.Add({{"model", model}, {"decision", scale_decision}}).Increment();
  auto& spikes = f_->spikes.Add({{"model", model}});
  if (spikes_removed > 0) spikes.Increment(spikes_removed);
}

void ServerMetrics::ObserveQueueSeconds(const std::string& work_class, double seconds) {
  f_->queue_seconds.Add({{"class", work_class}}, LatencyBuckets()).Observe(seconds);
}

void ServerMetrics::ObserveBatchSize(const std::string& model, size_t size) {
  f_->batch_size
      .Add({{"model", model}}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32})
      .Observe(static_cast<double>(size));
}

void ServerMetrics::SetQueueDepth(const std::string& work_class, size_t depth) {
  f_->queue_depth.Add({{"class", work_class}}).Set(static_cast<double>(depth));
}

void ServerMetrics::SetInFlight(size_t running) {
  f_->in_flight.Add({}).Set(static_cast<double>(running));
}

void ServerMetrics::SetJobs(const std::string& state, int64_t count) {
  f_->jobs.Add({{"state", state}}).Set(static_cast<double>(count));
}

void ServerMetrics::SetTrainingProgress(const std::string& job, int64_t step, double loss) {
  f_->training_step.Add({{"job", job}}).Set(static_cast<double>(step));
  f_->training_loss.Add({{"job", job}}).Set(loss);
}

void ServerMetrics::RecordTrainingStep() { f_->training_steps.Add({}).Increment(); }

void ServerMetrics::SetModelVersions(const std::string& state, int64_t count) {
  f_->model_versions.Add({{"state", state}}).Set(static_cast<double>(count));
}

void ServerMetrics::AddScrapeHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(f_->hooks_mu);
  f_->hooks.push_back(std::move(hook));
}

std::string ServerMetrics::Serialize() {
  {
    std::lock_guard<std::mutex> lock(f_->hooks_mu);
    for (const auto& hook : f_->hooks) hook();
  }
  f_->memory.Add({{"kind", "process_resident"}})
      .Set(static_cast<double>(ProcessStatusBytes("VmRSS")));
  f_->memory.Add({{"kind", "process_peak_resident"}})
      .Set(static_cast<double>(ProcessStatusBytes("VmHWM")));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

struct MetricsHttpServer::Impl {
  httplib::Server http;
  std::thread thread;
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, ServerMetrics* metrics) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen must be HOST:PORT, got \"", listen, "\""));
  }
  const std::string host = listen.substr(0, colon);
  std::unique_ptr<MetricsHttpServer> s(new MetricsHttpServer());
  s->impl_ = std::make_unique<Impl>();
  s->impl_->http.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Serialize(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s->impl_->http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("fringe-server metrics: see /metrics\n", "text/plain");
  });
  // cpp-httplib's default also sets SO_REUSEPORT, which would let a second server share the
  // port silently; a clash must be an error.
  s->impl_->http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  if (port == 0) {
    s->port_ = s->impl_->http.bind_to_any_port(host);
  } else {
    s->port_ = s->impl_->http.bind_to_port(host, port) ? port : -1;
  }
  if (s->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", listen));
  }
  Impl* impl = s->impl_.get();
  impl->thread = std::thread([impl] { impl->http.listen_after_bind(); });
  // stop() is a no-op until the loop runs, so a server destroyed right away would never stop:
  // return only once it is running.
  while (!impl->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return s;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (impl_) {
    impl_->http.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  }
}

}  // namespace fringe
