// Depthwise 2-D convolution (tf.nn.depthwise_conv2d), float32/float64, direct kernels.
//   x  (N, H, W, C)       NHWC, contiguous
//   w  (KH, KW, C, M)     HWCM: viewed as (KH, KW, C*M), filter channel c*M + m
//   y  (N, OH, OW, C*M)   output channel c*M + m sees only input channel c
// Any stride, dilation and explicit padding (top/left given, bottom/right implied by OH/OW).
//
// Each output pixel needs KH*KW taps of C values and no reduction over channels, so there is
// no GEMM to reuse: the work is memory-bound and the kernels stream NHWC rows once, with the
// inner loops over the contiguous channel axis (c, or c*M + m), vectorised by the compiler
// (an AVX2+FMA build of the same loops is chosen at run time). float32 with M == 1 (the
// MobileNet case) has explicit AVX2+FMA kernels: a pixel's (or dx pixel's) valid taps are
// listed as pointer pairs and summed 32 channels at a time in registers (4 pixels per weight
// load where they share their taps); the filter gradient streams one row's pixels past a
// tap's 32-channel accumulators, and for 3x3 interior pixels past all nine taps' 8-channel
// accumulators at once (each dy vector feeds nine FMAs). Tap ranges that stay inside
// the image are worked out per row and per pixel, so the inner loops carry no bounds checks.
// On AVX-512 machines float32 M == 1 3x3 (KW == 3, stride 1 along w) has AVX-512 kernels,
// described where they are defined: the forward, the backward-data at stride 1 (the same
// forward with the filter rotated by 180 degrees), and the filter gradient (nine tap sums in
// registers, a sliding window of input columns). NABI_CONV_ISA=avx2 keeps the AVX2 kernels.
//   forward          threaded over output rows (n, oh); each output pixel is accumulated in
//                    place over its valid taps.
//   backward-data    a gather, threaded over input rows (n, h): input pixel (h, w) adds the
//                    dy pixels (oh, ow) with oh*sh = h + pt - i*dh (likewise w) times tap
//                    (i, j); every dx element is written by one thread (no scatter, no race).
//   backward-filter  output rows cut into P contiguous chunks (P = threads), each summed
//                    into its own (KH, KW, C*M) partial, then the partials are added in chunk
//                    order (deterministic for a given thread count).
// Test: PYTHONPATH=python python3 -m pytest -q tests/test_depthwise_conv.py (and
//       tests/test_depthwise_tiles.py)
// Bench: PYTHONPATH=python /work/venv-bench/bin/python bench/run.py conv
#include "cpu/depthwise_conv2d.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"

namespace nabi::cpu {
namespace {

#define NABI_DW_INLINE inline __attribute__((always_inline))

// Taps k in [k0, k1) of a filter axis of K taps with 0 <= base + k*d < L.
NABI_DW_INLINE void tap_range(int64_t base, int64_t d, int64_t K, int64_t L, int64_t* k0,
                              int64_t* k1) {
  const int64_t lo = base >= 0 ? 0 : (-base + d - 1) / d;
  const int64_t hi = L - base > 0 ? std::min<int64_t>(K, (L - base + d - 1) / d) : 0;
  *k0 = lo;
  *k1 = std::max(lo, hi);
}

// acc[c*M + m] += xp[c] * wp[c*M + m] over one tap.
template <typename T>
NABI_DW_INLINE void tap_multiply_add(const T* __restrict__ xp, const T* __restrict__ wp,
                                     T* __restrict__ acc, int64_t C, int64_t M) {
  if (M == 1) {
    for (int64_t c = 0; c < C; ++c) acc[c] += xp[c] * wp[c];
  } else {
    for (int64_t c = 0; c < C; ++c) {
      const T xv = xp[c];
      for (int64_t m = 0; m < M; ++m) acc[c * M + m] += xv * wp[c * M + m];
    }
  }
}

template <typename T>
NABI_DW_INLINE void forward_rows(const DepthwiseShape& s, const T* x, const T* w, T* y,
                                 int64_t r0, int64_t r1) {
  const int64_t C = s.C, CM = s.C * s.M;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const T* xn = x + n * s.H * s.W * C;
    const int64_t hb = oh * s.sh - s.pt;
    int64_t i0, i1;
    tap_range(hb, s.dh, s.KH, s.H, &i0, &i1);
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      T* yo = y + (r * s.OW + ow) * CM;
      std::memset(yo, 0, sizeof(T) * CM);
      const int64_t wb = ow * s.sw - s.pl;
      int64_t j0, j1;
      tap_range(wb, s.dw, s.KW, s.W, &j0, &j1);
      for (int64_t i = i0; i < i1; ++i) {
        const T* xrow = xn + (hb + i * s.dh) * s.W * C;
        for (int64_t j = j0; j < j1; ++j)
          tap_multiply_add(xrow + (wb + j * s.dw) * C, w + (i * s.KW + j) * CM, yo, C, s.M);
      }
    }
  }
}

template <typename T>
NABI_DW_INLINE void backward_data_rows(const DepthwiseShape& s, const T* w, const T* dy, T* dx,
                                       int64_t r0, int64_t r1) {
  const int64_t C = s.C, M = s.M, CM = C * M;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.H, h = r % s.H;
    const T* dyn = dy + n * s.OH * s.OW * CM;
    for (int64_t iw = 0; iw < s.W; ++iw) {
      T* __restrict__ dxo = dx + (r * s.W + iw) * C;
      std::memset(dxo, 0, sizeof(T) * C);
      for (int64_t i = 0; i < s.KH; ++i) {
        const int64_t t = h + s.pt - i * s.dh;  // = oh * sh for a tap that meets an output row
        if (t < 0) break;
        if (t % s.sh != 0 || t / s.sh >= s.OH) continue;
        const T* dyrow = dyn + (t / s.sh) * s.OW * CM;
        for (int64_t j = 0; j < s.KW; ++j) {
          const int64_t u = iw + s.pl - j * s.dw;
          if (u < 0) break;
          if (u % s.sw != 0 || u / s.sw >= s.OW) continue;
          const T* __restrict__ g = dyrow + (u / s.sw) * CM;
          const T* __restrict__ wp = w + (i * s.KW + j) * CM;
          if (M == 1) {
            for (int64_t c = 0; c < C; ++c) dxo[c] += g[c] * wp[c];
          } else {
            for (int64_t c = 0; c < C; ++c) {
              T a = T(0);
              for (int64_t m = 0; m < M; ++m) a += g[c * M + m] * wp[c * M + m];
              dxo[c] += a;
            }
          }
        }
      }
    }
  }
}

