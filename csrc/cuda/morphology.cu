// Grayscale morphology (see morph_nms_launchers.h), behind tf.nn.dilation2d and (as
// -dilation2d(-x, reversed filter)) tf.nn.erosion2d on GPU tensors.
//
// Algorithm: a direct window scan, one thread per output element (b, oy, ox, c), grid-stride
// over B*OH*OW*C with c fastest (neighbouring threads read neighbouring channels: coalesced
// loads of x and of the filter). The thread walks the KH x KW taps in row-major order,
// skipping taps outside the input, and keeps the first strict maximum of x + filter (NaN:
// the first NaN tap wins, as NumPy's max / argmax on the host path).
//   dilation2d_fwd_kernel   writes the maximum (the dtype's lowest value for a window with no
//                           tap above -inf).
//   gradient (no atomics, deterministic), three passes:
//     dilation2d_argmax_kernel      recomputes every output's first maximizing tap (-1 for
//                                   a window with no tap above -inf) into an int32 scratch
//                                   (B, OH, OW, C) from the caching allocator;
//     dilation2d_grad_input_kernel  one thread per input element gathers gy from the
//                                   outputs whose tap (or TF's fallback pixel, the clamped
//                                   window origin) read it, visiting them in row-major
//                                   output order: the host path's np.add.at order, so gx
//                                   has the host path's bits;
//     dilation2d_grad_filter_kernel one 256-thread block per filter element (tap, c): strided
//                                   ordered partial sums of the gy routed to that tap (tap 0
//                                   also takes the fallbacks), then a fixed shared-memory
//                                   tree: deterministic, equal to the host sum to rounding.
// No shared-memory blocking: a window is at most KH*KW loads per thread and neighbouring
// outputs share their loads through L1/L2.
// Launches: 1 forward; 3 backward (memsets only when nothing is routed); none for
// empty work.
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/morph_nms_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

template <typename T> struct Lim;
template <> struct Lim<float> {
  __device__ static float lowest() { return -3.402823466e+38f; }
  __device__ static float ninf() { return -__int_as_float(0x7f800000); }
};
template <> struct Lim<double> {
  __device__ static double lowest() { return -1.7976931348623157e+308; }
  __device__ static double ninf() { return -__longlong_as_double(0x7ff0000000000000LL); }
};

// The first maximizing inside tap of the output at flat NHWC index t: its value and its
// flat tap index (-1 when no tap is above -inf).
template <typename T>
__device__ __forceinline__ T window_max(const MorphGeom& g, const T* __restrict__ x,
                                        const T* __restrict__ f, int64_t t, int64_t* tap) {
  const int64_t c = t % g.C;
  int64_t r = t / g.C;
  const int64_t ox = r % g.OW;
  r /= g.OW;
  const int64_t oy = r % g.OH;
  const int64_t b = r / g.OH;
  T best = Lim<T>::ninf();
  bool is_nan = false;
  *tap = -1;
  for (int64_t ty = 0; ty < g.KH; ++ty) {
    const int64_t iy = oy * g.sh + ty * g.rh - g.pt;
    if (iy < 0 || iy >= g.H) continue;
    for (int64_t tx = 0; tx < g.KW; ++tx) {
      const int64_t ix = ox * g.sw + tx * g.rw - g.pl;
      if (ix < 0 || ix >= g.W) continue;
      const int64_t off = ((b * g.H + iy) * g.W + ix) * g.C + c;
      const T v = x[off] + f[(ty * g.KW + tx) * g.C + c];
      if (is_nan) continue;
      if (v != v || v > best) {
        best = v;
        is_nan = v != v;
        *tap = ty * g.KW + tx;
      }
    }
  }
  return best;
}

