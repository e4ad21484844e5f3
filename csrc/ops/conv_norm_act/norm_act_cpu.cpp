// CPU kernels of the fused normalization + activation (see norm_act.h for the four passes).
//
// NCHW tensors are walked plane by plane (one (n, c) plane is S contiguous values); channels-last
// tensors row by row (one row holds the C channels of one pixel). Reductions first produce
// partial results per work item (a plane, or a block of rows of one sample) in float32/float64
// over L1-sized chunks, then merge them in double in a fixed order: the result does not depend
// on the thread count. Work items run in parallel with at::parallel_for.

#include "common/checks.h"
#include "ops/conv_norm_act/activation.h"
#include "ops/conv_norm_act/norm_act.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace fusegen::conv_norm_act {
namespace {

// Values a reduction chunk (NCHW) or a block of rows (channels-last) covers: small enough to
// stay in L1 between the two sweeps of the variance, large enough to amortize the merge.
constexpr int64_t kChunk = 2048;
// Below this many values per task, threading costs more than it saves.
constexpr int64_t kMinWorkPerTask = 1 << 15;

int64_t grain_for(int64_t values_per_item) {
  return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(values_per_item, 1));
}

// Offset of sample n's coefficients in a (G, C) vector.
inline int64_t coeff_offset(const Layout& l, int64_t n) { return l.per_sample ? n * l.channels : 0; }

// Channels-last reductions split each sample's S rows into blocks of this many rows.
int64_t rows_per_block(const Layout& l) {
  return std::clamp<int64_t>(kChunk / std::max<int64_t>(l.channels, 1), 1, std::max<int64_t>(l.spatial, 1));
}

// Count, mean and sum of squared deviations, merged with Chan et al.'s pairwise formula.
struct Moments {
  double count = 0, mean = 0, m2 = 0;
  void merge(double n, double m, double q) {
    if (n == 0) return;
    const double total = count + n;
    const double delta = m - mean;
    mean += delta * n / total;
    m2 += q + delta * delta * count * n / total;
    count = total;
  }
};

template <typename T>
const T* in(const at::Tensor& t) { return t.const_data_ptr<T>(); }
template <typename T>
T* out_ptr(at::Tensor& t) { return t.mutable_data_ptr<T>(); }

// ---- stats -------------------------------------------------------------------------------

