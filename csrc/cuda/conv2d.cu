// 2-D convolution on the GPU, float32/float64: x NHWC (N, H, W, C), w HWIO (KH, KW, C, CO),
// y NHWC (N, OH, OW, CO); any stride, dilation and explicit padding (see nn_launchers.h; the
// semantics are those of csrc/cpu/conv2d.cpp).
//
// Algorithm: three implicit GEMMs that share ONE tiled kernel (igemm_kernel). Nothing is
// materialised: each "problem" struct below tells the kernel how to fetch element (m, k) of
// its virtual A matrix and (k, n) of its virtual B matrix straight from the tensors (zero
// where the receptive field falls into the padding), and how to store result (m, n).
//
//   forward      Y[M, CO] = A[M, K] @ Wm[K, CO]
//                M = N*OH*OW output pixels, K = KH*KW*C, A = im2col(x) gathered on the fly
//                (A[(n,oh,ow), (i,j,c)] = x[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c]),
//                Wm = the HWIO filter read as a row-major K x CO matrix. Bias and ReLU are
//                applied in the epilogue (store).
//   backward     dX[N*H*W, C] = G[N*H*W, KH*KW*CO] @ Wt[KH*KW*CO, C]
//   data         G[(n,ih,iw), (i,j,co)] = dy[n, oh, ow, co] where ih + pt - i*dh = oh*sh and
//                iw + pl - j*dw = ow*sw have integer solutions inside the output (else 0: the
//                tap is skipped); Wt[(i,j,co), c] = w[i, j, c, co] (the transposed filter).
//                Every dX element is written exactly once (no zeroing, no scatter). A fused
//                ReLU's mask (dy where y > 0) is applied while G is gathered.
//   backward     dW[KH*KW*C, CO] = A^T @ G with the reduction over the M = N*OH*OW pixels:
//   filter       A^T[(i,j,c), pixel] = im2col(x)^T gathered on the fly, G[pixel, co] = (masked)
//                dy. The long pixel reduction is split over blockIdx.z ("split-K"); each split
//                stores its partial tile into its own slice of a workspace, and a second kernel
//                adds the slices in split order (no atomics: the result is the same run to
//                run, bit for bit). With one split the tile goes straight to dW.
//                db rides along as one more row of A^T, all ones (db[co] = sum_pixels G[pixel,
//                co]), so the bias gradient costs no launch of its own.
//   db alone     (no dW wanted) column sums of the (masked) dy in float64: blocks of 32 x 8
//                threads own 32 channels and a slab of rows, then a second kernel adds the
//                slabs in order.
//
// Blocking of igemm_kernel: 256 threads compute a 64 x 64 tile of the result; each thread
// owns a 4 x 4 register tile (rows ty + 16*i, columns tx + 16*j, so the 16 threads of a
// half-warp store 16 consecutive columns: coalesced). The reduction runs in steps of BK = 16:
// all threads gather the 64 x 16 A slice and the 16 x 64 B slice into shared memory (4
// elements each; the thread-to-element map is chosen per problem so that consecutive threads
// read consecutive addresses), synchronise, and accumulate 16 rank-1 updates from shared
// memory. Shared rows are padded by one element to avoid bank conflicts on the transposed
// stores. Accumulation is in T (float for float32, as the CPU's GEMM does).
//
// Index arithmetic: pixel and element offsets are int64; the filter index k (< 2^31, checked
// by the binding) is decoded with 32-bit divisions. The problems' gather functions are
// __host__ __device__, so their index maps can be checked on the host.
#include <cstdint>

#include "cuda/allocator.h"
#include "cuda/common.cuh"
#include "cuda/nn_launchers.h"

