// Complex elementwise kernels (see complex_launchers.h): real / imag / abs / angle / conj /
// neg and the elementary functions (exp, log, sqrt, sin, tanh, ..., and the inverse asin, acos,
// atan, asinh, acosh, atanh: complex_elementary.cuh),
// add / sub / mul / div / pow / make (tf.complex) with NumPy broadcasting, the product along
// an axis (reduce_prod: one thread per output, NumPy's order), and casts between real and
// complex dtypes, behind complex64 / complex128 GPU tensors.
//
// Algorithm: elementwise_nd.cu's scheme, reused through nd_layout.cuh: a functor over K
// operands' element offsets, run by the linear kernel (contiguous operands) or the strided
// kernel (broadcasting: the coalesced N-d layout, 32-bit index math when it fits). The op is a
// runtime switch uniform across the grid. A complex element is a Cx<R> pair (complex_math.cuh)
// loaded and stored as one 8- or 16-byte access. abs is hypot (no overflow for parts near the
// range's edge); div is Smith's algorithm (scales by the larger part of the divisor).
// Layouts: x, y contiguous (n,) for unary / cast; a, b, y as binary's (shape, element strides).
// Tested by tests/test_cuda_complex_fft.py, tests/test_cuda_complex_math.py and
// tests/test_cuda_complex_inverse.py (emulator, simulator, GPU) against NumPy.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/complex_elementary.cuh"
#include "cuda/complex_launchers.h"
#include "cuda/complex_math.cuh"
#include "cuda/nd_layout.cuh"

namespace nabi::cuda::nd {

namespace {

// elementwise_nd.cu's launch_nd (the launch must sit in this .cu for the simulator).
template <typename Fn>
void launch_nd(const Fn& fn, const std::vector<int64_t>& shape,
               const std::vector<int64_t>* const (&strides)[Fn::K]) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n <= 0) return;
  const Layout<Fn::K> L = coalesce<Fn::K>(shape, strides);
  const int g = grid_for(n, kNdThreads);
  if (is_linear(L)) {
    linear_kernel<int64_t, Fn><<<g, kNdThreads, 0, stream()>>>(fn, n);
    NABI_CUDA_CHECK_LAUNCH("complex linear_kernel");
  } else if (fits_int32(L, n)) {
    strided_kernel<int32_t, Fn><<<g, kNdThreads, 0, stream()>>>(fn, to_index<int32_t>(L), n);
    NABI_CUDA_CHECK_LAUNCH("complex strided_kernel<int32>");
  } else {
    strided_kernel<int64_t, Fn><<<g, kNdThreads, 0, stream()>>>(fn, to_index<int64_t>(L), n);
    NABI_CUDA_CHECK_LAUNCH("complex strided_kernel<int64>");
  }
}

const std::vector<int64_t>& unit_stride() {
  static const std::vector<int64_t> s{1};
  return s;
}

// The elementary functions: a kernel of their own (their registers would slow conj / neg).
template <typename R>
__device__ __forceinline__ Cx<R> complex_math(ComplexUnaryOp op, Cx<R> v) {
  using U = ComplexUnaryOp;
  switch (op) {
    case U::Exp: return cxm::cexp(v);
    case U::Expm1: return cxm::cexpm1(v);
    case U::Log: return cxm::clog(v);
    case U::Log1p: return cxm::clog1p(v);
    case U::Sqrt: return cxm::csqrt(v);
    case U::Square: return cxm::csquare(v);
    case U::Reciprocal: return cxm::creciprocal(v);
    case U::Sign: return cxm::csign(v);
    case U::Sin: return cxm::csin(v);
    case U::Cos: return cxm::ccos(v);
    case U::Tan: return cxm::ctan(v);
    case U::Sinh: return cxm::csinh(v);
    case U::Cosh: return cxm::ccosh(v);
    default: return cxm::ctanh(v);  // Tanh
  }
}

// The inverse functions, a kernel of their own too (56 registers on sm_90 in double against
// the others' 42): three bodies, acos (acosh from its parts), asinh and atanh (asin, atan:
// of the swapped parts, swapped back, as cxm::casin / catan).
template <typename R>
__device__ __forceinline__ Cx<R> complex_inverse(ComplexUnaryOp op, Cx<R> v) {
  using U = ComplexUnaryOp;
  if (op == U::Acos || op == U::Acosh) {
    const Cx<R> w = cxm::cacos(v);
    return op == U::Acos ? w : cxm::acosh_of_acos(w, v.im);
  }
  const bool swap = op == U::Asin || op == U::Atan;
  if (swap) v = {v.im, v.re};
  const Cx<R> w = (op == U::Asin || op == U::Asinh) ? cxm::casinh(v) : cxm::catanh(v);
  return swap ? Cx<R>{w.im, w.re} : w;
}

