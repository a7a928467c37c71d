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
// On AVX-512 machines float32 3x3 (KW == 3) has AVX-512 kernels, described where they are
// defined: the forward (stride 1 or 2 along w, M 1, 2 or 4), the backward-data at stride 1
// and M == 1 (the same forward with the filter rotated by 180 degrees), and the filter
// gradient (M == 1, stride 1 along w; nine tap sums in
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

// ---- AVX-512 forward: float32, KW == 3, KH <= 3, stride 1 or 2 and dilation 1 along w,
// M (depth multiplier) 1, 2 or 4; any row stride, row dilation and padding ----
// Output rows go in groups of R (R = 2 when the row stride is 1 or 2, the row dilation 1 and
// KH 3: output row q reads input rows q*sh .. q*sh + 2 of the group's (R-1)*sh + 3, so the
// rows they share are loaded once; else R = 1). A group's pixels go in blocks of P (4 at
// R = 2, 8 at R = 1; then 2 and 1), each block swept over the 16-output-channel blocks in
// memory order (a channel-outer sweep walks C-float strides: 56x56x64 batch 32, one thread,
// 2.4 ms against 3.4 with whole-row strips). A block loads its nine tap vectors, then each
// input row's (P-1)*sw + 3 columns once, each column feeding the sums that use it at once
// (stride 1, R = 2: 24 column loads per 72 FMAs; GCC would fold a column's load into each of
// its FMAs, hence the asm barrier). Input rows outside the image (and filter rows past KH)
// point at a row of zeros and columns outside it are skipped (checked only in blocks that
// reach a border), so every pixel takes the same path. With M > 1 a block of output channels
// c*M + m reads 16/M input channels, spread over its lanes by one permute per column. Channel
// blocks as in ChanSplit, aligned to y (M == 1; else from channel 0): where x and y sit at
// different 16-byte phases, aligned stores beat aligned loads (32x14x14x256, one thread, x at
// each phase, y at 48 bytes: 0.55-0.75 ms aligned to x, 0.54-0.61 to y). Inputs over 16 MiB:
// row pairs prefetch the columns of the rows only the next pair reads into L2.
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
  return (s.M == 1 || s.M == 2 || s.M == 4) && s.KW == 3 && s.KH <= 3 &&
         (s.sw == 1 || s.sw == 2) && s.dw == 1 && have_avx512();
}

#define NABI_DW512 __attribute__((target("avx512f,avx2,fma")))
#define NABI_DW512_INLINE NABI_DW512 inline __attribute__((always_inline))
#define NABI_DW_UNROLL _Pragma("GCC unroll 32")

template <bool TAIL>
NABI_DW512_INLINE __m512 dw_ld(__mmask16 m, const float* p) {
  return TAIL ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps(p);
}
template <bool TAIL>
NABI_DW512_INLINE void dw_st(__mmask16 m, float* p, __m512 v) {
  if (TAIL) _mm512_mask_storeu_ps(p, m, v);
  else _mm512_storeu_ps(p, v);
}

// The 16-channel blocks of a sweep over C channels: full blocks at head, head + 16, ... below
// end, a masked block before them (channels [0, head), mask mh) and one after ([end, C), mt).
// When every pixel has the same alignment (C % 16 == 0) and C >= 128, head puts p + head on
// a 64-byte boundary: numpy buffers are only 16-byte aligned, and a 64-byte load that
// straddles two cache lines costs two (1x14x14x256 on one thread, ns per pixel and 16
// channels: forward 3.0 -> 2.4, filter gradient 3.4 -> 2.4). Below 128 channels the extra
// masked block costs more than the alignment saves. The loads of p's tensor are then aligned;
// the other tensor's may not be.
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

// Pixels per block: R*P sums, nine taps and a column in registers.
constexpr int fwd3_block_px(int R) { return R == 2 ? 4 : 8; }

// What a block needs besides its rows: input row width W, floats per input / output pixel
// (C, CM), the left padding, and the distance from a group's rows to the next group's (pf
// floats; 0: no prefetch).
struct Fwd3Geom {
  int64_t W, C, CM, pl, pf;
};

// The 16 output channels of one block: lanes of 16/M input channels from p (mask mi),
// lane l taking input channel l / M (spread).
template <int M, bool TAIL>
NABI_DW512_INLINE __m512 fwd3_ld(const float* p, __mmask16 m, __mmask16 mi, __m512i spread) {
  if constexpr (M == 1) return dw_ld<TAIL>(m, p);
  // (the zero-masked form: GCC 12 warns about the plain one's undefined pass-through)
  else return _mm512_maskz_permutexvar_ps(__mmask16(0xFFFF), spread, _mm512_maskz_loadu_ps(mi, p));
}

