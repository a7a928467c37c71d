// Device memory for the CUDA backend: a caching allocator and the DeviceBuffer that owns one
// allocation. Plain C++ (no CUDA headers): included by the bindings, which g++ compiles.
// Implemented in allocator.cu; only linked when nabi is built with CUDA.
//
// Caching allocator
//   Requests are rounded up to a size class: 512 B minimum, then four classes per power of
//   two (2^k, 1.25*2^k, 1.5*2^k, 1.75*2^k), so at most 25% is wasted. A freed block goes onto
//   its class's free list and is handed out again for the next request of that class; only a
//   miss calls cudaMalloc. When cudaMalloc runs out of memory, the cache is released
//   (cudaFree of every cached block) and the allocation retried once, then CudaError is thrown.
//   All kernels run on one stream (common.cuh: stream()), so a block freed on the host can be
//   reused at once: the next kernel that writes it is ordered after the last one that read it.
//   Thread-safe (one mutex); the bindings release the GIL around kernels.
//
//   memory_allocated()  bytes in live blocks (size-class bytes, as PyTorch reports)
//   memory_reserved()   bytes obtained from cudaMalloc and not yet returned (live + cached)
//   empty_cache()       cudaFree every cached block (live blocks stay)
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nabi::cuda {

// Runtime queries; all safe without a driver or GPU (0 / false / a message).
int device_count();
bool is_available();
std::string device_name(int index);
std::string unavailable_reason();  // why is_available() is false ("" when it is true)
void synchronize();

// Raw caching allocator. device_alloc(0) returns nullptr; device_free(nullptr) is a no-op.
void* device_alloc(size_t nbytes);
void device_free(void* p);
size_t memory_allocated();
size_t memory_reserved();
void empty_cache();
size_t size_class(size_t nbytes);  // exposed for tests

// Copies. D2H waits for the copy (so for the queued kernels); H2D of up to 16 MiB returns
// without waiting for the queued kernels (staged through pinned buffers), larger ones wait.
void copy_h2d(void* dst, const void* src, size_t nbytes);
void copy_d2h(void* dst, const void* src, size_t nbytes);
void copy_d2d(void* dst, const void* src, size_t nbytes);
void memset_zero(void* dst, size_t nbytes);

// dtype codes of DeviceBuffer (the same itemsize as NumPy's).
// Complex64 / Complex128: interleaved (re, im) pairs of float / double, as NumPy's.
enum class DType : int {
  Float32 = 0,
  Float64 = 1,
  Int32 = 2,
  Int64 = 3,
  Bool = 4,
  Complex64 = 5,
  Complex128 = 6
};
size_t dtype_size(DType d);
inline bool is_complex_dtype(DType d) {
  return d == DType::Complex64 || d == DType::Complex128;
}
const char* dtype_str(DType d);

// One device allocation from the caching allocator; freed when the last DeviceBuffer viewing
// it goes away.
struct DeviceStorage {
  void* ptr = nullptr;
  size_t nbytes = 0;
  explicit DeviceStorage(size_t n);
  ~DeviceStorage();
  DeviceStorage(const DeviceStorage&) = delete;
  DeviceStorage& operator=(const DeviceStorage&) = delete;
};

// A dtype and a C-contiguous shape over a DeviceStorage, from a byte offset. The first
// constructor allocates (throwing CudaError, a RuntimeError, when no GPU is available, before
// any CUDA allocation is attempted); view() makes another buffer over the same storage (a
// reshape, or a contiguous run of elements), so reshapes and leading-axis slices never copy.
// Not copyable; the bindings hold it through std::shared_ptr.
class DeviceBuffer {
 public:
  DeviceBuffer(std::vector<int64_t> shape, DType dtype);
  DeviceBuffer(std::shared_ptr<DeviceStorage> storage, size_t offset_bytes,
               std::vector<int64_t> shape, DType dtype);
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Same storage, new shape, starting offset_elems elements after this buffer's start (and
  // the same dtype); throws std::invalid_argument when the view would leave the storage.
  std::shared_ptr<DeviceBuffer> view(std::vector<int64_t> shape, int64_t offset_elems) const;
  const std::shared_ptr<DeviceStorage>& storage() const { return storage_; }
  size_t offset_bytes() const { return offset_; }

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const { return numel_; }
  int ndim() const { return static_cast<int>(shape_.size()); }

  template <typename T>
  T* ptr() const { return static_cast<T*>(data_); }

 private:
  std::shared_ptr<DeviceStorage> storage_;
  size_t offset_ = 0;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  int64_t numel_ = 0;
  DType dtype_;
  std::vector<int64_t> shape_;
};

}  // namespace nabi::cuda
