// Fused recurrent layers on the GPU: LSTM, GRU (both Keras variants) and SimpleRNN, forward
// and backpropagation through time (see rnn_launchers.h). Semantics, gate order, saved
// tensors and layouts are those of the CPU kernels (csrc/cpu/lstm.h, lstm.cpp, gru.cpp,
// simple_rnn.cpp), which the tests compare against.
//
// Algorithm (host loop over time, all work on nabi::cuda::stream()):
//   forward   1. input projection of every timestep in ONE GEMM: x viewed as (B*T, D) @ W
//               (D, G*U) -> (B*T, G*U) (gates / pre-activation buffer, by input time);
//             2. per processed step s (input time t = go_backwards ? T-1-s : s): one GEMM
//               h_{s-1} (B, U) @ R (U, G*U) accumulated into (or written beside) the step's
//               gate rows (row stride T*G*U: the rows of one timestep are B rows of the
//               (B, T, G*U) buffer), then ONE fused pointwise kernel over the B*U (batch,
//               unit) pairs that adds the bias, applies the activations, updates the state
//               and writes h_s, the saved tensors and, at the last step, h_T / c_T.
//               With U <= 256 (the notebooks' sizes) the GEMM and the cell are ONE launch
//               per step for the LSTM, the reset_after GRU and SimpleRNN (the *_fused_*
//               kernels: a small shared-memory GEMM, step_gemm, whose block owns all the gate
//               columns of its units), and likewise backward (step_gemm_t computes the carried
//               dh_s from the later step's gate gradients inside the step's kernel; dh0 is one
//               GEMM after the loop). GRU without reset_after needs r*h of every unit before
//               its candidate GEMM, so its fused step is two launches each way: z/r (with
//               h @ R_zr) then n/h (with (r*h) @ R_h); backward dz/dn (with the carried
//               [dz, dr] @ R_zr^T) then dr (with dn @ R_h^T). Wider layers run the tiled GEMMs
//               and the pointwise kernels as separate launches.
//   backward  per step in reverse: ONE fused pointwise kernel for the gate gradients of the
//             step (into dgates (B, T, G*U), by input time; dc carried in place), then the
//             GEMM dh_{s-1} = dgates_t @ R^T (GRU: also the reset-gate pieces). After the
//             loop, all-timestep GEMMs: dR = Hprev^T @ dgates with Hprev (B*T, U) the
//             previous hidden state of every row (built by a gather kernel from h0 and the
//             outputs), dW = X^T @ dgates, dx = dgates @ W^T (when wanted), and db = column
//             sums of dgates (cuda::bias_grad: float64 accumulation).
// Blocking: the GEMMs are nabi::cuda::gemm (register-blocked shared-memory tiles); the
// pointwise kernels are grid-stride loops, one thread per (batch, unit) element, 256 threads
// per block, index j (unit) fastest so that the loads of each gate slice are coalesced.
// A thread reads and writes only its own (b, j) element of every state buffer, so in-place
// state updates (the inference LSTM keeps c in c_T) need no synchronisation.
// Activation derivatives are computed from the activation outputs, as on the CPU:
// tanh 1-y^2, sigmoid y(1-y), relu [y>0], linear 1, hard_sigmoid [0<y<1]/6.
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/rnn_common.h"
#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/launchers.h"
#include "cuda/rnn_launchers.h"

namespace nabi::cuda {

namespace {

using cpu::rnn::RnnAct;
constexpr int kThreads = 256;

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::Float64;
};

// Scratch device memory from the caching allocator, released (stream-ordered) at scope exit.
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) : buf_(std::vector<int64_t>{n > 0 ? n : 0}, DTypeOf<T>::value) {}
  T* get() const { return buf_.ptr<T>(); }

 private:
  DeviceBuffer buf_;
};

// ---- activations (codes of cpu::rnn::RnnAct; formulas of csrc/cpu/rnn_common.cpp) ----
template <typename T>
__device__ __forceinline__ T rnn_act(int k, T v) {
  switch (static_cast<RnnAct>(k)) {
    case RnnAct::Tanh:
      return tanh(v);
    case RnnAct::Sigmoid:
      if (v >= T(0)) return T(1) / (T(1) + exp(-v));
      {
        const T e = exp(v);
        return e / (T(1) + e);
      }
    case RnnAct::Relu:
      return v < T(0) ? T(0) : v;  // NaN stays NaN
    case RnnAct::Linear:
      return v;
    case RnnAct::HardSigmoid: {
      const T r = v * T(1.0 / 6.0) + T(0.5);
      return r < T(0) ? T(0) : (r > T(1) ? T(1) : r);
    }
  }
  return v;
}

// g * f'(.) with f' evaluated from the activation's output y (cpu::rnn::act_grad_mul).
template <typename T>
__device__ __forceinline__ T rnn_act_grad(int k, T y, T g) {
  switch (static_cast<RnnAct>(k)) {
    case RnnAct::Tanh:
      return g * (T(1) - y * y);
    case RnnAct::Sigmoid:
      return g * (y * (T(1) - y));
    case RnnAct::Relu:
      return y > T(0) ? g : T(0);
    case RnnAct::Linear:
      return g;
    case RnnAct::HardSigmoid:
      return (y > T(0) && y < T(1)) ? g * T(1.0 / 6.0) : T(0);
  }
  return g;
}

#define NABI_RNN_LOOP(n)                                                                   \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// =========================================================================== LSTM kernels
// The LSTM cell of one (b, j) at one step, from the four pre-activations (xW + hR, no bias):
// writes the activated gates back over the pre-activations (row gr), c_s, act(c_s), h_s.
template <typename T>
__device__ __forceinline__ void lstm_fwd_cell(int64_t b, int64_t j, int64_t U, T pi, T pf, T pc,
                                              T po, T* gr, const T* bias, const T* cprev,
                                              int64_t ldcp, T* cnew, int64_t ldcn, T* cact,
                                              int64_t ldca, T* h, int64_t ldh, T* hT, T* cT,
                                              int act, int rec_act) {
  if (bias) {
    pi += bias[j];
    pf += bias[U + j];
    pc += bias[2 * U + j];
    po += bias[3 * U + j];
  }
  const T gi = rnn_act(rec_act, pi), gf = rnn_act(rec_act, pf);
  const T gc = rnn_act(act, pc), go = rnn_act(rec_act, po);
  gr[j] = gi;
  gr[U + j] = gf;
  gr[2 * U + j] = gc;
  gr[3 * U + j] = go;
  const T cp = cprev[b * ldcp + j];
  const T c = gf * cp + gi * gc;
  const T a = rnn_act(act, c);
  const T hv = go * a;
  cnew[b * ldcn + j] = c;
  if (cact) cact[b * ldca + j] = a;
  h[b * ldh + j] = hv;
  if (hT) hT[b * U + j] = hv;
  if (cT) cT[b * U + j] = c;
}

// One step of the LSTM cell for every (b, j): g holds xW + hR (pre-activation, gates i f c o
// of row b at g + b*ldg) and receives the activated gates.
template <typename T>
__global__ void __launch_bounds__(kThreads)
lstm_fwd_step_kernel(T* __restrict__ g, int64_t ldg,    // [B rows, 4U] gates at time t
                     const T* __restrict__ bias,        // [4U] or null
                     const T* cprev, int64_t ldcp,      // [B rows, U] c_{s-1} (may alias cnew)
                     T* cnew, int64_t ldcn,             // [B rows, U] c_s
                     T* __restrict__ cact, int64_t ldca,  // [B rows, U] act(c_s) or null
                     T* __restrict__ h, int64_t ldh,    // [B rows, U] h_s (outputs at step s)
                     T* __restrict__ hT,                // [B, U] at the last step, else null
                     T* cT,  // [B, U] at the last step when cells are saved, else null
                     int64_t B, int64_t U, int act, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    T* gr = g + b * ldg;
    lstm_fwd_cell(b, j, U, gr[j], gr[U + j], gr[2 * U + j], gr[3 * U + j], gr, bias, cprev,
                  ldcp, cnew, ldcn, cact, ldca, h, ldh, hT, cT, act, rec_act);
  }
}

