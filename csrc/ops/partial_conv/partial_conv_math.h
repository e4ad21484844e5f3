#pragma once
// The per-element math of the partial convolution's rescale (Liu et al. 2018), written once
// for the CPU and CUDA kernels. With y the convolution of the input with its holes zeroed and
// count the number of valid inputs under the window (of `window` inputs in all):
//   z = y * window / count + bias   where count > 0
//   z = 0                           where no valid input reached the window (the hole)
// Both branches are computed and one selected, so the CPU loops vectorize: the division by a
// count of 0 is replaced by a division by 1 whose result is discarded.

#include <c10/macros/Macros.h>

namespace fusegen::partial_conv {

template <typename T>
C10_HOST_DEVICE inline T rescale(T y, T count, T window, T bias) {
  const bool valid = count > T(0);
  const T z = y * (window / (valid ? count : T(1))) + bias;
  return valid ? z : T(0);
}

// d(loss)/dy from d(loss)/dz: the rescale's factor where valid, 0 in the hole.
template <typename T>
C10_HOST_DEVICE inline T rescale_grad(T dz, T count, T window) {
  const bool valid = count > T(0);
  const T g = dz * (window / (valid ? count : T(1)));
  return valid ? g : T(0);
}

// The bias's share of d(loss)/dz: only valid outputs see the bias.
template <typename T>
C10_HOST_DEVICE inline T bias_grad_term(T dz, T count) {
  return count > T(0) ? dz : T(0);
}

}  // namespace fusegen::partial_conv
