// Pointwise activations (forward and backward) over contiguous buffers, float32/float64.
//   act_forward(kind, x, y, n, alpha)            y = f(x); y may alias x
//   act_backward(kind, g, x, y, dx, n, alpha)    dx = f'(.) * g; dx may alias g
// The backward reads only y when act_backward_uses_y(kind, alpha) is true, otherwise only x
// (the other pointer may then be null). The *_range variants do no threading and are meant
// for epilogues that already run inside a parallel_for (dense.cpp).
#pragma once
#include <cstdint>
#include <string>

namespace nabi::cpu {

enum class Act {
  Linear,
  Relu,
  Relu6,
  LeakyRelu,
  Elu,
  Selu,
  Sigmoid,
  Tanh,
  Softplus,
  Softsign,
  Swish,
  Gelu,
  GeluTanh,
  HardSigmoid,
  Exponential,
};

// Parses a Keras activation name; returns false for unknown names.
bool parse_activation(const std::string& name, Act* out);

// Whether the derivative is computed from the forward output y alone (else from x).
bool act_backward_uses_y(Act kind, double alpha);

// Measured per-element cost of act_forward / act_backward (backward = true) for parallel_for's
// threshold: depends on the kind, the dtype (f64: float64) and whether the float32 SIMD kernels
// run (the ISA in use); see activations.cpp. dense.cpp's bias + activation epilogue uses it too.
int64_t act_cost(Act kind, bool f64, bool backward);

template <typename T>
void act_forward_range(Act kind, const T* x, T* y, int64_t n, T alpha);
template <typename T>
void act_backward_range(Act kind, const T* g, const T* x, const T* y, T* dx, int64_t n, T alpha);

// Threaded versions (nabi::parallel_for above a size threshold).
template <typename T>
void act_forward(Act kind, const T* x, T* y, int64_t n, T alpha);
template <typename T>
void act_backward(Act kind, const T* g, const T* x, const T* y, T* dx, int64_t n, T alpha);

}  // namespace nabi::cpu
