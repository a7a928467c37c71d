// nabi's CUDA host simulator: the part of the CUDA runtime and of the device language that
// csrc/cuda/*.cu uses, implemented on the CPU, so that the real kernels run (slowly) on a
// machine without a GPU. Only the simulator build (NABI_CUDA=SIM, tools/sim-build.sh) puts
// this directory on the include path; the real build uses the toolkit's cuda_runtime.h.
//
// Execution model (sim.cpp):
//   - A launch runs its blocks one after another on the calling OS thread (launches are
//     serialised by a mutex). Within a block every CUDA thread is a fiber with its own stack,
//     resumed round-robin; __syncthreads() and the warp shuffles are barriers that park a
//     fiber until every live thread of its block (or warp) has arrived. So a kernel that
//     reads shared memory without the barrier that orders it sees the wrong data here too.
//   - Shortcut: each block first runs the first thread (lane 0) of every warp, as fibers,
//     each until it exits or parks at a barrier. If every one of them exits without reaching a
//     barrier, the block's other threads run as plain calls (no fiber switches); otherwise all
//     threads run as fibers. Whole warps may exit early while other warps shuffle (shuffles
//     are per warp): a kernel with one warp per row that returns for some rows is fine.
//   - Divergence, reported as a launch failure ("divergent barrier: ..."), in either mode:
//     (a) a thread reaches __syncthreads after thread (0,0,0) of its block has exited without
//         ever reaching __syncthreads (some threads skip a barrier that others wait at);
//     (b) a lane reaches a warp shuffle or ballot after a lane of its own warp has exited (the
//         kernels use full masks, and a full-mask collective with exited lanes is undefined
//         behaviour in CUDA); lanes past the end of a partial last warp do not count.
//     A __syncwarp, shuffle or ballot reached in the plain-call mode is reported too (its warp
//     leader exited without any barrier). Other exits are allowed: threads that exit after
//     thread (0,0,0) has passed a __syncthreads no longer count at later ones.
//   - NABI_SIM_ORDER=reverse runs the blocks and the threads (after thread 0 / warp 0) in
//     reverse order: a result that changes with it depends on an order CUDA does not promise.
//   - __shared__ variables are function-local statics: blocks run one at a time, so one copy
//     per kernel is one copy per block. Atomics are plain read-modify-writes (one OS thread).
//   - Launch configurations are checked as the GPU checks them (block <= 1024 threads,
//     grid.y/z <= 65535, ...): a bad one sets cudaErrorInvalidConfiguration, as on a GPU.
//   - Fresh device memory (cudaMalloc, and a block the caching allocator hands out again) is
//     filled with 0xFF bytes (NaN floats, -1 integers), so a kernel that reads memory no one
//     wrote gives NaN instead of a lucky zero.
// What it does not model: real concurrency (races between blocks; the order of atomics),
// warp-synchronous code without __syncwarp, timing, and anything not listed here.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define NABI_CUDA_SIM 1

// ---- qualifiers ----------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static
#define __constant__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

// ---- vector types ----------------------------------------------------------------------------
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) double2 { double x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

// ---- runtime API -----------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorLaunchFailure = 719,
};
typedef cudaError_t cudaError;
typedef struct CUstream_st* cudaStream_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
};
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
};

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaGetDevice(int* d);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d);
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d);
cudaError_t cudaMalloc(void** p, size_t n);
template <typename T>
inline cudaError_t cudaMalloc(T** p, size_t n) { return cudaMalloc(reinterpret_cast<void**>(p), n); }
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind k);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k,
                            cudaStream_t s = nullptr);
cudaError_t cudaMemset(void* p, int v, size_t n);
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s = nullptr);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMallocHost(void** p, size_t n);  // "pinned": plain host memory here
cudaError_t cudaFreeHost(void* p);
// Events: work runs when it is enqueued, so an event is complete once recorded.
typedef struct CUevent_st* cudaEvent_t;
constexpr unsigned cudaEventDisableTiming = 2;
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventDestroy(cudaEvent_t e);

