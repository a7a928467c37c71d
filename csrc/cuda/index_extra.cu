// index_extra kernels (see index_extra_launchers.h): segment products, the running
// log-sum-exp and the truncating / nextafter elementwise ops of tf on GPU tensors.
//
// segment_prod: a scatter with atomic compare-and-swap, as segment_reduce.cu. init_kernel
// fills y (num, inner) with 1; prod_kernel runs one thread per data element (grid-stride
// over rows * inner): row r = t / inner goes to segment ids[r] (ids outside [0, num) are
// dropped) and multiplies x[t] into y[ids[r], t % inner] with a CAS loop on the element's
// bits (integers multiply as unsigned: they wrap, as NumPy's). Launches: 2 (1 when no rows).
//
// logcumsumexp: one thread per line (o, i) of x viewed as (outer, n, inner), grid-stride over
// outer * inner; the thread walks its n elements in order (backwards with reverse) carrying a
// float64 accumulator that starts at -inf and grows by NumPy's logaddexp. Adjacent threads
// read adjacent i, so the loads coalesce when inner > 1; for the usual last-axis scan
// (inner = 1) each thread streams its own row, which is fine for the short axes of
// tf.math.cumulative_logsumexp's uses. Launches: 1.
//
// binary_extra: one thread per element (grid-stride), the operands already broadcast to one
// shape by the caller. Launches: 1.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "cuda/atomic_bits.cuh"
#include "cuda/common.cuh"
#include "cuda/index_extra_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

// ---- segment_prod ---------------------------------------------------------------------------
// (to_bits / from_bits: atomic_bits.cuh)

template <typename T>
__device__ __forceinline__ T times(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return a * b;
  else {  // wrap instead of signed overflow
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  }
}

template <typename T>
__device__ __forceinline__ void atomic_mul(T* p, T v) {
  using B = decltype(to_bits(v));
  B* a = reinterpret_cast<B*>(p);
  B old = *reinterpret_cast<volatile B*>(a);
  while (true) {
    const B assumed = old;
    old = atomicCAS(a, assumed, to_bits(times(from_bits<T>(assumed), v)));
    if (old == assumed) return;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    fill_one_kernel(T* __restrict__ y, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step)
    y[t] = T(1);
}

template <typename T, typename Idx>
__global__ void __launch_bounds__(kThreads)
    segment_prod_kernel(const T* __restrict__ x,      // [rows, inner]
                        const Idx* __restrict__ ids,  // [rows]
                        T* __restrict__ y,            // [num, inner], filled with 1
                        int64_t inner, int64_t num, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t r = t / inner;
    const int64_t s = static_cast<int64_t>(ids[r]);
    if (s < 0 || s >= num) continue;
    atomic_mul(y + s * inner + (t - r * inner), x[t]);
  }
}

template <typename T>
void run_prod(const void* x, int64_t rows, int64_t inner, DType id_dtype, const void* ids,
              int64_t num, void* y) {
  const int64_t total_y = num * inner, total_x = rows * inner;
  T* yt = static_cast<T*>(y);
  fill_one_kernel<T><<<grid_for(total_y, kThreads), kThreads, 0, stream()>>>(yt, total_y);
  NABI_CUDA_CHECK_LAUNCH("fill_one_kernel");
  if (total_x == 0) return;
  auto go = [&](auto* tag) {
    using Idx = std::remove_pointer_t<decltype(tag)>;
    segment_prod_kernel<T, Idx><<<grid_for(total_x, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(x), static_cast<const Idx*>(ids), yt, inner, num, total_x);
    NABI_CUDA_CHECK_LAUNCH("segment_prod_kernel");
  };
  if (id_dtype == DType::Int32) go(static_cast<int32_t*>(nullptr));
  else if (id_dtype == DType::Int64) go(static_cast<int64_t*>(nullptr));
  else throw std::invalid_argument("[segment_prod] ids must be int32 or int64");
}

