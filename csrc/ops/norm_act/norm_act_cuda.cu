// CUDA kernels of the fused normalization + activation (see norm_act.h for the four passes).
//
// Reductions (stats, grad_sums) run in two launches, both with a fixed reduction order, so the
// result is the same on every run (no atomics):
//   1. partial kernel: one block per work item, each item a chunk of one sample. NCHW: a block
//      reduces kPlaneChunk contiguous values of one (n, c) plane. Channels-last: a block of
//      32 channels x kRowThreads threads reduces kRowChunk rows of one sample for 32 channels.
//      Partials land in a (N, K, C) array, K chunks per sample.
//   2. finalize kernel: one block per (group, channel) merges the partials of its group.
// Statistics merge count/mean/M2 triples (Chan et al.), the backward sums plain sums taken around
// the mean, all in float (double for float64).
//
// Element-wise passes (apply, grad_input) run a grid-stride loop over 16-byte vectors when no
// vector straddles a plane (NCHW) or a row (channels-last), element by element otherwise.

#include "ops/norm_act/norm_act.h"

#include "ops/norm_act/coefficients.h"
#include "ops/norm_act/input_grad.h"

#include "common/activation.h"
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
#include <initializer_list>
#include <limits>

namespace fusegen::norm_act {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kPlaneChunk = 8192;   // values of one NCHW plane per reduction block
constexpr int kChannelTile = 32;        // channels per channels-last reduction block (one warp)
constexpr int kRowThreads = kThreads / kChannelTile;
constexpr int64_t kRowChunk = 256;      // rows of one sample per channels-last reduction block

// ---- vectors and block reductions ----------------------------------------------------------

// Count, mean and sum of squared deviations; merge is Chan et al.'s pairwise formula.
template <typename acc_t>
struct Moments {
  acc_t count, mean, m2;
  __device__ __forceinline__ void add(acc_t x) {
    count += acc_t(1);
    const acc_t delta = x - mean;
    mean += delta / count;
    m2 += delta * (x - mean);
  }
  __device__ __forceinline__ void merge(const Moments& o) {
    if (o.count == acc_t(0)) return;
    if (count == acc_t(0)) {
      *this = o;
      return;
    }
    const acc_t total = count + o.count;
    const acc_t delta = o.mean - mean;
    const acc_t share = o.count / total;
    mean += delta * share;
    m2 += o.m2 + delta * delta * count * share;
    count = total;
  }
};

template <typename acc_t>
struct Sums {
  acc_t dz, dz_yc;
  __device__ __forceinline__ void merge(const Sums& o) {
    dz += o.dz;
    dz_yc += o.dz_yc;
  }
};

template <typename acc_t>
__device__ __forceinline__ Moments<acc_t> shuffle_down(const Moments<acc_t>& m, int offset) {
  return {__shfl_down_sync(0xffffffffu, m.count, offset),
          __shfl_down_sync(0xffffffffu, m.mean, offset),
          __shfl_down_sync(0xffffffffu, m.m2, offset)};
}

template <typename acc_t>
__device__ __forceinline__ Sums<acc_t> shuffle_down(const Sums<acc_t>& s, int offset) {
  return {__shfl_down_sync(0xffffffffu, s.dz, offset),
          __shfl_down_sync(0xffffffffu, s.dz_yc, offset)};
}

// Merges a value per thread of a kThreads block; thread 0 returns the block's total. The tree
// has a fixed shape, so the result does not depend on scheduling.
template <typename R>
__device__ __forceinline__ R block_merge(R value) {
  __shared__ R warp_values[kWarps];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value.merge(shuffle_down(value, offset));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_values[warp] = value;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kWarps; ++w) value.merge(warp_values[w]);
  }
  return value;
}

// Merges the kRowThreads values of one channel in a (kChannelTile x kRowThreads) block; the
// threads with threadIdx.y == 0 return the totals.
template <typename R>
__device__ __forceinline__ R column_merge(R value) {
  __shared__ R rows[kRowThreads][kChannelTile];
  rows[threadIdx.y][threadIdx.x] = value;
  __syncthreads();
  if (threadIdx.y == 0) {
    for (int r = 1; r < kRowThreads; ++r) value.merge(rows[r][threadIdx.x]);
  }
  return value;
}

