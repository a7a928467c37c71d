// The sampling kernels of random_sampler_launchers.h: categorical_sample (tf.random.categorical
// / stateless_categorical on GPU logits), gamma_sample, poisson_sample and binomial_sample
// (tf.random.stateless_gamma / _poisson / _binomial, tf.random.gamma / poisson and
// Generator.binomial on GPU parameters). Nothing is read back.
//
// categorical_sample: the host path samples with NumPy's Generator.choice(classes, p=softmax(row)):
// cdf = cumsum(p) / cdf[-1], then the first class whose cdf exceeds a uniform u in [0, 1).
// The uniforms are drawn by the host generator exactly as the host path draws them (same
// stream, same order) and uploaded; the kernels turn them and the device logits into samples:
//
//   categorical_cdf_kernel     one block per row (grid-stride over rows), kThreads threads.
//                              1) a block max of the row (NaN / +inf flagged);
//                              2) thread t owns the contiguous chunk [t*c, (t+1)*c) of the
//                                 classes (c = ceil(classes / kThreads)), sums exp(x - max)
//                                 over it in order, thread 0 turns the kThreads chunk sums
//                                 into exclusive prefixes (a sequential scan in shared
//                                 memory: kThreads adds), then every thread writes its
//                                 chunk's running sums into cdf;
//                              3) every thread divides its chunk by the last running sum
//                                 (NumPy's cdf /= cdf[-1]: the last entry is exactly 1). A
//                                 row without a distribution gets cdf[last] = NaN.
//   categorical_search_kernel  one thread per (row, sample), grid-stride: a binary search
//                              for the first cdf entry > u (exists: cdf[last] = 1 > u);
//                              -1 when cdf[last] is not 1.
//
// All arithmetic is float64, as the host's. The sums are added in another order than NumPy's
// (chunks, then prefixes), so a cdf entry may differ from the host's in its last bits: a
// sample differs only when a uniform falls within that rounding (~1e-16) of a class boundary.
// Launches: 2 (none for empty work).
//
// gamma_sample (tf.random.stateless_gamma, keras.random.gamma): one thread per sample
// (grid-stride), each on its own Philox substream (counter + 256 * i + call), running the
// steps of random_ops.py's _gamma_counter_std (after TF's stateless gamma kernel):
// Marsaglia-Tsang with two-value normal (Box-Muller) and uniform buffers, each refilled by one
// Philox call and used last value first. The host's arithmetic is float64 without FMA, so the
// kernel's products and sums are __dmul_rn / __dadd_rn; log / sincos / pow / log1p are the
// device's (within an ulp or two of the host's C library: the samples agree to rounding, an
// accept / reject decision flips only on such a tie). Launches: 1.
//
// poisson_sample (tf.random.stateless_poisson): the same layout (one thread per sample, its
// own substream, the uniform buffer) running random_ops.py's _poisson_counter: Knuth's
// product of uniforms for lam < 10, Hormann's transformed rejection (PTRS) for lam >= 10, as
// TF's Poisson kernel. Launches: 1.
//
// binomial_sample (tf.random.stateless_binomial, keras.random.binomial): the same layout
// running random_ops.py's _binomial_counter: with q = min(p, 1 - p), inversion by geometric
// gaps for n q < 10, Hormann's BTRS with Stirling tails otherwise, as TF's binomial kernel.
// Launches: 1.
//
// tf.random.gamma / tf.random.poisson (the stateful ops) run the same kernels on the counter
// and key of their seeded stream (TF's kernel cache, kept on the host); Generator.binomial on
// a Generator whose state is on the device passes that state (PhiloxStart::state): the
// kernels read the start from it, and philox_state_advance (one thread) writes the state
// moved on by 256 * n. Nothing is read back.
//
// The three rejection samplers give up (NaN) after 256 Philox calls for one sample, as the
// host does: the loops always end; the acceptance rates make that cap unreachable in practice.
// Threads of one warp loop different numbers of times (divergence); the work per sample is a
// few Philox calls, so the samplers are bound by those, not by memory.
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/random_sampler_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    categorical_cdf_kernel(const T* __restrict__ logits,  // [rows, classes]
                           double* __restrict__ cdf,      // [rows, classes]
                           int64_t rows, int64_t classes) {
  __shared__ double part[kThreads];
  __shared__ int bad[kThreads];
  __shared__ double last;
  const int t = threadIdx.x;
  const int64_t chunk = (classes + kThreads - 1) / kThreads;
  const int64_t lo = t * chunk < classes ? t * chunk : classes;
  const int64_t hi = lo + chunk < classes ? lo + chunk : classes;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = logits + r * classes;
    double* c = cdf + r * classes;
    // 1) the row's max; NaN and +inf make the row invalid
    double m = -INFINITY;
    int b = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const double v = static_cast<double>(x[i]);
      if (isnan(v) || v == INFINITY) b = 1;
      else if (v > m) m = v;
    }
    part[t] = m;
    bad[t] = b;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      if (t < s) {
        if (part[t + s] > part[t]) part[t] = part[t + s];
        bad[t] |= bad[t + s];
      }
      __syncthreads();
    }
    const double mx = part[0];
    const bool invalid = bad[0] != 0 || mx == -INFINITY;
    __syncthreads();
    // 2) chunk sums of exp(x - max), their exclusive scan, each chunk's running sums
    double sum = 0.0;
    if (!invalid)
      for (int64_t i = lo; i < hi; ++i) sum += exp(static_cast<double>(x[i]) - mx);
    part[t] = sum;
    __syncthreads();
    if (t == 0) {
      double acc = 0.0;
      for (int k = 0; k < kThreads; ++k) {
        const double v = part[k];
        part[k] = acc;
        acc += v;
      }
    }
    __syncthreads();
    double run = part[t];
    if (!invalid)
      for (int64_t i = lo; i < hi; ++i) {
        run += exp(static_cast<double>(x[i]) - mx);
        c[i] = run;
      }
    if (lo < hi && hi == classes) last = run;  // the owner of the last class
    __syncthreads();
    // 3) normalise by the last running sum (NumPy's cdf /= cdf[-1]): cdf[last] is exactly 1
    if (invalid) {
      if (t == 0) c[classes - 1] = NAN;
    } else {
      const double total = last;
      for (int64_t i = lo; i < hi; ++i) c[i] = c[i] / total;
    }
    __syncthreads();  // (part / bad are reused by the next row)
  }
}

