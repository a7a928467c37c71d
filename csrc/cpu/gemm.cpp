// Blocked, packed GEMM (GotoBLAS / BLIS design) for float and double, row-major:
//   C[M,N] = alpha * op(A) @ op(B) + beta * C          (interface and semantics: gemm.h)
//
// Algorithm. Five loops around a register-blocked micro-kernel:
//   for jc in N step NC:                   B block (KC x NC) lives in L3 (shared by the cores)
//     for pc in K step KC:                 pack op(B)[pc:pc+KC, jc:jc+NC] into NR-column panels
//       for ic in M step MC:               (parallel) pack op(A)[ic:ic+MC, pc:pc+KC] into MR-row
//                                          panels; that A block lives in the core's own L2
//         for jr in NC step NR:            one B micro-panel (KC x NR) stays in L1 ...
//           for ir in MC step MR:          ... while the A micro-panels stream from L2
//             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= A panel @ B panel, in registers
// Packing reads op(A)/op(B) once per block in whatever layout (all four transpose cases are
// handled by the two pack routines) and writes them k-major and contiguous, zero-padded up
// to MR/NR, so the micro-kernel always runs full tiles with unit-stride aligned loads and
// never reads past a buffer. Edge tiles are computed into a small scratch tile and only the
// valid part is merged into C. alpha is applied in the micro-kernel; beta only on the first
// K block (later blocks accumulate with beta = 1); beta == 0 never reads C.
//
// Blocking (this machine: AMD EPYC Zen 3, per core 32 KiB L1d, 512 KiB L2, 32 MiB L3 shared;
// values close to BLIS's zen3 configuration):
//   ISA       type    MR x NR   KC    MC    NC    B micro-panel (L1)  A block (L2)
//   avx2      float    6 x 16   256   144  4080        16 KiB          144 KiB
//   avx2      double   6 x 8    256    72  4080        16 KiB          144 KiB
//   avx512    float   12 x 32   256   144  4096        32 KiB          144 KiB  (untested here)
//   avx512    double  12 x 16   256    72  4096        32 KiB          144 KiB  (untested here)
//   portable  float    4 x 8    256   128  4096         8 KiB          128 KiB
//   portable  double   4 x 4    256    64  4096         8 KiB          128 KiB
// KC: the B micro-panel (KC*NR) takes half of L1 so that it, the streaming A micro-panel and
// the C tile fit together. MC: the A block (MC*KC) takes ~1/4..1/3 of L2, leaving room for the
// B block's lines passing through. NC: the packed B block (KC*NC, ~4-8 MiB) fits in L3.
// The K, M and N block sizes are balanced (K=257 is split 129+128, not 256+1).
//
// Threads (OpenMP, nabi::max_threads()): for each (jc, pc) block each thread packs a
// contiguous share of the B panels and publishes it (a per-thread flag), then takes a
// contiguous, equal share of the tasks. A task is one M block (its A block packed by the
// thread into its own core's L2) times the packed B block: the thread first multiplies the
// panels it packed itself, then each other thread's share as soon as it is published, so
// there is no barrier before the compute. The number of M blocks is rounded up to a multiple
// of the thread count so the shares are equal; when M is too small to split (M < 2*MR per
// thread) a task is one share of the B panels instead. A barrier guards B before it is
// repacked for the next block (none after the last one). (Claiming ~4 smaller tasks per
// thread from an atomic counter was tried and measured 10-15% slower on 2 cores.)
// Problems under 64^3 multiply-adds stay single-threaded; calls from inside a parallel region
// run serially. Every thread sets FTZ/DAZ (FlushDenormals) while it works.
//
// ISA dispatch: chosen once at first use with __builtin_cpu_supports (x86 only): avx512 >
// avx2 > portable. NABI_GEMM_ISA=avx2|portable|avx512 forces a lower ISA (ignored when the CPU
// lacks it); gemm_set_isa() does the same at run time (tests use it via _C._gemm_force_isa).
//
// Test and benchmark:
//   tools/dev-build.sh && PYTHONPATH=python python3 -m pytest tests/test_gemm_kernel.py -q
//   PYTHONPATH=python /work/venv-bench/bin/python bench/bench_matmul.py   (GFLOP/s vs NumPy/torch)
#include "cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>