// Fused step (U <= kFusedStepMaxU): the recurrent GEMM h_{s-1} @ R and the cell in ONE launch.
// A block of 16 x 16 threads owns 16 batch rows and 16 units; thread (ty, tx) accumulates the
// four gate columns {g*U + j} of unit j = u0 + tx for row b = b0 + ty over k in chunks of 16,
// from shared tiles of h_{s-1} (16 rows x 16 k) and R (16 k x the block's 4 x 16 columns),
// then applies the cell to its own (b, j). No other block needs its gates, so nothing is
// exchanged between blocks and each step is one launch instead of a GEMM plus a kernel.
constexpr int kStepTile = 16;                // batch rows and units per block (16 x 16 threads)
constexpr int kStepK = 16;                   // k per shared-memory chunk
constexpr int64_t kFusedStepMaxU = 256;      // beyond this the tiled GEMM + step kernel win
static_assert(kStepTile * kStepTile == kThreads, "one thread per (row, unit) of the tile");

// The recurrent GEMM of a fused step, for the thread's (b, j) of its block's 16 x 16 tile:
// acc[q] += sum_k hp[b, k] * R[k*ldr + q*U + j] over k < U, for the NG gate columns q*U + j
// (R is [U, ldr], ldr >= NG*U: a GRU step may use some gates' columns only). k runs in chunks of 16 through shared tiles of h (16 rows x 16 k) and R
// (16 k x the block's NG x 16 columns). Block-wide (barriers): every thread of the block calls
// it, with uniform arguments.
template <typename T, int NG>
__device__ __forceinline__ void step_gemm(const T* __restrict__ hp, int64_t ldhp,
                                          const T* __restrict__ R, int64_t ldr, int64_t B,
                                          int64_t U, T (&acc)[NG]) {
  __shared__ T Hs[kStepTile][kStepK + 1];
  __shared__ T Rs[kStepK][NG * kStepTile];
  const int tid = threadIdx.x, tx = tid % kStepTile, ty = tid / kStepTile;
  const int64_t u0 = static_cast<int64_t>(blockIdx.x) * kStepTile;
  const int64_t b = static_cast<int64_t>(blockIdx.y) * kStepTile + ty;
  for (int64_t k0 = 0; k0 < U; k0 += kStepK) {
    Hs[ty][tx] = (b < B && k0 + tx < U) ? hp[b * ldhp + k0 + tx] : T(0);
#pragma unroll
    for (int i = 0; i < kStepK * NG * kStepTile / kThreads; ++i) {
      const int e = tid + i * kThreads, kk = e / (NG * kStepTile), c = e % (NG * kStepTile);
      const int64_t k = k0 + kk, col = u0 + c % kStepTile;
      Rs[kk][c] = (k < U && col < U) ? R[k * ldr + (c / kStepTile) * U + col] : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kStepK; ++kk) {
      const T hv = Hs[ty][kk];
#pragma unroll
      for (int q = 0; q < NG; ++q) acc[q] = fma(hv, Rs[kk][q * kStepTile + tx], acc[q]);
    }
    __syncthreads();
  }
}

// The backward's recurrent GEMM for the thread's (b, j): sum_k dgn[b, k] * R[j*ldr + k] over
// k < G (R is [U, ldr], ldr >= G), i.e. the (b, j) element of dgates_{s+1} @ R^T, tiled like
// step_gemm (16 rows x 16 k of dgates and 16 k x 16 units of R^T in shared memory).
// Block-wide.
template <typename T>
__device__ __forceinline__ T step_gemm_t(const T* __restrict__ dgn, int64_t lddgn,
                                         const T* __restrict__ R, int64_t ldr, int64_t G,
                                         int64_t B, int64_t U) {
  __shared__ T Ds[kStepTile][kStepK + 1];
  __shared__ T Rt[kStepK][kStepTile + 1];
  const int tx = threadIdx.x % kStepTile, ty = threadIdx.x / kStepTile;
  const int64_t u0 = static_cast<int64_t>(blockIdx.x) * kStepTile;
  const int64_t b = static_cast<int64_t>(blockIdx.y) * kStepTile + ty;
  T dh = T(0);
  for (int64_t k0 = 0; k0 < G; k0 += kStepK) {
    Ds[ty][tx] = (b < B && k0 + tx < G) ? dgn[b * lddgn + k0 + tx] : T(0);
    // R^T[k, u] = R[u, k]: thread (ty, tx) reads R[u0 + ty, k0 + tx] (coalesced along k)
    Rt[tx][ty] = (u0 + ty < U && k0 + tx < G) ? R[(u0 + ty) * ldr + k0 + tx] : T(0);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kStepK; ++kk) dh = fma(Ds[ty][kk], Rt[kk][tx], dh);
    __syncthreads();
  }
  return dh;
}

// The thread's (b, j) in a fused step's grid (16 units x 16 batch rows per block).
struct StepIdx {
  int64_t b, j;
  __device__ StepIdx()
      : b(static_cast<int64_t>(blockIdx.y) * kStepTile + threadIdx.x / kStepTile),
        j(static_cast<int64_t>(blockIdx.x) * kStepTile + threadIdx.x % kStepTile) {}
};

template <typename T>
__global__ void __launch_bounds__(kThreads)
lstm_fused_fwd_step_kernel(const T* __restrict__ hp, int64_t ldhp,  // [B rows, U] h_{s-1}
                           const T* __restrict__ R,                 // [U, 4U]
                           T* __restrict__ g, int64_t ldg, const T* __restrict__ bias,
                           const T* cprev, int64_t ldcp, T* cnew, int64_t ldcn,
                           T* __restrict__ cact, int64_t ldca, T* __restrict__ h, int64_t ldh,
                           T* __restrict__ hT, T* cT, int64_t B, int64_t U, int act,
                           int rec_act) {
  T acc[4] = {T(0), T(0), T(0), T(0)};
  step_gemm<T, 4>(hp, ldhp, R, 4 * U, B, U, acc);
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  if (b < B && j < U) {
    T* gr = g + b * ldg;
    lstm_fwd_cell(b, j, U, gr[j] + acc[0], gr[U + j] + acc[1], gr[2 * U + j] + acc[2],
                  gr[3 * U + j] + acc[3], gr, bias, cprev, ldcp, cnew, ldcn, cact, ldca, h,
                  ldh, hT, cT, act, rec_act);
  }
}

// The gate gradients of one (b, j) at one step, given hd = dL/dh_s (carried + d_out) and
// dc_s (carried): writes dgates and returns dc_{s-1}.
template <typename T>
__device__ __forceinline__ T lstm_bwd_cell(const T* gr, T av, T cp, T hd, T dcin, T* d,
                                           int64_t U, int64_t j, int act, int rec_act) {
  const T gi = gr[j], gf = gr[U + j], gc = gr[2 * U + j], go = gr[3 * U + j];
  const T dcv = dcin + rnn_act_grad(act, av, hd * go);
  d[j] = rnn_act_grad(rec_act, gi, dcv * gc);
  d[U + j] = rnn_act_grad(rec_act, gf, dcv * cp);
  d[2 * U + j] = rnn_act_grad(act, gc, dcv * gi);
  d[3 * U + j] = rnn_act_grad(rec_act, go, hd * av);
  return dcv * gf;
}

