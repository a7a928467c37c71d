// Host-side entry points of the counting and searching kernels behind tf.math.bincount,
// tf.searchsorted, tf.unique / unique_with_counts and the segment max/min on GPU tensors:
// bincount.cu, searchsorted.cu, unique.cu and segment_reduce.cu. Plain C++ declarations
// (no CUDA headers) so the g++-compiled binding (csrc/bindings/bind_cuda_count.cpp) can call
// them; only in builds with NABI_WITH_CUDA. The conventions of array_launchers.h hold: device
// pointers into C-contiguous buffers, the binding validates every argument first, empty work
// launches nothing, everything is enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// ---- bincount.cu ----------------------------------------------------------------------------
// x (int32/int64) viewed as (rows, n); y (rows, length) of out_dtype (float32/float64/int32/
// int64), zero-filled here, then for every x[r, j] in [0, length):
//   binary:          y[r, x[r, j]] = 1
//   weights (w):     y[r, x[r, j]] += w[r, j]   (w of out_dtype, x's shape)
//   no weights:      y[r, x[r, j]] += 1
// Values outside [0, length) are skipped (the caller raises on negatives and sizes length).
// Float sums are atomicAdd: their last bits depend on the order of the adds.
void bincount(DType x_dtype, const void* x, int64_t rows, int64_t n, int64_t length,
              const void* w, bool binary, DType out_dtype, void* y);

// ---- searchsorted.cu ------------------------------------------------------------------------
// s (rows, n) sorted ascending along its last axis, v (rows, m), both of dtype (float32/
// float64/int32/int64); out (rows, m) of out_dtype (int32/int64): out[r, j] = the number of
// s[r, :] < v[r, j] (left) or <= v[r, j] (right), NumPy's order (NaN above every number).
void searchsorted(DType dtype, const void* s, int64_t rows, int64_t n, const void* v,
                  int64_t m, bool right, DType out_dtype, void* out);

// ---- unique.cu ------------------------------------------------------------------------------
// x (n,) of dtype (float32/float64/int32/int64), 1 <= n <= INT32_MAX (n == 0 returns 0 and
// touches nothing): returns K, the number of distinct values (-0.0 equals +0.0; every NaN is
// distinct), and writes y[:K] (x's dtype) = the distinct values in order of first
// occurrence, idx[:n] (idx_dtype int32/int64) = each element's index into y, and, unless
// counts is null, counts[:K] (idx_dtype) = how often each occurs. y and counts must hold n
// elements (K is known only here). Synchronises once (reads K back).
int64_t unique(DType dtype, const void* x, int64_t n, void* y, DType idx_dtype, void* idx,
               void* counts);

// ---- segment_reduce.cu ----------------------------------------------------------------------
// x (rows, inner) of dtype (float32/float64/int32/int64), ids (rows,) int32/int64: y (num,
// inner) of x's dtype = the max (is_max) or min over the rows r with ids[r] == s of x[r, :]
// (rows with an id outside [0, num) dropped; NaN wins, as np.maximum / np.minimum); an empty
// segment holds TF's value: the lowest / highest finite float, the lowest / highest integer.
void segment_minmax(DType dtype, bool is_max, const void* x, int64_t rows, int64_t inner,
                    DType id_dtype, const void* ids, int64_t num, void* y);

}  // namespace nabi::cuda::nd
