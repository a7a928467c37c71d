// Max and average pooling over NHWC tensors (see pooling.h). Channels are innermost, so every
// window element is a contiguous C-vector and the inner loops run over c (vectorised).
// Forward passes are threaded over (image, output row); 2x2 stride-2 max pooling of float32
// with C % 8 == 0 (the CNN case) has an AVX2 kernel keeping max and argmax in registers.
// Max-pool backward: when windows do
// not overlap (stride >= window: the usual 2x2/2) every dx element lies in at most one window
// and is written exactly once, dx = (argmax of its window == here) ? dy : 0, threaded over
// input rows (no zeroing pass, no scatter). Otherwise (and for avg-pool) backward is threaded
// over images (windows of one image may overlap, whole images never do), each image's dx
// zeroed just before its scatter so it stays in cache. Threads flush denormals (parallel_for).
// Test: PYTHONPATH=python python3 -m pytest tests/test_pooling_bn.py -q
#include "cpu/pooling.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cpu/parallel.h"

namespace nabi::cpu {
namespace {
// best[c], arg[c] <- xr[c], off + c where xr[c] > best[c] (ties keep the earlier element).
// Branch-free: with random data a branch mispredicts half the time (10x slower).
template <typename T>
inline void argmax_update(const T* xr, T* best, int32_t* arg, int nc, int32_t off) {
  for (int c = 0; c < nc; ++c) {
    const int32_t m = -static_cast<int32_t>(xr[c] > best[c]);
    arg[c] = (arg[c] & ~m) | ((off + c) & m);
    best[c] = xr[c] > best[c] ? xr[c] : best[c];
  }
}
#if defined(NABI_X86)
template <>
inline void argmax_update<float>(const float* xr, float* best, int32_t* arg, int nc,
                                 int32_t off) {
  int c = 0;
  __m128i idx = _mm_add_epi32(_mm_set1_epi32(off), _mm_setr_epi32(0, 1, 2, 3));
  const __m128i four = _mm_set1_epi32(4);
  for (; c + 4 <= nc; c += 4) {
    const __m128 v = _mm_loadu_ps(xr + c), b = _mm_loadu_ps(best + c);
    const __m128 gt = _mm_cmpgt_ps(v, b);
    const __m128i gi = _mm_castps_si128(gt);
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(arg + c));
    _mm_storeu_ps(best + c, _mm_or_ps(_mm_and_ps(gt, v), _mm_andnot_ps(gt, b)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(arg + c),
                     _mm_or_si128(_mm_and_si128(gi, idx), _mm_andnot_si128(gi, a)));
    idx = _mm_add_epi32(idx, four);
  }
  for (; c < nc; ++c) {
    const int32_t m = -static_cast<int32_t>(xr[c] > best[c]);
    arg[c] = (arg[c] & ~m) | ((off + c) & m);
    best[c] = xr[c] > best[c] ? xr[c] : best[c];
  }
}
#endif
inline void window(const Pool2dShape& s, int64_t oh, int64_t ow, int64_t* h0, int64_t* h1,
                   int64_t* w0, int64_t* w1) {
  const int64_t ih = oh * s.sh - s.pt, iw = ow * s.sw - s.pl;
  *h0 = std::max<int64_t>(ih, 0);
  *h1 = std::min<int64_t>(ih + s.KH, s.H);
  *w0 = std::max<int64_t>(iw, 0);
  *w1 = std::min<int64_t>(iw + s.KW, s.W);
}
#if defined(NABI_X86)
bool have_avx2() {
  static const bool v = __builtin_cpu_supports("avx2");
  return v;
}

// 2x2 windows, stride 2, no padding, every window inside the image, float32 with int32
// argmax (or none: idx null), C % 8 == 0: the four candidates compared in registers, 8 channels at a time
// (same order and strict '>' as the generic loop: the first maximum wins, NaN never does).
__attribute__((target("avx2"))) void max_pool_2x2_argmax_avx2(const Pool2dShape& s,
                                                               const float* x, float* y,
                                                               int32_t* idx, int64_t r0,
                                                               int64_t r1) {
  const int64_t C = s.C, W = s.W;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const int64_t img = n * s.H * W * C;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t o00 = img + ((2 * oh) * W + 2 * ow) * C;
      const int64_t o01 = o00 + C, o10 = o00 + W * C, o11 = o10 + C;
      float* yo = y + (r * s.OW + ow) * C;
      if (!idx) {
        for (int64_t c = 0; c < C; c += 8) {
          __m256 best = _mm256_loadu_ps(x + o00 + c);
          for (const int64_t off : {o01, o10, o11}) {
            const __m256 v = _mm256_loadu_ps(x + off + c);
            best = _mm256_blendv_ps(best, v, _mm256_cmp_ps(v, best, _CMP_GT_OQ));
          }
          _mm256_storeu_ps(yo + c, best);
        }
        continue;
      }
      int32_t* io = idx + (r * s.OW + ow) * C;
      for (int64_t c = 0; c < C; c += 8) {
        __m256 best = _mm256_loadu_ps(x + o00 + c);
        __m256i arg = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(o00 + c)), lane);
#define NABI_STEP(off)                                                                       \
  {                                                                                          \
    const __m256 v = _mm256_loadu_ps(x + (off) + c);                                         \
    const __m256 m = _mm256_cmp_ps(v, best, _CMP_GT_OQ);                                     \
    const __m256i id = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>((off) + c)), \
                                        lane);                                               \
    best = _mm256_blendv_ps(best, v, m);                                                     \
    arg = _mm256_castps_si256(                                                               \
        _mm256_blendv_ps(_mm256_castsi256_ps(arg), _mm256_castsi256_ps(id), m));             \
  }
        NABI_STEP(o01)
        NABI_STEP(o10)
        NABI_STEP(o11)
