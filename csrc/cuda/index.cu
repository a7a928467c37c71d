// Gathers and scatters along one axis, and one-hot encoding (see array_launchers.h).
//
// Index validation is a separate, tiny pass: check_indices_kernel runs over the m indices
// (grid-stride) and, for any index outside [-n, n), sets a device flag with atomicCAS (the
// first thread to set it also records its index value); the host copies the two words back
// (this waits for the GPU) and the binding raises IndexError before any gather/scatter is
// enqueued, so a bad call never writes anything. A caller that bounded the indices itself
// (take / scatter_add with checked=True: a value range known on the host) skips that pass, so
// the kernels also guard each index: one outside the range gathers 0 and scatters nothing (as
// TF's GPU gather) instead of touching memory outside the buffers.
// take: x as (outer, n, inner), y as (outer, m, inner); one thread per output element
//   (grid-stride) decomposes its linear index into (o, j, i) with two divisions, reads idx[j]
//   (negative values count from the end) and copies one element of x. Consecutive threads
//   take consecutive i, so both the reads of a gathered row and the writes are coalesced;
//   elements move as raw 1/4/8-byte words, so one kernel serves every dtype.
// scatter_add: the transpose: one thread per update element, atomicAdd into
//   y[o, idx[j], i] (repeated indices accumulate; float32/float64; the order of the adds, and
//   so the last bits of a float sum, is not deterministic). y is zero-filled first.
// one_hot: one thread per output element y[j, c] = idx[j] == c ? on : off.
// Index math is 32-bit when the elements of every buffer involved fit in int32.
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"
#include "cuda/nd_layout.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
// kInt32Max, by_itemsize (1 to 16 bytes: complex128 too): nd_layout.cuh

template <typename Idx>
__global__ void __launch_bounds__(kThreads)
    check_indices_kernel(const Idx* __restrict__ idx,  // [m]
                         int64_t m, int64_t n,
                         unsigned long long* err) {  // [2]: flag, offending value
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < m;
       j += step) {
    const int64_t v = static_cast<int64_t>(idx[j]);
    if (v < -n || v >= n) {
      if (atomicCAS(&err[0], 0ull, 1ull) == 0ull) err[1] = static_cast<unsigned long long>(v);
    }
  }
}

template <typename E, typename Idx, typename I>
__global__ void __launch_bounds__(kThreads)
    take_kernel(const E* __restrict__ x,      // [outer, n, inner]
                const Idx* __restrict__ idx,  // [m], each in [-n, n)
                E* __restrict__ y,            // [outer, m, inner]
                I n, I m, I inner, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const I lin = static_cast<I>(t);
    const I rest = lin / inner;
    const I i = lin - rest * inner;
    const I o = rest / m;
    const I j = rest - o * m;
    I k = static_cast<I>(idx[j]);
    if (k < 0) k += n;
    y[t] = (k >= 0 && k < n) ? x[(o * n + k) * inner + i] : E{};  // (guard: see the top)
  }
}

template <typename T, typename Idx, typename I>
__global__ void __launch_bounds__(kThreads)
    scatter_add_kernel(const T* __restrict__ u,    // [outer, m, inner]
                       const Idx* __restrict__ idx,  // [m], each in [-size, size)
                       T* __restrict__ y,          // [outer, size, inner], zero-filled
                       I size, I m, I inner, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const I lin = static_cast<I>(t);
    const I rest = lin / inner;
    const I i = lin - rest * inner;
    const I o = rest / m;
    const I j = rest - o * m;
    I k = static_cast<I>(idx[j]);
    if (k < 0) k += size;
    if (k >= 0 && k < size) atomicAdd(&y[(o * size + k) * inner + i], u[t]);  // (guard)
  }
}

template <typename Idx, typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    one_hot_kernel(const Idx* __restrict__ idx,  // [m]
                   T* __restrict__ y,            // [m, depth]
                   I depth, T on, T off, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const I lin = static_cast<I>(t);
    const I j = lin / depth;
    const I c = lin - j * depth;
    y[t] = static_cast<int64_t>(idx[j]) == static_cast<int64_t>(c) ? on : off;
  }
}

template <typename F>
void by_index_dtype(DType d, F&& f) {
  if (d == DType::Int32) return f(static_cast<int32_t*>(nullptr));
  if (d == DType::Int64) return f(static_cast<int64_t*>(nullptr));
  throw std::invalid_argument("[nd] indices must be int32 or int64");
}

template <typename To>
To from_double(double v) {
  if constexpr (std::is_same_v<To, bool>) return v != 0.0;
  else return static_cast<To>(v);
}

}  // namespace

bool check_indices(DType idx_dtype, const void* idx, int64_t m, int64_t n, int64_t* bad) {
  if (m <= 0) return true;
  DeviceBuffer err(std::vector<int64_t>{2}, DType::Int64);
  memset_zero(err.data(), err.nbytes());
  by_index_dtype(idx_dtype, [&](auto* tag) {
    using Idx = std::remove_pointer_t<decltype(tag)>;
    check_indices_kernel<Idx><<<grid_for(m, kThreads), kThreads, 0, stream()>>>(
        static_cast<const Idx*>(idx), m, n, static_cast<unsigned long long*>(err.data()));
    NABI_CUDA_CHECK_LAUNCH("check_indices_kernel");
  });
  int64_t host[2] = {0, 0};
  copy_d2h(host, err.data(), sizeof(host));  // waits for the kernel
  if (host[0] != 0) {
    *bad = host[1];
    return false;
  }
  return true;
}

