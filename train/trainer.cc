#include "train/trainer.h"

#include <google/protobuf/text_format.h>
#include <torch/torch.h>

#include <array>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "common/segmentation_metrics.h"
#include "data/image_io.h"
#include "models/fcn8s.h"
#include "models/fcn8s_io.h"
#include "models/model_config.h"
#include "models/repository_layout.h"
#include "models/segmentation_net.h"
#include "train/segmentation_loss.h"
#include "train/training_data.h"

#ifndef FRINGE_GIT_REVISION
#define FRINGE_GIT_REVISION "unknown"
#endif

namespace fringe {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Implementation

namespace {

std::string StepDirName(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%09lld", static_cast<long long>(step));
  return buf;
}

std::string NowIso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Learning rate at `step`: linear warm-up, then cosine decay to the floor.
double LearningRate(const v1::TrainConfig& c, int64_t step) {
  if (step < c.warmup_steps()) return c.learning_rate() * (step + 1) / c.warmup_steps();
  const double span = std::max<int64_t>(1, c.steps() - c.warmup_steps());
  const double progress = std::min(1.0, (step - c.warmup_steps()) / span);
  return c.min_learning_rate() +
         0.5 * (c.learning_rate() - c.min_learning_rate()) * (1 + std::cos(M_PI * progress));
}

}  // namespace

class Trainer::Impl {
 public:
  Impl(v1::TrainConfig config, Options options) : config_(std::move(config)), options_(options) {}

  absl::Status Init();
  absl::StatusOr<TrainResult> Run(const std::function<void(const TrainProgress&)>& on_progress);
  std::vector<float> Snapshot() const;
  std::map<std::string, std::vector<float>> NamedSnapshot() const;

 private:
  // Both return nothing when run_piece refused a piece (the run is stopping).
  std::optional<double> TrainStep(const Batch& batch);
  std::optional<std::map<std::string, double>> Validate();
  // Runs `fn` through Options::run_piece (or directly); false when it was refused.
  bool Piece(const std::function<void()>& fn) {
    if (!options_.run_piece) {
      fn();
      return true;
    }
    return options_.run_piece(fn);
  }
  absl::Status SaveCheckpoint();
  absl::Status LoadCheckpoint(const std::string& dir);
  absl::Status SaveBest();
  absl::StatusOr<repository_layout::CommittedVersion> WriteVersion(const TrainResult& result);
  std::string LatestCheckpoint() const;

  v1::TrainConfig config_;
  Options options_;
  std::unique_ptr<TrainingData> data_;
  SegmentationNet net_;
  torch::Device device_{torch::kCPU};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  // Fine-tuning: the backbone's parameters, and whether they have their own parameter group
  // (group 0) because backbone_lr_multiplier != 1.
  std::vector<torch::Tensor> backbone_;
  bool backbone_group_ = false;
  std::string init_summary_;  // How the weights were initialised (provenance), if notable.
  std::vector<ValidationImage> validation_;

