// overlap_add (see signal_launchers.h), behind tf.signal.overlap_and_add on GPU tensors.
//
// Algorithm: a gather, not a scatter: one thread per output sample (grid-stride over
// outer * n) sums the frames that cover it, f from max(0, ceil((t - length + 1) / step)) to
// min(frames - 1, floor(t / step)), in ascending f. No atomics, so the result is
// deterministic and adds in the same order as the host loop (frame by frame): float results
// equal the CPU path's bit for bit. Each thread reads ceil(length / step) inputs at most.
// Launches: 1 (none for an empty output).
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/signal_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    overlap_add_kernel(const T* __restrict__ x,  // [outer, frames, length]
                       T* __restrict__ y,        // [outer, n]
                       int64_t frames, int64_t length, int64_t step, int64_t n,
                       int64_t total) {
  const int64_t grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid) {
    const int64_t o = i / n;
    const int64_t t = i - o * n;
    const int64_t lo_num = t - length + 1;  // first frame: ceil(lo_num / step), at least 0
    int64_t f = lo_num <= 0 ? 0 : (lo_num + step - 1) / step;
    int64_t last = t / step;
    if (last > frames - 1) last = frames - 1;
    const T* xo = x + o * frames * length;
    T acc = T(0);
    for (; f <= last; ++f) acc += xo[f * length + (t - f * step)];
    y[i] = acc;
  }
}

}  // namespace

void overlap_add(DType dtype, const void* x, int64_t outer, int64_t frames, int64_t length,
                 int64_t step, int64_t n, void* y) {
  const int64_t total = outer * n;
  if (total == 0) return;
  auto go = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    overlap_add_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(x), static_cast<T*>(y), frames, length, step, n, total);
    NABI_CUDA_CHECK_LAUNCH("overlap_add_kernel");
  };
  switch (dtype) {
    case DType::Float32: return go(static_cast<float*>(nullptr));
    case DType::Float64: return go(static_cast<double*>(nullptr));
    case DType::Int32: return go(static_cast<int32_t*>(nullptr));
    case DType::Int64: return go(static_cast<int64_t*>(nullptr));
    default: throw std::invalid_argument("[overlap_add] unsupported dtype");
  }
}

}  // namespace nabi::cuda::nd
