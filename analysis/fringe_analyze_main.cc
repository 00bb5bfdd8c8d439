// fringe-analyze: the analysis tools behind `fringe analyze` (which forwards here), run
// locally on a model version. Invoked as `fringe-analyze analyze WHAT ...` so that both
// programs parse one set of option definitions (AddAnalyzeCommand).
#include <CLI/CLI.hpp>

#include "analysis/analyze_runner.h"
#include "client/cli/analyze_command.h"

int main(int argc, char** argv) {
  CLI::App app{"fringe-analyze: analysis tools on a local model version (see `fringe analyze`)"};
  app.require_subcommand(1);
  fringe::AnalyzeArgs args;
  fringe::AddAnalyzeCommand(app, &args);
  CLI11_PARSE(app, argc, argv);
  return fringe::RunAnalyze(args);
}
