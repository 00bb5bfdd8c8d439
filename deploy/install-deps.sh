#!/usr/bin/env bash
# Installs the Debian 12 packages fringe needs to build, test and run. Idempotent: it only
# calls apt-get when something is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git
  # LibTorch (CPU) and a fast BLAS for it: Debian's default reference BLAS is ~20x slower on
  # GEMM-bound layers (shared/DESIGN.md §7); the OpenMP build matches LibTorch's threading.
  libtorch-dev libopenblas0-openmp
  # gRPC + protobuf with code generators
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  # images, FFTs, CLI, logging, JSON
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libfftw3-dev
  libcli11-dev libspdlog-dev nlohmann-json3-dev
  # metrics and HTTP
  prometheus-cpp-dev libcpp-httplib-dev
  # promtool (from Debian's prometheus package) checks a real /metrics scrape in the tests
  prometheus
  # persistent job queue: SQLite (single server) and PostgreSQL (shared by several servers);
  # the postgresql server itself runs the job store tests (deploy/postgres-test.sh)
  libsqlite3-dev sqlite3 libpqxx-dev postgresql
  # tests; clang-format 14 checks the tree's formatting (deploy/check-format.sh)
  libgtest-dev libgmock-dev clang-format-14
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
