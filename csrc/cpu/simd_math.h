// float32 exp / sigmoid / tanh on SIMD lanes, shared by the pointwise activations
// (activations_avx2.cpp, activations_avx512.cpp) and the recurrent cells
// (rnn_kernels_avx512.cpp). Include it only from a file compiled with the matching ISA flags
// (the *_avx2.cpp / *_avx512.cpp rule in CMakeLists.txt); callers reach those files only after
// a runtime CPU check (rnn::simd_level()).
//
// One algorithm, two lane types (Avx2: 8 lanes, Avx512: 16 lanes) that differ only in the
// primitives: round, 2^n scaling, 1/d, masked tails.
//   exp: Cephes expf polynomial on r = x - n ln2 (about 1 ulp); x clamped to [-104, 89] so
//        the result overflows to +inf and underflows to 0 / denormals like expf; NaN
//        propagates (min/max return their second operand on NaN).
//   sigmoid: 1 / (1 + exp(-x)), the denominator capped at FLT_MAX (sigmoid(-big) = 0 or a
//        tiny value, never a NaN from the reciprocal's Newton step).
//   expm1 (x <= 0, for elu / selu): 2^n expm1(r) + (2^n - 1) on exp's reduction.
//   V::D (float64 lanes, widen / narrow) and exp_f64: for gelu's normal CDF, rounded once.
//   tanh: |x| < 0.625: Cephes tanhf odd polynomial; else (1 - e) / (1 + e), e = exp(-2|x|)
//        (no cancellation: e < 0.29 there; a true divide, 2 sigmoid(2|x|) - 1 was 3 ulp); the
//        sign is copied from x, so tanh(-0) = -0, tanh(+-inf) = +-1.
#pragma once
#if defined(NABI_X86)
// GCC 12 warns that the undefined pass-through operand of the unmasked AVX-512 intrinsics
// (_mm512_max_ps ...) "may be used uninitialized" once they are inlined here (a GCC bug).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

namespace nabi::cpu::simd {

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2 {
  using R = __m256;
  static constexpr int kW = 8;
  static R set1(float v) { return _mm256_set1_ps(v); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  // Tails (n < 8 lanes) go through a zero-filled stack buffer.
  static R load_part(const float* p, int64_t n) {
    alignas(32) float b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < n; ++j) b[j] = p[j];
    return _mm256_load_ps(b);
  }
  static void store_part(float* p, int64_t n, R v) {
    alignas(32) float b[8];
    _mm256_store_ps(b, v);
    for (int64_t j = 0; j < n; ++j) p[j] = b[j];
  }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }   // a * b + c
  static R fnma(R a, R b, R c) { return _mm256_fnmadd_ps(a, b, c); } // c - a * b
  static R fms(R a, R b, R c) { return _mm256_fmsub_ps(a, b, c); }   // a * b - c
  static R div(R a, R b) { return _mm256_div_ps(a, b); }
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R abs(R a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static R copysign(R mag, R s) {
    const R m = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(m, mag), _mm256_and_ps(m, s));
  }
  // a > b ? t : f (false on NaN), and a < b ? t : f.
  static R sel_gt(R a, R b, R t, R f) {
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
  }
  static R sel_ge(R a, R b, R t, R f) {
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_GE_OQ));
  }
  static R sel_lt(R a, R b, R t, R f) {
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  static R round(R x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n for integral n in [-150, 129], in two exact steps (each 2^k stays a normal float).
  static R scale2(R p, R n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h = _mm256_srai_epi32(ni, 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const R a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
    const R b = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, a), b);
  }
  static R recip(R d) { return _mm256_div_ps(_mm256_set1_ps(1.0f), d); }
  // x = m 2^e, m in [0.5, 1), for normal x > 0.
  static R frexp(R x, R* e) {
    const __m256i b = _mm256_castps_si256(x);
    *e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(126)));
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x807FFFFF)),
                                               _mm256_set1_epi32(0x3F000000)));
  }
  // float64 lanes for the parts that need more than float32 (gelu's normal CDF): a float
  // vector widens to two of these and narrows back with one rounding.
  struct D {
    using R = __m256d;
    static R set1(double v) { return _mm256_set1_pd(v); }
    static R add(R a, R b) { return _mm256_add_pd(a, b); }
    static R sub(R a, R b) { return _mm256_sub_pd(a, b); }
    static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
    static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
    static R fnma(R a, R b, R c) { return _mm256_fnmadd_pd(a, b, c); }
    static R div(R a, R b) { return _mm256_div_pd(a, b); }
    static R abs(R a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
    static R sel_lt(R a, R b, R t, R f) {
      return _mm256_blendv_pd(f, t, _mm256_cmp_pd(a, b, _CMP_LT_OQ));
    }
    static R round(R x) { return _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // p * 2^n for integral n in [-1022, 1023].
    static R scale2(R p, R n) {
      const __m256i ni = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
      return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(
                                  _mm256_add_epi64(ni, _mm256_set1_epi64x(1023)), 52)));
    }
  };
  static void widen(R x, D::R* lo, D::R* hi) {
    *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
  }
  static R narrow(D::R lo, D::R hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
  }
};

