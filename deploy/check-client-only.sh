#!/usr/bin/env bash
# Builds the client alone (-DFRINGE_BUILD_SERVER=OFF: the `fringe` CLI, its library and
# fringe-montage) in build-client/ and proves it needs none of the server's heavy libraries:
# the CMake cache never looked LibTorch up (LibTorch is installed on this machine, so a build
# that merely succeeds would prove nothing) and the `fringe` binary links no LibTorch, libpqxx,
# SQLite, FFTW or prometheus-cpp. Idempotent and incremental (deploy/build.sh's ccache set-up
# shares objects with build/).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${FRINGE_CLIENT_BUILD_DIR:-build-client}
FRINGE_BUILD_DIR="$DIR" FRINGE_CMAKE_ARGS="-DFRINGE_BUILD_SERVER=OFF" \
  bash deploy/build.sh --target fringe fringe-montage
fail=0
if grep -Eq '^(Torch_DIR|Caffe2_DIR|FFTW3F_FOUND|PQXX_FOUND):' "$DIR/CMakeCache.txt"; then
  echo "check-client-only: the client-only configure looked up a server library:" >&2
  grep -E '^(Torch_DIR|Caffe2_DIR|FFTW3F_FOUND|PQXX_FOUND):' "$DIR/CMakeCache.txt" >&2
  fail=1
fi
for bin in "$DIR/client/fringe" "$DIR/tools/fringe-montage"; do
  # Everything it loads, transitively: no LibTorch, libpqxx, FFTW or prometheus-cpp at all.
  heavy=$(ldd "$bin" | grep -Ei 'libtorch|libc10|libpqxx|libfftw3|libprometheus' || true)
  # What it links itself: no SQLite or libpq either. (Debian's OpenCV imgcodecs loads GDAL,
  # which loads libpq and SQLite, so those two may appear in ldd below OpenCV.)
  direct=$(readelf -d "$bin" | grep NEEDED | grep -Ei 'libsqlite3|libpq\.' || true)
  if [ -n "$heavy$direct" ]; then
    echo "check-client-only: $bin links server libraries:" >&2
    printf '%s\n%s\n' "$heavy" "$direct" >&2
    fail=1
  fi
done
"$DIR/client/fringe" --help >/dev/null  # It runs.
[ "$fail" -eq 0 ] && echo "check-client-only: $DIR/client/fringe built without LibTorch, libpqxx, SQLite, FFTW, prometheus-cpp"
exit "$fail"
