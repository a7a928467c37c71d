// Dense LU / Cholesky / triangular solves (see linalg_launchers.h), behind tf.linalg's
// cholesky, triangular_solve, cholesky_solve, solve, inv, det, slogdet, logdet, lu, lu_solve,
// lu_matrix_inverse and lu_reconstruct on GPU tensors.
//
// Blocking: one thread block (kThreads = 256 threads) per matrix of the batch for the
// factorizations, working in place in global memory (the output buffer), with __syncthreads
// between the steps of the elimination:
//   lu_factor_kernel   right-looking Doolittle with partial pivoting: per column k a block
//                      arg-max of |lu[k:, k]| (shared-memory tree; LAPACK's rule: the first
//                      largest, NaN first), the row swap, the multipliers, then the rank-1
//                      update of the trailing (n-k-1)^2 block (a warp per row, its lanes
//                      along the row: coalesced), its products unfused: the same
//                      rounding as the host path's NumPy elimination, so the same lu and p.
//   cholesky_kernel    right-looking: pivot sqrt, column scale, rank-1 update of the trailing
//                      lower triangle (a warp per row). A pivot that is not > 0 stops the
//                      matrix (info).
//   lu_adjugate_kernel adj(U) (U^-1 by columns, or the rank-1 null-vector form for one zero
//                      pivot), then times L^-1 by rows, then the permutation.
// The solves (lu_solve_kernel, tri_solve_kernel) give each thread one right-hand-side column
// (grid: batch x min(ceil(k / 256), 65535), striding beyond) and run the substitution down
// that column: the matrix entry of a step is the same for every thread of the block (a
// broadcast load), the column entries are coalesced across threads.
// Limits / performance: O(n^3) work per matrix on one SM with ~12 barriers per column (the
// arg-max tree; Cholesky 3), so it suits the small-to-medium matrices of tf.linalg in models
// (n up to a few hundred: n = 256 is ~17M multiply-adds per block); a large single matrix
// would want a blocked multi-SM factorization (not done). Batches fill the GPU one matrix per
// block (at most 2^31 - 1 matrices). A solve with k = 1 runs one thread per matrix (n^2 serial
// steps). Sizes: n * n and n * k must fit in int64.
// Launches: lu_factor 1, cholesky 1, lu_solve 1, triangular_solve 1 (+1 for the zero count),
// det / slogdet 1, adjugate 1, perm_inverse 1 (+ a memset), permute_rows 1.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/linalg_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

template <typename P>
__device__ __forceinline__ int64_t pidx(const P* p, int64_t i) {
  return static_cast<int64_t>(p[i]);
}

// A product rounded on its own (never fused into an FMA with the following subtraction), so
// that the LU update rounds as the host path's NumPy elimination does: tf.linalg.lu then gives
// the same factors and pivots on the GPU as on the CPU, bit for bit. (The host simulator's
// g++ build for baseline x86-64 has no FMA to contract into.)
#if defined(NABI_CUDA_SIM)
__device__ __forceinline__ float mul_rn(float a, float b) { return a * b; }
__device__ __forceinline__ double mul_rn(double a, double b) { return a * b; }
#else
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
#endif

// Is (v, i) a better pivot than (bv, bi)? |values|; NaN beats numbers; the first on ties.
template <typename T>
__device__ __forceinline__ bool better(T v, int64_t i, T bv, int64_t bi) {
  if (bi < 0) return i >= 0;
  if (i < 0) return false;
  const bool vn = v != v, bn = bv != bv;
  if (bn) return vn && i < bi;
  if (vn) return true;
  return v > bv || (v == bv && i < bi);
}

