// N-d reductions over any set of axes, and argmax/argmin over one axis (see
// array_launchers.h).
//
// reduce: x's dimensions split into kept ones (the output's, in order) and reduced ones. Each
// group is coalesced on the host (extent-1 dimensions dropped, neighbours merged when
// contiguous in x), so an output index o and a reduced index r each map to an element offset
// of x by a short mixed-radix decomposition (usually one dimension: a multiply). x's
// innermost (stride-1) dimension is either reduced or kept, which picks one of two kernels,
// both with coalesced reads:
//   reduce_inner_kernel  the reduced group holds the stride-1 dimension (e.g. rows: reducing
//                        the last axis). A group of G threads reduces one output: G = 32 (a
//                        warp; lanes walk the row, warp-shuffle butterfly), G = 256 (a block,
//                        warps then 8 partials in shared memory) for long rows and few
//                        outputs, or G = 1 (a thread per output) for rows of <= 16 elements.
//   reduce_outer_kernel  the kept group holds the stride-1 dimension (e.g. columns: (N, C) ->
//                        (C,), the bias gradient). Blocks of 32 x 8 threads: the 32 threads of
//                        a warp take 32 consecutive outputs (consecutive addresses), the 8
//                        warps take every 8th reduced index; the 8 partial values per output
//                        are combined in shared memory.
// When those launches would leave the GPU mostly idle (few outputs, many reduced elements),
// the reduced range is split into S chunks along gridDim.y (every chunk non-empty, >= 32
// elements per thread): each (output, chunk) writes a partial accumulator to a scratch buffer
// from the caching allocator and reduce_finalize_kernel combines the S partials in chunk
// order. With S == 1 the kernels write the result directly.
// Accumulators: sum/prod/mean of floats in float64, sum/prod of ints in int64 with wrapping
// (unsigned) arithmetic, mean in float64, max/min in x's type with NaN winning, any/all in
// bool. Index math is 32-bit when x has < 2^31 elements.
//
// argmax_match_count (the accuracy metrics): see its kernel below.
//
// arg_reduce: x as (outer, n, inner). inner == 1: a warp (or a 256-thread block for long rows
// and few of them) per row, each lane keeping its best (value, index), then a shuffle/shared
// memory tree that prefers the better value, NaN over anything, and the lower index on ties,
// so the result is NumPy's first occurrence. inner > 1: one thread per output (o, i), walking
// the n elements in order; consecutive threads read consecutive addresses.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kTargetBlocks = 1024;  // ~8 resident 256-thread blocks per SM on an H100
constexpr int64_t kMaxSplits = 1024;

// ============================ accumulation rules =============================================
template <ReduceOp OP, typename T>
struct Red {
  using In = T;
  static constexpr bool kFloat = std::is_floating_point_v<T>;
  static constexpr bool kExtreme = OP == ReduceOp::Max || OP == ReduceOp::Min;
  static constexpr bool kLogical = OP == ReduceOp::Any || OP == ReduceOp::All;
  using Acc = std::conditional_t<
      kExtreme, T,
      std::conditional_t<kLogical, bool,
                         std::conditional_t<(OP == ReduceOp::Mean || kFloat), double, int64_t>>>;
  using Out = std::conditional_t<(OP == ReduceOp::Mean && !kFloat), double, T>;

