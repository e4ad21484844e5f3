// CUDA kernels for BM3D: the CPU kernel's algorithm (bm3d_cpu_kernel.h) in three kernels per
// chunk of the batch, with the per-coefficient math from bm3d_math.h.
//
//   match_kernel   one warp per reference block: the distances of its search window's
//                  candidates, 32 at a time (one a lane), in the CPU's summation order; those
//                  under the list's bound enter a sorted list of max_group slots held two a lane,
//                  one at a time in raster order, so ties keep the CPU's order (the reference,
//                  then the window in raster order). Writes the group's positions and size.
//   filter_kernel  one thread block per (tile of kTileRows x kTileCols references, channel):
//                  the tile's groups one after another, all threads on each group: blocks loaded
//                  into coefficient-major buffers (a coefficient's m values contiguous, stride
//                  max_group + 1 so that neither layout has bank conflicts), T X T^T in two
//                  passes, then one thread per coefficient for the Haar transform along the
//                  group, the shrinkage and the inverse Haar; the kept count (or sum of gains^2)
//                  is a fixed-shape block reduction; inverse T^-1 X T^-T; aggregation.
//   fold_kernel    one thread per output pixel: the tiles' accumulators that cover it, added in
//                  tile order onto the image-wide numerator and denominator.
// A final division gives the estimate.
//
// Determinism (no float atomics anywhere): every tile writes only its own accumulators (its
// references' reach: their rows and columns widened by the search radius and a block, as the
// CPU's bands), and inside a tile, thread (ry, rx) of the 16 x 16 block owns the pixels whose
// coordinates are (ry, rx) modulo 16: a block of n <= 16 pixels a side has at most one pixel of
// each thread, so a thread adds its pixels of the group's blocks in member order, groups in
// reference order, with no races and no barriers. The fold adds the tiles in a fixed order as a
// left fold onto the running sums, so the result depends neither on the launch shape nor on how
// the batch is cut into chunks (which bounds the accumulators' memory), nor on the device. It
// differs from the CPU's only by float rounding: the order of additions across tiles (the CPU's
// bands hold 8 reference rows of the whole width) and of the Wiener gains' energy.
//
// Arithmetic follows the CPU kernel's, so that matches, ties and thresholds agree with the CPU
// wherever the inputs do: block distances are squared differences, each rounded on its own (no
// fused multiply-add, as the CPU stores them before adding), summed down each column of the
// block, then across the columns; transforms add one product at a time in index order (nvcc
// fuses these into multiply-adds, as GCC does in the CPU's AVX-512 copy).

#include "ops/bm3d/bm3d.h"

#include "common/checks.h"
#include "common/cuda_device.cuh"
#include "common/device_op.h"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAMacros.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>
#include <cuda_runtime.h>

