// Fused dense layer on the GPU (see rnn_launchers.h; semantics of csrc/cpu/dense.h/.cpp).
//
// Algorithm (host orchestration only; every kernel is an existing, separately tested one):
//   forward:  one launch of the tiled GEMM with the fused epilogue (cuda::gemm_bias_act):
//             z = x @ w + b (stored when the derivative needs it), y = act(z) (the kinds
//             and formulas of csrc/cpu/activations.cpp, cuda/activations.cuh); a softmax
//             output then takes the row softmax (cuda::softmax_forward, one warp or block
//             per row) of z.
//   backward: dz = act'(.) * grad_y (from y or from z as the CPU decides with
//             cpu::act_backward_uses_y; softmax: cuda::softmax_backward) into a scratch
//             buffer (linear: dz is grad_y itself) and db = column sums of dz (float64
//             accumulation) in one pass (cuda::act_backward_bias_grad; without an
//             activation cuda::bias_grad, after a softmax the two separately), then
//             dw = x^T @ dz and dx = dz @ w^T (cuda::gemm with transpose flags, no explicit
//             transposes).
// Blocking: that of the GEMM (register-blocked shared-memory tiles) and of the pointwise
// kernels (grid-stride loops, 256 threads).
#include <cstdint>
#include <vector>

#include "cpu/activations.h"
#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/launchers.h"
#include "cuda/rnn_launchers.h"

namespace nabi::cuda {

namespace {

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::Float64;
};

template <typename T>
void zero(T* p, int64_t n) {
  if (p && n > 0) memset_zero(p, static_cast<size_t>(n) * sizeof(T));
}

}  // namespace

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, T* y, T* z, int64_t M, int64_t K,
                   int64_t N, bool softmax, int kind, T alpha) {
  if (M <= 0 || N <= 0) return;
  if (!softmax) {  // one launch: the GEMM's epilogue adds b, stores z and applies the activation
    gemm_bias_act<T>(M, N, K, x, w, b, z, y, kind, alpha);
    return;
  }
  T* acc = z ? z : y;  // softmax: z = x @ w + b in one launch, then the row softmax
  gemm_bias_act<T>(M, N, K, x, w, b, nullptr, acc, static_cast<int>(cpu::Act::Linear), T(0));
  softmax_forward<T>(acc, y, M, N, false);
}

template <typename T>
void dense_backward(const T* grad_y, const T* x, const T* w, const T* act_in, T* dx, T* dw,
                    T* db, int64_t M, int64_t K, int64_t N, bool softmax, int kind, T alpha) {
  const bool identity = !softmax && static_cast<cpu::Act>(kind) == cpu::Act::Linear;
  const T* dz = grad_y;
  const bool need_dz = !identity && M > 0 && N > 0;
  bool db_done = false;
  DeviceBuffer dz_buf(std::vector<int64_t>{need_dz ? M * N : 0}, DTypeOf<T>::value);
  if (need_dz) {
    T* d = dz_buf.ptr<T>();
    if (softmax) {
      softmax_backward<T>(grad_y, act_in, d, M, N, false);
    } else {
      const bool from_y = cpu::act_backward_uses_y(static_cast<cpu::Act>(kind), double(alpha));
      const T* xs = from_y ? nullptr : act_in;
      const T* ys = from_y ? act_in : nullptr;
      if (db) {  // dz and db in one pass
        act_backward_bias_grad<T>(kind, grad_y, xs, ys, d, db, M, N, alpha);
        db_done = true;
      } else {
        act_backward<T>(kind, grad_y, xs, ys, d, M * N, alpha);
      }
    }
    dz = d;
  }
  // dw = x^T @ dz   (K, N)
  if (K > 0 && N > 0) {
    if (M > 0)
      gemm<T>(true, false, K, N, M, T(1), x, K, dz, N, T(0), dw, N);
    else
      zero(dw, K * N);
  }
  if (db && !db_done) bias_grad<T>(dz, db, M, N);
  // dx = dz @ w^T   (M, K)
  if (dx && M > 0 && K > 0) {
    if (N > 0)
      gemm<T>(false, true, M, K, N, T(1), dz, N, w, N, T(0), dx, K);
    else
      zero(dx, M * K);
  }
}

#define NABI_INST(T)                                                                         \
  template void dense_forward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,     \
                                 int64_t, bool, int, T);                                     \
  template void dense_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*,        \
                                  int64_t, int64_t, int64_t, bool, int, T);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cuda
