// `fringe analyze filters|spectrum|deletion|logits|blur`: analysis tools a microscopist runs on
// a model version locally (no server), each writing PNG figures plus CSV/JSON numbers (the
// concepts live in analysis/, the work in analyze_runner.h):
//   filters   first-layer filters and their spectra as a grid (filters.png/.csv/.json)
//   spectrum  radially averaged |FFT| of the relevance map next to the input's, Au {111}/{200}
//             marked (spectrum.png/.csv/.json; with --per-frame also frames/<stem>_*.png)
//   deletion  deletion/insertion curves of attribution methods with their AUCs
//             (deletion.png, insertion.png, deletion_frames.csv, deletion_curves.csv,
//             deletion.json, deletion_table.md, examples.png)
//   logits    per-class logit maps (<stem>_logits.png/.json, <stem>_logit_<class>.npy)
//   blur      segmentation quality against a Gaussian blur of the input
//             (blur_sweep.png/.csv/.json, blur_examples.png); needs true masks
// The model is --model-dir DIR, or --repository DIR (default models/repository) with --model
// NAME[:VERSION] (default "default", its highest version). Images are given as files or as a
// labelled folder (--data DIR, the layout of data/labelled_dataset.h, which also supplies doses,
// pixel sizes and masks).
//
// The models run through LibTorch, which costs every process that links it ~0.4 s and ~100 MB
// at start-up. `fringe` is the acquisition-side client and stays torch-free: it parses
// `analyze` itself (so usage errors come back at once) and then hands the same arguments to
// the `fringe-analyze` tool (analyze_main.cc), which parses them with the same definitions
// and does the work.
#ifndef FRINGE_CLIENT_CLI_ANALYZE_COMMAND_H_
#define FRINGE_CLIENT_CLI_ANALYZE_COMMAND_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace fringe {

struct AnalyzeArgs {
  std::string what;  // Which subcommand ran: "filters", "spectrum", ...
  // Model.
  std::string model_dir;
  std::string repository = "models/repository";
  std::string model = "default";
  // Inputs and outputs.
  std::vector<std::string> images;
  std::vector<std::string> masks;  // blur: one per image, in order (or use --data).
  std::string data_dir;
  int limit = 0;  // Use only the first N images (0 = all).
  std::string out_dir;
  int threads = 0;           // LibTorch threads; 0 = all cores.
  double pixel_size_nm = 0;  // > 0 overrides the images' and the model's pixel size.
  int class_index = 1;
  bool contrastive = false;
  // spectrum
  std::string method = "lrp";
  bool per_frame = false;  // Also frames/<stem>_spectrum.png and <stem>_relevance.png.
  // deletion
  std::string methods =
      "lrp,lrp-epsilon-plus-flat,gradient,gradient-x-input,integrated-gradients,random";
  std::vector<std::string> params;  // METHOD.KEY=VALUE (deletion) or KEY=VALUE (spectrum).
  int patch = 8;
  int steps = 16;
  int batch = 4;
  int random_seeds = 3;
  std::string reference = "mean";
  double reference_sigma = 4.0;
  // blur
  std::string sigmas = "0,0.5,1,1.5,2,3,4,6";
};

// Adds the `analyze` subcommand (with its five subcommands) to `app`, filling `*args` when
// parsed. Returns the `analyze` subcommand, so the caller can test whether it was chosen.
CLI::App* AddAnalyzeCommand(CLI::App& app, AnalyzeArgs* args);

// The tool that runs the analyses: "fringe-analyze", looked for next to the running
// executable first, then on PATH.
inline constexpr char kAnalyzeTool[] = "fringe-analyze";
std::string AnalyzeToolPath();

// Replaces this process with the tool, passing argv from "analyze" on. Returns only when the
// tool cannot be started (after printing why): 127.
int LaunchAnalyzeTool(int argc, char** argv);

}  // namespace fringe

#endif  // FRINGE_CLIENT_CLI_ANALYZE_COMMAND_H_
