// Gatan DigitalMicrograph DM3 and DM4 files.
//
// Layout (both versions): a header (version word, tag-tree length, data byte-order flag), then a
// tree of named tag groups and data tags. Everything structural (lengths, counts, type codes) is
// big-endian; tag values are in the byte order of the header flag (1 = little-endian, what every
// modern DM writes). DM3 uses 4-byte lengths and counts, DM4 8-byte ones plus an 8-byte total
// size in front of every tag. Images live under ImageList: each entry has ImageData with Data
// (an array tag), DataType, Dimensions (x first) and Calibrations.Dimension[i].Scale/Units.
#ifndef FRINGE_DATA_DM_FORMAT_H_
#define FRINGE_DATA_DM_FORMAT_H_

#include "absl/status/statusor.h"
#include "data/byte_source.h"
#include "data/image.h"

namespace fringe::data {

// Reads frame `frame` of the main image of a DM3/DM4 file (see ReadImage for which image is the
// main one and what is rejected). Supported DataTypes: 1 int16, 2 float32, 6 uint8, 7 int32,
// 9 int8, 10 uint16, 11 uint32, 12 float64, 14 binary (uint8), 23 RGBA (to luminance).
absl::StatusOr<Image> ReadDmImage(ByteSource& source, int frame);

}  // namespace fringe::data

#endif  // FRINGE_DATA_DM_FORMAT_H_
