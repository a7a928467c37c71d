// CTC loss and greedy CTC decoding (see ctc_launchers.h), behind tf.nn.ctc_loss,
// tf.nn.ctc_greedy_decoder and keras.ops.ctc_decode(strategy="greedy") on GPU tensors.
//
// Precision: everything is computed in float64 whatever the logits' dtype (as nabi's CPU path,
// python/nabi/ops/nn_extra_ops.py), and only the loss and the gradient are rounded to it: the
// log-space sums over thousands of alignments keep their digits, and GPU equals CPU to ~1e-12.
//
// ctc_loss, 2 launches:
//  1. ctc_log_softmax_kernel: one warp per (b, t) row (8 rows per 256-thread block); the lanes
//     stride over the C classes for the row's maximum (warp_max: NaN wins) and the sum of
//     exp(x - max) (warp_sum), then write lp[b, t, :] = x - max - log(sum) (float64, batch-major
//     so that one sequence's frames are contiguous).
//  2. ctc_alpha_beta_kernel: one block per batch element b; its threads stride over the
//     S = 2L + 1 positions of the extended label sequence (blank, l1, blank, l2, ..., blank),
//     L = label_length[b]. Graves' forward recursion in log space,
//        alpha[t, s] = lp[t, ext s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1],
//                                                alpha[t-1, s-2] if ext s != blank, ext s-2)
//     one time step per iteration with a __syncthreads between steps (alpha[t-1, :] must be
//     complete before any thread reads it); alpha and beta live in float64 global workspaces
//     (B, T, S). loss = -logsumexp(alpha[tl-1, S-1], alpha[tl-1, S-2]). With a gradient, the
//     backward (beta) recursion runs the same way from t = tl - 1 down, then the block's
//     threads stride over the (t, c) pairs of its own sequence:
//        grad[t, c] = exp(lp[t, c]) - sum over s with ext s == c of
//                     exp(alpha[t, s] + beta[t, s] - lp[t, c] + loss)
//     (c == blank: the even s; else the odd s = 2k + 1 with labels[k] == c, in ascending s:
//     no atomics, deterministic). Frames t >= tl get 0; an infinite loss gives a zero gradient.
//     Lengths and labels are read on the device; a sequence whose values are out of range
//     gets NaN, and with a status array thread 0 of its block writes status[b] = 1 (a length
//     out of range) or 2 (a label out of range or the blank), else 0: the Python layer reads
//     their maximum once (one int per call) and raises the CPU path's error.
//
// ctc_greedy, 1 launch: ctc_greedy_kernel, one block per batch element; threads stride over
// the frames (argmax per frame into decoded[b, t], their maxima summed per thread), then after
// a __syncthreads thread 0 merges and compacts decoded[b, :] in place (kept entries move to
// the front, the rest become -1; a serial pass of T steps) and adds the per-thread partial
// sums in thread order (deterministic).
//
// ctc_pack, 1 launch: one thread per (b, j) of decoded (grid-stride) copies the kept entries to
// their place in the SparseTensor's values, given the running sums of the counts.
#include <math_constants.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/ctc_launchers.h"
#include "cuda/rowops.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;

__device__ __forceinline__ double ninf() { return -CUDART_INF; }

// log(exp(a) + exp(b)); -inf when both are -inf; NaN propagates.
__device__ __forceinline__ double lse(double a, double b) {
  if (a != a || b != b) return a + b;
  const double m = a > b ? a : b;
  if (m == ninf()) return m;
  return m + log1p(exp(-fabs(a - b)));
}

__device__ __forceinline__ int64_t load_idx(const void* p, bool i64, int64_t i) {
  return i64 ? static_cast<const int64_t*>(p)[i]
             : static_cast<int64_t>(static_cast<const int32_t*>(p)[i]);
}

