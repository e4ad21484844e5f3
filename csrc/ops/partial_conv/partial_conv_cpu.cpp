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
#include <vector>

namespace fusegen::partial_conv {
namespace {

// Accumulators of the bias gradient's per-plane sums (backward_planes).
constexpr int kLanes = 16;

// Planes per task: about 32k values a task, at least one plane.
int64_t grain_of(int64_t S) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(S, 1)); }

// The ratios of one mask plane (window_ratio), recomputed only when the plane changes: the C
// channels of a sample share one plane when the mask has one channel.
template <typename acc_t>
class RatioPlane {
 public:
  RatioPlane(const acc_t* count, int64_t S, acc_t window) : count_(count), S_(S), window_(window), ratio_(S) {}

  const acc_t* of(int64_t count_plane) {
    if (count_plane != current_) {
      const acc_t* c = count_ + count_plane * S_;
      for (int64_t s = 0; s < S_; ++s) ratio_[s] = window_ratio(c[s], window_);
      current_ = count_plane;
    }
    return ratio_.data();
  }

 private:
  const acc_t* count_;
  int64_t S_;
  acc_t window_;
  std::vector<acc_t> ratio_;
  int64_t current_ = -1;
};

// Branch-free twins of rescale, rescale_grad and bias_grad_term (partial_conv_math.h) for
// the vectorized loops: GCC keeps float comparisons as branches.
template <typename acc_t>
inline acc_t rescale_cpu(acc_t y, acc_t ratio, acc_t bias) {
  return select_positive(ratio, y * ratio + bias, acc_t(0));
}
template <typename acc_t>
inline acc_t rescale_grad_cpu(acc_t dz, acc_t ratio) {
  return select_positive(ratio, dz * ratio, acc_t(0));
}
template <typename acc_t>
inline acc_t bias_grad_term_cpu(acc_t dz, acc_t ratio) {
  return select_positive(ratio, dz, acc_t(0));
}

// Calls body(plane, ratio, bias) for every (sample, channel) plane of S values, the threads
// splitting the planes; ratio points at the plane's S ratios.
template <typename acc_t, typename Body>
void for_each_plane(const Problem& p, const acc_t* count, const acc_t* bias, Body&& body) {
  at::parallel_for(0, p.N * p.C, grain_of(p.S), [&](int64_t begin, int64_t end) {
    RatioPlane<acc_t> ratios(count, p.S, static_cast<acc_t>(p.window));
    for (int64_t plane = begin; plane < end; ++plane) {
      body(plane, ratios.of(p.count_per_channel ? plane : plane / p.C), bias[plane % p.C]);
    }
  });
}

template <typename scalar_t, Activation A>
void forward_planes(const at::Tensor& y_t, const at::Tensor& count_t, const at::Tensor& bias_t,
                    const Problem& p, at::Tensor& out_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  scalar_t* out = out_t.mutable_data_ptr<scalar_t>();
  const acc_t slope = static_cast<acc_t>(p.act.negative_slope);
  const int64_t S = p.S;
  for_each_plane(p, count_t.const_data_ptr<acc_t>(), bias_t.const_data_ptr<acc_t>(),
                 [&](int64_t plane, const acc_t* __restrict__ ratio, acc_t b) {
    const scalar_t* __restrict__ yp = y + plane * S;
    scalar_t* __restrict__ op = out + plane * S;
#pragma omp simd
    for (int64_t s = 0; s < S; ++s) {
      const acc_t z = rescale_cpu(to_acc<acc_t>(yp[s]), ratio[s], b);
      op[s] = to_storage<scalar_t>(activate_cpu<A>(z, slope));
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
  scalar_t* grad_y = grad_y_t.mutable_data_ptr<scalar_t>();
  acc_t* bias_sums = bias_sums_t.defined() ? bias_sums_t.mutable_data_ptr<acc_t>() : nullptr;
  const acc_t slope = static_cast<acc_t>(p.act.negative_slope);
  const int64_t S = p.S;
  for_each_plane(p, count_t.const_data_ptr<acc_t>(), bias_t.const_data_ptr<acc_t>(),
                 [&](int64_t plane, const acc_t* __restrict__ ratio, acc_t b) {
    const scalar_t* __restrict__ yp = y + plane * S;
    const scalar_t* __restrict__ gp = g + plane * S;
    scalar_t* __restrict__ gyp = grad_y + plane * S;
    // d(loss)/dz at s, written through as d(loss)/dy; returns the bias's share of it.
    auto grad_at = [&](int64_t s) {
      const acc_t z = rescale_cpu(to_acc<acc_t>(yp[s]), ratio[s], b);
      const acc_t dz = chain_grad_cpu<A>(z, to_acc<acc_t>(gp[s]), slope);
      gyp[s] = to_storage<scalar_t>(rescale_grad_cpu(dz, ratio[s]));
      return bias_grad_term_cpu(dz, ratio[s]);
    };
    if (bias_sums == nullptr) {
      for (int64_t s = 0; s < S; ++s) grad_at(s);
      return;
    }
    // The bias sum in the same pass, in kLanes double accumulators that the inner loop keeps
    // in vector registers: a fixed order of additions (deterministic), vectorized.
    double lanes[kLanes] = {};
    int64_t s = 0;
    for (; s + kLanes <= S; s += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += static_cast<double>(grad_at(s + l));
    }
    double sum = 0;
    for (; s < S; ++s) sum += static_cast<double>(grad_at(s));
    for (int l = 0; l < kLanes; ++l) sum += lanes[l];
    bias_sums[plane] = static_cast<acc_t>(sum);
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