void take(size_t itemsize, const void* x, int64_t outer, int64_t n, int64_t inner,
          DType idx_dtype, const void* idx, int64_t m, void* y) {
  const int64_t total = outer * m * inner;
  if (total <= 0) return;
  const bool narrow = total <= kInt32Max && outer * n * inner <= kInt32Max;
  by_itemsize(itemsize, [&](auto* etag) {
    using E = std::remove_pointer_t<decltype(etag)>;
    by_index_dtype(idx_dtype, [&](auto* itag) {
      using Idx = std::remove_pointer_t<decltype(itag)>;
      const E* xp = static_cast<const E*>(x);
      const Idx* ip = static_cast<const Idx*>(idx);
      E* yp = static_cast<E*>(y);
      if (narrow) {
        take_kernel<E, Idx, int32_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
            xp, ip, yp, static_cast<int32_t>(n), static_cast<int32_t>(m),
            static_cast<int32_t>(inner), total);
        NABI_CUDA_CHECK_LAUNCH("take_kernel<int32>");
      } else {
        take_kernel<E, Idx, int64_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
            xp, ip, yp, n, m, inner, total);
        NABI_CUDA_CHECK_LAUNCH("take_kernel<int64>");
      }
    });
  });
}

void scatter_add(DType dtype, const void* updates, int64_t outer, int64_t m, int64_t inner,
                 DType idx_dtype, const void* idx, int64_t size, void* y) {
  const int64_t ysize = outer * size * inner;
  if (ysize > 0) memset_zero(y, static_cast<size_t>(ysize) * dtype_size(dtype));
  const int64_t total = outer * m * inner;
  if (total <= 0) return;
  if (ysize <= 0) throw std::invalid_argument("[scatter_add] updates into an empty output");
  const bool narrow = total <= kInt32Max && ysize <= kInt32Max;
  auto go = [&](auto* ttag) {
    using T = std::remove_pointer_t<decltype(ttag)>;
    by_index_dtype(idx_dtype, [&](auto* itag) {
      using Idx = std::remove_pointer_t<decltype(itag)>;
      const T* up = static_cast<const T*>(updates);
      const Idx* ip = static_cast<const Idx*>(idx);
      T* yp = static_cast<T*>(y);
      if (narrow) {
        scatter_add_kernel<T, Idx, int32_t><<<grid_for(total, kThreads), kThreads, 0,
                                              stream()>>>(
            up, ip, yp, static_cast<int32_t>(size), static_cast<int32_t>(m),
            static_cast<int32_t>(inner), total);
        NABI_CUDA_CHECK_LAUNCH("scatter_add_kernel<int32>");
      } else {
        scatter_add_kernel<T, Idx, int64_t><<<grid_for(total, kThreads), kThreads, 0,
                                              stream()>>>(up, ip, yp, size, m, inner, total);
        NABI_CUDA_CHECK_LAUNCH("scatter_add_kernel<int64>");
      }
    });
  };
  if (dtype == DType::Float32)
    go(static_cast<float*>(nullptr));
  else if (dtype == DType::Float64)
    go(static_cast<double*>(nullptr));
  else
    throw std::invalid_argument("[scatter_add] updates must be float32 or float64");
}

void one_hot(DType idx_dtype, const void* idx, int64_t m, int64_t depth, double on, double off,
             DType out, void* y) {
  const int64_t total = m * depth;
  if (total <= 0) return;
  auto go = [&](auto* ttag) {
    using T = std::remove_pointer_t<decltype(ttag)>;
    by_index_dtype(idx_dtype, [&](auto* itag) {
      using Idx = std::remove_pointer_t<decltype(itag)>;
      const Idx* ip = static_cast<const Idx*>(idx);
      T* yp = static_cast<T*>(y);
      const T von = from_double<T>(on), voff = from_double<T>(off);
      if (total <= kInt32Max) {
        one_hot_kernel<Idx, T, int32_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
            ip, yp, static_cast<int32_t>(depth), von, voff, total);
        NABI_CUDA_CHECK_LAUNCH("one_hot_kernel<int32>");
      } else {
        one_hot_kernel<Idx, T, int64_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
            ip, yp, depth, von, voff, total);
        NABI_CUDA_CHECK_LAUNCH("one_hot_kernel<int64>");
      }
    });
  };
  switch (out) {
    case DType::Float32: return go(static_cast<float*>(nullptr));
    case DType::Float64: return go(static_cast<double*>(nullptr));
    case DType::Int32: return go(static_cast<int32_t*>(nullptr));
    case DType::Int64: return go(static_cast<int64_t*>(nullptr));
    case DType::Bool: return go(static_cast<bool*>(nullptr));
    default: throw std::invalid_argument("[one_hot] unsupported dtype");
  }
}

}  // namespace nabi::cuda::nd
