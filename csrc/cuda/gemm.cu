// SGEMM / DGEMM, row-major, all four transpose cases, any size (see launchers.h).
//
// Algorithm (the classic register-blocked shared-memory GEMM):
//   * The grid tiles C into BM x BN block tiles (float: 128 x 128, double: 64 x 64); a block
//     of 256 threads walks K in steps of BK (float: 8, double: 16).
//   * Each step loads the BM x BK slice of op(A) and the BK x BN slice of op(B) into shared
//     memory, both stored k-major (As[k][m], Bs[k][n]) whatever the transpose, so the inner
//     loop is the same for all four cases. Global loads are runs of 4 consecutive elements
//     along the operand's contiguous axis (A rows when not transposed, A columns when
//     transposed, likewise B): one float4 (float) or two double2 (double) when the run is in
//     bounds and 16-byte aligned, else element-wise with zero fill past the edges, so any M,
//     N, K works and partial tiles contribute zeros.
//   * Double buffering: while the block computes on one shared buffer, each thread already
//     holds the next slice in registers and writes it to the other buffer afterwards (one
//     __syncthreads per K step). Shared rows are padded by 4 elements so the transposing
//     stores (As[k+j][m]) do not hit the same bank.
//   * Register blocking: each thread accumulates a TM x TN block (float 8 x 8, double 4 x 4)
//     of C, taken as 4-wide groups strided by half the tile (rows ty*4 + {0..3} and
//     64 + ty*4 + {0..3}) so the float4 shared-memory reads of one warp are conflict-free.
//   * Epilogue: C = alpha * acc + beta * C with bounds checks (C is not read when beta == 0).
//     gemm_bias_act (the Dense layer's forward, no transposes) instantiates the same kernel
//     with a fused epilogue instead: z = acc + bias[col] (stored when wanted), C = act(z), so
//     a Dense layer is one launch and one pass over its output, not three.
//   * M tiles run on gridDim.y (<= 65535); a larger M is launched in row bands.
//   * Batched (gemm_batched: equal-shaped problems at fixed element strides, as a 3-D matmul):
//     blockIdx.z picks the problem, so a batch is one launch (up to 65535 problems each)
//     instead of one launch per problem; the kernels offset A, B and C by z * stride first.
// TF32 (opt-in, float only, gemm_set_tf32(true)): a WMMA m16n16k8 kernel, 64 x 64 block tile,
// BK = 16, 4 warps each computing 32 x 32 (2 x 2 fragments), inputs rounded to TF32 in the
// fragments, float accumulation; the same generic tile loader handles transposes and edges.
// Needs sm_80+: on an older device gemm<float> ignores the flag (FP32 path).
#include <mma.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda/activations.cuh"
#include "cuda/common.cuh"
#include "cuda/launchers.h"

