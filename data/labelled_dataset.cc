#include "data/labelled_dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/byte_source.h"

namespace fringe::data {
namespace {

namespace fs = std::filesystem;

constexpr size_t kListedInErrors = 5;

const std::set<std::string>& ImageExtensions() {
  static const auto* const kSet =
      new std::set<std::string>{"tif", "tiff", "png", "jpg", "jpeg", "npy", "mrc", "dm3", "dm4"};
  return *kSet;
}
const std::set<std::string>& MaskExtensions() {
  static const auto* const kSet = new std::set<std::string>{"png", "tif", "tiff", "npy"};
  return *kSet;
}

struct Listing {
  // lower-cased stem -> (stem as written, path)
  std::map<std::string, std::pair<std::string, std::string>> files;
};

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// Lists files with the given extensions; two files with the same stem are an error.
absl::StatusOr<Listing> ListFolder(const fs::path& folder, const std::set<std::string>& exts) {
  Listing out;
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(folder.string(), ": cannot list folder: ", ec.message()));
  }
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    const std::string ext =
        Lower(entry.path().extension().string().substr(entry.path().extension().empty() ? 0 : 1));
    if (exts.count(ext) == 0) continue;
    const std::string stem = entry.path().stem().string();
    const auto [pos, inserted] =
        out.files.emplace(Lower(stem), std::make_pair(stem, entry.path().string()));
    if (!inserted) {
      std::string a = pos->second.second, b = entry.path().string();
      if (b < a) std::swap(a, b);
      return absl::InvalidArgumentError(absl::StrCat(
          folder.string(), ": two files share the stem '", stem, "': ", a, " and ", b));
    }
  }
  return out;
}

// Candidate mask stems (lower case) for an image stem; see the header for the rules.
std::vector<std::string> MaskCandidates(const std::string& image_stem) {
  const std::string s = Lower(image_stem);
  std::vector<std::string> out = {s};
  for (const char* suffix :
       {"_mask", "_masks", "_label", "_labels", "_gt", "_seg", "-mask", "-label"}) {
    out.push_back(s + suffix);
  }
  for (const char* prefix : {"images", "image", "img", "im"}) {
    const std::string p = prefix;
    if (s.size() <= p.size() || s.compare(0, p.size(), p) != 0) continue;
    const std::string rest = s.substr(p.size());
    // Only a real prefix: "image_7", "image-7", "img7", not "imagery".
    if (rest[0] != '_' && rest[0] != '-' && !absl::ascii_isdigit(rest[0])) continue;
    for (const char* q : {"label", "labels", "mask", "masks", "gt", "seg"}) {
      out.push_back(q + rest);
    }
    break;  // "images_..." must not also be read as "image" + "s_..."
  }
  return out;
}

std::string ListSome(const std::vector<std::string>& v) {
  std::vector<std::string> shown(v.begin(), v.begin() + std::min(v.size(), kListedInErrors));
  std::string out = absl::StrJoin(shown, ", ");
  if (v.size() > kListedInErrors)
    absl::StrAppend(&out, " and ", v.size() - kListedInErrors, " more");
  return out;
}

struct Params {
  std::optional<double> dose, pixel_size_nm;
};

absl::StatusOr<std::optional<double>> PositiveNumber(const nlohmann::json& v,
                                                     const std::string& where) {
  if (v.is_null()) return std::optional<double>();
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " must be a positive number or null, got ", v.dump()));
  }
  return std::optional<double>(v.get<double>());
}

absl::Status ApplyJsonParams(const nlohmann::json& obj, const std::string& where, Params& p) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " must be an object"));
  }
  for (const char* key : {"dose", "dose_e_per_A2"}) {
    if (obj.contains(key)) {
      FRINGE_ASSIGN_OR_RETURN(p.dose, PositiveNumber(obj[key], absl::StrCat(where, ".", key)));
    }
  }
  if (obj.contains("pixel_size_nm")) {
    FRINGE_ASSIGN_OR_RETURN(p.pixel_size_nm, PositiveNumber(obj["pixel_size_nm"],
                                                            absl::StrCat(where, ".pixel_size_nm")));
  }
  return absl::OkStatus();
}

