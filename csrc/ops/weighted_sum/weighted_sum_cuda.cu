// CUDA kernels for the fused weighted sum.
//
// Forward: a grid-stride loop over 16-byte vectors of the output; each vector reads the K
// inputs once and accumulates in float (double for float64).
// Backward: one block per work item (kBlockElements elements of one sample, as on the CPU, so
// the per-item partial dot products have the layout the host reduces). Each thread keeps its
// slice of the incoming gradient in registers, then for every input writes w_k * grad and/or
// reduces <grad, x_k> across the block.
//
// Input pointers travel inside the kernel's parameters, kInlinePointers at a time: more inputs
// take several launches (the forward carries its float sums between them in a scratch buffer),
// so no pointer table is copied from the host and the operator can be captured in a CUDA graph.

#include "ops/weighted_sum/weighted_sum.h"

#include "common/checks.h"
#include "common/cuda_device.cuh"
#include "common/cuda_vector.cuh"
#include "common/device_op.h"
#include "common/dispatch.h"

#include <ATen/OpMathType.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace fusegen::weighted_sum {
namespace {

constexpr int kInlinePointers = 64;  // two tables of 64 pointers stay well inside 4 KiB of params
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kElementsPerThread = kBlockElements / kThreads;
static_assert(kBlockElements % kThreads == 0, "a block must tile a work item exactly");
constexpr int kGroup = 32;  // inputs whose dot products are reduced between two block barriers

template <typename T>
struct InlineTable {
  T ptr[kInlinePointers];
  __device__ __forceinline__ T operator[](int k) const { return ptr[k]; }
};

template <typename acc_t>
__device__ __forceinline__ acc_t weight_at(const acc_t* w, bool per_sample, int64_t N, int k, int64_t n) {
  return per_sample ? w[k * N + n] : w[k];
}

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// ---- forward ---------------------------------------------------------------------------

// One chunk of at most kInlinePointers inputs. `carry` (numel sums in acc_t) links the chunks:
// read when `carry_in`, written instead of `out` when `carry_out`.
template <typename scalar_t, int VEC>
__global__ void forward_kernel(InlineTable<const scalar_t*> xs, int K,
                               const at::opmath_type<scalar_t>* __restrict__ w, bool per_sample,
                               int64_t N, int64_t M, int64_t numel, scalar_t* __restrict__ out,
                               at::opmath_type<scalar_t>* __restrict__ carry, bool carry_in,
                               bool carry_out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_vectors = numel / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < num_vectors;
       v += stride) {
    const int64_t offset = v * VEC;
    const int64_t n = per_sample ? offset / M : 0;  // M % VEC == 0 when VEC > 1 and per_sample
    acc_t acc[VEC];
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[i] = carry_in ? carry[offset + i] : acc_t(0);
    for (int k = 0; k < K; ++k) {
      const acc_t wk = weight_at(w, per_sample, N, k, n);
      const Vector<scalar_t, VEC> x = load<scalar_t, VEC>(xs[k] + offset);
#pragma unroll
      for (int i = 0; i < VEC; ++i) acc[i] += wk * static_cast<acc_t>(x.v[i]);
    }
    if (carry_out) {
#pragma unroll
      for (int i = 0; i < VEC; ++i) carry[offset + i] = acc[i];
    } else {
      Vector<scalar_t, VEC> y;
#pragma unroll
      for (int i = 0; i < VEC; ++i) y.v[i] = static_cast<scalar_t>(acc[i]);
      store<scalar_t, VEC>(out + offset, y);
    }
  }
  // The tail that does not fill a vector (only when numel % VEC != 0).
  if (blockIdx.x == 0 && threadIdx.x < numel - num_vectors * VEC) {
    const int64_t offset = num_vectors * VEC + threadIdx.x;
    const int64_t n = per_sample ? offset / M : 0;
    acc_t acc = carry_in ? carry[offset] : acc_t(0);
    for (int k = 0; k < K; ++k) acc += weight_at(w, per_sample, N, k, n) * static_cast<acc_t>(xs[k][offset]);
    if (carry_out) {
      carry[offset] = acc;
    } else {
      out[offset] = static_cast<scalar_t>(acc);
    }
  }
}

// ---- backward --------------------------------------------------------------------------

// One chunk of at most kInlinePointers inputs; `partials` points at the chunk's first column
// of the (items, partials_stride) matrix of dot products.
template <typename scalar_t, int VEC>
__global__ void __launch_bounds__(kThreads)
backward_kernel(const scalar_t* __restrict__ grad, InlineTable<const scalar_t*> xs,
                InlineTable<scalar_t*> gxs, int K, const at::opmath_type<scalar_t>* __restrict__ w,
                bool per_sample, int64_t N, int64_t M, int64_t blocks_per_sample, bool want_inputs,
                at::opmath_type<scalar_t>* __restrict__ partials, int64_t partials_stride) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int kVectorsPerThread = kElementsPerThread / VEC;
  __shared__ acc_t warp_dots[kGroup][kWarps];

  const int64_t item = blockIdx.x;
  const int64_t n = item / blocks_per_sample;
  const int64_t offset_in_sample = (item % blocks_per_sample) * kBlockElements;
  const int64_t start = n * M + offset_in_sample;
  const int64_t length = M - offset_in_sample < kBlockElements ? M - offset_in_sample : kBlockElements;

  // This thread's slice of the item: vectors threadIdx.x + j * kThreads.
  acc_t g[kVectorsPerThread][VEC];
  bool valid[kVectorsPerThread];
