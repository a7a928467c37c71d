// Keras activations as device functions, shared by the pointwise kernels (elementwise.cu) and
// the fused GEMM epilogue (gemm.cu). kind is static_cast<int>(nabi::cpu::Act); the formulas
// are those of csrc/cpu/activations.cpp, with CUDA's float/double math overloads.
#pragma once
#include <cuda_runtime.h>

#include "cpu/activations.h"

namespace nabi::cuda::acts {

using cpu::Act;

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;
constexpr double kGeluC = 0.044715;

template <typename T>
__device__ __forceinline__ T sigmoid_(T x) {
  const T e = exp(-fabs(x));
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

template <typename T>
__device__ __forceinline__ T act_f(int k, T v, T alpha) {
  switch (static_cast<Act>(k)) {
    case Act::Linear: return v;
    case Act::Relu: return v < T(0) ? T(0) : v;  // NaN stays NaN, as in TF
    case Act::Relu6: { T r = v < T(0) ? T(0) : v; return r > T(6) ? T(6) : r; }
    case Act::LeakyRelu: return v >= T(0) ? v : alpha * v;
    case Act::Elu: return v > T(0) ? v : alpha * expm1(v);
    case Act::Selu:
      return v > T(0) ? T(kSeluScale) * v : T(kSeluScale) * T(kSeluAlpha) * expm1(v);
    case Act::Sigmoid: return sigmoid_(v);
    case Act::Tanh: return tanh(v);
    case Act::Softplus: return (v > T(0) ? v : T(0)) + log1p(exp(-fabs(v)));
    case Act::Softsign: return v / (T(1) + fabs(v));
    case Act::Swish: return v * sigmoid_(v);
    case Act::Gelu: return T(0.5) * v * (T(1) + erf(v * T(kInvSqrt2)));
    case Act::GeluTanh:
      return T(0.5) * v * (T(1) + tanh(T(kSqrt2OverPi) * (v + T(kGeluC) * v * v * v)));
    case Act::HardSigmoid: {
      T r = v + T(3);
      r = r < T(0) ? T(0) : r;
      r = r > T(6) ? T(6) : r;
      return r / T(6);
    }
    case Act::Exponential: return exp(v);
  }
  return v;
}

// uses_y: the host's cpu::act_backward_uses_y(kind, alpha) (only LeakyRelu depends on it).
template <typename T>
__device__ __forceinline__ T act_b(int k, T g, T x, T y, T alpha, bool uses_y) {
  switch (static_cast<Act>(k)) {
    case Act::Linear: return g;
    case Act::Relu: return y > T(0) ? g : T(0);
    case Act::Relu6: return (y > T(0) && y < T(6)) ? g : T(0);
    case Act::LeakyRelu: return (uses_y ? y : x) > T(0) ? g : alpha * g;
    case Act::Elu: return x > T(0) ? g : g * alpha * exp(x);
    case Act::Selu:
      return x >= T(0) ? g * T(kSeluScale) : g * T(kSeluScale * kSeluAlpha) * exp(x);
    case Act::Sigmoid: return g * y * (T(1) - y);
    case Act::Tanh: return g * (T(1) - y * y);
    case Act::Softplus: return g * sigmoid_(x);
    case Act::Softsign: { const T d = T(1) + fabs(x); return g / (d * d); }
    case Act::Swish: { const T s = sigmoid_(x); return g * s * (T(1) + x * (T(1) - s)); }
    case Act::Gelu: {
      const T cdf = T(0.5) * (T(1) + erf(x * T(kInvSqrt2)));
      const T pdf = T(kInvSqrt2Pi) * exp(T(-0.5) * x * x);
      return g * (cdf + x * pdf);
    }
    case Act::GeluTanh: {
      const T c = T(kSqrt2OverPi), c3 = T(kGeluC);
      const T t = tanh(c * (x + c3 * x * x * x));
      const T du = c * (T(1) + T(3) * c3 * x * x);
      return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
    }
    case Act::HardSigmoid: return (y > T(0) && y < T(1)) ? g * T(1.0 / 6.0) : T(0);
    case Act::Exponential: return g * y;
  }
  return g;
}

}  // namespace nabi::cuda::acts
