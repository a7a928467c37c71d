// Batch normalisation on the GPU, channels last: x of any rank viewed as (M, C), statistics
// per channel over the M rows; float32/float64 (semantics of csrc/cpu/batchnorm.cpp, see
// nn_launchers.h).
//
// Every pass is one of three simple kernels:
//
// 1. Two per-channel sums, a two-level reduction (bn_sums_kernel + bn_*_finish_kernel):
//    blocks of 32 x 8 threads own 32 channels (threadIdx.x, so a warp reads 32 consecutive
//    channels of one row: coalesced) and a slab of rows; the 8 row lanes of a block stride
//    the slab, accumulating in float64, are added in shared memory and the block writes one
//    partial per channel and slab. A finish kernel (one thread per channel) adds the slabs'
//    partials in slab order (deterministic), then computes the per-channel results and the
//    coefficients of the elementwise pass.
//      training forward:  s1 = sum (x - x0), s2 = sum (x - x0)^2 with x0 = row 0 (the shift
//                         keeps sum(x^2) - sum(x)^2 from cancelling); mean = x0 + s1/M,
//                         var = max(s2/M - (s1/M)^2, 0) (biased), inv_std = 1/sqrt(var+eps)
//      backward:          s1 = sum dy (= dbeta), s2 = sum dy*(x - mean); dgamma = s2*inv_std
// 2. Coefficients without a reduction (inference): bn_infer_coef_kernel, one thread per
//    channel.
// 3. The elementwise pass, grid-stride over the M*C elements (c = i % C):
//      forward:   y = x * a[c] + b[c],   a = gamma*inv_std, b = beta - mean*gamma*inv_std
//      backward:  dx = k1[c]*dy + k2[c]*x + k3[c]   (training: the batch statistics' terms;
//                 inference: k1 = gamma*inv_std, k2 = k3 = 0)
// The coefficient arithmetic is float64 (as on the CPU), rounded to T once.
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/nn_launchers.h"

namespace nabi::cuda {

namespace {

constexpr int kRx = 32, kRy = 8;  // reduction block: 32 channels x 8 row lanes
constexpr int kThreads = 256;     // elementwise / per-channel kernels

template <typename T>
constexpr DType dtype_of() {
  return sizeof(T) == 4 ? DType::Float32 : DType::Float64;
}

// Slabs of rows for the reduction: ~1000 blocks in all, each slab at least 64 rows.
struct Slabs {
  int64_t count, rows_per;
};
Slabs make_slabs(int64_t M, int64_t C) {
  const int64_t col_blocks = ceil_div<int64_t>(C, kRx);
  int64_t s = ceil_div<int64_t>(M, 64);
  const int64_t want = ceil_div<int64_t>(1024, col_blocks);
  if (s > want) s = want;
  if (s > 65535) s = 65535;
  if (s < 1) s = 1;
  const int64_t per = ceil_div<int64_t>(M, s);
  return {ceil_div<int64_t>(M, per), per};
}

// kMode 0 (training forward): f1 = x - x[0, c], f2 = f1^2.
// kMode 1 (backward):         f1 = dy,          f2 = dy * (x - mean[c]).
// part1/part2 [slabs, C] receive each slab's float64 sums.
template <typename T, int kMode>
__global__ void bn_sums_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                               const T* __restrict__ mean, double* __restrict__ part1,
                               double* __restrict__ part2, int64_t M, int64_t C,
                               int64_t rows_per_slab) {
  __shared__ double r1[kRy][kRx + 1];
  __shared__ double r2[kRy][kRx + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kRx + threadIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * rows_per_slab;
  const int64_t row1 = row0 + rows_per_slab < M ? row0 + rows_per_slab : M;
  double s1 = 0.0, s2 = 0.0;
  if (c < C) {
    const double ref = kMode == 0 ? static_cast<double>(x[c]) : static_cast<double>(mean[c]);
    for (int64_t r = row0 + threadIdx.y; r < row1; r += kRy) {
      const double xv = static_cast<double>(x[r * C + c]) - ref;
      if (kMode == 0) {
        s1 += xv;
        s2 += xv * xv;
      } else {
        const double g = static_cast<double>(dy[r * C + c]);
        s1 += g;
        s2 += g * xv;
      }
    }
  }
  r1[threadIdx.y][threadIdx.x] = s1;
  r2[threadIdx.y][threadIdx.x] = s2;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    double t1 = 0.0, t2 = 0.0;
#pragma unroll
    for (int k = 0; k < kRy; ++k) {
      t1 += r1[k][threadIdx.x];
      t2 += r2[k][threadIdx.x];
    }
    part1[blockIdx.y * C + c] = t1;
    part2[blockIdx.y * C + c] = t2;
  }
}

// Per channel: the statistics and y's coefficients a (coef[c]) and b (coef[C + c]).
template <typename T>
__global__ void bn_train_finish_kernel(const T* __restrict__ x, const T* __restrict__ gamma,
                                       const T* __restrict__ beta,
                                       const double* __restrict__ part1,
                                       const double* __restrict__ part2, int64_t slabs,
                                       double eps, int64_t M, int64_t C, T* __restrict__ mean,
                                       T* __restrict__ var, T* __restrict__ inv_std,
                                       T* __restrict__ coef) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s1 = 0.0, s2 = 0.0;
  for (int64_t s = 0; s < slabs; ++s) {
    s1 += part1[s * C + c];
    s2 += part2[s * C + c];
  }
  const double m1 = M > 0 ? s1 / static_cast<double>(M) : 0.0;
  double v = M > 0 ? s2 / static_cast<double>(M) - m1 * m1 : 0.0;
  if (v < 0) v = 0;
  const double mu = (M > 0 ? static_cast<double>(x[c]) : 0.0) + m1;
  const double is = 1.0 / sqrt(v + eps);
  mean[c] = static_cast<T>(mu);
  var[c] = static_cast<T>(v);
  inv_std[c] = static_cast<T>(is);
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  coef[c] = static_cast<T>(g * is);
  coef[C + c] = static_cast<T>((beta ? static_cast<double>(beta[c]) : 0.0) - mu * g * is);
}