__device__ __forceinline__ int64_t coeff_offset(bool per_sample, int64_t n, int64_t C) {
  return per_sample ? n * C : 0;
}

// ---- stats ----------------------------------------------------------------------------------

// Block (plane p, chunk k) of an NCHW tensor: moments of y[p, k*kPlaneChunk : ...].
template <typename scalar_t, int VEC>
__global__ void __launch_bounds__(kThreads)
stats_planes_kernel(const scalar_t* __restrict__ y, int64_t C, int64_t S, int64_t chunks,
                    Moments<at::opmath_type<scalar_t>>* __restrict__ partials) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t item = blockIdx.x;
  const int64_t p = item / chunks, k = item % chunks;
  const int64_t start = k * kPlaneChunk;
  const int64_t len = S - start < kPlaneChunk ? S - start : kPlaneChunk;
  const scalar_t* x = y + p * S + start;
  Moments<acc_t> m{0, 0, 0};
  for (int64_t i = static_cast<int64_t>(threadIdx.x) * VEC; i < len; i += int64_t{kThreads} * VEC) {
    if (VEC > 1 && i + VEC <= len) {
      const Vector<scalar_t, VEC> v = load<scalar_t, VEC>(x + i);
#pragma unroll
      for (int j = 0; j < VEC; ++j) m.add(static_cast<acc_t>(v.v[j]));
    } else {
      for (int j = 0; j < VEC && i + j < len; ++j) m.add(static_cast<acc_t>(x[i + j]));
    }
  }
  m = block_merge(m);
  if (threadIdx.x == 0) {
    const int64_t n = p / C, c = p % C;
    partials[(n * chunks + k) * C + c] = m;
  }
}

// Block (sample n, row chunk k, channel tile t) of a channels-last tensor.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
stats_rows_kernel(const scalar_t* __restrict__ y, int64_t C, int64_t S, int64_t chunks,
                  Moments<at::opmath_type<scalar_t>>* __restrict__ partials) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t item = blockIdx.x;
  const int64_t n = item / chunks, k = item % chunks;
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kChannelTile + threadIdx.x;
  const int64_t r0 = k * kRowChunk;
  const int64_t r1 = S < r0 + kRowChunk ? S : r0 + kRowChunk;
  Moments<acc_t> m{0, 0, 0};
  if (c < C) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowThreads)
      m.add(static_cast<acc_t>(y[(n * S + r) * C + c]));
  }
  m = column_merge(m);
  if (threadIdx.y == 0 && c < C) partials[(n * chunks + k) * C + c] = m;
}

// Block (g, c): merges the partials of group g's samples for channel c, then writes the mean
// and the biased variance.
template <typename acc_t>
__global__ void __launch_bounds__(kThreads)
stats_finalize_kernel(const Moments<acc_t>* __restrict__ partials, int64_t C, int64_t chunks,
                      int64_t samples_per_group, acc_t* __restrict__ mean, acc_t* __restrict__ var) {
  const int64_t g = blockIdx.x / C, c = blockIdx.x % C;
  const int64_t first = g * samples_per_group * chunks;  // partial rows of group g are contiguous
  const int64_t count = samples_per_group * chunks;
  Moments<acc_t> m{0, 0, 0};
  for (int64_t i = threadIdx.x; i < count; i += kThreads) m.merge(partials[(first + i) * C + c]);
  m = block_merge(m);
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = m.mean;
    var[blockIdx.x] = m.count > acc_t(0) ? m.m2 / m.count : acc_t(0);
  }
}

// ---- backward sums ------------------------------------------------------------------------

template <typename scalar_t, Activation A, typename acc_t>
__device__ __forceinline__ void add_grad(Sums<acc_t>& s, scalar_t go, scalar_t yv, acc_t a,
                                         acc_t b, acc_t m, acc_t slope) {
  const acc_t x = static_cast<acc_t>(yv);
  const acc_t dz = chain_grad<A>(a * x + b, static_cast<acc_t>(go), slope);
  s.dz += dz;
  s.dz_yc += dz * (x - m);
}

