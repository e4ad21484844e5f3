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
// written for the compiler's SIMD vectorizer.

#include "common/cephes_exp.h"
#include "ops/nlm/nlm.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fusegen::nlm {
namespace {

// GCC builds a second copy of the kernel for AVX2 (the build's baseline is x86-64's SSE2).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FUSEGEN_NLM_HAVE_AVX2_BUILD 1
#else
#define FUSEGEN_NLM_HAVE_AVX2_BUILD 0
#endif

namespace baseline {
#include "ops/nlm/nlm_cpu_kernel.h"
}  // namespace baseline

#if FUSEGEN_NLM_HAVE_AVX2_BUILD
#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
#include "ops/nlm/nlm_cpu_kernel.h"
}  // namespace avx2
#pragma GCC pop_options
#endif

}  // namespace

void denoise_cpu(const at::Tensor& padded, const Params& p, at::Tensor& out) {
#if FUSEGEN_NLM_HAVE_AVX2_BUILD
  // Twice the SIMD width where the CPU has it (nearly every x86 CPU since 2013).
  if (__builtin_cpu_supports("avx2")) {
    AT_DISPATCH_FLOATING_TYPES(padded.scalar_type(), "fusegen::nlm_denoise (CPU, AVX2)",
                               [&] { avx2::denoise_kernel<scalar_t>(padded, p, out); });
    return;
  }
#endif
  AT_DISPATCH_FLOATING_TYPES(padded.scalar_type(), "fusegen::nlm_denoise (CPU)",
                             [&] { baseline::denoise_kernel<scalar_t>(padded, p, out); });
}

}  // namespace fusegen::nlm
