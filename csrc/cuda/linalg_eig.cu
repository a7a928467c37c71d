// Dense factorizations (see linalg_eig_launchers.h), behind tf.linalg.qr / svd / eigh /
// eigvalsh on GPU tensors (and pinv, matrix_rank, lstsq(fast=False) built on svd).
//
// Blocking: one thread block per matrix (grid-stride over the batch), 32..256 threads by the
// matrix size; the matrix is factored in global memory (the output or a workspace), so there is
// no size limit from shared memory; shared memory holds only the block reductions (a tree
// over blockDim.x partial sums) and a pivot index. Every branch taken around a __syncthreads
// depends only on values all threads read after a barrier, so it is uniform in the block.
//
// qr_kernel (Householder, as LAPACK's dgeqr2 + dorg2r): for each column j < k = min(m, n),
//   thread 0 forms the reflector H_j = I - tau_j v v^T of w[j:, j] as dlarfg does (beta =
//   -sign(alpha) * ||(alpha, x)||, tau = (beta - alpha) / beta, v = (1, x / (alpha - beta));
//   tau = 0 when x = 0), with a max-scaled norm; then thread c applies H_j to column c > j.
//   So r's diagonal signs are NumPy's (LAPACK's). q = H_0 ... H_{k-1} [I]: thread c forms
//   column c of q by applying the reflectors to e_c (no barriers).
// eigh_kernel (cyclic Jacobi, Golub & Van Loan 8.5): the symmetric completion of the lower
//   triangle, scaled by 1 / max|a|, is swept pair by pair (p < q in row order); a pair with
//   |a_pq| > eps * ||A||_F is zeroed by the rotation t = sign(theta) / (|theta| +
//   hypot(1, theta)), theta = (a_qq - a_pp) / (2 a_pq): thread k updates rows/columns p, q at
//   position k and row k of v. Stops after a sweep with no rotation (at most 40 sweeps; the
//   convergence is quadratic, 5-10 sweeps in practice). Then a selection sort (ascending)
//   swaps eigenvalues and columns of v. Eigenvector signs are whatever the rotations give
//   (LAPACK's are arbitrary as well).
// svd_kernel (one-sided Jacobi, Hestenes / Demmel & Veselic): W = a (or a^T when m < n, so W is
//   R x C with R >= C), scaled by 1 / max|a|; each pair of columns (p, q) with |w_p . w_q| >
//   eps * ||w_p|| ||w_q|| is rotated to be orthogonal (the same rotation, from the 2x2 Gram
//   matrix; alpha, beta, gamma by one block reduction), and the rotations accumulate in
//   J (C x C, only when vectors are wanted). Stops after a sweep with no rotation (at most 40).
//   s_j = ||w_j|| (sorted descending with the columns); W's columns divided by s_j are the
//   left vectors (of a, or the right ones when transposed) and J holds the others. Columns
//   with s_j <= eps * s_max, and the extra columns of full_matrices, are an orthonormal
//   completion: unit vectors e_i orthogonalised twice against the earlier columns (modified
//   Gram-Schmidt), the first with a residual^2 > 0.5 / R taken.
// solve_upper_kernel: x = b r^-T (back substitution) or x = b r^-1 (forward), one thread per
//   row of b (the QR gradient and its own gradient).
//
// A NaN or an infinity in a matrix makes all of its eigh / svd results NaN (LAPACK fails or
// returns NaN there); in qr it spreads through the reflectors as in LAPACK.
// Accuracy: eigenvalues and singular values to about n * eps * ||a||_2 (eps of the dtype, the
// arithmetic is in the dtype); reconstruction and orthogonality residuals of the same order.
// The binding limits the Jacobi dimension (n, min(m, n)) to kLinalgMaxJacobiDim.
// Launches: 1 per call (none for empty work).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/linalg_eig_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kMaxThreads = 256;
constexpr int kMaxSweeps = 40;

