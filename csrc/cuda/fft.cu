// Batched 1-D complex FFTs over the innermost axis (see complex_launchers.h), nabi's own
// kernels (no cuFFT), behind tf.signal's FFT family on complex64 / complex128 GPU tensors.
//
// Algorithm:
//   n a power of two: Stockham autosort, radix 2. Stage s (Ns = 2^s) reads in[j] and
//     in[j + n/2] for j < n/2, twiddles the second by exp(sign i pi k / Ns), k = j mod Ns, and
//     writes the butterfly to out[2 (j - k) + k] and out[2 (j - k) + k + Ns]: natural order
//     out after log2 n stages, no bit reversal. Rows of n <= kSmallN run in one launch: one
//     block per row (grid-stride over rows), both ping-pong buffers in shared memory, a
//     __syncthreads between stages. Longer rows: one launch per stage over the whole batch
//     in global memory, ping-ponging between y and a scratch buffer so that the last stage
//     writes y. Twiddles: sincospi in double, rounded to the element's precision.
//   any other n: Bluestein's chirp-z. With w[k] = exp(sign i pi k^2 / n) (k^2 taken mod 2n,
//     exactly, before the angle is formed), X[k] = w[k] sum_t (x[t] w[t]) conj(w[k - t]): a
//     linear convolution, done as a cyclic one of length m = the power of two >= 2n - 1
//     through the power-of-two FFT: A = FFT(x w zero-padded), B = FFT(conj(w) wrapped),
//     y = w * IFFT(A B) / m. Five launches plus the three FFTs;
//     scratch: 2 (batch, m) + 2 m + n elements.
//   The result is multiplied by `scale` in the last pass (ifft's 1/n, norm='ortho').
// Hermitian completion (irfft): one thread per output element.
// Layouts: x, y (batch, n) contiguous complex; w (n,), a (batch, m), b (m,) scratch.
// Tests: tests/test_cuda_complex_fft.py (emulator, simulator, GPU) against numpy.fft.
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/complex_launchers.h"
#include "cuda/complex_math.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kSmallN = 1024;  // 2 x 1024 complex128 = 32 KiB of shared memory

// One radix-2 Stockham butterfly j (< n/2) of the stage with span Ns.
template <typename R>
__device__ __forceinline__ void stockham_butterfly(const Cx<R>* __restrict__ in,
                                                   Cx<R>* __restrict__ out, int64_t j,
                                                   int64_t half, int64_t Ns, double sign,
                                                   R scale) {
  const int64_t k = j & (Ns - 1);
  const Cx<R> a0 = in[j];
  const Cx<R> a1 = cx_mul(in[j + half], cx_expipi<R>(sign * static_cast<double>(k) / Ns));
  const int64_t o = 2 * (j - k) + k;
  out[o] = cx_scale(cx_add(a0, a1), scale);
  out[o + Ns] = cx_scale(cx_sub(a0, a1), scale);
}

template <typename R>
__global__ void __launch_bounds__(kThreads)
    fft_small_kernel(const Cx<R>* __restrict__ x,  // [batch, n]
                     Cx<R>* __restrict__ y,        // [batch, n]
                     int64_t batch, int64_t n, double sign, R scale) {
  __shared__ Cx<R> buf[2][kSmallN];
  const int64_t half = n / 2;
  for (int64_t row = blockIdx.x; row < batch; row += gridDim.x) {
    const Cx<R>* xr = x + row * n;
    for (int64_t t = threadIdx.x; t < n; t += blockDim.x) buf[0][t] = xr[t];
    __syncthreads();
    int cur = 0;
    for (int64_t Ns = 1; Ns < n; Ns *= 2) {
      const R s = 2 * Ns == n ? scale : R(1);
      for (int64_t j = threadIdx.x; j < half; j += blockDim.x)
        stockham_butterfly(buf[cur], buf[cur ^ 1], j, half, Ns, sign, s);
      cur ^= 1;
      __syncthreads();
    }
    Cx<R>* yr = y + row * n;
    for (int64_t t = threadIdx.x; t < n; t += blockDim.x)
      yr[t] = n == 1 ? cx_scale(buf[cur][t], scale) : buf[cur][t];
    __syncthreads();  // buf is reused by the next row
  }
}

template <typename R>
__global__ void __launch_bounds__(kThreads)
    fft_stage_kernel(const Cx<R>* __restrict__ in,  // [batch, n]
                     Cx<R>* __restrict__ out,       // [batch, n]
                     int64_t batch, int64_t n, int64_t Ns, double sign, R scale) {
  const int64_t half = n / 2, total = batch * half;
  const int64_t grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid) {
    const int64_t row = i / half, j = i - row * half;
    stockham_butterfly(in + row * n, out + row * n, j, half, Ns, sign, scale);
  }
}