// acc (KH, KW, C*M) += the filter gradient of output rows [r0, r1).
template <typename T>
NABI_DW_INLINE void backward_filter_rows(const DepthwiseShape& s, const T* x, const T* dy,
                                         T* acc, int64_t r0, int64_t r1) {
  const int64_t C = s.C, M = s.M, CM = C * M;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const T* xn = x + n * s.H * s.W * C;
    const int64_t hb = oh * s.sh - s.pt;
    int64_t i0, i1;
    tap_range(hb, s.dh, s.KH, s.H, &i0, &i1);
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const T* g = dy + (r * s.OW + ow) * CM;
      const int64_t wb = ow * s.sw - s.pl;
      int64_t j0, j1;
      tap_range(wb, s.dw, s.KW, s.W, &j0, &j1);
      for (int64_t i = i0; i < i1; ++i) {
        const T* xrow = xn + (hb + i * s.dh) * s.W * C;
        for (int64_t j = j0; j < j1; ++j) {
          const T* __restrict__ xp = xrow + (wb + j * s.dw) * C;
          T* __restrict__ a = acc + (i * s.KW + j) * CM;
          if (M == 1) {
            for (int64_t c = 0; c < C; ++c) a[c] += xp[c] * g[c];
          } else {
            for (int64_t c = 0; c < C; ++c) {
              const T xv = xp[c];
              for (int64_t m = 0; m < M; ++m) a[c * M + m] += xv * g[c * M + m];
            }
          }
        }
      }
    }
  }
}

// Portable builds of the row loops, and AVX2+FMA builds of the same loops (the always-inline
// bodies are compiled again for the wider target), chosen at run time.
template <typename T>
void forward_portable(const DepthwiseShape& s, const T* x, const T* w, T* y, int64_t r0,
                      int64_t r1) {
  forward_rows(s, x, w, y, r0, r1);
}
template <typename T>
void backward_data_portable(const DepthwiseShape& s, const T* w, const T* dy, T* dx, int64_t r0,
                            int64_t r1) {
  backward_data_rows(s, w, dy, dx, r0, r1);
}
template <typename T>
void backward_filter_portable(const DepthwiseShape& s, const T* x, const T* dy, T* acc,
                              int64_t r0, int64_t r1) {
  backward_filter_rows(s, x, dy, acc, r0, r1);
}

#if defined(NABI_X86)
bool have_avx2_fma() {
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
}

// float32, M == 1 (the MobileNet case), explicit AVX2+FMA: 32 channels in 4 accumulators
// stay in registers across all taps (no memset, no accumulate through memory), then 8, then
// a scalar tail.
// out[c] = sum_t a[t][c] * b[t][c].
__attribute__((target("avx2,fma"))) void taps_dot_f32(const float* const* a,
                                                      const float* const* b, int64_t nt,
                                                      int64_t C, float* __restrict__ out) {
  int64_t c = 0;
  for (; c + 32 <= C; c += 32) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t t = 0; t < nt; ++t) {
      const float* pa = a[t] + c;
      const float* pb = b[t] + c;
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa + 8), _mm256_loadu_ps(pb + 8), s1);
      s2 = _mm256_fmadd_ps(_mm256_loadu_ps(pa + 16), _mm256_loadu_ps(pb + 16), s2);
      s3 = _mm256_fmadd_ps(_mm256_loadu_ps(pa + 24), _mm256_loadu_ps(pb + 24), s3);
    }
    _mm256_storeu_ps(out + c, s0);
    _mm256_storeu_ps(out + c + 8, s1);
    _mm256_storeu_ps(out + c + 16, s2);
    _mm256_storeu_ps(out + c + 24, s3);
  }
  for (; c + 8 <= C; c += 8) {
    __m256 s0 = _mm256_setzero_ps();
    for (int64_t t = 0; t < nt; ++t)
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a[t] + c), _mm256_loadu_ps(b[t] + c), s0);
    _mm256_storeu_ps(out + c, s0);
  }
  for (; c < C; ++c) {
    float s = 0.f;
    for (int64_t t = 0; t < nt; ++t) s = std::fma(a[t][c], b[t][c], s);
    out[c] = s;
  }
}

// Four pixels at once: out[k*C + c] = sum_t a[t][k*astride + c] * b[t][c], k < 4 (pixels
// that share their tap set): each b vector feeds four FMAs (1.25 loads per FMA, not 2).
__attribute__((target("avx2,fma"))) void taps_dot4_f32(const float* const* a,
                                                       const float* const* b, int64_t nt,
                                                       int64_t C, int64_t astride,
                                                       float* __restrict__ out) {
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    __m256 s[8];
    for (int q = 0; q < 8; ++q) s[q] = _mm256_setzero_ps();
    for (int64_t t = 0; t < nt; ++t) {
      const float* pa = a[t] + c;
      const __m256 b0 = _mm256_loadu_ps(b[t] + c), b1 = _mm256_loadu_ps(b[t] + c + 8);
      for (int k = 0; k < 4; ++k) {
        s[2 * k] = _mm256_fmadd_ps(_mm256_loadu_ps(pa + k * astride), b0, s[2 * k]);
        s[2 * k + 1] = _mm256_fmadd_ps(_mm256_loadu_ps(pa + k * astride + 8), b1, s[2 * k + 1]);
      }
    }
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_ps(out + k * C + c, s[2 * k]);
      _mm256_storeu_ps(out + k * C + c + 8, s[2 * k + 1]);
    }
  }
  for (; c + 8 <= C; c += 8) {
    __m256 s[4];
    for (int k = 0; k < 4; ++k) s[k] = _mm256_setzero_ps();
    for (int64_t t = 0; t < nt; ++t) {
      const __m256 b0 = _mm256_loadu_ps(b[t] + c);
      for (int k = 0; k < 4; ++k)
        s[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a[t] + k * astride + c), b0, s[k]);
    }
    for (int k = 0; k < 4; ++k) _mm256_storeu_ps(out + k * C + c, s[k]);
  }
  for (; c < C; ++c)
    for (int k = 0; k < 4; ++k) {
      float v = 0.f;
      for (int64_t t = 0; t < nt; ++t) v = std::fma(a[t][k * astride + c], b[t][c], v);
      out[k * C + c] = v;
    }
}

