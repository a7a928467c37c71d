// 2-D convolution, float32/float64: x NHWC (N, H, W, C), w HWIO (KH, KW, C, CO), y NHWC
// (N, OH, OW, CO); any stride, dilation and explicit padding (top/left given, bottom/right
// implied by OH/OW: OH = (H + pt + pb - ((KH - 1) * dh + 1)) / sh + 1).
//
// Algorithms, chosen per call:
//
// 0. Winograd F(2x2, 3x3) (float32, 3x3, stride 1, dilation 1; forward, dx and dw/db):
//    conv2d_winograd.cpp, taken first wherever conv2d_winograd_use says it is faster
//    (NABI_CONV_WINOGRAD=0 / 1 forces it off / on). Stride 2, 4x4 (forward, dx, dw/db):
//    F(3x3, 2x2) / F(2x2, 3x3) over the sub-pixel phases, conv2d_winograd_phase.cpp.
// 1. Implicit GEMM (float32 on AVX2+FMA CPUs; dilation 1 along w, C >= 2, packed filter
//    <= 128 KiB; backward-data also needs stride 1 and C >= 8): the default for float32.
//    Each image is copied into a zero-padded buffer xp so that the KW*C inputs that output
//    pixel (oh, ow) meets in filter row i are ONE contiguous run of xp, equal to row i's
//    slice of the HWIO filter viewed as a (K, CO) matrix (K = KH*KW*C). A 6x16 register tile
//    (12 AVX accumulators) computes 6 output pixels x 16 output channels, reading A straight
//    from xp (6 row pointers, broadcast) and B from the filter packed once per call into
//    16-column k-major panels: no im2col copy, no A packing, bias + ReLU in registers.
//    On AVX-512 CPUs the tile is MR x 32 instead (MR = 6, 7 or 8, chosen to divide the
//    pixel count: 7 for 7x7 and 14x14 outputs) over 32-column panels, with K cut into
//    filter-row chunks that keep a panel chunk in L1 (conv2d_avx512.cpp). With padding, the
//    pixels go in groups that meet the same filter taps (border rows, border columns, the
//    interior: ig_tiles) and each tile skips the taps that fall in the zero padding ('same'
//    3x3 on 14x14: 9% of the work). The filter is
//    packed straight from w (also the flipped one for backward-data) into a reused
//    per-thread buffer, panels in parallel when large (no page faults on fresh blocks).
//    - backward-data (stride 1): the same kernel on dy padded by ((KH-1)*dh - pt, KW-1 - pl)
//      with the filter flipped and its channel axes swapped (the transposed convolution):
//      every dx element is written once, no col2im scatter, no zeroing; a fused ReLU's mask
//      is applied while dy is padded. With AVX-512 and little padding ('valid': that padded
//      dy would make >= 10% of the work zeros; a 6x6 -> 4x4 3x3 conv's dx 2.25x) dx is summed
//      tap by tap instead: dx[pixel + tap] += dy[pixel] @ w[tap]^T, MR x 32 tiles with K = CO
//      read straight from dy and adding into dx (c6 dx 0.76 -> 0.38 ms on one thread).
//    - a transposed convolution's forward (conv2d_backward_data) adds its bias and ReLU in the
//      tiles' registers, like the forward convolution.
//    - backward-filter (CO % 16 == 0): dW (K, CO) += col^T @ dY with col read from xp:
//      tile = 6 consecutive k of one filter row's contiguous run x 16 channels, reduced over
//      bands of >= 64 output pixels whose dY and input rows stay in L1; per-thread partials.
//      On AVX-512 CPUs the tile is 8 k x 32 channels (conv2d_avx512.cpp): half the partial
//      read-modify-writes per FMA, which is what held back large filters (the GAN's 4x4x128x128
//      dW: 77 -> 98 GFLOP/s on one thread).
//    Threads take whole images (parallel_for over N).
//    - narrow output (CO <= 8, C >= 2): dot products instead of 16-column panels. An
//      output value is KH dot products of length KW*C between the pixel's runs of xp and the
//      channel's filter (transposed to (CO, K)), 8 pixels per filter vector loaded; the
//      filter gradient holds 64 dW values in registers while a band of pixels streams past;
//      dx for CO == 1 at stride 1 is the C == 1 direct kernel (2.) on dy with the flipped
//      filter. (A generator's last 7x7 conv 128 -> 1, batch 64: forward 495 -> 6.3 ms.)
// 2. Direct convolution for C == 1 (the first layer: K = KH*KW is tiny): vectorised over CO;
//    for float32 with CO % 16 == 0 an AVX2 kernel does 4 pixels x 16 channels per step (each
//    pair of filter vectors feeds 8 FMAs), interior columns without per-tap bounds checks.
//    On AVX-512 CPUs (float32, any CO) conv2d_c1_avx512.cpp's tiles instead: 12 pixels x 32
//    channels, border pixels over their valid columns only (MNIST's 28x28x1 -> 32: 1.4x).
// 3. Tiled im2col + GEMM (float64, and the cases above exclude): the HWIO filter is already a
//    row-major (K, CO) matrix and one output pixel is the dot of an im2col row (K values: the
//    receptive field in (i, j, c) order, zeros where it falls in the padding) with it. The
//    output pixels are cut into tiles of R pixels such that the im2col tile (R x K) is ~192
//    KiB (it stays in L2 while the GEMM packs it); only one tile per thread ever exists
//    (thread_local scratch grown as needed and reused across calls: fresh multi-MB blocks
//    cost page faults). Per tile:
//      forward:          Y[tile] (R, CO) = col (R, K) @ W (K, CO), then a bias + ReLU epilogue;
//      backward-filter:  dW (K, CO) += col^T (K, R) @ dY[tile] (R, CO); db += column sums of dY;
//      backward-data:    dcol (R, K) = dY[tile] @ W^T (W^T built once per call), then col2im
//                        scatter-adds dcol into dX (each image's dX zeroed by its thread).
//    (With a fused ReLU the dY tile is first masked by y > 0 into scratch.) im2col copies whole
//    C-runs (and with dilation 1 whole KW*C runs of one input row) with memcpy.
//    Threads (OpenMP, FTZ/DAZ on): when there are at least as many images as threads (or
//    tiles, for the forward), the (image, tile) tasks are split between threads and each
//    calls nabi::cpu::gemm inside the parallel region, where it runs serially; backward-filter
//    keeps one dW/db partial per thread (owned by the calling thread, reused) and reduces them
//    at the end; backward-data gives each thread whole images so col2im never races. With
//    fewer images than threads the tiles run in order and the GEMM threads itself.
//
// Measured (bench/bench_conv.py, batch 100, 2 threads, this 2-core Zen 3): 14x14x32->64 3x3
// forward 3.8 ms raw (189 GFLOP/s, the GEMM micro-kernel's rate), fwd+bwd ~12.6 ms.
//
// Test / benchmark:
//   tools/dev-build.sh && PYTHONPATH=python python3 -m pytest tests/test_conv.py -q
//   PYTHONPATH=python /work/venv-bench/bin/python bench/bench_conv.py
#include "cpu/conv2d.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <tuple>
#include <type_traits>
#include <vector>

#include "cpu/conv2d_tiles.h"
#include "cpu/conv2d_winograd.h"
#include "cpu/conv2d_winograd_phase.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"

namespace nabi::cpu {
#if defined(NABI_X86)
namespace avx512 {  // conv2d_c1_avx512.cpp (KH <= 64); conv2d_avx512.cpp: conv2d_tiles.h
void conv2d_c1_rows_f32(const Conv2dShape& s, const float* x, const float* w, const float* b,
                        bool relu, float* y, int64_t r0, int64_t r1);
}  // namespace avx512
#endif
namespace {

template <typename T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <typename U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AlignedAlloc&) const { return true; }
  bool operator!=(const AlignedAlloc&) const { return false; }
};

template <typename T, int Tag>
T* scratch(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// The same, 64-byte aligned (packed filter panels: the tile kernels use aligned loads).
template <typename T, int Tag>
T* scratch_aligned(size_t n) {
  thread_local std::vector<T, AlignedAlloc<T>> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

template <typename T>
inline void zero(T* p, int64_t n) {
  if (n > 0) std::memset(p, 0, sizeof(T) * static_cast<size_t>(n));
}

template <typename T>
inline void add_to(T* __restrict d, const T* __restrict src, int64_t n) {
  for (int64_t k = 0; k < n; ++k) d[k] += src[k];
}

template <typename T>
inline void relu_mask(const T* __restrict g, const T* __restrict y, T* __restrict out,
                      int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    const T gv = g[k];  // unconditional load: lets the compiler if-convert and vectorise
    out[k] = y[k] > T(0) ? gv : T(0);
  }
}

// acc[c] += sum over rows of g (rows, cols). float: blocks of 64 rows are summed in float
// (vectorised) and each block's sums added to the double accumulators.
inline void col_sums(const float* __restrict g, double* __restrict acc, int64_t rows,
                     int64_t cols) {
  constexpr int64_t kCols = 256, kRows = 64;
  if (cols > kCols) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(g[r * cols + c]);
    return;
  }
  alignas(32) float part[kCols];
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int64_t r1 = std::min(rows, r0 + kRows);
    for (int64_t c = 0; c < cols; ++c) part[c] = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      const float* gr = g + r * cols;
      for (int64_t c = 0; c < cols; ++c) part[c] += gr[c];
    }
    for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(part[c]);
  }
}

template <typename T>
inline void col_sums(const T* __restrict g, double* __restrict acc, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(g[r * cols + c]);
}

// Valid j range [jlo, jhi) of the filter columns for an input column origin iw0 (dilation 1).
inline void j_range(int64_t iw0, int64_t KW, int64_t W, int64_t* jlo, int64_t* jhi) {
  int64_t lo = std::min(std::max<int64_t>(-iw0, 0), KW);
  int64_t hi = std::min(std::max<int64_t>(W - iw0, lo), KW);
  *jlo = lo;
  *jhi = hi;
}

// col (p1 - p0, K) <- receptive fields of output pixels [p0, p1) counted from image xn
// (H, W, C); the range may run on into the following images (pixel p of image p / P).
template <typename T>
void im2col(const Conv2dShape& s, const T* x0, int64_t p0, int64_t p1, T* col) {
  const int64_t C = s.C, KW = s.KW, KWC = KW * C, K = s.KH * KWC;
  const int64_t P = s.OH * s.OW, xs = s.H * s.W * C;
  for (int64_t q = p0; q < p1; ++q) {
    const int64_t p = q % P;
    const T* xn = x0 + (q / P) * xs;
    const int64_t oh = p / s.OW, ow = p % s.OW;
    const int64_t ih0 = oh * s.sh - s.pt, iw0 = ow * s.sw - s.pl;
    T* row = col + (q - p0) * K;
    for (int64_t i = 0; i < s.KH; ++i) {
      const int64_t ih = ih0 + i * s.dh;
      T* r = row + i * KWC;
      if (ih < 0 || ih >= s.H) {
        zero(r, KWC);
        continue;
      }
      const T* xr = xn + ih * s.W * C;
      if (s.dw == 1) {
        int64_t jlo, jhi;
        j_range(iw0, KW, s.W, &jlo, &jhi);
        zero(r, jlo * C);
        if (jhi > jlo)
          std::memcpy(r + jlo * C, xr + (iw0 + jlo) * C, sizeof(T) * (jhi - jlo) * C);
        zero(r + jhi * C, (KW - jhi) * C);
      } else {
        for (int64_t j = 0; j < KW; ++j) {
          const int64_t iw = iw0 + j * s.dw;
          if (iw < 0 || iw >= s.W)
            zero(r + j * C, C);
          else
            std::memcpy(r + j * C, xr + iw * C, sizeof(T) * C);
        }
      }
    }
  }
}

