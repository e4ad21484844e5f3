#pragma once
// The partial convolution's fused rescale + bias + activation (see partial_conv_math.h):
//
//   partial_bias_act           out = act(rescale(y, count) + bias), the hole set to 0 first
//   partial_bias_act_backward  grad_y and the bias gradient in one pass
//
// The convolutions (of the input with holes zeroed, and of the mask for the counts) are
// ATen's; a following normalization is norm_act's. Kernels see y as N * C planes of S
// contiguous values, count as N planes (one mask per sample) or N * C planes, in the
// accumulation dtype.

#include "common/activation.h"

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include <optional>
#include <tuple>

namespace fusegen::partial_conv {

struct Problem {
  int64_t N, C, S;
  bool count_per_channel;  // count has C planes per sample, else one
  double window;           // inputs under one window
  ActParams act;
};

// One device's kernels (partial_conv_cpu.cpp, partial_conv_cuda.cu). y, count, out, grad
// contiguous NCHW; bias (C,) in the accumulation dtype; bias_sums (N, C) in the accumulation
// dtype or undefined: per-plane sums of the bias gradient, reduced over N by the front.
struct Kernels {
  c10::DeviceType device;
  void (*forward)(const at::Tensor& y, const at::Tensor& count, const at::Tensor& bias,
                  const Problem& p, at::Tensor& out);
  void (*backward)(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& count,
                   const at::Tensor& bias, const Problem& p, at::Tensor& grad_y,
                   at::Tensor& bias_sums);
};

at::Tensor partial_bias_act(const Kernels& kernels, const at::Tensor& input,
                            const at::Tensor& count, const std::optional<at::Tensor>& bias,
                            double window, int64_t activation, double negative_slope);

std::tuple<at::Tensor, at::Tensor> partial_bias_act_backward(
    const Kernels& kernels, const at::Tensor& grad_out, const at::Tensor& input,
    const at::Tensor& count, const std::optional<at::Tensor>& bias, double window,
    int64_t activation, double negative_slope, bool bias_needs_grad);

}  // namespace fusegen::partial_conv