namespace nabi::cuda {

namespace {

constexpr int kBM = 64;        // tile rows (GEMM M)
constexpr int kBN = 64;        // tile columns (GEMM N)
constexpr int kBK = 16;        // reduction step
constexpr int kThreads = 256;  // 16 x 16 threads, 4 x 4 results each
constexpr int kLoads = (kBM * kBK) / kThreads;  // A (and B) elements each thread loads: 4
static_assert(kBM * kBK == kBN * kBK, "A and B slices must have the same size");
static_assert(kLoads * kThreads == kBM * kBK, "tile slice must split evenly over threads");

// ------------------------------------------------------------------------------------------
// The shared kernel. P provides:
//   int64_t M, N, K                         GEMM sizes
//   static constexpr bool kAKFast           true: consecutive threads load consecutive k of
//                                           one A row (memory contiguous along k); false:
//                                           consecutive rows m (contiguous along m)
//   static constexpr bool kBNFast           true: consecutive n of one B row; false: along k
//   struct Row { bool ok; ... }             per-row data of A, computed once per thread
//   Row row(int64_t m)                      ok == (m < M)
//   T a(const Row&, int64_t k)              A[m, k] (only called with ok and k < K)
//   T b(int64_t k, int64_t n)               B[k, n] (only called with k < K, n < N)
//   void store(int64_t m, int64_t n, T v)   the epilogue for result (m, n)
// blockIdx.x: tile row, blockIdx.y: tile column, blockIdx.z: which k_per_split slice of the
// reduction this block sums (forward and backward-data use one slice).
// ------------------------------------------------------------------------------------------
template <typename T, typename P>
__global__ void __launch_bounds__(kThreads) igemm_kernel(const P p, int64_t k_per_split) {
  __shared__ T As[kBK][kBM + 1];  // As[k][m]: A slice, transposed
  __shared__ T Bs[kBK][kBN + 1];  // Bs[k][n]
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kBN;
  const int64_t kbeg = static_cast<int64_t>(blockIdx.z) * k_per_split;
  const int64_t kend = kbeg + k_per_split < p.K ? kbeg + k_per_split : p.K;

  // The (row, k) of A and (k, column) of B that this thread loads in every step.
  int am[kLoads], ak[kLoads], bk[kLoads], bn[kLoads];
  typename P::Row rows[kLoads];
#pragma unroll
  for (int r = 0; r < kLoads; ++r) {
    const int e = tid + r * kThreads;
    if (P::kAKFast) {
      am[r] = e / kBK;
      ak[r] = e % kBK;
    } else {
      am[r] = e % kBM;
      ak[r] = e / kBM;
    }
    if (P::kBNFast) {
      bk[r] = e / kBN;
      bn[r] = e % kBN;
    } else {
      bk[r] = e % kBK;
      bn[r] = e / kBK;
    }
    rows[r] = p.row(m0 + am[r]);
  }

  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

  for (int64_t k0 = kbeg; k0 < kend; k0 += kBK) {
    // Gather the A and B slices (zeros outside the matrices and in the padding).
#pragma unroll
    for (int r = 0; r < kLoads; ++r) {
      const int64_t k = k0 + ak[r];
      As[ak[r]][am[r]] = (k < kend && rows[r].ok) ? p.a(rows[r], k) : T(0);
    }
#pragma unroll
    for (int r = 0; r < kLoads; ++r) {
      const int64_t k = k0 + bk[r];
      const int64_t n = n0 + bn[r];
      Bs[bk[r]][bn[r]] = (k < kend && n < p.N) ? p.b(k, n) : T(0);
    }
    __syncthreads();
    // 16 rank-1 updates of the 4 x 4 register tile.
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();  // before the next step overwrites the slices
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n < p.N) p.store(m, n, acc[i][j]);
    }
  }
}

// The ReLU mask of the backward passes: dy where the forward output was > 0 (NaN -> 0, as
// the CPU's `y > 0 ? g : 0`).
template <typename T>
__host__ __device__ __forceinline__ T masked(const T* dy, const T* relu_y, int64_t off) {
  const T g = dy[off];
  return (relu_y && !(relu_y[off] > T(0))) ? T(0) : g;
}

// ---- forward: Y[(n,oh,ow), co] = sum_k A[(n,oh,ow), k] * w[k, co] ------------------------
template <typename T>
struct FwdProblem {
  ConvDims d;
  const T* x;
  const T* w;
  const T* bias;  // may be null
  bool relu;
  T* y;
  int64_t M, N, K;  // N*OH*OW, CO, KH*KW*C
  static constexpr bool kAKFast = true;  // k = (i*KW + j)*C + c: c contiguous in x
  static constexpr bool kBNFast = true;  // w[k*CO + co]: co contiguous

  struct Row {
    bool ok;
    const T* xn;   // image n of x
    int64_t ih0;   // oh*sh - pt: input row of filter tap i = 0
    int64_t iw0;   // ow*sw - pl
  };
  __host__ __device__ Row row(int64_t m) const {
    Row r{false, nullptr, 0, 0};
    if (m >= M) return r;
    const int64_t ow = m % d.OW, t = m / d.OW;
    const int64_t oh = t % d.OH, n = t / d.OH;
    r.ok = true;
    r.xn = x + n * d.H * d.W * d.C;
    r.ih0 = oh * d.sh - d.pt;
    r.iw0 = ow * d.sw - d.pl;
    return r;
  }
  __host__ __device__ T a(const Row& r, int64_t k64) const {
    const int k = static_cast<int>(k64), C = static_cast<int>(d.C), KW = static_cast<int>(d.KW);
    const int c = k % C, tap = k / C;
    const int j = tap % KW, i = tap / KW;
    const int64_t ih = r.ih0 + i * d.dh, iw = r.iw0 + j * d.dw;
    if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) return T(0);  // padding
    return r.xn[(ih * d.W + iw) * d.C + c];
  }
  __host__ __device__ T b(int64_t k, int64_t n) const { return w[k * d.CO + n]; }
  __host__ __device__ void store(int64_t m, int64_t n, T v) const {
    if (bias) v += bias[n];
    if (relu) v = v < T(0) ? T(0) : v;  // NaN stays NaN
    y[m * d.CO + n] = v;
  }
};