#pragma unroll
  for (int j = 0; j < kVectorsPerThread; ++j) {
    const int64_t e = static_cast<int64_t>(threadIdx.x + j * kThreads) * VEC;
    valid[j] = e + VEC <= length;
#pragma unroll
    for (int i = 0; i < VEC; ++i) g[j][i] = 0;
    if (valid[j]) {
      const Vector<scalar_t, VEC> gv = load<scalar_t, VEC>(grad + start + e);
#pragma unroll
      for (int i = 0; i < VEC; ++i) g[j][i] = static_cast<acc_t>(gv.v[i]);
    } else {
      for (int i = 0; i < VEC && e + i < length; ++i) g[j][i] = static_cast<acc_t>(grad[start + e + i]);
    }
  }

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  for (int k = 0; k < K; ++k) {
    if (want_inputs) {
      const acc_t wk = weight_at(w, per_sample, N, k, n);
      scalar_t* gx = gxs[k] + start;
#pragma unroll
      for (int j = 0; j < kVectorsPerThread; ++j) {
        const int64_t e = static_cast<int64_t>(threadIdx.x + j * kThreads) * VEC;
        if (valid[j]) {
          Vector<scalar_t, VEC> out;
#pragma unroll
          for (int i = 0; i < VEC; ++i) out.v[i] = static_cast<scalar_t>(wk * g[j][i]);
          store<scalar_t, VEC>(gx + e, out);
        } else {
          for (int i = 0; i < VEC && e + i < length; ++i) gx[e + i] = static_cast<scalar_t>(wk * g[j][i]);
        }
      }
    }
    if (partials != nullptr) {
      const scalar_t* x = xs[k] + start;
      acc_t dot = 0;
#pragma unroll
      for (int j = 0; j < kVectorsPerThread; ++j) {
        const int64_t e = static_cast<int64_t>(threadIdx.x + j * kThreads) * VEC;
        if (valid[j]) {
          const Vector<scalar_t, VEC> xv = load<scalar_t, VEC>(x + e);
#pragma unroll
          for (int i = 0; i < VEC; ++i) dot += g[j][i] * static_cast<acc_t>(xv.v[i]);
        } else {
          for (int i = 0; i < VEC && e + i < length; ++i) dot += g[j][i] * static_cast<acc_t>(x[e + i]);
        }
      }
      dot = warp_sum(dot);
      if (lane == 0) warp_dots[k % kGroup][warp] = dot;
      // Every kGroup inputs (and after the last) the block folds the warps' sums.
      if (k % kGroup == kGroup - 1 || k == K - 1) {
        __syncthreads();
        const int group_base = k - k % kGroup;
        if (threadIdx.x <= k - group_base) {
          acc_t total = 0;
#pragma unroll
          for (int i = 0; i < kWarps; ++i) total += warp_dots[threadIdx.x][i];
          partials[item * partials_stride + group_base + threadIdx.x] = total;
        }
        __syncthreads();
      }
    }
  }
}

// ---- host side -------------------------------------------------------------------------

bool aligned(const void* p, int bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

// Pointers [begin, end) of `ptrs` as one launch's table.
template <typename T>
InlineTable<T> inline_table(const std::vector<T>& ptrs, int begin, int end) {
  InlineTable<T> table{};
  for (int k = begin; k < end; ++k) table.ptr[k - begin] = ptrs[k];
  return table;
}

int multiprocessors(const at::Device& device) {
  return device_properties(device.index()).multiProcessorCount;
}

int forward_grid(int64_t work, const at::Device& device) {
  const int64_t blocks = ceil_div(work, kThreads);
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t{multiprocessors(device)} * 8)));
}

