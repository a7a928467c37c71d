// Winograd F(3x3, 2x2) for the backward-data of a stride-2, 4x4, dilation-1 float32 convolution,
// i.e. the forward of Conv2DTranspose(k, 4, strides=2) (the DCGAN generator's layers), and
// for its forward (below).
// dx splits into 4 sub-pixel phases (rows h = 2a + ph, columns 2b + pw), each a stride-1 2x2
// correlation of dy (see conv2d.cpp's comments on phases): along one axis, with pad the
// forward's padding, dx (2a + p) = dy (a + o_p) w (r_p + 2) + dy (a + o_p + 1) w (r_p),
// r_p = (p + pad) % 2, o_p = (p + pad) / 2 - 1. F(3x3, 2x2) (points 0, 1, -1, inf):
//   Y (3x3) = A^T [ (G g G^T) (.) (B^T d B) ] A, d a 4x4 dy patch, g the 2x2 sub-filter,
//   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]] (F(2x2, 3x3)'s),
//   G = [[1, 0], [1/2, 1/2], [1/2, -1/2], [0, -1]], A^T = [[1, 1, 1, 0], [0, 1, -1, 0],
//   [0, 1, 1, 1]]: 16 multiplies per 9 outputs instead of 36 (2.25x fewer).
// The two phases of an axis read dy at offsets o_0, o_1 that differ by at most one, so one
// tile grid (4x4 patches at base + 3t, base = min o_p) serves all four phases, each phase's
// tile origin shifted by d_p = base - o_p in (-1, 0): the input transform V (16, T, C) is
// computed once per tile and shared by the 4 phases' GEMMs (U per phase, 4 x 16 (C, K)
// matrices, computed once per call in double). Per block of T tiles: V; then per phase the
// 16 GEMMs into M (16, T, K) (conv2d_winograd_kernels.h's gemm16 and register tiles) and its
// output transform, which writes the phase's outputs in place in dx (bias + ReLU fused,
// outputs outside dx skipped). Kernels: conv2d_winograd_phase_kernels.h, compiled per ISA
// (here portable, conv2d_winograd_phase_avx2.cpp, _avx512.cpp), picked by gemm_isa().
// The forward of the same stride-2 4x4 conv (Conv2DTranspose's input gradient, a strided
// Conv2D's forward) sums 4 such 2x2 convs, one per tap parity (rh, rw): along an axis
// y (oh) = sum_m X_r (oh + m) w (2m + r), X_r (j) = x (2j + r - pad). Per output tile (3x3
// outputs) the 4 parity pairs' 4x4 patches are transformed side by side into V (16, T, 4C),
// U (16, 4C, K) holds their sub-filters, and one gemm16 per block reduces over all 4C.
// Its filter gradient: per parity pair, dw_p (2x2) of a 3x3 dy block y and its 4x4 patch d is
// their correlation, F(2x2, 3x3): A2^T [ (G2 y G2^T) (.) (B^T d B) ] A2 with F(2x2, 3x3)'s
// G2 and A2^T (conv2d_winograd.cpp); summed over tiles before A2^T . A2 (gemm_filter into
// per-thread partials, conv2d_winograd_kernels.h's filter_partials), db with the dy transform.
// Error against float64 (batch 8, 128 -> 128, 'same', max |err| / max |ref|): 14x14 -> 28x28
// Conv2DTranspose y 5.9e-7, du 1.1e-6, dw 2.7e-7 (direct kernels 1.0e-6, 1.6e-6, 1.9e-7).
// Measured (2-core Zen 4 shared with a CI run, thread CPU time, one thread, batch 64,
// 128 -> 128 'same', direct -> Winograd, ms; torch 2.13 channels_last): Conv2DTranspose
// 14x14 -> 28x28 fwd 60.7 -> 38.5 (torch 62.7), fwd + bwd 187.3 -> 111.9 (torch 210.5);
// 7x7 -> 14x14 fwd + bwd 46.4 -> 42.9 (torch 49.8; its fwd stays direct). AVX2: 1.48x / 1.35x
// on 14x14, 1.12x fwd + bwd on 7x7.
// Switch: NABI_CONV_WINOGRAD=0 off, =1 on for every such shape, unset: the rule below.
// Test: PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_conv_winograd_phase.py
#define NABI_WINO_NS wino_phase_portable
#define NABI_WINO_VB 16
#define NABI_WINO_MR 6
#include "cpu/conv2d_winograd_phase_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cpu/gemm.h"

