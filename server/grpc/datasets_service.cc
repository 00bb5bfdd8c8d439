#include "server/grpc/datasets_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "base/status_macros.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/scheduled_call.h"
#include "server/paging.h"

namespace fringe {
namespace {

// Reads chunks on the reaction and writes them (append + hash, then publish at the end) on
// the service's background thread: a reaction must never wait for a disk. The next chunk is
// read only after the previous one is written, so at most one chunk per upload is in memory
// and a slow disk pushes back on the client through flow control.
class UploadReactor final : public grpc::ServerReadReactor<v1::DatasetChunk> {
 public:
  UploadReactor(const DatasetStore* store, SerialExecutor* background, v1::DatasetInfo* response)
      : store_(store), background_(background), response_(response) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    const bool queued = background_->Submit([this, ok] { ok ? WriteChunk() : Publish(); });
    if (!queued) {
      upload_.reset();
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    }
  }

  // A cancelled upload ends its reads like a complete one; it must not be published.
  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }

 private:
  // On the background thread. Finish() is each path's last use of `this`: OnDone may delete
  // the reactor as soon as it is called.
  void WriteChunk() {
    absl::Status s = Upload().Write(chunk_.dataset(), chunk_.file(), chunk_.offset(), chunk_.data(),
                                    chunk_.sha256());
    if (!s.ok()) {
      spdlog::info("dataset_upload_failed error=\"{}\"", std::string(s.message()));
      upload_.reset();  // Removes the staging folder.
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&chunk_);
  }

  // The staging folder, made on the background thread when first needed.
  DatasetUpload& Upload() {
    if (!upload_) upload_ = store_->BeginUpload();
    return *upload_;
  }

  // The client finished sending: check and publish.
  void Publish() {
    if (cancelled_.load()) {
      upload_.reset();
      Finish(grpc::Status::CANCELLED);
      return;
    }
    auto summary = Upload().Commit();
    if (summary.ok()) {
      response_->set_name(summary->name);
      response_->set_pairs(summary->pairs);
      response_->set_bytes(summary->bytes);
      spdlog::info("dataset_uploaded name={} pairs={} bytes={}", summary->name, summary->pairs,
                   summary->bytes);
    }
    upload_.reset();  // Removes the staging folder unless it was published.
    Finish(ToGrpcStatus(summary.status()));
  }

  const DatasetStore* const store_;
  std::unique_ptr<DatasetUpload> upload_;  // Used on the background thread only.
  SerialExecutor* const background_;
  std::atomic<bool> cancelled_{false};
  v1::DatasetInfo* response_;
  v1::DatasetChunk chunk_;
};

}  // namespace

grpc::ServerReadReactor<v1::DatasetChunk>* DatasetsService::Upload(
    grpc::CallbackServerContext* /*context*/, v1::DatasetInfo* response) {
  return new UploadReactor(store_, &background_, response);
}

grpc::ServerUnaryReactor* DatasetsService::List(grpc::CallbackServerContext* context,
                                                const v1::ListDatasetsRequest* request,
                                                v1::ListDatasetsResponse* response) {
  // Listing reads every dataset's manifest from disk: off the reaction too.
  return FinishInBackground(
      &background_, context, "datasets_list", [this, request, response]() -> absl::Status {
        FRINGE_ASSIGN_OR_RETURN(const int page_size,
                                paging::PageSize(request->page_size(), paging::kMaxPageSize));
        FRINGE_ASSIGN_OR_RETURN(std::vector<DatasetSummary> datasets, store_->List());
        std::sort(datasets.begin(), datasets.end(),
                  [](const DatasetSummary& a, const DatasetSummary& b) { return a.name < b.name; });
        std::vector<std::string> names;
        for (const DatasetSummary& d : datasets) names.push_back(d.name);
        const paging::Page page = paging::NamePage(names, request->page_token(), page_size);
        for (size_t i = page.begin; i < page.end; ++i) {
          v1::DatasetInfo* info = response->add_datasets();
          info->set_name(datasets[i].name);
          info->set_pairs(datasets[i].pairs);
          info->set_bytes(datasets[i].bytes);
        }
        response->set_next_page_token(page.next_token);
        return absl::OkStatus();
      });
}

}  // namespace fringe
