// Schema, argument checks and memory-layout planning for fusegen::weighted_sum and its
// backward, written once for every device. The arithmetic lives in weighted_sum_cpu.cpp and
// weighted_sum_cuda.cu, which register these fronts on their kernels for their dispatch keys.

#include "ops/weighted_sum/weighted_sum.h"

#include "common/checks.h"

#include <ATen/MemoryOverlap.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/sum.h>
#include <torch/library.h>

#include <tuple>

namespace fusegen::weighted_sum {

int64_t Problem::blocks_per_sample() const { return ceil_div(sample_size, kBlockElements); }

namespace {

void check_arguments(at::TensorList inputs, const at::Tensor& weights) {
  TORCH_CHECK_VALUE(!inputs.empty(), "inputs must hold at least one tensor, got none");
  const at::Tensor& first = inputs[0];
  check_float_tensor(first, "inputs[0]");
  for (size_t k = 1; k < inputs.size(); ++k) {
    const at::Tensor& x = inputs[k];
    TORCH_CHECK_TYPE(x.defined(), "inputs[", k, "] must be a tensor, got an undefined tensor");
    TORCH_CHECK_VALUE(x.sizes() == first.sizes(), "inputs[", k, "] must have the shape of inputs[0] ",
                      first.sizes(), ", got ", x.sizes());
    TORCH_CHECK_TYPE(x.scalar_type() == first.scalar_type(), "inputs[", k,
                     "] must have the dtype of inputs[0] (", first.scalar_type(), "), got ",
                     x.scalar_type());
    TORCH_CHECK_VALUE(x.device() == first.device(), "inputs[", k,
                      "] must be on the device of inputs[0] (", first.device(), "), got ", x.device());
  }
  check_float_tensor(weights, "weights");
  check_same_device(weights, "weights", first, "inputs");
  const int64_t K = static_cast<int64_t>(inputs.size());
  if (weights.dim() == 1) {
    TORCH_CHECK_VALUE(weights.size(0) == K, "weights must have shape (K,) = (", K,
                      ",) or (K, N), got ", weights.sizes());
  } else {
    TORCH_CHECK_VALUE(weights.dim() == 2, "weights must have shape (K,) or (K, N), got ",
                      weights.sizes());
    TORCH_CHECK_VALUE(first.dim() >= 1, "per-sample weights of shape (K, N) need inputs with a "
                      "first (sample) dimension, got 0-d inputs");
    TORCH_CHECK_VALUE(weights.size(0) == K && weights.size(1) == first.size(0),
                      "weights of shape (K, N) must be (", K, ", ", first.size(0),
                      ") for ", K, " inputs whose first dimension is ", first.size(0), ", got ",
                      weights.sizes());
  }
}

// The layout every kernel walks: the output takes inputs[0]'s strides when they describe a
// dense block of memory (so channels-last stays channels-last) and, for per-sample weights,
// keep the sample dimension outermost; otherwise it is contiguous. The fake (meta)
// implementation in python/fusegen/ops/weighted_sum.py mirrors this rule.
at::Tensor allocate_like_inputs(const at::Tensor& first, bool per_sample) {
  const bool dense = first.is_non_overlapping_and_dense();
  const bool sample_outermost =
      !per_sample || first.dim() == 0 || first.size(0) <= 1 ||
      first.stride(0) * first.size(0) == first.numel();
  if (dense && sample_outermost) return at::empty_like(first);
  return at::empty(first.sizes(), first.options());
}

// x itself when it already has `like`'s strides; otherwise a copy in that layout.
at::Tensor in_layout_of(const at::Tensor& x, const at::Tensor& like) {
  if (x.strides() == like.strides()) return x;
  return at::empty_like(like).copy_(x);
}

Problem make_problem(at::TensorList inputs, const at::Tensor& weights, const at::Tensor& layout,
                     bool with_input_data) {
  Problem p;
  p.num_inputs = static_cast<int64_t>(inputs.size());
  p.per_sample = weights.dim() == 2;
  p.num_samples = p.per_sample ? inputs[0].size(0) : 1;
  p.sample_size = p.num_samples == 0 ? 0 : layout.numel() / p.num_samples;
  if (with_input_data) {
    p.inputs.reserve(inputs.size());
    for (const at::Tensor& x : inputs) p.inputs.push_back(in_layout_of(x, layout));
  }
  p.weights = weights.to(accumulate_type(inputs[0].scalar_type())).contiguous();
  return p;
}

}  // namespace

at::Tensor weighted_sum(const Kernels& kernels, at::TensorList inputs, const at::Tensor& weights) {
  check_arguments(inputs, weights);
  check_device_type(inputs[0], "inputs", kernels.device);
  at::Tensor out = allocate_like_inputs(inputs[0], weights.dim() == 2);
  if (out.numel() == 0) return out;
  Problem p = make_problem(inputs, weights, out, /*with_input_data=*/true);
  kernels.forward(p, out);
  return out;
}

void weighted_sum_into(const Kernels& kernels, at::TensorList inputs, const at::Tensor& weights,
                       at::Tensor& out) {
  check_arguments(inputs, weights);
  check_device_type(inputs[0], "inputs", kernels.device);
  const at::Tensor& first = inputs[0];
  TORCH_CHECK_TYPE(out.defined(), "out must be a tensor, got an undefined tensor");
  TORCH_CHECK_VALUE(out.sizes() == first.sizes(), "out must have the inputs' shape ", first.sizes(),
                    ", got ", out.sizes());
  TORCH_CHECK_TYPE(out.scalar_type() == first.scalar_type(), "out must have the inputs' dtype (",
                   first.scalar_type(), "), got ", out.scalar_type());
  check_same_device(out, "out", first, "inputs");
  if (out.numel() == 0) return;
  const bool per_sample = weights.dim() == 2;
  const bool writable = out.is_non_overlapping_and_dense() &&
                        (!per_sample || out.size(0) <= 1 || out.stride(0) * out.size(0) == out.numel());
  if (!writable) {  // a layout the kernels do not walk (strided, expanded): through a temporary
    out.copy_(weighted_sum(kernels, inputs, weights));
    return;
  }
  // The kernels read element i of every input and then write element i of out, in out's layout
  // (inputs in another layout are copied first). An input that is out itself -- an in-place
  // update such as an EMA -- is therefore safe; one that partly overlaps it is not.
  for (size_t k = 0; k < inputs.size(); ++k) {
    TORCH_CHECK_VALUE(inputs[k].strides() != out.strides() ||
                          at::get_overlap_status(out, inputs[k]) != at::MemOverlapStatus::Partial,
                      "out must not partly overlap inputs[", k, "] (it may be the same tensor)");
  }
  Problem p = make_problem(inputs, weights, out, /*with_input_data=*/true);
  kernels.forward(p, out);
}

std::tuple<std::vector<at::Tensor>, at::Tensor> weighted_sum_backward(
    const Kernels& kernels, const at::Tensor& grad, at::TensorList inputs,
    const at::Tensor& weights, bool inputs_need_grad, bool weights_need_grad) {
  check_arguments(inputs, weights);
  check_float_tensor(grad, "grad");
  TORCH_CHECK_VALUE(grad.sizes() == inputs[0].sizes(), "grad must have the inputs' shape ",
                    inputs[0].sizes(), ", got ", grad.sizes());
  TORCH_CHECK_TYPE(grad.scalar_type() == inputs[0].scalar_type(),
                   "grad must have the inputs' dtype (", inputs[0].scalar_type(), "), got ",
                   grad.scalar_type());
  check_same_device(grad, "grad", inputs[0], "inputs");
  check_device_type(inputs[0], "inputs", kernels.device);

  const int64_t K = static_cast<int64_t>(inputs.size());
  const bool per_sample = weights.dim() == 2;
  at::Tensor layout = allocate_like_inputs(inputs[0], per_sample);
  std::vector<at::Tensor> grad_inputs;
  if (inputs_need_grad) {
    grad_inputs.reserve(K);
    grad_inputs.push_back(layout);
    for (int64_t k = 1; k < K; ++k) grad_inputs.push_back(at::empty_like(layout));
  }
  at::Tensor grad_weights = weights_need_grad ? at::empty_like(weights, at::MemoryFormat::Contiguous)
                                              : at::empty({0}, weights.options());
  if (layout.numel() == 0) {
    if (weights_need_grad) grad_weights.zero_();
    return {grad_inputs, grad_weights};
  }
  if (!inputs_need_grad && !weights_need_grad) return {grad_inputs, grad_weights};

  // Weight gradients need the inputs' values; input gradients only need the weights.
  Problem p = make_problem(inputs, weights, layout, /*with_input_data=*/weights_need_grad);
  const at::Tensor grad_in_layout = in_layout_of(grad, layout);
  at::Tensor partials;
  if (weights_need_grad) partials = at::empty({p.num_items(), K}, p.weights.options());

  kernels.backward(p, grad_in_layout, grad_inputs, partials);

  if (weights_need_grad) {
    // Per-item partial dot products -> one value per weight. The items are fixed by the
    // problem's shape, not by the thread count, so the result is deterministic.
    at::Tensor per_item = partials.view({p.num_samples, p.blocks_per_sample(), K});
    at::Tensor reduced = at::sum(per_item, {1});  // (N, K)
    at::Tensor values = per_sample ? reduced.t() : reduced.view({K});
    grad_weights.copy_(values);
  }
  return {grad_inputs, grad_weights};
}

TORCH_LIBRARY_FRAGMENT(fusegen, m) {
  m.def("weighted_sum(Tensor[] inputs, Tensor weights) -> Tensor");
  // Writes into `out` and returns nothing: torch.compile cannot functionalize a custom operator
  // whose output aliases an input.
  m.def("weighted_sum_into(Tensor[] inputs, Tensor weights, Tensor(a!) out) -> ()");
  m.def(
      "weighted_sum_backward(Tensor grad, Tensor[] inputs, Tensor weights, bool inputs_need_grad, "
      "bool weights_need_grad) -> (Tensor[], Tensor)");
}

}  // namespace fusegen::weighted_sum
