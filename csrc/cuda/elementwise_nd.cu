// Elementwise N-d array primitives (see array_launchers.h): unary, binary with NumPy
// broadcasting, where, cast, strided copy/assign, fill and arange.
//
// One scheme serves them all. An op is a small functor over K operands (operand 0 is the
// output, the others inputs) that, given the K element offsets of one output element, loads,
// computes and stores. Two grid-stride kernels run any functor:
//   linear_kernel   every operand is contiguous over the same shape: all K offsets are the
//                   output's linear index i (unary, cast, fill, arange, and binary/where/copy
//                   whenever the layouts allow it).
//   strided_kernel  each thread decomposes its linear output index i into an N-d index over
//                   the (coalesced) shape, innermost dimension first, and accumulates the K
//                   offsets with per-operand element strides (0 on a broadcast dimension,
//                   negative for flips). The shape and strides travel by value in a POD struct
//                   (NdIndex, <= 8 dims), so they sit in the constant bank.
// Before a launch the host coalesces the layout: dimensions of extent 1 are dropped and
// neighbouring dimensions merge when, for every operand, the outer stride equals the inner
// stride times the inner extent. Same-shape contiguous operands thus collapse to one dimension
// of stride 1 and take the linear kernel; a (N, C) + (C,) bias add becomes 2 dims. Index math
// is 32-bit (I = int32_t) when the element count and every operand's reachable offset span fit
// in int32 (the usual case: 32-bit division is several times cheaper), 64-bit otherwise. The
// loop counter itself is always 64-bit, so a grid-stride step never overflows.
// Ops are a runtime switch inside the kernels, uniform across the grid (one predictable branch
// per element, no divergence), as in elementwise.cu: one kernel per dtype combination instead
// of one per op. Blocks of 256 threads, grid from grid_for (several waves, capped). Reads and
// writes of consecutive threads are consecutive on the innermost dimension, so coalesced
// whenever an operand's innermost stride is 1 (or 0: one broadcast value per warp).
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"
#include "cuda/nd_layout.cuh"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = kNdThreads;

template <typename Fn>
void launch_linear(const Fn& fn, int64_t n) {
  if (n <= 0) return;
  if (n <= kInt32Max) {
    linear_kernel<int32_t, Fn><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(fn, n);
    NABI_CUDA_CHECK_LAUNCH("linear_kernel<int32>");
  } else {
    linear_kernel<int64_t, Fn><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(fn, n);
    NABI_CUDA_CHECK_LAUNCH("linear_kernel<int64>");
  }
}

template <typename Fn>
void launch_nd(const Fn& fn, const std::vector<int64_t>& shape,
               const std::vector<int64_t>* const (&strides)[Fn::K]) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n <= 0) return;
  const Layout<Fn::K> L = coalesce<Fn::K>(shape, strides);
  if (is_linear(L)) return launch_linear(fn, n);
  if (fits_int32(L, n)) {
    strided_kernel<int32_t, Fn><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        fn, to_index<int32_t>(L), n);
    NABI_CUDA_CHECK_LAUNCH("strided_kernel<int32>");
  } else {
    strided_kernel<int64_t, Fn><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        fn, to_index<int64_t>(L), n);
    NABI_CUDA_CHECK_LAUNCH("strided_kernel<int64>");
  }
}

// by_dtype / by_itemsize (the dtype dispatch): nd_layout.cuh

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T>;
template <typename T>
constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// ============================ math helpers ===================================================
// Explicit float/double choices (CUDA's float overloads of some functions, e.g. rsqrt, are not
// in the global namespace).
#define ND_MATH1(name)                                             \
  template <typename T>                                            \
  __device__ __forceinline__ T m_##name(T x) {                     \
    if constexpr (std::is_same_v<T, float>) return ::name##f(x);   \
    else return ::name(x);                                         \
  }
#define ND_MATH2(name)                                             \
  template <typename T>                                            \
  __device__ __forceinline__ T m_##name(T x, T y) {                \
    if constexpr (std::is_same_v<T, float>) return ::name##f(x, y); \
    else return ::name(x, y);                                      \
  }
ND_MATH1(exp) ND_MATH1(expm1) ND_MATH1(log) ND_MATH1(log1p) ND_MATH1(sqrt) ND_MATH1(rsqrt)
ND_MATH1(sin) ND_MATH1(cos) ND_MATH1(tan) ND_MATH1(asin) ND_MATH1(acos) ND_MATH1(atan)
ND_MATH1(sinh) ND_MATH1(cosh) ND_MATH1(tanh) ND_MATH1(asinh) ND_MATH1(acosh) ND_MATH1(atanh)
ND_MATH1(floor) ND_MATH1(ceil) ND_MATH1(rint) ND_MATH1(fabs)
ND_MATH2(fmod) ND_MATH2(pow) ND_MATH2(atan2) ND_MATH2(copysign)
#undef ND_MATH1
#undef ND_MATH2

