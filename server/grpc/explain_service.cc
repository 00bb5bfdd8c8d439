#include "server/grpc/explain_service.h"

#include <memory>

#include "server/grpc/grpc_status.h"
#include "server/grpc/scheduled_call.h"

namespace fringe {

grpc::ServerUnaryReactor* ExplainService::Explain(grpc::CallbackServerContext* context,
                                                  const v1::ExplainRequest* request,
                                                  v1::ExplainResponse* response) {
  auto* reactor = new ScheduledUnaryReactor(queue_);
  // The request outlives the work: gRPC keeps it until Finish().
  std::shared_ptr<const v1::ExplainRequest> shared(request, [](const v1::ExplainRequest*) {});
  const uint64_t ticket =
      queue_->Explain(shared, CallInfoOf(request->client_id(), context),
                      [reactor, response](absl::StatusOr<v1::ExplainResponse> result) {
                        if (result.ok()) *response = *std::move(result);
                        reactor->Finish(ToGrpcStatus(result.status()));
                      });
  if (ticket != 0) reactor->SetTicket(ticket);
  return reactor;
}

}  // namespace fringe