// dxn (H, W, C) += col2im(col) for output pixels [p0, p1) of one image.
template <typename T>
void col2im(const Conv2dShape& s, const T* col, int64_t p0, int64_t p1, T* dxn) {
  const int64_t C = s.C, KW = s.KW, KWC = KW * C, K = s.KH * KWC;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oh = p / s.OW, ow = p % s.OW;
    const int64_t ih0 = oh * s.sh - s.pt, iw0 = ow * s.sw - s.pl;
    const T* row = col + (p - p0) * K;
    for (int64_t i = 0; i < s.KH; ++i) {
      const int64_t ih = ih0 + i * s.dh;
      if (ih < 0 || ih >= s.H) continue;
      const T* r = row + i * KWC;
      T* dr = dxn + ih * s.W * C;
      if (s.dw == 1) {
        int64_t jlo, jhi;
        j_range(iw0, KW, s.W, &jlo, &jhi);
        const T* src = r + jlo * C;
        T* dst = dr + (iw0 + jlo) * C;
        add_to(dst, src, (jhi - jlo) * C);
      } else {
        for (int64_t j = 0; j < KW; ++j) {
          const int64_t iw = iw0 + j * s.dw;
          if (iw < 0 || iw >= s.W) continue;
          const T* src = r + j * C;
          add_to(dr + iw * C, src, C);
        }
      }
    }
  }
}

template <typename T>
inline void epilogue(T* y, int64_t rows, int64_t CO, const T* b, bool relu) {
  if (!b && !relu) return;
  for (int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * CO;
    if (b)
      for (int64_t c = 0; c < CO; ++c) yr[c] += b[c];
    if (relu)
      for (int64_t c = 0; c < CO; ++c) yr[c] = yr[c] < T(0) ? T(0) : yr[c];
  }
}

// ---- direct convolution for C == 1: output rows [r0, r1) of n*OH + oh ----
template <typename T, int CB>
__attribute__((always_inline)) inline void direct_block(const Conv2dShape& s, const T* xn,
                                                        const T* w, const T* b, bool relu,
                                                        int64_t oh, int64_t ow, int64_t co0,
                                                        int64_t nco, T* yp) {
  T acc[CB];
  const bool full = nco == CB;
  for (int k = 0; k < CB; ++k) acc[k] = (b && k < nco) ? b[co0 + k] : T(0);
  const int64_t ih0 = oh * s.sh - s.pt, iw0 = ow * s.sw - s.pl;
  for (int64_t i = 0; i < s.KH; ++i) {
    const int64_t ih = ih0 + i * s.dh;
    if (ih < 0 || ih >= s.H) continue;
    for (int64_t j = 0; j < s.KW; ++j) {
      const int64_t iw = iw0 + j * s.dw;
      if (iw < 0 || iw >= s.W) continue;
      const T xv = xn[ih * s.W + iw];
      const T* wr = w + (i * s.KW + j) * s.CO + co0;
      if (full) {
        for (int k = 0; k < CB; ++k) acc[k] += xv * wr[k];
      } else {
        for (int k = 0; k < nco; ++k) acc[k] += xv * wr[k];
      }
    }
  }
  if (relu)
    for (int k = 0; k < CB; ++k) acc[k] = acc[k] < T(0) ? T(0) : acc[k];
  if (full) {
    for (int k = 0; k < CB; ++k) yp[k] = acc[k];
  } else {
    for (int k = 0; k < nco; ++k) yp[k] = acc[k];
  }
}

template <typename T>
__attribute__((always_inline)) inline void direct_c1_body(const Conv2dShape& s, const T* x,
                                                          const T* w, const T* b, bool relu,
                                                          T* y, int64_t r0, int64_t r1) {
  constexpr int CB = 128 / sizeof(T);  // 4 AVX registers of accumulators
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const T* xn = x + n * s.H * s.W;
    T* yr = y + r * s.OW * s.CO;
    for (int64_t ow = 0; ow < s.OW; ++ow)
      for (int64_t co0 = 0; co0 < s.CO; co0 += CB)
        direct_block<T, CB>(s, xn, w, b, relu, oh, ow, co0, std::min<int64_t>(CB, s.CO - co0),
                            yr + ow * s.CO + co0);
  }
}

template <typename T>
void direct_c1_plain(const Conv2dShape& s, const T* x, const T* w, const T* b, bool relu, T* y,
                     int64_t r0, int64_t r1) {
  direct_c1_body(s, x, w, b, relu, y, r0, r1);
}

#if defined(NABI_X86)
template <typename T>
__attribute__((target("avx2,fma"))) void direct_c1_avx2(const Conv2dShape& s, const T* x,
                                                         const T* w, const T* b, bool relu, T* y,
                                                         int64_t r0, int64_t r1) {
  direct_c1_body(s, x, w, b, relu, y, r0, r1);
}
// float, CO % 16 == 0: four output pixels of one row x 16 output channels per step, so
// each pair of filter vectors loaded feeds 8 FMAs (4 broadcast inputs); pixels whose
// receptive field leaves the image (the left/right borders) go through direct_block.
__attribute__((target("avx2,fma"))) void direct_c1_avx2_f32_p4(const Conv2dShape& s,
                                                                const float* x, const float* w,
                                                                const float* b, bool relu,
                                                                float* y, int64_t r0,
                                                                int64_t r1) {
  const int64_t CO = s.CO, KW = s.KW;
  // Interior columns: iw0 = ow*sw - pl >= 0 and iw0 + (KW-1)*dw < W.
  int64_t lo = (s.pl + s.sw - 1) / s.sw;
  int64_t hi = s.W - 1 - (KW - 1) * s.dw + s.pl;  // ow*sw <= hi
  hi = hi < 0 ? 0 : hi / s.sw + 1;
  lo = std::min(lo, s.OW);
  hi = std::max(std::min(hi, s.OW), lo);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oh = r % s.OH;
    const float* xn = x + n * s.H * s.W;
    float* yr = y + r * s.OW * CO;
    const int64_t ih0 = oh * s.sh - s.pt;
    for (int64_t ow = 0; ow < lo; ++ow)
      for (int64_t co0 = 0; co0 < CO; co0 += 32)
        direct_block<float, 32>(s, xn, w, b, relu, oh, ow, co0, std::min<int64_t>(32, CO - co0),
                                yr + ow * CO + co0);
    int64_t ow = lo;
    for (; ow + 4 <= hi; ow += 4) {
      const int64_t iw0 = ow * s.sw - s.pl;
      for (int64_t co0 = 0; co0 < CO; co0 += 16) {
        __m256 a00, a01, a10, a11, a20, a21, a30, a31;
        if (b) {
          a00 = a10 = a20 = a30 = _mm256_loadu_ps(b + co0);
          a01 = a11 = a21 = a31 = _mm256_loadu_ps(b + co0 + 8);
        } else {
          a00 = a10 = a20 = a30 = a01 = a11 = a21 = a31 = zero;
        }
        for (int64_t i = 0; i < s.KH; ++i) {
          const int64_t ih = ih0 + i * s.dh;
          if (ih < 0 || ih >= s.H) continue;
          const float* xr = xn + ih * s.W + iw0;
          const float* wr = w + i * KW * CO + co0;
          for (int64_t j = 0; j < KW; ++j, wr += CO) {
            const __m256 w0 = _mm256_loadu_ps(wr), w1 = _mm256_loadu_ps(wr + 8);
            const float* xp = xr + j * s.dw;
            __m256 v = _mm256_broadcast_ss(xp);
            a00 = _mm256_fmadd_ps(v, w0, a00);
            a01 = _mm256_fmadd_ps(v, w1, a01);
            v = _mm256_broadcast_ss(xp + s.sw);
            a10 = _mm256_fmadd_ps(v, w0, a10);
            a11 = _mm256_fmadd_ps(v, w1, a11);
            v = _mm256_broadcast_ss(xp + 2 * s.sw);
            a20 = _mm256_fmadd_ps(v, w0, a20);
            a21 = _mm256_fmadd_ps(v, w1, a21);
            v = _mm256_broadcast_ss(xp + 3 * s.sw);
            a30 = _mm256_fmadd_ps(v, w0, a30);
            a31 = _mm256_fmadd_ps(v, w1, a31);
          }
        }
        if (relu) {
          a00 = _mm256_max_ps(zero, a00);
          a01 = _mm256_max_ps(zero, a01);
          a10 = _mm256_max_ps(zero, a10);
          a11 = _mm256_max_ps(zero, a11);
          a20 = _mm256_max_ps(zero, a20);
          a21 = _mm256_max_ps(zero, a21);
          a30 = _mm256_max_ps(zero, a30);
          a31 = _mm256_max_ps(zero, a31);
        }
        float* yp = yr + ow * CO + co0;
        _mm256_storeu_ps(yp, a00);
        _mm256_storeu_ps(yp + 8, a01);
        _mm256_storeu_ps(yp + CO, a10);
        _mm256_storeu_ps(yp + CO + 8, a11);
        _mm256_storeu_ps(yp + 2 * CO, a20);
        _mm256_storeu_ps(yp + 2 * CO + 8, a21);
        _mm256_storeu_ps(yp + 3 * CO, a30);
        _mm256_storeu_ps(yp + 3 * CO + 8, a31);
      }
    }
    for (; ow < s.OW; ++ow)
      for (int64_t co0 = 0; co0 < CO; co0 += 32)
        direct_block<float, 32>(s, xn, w, b, relu, oh, ow, co0, std::min<int64_t>(32, CO - co0),
                                yr + ow * CO + co0);
  }
}

bool have_avx2() {
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
}
bool have_avx512();
#endif

template <typename T>
void direct_c1(const Conv2dShape& s, const T* x, const T* w, const T* b, bool relu, T* y,
               int64_t r0, int64_t r1) {
#if defined(NABI_X86)
  if constexpr (std::is_same_v<T, float>) {  // P x 32 tiles, any CO (conv2d_c1_avx512.cpp)
    if (s.KH <= 64 && have_avx512())
      return avx512::conv2d_c1_rows_f32(s, x, w, b, relu, y, r0, r1);
  }
  if (have_avx2()) {
    if constexpr (std::is_same_v<T, float>) {
      if (s.CO % 16 == 0) return direct_c1_avx2_f32_p4(s, x, w, b, relu, y, r0, r1);
    }
    return direct_c1_avx2(s, x, w, b, relu, y, r0, r1);
  }
#endif
  direct_c1_plain(s, x, w, b, relu, y, r0, r1);
}