// Per-stem parameters from manifest.json; `defaults` receives the "defaults" block.
absl::StatusOr<std::map<std::string, Params>> ReadManifest(const fs::path& path, Params& defaults) {
  FRINGE_ASSIGN_OR_RETURN(const std::string text, ReadFile(path.string()));
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": invalid JSON: ", e.what()));
  }
  const std::string name = path.string();
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": the top level must be an object"));
  }
  std::map<std::string, Params> out;
  if (root.contains("defaults")) {
    FRINGE_RETURN_IF_ERROR(
        ApplyJsonParams(root["defaults"], absl::StrCat(name, ": defaults"), defaults));
  }
  if (root.contains("items")) {
    const nlohmann::json& items = root["items"];
    if (!items.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": \"items\" must be an object keyed by image stem"));
    }
    for (const auto& [stem, value] : items.items()) {
      Params p;
      FRINGE_RETURN_IF_ERROR(ApplyJsonParams(value, absl::StrCat(name, ": items.", stem), p));
      out[stem] = p;
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, Params>> ReadParamsCsv(const fs::path& path) {
  FRINGE_ASSIGN_OR_RETURN(const std::string text, ReadFile(path.string()));
  const std::string name = path.string();
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  auto cells = [](absl::string_view line) {
    std::vector<std::string> out;
    for (absl::string_view c : absl::StrSplit(line, ',')) {
      c = absl::StripAsciiWhitespace(c);
      if (c.size() >= 2 && (c.front() == '"' || c.front() == '\'') && c.back() == c.front()) {
        c = c.substr(1, c.size() - 2);
      }
      out.emplace_back(c);
    }
    return out;
  };
  size_t first = 0;
  while (first < lines.size() && absl::StripAsciiWhitespace(lines[first]).empty()) ++first;
  if (first == lines.size()) return absl::InvalidArgumentError(absl::StrCat(name, ": empty file"));
  const std::vector<std::string> header = cells(lines[first]);
  int stem_col = -1, dose_col = -1, size_col = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string h = Lower(header[i]);
    if (stem_col < 0 &&
        (h == "stem" || h == "image" || h == "name" || h == "file" || h == "filename")) {
      stem_col = static_cast<int>(i);
    }
    if (h == "dose" || h == "dose_e_per_a2") dose_col = static_cast<int>(i);
    if (h == "pixel_size_nm") size_col = static_cast<int>(i);
  }
  if (stem_col < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": the header row needs a 'stem' column (or image/name/file/filename)"));
  }
  std::map<std::string, Params> out;
  for (size_t li = first + 1; li < lines.size(); ++li) {
    if (absl::StripAsciiWhitespace(lines[li]).empty()) continue;
    const std::vector<std::string> row = cells(lines[li]);
    auto number = [&](int col, std::optional<double>& dst) -> absl::Status {
      if (col < 0 || col >= static_cast<int>(row.size()) || row[col].empty()) {
        return absl::OkStatus();
      }
      double v = 0;
      if (!absl::SimpleAtod(row[col], &v) || !std::isfinite(v) || v <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(name, ":", li + 1, ": column '", header[col],
                                                       "' must be a positive "
                                                       "number, got '",
                                                       row[col], "'"));
      }
      dst = v;
      return absl::OkStatus();
    };
    if (stem_col >= static_cast<int>(row.size()) || row[stem_col].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", li + 1, ": no stem"));
    }
    Params p;
    FRINGE_RETURN_IF_ERROR(number(dose_col, p.dose));
    FRINGE_RETURN_IF_ERROR(number(size_col, p.pixel_size_nm));
    const fs::path file(row[stem_col]);
    const std::string stem =
        ImageExtensions().count(
            Lower(file.extension().string().substr(file.extension().empty() ? 0 : 1))) > 0
            ? file.stem().string()
            : file.filename().string();
    out[stem] = p;
  }
  return out;
}

