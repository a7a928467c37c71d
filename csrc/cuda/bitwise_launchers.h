// Host-side entry points of the bit-level elementwise kernels behind tf.bitwise.* and
// keras.ops.bitwise_* / keras.ops.signbit on GPU tensors: bitwise.cu. Plain C++ declarations
// (no CUDA headers) so the g++-compiled binding (csrc/bindings/bind_cuda_bitwise.cpp) can call
// them; only in builds with NABI_WITH_CUDA. The conventions of array_launchers.h hold: device
// pointers into C-contiguous buffers, the binding validates every argument first (dtypes,
// broadcastable shapes, at most kBitMaxDims dims), empty work launches nothing, everything is
// enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

constexpr int kBitMaxDims = 8;

// ---- bitwise_binary -------------------------------------------------------------------------
// y = a (op) b elementwise over the broadcast shape `shape` (ndim dims, outer to inner), a and
// b of one dtype, int32 or int64, read through element strides a_strides / b_strides (0 on a
// dimension the operand broadcasts along). y is C-contiguous over `shape`, of the same dtype.
//   And, Or, Xor: a & b, a | b, a ^ b.
//   LeftShift:  the bits of a shifted left by s = clamp(b, 0, bits - 1) (TF's clamping: a
//               negative shift leaves a unchanged, a shift >= bits acts as bits - 1), as an
//               unsigned word: bits shifted out are lost, the result wraps in two's complement.
//   RightShift: a >> s with the same clamped s, arithmetic (sign-extending) for these signed
//               types.
enum class BitOp : int { And = 0, Or = 1, Xor = 2, LeftShift = 3, RightShift = 4 };

void bitwise_binary(BitOp op, DType dtype, const void* a, const int64_t* a_strides,
                    const void* b, const int64_t* b_strides, int ndim, const int64_t* shape,
                    void* y);

// ---- bitwise_not ----------------------------------------------------------------------------
// y = ~x over n elements of x (int32/int64), y of x's dtype.
void bitwise_not(DType dtype, const void* x, int64_t n, void* y);

// ---- signbit --------------------------------------------------------------------------------
// y (bool) = the sign bit of x over n elements: x float32/float64 (set for -0.0 and for NaNs
// with the sign bit set, as np.signbit), or int32/int64 (x < 0).
void signbit(DType dtype, const void* x, int64_t n, bool* y);

}  // namespace nabi::cuda::nd
