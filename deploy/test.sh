#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
BUILD_DIR=${FRINGE_BUILD_DIR:-build}
# Tests share 2 cores with nothing else: run two at a time, each test single-threaded in torch
# unless it asks otherwise.
cd "$BUILD_DIR"
ctest --output-on-failure -j "${FRINGE_TEST_JOBS:-2}" --timeout 600 "$@"
