#pragma once
// The per-element input gradient of norm_act and bias_act, written once for the CPU and CUDA
// kernels. With dz the gradient at the activation's input (chain_grad of common/activation.h
// or its CPU twin) and the per-channel coefficients of coefficients.h:
//   dL/dy = alpha * dz + beta * (y - center) + gamma
// bias_act has no batch statistics, hence no beta term: it is skipped (kLinearTerm = false)
// rather than multiplied by 0, which would turn an infinite y into NaN.

#include <c10/macros/Macros.h>

namespace fusegen::norm_act {

template <bool kLinearTerm, typename acc_t>
C10_HOST_DEVICE inline acc_t input_grad(acc_t dz, acc_t y, acc_t alpha, acc_t beta, acc_t center,
                                        acc_t gamma) {
  if constexpr (kLinearTerm) {
    return alpha * dz + beta * (y - center) + gamma;
  } else {
    return alpha * dz + gamma;
  }
}

}  // namespace fusegen::norm_act
