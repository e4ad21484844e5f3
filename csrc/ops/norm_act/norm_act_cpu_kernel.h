// The CPU kernels' bodies, compiled by norm_act_cpu.cpp once per instruction set (baseline,
// AVX2, AVX-512; common/cpu_isa_copies.inc), picked at run time. No include guard and no
// includes on purpose: norm_act_cpu.cpp includes the headers and opens the namespace.

// ---- stats -------------------------------------------------------------------------------

// Longer than our ~80-line rule on purpose: three walks (short planes per channel, NCHW plane
// segments, channels-last row blocks) share the `groups` accumulators and the final write of
// mean and var, and each walk reads best next to the others (grad_sums_kernel mirrors them).
template <typename scalar_t>
void stats_kernel(const at::Tensor& y_t, const Layout& l, at::Tensor& mean_t, at::Tensor& var_t) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* y = in<scalar_t>(y_t);
  const int64_t N = l.batch, C = l.channels, S = l.spatial, G = l.groups();
  std::vector<Moments> groups(G * C);

  if (small_planes(l)) {  // batch statistics of short planes: one work item per channel
    at::parallel_for(0, C, grain_for(N * S), [&](int64_t begin, int64_t end) {
      acc_t part[kSmallPlane];
      const int64_t step = planes_per_chunk(l);
      for (int64_t c = begin; c < end; ++c) {
        // Lanes sum x - shift, the channel's first value: with a large mean, float32 lanes
        // summing x itself would lose the digits that the variance is made of.
        const acc_t shift = to_acc<acc_t>(y[c * S]);
        Moments m;
        for (int64_t n0 = 0; n0 < N; n0 += step) {
          const int64_t n1 = std::min(N, n0 + step);
          std::fill(part, part + S, acc_t(0));
          for (int64_t n = n0; n < n1; ++n) {
            const scalar_t* x = y + (n * C + c) * S;
#pragma omp simd
            for (int64_t i = 0; i < S; ++i) part[i] += to_acc<acc_t>(x[i]) - shift;
          }
          double sum = 0;
          for (int64_t i = 0; i < S; ++i) sum += part[i];
          const int64_t count = (n1 - n0) * S;
          const acc_t chunk_mean = static_cast<acc_t>(shift + sum / static_cast<double>(count));
          std::fill(part, part + S, acc_t(0));
          for (int64_t n = n0; n < n1; ++n) {
            const scalar_t* x = y + (n * C + c) * S;
#pragma omp simd
            for (int64_t i = 0; i < S; ++i) {
              const acc_t d = to_acc<acc_t>(x[i]) - chunk_mean;
              part[i] += d * d;
            }
          }
          double q = 0;
          for (int64_t i = 0; i < S; ++i) q += part[i];
          m.merge(static_cast<double>(count), static_cast<double>(chunk_mean), q);
        }
        groups[c] = m;
      }
    });
  } else if (!l.channels_last) {
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

// The loops below capture `slope` by value: captured by reference it is read through a pointer
// that the compiler cannot prove the output stores leave alone, and the LeakyReLU backward ran
// 2.4x slower than ReLU's.

// ---- apply -------------------------------------------------------------------------------

// o = act(a * x + b) over one run of values that share a channel's coefficients.
template <typename scalar_t, Activation A, typename acc_t>
inline void apply_run(const scalar_t* x, scalar_t* o, int64_t len, acc_t a, acc_t b, acc_t slope) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i)
    o[i] = to_storage<scalar_t>(activate_cpu<A>(a * to_acc<acc_t>(x[i]) + b, slope));
}

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

  if (!l.channels_last && split_planes(l).per_plane == 1) {  // whole planes: no segment arithmetic
    at::parallel_for(0, N * C, grain_for(S), [&, slope](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t k = l.per_sample ? p : p % C;  // coefficients of plane p = (n, c)
        apply_run<scalar_t, A>(y + p * S, out + p * S, S, scale[k], shift[k], slope);
      }
    });
  } else if (!l.channels_last) {
    const PlaneSplit split = split_planes(l);
    at::parallel_for(0, split.items(l), grain_for(split.length), [&, slope](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const Segment seg = split(item, l);
        const int64_t k = coeff_offset(l, seg.plane / C) + seg.plane % C;
        apply_run<scalar_t, A>(y + seg.offset, out + seg.offset, seg.len, scale[k], shift[k], slope);
      }
    });
  } else {
    at::parallel_for(0, N * S, grain_for(C), [&, slope](int64_t begin, int64_t end) {
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

// Longer than our ~80-line rule on purpose: the same three walks as stats_kernel, line for line.
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

  if (small_planes(l)) {  // batch statistics of short planes: one work item per channel
    at::parallel_for(0, C, grain_for(N * S), [&, slope](int64_t begin, int64_t end) {
      acc_t part_dz[kSmallPlane], part_dz_yc[kSmallPlane];
      const int64_t step = planes_per_chunk(l);
      for (int64_t c = begin; c < end; ++c) {
        const acc_t a = scale[c], b = shift[c], m = center[c];
        double sd = 0, sdx = 0;
        for (int64_t n0 = 0; n0 < N; n0 += step) {
          const int64_t n1 = std::min(N, n0 + step);
          std::fill(part_dz, part_dz + S, acc_t(0));
          std::fill(part_dz_yc, part_dz_yc + S, acc_t(0));
          for (int64_t n = n0; n < n1; ++n) {
            const scalar_t* x = y + (n * C + c) * S;
            const scalar_t* go = g + (n * C + c) * S;
#pragma omp simd
            for (int64_t i = 0; i < S; ++i) {
              const acc_t xv = to_acc<acc_t>(x[i]);
              const acc_t dz = chain_grad_cpu<A>(a * xv + b, to_acc<acc_t>(go[i]), slope);
              part_dz[i] += dz;
              part_dz_yc[i] += dz * (xv - m);
            }
          }
          for (int64_t i = 0; i < S; ++i) {
            sd += part_dz[i];
            sdx += part_dz_yc[i];
          }
        }
        total_dz[c] = sd;
        total_dz_yc[c] = sdx;
      }
    });
  } else if (!l.channels_last) {
    const PlaneSplit split = split_planes(l);
    std::vector<double> segment_dz(split.items(l)), segment_dz_yc(split.items(l));
    at::parallel_for(0, split.items(l), grain_for(split.length), [&, slope](int64_t begin, int64_t end) {
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
    at::parallel_for(0, items, grain_for(R * C), [&, slope](int64_t begin, int64_t end) {
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

// Per-channel coefficients of the input gradient: gy = al * dz + be * (x - m) + ga.
template <typename acc_t>
struct GradCoeffs {
  acc_t a, b, m, al, be, ga;
};

// The input gradient over one run of values that share a channel's coefficients.
template <typename scalar_t, Activation A, bool kLinearTerm, typename acc_t>
inline void grad_input_run(const scalar_t* x, const scalar_t* go, scalar_t* o, int64_t len,
                           GradCoeffs<acc_t> k, acc_t slope) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) {
    const acc_t xv = to_acc<acc_t>(x[i]);
    const acc_t dz = chain_grad_cpu<A>(k.a * xv + k.b, to_acc<acc_t>(go[i]), slope);
    o[i] = to_storage<scalar_t>(input_grad<kLinearTerm>(dz, xv, k.al, k.be, k.m, k.ga));
  }
}

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
  // NCHW: `len` values at `offset` with the coefficients of entry k (captures by value: see above).
  const auto run = [=](int64_t offset, int64_t len, int64_t k) {
    const GradCoeffs<acc_t> c{scale[k], shift[k], center[k], alpha[k], beta[k], gamma[k]};
    if (linear_term)
      grad_input_run<scalar_t, A, true>(y + offset, g + offset, gy + offset, len, c, slope);
    else
      grad_input_run<scalar_t, A, false>(y + offset, g + offset, gy + offset, len, c, slope);
  };

  if (!l.channels_last && split_planes(l).per_plane == 1) {  // whole planes: no segment arithmetic
    at::parallel_for(0, N * C, grain_for(S), [&, slope](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t k = l.per_sample ? p : p % C;  // coefficients of plane p = (n, c)
        run(p * S, S, k);
      }
    });
  } else if (!l.channels_last) {
    const PlaneSplit split = split_planes(l);
    at::parallel_for(0, split.items(l), grain_for(split.length), [&, slope](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const Segment seg = split(item, l);
        run(seg.offset, seg.len, coeff_offset(l, seg.plane / C) + seg.plane % C);
      }
    });
  } else {
    at::parallel_for(0, N * S, grain_for(C), [&, slope](int64_t begin, int64_t end) {
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
