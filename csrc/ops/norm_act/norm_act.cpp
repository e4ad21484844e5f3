// Schemas, argument checks and per-channel coefficients of the fused normalization +
// activation operators. The passes over the activations live in norm_act_cpu.cpp and
// norm_act_cuda.cu, which register these fronts for their dispatch keys; the fronts check,
// allocate, and call the device's passes and (G, C) coefficient steps (coefficients.h) through
// its Passes table.
//
//   norm_act_forward   statistics (one reduction pass), then
//                      out = act(weight * (y - mean) * invstd + bias) (one apply pass)
//   norm_act_backward  activation + normalization backward: one reduction pass for
//                      sum(dz) and sum(dz * x_hat), one pass writing grad_y
//   norm_act_update_running_stats  running mean/variance update from the saved statistics

#include "ops/norm_act/norm_act.h"

#include "common/checks.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/core/DeviceType.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

namespace fusegen::norm_act {

// ---- checks --------------------------------------------------------------------------------

void check_activation(int64_t activation, double negative_slope) {
  TORCH_CHECK_VALUE(activation >= 0 && activation < kNumActivations,
                    "activation must be a code in 0..", kNumActivations - 1,
                    " (none, relu, leaky_relu, tanh, sigmoid, silu, relu6, hardswish, gelu, elu), got ", activation);
  TORCH_CHECK_VALUE(std::isfinite(negative_slope), "negative_slope must be finite, got ",
                    negative_slope);
}

void check_input(const at::Tensor& y, const char* name, const Passes& passes) {
  check_float_tensor(y, name);
  TORCH_CHECK_VALUE(y.dim() >= 2, name, " must have shape (N, C, ...), got a ", y.dim(),
                    "-d tensor of shape ", y.sizes());
  check_device_type(y, name, passes.device);
}

void check_like(const at::Tensor& t, const char* name, const at::Tensor& y, const char* y_name) {
  check_float_tensor(t, name);
  TORCH_CHECK_VALUE(t.sizes() == y.sizes(), name, " must have the shape of ", y_name, " ",
                    y.sizes(), ", got ", t.sizes());
  TORCH_CHECK_TYPE(t.scalar_type() == y.scalar_type(), name, " must have the dtype of ", y_name,
                   " (", y.scalar_type(), "), got ", t.scalar_type());
  check_same_device(t, name, y, y_name);
}

void check_channel_vector(const std::optional<at::Tensor>& t, const char* name,
                          const at::Tensor& y) {
  if (!t.has_value() || !t->defined()) return;
  check_float_tensor(*t, name);
  const int64_t C = y.size(1);
  TORCH_CHECK_VALUE(t->dim() == 1 && t->size(0) == C, name, " must have shape (", C,
                    ",) for an input with ", C, " channels, got ", t->sizes());
  check_same_device(*t, name, y, "the input");
}

bool present(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

// ---- layout --------------------------------------------------------------------------------

at::Tensor walkable(const at::Tensor& y) {
  if (y.is_contiguous()) return y;
  if (y.dim() == 4 && y.is_contiguous(at::MemoryFormat::ChannelsLast)) return y;
  return y.contiguous();
}

Layout layout_of(const at::Tensor& y, bool per_sample) {
  Layout l;
  l.batch = y.size(0);
  l.channels = y.size(1);
  l.spatial = l.channels == 0 || l.batch == 0 ? 0 : y.numel() / (l.batch * l.channels);
  l.channels_last = !y.is_contiguous();
  l.per_sample = per_sample;
  return l;
}

at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& y) {
  if (t.strides() == y.strides()) return t;
  return at::empty_like(y).copy_(t);
}

// ---- coefficients --------------------------------------------------------------------------

at::TensorOptions acc_options(const at::Tensor& y) {
  return y.options().dtype(accumulate_type(y.scalar_type()));
}

at::Tensor channel_row(const std::optional<at::Tensor>& t, const at::Tensor& y, double fill) {
  const int64_t C = y.size(1);
  if (!present(t)) return at::empty({1, C}, acc_options(y)).fill_(fill);
  return t->to(accumulate_type(y.scalar_type())).reshape({1, C});
}

at::Tensor channel_vector(const std::optional<at::Tensor>& t, const at::Tensor& y) {
  if (!present(t)) return at::Tensor();
  return t->to(accumulate_type(y.scalar_type())).contiguous();
}

namespace {

// Shape of save_mean / save_invstd: (C,) for batch statistics, (N, C) for per-sample ones.
std::vector<int64_t> saved_shape(const at::Tensor& y, bool instance) {
  if (instance) return {y.size(0), y.size(1)};
  return {y.size(1)};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> norm_act_forward(
    const Passes& passes, const at::Tensor& y_in, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& running_mean,
    const std::optional<at::Tensor>& running_var, bool training, bool instance, double eps,
    int64_t activation, double negative_slope) {
  check_input(y_in, "input", passes);
  check_activation(activation, negative_slope);
  check_channel_vector(weight, "weight", y_in);
  check_channel_vector(bias, "bias", y_in);
  check_channel_vector(running_mean, "running_mean", y_in);
  check_channel_vector(running_var, "running_var", y_in);
  TORCH_CHECK_VALUE(present(running_mean) == present(running_var),
                    "running_mean and running_var must be given together");
  TORCH_CHECK_VALUE(!(instance && present(running_mean)),
                    "running statistics are not supported with instance normalization");
  TORCH_CHECK_VALUE(eps > 0 && std::isfinite(eps), "eps must be positive, got ", eps);
  const bool use_input_stats = training || instance || !present(running_mean);

  const at::Tensor y = walkable(y_in);
  const Layout l = layout_of(y, instance);
  const int64_t C = l.channels, G = l.groups();
  const int64_t per_stat = instance ? l.spatial : l.batch * l.spatial;
  if (use_input_stats && y.numel() > 0) {
    TORCH_CHECK_VALUE(per_stat > 1 || !training,
                      "expected more than 1 value per channel when training, got input of size ",
                      y.sizes());
  }

  at::Tensor mean, var;
  if (use_input_stats) {
    mean = at::empty(saved_shape(y, instance), acc_options(y));
    var = at::empty(saved_shape(y, instance), acc_options(y));
    if (y.numel() > 0) {
      passes.stats(y, l, mean, var);
    } else {
      mean.fill_(std::numeric_limits<double>::quiet_NaN());
      var.fill_(std::numeric_limits<double>::quiet_NaN());
    }
  } else {
    // A copy: save_mean is an output and must not alias running_mean.
    mean = running_mean->to(accumulate_type(y.scalar_type()), /*non_blocking=*/false,
                            /*copy=*/true);
    var = running_var->to(accumulate_type(y.scalar_type())).contiguous();
  }
  at::Tensor invstd = at::empty_like(mean);
  at::Tensor scale = at::empty({G, C}, acc_options(y));
  at::Tensor shift = at::empty({G, C}, acc_options(y));
  passes.forward_coefficients(mean, var, channel_vector(weight, y), channel_vector(bias, y), eps,
                              invstd, scale, shift);
  at::Tensor out = at::empty_like(y);
  if (y.numel() > 0) {
    passes.apply(y, l, scale, shift, {static_cast<Activation>(activation), negative_slope}, out);
  }
  return {out, mean, invstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> norm_act_backward(
    const Passes& passes, const at::Tensor& grad_out, const at::Tensor& y_in,
    const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& save_mean, const at::Tensor& save_invstd, bool use_input_stats,
    bool instance, int64_t activation, double negative_slope, std::array<bool, 3> output_mask) {
  check_input(y_in, "input", passes);
  check_like(grad_out, "grad_out", y_in, "input");
  check_activation(activation, negative_slope);
  check_channel_vector(weight, "weight", y_in);
  check_channel_vector(bias, "bias", y_in);
  const at::Tensor y = walkable(y_in);
  const Layout l = layout_of(y, instance);
  const int64_t C = l.channels, G = l.groups();
  const std::vector<int64_t> stat_shape = saved_shape(y, instance);
  for (const auto& [t, name] : {std::pair{&save_mean, "save_mean"}, {&save_invstd, "save_invstd"}}) {
    TORCH_CHECK_VALUE(t->sizes() == at::IntArrayRef(stat_shape), name, " must have shape ",
                      at::IntArrayRef(stat_shape), ", got ", t->sizes());
    TORCH_CHECK_TYPE(t->scalar_type() == accumulate_type(y.scalar_type()), name,
                     " must have dtype ", accumulate_type(y.scalar_type()), ", got ",
                     t->scalar_type());
    check_same_device(*t, name, y, "input");
  }

  const bool want_input = output_mask[0], want_weight = output_mask[1], want_bias = output_mask[2];
  at::Tensor grad_y = want_input ? at::empty_like(y) : at::empty({0}, y.options());
  at::Tensor grad_weight = want_weight ? at::empty({C}, acc_options(y)) : at::empty({0}, acc_options(y));
  at::Tensor grad_bias = want_bias ? at::empty({C}, acc_options(y)) : at::empty({0}, acc_options(y));
  auto param_dtype = [&](const std::optional<at::Tensor>& p, at::Tensor& g) {
    if (present(p) && g.numel() > 0) g = g.to(p->scalar_type());
  };
  if (y.numel() == 0) {
    if (want_weight) grad_weight.zero_();
    if (want_bias) grad_bias.zero_();
    param_dtype(weight, grad_weight);
    param_dtype(bias, grad_bias);
    return {grad_y, grad_weight, grad_bias};
  }

  const ActParams act{static_cast<Activation>(activation), negative_slope};
  const at::Tensor g = in_layout_of(grad_out, y);
  const at::Tensor mean = save_mean.contiguous();
  const at::Tensor invstd = save_invstd.contiguous();
  const at::Tensor w = channel_vector(weight, y), b = channel_vector(bias, y);
  at::Tensor scale = at::empty({G, C}, acc_options(y));
  at::Tensor shift = at::empty({G, C}, acc_options(y));
  at::Tensor none;
  passes.backward_coefficients(mean, invstd, w, b, none, none, 1.0, scale, shift, none, none);

  const bool need_sums = want_weight || want_bias || (want_input && use_input_stats);
  at::Tensor sum_dz, sum_dz_yc;
  if (need_sums) {
    sum_dz = at::empty({G, C}, acc_options(y));
    sum_dz_yc = at::empty({G, C}, acc_options(y));
    const at::Tensor center = mean.view({G, C});
    passes.grad_sums(g, y, l, scale, shift, center, act, sum_dz, sum_dz_yc);
    if (want_weight || want_bias) {
      at::Tensor gw = want_weight ? grad_weight : at::Tensor();
      at::Tensor gb = want_bias ? grad_bias : at::Tensor();
      passes.parameter_gradients(invstd.view({G, C}), sum_dz, sum_dz_yc, gw, gb);
    }
  }
  if (want_input) {
    // grad_y = w * invstd * (dz - mean(dz) - x_hat * mean(dz * x_hat)), x_hat = (y - mean) * invstd
    at::Tensor beta = at::empty({G, C}, acc_options(y));
    at::Tensor gamma = at::empty({G, C}, acc_options(y));
    const double count = static_cast<double>(instance ? l.spatial : l.batch * l.spatial);
    const at::Tensor stats_sum_dz = use_input_stats ? sum_dz : at::Tensor();
    const at::Tensor stats_sum_dz_yc = use_input_stats ? sum_dz_yc : at::Tensor();
    passes.backward_coefficients(mean, invstd, w, b, stats_sum_dz, stats_sum_dz_yc, count, scale,
                                 shift, beta, gamma);
    passes.grad_input(g, y, l, scale, shift, mean.view({G, C}), act, scale, beta, gamma, grad_y);
  }
  param_dtype(weight, grad_weight);
  param_dtype(bias, grad_bias);
  return {grad_y, grad_weight, grad_bias};
}

// running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance, as
// torch's BatchNorm does; for per-sample statistics (N, C), the N updates averaged, as torch's
// InstanceNorm with track_running_stats does. A separate operator because autograd formulas can only be registered
// for functional operators; norm_act_forward stays functional and this one only mutates buffers.
void norm_act_update_running_stats(const Passes& passes, at::Tensor& running_mean,
                                   at::Tensor& running_var, const at::Tensor& save_mean,
                                   const at::Tensor& save_invstd, double momentum, double eps,
                                   int64_t count) {
  for (const auto& [t, name] : {std::pair<const at::Tensor*, const char*>{&running_mean, "running_mean"},
                                {&running_var, "running_var"}}) {
    check_float_tensor(*t, name);
    TORCH_CHECK_VALUE(t->dim() == 1 && t->sizes() == running_mean.sizes(), name,
                      " must have shape (C,) like running_mean ", running_mean.sizes(), ", got ",
                      t->sizes());
    check_device_type(*t, name, passes.device);
  }
  const int64_t C = running_mean.size(0);
  for (const auto& [t, name] : {std::pair<const at::Tensor*, const char*>{&save_mean, "save_mean"},
                                {&save_invstd, "save_invstd"}}) {
    check_float_tensor(*t, name);
    TORCH_CHECK_VALUE((t->dim() == 1 || t->dim() == 2) && t->size(-1) == C &&
                          t->sizes() == save_mean.sizes(),
                      name, " must have shape (C,) or (N, C) with C = ", C,
                      " like running_mean and the same shape as save_mean, got ", t->sizes());
    check_same_device(*t, name, running_mean, "running_mean");
  }
  TORCH_CHECK_VALUE(count > 1, "count (values per channel) must be more than 1, got ", count);
  TORCH_CHECK_VALUE(std::isfinite(momentum), "momentum must be finite, got ", momentum);
  if (save_mean.numel() == 0) return;
  // The kernels read (G, C) statistics in float or double and contiguous buffers of one dtype;
  // anything else goes through copies.
  const auto stat_dtype = save_mean.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor mean = save_mean.to(stat_dtype).contiguous().view({-1, C});
  const at::Tensor invstd = save_invstd.to(stat_dtype).contiguous().view({-1, C});
  at::Tensor rm = running_mean.contiguous();
  at::Tensor rv = running_var.to(rm.scalar_type()).contiguous();
  passes.update_running_stats(mean, invstd, momentum, eps, count, rm, rv);
  if (!rm.is_same(running_mean)) running_mean.copy_(rm);
  if (!rv.is_same(running_var)) running_var.copy_(rv);
}

TORCH_LIBRARY_FRAGMENT(fusegen, m) {
  m.def(
      "norm_act_forward(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, "
      "Tensor? running_var, bool training, bool instance, float eps, int activation, "
      "float negative_slope) -> (Tensor, Tensor, Tensor)");
  m.def(
      "norm_act_update_running_stats(Tensor(a!) running_mean, Tensor(b!) running_var, "
      "Tensor save_mean, Tensor save_invstd, float momentum, float eps, int count) -> ()");
  m.def(
      "norm_act_backward(Tensor grad_out, Tensor input, Tensor? weight, Tensor? bias, "
      "Tensor save_mean, Tensor save_invstd, bool use_input_stats, bool instance, int activation, "
      "float negative_slope, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
}

}  // namespace fusegen::norm_act
