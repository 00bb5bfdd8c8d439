// Reads files written by real microscope software (see
// shared/microscopy-samples/PROVENANCE.md for where each file and each expected value comes
// from; most values are assertions of rosettasciio, ncempy or mrcfile tests). Skipped when the
// samples are absent.
#include <cmath>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "data/labelled_dataset.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace fringe::data {
namespace {

using testing::SamplesDir;
using testing::StatusIs;

std::string Sample(const std::string& relative) { return SamplesDir() + "/" + relative; }

absl::StatusOr<Image> Read(const std::string& relative, int frame = 0) {
  return ReadImage(Sample(relative), frame);
}

void ExpectNear(std::optional<double> got, double want, double rel = 1e-5) {
  ASSERT_TRUE(got.has_value()) << "expected " << want;
  EXPECT_NEAR(*got, want, want * rel);
}

TEST(RealSamplesTest, DigitalMicrographImagesWithCalibrations) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  // Real STEM HAADF; rsciio test_multi_signal asserts shape and data.sum() == 949490255.
  absl::StatusOr<Image> haadf = Read("dm/multi_signal.dm3");
  ASSERT_TRUE(haadf.ok()) << haadf.status();
  EXPECT_EQ(haadf->format, "dm3");
  EXPECT_EQ(haadf->pixels.type(), CV_16UC1);
  EXPECT_EQ(haadf->original_shape, (std::vector<int>{512, 512}));
  EXPECT_EQ(cv::sum(haadf->pixels)[0], 949490255.0);
  ExpectNear(haadf->pixel_size_nm, 0.0177516);

  absl::StatusOr<Image> stem = Read("dm/test_STEM_image.dm3");  // uint32, nonzero Origin
  ASSERT_TRUE(stem.ok()) << stem.status();
  EXPECT_EQ(stem->original_shape, (std::vector<int>{68, 68}));
  EXPECT_EQ(stem->pixels.type(), CV_32FC1);
  ExpectNear(stem->pixel_size_nm, 0.248538);

  absl::StatusOr<Image> um = Read("dm/test_dm_image_um_unit.dm3");  // "µm" with the micro sign
  ASSERT_TRUE(um.ok()) << um.status();
  EXPECT_EQ(um->original_shape, (std::vector<int>{68, 68}));
  ExpectNear(um->pixel_size_nm, 168.67469);

  absl::StatusOr<Image> cl = Read("dm/test-MonarcCL_mono-image.dm4");
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->format, "dm4");
  EXPECT_EQ(cl->pixels.type(), CV_16UC1);
  EXPECT_EQ(cl->original_shape, (std::vector<int>{2, 2}));
  ExpectNear(cl->pixel_size_nm, 18325.35);

  // Reciprocal-space calibration (1/nm) is not a pixel size.
  absl::StatusOr<Image> diffraction = Read("dm/test_diffraction_pattern.dm3");
  ASSERT_TRUE(diffraction.ok()) << diffraction.status();
  EXPECT_EQ(diffraction->original_shape, (std::vector<int>{87, 87}));
  EXPECT_FALSE(diffraction->pixel_size_nm.has_value());
  EXPECT_FALSE(diffraction->pixel_size_x_nm.has_value());
}

TEST(RealSamplesTest, DigitalMicrographNonSquarePixelsAndStacks) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  for (const char* ext : {".dm3", ".dm4"}) {
    SCOPED_TRACE(ext);
    // data[r, c] == c; x calibrated 1 nm, y 2 A.
    absl::StatusOr<Image> flat =
        Read(std::string("dm/dmTest_float32_nonSquare_diffPixelSize") + ext);
    ASSERT_TRUE(flat.ok()) << flat.status();
    EXPECT_EQ(flat->original_shape, (std::vector<int>{64, 128}));
    EXPECT_EQ(flat->pixels.type(), CV_32FC1);
    EXPECT_EQ(flat->pixels.at<float>(0, 127), 127.f);
    EXPECT_EQ(flat->pixels.at<float>(63, 5), 5.f);
    EXPECT_FALSE(flat->pixel_size_nm.has_value());
    ExpectNear(flat->pixel_size_x_nm, 1.0);
    ExpectNear(flat->pixel_size_y_nm, 0.2);

    // 3-D int16 stack, numpy shape (66, 65, 64), data[z, y, x] == x; x 2 pm, y 3 nm.
    const std::string stack = std::string("dm/dmTest_3D_int16_64,65,66") + ext;
    for (const int z : {0, 65}) {
      absl::StatusOr<Image> frame = Read(stack, z);
      ASSERT_TRUE(frame.ok()) << frame.status();
      EXPECT_EQ(frame->original_shape, (std::vector<int>{66, 65, 64}));
      EXPECT_EQ(frame->pixels.type(), CV_16SC1);
      EXPECT_EQ(frame->pixels.at<int16_t>(64, 63), 63);
      EXPECT_EQ(frame->pixels.at<int16_t>(10, 7), 7);
      ExpectNear(frame->pixel_size_x_nm, 0.002);
      ExpectNear(frame->pixel_size_y_nm, 3.0);
    }
    EXPECT_TRUE(StatusIs(Read(stack, 66).status(), absl::StatusCode::kOutOfRange,
                         {"frame 66", "66 frames"}));
  }
}

