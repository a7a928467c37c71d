// Caching device allocator, DeviceBuffer and runtime queries (see allocator.h).
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/common.cuh"

namespace nabi {
int cuda_device_count();  // runtime.cu: 0 when there is no driver/GPU (clears the error)
}

namespace nabi::cuda {

// ---- runtime queries --------------------------------------------------------------------
int device_count() { return ::nabi::cuda_device_count(); }

bool is_available() { return device_count() > 0; }

std::string unavailable_reason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" +
           cudaGetErrorString(e) + ")";
  }
  if (n == 0) return "no CUDA device found";
  return "";
}

std::string device_name(int index) {
  const int n = device_count();
  if (index < 0 || index >= n)
    throw std::out_of_range("[device_name] device index " + std::to_string(index) +
                            " out of range: " + std::to_string(n) + " CUDA device(s)");
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

void synchronize() {
  if (!is_available()) return;
  CUDA_CHECK(cudaDeviceSynchronize());
}

static void require_device(const char* what) {
  if (!is_available())
    throw CudaError(std::string("[") + what + "] no CUDA GPU is available: " +
                    unavailable_reason());
}

// ---- caching allocator ------------------------------------------------------------------
size_t size_class(size_t n) {
  if (n <= 512) return 512;
  // Highest power of two <= n-1, then quarter steps above it.
  size_t p = 1;
  while ((p << 1) <= n - 1) p <<= 1;
  const size_t q = p / 4;
  return p + ceil_div(n - p, q) * q;
}

namespace {
struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // class bytes -> blocks
  std::unordered_map<void*, size_t> live;                     // pointer -> class bytes
  size_t allocated = 0;
  size_t reserved = 0;

  void release_cached_locked() {
    // A cached block may still be read or written by queued work (blocks are recycled as soon
    // as the host drops them): wait for the device before handing any back to the driver.
    cudaDeviceSynchronize();
    for (auto& kv : free_lists) {
      for (void* p : kv.second) {
        cudaFree(p);  // errors here are ignored: the block is gone either way
        reserved -= kv.first;
      }
      kv.second.clear();
    }
    cudaGetLastError();
  }
};

Cache& cache() {
  // Leaked on purpose: freeing device memory from a static destructor at interpreter exit
  // can run after the CUDA runtime has shut down.
  static Cache* c = new Cache();
  return *c;
}
}  // namespace

#if defined(NABI_CUDA_SIM)
// Host simulator, NABI_SIM_EXACT_ALLOC=1: every buffer is its own allocation of exactly the
// requested size, freed at once, so that AddressSanitizer (tools/sim-build.sh asan) reports
// a kernel's access one element past a buffer (the memcheck run of the simulator).
static bool sim_exact_alloc() {
  static const bool on = [] {
    const char* e = std::getenv("NABI_SIM_EXACT_ALLOC");
    return e && e[0] == '1';
  }();
  return on;
}
#endif

void* device_alloc(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  Cache& c = cache();
#if defined(NABI_CUDA_SIM)
  if (sim_exact_alloc()) {
    void* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, nbytes));
    std::lock_guard<std::mutex> lock(c.mu);
    c.live.emplace(p, nbytes);
    c.allocated += nbytes;
    c.reserved += nbytes;
    return p;
  }
#endif
  const size_t cls = size_class(nbytes);
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free_lists.find(cls);
  if (it != c.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
#if defined(NABI_CUDA_SIM)
    if (!nabi_sim::skip_kernels())
      std::memset(p, 0xFF, cls);  // host simulator: a reused block is garbage too (host memory)
#endif
    c.live.emplace(p, cls);
    c.allocated += cls;
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    c.release_cached_locked();
    e = cudaMalloc(&p, cls);
  }
  if (e != cudaSuccess)
    throw_cuda_error(e, ("cudaMalloc(" + std::to_string(cls) + " bytes)").c_str(), __FILE__,
                     __LINE__);
  c.reserved += cls;
  c.live.emplace(p, cls);
  c.allocated += cls;
  return p;
}

void device_free(void* p) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  if (it == c.live.end()) return;  // not ours (never happens through DeviceBuffer)
  const size_t cls = it->second;
  c.live.erase(it);
  c.allocated -= cls;
#if defined(NABI_CUDA_SIM)
  if (sim_exact_alloc()) {
    c.reserved -= cls;
    cudaFree(p);
    return;
  }
#endif
  c.free_lists[cls].push_back(p);
}

size_t memory_allocated() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.allocated;
}

size_t memory_reserved() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.reserved;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.reserved == c.allocated) return;
  c.release_cached_locked();  // (synchronises first)
}

