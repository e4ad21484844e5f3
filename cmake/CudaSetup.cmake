# Decide whether to build the CUDA kernels and, if so, enable the CUDA language.
#
# FUSEGEN_CUDA=auto  build them when torch was built with CUDA and a matching nvcc is found
# FUSEGEN_CUDA=on    the same, but any missing piece is a configuration error
# FUSEGEN_CUDA=off   never
#
# Target architectures come from TORCH_CUDA_ARCH_LIST (torch's variable, e.g. "8.0;9.0+PTX"),
# else the GPU of this machine, else a portable default.
#
# Sets FUSEGEN_WITH_CUDA (ON/OFF) and FUSEGEN_CUDA_ARCHS (a string for the build report).

string(TOLOWER "${FUSEGEN_CUDA}" _mode)
if(NOT _mode MATCHES "^(auto|on|off)$")
  message(FATAL_ERROR "FUSEGEN_CUDA must be auto, on or off; got '${FUSEGEN_CUDA}'")
endif()

set(FUSEGEN_WITH_CUDA OFF)
set(FUSEGEN_CUDA_ARCHS "")

macro(_fusegen_no_cuda reason)
  if(_mode STREQUAL "on")
    message(FATAL_ERROR "FUSEGEN_CUDA=on but the CUDA kernels cannot be built: ${reason}")
  endif()
  message(STATUS "fusegen: building CPU kernels only (${reason})")
  return()
endmacro()

if(_mode STREQUAL "off")
  message(STATUS "fusegen: building CPU kernels only (FUSEGEN_CUDA=off)")
  return()
endif()
if(TORCH_CUDA_VERSION STREQUAL "")
  _fusegen_no_cuda("the installed torch is a CPU build")
endif()
if(NOT TORCH_CUDA_LIBRARIES)
  _fusegen_no_cuda("torch reports CUDA ${TORCH_CUDA_VERSION} but libc10_cuda/libtorch_cuda are missing")
endif()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  _fusegen_no_cuda("no nvcc found (set CUDACXX or put nvcc on PATH)")
endif()

# Translate TORCH_CUDA_ARCH_LIST ("8.0;9.0+PTX", spaces allowed) into CMake's notation.
set(_arch_list "$ENV{TORCH_CUDA_ARCH_LIST}")
if(_arch_list STREQUAL "")
  execute_process(COMMAND nvidia-smi --query-gpu=compute_cap --format=csv,noheader
                  OUTPUT_VARIABLE _gpu_caps RESULT_VARIABLE _smi_result ERROR_QUIET
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_smi_result EQUAL 0 AND NOT _gpu_caps STREQUAL "")
    string(REPLACE "\n" ";" _arch_list "${_gpu_caps}")
    list(REMOVE_DUPLICATES _arch_list)
  else()
    set(_arch_list "7.5;8.0;8.6;8.9;9.0+PTX")
  endif()
endif()
string(REPLACE " " ";" _arch_list "${_arch_list}")
set(_cmake_archs "")
foreach(_arch IN LISTS _arch_list)
  if(_arch STREQUAL "")
    continue()
  endif()
  string(REGEX MATCH "^([0-9]+)\\.([0-9]+)([af]?)(\\+PTX)?$" _ok "${_arch}")
  if(NOT _ok)
    message(FATAL_ERROR "TORCH_CUDA_ARCH_LIST entry '${_arch}' is not of the form 8.0, 9.0a or 9.0+PTX")
  endif()
  set(_sm "${CMAKE_MATCH_1}${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
  if(CMAKE_MATCH_4)
    list(APPEND _cmake_archs "${_sm}")          # SASS and PTX
  else()
    list(APPEND _cmake_archs "${_sm}-real")     # SASS only
  endif()
endforeach()
set(CMAKE_CUDA_ARCHITECTURES "${_cmake_archs}")
string(REPLACE ";" " " FUSEGEN_CUDA_ARCHS "${_arch_list}")

enable_language(CUDA)

string(REGEX MATCH "^[0-9]+" _nvcc_major "${CMAKE_CUDA_COMPILER_VERSION}")
string(REGEX MATCH "^[0-9]+" _torch_cuda_major "${TORCH_CUDA_VERSION}")
if(NOT _nvcc_major STREQUAL _torch_cuda_major)
  _fusegen_no_cuda("nvcc ${CMAKE_CUDA_COMPILER_VERSION} does not match torch's CUDA ${TORCH_CUDA_VERSION}")
endif()
find_package(CUDAToolkit REQUIRED)

set(FUSEGEN_WITH_CUDA ON)
message(STATUS "fusegen: building CUDA kernels with nvcc ${CMAKE_CUDA_COMPILER_VERSION} "
               "for ${FUSEGEN_CUDA_ARCHS}")
