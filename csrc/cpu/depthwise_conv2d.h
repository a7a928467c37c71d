// Depthwise 2-D convolution kernels (tf.nn.depthwise_conv2d), NHWC activations, float32/float64,
// contiguous buffers. Algorithm, layouts and threading: see the opening comment of
// depthwise_conv2d.cpp.
#pragma once
#include <cstdint>

namespace nabi::cpu {

struct DepthwiseShape {
  int64_t N, H, W, C;      // input  (N, H, W, C)
  int64_t KH, KW, M;       // filter (KH, KW, C, M), M = channel multiplier
  int64_t OH, OW;          // output (N, OH, OW, C * M), channel c * M + m
  int64_t sh, sw, dh, dw;  // strides, dilations (>= 1)
  int64_t pt, pl;          // top/left padding (bottom/right are implied by OH/OW)
};

// y[n, oh, ow, c*M + m] = sum_{i, j} x[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c] * w[i, j, c, m]
// (taps in the padding contribute nothing). y is overwritten.
template <typename T>
void depthwise_conv2d_forward(const DepthwiseShape& s, const T* x, const T* w, T* y);

// dx (N, H, W, C) = the adjoint of the forward w.r.t. x, given dy (N, OH, OW, C*M); overwritten.
template <typename T>
void depthwise_conv2d_backward_data(const DepthwiseShape& s, const T* w, const T* dy, T* dx);

// dw (KH, KW, C, M) = the adjoint of the forward w.r.t. w, given x and dy; overwritten.
template <typename T>
void depthwise_conv2d_backward_filter(const DepthwiseShape& s, const T* x, const T* dy, T* dw);

}  // namespace nabi::cpu
