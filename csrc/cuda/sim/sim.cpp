// nabi's CUDA host simulator: the runtime API and the block scheduler (see cuda_runtime.h for
// the execution model). Built only by NABI_CUDA=SIM.
//
// Fibers: every CUDA thread of the running block gets a stack (mmap'd, a guard page below) and
// a saved stack pointer; nabi_sim_switch saves the callee-saved registers on the current stack
// and jumps to another. A new fiber's stack is laid out as if it had been switched away from
// at the start of fiber_entry. The scheduler resumes the block's fibers round-robin, skipping
// those parked at a barrier whose generation has not moved; the last thread to arrive at a
// barrier (or a thread exiting while all the others wait) advances the generation.
#include "cuda_runtime.h"

#include <sys/mman.h>
#include <xmmintrin.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#error "the CUDA host simulator's fiber switch is written for x86-64"
#endif

extern "C" void nabi_sim_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .globl nabi_sim_switch
  .hidden nabi_sim_switch
  .type nabi_sim_switch,@function
nabi_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size nabi_sim_switch, .-nabi_sim_switch
)");

namespace nabi_sim {

Ctx g;

namespace {

constexpr size_t kStack = 256 * 1024;
constexpr size_t kGuard = 4096;

struct SimFault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Barrier {
  int arrived = 0;
  int live = 0;
  unsigned gen = 0;
};

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;  // mmap'd region: guard page, then kStack bytes
  uint3 tid{};
  int lin = 0;
  bool done = false, synced = false;
  bool block_synced = false;  // reached __syncthreads at least once
  Barrier* wait = nullptr;  // parked at this barrier until its generation passes wait_gen
  unsigned wait_gen = 0;
  unsigned shfl_count = 0;
};

struct Warp {
  Barrier bar;
  unsigned long long buf[2][32];
  bool vote[2][32];
};

struct Block {
  LaunchBody* body = nullptr;
  std::vector<Fiber> fibers;  // kept across launches: stacks are reused
  int nthreads = 0;
  Barrier bar;
  std::vector<Warp> warps;
  Fiber* cur = nullptr;
  void* sched_sp = nullptr;
  bool direct = false;  // running threads as plain calls (no fiber): barriers are an error
  std::string fault;    // first fault of this launch
} B;

std::mutex g_launch_mu;
// Runtime counters (Stats in cuda_runtime.h), guarded by g_launch_mu.
std::map<std::string, unsigned long long> g_launches;
Stats g_counts;
thread_local cudaError_t t_last_error = cudaSuccess;
std::string g_fault_text;  // detail for cudaGetErrorString(cudaErrorLaunchFailure)

void fail(const std::string& what) { throw SimFault(what); }

std::string tid_str(const uint3& t) {
  return "thread (" + std::to_string(t.x) + "," + std::to_string(t.y) + "," +
         std::to_string(t.z) + ") of block (" + std::to_string(g.bid.x) + "," +
         std::to_string(g.bid.y) + "," + std::to_string(g.bid.z) + ")";
}

void release(Barrier& b) {
  b.arrived = 0;
  ++b.gen;
}

// Park the running fiber at barrier b until every live thread of its group has arrived.
void arrive(Barrier& b) {
  Fiber* f = B.cur;
  if (B.direct)
    fail("divergent barrier: " + tid_str(g.tid) +
         " reached a barrier (__syncthreads or __syncwarp) that the first thread of every warp "
         "of its block exited without");
  f->synced = true;
  if (++b.arrived == b.live) {
    release(b);
    return;
  }
  f->wait = &b;
  f->wait_gen = b.gen;
  nabi_sim_switch(&f->sp, B.sched_sp);
  g.tid = f->tid;
}

void thread_exit(Fiber& f) {
  f.done = true;
  --B.bar.live;
  if (B.bar.arrived > 0 && B.bar.arrived == B.bar.live) release(B.bar);
  Warp& w = B.warps[f.lin / 32];
  --w.bar.live;
  if (w.bar.arrived > 0 && w.bar.arrived == w.bar.live) release(w.bar);
}

void run_body() {
  try {
    B.body->run();
  } catch (const SimFault& e) {
    if (B.fault.empty()) B.fault = e.what();
  } catch (const std::exception& e) {
    if (B.fault.empty()) B.fault = std::string("exception in a kernel: ") + e.what();
  }
}

void fiber_entry() {
  Fiber* f = B.cur;
  run_body();
  thread_exit(*f);
  nabi_sim_switch(&f->sp, B.sched_sp);
  std::abort();  // a finished fiber is never resumed
}

// Linear index within the block of the running CUDA thread (fiber or direct call).
int cur_lin() {
  return static_cast<int>(g.tid.x + g.bdim.x * (g.tid.y + g.bdim.y * g.tid.z));
}

void init_fiber(Fiber& f) {
  if (!f.stack) {
    void* m = mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    mprotect(m, kGuard, PROT_NONE);  // a stack overflow faults instead of corrupting memory
    f.stack = static_cast<char*>(m);
  }
  // Top of stack, 16-byte aligned: [ret = fiber_entry][rbp rbx r12..r15][mxcsr, fpu cw].
  auto* top = reinterpret_cast<uint64_t*>(f.stack + kGuard + kStack - 64);
  uint64_t* sp = top;
  *--sp = 0;  // fake return address of fiber_entry (never used)
  *--sp = reinterpret_cast<uint64_t>(&fiber_entry);
  for (int i = 0; i < 6; ++i) *--sp = 0;
  unsigned short fpcw;
  asm volatile("fnstcw %0" : "=m"(fpcw));
  *--sp = static_cast<uint64_t>(_mm_getcsr()) | (static_cast<uint64_t>(fpcw) << 32);
  f.sp = sp;
  f.done = f.synced = f.block_synced = false;
  f.wait = nullptr;
  f.shfl_count = 0;
}

void resume(Fiber& f) {
  B.cur = &f;
  g.tid = f.tid;
  nabi_sim_switch(&B.sched_sp, f.sp);
}

// NABI_SIM_ORDER=reverse runs the blocks, and the threads within a block after thread 0, last to
// first: a
// kernel whose result depends on the order (a missing barrier, a block that reads another's
// output) then gives a different answer than in the default order.
bool reverse_order() {
  static const bool r = [] {
    const char* e = std::getenv("NABI_SIM_ORDER");
    return e && std::string(e) == "reverse";
  }();
  return r;
}

}  // namespace

