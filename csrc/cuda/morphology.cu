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
//   dilation2d_bwd_kernel   recomputes the same argmax tap from x and the filter and scatters
//                           gy into gx at the input element it read and into gf at the tap,
//                           with atomicAdd (a deterministic gather would have to invert the
//                           strided, dilated window map and TF's fallback pixel for empty
//                           windows; overlapping windows are few, so contention is low except
//                           on the small filter gradient). Float sums are therefore exact to
//                           rounding, their order unspecified. gx and gf are zero-filled first.
// No shared-memory blocking: a window is at most KH*KW loads per thread and neighbouring
// outputs share their loads through L1/L2.
// Launches: 1 forward; 1 backward (after two memsets); none for empty work.
#include <cstdint>
#include <stdexcept>

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

__device__ __forceinline__ void add_to(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(double* p, double v) { atomicAdd(p, v); }

// The first maximizing inside tap of output (b, oy, ox, c): its value and its flat tap index
// (-1 when no tap is above -inf); *src gets the input offset it read.
template <typename T>
__device__ __forceinline__ T window_max(const MorphGeom& g, const T* __restrict__ x,
                                        const T* __restrict__ f, int64_t b, int64_t oy,
                                        int64_t ox, int64_t c, int64_t* tap, int64_t* src) {
  T best = Lim<T>::ninf();
  bool is_nan = false;
  *tap = -1;
  *src = 0;
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
        *src = off;
      }
    }
  }
  return best;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    dilation2d_fwd_kernel(MorphGeom g, const T* __restrict__ x, const T* __restrict__ f,
                          T* __restrict__ y, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t c = t % g.C;
    int64_t r = t / g.C;
    const int64_t ox = r % g.OW;
    r /= g.OW;
    const int64_t oy = r % g.OH;
    const int64_t b = r / g.OH;
    int64_t tap, src;
    const T best = window_max(g, x, f, b, oy, ox, c, &tap, &src);
    y[t] = tap < 0 ? Lim<T>::lowest() : best;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    dilation2d_bwd_kernel(MorphGeom g, const T* __restrict__ x, const T* __restrict__ f,
                          const T* __restrict__ gy, T* __restrict__ gx, T* __restrict__ gf,
                          int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t c = t % g.C;
    int64_t r = t / g.C;
    const int64_t ox = r % g.OW;
    r /= g.OW;
    const int64_t oy = r % g.OH;
    const int64_t b = r / g.OH;
    int64_t tap, src;
    window_max(g, x, f, b, oy, ox, c, &tap, &src);
    if (tap < 0) {  // TF's fallback: input (max(h_beg, 0), max(w_beg, 0)) clamped, tap (0, 0)
      int64_t iy = oy * g.sh - g.pt, ix = ox * g.sw - g.pl;
      iy = iy < 0 ? 0 : (iy > g.H - 1 ? g.H - 1 : iy);
      ix = ix < 0 ? 0 : (ix > g.W - 1 ? g.W - 1 : ix);
      src = ((b * g.H + iy) * g.W + ix) * g.C + c;
      tap = 0;
    }
    const T v = gy[t];
    add_to(gx + src, v);
    add_to(gf + tap * g.C + c, v);
  }
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
  if (nx > 0) memset_zero(gx, static_cast<size_t>(nx) * sizeof(T));
  if (nf > 0) memset_zero(gf, static_cast<size_t>(nf) * sizeof(T));
  const int64_t total = g.B * g.OH * g.OW * g.C;
  if (total == 0 || nx == 0 || nf == 0) return;
  dilation2d_bwd_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      g, static_cast<const T*>(x), static_cast<const T*>(f), static_cast<const T*>(gy),
      static_cast<T*>(gx), static_cast<T*>(gf), total);
  NABI_CUDA_CHECK_LAUNCH("dilation2d_bwd_kernel");
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
