// fringe-study: trains every candidate of a StudyConfig (proto/fringe/v1/study_config.proto)
// on the same synthetic data with the same seeds and the same wall-clock budget, evaluates
// each on one held-out set (Dice/IoU/F1 overall and per dose bin, parameters, MACs, receptive
// field, CPU latency, relevance spectra) and writes the report (study/study_result.h).
//
// Resumable: the output folder keeps each candidate's checkpoints (the training budget is
// counted over interruptions), its trained version and its result.json, written atomically
// when the candidate is finished; a rerun skips finished candidates, finishes the interrupted
// one and rebuilds the report. A result made under another configuration is never reused
// (its fingerprint is checked). Torch-free header.
//
// Output folder:
//   study.md, study.csv, study.json        the tables (study.json: every result)
//   dice_vs_dose.png, dice_vs_receptive_field.png, relevance_spectra.png, relevance_spectra.csv
//   candidates/<name>/result.json          one candidate's numbers (and its fingerprint)
//   repository/<name>/<version>/           the trained versions (servable: --repository)
//   checkpoints/<name>/                    training checkpoints
#ifndef FRINGE_STUDY_STUDY_RUNNER_H_
#define FRINGE_STUDY_STUDY_RUNNER_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fringe/v1/study_config.pb.h"
#include "fringe/v1/train_config.pb.h"

namespace fringe::study {

// Parses a text-format StudyConfig, fills defaults and validates it (INVALID_ARGUMENT naming
// the candidate and field).
absl::StatusOr<v1::StudyConfig> ParseStudyConfig(const std::string& text);
absl::StatusOr<v1::StudyConfig> LoadStudyConfig(const std::string& path);

// The TrainConfig a candidate trains with: the base with the candidate's fields replacing the
// base's, the study's budget, and outputs under `out_dir`.
v1::TrainConfig CandidateTrainConfig(const v1::StudyConfig& study,
                                     const v1::StudyCandidate& candidate,
                                     const std::string& out_dir);

struct StudyOptions {
  std::string out_dir;
  std::vector<std::string> only;  // Candidate names; empty = all.
  std::string command;            // Recorded in the report.
  bool quiet = false;             // No progress bars.
  // Ctrl-C: the running candidate checkpoints and RunStudy returns CANCELLED; a rerun goes on.
  const std::atomic<bool>* stop_requested = nullptr;
  // Recorded in each trained candidate's provenance (fringe-study passes the checkout's
  // revision); empty = the revision fringe was built from.
  std::string source_revision;
};

// Runs (or resumes) the study and writes the report. A candidate that fails is reported as
// failed in the table and the others still run; the returned status is then UNKNOWN naming
// the failed candidates.
absl::Status RunStudy(const v1::StudyConfig& study, const StudyOptions& options);

}  // namespace fringe::study

#endif  // FRINGE_STUDY_STUDY_RUNNER_H_
