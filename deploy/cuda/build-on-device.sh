#!/usr/bin/env bash
# Builds fringe against a CUDA LibTorch on a GPU machine (shared/DESIGN.md §8). Run from the
# repository root there; no network needed. Every other dependency comes from the kit that
# deploy/cuda/fetch-debs.sh packed (.cuda-kit/prefix.tar.xz, carried with the working tree).
#
#   deploy/cuda/build-on-device.sh [--configure-only] [TARGET...]
#
# 1. Unpacks the kit into $FRINGE_DEPS_PREFIX (/opt/fringe-deps; skipped when that copy is
#    already this kit) and points its pkg-config files at the new prefix (the kit's libraries
#    and tools find each other through RUNPATH $ORIGIN: no LD_LIBRARY_PATH anywhere).
# 2. Finds LibTorch: $FRINGE_TORCH_DIR (a directory holding TorchConfig.cmake), else
#    `torch.utils.cmake_prefix_path` of $FRINGE_PYTHON, python3 or /opt/torch/.venv/bin/python3,
#    whichever imports torch first; checks its C++ ABI (the kit's libraries use the C++11 ABI).
# 3. For a CUDA torch: finds nvcc (FRINGE_NVCC, PATH, /usr/local/cuda*, pip nvidia wheels) and
#    cuDNN (pip nvidia-cudnn), and loads deploy/cuda/torch-cuda-shims.cmake after project().
# 4. Configures $FRINGE_BUILD_DIR (build-cuda/: Ninja, Release, tests on) with every dependency
#    pinned to the kit, checks that nothing resolved outside it, and builds TARGETs (all when
#    none) with $FRINGE_JOBS (all cores) jobs. A rerun reconfigures only when the settings
#    changed, and builds incrementally.
#
# Other settings: FRINGE_KIT (kit file), FRINGE_CXX_STANDARD (auto: 17, or what LibTorch's
# config asks for), FRINGE_CUDA_ARCH (CMAKE_CUDA_ARCHITECTURES; default: nvcc's),
# FRINGE_KEEP_GOING=1 (build what can be built past a failure) and FRINGE_CMAKE_ARGS (extra
# configure arguments, whitespace-separated).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARCH=x86_64-linux-gnu
PREFIX=${FRINGE_DEPS_PREFIX:-/opt/fringe-deps}
KIT=${FRINGE_KIT:-$ROOT/.cuda-kit/prefix.tar.xz}
BUILD=${FRINGE_BUILD_DIR:-build-cuda}
JOBS=${FRINGE_JOBS:-$(nproc)}
CONFIGURE_ONLY=0
TARGETS=()
for a in "$@"; do
  case "$a" in
    --configure-only) CONFIGURE_ONLY=1 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "build-on-device: unknown option $a" >&2; exit 2 ;;
    *) TARGETS+=("$a") ;;
  esac
done

