#pragma once
// Fused weighted sum of K same-shaped tensors: out = sum_k w_k * x_k.
//
// The device kernels see every tensor as a (N, M) matrix over one shared memory layout:
// N samples of M contiguous elements (N = 1 for one weight per input). Weights arrive
// contiguous in the accumulation dtype: w[k] (per input) or w[k * N + n] (per input per sample).

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include <tuple>
#include <vector>

namespace fusegen::weighted_sum {

// Elements that one work item (CPU task or CUDA block) covers; never crosses a sample boundary.
constexpr int64_t kBlockElements = 2048;

struct Problem {
  int64_t num_inputs;              // K
  std::vector<at::Tensor> inputs;  // the K inputs in the output's strides; empty when not needed
  at::Tensor weights;              // contiguous, accumulation dtype, K or K*N values
  int64_t num_samples;             // N
  int64_t sample_size;             // M
  bool per_sample;
  int64_t blocks_per_sample() const;
  int64_t num_items() const { return num_samples * blocks_per_sample(); }
};

// One device's kernels (weighted_sum_cpu.cpp, weighted_sum_cuda.cu).
struct Kernels {
  c10::DeviceType device;
  // out must already have the inputs' layout.
  void (*forward)(const Problem& p, at::Tensor& out);
  // grad_inputs: K tensors to fill, or empty. partials: (num_items, K) in the accumulation
  // dtype to receive per-item dot products <grad, x_k>, or undefined.
  void (*backward)(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                   at::Tensor& partials);
};

// The operators for any device's kernels (weighted_sum.cpp): checks, layout, then the kernels.
at::Tensor weighted_sum(const Kernels& kernels, at::TensorList inputs, const at::Tensor& weights);
// The weighted sum written into `out` (the inputs' shape, dtype and device; it may be one of
// the inputs, for an in-place update).
void weighted_sum_into(const Kernels& kernels, at::TensorList inputs, const at::Tensor& weights,
                       at::Tensor& out);
std::tuple<std::vector<at::Tensor>, at::Tensor> weighted_sum_backward(
    const Kernels& kernels, const at::Tensor& grad, at::TensorList inputs,
    const at::Tensor& weights, bool inputs_need_grad, bool weights_need_grad);

}  // namespace fusegen::weighted_sum