template <typename scalar_t, int VEC, Activation A>
__global__ void __launch_bounds__(kThreads)
grad_sums_planes_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ y,
                        int64_t C, int64_t S, int64_t chunks, bool per_sample,
                        const at::opmath_type<scalar_t>* __restrict__ scale,
                        const at::opmath_type<scalar_t>* __restrict__ shift,
                        const at::opmath_type<scalar_t>* __restrict__ center,
                        at::opmath_type<scalar_t> slope,
                        Sums<at::opmath_type<scalar_t>>* __restrict__ partials) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t item = blockIdx.x;
  const int64_t p = item / chunks, k = item % chunks;
  const int64_t n = p / C, c = p % C;
  const int64_t coeff = coeff_offset(per_sample, n, C) + c;
  const acc_t a = scale[coeff], b = shift[coeff], m = center[coeff];
  const int64_t start = k * kPlaneChunk;
  const int64_t len = S - start < kPlaneChunk ? S - start : kPlaneChunk;
  const scalar_t* x = y + p * S + start;
  const scalar_t* go = g + p * S + start;
  Sums<acc_t> s{0, 0};
  for (int64_t i = static_cast<int64_t>(threadIdx.x) * VEC; i < len; i += int64_t{kThreads} * VEC) {
    if (VEC > 1 && i + VEC <= len) {
      const Vector<scalar_t, VEC> xv = load<scalar_t, VEC>(x + i);
      const Vector<scalar_t, VEC> gv = load<scalar_t, VEC>(go + i);
#pragma unroll
      for (int j = 0; j < VEC; ++j) add_grad<scalar_t, A>(s, gv.v[j], xv.v[j], a, b, m, slope);
    } else {
      for (int j = 0; j < VEC && i + j < len; ++j)
        add_grad<scalar_t, A>(s, go[i + j], x[i + j], a, b, m, slope);
    }
  }
  s = block_merge(s);
  if (threadIdx.x == 0) partials[(n * chunks + k) * C + c] = s;
}

template <typename scalar_t, Activation A>
__global__ void __launch_bounds__(kThreads)
grad_sums_rows_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ y, int64_t C,
                      int64_t S, int64_t chunks, bool per_sample,
                      const at::opmath_type<scalar_t>* __restrict__ scale,
                      const at::opmath_type<scalar_t>* __restrict__ shift,
                      const at::opmath_type<scalar_t>* __restrict__ center,
                      at::opmath_type<scalar_t> slope,
                      Sums<at::opmath_type<scalar_t>>* __restrict__ partials) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t item = blockIdx.x;
  const int64_t n = item / chunks, k = item % chunks;
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kChannelTile + threadIdx.x;
  const int64_t r0 = k * kRowChunk;
  const int64_t r1 = S < r0 + kRowChunk ? S : r0 + kRowChunk;
  Sums<acc_t> s{0, 0};
  if (c < C) {
    const int64_t coeff = coeff_offset(per_sample, n, C) + c;
    const acc_t a = scale[coeff], b = shift[coeff], m = center[coeff];
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowThreads) {
      const int64_t offset = (n * S + r) * C + c;
      add_grad<scalar_t, A>(s, g[offset], y[offset], a, b, m, slope);
    }
  }
  s = column_merge(s);
  if (threadIdx.y == 0 && c < C) partials[(n * chunks + k) * C + c] = s;
}

template <typename acc_t>
__global__ void __launch_bounds__(kThreads)
grad_sums_finalize_kernel(const Sums<acc_t>* __restrict__ partials, int64_t C, int64_t chunks,
                          int64_t samples_per_group, acc_t* __restrict__ sum_dz,
                          acc_t* __restrict__ sum_dz_yc) {
  const int64_t g = blockIdx.x / C, c = blockIdx.x % C;
  const int64_t first = g * samples_per_group * chunks;
  const int64_t count = samples_per_group * chunks;
  Sums<acc_t> s{0, 0};
  for (int64_t i = threadIdx.x; i < count; i += kThreads) s.merge(partials[(first + i) * C + c]);
  s = block_merge(s);
  if (threadIdx.x == 0) {
    sum_dz[blockIdx.x] = s.dz;
    sum_dz_yc[blockIdx.x] = s.dz_yc;
  }
}

// ---- element-wise passes ------------------------------------------------------------------

// Where element `offset` (the first of a vector that stays inside one plane or row) sits:
// its sample and its channel (the first channel of the vector for channels-last).
struct Position {
  int64_t n, c;
};

