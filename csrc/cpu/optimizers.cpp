// Fused optimizer updates (see optimizers.h). Each update is a single pass over the
// tensor's elements with the state read and written once.
//
// Optional state buffers are template flags so that the inner loops carry no branches, and
// the lambdas capture by value so that stores to the tensors cannot alias the scalars.
// The loops with std::sqrt vectorise only when the file is compiled with -fno-math-errno
// (GCC otherwise keeps a scalar errno path; -fno-math-errno does not change any result).
#include "cpu/optimizers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/parallel.h"

namespace nabi::cpu {

template <typename T>
void sgd_update(T* p, const T* g, T* m, int64_t n, double lr_d, double mom_d, bool nesterov) {
  const T lr = T(lr_d), mu = T(mom_d);
  parallel_for(n, 4, [=](int64_t b, int64_t e) {
    if (!m) {
      for (int64_t i = b; i < e; ++i) p[i] -= g[i] * lr;
    } else if (nesterov) {
      for (int64_t i = b; i < e; ++i) {
        const T mi = m[i] * mu - g[i] * lr;
        m[i] = mi;
        p[i] += mi * mu - g[i] * lr;
      }
    } else {
      for (int64_t i = b; i < e; ++i) {
        const T mi = m[i] * mu - g[i] * lr;
        m[i] = mi;
        p[i] += mi;
      }
    }
  });
}

template <typename T, bool kAms, bool kDecay>
static void adam_loop(T* p, const T* g, T* m, T* v, T* vhat, int64_t b, int64_t e, T alpha,
                      T c1, T c2, T eps, T wd) {
  for (int64_t i = b; i < e; ++i) {
    T pi = p[i];
    if (kDecay) pi -= pi * wd;
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * c1;
    T vi = v[i] + (gi * gi - v[i]) * c2;
    m[i] = mi;
    v[i] = vi;
    if (kAms) {
      vi = vhat[i] > vi ? vhat[i] : vi;
      vhat[i] = vi;
    }
    p[i] = pi - (mi * alpha) / (std::sqrt(vi) + eps);
  }
}

template <typename T>
void adam_update(T* p, const T* g, T* m, T* v, T* vhat, int64_t n, double alpha_d,
                 double beta1_d, double beta2_d, double eps_d, double wd_lr_d) {
  const T alpha = T(alpha_d), c1 = T(1 - beta1_d), c2 = T(1 - beta2_d), eps = T(eps_d);
  const T wd = T(wd_lr_d);
  const bool decay = wd_lr_d != 0;
  parallel_for(n, 12, [=](int64_t b, int64_t e) {
    if (vhat) {
      if (decay)
        adam_loop<T, true, true>(p, g, m, v, vhat, b, e, alpha, c1, c2, eps, wd);
      else
        adam_loop<T, true, false>(p, g, m, v, vhat, b, e, alpha, c1, c2, eps, wd);
    } else {
      if (decay)
        adam_loop<T, false, true>(p, g, m, v, vhat, b, e, alpha, c1, c2, eps, wd);
      else
        adam_loop<T, false, false>(p, g, m, v, vhat, b, e, alpha, c1, c2, eps, wd);
    }
  });
}

template <typename T, bool kCentered, bool kMomentum>
static void rmsprop_loop(T* p, const T* g, T* vel, T* mom, T* avg, int64_t b, int64_t e, T lr,
                         T rho, T c, T mu, T eps) {
  for (int64_t i = b; i < e; ++i) {
    const T gi = g[i];
    const T vi = rho * vel[i] + c * (gi * gi);
    vel[i] = vi;
    T den;
    if (kCentered) {
      const T ai = rho * avg[i] + c * gi;
      avg[i] = ai;
      den = vi - ai * ai + eps;
    } else {
      den = vi + eps;
    }
    const T inc = (lr * gi) / std::sqrt(den);
    if (kMomentum) {
      const T mi = mu * mom[i] + inc;
      mom[i] = mi;
      p[i] -= mi;
    } else {
      p[i] -= inc;
    }
  }
}

template <typename T>
void rmsprop_update(T* p, const T* g, T* vel, T* mom, T* avg, int64_t n, double lr_d,
                    double rho_d, double mom_d, double eps_d) {
  const T lr = T(lr_d), rho = T(rho_d), c = T(1 - rho_d), mu = T(mom_d), eps = T(eps_d);
  parallel_for(n, 12, [=](int64_t b, int64_t e) {
    if (avg) {
      if (mom)
        rmsprop_loop<T, true, true>(p, g, vel, mom, avg, b, e, lr, rho, c, mu, eps);
      else
        rmsprop_loop<T, true, false>(p, g, vel, mom, avg, b, e, lr, rho, c, mu, eps);
    } else {
      if (mom)
        rmsprop_loop<T, false, true>(p, g, vel, mom, avg, b, e, lr, rho, c, mu, eps);
      else
        rmsprop_loop<T, false, false>(p, g, vel, mom, avg, b, e, lr, rho, c, mu, eps);
    }
  });
}

template <typename T>
void adagrad_update(T* p, const T* g, T* acc, int64_t n, double lr_d, double eps_d) {
  const T lr = T(lr_d), eps = T(eps_d);
  parallel_for(n, 10, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T gi = g[i];
      const T a = acc[i] + gi * gi;
      acc[i] = a;
      p[i] -= (lr * gi) / std::sqrt(a + eps);
    }
  });
}

