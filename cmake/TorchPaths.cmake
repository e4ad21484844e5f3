# Locate the installed PyTorch through the Python interpreter that builds us.
#
# We deliberately do not call find_package(Torch): the CMake config shipped with a CUDA
# build of PyTorch refuses to configure unless a full CUDA toolkit is present, which would
# make a CPU-only build of fusegen impossible on the most common setup (a CUDA wheel of
# torch on a machine without nvcc). Instead we read the few facts we need from torch itself,
# the way torch.utils.cpp_extension does. The torch location comes from
# torch.utils.cmake_prefix_path, i.e. <site-packages>/torch/share/cmake.
#
# Sets: TORCH_ROOT, TORCH_INCLUDE_DIRS, TORCH_LIBRARY_DIR, TORCH_VERSION, TORCH_CUDA_VERSION
#       (empty for a CPU build), TORCH_CXX11_ABI (0/1), TORCH_CPU_LIBRARIES, TORCH_CUDA_LIBRARIES.

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
"import os, torch, torch.utils
prefix = torch.utils.cmake_prefix_path
root = os.path.dirname(os.path.dirname(prefix))
print(root)
print(torch.__version__.split('+')[0])
print(torch.version.cuda or '')
print(int(torch.compiled_with_cxx11_abi()))"
  OUTPUT_VARIABLE _torch_facts
  RESULT_VARIABLE _torch_result
  ERROR_VARIABLE _torch_error
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _torch_result EQUAL 0)
  message(FATAL_ERROR "fusegen needs PyTorch installed in the building Python "
                      "(${Python_EXECUTABLE}); importing torch failed:\n${_torch_error}")
endif()
string(REPLACE "\n" ";" _torch_facts "${_torch_facts}")
list(GET _torch_facts 0 TORCH_ROOT)
list(GET _torch_facts 1 TORCH_VERSION)
list(GET _torch_facts 2 TORCH_CUDA_VERSION)
list(GET _torch_facts 3 TORCH_CXX11_ABI)
if(TORCH_CUDA_VERSION STREQUAL "")
  # list(GET) keeps empty elements only in some CMake versions; normalise.
  set(TORCH_CUDA_VERSION "")
endif()

set(TORCH_INCLUDE_DIRS "${TORCH_ROOT}/include")
set(TORCH_LIBRARY_DIR "${TORCH_ROOT}/lib")

function(_fusegen_find_torch_lib out name)
  find_library(_lib_${name} NAMES ${name} PATHS "${TORCH_LIBRARY_DIR}" NO_DEFAULT_PATH REQUIRED)
  set(${out} "${_lib_${name}}" PARENT_SCOPE)
endfunction()

_fusegen_find_torch_lib(_c10 c10)
_fusegen_find_torch_lib(_torch_cpu torch_cpu)
set(TORCH_CPU_LIBRARIES "${_c10}" "${_torch_cpu}")

# torch's wheels ship the OpenMP runtime they were built with; linking that same file keeps a
# single OpenMP thread pool in the process (two runtimes would oversubscribe the cores).
find_library(TORCH_OPENMP_LIBRARY NAMES gomp libgomp.so.1 iomp5 PATHS "${TORCH_LIBRARY_DIR}"
             NO_DEFAULT_PATH)

set(TORCH_CUDA_LIBRARIES "")
if(NOT TORCH_CUDA_VERSION STREQUAL "")
  find_library(_lib_c10_cuda NAMES c10_cuda PATHS "${TORCH_LIBRARY_DIR}" NO_DEFAULT_PATH)
  find_library(_lib_torch_cuda NAMES torch_cuda PATHS "${TORCH_LIBRARY_DIR}" NO_DEFAULT_PATH)
  if(_lib_c10_cuda AND _lib_torch_cuda)
    set(TORCH_CUDA_LIBRARIES "${_lib_c10_cuda}" "${_lib_torch_cuda}")
  endif()
endif()

message(STATUS "fusegen: torch ${TORCH_VERSION} at ${TORCH_ROOT} (CUDA: '${TORCH_CUDA_VERSION}', "
               "C++11 ABI: ${TORCH_CXX11_ABI})")