#undef NABI_STEP
        _mm256_storeu_ps(yo + c, best);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + c), arg);
      }
    }
  }
}
#endif
}  // namespace

template <typename T, typename I>
void max_pool_forward(const Pool2dShape& s, const T* x, T* y, I* idx) {
  const int64_t C = s.C;
  if (s.N * s.OH * s.OW * C == 0) return;
#if defined(NABI_X86)
  if constexpr (std::is_same_v<T, float> && std::is_same_v<I, int32_t>) {
    if (s.KH == 2 && s.KW == 2 && s.sh == 2 && s.sw == 2 && s.pt == 0 && s.pl == 0 &&
        2 * s.OH <= s.H && 2 * s.OW <= s.W && C % 8 == 0 && have_avx2()) {
      parallel_for(s.N * s.OH, s.OW * C * 4, [&](int64_t r0, int64_t r1) {
        max_pool_2x2_argmax_avx2(s, x, y, idx, r0, r1);
      });
      return;
    }
  }
#endif
  parallel_for(s.N * s.OH, s.OW * C * s.KH * s.KW, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / s.OH, oh = r % s.OH;
      const T* xn = x + n * s.H * s.W * C;
      const int64_t base = n * s.H * s.W * C;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        int64_t h0, h1, w0, w1;
        window(s, oh, ow, &h0, &h1, &w0, &w1);
        T* yo = y + (r * s.OW + ow) * C;
        I* io = idx ? idx + (r * s.OW + ow) * C : nullptr;
        if (h0 >= h1 || w0 >= w1) {  // empty window (only with padding >= window)
          for (int64_t c = 0; c < C; ++c) yo[c] = T(0);
          if (io)
            for (int64_t c = 0; c < C; ++c) io[c] = static_cast<I>(-1);
          continue;
        }
        const int64_t first = (h0 * s.W + w0) * C;
        if (!io) {
          for (int64_t c = 0; c < C; ++c) yo[c] = xn[first + c];
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w) {
              const T* xr = xn + (h * s.W + w) * C;
              for (int64_t c = 0; c < C; ++c) yo[c] = xr[c] > yo[c] ? xr[c] : yo[c];
            }
          continue;
        }
        // Argmax on local blocks (value + int32 offset inside the image) so that the
        // compare/blend loops vectorise; the image base is added once at the end.
        constexpr int CB = 64;
        for (int64_t c0 = 0; c0 < C; c0 += CB) {
          const int nc = static_cast<int>(std::min<int64_t>(CB, C - c0));
          T best[CB];
          int32_t arg[CB];
          for (int c = 0; c < nc; ++c) {
            best[c] = xn[first + c0 + c];
            arg[c] = static_cast<int32_t>(first + c0 + c);
          }
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w) {
              const int32_t off = static_cast<int32_t>((h * s.W + w) * C + c0);
              const T* xr = xn + off;
              argmax_update(xr, best, arg, nc, off);
            }
          for (int c = 0; c < nc; ++c) {
            yo[c0 + c] = best[c];
            io[c0 + c] = static_cast<I>(base + arg[c]);
          }
        }
      }
    }
  });
}

template <typename T, typename I>
void max_pool_backward(const Pool2dShape& s, const T* dy, const I* idx, T* dx) {
  const int64_t in_img = s.H * s.W * s.C, out_img = s.OH * s.OW * s.C;
  if (s.N * in_img == 0) return;
  parallel_for(s.N, in_img + out_img * 2, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* dxn = dx + n * in_img;
      std::memset(dxn, 0, sizeof(T) * in_img);
      const T* g = dy + n * out_img;
      const I* ix = idx + n * out_img;
      const int64_t lo = n * in_img, hi = lo + in_img;
      for (int64_t o = 0; o < out_img; ++o) {
        const int64_t k = static_cast<int64_t>(ix[o]);
        if (k >= lo && k < hi) dx[k] += g[o];
      }
    }
  });
}