template <typename T, typename P>
__global__ void __launch_bounds__(kThreads)
    lu_factor_kernel(const T* __restrict__ a, int64_t n, T* __restrict__ lu_all,
                     P* __restrict__ perm_all, T* __restrict__ sign, int32_t* __restrict__ zeros,
                     int32_t* __restrict__ pivots) {
  __shared__ T sval[kThreads];
  __shared__ int64_t sidx[kThreads];
  const int64_t b = blockIdx.x;
  const int tid = threadIdx.x;
  const int nt = blockDim.x;
  const int warp = tid / 32, lane = tid % 32, nwarps = nt / 32;
  T* lu = lu_all + b * n * n;
  P* perm = perm_all + b * n;
  for (int64_t e = tid; e < n * n; e += nt) lu[e] = a[b * n * n + e];
  for (int64_t i = tid; i < n; i += nt) perm[i] = static_cast<P>(i);
  int swaps = 0, nzero = 0;  // (kept by every thread alike)
  __syncthreads();
  for (int64_t k = 0; k < n; ++k) {
    T bv = T(0);
    int64_t bi = -1;
    for (int64_t r = k + tid; r < n; r += nt) {
      const T v = fabs(lu[r * n + k]);
      if (better(v, r, bv, bi)) { bv = v; bi = r; }
    }
    sval[tid] = bv;
    sidx[tid] = bi;
    __syncthreads();
    for (int s = nt / 2; s > 0; s >>= 1) {
      if (tid < s && better(sval[tid + s], sidx[tid + s], sval[tid], sidx[tid])) {
        sval[tid] = sval[tid + s];
        sidx[tid] = sidx[tid + s];
      }
      __syncthreads();
    }
    const int64_t p = sidx[0];
    __syncthreads();  // everyone has p before sidx is reused
    if (pivots && tid == 0) pivots[b * n + k] = static_cast<int32_t>(p);
    if (p != k) {
      for (int64_t c = tid; c < n; c += nt) {
        const T t = lu[k * n + c];
        lu[k * n + c] = lu[p * n + c];
        lu[p * n + c] = t;
      }
      if (tid == 0) {
        const P t = perm[k];
        perm[k] = perm[p];
        perm[p] = t;
      }
      ++swaps;
      __syncthreads();
    }
    const T d = lu[k * n + k];
    if (d == T(0)) ++nzero;
    const T div = d == T(0) ? T(1) : d;
    for (int64_t r = k + 1 + tid; r < n; r += nt) lu[r * n + k] /= div;
    __syncthreads();
    for (int64_t r = k + 1 + warp; r < n; r += nwarps) {  // a warp per row: coalesced
      const T mult = lu[r * n + k];
      for (int64_t c = k + 1 + lane; c < n; c += 32)
        lu[r * n + c] = lu[r * n + c] - mul_rn(mult, lu[k * n + c]);
    }
    __syncthreads();
  }
  if (tid == 0) {
    if (sign) sign[b] = (swaps & 1) ? T(-1) : T(1);
    if (zeros) zeros[b] = nzero;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    cholesky_kernel(const T* __restrict__ a, int64_t n, T* __restrict__ l_all,
                    int32_t* __restrict__ info) {
  const int64_t b = blockIdx.x;
  const int tid = threadIdx.x;
  const int nt = blockDim.x;
  const int warp = tid / 32, lane = tid % 32, nwarps = nt / 32;
  T* l = l_all + b * n * n;
  for (int64_t e = tid; e < n * n; e += nt) {
    const int64_t r = e / n, c = e % n;
    l[e] = c <= r ? a[b * n * n + e] : T(0);
  }
  if (tid == 0) info[b] = 0;
  __syncthreads();
  for (int64_t k = 0; k < n; ++k) {
    const T d = l[k * n + k];
    if (!(d > T(0))) {  // the same value in every thread: a uniform exit
      if (tid == 0) info[b] = static_cast<int32_t>(k + 1);
      return;
    }
    const T s = sqrt(d);
    __syncthreads();  // everyone has read d before it is overwritten
    if (tid == 0) l[k * n + k] = s;
    for (int64_t r = k + 1 + tid; r < n; r += nt) l[r * n + k] /= s;
    __syncthreads();
    for (int64_t r = k + 1 + warp; r < n; r += nwarps) {  // a warp per row
      const T lr = l[r * n + k];
      for (int64_t c = k + 1 + lane; c <= r; c += 32) l[r * n + c] -= lr * l[c * n + k];
    }
    __syncthreads();
  }
}

// One thread per right-hand-side column j of matrix b (blockIdx.x): blockIdx.y * 256 + tid = j,
// striding by gridDim.y * 256 (grid.y is capped at 65535).
template <typename T, typename P>
__global__ void __launch_bounds__(kThreads)
    lu_solve_kernel(const T* __restrict__ lu_all, const P* __restrict__ perm_all,
                    const T* __restrict__ b_all, int64_t n, int64_t k, bool adjoint,
                    T* __restrict__ x_all) {
  const int64_t b = blockIdx.x;
  const int64_t jstep = static_cast<int64_t>(gridDim.y) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; j < k;
       j += jstep) {
    const T* lu = lu_all + b * n * n;
    const P* perm = perm_all + b * n;
    const T* rhs = b_all ? b_all + b * n * k : nullptr;
    T* x = x_all + b * n * k;
    auto bval = [&](int64_t i) -> T { return rhs ? rhs[i * k + j] : (i == j ? T(1) : T(0)); };
    if (!adjoint) {
      // L y = b[perm]  (unit lower), then U x = y; y and x share x's column.
      for (int64_t i = 0; i < n; ++i) {
        T s = bval(pidx(perm, i));
        for (int64_t m = 0; m < i; ++m) s -= lu[i * n + m] * x[m * k + j];
        x[i * k + j] = s;
      }
      for (int64_t i = n - 1; i >= 0; --i) {
        T s = x[i * k + j];
        for (int64_t m = i + 1; m < n; ++m) s -= lu[i * n + m] * x[m * k + j];
        x[i * k + j] = s / lu[i * n + i];
      }
    } else {
      // A^T = U^T L^T P: U^T z = b, L^T w = z, x[perm[i]] = w[i]; z_i and w_i live at row perm[i].
      for (int64_t i = 0; i < n; ++i) {
        T s = bval(i);
        for (int64_t m = 0; m < i; ++m) s -= lu[m * n + i] * x[pidx(perm, m) * k + j];
        x[pidx(perm, i) * k + j] = s / lu[i * n + i];
      }
      for (int64_t i = n - 1; i >= 0; --i) {
        T s = x[pidx(perm, i) * k + j];
        for (int64_t m = i + 1; m < n; ++m) s -= lu[m * n + i] * x[pidx(perm, m) * k + j];
        x[pidx(perm, i) * k + j] = s;
      }
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    tri_solve_kernel(const T* __restrict__ t_all, const T* __restrict__ b_all, int64_t n,
                     int64_t k, bool lower, bool adjoint, bool unit, T* __restrict__ x_all) {
  const int64_t b = blockIdx.x;
  const int64_t jstep = static_cast<int64_t>(gridDim.y) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; j < k;
       j += jstep) {
    const T* t = t_all + b * n * n;
    const T* rhs = b_all + b * n * k;
    T* x = x_all + b * n * k;
    // op(T)[i, m] = T[m, i] when adjoint; op(T) is lower when lower != adjoint.
    const int64_t si = adjoint ? 1 : n, sm = adjoint ? n : 1;
    if (lower != adjoint) {
      for (int64_t i = 0; i < n; ++i) {
        T s = rhs[i * k + j];
        for (int64_t m = 0; m < i; ++m) s -= t[i * si + m * sm] * x[m * k + j];
        x[i * k + j] = unit ? s : s / t[i * n + i];
      }
    } else {
      for (int64_t i = n - 1; i >= 0; --i) {
        T s = rhs[i * k + j];
        for (int64_t m = i + 1; m < n; ++m) s -= t[i * si + m * sm] * x[m * k + j];
        x[i * k + j] = unit ? s : s / t[i * n + i];
      }
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    diag_zeros_kernel(const T* __restrict__ t_all, int64_t batch, int64_t n,
                      int32_t* __restrict__ zeros) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < batch;
       b += step) {
    int32_t z = 0;
    for (int64_t i = 0; i < n; ++i) z += t_all[b * n * n + i * n + i] == T(0);
    zeros[b] = z;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    det_kernel(const T* __restrict__ lu_all, const T* __restrict__ sign, int64_t batch,
               int64_t n, T* __restrict__ det, T* __restrict__ logabs) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < batch;
       b += step) {
    const T* lu = lu_all + b * n * n;
    T s = sign[b];
    if (!logabs) {  // det: the product of the pivots
      for (int64_t i = 0; i < n; ++i) s *= lu[i * n + i];
      det[b] = s;
      continue;
    }
    T la = T(0);
    for (int64_t i = 0; i < n; ++i) {
      const T u = lu[i * n + i];
      if (u < T(0)) s = -s;
      else if (u == T(0)) s = T(0);
      la += log(fabs(u));
    }
    det[b] = s;
    logabs[b] = la;
  }
}

template <typename T, typename P>
__global__ void __launch_bounds__(kThreads)
    lu_adjugate_kernel(const T* __restrict__ lu_all, const P* __restrict__ perm_all,
                       const T* __restrict__ sign, int64_t n, T* __restrict__ scratch,
                       T* __restrict__ out_all) {
  const int64_t b = blockIdx.x;
  const int tid = threadIdx.x;
  const int nt = blockDim.x;
  const T* lu = lu_all + b * n * n;
  const P* perm = perm_all + b * n;
  T* w = scratch + b * n * (n + 2);
  T* xv = w + n * n;  // the null vectors (one zero pivot)
  T* yv = xv + n;
  T* out = out_all + b * n * n;
  int64_t nz = 0, kz = -1;
  T c = T(1);
  for (int64_t i = 0; i < n; ++i) {  // (every thread alike)
    const T u = lu[i * n + i];
    if (u == T(0)) { ++nz; if (kz < 0) kz = i; }
    else c *= u;
  }
  if (nz >= 2) {  // rank <= n - 2: the adjugate is 0
    for (int64_t e = tid; e < n * n; e += nt) out[e] = T(0);
    return;
  }
  if (nz == 0) {  // adj(U) = det(U) U^-1, by columns
    for (int64_t j = tid; j < n; j += nt) {
      for (int64_t i = n - 1; i >= 0; --i) {
        if (i > j) { w[i * n + j] = T(0); continue; }
        T s = i == j ? T(1) : T(0);
        for (int64_t m = i + 1; m <= j; ++m) s -= lu[i * n + m] * w[m * n + j];
        w[i * n + j] = s / lu[i * n + i];
      }
      for (int64_t i = 0; i <= j; ++i) w[i * n + j] *= c;
    }
  } else {  // adj(U) = c x y^T with U x = 0, y^T U = 0, x_k = y_k = 1
    if (tid == 0) {
      for (int64_t i = n - 1; i >= 0; --i) {
        if (i >= kz) { xv[i] = i == kz ? T(1) : T(0); continue; }
        T s = lu[i * n + kz];
        for (int64_t m = i + 1; m < kz; ++m) s += lu[i * n + m] * xv[m];
        xv[i] = -s / lu[i * n + i];
      }
      for (int64_t j = 0; j < n; ++j) {
        if (j <= kz) { yv[j] = j == kz ? T(1) : T(0); continue; }
        T s = lu[kz * n + j];
        for (int64_t m = kz + 1; m < j; ++m) s += yv[m] * lu[m * n + j];
        yv[j] = -s / lu[j * n + j];
      }
    }
    __syncthreads();
    for (int64_t e = tid; e < n * n; e += nt) w[e] = c * xv[e / n] * yv[e % n];
  }
  __syncthreads();
  // Z = W L^-1, by rows: z L = w  ->  z_j = w_j - sum_{m > j} z_m L[m, j]
  for (int64_t i = tid; i < n; i += nt) {
    T* zr = w + i * n;
    for (int64_t j = n - 1; j >= 0; --j) {
      T s = zr[j];
      for (int64_t m = j + 1; m < n; ++m) s -= zr[m] * lu[m * n + j];
      zr[j] = s;
    }
  }
  __syncthreads();
  const T sg = sign[b];
  for (int64_t e = tid; e < n * n; e += nt) {  // adj(A)^T[perm[m], i] = sign Z[i, m]
    const int64_t i = e / n, m = e % n;
    out[pidx(perm, m) * n + i] = sg * w[e];
  }
}

template <typename P>
__global__ void __launch_bounds__(kThreads)
    perm_inverse_kernel(const P* __restrict__ perm, int64_t batch, int64_t n,
                        P* __restrict__ inv, int32_t* __restrict__ bad) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < batch;
       b += step) {
    const P* p = perm + b * n;
    P* q = inv + b * n;
    for (int64_t i = 0; i < n; ++i) q[i] = P(-1);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = pidx(p, i);
      if (v < 0 || v >= n || q[v] != P(-1)) { *bad = 1; continue; }
      q[v] = static_cast<P>(i);
    }
  }
}

template <typename T, typename P>
__global__ void __launch_bounds__(kThreads)
    permute_rows_kernel(const T* __restrict__ x, const P* __restrict__ perm, int64_t n,
                        int64_t k, bool inverse, int64_t total, T* __restrict__ y) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t b = t / (n * k), i = (t / k) % n, j = t % k;
    const int64_t p = pidx(perm, b * n + i);
    if (inverse) y[(b * n + p) * k + j] = x[t];
    else y[t] = x[(b * n + p) * k + j];
  }
}

