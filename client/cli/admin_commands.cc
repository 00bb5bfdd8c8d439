#include "client/cli/admin_commands.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "client/cli/cli_util.h"
#include "common/progress_bar.h"

namespace fringe {
namespace {

const char* kModelOps[4] = {"load", "unload", "promote", "rollback"};

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  return name.rfind("JOB_", 0) == 0 ? name.substr(4) : name;
}

int Submit(FringeClient& client, const AdminArgs& args) {
  v1::SubmitJobRequest request;
  if (absl::Status s = ReadTextProto(args.config_path, request.mutable_spec()->mutable_config());
      !s.ok()) {
    return ReportError("--config", s);
  }
  request.mutable_spec()->set_dataset(args.dataset);
  request.mutable_spec()->set_output_name(args.output_name);
  request.mutable_spec()->set_pretrained_weights(args.pretrained);
  if (!args.init_from.empty()) {
    auto ref = ParseModelRef(args.init_from);
    if (!ref.ok()) return ReportError("--init-from", ref.status());
    *request.mutable_spec()->mutable_init_from() = *ref;
  }
  v1::Priority priority = v1::PRIORITY_INTERACTIVE;
  v1::Priority_Parse("PRIORITY_" + absl::AsciiStrToUpper(args.priority), &priority);
  request.set_priority(priority);
  auto job = client.SubmitJob(request);
  if (!job.ok()) return ReportError("submitting the job", job.status());
  std::printf("%s\n", job->id().c_str());
  if (!args.watch) return 0;
  ProgressBar bar("training", job->spec().config().steps());
  auto last = client.WatchJob(job->id(), [&](const v1::Job& j) {
    if (j.progress().total_steps() > 0) {
      bar.Update(j.progress().step(), absl::StrFormat("loss %.4f", j.progress().loss()));
    }
  });
  bar.Finish();
  if (!last.ok()) return ReportError("watching " + job->id(), last.status());
  std::printf("%s\n", FormatJobLine(*last).c_str());
  return last->state() == v1::JOB_SUCCEEDED ? 0 : 1;
}

int Watch(FringeClient& client, const std::string& id) {
  std::string previous_state;
  auto last = client.WatchJob(id, [&](const v1::Job& j) {
    // One line per change; the steady stream of progress goes to stderr as a status line.
    if (StateName(j.state()) != previous_state) {
      previous_state = StateName(j.state());
      std::printf("%s\n", FormatJobLine(j).c_str());
      std::fflush(stdout);
    } else {
      std::fprintf(stderr, "\r%s   ", FormatJobLine(j).c_str());
    }
  });
  std::fprintf(stderr, "\n");
  if (!last.ok()) return ReportError("watching " + id, last.status());
  std::printf("%s\n", FormatJobLine(*last).c_str());
  return last->state() == v1::JOB_SUCCEEDED ? 0 : 1;
}

void PrintModel(const v1::ModelDescription& d) {
  std::printf("%s: serving version %lld%s\n", d.name().c_str(),
              static_cast<long long>(d.serving_version()),
              d.pinned_version() ? " (pinned)" : " (latest)");
  for (const auto& v : d.versions()) {
    std::string state = v1::ModelState_Name(v.state()).substr(std::string("MODEL_STATE_").size());
    std::printf("  version %lld %s%s%s\n", static_cast<long long>(v.version()), state.c_str(),
                v.error().empty() ? "" : ": ", v.error().c_str());
  }
}

}  // namespace

std::string FormatJobLine(const v1::Job& job) {
  std::string line = absl::StrFormat("%-14s %-9s", job.id(), StateName(job.state()));
  const v1::JobProgress& p = job.progress();
  if (p.total_steps() > 0) {
    line += absl::StrFormat(" step %lld/%lld loss %.4f", p.step(), p.total_steps(), p.loss());
    auto dice = p.validation().find("dice");
    if (dice != p.validation().end()) line += absl::StrFormat(" val_dice %.3f", dice->second);
    if (job.state() == v1::JOB_RUNNING && p.eta_seconds() > 0) {
      line += absl::StrFormat(" eta %.0fs", p.eta_seconds());
    }
  }
  if (job.state() == v1::JOB_SUCCEEDED) {
    line += absl::StrFormat(" -> %s:%lld", job.result().model_name(), job.result().model_version());
  }
  if (!job.error().empty()) line += " (" + job.error() + ")";
  return line;
}