template <typename R, typename Y>
struct UnaryFn {
  static constexpr int K = 2;
  ComplexUnaryOp op;
  Y* y;
  const Cx<R>* x;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    const Cx<R> v = x[o[1]];
    if constexpr (std::is_same_v<Y, R>) {
      switch (op) {
        case ComplexUnaryOp::Real: y[o[0]] = v.re; break;
        case ComplexUnaryOp::Imag: y[o[0]] = v.im; break;
        case ComplexUnaryOp::Abs: y[o[0]] = hypot(v.re, v.im); break;
        default: y[o[0]] = atan2(v.im, v.re); break;  // Angle
      }
    } else {
      y[o[0]] = op == ComplexUnaryOp::Conj ? cx_conj(v) : Cx<R>{-v.re, -v.im};
    }
  }
};

template <typename R, bool Inverse>
struct MathFn {
  static constexpr int K = 2;
  ComplexUnaryOp op;
  Cx<R>* y;
  const Cx<R>* x;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    if constexpr (Inverse) y[o[0]] = complex_inverse(op, x[o[1]]);
    else y[o[0]] = complex_math(op, x[o[1]]);
  }
};

template <typename R>
__device__ __forceinline__ R magnitude(R v) {
  return v < R(0) ? -v : v;
}

template <typename R>
__device__ __forceinline__ Cx<R> cx_div(Cx<R> a, Cx<R> b) {
  if (magnitude(b.re) >= magnitude(b.im)) {
    if (b.re == R(0) && b.im == R(0))  // inf / nan as NumPy: a over +0 (b.re^2 is +0)
      return {a.re / (b.re * b.re), a.im / (b.im * b.im)};
    const R r = b.im / b.re, d = b.re + b.im * r;
    return {(a.re + a.im * r) / d, (a.im - a.re * r) / d};
  }
  const R r = b.re / b.im, d = b.re * r + b.im;
  return {(a.re * r + a.im) / d, (a.im * r - a.re) / d};
}

template <typename R>
struct BinaryFn {
  static constexpr int K = 3;
  ComplexBinaryOp op;
  Cx<R>* y;
  const Cx<R>* a;
  const Cx<R>* b;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    const Cx<R> u = a[o[1]], v = b[o[2]];
    switch (op) {
      case ComplexBinaryOp::Add: y[o[0]] = cx_add(u, v); break;
      case ComplexBinaryOp::Sub: y[o[0]] = cx_sub(u, v); break;
      case ComplexBinaryOp::Mul: y[o[0]] = cx_mul(u, v); break;
      case ComplexBinaryOp::Pow: y[o[0]] = cxm::cpow(u, v); break;
      default: y[o[0]] = cx_div(u, v); break;  // Div
    }
  }
};

template <typename R>
struct MakeFn {
  static constexpr int K = 3;
  Cx<R>* y;
  const R* re;
  const R* im;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    y[o[0]] = Cx<R>{re[o[1]], im[o[2]]};
  }
};

// From real F to Cx<R>, from Cx<F> to Cx<R>, or from Cx<F> to real R (the real part).
template <typename From, typename To>
struct CastFn {
  static constexpr int K = 2;
  To* y;
  const From* x;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    const From v = x[o[1]];
    if constexpr (std::is_arithmetic_v<From>) {
      y[o[0]] = To{static_cast<decltype(To::re)>(v), 0};
    } else if constexpr (std::is_arithmetic_v<To>) {
      y[o[0]] = static_cast<To>(v.re);
    } else {
      y[o[0]] = To{static_cast<decltype(To::re)>(v.re), static_cast<decltype(To::re)>(v.im)};
    }
  }
};

template <typename F>
void by_complex(DType d, F&& f) {
  if (d == DType::Complex64) return f(static_cast<float*>(nullptr));
  if (d == DType::Complex128) return f(static_cast<double*>(nullptr));
  throw std::invalid_argument("[complex] not a complex dtype");
}

// Any dtype as the C++ type of one element (complex as Cx<R>).
template <typename F>
void by_element(DType d, F&& f) {
  if (d == DType::Complex64) return f(static_cast<Cx<float>*>(nullptr));
  if (d == DType::Complex128) return f(static_cast<Cx<double>*>(nullptr));
  by_dtype(d, f);
}

