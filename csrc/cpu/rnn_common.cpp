// Row activations for the recurrent kernels (see rnn_common.h).
// float32 sigmoid/tanh: the pointwise activations' SIMD kernels (activations_avx2.cpp /
// activations_avx512.cpp) at simd_level(); other CPUs use std::exp / std::tanh. The packed
// step GEMM below carries target attributes (this file is compiled for the baseline ISA).
#include "cpu/rnn_common.h"

#include "cpu/activations_simd.h"
#include "cpu/gemm.h"

#include <cmath>
#include <cstdlib>

#if defined(NABI_X86)
#include <immintrin.h>
#endif

namespace nabi::cpu::rnn {

bool parse_rnn_act(const std::string& s, RnnAct* out) {
  if (s == "tanh") *out = RnnAct::Tanh;
  else if (s == "sigmoid") *out = RnnAct::Sigmoid;
  else if (s == "relu") *out = RnnAct::Relu;
  else if (s == "linear" || s == "" || s == "None" || s == "none") *out = RnnAct::Linear;
  else if (s == "hard_sigmoid") *out = RnnAct::HardSigmoid;
  else return false;
  return true;
}

const char* rnn_act_name(RnnAct a) {
  switch (a) {
    case RnnAct::Tanh: return "tanh";
    case RnnAct::Sigmoid: return "sigmoid";
    case RnnAct::Relu: return "relu";
    case RnnAct::Linear: return "linear";
    case RnnAct::HardSigmoid: return "hard_sigmoid";
  }
  return "?";
}

namespace {

template <typename T>
inline T sigmoid_scalar(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
void act_scalar(RnnAct k, T* x, int64_t n) {
  switch (k) {
    case RnnAct::Tanh:
      for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
    case RnnAct::Sigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = sigmoid_scalar(x[i]);
      break;
    case RnnAct::Relu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] < T(0) ? T(0) : x[i];  // NaN stays NaN
      break;
    case RnnAct::Linear:
      break;
    case RnnAct::HardSigmoid:
      for (int64_t i = 0; i < n; ++i) {
        T v = x[i] * T(1.0 / 6.0) + T(0.5);
        x[i] = v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
      }
      break;
  }
}

#if defined(NABI_X86)
bool cpu_has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// Accumulators are named variables (an array of __m256 gets spilled to the stack).
#define NABI_RNN_ROW(r)                                         \
  if constexpr (MR > r) {                                       \
    const __m256 a = _mm256_broadcast_ss(A + r * lda + k);      \
    c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                  \
    c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                  \
  }
#define NABI_RNN_STORE(r)                                       \
  if constexpr (MR > r) store_row(C + r * ldc, c##r##0, c##r##1, beta, ncols);

__attribute__((target("avx2,fma"))) inline void store_row(float* c, __m256 v0, __m256 v1,
                                                         float beta, int64_t ncols) {
  if (ncols == 16) {
    if (beta != 0.0f) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
    }
    _mm256_storeu_ps(c, v0);
    _mm256_storeu_ps(c + 8, v1);
    return;
  }
  alignas(32) float buf[16];
  _mm256_store_ps(buf, v0);
  _mm256_store_ps(buf + 8, v1);
  for (int64_t j = 0; j < ncols; ++j) c[j] = (beta != 0.0f ? c[j] : 0.0f) + buf[j];
}

template <int MR>
__attribute__((target("avx2,fma"))) inline void micro16(int64_t K, const float* A, int64_t lda,
                                                       const float* bp, float beta, float* C,
                                                       int64_t ldc, int64_t ncols) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(bp + k * 16), b1 = _mm256_loadu_ps(bp + k * 16 + 8);
    NABI_RNN_ROW(0)
    NABI_RNN_ROW(1)
    NABI_RNN_ROW(2)
    NABI_RNN_ROW(3)
    NABI_RNN_ROW(4)
    NABI_RNN_ROW(5)
  }
  NABI_RNN_STORE(0)
  NABI_RNN_STORE(1)
  NABI_RNN_STORE(2)
  NABI_RNN_STORE(3)
  NABI_RNN_STORE(4)
  NABI_RNN_STORE(5)
}
#undef NABI_RNN_ROW
#undef NABI_RNN_STORE

