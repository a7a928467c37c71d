// Winograd F(2x2, 3x3) convolution for 3x3, stride-1, dilation-1 float32 convs (forward, and
// backward-data as the forward of the transposed convolution). Algorithm, blocking and layouts:
// see the opening comment of conv2d_winograd.cpp; the kernels are conv2d_winograd_kernels.h,
// compiled once per ISA.
#pragma once
#include <cstdint>

#include "cpu/conv2d.h"

namespace nabi::cpu {

// Whether conv2d.cpp should take the Winograd path for this 3x3 stride-1 convolution:
// NABI_CONV_WINOGRAD=0 never, =1 whenever the shape allows it, unset (auto) when measured
// faster than the direct kernels. dx: asked for the backward-data (transposed) convolution.
bool conv2d_winograd_use(const Conv2dShape& s, bool dx);
// The same for the filter gradient.
bool conv2d_winograd_use_filter(const Conv2dShape& s);

// y = [relu](conv(x, w) + b) for s.KH == s.KW == 3, stride 1, dilation 1.
void conv2d_winograd_forward(const Conv2dShape& s, const float* x, const float* w, const float* b,
                             bool relu, float* y);

// dx = [relu](conv_transpose(dy, w) + b) of the same convolution; relu_y (optional, the
// forward's fused-ReLU output) masks dy by relu_y > 0 first; b (C) may be null.
void conv2d_winograd_backward_data(const Conv2dShape& s, const float* w, const float* dy,
                                   const float* relu_y, const float* b, bool relu, float* dx);

// dw (3, 3, C, CO) = the filter gradient of the same convolution and db (CO, may be null) the
// bias gradient (both assigned); relu_y as above.
void conv2d_winograd_backward_filter(const Conv2dShape& s, const float* x, const float* dy,
                                     const float* relu_y, float* dw, float* db);

// The geometry the kernels see: an input (N, H, W, C) and an output (N, OH, OW, K) with
// output (oh, ow) reading input (oh + i - pt, ow + j - pl), i, j < 3 (zeros outside).
// The filter is w HWIO (3, 3, C, K), or with flipped the (3, 3, K, C) filter of the forward
// convolution whose input gradient this is: g[i][j][c][k] = w[2 - i][2 - j][k][c].
struct WinoArgs {
  int64_t N, H, W, C, OH, OW, K, pt, pl;
  const float* x;     // (N, H, W, C)
  const float* mask;  // optional (N, H, W, C): x counts only where mask > 0
  const float* w;
  bool flipped;
  const float* bias;  // optional (K)
  bool relu;
  float* y;  // (N, OH, OW, K)
};

// The filter gradient dw (3, 3, C, K) = sum over images and output pixels of x's 3x3 patch
// times dy (masked by relu_y > 0 when given), by F(3x3, 2x2): see conv2d_winograd.cpp.
struct WinoFilterArgs {
  int64_t N, H, W, C, OH, OW, K, pt, pl;
  const float* x;       // (N, H, W, C)
  const float* dy;      // (N, OH, OW, K)
  const float* relu_y;  // optional (N, OH, OW, K)
  float* dw;            // (3, 3, C, K), assigned
  float* db;            // optional (K), assigned: the sums of (masked) dy
};

namespace wino_portable {
void winograd_f32(const WinoArgs& a);
void winograd_filter_f32(const WinoFilterArgs& f);
}  // namespace wino_portable
#if defined(NABI_X86)
namespace wino_avx2 {
void winograd_f32(const WinoArgs& a);
void winograd_filter_f32(const WinoFilterArgs& f);
}  // namespace wino_avx2
namespace wino_avx512 {
void winograd_f32(const WinoArgs& a);
void winograd_filter_f32(const WinoFilterArgs& f);
}  // namespace wino_avx512
#endif

}  // namespace nabi::cpu