  int64_t step_ = 0;
  std::map<std::string, double> best_;
  int64_t best_step_ = 0;
  int stale_validations_ = 0;
  nlohmann::json history_ = nlohmann::json::array();
  // Training time of the runs this one resumed (from the checkpoint), for the time budget.
  double training_seconds_ = 0;
  bool resumed_ = false;
  int64_t resumed_from_ = 0;
};

absl::Status Trainer::Impl::Init() {
  torch::set_num_threads(config_.threads());
  try {
    device_ = torch::Device(options_.device);
  } catch (const c10::Error&) {
    return absl::InvalidArgumentError(
        absl::StrCat("device \"", options_.device, "\" is not \"cpu\" or \"cuda:N\""));
  }
  if (device_.is_cuda() && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", options_.device, " was asked for, but this LibTorch build sees no CUDA device"));
  }
  auto data = TrainingData::Create(config_);
  if (!data.ok()) return data.status();
  data_ = *std::move(data);
  torch::manual_seed(MixSeed(config_.seed(), 0x1417));
  auto built = BuildSegmentationNet(config_.model());
  if (!built.ok()) return built.status();
  net_ = *std::move(built);
  if (!config_.init_from().empty()) {
    // Fine-tuning starts from an existing version of the same architecture.
    auto start =
        LoadSegmentationNet(config_.model(), repository_layout::WeightsPath(config_.init_from()));
    if (!start.ok()) {
      return absl::Status(start.status().code(),
                          absl::StrCat("init_from: ", start.status().message()));
    }
    net_ = *std::move(start);
    init_summary_ = absl::StrCat("initialised from ", config_.init_from());
  }
  if (!config_.vgg16_weights().empty()) {
    auto imported = ImportVgg16Weights(*std::dynamic_pointer_cast<FCN8sImpl>(net_.module),
                                       config_.vgg16_weights());
    if (!imported.ok()) {
      return absl::Status(imported.status().code(),
                          absl::StrCat("vgg16_weights: ", imported.status().message()));
    }
    init_summary_ = imported->summary;
  }
  net_.module->to(device_);  // Before the optimiser: its state lives where the parameters do.
  backbone_ = net_.backbone_parameters();
  const auto adam =
      torch::optim::AdamOptions(config_.learning_rate()).weight_decay(config_.weight_decay());
  if (config_.backbone_lr_multiplier() == 1.0) {
    // One group, exactly as before fine-tuning existed (U-Net runs stay bit-identical).
    optimizer_ = std::make_unique<torch::optim::Adam>(net_.module->parameters(), adam);
  } else {
    // Discriminative learning rates: group 0 is the backbone, group 1 everything else; the
    // learning rate of each is set every step (TrainStep).
    std::set<const void*> in_backbone;
    for (const auto& p : backbone_) in_backbone.insert(p.unsafeGetTensorImpl());
    std::vector<torch::Tensor> head;
    for (const auto& p : net_.module->parameters()) {
      if (!in_backbone.count(p.unsafeGetTensorImpl())) head.push_back(p);
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(backbone_, std::make_unique<torch::optim::AdamOptions>(adam));
    groups.emplace_back(head, std::make_unique<torch::optim::AdamOptions>(adam));
    optimizer_ = std::make_unique<torch::optim::Adam>(std::move(groups), adam);
    backbone_group_ = true;
  }
  validation_ = data_->MakeValidationSet();

  const std::string latest = LatestCheckpoint();
  if (!latest.empty()) {
    if (!options_.resume) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoints exist in ", config_.checkpoint_dir(),
          "; pass --resume to continue that run, or remove the directory to start over"));
    }
    if (absl::Status s = LoadCheckpoint(latest); !s.ok()) return s;
    resumed_ = true;
    resumed_from_ = step_;
  }
  return absl::OkStatus();
}

std::string Trainer::Impl::LatestCheckpoint() const {
  if (config_.checkpoint_dir().empty()) return "";
  auto latest = ReadFile((fs::path(config_.checkpoint_dir()) / "LATEST").string());
  if (!latest.ok()) return "";
  std::string name = *latest;
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return (fs::path(config_.checkpoint_dir()) / name).string();
}

