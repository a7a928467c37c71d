// segment_minmax (see count_launchers.h), behind tf.math.unsorted_segment_max / _min (and
// the sorted segment_min) on GPU tensors.
//
// Algorithm: a scatter with atomic compare-and-swap. init_kernel fills y (num, inner) with
// the reduction's identity (max: -inf / the lowest integer; min: +inf / the highest) and
// seen (num) is zeroed; reduce_kernel runs one thread per data element (grid-stride over
// rows * inner): row r = t / inner goes to segment ids[r] (rows with an id outside [0, num)
// are dropped), sets seen[ids[r]] = 1 and folds x[t] into y[ids[r], t % inner] with a CAS
// loop on the element's bits (the loop exits at once when the stored value already wins, so
// contention costs little). NaN wins over every number, as np.maximum / np.minimum (TF's
// GPU kernels differ here; nabi's host path is NumPy's). finalize_kernel gives the empty
// segments of a float result TF's value: the lowest finite float (max) or the highest (min);
// integer identities already are TF's values. Launches: 3 (2 when no rows).
#include <cfloat>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "cuda/atomic_bits.cuh"
#include "cuda/common.cuh"
#include "cuda/count_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;


// v replaces cur: NaN beats numbers (and not another NaN), else the larger (max) / smaller.
template <typename T>
__device__ __forceinline__ bool wins(T v, T cur, bool is_max) {
  if (v != v) return cur == cur;
  return is_max ? v > cur : v < cur;
}

template <typename T>
__device__ __forceinline__ void atomic_fold(T* p, T v, bool is_max) {
  using B = decltype(to_bits(v));
  B* a = reinterpret_cast<B*>(p);
  B old = *reinterpret_cast<volatile B*>(a);
  while (wins(v, from_bits<T>(old), is_max)) {
    const B assumed = old;
    old = atomicCAS(a, assumed, to_bits(v));
    if (old == assumed) return;
  }
}

template <typename T>
T identity(bool is_max) {  // (host side: the init kernel gets the value)
  if constexpr (std::is_floating_point_v<T>)
    return is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  else return is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    init_kernel(T* __restrict__ y, int64_t total, T value) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step)
    y[t] = value;
}

template <typename T, typename Idx>
__global__ void __launch_bounds__(kThreads)
    reduce_kernel(const T* __restrict__ x,      // [rows, inner]
                  const Idx* __restrict__ ids,  // [rows]
                  T* __restrict__ y,            // [num, inner]
                  int32_t* __restrict__ seen,   // [num]
                  int64_t inner, int64_t num, bool is_max, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t r = t / inner;
    const int64_t s = static_cast<int64_t>(ids[r]);
    if (s < 0 || s >= num) continue;
    seen[s] = 1;
    atomic_fold(y + s * inner + (t - r * inner), x[t], is_max);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    finalize_kernel(T* __restrict__ y, const int32_t* __restrict__ seen, int64_t inner,
                    int64_t total, T empty) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step)
    if (!seen[t / inner]) y[t] = empty;
}

template <typename T>
void run(bool is_max, const void* x, int64_t rows, int64_t inner, DType id_dtype,
         const void* ids, int64_t num, void* y) {
  const int64_t total_y = num * inner, total_x = rows * inner;
  DeviceBuffer seen(std::vector<int64_t>{num}, DType::Int32);
  memset_zero(seen.data(), seen.nbytes());
  T* yt = static_cast<T*>(y);
  init_kernel<T><<<grid_for(total_y, kThreads), kThreads, 0, stream()>>>(yt, total_y,
                                                                        identity<T>(is_max));
  NABI_CUDA_CHECK_LAUNCH("init_kernel");
  if (total_x > 0) {
    auto go = [&](auto* tag) {
      using Idx = std::remove_pointer_t<decltype(tag)>;
      reduce_kernel<T, Idx><<<grid_for(total_x, kThreads), kThreads, 0, stream()>>>(
          static_cast<const T*>(x), static_cast<const Idx*>(ids), yt, seen.ptr<int32_t>(),
          inner, num, is_max, total_x);
      NABI_CUDA_CHECK_LAUNCH("reduce_kernel");
    };
    if (id_dtype == DType::Int32) go(static_cast<int32_t*>(nullptr));
    else if (id_dtype == DType::Int64) go(static_cast<int64_t*>(nullptr));
    else throw std::invalid_argument("[segment_minmax] ids must be int32 or int64");
  }
  if constexpr (std::is_floating_point_v<T>) {
    const T empty = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    finalize_kernel<T><<<grid_for(total_y, kThreads), kThreads, 0, stream()>>>(
        yt, seen.ptr<int32_t>(), inner, total_y, empty);
    NABI_CUDA_CHECK_LAUNCH("finalize_kernel");
  }
}

}  // namespace

void segment_minmax(DType dtype, bool is_max, const void* x, int64_t rows, int64_t inner,
                    DType id_dtype, const void* ids, int64_t num, void* y) {
  if (num * inner == 0) return;
  switch (dtype) {
    case DType::Float32: return run<float>(is_max, x, rows, inner, id_dtype, ids, num, y);
    case DType::Float64: return run<double>(is_max, x, rows, inner, id_dtype, ids, num, y);
    case DType::Int32: return run<int32_t>(is_max, x, rows, inner, id_dtype, ids, num, y);
    case DType::Int64: return run<int64_t>(is_max, x, rows, inner, id_dtype, ids, num, y);
    default: throw std::invalid_argument("[segment_minmax] unsupported dtype");
  }
}

}  // namespace nabi::cuda::nd
