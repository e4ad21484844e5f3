#pragma once
// The per-(group, channel) arithmetic between the passes of norm_act.h: from statistics and
// affine parameters to the passes' coefficients, the parameter gradients and the running
// statistics. Each step is a functor over one entry; the CPU runs it in a loop
// (norm_act_cpu.cpp) and the CUDA build with one thread per entry (norm_act_cuda.cu), so both
// devices compute the same formulas, and the front (norm_act.cpp) makes no small tensor ops.
//
// All vectors are contiguous, (G, C) or (C,), in the accumulation dtype acc_t unless noted; an
// absent affine weight (bias) is a null pointer and reads as 1 (0).

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>

namespace fusegen::norm_act {

// Forward, entry i = g * C + c: invstd = 1 / sqrt(var + eps); out = act(scale * y + shift) with
// scale = weight * invstd and shift = bias - mean * scale. `var` may alias `invstd`.
template <typename acc_t>
struct ForwardCoefficients {
  int64_t channels;
  const acc_t* mean;
  const acc_t* var;
  const acc_t* weight;  // (C,) or null
  const acc_t* bias;    // (C,) or null
  acc_t eps;
  acc_t* invstd;
  acc_t* scale;
  acc_t* shift;

  C10_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t c = i % channels;
    const acc_t inv = acc_t(1) / std::sqrt(var[i] + eps);
    const acc_t s = (weight != nullptr ? weight[c] : acc_t(1)) * inv;
    invstd[i] = inv;
    scale[i] = s;
    shift[i] = (bias != nullptr ? bias[c] : acc_t(0)) - mean[i] * s;
  }
};

// Backward, entry i = g * C + c, from the saved mean and invstd and the backward sums:
//   scale, shift  as in the forward (to recompute z = scale * y + shift)
//   alpha = scale
//   beta  = -scale * invstd^2 * sum(dz * (y - mean)) / count   (batch statistics only, else 0)
//   gamma = -scale * sum(dz) / count                           (batch statistics only, else 0)
// so that grad_y = alpha * dz + beta * (y - mean) + gamma. sum_dz, sum_dz_yc are null when the
// backward only needs scale and shift (eval-mode statistics).
template <typename acc_t>
struct BackwardCoefficients {
  int64_t channels;
  const acc_t* mean;
  const acc_t* invstd;
  const acc_t* weight;  // (C,) or null
  const acc_t* bias;    // (C,) or null
  const acc_t* sum_dz;
  const acc_t* sum_dz_yc;
  acc_t inv_count;
  acc_t* scale;
  acc_t* shift;
  acc_t* beta;
  acc_t* gamma;

  C10_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t c = i % channels;
    const acc_t inv = invstd[i];
    const acc_t s = (weight != nullptr ? weight[c] : acc_t(1)) * inv;
    scale[i] = s;
    shift[i] = (bias != nullptr ? bias[c] : acc_t(0)) - mean[i] * s;
    if (beta == nullptr) return;
    if (sum_dz == nullptr) {
      beta[i] = acc_t(0);
      gamma[i] = acc_t(0);
    } else {
      beta[i] = -s * inv * inv * sum_dz_yc[i] * inv_count;
      gamma[i] = -s * sum_dz[i] * inv_count;
    }
  }
};

// Parameter gradients, entry c: grad_weight = sum_g sum_dz_yc * invstd, grad_bias = sum_g sum_dz
// (in a fixed order over the groups). Either output may be null.
template <typename acc_t>
struct ParameterGradients {
  int64_t groups;
  int64_t channels;
  const acc_t* invstd;
  const acc_t* sum_dz;
  const acc_t* sum_dz_yc;
  acc_t* grad_weight;
  acc_t* grad_bias;

  C10_HOST_DEVICE void operator()(int64_t c) const {
    acc_t gw = 0, gb = 0;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t i = g * channels + c;
      gw += sum_dz_yc[i] * invstd[i];
      gb += sum_dz[i];
    }
    if (grad_weight != nullptr) grad_weight[c] = gw;
    if (grad_bias != nullptr) grad_bias[c] = gb;
  }
};

// Running statistics, entry c, as torch's BatchNorm (G = 1) and InstanceNorm (G = N: the
// per-sample updates averaged over the samples) do:
//   running_mean = (1 - momentum) * running_mean + momentum * mean_g(mean)
//   running_var  = (1 - momentum) * running_var  + momentum * mean_g(var * count / (count - 1))
// with the biased variance recovered from the saved invstd = 1 / sqrt(var + eps). In double;
// run_t is the buffers' dtype.
template <typename acc_t, typename run_t>
struct RunningStatsUpdate {
  int64_t groups;
  int64_t channels;
  const acc_t* save_mean;
  const acc_t* save_invstd;
  double momentum;
  double eps;
  double unbias;  // count / (count - 1)
  run_t* running_mean;
  run_t* running_var;

