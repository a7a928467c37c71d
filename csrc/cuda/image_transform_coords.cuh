// Device helpers shared by image_transform.cu (the forward resampling) and
// image_transform_grad.cu (its adjoint): the float32 coordinate arithmetic of TF's
// ImageProjectiveTransformV3 rounded once per operation (no FMA contraction, so GPU and host
// give the same source points), TF's MapCoordinate for the fill modes, and the inside test.
// Both kernels must map an output pixel to exactly the same source point: the gradient is the
// adjoint of the forward only if they do.
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/image_transform_launchers.h"

namespace nabi::cuda::nd::image_coords {

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

// The source point (sx, sy) of output pixel (column c, row r) under the 8-parameter row m,
// both mapped by fill_mode; false when the projective divisor k is 0 (the pixel is fill).
__device__ __forceinline__ bool source_point(const float* m, float c, float r, int64_t H,
                                             int64_t W, FillMode mode, float* sx, float* sy) {
  const float k = fadd(fadd(fmul(m[6], c), fmul(m[7], r)), 1.f);
  if (k == 0.f) return false;
  *sx = map_coord(fdiv(fadd(fadd(fmul(m[0], c), fmul(m[1], r)), m[2]), k), W, mode);
  *sy = map_coord(fdiv(fadd(fadd(fmul(m[3], c), fmul(m[4], r)), m[5]), k), H, mode);
  return true;
}

// sign(v) * floor(|v| + 0.5), the |v| + 0.5 rounded to float32 (the host path's round)
__device__ __forceinline__ float round_half_away(float v) {
  return copysignf(floorf(fadd(fabsf(v), 0.5f)), v);
}

}  // namespace nabi::cuda::nd::image_coords
