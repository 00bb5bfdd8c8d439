#include "client/cli/overlay.h"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace fringe {

cv::Mat DisplayImage(const cv::Mat& frame) {
  cv::Mat f;
  frame.convertTo(f, CV_32F);
  std::vector<float> values(f.begin<float>(), f.end<float>());
  const size_t lo_i = values.size() / 200, hi_i = values.size() - 1 - values.size() / 200;
  std::nth_element(values.begin(), values.begin() + lo_i, values.end());
  const float lo = values[lo_i];
  std::nth_element(values.begin(), values.begin() + hi_i, values.end());
  const float hi = values[hi_i];
  cv::Mat out;
  const double scale = hi > lo ? 255.0 / (hi - lo) : 0.0;
  f.convertTo(out, CV_8U, scale, -lo * scale);
  return out;
}

cv::Mat RenderOverlay(const cv::Mat& frame, const cv::Mat& mask) {
  cv::Mat grey = DisplayImage(frame), bgr;
  cv::cvtColor(grey, bgr, cv::COLOR_GRAY2BGR);
  const cv::Mat particle = mask != 0;
  cv::Mat tinted;
  cv::addWeighted(bgr, 0.6, cv::Mat(bgr.size(), CV_8UC3, cv::Scalar(0, 0, 255)), 0.4, 0, tinted);
  tinted.copyTo(bgr, particle);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(particle.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  const int thickness = std::max(1, std::min(frame.rows, frame.cols) / 400);
  cv::drawContours(bgr, contours, -1, cv::Scalar(0, 255, 255), thickness);
  return bgr;
}

cv::Mat RenderRelevance(const cv::Mat& frame, const cv::Mat& relevance) {
  cv::Mat r;
  relevance.convertTo(r, CV_32F);
  cv::Mat magnitude = cv::abs(r);
  std::vector<float> values(magnitude.begin<float>(), magnitude.end<float>());
  const size_t k = std::min(values.size() - 1, values.size() * 995 / 1000);
  std::nth_element(values.begin(), values.begin() + k, values.end());
  const float scale = values[k] > 0 ? values[k] : 1.0f;
  cv::Mat grey = DisplayImage(frame), out(frame.size(), CV_8UC3);
  for (int y = 0; y < r.rows; ++y) {
    for (int x = 0; x < r.cols; ++x) {
      const float v = std::max(-1.0f, std::min(1.0f, r.at<float>(y, x) / scale));
      // White at zero, towards red (positive) or blue (negative).
      const float fade = 1.0f - std::abs(v);
      const cv::Vec3f colour =
          v >= 0 ? cv::Vec3f(255 * fade, 255 * fade, 255) : cv::Vec3f(255, 255 * fade, 255 * fade);
      const float g = grey.at<uchar>(y, x);
      const float alpha = 0.35f + 0.6f * std::abs(v);  // Let the frame show through.
      cv::Vec3b& px = out.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c) {
        px[c] = cv::saturate_cast<uchar>(alpha * colour[c] + (1 - alpha) * g);
      }
    }
  }
  return out;
}

}  // namespace fringe
