// The CPU kernel's body, compiled by bm3d_cpu.cpp once per instruction set (baseline, AVX2,
// AVX-512; common/cpu_isa_copies.inc), picked at run time. No include guard on purpose:
// bm3d_cpu.cpp includes the headers and opens the namespace.
//
// An image's reference blocks are cut into bands of kBandRows reference rows. A band is one
// task: it matches its references (offset by offset, so the squared differences of a row are
// computed once for all the band's references on it), filters their groups and adds the
// results into its own accumulators, which cover the band's rows widened by the search radius
// and a block. The bands' accumulators are then summed in band order, so the result does not
// depend on the number of threads.

constexpr int64_t kBandRows = 8;  // reference rows per task

// Branch-free twin of hard_threshold (bm3d_math.h) for the vectorizer: GCC keeps comparisons
// of floats as branches (they might raise floating-point exceptions), so |c| > t compares the
// bit patterns as integers, which order like the values for non-negative numbers (a NaN's
// pattern is above infinity's, so it is kept, as in hard_threshold). Returns c or 0 and adds
// 1 to `kept` for a kept coefficient.
template <typename acc_t>
inline acc_t threshold_counted(acc_t c, acc_t t, acc_t& kept) {
  using bits_t = std::conditional_t<sizeof(acc_t) == 4, int32_t, int64_t>;
  constexpr bits_t kAbs = std::numeric_limits<bits_t>::max();  // all bits but the sign
  const bits_t cb = std::bit_cast<bits_t>(c);
  const bits_t keep = -static_cast<bits_t>((cb & kAbs) > std::bit_cast<bits_t>(t));
  kept += static_cast<acc_t>(keep & 1);
  return std::bit_cast<acc_t>(cb & keep);
}

// Storage aligned to 64 bytes, for arrays read as vector rows.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  bool operator==(const AlignedAllocator&) const { return true; }
};

// Rows of 8 values as GCC vector types (one register where the instruction set has one, pairs
// of registers below it): the 8 x 8 path keeps a block as 8 such rows, so every step of the
// group's filtering is a short run of whole-row vector operations.
template <typename acc_t>
struct Row8 {
  using bits_t = std::conditional_t<sizeof(acc_t) == 4, int32_t, int64_t>;
  typedef acc_t vec __attribute__((vector_size(8 * sizeof(acc_t))));
  typedef bits_t mask __attribute__((vector_size(8 * sizeof(acc_t))));
  // A row anywhere in memory (image rows are not aligned to the vector's size).
  typedef acc_t loose __attribute__((vector_size(8 * sizeof(acc_t)), aligned(sizeof(acc_t))));

  static vec load(const acc_t* p) { return *reinterpret_cast<const loose*>(p); }
  static void store(acc_t* p, vec v) { *reinterpret_cast<loose*>(p) = v; }

  // out = A X B^T for 8 x 8 blocks of rows, A and B row-major scalars, Bt = B^T as rows.
  static void transform(const acc_t* A, const vec* Bt, const vec* x, vec* out) {
    vec tmp[8];
    for (int u = 0; u < 8; ++u) {
      vec row = A[u * 8] * x[0];
      for (int y = 1; y < 8; ++y) row += A[u * 8 + y] * x[y];
      tmp[u] = row;
    }
    for (int u = 0; u < 8; ++u) {
      vec row = tmp[u][0] * Bt[0];
      for (int k = 1; k < 8; ++k) row += tmp[u][k] * Bt[k];
      out[u] = row;
    }
  }

  // The group's Haar transform along its m blocks (bm3d_math.h's, on rows).
  static void haar_forward(vec* g, vec* scratch, int m) {
    const acc_t r = static_cast<acc_t>(0.70710678118654752440);
    for (int len = m; len > 1; len /= 2) {
      const int half = len / 2;
      for (int i = 0; i < half; ++i) {
        for (int y = 0; y < 8; ++y) {
          const vec a = g[(2 * i) * 8 + y], b = g[(2 * i + 1) * 8 + y];
          scratch[i * 8 + y] = (a + b) * r;
          scratch[(half + i) * 8 + y] = (a - b) * r;
        }
      }
      for (int j = 0; j < len * 8; ++j) g[j] = scratch[j];
    }
  }

