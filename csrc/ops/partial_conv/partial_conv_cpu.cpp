// CPU kernels of the partial convolution's rescale + bias + activation: the N * C planes are
// split across threads; each plane's loop is one vectorizable pass (partial_conv_math.h for
// the rescale, activation_cpu.h for the activation).

#include "ops/partial_conv/partial_conv.h"
#include "ops/partial_conv/partial_conv_math.h"

#include "common/activation_cpu.h"
#include "common/device_op.h"
#include "common/dispatch.h"
#include "common/float_convert.h"

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

namespace fusegen::partial_conv {
namespace {

// Planes per task: about 32k values a task, at least one plane.
int64_t grain_of(int64_t S) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(S, 1)); }

template <typename scalar_t, Activation A>
void forward_planes(const at::Tensor& y_t, const at::Tensor& count_t, const at::Tensor& bias_t,
                    const Problem& p, at::Tensor& out_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const acc_t* count = count_t.const_data_ptr<acc_t>();
  const acc_t* bias = bias_t.const_data_ptr<acc_t>();
  scalar_t* out = out_t.mutable_data_ptr<scalar_t>();
  const acc_t window = static_cast<acc_t>(p.window), slope = static_cast<acc_t>(p.act.negative_slope);
  const int64_t S = p.S, C = p.C;
  at::parallel_for(0, p.N * C, grain_of(S), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const acc_t b = bias[plane % C];
      const acc_t* cnt = count + (p.count_per_channel ? plane : plane / C) * S;
      const scalar_t* yp = y + plane * S;
      scalar_t* op = out + plane * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) {
        const acc_t z = rescale(to_acc<acc_t>(yp[s]), cnt[s], window, b);
        op[s] = to_storage<scalar_t>(activate_cpu<A>(z, slope));
      }
    }
  });
}

template <typename scalar_t, Activation A>
void backward_planes(const at::Tensor& g_t, const at::Tensor& y_t, const at::Tensor& count_t,
                     const at::Tensor& bias_t, const Problem& p, at::Tensor& grad_y_t,
                     at::Tensor& bias_sums_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* g = g_t.const_data_ptr<scalar_t>();
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const acc_t* count = count_t.const_data_ptr<acc_t>();
  const acc_t* bias = bias_t.const_data_ptr<acc_t>();
  scalar_t* grad_y = grad_y_t.mutable_data_ptr<scalar_t>();
  acc_t* bias_sums = bias_sums_t.defined() ? bias_sums_t.mutable_data_ptr<acc_t>() : nullptr;
  const acc_t window = static_cast<acc_t>(p.window), slope = static_cast<acc_t>(p.act.negative_slope);
  const int64_t S = p.S, C = p.C;
  at::parallel_for(0, p.N * C, grain_of(S), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const acc_t b = bias[plane % C];
      const acc_t* cnt = count + (p.count_per_channel ? plane : plane / C) * S;
      const scalar_t* yp = y + plane * S;
      const scalar_t* gp = g + plane * S;
      scalar_t* gyp = grad_y + plane * S;
      acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t s = 0; s < S; ++s) {
        const acc_t z = rescale(to_acc<acc_t>(yp[s]), cnt[s], window, b);
        const acc_t dz = chain_grad_cpu<A>(z, to_acc<acc_t>(gp[s]), slope);
        gyp[s] = to_storage<scalar_t>(rescale_grad(dz, cnt[s], window));
        sum += bias_grad_term(dz, cnt[s]);
      }
      if (bias_sums != nullptr) bias_sums[plane] = sum;
    }
  });
}

void forward_cpu(const at::Tensor& y, const at::Tensor& count, const at::Tensor& bias,
                 const Problem& p, at::Tensor& out) {
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen::partial_bias_act (CPU)", [&] {
    dispatch_activation(p.act.kind, [&](auto tag) {
      forward_planes<scalar_t, decltype(tag)::value>(y, count, bias, p, out);
    });
  });
}

void backward_cpu(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& count,
                  const at::Tensor& bias, const Problem& p, at::Tensor& grad_y,
                  at::Tensor& bias_sums) {
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen::partial_bias_act_backward (CPU)", [&] {
    dispatch_activation(p.act.kind, [&](auto tag) {
      backward_planes<scalar_t, decltype(tag)::value>(grad, y, count, bias, p, grad_y, bias_sums);
    });
  });
}

}  // namespace

const Kernels cpu_kernels{c10::DeviceType::CPU, &forward_cpu, &backward_cpu};

TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
  m.impl("partial_bias_act", &OnDevice<Kernels, &cpu_kernels, &partial_bias_act>::call);
  m.impl("partial_bias_act_backward",
         &OnDevice<Kernels, &cpu_kernels, &partial_bias_act_backward>::call);
}

}  // namespace fusegen::partial_conv