// ---- backward data: dX[(n,ih,iw), c] = sum_{(i,j,co)} G[(n,ih,iw), (i,j,co)] w[i,j,c,co] ---
template <typename T>
struct DgradProblem {
  ConvDims d;
  const T* dy;
  const T* relu_y;  // may be null
  const T* w;
  T* dx;
  int64_t M, N, K;  // N*H*W, C, KH*KW*CO
  const T* bias = nullptr;  // (C) or null: added in the epilogue (conv2d_backward_data)
  bool relu = false;        // then max(., 0)
  static constexpr bool kAKFast = true;   // k = (i*KW + j)*CO + co: co contiguous in dy
  static constexpr bool kBNFast = false;  // w[((i*KW + j)*C + c)*CO + co]: contiguous along k

  struct Row {
    bool ok;
    int64_t img;  // n*OH*OW*CO: image n of dy (and relu_y)
    int64_t hp;   // ih + pt: padded input row
    int64_t wp;   // iw + pl
  };
  __host__ __device__ Row row(int64_t m) const {
    Row r{false, 0, 0, 0};
    if (m >= M) return r;
    const int64_t iw = m % d.W, t = m / d.W;
    const int64_t ih = t % d.H, n = t / d.H;
    r.ok = true;
    r.img = n * d.OH * d.OW * d.CO;
    r.hp = ih + d.pt;
    r.wp = iw + d.pl;
    return r;
  }
  __host__ __device__ T a(const Row& r, int64_t k64) const {
    const int k = static_cast<int>(k64), CO = static_cast<int>(d.CO), KW = static_cast<int>(d.KW);
    const int co = k % CO, tap = k / CO;
    const int j = tap % KW, i = tap / KW;
    // Output row oh with oh*sh + i*dh == ih + pt, if it exists.
    const int64_t th = r.hp - i * d.dh;
    if (th < 0 || th % d.sh != 0) return T(0);
    const int64_t oh = th / d.sh;
    if (oh >= d.OH) return T(0);
    const int64_t tw = r.wp - j * d.dw;
    if (tw < 0 || tw % d.sw != 0) return T(0);
    const int64_t ow = tw / d.sw;
    if (ow >= d.OW) return T(0);
    return masked(dy, relu_y, r.img + (oh * d.OW + ow) * d.CO + co);
  }
  __host__ __device__ T b(int64_t k64, int64_t c) const {
    const int64_t co = k64 % d.CO, tap = k64 / d.CO;
    return w[(tap * d.C + c) * d.CO + co];
  }
  __host__ __device__ void store(int64_t m, int64_t c, T v) const {
    if (bias) v += bias[c];
    if (relu) v = v < T(0) ? T(0) : v;  // NaN stays NaN
    dx[m * d.C + c] = v;
  }
};

// ---- backward data at stride > 1, one sub-pixel phase per launch -------------------------
// DgradProblem gathers all KH*KW taps for every dx pixel, but at stride s only the taps
// i = rh + sh*mi (rh = (ih + pt) % sh) meet an output row: at stride 2 three quarters of its
// K loop gathers zeros. A phase (rh, rw) is the dx pixels ih = rh - pt + sh*(q0 + u),
// iw = rw - pl + sw*(p0 + v), and only its Mh x Mw taps; dy row oh = q - mi (q = q0 + u).
// Each phase is one launch over its own M = N*Hq*Wq pixels and K = Mh*Mw*CO; a phase that
// no tap reaches (K = 0) stores zeros. Every dx element is written exactly once.
template <typename T>
struct PhaseDgradProblem {
  ConvDims d;
  const T* dy;
  const T* relu_y;  // may be null
  const T* w;
  T* dx;
  int64_t rh, rw, q0, p0, Hq, Wq, Mh, Mw;
  int64_t M, N, K;  // N*Hq*Wq, C, Mh*Mw*CO
  const T* bias = nullptr;  // (C) or null: added in the epilogue (conv2d_backward_data)
  bool relu = false;        // then max(., 0)
  static constexpr bool kAKFast = true;   // k = (mi*Mw + mj)*CO + co: co contiguous in dy
  static constexpr bool kBNFast = false;  // w[((i*KW + j)*C + c)*CO + co]: contiguous along k