#include "cpu/parallel.h"

namespace nabi::cpu {

#if defined(NABI_X86)
namespace avx2 {
void sgemm_micro_6x16(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                      float alpha, float beta);
void dgemm_micro_6x8(int64_t k, const double* a, const double* b, double* c, int64_t ldc,
                     double alpha, double beta);
}  // namespace avx2
namespace avx512 {
void sgemm_micro_12x32(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                       float alpha, float beta);
void dgemm_micro_12x16(int64_t k, const double* a, const double* b, double* c, int64_t ldc,
                       double alpha, double beta);
}  // namespace avx512
#endif

namespace {

// ---- packing ----------------------------------------------------------------------------
// Both pack routines produce k-major micro-panels of R rows: dst[p*R + i] for p < k, i < R,
// zero for i >= r (the valid rows). Two source layouts cover all four transpose cases:
//   gather: dst[p*R + i] = src[i*ld + p]  (A not transposed, or B transposed: R strided rows)
//   copy:   dst[p*R + i] = src[p*ld + i]  (A transposed, or B not transposed: contiguous runs)
// R is a compile-time constant so the copies vectorise; the full-panel gather transposes
// 4x4 (float) / 2x2 (double) blocks in SSE2 registers (baseline x86-64) instead of moving
// one element at a time.
template <typename T, int R>
void pack_gather(const T* src, int64_t ld, int64_t r, int64_t k, T* dst) {
  int64_t p = 0;
  if (r == R) {
#if defined(NABI_X86)
    if constexpr (std::is_same_v<T, float> && R % 2 == 0 && R >= 4) {
      for (; p + 4 <= k; p += 4) {
        const float* s = src + p;
        float* d = dst + p * R;
        int i = 0;
        for (; i + 4 <= R; i += 4) {
          __m128 x0 = _mm_loadu_ps(s + (i + 0) * ld), x1 = _mm_loadu_ps(s + (i + 1) * ld);
          __m128 x2 = _mm_loadu_ps(s + (i + 2) * ld), x3 = _mm_loadu_ps(s + (i + 3) * ld);
          _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
          _mm_storeu_ps(d + 0 * R + i, x0);
          _mm_storeu_ps(d + 1 * R + i, x1);
          _mm_storeu_ps(d + 2 * R + i, x2);
          _mm_storeu_ps(d + 3 * R + i, x3);
        }
        if (i + 2 <= R) {  // R % 4 == 2: the last pair of rows
          const __m128 y0 = _mm_loadu_ps(s + i * ld), y1 = _mm_loadu_ps(s + (i + 1) * ld);
          const __m128 lo = _mm_unpacklo_ps(y0, y1), hi = _mm_unpackhi_ps(y0, y1);
          _mm_storel_pi(reinterpret_cast<__m64*>(d + 0 * R + i), lo);
          _mm_storeh_pi(reinterpret_cast<__m64*>(d + 1 * R + i), lo);
          _mm_storel_pi(reinterpret_cast<__m64*>(d + 2 * R + i), hi);
          _mm_storeh_pi(reinterpret_cast<__m64*>(d + 3 * R + i), hi);
        }
      }
    } else if constexpr (std::is_same_v<T, double> && R % 2 == 0) {
      for (; p + 2 <= k; p += 2) {
        const double* s = src + p;
        double* d = dst + p * R;
        for (int i = 0; i < R; i += 2) {
          const __m128d x0 = _mm_loadu_pd(s + i * ld), x1 = _mm_loadu_pd(s + (i + 1) * ld);
          _mm_storeu_pd(d + i, _mm_unpacklo_pd(x0, x1));
          _mm_storeu_pd(d + R + i, _mm_unpackhi_pd(x0, x1));
        }
      }
    }
#endif
    for (; p < k; ++p)
      for (int i = 0; i < R; ++i) dst[p * R + i] = src[i * ld + p];
    return;
  }
  // Edge panel (r < R rows).
  for (int64_t i = 0; i < r; ++i)
    for (int64_t q = 0; q < k; ++q) dst[q * R + i] = src[i * ld + q];
  for (int64_t i = r; i < R; ++i)
    for (int64_t q = 0; q < k; ++q) dst[q * R + i] = T(0);
}

template <typename T, int R>
void pack_copy(const T* src, int64_t ld, int64_t r, int64_t k, T* dst) {
  if (r == R) {
    for (int64_t p = 0; p < k; ++p)
      for (int i = 0; i < R; ++i) dst[p * R + i] = src[p * ld + i];
    return;
  }
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t i = 0; i < r; ++i) dst[p * R + i] = src[p * ld + i];
    for (int64_t i = r; i < R; ++i) dst[p * R + i] = T(0);
  }
}

