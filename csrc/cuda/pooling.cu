// 2-D max and average pooling on the GPU, NHWC (N, H, W, C), float32/float64; any window,
// stride and explicit padding (semantics of csrc/cpu/pooling.cpp, see nn_launchers.h).
//
// Every kernel is a grid-stride loop with one thread per element of the tensor it writes;
// the flat index is decoded as (n, h, w, c) with c fastest, so consecutive threads touch
// consecutive channels: all loads and stores of a warp are coalesced runs. The work for one
// element is a __host__ __device__ function (max_pool_one, avg_pool_backward_one, ...), so
// it can also be run and checked on the host.
//
//   max forward         one thread per output (n, oh, ow, c): scans its window's valid
//                       elements in row-major order with a strict '>' from the first one (the
//                       first maximum wins; NaN only when it comes first), writes the value
//                       and the flat NHWC index n*H*W*C + (h*W + w)*C + c (int32 or int64);
//                       an empty window (all padding) gives 0 and index -1.
//   max backward        dx zeroed, then one thread per output scatters dy into dx[argmax]
//   (general)           with atomicAdd (windows overlap when stride < window, so two outputs
//                       may share an argmax); indices outside the output's own image
//                       (e.g. -1) are ignored, as on the CPU.
//   max backward        windows disjoint (stride >= window, the window given): one thread per
//   (disjoint)          dx element finds the single window containing it and writes
//                       dy of that window if its argmax is this element, else 0 (no atomics,
//                       no zeroing pass, deterministic).
//   avg forward         one thread per output: window sum in T in row-major order, times
//                       1/count of the valid elements (0 for an empty window).
//   avg backward        a gather, one thread per dx element: the windows containing (h, w)
//                       are oh in [ceil((h + pt - KH + 1)/sh), floor((h + pt)/sh)] (clipped
//                       to [0, OH)), likewise ow; it adds dy/count of each in (oh, ow) order.
#include <cstdint>

#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/nn_launchers.h"

namespace nabi::cuda {

namespace {

constexpr int kThreads = 256;

// The valid part [h0, h1) x [w0, w1) of output (oh, ow)'s window (may be empty).
__host__ __device__ __forceinline__ void window(const PoolDims& d, int64_t oh, int64_t ow,
                                                int64_t* h0, int64_t* h1, int64_t* w0,
                                                int64_t* w1) {
  const int64_t ih = oh * d.sh - d.pt, iw = ow * d.sw - d.pl;
  *h0 = ih > 0 ? ih : 0;
  *h1 = ih + d.KH < d.H ? ih + d.KH : d.H;
  *w0 = iw > 0 ? iw : 0;
  *w1 = iw + d.KW < d.W ? iw + d.KW : d.W;
}

// Flat NHWC index -> (n, h, w, c) for a tensor of spatial size Hs x Ws.
struct Nhwc {
  int64_t n, h, w, c;
};
__host__ __device__ __forceinline__ Nhwc decode(int64_t i, int64_t Hs, int64_t Ws, int64_t C) {
  Nhwc r;
  r.c = i % C;
  int64_t t = i / C;
  r.w = t % Ws;
  t /= Ws;
  r.h = t % Hs;
  r.n = t / Hs;
  return r;
}

// ---- per-element bodies (host-callable, so they can be checked without a GPU) ----------

// Output o of max pooling: its value, and in *at the flat index of its first maximum (-1 for
// an empty window).
template <typename T>
__host__ __device__ T max_pool_one(const PoolDims& d, const T* x, int64_t o, int64_t* at) {
  const Nhwc q = decode(o, d.OH, d.OW, d.C);
  int64_t h0, h1, w0, w1;
  window(d, q.h, q.w, &h0, &h1, &w0, &w1);
  if (h0 >= h1 || w0 >= w1) {  // empty window (only when padding >= window)
    *at = -1;
    return T(0);
  }
  const int64_t base = q.n * d.H * d.W * d.C + q.c;  // flat index of (n, 0, 0, c)
  int64_t best_at = base + (h0 * d.W + w0) * d.C;
  T best = x[best_at];
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t k = base + (h * d.W + w) * d.C;
      const T v = x[k];
      if (v > best) {  // strict: ties keep the earlier element, NaN never replaces
        best = v;
        best_at = k;
      }
    }
  *at = best_at;
  return best;
}

// dx element i when windows are disjoint: dy of the one window containing it if that
// window's argmax is i, else 0.
template <typename T, typename I>
__host__ __device__ T max_pool_disjoint_one(const PoolDims& d, const T* dy, const I* idx,
                                            int64_t i) {
  const Nhwc q = decode(i, d.H, d.W, d.C);
  // The only window that can contain (h, w): oh = (h + pt) / sh, if h + pt - oh*sh < KH.
  const int64_t oh = (q.h + d.pt) / d.sh, rh = (q.h + d.pt) - oh * d.sh;
  const int64_t ow = (q.w + d.pl) / d.sw, rw = (q.w + d.pl) - ow * d.sw;
  if (rh >= d.KH || oh >= d.OH || rw >= d.KW || ow >= d.OW) return T(0);
  const int64_t o = ((q.n * d.OH + oh) * d.OW + ow) * d.C + q.c;
  // Compared in I, as the CPU does.
  return idx[o] == static_cast<I>(i) ? dy[o] : T(0);
}

// Output o of average pooling: the window sum in T (row-major order) times 1/count.
template <typename T>
__host__ __device__ T avg_pool_one(const PoolDims& d, const T* x, int64_t o) {
  const Nhwc q = decode(o, d.OH, d.OW, d.C);
  int64_t h0, h1, w0, w1;
  window(d, q.h, q.w, &h0, &h1, &w0, &w1);
  const T* xn = x + q.n * d.H * d.W * d.C + q.c;
  T s = T(0);
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) s += xn[(h * d.W + w) * d.C];
  const int64_t cnt = (h1 > h0 && w1 > w0) ? (h1 - h0) * (w1 - w0) : 0;
  const T inv = cnt > 0 ? T(1) / T(cnt) : T(0);
  return s * inv;
}

