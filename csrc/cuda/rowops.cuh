// Warp-level reductions shared by the row-wise kernels (softmax.cu, losses.cu): butterfly
// __shfl_xor_sync over the 32 lanes, every lane gets the result. The max lets NaN win, like
// the CPU kernels.
#pragma once
#include <cuda_runtime.h>

namespace nabi::cuda {

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = (w > v || w != w) ? w : v;  // NaN wins
  }
  return v;
}

}  // namespace nabi::cuda