  static void haar_inverse(vec* g, vec* scratch, int m) {
    const acc_t r = static_cast<acc_t>(0.70710678118654752440);
    for (int len = 2; len <= m; len *= 2) {
      const int half = len / 2;
      for (int i = 0; i < half; ++i) {
        for (int y = 0; y < 8; ++y) {
          const vec s = g[i * 8 + y], d = g[(half + i) * 8 + y];
          scratch[(2 * i) * 8 + y] = (s + d) * r;
          scratch[(2 * i + 1) * 8 + y] = (s - d) * r;
        }
      }
      for (int j = 0; j < len * 8; ++j) g[j] = scratch[j];
    }
  }

  // hard_threshold on a row: |c| > t compared as bit patterns (threshold_counted's rule), so a
  // NaN is kept; the kept count is added to `kept`.
  static vec threshold(vec c, vec t, vec& kept) {
    constexpr bits_t kAbs = std::numeric_limits<bits_t>::max();
    const mask bits = reinterpret_cast<mask>(c);
    const mask keep = (bits & kAbs) > reinterpret_cast<mask>(t);  // -1 where kept
    kept -= __builtin_convertvector(keep, vec);
    return reinterpret_cast<vec>(bits & keep);
  }
};

// kN > 0 fixes the block side at compile time, so that the block transforms' loops unroll and
// vectorize; kN = 0 takes it from the parameters.
template <typename acc_t, int kN>
class BandFilter {
 public:
  BandFilter(const acc_t* noisy, const acc_t* pilot, const acc_t* match_plane, int64_t C,
             int64_t H, int64_t W, const std::vector<int64_t>& ref_rows,
             const std::vector<int64_t>& ref_cols, int64_t first_ref_row, int64_t ref_row_count,
             const std::vector<double>& sigma, const StageParams& p, bool wiener)
      : noisy_(noisy), pilot_(pilot), match_(match_plane), C_(C), H_(H), W_(W),
        rows_(ref_rows.begin() + first_ref_row,
              ref_rows.begin() + first_ref_row + ref_row_count),
        cols_(ref_cols), p_(p), n_(static_cast<int>(p.block)), wiener_(wiener) {
    y0_ = std::max<int64_t>(0, rows_.front() - p.search_radius);
    y1_ = std::min<int64_t>(H, rows_.back() + p.search_radius + p.block);
    transform_ = make_block_transform<acc_t>(p.transform, n_);
    const int nn = n_ * n_;
    for (int u = 0; u < n_; ++u) {
      for (int x = 0; x < n_; ++x) {
        forward_t_[x * n_ + u] = transform_.forward[u * n_ + x];
        inverse_t_[x * n_ + u] = transform_.inverse[u * n_ + x];
      }
    }
    for (int u = 0; u < n_; ++u) {
      for (int v = 0; v < n_; ++v) {
        window_[u * n_ + v] = static_cast<acc_t>(kaiser(u, n_, p.kaiser_beta) *
                                                 kaiser(v, n_, p.kaiser_beta));
      }
    }
    // Per channel: the hard threshold of each coefficient, or the Wiener noise power.
    limit_.resize(C * nn);
    for (int64_t c = 0; c < C; ++c) {
      for (int u = 0; u < n_; ++u) {
        for (int v = 0; v < n_; ++v) {
          const double s = sigma[c];
          limit_[c * nn + u * n_ + v] =
              wiener ? noise_power<acc_t>(p.shrink, s)
                     : static_cast<acc_t>(p.shrink * s * transform_.norm[u] * transform_.norm[v]);
        }
      }
    }
    num_.assign(C * (y1_ - y0_) * W, acc_t(0));
    den_.assign(C * (y1_ - y0_) * W, acc_t(0));
  }

  void run() {
    const int64_t refs = static_cast<int64_t>(rows_.size() * cols_.size());
    const int cap = static_cast<int>(p_.max_group);
    dist_.resize(refs * cap);
    pos_.resize(refs * cap);
    count_.assign(refs, 1);
    // A candidate enters a reference's list when its distance is below the bound: just above
    // the threshold while the list has room, the farthest match's distance once it is full.
    const acc_t limit = static_cast<acc_t>(p_.match_threshold * static_cast<double>(side() * side()));
    bound_.assign(refs, std::nextafter(limit, std::numeric_limits<acc_t>::infinity()));
    if (cap == 1) std::fill(bound_.begin(), bound_.end(), acc_t(0));
    match();
    const int nn = n_ * n_;
    group_.resize(cap * nn);
    guide_.resize(cap * nn);
    scratch_.resize(cap * nn);
    for (int64_t r = 0; r < refs; ++r) {
      const int m = group_size_for(count_[r], cap);
      for (int64_t c = 0; c < C_; ++c) filter_group(&pos_[r * cap], m, c);
    }
  }

