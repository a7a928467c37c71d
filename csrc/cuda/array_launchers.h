// Host-side entry points of the N-d array primitives behind nabi's GPU tensors (DeviceArray):
// elementwise with NumPy broadcasting, strided copies, reductions, gathers/scatters, fills and
// random normals. Plain C++ declarations (no CUDA headers) so the g++-compiled binding
// (csrc/bindings/bind_cuda_array.cpp) can call them; implemented in csrc/cuda/
// elementwise_nd.cu, reduce_nd.cu, index.cu, sort.cu and random_nd.cu, only in builds with
// NABI_WITH_CUDA.
//
// Conventions (all functions below):
//   * pointers are device pointers into C-contiguous DeviceBuffers; outputs are fresh buffers
//     that do not overlap the inputs (strided_copy's destination excepted, see there);
//   * shapes are outer-to-inner (NumPy order), at most kMaxDims dims; strides are in ELEMENTS
//     (not bytes), may be 0 (broadcast) or negative (flips);
//   * every call validates nothing the binding has already validated (dtypes, ranks, bounds):
//     the binding checks first, with "[op] ..." Python errors; the functions here only throw
//     CudaError (a RuntimeError) on launch failure or std::invalid_argument on a dtype/op
//     combination that the binding should have rejected;
//   * n == 0 (an empty output) never launches anything;
//   * all work is enqueued on nabi::cuda::stream() and returns without synchronising, except
//     check_indices (it reads a flag back, so it waits for the GPU).
//
// The op sets are X-macro lists, one per kernel family: the enum, the Python-visible names, the
// dtype rules and the kernels' dispatch switches are all generated from them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

constexpr int kMaxDims = 8;

// Which dtypes an op accepts (checked in the binding) and what it returns.
enum class OpKind : int {
  Numeric,      // float32/float64/int32/int64 -> same dtype (bool: TypeError)
  Float,        // float32/float64 -> same dtype
  Bool,         // bool -> bool
  FloatToBool,  // float32/float64 -> bool
  Compare,      // any dtype (both operands the same) -> bool
};

// ---- unary(op, x) ---------------------------------------------------------------------------
// Formulas (T = x's dtype; float ops use CUDA's float/double math of the same precision):
//   neg, abs, sign, square: ints wrap as two's complement (abs(INT_MIN) == INT_MIN); float
//     sign: 1, -1, 0 for +-0, NaN for NaN (as np.sign).
//   rsqrt = 1/sqrt(x), reciprocal = 1/x, rint rounds half to even (np.rint),
//   sigmoid = x >= 0 ? 1/(1+e^-x) : e^x/(1+e^x), softplus = log1p(exp(-|x|)) + max(x, 0).
//   isnan/isinf/isfinite: float -> bool; logical_not: bool -> bool.
//   (lgamma, digamma, erf, erfc and the other special functions: csrc/cuda/special.cu.)
#define NABI_ND_UNARY_OPS(X)            \
  X(Neg, "neg", Numeric)                \
  X(Abs, "abs", Numeric)                \
  X(Sign, "sign", Numeric)              \
  X(Square, "square", Numeric)          \
  X(Exp, "exp", Float)                  \
  X(Expm1, "expm1", Float)              \
  X(Log, "log", Float)                  \
  X(Log1p, "log1p", Float)              \
  X(Sqrt, "sqrt", Float)                \
  X(Rsqrt, "rsqrt", Float)              \
  X(Reciprocal, "reciprocal", Float)    \
  X(Sin, "sin", Float)                  \
  X(Cos, "cos", Float)                  \
  X(Tan, "tan", Float)                  \
  X(Asin, "asin", Float)                \
  X(Acos, "acos", Float)                \
  X(Atan, "atan", Float)                \
  X(Sinh, "sinh", Float)                \
  X(Cosh, "cosh", Float)                \
  X(Tanh, "tanh", Float)                \
  X(Asinh, "asinh", Float)              \
  X(Acosh, "acosh", Float)              \
  X(Atanh, "atanh", Float)              \
  X(Floor, "floor", Float)              \
  X(Ceil, "ceil", Float)                \
  X(Rint, "rint", Float)                \
  X(Sigmoid, "sigmoid", Float)          \
  X(Softplus, "softplus", Float)        \
  X(LogicalNot, "logical_not", Bool)    \
  X(IsNan, "isnan", FloatToBool)        \
  X(IsInf, "isinf", FloatToBool)        \
  X(IsFinite, "isfinite", FloatToBool)