std::optional<double> Trainer::Impl::TrainStep(const Batch& batch) {
  // Dropout draws from torch's generator: reseed it per step so a resumed run draws the same.
  torch::manual_seed(MixSeed(config_.seed(), static_cast<uint64_t>(step_), 0xD20));
  const int64_t n = batch.size, t = batch.tile;
  const torch::Tensor x =
      torch::from_blob(const_cast<float*>(batch.images.data()), {n, 1, t, t}, torch::kFloat32);
  const torch::Tensor y =
      torch::from_blob(const_cast<uint8_t*>(batch.masks.data()), {n, t, t}, torch::kUInt8)
          .to(torch::kLong);
  if (config_.freeze_backbone_steps() > 0) {
    // Frozen parameters get no gradient at all, so Adam skips them entirely (a zero gradient
    // would still move them through momentum and weight decay), and backpropagation stops
    // at the head, which makes the warm-up steps cheap. A frozen backbone's BatchNorm
    // statistics (U-Net) still follow the training batches: the new domain's statistics are
    // what the head should see.
    const bool trainable = step_ >= config_.freeze_backbone_steps();
    for (auto& p : backbone_) p.set_requires_grad(trainable);
  }
  net_.module->train();
  const double lr = LearningRate(config_, step_);
  for (size_t g = 0; g < optimizer_->param_groups().size(); ++g) {
    const double scale = backbone_group_ && g == 0 ? config_.backbone_lr_multiplier() : 1.0;
    static_cast<torch::optim::AdamOptions&>(optimizer_->param_groups()[g].options()).lr(lr * scale);
  }
  optimizer_->zero_grad();
  // Gradient accumulation over micro-batches; with one piece this is the plain batch step.
  const int64_t micro = config_.micro_batch() > 0 ? std::min<int64_t>(config_.micro_batch(), n) : n;
  double total = 0;
  for (int64_t first = 0; first < n; first += micro) {
    if (first > 0 && options_.between_micro_batches) options_.between_micro_batches();
    const int64_t m = std::min(micro, n - first);
    const bool last = first + m >= n;
    const bool ran = Piece([&] {
      const torch::Tensor xs = (m == n ? x : x.narrow(0, first, m)).to(device_);
      const torch::Tensor ys = (m == n ? y : y.narrow(0, first, m)).to(device_);
      const torch::Tensor logits = net_.forward(xs);
      SegmentationLossOptions lopts;
      lopts.focal_gamma = config_.loss().focal_gamma();
      lopts.dice_weight = config_.dice_weight();
      lopts.false_positive_weight = config_.loss().false_positive_weight();
      torch::Tensor loss = SegmentationLoss(logits, ys, lopts).total;
      if (m != n) loss = loss * (static_cast<double>(m) / n);
      loss.backward();
      total += loss.item<double>();
      if (last) optimizer_->step();
    });
    if (!ran) return std::nullopt;
  }
  return total;
}

std::optional<std::map<std::string, double>> Trainer::Impl::Validate() {
  net_.module->eval();
  ConfusionCounts pooled;
  double dice_sum = 0;
  std::map<std::string, std::pair<double, int>> bins;
  const int multiple = NetworkInputMultiple(config_.model());
  for (const ValidationImage& v : validation_) {
    // Labelled images can have any size: pad with zeros (the standardised mean) to the
    // network's multiple and crop the prediction back.
    cv::Mat padded;
    cv::copyMakeBorder(v.image, padded, 0, (multiple - v.image.rows % multiple) % multiple, 0,
                       (multiple - v.image.cols % multiple) % multiple, cv::BORDER_CONSTANT,
                       cv::Scalar(0));
    // One image is one piece of device work (a validation takes seconds on a CPU).
    torch::Tensor predicted;
    const bool ran = Piece([&] {
      torch::NoGradGuard no_grad;  // Thread-local: inside the piece, which may run elsewhere.
      const torch::Tensor x =
          torch::from_blob(padded.ptr<float>(), {1, 1, padded.rows, padded.cols}, torch::kFloat32)
              .to(device_);
      predicted = net_.forward(x).argmax(1).squeeze(0).to(torch::kCPU, torch::kUInt8).contiguous();
    });
    if (!ran) return std::nullopt;
    const cv::Mat full(padded.rows, padded.cols, CV_8U, predicted.data_ptr<uint8_t>());
    const cv::Mat mask = full(cv::Rect(0, 0, v.image.cols, v.image.rows));
    const ConfusionCounts counts = CountConfusion(mask, v.mask);
    pooled += counts;
    const double dice = ComputeMetrics(counts).dice;
    dice_sum += dice;
    if (v.dose) {
      // One key per DoseBin (common/segmentation_metrics.h), as progress reports name them.
      static constexpr std::array<const char*, kNumDoseBins> kBinKeys = {
          "dice_dose_lt100", "dice_dose_100_300", "dice_dose_ge300"};
      const std::string bin = kBinKeys[DoseBin(*v.dose)];
      bins[bin].first += dice;
      bins[bin].second += 1;
    }
  }
  const SegmentationMetrics m = ComputeMetrics(pooled);
  std::map<std::string, double> out = {
      {"dice", validation_.empty() ? 0 : dice_sum / validation_.size()},
      {"dice_pooled", m.dice},
      {"iou", m.iou},
      {"precision", m.precision},
      {"recall", m.recall},
      {"f1", m.f1},
      {"accuracy", m.accuracy}};
  for (const auto& [name, acc] : bins) out[name] = acc.first / acc.second;
  return out;
}

