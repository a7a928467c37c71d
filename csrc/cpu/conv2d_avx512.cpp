// AVX-512F implicit-GEMM tiles for conv2d (float32). This file is compiled with
// -mavx512f ... -mfma (CMakeLists.txt: *_avx512.cpp) and is entered only after conv2d.cpp
// checked __builtin_cpu_supports("avx512f").
//
// The algorithm is conv2d.cpp's implicit GEMM (see its opening comment): one image padded into
// xp, so that the KW*C inputs output pixel p meets in filter row i are one contiguous run
// xp[offs[p] + i*rs .. + seg), and y (P, CO) = sum over filter rows of those runs times the
// (K, CO) filter matrix. Here the register tile is MR pixels x 32 output channels (2*MR zmm
// accumulators; MR = 6, 7 or 8, picked per call so that MR divides the pixel count where it
// can: 7 for 14x14 and 7x7 outputs, 8 for 8x8, 16x16 ...), and the filter comes packed (by
// conv2d.cpp) into 32-column k-major panels: wp[(j*K + k)*32 + l] = w[k][32j + l], zero past
// CO, 64-byte aligned. Per k: two panel loads and MR broadcasts feed 2*MR FMAs. K is cut at
// filter-row boundaries into chunks of at most chunk_k() so that a chunk of a panel (3/4 of L1d)
// stays in L1 while every pixel tile passes over it (the tiles of every group of pixels, when
// conv2d.cpp splits them by the filter taps they meet); later chunks add to the tile the earlier
// ones stored (bias with the first chunk, ReLU after the last; with acc the first chunk adds
// to what y holds too: conv2d.cpp's per-tap backward-data sums its taps so). Columns past CO
// use masked loads/stores.
//   xp    padded image, rows rs floats apart      offs  (P) pixel -> its first run in xp
//   wp    (panels, K, 32) packed filter            y     (P, CO), or pixel p at y + yoffs[p]
// Test: PYTHONPATH=python python3 -m pytest -q tests/test_conv.py
// Bench: PYTHONPATH=python /work/venv-bench/bin/python bench/run.py conv
#if defined(NABI_X86)
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "cpu/conv2d_tiles.h"

