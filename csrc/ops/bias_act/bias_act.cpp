// Schemas and operator fronts of the fused bias + activation (see bias_act.h):
//
//   bias_act           out = act(y + bias) in one pass (no normalization, or a folded one)
//   bias_act_backward  grad_y = grad_out * act'(y + bias) and grad_bias = sum(grad_y)

#include "ops/bias_act/bias_act.h"

#include "common/checks.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

namespace fusegen::bias_act {

using namespace fusegen::norm_act;

at::Tensor bias_act(const Passes& passes, const at::Tensor& y_in,
                    const std::optional<at::Tensor>& bias, int64_t activation,
                    double negative_slope) {
  check_input(y_in, "input", passes);
  check_channel_vector(bias, "bias", y_in);
  check_activation(activation, negative_slope);
  const at::Tensor y = walkable(y_in);
  at::Tensor out = at::empty_like(y);
  if (y.numel() == 0) return out;
  const Layout l = layout_of(y, /*per_sample=*/false);
  const at::Tensor scale = at::ones({1, l.channels}, acc_options(y));
  const at::Tensor shift = channel_row(bias, y, 0.0).contiguous();
  passes.apply(y, l, scale, shift, {static_cast<Activation>(activation), negative_slope}, out);
  return out;
}

std::tuple<at::Tensor, at::Tensor> bias_act_backward(const Passes& passes,
                                                     const at::Tensor& grad_out,
                                                     const at::Tensor& y_in,
                                                     const std::optional<at::Tensor>& bias,
                                                     int64_t activation, double negative_slope,
                                                     bool bias_needs_grad) {
  check_input(y_in, "input", passes);
  check_like(grad_out, "grad_out", y_in, "input");
  check_channel_vector(bias, "bias", y_in);
  check_activation(activation, negative_slope);
  TORCH_CHECK_VALUE(!bias_needs_grad || present(bias),
                    "bias_needs_grad is true but no bias was given");
  const at::Tensor y = walkable(y_in);
  const Layout l = layout_of(y, /*per_sample=*/false);
  const int64_t C = l.channels;
  at::Tensor grad_y = at::empty_like(y);
  at::Tensor grad_bias = bias_needs_grad ? at::zeros({C}, bias->options()) : at::empty({0}, y.options());
  if (y.numel() == 0) return {grad_y, grad_bias};

  const ActParams act{static_cast<Activation>(activation), negative_slope};
  const at::Tensor g = in_layout_of(grad_out, y);
  const at::Tensor ones = at::ones({1, C}, acc_options(y));
  const at::Tensor zeros = at::zeros({1, C}, acc_options(y));
  const at::Tensor shift = channel_row(bias, y, 0.0).contiguous();
  // No beta or center: grad_y = grad_out * act'(y + bias), with no 0 * (y - 0) term that an
  // infinite y would turn into NaN.
  passes.grad_input(g, y, l, ones, shift, at::Tensor(), act, ones, at::Tensor(), zeros, grad_y);
  if (bias_needs_grad) {
    at::Tensor sum_dz = at::empty({1, C}, acc_options(y));
    at::Tensor unused = at::empty({1, C}, acc_options(y));
    passes.grad_sums(g, y, l, ones, shift, zeros, act, sum_dz, unused);
    grad_bias = sum_dz.reshape({C}).to(bias->scalar_type());
  }
  return {grad_y, grad_bias};
}

TORCH_LIBRARY_FRAGMENT(fusegen, m) {
  m.def("bias_act(Tensor input, Tensor? bias, int activation, float negative_slope) -> Tensor");
  m.def(
      "bias_act_backward(Tensor grad_out, Tensor input, Tensor? bias, int activation, "
      "float negative_slope, bool bias_needs_grad) -> (Tensor, Tensor)");
}

}  // namespace fusegen::bias_act