// ---- the device language ------------------------------------------------------------------------
namespace nabi_sim {

struct Ctx {
  uint3 tid;        // threadIdx of the running CUDA thread
  uint3 bid;        // blockIdx of the running block
  dim3 bdim, gdim;  // blockDim, gridDim
};
extern Ctx g;

void syncthreads();
void syncwarp();
// Exchange 8 bytes within a warp: every live lane offers `v`, gets lane `src_of(lane)`'s.
unsigned long long warp_exchange_xor(unsigned long long v, int lane_mask, int width);
unsigned long long warp_exchange_down(unsigned long long v, unsigned delta, int width);
unsigned long long warp_exchange_idx(unsigned long long v, int src, int width);
unsigned warp_ballot(bool p);

// A launch: checks the configuration, then runs body() once per CUDA thread.
struct LaunchBody {
  virtual void run() = 0;
  virtual ~LaunchBody() = default;
};
void launch(dim3 grid, dim3 block, size_t smem, cudaStream_t s, LaunchBody& body,
            const char* name = "?");

template <typename F, typename Tuple>
struct Body final : LaunchBody {
  F f;
  Tuple args;
  Body(F fn, Tuple a) : f(fn), args(std::move(a)) {}
  void run() override { std::apply(f, args); }  // kernel parameters copy from the tuple
};

struct Config {
  const char* name;
  dim3 grid, block;
  size_t smem;
  cudaStream_t s;
  template <typename F, typename... A>
  void operator()(F f, A&&... a) const {
    Body<F, std::tuple<std::decay_t<A>...>> b(f, std::tuple<std::decay_t<A>...>(std::forward<A>(a)...));
    launch(grid, block, smem, s, b, name);
  }
};
inline Config config(const char* name, dim3 grid, dim3 block, size_t smem = 0,
                     cudaStream_t s = nullptr) {
  return Config{name, grid, block, smem, s};
}

// Counters of what the kernels asked of the runtime (launches per kernel name, copies per
// direction, allocations, synchronisations): the host-side cost a GPU would pay, counted
// exactly. nabi._C.cuda._sim_stats() reads them (tools/launch_count.py).
struct Stats {
  std::vector<std::pair<std::string, unsigned long long>> launches;  // per kernel, sorted
  unsigned long long h2d = 0, d2h = 0, d2d = 0, h2d_bytes = 0, d2h_bytes = 0, d2d_bytes = 0;
  unsigned long long memsets = 0, mallocs = 0, frees = 0, syncs = 0;
  unsigned long long event_waits = 0;  // cudaEventSynchronize (waits for one event only)
};
Stats stats(bool reset);
// NABI_SIM_SKIP_KERNELS=1: the device's work (kernels, memsets, copies to or from device
// memory) is counted but not done, leaving the host's own cost (bench/launch_count.py).
bool skip_kernels();

template <typename T>
inline T shfl_cast(unsigned long long u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}
template <typename T>
inline unsigned long long shfl_bits(T v) {
  static_assert(sizeof(T) <= 8, "warp shuffle of more than 8 bytes");
  unsigned long long u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}

}  // namespace nabi_sim

// The rewritten launch `k<<<g, b, s, st>>>(args)` becomes
// `NABI_SIM_LAUNCH("k", g, b, s, st)([](auto&&... a) { k(a...); }, args)`
// (tools/cuda_sim_rewrite.py).
#define NABI_SIM_LAUNCH(...) ::nabi_sim::config(__VA_ARGS__)

#define threadIdx (::nabi_sim::g.tid)
#define blockIdx (::nabi_sim::g.bid)
#define blockDim (::nabi_sim::g.bdim)
#define gridDim (::nabi_sim::g.gdim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::nabi_sim::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::nabi_sim::syncwarp(); }
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  return ::nabi_sim::shfl_cast<T>(
      ::nabi_sim::warp_exchange_xor(::nabi_sim::shfl_bits(v), lane_mask, width));
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  return ::nabi_sim::shfl_cast<T>(
      ::nabi_sim::warp_exchange_down(::nabi_sim::shfl_bits(v), delta, width));
}
template <typename T>
inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  return ::nabi_sim::shfl_cast<T>(
      ::nabi_sim::warp_exchange_idx(::nabi_sim::shfl_bits(v), src, width));
}
inline unsigned __ballot_sync(unsigned, int p) { return ::nabi_sim::warp_ballot(p != 0); }