__device__ __forceinline__ Position locate(int64_t offset, int64_t C, int64_t S, bool channels_last) {
  if (channels_last) return {offset / (S * C), offset % C};
  const int64_t p = offset / S;
  return {p / C, p % C};
}

template <typename scalar_t, int VEC, Activation A>
__global__ void __launch_bounds__(kThreads)
apply_kernel(const scalar_t* __restrict__ y, int64_t numel, int64_t C, int64_t S,
             bool channels_last, bool per_sample,
             const at::opmath_type<scalar_t>* __restrict__ scale,
             const at::opmath_type<scalar_t>* __restrict__ shift, at::opmath_type<scalar_t> slope,
             scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t vectors = numel / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < vectors; v += stride) {
    const int64_t offset = v * VEC;
    const Position pos = locate(offset, C, S, channels_last);
    const int64_t k = coeff_offset(per_sample, pos.n, C) + pos.c;
    const Vector<scalar_t, VEC> x = load<scalar_t, VEC>(y + offset);
    Vector<scalar_t, VEC> o;
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const int64_t kj = channels_last ? k + j : k;
      o.v[j] = static_cast<scalar_t>(activate<A>(scale[kj] * static_cast<acc_t>(x.v[j]) + shift[kj], slope));
    }
    store<scalar_t, VEC>(out + offset, o);
  }
}

template <typename scalar_t, int VEC, Activation A>
__global__ void __launch_bounds__(kThreads)
grad_input_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ y, int64_t numel,
                  int64_t C, int64_t S, bool channels_last, bool per_sample,
                  const at::opmath_type<scalar_t>* __restrict__ scale,
                  const at::opmath_type<scalar_t>* __restrict__ shift,
                  const at::opmath_type<scalar_t>* __restrict__ center,
                  const at::opmath_type<scalar_t>* __restrict__ alpha,
                  const at::opmath_type<scalar_t>* __restrict__ beta,
                  const at::opmath_type<scalar_t>* __restrict__ gamma,
                  at::opmath_type<scalar_t> slope, scalar_t* __restrict__ gy) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t vectors = numel / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < vectors; v += stride) {
    const int64_t offset = v * VEC;
    const Position pos = locate(offset, C, S, channels_last);
    const int64_t k = coeff_offset(per_sample, pos.n, C) + pos.c;
    const Vector<scalar_t, VEC> x = load<scalar_t, VEC>(y + offset);
    const Vector<scalar_t, VEC> go = load<scalar_t, VEC>(g + offset);
    Vector<scalar_t, VEC> o;
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const int64_t kj = channels_last ? k + j : k;
      const acc_t xv = static_cast<acc_t>(x.v[j]);
      const acc_t dz = chain_grad<A>(scale[kj] * xv + shift[kj], static_cast<acc_t>(go.v[j]), slope);
      // No beta (bias_act): no linear term (input_grad.h).
      const acc_t gyv = beta != nullptr
                            ? input_grad<true>(dz, xv, alpha[kj], beta[kj], center[kj], gamma[kj])
                            : input_grad<false>(dz, xv, alpha[kj], acc_t(0), acc_t(0), gamma[kj]);
      o.v[j] = static_cast<scalar_t>(gyv);
    }
    store<scalar_t, VEC>(gy + offset, o);
  }
}

// ---- host side ----------------------------------------------------------------------------

bool aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// 16-byte vectors when every pointer is aligned and no vector crosses a plane (NCHW) or a row
// (channels-last); the element-wise kernels then look up one position per vector.
template <typename scalar_t>
bool vectorizable(const Layout& l, std::initializer_list<const void*> pointers) {
  constexpr int VEC = 16 / sizeof(scalar_t);
  const int64_t run = l.channels_last ? l.channels : l.spatial;
  if (run % VEC != 0) return false;
  for (const void* p : pointers)
    if (!aligned(p)) return false;
  return true;
}

int elementwise_grid(int64_t vectors, const at::Tensor& t) {
  const int sms = device_properties(t.device().index()).multiProcessorCount;
  const int64_t blocks = ceil_div(vectors, kThreads);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t{sms} * 16)));
}