__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double d_abs(double x) { return fabs(x); }
__device__ __forceinline__ float d_hypot(float x, float y) { return hypotf(x, y); }
__device__ __forceinline__ double d_hypot(double x, double y) { return hypot(x, y); }
__device__ __forceinline__ float d_copysign(float x, float y) { return copysignf(x, y); }
__device__ __forceinline__ double d_copysign(double x, double y) { return copysign(x, y); }
template <typename T>
__device__ __forceinline__ T d_eps() {
  return sizeof(T) == 4 ? T(1.1920928955078125e-07) : T(2.220446049250313e-16);
}

// max|x| so far, +inf once a NaN or an infinity is seen (so the block max tells "not finite").
template <typename T>
__device__ __forceinline__ T max_abs(T mx, T x) {
  const T ax = d_abs(x);
  if (ax <= mx) return mx;
  return ax == ax ? ax : T(INFINITY);
}

// Sums (or maxima) of K per-thread values over the block; every thread gets the totals.
// Barriers: 2 + log2(blockDim.x); blockDim.x is a power of two.
template <typename T, int K, bool kMax>
__device__ void block_reduce(T (*red)[kMaxThreads], T* vals) {
  const int tid = threadIdx.x;
  for (int c = 0; c < K; ++c) red[c][tid] = vals[c];
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s)
      for (int c = 0; c < K; ++c) {
        const T o = red[c][tid + s];
        red[c][tid] = kMax ? (o > red[c][tid] ? o : red[c][tid]) : red[c][tid] + o;
      }
    __syncthreads();
  }
  for (int c = 0; c < K; ++c) vals[c] = red[c][0];
  __syncthreads();
}

// The rotation (c, s, t) that zeroes the off-diagonal of [[app, apq], [apq, aqq]].
template <typename T>
__device__ __forceinline__ void jacobi_rotation(T app, T aqq, T apq, T* c, T* s, T* t) {
  const T theta = (aqq - app) / (T(2) * apq);
  T tt = T(1) / (d_abs(theta) + d_hypot(T(1), theta));
  if (theta < T(0)) tt = -tt;
  *c = T(1) / d_sqrt(T(1) + tt * tt);
  *s = tt * *c;
  *t = tt;
}

