#!/usr/bin/env bash
# Configures (Release, Ninja, ccache) and builds fringe into build/. Idempotent and incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FRINGE_BUILD_DIR:-build}
JOBS=${FRINGE_JOBS:-$(nproc)}
# ccache: paths relative to the checkout so every clone (CI's included) shares one cache, and
# the sloppiness precompiled headers need to be cacheable at all.
export CCACHE_BASEDIR="$PWD"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
