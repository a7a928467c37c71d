// Depthwise 2-D convolution on the GPU (semantics of csrc/cpu/depthwise_conv2d.h, see
// nn_launchers.h), float32/float64:
//   x  (N, H, W, C)       NHWC, contiguous
//   w  (KH, KW, C, M)     viewed as (KH, KW, C*M): filter channel oc = c*M + m
//   y  (N, OH, OW, C*M)   output channel oc sees only input channel c = oc / M
//
//   forward          one thread per output element (n, oh, ow, oc), oc fastest: a warp reads
//                    consecutive channels of x and w and writes a coalesced run of y; each
//                    thread sums its valid taps in (i, j) order.
//   backward-data    a gather, one thread per input element (n, h, w, c), c fastest: it adds
//                    dy(n, oh, ow, c*M + m) * w(i, j, c, m) over the taps (i, j) with
//                    oh*sh = h + pt - i*dh (likewise ow) inside the output; no atomics.
//   backward-filter  blocks of 32 x 8 threads, one per (32-channel tile, tap (i, j), slice
//                    of the N*OH*OW output positions): lane x owns channel oc, the 8 rows of
//                    the block stride over the slice, then a fixed-order shared-memory sum.
//                    With more than one slice each block writes a partial (slice, KH, KW, C*M)
//                    that a second kernel adds in slice order: deterministic, no float atomics.
// Test: PYTHONPATH=build/sim/pkg python3 -m pytest -q tests/test_depthwise_conv.py (host simulator)
#include <cstdint>

#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/nn_launchers.h"

namespace nabi::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kTileC = 32;     // filter gradient: channels per block (one warp across)
constexpr int kRows = 8;       // filter gradient: position rows per block
constexpr int64_t kMinSlice = 256;  // filter gradient: fewest positions a slice is given

#define NABI_GRID_STRIDE(i, total)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (total); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// y element o = (n, oh, ow, oc).
template <typename T>
__global__ void depthwise_forward_kernel(const DepthwiseDims d, const T* __restrict__ x,
                                         const T* __restrict__ w, T* __restrict__ y,
                                         int64_t total) {
  const int64_t CM = d.C * d.M;
  NABI_GRID_STRIDE(o, total) {
    const int64_t oc = o % CM;
    int64_t t = o / CM;
    const int64_t ow = t % d.OW;
    t /= d.OW;
    const int64_t oh = t % d.OH, n = t / d.OH;
    const int64_t c = oc / d.M;
    const int64_t hb = oh * d.sh - d.pt, wb = ow * d.sw - d.pl;
    const T* xn = x + n * d.H * d.W * d.C + c;
    T acc = T(0);
    for (int64_t i = 0; i < d.KH; ++i) {
      const int64_t ih = hb + i * d.dh;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t j = 0; j < d.KW; ++j) {
        const int64_t iw = wb + j * d.dw;
        if (iw < 0 || iw >= d.W) continue;
        acc += xn[(ih * d.W + iw) * d.C] * w[(i * d.KW + j) * CM + oc];
      }
    }
    y[o] = acc;
  }
}

// dx element e = (n, h, w, c).
template <typename T>
__global__ void depthwise_backward_data_kernel(const DepthwiseDims d, const T* __restrict__ w,
                                               const T* __restrict__ dy, T* __restrict__ dx,
                                               int64_t total) {
  const int64_t CM = d.C * d.M;
  NABI_GRID_STRIDE(e, total) {
    const int64_t c = e % d.C;
    int64_t t = e / d.C;
    const int64_t iw = t % d.W;
    t /= d.W;
    const int64_t h = t % d.H, n = t / d.H;
    const T* dyn = dy + n * d.OH * d.OW * CM + c * d.M;
    T acc = T(0);
    for (int64_t i = 0; i < d.KH; ++i) {
      const int64_t u = h + d.pt - i * d.dh;  // = oh * sh for a tap that meets an output row
      if (u < 0) break;
      if (u % d.sh != 0 || u / d.sh >= d.OH) continue;
      const int64_t oh = u / d.sh;
      for (int64_t j = 0; j < d.KW; ++j) {
        const int64_t v = iw + d.pl - j * d.dw;
        if (v < 0) break;
        if (v % d.sw != 0 || v / d.sw >= d.OW) continue;
        const T* g = dyn + (oh * d.OW + v / d.sw) * CM;
        const T* wp = w + (i * d.KW + j) * CM + c * d.M;
        for (int64_t m = 0; m < d.M; ++m) acc += g[m] * wp[m];
      }
    }
    dx[e] = acc;
  }
}

