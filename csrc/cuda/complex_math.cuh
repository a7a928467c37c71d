// The complex element of the complex kernels (complex.cu, fft.cu): an interleaved (re, im)
// pair of R (float: complex64, double: complex128), laid out as NumPy's, with the arithmetic
// they share. Host and device.
#pragma once
#include <cmath>

#include "cuda/common.cuh"

namespace nabi::cuda::nd {

template <typename R>
struct alignas(2 * sizeof(R)) Cx {
  R re, im;
};

template <typename R>
__host__ __device__ __forceinline__ Cx<R> cx_add(Cx<R> a, Cx<R> b) {
  return {a.re + b.re, a.im + b.im};
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> cx_sub(Cx<R> a, Cx<R> b) {
  return {a.re - b.re, a.im - b.im};
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> cx_mul(Cx<R> a, Cx<R> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> cx_conj(Cx<R> a) {
  return {a.re, -a.im};
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> cx_scale(Cx<R> a, R s) {
  return {a.re * s, a.im * s};
}
// exp(i pi x), x in double, rounded to R (sincospi reduces the argument exactly).
template <typename R>
__device__ __forceinline__ Cx<R> cx_expipi(double x) {
  double s, c;
  sincospi(x, &s, &c);
  return {static_cast<R>(c), static_cast<R>(s)};
}

}  // namespace nabi::cuda::nd