template <typename F>
void by_float(DType dt, const char* op, F&& f) {
  if (dt == DType::Float32) return f(static_cast<float*>(nullptr));
  if (dt == DType::Float64) return f(static_cast<double*>(nullptr));
  throw std::invalid_argument(std::string("[") + op + "] dtype must be float32 or float64");
}

template <typename F>
void by_index(DType pt, const char* op, F&& f) {
  if (pt == DType::Int32) return f(static_cast<int32_t*>(nullptr));
  if (pt == DType::Int64) return f(static_cast<int64_t*>(nullptr));
  throw std::invalid_argument(std::string("[") + op + "] perm must be int32 or int64");
}

template <typename T>
using tag_t = std::remove_pointer_t<T>;

dim3 column_grid(int64_t batch, int64_t k) {
  const int64_t y = ceil_div<int64_t>(k, kThreads);  // (the kernels stride over more)
  return dim3(static_cast<unsigned>(batch), static_cast<unsigned>(y < 65535 ? y : 65535));
}

}  // namespace

void lu_factor(DType dt, const void* a, int64_t batch, int64_t n, void* lu, DType perm_dt,
               void* perm, void* sign, int32_t* zeros, int32_t* pivots) {
  if (batch == 0) return;
  by_float(dt, "lu", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    by_index(perm_dt, "lu", [&](auto* pt) {
      using P = tag_t<decltype(pt)>;
      lu_factor_kernel<T, P><<<static_cast<unsigned>(batch), kThreads, 0, stream()>>>(
          static_cast<const T*>(a), n, static_cast<T*>(lu), static_cast<P*>(perm),
          static_cast<T*>(sign), zeros, pivots);
      NABI_CUDA_CHECK_LAUNCH("lu_factor_kernel");
    });
  });
}

