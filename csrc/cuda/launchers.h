// Host-side entry points of the CUDA kernels: plain C++ declarations (no CUDA headers), so the
// g++-compiled bindings (csrc/bindings/bind_cuda.cpp) can call them. Each is implemented in
// the csrc/cuda/<family>.cu file named below and exists only in builds with NABI_WITH_CUDA.
// All pointers are device pointers (from DeviceBuffer), C-contiguous; every call enqueues
// work on nabi::cuda::stream() and returns without synchronising (errors in the launch are
// thrown as CudaError naming the kernel). float and double are instantiated unless noted.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace nabi::cuda {

// ---- gemm.cu ------------------------------------------------------------------------------
// C[M,N] = alpha * op(A) @ op(B) + beta * C, row-major, as nabi::cpu::gemm (csrc/cpu/gemm.h):
// op(A) is A (M x K, row stride lda) or, with trans_a, A^T of a stored K x M; likewise B.
// beta == 0: C is not read.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
// `batch` such GEMMs in one launch: problem i reads A + i*stride_a, B + i*stride_b and writes
// C + i*stride_c (element strides; the problems' C ranges must not overlap).
template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb,
                  int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c, int64_t batch);
// y = act(x @ w + b), z = x @ w + b (stored when z is non-null): a Dense layer's forward in
// one launch (the GEMM's epilogue adds the bias and applies the activation). x [M, K],
// w [K, N], b [N] or null, y and z [M, N]; act is static_cast<int>(nabi::cpu::Act). y must
// not alias x, w or z.
template <typename T>
void gemm_bias_act(int64_t M, int64_t N, int64_t K, const T* x, const T* w, const T* b, T* z,
                   T* y, int act, T act_alpha);
// Opt-in TF32 tensor-core path for float GEMMs (WMMA m16n16k8); off by default.
void gemm_set_tf32(bool enabled);
bool gemm_tf32_enabled();

// ---- elementwise.cu -------------------------------------------------------------------------
// kind is static_cast<int>(nabi::cpu::Act) (csrc/cpu/activations.h): the same kinds and the
// same formulas as csrc/cpu/activations.cpp. y may alias x; dx may alias g. The backward
// reads y when cpu::act_backward_uses_y(kind, alpha), else x.
template <typename T>
void act_forward(int kind, const T* x, T* y, int64_t n, T alpha);
template <typename T>
void act_backward(int kind, const T* g, const T* x, const T* y, T* dx, int64_t n, T alpha);
// y[r, c] = x[r, c] + b[c];  db[c] = sum_r g[r, c] (accumulated in float64)
template <typename T>
void bias_add(const T* x, const T* b, T* y, int64_t rows, int64_t cols);
template <typename T>
void bias_grad(const T* g, T* db, int64_t rows, int64_t cols);
// dz = act_backward(g, x, y) (as act_backward; dz must not alias g) and db = column sums of dz, in
// one pass: a Dense layer's backward before its two GEMMs.
template <typename T>
void act_backward_bias_grad(int kind, const T* g, const T* x, const T* y, T* dz, T* db,
                            int64_t rows, int64_t cols, T alpha);

// ---- softmax.cu ---------------------------------------------------------------------------
// Over the last axis of a (rows, cols) buffer; formulas as csrc/cpu/softmax.h.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log);
template <typename T>
void softmax_backward(const T* g, const T* y, T* dx, int64_t rows, int64_t cols, bool log);

// ---- losses.cu ----------------------------------------------------------------------------
// As csrc/cpu/losses.h. sparse: labels int32 or int64; the rows with a label outside [0, cols)
// are NaN. check: returns false when there is such a label, which means reading a flag back
// (the host waits for the kernel); without check it returns true at once.
template <typename T>
void softmax_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                  int64_t cols);
template <typename T, typename L>
bool sparse_softmax_xent(const L* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                         int64_t cols, bool check);
template <typename T>
void sigmoid_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t n);

// ---- reduce.cu ----------------------------------------------------------------------------
// x viewed as (outer, n, inner); y (outer, inner) = op over the middle axis.
// Sum and Mean accumulate in float64; Max propagates NaN; n == 0 gives 0 / NaN / -inf.
enum class ReduceOp : int { Sum = 0, Mean = 1, Max = 2 };
template <typename T>
void reduce_axis(ReduceOp op, const T* x, T* y, int64_t outer, int64_t n, int64_t inner);

// ---- optimizers.cu ------------------------------------------------------------------------
// Fused multi-tensor updates, in place, Keras 3 rules as csrc/cpu/optimizers.h. Each tensor is
// a row of up to 5 pointers (slot order per optimizer below; an absent optional slot is
// null) and its element count; all tensors of one call share T and go in as few launches as
// possible (kMaxTensorsPerLaunch tensors per launch, blocks map to (tensor, chunk)).
constexpr int kOptSlots = 5;
constexpr int kMaxTensorsPerLaunch = 48;
using OptTensor = std::array<void*, kOptSlots>;
// slots: p, g, m (null: plain SGD)
template <typename T>
void sgd_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                      double lr, double momentum, bool nesterov);
// slots: p, g, m, v, vhat (null: no amsgrad). alpha = lr*sqrt(1-b2^t)/(1-b1^t); wd_lr =
// weight_decay*lr (AdamW, applied first) or 0.
template <typename T>
void adam_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                       double alpha, double beta1, double beta2, double epsilon, double wd_lr);
// slots: p, g, velocity, momentum (null unless momentum > 0), average_grad (null unless
// centered)
template <typename T>
void rmsprop_update_multi(const std::vector<OptTensor>& t, const std::vector<int64_t>& n,
                          double lr, double rho, double momentum, double epsilon);

// ---- dropout.cu ---------------------------------------------------------------------------
// Philox 4x32-10 (Salmon et al., SC'11; the Random123 constants), implemented here.
// Element i of a call uses counter (i/4 low, i/4 high, offset low, offset high), key (seed
// low, seed high), output word i%4; u = (word >> 8) * 2^-24 in [0, 1). dropout keeps an
// element when u >= rate and scales it by 1/(1-rate): y = keep ? x * scale : 0. The same
// (seed, offset) regenerates the same mask (dropout_backward uses it on the gradient).
void philox4x32_10_host(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
template <typename T>
void dropout(const T* x, T* y, int64_t n, double rate, uint64_t seed, uint64_t offset);
template <typename T>
void random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset);

}  // namespace nabi::cuda