namespace fusegen::bm3d {
namespace {

constexpr int kTileRows = 4;   // reference rows of a tile
constexpr int kTileCols = 8;   // reference columns of a tile
constexpr int kResidue = 16;   // aggregation: thread (ry, rx) owns pixels (ry, rx) modulo 16
constexpr int kFilterThreads = kResidue * kResidue;
constexpr int kFilterWarps = kFilterThreads / 32;
constexpr int kMatchWarps = 8;  // references a matching block
constexpr int kMatchThreads = 32 * kMatchWarps;
constexpr int kFoldThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;
// Tiles' accumulators and match lists of one chunk of the batch (at least one row of tiles).
constexpr int64_t kChunkBytes = int64_t{256} << 20;
// Tile accumulators go into shared memory when the whole block needs at most this much
// (two blocks still fit on an SM); larger ones stay in global memory.
constexpr int64_t kSharedAccumulatorBytes = 96 * 1024;

static_assert(kMaxBlock <= kResidue, "a block must hold at most one pixel of each residue");
static_assert(kMaxGroup <= 64, "match lists hold two slots a lane");
static_assert(kFilterThreads % kMaxGroup == 0, "group members are the fastest thread index");

struct Geometry {
  int C, H, W;
  int n, step, R, cap;         // block side, reference stride, search radius, max_group
  int ref_rows, ref_cols;      // reference positions along each axis
  int tile_rows, tile_cols;    // tiles of an image along each axis
  int region_h, region_w;      // pitch of one tile's accumulators
};

// Images [b0, b0 + images), each for tile rows [tile_row0, tile_row0 + tile_rows), that is
// reference rows [ref_row0, ref_row0 + ref_rows).
struct Chunk {
  int b0, images;
  int tile_row0, tile_rows;
  int ref_row0, ref_rows;
};

struct FilterLayout {
  int stride;                 // between coefficients in the group buffers (max_group + 1, odd)
  bool shared_buffers;        // group buffers in shared memory, else in `workspace`
  bool shared_accumulators;   // tile accumulators in shared memory, copied out at the end
};

// reference_positions (bm3d.h) by index: i * step, the last one clamped to size - n.
__host__ __device__ inline int ref_pos(int i, int size, int n, int step) {
  const int64_t p = int64_t{i} * step;
  return p < size - n ? static_cast<int>(p) : size - n;
}

struct Span {
  int begin, end;  // pixels [begin, end) along one axis
};

// The pixels along an axis that tile t's groups can write: from its first reference's position
// minus the search radius to its last one's plus the radius and a block, inside the image.
__host__ __device__ inline Span tile_span(int t, int tile, int refs, int size, int n, int step,
                                          int R) {
  const int first = t * tile;
  const int last = std::min(first + tile, refs) - 1;
  const int64_t begin = int64_t{ref_pos(first, size, n, step)} - R;
  const int64_t end = int64_t{ref_pos(last, size, n, step)} + R + n;
  return {begin < 0 ? 0 : static_cast<int>(begin), end > size ? size : static_cast<int>(end)};
}

// A lower bound on the first tile whose span reaches pixel p: spans computed without the clamp
// of the last reference end no earlier, so the callers still check each span.
__device__ inline int first_tile_reaching(int p, int tile, int n, int step, int R) {
  const int64_t need = int64_t{p} - R - n - int64_t{tile - 1} * step;  // t * tile * step > need
  return need < 0 ? 0 : static_cast<int>(need / (int64_t{tile} * step) + 1);
}

// ---------------------------------------------------------------------------------------------
// Block matching.

// x * x rounded to acc_t: the intrinsics keep nvcc from fusing the product into the sum that
// follows, which the CPU kernel never does.
__device__ __forceinline__ float square_rounded(float x) { return __fmul_rn(x, x); }
__device__ __forceinline__ double square_rounded(double x) { return __dmul_rn(x, x); }

// One warp per reference block. The list's slot s lives on lane s % 32, in `lo` for s < 32 and
// `hi` above; slot 0 is the reference itself (distance 0). A candidate enters when its distance
// is below the bound (just above the threshold while the list has room, the farthest match's
// distance once it is full: the CPU's rule), after every listed match at its distance or
// closer, so equal distances keep the raster order.
template <typename acc_t, int kN>
__global__ void __launch_bounds__(kMatchThreads)
    match_kernel(const acc_t* __restrict__ planes, int64_t image_stride, Geometry g, Chunk ch,
                 acc_t bound0, int32_t* __restrict__ positions, int32_t* __restrict__ sizes) {
  __shared__ acc_t references[kMatchWarps][kMaxBlock * kMaxBlock];
  const int n = kN > 0 ? kN : g.n;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t r = int64_t{blockIdx.x} * kMatchWarps + warp;
  if (r >= int64_t{ch.images} * ch.ref_rows * g.ref_cols) return;  // whole warps; no barriers
  const int j = static_cast<int>(r % g.ref_cols);
  const int64_t row = r / g.ref_cols;
  const int i = ch.ref_row0 + static_cast<int>(row % ch.ref_rows);
  const int b = ch.b0 + static_cast<int>(row / ch.ref_rows);
  const acc_t* plane = planes + b * image_stride;  // channel 0
  const int ry = ref_pos(i, g.H, n, g.step), rx = ref_pos(j, g.W, n, g.step);
  const int origin = ry * g.W + rx;

  acc_t* reference = references[warp];
  for (int e = lane; e < n * n; e += 32) reference[e] = plane[origin + (e / n) * g.W + e % n];
  __syncwarp();

  acc_t dist_lo = 0, dist_hi = 0;
  int pos_lo = origin, pos_hi = 0;  // lane 0's lo is slot 0: the reference
  int count = 1;
  acc_t bound = bound0;

  // The candidates whose blocks lie inside the image: a rectangle of offsets, visited in
  // raster order (dy outer, dx inner), 32 at a time.
  const int dy0 = std::max(-g.R, -ry), dy1 = std::min(g.R, g.H - n - ry);
  const int dx0 = std::max(-g.R, -rx), dx1 = std::min(g.R, g.W - n - rx);
  // Unsigned: total < 2^31 (at most H * W), so base + 31 cannot wrap.
  const unsigned span = dx1 - dx0 + 1;
  const unsigned total = (dy1 - dy0 + 1) * span;
  for (unsigned base = 0; base < total; base += 32) {
    const unsigned e = base + lane;
    const int dy = dy0 + static_cast<int>(e / span), dx = dx0 + static_cast<int>(e % span);
    const bool valid = e < total && (dy != 0 || dx != 0);
    const int candidate = valid ? origin + dy * g.W + dx : 0;
    acc_t d = 0;
    if (valid) {
      // Squared differences summed down each column of the block, then across the columns.
      const acc_t* q = plane + candidate;
      for (int t = 0; t < n; ++t) {
        acc_t column = 0;
        for (int k = 0; k < n; ++k) {
          column += square_rounded(reference[k * n + t] - q[k * g.W + t]);
        }
        d += column;
      }
    }
    unsigned pending = __ballot_sync(kFullMask, valid && d < bound);
    while (pending != 0) {
      const int src = __ffs(pending) - 1;
      pending &= pending - 1;
      const acc_t dc = __shfl_sync(kFullMask, d, src);
      const int pc = __shfl_sync(kFullMask, candidate, src);
      if (!(dc < bound)) continue;  // the bound fell since the ballot
      // Its slot: after every listed match at distance <= dc (slot 0 included, so at >= 1).
      const unsigned below_lo = __ballot_sync(kFullMask, lane < count && dist_lo <= dc);
      const unsigned below_hi = __ballot_sync(kFullMask, lane + 32 < count && dist_hi <= dc);
      const int at = __popc(below_lo) + __popc(below_hi);
      // Slots from `at` on move up one; a full list drops its last.
      const acc_t up_dist_lo = __shfl_up_sync(kFullMask, dist_lo, 1);
      const int up_pos_lo = __shfl_up_sync(kFullMask, pos_lo, 1);
      acc_t up_dist_hi = __shfl_up_sync(kFullMask, dist_hi, 1);
      int up_pos_hi = __shfl_up_sync(kFullMask, pos_hi, 1);
      const acc_t carry_dist = __shfl_sync(kFullMask, dist_lo, 31);
      const int carry_pos = __shfl_sync(kFullMask, pos_lo, 31);
      if (lane == 0) {
        up_dist_hi = carry_dist;
        up_pos_hi = carry_pos;
      }
      if (lane > at) {
        dist_lo = up_dist_lo;
        pos_lo = up_pos_lo;
      } else if (lane == at) {
        dist_lo = dc;
        pos_lo = pc;
      }
      if (lane + 32 > at) {
        dist_hi = up_dist_hi;
        pos_hi = up_pos_hi;
      } else if (lane + 32 == at) {
        dist_hi = dc;
        pos_hi = pc;
      }
      count = std::min(count + 1, g.cap);
      if (count == g.cap) {
        const int last = g.cap - 1;
        bound = __shfl_sync(kFullMask, last < 32 ? dist_lo : dist_hi, last & 31);
      }
    }
  }

  // The group: the closest matches, cut to a power of two.
  const int m = group_size_for(count, g.cap);
  int32_t* out = positions + r * g.cap;
  if (lane < m) out[lane] = pos_lo;
  if (lane + 32 < m) out[lane + 32] = pos_hi;
  if (lane == 0) sizes[r] = m;
}

// ---------------------------------------------------------------------------------------------
// Collaborative filtering and aggregation.

// out = M X for every member's n x n block X (buffers coefficient-major: (row, col) of member
// k at (row * n + col) * stride + k). One output per thread, members fastest; products added in
// index order from 0, as the CPU's multiply().
template <typename acc_t>
__device__ __forceinline__ void left_multiply(const acc_t* __restrict__ M,
                                              const acc_t* __restrict__ in,
                                              acc_t* __restrict__ out, int n, int m,
                                              int log2m, int stride) {
  for (int e = threadIdx.x; e < m * n * n; e += kFilterThreads) {
    const int k = e & (m - 1), rq = e >> log2m;
    const int r = rq / n, q = rq - r * n;
    acc_t sum = 0;
    for (int j = 0; j < n; ++j) sum += M[r * n + j] * in[(j * n + q) * stride + k];
    out[rq * stride + k] = sum;
  }
}

// out = X M^T for every member's block, as the CPU's second product (Bt = M^T).
template <typename acc_t>
__device__ __forceinline__ void right_multiply(const acc_t* __restrict__ M,
                                               const acc_t* __restrict__ in,
                                               acc_t* __restrict__ out, int n, int m,
                                               int log2m, int stride) {
  for (int e = threadIdx.x; e < m * n * n; e += kFilterThreads) {
    const int k = e & (m - 1), rq = e >> log2m;
    const int r = rq / n, q = rq - r * n;
    acc_t sum = 0;
    for (int j = 0; j < n; ++j) sum += in[(r * n + j) * stride + k] * M[q * n + j];
    out[rq * stride + k] = sum;
  }
}

// The sum of every thread's `v`, the same in all threads: warp butterflies, then the warps'
// sums in warp order (a fixed shape, so the rounding is the same at every run). Synchronises.
template <typename acc_t>
__device__ __forceinline__ acc_t block_sum(acc_t v, acc_t* partial) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  acc_t total = 0;
  for (int w = 0; w < kFilterWarps; ++w) total += partial[w];
  return total;
}

// One block per (tile, channel) unit, looping over units when the grid is smaller. Buffers:
// X (the noisy group), Y (scratch), and for the Wiener stage P (the pilot's group) and Z.
template <typename acc_t, bool kWiener, int kN>
__global__ void __launch_bounds__(kFilterThreads)
    filter_kernel(const acc_t* __restrict__ noisy, const acc_t* __restrict__ pilot,
                  const int32_t* __restrict__ positions, const int32_t* __restrict__ sizes,
                  const acc_t* __restrict__ tables, acc_t* __restrict__ slabs,
                  acc_t* __restrict__ workspace, Geometry g, Chunk ch, FilterLayout layout) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  constexpr int kBuffers = kWiener ? 4 : 2;
  const int n = kN > 0 ? kN : g.n;
  const int nn = n * n;
  const int stride = layout.stride;
  const int buffer_size = nn * stride;
  const int region = g.region_h * g.region_w;  // <= H * W

