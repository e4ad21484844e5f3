// The CUDA kernels of bias_act and bias_act_backward: the operator fronts of bias_act.cpp on
// norm_act's CUDA passes (ops/norm_act/norm_act_cuda.cu), registered for the CUDA dispatch key.

#include "ops/bias_act/bias_act.h"

#include "common/device_op.h"

#include <torch/library.h>

namespace fusegen::bias_act {

TORCH_LIBRARY_IMPL(fusegen, CUDA, m) {
  m.impl("bias_act", &OnDevice<Passes, &norm_act::cuda_passes, &bias_act>::call);
  m.impl("bias_act_backward", &OnDevice<Passes, &norm_act::cuda_passes, &bias_act_backward>::call);
}

}  // namespace fusegen::bias_act
