// fringe: command-line client for a fringe server.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/cli/admin_commands.h"
#include "client/cli/analyze_command.h"
#include "client/cli/cli_util.h"
#include "client/cli/eval_command.h"
#include "client/cli/overlay.h"
#include "client/fringe_client.h"
#include "common/progress_bar.h"
#include "common/tensor_codec.h"
#include "data/image_io.h"
#include "data/labelled_dataset.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

int RunHealth(FringeClient& client, const std::string& service) {
  auto status = client.Health(service);
  if (!status.ok()) return ReportError("health check", status.status());
  std::printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*status).c_str());
  return *status == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

int RunInfo(FringeClient& client) {
  auto m = client.GetServerMetadata();
  if (!m.ok()) return ReportError("asking the server who it is", m.status());
  std::printf("api %s, fringe %s\nserver id %s on %s, %d worker(s)\n", m->api_version().c_str(),
              m->server_version().c_str(), m->server_id().c_str(), m->device().c_str(),
              m->workers());
  std::printf("default model %s\nlimits: %lld MiB per message, %lld pixels per frame\n",
              m->default_model().c_str(), static_cast<long long>(m->max_message_bytes() >> 20),
              static_cast<long long>(m->max_image_pixels()));
  std::printf("services: %s\n", absl::StrJoin(m->services(), ", ").c_str());
  return 0;
}

int RunModels(FringeClient& client, const std::string& name) {
  std::vector<v1::ModelDescription> models;
  if (name.empty()) {
    auto list = client.ListModels();
    if (!list.ok()) return ReportError("listing models", list.status());
    models.assign(list->models().begin(), list->models().end());
  } else {
    auto one = client.Describe(name, 0);
    if (!one.ok()) return ReportError("describing " + name, one.status());
    models.push_back(*one);
  }
  int name_width = 16;  // The columns stay aligned for long model names.
  for (const v1::ModelDescription& m : models) {
    name_width = std::max(name_width, static_cast<int>(m.name().size()));
  }
  std::printf("%-*s %7s %-8s %-16s %6s %10s  %s\n", name_width, "MODEL", "VERSION", "STATE", "ARCH",
              "TILE", "PARAMS", "NOTES");
  for (const v1::ModelDescription& m : models) {
    for (const v1::ModelVersionInfo& v : m.versions()) {
      std::string notes;
      if (m.is_default() && v.version() == m.serving_version()) notes += "default ";
      if (v.version() == m.serving_version()) notes += "serving ";
      if (v.config().untrained()) notes += "UNTRAINED ";
      if (!v.error().empty()) notes += "error: " + v.error();
      std::string state = v1::ModelState_Name(v.state());
      state = state.substr(std::string("MODEL_STATE_").size());
      if (v.version() == m.serving_version() && m.has_receptive_field()) {
        notes += absl::StrFormat("rf %dpx", m.receptive_field().pixels());
        if (m.receptive_field().nanometres() > 0) {
          notes += absl::StrFormat("=%.2fnm ", m.receptive_field().nanometres());
        } else {
          notes += " ";
        }
      }
      std::printf("%-*s %7lld %-8s %-16s %6d %10lld  %s\n", name_width, m.name().c_str(),
                  static_cast<long long>(v.version()), state.c_str(),
                  v.config().architecture().c_str(), v.config().tile_size(),
                  static_cast<long long>(v.parameters()), notes.c_str());
    }
  }
  return 0;
}

struct SegmentArgs {
  std::vector<std::string> images;
  std::string model;
  std::string out_dir;
  int max_in_flight = 4;
  bool save_probabilities = false;
  int64_t large_pixels = int64_t{4096} * 4096;
  int chunk = 2048;
  double pixel_size_nm = 0;  // > 0 overrides every file's calibration.
};

