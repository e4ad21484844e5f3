#pragma once
// CPU forms of the piecewise activations that GCC vectorizes.
//
// Under the default -ftrapping-math, GCC does not if-convert a float comparison inside a loop
// (`z > 0 ? g : 0`), so a ReLU backward loop written that way runs one element at a time. The
// same choice made on the integer bits of z is plain integer arithmetic and vectorizes. The
// results equal activation.h's: z > 0 is false for NaN and for -0.0, as there.

#include "ops/conv_norm_act/activation.h"

#include <bit>
#include <cstdint>
#include <type_traits>

namespace fusegen::conv_norm_act {

template <typename T>
struct FloatBits;
template <>
struct FloatBits<float> {
  using Int = int32_t;
  static constexpr Int kInfinity = 0x7F800000;
  static constexpr Int kMagnitude = 0x7FFFFFFF;
};
template <>
struct FloatBits<double> {
  using Int = int64_t;
  static constexpr Int kInfinity = 0x7FF0000000000000;
  static constexpr Int kMagnitude = 0x7FFFFFFFFFFFFFFF;
};

// z > 0 ? if_positive : otherwise, without a branch or a float comparison.
template <typename T>
inline T select_positive(T z, T if_positive, T otherwise) {
  using Int = typename FloatBits<T>::Int;
  const Int bits = std::bit_cast<Int>(z);
  // Positive and not NaN: sign bit clear, not zero, at most +infinity.
  const Int keep = -static_cast<Int>((bits > 0) & (bits <= FloatBits<T>::kInfinity));
  return std::bit_cast<T>((std::bit_cast<Int>(if_positive) & keep) |
                          (std::bit_cast<Int>(otherwise) & ~keep));
}

// max(z, 0) that keeps NaN (of either sign) as torch.relu does, on the bits of z.
template <typename T>
inline T relu_keeping_nan(T z) {
  using Int = typename FloatBits<T>::Int;
  const Int bits = std::bit_cast<Int>(z);
  const Int is_nan = (bits & FloatBits<T>::kMagnitude) > FloatBits<T>::kInfinity;
  const Int keep = -static_cast<Int>((bits > 0) | is_nan);
  return std::bit_cast<T>(bits & keep);
}

// act(z) for the CPU loops.
template <Activation A, typename T>
inline T activate_cpu(T z, T slope) {
  if constexpr (A == Activation::ReLU) {
    return relu_keeping_nan(z);
  } else if constexpr (A == Activation::LeakyReLU) {
    return select_positive(z, z, z * slope);
  } else {
    return activate<A>(z, slope);
  }
}

// grad * act'(z) for the CPU loops.
template <Activation A, typename T>
inline T chain_grad_cpu(T z, T grad, T slope) {
  if constexpr (A == Activation::ReLU) {
    return select_positive(z, grad, T(0));
  } else if constexpr (A == Activation::LeakyReLU) {
    return select_positive(z, grad, grad * slope);
  } else {
    return grad * activation_grad<A>(z, slope);
  }
}

}  // namespace fusegen::conv_norm_act
