// gRPC handlers for fringe.v1.Datasets over the DatasetStore. Upload writes each chunk as it
// arrives (appending to a local file is short next to network time) and publishes the
// dataset only when the stream ends cleanly and every check passes.
#ifndef FRINGE_SERVER_GRPC_DATASETS_SERVICE_H_
#define FRINGE_SERVER_GRPC_DATASETS_SERVICE_H_

#include "fringe/v1/datasets.grpc.pb.h"
#include "server/dataset_store.h"

namespace fringe {

class DatasetsService final : public v1::Datasets::CallbackService {
 public:
  // `store` must outlive the service.
  explicit DatasetsService(const DatasetStore* store) : store_(store) {}

  grpc::ServerReadReactor<v1::DatasetChunk>* Upload(grpc::CallbackServerContext* context,
                                                    v1::DatasetInfo* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListDatasetsRequest* request,
                                 v1::ListDatasetsResponse* response) override;

 private:
  const DatasetStore* store_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_DATASETS_SERVICE_H_
