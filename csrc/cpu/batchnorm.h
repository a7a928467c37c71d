// Batch normalisation over the rows of a channels-last (M, C) view, float32/float64.
//   training:  mean/var per channel over the M rows (biased variance), inv_std = 1/sqrt(var+eps),
//              y = (x - mean) * inv_std * gamma + beta
//   inference: the same with given mean/var
//   backward:  dbeta = sum dy, dgamma = sum dy * xhat,
//              training: dx = gamma*inv_std/M * (M*dy - dbeta - xhat*dgamma)
//              inference (statistics are constants): dx = dy * gamma * inv_std
// gamma/beta may be null (scale 1 / offset 0).
#pragma once
#include <cstdint>

namespace nabi::cpu {

template <typename T>
void batchnorm_forward_train(const T* x, const T* gamma, const T* beta, double eps, int64_t M,
                             int64_t C, T* y, T* mean, T* var, T* inv_std);
template <typename T>
void batchnorm_forward_infer(const T* x, const T* gamma, const T* beta, const T* mean,
                             const T* var, double eps, int64_t M, int64_t C, T* y);
template <typename T>
void batchnorm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* inv_std,
                        bool training, int64_t M, int64_t C, T* dx, T* dgamma, T* dbeta);

}  // namespace nabi::cpu
