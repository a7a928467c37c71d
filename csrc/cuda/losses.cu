// Fused cross-entropies returning loss and backprop (formulas in csrc/cpu/losses.h; see
// launchers.h).
//
// softmax / sparse softmax: one warp per row (4 rows per 128-thread block): a max pass and a
// sum-exp pass with warp-shuffle reductions give lse = max + log(sum exp(x - max)); a third
// pass writes backprop = exp(x - lse) - label and accumulates the loss terms
// label * (lse - x) (dense labels; a zero label contributes 0 even for a -inf logit), which
// lane 0 stores after a last shuffle reduction. Sparse labels (int32/int64) give
// loss = lse - x[label]; a label outside [0, cols) makes that row's loss and backprop NaN and
// raises a device flag that the host reads back after the kernel (one 4-byte copy).
// sigmoid: elementwise grid-stride, loss = max(x,0) - x*z + log1p(exp(-|x|)),
// backprop = sigmoid(x) - z.
#include <cstdint>

#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/launchers.h"
#include "cuda/rowops.cuh"

namespace nabi::cuda {

namespace {

// lse of row xr (all 32 lanes get the same value).
template <typename T>
__device__ __forceinline__ T row_lse(const T* __restrict__ xr, int64_t cols, int lane) {
  T m = -INFINITY;
  for (int64_t j = lane; j < cols; j += 32) {
    const T v = xr[j];
    m = (v > m || v != v) ? v : m;
  }
  m = warp_max(m);
  T s = T(0);
  for (int64_t j = lane; j < cols; j += 32) s += exp(xr[j] - m);
  s = warp_sum(s);
  return m + log(s);
}

template <typename T>
__global__ void softmax_xent_kernel(const T* __restrict__ labels,  // [rows, cols]
                                    const T* __restrict__ logits,  // [rows, cols]
                                    T* __restrict__ loss,          // [rows]
                                    T* __restrict__ backprop,      // [rows, cols]
                                    int64_t rows, int64_t cols) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* xr = logits + row * cols;
  const T* zr = labels + row * cols;
  T* br = backprop + row * cols;
  const T lse = row_lse(xr, cols, lane);
  T l = T(0);
  for (int64_t j = lane; j < cols; j += 32) {
    const T z = zr[j], x = xr[j];
    if (z != T(0)) l += z * (lse - x);
    br[j] = exp(x - lse) - z;
  }
  l = warp_sum(l);
  if (lane == 0) loss[row] = l;
}

template <typename T, typename L>
__global__ void sparse_softmax_xent_kernel(const L* __restrict__ labels,  // [rows]
                                           const T* __restrict__ logits,  // [rows, cols]
                                           T* __restrict__ loss,          // [rows]
                                           T* __restrict__ backprop,      // [rows, cols]
                                           int64_t rows, int64_t cols,
                                           int* __restrict__ bad) {  // [1] flag, or null
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* xr = logits + row * cols;
  T* br = backprop + row * cols;
  const int64_t label = static_cast<int64_t>(labels[row]);
  if (label < 0 || label >= cols) {
    for (int64_t j = lane; j < cols; j += 32) br[j] = T(NAN);
    if (lane == 0) {
      loss[row] = T(NAN);
      if (bad) *bad = 1;
    }
    return;
  }
  const T lse = row_lse(xr, cols, lane);
  for (int64_t j = lane; j < cols; j += 32) br[j] = exp(xr[j] - lse) - (j == label ? T(1) : T(0));
  if (lane == 0) loss[row] = lse - xr[label];
}

template <typename T>
__global__ void sigmoid_xent_kernel(const T* __restrict__ labels,  // [n]
                                    const T* __restrict__ logits,  // [n]
                                    T* __restrict__ loss,          // [n]
                                    T* __restrict__ backprop,      // [n]
                                    int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const T x = logits[i], z = labels[i];
    const T e = exp(-fabs(x));
    loss[i] = (x > T(0) ? x : T(0)) - x * z + log1p(e);
    const T r = T(1) / (T(1) + e);
    backprop[i] = (x >= T(0) ? r : e * r) - z;
  }
}

unsigned row_blocks(int64_t rows) {
  const int64_t b = ceil_div<int64_t>(rows, 4);
  if (b > 2147483647LL) throw CudaError("[cross_entropy] too many rows for one launch");
  return static_cast<unsigned>(b);
}

}  // namespace

template <typename T>
void softmax_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                  int64_t cols) {
  if (rows <= 0) return;
  if (cols <= 0) {  // empty rows: loss 0 (sum over nothing)
    memset_zero(loss, static_cast<size_t>(rows) * sizeof(T));
    return;
  }
  softmax_xent_kernel<T><<<row_blocks(rows), 128, 0, stream()>>>(labels, logits, loss, backprop,
                                                                 rows, cols);
  NABI_CUDA_CHECK_LAUNCH("softmax_xent_kernel");
}

template <typename T, typename L>
bool sparse_softmax_xent(const L* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                         int64_t cols, bool check) {
  if (rows <= 0) return true;
  if (!check) {
    sparse_softmax_xent_kernel<T, L><<<row_blocks(rows), 128, 0, stream()>>>(
        labels, logits, loss, backprop, rows, cols, nullptr);
    NABI_CUDA_CHECK_LAUNCH("sparse_softmax_xent_kernel");
    return true;
  }
  void* flag = device_alloc(sizeof(int));
  struct Guard { void* p; ~Guard() { device_free(p); } } guard{flag};
  memset_zero(flag, sizeof(int));
  sparse_softmax_xent_kernel<T, L><<<row_blocks(rows), 128, 0, stream()>>>(
      labels, logits, loss, backprop, rows, cols, static_cast<int*>(flag));
  NABI_CUDA_CHECK_LAUNCH("sparse_softmax_xent_kernel");
  int bad = 0;
  copy_d2h(&bad, flag, sizeof(int));
  return bad == 0;
}

template <typename T>
void sigmoid_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t n) {
  if (n <= 0) return;
  sigmoid_xent_kernel<T><<<grid_for(n, 256), 256, 0, stream()>>>(labels, logits, loss, backprop,
                                                                  n);
  NABI_CUDA_CHECK_LAUNCH("sigmoid_xent_kernel");
}

template void softmax_xent<float>(const float*, const float*, float*, float*, int64_t, int64_t);
template void softmax_xent<double>(const double*, const double*, double*, double*, int64_t,
                                   int64_t);
template bool sparse_softmax_xent<float, int32_t>(const int32_t*, const float*, float*, float*,
                                                  int64_t, int64_t, bool);
template bool sparse_softmax_xent<float, int64_t>(const int64_t*, const float*, float*, float*,
                                                  int64_t, int64_t, bool);
template bool sparse_softmax_xent<double, int32_t>(const int32_t*, const double*, double*,
                                                   double*, int64_t, int64_t, bool);
template bool sparse_softmax_xent<double, int64_t>(const int64_t*, const double*, double*,
                                                   double*, int64_t, int64_t, bool);
template void sigmoid_xent<float>(const float*, const float*, float*, float*, int64_t);
template void sigmoid_xent<double>(const double*, const double*, double*, double*, int64_t);

}  // namespace nabi::cuda
