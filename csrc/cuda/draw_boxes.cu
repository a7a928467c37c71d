// draw_boxes (see morph_nms_launchers.h), behind tf.image.draw_bounding_boxes on GPU images.
//
// Algorithm: one thread per pixel (b, y, x), grid-stride over n*h*w. The host path paints the
// boxes of an image in order, each overwriting the last, so a pixel ends with the colour of
// the LAST box whose outline covers it: the thread scans the boxes of its image from the last
// down and stops at the first that covers it (corners recomputed per box from the float32
// coordinates: trunc(coord * (side - 1)), the host formula, one rounded product -- nothing to
// contract), then writes that colour or copies the input pixel, all depth channels.
// No blocking: a box is four float loads shared by every pixel of the image (L1 / L2 hits).
// Launches: 1; none for an empty image.
#include <cstdint>
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/morph_nms_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;

// trunc toward zero of a float32 corner, clamped to +-2^31 first (NaN handled by the caller).
__device__ __forceinline__ int64_t corner(float v) {
  const float lim = 2147483648.0f;
  v = v < -lim ? -lim : (v > lim ? lim : v);
  return static_cast<int64_t>(v);
}

__device__ __forceinline__ bool finite(float v) { return v == v && v - v == 0.0f; }

template <typename T>
__global__ void __launch_bounds__(kThreads)
    draw_boxes_kernel(const T* __restrict__ img, int64_t h, int64_t w, int64_t depth,
                      const float* __restrict__ boxes, int64_t k, const T* __restrict__ table,
                      int64_t nt, T* __restrict__ out, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const float fh = static_cast<float>(h - 1), fw = static_cast<float>(w - 1);
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t x = t % w;
    const int64_t y = (t / w) % h;
    const int64_t b = t / (w * h);
    int64_t hit = -1;
    for (int64_t j = k - 1; j >= 0 && hit < 0; --j) {
      const float* bx = boxes + (b * k + j) * 4;
      if (!(finite(bx[0]) && finite(bx[1]) && finite(bx[2]) && finite(bx[3]))) continue;
      const int64_t r0 = corner(bx[0] * fh), c0 = corner(bx[1] * fw);
      const int64_t r1 = corner(bx[2] * fh), c1 = corner(bx[3] * fw);
      if (r0 > r1 || c0 > c1) continue;
      const bool row = (y == r0 || y == r1) && c0 <= x && x <= c1;
      const bool col = (x == c0 || x == c1) && r0 <= y && y <= r1;
      if (row || col) hit = j;
    }
    const T* src = hit < 0 ? img + t * depth : table + (hit % nt) * depth;
    for (int64_t d = 0; d < depth; ++d) out[t * depth + d] = src[d];
  }
}

template <typename T>
void run(const void* img, int64_t n, int64_t h, int64_t w, int64_t depth, const float* boxes,
         int64_t k, const void* table, int64_t nt, void* out) {
  const int64_t total = n * h * w;
  if (total == 0 || depth == 0) return;
  draw_boxes_kernel<T><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      static_cast<const T*>(img), h, w, depth, boxes, k, static_cast<const T*>(table), nt,
      static_cast<T*>(out), total);
  NABI_CUDA_CHECK_LAUNCH("draw_boxes_kernel");
}

}  // namespace

void draw_boxes(DType dtype, const void* img, int64_t n, int64_t h, int64_t w, int64_t depth,
                const float* boxes, int64_t k, const void* table, int64_t nt, void* out) {
  if (dtype == DType::Float32) return run<float>(img, n, h, w, depth, boxes, k, table, nt, out);
  if (dtype == DType::Float64) return run<double>(img, n, h, w, depth, boxes, k, table, nt, out);
  throw std::invalid_argument("[draw_boxes] dtype must be float32 or float64");
}

}  // namespace nabi::cuda::nd
