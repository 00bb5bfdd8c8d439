#include "server/grpc/datasets_service.h"

#include <spdlog/spdlog.h>

#include "server/grpc/grpc_status.h"

namespace fringe {
namespace {

class UploadReactor final : public grpc::ServerReadReactor<v1::DatasetChunk> {
 public:
  UploadReactor(const DatasetStore* store, v1::DatasetInfo* response)
      : upload_(store->BeginUpload()), response_(response) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // The client finished sending: check and publish.
      auto summary = upload_->Commit();
      if (summary.ok()) {
        response_->set_name(summary->name);
        response_->set_pairs(summary->pairs);
        response_->set_bytes(summary->bytes);
        spdlog::info("dataset_uploaded name={} pairs={} bytes={}", summary->name, summary->pairs,
                     summary->bytes);
      }
      upload_.reset();  // Removes the staging folder unless it was published.
      Finish(ToGrpcStatus(summary.status()));
      return;
    }
    absl::Status s = upload_->Write(chunk_.dataset(), chunk_.file(), chunk_.offset(), chunk_.data(),
                                    chunk_.sha256());
    if (!s.ok()) {
      spdlog::info("dataset_upload_failed error=\"{}\"", std::string(s.message()));
      upload_.reset();
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&chunk_);
  }

  void OnDone() override { delete this; }

 private:
  std::unique_ptr<DatasetUpload> upload_;
  v1::DatasetInfo* response_;
  v1::DatasetChunk chunk_;
};

}  // namespace

grpc::ServerReadReactor<v1::DatasetChunk>* DatasetsService::Upload(
    grpc::CallbackServerContext* /*context*/, v1::DatasetInfo* response) {
  return new UploadReactor(store_, response);
}

grpc::ServerUnaryReactor* DatasetsService::List(grpc::CallbackServerContext* context,
                                                const v1::ListDatasetsRequest* /*request*/,
                                                v1::ListDatasetsResponse* response) {
  auto datasets = store_->List();
  if (datasets.ok()) {
    for (const DatasetSummary& d : *datasets) {
      v1::DatasetInfo* info = response->add_datasets();
      info->set_name(d.name);
      info->set_pairs(d.pairs);
      info->set_bytes(d.bytes);
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(datasets.status()));
  return reactor;
}

}  // namespace fringe