// ---- binary(op, a, b) -----------------------------------------------------------------------
// a and b have the same dtype; NumPy broadcasting. Ints wrap (add, sub, mul, pow).
//   div: true division (float only). floordiv / mod: np.floor_divide / np.mod; floats follow
//     NumPy's npy_divmod (mod = fmod(a, b), moved by b when its sign differs from b's; the
//     quotient (a - mod) / b snapped to an integer; b == 0 gives a / b and fmod's NaN); ints:
//     floor toward -inf, and x // 0 == 0, x % 0 == 0.
//   pow: float pow(); ints by squaring; a negative exponent gives 0 unless a is 1 or -1.
//   maximum/minimum: NaN-propagating (np.maximum); atan2 (float only).
//   eq ne lt le gt ge: any dtype -> bool.  logical_and/or/xor: bool -> bool.
#define NABI_ND_BINARY_OPS(X)              \
  X(Add, "add", Numeric)                   \
  X(Sub, "sub", Numeric)                   \
  X(Mul, "mul", Numeric)                   \
  X(Div, "div", Float)                     \
  X(FloorDiv, "floordiv", Numeric)         \
  X(Mod, "mod", Numeric)                   \
  X(Pow, "pow", Numeric)                   \
  X(Maximum, "maximum", Numeric)           \
  X(Minimum, "minimum", Numeric)           \
  X(Atan2, "atan2", Float)                 \
  X(Eq, "eq", Compare)                     \
  X(Ne, "ne", Compare)                     \
  X(Lt, "lt", Compare)                     \
  X(Le, "le", Compare)                     \
  X(Gt, "gt", Compare)                     \
  X(Ge, "ge", Compare)                     \
  X(LogicalAnd, "logical_and", Bool)       \
  X(LogicalOr, "logical_or", Bool)         \
  X(LogicalXor, "logical_xor", Bool)

// ---- reduce(op, x, axes) --------------------------------------------------------------------
// sum/prod accumulate floats in float64 and ints in int64 (wrapping), returning x's dtype;
// mean accumulates in float64 and returns x's dtype for floats, float64 for ints; max/min
// propagate NaN; any/all: bool -> bool. An empty reduced extent gives 0, 1, NaN, False, True
// (max/min of an empty axis: the binding raises).
#define NABI_ND_REDUCE_OPS(X) \
  X(Sum, "sum", Numeric)      \
  X(Mean, "mean", Numeric)    \
  X(Prod, "prod", Numeric)    \
  X(Max, "max", Numeric)      \
  X(Min, "min", Numeric)      \
  X(Any, "any", Bool)         \
  X(All, "all", Bool)

#define NABI_ND_ENUM_ENTRY(id, name, kind) id,
enum class UnaryOp : int { NABI_ND_UNARY_OPS(NABI_ND_ENUM_ENTRY) };
enum class BinaryOp : int { NABI_ND_BINARY_OPS(NABI_ND_ENUM_ENTRY) };
enum class ReduceOp : int { NABI_ND_REDUCE_OPS(NABI_ND_ENUM_ENTRY) };
#undef NABI_ND_ENUM_ENTRY

template <typename Op>
struct OpInfo {
  const char* name;
  Op op;
  OpKind kind;
};