namespace nabi::cuda {

namespace {

template <typename T>
struct GemmCfg;
template <>
struct GemmCfg<float> {
  static constexpr int BM = 128, BN = 128, BK = 8, TM = 8, TN = 8;
  static constexpr int kMinBlocks = 2;  // __launch_bounds__: at most 128 registers
};
template <>
struct GemmCfg<double> {
  static constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
  // 0: no constraint, as plain __launch_bounds__(kThreads) (78-116 registers). An explicit 1
  // or 2 let ptxas grow them to 112-130; 3 (at most 80) spilled up to 96 bytes.
  static constexpr int kMinBlocks = 0;
};
constexpr int kThreads = 256;

// The fused epilogue of gemm_bias_act: v = acc + bias[col]; z[row, col] = v (z has C's layout;
// null: not stored); C[row, col] = act(v) (an acts code; Linear leaves v).
template <typename T>
struct BiasAct {
  const T* bias;
  T* z;
  int act;
  T act_alpha;
};

// Element strides between the problems of a batched launch (blockIdx.z); unused for one.
struct BatchStrides {
  int64_t a, b, c;
};

// Loads a run of 4 elements base[row*ld + col .. col+3] into v, zero outside [rows) x [cols).
// vec: base is 16-byte aligned and ld, col keep runs 16-byte aligned (decided on the host).
__device__ __forceinline__ void load_run(const float* __restrict__ base,  // [rows, ld]
                                         int64_t ld, int64_t row, int64_t col, int64_t rows,
                                         int64_t cols, bool vec, float (&v)[4]) {
  if (row < rows) {
    const float* p = base + row * ld + col;
    if (vec && col + 3 < cols) {
      const float4 f = *reinterpret_cast<const float4*>(p);
      v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = col + j < cols ? p[j] : 0.f;
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = 0.f;
  }
}

__device__ __forceinline__ void load_run(const double* __restrict__ base,  // [rows, ld]
                                         int64_t ld, int64_t row, int64_t col, int64_t rows,
                                         int64_t cols, bool vec, double (&v)[4]) {
  if (row < rows) {
    const double* p = base + row * ld + col;
    if (vec && col + 3 < cols) {
      const double2 a = reinterpret_cast<const double2*>(p)[0];
      const double2 b = reinterpret_cast<const double2*>(p)[1];
      v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = col + j < cols ? p[j] : 0.0;
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = 0.0;
  }
}

// 4 consecutive shared-memory elements (16-byte aligned for float, 32 for double).
__device__ __forceinline__ void lds4(const float* p, float* out) {
  const float4 f = *reinterpret_cast<const float4*>(p);
  out[0] = f.x; out[1] = f.y; out[2] = f.z; out[3] = f.w;
}
__device__ __forceinline__ void lds4(const double* p, double* out) {
  const double2 a = reinterpret_cast<const double2*>(p)[0];
  const double2 b = reinterpret_cast<const double2*>(p)[1];
  out[0] = a.x; out[1] = a.y; out[2] = b.x; out[3] = b.y;
}

// float: at least 2 blocks per SM, so at most 128 registers (ptxas gave <float, false, true>
// 129 on sm_80, which leaves room for 1 block of 256 threads per SM instead of 2).
template <typename T, bool TA, bool TB, bool kBiasAct = false>
__global__ void __launch_bounds__(kThreads, GemmCfg<T>::kMinBlocks)
gemm_tiled_kernel(int64_t M, int64_t N, int64_t K, T alpha,
                  const T* __restrict__ A,  // [M, lda] (TA: [K, lda])
                  int64_t lda,
                  const T* __restrict__ B,  // [K, ldb] (TB: [N, ldb])
                  int64_t ldb, T beta,
                  T* __restrict__ C,        // [M, ldc]
                  int64_t ldc, bool vec_a, bool vec_b,
                  BiasAct<T> ep,            // used only when kBiasAct
                  BatchStrides bs) {
  using Cfg = GemmCfg<T>;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int PA = BM + 4, PB = BN + 4;          // padded shared rows
  constexpr int RA = BM * BK / (4 * kThreads);     // 4-element runs per thread, A slice
  constexpr int RB = BN * BK / (4 * kThreads);
  constexpr int GM = TM / 4, GN = TN / 4;          // 4-wide groups per thread
  constexpr int SM = BM / GM, SN = BN / GN;        // stride between a thread's groups
  static_assert(RA >= 1 && RB >= 1 && BM * BK == RA * 4 * kThreads &&
                    BN * BK == RB * 4 * kThreads,
                "tile must split into one or more 4-runs per thread");
  static_assert((BM / TM) * (BN / TN) == kThreads, "thread layout");

  __shared__ __align__(16) T As[2][BK][PA];  // op(A) slice, k-major
  __shared__ __align__(16) T Bs[2][BK][PB];  // op(B) slice, k-major

  A += blockIdx.z * bs.a;  // this block's problem of a batched launch (z = 0 otherwise)
  B += blockIdx.z * bs.b;
  C += blockIdx.z * bs.c;

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;

  T ra[RA][4], rb[RB][4];

  auto fetch = [&](int64_t k0) {
#pragma unroll
    for (int i = 0; i < RA; ++i) {
      const int r = tid + i * kThreads;
      if (!TA) {  // runs along k of A[m, :]
        const int m = r / (BK / 4), kk = (r % (BK / 4)) * 4;
        load_run(A, lda, m0 + m, k0 + kk, M, K, vec_a, ra[i]);
      } else {    // runs along m of A[k, :]
        const int kk = r / (BM / 4), m = (r % (BM / 4)) * 4;
        load_run(A, lda, k0 + kk, m0 + m, K, M, vec_a, ra[i]);
      }
    }
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const int r = tid + i * kThreads;
      if (!TB) {  // runs along n of B[k, :]
        const int kk = r / (BN / 4), n = (r % (BN / 4)) * 4;
        load_run(B, ldb, k0 + kk, n0 + n, K, N, vec_b, rb[i]);
      } else {    // runs along k of B[n, :]
        const int n = r / (BK / 4), kk = (r % (BK / 4)) * 4;
        load_run(B, ldb, n0 + n, k0 + kk, N, K, vec_b, rb[i]);
      }
    }
  };
  auto stash = [&](int buf) {
#pragma unroll
    for (int i = 0; i < RA; ++i) {
      const int r = tid + i * kThreads;
      if (!TA) {
        const int m = r / (BK / 4), kk = (r % (BK / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) As[buf][kk + j][m] = ra[i][j];
      } else {
        const int kk = r / (BM / 4), m = (r % (BM / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) As[buf][kk][m + j] = ra[i][j];
      }
    }
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const int r = tid + i * kThreads;
      if (!TB) {
        const int kk = r / (BN / 4), n = (r % (BN / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) Bs[buf][kk][n + j] = rb[i][j];
      } else {
        const int n = r / (BK / 4), kk = (r % (BK / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) Bs[buf][kk + j][n] = rb[i][j];
      }
    }
  };

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  fetch(0);
  stash(0);
  __syncthreads();
  int buf = 0;
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    const bool has_next = k0 + BK < K;
    if (has_next) fetch(k0 + BK);  // global loads in flight during the math below
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      T a[TM], b[TN];
#pragma unroll
      for (int g = 0; g < GM; ++g) lds4(&As[buf][kk][g * SM + ty * 4], &a[g * 4]);
#pragma unroll
      for (int g = 0; g < GN; ++g) lds4(&Bs[buf][kk][g * SN + tx * 4], &b[g * 4]);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    if (has_next) stash(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t r = m0 + (i / 4) * SM + ty * 4 + (i % 4);
    if (r >= M) continue;
    T* crow = C + r * ldc;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t c = n0 + (j / 4) * SN + tx * 4 + (j % 4);
      if (c < N) {
        T v = alpha * acc[i][j];
        if (beta != T(0)) v = fma(beta, crow[c], v);
        if constexpr (kBiasAct) {
          if (ep.bias) v += ep.bias[c];
          if (ep.z) ep.z[r * ldc + c] = v;
          v = acts::act_f(ep.act, v, ep.act_alpha);
        }
        crow[c] = v;
      }
    }
  }
}

// ---- TF32 tensor-core path (float) --------------------------------------------------------
constexpr int kTcBM = 64, kTcBN = 64, kTcBK = 16, kTcThreads = 128;

template <bool TA, bool TB>
__global__ void __launch_bounds__(kTcThreads)
gemm_tf32_wmma_kernel(int64_t M, int64_t N, int64_t K, float alpha,
                      const float* __restrict__ A,  // [M, lda] (TA: [K, lda])
                      int64_t lda,
                      const float* __restrict__ B,  // [K, ldb] (TB: [N, ldb])
                      int64_t ldb, float beta,
                      float* __restrict__ C,        // [M, ldc]
                      int64_t ldc, bool vec_a, bool vec_b, BatchStrides bs) {
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(NABI_CUDA_SIM)  // sim: sim/mma.h
  using namespace nvcuda;
  constexpr int LA = kTcBK + 4;  // As[m][k], ldm multiple of 4, fragment rows 32-byte aligned
  constexpr int LB = kTcBN + 4;  // Bs[k][n]
  constexpr int LC = kTcBN + 4;  // Cs[m][n]
  constexpr int RA = kTcBM * kTcBK / (4 * kTcThreads);  // 2
  constexpr int RB = kTcBN * kTcBK / (4 * kTcThreads);  // 2
  __shared__ __align__(32) float As[kTcBM][LA];
  __shared__ __align__(32) float Bs[kTcBK][LB];
  __shared__ __align__(32) float Cs[kTcBM][LC];

  A += blockIdx.z * bs.a;  // as gemm_tiled_kernel
  B += blockIdx.z * bs.b;
  C += blockIdx.z * bs.c;
  const int tid = threadIdx.x, warp = tid / 32;
  const int wm = warp / 2, wn = warp % 2;  // 2 x 2 warps, 32 x 32 each
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTcBM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTcBN;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  for (int64_t k0 = 0; k0 < K; k0 += kTcBK) {
#pragma unroll
    for (int i = 0; i < RA; ++i) {
      const int r = tid + i * kTcThreads;
      float v[4];
      if (!TA) {
        const int m = r / (kTcBK / 4), kk = (r % (kTcBK / 4)) * 4;
        load_run(A, lda, m0 + m, k0 + kk, M, K, vec_a, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) As[m][kk + j] = v[j];
      } else {
        const int kk = r / (kTcBM / 4), m = (r % (kTcBM / 4)) * 4;
        load_run(A, lda, k0 + kk, m0 + m, K, M, vec_a, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) As[m + j][kk] = v[j];
      }
    }
#pragma unroll
    for (int i = 0; i < RB; ++i) {
      const int r = tid + i * kTcThreads;
      float v[4];
      if (!TB) {
        const int kk = r / (kTcBN / 4), n = (r % (kTcBN / 4)) * 4;
        load_run(B, ldb, k0 + kk, n0 + n, K, N, vec_b, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) Bs[kk][n + j] = v[j];
      } else {
        const int n = r / (kTcBK / 4), kk = (r % (kTcBK / 4)) * 4;
        load_run(B, ldb, n0 + n, k0 + kk, N, K, vec_b, v);
#pragma unroll
        for (int j = 0; j < 4; ++j) Bs[kk + j][n] = v[j];
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTcBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][kk], LA);
#pragma unroll
        for (int t = 0; t < fa[i].num_elements; ++t) fa[i].x[t] = wmma::__float_to_tf32(fa[i].x[t]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        wmma::load_matrix_sync(fb[j], &Bs[kk][wn * 32 + j * 16], LB);
#pragma unroll
        for (int t = 0; t < fb[j].num_elements; ++t) fb[j].x[t] = wmma::__float_to_tf32(fb[j].x[t]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], LC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kTcBM * kTcBN; e += kTcThreads) {
    const int mi = e / kTcBN, ni = e % kTcBN;
    const int64_t r = m0 + mi, c = n0 + ni;
    if (r < M && c < N) {
      float v = alpha * Cs[mi][ni];
      if (beta != 0.f) v = fmaf(beta, C[r * ldc + c], v);
      C[r * ldc + c] = v;
    }
  }
#endif
}

std::atomic<bool> g_tf32{false};

template <typename T>
bool vec_ok(const T* p, int64_t ld, int64_t batch_stride = 0) {
  // Runs start at multiples of 4 elements; 16-byte alignment needs an aligned base and a
  // row stride (and a batch stride) that keeps every row of every problem aligned.
  const int64_t per16 = 16 / static_cast<int64_t>(sizeof(T));
  return (reinterpret_cast<uintptr_t>(p) % 16 == 0) && (ld % per16 == 0) &&
         (batch_stride % per16 == 0);
}

// Rows of C per launch: gridDim.y (the M tiles) is limited to 65535. Larger M (e.g. a Dense
// over N*H*W rows: 512*128*128 float rows = 65536 tiles) runs as several launches over row
// bands instead of failing; op(A)'s rows start at A + m (TA: column m) and C's at C + m*ldc.
// Likewise a batch of more than 65535 problems (gridDim.z) runs in chunks.
template <bool TA, typename T>
const T* a_rows(const T* A, int64_t lda, int64_t m) {
  return TA ? A + m : A + m * lda;
}
constexpr int64_t kMaxGridY = 65535;
constexpr int64_t kMaxGridZ = 65535;

// The launches covering a batch of M x N results with BM x BN block tiles: calls
// launch(grid, p, m, Mb) for problems [p, p + grid.z) and rows [m, m + Mb).
template <typename F>
void for_each_launch(const char* op, int64_t M, int64_t N, int64_t BM, int64_t BN,
                     int64_t batch, F&& launch) {
  const int64_t gx = ceil_div<int64_t>(N, BN);
  if (gx > 2147483647LL)
    throw CudaError(std::string("[") + op + "] problem too large for one launch: N=" +
                    std::to_string(N));
  const int64_t band = kMaxGridY * BM;
  for (int64_t p = 0; p < batch; p += kMaxGridZ) {
    const int64_t nz = batch - p < kMaxGridZ ? batch - p : kMaxGridZ;
    for (int64_t m = 0; m < M; m += band) {
      const int64_t Mb = M - m < band ? M - m : band;
      launch(dim3(static_cast<unsigned>(gx), static_cast<unsigned>(ceil_div<int64_t>(Mb, BM)),
                  static_cast<unsigned>(nz)),
             p, m, Mb);
    }
  }
}

template <typename T, bool TA, bool TB>
void launch_tiled(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int64_t batch,
                  BatchStrides bs) {
  using Cfg = GemmCfg<T>;
  for_each_launch("matmul", M, N, Cfg::BM, Cfg::BN, batch,
                  [&](dim3 grid, int64_t p, int64_t m, int64_t Mb) {
    const T* Ab = a_rows<TA>(A + p * bs.a, lda, m);
    const T* Bp = B + p * bs.b;
    gemm_tiled_kernel<T, TA, TB><<<grid, kThreads, 0, stream()>>>(
        Mb, N, K, alpha, Ab, lda, Bp, ldb, beta, C + p * bs.c + m * ldc, ldc,
        vec_ok(Ab, lda, bs.a), vec_ok(Bp, ldb, bs.b), BiasAct<T>{nullptr, nullptr, 0, T(0)}, bs);
    NABI_CUDA_CHECK_LAUNCH("gemm_tiled_kernel");
  });
}

template <bool TA, bool TB>
void launch_tf32(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                 int64_t batch = 1, BatchStrides bs = {0, 0, 0}) {
  for_each_launch("matmul", M, N, kTcBM, kTcBN, batch,
                  [&](dim3 grid, int64_t p, int64_t m, int64_t Mb) {
    const float* Ab = a_rows<TA>(A + p * bs.a, lda, m);
    const float* Bp = B + p * bs.b;
    gemm_tf32_wmma_kernel<TA, TB><<<grid, kTcThreads, 0, stream()>>>(
        Mb, N, K, alpha, Ab, lda, Bp, ldb, beta, C + p * bs.c + m * ldc, ldc,
        vec_ok(Ab, lda, bs.a), vec_ok(Bp, ldb, bs.b), bs);
    NABI_CUDA_CHECK_LAUNCH("gemm_tf32_wmma_kernel");
  });
}

// The WMMA kernel's body exists only for sm_80+ (#if above): on an older GPU (a build that
// also lists e.g. 75) it would launch fine and leave C unwritten. Such devices take the FP32
// path instead. Cached per device (at most 64 devices; the query costs no synchronisation).
bool device_has_tf32() {
  static std::atomic<int> cache[64];  // 0 unknown, 1 no, 2 yes
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64) return false;
  int v = cache[dev].load();
  if (v == 0) {
    int major = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    v = major >= 8 ? 2 : 1;
    cache[dev].store(v);
  }
  return v == 2;
}

template <typename T>
void dispatch_tiled(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                    int64_t batch, BatchStrides bs) {
  if (!ta && !tb)
    launch_tiled<T, false, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
  else if (!ta && tb)
    launch_tiled<T, false, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
  else if (ta && !tb)
    launch_tiled<T, true, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
  else
    launch_tiled<T, true, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
}

}  // namespace

void gemm_set_tf32(bool enabled) { g_tf32.store(enabled); }
bool gemm_tf32_enabled() { return g_tf32.load(); }

template <>
void gemm_batched<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t stride_a, const float* B,
                         int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                         int64_t stride_c, int64_t batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  const BatchStrides bs{stride_a, stride_b, stride_c};
  if (g_tf32.load() && device_has_tf32()) {
    if (!ta && !tb)
      launch_tf32<false, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
    else if (!ta && tb)
      launch_tf32<false, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
    else if (ta && !tb)
      launch_tf32<true, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
    else
      launch_tf32<true, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
    return;
  }
  dispatch_tiled<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, bs);
}

template <>
void gemm_batched<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                          const double* A, int64_t lda, int64_t stride_a, const double* B,
                          int64_t ldb, int64_t stride_b, double beta, double* C, int64_t ldc,
                          int64_t stride_c, int64_t batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  dispatch_tiled<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch,
                         BatchStrides{stride_a, stride_b, stride_c});
}

