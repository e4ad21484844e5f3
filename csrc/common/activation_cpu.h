#pragma once
// CPU forms of the activations that GCC vectorizes.
//
// Under the default -ftrapping-math, GCC does not if-convert a float comparison inside a loop
// (`z > 0 ? g : 0`), so a ReLU backward loop written that way runs one element at a time. The
// same choice made on the integer bits of z is plain integer arithmetic and vectorizes. The
// results equal activation.h's: z > 0 is false for NaN and for -0.0, as there.
//
// std::exp and std::tanh are library calls that stop the vectorizer, so float Tanh, Sigmoid and
// SiLU use Cephes' expf/tanhf polynomials (within 1-2 ulp of the correctly rounded result;
// tested against torch), with their range clamps also done on the bits. Doubles keep std::.

#include "common/cephes_exp.h"
#include "common/activation.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace fusegen {

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

// z > 0 or z is NaN ? if_kept : 0 -- the ReLU gradient mask of torch's threshold_backward
// (zero where z <= 0, so a NaN input passes its gradient through).
template <typename T>
inline T keep_unless_nonpositive(T z, T if_kept) {
  using Int = typename FloatBits<T>::Int;
  const Int bits = std::bit_cast<Int>(z);
  const Int is_nan = (bits & FloatBits<T>::kMagnitude) > FloatBits<T>::kInfinity;
  const Int keep = -static_cast<Int>((bits > 0) | is_nan);
  return std::bit_cast<T>(std::bit_cast<Int>(if_kept) & keep);
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

// The larger of x and lo, NaN kept, on the bits: for lo < 0 only negative x can be below it,
// and negative floats order by magnitude (their bits as unsigned) the other way round.
inline float clamp_below(float x, float lo) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  const int32_t magnitude = bits & 0x7FFFFFFF;
  const int32_t lo_magnitude = std::bit_cast<int32_t>(lo) & 0x7FFFFFFF;
  // Below lo: sign set, magnitude beyond lo's and not NaN.
  const int32_t below = -static_cast<int32_t>((bits < 0) & (magnitude > lo_magnitude) &
                                              (magnitude <= FloatBits<float>::kInfinity));
  return std::bit_cast<float>((std::bit_cast<int32_t>(lo) & below) | (bits & ~below));
}

// The smaller of x and hi (hi > 0), NaN kept: positive floats order like their bits.
inline float clamp_above(float x, float hi) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  const int32_t hi_bits = std::bit_cast<int32_t>(hi);
  const int32_t above = -static_cast<int32_t>((bits > hi_bits) & (bits <= FloatBits<float>::kInfinity));
  return std::bit_cast<float>((hi_bits & above) | (bits & ~above));
}

// exp(x) for float, vectorizable: Cephes' expf (common/cephes_exp.h), relative error below 1e-7. The clamps keep 2^n representable as two normal factors, so the
// result still underflows to subnormals and 0 and overflows to +inf where expf does; NaN stays NaN.
inline float exp_cpu(float x) {
  x = clamp_above(clamp_below(x, -104.0f), 89.0f);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float y = exp_polynomial(reduce_by_ln2(x, n));
  const int32_t k = static_cast<int32_t>(n), k1 = k >> 1, k2 = k - k1;  // 2^n = 2^k1 * 2^k2
  return y * std::bit_cast<float>((k1 + 127) << 23) * std::bit_cast<float>((k2 + 127) << 23);
}
inline double exp_cpu(double x) { return std::exp(x); }

// tanh(z) for float, vectorizable: Cephes' tanhf, an odd polynomial below |z| = 0.625 and
// 1 - 2 / (exp(2|z|) + 1) above, with z's sign.
inline float tanh_cpu(float z) {
  const float az = std::fabs(z);
  const float z2 = az * az;
  float s = -5.70498872745e-3f;
  s = s * z2 + 2.06390887954e-2f;
  s = s * z2 - 5.37397155531e-2f;
  s = s * z2 + 1.33314422036e-1f;
  s = s * z2 - 3.33332819422e-1f;
  const float small = s * z2 * az + az;
  const float large = 1.0f - 2.0f / (exp_cpu(2.0f * az) + 1.0f);
  // |z| < 0.625 on the bits of |z| (NaN has the largest bits, so takes `large`, which is NaN).
  const int32_t use_small = -static_cast<int32_t>(std::bit_cast<int32_t>(az) < std::bit_cast<int32_t>(0.625f));
  const float t = std::bit_cast<float>((std::bit_cast<int32_t>(small) & use_small) |
                                       (std::bit_cast<int32_t>(large) & ~use_small));
  return std::copysign(t, z);
}
inline double tanh_cpu(double z) { return std::tanh(z); }

template <typename T>
inline T sigmoid_cpu(T z) {
  return T(1) / (T(1) + exp_cpu(-z));
}

// cond ? a : b on the bits, for a condition computed as integer arithmetic.
template <typename T>
inline T select_bits(typename FloatBits<T>::Int cond, T a, T b) {
  using Int = typename FloatBits<T>::Int;
  const Int mask = -cond;
  return std::bit_cast<T>((std::bit_cast<Int>(a) & mask) | (std::bit_cast<Int>(b) & ~mask));
}

