// The work behind `fringe analyze` (see analyze_command.h for the subcommands and their
// files): loads the model version in-process and runs one analysis. Links LibTorch (through
// fringe::analysis), so only the fringe-analyze tool includes it.
#ifndef FRINGE_ANALYSIS_ANALYZE_RUNNER_H_
#define FRINGE_ANALYSIS_ANALYZE_RUNNER_H_

#include "client/cli/analyze_command.h"

namespace fringe {

// Runs the parsed command; prints a summary to stdout, progress and problems to stderr.
// Returns 0 when everything was written, 1 on any error (an image that cannot be read is
// reported and the others still run; the exit code is then 1), 2 for an unknown analysis.
int RunAnalyze(AnalyzeArgs args);

}  // namespace fringe

#endif  // FRINGE_ANALYSIS_ANALYZE_RUNNER_H_
