// Pointwise activations (forward/backward) and bias add / bias gradient (see launchers.h).
//
// Activations: one grid-stride kernel per direction and dtype; the activation kind is a
// kernel argument, uniform across the grid, so the switch costs one predictable branch per
// element and there is no divergence (and only 4 kernels to compile instead of 4 per kind).
// Formulas are those of csrc/cpu/activations.cpp, with CUDA's double/float math overloads.
// bias_add: grid-stride, c = i % cols. bias_grad: column sums in two passes: blocks of
// 32 x 8 threads own 32 columns and a slab of rows (coalesced along columns), accumulate in
// float64, reduce the 8 row lanes in shared memory and write one partial per slab; a second
// kernel adds the slabs' partials and rounds to T. With one slab the second pass is skipped.
#include <cstdint>

#include "cpu/activations.h"
#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/launchers.h"

namespace nabi::cuda {

namespace {
using cpu::Act;

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;
constexpr double kGeluC = 0.044715;

template <typename T>
__device__ __forceinline__ T sigmoid_(T x) {
  const T e = exp(-fabs(x));
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

template <typename T>
__device__ __forceinline__ T act_f(int k, T v, T alpha) {
  switch (static_cast<Act>(k)) {
    case Act::Linear: return v;
    case Act::Relu: return v > T(0) ? v : T(0);
    case Act::Relu6: { T r = v > T(0) ? v : T(0); return r < T(6) ? r : T(6); }
    case Act::LeakyRelu: return v >= T(0) ? v : alpha * v;
    case Act::Elu: return v > T(0) ? v : alpha * expm1(v);
    case Act::Selu:
      return v > T(0) ? T(kSeluScale) * v : T(kSeluScale) * T(kSeluAlpha) * expm1(v);
    case Act::Sigmoid: return sigmoid_(v);
    case Act::Tanh: return tanh(v);
    case Act::Softplus: return (v > T(0) ? v : T(0)) + log1p(exp(-fabs(v)));
    case Act::Softsign: return v / (T(1) + fabs(v));
    case Act::Swish: return v * sigmoid_(v);
    case Act::Gelu: return T(0.5) * v * (T(1) + erf(v * T(kInvSqrt2)));
    case Act::GeluTanh:
      return T(0.5) * v * (T(1) + tanh(T(kSqrt2OverPi) * (v + T(kGeluC) * v * v * v)));
    case Act::HardSigmoid: {
      T r = v + T(3);
      r = r > T(0) ? r : T(0);
      r = r < T(6) ? r : T(6);
      return r / T(6);
    }
    case Act::Exponential: return exp(v);
  }
  return v;
}

// uses_y: the host's cpu::act_backward_uses_y(kind, alpha) (only LeakyRelu depends on it).
template <typename T>
__device__ __forceinline__ T act_b(int k, T g, T x, T y, T alpha, bool uses_y) {
  switch (static_cast<Act>(k)) {
    case Act::Linear: return g;
    case Act::Relu: return y > T(0) ? g : T(0);
    case Act::Relu6: return (y > T(0) && y < T(6)) ? g : T(0);
    case Act::LeakyRelu: return (uses_y ? y : x) > T(0) ? g : alpha * g;
    case Act::Elu: return x > T(0) ? g : g * alpha * exp(x);
    case Act::Selu:
      return x > T(0) ? g * T(kSeluScale) : g * T(kSeluScale * kSeluAlpha) * exp(x);
    case Act::Sigmoid: return g * y * (T(1) - y);
    case Act::Tanh: return g * (T(1) - y * y);
    case Act::Softplus: return g * sigmoid_(x);
    case Act::Softsign: { const T d = T(1) + fabs(x); return g / (d * d); }
    case Act::Swish: { const T s = sigmoid_(x); return g * s * (T(1) + x * (T(1) - s)); }
    case Act::Gelu: {
      const T cdf = T(0.5) * (T(1) + erf(x * T(kInvSqrt2)));
      const T pdf = T(kInvSqrt2Pi) * exp(T(-0.5) * x * x);
      return g * (cdf + x * pdf);
    }
    case Act::GeluTanh: {
      const T c = T(kSqrt2OverPi), c3 = T(kGeluC);
      const T t = tanh(c * (x + c3 * x * x * x));
      const T du = c * (T(1) + T(3) * c3 * x * x);
      return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
    }
    case Act::HardSigmoid: return (y > T(0) && y < T(1)) ? g * T(1.0 / 6.0) : T(0);
    case Act::Exponential: return g * y;
  }
  return g;
}

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

// partial[slab, c] = sum over rows [slab*rows_per_slab, ...) of g[r, c], in float64.
template <typename T>
__global__ void bias_grad_partial_kernel(const T* __restrict__ g,     // [rows, cols]
                                         double* __restrict__ partial,  // [slabs, cols]
                                         T* __restrict__ db,            // [cols] (one slab)
                                         int64_t rows, int64_t cols, int64_t rows_per_slab) {
  __shared__ double red[kBgY][kBgX + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kBgX + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_slab;
  int64_t r1 = r0 + rows_per_slab;
  if (r1 > rows) r1 = rows;
  double s = 0.0;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kBgY) s += static_cast<double>(g[r * cols + c]);
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

template <typename T>
void bias_grad(const T* g, T* db, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (rows <= 0) {
    memset_zero(db, static_cast<size_t>(cols) * sizeof(T));
    return;
  }
  // Enough slabs to give the GPU ~1000+ blocks, each slab at least 64 rows.
  const int64_t col_blocks = ceil_div<int64_t>(cols, kBgX);
  int64_t slabs = ceil_div<int64_t>(rows, 64);
  const int64_t want = ceil_div<int64_t>(1024, col_blocks);
  if (slabs > want) slabs = want;
  if (slabs > 65535) slabs = 65535;
  if (slabs < 1) slabs = 1;
  const int64_t rows_per_slab = ceil_div<int64_t>(rows, slabs);
  slabs = ceil_div<int64_t>(rows, rows_per_slab);
  dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(slabs));
  dim3 block(kBgX, kBgY);
  if (slabs == 1) {
    bias_grad_partial_kernel<T><<<grid, block, 0, stream()>>>(g, nullptr, db, rows, cols,
                                                              rows_per_slab);
    NABI_CUDA_CHECK_LAUNCH("bias_grad_partial_kernel");
    return;
  }
  void* ws = device_alloc(static_cast<size_t>(slabs * cols) * sizeof(double));
  struct Guard { void* p; ~Guard() { device_free(p); } } guard{ws};  // stream-ordered reuse
  double* partial = static_cast<double*>(ws);
  bias_grad_partial_kernel<T><<<grid, block, 0, stream()>>>(g, partial, nullptr, rows, cols,
                                                            rows_per_slab);
  NABI_CUDA_CHECK_LAUNCH("bias_grad_partial_kernel");
  bias_grad_finish_kernel<T><<<static_cast<unsigned>(ceil_div<int64_t>(cols, 256)), 256, 0, stream()>>>(partial, db, slabs,
                                                                        cols);
  NABI_CUDA_CHECK_LAUNCH("bias_grad_finish_kernel");
}

#define NABI_INST(T)                                                                       \
  template void act_forward<T>(int, const T*, T*, int64_t, T);                             \
  template void act_backward<T>(int, const T*, const T*, const T*, T*, int64_t, T);        \
  template void bias_add<T>(const T*, const T*, T*, int64_t, int64_t);                     \
  template void bias_grad<T>(const T*, T*, int64_t, int64_t);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cuda
