// Host-side entry point of the signal kernel behind tf.signal.overlap_and_add on GPU tensors
// (overlap_add.cu). Plain C++ declarations for the g++-compiled binding
// (csrc/bindings/bind_cuda_signal.cpp); only in builds with NABI_WITH_CUDA. The conventions
// of array_launchers.h hold (the binding validates first; empty work launches nothing).
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// x (outer, frames, length) of dtype (float32/float64/int32/int64), step >= 1: y (outer, n)
// with n = (frames - 1) * step + length (frames >= 1) holds y[o, t] = the sum over the frames
// f with f * step <= t < f * step + length of x[o, f, t - f * step], added in ascending f.
void overlap_add(DType dtype, const void* x, int64_t outer, int64_t frames, int64_t length,
                 int64_t step, int64_t n, void* y);

}  // namespace nabi::cuda::nd
