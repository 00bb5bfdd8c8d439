// gRPC handlers for fringe.v1.Jobs: thin views over the JobStore (the JobRunner does the
// training). Store calls are quick but may touch disk or the network (PostgreSQL), so they
// run on a small thread of their own rather than in the reaction; watches are fed by the
// server's one JobWatcher.
#ifndef FRINGE_SERVER_GRPC_JOBS_SERVICE_H_
#define FRINGE_SERVER_GRPC_JOBS_SERVICE_H_

#include <functional>

#include "fringe/v1/jobs.grpc.pb.h"
#include "server/job_runner.h"
#include "server/job_watcher.h"
#include "server/jobs/job_store.h"
#include "server/model_repository.h"
#include "server/serial_executor.h"

namespace fringe {

// JobRecord (opaque payloads) -> v1::Job.
v1::Job JobToProto(const JobRecord& record);

class JobsService final : public v1::Jobs::CallbackService {
 public:
  // Every pointer must outlive the service.
  JobsService(JobStore* store, JobWatcher* watcher, const ModelRepository* repository,
              JobPaths paths)
      : store_(store), watcher_(watcher), repository_(repository), paths_(std::move(paths)) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const v1::JobRequest* request,
                                v1::Job* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListJobsRequest* request,
                                 v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::JobRequest* request, v1::Job* response) override;
  grpc::ServerWriteReactor<v1::Job>* Watch(grpc::CallbackServerContext* context,
                                           const v1::JobRequest* request) override;

 private:
  class WatchReactor;

  JobStore* store_;
  JobWatcher* watcher_;
  const ModelRepository* repository_;
  const JobPaths paths_;
  SerialExecutor background_;
};

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_JOBS_SERVICE_H_