  __device__ __forceinline__ static Acc identity() {
    if constexpr (OP == ReduceOp::Sum || OP == ReduceOp::Mean) return Acc(0);
    else if constexpr (OP == ReduceOp::Prod) return Acc(1);
    else if constexpr (OP == ReduceOp::Any) return false;
    else if constexpr (OP == ReduceOp::All) return true;
    else if constexpr (kFloat) return OP == ReduceOp::Max ? T(-INFINITY) : T(INFINITY);
    else if constexpr (std::is_same_v<T, int32_t>)
      return OP == ReduceOp::Max ? INT32_MIN : INT32_MAX;
    else return OP == ReduceOp::Max ? INT64_MIN : INT64_MAX;
  }
  __device__ __forceinline__ static Acc load(T v) { return static_cast<Acc>(v); }
  __device__ __forceinline__ static Acc combine(Acc a, Acc b) {
    if constexpr (OP == ReduceOp::Sum || OP == ReduceOp::Mean) {
      if constexpr (std::is_same_v<Acc, int64_t>)
        return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      else return a + b;
    } else if constexpr (OP == ReduceOp::Prod) {
      if constexpr (std::is_same_v<Acc, int64_t>)
        return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      else return a * b;
    } else if constexpr (OP == ReduceOp::Max) {
      return (a >= b || a != a) ? a : b;  // NaN in either wins
    } else if constexpr (OP == ReduceOp::Min) {
      return (a <= b || a != a) ? a : b;
    } else if constexpr (OP == ReduceOp::Any) {
      return a || b;
    } else {
      return a && b;
    }
  }
  __device__ __forceinline__ static Out finalize(Acc a, int64_t count) {
    if constexpr (OP == ReduceOp::Mean) return static_cast<Out>(a / static_cast<double>(count));
    else return static_cast<Out>(a);
  }
};

// Warp shuffle of any 1-, 4- or 8-byte value (bool through int).
template <typename A>
__device__ __forceinline__ A shfl_xor(A v, int mask) {
  if constexpr (std::is_same_v<A, bool>) {
    return __shfl_xor_sync(0xffffffffu, static_cast<int>(v), mask) != 0;
  } else if constexpr (sizeof(A) == 8) {
    long long t;
    memcpy(&t, &v, 8);
    t = __shfl_xor_sync(0xffffffffu, t, mask);
    memcpy(&v, &t, 8);
    return v;
  } else {
    static_assert(sizeof(A) == 4, "shfl_xor: 1 (bool), 4 or 8 bytes");
    int t;
    memcpy(&t, &v, 4);
    t = __shfl_xor_sync(0xffffffffu, t, mask);
    memcpy(&v, &t, 4);
    return v;
  }
}

// ============================ index maps =====================================================
struct HostDims {
  int ndim = 0;  // innermost first
  int64_t shape[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
};

// dims: indices into shape/strides, outer to inner.
HostDims coalesce(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  const std::vector<int>& dims) {
  HostDims h;
  for (int j = static_cast<int>(dims.size()) - 1; j >= 0; --j) {
    const int d = dims[j];
    if (shape[d] == 1) continue;
    if (h.ndim > 0 && strides[d] == h.stride[h.ndim - 1] * h.shape[h.ndim - 1]) {
      h.shape[h.ndim - 1] *= shape[d];
      continue;
    }
    h.shape[h.ndim] = shape[d];
    h.stride[h.ndim] = strides[d];
    ++h.ndim;
  }
  return h;
}

template <typename I>
struct Dims {
  int ndim;
  I shape[kMaxDims];
  I stride[kMaxDims];
};

template <typename I>
Dims<I> to_dims(const HostDims& h) {
  Dims<I> d{};
  d.ndim = h.ndim;
  for (int k = 0; k < kMaxDims; ++k) {
    d.shape[k] = static_cast<I>(k < h.ndim ? h.shape[k] : 1);
    d.stride[k] = static_cast<I>(k < h.ndim ? h.stride[k] : 0);
  }
  return d;
}

template <typename I>
__device__ __forceinline__ I dims_offset(const Dims<I>& d, I i) {
  if (d.ndim == 1) return i * d.stride[0];
  I off = 0;
#pragma unroll
  for (int k = 0; k < kMaxDims; ++k) {
    if (k < d.ndim) {
      I r;
      if (k == d.ndim - 1) {
        r = i;
      } else {
        const I q = i / d.shape[k];
        r = i - q * d.shape[k];
        i = q;
      }
      off += r * d.stride[k];
    }
  }
  return off;
}

// ============================ reduce kernels =================================================
// Combine a value across the G threads of a group (G = 1, 32 or 256 == the block); the
// result is valid in the group's first thread.
template <typename F, int G>
__device__ __forceinline__ typename F::Acc group_reduce(typename F::Acc a) {
  using Acc = typename F::Acc;
  if constexpr (G >= 32) {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) a = F::combine(a, shfl_xor(a, m));
  }
  if constexpr (G > 32) {
    static_assert(G == kThreads, "a group larger than a warp is the whole block");
    __shared__ Acc warp_part[kThreads / 32];
    const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) warp_part[w] = a;
    __syncthreads();
    if (w == 0) {
      a = lane < kThreads / 32 ? warp_part[lane] : F::identity();
#pragma unroll
      for (int m = 16; m > 0; m >>= 1) a = F::combine(a, shfl_xor(a, m));
    }
  }
  return a;
}