template <typename scalar_t>
void stats_kernel(const at::Tensor& y_t, const Layout& l, at::Tensor& mean_t, at::Tensor& var_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* y = in<scalar_t>(y_t);
  const int64_t N = l.batch, C = l.channels, S = l.spatial, G = l.groups();
  std::vector<Moments> groups(G * C);

  if (!l.channels_last) {
    std::vector<Moments> planes(N * C);
    at::parallel_for(0, N * C, grain_for(S), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const scalar_t* x = y + p * S;
        Moments m;
        for (int64_t s0 = 0; s0 < S; s0 += kChunk) {
          const int64_t len = std::min(kChunk, S - s0);
          const scalar_t* xc = x + s0;
          acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t i = 0; i < len; ++i) sum += static_cast<acc_t>(xc[i]);
          const acc_t chunk_mean = sum / static_cast<acc_t>(len);
          acc_t q = 0;
#pragma omp simd reduction(+ : q)
          for (int64_t i = 0; i < len; ++i) {
            const acc_t d = static_cast<acc_t>(xc[i]) - chunk_mean;
            q += d * d;
          }
          m.merge(static_cast<double>(len), static_cast<double>(chunk_mean), static_cast<double>(q));
        }
        planes[p] = m;
      }
    });
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const Moments& pm = planes[n * C + c];
        groups[coeff_offset(l, n) + c].merge(pm.count, pm.mean, pm.m2);
      }
  } else {
    const int64_t R = rows_per_block(l);
    const int64_t blocks = ceil_div(S, R);
    const int64_t items = N * blocks;
    std::vector<acc_t> item_mean(items * C), item_m2(items * C);
    at::parallel_for(0, items, grain_for(R * C), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / blocks, r0 = (item % blocks) * R;
        const int64_t rows = std::min(R, S - r0);
        const scalar_t* x = y + (n * S + r0) * C;
        acc_t* mean = item_mean.data() + item * C;
        acc_t* q = item_m2.data() + item * C;
        std::fill(mean, mean + C, acc_t(0));
        std::fill(q, q + C, acc_t(0));
        for (int64_t r = 0; r < rows; ++r) {
          const scalar_t* row = x + r * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) mean[c] += static_cast<acc_t>(row[c]);
        }
        const acc_t inv_rows = acc_t(1) / static_cast<acc_t>(rows);
        for (int64_t c = 0; c < C; ++c) mean[c] *= inv_rows;
        for (int64_t r = 0; r < rows; ++r) {
          const scalar_t* row = x + r * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const acc_t d = static_cast<acc_t>(row[c]) - mean[c];
            q[c] += d * d;
          }
        }
      }
    });
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / blocks;
      const double rows = static_cast<double>(std::min(R, S - (item % blocks) * R));
      Moments* g = groups.data() + coeff_offset(l, n);
      for (int64_t c = 0; c < C; ++c)
        g[c].merge(rows, static_cast<double>(item_mean[item * C + c]),
                   static_cast<double>(item_m2[item * C + c]));
    }
  }

  acc_t* mean = out_ptr<acc_t>(mean_t);
  acc_t* var = out_ptr<acc_t>(var_t);
  for (int64_t i = 0; i < G * C; ++i) {
    mean[i] = static_cast<acc_t>(groups[i].mean);
    var[i] = static_cast<acc_t>(groups[i].count > 0 ? groups[i].m2 / groups[i].count : 0.0);
  }
}

// ---- apply -------------------------------------------------------------------------------

template <typename scalar_t, Activation A>
void apply_kernel(const at::Tensor& y_t, const Layout& l, const at::Tensor& scale_t,
                  const at::Tensor& shift_t, double slope_d, at::Tensor& out_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* y = in<scalar_t>(y_t);
  scalar_t* out = out_ptr<scalar_t>(out_t);
  const acc_t* scale = in<acc_t>(scale_t);
  const acc_t* shift = in<acc_t>(shift_t);
  const acc_t slope = static_cast<acc_t>(slope_d);
  const int64_t N = l.batch, C = l.channels, S = l.spatial;

  if (!l.channels_last) {
    at::parallel_for(0, N * C, grain_for(S), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t k = coeff_offset(l, p / C) + p % C;
        const acc_t a = scale[k], b = shift[k];
        const scalar_t* x = y + p * S;
        scalar_t* o = out + p * S;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i)
          o[i] = static_cast<scalar_t>(activate<A>(a * static_cast<acc_t>(x[i]) + b, slope));
      }
    });
  } else {
    at::parallel_for(0, N * S, grain_for(C), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t k = coeff_offset(l, r / S);
        const acc_t* a = scale + k;
        const acc_t* b = shift + k;
        const scalar_t* x = y + r * C;
        scalar_t* o = out + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c)
          o[c] = static_cast<scalar_t>(activate<A>(a[c] * static_cast<acc_t>(x[c]) + b[c], slope));
      }
    });
  }
}

// ---- backward reduction -------------------------------------------------------------------