// Tile size in output pixels for an im2col tile of about `bytes`.
template <typename T>
int64_t tile_pixels(int64_t P, int64_t K, size_t bytes) {
  int64_t r = static_cast<int64_t>(bytes / (sizeof(T) * static_cast<size_t>(std::max<int64_t>(K, 1))));
  r = r >= 96 ? r / 48 * 48 : std::max<int64_t>(r, 8);
  return std::min(r, P);
}

constexpr size_t kTileBytes = 192 * 1024;      // tasks threaded outside GEMM
constexpr size_t kBigTileBytes = 2048 * 1024;  // GEMM threads itself

#if defined(NABI_X86)
// ---- implicit GEMM (float, AVX2+FMA, dilation 1 along w) ----
// One image at a time is copied into a zero-padded buffer xp (Hp, Wp, C), so that for
// output pixel (oh, ow) and filter row i the KW*C inputs it needs are one contiguous run
// xp[oh*sh + i*dh][ow*sw .. ow*sw + KW) -- exactly row i's slice of the HWIO filter viewed
// as a (K, CO) matrix. A 6x16 register tile (6 output pixels x 16 output channels, 12
// accumulators) then reads its A operand straight from xp (6 row pointers, broadcast) and
// its B operand from the filter packed once per call into 16-column k-major panels: no
// im2col copy and no A packing. Bias and ReLU are applied to the registers before the
// store. Backward-data for stride 1 is the same kernel on dy padded by (KH-1-pt, KW-1-pl)
// with the filter flipped and its channel axes swapped (no col2im scatter).
struct IgShape {
  int64_t H, W, C;      // input image (the source of the padded copy)
  int64_t off_h, off_w;  // xp[r][q] = x[r - off_h][q - off_w] (zero outside)
  int64_t Hp, Wp;       // padded buffer
  int64_t KH, KW, dh;   // filter rows/cols, row dilation
  int64_t sh, sw;       // strides
  int64_t OH, OW, CO;   // output image
};

// The padded-image geometry of the forward convolution (and of its filter gradient).
IgShape forward_ig_shape(const Conv2dShape& s) {
  return IgShape{s.H, s.W, s.C, s.pt, s.pl, (s.OH - 1) * s.sh + (s.KH - 1) * s.dh + 1,
                 (s.OW - 1) * s.sw + s.KW, s.KH, s.KW, s.dh, s.sh, s.sw, s.OH, s.OW, s.CO};
}

// Output pixel -> the offset of its receptive field's first run in xp.
std::vector<int64_t> pixel_offsets(const IgShape& g) {
  std::vector<int64_t> offs(static_cast<size_t>(g.OH * g.OW));  // pixel -> its xp run
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow)
      offs[oh * g.OW + ow] = (oh * g.sh * g.Wp + ow * g.sw) * g.C;
  return offs;
}

// xp <- padded copy of one image xn (H, W, C); with mask (same shape as xn), xn * (mask > 0).
__attribute__((target("avx2,fma"))) void ig_pad(const IgShape& g, const float* xn,
                                                 const float* mask, float* xp) {
  const int64_t C = g.C, rowlen = g.Wp * C;
  const int64_t q0 = std::max<int64_t>(g.off_w, 0);
  const int64_t q1 = std::min<int64_t>(g.W + g.off_w, g.Wp);
  for (int64_t r = 0; r < g.Hp; ++r) {
    float* d = xp + r * rowlen;
    const int64_t ih = r - g.off_h;
    if (ih < 0 || ih >= g.H || q1 <= q0) {
      std::memset(d, 0, sizeof(float) * rowlen);
      continue;
    }
    std::memset(d, 0, sizeof(float) * q0 * C);
    const float* src = xn + (ih * g.W + (q0 - g.off_w)) * C;
    const int64_t n = (q1 - q0) * C;
    if (mask) {
      const float* m = mask + (ih * g.W + (q0 - g.off_w)) * C;
      for (int64_t k = 0; k < n; ++k) {
        const float v = src[k];
        d[q0 * C + k] = m[k] > 0.0f ? v : 0.0f;
      }
    } else {
      std::memcpy(d + q0 * C, src, sizeof(float) * n);
    }
    std::memset(d + q1 * C, 0, sizeof(float) * (g.Wp - q1) * C);
  }
}

// Filter packing for the tile kernels: panels of nr columns (16 for ig_image, 32 for the
// AVX-512 tiles), k-major: wp[(j*K + k)*nr + l] = wk(k, nr*j + l), zero past the last column.
// Forward: wk is the (K, CO) HWIO filter itself. Backward-data (the transposed convolution),
// sub-pixel phase (rh, rw) of strides (sh, sw) with an (Mh, Mw) sub-filter (stride 1: the
// only phase, Mh = KH, Mw = KW): row k = (a*Mw + b)*CO + co, column c (a dx channel):
// wk(k, c) = w[((rh + sh*(Mh-1-a))*KW + rw + sw*(Mw-1-b))*C*CO + c*CO + co] -- the filter
// flipped with its channel axes swapped, read straight from w (no transposed copy).
void ig_pack_plain(const float* wk, int64_t K, int64_t cols, int64_t nr, float* wp, int64_t j) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < nr; ++l) {
      const int64_t c = j * nr + l;
      wp[(j * K + k) * nr + l] = c < cols ? wk[k * cols + c] : 0.0f;
    }
}

void ig_pack_flipped(const float* w, const Conv2dShape& s, int64_t rh, int64_t rw, int64_t Mh,
                     int64_t Mw, int64_t nr, float* wp, int64_t j) {
  const int64_t C = s.C, CO = s.CO, K = Mh * Mw * CO, nc = std::min(nr, C - j * nr);
  for (int64_t a = 0; a < Mh; ++a)
    for (int64_t b = 0; b < Mw; ++b) {
      const int64_t tap = (rh + s.sh * (Mh - 1 - a)) * s.KW + rw + s.sw * (Mw - 1 - b);
      const float* src = w + tap * C * CO + j * nr * CO;
      float* dst = wp + (j * K + (a * Mw + b) * CO) * nr;
      for (int64_t co = 0; co < CO; ++co, dst += nr) {
        for (int64_t l = 0; l < nc; ++l) dst[l] = src[l * CO + co];
        for (int64_t l = nc; l < nr; ++l) dst[l] = 0.0f;
      }
    }
}

// y (OH*OW, CO) of one image from its padded copy xp and the packed filter wp.
// yoffs (optional): pixel -> the offset of its CO outputs in y (default p * CO), so that a
// sub-pixel phase of a strided backward-data writes straight to its strided places in dx.
__attribute__((target("avx2,fma"))) void ig_image(const IgShape& g, const float* xp,
                                                   const float* wp, const float* bias,
                                                   bool relu, float* y, const int64_t* offs,
                                                   const int64_t* yoffs = nullptr) {
  const int64_t C = g.C, seg = g.KW * C, K = g.KH * seg, rs = g.dh * g.Wp * C;
  const int64_t P = g.OH * g.OW, panels = (g.CO + 15) / 16;
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t j = 0; j < panels; ++j) {
    const float* bp0 = wp + j * K * 16;
    const int64_t ncol = std::min<int64_t>(16, g.CO - j * 16);
    alignas(32) float bias16[16] = {};
    if (bias)
      for (int64_t l = 0; l < ncol; ++l) bias16[l] = bias[j * 16 + l];
    const __m256 bv0 = _mm256_load_ps(bias16), bv1 = _mm256_load_ps(bias16 + 8);
    for (int64_t p0 = 0; p0 < P; p0 += 6) {
      const int64_t nrow = std::min<int64_t>(6, P - p0);
      const float* a[6];
      for (int64_t i = 0; i < 6; ++i) a[i] = xp + offs[p0 + std::min<int64_t>(i, nrow - 1)];
      __m256 c00 = bv0, c01 = bv1, c10 = bv0, c11 = bv1, c20 = bv0, c21 = bv1;
      __m256 c30 = bv0, c31 = bv1, c40 = bv0, c41 = bv1, c50 = bv0, c51 = bv1;
      const float* bp = bp0;
      for (int64_t i = 0; i < g.KH; ++i) {
        const float *a0 = a[0] + i * rs, *a1 = a[1] + i * rs, *a2 = a[2] + i * rs;
        const float *a3 = a[3] + i * rs, *a4 = a[4] + i * rs, *a5 = a[5] + i * rs;
#pragma GCC unroll 4
        for (int64_t t = 0; t < seg; ++t) {
          const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
          bp += 16;
          __m256 v = _mm256_broadcast_ss(a0 + t);
          c00 = _mm256_fmadd_ps(v, b0, c00);
          c01 = _mm256_fmadd_ps(v, b1, c01);
          v = _mm256_broadcast_ss(a1 + t);
          c10 = _mm256_fmadd_ps(v, b0, c10);
          c11 = _mm256_fmadd_ps(v, b1, c11);
          v = _mm256_broadcast_ss(a2 + t);
          c20 = _mm256_fmadd_ps(v, b0, c20);
          c21 = _mm256_fmadd_ps(v, b1, c21);
          v = _mm256_broadcast_ss(a3 + t);
          c30 = _mm256_fmadd_ps(v, b0, c30);
          c31 = _mm256_fmadd_ps(v, b1, c31);
          v = _mm256_broadcast_ss(a4 + t);
          c40 = _mm256_fmadd_ps(v, b0, c40);
          c41 = _mm256_fmadd_ps(v, b1, c41);
          v = _mm256_broadcast_ss(a5 + t);
          c50 = _mm256_fmadd_ps(v, b0, c50);
          c51 = _mm256_fmadd_ps(v, b1, c51);
        }
      }
      if (relu) {
        c00 = _mm256_max_ps(zero, c00); c01 = _mm256_max_ps(zero, c01);
        c10 = _mm256_max_ps(zero, c10); c11 = _mm256_max_ps(zero, c11);
        c20 = _mm256_max_ps(zero, c20); c21 = _mm256_max_ps(zero, c21);
        c30 = _mm256_max_ps(zero, c30); c31 = _mm256_max_ps(zero, c31);
        c40 = _mm256_max_ps(zero, c40); c41 = _mm256_max_ps(zero, c41);
        c50 = _mm256_max_ps(zero, c50); c51 = _mm256_max_ps(zero, c51);
      }
      float* yo = y + p0 * g.CO + j * 16;
      if (yoffs && nrow == 6 && ncol == 16) {
        const int64_t* o = yoffs + p0;
        float* base = y + j * 16;
        _mm256_storeu_ps(base + o[0], c00); _mm256_storeu_ps(base + o[0] + 8, c01);
        _mm256_storeu_ps(base + o[1], c10); _mm256_storeu_ps(base + o[1] + 8, c11);
        _mm256_storeu_ps(base + o[2], c20); _mm256_storeu_ps(base + o[2] + 8, c21);
        _mm256_storeu_ps(base + o[3], c30); _mm256_storeu_ps(base + o[3] + 8, c31);
        _mm256_storeu_ps(base + o[4], c40); _mm256_storeu_ps(base + o[4] + 8, c41);
        _mm256_storeu_ps(base + o[5], c50); _mm256_storeu_ps(base + o[5] + 8, c51);
      } else if (yoffs) {
        alignas(32) float t[6][16];
        _mm256_store_ps(t[0], c00); _mm256_store_ps(t[0] + 8, c01);
        _mm256_store_ps(t[1], c10); _mm256_store_ps(t[1] + 8, c11);
        _mm256_store_ps(t[2], c20); _mm256_store_ps(t[2] + 8, c21);
        _mm256_store_ps(t[3], c30); _mm256_store_ps(t[3] + 8, c31);
        _mm256_store_ps(t[4], c40); _mm256_store_ps(t[4] + 8, c41);
        _mm256_store_ps(t[5], c50); _mm256_store_ps(t[5] + 8, c51);
        for (int64_t i = 0; i < nrow; ++i) {
          float* d = y + yoffs[p0 + i] + j * 16;
          if (ncol == 16) {
            _mm256_storeu_ps(d, _mm256_load_ps(t[i]));
            _mm256_storeu_ps(d + 8, _mm256_load_ps(t[i] + 8));
          } else {
            for (int64_t l = 0; l < ncol; ++l) d[l] = t[i][l];
          }
        }
      } else if (nrow == 6 && ncol == 16) {
        const int64_t L = g.CO;
        _mm256_storeu_ps(yo, c00); _mm256_storeu_ps(yo + 8, c01);
        _mm256_storeu_ps(yo + L, c10); _mm256_storeu_ps(yo + L + 8, c11);
        _mm256_storeu_ps(yo + 2 * L, c20); _mm256_storeu_ps(yo + 2 * L + 8, c21);
        _mm256_storeu_ps(yo + 3 * L, c30); _mm256_storeu_ps(yo + 3 * L + 8, c31);
        _mm256_storeu_ps(yo + 4 * L, c40); _mm256_storeu_ps(yo + 4 * L + 8, c41);
        _mm256_storeu_ps(yo + 5 * L, c50); _mm256_storeu_ps(yo + 5 * L + 8, c51);
      } else {
        alignas(32) float t[6][16];
        _mm256_store_ps(t[0], c00); _mm256_store_ps(t[0] + 8, c01);
        _mm256_store_ps(t[1], c10); _mm256_store_ps(t[1] + 8, c11);
        _mm256_store_ps(t[2], c20); _mm256_store_ps(t[2] + 8, c21);
        _mm256_store_ps(t[3], c30); _mm256_store_ps(t[3] + 8, c31);
        _mm256_store_ps(t[4], c40); _mm256_store_ps(t[4] + 8, c41);
        _mm256_store_ps(t[5], c50); _mm256_store_ps(t[5] + 8, c51);
        for (int64_t i = 0; i < nrow; ++i)
          for (int64_t l = 0; l < ncol; ++l) yo[i * g.CO + l] = t[i][l];
      }
    }
  }
}

