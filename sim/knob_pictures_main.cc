// fringe-sim-knobs (dev tool, not installed): writes docs/sim/knob_<name>.png, each a 256x256
// frame with the knob off (left) and exaggerated (right), same seed, for sim/README.md.
//
//   build/sim/fringe-sim-knobs docs/sim
#include <algorithm>
#include <cstdio>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "sim/domain_randomization.h"
#include "sim/hrtem_simulator.h"

namespace {

using fringe::sim::SampleParams;
using fringe::sim::SimulatorOptions;

// 1st-99th percentile stretch to 8 bits.
cv::Mat ToGray(const cv::Mat& image) {
  std::vector<float> v(image.begin<float>(), image.end<float>());
  std::sort(v.begin(), v.end());
  const float lo = v[v.size() / 100];
  const float hi = v[v.size() * 99 / 100];
  cv::Mat out;
  image.convertTo(out, CV_8U, 255.0 / std::max(1e-6f, hi - lo),
                  -lo * 255.0 / std::max(1e-6f, hi - lo));
  return out;
}

int Write(const std::string& dir, const std::string& name, const SimulatorOptions& off_options,
          const SimulatorOptions& on_options, uint64_t seed,
          const std::function<void(SampleParams*)>& edit) {
  auto off = fringe::sim::HrtemSimulator::Create(off_options);
  auto on = fringe::sim::HrtemSimulator::Create(on_options);
  if (!off.ok() || !on.ok()) {
    std::fprintf(stderr, "%s: %s %s\n", name.c_str(), off.status().ToString().c_str(),
                 on.status().ToString().c_str());
    return 1;
  }
  SampleParams p = (*on)->DrawParams(seed, 0);
  SampleParams q = (*off)->DrawParams(seed, 0);
  edit(&p);
  auto a = (*off)->Render(q);
  auto b = (*on)->Render(p);
  if (!a.ok() || !b.ok()) {
    std::fprintf(stderr, "%s: render failed %s %s\n", name.c_str(), a.status().ToString().c_str(),
                 b.status().ToString().c_str());
    return 1;
  }
  cv::Mat pair;
  cv::Mat gap(256, 4, CV_8U, cv::Scalar(255));
  cv::hconcat(std::vector<cv::Mat>{ToGray(a->image), gap, ToGray(b->image)}, pair);
  const std::string path = dir + "/knob_" + name + ".png";
  cv::imwrite(path, pair, {cv::IMWRITE_PNG_COMPRESSION, 9});
  std::printf("%s\n", path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "docs/sim";
  SimulatorOptions base;
  base.height = base.width = 256;
  base.overrides.pixel_size_nm = 0.04;
  base.overrides.dose_e_per_a2 = 2000.0;
  base.overrides.defocus_nm = -8.0;
  base.overrides.cs_um = 5.0;
  base.overrides.carbon_thickness_nm = 4.0;
  base.particles_min = base.particles_max = 2;
  base.diameter_min_nm = 3.0;
  base.diameter_max_nm = 4.0;
  int failures = 0;
  SimulatorOptions on = base;

  on = base;
  failures += Write(dir, "carbon", base, on, 3, [](SampleParams* p) {
    p->graphitic_fraction = 0.6;
    p->carbon_thickness_gradient = 0.8;
    p->carbon_hole = "hole";
    p->hole_center_x_nm = 8.0;
    p->hole_center_y_nm = 8.5;
    p->hole_radius_nm = 1.6;
    p->contamination.push_back({2.5, 7.5, 1.8, 5.0});
  });
  on = base;
  on.touching_fraction = 1.0;
  on.out_of_frame_fraction = 1.0;
  on.particles_min = on.particles_max = 3;
  failures += Write(dir, "content", base, on, 3, [](SampleParams*) {});
  on = base;
  on.morphology_weights = {0.0, 1.0, 1.0, 1.0};
  on.on_zone_fraction = 1.0;
  failures += Write(dir, "morphology", base, on, 5, [](SampleParams*) {});
  on = base;
  failures += Write(dir, "illumination", base, on, 3, [](SampleParams* p) {
    p->illumination_gradient = 0.5;
    p->illumination_gradient_angle_deg = 30.0;
    p->beam_tilt_x_mrad = 3.0;
  });
  on = base;
  failures += Write(dir, "aberrations", base, on, 3, [](SampleParams* p) {
    p->a1_nm = 8.0;
    p->a1_azimuth_deg = 20.0;
    p->a2_nm = 300.0;
    p->b2_nm = 600.0;
  });
  on = base;
  failures += Write(dir, "detector", base, on, 3, [](SampleParams* p) {
    p->gain_nonuniformity = 0.1;
    p->read_noise_e = 20.0;
    p->hot_pixel_fraction = 0.002;
    p->dead_pixel_fraction = 0.002;
    p->xray_spikes = 20;
    p->drift_blur_nm = 0.15;
    p->drift_angle_deg = 45.0;
  });
  on = base;
  on.carbon_model = fringe::sim::CarbonModel::kPhaseField;
  on.detector_model = fringe::sim::DetectorModel::kScintillatorCcd;
  on.read_noise_max_e = 5.0;
  failures += Write(dir, "held_out", base, on, 3, [](SampleParams*) {});
  return failures == 0 ? 0 : 1;
}