// One OS thread runs every CUDA thread, so a plain read-modify-write is atomic.
template <typename T>
inline T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
inline T atomicCAS(T* p, T cmp, T v) {
  T old = *p;
  if (old == cmp) *p = v;
  return old;
}
template <typename T>
inline T atomicMax(T* p, T v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}
template <typename T>
inline T atomicMin(T* p, T v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <typename T>
inline T atomicExch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}

inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
template <typename T>
inline T __ldg(const T* p) { return *p; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;
// sin(pi x), cos(pi x) with the argument reduced exactly first (CUDA's are exact at integers).
inline double sinpi(double x) {
  const double r = std::fmod(x, 2.0);
  return (r == std::floor(r)) ? 0.0 * x : std::sin(3.14159265358979323846 * r);
}
inline double cospi(double x) {
  const double r = std::fmod(std::fabs(x), 2.0);
  if (r == 0.5 || r == 1.5) return 0.0;
  return std::cos(3.14159265358979323846 * r);
}
inline void sincospi(double x, double* s, double* c) {
  *s = sinpi(x);
  *c = cospi(x);
}
// CUDA's inverse error function and inverse normal CDF (glibc has neither), in double; the
// float versions round the double results. Near the middle (|y| < 1/2, p in (1/4, 3/4), where
// 2p - 1 is exact): Newton steps on erf from sqrt(pi)/2 y. In the tails: the Abramowitz-Stegun
// 26.2.23 start on q = min(p, 1-p), then Newton steps on log Phi(x) = log q with
// Phi(x) = erfc(-x/sqrt 2)/2; erfinv(y) = -ndtri((1-|y|)/2)/sqrt 2 there (1 - |y| exact).
namespace nabi_sim {
inline double erfinv_mid(double y) {
  double x = 0.88622692545275801365 * y;
  for (int i = 0; i < 5; ++i) x -= (std::erf(x) - y) / (1.1283791670955125739 * std::exp(-x * x));
  return x;
}
inline double ndtri_tail(double q) {  // x < 0 with Phi(x) = q, 0 < q <= 1/4
  const double lq = std::log(q), t = std::sqrt(-2.0 * lq);
  double x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                       (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
  for (int i = 0; i < 4; ++i) {
    const double ph = 0.5 * std::erfc(-x * 0.70710678118654752440);
    x -= (std::log(ph) - lq) * ph / (0.39894228040143267794 * std::exp(-0.5 * x * x));
  }
  return x;
}
}  // namespace nabi_sim
inline double normcdfinv(double p) {
  if (!(p > 0.0 && p < 1.0)) {
    if (p == 0.0) return -std::numeric_limits<double>::infinity();
    if (p == 1.0) return std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double v = 2.0 * p - 1.0;
  if (std::fabs(v) < 0.5) return 1.41421356237309504880 * nabi_sim::erfinv_mid(v);
  const double x = nabi_sim::ndtri_tail(p < 0.5 ? p : 1.0 - p);
  return p > 0.5 ? -x : x;
}
inline double erfinv(double y) {
  const double ay = std::fabs(y);
  if (!(ay <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (ay < 0.5) return nabi_sim::erfinv_mid(y);
  if (ay == 1.0) return y * std::numeric_limits<double>::infinity();
  const double x = -nabi_sim::ndtri_tail((1.0 - ay) / 2) * 0.70710678118654752440;
  return y < 0 ? -x : x;
}
inline float normcdfinvf(float p) { return static_cast<float>(normcdfinv(p)); }
inline float erfinvf(float y) { return static_cast<float>(erfinv(y)); }
