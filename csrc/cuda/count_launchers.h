// Host-side entry points of the counting and searching kernels behind tf.math.bincount and
// tf.searchsorted on GPU tensors: bincount.cu and searchsorted.cu. Plain C++ declarations
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

}  // namespace nabi::cuda::nd
