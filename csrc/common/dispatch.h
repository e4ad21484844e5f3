#pragma once
// The storage dtypes of fusegen's float kernels: float32, float64, float16 and bfloat16.

#include <ATen/Dispatch.h>

// Runs the lambda with scalar_t set to the dtype's C++ type (AT_DISPATCH_* semantics).
#define FUSEGEN_DISPATCH_FLOATS(dtype, name, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, name, __VA_ARGS__)