// Gate gradients of one step: dh is the carried dL/dh_s from later steps (the GEMM after this
// kernel overwrites it with dh_{s-1}); dc is carried in place (dc_s in, dc_{s-1} out).
template <typename T>
__global__ void __launch_bounds__(kThreads)
lstm_bwd_step_kernel(const T* __restrict__ g, int64_t ldg,       // [B rows, 4U] activated
                     const T* __restrict__ a, int64_t lda,       // [B rows, U] act(c_s)
                     const T* __restrict__ cprev, int64_t ldcp,  // [B rows, U] c_{s-1}
                     const T* __restrict__ dy, int64_t ldy,      // [B rows, U] d_out at s
                     const T* __restrict__ dh,                   // [B, U]
                     T* __restrict__ dc,                         // [B, U] in place
                     T* __restrict__ dg, int64_t lddg,           // [B rows, 4U] out
                     int64_t B, int64_t U, int act, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    const T hd = dh[b * U + j] + dy[b * ldy + j];
    dc[b * U + j] = lstm_bwd_cell(g + b * ldg, a[b * lda + j], cprev[b * ldcp + j], hd,
                                  dc[b * U + j], dg + b * lddg, U, j, act, rec_act);
  }
}

// Fused backward step (U <= kFusedStepMaxU): the carried dh_s = dgates_{s+1} @ R^T (a GEMM
// over k < 4U, tiled as in the forward: 16 rows x 16 k of dgates and 16 k x 16 units of R^T
// in shared memory) and the step's gate gradients in ONE launch. At the last step there is no
// later step: dh_s is dh_in (d_hT), and dc comes from dc_in (d_cT), so nothing is copied first.
// dc_in and dc_out may alias: each thread reads then writes only its own (b, j).
template <typename T>
__global__ void __launch_bounds__(kThreads)
lstm_fused_bwd_step_kernel(const T* __restrict__ dgn, int64_t lddgn,  // [B rows, 4U] step s+1
                                                                      // (null at the last step)
                           const T* __restrict__ R,                   // [U, 4U]
                           const T* __restrict__ dh_in,               // [B, U] when !dgn
                           const T* dc_in, T* dc_out,                 // [B, U]
                           const T* __restrict__ g, int64_t ldg, const T* __restrict__ a,
                           int64_t lda, const T* __restrict__ cprev, int64_t ldcp,
                           const T* __restrict__ dy, int64_t ldy, T* __restrict__ dg,
                           int64_t lddg, int64_t B, int64_t U, int act, int rec_act) {
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  T dh = T(0);
  if (dgn)  // uniform across the grid: every thread reaches the barriers
    dh = step_gemm_t(dgn, lddgn, R, 4 * U, 4 * U, B, U);
  else if (b < B && j < U)
    dh = dh_in[b * U + j];
  if (b < B && j < U) {
    const T hd = dh + dy[b * ldy + j];
    dc_out[b * U + j] = lstm_bwd_cell(g + b * ldg, a[b * lda + j], cprev[b * ldcp + j], hd,
                                      dc_in[b * U + j], dg + b * lddg, U, j, act, rec_act);
  }
}

// ============================================================================ GRU kernels
// The reset_after GRU cell of one (b, j): xz, xr, xn from the input projection (row gr),
// hz, hr, hn = (h_{s-1} @ R) at the unit's three gate columns (no bias yet). Writes the
// activated gates z, r, n over gr, rh = hn + b_rec_n (saved for the backward) and h_s.
template <typename T>
__device__ __forceinline__ void gru_ra_fwd_cell(int64_t b, int64_t j, int64_t U, T* gr, T hz,
                                                T hrv, T hn, const T* b_in, const T* b_rec,
                                                const T* hp, int64_t ldhp, T* rh, int64_t ldrh,
                                                T* h, int64_t ldh, T* hT, int act,
                                                int rec_act) {
  T xz = gr[j], xr = gr[U + j], xn = gr[2 * U + j];
  if (b_in) {
    xz += b_in[j];
    xr += b_in[U + j];
    xn += b_in[2 * U + j];
  }
  if (b_rec) {
    hz += b_rec[j];
    hrv += b_rec[U + j];
    hn += b_rec[2 * U + j];
  }
  const T z = rnn_act(rec_act, xz + hz);
  const T r = rnn_act(rec_act, xr + hrv);
  const T n = rnn_act(act, xn + r * hn);
  gr[j] = z;
  gr[U + j] = r;
  gr[2 * U + j] = n;
  rh[b * ldrh + j] = hn;
  const T hv = z * hp[b * ldhp + j] + (T(1) - z) * n;
  h[b * ldh + j] = hv;
  if (hT) hT[b * U + j] = hv;
}

// reset_after: hr = h_{s-1} @ R (all three blocks, no bias yet), from a GEMM before.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fwd_step_ra_kernel(T* __restrict__ g, int64_t ldg,     // [B rows, 3U] xW at t -> z, r, n
                       const T* __restrict__ hr,           // [B, 3U]
                       const T* __restrict__ b_in,         // [3U] or null
                       const T* __restrict__ b_rec,        // [3U] or null
                       const T* __restrict__ hp, int64_t ldhp,  // [B rows, U] h_{s-1}
                       T* __restrict__ rh, int64_t ldrh,   // [B rows, U] out: hr_n + b_rec_n
                       T* __restrict__ h, int64_t ldh,     // [B rows, U] h_s
                       T* __restrict__ hT,                 // [B, U] or null
                       int64_t B, int64_t U, int act, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    const T* hrr = hr + b * 3 * U;
    gru_ra_fwd_cell(b, j, U, g + b * ldg, hrr[j], hrr[U + j], hrr[2 * U + j], b_in, b_rec, hp,
                    ldhp, rh, ldrh, h, ldh, hT, act, rec_act);
  }
}

// reset_after, fused (U <= kFusedStepMaxU): the recurrent GEMM h_{s-1} @ R and the cell in
// ONE launch, as the LSTM's: a block owns the three gate columns of its 16 units.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fused_fwd_step_ra_kernel(const T* __restrict__ hp, int64_t ldhp,  // [B rows, U] h_{s-1}
                             const T* __restrict__ R,                 // [U, 3U]
                             T* __restrict__ g, int64_t ldg, const T* __restrict__ b_in,
                             const T* __restrict__ b_rec, T* __restrict__ rh, int64_t ldrh,
                             T* __restrict__ h, int64_t ldh, T* __restrict__ hT, int64_t B,
                             int64_t U, int act, int rec_act) {
  T acc[3] = {T(0), T(0), T(0)};
  step_gemm<T, 3>(hp, ldhp, R, 3 * U, B, U, acc);
  const StepIdx at;
  if (at.b < B && at.j < U)
    gru_ra_fwd_cell(at.b, at.j, U, g + at.b * ldg, acc[0], acc[1], acc[2], b_in, b_rec, hp,
                    ldhp, rh, ldrh, h, ldh, hT, act, rec_act);
}

// !reset_after, first half, for one (b, j): z, r from xW + b + (h @ R_zr) (hz, hr); the
// candidate's input part gets its bias (its recurrent part (r*h) @ R_h comes next); writes
// z, r over gr and rh = r * h_{s-1}.
template <typename T>
__device__ __forceinline__ void gru_zr_fwd_cell(int64_t b, int64_t j, int64_t U, T* gr, T hz,
                                                T hr, const T* bias, const T* hp, int64_t ldhp,
                                                T* rh, int64_t ldrh, int rec_act) {
  T xz = gr[j], xr = gr[U + j];
  if (bias) {
    xz += bias[j];
    xr += bias[U + j];
    gr[2 * U + j] += bias[2 * U + j];
  }
  const T z = rnn_act(rec_act, xz + hz);
  const T r = rnn_act(rec_act, xr + hr);
  gr[j] = z;
  gr[U + j] = r;
  rh[b * ldrh + j] = r * hp[b * ldhp + j];
}

