// CPU kernels of the fused normalization + activation (see norm_act.h for the four passes).
//
// NCHW tensors are walked plane by plane (one (n, c) plane is S contiguous values, cut into
// segments when long); channels-last tensors row by row (one row holds the C channels of one
// pixel). Reductions first produce partial results per work item (a plane segment, or a block
// of rows of one sample) in float32/float64
// over L1-sized chunks, then merge them in double in a fixed order: the result does not depend
// on the thread count. Work items run in parallel with at::parallel_for.

#include "common/checks.h"
#include "common/float_convert.h"
#include "ops/conv_norm_act/activation_cpu.h"
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

// NCHW work items are segments of one (n, c) plane: the whole plane up to this many values, so
// that few large planes (one big image) still spread over the threads. A constant rather than a
// function of the thread count, so that reductions merge the same partials on every machine.
constexpr int64_t kSegment = 16 * kChunk;

// An NCHW work item: values [begin, begin + len) of plane `plane`, which sits at `offset`.
struct Segment {
  int64_t plane, begin, len, offset;
};

struct PlaneSplit {
  int64_t per_plane;  // segments per plane
  int64_t length;     // values per segment (the last one of a plane may be shorter)
  int64_t items(const Layout& l) const { return l.batch * l.channels * per_plane; }
  Segment operator()(int64_t item, const Layout& l) const {
    const int64_t plane = item / per_plane, begin = (item % per_plane) * length;
    // Clamped: past 2^30 values a plane's rounded-up segments can leave its last one empty.
    const int64_t len = std::clamp<int64_t>(l.spatial - begin, 0, length);
    return {plane, begin, len, plane * l.spatial + begin};
  }
};

