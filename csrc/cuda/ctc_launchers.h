// Host-side entry points of the CTC kernels behind tf.nn.ctc_loss and the greedy CTC decoders
// on GPU tensors (ctc.cu). Plain C++ declarations (no CUDA headers) so the g++-compiled binding
// (csrc/bindings/bind_cuda_ctc.cpp) can call them; only in builds with NABI_WITH_CUDA. The
// conventions of array_launchers.h hold: device pointers into C-contiguous buffers, the binding
// validates every shape / dtype / size first, empty work launches nothing, everything is
// enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// ---- ctc.cu: ctc_loss -----------------------------------------------------------------------
// logits (T, B, C) when time_major else (B, T, C), float32/float64 (dtype); labels (B, lmax)
// int32/int64 (labels_i64), label_length / logit_length (B,) int32/int64 (*_i64); blank in
// [0, C). Writes loss (B,) of dtype: -log p(labels[b, :label_length[b]] | the first
// logit_length[b] frames of b), +inf for an impossible alignment (and 0 for an empty label
// sequence over 0 frames). grad (logits' shape and layout, dtype; nullptr: not computed):
// d loss[b] / d logits = softmax - occupancy on the first logit_length[b] frames, 0 after them
// and 0 everywhere for an infinite loss. A sequence whose lengths are out of range
// (label_length not in [0, lmax], logit_length not in [0, T]) or whose labels are not in
// [0, C) or equal the blank gets a NaN loss and a NaN gradient (the values are on the device;
// the Python layer checks host-side lengths and labels first, with the CPU's errors).
// status (B,) int32 (nullptr: not written): 0 for a good sequence, 1 for a length out of range,
// 2 for a label out of range or equal to the blank (the caller reads its maximum once).
// Workspaces (float64, from the caller): lp (B*T*C), alpha (B*T*S), beta (B*T*S, only used with
// grad), S = 2*lmax + 1.
void ctc_loss(DType dtype, const void* logits, bool time_major, int64_t T, int64_t B, int64_t C,
              const void* labels, bool labels_i64, int64_t lmax, const void* label_length,
              bool label_length_i64, const void* logit_length, bool logit_length_i64,
              int64_t blank, void* loss, void* grad, double* lp, double* alpha, double* beta,
              int32_t* status = nullptr);

// ---- ctc.cu: ctc_greedy -----------------------------------------------------------------------
// Best-path decoding. x (T, B, C) when time_major else (B, T, C), float32/float64 (dtype);
// seq_len (B,) int32/int64 (seq_len_i64), entries clamped to [0, T]. For each b: k_t the argmax
// class of frame t < seq_len[b] (the first of equal maxima, NaN wins), then kept when
// k_t != blank and not (merge_repeated and k_t == k_{t-1}). Writes
//   decoded (B, T) int64: the kept classes of b first, then -1s,
//   count (B,) int64: how many were kept,
//   score (B,) of dtype: -(sum over t < seq_len[b] of the frame's maximum logit).
void ctc_greedy(DType dtype, const void* x, bool time_major, int64_t T, int64_t B, int64_t C,
                const void* seq_len, bool seq_len_i64, int64_t blank, bool merge_repeated,
                int64_t* decoded, int64_t* count, void* score);

// ---- ctc.cu: ctc_pack -------------------------------------------------------------------------
// The values of ctc_greedy's SparseTensor: decoded (B, T) int64 as ctc_greedy leaves it, offsets
// (B + 1,) int64 the running sums of its counts (offsets[0] = 0; the caller read the counts).
// values[offsets[b] + j] = decoded[b, j] for j < offsets[b + 1] - offsets[b].
void ctc_pack(const int64_t* decoded, int64_t T, int64_t B, const int64_t* offsets,
              int64_t* values);

}  // namespace nabi::cuda::nd