// The AVX-512 tiles (conv2d_avx512.cpp): MR x 32 instead of 6 x 16, filter packed into
// 32-column panels. NABI_CONV_ISA=avx2 keeps the 6 x 16 tiles (to test or time them).
bool have_avx512() {
  static const bool v = [] {
    const char* e = std::getenv("NABI_CONV_ISA");
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") &&
           !(e && std::strcmp(e, "avx2") == 0);
  }();
  return v;
}

// A filter packed for one of the two tile kernels (in the calling thread's scratch), and the
// tile height.
struct IgPacked {
  const float* wp = nullptr;
  bool wide = false;  // 32-column panels for the AVX-512 tiles (else 16 for ig_image)
  int64_t nr = 16, mr = 6;
};

IgPacked ig_layout(int64_t P) {
  IgPacked pk;
  pk.wide = have_avx512();
  pk.nr = pk.wide ? 32 : 16;
  if (pk.wide) pk.mr = avx512::ig_pick_mr(P);
  return pk;
}

inline int64_t ig_packed_floats(int64_t K, int64_t cols, int64_t nr) {
  return (cols + nr - 1) / nr * K * nr;
}

void ig_image_any(const IgShape& g, const float* xp, const IgPacked& pk, const float* bias,
                  bool relu, float* y, const int64_t* offs, const int64_t* yoffs = nullptr) {
  if (pk.wide)
    avx512::ig_image_f32(pk.mr, xp, offs, g.OH * g.OW, g.KH, g.KW * g.C, g.dh * g.Wp * g.C,
                         pk.wp, g.CO, bias, relu, y, yoffs);
  else
    ig_image(g, xp, pk.wp, bias, relu, y, offs, yoffs);
}

// Tiles that skip xp's zero padding (the AVX-512 tiles). The output pixels are put in groups
// that meet the same filter taps: the output rows whose filter rows partly fall in the
// padding (whole rows, grouped by the filter rows [ilo, ihi) that meet the image), then the
// other pixels whose columns do (grouped by the columns [jlo, jhi) that do), then the
// interior. Each group runs as its own ig_image_f32 call with the tile height that suits its
// size (ig_pick_mr), and a tile sums only the hull of its pixels' filter rows [ilo, ihi) and
// run positions [jlo*C, jhi*C) -- all of them but the corners share theirs -- so the padding
// is left out (the taps skipped only ever added 0 * w). 'same' 3x3 on 14x14: 9.1% fewer
// multiply-adds (9.3% is all of the padding). Empty when no pixel meets the padding.
struct IgTiles {
  struct Group {
    int64_t p0, n, mr, t0;  // pixels [p0, p0 + n) of the order, tiles of mr from tile t0
  };
  std::vector<int64_t> offs, yoffs;  // pixel k of the new order: its xp run and y offsets
  std::vector<int32_t> ranges;       // per tile {ilo, ihi, tlo, thi}
  std::vector<Group> groups;
};

IgTiles ig_tiles(const IgShape& g) {
  IgTiles out;
  const int64_t P = g.OH * g.OW;
  struct Px {
    int64_t p, ilo, ihi, jlo, jhi;
  };
  // Taps k in [lo, hi) of an axis with 0 <= base + k*d - off < L (empty: lo = K, hi = 0).
  auto taps = [](int64_t base, int64_t d, int64_t K, int64_t off, int64_t L, int64_t* lo,
                 int64_t* hi) {
    int64_t a = 0, b = K;
    while (a < K && base + a * d - off < 0) ++a;
    while (b > a && base + (b - 1) * d - off >= L) --b;
    if (a >= b) a = K, b = 0;
    *lo = a, *hi = b;
  };
  std::vector<Px> order, inner;
  inner.reserve(static_cast<size_t>(P));
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    int64_t ilo, ihi;
    taps(oh * g.sh, g.dh, g.KH, g.off_h, g.H, &ilo, &ihi);
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      int64_t jlo, jhi;
      taps(ow * g.sw, 1, g.KW, g.off_w, g.W, &jlo, &jhi);
      Px q{oh * g.OW + ow, ilo, ihi, jlo, jhi};
      if (ilo >= ihi || jlo >= jhi) q = Px{q.p, g.KH, 0, g.KW, 0};  // all padding
      const bool full = ilo == 0 && ihi == g.KH && jlo == 0 && jhi == g.KW;
      (full ? inner : order).push_back(q);
    }
  }
  if (order.empty()) return out;
  // whole border rows first (row-major within a group), then border columns, then the rest
  auto key = [&](const Px& a) {
    if (a.ilo != 0 || a.ihi != g.KH)
      return std::make_tuple(0, a.ilo, a.ihi, int64_t{0}, int64_t{0});
    if (a.jlo != 0 || a.jhi != g.KW)
      return std::make_tuple(1, int64_t{0}, int64_t{0}, a.jlo, a.jhi);
    return std::make_tuple(2, int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0});
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](const Px& a, const Px& b) { return key(a) < key(b); });
  order.insert(order.end(), inner.begin(), inner.end());
  out.offs.resize(static_cast<size_t>(P));
  out.yoffs.resize(static_cast<size_t>(P));
  for (int64_t k = 0; k < P; ++k) {
    const int64_t p = order[k].p, oh = p / g.OW, ow = p % g.OW;
    out.offs[k] = (oh * g.sh * g.Wp + ow * g.sw) * g.C;
    out.yoffs[k] = p * g.CO;
  }
  for (int64_t g0 = 0, t = 0; g0 < P;) {
    int64_t g1 = g0 + 1;
    while (g1 < P && key(order[g1]) == key(order[g0])) ++g1;
    const int64_t mr = avx512::ig_pick_mr(g1 - g0);
    out.groups.push_back(IgTiles::Group{g0, g1 - g0, mr, t});
    for (int64_t p0 = g0; p0 < g1; p0 += mr, ++t) {
      int64_t ilo = g.KH, ihi = 0, jlo = g.KW, jhi = 0;
      for (int64_t k = p0; k < std::min(g1, p0 + mr); ++k) {
        ilo = std::min(ilo, order[k].ilo), ihi = std::max(ihi, order[k].ihi);
        jlo = std::min(jlo, order[k].jlo), jhi = std::max(jhi, order[k].jhi);
      }
      if (ilo >= ihi || jlo >= jhi) ilo = ihi = jlo = jhi = 0;
      for (int64_t v : {ilo, ihi, jlo * g.C, jhi * g.C})
        out.ranges.push_back(static_cast<int32_t>(v));
    }
    g0 = g1;
  }
  return out;
}

// One image's tiles by ig_tiles' groups (the AVX-512 tiles; tl not empty).
// offs / yoffs: the runs and output places of the tiles' pixel order (default tl's own).
void ig_image_groups(const IgShape& g, const float* xp, const IgPacked& pk, const IgTiles& tl,
                     const float* bias, bool relu, float* y, const int64_t* offs = nullptr,
                     const int64_t* yoffs = nullptr) {
  if (!offs) offs = tl.offs.data();
  if (!yoffs) yoffs = tl.yoffs.data();
  avx512::IgGroup gs[16];  // (a call per 16 groups: 'same' 3x3 makes 5, 7x7 13)
  int64_t n = 0;
  for (const IgTiles::Group& q : tl.groups) {
    gs[n++] = avx512::IgGroup{q.mr, q.n, offs + q.p0, yoffs + q.p0, tl.ranges.data() + 4 * q.t0};
    if (n == 16 || &q == &tl.groups.back()) {
      avx512::ig_groups_f32(gs, n, xp, g.KH, g.KW * g.C, g.dh * g.Wp * g.C, pk.wp, g.CO, bias,
                            relu, y);
      n = 0;
    }
  }
}

// Runs the tiles over N images (threaded over images); src images are (H, W, C) with stride
// src_img, outputs (OH*OW, CO) with stride OH*OW*CO; pk: the packed filter.
void ig_run(const IgShape& g, int64_t N, const float* src, const float* mask, const IgPacked& pk,
            const float* bias, bool relu, float* out) {
  const int64_t K = g.KH * g.KW * g.C;
  const int64_t img = g.H * g.W * g.C, oimg = g.OH * g.OW * g.CO;
  const size_t padn = static_cast<size_t>(g.Hp * g.Wp * g.C);
  const std::vector<int64_t> offs = pixel_offsets(g);
  const IgTiles tl = pk.wide ? ig_tiles(g) : IgTiles{};
  parallel_for(N, g.OH * g.OW * K * g.CO * 2, [&](int64_t n0, int64_t n1) {
    float* xp = scratch<float, 4>(padn + 8);
    for (int64_t n = n0; n < n1; ++n) {
      ig_pad(g, src + n * img, mask ? mask + n * img : nullptr, xp);
      float* y = out + n * oimg;
      if (tl.groups.empty()) {
        ig_image_any(g, xp, pk, bias, relu, y, offs.data());
        continue;
      }
      ig_image_groups(g, xp, pk, tl, bias, relu, y);
    }
  });
}