say() { echo "build-on-device: $*"; }
# What the next attempt needs to know about this machine (printed when something fails).
diagnose() {
  echo "--- diagnostics" >&2
  { sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null
    for t in cmake ninja g++ gcc c++ nvcc python3 pkg-config; do
      printf '%s: %s\n' "$t" "$(command -v "$t" || echo none)"
    done
    ls -d /usr/local/cuda* 2>/dev/null
    [ -n "${TORCH_PKG:-}" ] && ls "$(dirname "$TORCH_PKG")/nvidia" "$(dirname "$TORCH_PKG")"/nvidia/* 2>/dev/null | head -40
    [ -n "${BUILD:-}" ] && tail -n 25 "$BUILD/CMakeFiles/CMakeError.log" 2>/dev/null
  } >&2 || true
}
die() {
  echo "" >&2
  echo "build-on-device: ERROR: $*" >&2
  diagnose
  exit 1
}
# On the lent GPU machine, whatever is under $OUT comes back: leave the logs there.
save_logs() {
  if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] && [ -n "${BUILD:-}" ]; then
    cp "$BUILD"/fringe-*.log "$OUT"/ 2>/dev/null || true
  fi
}
trap save_logs EXIT
T0=$(date +%s)
trap 'echo "build-on-device: ERROR: unexpected failure (line $LINENO: $BASH_COMMAND)" >&2; diagnose' ERR

# --- tools -------------------------------------------------------------------------------------
command -v cmake >/dev/null || die "cmake is not on PATH"
CXX_BIN=${CXX:-$(command -v g++ || command -v c++ || true)}
[ -n "$CXX_BIN" ] || die "no C++ compiler (g++ / c++) on PATH; set CXX"
CC_BIN=${CC:-$(command -v gcc || command -v cc || true)}
[ -n "$CC_BIN" ] || die "no C compiler (gcc / cc) on PATH; set CC"
GENERATOR="Unix Makefiles"
if command -v ninja >/dev/null; then GENERATOR=Ninja; fi
glibc=$(ldd --version 2>&1 | sed -n '1s/.* //p')
say "cmake $(cmake --version | sed -n '1s/.* //p'), $GENERATOR, $("$CXX_BIN" --version | sed -n 1p)," \
  "glibc $glibc, $JOBS jobs"
if [ "$(printf '%s\n2.36\n' "$glibc" | sort -V | head -1)" != "2.36" ]; then
  die "glibc $glibc is older than Debian 12's 2.36, which the kit's libraries were built against"
fi

# --- 1. the kit ----------------------------------------------------------------------------------
MARK=$PREFIX/.fringe-kit-sha256
if [ -f "$KIT" ]; then
  sum=$(sha256sum "$KIT" | cut -d' ' -f1)
  if [ -f "$MARK" ] && [ "$(cat "$MARK")" = "$sum" ]; then
    say "kit already unpacked in $PREFIX"
  else
    if [ -e "$PREFIX" ] && [ ! -f "$MARK" ] && [ ! -f "$PREFIX/.fringe-kit-unpacking" ] &&
      [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ]; then
      die "$PREFIX exists and is not a fringe kit; set FRINGE_DEPS_PREFIX elsewhere"
    fi
    say "unpacking $KIT ($(($(stat -c %s "$KIT") / 1024)) KiB) into $PREFIX"
    rm -rf "$PREFIX"
    mkdir -p "$PREFIX"
    touch "$PREFIX/.fringe-kit-unpacking"
    tar -C "$PREFIX" -xJf "$KIT" || die "cannot unpack $KIT"
    # pkg-config files say prefix=/usr (and a few -I/usr/..., -L/usr/...): point them here.
    find "$PREFIX/usr" -name '*.pc' -path '*pkgconfig*' -print0 | xargs -0 sed -i -E \
      "s#(^|[=[:space:]\"'])(-[LI])?/usr(/|[[:space:]]|\$)#\\1\\2$PREFIX/usr\\3#g"
    echo "$sum" > "$MARK"
    rm -f "$PREFIX/.fringe-kit-unpacking"
  fi
elif [ -f "$MARK" ]; then
  say "no $KIT here; using the kit already in $PREFIX"
else
  die "no kit: $KIT is missing (run deploy/cuda/fetch-debs.sh on the Debian 12 host and carry" \
    ".cuda-kit/prefix.tar.xz with the working tree) and $PREFIX holds none"
fi
P=$PREFIX/usr
L=$P/lib/$ARCH
for f in "$P/bin/protoc" "$P/bin/grpc_cpp_plugin" "$P/bin/pkgconf" "$L/libgrpc++.so" \
  "$L/cmake/grpc/gRPCConfig.cmake" "$P/include/opencv4/opencv2/core.hpp"; do
  [ -e "$f" ] || die "the kit in $PREFIX lacks $f"
done
"$P/bin/protoc" --version >/dev/null 2>&1 || die "the kit's protoc does not run: $("$P/bin/protoc" --version 2>&1)"
export PKG_CONFIG_PATH=$L/pkgconfig:$P/share/pkgconfig
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH  # only the kit's .pc files
unset PKG_CONFIG_SYSROOT_DIR
"$P/bin/pkgconf" --exists grpc++ libpqxx cpp-httplib fftw3f ||
  die "the kit's pkg-config cannot resolve grpc++/libpqxx/cpp-httplib/fftw3f"
say "kit: $("$P/bin/protoc" --version), grpc++ $("$P/bin/pkgconf" --modversion grpc++)," \
  "opencv $(grep -m1 -o 'libopencv-core[^_]*_[^_]*' "$PREFIX/.fringe-kit-packages" | cut -d_ -f2)"

# --- 2. LibTorch ---------------------------------------------------------------------------------
TORCH_DIR=${FRINGE_TORCH_DIR:-}
PY=""
TORCH_VERSION="" TORCH_CUDA="" TORCH_ABI="" TORCH_PKG="" TORCH_CMAKE_PREFIX=""
if [ -z "$TORCH_DIR" ]; then
  for cand in "${FRINGE_PYTHON:-}" python3 /opt/torch/.venv/bin/python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null && "$cand" -c 'import torch' >/dev/null 2>&1; then
      PY=$(command -v "$cand")
      break
    fi
  done
  [ -n "$PY" ] || die "no Python with torch (tried \$FRINGE_PYTHON, python3," \
    "/opt/torch/.venv/bin/python3); set FRINGE_PYTHON or FRINGE_TORCH_DIR"
  info=$("$PY" - <<'EOF'
import os, torch, torch.utils
print("TORCH_VERSION=" + torch.__version__)
print("TORCH_CUDA=" + (torch.version.cuda or ""))
print("TORCH_ABI=" + str(int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))))
print("TORCH_PKG=" + os.path.dirname(torch.__file__))
print("TORCH_CMAKE_PREFIX=" + torch.utils.cmake_prefix_path)
EOF
) || die "$PY could not describe its torch"
  while IFS='=' read -r k v; do
    case "$k" in
      TORCH_VERSION) TORCH_VERSION=$v ;; TORCH_CUDA) TORCH_CUDA=$v ;; TORCH_ABI) TORCH_ABI=$v ;;
      TORCH_PKG) TORCH_PKG=$v ;; TORCH_CMAKE_PREFIX) TORCH_CMAKE_PREFIX=$v ;;
    esac
  done <<< "$info"
  TORCH_DIR=$TORCH_CMAKE_PREFIX/Torch
  say "torch $TORCH_VERSION (CUDA ${TORCH_CUDA:-none}) from $PY"
fi
[ -f "$TORCH_DIR/TorchConfig.cmake" ] || die "no TorchConfig.cmake in $TORCH_DIR"
TORCH_DIR=$(cd "$TORCH_DIR" && pwd)
# The ABI torch was built with: the Python module says it; the CMake config must agree.
cfg_abi=$(grep -rhoE '_GLIBCXX_USE_CXX11_ABI=[01]' "$TORCH_DIR" 2>/dev/null | head -1 | cut -d= -f2 || true)
if [ -z "$TORCH_ABI" ]; then TORCH_ABI=${cfg_abi:-1}; fi
if [ -n "$cfg_abi" ] && [ "$cfg_abi" != "$TORCH_ABI" ]; then
  die "torch says _GLIBCXX_USE_CXX11_ABI=$TORCH_ABI but $TORCH_DIR says $cfg_abi"
fi
[ "$TORCH_ABI" = 1 ] || die "this LibTorch uses the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0);" \
  "the kit's gRPC/protobuf/OpenCV use the C++11 ABI, so std::string cannot cross between them"
say "Torch_DIR $TORCH_DIR, _GLIBCXX_USE_CXX11_ABI=$TORCH_ABI"
if [ -z "$TORCH_PKG" ]; then TORCH_PKG=$(cd "$TORCH_DIR/../../.." && pwd); fi
# Things in torch's own tree that could clash with the kit (diagnostics only).
for lib in "$TORCH_PKG"/lib/libtorch_cpu.so "$TORCH_PKG"/lib/libtorch.so; do
  [ -f "$lib" ] || continue
  n=$(nm -D --defined-only "$lib" 2>/dev/null | grep -c ' _ZN6google8protobuf' || true)
  if [ "${n:-0}" -gt 0 ]; then
    say "warning: $lib exports $n protobuf symbols; if the server crashes in protobuf code," \
      "torch's copy is interposing the kit's libprotobuf"
  fi
done
if [ -d "$TORCH_PKG/include/fmt" ]; then
  say "note: torch ships include/fmt; the kit's fmt 9 (spdlog) is first on the include path"
fi

# The C++ standard torch's headers need (newer LibTorch moves to C++20).
CXX_STD=${FRINGE_CXX_STANDARD:-auto}
if [ "$CXX_STD" = auto ]; then
  CXX_STD=17
  want=$(grep -rhoE 'CXX_STANDARD[ "]+[0-9]+' "$TORCH_DIR" 2>/dev/null | grep -oE '[0-9]+$' | sort -n | tail -1 || true)
  if [ -n "$want" ] && [ "$want" -gt 17 ]; then CXX_STD=$want; fi
  for h in "$TORCH_PKG/include/torch/csrc/api/include/torch/all.h" "$TORCH_PKG/include/ATen/ATen.h"; do
    if [ -f "$h" ] && grep -qE 'C\+\+20 or later|__cplusplus < 202002L' "$h"; then CXX_STD=20; fi
  done
fi
say "C++ standard: C++$CXX_STD"

# --- 3. CUDA -------------------------------------------------------------------------------------
CUDA_ARGS=()
NVIDIA_LIB_DIRS=""
if [ -n "$TORCH_CUDA" ] || [ -n "${FRINGE_NVCC:-}" ]; then
  SITE=$(dirname "$TORCH_PKG")
  NVCC=${FRINGE_NVCC:-}
  if [ -z "$NVCC" ]; then
    for c in "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc \
      $(ls -d /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -V -r) \
      $(ls -d "$SITE"/nvidia/*/bin/nvcc "$SITE"/nvidia/*/*/bin/nvcc 2>/dev/null); do
      if [ -n "$c" ] && [ -x "$c" ]; then NVCC=$c; break; fi
    done
  fi
  [ -n "$NVCC" ] && [ -x "$NVCC" ] || die "torch is a CUDA $TORCH_CUDA build but no nvcc was" \
    "found (PATH, /usr/local/cuda*/bin, $SITE/nvidia/*/bin); set FRINGE_NVCC"
  CUDA_HOME=$(dirname "$(dirname "$NVCC")")
  export CUDA_HOME CUDA_PATH=$CUDA_HOME PATH=$CUDA_HOME/bin:$PATH
  say "nvcc $NVCC ($("$NVCC" --version | grep -o 'release [0-9.]*'))"
  if [ -d "$SITE/nvidia" ]; then
    NVIDIA_LIB_DIRS=$(find "$SITE/nvidia/" -maxdepth 3 -type d -name lib | sort | paste -sd';')
  fi
  CUDA_ARGS+=(-DCMAKE_CUDA_COMPILER="$NVCC" -DCUDAToolkit_ROOT="$CUDA_HOME"
    -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_HOME" -DCMAKE_CUDA_HOST_COMPILER="$CXX_BIN"
    -DCMAKE_CUDA_FLAGS=-allow-unsupported-compiler -DFRINGE_CUDA_SHIMS=ON
    "-DFRINGE_NVIDIA_LIB_DIRS=$NVIDIA_LIB_DIRS")
  if [ -n "${FRINGE_CUDA_ARCH:-}" ]; then
    CUDA_ARGS+=(-DCMAKE_CUDA_ARCHITECTURES="$FRINGE_CUDA_ARCH")
  fi
  # cuDNN: the nvidia-cudnn wheel torch loads (torch's FindCUDNN does not look there), else the
  # toolkit's own copy. Torch's config only needs a library path and the version header.
  cudnn_lib="" cudnn_inc=""
  for base in "$SITE/nvidia" "$CUDA_HOME"; do
    [ -d "$base" ] || continue
    cudnn_lib=$(find "$base/" -maxdepth 4 -name 'libcudnn.so*' 2>/dev/null | sort | head -1 || true)
    if [ -n "$cudnn_lib" ]; then
      h=$(find "$base/" -maxdepth 4 \( -name cudnn_version.h -o -name cudnn.h \) 2>/dev/null | sort -r | head -1 || true)
      if [ -n "$h" ]; then cudnn_inc=$(dirname "$h"); fi
      break
    fi
  done
  if [ -n "$cudnn_lib" ]; then
    if [ -z "$cudnn_inc" ]; then
      cudnn_inc=$ROOT/$BUILD/fringe-cudnn-include
      mkdir -p "$cudnn_inc"
      major=$(basename "$cudnn_lib" | sed -E 's/libcudnn\.so\.?([0-9]*).*/\1/')
      printf '#define CUDNN_MAJOR %s\n#define CUDNN_MINOR 0\n#define CUDNN_PATCHLEVEL 0\n' \
        "${major:-9}" > "$cudnn_inc/cudnn_version.h"
      say "cuDNN headers not found; version-only stand-in in $cudnn_inc"
    fi
    say "cuDNN $cudnn_lib (headers $cudnn_inc)"
    CUDA_ARGS+=(-DCAFFE2_USE_CUDNN=ON -DUSE_CUDNN=ON -DCUDNN_LIBRARY_PATH="$cudnn_lib"
      -DCUDNN_INCLUDE_PATH="$cudnn_inc")
  else
    say "no cuDNN under $SITE/nvidia or $CUDA_HOME: torch's config turns cuDNN off (a warning)"
  fi
  command -v nvidia-smi >/dev/null &&
    say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
fi

# --- 4. configure --------------------------------------------------------------------------------
CMAKE_ARGS=(
  -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release
  -DFRINGE_BUILD_TESTS=ON -DFRINGE_BUILD_BENCH=ON -DFRINGE_BUILD_SIM=ON
  -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="$CXX_BIN"
  -DCMAKE_PROJECT_INCLUDE="$ROOT/deploy/cuda/torch-cuda-shims.cmake"
  -DFRINGE_CXX_STANDARD="$CXX_STD"
  "-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=$TORCH_ABI"
  # Ubuntu's GCC links with --as-needed; keep every library torch's targets name.
  -DCMAKE_EXE_LINKER_FLAGS=-Wl,--no-as-needed
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5
  "-DCMAKE_PREFIX_PATH=$P;$(dirname "$TORCH_DIR")"
  -DTorch_DIR="$TORCH_DIR"
  # Every kit dependency pinned, so nothing falls back to the image's /usr.
  -DPKG_CONFIG_EXECUTABLE="$P/bin/pkgconf"
  -DProtobuf_PROTOC_EXECUTABLE="$P/bin/protoc" -DProtobuf_INCLUDE_DIR="$P/include"
  -DProtobuf_LIBRARY="$L/libprotobuf.so" -DProtobuf_LITE_LIBRARY="$L/libprotobuf-lite.so"
  -DFRINGE_GRPC_CPP_PLUGIN="$P/bin/grpc_cpp_plugin"
  -DgRPC_DIR="$L/cmake/grpc" -Dabsl_DIR="$L/cmake/absl" -Dspdlog_DIR="$L/cmake/spdlog"
  -Dfmt_DIR="$L/cmake/fmt" -DGTest_DIR="$L/cmake/GTest" -Dprometheus-cpp_DIR="$L/cmake/prometheus-cpp"
  -DCLI11_DIR="$P/share/cmake/CLI11" -Dnlohmann_json_DIR="$P/share/cmake/nlohmann_json"
  -DOPENSSL_ROOT_DIR="$P" -DOPENSSL_INCLUDE_DIR="$P/include" -DOPENSSL_SSL_LIBRARY="$L/libssl.so"
  -DOPENSSL_CRYPTO_LIBRARY="$L/libcrypto.so" -DZLIB_ROOT="$P" -DZLIB_INCLUDE_DIR="$P/include"
  -DZLIB_LIBRARY="$L/libz.so" -DSQLite3_INCLUDE_DIR="$P/include" -DSQLite3_LIBRARY="$L/libsqlite3.so"
  -Dc-ares_INCLUDE_DIR="$P/include" -Dc-ares_LIBRARY="$L/libcares.so"
  -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON -DFRINGE_OPENCV_INCLUDE="$P/include/opencv4"
  -DFRINGE_OPENCV_core="$L/libopencv_core.so" -DFRINGE_OPENCV_imgproc="$L/libopencv_imgproc.so"
  -DFRINGE_OPENCV_imgcodecs="$L/libopencv_imgcodecs.so"
  "${CUDA_ARGS[@]}"
)
if [ -n "$PY" ]; then CMAKE_ARGS+=(-DPYTHON_EXECUTABLE="$PY" -DPython3_EXECUTABLE="$PY"); fi
# shellcheck disable=SC2206
[ -n "${FRINGE_CMAKE_ARGS:-}" ] && CMAKE_ARGS+=(${FRINGE_CMAKE_ARGS})
mkdir -p "$BUILD"
stamp=$BUILD/.fringe-cuda-configure
want=$(printf '%s\n' "${CMAKE_ARGS[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
  { [ -f "$BUILD/build.ninja" ] || [ -f "$BUILD/Makefile" ]; }; then
  say "configuration unchanged: $BUILD"
else
  rm -f "$stamp" "$BUILD/CMakeCache.txt"
  say "configuring $BUILD"
  if ! cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" > "$BUILD/fringe-configure.log" 2>&1; then
    tail -n 60 "$BUILD/fringe-configure.log" >&2
    echo "--- first CMake errors ($BUILD/fringe-configure.log):" >&2
    grep -n -A6 'CMake Error' "$BUILD/fringe-configure.log" | head -n 40 >&2 || true
    die "configure failed (see above)"
  fi
  grep -E '^-- (Found|fringe CUDA|Caffe2|Torch|Could NOT)|CMake Warning' "$BUILD/fringe-configure.log" |
    sed 's/^/  /' || true
  echo "$want" > "$stamp"
fi
# Everything the project found must be the kit's (or torch / CUDA).
bad=$(grep -E '^(gRPC|absl|spdlog|fmt|GTest|prometheus-cpp|CLI11|nlohmann_json|re2)_DIR:|^(Protobuf_[A-Z_]*(LIBRARY|INCLUDE_DIR|EXECUTABLE)|OPENSSL_[A-Z_]*(LIBRARY|INCLUDE_DIR)|ZLIB_[A-Z_]*(LIBRARY_RELEASE|INCLUDE_DIR)|SQLite3_[A-Z_]*|c-ares_[A-Z_]*|FRINGE_OPENCV_[a-z]*|FRINGE_OPENCV_INCLUDE|FRINGE_GRPC_CPP_PLUGIN|PKG_CONFIG_EXECUTABLE|pkgcfg_lib_[A-Za-z0-9_+-]*):' \
  "$BUILD/CMakeCache.txt" | grep -v -e "-NOTFOUND" -e ":INTERNAL=" -e "=$PREFIX/" | grep -v '=$' || true)
if [ -n "$bad" ]; then
  echo "$bad" >&2
  die "the dependencies above resolved outside the kit ($PREFIX)"
fi
say "all kit dependencies resolve inside $PREFIX ($(grep -cE "=$PREFIX/" "$BUILD/CMakeCache.txt") cache entries)"

if [ "$CONFIGURE_ONLY" = 1 ]; then
  say "configured in $(($(date +%s) - T0)) s (--configure-only)"
  exit 0
fi

# --- 5. build ------------------------------------------------------------------------------------
say "building ${TARGETS[*]:-all targets} with $JOBS jobs"
build_cmd=(cmake --build "$BUILD" -j "$JOBS")
if [ ${#TARGETS[@]} -gt 0 ]; then build_cmd+=(--target "${TARGETS[@]}"); fi
# FRINGE_KEEP_GOING=1: build every target that can be built even after a failure (one device
# run then shows all the errors, and whatever did link can still be checked).
if [ "${FRINGE_KEEP_GOING:-0}" = 1 ]; then
  if [ "$GENERATOR" = Ninja ]; then build_cmd+=(-- -k 0); else build_cmd+=(-- -k); fi
fi
set +e
trap - ERR
"${build_cmd[@]}" 2>&1 | tee "$BUILD/fringe-build.log" |
  grep -vE '^\[[0-9]+/[0-9]+\] (Building|Linking|Generating|Running|Automatic)'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "--- first errors ($BUILD/fringe-build.log):" >&2
  grep -n -m 12 -E 'error:|undefined reference|FAILED:|No such file|cannot find' "$BUILD/fringe-build.log" >&2 || true
  die "build failed (exit $rc)"
fi
say "built in $(($(date +%s) - T0)) s: $BUILD"
