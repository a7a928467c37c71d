// Self-test of the CUDA host simulator (tests/test_cuda_sim.py compiles it with sim.cpp after
// tools/cuda_sim_rewrite.py, as the simulator build does, and checks what it prints). Each
// case prints "name value" lines; the Python test holds the expected values.
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

// A block sum in shared memory: correct only because of the barriers.
__global__ void block_sum(const float* x, float* out, int n) {
  __shared__ float s[256];
  const int t = threadIdx.x;
  s[t] = t < n ? x[t] : 0.f;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (t < h) s[t] += s[t + h];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// The same with the barrier after the stores missing: thread 0 reads its neighbours' slots
// before they are written.
__global__ void racy_shift(const float* x, float* out) {
  __shared__ float s[64];
  const int t = threadIdx.x;
  s[t] = x[t];
  out[t] = s[(t + 1) % 64];
}

// A warp butterfly sum with __shfl_xor_sync: every lane ends with the warp's total.
__global__ void warp_sum(const int* x, int* out) {
  int v = x[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}

// A barrier reached by some threads only.
__global__ void divergent(int* out) {
  if (threadIdx.x >= 1) __syncthreads();
  out[threadIdx.x] = 1;
}

// Whole warps skipping the __syncthreads that the other warps reach (thread 0 among them).
__global__ void divergent_warp(int* out) {
  if (threadIdx.x >= 32) __syncthreads();
  out[threadIdx.x] = 1;
}

// One warp per row, as sparse_softmax_xent_kernel: warp 0 returns before any shuffle, warp 1
// shuffles. Legal CUDA (shuffles are per warp).
__global__ void warp_exits_early(const int* x, int* out) {
  out[threadIdx.x] = -1;
  if (threadIdx.x < 32) return;
  int v = x[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}

// Lane 0 exits, its warp-mates shuffle with a full mask: undefined in CUDA.
__global__ void lane_exits(const int* x, int* out) {
  if (threadIdx.x == 0) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
}

// Half of each warp at __syncthreads, the other half in a warp shuffle: no barrier can open.
__global__ void deadlock(int* out) {
  if (threadIdx.x % 32 < 16) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
  }
}

__global__ void ids(int* out) {
  const int b = blockIdx.x + gridDim.x * blockIdx.y;
  const int t = threadIdx.x + blockDim.x * threadIdx.y;
  out[b * blockDim.x * blockDim.y + t] = b * 1000 + t;
}

static void report(const char* name) {
  cudaError_t e = cudaGetLastError();
  std::printf("%s %s\n", name, cudaGetErrorName(e));
}

int main() {
  float *x, *out;
  cudaMalloc(&x, 256 * sizeof(float));
  cudaMalloc(&out, 256 * sizeof(float));
  std::printf("fresh_is_nan %d\n", out[0] != out[0] ? 1 : 0);
  std::vector<float> h(256);
  for (int i = 0; i < 256; ++i) h[i] = static_cast<float>(i + 1);
  cudaMemcpy(x, h.data(), 256 * sizeof(float), cudaMemcpyHostToDevice);

  block_sum<<<1, 256>>>(x, out, 200);
  report("block_sum_err");
  std::printf("block_sum %.0f\n", out[0]);  // 1 + ... + 200 = 20100

  racy_shift<<<1, 64>>>(x, out);
  report("racy_err");
  int wrong = 0;
  for (int t = 0; t < 64; ++t) wrong += out[t] != h[(t + 1) % 64];
  std::printf("racy_wrong %d\n", wrong > 0 ? 1 : 0);  // the missing barrier shows

  int *xi, *oi;
  cudaMalloc(&xi, 64 * sizeof(int));
  cudaMalloc(&oi, 4096 * sizeof(int));
  for (int i = 0; i < 64; ++i) xi[i] = i;
  warp_sum<<<1, 64>>>(xi, oi);
  report("warp_sum_err");
  std::printf("warp_sum %d %d %d\n", oi[0], oi[31], oi[63]);  // 496 496 1520

  divergent<<<1, 64>>>(oi);
  report("divergent_err");
  divergent_warp<<<1, 64>>>(oi);
  report("divergent_warp_err");
  warp_exits_early<<<2, 64>>>(xi, oi);
  report("warp_exits_early_err");
  std::printf("warp_exits_early %d %d %d\n", oi[0], oi[32], oi[63]);  // -1 1520 1520
  lane_exits<<<1, 32>>>(xi, oi);  // every warp leader exits: the plain-call mode
  report("lane_exits_32_err");
  lane_exits<<<1, 64>>>(xi, oi);  // warp 1's leader shuffles: the fiber mode
  report("lane_exits_64_err");
  deadlock<<<1, 64>>>(oi);
  report("deadlock_err");
  ids<<<1, 1025>>>(oi);
  report("too_many_threads_err");
  ids<<<dim3(1, 65536), 1>>>(oi);
  report("grid_y_err");
  ids<<<dim3(3, 2), dim3(4, 2)>>>(oi);
  report("ids_err");
  int bad = 0;
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 8; ++t) bad += oi[b * 8 + t] != b * 1000 + t;
  std::printf("ids_bad %d\n", bad);
  return 0;
}