  struct Row {
    bool ok;
    int64_t img;  // n*OH*OW*CO
    int64_t q;    // q0 + u: the output row of tap mi = 0
    int64_t p;    // p0 + v
    int64_t out;  // ((n*H + ih)*W + iw)*C: where the dx pixel goes
  };
  __host__ __device__ Row row(int64_t m) const {
    Row r{false, 0, 0, 0, 0};
    if (m >= M) return r;
    const int64_t v = m % Wq, t = m / Wq;
    const int64_t u = t % Hq, n = t / Hq;
    r.ok = true;
    r.img = n * d.OH * d.OW * d.CO;
    r.q = q0 + u;
    r.p = p0 + v;
    const int64_t ih = rh - d.pt + d.sh * r.q, iw = rw - d.pl + d.sw * r.p;
    r.out = ((n * d.H + ih) * d.W + iw) * d.C;
    return r;
  }
  __host__ __device__ T a(const Row& r, int64_t k64) const {
    const int k = static_cast<int>(k64), CO = static_cast<int>(d.CO);
    const int co = k % CO, tap = k / CO;
    const int mj = tap % static_cast<int>(Mw), mi = tap / static_cast<int>(Mw);
    const int64_t oh = r.q - mi, ow = r.p - mj;
    if (oh < 0 || oh >= d.OH || ow < 0 || ow >= d.OW) return T(0);
    return masked(dy, relu_y, r.img + (oh * d.OW + ow) * d.CO + co);
  }
  __host__ __device__ T b(int64_t k64, int64_t c) const {
    const int64_t co = k64 % d.CO, tap = k64 / d.CO;
    const int64_t i = rh + d.sh * (tap / Mw), j = rw + d.sw * (tap % Mw);
    return w[((i * d.KW + j) * d.C + c) * d.CO + co];
  }
  __host__ __device__ void store(int64_t m, int64_t c, T v) const {
    if (bias) v += bias[c];
    if (relu) v = v < T(0) ? T(0) : v;  // NaN stays NaN
    dx[row(m).out + c] = v;
  }
};

__host__ __device__ inline int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// ---- backward filter: dW[(i,j,c), co] += sum_pixels x[pixel + tap(i,j), c] * G[pixel, co] --
// With db, row KF = KH*KW*C of A^T is all ones: result row KF is db.
template <typename T>
struct WgradProblem {
  ConvDims d;
  const T* x;
  const T* dy;
  const T* relu_y;  // may be null
  T* out;           // dW, or with several splits the workspace [splits, M, CO]
  T* db;            // with one split: where row KF goes (null: no bias row)
  int64_t split_stride;  // elements between the splits' slices of out (0: one split)
  int64_t KF;       // KH*KW*C: the filter rows (row KF, when M > KF, is the bias row)
  int64_t M, N, K;  // KF (+1 with db), CO, N*OH*OW
  static constexpr bool kAKFast = false;  // rows (i,j,c): c contiguous in x
  static constexpr bool kBNFast = true;   // dy[pixel*CO + co]: co contiguous

  struct Row {
    bool ok;
    int64_t hoff;  // i*dh - pt: input row = oh*sh + hoff
    int64_t woff;  // j*dw - pl
    int64_t c;     // -1: the bias row (all ones)
  };
  __host__ __device__ Row row(int64_t m) const {
    Row r{false, 0, 0, 0};
    if (m >= M) return r;
    if (m == KF) return Row{true, 0, 0, -1};
    const int64_t c = m % d.C, tap = m / d.C;
    const int64_t j = tap % d.KW, i = tap / d.KW;
    r.ok = true;
    r.hoff = i * d.dh - d.pt;
    r.woff = j * d.dw - d.pl;
    r.c = c;
    return r;
  }
  __host__ __device__ T a(const Row& r, int64_t p) const {
    if (r.c < 0) return T(1);  // the bias row
    const int64_t ow = p % d.OW, t = p / d.OW;
    const int64_t oh = t % d.OH, n = t / d.OH;
    const int64_t ih = oh * d.sh + r.hoff, iw = ow * d.sw + r.woff;
    if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) return T(0);  // padding
    return x[((n * d.H + ih) * d.W + iw) * d.C + r.c];
  }
  __host__ __device__ T b(int64_t p, int64_t co) const { return masked(dy, relu_y, p * d.CO + co); }
  __device__ void store(int64_t m, int64_t co, T v) const {
    if (split_stride == 0 && m == KF)
      db[co] = v;
    else
      out[static_cast<int64_t>(blockIdx.z) * split_stride + m * d.CO + co] = v;
  }
};

// Element i of the result [M, CO] is the sum over the splits, in order, of ws[s][i] (float64
// accumulation); it goes to dw[i] for i < n_dw (the filter rows), else to db[i - n_dw].
template <typename T>
__global__ void split_sum_kernel(const T* __restrict__ ws, T* __restrict__ dw, int64_t n_dw,
                                 T* __restrict__ db, int64_t n, int64_t splits) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    double t = 0.0;
    for (int64_t s = 0; s < splits; ++s) t += static_cast<double>(ws[s * n + i]);
    if (i < n_dw)
      dw[i] = static_cast<T>(t);
    else
      db[i - n_dw] = static_cast<T>(t);
  }
}

