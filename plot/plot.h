// Small figures drawn with OpenCV (the project has no plotting library): line plots with axes,
// ticks, a legend, shaded spreads and vertical markers, plus the text, dash and colour-map
// primitives the other figures share. Pure functions of their inputs (no I/O), so tests can
// check the pictures pixel by pixel.
#ifndef FRINGE_PLOT_PLOT_H_
#define FRINGE_PLOT_PLOT_H_

#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fringe::plot {

// Draws `text` (Hershey simplex) so that `anchor` sits at (align_x, align_y) of its box (0 =
// left/top, 1 = right/bottom); `boxed` puts it on a white box outlined in its colour.
void DrawText(cv::Mat& img, const std::string& text, cv::Point anchor, double scale,
              const cv::Scalar& color, double align_x, double align_y, int thickness = 1,
              bool boxed = false);

// A dashed straight line: `dash` pixels drawn, `gap` skipped, from p0 to p1.
void DrawDashedLine(cv::Mat& img, cv::Point p0, cv::Point p1, const cv::Scalar& color, int dash = 5,
                    int gap = 5, int thickness = 1);

// Tick positions at 1-2-5 steps covering [lo, hi] with about `target` ticks (all inside).
std::vector<double> NiceTicks(double lo, double hi, int target = 6);

// Distinct BGR colours for series 0, 1, 2, ... (repeats after 8).
cv::Scalar SeriesColor(int index);

// Diverging colour of v in [-1, 1] (clamped): blue for -1, white for 0, red for +1 (BGR).
cv::Vec3b DivergingColor(double v);

// BGR picture of a single-channel map through DivergingColor(value / scale); scale <= 0 uses
// the 99.5th percentile of |value| (1 if that is 0).
cv::Mat RenderDivergingMap(const cv::Mat& values, double scale = 0);

// `image` (grey or BGR, any depth converted to 8 bits) on a white panel with `caption` above.
cv::Mat CaptionedPanel(const cv::Mat& image, const std::string& caption, int caption_height = 26);

// Places BGR panels side by side (top-aligned, `gap` white pixels between) on white.
cv::Mat HorizontalConcat(const std::vector<cv::Mat>& panels, int gap = 8);
// Stacks BGR panels top to bottom (left-aligned).
cv::Mat VerticalConcat(const std::vector<cv::Mat>& panels, int gap = 8);

struct PlotSeries {
  std::string label;  // Shown in the legend; empty = not listed.
  std::vector<double> x, y;
  // Optional spread (e.g. a standard deviation): a light band from y - spread to y + spread.
  std::vector<double> spread;
  std::optional<cv::Scalar> color;  // Default SeriesColor(index of the series).
  int thickness = 2;
  bool dashed = false;
  bool markers = false;  // A small circle at every point.
};

// A vertical line at x (dashed), labelled at the top of the frame.
struct PlotMarker {
  double x = 0;
  std::string label;
  cv::Scalar color = cv::Scalar(120, 120, 120);
};

struct LinePlotOptions {
  std::string title, x_label, y_label;
  cv::Size size = cv::Size(820, 520);  // Clamped to at least 360 x 260.
  bool log_y = false;                  // Non-positive values are left out of a log axis.
  // Axis ranges; unset = the data's range (with a little headroom on y).
  std::optional<std::pair<double, double>> x_range, y_range;
  std::vector<PlotMarker> x_markers;
  enum class Legend { kTopRight, kBottomRight, kTopLeft, kBottomLeft, kNone };
  Legend legend = Legend::kTopRight;
  std::string note;  // Small grey text under the x axis, right-aligned.
};

// Axes (frame, grid, ticks and tick labels on 1-2-5 steps, decades on a log axis), the
// series (spreads first, then lines), vertical markers and the legend. BGR on white.
// Non-finite points are skipped (lines break there).
cv::Mat RenderLinePlot(const std::vector<PlotSeries>& series, const LinePlotOptions& options);

}  // namespace fringe::plot

#endif  // FRINGE_PLOT_PLOT_H_
