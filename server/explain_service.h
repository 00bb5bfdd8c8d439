// gRPC handler for fringe.v1.Explain: queues the request on the Scheduler in the explain
// priority class (below live and interactive segmentation, above batch) and runs the
// ExplanationEngine there.
#ifndef FRINGE_SERVER_EXPLAIN_SERVICE_H_
#define FRINGE_SERVER_EXPLAIN_SERVICE_H_

#include "fringe/v1/explain.grpc.pb.h"
#include "server/explanation_engine.h"
#include "server/scheduler.h"
#include "server/server_metrics.h"

namespace fringe {

class ExplainService final : public v1::Explain::CallbackService {
 public:
  // Every pointer must outlive the service; `metrics` may be null.
  ExplainService(ExplanationEngine* engine, Scheduler* scheduler, ServerMetrics* metrics)
      : engine_(engine), scheduler_(scheduler), metrics_(metrics) {}

  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* context,
                                    const v1::ExplainRequest* request,
                                    v1::ExplainResponse* response) override;

 private:
  ExplanationEngine* engine_;
  Scheduler* scheduler_;
  ServerMetrics* metrics_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_EXPLAIN_SERVICE_H_