// ---- copies -----------------------------------------------------------------------------
// Host to device. The source is pageable memory (a NumPy array the caller may free as soon as
// we return), and the runtime does not promise that cudaMemcpyAsync has read pageable memory
// when it returns, so a direct copy must wait for the stream: for the queued kernels too,
// which stops the host from running ahead of the GPU once per upload (twice per training
// step: x and y). So a copy of up to kStageMax bytes goes through a ring of kStageSlots
// pinned buffers instead: the host copies the array into the next slot, enqueues an
// asynchronous DMA from it and records an event; before refilling a slot it waits for that
// slot's event, kStageSlots uploads ago (long finished in a training loop). Larger copies,
// and any copy when pinned memory cannot be had, go directly and wait.
namespace {
constexpr int kStageSlots = 8;
constexpr size_t kStageMax = size_t(16) << 20;

struct StageSlot {
  void* host = nullptr;  // pinned, cap bytes
  size_t cap = 0;
  cudaEvent_t done = nullptr;
  bool pending = false;  // done is recorded after a DMA from this slot
};

struct Staging {
  std::mutex mu;
  StageSlot slots[kStageSlots];
  int next = 0;
};

Staging& staging() {
  static Staging* s = new Staging();  // leaked on purpose, as the Cache
  return *s;
}

// Makes slot s hold at least n bytes; false when pinned memory cannot be had.
bool stage_reserve(StageSlot& s, size_t n) {
  if (!s.done && cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming) != cudaSuccess) {
    cudaGetLastError();
    s.done = nullptr;
    return false;
  }
  if (s.cap >= n) return true;
  if (s.host) cudaFreeHost(s.host);  // not pending: its last DMA has finished
  s.host = nullptr;
  s.cap = 0;
  size_t cap = size_t(1) << 16;
  while (cap < n) cap <<= 1;
  if (cudaMallocHost(&s.host, cap) != cudaSuccess) {
    cudaGetLastError();
    s.host = nullptr;
    return false;
  }
  s.cap = cap;
  return true;
}
}  // namespace

void copy_h2d(void* dst, const void* src, size_t n) {
  if (!n) return;
  if (n <= kStageMax) {
    Staging& st = staging();
    std::lock_guard<std::mutex> lock(st.mu);
    StageSlot& s = st.slots[st.next];
    if (s.pending) {
      CUDA_CHECK(cudaEventSynchronize(s.done));
      s.pending = false;
    }
    if (stage_reserve(s, n)) {
      st.next = (st.next + 1) % kStageSlots;
      std::memcpy(s.host, src, n);
      CUDA_CHECK(cudaMemcpyAsync(dst, s.host, n, cudaMemcpyHostToDevice, stream()));
      CUDA_CHECK(cudaEventRecord(s.done, stream()));
      s.pending = true;
      return;
    }
  }
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));  // src is pageable host memory
}
void copy_d2h(void* dst, const void* src, size_t n) {
  if (n) CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream()));
  if (n) CUDA_CHECK(cudaStreamSynchronize(stream()));
}
void copy_d2d(void* dst, const void* src, size_t n) {
  if (n) CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream()));
}
void memset_zero(void* dst, size_t n) {
  if (n) CUDA_CHECK(cudaMemsetAsync(dst, 0, n, stream()));
}

// ---- DeviceBuffer -----------------------------------------------------------------------
size_t dtype_size(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::Complex64: return 8;
    case DType::Complex128: return 16;
  }
  return 1;
}

const char* dtype_str(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::Complex64: return "complex64";
    case DType::Complex128: return "complex128";
  }
  return "?";
}

DeviceStorage::DeviceStorage(size_t n) : nbytes(n) {
  require_device("DeviceBuffer");
  ptr = device_alloc(n);
}

DeviceStorage::~DeviceStorage() { device_free(ptr); }

// The element count of a shape, and its byte count, must fit: a wrapped count (a shape of
// (2**62, 4)) would leave a buffer smaller than its shape, and kernels sized by the shape would
// run past it. 2^62 bytes is far above any device's memory.
static int64_t checked_numel(const std::vector<int64_t>& shape, DType dtype) {
  for (int64_t s : shape)
    if (s < 0) throw std::invalid_argument("[DeviceBuffer] negative dimension in shape");
  for (int64_t s : shape)
    if (s == 0) return 0;
  const int64_t limit = (int64_t{1} << 62) / static_cast<int64_t>(dtype_size(dtype));
  int64_t n = 1;
  for (int64_t s : shape) {
    if (n > limit / s)
      throw std::invalid_argument("[DeviceBuffer] shape has more than 2^62 bytes");
    n *= s;
  }
  return n;
}

DeviceBuffer::DeviceBuffer(std::vector<int64_t> shape, DType dtype)
    : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = checked_numel(shape_, dtype_);
  nbytes_ = static_cast<size_t>(numel_) * dtype_size(dtype_);
  storage_ = std::make_shared<DeviceStorage>(nbytes_);
  data_ = storage_->ptr;
}

DeviceBuffer::DeviceBuffer(std::shared_ptr<DeviceStorage> storage, size_t offset_bytes,
                           std::vector<int64_t> shape, DType dtype)
    : storage_(std::move(storage)), offset_(offset_bytes), dtype_(dtype),
      shape_(std::move(shape)) {
  numel_ = checked_numel(shape_, dtype_);
  nbytes_ = static_cast<size_t>(numel_) * dtype_size(dtype_);
  if (!storage_ || offset_ + nbytes_ > storage_->nbytes)
    throw std::invalid_argument("[DeviceBuffer.view] the view leaves its storage");
  data_ = storage_->ptr ? static_cast<char*>(storage_->ptr) + offset_ : nullptr;
}

std::shared_ptr<DeviceBuffer> DeviceBuffer::view(std::vector<int64_t> shape,
                                                 int64_t offset_elems) const {
  if (offset_elems < 0) throw std::invalid_argument("[DeviceBuffer.view] negative offset");
  if (!storage_ || static_cast<uint64_t>(offset_elems) > storage_->nbytes / dtype_size(dtype_))
    throw std::invalid_argument("[DeviceBuffer.view] the view leaves its storage");  // no wrap
  const size_t off = offset_ + static_cast<size_t>(offset_elems) * dtype_size(dtype_);
  return std::make_shared<DeviceBuffer>(storage_, off, std::move(shape), dtype_);
}

}  // namespace nabi::cuda