uint64_t Fnv1a64(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

absl::StatusOr<LabelledDataset> LabelledDataset::Open(const std::string& dir,
                                                      const LabelledDatasetOptions& options) {
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": dataset folder does not exist"));
  }
  if (!fs::is_directory(root, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a folder"));
  }
  const fs::path images_dir = root / "images";
  if (!fs::is_directory(images_dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": no images/ folder (expected images/ plus masks/ or labels/)"));
  }
  const bool has_masks = fs::is_directory(root / "masks", ec);
  const bool has_labels = fs::is_directory(root / "labels", ec);
  if (has_masks && has_labels) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": both masks/ and labels/ exist; keep one of them"));
  }
  if (!has_masks && !has_labels) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": no masks/ (or labels/) folder next to images/"));
  }
  const fs::path masks_dir = root / (has_masks ? "masks" : "labels");

  FRINGE_ASSIGN_OR_RETURN(const Listing images, ListFolder(images_dir, ImageExtensions()));
  FRINGE_ASSIGN_OR_RETURN(const Listing masks, ListFolder(masks_dir, MaskExtensions()));
  if (images.files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_dir.string(),
                     ": no image files (tif, tiff, png, jpg, jpeg, npy, "
                     "mrc, dm3, dm4)"));
  }

  // Per-stem parameters.
  const bool has_manifest = fs::exists(root / "manifest.json", ec);
  const bool has_csv = fs::exists(root / "params.csv", ec);
  if (has_manifest && has_csv) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": both manifest.json and params.csv exist; keep one of them"));
  }
  Params defaults;
  std::map<std::string, Params> params;
  if (has_manifest) {
    FRINGE_ASSIGN_OR_RETURN(params, ReadManifest(root / "manifest.json", defaults));
  } else if (has_csv) {
    FRINGE_ASSIGN_OR_RETURN(params, ReadParamsCsv(root / "params.csv"));
  }

  LabelledDataset ds;
  ds.dir_ = dir;
  std::map<std::string, std::string> claimed;  // lower-case mask stem -> image path
  std::vector<std::string> problems;
  for (const auto& [key, image] : images.files) {
    const auto& [stem, image_path] = image;
    std::vector<std::string> found;
    for (const std::string& candidate : MaskCandidates(stem)) {
      const auto it = masks.files.find(candidate);
      if (it != masks.files.end() &&
          std::find(found.begin(), found.end(), candidate) == found.end()) {
        found.push_back(candidate);
      }
    }
    if (found.size() > 1) {
      std::vector<std::string> paths;
      for (const std::string& f : found) paths.push_back(masks.files.at(f).second);
      return absl::InvalidArgumentError(absl::StrCat(dir, ": ambiguous masks for ", image_path,
                                                     ": ", absl::StrJoin(paths, " and ")));
    }
    if (found.empty()) {
      ds.unmatched_images_.push_back(image_path);
      continue;
    }
    const std::string& mask_path = masks.files.at(found[0]).second;
    if (const auto [it, inserted] = claimed.emplace(found[0], image_path); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir, ": mask ", mask_path, " matches two images: ", it->second, " and ", image_path));
    }
    DatasetItem item;
    item.stem = stem;
    item.image_path = image_path;
    item.mask_path = mask_path;
    item.dose = defaults.dose;
    item.pixel_size_nm = defaults.pixel_size_nm;
    if (const auto p = params.find(stem); p != params.end()) {
      if (p->second.dose.has_value()) item.dose = p->second.dose;
      if (p->second.pixel_size_nm.has_value()) item.pixel_size_nm = p->second.pixel_size_nm;
    }
    ds.items_.push_back(std::move(item));
  }
  for (const auto& [key, mask] : masks.files) {
    if (claimed.count(key) == 0) ds.unmatched_masks_.push_back(mask.second);
  }
  std::set<std::string> stems;
  for (const auto& [key, image] : images.files) stems.insert(image.first);
  for (const auto& [stem, p] : params) {
    if (stems.count(stem) == 0) {
      ds.warnings_.push_back(absl::StrCat(has_manifest ? "manifest.json" : "params.csv", " names '",
                                          stem, "', which has no image"));
    }
  }
  std::sort(ds.items_.begin(), ds.items_.end(),
            [](const DatasetItem& a, const DatasetItem& b) { return a.stem < b.stem; });
  std::sort(ds.unmatched_images_.begin(), ds.unmatched_images_.end());
  std::sort(ds.unmatched_masks_.begin(), ds.unmatched_masks_.end());

  if (!options.allow_unmatched) {
    if (!ds.unmatched_images_.empty()) {
      problems.push_back(absl::StrCat(ds.unmatched_images_.size(), " image(s) without a mask: ",
                                      ListSome(ds.unmatched_images_)));
    }
    if (!ds.unmatched_masks_.empty()) {
      problems.push_back(absl::StrCat(ds.unmatched_masks_.size(), " mask(s) without an image: ",
                                      ListSome(ds.unmatched_masks_)));
    }
    if (!ds.warnings_.empty()) problems.push_back(ListSome(ds.warnings_));
    if (!problems.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": ", absl::StrJoin(problems, "; "),
                       " (see LabelledDatasetOptions::allow_unmatched to skip them)"));
    }
  }
  if (ds.items_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": no image has a mask"));
  }
  return ds;
}