template <typename O>
__global__ void __launch_bounds__(kThreads)
    categorical_search_kernel(const double* __restrict__ cdf,  // [rows, classes]
                              const double* __restrict__ u,    // [rows, n]
                              O* __restrict__ y,               // [rows, n]
                              int64_t classes, int64_t n, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const double* c = cdf + (t / n) * classes;
    if (!(c[classes - 1] == 1.0)) {
      y[t] = O(-1);
      continue;
    }
    const double v = u[t];
    int64_t a = 0, b = classes - 1;  // the answer lies in [a, b]
    while (a < b) {
      const int64_t mid = a + (b - a) / 2;
      if (c[mid] > v) b = mid;
      else a = mid + 1;
    }
    y[t] = static_cast<O>(a);
  }
}


// ---- gamma_sample ---------------------------------------------------------------------------
// Philox-4x32-10 (Salmon et al., SC'11) of the 128-bit counter (lo, hi) under the 64-bit key:
// the four 32-bit words TF's PhiloxRandom (and random_ops.py's _philox) give.
struct Words4 {
  uint32_t w[4];
};

__device__ __forceinline__ Words4 philox(uint64_t lo, uint64_t hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(lo), c1 = static_cast<uint32_t>(lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(hi), c3 = static_cast<uint32_t>(hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words4{{c0, c1, c2, c3}};
}

// [0, 1) from 52 bits of the pair (TF's Uint64ToDouble)
__device__ __forceinline__ double u64_to_double(uint32_t x0, uint32_t x1) {
  const uint64_t man = (static_cast<uint64_t>(x0 & 0xFFFFFu) << 32) | x1;
  return __longlong_as_double(static_cast<long long>(man | (1023ull << 52))) - 1.0;
}

constexpr double kTwoPi = 2.0 * 3.141592653589793;  // (2.0 * np.pi, exact)

// Products and sums rounded on their own, as the host's NumPy arithmetic (no FMA contraction)
// (the host simulator's g++ build does not contract: plain operators there)
#if defined(__CUDA_ARCH__)
__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }
#else
__device__ __forceinline__ double mul(double a, double b) { return a * b; }
__device__ __forceinline__ double add(double a, double b) { return a + b; }
__device__ __forceinline__ double sub(double a, double b) { return a - b; }
#endif

// One sample's Philox substream: calls from counter + base, two-value normal and uniform
// buffers refilled by one call each, used last value first (TF's NORMAL / UNIFORM macros).
struct Substream {
  uint64_t lo, hi, key, base, calls;
  // The buffers as scalars, not double[2] indexed by the count: that array lived in local
  // memory (the samplers' 80-160 byte stack frames).
  double nbuf0, nbuf1, ubuf0, ubuf1;
  int nrem, urem;

  __device__ Words4 next() {
    const uint64_t off = base + calls++;
    const uint64_t l = lo + off;
    return philox(l, hi + (l < lo ? 1 : 0), key);
  }
  __device__ double normal() {
    if (nrem == 0) {
      const Words4 q = next();
      const double u1 = fmax(u64_to_double(q.w[0], q.w[1]), 1e-7);
      const double v1 = kTwoPi * u64_to_double(q.w[2], q.w[3]);
      const double r = sqrt(-2.0 * log(u1));
      double sn, cs;
      sincos(v1, &sn, &cs);
      nbuf0 = sn * r;
      nbuf1 = cs * r;
      nrem = 2;
    }
    return --nrem ? nbuf1 : nbuf0;
  }
  __device__ double uniform() {
    if (urem == 0) {
      const Words4 q = next();
      ubuf0 = u64_to_double(q.w[0], q.w[1]);
      ubuf1 = u64_to_double(q.w[2], q.w[3]);
      urem = 2;
    }
    return --urem ? ubuf1 : ubuf0;
  }
};

constexpr uint64_t kReservedPerOutput = 256;  // Philox calls between two samples' substreams

// Where the substreams start: the counter (lo, hi) and key given by the host, or, when state is
// set, read from a Generator's device state [counter_lo, counter_hi, key] (int64, TF's
// layout), so that a Generator on the GPU samples without reading its state back.
struct PhiloxStart {
  uint64_t lo, hi, key;
  const int64_t* state;

  __device__ Substream substream(int64_t i) const {
    uint64_t l = lo, h = hi, k = key;
    if (state != nullptr) {
      l = static_cast<uint64_t>(state[0]);
      h = static_cast<uint64_t>(state[1]);
      k = static_cast<uint64_t>(state[2]);
    }
    return Substream{l, h, k, static_cast<uint64_t>(i) * kReservedPerOutput, 0, 0, 0, 0, 0,
                     0, 0};
  }
};

constexpr uint64_t kGammaMaxCalls = 256;      // random_ops.py's _GAMMA_MAX_CALLS

__global__ void __launch_bounds__(kThreads)
    gamma_sample_kernel(const double* __restrict__ alpha,  // [n]
                        double* __restrict__ out,          // [n]
                        int64_t n, PhiloxStart start) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    const double a = alpha[i];
    Substream g = start.substream(i);
    double res = NAN;
    if (a == 0.0) {
      res = 0.0;
    } else if (a == 1.0) {
      res = -log1p(-g.uniform());
    } else if (a > 0.0) {
      const bool small = a < 1.0;
      const double d = a + (small ? 2.0 / 3 : -1.0 / 3);
      const double c = 1.0 / 3 / sqrt(d);
      while (true) {
        const double x = g.normal();
        double v = add(1.0, mul(c, x));
        if (v > 0) {
          v = v * v * v;
          const double u = g.uniform();
          const double x2 = x * x;
          if (u < sub(1.0, mul(mul(0.0331, x2), x2)) ||
              log(u) < add(mul(0.5, x2), mul(d, add(sub(1.0, v), log(v))))) {
            res = d * v;
            if (small) res = res * pow(g.uniform(), 1 / a);
            break;
          }
        }
        if (g.calls >= kGammaMaxCalls) break;  // (never seen: NaN)
      }
    }
    out[i] = res;
  }
}

