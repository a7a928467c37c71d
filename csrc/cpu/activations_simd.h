// float32 SIMD activation kernels (simd_math.h lanes), instantiated once per ISA in
// activations_avx2.cpp and activations_avx512.cpp; activations.cpp picks one at run time
// (rnn::simd_level(), which follows NABI_GEMM_ISA / gemm_set_isa) and falls back to its
// scalar loops for the kinds listed as not handled and on other CPUs.
//   forward:  sigmoid, tanh, exponential, swish, gelu_tanh, elu, selu, softplus
//   backward: the x-based ones of those (elu, selu, swish, gelu_tanh) and softplus
// (the y-based backward kinds are plain loops that GCC vectorises already).
// Identities used: gelu_tanh(v) = v * sigmoid(2u), u = sqrt(2/pi) (v + 0.044715 v^3) (no
// cancellation in 1 + tanh(u) for negative v); expm1(x) = 2t / (1 - t), t = tanh(x / 2)
// (accurate near 0, where exp(x) - 1 cancels; used for -1.25 <= x <= 0).
// Each returns false (and writes nothing) for a kind it does not handle.
#pragma once
#include <cstdint>

#include "cpu/activations.h"

namespace nabi::cpu {
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
inline constexpr float kSeluScaleAlphaF = float(1.0507009873554804934 * 1.6732632423543772848);
inline constexpr float kTwoSqrt2OverPiF = 1.5957691216057307117597842397375f;  // 2 sqrt(2/pi)
inline constexpr float kGeluCF = 0.044715f;

// expm1(x) for x <= 0 (see the file comment); other lanes are discarded by the caller.
// Below -1.25, where t would leave tanh's polynomial range, exp(x) - 1 (exp(x) < 0.29: no
// cancellation).
template <class V>
inline typename V::R expm1_neg(typename V::R x) {
  using R = typename V::R;
  const R one = V::set1(1.0f);
  const R t = tanh<V>(V::mul(x, V::set1(0.5f)));
  const R near0 = V::div(V::add(t, t), V::sub(one, t));
  return V::sel_lt(x, V::set1(-1.25f), V::sub(exp<V>(x), one), near0);
}

// 2u of gelu_tanh: 2 sqrt(2/pi) v (1 + 0.044715 v^2).
template <class V>
inline typename V::R gelu_2u(typename V::R v) {
  return V::mul(V::mul(V::set1(kTwoSqrt2OverPiF), v),
                V::fma(V::set1(kGeluCF), V::mul(v, v), V::set1(1.0f)));
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
      const R zero = V::set1(0.0f);
      map1<V>(x, y, n, [&](R v) {
        return V::sel_gt(v, zero, V::mul(s, v), V::mul(sa, expm1_neg<V>(v)));
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
