// AVX-512F direct conv2d for one input channel (C == 1, float32): the first layer of an
// image network, where K = KH*KW is so small (9) that a GEMM or implicit GEMM would spend its
// time on packing and short k-loops. Compiled with -mavx512f ... -mfma (CMakeLists.txt:
// *_avx512.cpp); conv2d.cpp enters it only after checking __builtin_cpu_supports("avx512f").
//   x  (N, H, W)  (C == 1)    w  (KH, KW, CO): tap (i, j) holds CO contiguous weights
//   y  (N, OH, OW, CO)         b  (CO) or null; fused ReLU
// Register tile: P output pixels of one output row x 16*NV output channels (P*NV zmm
// accumulators, P = 12 / 8 / 4 / 2 / 1, NV = 2: 32 channels, 24 accumulators at P = 12). Per
// tap, NV weight vectors are loaded once and each of the P pixels' input values is broadcast
// into NV FMAs (0.58 loads per FMA at P = 12, NV = 2). The accumulators start at the bias and
// sum the valid taps in (i, j) order with one FMA each (the AVX2 kernel's order); filter rows
// that fall outside the image are skipped per output row, and the pixels whose column taps
// leave the image (the left/right borders) run one at a time over their valid columns only,
// so no padding value is ever read. Channels past a multiple of 16 use masked loads/stores.
// Threads take output rows (conv2d.cpp's parallel_for over N*OH).
// 28x28x1 -> 32 3x3 'same', batch 100 (this 2-core Zen 5): the AVX2 4 x 16 kernel took 0.69 ms
// on one thread and 0.33 ms on two, this one 0.37-0.39 and 0.19-0.20 ms (PyTorch 2.13
// channels_last: 0.54 and 0.28-0.30 ms).
// Test: PYTHONPATH=python python3 -m pytest -q tests/test_conv_cpu_tiles.py tests/test_conv.py
// Bench: PYTHONPATH=python /work/venv-bench/bin/python bench/run.py conv
#if defined(NABI_X86)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "cpu/conv2d.h"

