#include "plot/plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_format.h"

namespace fringe::plot {
namespace {

const cv::Scalar kBlack(0, 0, 0);
const cv::Scalar kGrid(228, 228, 228);
const cv::Scalar kWhite(255, 255, 255);

bool Finite(double v) { return std::isfinite(v); }

// Shortest label that tells neighbouring ticks apart: "0.25", "1e-05", "300".
std::string TickLabel(double v, double step) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) return absl::StrFormat("%.0e", v);
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return absl::StrFormat("%.*f", decimals, v);
}

cv::Mat To8BitBgr(const cv::Mat& image) {
  cv::Mat out = image;
  if (out.depth() != CV_8U) {
    cv::Mat scaled;
    cv::normalize(out, scaled, 0, 255, cv::NORM_MINMAX, CV_8U);
    out = scaled;
  }
  if (out.channels() == 1) {
    cv::Mat bgr;
    cv::cvtColor(out, bgr, cv::COLOR_GRAY2BGR);
    out = bgr;
  }
  return out;
}

}  // namespace

void DrawText(cv::Mat& img, const std::string& text, cv::Point anchor, double scale,
              const cv::Scalar& color, double align_x, double align_y, int thickness, bool boxed) {
  int baseline = 0;
  const cv::Size size =
      cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
  const cv::Point origin(anchor.x - static_cast<int>(align_x * size.width),
                         anchor.y + static_cast<int>((1.0 - align_y) * size.height));
  if (boxed) {
    const cv::Rect box(origin.x - 3, origin.y - size.height - 3, size.width + 6,
                       size.height + baseline + 4);
    cv::rectangle(img, box, kWhite, cv::FILLED);
    cv::rectangle(img, box, color, 1);
  }
  cv::putText(img, text, origin, cv::FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv::LINE_AA);
}

void DrawDashedLine(cv::Mat& img, cv::Point p0, cv::Point p1, const cv::Scalar& color, int dash,
                    int gap, int thickness) {
  const double length = std::hypot(p1.x - p0.x, p1.y - p0.y);
  if (length < 1) {
    cv::line(img, p0, p1, color, thickness, cv::LINE_AA);
    return;
  }
  const double dx = (p1.x - p0.x) / length, dy = (p1.y - p0.y) / length;
  for (double s = 0; s < length; s += dash + gap) {
    const double e = std::min(length, s + dash);
    cv::line(img,
             cv::Point(static_cast<int>(std::lround(p0.x + dx * s)),
                       static_cast<int>(std::lround(p0.y + dy * s))),
             cv::Point(static_cast<int>(std::lround(p0.x + dx * e)),
                       static_cast<int>(std::lround(p0.y + dy * e))),
             color, thickness, cv::LINE_AA);
  }
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!Finite(lo) || !Finite(hi) || !(hi > lo)) {
    if (Finite(lo)) ticks.push_back(lo);
    return ticks;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double magnitude = std::pow(10.0, exponent);
  double mantissa = 1;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    mantissa = m;
    if (m * magnitude >= raw) break;
  }
  const double step = mantissa * magnitude;
  // Tick k is k * mantissa * 10^exponent, computed so that 0.6 comes out as the double
  // nearest 0.6 (summing steps, or 3 * 0.2, would not).
  auto tick = [&](int64_t k) {
    const double units = static_cast<double>(k) * mantissa;
    return exponent < 0 ? units / std::pow(10.0, -exponent) : units * magnitude;
  };
  const double eps = step * 1e-9;
  for (int64_t k = static_cast<int64_t>(std::ceil((lo - eps) / step)); tick(k) <= hi + eps; ++k) {
    ticks.push_back(tick(k));
    if (ticks.size() > 1000) break;  // Degenerate ranges.
  }
  return ticks;
}