template <typename T>
__global__ void bn_infer_coef_kernel(const T* __restrict__ gamma, const T* __restrict__ beta,
                                     const T* __restrict__ mean, const T* __restrict__ var,
                                     double eps, int64_t C, T* __restrict__ coef) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double is = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  coef[c] = static_cast<T>(g * is);
  coef[C + c] = static_cast<T>((beta ? static_cast<double>(beta[c]) : 0.0) -
                               static_cast<double>(mean[c]) * g * is);
}

// Per channel: dbeta, dgamma and dx's coefficients k1, k2, k3 (coef[0..3C)).
template <typename T>
__global__ void bn_backward_finish_kernel(const T* __restrict__ gamma,
                                          const T* __restrict__ mean,
                                          const T* __restrict__ inv_std,
                                          const double* __restrict__ part1,
                                          const double* __restrict__ part2, int64_t slabs,
                                          bool training, int64_t M, int64_t C,
                                          T* __restrict__ dgamma, T* __restrict__ dbeta,
                                          T* __restrict__ coef) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sg = 0.0, sgx = 0.0;
  for (int64_t s = 0; s < slabs; ++s) {
    sg += part1[s * C + c];
    sgx += part2[s * C + c];
  }
  const double is = static_cast<double>(inv_std[c]);
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  const double db = sg, dg = sgx * is;  // dgamma = sum dy * xhat
  if (dbeta) dbeta[c] = static_cast<T>(db);
  if (dgamma) dgamma[c] = static_cast<T>(dg);
  if (training && M > 0) {
    const double s = g * is, Md = static_cast<double>(M);
    coef[c] = static_cast<T>(s);
    coef[C + c] = static_cast<T>(-s * dg * is / Md);
    coef[2 * C + c] = static_cast<T>(-s * db / Md + s * dg * is * static_cast<double>(mean[c]) / Md);
  } else {
    coef[c] = static_cast<T>(g * is);
    coef[C + c] = T(0);
    coef[2 * C + c] = T(0);
  }
}

// y = x * coef[c] + coef[C + c]
template <typename T>
__global__ void bn_scale_shift_kernel(const T* __restrict__ x, const T* __restrict__ coef,
                                      T* __restrict__ y, int64_t total, int64_t C) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t c = i % C;
    y[i] = x[i] * coef[c] + coef[C + c];
  }
}

// dx = coef[c] * dy + coef[C + c] * x + coef[2C + c]
template <typename T>
__global__ void bn_backward_dx_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                      const T* __restrict__ coef, T* __restrict__ dx,
                                      int64_t total, int64_t C) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t c = i % C;
    dx[i] = coef[c] * dy[i] + coef[C + c] * x[i] + coef[2 * C + c];
  }
}

unsigned channel_blocks(int64_t C) {
  return static_cast<unsigned>(ceil_div<int64_t>(C, kThreads));
}