// ---------------------------------------------------------------- QR
template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    qr_kernel(const T* __restrict__ a,  // [batch, m, n]
              T* __restrict__ q,        // [batch, m, qc]
              T* __restrict__ r,        // [batch, rr, n]
              T* __restrict__ work,     // [batch, m * n + k]
              int64_t batch, int64_t m, int64_t n, int64_t qc, int64_t rr) {
  const int tid = threadIdx.x, nt = blockDim.x;
  const int64_t k = m < n ? m : n;
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    const T* ab = a + b * m * n;
    T* w = work + b * (m * n + k);
    T* tau = w + m * n;
    for (int64_t t = tid; t < m * n; t += nt) w[t] = ab[t];
    __syncthreads();
    for (int64_t j = 0; j < k; ++j) {
      if (tid == 0) {  // the reflector of w[j:, j] (LAPACK's dlarfg)
        const T alpha = w[j * n + j];
        T mx = T(0);
        for (int64_t i = j + 1; i < m; ++i) {
          const T x = d_abs(w[i * n + j]);
          if (mx == mx && !(x <= mx)) mx = x;  // a NaN sticks (and spreads through tau)
        }
        T tj = T(0);
        if (!(mx <= T(0))) {
          T ss = T(0);
          for (int64_t i = j + 1; i < m; ++i) {
            const T y = w[i * n + j] / mx;
            ss += y * y;
          }
          const T beta = -d_copysign(d_hypot(alpha, mx * d_sqrt(ss)), alpha);
          tj = (beta - alpha) / beta;
          const T sc = T(1) / (alpha - beta);
          for (int64_t i = j + 1; i < m; ++i) w[i * n + j] *= sc;
          w[j * n + j] = beta;
        }
        tau[j] = tj;
      }
      __syncthreads();
      const T tj = tau[j];
      if (tj != T(0)) {
        for (int64_t c = j + 1 + tid; c < n; c += nt) {  // H_j applied to column c
          T s = w[j * n + c];
          for (int64_t i = j + 1; i < m; ++i) s += w[i * n + j] * w[i * n + c];
          s *= tj;
          w[j * n + c] -= s;
          for (int64_t i = j + 1; i < m; ++i) w[i * n + c] -= s * w[i * n + j];
        }
      }
      __syncthreads();
    }
    T* qb = q + b * m * qc;
    for (int64_t c = tid; c < qc; c += nt) {  // column c of H_0 ... H_{k-1} [I]
      for (int64_t i = 0; i < m; ++i) qb[i * qc + c] = i == c ? T(1) : T(0);
      for (int64_t j = k - 1; j >= 0; --j) {
        const T tj = tau[j];
        if (tj == T(0)) continue;
        T s = qb[j * qc + c];
        for (int64_t i = j + 1; i < m; ++i) s += w[i * n + j] * qb[i * qc + c];
        s *= tj;
        qb[j * qc + c] -= s;
        for (int64_t i = j + 1; i < m; ++i) qb[i * qc + c] -= s * w[i * n + j];
      }
    }
    T* rb = r + b * rr * n;
    for (int64_t t = tid; t < rr * n; t += nt) {
      const int64_t i = t / n, c = t - i * n;
      rb[t] = (i <= c && i < k) ? w[i * n + c] : T(0);
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------------- eigh
template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    eigh_kernel(const T* __restrict__ a,  // [batch, n, n], lower triangle read
                T* __restrict__ e,        // [batch, n]
                T* __restrict__ v,        // [batch, n, n] or nullptr
                T* __restrict__ work,     // [batch, n, n]
                int64_t batch, int64_t n) {
  __shared__ T red[1][kMaxThreads];
  __shared__ int64_t s_idx;
  const int tid = threadIdx.x, nt = blockDim.x;
  const int64_t nn = n * n;
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    const T* ab = a + b * nn;
    T* w = work + b * nn;
    T* vb = v ? v + b * nn : nullptr;
    T mx = T(0);
    for (int64_t t = tid; t < nn; t += nt) {
      const int64_t i = t / n, j = t - i * n;
      const T x = i >= j ? ab[t] : ab[j * n + i];
      w[t] = x;
      mx = max_abs(mx, x);
      if (vb) vb[t] = i == j ? T(1) : T(0);
    }
    block_reduce<T, 1, true>(red, &mx);
    if (mx == T(INFINITY)) {  // a NaN or an infinity: NaN results (LAPACK fails or gives NaN)
      for (int64_t t = tid; t < nn; t += nt)
        if (vb) vb[t] = T(NAN);
      for (int64_t i = tid; i < n; i += nt) e[b * n + i] = T(NAN);
      __syncthreads();
      continue;
    }
    const T scale = mx > T(0) ? mx : T(1);
    T fro = T(0);
    for (int64_t t = tid; t < nn; t += nt) {
      w[t] /= scale;
      fro += w[t] * w[t];
    }
    block_reduce<T, 1, false>(red, &fro);  // (its barriers also publish the scaled w)
    const T tol = d_eps<T>() * d_sqrt(fro);
    for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
      bool rotated = false;
      for (int64_t p = 0; p + 1 < n; ++p) {
        for (int64_t q = p + 1; q < n; ++q) {
          const T apq = w[p * n + q], app = w[p * n + p], aqq = w[q * n + q];
          __syncthreads();  // all have read the pair before it changes
          if (!(d_abs(apq) > tol)) continue;
          rotated = true;
          T c, s, t;
          jacobi_rotation(app, aqq, apq, &c, &s, &t);
          for (int64_t k = tid; k < n; k += nt) {
            if (k == p || k == q) continue;
            const T akp = w[k * n + p], akq = w[k * n + q];
            const T np = c * akp - s * akq, nq = s * akp + c * akq;
            w[k * n + p] = np;
            w[p * n + k] = np;
            w[k * n + q] = nq;
            w[q * n + k] = nq;
          }
          if (tid == 0) {
            w[p * n + p] = app - t * apq;
            w[q * n + q] = aqq + t * apq;
            w[p * n + q] = T(0);
            w[q * n + p] = T(0);
          }
          if (vb)
            for (int64_t k = tid; k < n; k += nt) {
              const T vp = vb[k * n + p], vq = vb[k * n + q];
              vb[k * n + p] = c * vp - s * vq;
              vb[k * n + q] = s * vp + c * vq;
            }
          __syncthreads();
        }
      }
      if (!rotated) break;
    }
    for (int64_t i = 0; i < n; ++i) {  // selection sort, ascending
      if (tid == 0) {
        int64_t best = i;
        for (int64_t j = i + 1; j < n; ++j)
          if (w[j * n + j] < w[best * n + best]) best = j;
        s_idx = best;
      }
      __syncthreads();
      const int64_t j = s_idx;
      if (j != i) {
        if (vb)
          for (int64_t k = tid; k < n; k += nt) {
            const T x = vb[k * n + i];
            vb[k * n + i] = vb[k * n + j];
            vb[k * n + j] = x;
          }
        if (tid == 0) {
          const T x = w[i * n + i];
          w[i * n + i] = w[j * n + j];
          w[j * n + j] = x;
        }
      }
      __syncthreads();
    }
    for (int64_t i = tid; i < n; i += nt) e[b * n + i] = w[i * n + i] * scale;
    __syncthreads();
  }
}