namespace nabi::cpu {

namespace {

int64_t vector_floats() {
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  return std::strcmp(isa, "avx512") == 0 ? 16 : std::strcmp(isa, "avx2") == 0 ? 8 : 4;
#else
  return 4;
#endif
}

int64_t up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The auto rules' costs (in multiply-adds, channels padded as the kernels pad them): Winograd
// F(3x3, 2x2) for `tiles` tiles of 4 phases (or parity pairs) with cin -> cout channels, the
// transforms as 30% more and the filter transform and the call as 1024 tiles' worth;
// the direct kernels' 4 taps per output pixel and phase.
double wino_cost(int64_t tiles, int64_t cin, int64_t cout) {
  const int64_t vl = vector_floats();
  return (static_cast<double>(tiles) * 64.0 * 1.3 + 1024.0) *
         static_cast<double>(up(cin, vl) * up(cout, 2 * vl));
}

double direct_cost(int64_t pixels, int64_t cin, int64_t cout) {
  return static_cast<double>(pixels) * 4.0 * static_cast<double>(cin * up(cout, 2 * vector_floats()));
}

// conv2d_winograd_phase_kernels.h's axis(pad, out).tiles
int64_t phase_tiles(int64_t pad, int64_t out) {
  int64_t o[2], n[2], t = 0;
  for (int p = 0; p < 2; ++p) o[p] = ((p + pad) >> 1) - 1, n[p] = (out - p + 1) / 2;
  const int64_t base = std::min(o[0], o[1]);
  for (int p = 0; p < 2; ++p)
    if (n[p] > 0) t = std::max(t, (n[p] - 1 - (base - o[p])) / 3 + 1);
  return t;
}

}  // namespace

bool conv2d_winograd_phase_use(const Conv2dShape& s) {
  if (s.KH != 4 || s.KW != 4 || s.sh != 2 || s.sw != 2 || s.dh != 1 || s.dw != 1) return false;
  if (s.N <= 0 || s.C <= 0 || s.CO <= 0 || s.OH <= 0 || s.OW <= 0 || s.H <= 0 || s.W <= 0)
    return false;
  if (s.pt < 0 || s.pl < 0) return false;
  const char* e = std::getenv("NABI_CONV_WINOGRAD");
  if (e && e[0] == '0' && e[1] == '\0') return false;
  if (e && e[0] == '1' && e[1] == '\0') return true;
  // Auto: the channels padded to whole vectors / register-tile columns, as
  // conv2d_winograd_use; the 4 phases' 16 multiply-adds per tile plus 30% for the transforms and
  // 1024 tiles' worth for the filter transform and the call, against the direct kernels' 4 per
  // dx pixel, with a 10% margin. Measured (one thread, AVX-512, batch 64, 128 -> 128
  // channels, 'same'): 14x14 -> 28x28 1.5-1.6x faster (model 1.5), 7x7 -> 14x14 1.04-1.06x
  // (model 1.03; off: no gain on two threads). Slower with < 16 channels in or out.
  if (s.C < 16 || s.CO < 16) return false;
  const int64_t tiles = s.N * phase_tiles(s.pt, s.H) * phase_tiles(s.pl, s.W);
  return 1.1 * wino_cost(tiles, s.CO, s.C) <= direct_cost(s.N * s.H * s.W, s.CO, s.C);
}

void conv2d_winograd_phase_backward_data(const Conv2dShape& s, const float* w, const float* dy,
                                         const float* relu_y, const float* b, bool relu,
                                         float* dx) {
  const WinoPhaseArgs a{s.N, s.OH, s.OW, s.CO, s.H, s.W, s.C, s.pt, s.pl, dy, relu_y, w, b,
                        relu, dx};
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  if (std::strcmp(isa, "avx512") == 0) return wino_phase_avx512::winograd_phase_f32(a);
  if (std::strcmp(isa, "avx2") == 0) return wino_phase_avx2::winograd_phase_f32(a);
#endif
  wino_phase_portable::winograd_phase_f32(a);
}

bool conv2d_winograd_s2_use(const Conv2dShape& s) {
  if (s.KH != 4 || s.KW != 4 || s.sh != 2 || s.sw != 2 || s.dh != 1 || s.dw != 1) return false;
  if (s.N <= 0 || s.C <= 0 || s.CO <= 0 || s.OH <= 0 || s.OW <= 0 || s.H <= 0 || s.W <= 0)
    return false;
  const char* e = std::getenv("NABI_CONV_WINOGRAD");
  if (e && e[0] == '0' && e[1] == '\0') return false;
  if (e && e[0] == '1' && e[1] == '\0') return true;
  // Auto: the costs above for the 4 parity pairs' 2x2 convs (4 x 4 taps per output pixel),
  // no margin. Measured (one thread, AVX-512, batch 64, 128 -> 128, pad 1): 28x28 -> 14x14
  // 1.51x faster (model 1.51), 14x14 -> 7x7 1.22x (model 1.03).
  if (s.C < 16 || s.CO < 16) return false;
  const int64_t tiles = s.N * ((s.OH + 2) / 3) * ((s.OW + 2) / 3);
  return wino_cost(tiles, s.C, s.CO) <= 4.0 * direct_cost(s.N * s.OH * s.OW, s.C, s.CO);
}

void conv2d_winograd_s2_forward(const Conv2dShape& s, const float* x, const float* w,
                                const float* b, bool relu, float* y) {
  const WinoArgs a{s.N, s.H, s.W, s.C, s.OH, s.OW, s.CO, s.pt, s.pl, x, nullptr, w, false, b,
                   relu, y};
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  if (std::strcmp(isa, "avx512") == 0) return wino_phase_avx512::winograd_s2_f32(a);
  if (std::strcmp(isa, "avx2") == 0) return wino_phase_avx2::winograd_s2_f32(a);
#endif
  wino_phase_portable::winograd_s2_f32(a);
}

void conv2d_winograd_s2_backward_filter(const Conv2dShape& s, const float* x, const float* dy,
                                        const float* relu_y, float* dw, float* db) {
  const WinoFilterArgs f{s.N, s.H, s.W, s.C, s.OH, s.OW, s.CO, s.pt, s.pl, x, dy, relu_y, dw, db};
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  if (std::strcmp(isa, "avx512") == 0) return wino_phase_avx512::winograd_s2_filter_f32(f);
  if (std::strcmp(isa, "avx2") == 0) return wino_phase_avx2::winograd_s2_filter_f32(f);
#endif
  wino_phase_portable::winograd_s2_filter_f32(f);
}

}  // namespace nabi::cpu
