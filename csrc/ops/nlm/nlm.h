#pragma once
// Non-local means denoising (Buades, Coll, Morel): every pixel becomes a weighted mean of the
// pixels in its search window, weighted by how alike their patches are:
//   w(p, q) = exp(-max(d2(p, q) - 2 sigma^2, 0) / h^2),
// d2 the mean squared difference over the patch's pixels and channels (one weight for all
// channels). The device kernels work on an image that is already reflect-padded by
// patch_radius + search_radius on each side and converted to the accumulation dtype
// (float, or double for float64 images), and write the result in that dtype.

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include <cmath>
#include <limits>

namespace fusegen::nlm {

struct Params {
  int64_t patch_radius;   // patch_size = 2 * patch_radius + 1
  int64_t search_radius;  // search_size = 2 * search_radius + 1
  double sigma;           // noise standard deviation, in the image's units
  double h;               // filtering parameter, in the image's units
  int64_t margin() const { return patch_radius + search_radius; }

  // 1/h^2 in the accumulation type, capped at a quarter of its largest finite value: where it
  // would overflow, a patch within 2 sigma^2 of the pixel's gets 0 * inf = NaN. At the cap every
  // weight is already 0 or 1 to the type's precision, so the result is the limit of small h.
  template <typename acc_t>
  acc_t inv_h2() const {
    const double cap = static_cast<double>(std::numeric_limits<acc_t>::max()) / 4;
    const double v = 1 / (h * h);
    return static_cast<acc_t>(std::isfinite(v) && v < cap ? v : cap);
  }
};

// One device's kernel (nlm_cpu.cpp, nlm_cuda.cu).
// padded: (N, C, H + 2R, W + 2R) contiguous, R = p.margin(), float or double.
// out: (N, C, H, W) contiguous, padded's dtype and device.
struct Kernels {
  c10::DeviceType device;
  void (*denoise)(const at::Tensor& padded, const Params& p, at::Tensor& out);
};

// The operator for any device's kernel (nlm.cpp): checks, padding and conversion, the kernel,
// and the result in the image's dtype.
at::Tensor nlm_denoise(const Kernels& kernels, const at::Tensor& image, double sigma, double h,
                       int64_t patch_size, int64_t search_size);

}  // namespace fusegen::nlm
