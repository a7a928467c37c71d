// Row activations for the recurrent kernels (see rnn_common.h).
// float32 sigmoid/tanh: Cephes-style expf/tanhf polynomials on 8 lanes with AVX2+FMA, used
// only after __builtin_cpu_supports says the CPU has them (this file is compiled for the
// baseline ISA; the vector functions carry target attributes). Scalar tails and other CPUs
// use std::exp / std::tanh.
#include "cpu/rnn_common.h"

#include <cmath>

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
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > T(0) ? x[i] : T(0);
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

__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_cvtps_epi32(fx);
  n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(n));
}

__attribute__((target("avx2,fma"))) inline __m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

__attribute__((target("avx2,fma"))) inline __m256 tanh8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 ax = _mm256_andnot_ps(sign, x);
  // |x| >= 0.625: (1 - e) / (1 + e) with e = exp(-2|x|), sign restored.
  __m256 e = exp8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
  __m256 big = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  // |x| < 0.625: Cephes tanhf odd polynomial.
  __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  __m256 m = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm256_blendv_ps(big, small, m);
}

__attribute__((target("avx2,fma"))) void sigmoid_avx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, sigmoid8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = i; j < n; ++j) buf[j - i] = x[j];
    _mm256_storeu_ps(buf, sigmoid8(_mm256_loadu_ps(buf)));
    for (int64_t j = i; j < n; ++j) x[j] = buf[j - i];
  }
}

__attribute__((target("avx2,fma"))) void tanh_avx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, tanh8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = i; j < n; ++j) buf[j - i] = x[j];
    _mm256_storeu_ps(buf, tanh8(_mm256_loadu_ps(buf)));
    for (int64_t j = i; j < n; ++j) x[j] = buf[j - i];
  }
}
#endif

}  // namespace

void act_inplace(RnnAct k, float* x, int64_t n) {
#if defined(NABI_X86)
  if (cpu_has_avx2()) {
    if (k == RnnAct::Sigmoid) return sigmoid_avx2(x, n);
    if (k == RnnAct::Tanh) return tanh_avx2(x, n);
  }
#endif
  act_scalar(k, x, n);
}

void act_inplace(RnnAct k, double* x, int64_t n) { act_scalar(k, x, n); }

}  // namespace nabi::cpu::rnn
