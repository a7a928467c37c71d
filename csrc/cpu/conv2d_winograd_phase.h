// Winograd F(3x3, 2x2) for the four sub-pixel phases of a stride-2, 4x4 backward-data (the
// forward of a stride-2 4x4 Conv2DTranspose): see conv2d_winograd_phase.cpp's opening comment.
#pragma once
#include <cstdint>

#include "cpu/conv2d.h"
#include "cpu/conv2d_winograd.h"

namespace nabi::cpu {

// Whether conv2d.cpp should compute the backward-data (dx) of this convolution (4x4, stride 2,
// dilation 1, float32) by conv2d_winograd_phase_backward_data: NABI_CONV_WINOGRAD=0 never,
// =1 whenever the shape allows it, unset (auto) where measured faster.
bool conv2d_winograd_phase_use(const Conv2dShape& s);

// dx = [relu](conv_transpose(dy, w) + b) of that convolution; relu_y (optional, the forward's
// fused-ReLU output) masks dy by relu_y > 0 first; b (C) may be null.
void conv2d_winograd_phase_backward_data(const Conv2dShape& s, const float* w, const float* dy,
                                         const float* relu_y, const float* b, bool relu,
                                         float* dx);

// The same rule for the forward of that convolution (4x4, stride 2) by
// conv2d_winograd_s2_forward.
bool conv2d_winograd_s2_use(const Conv2dShape& s);

// y = [relu](conv(x, w) + b) for s.KH == s.KW == 4, stride 2, dilation 1: the four tap-parity
// sub-images' 2x2 convolutions by F(3x3, 2x2), summed inside one GEMM.
void conv2d_winograd_s2_forward(const Conv2dShape& s, const float* x, const float* w,
                                const float* b, bool relu, float* y);

// dw (4, 4, C, CO) and db (CO, may be null) of that convolution (assigned), by F(2x2, 3x3) per
// tap-parity pair; relu_y (optional) masks dy by relu_y > 0.
void conv2d_winograd_s2_backward_filter(const Conv2dShape& s, const float* x, const float* dy,
                                        const float* relu_y, float* dw, float* db);

// The kernels' view: dy (N, H, W, C) -> dx (N, OH, OW, K) with w (4, 4, K, C) the forward
// convolution's HWIO filter, pt / pl its padding: dx (h, w') = sum dy (oh, ow) w (i, j) over
// h = 2 oh + i - pt, w' = 2 ow + j - pl.
struct WinoPhaseArgs {
  int64_t N, H, W, C, OH, OW, K, pt, pl;
  const float* dy;    // (N, H, W, C)
  const float* mask;  // optional (N, H, W, C): dy counts only where mask > 0
  const float* w;     // (4, 4, K, C)
  const float* bias;  // optional (K)
  bool relu;
  float* y;  // (N, OH, OW, K)
};

namespace wino_phase_portable {
void winograd_phase_f32(const WinoPhaseArgs& a);
void winograd_s2_f32(const WinoArgs& a);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
}
#if defined(NABI_X86)
namespace wino_phase_avx2 {
void winograd_phase_f32(const WinoPhaseArgs& a);
void winograd_s2_f32(const WinoArgs& a);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
}
namespace wino_phase_avx512 {
void winograd_phase_f32(const WinoPhaseArgs& a);
void winograd_s2_f32(const WinoArgs& a);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
void winograd_s2_filter_f32(const WinoFilterArgs& f);
}
#endif

}  // namespace nabi::cpu
