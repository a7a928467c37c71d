// Bit-level elementwise kernels (see bitwise_launchers.h): tf.bitwise's and / or / xor /
// left_shift / right_shift with NumPy broadcasting, invert, and signbit.
//
// Algorithm: one thread per output element in a grid-stride loop (blocks of 256 threads,
// grid_for's grid: several waves, capped), so every operation is one load (two for the binary
// ops), a few integer instructions and one store; consecutive threads touch consecutive
// elements, so the accesses coalesce.
//   binary ops: before the launch the host coalesces the broadcast layout (as elementwise_nd.cu
//     does): dimensions of extent 1 are dropped, and neighbouring dimensions merge when, for
//     both operands, the outer stride equals the inner stride times the inner extent. Operands
//     of one shape thus collapse to one dimension of stride 1 and take bit_linear_kernel (both
//     offsets are the output index); otherwise bit_strided_kernel decomposes each output index
//     into the coalesced N-d index (innermost first) and accumulates the two operands' offsets
//     from their element strides (0 where an operand broadcasts). The layout travels by value
//     in a POD struct (<= 8 dims), in the constant bank. The op is a runtime switch, uniform
//     across the grid.
//   shifts: TF's clamping, s = min(max(b, 0), bits - 1); left shifts go through the unsigned
//     type of the same width (no signed overflow: the bits wrap), right shifts are arithmetic.
//   bitwise_not: ~x. signbit: the top bit of the value's bit pattern (floats through
//     __float_as_int / __double_as_longlong, so -0.0 and negative NaNs count), x < 0 for ints.
// Launches: 1 per call (none for an empty output).
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "cuda/bitwise_launchers.h"
#include "cuda/common.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

struct BitLayout {  // innermost dimension first
  int ndim;
  int64_t shape[kBitMaxDims];
  int64_t sa[kBitMaxDims];
  int64_t sb[kBitMaxDims];
};

template <typename T>
__device__ __forceinline__ T bit_apply(BitOp op, T a, T b) {
  using U = std::make_unsigned_t<T>;
  constexpr T kTop = static_cast<T>(sizeof(T) * 8 - 1);
  switch (op) {
    case BitOp::And: return a & b;
    case BitOp::Or: return a | b;
    case BitOp::Xor: return a ^ b;
    case BitOp::LeftShift: {
      const T s = b < 0 ? T(0) : (b > kTop ? kTop : b);
      return static_cast<T>(static_cast<U>(a) << s);
    }
    default: {  // RightShift
      const T s = b < 0 ? T(0) : (b > kTop ? kTop : b);
      return static_cast<T>(a >> s);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bit_linear_kernel(BitOp op, const T* __restrict__ a, const T* __restrict__ b,
                      T* __restrict__ y, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step)
    y[i] = bit_apply(op, a[i], b[i]);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bit_strided_kernel(BitOp op, const T* __restrict__ a, const T* __restrict__ b,
                       T* __restrict__ y, int64_t n, BitLayout L) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    int64_t rest = i, oa = 0, ob = 0;
    for (int d = 0; d < L.ndim; ++d) {
      const int64_t c = rest % L.shape[d];
      rest /= L.shape[d];
      oa += c * L.sa[d];
      ob += c * L.sb[d];
    }
    y[i] = bit_apply(op, a[oa], b[ob]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bit_not_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step)
    y[i] = ~x[i];
}

__device__ __forceinline__ bool sign_of(float v) { return __float_as_int(v) < 0; }
__device__ __forceinline__ bool sign_of(double v) { return __double_as_longlong(v) < 0; }
__device__ __forceinline__ bool sign_of(int32_t v) { return v < 0; }
__device__ __forceinline__ bool sign_of(int64_t v) { return v < 0; }

template <typename T>
__global__ void __launch_bounds__(kThreads)
    signbit_kernel(const T* __restrict__ x, bool* __restrict__ y, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step)
    y[i] = sign_of(x[i]);
}

// Drops extent-1 dims and merges neighbours whose strides chain for both operands.
BitLayout coalesce(int ndim, const int64_t* shape, const int64_t* sa, const int64_t* sb) {
  if (ndim > kBitMaxDims) throw std::invalid_argument("[bitwise] more than 8 dimensions");
  BitLayout L{};
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (L.ndim > 0) {
      const int t = L.ndim - 1;
      if (sa[d] == L.sa[t] * L.shape[t] && sb[d] == L.sb[t] * L.shape[t]) {
        L.shape[t] *= shape[d];
        continue;
      }
    }
    L.shape[L.ndim] = shape[d];
    L.sa[L.ndim] = sa[d];
    L.sb[L.ndim] = sb[d];
    ++L.ndim;
  }
  return L;
}

template <typename T>
void launch_binary(BitOp op, const void* a, const void* b, void* y, int64_t n,
                   const BitLayout& L) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  T* py = static_cast<T*>(y);
  if (L.ndim <= 1 && (L.ndim == 0 || (L.sa[0] == 1 && L.sb[0] == 1))) {
    bit_linear_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(op, pa, pb, py, n);
    NABI_CUDA_CHECK_LAUNCH("bit_linear_kernel");
    return;
  }
  bit_strided_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(op, pa, pb, py, n, L);
  NABI_CUDA_CHECK_LAUNCH("bit_strided_kernel");
}

}  // namespace

void bitwise_binary(BitOp op, DType dtype, const void* a, const int64_t* a_strides,
                    const void* b, const int64_t* b_strides, int ndim, const int64_t* shape,
                    void* y) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const BitLayout L = coalesce(ndim, shape, a_strides, b_strides);
  if (dtype == DType::Int32) return launch_binary<int32_t>(op, a, b, y, n, L);
  if (dtype == DType::Int64) return launch_binary<int64_t>(op, a, b, y, n, L);
  throw std::invalid_argument("[bitwise] operands must be int32 or int64");
}

void bitwise_not(DType dtype, const void* x, int64_t n, void* y) {
  if (n == 0) return;
  if (dtype == DType::Int32) {
    bit_not_kernel<int32_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<const int32_t*>(x), static_cast<int32_t*>(y), n);
  } else if (dtype == DType::Int64) {
    bit_not_kernel<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<const int64_t*>(x), static_cast<int64_t*>(y), n);
  } else {
    throw std::invalid_argument("[bitwise_not] x must be int32 or int64");
  }
  NABI_CUDA_CHECK_LAUNCH("bit_not_kernel");
}

void signbit(DType dtype, const void* x, int64_t n, bool* y) {
  if (n == 0) return;
  auto go = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    signbit_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(x), y, n);
    NABI_CUDA_CHECK_LAUNCH("signbit_kernel");
  };
  switch (dtype) {
    case DType::Float32: return go(static_cast<float*>(nullptr));
    case DType::Float64: return go(static_cast<double*>(nullptr));
    case DType::Int32: return go(static_cast<int32_t*>(nullptr));
    case DType::Int64: return go(static_cast<int64_t*>(nullptr));
    default: throw std::invalid_argument("[signbit] x must be float32, float64, int32 or int64");
  }
}

}  // namespace nabi::cuda::nd
