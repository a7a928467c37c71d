// affine_transform_grad (see image_transform_launchers.h): the gradient of affine_transform
// (image_transform.cu, TF's ImageProjectiveTransformV3) with respect to the images, i.e. the
// exact adjoint of the forward resampling, behind the backward pass of the Keras
// RandomRotation / RandomTranslation / RandomZoom layers on GPU tensors.
//
// Algorithm: a scatter per output pixel. The forward writes y[p] = sum_j w_j x[s_j] over the
// (one or four) source pixels s_j of output pixel p, so its adjoint adds w_j dy[p] into
// dx[s_j]. dx is zero-filled (a memset), then one thread per output pixel (b, r, c) (grid-
// stride over B * H * W, 256 threads a block, no shared memory, no barriers) recomputes the
// pixel's source point with the forward's own arithmetic (image_transform_coords.cuh: the same
// float32 roundings, the same fill-mode mapping) and atomically adds the weighted gradient of
// all C channels to the source pixels inside the image. Reads outside the image (the fill
// value) and pixels with k == 0 receive nothing: the fill value is a constant.
//
// Why atomics and not a deterministic gather: a gather would give each source pixel the list
// of output pixels reading it, but the fill modes fold the plane onto the image (reflect and
// wrap map several distant regions onto one pixel, 'nearest' clamps whole border strips onto
// the edge pixels, a projective row divides), so that preimage is neither one window nor
// bounded; building it would take a sort of all B * H * W * 4 (source, weight) pairs. With
// atomics it is one pass, and for the small rotations / shifts / zooms of augmentation a
// source pixel gets a handful of adds, rarely contended. The price: the float additions into
// one pixel happen in an unspecified order, so results may differ in the last bits from run
// to run (float64 atomicAdd needs sm_60, below the sm_80 / sm_90 targets).
// Launches: 1 (none for an empty batch), after a cudaMemsetAsync.
#include <cstdint>
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/image_transform_coords.cuh"  // source_point, round_half_away, inside, fmul, ...
#include "cuda/image_transform_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
using namespace image_coords;

template <typename T>
__device__ __forceinline__ void add_pixel(T* __restrict__ dst, const T* __restrict__ g, T w,
                                          int64_t C) {
  for (int64_t ch = 0; ch < C; ++ch) atomicAdd(dst + ch, mul_rn(w, g[ch]));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    affine_transform_grad_kernel(const T* __restrict__ dy,   // [B, H, W, C]
                                 const float* __restrict__ t,  // [tb, 8]
                                 T* __restrict__ dx,           // [B, H, W, C], zero-filled
                                 int64_t tb, int64_t H, int64_t W, int64_t C, FillMode mode,
                                 bool nearest, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < total;
       p += step) {
    const int64_t b = p / (H * W), rc = p - b * H * W;
    const float r = static_cast<float>(rc / W), c = static_cast<float>(rc % W);
    const float* m = t + (tb == 1 ? 0 : b * 8);
    const T* g = dy + p * C;
    T* img = dx + b * H * W * C;
    float sx, sy;
    if (!source_point(m, c, r, H, W, mode, &sx, &sy)) continue;  // k == 0: fill
    if (nearest) {
      const float yi = round_half_away(sy), xi = round_half_away(sx);
      if (inside(yi, xi, H, W))
        add_pixel(img + (static_cast<int64_t>(yi) * W + static_cast<int64_t>(xi)) * C, g, T(1),
                  C);
      continue;
    }
    // the forward's weights: float32 lerp fractions, then x's dtype; the forward blends
    // wy0 (wx0 v00 + wx1 v01) + wy1 (wx0 v10 + wx1 v11)
    const float y0 = floorf(sy), x0 = floorf(sx), y1 = fadd(y0, 1.f), x1 = fadd(x0, 1.f);
    const float wy = fsub(sy, y0), wx = fsub(sx, x0);
    const T wy1 = static_cast<T>(wy), wx1 = static_cast<T>(wx);
    const T wy0 = static_cast<T>(fsub(1.f, wy)), wx0 = static_cast<T>(fsub(1.f, wx));
    const float ys[2] = {y0, y1}, xs[2] = {x0, x1};
    const T wys[2] = {wy0, wy1}, wxs[2] = {wx0, wx1};
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        if (inside(ys[i], xs[j], H, W))
          add_pixel(img + (static_cast<int64_t>(ys[i]) * W + static_cast<int64_t>(xs[j])) * C,
                    g, mul_rn(wys[i], wxs[j]), C);
  }
}

template <typename T>
void launch(const void* dy, const float* t, int64_t tb, int64_t B, int64_t H, int64_t W,
            int64_t C, FillMode mode, bool nearest, void* dx) {
  const int64_t total = B * H * W;
  memset_zero(dx, static_cast<size_t>(total * C) * sizeof(T));
  affine_transform_grad_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      static_cast<const T*>(dy), t, static_cast<T*>(dx), tb, H, W, C, mode, nearest, total);
  NABI_CUDA_CHECK_LAUNCH("affine_transform_grad_kernel");
}

}  // namespace

void affine_transform_grad(DType dtype, const void* dy, const float* t, int64_t tb, int64_t B,
                           int64_t H, int64_t W, int64_t C, FillMode mode, bool nearest,
                           void* dx) {
  if (B * H * W * C == 0) return;
  if (dtype == DType::Float32) return launch<float>(dy, t, tb, B, H, W, C, mode, nearest, dx);
  if (dtype == DType::Float64) return launch<double>(dy, t, tb, B, H, W, C, mode, nearest, dx);
  throw std::invalid_argument("[affine_transform_grad] gradients must be float32 or float64");
}

}  // namespace nabi::cuda::nd
