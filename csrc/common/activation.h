#pragma once
// The activations of the fused operators (norm_act, bias_act) and their derivatives, written
// once for CPU and CUDA. Derivatives take the pre-activation z (recomputed from the saved
// convolution output), so the backward pass needs nothing saved beyond the convolution output
// and two (G, C) vectors.

#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace fusegen {

// The activation codes of the schemas' `int activation`: the one C++ definition.
// python/fusegen/ops/activations.py keeps the Python table; tests/ops/test_activations.py checks
// it against activation_names (exposed as fusegen._C.activation_codes()).
enum class Activation : int64_t {
  None = 0, ReLU = 1, LeakyReLU = 2, Tanh = 3, Sigmoid = 4, SiLU = 5,
  ReLU6 = 6, Hardswish = 7, GELU = 8, ELU = 9
};

inline constexpr int64_t kNumActivations = 10;

// fusegen's name of each code, indexed by the code.
inline constexpr const char* activation_names[kNumActivations] = {
    "none", "relu", "leaky_relu", "tanh", "sigmoid", "silu", "relu6", "hardswish", "gelu", "elu"};

struct ActParams {
  Activation kind;
  double negative_slope;  // LeakyReLU's slope; ELU's alpha
};

template <Activation A>
using ActivationTag = std::integral_constant<Activation, A>;

template <Activation A, typename T>
C10_HOST_DEVICE inline T activate(T z, T slope) {
  if constexpr (A == Activation::ReLU) {
    return z <= T(0) ? T(0) : z;  // NaN stays NaN, as in torch.relu
  } else if constexpr (A == Activation::LeakyReLU) {
    return z > T(0) ? z : z * slope;
  } else if constexpr (A == Activation::Tanh) {
    return std::tanh(z);
  } else if constexpr (A == Activation::Sigmoid) {
    return T(1) / (T(1) + std::exp(-z));
  } else if constexpr (A == Activation::SiLU) {
    return z / (T(1) + std::exp(-z));
  } else if constexpr (A == Activation::ReLU6) {
    return z != z ? z : (z <= T(0) ? T(0) : (z >= T(6) ? T(6) : z));  // NaN stays NaN
  } else if constexpr (A == Activation::Hardswish) {
    const T r = z + T(3);
    return z != z ? z : z * (r <= T(0) ? T(0) : (r >= T(6) ? T(6) : r)) / T(6);
  } else if constexpr (A == Activation::GELU) {  // the exact (erf) form, torch's default
    return T(0.5) * z * (T(1) + std::erf(z * T(0.70710678118654752440)));
  } else if constexpr (A == Activation::ELU) {  // slope is alpha
    return z > T(0) ? z : slope * (std::exp(z) - T(1));
  } else {
    return z;
  }
}

// d activate / dz. At z == 0 ReLU and LeakyReLU take the negative side, as torch does.
template <Activation A, typename T>
C10_HOST_DEVICE inline T activation_grad(T z, T slope) {
  if constexpr (A == Activation::ReLU) {
    return z <= T(0) ? T(0) : T(1);  // NaN passes the gradient, as torch's threshold_backward
  } else if constexpr (A == Activation::LeakyReLU) {
    return z > T(0) ? T(1) : slope;
  } else if constexpr (A == Activation::Tanh) {
    const T t = std::tanh(z);
    return T(1) - t * t;
  } else if constexpr (A == Activation::Sigmoid) {
    const T s = T(1) / (T(1) + std::exp(-z));
    return s * (T(1) - s);
  } else if constexpr (A == Activation::SiLU) {
    const T s = T(1) / (T(1) + std::exp(-z));
    return s * (T(1) + z * (T(1) - s));
  } else if constexpr (A == Activation::ReLU6) {
    return (z > T(0) && z < T(6)) ? T(1) : T(0);
  } else if constexpr (A == Activation::Hardswish) {
    return z <= T(-3) ? T(0) : (z < T(3) ? z / T(3) + T(0.5) : T(1));
  } else if constexpr (A == Activation::GELU) {
    const T cdf = T(0.5) * (T(1) + std::erf(z * T(0.70710678118654752440)));
    return cdf + z * T(0.39894228040143267794) * std::exp(T(-0.5) * z * z);
  } else if constexpr (A == Activation::ELU) {
    return z > T(0) ? T(1) : slope * std::exp(z);
  } else {
    return T(1);
  }
}

// grad * act'(z) with torch's masking: where torch's backward selects zero (ReLU at z <= 0,
// ReLU6 outside (0, 6), Hardswish at or below -3), the result is 0 even for an infinite or NaN
// grad, rather than grad * 0 = NaN; where it passes the gradient (ReLU at NaN, Hardswish from
// 3 up), it is grad itself.
template <Activation A, typename T>
C10_HOST_DEVICE inline T chain_grad(T z, T grad, T slope) {
  if constexpr (A == Activation::ReLU) {
    return z <= T(0) ? T(0) : grad;
  } else if constexpr (A == Activation::LeakyReLU) {
    return z > T(0) ? grad : grad * slope;
  } else if constexpr (A == Activation::ReLU6) {
    return (z > T(0) && z < T(6)) ? grad : T(0);  // torch's hardtanh_backward
  } else if constexpr (A == Activation::Hardswish) {  // torch's hardswish_backward
    if (z <= T(-3)) return T(0);
    return z >= T(3) ? grad : grad * (z / T(3) + T(0.5));  // NaN z: NaN, as torch's vector loop
  } else if constexpr (A == Activation::ELU) {
    return z > T(0) ? grad : grad * slope * std::exp(z);  // NaN z: NaN, as torch's vector loop
  } else {
    return grad * activation_grad<A>(z, slope);
  }
}

// Calls f(ActivationTag<A>{}) for the runtime activation a, so that kernels are compiled once
// per activation with the choice hoisted out of their inner loops.
template <typename F>
void dispatch_activation(Activation a, F&& f) {
  switch (a) {
    case Activation::None: f(ActivationTag<Activation::None>{}); return;
    case Activation::ReLU: f(ActivationTag<Activation::ReLU>{}); return;
    case Activation::LeakyReLU: f(ActivationTag<Activation::LeakyReLU>{}); return;
    case Activation::Tanh: f(ActivationTag<Activation::Tanh>{}); return;
    case Activation::Sigmoid: f(ActivationTag<Activation::Sigmoid>{}); return;
    case Activation::SiLU: f(ActivationTag<Activation::SiLU>{}); return;
    case Activation::ReLU6: f(ActivationTag<Activation::ReLU6>{}); return;
    case Activation::Hardswish: f(ActivationTag<Activation::Hardswish>{}); return;
    case Activation::GELU: f(ActivationTag<Activation::GELU>{}); return;
    case Activation::ELU: f(ActivationTag<Activation::ELU>{}); return;
  }
  TORCH_CHECK_VALUE(false, "activation code ", static_cast<int64_t>(a), " is not one of 0..",
                    kNumActivations - 1);
}

}  // namespace fusegen