// Source offset of logits[b, t, 0] in either layout.
__device__ __forceinline__ int64_t row_off(bool time_major, int64_t T, int64_t B, int64_t C,
                                           int64_t b, int64_t t) {
  return (time_major ? t * B + b : b * T + t) * C;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    ctc_log_softmax_kernel(const T* __restrict__ x, bool time_major, int64_t nT, int64_t B,
                           int64_t C, double* __restrict__ lp) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = nT * B;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
       r < rows; r += step) {  // r = b * nT + t (warp-uniform: whole warps loop together)
    const int64_t b = r / nT, t = r % nT;
    const T* row = x + row_off(time_major, nT, B, C, b, t);
    double m = ninf();
    for (int64_t c = lane; c < C; c += 32) {
      const double v = static_cast<double>(row[c]);
      m = (v > m || v != v) ? v : m;
    }
    m = warp_max(m);
    double s = 0.0;
    for (int64_t c = lane; c < C; c += 32) s += exp(static_cast<double>(row[c]) - m);
    s = warp_sum(s);
    const double lz = m + log(s);
    double* out = lp + r * C;
    for (int64_t c = lane; c < C; c += 32) out[c] = static_cast<double>(row[c]) - lz;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    ctc_alpha_beta_kernel(const double* __restrict__ lp_all, bool time_major, int64_t nT,
                          int64_t B, int64_t C, const void* labels_v, bool labels_i64,
                          int64_t lmax, const void* label_len, bool label_len_i64,
                          const void* logit_len, bool logit_len_i64, int64_t blank,
                          T* __restrict__ loss, T* __restrict__ grad,
                          double* __restrict__ alpha_all, double* __restrict__ beta_all,
                          int32_t* __restrict__ status) {
  __shared__ int bad;
  const int64_t b = blockIdx.x;
  const int64_t S_all = 2 * lmax + 1;
  const int64_t L = load_idx(label_len, label_len_i64, b);
  const int64_t tl = load_idx(logit_len, logit_len_i64, b);
  if (threadIdx.x == 0) bad = (L < 0 || L > lmax || tl < 0 || tl > nT) ? 1 : 0;
  __syncthreads();
  const int64_t* l64 = static_cast<const int64_t*>(labels_v) + b * lmax;
  const int32_t* l32 = static_cast<const int32_t*>(labels_v) + b * lmax;
  auto label = [&](int64_t k) -> int64_t {
    return labels_i64 ? l64[k] : static_cast<int64_t>(l32[k]);
  };
  if (!bad) {
    for (int64_t k = threadIdx.x; k < L; k += blockDim.x) {
      const int64_t v = label(k);
      if (v < 0 || v >= C || v == blank) bad = 2;  // the same value from every writer
    }
  }
  __syncthreads();
  if (status && threadIdx.x == 0) status[b] = bad;  // 0 ok, 1 a length, 2 a label
  // Gradient rows of b: frame t of sequence b in the logits' layout.
  auto grow = [&](int64_t t) { return grad + row_off(time_major, nT, B, C, b, t); };
  if (bad) {  // uniform over the block (shared flag read after the barrier)
    if (threadIdx.x == 0) loss[b] = T(CUDART_NAN);
    if (grad)
      for (int64_t i = threadIdx.x; i < nT * C; i += blockDim.x) grow(i / C)[i % C] = T(CUDART_NAN);
    return;
  }
  const int64_t S = 2 * L + 1;
  const double* lp = lp_all + b * nT * C;
  double* alpha = alpha_all + b * nT * S_all;
  double* beta = beta_all ? beta_all + b * nT * S_all : nullptr;
  auto ext = [&](int64_t s) -> int64_t { return (s & 1) ? label(s >> 1) : blank; };
  // s - 2 -> s is allowed onto a label that differs from the one two positions back.
  auto skip = [&](int64_t s) -> bool { return (s & 1) && s >= 2 && label(s >> 1) != label((s >> 1) - 1); };
  double ll = ninf();
  if (tl > 0) {
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x)
      alpha[s] = s < 2 ? lp[ext(s)] : ninf();
    for (int64_t t = 1; t < tl; ++t) {
      __syncthreads();
      const double* prev = alpha + (t - 1) * S_all;
      double* cur = alpha + t * S_all;
      for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
        double a = prev[s];
        if (s >= 1) a = lse(a, prev[s - 1]);
        if (skip(s)) a = lse(a, prev[s - 2]);
        cur[s] = a + lp[t * C + ext(s)];
      }
    }
    __syncthreads();
    const double* last = alpha + (tl - 1) * S_all;
    ll = S > 1 ? lse(last[S - 1], last[S - 2]) : last[0];
  } else {
    ll = S > 1 ? ninf() : 0.0;  // no frames: only the empty labelling is possible
  }
  const bool finite = ll > ninf() && ll < CUDART_INF;  // false for NaN too
  if (threadIdx.x == 0) loss[b] = finite ? T(0.0 - ll) : T(CUDART_INF);  // (+0, not -0)
  if (!grad) return;
  if (!finite || tl == 0) {
    for (int64_t i = threadIdx.x; i < nT * C; i += blockDim.x) grow(i / C)[i % C] = T(0);
    return;
  }
  // beta[t, s]: log p of the paths from (t, s) to the end, the emission at t included.
  for (int64_t s = threadIdx.x; s < S; s += blockDim.x)
    beta[(tl - 1) * S_all + s] = s >= S - 2 ? lp[(tl - 1) * C + ext(s)] : ninf();
  for (int64_t t = tl - 2; t >= 0; --t) {
    __syncthreads();
    const double* nxt = beta + (t + 1) * S_all;
    double* cur = beta + t * S_all;
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      double v = nxt[s];
      if (s + 1 < S) v = lse(v, nxt[s + 1]);
      if (s + 2 < S && skip(s + 2)) v = lse(v, nxt[s + 2]);
      cur[s] = v + lp[t * C + ext(s)];
    }
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < nT * C; i += blockDim.x) {
    const int64_t t = i / C, c = i % C;
    if (t >= tl) {
      grow(t)[c] = T(0);
      continue;
    }
    const double lpc = lp[t * C + c];
    const double* a = alpha + t * S_all;
    const double* be = beta + t * S_all;
    double occ = 0.0;
    if (c == blank) {
      for (int64_t s = 0; s < S; s += 2) occ += exp(a[s] + be[s] - lpc - ll);
    } else {
      for (int64_t k = 0; k < L; ++k)
        if (label(k) == c) occ += exp(a[2 * k + 1] + be[2 * k + 1] - lpc - ll);
    }
    grow(t)[c] = T(exp(lpc) - occ);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    ctc_greedy_kernel(const T* __restrict__ x, bool time_major, int64_t nT, int64_t B,
                      int64_t C, const void* seq_len, bool seq_len_i64, int64_t blank,
                      bool merge, int64_t* __restrict__ decoded, int64_t* __restrict__ count,
                      T* __restrict__ score) {
  __shared__ double part[kThreads];
  const int64_t b = blockIdx.x;
  int64_t n = load_idx(seq_len, seq_len_i64, b);
  n = n < 0 ? 0 : (n > nT ? nT : n);
  int64_t* out = decoded + b * nT;
  double sum = 0.0;
  for (int64_t t = threadIdx.x; t < nT; t += blockDim.x) {
    if (t >= n) {
      out[t] = -1;
      continue;
    }
    const T* row = x + row_off(time_major, nT, B, C, b, t);
    int64_t best = 0;
    T m = row[0];
    for (int64_t c = 1; c < C && m == m; ++c)  // first maximum; a NaN wins (as np.argmax)
      if (row[c] > m || row[c] != row[c]) {
        m = row[c];
        best = c;
      }
    out[t] = best;
    sum += static_cast<double>(m);
  }
  part[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int i = 0; i < static_cast<int>(blockDim.x); ++i) total += part[i];
  score[b] = T(-total);
  int64_t kept = 0, prev = -1;
  for (int64_t t = 0; t < n; ++t) {  // in place: kept <= t
    const int64_t k = out[t];
    if (k != blank && !(merge && k == prev)) out[kept++] = k;
    prev = k;
  }
  for (int64_t t = kept; t < n; ++t) out[t] = -1;
  count[b] = kept;
}

__global__ void __launch_bounds__(kThreads)
    ctc_pack_kernel(const int64_t* __restrict__ decoded, int64_t nT, int64_t B,
                    const int64_t* __restrict__ offsets, int64_t* __restrict__ values) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nT * B;
       i += step) {
    const int64_t b = i / nT, j = i % nT;
    if (j < offsets[b + 1] - offsets[b]) values[offsets[b] + j] = decoded[i];
  }
}

