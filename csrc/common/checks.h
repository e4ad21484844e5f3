#pragma once
// Argument checks shared by fusegen's operators. Each message names the argument, what was
// expected and what came, so that a caller of torch.ops.fusegen.* directly (bypassing the
// Python wrappers) still gets an actionable error rather than a crash.

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <string>

namespace fusegen {

inline bool is_supported_float(c10::ScalarType t) {
  return t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16;
}

inline void check_float_tensor(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(t.defined(), name, " must be a tensor, got an undefined tensor");
  TORCH_CHECK_TYPE(is_supported_float(t.scalar_type()), name,
                   " must have dtype float32, float64, float16 or bfloat16, got ", t.scalar_type());
}

inline void check_same_device(const at::Tensor& t, const char* name, const at::Tensor& ref,
                              const char* ref_name) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on the same device as ", ref_name,
                    " (", ref.device(), "), got ", t.device());
}

// The dispatcher picks a kernel by its arguments' devices; after the same-device checks this
// confirms that the tensors are on the device the kernel was registered for.
inline void check_device_type(const at::Tensor& t, const char* name, c10::DeviceType expected) {
  TORCH_CHECK_VALUE(t.device().type() == expected, name, " must be a ",
                    c10::DeviceTypeName(expected), " tensor for this kernel, got ", t.device());
}

// The accumulation dtype for a storage dtype: float64 stays, everything else sums in float32.
inline c10::ScalarType accumulate_type(c10::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace fusegen
