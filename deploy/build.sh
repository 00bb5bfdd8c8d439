#!/usr/bin/env bash
# Configures (Release, Ninja, ccache) and builds fringe into build/. Idempotent and incremental.
# FRINGE_BUILD_DIR picks another build folder, FRINGE_CMAKE_ARGS adds configure options (used
# once, when that folder is configured); arguments go to `cmake --build` (e.g. --target X).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FRINGE_BUILD_DIR:-build}
JOBS=${FRINGE_JOBS:-$(nproc)}
# ccache: paths relative to the checkout so every clone (CI's included) shares one cache, and
# the sloppiness precompiled headers need to be cacheable at all.
export CCACHE_BASEDIR="$PWD"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # shellcheck disable=SC2086  # FRINGE_CMAKE_ARGS is a list of options.
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${FRINGE_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
