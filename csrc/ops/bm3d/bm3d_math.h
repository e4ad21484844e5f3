#pragma once
// BM3D's per-coefficient math, written once for the CPU and the CUDA kernel: the 2-D block
// transforms, the orthonormal Haar transform along a group, the two shrinkages and their
// aggregation weights, the Kaiser window and the colour transform.
//
// Transforms are n x n matrices T applied to a block X as T X T^T; the inverse uses the
// inverse matrix. The DCT is orthonormal; bior1.5 (stage 1's default for 8 x 8 blocks, as in
// Dabov et al. 2007) is biorthogonal, so the noise in coefficient (u, v) has standard deviation
// sigma * norm[u] * norm[v], norm being the rows' Euclidean norms.

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace fusegen::bm3d {

constexpr int kMaxBlock = 16;  // largest block side
constexpr int kMaxGroup = 64;  // largest group (a power of two, for the Haar transform)

enum class Transform2D : int64_t { kDct = 0, kBior15 = 1 };

// The forward matrix, its inverse and the rows' norms of one 2-D transform, row-major.
template <typename acc_t>
struct BlockTransform {
  int n;
  acc_t forward[kMaxBlock * kMaxBlock];
  acc_t inverse[kMaxBlock * kMaxBlock];
  acc_t norm[kMaxBlock];
};

// The 8-point bior1.5 full wavelet decomposition with periodic boundaries (rows: the scaling
// function, then the detail functions from coarse to fine), the matrix of the published BM3D.
constexpr double kBior15x8[64] = {
    0.343550200747110,  0.343550200747110,  0.343550200747110,  0.343550200747110,
    0.343550200747110,  0.343550200747110,  0.343550200747110,  0.343550200747110,
    -0.225454819240296, -0.461645582253923, -0.461645582253923, -0.225454819240296,
    0.225454819240296,  0.461645582253923,  0.461645582253923,  0.225454819240296,
    0.569359398342840,  0.402347308162280,  -0.402347308162280, -0.569359398342840,
    -0.083506045090280, 0.083506045090280,  -0.083506045090280, 0.083506045090280,
    -0.083506045090280, 0.083506045090280,  -0.083506045090280, 0.083506045090280,
    0.569359398342840,  0.402347308162280,  -0.402347308162280, -0.569359398342840,
    0.707106781186550,  -0.707106781186550, 0,                  0,
    0,                  0,                  0,                  0,
    0,                  0,                  0.707106781186550,  -0.707106781186550,
    0,                  0,                  0,                  0,
    0,                  0,                  0,                  0,
    0.707106781186550,  -0.707106781186550, 0,                  0,
    0,                  0,                  0,                  0,
    0,                  0,                  0.707106781186550,  -0.707106781186550,
};

// Gauss-Jordan inversion with partial pivoting of an n x n row-major matrix, in double (host).
inline bool invert_matrix(const double* a, double* inv, int n) {
  double m[kMaxBlock][2 * kMaxBlock];
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      m[i][j] = a[i * n + j];
      m[i][n + j] = i == j ? 1.0 : 0.0;
    }
  }
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int r = col + 1; r < n; ++r) {
      if (std::fabs(m[r][col]) > std::fabs(m[pivot][col])) pivot = r;
    }
    if (m[pivot][col] == 0.0) return false;
    for (int j = 0; j < 2 * n; ++j) std::swap(m[col][j], m[pivot][j]);
    const double scale = 1.0 / m[col][col];
    for (int j = 0; j < 2 * n; ++j) m[col][j] *= scale;
    for (int r = 0; r < n; ++r) {
      if (r == col || m[r][col] == 0.0) continue;
      const double f = m[r][col];
      for (int j = 0; j < 2 * n; ++j) m[r][j] -= f * m[col][j];
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) inv[i * n + j] = m[i][n + j];
  }
  return true;
}

// The transform of n-point blocks (host): bior1.5 exists for n = 8 only; every other request
// is the orthonormal DCT-II.
template <typename acc_t>
BlockTransform<acc_t> make_block_transform(Transform2D kind, int n) {
  double f[kMaxBlock * kMaxBlock];
  double inv[kMaxBlock * kMaxBlock];
  if (kind == Transform2D::kBior15 && n == 8) {
    for (int i = 0; i < 64; ++i) f[i] = kBior15x8[i];
  } else {
    const double pi = 3.14159265358979323846;
    for (int u = 0; u < n; ++u) {
      const double scale = std::sqrt((u == 0 ? 1.0 : 2.0) / n);
      for (int x = 0; x < n; ++x) f[u * n + x] = scale * std::cos(pi * (2 * x + 1) * u / (2.0 * n));
    }
  }
  invert_matrix(f, inv, n);  // both matrices are invertible
  BlockTransform<acc_t> t{};
  t.n = n;
  for (int i = 0; i < n * n; ++i) {
    t.forward[i] = static_cast<acc_t>(f[i]);
    t.inverse[i] = static_cast<acc_t>(inv[i]);
  }
  for (int u = 0; u < n; ++u) {
    double s = 0;
    for (int x = 0; x < n; ++x) s += f[u * n + x] * f[u * n + x];
    t.norm[u] = static_cast<acc_t>(std::sqrt(s));
  }
  return t;
}