cv::Scalar SeriesColor(int index) {
  // Tableau-like palette in BGR, chosen to stay distinguishable in print.
  static const cv::Scalar kPalette[] = {cv::Scalar(40, 40, 214),   cv::Scalar(180, 119, 31),
                                        cv::Scalar(44, 160, 44),   cv::Scalar(14, 127, 255),
                                        cv::Scalar(189, 103, 148), cv::Scalar(75, 86, 140),
                                        cv::Scalar(194, 119, 227), cv::Scalar(127, 127, 127)};
  const int n = static_cast<int>(sizeof(kPalette) / sizeof(kPalette[0]));
  return kPalette[((index % n) + n) % n];
}

cv::Vec3b DivergingColor(double v) {
  if (!Finite(v)) v = 0;
  v = std::clamp(v, -1.0, 1.0);
  const double fade = 1.0 - std::abs(v);
  // White at zero, towards red (positive) or blue (negative), as overlay.h's relevance maps.
  const double b = v >= 0 ? 255 * fade : 255, g = 255 * fade, r = v >= 0 ? 255 : 255 * fade;
  return cv::Vec3b(cv::saturate_cast<uchar>(b), cv::saturate_cast<uchar>(g),
                   cv::saturate_cast<uchar>(r));
}

cv::Mat RenderDivergingMap(const cv::Mat& values, double scale) {
  cv::Mat v;
  values.convertTo(v, CV_32F);
  if (!(scale > 0)) {
    cv::Mat magnitude = cv::abs(v);
    std::vector<float> all(magnitude.begin<float>(), magnitude.end<float>());
    scale = 1;
    if (!all.empty()) {
      const size_t k = std::min(all.size() - 1, all.size() * 995 / 1000);
      std::nth_element(all.begin(), all.begin() + k, all.end());
      if (all[k] > 0) scale = all[k];
    }
  }
  cv::Mat out(v.size(), CV_8UC3);
  for (int y = 0; y < v.rows; ++y) {
    for (int x = 0; x < v.cols; ++x)
      out.at<cv::Vec3b>(y, x) = DivergingColor(v.at<float>(y, x) / scale);
  }
  return out;
}

cv::Mat CaptionedPanel(const cv::Mat& image, const std::string& caption, int caption_height) {
  const cv::Mat body = To8BitBgr(image);
  int baseline = 0;
  const int text_width =
      cv::getTextSize(caption, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, &baseline).width + 8;
  const int width = std::max(body.cols, text_width);
  cv::Mat panel(body.rows + caption_height, width, CV_8UC3, kWhite);
  body.copyTo(panel(cv::Rect(0, caption_height, body.cols, body.rows)));
  DrawText(panel, caption, {4, caption_height / 2}, 0.45, kBlack, 0.0, 0.5);
  return panel;
}

cv::Mat HorizontalConcat(const std::vector<cv::Mat>& panels, int gap) {
  int width = 0, height = 0;
  for (const cv::Mat& p : panels) {
    width += p.cols;
    height = std::max(height, p.rows);
  }
  width += gap * std::max(0, static_cast<int>(panels.size()) - 1);
  cv::Mat out(std::max(height, 1), std::max(width, 1), CV_8UC3, kWhite);
  int x = 0;
  for (const cv::Mat& p : panels) {
    To8BitBgr(p).copyTo(out(cv::Rect(x, 0, p.cols, p.rows)));
    x += p.cols + gap;
  }
  return out;
}

cv::Mat VerticalConcat(const std::vector<cv::Mat>& panels, int gap) {
  int width = 0, height = 0;
  for (const cv::Mat& p : panels) {
    height += p.rows;
    width = std::max(width, p.cols);
  }
  height += gap * std::max(0, static_cast<int>(panels.size()) - 1);
  cv::Mat out(std::max(height, 1), std::max(width, 1), CV_8UC3, kWhite);
  int y = 0;
  for (const cv::Mat& p : panels) {
    To8BitBgr(p).copyTo(out(cv::Rect(0, y, p.cols, p.rows)));
    y += p.rows + gap;
  }
  return out;
}

