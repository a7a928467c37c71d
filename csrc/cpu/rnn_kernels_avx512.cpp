// AVX-512 pieces of the fused recurrent kernels (float32; this file is compiled with
// -mavx512f/dq/bw/vl -mfma, see CMakeLists.txt, and entered only when rnn::simd_level()
// says 2, i.e. the CPU has all four and the GEMM dispatcher picked avx512).
//
// * packed_step: the recurrent-step GEMM C[M, N] = A[M, K] @ B + beta * C on the 16-column
//   panels of pack_b16 (rnn_common.h), so it shares StepB's packing with the AVX2 kernel.
//   Blocking: groups of up to 4 panels (64 columns, 4 zmm) by 6 rows = 24 zmm accumulators;
//   per k, 4 aligned-stride panel loads and 6 broadcasts of A feed 24 FMAs. Groups are the
//   outer loop, so one group's panels (K x 64 floats: 32 KiB at K = 128) stay in L1 while
//   every row block of A (the batch rows of one thread) streams past. The last panel may
//   be partial (masked loads/stores of C); the panels themselves are zero-padded.
// * exp16 / sigmoid / tanh: the same Cephes-style polynomials as the AVX2 ones in
//   rnn_common.cpp on 16 lanes (masked tails, so no scalar loop).
// * lstm_cell_forward / lstm_cell_backward: one fused pass per batch row for the default
//   activations (sigmoid gates, tanh cell): bias, the four gate activations, the cell and
//   output updates (forward), or the four gate gradients and the carried dc (backward).
#if defined(NABI_X86)
#include <immintrin.h>

#include <cstdint>

#include "cpu/rnn_common.h"

namespace nabi::cpu::rnn::avx512 {

namespace {

inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Accumulators are named variables c<row><panel> (24 zmm), kept in registers.
#define NABI_R6(X, p) X(0, p) X(1, p) X(2, p) X(3, p) X(4, p) X(5, p)
#define NABI_ALL(X) NABI_R6(X, 0) NABI_R6(X, 1) NABI_R6(X, 2) NABI_R6(X, 3)
#define NABI_DECL(r, p) __m512 c##r##p = _mm512_setzero_ps();
#define NABI_FMA(r, p) \
  if constexpr (MR > r && NP > p) c##r##p = _mm512_fmadd_ps(a##r, b##p, c##r##p);
#define NABI_STORE(r, p)                                                                   \
  if constexpr (MR > r && NP > p) {                                                        \
    float* cp = C + r * ldc + p * 16;                                                      \
    const __mmask16 m = p == NP - 1 ? last : __mmask16(0xFFFF);                            \
    if (beta != 0.0f) c##r##p = _mm512_add_ps(c##r##p, _mm512_maskz_loadu_ps(m, cp));      \
    _mm512_mask_storeu_ps(cp, m, c##r##p);                                                 \
  }

template <int MR, int NP>
inline void micro(int64_t K, const float* A, int64_t lda, const float* bp, int64_t pstride,
                  float beta, float* C, int64_t ldc, __mmask16 last) {
  NABI_ALL(NABI_DECL)
  const float* b0p = bp;
  const float* b1p = bp + (NP > 1 ? pstride : 0);
  const float* b2p = bp + (NP > 2 ? 2 * pstride : 0);
  const float* b3p = bp + (NP > 3 ? 3 * pstride : 0);
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b0p + k * 16);
    const __m512 b1 = NP > 1 ? _mm512_loadu_ps(b1p + k * 16) : b0;
    const __m512 b2 = NP > 2 ? _mm512_loadu_ps(b2p + k * 16) : b0;
    const __m512 b3 = NP > 3 ? _mm512_loadu_ps(b3p + k * 16) : b0;
    const __m512 a0 = _mm512_set1_ps(A[k]);
    const __m512 a1 = MR > 1 ? _mm512_set1_ps(A[lda + k]) : a0;
    const __m512 a2 = MR > 2 ? _mm512_set1_ps(A[2 * lda + k]) : a0;
    const __m512 a3 = MR > 3 ? _mm512_set1_ps(A[3 * lda + k]) : a0;
    const __m512 a4 = MR > 4 ? _mm512_set1_ps(A[4 * lda + k]) : a0;
    const __m512 a5 = MR > 5 ? _mm512_set1_ps(A[5 * lda + k]) : a0;
    NABI_ALL(NABI_FMA)
  }
  NABI_ALL(NABI_STORE)
}
#undef NABI_R6
#undef NABI_ALL
#undef NABI_DECL
#undef NABI_FMA
#undef NABI_STORE

template <int NP>
void group(int64_t M, int64_t K, const float* A, int64_t lda, const float* bp, int64_t pstride,
           float beta, float* C, int64_t ldc, __mmask16 last) {
  int64_t r = 0;
  for (; r + 6 <= M; r += 6)
    micro<6, NP>(K, A + r * lda, lda, bp, pstride, beta, C + r * ldc, ldc, last);
  const float* a = A + r * lda;
  float* c = C + r * ldc;
  switch (M - r) {
    case 5: micro<5, NP>(K, a, lda, bp, pstride, beta, c, ldc, last); break;
    case 4: micro<4, NP>(K, a, lda, bp, pstride, beta, c, ldc, last); break;
    case 3: micro<3, NP>(K, a, lda, bp, pstride, beta, c, ldc, last); break;
    case 2: micro<2, NP>(K, a, lda, bp, pstride, beta, c, ldc, last); break;
    case 1: micro<1, NP>(K, a, lda, bp, pstride, beta, c, ldc, last); break;
    default: break;
  }
}

inline __m512 exp16(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-87.3365478515625f);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512i n = _mm512_cvtps_epi32(fx);
  n = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(n));
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

