// A folder of hand-labelled images for training and evaluation.
//
// Layout:
//   <dir>/images/<stem>.(tif|tiff|png|jpg|jpeg|npy|mrc|dm3|dm4)
//   <dir>/masks/<mask>.(png|tif|tiff|npy)    (or labels/ instead of masks/, not both)
//   <dir>/manifest.json or <dir>/params.csv  (optional, not both)
//
// Mask names. The mask of image <stem> is the mask file whose name (case-insensitive, without
// extension) is one of:
//   <stem>                               e.g. images/a.tif    <-> masks/a.png
//   <stem> + _mask|_masks|_label|_labels|_gt|_seg|-mask|-label
//                                        e.g. images/a.tif    <-> masks/a_label.png
//   <stem> with a leading image|images|img|im replaced by label|labels|mask|masks|gt|seg
//                                        e.g. images/image_7.png <-> labels/label_7.png
// More than one candidate for one image is an error (ambiguous), as is a mask claimed by two
// images. Hidden files and files with other extensions are ignored.
//
// Masks: any non-zero pixel is particle. RGB/RGBA masks count a pixel as particle when any
// colour channel is non-zero (alpha is ignored, except that an RGBA mask whose colour channels
// are all zero but whose alpha varies is read from its alpha). Masks are returned as CV_8U 0/1.
//
// manifest.json (all keys optional; unknown keys are ignored so the schema can grow):
//   {
//     "defaults": {"dose_e_per_A2": 421.0, "pixel_size_nm": 0.02},
//     "items": {"image_7": {"dose_e_per_A2": 80.0, "pixel_size_nm": 0.0178}}
//   }
//   Values are positive numbers or null; "dose" is accepted for "dose_e_per_A2". Item keys are
//   image stems; item values override the defaults.
// params.csv: a header row, then one row per image; columns (case-insensitive) "stem" (or
//   "image", "name", "file", "filename": a directory or extension in the value is dropped),
//   "dose_e_per_A2" (or "dose"), "pixel_size_nm". Empty cells mean "not given". No quoting of
//   commas.
// Doses are in electrons per square Angstrom. A pixel size given here overrides the one the
// image file states (Load() applies it).
#ifndef FRINGE_DATA_LABELLED_DATASET_H_
#define FRINGE_DATA_LABELLED_DATASET_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "data/image_io.h"

namespace fringe::data {

struct DatasetItem {
  std::string stem;        // image file name without directory and extension
  std::string image_path;  // <dir>/images/<stem>.<ext>
  std::string mask_path;
  std::optional<double> dose;           // e-/A^2, from manifest.json / params.csv
  std::optional<double> pixel_size_nm;  // from manifest.json / params.csv
};

struct LabelledDatasetOptions {
  // false: Open() fails when an image has no mask, a mask has no image, or the manifest names a
  // stem that has no image; the message lists up to five of each.
  // true: such files are left out of items() and listed by unmatched_images(),
  // unmatched_masks() and warnings() instead.
  bool allow_unmatched = false;
};

class LabelledDataset {
 public:
  // Scans `dir` (see the layout above). Reads no pixels, so it is fast on large folders.
  // Errors (InvalidArgument, NotFound for a missing folder) name the folder and the problem.
  static absl::StatusOr<LabelledDataset> Open(const std::string& dir,
                                              const LabelledDatasetOptions& options = {});

  const std::string& dir() const { return dir_; }
  // Matched image/mask pairs, sorted by stem (byte order).
  const std::vector<DatasetItem>& items() const { return items_; }
  // Paths left out under allow_unmatched (empty otherwise), sorted.
  const std::vector<std::string>& unmatched_images() const { return unmatched_images_; }
  const std::vector<std::string>& unmatched_masks() const { return unmatched_masks_; }
  // Other things ignored under allow_unmatched (manifest entries without an image).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Splits items() into (training, validation). Each item goes to validation when a 64-bit hash
  // of (stem, seed) maps below `validation_fraction`, so the split depends only on the stem and
  // the seed: it is the same on every machine and run, and adding or removing files never moves
  // other files between the sets. The validation share is therefore validation_fraction only on
  // average. Fractions <= 0 put everything in training, >= 1 everything in validation. Both
  // lists keep the stem order.
  std::pair<std::vector<DatasetItem>, std::vector<DatasetItem>> Split(double validation_fraction,
                                                                      uint64_t seed) const;

  // The split rule for one stem (exposed so tools can show where a file goes).
  static bool IsValidation(const std::string& stem, double validation_fraction, uint64_t seed);

  // Reads frame 0 of the item's image (ReadImage) and its mask (ReadMask). Fails when their
  // sizes differ, naming both files and sizes. The item's pixel_size_nm, when set, replaces the
  // image file's calibration.
  absl::StatusOr<std::pair<Image, cv::Mat>> Load(const DatasetItem& item) const;

 private:
  LabelledDataset() = default;

  std::string dir_;
  std::vector<DatasetItem> items_;
  std::vector<std::string> unmatched_images_;
  std::vector<std::string> unmatched_masks_;
  std::vector<std::string> warnings_;
};

// Reads a mask file (PNG/TIFF of any depth and channel count, or a 2-D NPY) as CV_8U with 1 for
// particle and 0 for background (rules above). Errors name the file.
absl::StatusOr<cv::Mat> ReadMask(const std::string& path);

}  // namespace fringe::data

#endif  // FRINGE_DATA_LABELLED_DATASET_H_
