#include "server/grpc/jobs_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/scheduled_call.h"

namespace fringe {

v1::Job JobToProto(const JobRecord& r) {
  v1::Job job;
  job.set_id(r.id);
  job.set_state(static_cast<v1::JobState>(static_cast<int>(r.state) + 1));
  job.set_owner(r.owner);
  job.set_priority(r.priority);
  job.mutable_spec()->ParseFromString(r.spec);
  job.mutable_progress()->ParseFromString(r.progress);
  job.mutable_result()->ParseFromString(r.result);
  job.set_error(r.error);
  job.set_attempts(r.attempts);
  job.set_cancel_requested(r.cancel_requested);
  job.set_worker(r.worker);
  job.set_created_unix_ms(r.created_ms);
  job.set_started_unix_ms(r.started_ms);
  job.set_finished_unix_ms(r.finished_ms);
  return job;
}

grpc::ServerUnaryReactor* JobsService::Submit(grpc::CallbackServerContext* context,
                                              const v1::SubmitJobRequest* request,
                                              v1::Job* response) {
  return FinishInBackground(
      &background_, context, "jobs_submit", [this, context, request, response]() -> absl::Status {
        // Validate now with the config the runner will use, so a bad job fails at submit time.
        FRINGE_RETURN_IF_ERROR(
            ResolveJobConfig(request->spec(), "job-validation", paths_, *repository_).status());
        const std::string owner =
            request->client_id().empty() ? context->peer() : request->client_id();
        FRINGE_ASSIGN_OR_RETURN(
            JobRecord record,
            store_->Submit(owner, request->priority(), request->spec().SerializeAsString()));
        spdlog::info("job_submitted id={} owner={} priority={} steps={}", record.id, owner,
                     record.priority, request->spec().config().steps());
        *response = JobToProto(record);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* JobsService::Get(grpc::CallbackServerContext* context,
                                           const v1::JobRequest* request, v1::Job* response) {
  return FinishInBackground(&background_, context, "jobs_get",
                            [this, request, response]() -> absl::Status {
                              FRINGE_ASSIGN_OR_RETURN(JobRecord record, store_->Get(request->id()));
                              *response = JobToProto(record);
                              return absl::OkStatus();
                            });
}

grpc::ServerUnaryReactor* JobsService::List(grpc::CallbackServerContext* context,
                                            const v1::ListJobsRequest* request,
                                            v1::ListJobsResponse* response) {
  return FinishInBackground(
      &background_, context, "jobs_list", [this, request, response]() -> absl::Status {
        JobFilter filter;
        if (request->state() != v1::JOB_STATE_UNSPECIFIED) {
          if (!v1::JobState_IsValid(request->state())) {
            return absl::InvalidArgumentError(absl::StrCat("state is ", request->state()));
          }
          filter.state = static_cast<JobState>(static_cast<int>(request->state()) - 1);
        }
        filter.owner = request->owner();
        filter.limit = request->limit() > 0 ? request->limit() : 100;
        FRINGE_ASSIGN_OR_RETURN(std::vector<JobRecord> records, store_->List(filter));
        for (const JobRecord& r : records) *response->add_jobs() = JobToProto(r);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* JobsService::Cancel(grpc::CallbackServerContext* context,
                                              const v1::JobRequest* request, v1::Job* response) {
  return FinishInBackground(
      &background_, context, "jobs_cancel", [this, request, response]() -> absl::Status {
        FRINGE_ASSIGN_OR_RETURN(JobRecord record, store_->Cancel(request->id()));
        spdlog::info("job_cancel_requested id={} state={}", record.id,
                     std::string(JobStateName(record.state)));
        *response = JobToProto(record);
        return absl::OkStatus();
      });
}

// Polls the store (it may be shared with other servers, so there is no in-process event to
// wait for) and writes the job whenever it changed, until it is terminal or the client left.
class JobsService::WatchReactor final : public grpc::ServerWriteReactor<v1::Job> {
 public:
  WatchReactor(JobsService* service, std::string id) : service_(service), id_(std::move(id)) {
    thread_ = std::thread([this] { Loop(); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) gone_ = true;
    cv_.notify_all();
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    gone_ = true;
    cv_.notify_all();
  }
  void OnDone() override {
    // Finish() came from our thread; it may still be unwinding (or, should gRPC ever run
    // OnDone inline, be this very thread).
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
    delete this;
  }

 private:
  void Loop() {
    std::string last;
    for (;;) {
      auto record = service_->store_->Get(id_);
      if (!record.ok()) return Finish(ToGrpcStatus(record.status()));
      v1::Job job = JobToProto(*record);
      const std::string bytes = job.SerializeAsString();
      std::unique_lock<std::mutex> lock(mu_);
      if (gone_) break;
      if (bytes != last) {
        last = bytes;
        current_ = std::move(job);
        writing_ = true;
        StartWrite(&current_);
        cv_.wait(lock, [this] { return !writing_; });
        if (gone_) break;
      }
      if (IsTerminal(record->state)) {
        lock.unlock();
        return Finish(grpc::Status::OK);
      }
      if (cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return gone_; })) break;
    }
    Finish(grpc::Status::CANCELLED);
  }

  JobsService* service_;
  const std::string id_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false;
  bool gone_ = false;
  v1::Job current_;
  std::thread thread_;
};

grpc::ServerWriteReactor<v1::Job>* JobsService::Watch(grpc::CallbackServerContext* /*context*/,
                                                      const v1::JobRequest* request) {
  return new WatchReactor(this, request->id());
}

}  // namespace fringe