int RunSegment(FringeClient& client, const SegmentArgs& args) {
  auto model = ParseModelRef(args.model);
  if (!model.ok()) return ReportError("--model", model.status());
  std::error_code ec;
  fs::create_directories(args.out_dir, ec);
  if (ec) return ReportError("creating " + args.out_dir, absl::InternalError(ec.message()));

  // `next` runs on the stream's writer thread and `on_response` on this one (see
  // FringeClient::SegmentStream): everything below that both touch is guarded by `mu`.
  std::mutex mu;
  int failures = 0;
  size_t done = 0;
  ProgressBar progress("segment", static_cast<int64_t>(args.images.size()));
  // Request id (the image's index, unique even when a path repeats) -> (path, frame).
  std::map<std::string, std::pair<std::string, cv::Mat>> pending;
  std::vector<std::string> report;
  auto record = [&](std::string line, bool failed) {
    std::lock_guard<std::mutex> lock(mu);
    report.push_back(std::move(line));
    if (failed) ++failures;
  };
  auto tick = [&] {
    std::lock_guard<std::mutex> lock(mu);
    progress.Update(static_cast<int64_t>(++done));
  };

  auto finish = [&](const std::string& path, const cv::Mat& frame, const cv::Mat& mask,
                    const cv::Mat& probability, const std::string& trust) {
    const std::string stem = fs::path(path).stem().string();
    const std::string mask_path = (fs::path(args.out_dir) / (stem + "_mask.png")).string();
    const std::string overlay_path = (fs::path(args.out_dir) / (stem + "_overlay.png")).string();
    const cv::Mat mask255 = (mask != 0);  // 0/255 at the input's size.
    absl::Status s = WriteImageFile(mask_path, mask255);
    if (s.ok()) s = WriteImageFile(overlay_path, RenderOverlay(frame, mask));
    if (s.ok() && !probability.empty()) {
      s = WriteImageFile((fs::path(args.out_dir) / (stem + "_probability.tif")).string(),
                         probability);
    }
    if (!s.ok()) {
      record(absl::StrCat("error: ", path, ": ", s.message()), true);
      return;
    }
    const double fraction = 100.0 * cv::countNonZero(mask) / static_cast<double>(mask.total());
    // Warnings and out-of-domain reasons follow their image's line; they never fail the run.
    record(absl::StrCat(path, " -> ", mask_path, ", ", overlay_path, " (particle ",
                        absl::StrFormat("%.1f", fraction), "% of pixels)",
                        trust.empty() ? "" : "\n", absl::StripSuffix(trust, "\n")),
           false);
  };

  size_t next_index = 0;
  auto next = [&](v1::SegmentRequest* request) -> bool {
    while (next_index < args.images.size()) {
      const std::string& path = args.images[next_index++];
      auto image = data::ReadImage(path);
      absl::Status problem = image.status();
      if (image.ok()) {
        if (static_cast<int64_t>(image->pixels.total()) > args.large_pixels) {
          // Too big for one message: cut it up on this side.
          v1::Image calibration;
          const PixelSize pixel = SetWirePixelSize(image->pixel_size_x_nm, image->pixel_size_y_nm,
                                                   args.pixel_size_nm, &calibration);
          std::vector<std::string> warnings;
          auto mask =
              client.SegmentLargeFrame(image->pixels, *model, args.chunk, 64, pixel, &warnings);
          if (mask.ok()) {
            std::string trust;
            for (const std::string& w : warnings) absl::StrAppend(&trust, "  warning: ", w, "\n");
            finish(path, image->pixels, *mask, cv::Mat(), trust);
          } else {
            record(absl::StrCat("error: ", path, ": ", mask.status().message()), true);
          }
          tick();
          continue;
        }
        auto wire = MakeWireImage(image->pixels);
        if (wire.ok()) {
          const std::string id = std::to_string(next_index - 1);
          request->set_id(id);
          *request->mutable_model() = *model;
          *request->mutable_image() = *std::move(wire);
          SetWirePixelSize(image->pixel_size_x_nm, image->pixel_size_y_nm, args.pixel_size_nm,
                           request->mutable_image());
          if (args.save_probabilities) request->set_probabilities(v1::PROBABILITIES_FLOAT32);
          request->set_priority(v1::PRIORITY_INTERACTIVE);
          request->set_client_id("fringe-cli");
          {
            std::lock_guard<std::mutex> lock(mu);
            pending[id] = {path, image->pixels};
          }
          return true;
        }
        problem = wire.status();
      }
      record(absl::StrCat("error: ", path, ": ", problem.message()), true);
      tick();
    }
    return false;
  };
  auto on_response = [&](v1::SegmentResponse&& response) {
    std::string path;
    cv::Mat frame;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = pending.find(response.id());
      if (it == pending.end()) return;
      std::tie(path, frame) = it->second;
      pending.erase(it);
    }
    if (response.has_error() && response.error().code() != 0) {
      record(absl::StrCat("error: ", path, ": ", response.error().message()), true);
    } else {
      auto mask = TensorToMat(response.mask(), "mask");
      cv::Mat probability;
      if (mask.ok() && response.has_probabilities()) {
        auto p = TensorToMat(response.probabilities(), "probabilities");
        if (p.ok()) probability = *p;
      }
      if (mask.ok()) {
        finish(path, frame, *mask, probability, DescribeTrust(response));
      } else {
        record(absl::StrCat("error: ", path, ": ", mask.status().message()), true);
      }
    }
    tick();
  };

  const absl::Status stream = client.SegmentStream(next, on_response, args.max_in_flight);
  progress.Finish();
  for (const std::string& line : report) std::printf("%s\n", line.c_str());
  if (!stream.ok()) return ReportError("segmentation stream", stream);
  if (failures > 0) {
    std::fprintf(stderr, "%d of %zu images failed\n", failures, args.images.size());
    return 1;
  }
  return 0;
}

