// Bias add and bias gradient (see bias.h).
// bias_grad accumulates in float64. Many rows: per-chunk partial sums over contiguous row
// blocks (one chunk per thread), combined at the end. Few rows but many columns: threads
// take column blocks and sweep all rows.
#include "cpu/bias.h"

#include <algorithm>
#include <vector>

#include "cpu/parallel.h"

namespace nabi::cpu {

template <typename T>
void bias_add(const T* x, const T* b, T* y, int64_t rows, int64_t cols) {
  parallel_for(rows, cols, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] + b[j];
    }
  });
}

template <typename T>
void bias_grad(const T* g, T* db, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (rows <= 0) {
    std::fill(db, db + cols, T(0));
    return;
  }
  const int nt = max_threads();
  const int64_t work = rows * cols;
  if (nt > 1 && cols >= 256 * int64_t(nt) && rows < 8 * int64_t(nt)) {
    // Column blocks: each thread owns a slice of db.
    parallel_for(cols, rows, [&](int64_t cb, int64_t ce) {
      const int64_t w = ce - cb;
      std::vector<double> acc(static_cast<size_t>(w), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const T* gr = g + r * cols + cb;
        for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<double>(gr[j]);
      }
      for (int64_t j = 0; j < w; ++j) db[cb + j] = static_cast<T>(acc[j]);
    });
    return;
  }
  int64_t P = nt;
  if (work < 65536) P = 1;
  P = std::min<int64_t>(P, rows);
  std::vector<double> part(static_cast<size_t>(P * cols), 0.0);
  const int64_t chunk = (rows + P - 1) / P;
  parallel_for(P, chunk * cols, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      double* acc = part.data() + p * cols;
      const int64_t r0 = p * chunk, r1 = std::min(rows, r0 + chunk);
      for (int64_t r = r0; r < r1; ++r) {
        const T* gr = g + r * cols;
        for (int64_t j = 0; j < cols; ++j) acc[j] += static_cast<double>(gr[j]);
      }
    }
  });
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0;
    for (int64_t p = 0; p < P; ++p) s += part[p * cols + j];
    db[j] = static_cast<T>(s);
  }
}

template void bias_add<float>(const float*, const float*, float*, int64_t, int64_t);
template void bias_add<double>(const double*, const double*, double*, int64_t, int64_t);
template void bias_grad<float>(const float*, float*, int64_t, int64_t);
template void bias_grad<double>(const double*, double*, int64_t, int64_t);

}  // namespace nabi::cpu