template <typename F, typename I, int G>
__global__ void __launch_bounds__(kThreads)
    reduce_inner_kernel(const typename F::In* __restrict__ x,  // the input, contiguous
                        typename F::Out* __restrict__ y,      // [O]
                        typename F::Acc* __restrict__ part,   // [S, O] when gridDim.y > 1
                        Dims<I> kept, Dims<I> red, int64_t O, int64_t R, int64_t chunk) {
  using Acc = typename F::Acc;
  constexpr int kGroups = kThreads / G;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / G;
  const int lane = threadIdx.x % G;
  Acc a = F::identity();
  if (o < O) {  // uniform across each group (a group never straddles two outputs)
    const I base = dims_offset(kept, static_cast<I>(o));
    const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
    const int64_t r1 = r0 + chunk < R ? r0 + chunk : R;
    for (int64_t r = r0 + lane; r < r1; r += G)
      a = F::combine(a, F::load(x[base + dims_offset(red, static_cast<I>(r))]));
  }
  a = group_reduce<F, G>(a);
  if (o < O && lane == 0) {
    if (gridDim.y == 1)
      y[o] = F::finalize(a, R);
    else
      part[static_cast<int64_t>(blockIdx.y) * O + o] = a;
  }
}

template <typename F, typename I>
__global__ void __launch_bounds__(kThreads)
    reduce_outer_kernel(const typename F::In* __restrict__ x,  // the input, contiguous
                        typename F::Out* __restrict__ y,      // [O]
                        typename F::Acc* __restrict__ part,   // [S, O] when gridDim.y > 1
                        Dims<I> kept, Dims<I> red, int64_t O, int64_t R, int64_t chunk) {
  // blockDim = (32, 8)
  using Acc = typename F::Acc;
  __shared__ Acc sh[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  Acc a = F::identity();
  if (o < O) {
    const I base = dims_offset(kept, static_cast<I>(o));
    const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
    const int64_t r1 = r0 + chunk < R ? r0 + chunk : R;
    for (int64_t r = r0 + ty; r < r1; r += 8)
      a = F::combine(a, F::load(x[base + dims_offset(red, static_cast<I>(r))]));
  }
  sh[ty][tx] = a;
  __syncthreads();
  if (ty == 0 && o < O) {
#pragma unroll
    for (int k = 1; k < 8; ++k) a = F::combine(a, sh[k][tx]);
    if (gridDim.y == 1)
      y[o] = F::finalize(a, R);
    else
      part[static_cast<int64_t>(blockIdx.y) * O + o] = a;
  }
}

template <typename F>
__global__ void __launch_bounds__(kThreads)
    reduce_finalize_kernel(const typename F::Acc* __restrict__ part,  // [S, O]
                           typename F::Out* __restrict__ y,          // [O]
                           int64_t O, int64_t S, int64_t R) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < O;
       o += step) {
    typename F::Acc a = part[o];
    for (int64_t s = 1; s < S; ++s) a = F::combine(a, part[s * O + o]);
    y[o] = F::finalize(a, R);
  }
}

// Splits of the reduced range: enough blocks to fill the GPU, >= min_per_split elements each,
// no empty split. Returns S and sets *chunk.
int64_t plan_splits(int64_t blocks, int64_t R, int64_t min_per_split, int64_t* chunk) {
  int64_t S = 1;
  if (R > 0 && blocks < kTargetBlocks) {
    S = ceil_div<int64_t>(kTargetBlocks, blocks);
    const int64_t by_work = R / min_per_split;
    if (S > by_work) S = by_work;
    if (S > kMaxSplits) S = kMaxSplits;
    if (S < 1) S = 1;
  }
  *chunk = S > 1 ? ceil_div<int64_t>(R, S) : (R > 0 ? R : 1);
  if (R > 0) S = ceil_div<int64_t>(R, *chunk);
  return S;
}

