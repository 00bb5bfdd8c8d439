#include "plot/csv.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace fringe::analysis {

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string CsvNumber(double value) {
  if (!std::isfinite(value)) return "";
  return absl::StrFormat("%.6g", value);
}

}  // namespace fringe::analysis