#define NABI_ND_INFO_ENTRY_U(id, name, kind) {name, UnaryOp::id, OpKind::kind},
#define NABI_ND_INFO_ENTRY_B(id, name, kind) {name, BinaryOp::id, OpKind::kind},
#define NABI_ND_INFO_ENTRY_R(id, name, kind) {name, ReduceOp::id, OpKind::kind},
inline constexpr OpInfo<UnaryOp> kUnaryOps[] = {NABI_ND_UNARY_OPS(NABI_ND_INFO_ENTRY_U)};
inline constexpr OpInfo<BinaryOp> kBinaryOps[] = {NABI_ND_BINARY_OPS(NABI_ND_INFO_ENTRY_B)};
inline constexpr OpInfo<ReduceOp> kReduceOps[] = {NABI_ND_REDUCE_OPS(NABI_ND_INFO_ENTRY_R)};
#undef NABI_ND_INFO_ENTRY_U
#undef NABI_ND_INFO_ENTRY_B
#undef NABI_ND_INFO_ENTRY_R

// The table entry named `name`, or nullptr.
template <typename Op, size_t N>
inline const OpInfo<Op>* find_op(const OpInfo<Op> (&table)[N], const char* name) {
  for (const OpInfo<Op>& e : table)
    if (std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

inline bool is_float_dtype(DType d) { return d == DType::Float32 || d == DType::Float64; }

// Whether an op of this kind accepts dtype d, and the dtype it returns.
inline bool kind_accepts(OpKind k, DType d) {
  switch (k) {
    case OpKind::Numeric: return d != DType::Bool && !is_complex_dtype(d);
    case OpKind::Float: return is_float_dtype(d);
    case OpKind::Bool: return d == DType::Bool;
    case OpKind::FloatToBool: return is_float_dtype(d);
    case OpKind::Compare: return !is_complex_dtype(d);  // complex ops: complex.cu
  }
  return false;
}
inline DType kind_result(OpKind k, DType d) {
  return (k == OpKind::FloatToBool || k == OpKind::Compare || k == OpKind::Bool) ? DType::Bool
                                                                                : d;
}
// reduce's output dtype (mean of ints is float64).
inline DType reduce_result(ReduceOp op, DType d) {
  if (op == ReduceOp::Mean && !is_float_dtype(d)) return DType::Float64;
  return d;
}

// ---- elementwise_nd.cu ----------------------------------------------------------------------
// y[i] = op(x[i]) over n contiguous elements; x_dtype as given, y's dtype from kind_result.
void unary(UnaryOp op, DType x_dtype, const void* x, void* y, int64_t n);

// y = op(a, b), y contiguous with `shape`; a_strides/b_strides map y's index to a's and b's
// elements (0 on broadcast dims; one per dim of shape). a and b both have dtype `dtype`.
void binary(BinaryOp op, DType dtype, const void* a, const std::vector<int64_t>& a_strides,
            const void* b, const std::vector<int64_t>& b_strides, void* y,
            const std::vector<int64_t>& shape);

// y = cond ? a : b (cond bool; a, b, y of dtype), strides as in binary.
void where(DType dtype, const void* cond, const std::vector<int64_t>& c_strides, const void* a,
           const std::vector<int64_t>& a_strides, const void* b,
           const std::vector<int64_t>& b_strides, void* y, const std::vector<int64_t>& shape);

// y[i] = static_cast<to>(x[i]) as ndarray.astype (float->int truncates toward zero,
// anything->bool is x != 0, bool->number 0/1).
void cast(DType from, const void* x, DType to, void* y, int64_t n);

// For every index (i_0, ..., i_k) of shape: dst[sum i_j*dst_strides[j]] =
// src[sum i_j*src_strides[j]] (elements of `itemsize` bytes; dst and src already point at the
// element of index 0). Serves strided_copy (dst contiguous) and strided_assign (src
// broadcast). Destination elements must be distinct (checked by the binding).
void strided_copy(size_t itemsize, void* dst, const std::vector<int64_t>& dst_strides,
                  const void* src, const std::vector<int64_t>& src_strides,
                  const std::vector<int64_t>& shape);

// y[i] = value (bool: value != 0) and y[i] = start + i*step (in float64, then cast).
void fill(DType dtype, void* y, int64_t n, double value);
void arange(DType dtype, void* y, int64_t n, double start, double step);

// ---- reduce_nd.cu ---------------------------------------------------------------------------
// y (x's shape without `axes`, contiguous, dtype reduce_result(op, x_dtype)) = op over axes.
// axes: distinct, in [0, shape.size()), any order (empty: every output reduces one element).
void reduce(ReduceOp op, DType x_dtype, const void* x, const std::vector<int64_t>& shape,
            const std::vector<int>& axes, void* y);

// x viewed as (outer, n, inner) with n >= 1; y[o, i] (int64) = argmax/argmin over the middle
// axis: first occurrence on ties, the first NaN wins (as NumPy).
void arg_reduce(bool is_max, DType x_dtype, const void* x, int64_t outer, int64_t n,
                int64_t inner, int64_t* y);

// total[0] (a float64 device scalar) += the number of rows r of pred [rows, n] (float) whose
// argmax (as arg_reduce's) equals the label: sparse, labels[r] (any dtype, compared as
// double, as NumPy compares an int index with a float label); else the argmax of the one-hot
// row labels[r, :] (pred's dtype). One launch, no synchronisation: the accuracy metrics.
void argmax_match_count(DType pred_dtype, const void* pred, DType label_dtype,
                        const void* labels, int64_t rows, int64_t n, bool sparse,
                        double* total);

// ---- index.cu -------------------------------------------------------------------------------
// Checks m indices (int32 or int64) against [-n, n); returns false and sets *bad to one
// offending value when some index is outside. Synchronises (reads a flag back).
bool check_indices(DType idx_dtype, const void* idx, int64_t m, int64_t n, int64_t* bad);

// x viewed as (outer, n, inner), y as (outer, m, inner): y[o, j, i] = x[o, idx[j], i], with
// negative indices counting from the end (all indices already checked).
void take(size_t itemsize, const void* x, int64_t outer, int64_t n, int64_t inner,
          DType idx_dtype, const void* idx, int64_t m, void* y);

// updates viewed as (outer, m, inner), y as (outer, size, inner), y zero-filled here, then
// y[o, idx[j], i] += updates[o, j, i] (atomicAdd; float32/float64; indices checked).
void scatter_add(DType dtype, const void* updates, int64_t outer, int64_t m, int64_t inner,
                 DType idx_dtype, const void* idx, int64_t size, void* y);

// y[j, c] (shape (m, depth), dtype out) = idx[j] == c ? on : off; indices outside [0, depth)
// give an all-off row.
void one_hot(DType idx_dtype, const void* idx, int64_t m, int64_t depth, double on, double off,
             DType out, void* y);

// ---- sort.cu -------------------------------------------------------------------------------
// x (dtype float32/float64/int32/int64) viewed as (rows, n), 0 <= k <= n <= INT32_MAX:
// values (x's dtype) and indices (idx_dtype int32 or int64), both (rows, k), get the first k
// entries of each row sorted ascending (descending when `descending`) and their column
// indices. Ties keep ascending index order in both directions (stable; descending is
// top_k's order), -0.0 equals +0.0, NaN is larger than every number (last ascending, first
// descending). Bitonic sort of (key, index) pairs; rows longer than 2048 use a scratch buffer.
void sort_rows(DType dtype, const void* x, int64_t rows, int64_t n, bool descending, int64_t k,
               void* values, DType idx_dtype, void* indices);

// ---- random_nd.cu ---------------------------------------------------------------------------
// Standard normals from the Philox 4x32-10 stream of random_uniform (dropout.cu): element i
// uses counter (q low, q high, offset low, offset high) with q = i / 4 and key (seed low, seed
// high); the block's words (w0, w1) give elements 4q and 4q+1, (w2, w3) elements 4q+2 and 4q+3,
// by Box-Muller in float64 with random_uniform's 24-bit resolution: u1 = ((w_even >> 8) + 1) *
// 2^-24 in (0, 1], u2 = (w_odd >> 8) * 2^-24 in [0, 1), r = sqrt(-2 ln u1), theta = 2 pi u2;
// the even element is r cos(theta), the odd one r sin(theta), rounded to dtype (float32 or
// float64).
void random_normal(DType dtype, void* y, int64_t n, uint64_t seed, uint64_t offset);

}  // namespace nabi::cuda::nd
