// Bias add over the last axis and its gradient (column sums), float32/float64.
//   bias_add:  y[r, c] = x[r, c] + b[c]            (y may alias x)
//   bias_grad: db[c] = sum_r g[r, c]               (accumulated in float64, threaded)
#pragma once
#include <cstdint>

namespace nabi::cpu {

template <typename T>
void bias_add(const T* x, const T* b, T* y, int64_t rows, int64_t cols);
template <typename T>
void bias_grad(const T* g, T* db, int64_t rows, int64_t cols);

}  // namespace nabi::cpu
