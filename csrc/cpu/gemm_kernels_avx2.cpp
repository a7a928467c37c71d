// AVX2 + FMA GEMM micro-kernels (this file is compiled with -mavx2 -mfma; see CMakeLists.txt).
// Entered only after gemm.cpp checked __builtin_cpu_supports("avx2") && ("fma").
//
// A micro-kernel computes one MR x NR tile of C from packed panels:
//   a: MR values per k (column of the A micro-panel), b: NR values per k (64-byte aligned),
//   C[0:MR, 0:NR] = alpha * sum_k a[k] b[k]^T + beta * C      (beta == 0: C is not read)
// The accumulators live in registers for the whole k loop: 6x16 floats = 12 ymm (+2 for the
// B row +1 broadcast = 15 of 16), 6x8 doubles likewise. Two FMA pipes with 4-cycle latency
// need >= 8 independent FMAs in flight; 12 chains are enough.
//
// Exports only uniquely named, non-inline functions (no ODR sharing with other ISA files).
#if defined(NABI_X86)
#include <immintrin.h>

#include <cstdint>

namespace nabi::cpu::avx2 {

#define NABI_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)

// ---- float: 6 x 16 ------------------------------------------------------------------------
void sgemm_micro_6x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                      float alpha, float beta) {
#define NABI_DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define NABI_PREF(i)                                                    \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0); \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
#define NABI_FMA(i)                                        \
  {                                                        \
    const __m256 ai = _mm256_broadcast_ss(a + i);          \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);            \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);            \
  }
#define NABI_STORE0(i)                                           \
  _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, c##i##0));     \
  _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, c##i##1));
#define NABI_STORE(i)                                                                   \
  _mm256_storeu_ps(c + i * ldc, _mm256_fmadd_ps(va, c##i##0,                            \
                                                _mm256_mul_ps(vb, _mm256_loadu_ps(c + i * ldc)))); \
  _mm256_storeu_ps(c + i * ldc + 8,                                                     \
                   _mm256_fmadd_ps(va, c##i##1,                                         \
                                   _mm256_mul_ps(vb, _mm256_loadu_ps(c + i * ldc + 8))));
  NABI_ROWS6(NABI_DECL)
  NABI_ROWS6(NABI_PREF)
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    NABI_ROWS6(NABI_FMA)
    a += 6;
    b += 16;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
    NABI_ROWS6(NABI_STORE0)
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    NABI_ROWS6(NABI_STORE)
  }
#undef NABI_DECL
#undef NABI_PREF
#undef NABI_FMA
#undef NABI_STORE0
#undef NABI_STORE
}

// ---- double: 6 x 8 ------------------------------------------------------------------------
void dgemm_micro_6x8(int64_t k, const double* a, const double* b, double* c, int64_t ldc,
                     double alpha, double beta) {
#define NABI_DECL(i) __m256d c##i##0 = _mm256_setzero_pd(), c##i##1 = _mm256_setzero_pd();
#define NABI_PREF(i)                                                    \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0); \
  _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 7), _MM_HINT_T0);
#define NABI_FMA(i)                                        \
  {                                                        \
    const __m256d ai = _mm256_broadcast_sd(a + i);         \
    c##i##0 = _mm256_fmadd_pd(ai, b0, c##i##0);            \
    c##i##1 = _mm256_fmadd_pd(ai, b1, c##i##1);            \
  }
#define NABI_STORE0(i)                                           \
  _mm256_storeu_pd(c + i * ldc, _mm256_mul_pd(va, c##i##0));     \
  _mm256_storeu_pd(c + i * ldc + 4, _mm256_mul_pd(va, c##i##1));
#define NABI_STORE(i)                                                                   \
  _mm256_storeu_pd(c + i * ldc, _mm256_fmadd_pd(va, c##i##0,                            \
                                                _mm256_mul_pd(vb, _mm256_loadu_pd(c + i * ldc)))); \
  _mm256_storeu_pd(c + i * ldc + 4,                                                     \
                   _mm256_fmadd_pd(va, c##i##1,                                         \
                                   _mm256_mul_pd(vb, _mm256_loadu_pd(c + i * ldc + 4))));
  NABI_ROWS6(NABI_DECL)
  NABI_ROWS6(NABI_PREF)
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    const __m256d b0 = _mm256_load_pd(b);
    const __m256d b1 = _mm256_load_pd(b + 4);
    NABI_ROWS6(NABI_FMA)
    a += 6;
    b += 8;
  }
  const __m256d va = _mm256_set1_pd(alpha);
  if (beta == 0.0) {
    NABI_ROWS6(NABI_STORE0)
  } else {
    const __m256d vb = _mm256_set1_pd(beta);
    NABI_ROWS6(NABI_STORE)
  }
#undef NABI_DECL
#undef NABI_PREF
#undef NABI_FMA
#undef NABI_STORE0
#undef NABI_STORE
}

#undef NABI_ROWS6

}  // namespace nabi::cpu::avx2
#endif  // NABI_X86
