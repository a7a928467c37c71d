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
#include "cuda/image_transform_coords.cuh"  // source_point, map_coord, fmul, ...
#include "cuda/image_transform_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
using namespace image_coords;

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
    float sx, sy;
    if (!source_point(m, c, r, H, W, mode, &sx, &sy)) {   // k == 0
      for (int64_t ch = 0; ch < C; ++ch) out[ch] = fill;
      continue;
    }
    if (nearest) {
      const float yi = round_half_away(sy), xi = round_half_away(sx);
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