// acc[c] += sum_{k < n} x[k * xstride + c] * g[k * C + c]: one filter tap's gradient over a
// run of output pixels of one row.
__attribute__((target("avx2,fma"))) void tap_outer_f32(const float* x, int64_t xstride,
                                                       const float* g, int64_t n, int64_t C,
                                                       float* __restrict__ acc) {
  int64_t c = 0;
  for (; c + 32 <= C; c += 32) {
    __m256 s0 = _mm256_loadu_ps(acc + c), s1 = _mm256_loadu_ps(acc + c + 8);
    __m256 s2 = _mm256_loadu_ps(acc + c + 16), s3 = _mm256_loadu_ps(acc + c + 24);
    for (int64_t k = 0; k < n; ++k) {
      const float* px = x + k * xstride + c;
      const float* pg = g + k * C + c;
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(px), _mm256_loadu_ps(pg), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(px + 8), _mm256_loadu_ps(pg + 8), s1);
      s2 = _mm256_fmadd_ps(_mm256_loadu_ps(px + 16), _mm256_loadu_ps(pg + 16), s2);
      s3 = _mm256_fmadd_ps(_mm256_loadu_ps(px + 24), _mm256_loadu_ps(pg + 24), s3);
    }
    _mm256_storeu_ps(acc + c, s0);
    _mm256_storeu_ps(acc + c + 8, s1);
    _mm256_storeu_ps(acc + c + 16, s2);
    _mm256_storeu_ps(acc + c + 24, s3);
  }
  for (; c + 8 <= C; c += 8) {
    __m256 s0 = _mm256_loadu_ps(acc + c);
    for (int64_t k = 0; k < n; ++k)
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k * xstride + c), _mm256_loadu_ps(g + k * C + c),
                           s0);
    _mm256_storeu_ps(acc + c, s0);
  }
  for (; c < C; ++c) {
    float s = acc[c];
    for (int64_t k = 0; k < n; ++k) s = std::fma(x[k * xstride + c], g[k * C + c], s);
    acc[c] = s;
  }
}

// 3x3 filter gradient over the interior pixels [ow0, ow1) of one output row whose three input
// rows are all inside the image: per 8 channels the nine tap sums stay in registers while
// the row streams past, each dy vector feeding nine FMAs (1.1 loads per FMA, not 2).
__attribute__((target("avx2,fma"))) void filter_3x3_interior_f32(
    const DepthwiseShape& s, const float* xrow0, const float* g, int64_t ow0, int64_t ow1,
    float* acc) {
  const int64_t C = s.C, rs = s.dh * s.W * C, ps = s.sw * C, js = s.dw * C;
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 a[9];
    for (int t = 0; t < 9; ++t) a[t] = _mm256_loadu_ps(acc + t * C + c);
    const float* px = xrow0 + (ow0 * s.sw - s.pl) * C + c;
    const float* pg = g + ow0 * C + c;
    for (int64_t ow = ow0; ow < ow1; ++ow, px += ps, pg += C) {
      const __m256 gv = _mm256_loadu_ps(pg);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          a[i * 3 + j] = _mm256_fmadd_ps(_mm256_loadu_ps(px + i * rs + j * js), gv, a[i * 3 + j]);
    }
    for (int t = 0; t < 9; ++t) _mm256_storeu_ps(acc + t * C + c, a[t]);
  }
  for (; c < C; ++c)
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      const float* px = xrow0 + (ow * s.sw - s.pl) * C + c;
      const float gv = g[ow * C + c];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          acc[(i * 3 + j) * C + c] = std::fma(px[i * rs + j * js], gv, acc[(i * 3 + j) * C + c]);
    }
}

void forward_m1_avx2(const DepthwiseShape& s, const float* x, const float* w, float* y,
                     int64_t r0, int64_t r1) {
  const int64_t C = s.C;
  std::vector<const float*> a(s.KH * s.KW), b(s.KH * s.KW);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * s.W * C;
    const int64_t hb = oh * s.sh - s.pt;
    int64_t i0, i1;
    tap_range(hb, s.dh, s.KH, s.H, &i0, &i1);
    for (int64_t ow = 0; ow < s.OW;) {
      const int64_t wb = ow * s.sw - s.pl;
      int64_t j0, j1, nt = 0;
      tap_range(wb, s.dw, s.KW, s.W, &j0, &j1);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j, ++nt) {
          a[nt] = xn + ((hb + i * s.dh) * s.W + wb + j * s.dw) * C;
          b[nt] = w + (i * s.KW + j) * C;
        }
      // Pixels ow..ow+3 meet the same taps when all of them see every column tap.
      const int64_t last = wb + 3 * s.sw + (s.KW - 1) * s.dw;
      if (j0 == 0 && j1 == s.KW && ow + 4 <= s.OW && last < s.W) {
        taps_dot4_f32(a.data(), b.data(), nt, C, s.sw * C, y + (r * s.OW + ow) * C);
        ow += 4;
      } else {
        taps_dot_f32(a.data(), b.data(), nt, C, y + (r * s.OW + ow) * C);
        ++ow;
      }
    }
  }
}

