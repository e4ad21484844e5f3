#pragma once
// Fused per-channel normalization + activation, the part of a Conv -> Norm -> Act block that
// follows the convolution (which comes from ATen: oneDNN on CPU, cuDNN on CUDA).
//
// Every pass is one of four kernels over a tensor y of shape (N, C, *), seen either as N*C
// contiguous planes (NCHW) or as N*S rows of C contiguous channels (channels-last):
//   stats       per-(group, channel) mean and biased variance of y          (forward reduction)
//   apply       out = act(scale * y + shift)                                 (forward apply)
//   grad_sums   sum dz and sum dz * (y - center), dz = grad_out * act'(scale * y + shift)
//                                                                            (backward reduction)
//   grad_input  grad_y = alpha * dz + beta * (y - center) + gamma            (backward apply)
// A "group" is one sample for instance norm (G = N) and the whole batch otherwise (G = 1); the
// per-(group, channel) coefficients are (G, C) contiguous tensors in the accumulation dtype, so
// batch norm, instance norm, eval-mode batch norm and a plain bias (ops/bias_act) all run
// through the same kernels. `center` is the mean (0 for a plain bias): sums and the gradient are
// taken around it, which keeps float32 accumulation accurate when the mean is large relative to
// the spread.
//
// norm_act.cpp holds the schemas and the operator fronts (checks, coefficients), written once
// for every device on a Passes table; norm_act_cpu.cpp and norm_act_cuda.cu hold each device's
// passes, its table, and the registration for its dispatch key.

#include "common/activation.h"

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include <array>
#include <cstdint>
#include <optional>
#include <tuple>

namespace fusegen::norm_act {

// How the kernels walk y (and every tensor laid out like it).
struct Layout {
  int64_t batch;     // N
  int64_t channels;  // C
  int64_t spatial;   // S: product of the sizes after the channel dimension
  bool channels_last;
  bool per_sample;   // G = N (instance norm) rather than 1
  int64_t groups() const { return per_sample ? batch : 1; }
};

// One device's four passes. mean, var, sum_dz, sum_dz_yc: (G, C), accumulation dtype, biased
// variance.
struct Passes {
  c10::DeviceType device;
  void (*stats)(const at::Tensor& y, const Layout& l, at::Tensor& mean, at::Tensor& var);
  void (*apply)(const at::Tensor& y, const Layout& l, const at::Tensor& scale,
                const at::Tensor& shift, ActParams act, at::Tensor& out);
  void (*grad_sums)(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                    const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                    ActParams act, at::Tensor& sum_dz, at::Tensor& sum_dz_yc);
  void (*grad_input)(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                     const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                     ActParams act, const at::Tensor& alpha, const at::Tensor& beta,
                     const at::Tensor& gamma, at::Tensor& grad_y);
  // The per-(group, channel) steps of coefficients.h (same arguments as those templates).
  void (*forward_coefficients)(const at::Tensor& mean, const at::Tensor& var,
                               const at::Tensor& weight, const at::Tensor& bias, double eps,
                               at::Tensor& invstd, at::Tensor& scale, at::Tensor& shift);
  void (*backward_coefficients)(const at::Tensor& mean, const at::Tensor& invstd,
                                const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& sum_dz, const at::Tensor& sum_dz_yc,
                                double count, at::Tensor& scale, at::Tensor& shift,
                                at::Tensor& beta, at::Tensor& gamma);
  void (*parameter_gradients)(const at::Tensor& invstd, const at::Tensor& sum_dz,
                              const at::Tensor& sum_dz_yc, at::Tensor& grad_weight,
                              at::Tensor& grad_bias);
  void (*update_running_stats)(const at::Tensor& save_mean, const at::Tensor& save_invstd,
                               double momentum, double eps, int64_t count,
                               at::Tensor& running_mean, at::Tensor& running_var);
};

// The tables of norm_act_cpu.cpp and norm_act_cuda.cu (the latter in CUDA builds only).
extern const Passes cpu_passes;
extern const Passes cuda_passes;

// ---- the operators, for any device's passes (norm_act.cpp) ---------------------------------

std::tuple<at::Tensor, at::Tensor, at::Tensor> norm_act_forward(
    const Passes& passes, const at::Tensor& input, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& running_mean,
    const std::optional<at::Tensor>& running_var, bool training, bool instance, double eps,
    int64_t activation, double negative_slope);

std::tuple<at::Tensor, at::Tensor, at::Tensor> norm_act_backward(
    const Passes& passes, const at::Tensor& grad_out, const at::Tensor& input,
    const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& save_mean, const at::Tensor& save_invstd, bool use_input_stats,
    bool instance, int64_t activation, double negative_slope, std::array<bool, 3> output_mask);

void norm_act_update_running_stats(const Passes& passes, at::Tensor& running_mean,
                                   at::Tensor& running_var, const at::Tensor& save_mean,
                                   const at::Tensor& save_invstd, double momentum, double eps,
                                   int64_t count);

// ---- argument checks and layout helpers shared with ops/bias_act ----------------------------

void check_activation(int64_t activation, double negative_slope);
// y: a float tensor of shape (N, C, ...) on the passes' device.
void check_input(const at::Tensor& y, const char* name, const Passes& passes);
// t: y's shape, dtype and device.
void check_like(const at::Tensor& t, const char* name, const at::Tensor& y, const char* y_name);
// An optional 1-d tensor of C values on y's device.
void check_channel_vector(const std::optional<at::Tensor>& t, const char* name,
                          const at::Tensor& y);
bool present(const std::optional<at::Tensor>& t);

// y itself when the kernels can walk it (NCHW-contiguous, or channels-last for 4-d), else a
// contiguous copy. A tensor that is both (a size-1 dimension) is walked as NCHW.
at::Tensor walkable(const at::Tensor& y);
Layout layout_of(const at::Tensor& y, bool per_sample);
// t in y's layout: t itself when the strides already agree, else a copy.
at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& y);
at::TensorOptions acc_options(const at::Tensor& y);
// An optional per-channel vector as a (1, C) row in the accumulation dtype, or `fill` when absent.
at::Tensor channel_row(const std::optional<at::Tensor>& t, const at::Tensor& y, double fill);
// An optional per-channel vector, contiguous in the accumulation dtype (no copy when it already
// is), or an undefined tensor when absent.
at::Tensor channel_vector(const std::optional<at::Tensor>& t, const at::Tensor& y);

}  // namespace fusegen::norm_act