template <typename T>
inline typename FloatBits<T>::Int is_nan_bits(T z) {
  using Int = typename FloatBits<T>::Int;
  return (std::bit_cast<Int>(z) & FloatBits<T>::kMagnitude) > FloatBits<T>::kInfinity;
}

// min(max(z, 0), 6), NaN kept (torch.nn.functional.relu6).
inline float relu6_cpu(float z) { return clamp_above(relu_keeping_nan(z), 6.0f); }

// Phi(z) = P(N(0, 1) <= z) and exp(-z^2 / 2), float, vectorizable: Abramowitz & Stegun 7.1.26
// for erfc(|z| / sqrt(2)) (absolute error below 1.5e-7), taken on the side that keeps Phi's
// relative accuracy in the lower tail.
inline float normal_cdf_cpu(float z, float& gauss) {
  const float x = std::fabs(z) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * x);
  const float poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  gauss = exp_cpu(-x * x);
  const float tail = 0.5f * poly * gauss;  // Phi(-|z|)
  return select_bits<float>(std::bit_cast<int32_t>(z) < 0, tail, 1.0f - tail);
}

// act(z) for the CPU loops.
template <Activation A, typename T>
inline T activate_cpu(T z, T slope) {
  if constexpr (A == Activation::ReLU) {
    return relu_keeping_nan(z);
  } else if constexpr (A == Activation::LeakyReLU) {
    return select_positive(z, z, z * slope);
  } else if constexpr (A == Activation::Tanh) {
    return tanh_cpu(z);
  } else if constexpr (A == Activation::Sigmoid) {
    return sigmoid_cpu(z);
  } else if constexpr (A == Activation::SiLU) {
    return z * sigmoid_cpu(z);
  } else if constexpr (A == Activation::ReLU6 && std::is_same_v<T, float>) {
    return relu6_cpu(z);
  } else if constexpr (A == Activation::Hardswish && std::is_same_v<T, float>) {
    return z * relu6_cpu(z + 3.0f) * (1.0f / 6.0f);
  } else if constexpr (A == Activation::GELU && std::is_same_v<T, float>) {
    float gauss;
    return z * normal_cdf_cpu(z, gauss);
  } else if constexpr (A == Activation::ELU && std::is_same_v<T, float>) {
    return select_positive(z, z, slope * (exp_cpu(z) - 1.0f));
  } else {
    return activate<A>(z, slope);
  }
}

// grad * act'(z) for the CPU loops.
template <Activation A, typename T>
inline T chain_grad_cpu(T z, T grad, T slope) {
  if constexpr (A == Activation::ReLU) {
    return keep_unless_nonpositive(z, grad);
  } else if constexpr (A == Activation::LeakyReLU) {
    return select_positive(z, grad, grad * slope);
  } else if constexpr (A == Activation::Tanh) {
    const T t = tanh_cpu(z);
    return grad * (T(1) - t * t);
  } else if constexpr (A == Activation::Sigmoid) {
    const T s = sigmoid_cpu(z);
    return grad * (s * (T(1) - s));
  } else if constexpr (A == Activation::SiLU) {
    const T s = sigmoid_cpu(z);
    return grad * (s * (T(1) + z * (T(1) - s)));
  } else if constexpr (A == Activation::ReLU6 && std::is_same_v<T, float>) {
    const int32_t bits = std::bit_cast<int32_t>(z);  // 0 < z < 6: positive floats order like bits
    return select_bits<float>((bits > 0) & (bits < std::bit_cast<int32_t>(6.0f)), grad, 0.0f);
  } else if constexpr (A == Activation::Hardswish && std::is_same_v<T, float>) {
    const int32_t bits = std::bit_cast<int32_t>(z);
    const int32_t magnitude = bits & 0x7FFFFFFF, nan = is_nan_bits(z);
    // z <= -3: 0; z >= 3: grad; in between, and NaN: grad * (z / 3 + 1/2) (torch's rule).
    const int32_t low = (bits < 0) & (magnitude >= std::bit_cast<int32_t>(3.0f)) & (nan ^ 1);
    const int32_t middle = (low ^ 1) & (nan | (bits < 0) | (bits < std::bit_cast<int32_t>(3.0f)));
    return select_bits<float>(low, 0.0f, select_bits<float>(middle, grad * (z * (1.0f / 3.0f) + 0.5f), grad));
  } else if constexpr (A == Activation::GELU && std::is_same_v<T, float>) {
    float gauss;
    const float cdf = normal_cdf_cpu(z, gauss);
    return grad * (cdf + z * 0.39894228040143268f * gauss);
  } else if constexpr (A == Activation::ELU && std::is_same_v<T, float>) {
    return select_positive(z, grad, grad * slope * exp_cpu(z));
  } else {
    return chain_grad<A>(z, grad, slope);
  }
}

}  // namespace fusegen
