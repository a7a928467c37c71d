// Batch normalisation, channels last (see batchnorm.h). Per-channel reductions run over row
// blocks in parallel: each thread keeps float64 partial sums (shifted by the first row, to
// avoid cancellation in sum(x^2) - sum(x)^2), which are reduced on the calling thread; the
// elementwise passes use a per-channel scale/shift (one FMA-shaped op per element).
// Test: PYTHONPATH=python python3 -m pytest tests/test_pooling_bn.py -q
#include "cpu/batchnorm.h"

#include <cmath>
#include <vector>

#include "cpu/parallel.h"

namespace nabi::cpu {
namespace {

// For each channel: sums[c] = sum_r f0(r, c), sums[C + c] = sum_r f1(r, c) (float64).
template <typename F>
void reduce_rows(int64_t M, int64_t C, F&& f, std::vector<double>& sums) {
  sums.assign(2 * C, 0.0);
  int nt = max_threads();
  if (M * C < 65536) nt = 1;
  if (nt > M) nt = static_cast<int>(M > 0 ? M : 1);
  std::vector<double> part(static_cast<size_t>(nt) * 2 * C, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    FlushDenormals ftz;
    const int t = omp_get_thread_num(), T_ = omp_get_num_threads();
    const int64_t r0 = M * t / T_, r1 = M * (t + 1) / T_;
    double* p = part.data() + static_cast<size_t>(t) * 2 * C;
    f(r0, r1, p, p + C);
  }
  for (int t = 0; t < nt; ++t)
    for (int64_t c = 0; c < 2 * C; ++c) sums[c] += part[static_cast<size_t>(t) * 2 * C + c];
}

template <typename T>
void scale_shift(const T* x, const T* a, const T* b, int64_t M, int64_t C, T* y) {
  parallel_for(M, 2 * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * a[c] + b[c];
    }
  });
}
}  // namespace

template <typename T>
void batchnorm_forward_train(const T* x, const T* gamma, const T* beta, double eps, int64_t M,
                             int64_t C, T* y, T* mean, T* var, T* inv_std) {
  if (C <= 0) return;
  std::vector<double> sums;
  const T* shift = M > 0 ? x : nullptr;
  reduce_rows(
      M, C,
      [&](int64_t r0, int64_t r1, double* s1, double* s2) {
        std::vector<T> a(C, T(0)), b(C, T(0));  // per-block sums in T, flushed to double
        int64_t cnt = 0;
        for (int64_t r = r0; r < r1; ++r) {
          const T* xr = x + r * C;
          for (int64_t c = 0; c < C; ++c) {
            const T d = xr[c] - shift[c];
            a[c] += d;
            b[c] += d * d;
          }
          if (++cnt == 64 || r + 1 == r1) {
            for (int64_t c = 0; c < C; ++c) {
              s1[c] += a[c];
              s2[c] += b[c];
              a[c] = b[c] = T(0);
            }
            cnt = 0;
          }
        }
      },
      sums);
  std::vector<T> a(C), b(C);
  for (int64_t c = 0; c < C; ++c) {
    const double m1 = M > 0 ? sums[c] / M : 0.0;
    double v = M > 0 ? sums[C + c] / M - m1 * m1 : 0.0;
    if (v < 0) v = 0;
    const double mu = (M > 0 ? double(shift[c]) : 0.0) + m1;
    const double is = 1.0 / std::sqrt(v + eps);
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(v);
    inv_std[c] = static_cast<T>(is);
    const double g = gamma ? double(gamma[c]) : 1.0;
    a[c] = static_cast<T>(g * is);
    b[c] = static_cast<T>((beta ? double(beta[c]) : 0.0) - mu * g * is);
  }
  scale_shift(x, a.data(), b.data(), M, C, y);
}

template <typename T>
void batchnorm_forward_infer(const T* x, const T* gamma, const T* beta, const T* mean,
                             const T* var, double eps, int64_t M, int64_t C, T* y) {
  std::vector<T> a(C), b(C);
  for (int64_t c = 0; c < C; ++c) {
    const double is = 1.0 / std::sqrt(double(var[c]) + eps);
    const double g = gamma ? double(gamma[c]) : 1.0;
    a[c] = static_cast<T>(g * is);
    b[c] = static_cast<T>((beta ? double(beta[c]) : 0.0) - double(mean[c]) * g * is);
  }
  scale_shift(x, a.data(), b.data(), M, C, y);
}

template <typename T>
void batchnorm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* inv_std,
                        bool training, int64_t M, int64_t C, T* dx, T* dgamma, T* dbeta) {
  if (C <= 0) return;
  std::vector<double> sums;
  reduce_rows(
      M, C,
      [&](int64_t r0, int64_t r1, double* sg, double* sgx) {
        std::vector<T> a(C, T(0)), b(C, T(0));
        int64_t cnt = 0;
        for (int64_t r = r0; r < r1; ++r) {
          const T* xr = x + r * C;
          const T* gr = dy + r * C;
          for (int64_t c = 0; c < C; ++c) {
            a[c] += gr[c];
            b[c] += gr[c] * (xr[c] - mean[c]);
          }
          if (++cnt == 64 || r + 1 == r1) {
            for (int64_t c = 0; c < C; ++c) {
              sg[c] += a[c];
              sgx[c] += b[c];
              a[c] = b[c] = T(0);
            }
            cnt = 0;
          }
        }
      },
      sums);
  std::vector<T> k1(C), k2(C), k3(C);
  for (int64_t c = 0; c < C; ++c) {
    const double is = inv_std[c], g = gamma ? double(gamma[c]) : 1.0;
    const double db = sums[c], dg = sums[C + c] * is;  // dgamma = sum dy * xhat
    if (dbeta) dbeta[c] = static_cast<T>(db);
    if (dgamma) dgamma[c] = static_cast<T>(dg);
    // dx = k1 * dy + k2 * x + k3
    if (training && M > 0) {
      const double s = g * is;
      k1[c] = static_cast<T>(s);
      k2[c] = static_cast<T>(-s * dg * is / M);
      k3[c] = static_cast<T>(-s * db / M + s * dg * is * double(mean[c]) / M);
    } else {
      k1[c] = static_cast<T>(g * is);
      k2[c] = T(0);
      k3[c] = T(0);
    }
  }
  if (!dx) return;
  parallel_for(M, 3 * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      const T* gr = dy + r * C;
      T* d = dx + r * C;
      for (int64_t c = 0; c < C; ++c) d[c] = k1[c] * gr[c] + k2[c] * xr[c] + k3[c];
    }
  });
}

#define NABI_BN_INST(T)                                                                        \
  template void batchnorm_forward_train<T>(const T*, const T*, const T*, double, int64_t,       \
                                           int64_t, T*, T*, T*, T*);                            \
  template void batchnorm_forward_infer<T>(const T*, const T*, const T*, const T*, const T*,    \
                                           double, int64_t, int64_t, T*);                       \
  template void batchnorm_backward<T>(const T*, const T*, const T*, const T*, const T*, bool,   \
                                      int64_t, int64_t, T*, T*, T*);
NABI_BN_INST(float)
NABI_BN_INST(double)

}  // namespace nabi::cpu
