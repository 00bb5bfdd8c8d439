#include "models/frame_segmenter.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "common/tile_grid.h"

namespace fringe {
namespace {

int RoundUp(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

struct TilePos {
  size_t frame;
  TileSpan y, x;
};

}  // namespace

absl::StatusOr<FrameOutput> SegmentFrame(const Segmenter& model, const cv::Mat& frame,
                                         const FrameSegmenterOptions& options) {
  FRINGE_ASSIGN_OR_RETURN(std::vector<FrameOutput> out,
                          SegmentFrames(model, {FrameInput{frame, options.statistics}}, options));
  return std::move(out.front());
}

absl::StatusOr<std::vector<FrameOutput>> SegmentFrames(const Segmenter& model,
                                                       const std::vector<FrameInput>& frames,
                                                       const FrameSegmenterOptions& options) {
  if (frames.empty()) return absl::InvalidArgumentError("no frames to segment");
  for (const FrameInput& input : frames) {
    if (input.frame.empty() || input.frame.type() != CV_32FC1) {
      return absl::InvalidArgumentError("frame must be a non-empty single-channel float image");
    }
    if (input.frame.size() != frames.front().frame.size()) {
      return absl::InvalidArgumentError("frames segmented together must have the same size");
    }
  }
  const int multiple = model.input_multiple();
  if (options.tile_size % multiple != 0 || options.max_batch < 1 ||
      2 * options.tile_margin >= options.tile_size) {
    return absl::InvalidArgumentError(absl::StrCat("bad tiling options: tile ", options.tile_size,
                                                   ", margin ", options.tile_margin, ", batch ",
                                                   options.max_batch));
  }
  const int h = frames.front().frame.rows, w = frames.front().frame.cols;
  const int tile_h = std::min(options.tile_size, RoundUp(h, multiple));
  const int tile_w = std::min(options.tile_size, RoundUp(w, multiple));

  std::vector<cv::Mat> padded(frames.size());
  for (size_t f = 0; f < frames.size(); ++f) {
    cv::Mat normalised;
    if (options.standardize) {
      const FrameStats stats =
          frames[f].statistics ? *frames[f].statistics : ComputeFrameStats(frames[f].frame);
      if (!(stats.stddev > 0)) return absl::InvalidArgumentError("statistics.stddev must be > 0");
      normalised = Standardise(frames[f].frame, stats);
    } else {
      normalised = frames[f].frame;
    }
    cv::copyMakeBorder(normalised, padded[f], 0, std::max(0, tile_h - h), 0,
                       std::max(0, tile_w - w), cv::BORDER_CONSTANT, cv::Scalar(0));
  }

  const std::vector<TileSpan> rows = PlanTiles(h, tile_h, options.tile_margin);
  const std::vector<TileSpan> cols = PlanTiles(w, tile_w, options.tile_margin);
  std::vector<TilePos> tiles;
  for (size_t f = 0; f < frames.size(); ++f) {
    for (const TileSpan& y : rows) {
      for (const TileSpan& x : cols) tiles.push_back({f, y, x});
    }
  }

  const int classes = model.num_classes();
  std::vector<FrameOutput> out(frames.size());
  for (FrameOutput& o : out) {
    o.tiles = static_cast<int>(rows.size() * cols.size());
    for (int c = 0; c < classes; ++c) o.class_probabilities.emplace_back(h, w, CV_32F);
  }

  const size_t tile_pixels = static_cast<size_t>(tile_h) * tile_w;
  std::vector<float> batch;
  std::vector<float> probs;
  for (size_t first = 0; first < tiles.size(); first += options.max_batch) {
    const size_t n = std::min<size_t>(options.max_batch, tiles.size() - first);
    batch.resize(n * tile_pixels);
    for (size_t i = 0; i < n; ++i) {
      const TilePos& t = tiles[first + i];
      cv::Mat dst(tile_h, tile_w, CV_32F, batch.data() + i * tile_pixels);
      padded[t.frame](cv::Rect(t.x.start, t.y.start, tile_w, tile_h)).copyTo(dst);
    }
    if (absl::Status s = model.Predict(batch.data(), static_cast<int>(n), tile_h, tile_w, &probs);
        !s.ok()) {
      return s;
    }
    if (probs.size() != n * classes * tile_pixels) {
      return absl::InternalError("model returned a probability tensor of the wrong size");
    }
    for (size_t i = 0; i < n; ++i) {
      const TilePos& t = tiles[first + i];
      const cv::Rect own_in_tile(t.x.own_begin - t.x.start, t.y.own_begin - t.y.start,
                                 t.x.own_end - t.x.own_begin, t.y.own_end - t.y.own_begin);
      const cv::Rect own_in_frame(t.x.own_begin, t.y.own_begin, own_in_tile.width,
                                  own_in_tile.height);
      for (int c = 0; c < classes; ++c) {
        const cv::Mat tile_probs(tile_h, tile_w, CV_32F,
                                 probs.data() + (i * classes + c) * tile_pixels);
        tile_probs(own_in_tile).copyTo(out[t.frame].class_probabilities[c](own_in_frame));
      }
    }
  }

  for (FrameOutput& o : out) o.mask = ArgmaxMask(o.class_probabilities);
  return out;
}

cv::Mat ArgmaxMask(const std::vector<cv::Mat>& class_probabilities) {
  if (class_probabilities.empty()) return cv::Mat();
  cv::Mat mask = cv::Mat::zeros(class_probabilities[0].size(), CV_8U);
  cv::Mat best = class_probabilities[0].clone();
  for (size_t c = 1; c < class_probabilities.size(); ++c) {
    const cv::Mat greater = class_probabilities[c] > best;
    mask.setTo(static_cast<int>(c), greater);
    class_probabilities[c].copyTo(best, greater);
  }
  return mask;
}

}  // namespace fringe
