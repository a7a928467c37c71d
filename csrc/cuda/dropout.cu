// Dropout and uniform random numbers from a counter-based RNG (see launchers.h).
//
// Philox 4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC'11), written here from the paper's definition with the Random123 constants: ten rounds
// of two 32x32->64-bit multiplies (M0 = 0xD2511F53, M1 = 0xCD9E8D57) and xors with the key,
// the key bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85) between rounds. It is a
// bijection of the 128-bit counter for each 64-bit key, so every (seed, offset, element)
// gets independent bits with no state to carry between kernels: the backward pass (and a
// re-run with the same seed) regenerates the same mask from the counter.
// Each thread produces one 4-word block, i.e. 4 consecutive elements (counter = element/4,
// offset in the high words), and writes the ones inside [0, n).
// The same function is callable on the host (philox4x32_10_host) so tests can check it
// against the published known-answer vectors without a GPU.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/launchers.h"

namespace nabi::cuda {

namespace {

struct U4 {
  uint32_t v[4];
};

__host__ __device__ __forceinline__ void mulhilo32(uint32_t a, uint32_t b, uint32_t* hi,
                                                   uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

__host__ __device__ __forceinline__ U4 philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                              uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += W0;
      k1 += W1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(M0, c0, &hi0, &lo0);
    mulhilo32(M1, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
  }
  U4 out;
  out.v[0] = c0; out.v[1] = c1; out.v[2] = c2; out.v[3] = c3;
  return out;
}

// 24 random bits -> [0, 1), exactly representable in float and double.
__device__ __forceinline__ float to_unit(uint32_t w) {
  return static_cast<float>(w >> 8) * (1.0f / 16777216.0f);
}

template <typename T>
__global__ void dropout_kernel(const T* x,  // [n]
                               T* y,        // [n] (may alias x)
                               int64_t n, float rate, T scale, uint32_t s0, uint32_t s1,
                               uint32_t o0, uint32_t o1) {
  const int64_t blocks4 = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < blocks4;
       q += stride) {
    const U4 r = philox(static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), o0, o1, s0, s1);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t i = q * 4 + j;
      if (i < n) y[i] = to_unit(r.v[j]) >= rate ? x[i] * scale : T(0);
    }
  }
}

template <typename T>
__global__ void uniform_kernel(T* __restrict__ y,  // [n]
                               int64_t n, uint32_t s0, uint32_t s1, uint32_t o0, uint32_t o1) {
  const int64_t blocks4 = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < blocks4;
       q += stride) {
    const U4 r = philox(static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), o0, o1, s0, s1);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t i = q * 4 + j;
      if (i < n) y[i] = static_cast<T>(to_unit(r.v[j]));
    }
  }
}

}  // namespace

void philox4x32_10_host(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  const U4 r = philox(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
  for (int j = 0; j < 4; ++j) out[j] = r.v[j];
}

template <typename T>
void dropout(const T* x, T* y, int64_t n, double rate, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  // rate is compared with 24-bit uniforms in float: P(drop) = ceil(rate * 2^24) / 2^24.
  const T scale = static_cast<T>(1.0 / (1.0 - rate));
  dropout_kernel<T><<<grid_for((n + 3) / 4, 256), 256, 0, stream()>>>(
      x, y, n, static_cast<float>(rate), scale, static_cast<uint32_t>(seed),
      static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(offset),
      static_cast<uint32_t>(offset >> 32));
  NABI_CUDA_CHECK_LAUNCH("dropout_kernel");
}

template <typename T>
void random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  uniform_kernel<T><<<grid_for((n + 3) / 4, 256), 256, 0, stream()>>>(
      y, n, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
      static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32));
  NABI_CUDA_CHECK_LAUNCH("uniform_kernel");
}

template void dropout<float>(const float*, float*, int64_t, double, uint64_t, uint64_t);
template void dropout<double>(const double*, double*, int64_t, double, uint64_t, uint64_t);
template void random_uniform<float>(float*, int64_t, uint64_t, uint64_t);
template void random_uniform<double>(double*, int64_t, uint64_t, uint64_t);

}  // namespace nabi::cuda
