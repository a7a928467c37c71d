// Fused per-tensor optimizer updates (Keras 3 rules), in place, float32/float64, contiguous.
// Scalars that depend only on the step (bias corrections, Nadam's momentum cache) are
// computed once by the caller in float64 and passed in; each kernel is one streaming pass,
// threaded with nabi::parallel_for for large tensors.
#pragma once
#include <cstdint>

namespace nabi::cpu {

// m == null: p -= lr * g. Else m = momentum*m - lr*g; p += m (nesterov: p += momentum*m - lr*g).
template <typename T>
void sgd_update(T* p, const T* g, T* m, int64_t n, double lr, double momentum, bool nesterov);

// Keras 3 Adam (+ AdamW when wd_lr = weight_decay * lr > 0, applied first: p -= p * wd_lr).
// alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t); vhat may be null (no amsgrad).
template <typename T>
void adam_update(T* p, const T* g, T* m, T* v, T* vhat, int64_t n, double alpha, double beta1,
                 double beta2, double epsilon, double wd_lr);

// Keras 3 RMSprop; mom null when momentum is unused, avg null unless centered.
template <typename T>
void rmsprop_update(T* p, const T* g, T* vel, T* mom, T* avg, int64_t n, double lr, double rho,
                    double momentum, double epsilon);

template <typename T>
void adagrad_update(T* p, const T* g, T* acc, int64_t n, double lr, double epsilon);

template <typename T>
void adadelta_update(T* p, const T* g, T* acc_grad, T* acc_delta, int64_t n, double lr,
                     double rho, double epsilon);

// beta1_power = beta1^t
template <typename T>
void adamax_update(T* p, const T* g, T* m, T* u, int64_t n, double lr, double beta1,
                   double beta2, double epsilon, double beta1_power);

// Keras 3 Nadam with the step scalars precomputed (see bind_optimizers.cpp).
template <typename T>
void nadam_update(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2,
                  double epsilon, double u_t, double u_t_1, double u_product_t,
                  double u_product_t_1, double beta2_power);

// Sum of squares, accumulated in float64 (threaded).
template <typename T>
double sum_squares(const T* g, int64_t n);

}  // namespace nabi::cpu