// !reset_after, first half, after the GEMM h @ R_zr (hr).
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fwd_step_zr_kernel(T* __restrict__ g, int64_t ldg,     // [B rows, 3U]
                       const T* __restrict__ hr, int64_t ldhr,  // [B rows, >= 2U] h @ R_zr
                       const T* __restrict__ bias,         // [3U] or null
                       const T* __restrict__ hp, int64_t ldhp,  // [B rows, U]
                       T* __restrict__ rh, int64_t ldrh,   // [B rows, U] out: r * h_{s-1}
                       int64_t B, int64_t U, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    const T* hrr = hr + b * ldhr;
    gru_zr_fwd_cell(b, j, U, g + b * ldg, hrr[j], hrr[U + j], bias, hp, ldhp, rh, ldrh,
                    rec_act);
  }
}

// !reset_after, first half fused (U <= kFusedStepMaxU): h_{s-1} @ R_zr (the z and r columns
// of R) and the cell above in ONE launch.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fused_fwd_step_zr_kernel(const T* __restrict__ hp, int64_t ldhp,  // [B rows, U] h_{s-1}
                             const T* __restrict__ R,                 // [U, 3U]
                             T* __restrict__ g, int64_t ldg, const T* __restrict__ bias,
                             T* __restrict__ rh, int64_t ldrh, int64_t B, int64_t U,
                             int rec_act) {
  T acc[2] = {T(0), T(0)};
  step_gemm<T, 2>(hp, ldhp, R, 3 * U, B, U, acc);
  const StepIdx at;
  if (at.b < B && at.j < U)
    gru_zr_fwd_cell(at.b, at.j, U, g + at.b * ldg, acc[0], acc[1], bias, hp, ldhp, rh, ldrh,
                    rec_act);
}

// !reset_after, second half, for one (b, j): n = act(xW_n + b_n + (r*h) @ R_h) (gr[2U + j]
// holds xW_n + b_n, plus (r*h) @ R_h unless given as rhr), h_s = z*h_{s-1} + (1-z)*n.
template <typename T>
__device__ __forceinline__ void gru_n_fwd_cell(int64_t b, int64_t j, int64_t U, T* gr, T rhr,
                                               const T* hp, int64_t ldhp, T* h, int64_t ldh,
                                               T* hT, int act) {
  const T z = gr[j];
  const T n = rnn_act(act, gr[2 * U + j] + rhr);
  gr[2 * U + j] = n;
  const T hv = z * hp[b * ldhp + j] + (T(1) - z) * n;
  h[b * ldh + j] = hv;
  if (hT) hT[b * U + j] = hv;
}

// !reset_after, second half, after the GEMM that added (r*h) @ R_h into g.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fwd_step_n_kernel(T* __restrict__ g, int64_t ldg,     // [B rows, 3U]
                      const T* __restrict__ hp, int64_t ldhp,  // [B rows, U]
                      T* __restrict__ h, int64_t ldh,     // [B rows, U]
                      T* __restrict__ hT,                 // [B, U] or null
                      int64_t B, int64_t U, int act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    gru_n_fwd_cell(b, j, U, g + b * ldg, T(0), hp, ldhp, h, ldh, hT, act);
  }
}

// !reset_after, second half fused (U <= kFusedStepMaxU): (r*h) @ R_h (the candidate columns of
// R; r*h of every unit comes from the first half's launch) and the cell in ONE launch.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fused_fwd_step_n_kernel(const T* __restrict__ rh, int64_t ldrh,  // [B rows, U] r * h_{s-1}
                            const T* __restrict__ R,                 // [U, 3U]
                            T* __restrict__ g, int64_t ldg, const T* __restrict__ hp,
                            int64_t ldhp, T* __restrict__ h, int64_t ldh, T* __restrict__ hT,
                            int64_t B, int64_t U, int act) {
  T acc[1] = {T(0)};
  step_gemm<T, 1>(rh, ldrh, R + 2 * U, 3 * U, B, U, acc);
  const StepIdx at;
  if (at.b < B && at.j < U)
    gru_n_fwd_cell(at.b, at.j, U, g + at.b * ldg, acc[0], hp, ldhp, h, ldh, hT, act);
}

// reset_after backward of one (b, j), given d = dL/dh_s: dgx = input-side pre-activation
// gradients [dz, dr, dn], dgr = recurrent-side ones [dz, dr, dn * r]; returns d * z (the part
// of dL/dh_{s-1} that does not go through R).
template <typename T>
__device__ __forceinline__ T gru_ra_bwd_cell(const T* gr, T hpv, T rhv, T d, T* x, T* q,
                                             int64_t U, int64_t j, int act, int rec_act) {
  const T z = gr[j], r = gr[U + j], n = gr[2 * U + j];
  const T dz = rnn_act_grad(rec_act, z, d * (hpv - n));
  const T dn = rnn_act_grad(act, n, d * (T(1) - z));
  const T dr = rnn_act_grad(rec_act, r, dn * rhv);
  x[j] = dz;
  x[U + j] = dr;
  x[2 * U + j] = dn;
  q[j] = dz;
  q[U + j] = dr;
  q[2 * U + j] = dn * r;
  return d * z;
}

// reset_after backward step: dh <- d * z in place (the GEMM after adds dgr @ R^T).
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_bwd_step_ra_kernel(const T* __restrict__ g, int64_t ldg,     // [B rows, 3U] z, r, n
                       const T* __restrict__ hp, int64_t ldhp,   // [B rows, U]
                       const T* __restrict__ rh, int64_t ldrh,   // [B rows, U]
                       const T* __restrict__ dy, int64_t ldy,    // [B rows, U]
                       T* __restrict__ dh,                       // [B, U] in place
                       T* __restrict__ dgx, T* __restrict__ dgr, int64_t lddg,  // [B rows, 3U]
                       int64_t B, int64_t U, int act, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    const T d = dh[b * U + j] + dy[b * ldy + j];
    dh[b * U + j] = gru_ra_bwd_cell(g + b * ldg, hp[b * ldhp + j], rh[b * ldrh + j], d,
                                    dgx + b * lddg, dgr + b * lddg, U, j, act, rec_act);
  }
}

// reset_after, fused backward step (U <= kFusedStepMaxU): dL/dh_s = carry + dgr_{s+1} @ R^T
// (carry = d_{s+1} * z_{s+1}, left in dh by the later step), or dh_in (d_hT) at the last
// step, then the step's gate gradients, leaving d * z in dh for the step before. dh_in and dh
// may not alias; each thread reads and writes only its own (b, j) of dh.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fused_bwd_step_ra_kernel(const T* __restrict__ dgrn, int64_t lddgn,  // [B rows, 3U] s+1
                                                                         // (null at the last)
                             const T* __restrict__ R,                    // [U, 3U]
                             const T* __restrict__ dh_in,                // [B, U] when !dgrn
                             T* dh,                                      // [B, U] carry
                             const T* __restrict__ g, int64_t ldg, const T* __restrict__ hp,
                             int64_t ldhp, const T* __restrict__ rh, int64_t ldrh,
                             const T* __restrict__ dy, int64_t ldy, T* __restrict__ dgx,
                             T* __restrict__ dgr, int64_t lddg, int64_t B, int64_t U, int act,
                             int rec_act) {
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  T d = T(0);
  if (dgrn)  // uniform across the grid: every thread reaches the barriers
    d = step_gemm_t(dgrn, lddgn, R, 3 * U, 3 * U, B, U);
  if (b < B && j < U) {
    d += (dgrn ? dh[b * U + j] : dh_in[b * U + j]) + dy[b * ldy + j];
    dh[b * U + j] = gru_ra_bwd_cell(g + b * ldg, hp[b * ldhp + j], rh[b * ldrh + j], d,
                                    dgx + b * lddg, dgr + b * lddg, U, j, act, rec_act);
  }
}

