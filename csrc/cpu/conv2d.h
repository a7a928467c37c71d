// 2-D convolution kernels, NHWC activations and HWIO filters, float32/float64, contiguous.
// Algorithm, blocking and threading: see the opening comment of conv2d.cpp.
#pragma once
#include <cstdint>

namespace nabi::cpu {

struct Conv2dShape {
  int64_t N, H, W, C;        // input  (N, H, W, C)
  int64_t KH, KW, CO;        // filter (KH, KW, C, CO)
  int64_t OH, OW;            // output (N, OH, OW, CO)
  int64_t sh, sw, dh, dw;    // strides, dilations (>= 1)
  int64_t pt, pl;            // top/left padding (bottom/right are implied by OH/OW)
};

// y = conv(x, w) (+ b) (then max(., 0) when relu). b may be null.
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, bool relu, T* y);

// Gradients of y = [relu](conv(x, w) + b) given dy. relu_y (the forward output) is non-null
// when the forward fused a ReLU: dy is then masked by relu_y > 0. dx, dw, db may each be null.
template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dy, const T* relu_y,
                     T* dx, T* dw, T* db);

// dx = [relu](backprop-input(dy, w) + b): the gradient of conv(x, w) with respect to x (which
// is not read: only its shape, s.N/H/W/C, matters), plus a per-input-channel bias b (C) and
// then max(., 0) when relu -- a Conv2DTranspose layer's forward in one pass. b may be null.
template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* w, const T* dy, const T* b, bool relu,
                          T* dx);

}  // namespace nabi::cpu
