// CUDA kernels of the partial convolution's rescale + bias + activation. One block per plane
// (sample n, channel c) of S values: the forward is elementwise; the backward writes grad_y and
// reduces the plane's bias gradient in the same pass (warp shuffles, then one value a warp in
// shared memory), so the (N, C) sums need no atomics and the result is deterministic.

#include "ops/partial_conv/partial_conv.h"
#include "ops/partial_conv/partial_conv_math.h"

#include "common/activation.h"
#include "common/device_op.h"
#include "common/dispatch.h"

#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <limits>

namespace fusegen::partial_conv {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

template <typename scalar_t, Activation A>
__global__ void __launch_bounds__(kThreads)
forward_kernel(const scalar_t* __restrict__ y, const at::opmath_type<scalar_t>* __restrict__ count,
               const at::opmath_type<scalar_t>* __restrict__ bias, int64_t C, int64_t S,
               bool count_per_channel, at::opmath_type<scalar_t> window,
               at::opmath_type<scalar_t> slope, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t plane = blockIdx.x;
  const acc_t b = bias[plane % C];
  const acc_t* cnt = count + (count_per_channel ? plane : plane / C) * S;
  for (int64_t s = threadIdx.x; s < S; s += kThreads) {
    const acc_t z = rescale(static_cast<acc_t>(y[plane * S + s]), window_ratio(cnt[s], window), b);
    out[plane * S + s] = static_cast<scalar_t>(activate<A>(z, slope));
  }
}

template <typename scalar_t, Activation A>
__global__ void __launch_bounds__(kThreads)
backward_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ y,
                const at::opmath_type<scalar_t>* __restrict__ count,
                const at::opmath_type<scalar_t>* __restrict__ bias, int64_t C, int64_t S,
                bool count_per_channel, at::opmath_type<scalar_t> window,
                at::opmath_type<scalar_t> slope, scalar_t* __restrict__ grad_y,
                at::opmath_type<scalar_t>* __restrict__ bias_sums) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t warp_sums[kWarps];
  const int64_t plane = blockIdx.x;
  const acc_t b = bias[plane % C];
  const acc_t* cnt = count + (count_per_channel ? plane : plane / C) * S;
  acc_t sum = 0;
  for (int64_t s = threadIdx.x; s < S; s += kThreads) {
    const int64_t i = plane * S + s;
    const acc_t ratio = window_ratio(cnt[s], window);
    const acc_t z = rescale(static_cast<acc_t>(y[i]), ratio, b);
    const acc_t dz = chain_grad<A>(z, static_cast<acc_t>(g[i]), slope);
    grad_y[i] = static_cast<scalar_t>(rescale_grad(dz, ratio));
    sum += bias_grad_term(dz, ratio);
  }
  if (bias_sums == nullptr) return;
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    acc_t total = 0;
    for (int w = 0; w < kWarps; ++w) total += warp_sums[w];
    bias_sums[plane] = total;
  }
}

unsigned planes_grid(const Problem& p) {
  const int64_t planes = p.N * p.C;
  TORCH_CHECK_VALUE(planes <= std::numeric_limits<int32_t>::max(), "input has ", planes,
                    " (sample, channel) planes, more than the CUDA grid holds");
  return static_cast<unsigned>(planes);
}

void forward_cuda(const at::Tensor& y, const at::Tensor& count, const at::Tensor& bias,
                  const Problem& p, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(y.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen::partial_bias_act (CUDA)", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    dispatch_activation(p.act.kind, [&](auto tag) {
      forward_kernel<scalar_t, decltype(tag)::value><<<planes_grid(p), kThreads, 0, stream>>>(
          y.const_data_ptr<scalar_t>(), count.const_data_ptr<acc_t>(), bias.const_data_ptr<acc_t>(),
          p.C, p.S, p.count_per_channel, static_cast<acc_t>(p.window),
          static_cast<acc_t>(p.act.negative_slope), out.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void backward_cuda(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& count,
                   const at::Tensor& bias, const Problem& p, at::Tensor& grad_y,
                   at::Tensor& bias_sums) {
  const c10::cuda::CUDAGuard guard(y.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen::partial_bias_act_backward (CUDA)", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    acc_t* sums = bias_sums.defined() ? bias_sums.mutable_data_ptr<acc_t>() : nullptr;
    dispatch_activation(p.act.kind, [&](auto tag) {
      backward_kernel<scalar_t, decltype(tag)::value><<<planes_grid(p), kThreads, 0, stream>>>(
          grad.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(),
          count.const_data_ptr<acc_t>(), bias.const_data_ptr<acc_t>(), p.C, p.S,
          p.count_per_channel, static_cast<acc_t>(p.window),
          static_cast<acc_t>(p.act.negative_slope), grad_y.mutable_data_ptr<scalar_t>(), sums);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace

const Kernels cuda_kernels{c10::DeviceType::CUDA, &forward_cuda, &backward_cuda};

TORCH_LIBRARY_IMPL(fusegen, CUDA, m) {
  m.impl("partial_bias_act", &OnDevice<Kernels, &cuda_kernels, &partial_bias_act>::call);
  m.impl("partial_bias_act_backward",
         &OnDevice<Kernels, &cuda_kernels, &partial_bias_act_backward>::call);
}

}  // namespace fusegen::partial_conv
