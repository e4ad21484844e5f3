// CUDA kernel for non-local means. One block denoises a kTile x kTile tile of one image, one
// thread per pixel, and visits every search offset:
//
//   e    = squared differences summed over channels, over the tile plus the patch margin
//   v    = e summed down the patch's rows                          (shared memory)
//   d2   = v summed along the patch's columns; w = exp(-max(d2 - 2 sigma^2, 0) / h^2)
//   each thread adds w and w * I(p + o) to its pixel's sums       (registers / shared memory)
//
// The tile's pixels and the margins that every offset reads (patch + search radius) are loaded
// once into shared memory when they fit, else read through the cache from global memory.
// Images and channel groups are the grid's z dimension; a channel group shares the block's
// weights, and groups exist only when one block's shared memory cannot hold all channels' sums.
// On the GPU every offset is computed (no o / -o pairing, which would need a second tile
// margin) and the patch sums are direct (2 * patch additions a pixel, cheap in shared memory).

#include "ops/nlm/nlm.h"
#include "ops/nlm/nlm_weight.h"

#include "common/checks.h"
#include "common/cuda_device.cuh"
#include "common/device_op.h"

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAMacros.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <mutex>
#include <cuda_runtime.h>

namespace fusegen::nlm {
namespace {

constexpr int kTile = 16;
constexpr int kThreads = kTile * kTile;
constexpr int kMaxGridZ = 65535;

struct Geometry {
  int C, H, W;            // image
  int rp, rs, R;          // patch radius, search radius, R = rp + rs
  int Hp, Wp;             // padded image
  int side;               // kTile + 2R: the tile with both margins
  int eside;              // kTile + 2rp: the tile with the patch margin
  int groups, group_size; // channel groups per image
  int tiles_x;            // tiles across a row: blockIdx.x enumerates tiles row by row
};

// One kernel of ~85 lines on purpose: its phases share registers and shared-memory pointers
// that splitting into device functions would only pass around.
template <typename acc_t, bool kSourceInShared>
__global__ void __launch_bounds__(kThreads)
    nlm_tile_kernel(const acc_t* __restrict__ padded, acc_t* __restrict__ out, Geometry g,
                    int z_offset, acc_t inv_count, acc_t two_sigma2, acc_t inv_h2) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  acc_t* shared = reinterpret_cast<acc_t*>(shared_bytes);

  const int z = blockIdx.z + z_offset;
  const int n = z / g.groups;
  const int c_begin = (z % g.groups) * g.group_size;
  const int c_count = min(g.group_size, g.C - c_begin);
  // Tiles run along grid x only, so an image's height is bounded by 32-bit indices, not by
  // grid y's 65535 rows of tiles.
  const int x0 = static_cast<int>(blockIdx.x % g.tiles_x) * kTile;
  const int y0 = static_cast<int>(blockIdx.x / g.tiles_x) * kTile;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int tid = ty * kTile + tx;
  const acc_t* image = padded + static_cast<int64_t>(n) * g.C * g.Hp * g.Wp;

  const int src_size = kSourceInShared ? g.C * g.side * g.side : 0;
  acc_t* src = shared;
  acc_t* e = src + src_size;                  // eside x eside
  acc_t* v = e + g.eside * g.eside;           // kTile x eside
  acc_t* num = v + kTile * g.eside;           // group_size x kThreads

  // Pixel (r, col) of the tile's region (padded rows y0 .. y0 + side), channel c. Regions of
  // edge tiles run past the padded image: clamped reads, used only by pixels not written.
  auto global_pixel = [&](int c, int r, int col) -> acc_t {
    const int y = min(y0 + r, g.Hp - 1), x = min(x0 + col, g.Wp - 1);
    return image[(static_cast<int64_t>(c) * g.Hp + y) * g.Wp + x];
  };
  auto pixel = [&](int c, int r, int col) -> acc_t {
    if constexpr (kSourceInShared) {
      return src[(c * g.side + r) * g.side + col];
    } else {
      return global_pixel(c, r, col);
    }
  };

  if constexpr (kSourceInShared) {
    const int area = g.side * g.side;
    for (int i = tid; i < g.C * area; i += kThreads) {
      const int c = i / area, r = (i % area) / g.side, col = i % g.side;
      src[i] = global_pixel(c, r, col);
    }
  }
  for (int c = 0; c < c_count; ++c) num[c * kThreads + tid] = acc_t(0);
  acc_t den = 0;
  const int patch = 2 * g.rp + 1;
  __syncthreads();

  for (int dy = -g.rs; dy <= g.rs; ++dy) {
    for (int dx = -g.rs; dx <= g.rs; ++dx) {
      // e at local (r, col) is the patch row/column r, col of the tile: region row r + rs.
      for (int i = tid; i < g.eside * g.eside; i += kThreads) {
        const int r = i / g.eside + g.rs, col = i % g.eside + g.rs;
        acc_t sum = 0;
        for (int c = 0; c < g.C; ++c) {
          const acc_t diff = pixel(c, r, col) - pixel(c, r + dy, col + dx);
          sum += diff * diff;
        }
        e[i] = sum;
      }
      __syncthreads();
      for (int i = tid; i < kTile * g.eside; i += kThreads) {
        const int r = i / g.eside, col = i % g.eside;
        acc_t sum = 0;
        for (int k = 0; k < patch; ++k) sum += e[(r + k) * g.eside + col];
        v[i] = sum;
      }
      __syncthreads();
      acc_t d2 = 0;
      for (int k = 0; k < patch; ++k) d2 += v[ty * g.eside + tx + k];
      const acc_t w = nlm_weight_exact(d2 * inv_count, two_sigma2, inv_h2);
      den += w;
      for (int c = 0; c < c_count; ++c) {
        num[c * kThreads + tid] += w * pixel(c_begin + c, ty + g.R + dy, tx + g.R + dx);
      }
      __syncthreads();  // e and v are rewritten by the next offset
    }
  }