TEST(RealSamplesTest, DigitalMicrographDataTypeMatrix) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  // Written by DigitalMicrograph itself: [[1, 2], [3, 4]] in 9 data types, DM3 and DM4.
  struct Case {
    int type;
    int depth;
  };
  for (const Case& c : std::vector<Case>{{1, CV_16S},
                                         {2, CV_32F},
                                         {6, CV_8U},
                                         {7, CV_32F},
                                         {9, CV_32F},
                                         {10, CV_16U},
                                         {11, CV_32F},
                                         {12, CV_32F},
                                         {23, CV_8U}}) {
    for (const char* ext : {".dm3", ".dm4"}) {
      const std::string name = "dm/dtype_matrix_2x2/test-" + std::to_string(c.type) + ext;
      SCOPED_TRACE(name);
      absl::StatusOr<Image> image = Read(name);
      ASSERT_TRUE(image.ok()) << image.status();
      EXPECT_EQ(image->pixels.depth(), c.depth);
      cv::Mat d;
      image->pixels.convertTo(d, CV_64F);
      ASSERT_EQ(d.size(), cv::Size(2, 2));
      EXPECT_EQ(d.at<double>(0, 0), 1);
      EXPECT_EQ(d.at<double>(0, 1), 2);
      EXPECT_EQ(d.at<double>(1, 0), 3);
      EXPECT_EQ(d.at<double>(1, 1), 4);
      EXPECT_FALSE(image->pixel_size_nm.has_value());  // DM default calibration: no units
    }
  }
}

TEST(RealSamplesTest, DigitalMicrographFilesThatAreNotImagesAreRejected) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  EXPECT_TRUE(StatusIs(Read("dm/test_fft_packed_complex8.dm4").status(),
                       absl::StatusCode::kInvalidArgument,
                       {"test_fft_packed_complex8.dm4", "DataType 27", "complex"}));
  EXPECT_TRUE(StatusIs(Read("dm/08_carbon.dm3").status(), absl::StatusCode::kInvalidArgument,
                       {"08_carbon.dm3", "1-D signal", "2048 x 1"}));
}

TEST(RealSamplesTest, MrcFiles) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  // Velox export with a 909312-byte FEI2 extended header; rsciio asserts 5.679131 nm.
  absl::StatusOr<Image> haadf = Read("mrc/HAADFscan.mrc");
  ASSERT_TRUE(haadf.ok()) << haadf.status();
  EXPECT_EQ(haadf->format, "mrc");
  EXPECT_EQ(haadf->pixels.type(), CV_16UC1);
  EXPECT_EQ(haadf->original_shape, (std::vector<int>{16, 16}));
  ExpectNear(haadf->pixel_size_nm, 5.679131317138672);
  double lo = 0, hi = 0;
  cv::minMaxLoc(haadf->pixels, &lo, &hi);
  EXPECT_EQ(lo, 3923);  // data statistics from PROVENANCE (header DMIN/DMAX are bogus)
  EXPECT_EQ(hi, 9399);

  // Negative cell: uncalibrated; non-square 12 x 29 float32.
  absl::StatusOr<Image> roi = Read("mrc/ROI_Random_Scan_Sum.mrc");
  ASSERT_TRUE(roi.ok()) << roi.status();
  EXPECT_EQ(roi->original_shape, (std::vector<int>{29, 12}));
  EXPECT_EQ(roi->pixels.type(), CV_32FC1);
  EXPECT_FALSE(roi->pixel_size_nm.has_value());

  // EMDB volume; mrcfile asserts a voxel size of 11.4 A.
  absl::StatusOr<Image> emd = Read("mrc/EMD-3197.map", 19);
  ASSERT_TRUE(emd.ok()) << emd.status();
  EXPECT_EQ(emd->original_shape, (std::vector<int>{20, 20, 20}));
  ExpectNear(emd->pixel_size_nm, 1.14);

  // MAPC/MAPR/MAPS = 3, 1, 2: columns run along Z (33.03 A / 72), rows along X (17.93 A / 40);
  // NSYMBT = 160.
  absl::StatusOr<Image> permuted = Read("mrc/EMD-3001.map");
  ASSERT_TRUE(permuted.ok()) << permuted.status();
  EXPECT_EQ(permuted->original_shape, (std::vector<int>{25, 43, 73}));
  EXPECT_FALSE(permuted->pixel_size_nm.has_value());
  ExpectNear(permuted->pixel_size_x_nm, 0.045875);
  ExpectNear(permuted->pixel_size_y_nm, 0.044825);
}

