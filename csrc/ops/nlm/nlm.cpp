// Schema, argument checks and the shared preparation (shape to (N, C, H, W), reflect padding,
// dtype conversion) for fusegen::nlm_denoise, written once for every device. The arithmetic
// lives in nlm_cpu.cpp and nlm_cuda.cu, which register this front on their kernels.

#include "ops/nlm/nlm.h"

#include "common/checks.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/rsub.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <cmath>
#include <limits>

namespace fusegen::nlm {
namespace {

bool is_supported_image_dtype(c10::ScalarType t) { return is_supported_float(t) || t == at::kByte; }

void check_window(int64_t size, const char* name) {
  TORCH_CHECK_VALUE(size > 0 && size % 2 == 1, name, " must be a positive odd number, got ", size);
}

void check_arguments(const at::Tensor& image, double sigma, double h, int64_t patch_size,
                     int64_t search_size) {
  TORCH_CHECK_TYPE(image.defined(), "image must be a tensor, got an undefined tensor");
  TORCH_CHECK_VALUE(image.dim() >= 2 && image.dim() <= 4,
                    "image must have shape (H, W), (C, H, W) or (N, C, H, W), got ",
                    image.dim(), " dimensions ", image.sizes());
  TORCH_CHECK_TYPE(is_supported_image_dtype(image.scalar_type()),
                   "image must have dtype float32, float64, float16, bfloat16 or uint8, got ",
                   image.scalar_type());
  TORCH_CHECK_VALUE(std::isfinite(sigma) && sigma >= 0, "sigma must be a finite number >= 0, got ",
                    sigma);
  TORCH_CHECK_VALUE(std::isfinite(h) && h > 0, "h must be a finite number > 0, got ", h);
  check_window(patch_size, "patch_size");
  check_window(search_size, "search_size");
  TORCH_CHECK_VALUE(search_size >= patch_size, "search_size (", search_size,
                    ") must be at least patch_size (", patch_size, ")");
}

// Indices of a row of n values padded by `pad` on each side, reflected about its end pixels
// without repeating them (numpy's "reflect", OpenCV's BORDER_REFLECT_101) and folded as often
// as needed when the pad is wider than the row. Computed on the image's device: a table copied
// from the host would block the stream and could not be captured in a CUDA graph.
at::Tensor reflect_indices(int64_t n, int64_t pad, const at::Device& device) {
  const auto options = at::TensorOptions().dtype(at::kLong).device(device);
  if (n == 1) return at::zeros({1 + 2 * pad}, options);
  const int64_t period = 2 * (n - 1);
  const at::Tensor k = at::arange(-pad, n + pad, options).remainder_(period);  // in [0, period)
  return at::where(k.lt(n), k, at::rsub(k, period));  // k, or period - k past the end
}

at::Tensor as_batch(const at::Tensor& image) {
  if (image.dim() == 2) return image.unsqueeze(0).unsqueeze(0);
  if (image.dim() == 3) return image.unsqueeze(0);
  return image;
}

// The kernels' result (accumulation dtype) in the image's dtype: uint8 rounds and saturates.
at::Tensor to_image_dtype(at::Tensor result, c10::ScalarType dtype) {
  if (dtype == at::kByte) return result.round_().clamp_(0, 255).to(at::kByte);
  return result.to(dtype);
}

// The NaN / inf policy, the same on every device: a pixel whose windows (the search window
// widened by the patch radius, margin() pixels each way, over the image and its reflection)
// see a NaN or an infinity becomes NaN; every other pixel is computed as usual. The kernels'
// running sums would carry a non-finite value past its reach (a NaN never leaves a sum), so
// they run on the image with those values set to 0, which no pixel beyond their reach reads.
void denoise_with_non_finite(const Kernels& kernels, const at::Tensor& padded,
                             const Params& params, at::Tensor& out) {
  const at::Tensor bad = at::isfinite(padded).logical_not();  // (N, C, H + 2R, W + 2R)
  kernels.denoise(padded.masked_fill(bad, 0).contiguous(), params, out);
  const int64_t k = 2 * params.margin() + 1;
  const at::Tensor any_channel = bad.any(1, /*keepdim=*/true).to(padded.scalar_type());
  const at::Tensor seen = at::max_pool2d(any_channel, {k, k}, {1, 1});  // (N, 1, H, W)
  out.masked_fill_(seen.to(at::kBool), std::numeric_limits<double>::quiet_NaN());
}

// Whether the non-finite policy must run. Asking is a device-to-host synchronisation, which
// a CUDA stream must not see (CUDA graphs, torch.compile's "reduce-overhead"): off the CPU the
// masked path always runs, a few elementwise passes beside the search's work.
bool may_hold_non_finite(const at::Tensor& padded) {
  if (!padded.is_cpu()) return true;
  return !at::isfinite(padded).all().item<bool>();
}

}  // namespace

at::Tensor nlm_denoise(const Kernels& kernels, const at::Tensor& image, double sigma, double h,
                       int64_t patch_size, int64_t search_size) {
  check_arguments(image, sigma, h, patch_size, search_size);
  check_device_type(image, "image", kernels.device);
  if (image.numel() == 0) return at::empty(image.sizes(), image.options());

  const Params params{patch_size / 2, search_size / 2, sigma, h};
  const int64_t R = params.margin();
  const at::Tensor batch = as_batch(image);
  const int64_t H = batch.size(2), W = batch.size(3);
  const c10::ScalarType acc = accumulate_type(image.scalar_type());
  // Gathering rows then columns pads and converts in one pass and works for any strides.
  const at::Tensor padded = batch.to(acc)
                                .index_select(2, reflect_indices(H, R, image.device()))
                                .index_select(3, reflect_indices(W, R, image.device()))
                                .contiguous();
  at::Tensor out = at::empty(batch.sizes(), padded.options());
  if (image.scalar_type() != at::kByte && may_hold_non_finite(padded)) {
    denoise_with_non_finite(kernels, padded, params, out);
  } else {
    kernels.denoise(padded, params, out);
  }
  return to_image_dtype(out, image.scalar_type()).view(image.sizes());
}

TORCH_LIBRARY_FRAGMENT(fusegen, m) {
  m.def(
      "nlm_denoise(Tensor image, float sigma, float h, int patch_size, int search_size) -> Tensor");
}

}  // namespace fusegen::nlm