void backward_data_m1_avx2(const DepthwiseShape& s, const float* w, const float* dy, float* dx,
                           int64_t r0, int64_t r1) {
  const int64_t C = s.C;
  std::vector<const float*> a(s.KH * s.KW), b(s.KH * s.KW);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.H, h = r % s.H;
    const float* dyn = dy + n * s.OH * s.OW * C;
    for (int64_t iw = 0; iw < s.W;) {
      int64_t nt = 0;
      for (int64_t i = 0; i < s.KH; ++i) {
        const int64_t t = h + s.pt - i * s.dh;
        if (t < 0) break;
        if (t % s.sh != 0 || t / s.sh >= s.OH) continue;
        for (int64_t j = 0; j < s.KW; ++j) {
          const int64_t u = iw + s.pl - j * s.dw;
          if (u < 0) break;
          if (u % s.sw != 0 || u / s.sw >= s.OW) continue;
          a[nt] = dyn + ((t / s.sh) * s.OW + u / s.sw) * C;
          b[nt++] = w + (i * s.KW + j) * C;
        }
      }
      // At stride 1, dx pixels iw..iw+3 meet the same taps when every column tap of all of
      // them lands inside the output row.
      if (s.sw == 1 && iw + 4 <= s.W && iw + s.pl - (s.KW - 1) * s.dw >= 0 &&
          iw + 3 + s.pl < s.OW) {
        taps_dot4_f32(a.data(), b.data(), nt, C, C, dx + (r * s.W + iw) * C);
        iw += 4;
      } else {
        taps_dot_f32(a.data(), b.data(), nt, C, dx + (r * s.W + iw) * C);
        ++iw;
      }
    }
  }
}

void backward_filter_m1_avx2(const DepthwiseShape& s, const float* x, const float* dy,
                             float* acc, int64_t r0, int64_t r1) {
  const int64_t C = s.C;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * s.W * C;
    const float* g = dy + r * s.OW * C;
    const int64_t hb = oh * s.sh - s.pt;
    int64_t i0, i1;
    tap_range(hb, s.dh, s.KH, s.H, &i0, &i1);
    // 3x3 rows with every row tap inside: the interior pixels (every column tap inside) go
    // through the register-resident kernel, the rest tap by tap.
    int64_t in0 = 0, in1 = 0;
    if (s.KH == 3 && s.KW == 3 && i0 == 0 && i1 == 3) {
      int64_t a0, a1, b0, b1;
      tap_range(-s.pl, s.sw, s.OW, s.W, &a0, &a1);
      tap_range(2 * s.dw - s.pl, s.sw, s.OW, s.W, &b0, &b1);
      in0 = std::max(a0, b0);
      in1 = std::min(a1, b1);
      if (in1 > in0) filter_3x3_interior_f32(s, xn + hb * s.W * C, g, in0, in1, acc);
      else in0 = in1 = 0;
    }
    for (int64_t i = i0; i < i1; ++i) {
      const float* xrow = xn + (hb + i * s.dh) * s.W * C;
      for (int64_t j = 0; j < s.KW; ++j) {
        // output pixels ow whose tap j lands inside the row: 0 <= ow*sw - pl + j*dw < W,
        // less the interior ones done above
        int64_t ow0, ow1;
        tap_range(j * s.dw - s.pl, s.sw, s.OW, s.W, &ow0, &ow1);
        const int64_t parts[2][2] = {{ow0, std::min(ow1, in0)}, {std::max(ow0, in1), ow1}};
        const int64_t nparts = in1 > in0 ? 2 : 1;
        for (int64_t q = 0; q < nparts; ++q) {
          const int64_t p0 = nparts == 2 ? parts[q][0] : ow0;
          const int64_t p1 = nparts == 2 ? parts[q][1] : ow1;
          if (p0 >= p1) continue;
          tap_outer_f32(xrow + (p0 * s.sw - s.pl + j * s.dw) * C, s.sw * C, g + p0 * C,
                        p1 - p0, C, acc + (i * s.KW + j) * C);
        }
      }
    }
  }
}

// ---- AVX-512: float32, M == 1, KW == 3, KH <= 3, stride and dilation 1 along w ----
// (the MobileNet 3x3 stride-1 block; any row stride/dilation/padding). A block of P pixels
// of one output row is swept over all channels 16 at a time (memory order: a row's pixels
// are C floats apart, so a channel-outer sweep would walk 1 KiB strides that alias in L1 at
// C = 256): each valid input row's P+2 columns are loaded once and feed 3P FMAs into P
// independent sums, the block's nine tap vectors are reloaded from L1 per 16 channels, and
// the same columns pf floats on are prefetched into L1: two channel blocks on when the input
// fits in the L3 (16 MiB or less), else 1.5 KiB on, far enough to hide DRAM latency (56x56x64
// batch 32, 25.7 MB: 0.73 -> 0.62 ms on 2 threads; the far distance would slow 14x14x256
// batch 32, 6.4 MB, from 0.150 to 0.163 ms). With row stride and dilation 1 and all three
// filter rows inside, two output rows go together: four input rows feed both (24 loads per
// 72 FMAs at P = 4, instead of 30 per 72 with one row at P = 8).
// Channel tails (C % 16) use masked loads and stores; pixels whose column taps leave the
// image (left/right borders) go tap by tap; rows at the top/bottom use only their valid
// filter rows (NR of them).
// NABI_CONV_ISA=avx2 (read once, as conv2d.cpp does) keeps the AVX2 kernels, to test or time them.
bool have_avx512() {
  static const bool v = [] {
    const char* e = std::getenv("NABI_CONV_ISA");
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") &&
           !(e && std::strcmp(e, "avx2") == 0);
  }();
  return v;
}

bool fwd3_avx512_ok(const DepthwiseShape& s) {
  return s.M == 1 && s.KW == 3 && s.KH <= 3 && s.sw == 1 && s.dw == 1 && have_avx512();
}

#define NABI_DW512 __attribute__((target("avx512f,avx2,fma")))

template <bool TAIL>
NABI_DW512 inline __attribute__((always_inline)) __m512 dw_ld(__mmask16 m, const float* p) {
  return TAIL ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps(p);
}
template <bool TAIL>
NABI_DW512 inline __attribute__((always_inline)) void dw_st(__mmask16 m, float* p, __m512 v) {
  if (TAIL) _mm512_mask_storeu_ps(p, m, v);
  else _mm512_storeu_ps(p, v);
}