// (kThreads, 4): ptxas gave the window scans 64-78 registers unconstrained (2-3 blocks of 256
// per SM, 37.5-50% occupancy); with 4 blocks asked it uses 44-48, no spills (5 blocks, 62.5%).
template <typename T>
__global__ void __launch_bounds__(kThreads, 4)
    dilation2d_fwd_kernel(MorphGeom g, const T* __restrict__ x, const T* __restrict__ f,
                          T* __restrict__ y, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    int64_t tap;
    const T best = window_max(g, x, f, t, &tap);
    y[t] = tap < 0 ? Lim<T>::lowest() : best;
  }
}

// Pass 1 of the gradient: the first maximizing tap of every output (-1: TF's fallback).
template <typename T>
__global__ void __launch_bounds__(kThreads, 4)  // (as dilation2d_fwd_kernel)
    dilation2d_argmax_kernel(MorphGeom g, const T* __restrict__ x, const T* __restrict__ f,
                             int32_t* __restrict__ arg, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    int64_t tap;
    window_max(g, x, f, t, &tap);
    arg[t] = static_cast<int32_t>(tap);
  }
}

__device__ __forceinline__ int64_t clamp_to(int64_t v, int64_t hi) {
  return v < 0 ? 0 : (v > hi ? hi : v);
}

// The input row (or column) that output position o reads for tap index k of its axis, or
// for the fallback (k < 0): the clamped window origin.
__device__ __forceinline__ int64_t source(int64_t o, int64_t k, int64_t s, int64_t rate,
                                          int64_t pad, int64_t n) {
  return k < 0 ? clamp_to(o * s - pad, n - 1) : o * s + k * rate - pad;
}

// The outputs along one axis whose window or fallback origin can reach input position i:
// [lo, hi] (empty when lo > hi).
__device__ __forceinline__ void reach(int64_t i, int64_t n, int64_t out, int64_t k,
                                      int64_t s, int64_t rate, int64_t pad, int64_t* lo,
                                      int64_t* hi) {
  // o * s - pad <= i <= o * s - pad + (k - 1) * rate
  const int64_t a = i + pad - (k - 1) * rate;
  int64_t l = a <= 0 ? 0 : (a + s - 1) / s;
  int64_t h = (i + pad) / s;
  if (i == 0) l = 0;               // fallback origins clamped up to row 0
  if (i == n - 1) h = out - 1;     // ... and down to the last row
  *lo = l;
  *hi = h < out - 1 ? h : out - 1;
}

// Pass 2: gx by a deterministic gather, one thread per input element (b, y, x, c): the
// candidate outputs (oy, ox) are visited in increasing row-major order -- the order in which
// the host path's np.add.at accumulates -- and each adds its gy when its first maximizing
// tap (or fallback) read this element. No atomics; the same sums as the host path.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    dilation2d_grad_input_kernel(MorphGeom g, const int32_t* __restrict__ arg,
                                 const T* __restrict__ gy, T* __restrict__ gx, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t c = t % g.C;
    int64_t r = t / g.C;
    const int64_t ix = r % g.W;
    r /= g.W;
    const int64_t iy = r % g.H;
    const int64_t b = r / g.H;
    int64_t ylo, yhi, xlo, xhi;
    reach(iy, g.H, g.OH, g.KH, g.sh, g.rh, g.pt, &ylo, &yhi);
    reach(ix, g.W, g.OW, g.KW, g.sw, g.rw, g.pl, &xlo, &xhi);
    T acc = T(0);
    for (int64_t oy = ylo; oy <= yhi; ++oy) {
      for (int64_t ox = xlo; ox <= xhi; ++ox) {
        const int64_t o = ((b * g.OH + oy) * g.OW + ox) * g.C + c;
        const int64_t k = arg[o];
        const int64_t ky = k < 0 ? -1 : k / g.KW, kx = k < 0 ? -1 : k % g.KW;
        if (source(oy, ky, g.sh, g.rh, g.pt, g.H) == iy &&
            source(ox, kx, g.sw, g.rw, g.pl, g.W) == ix)
          acc += gy[o];
      }
    }
    gx[t] = acc;
  }
}