// NABI_SIM_SKIP_KERNELS=1: launches are checked and counted but run nothing, and memsets and
// copies to or from device memory are skipped (results are garbage). What is left is the
// host's own cost of driving the GPU: bench/launch_count.py --host-time times a training step
// so, as a stand-in for the host side of a real GPU step.
bool skip_kernels() {
  static const bool r = [] {
    const char* e = std::getenv("NABI_SIM_SKIP_KERNELS");
    return e && e[0] == '1';
  }();
  return r;
}

namespace {

void run_block() {
  const int n = B.nthreads, nw = (n + 31) / 32;
  const bool rev = reverse_order();
  // Thread 0 first, then the rest in order (reversed: n-1 down to 1).
  auto at = [&](int i) -> Fiber& { return B.fibers[rev && i > 0 ? n - i : i]; };
  B.bar = Barrier{};
  B.bar.live = n;
  for (int w = 0; w < nw; ++w) {
    B.warps[w].bar = Barrier{};
    B.warps[w].bar.live = std::min(32, n - 32 * w);
  }
  for (int i = 0; i < n; ++i) B.fibers[i].done = B.fibers[i].block_synced = false;

  // The probe: the first thread of every warp, as fibers (warp 0 first, then the others in the
  // block's order), each until it exits or parks at a barrier.
  bool leaders_synced = false;
  for (int k = 0; k < nw; ++k) {
    Fiber& f = B.fibers[32 * (rev && k > 0 ? nw - k : k)];
    init_fiber(f);
    resume(f);
    leaders_synced = leaders_synced || !f.done || f.synced;
  }
  if (!leaders_synced) {
    // No warp leader reached a barrier: the others run as plain calls.
    B.direct = true;
    for (int i = 1; i < n && B.fault.empty(); ++i) {
      if (at(i).lin % 32 == 0) continue;  // a leader, already run
      g.tid = at(i).tid;
      run_body();
    }
    B.direct = false;
    return;
  }
  for (int i = 1; i < n; ++i)
    if (at(i).lin % 32) init_fiber(at(i));
  for (;;) {
    bool any_left = false, progress = false;
    for (int i = 0; i < n; ++i) {
      Fiber& f = at(i);
      if (f.done) continue;
      any_left = true;
      if (f.wait && f.wait->gen == f.wait_gen) continue;  // still parked
      f.wait = nullptr;
      resume(f);
      progress = true;
    }
    if (!any_left) return;
    if (!progress) {
      // Every live thread waits at a barrier that cannot open: some wait at __syncthreads and
      // others in a warp collective (or the block's threads are split between barriers).
      if (B.fault.empty())
        B.fault = "deadlock: the threads of block (" + std::to_string(g.bid.x) + "," +
                  std::to_string(g.bid.y) + "," + std::to_string(g.bid.z) +
                  ") wait at different barriers";
      // Abandon the parked fibers (their stacks are reset by the next launch).
      return;
    }
  }
}

bool bad_config(dim3 grid, dim3 block, size_t smem, std::string* why) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    *why = "block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," +
           std::to_string(block.z) + ")";
  else if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u ||
           grid.y > 65535 || grid.z > 65535)
    *why = "grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
           std::to_string(grid.z) + ")";
  else if (smem > 48 * 1024)
    *why = "dynamic shared memory " + std::to_string(smem) + " bytes";
  else
    return false;
  return true;
}

}  // namespace

