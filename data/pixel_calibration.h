// Physical length units as microscope software writes them, and the rule that turns per-axis
// calibrations into Image::pixel_size_nm.
#ifndef FRINGE_DATA_PIXEL_CALIBRATION_H_
#define FRINGE_DATA_PIXEL_CALIBRATION_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "data/image.h"

namespace fringe::data {

// Nanometres per one `unit` for real-space length units, nullopt for anything else (empty,
// "pixel", reciprocal "1/nm", energy "eV", unknown). Accepts the spellings found in DM, ImageJ,
// FEI and MRC-adjacent files: nm; um, µm (U+00B5 micro sign in UTF-8 or Latin-1, or U+03BC),
// micron(s), micrometer/micrometre, ImageJ's escaped "\u00B5m"; A, Å (U+00C5 / U+212B),
// Angstrom/Ang; pm; mm; cm; m. Case-insensitive, surrounding spaces ignored.
std::optional<double> NanometresPerUnit(absl::string_view unit);

// Stores per-axis pixel sizes (nanometres) in `image`, ignoring values that are not finite and
// positive (formats that state one number for both axes pass it twice). Sets `pixel_size_nm`
// when both axes are known and agree within a relative 1e-4.
void SetPixelSize(std::optional<double> x_nm, std::optional<double> y_nm, Image& image);

}  // namespace fringe::data

#endif  // FRINGE_DATA_PIXEL_CALIBRATION_H_
