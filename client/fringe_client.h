// C++ client library for a fringe server: health, model listing, unary and streaming
// segmentation, and client-side tiling of frames too large for one message.
#ifndef FRINGE_CLIENT_FRINGE_CLIENT_H_
#define FRINGE_CLIENT_FRINGE_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pixel_scale.h"
#include "fringe/v1/datasets.grpc.pb.h"
#include "fringe/v1/explain.grpc.pb.h"
#include "fringe/v1/jobs.grpc.pb.h"
#include "fringe/v1/models.grpc.pb.h"
#include "fringe/v1/segmentation.grpc.pb.h"
#include "fringe/v1/server.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace fringe {

class FringeClient {
 public:
  struct Options {
    std::string target = "127.0.0.1:50051";
    int64_t max_message_bytes = int64_t{256} << 20;
    std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // Per unary call.
  };

  // Creates a channel; does not connect until the first call.
  static std::unique_ptr<FringeClient> Create(const Options& options);

  // grpc.health.v1 Check for `service` ("" = the whole server). UNAVAILABLE when the server
  // cannot be reached.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      const std::string& service = "");

  // fringe.v1.Server.GetMetadata: API and release, device, limits, services.
  absl::StatusOr<v1::ServerMetadata> GetServerMetadata();

  // Every model (all pages of Models.List).
  absl::StatusOr<v1::ListModelsResponse> ListModels();
  absl::StatusOr<v1::ModelDescription> Describe(const std::string& name, int64_t version);

  // One request, one response; the server's status converted to absl::Status.
  absl::StatusOr<v1::SegmentResponse> Segment(const v1::SegmentRequest& request);

  // Opens one SegmentStream and sends the requests `next` produces (it returns false when
  // there are no more) with at most `max_in_flight` unanswered; `on_response` is called from
  // the calling thread in request order, or as responses finish when the first request sets
  // stream_order = STREAM_ORDER_COMPLETION (match them by id). `next` runs on a writer thread,
  // concurrently with `on_response`: state the two share needs a lock. Returns the stream's final
  // status.
  absl::Status SegmentStream(const std::function<bool(v1::SegmentRequest*)>& next,
                             const std::function<void(v1::SegmentResponse&&)>& on_response,
                             int max_in_flight);

  // Model lifecycle: "load", "unload", "promote" or "rollback".
  absl::StatusOr<v1::ModelDescription> ModelLifecycle(const std::string& op,
                                                      const std::string& name, int64_t version);

  // Training jobs.
  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::Job> GetJob(const std::string& id);
  // One page of jobs, newest first (request.page_token from the previous response).
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> CancelJob(const std::string& id);
  // Calls `on_update` with every snapshot until the job finishes; returns the last one.
  absl::StatusOr<v1::Job> WatchJob(const std::string& id,
                                   const std::function<void(const v1::Job&)>& on_update);

  // Uploads `dir`/images/* and `dir`/masks/* as dataset `name` in chunks of `chunk_bytes`
  // with a SHA-256 per file; `on_progress(sent, total)` after every chunk.
  absl::StatusOr<v1::DatasetInfo> UploadDataset(
      const std::string& name, const std::string& dir,
      const std::function<void(int64_t, int64_t)>& on_progress, int64_t chunk_bytes = 1 << 20);
  // Every dataset (all pages of Datasets.List).
  absl::StatusOr<v1::ListDatasetsResponse> ListDatasets();

  // One explanation (relevance map) for a frame.
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request);

  // Segments a frame of any size by sending pieces of at most `chunk` x `chunk` pixels that
  // overlap by 2 * `margin`, each standardised with the whole frame's statistics, and
  // stitching the owned centres. X-ray spikes are removed before those statistics are taken
  // (as the server does for a whole frame), and each piece carries `pixel` so the server
  // resamples it to the model's scale. Returns the mask (CV_8U class indices) at the frame's
  // size; the pieces' distinct warnings are appended to `warnings` when given.
  absl::StatusOr<cv::Mat> SegmentLargeFrame(const cv::Mat& frame, const v1::ModelRef& model,
                                            int chunk = 2048, int margin = 64, PixelSize pixel = {},
                                            std::vector<std::string>* warnings = nullptr);

 private:
  explicit FringeClient(const Options& options);

  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Segmentation::Stub> segmentation_;
  std::unique_ptr<v1::Models::Stub> models_;
  std::unique_ptr<v1::Explain::Stub> explain_;
  std::unique_ptr<v1::Jobs::Stub> jobs_;
  std::unique_ptr<v1::Datasets::Stub> datasets_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::unique_ptr<v1::Server::Stub> server_;
};

// Converts a gRPC status to absl::Status (same code and message).
absl::Status FromGrpcStatus(const grpc::Status& status);

// Parses "NAME" or "NAME:VERSION" (an empty string means the server's default model).
absl::StatusOr<v1::ModelRef> ParseModelRef(const std::string& text);

// Builds the wire image for a frame: the tensor keeps the frame's depth when it is uint8,
// uint16, int16 or float32 (others are sent as float32).
absl::StatusOr<v1::Image> MakeWireImage(const cv::Mat& frame);

// Sets Image.pixel_size_nm (x) and, for non-square pixels, Image.pixel_size_y_nm: from
// `override_nm` when it is > 0 (both axes), else from the file's per-axis calibration
// (x_nm/y_nm, nullopt = unknown; readers already drop reciprocal units such as 1/nm). An axis
// known without the other counts as unknown. Returns the pixel size set (0s = unknown).
PixelSize SetWirePixelSize(std::optional<double> x_nm, std::optional<double> y_nm,
                           double override_nm, v1::Image* wire);

// One line per warning and per out-of-domain reason of a response, for the CLI, each starting
// with two spaces ("  warning: ...", "  out of domain: ..."). Empty when there are none.
std::string DescribeTrust(const v1::SegmentResponse& response);

}  // namespace fringe

#endif  // FRINGE_CLIENT_FRINGE_CLIENT_H_
