// Host-side entry points of the dense LU / Cholesky kernels behind tf.linalg.cholesky,
// triangular_solve, cholesky_solve, solve, inv, det, slogdet, logdet, lu, lu_solve,
// lu_matrix_inverse and lu_reconstruct on GPU tensors: linalg_lu.cu. Plain C++ declarations
// (no CUDA headers) so the g++-compiled binding (csrc/bindings/bind_cuda_linalg.cpp) can call
// them; only in builds with NABI_WITH_CUDA. The conventions of array_launchers.h hold: device
// pointers into C-contiguous buffers, the binding validates every argument first, empty work
// launches nothing, everything is enqueued on nabi::cuda::stream() without synchronising.
//
// Matrices are batched: `batch` matrices of n x n (a, lu, l, t: (batch, n, n)), right-hand
// sides (batch, n, k); dt is Float32 or Float64 for every float array; perm arrays are
// (batch, n) of perm_dt (Int32 or Int64). No broadcasting here: the caller expands the batch.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// LU with partial pivoting (LAPACK getrf's choice: the largest |entry| of the column, the first
// on ties, a NaN before any number), the multipliers of a zero pivot left as they are (the
// column below it is zero). lu packs the unit-lower L below the diagonal and U on and above
// it; perm has a[perm[i], :] = (L U)[i, :] (TF's convention); sign (batch,) of dt gets the
// permutation's parity (+1 / -1); zeros (batch,) int32 the number of exactly zero pivots;
// pivots (batch, n) int32 or nullptr: LAPACK's ipiv (0-based), the row swapped with row k at
// step k (scipy.linalg.lu_factor's / keras.ops.lu_factor's pivots).
void lu_factor(DType dt, const void* a, int64_t batch, int64_t n, void* lu, DType perm_dt,
               void* perm, void* sign, int32_t* zeros, int32_t* pivots = nullptr);

// x = A^-1 b (adjoint: A^-T b) for A = P^T L U given by (lu, perm); b == nullptr means the
// identity (k == n), so this is also the inverse. No check for zero pivots (the caller reads
// lu_factor's zeros when it must raise).
void lu_solve(DType dt, const void* lu, DType perm_dt, const void* perm, const void* b,
              int64_t batch, int64_t n, int64_t k, bool adjoint, void* x);

// x = op(T)^-1 b, T the lower (or upper) triangle of t (the other one is not read), op the
// transpose when adjoint; unit: the diagonal is taken as 1 (not read). zeros (batch,) int32 or
// nullptr: the number of zero diagonal entries of each T (0 with unit).
void triangular_solve(DType dt, const void* t, const void* b, int64_t batch, int64_t n,
                      int64_t k, bool lower, bool adjoint, bool unit, void* x, int32_t* zeros);

// Cholesky: l (batch, n, n) lower triangular with l l^T = the lower triangle of a mirrored,
// zeros above the diagonal; info (batch,) int32: 0, or 1 + the first column whose pivot is
// not > 0 (not positive definite, or NaN; l is then incomplete).
void cholesky(DType dt, const void* a, int64_t batch, int64_t n, void* l, int32_t* info);

// det (batch,) = sign * prod diag(U);  slogdet: sign_out = sign * prod sign(U_ii) (0 for a
// zero pivot), logabs = sum log|U_ii| (-inf for a zero pivot).
void lu_det(DType dt, const void* lu, const void* sign, int64_t batch, int64_t n, void* det);
void lu_slogdet(DType dt, const void* lu, const void* sign, int64_t batch, int64_t n,
                void* sign_out, void* logabs);

// adj(A)^T (batch, n, n) from A's (lu, perm, sign), exact for singular matrices too: with
// P A = L U,  adj(A) = sign adj(U) L^-1 P, adj(U) = det(U) U^-1 (no zero pivot), c x y^T (one
// zero pivot U_kk: x, y the right / left null vectors with x_k = y_k = 1, c the product of the
// other pivots), 0 (two or more). scratch: batch * n * (n + 2) elements of dt.
void lu_adjugate_t(DType dt, const void* lu, DType perm_dt, const void* perm, const void* sign,
                   int64_t batch, int64_t n, void* scratch, void* out);

// inv[b, perm[b, i]] = i; bad (one int32, zeroed here) set to 1 when some perm row is not a
// permutation of 0..n-1 (inv is then partial).
void perm_inverse(DType perm_dt, const void* perm, int64_t batch, int64_t n, void* inv,
                  int32_t* bad);

// Row permutation of x (batch, n, k): inverse == false: y[b, i, :] = x[b, perm[b, i], :];
// inverse == true: y[b, perm[b, i], :] = x[b, i, :]. Each is the other's adjoint. Any dtype
// of 4 or 8 bytes (moved as raw bits).
void permute_rows(DType dt, const void* x, DType perm_dt, const void* perm, int64_t batch,
                  int64_t n, int64_t k, bool inverse, void* y);

}  // namespace nabi::cuda::nd