cv::Mat RenderLinePlot(const std::vector<PlotSeries>& series, const LinePlotOptions& options) {
  cv::Size size = options.size;
  size.width = std::max(size.width, 360);
  size.height = std::max(size.height, 260);
  cv::Mat img(size, CV_8UC3, kWhite);
  const int left = 78, right = 24, top = 58, bottom = 64;
  const cv::Rect frame(left, top, size.width - left - right, size.height - top - bottom);

  // Data ranges over the finite (and, on a log axis, positive) points.
  auto usable = [&](double y) { return Finite(y) && (!options.log_y || y > 0); };
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const PlotSeries& s : series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!Finite(s.x[i]) || !usable(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      const double spread = i < s.spread.size() && Finite(s.spread[i]) ? s.spread[i] : 0.0;
      const double lo = s.y[i] - spread, hi = s.y[i] + spread;
      y_lo = std::min(y_lo, usable(lo) ? lo : s.y[i]);
      y_hi = std::max(y_hi, hi);
    }
  }
  for (const PlotMarker& m : options.x_markers) {
    if (!Finite(m.x)) continue;
    x_lo = std::min(x_lo, m.x);
    x_hi = std::max(x_hi, m.x);
  }
  if (!Finite(x_lo)) x_lo = 0, x_hi = 1;
  if (!Finite(y_lo)) y_lo = options.log_y ? 0.1 : 0, y_hi = 1;
  if (options.x_range) std::tie(x_lo, x_hi) = *options.x_range;
  if (!(x_hi > x_lo)) x_hi = x_lo + 1;
  if (options.y_range) {
    std::tie(y_lo, y_hi) = *options.y_range;
  } else if (options.log_y) {
    y_lo = std::pow(10.0, std::floor(std::log10(y_lo)));
    y_hi = std::pow(10.0, std::ceil(std::log10(y_hi)));
  } else {
    const double pad = (y_hi - y_lo) * 0.05;
    y_lo -= pad;
    y_hi += pad;
  }
  if (!(y_hi > y_lo)) y_hi = y_lo + (options.log_y ? 10 * y_lo : 1);
  const auto ty = [&](double y) { return options.log_y ? std::log10(y) : y; };
  const double ty_lo = ty(y_lo), ty_span = ty(y_hi) - ty(y_lo);
  auto px = [&](double x) { return frame.x + (x - x_lo) / (x_hi - x_lo) * (frame.width - 1); };
  auto py = [&](double y) {
    return frame.y + (1.0 - (ty(y) - ty_lo) / ty_span) * (frame.height - 1);
  };
  auto point = [&](double x, double y) {
    return cv::Point(static_cast<int>(std::lround(px(x))), static_cast<int>(std::lround(py(y))));
  };

  // Grid, ticks and labels.
  const std::vector<double> x_ticks = NiceTicks(x_lo, x_hi, std::max(3, frame.width / 110));
  const double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  for (const double t : x_ticks) {
    const int x = point(t, y_hi).x;
    cv::line(img, {x, frame.y}, {x, frame.br().y - 1}, kGrid, 1);
    cv::line(img, {x, frame.br().y}, {x, frame.br().y + 5}, kBlack, 1);
    DrawText(img, TickLabel(t, x_step), {x, frame.br().y + 9}, 0.42, kBlack, 0.5, 0.0);
  }
  std::vector<double> y_ticks;
  double y_step = 1;
  if (options.log_y) {
    for (double d = std::ceil(ty(y_lo) - 1e-9); d <= ty(y_hi) + 1e-9; d += 1) {
      y_ticks.push_back(std::pow(10.0, d));
    }
    // Too many decades for one label each: keep every k-th.
    const size_t keep = std::max<size_t>(1, (y_ticks.size() + 7) / 8);
    std::vector<double> kept;
    for (size_t i = 0; i < y_ticks.size(); i += keep) kept.push_back(y_ticks[i]);
    y_ticks = kept;
  } else {
    y_ticks = NiceTicks(y_lo, y_hi, std::max(3, frame.height / 70));
    if (y_ticks.size() > 1) y_step = y_ticks[1] - y_ticks[0];
  }
  for (const double t : y_ticks) {
    const int y = point(x_lo, t).y;
    cv::line(img, {frame.x, y}, {frame.br().x - 1, y}, kGrid, 1);
    cv::line(img, {frame.x - 5, y}, {frame.x, y}, kBlack, 1);
    const std::string label =
        options.log_y ? absl::StrFormat("1e%d", static_cast<int>(std::lround(std::log10(t))))
                      : TickLabel(t, y_step);
    DrawText(img, label, {frame.x - 8, y}, 0.42, kBlack, 1.0, 0.5);
  }

  // Everything inside the frame is clipped to it.
  cv::Mat inside = img(frame);
  const cv::Point shift(-frame.x, -frame.y);
  for (size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& ser = series[s];
    if (ser.spread.empty()) continue;
    const cv::Scalar color = ser.color.value_or(SeriesColor(static_cast<int>(s)));
    const cv::Scalar light = color * 0.25 + cv::Scalar(255, 255, 255) * 0.75;
    const size_t n = std::min({ser.x.size(), ser.y.size(), ser.spread.size()});
    for (size_t i = 0; i + 1 < n; ++i) {
      double lo0 = ser.y[i] - ser.spread[i], hi0 = ser.y[i] + ser.spread[i];
      double lo1 = ser.y[i + 1] - ser.spread[i + 1], hi1 = ser.y[i + 1] + ser.spread[i + 1];
      if (options.log_y) {
        lo0 = std::max(lo0, y_lo);
        lo1 = std::max(lo1, y_lo);
      }
      if (!Finite(ser.x[i]) || !Finite(ser.x[i + 1]) || !usable(lo0) || !usable(hi0) ||
          !usable(lo1) || !usable(hi1)) {
        continue;
      }
      const std::vector<cv::Point> quad = {
          point(ser.x[i], lo0) + shift, point(ser.x[i], hi0) + shift,
          point(ser.x[i + 1], hi1) + shift, point(ser.x[i + 1], lo1) + shift};
      cv::fillConvexPoly(inside, quad, light, cv::LINE_AA);
    }
  }
  for (const PlotMarker& m : options.x_markers) {
    if (!Finite(m.x) || m.x < x_lo || m.x > x_hi) continue;
    const int x = point(m.x, y_hi).x;
    DrawDashedLine(img, {x, frame.y}, {x, frame.br().y - 1}, m.color, 6, 4, 1);
  }
  for (size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& ser = series[s];
    const cv::Scalar color = ser.color.value_or(SeriesColor(static_cast<int>(s)));
    const size_t n = std::min(ser.x.size(), ser.y.size());
    for (size_t i = 0; i + 1 < n; ++i) {
      if (!Finite(ser.x[i]) || !Finite(ser.x[i + 1]) || !usable(ser.y[i]) ||
          !usable(ser.y[i + 1])) {
        continue;
      }
      const cv::Point a = point(ser.x[i], ser.y[i]) + shift,
                      b = point(ser.x[i + 1], ser.y[i + 1]) + shift;
      if (ser.dashed) {
        DrawDashedLine(inside, a, b, color, 7, 5, ser.thickness);
      } else {
        cv::line(inside, a, b, color, ser.thickness, cv::LINE_AA);
      }
    }
    if (ser.markers) {
      for (size_t i = 0; i < n; ++i) {
        if (!Finite(ser.x[i]) || !usable(ser.y[i])) continue;
        cv::circle(inside, point(ser.x[i], ser.y[i]) + shift, ser.thickness + 2, color, cv::FILLED,
                   cv::LINE_AA);
      }
    }
  }
  cv::rectangle(img, frame, kBlack, 1);
  // Marker labels at the top of the frame, each on the first row where it does not overlap
  // a label already placed.
  std::vector<int> row_right;  // Right edge of the last label on each row.
  for (const PlotMarker& m : options.x_markers) {
    if (!Finite(m.x) || m.x < x_lo || m.x > x_hi || m.label.empty()) continue;
    const int x = point(m.x, y_hi).x;
    int baseline = 0;
    const int width = cv::getTextSize(m.label, cv::FONT_HERSHEY_SIMPLEX, 0.4, 1, &baseline).width;
    const int left_edge = x - width / 2 - 4;
    size_t row = 0;
    while (row < row_right.size() && row_right[row] >= left_edge) ++row;
    if (row == row_right.size()) row_right.push_back(0);
    row_right[row] = x + width / 2 + 4;
    DrawText(img, m.label, {x, frame.y + 4 + 16 * static_cast<int>(row)}, 0.4, m.color, 0.5, 0.0, 1,
             /*boxed=*/true);
  }

  // Legend.
  std::vector<size_t> listed;
  for (size_t s = 0; s < series.size(); ++s) {
    if (!series[s].label.empty()) listed.push_back(s);
  }
  if (!listed.empty() && options.legend != LinePlotOptions::Legend::kNone) {
    int text_width = 0, baseline = 0;
    for (const size_t s : listed) {
      text_width = std::max(
          text_width,
          cv::getTextSize(series[s].label, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, &baseline).width);
    }
    const int row = 20, box_w = text_width + 46, box_h = row * static_cast<int>(listed.size()) + 8;
    const bool right_side = options.legend == LinePlotOptions::Legend::kTopRight ||
                            options.legend == LinePlotOptions::Legend::kBottomRight;
    const bool top_side = options.legend == LinePlotOptions::Legend::kTopRight ||
                          options.legend == LinePlotOptions::Legend::kTopLeft;
    const int bx = right_side ? frame.br().x - box_w - 8 : frame.x + 8;
    const int by =
        top_side ? frame.y + (options.x_markers.empty() ? 8 : 42) : frame.br().y - box_h - 8;
    const cv::Rect box(bx, by, box_w, box_h);
    cv::rectangle(img, box, kWhite, cv::FILLED);
    cv::rectangle(img, box, cv::Scalar(160, 160, 160), 1);
    for (size_t i = 0; i < listed.size(); ++i) {
      const PlotSeries& ser = series[listed[i]];
      const cv::Scalar color = ser.color.value_or(SeriesColor(static_cast<int>(listed[i])));
      const int y = by + 4 + row * static_cast<int>(i) + row / 2;
      if (ser.dashed) {
        DrawDashedLine(img, {bx + 8, y}, {bx + 34, y}, color, 7, 4, ser.thickness);
      } else {
        cv::line(img, {bx + 8, y}, {bx + 34, y}, color, ser.thickness, cv::LINE_AA);
      }
      DrawText(img, ser.label, {bx + 40, y}, 0.45, kBlack, 0.0, 0.5);
    }
  }

  // The title shrinks to the figure's width rather than run off its edges.
  int title_baseline = 0;
  const int title_width =
      cv::getTextSize(options.title, cv::FONT_HERSHEY_SIMPLEX, 0.55, 1, &title_baseline).width;
  const double title_scale =
      std::max(0.3, std::min(0.55, 0.55 * (size.width - 16) / std::max(1, title_width)));
  DrawText(img, options.title, {size.width / 2, 10}, title_scale, kBlack, 0.5, 0.0);
  DrawText(img, options.x_label, {frame.x + frame.width / 2, size.height - 10}, 0.5, kBlack, 0.5,
           1.0);
  DrawText(img, options.y_label, {8, frame.y - 8}, 0.5, kBlack, 0.0, 1.0);
  if (!options.note.empty()) {
    // Between the tick labels and the axis title, right-aligned, so it never covers either.
    DrawText(img, options.note, {frame.br().x, frame.br().y + 28}, 0.4, cv::Scalar(110, 110, 110),
             1.0, 0.0);
  }
  return img;
}

}  // namespace fringe::plot
