// gRPC handlers for fringe.v1.Datasets over the DatasetStore. Upload writes and hashes each
// chunk on a background thread as it arrives and publishes the dataset only when the stream
// ends cleanly and every check passes; nothing touches the disk inside a reaction.
#ifndef FRINGE_SERVER_GRPC_DATASETS_SERVICE_H_
#define FRINGE_SERVER_GRPC_DATASETS_SERVICE_H_

#include "fringe/v1/datasets.grpc.pb.h"
#include "server/dataset_store.h"
#include "server/serial_executor.h"

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
  SerialExecutor background_;  // Writes and listings of every upload, in order.
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_DATASETS_SERVICE_H_
