// gRPC handler for fringe.v1.Explain: hands the request to the RequestQueue, which runs it in
// the explain priority class (below live and interactive segmentation, above batch).
#ifndef FRINGE_SERVER_GRPC_EXPLAIN_SERVICE_H_
#define FRINGE_SERVER_GRPC_EXPLAIN_SERVICE_H_

#include "fringe/v1/explain.grpc.pb.h"
#include "server/request_queue.h"

namespace fringe {

class ExplainService final : public v1::Explain::CallbackService {
 public:
  // `queue` must outlive the service.
  explicit ExplainService(RequestQueue* queue) : queue_(queue) {}

  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* context,
                                    const v1::ExplainRequest* request,
                                    v1::ExplainResponse* response) override;

 private:
  RequestQueue* queue_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_EXPLAIN_SERVICE_H_