// The 16-channel blocks of a sweep over C channels: full blocks at head, head + 16, ... below
// end, a masked block before them (channels [0, head), mask mh) and one after ([end, C), mt).
// When every pixel has the same alignment (C % 16 == 0) and C >= 128, head puts p + head on
// a 64-byte boundary: numpy buffers are only 16-byte aligned, and a 64-byte load that
// straddles two cache lines costs two (1x14x14x256 on one thread, ns per pixel and 16
// channels: forward 3.0 -> 2.4, filter gradient 3.4 -> 2.4). Below 128 channels the extra
// masked block costs more than the alignment saves. The loads of p's tensor (and of a filter
// copied to the same alignment, aligned_like) are then aligned; the other tensor's may not be.
struct ChanSplit {
  int64_t head, end;
  __mmask16 mh, mt;
};
inline ChanSplit chan_split(const float* p, int64_t C) {
  const int64_t mis = static_cast<int64_t>(reinterpret_cast<uintptr_t>(p) / sizeof(float) % 16);
  const int64_t head = C % 16 == 0 && C >= 128 && mis != 0 ? 16 - mis : 0;
  const int64_t end = head + (C - head) / 16 * 16;
  return {head, end, __mmask16((1u << head) - 1), __mmask16((1u << (C - end)) - 1)};
}
// BLOCK(c, mask, TAIL) over the blocks of cs (C channels).
#define NABI_DW_CHANNELS(cs, C, BLOCK)                                        \
  {                                                                           \
    if ((cs).head) BLOCK(0, (cs).mh, true)                                    \
    int64_t c = (cs).head;                                                    \
    for (; c < (cs).end; c += 16) BLOCK(c, __mmask16(0xFFFF), false)          \
    if (c < (C)) BLOCK(c, (cs).mt, true)                                      \
  }

// n floats of w, or a copy of them in buf at the same 64-byte alignment as p.
const float* aligned_like(const float* w, int64_t n, const float* p, std::vector<float>& buf) {
  const uintptr_t mis = reinterpret_cast<uintptr_t>(p) % 64;
  if (n <= 0 || reinterpret_cast<uintptr_t>(w) % 64 == mis) return w;
  buf.resize(static_cast<size_t>(n) + 32);
  char* b = reinterpret_cast<char*>(buf.data());
  float* d = reinterpret_cast<float*>(b + (mis + 64 - reinterpret_cast<uintptr_t>(b) % 64) % 64);
  std::memcpy(d, w, sizeof(float) * n);
  return d;
}

// P consecutive interior pixels from ow (every column tap inside the image), one 16-channel
// block: each valid input row's P+2 columns feed 3P FMAs into P independent sums.
template <int NR, int P, bool TAIL>
NABI_DW512 inline __attribute__((always_inline)) void fwd3_px_avx512(
    const float* const* xr, const float* wr, int64_t C, int64_t c, __mmask16 m, int64_t iw,
    float* yo, int64_t pf) {
  __m512 a[P];
  for (int k = 0; k < P; ++k) a[k] = _mm512_setzero_ps();
  for (int ii = 0; ii < NR; ++ii) {
    const float* p = xr[ii] + iw * C + c;
    __m512 xv[P + 2];
    for (int k = 0; k < P + 2; ++k) xv[k] = dw_ld<TAIL>(m, p + k * C);
    if (!TAIL)  // the same columns pf floats on
      for (int k = 0; k < P + 2; ++k)
        _mm_prefetch(reinterpret_cast<const char*>(p + k * C + pf), _MM_HINT_T0);
    for (int j = 0; j < 3; ++j) {
      const __m512 wv = dw_ld<TAIL>(m, wr + (ii * 3 + j) * C + c);
      for (int k = 0; k < P; ++k) a[k] = _mm512_fmadd_ps(xv[k + j], wv, a[k]);
    }
  }
  for (int k = 0; k < P; ++k) dw_st<TAIL>(m, yo + k * C + c, a[k]);
}

// Two output rows (stride and dilation 1 along h, all 3 filter rows inside for both): the
// four input rows xr[0..4) each load P+2 columns once and feed both rows' sums.
template <int P, bool TAIL>
NABI_DW512 inline __attribute__((always_inline)) void fwd3_px2_avx512(
    const float* const* xr, const float* w, int64_t C, int64_t c, __mmask16 m, int64_t iw,
    float* y0, float* y1, int64_t pf) {
  __m512 a[2][P];
  for (int q = 0; q < 2; ++q)
    for (int k = 0; k < P; ++k) a[q][k] = _mm512_setzero_ps();
  for (int ii = 0; ii < 4; ++ii) {
    const float* p = xr[ii] + iw * C + c;
    __m512 xv[P + 2];
    for (int k = 0; k < P + 2; ++k) xv[k] = dw_ld<TAIL>(m, p + k * C);
    if (!TAIL)  // the same columns pf floats on
      for (int k = 0; k < P + 2; ++k)
        _mm_prefetch(reinterpret_cast<const char*>(p + k * C + pf), _MM_HINT_T0);
    for (int q = 0; q < 2; ++q) {
      const int i = ii - q;
      if (i < 0 || i > 2) continue;
      for (int j = 0; j < 3; ++j) {
        const __m512 wv = dw_ld<TAIL>(m, w + (i * 3 + j) * C + c);
        for (int k = 0; k < P; ++k) a[q][k] = _mm512_fmadd_ps(xv[k + j], wv, a[q][k]);
      }
    }
  }
  for (int k = 0; k < P; ++k) {
    dw_st<TAIL>(m, y0 + k * C + c, a[0][k]);
    dw_st<TAIL>(m, y1 + k * C + c, a[1][k]);
  }
}

// One pixel ow with some column taps outside the image, all channels; NR valid filter rows
// (weights wr) whose input rows are xr[0..NR).
template <int NR>
NABI_DW512 void fwd3_border_avx512(const DepthwiseShape& s, const float* const* xr,
                                   const float* wr, int64_t ow, float* yr) {
  const int64_t C = s.C, Cv = C / 16 * 16;
  const __mmask16 mt = __mmask16((1u << (C - Cv)) - 1);
  for (int64_t c = 0; c < C; c += 16) {
    const __mmask16 m = c < Cv ? __mmask16(0xFFFF) : mt;
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < 3; ++j) {
      const int64_t iw = ow - s.pl + j;
      if (iw < 0 || iw >= s.W) continue;
      for (int ii = 0; ii < NR; ++ii)
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xr[ii] + iw * C + c),
                              _mm512_maskz_loadu_ps(m, wr + (ii * 3 + j) * C + c), acc);
    }
    _mm512_mask_storeu_ps(yr + ow * C + c, m, acc);
  }
}

