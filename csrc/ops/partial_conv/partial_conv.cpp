// Schemas, argument checks and the shared preparation (layouts, accumulation dtypes, the bias
// gradient's reduction over samples) of the partial convolution's fused rescale + bias +
// activation, written once for every device (see partial_conv.h).

#include "ops/partial_conv/partial_conv.h"

#include "common/checks.h"
#include "ops/norm_act/norm_act.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <cmath>

namespace fusegen::partial_conv {
namespace {

void check_arguments(const Kernels& kernels, const at::Tensor& input, const at::Tensor& count,
                     const std::optional<at::Tensor>& bias, double window, int64_t activation,
                     double negative_slope) {
  check_float_tensor(input, "input");
  TORCH_CHECK_VALUE(input.dim() == 4, "input must have shape (N, C, H, W), got ", input.sizes());
  check_float_tensor(count, "count");
  check_same_device(count, "count", input, "input");
  const bool one_plane = count.dim() == 4 && count.size(1) == 1;
  TORCH_CHECK_VALUE(count.dim() == 4 && count.size(0) == input.size(0) &&
                        (one_plane || count.size(1) == input.size(1)) &&
                        count.size(2) == input.size(2) && count.size(3) == input.size(3),
                    "count must have shape (", input.size(0), ", 1, ", input.size(2), ", ",
                    input.size(3), ") or (", input.size(0), ", ", input.size(1), ", ",
                    input.size(2), ", ", input.size(3), ") to match input, got ", count.sizes());
  if (bias.has_value() && bias->defined()) {
    check_float_tensor(*bias, "bias");
    check_same_device(*bias, "bias", input, "input");
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == input.size(1), "bias must have shape (",
                      input.size(1), ",), got ", bias->sizes());
  }
  TORCH_CHECK_VALUE(std::isfinite(window) && window > 0,
                    "window must be a finite number > 0 (inputs under one window), got ", window);
  norm_act::check_activation(activation, negative_slope);
  check_device_type(input, "input", kernels.device);
}

Problem problem_of(const at::Tensor& input, const at::Tensor& count, double window,
                   int64_t activation, double negative_slope) {
  return Problem{input.size(0), input.size(1), input.size(2) * input.size(3), count.size(1) != 1,
                 window, ActParams{static_cast<Activation>(activation), negative_slope}};
}

at::Tensor bias_in_acc(const std::optional<at::Tensor>& bias, const at::Tensor& input) {
  const auto acc = input.options().dtype(accumulate_type(input.scalar_type()));
  if (bias.has_value() && bias->defined()) return bias->to(acc).contiguous();
  return at::zeros({input.size(1)}, acc);
}

at::Tensor count_in_acc(const at::Tensor& count, const at::Tensor& input) {
  return count.to(accumulate_type(input.scalar_type())).contiguous();
}

}  // namespace

at::Tensor partial_bias_act(const Kernels& kernels, const at::Tensor& input,
                            const at::Tensor& count, const std::optional<at::Tensor>& bias,
                            double window, int64_t activation, double negative_slope) {
  check_arguments(kernels, input, count, bias, window, activation, negative_slope);
  const at::Tensor y = input.contiguous();
  at::Tensor out = at::empty_like(y);
  if (y.numel() == 0) return out;
  kernels.forward(y, count_in_acc(count, y), bias_in_acc(bias, y),
                  problem_of(y, count, window, activation, negative_slope), out);
  return out;
}

std::tuple<at::Tensor, at::Tensor> partial_bias_act_backward(
    const Kernels& kernels, const at::Tensor& grad_out, const at::Tensor& input,
    const at::Tensor& count, const std::optional<at::Tensor>& bias, double window,
    int64_t activation, double negative_slope, bool bias_needs_grad) {
  check_arguments(kernels, input, count, bias, window, activation, negative_slope);
  check_float_tensor(grad_out, "grad_out");
  check_same_device(grad_out, "grad_out", input, "input");
  TORCH_CHECK_VALUE(grad_out.sizes() == input.sizes(), "grad_out must have the shape of input (",
                    input.sizes(), "), got ", grad_out.sizes());
  const bool has_bias = bias.has_value() && bias->defined();
  TORCH_CHECK_VALUE(!bias_needs_grad || has_bias, "bias_needs_grad is true but no bias was given");
  const at::Tensor y = input.contiguous();
  at::Tensor grad_y = at::empty_like(y);
  const auto acc = y.options().dtype(accumulate_type(y.scalar_type()));
  at::Tensor bias_sums = bias_needs_grad ? at::empty({y.size(0), y.size(1)}, acc) : at::Tensor();
  if (y.numel() > 0) {
    kernels.backward(grad_out.to(y.scalar_type()).contiguous(), y, count_in_acc(count, y),
                     bias_in_acc(bias, y), problem_of(y, count, window, activation, negative_slope),
                     grad_y, bias_sums);
  }
  at::Tensor grad_bias = at::empty({0}, y.options());
  if (bias_needs_grad) {
    // Per-plane sums reduced over samples here, in a fixed order: deterministic on every device.
    grad_bias = y.numel() > 0 ? bias_sums.sum(0).to(bias->scalar_type())
                              : at::zeros({y.size(1)}, bias->options());
  }
  return {grad_y, grad_bias};
}

TORCH_LIBRARY_FRAGMENT(fusegen, m) {
  m.def(
      "partial_bias_act(Tensor input, Tensor count, Tensor? bias, float window, int activation, "
      "float negative_slope) -> Tensor");
  m.def(
      "partial_bias_act_backward(Tensor grad_out, Tensor input, Tensor count, Tensor? bias, "
      "float window, int activation, float negative_slope, bool bias_needs_grad) -> "
      "(Tensor, Tensor)");
}

}  // namespace fusegen::partial_conv
