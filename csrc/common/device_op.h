#pragma once
// Registering one operator body for several devices.
//
// An operator's front (schema, checks, output allocation) is written once, in ops/<op>/<op>.cpp,
// as a function whose first parameter is the table of one device's kernels:
//   at::Tensor weighted_sum(const Kernels& kernels, at::TensorList inputs, const at::Tensor& w);
// Each device's file binds it to that device's table and registers the result for its dispatch
// key, so no file branches on the device and a CPU-only build registers no CUDA key:
//   TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
//     m.impl("weighted_sum", &OnDevice<Kernels, &kCpuKernels, &weighted_sum>::call);
//   }

#include <utility>

namespace fusegen {

template <typename Table, const Table* kernels, auto body>
struct OnDevice;

template <typename Table, const Table* kernels, typename R, typename... Args,
          R (*body)(const Table&, Args...)>
struct OnDevice<Table, kernels, body> {
  // The operator with the schema's arguments (the body's, less the table).
  static R call(Args... args) { return body(*kernels, std::forward<Args>(args)...); }
};

}  // namespace fusegen