template <typename scalar_t, Activation A>
void grad_sums_kernel(const at::Tensor& g_t, const at::Tensor& y_t, const Layout& l,
                      const at::Tensor& scale_t, const at::Tensor& shift_t,
                      const at::Tensor& center_t, double slope_d, at::Tensor& sum_dz_t,
                      at::Tensor& sum_dz_yc_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* g = in<scalar_t>(g_t);
  const scalar_t* y = in<scalar_t>(y_t);
  const acc_t* scale = in<acc_t>(scale_t);
  const acc_t* shift = in<acc_t>(shift_t);
  const acc_t* center = in<acc_t>(center_t);
  const acc_t slope = static_cast<acc_t>(slope_d);
  const int64_t N = l.batch, C = l.channels, S = l.spatial, G = l.groups();
  std::vector<double> total_dz(G * C, 0.0), total_dz_yc(G * C, 0.0);

  if (!l.channels_last) {
    std::vector<double> plane_dz(N * C), plane_dz_yc(N * C);
    at::parallel_for(0, N * C, grain_for(S), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t k = coeff_offset(l, p / C) + p % C;
        const acc_t a = scale[k], b = shift[k], m = center[k];
        double sd = 0, sdx = 0;
        for (int64_t s0 = 0; s0 < S; s0 += kChunk) {
          const int64_t len = std::min(kChunk, S - s0);
          const scalar_t* x = y + p * S + s0;
          const scalar_t* go = g + p * S + s0;
          acc_t cd = 0, cdx = 0;
#pragma omp simd reduction(+ : cd, cdx)
          for (int64_t i = 0; i < len; ++i) {
            const acc_t xv = static_cast<acc_t>(x[i]);
            const acc_t dz = static_cast<acc_t>(go[i]) * activation_grad<A>(a * xv + b, slope);
            cd += dz;
            cdx += dz * (xv - m);
          }
          sd += cd;
          sdx += cdx;
        }
        plane_dz[p] = sd;
        plane_dz_yc[p] = sdx;
      }
    });
    for (int64_t p = 0; p < N * C; ++p) {
      const int64_t k = coeff_offset(l, p / C) + p % C;
      total_dz[k] += plane_dz[p];
      total_dz_yc[k] += plane_dz_yc[p];
    }
  } else {
    const int64_t R = rows_per_block(l);
    const int64_t blocks = ceil_div(S, R);
    const int64_t items = N * blocks;
    std::vector<acc_t> item_dz(items * C), item_dz_yc(items * C);
    at::parallel_for(0, items, grain_for(R * C), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / blocks, r0 = (item % blocks) * R;
        const int64_t rows = std::min(R, S - r0);
        const int64_t k = coeff_offset(l, n);
        const acc_t* a = scale + k;
        const acc_t* b = shift + k;
        const acc_t* m = center + k;
        acc_t* sd = item_dz.data() + item * C;
        acc_t* sdx = item_dz_yc.data() + item * C;
        std::fill(sd, sd + C, acc_t(0));
        std::fill(sdx, sdx + C, acc_t(0));
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t offset = (n * S + r0 + r) * C;
          const scalar_t* x = y + offset;
          const scalar_t* go = g + offset;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const acc_t xv = static_cast<acc_t>(x[c]);
            const acc_t dz = static_cast<acc_t>(go[c]) * activation_grad<A>(a[c] * xv + b[c], slope);
            sd[c] += dz;
            sdx[c] += dz * (xv - m[c]);
          }
        }
      }
    });
    for (int64_t item = 0; item < items; ++item) {
      const int64_t k = coeff_offset(l, item / blocks);
      for (int64_t c = 0; c < C; ++c) {
        total_dz[k + c] += item_dz[item * C + c];
        total_dz_yc[k + c] += item_dz_yc[item * C + c];
      }
    }
  }

  acc_t* sum_dz = out_ptr<acc_t>(sum_dz_t);
  acc_t* sum_dz_yc = out_ptr<acc_t>(sum_dz_yc_t);
  for (int64_t i = 0; i < G * C; ++i) {
    sum_dz[i] = static_cast<acc_t>(total_dz[i]);
    sum_dz_yc[i] = static_cast<acc_t>(total_dz_yc[i]);
  }
}

// ---- backward apply -----------------------------------------------------------------------