// Output rows y0, y1 (= y0 + OW*C) from input rows xr[0..4) (see fwd3_px2_avx512).
NABI_DW512 void fwd3_rows2_avx512(const DepthwiseShape& s, const ChanSplit& cs,
                                  const float* const* xr, const float* w, float* y0,
                                  int64_t pf) {
  const int64_t C = s.C, W = s.W, OW = s.OW, pl = s.pl;
  float* y1 = y0 + OW * C;
  const int64_t lo = std::min<int64_t>(pl, OW);
  const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(OW, W - 2 + pl));
  for (int64_t ow = 0; ow < lo; ++ow) {
    fwd3_border_avx512<3>(s, xr, w, ow, y0);
    fwd3_border_avx512<3>(s, xr + 1, w, ow, y1);
  }
#define NABI_DW_B2(c, m, TAIL) \
  fwd3_px2_avx512<P, TAIL>(xr, w, C, c, m, ow - pl, y0 + ow * C, y1 + ow * C, pf);
#define NABI_DW_PX2(PP)                      \
  {                                          \
    constexpr int P = PP;                    \
    NABI_DW_CHANNELS(cs, C, NABI_DW_B2)      \
  }
  int64_t ow = lo;
  for (; ow + 4 <= hi; ow += 4) NABI_DW_PX2(4)
  for (; ow + 2 <= hi; ow += 2) NABI_DW_PX2(2)
  for (; ow < hi; ++ow) NABI_DW_PX2(1)
#undef NABI_DW_PX2
#undef NABI_DW_B2
  for (; ow < OW; ++ow) {
    fwd3_border_avx512<3>(s, xr, w, ow, y0);
    fwd3_border_avx512<3>(s, xr + 1, w, ow, y1);
  }
}

// One output row: NR valid filter rows (weights wr = w + i0*3*C) whose input rows are
// xr[0..NR). Pixels in blocks of 8 (then 4, then 1), each block swept over all channels
// (sequential in memory; the block's weights are reloaded from L1 per 16 channels).
template <int NR>
NABI_DW512 void fwd3_row_avx512(const DepthwiseShape& s, const ChanSplit& cs,
                                const float* const* xr, const float* wr, float* yr,
                                int64_t pf) {
  const int64_t C = s.C, W = s.W, OW = s.OW, pl = s.pl;
  // interior pixels: 0 <= ow - pl and ow - pl + 2 < W
  const int64_t lo = std::min<int64_t>(pl, OW);
  const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(OW, W - 2 + pl));
#define NABI_DW_B1(c, m, TAIL) fwd3_px_avx512<NR, P, TAIL>(xr, wr, C, c, m, ow - pl, yo, pf);
#define NABI_DW_PX(PP)                       \
  {                                          \
    constexpr int P = PP;                    \
    float* yo = yr + ow * C;                 \
    NABI_DW_CHANNELS(cs, C, NABI_DW_B1)      \
  }
  for (int64_t ow = 0; ow < lo; ++ow) fwd3_border_avx512<NR>(s, xr, wr, ow, yr);
  int64_t ow = lo;
  for (; ow + 8 <= hi; ow += 8) NABI_DW_PX(8)
  for (; ow + 4 <= hi; ow += 4) NABI_DW_PX(4)
  for (; ow < hi; ++ow) NABI_DW_PX(1)
#undef NABI_DW_PX
#undef NABI_DW_B1
  for (; ow < OW; ++ow) fwd3_border_avx512<NR>(s, xr, wr, ow, yr);
}

NABI_DW512 void forward_3_avx512(const DepthwiseShape& s, const float* x, const float* w,
                                 float* y, int64_t r0, int64_t r1) {
  const int64_t C = s.C;
  const bool large = s.N * s.H * s.W * C > (int64_t{4} << 20);  // > 16 MiB: from DRAM
  const int64_t pf = large ? 384 : 32;
  const ChanSplit cs = chan_split(x, C);
  std::vector<float> wbuf;
  w = aligned_like(w, s.KH * 3 * C, x, wbuf);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * s.W * C;
    const int64_t hb = oh * s.sh - s.pt;
    // rows oh and oh+1 of one image, both with all three filter rows inside
    if (s.KH == 3 && s.sh == 1 && s.dh == 1 && r + 1 < r1 && oh + 1 < s.OH && hb >= 0 &&
        hb + 3 < s.H) {
      const float* xr4[4];
      for (int k = 0; k < 4; ++k) xr4[k] = xn + (hb + k) * s.W * C;
      fwd3_rows2_avx512(s, cs, xr4, w, y + r * s.OW * C, pf);
      ++r;
      continue;
    }
    int64_t i0, i1;
    tap_range(hb, s.dh, s.KH, s.H, &i0, &i1);
    const float* xr[3];
    for (int64_t i = i0; i < i1; ++i) xr[i - i0] = xn + (hb + i * s.dh) * s.W * C;
    float* yr = y + r * s.OW * C;
    switch (i1 - i0) {
      case 3: fwd3_row_avx512<3>(s, cs, xr, w + i0 * 3 * C, yr, pf); break;
      case 2: fwd3_row_avx512<2>(s, cs, xr, w + i0 * 3 * C, yr, pf); break;
      case 1: fwd3_row_avx512<1>(s, cs, xr, w + i0 * 3 * C, yr, pf); break;
      default: std::memset(yr, 0, sizeof(float) * s.OW * C);
    }
  }
}