// Pass 3: gf by a deterministic block reduction, one block per filter element (tap, c):
// each thread sums, in order, the gy of the outputs j = tid, tid + blockDim, ... whose
// first maximizing tap is `tap` (tap 0 also takes the fallbacks), then a fixed shared-memory
// tree adds the partial sums. Deterministic; the last bits may differ from the host path's
// sequential np.add.at.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    dilation2d_grad_filter_kernel(MorphGeom g, const int32_t* __restrict__ arg,
                                  const T* __restrict__ gy, T* __restrict__ gf, int64_t nout) {
  __shared__ T part[kThreads];
  const int64_t e = blockIdx.x;  // tap * C + c
  const int64_t c = e % g.C;
  const int32_t tap = static_cast<int32_t>(e / g.C);
  T acc = T(0);
  for (int64_t j = threadIdx.x; j < nout; j += blockDim.x) {
    const int64_t o = j * g.C + c;
    const int32_t k = arg[o];
    if (k == tap || (k < 0 && tap == 0)) acc += gy[o];
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (static_cast<int>(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) gf[e] = part[0];
}

template <typename T>
void run_fwd(const MorphGeom& g, const void* x, const void* f, void* y) {
  const int64_t total = g.B * g.OH * g.OW * g.C;
  if (total == 0) return;
  dilation2d_fwd_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      g, static_cast<const T*>(x), static_cast<const T*>(f), static_cast<T*>(y), total);
  NABI_CUDA_CHECK_LAUNCH("dilation2d_fwd_kernel");
}

template <typename T>
void run_bwd(const MorphGeom& g, const void* x, const void* f, const void* gy, void* gx,
             void* gf) {
  const int64_t nx = g.B * g.H * g.W * g.C, nf = g.KH * g.KW * g.C;
  const int64_t total = g.B * g.OH * g.OW * g.C;
  if (total == 0 || nx == 0 || nf == 0) {  // nothing routed: zero gradients
    if (nx > 0) memset_zero(gx, static_cast<size_t>(nx) * sizeof(T));
    if (nf > 0) memset_zero(gf, static_cast<size_t>(nf) * sizeof(T));
    return;
  }
  DeviceBuffer arg_buf(std::vector<int64_t>{total}, DType::Int32);
  int32_t* arg = static_cast<int32_t*>(arg_buf.data());
  dilation2d_argmax_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      g, static_cast<const T*>(x), static_cast<const T*>(f), arg, total);
  NABI_CUDA_CHECK_LAUNCH("dilation2d_argmax_kernel");
  dilation2d_grad_input_kernel<T><<<grid_for(nx, kThreads), kThreads, 0, stream()>>>(
      g, arg, static_cast<const T*>(gy), static_cast<T*>(gx), nx);
  NABI_CUDA_CHECK_LAUNCH("dilation2d_grad_input_kernel");
  dilation2d_grad_filter_kernel<T><<<static_cast<unsigned>(nf), kThreads, 0, stream()>>>(
      g, arg, static_cast<const T*>(gy), static_cast<T*>(gf), total / g.C);
  NABI_CUDA_CHECK_LAUNCH("dilation2d_grad_filter_kernel");
}

}  // namespace

void dilation2d_fwd(DType dtype, const MorphGeom& g, const void* x, const void* f, void* y) {
  if (dtype == DType::Float32) return run_fwd<float>(g, x, f, y);
  if (dtype == DType::Float64) return run_fwd<double>(g, x, f, y);
  throw std::invalid_argument("[dilation2d] dtype must be float32 or float64");
}

void dilation2d_bwd(DType dtype, const MorphGeom& g, const void* x, const void* f,
                    const void* gy, void* gx, void* gf) {
  if (dtype == DType::Float32) return run_bwd<float>(g, x, f, gy, gx, gf);
  if (dtype == DType::Float64) return run_bwd<double>(g, x, f, gy, gx, gf);
  throw std::invalid_argument("[dilation2d_grad] dtype must be float32 or float64");
}

}  // namespace nabi::cuda::nd
