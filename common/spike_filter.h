// X-ray spikes and hot/dead pixels: isolated extreme pixels that a detector records when a
// stray x-ray or cosmic ray hits it, or a pixel is broken. One such pixel at 100x the mean
// count inflates a frame's standard deviation and so shrinks every other pixel after
// standardisation; the network then sees a darker, flatter frame than it was trained on.
// They are replaced by their 3x3 median before any statistics are taken (server and client
// alike, so client-side tiling computes the same whole-frame statistics).
#ifndef FRINGE_COMMON_SPIKE_FILTER_H_
#define FRINGE_COMMON_SPIKE_FILTER_H_

#include <opencv2/core.hpp>

namespace fringe {

// A spike differs from the median of its 3x3 neighbourhood by more than this many robust
// standard deviations (1.4826 x the median absolute deviation of all such differences over the
// frame). Shot noise at any dose stays far below it: a Poisson count of mean 1 exceeds 12 with
// probability ~1e-9.
inline constexpr double kSpikeThresholdSigma = 10.0;

// Replaces spikes of `frame` (CV_32FC1, modified in place) by their 3x3 median and returns how
// many were replaced. A spike is a pixel that differs from its 3x3 median by more than
// `threshold_sigma` robust residual sigmas AND lies outside the frame's bulk range
// [q0.1% - span, q99.9% + span] (span = q99.9% - q0.1%): lattice fringes and atom columns, which
// at coarse sampling are local outliers too, stay inside that range. Frames smaller than 3x3
// or without spread are left alone.
int RemoveSpikes(cv::Mat* frame, double threshold_sigma = kSpikeThresholdSigma);

}  // namespace fringe

#endif  // FRINGE_COMMON_SPIKE_FILTER_H_