// Work items of a reduction: K chunks per sample and the grid that covers them.
struct ReductionGrid {
  int64_t chunks;
  dim3 grid;
  dim3 block;
};

ReductionGrid reduction_grid(const Layout& l) {
  const int64_t N = l.batch, C = l.channels, S = l.spatial;
  ReductionGrid r;
  if (l.channels_last) {
    r.chunks = ceil_div(S, kRowChunk);
    const int64_t tiles = ceil_div(C, kChannelTile);
    TORCH_CHECK_VALUE(N * r.chunks <= std::numeric_limits<int32_t>::max() && tiles <= 65535,
                      "fusegen norm/activation (CUDA): input of ", N, " samples, ", C,
                      " channels and ", S, " positions exceeds the reduction grid");
    r.grid = dim3(static_cast<unsigned>(N * r.chunks), static_cast<unsigned>(tiles));
    r.block = dim3(kChannelTile, kRowThreads);
  } else {
    r.chunks = ceil_div(S, kPlaneChunk);
    TORCH_CHECK_VALUE(N * C * r.chunks <= std::numeric_limits<int32_t>::max(),
                      "fusegen norm/activation (CUDA): input of ", N, " samples, ", C,
                      " channels and ", S, " positions exceeds the reduction grid");
    r.grid = dim3(static_cast<unsigned>(N * C * r.chunks));
    r.block = dim3(kThreads);
  }
  TORCH_CHECK_VALUE(l.groups() * C <= std::numeric_limits<int32_t>::max(),
                    "fusegen norm/activation (CUDA): ", l.groups() * C,
                    " (group, channel) pairs exceed the grid");
  return r;
}

// Bytes of a (N, K, C) array of partial results, as a byte tensor on y's device.
template <typename R>
at::Tensor partials_for(const at::Tensor& y, const Layout& l, int64_t chunks) {
  const int64_t bytes = l.batch * chunks * l.channels * static_cast<int64_t>(sizeof(R));
  return at::empty({bytes}, y.options().dtype(at::kByte));
}