struct ExplainArgs {
  std::string image;
  std::string model;
  std::string method = "lrp";
  std::string target = "predicted";
  int class_index = 1;
  bool contrastive = false;
  std::vector<std::string> params;
  std::string out_dir;
  bool npy = false;
  double pixel_size_nm = 0;  // > 0 overrides the file's calibration.
};

// Parses --target: predicted | mask=FILE | box=X0,Y0,X1,Y1 | pixel=X,Y.
absl::Status ParseTarget(const std::string& spec, const cv::Size& size, v1::ExplainTarget* t) {
  const size_t eq = spec.find('=');
  const std::string kind = spec.substr(0, eq);
  const std::string value = eq == std::string::npos ? "" : spec.substr(eq + 1);
  std::vector<int> numbers;
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n)) break;
    numbers.push_back(n);
  }
  if (kind == "predicted" && value.empty()) {
    t->set_kind(v1::ExplainTarget::PREDICTED);
  } else if (kind == "box" && numbers.size() == 4) {
    t->set_kind(v1::ExplainTarget::BOX);
    t->set_x0(numbers[0]);
    t->set_y0(numbers[1]);
    t->set_x1(numbers[2]);
    t->set_y1(numbers[3]);
  } else if (kind == "pixel" && numbers.size() == 2) {
    t->set_kind(v1::ExplainTarget::PIXEL);
    t->set_x0(numbers[0]);
    t->set_y0(numbers[1]);
  } else if (kind == "mask" && !value.empty()) {
    auto mask = data::ReadMask(value);
    if (!mask.ok()) return mask.status();
    if (mask->size() != size) {
      return absl::InvalidArgumentError(absl::StrCat("mask ", value, " is not the image's size"));
    }
    t->set_kind(v1::ExplainTarget::MASK);
    auto tensor = MatToTensor(*mask);
    if (!tensor.ok()) return tensor.status();
    *t->mutable_mask() = *std::move(tensor);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", spec, "\": expected predicted, mask=FILE, box=X0,Y0,X1,Y1 or pixel=X,Y"));
  }
  return absl::OkStatus();
}