// !reset_after backward, first part, for one (b, j), given d = dL/dh_s: dz, dn (pre-
// activation) into the row x; returns d * z.
template <typename T>
__device__ __forceinline__ T gru_zn_bwd_cell(const T* gr, T hpv, T d, T* x, int64_t U,
                                             int64_t j, int act, int rec_act) {
  const T z = gr[j], n = gr[2 * U + j];
  x[j] = rnn_act_grad(rec_act, z, d * (hpv - n));
  x[2 * U + j] = rnn_act_grad(act, n, d * (T(1) - z));
  return d * z;
}

// !reset_after backward, second part, for one (b, j), given drh = (dn @ R_h^T)(b, j): dr into
// the row x; returns drh * r (the part of dL/dh_{s-1} through r*h).
template <typename T>
__device__ __forceinline__ T gru_r_bwd_cell(const T* gr, T hpv, T drh, T* x, int64_t U,
                                            int64_t j, int rec_act) {
  const T r = gr[U + j];
  x[U + j] = rnn_act_grad(rec_act, r, drh * hpv);
  return drh * r;
}

// !reset_after backward, first part: dz, dn (pre-activation) and dh <- d * z.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_bwd_step_zn_kernel(const T* __restrict__ g, int64_t ldg,     // [B rows, 3U]
                       const T* __restrict__ hp, int64_t ldhp,   // [B rows, U]
                       const T* __restrict__ dy, int64_t ldy,    // [B rows, U]
                       T* __restrict__ dh,                       // [B, U] in place
                       T* __restrict__ dgx, int64_t lddg,        // [B rows, 3U]
                       int64_t B, int64_t U, int act, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    dh[b * U + j] = gru_zn_bwd_cell(g + b * ldg, hp[b * ldhp + j], dh[b * U + j] +
                                    dy[b * ldy + j], dgx + b * lddg, U, j, act, rec_act);
  }
}

// !reset_after, first part fused (U <= kFusedStepMaxU): dL/dh_s = carry + [dz, dr]_{s+1} @
// R_zr^T (carry = d*z + drh*r of step s+1, left in dh), or dh_in (d_hT) at the last step,
// then dz, dn, leaving d * z in dh. dh_in and dh may not alias.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fused_bwd_step_zn_kernel(const T* __restrict__ dgn, int64_t lddgn,  // [B rows, 3U] s+1
                                                                        // (null at the last)
                             const T* __restrict__ R,                   // [U, 3U]
                             const T* __restrict__ dh_in,               // [B, U] when !dgn
                             T* dh,                                     // [B, U] carry
                             const T* __restrict__ g, int64_t ldg, const T* __restrict__ hp,
                             int64_t ldhp, const T* __restrict__ dy, int64_t ldy,
                             T* __restrict__ dgx, int64_t lddg, int64_t B, int64_t U, int act,
                             int rec_act) {
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  T d = T(0);
  if (dgn)  // uniform across the grid: every thread reaches the barriers
    d = step_gemm_t(dgn, lddgn, R, 3 * U, 2 * U, B, U);
  if (b < B && j < U) {
    d += (dgn ? dh[b * U + j] : dh_in[b * U + j]) + dy[b * ldy + j];
    dh[b * U + j] = gru_zn_bwd_cell(g + b * ldg, hp[b * ldhp + j], d, dgx + b * lddg, U, j,
                                    act, rec_act);
  }
}

// !reset_after, second part fused: drh = dn @ R_h^T (dn of every unit from the first part's
// launch) and dr; adds drh * r into dh.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_fused_bwd_step_r_kernel(const T* __restrict__ g, int64_t ldg,     // [B rows, 3U]
                            const T* __restrict__ R,                  // [U, 3U]
                            const T* __restrict__ hp, int64_t ldhp,   // [B rows, U]
                            T* __restrict__ dh,                       // [B, U] in place
                            T* __restrict__ dgx, int64_t lddg,        // [B rows, 3U]
                            int64_t B, int64_t U, int rec_act) {
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  const T drh = step_gemm_t(dgx + 2 * U, lddg, R + 2 * U, 3 * U, U, B, U);
  if (b < B && j < U)
    dh[b * U + j] += gru_r_bwd_cell(g + b * ldg, hp[b * ldhp + j], drh, dgx + b * lddg, U, j,
                                    rec_act);
}

// !reset_after backward, second part: drh = dn @ R_h^T (from the GEMM); dr and dh += drh * r.
template <typename T>
__global__ void __launch_bounds__(kThreads)
gru_bwd_step_r_kernel(const T* __restrict__ g, int64_t ldg,     // [B rows, 3U]
                      const T* __restrict__ hp, int64_t ldhp,   // [B rows, U]
                      const T* __restrict__ drh,                // [B, U]
                      T* __restrict__ dh,                       // [B, U] in place
                      T* __restrict__ dgx, int64_t lddg,        // [B rows, 3U]
                      int64_t B, int64_t U, int rec_act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    dh[b * U + j] += gru_r_bwd_cell(g + b * ldg, hp[b * ldhp + j], drh[b * U + j],
                                    dgx + b * lddg, U, j, rec_act);
  }
}

