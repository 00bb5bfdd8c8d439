#include "client/overlay.h"

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

}  // namespace fringe
