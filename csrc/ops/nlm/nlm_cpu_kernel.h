// The CPU kernel's body, compiled by nlm_cpu.cpp once per instruction set (baseline, AVX2,
// AVX-512; common/cpu_isa_copies.inc), picked at run time. It has no include guard on purpose
// and includes nothing: nlm_cpu.cpp includes the headers and opens the namespace.

// Output rows per task: tall enough that the rows shared by neighbouring strips (the patch and
// search margins) cost little, short enough to give every core work on one 512x512 image.
constexpr int64_t kStripRows = 32;

// The weight exp(-max(d2 - 2 sigma^2, 0) / h^2) from d2 * inv_count (ops/nlm/nlm_weight.h).
//
// The float version is written to vectorize: std::exp does not, and GCC keeps comparisons of
// floats as branches (they might raise floating-point exceptions), so the clamps compare the
// floats' bit patterns as integers, which order like the values for non-negative floats.
// exp is Cephes' expf polynomial, relative error ~2e-7, below float32 rounding of the sums.
inline float nlm_weight(float mean_d2, float two_sigma2, float inv_h2) {
  constexpr int32_t kBitsOf87 = 0x42AE0000;  // exp(-87) is the last normal float
  int32_t excess = std::bit_cast<int32_t>(mean_d2 - two_sigma2);
  excess &= ~(excess >> 31);  // max(., 0): negative floats have the sign bit set
  int32_t t = std::bit_cast<int32_t>(std::bit_cast<float>(excess) * inv_h2);
  const int32_t keep = -static_cast<int32_t>(t < kBitsOf87);  // all ones, or 0 for +inf, NaN
  t = t < kBitsOf87 ? t : kBitsOf87;
  const float x = -std::bit_cast<float>(t);
  const int32_t n = static_cast<int32_t>(x * 1.44269504f - 0.5f);  // round(x / ln 2), x <= 0
  const float nf = static_cast<float>(n);
  const float p = exp_polynomial(reduce_by_ln2(x, nf));
  const float e = p * std::bit_cast<float>((n + 127) << 23);  // times 2^n
  return std::bit_cast<float>(std::bit_cast<int32_t>(e) & keep);
}

inline double nlm_weight(double mean_d2, double two_sigma2, double inv_h2) {
  return nlm_weight_exact(mean_d2, two_sigma2, inv_h2);
}

template <typename acc_t>
struct Workspace {
  std::vector<acc_t> ring;     // the last patch_size rows of e
  std::vector<acc_t> spare;    // the row of e entering the patch
  std::vector<acc_t> column;   // e summed over the patch's rows
  std::vector<acc_t> dist;     // d2 of one row
  std::vector<acc_t> weights;  // w for the rows and columns of one offset
  std::vector<acc_t> num;      // (C, rows, W) weighted sums of pixel values
  std::vector<acc_t> den;      // (rows, W) sums of weights
};

template <typename acc_t>
class StripDenoiser {
 public:
  StripDenoiser(const acc_t* image, int64_t channels, int64_t height, int64_t width,
                const Params& p)
      : image_(image),
        C_(channels),
        H_(height),
        W_(width),
        rp_(p.patch_radius),
        rs_(p.search_radius),
        R_(p.margin()),
        Wp_(width + 2 * p.margin()),
        plane_((height + 2 * p.margin()) * (width + 2 * p.margin())),
        patch_(2 * p.patch_radius + 1),
        inv_count_(acc_t(1) / static_cast<acc_t>(channels * (2 * p.patch_radius + 1) *
                                                  (2 * p.patch_radius + 1))),
        two_sigma2_(static_cast<acc_t>(2 * p.sigma * p.sigma)),
        inv_h2_(p.inv_h2<acc_t>()) {}