// ============================ unary ==========================================================
template <typename T>
__device__ __forceinline__ T unary_float(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return m_fabs(x);
    case UnaryOp::Sign: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == T(0) ? T(0) : x));
    case UnaryOp::Square: return x * x;
    case UnaryOp::Exp: return m_exp(x);
    case UnaryOp::Expm1: return m_expm1(x);
    case UnaryOp::Log: return m_log(x);
    case UnaryOp::Log1p: return m_log1p(x);
    case UnaryOp::Sqrt: return m_sqrt(x);
    case UnaryOp::Rsqrt: return m_rsqrt(x);
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Sin: return m_sin(x);
    case UnaryOp::Cos: return m_cos(x);
    case UnaryOp::Tan: return m_tan(x);
    case UnaryOp::Asin: return m_asin(x);
    case UnaryOp::Acos: return m_acos(x);
    case UnaryOp::Atan: return m_atan(x);
    case UnaryOp::Sinh: return m_sinh(x);
    case UnaryOp::Cosh: return m_cosh(x);
    case UnaryOp::Tanh: return m_tanh(x);
    case UnaryOp::Asinh: return m_asinh(x);
    case UnaryOp::Acosh: return m_acosh(x);
    case UnaryOp::Atanh: return m_atanh(x);
    case UnaryOp::Floor: return m_floor(x);
    case UnaryOp::Ceil: return m_ceil(x);
    case UnaryOp::Rint: return m_rint(x);
    case UnaryOp::Sigmoid: {
      if (x >= T(0)) return T(1) / (T(1) + m_exp(-x));
      const T e = m_exp(x);  // x < 0 (or NaN): no overflow
      return e / (T(1) + e);
    }
    case UnaryOp::Softplus: return m_log1p(m_exp(-m_fabs(x))) + (x > T(0) ? x : T(0));
    default: return x;  // rejected by the binding
  }
}

template <typename T>
__device__ __forceinline__ T unary_int(UnaryOp op, T x) {
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case UnaryOp::Neg: return static_cast<T>(U(0) - static_cast<U>(x));
    case UnaryOp::Abs: return x < 0 ? static_cast<T>(U(0) - static_cast<U>(x)) : x;
    case UnaryOp::Sign: return static_cast<T>((x > 0) - (x < 0));
    case UnaryOp::Square: return static_cast<T>(static_cast<U>(x) * static_cast<U>(x));
    default: return x;
  }
}

template <typename T>
__device__ __forceinline__ bool unary_pred(UnaryOp op, T x) {
  if constexpr (std::is_same_v<T, bool>) {
    return !x;  // logical_not, the only bool -> bool op
  } else {
    switch (op) {
      case UnaryOp::IsNan: return isnan(x);
      case UnaryOp::IsInf: return isinf(x);
      case UnaryOp::IsFinite: return isfinite(x);
      default: return false;
    }
  }
}

template <typename T, typename R>
struct UnaryFn {
  static constexpr int K = 2;
  UnaryOp op;
  R* y;
  const T* x;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    const T v = x[o[1]];
    if constexpr (std::is_same_v<R, bool>) {
      y[o[0]] = unary_pred(op, v);
    } else if constexpr (kIsFloat<T>) {
      y[o[0]] = unary_float(op, v);
    } else {
      y[o[0]] = unary_int(op, v);
    }
  }
};

// ============================ binary =========================================================
// np.floor_divide / np.mod for floats (NumPy's npy_divmod).
template <typename T>
__device__ __forceinline__ T py_floordiv(T a, T b) {
  if (b == T(0)) return a / b;
  T mod = m_fmod(a, b);
  T div = (a - mod) / b;
  if (mod != T(0)) {
    if ((b < T(0)) != (mod < T(0))) div -= T(1);
  }
  if (div != T(0)) {
    T fl = m_floor(div);
    if (div - fl > T(0.5)) fl += T(1);
    return fl;
  }
  return m_copysign(T(0), a / b);
}

template <typename T>
__device__ __forceinline__ T py_mod(T a, T b) {
  T mod = m_fmod(a, b);
  if (b == T(0)) return mod;  // NaN
  if (mod != T(0)) {
    if ((b < T(0)) != (mod < T(0))) mod += b;
  } else {
    mod = m_copysign(T(0), b);
  }
  return mod;
}

