// The bit patterns of float32 / float64 / int32 / int64 values as the unsigned words that
// atomicCAS takes, and back: the compare-and-swap loops of segment_reduce.cu (min / max) and
// index_extra.cu (product) update a value of any of these types through them.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda/common.cuh"  // (__device__ and the intrinsics, also under the host simulator)

namespace nabi::cuda::nd {

__device__ __forceinline__ unsigned to_bits(float v) { return __float_as_uint(v); }
__device__ __forceinline__ unsigned long long to_bits(double v) {
  return static_cast<unsigned long long>(__double_as_longlong(v));
}
__device__ __forceinline__ unsigned to_bits(int32_t v) { return static_cast<unsigned>(v); }
__device__ __forceinline__ unsigned long long to_bits(int64_t v) {
  return static_cast<unsigned long long>(v);
}
template <typename T, typename B>
__device__ __forceinline__ T from_bits(B b) {
  if constexpr (std::is_same_v<T, float>) return __uint_as_float(b);
  else if constexpr (std::is_same_v<T, double>)
    return __longlong_as_double(static_cast<long long>(b));
  else return static_cast<T>(b);
}

}  // namespace nabi::cuda::nd