  // Denoises output rows [y0, y1) into out (C planes of H x W).
  void run(int64_t y0, int64_t y1, Workspace<acc_t>& ws, acc_t* out) const {
    const int64_t T = y1 - y0;
    const int64_t ext_width = W_ + 2 * rs_ + 2 * rp_;
    ws.ring.resize(patch_ * ext_width);
    ws.spare.resize(ext_width);
    ws.column.resize(ext_width);
    ws.dist.resize(W_ + 2 * rs_);
    ws.weights.resize((T + rs_) * (W_ + 2 * rs_));
    ws.num.resize(C_ * T * W_);
    ws.den.resize(T * W_);
    start_with_centre(y0, T, ws);
    for (int64_t dy = 0; dy <= rs_; ++dy) {
      for (int64_t dx = dy == 0 ? 1 : -rs_; dx <= rs_; ++dx) {
        weigh_offset(y0, T, dy, dx, ws);
        accumulate_offset(y0, T, dy, dx, ws);
      }
    }
    for (int64_t r = 0; r < T; ++r) {
      const acc_t* den = ws.den.data() + r * W_;
      for (int64_t c = 0; c < C_; ++c) {
        const acc_t* num = ws.num.data() + (c * T + r) * W_;
        acc_t* dst = out + (c * H_ + y0 + r) * W_;
#pragma omp simd
        for (int64_t x = 0; x < W_; ++x) dst[x] = num[x] / den[x];
      }
    }
  }

 private:
  // Padded pixel row of image row y (may be negative or >= H), channel c, at image column 0.
  const acc_t* row(int64_t c, int64_t y) const { return image_ + c * plane_ + (y + R_) * Wp_ + R_; }

  // The pixel compared with itself: d2 = 0, weight 1.
  void start_with_centre(int64_t y0, int64_t T, Workspace<acc_t>& ws) const {
    std::fill(ws.den.begin(), ws.den.end(), acc_t(1));
    for (int64_t c = 0; c < C_; ++c)
      for (int64_t r = 0; r < T; ++r)
        std::copy(row(c, y0 + r), row(c, y0 + r) + W_, ws.num.data() + (c * T + r) * W_);
  }

  // e for image row y over columns [x_begin, x_begin + n): sum_c (I(y, x) - I(y + dy, x + dx))^2.
  void squared_differences(int64_t y, int64_t x_begin, int64_t n, int64_t dy, int64_t dx,
                           acc_t* e) const {
    for (int64_t c = 0; c < C_; ++c) {
      const acc_t* a = row(c, y) + x_begin;
      const acc_t* b = row(c, y + dy) + x_begin + dx;
      if (c == 0) {
#pragma omp simd
        for (int64_t x = 0; x < n; ++x) e[x] = (a[x] - b[x]) * (a[x] - b[x]);
      } else {
#pragma omp simd
        for (int64_t x = 0; x < n; ++x) e[x] += (a[x] - b[x]) * (a[x] - b[x]);
      }
    }
  }

  // dist[x] = sum of column[x .. x + patch_size): running sums, 2 additions a pixel whatever
  // the patch size. A running sum is a serial chain of additions, so the row is cut into
  // kChains segments whose chains interleave and hide the additions' latency.
  void box_along_row(const acc_t* column, int64_t cols, acc_t* dist) const {
    constexpr int64_t kChains = 8;
    const int64_t seg = (cols + kChains - 1) / kChains;
    const int64_t full = cols / seg;  // segments of length seg; the next one is shorter
    acc_t sum[kChains] = {};
    for (int64_t k = 0; k * seg < cols; ++k) {
      for (int64_t x = k * seg; x < k * seg + patch_; ++x) sum[k] += column[x];
      dist[k * seg] = sum[k];
    }
    for (int64_t i = 1; i < seg; ++i) {
      for (int64_t k = 0; k < full; ++k) {
        const int64_t x = k * seg + i;
        sum[k] += column[x + patch_ - 1] - column[x - 1];
        dist[x] = sum[k];
      }
    }
    for (int64_t x = full * seg + 1; x < cols; ++x) {
      sum[full] += column[x + patch_ - 1] - column[x - 1];
      dist[x] = sum[full];
    }
  }

