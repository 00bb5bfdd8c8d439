// fringe-montage: one picture per row of (image, predicted mask overlay, ground truth overlay)
// for docs and quick visual checks: `fringe-montage --out docs/montage.png
// --row IMAGE,PREDICTED_MASK,TRUE_MASK [--row ...] [--width 256]`.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/cli/cli_util.h"
#include "client/cli/overlay.h"
#include "common/segmentation_metrics.h"
#include "data/image_io.h"
#include "data/labelled_dataset.h"

namespace {

cv::Mat Labelled(const cv::Mat& bgr, const std::string& text) {
  cv::Mat out = bgr.clone();
  cv::rectangle(out, cv::Rect(0, 0, out.cols, 22), cv::Scalar(0, 0, 0), cv::FILLED);
  cv::putText(out, text, cv::Point(5, 16), cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(255, 255, 255),
              1, cv::LINE_AA);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fringe-montage: image | predicted mask | ground truth, one row per image"};
  std::vector<std::string> rows;
  std::string out_path;
  int width = 256;
  app.add_option("--row", rows, "IMAGE,PREDICTED_MASK,TRUE_MASK")->required();
  app.add_option("--out", out_path, "PNG to write")->required();
  app.add_option("--width", width, "Width of each panel in pixels")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<cv::Mat> lines;
  for (const std::string& row : rows) {
    const std::vector<std::string> parts = absl::StrSplit(row, ',');
    if (parts.size() != 3) {
      std::fprintf(stderr, "error: --row %s: expected IMAGE,PREDICTED_MASK,TRUE_MASK\n",
                   row.c_str());
      return 2;
    }
    auto image = fringe::data::ReadImage(parts[0]);
    auto predicted = fringe::data::ReadMask(parts[1]);
    auto truth = fringe::data::ReadMask(parts[2]);
    for (const absl::Status& s : {image.status(), predicted.status(), truth.status()}) {
      if (!s.ok()) {
        std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    if (predicted->size() != image->pixels.size() || truth->size() != image->pixels.size()) {
      std::fprintf(stderr, "error: %s: image and masks differ in size\n", row.c_str());
      return 1;
    }
    const double dice = fringe::ComputeMetrics(fringe::CountConfusion(*predicted, *truth)).dice;
    cv::Mat grey;
    cv::cvtColor(fringe::DisplayImage(image->pixels), grey, cv::COLOR_GRAY2BGR);
    std::vector<cv::Mat> panels = {
        Labelled(grey, "image"),
        Labelled(fringe::RenderOverlay(image->pixels, *predicted),
                 "fringe (Dice " + std::to_string(dice).substr(0, 4) + ")"),
        Labelled(fringe::RenderOverlay(image->pixels, *truth), "ground truth")};
    for (cv::Mat& p : panels) {
      const int h = p.rows * width / p.cols;
      cv::resize(p, p, cv::Size(width, h), 0, 0, cv::INTER_AREA);
    }
    cv::Mat line;
    cv::hconcat(panels, line);
    lines.push_back(line);
  }
  cv::Mat montage;
  cv::vconcat(lines, montage);
  if (absl::Status s = fringe::WriteImageFile(out_path, montage); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("wrote %s (%dx%d)\n", out_path.c_str(), montage.cols, montage.rows);
  return 0;
}
