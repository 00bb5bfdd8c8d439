#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
# Formatting first: a badly formatted file fails in seconds rather than after the build.
bash deploy/check-format.sh
bash deploy/build.sh
# The client alone builds without LibTorch, libpqxx, SQLite, FFTW and prometheus-cpp.
bash deploy/check-client-only.sh
BUILD_DIR=${FRINGE_BUILD_DIR:-build}
# The job store suite also runs against PostgreSQL: a throwaway local cluster (stopped again on
# exit, unless it was running already) when the caller names no server. FRINGE_REQUIRE_POSTGRES
# makes those cases fail rather than skip when no server can be had.
if [ -z "${FRINGE_TEST_POSTGRES_URL:-}" ]; then
  if ! bash deploy/postgres-test.sh status; then
    bash deploy/postgres-test.sh start
    ROOT=$PWD
    trap 'bash "$ROOT/deploy/postgres-test.sh" stop' EXIT
  fi
  FRINGE_TEST_POSTGRES_URL=$(bash deploy/postgres-test.sh url)
  export FRINGE_TEST_POSTGRES_URL
fi
export FRINGE_REQUIRE_POSTGRES=1
# Tests share 2 cores with nothing else: run two at a time, each test single-threaded in torch
# unless it asks otherwise.
cd "$BUILD_DIR"
ctest --output-on-failure -j "${FRINGE_TEST_JOBS:-2}" --timeout 600 "$@"
