// nabi._C.cuda_backend: the N-d array primitives behind nabi's GPU tensors (DeviceArray), on
// DeviceBuffers (C-contiguous, float32/float64/int32/int64/bool, at most 8 dims; 0-d and empty
// buffers work). Every result is a new contiguous DeviceBuffer (strided_assign: in place).
//
//   unary(op, x)                      neg abs sign square | exp expm1 log log1p sqrt rsqrt
//                                     reciprocal sin cos tan asin acos atan sinh cosh tanh
//                                     asinh acosh atanh floor ceil rint sigmoid softplus
//                                     (float) | logical_not (bool) | isnan isinf isfinite
//                                     (float -> bool); the special functions (lgamma, erf...):
//                                     cuda_backend.special (bind_cuda_special.cpp)
//   binary(op, a, b)                  NumPy broadcasting, same dtypes: add sub mul div floordiv
//                                     mod pow maximum minimum atan2 | eq ne lt le gt ge (->
//                                     bool) | logical_and logical_or logical_xor (bool)
//   where(cond, a, b)                 cond bool; the three broadcast together
//   cast(x, dtype)                    as ndarray.astype
//   strided_copy(x, shape, strides, offset)          y[i...] = x_flat[offset + sum i_j s_j]
//   strided_assign(dst, shape, strides, offset, src) dst_flat[offset + sum i_j s_j] = src[i...]
//                                                    (src broadcast to shape), returns None
//   reduce(op, x, axes)               sum mean prod max min (numeric) | any all (bool)
//   arg_reduce(op, x, axis)           argmax / argmin -> int64
//   take(x, indices, axis, checked=False)  np.take; IndexError on a bad index (synchronises,
//                                     unless checked: the caller bounded the indices already)
//   scatter_add(updates, indices, axis, size, checked=False)  the gradient of take (float)
//   one_hot(indices, depth, on_value=1.0, off_value=0.0, dtype="float32")
//   fill(shape, value, dtype="float32"), arange(start, step, n, dtype="float32")
//   random_normal(shape, seed, offset=0, dtype="float32")  Philox 4x32-10 + Box-Muller
//   argmax_match_count(y_pred, y_true, sparse, total)  total += #rows where argmax matches
//   sort(x, descending=False, k=-1, index_dtype="int64")  (values, indices) of the last axis,
//                                     the first k (-1: all) of each sorted row; stable
//
// The semantics are spelled out in csrc/cuda/array_launchers.h. Every argument is validated
// here, before anything is enqueued, with "[op] ..." errors naming the shapes (TypeError for
// dtypes, ValueError for shapes/ops/ranges, IndexError for take/scatter_add indices); the GIL
// is released around the launches. Builds without CUDA define the same names, raising
// RuntimeError("[name] has no CUDA implementation in this build (built without CUDA)").
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/array_launchers.h"
#include "cuda/complex_launchers.h"
#include "bindings/nd_shapes.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

// Every kernel entry point of this file; the same list in both builds (tests check it).
const char* const kArrayEntries[] = {
    "unary", "binary",   "where",       "cast",    "strided_copy", "strided_assign",
    "reduce", "arg_reduce", "take",     "scatter_add", "one_hot",  "fill",
    "arange", "random_normal", "argmax_match_count", "sort",
};

#if defined(NABI_WITH_CUDA)
// ============================ CUDA build ====================================================
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;
using Shape = std::vector<int64_t>;

// ---- shape helpers (check_rank, contiguous_strides, broadcast_shapes, broadcast_strides:
// bindings/nd_shapes.h) ----
// Shapes given by the caller: rank, no negative extent, an element count that fits int64.
int64_t check_shape(const char* op, const Shape& s, const std::string& what) {
  check_rank(op, s, what);
  __int128 n = 1;
  for (int64_t d : s) {
    if (d < 0) value_error(op, what + " " + shape_str(s) + " has a negative dimension");
    n *= d;
    if (n > (static_cast<__int128>(1) << 62))
      value_error(op, what + " " + shape_str(s) + " has too many elements");
  }
  return static_cast<int64_t>(n);
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Whether `in` broadcasts to exactly `out` (NumPy rules, one direction).
bool broadcasts_to(const Shape& in, const Shape& out) {
  if (in.size() > out.size()) return false;
  const size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d)
    if (in[d] != 1 && in[d] != out[lead + d]) return false;
  return true;
}

