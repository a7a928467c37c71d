// Row-wise softmax / log-softmax (see softmax.h). Rows are independent: threaded over
// row blocks with nabi::parallel_for; each row is two or three streaming passes.
#include "cpu/softmax.h"

#include <cmath>

#include "cpu/parallel.h"
#include "cpu/rowops.h"

namespace nabi::cpu {

template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T m = rowops::row_max(xr, cols);
    const T s = rowops::exp_shift_sum(xr, yr, cols, m);
    const T inv = T(1) / s;
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

template <typename T>
void softmax_backward_rows(const T* g, const T* y, T* dx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* gr = g + r * cols;
    const T* yr = y + r * cols;
    T* dr = dx + r * cols;
    const T d = rowops::row_dot(gr, yr, cols);
    for (int64_t j = 0; j < cols; ++j) dr[j] = yr[j] * (gr[j] - d);
  }
}

template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols) {
  parallel_for(rows, cols * 20, [&](int64_t b, int64_t e) {
    softmax_rows(x + b * cols, y + b * cols, e - b, cols);
  });
}

template <typename T>
void softmax_backward(const T* g, const T* y, T* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, cols * 4, [&](int64_t b, int64_t e) {
    softmax_backward_rows(g + b * cols, y + b * cols, dx + b * cols, e - b, cols);
  });
}

template <typename T>
void log_softmax_forward(const T* x, T* y, int64_t rows, int64_t cols) {
  parallel_for(rows, cols * 20, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      const T m = rowops::row_max(xr, cols);
      T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t j = 0;
      for (; j + 8 <= cols; j += 8)
        for (int l = 0; l < 8; ++l) s[l] += std::exp(xr[j + l] - m);
      for (; j < cols; ++j) s[0] += std::exp(xr[j] - m);
      const T sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
      // (x - m) - log(sum): subtract the max first so large logits keep their precision.
      const T ls = std::log(sum);
      for (int64_t k = 0; k < cols; ++k) yr[k] = (xr[k] - m) - ls;
    }
  });
}

template <typename T>
void log_softmax_backward(const T* g, const T* y, T* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, cols * 20, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* gr = g + r * cols;
      const T* yr = y + r * cols;
      T* dr = dx + r * cols;
      const T s = rowops::row_sum(gr, cols);
      for (int64_t j = 0; j < cols; ++j) dr[j] = gr[j] - std::exp(yr[j]) * s;
    }
  });
}

#define NABI_INST(T)                                                                  \
  template void softmax_rows<T>(const T*, T*, int64_t, int64_t);                      \
  template void softmax_backward_rows<T>(const T*, const T*, T*, int64_t, int64_t);   \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t);                   \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);        \
  template void log_softmax_forward<T>(const T*, T*, int64_t, int64_t);               \
  template void log_softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cpu
