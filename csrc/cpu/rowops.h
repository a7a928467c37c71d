// Small inline row reductions shared by the row-wise kernels (softmax, losses, dense).
// Eight independent partial accumulators let GCC vectorise the reduction without
// -ffast-math and keep float32 sums accurate for long rows.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace nabi::cpu::rowops {

template <typename T>
inline T row_max(const T* x, int64_t n) {
  T m[8];
  for (int l = 0; l < 8; ++l) m[l] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
  for (; i < n; ++i) m[0] = x[i] > m[0] ? x[i] : m[0];
  T r = m[0];
  for (int l = 1; l < 8; ++l) r = m[l] > r ? m[l] : r;
  return r;
}

template <typename T>
inline T row_sum(const T* x, int64_t n) {
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) s[l] += x[i + l];
  for (; i < n; ++i) s[0] += x[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <typename T>
inline T row_dot(const T* x, const T* y, int64_t n) {
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) s[l] += x[i + l] * y[i + l];
  for (; i < n; ++i) s[0] += x[i] * y[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// y[j] = exp(x[j] - m); returns the sum of y. y may alias x.
template <typename T>
inline T exp_shift_sum(const T* x, T* y, int64_t n, T m) {
  for (int64_t j = 0; j < n; ++j) y[j] = std::exp(x[j] - m);
  return row_sum(y, n);
}

}  // namespace nabi::cpu::rowops
