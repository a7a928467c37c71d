// Keras preprocessing on GPU integer inputs (see preprocess_launchers.h): Hashing's bins of
// integers, HashedCrossing's bins of integer crosses and IntegerLookup's vocabulary lookup.
//
// Algorithm and blocking: all three are one thread per output element (grid-stride loops,
// 256 threads a block), each independent of the others, so the launch needs no shared memory
// and no atomics.
// - hash_ints_kernel: the thread writes its value's decimal string (at most 20 bytes: "-" and
//   19 digits, INT64_MIN included, by its unsigned magnitude) into a local buffer and hashes
//   it with FarmHash Fingerprint64 (the 0-16 and 17-32 byte cases are the only ones a decimal
//   int64 reaches) or, with a salt, SipHash-2-4: the same functions as python/nabi/ops/
//   farmhash.py (TensorFlow's Fingerprint64 / StrongKeyedHash), so a GPU bin equals the CPU
//   bin bit for bit. Words are assembled byte by byte (little-endian), so the buffer needs no
//   alignment.
// - cross_hash_kernel: TF's FingerprintCat64 folded over the k features of one element
//   (reads k int64 values, stride n: coalesced across the threads of a block).
// - vocab_lookup_kernel: a lower-bound binary search over the sorted vocabulary keys
//   (ceil(log2(m + 1)) probes; the first probes are the same few keys for every thread, so
//   they hit the cache), then one compare and one read of the key's index.
// Launches: 1 each (none when there is no element).
#include <cstdint>
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/preprocess_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

constexpr uint64_t kK0 = 0xc3a5c85c97cb3127ULL;
constexpr uint64_t kK1 = 0xb492b66fbe98f273ULL;
constexpr uint64_t kK2 = 0x9ae16a3b2f90404fULL;
constexpr uint64_t kCatMul = 0xc6a4a7935bd1e995ULL;
constexpr uint64_t kCrossKey = 0xDECAFCAFFEULL;

