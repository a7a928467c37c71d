// float32 SIMD activation kernels (simd_math.h lanes), instantiated once per ISA in
// activations_avx2.cpp and activations_avx512.cpp; activations.cpp picks one at run time
// (rnn::simd_level(), which follows NABI_GEMM_ISA / gemm_set_isa) and falls back to its
// scalar loops for the kinds listed as not handled and on other CPUs.
//   forward:  sigmoid, tanh, exponential, swish, gelu_tanh, gelu, elu, selu, softplus
//   backward: the x-based ones of those (elu, selu, swish, gelu_tanh, gelu) and softplus
// (the y-based backward kinds are plain loops that GCC vectorises already).
// Identities used: gelu_tanh(v) = v * sigmoid(2u), u = sqrt(2/pi) (v + 0.044715 v^3) (no
// cancellation in 1 + tanh(u) for negative v); selu's scale * alpha as a sum of two floats
// (hi + lo) in the x < 0 branch, so the float64 product is not rounded: hi m + lo m.
// Each returns false (and writes nothing) for a kind it does not handle.
#pragma once
#include <cstdint>

#include "cpu/activations.h"

namespace nabi::cpu {
// The kinds act_avx2 / act_avx512 handle (their switches below return true for these).
inline bool act_simd_handles(Act k, bool backward) {
  switch (k) {
    case Act::Elu:
    case Act::Selu:
    case Act::Softplus:
    case Act::Swish:
    case Act::Gelu:
    case Act::GeluTanh:
      return true;
    case Act::Sigmoid:
    case Act::Tanh:
    case Act::Exponential:
      return !backward;
    default:
      return false;
  }
}

namespace act_avx2 {
bool forward(Act k, const float* x, float* y, int64_t n, float alpha);
bool backward(Act k, const float* g, const float* x, float* dx, int64_t n, float alpha);
}  // namespace act_avx2
namespace act_avx512 {
bool forward(Act k, const float* x, float* y, int64_t n, float alpha);
bool backward(Act k, const float* g, const float* x, float* dx, int64_t n, float alpha);
}  // namespace act_avx512
}  // namespace nabi::cpu

#if defined(NABI_SIMD_ACT_IMPL)  // only in the two ISA files
#include "cpu/simd_math.h"

