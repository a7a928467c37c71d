// Shared helpers for the CUDA kernels (included only by csrc/cuda/*.cu, compiled by nvcc).
//
//   CUDA_CHECK(expr)               runs a CUDA runtime call; on failure throws
//                                  nabi::cuda::CudaError (a std::runtime_error, so pybind11
//                                  turns it into a Python RuntimeError) naming the call, the
//                                  file and the line. Never aborts.
//   NABI_CUDA_CHECK_LAUNCH("name") after every <<<...>>> launch: reports a launch failure
//                                  (bad configuration, no kernel image for this GPU, a sticky
//                                  error from an earlier kernel) naming the kernel. It does not
//                                  synchronise; define NABI_CUDA_SYNC_CHECK=1 at compile time
//                                  to also synchronise after every launch (debugging: errors
//                                  inside a kernel are then attributed to the right kernel).
//   ceil_div(a, b)                 host and device.
//   stream()                       the stream every nabi kernel runs on (the legacy default
//                                  stream for now; the caching allocator relies on all work
//                                  being ordered on one stream).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace nabi::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const char* what, const char* file,
                                          int line) {
  // Clear a non-sticky error so that the next call starts clean (sticky errors, e.g. an
  // illegal address, stay: the context is unusable after them, and every later call says so).
  cudaGetLastError();
  throw CudaError(std::string("[cuda] ") + what + " failed: " + cudaGetErrorName(e) + " (" +
                  cudaGetErrorString(e) + ") at " + file + ":" + std::to_string(line));
}

template <typename A, typename B>
__host__ __device__ constexpr inline A ceil_div(A a, B b) {
  return (a + static_cast<A>(b) - 1) / static_cast<A>(b);
}

inline cudaStream_t stream() { return 0; }

// Grid size for a grid-stride loop over n elements: enough blocks to fill the GPU several
// times over, never more than n needs, never zero.
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65535LL * 8) {
  int64_t b = ceil_div<int64_t>(n, threads);
  if (b < 1) b = 1;
  if (b > max_blocks) b = max_blocks;
  return static_cast<unsigned>(b);
}

}  // namespace nabi::cuda

#define CUDA_CHECK(expr)                                                      \
  do {                                                                        \
    cudaError_t nabi_err_ = (expr);                                           \
    if (nabi_err_ != cudaSuccess)                                             \
      ::nabi::cuda::throw_cuda_error(nabi_err_, #expr, __FILE__, __LINE__);   \
  } while (0)

#if defined(NABI_CUDA_SYNC_CHECK) && NABI_CUDA_SYNC_CHECK
#define NABI_CUDA_CHECK_LAUNCH(name)                                                       \
  do {                                                                                     \
    cudaError_t nabi_err_ = cudaGetLastError();                                            \
    if (nabi_err_ == cudaSuccess) nabi_err_ = cudaStreamSynchronize(::nabi::cuda::stream()); \
    if (nabi_err_ != cudaSuccess)                                                          \
      ::nabi::cuda::throw_cuda_error(nabi_err_, "kernel " name, __FILE__, __LINE__);       \
  } while (0)
#else
#define NABI_CUDA_CHECK_LAUNCH(name)                                                 \
  do {                                                                               \
    cudaError_t nabi_err_ = cudaGetLastError();                                      \
    if (nabi_err_ != cudaSuccess)                                                    \
      ::nabi::cuda::throw_cuda_error(nabi_err_, "kernel " name, __FILE__, __LINE__); \
  } while (0)
#endif