namespace nabi::cpu::avx512 {
namespace {

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Output pixels ow0 .. ow0+P-1 of one row, channels co0 .. co0 + 16*NV (masks m[0..NV)).
// rows[v], wrows[v] (v < nv): the input row (at column 0) and the weights of filter row v's
// tap 0 (at channel 0) of the valid filter rows; columns j in [j0, j1) only.
template <int P, int NV>
inline __attribute__((always_inline)) void c1_tile(const Conv2dShape& s, const float* const* rows,
                                                   const float* const* wrows, int64_t nv,
                                                   int64_t j0, int64_t j1, int64_t ow0,
                                                   int64_t co0, const __mmask16* m,
                                                   const float* b, bool relu, float* yr) {
  const int64_t CO = s.CO, sw = s.sw, dw = s.dw;
  __m512 acc[P][NV];
  for (int q = 0; q < NV; ++q) {
    const __m512 bv = b ? _mm512_maskz_loadu_ps(m[q], b + co0 + 16 * q) : _mm512_setzero_ps();
    for (int k = 0; k < P; ++k) acc[k][q] = bv;
  }
  const int64_t iw0 = ow0 * sw - s.pl;
  for (int64_t v = 0; v < nv; ++v) {
    const float* xr = rows[v] + iw0;
    const float* wr = wrows[v] + co0;
    for (int64_t j = j0; j < j1; ++j) {
      __m512 wv[NV];
      for (int q = 0; q < NV; ++q) wv[q] = _mm512_maskz_loadu_ps(m[q], wr + j * CO + 16 * q);
      const float* xp = xr + j * dw;
      for (int k = 0; k < P; ++k) {
        const __m512 xv = _mm512_set1_ps(xp[k * sw]);
        for (int q = 0; q < NV; ++q) acc[k][q] = _mm512_fmadd_ps(xv, wv[q], acc[k][q]);
      }
    }
  }
  const __m512 zero = _mm512_setzero_ps();
  for (int k = 0; k < P; ++k) {
    float* yp = yr + (ow0 + k) * CO + co0;
    for (int q = 0; q < NV; ++q) {
      // max(0, v) with 0 first: a NaN stays NaN, as TF's ReLU (masked form: see conv2d_avx512)
      const __m512 v = relu ? _mm512_mask_max_ps(acc[k][q], __mmask16(0xFFFF), zero, acc[k][q])
                            : acc[k][q];
      _mm512_mask_storeu_ps(yp + 16 * q, m[q], v);
    }
  }
}

// All channel blocks of pixels [ow0, ow0 + P).
template <int P>
inline __attribute__((always_inline)) void c1_pixels(const Conv2dShape& s,
                                                     const float* const* rows,
                                                     const float* const* wrows, int64_t nv,
                                                     int64_t j0, int64_t j1, int64_t ow0,
                                                     const float* b, bool relu, float* yr) {
  const int64_t CO = s.CO;
  int64_t co0 = 0;
  for (; co0 + 16 < CO; co0 += 32) {  // 17..32 channels left: two vectors
    const __mmask16 m[2] = {__mmask16(0xFFFF), lanes(CO - co0 - 16)};
    c1_tile<P, 2>(s, rows, wrows, nv, j0, j1, ow0, co0, m, b, relu, yr);
  }
  if (co0 < CO) {
    const __mmask16 m[1] = {lanes(CO - co0)};
    c1_tile<P, 1>(s, rows, wrows, nv, j0, j1, ow0, co0, m, b, relu, yr);
  }
}

}  // namespace

// Output rows [r0, r1) of the flattened (n, oh) index; s.KH <= kC1MaxRows (conv2d.cpp checks).
constexpr int64_t kC1MaxRows = 64;
void conv2d_c1_rows_f32(const Conv2dShape& s, const float* x, const float* w, const float* b,
                        bool relu, float* y, int64_t r0, int64_t r1) {
  const int64_t KW = s.KW, CO = s.CO;
  // Interior columns: iw0 = ow*sw - pl >= 0 and iw0 + (KW-1)*dw < W (all KW taps inside).
  int64_t lo = (s.pl + s.sw - 1) / s.sw;
  int64_t hi = s.W - 1 - (KW - 1) * s.dw + s.pl;  // ow*sw <= hi
  hi = hi < 0 ? 0 : hi / s.sw + 1;
  lo = std::min(lo, s.OW);
  hi = std::max(std::min(hi, s.OW), lo);
  const float* rows[kC1MaxRows];  // the valid filter rows' input rows and weights
  const float* wrows[kC1MaxRows];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * s.W;
    float* yr = y + r * s.OW * CO;
    const int64_t ih0 = oh * s.sh - s.pt;
    int64_t nv = 0;
    for (int64_t i = 0; i < s.KH; ++i) {
      const int64_t ih = ih0 + i * s.dh;
      if (ih < 0 || ih >= s.H) continue;
      rows[nv] = xn + ih * s.W;
      wrows[nv] = w + i * KW * CO;
      ++nv;
    }
    auto pixel = [&](int64_t ow) {  // one border pixel over its valid columns
      const int64_t iw0 = ow * s.sw - s.pl;
      int64_t j0 = iw0 >= 0 ? 0 : std::min(KW, (-iw0 + s.dw - 1) / s.dw);
      int64_t j1 = s.W - iw0 > 0 ? std::min(KW, (s.W - iw0 + s.dw - 1) / s.dw) : 0;
      j1 = std::max(j0, j1);
      c1_pixels<1>(s, rows, wrows, nv, j0, j1, ow, b, relu, yr);
    };
    for (int64_t ow = 0; ow < lo; ++ow) pixel(ow);
    int64_t ow = lo;
    for (; ow + 12 <= hi; ow += 12) c1_pixels<12>(s, rows, wrows, nv, 0, KW, ow, b, relu, yr);
    if (ow + 8 <= hi) c1_pixels<8>(s, rows, wrows, nv, 0, KW, ow, b, relu, yr), ow += 8;
    if (ow + 4 <= hi) c1_pixels<4>(s, rows, wrows, nv, 0, KW, ow, b, relu, yr), ow += 4;
    if (ow + 2 <= hi) c1_pixels<2>(s, rows, wrows, nv, 0, KW, ow, b, relu, yr), ow += 2;
    if (ow < hi) c1_pixels<1>(s, rows, wrows, nv, 0, KW, ow, b, relu, yr), ++ow;
    for (; ow < s.OW; ++ow) pixel(ow);
  }
}

}  // namespace nabi::cpu::avx512
#endif
