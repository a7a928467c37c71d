// AVX-512 pieces of the fused recurrent kernels (float32; this file is compiled with
// -mavx512f/dq/bw/vl -mfma, see CMakeLists.txt, and entered only when rnn::simd_level()
// says 2, i.e. the CPU has all four and the GEMM dispatcher picked avx512).
//
// * packed_step: the recurrent-step GEMM C[M, N] = A[M, K] @ B + beta * C on the 16-column
//   16-column panels of pack (below): groups of up to 4 panels interleaved by k, so one
//   group is a single contiguous stream of K x (16 * panels) floats (zero-padded columns).
//   Blocking: a group (64 columns, 4 zmm) by 6 rows = 24 zmm accumulators; per k, 4
//   consecutive loads of B and 6 broadcasts of A feed 24 FMAs. Groups are the outer loop,
//   so one group (K x 64 floats: 32 KiB at K = 128) stays in L1 while every row block of A
//   (the batch rows of one thread) streams past. The last panel may be partial (masked
//   loads/stores of C).
// * sigmoid16 / tanh16: simd_math.h's polynomials (shared with the pointwise activations)
// * lstm_cell_forward / lstm_cell_backward: one fused pass per batch row for the default
//   activations (sigmoid gates, tanh cell): bias, the four gate activations, the cell and
//   output updates (forward), or the four gate gradients and the carried dc (backward; also
//   adds the gate gradients into the bias gradient's running sum).
#if defined(NABI_X86)
#include <immintrin.h>

#include <cstdint>

#include "cpu/rnn_common.h"
#include "cpu/simd_math.h"

namespace nabi::cpu::rnn::avx512 {

namespace {

inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Accumulators are named variables c<row><panel> (24 zmm), kept in registers.
#define NABI_R6(X, p) X(0, p) X(1, p) X(2, p) X(3, p) X(4, p) X(5, p)
#define NABI_ALL(X) NABI_R6(X, 0) NABI_R6(X, 1) NABI_R6(X, 2) NABI_R6(X, 3)
#define NABI_DECL(r, p) __m512 c##r##p = _mm512_setzero_ps();
// One row: its broadcast of A, then its NP FMAs (24 accumulators + 4 B + 1 broadcast live).
#define NABI_ROW(r)                                                \
  if constexpr (MR > r) {                                          \
    const __m512 a = _mm512_set1_ps(A[r * lda + k]);               \
    c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                     \
    if constexpr (NP > 1) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1); \
    if constexpr (NP > 2) c##r##2 = _mm512_fmadd_ps(a, b2, c##r##2); \
    if constexpr (NP > 3) c##r##3 = _mm512_fmadd_ps(a, b3, c##r##3); \
  }
#define NABI_STORE(r, p)                                                                   \
  if constexpr (MR > r && NP > p) {                                                        \
    float* cp = C + r * ldc + p * 16;                                                      \
    const __mmask16 m = p == NP - 1 ? last : __mmask16(0xFFFF);                            \
    if (beta != 0.0f) c##r##p = _mm512_add_ps(c##r##p, _mm512_maskz_loadu_ps(m, cp));      \
    _mm512_mask_storeu_ps(cp, m, c##r##p);                                                 \
  }

template <int MR, int NP>
inline void micro(int64_t K, const float* A, int64_t lda, const float* bp, float beta, float* C,
                  int64_t ldc, __mmask16 last) {
  NABI_ALL(NABI_DECL)
  for (int64_t k = 0; k < K; ++k, bp += NP * 16) {
    const __m512 b0 = _mm512_loadu_ps(bp);
    const __m512 b1 = NP > 1 ? _mm512_loadu_ps(bp + 16) : b0;
    const __m512 b2 = NP > 2 ? _mm512_loadu_ps(bp + 32) : b0;
    const __m512 b3 = NP > 3 ? _mm512_loadu_ps(bp + 48) : b0;
    NABI_ROW(0) NABI_ROW(1) NABI_ROW(2) NABI_ROW(3) NABI_ROW(4) NABI_ROW(5)
  }
  NABI_ALL(NABI_STORE)
}
#undef NABI_R6
#undef NABI_ALL
#undef NABI_DECL
#undef NABI_ROW
#undef NABI_STORE

template <int NP>
void group(int64_t M, int64_t K, const float* A, int64_t lda, const float* bp, float beta,
           float* C, int64_t ldc, __mmask16 last) {
  int64_t r = 0;
  for (; r + 6 <= M; r += 6)
    micro<6, NP>(K, A + r * lda, lda, bp, beta, C + r * ldc, ldc, last);
  const float* a = A + r * lda;
  float* c = C + r * ldc;
  switch (M - r) {
    case 5: micro<5, NP>(K, a, lda, bp, beta, c, ldc, last); break;
    case 4: micro<4, NP>(K, a, lda, bp, beta, c, ldc, last); break;
    case 3: micro<3, NP>(K, a, lda, bp, beta, c, ldc, last); break;
    case 2: micro<2, NP>(K, a, lda, bp, beta, c, ldc, last); break;
    case 1: micro<1, NP>(K, a, lda, bp, beta, c, ldc, last); break;
    default: break;
  }
}

inline __m512 sigmoid16(__m512 x) { return simd::sigmoid<simd::Avx512>(x); }
inline __m512 tanh16(__m512 x) { return simd::tanh<simd::Avx512>(x); }

}  // namespace

void sigmoid(float* x, int64_t n) { simd::map1<simd::Avx512>(x, x, n, sigmoid16); }
void tanh(float* x, int64_t n) { simd::map1<simd::Avx512>(x, x, n, tanh16); }

void pack(const float* B, int64_t ldb, int64_t K, int64_t N, float* packed) {
  const int64_t panels = (N + 15) / 16;
  for (int64_t p = 0; p < panels; p += 4) {
    const int64_t np = panels - p < 4 ? panels - p : 4;
    float* dst = packed + p * 16 * K;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < np * 16; ++j, ++dst) {
        const int64_t col = p * 16 + j;
        *dst = col < N ? B[k * ldb + col] : 0.0f;
      }
  }
}