__host__ __device__ __forceinline__ uint64_t load64(const unsigned char* p) {
  uint64_t v = 0;
  for (int b = 7; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

__host__ __device__ __forceinline__ uint64_t load32(const unsigned char* p) {
  uint64_t v = 0;
  for (int b = 3; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

__host__ __device__ __forceinline__ uint64_t rotr(uint64_t v, int s) {
  return s == 0 ? v : (v >> s) | (v << (64 - s));
}

__host__ __device__ __forceinline__ uint64_t shift_mix(uint64_t v) { return v ^ (v >> 47); }

__host__ __device__ __forceinline__ uint64_t mix16(uint64_t u, uint64_t v, uint64_t mul) {
  uint64_t a = (u ^ v) * mul;
  a ^= a >> 47;
  uint64_t b = (v ^ a) * mul;
  b ^= b >> 47;
  return b * mul;
}

// FarmHash Fingerprint64 of s[0:n], n <= 32.
__host__ __device__ uint64_t fingerprint_short(const unsigned char* s, int n) {
  if (n > 16) {
    const uint64_t mul = kK2 + static_cast<uint64_t>(n) * 2;
    const uint64_t a = load64(s) * kK1;
    const uint64_t b = load64(s + 8);
    const uint64_t c = load64(s + n - 8) * mul;
    const uint64_t d = load64(s + n - 16) * kK2;
    return mix16(rotr(a + b, 43) + rotr(c, 30) + d, a + rotr(b + kK2, 18) + c, mul);
  }
  if (n >= 8) {
    const uint64_t mul = kK2 + static_cast<uint64_t>(n) * 2;
    const uint64_t a = load64(s) + kK2;
    const uint64_t b = load64(s + n - 8);
    const uint64_t c = rotr(b, 37) * mul + a;
    const uint64_t d = (rotr(a, 25) + b) * mul;
    return mix16(c, d, mul);
  }
  if (n >= 4) {
    const uint64_t mul = kK2 + static_cast<uint64_t>(n) * 2;
    const uint64_t a = load32(s);
    return mix16(static_cast<uint64_t>(n) + (a << 3), load32(s + n - 4), mul);
  }
  if (n > 0) {
    const uint32_t y = static_cast<uint32_t>(s[0]) + (static_cast<uint32_t>(s[n >> 1]) << 8);
    const uint32_t z = static_cast<uint32_t>(n) + (static_cast<uint32_t>(s[n - 1]) << 2);
    return shift_mix(static_cast<uint64_t>(y) * kK2 ^ static_cast<uint64_t>(z) * kK0) * kK2;
  }
  return kK2;
}

__host__ __device__ __forceinline__ void sip_round(uint64_t& v0, uint64_t& v1, uint64_t& v2,
                                                   uint64_t& v3) {
  v0 += v1;
  v1 = rotr(v1, 64 - 13) ^ v0;
  v0 = rotr(v0, 32);
  v2 += v3;
  v3 = rotr(v3, 64 - 16) ^ v2;
  v0 += v3;
  v3 = rotr(v3, 64 - 21) ^ v0;
  v2 += v1;
  v1 = rotr(v1, 64 - 17) ^ v2;
  v2 = rotr(v2, 32);
}

// SipHash-2-4 of s[0:n] under (k0, k1).
__host__ __device__ uint64_t siphash24(const unsigned char* s, int n, uint64_t k0, uint64_t k1) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  const int full = n - n % 8;
  for (int i = 0; i < full; i += 8) {
    const uint64_t m = load64(s + i);
    v3 ^= m;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t m = static_cast<uint64_t>(n & 0xff) << 56;
  for (int i = full; i < n; ++i) m |= static_cast<uint64_t>(s[i]) << (8 * (i - full));
  v3 ^= m;
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  v0 ^= m;
  v2 ^= 0xff;
  for (int r = 0; r < 4; ++r) sip_round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

// The decimal string of v into buf (>= 20 bytes); returns its length.
__host__ __device__ __forceinline__ int decimal(int64_t v, unsigned char* buf) {
  unsigned char tmp[20];
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  int k = 0;
  do {
    tmp[k++] = static_cast<unsigned char>('0' + u % 10);
    u /= 10;
  } while (u);
  int n = 0;
  if (v < 0) buf[n++] = '-';
  while (k) buf[n++] = tmp[--k];
  return n;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    hash_ints_kernel(const T* __restrict__ x, int64_t n, uint64_t bins, bool keyed, uint64_t k0,
                     uint64_t k1, bool has_mask, int64_t mask, int64_t offset,
                     int64_t* __restrict__ out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += step) {
    const int64_t v = static_cast<int64_t>(x[t]);
    if (has_mask && v == mask) {
      out[t] = 0;
      continue;
    }
    unsigned char buf[24];
    const int len = decimal(v, buf);
    const uint64_t h = keyed ? siphash24(buf, len, k0, k1) : fingerprint_short(buf, len);
    out[t] = static_cast<int64_t>(h % bins) + offset;
  }
}

__global__ void __launch_bounds__(kThreads)
    cross_hash_kernel(const int64_t* __restrict__ xs, int64_t k, int64_t n, uint64_t bins,
                      int64_t* __restrict__ out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += step) {
    uint64_t h = kCrossKey;
    for (int64_t f = 0; f < k; ++f) {  // FingerprintCat64(h, feature bits)
      const uint64_t fp = static_cast<uint64_t>(xs[f * n + t]);
      uint64_t r = h ^ kCatMul;
      r ^= shift_mix(fp * kCatMul) * kCatMul;
      r *= kCatMul;
      r = shift_mix(r) * kCatMul;
      h = shift_mix(r);
    }
    out[t] = static_cast<int64_t>(h % bins);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    vocab_lookup_kernel(const int64_t* __restrict__ keys, const int64_t* __restrict__ idx,
                        int64_t m, const T* __restrict__ x, int64_t n,
                        int64_t* __restrict__ out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += step) {
    const int64_t v = static_cast<int64_t>(x[t]);
    int64_t lo = 0, hi = m;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (keys[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    out[t] = (lo < m && keys[lo] == v) ? idx[lo] : -1;
  }
}

}  // namespace

void hash_ints(DType x_dtype, const void* x, int64_t n, int64_t bins, bool keyed, uint64_t k0,
               uint64_t k1, bool has_mask, int64_t mask, int64_t offset, int64_t* out) {
  if (n == 0) return;
  if (bins < 1) throw std::invalid_argument("[hash_ints] bins must be >= 1");
  const auto b = static_cast<uint64_t>(bins);
  if (x_dtype == DType::Int32) {
    hash_ints_kernel<int32_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<const int32_t*>(x), n, b, keyed, k0, k1, has_mask, mask, offset, out);
    NABI_CUDA_CHECK_LAUNCH("hash_ints_kernel<int32>");
  } else if (x_dtype == DType::Int64) {
    hash_ints_kernel<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<const int64_t*>(x), n, b, keyed, k0, k1, has_mask, mask, offset, out);
    NABI_CUDA_CHECK_LAUNCH("hash_ints_kernel<int64>");
  } else {
    throw std::invalid_argument("[hash_ints] x must be int32 or int64");
  }
}

void cross_hash(const int64_t* xs, int64_t k, int64_t n, int64_t bins, int64_t* out) {
  if (n == 0) return;
  if (bins < 1) throw std::invalid_argument("[cross_hash] bins must be >= 1");
  cross_hash_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      xs, k, n, static_cast<uint64_t>(bins), out);
  NABI_CUDA_CHECK_LAUNCH("cross_hash_kernel");
}

void vocab_lookup(const int64_t* keys, const int64_t* idx, int64_t m, DType x_dtype,
                  const void* x, int64_t n, int64_t* out) {
  if (n == 0) return;
  if (x_dtype == DType::Int32) {
    vocab_lookup_kernel<int32_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        keys, idx, m, static_cast<const int32_t*>(x), n, out);
    NABI_CUDA_CHECK_LAUNCH("vocab_lookup_kernel<int32>");
  } else if (x_dtype == DType::Int64) {
    vocab_lookup_kernel<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        keys, idx, m, static_cast<const int64_t*>(x), n, out);
    NABI_CUDA_CHECK_LAUNCH("vocab_lookup_kernel<int64>");
  } else {
    throw std::invalid_argument("[vocab_lookup] x must be int32 or int64");
  }
}

}  // namespace nabi::cuda::nd