// dx element i of average pooling: sum over the windows containing (h, w) of dy / count.
template <typename T>
__host__ __device__ T avg_pool_backward_one(const PoolDims& d, const T* dy, int64_t i) {
  const Nhwc q = decode(i, d.H, d.W, d.C);
  // Window oh covers input rows [oh*sh - pt, oh*sh - pt + KH): it contains h iff
  // h + pt - KH < oh*sh <= h + pt.
  const int64_t hp = q.h + d.pt, wp = q.w + d.pl;  // >= 0
  const int64_t oh0 = hp - d.KH + 1 > 0 ? ceil_div<int64_t>(hp - d.KH + 1, d.sh) : 0;
  int64_t oh1 = hp / d.sh;  // inclusive
  if (oh1 > d.OH - 1) oh1 = d.OH - 1;
  const int64_t ow0 = wp - d.KW + 1 > 0 ? ceil_div<int64_t>(wp - d.KW + 1, d.sw) : 0;
  int64_t ow1 = wp / d.sw;
  if (ow1 > d.OW - 1) ow1 = d.OW - 1;
  T acc = T(0);
  for (int64_t oh = oh0; oh <= oh1; ++oh)
    for (int64_t ow = ow0; ow <= ow1; ++ow) {
      int64_t h0, h1, w0, w1;
      window(d, oh, ow, &h0, &h1, &w0, &w1);
      const int64_t cnt = (h1 - h0) * (w1 - w0);  // >= 1: (h, w) is in this window
      const T inv = T(1) / T(cnt);
      acc += dy[((q.n * d.OH + oh) * d.OW + ow) * d.C + q.c] * inv;
    }
  return acc;
}

// ---- kernels: grid-stride loops over the elements they write --------------------------
#define NABI_GRID_STRIDE(i, total)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (total); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T, typename I>
__global__ void max_pool_forward_kernel(const PoolDims d, const T* __restrict__ x,
                                        T* __restrict__ y, I* __restrict__ idx,
                                        int64_t total) {
  NABI_GRID_STRIDE(o, total) {
    int64_t at;
    y[o] = max_pool_one(d, x, o, &at);
    if (idx) idx[o] = static_cast<I>(at);
  }
}

// dx (zeroed before) += dy at the argmax of each output, if inside the output's image.
template <typename T, typename I>
__global__ void max_pool_backward_scatter_kernel(const T* __restrict__ dy,
                                                 const I* __restrict__ idx, T* __restrict__ dx,
                                                 int64_t out_img, int64_t in_img,
                                                 int64_t total) {
  NABI_GRID_STRIDE(o, total) {
    const int64_t lo = (o / out_img) * in_img;
    const int64_t k = static_cast<int64_t>(idx[o]);
    if (k >= lo && k < lo + in_img) atomicAdd(dx + k, dy[o]);
  }
}

