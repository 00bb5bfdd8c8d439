// Pictures a person looks at: the frame contrast-stretched with the mask drawn over it.
#ifndef FRINGE_CLIENT_CLI_OVERLAY_H_
#define FRINGE_CLIENT_CLI_OVERLAY_H_

#include <opencv2/core.hpp>

namespace fringe {

// 8-bit grey version of any single-channel frame, stretched between its 0.5th and 99.5th
// percentiles so a few hot pixels do not flatten the contrast.
cv::Mat DisplayImage(const cv::Mat& frame);

// BGR image: the display image with particle pixels (mask != 0) tinted red and their outline
// drawn in yellow.
cv::Mat RenderOverlay(const cv::Mat& frame, const cv::Mat& mask);

// BGR heat map of a relevance map over the frame: a diverging colour map centred at zero (red
// positive, blue negative, white zero), scaled to the 99.5th percentile of |relevance|, blended
// with the contrast-stretched frame.
cv::Mat RenderRelevance(const cv::Mat& frame, const cv::Mat& relevance);

}  // namespace fringe

#endif  // FRINGE_CLIENT_CLI_OVERLAY_H_
