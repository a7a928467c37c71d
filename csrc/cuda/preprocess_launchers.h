// Host-side entry points of the Keras preprocessing kernels behind Hashing, HashedCrossing and
// IntegerLookup on GPU integer inputs: preprocess_lookup.cu. Plain C++ declarations (no CUDA
// headers) so the g++-compiled binding (csrc/bindings/bind_cuda_preprocess.cpp) can call them;
// only in builds with NABI_WITH_CUDA. The conventions of array_launchers.h hold: device
// pointers into C-contiguous buffers, the binding validates every argument first, empty work
// launches nothing, everything is enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// ---- preprocess_lookup.cu -------------------------------------------------------------------
// Keras Hashing of integers: each x[i] (int32/int64) hashes as its decimal string s (ASCII,
// "-" for negatives, as NumPy's astype(str)):
//   h = keyed ? SipHash-2-4(s, k0, k1) : FarmHash Fingerprint64(s)        (uint64)
//   out[i] = (has_mask && x[i] == mask) ? 0 : int64(h % bins) + offset     (int64)
// bins >= 1 (checked by the binding).
void hash_ints(DType x_dtype, const void* x, int64_t n, int64_t bins, bool keyed, uint64_t k0,
               uint64_t k1, bool has_mask, int64_t mask, int64_t offset, int64_t* out);

// Keras HashedCrossing of integer features (tf.sparse.cross_hashed): xs (k, n) int64, one row
// per feature; h = 0xDECAFCAFFE, then h = FingerprintCat64(h, uint64(xs[f, i])) for f = 0..k-1;
// out[i] = int64(h % bins) (bins >= 1).
void cross_hash(const int64_t* xs, int64_t k, int64_t n, int64_t bins, int64_t* out);

// IntegerLookup: keys (m) int64 ascending and distinct, idx (m) int64 the vocabulary index of
// each key; x (n) int32/int64. out[i] = idx[j] where keys[j] == x[i], else -1.
void vocab_lookup(const int64_t* keys, const int64_t* idx, int64_t m, DType x_dtype,
                  const void* x, int64_t n, int64_t* out);

}  // namespace nabi::cuda::nd
