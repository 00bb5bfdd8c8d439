#include "client/fringe_client.h"

#include <grpcpp/create_channel.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "common/frame_stats.h"
#include "common/spike_filter.h"
#include "common/status_details.h"
#include "common/tensor_codec.h"
#include "common/tile_grid.h"
#include "google/rpc/status.pb.h"

namespace fringe {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  // The rich error model: details (e.g. a RetryInfo) come as a serialized google.rpc.Status.
  google::rpc::Status details;
  if (!status.ok() && !status.error_details().empty() &&
      details.ParseFromString(status.error_details())) {
    details.set_code(status.error_code());
    details.set_message(status.error_message());
    return FromStatusProto(details);
  }
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<v1::ModelRef> ParseModelRef(const std::string& text) {
  v1::ModelRef ref;
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    ref.set_name(text);
    return ref;
  }
  int64_t version = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &version) || version <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model \"", text, "\": expected NAME or NAME:VERSION with VERSION >= 1"));
  }
  ref.set_name(text.substr(0, colon));
  ref.set_version(version);
  return ref;
}

absl::StatusOr<v1::Image> MakeWireImage(const cv::Mat& frame) {
  if (frame.empty() || frame.channels() != 1 || frame.dims != 2) {
    return absl::InvalidArgumentError("a frame must be a non-empty 2-D single-channel image");
  }
  cv::Mat wire = frame;
  const int depth = frame.depth();
  if (depth != CV_8U && depth != CV_16U && depth != CV_16S && depth != CV_32F) {
    frame.convertTo(wire, CV_32F);
  }
  v1::Image image;
  auto tensor = MatToTensor(wire);
  if (!tensor.ok()) return tensor.status();
  *image.mutable_tensor() = *std::move(tensor);
  return image;
}

FringeClient::FringeClient(const Options& options) : options_(options) {
  grpc::ChannelArguments args;
  const int limit = static_cast<int>(
      std::min<int64_t>(options.max_message_bytes, std::numeric_limits<int>::max()));
  args.SetMaxReceiveMessageSize(limit);
  args.SetMaxSendMessageSize(limit);
  channel_ = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  segmentation_ = v1::Segmentation::NewStub(channel_);
  models_ = v1::Models::NewStub(channel_);
  explain_ = v1::Explain::NewStub(channel_);
  jobs_ = v1::Jobs::NewStub(channel_);
  datasets_ = v1::Datasets::NewStub(channel_);
  health_ = grpc::health::v1::Health::NewStub(channel_);
  server_ = v1::Server::NewStub(channel_);
}

std::unique_ptr<FringeClient> FringeClient::Create(const Options& options) {
  return std::unique_ptr<FringeClient>(new FringeClient(options));
}

