// The N-d layout machinery of the elementwise kernels (elementwise_nd.cu's header comment
// describes the scheme): coalescing K operands' strides over one shape, the 32/64-bit index
// structs, and the linear / strided grid-stride kernels that run a functor of K offsets.
// And the dtype dispatch (by_dtype over the real dtypes, by_itemsize over raw bits).
// Shared by elementwise_nd.cu and complex.cu; each .cu keeps its own launch_linear / launch_nd
// (the launches must sit in a .cu file for the host simulator's rewrite).
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"

namespace nabi::cuda::nd {

namespace {

// 16 bytes moved as raw bits (a complex128), aligned as the data is.
struct alignas(16) Bits128 {
  uint64_t lo, hi;
};

constexpr int kNdThreads = 256;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// ============================ layouts ========================================================
// Host side: K operands over one shape, innermost dimension first after coalescing.
template <int K>
struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[K][kMaxDims] = {};
};

template <int K>
Layout<K> coalesce(const std::vector<int64_t>& shape,
                   const std::vector<int64_t>* const (&strides)[K]) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw std::invalid_argument("[nd] more than 8 dimensions");
  for (int k = 0; k < K; ++k)
    if (strides[k]->size() != shape.size())
      throw std::invalid_argument("[nd] strides and shape have different lengths");
  Layout<K> L;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (L.ndim > 0) {
      const int t = L.ndim - 1;  // the outermost dimension kept so far
      bool merge = true;
      for (int k = 0; k < K; ++k)
        merge = merge && (*strides[k])[d] == L.stride[k][t] * L.shape[t];
      if (merge) {
        L.shape[t] *= shape[d];
        continue;
      }
    }
    L.shape[L.ndim] = shape[d];
    for (int k = 0; k < K; ++k) L.stride[k][L.ndim] = (*strides[k])[d];
    ++L.ndim;
  }
  return L;
}

template <int K>
bool is_linear(const Layout<K>& L) {
  if (L.ndim == 0) return true;
  if (L.ndim > 1) return false;
  for (int k = 0; k < K; ++k)
    if (L.stride[k][0] != 1) return false;
  return true;
}

// Whether every offset (and the count n) fits in int32.
template <int K>
bool fits_int32(const Layout<K>& L, int64_t n) {
  if (n > kInt32Max) return false;
  for (int k = 0; k < K; ++k) {
    int64_t span = 0;
    for (int d = 0; d < L.ndim; ++d) {
      const int64_t s = L.stride[k][d] < 0 ? -L.stride[k][d] : L.stride[k][d];
      if (s > kInt32Max) return false;
      span += s * (L.shape[d] - 1);
      if (span > kInt32Max) return false;
    }
  }
  return true;
}

// Device side: the same layout with index type I (passed by value to the kernel).
template <typename I, int K>
struct NdIndex {
  int ndim;
  I shape[kMaxDims];
  I stride[K][kMaxDims];
};

template <typename I, int K>
NdIndex<I, K> to_index(const Layout<K>& L) {
  NdIndex<I, K> ix{};
  ix.ndim = L.ndim;
  for (int d = 0; d < kMaxDims; ++d) {
    ix.shape[d] = static_cast<I>(d < L.ndim ? L.shape[d] : 1);
    for (int k = 0; k < K; ++k) ix.stride[k][d] = static_cast<I>(d < L.ndim ? L.stride[k][d] : 0);
  }
  return ix;
}

template <typename I, int K>
__device__ __forceinline__ void nd_offsets(const NdIndex<I, K>& ix, I i, I (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d < ix.ndim) {
      I r;
      if (d == ix.ndim - 1) {
        r = i;  // the outermost dimension: what is left of i
      } else {
        const I q = i / ix.shape[d];
        r = i - q * ix.shape[d];
        i = q;
      }
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] += r * ix.stride[k][d];
    }
  }
}

template <typename I, typename Fn>
__global__ void __launch_bounds__(kNdThreads) linear_kernel(Fn fn, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    I off[Fn::K];
#pragma unroll
    for (int k = 0; k < Fn::K; ++k) off[k] = static_cast<I>(i);
    fn(off);
  }
}

template <typename I, typename Fn>
__global__ void __launch_bounds__(kNdThreads)
    strided_kernel(Fn fn, NdIndex<I, Fn::K> ix, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    I off[Fn::K];
    nd_offsets<I, Fn::K>(ix, static_cast<I>(i), off);
    fn(off);
  }
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

// ============================ dtype dispatch =================================================
template <typename F>
void by_dtype(DType d, F&& f) {
  switch (d) {
    case DType::Float32: return f(static_cast<float*>(nullptr));
    case DType::Float64: return f(static_cast<double*>(nullptr));
    case DType::Int32: return f(static_cast<int32_t*>(nullptr));
    case DType::Int64: return f(static_cast<int64_t*>(nullptr));
    case DType::Bool: return f(static_cast<bool*>(nullptr));
    default: break;  // complex: complex.cu's own dispatch
  }
  throw std::invalid_argument("[nd] unknown dtype");
}

// Elements moved as raw bits (copies, where): one unsigned type per item size.
template <typename F>
void by_itemsize(size_t s, F&& f) {
  switch (s) {
    case 1: return f(static_cast<uint8_t*>(nullptr));
    case 2: return f(static_cast<uint16_t*>(nullptr));
    case 4: return f(static_cast<uint32_t*>(nullptr));
    case 8: return f(static_cast<uint64_t*>(nullptr));
    case 16: return f(static_cast<Bits128*>(nullptr));  // complex128
  }
  throw std::invalid_argument("[nd] unsupported item size");
}

}  // namespace

}  // namespace nabi::cuda::nd