#endif

#if defined(__AVX512F__)
struct Avx512 {
  using R = __m512;
  static constexpr int kW = 16;
  static __mmask16 tail(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
  }
  static R set1(float v) { return _mm512_set1_ps(v); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static R load_part(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(tail(n), p); }
  static void store_part(float* p, int64_t n, R v) { _mm512_mask_storeu_ps(p, tail(n), v); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R fnma(R a, R b, R c) { return _mm512_fnmadd_ps(a, b, c); }
  static R fms(R a, R b, R c) { return _mm512_fmsub_ps(a, b, c); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R abs(R a) { return _mm512_abs_ps(a); }
  static R copysign(R mag, R s) {
    const __m512i m = _mm512_set1_epi32(int(0x80000000u));
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(m, _mm512_castps_si512(s),
                                                         _mm512_castps_si512(mag), 0xCA));  // m ? s : mag
  }
  static R sel_gt(R a, R b, R t, R f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), f, t);
  }
  static R sel_ge(R a, R b, R t, R f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ), f, t);
  }
  static R sel_lt(R a, R b, R t, R f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
  }
  static R round(R x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static R scale2(R p, R n) { return _mm512_scalef_ps(p, n); }  // exact, any n
  // 1 / d for d >= 1 (finite): rcp14 and one Newton step (about 1 ulp, no divider).
  static R recip(R d) {
    const R r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
  }
  static R frexp(R x, R* e) {
    *e = _mm512_add_ps(_mm512_getexp_ps(x), _mm512_set1_ps(1.0f));
    return _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_src);
  }
  struct D {
    using R = __m512d;
    static R set1(double v) { return _mm512_set1_pd(v); }
    static R add(R a, R b) { return _mm512_add_pd(a, b); }
    static R sub(R a, R b) { return _mm512_sub_pd(a, b); }
    static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
    static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
    static R fnma(R a, R b, R c) { return _mm512_fnmadd_pd(a, b, c); }
    static R div(R a, R b) { return _mm512_div_pd(a, b); }
    static R abs(R a) { return _mm512_abs_pd(a); }
    static R sel_lt(R a, R b, R t, R f) {
      return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), f, t);
    }
    static R round(R x) {
      return _mm512_roundscale_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static R scale2(R p, R n) { return _mm512_scalef_pd(p, n); }
  };
  static void widen(R x, D::R* lo, D::R* hi) {
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    *hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  }
  static R narrow(D::R lo, D::R hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo))),
        _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
  }
};
#endif

// expm1(r) for x = n ln2 + r, |r| <= ln2 / 2 (n returned in *fx): the Cephes expf polynomial.
template <class V>
inline typename V::R expm1_reduced(typename V::R x, typename V::R* fx) {
  using R = typename V::R;
  *fx = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  R r = V::fnma(*fx, V::set1(0.693359375f), x);
  r = V::fnma(*fx, V::set1(-2.12194440e-4f), r);
  R p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  return V::fma(p, V::mul(r, r), r);
}

template <class V>
inline typename V::R exp(typename V::R x) {
  using R = typename V::R;
  x = V::min(V::set1(89.0f), V::max(V::set1(-104.0f), x));
  R fx;
  const R p = V::add(V::set1(1.0f), expm1_reduced<V>(x, &fx));  // 1 + (r + p r^2): one rounding
  return V::scale2(p, fx);
}

// expm1(x) for x <= 0 (other lanes: garbage): 2^n expm1(r) + (2^n - 1), one rounding (2^n - 1
// is exact for n >= -24, and -1 is the answer below); the sign copied from x keeps -0.
template <class V>
inline typename V::R expm1_neg(typename V::R x) {
  using R = typename V::R;
  const R xc = V::max(V::set1(-30.0f), x);  // keeps a NaN
  R fx;
  const R m = expm1_reduced<V>(xc, &fx);
  const R s = V::scale2(V::set1(1.0f), fx);
  return V::copysign(V::fma(s, m, V::sub(s, V::set1(1.0f))), x);
}

// exp(t) in float64 lanes for t in [-700, 0], to about 1e-10 relative (enough for a result
// rounded to float32): t = n ln2 + r, |r| <= ln2 / 2, Taylor polynomial of degree 8.
template <class D>
inline typename D::R exp_f64(typename D::R t) {
  using R = typename D::R;
  const R n = D::round(D::mul(t, D::set1(1.4426950408889634)));
  const R r = D::fnma(n, D::set1(0.6931471805599453), t);
  R p = D::set1(1.0 / 40320);
  p = D::fma(p, r, D::set1(1.0 / 5040));
  p = D::fma(p, r, D::set1(1.0 / 720));
  p = D::fma(p, r, D::set1(1.0 / 120));
  p = D::fma(p, r, D::set1(1.0 / 24));
  p = D::fma(p, r, D::set1(1.0 / 6));
  p = D::fma(p, r, D::set1(0.5));
  p = D::fma(p, r, D::set1(1.0));
  p = D::fma(p, r, D::set1(1.0));
  return D::scale2(p, n);
}

