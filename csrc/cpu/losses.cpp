// Fused softmax / sparse softmax / sigmoid cross-entropy (see losses.h).
#include "cpu/losses.h"

#include <cmath>

#include "cpu/parallel.h"
#include "cpu/rowops.h"

namespace nabi::cpu {

template <typename T>
void softmax_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                  int64_t cols) {
  parallel_for(rows, cols * 24, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* x = logits + r * cols;
      const T* z = labels + r * cols;
      T* bp = backprop + r * cols;
      const T m = rowops::row_max(x, cols);
      const T s = rowops::exp_shift_sum(x, bp, cols, m);
      const T ls = std::log(s);
      T acc = 0;
      for (int64_t j = 0; j < cols; ++j)
        acc += z[j] != T(0) ? z[j] * (ls - (x[j] - m)) : T(0);
      loss[r] = acc;
      const T inv = T(1) / s;
      for (int64_t j = 0; j < cols; ++j) bp[j] = bp[j] * inv - z[j];
    }
  });
}

template <typename T, typename L>
void sparse_softmax_xent(const L* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                         int64_t cols) {
  parallel_for(rows, cols * 20, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* x = logits + r * cols;
      T* bp = backprop + r * cols;
      const int64_t c = static_cast<int64_t>(labels[r]);
      const T m = rowops::row_max(x, cols);
      const T s = rowops::exp_shift_sum(x, bp, cols, m);
      loss[r] = std::log(s) - (x[c] - m);
      const T inv = T(1) / s;
      for (int64_t j = 0; j < cols; ++j) bp[j] *= inv;
      bp[c] -= T(1);
    }
  });
}

template <typename T>
void sigmoid_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t n) {
  parallel_for(n, 30, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T x = logits[i], z = labels[i];
      const T ea = std::exp(-std::abs(x));
      loss[i] = (x > T(0) ? x : T(0)) - x * z + std::log1p(ea);
      const T r = T(1) / (T(1) + ea);
      backprop[i] = (x >= T(0) ? r : ea * r) - z;
    }
  });
}

template void softmax_xent<float>(const float*, const float*, float*, float*, int64_t, int64_t);
template void softmax_xent<double>(const double*, const double*, double*, double*, int64_t,
                                   int64_t);
template void sparse_softmax_xent<float, int32_t>(const int32_t*, const float*, float*, float*,
                                                  int64_t, int64_t);
template void sparse_softmax_xent<float, int64_t>(const int64_t*, const float*, float*, float*,
                                                  int64_t, int64_t);
template void sparse_softmax_xent<double, int32_t>(const int32_t*, const double*, double*,
                                                   double*, int64_t, int64_t);
template void sparse_softmax_xent<double, int64_t>(const int64_t*, const double*, double*,
                                                   double*, int64_t, int64_t);
template void sigmoid_xent<float>(const float*, const float*, float*, float*, int64_t);
template void sigmoid_xent<double>(const double*, const double*, double*, double*, int64_t);

}  // namespace nabi::cpu