// ---- logcumsumexp ---------------------------------------------------------------------------
// NumPy's npy_logaddexp: equal arguments give x + log 2 (so -inf stays -inf, inf stays inf).
__device__ __forceinline__ double log_add_exp(double a, double b) {
  if (a == b) return a + 0.69314718055994530942;
  const double d = a - b;
  if (d > 0) return a + log1p(exp(-d));
  if (d <= 0) return b + log1p(exp(d));
  return d;  // NaN
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    logcumsumexp_kernel(const T* __restrict__ x,  // [outer, n, inner]
                        T* __restrict__ y,        // [outer, n, inner]
                        int64_t n, int64_t inner, bool exclusive, bool reverse,
                        int64_t lines) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines;
       l += step) {
    const int64_t o = l / inner, i = l - o * inner;
    const int64_t base = o * n * inner + i;
    double acc = -INFINITY;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + (reverse ? n - 1 - k : k) * inner;
      const double v = static_cast<double>(x[at]);
      if (exclusive) {
        y[at] = static_cast<T>(acc);
        acc = log_add_exp(acc, v);
      } else {
        acc = log_add_exp(acc, v);
        y[at] = static_cast<T>(acc);
      }
    }
  }
}

// ---- binary_extra ---------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ T trunc_div(T a, T b) {
  if constexpr (std::is_same_v<T, float>) return truncf(a / b);
  else if constexpr (std::is_same_v<T, double>) return trunc(a / b);
  else {
    if (b == 0) return T(0);
    if (b == T(-1)) return static_cast<T>(T(0) - static_cast<std::make_unsigned_t<T>>(a));
    return a / b;
  }
}

template <typename T>
__device__ __forceinline__ T trunc_mod(T a, T b) {
  if constexpr (std::is_same_v<T, float>) return fmodf(a, b);
  else if constexpr (std::is_same_v<T, double>) return fmod(a, b);
  else {
    if (b == 0 || b == T(-1)) return T(0);
    return a % b;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    binary_extra_kernel(const T* __restrict__ a, const T* __restrict__ b,  // [n]
                        T* __restrict__ y, int op, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += step) {
    if (op == static_cast<int>(ExtraBinaryOp::TruncDiv)) y[t] = trunc_div(a[t], b[t]);
    else if (op == static_cast<int>(ExtraBinaryOp::TruncMod)) y[t] = trunc_mod(a[t], b[t]);
    else if constexpr (std::is_same_v<T, float>) y[t] = nextafterf(a[t], b[t]);
    else if constexpr (std::is_same_v<T, double>) y[t] = nextafter(a[t], b[t]);
  }
}

}  // namespace

void segment_prod(DType dtype, const void* x, int64_t rows, int64_t inner, DType id_dtype,
                  const void* ids, int64_t num, void* y) {
  if (num * inner == 0) return;
  switch (dtype) {
    case DType::Float32: return run_prod<float>(x, rows, inner, id_dtype, ids, num, y);
    case DType::Float64: return run_prod<double>(x, rows, inner, id_dtype, ids, num, y);
    case DType::Int32: return run_prod<int32_t>(x, rows, inner, id_dtype, ids, num, y);
    case DType::Int64: return run_prod<int64_t>(x, rows, inner, id_dtype, ids, num, y);
    default: throw std::invalid_argument("[segment_prod] unsupported dtype");
  }
}

void logcumsumexp(DType dtype, const void* x, int64_t outer, int64_t n, int64_t inner,
                  bool exclusive, bool reverse, void* y) {
  const int64_t lines = outer * inner;
  if (lines * n == 0) return;
  auto go = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    logcumsumexp_kernel<T><<<grid_for(lines, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(x), static_cast<T*>(y), n, inner, exclusive, reverse, lines);
    NABI_CUDA_CHECK_LAUNCH("logcumsumexp_kernel");
  };
  if (dtype == DType::Float32) return go(static_cast<float*>(nullptr));
  if (dtype == DType::Float64) return go(static_cast<double*>(nullptr));
  throw std::invalid_argument("[logcumsumexp] x must be float32 or float64");
}

void binary_extra(ExtraBinaryOp op, DType dtype, const void* a, const void* b, void* y,
                  int64_t n) {
  if (n == 0) return;
  auto go = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    binary_extra_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(y),
        static_cast<int>(op), n);
    NABI_CUDA_CHECK_LAUNCH("binary_extra_kernel");
  };
  const bool is_float = dtype == DType::Float32 || dtype == DType::Float64;
  if (op == ExtraBinaryOp::NextAfter && !is_float)
    throw std::invalid_argument("[binary_extra] nextafter takes float32 or float64");
  switch (dtype) {
    case DType::Float32: return go(static_cast<float*>(nullptr));
    case DType::Float64: return go(static_cast<double*>(nullptr));
    case DType::Int32: return go(static_cast<int32_t*>(nullptr));
    case DType::Int64: return go(static_cast<int64_t*>(nullptr));
    default: throw std::invalid_argument("[binary_extra] unsupported dtype");
  }
}

}  // namespace nabi::cuda::nd