namespace nabi::cpu::avx512 {
namespace {

// k per panel chunk: 3/4 of the L1 data cache (48 KiB: 288 k x 32 floats = 36 KiB, so a 3x3
// filter over 32 channels is one chunk: 14x14x32 -> 64 forward 2.74 -> 2.65 ms on one thread;
// 32 KiB, or unknown: 192).
int64_t chunk_k() {
  static const int64_t v = [] {
    const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    return std::max<int64_t>(64, (l1 > 0 ? l1 : 32768) * 3 / 4 / (32 * 4));
  }();
  return v;
}

inline __mmask16 cols_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// One (panel, K chunk) pass: the panel's columns [32j, 32j + 32) of the filter rows [i0, i1).
struct Pass {
  const float* xp;
  int64_t rs, seg, K, CO;
  const float* wp;  // the panel's first row
  float* y;         // the panel's first column
  int64_t i0, i1;
  bool first, last, relu, full;
  __mmask16 m0, m1;
  __m512 bv0, bv1;
};

// The pass over one group's pixels [0, P), MR at a time.
template <int MR>
void tiles(const Pass& q, const IgGroup& grp) {
  const int64_t P = grp.n, seg = q.seg;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t p0 = 0; p0 < P; p0 += MR) {
    const int64_t nrow = std::min<int64_t>(MR, P - p0);
    const float* a[MR];
    float* yr[MR];
    for (int r = 0; r < MR; ++r) {
      const int64_t k = p0 + std::min<int64_t>(r, nrow - 1);  // rows past P repeat the last
      a[r] = q.xp + grp.offs[k];
      yr[r] = q.y + (grp.yoffs ? grp.yoffs[k] : k * q.CO);
    }
    __m512 c0[MR], c1[MR];
    if (q.first) {
      for (int r = 0; r < MR; ++r) c0[r] = q.bv0, c1[r] = q.bv1;
    } else if (q.full) {
      for (int r = 0; r < MR; ++r)
        c0[r] = _mm512_loadu_ps(yr[r]), c1[r] = _mm512_loadu_ps(yr[r] + 16);
    } else {
      for (int r = 0; r < MR; ++r)
        c0[r] = _mm512_maskz_loadu_ps(q.m0, yr[r]), c1[r] = _mm512_maskz_loadu_ps(q.m1, yr[r] + 16);
    }
    // the tile's filter rows [ilo, ihi) and run positions [tlo, thi) that meet the image
    const int32_t* rg = grp.ranges ? grp.ranges + 4 * (p0 / MR) : nullptr;
    const int64_t ilo = rg ? std::max<int64_t>(q.i0, rg[0]) : q.i0;
    const int64_t ihi = rg ? std::min<int64_t>(q.i1, rg[1]) : q.i1;
    const int64_t tlo = rg ? rg[2] : 0, thi = rg ? rg[3] : seg;
    for (int64_t i = ilo; i < ihi; ++i) {
      const float* ar[MR];
      for (int r = 0; r < MR; ++r) ar[r] = a[r] + i * q.rs;
      const float* bp = q.wp + (i * seg + tlo) * 32;
#pragma GCC unroll 2
      for (int64_t t = tlo; t < thi; ++t) {
        const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        bp += 32;
        for (int r = 0; r < MR; ++r) {
          const __m512 v = _mm512_set1_ps(ar[r][t]);
          c0[r] = _mm512_fmadd_ps(v, b0, c0[r]);
          c1[r] = _mm512_fmadd_ps(v, b1, c1[r]);
        }
      }
    }
    if (q.relu && q.last)  // max(0, c) with 0 first: a NaN stays NaN, as TF's ReLU
      for (int r = 0; r < MR; ++r) {
        // (the all-ones masked form: GCC 12 warns about _mm512_max_ps's undefined source)
        c0[r] = _mm512_mask_max_ps(c0[r], __mmask16(0xFFFF), zero, c0[r]);
        c1[r] = _mm512_mask_max_ps(c1[r], __mmask16(0xFFFF), zero, c1[r]);
      }
    if (q.full && nrow == MR) {
      for (int r = 0; r < MR; ++r) {
        _mm512_storeu_ps(yr[r], c0[r]);
        _mm512_storeu_ps(yr[r] + 16, c1[r]);
      }
    } else {
      for (int r = 0; r < MR; ++r)
        if (r < nrow) {
          _mm512_mask_storeu_ps(yr[r], q.m0, c0[r]);
          _mm512_mask_storeu_ps(yr[r] + 16, q.m1, c1[r]);
        }
    }
  }
}

// Every group's tiles, panel by panel and chunk by chunk: a chunk of a panel is read into L1
// once for all the groups (the pixels that meet the padding, in their small groups, included).
void group_tiles(const float* xp, int64_t KH, int64_t seg, int64_t rs, const float* wp,
                 int64_t CO, const float* bias, bool relu, float* y, bool acc,
                 const IgGroup* groups, int64_t ngroups) {
  const int64_t K = KH * seg, panels = (CO + 31) / 32;
  const int64_t rows_per = std::max<int64_t>(1, chunk_k() / std::max<int64_t>(seg, 1));
  const __m512 zero = _mm512_setzero_ps();
  Pass q;
  q.xp = xp, q.rs = rs, q.seg = seg, q.K = K, q.CO = CO, q.relu = relu;
  for (int64_t j = 0; j < panels; ++j) {
    const int64_t ncol = std::min<int64_t>(32, CO - j * 32);
    q.full = ncol == 32;
    q.m0 = cols_mask(ncol), q.m1 = cols_mask(ncol - 16);
    q.bv0 = bias ? _mm512_maskz_loadu_ps(q.m0, bias + j * 32) : zero;
    q.bv1 = bias ? _mm512_maskz_loadu_ps(q.m1, bias + j * 32 + 16) : zero;
    q.wp = wp + j * K * 32, q.y = y + j * 32;
    for (int64_t i0 = 0; i0 < KH; i0 += rows_per) {
      q.i0 = i0, q.i1 = std::min(KH, i0 + rows_per);
      q.first = i0 == 0 && !acc, q.last = q.i1 == KH;
      for (int64_t g = 0; g < ngroups; ++g) {
        switch (groups[g].mr) {
          case 6: tiles<6>(q, groups[g]); break;
          case 7: tiles<7>(q, groups[g]); break;
          default: tiles<8>(q, groups[g]); break;
        }
      }
    }
  }
}

// Filter gradient of one padded image: part[(i*seg + k)][co] += sum over output pixels p of
// xp[run(p, i) + k] * dy[p][co]. Register tile: MR consecutive k of filter row i's run x 32
// channels (2*MR accumulators), reduced over a band of output rows whose dY rows and input
// runs stay in L1 while every (k, channel) tile of the band passes over them. Per pixel: two
// dY loads and MR broadcasts feed 2*MR FMAs; per tile, 2*MR partial vectors are added to part
// once (half as often per FMA as the AVX2 6 x 16 tile: a (K, CO) partial of 1 MiB lives in L3).
// Rows k past the run (the last tile of a run that MR does not divide) read up to MR - 1
// floats past it -- inside xp, allocated with 8 spare floats -- and are not stored. Columns
// past CO are masked.
template <int MR>
void filter_tiles(const float* xp, const float* dyn, float* part, int64_t OH, int64_t OW,
                  int64_t KH, int64_t seg, int64_t rs, int64_t dhrs, int64_t astep,
                  int64_t CO, int64_t nimg, int64_t xstride) {
  // several images: each band is all their rows (the caller batches only small images)
  const int64_t band = nimg > 1 ? OH : std::max<int64_t>(1, (64 + OW - 1) / OW);
  const int64_t ystride = OH * OW * CO;
  for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
    const int64_t oh1 = std::min(OH, oh0 + band);
    for (int64_t i = 0; i < KH; ++i) {
      const float* xrow0 = xp + i * dhrs;
      for (int64_t k0 = 0; k0 < seg; k0 += MR) {
        const int64_t nrow = std::min<int64_t>(MR, seg - k0);
        float* dst = part + (i * seg + k0) * CO;
        for (int64_t j = 0; j < CO; j += 32) {
          const __mmask16 m0 = cols_mask(CO - j), m1 = cols_mask(CO - j - 16);
          __m512 c0[MR], c1[MR];
          for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
          for (int64_t b = 0; b < nimg; ++b) {
            const float* bp = dyn + b * ystride + oh0 * OW * CO + j;
            for (int64_t oh = oh0; oh < oh1; ++oh) {
              const float* a = xrow0 + b * xstride + oh * rs + k0;
              for (int64_t ow = 0; ow < OW; ++ow, a += astep, bp += CO) {
                const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp);
                const __m512 b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
                for (int r = 0; r < MR; ++r) {
                  const __m512 v = _mm512_set1_ps(a[r]);
                  c0[r] = _mm512_fmadd_ps(v, b0, c0[r]);
                  c1[r] = _mm512_fmadd_ps(v, b1, c1[r]);
                }
              }
            }
          }
          for (int r = 0; r < MR; ++r) {
            if (r >= nrow) break;
            float* d = dst + r * CO + j;
            _mm512_mask_storeu_ps(d, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, d), c0[r]));
            _mm512_mask_storeu_ps(d + 16, m1,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m1, d + 16), c1[r]));
          }
        }
      }
    }
  }
}

}  // namespace