template <typename T>
void launch_loss(const void* logits, bool time_major, int64_t nT, int64_t B, int64_t C,
                 const void* labels, bool labels_i64, int64_t lmax, const void* label_len,
                 bool label_len_i64, const void* logit_len, bool logit_len_i64, int64_t blank,
                 void* loss, void* grad, double* lp, double* alpha, double* beta,
                 int32_t* status) {
  if (nT * C > 0) {
    ctc_log_softmax_kernel<T><<<grid_for(nT * B, kRowsPerBlock), kThreads, 0, stream()>>>(
        static_cast<const T*>(logits), time_major, nT, B, C, lp);
    NABI_CUDA_CHECK_LAUNCH("ctc_log_softmax_kernel");
  }
  ctc_alpha_beta_kernel<T><<<static_cast<unsigned>(B), kThreads, 0, stream()>>>(
      lp, time_major, nT, B, C, labels, labels_i64, lmax, label_len, label_len_i64, logit_len,
      logit_len_i64, blank, static_cast<T*>(loss), static_cast<T*>(grad), alpha,
      grad ? beta : nullptr, status);
  NABI_CUDA_CHECK_LAUNCH("ctc_alpha_beta_kernel");
}

}  // namespace

void ctc_loss(DType dtype, const void* logits, bool time_major, int64_t T, int64_t B, int64_t C,
              const void* labels, bool labels_i64, int64_t lmax, const void* label_length,
              bool label_length_i64, const void* logit_length, bool logit_length_i64,
              int64_t blank, void* loss, void* grad, double* lp, double* alpha, double* beta,
              int32_t* status) {
  if (B == 0) return;
  if (dtype == DType::Float32)
    return launch_loss<float>(logits, time_major, T, B, C, labels, labels_i64, lmax,
                              label_length, label_length_i64, logit_length, logit_length_i64,
                              blank, loss, grad, lp, alpha, beta, status);
  if (dtype == DType::Float64)
    return launch_loss<double>(logits, time_major, T, B, C, labels, labels_i64, lmax,
                               label_length, label_length_i64, logit_length, logit_length_i64,
                               blank, loss, grad, lp, alpha, beta, status);
  throw std::invalid_argument("[ctc_loss] logits must be float32 or float64");
}

