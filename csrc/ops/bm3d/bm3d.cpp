// Schema, argument checks and the shared preparation of fusegen::bm3d_denoise, written once for
// every device: shape to (N, C, H, W), dtype conversion, the colour transform, the NaN/inf
// policy and the two stages' calls. The arithmetic lives in bm3d_cpu.cpp and bm3d_cuda.cu.

#include "ops/bm3d/bm3d.h"

#include "common/checks.h"

#include <ATen/ops/einsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/tensor.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <string>

namespace fusegen::bm3d {
namespace {

constexpr const char* kStageNames[2] = {"basic", "final"};

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

void check_pair(size_t size, const char* name) {
  TORCH_CHECK_VALUE(size == 2, name, " must hold 2 values (basic stage, final stage), got ", size);
}

void check_arguments(const at::Tensor& image, double sigma, c10::string_view stage,
                     at::IntArrayRef block_size, at::IntArrayRef step,
                     at::IntArrayRef search_size, at::IntArrayRef group_size,
                     at::ArrayRef<double> match_threshold, double threshold,
                     double wiener_factor) {
  TORCH_CHECK_TYPE(image.defined(), "image must be a tensor, got an undefined tensor");
  TORCH_CHECK_VALUE(image.dim() >= 2 && image.dim() <= 4,
                    "image must have shape (H, W), (C, H, W) or (N, C, H, W), got ",
                    image.dim(), " dimensions ", image.sizes());
  TORCH_CHECK_TYPE(is_supported_float(image.scalar_type()) || image.scalar_type() == at::kByte,
                   "image must have dtype float32, float64, float16, bfloat16 or uint8, got ",
                   image.scalar_type());
  TORCH_CHECK_VALUE(std::isfinite(sigma) && sigma > 0, "sigma must be a finite number > 0, got ",
                    sigma);
  TORCH_CHECK_VALUE(stage == "basic" || stage == "final",
                    "stage must be 'basic' or 'final', got '", std::string(stage), "'");
  check_pair(block_size.size(), "block_size");
  check_pair(step.size(), "step");
  check_pair(search_size.size(), "search_size");
  check_pair(group_size.size(), "group_size");
  check_pair(match_threshold.size(), "match_threshold");
  for (int s = 0; s < 2; ++s) {
    const char* which = kStageNames[s];
    TORCH_CHECK_VALUE(block_size[s] >= 1 && block_size[s] <= kMaxBlock, "block_size[", s,
                      "] (", which, " stage) must be in [1, ", kMaxBlock, "], got ", block_size[s]);
    // A step wider than the block would leave pixels no block covers.
    TORCH_CHECK_VALUE(step[s] >= 1 && step[s] <= block_size[s], "step[", s, "] (", which,
                      " stage) must be in [1, block_size] = [1, ", block_size[s], "], got ",
                      step[s]);
    TORCH_CHECK_VALUE(search_size[s] >= 1 && search_size[s] % 2 == 1, "search_size[", s, "] (",
                      which, " stage) must be a positive odd number, got ", search_size[s]);
    TORCH_CHECK_VALUE(is_power_of_two(group_size[s]) && group_size[s] <= kMaxGroup,
                      "group_size[", s, "] (", which, " stage) must be a power of two in [1, ",
                      kMaxGroup, "], got ", group_size[s]);
    TORCH_CHECK_VALUE(match_threshold[s] >= 0, "match_threshold[", s, "] (", which,
                      " stage) must be a number >= 0 (inf matches every block), got ",
                      match_threshold[s]);
  }
  TORCH_CHECK_VALUE(std::isfinite(threshold) && threshold >= 0,
                    "threshold must be a finite number >= 0, got ", threshold);
  TORCH_CHECK_VALUE(std::isfinite(wiener_factor) && wiener_factor >= 0,
                    "wiener_factor must be a finite number >= 0, got ", wiener_factor);
}

at::Tensor as_batch(const at::Tensor& image) {
  if (image.dim() == 2) return image.unsqueeze(0).unsqueeze(0);
  if (image.dim() == 3) return image.unsqueeze(0);
  return image;
}

// Mixes the channels of (N, 3, H, W) images by a row-major 3 x 3 matrix.
at::Tensor mix_channels(const at::Tensor& images, const double* matrix) {
  const at::Tensor m =
      at::tensor(at::ArrayRef<double>(matrix, 9), images.options().dtype(at::kDouble))
          .view({3, 3})
          .to(images.scalar_type());
  return at::einsum("ij,njhw->nihw", {m, images}).contiguous();
}

StageParams stage_params(int s, at::IntArrayRef block_size, at::IntArrayRef step,
                         at::IntArrayRef search_size, at::IntArrayRef group_size,
                         at::ArrayRef<double> match_threshold, double shrink) {
  // Stage 1 uses bior1.5 where it exists (8 x 8 blocks), stage 2 the DCT, as Dabov et al.
  return StageParams{block_size[s],
                     step[s],
                     search_size[s] / 2,
                     group_size[s],
                     match_threshold[s],
                     shrink,
                     s == 0 ? Transform2D::kBior15 : Transform2D::kDct,
                     /*kaiser_beta=*/2.0};
}

// How far a pixel reaches through one stage: a block covering the output pixel, the reference
// within the search radius of it, and the blocks within the search radius of the reference.
int64_t stage_reach(const StageParams& p) { return 2 * p.search_radius + p.block - 1; }

// Marks (N, 1, H, W) pixels within `reach` (each axis) of a set pixel, in two 1-D passes.
at::Tensor dilate(const at::Tensor& mask, int64_t reach) {
  const int64_t k = 2 * reach + 1;
  const at::Tensor rows = at::max_pool2d(mask, {k, 1}, {1, 1}, {reach, 0});
  return at::max_pool2d(rows, {1, k}, {1, 1}, {0, reach});
}

}  // namespace

at::Tensor bm3d_denoise(const Kernels& kernels, const at::Tensor& image, double sigma,
                        c10::string_view stage, at::IntArrayRef block_size, at::IntArrayRef step,
                        at::IntArrayRef search_size, at::IntArrayRef group_size,
                        at::ArrayRef<double> match_threshold, double threshold,
                        double wiener_factor) {
  check_arguments(image, sigma, stage, block_size, step, search_size, group_size,
                  match_threshold, threshold, wiener_factor);
  check_device_type(image, "image", kernels.device);
  if (image.numel() == 0) return at::empty(image.sizes(), image.options());
  const bool final_stage = stage == "final";
  const int64_t H = image.size(-2), W = image.size(-1);
  for (int s = 0; s < (final_stage ? 2 : 1); ++s) {
    TORCH_CHECK_VALUE(H >= block_size[s] && W >= block_size[s], "image (", H, "x", W,
                      ") must be at least as large as a block: block_size[", s, "] (",
                      kStageNames[s], " stage) is ", block_size[s]);
  }
  TORCH_CHECK_VALUE(H * W <= std::numeric_limits<int32_t>::max(),
                    "image must have at most 2^31 - 1 pixels per channel, got ", H, "x", W);

  const StageParams basic_params =
      stage_params(0, block_size, step, search_size, group_size, match_threshold, threshold);
  const StageParams final_params =
      stage_params(1, block_size, step, search_size, group_size, match_threshold, wiener_factor);

  const at::Tensor batch = as_batch(image);
  const int64_t N = batch.size(0), C = batch.size(1);
  const bool colour = C == 3;
  at::Tensor work = batch.to(accumulate_type(image.scalar_type())).contiguous();
  std::vector<double> sigmas;
  if (colour) {
    // Decorrelated channels, grouped on luma; each channel's noise scales with its row's norm.
    work = mix_channels(work, kOpponent);
    for (int c = 0; c < 3; ++c) {
      const double* row = kOpponent + 3 * c;
      sigmas.push_back(sigma * std::sqrt(row[0] * row[0] + row[1] * row[1] + row[2] * row[2]));
    }
  } else {
    // Any other channel count: every channel is an image of its own.
    work = work.reshape({N * C, 1, H, W});
    sigmas.push_back(sigma);
  }

  // The NaN/inf policy (as nlm_denoise's): a pixel whose reach sees a non-finite value is NaN;
  // the kernels run with those values set to 0. Asking whether any exists synchronises a CUDA
  // stream, so off the CPU the masked path always runs.
  at::Tensor bad;
  if (image.scalar_type() != at::kByte &&
      (!work.is_cpu() || !at::isfinite(work).all().item<bool>())) {
    bad = at::isfinite(work).logical_not().any(1, /*keepdim=*/true);
    work = work.masked_fill(bad, 0);
  }

  at::Tensor estimate = at::empty_like(work);
  kernels.basic(work, sigmas, basic_params, estimate);
  int64_t reach = stage_reach(basic_params);
  if (final_stage) {
    at::Tensor refined = at::empty_like(work);
    kernels.final(work, estimate, sigmas, final_params, refined);
    estimate = refined;
    reach += stage_reach(final_params);
  }
  if (bad.defined()) {
    const at::Tensor seen = dilate(bad.to(work.scalar_type()), reach).to(at::kBool);
    estimate.masked_fill_(seen, std::numeric_limits<double>::quiet_NaN());
  }

  estimate = colour ? mix_channels(estimate, kOpponentInverse) : estimate.view(batch.sizes());
  if (image.scalar_type() == at::kByte) {
    estimate = estimate.round_().clamp_(0, 255).to(at::kByte);
  } else {
    estimate = estimate.to(image.scalar_type());
  }
  return estimate.view(image.sizes());
}

TORCH_LIBRARY_FRAGMENT(fusegen, m) {
  m.def(
      "bm3d_denoise(Tensor image, float sigma, str stage, int[2] block_size, int[2] step, "
      "int[2] search_size, int[2] group_size, float[2] match_threshold, float threshold, "
      "float wiener_factor) -> Tensor");
}

}  // namespace fusegen::bm3d