// Launches bn_sums_kernel<T, kMode> over (M, C) into *ws, a new workspace of 2 * slabs * C
// doubles (part1 = its first slabs * C, part2 the rest); returns the number of slabs (0 and
// no workspace when M == 0: nothing to add).
template <typename T, int kMode>
int64_t launch_sums(const T* x, const T* dy, const T* mean, int64_t M, int64_t C,
                    std::unique_ptr<DeviceBuffer>* ws) {
  if (M <= 0) return 0;
  const Slabs s = make_slabs(M, C);
  *ws = std::make_unique<DeviceBuffer>(std::vector<int64_t>{2 * s.count * C}, DType::Float64);
  double* part = (*ws)->ptr<double>();
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(C, kRx)),
                  static_cast<unsigned>(s.count));
  bn_sums_kernel<T, kMode><<<grid, dim3(kRx, kRy), 0, stream()>>>(
      x, dy, mean, part, part + s.count * C, M, C, s.rows_per);
  NABI_CUDA_CHECK_LAUNCH("bn_sums_kernel");
  return s.count;
}

// The two halves of launch_sums' workspace (null when there is none).
const double* part1_of(const std::unique_ptr<DeviceBuffer>& ws) {
  return ws ? ws->ptr<double>() : nullptr;
}
const double* part2_of(const std::unique_ptr<DeviceBuffer>& ws, int64_t slabs, int64_t C) {
  return ws ? ws->ptr<double>() + slabs * C : nullptr;
}

}  // namespace

template <typename T>
void batch_norm_forward_train(const T* x, const T* gamma, const T* beta, double eps, int64_t M,
                              int64_t C, T* y, T* mean, T* var, T* inv_std) {
  if (C <= 0) return;
  // Workspace from the caching allocator (stream-ordered reuse makes the early free safe).
  DeviceBuffer coef({2 * C}, dtype_of<T>());
  std::unique_ptr<DeviceBuffer> ws;
  const int64_t slabs = launch_sums<T, 0>(x, nullptr, nullptr, M, C, &ws);
  bn_train_finish_kernel<T><<<channel_blocks(C), kThreads, 0, stream()>>>(
      x, gamma, beta, part1_of(ws), part2_of(ws, slabs, C), slabs, eps, M, C, mean, var,
      inv_std, coef.ptr<T>());
  NABI_CUDA_CHECK_LAUNCH("bn_train_finish_kernel");
  const int64_t total = M * C;
  if (total <= 0) return;
  bn_scale_shift_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      x, coef.ptr<T>(), y, total, C);
  NABI_CUDA_CHECK_LAUNCH("bn_scale_shift_kernel");
}

template <typename T>
void batch_norm_forward_infer(const T* x, const T* gamma, const T* beta, const T* mean,
                              const T* var, double eps, int64_t M, int64_t C, T* y) {
  const int64_t total = M * C;
  if (C <= 0 || total <= 0) return;
  DeviceBuffer coef({2 * C}, dtype_of<T>());
  bn_infer_coef_kernel<T><<<channel_blocks(C), kThreads, 0, stream()>>>(gamma, beta, mean, var,
                                                                        eps, C, coef.ptr<T>());
  NABI_CUDA_CHECK_LAUNCH("bn_infer_coef_kernel");
  bn_scale_shift_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      x, coef.ptr<T>(), y, total, C);
  NABI_CUDA_CHECK_LAUNCH("bn_scale_shift_kernel");
}

template <typename T>
void batch_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean,
                         const T* inv_std, bool training, int64_t M, int64_t C, T* dx,
                         T* dgamma, T* dbeta) {
  if (C <= 0) return;
  DeviceBuffer coef({3 * C}, dtype_of<T>());
  std::unique_ptr<DeviceBuffer> ws;
  const int64_t slabs = launch_sums<T, 1>(x, dy, mean, M, C, &ws);
  bn_backward_finish_kernel<T><<<channel_blocks(C), kThreads, 0, stream()>>>(
      gamma, mean, inv_std, part1_of(ws), part2_of(ws, slabs, C), slabs, training, M, C,
      dgamma, dbeta, coef.ptr<T>());
  NABI_CUDA_CHECK_LAUNCH("bn_backward_finish_kernel");
  const int64_t total = M * C;
  if (!dx || total <= 0) return;
  bn_backward_dx_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      dy, x, coef.ptr<T>(), dx, total, C);
  NABI_CUDA_CHECK_LAUNCH("bn_backward_dx_kernel");
}

#define NABI_BN_INST(T)                                                                       \
  template void batch_norm_forward_train<T>(const T*, const T*, const T*, double, int64_t,    \
                                            int64_t, T*, T*, T*, T*);                         \
  template void batch_norm_forward_infer<T>(const T*, const T*, const T*, const T*, const T*, \
                                            double, int64_t, int64_t, T*);                    \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*,     \
                                       bool, int64_t, int64_t, T*, T*, T*);
NABI_BN_INST(float)
NABI_BN_INST(double)
#undef NABI_BN_INST

}  // namespace nabi::cuda