  // The band's accumulators: rows [row_begin(), row_end()) of the image, per channel.
  const std::vector<acc_t>& numerator() const { return num_; }
  const std::vector<acc_t>& denominator() const { return den_; }
  int64_t row_begin() const { return y0_; }
  int64_t row_end() const { return y1_; }

 private:
  // Keeps, for every reference of the band, the closest max_group candidates whose mean
  // squared difference is within the threshold: the sum over a block of the squared
  // differences of the matching plane, for one offset at a time.
  void match() {
    const int64_t R = p_.search_radius, n = side();
    const int cap = static_cast<int>(p_.max_group);
    const int64_t nc = static_cast<int64_t>(cols_.size());
    for (size_t i = 0; i < rows_.size(); ++i) {
      for (int64_t j = 0; j < nc; ++j) {
        const int64_t r = static_cast<int64_t>(i) * nc + j;
        dist_[r * cap] = 0;
        pos_[r * cap] = static_cast<int32_t>(rows_[i] * W_ + cols_[j]);
      }
    }
    std::vector<acc_t> column_sums(W_);
    std::vector<acc_t> window(W_);
    // The squared differences of the rows the band's blocks cover, for one offset: computed
    // once per row, where neighbouring reference rows (step < block) share them.
    const int64_t first_row = rows_.front();
    std::vector<acc_t> squares((rows_.back() + n - first_row) * W_);
    for (int64_t dy = -R; dy <= R; ++dy) {
      // The reference rows whose candidate lies inside the image: a contiguous run.
      size_t i0 = 0, i1 = rows_.size();
      while (i0 < i1 && rows_[i0] + dy < 0) ++i0;
      while (i1 > i0 && rows_[i1 - 1] + dy > H_ - n) --i1;
      if (i0 == i1) continue;
      for (int64_t dx = -R; dx <= R; ++dx) {
        if (dy == 0 && dx == 0) continue;
        // The reference columns whose candidate lies inside the image: a contiguous run.
        int64_t j0 = 0, j1 = nc;
        while (j0 < nc && cols_[j0] + dx < 0) ++j0;
        while (j1 > j0 && cols_[j1 - 1] + dx > W_ - n) --j1;
        if (j0 == j1) continue;
        const int64_t x0 = cols_[j0], x1 = cols_[j1 - 1] + n;
        for (int64_t r = rows_[i0]; r < rows_[i1 - 1] + n; ++r) {
          const acc_t* __restrict a = match_ + r * W_;
          const acc_t* __restrict b = match_ + (r + dy) * W_ + dx;
          acc_t* __restrict e = squares.data() + (r - first_row) * W_;
          for (int64_t x = x0; x < x1; ++x) {
            const acc_t d = a[x] - b[x];
            e[x] = d * d;
          }
        }
        for (size_t i = i0; i < i1; ++i) {
          const int64_t y = rows_[i];
          // Squared differences summed down the block's rows, for every column in use.
          acc_t* __restrict sums = column_sums.data();
          const acc_t* e = squares.data() + (y - first_row) * W_;
          for (int64_t x = x0; x < x1; ++x) sums[x] = e[x];
          for (int64_t k = 1; k < n; ++k) {
            const acc_t* __restrict ek = e + k * W_;
            for (int64_t x = x0; x < x1; ++x) sums[x] += ek[x];
          }
          // ... then across the block's columns, at every column where a block starts.
          acc_t* __restrict win = window.data();
          for (int64_t x = x0; x + n <= x1; ++x) {
            acc_t s = sums[x];
            for (int64_t t = 1; t < n; ++t) s += sums[x + t];
            win[x] = s;
          }
          const int64_t base = static_cast<int64_t>(i) * nc;
          const int32_t offset = static_cast<int32_t>((y + dy) * W_ + dx);
          const acc_t* bound = &bound_[base];
          for (int64_t j = j0; j < j1; ++j) {
            const acc_t d = win[cols_[j]];
            if (d < bound[j]) insert(base + j, d, offset + static_cast<int32_t>(cols_[j]), cap);
          }
        }
      }
    }
  }