template <typename F, typename I>
void run_reduce(const typename F::In* x, typename F::Out* y, const HostDims& kept_h,
                const HostDims& red_h, int64_t O, int64_t R) {
  using Acc = typename F::Acc;
  const Dims<I> kept = to_dims<I>(kept_h), red = to_dims<I>(red_h);
  const bool inner = (red_h.ndim > 0 && red_h.stride[0] == 1) || kept_h.ndim == 0;
  int64_t blocks, S, chunk;
  int G = 32;
  if (inner) {
    G = R <= 16 ? 1 : ((R >= 4096 && O < 4096) ? kThreads : 32);
    blocks = ceil_div<int64_t>(O, kThreads / G);
    S = plan_splits(blocks, R, static_cast<int64_t>(G) * 32, &chunk);
  } else {
    blocks = ceil_div<int64_t>(O, 32);
    S = plan_splits(blocks, R, 8 * 32, &chunk);
  }
  if (blocks > kInt32Max) throw CudaError("[reduce] too many outputs for one launch");
  // Scratch for the partials (float64 words from the caching allocator; freed after the
  // finalize kernel is enqueued, which is safe on the single stream).
  std::unique_ptr<DeviceBuffer> scratch;
  Acc* part = nullptr;
  if (S > 1) {
    const int64_t words = ceil_div<int64_t>(S * O * static_cast<int64_t>(sizeof(Acc)), 8);
    scratch = std::make_unique<DeviceBuffer>(std::vector<int64_t>{words}, DType::Float64);
    part = static_cast<Acc*>(scratch->data());
  }
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(S));
  if (inner) {
    if (G == 1) {
      reduce_inner_kernel<F, I, 1><<<grid, kThreads, 0, stream()>>>(x, y, part, kept, red, O, R,
                                                                    chunk);
      NABI_CUDA_CHECK_LAUNCH("reduce_inner_kernel<G=1>");
    } else if (G == 32) {
      reduce_inner_kernel<F, I, 32><<<grid, kThreads, 0, stream()>>>(x, y, part, kept, red, O,
                                                                     R, chunk);
      NABI_CUDA_CHECK_LAUNCH("reduce_inner_kernel<G=32>");
    } else {
      reduce_inner_kernel<F, I, kThreads><<<grid, kThreads, 0, stream()>>>(x, y, part, kept, red,
                                                                           O, R, chunk);
      NABI_CUDA_CHECK_LAUNCH("reduce_inner_kernel<G=256>");
    }
  } else {
    reduce_outer_kernel<F, I><<<grid, dim3(32, 8), 0, stream()>>>(x, y, part, kept, red, O, R,
                                                                  chunk);
    NABI_CUDA_CHECK_LAUNCH("reduce_outer_kernel");
  }
  if (S > 1) {
    reduce_finalize_kernel<F><<<grid_for(O, kThreads), kThreads, 0, stream()>>>(part, y, O, S,
                                                                                R);
    NABI_CUDA_CHECK_LAUNCH("reduce_finalize_kernel");
  }
}

template <ReduceOp OP, typename T>
void reduce_typed(const void* x, void* y, const HostDims& kept, const HostDims& red, int64_t O,
                  int64_t R, int64_t numel) {
  using F = Red<OP, T>;
  const auto* xp = static_cast<const T*>(x);
  auto* yp = static_cast<typename F::Out*>(y);
  if (numel <= kInt32Max && O <= kInt32Max)
    run_reduce<F, int32_t>(xp, yp, kept, red, O, R);
  else
    run_reduce<F, int64_t>(xp, yp, kept, red, O, R);
}