// `explain`: writes OUT/<stem>_relevance.tif (float32) and OUT/<stem>_relevance.png.
int RunExplain(FringeClient& client, const ExplainArgs& args) {
  auto model = ParseModelRef(args.model);
  if (!model.ok()) return ReportError("--model", model.status());
  auto image = data::ReadImage(args.image);
  if (!image.ok()) return ReportError(args.image, image.status());
  v1::ExplainRequest request;
  request.set_id(args.image);
  *request.mutable_model() = *model;
  auto wire = MakeWireImage(image->pixels);
  if (!wire.ok()) return ReportError(args.image, wire.status());
  *request.mutable_image() = *std::move(wire);
  SetWirePixelSize(image->pixel_size_x_nm, image->pixel_size_y_nm, args.pixel_size_nm,
                   request.mutable_image());
  request.set_method(args.method);
  request.set_client_id("fringe-cli");
  for (const std::string& p : args.params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ReportError("--param", absl::InvalidArgumentError(p + ": expected KEY=VALUE"));
    }
    (*request.mutable_parameters())[p.substr(0, eq)] = p.substr(eq + 1);
  }
  if (absl::Status s = ParseTarget(args.target, image->pixels.size(), request.mutable_target());
      !s.ok()) {
    return ReportError("--target", s);
  }
  request.mutable_target()->set_class_index(args.class_index);
  request.mutable_target()->set_contrastive(args.contrastive);
  auto response = client.Explain(request);
  if (!response.ok()) return ReportError("explain", response.status());
  auto relevance = TensorToMat(response->relevance(), "relevance");
  if (!relevance.ok()) return ReportError("explain", relevance.status());
  std::error_code ec;
  fs::create_directories(args.out_dir, ec);
  if (ec) return ReportError("creating " + args.out_dir, absl::InternalError(ec.message()));
  const std::string stem = fs::path(args.image).stem().string();
  const std::string tif = (fs::path(args.out_dir) / (stem + "_relevance.tif")).string();
  const std::string png = (fs::path(args.out_dir) / (stem + "_relevance.png")).string();
  const std::string npy = (fs::path(args.out_dir) / (stem + "_relevance.npy")).string();
  absl::Status s = WriteImageFile(tif, *relevance);
  if (s.ok()) s = WriteImageFile(png, RenderRelevance(image->pixels, *relevance));
  if (s.ok() && args.npy) s = data::WriteNpy(npy, *relevance);
  if (!s.ok()) return ReportError("writing the relevance", s);
  std::printf("%s: %s on %s:%lld, target %.6g, relevance sum %.6g, residual %.6g (%.0f ms)\n",
              args.image.c_str(), response->method().c_str(), response->model_name().c_str(),
              static_cast<long long>(response->model_version()), response->target_value(),
              response->relevance_sum(), response->conservation_residual(), response->compute_ms());
  for (const std::string& w : response->warnings()) std::printf("  warning: %s\n", w.c_str());
  if (args.npy) {
    std::printf("wrote %s, %s and %s\n", tif.c_str(), png.c_str(), npy.c_str());
  } else {
    std::printf("wrote %s and %s\n", tif.c_str(), png.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace fringe

int main(int argc, char** argv) {
  CLI::App app{"fringe: client for a fringe HRTEM segmentation server"};
  app.require_subcommand(1);
  std::string server = "127.0.0.1:50051";
  double timeout_s = 300;
  app.add_option("--server", server, "Server address HOST:PORT")->capture_default_str();
  app.add_option("--timeout", timeout_s, "Seconds per unary call")->capture_default_str();

  std::string health_service;
  CLI::App* health =
      app.add_subcommand("health", "Ask whether the server is SERVING (exit 0 if so)");
  health->add_option("--service", health_service, "Service name; empty = whole server");

  CLI::App* info =
      app.add_subcommand("info", "The server's API and release, device, limits and services");

  std::string models_name;
  CLI::App* models = app.add_subcommand("models", "List models, versions and their state");
  models->add_option("name", models_name, "Describe only this model");

  fringe::SegmentArgs seg;
  CLI::App* segment = app.add_subcommand(
      "segment",
      "Segment images (TIFF 8/16/32-bit and float, PNG, NPY, MRC, DM3/DM4); writes "
      "OUT/<stem>_mask.png (0/255) and OUT/<stem>_overlay.png");
  segment->add_option("images", seg.images, "Image files")->required()->check(CLI::ExistingFile);
  segment->add_option("--model", seg.model, "NAME or NAME:VERSION [the server's default]");
  segment->add_option("--out", seg.out_dir, "Output directory")->required();
  segment->add_option("--max-in-flight", seg.max_in_flight, "Images in flight on the stream")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  segment->add_flag("--probabilities", seg.save_probabilities,
                    "Also write OUT/<stem>_probability.tif (float32 p(particle))");
  segment
      ->add_option("--pixel-size-nm", seg.pixel_size_nm,
                   "Pixel size of every image (nm), overriding file metadata; the server "
                   "resamples frames to the model's pixel size")
      ->check(CLI::Range(1e-4, 1e4));
  segment
      ->add_option("--chunk", seg.chunk,
                   "Frames above 4096x4096 pixels are sent in pieces of this size")
      ->capture_default_str()
      ->check(CLI::Range(256, 8192));

  fringe::EvalArgs eval_args;
  CLI::App* eval = app.add_subcommand(
      "eval",
      "Segment a labelled folder (DIR/images/<stem>.*, DIR/masks/<stem>.png, optional "
      "manifest.json or params.csv with doses) and report Dice, IoU, precision, recall "
      "and F1 per image, their means, pooled Dice and mean Dice per dose bin "
      "(< 100, 100-300, >= 300 e/A^2)");
  eval->add_option("--data", eval_args.data_dir, "Labelled folder")->required();
  eval->add_option("--model", eval_args.model, "NAME or NAME:VERSION [the server's default]");
  eval->add_option("--out", eval_args.out_dir,
                   "Also write OUT/eval.csv, OUT/eval_summary.json and OUT/dice_vs_dose.png");
  eval->add_option("--max-in-flight", eval_args.max_in_flight, "Images in flight on the stream")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  eval->add_option("--pixel-size-nm", eval_args.pixel_size_nm,
                   "Pixel size of every image (nm), overriding manifest and file metadata")
      ->check(CLI::Range(1e-4, 1e4));
  eval->add_flag("--quiet", eval_args.quiet, "Print only the summary, not one line per image");

  fringe::ExplainArgs ex;
  CLI::App* explain = app.add_subcommand(
      "explain",
      "Relevance map of a served model's segmentation of IMAGE (LRP by default); "
      "writes OUT/<stem>_relevance.tif (float32) and OUT/<stem>_relevance.png");
  explain->add_option("image", ex.image, "Image file")->required()->check(CLI::ExistingFile);
  explain->add_option("--model", ex.model, "NAME or NAME:VERSION [the server's default]");
  explain
      ->add_option("--method", ex.method,
                   "lrp, lrp-<composite or rule>, gradient, gradient-x-input, "
                   "integrated-gradients, smoothgrad, grad-cam, occlusion, frequency-occlusion")
      ->capture_default_str();
  explain->add_option("--target", ex.target, "predicted | mask=FILE | box=X0,Y0,X1,Y1 | pixel=X,Y")
      ->capture_default_str();
  explain->add_option("--class", ex.class_index, "Class whose logits are explained")
      ->capture_default_str();
  explain->add_flag("--contrastive", ex.contrastive, "The class against the others");
  explain->add_option("--param", ex.params, "Method parameter KEY=VALUE (repeatable)");
  explain->add_option("--out", ex.out_dir, "Output directory")->required();
  explain
      ->add_option("--pixel-size-nm", ex.pixel_size_nm,
                   "Pixel size of the image (nm), overriding file metadata")
      ->check(CLI::Range(1e-4, 1e4));
  explain->add_flag("--npy", ex.npy, "Also write OUT/<stem>_relevance.npy (float32, numpy)");

  fringe::AnalyzeArgs analyze_args;
  CLI::App* analyze = fringe::AddAnalyzeCommand(app, &analyze_args);
  fringe::AdminArgs admin;
  fringe::AddAdminCommands(app, models, &admin);

  CLI11_PARSE(app, argc, argv);
  if (*analyze) return fringe::LaunchAnalyzeTool(argc, argv);  // Local work: no server.

  fringe::FringeClient::Options options;
  options.target = server;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  auto client = fringe::FringeClient::Create(options);
  if (*health) return fringe::RunHealth(*client, health_service);
  if (std::optional<int> code = fringe::RunAdminCommand(*client, admin)) return *code;
  if (*info) return fringe::RunInfo(*client);
  if (*models) return fringe::RunModels(*client, models_name);
  if (*segment) return fringe::RunSegment(*client, seg);
  if (*explain) return fringe::RunExplain(*client, ex);
  if (*eval) {
    eval_args.server = server;
    return fringe::RunEval(*client, eval_args);
  }
  return 2;
}