// ====================================================================== SimpleRNN kernels
// h_s = act(v + b) for one (b, j), v = xW + hR.
template <typename T>
__device__ __forceinline__ void srnn_fwd_cell(int64_t b, int64_t j, int64_t U, T v,
                                              const T* bias, T* h, int64_t ldh, T* hT,
                                              int act) {
  if (bias) v += bias[j];
  const T hv = rnn_act(act, v);
  h[b * ldh + j] = hv;
  if (hT) hT[b * U + j] = hv;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
srnn_fwd_step_kernel(const T* __restrict__ pre, int64_t ldp,  // [B rows, U] xW + hR at t
                     const T* __restrict__ bias,              // [U] or null
                     T* __restrict__ h, int64_t ldh,          // [B rows, U] h_s
                     T* __restrict__ hT,                      // [B, U] or null
                     int64_t B, int64_t U, int act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    srnn_fwd_cell(b, j, U, pre[b * ldp + j], bias, h, ldh, hT, act);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
srnn_bwd_step_kernel(const T* __restrict__ hs, int64_t ldo,  // [B rows, U] h_s (outputs)
                     const T* __restrict__ dh,               // [B, U]
                     const T* __restrict__ dy, int64_t ldy,  // [B rows, U]
                     T* __restrict__ dg, int64_t lddg,       // [B rows, U] out
                     int64_t B, int64_t U, int act) {
  NABI_RNN_LOOP(B * U) {
    const int64_t b = i / U, j = i - b * U;
    dg[b * lddg + j] = rnn_act_grad(act, hs[b * ldo + j], dh[b * U + j] + dy[b * ldy + j]);
  }
}

// Fused steps (U <= kFusedStepMaxU): the recurrent GEMM and the pointwise pass in ONE
// launch, as the LSTM's. Forward: h_s = act(pre_t + h_{s-1} @ R + b).
template <typename T>
__global__ void __launch_bounds__(kThreads)
srnn_fused_fwd_step_kernel(const T* __restrict__ hp, int64_t ldhp,  // [B rows, U] h_{s-1}
                           const T* __restrict__ R,                 // [U, U]
                           const T* __restrict__ pre, int64_t ldp,  // [B rows, U] xW at t
                           const T* __restrict__ bias,              // [U] or null
                           T* __restrict__ h, int64_t ldh, T* __restrict__ hT, int64_t B,
                           int64_t U, int act) {
  T acc[1] = {T(0)};
  step_gemm<T, 1>(hp, ldhp, R, U, B, U, acc);
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  if (b < B && j < U) srnn_fwd_cell(b, j, U, pre[b * ldp + j] + acc[0], bias, h, ldh, hT, act);
}

// Backward: dL/dh_s = dg_{s+1} @ R^T (or dh_in = d_hT at the last step) + d_out_s;
// dg_s = that * act'(h_s).
template <typename T>
__global__ void __launch_bounds__(kThreads)
srnn_fused_bwd_step_kernel(const T* __restrict__ dgn, int64_t lddgn,  // [B rows, U] s+1
                           const T* __restrict__ R,                   // [U, U]
                           const T* __restrict__ dh_in,               // [B, U] when !dgn
                           const T* __restrict__ hs, int64_t ldo,     // [B rows, U] h_s
                           const T* __restrict__ dy, int64_t ldy,     // [B rows, U]
                           T* __restrict__ dg, int64_t lddg, int64_t B, int64_t U, int act) {
  const StepIdx at;
  const int64_t b = at.b, j = at.j;
  T d = T(0);
  if (dgn)  // uniform across the grid
    d = step_gemm_t(dgn, lddgn, R, U, U, B, U);
  if (b < B && j < U) {
    d += (dgn ? T(0) : dh_in[b * U + j]) + dy[b * ldy + j];
    dg[b * lddg + j] = rnn_act_grad(act, hs[b * ldo + j], d);
  }
}

// ============================================================================== shared
// hprev[b, t] = h0[b] when t is processed first (step 0), else out[b, s-1] (s = step of t).
template <typename T>
__global__ void __launch_bounds__(kThreads)
build_hprev_kernel(const T* __restrict__ h0,   // [B, U]
                   const T* __restrict__ out,  // [B, T, U] by step
                   T* __restrict__ hprev,      // [B, T, U] by input time
                   int64_t B, int64_t Tn, int64_t U, bool go_backwards) {
  NABI_RNN_LOOP(B * Tn * U) {
    const int64_t b = i / (Tn * U);
    const int64_t rem = i - b * Tn * U;
    const int64_t t = rem / U, j = rem - t * U;
    const int64_t s = go_backwards ? Tn - 1 - t : t;
    hprev[i] = s == 0 ? h0[b * U + j] : out[(b * Tn + s - 1) * U + j];
  }
}
#undef NABI_RNN_LOOP

inline unsigned blocks_for(int64_t n) { return grid_for(n, kThreads); }

template <typename T>
void zero(T* p, int64_t n) {
  if (p && n > 0) memset_zero(p, static_cast<size_t>(n) * sizeof(T));
}

template <typename T>
void copy(T* dst, const T* src, int64_t n) {
  if (n > 0) copy_d2d(dst, src, static_cast<size_t>(n) * sizeof(T));
}

// G (BT, N) = X (BT, D) @ W (D, N), or zeros when D == 0.
template <typename T>
void input_projection(const T* x, const T* W, T* G, int64_t BT, int64_t D, int64_t N) {
  if (BT <= 0 || N <= 0) return;
  if (D > 0)
    gemm<T>(false, false, BT, N, D, T(1), x, D, W, N, T(0), G, N);
  else
    zero(G, BT * N);
}

// dW = X^T @ dG, db = colsum(dG) (if db), dx = dG @ W^T (if dx); dG (BT, N) contiguous.
template <typename T>
void input_grads(const T* x, const T* W, const T* dG, int64_t BT, int64_t D, int64_t N, T* dW,
                 T* db, T* dx) {
  if (D > 0) gemm<T>(true, false, D, N, BT, T(1), x, D, dG, N, T(0), dW, N);
  if (db) bias_grad<T>(dG, db, BT, N);
  if (dx && D > 0) gemm<T>(false, true, BT, D, N, T(1), dG, N, W, N, T(0), dx, D);
}

// The input time of processed step s (reversed with go_backwards).
inline int64_t time_of(int64_t s, int64_t Tn, bool go_backwards) {
  return go_backwards ? Tn - 1 - s : s;
}

// A fused backward step's view of the later step's gate gradients (rows of width G, stored
// by input time): those of step s + 1, or null at the last step.
template <typename T>
const T* later_step(const T* dG, int64_t s, int64_t Tn, int64_t G, bool go_backwards) {
  return s == Tn - 1 ? nullptr : dG + time_of(s + 1, Tn, go_backwards) * G;
}

// The fused LSTM step kernels serve U <= kFusedStepMaxU and batches that fit gridDim.y; their
// grid is 16 units x 16 batch rows per block.
bool fused_step(int64_t B, int64_t U) {
  return U <= kFusedStepMaxU && ceil_div<int64_t>(B, kStepTile) <= 65535;
}
dim3 step_grid(int64_t B, int64_t U) {
  return dim3(static_cast<unsigned>(ceil_div<int64_t>(U, kStepTile)),
              static_cast<unsigned>(ceil_div<int64_t>(B, kStepTile)));
}

template <typename T>
void build_hprev(const T* h0, const T* out, T* hprev, int64_t B, int64_t Tn, int64_t U,
                 bool go_backwards) {
  const int64_t n = B * Tn * U;
  if (n <= 0) return;
  build_hprev_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(h0, out, hprev, B, Tn, U,
                                                                  go_backwards);
  NABI_CUDA_CHECK_LAUNCH("build_hprev_kernel");
}

}  // namespace

// ================================================================================= LSTM
template <typename T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* W, const T* R, const T* b,
                  int64_t B, int64_t Tn, int64_t D, int64_t U, int act, int rec_act,
                  bool go_backwards, T* out, T* hT, T* cT, T* gates, T* cells, T* cact) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  const int64_t G = 4 * U, ldg = Tn * G, ldo = Tn * U;
  const bool saved = cells != nullptr && cact != nullptr;
  const bool fused = fused_step(B, U);
  input_projection(x, W, gates, B * Tn, D, G);
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = time_of(s, Tn, go_backwards);
    T* Gs = gates + t * G;
    const T* hp = s == 0 ? h0 : out + (s - 1) * U;
    const int64_t ldhp = s == 0 ? U : ldo;
    // Saved: c_s in cells[:, s]; inference: the running c lives in cT (updated in place).
    const T* cp;
    int64_t ldcp, ldcn;
    T* cn;
    if (saved) {
      cp = s == 0 ? c0 : cells + (s - 1) * U;
      ldcp = s == 0 ? U : ldo;
      cn = cells + s * U;
      ldcn = ldo;
    } else {
      cp = s == 0 ? c0 : cT;
      ldcp = U;
      cn = cT;
      ldcn = U;
    }
    const bool last = s == Tn - 1;
    T* ca = saved ? cact + s * U : nullptr;
    T* hTs = last ? hT : nullptr;
    T* cTs = (last && saved) ? cT : nullptr;
    if (fused) {
      lstm_fused_fwd_step_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          hp, ldhp, R, Gs, ldg, b, cp, ldcp, cn, ldcn, ca, ldo, out + s * U, ldo, hTs, cTs, B,
          U, act, rec_act);
      NABI_CUDA_CHECK_LAUNCH("lstm_fused_fwd_step_kernel");
      continue;
    }
    gemm<T>(false, false, B, G, U, T(1), hp, ldhp, R, G, T(1), Gs, ldg);
    lstm_fwd_step_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
        Gs, ldg, b, cp, ldcp, cn, ldcn, ca, ldo, out + s * U, ldo, hTs, cTs, B, U, act,
        rec_act);
    NABI_CUDA_CHECK_LAUNCH("lstm_fwd_step_kernel");
  }
}

