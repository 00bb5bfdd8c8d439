#include "server/grpc/scheduled_call.h"

#include <spdlog/spdlog.h>

#include "server/grpc/grpc_status.h"

namespace fringe {

void ScheduledUnaryReactor::SetTicket(uint64_t ticket) {
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ticket_ = ticket;
    cancelled = cancelled_;
  }
  if (cancelled) queue_->Cancel(ticket);
}

void ScheduledUnaryReactor::OnCancel() {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    ticket = ticket_;
  }
  // Frees the queued request now; when it is already running it finishes normally and gRPC
  // discards the answer.
  if (ticket != 0) queue_->Cancel(ticket);
}

std::chrono::steady_clock::time_point SteadyDeadline(const grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  const auto now = std::chrono::system_clock::now();
  // gRPC reports "no deadline" as a time far in the future; keep it infinite.
  if (deadline - now > std::chrono::hours(24 * 365)) {
    return std::chrono::steady_clock::time_point::max();
  }
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - now);
}

std::string ClientOf(const std::string& client_id, const grpc::CallbackServerContext* context) {
  return client_id.empty() ? context->peer() : client_id;
}

CallInfo CallInfoOf(const std::string& client_id, const grpc::CallbackServerContext* context,
                    uint64_t group) {
  CallInfo call;
  call.client = ClientOf(client_id, context);
  call.deadline = SteadyDeadline(context);
  call.group = group;
  return call;
}

grpc::ServerUnaryReactor* FinishInBackground(SerialExecutor* executor,
                                             grpc::CallbackServerContext* context, const char* what,
                                             std::function<absl::Status()> op) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = executor->Submit([reactor, what, op = std::move(op)] {
    const absl::Status status = op();
    if (!status.ok()) {
      spdlog::info("call_failed call={} code={} error=\"{}\"", what,
                   absl::StatusCodeToString(status.code()), std::string(status.message()));
    }
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
  }
  return reactor;
}

}  // namespace fringe
