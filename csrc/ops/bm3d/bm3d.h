#pragma once
// BM3D denoising (Dabov, Foi, Katkovnik, Egiazarian 2007): block matching and collaborative
// filtering in a 3-D transform domain, in two stages.
//
//   basic: for every reference block (a grid of stride `step`, plus the last row and column),
//          the blocks of its search window within the matching threshold of it, at most
//          `max_group` of the closest (cut to a power of two), are stacked into a group; the
//          group's 3-D transform (2-D transform of each block, Haar along the stack) is hard-
//          thresholded at `shrink` * sigma and transformed back;
//   final: the groups are matched on the basic estimate, and the noisy group's coefficients are
//          scaled by the empirical Wiener gain p^2 / (p^2 + shrink * sigma^2) of the basic
//          estimate's coefficients p.
// Every filtered block is added back where it came from, weighted by a Kaiser window times the
// inverse of the group's estimated noise variance, and each pixel is the weighted mean.
//
// The kernels take images already converted to the accumulation dtype, grouped on channel 0
// (luma for colour images; the front sends any other channel count one channel at a time), and
// write the estimate in that dtype.

#include "ops/bm3d/bm3d_math.h"

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include <vector>

namespace fusegen::bm3d {

struct StageParams {
  int64_t block;            // block side n
  int64_t step;             // stride of the reference blocks
  int64_t search_radius;    // candidates within this many pixels of the reference, each axis
  int64_t max_group;        // largest group, a power of two
  double match_threshold;   // largest mean squared difference per pixel of a match
  double shrink;            // lambda (basic) or mu^2 (final)
  Transform2D transform;    // the 2-D transform of the blocks
  double kaiser_beta;       // shape of the aggregation window
};

// One device's kernels (bm3d_cpu.cpp, bm3d_cuda.cu). Tensors are (N, C, H, W), contiguous,
// float or double; `sigma` holds one noise standard deviation per channel.
struct Kernels {
  c10::DeviceType device;
  void (*basic)(const at::Tensor& noisy, const std::vector<double>& sigma, const StageParams& p,
                at::Tensor& out);
  void (*final)(const at::Tensor& noisy, const at::Tensor& basic,
                const std::vector<double>& sigma, const StageParams& p, at::Tensor& out);
};

// The reference blocks' first rows (or columns) along an axis of `size` pixels: 0, step,
// 2 step, ..., and size - block, so that every pixel is covered.
inline std::vector<int64_t> reference_positions(int64_t size, int64_t block, int64_t step) {
  std::vector<int64_t> positions;
  const int64_t last = size - block;
  for (int64_t p = 0; p < last; p += step) positions.push_back(p);
  positions.push_back(last);
  return positions;
}

// The operator for any device's kernels (bm3d.cpp).
at::Tensor bm3d_denoise(const Kernels& kernels, const at::Tensor& image, double sigma,
                        c10::string_view stage, at::IntArrayRef block_size, at::IntArrayRef step,
                        at::IntArrayRef search_size, at::IntArrayRef group_size,
                        at::ArrayRef<double> match_threshold, double threshold,
                        double wiener_factor);

}  // namespace fusegen::bm3d
