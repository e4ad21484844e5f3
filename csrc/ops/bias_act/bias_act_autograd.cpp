// Autograd for fusegen::bias_act, in C++ (see ops/norm_act/norm_act_autograd.cpp for why).
// The backward calls fusegen::bias_act_backward, which has no autograd formula of its own.

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

namespace fusegen::bias_act {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using ForwardSignature = at::Tensor(const at::Tensor&, const std::optional<at::Tensor>&, int64_t,
                                    double);
using BackwardSignature = std::tuple<at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, int64_t, double, bool);

const c10::TypedOperatorHandle<ForwardSignature>& forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("fusegen::bias_act", "")
                             .typed<ForwardSignature>();
  return op;
}

const c10::TypedOperatorHandle<BackwardSignature>& backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("fusegen::bias_act_backward", "")
                             .typed<BackwardSignature>();
  return op;
}

class BiasActFunction : public torch::autograd::Function<BiasActFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input,
                               const std::optional<at::Tensor>& bias, int64_t activation,
                               double negative_slope) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    at::Tensor out = forward_op().call(input, bias, activation, negative_slope);
    ctx->save_for_backward({input, bias.value_or(at::Tensor())});
    ctx->saved_data["activation"] = activation;
    ctx->saved_data["negative_slope"] = negative_slope;
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &input = saved[0], &bias = saved[1];
    const bool bias_needs_grad = bias.defined() && ctx->needs_input_grad(1);
    variable_list result(4);
    if (!grads[0].defined()) return result;
    auto [grad_input, grad_bias] = backward_op().call(
        grads[0], input, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt,
        ctx->saved_data["activation"].toInt(), ctx->saved_data["negative_slope"].toDouble(),
        bias_needs_grad);
    if (ctx->needs_input_grad(0)) result[0] = grad_input;
    if (bias_needs_grad) result[1] = grad_bias;
    return result;
  }
};

at::Tensor bias_act_autograd(const at::Tensor& input, const std::optional<at::Tensor>& bias,
                             int64_t activation, double negative_slope) {
  return BiasActFunction::apply(input, bias, activation, negative_slope)[0];
}

}  // namespace

TORCH_LIBRARY_IMPL(fusegen, Autograd, m) { m.impl("bias_act", &bias_act_autograd); }

}  // namespace fusegen::bias_act