// Forward: the (K, CO) filter packed (in scratch; panels in parallel when large), then ig_run.
void ig_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, bool relu,
                float* y) {
  const IgShape g = forward_ig_shape(s);
  IgPacked pk = ig_layout(s.OH * s.OW);
  const int64_t K = s.KH * s.KW * s.C, panels = (s.CO + pk.nr - 1) / pk.nr;
  float* wp = scratch_aligned<float, 5>(static_cast<size_t>(ig_packed_floats(K, s.CO, pk.nr)));
  parallel_for(panels, K * pk.nr, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) ig_pack_plain(w, K, s.CO, pk.nr, wp, j);
  });
  pk.wp = wp;
  ig_run(g, s.N, x, nullptr, pk, b, relu, y);
}

// Backward-data as the implicit-GEMM forward of the transposed convolution: stride 1,
// dilation 1 along w; dx gets every element written once.
bool ig_dx_ok(const Conv2dShape& s) {
  return have_avx2() && s.sh == 1 && s.sw == 1 && s.dw == 1 && s.C >= 8 && s.CO >= 2 &&
         s.KH * s.KW * s.CO * 16 * 4 <= 128 * 1024;
}

void ig_backward_data(const Conv2dShape& s, const float* w, const float* dy,
                      const float* relu_y, float* dx, const float* bias = nullptr,
                      bool relu = false) {
  const int64_t KH = s.KH, KW = s.KW, C = s.C, CO = s.CO;
  IgShape g{s.OH, s.OW, CO, (KH - 1) * s.dh - s.pt, (KW - 1) - s.pl,
            (s.H - 1) + (KH - 1) * s.dh + 1, (s.W - 1) + KW, KH, KW, s.dh, 1, 1,
            s.H, s.W, C};
  IgPacked pk = ig_layout(s.H * s.W);
  const int64_t K = KH * KW * CO, panels = (C + pk.nr - 1) / pk.nr;
  float* wp = scratch_aligned<float, 5>(static_cast<size_t>(ig_packed_floats(K, C, pk.nr)));
  parallel_for(panels, K * pk.nr, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) ig_pack_flipped(w, s, 0, 0, KH, KW, pk.nr, wp, j);
  });
  pk.wp = wp;
  ig_run(g, s.N, dy, relu_y, pk, bias, relu, dx);
}

// Backward-data by filter tap (AVX-512 tiles), for small images whose padding is small next
// to the filter ('valid'): the transposed convolution above computes every dx pixel from
// all KH*KW taps of a dy padded by KH-1 / KW-1, so a 6x6 -> 4x4 'valid' 3x3 conv spends
// 36 / 16 = 2.25 times the useful work, the rest on zeros. Here dx (zeroed per image)
// receives, for each tap (i, j), dy[p] @ w[i, j]^T at dx pixel (oh + i*dh - pt, ow + j - pl)
// for the output pixels p whose target lies inside dx: MR x 32 tiles with K = CO read straight
// from dy (no padded copy), adding into dx (the tile kernel's acc mode).
bool ig_dx_scatter_ok(const Conv2dShape& s) {
  if (!have_avx512() || s.sh != 1 || s.sw != 1 || s.dw != 1 || s.C < 8 || s.CO < 8) return false;
  // The padded transposed convolution's work vs this one's: the accumulating tiles re-read
  // dx once per tap, so this pays only when a good share of the former is zeros.
  return s.H * s.W * 10 >= s.OH * s.OW * 11 && s.KH * s.KW >= 2;
}

void ig_backward_data_scatter(const Conv2dShape& s, const float* w, const float* dy,
                              const float* relu_y, float* dx) {
  const int64_t C = s.C, CO = s.CO, H = s.H, W = s.W, KH = s.KH, KW = s.KW;
  const int64_t OH = s.OH, OW = s.OW;
  struct Tap {
    std::vector<int64_t> offs, yoffs;  // pixel -> its CO dy values / its C dx values
    int64_t mr = 8;
  };
  std::vector<Tap> taps(static_cast<size_t>(KH * KW));
  const int64_t nr = 32, tapw = ig_packed_floats(CO, C, nr);
  for (int64_t i = 0; i < KH; ++i)
    for (int64_t j = 0; j < KW; ++j) {
      Tap& t = taps[i * KW + j];
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t ih = oh + i * s.dh - s.pt;
        if (ih < 0 || ih >= H) continue;
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t iw = ow + j - s.pl;
          if (iw < 0 || iw >= W) continue;
          t.offs.push_back((oh * OW + ow) * CO);
          t.yoffs.push_back((ih * W + iw) * C);
        }
      }
      t.mr = avx512::ig_pick_mr(static_cast<int64_t>(t.offs.size()));
    }
  // Each tap's w[i, j]^T (CO, C) packed into 32-column panels, (tap, panel) jobs in parallel.
  float* wbuf = scratch_aligned<float, 5>(static_cast<size_t>(KH * KW * tapw));
  const int64_t panels = (C + nr - 1) / nr;
  parallel_for(KH * KW * panels, CO * nr, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t tap = t / panels, j = t % panels;
      ig_pack_flipped(w, s, tap / KW, tap % KW, 1, 1, nr, wbuf + tap * tapw, j);
    }
  });
  const int64_t img = OH * OW * CO, dimg = H * W * C;
  parallel_for(s.N, OH * OW * KH * KW * CO * C * 2, [&](int64_t n0, int64_t n1) {
    float* gm = relu_y ? scratch<float, 1>(static_cast<size_t>(img)) : nullptr;
    for (int64_t n = n0; n < n1; ++n) {
      const float* g = dy + n * img;
      if (relu_y) {
        relu_mask(g, relu_y + n * img, gm, img);
        g = gm;
      }
      float* dxn = dx + n * dimg;
      zero(dxn, dimg);
      for (int64_t tap = 0; tap < KH * KW; ++tap) {
        const Tap& t = taps[tap];
        if (t.offs.empty()) continue;
        avx512::ig_image_f32(t.mr, g, t.offs.data(), static_cast<int64_t>(t.offs.size()), 1,
                             CO, 0, wbuf + tap * tapw, C, nullptr, false, dxn, t.yoffs.data(),
                             true);
      }
    }
  });
}

// Backward-data for stride > 1 (a Conv2DTranspose's forward; a strided conv's dx), dilation 1:
// the sub-pixel split. The dx positions whose (ih + pt) % sh == rh and (iw + pl) % sw == rw
// (one "phase") receive only the filter taps i = rh + sh*m, j = rw + sw*m': for them dx is a
// stride-1 convolution of dy with that (ceil(KH/sh), ceil(KW/sw)) sub-filter, flipped and
// with its channel axes swapped -- the implicit-GEMM kernel again, with no zero taps, no
// col2im scatter-add and no zeroing. Each phase's tiles store straight to its strided
// places in dx; phases that no tap reaches (kernel smaller than the stride) hold
// [relu](bias). Every dx element is written exactly once. dy is padded once per image for
// all phases (a phase reads its window of the shared buffer), and on AVX-512 each phase runs
// ig_tiles' groups, skipping the taps in dy's padding: 'same' 4x4 stride 2 on 7x7 -> 14x14
// (the GAN generator's first layer) does 14% fewer multiply-adds, 7% on 14x14 -> 28x28.
// Measured there, one thread, batch 64: 11.2 -> 10.0 ms and 44.2 -> 42.6 ms (Xeon, AVX-512).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

bool ig_dx_strided_ok(const Conv2dShape& s) {
  if (!have_avx2() || s.dh != 1 || s.dw != 1 || (s.sh == 1 && s.sw == 1) || s.CO < 2)
    return false;
  const int64_t mh = (s.KH + s.sh - 1) / s.sh, mw = (s.KW + s.sw - 1) / s.sw;
  return mh * mw * s.CO * 16 * 4 <= 128 * 1024;
}

