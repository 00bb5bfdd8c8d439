#include "server/scheduled_call.h"

namespace fringe {

void ScheduledUnaryReactor::SetTicket(uint64_t ticket) {
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ticket_ = ticket;
    cancelled = cancelled_;
  }
  if (cancelled) scheduler_->Cancel(ticket);
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
  if (ticket != 0) scheduler_->Cancel(ticket);
}

WorkClass WorkClassOf(v1::Priority priority) {
  switch (priority) {
    case v1::PRIORITY_LIVE:
      return WorkClass::kLive;
    case v1::PRIORITY_EXPLAIN:
      return WorkClass::kExplain;
    case v1::PRIORITY_BATCH:
      return WorkClass::kBatch;
    default:
      return WorkClass::kInteractive;
  }
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

}  // namespace fringe
