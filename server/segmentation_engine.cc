#include "server/segmentation_engine.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/frame_preparation.h"
#include "models/frame_quality.h"
#include "models/frame_segmenter.h"
#include "server/explanation_engine.h"
#include "server/priority.h"

namespace fringe {

SegmentationEngine::SegmentationEngine(const ModelRepository* repository, Options options,
                                       ExplanationEngine* explanation)
    : repository_(repository), options_(options), explanation_(explanation) {}

namespace {

absl::Status ValidateRequest(const v1::SegmentRequest& request) {
  if (!v1::ProbabilityFormat_IsValid(request.probabilities())) {
    return absl::InvalidArgumentError(
        absl::StrCat("probabilities is ", request.probabilities(), "; expected 0..3"));
  }
  return ValidatePriority(request.priority(), "priority");
}

absl::StatusOr<v1::Tensor> EncodeProbabilities(const cv::Mat& p, v1::ProbabilityFormat format) {
  cv::Mat encoded;
  switch (format) {
    case v1::PROBABILITIES_UINT8:
      p.convertTo(encoded, CV_8U, 255.0);
      break;
    case v1::PROBABILITIES_FLOAT16:
      p.convertTo(encoded, CV_16F);
      break;
    default:
      encoded = p;
      break;
  }
  return MatToTensor(encoded);
}

v1::FrameScale::Decision ToProto(ScaleDecision d) {
  switch (d) {
    case ScaleDecision::kNative:
      return v1::FrameScale::NATIVE;
    case ScaleDecision::kResampled:
      return v1::FrameScale::RESAMPLED;
    case ScaleDecision::kUnknownPixelSize:
      return v1::FrameScale::UNKNOWN_PIXEL_SIZE;
    case ScaleDecision::kOutOfRange:
      return v1::FrameScale::OUT_OF_RANGE;
  }
  return v1::FrameScale::DECISION_UNSPECIFIED;
}

}  // namespace

v1::FrameScale FrameScaleProto(const PixelSize& requested, double model_pixel_nm,
                               const ScalePlan& plan) {
  v1::FrameScale scale;
  scale.set_decision(ToProto(plan.decision));
  scale.set_frame_pixel_size_x_nm(requested.x_nm);
  scale.set_frame_pixel_size_y_nm(requested.y_nm);
  scale.set_model_pixel_size_nm(model_pixel_nm);
  scale.set_model_height(plan.model_size.height);
  scale.set_model_width(plan.model_size.width);
  return scale;
}

struct SegmentationEngine::Prepared {
  ServableModel model;
  FrameInput input;  // At the model's scale.
  FrameSegmenterOptions tiling;
  PixelSize requested_pixel;
  PreparedFrame frame;  // frame.frame is input.frame.
};

absl::StatusOr<ServableModel> SegmentationEngine::Resolve(const v1::SegmentRequest& request) const {
  return repository_->Get(request.model().name(), request.model().version());
}

absl::StatusOr<SegmentationEngine::Prepared> SegmentationEngine::Prepare(
    const v1::SegmentRequest& request, const ServableModel& model) const {
  FRINGE_RETURN_IF_ERROR(ValidateRequest(request));
  Prepared p;
  p.model = model;
  FRINGE_ASSIGN_OR_RETURN(cv::Mat decoded, DecodeImageToFloat(request.image(), options_.limits));
  FRINGE_ASSIGN_OR_RETURN(p.input.statistics, ReadFrameStatistics(request.image()));
  p.requested_pixel = PixelSizeOf(request.image());
  FRINGE_RETURN_IF_ERROR(CheckModelScaleSize(
      PlanScale(decoded.size(), p.requested_pixel, p.model.config.pixel_size_nm()),
      options_.limits.max_pixels));
  p.frame = PrepareFrame(decoded, p.requested_pixel, p.model.config.pixel_size_nm());
  p.input.frame = p.frame.frame;
  p.tiling.tile_size = p.model.config.tile_size();
  p.tiling.tile_margin = p.model.config.tile_margin();
  p.tiling.max_batch = options_.max_batch;
  p.tiling.standardize =
      p.model.config.normalization().kind() == v1::Normalization::STANDARDIZE_FRAME;
  return p;
}

absl::StatusOr<v1::SegmentResponse> SegmentationEngine::Encode(const v1::SegmentRequest& request,
                                                               const Prepared& prepared,
                                                               FrameOutput out,
                                                               double compute_ms) const {
  v1::SegmentResponse response;
  response.set_id(request.id());
  response.set_model_name(prepared.model.name);
  response.set_model_version(prepared.model.version);
  const PreparedFrame& frame = prepared.frame;
  // Quality at the scale the network saw the frame, where the lattice band is known in pixels.
  const cv::Mat standardised = Standardise(
      prepared.input.frame, prepared.input.statistics ? *prepared.input.statistics
                                                      : ComputeFrameStats(prepared.input.frame));
  const FrameQuality quality = AssessFrame(standardised, out.class_probabilities, out.mask,
                                           frame.pixel_size_nm, frame.scale);
  if (frame.scale.resampled()) {
    // Back to the frame's size: probabilities are resampled and the mask is their argmax
    // there, so mask and probabilities always agree.
    for (cv::Mat& p : out.class_probabilities) p = ToFrameScale(p, frame.scale);
    out.mask = ArgmaxMask(out.class_probabilities);
  }
  FRINGE_ASSIGN_OR_RETURN(*response.mutable_mask(), MatToTensor(out.mask));
  if (request.probabilities() != v1::PROBABILITIES_NONE) {
    // Foreground probability: class 1 ("particle") when there is one.
    const cv::Mat& p = out.class_probabilities.size() > 1 ? out.class_probabilities[1]
                                                          : out.class_probabilities[0];
    FRINGE_ASSIGN_OR_RETURN(*response.mutable_probabilities(),
                            EncodeProbabilities(p, request.probabilities()));
  }
  *response.mutable_scale() =
      FrameScaleProto(prepared.requested_pixel, prepared.model.config.pixel_size_nm(), frame.scale);
  v1::FrameQuality* q = response.mutable_quality();
  q->set_particle_fraction(quality.particle_fraction);
  q->set_mean_entropy_bits(quality.mean_entropy_bits);
  q->set_lattice_checked(quality.lattice_checked);
  q->set_lattice_contrast(quality.lattice_contrast);
  q->set_out_of_domain(quality.out_of_domain);
  for (const std::string& r : quality.reasons) q->add_reasons(r);
  q->set_spikes_removed(frame.spikes_removed);
  for (const std::string& w : frame.warnings) response.add_warnings(w);
  response.mutable_timings()->set_compute_ms(compute_ms);
  response.mutable_timings()->set_tiles(out.tiles);
  return response;
}

absl::StatusOr<v1::SegmentResponse> SegmentationEngine::Segment(
    const v1::SegmentRequest& request) const {
  FRINGE_ASSIGN_OR_RETURN(ServableModel model, Resolve(request));
  return std::move(Run({{&request, std::move(model)}}).front());
}

std::vector<absl::StatusOr<v1::SegmentResponse>> SegmentationEngine::Run(
    const std::vector<Job>& jobs) const {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<absl::StatusOr<v1::SegmentResponse>> results(jobs.size(),
                                                           absl::InternalError("not segmented"));
  std::vector<absl::StatusOr<Prepared>> prepared;
  prepared.reserve(jobs.size());
  for (const Job& job : jobs) prepared.push_back(Prepare(*job.request, job.model));

  // Groups of requests that can share network calls: same model version, same frame size,
  // same tiling.
  std::vector<bool> done(jobs.size(), false);
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (done[i]) continue;
    if (!prepared[i].ok()) {
      results[i] = prepared[i].status();
      done[i] = true;
      continue;
    }
    const Prepared& lead = *prepared[i];
    std::vector<size_t> group = {i};
    for (size_t j = i + 1; j < jobs.size(); ++j) {
      if (done[j] || !prepared[j].ok()) continue;
      const Prepared& p = *prepared[j];
      if (p.model.segmenter == lead.model.segmenter &&
          p.input.frame.size() == lead.input.frame.size() &&
          p.tiling.standardize == lead.tiling.standardize) {
        group.push_back(j);
      }
    }
    std::vector<FrameInput> inputs;
    for (size_t k : group) {
      inputs.push_back(prepared[k]->input);
      done[k] = true;
    }
    auto outputs = SegmentFrames(*lead.model.segmenter, inputs, lead.tiling);
    // Every request of a shared call is charged the whole call: that is how long it took.
    const double compute_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    for (size_t g = 0; g < group.size(); ++g) {
      const size_t k = group[g];
      if (!outputs.ok()) {
        results[k] = outputs.status();
      } else {
        results[k] = Encode(*jobs[k].request, *prepared[k], std::move((*outputs)[g]), compute_ms);
      }
    }
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!results[i].ok() || jobs[i].request->explain().method().empty()) continue;
    absl::Status explained = AddExplanation(jobs[i], &*results[i]);
    if (!explained.ok()) results[i] = explained;
  }
  return results;
}

