// Client-side helpers the integration tests share: a client for a test server, a noise frame
// request, and the two-version "tiny" repository several suites serve.
#ifndef FRINGE_TESTS_SUPPORT_TEST_CLIENT_H_
#define FRINGE_TESTS_SUPPORT_TEST_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "client/fringe_client.h"

namespace fringe::testing {

// A client for `address` with the library's defaults, or the given call timeout when > 0.
std::unique_ptr<FringeClient> ConnectTo(const std::string& address,
                                        std::chrono::seconds timeout = std::chrono::seconds(0));

// A SegmentRequest `id` carrying a rows x cols uint16 frame of uniform noise in [0, 5000).
v1::SegmentRequest NoiseRequest(const std::string& id, int rows, int cols, uint64_t seed);

// A fresh repository holding "tiny" versions 1 and 2 (TinyUNetConfig, seeds 1 and 2).
std::string MakeTinyRepository(const std::string& prefix);

}  // namespace fringe::testing

#endif  // FRINGE_TESTS_SUPPORT_TEST_CLIENT_H_