absl::Status Trainer::Impl::SaveBest() {
  if (config_.checkpoint_dir().empty()) return absl::OkStatus();
  const fs::path dir(config_.checkpoint_dir());
  try {
    fs::create_directories(dir);
    torch::save(net_.module, (dir / "best.pt.tmp").string());
    fs::rename(dir / "best.pt.tmp", dir / "best.pt");
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot save the best model in ", dir.string(), ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status Trainer::Impl::SaveCheckpoint() {
  if (config_.checkpoint_dir().empty()) return absl::OkStatus();
  const fs::path root(config_.checkpoint_dir());
  const std::string name = StepDirName(step_);
  const fs::path tmp = root / (name + ".tmp");
  try {
    // Everything goes into a temporary directory that is renamed into place, then LATEST is
    // replaced atomically: a crash at any point leaves the previous checkpoint usable.
    fs::create_directories(tmp);
    torch::save(net_.module, (tmp / "model.pt").string());
    torch::save(*optimizer_, (tmp / "optimizer.pt").string());
    nlohmann::json state = {{"step", step_},
                            {"best", best_},
                            {"best_step", best_step_},
                            {"stale_validations", stale_validations_},
                            {"history", history_},
                            {"config", ModelConfigToText(config_.model())},
                            {"training_seconds", training_seconds_}};
    std::ofstream(tmp / "state.json") << state.dump(1);
    fs::remove_all(root / name);
    fs::rename(tmp, root / name);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot write checkpoint ", (root / name).string(), ": ", e.what()));
  }
  if (absl::Status s = WriteFileAtomically((root / "LATEST").string(), name + "\n"); !s.ok()) {
    return s;
  }
  // Keep this checkpoint and the one before it.
  std::vector<std::string> steps;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step-", 0) == 0 && n.find(".tmp") == std::string::npos) {
      steps.push_back(n);
    }
  }
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + 2 < steps.size(); ++i) fs::remove_all(root / steps[i]);
  return absl::OkStatus();
}

absl::Status Trainer::Impl::LoadCheckpoint(const std::string& dir) {
  auto others = [&] {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(config_.checkpoint_dir(), ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("step-", 0) == 0 && e.path().string() != dir) names.push_back(n);
    }
    return names.empty() ? std::string("none") : absl::StrJoin(names, ", ");
  };
  auto state_text = ReadFile((fs::path(dir) / "state.json").string());
  if (!state_text.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", dir, " is incomplete (",
                                            state_text.status().message(),
                                            "); other checkpoints: ", others()));
  }
  try {
    const nlohmann::json state = nlohmann::json::parse(*state_text);
    torch::load(net_.module, (fs::path(dir) / "model.pt").string(), device_);
    torch::load(*optimizer_, (fs::path(dir) / "optimizer.pt").string(), device_);
    step_ = state.at("step").get<int64_t>();
    best_ = state.at("best").get<std::map<std::string, double>>();
    best_step_ = state.at("best_step").get<int64_t>();
    stale_validations_ = state.at("stale_validations").get<int>();
    history_ = state.at("history");
    training_seconds_ = state.value("training_seconds", 0.0);  // Absent before it was kept.
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrCat("checkpoint ", dir, " is unreadable: ", e.what(),
                     "; it was left in place; other checkpoints: ", others()));
  }
  return absl::OkStatus();
}