template <typename scalar_t>
void launch_stats(const at::Tensor& y_t, const Layout& l, at::Tensor& mean, at::Tensor& var) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int VEC = 16 / sizeof(scalar_t);
  const ReductionGrid r = reduction_grid(l);
  at::Tensor partials_t = partials_for<Moments<acc_t>>(y_t, l, r.chunks);
  auto* partials = reinterpret_cast<Moments<acc_t>*>(partials_t.mutable_data_ptr());
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t C = l.channels, S = l.spatial;
  if (l.channels_last) {
    stats_rows_kernel<scalar_t><<<r.grid, r.block, 0, stream>>>(y, C, S, r.chunks, partials);
  } else if (vectorizable<scalar_t>(l, {y})) {
    stats_planes_kernel<scalar_t, VEC><<<r.grid, r.block, 0, stream>>>(y, C, S, r.chunks, partials);
  } else {
    stats_planes_kernel<scalar_t, 1><<<r.grid, r.block, 0, stream>>>(y, C, S, r.chunks, partials);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const int64_t G = l.groups();
  stats_finalize_kernel<acc_t><<<static_cast<unsigned>(G * C), kThreads, 0, stream>>>(
      partials, C, r.chunks, l.batch / G, mean.mutable_data_ptr<acc_t>(), var.mutable_data_ptr<acc_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t, Activation A>
void launch_grad_sums(const at::Tensor& g_t, const at::Tensor& y_t, const Layout& l,
                      const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                      double slope, at::Tensor& sum_dz, at::Tensor& sum_dz_yc) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int VEC = 16 / sizeof(scalar_t);
  const ReductionGrid r = reduction_grid(l);
  at::Tensor partials_t = partials_for<Sums<acc_t>>(y_t, l, r.chunks);
  auto* partials = reinterpret_cast<Sums<acc_t>*>(partials_t.mutable_data_ptr());
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const scalar_t* g = g_t.const_data_ptr<scalar_t>();
  const acc_t *a = scale.const_data_ptr<acc_t>(), *b = shift.const_data_ptr<acc_t>(),
              *m = center.const_data_ptr<acc_t>();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t C = l.channels, S = l.spatial;
  const acc_t s = static_cast<acc_t>(slope);
  if (l.channels_last) {
    grad_sums_rows_kernel<scalar_t, A><<<r.grid, r.block, 0, stream>>>(
        g, y, C, S, r.chunks, l.per_sample, a, b, m, s, partials);
  } else if (vectorizable<scalar_t>(l, {y, g})) {
    grad_sums_planes_kernel<scalar_t, VEC, A><<<r.grid, r.block, 0, stream>>>(
        g, y, C, S, r.chunks, l.per_sample, a, b, m, s, partials);
  } else {
    grad_sums_planes_kernel<scalar_t, 1, A><<<r.grid, r.block, 0, stream>>>(
        g, y, C, S, r.chunks, l.per_sample, a, b, m, s, partials);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const int64_t G = l.groups();
  grad_sums_finalize_kernel<acc_t><<<static_cast<unsigned>(G * C), kThreads, 0, stream>>>(
      partials, C, r.chunks, l.batch / G, sum_dz.mutable_data_ptr<acc_t>(),
      sum_dz_yc.mutable_data_ptr<acc_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t, Activation A>
void launch_apply(const at::Tensor& y_t, const Layout& l, const at::Tensor& scale,
                  const at::Tensor& shift, double slope, at::Tensor& out_t) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int VEC = 16 / sizeof(scalar_t);
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  scalar_t* out = out_t.mutable_data_ptr<scalar_t>();
  const acc_t *a = scale.const_data_ptr<acc_t>(), *b = shift.const_data_ptr<acc_t>();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t numel = y_t.numel(), C = l.channels, S = l.spatial;
  const acc_t s = static_cast<acc_t>(slope);
  if (vectorizable<scalar_t>(l, {y, out})) {
    apply_kernel<scalar_t, VEC, A><<<elementwise_grid(numel / VEC, y_t), kThreads, 0, stream>>>(
        y, numel, C, S, l.channels_last, l.per_sample, a, b, s, out);
  } else {
    apply_kernel<scalar_t, 1, A><<<elementwise_grid(numel, y_t), kThreads, 0, stream>>>(
        y, numel, C, S, l.channels_last, l.per_sample, a, b, s, out);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t, Activation A>
void launch_grad_input(const at::Tensor& g_t, const at::Tensor& y_t, const Layout& l,
                       const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                       double slope, const at::Tensor& alpha, const at::Tensor& beta,
                       const at::Tensor& gamma, at::Tensor& gy_t) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr int VEC = 16 / sizeof(scalar_t);
  const scalar_t* y = y_t.const_data_ptr<scalar_t>();
  const scalar_t* g = g_t.const_data_ptr<scalar_t>();
  scalar_t* gy = gy_t.mutable_data_ptr<scalar_t>();
  const acc_t *a = scale.const_data_ptr<acc_t>(), *b = shift.const_data_ptr<acc_t>(),
              *al = alpha.const_data_ptr<acc_t>(), *ga = gamma.const_data_ptr<acc_t>();
  // Undefined beta and center (bias_act's backward): the kernel skips the linear term.
  const acc_t* m = beta.defined() ? center.const_data_ptr<acc_t>() : nullptr;
  const acc_t* be = beta.defined() ? beta.const_data_ptr<acc_t>() : nullptr;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t numel = y_t.numel(), C = l.channels, S = l.spatial;
  const acc_t s = static_cast<acc_t>(slope);
  if (vectorizable<scalar_t>(l, {y, g, gy})) {
    grad_input_kernel<scalar_t, VEC, A><<<elementwise_grid(numel / VEC, y_t), kThreads, 0, stream>>>(
        g, y, numel, C, S, l.channels_last, l.per_sample, a, b, m, al, be, ga, s, gy);
  } else {
    grad_input_kernel<scalar_t, 1, A><<<elementwise_grid(numel, y_t), kThreads, 0, stream>>>(
        g, y, numel, C, S, l.channels_last, l.per_sample, a, b, m, al, be, ga, s, gy);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void stats_cuda(const at::Tensor& y, const Layout& l, at::Tensor& mean, at::Tensor& var) {
  if (y.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(y.device());
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_stats_cuda",
                          [&] { launch_stats<scalar_t>(y, l, mean, var); });
}

void apply_cuda(const at::Tensor& y, const Layout& l, const at::Tensor& scale,
                const at::Tensor& shift, ActParams act, at::Tensor& out) {
  if (y.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(y.device());
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_apply_cuda", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      launch_apply<scalar_t, decltype(tag)::value>(y, l, scale, shift, act.negative_slope, out);
    });
  });
}

void grad_sums_cuda(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                    const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                    ActParams act, at::Tensor& sum_dz, at::Tensor& sum_dz_yc) {
  if (y.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(y.device());
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_grad_sums_cuda", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      launch_grad_sums<scalar_t, decltype(tag)::value>(grad_out, y, l, scale, shift, center,
                                                       act.negative_slope, sum_dz, sum_dz_yc);
    });
  });
}