// ---- poisson_sample -------------------------------------------------------------------------
__global__ void __launch_bounds__(kThreads)
    poisson_sample_kernel(const double* __restrict__ lam,  // [n]
                          double* __restrict__ out,        // [n]
                          int64_t n, PhiloxStart start) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    const double r = lam[i];
    Substream g = start.substream(i);
    double res = NAN;
    if (r >= 0 && r < 10) {  // Knuth: multiply uniforms until the product reaches exp(-r)
      const double limit = exp(-r);
      double prod = 1.0, x = 0.0;
      while (true) {
        prod = prod * g.uniform();
        if (prod <= limit) {
          res = x;
          break;
        }
        x += 1;
        if (g.calls >= kGammaMaxCalls) break;
      }
    } else if (r >= 10) {  // Hormann's PTRS
      const double log_r = log(r);
      const double b = add(0.931, mul(2.53, sqrt(r)));
      const double a = add(-0.059, mul(0.02483, b));
      const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
      const double vr = 0.9277 - 3.6224 / (b - 2);
      while (true) {
        const double u = g.uniform() - 0.5;
        const double v = g.uniform();
        const double us = 0.5 - fabs(u);
        const double k = floor(add(add(mul(add(2 * a / us, b), u), r), 0.43));
        if (us >= 0.07 && v <= vr) {
          res = k;
          break;
        }
        if (!(k < 0 || (us < 0.013 && v > us))) {
          const double s = log(v * inv_alpha / add(a / (us * us), b));
          const double t = sub(add(-r, mul(k, log_r)), lgamma(k + 1));
          if (s <= t) {
            res = k;
            break;
          }
        }
        if (g.calls >= kGammaMaxCalls) break;
      }
    }
    out[i] = res;
  }
}