absl::StatusOr<repository_layout::CommittedVersion> Trainer::Impl::WriteVersion(
    const TrainResult& result) {
  v1::ModelConfig model = config_.model();
  model.set_untrained(false);
  v1::Provenance* p = model.mutable_provenance();
  p->set_created_by("fringe-train 0.1.0");
  p->set_created_at(NowIso8601());
  p->set_git_revision(options_.source_revision.empty() ? FRINGE_GIT_REVISION
                                                       : options_.source_revision);
  p->set_data(data_->Describe());
  p->set_seed(config_.seed());
  for (const auto& [k, v] : result.best_validation) (*p->mutable_metrics())["val_" + k] = v;
  p->set_notes(absl::StrCat(
      "steps ", result.steps, ", best step ", result.best_step,
      result.stopped_early ? ", stopped early" : "", ", tile ", config_.tile(), ", batch ",
      config_.batch_size(), ", lr ", config_.learning_rate(), ", validation seed ",
      config_.validation_seed(), " (", config_.validation_images(), " images of ",
      config_.validation_size(), " px)",
      config_.freeze_backbone_steps() > 0
          ? absl::StrCat(", backbone frozen for ", config_.freeze_backbone_steps(), " steps")
          : "",
      config_.backbone_lr_multiplier() != 1.0
          ? absl::StrCat(", backbone lr x ", config_.backbone_lr_multiplier())
          : "",
      init_summary_.empty() ? "" : "; ", init_summary_));
  FRINGE_ASSIGN_OR_RETURN(
      const std::string staging,
      repository_layout::CreateStagingDir(config_.output_repository(), config_.output_name()));
  try {
    // Versions are served anywhere: their weights are saved from the CPU.
    net_.module->to(torch::kCPU);
    torch::save(net_.module, repository_layout::WeightsPath(staging));
    net_.module->to(device_);
    std::ofstream out(repository_layout::ConfigPath(staging));
    out << "# Written by fringe-train; see provenance.\n" << ModelConfigToText(model);
    out.close();
    if (!out) throw std::runtime_error("cannot write " + repository_layout::ConfigPath(staging));
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    return absl::InternalError(absl::StrCat("cannot write the model version: ", e.what()));
  }
  return repository_layout::CommitVersion(config_.output_repository(), config_.output_name(),
                                          staging);
}

