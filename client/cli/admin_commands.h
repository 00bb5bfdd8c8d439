// The lab-server commands of `fringe`: `jobs submit|list|get|watch|cancel`,
// `datasets upload|list` and `models load|unload|promote|rollback`.
#ifndef FRINGE_CLIENT_CLI_ADMIN_COMMANDS_H_
#define FRINGE_CLIENT_CLI_ADMIN_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "client/fringe_client.h"

namespace fringe {

struct AdminArgs {
  // jobs
  std::string config_path, dataset, init_from, pretrained, output_name, job_id, state, owner;
  std::string priority = "interactive";
  bool watch = false;
  int limit = 20;
  // datasets
  std::string dataset_name, dataset_dir;
  // models
  std::string model_ref;

  CLI::App* jobs_submit = nullptr;
  CLI::App* jobs_list = nullptr;
  CLI::App* jobs_get = nullptr;
  CLI::App* jobs_watch = nullptr;
  CLI::App* jobs_cancel = nullptr;
  CLI::App* datasets_upload = nullptr;
  CLI::App* datasets_list = nullptr;
  CLI::App* model_ops[4] = {nullptr, nullptr, nullptr, nullptr};
};

// Registers the commands; `models` is the existing `fringe models` subcommand.
void AddAdminCommands(CLI::App& app, CLI::App* models, AdminArgs* args);

// Runs the admin command that was parsed, if any; nullopt when none was.
std::optional<int> RunAdminCommand(FringeClient& client, const AdminArgs& args);

// One line per job: id, state, progress, owner, result.
std::string FormatJobLine(const v1::Job& job);

}  // namespace fringe

#endif  // FRINGE_CLIENT_CLI_ADMIN_COMMANDS_H_