// ---- AVX-512 filter gradient: float32, M == 1, 3x3, stride and dilation 1 along w ----
// dw[i][j][c] = sum over output pixels (oh, ow) of x[oh*sh - pt + i*dh][ow - pl + j][c] *
// dy[oh][ow][c]. R output rows go together (R = 2 when the row stride and dilation are 1,
// else 1), in blocks of 8 pixels (C >= 64; else the whole row) swept over the channels 16 at
// a time (the forward's reason: a row's pixels are C floats apart). Per 16-channel block and
// output row the nine tap sums stay in registers while the block's pixels stream past left to
// right (one set per row, so no sum takes two dependent FMAs a step; added at the end), and
// the three columns under the current pixel of each of the R+2 input rows are a sliding
// window in registers: a step loads R+2 new x vectors and R dy vectors for 9R FMAs (0.33
// loads per FMA at R = 2, against 1.1 for filter_3x3_interior_f32). Columns outside the image
// are zero vectors and input rows outside it point at a row of zeros, so every pixel goes
// through the same loop (no tap-by-tap border passes). Channel blocks as in the forward
// (ChanSplit: aligned to x); inputs over 16 MiB prefetch 3 KiB ahead (from DRAM: 56x56x64
// batch 32, one thread, 6.1 -> 4.2 ns per pixel and 16 channels). 14x14x256 batch 32 on 2
// threads: 0.28 ms (AVX2) -> 0.15 ms.
bool filt3_avx512_ok(const DepthwiseShape& s) {
  return s.M == 1 && s.KH == 3 && s.KW == 3 && s.sw == 1 && s.dw == 1 && have_avx512();
}

// Column iw of input row p (16 channels from c), zero outside the image.
template <bool TAIL>
NABI_DW512 inline __attribute__((always_inline)) __m512 filt3_col(const float* p, int64_t iw,
                                                                  int64_t W, int64_t C,
                                                                  __mmask16 m) {
  return iw >= 0 && iw < W ? dw_ld<TAIL>(m, p + iw * C) : _mm512_setzero_ps();
}

// acc[(i*3 + j)*C + c ...] += the 16-channel block c of R output rows gr[0..R), input rows
// xr[0..R+2) (row q meets input rows q, q+1, q+2).
template <int R, bool TAIL>
NABI_DW512 inline __attribute__((always_inline)) void filt3_block_avx512(
    const float* const* xr, const float* const* gr, int64_t W, int64_t o0, int64_t o1,
    int64_t pl, int64_t C, int64_t c, __mmask16 m, float* acc, int64_t pf) {
  __m512 a[R][9], xw[R + 2][3];
  for (int t = 0; t < 9; ++t) a[0][t] = dw_ld<TAIL>(m, acc + t * C + c);
  for (int q = 1; q < R; ++q)
    for (int t = 0; t < 9; ++t) a[q][t] = _mm512_setzero_ps();
  for (int ii = 0; ii < R + 2; ++ii) {
    xw[ii][0] = filt3_col<TAIL>(xr[ii] + c, o0 - pl, W, C, m);
    xw[ii][1] = filt3_col<TAIL>(xr[ii] + c, o0 + 1 - pl, W, C, m);
  }
  for (int64_t ow = o0; ow < o1; ++ow) {
    for (int ii = 0; ii < R + 2; ++ii)
      xw[ii][2] = filt3_col<TAIL>(xr[ii] + c, ow - pl + 2, W, C, m);
    if (!TAIL && pf) {  // from DRAM: the same columns pf floats on
      for (int ii = 0; ii < R + 2; ++ii)
        _mm_prefetch(reinterpret_cast<const char*>(xr[ii] + c + (ow - pl + 2) * C + pf),
                     _MM_HINT_T0);
      for (int q = 0; q < R; ++q)
        _mm_prefetch(reinterpret_cast<const char*>(gr[q] + c + ow * C + pf), _MM_HINT_T0);
    }
    for (int q = 0; q < R; ++q) {
      const __m512 gv = dw_ld<TAIL>(m, gr[q] + ow * C + c);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          a[q][i * 3 + j] = _mm512_fmadd_ps(xw[q + i][j], gv, a[q][i * 3 + j]);
    }
    for (int ii = 0; ii < R + 2; ++ii) {
      xw[ii][0] = xw[ii][1];
      xw[ii][1] = xw[ii][2];
    }
  }
  for (int q = 1; q < R; ++q)
    for (int t = 0; t < 9; ++t) a[0][t] = _mm512_add_ps(a[0][t], a[q][t]);
  for (int t = 0; t < 9; ++t) dw_st<TAIL>(m, acc + t * C + c, a[0][t]);
}

template <int R>
NABI_DW512 void filt3_rows_avx512(const DepthwiseShape& s, const ChanSplit& cs,
                                  const float* const* xr, const float* const* gr, float* acc,
                                  int64_t pf) {
  const int64_t C = s.C;
#define NABI_DW_BF(c, m, TAIL) \
  filt3_block_avx512<R, TAIL>(xr, gr, s.W, o0, o1, s.pl, C, c, m, acc, pf);
  const int64_t px = C >= 64 ? 8 : s.OW;  // pixels per sweep over the channels
  for (int64_t o0 = 0; o0 < s.OW; o0 += px) {
    const int64_t o1 = std::min<int64_t>(s.OW, o0 + px);
    NABI_DW_CHANNELS(cs, C, NABI_DW_BF)
  }
#undef NABI_DW_BF
}

NABI_DW512 void filter_3_avx512(const DepthwiseShape& s, const float* x, const float* dy,
                                float* acc, int64_t r0, int64_t r1) {
  const int64_t C = s.C, rowlen = s.W * C;
  const std::vector<float> zero(static_cast<size_t>(rowlen), 0.f);
  const ChanSplit cs = chan_split(x, C);
  const int64_t pf = s.N * s.H * rowlen > (int64_t{4} << 20) ? 768 : 0;  // > 16 MiB: DRAM
  for (int64_t r = r0; r < r1;) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * rowlen;
    const int64_t hb = oh * s.sh - s.pt;
    const int R = s.sh == 1 && s.dh == 1 && r + 1 < r1 && oh + 1 < s.OH ? 2 : 1;
    const float* xr[4];
    for (int ii = 0; ii < R + 2; ++ii) {
      const int64_t h = R == 2 ? hb + ii : hb + ii * s.dh;
      xr[ii] = h >= 0 && h < s.H ? xn + h * rowlen : zero.data();
    }
    const float* gr[2] = {dy + r * s.OW * C, dy + (r + 1) * s.OW * C};
    if (R == 2) filt3_rows_avx512<2>(s, cs, xr, gr, acc, pf);
    else filt3_rows_avx512<1>(s, cs, xr, gr, acc, pf);
    r += R;
  }
}

