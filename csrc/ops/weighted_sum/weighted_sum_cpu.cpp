// CPU kernels for the fused weighted sum. Work is split into items of at most kBlockElements
// elements of one sample; each item keeps a float (or double) accumulator block in L1 and
// streams every input through it once, so memory traffic is the minimum: K reads + 1 write
// forward; 1 + K reads and K writes backward. Items run in parallel (at::parallel_for/OpenMP).

#include "ops/weighted_sum/weighted_sum.h"

#include "common/checks.h"
#include "common/cpu_isa.h"
#include "common/device_op.h"
#include "common/dispatch.h"
#include "common/float_convert.h"

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

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

// Copies of the kernels for the baseline, AVX2 and AVX-512 (common/cpu_isa.h): the half and
// bfloat16 conversions and the multiply-adds get two and four times the SIMD width.
#define FUSEGEN_ISA_KERNEL_BODY "ops/weighted_sum/weighted_sum_cpu_kernel.h"
#include "common/cpu_isa_copies.inc"


void forward_cpu(const Problem& p, at::Tensor& out) {
  FUSEGEN_WITH_BEST_ISA(FUSEGEN_DISPATCH_FLOATS(out.scalar_type(), "fusegen::weighted_sum (CPU)",
                                                [&] { isa::forward_kernel<scalar_t>(p, out); }));
}

void backward_cpu(const Problem& p, const at::Tensor& grad, std::vector<at::Tensor>& grad_inputs,
                  at::Tensor& partials) {
  FUSEGEN_WITH_BEST_ISA(FUSEGEN_DISPATCH_FLOATS(
      grad.scalar_type(), "fusegen::weighted_sum_backward (CPU)",
      [&] { isa::backward_kernel<scalar_t>(p, grad, grad_inputs, partials); }));
}

}  // namespace

const Kernels cpu_kernels{c10::DeviceType::CPU, &forward_cpu, &backward_cpu};

TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
  m.impl("weighted_sum", &OnDevice<Kernels, &cpu_kernels, &weighted_sum>::call);
  m.impl("weighted_sum_into", &OnDevice<Kernels, &cpu_kernels, &weighted_sum_into>::call);
  m.impl("weighted_sum_backward", &OnDevice<Kernels, &cpu_kernels, &weighted_sum_backward>::call);
}

}  // namespace fusegen::weighted_sum