// part (KH*seg, CO) += the filter gradient of nimg padded images (xstride floats apart; output
// row oh's runs start oh*rs floats in, filter row i's i*dhrs further, consecutive output
// columns astep apart) and their output gradients dyn (nimg, OH*OW, CO).
void ig_filter_image_f32(const float* xp, const float* dyn, float* part, int64_t OH, int64_t OW,
                         int64_t KH, int64_t seg, int64_t rs, int64_t dhrs, int64_t astep,
                         int64_t CO, int64_t nimg, int64_t xstride) {
  filter_tiles<8>(xp, dyn, part, OH, OW, KH, seg, rs, dhrs, astep, CO, nimg, xstride);
}

// The tile height for P output pixels: the one of 8, 7, 6 that leaves the fewest padded rows
// (the larger on a tie).
int64_t ig_pick_mr(int64_t P) {
  int64_t best = 8, waste = (8 - P % 8) % 8;
  for (int64_t mr : {7, 6}) {
    const int64_t w = (mr - P % mr) % mr;
    if (w < waste) best = mr, waste = w;
  }
  return best;
}

// acc: the tiles add to what y holds (bias ignored) instead of overwriting it.
// ranges (optional): per tile of mr pixels (p0 = mr * t), {ilo, ihi, tlo, thi}: only filter
// rows [ilo, ihi) and run positions [tlo, thi) are summed (the rest of its pixels' runs lie
// in xp's zero padding: conv2d.cpp's ig_tiles).
void ig_image_f32(int64_t mr, const float* xp, const int64_t* offs, int64_t P, int64_t KH,
                  int64_t seg, int64_t rs, const float* wp, int64_t CO, const float* bias,
                  bool relu, float* y, const int64_t* yoffs, bool acc, const int32_t* ranges) {
  const IgGroup g{mr, P, offs, yoffs, ranges};
  group_tiles(xp, KH, seg, rs, wp, CO, bias, relu, y, acc, &g, 1);
}

void ig_groups_f32(const IgGroup* groups, int64_t ngroups, const float* xp, int64_t KH,
                   int64_t seg, int64_t rs, const float* wp, int64_t CO, const float* bias,
                   bool relu, float* y) {
  group_tiles(xp, KH, seg, rs, wp, CO, bias, relu, y, false, groups, ngroups);
}

}  // namespace nabi::cpu::avx512
#endif
