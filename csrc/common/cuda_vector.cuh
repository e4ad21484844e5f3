#pragma once
// 16-byte (or narrower) vector loads and stores for memory-bound CUDA kernels. The caller
// guarantees the pointer is aligned to sizeof(scalar_t) * VEC.

namespace fusegen {

template <typename scalar_t, int VEC>
struct alignas(sizeof(scalar_t) * VEC) Vector {
  scalar_t v[VEC];
};

template <typename scalar_t, int VEC>
__device__ __forceinline__ Vector<scalar_t, VEC> load(const scalar_t* p) {
  return *reinterpret_cast<const Vector<scalar_t, VEC>*>(p);
}

template <typename scalar_t, int VEC>
__device__ __forceinline__ void store(scalar_t* p, const Vector<scalar_t, VEC>& value) {
  *reinterpret_cast<Vector<scalar_t, VEC>*>(p) = value;
}

}  // namespace fusegen