template <typename T>
void lstm_backward(const T* d_out, const T* d_hT, const T* d_cT, const T* x, const T* h0,
                   const T* c0, const T* W, const T* R, const T* out, const T* gates,
                   const T* cells, const T* cact, int64_t B, int64_t Tn, int64_t D, int64_t U,
                   int act, int rec_act, bool go_backwards, T* dx, T* dh0, T* dc0, T* dW, T* dR,
                   T* db) {
  const int64_t G = 4 * U, ldg = Tn * G, ldo = Tn * U;
  if (B <= 0 || Tn <= 0 || U <= 0) {
    zero(dW, D * G);
    zero(dR, U * G);
    zero(db, G);
    return;
  }
  Scratch<T> dg_buf(B * Tn * G);
  T* dG = dg_buf.get();
  if (fused_step(B, U)) {
    // dc0 carries the running dc; dh_s is computed inside each step's kernel from the later
    // step's dgates, and dh0 by one GEMM at the end.
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      const bool last = s == Tn - 1;
      const T* dgn = later_step(dG, s, Tn, G, go_backwards);
      const T* cp = s == 0 ? c0 : cells + (s - 1) * U;
      const int64_t ldcp = s == 0 ? U : ldo;
      lstm_fused_bwd_step_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          dgn, ldg, R, d_hT, last ? d_cT : dc0, dc0, gates + t * G, ldg, cact + s * U, ldo, cp,
          ldcp, d_out + s * U, ldo, dG + t * G, ldg, B, U, act, rec_act);
      NABI_CUDA_CHECK_LAUNCH("lstm_fused_bwd_step_kernel");
    }
    const int64_t t0 = time_of(0, Tn, go_backwards);
    gemm<T>(false, true, B, U, G, T(1), dG + t0 * G, ldg, R, G, T(0), dh0, U);
  } else {
    // dh0 / dc0 carry the running dh / dc.
    copy(dh0, d_hT, B * U);
    copy(dc0, d_cT, B * U);
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      const T* cp = s == 0 ? c0 : cells + (s - 1) * U;
      const int64_t ldcp = s == 0 ? U : ldo;
      lstm_bwd_step_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
          gates + t * G, ldg, cact + s * U, ldo, cp, ldcp, d_out + s * U, ldo, dh0, dc0,
          dG + t * G, ldg, B, U, act, rec_act);
      NABI_CUDA_CHECK_LAUNCH("lstm_bwd_step_kernel");
      // dh_{s-1} = dgates[:, t] @ R^T
      gemm<T>(false, true, B, U, G, T(1), dG + t * G, ldg, R, G, T(0), dh0, U);
    }
  }
  Scratch<T> hp_buf(B * Tn * U);
  build_hprev(h0, out, hp_buf.get(), B, Tn, U, go_backwards);
  gemm<T>(true, false, U, G, B * Tn, T(1), hp_buf.get(), U, dG, G, T(0), dR, G);
  input_grads(x, W, dG, B * Tn, D, G, dW, db, dx);
}

// ================================================================================== GRU
template <typename T>
void gru_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                 int64_t Tn, int64_t D, int64_t U, int act, int rec_act, bool go_backwards,
                 bool reset_after, T* out, T* hT, T* gates, T* rh) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  const int64_t G = 3 * U, ldg = Tn * G, ldo = Tn * U;
  const T* b_rec = (b && reset_after) ? b + G : nullptr;
  input_projection(x, W, gates, B * Tn, D, G);
  const bool fused = fused_step(B, U);
  Scratch<T> hr_buf(fused ? 0 : B * G);
  T* HR = hr_buf.get();
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = time_of(s, Tn, go_backwards);
    T* Gs = gates + t * G;
    const T* hp = s == 0 ? h0 : out + (s - 1) * U;
    const int64_t ldhp = s == 0 ? U : ldo;
    T* hTs = s == Tn - 1 ? hT : nullptr;
    if (fused && reset_after) {
      gru_fused_fwd_step_ra_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          hp, ldhp, R, Gs, ldg, b, b_rec, rh + t * U, ldo, out + s * U, ldo, hTs, B, U, act,
          rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fused_fwd_step_ra_kernel");
    } else if (fused) {
      gru_fused_fwd_step_zr_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          hp, ldhp, R, Gs, ldg, b, rh + t * U, ldo, B, U, rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fused_fwd_step_zr_kernel");
      gru_fused_fwd_step_n_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          rh + t * U, ldo, R, Gs, ldg, hp, ldhp, out + s * U, ldo, hTs, B, U, act);
      NABI_CUDA_CHECK_LAUNCH("gru_fused_fwd_step_n_kernel");
    } else if (reset_after) {
      gemm<T>(false, false, B, G, U, T(1), hp, ldhp, R, G, T(0), HR, G);
      gru_fwd_step_ra_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
          Gs, ldg, HR, b, b_rec, hp, ldhp, rh + t * U, ldo, out + s * U, ldo, hTs, B, U, act,
          rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fwd_step_ra_kernel");
    } else {
      // h @ R_zr (B, 2U), rows strided by G in HR
      gemm<T>(false, false, B, 2 * U, U, T(1), hp, ldhp, R, G, T(0), HR, G);
      gru_fwd_step_zr_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
          Gs, ldg, HR, G, b, hp, ldhp, rh + t * U, ldo, B, U, rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fwd_step_zr_kernel");
      // candidate pre-activation += (r * h) @ R_h
      gemm<T>(false, false, B, U, U, T(1), rh + t * U, ldo, R + 2 * U, G, T(1), Gs + 2 * U, ldg);
      gru_fwd_step_n_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
          Gs, ldg, hp, ldhp, out + s * U, ldo, hTs, B, U, act);
      NABI_CUDA_CHECK_LAUNCH("gru_fwd_step_n_kernel");
    }
  }
}

