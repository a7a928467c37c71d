// Host-side entry points of the remaining fused multi-tensor optimizers (optimizers_extra.cu):
// Adagrad, Adadelta, Adamax and Nadam, Keras 3 rules exactly as csrc/cpu/optimizers.h, in place.
// Plain C++ (no CUDA headers) for the g++-compiled bindings; builds with NABI_WITH_CUDA only.
// The tensor rows and limits are those of the other optimizers (launchers.h: OptTensor with
// kOptSlots pointers, at most kMaxTensorsPerLaunch tensors per launch); all tensors of one
// call share T (float and double are instantiated); n[k] is tensor k's element count.
// Scalars that depend only on the step arrive precomputed in float64 and are rounded to T.
#pragma once
#include <cstdint>
#include <vector>

#include "cuda/launchers.h"

namespace nabi::cuda {

// slots: p, g, accumulator
template <typename T>
void adagrad_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                          double lr, double epsilon);
// slots: p, g, acc_grad, acc_delta
template <typename T>
void adadelta_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                           double lr, double rho, double epsilon);
// slots: p, g, m, u. beta1_power = beta1^t.
template <typename T>
void adamax_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                         double lr, double beta1, double beta2, double epsilon,
                         double beta1_power);
// slots: p, g, m, v. u_t, u_t_1, u_product_t, u_product_t_1, beta2_power as computed by the
// binding (bind_optimizers.cpp / bind_cuda_train.cpp: Keras 3's momentum cache).
template <typename T>
void nadam_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                        double lr, double beta1, double beta2, double epsilon, double u_t,
                        double u_t_1, double u_product_t, double u_product_t_1,
                        double beta2_power);
// The same Nadam update with the running momentum product in device memory: u (one float32
// element, or float64 when u_double) holds u_product_{t-1}; every block forms u_product_t =
// u * u_t and u_product_t * u_t_1 in float64 as the binding does on the host (same numbers),
// and after the update launches one thread stores u_product_t back into u. Nothing is read
// back to the host.
template <typename T>
void nadam_update_multi_dev(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                            double lr, double beta1, double beta2, double epsilon, double u_t,
                            double u_t_1, double beta2_power, const void* u, bool u_double);
void nadam_store_product(void* u, bool u_double, double u_t);

}  // namespace nabi::cuda