template <ReduceOp OP>
void reduce_numeric(DType d, const void* x, void* y, const HostDims& kept, const HostDims& red,
                    int64_t O, int64_t R, int64_t numel) {
  switch (d) {
    case DType::Float32: return reduce_typed<OP, float>(x, y, kept, red, O, R, numel);
    case DType::Float64: return reduce_typed<OP, double>(x, y, kept, red, O, R, numel);
    case DType::Int32: return reduce_typed<OP, int32_t>(x, y, kept, red, O, R, numel);
    case DType::Int64: return reduce_typed<OP, int64_t>(x, y, kept, red, O, R, numel);
    default: throw std::invalid_argument("[reduce] op/dtype mismatch");
  }
}

// ============================ arg_reduce =====================================================
template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Is (v, i) preferred over (bv, bi)? An index < 0 marks "nothing yet".
template <bool kMax, typename T>
__device__ __forceinline__ bool arg_better(T v, int64_t i, T bv, int64_t bi) {
  if (i < 0) return false;
  if (bi < 0) return true;
  const bool vn = is_nan(v), bn = is_nan(bv);
  if (vn || bn) return vn && (!bn || i < bi);
  if (v != bv) return kMax ? v > bv : v < bv;
  return i < bi;
}

// One lane's best (value, index) over xr[lane], xr[lane + G], ..., then the warp's best, on
// every lane (shuffle butterfly): NumPy's argmax / argmin with the first NaN winning.
template <bool kMax, int G, typename T>
__device__ __forceinline__ void warp_best(const T* __restrict__ xr, int64_t n, int lane, T& bv,
                                          int64_t& bi) {
  for (int64_t k = lane; k < n; k += G) {
    const T v = xr[k];
    if (arg_better<kMax>(v, k, bv, bi)) {
      bv = v;
      bi = k;
    }
  }
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    const T ov = shfl_xor(bv, m);
    const int64_t oi = shfl_xor(bi, m);
    if (arg_better<kMax>(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
}

template <bool kMax, typename T, int G>
__global__ void __launch_bounds__(kThreads)
    arg_rows_kernel(const T* __restrict__ x,  // [rows, n]
                    int64_t* __restrict__ y,  // [rows]
                    int64_t rows, int64_t n) {
  constexpr int kGroups = kThreads / G;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / G;
  const int lane = threadIdx.x % G;
  T bv = T(0);
  int64_t bi = -1;
  warp_best<kMax, G>(x + (row < rows ? row : 0) * n, row < rows ? n : 0, lane, bv, bi);
  if constexpr (G > 32) {
    __shared__ T sv[kThreads / 32];
    __shared__ int64_t si[kThreads / 32];
    const int w = threadIdx.x / 32, l = threadIdx.x % 32;
    if (l == 0) {
      sv[w] = bv;
      si[w] = bi;
    }
    __syncthreads();
    if (w == 0) {
      bv = l < kThreads / 32 ? sv[l] : T(0);
      bi = l < kThreads / 32 ? si[l] : -1;
#pragma unroll
      for (int m = 16; m > 0; m >>= 1) {
        const T ov = shfl_xor(bv, m);
        const int64_t oi = shfl_xor(bi, m);
        if (arg_better<kMax>(ov, oi, bv, bi)) {
          bv = ov;
          bi = oi;
        }
      }
    }
  }
  if (row < rows && lane == 0) y[row] = bi;
}

template <bool kMax, typename T>
__global__ void __launch_bounds__(kThreads)
    arg_strided_kernel(const T* __restrict__ x,  // [outer, n, inner]
                       int64_t* __restrict__ y,  // [outer, inner]
                       int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    const int64_t o = idx / inner, i = idx - o * inner;
    const T* p = x + o * n * inner + i;
    T bv = p[0];
    int64_t bi = 0;
    for (int64_t k = 1; k < n; ++k) {
      const T v = p[k * inner];
      if (arg_better<kMax>(v, k, bv, bi)) {
        bv = v;
        bi = k;
      }
    }
    y[idx] = bi;
  }
}

template <bool kMax, typename T>
void run_arg(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t* y) {
  if (inner == 1) {
    if (n >= 4096 && outer < 4096) {
      if (outer > kInt32Max) throw CudaError("[arg_reduce] too many rows for one launch");
      arg_rows_kernel<kMax, T, kThreads><<<static_cast<unsigned>(outer), kThreads, 0, stream()>>>(
          x, y, outer, n);
      NABI_CUDA_CHECK_LAUNCH("arg_rows_kernel<G=256>");
    } else {
      const int64_t blocks = ceil_div<int64_t>(outer, kThreads / 32);
      if (blocks > kInt32Max) throw CudaError("[arg_reduce] too many rows for one launch");
      arg_rows_kernel<kMax, T, 32><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
          x, y, outer, n);
      NABI_CUDA_CHECK_LAUNCH("arg_rows_kernel<G=32>");
    }
  } else {
    arg_strided_kernel<kMax, T><<<grid_for(outer * inner, kThreads), kThreads, 0, stream()>>>(
        x, y, outer, n, inner);
    NABI_CUDA_CHECK_LAUNCH("arg_strided_kernel");
  }
}

