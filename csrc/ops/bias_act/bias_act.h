#pragma once
// Fused bias + activation: out = act(y + bias[c]) in one pass over an (N, C, *) tensor, used
// after a convolution without normalization and for inference with batch norm folded into the
// convolution. It runs on the passes of ops/norm_act (apply with scale 1 and shift = bias;
// backward: grad_input and grad_sums with no normalization term).
//
// bias_act.cpp holds the schemas and the operator fronts, written once for every device on a
// norm_act::Passes table; bias_act_cpu.cpp and bias_act_cuda.cu register them for CPU and CUDA.

#include "ops/norm_act/norm_act.h"

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace fusegen::bias_act {

using norm_act::Passes;

at::Tensor bias_act(const Passes& passes, const at::Tensor& input,
                    const std::optional<at::Tensor>& bias, int64_t activation,
                    double negative_slope);

std::tuple<at::Tensor, at::Tensor> bias_act_backward(const Passes& passes,
                                                     const at::Tensor& grad_out,
                                                     const at::Tensor& input,
                                                     const std::optional<at::Tensor>& bias,
                                                     int64_t activation, double negative_slope,
                                                     bool bias_needs_grad);

}  // namespace fusegen::bias_act
