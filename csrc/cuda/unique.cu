// unique (see count_launchers.h), behind tf.unique and tf.unique_with_counts on GPU tensors.
//
// Algorithm (sort-based, on the sort of sort.cu):
//   1. sort_rows sorts x as one row, stably: sv = sorted values, perm = their positions in x
//      (ties in ascending position, so the first element of each run of equal values is that
//      value's first occurrence).
//   2. run_ids_kernel (one block of 1024 threads, a loop over 1024-element chunks): a run
//      starts at i = 0 and wherever sv[i] != sv[i - 1] (so -0.0 == +0.0, and every NaN is its
//      own run: NaN != NaN, as TF); an inclusive scan of those flags (Hillis-Steele in shared
//      memory, plus the carry of the earlier chunks) gives run[i], each element's run number;
//      the block also writes the number of runs K, the only value read back (the outputs'
//      size depends on it).
//   3. run_starts_kernel: for each run start i: start[run[i]] = i, first[run[i]] = perm[i].
//   4. sort_rows sorts first (K positions, all distinct): order[j] = the run whose first
//      occurrence is j-th in x, which is tf.unique's output order.
//   5. emit_values_kernel: y[j] = sv[start[order[j]]], rank[order[j]] = j, and counts[j] =
//      the length of run order[j] (the next run's start, or n, minus its start).
//   6. emit_idx_kernel: idx[perm[i]] = rank[run[i]].
// Launches: 6 for n <= 2048 (each sort is one), more for longer inputs (sort.cu's stages);
// one synchronising read of K. Scratch (caching allocator): n values, 6 int32/int64 arrays.
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"
#include "cuda/count_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kScanThreads = 1024;
constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kScanThreads)
    run_ids_kernel(const T* __restrict__ sv, int64_t n, int64_t* __restrict__ run,
                   int64_t* __restrict__ count) {
  __shared__ int64_t buf[kScanThreads];
  __shared__ int64_t carry;
  const int tid = threadIdx.x;
  if (tid == 0) carry = -1;  // the first run gets number 0
  __syncthreads();
  for (int64_t base = 0; base < n; base += kScanThreads) {
    const int64_t i = base + tid;
    buf[tid] = (i < n && (i == 0 || !(sv[i] == sv[i - 1]))) ? 1 : 0;
    __syncthreads();
    for (int off = 1; off < kScanThreads; off <<= 1) {
      const int64_t add = tid >= off ? buf[tid - off] : 0;
      __syncthreads();
      buf[tid] += add;
      __syncthreads();
    }
    if (i < n) run[i] = carry + buf[tid];
    __syncthreads();
    if (tid == kScanThreads - 1) carry += buf[tid];
    __syncthreads();
  }
  if (tid == 0) *count = carry + 1;
}

__global__ void __launch_bounds__(kThreads)
    run_starts_kernel(const int64_t* __restrict__ run, const int32_t* __restrict__ perm,
                      int64_t n, int32_t* __restrict__ start, int32_t* __restrict__ first) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    if (i == 0 || run[i] != run[i - 1]) {
      start[run[i]] = static_cast<int32_t>(i);
      first[run[i]] = perm[i];
    }
  }
}

template <typename T, typename O>
__global__ void __launch_bounds__(kThreads)
    emit_values_kernel(const T* __restrict__ sv, const int32_t* __restrict__ start,
                       const int32_t* __restrict__ order, int64_t k, int64_t n,
                       T* __restrict__ y, int64_t* __restrict__ rank, O* __restrict__ counts) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < k;
       j += step) {
    const int32_t r = order[j];
    const int64_t s = start[r];
    y[j] = sv[s];
    rank[r] = j;
    if (counts) counts[j] = static_cast<O>((r + 1 < k ? start[r + 1] : n) - s);
  }
}

template <typename O>
__global__ void __launch_bounds__(kThreads)
    emit_idx_kernel(const int64_t* __restrict__ run, const int32_t* __restrict__ perm,
                    const int64_t* __restrict__ rank, int64_t n, O* __restrict__ idx) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step)
    idx[perm[i]] = static_cast<O>(rank[run[i]]);
}

template <typename T, typename O>
int64_t run_unique(DType dtype, const void* x, int64_t n, void* y, void* idx, void* counts) {
  using V = std::vector<int64_t>;
  DeviceBuffer sv(V{n}, dtype), perm(V{n}, DType::Int32), run(V{n}, DType::Int64);
  DeviceBuffer kbuf(V{1}, DType::Int64);
  sort_rows(dtype, x, 1, n, false, n, sv.data(), DType::Int32, perm.data());
  run_ids_kernel<T><<<1, kScanThreads, 0, stream()>>>(sv.ptr<T>(), n, run.ptr<int64_t>(),
                                                     kbuf.ptr<int64_t>());
  NABI_CUDA_CHECK_LAUNCH("run_ids_kernel");
  int64_t k = 0;
  copy_d2h(&k, kbuf.data(), sizeof(k));  // waits for the kernels
  DeviceBuffer start(V{k}, DType::Int32), first(V{k}, DType::Int32);
  DeviceBuffer sfirst(V{k}, DType::Int32), order(V{k}, DType::Int32), rank(V{k}, DType::Int64);
  run_starts_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      run.ptr<int64_t>(), perm.ptr<int32_t>(), n, start.ptr<int32_t>(), first.ptr<int32_t>());
  NABI_CUDA_CHECK_LAUNCH("run_starts_kernel");
  sort_rows(DType::Int32, first.data(), 1, k, false, k, sfirst.data(), DType::Int32,
            order.data());
  emit_values_kernel<T, O><<<grid_for(k, kThreads), kThreads, 0, stream()>>>(
      sv.ptr<T>(), start.ptr<int32_t>(), order.ptr<int32_t>(), k, n, static_cast<T*>(y),
      rank.ptr<int64_t>(), static_cast<O*>(counts));
  NABI_CUDA_CHECK_LAUNCH("emit_values_kernel");
  emit_idx_kernel<O><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      run.ptr<int64_t>(), perm.ptr<int32_t>(), rank.ptr<int64_t>(), n, static_cast<O*>(idx));
  NABI_CUDA_CHECK_LAUNCH("emit_idx_kernel");
  return k;
}

template <typename T>
int64_t by_index(DType dtype, const void* x, int64_t n, void* y, DType idx_dtype, void* idx,
                 void* counts) {
  if (idx_dtype == DType::Int32) return run_unique<T, int32_t>(dtype, x, n, y, idx, counts);
  if (idx_dtype == DType::Int64) return run_unique<T, int64_t>(dtype, x, n, y, idx, counts);
  throw std::invalid_argument("[unique] idx_dtype must be int32 or int64");
}

}  // namespace

int64_t unique(DType dtype, const void* x, int64_t n, void* y, DType idx_dtype, void* idx,
               void* counts) {
  if (n == 0) return 0;
  switch (dtype) {
    case DType::Float32: return by_index<float>(dtype, x, n, y, idx_dtype, idx, counts);
    case DType::Float64: return by_index<double>(dtype, x, n, y, idx_dtype, idx, counts);
    case DType::Int32: return by_index<int32_t>(dtype, x, n, y, idx_dtype, idx, counts);
    case DType::Int64: return by_index<int64_t>(dtype, x, n, y, idx_dtype, idx, counts);
    default: throw std::invalid_argument("[unique] unsupported dtype");
  }
}

}  // namespace nabi::cuda::nd
