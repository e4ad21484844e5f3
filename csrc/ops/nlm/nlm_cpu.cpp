// CPU kernel for non-local means. The image is cut into strips of rows; each strip is one task
// (at::parallel_for over images x strips) that visits every search offset once:
//
//   for each offset o = (dy, dx) of one half of the search window:
//     e(p)  = sum over channels of (I(p) - I(p + o))^2           rows of squared differences
//     d2(p) = box filter of e over the patch                      running sums: O(1) per pixel
//     w(p)  = exp(-max(d2(p) - 2 sigma^2, 0) / h^2)
//     pixel p      gains w(p) * I(p + o)                          the offset o ...
//     pixel p + o  gains w(p) * I(p)                              ... and -o, for the same weight
//
// so the cost is O(search^2 * pixels / 2), independent of the patch size, with buffers of a
// few rows: no per-pixel search-window buffers. Every inner loop runs along a row and is
// written for the compiler's SIMD vectorizer; the kernel is compiled once per instruction set
// (common/cpu_isa.h) and FUSEGEN_CPU_ISA caps the choice, as for the other CPU kernels.

#include "ops/nlm/nlm.h"
#include "ops/nlm/nlm_weight.h"

#include "common/cephes_exp.h"
#include "common/cpu_isa.h"
#include "common/device_op.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fusegen::nlm {
namespace {

// Copies of the kernel for the baseline, AVX2 and AVX-512 (common/cpu_isa.h): two and four
// times the SIMD width for the row loops and the float exp polynomial.
#define FUSEGEN_ISA_KERNEL_BODY "ops/nlm/nlm_cpu_kernel.h"
#include "common/cpu_isa_copies.inc"

void denoise_cpu(const at::Tensor& padded, const Params& p, at::Tensor& out) {
  FUSEGEN_WITH_BEST_ISA(AT_DISPATCH_FLOATING_TYPES(
      padded.scalar_type(), "fusegen::nlm_denoise (CPU)",
      [&] { isa::denoise_kernel<scalar_t>(padded, p, out); }));
}

}  // namespace

const Kernels cpu_kernels{c10::DeviceType::CPU, &denoise_cpu};

TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
  m.impl("nlm_denoise", &OnDevice<Kernels, &cpu_kernels, &nlm_denoise>::call);
}

}  // namespace fusegen::nlm
