// Fused recurrent layers over a whole sequence, float32/float64, Keras weight layout,
// row-major contiguous buffers (layout and threading: rnn_common.h).
//
// LSTM (gates i, f, c, o):
//   forward:  gates = x (B*T, D) @ W (D, 4U) in one GEMM; then per step s (input time
//             t = go_backwards ? T-1-s : s): gates[:, t] += h_{s-1} @ R (one GEMM),
//             i, f, o = rec(. + b), g = act(. + b), c_s = f*c_{s-1} + i*g, h_s = o*act(c_s).
//   saved:    gates (B, T, 4U) activated (by input time), cells c_s and act(c_s) (B, T, U, by
//             step; may be null for inference), outputs h_s (B, T, U, by step).
//   backward: per step the pointwise gate gradients into dgates (B, T, 4U) and one GEMM
//             dh_{s-1} = dgates[:, t] @ R^T; then dW = X^T @ dgates, dR = Hprev^T @ dgates,
//             db = column sums, dx = dgates @ W^T (all timesteps at once).
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/rnn_common.h"

namespace nabi::cpu {

struct RnnOpts {
  rnn::RnnAct act = rnn::RnnAct::Tanh;
  rnn::RnnAct rec_act = rnn::RnnAct::Sigmoid;
  bool go_backwards = false;
  bool reset_after = true;  // GRU only
};

// x (B,T,D), h0/c0 (B,U), W (D,4U), R (U,4U), b (4U) or null.
// out (B,T,U), hT/cT (B,U), gates (B,T,4U) always; cells/cact (B,T,U) or both null.
template <typename T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* W, const T* R, const T* b,
                  int64_t B, int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT,
                  T* cT, T* gates, T* cells, T* cact);

// d_out (B,T,U) (by step), d_hT/d_cT (B,U); saved buffers from lstm_forward.
// dx (B,T,D) and db (4U) may be null; dh0, dc0, dW, dR always written.
template <typename T>
void lstm_backward(const T* d_out, const T* d_hT, const T* d_cT, const T* x, const T* h0,
                   const T* c0, const T* W, const T* R, const T* out, const T* gates,
                   const T* cells, const T* cact, int64_t B, int64_t Tn, int64_t D, int64_t U,
                   const RnnOpts& o, T* dx, T* dh0, T* dc0, T* dW, T* dR, T* db);

// GRU (gates z, r, h), Keras semantics.
//   reset_after:  b is (2, 3U) (input bias row, recurrent bias row) or null;
//                 hr = h_{s-1} @ R + b_rec, z/r = rec(xw + b_in + hr), n = act(xw_h + b_in_h + r*hr_h)
//   !reset_after: b is (3U) or null; z/r = rec(xw + b + h@R_zr), n = act(xw_h + b_h + (r*h)@R_h)
//   h_s = z*h_{s-1} + (1-z)*n.
//   saved: gates (B,T,3U) activated z, r, n (by input time); rh (B,T,U) (by input time):
//          hr_h (reset_after) or r*h_{s-1} (!reset_after).
template <typename T>
void gru_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                 int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT, T* gates,
                 T* rh);
template <typename T>
void gru_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W, const T* R,
                  const T* out, const T* gates, const T* rh, int64_t B, int64_t Tn, int64_t D,
                  int64_t U, const RnnOpts& o, T* dx, T* dh0, T* dW, T* dR, T* db);

// SimpleRNN: h_s = act(x_t @ W + b + h_{s-1} @ R). Saved: outputs only.
template <typename T>
void simple_rnn_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                        int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT);
template <typename T>
void simple_rnn_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W,
                         const T* R, const T* out, int64_t B, int64_t Tn, int64_t D, int64_t U,
                         const RnnOpts& o, T* dx, T* dh0, T* dW, T* dR, T* db);

namespace rnn {
// Shared by the three kernels (lstm.cpp).
// G = X (B*T, D) @ W (D, N), or zeros when D == 0.
template <typename T>
void input_projection(const T* x, const T* W, T* G, int64_t BT, int64_t D, int64_t N);
// Weight gradients at the end of BPTT: dW = X^T @ dG (if dW), db = colsum(dG) (if db),
// dx = dG @ W^T (if dx); dG is (B*T, N) with row stride ldg (>= N).
template <typename T>
void input_grads(const T* x, const T* W, const T* dG, int64_t ldg, int64_t BT, int64_t D,
                 int64_t N, T* dW, T* db, T* dx);
// One recurrent step's C (M, N) = A (M, K) @ B (K, N) + beta * C, all row-major with
// leading dimensions. Small M (batch 1..4: stateful models) runs as row AXPYs with no
// packing; larger M calls gemm (single-threaded inside the batch-block threads).
template <typename T>
void step_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
               T beta, T* C, int64_t ldc);
// The right operand of every step of one sequence (R or a block of it): packed once for the
// AVX2 float kernel, else used as is through step_gemm.
template <typename T>
struct StepB {
  const T* B = nullptr;
  int64_t ldb = 0, K = 0, N = 0;
  std::vector<float> packed;
  int level = 0;  // simd_level() when packed: 2 = the avx512::pack layout, else pack_b16's
  // rows: the batch size; for batches of 1..4 the unpacked row-AXPY path is cheaper than
  // packing R (stateful batch-1 training).
  StepB(const T* b, int64_t ld, int64_t k, int64_t n, int64_t rows = 16)
      : B(b), ldb(ld), K(k), N(n) {
    if constexpr (std::is_same_v<T, float>) {
      if (rows > 4 && packed_step_available() && K > 0 && N > 0) {
        packed.resize(static_cast<size_t>(packed_size(K, N)));
        level = simd_level();
        if (level == 2)
          avx512::pack(B, ldb, K, N, packed.data());
        else
          pack_b16(B, ldb, K, N, packed.data());
      }
    }
  }
  void run(int64_t M, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const {
    if constexpr (std::is_same_v<T, float>) {
      if (!packed.empty()) {
        if (level == 2)
          avx512::packed_step(M, N, K, A, lda, packed.data(), beta, C, ldc);
        else
          packed_step_gemm(M, N, K, A, lda, packed.data(), beta, C, ldc);
        return;
      }
    }
    step_gemm(M, N, K, A, lda, B, ldb, beta, C, ldc);
  }
};

// C[M, N] (ldc) = A[M, K] (lda) @ Bt^T where Bt is (N, K) row-major (ldb): dot products,
// for small M (no transpose of Bt needed).
template <typename T>
void step_gemm_nt_small(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* Bt,
                        int64_t ldb, T* C, int64_t ldc);
// out (cols, rows) = in (rows, cols)^T.
template <typename T>
void transpose(const T* in, int64_t rows, int64_t cols, T* out);
// Hprev (B,T,U) by input time: row (b,t) = h0[b] at step 0 else out[b, s-1]; rows of
// batch entries [b0, b1) only.
template <typename T>
void build_hprev(const T* h0, const T* out, int64_t B, int64_t Tn, int64_t U, bool go_backwards,
                 T* hprev, int64_t b0 = 0, int64_t b1 = -1);

}  // namespace rnn

}  // namespace nabi::cpu