template <typename T, typename I>
void max_pool_backward_disjoint(const Pool2dShape& s, const T* dy, const I* idx, T* dx) {
  const int64_t C = s.C, in_img = s.H * s.W * C, out_img = s.OH * s.OW * C;
  if (s.N * in_img == 0) return;
  parallel_for(s.N * s.H, s.W * C * 2, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / s.H, h = r % s.H;
      T* d = dx + r * s.W * C;
      const int64_t oh = (h + s.pt) / s.sh, rh = (h + s.pt) - oh * s.sh;
      if (rh >= s.KH || oh >= s.OH) {  // row in no window
        std::memset(d, 0, sizeof(T) * s.W * C);
        continue;
      }
      const T* grow = dy + n * out_img + oh * s.OW * C;
      const I* irow = idx + n * out_img + oh * s.OW * C;
      int64_t pos = n * in_img + h * s.W * C;  // flat index of (n, h, w = 0, c = 0)
      for (int64_t w = 0; w < s.W; ++w, d += C, pos += C) {
        const int64_t ow = (w + s.pl) / s.sw, rw = (w + s.pl) - ow * s.sw;
        if (rw >= s.KW || ow >= s.OW) {
          std::memset(d, 0, sizeof(T) * C);
          continue;
        }
        const T* __restrict gv = grow + ow * C;
        const I* __restrict iv = irow + ow * C;
        T* __restrict dv = d;
        const I p0 = static_cast<I>(pos);
        for (int64_t c = 0; c < C; ++c) {
          const T gc = gv[c];  // unconditional load: if-converted, vectorised
          dv[c] = iv[c] == p0 + static_cast<I>(c) ? gc : T(0);
        }
      }
    }
  });
}

template <typename T>
void avg_pool_forward(const Pool2dShape& s, const T* x, T* y) {
  const int64_t C = s.C;
  if (s.N * s.OH * s.OW * C == 0) return;
  parallel_for(s.N * s.OH, s.OW * C * s.KH * s.KW, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / s.OH, oh = r % s.OH;
      const T* xn = x + n * s.H * s.W * C;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        int64_t h0, h1, w0, w1;
        window(s, oh, ow, &h0, &h1, &w0, &w1);
        T* yo = y + (r * s.OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) yo[c] = T(0);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const T* xr = xn + (h * s.W + w) * C;
            for (int64_t c = 0; c < C; ++c) yo[c] += xr[c];
          }
        const int64_t cnt = std::max<int64_t>((h1 - h0) * (w1 - w0), 0);
        const T inv = cnt > 0 ? T(1) / T(cnt) : T(0);
        for (int64_t c = 0; c < C; ++c) yo[c] *= inv;
      }
    }
  });
}

template <typename T>
void avg_pool_backward(const Pool2dShape& s, const T* dy, T* dx) {
  const int64_t C = s.C, in_img = s.H * s.W * C, out_img = s.OH * s.OW * C;
  if (s.N * in_img == 0) return;
  parallel_for(s.N, in_img + out_img * s.KH * s.KW, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* dxn = dx + n * in_img;
      std::memset(dxn, 0, sizeof(T) * in_img);
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          int64_t h0, h1, w0, w1;
          window(s, oh, ow, &h0, &h1, &w0, &w1);
          const int64_t cnt = (h1 - h0) * (w1 - w0);
          if (cnt <= 0) continue;
          const T inv = T(1) / T(cnt);
          const T* g = dy + n * out_img + (oh * s.OW + ow) * C;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              T* d = dxn + (h * s.W + w) * C;
              for (int64_t c = 0; c < C; ++c) d[c] += g[c] * inv;
            }
        }
    }
  });
}

#define NABI_POOL_INST(T, I)                                                            \
  template void max_pool_forward<T, I>(const Pool2dShape&, const T*, T*, I*);           \
  template void max_pool_backward<T, I>(const Pool2dShape&, const T*, const I*, T*);   \
  template void max_pool_backward_disjoint<T, I>(const Pool2dShape&, const T*, const I*, T*);
NABI_POOL_INST(float, int32_t)
NABI_POOL_INST(float, int64_t)
NABI_POOL_INST(double, int32_t)
NABI_POOL_INST(double, int64_t)
template void avg_pool_forward<float>(const Pool2dShape&, const float*, float*);
template void avg_pool_forward<double>(const Pool2dShape&, const double*, double*);
template void avg_pool_backward<float>(const Pool2dShape&, const float*, float*);
template void avg_pool_backward<double>(const Pool2dShape&, const double*, double*);

}  // namespace nabi::cpu