void ig_backward_data_strided(const Conv2dShape& s, const float* w, const float* dy,
                              const float* relu_y, float* dx, const float* bias = nullptr,
                              bool relu = false) {
  const int64_t C = s.C, CO = s.CO, H = s.H, W = s.W, KH = s.KH, KW = s.KW;
  const int64_t sh = s.sh, sw = s.sw;
  // Per phase: its geometry, packed sub-filter, input offsets and dx offsets (per image).
  struct Phase {
    IgShape g;
    IgPacked pk;                       // packed (Mh*Mw*CO, C) sub-filter
    int64_t rh, rw, Mh, Mw, wofs;      // phase, sub-filter taps, packed offset in wbuf
    std::vector<int64_t> offs, yoffs;  // pixel -> xp run / dx element (image 0)
    IgTiles tl;                        // AVX-512: tiles that skip dy's zero padding
    bool zero;                         // no tap reaches it: dx is 0 there
  };
  std::vector<Phase> phases;
  int64_t wtotal = 0, offc_h = 0, offc_w = 0;
  for (int64_t rh = 0; rh < sh; ++rh)
    for (int64_t rw = 0; rw < sw; ++rw) {
      // dx rows ih = rh - pt + sh*q for q in [q0, q1]; columns likewise with p
      const int64_t q0 = -floor_div(rh - s.pt, sh), q1 = floor_div(H - 1 + s.pt - rh, sh);
      const int64_t p0 = -floor_div(rw - s.pl, sw), p1 = floor_div(W - 1 + s.pl - rw, sw);
      const int64_t Hq = q1 - q0 + 1, Wq = p1 - p0 + 1;
      if (Hq <= 0 || Wq <= 0) continue;
      const int64_t Mh = rh < KH ? (KH - rh + sh - 1) / sh : 0;
      const int64_t Mw = rw < KW ? (KW - rw + sw - 1) / sw : 0;
      Phase ph;
      ph.zero = Mh == 0 || Mw == 0;
      // dy row oh = q - m (m = Mh-1-a) sits at xp row (q - q0) + a: off_h = Mh-1 - q0
      ph.g = IgShape{s.OH, s.OW, CO, (Mh - 1) - q0, (Mw - 1) - p0, Hq + Mh - 1, Wq + Mw - 1,
                     Mh, Mw, 1, 1, 1, Hq, Wq, C};
      ph.yoffs.resize(static_cast<size_t>(Hq * Wq));
      for (int64_t u = 0; u < Hq; ++u)
        for (int64_t v = 0; v < Wq; ++v)
          ph.yoffs[u * Wq + v] = ((rh - s.pt + sh * (q0 + u)) * W + rw - s.pl + sw * (p0 + v)) * C;
      ph.rh = rh, ph.rw = rw, ph.Mh = Mh, ph.Mw = Mw, ph.wofs = wtotal;
      if (!ph.zero) {
        ph.pk = ig_layout(Hq * Wq);
        wtotal += ig_packed_floats(Mh * Mw * CO, C, ph.pk.nr);
        offc_h = std::max(offc_h, ph.g.off_h), offc_w = std::max(offc_w, ph.g.off_w);
      }
      phases.push_back(std::move(ph));
    }
  // dy is padded once per image, by the largest of the phases' offsets (gc), into a buffer
  // that holds every phase's padded view: phase (off_h, off_w) starts
  // (offc_h - off_h) rows and (offc_w - off_w) columns in and has gc's row length.
  IgShape gc{s.OH, s.OW, CO, offc_h, offc_w, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0};
  for (const Phase& ph : phases)
    if (!ph.zero) {
      gc.Hp = std::max(gc.Hp, offc_h - ph.g.off_h + ph.g.Hp);
      gc.Wp = std::max(gc.Wp, offc_w - ph.g.off_w + ph.g.Wp);
    }
  for (Phase& ph : phases) {
    if (ph.zero) continue;
    const int64_t shift = ((offc_h - ph.g.off_h) * gc.Wp + offc_w - ph.g.off_w) * CO;
    ph.g.Wp = gc.Wp;  // rows of the shared buffer
    if (ph.pk.wide) ph.tl = ig_tiles(ph.g);
    if (ph.tl.groups.empty()) {
      ph.offs = pixel_offsets(ph.g);
    } else {  // the tiles' order: its runs, and its pixels' places in dx
      ph.offs = std::move(ph.tl.offs);
      for (int64_t& o : ph.tl.yoffs) o = ph.yoffs[o / C];
      ph.yoffs = std::move(ph.tl.yoffs);
    }
    for (int64_t& o : ph.offs) o += shift;
  }
  // Every phase's sub-filter packed straight from w into one scratch buffer, the (phase,
  // panel) jobs in parallel (a GAN's 4x4x128x128 filter is 1 MiB).
  float* wbuf = scratch_aligned<float, 5>(static_cast<size_t>(wtotal));
  std::vector<std::pair<int64_t, int64_t>> jobs;  // (phase, panel)
  for (int64_t q = 0; q < static_cast<int64_t>(phases.size()); ++q) {
    Phase& ph = phases[q];
    if (ph.zero) continue;
    ph.pk.wp = wbuf + ph.wofs;
    for (int64_t j = 0; j < (C + ph.pk.nr - 1) / ph.pk.nr; ++j) jobs.emplace_back(q, j);
  }
  const int64_t job_cost = jobs.empty() ? 1 : (KH * KW * CO * 32) / (sh * sw);
  parallel_for(static_cast<int64_t>(jobs.size()), job_cost, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Phase& ph = phases[jobs[t].first];
      ig_pack_flipped(w, s, ph.rh, ph.rw, ph.Mh, ph.Mw, ph.pk.nr, wbuf + ph.wofs,
                      jobs[t].second);
    }
  });
  // Threads take whole images; each image is padded once and runs every phase while it stays
  // in cache, and each phase writes its dx elements in place (every dx element is written
  // exactly once).
  const int64_t img = s.OH * s.OW * CO, dimg = H * W * C;
  const size_t padn = static_cast<size_t>(gc.Hp * gc.Wp * CO);
  // What a phase that no tap reaches holds: [relu](bias), or zeros.
  std::vector<float> fill(static_cast<size_t>(C), 0.0f);
  if (bias)
    for (int64_t c = 0; c < C; ++c)
      fill[c] = relu ? (bias[c] < 0.0f ? 0.0f : bias[c]) : bias[c];
  parallel_for(s.N, H * W * C * std::max<int64_t>(1, s.KH * s.KW * CO / (sh * sw)) * 2,
               [&](int64_t n0, int64_t n1) {
    float* xp = scratch<float, 4>(padn + 8);
    for (int64_t n = n0; n < n1; ++n) {
      float* dxn = dx + n * dimg;
      if (padn) ig_pad(gc, dy + n * img, relu_y ? relu_y + n * img : nullptr, xp);
      for (const Phase& ph : phases) {
        if (ph.zero) {
          for (int64_t off : ph.yoffs) std::memcpy(dxn + off, fill.data(), sizeof(float) * C);
        } else if (ph.tl.groups.empty()) {
          ig_image_any(ph.g, xp, ph.pk, bias, relu, dxn, ph.offs.data(), ph.yoffs.data());
        } else {
          ig_image_groups(ph.g, xp, ph.pk, ph.tl, bias, relu, dxn, ph.offs.data(),
                          ph.yoffs.data());
        }
      }
    }
  });
}

// Backward-filter: dW (K, CO) += col^T @ dY per image, with col read straight from the
// padded image. Register tile: 6 consecutive k of one filter row's contiguous KW*C run x
// 16 output channels, reduced over the image's output pixels (A: 6 contiguous inputs of the
// pixel's receptive-field row, broadcast; B: 16 contiguous dY values of the pixel).
// part (K, CO) accumulates (loaded and stored once per image and tile).
__attribute__((target("avx2,fma"))) void ig_filter_image(const IgShape& g, const float* xp,
                                                          const float* dyn, float* part) {
  const int64_t C = g.C, seg = g.KW * C, CO = g.CO;
  // Bands of output rows (>= ~64 pixels) so that their dY rows and receptive-field rows
  // stay in L1 while every (k, co) tile passes over them.
  const int64_t band = std::max<int64_t>(1, (64 + g.OW - 1) / g.OW);
  for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band) {
  const int64_t oh1 = std::min(g.OH, oh0 + band);
  for (int64_t i = 0; i < g.KH; ++i) {
    const float* xrow0 = xp + i * g.dh * g.Wp * C;
    for (int64_t k0 = 0; k0 < seg; k0 += 6) {
      const int64_t nrow = std::min<int64_t>(6, seg - k0);
      float* dst = part + (i * seg + k0) * CO;
      for (int64_t j = 0; j < CO; j += 16) {
        __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 =
            _mm256_setzero_ps();
        const float* bp = dyn + oh0 * g.OW * CO + j;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const float* a = xrow0 + oh * g.sh * g.Wp * C + k0;
          const int64_t astep = g.sw * C;
          for (int64_t ow = 0; ow < g.OW; ++ow, a += astep, bp += CO) {
            const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
            __m256 v = _mm256_broadcast_ss(a);
            c00 = _mm256_fmadd_ps(v, b0, c00);
            c01 = _mm256_fmadd_ps(v, b1, c01);
            v = _mm256_broadcast_ss(a + 1);
            c10 = _mm256_fmadd_ps(v, b0, c10);
            c11 = _mm256_fmadd_ps(v, b1, c11);
            v = _mm256_broadcast_ss(a + 2);
            c20 = _mm256_fmadd_ps(v, b0, c20);
            c21 = _mm256_fmadd_ps(v, b1, c21);
            v = _mm256_broadcast_ss(a + 3);
            c30 = _mm256_fmadd_ps(v, b0, c30);
            c31 = _mm256_fmadd_ps(v, b1, c31);
            v = _mm256_broadcast_ss(a + 4);
            c40 = _mm256_fmadd_ps(v, b0, c40);
            c41 = _mm256_fmadd_ps(v, b1, c41);
            v = _mm256_broadcast_ss(a + 5);
            c50 = _mm256_fmadd_ps(v, b0, c50);
            c51 = _mm256_fmadd_ps(v, b1, c51);
          }
        }
        const __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
        for (int64_t r = 0; r < nrow; ++r) {
          float* d = dst + r * CO + j;
          _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[2 * r]));
          _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), acc[2 * r + 1]));
        }
      }
    }
  }
  }
}

bool ig_dw_ok(const Conv2dShape& s) {
  return have_avx2() && s.dw == 1 && s.C >= 1 && s.CO % 16 == 0;
}

// dw (K, CO) and db (CO) (either may be null) over all images; each thread takes whole
// images and keeps its own (K, CO) / (CO) partials, added at the end. image(g, xp, dy_n,
// part) adds one padded image's filter gradient into part (K, CO); with batch > 1,
// images(g, xp, padn, dy_n, nb, part) gets up to batch consecutive images at once (padded
// copies padn floats apart in xp, their dy P*CO apart), so that small images make long
// reductions.
template <typename ImageFn, typename ImagesFn>
void filter_grad_batched(const Conv2dShape& s, const float* x, const float* dy,
                         const float* relu_y, float* dw, float* db, int64_t batch,
                         ImageFn image, ImagesFn images);

template <typename ImageFn>
void filter_grad_over_images(const Conv2dShape& s, const float* x, const float* dy,
                             const float* relu_y, float* dw, float* db, ImageFn image) {
  filter_grad_batched(s, x, dy, relu_y, dw, db, 1, image,
                      [](const IgShape&, const float*, size_t, const float*, int64_t, float*) {});
}

template <typename ImageFn, typename ImagesFn>
void filter_grad_batched(const Conv2dShape& s, const float* x, const float* dy,
                         const float* relu_y, float* dw, float* db, int64_t batch,
                         ImageFn image, ImagesFn images) {
  const int64_t K = s.KH * s.KW * s.C, CO = s.CO, P = s.OH * s.OW;
  const int64_t img = s.H * s.W * s.C;
  const IgShape g = forward_ig_shape(s);
  const size_t padn = static_cast<size_t>(g.Hp * g.Wp * g.C);
  int nt = max_threads();
  if (nt > s.N) nt = static_cast<int>(s.N);
  if (nt < 1) nt = 1;
  const int64_t KC = dw ? K * CO : 0;
  float* dw_part = scratch<float, 2>(static_cast<size_t>(nt * KC + 1));
  double* db_part = scratch<double, 3>(static_cast<size_t>(nt * CO + 1));
  auto body = [&](int t, int T_) {
    FlushDenormals ftz;
    const int64_t n0 = s.N * t / T_, n1 = s.N * (t + 1) / T_;
    float* part = dw_part + t * KC;
    double* dbacc = db_part + t * CO;
    if (KC) std::fill(part, part + KC, 0.0f);
    std::fill(dbacc, dbacc + CO, 0.0);
    float* xp = dw ? scratch<float, 4>(padn * batch + 8) : nullptr;
    for (int64_t n = n0; n < n1; n += batch) {
      const int64_t nb = std::min(batch, n1 - n);
      const float* g_n = dy + n * P * CO;
      if (relu_y) {
        float* gm = scratch<float, 1>(static_cast<size_t>(nb * P * CO));
        relu_mask(g_n, relu_y + n * P * CO, gm, nb * P * CO);
        g_n = gm;
      }
      if (db) col_sums(g_n, dbacc, nb * P, CO);
      if (dw) {
        for (int64_t b = 0; b < nb; ++b) ig_pad(g, x + (n + b) * img, nullptr, xp + b * padn);
        if (batch > 1)
          images(g, xp, padn, g_n, nb, part);
        else
          image(g, xp, g_n, part);
      }
    }
  };
  if (nt <= 1) {
    body(0, 1);
  } else {
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num(), omp_get_num_threads());
  }
  if (db)
    for (int64_t c = 0; c < CO; ++c) {
      double acc = 0;
      for (int t = 0; t < nt; ++t) acc += db_part[t * CO + c];
      db[c] = static_cast<float>(acc);
    }
  if (KC)
    parallel_for(KC, nt, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        float acc = 0.0f;
        for (int t = 0; t < nt; ++t) acc += dw_part[t * KC + e];
        dw[e] = acc;
      }
    });
}