  acc_t* forward = reinterpret_cast<acc_t*>(shared_bytes);
  acc_t* inverse = forward + nn;
  acc_t* window = inverse + nn;
  acc_t* partial = window + nn;
  acc_t* next = partial + kFilterWarps;
  acc_t* buffers = next;
  if (layout.shared_buffers) {
    next += kBuffers * buffer_size;
  } else {
    buffers = workspace + int64_t{blockIdx.x} * kBuffers * buffer_size;
  }
  acc_t* shared_accumulators = next;
  if (layout.shared_accumulators) next += 2 * region;
  int* member_y = reinterpret_cast<int*>(next);  // the group's block corners
  int* member_x = member_y + g.cap;
  acc_t* X = buffers;
  acc_t* Y = X + buffer_size;
  acc_t* P = Y + buffer_size;  // Wiener stage only
  acc_t* Z = P + buffer_size;

  const int tid = threadIdx.x;
  for (int e = tid; e < nn; e += kFilterThreads) {
    forward[e] = tables[e];
    inverse[e] = tables[nn + e];
    window[e] = tables[2 * nn + e];
  }
  const int ry = tid / kResidue, rx = tid % kResidue;  // the residues this thread aggregates

  const int64_t units = int64_t{ch.images} * ch.tile_rows * g.tile_cols * g.C;
  for (int64_t unit = blockIdx.x; unit < units; unit += gridDim.x) {
    const int c = static_cast<int>(unit % g.C);
    const int64_t tile = unit / g.C;
    const int tj = static_cast<int>(tile % g.tile_cols);
    const int64_t tile_row = tile / g.tile_cols;
    const int ti = ch.tile_row0 + static_cast<int>(tile_row % ch.tile_rows);
    const int bl = static_cast<int>(tile_row / ch.tile_rows);
    const Span rows = tile_span(ti, kTileRows, g.ref_rows, g.H, n, g.step, g.R);
    const Span cols = tile_span(tj, kTileCols, g.ref_cols, g.W, n, g.step, g.R);
    acc_t* slab = slabs + unit * 2 * int64_t{region};  // this unit's numerator, denominator
    acc_t* num = layout.shared_accumulators ? shared_accumulators : slab;
    acc_t* den = num + region;
    for (int e = tid; e < 2 * region; e += kFilterThreads) num[e] = 0;
    __syncthreads();  // also publishes the tables on the first unit

    const int64_t plane = (int64_t{ch.b0 + bl} * g.C + c) * g.H * g.W;
    const acc_t* image = noisy + plane;
    const acc_t* guide = kWiener ? pilot + plane : nullptr;
    const acc_t* limits = tables + (3 + int64_t{c}) * nn;  // per coefficient, this channel
    const int i_end = std::min(g.ref_rows, (ti + 1) * kTileRows);
    const int j_end = std::min(g.ref_cols, (tj + 1) * kTileCols);
    for (int i = ti * kTileRows; i < i_end; ++i) {
      for (int j = tj * kTileCols; j < j_end; ++j) {
        const int64_t ref = (int64_t{bl} * ch.ref_rows + (i - ch.ref_row0)) * g.ref_cols + j;
        const int m = sizes[ref];
        const int log2m = __ffs(m) - 1;  // m is a power of two
        const int32_t* members = positions + ref * g.cap;

        // The group's blocks, a row of pixels to consecutive threads.
        if (tid < m) {
          const int p = members[tid];
          member_y[tid] = p / g.W;
          member_x[tid] = p - (p / g.W) * g.W;
        }
        for (int e = tid; e < m * nn; e += kFilterThreads) {
          const int k = e / nn, yx = e - k * nn;
          const int y = yx / n, x = yx - y * n;
          const int at = members[k] + y * g.W + x;
          X[yx * stride + k] = image[at];
          if constexpr (kWiener) P[yx * stride + k] = guide[at];
        }
        __syncthreads();

        // The 2-D transform of every block: T X, then (T X) T^T.
        left_multiply(forward, X, Y, n, m, log2m, stride);
        if constexpr (kWiener) left_multiply(forward, P, Z, n, m, log2m, stride);
        __syncthreads();
        right_multiply(forward, Y, X, n, m, log2m, stride);
        if constexpr (kWiener) right_multiply(forward, Z, P, n, m, log2m, stride);
        __syncthreads();

        // Along the group, one thread per coefficient: Haar, shrinkage, inverse Haar.
        acc_t kept = 0;
        if (tid < nn) {
          acc_t* column = X + tid * stride;
          acc_t* scratch = Y + tid * stride;
          const acc_t limit = limits[tid];
          haar_forward(column, scratch, m, 1);
          if constexpr (kWiener) {
            acc_t* pilot_column = P + tid * stride;
            haar_forward(pilot_column, scratch, m, 1);
            for (int k = 0; k < m; ++k) {
              const acc_t gain = wiener_gain(pilot_column[k], limit);
              column[k] *= gain;
              kept += gain * gain;
            }
          } else {
            for (int k = 0; k < m; ++k) {
              const acc_t v = hard_threshold(column[k], limit);
              column[k] = v;
              kept += (v != acc_t(0) || v != v) ? acc_t(1) : acc_t(0);  // kept, NaN included
            }
          }
          haar_inverse(column, scratch, m, 1);
        }
        const acc_t weight = group_weight(block_sum(kept, partial));  // synchronises

        // The inverse 2-D transform: T^-1 X, then (T^-1 X) T^-T.
        left_multiply(inverse, X, Y, n, m, log2m, stride);
        __syncthreads();
        right_multiply(inverse, Y, X, n, m, log2m, stride);
        __syncthreads();

        // Aggregation: each thread adds its residue's pixel of every block, in member order.
        for (int k = 0; k < m; ++k) {
          const int top = member_y[k], left = member_x[k];
          const int y = (ry - top % kResidue + kResidue) % kResidue;
          const int x = (rx - left % kResidue + kResidue) % kResidue;
          if (y < n && x < n) {
            const acc_t w = weight * window[y * n + x];
            const int at = (top + y - rows.begin) * g.region_w + (left + x - cols.begin);
            num[at] += w * X[(y * n + x) * stride + k];
            den[at] += w;
          }
        }
        __syncthreads();  // the next group rewrites the buffers and the corners
      }
    }

    if (layout.shared_accumulators) {
      const int h = rows.end - rows.begin, w = cols.end - cols.begin;
      for (int e = tid; e < h * w; e += kFilterThreads) {
        const int at = (e / w) * g.region_w + e % w;
        slab[at] = num[at];
        slab[region + at] = den[at];
      }
      __syncthreads();  // the next unit clears them
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Folding the tiles' accumulators into the image's.

// One thread per pixel of the chunk's rows: the tiles covering it, in (tile row, tile column)
// order, added one at a time onto the running sums, so that chunks of any size give the same
// sums as one pass over all tiles.
template <typename acc_t>
__global__ void __launch_bounds__(kFoldThreads)
    fold_kernel(const acc_t* __restrict__ slabs, acc_t* __restrict__ num, acc_t* __restrict__ den,
                Geometry g, Chunk ch, int y_begin, int rows) {
  const int64_t total = int64_t{ch.images} * g.C * rows * g.W;
  const int64_t region = int64_t{g.region_h} * g.region_w;
  const int n = g.n;
  for (int64_t e = int64_t{blockIdx.x} * kFoldThreads + threadIdx.x; e < total;
       e += int64_t{gridDim.x} * kFoldThreads) {
    const int x = static_cast<int>(e % g.W);
    int64_t rest = e / g.W;
    const int y = y_begin + static_cast<int>(rest % rows);
    rest /= rows;
    const int c = static_cast<int>(rest % g.C);
    const int bl = static_cast<int>(rest / g.C);
    const int64_t pixel = ((int64_t{ch.b0 + bl} * g.C + c) * g.H + y) * g.W + x;
    acc_t sum_num = num[pixel], sum_den = den[pixel];
    const int ti_end = ch.tile_row0 + ch.tile_rows;
    const int tj_first = first_tile_reaching(x, kTileCols, n, g.step, g.R);
    for (int ti = std::max(ch.tile_row0, first_tile_reaching(y, kTileRows, n, g.step, g.R));
         ti < ti_end; ++ti) {
      const Span rs = tile_span(ti, kTileRows, g.ref_rows, g.H, n, g.step, g.R);
      if (rs.begin > y) break;
      if (rs.end <= y) continue;
      for (int tj = tj_first; tj < g.tile_cols; ++tj) {
        const Span cs = tile_span(tj, kTileCols, g.ref_cols, g.W, n, g.step, g.R);
        if (cs.begin > x) break;
        if (cs.end <= x) continue;
        const int64_t unit =
            ((int64_t{bl} * ch.tile_rows + (ti - ch.tile_row0)) * g.tile_cols + tj) * g.C + c;
        const acc_t* a = slabs + unit * 2 * region + int64_t{y - rs.begin} * g.region_w +
                         (x - cs.begin);
        sum_num += a[0];
        sum_den += a[region];
      }
    }
    num[pixel] = sum_num;
    den[pixel] = sum_den;
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.

// Raises a kernel's dynamic shared-memory limit to the device's opt-in maximum, once per device
// (per call it would race between host threads; see nlm_cuda.cu).
template <typename acc_t, bool kWiener, int kN>
void allow_opt_in_shared_memory(int device, int max_shared) {
  static std::once_flag once[C10_COMPILE_TIME_MAX_GPUS];
  std::call_once(once[device], [&] {
    C10_CUDA_CHECK(cudaFuncSetAttribute(filter_kernel<acc_t, kWiener, kN>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, max_shared));
  });
}

// The stage's tables, as the CPU kernel computes them: forward and inverse transforms, the
// Kaiser window, then per channel the coefficients' hard thresholds or the Wiener noise power.
// Written to pinned memory and copied without a host synchronisation.
template <typename acc_t>
at::Tensor stage_tables(const at::Tensor& like, const StageParams& p,
                        const std::vector<double>& sigma, bool wiener) {
  const int n = static_cast<int>(p.block), nn = n * n;
  const int64_t C = static_cast<int64_t>(sigma.size());
  const BlockTransform<acc_t> t = make_block_transform<acc_t>(p.transform, n);
  at::Tensor host =
      at::empty({(3 + C) * nn}, like.options().device(at::kCPU).pinned_memory(true));
  acc_t* h = host.mutable_data_ptr<acc_t>();
  for (int e = 0; e < nn; ++e) {
    h[e] = t.forward[e];
    h[nn + e] = t.inverse[e];
  }
  for (int u = 0; u < n; ++u) {
    for (int v = 0; v < n; ++v) {
      h[2 * nn + u * n + v] =
          static_cast<acc_t>(kaiser(u, n, p.kaiser_beta) * kaiser(v, n, p.kaiser_beta));
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    const double s = sigma[c];
    for (int u = 0; u < n; ++u) {
      for (int v = 0; v < n; ++v) {
        h[(3 + c) * nn + u * n + v] =
            wiener ? noise_power<acc_t>(p.shrink, s)
                   : static_cast<acc_t>(p.shrink * s * t.norm[u] * t.norm[v]);
      }
    }
  }
  at::Tensor tables = at::empty({(3 + C) * nn}, like.options());
  tables.copy_(host, /*non_blocking=*/true);
  return tables;
}

template <typename acc_t, int kN>
void run_stage_for(const at::Tensor& noisy, const at::Tensor* pilot,
                   const std::vector<double>& sigma, const StageParams& p, at::Tensor& out) {
  const int64_t N = noisy.size(0), C = noisy.size(1), H = noisy.size(2), W = noisy.size(3);
  const bool wiener = pilot != nullptr;
  const int64_t longest = std::max(H, W);
  Geometry g;
  g.C = static_cast<int>(C);
  g.H = static_cast<int>(H);
  g.W = static_cast<int>(W);
  g.n = static_cast<int>(p.block);
  // A stride or radius beyond the image gives the same references and candidates as the
  // image's size does, and keeps the indices in range.
  g.step = static_cast<int>(std::min(p.step, longest));
  g.R = static_cast<int>(std::min(p.search_radius, longest));
  g.cap = static_cast<int>(p.max_group);
  g.ref_rows = static_cast<int>(reference_positions(H, p.block, g.step).size());
  g.ref_cols = static_cast<int>(reference_positions(W, p.block, g.step).size());
  g.tile_rows = static_cast<int>(ceil_div(g.ref_rows, kTileRows));
  g.tile_cols = static_cast<int>(ceil_div(g.ref_cols, kTileCols));
  g.region_h = static_cast<int>(
      std::min<int64_t>(H, int64_t{kTileRows - 1} * g.step + 2 * int64_t{g.R} + g.n));
  g.region_w = static_cast<int>(
      std::min<int64_t>(W, int64_t{kTileCols - 1} * g.step + 2 * int64_t{g.R} + g.n));
  const int64_t region = int64_t{g.region_h} * g.region_w;
  const int nn = g.n * g.n;

  // The chunks: whole images while they fit in kChunkBytes, else rows of tiles of one image.
  const int64_t tile_row_bytes =
      int64_t{g.tile_cols} * C * 2 * region * static_cast<int64_t>(sizeof(acc_t)) +
      int64_t{kTileRows} * g.ref_cols * (g.cap + 1) * static_cast<int64_t>(sizeof(int32_t));
  const int64_t image_bytes = tile_row_bytes * g.tile_rows;
  int64_t images_per_chunk = 1, tile_rows_per_chunk = g.tile_rows;
  if (image_bytes <= kChunkBytes) {
    images_per_chunk = std::min<int64_t>(N, kChunkBytes / image_bytes);
  } else {
    tile_rows_per_chunk = std::max<int64_t>(1, kChunkBytes / tile_row_bytes);
  }
  const int64_t max_ref_rows =
      std::min<int64_t>(g.ref_rows, tile_rows_per_chunk * kTileRows);
  const int64_t max_refs = images_per_chunk * max_ref_rows * g.ref_cols;
  const int64_t max_units = images_per_chunk * tile_rows_per_chunk * g.tile_cols * C;
  TORCH_CHECK(max_refs < std::numeric_limits<int32_t>::max() / kMatchWarps &&
                  max_units < std::numeric_limits<int32_t>::max(),
              "bm3d_denoise (CUDA): too many reference blocks or channels in one launch");

  // Shared memory of a filter block: tables, group buffers and tile accumulators where they fit.
  const int device = noisy.device().index();
  const cudaDeviceProp& props = device_properties(device);
  const int64_t max_shared = static_cast<int64_t>(props.sharedMemPerBlockOptin);
  const int64_t elem = sizeof(acc_t);
  FilterLayout layout;
  layout.stride = g.cap + 1;
  const int64_t buffers = int64_t{wiener ? 4 : 2} * nn * layout.stride;
  const int64_t base_bytes = (3 * int64_t{nn} + kFilterWarps) * elem + 2 * int64_t{g.cap} * 4;
  layout.shared_buffers = base_bytes + buffers * elem <= max_shared;
  int64_t shared_bytes = base_bytes + (layout.shared_buffers ? buffers * elem : 0);
  layout.shared_accumulators =
      shared_bytes + 2 * region * elem <= std::min(max_shared, kSharedAccumulatorBytes);
  if (layout.shared_accumulators) shared_bytes += 2 * region * elem;
  TORCH_CHECK(shared_bytes <= max_shared, "bm3d_denoise (CUDA): block size ", g.n,
              " needs ", shared_bytes, " bytes of shared memory, the device has ", max_shared);
  // Without shared buffers each resident block has its own slice of a global workspace.
  const int64_t filter_grid_cap =
      layout.shared_buffers ? int64_t{1} << 20 : int64_t{2} * props.multiProcessorCount;

  const auto options = noisy.options();
  const at::Tensor tables = stage_tables<acc_t>(noisy, p, sigma, wiener);
  at::Tensor positions = at::empty({max_refs * g.cap}, options.dtype(at::kInt));
  at::Tensor sizes = at::empty({max_refs}, options.dtype(at::kInt));
  at::Tensor slabs = at::empty({max_units * 2 * region}, options);
  at::Tensor workspace;
  if (!layout.shared_buffers) {
    workspace = at::empty({std::min(max_units, filter_grid_cap) * buffers}, options);
  }
  out.zero_();
  at::Tensor den = at::zeros_like(out);

  const acc_t limit = static_cast<acc_t>(p.match_threshold * static_cast<double>(g.n * g.n));
  const acc_t bound0 =
      g.cap == 1 ? acc_t(0) : std::nextafter(limit, std::numeric_limits<acc_t>::infinity());
  const acc_t* noisy_data = noisy.const_data_ptr<acc_t>();
  const acc_t* pilot_data = wiener ? pilot->const_data_ptr<acc_t>() : nullptr;
  const acc_t* match_data = wiener ? pilot_data : noisy_data;
  const int64_t image_stride = C * H * W;

  auto filter = filter_kernel<acc_t, false, kN>;
  if (wiener) {
    filter = filter_kernel<acc_t, true, kN>;
    allow_opt_in_shared_memory<acc_t, true, kN>(device, static_cast<int>(max_shared));
  } else {
    allow_opt_in_shared_memory<acc_t, false, kN>(device, static_cast<int>(max_shared));
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  for (int64_t b0 = 0; b0 < N; b0 += images_per_chunk) {
    for (int64_t t0 = 0; t0 < g.tile_rows; t0 += tile_rows_per_chunk) {
      Chunk ch;
      ch.b0 = static_cast<int>(b0);
      ch.images = static_cast<int>(std::min(images_per_chunk, N - b0));
      ch.tile_row0 = static_cast<int>(t0);
      ch.tile_rows = static_cast<int>(std::min<int64_t>(tile_rows_per_chunk, g.tile_rows - t0));
      ch.ref_row0 = ch.tile_row0 * kTileRows;
      ch.ref_rows = std::min(g.ref_rows, (ch.tile_row0 + ch.tile_rows) * kTileRows) - ch.ref_row0;

      const int64_t refs = int64_t{ch.images} * ch.ref_rows * g.ref_cols;
      match_kernel<acc_t, kN><<<static_cast<unsigned>(ceil_div(refs, kMatchWarps)),
                                kMatchThreads, 0, stream>>>(
          match_data, image_stride, g, ch, bound0, positions.mutable_data_ptr<int32_t>(),
          sizes.mutable_data_ptr<int32_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();

      const int64_t units = int64_t{ch.images} * ch.tile_rows * g.tile_cols * C;
      filter<<<static_cast<unsigned>(std::min(units, filter_grid_cap)), kFilterThreads,
               shared_bytes, stream>>>(
          noisy_data, pilot_data, positions.const_data_ptr<int32_t>(),
          sizes.const_data_ptr<int32_t>(), tables.const_data_ptr<acc_t>(),
          slabs.mutable_data_ptr<acc_t>(),
          workspace.defined() ? workspace.mutable_data_ptr<acc_t>() : nullptr, g, ch, layout);
      C10_CUDA_KERNEL_LAUNCH_CHECK();

      const Span first = tile_span(ch.tile_row0, kTileRows, g.ref_rows, g.H, g.n, g.step, g.R);
      const Span last = tile_span(ch.tile_row0 + ch.tile_rows - 1, kTileRows, g.ref_rows, g.H,
                                  g.n, g.step, g.R);
      const int rows = last.end - first.begin;
      const int64_t pixels = int64_t{ch.images} * C * rows * W;
      const int64_t fold_blocks =
          std::min<int64_t>(ceil_div(pixels, kFoldThreads), int64_t{32} * props.multiProcessorCount);
      fold_kernel<acc_t><<<static_cast<unsigned>(fold_blocks), kFoldThreads, 0, stream>>>(
          slabs.const_data_ptr<acc_t>(), out.mutable_data_ptr<acc_t>(),
          den.mutable_data_ptr<acc_t>(), g, ch, first.begin, rows);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  }
  out.div_(den);
}

template <typename acc_t>
void run_stage(const at::Tensor& noisy, const at::Tensor* pilot, const std::vector<double>& sigma,
               const StageParams& p, at::Tensor& out) {
  TORCH_CHECK(static_cast<int64_t>(sigma.size()) == noisy.size(1),
              "bm3d_denoise (CUDA): one sigma a channel expected, got ", sigma.size(), " for ",
              noisy.size(1), " channels");
  // Offsets between images are 64-bit; inside one channel of an image, 32-bit (the front
  // checks H * W < 2^31).
  TORCH_CHECK(noisy.size(1) * noisy.size(2) * noisy.size(3) > 0 && noisy.size(0) > 0 &&
                  noisy.size(0) < std::numeric_limits<int32_t>::max() &&
                  noisy.size(1) < std::numeric_limits<int32_t>::max(),
              "bm3d_denoise (CUDA): unexpected shape ", noisy.sizes());
  // The published block side, 8, gets its own compiled copy, as on the CPU.
  if (p.block == 8) {
    run_stage_for<acc_t, 8>(noisy, pilot, sigma, p, out);
  } else {
    run_stage_for<acc_t, 0>(noisy, pilot, sigma, p, out);
  }
}

void basic_cuda(const at::Tensor& noisy, const std::vector<double>& sigma, const StageParams& p,
                at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(noisy.device());
  AT_DISPATCH_FLOATING_TYPES(noisy.scalar_type(), "fusegen::bm3d_denoise (CUDA)",
                             [&] { run_stage<scalar_t>(noisy, nullptr, sigma, p, out); });
}

void final_cuda(const at::Tensor& noisy, const at::Tensor& basic, const std::vector<double>& sigma,
                const StageParams& p, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(noisy.device());
  AT_DISPATCH_FLOATING_TYPES(noisy.scalar_type(), "fusegen::bm3d_denoise (CUDA)",
                             [&] { run_stage<scalar_t>(noisy, &basic, sigma, p, out); });
}

}  // namespace

const Kernels cuda_kernels{c10::DeviceType::CUDA, &basic_cuda, &final_cuda};

TORCH_LIBRARY_IMPL(fusegen, CUDA, m) {
  m.impl("bm3d_denoise", &OnDevice<Kernels, &cuda_kernels, &bm3d_denoise>::call);
}

}  // namespace fusegen::bm3d
