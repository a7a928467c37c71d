// Fused multi-tensor Adagrad, Adadelta, Adamax and Nadam updates, in place (Keras 3 rules, the
// formulas and operation order of csrc/cpu/optimizers.cpp; see optimizers_extra.h).
//
// Blocking, as optimizers.cu: one launch updates up to kMaxTensorsPerLaunch tensors. The host
// packs, by value into the kernel's parameter space (no device copy of the table), each
// tensor's slot pointers, its element count and the prefix sum of its block counts; tensor k
// owns blocks [first_block[k], first_block[k+1]) and each block updates one chunk of kChunk
// consecutive elements of it with a block-stride loop (coalesced), finding its tensor by a
// short linear scan of the prefix sums. Every element is read and written once per slot.
// Scalars arrive precomputed in float64 (bias corrections, Nadam's momentum cache) and are
// rounded to T once on the host -- except Nadam's running momentum product in its device
// variant (nadam_update_multi_dev): it stays in device memory; each block multiplies it by
// u_t and u_t_1 in float64 itself (the host's operations in its order, products rounded on
// their own, never fused into an FMA with the subtraction after them, so the same numbers),
// and a one-thread kernel launched after the update stores the new product.
#include <cstdint>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/launchers.h"
#include "cuda/optimizers_extra.h"

namespace nabi::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 256 * 16;  // elements per block

struct TensorTable {
  void* ptr[kMaxTensorsPerLaunch][kOptSlots];
  int64_t n[kMaxTensorsPerLaunch];
  int64_t first_block[kMaxTensorsPerLaunch + 1];
  int count;
};
// The table travels by value as a kernel argument: it must stay within the 4 KiB parameter
// space of the classic launch ABI (with the scalars), or raising kMaxTensorsPerLaunch would
// fail at launch time.
static_assert(sizeof(TensorTable) + 128 <= 4096, "TensorTable too large for kernel parameters");

__device__ __forceinline__ int find_tensor(const TensorTable& tt, int64_t blk) {
  int t = 0;
  while (t + 1 < tt.count && tt.first_block[t + 1] <= blk) ++t;
  return t;
}

// The element range [b, e) of tensor k that this block owns.
__device__ __forceinline__ void block_range(const TensorTable& tt, int k, int64_t blk,
                                            int64_t* b, int64_t* e) {
  *b = (blk - tt.first_block[k]) * kChunk;
  int64_t end = *b + kChunk;
  if (end > tt.n[k]) end = tt.n[k];
  *e = end;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
adagrad_multi_kernel(TensorTable tt,  // slots: p, g, acc [n]
                     T lr, T eps) {
  const int64_t blk = blockIdx.x;
  const int k = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[k][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[k][1]);
  T* __restrict__ acc = static_cast<T*>(tt.ptr[k][2]);
  int64_t b, e;
  block_range(tt, k, blk, &b, &e);
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    const T gi = g[i];
    const T a = acc[i] + gi * gi;
    acc[i] = a;
    p[i] -= (lr * gi) / sqrt(a + eps);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
adadelta_multi_kernel(TensorTable tt,  // slots: p, g, acc_grad, acc_delta [n]
                      T lr, T rho, T c, T eps) {
  const int64_t blk = blockIdx.x;
  const int k = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[k][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[k][1]);
  T* __restrict__ ag = static_cast<T*>(tt.ptr[k][2]);
  T* __restrict__ ad = static_cast<T*>(tt.ptr[k][3]);
  int64_t b, e;
  block_range(tt, k, blk, &b, &e);
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    const T gi = g[i];
    const T agi = rho * ag[i] + c * (gi * gi);
    ag[i] = agi;
    const T adi = ad[i];
    const T delta = -((sqrt(adi + eps) * gi) / sqrt(agi + eps));
    ad[i] = rho * adi + c * (delta * delta);
    p[i] += lr * delta;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
adamax_multi_kernel(TensorTable tt,  // slots: p, g, m, u [n]
                    T lr, T c1, T b2, T eps, T corr) {
  const int64_t blk = blockIdx.x;
  const int k = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[k][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[k][1]);
  T* __restrict__ m = static_cast<T*>(tt.ptr[k][2]);
  T* __restrict__ u = static_cast<T*>(tt.ptr[k][3]);
  int64_t b, e;
  block_range(tt, k, blk, &b, &e);
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * c1;
    m[i] = mi;
    const T bu = b2 * u[i], agi = fabs(gi);
    const T ui = bu > agi ? bu : agi;
    u[i] = ui;
    p[i] -= (lr * mi) / (corr * (ui + eps));
  }
}

// One block's share of the Nadam update (both kernels below): the moments, then
// p -= lr * (a m / den_a + bgrad g / den_b) / (sqrt(v / vcorr) + eps).
template <typename T>
__device__ __forceinline__ void nadam_block(const TensorTable& tt, T lr, T c1, T c2, T eps,
                                            T a, T den_a, T bgrad, T den_b, T vcorr) {
  const int64_t blk = blockIdx.x;
  const int k = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[k][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[k][1]);
  T* __restrict__ m = static_cast<T*>(tt.ptr[k][2]);
  T* __restrict__ v = static_cast<T*>(tt.ptr[k][3]);
  int64_t b, e;
  block_range(tt, k, blk, &b, &e);
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * c1;
    const T vi = v[i] + (gi * gi - v[i]) * c2;
    m[i] = mi;
    v[i] = vi;
    const T m_hat = (a * mi) / den_a + (bgrad * gi) / den_b;
    const T v_hat = vi / vcorr;
    p[i] -= (m_hat * lr) / (sqrt(v_hat) + eps);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
nadam_multi_kernel(TensorTable tt,  // slots: p, g, m, v [n]
                   T lr, T c1, T c2, T eps, T a, T den_a, T bgrad, T den_b, T vcorr) {
  nadam_block(tt, lr, c1, c2, eps, a, den_a, bgrad, den_b, vcorr);
}

// a * b rounded on its own: nvcc would otherwise contract it with a following subtraction
// into an FMA (one rounding), which the host's separate statements do not do.
__device__ __forceinline__ double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

__device__ __forceinline__ double load_u(const void* u, int u_double) {
  return u_double ? *static_cast<const double*>(u)
                  : static_cast<double>(*static_cast<const float*>(u));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
nadam_multi_dev_kernel(TensorTable tt,  // slots: p, g, m, v [n]
                       T lr, T c1, T c2, T eps, T a, T bgrad, T vcorr, const void* u,
                       int u_double, double u_t, double u_t_1) {
  // the binding's u_product_t = u_product_prev * u_t; u_product_t_1 = u_product_t * u_t_1
  const double up = mul_rn(load_u(u, u_double), u_t);
  const T den_a = T(1.0 - mul_rn(up, u_t_1));
  const T den_b = T(1.0 - up);
  nadam_block(tt, lr, c1, c2, eps, a, den_a, bgrad, den_b, vcorr);
}

// One thread: u = u * u_t (u_product_t, rounded to u's dtype as the host's store into the
// variable), after every update launch of the step has read the old value (stream order).
__global__ void nadam_store_product_kernel(void* u, int u_double, double u_t) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const double up = mul_rn(load_u(u, u_double), u_t);
  if (u_double)
    *static_cast<double*>(u) = up;
  else
    *static_cast<float*>(u) = static_cast<float>(up);
}

// Splits the tensor list into launches of at most kMaxTensorsPerLaunch non-empty tensors and
// calls launch(table, blocks) for each.
template <typename F>
void for_each_table(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns, F&& launch) {
  TensorTable tt;
  tt.count = 0;
  int64_t blocks = 0;
  auto flush = [&]() {
    if (tt.count == 0) return;
    tt.first_block[tt.count] = blocks;
    launch(tt, blocks);
    tt.count = 0;
    blocks = 0;
  };
  for (size_t k = 0; k < ts.size(); ++k) {
    if (ns[k] <= 0) continue;
    const int64_t nb = ceil_div<int64_t>(ns[k], kChunk);
    if (tt.count == kMaxTensorsPerLaunch || blocks + nb > 2147483647LL) flush();
    for (int s = 0; s < kOptSlots; ++s) tt.ptr[tt.count][s] = ts[k][s];
    tt.n[tt.count] = ns[k];
    tt.first_block[tt.count] = blocks;
    blocks += nb;
    ++tt.count;
  }
  flush();
}

}  // namespace

template <typename T>
void adagrad_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                          double lr, double epsilon) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    adagrad_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(epsilon));
    NABI_CUDA_CHECK_LAUNCH("adagrad_multi_kernel");
  });
}