// ---- portable micro-kernel (plain C++; the compiler vectorises it for the baseline ISA) ----
template <typename T, int MR, int NR>
void micro_portable(int64_t k, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < k; ++p) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      c[i * ldc + j] = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

template <typename T>
using MicroKernel = void (*)(int64_t k, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                             T beta);

template <typename T>
using PackFn = void (*)(const T* src, int64_t ld, int64_t r, int64_t k, T* dst);

template <typename T>
struct Kernel {
  MicroKernel<T> micro;
  int64_t mr, nr, kc, mc, nc;
  PackFn<T> pack_mr_gather, pack_mr_copy, pack_nr_gather, pack_nr_copy;
};

struct Isa {
  const char* name;
  Kernel<float> s;
  Kernel<double> d;
};

constexpr int64_t kMaxTile = 12 * 32;  // largest MR*NR of any kernel (scratch edge tile)

template <typename T, int MR, int NR>
constexpr Kernel<T> make_kernel(MicroKernel<T> micro, int64_t kc, int64_t mc, int64_t nc) {
  return {micro, MR, NR, kc, mc, nc, &pack_gather<T, MR>, &pack_copy<T, MR>,
          &pack_gather<T, NR>, &pack_copy<T, NR>};
}

const Isa kPortable = {"portable",
                       make_kernel<float, 4, 8>(&micro_portable<float, 4, 8>, 256, 128, 4096),
                       make_kernel<double, 4, 4>(&micro_portable<double, 4, 4>, 256, 64, 4096)};
#if defined(NABI_X86)
const Isa kAvx2 = {"avx2", make_kernel<float, 6, 16>(&avx2::sgemm_micro_6x16, 256, 144, 4080),
                   make_kernel<double, 6, 8>(&avx2::dgemm_micro_6x8, 256, 72, 4080)};
const Isa kAvx512 = {"avx512",
                     make_kernel<float, 12, 32>(&avx512::sgemm_micro_12x32, 256, 144, 4096),
                     make_kernel<double, 12, 16>(&avx512::dgemm_micro_12x16, 256, 72, 4096)};
#endif

// The best ISA this CPU runs, or the lower one named by `request` when the CPU has it.
const Isa* pick_isa(const char* request) {
  const Isa* best = &kPortable;
#if defined(NABI_X86)
  __builtin_cpu_init();
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  // gemm_kernels_avx512.cpp is compiled with -mavx512f/dq/bw/vl, so require all four.
  const bool has_avx512 = has_avx2 && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (has_avx512)
    best = &kAvx512;
  else if (has_avx2)
    best = &kAvx2;
  if (request && std::strcmp(request, "avx2") == 0 && has_avx2) return &kAvx2;
  if (request && std::strcmp(request, "avx512") == 0 && has_avx512) return &kAvx512;
#endif
  if (request && std::strcmp(request, "portable") == 0) return &kPortable;
  return best;
}

std::atomic<const Isa*>& isa_slot() {
  static std::atomic<const Isa*> slot{pick_isa(std::getenv("NABI_GEMM_ISA"))};
  return slot;
}

const Kernel<float>& kernel_for(const Isa* isa, float*) { return isa->s; }
const Kernel<double>& kernel_for(const Isa* isa, double*) { return isa->d; }

