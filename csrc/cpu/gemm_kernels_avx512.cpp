// AVX-512F GEMM micro-kernels (this file is compiled with -mavx512f ... -mfma; see
// CMakeLists.txt). Entered only after gemm.cpp checked __builtin_cpu_supports("avx512f").
// Structurally the same as gemm_kernels_avx2.cpp with twice the vector width and twice the
// rows: 12 x 32 floats / 12 x 16 doubles = 24 zmm accumulators (+2 for the B row +1
// broadcast = 27 of 32 registers), which leaves room so the compiler never spills.
//   C[0:MR, 0:NR] = alpha * sum_k a[k] b[k]^T + beta * C      (beta == 0: C is not read)
// b is 64-byte aligned (NR * sizeof(T) == 128 / 128 bytes per k).
#if defined(NABI_X86)
#include <immintrin.h>

#include <cstdint>

namespace nabi::cpu::avx512 {

#define NABI_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

// ---- float: 12 x 32 -----------------------------------------------------------------------
void sgemm_micro_12x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                       float alpha, float beta) {
#define NABI_DECL(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
#define NABI_PREF(i)                                                    \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0); \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
#define NABI_FMA(i)                                        \
  {                                                        \
    const __m512 ai = _mm512_set1_ps(a[i]);                \
    c##i##_0 = _mm512_fmadd_ps(ai, b0, c##i##_0);          \
    c##i##_1 = _mm512_fmadd_ps(ai, b1, c##i##_1);          \
  }
#define NABI_STORE0(i)                                             \
  _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, c##i##_0));      \
  _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, c##i##_1));
#define NABI_STORE(i)                                                                   \
  _mm512_storeu_ps(c + i * ldc, _mm512_fmadd_ps(va, c##i##_0,                           \
                                                _mm512_mul_ps(vb, _mm512_loadu_ps(c + i * ldc)))); \
  _mm512_storeu_ps(c + i * ldc + 16,                                                    \
                   _mm512_fmadd_ps(va, c##i##_1,                                        \
                                   _mm512_mul_ps(vb, _mm512_loadu_ps(c + i * ldc + 16))));
  NABI_ROWS12(NABI_DECL)
  NABI_ROWS12(NABI_PREF)
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    NABI_ROWS12(NABI_FMA)
    a += 12;
    b += 32;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
    NABI_ROWS12(NABI_STORE0)
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
    NABI_ROWS12(NABI_STORE)
  }
#undef NABI_DECL
#undef NABI_PREF
#undef NABI_FMA
#undef NABI_STORE0
#undef NABI_STORE
}

// ---- double: 12 x 16 ----------------------------------------------------------------------
void dgemm_micro_12x16(int64_t k, const double* a, const double* b, double* c, int64_t ldc,
                       double alpha, double beta) {
#define NABI_DECL(i) __m512d c##i##_0 = _mm512_setzero_pd(), c##i##_1 = _mm512_setzero_pd();
#define NABI_PREF(i)                                                    \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0); \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
#define NABI_FMA(i)                                        \
  {                                                        \
    const __m512d ai = _mm512_set1_pd(a[i]);               \
    c##i##_0 = _mm512_fmadd_pd(ai, b0, c##i##_0);          \
    c##i##_1 = _mm512_fmadd_pd(ai, b1, c##i##_1);          \
  }
#define NABI_STORE0(i)                                            \
  _mm512_storeu_pd(c + i * ldc, _mm512_mul_pd(va, c##i##_0));     \
  _mm512_storeu_pd(c + i * ldc + 8, _mm512_mul_pd(va, c##i##_1));
#define NABI_STORE(i)                                                                   \
  _mm512_storeu_pd(c + i * ldc, _mm512_fmadd_pd(va, c##i##_0,                           \
                                                _mm512_mul_pd(vb, _mm512_loadu_pd(c + i * ldc)))); \
  _mm512_storeu_pd(c + i * ldc + 8,                                                     \
                   _mm512_fmadd_pd(va, c##i##_1,                                        \
                                   _mm512_mul_pd(vb, _mm512_loadu_pd(c + i * ldc + 8))));
  NABI_ROWS12(NABI_DECL)
  NABI_ROWS12(NABI_PREF)
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    const __m512d b0 = _mm512_load_pd(b);
    const __m512d b1 = _mm512_load_pd(b + 8);
    NABI_ROWS12(NABI_FMA)
    a += 12;
    b += 16;
  }
  const __m512d va = _mm512_set1_pd(alpha);
  if (beta == 0.0) {
    NABI_ROWS12(NABI_STORE0)
  } else {
    const __m512d vb = _mm512_set1_pd(beta);
    NABI_ROWS12(NABI_STORE)
  }
#undef NABI_DECL
#undef NABI_PREF
#undef NABI_FMA
#undef NABI_STORE0
#undef NABI_STORE
}

#undef NABI_ROWS12

}  // namespace nabi::cpu::avx512
#endif  // NABI_X86
