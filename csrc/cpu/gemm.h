// GEMM entry points (row-major):
//   C[M,N] = alpha * op(A) @ op(B) + beta * C
// op(A) is A (M x K, row stride lda) or, with trans_a, A^T where A is stored K x M.
// op(B) is B (K x N, row stride ldb) or, with trans_b, B^T where B is stored N x K.
// When beta == 0, C is not read (it may hold garbage or NaN). Threads itself with OpenMP
// when the problem is large and the caller is not already inside a parallel region.
#pragma once
#include <cstdint>

namespace nabi::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc);

// Which micro-kernel the dispatcher picked on this CPU: "avx512", "avx2" or "portable".
const char* gemm_isa();

// Re-selects the micro-kernel: "avx512", "avx2" or "portable" when this CPU supports it,
// otherwise (or for any other name) the best one it has. Returns gemm_isa(). For tests and
// benchmarks (the NABI_GEMM_ISA environment variable does the same at load time); not to be
// called while another thread is inside gemm().
const char* gemm_set_isa(const char* name);

}  // namespace nabi::cpu
