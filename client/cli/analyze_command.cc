#include "client/cli/analyze_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fringe {
namespace {

namespace fs = std::filesystem;

// Options every `analyze` subcommand shares.
void AddCommonOptions(CLI::App* sub, AnalyzeArgs* args, bool images) {
  sub->add_option("--model-dir", args->model_dir,
                  "A model version directory (config.pbtxt + weights.pt); beats --repository");
  sub->add_option("--repository", args->repository, "Model repository")->capture_default_str();
  sub->add_option("--model", args->model, "NAME or NAME:VERSION in the repository")
      ->capture_default_str();
  sub->add_option("--out", args->out_dir, "Output directory")->required();
  sub->add_option("--threads", args->threads, "LibTorch threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  sub->add_option("--pixel-size", args->pixel_size_nm,
                  "Pixel size in nm, overriding the images' and the model's");
  if (!images) return;
  sub->add_option("images", args->images, "Image files")->check(CLI::ExistingFile);
  sub->add_option("--data", args->data_dir,
                  "Labelled folder (images/, masks/, manifest.json: doses, pixel sizes)");
  sub->add_option("--limit", args->limit, "Use only the first N images (0 = all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  sub->add_option("--class", args->class_index, "Class whose logits are the target")
      ->capture_default_str();
  sub->add_flag("--contrastive", args->contrastive,
                "Target the class's logit minus the mean of the others");
}

}  // namespace

CLI::App* AddAnalyzeCommand(CLI::App& app, AnalyzeArgs* args) {
  CLI::App* analyze = app.add_subcommand(
      "analyze",
      "Analysis tools run locally on a model version (no server): filters, spectrum, deletion, "
      "logits, blur; each writes PNG figures plus CSV/JSON (`fringe analyze WHAT --help`)");
  analyze->require_subcommand(1);

  CLI::App* filters = analyze->add_subcommand(
      "filters", "First-layer filters and their spectra (filters.png/.csv/.json)");
  AddCommonOptions(filters, args, false);

  CLI::App* spectrum = analyze->add_subcommand(
      "spectrum",
      "Radially averaged |FFT| of the relevance map next to the input's, Au {111}/{200} "
      "frequencies marked (spectrum.png/.csv/.json)");
  AddCommonOptions(spectrum, args, true);
  spectrum->add_option("--method", args->method, "Attribution method")->capture_default_str();
  spectrum->add_option("--param", args->params, "Method parameter KEY=VALUE (repeatable)");
  spectrum->add_flag("--per-frame", args->per_frame,
                     "Also write frames/<stem>_spectrum.png and frames/<stem>_relevance.png");

  CLI::App* deletion = analyze->add_subcommand(
      "deletion",
      "Deletion/insertion curves (pixel flipping) of attribution methods and their AUCs");
  AddCommonOptions(deletion, args, true);
  deletion
      ->add_option("--methods", args->methods,
                   "Comma-separated methods (attribution method names, '_' or '-', or random; "
                   "prefix abs: or signed: to choose the ranking)")
      ->capture_default_str();
  deletion->add_option("--param", args->params,
                       "METHOD.KEY=VALUE, e.g. integrated-gradients.steps=16 (repeatable)");
  deletion->add_option("--patch", args->patch, "Patch side in pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  deletion->add_option("--steps", args->steps, "Curve points after the first")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  deletion->add_option("--batch", args->batch, "Perturbed frames per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  deletion->add_option("--random-seeds", args->random_seeds, "Random orders averaged per frame")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  deletion
      ->add_option("--reference", args->reference,
                   "What deleted patches become: mean (0 after standardisation) or blur")
      ->capture_default_str()
      ->check(CLI::IsMember({"mean", "blur"}));
  deletion
      ->add_option("--reference-sigma", args->reference_sigma,
                   "Blur sigma (px) for --reference blur")
      ->capture_default_str();

  CLI::App* logits =
      analyze->add_subcommand("logits", "Per-class logit maps (<stem>_logits.png/.json, .npy)");
  AddCommonOptions(logits, args, true);

  CLI::App* blur = analyze->add_subcommand(
      "blur", "Segmentation quality vs Gaussian blur of the input (needs true masks)");
  AddCommonOptions(blur, args, true);
  blur->add_option("--masks", args->masks, "True masks, one per image in order");
  blur->add_option("--sigmas", args->sigmas, "Blur sigmas in pixels, increasing")
      ->capture_default_str();

  for (CLI::App* sub : {filters, spectrum, deletion, logits, blur}) {
    sub->callback([args, sub] { args->what = sub->get_name(); });
  }
  return analyze;
}

std::string AnalyzeToolPath() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path sibling = self.parent_path() / kAnalyzeTool;
    if (fs::exists(sibling, ec)) return sibling.string();
  }
  return kAnalyzeTool;  // execvp searches PATH.
}

int LaunchAnalyzeTool(int argc, char** argv) {
  // Everything from "analyze" on goes to the tool, which parses it with the same options.
  int first = 1;
  while (first < argc && std::strcmp(argv[first], "analyze") != 0) ++first;
  const std::string tool = AnalyzeToolPath();
  std::vector<char*> forwarded = {const_cast<char*>(tool.c_str())};
  for (int i = first; i < argc; ++i) forwarded.push_back(argv[i]);
  forwarded.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execvp(tool.c_str(), forwarded.data());
  std::fprintf(stderr,
               "error: fringe analyze runs the %s tool, which could not be started (%s): build "
               "the %s target and keep it next to fringe or on PATH\n",
               kAnalyzeTool, std::strerror(errno), kAnalyzeTool);
  return 127;
}

}  // namespace fringe