namespace nabi::cpu::simd {

inline constexpr float kSeluAlphaF = 1.6732632423543772848170429916717f;
inline constexpr float kSeluScaleF = 1.0507009873554804934193349852946f;
inline constexpr double kSeluScaleAlphaD = 1.0507009873554804934 * 1.6732632423543772848;
inline constexpr float kSeluScaleAlphaF = float(kSeluScaleAlphaD);
inline constexpr float kSeluScaleAlphaLoF = float(kSeluScaleAlphaD - double(kSeluScaleAlphaF));
inline constexpr float kTwoSqrt2OverPiF = 1.5957691216057307117597842397375f;  // 2 sqrt(2/pi)
inline constexpr float kGeluCF = 0.044715f;

// 2u of gelu_tanh: 2 sqrt(2/pi) v (1 + 0.044715 v^2).
template <class V>
inline typename V::R gelu_2u(typename V::R v) {
  return V::mul(V::mul(V::set1(kTwoSqrt2OverPiF), v),
                V::fma(V::set1(kGeluCF), V::mul(v, v), V::set1(1.0f)));
}

// gelu (erf form) in float64 lanes. Phi(x) = 0.5 erfc(-x / sqrt 2) is 1 - q for x >= 0 and q
// for x < 0, q = 0.5 erfc(|x| / sqrt 2) = exp(-x^2 / 2) R(|x|) with R a rational 5/6 fit of
// 0.5 erfcx(a / sqrt 2) on [0, 16] (relative error 1.1e-10, positive coefficients: no
// cancellation); x^2 / 2 is exact in float64. So the negative tail keeps its relative accuracy
// (no 1 + erf(x) to cancel) and the result is rounded to float32 once. x in [-16, 16].
// c[0] + c[1] a + ... + c[N-1] a^(N-1) by Horner's rule.
template <class D, int N>
inline typename D::R horner(typename D::R a, const double (&c)[N]) {
  typename D::R p = D::set1(c[N - 1]);
  for (int i = N - 2; i >= 0; --i) p = D::fma(p, a, D::set1(c[i]));
  return p;
}

template <class D>
inline void gelu_q_parts(typename D::R x, typename D::R* e, typename D::R* r) {
  static constexpr double kP[] = {0.4999999999481541,   0.5104508548975544,
                                  0.25317530371127195,  0.07241533946314363,
                                  0.011893893626439816, 0.0009158050793272213};
  static constexpr double kQ[] = {1.0,
                                  1.8187862607865537,
                                  1.4575322333702463,
                                  0.6643406497205122,
                                  0.18381877068405222,
                                  0.02981341443166448,
                                  0.002295585114514816};
  const typename D::R a = D::abs(x);
  *r = D::div(horner<D>(a, kP), horner<D>(a, kQ));
  *e = exp_f64<D>(D::mul(D::mul(x, x), D::set1(-0.5)));
}

template <class D>
inline typename D::R gelu_f64(typename D::R x) {  // x Phi(x)
  typename D::R e, r;
  gelu_q_parts<D>(x, &e, &r);
  const typename D::R q = D::mul(e, r);
  return D::mul(x, D::sel_lt(x, D::set1(0.0), q, D::sub(D::set1(1.0), q)));
}

template <class D>
inline typename D::R gelu_grad_f64(typename D::R x) {  // Phi(x) + x phi(x)
  using R = typename D::R;
  R e, r;
  gelu_q_parts<D>(x, &e, &r);
  const R xp = D::mul(x, D::set1(0.39894228040143267794));  // x / sqrt(2 pi): x phi = e xp
  return D::sel_lt(x, D::set1(0.0), D::mul(e, D::add(r, xp)),
                   D::fma(e, D::sub(xp, r), D::set1(1.0)));
}

template <class V>
bool act_forward(Act k, const float* x, float* y, int64_t n, float alpha) {
  using R = typename V::R;
  switch (k) {
    case Act::Sigmoid:
      map1<V>(x, y, n, [](R v) { return sigmoid<V>(v); });
      return true;
    case Act::Tanh:
      map1<V>(x, y, n, [](R v) { return tanh<V>(v); });
      return true;
    case Act::Exponential:
      map1<V>(x, y, n, [](R v) { return exp<V>(v); });
      return true;
    case Act::Swish:
      map1<V>(x, y, n, [](R v) { return V::mul(v, sigmoid<V>(v)); });
      return true;
    case Act::GeluTanh:
      map1<V>(x, y, n, [](R v) { return V::mul(v, sigmoid<V>(gelu_2u<V>(v))); });
      return true;
    case Act::Gelu: {  // |x| > 16: x (x > 0), x * 0 (x < 0: -0, NaN at -inf, as the loop)
      using D = typename V::D;
      const R lim = V::set1(16.0f), nlim = V::set1(-16.0f), zero = V::set1(0.0f);
      map1<V>(x, y, n, [&](R v) {
        typename D::R lo, hi;
        V::widen(V::min(lim, V::max(nlim, v)), &lo, &hi);  // min / max keep a NaN
        const R r = V::narrow(gelu_f64<D>(lo), gelu_f64<D>(hi));
        return V::sel_gt(v, lim, v, V::sel_lt(v, nlim, V::mul(v, zero), r));
      });
      return true;
    }
    case Act::Softplus: {  // max(x, 0) + log1p(exp(-|x|)); max(0, x) keeps a NaN
      const R zero = V::set1(0.0f);
      map1<V>(x, y, n, [&](R v) {
        return V::add(V::max(zero, v), log1p_unit<V>(exp<V>(V::sub(zero, V::abs(v)))));
      });
      return true;
    }
    case Act::Elu: {
      const R a = V::set1(alpha), zero = V::set1(0.0f);
      map1<V>(x, y, n, [&](R v) { return V::sel_gt(v, zero, v, V::mul(a, expm1_neg<V>(v))); });
      return true;
    }
    case Act::Selu: {
      const R s = V::set1(kSeluScaleF), sa = V::set1(kSeluScaleAlphaF);
      const R sa_lo = V::set1(kSeluScaleAlphaLoF), zero = V::set1(0.0f);
      map1<V>(x, y, n, [&](R v) {  // expm1 in [-1, 0]: the split product stays finite
        const R m = expm1_neg<V>(v);
        return V::sel_gt(v, zero, V::mul(s, v), V::fma(sa, m, V::mul(sa_lo, m)));
      });
      return true;
    }
    default:
      return false;
  }
}

template <class V>
bool act_backward(Act k, const float* g, const float* x, float* dx, int64_t n, float alpha) {
  using R = typename V::R;
  const R zero = V::set1(0.0f), one = V::set1(1.0f);
  switch (k) {
    case Act::Elu: {
      const R a = V::set1(alpha);
      map2<V>(g, x, dx, n, [&](R gv, R v) {
        return V::sel_gt(v, zero, gv, V::mul(V::mul(gv, a), exp<V>(v)));
      });
      return true;
    }
    case Act::Selu: {  // TF: scale at 0
      const R s = V::set1(kSeluScaleF), sa = V::set1(kSeluScaleAlphaF);
      map2<V>(g, x, dx, n, [&](R gv, R v) {
        return V::sel_ge(v, zero, V::mul(gv, s), V::mul(V::mul(gv, sa), exp<V>(v)));
      });
      return true;
    }
    case Act::Gelu: {  // g (Phi(x) + x phi(x)) in float64, rounded once
      using D = typename V::D;
      const R lim = V::set1(16.0f), nlim = V::set1(-16.0f);
      map2<V>(g, x, dx, n, [&](R gv, R v) {
        typename D::R lo, hi, glo, ghi;
        V::widen(V::min(lim, V::max(nlim, v)), &lo, &hi);
        V::widen(gv, &glo, &ghi);
        return V::narrow(D::mul(glo, gelu_grad_f64<D>(lo)), D::mul(ghi, gelu_grad_f64<D>(hi)));
      });
      return true;
    }
    case Act::Softplus:
      map2<V>(g, x, dx, n, [](R gv, R v) { return V::mul(gv, sigmoid<V>(v)); });
      return true;
    case Act::Swish:  // g s (1 + x (1 - s))
      map2<V>(g, x, dx, n, [&](R gv, R v) {
        const R s = sigmoid<V>(v);
        return V::mul(V::mul(gv, s), V::fma(v, V::sub(one, s), one));
      });
      return true;
    case Act::GeluTanh:  // g s (1 + 2 v (1 - s) du), s = sigmoid(2u), du = c (1 + 3 c3 v^2)
      map2<V>(g, x, dx, n, [&](R gv, R v) {
        const R s = sigmoid<V>(gelu_2u<V>(v));
        const R du = V::mul(V::set1(0.5f * kTwoSqrt2OverPiF),
                            V::fma(V::set1(3.0f * kGeluCF), V::mul(v, v), one));
        const R t = V::mul(V::mul(V::add(v, v), V::sub(one, s)), du);
        return V::mul(V::mul(gv, s), V::add(one, t));
      });
      return true;
    default:
      return false;
  }
}

}  // namespace nabi::cpu::simd
#endif
