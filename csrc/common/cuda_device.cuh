#pragma once
// CUDA device properties, queried once per device: kernels size their grids and shared memory
// from them at every launch, and a driver query per launch costs more than the launch.

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAMacros.h>

#include <cuda_runtime.h>
#include <mutex>

namespace fusegen {

inline const cudaDeviceProp& device_properties(int device) {
  static std::once_flag once[C10_COMPILE_TIME_MAX_GPUS];
  static cudaDeviceProp properties[C10_COMPILE_TIME_MAX_GPUS];
  std::call_once(once[device],
                 [device] { C10_CUDA_CHECK(cudaGetDeviceProperties(&properties[device], device)); });
  return properties[device];
}

}  // namespace fusegen
