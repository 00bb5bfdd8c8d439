// The tiny training problem the trainer, FCN8s and robustness tests share (one copy instead of
// three): 32x32 tiles cut from 64x64 simulations with one or two small particles at high dose,
// a 2-level U-Net with 4 filters, one torch thread - deterministic and seconds to train.
#ifndef FRINGE_TESTS_SUPPORT_TINY_TRAINING_H_
#define FRINGE_TESTS_SUPPORT_TINY_TRAINING_H_

#include <string>

namespace fringe::testing {

// Text-format fringe.v1.TrainConfig: 8 steps, validation every 4 on 3 images, seed 5.
extern const char kTinyTrainConfig[];

// `base` (a text-format TrainConfig) with every top-level field that `overrides` sets replacing
// its own - a message field as a whole - printed back as text for ParseTrainConfig. Throws
// std::invalid_argument when either does not parse.
std::string OverrideTrainFields(const std::string& base, const std::string& overrides);

}  // namespace fringe::testing

#endif  // FRINGE_TESTS_SUPPORT_TINY_TRAINING_H_