template <typename R>
__global__ void __launch_bounds__(kNdThreads)
    prod_kernel(const Cx<R>* __restrict__ x,  // [outer, n, inner]
                Cx<R>* __restrict__ y,        // [outer, inner]
                int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner, grid = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += grid) {
    const int64_t o = i / inner, k = i - o * inner;
    const Cx<R>* p = x + o * n * inner + k;
    Cx<R> acc = n ? p[0] : Cx<R>{R(1), R(0)};
    for (int64_t j = 1; j < n; ++j) acc = cx_mul(acc, p[j * inner]);
    y[i] = acc;
  }
}

// A K = 2 functor over n contiguous elements.
template <typename Fn>
void flat(const Fn& fn, int64_t n) {
  const std::vector<int64_t> shape{n};
  const std::vector<int64_t>* const strides[2] = {&unit_stride(), &unit_stride()};
  launch_nd(fn, shape, strides);
}

}  // namespace

void complex_unary(ComplexUnaryOp op, DType x_dtype, const void* x, void* y, int64_t n) {
  if (n <= 0) return;
  by_complex(x_dtype, [&](auto* tag) {
    using R = std::remove_pointer_t<decltype(tag)>;
    const Cx<R>* xp = static_cast<const Cx<R>*>(x);
    if (op >= ComplexUnaryOp::Asin)
      flat(MathFn<R, true>{op, static_cast<Cx<R>*>(y), xp}, n);
    else if (op > ComplexUnaryOp::Neg)
      flat(MathFn<R, false>{op, static_cast<Cx<R>*>(y), xp}, n);
    else if (op >= ComplexUnaryOp::Conj)
      flat(UnaryFn<R, Cx<R>>{op, static_cast<Cx<R>*>(y), xp}, n);
    else
      flat(UnaryFn<R, R>{op, static_cast<R*>(y), xp}, n);
  });
}

void complex_binary(ComplexBinaryOp op, DType dtype, const void* a,
                    const std::vector<int64_t>& a_strides, const void* b,
                    const std::vector<int64_t>& b_strides, void* y,
                    const std::vector<int64_t>& shape) {
  const std::vector<int64_t> y_strides = contiguous_strides(shape);
  const std::vector<int64_t>* const strides[3] = {&y_strides, &a_strides, &b_strides};
  by_complex(dtype, [&](auto* tag) {
    using R = std::remove_pointer_t<decltype(tag)>;
    if (op == ComplexBinaryOp::Make)
      launch_nd(MakeFn<R>{static_cast<Cx<R>*>(y), static_cast<const R*>(a),
                          static_cast<const R*>(b)},
                shape, strides);
    else
      launch_nd(BinaryFn<R>{op, static_cast<Cx<R>*>(y), static_cast<const Cx<R>*>(a),
                            static_cast<const Cx<R>*>(b)},
                shape, strides);
  });
}

void complex_prod(DType dtype, const void* x, int64_t outer, int64_t n, int64_t inner, void* y) {
  const int64_t total = outer * inner;
  if (total <= 0) return;
  by_complex(dtype, [&](auto* tag) {
    using R = std::remove_pointer_t<decltype(tag)>;
    prod_kernel<R><<<grid_for(total, kNdThreads), kNdThreads, 0, stream()>>>(
        static_cast<const Cx<R>*>(x), static_cast<Cx<R>*>(y), outer, n, inner);
    NABI_CUDA_CHECK_LAUNCH("complex prod_kernel");
  });
}

void complex_cast(DType from, const void* x, DType to, void* y, int64_t n) {
  if (n <= 0) return;
  if (!is_complex_dtype(from) && !is_complex_dtype(to))
    throw std::invalid_argument("[cast] complex_cast needs a complex source or target");
  if (is_complex_dtype(from) && !is_complex_dtype(to) && to != DType::Float32 &&
      to != DType::Float64)
    throw std::invalid_argument("[cast] complex -> integer/bool goes through the part dtype");
  by_element(from, [&](auto* ftag) {
    using F = std::remove_pointer_t<decltype(ftag)>;
    by_element(to, [&](auto* ttag) {
      using T = std::remove_pointer_t<decltype(ttag)>;
      constexpr bool f_cx = !std::is_arithmetic_v<F>, t_cx = !std::is_arithmetic_v<T>;
      constexpr bool t_float = std::is_floating_point_v<T>;
      if constexpr ((f_cx || t_cx) && (t_cx || t_float))
        flat(CastFn<F, T>{static_cast<T*>(y), static_cast<const F*>(x)}, n);
    });
  });
}

}  // namespace nabi::cuda::nd