void lu_solve(DType dt, const void* lu, DType perm_dt, const void* perm, const void* b,
              int64_t batch, int64_t n, int64_t k, bool adjoint, void* x) {
  if (batch == 0 || n == 0 || k == 0) return;
  by_float(dt, "lu_solve", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    by_index(perm_dt, "lu_solve", [&](auto* pt) {
      using P = tag_t<decltype(pt)>;
      lu_solve_kernel<T, P><<<column_grid(batch, k), kThreads, 0, stream()>>>(
          static_cast<const T*>(lu), static_cast<const P*>(perm), static_cast<const T*>(b), n,
          k, adjoint, static_cast<T*>(x));
      NABI_CUDA_CHECK_LAUNCH("lu_solve_kernel");
    });
  });
}

void triangular_solve(DType dt, const void* t, const void* b, int64_t batch, int64_t n,
                      int64_t k, bool lower, bool adjoint, bool unit, void* x, int32_t* zeros) {
  if (batch == 0) return;
  by_float(dt, "triangular_solve", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    if (zeros) {
      if (unit || n == 0) {
        memset_zero(zeros, static_cast<size_t>(batch) * sizeof(int32_t));
      } else {
        diag_zeros_kernel<T><<<grid_for(batch, kThreads), kThreads, 0, stream()>>>(
            static_cast<const T*>(t), batch, n, zeros);
        NABI_CUDA_CHECK_LAUNCH("diag_zeros_kernel");
      }
    }
    if (n == 0 || k == 0) return;
    tri_solve_kernel<T><<<column_grid(batch, k), kThreads, 0, stream()>>>(
        static_cast<const T*>(t), static_cast<const T*>(b), n, k, lower, adjoint, unit,
        static_cast<T*>(x));
    NABI_CUDA_CHECK_LAUNCH("tri_solve_kernel");
  });
}