// ---- db: column sums of the (masked) dy (rows = N*OH*OW, cols = CO) ------------------------
constexpr int kCsX = 32, kCsY = 8;

// Block (32, 8) owns columns blockIdx.x*32 + tx and rows [blockIdx.y*rows_per_slab, +slab).
// With one slab the result goes straight to out; otherwise to partial[slab][col].
template <typename T>
__global__ void colsum_partial_kernel(const T* __restrict__ g, const T* __restrict__ relu_y,
                                      double* __restrict__ partial, T* __restrict__ out,
                                      int64_t rows, int64_t cols, int64_t rows_per_slab) {
  __shared__ double red[kCsY][kCsX + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kCsX + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_slab;
  const int64_t r1 = r0 + rows_per_slab < rows ? r0 + rows_per_slab : rows;
  double s = 0.0;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kCsY)
      s += static_cast<double>(masked(g, relu_y, r * cols + c));
  red[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double t = 0.0;
#pragma unroll
    for (int k = 0; k < kCsY; ++k) t += red[k][threadIdx.x];
    if (out)
      out[c] = static_cast<T>(t);
    else
      partial[blockIdx.y * cols + c] = t;
  }
}

// out[c] = sum over the slabs in order (deterministic).
template <typename T>
__global__ void colsum_finish_kernel(const double* __restrict__ partial, T* __restrict__ out,
                                     int64_t slabs, int64_t cols) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  double t = 0.0;
  for (int64_t s = 0; s < slabs; ++s) t += partial[s * cols + c];
  out[c] = static_cast<T>(t);
}

template <typename T>
void column_sums(const T* g, const T* relu_y, T* out, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (rows <= 0) {
    memset_zero(out, static_cast<size_t>(cols) * sizeof(T));
    return;
  }
  // Enough slabs for ~1000 blocks, each slab at least 64 rows.
  const int64_t col_blocks = ceil_div<int64_t>(cols, kCsX);
  int64_t slabs = ceil_div<int64_t>(rows, 64);
  const int64_t want = ceil_div<int64_t>(1024, col_blocks);
  if (slabs > want) slabs = want;
  if (slabs > 65535) slabs = 65535;
  if (slabs < 1) slabs = 1;
  const int64_t rows_per_slab = ceil_div<int64_t>(rows, slabs);
  slabs = ceil_div<int64_t>(rows, rows_per_slab);
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(slabs));
  const dim3 block(kCsX, kCsY);
  if (slabs == 1) {
    colsum_partial_kernel<T><<<grid, block, 0, stream()>>>(g, relu_y, nullptr, out, rows, cols,
                                                           rows_per_slab);
    NABI_CUDA_CHECK_LAUNCH("colsum_partial_kernel");
    return;
  }
  // Workspace from the caching allocator; freed (returned to the cache) when this function
  // returns, which is safe because every kernel runs on the one stream.
  DeviceBuffer ws({slabs * cols}, DType::Float64);
  double* partial = ws.ptr<double>();
  colsum_partial_kernel<T><<<grid, block, 0, stream()>>>(g, relu_y, partial, nullptr, rows,
                                                         cols, rows_per_slab);
  NABI_CUDA_CHECK_LAUNCH("colsum_partial_kernel");
  colsum_finish_kernel<T><<<static_cast<unsigned>(ceil_div<int64_t>(cols, 256)), 256, 0,
                            stream()>>>(partial, out, slabs, cols);
  NABI_CUDA_CHECK_LAUNCH("colsum_finish_kernel");
}

// ---- narrow output (CO <= kNarrowCO, C >= 32): the 64 x 64 tile would waste 63/64 ----
// A convolution down to a few channels (an image generator's last 7x7 conv, 128 -> 1) gives
// the implicit GEMM a 64-column tile with one useful column. Here instead:
//   forward   one warp per output pixel: its lanes stride over the C channels of each
//             in-image tap (coalesced reads of x; the filter's (tap, c) row of CO values),
//             kNarrowCO accumulators per lane, then a warp-shuffle sum; lane 0 stores the CO
//             outputs with bias and ReLU.
//   wgrad     one thread per filter row (i, j, c) (consecutive threads: consecutive c, so
//             coalesced), CO accumulators, over one split's range of output pixels (walked
//             with incremental indices); the splits' partial rows go to the workspace and
//             split_sum_kernel adds them in order, as for the tiled path. Row KF (all ones)
//             is db, as there.
// dx keeps the tiled kernel: its N is C (wide) there.
constexpr int kNarrowCO = 8;
constexpr int kNarrowWarps = 8;  // forward: pixels (warps) per block

bool narrow_ok(const ConvDims& d) { return d.CO <= kNarrowCO && d.C >= 32; }