// ---- binomial_sample ------------------------------------------------------------------------
// lgamma(k + 1) minus Stirling's formula: the table below 10, the series above. The table is
// in constant memory: as a local array indexed by k it was built on the stack at every call.
__constant__ double kStirlingTail[10] = {
    0.0810614667953272,  0.0413406959554092, 0.0276779256849983,  0.02079067210376509,
    0.0166446911898211,  0.0138761288230707, 0.0118967099458917,  0.0104112652619720,
    0.00925546218271273, 0.00833056343336287};

__device__ __forceinline__ double stirling_tail(double k) {
  if (k <= 9) {
    const int i = static_cast<int>(k);
    return kStirlingTail[i < 0 ? 0 : i];
  }
  const double kp1sq = (k + 1) * (k + 1);
  return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1);
}

__global__ void __launch_bounds__(kThreads)
    binomial_sample_kernel(const double* __restrict__ count,  // [n]
                           const double* __restrict__ prob,   // [n]
                           double* __restrict__ out,          // [n]
                           int64_t n, PhiloxStart start) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    const double cn = count[i], pr = prob[i];
    Substream g = start.substream(i);
    double res = NAN;
    if (cn <= 0 || pr <= 0) {
      res = 0.0;
    } else if (pr >= 1) {
      res = cn;
    } else if (pr <= 0.5 || pr > 0.5) {  // (not NaN)
      const bool flip = pr > 0.5;
      const double q = flip ? 1 - pr : pr;
      double k = NAN;
      if (cn * q < 10) {  // inversion: geometric gaps until their sum passes n
        const double lq = log1p(-q);
        double gsum = 0.0, num = 0.0;
        while (true) {
          gsum = gsum + ceil(log(g.uniform()) / lq);
          if (gsum > cn) {
            k = num;
            break;
          }
          num += 1;
          if (g.calls >= kGammaMaxCalls) break;
        }
      } else {  // Hormann's BTRS
        const double sd = sqrt(cn * q * (1 - q));
        const double b = add(1.15, mul(2.53, sd));
        const double a = add(add(-0.0873, mul(0.0248, b)), mul(0.01, q));
        const double c = add(mul(cn, q), 0.5);
        const double vr = 0.92 - 4.2 / b;
        const double r = q / (1 - q);
        const double alpha = (2.83 + 5.1 / b) * sd;
        const double m = floor((cn + 1) * q);
        while (true) {
          double u = g.uniform();
          const double v = g.uniform();
          u = u - 0.5;
          const double us = 0.5 - fabs(u);
          const double kk = floor(add(mul(add(2 * a / us, b), u), c));
          if (us >= 0.07 && v <= vr) {
            k = kk;
            break;
          }
          if (!(kk < 0 || kk > cn)) {
            const double lv = log(v * alpha / add(a / (us * us), b));
            double ub = add(mul(m + 0.5, log((m + 1) / (r * (cn - m + 1)))),
                            mul(cn + 1, log((cn - m + 1) / (cn - kk + 1))));
            ub = add(ub, mul(kk + 0.5, log(r * (cn - kk + 1) / (kk + 1))));
            ub = ub + stirling_tail(m) + stirling_tail(cn - m) - stirling_tail(kk) -
                 stirling_tail(cn - kk);
            if (lv <= ub) {
              k = kk;
              break;
            }
          }
          if (g.calls >= kGammaMaxCalls) break;
        }
      }
      res = flip ? cn - k : k;
    }
    out[i] = res;
  }
}

