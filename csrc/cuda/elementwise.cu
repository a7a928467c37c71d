// Pointwise activations (forward/backward) and bias add / bias gradient (see launchers.h).
//
// Activations: one grid-stride kernel per direction and dtype; the activation kind is a
// kernel argument, uniform across the grid, so the switch costs one predictable branch per
// element and there is no divergence (and only 4 kernels to compile instead of 4 per kind).
// Formulas are those of csrc/cpu/activations.cpp, with CUDA's double/float math overloads.
// bias_add: grid-stride, c = i % cols. bias_grad: column sums in two passes: blocks of
// 32 x 8 threads own 32 columns and a slab of rows (coalesced along columns), accumulate in
// float64, reduce the 8 row lanes in shared memory and write one partial per slab; a second
// kernel adds the slabs' partials and rounds to T. With one slab (up to 256 rows) the second
// pass is skipped. act_backward_bias_grad (a Dense layer's backward) is the same kernel with
// the activation's derivative applied to each element on the way, dz stored as it is summed.
#include <cstdint>

#include "cpu/activations.h"
#include "cuda/activations.cuh"
#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/launchers.h"

namespace nabi::cuda {

namespace {
using cpu::Act;
using acts::act_b;
using acts::act_f;

// x / y and g / dx may alias (in-place activations), so these pointers are not __restrict__.
template <typename T>
__global__ void act_forward_kernel(int kind,
                                   const T* x,  // [n]
                                   T* y,        // [n] (may alias x)
                                   int64_t n, T alpha) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride)
    y[i] = act_f(kind, x[i], alpha);
}

template <typename T>
__global__ void act_backward_kernel(int kind,
                                    const T* g,  // [n]
                                    const T* x,  // [n] or null when uses_y
                                    const T* y,  // [n] or null when !uses_y
                                    T* dx,       // [n] (may alias g)
                                    int64_t n, T alpha, bool uses_y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const T xi = x ? x[i] : T(0);
    const T yi = y ? y[i] : T(0);
    dx[i] = act_b(kind, g[i], xi, yi, alpha, uses_y);
  }
}

template <typename T>
__global__ void bias_add_kernel(const T* x,                // [rows, cols]
                                const T* __restrict__ b,   // [cols]
                                T* y,                      // [rows, cols] (may alias x)
                                int64_t total, int64_t cols) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride)
    y[i] = x[i] + b[i % cols];
}

constexpr int kBgX = 32, kBgY = 8;

// The activation backward fused into the bias gradient (act_backward_bias_grad).
template <typename T>
struct ActGrad {
  int kind;
  const T* x;  // [rows, cols] or null when uses_y
  const T* y;  // [rows, cols] or null when !uses_y
  T* dz;       // [rows, cols], written
  T alpha;
  bool uses_y;
};

// partial[slab, c] = sum over rows [slab*rows_per_slab, ...) of g[r, c], in float64.
// kAct (a Dense layer's backward): the summand is dz = act'(g, x or y), also stored into dz.
template <typename T, bool kAct = false>
__global__ void bias_grad_partial_kernel(const T* __restrict__ g,     // [rows, cols]
                                         double* __restrict__ partial,  // [slabs, cols]
                                         T* __restrict__ db,            // [cols] (one slab)
                                         int64_t rows, int64_t cols, int64_t rows_per_slab,
                                         ActGrad<T> ag) {               // used only when kAct
  __shared__ double red[kBgY][kBgX + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kBgX + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_slab;
  int64_t r1 = r0 + rows_per_slab;
  if (r1 > rows) r1 = rows;
  double s = 0.0;
  if (c < cols) {
#pragma unroll 4
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kBgY) {
      const int64_t i = r * cols + c;
      T v = g[i];
      if constexpr (kAct) {
        v = act_b(ag.kind, v, ag.x ? ag.x[i] : T(0), ag.y ? ag.y[i] : T(0), ag.alpha,
                  ag.uses_y);
        ag.dz[i] = v;
      }
      s += static_cast<double>(v);
    }
  }
  red[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double t = 0.0;
#pragma unroll
    for (int k = 0; k < kBgY; ++k) t += red[k][threadIdx.x];
    if (db)
      db[c] = static_cast<T>(t);
    else
      partial[blockIdx.y * cols + c] = t;
  }
}

template <typename T>
__global__ void bias_grad_finish_kernel(const double* __restrict__ partial,  // [slabs, cols]
                                        T* __restrict__ db,                  // [cols]
                                        int64_t slabs, int64_t cols) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  double t = 0.0;
  for (int64_t s = 0; s < slabs; ++s) t += partial[s * cols + c];
  db[c] = static_cast<T>(t);
}

}  // namespace