// The modified Bessel function I0 by its power series (host; |x| is small here).
inline double bessel_i0(double x) {
  double sum = 1, term = 1;
  for (int k = 1; k < 50; ++k) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

// The n-point Kaiser window with shape beta (numpy.kaiser).
inline double kaiser(int i, int n, double beta) {
  if (n == 1) return 1;
  const double r = 2.0 * i / (n - 1) - 1;
  return bessel_i0(beta * std::sqrt(std::fmax(0.0, 1 - r * r))) / bessel_i0(beta);
}

// In place, the orthonormal Haar transform (full decomposition) of m = 2^k rows of `width`
// values each, along the rows: every output row mixes the input rows, column by column.
// `scratch` holds m * width values.
template <typename acc_t>
C10_HOST_DEVICE inline void haar_forward(acc_t* __restrict__ rows, acc_t* __restrict__ scratch, int m,
                                         int width) {
  const acc_t r = static_cast<acc_t>(0.70710678118654752440);
  for (int len = m; len > 1; len /= 2) {
    const int half = len / 2;
    for (int i = 0; i < half; ++i) {
      const acc_t* a = rows + (2 * i) * width;
      const acc_t* b = rows + (2 * i + 1) * width;
      acc_t* s = scratch + i * width;
      acc_t* d = scratch + (half + i) * width;
      for (int j = 0; j < width; ++j) {
        s[j] = (a[j] + b[j]) * r;
        d[j] = (a[j] - b[j]) * r;
      }
    }
    for (int j = 0; j < len * width; ++j) rows[j] = scratch[j];
  }
}

template <typename acc_t>
C10_HOST_DEVICE inline void haar_inverse(acc_t* __restrict__ rows, acc_t* __restrict__ scratch, int m,
                                         int width) {
  const acc_t r = static_cast<acc_t>(0.70710678118654752440);
  for (int len = 2; len <= m; len *= 2) {
    const int half = len / 2;
    for (int i = 0; i < half; ++i) {
      const acc_t* s = rows + i * width;
      const acc_t* d = rows + (half + i) * width;
      acc_t* a = scratch + (2 * i) * width;
      acc_t* b = scratch + (2 * i + 1) * width;
      for (int j = 0; j < width; ++j) {
        a[j] = (s[j] + d[j]) * r;
        b[j] = (s[j] - d[j]) * r;
      }
    }
    for (int j = 0; j < len * width; ++j) rows[j] = scratch[j];
  }
}

// Hard thresholding: a coefficient at or below its threshold becomes 0 (a NaN stays, as
// PyTorch's comparisons leave it).
template <typename acc_t>
C10_HOST_DEVICE inline acc_t hard_threshold(acc_t c, acc_t threshold) {
  return (c > threshold || c < -threshold || c != c) ? c : acc_t(0);
}

// The empirical Wiener gain for a pilot coefficient p: p^2 / (p^2 + mu2 sigma^2). The noise
// power must be > 0 (noise_power() below).
template <typename acc_t>
C10_HOST_DEVICE inline acc_t wiener_gain(acc_t pilot, acc_t noise_power) {
  const acc_t p2 = pilot * pilot;
  return p2 / (p2 + noise_power);
}

// mu2 sigma^2 in acc_t, at least the smallest normal number, so that a tiny sigma gives gains
// of 1 (0 for a zero pilot coefficient) rather than 0 / 0.
template <typename acc_t>
inline acc_t noise_power(double mu2, double sigma) {
  const double v = mu2 * sigma * sigma;
  const double smallest = static_cast<double>(std::numeric_limits<acc_t>::min());
  return static_cast<acc_t>(v > smallest ? v : smallest);
}

// A group's aggregation weight: the inverse of its estimate's noise variance in units of
// sigma^2 (the factor sigma^-2 is the same for every group of a channel, so it is left out):
// 1 / (coefficients kept) after hard thresholding, 1 / sum(gain^2) after Wiener filtering;
// 1 when nothing is kept.
template <typename acc_t>
C10_HOST_DEVICE inline acc_t group_weight(acc_t kept_energy) {
  return kept_energy > acc_t(0) ? acc_t(1) / kept_energy : acc_t(1);
}

// The largest power of two <= count (count >= 1), capped at `cap` (a power of two).
C10_HOST_DEVICE inline int group_size_for(int count, int cap) {
  int m = 1;
  while (m * 2 <= count && m * 2 <= cap) m *= 2;
  return m;
}

// The opponent colour transform of the reference implementation (BM3D's 'opp'): luma, then
// two chroma channels; rows of kOpponent map RGB to it, kOpponentInverse maps back.
constexpr double kOpponent[9] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0.5, 0, -0.5, 0.25, -0.5, 0.25};
constexpr double kOpponentInverse[9] = {1, 1, 2.0 / 3, 1, 0, -4.0 / 3, 1, -1, 2.0 / 3};

}  // namespace fusegen::bm3d