// ---------------------------------------------------------------- SVD
template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    svd_kernel(const T* __restrict__ a,  // [batch, m, n]
               T* __restrict__ s,        // [batch, C]
               T* __restrict__ wall,     // [batch, R, ldw]: u (m >= n), v (m < n) or work
               T* __restrict__ jall,     // [batch, C, C]: v (m >= n), u (m < n) or nullptr
               int64_t batch, int64_t m, int64_t n, bool trans, int64_t ldw, bool vectors) {
  __shared__ T red[3][kMaxThreads];
  __shared__ int64_t s_idx;
  const int tid = threadIdx.x, nt = blockDim.x;
  const int64_t R = trans ? n : m, C = trans ? m : n;
  const T eps = d_eps<T>();
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    const T* ab = a + b * m * n;
    T* w = wall + b * R * ldw;
    T* jm = vectors && C ? jall + b * C * C : nullptr;
    T* sb = s + b * C;
    // Thread tid owns rows tid, tid + nt, ... of W and of J from here on.
    T mx = T(0);
    for (int64_t i = tid; i < R; i += nt)
      for (int64_t j = 0; j < C; ++j) {
        const T x = trans ? ab[j * n + i] : ab[i * n + j];
        w[i * ldw + j] = x;
        mx = max_abs(mx, x);
      }
    if (jm)
      for (int64_t i = tid; i < C; i += nt)
        for (int64_t j = 0; j < C; ++j) jm[i * C + j] = i == j ? T(1) : T(0);
    block_reduce<T, 1, true>(red, &mx);
    if (mx == T(INFINITY)) {  // a NaN or an infinity: NaN results
      for (int64_t i = tid; i < R; i += nt)
        for (int64_t j = 0; j < ldw; ++j) w[i * ldw + j] = T(NAN);
      if (jm)
        for (int64_t i = tid; i < C; i += nt)
          for (int64_t j = 0; j < C; ++j) jm[i * C + j] = T(NAN);
      for (int64_t j = tid; j < C; j += nt) sb[j] = T(NAN);
      __syncthreads();
      continue;
    }
    const T scale = mx > T(0) ? mx : T(1);
    for (int64_t i = tid; i < R; i += nt)
      for (int64_t j = 0; j < C; ++j) w[i * ldw + j] /= scale;
    for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
      bool rotated = false;
      for (int64_t p = 0; p + 1 < C; ++p) {
        for (int64_t q = p + 1; q < C; ++q) {
          T g[3] = {T(0), T(0), T(0)};  // alpha, beta, gamma
          for (int64_t i = tid; i < R; i += nt) {
            const T wp = w[i * ldw + p], wq = w[i * ldw + q];
            g[0] += wp * wp;
            g[1] += wq * wq;
            g[2] += wp * wq;
          }
          block_reduce<T, 3, false>(red, g);
          if (!(d_abs(g[2]) > eps * d_sqrt(g[0]) * d_sqrt(g[1]))) continue;
          rotated = true;
          T c, sn, t;
          jacobi_rotation(g[0], g[1], g[2], &c, &sn, &t);
          for (int64_t i = tid; i < R; i += nt) {
            const T wp = w[i * ldw + p], wq = w[i * ldw + q];
            w[i * ldw + p] = c * wp - sn * wq;
            w[i * ldw + q] = sn * wp + c * wq;
          }
          if (jm)
            for (int64_t i = tid; i < C; i += nt) {
              const T jp = jm[i * C + p], jq = jm[i * C + q];
              jm[i * C + p] = c * jp - sn * jq;
              jm[i * C + q] = sn * jp + c * jq;
            }
        }
      }
      if (!rotated) break;
    }
    __syncthreads();
    for (int64_t j = tid; j < C; j += nt) {  // column norms
      T ss = T(0);
      for (int64_t i = 0; i < R; ++i) ss += w[i * ldw + j] * w[i * ldw + j];
      sb[j] = d_sqrt(ss);
    }
    __syncthreads();
    for (int64_t i = 0; i < C; ++i) {  // selection sort, descending
      if (tid == 0) {
        int64_t best = i;
        for (int64_t j = i + 1; j < C; ++j)
          if (sb[j] > sb[best]) best = j;
        s_idx = best;
      }
      __syncthreads();
      const int64_t j = s_idx;
      if (j != i) {
        for (int64_t r = tid; r < R; r += nt) {
          const T x = w[r * ldw + i];
          w[r * ldw + i] = w[r * ldw + j];
          w[r * ldw + j] = x;
        }
        if (jm)
          for (int64_t r = tid; r < C; r += nt) {
            const T x = jm[r * C + i];
            jm[r * C + i] = jm[r * C + j];
            jm[r * C + j] = x;
          }
        if (tid == 0) {
          const T x = sb[i];
          sb[i] = sb[j];
          sb[j] = x;
        }
      }
      __syncthreads();
    }
    if (vectors) {  // (also with C == 0: full_matrices then asks for a whole basis)
      const T thr = C ? eps * sb[0] : T(0);
      int64_t kk = 0;
      while (kk < C && sb[kk] > thr) ++kk;
      for (int64_t i = tid; i < R; i += nt)
        for (int64_t j = 0; j < kk; ++j) w[i * ldw + j] /= sb[j];
      for (int64_t c = kk; c < ldw; ++c) {  // orthonormal completion
        for (int64_t tries = 0; tries < R; ++tries) {
          const int64_t cand = (c + tries) % R;
          for (int64_t i = tid; i < R; i += nt) w[i * ldw + c] = i == cand ? T(1) : T(0);
          for (int pass = 0; pass < 2; ++pass)
            for (int64_t p = 0; p < c; ++p) {
              T d = T(0);
              for (int64_t i = tid; i < R; i += nt) d += w[i * ldw + p] * w[i * ldw + c];
              block_reduce<T, 1, false>(red, &d);
              for (int64_t i = tid; i < R; i += nt) w[i * ldw + c] -= d * w[i * ldw + p];
            }
          T nrm = T(0);
          for (int64_t i = tid; i < R; i += nt) nrm += w[i * ldw + c] * w[i * ldw + c];
          block_reduce<T, 1, false>(red, &nrm);
          if (nrm > T(0.5) / T(R)) {
            const T inv = T(1) / d_sqrt(nrm);
            for (int64_t i = tid; i < R; i += nt) w[i * ldw + c] *= inv;
            break;
          }
        }
      }
    }
    __syncthreads();  // all have read s before it is rescaled
    for (int64_t j = tid; j < C; j += nt) sb[j] *= scale;
    __syncthreads();
  }
}

