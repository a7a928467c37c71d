// Shared pieces of the fused recurrent kernels (lstm.cpp, gru.cpp, simple_rnn.cpp):
//   * a small activation enum for the cell activations (tanh, sigmoid, relu, linear,
//     hard_sigmoid) whose derivatives are all computed from the activation's output y;
//   * in-place row activations (float32 tanh / sigmoid: the pointwise activations' SIMD
//     kernels, activations_simd.h, at simd_level(); float64 and other CPUs: std::exp / std::tanh);
//   * layout helpers. Every kernel keeps the Keras batch-major layout: x (B, T, D), outputs
//     (B, T, U); per-step gate buffers are (B, T, G*U) indexed by the INPUT time step (so the
//     all-timestep GEMMs X^T @ dGates line up with x), the per-step states (outputs, cells)
//     by the PROCESSED step s (with go_backwards, step s reads input time T-1-s).
// Threads: a sample's recurrence never reads another sample, so forward and BPTT hand out
// chunks of batch rows dynamically in one parallel region (rnn_batch.h) and a chunk runs all
// T steps without a barrier (the per-step GEMMs run single-threaded on the chunk), with its
// input projection before and its share of the weight gradients after, into per-thread parts.
#pragma once
#include <cstdint>
#include <string>

namespace nabi::cpu::rnn {

enum class RnnAct : int { Tanh = 0, Sigmoid = 1, Relu = 2, Linear = 3, HardSigmoid = 4 };

// Parses "tanh", "sigmoid", "relu", "linear" (or "" / "None"), "hard_sigmoid".
bool parse_rnn_act(const std::string& name, RnnAct* out);
const char* rnn_act_name(RnnAct a);

// x[i] = f(x[i]) for i < n.
void act_inplace(RnnAct k, float* x, int64_t n);
void act_inplace(RnnAct k, double* x, int64_t n);

// g[i] *= f'(.) evaluated from the activation's output y[i].
template <typename T>
inline void act_grad_mul(RnnAct k, const T* y, T* g, int64_t n) {
  switch (k) {
    case RnnAct::Tanh:
      for (int64_t i = 0; i < n; ++i) g[i] *= T(1) - y[i] * y[i];
      break;
    case RnnAct::Sigmoid:
      for (int64_t i = 0; i < n; ++i) g[i] *= y[i] * (T(1) - y[i]);
      break;
    case RnnAct::Relu:
      for (int64_t i = 0; i < n; ++i) g[i] = y[i] > T(0) ? g[i] : T(0);
      break;
    case RnnAct::Linear:
      break;
    case RnnAct::HardSigmoid:  // clip(x / 6 + 1/2, 0, 1) (Keras 3), slope 1/6 inside
      for (int64_t i = 0; i < n; ++i)
        g[i] = (y[i] > T(0) && y[i] < T(1)) ? g[i] * T(1.0 / 6.0) : T(0);
      break;
  }
}

// Recurrent-step GEMM on a pre-packed right operand (float32, AVX2+FMA CPUs):
//   C[M, N] (ldc) = A[M, K] (lda) @ B + beta * C, beta in {0, 1},
// where B (K, N) was packed once per sequence into 16-column panels (zero-padded), so the
// per-step GEMMs neither repack R nor enter OpenMP. Rows go 6 at a time (12 accumulators).
bool packed_step_available();
// Panels: ceil(N / 16) blocks of K x 16 floats. `packed` must hold packed_size(K, N) floats.
inline int64_t packed_size(int64_t K, int64_t N) { return ((N + 15) / 16) * 16 * K; }
void pack_b16(const float* B, int64_t ldb, int64_t K, int64_t N, float* packed);
void packed_step_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                      const float* packed, float beta, float* C, int64_t ldc);

// SIMD level of the float32 recurrent kernels: 2 = AVX-512 (rnn_kernels_avx512.cpp), 1 =
// AVX2+FMA, 0 = portable. The CPU's best, capped by the GEMM dispatcher's choice
// (NABI_GEMM_ISA / gemm_set_isa), so tests and benchmarks can force the lower paths.
int simd_level();

// Fused LSTM cell rows for the default activations (sigmoid gates, tanh cell), float32
// AVX-512 (simd_level() == 2 only). g: one row of gates (i, f, c, o pre-activations without
// the bias; overwritten with the activations), b: bias (4U) or null, cp: c_{s-1};
// writes c, a = tanh(c), h = o * a.
namespace avx512 {
// Its own packing (packed_size(K, N) floats): groups of 4 panels interleaved by k.
void pack(const float* B, int64_t ldb, int64_t K, int64_t N, float* packed);
void packed_step(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* packed, float beta, float* C, int64_t ldc);
void sigmoid(float* x, int64_t n);  // in place, simd_math.h's polynomials
void tanh(float* x, int64_t n);
void lstm_cell_forward(int64_t U, float* g, const float* b, const float* cp, float* c, float* a,
                       float* h);
// Backward of one row: dg (4U) = the gate gradients, dc updated in place to dc_{s-1};
// dh is the carried hidden gradient, dy the output's, g the activated gates, a = tanh(c_s);
// dbsum (4U) or null: dg is also added to it (the bias gradient's running sum).
void lstm_cell_backward(int64_t U, const float* dh, const float* dy, float* dc, const float* g,
                        const float* a, const float* cp, float* dg, float* dbsum);
}  // namespace avx512

// Returns a kernel-friendly per-element cost estimate (flops) of one recurrent step row.
inline int64_t step_cost(int64_t U, int64_t G) { return 2 * U * G * U + 30 * G * U; }

}  // namespace nabi::cpu::rnn
