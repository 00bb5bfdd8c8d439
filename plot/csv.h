// The CSV conventions every analysis table shares (RFC 4180 quoting, empty cells for unknown
// numbers), so the files open the same way in a spreadsheet and in pandas.
#ifndef FRINGE_PLOT_CSV_H_
#define FRINGE_PLOT_CSV_H_

#include <string>

namespace fringe::analysis {

// `text` quoted (with doubled inner quotes) when it holds a comma, quote or line break.
std::string CsvField(const std::string& text);

// A number with 6 significant digits ("%.6g"); NaN and infinities give an empty cell.
std::string CsvNumber(double value);

}  // namespace fringe::analysis

#endif  // FRINGE_PLOT_CSV_H_