  // Ties keep the earlier candidate: the reference itself, then the search window in raster
  // order.
  // Called for d < bound_[r] only.
  void insert(int64_t r, acc_t d, int32_t position, int cap) {
    acc_t* dist = &dist_[r * cap];
    int32_t* pos = &pos_[r * cap];
    int count = count_[r];
    if (count == cap) --count;  // the farthest match leaves
    int k = count;
    while (k > 0 && dist[k - 1] > d) {
      dist[k] = dist[k - 1];
      pos[k] = pos[k - 1];
      --k;
    }
    dist[k] = d;
    pos[k] = position;
    count_[r] = count + 1;
    if (count + 1 == cap) bound_[r] = dist[cap - 1];
  }

  // out = A X B^T for n x n blocks, with Bt = B^T stored row-major. Each output row is summed
  // in a local array, so that the compiler keeps it in one vector register and knows that no
  // store aliases the inputs.
  void transform_block(const acc_t* __restrict A, const acc_t* __restrict Bt,
                       const acc_t* __restrict x, acc_t* __restrict out) const {
    const int n = side();
    acc_t tmp[kMaxBlock * kMaxBlock];
    multiply(A, x, tmp, n);
    for (int u = 0; u < n; ++u) {
      acc_t row[kMaxBlock] = {};
      for (int k = 0; k < n; ++k) {
        const acc_t t = tmp[u * n + k];
        for (int v = 0; v < n; ++v) row[v] += t * Bt[k * n + v];
      }
      for (int v = 0; v < n; ++v) out[u * n + v] = row[v];
    }
  }

  // out = A X for n x n row-major matrices.
  static void multiply(const acc_t* __restrict A, const acc_t* __restrict x,
                       acc_t* __restrict out, int n) {
    for (int u = 0; u < n; ++u) {
      acc_t row[kMaxBlock] = {};
      for (int y = 0; y < n; ++y) {
        const acc_t a = A[u * n + y];
        for (int v = 0; v < n; ++v) row[v] += a * x[y * n + v];
      }
      for (int v = 0; v < n; ++v) out[u * n + v] = row[v];
    }
  }

  void load_block(const acc_t* plane, int32_t position, acc_t* out) const {
    const int n = side();
    for (int y = 0; y < n; ++y) {
      const acc_t* src = plane + position + y * W_;
      for (int x = 0; x < n; ++x) out[y * n + x] = src[x];
    }
  }

  void filter_group(const int32_t* positions, int m, int64_t c) {
    if constexpr (kN == 8) {
      filter_group8(positions, m, c);
      return;
    }
    const int n = side(), nn = n * n;
    const acc_t* plane = noisy_ + c * H_ * W_;
    acc_t* G = group_.data();
    acc_t block[kMaxBlock * kMaxBlock];
    for (int k = 0; k < m; ++k) {
      load_block(plane, positions[k], block);
      transform_block(transform_.forward, forward_t_, block, G + k * nn);
    }
    haar_forward(G, scratch_.data(), m, nn);
    const acc_t* limit = &limit_[c * nn];
    acc_t kept = 0;
    if (wiener_) {
      const acc_t* pilot_plane = pilot_ + c * H_ * W_;
      acc_t* P = guide_.data();
      for (int k = 0; k < m; ++k) {
        load_block(pilot_plane, positions[k], block);
        transform_block(transform_.forward, forward_t_, block, P + k * nn);
      }
      haar_forward(P, scratch_.data(), m, nn);
      for (int k = 0; k < m; ++k) {
        acc_t* g = G + k * nn;
        const acc_t* q = P + k * nn;
        for (int i = 0; i < nn; ++i) {
          const acc_t gain = wiener_gain(q[i], limit[i]);
          g[i] *= gain;
          kept += gain * gain;
        }
      }
    } else {
      for (int k = 0; k < m; ++k) {
        acc_t* g = G + k * nn;
        for (int i = 0; i < nn; ++i) g[i] = threshold_counted(g[i], limit[i], kept);
      }
    }
    haar_inverse(G, scratch_.data(), m, nn);
    const acc_t weight = group_weight(kept);
    acc_t* num = num_.data() + c * (y1_ - y0_) * W_;
    acc_t* den = den_.data() + c * (y1_ - y0_) * W_;
    for (int k = 0; k < m; ++k) {
      transform_block(transform_.inverse, inverse_t_, G + k * nn, block);
      const int64_t top = positions[k] / W_ - y0_, left = positions[k] % W_;
      for (int y = 0; y < n; ++y) {
        acc_t* __restrict nr = num + (top + y) * W_ + left;
        acc_t* __restrict dr = den + (top + y) * W_ + left;
        for (int x = 0; x < n; ++x) {
          const acc_t w = weight * window_[y * n + x];
          nr[x] += w * block[y * n + x];
          dr[x] += w;
        }
      }
    }
  }