void AddAdminCommands(CLI::App& app, CLI::App* models, AdminArgs* a) {
  CLI::App* jobs = app.add_subcommand("jobs", "Training jobs on the server");
  jobs->require_subcommand(1);
  a->jobs_submit = jobs->add_subcommand("submit", "Queue a training job");
  a->jobs_submit->add_option("--config", a->config_path, "Text-format TrainConfig")->required();
  a->jobs_submit->add_option("--dataset", a->dataset, "Uploaded dataset to train on");
  a->jobs_submit->add_option("--init-from", a->init_from, "Start from NAME[:VERSION]");
  a->jobs_submit->add_option("--pretrained", a->pretrained,
                             "ImageNet weights by name from the server's <state_dir>/pretrained/");
  a->jobs_submit->add_option("--name", a->output_name, "Register the result as this model");
  a->jobs_submit
      ->add_option("--priority", a->priority,
                   "live, interactive, explain or batch: queued jobs of a more urgent class "
                   "start first, as requests do [interactive]")
      ->check(CLI::IsMember({"live", "interactive", "explain", "batch"}));
  a->jobs_submit->add_flag("--watch", a->watch, "Show progress until the job finishes");
  a->jobs_list = jobs->add_subcommand("list", "Jobs, newest first");
  a->jobs_list->add_option("--state", a->state, "queued, running, succeeded, failed, cancelled");
  a->jobs_list->add_option("--owner", a->owner, "Only this client's jobs");
  a->jobs_list->add_option("--limit", a->limit, "At most this many [20]");
  a->jobs_get = jobs->add_subcommand("get", "One job in full");
  a->jobs_get->add_option("id", a->job_id, "Job id")->required();
  a->jobs_watch = jobs->add_subcommand("watch", "Follow a job until it finishes");
  a->jobs_watch->add_option("id", a->job_id, "Job id")->required();
  a->jobs_cancel = jobs->add_subcommand("cancel", "Cancel a job");
  a->jobs_cancel->add_option("id", a->job_id, "Job id")->required();

  CLI::App* datasets = app.add_subcommand("datasets", "Labelled datasets on the server");
  datasets->require_subcommand(1);
  a->datasets_upload =
      datasets->add_subcommand("upload", "Upload DIR/images + DIR/masks as dataset NAME");
  a->datasets_upload->add_option("name", a->dataset_name, "Dataset name")->required();
  a->datasets_upload->add_option("dir", a->dataset_dir, "Labelled folder")->required();
  a->datasets_list = datasets->add_subcommand("list", "Uploaded datasets");

  const char* help[4] = {"Load NAME:VERSION (NAME alone: every new version on disk)",
                         "Release NAME:VERSION's memory", "Serve NAME:VERSION (VERSION 0: latest)",
                         "Serve the version that served before"};
  for (int i = 0; i < 4; ++i) {
    a->model_ops[i] = models->add_subcommand(kModelOps[i], help[i]);
    a->model_ops[i]->add_option("model", a->model_ref, "NAME or NAME:VERSION")->required();
  }
}

std::optional<int> RunAdminCommand(FringeClient& client, const AdminArgs& a) {
  if (a.jobs_submit && *a.jobs_submit) return Submit(client, a);
  if (a.jobs_list && *a.jobs_list) {
    v1::ListJobsRequest request;
    if (!a.state.empty()) {
      std::string upper = "JOB_";
      for (char c : a.state) upper += static_cast<char>(std::toupper(c));
      v1::JobState state;
      if (!v1::JobState_Parse(upper, &state)) {
        return ReportError("--state", absl::InvalidArgumentError("unknown state " + a.state));
      }
      request.set_state(state);
    }
    request.set_owner(a.owner);
    // Page through until --limit jobs are shown (newest first) or there are no more.
    int shown = 0;
    do {
      request.set_page_size(std::min(a.limit - shown, 1000));
      auto page = client.ListJobs(request);
      if (!page.ok()) return ReportError("listing jobs", page.status());
      for (const v1::Job& j : page->jobs()) {
        std::printf("%s\n", FormatJobLine(j).c_str());
        ++shown;
      }
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty() && shown < a.limit);
    return 0;
  }
  if (a.jobs_get && *a.jobs_get) {
    auto job = client.GetJob(a.job_id);
    if (!job.ok()) return ReportError("getting " + a.job_id, job.status());
    std::string text;
    google::protobuf::TextFormat::PrintToString(*job, &text);
    std::printf("%s", text.c_str());
    return 0;
  }
  if (a.jobs_watch && *a.jobs_watch) return Watch(client, a.job_id);
  if (a.jobs_cancel && *a.jobs_cancel) {
    auto job = client.CancelJob(a.job_id);
    if (!job.ok()) return ReportError("cancelling " + a.job_id, job.status());
    std::printf("%s\n", FormatJobLine(*job).c_str());
    return 0;
  }
  if (a.datasets_upload && *a.datasets_upload) {
    std::optional<ProgressBar> bar;  // Created once the total size is known.
    auto info =
        client.UploadDataset(a.dataset_name, a.dataset_dir, [&](int64_t sent, int64_t total) {
          if (!bar) bar.emplace("uploading bytes", total);
          bar->Update(sent);
        });
    if (bar) bar->Finish();
    if (!info.ok()) return ReportError("uploading " + a.dataset_dir, info.status());
    std::printf("%s: %d pairs, %lld bytes\n", info->name().c_str(), info->pairs(),
                static_cast<long long>(info->bytes()));
    return 0;
  }
  if (a.datasets_list && *a.datasets_list) {
    auto list = client.ListDatasets();
    if (!list.ok()) return ReportError("listing datasets", list.status());
    for (const auto& d : list->datasets()) {
      std::printf("%-24s %6d pairs %12lld bytes\n", d.name().c_str(), d.pairs(),
                  static_cast<long long>(d.bytes()));
    }
    return 0;
  }
  for (int i = 0; i < 4; ++i) {
    if (a.model_ops[i] && *a.model_ops[i]) {
      auto ref = ParseModelRef(a.model_ref);
      if (!ref.ok()) return ReportError("model", ref.status());
      std::fprintf(stderr, "%s %s...\n", kModelOps[i], a.model_ref.c_str());
      auto d = client.ModelLifecycle(kModelOps[i], ref->name(), ref->version());
      if (!d.ok()) return ReportError(std::string(kModelOps[i]) + " " + a.model_ref, d.status());
      PrintModel(*d);
      return 0;
    }
  }
  return std::nullopt;
}

}  // namespace fringe