  const int y = y0 + ty, x = x0 + tx;
  if (y < g.H && x < g.W) {
    for (int c = 0; c < c_count; ++c) {
      out[((static_cast<int64_t>(n) * g.C + c_begin + c) * g.H + y) * g.W + x] =
          num[c * kThreads + tid] / den;
    }
  }
}

// Raises the kernel's dynamic shared-memory limit to the device's opt-in maximum, once per
// device: setting it per call to each call's size would race between host threads (one thread
// lowers the limit just before another launches with more).
template <typename acc_t, bool kSourceInShared>
void allow_opt_in_shared_memory(int device, int max_shared) {
  static std::once_flag once[C10_COMPILE_TIME_MAX_GPUS];
  std::call_once(once[device], [&] {
    C10_CUDA_CHECK(cudaFuncSetAttribute(nlm_tile_kernel<acc_t, kSourceInShared>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, max_shared));
  });
}

template <typename acc_t>
void launch(const at::Tensor& padded, const Params& p, at::Tensor& out) {
  Geometry g;
  g.C = static_cast<int>(out.size(1));
  g.H = static_cast<int>(out.size(2));
  g.W = static_cast<int>(out.size(3));
  g.rp = static_cast<int>(p.patch_radius);
  g.rs = static_cast<int>(p.search_radius);
  g.R = g.rp + g.rs;
  g.Hp = static_cast<int>(padded.size(2));
  g.Wp = static_cast<int>(padded.size(3));
  g.side = kTile + 2 * g.R;
  g.eside = kTile + 2 * g.rp;

  const int device = padded.device().index();
  const int max_shared =
      static_cast<int>(device_properties(device).sharedMemPerBlockOptin);  // cached
  const int64_t elem = sizeof(acc_t);
  const int64_t work_bytes = (int64_t{g.eside} * g.eside + int64_t{kTile} * g.eside) * elem;
  const int64_t sums_bytes_per_channel = int64_t{kThreads} * elem;
  const int64_t source_bytes = int64_t{g.C} * g.side * g.side * elem;
  const bool source_in_shared =
      source_bytes + work_bytes + g.C * sums_bytes_per_channel <= max_shared;
  if (source_in_shared) {
    g.group_size = g.C;
  } else {
    TORCH_CHECK_VALUE(work_bytes + sums_bytes_per_channel <= max_shared,
                      "patch_size ", 2 * g.rp + 1, " is too large for the CUDA kernel's shared "
                      "memory (", max_shared, " bytes a block)");
    g.group_size = static_cast<int>(
        std::min<int64_t>(g.C, (max_shared - work_bytes) / sums_bytes_per_channel));
  }
  g.groups = static_cast<int>(ceil_div(g.C, g.group_size));
  const int64_t shared_bytes = (source_in_shared ? source_bytes : 0) + work_bytes +
                               g.group_size * sums_bytes_per_channel;

  g.tiles_x = static_cast<int>(ceil_div(g.W, kTile));
  const int64_t tiles = int64_t{g.tiles_x} * ceil_div(g.H, kTile);  // < 2^31: checked per image
  const int64_t blocks_z = out.size(0) * g.groups;
  const acc_t inv_count = acc_t(1) / static_cast<acc_t>(g.C * (2 * g.rp + 1) * (2 * g.rp + 1));
  const acc_t two_sigma2 = static_cast<acc_t>(2 * p.sigma * p.sigma);
  const acc_t inv_h2 = p.inv_h2<acc_t>();

  auto kernel = source_in_shared ? nlm_tile_kernel<acc_t, true> : nlm_tile_kernel<acc_t, false>;
  if (source_in_shared) {
    allow_opt_in_shared_memory<acc_t, true>(device, max_shared);
  } else {
    allow_opt_in_shared_memory<acc_t, false>(device, max_shared);
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const dim3 block(kTile, kTile);
  for (int64_t z = 0; z < blocks_z; z += kMaxGridZ) {
    const dim3 grid(static_cast<unsigned>(tiles), 1,
                    static_cast<unsigned>(std::min<int64_t>(kMaxGridZ, blocks_z - z)));
    kernel<<<grid, block, shared_bytes, stream>>>(padded.const_data_ptr<acc_t>(),
                                                  out.mutable_data_ptr<acc_t>(), g,
                                                  static_cast<int>(z), inv_count, two_sigma2,
                                                  inv_h2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

void denoise_cuda(const at::Tensor& padded, const Params& p, at::Tensor& out) {
  // Offsets between images are 64-bit; inside one image the kernel indexes with 32 bits.
  const int64_t per_image = padded.numel() / std::max<int64_t>(padded.size(0), 1);
  TORCH_CHECK_VALUE(per_image < (int64_t{1} << 31),
                    "image is too large for the CUDA kernel's 32-bit indices: one padded image "
                    "has ", per_image, " elements");
  const c10::cuda::CUDAGuard guard(padded.device());
  AT_DISPATCH_FLOATING_TYPES(padded.scalar_type(), "fusegen::nlm_denoise (CUDA)",
                             [&] { launch<scalar_t>(padded, p, out); });
}

}  // namespace

const Kernels cuda_kernels{c10::DeviceType::CUDA, &denoise_cuda};

TORCH_LIBRARY_IMPL(fusegen, CUDA, m) {
  m.impl("nlm_denoise", &OnDevice<Kernels, &cuda_kernels, &nlm_denoise>::call);
}

}  // namespace fusegen::nlm