absl::Status SegmentationEngine::AddExplanation(const Job& job,
                                                v1::SegmentResponse* response) const {
  if (explanation_ == nullptr) {
    return absl::FailedPreconditionError("this server has no attribution engine");
  }
  FRINGE_ASSIGN_OR_RETURN(*response->mutable_explanation(),
                          explanation_->ExplainTile(*job.request, job.model));
  return absl::OkStatus();
}

std::string SegmentationEngine::BatchKey(const v1::SegmentRequest& request,
                                         const ServableModel& model) {
  // An explained frame runs alone: explanation is not batched with plain segmentation.
  if (!request.explain().method().empty() || !request.image().has_tensor()) return "";
  const v1::Tensor& t = request.image().tensor();
  if (t.shape_size() != 2 || t.shape(0) <= 0 || t.shape(1) <= 0 || t.shape(0) > (1 << 20) ||
      t.shape(1) > (1 << 20)) {
    return "";
  }
  // The size the network will see: frames are resampled to the model's pixel size first.
  const ScalePlan plan =
      PlanScale(cv::Size(static_cast<int>(t.shape(1)), static_cast<int>(t.shape(0))),
                PixelSizeOf(request.image()), model.config.pixel_size_nm());
  const int64_t h = plan.model_size.height, w = plan.model_size.width;
  const int64_t tile = model.config.tile_size();
  const int multiple = model.segmenter->input_multiple();
  if (h <= 0 || w <= 0 || h > tile || w > tile || h % multiple != 0 || w % multiple != 0) return "";
  return absl::StrCat(model.name, ":", model.version, ":", h, "x", w);
}

}  // namespace fringe