PlaneSplit split_planes(const Layout& l) {
  const int64_t per_plane = ceil_div(l.spatial, kSegment);
  return {per_plane, ceil_div(l.spatial, per_plane)};
}

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
    const PlaneSplit split = split_planes(l);
    std::vector<Moments> segments(split.items(l));
    at::parallel_for(0, split.items(l), grain_for(split.length), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const Segment seg = split(item, l);
        const scalar_t* x = y + seg.offset;
        Moments m;
        for (int64_t s0 = 0; s0 < seg.len; s0 += kChunk) {
          const int64_t len = std::min(kChunk, seg.len - s0);
          const scalar_t* xc = x + s0;
          acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t i = 0; i < len; ++i) sum += to_acc<acc_t>(xc[i]);
          const acc_t chunk_mean = sum / static_cast<acc_t>(len);
          acc_t q = 0;
#pragma omp simd reduction(+ : q)
          for (int64_t i = 0; i < len; ++i) {
            const acc_t d = to_acc<acc_t>(xc[i]) - chunk_mean;
            q += d * d;
          }
          m.merge(static_cast<double>(len), static_cast<double>(chunk_mean), static_cast<double>(q));
        }
        segments[item] = m;
      }
    });
    for (int64_t item = 0; item < split.items(l); ++item) {
      const int64_t p = item / split.per_plane;
      const Moments& sm = segments[item];
      groups[coeff_offset(l, p / C) + p % C].merge(sm.count, sm.mean, sm.m2);
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
          for (int64_t c = 0; c < C; ++c) mean[c] += to_acc<acc_t>(row[c]);
        }
        const acc_t inv_rows = acc_t(1) / static_cast<acc_t>(rows);
        for (int64_t c = 0; c < C; ++c) mean[c] *= inv_rows;
        for (int64_t r = 0; r < rows; ++r) {
          const scalar_t* row = x + r * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const acc_t d = to_acc<acc_t>(row[c]) - mean[c];
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
    const PlaneSplit split = split_planes(l);
    at::parallel_for(0, split.items(l), grain_for(split.length), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const Segment seg = split(item, l);
        const int64_t k = coeff_offset(l, seg.plane / C) + seg.plane % C;
        const acc_t a = scale[k], b = shift[k];
        const scalar_t* x = y + seg.offset;
        scalar_t* o = out + seg.offset;
#pragma omp simd
        for (int64_t i = 0; i < seg.len; ++i)
          o[i] = to_storage<scalar_t>(activate_cpu<A>(a * to_acc<acc_t>(x[i]) + b, slope));
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
          o[c] = to_storage<scalar_t>(activate_cpu<A>(a[c] * to_acc<acc_t>(x[c]) + b[c], slope));
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
    const PlaneSplit split = split_planes(l);
    std::vector<double> segment_dz(split.items(l)), segment_dz_yc(split.items(l));
    at::parallel_for(0, split.items(l), grain_for(split.length), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const Segment seg = split(item, l);
        const int64_t k = coeff_offset(l, seg.plane / C) + seg.plane % C;
        const acc_t a = scale[k], b = shift[k], m = center[k];
        double sd = 0, sdx = 0;
        for (int64_t s0 = 0; s0 < seg.len; s0 += kChunk) {
          const int64_t len = std::min(kChunk, seg.len - s0);
          const scalar_t* x = y + seg.offset + s0;
          const scalar_t* go = g + seg.offset + s0;
          acc_t cd = 0, cdx = 0;
#pragma omp simd reduction(+ : cd, cdx)
          for (int64_t i = 0; i < len; ++i) {
            const acc_t xv = to_acc<acc_t>(x[i]);
            const acc_t dz = chain_grad_cpu<A>(a * xv + b, to_acc<acc_t>(go[i]), slope);
            cd += dz;
            cdx += dz * (xv - m);
          }
          sd += cd;
          sdx += cdx;
        }
        segment_dz[item] = sd;
        segment_dz_yc[item] = sdx;
      }
    });
    for (int64_t item = 0; item < split.items(l); ++item) {
      const int64_t p = item / split.per_plane;
      const int64_t k = coeff_offset(l, p / C) + p % C;
      total_dz[k] += segment_dz[item];
      total_dz_yc[k] += segment_dz_yc[item];
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
            const acc_t xv = to_acc<acc_t>(x[c]);
            const acc_t dz = chain_grad_cpu<A>(a[c] * xv + b[c], to_acc<acc_t>(go[c]), slope);
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
    sum_dz[i] = to_acc<acc_t>(total_dz[i]);
    sum_dz_yc[i] = to_acc<acc_t>(total_dz_yc[i]);
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
  const acc_t* alpha = in<acc_t>(alpha_t);
  const acc_t* gamma = in<acc_t>(gamma_t);
  // bias_act's backward has no beta * (y - center) term (undefined tensors): it is skipped, not
  // multiplied by 0, so that an infinite input gives act'(inf), not 0 * inf = NaN. The test is
  // loop-invariant; the compiler unswitches it out of the vectorized loops.
  const bool linear_term = beta_t.defined();
  const acc_t* center = linear_term ? in<acc_t>(center_t) : gamma;
  const acc_t* beta = linear_term ? in<acc_t>(beta_t) : gamma;
  const acc_t slope = static_cast<acc_t>(slope_d);
  const int64_t N = l.batch, C = l.channels, S = l.spatial;

  if (!l.channels_last) {
    const PlaneSplit split = split_planes(l);
    at::parallel_for(0, split.items(l), grain_for(split.length), [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const Segment seg = split(item, l);
        const int64_t k = coeff_offset(l, seg.plane / C) + seg.plane % C;
        const acc_t a = scale[k], b = shift[k], m = center[k];
        const acc_t al = alpha[k], be = beta[k], ga = gamma[k];
        const scalar_t* x = y + seg.offset;
        const scalar_t* go = g + seg.offset;
        scalar_t* o = gy + seg.offset;
#pragma omp simd
        for (int64_t i = 0; i < seg.len; ++i) {
          const acc_t xv = to_acc<acc_t>(x[i]);
          const acc_t dz = chain_grad_cpu<A>(a * xv + b, to_acc<acc_t>(go[i]), slope);
          o[i] = to_storage<scalar_t>(al * dz + (linear_term ? be * (xv - m) : acc_t(0)) + ga);
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
          const acc_t xv = to_acc<acc_t>(x[c]);
          const acc_t dz = chain_grad_cpu<A>(a[c] * xv + b[c], to_acc<acc_t>(go[c]), slope);
          o[c] = to_storage<scalar_t>(al[c] * dz + (linear_term ? be[c] * (xv - m[c]) : acc_t(0)) + ga[c]);
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