namespace {
void SetDeadline(grpc::ClientContext* context, std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// One unary call with the client's timeout; the status converted to absl::Status.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Unary(Stub* stub,
                               grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                            Response*),
                               const Request& request, std::chrono::milliseconds timeout) {
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  Response response;
  const grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

v1::JobRequest JobId(const std::string& id) {
  v1::JobRequest request;
  request.set_id(id);
  return request;
}
}  // namespace

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> FringeClient::Health(
    const std::string& service) {
  grpc::ClientContext context;
  SetDeadline(&context, std::min(options_.timeout, std::chrono::milliseconds(10000)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health_->Check(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.status();
}

absl::StatusOr<v1::ServerMetadata> FringeClient::GetServerMetadata() {
  return Unary(server_.get(), &v1::Server::Stub::GetMetadata, v1::GetServerMetadataRequest(),
               options_.timeout);
}

absl::StatusOr<v1::ListModelsResponse> FringeClient::ListModels() {
  v1::ListModelsRequest request;
  v1::ListModelsResponse all;
  do {  // Every page.
    auto page = Unary(models_.get(), &v1::Models::Stub::List, request, options_.timeout);
    if (!page.ok()) return page.status();
    for (v1::ModelDescription& m : *page->mutable_models()) *all.add_models() = std::move(m);
    all.set_default_model(page->default_model());
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return all;
}

absl::StatusOr<v1::ModelDescription> FringeClient::Describe(const std::string& name,
                                                            int64_t version) {
  v1::DescribeModelRequest request;
  request.set_name(name);
  request.set_version(version);
  return Unary(models_.get(), &v1::Models::Stub::Describe, request, options_.timeout);
}

absl::StatusOr<v1::ModelDescription> FringeClient::ModelLifecycle(const std::string& op,
                                                                  const std::string& name,
                                                                  int64_t version) {
  v1::ModelVersionRequest request;
  request.set_name(name);
  request.set_version(version);
  using Method = grpc::Status (v1::Models::Stub::*)(
      grpc::ClientContext*, const v1::ModelVersionRequest&, v1::ModelDescription*);
  Method method = nullptr;
  if (op == "load") method = &v1::Models::Stub::Load;
  if (op == "unload") method = &v1::Models::Stub::Unload;
  if (op == "promote") method = &v1::Models::Stub::Promote;
  if (op == "rollback") method = &v1::Models::Stub::Rollback;
  if (method == nullptr) return absl::InvalidArgumentError("unknown model operation " + op);
  return Unary(models_.get(), method, request, options_.timeout);
}

absl::StatusOr<v1::Job> FringeClient::SubmitJob(const v1::SubmitJobRequest& request) {
  return Unary(jobs_.get(), &v1::Jobs::Stub::Submit, request, options_.timeout);
}

absl::StatusOr<v1::Job> FringeClient::GetJob(const std::string& id) {
  return Unary(jobs_.get(), &v1::Jobs::Stub::Get, JobId(id), options_.timeout);
}

absl::StatusOr<v1::ListJobsResponse> FringeClient::ListJobs(const v1::ListJobsRequest& request) {
  return Unary(jobs_.get(), &v1::Jobs::Stub::List, request, options_.timeout);
}

absl::StatusOr<v1::Job> FringeClient::CancelJob(const std::string& id) {
  return Unary(jobs_.get(), &v1::Jobs::Stub::Cancel, JobId(id), options_.timeout);
}

absl::StatusOr<v1::Job> FringeClient::WatchJob(
    const std::string& id, const std::function<void(const v1::Job&)>& on_update) {
  grpc::ClientContext context;  // No deadline: training takes as long as it takes.
  v1::JobRequest request;
  request.set_id(id);
  auto reader = jobs_->Watch(&context, request);
  v1::Job job, last;
  bool any = false;
  while (reader->Read(&job)) {
    on_update(job);
    last = job;
    any = true;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!any) return absl::UnavailableError("the watch ended without any update");
  return last;
}

absl::StatusOr<v1::DatasetInfo> FringeClient::UploadDataset(
    const std::string& name, const std::string& dir,
    const std::function<void(int64_t, int64_t)>& on_progress, int64_t chunk_bytes) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, fs::path>> files;  // wire name, local path
  int64_t total = 0;
  for (const char* folder : {"images", "masks"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(dir) / folder, ec)) {
      if (!e.is_regular_file()) continue;
      files.emplace_back(std::string(folder) + "/" + e.path().filename().string(), e.path());
      total += static_cast<int64_t>(e.file_size());
    }
    if (ec) {
      return absl::NotFoundError(
          absl::StrCat("cannot read ", (fs::path(dir) / folder).string(), ": ", ec.message()));
    }
  }
  std::sort(files.begin(), files.end());
  grpc::ClientContext context;
  v1::DatasetInfo response;
  auto writer = datasets_->Upload(&context, &response);
  int64_t sent = 0;
  std::string buffer(static_cast<size_t>(chunk_bytes), '\0');
  for (const auto& [wire, path] : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError("cannot read " + path.string());
    Sha256 hash;
    int64_t offset = 0;
    for (;;) {
      in.read(buffer.data(), chunk_bytes);
      const std::streamsize n = in.gcount();
      hash.Update(buffer.data(), static_cast<size_t>(n));
      v1::DatasetChunk chunk;
      chunk.set_dataset(name);
      chunk.set_file(wire);
      chunk.set_offset(offset);
      chunk.set_data(buffer.data(), static_cast<size_t>(n));
      const bool last = in.peek() == std::char_traits<char>::eof();
      if (last) chunk.set_sha256(hash.HexDigest());
      if (!writer->Write(chunk)) break;  // The server ended the call; Finish() says why.
      offset += n;
      sent += n;
      if (on_progress) on_progress(sent, total);
      if (last) break;
    }
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::ListDatasetsResponse> FringeClient::ListDatasets() {
  v1::ListDatasetsRequest request;
  v1::ListDatasetsResponse all;
  do {  // Every page.
    auto page = Unary(datasets_.get(), &v1::Datasets::Stub::List, request, options_.timeout);
    if (!page.ok()) return page.status();
    for (v1::DatasetInfo& d : *page->mutable_datasets()) *all.add_datasets() = std::move(d);
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return all;
}

absl::StatusOr<v1::SegmentResponse> FringeClient::Segment(const v1::SegmentRequest& request) {
  return Unary(segmentation_.get(), &v1::Segmentation::Stub::Segment, request, options_.timeout);
}

absl::StatusOr<v1::ExplainResponse> FringeClient::Explain(const v1::ExplainRequest& request) {
  return Unary(explain_.get(), &v1::Explain::Stub::Explain, request, options_.timeout);
}

absl::Status FringeClient::SegmentStream(
    const std::function<bool(v1::SegmentRequest*)>& next,
    const std::function<void(v1::SegmentResponse&&)>& on_response, int max_in_flight) {
  if (max_in_flight < 1) return absl::InvalidArgumentError("max_in_flight must be >= 1");
  grpc::ClientContext context;
  auto stream = segmentation_->SegmentStream(&context);

  // The writer thread sends while this thread reads; a counter bounds what is unanswered.
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  bool reader_done = false;
  std::thread writer([&] {
    v1::SegmentRequest request;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return in_flight < max_in_flight || reader_done; });
        if (reader_done) break;
      }
      request.Clear();
      if (!next(&request)) break;
      {
        std::lock_guard<std::mutex> lock(mu);
        ++in_flight;
      }
      if (!stream->Write(request)) break;  // The stream broke; Finish() tells why.
    }
    stream->WritesDone();
  });

  v1::SegmentResponse response;
  while (stream->Read(&response)) {
    {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
    }
    cv.notify_all();
    on_response(std::move(response));
    response.Clear();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    reader_done = true;
  }
  cv.notify_all();
  writer.join();
  return FromGrpcStatus(stream->Finish());
}

PixelSize SetWirePixelSize(std::optional<double> x_nm, std::optional<double> y_nm,
                           double override_nm, v1::Image* wire) {
  PixelSize p;
  if (override_nm > 0) {
    p = {override_nm, override_nm};
  } else if (x_nm && y_nm && *x_nm > 0 && *y_nm > 0) {
    p = {*x_nm, *y_nm};
  }
  wire->set_pixel_size_nm(p.x_nm);
  wire->set_pixel_size_y_nm(p.y_nm != p.x_nm ? p.y_nm : 0.0);
  return p;
}

std::string DescribeTrust(const v1::SegmentResponse& response) {
  std::string out;
  for (const std::string& w : response.warnings()) absl::StrAppend(&out, "  warning: ", w, "\n");
  if (response.quality().out_of_domain()) {
    for (const std::string& r : response.quality().reasons()) {
      // The scale's own warning is already printed once above.
      if (std::find(response.warnings().begin(), response.warnings().end(), r) !=
          response.warnings().end()) {
        continue;
      }
      absl::StrAppend(&out, "  out of domain: ", r, "\n");
    }
  }
  return out;
}

absl::StatusOr<cv::Mat> FringeClient::SegmentLargeFrame(const cv::Mat& frame,
                                                        const v1::ModelRef& model, int chunk,
                                                        int margin, PixelSize pixel,
                                                        std::vector<std::string>* warnings) {
  if (chunk < 16 || 2 * margin >= chunk) {
    return absl::InvalidArgumentError("chunk must be >= 16 and larger than 2 * margin");
  }
  cv::Mat as_float;
  frame.convertTo(as_float, CV_32F);
  RemoveSpikes(&as_float);
  const FrameStats stats = ComputeFrameStats(as_float);
  const std::vector<TileSpan> rows = PlanTiles(frame.rows, chunk, margin);
  const std::vector<TileSpan> cols = PlanTiles(frame.cols, chunk, margin);
  cv::Mat mask(frame.rows, frame.cols, CV_8U);
  for (const TileSpan& y : rows) {
    for (const TileSpan& x : cols) {
      const cv::Rect piece(x.start, y.start, std::min(chunk, frame.cols),
                           std::min(chunk, frame.rows));
      v1::SegmentRequest request;
      *request.mutable_model() = model;
      request.set_id(absl::StrCat("chunk_", y.start, "_", x.start));
      auto image = MakeWireImage(frame(piece).clone());  // The server removes its spikes too.
      if (!image.ok()) return image.status();
      *request.mutable_image() = *std::move(image);
      SetWirePixelSize(pixel.x_nm > 0 ? std::optional<double>(pixel.x_nm) : std::nullopt,
                       pixel.y_nm > 0 ? std::optional<double>(pixel.y_nm) : std::nullopt, 0,
                       request.mutable_image());
      request.mutable_image()->mutable_statistics()->set_mean(stats.mean);
      request.mutable_image()->mutable_statistics()->set_stddev(stats.stddev);
      auto response = Segment(request);
      if (!response.ok()) return response.status();
      if (warnings != nullptr) {
        for (const std::string& w : response->warnings()) {
          if (std::find(warnings->begin(), warnings->end(), w) == warnings->end()) {
            warnings->push_back(w);
          }
        }
      }
      auto piece_mask = TensorToMat(response->mask(), "mask");
      if (!piece_mask.ok()) return piece_mask.status();
      const cv::Rect own(x.own_begin - x.start, y.own_begin - y.start, x.own_end - x.own_begin,
                         y.own_end - y.own_begin);
      (*piece_mask)(own).copyTo(mask(cv::Rect(x.own_begin, y.own_begin, own.width, own.height)));
    }
  }
  return mask;
}

}  // namespace fringe