// ---- per-thread packing buffers (64-byte aligned, grown on demand, kept for reuse) ----------
struct Buffer {
  void* p = nullptr;
  size_t bytes = 0;
  ~Buffer() { std::free(p); }
  void* get(size_t need) {
    if (need > bytes) {
      std::free(p);
      bytes = (need + 63) / 64 * 64;
      p = std::aligned_alloc(64, bytes);
      if (!p) {
        bytes = 0;
        throw std::bad_alloc();
      }
    }
    return p;
  }
};
thread_local Buffer tls_a_buffer, tls_b_buffer;

// Spins (then yields, in case the other thread is waiting for a core) until flag >= value.
inline void wait_until_packed(const std::atomic<int64_t>& flag, int64_t value) {
  for (int spins = 0; flag.load(std::memory_order_acquire) < value; ++spins) {
    if (spins < 4000) {
#if defined(NABI_X86)
      _mm_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Packs rows [0, m) x cols [0, k) of op(A) (op(A)(i, p) = A[i*lda + p], or A[p*lda + i] when
// transposed; A points at the block's corner) into MR-row panels.
template <typename T>
void pack_a(const Kernel<T>& kn, bool trans, const T* A, int64_t lda, int64_t m, int64_t k,
            T* dst) {
  const int64_t MR = kn.mr;
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += MR * k) {
    const int64_t mr = std::min(MR, m - i0);
    if (trans)
      kn.pack_mr_copy(A + i0, lda, mr, k, dst);
    else
      kn.pack_mr_gather(A + i0 * lda, lda, mr, k, dst);
  }
}

// Packs rows [0, k) x cols [j0, j1) of op(B) (op(B)(p, j) = B[p*ldb + j], or B[j*ldb + p] when
// transposed) into NR-column panels. j0 is a multiple of NR, j1 one too or n; dst points at
// panel j0 / NR.
template <typename T>
void pack_b(const Kernel<T>& kn, bool trans, const T* B, int64_t ldb, int64_t k, int64_t n,
            int64_t j0, int64_t j1, T* dst) {
  const int64_t NR = kn.nr;
  for (int64_t j = j0; j < j1; j += NR, dst += NR * k) {
    const int64_t nr = std::min(NR, n - j);
    if (trans)
      kn.pack_nr_gather(B + j * ldb, ldb, nr, k, dst);
    else
      kn.pack_nr_copy(B + j, ldb, nr, k, dst);
  }
}

// C = beta * C over an M x N block (used when K == 0 or alpha == 0).
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  if (beta == T(1)) return;
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// The macro-kernel: C[0:m, panels p0..p1) (+)= packed A block @ packed B panels.
template <typename T>
void macro_kernel(const Kernel<T>& kn, int64_t m, int64_t n, int64_t k, int64_t p0, int64_t p1,
                  const T* apack, const T* bpack, T alpha, T beta, T* C, int64_t ldc) {
  const int64_t MR = kn.mr, NR = kn.nr;
  alignas(64) T tile[kMaxTile];
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t j = p * NR, nr = std::min(NR, n - j);
    const T* bp = bpack + p * NR * k;
    for (int64_t i = 0; i < m; i += MR) {
      const int64_t mr = std::min(MR, m - i);
      const T* ap = apack + i * k;
      T* c = C + i * ldc + j;
      if (mr == MR && nr == NR) {
        kn.micro(k, ap, bp, c, ldc, alpha, beta);
      } else {
        kn.micro(k, ap, bp, tile, NR, T(1), T(0));
        for (int64_t ii = 0; ii < mr; ++ii)
          for (int64_t jj = 0; jj < nr; ++jj) {
            T& dst = c[ii * ldc + jj];
            dst = beta == T(0) ? alpha * tile[ii * NR + jj]
                               : alpha * tile[ii * NR + jj] + beta * dst;
          }
      }
    }
  }
}

template <typename T>
void gemm_blocked(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const Kernel<T>& kn = kernel_for(isa_slot().load(std::memory_order_relaxed), (T*)nullptr);
  const int64_t MR = kn.mr, NR = kn.nr;

  int nt = max_threads();
  if (static_cast<double>(M) * N * K < 64.0 * 64 * 64) nt = 1;

  // Balanced block sizes.
  const int64_t kc = ceil_div(K, ceil_div(K, kn.kc));
  const int64_t nc = round_up(ceil_div(N, ceil_div(N, kn.nc)), NR);
  int64_t n_mblocks = ceil_div(M, kn.mc);
  int64_t n_split = 1;  // how many pieces each B block's panels are cut into
  if (nt > 1) {
    if (M >= 2 * MR * nt)
      n_mblocks = round_up(n_mblocks, nt);
    else
      n_split = nt;
  }
  const int64_t mc = round_up(ceil_div(M, n_mblocks), MR);
  n_mblocks = ceil_div(M, mc);
  const int64_t n_tasks = n_mblocks * n_split;
  if (n_tasks < nt) nt = static_cast<int>(n_tasks);

  T* bpack = static_cast<T*>(tls_b_buffer.get(sizeof(T) * kc * std::min(nc, round_up(N, NR))));
  // packed_iter[t]: the last (jc, pc) block whose B share thread t has finished packing.
  std::unique_ptr<std::atomic<int64_t>[]> packed_iter(new std::atomic<int64_t>[nt]);
  for (int t = 0; t < nt; ++t) packed_iter[t].store(-1, std::memory_order_relaxed);
  const int64_t n_iters = ceil_div(N, nc) * ceil_div(K, kc);

  auto body = [&](int tid, int T_) {
    FlushDenormals ftz;
    T* apack = static_cast<T*>(tls_a_buffer.get(sizeof(T) * kc * mc));
    int64_t iter = 0;
    for (int64_t jc = 0; jc < N; jc += nc) {
      const int64_t ncur = std::min(nc, N - jc), npanels = ceil_div(ncur, NR);
      for (int64_t pc = 0; pc < K; pc += kc, ++iter) {
        const int64_t kcur = std::min(kc, K - pc);
        const T beta_eff = pc == 0 ? beta : T(1);
        // Pack this thread's share of the B panels and publish it.
        {
          const int64_t q0 = npanels * tid / T_, q1 = npanels * (tid + 1) / T_;
          const T* Bblk = tb ? B + jc * ldb + pc : B + pc * ldb + jc;
          pack_b(kn, tb, Bblk, ldb, kcur, ncur, q0 * NR, std::min(q1 * NR, ncur),
                 bpack + q0 * NR * kcur);
          if (T_ > 1) packed_iter[tid].store(iter, std::memory_order_release);
        }
        const int64_t t0 = n_tasks * tid / T_, t1 = n_tasks * (tid + 1) / T_;
        int64_t packed = -1;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t mb = t / n_split, s = t % n_split;
          const int64_t ic = mb * mc, mcur = std::min(mc, M - ic);
          if (mb != packed) {
            const T* Ablk = ta ? A + pc * lda + ic : A + ic * lda + pc;
            pack_a(kn, ta, Ablk, lda, mcur, kcur, apack);
            packed = mb;
          }
          const int64_t p0 = npanels * s / n_split, p1 = npanels * (s + 1) / n_split;
          // Own panels first (no waiting, already in this core's cache), then each other
          // thread's share as soon as that thread has published it.
          for (int o = 0; o < T_; ++o) {
            const int u = (tid + o) % T_;
            const int64_t lo = std::max(p0, npanels * u / T_);
            const int64_t hi = std::min(p1, npanels * (u + 1) / T_);
            if (lo >= hi) continue;
            if (u != tid) wait_until_packed(packed_iter[u], iter);
            macro_kernel(kn, mcur, ncur, kcur, lo, hi, apack, bpack, alpha, beta_eff,
                         C + ic * ldc + jc, ldc);
          }
        }
        if (T_ > 1 && iter + 1 < n_iters) {  // nobody repacks B while another thread reads it
#pragma omp barrier
        }
      }
    }
  };

  if (nt <= 1) {
    body(0, 1);
  } else {
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc) {
  gemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* gemm_isa() { return isa_slot().load()->name; }

const char* gemm_set_isa(const char* name) {
  isa_slot().store(pick_isa(name));
  return gemm_isa();
}

}  // namespace nabi::cpu
