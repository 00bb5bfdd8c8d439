#!/usr/bin/env bash
# Builds the dependency kit for the CUDA build (shared/DESIGN.md §8): run HERE, on Debian 12 with
# network access to its mirrors. It `apt-get download`s the Debian packages fringe builds and runs
# against (everything but LibTorch, the toolchain and glibc/libstdc++), unpacks them with
# `dpkg -x` into a staging prefix, prunes what the build does not need, makes the prefix
# relocatable (RUNPATH $ORIGIN on every library and tool, so nothing needs LD_LIBRARY_PATH) and
# packs it as .cuda-kit/prefix.tar.xz (git-ignored). deploy/cuda/build-on-device.sh unpacks it
# on the GPU machine into /opt/fringe-deps.
#
# Pruned on purpose: OpenCV's imgcodecs links GDAL and GDCM (with GDAL alone ~150 MB of
# dependencies) and core links libGLX. fringe never reads NITF/DTED or DICOM files through
# OpenCV and never draws with OpenGL, so those libraries are replaced by stubs with the same
# soname that define the symbols OpenCV imports and abort with a message if ever called
# (deploy/cuda/kit_tools.py). OpenEXR stays real: imgcodecs constructs EXR objects at load time.
#
# Usage: deploy/cuda/fetch-debs.sh            (idempotent: reuses downloaded .debs)
#        FRINGE_KIT_KEEP_STAGE=1 ...           keeps .cuda-kit/stage for inspection
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KIT=$ROOT/.cuda-kit
DEBS=$KIT/debs
STAGE=$KIT/stage
TOOLS=$KIT/tools
KIT_FILE=$KIT/prefix.tar.xz
ARCH=x86_64-linux-gnu
LIBDIR=$STAGE/usr/lib/$ARCH

die() { echo "fetch-debs: ERROR: $*" >&2; exit 1; }
[ -r /etc/debian_version ] && grep -q '^12' /etc/debian_version ||
  echo "fetch-debs: warning: this is not Debian 12; the kit's versions are chosen for bookworm" >&2
for t in apt-get dpkg-deb readelf nm gcc xz python3; do
  command -v "$t" >/dev/null || die "$t is missing here"
done

# Runtime libraries (sonames fringe's binaries load, directly or through other libraries).
RUNTIME=(
  # gRPC, protobuf, abseil and what gRPC links
  libgrpc29 libgrpc++1.51 libprotobuf32 libprotobuf-lite32 libprotoc32 libabsl20220623
  libre2-9 libc-ares2 libssl3 zlib1g
  # OpenCV core/imgproc/imgcodecs and the codecs fringe reads (PNG, TIFF, JPEG, WebP, JPEG 2000)
  libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libtbb12
  libblas3 liblapack3 libgfortran5 libquadmath0
  libjpeg62-turbo libwebp7 libpng16-16 libtiff6 liblerc4 libdeflate0 libjbig0 liblzma5 libzstd1
  libopenjp2-7 libopenexr-3-1-30 libimath-3-1-29
  # FFTW (single precision), spdlog + fmt, SQLite
  libfftw3-single3 libspdlog1.10 libfmt9 libsqlite3-0
  # libpqxx + libpq and what libpq links (Kerberos, LDAP, GnuTLS)
  libpqxx-6.4 libpq5 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2
  libkeyutils1 libldap-2.5-0 libsasl2-2 libgnutls30 libnettle8 libhogweed6 libgmp10
  libp11-kit0 libffi8 libtasn1-6 libunistring2 libidn2-0
  # metrics: prometheus-cpp (pull/push only so its CMake config's file checks pass) + httplib
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0
  libcpp-httplib0.11 libbrotli1
  # pkg-config (the image may have none)
  pkgconf-bin libpkgconf3
)
# Code generators: protoc and grpc_cpp_plugin must match the kit's libprotobuf.
TOOLS_PKGS=(protobuf-compiler protobuf-compiler-grpc)
# Headers, .so links, CMake configs and pkg-config files.
DEV=(
  libgrpc++-dev libgrpc-dev libprotobuf-dev libabsl-dev libre2-dev libc-ares-dev libssl-dev
  zlib1g-dev libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libfftw3-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libsqlite3-dev libpqxx-dev libpq-dev
  prometheus-cpp-dev libcpp-httplib-dev libbrotli-dev libgtest-dev libgmock-dev
)