// Block (tile, tap, slice): out[slice * K + tap * CM + oc] = sum over the slice's positions p
// of x(n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, oc / M) * dy[p, oc]. K = KH*KW*CM.
template <typename T>
__global__ void depthwise_backward_filter_kernel(const DepthwiseDims d, const T* __restrict__ x,
                                                 const T* __restrict__ dy, T* __restrict__ out,
                                                 int64_t slice_len) {
  __shared__ T part[kRows][kTileC];
  const int64_t CM = d.C * d.M, P = d.N * d.OH * d.OW;
  const int64_t oc = static_cast<int64_t>(blockIdx.x) * kTileC + threadIdx.x;
  const int64_t tap = blockIdx.y, i = tap / d.KW, j = tap % d.KW;
  const int64_t p0 = static_cast<int64_t>(blockIdx.z) * slice_len;
  const int64_t p1 = p0 + slice_len < P ? p0 + slice_len : P;
  T acc = T(0);
  if (oc < CM) {
    const int64_t c = oc / d.M;
    for (int64_t p = p0 + threadIdx.y; p < p1; p += kRows) {
      const int64_t ow = p % d.OW, t = p / d.OW;
      const int64_t oh = t % d.OH, n = t / d.OH;
      const int64_t ih = oh * d.sh - d.pt + i * d.dh, iw = ow * d.sw - d.pl + j * d.dw;
      if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
      acc += x[((n * d.H + ih) * d.W + iw) * d.C + c] * dy[p * CM + oc];
    }
  }
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && oc < CM) {
    T s = part[0][threadIdx.x];
    for (int r = 1; r < kRows; ++r) s += part[r][threadIdx.x];
    out[static_cast<int64_t>(blockIdx.z) * d.KH * d.KW * CM + tap * CM + oc] = s;
  }
}

// dw[k] = sum over slices s (in order) of part[s * K + k].
template <typename T>
__global__ void depthwise_filter_sum_kernel(const T* __restrict__ part, T* __restrict__ dw,
                                            int64_t slices, int64_t K) {
  NABI_GRID_STRIDE(k, K) {
    T s = T(0);
    for (int64_t z = 0; z < slices; ++z) s += part[z * K + k];
    dw[k] = s;
  }
}
#undef NABI_GRID_STRIDE

// Scratch from the caching allocator, returned when the launcher leaves (work is stream-ordered,
// so the block is reused only by kernels queued after ours).
struct Scratch {
  void* p;
  explicit Scratch(size_t n) : p(device_alloc(n)) {}
  ~Scratch() { device_free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace

template <typename T>
void depthwise_conv2d_forward(const DepthwiseDims& d, const T* x, const T* w, T* y) {
  const int64_t total = d.N * d.OH * d.OW * d.C * d.M;
  if (total <= 0) return;
  depthwise_forward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(d, x, w, y,
                                                                                   total);
  NABI_CUDA_CHECK_LAUNCH("depthwise_forward_kernel");
}

template <typename T>
void depthwise_conv2d_backward_data(const DepthwiseDims& d, const T* w, const T* dy, T* dx) {
  const int64_t total = d.N * d.H * d.W * d.C;
  if (total <= 0) return;
  depthwise_backward_data_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      d, w, dy, dx, total);
  NABI_CUDA_CHECK_LAUNCH("depthwise_backward_data_kernel");
}

template <typename T>
void depthwise_conv2d_backward_filter(const DepthwiseDims& d, const T* x, const T* dy, T* dw) {
  const int64_t CM = d.C * d.M, K = d.KH * d.KW * CM, P = d.N * d.OH * d.OW;
  if (K <= 0) return;
  if (P <= 0) {
    memset_zero(dw, static_cast<size_t>(K) * sizeof(T));
    return;
  }
  // Enough blocks to fill a large GPU (~1024), slices of at least kMinSlice positions.
  const int64_t tiles = ceil_div<int64_t>(CM, kTileC), base = tiles * d.KH * d.KW;
  int64_t slices = ceil_div<int64_t>(1024, base);
  const int64_t most = ceil_div<int64_t>(P, kMinSlice);
  if (slices > most) slices = most;
  if (slices > 65535) slices = 65535;
  if (slices < 1) slices = 1;
  const int64_t slice_len = ceil_div<int64_t>(P, slices);
  slices = ceil_div<int64_t>(P, slice_len);
  const dim3 block(kTileC, kRows);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(d.KH * d.KW),
                  static_cast<unsigned>(slices));
  if (slices == 1) {
    depthwise_backward_filter_kernel<T><<<grid, block, 0, stream()>>>(d, x, dy, dw, slice_len);
    NABI_CUDA_CHECK_LAUNCH("depthwise_backward_filter_kernel");
    return;
  }
  Scratch part(static_cast<size_t>(slices * K) * sizeof(T));
  T* pp = static_cast<T*>(part.p);
  depthwise_backward_filter_kernel<T><<<grid, block, 0, stream()>>>(d, x, dy, pp, slice_len);
  NABI_CUDA_CHECK_LAUNCH("depthwise_backward_filter_kernel");
  depthwise_filter_sum_kernel<T><<<grid_for(K, kThreads), kThreads, 0, stream()>>>(pp, dw,
                                                                                  slices, K);
  NABI_CUDA_CHECK_LAUNCH("depthwise_filter_sum_kernel");
}

#define NABI_DW_INST(T)                                                                       \
  template void depthwise_conv2d_forward<T>(const DepthwiseDims&, const T*, const T*, T*);    \
  template void depthwise_conv2d_backward_data<T>(const DepthwiseDims&, const T*, const T*,   \
                                                  T*);                                        \
  template void depthwise_conv2d_backward_filter<T>(const DepthwiseDims&, const T*, const T*, \
                                                    T*);
NABI_DW_INST(float)
NABI_DW_INST(double)
#undef NABI_DW_INST

}  // namespace nabi::cuda
