# Included by deploy/cuda/build-on-device.sh through CMAKE_PROJECT_INCLUDE, i.e. right after the
# project() call, so the CUDA build needs no change to the project's own CMake files.
#
# FRINGE_CXX_STANDARD (17 by default): a newer LibTorch may need C++20 headers while
#   CMakeLists.txt pins CMAKE_CXX_STANDARD 17; this maps the "C++17" flag to the newer one.
# FRINGE_CUDA_SHIMS: prepares what LibTorch's CUDA config (Caffe2/public/cuda.cmake) expects:
#   the toolkit found up front (a clear error if not), CUDA:: targets this CMake's
#   FindCUDAToolkit does not define taken from the toolkit's library directory or the pip
#   nvidia-* wheels (FRINGE_NVIDIA_LIB_DIRS), and CUDA::nvToolsExt (NVTX2, gone since CUDA
#   12.9) mapped to the header-only NVTX3 for configs that still name it.

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

# target:library pairs LibTorch's config may name; the toolkit's own directory first (an older
# CMake's FindCUDAToolkit does not define every target), then the pip wheels.
foreach(_fringe_pair cudart:cudart cublas:cublas cublasLt:cublasLt cufft:cufft curand:curand
             cusparse:cusparse cusolver:cusolver nvrtc:nvrtc nvJitLink:nvJitLink cupti:cupti
             cuda_driver:cuda)
  string(REPLACE ":" ";" _fringe_pair "${_fringe_pair}")
  list(GET _fringe_pair 0 _fringe_target)
  list(GET _fringe_pair 1 _fringe_libname)
  if(TARGET CUDA::${_fringe_target})
    continue()
  endif()
  set(_fringe_lib "")
  foreach(_fringe_dir IN LISTS CUDAToolkit_LIBRARY_DIR FRINGE_NVIDIA_LIB_DIRS)
    file(GLOB _fringe_candidates "${_fringe_dir}/lib${_fringe_libname}.so*")
    if(_fringe_target STREQUAL "cuda_driver" AND NOT _fringe_candidates)
      file(GLOB _fringe_candidates "${_fringe_dir}/stubs/lib${_fringe_libname}.so*")
    endif()
    if(_fringe_candidates)
      list(SORT _fringe_candidates)
      list(GET _fringe_candidates 0 _fringe_lib)
      break()
    endif()
  endforeach()
  if(_fringe_lib)
    add_library(CUDA::${_fringe_target} INTERFACE IMPORTED)
    set_target_properties(CUDA::${_fringe_target} PROPERTIES
      INTERFACE_LINK_LIBRARIES "${_fringe_lib}"
      INTERFACE_INCLUDE_DIRECTORIES "${CUDAToolkit_INCLUDE_DIRS}")
    message(STATUS "fringe CUDA: CUDA::${_fringe_target} was not defined; using ${_fringe_lib}")
  else()
    message(STATUS "fringe CUDA: no CUDA::${_fringe_target} (toolkit or pip wheels)")
  endif()
endforeach()
unset(_fringe_pair)
unset(_fringe_target)
unset(_fringe_libname)
unset(_fringe_lib)
unset(_fringe_candidates)
unset(_fringe_dir)

if(NOT TARGET CUDA::nvToolsExt)
  add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
  if(TARGET CUDA::nvtx3)
    target_link_libraries(CUDA::nvToolsExt INTERFACE CUDA::nvtx3)
  endif()
  message(STATUS "fringe CUDA: CUDA::nvToolsExt (NVTX2) shimmed with the header-only NVTX3")
endif()