// ============================ argmax_match_count =============================================
// The accuracy metrics' count: one warp per row (grid-stride over rows), the row's argmax as
// arg_rows_kernel<G=32> finds it (the labels' too when they are one-hot rows), lane 0 counts
// the matches; a block adds its 8 warps' counts and makes ONE atomicAdd of an integer-valued
// double into the running total: exact and independent of the order the blocks finish in.
template <typename T>
__device__ __forceinline__ int64_t warp_argmax(const T* __restrict__ xr, int64_t n, int lane) {
  T bv = T(0);
  int64_t bi = -1;
  warp_best<true, 32>(xr, n, lane, bv, bi);
  return bi;
}

template <typename T, typename L, bool kSparse>
__global__ void __launch_bounds__(kThreads)
    argmax_match_kernel(const T* __restrict__ pred,    // [rows, n]
                        const L* __restrict__ labels,  // [rows] (sparse) or [rows, n]
                        int64_t rows, int64_t n, double* __restrict__ total) {
  constexpr int kWarps = kThreads / 32;
  __shared__ int counts[kWarps];
  const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
  int hits = 0;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + w; r < rows; r += step) {
    const int64_t p = warp_argmax(pred + r * n, n, lane);
    bool hit;
    if constexpr (kSparse)
      hit = static_cast<double>(labels[r]) == static_cast<double>(p);
    else
      hit = warp_argmax(labels + r * n, n, lane) == p;
    hits += hit ? 1 : 0;
  }
  if (lane == 0) counts[w] = hits;
  __syncthreads();
  if (threadIdx.x == 0) {
    int sum = 0;
#pragma unroll
    for (int k = 0; k < kWarps; ++k) sum += counts[k];
    if (sum) atomicAdd(total, static_cast<double>(sum));
  }
}

}  // namespace

// ============================ entry points ===================================================
void reduce(ReduceOp op, DType x_dtype, const void* x, const std::vector<int64_t>& shape,
            const std::vector<int>& axes, void* y) {
  const int nd = static_cast<int>(shape.size());
  if (nd > kMaxDims) throw std::invalid_argument("[reduce] more than 8 dimensions");
  std::vector<bool> reduced(nd, false);
  for (int a : axes) {
    if (a < 0 || a >= nd || reduced[a]) throw std::invalid_argument("[reduce] bad axes");
    reduced[a] = true;
  }
  std::vector<int64_t> strides(nd);
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    strides[d] = acc;
    acc *= shape[d];
  }
  const int64_t numel = acc;
  std::vector<int> kept_dims, red_dims;
  int64_t O = 1, R = 1;
  for (int d = 0; d < nd; ++d) {
    if (reduced[d]) {
      red_dims.push_back(d);
      R *= shape[d];
    } else {
      kept_dims.push_back(d);
      O *= shape[d];
    }
  }
  if (O <= 0) return;
  const HostDims kept = coalesce(shape, strides, kept_dims);
  HostDims red = R > 0 ? coalesce(shape, strides, red_dims) : HostDims{};
  switch (op) {
    case ReduceOp::Sum: return reduce_numeric<ReduceOp::Sum>(x_dtype, x, y, kept, red, O, R, numel);
    case ReduceOp::Mean:
      return reduce_numeric<ReduceOp::Mean>(x_dtype, x, y, kept, red, O, R, numel);
    case ReduceOp::Prod:
      return reduce_numeric<ReduceOp::Prod>(x_dtype, x, y, kept, red, O, R, numel);
    case ReduceOp::Max: return reduce_numeric<ReduceOp::Max>(x_dtype, x, y, kept, red, O, R, numel);
    case ReduceOp::Min: return reduce_numeric<ReduceOp::Min>(x_dtype, x, y, kept, red, O, R, numel);
    case ReduceOp::Any:
    case ReduceOp::All:
      if (x_dtype != DType::Bool) throw std::invalid_argument("[reduce] op/dtype mismatch");
      if (op == ReduceOp::Any)
        reduce_typed<ReduceOp::Any, bool>(x, y, kept, red, O, R, numel);
      else
        reduce_typed<ReduceOp::All, bool>(x, y, kept, red, O, R, numel);
      return;
  }
}