void ctc_greedy(DType dtype, const void* x, bool time_major, int64_t T, int64_t B, int64_t C,
                const void* seq_len, bool seq_len_i64, int64_t blank, bool merge_repeated,
                int64_t* decoded, int64_t* count, void* score) {
  if (B == 0) return;
  auto go = [&](auto* tag) {
    using V = std::remove_pointer_t<decltype(tag)>;
    ctc_greedy_kernel<V><<<static_cast<unsigned>(B), kThreads, 0, stream()>>>(
        static_cast<const V*>(x), time_major, T, B, C, seq_len, seq_len_i64, blank,
        merge_repeated, decoded, count, static_cast<V*>(score));
    NABI_CUDA_CHECK_LAUNCH("ctc_greedy_kernel");
  };
  if (dtype == DType::Float32) return go(static_cast<float*>(nullptr));
  if (dtype == DType::Float64) return go(static_cast<double*>(nullptr));
  throw std::invalid_argument("[ctc_greedy] x must be float32 or float64");
}

void ctc_pack(const int64_t* decoded, int64_t T, int64_t B, const int64_t* offsets,
              int64_t* values) {
  if (T * B == 0) return;
  ctc_pack_kernel<<<grid_for(T * B, kThreads), kThreads, 0, stream()>>>(decoded, T, B, offsets,
                                                                         values);
  NABI_CUDA_CHECK_LAUNCH("ctc_pack_kernel");
}

}  // namespace nabi::cuda::nd