template <typename T>
__device__ __forceinline__ T binary_float(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::FloorDiv: return py_floordiv(a, b);
    case BinaryOp::Mod: return py_mod(a, b);
    case BinaryOp::Pow: return m_pow(a, b);
    case BinaryOp::Maximum: return (a >= b || a != a) ? a : b;  // NaN in either wins
    case BinaryOp::Minimum: return (a <= b || a != a) ? a : b;
    case BinaryOp::Atan2: return m_atan2(a, b);
    default: return a;  // rejected by the binding
  }
}

template <typename T>
__device__ __forceinline__ T binary_int(BinaryOp op, T a, T b) {
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case BinaryOp::Add: return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    case BinaryOp::Sub: return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
    case BinaryOp::Mul: return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    case BinaryOp::FloorDiv: {
      if (b == 0) return 0;
      if (b == -1) return static_cast<T>(U(0) - static_cast<U>(a));  // no INT_MIN / -1 trap
      T q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
      return q;
    }
    case BinaryOp::Mod: {
      if (b == 0 || b == -1) return 0;
      T r = a % b;
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
    case BinaryOp::Pow: {
      if (b < 0) return a == 1 ? T(1) : (a == -1 ? ((b & 1) ? T(-1) : T(1)) : T(0));
      U result = 1, base = static_cast<U>(a);
      for (T e = b; e != 0; e >>= 1) {
        if (e & 1) result *= base;
        base *= base;
      }
      return static_cast<T>(result);
    }
    case BinaryOp::Maximum: return a > b ? a : b;
    case BinaryOp::Minimum: return a < b ? a : b;
    default: return a;
  }
}

template <typename T>
__device__ __forceinline__ bool binary_pred(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return static_cast<bool>(a) && static_cast<bool>(b);
    case BinaryOp::LogicalOr: return static_cast<bool>(a) || static_cast<bool>(b);
    case BinaryOp::LogicalXor: return static_cast<bool>(a) != static_cast<bool>(b);
    default: return false;
  }
}

template <typename T, typename R>
struct BinaryFn {
  static constexpr int K = 3;
  BinaryOp op;
  R* y;
  const T* a;
  const T* b;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    const T u = a[o[1]], v = b[o[2]];
    if constexpr (std::is_same_v<R, bool>) {
      y[o[0]] = binary_pred(op, u, v);
    } else if constexpr (kIsFloat<T>) {
      y[o[0]] = binary_float(op, u, v);
    } else {
      y[o[0]] = binary_int(op, u, v);
    }
  }
};

// ============================ where / copy / cast / fill / arange ============================
template <typename E>
struct WhereFn {
  static constexpr int K = 4;
  E* y;
  const bool* c;
  const E* a;
  const E* b;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    y[o[0]] = c[o[1]] ? a[o[2]] : b[o[3]];
  }
};

template <typename E>
struct CopyFn {
  static constexpr int K = 2;
  E* y;
  const E* x;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    y[o[0]] = x[o[1]];
  }
};

// Float to integer truncates toward zero; NaN, +-inf and values outside To's range become
// To's minimum, as NumPy's astype gives on x86 (the "integer indefinite" of cvttss2si). A plain
// static_cast would be undefined there in C++ and saturates on the GPU (NaN -> 0).
template <typename To, typename From>
__host__ __device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    static_assert(std::is_same_v<To, int32_t> || std::is_same_v<To, int64_t>, "int dtypes");
    constexpr bool k32 = std::is_same_v<To, int32_t>;
    constexpr From lo = k32 ? From(-2147483648.0) : From(-9223372036854775808.0);  // -2^(b-1)
    constexpr To kMin = k32 ? To(INT32_MIN) : To(INT64_MIN);
    return (v >= lo && v < -lo) ? static_cast<To>(v) : kMin;
  } else {
    return static_cast<To>(v);
  }
}

template <typename From, typename To>
struct CastFn {
  static constexpr int K = 2;
  To* y;
  const From* x;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    y[o[0]] = convert<To>(x[o[1]]);
  }
};

template <typename T>
struct FillFn {
  static constexpr int K = 1;
  T* y;
  T value;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    y[o[0]] = value;
  }
};

template <typename T>
struct ArangeFn {
  static constexpr int K = 1;
  T* y;
  double start, step;
  template <typename I>
  __device__ __forceinline__ void operator()(const I (&o)[K]) const {
    y[o[0]] = convert<T>(start + static_cast<double>(o[0]) * step);
  }
};

}  // namespace