inline __m512 tanh16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512 ax = _mm512_andnot_ps(sign, x);
  // |x| >= 0.625: (1 - e) / (1 + e) with e = exp(-2|x|), sign restored.
  const __m512 e = exp16(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
  __m512 big = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
  big = _mm512_or_ps(big, _mm512_and_ps(sign, x));
  // |x| < 0.625: Cephes tanhf odd polynomial.
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  const __mmask16 m = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(m, big, small);
}

}  // namespace

void packed_step(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* packed, float beta, float* C, int64_t ldc) {
  const int64_t panels = (N + 15) / 16, pstride = K * 16;
  for (int64_t p = 0; p < panels; p += 4) {
    const int64_t np = panels - p < 4 ? panels - p : 4;
    const __mmask16 last = tail_mask(N - (p + np - 1) * 16);
    const float* bp = packed + p * pstride;
    float* Cp = C + p * 16;
    switch (np) {
      case 4: group<4>(M, K, A, lda, bp, pstride, beta, Cp, ldc, last); break;
      case 3: group<3>(M, K, A, lda, bp, pstride, beta, Cp, ldc, last); break;
      case 2: group<2>(M, K, A, lda, bp, pstride, beta, Cp, ldc, last); break;
      default: group<1>(M, K, A, lda, bp, pstride, beta, Cp, ldc, last); break;
    }
  }
}

void sigmoid(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, sigmoid16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void tanh(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, tanh16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void lstm_cell_forward(int64_t U, float* g, const float* b, const float* cp, float* c, float* a,
                       float* h) {
  for (int64_t j = 0; j < U; j += 16) {
    const __mmask16 m = tail_mask(U - j);
    __m512 vi = _mm512_maskz_loadu_ps(m, g + j), vf = _mm512_maskz_loadu_ps(m, g + U + j);
    __m512 vg = _mm512_maskz_loadu_ps(m, g + 2 * U + j);
    __m512 vo = _mm512_maskz_loadu_ps(m, g + 3 * U + j);
    if (b) {
      vi = _mm512_add_ps(vi, _mm512_maskz_loadu_ps(m, b + j));
      vf = _mm512_add_ps(vf, _mm512_maskz_loadu_ps(m, b + U + j));
      vg = _mm512_add_ps(vg, _mm512_maskz_loadu_ps(m, b + 2 * U + j));
      vo = _mm512_add_ps(vo, _mm512_maskz_loadu_ps(m, b + 3 * U + j));
    }
    vi = sigmoid16(vi);
    vf = sigmoid16(vf);
    vg = tanh16(vg);
    vo = sigmoid16(vo);
    _mm512_mask_storeu_ps(g + j, m, vi);
    _mm512_mask_storeu_ps(g + U + j, m, vf);
    _mm512_mask_storeu_ps(g + 2 * U + j, m, vg);
    _mm512_mask_storeu_ps(g + 3 * U + j, m, vo);
    const __m512 vc = _mm512_fmadd_ps(vf, _mm512_maskz_loadu_ps(m, cp + j), _mm512_mul_ps(vi, vg));
    const __m512 va = tanh16(vc);
    _mm512_mask_storeu_ps(c + j, m, vc);
    _mm512_mask_storeu_ps(a + j, m, va);
    _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(vo, va));
  }
}

void lstm_cell_backward(int64_t U, const float* dh, const float* dy, float* dc, const float* g,
                        const float* a, const float* cp, float* dg) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t j = 0; j < U; j += 16) {
    const __mmask16 m = tail_mask(U - j);
    const __m512 hv = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dh + j), _mm512_maskz_loadu_ps(m, dy + j));
    const __m512 av = _mm512_maskz_loadu_ps(m, a + j);
    const __m512 iv = _mm512_maskz_loadu_ps(m, g + j), fv = _mm512_maskz_loadu_ps(m, g + U + j);
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + 2 * U + j);
    const __m512 ov = _mm512_maskz_loadu_ps(m, g + 3 * U + j);
    // dc += dh * o * (1 - a^2)
    const __m512 dcv = _mm512_fmadd_ps(_mm512_mul_ps(hv, ov), _mm512_fnmadd_ps(av, av, one),
                                       _mm512_maskz_loadu_ps(m, dc + j));
    const __m512 si = _mm512_mul_ps(iv, _mm512_sub_ps(one, iv));
    const __m512 sf = _mm512_mul_ps(fv, _mm512_sub_ps(one, fv));
    const __m512 so = _mm512_mul_ps(ov, _mm512_sub_ps(one, ov));
    _mm512_mask_storeu_ps(dg + j, m, _mm512_mul_ps(_mm512_mul_ps(dcv, gv), si));
    _mm512_mask_storeu_ps(dg + U + j, m,
                          _mm512_mul_ps(_mm512_mul_ps(dcv, _mm512_maskz_loadu_ps(m, cp + j)), sf));
    _mm512_mask_storeu_ps(dg + 2 * U + j, m,
                          _mm512_mul_ps(_mm512_mul_ps(dcv, iv), _mm512_fnmadd_ps(gv, gv, one)));
    _mm512_mask_storeu_ps(dg + 3 * U + j, m, _mm512_mul_ps(_mm512_mul_ps(hv, av), so));
    _mm512_mask_storeu_ps(dc + j, m, _mm512_mul_ps(dcv, fv));
  }
}

}  // namespace nabi::cpu::rnn::avx512
#endif  // NABI_X86
