#pragma once
// The non-local-means weight, the per-pixel math of every NLM kernel, written once:
//   w = exp(-max(mean_d2 - 2 sigma^2, 0) / h^2)
// The CUDA kernel calls it for float and double, the CPU kernel for double; the CPU's float
// kernel uses a vectorizable twin (nlm_cpu_kernel.h), and the tests hold both to the values of
// this one.

#include <c10/macros/Macros.h>

#include <cmath>

namespace fusegen::nlm {

template <typename acc_t>
C10_HOST_DEVICE inline acc_t nlm_weight_exact(acc_t mean_d2, acc_t two_sigma2, acc_t inv_h2) {
  const acc_t excess = mean_d2 - two_sigma2;
  // A comparison, not max(): fmax and std::max disagree on NaN, and host and device must not.
  const acc_t clamped = excess > acc_t(0) ? excess : acc_t(0);
#ifdef __CUDA_ARCH__
  return exp(-clamped * inv_h2);  // CUDA's float and double overloads
#else
  return std::exp(-clamped * inv_h2);
#endif
}

}  // namespace fusegen::nlm
