// Standard normal random numbers (see array_launchers.h), from the same counter-based Philox
// 4x32-10 stream as random_uniform/dropout (dropout.cu, whose implementation is file-local,
// so the generator is written again here with the same constants and round structure:
// multipliers 0xD2511F53 / 0xCD9E8D57, Weyl key increments 0x9E3779B9 / 0xBB67AE85, ten
// rounds; the tests check the kernel against a Python Philox that passes the Random123
// known-answer vectors).
// Blocking: one thread per 4-element Philox block q (grid-stride): counter (q low, q high,
// offset low, offset high), key (seed low, seed high). The four 32-bit words make two
// Box-Muller pairs, (w0, w1) -> elements 4q, 4q+1 and (w2, w3) -> elements 4q+2, 4q+3, with
// random_uniform's 24-bit resolution: u1 = ((w_even >> 8) + 1) * 2^-24 in (0, 1] (never
// log(0); |z| <= sqrt(48 ln 2) = 5.77), u2 = (w_odd >> 8) * 2^-24 in [0, 1) (exactly
// random_uniform's value for that element), r = sqrt(-2 ln u1), and (r cos 2 pi u2,
// r sin 2 pi u2), in float64 (sincospi keeps the angle exact), rounded to the output type.
// Each thread writes its (up to) 4 elements; the same (seed, offset) regenerates the same
// numbers, and a call with offset k draws from counters (q, k) that no call with another
// offset uses.
#include <cstdint>
#include <stdexcept>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

struct Words4 {
  uint32_t v[4];
};

__device__ __forceinline__ Words4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                                uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += W0;
      k1 += W1;
    }
    const uint32_t hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
    const uint32_t hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  Words4 out;
  out.v[0] = c0;
  out.v[1] = c1;
  out.v[2] = c2;
  out.v[3] = c3;
  return out;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    normal_kernel(T* __restrict__ y,  // [n]
                  int64_t n, uint32_t s0, uint32_t s1, uint32_t o0, uint32_t o1) {
  constexpr double kTwoPow24Inv = 1.0 / 16777216.0;
  const int64_t blocks4 = (n + 3) / 4;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t q = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < blocks4;
       q += step) {
    const Words4 w =
        philox4x32_10(static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), o0, o1, s0, s1);
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      const int64_t i = q * 4 + 2 * p;
      if (i >= n) break;
      const double u1 = static_cast<double>((w.v[2 * p] >> 8) + 1u) * kTwoPow24Inv;  // (0, 1]
      const double u2 = static_cast<double>(w.v[2 * p + 1] >> 8) * kTwoPow24Inv;     // [0, 1)
      const double r = sqrt(-2.0 * log(u1));
      double s, c;
      sincospi(2.0 * u2, &s, &c);
      y[i] = static_cast<T>(r * c);
      if (i + 1 < n) y[i + 1] = static_cast<T>(r * s);
    }
  }
}

}  // namespace

void random_normal(DType dtype, void* y, int64_t n, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  const int64_t blocks4 = (n + 3) / 4;
  const uint32_t s0 = static_cast<uint32_t>(seed), s1 = static_cast<uint32_t>(seed >> 32);
  const uint32_t o0 = static_cast<uint32_t>(offset), o1 = static_cast<uint32_t>(offset >> 32);
  if (dtype == DType::Float32) {
    normal_kernel<float><<<grid_for(blocks4, kThreads), kThreads, 0, stream()>>>(
        static_cast<float*>(y), n, s0, s1, o0, o1);
    NABI_CUDA_CHECK_LAUNCH("normal_kernel<float>");
  } else if (dtype == DType::Float64) {
    normal_kernel<double><<<grid_for(blocks4, kThreads), kThreads, 0, stream()>>>(
        static_cast<double*>(y), n, s0, s1, o0, o1);
    NABI_CUDA_CHECK_LAUNCH("normal_kernel<double>");
  } else {
    throw std::invalid_argument("[random_normal] dtype must be float32 or float64");
  }
}

}  // namespace nabi::cuda::nd
