#include "server/request_queue.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/priority.h"

namespace fringe {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

// One queued segmentation and where its answer goes.
class RequestQueue::SegmentWork final : public ScheduledWork {
 public:
  SegmentWork(const RequestQueue* queue, const char* method,
              std::shared_ptr<const v1::SegmentRequest> request, ServableModel model,
              Done<v1::SegmentResponse> done)
      : method_(method),
        request_(std::move(request)),
        model_(std::move(model)),
        received_(Clock::now()),
        queue_(queue),
        done_(std::move(done)) {}

  void Drop(const absl::Status& reason) override { Complete(reason); }

  // Delivers the result once and records it.
  void Complete(absl::StatusOr<v1::SegmentResponse> result) {
    queue_->Record(method_, request_->id(), model_.name, model_.version, result.status(), received_,
                   result.ok() ? result->timings().compute_ms() : -1);
    if (result.ok() && queue_->metrics_ != nullptr) {
      const v1::FrameQuality& q = result->quality();
      // The scale decision's label is its proto enum name in lower case ("resampled", ...).
      queue_->metrics_->ObserveFrameQuality(
          model_.name, q.particle_fraction(), q.mean_entropy_bits(), q.out_of_domain(),
          absl::AsciiStrToLower(v1::FrameScale::Decision_Name(result->scale().decision())),
          q.spikes_removed());
    }
    done_(std::move(result));
  }

  const v1::SegmentRequest& request() const { return *request_; }
  const ServableModel& model() const { return model_; }
  Clock::time_point received() const { return received_; }

 private:
  const char* const method_;
  const std::shared_ptr<const v1::SegmentRequest> request_;
  const ServableModel model_;
  const Clock::time_point received_;
  const RequestQueue* const queue_;
  Done<v1::SegmentResponse> done_;
};

// One queued explanation.
class RequestQueue::ExplainWork final : public ScheduledWork {
 public:
  ExplainWork(const RequestQueue* queue, std::shared_ptr<const v1::ExplainRequest> request,
              ServableModel model, Done<v1::ExplainResponse> done)
      : request_(std::move(request)),
        model_(std::move(model)),
        received_(Clock::now()),
        queue_(queue),
        done_(std::move(done)) {}

  void Run() { Complete(queue_->explanation_->Explain(*request_, model_)); }
  void Drop(const absl::Status& reason) override { Complete(reason); }

 private:
  void Complete(absl::StatusOr<v1::ExplainResponse> result) {
    queue_->Record("Explain", request_->id(), model_.name, model_.version, result.status(),
                   received_, result.ok() ? result->compute_ms() : -1);
    done_(std::move(result));
  }

  const std::shared_ptr<const v1::ExplainRequest> request_;
  const ServableModel model_;
  const Clock::time_point received_;
  const RequestQueue* const queue_;
  Done<v1::ExplainResponse> done_;
};

void RequestQueue::Record(const char* method, const std::string& id, const std::string& model,
                          int64_t version, const absl::Status& status, Clock::time_point received,
                          double compute_ms) const {
  const std::string code = absl::StatusCodeToString(status.code());
  const double total_ms = MsSince(received);
  if (status.ok()) {
    spdlog::debug("request method={} id={} model={}:{} code=OK compute_ms={:.1f} total_ms={:.1f}",
                  method, id, model, version, compute_ms, total_ms);
  } else {
    spdlog::info("request method={} id={} model={}{} code={} total_ms={:.1f} error=\"{}\"", method,
                 id, model, version > 0 ? absl::StrCat(":", version) : "", code, total_ms,
                 std::string(status.message()));
  }
  if (metrics_ == nullptr) return;
  metrics_->RecordRequest(method, model, version > 0 ? absl::StrCat(version) : "", code,
                          total_ms / 1000);
  if (status.ok() && compute_ms >= 0) {
    metrics_->ObserveComputeSeconds(method, model, compute_ms / 1000);
  }
}

uint64_t RequestQueue::Segment(const char* method,
                               std::shared_ptr<const v1::SegmentRequest> request,
                               const CallInfo& call, Done<v1::SegmentResponse> done) {
  absl::StatusOr<ServableModel> model = segmentation_->Resolve(*request);
  if (!model.ok()) return Reject(method, *request, model.status(), done);
  WorkInfo info;
  info.work_class = WorkClassOf(request->priority());
  info.client = call.client;
  info.deadline = call.deadline;
  info.group = call.group;
  info.model = absl::StrCat(model->name, ":", model->version);
  info.batch_key = SegmentationEngine::BatchKey(*request, *model);
  auto work = std::make_unique<SegmentWork>(this, method, std::move(request), *std::move(model),
                                            std::move(done));
  // A rejected work is dropped (and so answered) inside Submit.
  auto ticket = scheduler_->Submit(info, std::move(work),
                                   [this](WorkBatch& batch) { RunSegmentBatch(batch); });
  return ticket.ok() ? *ticket : 0;
}

void RequestQueue::RunSegmentBatch(WorkBatch& batch) const {
  std::vector<SegmentWork*> works;
  std::vector<SegmentationEngine::Job> jobs;
  for (auto& w : batch) {
    works.push_back(static_cast<SegmentWork*>(w.get()));
    jobs.push_back({&works.back()->request(), works.back()->model()});
  }
  const Clock::time_point started = Clock::now();
  std::vector<absl::StatusOr<v1::SegmentResponse>> results = segmentation_->Run(jobs);
  for (size_t i = 0; i < works.size(); ++i) {
    absl::StatusOr<v1::SegmentResponse>& result = results[i];
    if (result.ok()) {
      result->set_id(works[i]->request().id());
      result->mutable_timings()->set_queue_ms(
          std::chrono::duration<double, std::milli>(started - works[i]->received()).count());
      result->mutable_timings()->set_total_ms(MsSince(works[i]->received()));
    }
    works[i]->Complete(std::move(result));
  }
}

uint64_t RequestQueue::Explain(std::shared_ptr<const v1::ExplainRequest> request,
                               const CallInfo& call, Done<v1::ExplainResponse> done) {
  if (explanation_ == nullptr) {
    return Reject("Explain", *request,
                  absl::FailedPreconditionError("this server has no attribution engine"), done);
  }
  absl::StatusOr<ServableModel> model = explanation_->Resolve(*request);
  if (!model.ok()) return Reject("Explain", *request, model.status(), done);
  WorkInfo info;
  info.work_class = WorkClass::kExplain;
  info.client = call.client;
  info.deadline = call.deadline;
  info.group = call.group;
  info.model = absl::StrCat(model->name, ":", model->version);
  auto work =
      std::make_unique<ExplainWork>(this, std::move(request), *std::move(model), std::move(done));
  // Explanations run one at a time (no batch key): each needs its own backward pass.
  auto ticket = scheduler_->Submit(info, std::move(work), [](WorkBatch& batch) {
    for (auto& w : batch) static_cast<ExplainWork*>(w.get())->Run();
  });
  return ticket.ok() ? *ticket : 0;
}

}  // namespace fringe
