# Finds every third-party dependency once and exposes it as a namespaced target, so the
# module CMakeLists files only ever say target_link_libraries(... fringe::torch ...).

find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(OpenSSL REQUIRED)  # SHA-256 of uploaded dataset files (base/sha256.cc)

# What only the server side needs; a client-only build (FRINGE_BUILD_SERVER=OFF) looks none of
# it up, so a microscope PC needs none of it installed.
if(FRINGE_BUILD_SERVER)
  if(FRINGE_BUILD_SIM)
    pkg_check_modules(FFTW3F REQUIRED IMPORTED_TARGET fftw3f)
  endif()
  # The persistent job queue: SQLite (one server) and PostgreSQL through libpqxx (several).
  find_package(SQLite3 REQUIRED)
  pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
  # Metrics: prometheus-cpp's registry and text serializer, served over cpp-httplib (not
  # prometheus-cpp's civetweb Exposer, which fails next to LibTorch + OpenBLAS: DESIGN §7).
  find_package(prometheus-cpp CONFIG REQUIRED COMPONENTS core)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

  # LibTorch, wrapped in an INTERFACE target (DESIGN rule 2). Torch's config adds its own
  # compile flags (the C++11 ABI) through the torch target.
  find_package(Torch REQUIRED)
  add_library(fringe_torch INTERFACE)
  target_link_libraries(fringe_torch INTERFACE torch)
  add_library(fringe::torch ALIAS fringe_torch)
endif()

# OpenCV: Debian's libopencv-dev drags in every module (VTK, Qt, ...). We only need
# core/imgproc/imgcodecs, whose -dev packages ship no CMake config, so build the target by hand
# when the full config is absent.
find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
add_library(fringe_opencv INTERFACE)
if(OpenCV_FOUND)
  target_link_libraries(fringe_opencv INTERFACE opencv_core opencv_imgproc opencv_imgcodecs)
else()
  find_path(FRINGE_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
  foreach(m core imgproc imgcodecs)
    find_library(FRINGE_OPENCV_${m} opencv_${m} REQUIRED)
    target_link_libraries(fringe_opencv INTERFACE ${FRINGE_OPENCV_${m}})
  endforeach()
  target_include_directories(fringe_opencv SYSTEM INTERFACE ${FRINGE_OPENCV_INCLUDE})
endif()
add_library(fringe::opencv ALIAS fringe_opencv)

find_program(FRINGE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

if(FRINGE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
