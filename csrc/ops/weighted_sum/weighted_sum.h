#pragma once
// Fused weighted sum of K same-shaped tensors: out = sum_k w_k * x_k.
//
// The device kernels see every tensor as a (N, M) matrix over one shared memory layout:
// N samples of M contiguous elements (N = 1 for one weight per input). Weights arrive
// contiguous in the accumulation dtype: w[k] (per input) or w[k * N + n] (per input per sample).

#include <ATen/core/Tensor.h>

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

// out must already have the inputs' layout.
void forward_cpu(const Problem& p, at::Tensor& out);
// grad_inputs: K tensors to fill, or empty. partials: (num_items, K) in the accumulation dtype
// to receive per-item dot products <grad, x_k>, or undefined.
void backward_cpu(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                  at::Tensor& partials);

#ifdef FUSEGEN_WITH_CUDA
void forward_cuda(const Problem& p, at::Tensor& out);
void backward_cuda(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                   at::Tensor& partials);
#endif

}  // namespace fusegen::weighted_sum
