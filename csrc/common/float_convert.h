#pragma once
// Conversions from the accumulation type back to the storage type, written so that compilers
// vectorize the loops that use them. c10::BFloat16's own conversion checks for NaN with a
// branch that keeps GCC from vectorizing a store loop; this one selects instead, with the same
// round-to-nearest-even result and the same canonical NaN.

#include <c10/util/BFloat16.h>

#include <bit>
#include <cstdint>

namespace fusegen {

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

}  // namespace fusegen
