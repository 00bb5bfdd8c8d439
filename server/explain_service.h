// gRPC handler for fringe.v1.Explain: queues the request on the worker pool and runs the
// ExplanationEngine there.
#ifndef FRINGE_SERVER_EXPLAIN_SERVICE_H_
#define FRINGE_SERVER_EXPLAIN_SERVICE_H_

#include "fringe/v1/explain.grpc.pb.h"
#include "server/explanation_engine.h"
#include "server/worker_pool.h"

namespace fringe {

class ExplainService final : public v1::Explain::CallbackService {
 public:
  // `engine` and `pool` must outlive the service.
  ExplainService(ExplanationEngine* engine, WorkerPool* pool) : engine_(engine), pool_(pool) {}

  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* context,
                                    const v1::ExplainRequest* request,
                                    v1::ExplainResponse* response) override;

 private:
  ExplanationEngine* engine_;
  WorkerPool* pool_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_EXPLAIN_SERVICE_H_
