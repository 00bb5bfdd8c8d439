// Glue between gRPC unary calls and the Scheduler: a reactor that removes its queued work
// when the client cancels or the deadline passes, plus small conversions every service needs.
#ifndef FRINGE_SERVER_SCHEDULED_CALL_H_
#define FRINGE_SERVER_SCHEDULED_CALL_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "fringe/v1/segmentation.pb.h"
#include "server/scheduler.h"

namespace fringe {

class ScheduledUnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit ScheduledUnaryReactor(Scheduler* scheduler) : scheduler_(scheduler) {}

  // Records the ticket of the queued work; cancels it at once if the call already went away.
  void SetTicket(uint64_t ticket);

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  Scheduler* scheduler_;
  std::mutex mu_;
  uint64_t ticket_ = 0;
  bool cancelled_ = false;
};

// The scheduling class of a request's priority (UNSPECIFIED counts as INTERACTIVE).
WorkClass WorkClassOf(v1::Priority priority);

// The call's deadline on the steady clock (max() when it has none).
std::chrono::steady_clock::time_point SteadyDeadline(const grpc::CallbackServerContext* context);

// Who is asking, for fairness: the request's client id, else the peer address.
std::string ClientOf(const std::string& client_id, const grpc::CallbackServerContext* context);

}  // namespace fringe

#endif  // FRINGE_SERVER_SCHEDULED_CALL_H_
