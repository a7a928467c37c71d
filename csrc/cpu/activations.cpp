// Pointwise activations, forward and backward. One plain loop per kind (the switch is
// outside the loop), so the cheap kinds auto-vectorise at -O3; transcendental kinds call
// std::exp / std::tanh / std::erf / std::log1p (no -ffast-math), except in float32 on AVX2 /
// AVX-512 CPUs, where activations_simd.h's polynomial kernels (<= 2 ulp; gelu 0.5) run the
// exp / sigmoid / tanh / gelu family (rnn::simd_level(): NABI_GEMM_ISA=portable keeps these loops).
// Tested by tests/test_activation_simd.py (ulp bounds vs float64 NumPy, every ISA).
#include "cpu/activations.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cpu/activations_simd.h"
#include "cpu/parallel.h"
#include "cpu/rnn_common.h"

namespace nabi::cpu {

namespace {
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;  // sqrt(2/pi)
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;  // 1/sqrt(2*pi)
constexpr double kGeluC = 0.044715;

// Stable logistic: never evaluates exp of a large positive number.
template <typename T>
inline T sigmoid(T x) {
  T e = std::exp(-std::abs(x));
  T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

// The float32 SIMD kernels of the CPU's (or NABI_GEMM_ISA's) level; false: use the loops.
bool simd_forward(Act k, const float* x, float* y, int64_t n, float alpha) {
#if defined(NABI_X86)
  switch (rnn::simd_level()) {
    case 2: return act_avx512::forward(k, x, y, n, alpha);
    case 1: return act_avx2::forward(k, x, y, n, alpha);
    default: break;
  }
#endif
  (void)k, (void)x, (void)y, (void)n, (void)alpha;
  return false;
}

bool simd_backward(Act k, const float* g, const float* x, float* dx, int64_t n, float alpha) {
#if defined(NABI_X86)
  if (act_backward_uses_y(k, double(alpha))) return false;  // plain loops on y vectorise
  switch (rnn::simd_level()) {
    case 2: return act_avx512::backward(k, g, x, dx, n, alpha);
    case 1: return act_avx2::backward(k, g, x, dx, n, alpha);
    default: break;
  }
#endif
  (void)k, (void)g, (void)x, (void)dx, (void)n, (void)alpha;
  return false;
}
}  // namespace

bool parse_activation(const std::string& s, Act* out) {
  static const struct {
    const char* name;
    Act kind;
  } table[] = {
      {"linear", Act::Linear},     {"relu", Act::Relu},
      {"relu6", Act::Relu6},       {"leaky_relu", Act::LeakyRelu},
      {"elu", Act::Elu},           {"selu", Act::Selu},
      {"sigmoid", Act::Sigmoid},   {"tanh", Act::Tanh},
      {"softplus", Act::Softplus}, {"softsign", Act::Softsign},
      {"swish", Act::Swish},       {"silu", Act::Swish},
      {"gelu", Act::Gelu},         {"gelu_tanh", Act::GeluTanh},
      {"hard_sigmoid", Act::HardSigmoid}, {"exponential", Act::Exponential},
  };
  for (const auto& e : table)
    if (s == e.name) {
      *out = e.kind;
      return true;
    }
  return false;
}

bool act_backward_uses_y(Act k, double alpha) {
  switch (k) {
    case Act::Linear:
    case Act::Relu:
    case Act::Relu6:
    case Act::Sigmoid:
    case Act::Tanh:
    case Act::HardSigmoid:
    case Act::Exponential:
      return true;
    case Act::LeakyRelu:
      return alpha > 0;  // sign(y) == sign(x) only for a positive slope
    default:
      return false;
  }
}

// Per-element cost for parallel_for (it wakes the second thread once n * cost >= 2 * 32768),
// in units of 1/8 ns of one-thread time on the 2-core Zen 4 dev machine (64k elements, data in
// L2). There hot fork/join costs about 2 us, so two threads pay off from about 4 us of
// one-thread work; these units put the threshold at about 8 us (waking sleeping threads costs
// about 50 us in that VM, and a busy machine makes any fork costly). Measured ns / element x 8,
// AVX-512 float32 kernels (AVX2: x 2) | std:: loops (portable ISA, float64); the plain loops
// of the cheap kinds (and of the y-based gradients) are memory-bound: 2 (float32), 3 (float64).
int64_t act_cost(Act k, bool f64, bool backward) {
  struct Cost {
    int64_t simd, loop;
  };
  Cost c{0, 0};
  if (!backward) {
    switch (k) {
      case Act::Elu: c = {2, 80}; break;
      case Act::Selu: c = {2, 80}; break;
      case Act::Sigmoid: c = {2, 56}; break;
      case Act::Tanh: c = {3, 115}; break;
      case Act::Softplus: c = {8, 96}; break;
      case Act::Swish: c = {3, 57}; break;
      case Act::Gelu: c = {9, 175}; break;
      case Act::GeluTanh: c = {4, 73}; break;
      case Act::Exponential: c = {2, 17}; break;
      default: break;
    }
  } else if (!act_backward_uses_y(k, 1.0)) {  // the x-based gradients (leaky_relu: cheap)
    switch (k) {
      case Act::Elu: c = {2, 50}; break;
      case Act::Selu: c = {2, 50}; break;
      case Act::Softplus: c = {3, 56}; break;
      case Act::Swish: c = {3, 60}; break;
      case Act::Gelu: c = {10, 220}; break;
      case Act::GeluTanh: c = {5, 75}; break;
      default: break;
    }
  }
  if (c.loop == 0) return f64 ? 3 : 2;
  if (f64) return c.loop;
#if defined(NABI_X86)
  if (act_simd_handles(k, backward)) {
    const int level = rnn::simd_level();
    if (level == 2) return c.simd;
    if (level == 1) return 2 * c.simd;
  }
#endif
  return c.loop;
}

template <typename T>
void act_forward_range(Act k, const T* x, T* y, int64_t n, T alpha) {
  if constexpr (std::is_same_v<T, float>)
    if (simd_forward(k, x, y, n, alpha)) return;
  switch (k) {
    case Act::Linear:
      if (x != y)
        for (int64_t i = 0; i < n; ++i) y[i] = x[i];
      break;
    case Act::Relu:
      // x < 0 ? 0 : x, not x > 0 ? x : 0: a NaN stays NaN (as in TF), it is not silenced to 0
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      break;
    case Act::Relu6:
      for (int64_t i = 0; i < n; ++i) {
        T v = x[i] < T(0) ? T(0) : x[i];
        y[i] = v > T(6) ? T(6) : v;
      }
      break;
    case Act::LeakyRelu:  // a select of two computed values: vector blends (see CMakeLists)
      for (int64_t i = 0; i < n; ++i) {
        const T v = x[i], s = alpha * v;
        y[i] = v >= T(0) ? v : s;
      }
      break;
    case Act::Elu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : alpha * std::expm1(x[i]);
      break;
    case Act::Selu: {
      const T a = T(kSeluAlpha), s = T(kSeluScale);
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? s * x[i] : s * a * std::expm1(x[i]);
      break;
    }
    case Act::Sigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
      break;
    case Act::Tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Act::Softplus:
      for (int64_t i = 0; i < n; ++i) {
        T v = x[i];
        y[i] = (v > T(0) ? v : T(0)) + std::log1p(std::exp(-std::abs(v)));
      }
      break;
    case Act::Softsign:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (T(1) + std::abs(x[i]));
      break;
    case Act::Swish:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid(x[i]);
      break;
    case Act::Gelu:  // x Phi(x), Phi = erfc(-x / sqrt 2) / 2 in double: no 1 + erf cancellation
      for (int64_t i = 0; i < n; ++i) {
        const double v = double(x[i]);
        y[i] = T(0.5 * v * std::erfc(-v * kInvSqrt2));
      }
      break;
    case Act::GeluTanh: {  // 0.5 v (1 + tanh(u)) = v sigmoid(2u): no cancellation for v < 0
      const T c = T(kSqrt2OverPi), c3 = T(kGeluC);
      for (int64_t i = 0; i < n; ++i) {
        T v = x[i];
        y[i] = v * sigmoid(T(2) * c * v * (T(1) + c3 * v * v));
      }
      break;
    }
    case Act::HardSigmoid:
      for (int64_t i = 0; i < n; ++i) {
        T v = x[i] + T(3);
        v = v < T(0) ? T(0) : v;
        v = v > T(6) ? T(6) : v;
        y[i] = v / T(6);
      }
      break;
    case Act::Exponential:
      for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
      break;
  }
}

template <typename T>
void act_backward_range(Act k, const T* g, const T* x, const T* y, T* dx, int64_t n, T alpha) {
  if constexpr (std::is_same_v<T, float>)
    if (simd_backward(k, g, x, dx, n, alpha)) return;
  switch (k) {
    case Act::Linear:
      if (g != dx)
        for (int64_t i = 0; i < n; ++i) dx[i] = g[i];
      break;
    case Act::Relu:  // TF: gradient 0 at 0
      // g[i] loaded unconditionally: GCC then blends instead of branching per element (a
      // conditional load kept a branch: 1.6M random-sign floats 7.5 ms -> 0.8 ms)
      for (int64_t i = 0; i < n; ++i) {
        const T gv = g[i];
        dx[i] = y[i] > T(0) ? gv : T(0);
      }
      break;
    case Act::Relu6:  // 1 only on the open interval (0, 6)
      for (int64_t i = 0; i < n; ++i) {
        const T gv = g[i], yv = y[i];
        dx[i] = (yv > T(0) && yv < T(6)) ? gv : T(0);
      }
      break;
    case Act::LeakyRelu:  // TF LeakyReluGrad: features > 0 ? g : alpha * g
      if (act_backward_uses_y(k, double(alpha)))
        for (int64_t i = 0; i < n; ++i) {
          const T gv = g[i], s = alpha * gv;
          dx[i] = y[i] > T(0) ? gv : s;
        }
      else
        for (int64_t i = 0; i < n; ++i) {
          const T gv = g[i], s = alpha * gv;
          dx[i] = x[i] > T(0) ? gv : s;
        }
      break;
    case Act::Elu:
      for (int64_t i = 0; i < n; ++i)
        dx[i] = x[i] > T(0) ? g[i] : g[i] * alpha * std::exp(x[i]);
      break;
    case Act::Selu: {
      const T s = T(kSeluScale), sa = T(kSeluScale * kSeluAlpha);
      for (int64_t i = 0; i < n; ++i)
        dx[i] = x[i] >= T(0) ? g[i] * s : g[i] * sa * std::exp(x[i]);  // TF: scale at 0
      break;
    }
    case Act::Sigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * y[i] * (T(1) - y[i]);
      break;
    case Act::Tanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * (T(1) - y[i] * y[i]);
      break;
    case Act::Softplus:
      for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * sigmoid(x[i]);
      break;
    case Act::Softsign:
      for (int64_t i = 0; i < n; ++i) {
        T d = T(1) + std::abs(x[i]);
        dx[i] = g[i] / (d * d);
      }
      break;
    case Act::Swish:
      for (int64_t i = 0; i < n; ++i) {
        T s = sigmoid(x[i]);
        dx[i] = g[i] * s * (T(1) + x[i] * (T(1) - s));
      }
      break;
    case Act::Gelu:
      for (int64_t i = 0; i < n; ++i) {
        const double v = double(x[i]);
        const double cdf = 0.5 * std::erfc(-v * kInvSqrt2);
        const double pdf = kInvSqrt2Pi * std::exp(-0.5 * v * v);
        dx[i] = T(double(g[i]) * (cdf + v * pdf));
      }
      break;
    case Act::GeluTanh: {
      const T c = T(kSqrt2OverPi), c3 = T(kGeluC);
      for (int64_t i = 0; i < n; ++i) {  // s = sigmoid(2u) = (1 + tanh(u)) / 2
        T v = x[i];
        T s = sigmoid(T(2) * c * v * (T(1) + c3 * v * v));
        T du = c * (T(1) + T(3) * c3 * v * v);
        dx[i] = g[i] * s * (T(1) + T(2) * v * (T(1) - s) * du);
      }
      break;
    }
    case Act::HardSigmoid:  // slope 1/6 on (-3, 3), i.e. 0 < y < 1
      for (int64_t i = 0; i < n; ++i)
        dx[i] = (y[i] > T(0) && y[i] < T(1)) ? g[i] * T(1.0 / 6.0) : T(0);
      break;
    case Act::Exponential:
      for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * y[i];
      break;
  }
}

template <typename T>
void act_forward(Act k, const T* x, T* y, int64_t n, T alpha) {
  parallel_for(n, act_cost(k, std::is_same_v<T, double>, false), [&](int64_t b, int64_t e) {
    act_forward_range<T>(k, x + b, y + b, e - b, alpha);
  });
}

template <typename T>
void act_backward(Act k, const T* g, const T* x, const T* y, T* dx, int64_t n, T alpha) {
  parallel_for(n, act_cost(k, std::is_same_v<T, double>, true), [&](int64_t b, int64_t e) {
    act_backward_range<T>(k, g + b, x ? x + b : nullptr, y ? y + b : nullptr, dx + b, e - b,
                          alpha);
  });
}

template void act_forward_range<float>(Act, const float*, float*, int64_t, float);
template void act_forward_range<double>(Act, const double*, double*, int64_t, double);
template void act_backward_range<float>(Act, const float*, const float*, const float*, float*,
                                        int64_t, float);
template void act_backward_range<double>(Act, const double*, const double*, const double*,
                                         double*, int64_t, double);
template void act_forward<float>(Act, const float*, float*, int64_t, float);
template void act_forward<double>(Act, const double*, double*, int64_t, double);
template void act_backward<float>(Act, const float*, const float*, const float*, float*, int64_t,
                                  float);
template void act_backward<double>(Act, const double*, const double*, const double*, double*,
                                   int64_t, double);

}  // namespace nabi::cpu
