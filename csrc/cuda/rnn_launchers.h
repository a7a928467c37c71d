// Host-side entry points of the CUDA recurrent layers (rnn.cu) and the fused dense layer
// (dense.cu): plain C++ declarations (no CUDA headers) for the g++-compiled bindings
// (csrc/bindings/bind_cuda_train.cpp). They exist only in builds with NABI_WITH_CUDA.
//
// Semantics, layouts and saved tensors are exactly those of the CPU kernels (csrc/cpu/lstm.h,
// csrc/cpu/dense.h), with device pointers (from DeviceBuffer, C-contiguous) in place of host
// ones. Every call enqueues its work on nabi::cuda::stream() and returns without
// synchronising; scratch memory comes from the caching allocator (DeviceBuffer) and is
// released at return (stream-ordered reuse is safe: all work runs on one stream).
// float and double are instantiated.
//
// Activation codes:
//   act / rec_act (recurrent layers): static_cast<int>(nabi::cpu::rnn::RnnAct)
//       (tanh, sigmoid, relu, linear, hard_sigmoid; csrc/cpu/rnn_common.h)
//   kind (dense): static_cast<int>(nabi::cpu::Act) (csrc/cpu/activations.h), or softmax.
//
// Layout reminder (Keras): x (B, T, D), kernel W (D, G*U), recurrent kernel R (U, G*U),
// states (B, U); outputs / cells / cact are indexed by the PROCESSED step s, gates / rh /
// gate gradients by the INPUT time t = go_backwards ? T-1-s : s.
#pragma once
#include <cstdint>

namespace nabi::cuda {

// ---- rnn.cu: LSTM (gates i, f, c, o) ------------------------------------------------------
// b (4U) may be null. out (B,T,U), hT, cT (B,U), gates (B,T,4U) are always written;
// cells / cact (B,T,U) are both null (inference: the cell state then lives in a scratch
// buffer) or both non-null.
template <typename T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* W, const T* R, const T* b,
                  int64_t B, int64_t Tn, int64_t D, int64_t U, int act, int rec_act,
                  bool go_backwards, T* out, T* hT, T* cT, T* gates, T* cells, T* cact);
// d_out (B,T,U) by step, d_hT / d_cT (B,U). dx (B,T,D) and db (4U) may be null; dh0, dc0
// (B,U), dW (D,4U), dR (U,4U) are always written.
template <typename T>
void lstm_backward(const T* d_out, const T* d_hT, const T* d_cT, const T* x, const T* h0,
                   const T* c0, const T* W, const T* R, const T* out, const T* gates,
                   const T* cells, const T* cact, int64_t B, int64_t Tn, int64_t D, int64_t U,
                   int act, int rec_act, bool go_backwards, T* dx, T* dh0, T* dc0, T* dW, T* dR,
                   T* db);

// ---- rnn.cu: GRU (gates z, r, h), Keras semantics ------------------------------------------
// reset_after: b is (2, 3U) (input row, recurrent row) or null; !reset_after: (3U) or null.
// out, hT, gates (B,T,3U: activated z, r, n by input time) and rh (B,T,U by input time:
// hr_h + b_rec_h when reset_after, r * h_{s-1} otherwise) are always written.
template <typename T>
void gru_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                 int64_t Tn, int64_t D, int64_t U, int act, int rec_act, bool go_backwards,
                 bool reset_after, T* out, T* hT, T* gates, T* rh);
// dx and db ((2, 3U) or (3U)) may be null; dh0, dW, dR always written.
template <typename T>
void gru_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W,
                  const T* R, const T* out, const T* gates, const T* rh, int64_t B, int64_t Tn,
                  int64_t D, int64_t U, int act, int rec_act, bool go_backwards,
                  bool reset_after, T* dx, T* dh0, T* dW, T* dR, T* db);

// ---- rnn.cu: SimpleRNN: h_s = act(x_t @ W + b + h_{s-1} @ R) --------------------------------
template <typename T>
void simple_rnn_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                        int64_t Tn, int64_t D, int64_t U, int act, bool go_backwards, T* out,
                        T* hT);
template <typename T>
void simple_rnn_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W,
                         const T* R, const T* out, int64_t B, int64_t Tn, int64_t D, int64_t U,
                         int act, bool go_backwards, T* dx, T* dh0, T* dW, T* dR, T* db);

// ---- dense.cu: fused dense layer (csrc/cpu/dense.h) ---------------------------------------
// x (M,K), w (K,N), b (N) or null, y (M,N); z (M,N) or null (then y holds z in place).
// softmax: row softmax of z (kind ignored), else activation `kind` with `alpha`.
template <typename T>
void dense_forward(const T* x, const T* w, const T* b, T* y, T* z, int64_t M, int64_t K,
                   int64_t N, bool softmax, int kind, T alpha);
// grad_y (M,N); act_in is y when the derivative comes from y (softmax, or
// cpu::act_backward_uses_y), else z; null for linear. dx (M,K), db (N) may be null; dw (K,N)
// always written.
template <typename T>
void dense_backward(const T* grad_y, const T* x, const T* w, const T* act_in, T* dx, T* dw,
                    T* db, int64_t M, int64_t K, int64_t N, bool softmax, int kind, T alpha);

}  // namespace nabi::cuda
