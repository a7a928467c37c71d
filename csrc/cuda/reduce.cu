// Sum / mean / max over one axis (see launchers.h). x is viewed as (outer, n, inner) and
// y as (outer, inner).
//
// inner == 1 (reducing the last axis, rows of length n): one warp per row, lanes stride the
//   row (coalesced), warp-shuffle butterfly reduction, 8 rows per 256-thread block.
// inner > 1: one thread per output (o, i); consecutive threads take consecutive i, so each
//   step of the loop over n reads a coalesced run of x[o, k, :].
// Sum/Mean accumulate in float64 for both dtypes; Max propagates NaN (NaN wins) and starts at
// -inf, so n == 0 gives sum 0, mean NaN (0/0), max -inf.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/launchers.h"

namespace nabi::cuda {

namespace {

__device__ __forceinline__ double nan_max(double a, double b) {
  return (b > a || b != b) ? b : a;
}

template <typename T>
__global__ void reduce_rows_kernel(int op,
                                   const T* __restrict__ x,  // [rows, n]
                                   T* __restrict__ y,        // [rows]
                                   int64_t rows, int64_t n) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* xr = x + row * n;
  const bool is_max = op == static_cast<int>(ReduceOp::Max);
  double a = is_max ? -INFINITY : 0.0;
  if (is_max) {
    for (int64_t j = lane; j < n; j += 32) a = nan_max(a, static_cast<double>(xr[j]));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) a = nan_max(a, __shfl_xor_sync(0xffffffffu, a, o));
  } else {
    for (int64_t j = lane; j < n; j += 32) a += static_cast<double>(xr[j]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (op == static_cast<int>(ReduceOp::Mean)) a /= static_cast<double>(n);
  }
  if (lane == 0) y[row] = static_cast<T>(a);
}

template <typename T>
__global__ void reduce_strided_kernel(int op,
                                      const T* __restrict__ x,  // [outer, n, inner]
                                      T* __restrict__ y,        // [outer, inner]
                                      int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const bool is_max = op == static_cast<int>(ReduceOp::Max);
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += stride) {
    const int64_t o = idx / inner, i = idx % inner;
    const T* p = x + o * n * inner + i;
    double a = is_max ? -INFINITY : 0.0;
    if (is_max) {
      for (int64_t k = 0; k < n; ++k) a = nan_max(a, static_cast<double>(p[k * inner]));
    } else {
      for (int64_t k = 0; k < n; ++k) a += static_cast<double>(p[k * inner]);
      if (op == static_cast<int>(ReduceOp::Mean)) a /= static_cast<double>(n);
    }
    y[idx] = static_cast<T>(a);
  }
}

}  // namespace

template <typename T>
void reduce_axis(ReduceOp op, const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  if (outer <= 0 || inner <= 0) return;
  if (inner == 1) {
    const int64_t blocks = ceil_div<int64_t>(outer, 8);
    if (blocks > 2147483647LL) throw CudaError("[reduce] too many rows for one launch");
    reduce_rows_kernel<T><<<static_cast<unsigned>(blocks), 256, 0, stream()>>>(
        static_cast<int>(op), x, y, outer, n);
    NABI_CUDA_CHECK_LAUNCH("reduce_rows_kernel");
  } else {
    reduce_strided_kernel<T><<<grid_for(outer * inner, 256), 256, 0, stream()>>>(
        static_cast<int>(op), x, y, outer, n, inner);
    NABI_CUDA_CHECK_LAUNCH("reduce_strided_kernel");
  }
}

template void reduce_axis<float>(ReduceOp, const float*, float*, int64_t, int64_t, int64_t);
template void reduce_axis<double>(ReduceOp, const double*, double*, int64_t, int64_t, int64_t);

}  // namespace nabi::cuda