template <typename T>
__global__ void __launch_bounds__(kNarrowWarps * 32)
    narrow_fwd_kernel(const ConvDims d, const T* __restrict__ x, const T* __restrict__ w,
                      const T* __restrict__ bias, bool relu, T* __restrict__ y, int64_t M) {
  const int lane = threadIdx.x % 32;
  const int CO = static_cast<int>(d.CO);
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kNarrowWarps;
  for (int64_t m = static_cast<int64_t>(blockIdx.x) * kNarrowWarps + threadIdx.x / 32; m < M;
       m += warps) {
    const int64_t ow = m % d.OW, t = m / d.OW;
    const int64_t oh = t % d.OH, n = t / d.OH;
    const T* xn = x + n * d.H * d.W * d.C;
    T acc[kNarrowCO];
#pragma unroll
    for (int k = 0; k < kNarrowCO; ++k) acc[k] = T(0);
    for (int64_t i = 0; i < d.KH; ++i) {
      const int64_t ih = oh * d.sh - d.pt + i * d.dh;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t j = 0; j < d.KW; ++j) {
        const int64_t iw = ow * d.sw - d.pl + j * d.dw;
        if (iw < 0 || iw >= d.W) continue;
        const T* xr = xn + (ih * d.W + iw) * d.C;
        const T* wr = w + (i * d.KW + j) * d.C * d.CO;
        for (int64_t c = lane; c < d.C; c += 32) {
          const T xv = xr[c];
          const T* wc = wr + c * d.CO;
#pragma unroll
          for (int k = 0; k < kNarrowCO; ++k)
            if (k < CO) acc[k] += xv * wc[k];
        }
      }
    }
#pragma unroll
    for (int k = 0; k < kNarrowCO; ++k)
      for (int o = 16; o > 0; o >>= 1) acc[k] += __shfl_xor_sync(0xffffffffu, acc[k], o);
    if (lane == 0) {
#pragma unroll
      for (int k = 0; k < kNarrowCO; ++k) {  // unrolled, so acc stays in registers
        if (k >= CO) break;
        T v = acc[k];
        if (bias) v += bias[k];
        if (relu) v = v < T(0) ? T(0) : v;  // NaN stays NaN
        y[m * d.CO + k] = v;
      }
    }
  }
}

// out[s * split_stride + m * CO + co] (or dw / db directly with one split) for rows m < M
// (M = KF, + 1 for the bias row) over pixels [s*per, min(P, (s+1)*per)).
template <typename T>
__global__ void narrow_wgrad_kernel(const ConvDims d, const T* __restrict__ x,
                                    const T* __restrict__ dy, const T* __restrict__ relu_y,
                                    T* __restrict__ out, T* __restrict__ db,
                                    int64_t split_stride, int64_t KF, int64_t M, int64_t P,
                                    int64_t per) {
  const int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= M) return;
  const int CO = static_cast<int>(d.CO);
  const int64_t p0 = static_cast<int64_t>(blockIdx.y) * per;
  const int64_t p1 = p0 + per < P ? p0 + per : P;
  const bool ones = m == KF;  // the bias row
  int64_t c = 0, hoff = 0, woff = 0;
  if (!ones) {
    c = m % d.C;
    const int64_t tap = m / d.C;
    hoff = (tap / d.KW) * d.dh - d.pt;
    woff = (tap % d.KW) * d.dw - d.pl;
  }
  T acc[kNarrowCO];