// Output pixels ow .. ow + P - 1 of the R rows: each input row's (P-1)*SW + 3 columns are
// loaded once (those outside the row skipped when CHECK), each feeding the sums that use it
// right away (few registers live: nine taps, R*P sums, one column).
template <int R, int SH, int SW, int M, int P, bool TAIL, bool CHECK, int NX>
NABI_DW512_INLINE void fwd3_block(const __m512 (&wv)[9], const float* const* xc,
                                  float* const* yc, const Fwd3Geom& g, int64_t ow,
                                  __mmask16 m, __mmask16 mi, __m512i spread) {
  const int64_t iw0 = ow * SW - g.pl;
  __m512 acc[R][P];
  NABI_DW_UNROLL for (int q = 0; q < R; ++q)
    NABI_DW_UNROLL for (int p = 0; p < P; ++p) acc[q][p] = _mm512_setzero_ps();
  if (!TAIL && g.pf)  // the same columns of the rows only the next group reads, into L2
    NABI_DW_UNROLL for (int k = NX - R * SH; k < NX; ++k)
      NABI_DW_UNROLL for (int jc = 0; jc < P * SW; ++jc)
        _mm_prefetch(reinterpret_cast<const char*>(xc[k] + (iw0 + jc) * g.C + g.pf),
                     _MM_HINT_T1);
  NABI_DW_UNROLL for (int k = 0; k < NX; ++k)
    NABI_DW_UNROLL for (int jc = 0; jc < (P - 1) * SW + 3; ++jc) {
      const int64_t iw = iw0 + jc;
      if (CHECK && (iw < 0 || iw >= g.W)) continue;
      __m512 v = fwd3_ld<M, TAIL>(xc[k] + iw * g.C, m, mi, spread);
      asm("" : "+v"(v));  // one load per column: keeps GCC from folding it into each FMA
      NABI_DW_UNROLL for (int q = 0; q < R; ++q) {
        const int i = k - q * SH;
        if (i < 0 || i > 2) continue;
        NABI_DW_UNROLL for (int j = 0; j < 3; ++j) {
          const int p = (jc - j) / SW;
          if (jc < j || (jc - j) % SW != 0 || p >= P) continue;
          acc[q][p] = _mm512_fmadd_ps(v, wv[i * 3 + j], acc[q][p]);
        }
      }
    }
  NABI_DW_UNROLL for (int q = 0; q < R; ++q)
    NABI_DW_UNROLL for (int p = 0; p < P; ++p) dw_st<TAIL>(m, yc[q] + (ow + p) * g.CM, acc[q][p]);
}

// fwd3_block, checking columns only where the block reaches a side of the image.
template <int R, int SH, int SW, int M, int P, bool TAIL, int NX>
NABI_DW512_INLINE void fwd3_block_at(const __m512 (&wv)[9], const float* const* xc,
                                     float* const* yc, const Fwd3Geom& g, int64_t ow,
                                     __mmask16 m, __mmask16 mi, __m512i spread) {
  const int64_t iw0 = ow * SW - g.pl;
  if (iw0 >= 0 && iw0 + (P - 1) * SW + 2 < g.W)
    fwd3_block<R, SH, SW, M, P, TAIL, false, NX>(wv, xc, yc, g, ow, m, mi, spread);
  else
    fwd3_block<R, SH, SW, M, P, TAIL, true, NX>(wv, xc, yc, g, ow, m, mi, spread);
}

// Pixels [o0, o1) (at most P) of output rows yr[0..R), output channels [ob, ob + 16) (mask
// m); output row q reads input rows xr[q*SH .. q*SH + 3); w: the 3x3 filter, CM floats a tap.
template <int R, int SH, int SW, int M, bool TAIL>
NABI_DW512_INLINE void fwd3_pixels_avx512(const float* const* xr, const float* w,
                                         float* const* yr, const Fwd3Geom& g, int64_t o0,
                                         int64_t o1, int64_t ob, __mmask16 m) {
  constexpr int NX = (R - 1) * SH + 3;
  constexpr int P = fwd3_block_px(R);
  __m512 wv[9];
  for (int t = 0; t < 9; ++t) wv[t] = dw_ld<TAIL>(m, w + t * g.CM + ob);
  const __mmask16 mi = M == 1 ? m : __mmask16((1u << (__builtin_popcount(m) / M)) - 1);
  __m512i spread = _mm512_setzero_si512();
  if constexpr (M > 1) {
    alignas(64) int32_t lanes[16];
    for (int l = 0; l < 16; ++l) lanes[l] = l / M;
    spread = _mm512_load_si512(lanes);
  }
  const float* xc[NX];
  for (int k = 0; k < NX; ++k) xc[k] = xr[k] + ob / M;
  float* yc[R];
  for (int q = 0; q < R; ++q) yc[q] = yr[q] + ob;
  int64_t ow = o0;
  if (ow + P <= o1) {
    fwd3_block_at<R, SH, SW, M, P, TAIL, NX>(wv, xc, yc, g, ow, m, mi, spread);
    return;
  }
  if constexpr (P > 4)
    for (; ow + 4 <= o1; ow += 4)
      fwd3_block_at<R, SH, SW, M, 4, TAIL, NX>(wv, xc, yc, g, ow, m, mi, spread);
  for (; ow + 2 <= o1; ow += 2)
    fwd3_block_at<R, SH, SW, M, 2, TAIL, NX>(wv, xc, yc, g, ow, m, mi, spread);
  for (; ow < o1; ++ow) fwd3_block_at<R, SH, SW, M, 1, TAIL, NX>(wv, xc, yc, g, ow, m, mi, spread);
}

