// Fused dense layer, float32/float64, row-major contiguous buffers.
//   forward:  z = x @ w (+ b) via nabi::cpu::gemm, then bias + activation in one epilogue
//             pass per row block: y = act(z). z is kept (z_out != null) only when the
//             derivative needs it (see dense_keeps_z).
//   backward: dz = act'(.) * grad_y (softmax: y * (g - rowsum(g * y))),
//             dw = x^T @ dz, db = column sums of dz, dx = dz @ w^T (each optional but dw).
#pragma once
#include <cstdint>

#include "cpu/activations.h"

namespace nabi::cpu {

struct DenseAct {
  bool softmax = false;     // row softmax of z
  Act kind = Act::Linear;   // used when !softmax
};

// Whether the forward must keep z (the derivative cannot be computed from y alone).
bool dense_keeps_z(const DenseAct& act, double alpha);

// x (M, K), w (K, N), b (N,) or null, y (M, N); z (M, N) or null (then y holds z in place).
template <typename T>
void dense_forward(const T* x, const T* w, const T* b, T* y, T* z, int64_t M, int64_t K,
                   int64_t N, DenseAct act, T alpha);

// grad_y (M, N); act_in is y when the derivative comes from y, else z.
// dx (M, K) and db (N,) may be null; dw (K, N) is always written.
template <typename T>
void dense_backward(const T* grad_y, const T* x, const T* w, const T* act_in, T* dx, T* dw,
                    T* db, int64_t M, int64_t K, int64_t N, DenseAct act, T alpha);

}  // namespace nabi::cpu
