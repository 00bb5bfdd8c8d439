// MRC / MRC2014 and CCP4 maps (https://www.ccpem.ac.uk/mrc_format/mrc2014.php): a 1024-byte
// header of 32-bit words, an extended header of NSYMBT bytes, then NZ sections of NY rows of NX
// values.
#ifndef FRINGE_DATA_MRC_FORMAT_H_
#define FRINGE_DATA_MRC_FORMAT_H_

#include "absl/status/statusor.h"
#include "data/byte_source.h"
#include "data/image.h"

namespace fringe::data {

inline constexpr uint64_t kMrcHeaderBytes = 1024;
inline constexpr uint64_t kMrcMapStampOffset = 208;  // "MAP " in MRC2014 and CCP4 files

// Reads section `frame` (0-based along Z) of an MRC file. Modes 0 (int8; unsigned when an IMOD
// header says so), 1 (int16), 2 (float32), 6 (uint16) and 12 (float16) are supported; complex
// modes 3/4 and packed 4-bit mode 101 are rejected. Byte order comes from MACHST, or from a
// plausibility check of the header when MACHST is blank (old files). The pixel size is
// CELLA/M in Angstrom along the axes that MAPC/MAPR map to columns and rows; a zero or negative
// cell means "uncalibrated".
absl::StatusOr<Image> ReadMrcImage(ByteSource& source, int frame);

}  // namespace fringe::data

#endif  // FRINGE_DATA_MRC_FORMAT_H_