template <typename R>
void fft_pow2(const Cx<R>* x, int64_t batch, int64_t n, double sign, R scale, Cx<R>* y) {
  if (n <= kSmallN) {
    const int64_t threads = n / 2 < kThreads ? (n / 2 > 0 ? n / 2 : 1) : kThreads;
    const int64_t blocks = batch < 65535 ? batch : 65535;
    fft_small_kernel<R><<<static_cast<unsigned>(blocks), static_cast<unsigned>(threads), 0,
                          stream()>>>(x, y, batch, n, sign, scale);
    NABI_CUDA_CHECK_LAUNCH("fft_small_kernel");
    return;
  }
  int stages = 0;
  for (int64_t v = n; v > 1; v >>= 1) ++stages;
  DeviceBuffer scratch({batch * n}, sizeof(R) == 4 ? DType::Complex64 : DType::Complex128);
  Cx<R>* tmp = static_cast<Cx<R>*>(scratch.data());
  const Cx<R>* in = x;
  const int64_t total = batch * (n / 2);
  for (int s = 0; s < stages; ++s) {
    Cx<R>* out = ((stages - 1 - s) % 2 == 0) ? y : tmp;
    fft_stage_kernel<R><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        in, out, batch, n, int64_t{1} << s, sign, s == stages - 1 ? scale : R(1));
    NABI_CUDA_CHECK_LAUNCH("fft_stage_kernel");
    in = out;
  }
}

// w[k] = exp(sign i pi (k^2 mod 2n) / n).
template <typename R>
__global__ void __launch_bounds__(kThreads)
    chirp_kernel(Cx<R>* __restrict__ w,  // [n]
                 int64_t n, double sign) {
  const int64_t grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += grid) {
    // k < n < 2^32 (the binding's limit): k^2 fits in 64 bits unsigned
    const uint64_t uk = static_cast<uint64_t>(k);
    const int64_t r = static_cast<int64_t>((uk * uk) % static_cast<uint64_t>(2 * n));
    w[k] = cx_expipi<R>(sign * static_cast<double>(r) / static_cast<double>(n));
  }
}

// a[b, t] = x[b, t] w[t] for t < n, 0 up to m.
template <typename R>
__global__ void __launch_bounds__(kThreads)
    chirp_premultiply_kernel(const Cx<R>* __restrict__ x,  // [batch, n]
                             const Cx<R>* __restrict__ w,  // [n]
                             Cx<R>* __restrict__ a,        // [batch, m]
                             int64_t batch, int64_t n, int64_t m) {
  const int64_t total = batch * m, grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid) {
    const int64_t row = i / m, t = i - row * m;
    a[i] = t < n ? cx_mul(x[row * n + t], w[t]) : Cx<R>{0, 0};
  }
}

// b[t] = conj(w[t]) for t < n, conj(w[m - t]) for t > m - n, 0 between.
template <typename R>
__global__ void __launch_bounds__(kThreads)
    chirp_filter_kernel(const Cx<R>* __restrict__ w,  // [n]
                        Cx<R>* __restrict__ b,        // [m]
                        int64_t n, int64_t m) {
  const int64_t grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < m;
       t += grid)
    b[t] = t < n ? cx_conj(w[t]) : (t > m - n ? cx_conj(w[m - t]) : Cx<R>{0, 0});
}

// a[b, t] *= b[t].
template <typename R>
__global__ void __launch_bounds__(kThreads)
    spectrum_multiply_kernel(Cx<R>* __restrict__ a,        // [batch, m]
                             const Cx<R>* __restrict__ b,  // [m]
                             int64_t batch, int64_t m) {
  const int64_t total = batch * m, grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid)
    a[i] = cx_mul(a[i], b[i % m]);
}

// y[b, k] = w[k] c[b, k] scale for k < n.
template <typename R>
__global__ void __launch_bounds__(kThreads)
    chirp_postmultiply_kernel(const Cx<R>* __restrict__ c,  // [batch, m]
                              const Cx<R>* __restrict__ w,  // [n]
                              Cx<R>* __restrict__ y,        // [batch, n]
                              int64_t batch, int64_t n, int64_t m, R scale) {
  const int64_t total = batch * n, grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid) {
    const int64_t row = i / n, k = i - row * n;
    y[i] = cx_scale(cx_mul(w[k], c[row * m + k]), scale);
  }
}