  C10_HOST_DEVICE void operator()(int64_t c) const {
    double mean = 0, var = 0;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t i = g * channels + c;
      const double inv = static_cast<double>(save_invstd[i]);
      mean += static_cast<double>(save_mean[i]);
      var += (1.0 / (inv * inv) - eps) * unbias;
    }
    const double n = static_cast<double>(groups);
    running_mean[c] = static_cast<run_t>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                         momentum * (mean / n));
    running_var[c] = static_cast<run_t>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                        momentum * (var / n));
  }
};

// ---- the steps on tensors, for a device's `Run`: run(n, f) calls f(i) for i in [0, n) ----------

template <typename T>
const T* const_or_null(const at::Tensor& t) { return t.defined() ? t.const_data_ptr<T>() : nullptr; }
template <typename T>
T* mutable_or_null(at::Tensor& t) { return t.defined() ? t.mutable_data_ptr<T>() : nullptr; }

// weight, bias: (C,) or undefined, in the statistics' dtype; the rest (G, C).
template <typename Run>
void forward_coefficients(const at::Tensor& mean, const at::Tensor& var, const at::Tensor& weight,
                          const at::Tensor& bias, double eps, at::Tensor& invstd,
                          at::Tensor& scale, at::Tensor& shift) {
  AT_DISPATCH_FLOATING_TYPES(mean.scalar_type(), "fusegen_norm_act_forward_coefficients", [&] {
    Run{}(mean.numel(), ForwardCoefficients<scalar_t>{
        mean.size(-1), mean.const_data_ptr<scalar_t>(), var.const_data_ptr<scalar_t>(),
        const_or_null<scalar_t>(weight), const_or_null<scalar_t>(bias), static_cast<scalar_t>(eps),
        invstd.mutable_data_ptr<scalar_t>(), scale.mutable_data_ptr<scalar_t>(),
        shift.mutable_data_ptr<scalar_t>()});
  });
}

// sum_dz, sum_dz_yc undefined: beta = gamma = 0; beta, gamma undefined: scale and shift only.
template <typename Run>
void backward_coefficients(const at::Tensor& mean, const at::Tensor& invstd, const at::Tensor& weight,
                           const at::Tensor& bias, const at::Tensor& sum_dz,
                           const at::Tensor& sum_dz_yc, double count, at::Tensor& scale,
                           at::Tensor& shift, at::Tensor& beta, at::Tensor& gamma) {
  AT_DISPATCH_FLOATING_TYPES(mean.scalar_type(), "fusegen_norm_act_backward_coefficients", [&] {
    Run{}(mean.numel(), BackwardCoefficients<scalar_t>{
        mean.size(-1), mean.const_data_ptr<scalar_t>(), invstd.const_data_ptr<scalar_t>(),
        const_or_null<scalar_t>(weight), const_or_null<scalar_t>(bias),
        const_or_null<scalar_t>(sum_dz), const_or_null<scalar_t>(sum_dz_yc),
        static_cast<scalar_t>(1.0 / count), scale.mutable_data_ptr<scalar_t>(),
        shift.mutable_data_ptr<scalar_t>(), mutable_or_null<scalar_t>(beta),
        mutable_or_null<scalar_t>(gamma)});
  });
}

// grad_weight, grad_bias: (C,) or undefined.
template <typename Run>
void parameter_gradients(const at::Tensor& invstd, const at::Tensor& sum_dz,
                         const at::Tensor& sum_dz_yc, at::Tensor& grad_weight, at::Tensor& grad_bias) {
  AT_DISPATCH_FLOATING_TYPES(invstd.scalar_type(), "fusegen_norm_act_parameter_gradients", [&] {
    Run{}(invstd.size(-1), ParameterGradients<scalar_t>{
        invstd.size(0), invstd.size(-1), invstd.const_data_ptr<scalar_t>(),
        sum_dz.const_data_ptr<scalar_t>(), sum_dz_yc.const_data_ptr<scalar_t>(),
        mutable_or_null<scalar_t>(grad_weight), mutable_or_null<scalar_t>(grad_bias)});
  });
}

// save_mean, save_invstd: (G, C) in the accumulation dtype; running_mean, running_var: (C,)
// contiguous, any float dtype.
template <typename Run>
void update_running_stats(const at::Tensor& save_mean, const at::Tensor& save_invstd,
                          double momentum, double eps, int64_t count, at::Tensor& running_mean,
                          at::Tensor& running_var) {
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  AT_DISPATCH_FLOATING_TYPES(save_mean.scalar_type(), "fusegen_norm_act_update_running_stats", [&] {
    using acc_t = scalar_t;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, running_mean.scalar_type(),
                                    "fusegen_norm_act_update_running_stats", [&] {
      Run{}(running_mean.numel(), RunningStatsUpdate<acc_t, scalar_t>{
          save_mean.size(0), save_mean.size(1), save_mean.const_data_ptr<acc_t>(),
          save_invstd.const_data_ptr<acc_t>(), momentum, eps, unbias,
          running_mean.mutable_data_ptr<scalar_t>(), running_var.mutable_data_ptr<scalar_t>()});
    });
  });
}

}  // namespace fusegen::norm_act
