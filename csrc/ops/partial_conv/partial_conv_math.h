#pragma once
// The per-element math of the partial convolution's rescale (Liu et al. 2018), written once
// for the CPU and CUDA kernels. With y the convolution of the input with its holes zeroed and
// count the number of valid inputs under the window (of `window` inputs in all):
//   ratio = window / count          where count > 0, else 0 (the hole)
//   z     = y * ratio + bias        where ratio > 0
//   z     = 0                       in the hole, whatever y holds
// The CPU kernel computes the ratios once per mask plane with window_ratio and applies them
// with a branch-free twin of rescale (select_positive of common/activation_cpu.h), which the
// tests hold to the same values.

#include <c10/macros/Macros.h>

namespace fusegen::partial_conv {

template <typename T>
C10_HOST_DEVICE inline T window_ratio(T count, T window) {
  return count > T(0) ? window / count : T(0);
}

template <typename T>
C10_HOST_DEVICE inline T rescale(T y, T ratio, T bias) {
  return ratio > T(0) ? y * ratio + bias : T(0);
}

// d(loss)/dy from d(loss)/dz: the ratio where valid, exactly 0 in the hole (even for an
// infinite dz, which a product with 0 would turn into NaN).
template <typename T>
C10_HOST_DEVICE inline T rescale_grad(T dz, T ratio) {
  return ratio > T(0) ? dz * ratio : T(0);
}

// The bias's share of d(loss)/dz: only valid outputs see the bias.
template <typename T>
C10_HOST_DEVICE inline T bias_grad_term(T dz, T ratio) {
  return ratio > T(0) ? dz : T(0);
}

}  // namespace fusegen::partial_conv
