// Row-wise softmax / log-softmax over contiguous (rows, cols) buffers, float32/float64.
// Forward outputs may alias the input; backward outputs may alias grad.
//   softmax:      y = exp(x - max) / sum(exp(x - max))
//   log_softmax:  y = x - max - log(sum(exp(x - max)))
//   softmax bwd:  dx = y * (g - sum(g * y))
//   log bwd:      dx = g - exp(y) * sum(g)
// A row whose max is -inf (all -inf) or +inf gives NaN, as in TF; -inf entries of a row
// with a finite max give 0 (log_softmax: -inf).
#pragma once
#include <cstdint>

namespace nabi::cpu {

// Single-threaded over rows [0, rows): for epilogues already inside a parallel_for.
template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
void softmax_backward_rows(const T* g, const T* y, T* dx, int64_t rows, int64_t cols);

// Threaded over rows.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
void softmax_backward(const T* g, const T* y, T* dx, int64_t rows, int64_t cols);
template <typename T>
void log_softmax_forward(const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
void log_softmax_backward(const T* g, const T* y, T* dx, int64_t rows, int64_t cols);

}  // namespace nabi::cpu
