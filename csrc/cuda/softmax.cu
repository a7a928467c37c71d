// Softmax / log-softmax forward and backward over the last axis of (rows, cols) buffers
// (formulas in csrc/cpu/softmax.h; see launchers.h).
//
// One row per warp when cols <= 1024 (4 rows per 128-thread block), one row per 256-thread
// block (8 warps) beyond that. Each row is 2-3 passes over global memory: a max pass, an
// exp-sum pass, a write pass (the row is re-read; for the row sizes of classifiers it stays
// in L1/L2). Reductions are warp shuffles (__shfl_xor_sync butterfly), then, for the block
// variant, a tiny shared-memory exchange between the 8 warps. Sums accumulate in T (float
// rounding error of a 32-way tree reduction is far below the tests' tolerances).
// -inf handling follows the CPU kernels: a row whose max is -inf or +inf becomes NaN.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/launchers.h"
#include "cuda/rowops.cuh"

namespace nabi::cuda {

namespace {

// Reduction across the WARPS warps that share one row (WARPS == 1: plain warp reduction).
template <int WARPS, bool kMax, typename T>
__device__ __forceinline__ T row_reduce(T v) {
  v = kMax ? warp_max(v) : warp_sum(v);
  if (WARPS == 1) return v;
  __shared__ T buf[WARPS];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // buf may still be read by a previous reduction
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  T r = buf[0];
#pragma unroll
  for (int w = 1; w < WARPS; ++w) {
    const T b = buf[w];
    r = kMax ? ((b > r || b != b) ? b : r) : r + b;
  }
  return r;
}

// WARPS warps per row; the block holds (blockDim.x / 32) / WARPS rows.
template <typename T, int WARPS, bool kLog>
__global__ void softmax_forward_kernel(const T* x,  // [rows, cols]
                                       T* y,        // [rows, cols] (may alias x)
                                       int64_t rows, int64_t cols) {
  constexpr int kLanes = WARPS * 32;
  const int rows_per_block = blockDim.x / kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * rows_per_block + threadIdx.x / kLanes;
  const int lane = threadIdx.x % kLanes;
  // For WARPS > 1 the block is one row, so no thread returns before the __syncthreads.
  if (row >= rows) return;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  T m = -INFINITY;
  for (int64_t j = lane; j < cols; j += kLanes) {
    const T v = xr[j];
    m = (v > m || v != v) ? v : m;
  }
  m = row_reduce<WARPS, true>(m);
  T s = T(0);
  for (int64_t j = lane; j < cols; j += kLanes) s += exp(xr[j] - m);
  s = row_reduce<WARPS, false>(s);
  if (kLog) {
    const T ls = log(s);
    for (int64_t j = lane; j < cols; j += kLanes) yr[j] = (xr[j] - m) - ls;
  } else {
    const T inv = T(1) / s;
    for (int64_t j = lane; j < cols; j += kLanes) yr[j] = exp(xr[j] - m) * inv;
  }
}

template <typename T, int WARPS, bool kLog>
__global__ void softmax_backward_kernel(const T* g,               // [rows, cols]
                                        const T* __restrict__ y,  // [rows, cols] fwd output
                                        T* dx,                    // [rows, cols] (may alias g)
                                        int64_t rows, int64_t cols) {
  constexpr int kLanes = WARPS * 32;
  const int rows_per_block = blockDim.x / kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * rows_per_block + threadIdx.x / kLanes;
  const int lane = threadIdx.x % kLanes;
  if (row >= rows) return;
  const T* gr = g + row * cols;
  const T* yr = y + row * cols;
  T* dr = dx + row * cols;
  T s = T(0);
  if (kLog) {
    for (int64_t j = lane; j < cols; j += kLanes) s += gr[j];           // sum(g)
  } else {
    for (int64_t j = lane; j < cols; j += kLanes) s += gr[j] * yr[j];   // sum(g * y)
  }
  s = row_reduce<WARPS, false>(s);
  if (kLog) {
    for (int64_t j = lane; j < cols; j += kLanes) dr[j] = gr[j] - exp(yr[j]) * s;
  } else {
    for (int64_t j = lane; j < cols; j += kLanes) dr[j] = yr[j] * (gr[j] - s);
  }
}

constexpr int64_t kWarpRowMaxCols = 1024;

template <typename T, bool kLog>
void launch_fwd(const T* x, T* y, int64_t rows, int64_t cols) {
  if (cols <= kWarpRowMaxCols) {
    const unsigned blocks = static_cast<unsigned>(ceil_div<int64_t>(rows, 4));
    softmax_forward_kernel<T, 1, kLog><<<blocks, 128, 0, stream()>>>(x, y, rows, cols);
  } else {
    softmax_forward_kernel<T, 8, kLog><<<static_cast<unsigned>(rows), 256, 0, stream()>>>(
        x, y, rows, cols);
  }
  NABI_CUDA_CHECK_LAUNCH("softmax_forward_kernel");
}

template <typename T, bool kLog>
void launch_bwd(const T* g, const T* y, T* dx, int64_t rows, int64_t cols) {
  if (cols <= kWarpRowMaxCols) {
    const unsigned blocks = static_cast<unsigned>(ceil_div<int64_t>(rows, 4));
    softmax_backward_kernel<T, 1, kLog><<<blocks, 128, 0, stream()>>>(g, y, dx, rows, cols);
  } else {
    softmax_backward_kernel<T, 8, kLog><<<static_cast<unsigned>(rows), 256, 0, stream()>>>(
        g, y, dx, rows, cols);
  }
  NABI_CUDA_CHECK_LAUNCH("softmax_backward_kernel");
}

void check_rows(int64_t rows) {
  if (rows > 2147483647LL)
    throw CudaError("[softmax] too many rows for one launch: " + std::to_string(rows));
}

}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  check_rows(rows);
  if (log) launch_fwd<T, true>(x, y, rows, cols);
  else launch_fwd<T, false>(x, y, rows, cols);
}

template <typename T>
void softmax_backward(const T* g, const T* y, T* dx, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  check_rows(rows);
  if (log) launch_bwd<T, true>(g, y, dx, rows, cols);
  else launch_bwd<T, false>(g, y, dx, rows, cols);
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t,
                                       bool);

}  // namespace nabi::cuda
