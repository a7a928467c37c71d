// Row-wise (segmented) sort of the last axis: sort_rows (see array_launchers.h), behind
// tf.sort, tf.argsort and tf.math.top_k on GPU tensors.
//
// x: (rows, n) contiguous, float32/float64/int32/int64; values: (rows, k) of x's dtype and
// indices: (rows, k) int32 or int64 (k <= n: the first k of each sorted row, top_k's shape).
//
// Keys. Every element becomes an unsigned integer key whose unsigned order is the wanted
// order: floats flip (negative: all bits inverted; otherwise the sign bit set, the radix-sort
// trick), -0.0 counts as +0.0 and every NaN becomes the largest key (NaN after +inf, as
// NumPy's sort); ints flip their sign bit. Descending inverts the key, so one ascending sort
// serves both (NaN first when descending). 4-byte types use 32-bit keys, 8-byte types 64-bit.
// Each key travels with its column index (int32), and pairs compare lexicographically
// (key, index): all pairs of a row are distinct, so the bitonic network (not stable by
// itself) gives the stable order: ties keep ascending index order, ascending or descending.
// The values written are x[r, index] (original bits: -0.0 and NaN payloads survive).
//
// Network. A row is padded to P = the next power of two >= n with pairs (max key, column
// >= n), which sort after every real pair (a real max key has an index < n). The padded rows
// form one flat array of rows * P pairs; bitonic stage kk (2, 4, ..., P) with step j
// (kk/2, ..., 1) compares position i with i + j (i's bit j clear), ascending when
// kk == P or (i & kk) == 0, so each row ends ascending and rows never mix (j < P).
//   block_sort_kernel   a block owns CAP consecutive pairs (CAP = 256 with 128 threads for
//                       P <= 256, else 2048 with 1024 threads; CAP/P whole rows when
//                       P <= CAP): loads them (keys built on the fly, padding), runs every
//                       stage kk <= min(P, CAP) in shared memory (one compare-exchange per
//                       thread per step, __syncthreads between steps). When P <= CAP that is
//                       the whole sort and it writes the first k columns of each row;
//                       otherwise it stores the pairs into a (rows, P) scratch.
//   P > CAP: for kk = 2*CAP, ..., P: global_step_kernel for each j >= CAP (one thread per
//                       pair, grid-stride, one launch per step), then block_merge_kernel
//                       for the steps j = CAP/2 ... 1 of that stage in shared memory;
//                       finally gather_sorted_kernel writes values and indices.
//   Launches: 1 (P <= 2048), else 1 + sum over stages of (log2(kk) - 10) + 1.
// Scratch: (rows, P) keys and int32 indices from the caching allocator (P > CAP only).
// Tests: tests/test_cuda_sort.py (emulated, host simulator via tools/sim-build.sh, real GPU).
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kBigCap = 2048;    // pairs per block: 2048 * (8 + 4) bytes = 24 KiB shared
constexpr int kSmallCap = 256;   // for rows of <= 256 elements
constexpr int kStepThreads = 256;
constexpr int64_t kMaxBlocks = 65535LL * 64;

template <typename T>
using key_t = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