template <typename R>
void fft_bluestein(const Cx<R>* x, int64_t batch, int64_t n, double sign, double scale,
                   Cx<R>* y) {
  int64_t m = 1;
  while (m < 2 * n - 1) m *= 2;
  const DType cd = sizeof(R) == 4 ? DType::Complex64 : DType::Complex128;
  DeviceBuffer wbuf({n}, cd), abuf({batch, m}, cd), bbuf({m}, cd), fbuf({m}, cd),
      cbuf({batch, m}, cd);
  Cx<R>* w = static_cast<Cx<R>*>(wbuf.data());
  Cx<R>* a = static_cast<Cx<R>*>(abuf.data());
  Cx<R>* b = static_cast<Cx<R>*>(bbuf.data());
  Cx<R>* bf = static_cast<Cx<R>*>(fbuf.data());
  Cx<R>* c = static_cast<Cx<R>*>(cbuf.data());
  chirp_kernel<R><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(w, n, sign);
  NABI_CUDA_CHECK_LAUNCH("chirp_kernel");
  chirp_premultiply_kernel<R><<<grid_for(batch * m, kThreads), kThreads, 0, stream()>>>(
      x, w, a, batch, n, m);
  NABI_CUDA_CHECK_LAUNCH("chirp_premultiply_kernel");
  chirp_filter_kernel<R><<<grid_for(m, kThreads), kThreads, 0, stream()>>>(w, b, n, m);
  NABI_CUDA_CHECK_LAUNCH("chirp_filter_kernel");
  fft_pow2<R>(a, batch, m, -1.0, R(1), c);  // A
  fft_pow2<R>(b, 1, m, -1.0, R(1), bf);     // B
  spectrum_multiply_kernel<R><<<grid_for(batch * m, kThreads), kThreads, 0, stream()>>>(
      c, bf, batch, m);
  NABI_CUDA_CHECK_LAUNCH("spectrum_multiply_kernel");
  fft_pow2<R>(c, batch, m, 1.0, R(1), a);  // the cyclic convolution, times m
  chirp_postmultiply_kernel<R><<<grid_for(batch * n, kThreads), kThreads, 0, stream()>>>(
      a, w, y, batch, n, m, static_cast<R>(scale / static_cast<double>(m)));
  NABI_CUDA_CHECK_LAUNCH("chirp_postmultiply_kernel");
}

template <typename R>
__global__ void __launch_bounds__(kThreads)
    hermitian_kernel(const Cx<R>* __restrict__ x,  // [batch, m]
                     Cx<R>* __restrict__ y,        // [batch, n]
                     int64_t batch, int64_t m, int64_t n) {
  const int64_t total = batch * n, grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid) {
    const int64_t row = i / n, k = i - row * n;
    const bool upper = k > n / 2;
    const int64_t src = upper ? n - k : k;
    const Cx<R> v = src < m ? x[row * m + src] : Cx<R>{0, 0};
    y[i] = upper ? cx_conj(v) : v;
  }
}

template <typename F>
void by_complex(DType d, F&& f) {
  if (d == DType::Complex64) return f(static_cast<float*>(nullptr));
  if (d == DType::Complex128) return f(static_cast<double*>(nullptr));
  throw std::invalid_argument("[fft] not a complex dtype");
}

}  // namespace

void fft_c2c(DType dtype, const void* x, int64_t batch, int64_t n, bool inverse, double scale,
             void* y) {
  if (batch <= 0 || n <= 0) return;
  by_complex(dtype, [&](auto* tag) {
    using R = std::remove_pointer_t<decltype(tag)>;
    const Cx<R>* xp = static_cast<const Cx<R>*>(x);
    Cx<R>* yp = static_cast<Cx<R>*>(y);
    const double sign = inverse ? 1.0 : -1.0;
    if ((n & (n - 1)) == 0)
      fft_pow2<R>(xp, batch, n, sign, static_cast<R>(scale), yp);
    else
      fft_bluestein<R>(xp, batch, n, sign, scale, yp);
  });
}

void fft_hermitian(DType dtype, const void* x, int64_t batch, int64_t m, int64_t n, void* y) {
  const int64_t total = batch * n;
  if (total <= 0) return;
  by_complex(dtype, [&](auto* tag) {
    using R = std::remove_pointer_t<decltype(tag)>;
    hermitian_kernel<R><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        static_cast<const Cx<R>*>(x), static_cast<Cx<R>*>(y), batch, m, n);
    NABI_CUDA_CHECK_LAUNCH("hermitian_kernel");
  });
}

}  // namespace nabi::cuda::nd
