#!/usr/bin/env bash
# Rehearses deploy/cuda/build-on-device.sh on the Debian 12 host, against Debian's CPU LibTorch,
# with the host's own copies of every kit dependency hidden (headers, CMake configs, pkg-config
# files, protoc/grpc_cpp_plugin/pkg-config and the libraries themselves are covered by empty
# mounts in a private mount namespace), so whatever configures, compiles, links and runs here
# can only have come from the kit. Needs root (unshare -m). Nothing outside the namespace changes.
#
#   deploy/cuda/dry-run-here.sh [--configure-only] [TARGET...]
#
# Defaults: FRINGE_DEPS_PREFIX=/tmp/fringe-deps-dry, FRINGE_BUILD_DIR=build-cuda-dry,
# FRINGE_TORCH_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch, FRINGE_JOBS=1 (run it under nice).
# FRINGE_DRY_RUN_AFTER: a command run afterwards in the same namespace (e.g. a built binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "dry-run-here: needs root (unshare -m)" >&2; exit 1; }
export FRINGE_DEPS_PREFIX=${FRINGE_DEPS_PREFIX:-/tmp/fringe-deps-dry}
export FRINGE_BUILD_DIR=${FRINGE_BUILD_DIR:-build-cuda-dry}
export FRINGE_TORCH_DIR=${FRINGE_TORCH_DIR:-/usr/lib/x86_64-linux-gnu/cmake/Torch}
export FRINGE_JOBS=${FRINGE_JOBS:-1}
KIT=${FRINGE_KIT:-.cuda-kit/prefix.tar.xz}
[ -f "$KIT" ] || { echo "dry-run-here: no $KIT (run deploy/cuda/fetch-debs.sh)" >&2; exit 1; }
# The kit's library file names (to hide the host's copies of the same libraries).
kit_libs=$(tar -tJf "$KIT" | sed -n 's#^\./usr/lib/x86_64-linux-gnu/\([^/]*\.so[^/]*\)$#\1#p')
export kit_libs
# The empty directory and file mounted over the host's copies (removed afterwards).
E=$(mktemp -d /tmp/fringe-dry-empty.XXXXXX)
mkdir "$E/d"
: > "$E/f"
export E
trap 'rm -rf "$E"' EXIT
unshare -m bash -s -- "$@" <<'EOF'
set -euo pipefail
mount --make-rprivate /
hidden=0
hide() {  # hide PATH...: an empty directory or file mounted over each that exists
  for p in "$@"; do
    if [ -d "$p" ] && [ ! -L "$p" ]; then mount --bind "$E/d" "$p"; hidden=$((hidden + 1))
    elif [ -e "$p" ]; then mount --bind "$E/f" "$(readlink -f "$p")"; hidden=$((hidden + 1)); fi
  done
}
I=/usr/include
hide $I/absl $I/google $I/grpc $I/grpcpp $I/grpc++ $I/opencv4 $I/pqxx $I/prometheus $I/spdlog \
  $I/fmt $I/CLI $I/nlohmann $I/gtest $I/gmock $I/re2 $I/postgresql $I/brotli $I/openssl \
  $I/x86_64-linux-gnu/openssl $I/x86_64-linux-gnu/opencv4 $I/sqlite3.h $I/sqlite3ext.h \
  $I/fftw3.h $I/httplib.h $I/ares.h $I/ares_build.h $I/ares_dns.h $I/ares_rules.h \
  $I/ares_version.h $I/ares_nameser.h
C=/usr/lib/x86_64-linux-gnu/cmake
hide $C/grpc $C/absl $C/prometheus-cpp $C/spdlog $C/fmt $C/GTest $C/opencv4 $C/protobuf \
  /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json \
  /usr/lib/x86_64-linux-gnu/pkgconfig /usr/share/pkgconfig \
  /usr/bin/protoc /usr/bin/grpc_cpp_plugin /usr/bin/pkg-config /usr/bin/pkgconf \
  /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest_main.a \
  /usr/lib/x86_64-linux-gnu/libgmock.a /usr/lib/x86_64-linux-gnu/libgmock_main.a
# The libraries only fringe uses (not the toolchain's: zlib, OpenSSL, ... stay for cmake/gcc).
for name in $kit_libs; do
  case "$name" in
    libgrpc* | libgpr* | libupb* | libaddress_sorting* | libprotobuf* | libprotoc* | libabsl_* | \
      libre2* | libcares* | libopencv_* | libtbb* | libfftw3f* | libspdlog* | libfmt* | libpqxx* | \
      libpq.so* | libprometheus* | libcpp-httplib* | libgdal* | libgdcm* | libOpenEXR* | libIex* | libImath* | libIlmThread* | libGLX*)
      hide "/usr/lib/x86_64-linux-gnu/$name" "/lib/x86_64-linux-gnu/$name" ;;
  esac
done
echo "dry-run-here: $hidden host paths hidden from this build"
bash deploy/cuda/build-on-device.sh "$@"
if [ -n "${FRINGE_DRY_RUN_AFTER:-}" ]; then bash -c "$FRINGE_DRY_RUN_AFTER"; fi
EOF
