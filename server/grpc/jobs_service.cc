#include "server/grpc/jobs_service.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/scheduled_call.h"
#include "server/paging.h"
#include "server/priority.h"

namespace fringe {

v1::Job JobToProto(const JobRecord& r) {
  v1::Job job;
  job.set_id(r.id);
  job.set_state(static_cast<v1::JobState>(static_cast<int>(r.state) + 1));
  job.set_owner(r.owner);
  job.set_priority(PriorityOfJobRank(r.priority));
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
        FRINGE_RETURN_IF_ERROR(ValidatePriority(request->priority(), "priority"));
        FRINGE_RETURN_IF_ERROR(
            ResolveJobConfig(request->spec(), "job-validation", paths_, *repository_).status());
        const std::string owner =
            request->client_id().empty() ? context->peer() : request->client_id();
        FRINGE_ASSIGN_OR_RETURN(JobRecord record,
                                store_->Submit(owner, JobRank(request->priority()),
                                               request->spec().SerializeAsString()));
        spdlog::info("job_submitted id={} owner={} priority={} steps={}", record.id, owner,
                     v1::Priority_Name(PriorityOfJobRank(record.priority)),
                     request->spec().config().steps());
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
        FRINGE_ASSIGN_OR_RETURN(const int page_size, paging::PageSize(request->page_size(), 100));
        if (!request->page_token().empty()) {
          FRINGE_ASSIGN_OR_RETURN(filter.after, paging::ParseJobToken(request->page_token()));
        }
        filter.limit = page_size + 1;  // One more than shown: is there a next page?
        FRINGE_ASSIGN_OR_RETURN(std::vector<JobRecord> records, store_->List(filter));
        const bool more = static_cast<int>(records.size()) > page_size;
        if (more) records.resize(page_size);
        for (const JobRecord& r : records) *response->add_jobs() = JobToProto(r);
        if (more) {
          const std::optional<int64_t> seq = ParseJobId(records.back().id);
          if (!seq) return absl::InternalError("job id " + records.back().id + " has no sequence");
          response->set_next_page_token(paging::JobToken({records.back().created_ms, *seq}));
        }
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

// Writes the job whenever the server's JobWatcher sees it change, until it is terminal or
// the client left. Updates arrive on the watcher's thread; a change that arrives while a
// write is in flight replaces any older unwritten one (a watcher wants the latest state, not
// every step).
class JobsService::WatchReactor final : public grpc::ServerWriteReactor<v1::Job> {
 public:
  WatchReactor(JobWatcher* watcher, const std::string& id) : watcher_(watcher) {
    watch_ = watcher_->Watch(id, [this](const absl::StatusOr<JobRecord>& r) { OnUpdate(r); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) gone_ = true;
    MaybeWriteLocked();
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    gone_ = true;
    MaybeWriteLocked();
  }
  void OnDone() override {
    watcher_->Unwatch(watch_);  // No update can arrive after this.
    delete this;
  }

 private:
  void OnUpdate(const absl::StatusOr<JobRecord>& record) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!record.ok()) {
      error_ = ToGrpcStatus(record.status());
    } else {
      pending_ = JobToProto(*record);
      terminal_ = IsTerminal(record->state);
    }
    MaybeWriteLocked();
  }

  // Starts the next write, or finishes once nothing is left to write.
  void MaybeWriteLocked() {
    if (writing_ || finished_) return;
    if (gone_) return FinishLocked(grpc::Status::CANCELLED);
    if (error_) return FinishLocked(*error_);
    if (pending_) {
      current_ = *std::move(pending_);
      pending_.reset();
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (terminal_) FinishLocked(grpc::Status::OK);
  }
  void FinishLocked(const grpc::Status& status) {
    finished_ = true;
    Finish(status);
  }

  JobWatcher* const watcher_;
  uint64_t watch_ = 0;
  std::mutex mu_;
  std::optional<v1::Job> pending_;
  std::optional<grpc::Status> error_;
  v1::Job current_;
  bool writing_ = false;
  bool terminal_ = false;
  bool gone_ = false;
  bool finished_ = false;
};

grpc::ServerWriteReactor<v1::Job>* JobsService::Watch(grpc::CallbackServerContext* /*context*/,
                                                      const v1::JobRequest* request) {
  return new WatchReactor(watcher_, request->id());
}

}  // namespace fringe
