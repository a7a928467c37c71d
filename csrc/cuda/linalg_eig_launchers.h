// Host-side entry points of the dense factorization kernels behind tf.linalg.qr / svd / eigh /
// eigvalsh (and pinv, matrix_rank, lstsq(fast=False) composed of them) on GPU tensors:
// linalg_eig.cu. Plain C++ declarations (no CUDA headers) so the g++-compiled binding
// (csrc/bindings/bind_cuda_linalg_eig.cpp) can call them; only in builds with NABI_WITH_CUDA.
// The conventions of array_launchers.h hold: device pointers into C-contiguous buffers of
// `dtype` (float32 or float64), the binding validates every argument first, empty work
// launches nothing, everything is enqueued on nabi::cuda::stream() without synchronising.
// One thread block per matrix (batch = the product of the leading axes).
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// The largest Jacobi dimension (eigh: n; svd: min(m, n)) the binding accepts: the sweeps are
// O(n^3) work in one block per matrix, so larger matrices belong to a blocked solver.
constexpr int64_t kLinalgMaxJacobiDim = 2048;

// ---- QR (Householder, LAPACK's dgeqrf/dorgqr convention) ------------------------------------
// a (batch, m, n) -> q (batch, m, qc), r (batch, rr, n) with a = q r, k = min(m, n),
// qc = rr = (full ? m : k); r upper triangular with NumPy's (LAPACK's) diagonal signs:
// r_jj = -sign(alpha_j) * ||x_j|| for the pivot alpha_j of step j (r_jj = alpha_j when the
// column below it is already zero). work: batch * (m * n + k) elements.
void linalg_qr(DType dtype, const void* a, int64_t batch, int64_t m, int64_t n, bool full,
               void* q, void* r, void* work);

// ---- eigh (cyclic Jacobi) -------------------------------------------------------------------
// a (batch, n, n), only the lower triangle read (the matrix is its symmetric completion) ->
// e (batch, n) ascending and, when v is not null, v (batch, n, n) with orthonormal columns,
// a = v diag(e) v^T. work: batch * n * n elements.
void linalg_eigh(DType dtype, const void* a, int64_t batch, int64_t n, void* e, void* v,
                 void* work);

// ---- SVD (one-sided Jacobi) -----------------------------------------------------------------
// a (batch, m, n) -> s (batch, k) descending, k = min(m, n); with u and v not null also
// u (batch, m, uc), v (batch, n, vc) with a = u[:, :k] diag(s) v[:, :k]^T, orthonormal
// columns, uc = vc = k (reduced) or uc = m, vc = n (full: the extra columns complete the
// bases). Without vectors u = v = nullptr and work holds batch * max(m, n) * k elements.
void linalg_svd(DType dtype, const void* a, int64_t batch, int64_t m, int64_t n, bool full,
                void* s, void* u, void* v, void* work);

// ---- x = b r^-T or x = b r^-1 (r upper triangular) -----------------------------------------
// r (batch, n, n) (only the upper triangle read), b (batch, m, n) -> x (batch, m, n) with
// x r^T = b (trans) or x r = b: back / forward substitution along each row of b (the QR
// gradient's last step, and that step's own gradient).
void linalg_solve_upper(DType dtype, const void* r, const void* b, int64_t batch, int64_t m,
                        int64_t n, bool trans, void* x);

}  // namespace nabi::cuda::nd
