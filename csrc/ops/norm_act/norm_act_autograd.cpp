// Autograd for fusegen::norm_act_forward, in C++: a Python autograd formula
// (torch.library.register_autograd) costs tens of microseconds per call in the interpreter,
// as much as the fused passes themselves on a small feature map.
//
// The forward redispatches below autograd to the device kernel; the backward calls
// fusegen::norm_act_backward, which has no autograd formula of its own (no double backward).

#include "ops/norm_act/norm_act.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

namespace fusegen::norm_act {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using ForwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const std::optional<at::Tensor>&, const std::optional<at::Tensor>&,
    const std::optional<at::Tensor>&, const std::optional<at::Tensor>&, bool, bool, double,
    int64_t, double);
using BackwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
    const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&, bool, bool, int64_t,
    double, std::array<bool, 3>);

const c10::TypedOperatorHandle<ForwardSignature>& forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("fusegen::norm_act_forward", "")
                             .typed<ForwardSignature>();
  return op;
}

const c10::TypedOperatorHandle<BackwardSignature>& backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("fusegen::norm_act_backward", "")
                             .typed<BackwardSignature>();
  return op;
}

std::optional<at::Tensor> optional_of(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

class NormActFunction : public torch::autograd::Function<NormActFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input,
                               const std::optional<at::Tensor>& weight,
                               const std::optional<at::Tensor>& bias,
                               const std::optional<at::Tensor>& running_mean,
                               const std::optional<at::Tensor>& running_var, bool training,
                               bool instance, double eps, int64_t activation,
                               double negative_slope) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [out, mean, invstd] = forward_op().call(input, weight, bias, running_mean, running_var,
                                                 training, instance, eps, activation,
                                                 negative_slope);
    ctx->mark_non_differentiable({mean, invstd});
    ctx->save_for_backward({input, weight.value_or(at::Tensor()), bias.value_or(at::Tensor()),
                            mean, invstd});
    ctx->saved_data["use_input_stats"] = training || instance || !present(running_mean);
    ctx->saved_data["instance"] = instance;
    ctx->saved_data["activation"] = activation;
    ctx->saved_data["negative_slope"] = negative_slope;
    return {out, mean, invstd};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &input = saved[0], &weight = saved[1], &bias = saved[2];
    // needs_input_grad counts the tensors given to forward: input, then weight and bias if present.
    const size_t weight_edge = 1, bias_edge = weight.defined() ? 2 : 1;
    const std::array<bool, 3> mask{ctx->needs_input_grad(0),
                                   weight.defined() && ctx->needs_input_grad(weight_edge),
                                   bias.defined() && ctx->needs_input_grad(bias_edge)};
    variable_list result(10);
    if (!grads[0].defined() || !(mask[0] || mask[1] || mask[2])) return result;
    auto [grad_input, grad_weight, grad_bias] = backward_op().call(
        grads[0], input, optional_of(weight), optional_of(bias), saved[3], saved[4],
        ctx->saved_data["use_input_stats"].toBool(), ctx->saved_data["instance"].toBool(),
        ctx->saved_data["activation"].toInt(), ctx->saved_data["negative_slope"].toDouble(), mask);
    if (mask[0]) result[0] = grad_input;
    if (mask[1]) result[1] = grad_weight;
    if (mask[2]) result[2] = grad_bias;
    return result;
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> norm_act_forward_autograd(
    const at::Tensor& input, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& running_mean,
    const std::optional<at::Tensor>& running_var, bool training, bool instance, double eps,
    int64_t activation, double negative_slope) {
  variable_list out = NormActFunction::apply(input, weight, bias, running_mean, running_var,
                                             training, instance, eps, activation, negative_slope);
  return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(fusegen, Autograd, m) {
  m.impl("norm_act_forward", &norm_act_forward_autograd);
}

}  // namespace fusegen::norm_act