template <typename T>
void act_forward(int kind, const T* x, T* y, int64_t n, T alpha) {
  if (n <= 0) return;
  act_forward_kernel<T><<<grid_for(n, 256), 256, 0, stream()>>>(kind, x, y, n, alpha);
  NABI_CUDA_CHECK_LAUNCH("act_forward_kernel");
}

template <typename T>
void act_backward(int kind, const T* g, const T* x, const T* y, T* dx, int64_t n, T alpha) {
  if (n <= 0) return;
  const bool uses_y = cpu::act_backward_uses_y(static_cast<Act>(kind), double(alpha));
  act_backward_kernel<T><<<grid_for(n, 256), 256, 0, stream()>>>(kind, g, x, y, dx, n, alpha,
                                                                  uses_y);
  NABI_CUDA_CHECK_LAUNCH("act_backward_kernel");
}

template <typename T>
void bias_add(const T* x, const T* b, T* y, int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  if (total <= 0) return;
  bias_add_kernel<T><<<grid_for(total, 256), 256, 0, stream()>>>(x, b, y, total, cols);
  NABI_CUDA_CHECK_LAUNCH("bias_add_kernel");
}

namespace {

// Column sums of g (kAct: of dz = act'(g), also stored) into db. Slabs of rows give the GPU
// enough blocks when rows are many: ~1000 blocks, each slab at least 64 rows, then a second
// pass adds the slabs' partials. Up to 256 rows (a Dense layer's batch) take one slab and one
// launch: each thread sums at most 32 rows.
template <typename T, bool kAct>
void column_sums(const T* g, T* db, int64_t rows, int64_t cols, ActGrad<T> ag) {
  const int64_t col_blocks = ceil_div<int64_t>(cols, kBgX);
  int64_t slabs = rows <= 256 ? 1 : ceil_div<int64_t>(rows, 64);
  const int64_t want = ceil_div<int64_t>(1024, col_blocks);
  if (slabs > want) slabs = want;
  if (slabs > 65535) slabs = 65535;
  if (slabs < 1) slabs = 1;
  const int64_t rows_per_slab = ceil_div<int64_t>(rows, slabs);
  slabs = ceil_div<int64_t>(rows, rows_per_slab);
  dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(slabs));
  dim3 block(kBgX, kBgY);
  if (slabs == 1) {
    bias_grad_partial_kernel<T, kAct><<<grid, block, 0, stream()>>>(g, nullptr, db, rows, cols,
                                                                    rows_per_slab, ag);
    NABI_CUDA_CHECK_LAUNCH("bias_grad_partial_kernel");
    return;
  }
  void* ws = device_alloc(static_cast<size_t>(slabs * cols) * sizeof(double));
  struct Guard { void* p; ~Guard() { device_free(p); } } guard{ws};  // stream-ordered reuse
  double* partial = static_cast<double*>(ws);
  bias_grad_partial_kernel<T, kAct><<<grid, block, 0, stream()>>>(g, partial, nullptr, rows,
                                                                  cols, rows_per_slab, ag);
  NABI_CUDA_CHECK_LAUNCH("bias_grad_partial_kernel");
  bias_grad_finish_kernel<T><<<static_cast<unsigned>(ceil_div<int64_t>(cols, 256)), 256, 0,
                               stream()>>>(partial, db, slabs, cols);
  NABI_CUDA_CHECK_LAUNCH("bias_grad_finish_kernel");
}

}  // namespace

template <typename T>
void bias_grad(const T* g, T* db, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (rows <= 0) {
    memset_zero(db, static_cast<size_t>(cols) * sizeof(T));
    return;
  }
  column_sums<T, false>(g, db, rows, cols, ActGrad<T>{0, nullptr, nullptr, nullptr, T(0), false});
}

template <typename T>
void act_backward_bias_grad(int kind, const T* g, const T* x, const T* y, T* dz, T* db,
                            int64_t rows, int64_t cols, T alpha) {
  if (cols <= 0) return;
  if (rows <= 0) {
    memset_zero(db, static_cast<size_t>(cols) * sizeof(T));
    return;
  }
  const bool uses_y = cpu::act_backward_uses_y(static_cast<Act>(kind), double(alpha));
  column_sums<T, true>(g, db, rows, cols, ActGrad<T>{kind, x, y, dz, alpha, uses_y});
}

#define NABI_INST(T)                                                                       \
  template void act_forward<T>(int, const T*, T*, int64_t, T);                             \
  template void act_backward<T>(int, const T*, const T*, const T*, T*, int64_t, T);        \
  template void bias_add<T>(const T*, const T*, T*, int64_t, int64_t);                     \
  template void bias_grad<T>(const T*, T*, int64_t, int64_t);                             \
  template void act_backward_bias_grad<T>(int, const T*, const T*, const T*, T*, T*, int64_t, \
                                          int64_t, T);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cuda
