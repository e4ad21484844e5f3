#pragma once
// Conversions between storage types and the accumulation type, written so that compilers
// vectorize the loops that use them.
//
// c10::Half converts through a software routine (or a scalar F16C instruction when the whole
// build targets F16C) and c10::BFloat16 rounds with a NaN branch; neither lets GCC vectorize a
// loop, which made float16 ten times slower than float32 in memory-bound kernels. These
// versions compute the same IEEE results (round to nearest even, canonical NaN) with integer
// arithmetic and selects only.

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <bit>
#include <cstdint>

namespace fusegen {

// ---- storage -> accumulation -------------------------------------------------------------

template <typename acc_t, typename scalar_t>
inline acc_t to_acc(scalar_t value) {
  return static_cast<acc_t>(value);
}

template <>
inline float to_acc<float, c10::BFloat16>(c10::BFloat16 value) {
  return std::bit_cast<float>(static_cast<uint32_t>(value.x) << 16);
}

// The exact half -> float conversion of Maratea's FP16 library (as in c10), select-only.
template <>
inline float to_acc<float, c10::Half>(c10::Half value) {
  const uint32_t w = static_cast<uint32_t>(value.x) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = std::bit_cast<float>((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = std::bit_cast<float>((two_w >> 17) | (126u << 23)) - 0.5f;
  // A mask, not ?: -- GCC will not if-convert a select between two float computations.
  const uint32_t denormal_mask = 0u - static_cast<uint32_t>(two_w < (1u << 27));
  const uint32_t magnitude = (denormal_mask & std::bit_cast<uint32_t>(denormalized)) |
                             (~denormal_mask & std::bit_cast<uint32_t>(normalized));
  return std::bit_cast<float>(sign | magnitude);
}

// ---- accumulation -> storage -------------------------------------------------------------

template <typename scalar_t, typename acc_t>
inline scalar_t to_storage(acc_t value) {
  return static_cast<scalar_t>(value);
}

template <>
inline c10::BFloat16 to_storage<c10::BFloat16, float>(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
  const bool is_nan = (bits & 0x7FFFFFFFu) > 0x7F800000u;
  const uint16_t out = is_nan ? uint16_t{0x7FC0} : static_cast<uint16_t>(rounded >> 16);
  return c10::BFloat16(out, c10::BFloat16::from_bits());
}

// The exact float -> half conversion (round to nearest even) of the same library, select-only.
template <>
inline c10::Half to_storage<c10::Half, float>(float value) {
  const uint32_t w = std::bit_cast<uint32_t>(value);
  float base = (std::bit_cast<float>(w & 0x7FFFFFFFu) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  bias = bias < 0x71000000u ? 0x71000000u : bias;  // an integer max: vectorizes as is
  base = std::bit_cast<float>((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = std::bit_cast<uint32_t>(base);
  const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
  const uint32_t nan_mask = 0u - static_cast<uint32_t>(shl1_w > 0xFF000000u);  // all ones for NaN
  const uint16_t out = static_cast<uint16_t>((sign >> 16) | (nan_mask & 0x7E00u) | (~nan_mask & nonsign));
  return c10::Half(out, c10::Half::from_bits());
}

}  // namespace fusegen
