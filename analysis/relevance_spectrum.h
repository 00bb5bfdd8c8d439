// The relevance spectrum: the radially averaged amplitude |FFT| of a relevance map (or of any
// map, e.g. the input frame for comparison), with the Au lattice-fringe frequencies marked.
// Horwath et al. 2019 found that HRTEM segmentation networks lean on the lattice fringes, which
// are a ring in Fourier space: a relevance map that follows the fringes has a peak at the Au
// {111} (0.235 nm) / {200} (0.204 nm) frequencies (shared/DESIGN.md section 3).
#ifndef FRINGE_ANALYSIS_RELEVANCE_SPECTRUM_H_
#define FRINGE_ANALYSIS_RELEVANCE_SPECTRUM_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <utility>
#include <vector>

namespace fringe::analysis {

// Au fcc (a = 4.078 A) lattice-plane spacings in nanometres.
inline constexpr double kAu111SpacingNm = 0.235;
inline constexpr double kAu200SpacingNm = 0.204;
// {220}: a / sqrt(8). Marked on plots only (fringes this fine survive only at high dose and
// fine pixels); the Au band of the summaries is {111}-{200}.
inline constexpr double kAu220SpacingNm = 0.144;

struct RadialSpectrumOptions {
  // > 0: frequencies in cycles per nanometre (1/nm) for this pixel size; 0: cycles per pixel.
  double pixel_size_nm = 0;
  // Ring width in the output unit; <= 0: one Fourier sample, 1 / min(rows, cols) cycles/pixel.
  double bin_width = 0;
  // Multiply by a 2-D Hann window first, so the frame's edges do not leak a cross of
  // spurious frequencies into every ring.
  bool hann_window = true;
  // Remove the mean first (otherwise the DC term dwarfs the rest).
  bool subtract_mean = true;
};

struct RadialSpectrum {
  std::vector<double> frequency;  // Ring centres, from bin_width / 2 up to Nyquist (0.5 c/px).
  std::vector<double> amplitude;  // Mean |F(k)| over the ring's Fourier samples.
  std::vector<int64_t> count;     // Fourier samples in each ring.
  double bin_width = 0;
  std::string unit;  // "cycles/px" or "1/nm".
};

// The radially averaged amplitude spectrum of a single-channel map (any depth, at least 4x4).
// Ring i holds the samples with i * bin_width <= |k| < (i + 1) * bin_width, where |k| is
// measured in cycles per pixel along each axis (so non-square maps are handled), converted to
// the requested unit; rings beyond Nyquist (0.5 c/px) are dropped.
RadialSpectrum ComputeRadialSpectrum(const cv::Mat& map, const RadialSpectrumOptions& options);

// Divides the amplitudes by their mean over every ring but the first (DC side), so spectra of
// maps of different scale can be averaged; a spectrum with no energy is left as it is.
void NormaliseSpectrum(RadialSpectrum* spectrum);

// Averages spectra that share the bin width and unit ring by ring (weighted by nothing: each
// spectrum counts once); a ring some spectra lack (a coarser pixel) averages the others.
RadialSpectrum AverageSpectra(const std::vector<RadialSpectrum>& spectra);
// Per-ring sample standard deviation of the spectra around `mean` (AverageSpectra's output).
std::vector<double> SpectraStd(const std::vector<RadialSpectrum>& spectra,
                               const RadialSpectrum& mean);

// Where the energy sits relative to the Au fringes. Frequencies in the spectrum's unit; the
// fringe frequencies are 1/d (1/nm) or pixel_size_nm / d (cycles/px).
struct SpectrumSummary {
  double f111 = 0, f200 = 0;  // The Au fringe frequencies in the spectrum's unit.
  // The ring of largest amplitude at or above `min_frequency` (low frequencies carry the
  // particle-scale blobs of any map and would always win).
  double peak_frequency = 0;
  double peak_amplitude = 0;
  // Mean amplitude on the Au band [0.9 f111, 1.1 f200] divided by the mean on its flanks
  // [0.6 f111, 0.85 f111] and [1.2 f200, 1.5 f200] (only rings below Nyquist): > 1 means a
  // peak at the fringe frequencies. 0 when a side has no ring.
  double au_band_contrast = 0;
};

// `pixel_size_nm` is needed when the spectrum is in cycles/px (to place the fringes) and
// ignored for 1/nm spectra.
SpectrumSummary SummarizeSpectrum(const RadialSpectrum& spectrum, double pixel_size_nm,
                                  double min_frequency);

// One curve of the spectrum plot.
struct SpectrumCurve {
  std::string label;
  RadialSpectrum spectrum;
  std::vector<double> spread;  // Optional per-ring spread (e.g. std over images), same length.
};

// Log-amplitude against frequency, each curve divided by its own mean amplitude (so maps of
// different scale overlay), with the Au {111}, {200} and {220} frequencies as dashed markers
// (placed with pixel_size_nm for cycles/px spectra). BGR figure.
cv::Mat RenderSpectrumPlot(const std::vector<SpectrumCurve>& curves, double pixel_size_nm,
                           const std::string& title);

// CSV: "frequency_per_nm,<label 1>,<label 2>,..." ("frequency_cycles_per_px" for cycles/px
// spectra), then one row per ring of the first curve with each curve's mean amplitude (empty
// where a curve lacks the ring). Labels are quoted when needed.
std::string FormatSpectrumCsv(const std::vector<SpectrumCurve>& curves);

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_RELEVANCE_SPECTRUM_H_
