#pragma once
// Fused per-channel normalization + activation, the part of a Conv -> Norm -> Act block that
// follows the convolution (which comes from ATen: oneDNN on CPU, cuDNN on CUDA).
//
// Every pass is one of three kernels over a tensor y of shape (N, C, *), seen either as N*C
// contiguous planes (NCHW) or as N*S rows of C contiguous channels (channels-last):
//   stats       per-(group, channel) mean and biased variance of y          (forward reduction)
//   apply       out = act(scale * y + shift)                                 (forward apply)
//   grad_sums   sum dz and sum dz * (y - center), dz = grad_out * act'(scale * y + shift)
//                                                                            (backward reduction)
//   grad_input  grad_y = alpha * dz + beta * (y - center) + gamma            (backward apply)
// A "group" is one sample for instance norm (G = N) and the whole batch otherwise (G = 1); the
// per-(group, channel) coefficients are (G, C) contiguous tensors in the accumulation dtype, so
// batch norm, instance norm, eval-mode batch norm and a plain bias all run through the same
// kernels. `center` is the mean (0 for a plain bias): sums and the gradient are taken around it,
// which keeps float32 accumulation accurate when the mean is large relative to the spread.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace fusegen::conv_norm_act {

// The activation codes of the schema's `int activation`; python/fusegen/ops/conv_norm_act.py
// keeps the same table.
enum class Activation : int64_t { None = 0, ReLU = 1, LeakyReLU = 2, Tanh = 3, Sigmoid = 4, SiLU = 5 };

// How the kernels walk y (and every tensor laid out like it).
struct Layout {
  int64_t batch;     // N
  int64_t channels;  // C
  int64_t spatial;   // S: product of the sizes after the channel dimension
  bool channels_last;
  bool per_sample;   // G = N (instance norm) rather than 1
  int64_t groups() const { return per_sample ? batch : 1; }
};

struct ActParams {
  Activation kind;
  double negative_slope;
};

// mean and var: (G, C), accumulation dtype, biased variance.
void stats_cpu(const at::Tensor& y, const Layout& l, at::Tensor& mean, at::Tensor& var);
void apply_cpu(const at::Tensor& y, const Layout& l, const at::Tensor& scale,
               const at::Tensor& shift, ActParams act, at::Tensor& out);
// sum_dz, sum_dz_yc: (G, C), accumulation dtype.
void grad_sums_cpu(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                   const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                   ActParams act, at::Tensor& sum_dz, at::Tensor& sum_dz_yc);
void grad_input_cpu(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                    const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                    ActParams act, const at::Tensor& alpha, const at::Tensor& beta,
                    const at::Tensor& gamma, at::Tensor& grad_y);

// The same four passes on CUDA tensors (norm_act_cuda.cu; built with FUSEGEN_WITH_CUDA only).
void stats_cuda(const at::Tensor& y, const Layout& l, at::Tensor& mean, at::Tensor& var);
void apply_cuda(const at::Tensor& y, const Layout& l, const at::Tensor& scale,
                const at::Tensor& shift, ActParams act, at::Tensor& out);
void grad_sums_cuda(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                    const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                    ActParams act, at::Tensor& sum_dz, at::Tensor& sum_dz_yc);
void grad_input_cuda(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                     const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                     ActParams act, const at::Tensor& alpha, const at::Tensor& beta,
                     const at::Tensor& gamma, at::Tensor& grad_y);

}  // namespace fusegen::conv_norm_act
