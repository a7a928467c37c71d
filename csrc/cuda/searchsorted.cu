// searchsorted (see count_launchers.h), behind tf.searchsorted on GPU tensors.
//
// Algorithm: one thread per value (grid-stride over rows * m) runs a lower-bound binary
// search over its row of the sorted sequence: ceil(log2(n + 1)) probes, each a read of the
// row (neighbouring threads of one row probe the same few positions first, so those reads hit
// the cache). left counts the s < v, right the s <= v (as "not v < s"). The order is NumPy's:
// less(a, b) = a < b, or b is NaN and a is not, so NaNs sort above +inf and a NaN value lands
// after every number (left: before the first NaN of the row; right: at the row's end).
// Launches: 1 (none when there are no values).
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/count_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ bool np_less(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return a < b || (b != b && a == a);
  else return a < b;
}

template <typename T, typename O>
__global__ void __launch_bounds__(kThreads)
    searchsorted_kernel(const T* __restrict__ s,   // [rows, n], each row ascending
                        const T* __restrict__ v,   // [rows, m]
                        O* __restrict__ out,       // [rows, m]
                        int64_t n, int64_t m, bool right, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const T* row = s + (t / m) * n;
    const T x = v[t];
    int64_t lo = 0, hi = n;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      // go right while row[mid] belongs before x: left: row[mid] < x; right: row[mid] <= x
      const bool before = right ? !np_less(x, row[mid]) : np_less(row[mid], x);
      if (before) lo = mid + 1;
      else hi = mid;
    }
    out[t] = static_cast<O>(lo);
  }
}

template <typename T>
void launch(const void* s, int64_t rows, int64_t n, const void* v, int64_t m, bool right,
            DType out_dtype, void* out) {
  const int64_t total = rows * m;
  auto go = [&](auto* tag) {
    using O = std::remove_pointer_t<decltype(tag)>;
    searchsorted_kernel<T, O><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(s), static_cast<const T*>(v), static_cast<O*>(out), n, m, right,
        total);
    NABI_CUDA_CHECK_LAUNCH("searchsorted_kernel");
  };
  if (out_dtype == DType::Int32) return go(static_cast<int32_t*>(nullptr));
  if (out_dtype == DType::Int64) return go(static_cast<int64_t*>(nullptr));
  throw std::invalid_argument("[searchsorted] out_dtype must be int32 or int64");
}

}  // namespace

void searchsorted(DType dtype, const void* s, int64_t rows, int64_t n, const void* v,
                  int64_t m, bool right, DType out_dtype, void* out) {
  if (rows * m == 0) return;
  switch (dtype) {
    case DType::Float32: return launch<float>(s, rows, n, v, m, right, out_dtype, out);
    case DType::Float64: return launch<double>(s, rows, n, v, m, right, out_dtype, out);
    case DType::Int32: return launch<int32_t>(s, rows, n, v, m, right, out_dtype, out);
    case DType::Int64: return launch<int64_t>(s, rows, n, v, m, right, out_dtype, out);
    default: throw std::invalid_argument("[searchsorted] unsupported dtype");
  }
}

}  // namespace nabi::cuda::nd