Stats stats(bool reset) {
  std::lock_guard<std::mutex> lock(g_launch_mu);
  Stats s = g_counts;
  s.launches.assign(g_launches.begin(), g_launches.end());
  if (reset) {
    g_counts = Stats();
    g_launches.clear();
  }
  return s;
}

void launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, LaunchBody& body,
            const char* name) {
  std::string why;
  if (bad_config(grid, block, smem, &why)) {
    t_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  std::lock_guard<std::mutex> lock(g_launch_mu);
  ++g_launches[name];
  if (skip_kernels()) return;
  const int n = static_cast<int>(block.x * block.y * block.z);
  if (static_cast<int>(B.fibers.size()) < n) B.fibers.resize(n);
  B.warps.resize((n + 31) / 32);
  int lin = 0;
  for (unsigned z = 0; z < block.z; ++z)
    for (unsigned y = 0; y < block.y; ++y)
      for (unsigned x = 0; x < block.x; ++x, ++lin) {
        B.fibers[lin].tid = uint3{x, y, z};
        B.fibers[lin].lin = lin;
      }
  B.nthreads = n;
  B.body = &body;
  B.fault.clear();
  g.bdim = block;
  g.gdim = grid;
  const bool rev = reverse_order();
  for (unsigned bz = 0; bz < grid.z && B.fault.empty(); ++bz)
    for (unsigned by = 0; by < grid.y && B.fault.empty(); ++by)
      for (unsigned bx = 0; bx < grid.x && B.fault.empty(); ++bx) {
        g.bid = rev ? uint3{grid.x - 1 - bx, grid.y - 1 - by, grid.z - 1 - bz} : uint3{bx, by, bz};
        run_block();
      }
  B.body = nullptr;
  if (!B.fault.empty()) {
    g_fault_text = "unspecified launch failure (CUDA host simulator: " + B.fault + ")";
    std::fprintf(stderr, "[nabi CUDA sim] %s\n", B.fault.c_str());
    t_last_error = cudaErrorLaunchFailure;
  }
}

void syncthreads() {
  // Rule (a): thread (0,0,0) exited without ever reaching __syncthreads, and another thread of
  // its block reaches one (see cuda_runtime.h).
  const Fiber& t0 = B.fibers[0];
  if (t0.done && !t0.block_synced)
    fail("divergent barrier: " + tid_str(g.tid) +
         " reached __syncthreads that thread (0,0,0) of its block exited without");
  if (B.cur && !B.direct) B.cur->block_synced = true;
  arrive(B.bar);
}

void syncwarp() { arrive(B.warps[B.cur ? B.cur->lin / 32 : 0].bar); }

namespace {
// Rule (b): a warp collective (shuffle, ballot) reached by a lane one of whose warp-mates has
// exited. In direct mode the calling thread's warp leader has exited without any barrier.
void check_warp_live(const char* what) {
  const int lin = cur_lin(), base = (lin / 32) * 32;
  int gone = -1;
  if (B.direct) {
    gone = base;
  } else {
    for (int l = base; l < base + 32 && l < B.nthreads; ++l)
      if (B.fibers[l].done) {
        gone = l;
        break;
      }
  }
  if (gone >= 0)
    fail("divergent barrier: " + tid_str(g.tid) + " reached a warp " + what +
         " after lane " + std::to_string(gone % 32) +
         " of its warp exited (a full-mask warp collective with exited lanes is undefined "
         "in CUDA)");
}

template <typename Src>
unsigned long long exchange(unsigned long long v, Src src_of) {
  check_warp_live("shuffle");
  Fiber* f = B.cur;
  Warp& w = B.warps[f->lin / 32];
  const int lane = f->lin % 32, par = f->shfl_count++ & 1;
  w.buf[par][lane] = v;
  arrive(w.bar);
  const int src = src_of(lane);
  if (src < 0 || src >= 32 || (f->lin / 32) * 32 + src >= B.nthreads) return v;
  return w.buf[par][src];
}
}  // namespace

unsigned long long warp_exchange_xor(unsigned long long v, int lane_mask, int width) {
  return exchange(v, [&](int lane) {
    const int s = lane ^ lane_mask;
    return (s / width == lane / width) ? s : lane;
  });
}

unsigned long long warp_exchange_down(unsigned long long v, unsigned delta, int width) {
  return exchange(v, [&](int lane) {
    const int s = lane + static_cast<int>(delta);
    return (s / width == lane / width) ? s : lane;
  });
}

unsigned long long warp_exchange_idx(unsigned long long v, int src, int width) {
  return exchange(v, [&](int lane) { return (lane / width) * width + (src % width); });
}

unsigned warp_ballot(bool p) {
  check_warp_live("ballot");
  Fiber* f = B.cur;
  Warp& w = B.warps[f->lin / 32];
  const int lane = f->lin % 32, par = f->shfl_count++ & 1;
  w.vote[par][lane] = p;
  arrive(w.bar);
  unsigned r = 0;
  const int base = (f->lin / 32) * 32;
  for (int l = 0; l < 32 && base + l < B.nthreads; ++l)
    if (!B.fibers[base + l].done && w.vote[par][l]) r |= 1u << l;
  return r;
}

}  // namespace nabi_sim