template <typename scalar_t>
void launch_forward(const Problem& p, at::Tensor& out) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int VEC = 16 / sizeof(scalar_t);
  std::vector<const scalar_t*> xs;
  bool vectorizable = aligned(out.const_data_ptr(), 16) && (!p.per_sample || p.sample_size % VEC == 0);
  for (const at::Tensor& x : p.inputs) {
    xs.push_back(x.const_data_ptr<scalar_t>());
    vectorizable = vectorizable && aligned(xs.back(), 16);
  }
  const int64_t numel = out.numel();
  const int K = static_cast<int>(p.num_inputs);
  const acc_t* w = p.weights.const_data_ptr<acc_t>();
  scalar_t* y = out.mutable_data_ptr<scalar_t>();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t N = p.num_samples, M = p.sample_size;
  // Stream-ordered scratch from the caching allocator: no host synchronisation.
  const at::Tensor carry = K > kInlinePointers
                               ? at::empty({numel}, out.options().dtype(c10::CppTypeToScalarType<acc_t>::value))
                               : at::Tensor();
  acc_t* carry_ptr = carry.defined() ? carry.mutable_data_ptr<acc_t>() : nullptr;
  const int grid = forward_grid(vectorizable ? numel / VEC : numel, out.device());

  for (int begin = 0; begin < K; begin += kInlinePointers) {
    const int end = std::min(K, begin + kInlinePointers);
    const auto table = inline_table(xs, begin, end);
    const acc_t* w_chunk = w + (p.per_sample ? begin * N : begin);
    const bool carry_in = begin > 0, carry_out = end < K;
    if (vectorizable) {
      forward_kernel<scalar_t, VEC><<<grid, kThreads, 0, stream>>>(
          table, end - begin, w_chunk, p.per_sample, N, M, numel, y, carry_ptr, carry_in, carry_out);
    } else {
      forward_kernel<scalar_t, 1><<<grid, kThreads, 0, stream>>>(
          table, end - begin, w_chunk, p.per_sample, N, M, numel, y, carry_ptr, carry_in, carry_out);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <typename scalar_t>
void launch_backward(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                     at::Tensor& partials) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int VEC = 16 / sizeof(scalar_t);
  const int K = static_cast<int>(p.num_inputs);
  const bool want_inputs = !grad_inputs.empty();
  const bool want_weights = partials.defined();

  bool vectorizable = aligned(grad.const_data_ptr(), 16) && p.sample_size % VEC == 0;
  // Unused tables hold the gradient's pointer: never dereferenced, but keeps them well-formed.
  std::vector<const scalar_t*> xs(K, grad.const_data_ptr<scalar_t>());
  std::vector<scalar_t*> gxs(K, nullptr);
  for (int k = 0; k < K; ++k) {
    if (want_weights) {
      xs[k] = p.inputs[k].const_data_ptr<scalar_t>();
      vectorizable = vectorizable && aligned(xs[k], 16);
    }
    if (want_inputs) {
      gxs[k] = grad_inputs[k].mutable_data_ptr<scalar_t>();
      vectorizable = vectorizable && aligned(gxs[k], 16);
    }
  }
  const int64_t items = p.num_items();
  TORCH_CHECK(items <= std::numeric_limits<int32_t>::max(), "fusegen::weighted_sum_backward: ",
              items, " work items exceed the CUDA grid");
  const acc_t* w = p.weights.const_data_ptr<acc_t>();
  acc_t* dots = want_weights ? partials.mutable_data_ptr<acc_t>() : nullptr;
  const scalar_t* g = grad.const_data_ptr<scalar_t>();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t N = p.num_samples, M = p.sample_size, bps = p.blocks_per_sample();

  for (int begin = 0; begin < K; begin += kInlinePointers) {
    const int end = std::min(K, begin + kInlinePointers);
    const auto x_table = inline_table(xs, begin, end);
    const auto g_table = inline_table(gxs, begin, end);
    const acc_t* w_chunk = w + (p.per_sample ? begin * N : begin);
    acc_t* dots_chunk = dots != nullptr ? dots + begin : nullptr;
    if (vectorizable) {
      backward_kernel<scalar_t, VEC><<<static_cast<unsigned>(items), kThreads, 0, stream>>>(
          g, x_table, g_table, end - begin, w_chunk, p.per_sample, N, M, bps, want_inputs,
          dots_chunk, K);
    } else {
      backward_kernel<scalar_t, 1><<<static_cast<unsigned>(items), kThreads, 0, stream>>>(
          g, x_table, g_table, end - begin, w_chunk, p.per_sample, N, M, bps, want_inputs,
          dots_chunk, K);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

void forward_cuda(const Problem& p, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(out.device());
  FUSEGEN_DISPATCH_FLOATS(out.scalar_type(), "fusegen::weighted_sum (CUDA)",
                          [&] { launch_forward<scalar_t>(p, out); });
}

void backward_cuda(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                   at::Tensor& partials) {
  const c10::cuda::CUDAGuard guard(grad.device());
  FUSEGEN_DISPATCH_FLOATS(grad.scalar_type(), "fusegen::weighted_sum_backward (CUDA)", [&] {
    launch_backward<scalar_t>(p, grad, grad_inputs, partials);
  });
}

}  // namespace

const Kernels cuda_kernels{c10::DeviceType::CUDA, &forward_cuda, &backward_cuda};

TORCH_LIBRARY_IMPL(fusegen, CUDA, m) {
  m.impl("weighted_sum", &OnDevice<Kernels, &cuda_kernels, &weighted_sum>::call);
  m.impl("weighted_sum_into", &OnDevice<Kernels, &cuda_kernels, &weighted_sum_into>::call);
  m.impl("weighted_sum_backward", &OnDevice<Kernels, &cuda_kernels, &weighted_sum_backward>::call);
}

}  // namespace fusegen::weighted_sum