void packed_step(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* packed, float beta, float* C, int64_t ldc) {
  const int64_t panels = (N + 15) / 16;
  for (int64_t p = 0; p < panels; p += 4) {
    const int64_t np = panels - p < 4 ? panels - p : 4;
    const __mmask16 last = tail_mask(N - (p + np - 1) * 16);
    const float* bp = packed + p * 16 * K;
    float* Cp = C + p * 16;
    switch (np) {
      case 4: group<4>(M, K, A, lda, bp, beta, Cp, ldc, last); break;
      case 3: group<3>(M, K, A, lda, bp, beta, Cp, ldc, last); break;
      case 2: group<2>(M, K, A, lda, bp, beta, Cp, ldc, last); break;
      default: group<1>(M, K, A, lda, bp, beta, Cp, ldc, last); break;
    }
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

namespace {
inline void store_grad(float* dst, float* sum, __mmask16 m, __m512 v) {
  _mm512_mask_storeu_ps(dst, m, v);
  if (sum) _mm512_mask_storeu_ps(sum, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sum), v));
}
}  // namespace

void lstm_cell_backward(int64_t U, const float* dh, const float* dy, float* dc, const float* g,
                        const float* a, const float* cp, float* dg, float* dbsum) {
  const __m512 one = _mm512_set1_ps(1.0f);
  float* s0 = dbsum;
  float* s1 = dbsum ? dbsum + U : nullptr;
  float* s2 = dbsum ? dbsum + 2 * U : nullptr;
  float* s3 = dbsum ? dbsum + 3 * U : nullptr;
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
    store_grad(dg + j, s0 ? s0 + j : nullptr, m, _mm512_mul_ps(_mm512_mul_ps(dcv, gv), si));
    store_grad(dg + U + j, s1 ? s1 + j : nullptr, m,
               _mm512_mul_ps(_mm512_mul_ps(dcv, _mm512_maskz_loadu_ps(m, cp + j)), sf));
    store_grad(dg + 2 * U + j, s2 ? s2 + j : nullptr, m,
               _mm512_mul_ps(_mm512_mul_ps(dcv, iv), _mm512_fnmadd_ps(gv, gv, one)));
    store_grad(dg + 3 * U + j, s3 ? s3 + j : nullptr, m, _mm512_mul_ps(_mm512_mul_ps(hv, av), so));
    _mm512_mask_storeu_ps(dc + j, m, _mm512_mul_ps(dcv, fv));
  }
}

}  // namespace nabi::cpu::rnn::avx512
#else  // other architectures: never called (simd_level() is 0 there), defined for the linker
#include <cstdint>

#include "cpu/rnn_common.h"

namespace nabi::cpu::rnn::avx512 {
void pack(const float*, int64_t, int64_t, int64_t, float*) {}
void packed_step(int64_t, int64_t, int64_t, const float*, int64_t, const float*, float, float*,
                 int64_t) {}
void sigmoid(float*, int64_t) {}
void tanh(float*, int64_t) {}
void lstm_cell_forward(int64_t, float*, const float*, const float*, float*, float*, float*) {}
void lstm_cell_backward(int64_t, const float*, const float*, float*, const float*, const float*,
                        const float*, float*, float*) {}
}  // namespace nabi::cpu::rnn::avx512
#endif  // NABI_X86