// ============================ entry points ===================================================
void unary(UnaryOp op, DType x_dtype, const void* x, void* y, int64_t n) {
  if (n <= 0) return;
  OpKind kind = OpKind::Numeric;
  for (const auto& e : kUnaryOps)
    if (e.op == op) kind = e.kind;
  if (!kind_accepts(kind, x_dtype)) throw std::invalid_argument("[unary] op/dtype mismatch");
  by_dtype(x_dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (kIsFloat<T>) {
      if (kind == OpKind::FloatToBool)
        launch_linear(UnaryFn<T, bool>{op, static_cast<bool*>(y), static_cast<const T*>(x)}, n);
      else
        launch_linear(UnaryFn<T, T>{op, static_cast<T*>(y), static_cast<const T*>(x)}, n);
    } else if constexpr (std::is_same_v<T, bool>) {
      launch_linear(UnaryFn<bool, bool>{op, static_cast<bool*>(y), static_cast<const bool*>(x)},
                    n);
    } else {
      launch_linear(UnaryFn<T, T>{op, static_cast<T*>(y), static_cast<const T*>(x)}, n);
    }
  });
}

void binary(BinaryOp op, DType dtype, const void* a, const std::vector<int64_t>& a_strides,
            const void* b, const std::vector<int64_t>& b_strides, void* y,
            const std::vector<int64_t>& shape) {
  OpKind kind = OpKind::Numeric;
  for (const auto& e : kBinaryOps)
    if (e.op == op) kind = e.kind;
  if (!kind_accepts(kind, dtype)) throw std::invalid_argument("[binary] op/dtype mismatch");
  const std::vector<int64_t> y_strides = contiguous_strides(shape);
  const std::vector<int64_t>* const strides[3] = {&y_strides, &a_strides, &b_strides};
  by_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* ap = static_cast<const T*>(a);
    const T* bp = static_cast<const T*>(b);
    if (kind_result(kind, dtype) == DType::Bool) {
      launch_nd(BinaryFn<T, bool>{op, static_cast<bool*>(y), ap, bp}, shape, strides);
    } else if constexpr (!std::is_same_v<T, bool>) {
      launch_nd(BinaryFn<T, T>{op, static_cast<T*>(y), ap, bp}, shape, strides);
    }
  });
}

void where(DType dtype, const void* cond, const std::vector<int64_t>& c_strides, const void* a,
           const std::vector<int64_t>& a_strides, const void* b,
           const std::vector<int64_t>& b_strides, void* y, const std::vector<int64_t>& shape) {
  const std::vector<int64_t> y_strides = contiguous_strides(shape);
  const std::vector<int64_t>* const strides[4] = {&y_strides, &c_strides, &a_strides,
                                                  &b_strides};
  by_itemsize(dtype_size(dtype), [&](auto* tag) {
    using E = std::remove_pointer_t<decltype(tag)>;
    launch_nd(WhereFn<E>{static_cast<E*>(y), static_cast<const bool*>(cond),
                         static_cast<const E*>(a), static_cast<const E*>(b)},
              shape, strides);
  });
}

void cast(DType from, const void* x, DType to, void* y, int64_t n) {
  if (n <= 0) return;
  by_dtype(from, [&](auto* ftag) {
    using F = std::remove_pointer_t<decltype(ftag)>;
    by_dtype(to, [&](auto* ttag) {
      using T = std::remove_pointer_t<decltype(ttag)>;
      launch_linear(CastFn<F, T>{static_cast<T*>(y), static_cast<const F*>(x)}, n);
    });
  });
}

void strided_copy(size_t itemsize, void* dst, const std::vector<int64_t>& dst_strides,
                  const void* src, const std::vector<int64_t>& src_strides,
                  const std::vector<int64_t>& shape) {
  const std::vector<int64_t>* const strides[2] = {&dst_strides, &src_strides};
  by_itemsize(itemsize, [&](auto* tag) {
    using E = std::remove_pointer_t<decltype(tag)>;
    launch_nd(CopyFn<E>{static_cast<E*>(dst), static_cast<const E*>(src)}, shape, strides);
  });
}

void fill(DType dtype, void* y, int64_t n, double value) {
  if (n <= 0) return;
  by_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch_linear(FillFn<T>{static_cast<T*>(y), convert<T>(value)}, n);
  });
}

void arange(DType dtype, void* y, int64_t n, double start, double step) {
  if (n <= 0) return;
  by_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch_linear(ArangeFn<T>{static_cast<T*>(y), start, step}, n);
  });
}

}  // namespace nabi::cuda::nd
