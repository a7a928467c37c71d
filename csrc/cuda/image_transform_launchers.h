// Host-side entry points of the image resampling kernel behind the Keras affine augmentation
// layers (RandomRotation / RandomTranslation / RandomZoom) on GPU tensors: image_transform.cu,
// and of its gradient: image_transform_grad.cu.
// Plain C++ declarations (no CUDA headers) so the g++-compiled binding
// (csrc/bindings/bind_cuda_image_transform.cpp) can call them; only in builds with
// NABI_WITH_CUDA. The conventions of array_launchers.h hold: device pointers into C-contiguous
// buffers, the binding validates every argument first, empty work launches nothing,
// everything is enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// Fill modes and interpolations of tf.raw_ops.ImageProjectiveTransformV3.
enum class FillMode : int { Reflect = 0, Wrap = 1, Constant = 2, Nearest = 3 };

// ---- image_transform.cu ----------------------------------------------------------------------
// x (B, H, W, C) NHWC of dtype (float32/float64); t (tb, 8) float32 with tb == B or 1 (one row
// for the whole batch); y (B, H, W, C) of x's dtype. For output pixel (b, row r, column c), with
// the row [a0, a1, a2, b0, b1, b2, c0, c1] of image b, in float32:
//   k = c0 c + c1 r + 1;  k == 0 gives fill_value
//   xin = (a0 c + a1 r + a2) / k,  yin = (b0 c + b1 r + b2) / k
// both mapped into the image by fill_mode (TF's MapCoordinate), then read nearest
// (sign(v) floor(|v| + 0.5)) or bilinearly; reads outside the image give fill_value.
// H, W < 2^24 (float32 coordinates are exact integers there).
void affine_transform(DType dtype, const void* x, const float* t, int64_t tb, int64_t B,
                      int64_t H, int64_t W, int64_t C, FillMode mode, bool nearest,
                      double fill_value, void* y);

// ---- image_transform_grad.cu -----------------------------------------------------------------
// The gradient of affine_transform with respect to the images (its exact adjoint): dy (B, H, W,
// C) of dtype, t (tb, 8) as above; dx (B, H, W, C) of dtype, overwritten: each output pixel's
// gradient, times its interpolation weights, added into the source pixels the forward read
// (reads outside the image, i.e. the fill value, and k == 0 pixels contribute nothing).
// Accumulated with atomicAdd: the order of the float additions is unspecified.
void affine_transform_grad(DType dtype, const void* dy, const float* t, int64_t tb, int64_t B,
                           int64_t H, int64_t W, int64_t C, FillMode mode, bool nearest,
                           void* dx);

}  // namespace nabi::cuda::nd