void cholesky(DType dt, const void* a, int64_t batch, int64_t n, void* l, int32_t* info) {
  if (batch == 0) return;
  by_float(dt, "cholesky", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    cholesky_kernel<T><<<static_cast<unsigned>(batch), kThreads, 0, stream()>>>(
        static_cast<const T*>(a), n, static_cast<T*>(l), info);
    NABI_CUDA_CHECK_LAUNCH("cholesky_kernel");
  });
}

void lu_det(DType dt, const void* lu, const void* sign, int64_t batch, int64_t n, void* det) {
  if (batch == 0) return;
  by_float(dt, "det", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    det_kernel<T><<<grid_for(batch, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(lu), static_cast<const T*>(sign), batch, n, static_cast<T*>(det),
        nullptr);
    NABI_CUDA_CHECK_LAUNCH("det_kernel");
  });
}

void lu_slogdet(DType dt, const void* lu, const void* sign, int64_t batch, int64_t n,
                void* sign_out, void* logabs) {
  if (batch == 0) return;
  by_float(dt, "slogdet", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    det_kernel<T><<<grid_for(batch, kThreads), kThreads, 0, stream()>>>(
        static_cast<const T*>(lu), static_cast<const T*>(sign), batch, n,
        static_cast<T*>(sign_out), static_cast<T*>(logabs));
    NABI_CUDA_CHECK_LAUNCH("det_kernel");
  });
}