void grad_input_cuda(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                     const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                     ActParams act, const at::Tensor& alpha, const at::Tensor& beta,
                     const at::Tensor& gamma, at::Tensor& grad_y) {
  if (y.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(y.device());
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_grad_input_cuda", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      launch_grad_input<scalar_t, decltype(tag)::value>(grad_out, y, l, scale, shift, center,
                                                        act.negative_slope, alpha, beta, gamma,
                                                        grad_y);
    });
  });
}

// ---- the (G, C) steps of coefficients.h: one thread per entry -------------------------------

template <typename Step>
__global__ void __launch_bounds__(kThreads) each_entry_kernel(int64_t n, Step step) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i < n) step(i);
}

struct RunOnCuda {
  template <typename Step>
  void operator()(int64_t n, const Step& step) const {
    if (n == 0) return;
    const unsigned blocks = static_cast<unsigned>(ceil_div(n, kThreads));
    each_entry_kernel<Step><<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(n, step);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

void forward_coefficients_cuda(const at::Tensor& mean, const at::Tensor& var,
                               const at::Tensor& weight, const at::Tensor& bias, double eps,
                               at::Tensor& invstd, at::Tensor& scale, at::Tensor& shift) {
  const c10::cuda::CUDAGuard guard(mean.device());
  forward_coefficients<RunOnCuda>(mean, var, weight, bias, eps, invstd, scale, shift);
}

void backward_coefficients_cuda(const at::Tensor& mean, const at::Tensor& invstd,
                                const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& sum_dz, const at::Tensor& sum_dz_yc, double count,
                                at::Tensor& scale, at::Tensor& shift, at::Tensor& beta,
                                at::Tensor& gamma) {
  const c10::cuda::CUDAGuard guard(mean.device());
  backward_coefficients<RunOnCuda>(mean, invstd, weight, bias, sum_dz, sum_dz_yc, count, scale,
                                   shift, beta, gamma);
}

void parameter_gradients_cuda(const at::Tensor& invstd, const at::Tensor& sum_dz,
                              const at::Tensor& sum_dz_yc, at::Tensor& grad_weight,
                              at::Tensor& grad_bias) {
  const c10::cuda::CUDAGuard guard(invstd.device());
  parameter_gradients<RunOnCuda>(invstd, sum_dz, sum_dz_yc, grad_weight, grad_bias);
}

void update_running_stats_cuda(const at::Tensor& save_mean, const at::Tensor& save_invstd,
                               double momentum, double eps, int64_t count,
                               at::Tensor& running_mean, at::Tensor& running_var) {
  const c10::cuda::CUDAGuard guard(save_mean.device());
  update_running_stats<RunOnCuda>(save_mean, save_invstd, momentum, eps, count, running_mean,
                                  running_var);
}

}  // namespace

const Passes cuda_passes{c10::DeviceType::CUDA,
                         &stats_cuda,
                         &apply_cuda,
                         &grad_sums_cuda,
                         &grad_input_cuda,
                         &forward_coefficients_cuda,
                         &backward_coefficients_cuda,
                         &parameter_gradients_cuda,
                         &update_running_stats_cuda};

TORCH_LIBRARY_IMPL(fusegen, CUDA, m) {
  m.impl("norm_act_forward", &OnDevice<Passes, &cuda_passes, &norm_act_forward>::call);
  m.impl("norm_act_backward", &OnDevice<Passes, &cuda_passes, &norm_act_backward>::call);
  m.impl("norm_act_update_running_stats",
         &OnDevice<Passes, &cuda_passes, &norm_act_update_running_stats>::call);
}

}  // namespace fusegen::norm_act
