// Fused multi-tensor optimizer updates, in place (Keras 3 rules as csrc/cpu/optimizers.cpp;
// see launchers.h).
//
// One launch updates up to kMaxTensorsPerLaunch tensors. The host packs, by value into the
// kernel's parameter space (no device copy of the table), each tensor's slot pointers and
// element count and the prefix sum of its block counts; tensor t owns blocks
// [first_block[t], first_block[t+1]) and each block updates one chunk of kChunk elements of
// it with a block-stride loop (a block finds its tensor by a short linear scan of the
// prefix sums, at most kMaxTensorsPerLaunch compares). Optional state (momentum, amsgrad's
// vhat, RMSprop's momentum and average) is a null pointer; the null tests are uniform per
// tensor. Scalars arrive precomputed in float64 (bias corrections) and are rounded to T.
#include <cstdint>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/launchers.h"

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

// The (tensor, element range) a block owns.
__device__ __forceinline__ int find_tensor(const TensorTable& tt, int64_t blk) {
  int t = 0;
  while (t + 1 < tt.count && tt.first_block[t + 1] <= blk) ++t;
  return t;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
sgd_multi_kernel(TensorTable tt,  // slots: p [n], g [n], m [n] or null
                 T lr, T mu, bool nesterov) {
  const int64_t blk = blockIdx.x;
  const int t = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[t][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[t][1]);
  T* __restrict__ m = static_cast<T*>(tt.ptr[t][2]);
  const int64_t b = (blk - tt.first_block[t]) * kChunk;
  int64_t e = b + kChunk;
  if (e > tt.n[t]) e = tt.n[t];
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    const T gi = g[i];
    if (!m) {
      p[i] -= gi * lr;
    } else {
      const T mi = m[i] * mu - gi * lr;
      m[i] = mi;
      p[i] += nesterov ? mi * mu - gi * lr : mi;
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
adam_multi_kernel(TensorTable tt,  // slots: p, g, m, v [n]; vhat [n] or null
                  T alpha, T c1, T c2, T eps, T wd) {
  const int64_t blk = blockIdx.x;
  const int t = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[t][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[t][1]);
  T* __restrict__ m = static_cast<T*>(tt.ptr[t][2]);
  T* __restrict__ v = static_cast<T*>(tt.ptr[t][3]);
  T* __restrict__ vhat = static_cast<T*>(tt.ptr[t][4]);
  const int64_t b = (blk - tt.first_block[t]) * kChunk;
  int64_t e = b + kChunk;
  if (e > tt.n[t]) e = tt.n[t];
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    T pi = p[i];
    if (wd != T(0)) pi -= pi * wd;
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * c1;
    T vi = v[i] + (gi * gi - v[i]) * c2;
    m[i] = mi;
    v[i] = vi;
    if (vhat) {
      vi = vhat[i] > vi ? vhat[i] : vi;
      vhat[i] = vi;
    }
    p[i] = pi - (mi * alpha) / (sqrt(vi) + eps);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
rmsprop_multi_kernel(TensorTable tt,  // slots: p, g, vel [n]; mom [n] or null; avg [n] or null
                     T lr, T rho, T c, T mu, T eps) {
  const int64_t blk = blockIdx.x;
  const int t = find_tensor(tt, blk);
  T* __restrict__ p = static_cast<T*>(tt.ptr[t][0]);
  const T* __restrict__ g = static_cast<const T*>(tt.ptr[t][1]);
  T* __restrict__ vel = static_cast<T*>(tt.ptr[t][2]);
  T* __restrict__ mom = static_cast<T*>(tt.ptr[t][3]);
  T* __restrict__ avg = static_cast<T*>(tt.ptr[t][4]);
  const int64_t b = (blk - tt.first_block[t]) * kChunk;
  int64_t e = b + kChunk;
  if (e > tt.n[t]) e = tt.n[t];
  for (int64_t i = b + threadIdx.x; i < e; i += kThreads) {
    const T gi = g[i];
    const T vi = rho * vel[i] + c * (gi * gi);
    vel[i] = vi;
    T den;
    if (avg) {
      const T ai = rho * avg[i] + c * gi;
      avg[i] = ai;
      den = vi - ai * ai + eps;
    } else {
      den = vi + eps;
    }
    const T inc = (lr * gi) / sqrt(den);
    if (mom) {
      const T mi = mu * mom[i] + inc;
      mom[i] = mi;
      p[i] -= mi;
    } else {
      p[i] -= inc;
    }
  }
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
void sgd_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns, double lr,
                      double momentum, bool nesterov) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    sgd_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(momentum), nesterov);
    NABI_CUDA_CHECK_LAUNCH("sgd_multi_kernel");
  });
}

template <typename T>
void adam_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                       double alpha, double beta1, double beta2, double epsilon, double wd_lr) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    adam_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(alpha), T(1 - beta1), T(1 - beta2), T(epsilon), T(wd_lr));
    NABI_CUDA_CHECK_LAUNCH("adam_multi_kernel");
  });
}

template <typename T>
void rmsprop_update_multi(const std::vector<OptTensor>& ts, const std::vector<int64_t>& ns,
                          double lr, double rho, double momentum, double epsilon) {
  for_each_table(ts, ns, [&](const TensorTable& tt, int64_t blocks) {
    rmsprop_multi_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        tt, T(lr), T(rho), T(1 - rho), T(momentum), T(epsilon));
    NABI_CUDA_CHECK_LAUNCH("rmsprop_multi_kernel");
  });
}

#define NABI_INST(T)                                                                          \
  template void sgd_update_multi<T>(const std::vector<OptTensor>&, const std::vector<int64_t>&, \
                                    double, double, bool);                                    \
  template void adam_update_multi<T>(const std::vector<OptTensor>&,                            \
                                     const std::vector<int64_t>&, double, double, double,      \
                                     double, double);                                         \
  template void rmsprop_update_multi<T>(const std::vector<OptTensor>&,                         \
                                        const std::vector<int64_t>&, double, double, double,   \
                                        double);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cuda
