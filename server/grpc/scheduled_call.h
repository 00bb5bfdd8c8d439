// Glue between gRPC calls and the server core: a unary reactor that removes its queued request
// from the RequestQueue when the client cancels or the deadline passes, what a call tells the
// queue (client, deadline), and the one way a handler runs blocking work off the reaction.
#ifndef FRINGE_SERVER_GRPC_SCHEDULED_CALL_H_
#define FRINGE_SERVER_GRPC_SCHEDULED_CALL_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "server/request_queue.h"
#include "server/serial_executor.h"

namespace fringe {

class ScheduledUnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit ScheduledUnaryReactor(RequestQueue* queue) : queue_(queue) {}

  // Records the ticket of the queued work; cancels it at once if the call already went away.
  void SetTicket(uint64_t ticket);

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  RequestQueue* queue_;
  std::mutex mu_;
  uint64_t ticket_ = 0;
  bool cancelled_ = false;
};

// The call's deadline on the steady clock (max() when it has none).
std::chrono::steady_clock::time_point SteadyDeadline(const grpc::CallbackServerContext* context);

// Who is asking, for fairness: the request's client id, else the peer address.
std::string ClientOf(const std::string& client_id, const grpc::CallbackServerContext* context);

// The queue's view of a call: client (as ClientOf) and deadline; `group` for streams.
CallInfo CallInfoOf(const std::string& client_id, const grpc::CallbackServerContext* context,
                    uint64_t group = 0);

// Runs `op` on `executor` and finishes the call with its status (UNAVAILABLE when the
// executor is shutting down); failures are logged under `what`. For handlers whose work may
// block (loading a model, a database round trip): a reaction must never block.
grpc::ServerUnaryReactor* FinishInBackground(SerialExecutor* executor,
                                             grpc::CallbackServerContext* context, const char* what,
                                             std::function<absl::Status()> op);

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_SCHEDULED_CALL_H_