absl::StatusOr<TrainResult> Trainer::Impl::Run(
    const std::function<void(const TrainProgress&)>& on_progress) {
  const auto start = std::chrono::steady_clock::now();
  TrainResult result;
  result.resumed = resumed_;
  result.resumed_from_step = resumed_from_;
  const int64_t run_start_step = step_;
  const double earlier_seconds = training_seconds_;
  const double budget_seconds =
      config_.max_seconds() > 0 ? config_.max_seconds() : 60.0 * config_.max_minutes();
  double loss_sum = 0;
  int loss_count = 0;
  bool stop = false;
  bool cancelled = false;

  // The next batch is prepared on another thread while this one trains (unless prefetch is
  // off: then on this thread, inside the step).
  std::future<Batch> next;
  if (options_.prefetch && step_ < config_.steps()) {
    next = std::async(std::launch::async, [this, s = step_] { return data_->MakeBatch(s); });
  }
  while (step_ < config_.steps() && !stop) {
    if (options_.before_step) options_.before_step();
    // A stop raised while waiting for the step (server shutdown, memory budget, Ctrl-C) ends
    // the run before the step, keeping what was trained so far.
    if (options_.stop_requested && options_.stop_requested->load()) {
      cancelled = true;
      if (step_ > 0) {
        if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
      }
      break;
    }
    Batch batch;
    if (options_.prefetch) {
      batch = next.get();
      if (step_ + 1 < config_.steps()) {
        next =
            std::async(std::launch::async, [this, s = step_ + 1] { return data_->MakeBatch(s); });
      }
    } else if (Piece([&] { batch = data_->MakeBatch(step_); })) {
      if (options_.between_micro_batches) options_.between_micro_batches();
    }
    // A refused piece (the server is stopping) ends the run like a stop request: the weights
    // are still those of step_ (no optimiser step was taken), so that is what is kept. (The
    // BatchNorm running statistics may have seen part of the unfinished step: a resumed run
    // is then not bit-identical to an uninterrupted one, unlike after a stop between steps.)
    const std::optional<double> loss = batch.size > 0 ? TrainStep(batch) : std::optional<double>();
    if (!loss.has_value()) {
      cancelled = true;
      if (step_ > 0) {
        if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
      }
      break;
    }
    loss_sum += *loss;
    ++loss_count;
    ++step_;

    TrainProgress progress;
    progress.step = step_;
    progress.total_steps = config_.steps();
    progress.learning_rate = LearningRate(config_, step_ - 1);
    const bool validate = step_ % config_.validate_every() == 0 || step_ == config_.steps();
    if (validate) {
      const auto validated = Validate();
      if (!validated.has_value()) {
        cancelled = true;
        if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
        break;
      }
      const std::map<std::string, double>& metrics = *validated;
      progress.validated = true;
      progress.validation = metrics;
      history_.push_back({{"step", step_}, {"metrics", metrics}});
      if (best_.empty() || metrics.at("dice") > best_.at("dice")) {
        best_ = metrics;
        best_step_ = step_;
        stale_validations_ = 0;
        if (absl::Status s = SaveBest(); !s.ok()) return s;
      } else if (++stale_validations_ >= config_.early_stopping_patience() &&
                 config_.early_stopping_patience() > 0) {
        result.stopped_early = true;
        stop = true;
      }
    }
    if (validate || step_ % options_.report_every == 0 || step_ == config_.steps()) {
      progress.loss = loss_count ? loss_sum / loss_count : 0;
      loss_sum = 0;
      loss_count = 0;
      if (on_progress) on_progress(progress);
    }
    training_seconds_ =
        earlier_seconds +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (budget_seconds > 0 && training_seconds_ >= budget_seconds) stop = true;
    if (options_.stop_after_steps > 0 && step_ - run_start_step >= options_.stop_after_steps) {
      stop = true;
      cancelled = true;
    }
    if (options_.stop_requested && options_.stop_requested->load()) {
      stop = true;
      cancelled = true;
    }
    if (stop || step_ % config_.checkpoint_every() == 0 || step_ == config_.steps()) {
      if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
    }
  }
  if (next.valid()) next.wait();
  result.steps = step_;
  result.best_validation = best_;
  result.best_step = best_step_;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.training_seconds = training_seconds_;
  if (cancelled) {
    return absl::CancelledError(
        absl::StrCat("stopped at step ", step_, "; checkpoint in ", config_.checkpoint_dir()));
  }
  if (options_.write_version && !config_.output_repository().empty()) {
    // Ship the weights of the best validation, not the last step.
    const fs::path best = fs::path(config_.checkpoint_dir()) / "best.pt";
    if (fs::exists(best)) {
      try {
        torch::load(net_.module, best.string(), device_);
      } catch (const c10::Error& e) {
        return absl::DataLossError(
            absl::StrCat(best.string(), " is unreadable: ", e.what_without_backtrace()));
      }
    }
    FRINGE_ASSIGN_OR_RETURN(const repository_layout::CommittedVersion written,
                            WriteVersion(result));
    result.version = written.version;
    result.version_dir = written.dir;
  }
  return result;
}

std::vector<float> Trainer::Impl::Snapshot() const {
  std::vector<float> out;
  for (const auto& p : net_.module->parameters()) {
    const torch::Tensor flat = p.detach().cpu().contiguous().view(-1);
    out.insert(out.end(), flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  }
  return out;
}

std::map<std::string, std::vector<float>> Trainer::Impl::NamedSnapshot() const {
  std::map<std::string, std::vector<float>> out;
  for (const auto& item : net_.module->named_parameters()) {
    const torch::Tensor flat = item.value().detach().cpu().contiguous().view(-1);
    out[item.key()].assign(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const v1::TrainConfig& config,
                                                         const Options& options) {
  v1::TrainConfig filled = config;
  ApplyTrainConfigDefaults(&filled);
  if (absl::Status s = ValidateTrainConfig(filled); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(filled, options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

absl::StatusOr<TrainResult> Trainer::Run(
    const std::function<void(const TrainProgress&)>& on_progress) {
  // LibTorch reports shape and allocation problems by throwing; they stop here.
  try {
    return impl_->Run(on_progress);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("training failed: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("training failed: ", e.what()));
  }
}

std::vector<float> Trainer::ParameterSnapshot() const { return impl_->Snapshot(); }

std::map<std::string, std::vector<float>> Trainer::NamedParameterSnapshot() const {
  return impl_->NamedSnapshot();
}

}  // namespace fringe