// Backward-data at stride 1 is the forward correlation of dy with the filter rotated by 180
// degrees: dx[h][w] = sum_{i,j} dy[h - pt' + i*dh][w - pl' + j*dw] * w[KH-1-i][KW-1-j], with
// pt' = (KH-1)*dh - pt and pl' = (KW-1)*dw - pl, so the AVX-512 forward rows do it (dx rows
// threaded like forward rows). False (nothing done) where that kernel does not apply.
bool backward_data_3_avx512(const DepthwiseShape& s, const float* w, const float* dy,
                            float* dx) {
  DepthwiseShape f = s;
  f.H = s.OH, f.W = s.OW, f.OH = s.H, f.OW = s.W;
  f.pt = (s.KH - 1) * s.dh - s.pt, f.pl = (s.KW - 1) * s.dw - s.pl;
  if (s.sh != 1 || s.sw != 1 || f.pt < 0 || f.pl < 0 || !fwd3_avx512_ok(s)) return false;
  const int64_t C = s.C, T = s.KH * s.KW;
  std::vector<float> wf(static_cast<size_t>(T * C));
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(&wf[(T - 1 - t) * C], w + t * C, sizeof(float) * C);
  parallel_for(f.N * f.OH, 2 * f.OW * C * T,
               [&](int64_t r0, int64_t r1) { forward_3_avx512(f, dy, wf.data(), dx, r0, r1); });
  return true;
}

template <typename T>
__attribute__((target("avx2,fma"))) void forward_avx2(const DepthwiseShape& s, const T* x,
                                                      const T* w, T* y, int64_t r0,
                                                      int64_t r1) {
  if constexpr (std::is_same_v<T, float>) {
    if (fwd3_avx512_ok(s)) return forward_3_avx512(s, x, w, y, r0, r1);
    if (s.M == 1) return forward_m1_avx2(s, x, w, y, r0, r1);
  }
  forward_rows(s, x, w, y, r0, r1);
}
template <typename T>
__attribute__((target("avx2,fma"))) void backward_data_avx2(const DepthwiseShape& s, const T* w,
                                                            const T* dy, T* dx, int64_t r0,
                                                            int64_t r1) {
  if constexpr (std::is_same_v<T, float>) {
    if (s.M == 1) return backward_data_m1_avx2(s, w, dy, dx, r0, r1);
  }
  backward_data_rows(s, w, dy, dx, r0, r1);
}
template <typename T>
__attribute__((target("avx2,fma"))) void backward_filter_avx2(const DepthwiseShape& s,
                                                              const T* x, const T* dy, T* acc,
                                                              int64_t r0, int64_t r1) {
  if constexpr (std::is_same_v<T, float>) {
    if (filt3_avx512_ok(s)) return filter_3_avx512(s, x, dy, acc, r0, r1);
    if (s.M == 1) return backward_filter_m1_avx2(s, x, dy, acc, r0, r1);
  }
  backward_filter_rows(s, x, dy, acc, r0, r1);
}
#define NABI_DW_PICK(name) (have_avx2_fma() ? name##_avx2<T> : name##_portable<T>)
#else
#define NABI_DW_PICK(name) (name##_portable<T>)
#endif

}  // namespace

template <typename T>
void depthwise_conv2d_forward(const DepthwiseShape& s, const T* x, const T* w, T* y) {
  const int64_t rows = s.N * s.OH;
  if (rows * s.OW * s.C * s.M == 0) return;
  auto* fn = NABI_DW_PICK(forward);
  parallel_for(rows, 2 * s.OW * s.C * s.M * s.KH * s.KW,
               [&](int64_t r0, int64_t r1) { fn(s, x, w, y, r0, r1); });
}

template <typename T>
void depthwise_conv2d_backward_data(const DepthwiseShape& s, const T* w, const T* dy, T* dx) {
  const int64_t rows = s.N * s.H;
  if (rows * s.W * s.C == 0) return;
#if defined(NABI_X86)
  if constexpr (std::is_same_v<T, float>)
    if (backward_data_3_avx512(s, w, dy, dx)) return;
#endif
  auto* fn = NABI_DW_PICK(backward_data);
  const int64_t taps = std::max<int64_t>(1, (s.KH / s.sh) * (s.KW / s.sw));
  parallel_for(rows, 2 * s.W * s.C * s.M * taps,
               [&](int64_t r0, int64_t r1) { fn(s, w, dy, dx, r0, r1); });
}

template <typename T>
void depthwise_conv2d_backward_filter(const DepthwiseShape& s, const T* x, const T* dy, T* dw) {
  const int64_t K = s.KH * s.KW * s.C * s.M;
  if (K == 0) return;
  std::fill(dw, dw + K, T(0));
  const int64_t rows = s.N * s.OH;
  if (rows * s.OW == 0) return;
  auto* fn = NABI_DW_PICK(backward_filter);
  const int64_t row_cost = 2 * s.OW * s.C * s.M * s.KH * s.KW;
  // Chunks of rows, one partial each: as many as threads, but only if the work pays for them.
  int64_t P = std::min<int64_t>(max_threads(), rows);
  P = std::max<int64_t>(1, std::min<int64_t>(P, rows * row_cost / 32768));
  std::vector<T> partials(static_cast<size_t>((P - 1) * K));
  parallel_for(P, rows * row_cost / P, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* acc = p == 0 ? dw : partials.data() + (p - 1) * K;
      if (p > 0) std::fill(acc, acc + K, T(0));
      fn(s, x, dy, acc, rows * p / P, rows * (p + 1) / P);
    }
  });
  for (int64_t p = 1; p < P; ++p) {
    const T* a = partials.data() + (p - 1) * K;
    for (int64_t k = 0; k < K; ++k) dw[k] += a[k];
  }
}

#define NABI_DW_INST(T)                                                                      \
  template void depthwise_conv2d_forward<T>(const DepthwiseShape&, const T*, const T*, T*);  \
  template void depthwise_conv2d_backward_data<T>(const DepthwiseShape&, const T*, const T*, \
                                                  T*);                                       \
  template void depthwise_conv2d_backward_filter<T>(const DepthwiseShape&, const T*,         \
                                                    const T*, T*);
NABI_DW_INST(float)
NABI_DW_INST(double)
#undef NABI_DW_INST

}  // namespace nabi::cpu
