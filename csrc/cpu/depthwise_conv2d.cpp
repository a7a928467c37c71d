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
//   forward          threaded over output rows (n, oh); each output pixel is accumulated in
//                    place over its valid taps.
//   backward-data    a gather, threaded over input rows (n, h): input pixel (h, w) adds the
//                    dy pixels (oh, ow) with oh*sh = h + pt - i*dh (likewise w) times tap
//                    (i, j); every dx element is written by one thread (no scatter, no race).
//   backward-filter  output rows cut into P contiguous chunks (P = threads), each summed
//                    into its own (KH, KW, C*M) partial, then the partials are added in chunk
//                    order (deterministic for a given thread count).
// Test: PYTHONPATH=python python3 -m pytest -q tests/test_depthwise_conv.py
// Bench: PYTHONPATH=python /work/venv-bench/bin/python bench/run.py conv
#include "cpu/depthwise_conv2d.h"

#include <algorithm>
#include <cmath>
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

template <typename T>
__attribute__((target("avx2,fma"))) void forward_avx2(const DepthwiseShape& s, const T* x,
                                                      const T* w, T* y, int64_t r0,
                                                      int64_t r1) {
  if constexpr (std::is_same_v<T, float>) {
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
