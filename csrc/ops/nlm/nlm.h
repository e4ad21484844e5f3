#pragma once
// Non-local means denoising (Buades, Coll, Morel): every pixel becomes a weighted mean of the
// pixels in its search window, weighted by how alike their patches are:
//   w(p, q) = exp(-max(d2(p, q) - 2 sigma^2, 0) / h^2),
// d2 the mean squared difference over the patch's pixels and channels (one weight for all
// channels). The device kernels work on an image that is already reflect-padded by
// patch_radius + search_radius on each side and converted to the accumulation dtype
// (float, or double for float64 images), and write the result in that dtype.

#include <ATen/core/Tensor.h>

namespace fusegen::nlm {

struct Params {
  int64_t patch_radius;   // patch_size = 2 * patch_radius + 1
  int64_t search_radius;  // search_size = 2 * search_radius + 1
  double sigma;           // noise standard deviation, in the image's units
  double h;               // filtering parameter, in the image's units
  int64_t margin() const { return patch_radius + search_radius; }
};

// padded: (N, C, H + 2R, W + 2R) contiguous, R = p.margin(), float or double.
// out: (N, C, H, W) contiguous, padded's dtype and device.
void denoise_cpu(const at::Tensor& padded, const Params& p, at::Tensor& out);

#ifdef FUSEGEN_WITH_CUDA
void denoise_cuda(const at::Tensor& padded, const Params& p, at::Tensor& out);
#endif

}  // namespace fusegen::nlm