__device__ __forceinline__ uint32_t order_key(float v) {
  if (v != v) return 0xFFFFFFFFu;
  const uint32_t b = v == 0.0f ? 0u : __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ uint64_t order_key(double v) {
  if (v != v) return ~0ull;
  const uint64_t b = v == 0.0 ? 0ull : static_cast<uint64_t>(__double_as_longlong(v));
  return (b >> 63) ? ~b : (b | (1ull << 63));
}
__device__ __forceinline__ uint32_t order_key(int32_t v) {
  return static_cast<uint32_t>(v) ^ 0x80000000u;
}
__device__ __forceinline__ uint64_t order_key(int64_t v) {
  return static_cast<uint64_t>(v) ^ (1ull << 63);
}

// (ka, ia) > (kb, ib) lexicographically.
template <typename K>
__device__ __forceinline__ bool pair_greater(K ka, int32_t ia, K kb, int32_t ib) {
  return ka > kb || (ka == kb && ia > ib);
}

// The position of the lower element of pair t in step j: t with a zero bit inserted at j.
__device__ __forceinline__ int64_t pair_low(int64_t t, int64_t j) {
  return ((t & ~(j - 1)) << 1) | (t & (j - 1));
}

// One compare-exchange step (stage kk, step j) over a block's CAP pairs in shared memory;
// base: the flat position of sk[0] (for the direction), P: the padded row length.
template <typename K, int CAP>
__device__ __forceinline__ void shared_step(K* sk, int32_t* si, int64_t base, int64_t kk,
                                            int j, int64_t P) {
  for (int t = threadIdx.x; t < CAP / 2; t += blockDim.x) {
    const int i = static_cast<int>(pair_low(t, j));
    const int l = i + j;
    const bool asc = kk >= P || ((base + i) & kk) == 0;
    const K ka = sk[i], kb = sk[l];
    const int32_t ia = si[i], ib = si[l];
    if (pair_greater(ka, ia, kb, ib) == asc) {
      sk[i] = kb;
      sk[l] = ka;
      si[i] = ib;
      si[l] = ia;
    }
  }
}

template <typename T, typename OutIdx, int CAP>
__global__ void __launch_bounds__(CAP / 2)
    block_sort_kernel(const T* __restrict__ x,  // [rows, n]
                      int64_t rows, int32_t n, int log2p, bool descending, int64_t nchunks,
                      int32_t k,                      // final (P <= CAP) only:
                      T* __restrict__ values,         //   [rows, k]
                      OutIdx* __restrict__ out_idx,   //   [rows, k]
                      key_t<T>* __restrict__ keys,    // P > CAP only: [rows, P]
                      int32_t* __restrict__ idx) {    //   [rows, P]
  using K = key_t<T>;
  __shared__ K sk[CAP];
  __shared__ int32_t si[CAP];
  const int64_t P = int64_t{1} << log2p;
  const bool final_pass = P <= CAP;
  const int64_t last_stage = final_pass ? P : CAP;
  for (int64_t chunk = blockIdx.x; chunk < nchunks; chunk += gridDim.x) {
    const int64_t base = chunk * CAP;
    for (int t = threadIdx.x; t < CAP; t += blockDim.x) {
      const int64_t s = base + t;
      const int64_t r = s >> log2p;
      const int32_t c = static_cast<int32_t>(s & (P - 1));
      K key = ~K{0};
      if (r < rows && c < n) {
        key = order_key(x[r * n + c]);
        if (descending) key = ~key;
      }
      sk[t] = key;
      si[t] = c;
    }
    __syncthreads();
    for (int64_t kk = 2; kk <= last_stage; kk <<= 1) {
      for (int j = static_cast<int>(kk >> 1); j > 0; j >>= 1) {
        shared_step<K, CAP>(sk, si, base, kk, j, P);
        __syncthreads();
      }
    }
    for (int t = threadIdx.x; t < CAP; t += blockDim.x) {
      const int64_t s = base + t;
      if (final_pass) {
        const int64_t r = s >> log2p;
        const int32_t c = static_cast<int32_t>(s & (P - 1));
        if (r < rows && c < k) {
          const int32_t id = si[t];
          out_idx[r * k + c] = static_cast<OutIdx>(id);
          values[r * k + c] = x[r * n + id];
        }
      } else {
        keys[s] = sk[t];
        idx[s] = si[t];
      }
    }
    __syncthreads();  // before the next chunk overwrites the shared pairs
  }
}

template <typename K>
__global__ void __launch_bounds__(kStepThreads)
    global_step_kernel(K* __restrict__ keys,      // [rows * P]
                       int32_t* __restrict__ idx,  // [rows * P]
                       int64_t pairs, int64_t kk, int64_t j, int64_t P) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < pairs;
       t += step) {
    const int64_t i = pair_low(t, j);
    const int64_t l = i + j;
    const bool asc = kk >= P || (i & kk) == 0;
    const K ka = keys[i], kb = keys[l];
    const int32_t ia = idx[i], ib = idx[l];
    if (pair_greater(ka, ia, kb, ib) == asc) {
      keys[i] = kb;
      keys[l] = ka;
      idx[i] = ib;
      idx[l] = ia;
    }
  }
}

// The steps j = CAP/2 ... 1 of stage kk (> CAP) on each CAP-pair chunk, in shared memory.
template <typename K, int CAP>
__global__ void __launch_bounds__(CAP / 2)
    block_merge_kernel(K* __restrict__ keys,      // [rows * P]
                       int32_t* __restrict__ idx,  // [rows * P]
                       int64_t nchunks, int64_t kk, int64_t P) {
  __shared__ K sk[CAP];
  __shared__ int32_t si[CAP];
  for (int64_t chunk = blockIdx.x; chunk < nchunks; chunk += gridDim.x) {
    const int64_t base = chunk * CAP;
    for (int t = threadIdx.x; t < CAP; t += blockDim.x) {
      sk[t] = keys[base + t];
      si[t] = idx[base + t];
    }
    __syncthreads();
    for (int j = CAP / 2; j > 0; j >>= 1) {
      shared_step<K, CAP>(sk, si, base, kk, j, P);
      __syncthreads();
    }
    for (int t = threadIdx.x; t < CAP; t += blockDim.x) {
      keys[base + t] = sk[t];
      idx[base + t] = si[t];
    }
    __syncthreads();
  }
}

template <typename T, typename OutIdx>
__global__ void __launch_bounds__(kStepThreads)
    gather_sorted_kernel(const T* __restrict__ x,          // [rows, n]
                         const int32_t* __restrict__ idx,  // [rows, P], sorted
                         int64_t rows, int32_t n, int64_t P, int32_t k,
                         T* __restrict__ values,           // [rows, k]
                         OutIdx* __restrict__ out_idx) {   // [rows, k]
  const int64_t total = rows * k;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t r = t / k;
    const int64_t c = t - r * k;
    const int32_t id = idx[r * P + c];
    out_idx[t] = static_cast<OutIdx>(id);
    values[t] = x[r * n + id];
  }
}

unsigned blocks_for(int64_t nchunks) {
  return static_cast<unsigned>(nchunks < kMaxBlocks ? nchunks : kMaxBlocks);
}

