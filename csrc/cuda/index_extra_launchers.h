// Host-side entry points of index_extra.cu: the kernels behind tf.math.segment_prod /
// unsorted_segment_prod, tf.math.cumulative_logsumexp and tf.truncatediv / truncatemod /
// tf.math.nextafter on GPU tensors. Plain C++ declarations (no CUDA headers) so the
// g++-compiled binding (csrc/bindings/bind_cuda_index_extra.cpp) can call them; only in
// builds with NABI_WITH_CUDA. The conventions of array_launchers.h hold: device pointers into
// C-contiguous buffers, the binding validates every argument first, empty work launches
// nothing, everything is enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// ---- segment_prod ---------------------------------------------------------------------------
// x (rows, inner) of dtype (float32/float64/int32/int64), ids (rows) int32/int64: y (num,
// inner) = 1, then y[ids[r], i] *= x[r, i] for every row r with 0 <= ids[r] < num (others are
// dropped). Integers wrap; float products are folded in arrival order (last bits may differ
// from a sequential product).
void segment_prod(DType dtype, const void* x, int64_t rows, int64_t inner, DType id_dtype,
                  const void* ids, int64_t num, void* y);

// ---- logcumsumexp ---------------------------------------------------------------------------
// x, y (outer, n, inner) float32/float64: y[o, j, i] = log(sum of exp(x[o, k, i])) over
// k <= j (k >= j with reverse; strictly, and -inf for none, with exclusive), accumulated in
// float64 with NumPy's logaddexp (equal values: x + log 2; NaN propagates).
void logcumsumexp(DType dtype, const void* x, int64_t outer, int64_t n, int64_t inner,
                  bool exclusive, bool reverse, void* y);

// ---- binary_extra ---------------------------------------------------------------------------
// a, b, y (n) of one dtype:
//   TruncDiv: a / b rounded toward zero (floats: trunc(a / b); ints: C division, x / 0 == 0,
//             MIN / -1 == MIN (wraps)), TruncMod: the remainder with a's sign (floats:
//             fmod; ints: C's %, x % 0 == 0, x % -1 == 0), NextAfter: the next representable float after a
//             toward b (floats only; NaN if either is NaN).
enum class ExtraBinaryOp : int { TruncDiv = 0, TruncMod = 1, NextAfter = 2 };
void binary_extra(ExtraBinaryOp op, DType dtype, const void* a, const void* b, void* y,
                  int64_t n);

}  // namespace nabi::cuda::nd