template <typename T>
void gru_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W,
                  const T* R, const T* out, const T* gates, const T* rh, int64_t B, int64_t Tn,
                  int64_t D, int64_t U, int act, int rec_act, bool go_backwards,
                  bool reset_after, T* dx, T* dh0, T* dW, T* dR, T* db) {
  const int64_t G = 3 * U, ldg = Tn * G, ldo = Tn * U;
  const int64_t nb = reset_after ? 2 * G : G;
  if (B <= 0 || Tn <= 0 || U <= 0) {
    zero(dW, D * G);
    zero(dR, U * G);
    zero(db, nb);
    return;
  }
  const bool fused = fused_step(B, U);
  Scratch<T> dgx_buf(B * Tn * G), dgr_buf(reset_after ? B * Tn * G : 0),
      drh_buf(reset_after || fused ? 0 : B * U);
  T* dGx = dgx_buf.get();
  T* dGr = dgr_buf.get();
  T* drh = drh_buf.get();
  if (fused && reset_after) {
    // dh0 carries d * z from each step to the one before; the dgr @ R^T part is computed
    // inside the earlier step's kernel, and for dh0 by one GEMM at the end.
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      const T* dgrn = later_step(dGr, s, Tn, G, go_backwards);
      const T* hp = s == 0 ? h0 : out + (s - 1) * U;
      const int64_t ldhp = s == 0 ? U : ldo;
      gru_fused_bwd_step_ra_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          dgrn, ldg, R, d_hT, dh0, gates + t * G, ldg, hp, ldhp, rh + t * U, ldo,
          d_out + s * U, ldo, dGx + t * G, dGr + t * G, ldg, B, U, act, rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fused_bwd_step_ra_kernel");
    }
    const int64_t t0 = time_of(0, Tn, go_backwards);
    gemm<T>(false, true, B, U, G, T(1), dGr + t0 * G, ldg, R, G, T(1), dh0, U);
  } else if (fused) {
    // dh0 carries d*z + drh*r from each step to the one before; two launches per step (the
    // reset gate's gradient needs dn of every unit first); dh0 gets [dz, dr] @ R_zr^T last.
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      const T* dgn = later_step(dGx, s, Tn, G, go_backwards);
      const T* hp = s == 0 ? h0 : out + (s - 1) * U;
      const int64_t ldhp = s == 0 ? U : ldo;
      gru_fused_bwd_step_zn_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          dgn, ldg, R, d_hT, dh0, gates + t * G, ldg, hp, ldhp, d_out + s * U, ldo,
          dGx + t * G, ldg, B, U, act, rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fused_bwd_step_zn_kernel");
      gru_fused_bwd_step_r_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          gates + t * G, ldg, R, hp, ldhp, dh0, dGx + t * G, ldg, B, U, rec_act);
      NABI_CUDA_CHECK_LAUNCH("gru_fused_bwd_step_r_kernel");
    }
    const int64_t t0 = time_of(0, Tn, go_backwards);
    gemm<T>(false, true, B, U, 2 * U, T(1), dGx + t0 * G, ldg, R, G, T(1), dh0, U);
  } else {
    copy(dh0, d_hT, B * U);  // the running dh
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      const T* g = gates + t * G;
      const T* hp = s == 0 ? h0 : out + (s - 1) * U;
      const int64_t ldhp = s == 0 ? U : ldo;
      if (reset_after) {
        gru_bwd_step_ra_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
            g, ldg, hp, ldhp, rh + t * U, ldo, d_out + s * U, ldo, dh0, dGx + t * G, dGr + t * G,
            ldg, B, U, act, rec_act);
        NABI_CUDA_CHECK_LAUNCH("gru_bwd_step_ra_kernel");
        // dh_{s-1} = d * z + dgr[:, t] @ R^T
        gemm<T>(false, true, B, U, G, T(1), dGr + t * G, ldg, R, G, T(1), dh0, U);
      } else {
        gru_bwd_step_zn_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
            g, ldg, hp, ldhp, d_out + s * U, ldo, dh0, dGx + t * G, ldg, B, U, act, rec_act);
        NABI_CUDA_CHECK_LAUNCH("gru_bwd_step_zn_kernel");
        // d(r * h) = dn @ R_h^T
        gemm<T>(false, true, B, U, U, T(1), dGx + t * G + 2 * U, ldg, R + 2 * U, G, T(0), drh, U);
        gru_bwd_step_r_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
            g, ldg, hp, ldhp, drh, dh0, dGx + t * G, ldg, B, U, rec_act);
        NABI_CUDA_CHECK_LAUNCH("gru_bwd_step_r_kernel");
        // dh_{s-1} += [dz, dr] @ R_zr^T
        gemm<T>(false, true, B, U, 2 * U, T(1), dGx + t * G, ldg, R, G, T(1), dh0, U);
      }
    }
  }
  const int64_t BT = B * Tn;
  Scratch<T> hp_buf(BT * U);
  build_hprev(h0, out, hp_buf.get(), B, Tn, U, go_backwards);
  if (reset_after) {
    gemm<T>(true, false, U, G, BT, T(1), hp_buf.get(), U, dGr, G, T(0), dR, G);
    input_grads(x, W, dGx, BT, D, G, dW, db, dx);
    if (db) bias_grad<T>(dGr, db + G, BT, G);
  } else {
    gemm<T>(true, false, U, 2 * U, BT, T(1), hp_buf.get(), U, dGx, G, T(0), dR, G);
    gemm<T>(true, false, U, U, BT, T(1), rh, U, dGx + 2 * U, G, T(0), dR + 2 * U, G);
    input_grads(x, W, dGx, BT, D, G, dW, db, dx);
  }
}

// ============================================================================ SimpleRNN
template <typename T>
void simple_rnn_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                        int64_t Tn, int64_t D, int64_t U, int act, bool go_backwards, T* out,
                        T* hT) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  const int64_t ldo = Tn * U;
  Scratch<T> pre_buf(B * Tn * U);  // pre-activations by input time
  T* pre = pre_buf.get();
  input_projection(x, W, pre, B * Tn, D, U);
  const bool fused = fused_step(B, U);
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = time_of(s, Tn, go_backwards);
    const T* hp = s == 0 ? h0 : out + (s - 1) * U;
    const int64_t ldhp = s == 0 ? U : ldo;
    if (fused) {
      srnn_fused_fwd_step_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          hp, ldhp, R, pre + t * U, ldo, b, out + s * U, ldo, s == Tn - 1 ? hT : nullptr, B, U,
          act);
      NABI_CUDA_CHECK_LAUNCH("srnn_fused_fwd_step_kernel");
      continue;
    }
    gemm<T>(false, false, B, U, U, T(1), hp, ldhp, R, U, T(1), pre + t * U, ldo);
    srnn_fwd_step_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
        pre + t * U, ldo, b, out + s * U, ldo, s == Tn - 1 ? hT : nullptr, B, U, act);
    NABI_CUDA_CHECK_LAUNCH("srnn_fwd_step_kernel");
  }
}

template <typename T>
void simple_rnn_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W,
                         const T* R, const T* out, int64_t B, int64_t Tn, int64_t D, int64_t U,
                         int act, bool go_backwards, T* dx, T* dh0, T* dW, T* dR, T* db) {
  if (B <= 0 || Tn <= 0 || U <= 0) {
    zero(dW, D * U);
    zero(dR, U * U);
    zero(db, U);
    return;
  }
  const int64_t ldo = Tn * U;
  Scratch<T> dg_buf(B * Tn * U);
  T* dG = dg_buf.get();
  if (fused_step(B, U)) {
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      const T* dgn = later_step(dG, s, Tn, U, go_backwards);
      srnn_fused_bwd_step_kernel<T><<<step_grid(B, U), kThreads, 0, stream()>>>(
          dgn, ldo, R, d_hT, out + s * U, ldo, d_out + s * U, ldo, dG + t * U, ldo, B, U, act);
      NABI_CUDA_CHECK_LAUNCH("srnn_fused_bwd_step_kernel");
    }
    const int64_t t0 = time_of(0, Tn, go_backwards);
    gemm<T>(false, true, B, U, U, T(1), dG + t0 * U, ldo, R, U, T(0), dh0, U);
  } else {
    copy(dh0, d_hT, B * U);  // the running dh
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = time_of(s, Tn, go_backwards);
      srnn_bwd_step_kernel<T><<<blocks_for(B * U), kThreads, 0, stream()>>>(
          out + s * U, ldo, dh0, d_out + s * U, ldo, dG + t * U, ldo, B, U, act);
      NABI_CUDA_CHECK_LAUNCH("srnn_bwd_step_kernel");
      gemm<T>(false, true, B, U, U, T(1), dG + t * U, ldo, R, U, T(0), dh0, U);
    }
  }
  Scratch<T> hp_buf(B * Tn * U);
  build_hprev(h0, out, hp_buf.get(), B, Tn, U, go_backwards);
  gemm<T>(true, false, U, U, B * Tn, T(1), hp_buf.get(), U, dG, U, T(0), dR, U);
  input_grads(x, W, dG, B * Tn, D, U, dW, db, dx);
}

#define NABI_INST(T)                                                                          \
  template void lstm_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*,   \
                                int64_t, int64_t, int64_t, int64_t, int, int, bool, T*, T*,   \
                                T*, T*, T*, T*);                                              \
  template void lstm_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,  \
                                 const T*, const T*, const T*, const T*, const T*, const T*,  \
                                 int64_t, int64_t, int64_t, int64_t, int, int, bool, T*, T*,  \
                                 T*, T*, T*, T*);                                             \
  template void gru_forward<T>(const T*, const T*, const T*, const T*, const T*, int64_t,     \
                               int64_t, int64_t, int64_t, int, int, bool, bool, T*, T*, T*,   \
                               T*);                                                           \
  template void gru_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,   \
                                const T*, const T*, const T*, int64_t, int64_t, int64_t,      \
                                int64_t, int, int, bool, bool, T*, T*, T*, T*, T*);           \
  template void simple_rnn_forward<T>(const T*, const T*, const T*, const T*, const T*,       \
                                      int64_t, int64_t, int64_t, int64_t, int, bool, T*, T*); \
  template void simple_rnn_backward<T>(const T*, const T*, const T*, const T*, const T*,      \
                                       const T*, const T*, int64_t, int64_t, int64_t,         \
                                       int64_t, int, bool, T*, T*, T*, T*, T*);
NABI_INST(float)
NABI_INST(double)
#undef NABI_INST

}  // namespace nabi::cuda