template <typename T, typename OutIdx>
void sort_typed(const T* x, int64_t rows, int32_t n, bool descending, int32_t k, T* values,
                OutIdx* out_idx) {
  using K = key_t<T>;
  int log2p = 0;
  while ((int64_t{1} << log2p) < n) ++log2p;
  const int64_t P = int64_t{1} << log2p;
  const int64_t flat = rows * P;
  if (P <= kSmallCap) {
    const int64_t nchunks = ceil_div<int64_t>(flat, kSmallCap);
    block_sort_kernel<T, OutIdx, kSmallCap><<<blocks_for(nchunks), kSmallCap / 2, 0,
                                              stream()>>>(
        x, rows, n, log2p, descending, nchunks, k, values, out_idx, nullptr, nullptr);
    NABI_CUDA_CHECK_LAUNCH("block_sort_kernel<256>");
    return;
  }
  if (P <= kBigCap) {
    const int64_t nchunks = ceil_div<int64_t>(flat, kBigCap);
    block_sort_kernel<T, OutIdx, kBigCap><<<blocks_for(nchunks), kBigCap / 2, 0, stream()>>>(
        x, rows, n, log2p, descending, nchunks, k, values, out_idx, nullptr, nullptr);
    NABI_CUDA_CHECK_LAUNCH("block_sort_kernel<2048>");
    return;
  }
  // P > kBigCap: flat is a multiple of kBigCap.
  DeviceBuffer key_buf(std::vector<int64_t>{flat},
                       sizeof(K) == 4 ? DType::Int32 : DType::Int64);
  DeviceBuffer idx_buf(std::vector<int64_t>{flat}, DType::Int32);
  K* keys = static_cast<K*>(key_buf.data());
  int32_t* idx = static_cast<int32_t*>(idx_buf.data());
  const int64_t nchunks = flat / kBigCap;
  block_sort_kernel<T, OutIdx, kBigCap><<<blocks_for(nchunks), kBigCap / 2, 0, stream()>>>(
      x, rows, n, log2p, descending, nchunks, k, nullptr, nullptr, keys, idx);
  NABI_CUDA_CHECK_LAUNCH("block_sort_kernel<2048>");
  for (int64_t kk = 2 * kBigCap; kk <= P; kk <<= 1) {
    for (int64_t j = kk >> 1; j >= kBigCap; j >>= 1) {
      global_step_kernel<K><<<grid_for(flat / 2, kStepThreads), kStepThreads, 0, stream()>>>(
          keys, idx, flat / 2, kk, j, P);
      NABI_CUDA_CHECK_LAUNCH("global_step_kernel");
    }
    block_merge_kernel<K, kBigCap><<<blocks_for(nchunks), kBigCap / 2, 0, stream()>>>(
        keys, idx, nchunks, kk, P);
    NABI_CUDA_CHECK_LAUNCH("block_merge_kernel");
  }
  const int64_t total = rows * k;
  gather_sorted_kernel<T, OutIdx><<<grid_for(total, kStepThreads), kStepThreads, 0,
                                    stream()>>>(x, idx, rows, n, P, k, values, out_idx);
  NABI_CUDA_CHECK_LAUNCH("gather_sorted_kernel");
}

template <typename T>
void sort_by_index(const void* x, int64_t rows, int32_t n, bool descending, int32_t k,
                   void* values, DType idx_dtype, void* indices) {
  const T* xp = static_cast<const T*>(x);
  T* vp = static_cast<T*>(values);
  if (idx_dtype == DType::Int32)
    sort_typed<T, int32_t>(xp, rows, n, descending, k, vp, static_cast<int32_t*>(indices));
  else if (idx_dtype == DType::Int64)
    sort_typed<T, int64_t>(xp, rows, n, descending, k, vp, static_cast<int64_t*>(indices));
  else
    throw std::invalid_argument("[sort] indices must be int32 or int64");
}

}  // namespace

void sort_rows(DType dtype, const void* x, int64_t rows, int64_t n, bool descending, int64_t k,
               void* values, DType idx_dtype, void* indices) {
  if (n < 0 || n > std::numeric_limits<int32_t>::max() || k < 0 || k > n || rows < 0)
    throw std::invalid_argument("[sort] bad row shape");
  if (rows == 0 || k == 0) return;
  const int32_t n32 = static_cast<int32_t>(n), k32 = static_cast<int32_t>(k);
  switch (dtype) {
    case DType::Float32:
      return sort_by_index<float>(x, rows, n32, descending, k32, values, idx_dtype, indices);
    case DType::Float64:
      return sort_by_index<double>(x, rows, n32, descending, k32, values, idx_dtype, indices);
    case DType::Int32:
      return sort_by_index<int32_t>(x, rows, n32, descending, k32, values, idx_dtype, indices);
    case DType::Int64:
      return sort_by_index<int64_t>(x, rows, n32, descending, k32, values, idx_dtype, indices);
    default: break;  // bool, complex
  }
  throw std::invalid_argument("[sort] x must be float32, float64, int32 or int64");
}

}  // namespace nabi::cuda::nd
