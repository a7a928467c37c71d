// 2-D max/average pooling, NHWC (N, H, W, C), float32/float64, contiguous buffers.
// Any window, stride and explicit padding (top/left given, bottom/right implied by OH/OW).
#pragma once
#include <cstdint>

namespace nabi::cpu {

struct Pool2dShape {
  int64_t N, H, W, C;
  int64_t KH, KW, OH, OW;
  int64_t sh, sw, pt, pl;
};

// y = max over each window's valid (non-padding) elements; idx (may be null) receives the
// flattened index n*H*W*C + (h*W + w)*C + c of the first maximum (row-major window order).
template <typename T, typename I>
void max_pool_forward(const Pool2dShape& s, const T* x, T* y, I* idx);
// dx = 0, then dx[idx[o]] += dy[o].
template <typename T, typename I>
void max_pool_backward(const Pool2dShape& s, const T* dy, const I* idx, T* dx);
// The same when windows do not overlap (sh >= KH and sw >= KW; s fully set, window and
// padding included): each dx element is written once, no zeroing pass.
template <typename T, typename I>
void max_pool_backward_disjoint(const Pool2dShape& s, const T* dy, const I* idx, T* dx);
// y = mean over each window's valid elements (padding excluded, as TF 'SAME').
template <typename T>
void avg_pool_forward(const Pool2dShape& s, const T* x, T* y);
template <typename T>
void avg_pool_backward(const Pool2dShape& s, const T* dy, T* dx);

}  // namespace nabi::cpu