// ---------------------------------------------------------------- x = b r^-T or b r^-1
template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    solve_upper_kernel(const T* __restrict__ r,   // [batch, n, n]
                       const T* __restrict__ bm,  // [batch, m, n]
                       T* __restrict__ x,         // [batch, m, n]
                       int64_t m, int64_t n, int64_t rows, bool trans) {
  const int64_t grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < rows;
       g += grid) {
    const T* rb = r + (g / m) * n * n;
    const T* brow = bm + g * n;
    T* xrow = x + g * n;
    if (trans) {  // x r^T = b: back substitution
      for (int64_t j = n - 1; j >= 0; --j) {
        T acc = brow[j];
        for (int64_t l = j + 1; l < n; ++l) acc -= rb[j * n + l] * xrow[l];
        xrow[j] = acc / rb[j * n + j];
      }
    } else {  // x r = b: forward substitution
      for (int64_t l = 0; l < n; ++l) {
        T acc = brow[l];
        for (int64_t j = 0; j < l; ++j) acc -= xrow[j] * rb[j * n + l];
        xrow[l] = acc / rb[l * n + l];
      }
    }
  }
}

int threads_for(int64_t width) {
  return width <= 32 ? 32 : width <= 64 ? 64 : width <= 128 ? 128 : kMaxThreads;
}