  // filter_group for 8 x 8 blocks, on rows of 8 (Row8): the same arithmetic in the same order.
  void filter_group8(const int32_t* positions, int m, int64_t c) {
    using R8 = Row8<acc_t>;
    using vec = typename R8::vec;
    vec* G = reinterpret_cast<vec*>(group_.data());
    vec* scratch = reinterpret_cast<vec*>(scratch_.data());
    const acc_t* plane = noisy_ + c * H_ * W_;
    vec rows[8];
    for (int k = 0; k < m; ++k) {
      for (int y = 0; y < 8; ++y) rows[y] = R8::load(plane + positions[k] + y * W_);
      R8::transform(transform_.forward, rows8(forward_t_), rows, G + k * 8);
    }
    R8::haar_forward(G, scratch, m);
    const vec* limit = reinterpret_cast<const vec*>(&limit_[c * 64]);
    vec kept_rows = {};
    if (wiener_) {
      const acc_t* pilot_plane = pilot_ + c * H_ * W_;
      vec* P = reinterpret_cast<vec*>(guide_.data());
      for (int k = 0; k < m; ++k) {
        for (int y = 0; y < 8; ++y) rows[y] = R8::load(pilot_plane + positions[k] + y * W_);
        R8::transform(transform_.forward, rows8(forward_t_), rows, P + k * 8);
      }
      R8::haar_forward(P, scratch, m);
      for (int i = 0; i < m * 8; ++i) {
        const vec p2 = P[i] * P[i];
        const vec gain = p2 / (p2 + limit[i % 8]);  // wiener_gain
        G[i] *= gain;
        kept_rows += gain * gain;
      }
    } else {
      for (int i = 0; i < m * 8; ++i) G[i] = R8::threshold(G[i], limit[i % 8], kept_rows);
    }
    acc_t kept = 0;
    for (int j = 0; j < 8; ++j) kept += kept_rows[j];
    R8::haar_inverse(G, scratch, m);
    const acc_t weight = group_weight(kept);
    const vec* window = rows8(window_);
    acc_t* num = num_.data() + c * (y1_ - y0_) * W_;
    acc_t* den = den_.data() + c * (y1_ - y0_) * W_;
    for (int k = 0; k < m; ++k) {
      R8::transform(transform_.inverse, rows8(inverse_t_), G + k * 8, rows);
      const int64_t top = positions[k] / W_ - y0_, left = positions[k] % W_;
      for (int y = 0; y < 8; ++y) {
        const vec w = weight * window[y];
        const int64_t at = (top + y) * W_ + left;
        R8::store(num + at, R8::load(num + at) + w * rows[y]);
        R8::store(den + at, R8::load(den + at) + w);
      }
    }
  }

  static const typename Row8<acc_t>::vec* rows8(const acc_t* p) {
    return reinterpret_cast<const typename Row8<acc_t>::vec*>(p);
  }

  int side() const { return kN > 0 ? kN : n_; }