bool LabelledDataset::IsValidation(const std::string& stem, double validation_fraction,
                                   uint64_t seed) {
  if (!(validation_fraction > 0)) return false;  // also NaN
  if (validation_fraction >= 1) return true;
  // FNV-1a and SplitMix64 are fixed, portable functions (std::hash is not), so a split is
  // reproducible across machines, compilers and releases.
  const uint64_t h = SplitMix64(Fnv1a64(stem) ^ SplitMix64(seed));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  return u < validation_fraction;
}

std::pair<std::vector<DatasetItem>, std::vector<DatasetItem>> LabelledDataset::Split(
    double validation_fraction, uint64_t seed) const {
  std::pair<std::vector<DatasetItem>, std::vector<DatasetItem>> out;
  for (const DatasetItem& item : items_) {
    (IsValidation(item.stem, validation_fraction, seed) ? out.second : out.first).push_back(item);
  }
  return out;
}

absl::StatusOr<std::pair<Image, cv::Mat>> LabelledDataset::Load(const DatasetItem& item) const {
  FRINGE_ASSIGN_OR_RETURN(Image image, ReadImage(item.image_path));
  FRINGE_ASSIGN_OR_RETURN(cv::Mat mask, ReadMask(item.mask_path));
  if (image.pixels.size() != mask.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(item.image_path, " is ", image.pixels.cols, "x", image.pixels.rows,
                     " (width x height) but its mask ", item.mask_path, " is ", mask.cols, "x",
                     mask.rows, ": sizes must match"));
  }
  if (item.pixel_size_nm.has_value()) {
    image.pixel_size_nm = item.pixel_size_nm;
    image.pixel_size_x_nm = item.pixel_size_nm;
    image.pixel_size_y_nm = item.pixel_size_nm;
  }
  return std::make_pair(std::move(image), std::move(mask));
}

absl::StatusOr<cv::Mat> ReadMask(const std::string& path) {
  // Open first for the usual missing/unreadable/empty errors.
  FRINGE_ASSIGN_OR_RETURN(ByteSource source, ByteSource::Open(path));
  const std::string ext = Lower(fs::path(path).extension().string());
  cv::Mat raw;
  if (ext == ".npy") {
    FRINGE_ASSIGN_OR_RETURN(raw, ReadNpy(path));
    if (raw.dims != 2) return source.Error("mask NPY must be 2-D");
  } else {
    try {
      raw = cv::imread(path, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
      return source.Error(absl::StrCat("cannot decode mask: ", e.what()));
    }
    if (raw.empty()) {
      // ReadImage explains corrupt and truncated files precisely.
      const absl::StatusOr<Image> probe = ReadImage(path);
      if (!probe.ok()) return probe.status();
      return source.Error("cannot decode mask image");
    }
  }
  cv::Mat particle;
  if (raw.channels() == 1) {
    particle = raw != 0;
  } else {
    std::vector<cv::Mat> planes;
    cv::split(raw, planes);
    const int colour = std::min(3, raw.channels());
    particle = cv::Mat::zeros(raw.size(), CV_8U);
    for (int c = 0; c < colour; ++c) particle |= (planes[c] != 0);
    if (raw.channels() == 4 && cv::countNonZero(particle) == 0) {
      double lo = 0, hi = 0;
      cv::minMaxLoc(planes[3], &lo, &hi);
      if (lo != hi) particle = planes[3] != 0;  // painted only into the alpha channel
    }
  }
  particle = particle / 255;  // comparisons give 0/255; masks are 0/1
  return particle;
}

}  // namespace fringe::data
