// The CPU kernels of bias_act and bias_act_backward: the operator fronts of bias_act.cpp on
// norm_act's CPU passes (ops/norm_act/norm_act_cpu.cpp), registered for the CPU dispatch key.

#include "ops/bias_act/bias_act.h"

#include "common/device_op.h"

#include <torch/library.h>

namespace fusegen::bias_act {

TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
  m.impl("bias_act", &OnDevice<Passes, &norm_act::cpu_passes, &bias_act>::call);
  m.impl("bias_act_backward", &OnDevice<Passes, &norm_act::cpu_passes, &bias_act_backward>::call);
}

}  // namespace fusegen::bias_act
