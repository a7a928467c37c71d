// categorical_sample (see random_sampler_launchers.h), behind tf.random.categorical and
// tf.random.stateless_categorical on GPU logits.
//
// Algorithm: the host path samples with NumPy's Generator.choice(classes, p=softmax(row)):
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

}  // namespace nabi::cuda::nd
