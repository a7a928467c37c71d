// bincount (see count_launchers.h), behind tf.math.bincount on GPU tensors.
//
// Algorithm: a histogram by global atomics. y is zero-filled (memset), then bincount_kernel
// runs one thread per input element (grid-stride over rows * n): the thread reads its value
// v = x[t] and, when 0 <= v < length, adds its weight (or 1) into y[t / n, v] with atomicAdd
// (binary_output stores 1 instead: concurrent stores of the same value need no atomic).
// Repeated values contend on one counter; for the small bin counts of tf.math.bincount's
// uses (labels, token ids) this is one pass over the input and one over the output.
// int64 counts use the unsigned 64-bit atomicAdd (two's complement: the same bits).
// Launches: 1 (none for an empty input); the memset is a cudaMemsetAsync.
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/count_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ void add_to(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(int32_t* p, int32_t v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

template <typename Idx, typename T>
__global__ void __launch_bounds__(kThreads)
    bincount_kernel(const Idx* __restrict__ x,   // [rows, n]
                    const T* __restrict__ w,     // [rows, n] or nullptr
                    T* __restrict__ y,           // [rows, length], zero-filled
                    int64_t n, int64_t length, bool binary, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t v = static_cast<int64_t>(x[t]);
    if (v < 0 || v >= length) continue;
    T* slot = y + (t / n) * length + v;
    if (binary) *slot = T(1);
    else add_to(slot, w ? w[t] : T(1));
  }
}

template <typename Idx>
void launch(const void* x, int64_t rows, int64_t n, int64_t length, const void* w,
            bool binary, DType out_dtype, void* y) {
  const int64_t total = rows * n;
  auto go = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    bincount_kernel<Idx, T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        static_cast<const Idx*>(x), static_cast<const T*>(w), static_cast<T*>(y), n, length,
        binary, total);
    NABI_CUDA_CHECK_LAUNCH("bincount_kernel");
  };
  switch (out_dtype) {
    case DType::Float32: return go(static_cast<float*>(nullptr));
    case DType::Float64: return go(static_cast<double*>(nullptr));
    case DType::Int32: return go(static_cast<int32_t*>(nullptr));
    case DType::Int64: return go(static_cast<int64_t*>(nullptr));
    default: throw std::invalid_argument("[bincount] unsupported output dtype");
  }
}

}  // namespace

void bincount(DType x_dtype, const void* x, int64_t rows, int64_t n, int64_t length,
              const void* w, bool binary, DType out_dtype, void* y) {
  if (rows * length == 0) return;
  memset_zero(y, static_cast<size_t>(rows * length) * dtype_size(out_dtype));
  if (n == 0) return;
  if (x_dtype == DType::Int32) return launch<int32_t>(x, rows, n, length, w, binary, out_dtype, y);
  if (x_dtype == DType::Int64) return launch<int64_t>(x, rows, n, length, w, binary, out_dtype, y);
  throw std::invalid_argument("[bincount] x must be int32 or int64");
}

}  // namespace nabi::cuda::nd
