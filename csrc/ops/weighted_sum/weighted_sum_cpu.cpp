// CPU kernels for the fused weighted sum. Work is split into items of at most kBlockElements
// elements of one sample; each item keeps a float (or double) accumulator block in L1 and
// streams every input through it once, so memory traffic is the minimum: K reads + 1 write
// forward; 1 + K reads and K writes backward. Items run in parallel (at::parallel_for/OpenMP).

#include "ops/weighted_sum/weighted_sum.h"

#include "common/checks.h"
#include "common/float_convert.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>

namespace fusegen::weighted_sum {
namespace {

// Below this many element-operations per task, threading costs more than it saves.
constexpr int64_t kMinWorkPerTask = 1 << 16;

struct ItemRange {
  int64_t sample;  // n
  int64_t start;   // offset of the first element in the (N, M) view
  int64_t length;
};

inline ItemRange item_range(const Problem& p, int64_t item) {
  const int64_t bps = p.blocks_per_sample();
  const int64_t n = item / bps;
  const int64_t offset_in_sample = (item % bps) * kBlockElements;
  return {n, n * p.sample_size + offset_in_sample,
          std::min(kBlockElements, p.sample_size - offset_in_sample)};
}

inline int64_t grain_items(const Problem& p) {
  const int64_t work_per_item = std::min(kBlockElements, p.sample_size) * p.num_inputs;
  return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(work_per_item, 1));
}

template <typename acc_t>
inline acc_t weight_of(const acc_t* w, const Problem& p, int64_t k, int64_t n) {
  return p.per_sample ? w[k * p.num_samples + n] : w[k];
}

template <typename scalar_t>
std::vector<const scalar_t*> data_pointers(const std::vector<at::Tensor>& tensors) {
  std::vector<const scalar_t*> ptrs;
  ptrs.reserve(tensors.size());
  for (const at::Tensor& t : tensors) ptrs.push_back(t.const_data_ptr<scalar_t>());
  return ptrs;
}

template <typename scalar_t>
void forward_kernel(const Problem& p, at::Tensor& out) {
  using acc_t = at::opmath_type<scalar_t>;
  const std::vector<const scalar_t*> xs = data_pointers<scalar_t>(p.inputs);
  const acc_t* w = p.weights.const_data_ptr<acc_t>();
  scalar_t* y = out.mutable_data_ptr<scalar_t>();
  const int64_t K = p.num_inputs;

  at::parallel_for(0, p.num_items(), grain_items(p), [&](int64_t begin, int64_t end) {
    alignas(64) acc_t acc[kBlockElements];
    for (int64_t item = begin; item < end; ++item) {
      const ItemRange r = item_range(p, item);
      const acc_t w0 = weight_of(w, p, 0, r.sample);
      const scalar_t* x0 = xs[0] + r.start;
#pragma omp simd
      for (int64_t i = 0; i < r.length; ++i) acc[i] = w0 * to_acc<acc_t>(x0[i]);
      for (int64_t k = 1; k < K; ++k) {
        const acc_t wk = weight_of(w, p, k, r.sample);
        const scalar_t* xk = xs[k] + r.start;
#pragma omp simd
        for (int64_t i = 0; i < r.length; ++i) acc[i] += wk * to_acc<acc_t>(xk[i]);
      }
      scalar_t* yr = y + r.start;
#pragma omp simd
      for (int64_t i = 0; i < r.length; ++i) yr[i] = to_storage<scalar_t>(acc[i]);
    }
  });
}

template <typename scalar_t>
void backward_kernel(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                     at::Tensor& partials) {
  using acc_t = at::opmath_type<scalar_t>;
  const bool want_inputs = !grad_inputs.empty();
  const bool want_weights = partials.defined();
  const std::vector<const scalar_t*> xs = data_pointers<scalar_t>(p.inputs);
  std::vector<scalar_t*> gxs;
  for (at::Tensor& g : grad_inputs) gxs.push_back(g.mutable_data_ptr<scalar_t>());
  const acc_t* w = p.weights.const_data_ptr<acc_t>();
  const scalar_t* g = grad.const_data_ptr<scalar_t>();
  acc_t* dots = want_weights ? partials.mutable_data_ptr<acc_t>() : nullptr;
  const int64_t K = p.num_inputs;

  at::parallel_for(0, p.num_items(), grain_items(p), [&](int64_t begin, int64_t end) {
    alignas(64) acc_t gbuf[kBlockElements];
    for (int64_t item = begin; item < end; ++item) {
      const ItemRange r = item_range(p, item);
      const scalar_t* gr = g + r.start;
#pragma omp simd
      for (int64_t i = 0; i < r.length; ++i) gbuf[i] = to_acc<acc_t>(gr[i]);
      for (int64_t k = 0; k < K; ++k) {
        if (want_inputs) {
          const acc_t wk = weight_of(w, p, k, r.sample);
          scalar_t* gxk = gxs[k] + r.start;
#pragma omp simd
          for (int64_t i = 0; i < r.length; ++i) gxk[i] = to_storage<scalar_t>(wk * gbuf[i]);
        }
        if (want_weights) {
          const scalar_t* xk = xs[k] + r.start;
          acc_t dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t i = 0; i < r.length; ++i) dot += gbuf[i] * to_acc<acc_t>(xk[i]);
          dots[item * K + k] = dot;
        }
      }
    }
  });
}

}  // namespace

void forward_cpu(const Problem& p, at::Tensor& out) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(),
                                  "fusegen::weighted_sum (CPU)",
                                  [&] { forward_kernel<scalar_t>(p, out); });
}

void backward_cpu(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                  at::Tensor& partials) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(),
                                  "fusegen::weighted_sum_backward (CPU)",
                                  [&] { backward_kernel<scalar_t>(p, grad, grad_inputs, partials); });
}

}  // namespace fusegen::weighted_sum