unsigned blocks_for(int64_t batch) { return grid_for(batch, 1, 65535); }

template <typename F>
void by_float(const char* op, DType dtype, F&& go) {
  if (dtype == DType::Float32) return go(static_cast<float*>(nullptr));
  if (dtype == DType::Float64) return go(static_cast<double*>(nullptr));
  throw std::invalid_argument(std::string("[") + op + "] dtype must be float32 or float64");
}

}  // namespace

void linalg_qr(DType dtype, const void* a, int64_t batch, int64_t m, int64_t n, bool full,
               void* q, void* r, void* work) {
  const int64_t k = m < n ? m : n;
  const int64_t qc = full ? m : k;
  if (batch == 0 || m == 0) return;
  by_float("qr", dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    qr_kernel<T><<<blocks_for(batch), threads_for(n > qc ? n : qc), 0, stream()>>>(
        static_cast<const T*>(a), static_cast<T*>(q), static_cast<T*>(r),
        static_cast<T*>(work), batch, m, n, qc, qc);
    NABI_CUDA_CHECK_LAUNCH("qr_kernel");
  });
}

void linalg_eigh(DType dtype, const void* a, int64_t batch, int64_t n, void* e, void* v,
                 void* work) {
  if (batch == 0 || n == 0) return;
  by_float("eigh", dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    eigh_kernel<T><<<blocks_for(batch), threads_for(n), 0, stream()>>>(
        static_cast<const T*>(a), static_cast<T*>(e), static_cast<T*>(v),
        static_cast<T*>(work), batch, n);
    NABI_CUDA_CHECK_LAUNCH("eigh_kernel");
  });
}

void linalg_svd(DType dtype, const void* a, int64_t batch, int64_t m, int64_t n, bool full,
                void* s, void* u, void* v, void* work) {
  const bool trans = m < n;
  const int64_t R = trans ? n : m, C = trans ? m : n;
  if (batch == 0 || R == 0) return;
  const bool vectors = u != nullptr || v != nullptr;  // (an empty u or v may be null)
  void* wbuf = vectors ? (trans ? v : u) : work;
  void* jbuf = vectors ? (trans ? u : v) : nullptr;
  const int64_t ldw = vectors && full ? R : C;
  if (ldw == 0) return;
  by_float("svd", dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    svd_kernel<T><<<blocks_for(batch), threads_for(R), 0, stream()>>>(
        static_cast<const T*>(a), static_cast<T*>(s), static_cast<T*>(wbuf),
        static_cast<T*>(jbuf), batch, m, n, trans, ldw, vectors);
    NABI_CUDA_CHECK_LAUNCH("svd_kernel");
  });
}

void linalg_solve_upper(DType dtype, const void* r, const void* b, int64_t batch, int64_t m,
                        int64_t n, bool trans, void* x) {
  const int64_t rows = batch * m;
  if (rows == 0 || n == 0) return;
  by_float("linalg_solve_upper", dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    solve_upper_kernel<T><<<grid_for(rows, 128), 128, 0, stream()>>>(
        static_cast<const T*>(r), static_cast<const T*>(b), static_cast<T*>(x), m, n, rows,
        trans);
    NABI_CUDA_CHECK_LAUNCH("solve_upper_kernel");
  });
}

}  // namespace nabi::cuda::nd
