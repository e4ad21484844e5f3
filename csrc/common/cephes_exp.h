#pragma once
// The core of Cephes' expf, written to vectorize (std::exp is a library call that stops GCC's
// vectorizer): e^x = 2^n * e^r with n = round(x / ln 2) and r = x - n ln 2, |r| <= ln(2) / 2,
// and e^r from a degree-5 polynomial (relative error below 1e-7). The callers clamp x and build
// 2^n for their own ranges.

namespace fusegen {

// x - n ln 2 for an integral n, with ln 2 in two parts (Cody and Waite) so that r keeps its bits.
inline float reduce_by_ln2(float x, float n) {
  const float r = x - n * 0.693359375f;
  return r + n * 2.12194440e-4f;
}

// e^r for |r| <= ln(2) / 2.
inline float exp_polynomial(float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}

}  // namespace fusegen
