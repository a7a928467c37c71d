// nabi._C.cuda_backend: segment products, the running log-sum-exp and the truncating /
// nextafter elementwise ops on DeviceBuffers (csrc/cuda/index_extra.cu; semantics in
// csrc/cuda/index_extra_launchers.h).
//
//   segment_prod(x, ids, num)
//       x (rows, ...) float32/float64/int32/int64, ids (rows,) int32/int64: (num, ...) the
//       product of the rows of each segment (ids outside [0, num) dropped; empty segments 1).
//   logcumsumexp(x, axis, exclusive=False, reverse=False)
//       x float32/float64 of rank >= 1: the running log(sum(exp(x))) along axis (x's shape).
//   binary_extra(op, a, b)
//       op "truncatediv" / "truncatemod" / "nextafter"; a, b of one shape and one dtype
//       (float32/float64/int32/int64; nextafter floats only): the result (a's shape).
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/index_extra_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

bool index_type(DType d) { return d == DType::Int32 || d == DType::Int64; }

Buf segment_prod(const Buf& xb, const Buf& ib, int64_t num) {
  const char* op = "segment_prod";
  const DeviceBuffer& x = need(op, xb, "x");
  const DeviceBuffer& ids = need(op, ib, "ids");
  if (x.dtype() == DType::Bool)
    type_error(op, "x must be float32, float64, int32 or int64, got bool of shape " +
                       shape_str(x.shape()));
  if (!index_type(ids.dtype()))
    type_error(op, "ids must be int32 or int64, got " +
                       std::string(cuda::dtype_str(ids.dtype())) + " of shape " +
                       shape_str(ids.shape()));
  if (x.ndim() < 1) value_error(op, "x must have rank >= 1, got shape ()");
  if (ids.ndim() != 1 || ids.shape()[0] != x.shape()[0])
    value_error(op, "ids must be 1-D with one id per row of x " + shape_str(x.shape()) +
                        ", got shape " + shape_str(ids.shape()));
  if (num < 0) value_error(op, "num must be >= 0, got " + std::to_string(num));
  std::vector<int64_t> out = x.shape();
  out[0] = num;
  Buf y = make_buffer(op, out, x.dtype());
  const int64_t rows = x.shape()[0];
  int64_t inner = 1;
  for (size_t d = 1; d < out.size(); ++d) inner *= out[d];
  {
    py::gil_scoped_release nogil;
    nd::segment_prod(x.dtype(), x.data(), rows, inner, ids.dtype(), ids.data(), num,
                     y->data());
  }
  return y;
}

Buf logcumsumexp(const Buf& xb, int64_t axis, bool exclusive, bool reverse) {
  const char* op = "logcumsumexp";
  const DeviceBuffer& x = need_float(op, xb, "x");
  const int nd_ = x.ndim();
  if (nd_ < 1) value_error(op, "x must have rank >= 1, got shape ()");
  if (axis < -nd_ || axis >= nd_)
    value_error(op, "axis " + std::to_string(axis) + " is out of range for x of shape " +
                        shape_str(x.shape()));
  const int d = static_cast<int>(axis < 0 ? axis + nd_ : axis);
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < d; ++k) outer *= x.shape()[k];
  for (int k = d + 1; k < nd_; ++k) inner *= x.shape()[k];
  Buf y = make_buffer(op, x.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::logcumsumexp(x.dtype(), x.data(), outer, x.shape()[d], inner, exclusive, reverse,
                     y->data());
  }
  return y;
}

Buf binary_extra(const std::string& name, const Buf& ab, const Buf& bb) {
  const char* op = "binary_extra";
  nd::ExtraBinaryOp kind;
  if (name == "truncatediv") kind = nd::ExtraBinaryOp::TruncDiv;
  else if (name == "truncatemod") kind = nd::ExtraBinaryOp::TruncMod;
  else if (name == "nextafter") kind = nd::ExtraBinaryOp::NextAfter;
  else
    value_error(op, "op must be 'truncatediv', 'truncatemod' or 'nextafter', got '" + name +
                        "'");
  const DeviceBuffer& a = need(op, ab, "a");
  const DeviceBuffer& b = need(op, bb, "b");
  same_dtype(op, a, "a", b, "b");
  same_shape(op, a, "a", b, "b");
  if (a.dtype() == DType::Bool)
    type_error(op, name + " takes float32, float64, int32 or int64, got bool of shape " +
                       shape_str(a.shape()));
  if (kind == nd::ExtraBinaryOp::NextAfter && !is_float(a.dtype()))
    type_error(op, "nextafter takes float32 or float64, got " +
                       std::string(cuda::dtype_str(a.dtype())) + " of shape " +
                       shape_str(a.shape()));
  Buf y = make_buffer(op, a.shape(), a.dtype());
  {
    py::gil_scoped_release nogil;
    nd::binary_extra(kind, a.dtype(), a.data(), b.data(), y->data(), a.numel());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("segment_prod", &segment_prod, py::arg("x"), py::arg("ids"), py::arg("num"),
         "(num, ...) products of the rows of x per segment id (ids outside [0, num) dropped, "
         "empty segments 1)");
  cm.def("logcumsumexp", &logcumsumexp, py::arg("x"), py::arg("axis"),
         py::arg("exclusive") = false, py::arg("reverse") = false,
         "The running log(sum(exp(x))) along axis, accumulated in float64");
  cm.def("binary_extra", &binary_extra, py::arg("op"), py::arg("a"), py::arg("b"),
         "truncatediv / truncatemod / nextafter of two same-shape, same-dtype buffers");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"segment_prod", "logcumsumexp", "binary_extra"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_index_extra) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"segment_prod", "logcumsumexp", "binary_extra"});
  bind_impl(cm);
}