template <typename T>
void adadelta_update(T* p, const T* g, T* ag, T* ad, int64_t n, double lr_d, double rho_d,
                     double eps_d) {
  const T lr = T(lr_d), rho = T(rho_d), c = T(1 - rho_d), eps = T(eps_d);
  parallel_for(n, 16, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T gi = g[i];
      const T agi = rho * ag[i] + c * (gi * gi);
      ag[i] = agi;
      const T delta = -((std::sqrt(ad[i] + eps) * gi) / std::sqrt(agi + eps));
      ad[i] = rho * ad[i] + c * (delta * delta);
      p[i] += lr * delta;
    }
  });
}

template <typename T>
void adamax_update(T* p, const T* g, T* m, T* u, int64_t n, double lr_d, double beta1_d,
                   double beta2_d, double eps_d, double beta1_power) {
  const T lr = T(lr_d), c1 = T(1 - beta1_d), b2 = T(beta2_d), eps = T(eps_d);
  const T corr = T(1 - beta1_power);
  parallel_for(n, 10, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T gi = g[i];
      const T mi = m[i] + (gi - m[i]) * c1;
      m[i] = mi;
      const T bu = b2 * u[i], ag = std::abs(gi);
      const T ui = bu > ag ? bu : ag;
      u[i] = ui;
      p[i] -= (lr * mi) / (corr * (ui + eps));
    }
  });
}

template <typename T>
void nadam_update(T* p, const T* g, T* m, T* v, int64_t n, double lr_d, double beta1_d,
                  double beta2_d, double eps_d, double u_t, double u_t_1, double u_product_t,
                  double u_product_t_1, double beta2_power) {
  const T lr = T(lr_d), c1 = T(1 - beta1_d), c2 = T(1 - beta2_d), eps = T(eps_d);
  const T a = T(u_t_1), den_a = T(1 - u_product_t_1);
  const T bgrad = T(1 - u_t), den_b = T(1 - u_product_t);
  const T vcorr = T(1 - beta2_power);
  parallel_for(n, 16, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T gi = g[i];
      const T mi = m[i] + (gi - m[i]) * c1;
      const T vi = v[i] + (gi * gi - v[i]) * c2;
      m[i] = mi;
      v[i] = vi;
      const T m_hat = (a * mi) / den_a + (bgrad * gi) / den_b;
      const T v_hat = vi / vcorr;
      p[i] -= (m_hat * lr) / (std::sqrt(v_hat) + eps);
    }
  });
}

template <typename T>
double sum_squares(const T* g, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t P = std::min<int64_t>(max_threads(), std::max<int64_t>(1, n / 65536));
  std::vector<double> part(static_cast<size_t>(P), 0.0);
  const int64_t chunk = (n + P - 1) / P;
  parallel_for(P, chunk * 2, [&](int64_t pb, int64_t pe) {
    for (int64_t q = pb; q < pe; ++q) {
      const int64_t b = q * chunk, e = std::min(n, b + chunk);
      double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = b;
      for (; i + 8 <= e; i += 8)
        for (int l = 0; l < 8; ++l) {
          const double x = static_cast<double>(g[i + l]);
          s[l] += x * x;
        }
      for (; i < e; ++i) s[0] += static_cast<double>(g[i]) * static_cast<double>(g[i]);
      part[q] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}

#define NABI_INST(T)                                                                          \
  template void sgd_update<T>(T*, const T*, T*, int64_t, double, double, bool);               \
  template void adam_update<T>(T*, const T*, T*, T*, T*, int64_t, double, double, double,     \
                               double, double);                                               \
  template void rmsprop_update<T>(T*, const T*, T*, T*, T*, int64_t, double, double, double,  \
                                  double);                                                    \
  template void adagrad_update<T>(T*, const T*, T*, int64_t, double, double);                 \
  template void adadelta_update<T>(T*, const T*, T*, T*, int64_t, double, double, double);    \
  template void adamax_update<T>(T*, const T*, T*, T*, int64_t, double, double, double,       \
                                 double, double);                                             \
  template void nadam_update<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, \
                                double, double, double, double, double);                      \
  template double sum_squares<T>(const T*, int64_t);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cpu