  // Weights of offset (dy, dx) for every pixel p whose pair (p, p + o) touches the strip:
  // rows [y0 - dy, y0 + T), columns [x_lo, x_lo + W + |dx|) with x_lo = min(0, -dx).
  void weigh_offset(int64_t y0, int64_t T, int64_t dy, int64_t dx, Workspace<acc_t>& ws) const {
    const int64_t x_lo = std::min<int64_t>(0, -dx);
    const int64_t rows = T + dy;
    const int64_t cols = W_ + std::abs(dx);
    const int64_t ext_cols = cols + 2 * rp_;
    const int64_t first = y0 - dy;  // first weighted row
    acc_t* column = ws.column.data();
    acc_t* dist = ws.dist.data();

    // Column sums over the patch's rows, slid down one row at a time through a ring of e rows.
    std::fill(column, column + ext_cols, acc_t(0));
    for (int64_t k = 0; k < patch_; ++k) {
      acc_t* e = ws.ring.data() + k * ext_cols;
      squared_differences(first - rp_ + k, x_lo - rp_, ext_cols, dy, dx, e);
#pragma omp simd
      for (int64_t x = 0; x < ext_cols; ++x) column[x] += e[x];
    }
    for (int64_t j = 0; j < rows; ++j) {
      if (j > 0) {
        acc_t* leaving = ws.ring.data() + ((j - 1) % patch_) * ext_cols;
        acc_t* entering = ws.spare.data();
        squared_differences(first + j + rp_, x_lo - rp_, ext_cols, dy, dx, entering);
#pragma omp simd
        for (int64_t x = 0; x < ext_cols; ++x) column[x] += entering[x] - leaving[x];
        std::swap_ranges(entering, entering + ext_cols, leaving);
      }
      box_along_row(column, cols, dist);
      acc_t* w = ws.weights.data() + j * cols;
      const acc_t inv_count = inv_count_, two_sigma2 = two_sigma2_, inv_h2 = inv_h2_;
#pragma omp simd
      for (int64_t x = 0; x < cols; ++x) w[x] = nlm_weight(dist[x] * inv_count, two_sigma2, inv_h2);
    }
  }

  // Each strip pixel gains its partner's value for both offsets o and -o.
  void accumulate_offset(int64_t y0, int64_t T, int64_t dy, int64_t dx,
                         Workspace<acc_t>& ws) const {
    const int64_t x_lo = std::min<int64_t>(0, -dx);
    const int64_t cols = W_ + std::abs(dx);
    for (int64_t r = 0; r < T; ++r) {
      const int64_t y = y0 + r;
      // p = (y, x) pairs with q = p + o; the weight of p sits at row r + dy.
      const acc_t* w_fwd = ws.weights.data() + (r + dy) * cols - x_lo;
      // q = (y, x) pairs with p = q - o; the weight of p sits at row r, column x - dx.
      const acc_t* w_back = ws.weights.data() + r * cols - x_lo - dx;
      acc_t* den = ws.den.data() + r * W_;
#pragma omp simd
      for (int64_t x = 0; x < W_; ++x) den[x] += w_fwd[x] + w_back[x];
      for (int64_t c = 0; c < C_; ++c) {
        const acc_t* fwd = row(c, y + dy) + dx;
        const acc_t* back = row(c, y - dy) - dx;
        acc_t* num = ws.num.data() + (c * T + r) * W_;
#pragma omp simd
        for (int64_t x = 0; x < W_; ++x) num[x] += w_fwd[x] * fwd[x] + w_back[x] * back[x];
      }
    }
  }

  const acc_t* image_;
  int64_t C_, H_, W_, rp_, rs_, R_, Wp_, plane_, patch_;
  acc_t inv_count_, two_sigma2_, inv_h2_;
};

template <typename acc_t>
void denoise_kernel(const at::Tensor& padded, const Params& p, at::Tensor& out) {
  const int64_t N = out.size(0), C = out.size(1), H = out.size(2), W = out.size(3);
  const int64_t strips = (H + kStripRows - 1) / kStripRows;
  const acc_t* src = padded.const_data_ptr<acc_t>();
  acc_t* dst = out.mutable_data_ptr<acc_t>();
  const int64_t padded_image = padded.numel() / N;
  at::parallel_for(0, N * strips, 1, [&](int64_t begin, int64_t end) {
    Workspace<acc_t> ws;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / strips;
      const int64_t y0 = (task % strips) * kStripRows;
      const StripDenoiser<acc_t> denoiser(src + n * padded_image, C, H, W, p);
      denoiser.run(y0, std::min(y0 + kStripRows, H), ws, dst + n * C * H * W);
    }
  });
}