// One group of R output rows (see fwd3_pixels_avx512), all pixels and channels.
template <int R, int SH, int SW, int M>
NABI_DW512 void fwd3_rows_avx512(const Fwd3Geom& g, const ChanSplit& cs, const float* const* xr,
                                 const float* w, float* const* yr, int64_t OW) {
#define NABI_DW_PIXELS(c, m, TAIL) \
  fwd3_pixels_avx512<R, SH, SW, M, TAIL>(xr, w, yr, g, o0, o1, c, m);
  for (int64_t o0 = 0; o0 < OW; o0 += fwd3_block_px(R)) {
    const int64_t o1 = std::min(OW, o0 + fwd3_block_px(R));
    NABI_DW_CHANNELS(cs, g.CM, NABI_DW_PIXELS)
  }
#undef NABI_DW_PIXELS
}

using Fwd3Rows = void (*)(const Fwd3Geom&, const ChanSplit&, const float* const*, const float*,
                          float* const*, int64_t);
template <int R, int SH>
Fwd3Rows fwd3_rows_for(int64_t sw, int64_t M) {
  if (sw == 1)
    return M == 1 ? fwd3_rows_avx512<R, SH, 1, 1>
                  : M == 2 ? fwd3_rows_avx512<R, SH, 1, 2> : fwd3_rows_avx512<R, SH, 1, 4>;
  return M == 1 ? fwd3_rows_avx512<R, SH, 2, 1>
                : M == 2 ? fwd3_rows_avx512<R, SH, 2, 2> : fwd3_rows_avx512<R, SH, 2, 4>;
}

NABI_DW512 void forward_3_avx512(const DepthwiseShape& s, const float* x, const float* w,
                                 float* y, int64_t r0, int64_t r1) {
  const int64_t C = s.C, CM = C * s.M, rowlen = s.W * C, OW = s.OW, sw = s.sw;
  const std::vector<float> zero(static_cast<size_t>(rowlen), 0.f);
  std::vector<float> w3(static_cast<size_t>(9 * CM), 0.f);  // 3x3, zero rows past KH
  std::memcpy(w3.data(), w, sizeof(float) * s.KH * 3 * CM);
  const ChanSplit cs = s.M == 1 ? chan_split(y, C)
                                : ChanSplit{0, CM / 16 * 16, 0, __mmask16((1u << (CM % 16)) - 1)};
  // inputs over 16 MiB (from DRAM): row pairs prefetch the rows of the next pair into L2
  const bool large = s.N * s.H * rowlen > (int64_t{4} << 20);
  const Fwd3Geom g1{s.W, C, CM, s.pl, 0}, g2{s.W, C, CM, s.pl, large ? 2 * s.sh * rowlen : 0};
  const bool pairs = s.KH == 3 && s.dh == 1 && (s.sh == 1 || s.sh == 2);
  const Fwd3Rows rows1 = fwd3_rows_for<1, 1>(sw, s.M);
  const Fwd3Rows rows2 = s.sh == 1 ? fwd3_rows_for<2, 1>(sw, s.M) : fwd3_rows_for<2, 2>(sw, s.M);
  const auto row = [&](const float* xn, int64_t h) {
    return h >= 0 && h < s.H ? xn + h * rowlen : zero.data();
  };
  for (int64_t r = r0; r < r1;) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * rowlen;
    const int64_t hb = oh * s.sh - s.pt;
    float* yr[2] = {y + r * OW * CM, y + (r + 1) * OW * CM};
    const float* xr[5];
    if (pairs && r + 1 < r1 && oh + 1 < s.OH) {
      for (int64_t k = 0; k < s.sh + 3; ++k) xr[k] = row(xn, hb + k);
      rows2(g2, cs, xr, w3.data(), yr, OW);
      r += 2;
    } else {
      for (int64_t i = 0; i < 3; ++i) xr[i] = i < s.KH ? row(xn, hb + i * s.dh) : zero.data();
      rows1(g1, cs, xr, w3.data(), yr, OW);
      r += 1;
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
  if (s.M != 1 || s.sh != 1 || s.sw != 1 || f.pt < 0 || f.pl < 0 || !fwd3_avx512_ok(s))
    return false;
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
