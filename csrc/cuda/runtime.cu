// CUDA runtime queries. cudart is linked statically, so on a machine without a driver
// cudaGetDeviceCount fails cleanly and nabi reports zero GPUs.
#include <cuda_runtime.h>

namespace nabi {
int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}
}  // namespace nabi