TEST(RealSamplesTest, MicroscopeTiffs) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  // The same 68 x 68 acquisition saved by DigitalMicrograph (int32 little-endian, DM tags) and
  // by ImageJ (float32 big-endian, "unit=micron"): identical pixels and pixel size.
  absl::StatusOr<Image> dm = Read("tiff/test_loading_image_saved_with_DM.tif");
  absl::StatusOr<Image> ij = Read("tiff/test_loading_image_saved_with_imageJ.tif");
  absl::StatusOr<Image> original = Read("dm/test_dm_image_um_unit.dm3");
  ASSERT_TRUE(dm.ok()) << dm.status();
  ASSERT_TRUE(ij.ok()) << ij.status();
  ASSERT_TRUE(original.ok()) << original.status();
  EXPECT_EQ(dm->original_shape, (std::vector<int>{68, 68}));
  EXPECT_EQ(dm->pixels.type(), CV_32FC1);
  EXPECT_EQ(ij->pixels.type(), CV_32FC1);
  EXPECT_EQ(cv::norm(dm->pixels, ij->pixels, cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(dm->pixels, original->pixels, cv::NORM_INF), 0);
  ExpectNear(dm->pixel_size_nm, 168.6747, 1e-6);  // 0.16867469 um (DM tags 65009/65010)
  ExpectNear(ij->pixel_size_nm, 168.6747, 1e-6);  // 1 / 5.928571 um

  absl::StatusOr<Image> fei = Read("tiff/FEI-Helios-Ebeam-16bits.tif");
  ASSERT_TRUE(fei.ok()) << fei.status();
  EXPECT_EQ(fei->pixels.type(), CV_16UC1);
  EXPECT_EQ(fei->original_shape, (std::vector<int>{471, 512}));  // includes the data bar
  ExpectNear(fei->pixel_size_nm, 3372.4);

  absl::StatusOr<Image> tvips = Read("tiff/TVIPS_bin4.tif");
  ASSERT_TRUE(tvips.ok()) << tvips.status();
  EXPECT_EQ(tvips->pixels.type(), CV_8UC1);
  EXPECT_EQ(tvips->original_shape, (std::vector<int>{1024, 1024}));
  ExpectNear(tvips->pixel_size_nm, 1.42080, 1e-4);

  // Lattice-fringe HRTEM exported as 8-bit RGB with unequal channels; 72 dpi placeholder only.
  absl::StatusOr<Image> hrtem = Read("tiff/ExampleImage.tif");
  ASSERT_TRUE(hrtem.ok()) << hrtem.status();
  EXPECT_EQ(hrtem->pixels.type(), CV_8UC1);
  EXPECT_EQ(hrtem->original_shape, (std::vector<int>{512, 512}));
  EXPECT_FALSE(hrtem->pixel_size_nm.has_value());

  // The MATLAB sidecar next to it is not an image.
  EXPECT_TRUE(StatusIs(Read("tiff/ExampleImage_px-nm.mat").status(),
                       absl::StatusCode::kInvalidArgument,
                       {"ExampleImage_px-nm.mat", "unrecognised"}));
}

TEST(RealSamplesTest, HandLabelledTemFolderLoads) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  // images/image_N.png + labels/label_N.png, RGBA PNGs (grey images, 0/255 labels).
  const std::string root = Sample("labelled/msa-em_microscopy-seg-track");
  absl::StatusOr<LabelledDataset> ds = LabelledDataset::Open(root);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->items().size(), 20u);
  EXPECT_EQ(ds->items()[0].stem, "image_0");
  EXPECT_EQ(ds->items()[0].mask_path, root + "/labels/label_0.png");
  for (const DatasetItem& item : ds->items()) {
    EXPECT_EQ(item.mask_path.substr(item.mask_path.rfind("label_") + 6),
              item.stem.substr(6) + ".png");
  }
  absl::StatusOr<std::pair<Image, cv::Mat>> first = ds->Load(ds->items()[0]);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->first.pixels.type(), CV_8UC1);  // R = G = B: grey kept exactly
  EXPECT_EQ(first->first.pixels.size(), cv::Size(512, 512));
  EXPECT_EQ(first->second.type(), CV_8UC1);
  // PROVENANCE: label_0 is 21.19% white.
  EXPECT_NEAR(cv::countNonZero(first->second) / (512.0 * 512.0), 0.2119, 0.0005);
  const auto [train, val] = ds->Split(0.2, 7);
  EXPECT_EQ(train.size() + val.size(), 20u);
}

TEST(RealSamplesTest, LabelOnlyFolderIsNotADatasetButItsMaskReads) {
  FRINGE_SKIP_WITHOUT_SAMPLES();
  const std::string root = Sample("labelled/ScottLab_HRTEM-Generalization");
  EXPECT_TRUE(StatusIs(LabelledDataset::Open(root).status(), absl::StatusCode::kInvalidArgument,
                       {root, "no images/ folder"}));
  absl::StatusOr<cv::Mat> mask =
      ReadMask(root + "/20221109_Au_UTC_330kx_2640e_0p1596s_03_label.png");
  ASSERT_TRUE(mask.ok()) << mask.status();
  EXPECT_EQ(mask->size(), cv::Size(4096, 4096));
  EXPECT_NEAR(cv::countNonZero(*mask) / (4096.0 * 4096.0), 0.0221, 0.0005);
}

}  // namespace
}  // namespace fringe::data