#pragma unroll
  for (int k = 0; k < kNarrowCO; ++k) acc[k] = T(0);
  int64_t ow = p0 % d.OW, oh = (p0 / d.OW) % d.OH, n = p0 / (d.OW * d.OH);
  for (int64_t p = p0; p < p1; ++p) {
    T xv = T(1);
    if (!ones) {
      const int64_t ih = oh * d.sh + hoff, iw = ow * d.sw + woff;
      xv = (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W)
               ? T(0)
               : x[((n * d.H + ih) * d.W + iw) * d.C + c];
    }
#pragma unroll
    for (int k = 0; k < kNarrowCO; ++k)
      if (k < CO) acc[k] += xv * masked(dy, relu_y, p * d.CO + k);
    if (++ow == d.OW) {
      ow = 0;
      if (++oh == d.OH) {
        oh = 0;
        ++n;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kNarrowCO; ++k) {  // unrolled, so acc stays in registers
    if (k >= CO) break;
    if (split_stride == 0 && ones)
      db[k] = acc[k];
    else
      out[static_cast<int64_t>(blockIdx.y) * split_stride + m * d.CO + k] = acc[k];
  }
}

// Grid of 64 x 64 tiles over an M x N result (the binding keeps N / 64 < 65536).
dim3 tile_grid(int64_t M, int64_t N, int64_t splits) {
  return dim3(static_cast<unsigned>(ceil_div<int64_t>(M, kBM)),
              static_cast<unsigned>(ceil_div<int64_t>(N, kBN)), static_cast<unsigned>(splits));
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvDims& d, const T* x, const T* w, const T* b, bool relu, T* y) {
  const int64_t M = d.N * d.OH * d.OW, K = d.KH * d.KW * d.C;
  if (M <= 0 || d.CO <= 0) return;  // y is empty
  if (narrow_ok(d)) {
    narrow_fwd_kernel<T><<<grid_for(M, kNarrowWarps, 65535LL * 16), kNarrowWarps * 32, 0,
                           stream()>>>(d, x, w, b, relu, y, M);
    NABI_CUDA_CHECK_LAUNCH("narrow_fwd_kernel");
    return;
  }
  FwdProblem<T> p{d, x, w, b, relu, y, M, d.CO, K};
  // K == 0 (C == 0) runs no reduction step: y = bias (+ ReLU), as on the CPU.
  igemm_kernel<T, FwdProblem<T>><<<tile_grid(M, d.CO, 1), kThreads, 0, stream()>>>(p, K);
  NABI_CUDA_CHECK_LAUNCH("igemm_kernel<conv2d_forward>");
}

template <typename T>
void launch_dgrad(const ConvDims& d, const T* w, const T* dy, const T* relu_y, const T* bias,
                  bool relu, T* dx) {
  if ((d.sh > 1 || d.sw > 1) && d.dh == 1 && d.dw == 1) {
    for (int64_t rh = 0; rh < d.sh; ++rh)
      for (int64_t rw = 0; rw < d.sw; ++rw) {
        const int64_t q0 = -floor_div(rh - d.pt, d.sh), q1 = floor_div(d.H - 1 + d.pt - rh, d.sh);
        const int64_t p0 = -floor_div(rw - d.pl, d.sw), p1 = floor_div(d.W - 1 + d.pl - rw, d.sw);
        const int64_t Hq = q1 - q0 + 1, Wq = p1 - p0 + 1;
        if (Hq <= 0 || Wq <= 0) continue;
        const int64_t Mh = rh < d.KH ? ceil_div<int64_t>(d.KH - rh, d.sh) : 0;
        const int64_t Mw = rw < d.KW ? ceil_div<int64_t>(d.KW - rw, d.sw) : 0;
        const int64_t M = d.N * Hq * Wq, K = Mh * Mw * d.CO;
        PhaseDgradProblem<T> p{d, dy, relu_y, w, dx, rh, rw, q0, p0, Hq, Wq, Mh, Mw,
                               M, d.C, K, bias, relu};
        igemm_kernel<T, PhaseDgradProblem<T>><<<tile_grid(M, d.C, 1), kThreads, 0,
                                                 stream()>>>(p, K);
        NABI_CUDA_CHECK_LAUNCH("igemm_kernel<conv2d_backward_data_phase>");
      }
  } else {
    const int64_t M = d.N * d.H * d.W, K = d.KH * d.KW * d.CO;
    DgradProblem<T> p{d, dy, relu_y, w, dx, M, d.C, K, bias, relu};
    igemm_kernel<T, DgradProblem<T>><<<tile_grid(M, d.C, 1), kThreads, 0, stream()>>>(p, K);
    NABI_CUDA_CHECK_LAUNCH("igemm_kernel<conv2d_backward_data>");
  }
}

template <typename T>
void conv2d_backward(const ConvDims& d, const T* x, const T* w, const T* dy, const T* relu_y,
                     T* dx, T* dw, T* db) {
  const int64_t P = d.N * d.OH * d.OW;      // output pixels
  const int64_t KF = d.KH * d.KW * d.C;     // filter rows
  const int64_t XS = d.N * d.H * d.W * d.C;  // elements of x
  // The CPU's order of cases: an empty x leaves dw/db zero; an empty output makes dx zero too.
  // Otherwise every element of dx, dw and db is written by a kernel (nothing is zeroed first).
  if (XS <= 0 || P <= 0 || d.CO <= 0) {
    if (dw) memset_zero(dw, static_cast<size_t>(KF * d.CO) * sizeof(T));
    if (db) memset_zero(db, static_cast<size_t>(d.CO) * sizeof(T));
    if (dx && XS > 0) memset_zero(dx, static_cast<size_t>(XS) * sizeof(T));
    return;
  }
  if (dx) launch_dgrad<T>(d, w, dy, relu_y, nullptr, false, dx);
  const bool bias_row = dw && db && KF > 0;  // db as row KF of the filter-gradient GEMM
  if (dw && KF > 0 && narrow_ok(d)) {
    const int64_t M = KF + (bias_row ? 1 : 0);
    // ~2000 blocks of 256 rows x one split each, splits of >= 128 pixels
    const int64_t row_blocks = ceil_div<int64_t>(M, 256);
    int64_t splits = ceil_div<int64_t>(2048, row_blocks);
    const int64_t max_splits = ceil_div<int64_t>(P, 128);
    if (splits > max_splits) splits = max_splits;
    if (splits > 65535) splits = 65535;
    if (splits < 1) splits = 1;
    const int64_t per = ceil_div<int64_t>(P, splits);
    splits = ceil_div<int64_t>(P, per);
    const int64_t n = M * d.CO;
    DeviceBuffer ws({splits > 1 ? splits * n : 0}, sizeof(T) == 4 ? DType::Float32
                                                                  : DType::Float64);
    narrow_wgrad_kernel<T><<<dim3(static_cast<unsigned>(row_blocks),
                                  static_cast<unsigned>(splits)), 256, 0, stream()>>>(
        d, x, dy, relu_y, splits > 1 ? ws.ptr<T>() : dw, bias_row ? db : nullptr,
        splits > 1 ? n : 0, KF, M, P, per);
    NABI_CUDA_CHECK_LAUNCH("narrow_wgrad_kernel");
    if (splits > 1) {
      split_sum_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
          ws.ptr<T>(), dw, KF * d.CO, db, n, splits);
      NABI_CUDA_CHECK_LAUNCH("split_sum_kernel");
    }
  } else if (dw && KF > 0) {
    const int64_t M = KF + (bias_row ? 1 : 0);
    // Split the pixel reduction so that the grid has ~1000 blocks, each split >= 256 pixels
    // (a multiple of kBK).
    const int64_t tiles = ceil_div<int64_t>(M, kBM) * ceil_div<int64_t>(d.CO, kBN);
    int64_t splits = ceil_div<int64_t>(1024, tiles);
    const int64_t max_splits = ceil_div<int64_t>(P, 256);
    if (splits > max_splits) splits = max_splits;
    if (splits > 65535) splits = 65535;
    if (splits < 1) splits = 1;
    const int64_t per = ceil_div<int64_t>(ceil_div<int64_t>(P, splits), kBK) * kBK;
    splits = ceil_div<int64_t>(P, per);
    const int64_t n = M * d.CO;
    // Workspace from the caching allocator, returned at scope exit (one stream: safe).
    DeviceBuffer ws({splits > 1 ? splits * n : 0}, sizeof(T) == 4 ? DType::Float32
                                                                  : DType::Float64);
    WgradProblem<T> p{d, x, dy, relu_y, splits > 1 ? ws.ptr<T>() : dw,
                      bias_row ? db : nullptr, splits > 1 ? n : 0, KF, M, d.CO, P};
    igemm_kernel<T, WgradProblem<T>><<<tile_grid(M, d.CO, splits), kThreads, 0, stream()>>>(
        p, per);
    NABI_CUDA_CHECK_LAUNCH("igemm_kernel<conv2d_backward_filter>");
    if (splits > 1) {
      split_sum_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
          ws.ptr<T>(), dw, KF * d.CO, db, n, splits);
      NABI_CUDA_CHECK_LAUNCH("split_sum_kernel");
    }
  }
  if (db && !bias_row) column_sums<T>(dy, relu_y, db, P, d.CO);
}

