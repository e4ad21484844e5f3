// The weighted sum's CPU kernels, compiled once per instruction set by weighted_sum_cpu.cpp
// (common/cpu_isa.h). No include guard and no includes on purpose: weighted_sum_cpu.cpp includes
// the headers and opens the namespace.

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