void arg_reduce(bool is_max, DType x_dtype, const void* x, int64_t outer, int64_t n,
                int64_t inner, int64_t* y) {
  if (outer <= 0 || inner <= 0) return;
  if (n <= 0) throw std::invalid_argument("[arg_reduce] empty axis");
  auto go = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x);
    if (is_max)
      run_arg<true, T>(xp, outer, n, inner, y);
    else
      run_arg<false, T>(xp, outer, n, inner, y);
  };
  switch (x_dtype) {
    case DType::Float32: return go(static_cast<float*>(nullptr));
    case DType::Float64: return go(static_cast<double*>(nullptr));
    case DType::Int32: return go(static_cast<int32_t*>(nullptr));
    case DType::Int64: return go(static_cast<int64_t*>(nullptr));
    case DType::Bool: return go(static_cast<bool*>(nullptr));
    default: throw std::invalid_argument("[arg_reduce] unsupported dtype");
  }
}

void argmax_match_count(DType pred_dtype, const void* pred, DType label_dtype,
                        const void* labels, int64_t rows, int64_t n, bool sparse,
                        double* total) {
  if (rows <= 0) return;
  if (n <= 0) throw std::invalid_argument("[argmax_match_count] empty class axis");
  int64_t blocks = ceil_div<int64_t>(rows, kThreads / 32);
  if (blocks > 1024) blocks = 1024;  // grid-stride beyond: few atomics, every SM busy
  auto go = [&](auto* ptag, auto* ltag) {
    using T = std::remove_pointer_t<decltype(ptag)>;
    using L = std::remove_pointer_t<decltype(ltag)>;
    const T* pp = static_cast<const T*>(pred);
    const L* lp = static_cast<const L*>(labels);
    if (sparse)
      argmax_match_kernel<T, L, true><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
          pp, lp, rows, n, total);
    else
      argmax_match_kernel<T, L, false><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
          pp, lp, rows, n, total);
    NABI_CUDA_CHECK_LAUNCH("argmax_match_kernel");
  };
  auto with_labels = [&](auto* ptag) {
    using T = std::remove_pointer_t<decltype(ptag)>;
    if (!sparse) {  // one-hot rows of pred's dtype (checked by the binding)
      if (label_dtype != pred_dtype)
        throw std::invalid_argument("[argmax_match_count] label/prediction dtype mismatch");
      return go(ptag, static_cast<T*>(nullptr));
    }
    switch (label_dtype) {
      case DType::Float32: return go(ptag, static_cast<float*>(nullptr));
      case DType::Float64: return go(ptag, static_cast<double*>(nullptr));
      case DType::Int32: return go(ptag, static_cast<int32_t*>(nullptr));
      case DType::Int64: return go(ptag, static_cast<int64_t*>(nullptr));
      case DType::Bool: return go(ptag, static_cast<bool*>(nullptr));
      default: throw std::invalid_argument("[argmax_match_count] unsupported label dtype");
    }
  };
  switch (pred_dtype) {
    case DType::Float32: return with_labels(static_cast<float*>(nullptr));
    case DType::Float64: return with_labels(static_cast<double*>(nullptr));
    default: throw std::invalid_argument("[argmax_match_count] predictions must be float");
  }
}

}  // namespace nabi::cuda::nd