void lu_adjugate_t(DType dt, const void* lu, DType perm_dt, const void* perm, const void* sign,
                   int64_t batch, int64_t n, void* scratch, void* out) {
  if (batch == 0 || n == 0) return;
  by_float(dt, "det", [&](auto* tt) {
    using T = tag_t<decltype(tt)>;
    by_index(perm_dt, "det", [&](auto* pt) {
      using P = tag_t<decltype(pt)>;
      lu_adjugate_kernel<T, P><<<static_cast<unsigned>(batch), kThreads, 0, stream()>>>(
          static_cast<const T*>(lu), static_cast<const P*>(perm), static_cast<const T*>(sign),
          n, static_cast<T*>(scratch), static_cast<T*>(out));
      NABI_CUDA_CHECK_LAUNCH("lu_adjugate_kernel");
    });
  });
}

void perm_inverse(DType perm_dt, const void* perm, int64_t batch, int64_t n, void* inv,
                  int32_t* bad) {
  memset_zero(bad, sizeof(int32_t));
  if (batch == 0 || n == 0) return;
  by_index(perm_dt, "perm_inverse", [&](auto* pt) {
    using P = tag_t<decltype(pt)>;
    perm_inverse_kernel<P><<<grid_for(batch, kThreads), kThreads, 0, stream()>>>(
        static_cast<const P*>(perm), batch, n, static_cast<P*>(inv), bad);
    NABI_CUDA_CHECK_LAUNCH("perm_inverse_kernel");
  });
}

void permute_rows(DType dt, const void* x, DType perm_dt, const void* perm, int64_t batch,
                  int64_t n, int64_t k, bool inverse, void* y) {
  const int64_t total = batch * n * k;
  if (total == 0) return;
  const size_t es = dtype_size(dt);
  if (es != 4 && es != 8) throw std::invalid_argument("[permute_rows] unsupported dtype");
  by_index(perm_dt, "permute_rows", [&](auto* pt) {
    using P = tag_t<decltype(pt)>;
    auto go = [&](auto* et) {
      using E = tag_t<decltype(et)>;
      permute_rows_kernel<E, P><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
          static_cast<const E*>(x), static_cast<const P*>(perm), n, k, inverse, total,
          static_cast<E*>(y));
      NABI_CUDA_CHECK_LAUNCH("permute_rows_kernel");
    };
    if (es == 4) go(static_cast<uint32_t*>(nullptr));
    else go(static_cast<uint64_t*>(nullptr));
  });
}

}  // namespace nabi::cuda::nd
