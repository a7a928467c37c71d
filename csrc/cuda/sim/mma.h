// nabi's CUDA host simulator: the part of WMMA (nvcuda::wmma) that gemm.cu's TF32 kernel uses.
// On a GPU a fragment's elements are spread over the 32 lanes of a warp in an unspecified
// layout; here every lane holds the whole tile. Code that treats fragment elements uniformly
// (as WMMA requires: only elementwise loops over x[0, num_elements)) behaves the same, and
// the products are accumulated in float, as the tensor cores do with TF32 inputs.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda_runtime.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment;

// Every fragment: the whole R x C tile, stored row by row; `row` is the layout of the memory
// it loads from.
template <int R, int C, bool Row>
struct tile {
  static constexpr int rows = R, cols = C, num_elements = R * C;
  static constexpr bool row = Row;
  float x[R * C];
};
template <int M, int N, int K, typename Layout>
struct fragment<matrix_a, M, N, K, precision::tf32, Layout>
    : tile<M, K, std::is_same_v<Layout, row_major>> {};
template <int M, int N, int K, typename Layout>
struct fragment<matrix_b, M, N, K, precision::tf32, Layout>
    : tile<K, N, std::is_same_v<Layout, row_major>> {};
template <int M, int N, int K>
struct fragment<accumulator, M, N, K, float, void> : tile<M, N, true> {};

// Round to TF32 (10 mantissa bits) to nearest, ties away from zero (cvt.rna.tf32.f32).
inline float __float_to_tf32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x1000u) & 0xFFFFE000u;  // inf/NaN kept
  std::memcpy(&f, &u, 4);
  return f;
}

template <typename Frag>
inline void fill_fragment(Frag& f, float v) {
  for (int i = 0; i < Frag::num_elements; ++i) f.x[i] = v;
}

// The fragment of a matrix_a / matrix_b: element (r, c) at p[r * ldm + c] (row major) or
// p[c * ldm + r] (column major); ldm must be a multiple of 4 floats, as on the GPU.
template <typename Frag>
inline void load_matrix_sync(Frag& f, const float* p, unsigned ldm) {
  if (ldm % 4 != 0) __builtin_trap();
  for (int r = 0; r < Frag::rows; ++r)
    for (int c = 0; c < Frag::cols; ++c)
      f.x[r * Frag::cols + c] = Frag::row ? p[r * ldm + c] : p[c * ldm + r];
  __syncwarp();  // a warp-collective operation: every lane must reach it
}

template <int M, int N, int K, typename LA, typename LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d,
                     const fragment<matrix_a, M, N, K, precision::tf32, LA>& a,
                     const fragment<matrix_b, M, N, K, precision::tf32, LB>& b,
                     const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s += a.x[i * K + k] * b.x[k * N + j];
      out[i * N + j] = s;
    }
  std::memcpy(d.x, out, sizeof(out));
  __syncwarp();
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f,
                              unsigned ldm, layout_t layout) {
  if (ldm % 4 != 0) __builtin_trap();
  __syncwarp();
  const int lane = (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % 32;
  if (lane == 0)  // every lane holds the tile; one writes it
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j)
        (layout == mem_row_major ? p[i * ldm + j] : p[j * ldm + i]) = f.x[i * N + j];
  __syncwarp();
}

}  // namespace nvcuda::wmma