std::string i128_str(__int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  std::string s;
  while (v != 0) {
    int digit = static_cast<int>(v % 10);
    if (digit < 0) digit = -digit;
    s.insert(s.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  return neg ? "-" + s : s;
}

// A strided view (element strides, element offset) of a buffer of `size` elements: shape and
// strides agree, and every element it reaches is inside [0, size).
void check_view(const char* op, const Shape& shape, const Shape& strides, int64_t offset,
                int64_t size) {
  if (shape.size() != strides.size())
    value_error(op, "shape " + shape_str(shape) + " and strides " + shape_str(strides) +
                        " have different lengths");
  const int64_t n = check_shape(op, shape, "shape");
  if (n == 0) return;  // reaches nothing
  __int128 lo = offset, hi = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    const __int128 ext = static_cast<__int128>(shape[d] - 1) * strides[d];
    if (ext < 0)
      lo += ext;
    else
      hi += ext;
  }
  if (lo < 0 || hi >= size)
    value_error(op, "the view (shape " + shape_str(shape) + ", strides " + shape_str(strides) +
                        ", offset " + std::to_string(offset) + ") reaches element " +
                        i128_str(lo < 0 ? lo : hi) + " of a buffer of " + std::to_string(size));
}

const char* kind_dtypes(nd::OpKind k) {
  switch (k) {
    case nd::OpKind::Numeric: return "float32, float64, int32 or int64";
    case nd::OpKind::Float: return "float32 or float64";
    case nd::OpKind::Bool: return "bool";
    case nd::OpKind::FloatToBool: return "float32 or float64";
    case nd::OpKind::Compare: return "any dtype";
  }
  return "?";
}

template <typename Op, size_t N>
std::string op_names(const nd::OpInfo<Op> (&table)[N]) {
  std::string s;
  for (const auto& e : table) {
    if (!s.empty()) s += ", ";
    s += e.name;
  }
  return s;
}

template <typename Op, size_t N>
const nd::OpInfo<Op>& parse_op(const char* op, const nd::OpInfo<Op> (&table)[N],
                               const std::string& name) {
  const nd::OpInfo<Op>* e = nd::find_op(table, name.c_str());
  if (!e) value_error(op, "unknown op '" + name + "' (one of " + op_names(table) + ")");
  return *e;
}

void need_index_dtype(const char* op, const DeviceBuffer& b, const char* name) {
  if (b.dtype() != DType::Int32 && b.dtype() != DType::Int64)
    type_error(op, std::string(name) + " must be int32 or int64, got " +
                       cuda::dtype_str(b.dtype()));
}

// axis in [-ndim, ndim) -> [0, ndim)
int normalize_axis(const char* op, int64_t axis, int ndim, const std::string& what) {
  if (axis < -ndim || axis >= ndim)
    value_error(op, "axis " + std::to_string(axis) + " is out of range for " + what);
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

// ---- elementwise ----
Buf unary(const std::string& name, const Buf& xb) {
  const char* op = "unary";
  const auto& info = parse_op(op, nd::kUnaryOps, name);
  const DeviceBuffer& x = need(op, xb, "x");
  check_rank(op, x.shape(), "x");
  if (!nd::kind_accepts(info.kind, x.dtype()))
    type_error(op, "'" + name + "' needs x of " + kind_dtypes(info.kind) + ", got " +
                       cuda::dtype_str(x.dtype()) + " of shape " + shape_str(x.shape()));
  Buf y = make_buffer(x.shape(), nd::kind_result(info.kind, x.dtype()));
  {
    py::gil_scoped_release nogil;
    nd::unary(info.op, x.dtype(), x.data(), y->data(), x.numel());
  }
  return y;
}

Buf binary(const std::string& name, const Buf& ab, const Buf& bb) {
  const char* op = "binary";
  const auto& info = parse_op(op, nd::kBinaryOps, name);
  const DeviceBuffer& a = need(op, ab, "a");
  const DeviceBuffer& b = need(op, bb, "b");
  check_rank(op, a.shape(), "a");
  check_rank(op, b.shape(), "b");
  same_dtype(op, a, "a", b, "b");
  if (!nd::kind_accepts(info.kind, a.dtype()))
    type_error(op, "'" + name + "' needs operands of " + kind_dtypes(info.kind) + ", got " +
                       cuda::dtype_str(a.dtype()));
  Shape out;
  if (!broadcast_shapes({&a.shape(), &b.shape()}, &out))
    value_error(op, "shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                        " are not broadcastable");
  Buf y = make_buffer(out, nd::kind_result(info.kind, a.dtype()));
  const Shape as = broadcast_strides(a.shape(), out), bs = broadcast_strides(b.shape(), out);
  {
    py::gil_scoped_release nogil;
    nd::binary(info.op, a.dtype(), a.data(), as, b.data(), bs, y->data(), out);
  }
  return y;
}

Buf where(const Buf& cb, const Buf& ab, const Buf& bb) {
  const char* op = "where";
  const DeviceBuffer& c = need(op, cb, "cond");
  const DeviceBuffer& a = need(op, ab, "a");
  const DeviceBuffer& b = need(op, bb, "b");
  if (c.dtype() != DType::Bool)
    type_error(op, std::string("cond must be bool, got ") + cuda::dtype_str(c.dtype()));
  same_dtype(op, a, "a", b, "b");
  check_rank(op, c.shape(), "cond");
  check_rank(op, a.shape(), "a");
  check_rank(op, b.shape(), "b");
  Shape out;
  if (!broadcast_shapes({&c.shape(), &a.shape(), &b.shape()}, &out))
    value_error(op, "shapes " + shape_str(c.shape()) + ", " + shape_str(a.shape()) + " and " +
                        shape_str(b.shape()) + " are not broadcastable");
  Buf y = make_buffer(out, a.dtype());
  const Shape cs = broadcast_strides(c.shape(), out), as = broadcast_strides(a.shape(), out),
              bs = broadcast_strides(b.shape(), out);
  {
    py::gil_scoped_release nogil;
    nd::where(a.dtype(), c.data(), cs, a.data(), as, b.data(), bs, y->data(), out);
  }
  return y;
}

Buf cast(const Buf& xb, const std::string& dtype) {
  const char* op = "cast";
  const DeviceBuffer& x = need(op, xb, "x");
  const DType to = dtype_from_name(op, dtype);
  check_rank(op, x.shape(), "x");
  Buf y = make_buffer(x.shape(), to);
  const bool cx_from = cuda::is_complex_dtype(x.dtype()), cx_to = cuda::is_complex_dtype(to);
  // complex -> int/bool: the real part in the part dtype first (complex_launchers.h)
  Buf part;
  if (cx_from && !cx_to && !is_float(to)) part = make_buffer(x.shape(), nd::complex_part_dtype(x.dtype()));
  {
    py::gil_scoped_release nogil;
    if (part) {
      nd::complex_cast(x.dtype(), x.data(), part->dtype(), part->data(), x.numel());
      nd::cast(part->dtype(), part->data(), to, y->data(), x.numel());
    } else if (cx_from || cx_to) {
      nd::complex_cast(x.dtype(), x.data(), to, y->data(), x.numel());
    } else {
      nd::cast(x.dtype(), x.data(), to, y->data(), x.numel());
    }
  }
  return y;
}

// ---- strided views ----
Buf strided_copy(const Buf& xb, const Shape& shape, const Shape& strides, int64_t offset) {
  const char* op = "strided_copy";
  const DeviceBuffer& x = need(op, xb, "x");
  check_view(op, shape, strides, offset, x.numel());
  Buf y = make_buffer(op, shape, x.dtype());
  if (y->numel() == 0) return y;
  const size_t item = cuda::dtype_size(x.dtype());
  const void* src = static_cast<const char*>(x.data()) + static_cast<size_t>(offset) * item;
  const Shape ys = contiguous_strides(shape);
  {
    py::gil_scoped_release nogil;
    nd::strided_copy(item, y->data(), ys, src, strides, shape);
  }
  return y;
}

void strided_assign(const Buf& db, const Shape& shape, const Shape& strides, int64_t offset,
                    const Buf& sb) {
  const char* op = "strided_assign";
  const DeviceBuffer& dst = need(op, db, "dst");
  const DeviceBuffer& src = need(op, sb, "src");
  same_dtype(op, dst, "dst", src, "src");
  check_view(op, shape, strides, offset, dst.numel());
  check_rank(op, src.shape(), "src");
  if (!broadcasts_to(src.shape(), shape))
    value_error(op, "src of shape " + shape_str(src.shape()) + " cannot be broadcast to " +
                        shape_str(shape));
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1 && strides[d] == 0)
      value_error(op, "the view (shape " + shape_str(shape) + ", strides " + shape_str(strides) +
                          ") writes some elements more than once (stride 0 on axis " +
                          std::to_string(d) + " of length " + std::to_string(shape[d]) + ")");
  if (numel(shape) == 0) return;
  const size_t item = cuda::dtype_size(dst.dtype());
  void* dp = static_cast<char*>(dst.data()) + static_cast<size_t>(offset) * item;
  const Shape ss = broadcast_strides(src.shape(), shape);
  // src may be a view of dst's storage (x[1:] = x[:-1]): read it from a copy.
  Buf tmp;
  const void* sp = src.data();
  if (src.storage() == dst.storage()) {
    tmp = make_buffer(src.shape(), src.dtype());
    sp = tmp->data();
  }
  {
    py::gil_scoped_release nogil;
    if (tmp) cuda::copy_d2d(tmp->data(), src.data(), src.nbytes());
    nd::strided_copy(item, dp, strides, sp, ss, shape);
  }
}

// ---- reductions ----
Buf reduce(const std::string& name, const Buf& xb, const Shape& axes) {
  const char* op = "reduce";
  const auto& info = parse_op(op, nd::kReduceOps, name);
  const DeviceBuffer& x = need(op, xb, "x");
  check_rank(op, x.shape(), "x");
  if (!nd::kind_accepts(info.kind, x.dtype()))
    type_error(op, "'" + name + "' needs x of " + kind_dtypes(info.kind) + ", got " +
                       cuda::dtype_str(x.dtype()));
  const int ndim = x.ndim();
  std::vector<int> ax;
  std::vector<bool> seen(ndim, false);
  int64_t R = 1;
  for (int64_t a : axes) {
    const int d = normalize_axis(op, a, ndim, "x of shape " + shape_str(x.shape()));
    if (seen[d])
      value_error(op, "repeated axis " + std::to_string(a) + " in axes " + shape_str(axes));
    seen[d] = true;
    ax.push_back(d);
    R *= x.shape()[d];
  }
  if (R == 0 && (info.op == nd::ReduceOp::Max || info.op == nd::ReduceOp::Min))
    value_error(op, std::string(info.name) + " of an empty axis (x of shape " +
                        shape_str(x.shape()) + ", axes " + shape_str(axes) + ")");
  Shape out;
  for (int d = 0; d < ndim; ++d)
    if (!seen[d]) out.push_back(x.shape()[d]);
  Buf y = make_buffer(out, nd::reduce_result(info.op, x.dtype()));
  {
    py::gil_scoped_release nogil;
    nd::reduce(info.op, x.dtype(), x.data(), x.shape(), ax, y->data());
  }
  return y;
}

Buf arg_reduce(const std::string& name, const Buf& xb, int64_t axis) {
  const char* op = "arg_reduce";
  if (name != "argmax" && name != "argmin")
    value_error(op, "unknown op '" + name + "' (one of argmax, argmin)");
  const DeviceBuffer& x = need(op, xb, "x");
  check_rank(op, x.shape(), "x");
  if (x.ndim() < 1) value_error(op, "x must have rank >= 1, got shape ()");
  if (cuda::is_complex_dtype(x.dtype()))
    type_error(op, name + " of a " + cuda::dtype_str(x.dtype()) + " x of shape " +
                       shape_str(x.shape()) + " (complex numbers are not ordered)");
  const int d = normalize_axis(op, axis, x.ndim(), "x of shape " + shape_str(x.shape()));
  const int64_t n = x.shape()[d];
  if (n == 0)
    value_error(op, name + " of an empty axis (x of shape " + shape_str(x.shape()) + ", axis " +
                        std::to_string(axis) + ")");
  int64_t outer = 1, inner = 1;
  Shape out;
  for (int k = 0; k < x.ndim(); ++k) {
    if (k < d) outer *= x.shape()[k];
    if (k > d) inner *= x.shape()[k];
    if (k != d) out.push_back(x.shape()[k]);
  }
  Buf y = make_buffer(out, DType::Int64);
  {
    py::gil_scoped_release nogil;
    nd::arg_reduce(name == "argmax", x.dtype(), x.data(), outer, n, inner, y->ptr<int64_t>());
  }
  return y;
}

// ---- gathers / scatters ----
void check_index_values(const char* op, const DeviceBuffer& idx, int64_t n, int axis) {
  bool ok = true;
  int64_t bad = 0;
  {
    py::gil_scoped_release nogil;
    ok = nd::check_indices(idx.dtype(), idx.data(), idx.numel(), n, &bad);
  }
  if (!ok)
    throw py::index_error("[" + std::string(op) + "] index " + std::to_string(bad) +
                          " is out of range for axis " + std::to_string(axis) + " of size " +
                          std::to_string(n));
}

// checked=true: the caller has already bounded the indices to [0, n) (a value range known on
// the host, or its own one-read check), so the flag read of check_index_values -- a wait for
// the GPU -- is skipped.
Buf take(const Buf& xb, const Buf& ib, int64_t axis, bool checked) {
  const char* op = "take";
  const DeviceBuffer& x = need(op, xb, "x");
  const DeviceBuffer& idx = need(op, ib, "indices");
  need_index_dtype(op, idx, "indices");
  check_rank(op, x.shape(), "x");
  check_rank(op, idx.shape(), "indices");
  if (x.ndim() < 1) value_error(op, "x must have rank >= 1, got shape ()");
  const int d = normalize_axis(op, axis, x.ndim(), "x of shape " + shape_str(x.shape()));
  Shape out(x.shape().begin(), x.shape().begin() + d);
  out.insert(out.end(), idx.shape().begin(), idx.shape().end());
  out.insert(out.end(), x.shape().begin() + d + 1, x.shape().end());
  check_rank(op, out, "the result of x " + shape_str(x.shape()) + " and indices " +
                          shape_str(idx.shape()));
  const int64_t n = x.shape()[d];
  if (!checked) check_index_values(op, idx, n, d);
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < d; ++k) outer *= x.shape()[k];
  for (int k = d + 1; k < x.ndim(); ++k) inner *= x.shape()[k];
  Buf y = make_buffer(out, x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::take(cuda::dtype_size(x.dtype()), x.data(), outer, n, inner, idx.dtype(), idx.data(),
             idx.numel(), y->data());
  }
  return y;
}

Buf scatter_add(const Buf& ub, const Buf& ib, int64_t axis, int64_t size, bool checked) {
  const char* op = "scatter_add";
  const DeviceBuffer& u = need_float(op, ub, "updates");
  const DeviceBuffer& idx = need(op, ib, "indices");
  need_index_dtype(op, idx, "indices");
  check_rank(op, u.shape(), "updates");
  check_rank(op, idx.shape(), "indices");
  const int k = idx.ndim();
  if (u.ndim() < k)
    value_error(op, "updates of shape " + shape_str(u.shape()) +
                        " has fewer dimensions than indices of shape " + shape_str(idx.shape()));
  const int yn = u.ndim() - k + 1;
  const int d = normalize_axis(op, axis, yn,
                               "a result of rank " + std::to_string(yn) + " (updates " +
                                   shape_str(u.shape()) + ", indices " + shape_str(idx.shape()) +
                                   ")");
  if (!std::equal(idx.shape().begin(), idx.shape().end(), u.shape().begin() + d))
    value_error(op, "updates of shape " + shape_str(u.shape()) + " must have the indices' shape " +
                        shape_str(idx.shape()) + " at axes " + std::to_string(d) + ".." +
                        std::to_string(d + k - 1));
  if (size < 0) value_error(op, "size must be >= 0, got " + std::to_string(size));
  Shape out(u.shape().begin(), u.shape().begin() + d);
  out.push_back(size);
  out.insert(out.end(), u.shape().begin() + d + k, u.shape().end());
  check_rank(op, out, "the result");
  if (!checked) check_index_values(op, idx, size, d);  // (checked: as take's)
  int64_t outer = 1, inner = 1;
  for (int j = 0; j < d; ++j) outer *= u.shape()[j];
  for (int j = d + k; j < u.ndim(); ++j) inner *= u.shape()[j];
  Buf y = make_buffer(op, out, u.dtype());
  {
    py::gil_scoped_release nogil;
    nd::scatter_add(u.dtype(), u.data(), outer, idx.numel(), inner, idx.dtype(), idx.data(),
                    size, y->data());
  }
  return y;
}

Buf one_hot(const Buf& ib, int64_t depth, double on, double off, const std::string& dtype) {
  const char* op = "one_hot";
  const DeviceBuffer& idx = need(op, ib, "indices");
  need_index_dtype(op, idx, "indices");
  const DType d = dtype_from_name(op, dtype);
  if (cuda::is_complex_dtype(d)) type_error(op, "dtype must be real, got " + dtype);
  if (depth < 0) value_error(op, "depth must be >= 0, got " + std::to_string(depth));
  Shape out = idx.shape();
  out.push_back(depth);
  check_rank(op, out, "the result (indices " + shape_str(idx.shape()) + " + depth)");
  Buf y = make_buffer(op, out, d);
  {
    py::gil_scoped_release nogil;
    nd::one_hot(idx.dtype(), idx.data(), idx.numel(), depth, on, off, d, y->data());
  }
  return y;
}

// ---- sort ----
std::pair<Buf, Buf> sort(const Buf& xb, bool descending, int64_t k,
                         const std::string& index_dtype) {
  const char* op = "sort";
  const DeviceBuffer& x = need(op, xb, "x");
  check_rank(op, x.shape(), "x");
  if (x.dtype() == DType::Bool || cuda::is_complex_dtype(x.dtype()))
    type_error(op, std::string("x must be float32, float64, int32 or int64, got ") +
                       cuda::dtype_str(x.dtype()) + " of shape " + shape_str(x.shape()));
  if (x.ndim() < 1) value_error(op, "x must have rank >= 1, got shape ()");
  const DType idt = dtype_from_name(op, index_dtype);
  if (idt != DType::Int32 && idt != DType::Int64)
    type_error(op, "index_dtype must be int32 or int64, got " + index_dtype);
  const int64_t n = x.shape().back();
  if (n > std::numeric_limits<int32_t>::max())
    value_error(op, "the last axis of x " + shape_str(x.shape()) + " is longer than 2^31 - 1");
  if (k == -1) k = n;
  if (k < 0 || k > n)
    value_error(op, "k=" + std::to_string(k) + " must be in [0, " + std::to_string(n) +
                        "] (the last axis of x of shape " + shape_str(x.shape()) + ") or -1");
  Shape out(x.shape().begin(), x.shape().end() - 1);
  const int64_t rows = numel(out);
  out.push_back(k);
  Buf values = make_buffer(out, x.dtype());
  Buf indices = make_buffer(out, idt);
  {
    py::gil_scoped_release nogil;
    nd::sort_rows(x.dtype(), x.data(), rows, n, descending, k, values->data(), idt,
                  indices->data());
  }
  return {values, indices};
}

// ---- fills ----
Buf fill(const Shape& shape, double value, const std::string& dtype) {
  const char* op = "fill";
  const DType d = dtype_from_name(op, dtype);
  check_shape(op, shape, "shape");
  Buf y = make_buffer(op, shape, d);
  // complex: (value, 0), the real part filled and cast
  Buf part = cuda::is_complex_dtype(d) ? make_buffer(shape, nd::complex_part_dtype(d)) : nullptr;
  {
    py::gil_scoped_release nogil;
    if (part) {
      nd::fill(part->dtype(), part->data(), y->numel(), value);
      nd::complex_cast(part->dtype(), part->data(), d, y->data(), y->numel());
    } else {
      nd::fill(d, y->data(), y->numel(), value);
    }
  }
  return y;
}

Buf arange(double start, double step, int64_t n, const std::string& dtype) {
  const char* op = "arange";
  const DType d = dtype_from_name(op, dtype);
  if (cuda::is_complex_dtype(d)) type_error(op, "dtype must be real, got " + dtype);
  if (n < 0) value_error(op, "n must be >= 0, got " + std::to_string(n));
  Buf y = make_buffer(op, {n}, d);
  {
    py::gil_scoped_release nogil;
    nd::arange(d, y->data(), n, start, step);
  }
  return y;
}

Buf random_normal(const Shape& shape, uint64_t seed, uint64_t offset, const std::string& dtype) {
  const char* op = "random_normal";
  const DType d = dtype_from_name(op, dtype);
  if (!is_float(d)) type_error(op, "dtype must be float32 or float64, got " + dtype);
  check_shape(op, shape, "shape");
  Buf y = make_buffer(op, shape, d);
  {
    py::gil_scoped_release nogil;
    nd::random_normal(d, y->data(), y->numel(), seed, offset);
  }
  return y;
}

// ---- metrics ----
void argmax_match_count(const Buf& pb, const Buf& lb, bool sparse, const Buf& tb) {
  const char* op = "argmax_match_count";
  const DeviceBuffer& p = need(op, pb, "y_pred");
  const DeviceBuffer& l = need(op, lb, "y_true");
  const DeviceBuffer& t = need(op, tb, "total");
  if (!is_float(p.dtype()))
    type_error(op, std::string("y_pred must be float32 or float64, got ") + dtype_str(p.dtype()));
  if (t.dtype() != DType::Float64 || t.numel() != 1)
    value_error(op, std::string("total must be one float64 element, got ") +
                        dtype_str(t.dtype()) + " of shape " + shape_str(t.shape()));
  if (p.ndim() < 1 || p.shape().back() == 0)
    value_error(op, "y_pred must have a non-empty last (class) axis, got shape " +
                        shape_str(p.shape()));
  const int64_t n = p.shape().back(), rows = p.numel() / n;
  if (sparse) {
    if (l.numel() != rows)
      value_error(op, "sparse labels of shape " + shape_str(l.shape()) + " do not give one per "
                      "row of y_pred of shape " + shape_str(p.shape()));
  } else {
    if (l.shape() != p.shape())
      value_error(op, "y_true of shape " + shape_str(l.shape()) + " does not match y_pred of "
                      "shape " + shape_str(p.shape()));
    if (l.dtype() != p.dtype())
      type_error(op, std::string("one-hot y_true must have y_pred's dtype ") +
                         dtype_str(p.dtype()) + ", got " + dtype_str(l.dtype()));
  }
  py::gil_scoped_release nogil;
  nd::argmax_match_count(p.dtype(), p.data(), l.dtype(), l.data(), rows, n, sparse,
                         static_cast<double*>(t.data()));
}

void bind_impl(py::module_& cm) {
  cm.def("unary", &unary, py::arg("op"), py::arg("x"),
         "y = op(x), elementwise (see csrc/cuda/array_launchers.h for the op list)");
  cm.def("binary", &binary, py::arg("op"), py::arg("a"), py::arg("b"),
         "y = op(a, b) with NumPy broadcasting; a and b of one dtype");
  cm.def("where", &where, py::arg("cond"), py::arg("a"), py::arg("b"),
         "y = cond ? a : b, the three broadcast together");
  cm.def("cast", &cast, py::arg("x"), py::arg("dtype"), "x.astype(dtype)");
  cm.def("strided_copy", &strided_copy, py::arg("x"), py::arg("shape"), py::arg("strides"),
         py::arg("offset"),
         "A contiguous copy of the view x_flat[offset + sum i_j * strides[j]] (element strides, "
         "may be 0 or negative)");
  cm.def("strided_assign", &strided_assign, py::arg("dst"), py::arg("shape"),
         py::arg("strides"), py::arg("offset"), py::arg("src"),
         "In place: dst_flat[offset + sum i_j * strides[j]] = src (broadcast to shape)");
  cm.def("reduce", &reduce, py::arg("op"), py::arg("x"), py::arg("axes"),
         "sum/mean/prod/max/min/any/all over axes (the axes are removed)");
  cm.def("arg_reduce", &arg_reduce, py::arg("op"), py::arg("x"), py::arg("axis"),
         "argmax/argmin over one axis (int64; first occurrence; NaN wins)");
  cm.def("take", &take, py::arg("x"), py::arg("indices"), py::arg("axis"),
         py::arg("checked") = false,
         "np.take(x, indices, axis); IndexError on an index outside [-n, n) (checked=True: the "
         "caller bounded them to [0, n), no flag is read back)");
  cm.def("scatter_add", &scatter_add, py::arg("updates"), py::arg("indices"), py::arg("axis"),
         py::arg("size"), py::arg("checked") = false,
         "The gradient of take: zeros with the indices' dims of updates replaced by size, plus "
         "updates added at the indices");
  cm.def("one_hot", &one_hot, py::arg("indices"), py::arg("depth"), py::arg("on_value") = 1.0,
         py::arg("off_value") = 0.0, py::arg("dtype") = "float32",
         "indices.shape + (depth,); out-of-range indices give an all-off row");
  cm.def("fill", &fill, py::arg("shape"), py::arg("value"), py::arg("dtype") = "float32",
         "A buffer of shape filled with value");
  cm.def("arange", &arange, py::arg("start"), py::arg("step"), py::arg("n"),
         py::arg("dtype") = "float32",
         "y[i] = start + i * step (computed in float64, then cast)");
  cm.def("random_normal", &random_normal, py::arg("shape"), py::arg("seed"),
         py::arg("offset") = 0, py::arg("dtype") = "float32",
         "Standard normals from the Philox 4x32-10 stream of random_uniform (Box-Muller)");
  cm.def("argmax_match_count", &argmax_match_count, py::arg("y_pred"), py::arg("y_true"),
         py::arg("sparse"), py::arg("total"),
         "In place: total (float64, one element) += the number of rows of y_pred (..., C) whose "
         "argmax equals the label (sparse: y_true has one label per row; else one-hot rows of "
         "y_pred's shape and dtype)");
  cm.def("sort", &sort, py::arg("x"), py::arg("descending") = false, py::arg("k") = -1,
         py::arg("index_dtype") = "int64",
         "(values, indices) of x sorted along its last axis, the first k (-1: all) of each row: "
         "stable (ties in ascending index order, descending too), NaN largest");
}

#else
// ============================ build without CUDA ==========================================
void bind_impl(py::module_& cm) {
  for (const char* name : kArrayEntries) def_unavailable(cm, {name});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_array) {
  py::module_ cm = cuda_module(m);
  for (const char* name : kArrayEntries) add_entries(cm, {name});
  bind_impl(cm);
}
