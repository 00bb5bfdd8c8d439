# Included by deploy/cuda/build-on-device.sh through CMAKE_PROJECT_INCLUDE, i.e. right after the
# project() call, so the CUDA build needs no change to the project's own CMake files.
#
# FRINGE_CXX_STANDARD (17 by default): a newer LibTorch may need C++20 headers while
#   CMakeLists.txt pins CMAKE_CXX_STANDARD 17; this maps the "C++17" flag to the newer one.
# FRINGE_CUDA_SHIMS: prepares what LibTorch's CUDA config (Caffe2/public/cuda.cmake) expects:
#   the toolkit found up front (a clear error if not), CUDA:: targets the toolkit lacks taken
#   from the pip nvidia-* wheels (FRINGE_NVIDIA_LIB_DIRS), and CUDA::nvToolsExt (NVTX2, gone
#   since CUDA 12.9) mapped to the header-only NVTX3 for configs that still name it.

if(FRINGE_CXX_STANDARD AND NOT FRINGE_CXX_STANDARD STREQUAL "17")
  message(STATUS "fringe CUDA: compiling as C++${FRINGE_CXX_STANDARD} (LibTorch's headers need it)")
  set(CMAKE_CXX17_STANDARD_COMPILE_OPTION "-std=c++${FRINGE_CXX_STANDARD}")
  set(CMAKE_CXX17_EXTENSION_COMPILE_OPTION "-std=gnu++${FRINGE_CXX_STANDARD}")
endif()

if(NOT FRINGE_CUDA_SHIMS)
  return()
endif()

find_package(CUDAToolkit)
if(NOT CUDAToolkit_FOUND)
  message(FATAL_ERROR
    "fringe CUDA: the CUDA toolkit was not found (CUDAToolkit_ROOT='${CUDAToolkit_ROOT}', "
    "CMAKE_CUDA_COMPILER='${CMAKE_CUDA_COMPILER}'). LibTorch's CUDA CMake config needs nvcc "
    "and the toolkit's headers; set FRINGE_NVCC=/path/to/nvcc.")
endif()
message(STATUS "fringe CUDA: toolkit ${CUDAToolkit_VERSION}, nvcc ${CUDAToolkit_NVCC_EXECUTABLE}, "
               "libraries in ${CUDAToolkit_LIBRARY_DIR}")

foreach(lib cudart cublas cublasLt cufft curand cusparse cusolver nvrtc nvJitLink cupti)
  if(TARGET CUDA::${lib})
    continue()
  endif()
  set(_fringe_lib "")
  foreach(dir IN LISTS FRINGE_NVIDIA_LIB_DIRS)
    file(GLOB _fringe_candidates "${dir}/lib${lib}.so*")
    if(_fringe_candidates)
      list(SORT _fringe_candidates)
      list(GET _fringe_candidates 0 _fringe_lib)
      break()
    endif()
  endforeach()
  if(_fringe_lib)
    add_library(CUDA::${lib} INTERFACE IMPORTED)
    set_target_properties(CUDA::${lib} PROPERTIES
      INTERFACE_LINK_LIBRARIES "${_fringe_lib}"
      INTERFACE_INCLUDE_DIRECTORIES "${CUDAToolkit_INCLUDE_DIRS}")
    message(STATUS "fringe CUDA: CUDA::${lib} is not in the toolkit; using ${_fringe_lib}")
  else()
    message(STATUS "fringe CUDA: no CUDA::${lib} in the toolkit or the pip wheels")
  endif()
endforeach()

if(NOT TARGET CUDA::nvToolsExt)
  add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
  if(TARGET CUDA::nvtx3)
    target_link_libraries(CUDA::nvToolsExt INTERFACE CUDA::nvtx3)
  endif()
  message(STATUS "fringe CUDA: CUDA::nvToolsExt (NVTX2) shimmed with the header-only NVTX3")
endif()