__attribute__((target("avx2,fma"))) void packed_step_avx2(int64_t M, int64_t N, int64_t K,
                                                          const float* A, int64_t lda,
                                                          const float* packed, float beta,
                                                          float* C, int64_t ldc) {
  const int64_t panels = (N + 15) / 16;
  for (int64_t p = 0; p < panels; ++p) {
    const float* bp = packed + p * K * 16;
    const int64_t ncols = N - p * 16 < 16 ? N - p * 16 : 16;
    float* Cp = C + p * 16;
    int64_t r = 0;
    for (; r + 6 <= M; r += 6) micro16<6>(K, A + r * lda, lda, bp, beta, Cp + r * ldc, ldc, ncols);
    switch (M - r) {
      case 5: micro16<5>(K, A + r * lda, lda, bp, beta, Cp + r * ldc, ldc, ncols); break;
      case 4: micro16<4>(K, A + r * lda, lda, bp, beta, Cp + r * ldc, ldc, ncols); break;
      case 3: micro16<3>(K, A + r * lda, lda, bp, beta, Cp + r * ldc, ldc, ncols); break;
      case 2: micro16<2>(K, A + r * lda, lda, bp, beta, Cp + r * ldc, ldc, ncols); break;
      case 1: micro16<1>(K, A + r * lda, lda, bp, beta, Cp + r * ldc, ldc, ncols); break;
      default: break;
    }
  }
}
#endif

}  // namespace

bool packed_step_available() {
#if defined(NABI_X86)
  // NABI_RNN_PACKED=0 falls back to gemm() per step (for A/B benchmarks).
  static const bool off = [] {
    const char* e = std::getenv("NABI_RNN_PACKED");
    return e && e[0] == '0';
  }();
  return cpu_has_avx2() && !off;
#else
  return false;
#endif
}

void pack_b16(const float* B, int64_t ldb, int64_t K, int64_t N, float* packed) {
  const int64_t panels = (N + 15) / 16;
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k) {
      float* dst = packed + (p * K + k) * 16;
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t col = p * 16 + j;
        dst[j] = col < N ? B[k * ldb + col] : 0.0f;
      }
    }
}

int simd_level() {
#if defined(NABI_X86)
  const char* isa = gemm_isa();  // "avx512" only when the CPU has AVX-512 F/DQ/BW/VL
  if (isa[0] == 'a' && isa[3] == '5') return 2;
  return cpu_has_avx2() && isa[0] == 'a' ? 1 : 0;
#else
  return 0;
#endif
}

void packed_step_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                      const float* packed, float beta, float* C, int64_t ldc) {
#if defined(NABI_X86)
  packed_step_avx2(M, N, K, A, lda, packed, beta, C, ldc);
#else
  (void)M, (void)N, (void)K, (void)A, (void)lda, (void)packed, (void)beta, (void)C, (void)ldc;
#endif
}

void act_inplace(RnnAct k, float* x, int64_t n) {
#if defined(NABI_X86)
  const int level = simd_level();
  if (level == 2) {
    if (k == RnnAct::Sigmoid) return avx512::sigmoid(x, n);
    if (k == RnnAct::Tanh) return avx512::tanh(x, n);
  }
  if (level == 1) {
    if (k == RnnAct::Sigmoid) return (void)act_avx2::forward(Act::Sigmoid, x, x, n, 0.0f);
    if (k == RnnAct::Tanh) return (void)act_avx2::forward(Act::Tanh, x, x, n, 0.0f);
  }
#endif
  act_scalar(k, x, n);
}

void act_inplace(RnnAct k, double* x, int64_t n) { act_scalar(k, x, n); }

}  // namespace nabi::cpu::rnn
