// Fused dense layer (see dense.h): GEMM, then a single cache-friendly epilogue per row
// block (bias add and activation while the row is in L1).
#include "cpu/dense.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/bias.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/softmax.h"

namespace nabi::cpu {

bool dense_keeps_z(const DenseAct& act, double alpha) {
  if (act.softmax) return false;
  return !act_backward_uses_y(act.kind, alpha);
}

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, T* y, T* z, int64_t M, int64_t K,
                   int64_t N, DenseAct act, T alpha) {
  if (M <= 0 || N <= 0) return;
  T* acc = z ? z : y;
  if (K > 0)
    gemm(false, false, M, N, K, T(1), x, K, w, N, T(0), acc, N);
  else
    std::fill(acc, acc + M * N, T(0));
  const bool trivial = !act.softmax && act.kind == Act::Linear && !b && !z;
  if (trivial) return;
  constexpr bool f64 = std::is_same_v<T, double>;
  const int64_t cost = N * (act.softmax ? 20 : act_cost(act.kind, f64, false) + 1);
  parallel_for(M, cost, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      T* zr = acc + r * N;
      T* yr = y + r * N;
      if (b)
        for (int64_t j = 0; j < N; ++j) zr[j] += b[j];
      if (act.softmax)
        softmax_rows(zr, yr, 1, N);
      else
        act_forward_range(act.kind, zr, yr, N, alpha);
    }
  });
}

template <typename T>
void dense_backward(const T* grad_y, const T* x, const T* w, const T* act_in, T* dx, T* dw,
                    T* db, int64_t M, int64_t K, int64_t N, DenseAct act, T alpha) {
  const T* dz = grad_y;
  std::vector<T> dz_buf;
  const bool identity = !act.softmax && act.kind == Act::Linear;
  if (!identity && M > 0 && N > 0) {
    dz_buf.resize(static_cast<size_t>(M * N));
    T* d = dz_buf.data();
    const bool from_y = act.softmax || act_backward_uses_y(act.kind, double(alpha));
    constexpr bool f64 = std::is_same_v<T, double>;
    const int64_t cost = N * (act.softmax ? 4 : act_cost(act.kind, f64, true) + 1);
    parallel_for(M, cost, [&](int64_t rb, int64_t re) {
      const int64_t off = rb * N, n = (re - rb) * N;
      if (act.softmax)
        softmax_backward_rows(grad_y + off, act_in + off, d + off, re - rb, N);
      else
        act_backward_range(act.kind, grad_y + off, from_y ? nullptr : act_in + off,
                           from_y ? act_in + off : nullptr, d + off, n, alpha);
    });
    dz = d;
  }
  // dw = x^T @ dz   (K, N)
  if (K > 0 && N > 0) {
    if (M > 0)
      gemm(true, false, K, N, M, T(1), x, K, dz, N, T(0), dw, N);
    else
      std::fill(dw, dw + K * N, T(0));
  }
  if (db) bias_grad(dz, db, M, N);
  // dx = dz @ w^T   (M, K)
  if (dx && M > 0 && K > 0) {
    if (N > 0)
      gemm(false, true, M, K, N, T(1), dz, N, w, N, T(0), dx, K);
    else
      std::fill(dx, dx + M * K, T(0));
  }
}

template void dense_forward<float>(const float*, const float*, const float*, float*, float*,
                                   int64_t, int64_t, int64_t, DenseAct, float);
template void dense_forward<double>(const double*, const double*, const double*, double*,
                                    double*, int64_t, int64_t, int64_t, DenseAct, double);
template void dense_backward<float>(const float*, const float*, const float*, const float*,
                                    float*, float*, float*, int64_t, int64_t, int64_t, DenseAct,
                                    float);
template void dense_backward<double>(const double*, const double*, const double*,
                                     const double*, double*, double*, double*, int64_t, int64_t,
                                     int64_t, DenseAct, double);

}  // namespace nabi::cpu