template <typename scalar_t, Activation A>
void grad_input_kernel(const at::Tensor& g_t, const at::Tensor& y_t, const Layout& l,
                       const at::Tensor& scale_t, const at::Tensor& shift_t,
                       const at::Tensor& center_t, double slope_d, const at::Tensor& alpha_t,
                       const at::Tensor& beta_t, const at::Tensor& gamma_t, at::Tensor& gy_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* g = in<scalar_t>(g_t);
  const scalar_t* y = in<scalar_t>(y_t);
  scalar_t* gy = out_ptr<scalar_t>(gy_t);
  const acc_t* scale = in<acc_t>(scale_t);
  const acc_t* shift = in<acc_t>(shift_t);
  const acc_t* center = in<acc_t>(center_t);
  const acc_t* alpha = in<acc_t>(alpha_t);
  const acc_t* beta = in<acc_t>(beta_t);
  const acc_t* gamma = in<acc_t>(gamma_t);
  const acc_t slope = static_cast<acc_t>(slope_d);
  const int64_t N = l.batch, C = l.channels, S = l.spatial;

  if (!l.channels_last) {
    at::parallel_for(0, N * C, grain_for(S), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t k = coeff_offset(l, p / C) + p % C;
        const acc_t a = scale[k], b = shift[k], m = center[k];
        const acc_t al = alpha[k], be = beta[k], ga = gamma[k];
        const scalar_t* x = y + p * S;
        const scalar_t* go = g + p * S;
        scalar_t* o = gy + p * S;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) {
          const acc_t xv = static_cast<acc_t>(x[i]);
          const acc_t dz = static_cast<acc_t>(go[i]) * activation_grad<A>(a * xv + b, slope);
          o[i] = static_cast<scalar_t>(al * dz + be * (xv - m) + ga);
        }
      }
    });
  } else {
    at::parallel_for(0, N * S, grain_for(C), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t k = coeff_offset(l, r / S);
        const acc_t *a = scale + k, *b = shift + k, *m = center + k;
        const acc_t *al = alpha + k, *be = beta + k, *ga = gamma + k;
        const scalar_t* x = y + r * C;
        const scalar_t* go = g + r * C;
        scalar_t* o = gy + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const acc_t xv = static_cast<acc_t>(x[c]);
          const acc_t dz = static_cast<acc_t>(go[c]) * activation_grad<A>(a[c] * xv + b[c], slope);
          o[c] = static_cast<scalar_t>(al[c] * dz + be[c] * (xv - m[c]) + ga[c]);
        }
      }
    });
  }
}

}  // namespace

#define FUSEGEN_DISPATCH_FLOATS(dtype, name, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, name, __VA_ARGS__)

void stats_cpu(const at::Tensor& y, const Layout& l, at::Tensor& mean, at::Tensor& var) {
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_stats_cpu",
                          [&] { stats_kernel<scalar_t>(y, l, mean, var); });
}

void apply_cpu(const at::Tensor& y, const Layout& l, const at::Tensor& scale,
               const at::Tensor& shift, ActParams act, at::Tensor& out) {
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_apply_cpu", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      apply_kernel<scalar_t, decltype(tag)::value>(y, l, scale, shift, act.negative_slope, out);
    });
  });
}

void grad_sums_cpu(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                   const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                   ActParams act, at::Tensor& sum_dz, at::Tensor& sum_dz_yc) {
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_grad_sums_cpu", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      grad_sums_kernel<scalar_t, decltype(tag)::value>(grad_out, y, l, scale, shift, center,
                                                       act.negative_slope, sum_dz, sum_dz_yc);
    });
  });
}

void grad_input_cpu(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                    const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                    ActParams act, const at::Tensor& alpha, const at::Tensor& beta,
                    const at::Tensor& gamma, at::Tensor& grad_y) {
  FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_grad_input_cpu", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      grad_input_kernel<scalar_t, decltype(tag)::value>(grad_out, y, l, scale, shift, center,
                                                        act.negative_slope, alpha, beta, gamma,
                                                        grad_y);
    });
  });
}

}  // namespace fusegen::conv_norm_act