template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_batched<T>(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t);

// y = act(x @ w + b) for a Dense layer (x [M, K], w [K, N], y and z [M, N], all contiguous):
// one launch of the tiled kernel with the fused epilogue. Under the opt-in TF32 mode the
// WMMA GEMM runs and the epilogue follows as separate bias and activation passes.
template <typename T>
void gemm_bias_act(int64_t M, int64_t N, int64_t K, const T* x, const T* w, const T* b, T* z,
                   T* y, int act, T act_alpha) {
  if (M <= 0 || N <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (K > 0 && g_tf32.load() && device_has_tf32()) {
      T* acc = z ? z : y;
      launch_tf32<false, false>(M, N, K, 1.f, x, K, w, N, 0.f, acc, N);
      if (b) bias_add<T>(acc, b, acc, M, N);
      if (static_cast<cpu::Act>(act) != cpu::Act::Linear || acc != y)
        act_forward<T>(act, acc, y, M * N, act_alpha);
      return;
    }
  }
  using Cfg = GemmCfg<T>;
  for_each_launch("dense", M, N, Cfg::BM, Cfg::BN, 1,
                  [&](dim3 grid, int64_t, int64_t m, int64_t Mb) {
    const T* xb = x + m * K;
    gemm_tiled_kernel<T, false, false, true><<<grid, kThreads, 0, stream()>>>(
        Mb, N, K, T(1), xb, K, w, N, T(0), y + m * N, N, vec_ok(xb, K), vec_ok(w, N),
        BiasAct<T>{b, z ? z + m * N : nullptr, act, act_alpha}, BatchStrides{0, 0, 0});
    NABI_CUDA_CHECK_LAUNCH("gemm_tiled_kernel (bias + activation epilogue)");
  });
}
template void gemm_bias_act<float>(int64_t, int64_t, int64_t, const float*, const float*,
                                   const float*, float*, float*, int, float);
template void gemm_bias_act<double>(int64_t, int64_t, int64_t, const double*, const double*,
                                    const double*, double*, double*, int, double);


}  // namespace nabi::cuda