mkdir -p "$DEBS" "$TOOLS"
echo "fetch-debs: downloading into $DEBS"
(
  cd "$DEBS"
  missing=()
  for p in "${RUNTIME[@]}" "${TOOLS_PKGS[@]}" "${DEV[@]}"; do
    ls "${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get download "${missing[@]}" || die "apt-get download failed (try: apt-get update)"
  fi
  # One version per package (a newer candidate may have arrived since an earlier run).
  for p in "${RUNTIME[@]}" "${TOOLS_PKGS[@]}" "${DEV[@]}"; do
    mapfile -t versions < <(ls -1 "${p}"_*.deb | sort -V)
    if [ ${#versions[@]} -gt 1 ]; then rm -f "${versions[@]:0:${#versions[@]}-1}"; fi
  done
)

# patchelf (to set RUNPATHs), unpacked next to the kit, not installed.
PATCHELF=$(command -v patchelf || true)
if [ -z "$PATCHELF" ]; then
  if [ ! -x "$TOOLS/usr/bin/patchelf" ]; then
    (cd "$TOOLS" && apt-get download patchelf && dpkg -x patchelf_*.deb "$TOOLS")
  fi
  PATCHELF=$TOOLS/usr/bin/patchelf
fi

echo "fetch-debs: unpacking into $STAGE"
rm -rf "$STAGE"
mkdir -p "$STAGE"
for deb in "$DEBS"/*.deb; do dpkg -x "$deb" "$STAGE"; done

echo "fetch-debs: pruning"
cd "$STAGE"
# A few bookworm packages still install into /lib/<triplet>: one library directory.
if [ -d lib/$ARCH ]; then
  mkdir -p usr/lib/$ARCH
  for f in lib/$ARCH/*; do mv "$f" usr/lib/$ARCH/; done
  rm -rf lib
fi
# Absolute symlinks (libz.so -> /lib/<triplet>/libz.so.1.2.13) would point out of the prefix.
find . -type l -lname '/*' | while read -r link; do
  target=$(readlink "$link")
  target=${target/#\/lib\//\/usr\/lib\/}
  [ -e ".$target" ] || die "symlink $link -> $target leaves the kit"
  ln -sfn "$(realpath --relative-to="$(dirname "$link")" ".$target")" "$link"
done
rm -rf usr/share/doc usr/share/man usr/share/info usr/share/lintian usr/share/bug \
  usr/share/locale usr/share/doc-base usr/share/bash-completion usr/share/aclocal \
  usr/share/pkgconfig/personality.d usr/src etc lib/systemd usr/lib/$ARCH/sasl2 \
  usr/share/p11-kit usr/lib/$ARCH/pkcs11 usr/lib/$ARCH/gnutls usr/share/gnutls
# Static archives: the build links shared libraries, except GoogleTest (static only in Debian).
find . -name '*.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' -delete
find . -name '*.la' -delete
# FFTW: single precision only (fringe uses fftw3f); the others bring OpenMP/threads variants.
rm -f usr/lib/$ARCH/libfftw3f_omp* usr/lib/$ARCH/libfftw3f_threads* usr/lib/$ARCH/libfftw3f_mpi*
for v in "" l q; do
  rm -f usr/lib/$ARCH/libfftw3${v}.so usr/lib/$ARCH/libfftw3${v}_*.so \
    usr/lib/$ARCH/pkgconfig/fftw3${v}.pc
done
rm -rf usr/lib/$ARCH/cmake/fftw3
rm -f usr/include/fftw3.f03 usr/include/fftw3l.f03 usr/include/fftw3q.f03 usr/include/fftw3.f
# Multiarch headers (openssl/configuration.h, opencv2/cvconfig.h): the compiler only searches
# /usr/include/<triplet> of the real /usr, so merge them into the prefix's include/.
if [ -d usr/include/$ARCH ]; then
  (cd usr/include/$ARCH && find . -type f) | while read -r f; do
    dest=usr/include/${f#./}
    [ -e "$dest" ] && die "multiarch header $f would overwrite $dest"
    mkdir -p "$(dirname "$dest")"
    mv "usr/include/$ARCH/${f#./}" "$dest"
  done
  rm -rf usr/include/$ARCH
fi
# BLAS/LAPACK live behind Debian's alternatives (symlinks dpkg -x does not create).
mv usr/lib/$ARCH/blas/libblas.so.3.* usr/lib/$ARCH/libblas.so.3
mv usr/lib/$ARCH/lapack/liblapack.so.3.* usr/lib/$ARCH/liblapack.so.3
rm -rf usr/lib/$ARCH/blas usr/lib/$ARCH/lapack
# prometheus-cpp: fringe uses only the core library; its config would otherwise look for
# civetweb (pull) and libcurl (push). The pull/push .so files stay for the targets file's checks.
sed -i -e 's/^set(PROMETHEUS_CPP_ENABLE_PULL ON)/set(PROMETHEUS_CPP_ENABLE_PULL OFF)/' \
  -e 's/^set(PROMETHEUS_CPP_ENABLE_PUSH ON)/set(PROMETHEUS_CPP_ENABLE_PUSH OFF)/' \
  usr/lib/$ARCH/cmake/prometheus-cpp/prometheus-cpp-config.cmake
grep -q 'PROMETHEUS_CPP_ENABLE_PULL OFF' usr/lib/$ARCH/cmake/prometheus-cpp/prometheus-cpp-config.cmake ||
  die "could not patch prometheus-cpp-config.cmake"
# pkg-config: `pkg-config` name for the pkgconf binary.
ln -sf pkgconf usr/bin/pkg-config
cd "$ROOT"

echo "fetch-debs: <cstdint> in the C++ headers (for the device's newer GCC)"
python3 deploy/cuda/kit_tools.py cstdint "$STAGE/usr/include" \
  absl google/protobuf grpcpp pqxx prometheus spdlog fmt CLI nlohmann opencv4 gtest gmock re2

echo "fetch-debs: stubs for pruned OpenCV dependencies"
python3 deploy/cuda/kit_tools.py stubs "$LIBDIR" \
  libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0 libGLX.so.0

echo "fetch-debs: RUNPATH \$ORIGIN on every ELF file"
while IFS= read -r -d '' f; do
  if head -c4 "$f" | grep -q $'\x7fELF'; then
    case "$f" in
      "$STAGE"/usr/bin/*) "$PATCHELF" --set-rpath "\$ORIGIN/../lib/$ARCH" "$f" ;;
      "$LIBDIR"/*) "$PATCHELF" --set-rpath '$ORIGIN' "$f" ;;
      *) die "ELF file outside bin/ and lib/: $f" ;;
    esac
  fi
done < <(find "$STAGE" -type f -print0)

echo "fetch-debs: checking the kit"
python3 deploy/cuda/kit_tools.py check "$STAGE"

# The packages it holds (build-on-device.sh prints versions from this list). Its CMake configs
# locate themselves; only the .pc files name /usr, and build-on-device.sh rewrites them.
( cd "$DEBS" && ls -1 *.deb ) > "$STAGE/.fringe-kit-packages"

echo "fetch-debs: packing $KIT_FILE"
rm -f "$KIT_FILE"
tar -C "$STAGE" -cf - . | xz -T2 -9e > "$KIT_FILE.tmp"
mv "$KIT_FILE.tmp" "$KIT_FILE"
[ "${FRINGE_KIT_KEEP_STAGE:-0}" = 1 ] || rm -rf "$STAGE"
size=$(stat -c %s "$KIT_FILE")
echo "fetch-debs: $KIT_FILE is $((size / 1024)) KiB ($(ls "$DEBS"/*.deb | wc -l) packages)"
[ "$size" -lt $((45 * 1024 * 1024)) ] || die "the kit is over 45 MiB"
