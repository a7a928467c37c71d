// Host-side entry points of the CUDA conv2d, pooling and batch-norm kernels: plain C++
// declarations (no CUDA headers), so the g++-compiled binding csrc/bindings/bind_cuda_nn.cpp
// can call them. Implemented in csrc/cuda/conv2d.cu, pooling.cu and batchnorm.cu; they exist
// only in builds with NABI_WITH_CUDA.
//
// The semantics are those of the CPU kernels of the same family (csrc/cpu/conv2d.h,
// pooling.h, batchnorm.h), which the bindings mirror name for name:
//   layouts NHWC (activations) and HWIO (filters), C-contiguous device pointers;
//   float and double are instantiated (argmax indices int32 or int64);
//   every call enqueues its kernels on nabi::cuda::stream() and returns without
//   synchronising; launch errors are thrown as CudaError naming the kernel.
// Shapes are validated by the bindings; these functions trust them.
#pragma once
#include <cstdint>

namespace nabi::cuda {

// ---- conv2d.cu ----------------------------------------------------------------------------
// x (N, H, W, C), w (KH, KW, C, CO), y (N, OH, OW, CO); strides sh/sw, dilations dh/dw (>= 1),
// top/left padding pt/pl (bottom/right are implied by OH/OW), as cpu::Conv2dShape.
struct ConvDims {
  int64_t N, H, W, C;
  int64_t KH, KW, CO;
  int64_t OH, OW;
  int64_t sh, sw, dh, dw;
  int64_t pt, pl;
};

// y = conv(x, w) (+ b[co] when b is non-null) (then max(., 0) when relu).
template <typename T>
void conv2d_forward(const ConvDims& d, const T* x, const T* w, const T* b, bool relu, T* y);

// Gradients of y = [relu](conv(x, w) + b) given dy. relu_y (the forward's output) is non-null
// when the forward fused a ReLU: dy is then used as (relu_y > 0 ? dy : 0). dx (N, H, W, C),
// dw (KH, KW, C, CO), db (CO) may each be null (not computed); those given are overwritten.
template <typename T>
void conv2d_backward(const ConvDims& d, const T* x, const T* w, const T* dy, const T* relu_y,
                     T* dx, T* dw, T* db);

// dx (N, H, W, C) = [relu](input gradient of conv(x, w) given dy + b[c] when b is non-null):
// a transposed convolution with its bias and ReLU in the epilogue (x is not needed).
template <typename T>
void conv2d_backward_data(const ConvDims& d, const T* w, const T* dy, const T* b, bool relu,
                          T* dx);

// ---- pooling.cu ---------------------------------------------------------------------------
// x (N, H, W, C), y (N, OH, OW, C); window KH x KW, strides sh/sw, top/left padding pt/pl.
struct PoolDims {
  int64_t N, H, W, C;
  int64_t KH, KW, OH, OW;
  int64_t sh, sw, pt, pl;
};

// y = max over each window's valid (non-padding) elements, the first maximum in row-major
// window order winning ties (a strict '>' scan from the first element, so NaN wins only when
// it comes first); idx (may be null) = n*H*W*C + (h*W + w)*C + c of that element. An empty
// window (padding >= window) gives y = 0 and idx = -1.
template <typename T, typename I>
void max_pool2d_forward(const PoolDims& d, const T* x, T* y, I* idx);

// dx (N, H, W, C) = 0, then dx[idx[o]] += dy[o] for every output o (N, OH, OW, C) whose index
// lies inside o's own image (others, e.g. -1, are ignored). Only N, H, W, C, OH, OW are read.
template <typename T, typename I>
void max_pool2d_backward(const PoolDims& d, const T* dy, const I* idx, T* dx);

// The same when windows do not overlap (sh >= KH and sw >= KW; d fully set): each dx element
// looks up the one window that contains it, dx = (idx of that window == its own index) ?
// dy : 0 (0 in no window). A gather: no zeroing pass, no atomics.
template <typename T, typename I>
void max_pool2d_backward_disjoint(const PoolDims& d, const T* dy, const I* idx, T* dx);

// y = mean over each window's valid elements (padding excluded; an empty window gives 0).
template <typename T>
void avg_pool2d_forward(const PoolDims& d, const T* x, T* y);
// dx[h, w] = sum over the windows containing (h, w) of dy / (that window's valid count).
template <typename T>
void avg_pool2d_backward(const PoolDims& d, const T* dy, T* dx);

// ---- batchnorm.cu -------------------------------------------------------------------------
// x viewed as (M, C), C the last axis. gamma/beta may be null (scale 1 / offset 0).
//   train:    mean/var per channel over the M rows (biased variance, float64 accumulation,
//             shifted by row 0), inv_std = 1/sqrt(var + eps), y = (x - mean)*inv_std*gamma+beta
//             (M == 0: mean = var = 0, y empty)
//   infer:    the same with the given mean/var
//   backward: dbeta = sum dy, dgamma = sum dy * (x - mean) * inv_std;
//             training: dx = gamma*inv_std/M * (M*dy - dbeta - xhat*dgamma)
//             inference: dx = dy * gamma * inv_std
template <typename T>
void batch_norm_forward_train(const T* x, const T* gamma, const T* beta, double eps, int64_t M,
                              int64_t C, T* y, T* mean, T* var, T* inv_std);
template <typename T>
void batch_norm_forward_infer(const T* x, const T* gamma, const T* beta, const T* mean,
                              const T* var, double eps, int64_t M, int64_t C, T* y);
template <typename T>
void batch_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean,
                         const T* inv_std, bool training, int64_t M, int64_t C, T* dx,
                         T* dgamma, T* dbeta);

// ---- depthwise_conv2d.cu ------------------------------------------------------------------
// x (N, H, W, C), w (KH, KW, C, M), y (N, OH, OW, C*M) with output channel c*M + m; strides,
// dilations, top/left padding as ConvDims (semantics of csrc/cpu/depthwise_conv2d.h).
struct DepthwiseDims {
  int64_t N, H, W, C;
  int64_t KH, KW, M;
  int64_t OH, OW;
  int64_t sh, sw, dh, dw;
  int64_t pt, pl;
};
// y = depthwise conv(x, w); dx (N, H, W, C) and dw (KH, KW, C, M) are the adjoints given
// dy. Each output is overwritten; the filter gradient is deterministic (no float atomics).
template <typename T>
void depthwise_conv2d_forward(const DepthwiseDims& d, const T* x, const T* w, T* y);
template <typename T>
void depthwise_conv2d_backward_data(const DepthwiseDims& d, const T* w, const T* dy, T* dx);
template <typename T>
void depthwise_conv2d_backward_filter(const DepthwiseDims& d, const T* x, const T* dy, T* dw);

}  // namespace nabi::cuda