void ig_backward_filter(const Conv2dShape& s, const float* x, const float* dy,
                        const float* relu_y, float* dw, float* db) {
  if (have_avx512()) {  // MR x 32 tiles (conv2d_avx512.cpp)
    // Images of fewer than 64 output pixels go several at a time (a 4x4 output alone would
    // add its partial tile to part after every 16 pixels), their padded copies <= 256 KiB.
    const IgShape g0 = forward_ig_shape(s);
    const int64_t P = s.OH * s.OW, padn = g0.Hp * g0.Wp * g0.C;
    const int64_t batch = std::max<int64_t>(
        1, std::min<int64_t>((64 + P - 1) / P, 65536 / std::max<int64_t>(padn, 1)));
    auto images = [](const IgShape& g, const float* xp, size_t xstride, const float* dyn,
                     int64_t nb, float* part) {
      const int64_t rowlen = g.Wp * g.C;
      avx512::ig_filter_image_f32(xp, dyn, part, g.OH, g.OW, g.KH, g.KW * g.C, g.sh * rowlen,
                                  g.dh * rowlen, g.sw * g.C, g.CO, nb,
                                  static_cast<int64_t>(xstride));
    };
    filter_grad_batched(
        s, x, dy, relu_y, dw, db, batch,
        [&](const IgShape& g, const float* xp, const float* dyn, float* part) {
          images(g, xp, 0, dyn, 1, part);
        },
        images);
    return;
  }
  filter_grad_over_images(s, x, dy, relu_y, dw, db,
                          [](const IgShape& g, const float* xp, const float* dyn, float* part) {
                            ig_filter_image(g, xp, dyn, part);
                          });
}

bool ig_ok(const Conv2dShape& s) {
  // dilation 1 along w (contiguous KW*C runs); filter panels of at most ~128 KiB.
  return have_avx2() && s.dw == 1 && s.C >= 2 && s.KH * s.KW * s.C * 16 * 4 <= 128 * 1024;
}

// ---- narrow output (float, AVX2+FMA, dilation 1 along w, CO <= kNarrowCO) ----
// A convolution down to a few channels (an image generator's last layer: 128 -> 1 channel,
// 7x7) is one matrix-vector product per output channel. The implicit GEMM's 16-column
// panels would leave 15 of 16 lanes idle there, and the im2col path copies K values per
// pixel for a single dot product. Here, from the same zero-padded image copy xp, an output
// value is KH dot products of length KW*C: the pixel's contiguous run of xp in filter row i
// against row i's run of that channel's filter (the filter transposed once per call to
// (CO, K)). Eight pixels go together so that each filter vector loaded feeds eight FMAs
// (8 independent accumulators). Backward-filter is the mirror image: dW[co] (K) += dy[p, co]
// x run(p, i), 64 filter values held in 8 registers while a band of pixels streams past.
// Backward-data for CO == 1 and stride 1 is the transposed convolution of a 1-channel dy:
// the C == 1 direct kernel with the filter flipped.
constexpr int64_t kNarrowCO = 8;

bool narrow_ok(const Conv2dShape& s) {
  return have_avx2() && s.dw == 1 && s.C >= 2 && s.CO <= kNarrowCO;
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// y (OH*OW, CO) of one image from its padded copy xp and the (CO, K) filter wt.
__attribute__((target("avx2,fma"))) void narrow_image(const IgShape& g, const float* xp,
                                                       const float* wt, const float* bias,
                                                       bool relu, float* y,
                                                       const int64_t* offs) {
  const int64_t seg = g.KW * g.C, K = g.KH * seg, rs = g.dh * g.Wp * g.C;
  const int64_t P = g.OH * g.OW, CO = g.CO, vend = seg / 8 * 8;
  for (int64_t p0 = 0; p0 < P; p0 += 8) {
    const int64_t np = std::min<int64_t>(8, P - p0);
    const float* a[8];
    for (int q = 0; q < 8; ++q) a[q] = xp + offs[p0 + std::min<int64_t>(q, np - 1)];
    for (int64_t co = 0; co < CO; ++co) {
      __m256 c[8];
      float tail[8] = {};
      for (int q = 0; q < 8; ++q) c[q] = _mm256_setzero_ps();
      for (int64_t i = 0; i < g.KH; ++i) {
        const float* wr = wt + co * K + i * seg;
        const int64_t ro = i * rs;
        for (int64_t t = 0; t < vend; t += 8) {
          const __m256 wv = _mm256_loadu_ps(wr + t);
#pragma GCC unroll 8
          for (int q = 0; q < 8; ++q)
            c[q] = _mm256_fmadd_ps(_mm256_loadu_ps(a[q] + ro + t), wv, c[q]);
        }
        for (int64_t t = vend; t < seg; ++t)
          for (int q = 0; q < 8; ++q) tail[q] += a[q][ro + t] * wr[t];
      }
      const float b = bias ? bias[co] : 0.0f;
      for (int64_t q = 0; q < np; ++q) {
        float v = hsum8(c[q]) + tail[q] + b;
        if (relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN
        y[(p0 + q) * CO + co] = v;
      }
    }
  }
}

// wt (CO, K) <- the HWIO filter w viewed as (K, CO), transposed.
void transpose_kc(const float* w, int64_t K, int64_t CO, float* wt) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t co = 0; co < CO; ++co) wt[co * K + k] = w[k * CO + co];
}

void narrow_forward(const Conv2dShape& s, const float* x, const float* w, const float* b,
                    bool relu, float* y) {
  const IgShape g = forward_ig_shape(s);
  const int64_t K = s.KH * s.KW * s.C;
  std::vector<float> wt(static_cast<size_t>(K * s.CO));
  transpose_kc(w, K, s.CO, wt.data());
  const std::vector<int64_t> offs = pixel_offsets(g);
  const int64_t img = s.H * s.W * s.C, oimg = s.OH * s.OW * s.CO;
  const size_t padn = static_cast<size_t>(g.Hp * g.Wp * g.C);
  parallel_for(s.N, s.OH * s.OW * K * s.CO * 2, [&](int64_t n0, int64_t n1) {
    float* xp = scratch<float, 4>(padn + 8);
    for (int64_t n = n0; n < n1; ++n) {
      ig_pad(g, x + n * img, nullptr, xp);
      narrow_image(g, xp, wt.data(), b, relu, y + n * oimg, offs.data());
    }
  });
}

// part (K, CO) += the image's filter gradient: part[i*seg + k][co] += sum_p dy[p, co] *
// xp[offs[p] + i*rs + k]. Bands of output rows (>= ~64 pixels) keep their runs in L1 while
// the CO channels and 64-value blocks pass over them.
__attribute__((target("avx2,fma"))) void narrow_filter_image(const IgShape& g,
                                                              const float* xp,
                                                              const float* dyn, float* part,
                                                              const int64_t* offs) {
  const int64_t seg = g.KW * g.C, rs = g.dh * g.Wp * g.C, CO = g.CO;
  const int64_t band = std::max<int64_t>(1, (64 + g.OW - 1) / g.OW) * g.OW;
  const int64_t P = g.OH * g.OW;
  for (int64_t b0 = 0; b0 < P; b0 += band) {
    const int64_t b1 = std::min(P, b0 + band);
    for (int64_t i = 0; i < g.KH; ++i)
      for (int64_t k0 = 0; k0 < seg; k0 += 64)
        for (int64_t co = 0; co < CO; ++co) {
          float* dst = part + (i * seg + k0) * CO + co;  // stride CO
          const int64_t nk = std::min<int64_t>(64, seg - k0);
          if (nk < 64) {  // the run's tail: plain loops
            for (int64_t p = b0; p < b1; ++p) {
              const float d = dyn[p * CO + co];
              const float* src = xp + offs[p] + i * rs + k0;
              for (int64_t k = 0; k < nk; ++k) dst[k * CO] += d * src[k];
            }
            continue;
          }
          __m256 c[8];
          for (int j = 0; j < 8; ++j) c[j] = _mm256_setzero_ps();
          for (int64_t p = b0; p < b1; ++p) {
            const __m256 d = _mm256_broadcast_ss(dyn + p * CO + co);
            const float* src = xp + offs[p] + i * rs + k0;
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j)
              c[j] = _mm256_fmadd_ps(_mm256_loadu_ps(src + 8 * j), d, c[j]);
          }
          alignas(32) float sum[64];
          for (int j = 0; j < 8; ++j) _mm256_store_ps(sum + 8 * j, c[j]);
          for (int l = 0; l < 64; ++l) dst[l * CO] += sum[l];
        }
  }
}

void narrow_backward_filter(const Conv2dShape& s, const float* x, const float* dy,
                            const float* relu_y, float* dw, float* db) {
  const std::vector<int64_t> offs = pixel_offsets(forward_ig_shape(s));
  filter_grad_over_images(s, x, dy, relu_y, dw, db,
                          [&](const IgShape& g, const float* xp, const float* dyn, float* part) {
                            narrow_filter_image(g, xp, dyn, part, offs.data());
                          });
}

// Backward-data for CO == 1, stride 1: dx is the convolution of dy (one channel, padded by
// (KH-1)*dh - pt on top, (KW-1)*dw - pl on the left) with the flipped filter, whose output
// channels are the input's C -- the C == 1 direct kernel's case.
bool narrow_dx_ok(const Conv2dShape& s) {
  return have_avx2() && s.CO == 1 && s.sh == 1 && s.sw == 1 && s.pt <= (s.KH - 1) * s.dh &&
         s.pl <= (s.KW - 1) * s.dw;
}