template <typename T>
void adadelta_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                           double lr, double rho, double epsilon) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    adadelta_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(rho), T(1 - rho), T(epsilon));
    NABI_CUDA_CHECK_LAUNCH("adadelta_multi_kernel");
  });
}

template <typename T>
void adamax_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                         double lr, double beta1, double beta2, double epsilon,
                         double beta1_power) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    adamax_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(1 - beta1), T(beta2), T(epsilon), T(1 - beta1_power));
    NABI_CUDA_CHECK_LAUNCH("adamax_multi_kernel");
  });
}

template <typename T>
void nadam_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                        double lr, double beta1, double beta2, double epsilon, double u_t,
                        double u_t_1, double u_product_t, double u_product_t_1,
                        double beta2_power) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    nadam_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(1 - beta1), T(1 - beta2), T(epsilon), T(u_t_1), T(1 - u_product_t_1),
        T(1 - u_t), T(1 - u_product_t), T(1 - beta2_power));
    NABI_CUDA_CHECK_LAUNCH("nadam_multi_kernel");
  });
}

template <typename T>
void nadam_update_multi_dev(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                            double lr, double beta1, double beta2, double epsilon, double u_t,
                            double u_t_1, double beta2_power, const void* u, bool u_double) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    nadam_multi_dev_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(1 - beta1), T(1 - beta2), T(epsilon), T(u_t_1), T(1 - u_t),
        T(1 - beta2_power), u, u_double ? 1 : 0, u_t, u_t_1);
    NABI_CUDA_CHECK_LAUNCH("nadam_multi_dev_kernel");
  });
}

void nadam_store_product(void* u, bool u_double, double u_t) {
  nadam_store_product_kernel<<<1, 1, 0, stream()>>>(u, u_double ? 1 : 0, u_t);
  NABI_CUDA_CHECK_LAUNCH("nadam_store_product_kernel");
}

#define NABI_INST(T)                                                                          \
  template void adagrad_update_multi<T>(const std::vector<OptTensor>&,                        \
                                        const std::vector<int64_t>&, double, double);         \
  template void adadelta_update_multi<T>(const std::vector<OptTensor>&,                       \
                                         const std::vector<int64_t>&, double, double,         \
                                         double);                                             \
  template void adamax_update_multi<T>(const std::vector<OptTensor>&,                         \
                                       const std::vector<int64_t>&, double, double, double,   \
                                       double, double);                                       \
  template void nadam_update_multi<T>(const std::vector<OptTensor>&,                          \
                                      const std::vector<int64_t>&, double, double, double,    \
                                      double, double, double, double, double, double);     \
  template void nadam_update_multi_dev<T>(const std::vector<OptTensor>&,                      \
                                          const std::vector<int64_t>&, double, double,        \
                                          double, double, double, double, double,             \
                                          const void*, bool);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cuda