template <typename T>
void conv2d_backward_data(const ConvDims& d, const T* w, const T* dy, const T* b, bool relu,
                          T* dx) {
  const int64_t XS = d.N * d.H * d.W * d.C;
  if (XS <= 0) return;
  if (d.N * d.OH * d.OW <= 0 || d.CO <= 0) {
    // No output pixel: dx is [relu](b), or zeros. The GEMM with K = 0 stores exactly that.
    const int64_t M = d.N * d.H * d.W;
    DgradProblem<T> p{d, dy, nullptr, w, dx, M, d.C, 0, b, relu};
    igemm_kernel<T, DgradProblem<T>><<<tile_grid(M, d.C, 1), kThreads, 0, stream()>>>(p, 0);
    NABI_CUDA_CHECK_LAUNCH("igemm_kernel<conv2d_backward_data_empty>");
    return;
  }
  launch_dgrad<T>(d, w, dy, nullptr, b, relu, dx);
}

template void conv2d_forward<float>(const ConvDims&, const float*, const float*, const float*,
                                    bool, float*);
template void conv2d_forward<double>(const ConvDims&, const double*, const double*,
                                     const double*, bool, double*);
template void conv2d_backward<float>(const ConvDims&, const float*, const float*, const float*,
                                     const float*, float*, float*, float*);
template void conv2d_backward<double>(const ConvDims&, const double*, const double*,
                                      const double*, const double*, double*, double*, double*);
template void conv2d_backward_data<float>(const ConvDims&, const float*, const float*,
                                          const float*, bool, float*);
template void conv2d_backward_data<double>(const ConvDims&, const double*, const double*,
                                           const double*, bool, double*);

}  // namespace nabi::cuda