// ---- runtime API ----------------------------------------------------------------------------
using nabi_sim::t_last_error;

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorLaunchFailure: return nabi_sim::g_fault_text.c_str();
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return cudaErrorInvalidDevice;
  std::memset(p, 0, sizeof(*p));
  std::snprintf(p->name, sizeof(p->name), "nabi CUDA host simulator");
  p->totalGlobalMem = size_t(16) << 30;
  p->sharedMemPerBlock = 48 * 1024;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->major = 8;  // Ampere: the TF32 (WMMA) path is taken, and simulated by sim/mma.h
  p->minor = 0;
  p->multiProcessorCount = 4;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  if (d != 0) return cudaErrorInvalidDevice;
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (a) {
    case cudaDevAttrMaxThreadsPerBlock: *v = p.maxThreadsPerBlock; break;
    case cudaDevAttrMultiProcessorCount: *v = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *v = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *v = p.minor; break;
    default: return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t n) {
  *p = nullptr;
  if (n == 0) return cudaSuccess;
  void* m = nullptr;
  if (posix_memalign(&m, 256, n) != 0) return t_last_error = cudaErrorMemoryAllocation;
  {
    std::lock_guard<std::mutex> lock(nabi_sim::g_launch_mu);
    ++nabi_sim::g_counts.mallocs;
  }
  std::memset(m, 0xFF, n);  // fresh device memory is garbage: make it NaN / -1
  *p = m;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p) {
    std::lock_guard<std::mutex> lock(nabi_sim::g_launch_mu);
    ++nabi_sim::g_counts.frees;
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind k) {
  std::lock_guard<std::mutex> lock(nabi_sim::g_launch_mu);
  nabi_sim::Stats& c = nabi_sim::g_counts;
  if (k == cudaMemcpyHostToDevice) ++c.h2d, c.h2d_bytes += n;
  else if (k == cudaMemcpyDeviceToHost) ++c.d2h, c.d2h_bytes += n;
  else if (k == cudaMemcpyDeviceToDevice) ++c.d2d, c.d2d_bytes += n;
  if (k != cudaMemcpyHostToHost && nabi_sim::skip_kernels()) return cudaSuccess;
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t) {
  return cudaMemcpy(dst, src, n, k);
}
cudaError_t cudaMemset(void* p, int v, size_t n) {
  std::lock_guard<std::mutex> lock(nabi_sim::g_launch_mu);
  ++nabi_sim::g_counts.memsets;
  if (n && !nabi_sim::skip_kernels()) std::memset(p, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) { return cudaMemset(p, v, n); }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaDeviceSynchronize(); }
cudaError_t cudaDeviceSynchronize() {
  std::lock_guard<std::mutex> lock(nabi_sim::g_launch_mu);
  ++nabi_sim::g_counts.syncs;
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t n) {
  *p = n ? std::malloc(n) : nullptr;
  return n && !*p ? (t_last_error = cudaErrorMemoryAllocation) : cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
struct CUevent_st {};  // work is done when enqueued: every recorded event is complete
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  return e ? cudaSuccess : (t_last_error = cudaErrorInvalidValue);
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return t_last_error = cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(nabi_sim::g_launch_mu);
  ++nabi_sim::g_counts.event_waits;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
