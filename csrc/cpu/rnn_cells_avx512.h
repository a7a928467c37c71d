// Fused GRU and SimpleRNN cell rows for the default activations, float32, compiled for
// AVX-512 (rnn_cells_avx512.cpp); called only when rnn::simd_level() == 2.
// GRU: reset_after = True, sigmoid gates, tanh candidate (the Keras / TF2 default); layout as
// gru.cpp: a row of gates [z, r, n] (3U).
#pragma once
#include <cstdint>

namespace nabi::cpu::rnn::avx512 {

// g: the input projection's row (pre-activations; overwritten with z, r, n), hr = h_{s-1} @ R
// (3U, without bias), b_in / b_rec (3U each) or null, hp = h_{s-1}; writes rhs = hr_n + b_rec_n
// (saved for BPTT) and h.
void gru_cell_forward(int64_t U, float* g, const float* hr, const float* b_in,
                      const float* b_rec, const float* hp, float* rhs, float* h);

// dh: the carried hidden gradient, replaced by its direct part d * z (the caller adds
// dq @ R^T); dy the output's; g the activated gates, hp = h_{s-1}, rhs as saved.
// Writes dgx = [dz, dr, dn] (input side) and dq = [dz, dr, dn * r] (recurrent side);
// sx (3U) / sq (U) or null: dgx and dq's n part are added to them (bias-gradient sums).
void gru_cell_backward(int64_t U, float* dh, const float* dy, const float* g, const float* hp,
                       const float* rhs, float* dgx, float* dq, float* sx, float* sq);

// SimpleRNN (tanh) backward of one row: dg = (dh + dy) * (1 - h^2); sum (U) or null: dg is
// added to it (the bias-gradient sum).
void simple_rnn_tanh_backward(int64_t U, const float* dh, const float* dy, const float* h,
                              float* dg, float* sum);

}  // namespace nabi::cpu::rnn::avx512