template <typename T, typename I>
__global__ void max_pool_backward_disjoint_kernel(const PoolDims d, const T* __restrict__ dy,
                                                  const I* __restrict__ idx,
                                                  T* __restrict__ dx, int64_t total) {
  NABI_GRID_STRIDE(i, total) { dx[i] = max_pool_disjoint_one(d, dy, idx, i); }
}

template <typename T>
__global__ void avg_pool_forward_kernel(const PoolDims d, const T* __restrict__ x,
                                        T* __restrict__ y, int64_t total) {
  NABI_GRID_STRIDE(o, total) { y[o] = avg_pool_one(d, x, o); }
}

template <typename T>
__global__ void avg_pool_backward_kernel(const PoolDims d, const T* __restrict__ dy,
                                         T* __restrict__ dx, int64_t total) {
  NABI_GRID_STRIDE(i, total) { dx[i] = avg_pool_backward_one(d, dy, i); }
}
#undef NABI_GRID_STRIDE

}  // namespace

template <typename T, typename I>
void max_pool2d_forward(const PoolDims& d, const T* x, T* y, I* idx) {
  const int64_t total = d.N * d.OH * d.OW * d.C;
  if (total <= 0) return;
  max_pool_forward_kernel<T, I><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(d, x, y,
                                                                                     idx, total);
  NABI_CUDA_CHECK_LAUNCH("max_pool_forward_kernel");
}

template <typename T, typename I>
void max_pool2d_backward(const PoolDims& d, const T* dy, const I* idx, T* dx) {
  const int64_t in_img = d.H * d.W * d.C, out_img = d.OH * d.OW * d.C;
  if (d.N * in_img <= 0) return;
  memset_zero(dx, static_cast<size_t>(d.N * in_img) * sizeof(T));
  const int64_t total = d.N * out_img;
  if (total <= 0) return;
  max_pool_backward_scatter_kernel<T, I><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      dy, idx, dx, out_img, in_img, total);
  NABI_CUDA_CHECK_LAUNCH("max_pool_backward_scatter_kernel");
}

template <typename T, typename I>
void max_pool2d_backward_disjoint(const PoolDims& d, const T* dy, const I* idx, T* dx) {
  const int64_t total = d.N * d.H * d.W * d.C;
  if (total <= 0) return;
  max_pool_backward_disjoint_kernel<T, I>
      <<<grid_for(total, kThreads), kThreads, 0, stream()>>>(d, dy, idx, dx, total);
  NABI_CUDA_CHECK_LAUNCH("max_pool_backward_disjoint_kernel");
}

template <typename T>
void avg_pool2d_forward(const PoolDims& d, const T* x, T* y) {
  const int64_t total = d.N * d.OH * d.OW * d.C;
  if (total <= 0) return;
  avg_pool_forward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(d, x, y,
                                                                                  total);
  NABI_CUDA_CHECK_LAUNCH("avg_pool_forward_kernel");
}

template <typename T>
void avg_pool2d_backward(const PoolDims& d, const T* dy, T* dx) {
  const int64_t total = d.N * d.H * d.W * d.C;
  if (total <= 0) return;
  avg_pool_backward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(d, dy, dx,
                                                                                   total);
  NABI_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel");
}

#define NABI_POOL_INST(T, I)                                                                \
  template void max_pool2d_forward<T, I>(const PoolDims&, const T*, T*, I*);                \
  template void max_pool2d_backward<T, I>(const PoolDims&, const T*, const I*, T*);         \
  template void max_pool2d_backward_disjoint<T, I>(const PoolDims&, const T*, const I*, T*);
NABI_POOL_INST(float, int32_t)
NABI_POOL_INST(float, int64_t)
NABI_POOL_INST(double, int32_t)
NABI_POOL_INST(double, int64_t)
#undef NABI_POOL_INST
template void avg_pool2d_forward<float>(const PoolDims&, const float*, float*);
template void avg_pool2d_forward<double>(const PoolDims&, const double*, double*);
template void avg_pool2d_backward<float>(const PoolDims&, const float*, float*);
template void avg_pool2d_backward<double>(const PoolDims&, const double*, double*);

}  // namespace nabi::cuda