// out = state with its 128-bit counter moved on by delta (key kept): a Generator's draw of
// delta / 256 values, as random_ops.py's Generator._advance
__global__ void philox_state_advance_kernel(const int64_t* __restrict__ state,  // [3]
                                            int64_t* __restrict__ out,          // [3]
                                            uint64_t delta) {
  const uint64_t lo = static_cast<uint64_t>(state[0]), hi = static_cast<uint64_t>(state[1]);
  const uint64_t l = lo + delta;
  out[0] = static_cast<int64_t>(l);
  out[1] = static_cast<int64_t>(hi + (l < lo ? 1 : 0));
  out[2] = state[2];
}

}  // namespace

void categorical_sample(DType logits_dtype, const void* logits, int64_t rows, int64_t classes,
                        const double* u, int64_t n, double* cdf, DType out_dtype, void* y) {
  if (rows == 0 || n == 0 || classes == 0) return;
  const unsigned row_blocks = grid_for(rows, 1);
  if (logits_dtype == DType::Float32) {
    categorical_cdf_kernel<float><<<row_blocks, kThreads, 0, stream()>>>(
        static_cast<const float*>(logits), cdf, rows, classes);
    NABI_CUDA_CHECK_LAUNCH("categorical_cdf_kernel");
  } else if (logits_dtype == DType::Float64) {
    categorical_cdf_kernel<double><<<row_blocks, kThreads, 0, stream()>>>(
        static_cast<const double*>(logits), cdf, rows, classes);
    NABI_CUDA_CHECK_LAUNCH("categorical_cdf_kernel");
  } else {
    throw std::invalid_argument("[categorical_sample] logits must be float32 or float64");
  }
  const int64_t total = rows * n;
  if (out_dtype == DType::Int32) {
    categorical_search_kernel<int32_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        cdf, u, static_cast<int32_t*>(y), classes, n, total);
    NABI_CUDA_CHECK_LAUNCH("categorical_search_kernel");
  } else if (out_dtype == DType::Int64) {
    categorical_search_kernel<int64_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        cdf, u, static_cast<int64_t*>(y), classes, n, total);
    NABI_CUDA_CHECK_LAUNCH("categorical_search_kernel");
  } else {
    throw std::invalid_argument("[categorical_sample] the result must be int32 or int64");
  }
}

void gamma_sample(const double* alpha, int64_t n, uint64_t counter_lo, uint64_t counter_hi,
                  uint64_t key, const int64_t* state, double* out) {
  if (n == 0) return;
  gamma_sample_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      alpha, out, n, PhiloxStart{counter_lo, counter_hi, key, state});
  NABI_CUDA_CHECK_LAUNCH("gamma_sample_kernel");
}

void poisson_sample(const double* lam, int64_t n, uint64_t counter_lo, uint64_t counter_hi,
                    uint64_t key, const int64_t* state, double* out) {
  if (n == 0) return;
  poisson_sample_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      lam, out, n, PhiloxStart{counter_lo, counter_hi, key, state});
  NABI_CUDA_CHECK_LAUNCH("poisson_sample_kernel");
}

void binomial_sample(const double* count, const double* prob, int64_t n, uint64_t counter_lo,
                     uint64_t counter_hi, uint64_t key, const int64_t* state, double* out) {
  if (n == 0) return;
  binomial_sample_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      count, prob, out, n, PhiloxStart{counter_lo, counter_hi, key, state});
  NABI_CUDA_CHECK_LAUNCH("binomial_sample_kernel");
}

void philox_state_advance(const int64_t* state, uint64_t delta, int64_t* out) {
  philox_state_advance_kernel<<<1, 1, 0, stream()>>>(state, out, delta);
  NABI_CUDA_CHECK_LAUNCH("philox_state_advance_kernel");
}

}  // namespace nabi::cuda::nd
