// affine_transform (see image_transform_launchers.h): TF's ImageProjectiveTransformV3, behind
// the Keras RandomRotation / RandomTranslation / RandomZoom layers on GPU tensors.
//
// Algorithm: a gather per output pixel. One thread per output pixel (b, r, c) of the NHWC
// result (grid-stride over B * H * W, 256 threads a block, no shared memory, no barriers):
// the thread computes the pixel's source point from its image's 8 parameters, maps it into
// the image by fill_mode, and writes all C channels of the pixel from its (one or four)
// neighbours, which are C-contiguous. Neighbouring threads read neighbouring source pixels
// for the small rotations / shifts / zooms of augmentation, so the reads are mostly coalesced.
//
// Rounding: the arithmetic is the host path's (keras/layers/preprocessing.py _transform, NumPy
// in float32 for the coordinates, then x's dtype for the blend), one rounding per operation:
// products never fused into FMAs (__fmul_rn, ...), so GPU and CPU give the same pixels.
// Launches: 1 (none for an empty batch).
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/image_transform_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

#if defined(NABI_CUDA_SIM)  // g++ for baseline x86-64: no FMA to contract into
__device__ __forceinline__ float fmul(float a, float b) { return a * b; }
__device__ __forceinline__ float fadd(float a, float b) { return a + b; }
__device__ __forceinline__ float fsub(float a, float b) { return a - b; }
__device__ __forceinline__ float fdiv(float a, float b) { return a / b; }
__device__ __forceinline__ float mul_rn(float a, float b) { return a * b; }
__device__ __forceinline__ double mul_rn(double a, double b) { return a * b; }
__device__ __forceinline__ float add_rn(float a, float b) { return a + b; }
__device__ __forceinline__ double add_rn(double a, double b) { return a + b; }
#else
__device__ __forceinline__ float fmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float fadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fsub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float fdiv(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
#endif

// TF's MapCoordinate: a continuous coordinate v along an axis of n pixels into [0, n - 1]
// (reflect: [dcba|abcd|dcba]; wrap: TF's period, a step of n per n - 1; nearest: clamp);
// constant leaves v (reads outside give the fill value).
__device__ __forceinline__ float map_coord(float v, int64_t n, FillMode mode) {
  if (mode == FillMode::Constant) return v;
  if (n <= 1) return 0.f;
  const float nf = static_cast<float>(n), last = static_cast<float>(n - 1);
  if (mode == FillMode::Reflect) {
    const float sz2 = static_cast<float>(2 * n);
    if (v < 0.f) {
      float lo = fadd(v, fmul(sz2, truncf(fdiv(-v, sz2))));
      v = lo < -nf ? fadd(lo, sz2) : fsub(-lo, 1.f);
    } else if (v > last) {
      float hi = fsub(v, fmul(sz2, truncf(fdiv(v, sz2))));
      v = hi >= nf ? fsub(fsub(sz2, hi), 1.f) : hi;
    }
  } else if (mode == FillMode::Wrap) {
    if (v < 0.f) v = fadd(v, fmul(nf, fadd(truncf(fdiv(-v, last)), 1.f)));
    else if (v > last) v = fsub(v, fmul(nf, truncf(fdiv(v, last))));
  }
  if (v != v) return v;                // NaN stays NaN (as NumPy's clip): its reads give fill
  return fminf(fmaxf(v, 0.f), last);
}

__device__ __forceinline__ bool inside(float yi, float xi, int64_t H, int64_t W) {
  return yi >= 0.f && yi < static_cast<float>(H) && xi >= 0.f && xi < static_cast<float>(W);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    affine_transform_kernel(const T* __restrict__ x,      // [B, H, W, C]
                            const float* __restrict__ t,  // [tb, 8]
                            T* __restrict__ y,            // [B, H, W, C]
                            int64_t tb, int64_t H, int64_t W, int64_t C, FillMode mode,
                            bool nearest, T fill, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < total;
       p += step) {
    const int64_t b = p / (H * W), rc = p - b * H * W;
    const float r = static_cast<float>(rc / W), c = static_cast<float>(rc % W);
    const float* m = t + (tb == 1 ? 0 : b * 8);
    T* out = y + p * C;
    const T* img = x + b * H * W * C;
    const float k = fadd(fadd(fmul(m[6], c), fmul(m[7], r)), 1.f);
    if (k == 0.f) {
      for (int64_t ch = 0; ch < C; ++ch) out[ch] = fill;
      continue;
    }
    const float sx =
        map_coord(fdiv(fadd(fadd(fmul(m[0], c), fmul(m[1], r)), m[2]), k), W, mode);
    const float sy =
        map_coord(fdiv(fadd(fadd(fmul(m[3], c), fmul(m[4], r)), m[5]), k), H, mode);
    if (nearest) {
      // sign(v) * floor(|v| + 0.5), the |v| + 0.5 rounded to float32 (the host path's round)
      const float yi = copysignf(floorf(fadd(fabsf(sy), 0.5f)), sy);
      const float xi = copysignf(floorf(fadd(fabsf(sx), 0.5f)), sx);
      if (inside(yi, xi, H, W)) {
        const T* src = img + (static_cast<int64_t>(yi) * W + static_cast<int64_t>(xi)) * C;
        for (int64_t ch = 0; ch < C; ++ch) out[ch] = src[ch];
      } else {
        for (int64_t ch = 0; ch < C; ++ch) out[ch] = fill;
      }
      continue;
    }
    const float y0 = floorf(sy), x0 = floorf(sx), y1 = fadd(y0, 1.f), x1 = fadd(x0, 1.f);
    const float wy = fsub(sy, y0), wx = fsub(sx, x0);
    const T wy1 = static_cast<T>(wy), wx1 = static_cast<T>(wx);
    const T wy0 = static_cast<T>(fsub(1.f, wy)), wx0 = static_cast<T>(fsub(1.f, wx));
    const T* s00 = inside(y0, x0, H, W)
                       ? img + (static_cast<int64_t>(y0) * W + static_cast<int64_t>(x0)) * C
                       : nullptr;
    const T* s01 = inside(y0, x1, H, W)
                       ? img + (static_cast<int64_t>(y0) * W + static_cast<int64_t>(x1)) * C
                       : nullptr;
    const T* s10 = inside(y1, x0, H, W)
                       ? img + (static_cast<int64_t>(y1) * W + static_cast<int64_t>(x0)) * C
                       : nullptr;
    const T* s11 = inside(y1, x1, H, W)
                       ? img + (static_cast<int64_t>(y1) * W + static_cast<int64_t>(x1)) * C
                       : nullptr;
    for (int64_t ch = 0; ch < C; ++ch) {
      const T v00 = s00 ? s00[ch] : fill, v01 = s01 ? s01[ch] : fill;
      const T v10 = s10 ? s10[ch] : fill, v11 = s11 ? s11[ch] : fill;
      const T top = add_rn(mul_rn(wx0, v00), mul_rn(wx1, v01));
      const T bot = add_rn(mul_rn(wx0, v10), mul_rn(wx1, v11));
      out[ch] = add_rn(mul_rn(wy0, top), mul_rn(wy1, bot));
    }
  }
}

template <typename T>
void launch(const void* x, const float* t, int64_t tb, int64_t B, int64_t H, int64_t W,
            int64_t C, FillMode mode, bool nearest, double fill_value, void* y) {
  const int64_t total = B * H * W;
  affine_transform_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      static_cast<const T*>(x), t, static_cast<T*>(y), tb, H, W, C, mode, nearest,
      static_cast<T>(fill_value), total);
  NABI_CUDA_CHECK_LAUNCH("affine_transform_kernel");
}

}  // namespace

void affine_transform(DType dtype, const void* x, const float* t, int64_t tb, int64_t B,
                      int64_t H, int64_t W, int64_t C, FillMode mode, bool nearest,
                      double fill_value, void* y) {
  if (B * H * W * C == 0) return;
  if (dtype == DType::Float32)
    return launch<float>(x, t, tb, B, H, W, C, mode, nearest, fill_value, y);
  if (dtype == DType::Float64)
    return launch<double>(x, t, tb, B, H, W, C, mode, nearest, fill_value, y);
  throw std::invalid_argument("[affine_transform] images must be float32 or float64");
}

}  // namespace nabi::cuda::nd