void narrow_backward_data(const Conv2dShape& s, const float* w, const float* dy,
                          const float* relu_y, float* dx, const float* bias = nullptr,
                          bool relu = false) {
  const int64_t KH = s.KH, KW = s.KW, C = s.C;
  std::vector<float> wf(static_cast<size_t>(KH * KW * C));  // (KH, KW, 1, C), flipped
  for (int64_t i = 0; i < KH; ++i)
    for (int64_t j = 0; j < KW; ++j)
      std::memcpy(wf.data() + (i * KW + j) * C, w + ((KH - 1 - i) * KW + (KW - 1 - j)) * C,
                  sizeof(float) * C);
  const float* g = dy;
  std::vector<float> masked;
  if (relu_y) {
    const int64_t n = s.N * s.OH * s.OW;
    masked.resize(static_cast<size_t>(n));
    relu_mask(dy, relu_y, masked.data(), n);
    g = masked.data();
  }
  const Conv2dShape t{s.N, s.OH, s.OW, 1, KH, KW, C, s.H, s.W, 1, 1, s.dh, s.dw,
                      (KH - 1) * s.dh - s.pt, (KW - 1) * s.dw - s.pl};
  parallel_for(t.N * t.OH, t.OW * KH * KW * C * 2, [&](int64_t r0, int64_t r1) {
    direct_c1(t, g, wf.data(), bias, relu, dx, r0, r1);
  });
}
#endif

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, bool relu, T* y) {
  const int64_t P = s.OH * s.OW, K = s.KH * s.KW * s.C, CO = s.CO;
  if (s.N <= 0 || P <= 0 || CO <= 0) return;
  if (K == 0) {
    parallel_for(s.N * P, CO, [&](int64_t b0, int64_t b1) {
      for (int64_t r = b0; r < b1; ++r)
        for (int64_t c = 0; c < CO; ++c) y[r * CO + c] = b ? b[c] : T(0);
      epilogue(y + b0 * CO, b1 - b0, CO, static_cast<const T*>(nullptr), relu);
    });
    return;
  }
  if constexpr (std::is_same_v<T, float>) {  // 3x3 stride 1: conv2d_winograd.cpp
    if (conv2d_winograd_use(s, false)) return conv2d_winograd_forward(s, x, w, b, relu, y);
    if (conv2d_winograd_s2_use(s)) return conv2d_winograd_s2_forward(s, x, w, b, relu, y);
  }
  if (s.C == 1) {
    parallel_for(s.N * s.OH, s.OW * K * CO * 2, [&](int64_t r0, int64_t r1) {
      direct_c1(s, x, w, b, relu, y, r0, r1);
    });
    return;
  }
#if defined(NABI_X86)
  if constexpr (std::is_same_v<T, float>) {
    if (narrow_ok(s)) {
      narrow_forward(s, x, w, b, relu, y);
      return;
    }
    if (ig_ok(s)) {
      ig_forward(s, x, w, b, relu, y);
      return;
    }
  }
#endif
  // Tiles run over the flattened (image, pixel) index, so a tile may span images and all
  // tiles but the last have the same GEMM-friendly height.
  const int nt = max_threads();
  const int64_t NP = s.N * P;
  int64_t R = tile_pixels<T>(NP, K, kTileBytes);
  int64_t tiles = (NP + R - 1) / R;
  const bool outer = nt > 1 && tiles >= 2 * nt;
  if (!outer) {
    R = tile_pixels<T>(NP, K, kBigTileBytes);
    tiles = (NP + R - 1) / R;
  }
  auto task = [&](int64_t t) {
    const int64_t q0 = t * R, q1 = std::min(NP, q0 + R);
    T* col = scratch<T, 0>(static_cast<size_t>(R * K));
    im2col(s, x, q0, q1, col);
    T* yt = y + q0 * CO;
    gemm(false, false, q1 - q0, CO, K, T(1), col, K, w, CO, T(0), yt, CO);
    epilogue(yt, q1 - q0, CO, b, relu);
  };
  if (outer) {
    parallel_for(tiles, R * K * CO * 2, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) task(t);
    });
  } else {
    FlushDenormals ftz;
    for (int64_t t = 0; t < tiles; ++t) task(t);
  }
}

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dy, const T* relu_y,
                     T* dx, T* dw, T* db) {
  const int64_t P = s.OH * s.OW, K = s.KH * s.KW * s.C, CO = s.CO;
  const int64_t xs = s.H * s.W * s.C;
  if (dw) zero(dw, K * CO);
  if (db) zero(db, CO);
  if (s.N <= 0 || xs <= 0) return;
  if (P <= 0 || CO <= 0) {
    if (dx) zero(dx, s.N * xs);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (dx && conv2d_winograd_use(s, true)) {
      conv2d_winograd_backward_data(s, w, dy, relu_y, nullptr, false, dx);
      dx = nullptr;
    } else if (dx && conv2d_winograd_phase_use(s)) {
      conv2d_winograd_phase_backward_data(s, w, dy, relu_y, nullptr, false, dx);
      dx = nullptr;
    }
    if (dw && conv2d_winograd_use_filter(s)) {
      conv2d_winograd_backward_filter(s, x, dy, relu_y, dw, db);
      dw = db = nullptr;
    } else if (dw && conv2d_winograd_s2_use(s)) {
      conv2d_winograd_s2_backward_filter(s, x, dy, relu_y, dw, db);
      dw = db = nullptr;
    }
  }
#if defined(NABI_X86)
  if constexpr (std::is_same_v<T, float>) {
    if (dx && ig_dx_scatter_ok(s)) {
      ig_backward_data_scatter(s, w, dy, relu_y, dx);
      dx = nullptr;
    } else if (dx && ig_dx_ok(s)) {
      ig_backward_data(s, w, dy, relu_y, dx);
      dx = nullptr;
    } else if (dx && narrow_dx_ok(s)) {
      narrow_backward_data(s, w, dy, relu_y, dx);
      dx = nullptr;
    } else if (dx && ig_dx_strided_ok(s)) {
      ig_backward_data_strided(s, w, dy, relu_y, dx);
      dx = nullptr;
    }
    if ((dw || db) && K > 0) {
      if (!dx && ig_dw_ok(s)) {  // with dx still to do, the im2col path below shares col
        ig_backward_filter(s, x, dy, relu_y, dw, db);
        return;
      }
      if (narrow_ok(s)) {
        narrow_backward_filter(s, x, dy, relu_y, dw, db);
        dw = db = nullptr;
      }
    }
  }
#endif
  if (!dx && !dw && !db) return;
  const bool need_col = (dw != nullptr || dx != nullptr) && K > 0;
  int nt = max_threads();
  const int64_t flops = s.N * P * K * CO * 2 * ((dx ? 1 : 0) + (dw ? 1 : 0)) + s.N * P * CO;
  if (flops < 200000) nt = 1;
  const bool outer = nt > 1 && s.N >= nt;
  const int64_t R0 = tile_pixels<T>(P, K, outer ? kTileBytes : kBigTileBytes);
  const int64_t tiles = (P + R0 - 1) / R0;
  const int64_t R = (P + tiles - 1) / tiles;  // balanced: no thin last tile per image

  // W^T (CO, K) once, so the backward-data GEMM packs it with contiguous copies.
  std::vector<T> wt_buf;
  const T* wt = nullptr;
  if (dx && K > 0) {
    wt_buf.resize(static_cast<size_t>(K * CO));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < CO; ++c) wt_buf[c * K + k] = w[k * CO + c];
    wt = wt_buf.data();
  }

  // One image range; dwacc/dbacc are the accumulators (first write uses beta = 0). Each
  // image's dx is zeroed by the thread that fills it, just before (in cache, in parallel).
  auto run_images = [&](int64_t n0, int64_t n1, T* dwacc, double* dbacc, bool* dw_started) {
    for (int64_t n = n0; n < n1; ++n) {
      if (dx) zero(dx + n * xs, xs);
      for (int64_t tt = 0; tt < tiles; ++tt) {
        const int64_t p0 = tt * R, p1 = std::min(P, p0 + R), rows = p1 - p0;
        const T* g = dy + (n * P + p0) * CO;
        if (relu_y) {
          T* gm = scratch<T, 1>(static_cast<size_t>(R * CO));
          const T* yt = relu_y + (n * P + p0) * CO;
          relu_mask(g, yt, gm, rows * CO);
          g = gm;
        }
        if (dbacc) col_sums(g, dbacc, rows, CO);
        if (!need_col) continue;
        T* col = scratch<T, 0>(static_cast<size_t>(R * K));
        if (dwacc) {
          im2col(s, x + n * xs, p0, p1, col);
          gemm(true, false, K, CO, rows, T(1), col, K, g, CO, *dw_started ? T(1) : T(0), dwacc,
               CO);
          *dw_started = true;
        }
        if (dx) {
          gemm(false, false, rows, K, CO, T(1), g, CO, wt, K, T(0), col, K);
          col2im(s, col, p0, p1, dx + n * xs);
        }
      }
    }
  };

  if (!outer) {
    FlushDenormals ftz;
    std::vector<double> dbacc(db ? CO : 0, 0.0);
    bool started = false;
    run_images(0, s.N, dw && K > 0 ? dw : nullptr, db ? dbacc.data() : nullptr, &started);
    if (db)
      for (int64_t c = 0; c < CO; ++c) db[c] = static_cast<T>(dbacc[c]);
    return;
  }
  // Per-thread partials, owned by the calling thread and reused across calls.
  const int64_t KC = (dw && K > 0) ? K * CO : 0;
  T* dw_part = KC ? scratch<T, 2>(static_cast<size_t>(nt * KC)) : nullptr;
  double* db_part = db ? scratch<double, 3>(static_cast<size_t>(nt * CO)) : nullptr;
  std::vector<char> used(nt, 0);
#pragma omp parallel num_threads(nt)
  {
    FlushDenormals ftz;
    const int t = omp_get_thread_num(), T_ = omp_get_num_threads();
    const int64_t n0 = s.N * t / T_, n1 = s.N * (t + 1) / T_;
    double* dbacc = db_part ? db_part + t * CO : nullptr;
    if (dbacc) std::fill(dbacc, dbacc + CO, 0.0);
    bool started = false;
    run_images(n0, n1, KC ? dw_part + t * KC : nullptr, dbacc, &started);
    used[t] = started ? 1 : 0;
  }
  if (db)
    for (int64_t c = 0; c < CO; ++c) {
      double acc = 0;
      for (int t = 0; t < nt; ++t) acc += db_part[t * CO + c];
      db[c] = static_cast<T>(acc);
    }
  if (KC) {
    parallel_for(KC, nt, [&](int64_t e0, int64_t e1) {
      for (int t = 0; t < nt; ++t) {
        if (!used[t]) continue;
        const T* src = dw_part + t * KC;
        for (int64_t e = e0; e < e1; ++e) dw[e] += src[e];
      }
    });
  }
}

template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* w, const T* dy, const T* b, bool relu,
                          T* dx) {
  const int64_t xs = s.H * s.W * s.C;
  if (s.N <= 0 || xs <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (s.OH * s.OW > 0 && s.CO > 0 && conv2d_winograd_use(s, true))
      return conv2d_winograd_backward_data(s, w, dy, nullptr, b, relu, dx);
    if (s.OH * s.OW > 0 && s.CO > 0 && conv2d_winograd_phase_use(s))  // stride-2 4x4
      return conv2d_winograd_phase_backward_data(s, w, dy, nullptr, b, relu, dx);
  }
#if defined(NABI_X86)
  if constexpr (std::is_same_v<T, float>) {
    // The implicit-GEMM paths add the bias and apply the ReLU in registers, before the store.
    if (s.OH * s.OW > 0 && s.CO > 0) {
      if (ig_dx_ok(s)) return ig_backward_data(s, w, dy, nullptr, dx, b, relu);
      if (narrow_dx_ok(s)) return narrow_backward_data(s, w, dy, nullptr, dx, b, relu);
      if (ig_dx_strided_ok(s)) return ig_backward_data_strided(s, w, dy, nullptr, dx, b, relu);
    }
  }
#endif
  // Elsewhere: the plain backward-data (it does not read x), then a bias + ReLU pass over dx.
  conv2d_backward<T>(s, nullptr, w, dy, nullptr, dx, nullptr, nullptr);
  if (b || relu)
    parallel_for(s.N * s.H * s.W, s.C * 2, [&](int64_t r0, int64_t r1) {
      epilogue(dx + r0 * s.C, r1 - r0, s.C, b, relu);
    });
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*,
                                    bool, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*,
                                     const double*, bool, double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*,
                                     const float*, float*, float*, float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*,
                                      const double*, const double*, double*, double*, double*);
template void conv2d_backward_data<float>(const Conv2dShape&, const float*, const float*,
                                          const float*, bool, float*);
template void conv2d_backward_data<double>(const Conv2dShape&, const double*, const double*,
                                           const double*, bool, double*);

}  // namespace nabi::cpu
