#include "data/pixel_calibration.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"

namespace fringe::data {
namespace {

std::optional<double> Positive(std::optional<double> v) {
  if (v.has_value() && std::isfinite(*v) && *v > 0) return v;
  return std::nullopt;
}

}  // namespace

std::optional<double> NanometresPerUnit(absl::string_view unit) {
  std::string u = absl::AsciiStrToLower(absl::StripAsciiWhitespace(unit));
  // Fold every way of writing "micro" and "Angstrom" to plain ASCII first. DM TIFF tags hold the
  // micro sign as a single Latin-1 byte (0xB5), DM tag strings and UTF-8 text as C2 B5, some
  // software uses the Greek mu (CE BC), and ImageJ escapes it in its description as "\u00B5".
  u = absl::StrReplaceAll(u, {{"\xc2\xb5", "u"},
                              {"\xce\xbc", "u"},
                              {"\\u00b5", "u"},
                              {"\xc3\x85", "a"},        // Å U+00C5
                              {"\xc3\xa5", "a"},        // å (lower-cased Å)
                              {"\xe2\x84\xab", "a"}});  // Å U+212B ANGSTROM SIGN
  if (u.size() == 2 && static_cast<unsigned char>(u[0]) == 0xb5 && u[1] == 'm') u = "um";
  if (u.size() == 1 && static_cast<unsigned char>(u[0]) == 0xc5) u = "a";  // Latin-1 Å
  if (u == "nm" || u == "nanometer" || u == "nanometre" || u == "nanometers" || u == "nanometres") {
    return 1.0;
  }
  if (u == "um" || u == "micron" || u == "microns" || u == "micrometer" || u == "micrometre" ||
      u == "micrometers" || u == "micrometres") {
    return 1e3;
  }
  if (u == "a" || u == "angstrom" || u == "angstroms" || u == "ang") return 0.1;
  if (u == "pm" || u == "picometer" || u == "picometre") return 1e-3;
  if (u == "mm" || u == "millimeter" || u == "millimetre") return 1e6;
  if (u == "cm" || u == "centimeter" || u == "centimetre") return 1e7;
  if (u == "m" || u == "meter" || u == "metre") return 1e9;
  return std::nullopt;
}

void SetPixelSize(std::optional<double> x_nm, std::optional<double> y_nm, Image& image) {
  x_nm = Positive(x_nm);
  y_nm = Positive(y_nm);
  image.pixel_size_x_nm = x_nm;
  image.pixel_size_y_nm = y_nm;
  image.pixel_size_nm.reset();
  if (x_nm.has_value() && y_nm.has_value() &&
      std::abs(*x_nm - *y_nm) <= 1e-4 * std::max(*x_nm, *y_nm)) {
    image.pixel_size_nm = *x_nm;
  }
}

}  // namespace fringe::data