// 1 / (1 + e) for e >= 0 (e = +inf gives 0).
template <class V>
inline typename V::R recip_1p(typename V::R e) {
  // min(cap, d) returns d when d is NaN, so NaN propagates.
  return V::recip(V::min(V::set1(3.4028234663852886e38f), V::add(V::set1(1.0f), e)));
}

// (A quotient e / (1 + e) or 1 / (1 + e), e = exp(-|x|), corrected by one residual step
// (num - s) - s e measured 1.42 ulp instead of 2.22, but 6-9% slower on AVX-512 and 40% on
// AVX2: not taken.)
template <class V>
inline typename V::R sigmoid(typename V::R x) {
  return recip_1p<V>(exp<V>(V::sub(V::set1(0.0f), x)));
}

template <class V>
inline typename V::R tanh(typename V::R x) {
  using R = typename V::R;
  const R ax = V::abs(x);
  const R e = exp<V>(V::mul(ax, V::set1(-2.0f)));  // (1 - e) / (1 + e): <= 1.5 ulp
  const R big = V::div(V::sub(V::set1(1.0f), e), V::add(V::set1(1.0f), e));
  const R z = V::mul(x, x);
  R p = V::set1(-5.70498872745e-3f);
  p = V::fma(p, z, V::set1(2.06390887954e-2f));
  p = V::fma(p, z, V::set1(-5.37397155531e-2f));
  p = V::fma(p, z, V::set1(1.33314422036e-1f));
  p = V::fma(p, z, V::set1(-3.33332819422e-1f));
  const R small = V::fma(V::mul(p, z), ax, ax);
  return V::copysign(V::sel_lt(ax, V::set1(0.625f), small, big), x);
}

// log1p(e) for e in [0, 1] (softplus): log(u), u = 1 + e, by the Cephes logf polynomial on
// the mantissa, plus the rounding of u corrected to first order, (e - (u - 1)) / u.
template <class V>
inline typename V::R log1p_unit(typename V::R e) {
  using R = typename V::R;
  const R one = V::set1(1.0f);
  const R u = V::add(one, e);
  R ex;
  R m = V::frexp(u, &ex);  // u = m 2^ex, m in [0.5, 1)
  const R lo = V::sel_lt(m, V::set1(0.707106781186547524f), one, V::set1(0.0f));
  ex = V::sub(ex, lo);
  m = V::sub(V::add(m, V::mul(m, lo)), one);  // m < sqrt(1/2): 2m - 1, else m - 1
  const R z = V::mul(m, m);
  R y = V::set1(7.0376836292e-2f);
  y = V::fma(y, m, V::set1(-1.1514610310e-1f));
  y = V::fma(y, m, V::set1(1.1676998740e-1f));
  y = V::fma(y, m, V::set1(-1.2420140846e-1f));
  y = V::fma(y, m, V::set1(1.4249322787e-1f));
  y = V::fma(y, m, V::set1(-1.6668057665e-1f));
  y = V::fma(y, m, V::set1(2.0000714765e-1f));
  y = V::fma(y, m, V::set1(-2.4999993993e-1f));
  y = V::fma(y, m, V::set1(3.3333331174e-1f));
  y = V::mul(V::mul(y, m), z);
  y = V::fma(ex, V::set1(-2.12194440e-4f), y);
  y = V::fnma(V::set1(0.5f), z, y);
  R r = V::add(m, y);
  r = V::fma(ex, V::set1(0.693359375f), r);
  return V::add(r, V::div(V::sub(e, V::sub(u, one)), u));
}

// y[i] = f(x[i]) for i < n (y may alias x); full vectors, then one partial one.
template <class V, class F>
inline void map1(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::kW <= n; i += V::kW) V::store(y + i, f(V::load(x + i)));
  if (i < n) V::store_part(y + i, n - i, f(V::load_part(x + i, n - i)));
}

// d[i] = f(g[i], x[i]) (d may alias g).
template <class V, class F>
inline void map2(const float* g, const float* x, float* d, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::kW <= n; i += V::kW) V::store(d + i, f(V::load(g + i), V::load(x + i)));
  if (i < n)
    V::store_part(d + i, n - i, f(V::load_part(g + i, n - i), V::load_part(x + i, n - i)));
}

}  // namespace nabi::cpu::simd
#pragma GCC diagnostic pop
#endif