  const acc_t* noisy_;
  const acc_t* pilot_;
  const acc_t* match_;
  int64_t C_, H_, W_;
  std::vector<int64_t> rows_;
  const std::vector<int64_t>& cols_;
  StageParams p_;
  int n_;
  bool wiener_;
  int64_t y0_ = 0, y1_ = 0;
  BlockTransform<acc_t> transform_;
  // Aligned for the 8 x 8 path, which reads them as rows of 8.
  alignas(64) acc_t forward_t_[kMaxBlock * kMaxBlock];
  alignas(64) acc_t inverse_t_[kMaxBlock * kMaxBlock];
  alignas(64) acc_t window_[kMaxBlock * kMaxBlock];
  std::vector<acc_t, AlignedAllocator<acc_t>> limit_;
  std::vector<acc_t> num_, den_;
  std::vector<acc_t> dist_;  // each reference's matches, closest first
  std::vector<int32_t> pos_;
  std::vector<int> count_;
  std::vector<acc_t> bound_;  // see run()
  std::vector<acc_t, AlignedAllocator<acc_t>> group_, guide_, scratch_;
};

// One stage over a batch: bands of every image in parallel, then each image's bands summed in
// band order and divided. `pilot` is null for the basic stage (matching on the noisy image).
template <typename acc_t, int kN>
void run_stage_for(const at::Tensor& noisy, const at::Tensor* pilot,
                   const std::vector<double>& sigma, const StageParams& p, at::Tensor& out) {
  const int64_t N = noisy.size(0), C = noisy.size(1), H = noisy.size(2), W = noisy.size(3);
  const std::vector<int64_t> rows = reference_positions(H, p.block, p.step);
  const std::vector<int64_t> cols = reference_positions(W, p.block, p.step);
  const int64_t bands = ceil_div(static_cast<int64_t>(rows.size()), kBandRows);
  const int64_t plane = H * W;
  const acc_t* noisy_data = noisy.const_data_ptr<acc_t>();
  const acc_t* pilot_data = pilot != nullptr ? pilot->const_data_ptr<acc_t>() : nullptr;
  acc_t* out_data = out.mutable_data_ptr<acc_t>();
  // Images in chunks, so that the bands' accumulators of a large batch are not all held at once.
  const int64_t chunk = std::max<int64_t>(1, ceil_div(4 * at::get_num_threads(), bands));
  for (int64_t first = 0; first < N; first += chunk) {
    const int64_t images = std::min(chunk, N - first);
    std::vector<std::unique_ptr<BandFilter<acc_t, kN>>> filters(images * bands);
    at::parallel_for(0, images * bands, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b = first + t / bands, band = t % bands;
        const acc_t* image = noisy_data + b * C * plane;
        const acc_t* guide = pilot_data != nullptr ? pilot_data + b * C * plane : nullptr;
        const int64_t first_row = band * kBandRows;
        const int64_t count = std::min<int64_t>(kBandRows, static_cast<int64_t>(rows.size()) - first_row);
        auto filter = std::make_unique<BandFilter<acc_t, kN>>(
            image, guide, guide != nullptr ? guide : image, C, H, W, rows, cols, first_row, count,
            sigma, p, guide != nullptr);
        filter->run();
        filters[t] = std::move(filter);
      }
    });
    at::parallel_for(0, images * C * H, 16, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> num(W), den(W);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b = t / (C * H), c = (t / H) % C, y = t % H;
        std::fill(num.begin(), num.end(), acc_t(0));
        std::fill(den.begin(), den.end(), acc_t(0));
        for (int64_t band = 0; band < bands; ++band) {
          const BandFilter<acc_t, kN>& f = *filters[b * bands + band];
          if (y < f.row_begin() || y >= f.row_end()) continue;
          const int64_t offset = (c * (f.row_end() - f.row_begin()) + (y - f.row_begin())) * W;
          const acc_t* fn = f.numerator().data() + offset;
          const acc_t* fd = f.denominator().data() + offset;
          for (int64_t x = 0; x < W; ++x) {
            num[x] += fn[x];
            den[x] += fd[x];
          }
        }
        acc_t* dst = out_data + ((first + b) * C + c) * plane + y * W;
        for (int64_t x = 0; x < W; ++x) dst[x] = num[x] / den[x];
      }
    });
  }
}

// The published block side, 8, gets its own compiled copy.
template <typename acc_t>
void run_stage(const at::Tensor& noisy, const at::Tensor* pilot, const std::vector<double>& sigma,
               const StageParams& p, at::Tensor& out) {
  if (p.block == 8) {
    run_stage_for<acc_t, 8>(noisy, pilot, sigma, p, out);
  } else {
    run_stage_for<acc_t, 0>(noisy, pilot, sigma, p, out);
  }
}
