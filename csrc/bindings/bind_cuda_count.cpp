// nabi._C.cuda_backend: counting and searching on DeviceBuffers (csrc/cuda/bincount.cu,
// csrc/cuda/searchsorted.cu, csrc/cuda/unique.cu, csrc/cuda/segment_reduce.cu; semantics in
// csrc/cuda/count_launchers.h).
//
//   bincount(x, length, weights=None, per_row=False, binary=False, dtype="int32")
//       x int32/int64; per_row: x is (rows, n) and the result (rows, length), else x is any
//       shape and the result (length,). Values outside [0, length) are skipped. With weights
//       (x's shape, float32/float64/int32/int64) the result has the weights' dtype (dtype is
//       then ignored), else dtype (float32/float64/int32/int64).
//   searchsorted(sorted_sequence, values, right=False, out_dtype="int32")
//       same dtype (float32/float64/int32/int64), rank >= 1, equal leading axes; the result
//       has values' shape: per value, the insertion index into its row (NumPy's order).
//   unique(x, index_dtype="int32", with_counts=False)
//       x 1-D float32/float64/int32/int64: (y, idx) or (y, idx, counts): the distinct values
//       in order of first occurrence, each element's index into y, the occurrence counts
//       (index_dtype int32/int64; every NaN distinct). Reads the number of values back.
//   segment_minmax(x, ids, num, is_max)
//       x (rows, ...) float32/float64/int32/int64, ids (rows,) int32/int64: (num, ...) the
//       max / min of the rows of each segment (ids outside [0, num) dropped; empty segments
//       hold TF's lowest / highest value; NaN wins).
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/count_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

bool numeric(DType d) { return d != DType::Bool; }
bool index_type(DType d) { return d == DType::Int32 || d == DType::Int64; }

Buf bincount(const Buf& xb, int64_t length, const Buf& wb, bool per_row, bool binary,
             const std::string& dtype) {
  const char* op = "bincount";
  const DeviceBuffer& x = need(op, xb, "x");
  if (!index_type(x.dtype()))
    type_error(op, "x must be int32 or int64, got " + std::string(cuda::dtype_str(x.dtype())) +
                       " of shape " + shape_str(x.shape()));
  if (length < 0) value_error(op, "length must be >= 0, got " + std::to_string(length));
  if (per_row && x.ndim() != 2)
    value_error(op, "per_row needs a 2-D x, got shape " + shape_str(x.shape()));
  DType out = dtype_from_name(op, dtype);
  if (wb) {
    const DeviceBuffer& w = *wb;
    same_shape(op, x, "x", w, "weights");
    out = w.dtype();
  }
  if (!numeric(out))
    type_error(op, "the result must be float32, float64, int32 or int64, got " +
                       std::string(cuda::dtype_str(out)));
  const int64_t rows = per_row ? x.shape()[0] : 1;
  const int64_t n = per_row ? x.shape()[1] : x.numel();
  if (length > 0 && rows > std::numeric_limits<int64_t>::max() / length)
    value_error(op, "the result (" + std::to_string(rows) + ", " + std::to_string(length) +
                        ") is too large");
  Buf y = per_row ? make_buffer(op, {rows, length}, out) : make_buffer(op, {length}, out);
  {
    py::gil_scoped_release nogil;
    nd::bincount(x.dtype(), x.data(), rows, n, length, wb ? wb->data() : nullptr, binary, out,
                 y->data());
  }
  return y;
}

Buf searchsorted(const Buf& sb, const Buf& vb, bool right, const std::string& out_dtype) {
  const char* op = "searchsorted";
  const DeviceBuffer& s = need(op, sb, "sorted_sequence");
  const DeviceBuffer& v = need(op, vb, "values");
  if (!numeric(s.dtype()))
    type_error(op, "sorted_sequence must be float32, float64, int32 or int64, got bool of "
                   "shape " + shape_str(s.shape()));
  same_dtype(op, s, "sorted_sequence", v, "values");
  if (s.ndim() < 1 || v.ndim() < 1 ||
      std::vector<int64_t>(s.shape().begin(), s.shape().end() - 1) !=
          std::vector<int64_t>(v.shape().begin(), v.shape().end() - 1))
    value_error(op, "sorted_sequence " + shape_str(s.shape()) + " and values " +
                        shape_str(v.shape()) + " must have the same leading axes (rank >= 1)");
  const DType od = dtype_from_name(op, out_dtype);
  if (!index_type(od)) type_error(op, "out_dtype must be int32 or int64, got " + out_dtype);
  const int64_t n = s.shape().back(), m = v.shape().back();
  if (od == DType::Int32 && n > std::numeric_limits<int32_t>::max())
    value_error(op, "the last axis of sorted_sequence " + shape_str(s.shape()) +
                        " is too long for int32 indices");
  const int64_t rows = m ? v.numel() / m : (n ? s.numel() / n : 0);
  Buf out = make_buffer(v.shape(), od);
  {
    py::gil_scoped_release nogil;
    nd::searchsorted(s.dtype(), s.data(), rows, n, v.data(), m, right, od, out->data());
  }
  return out;
}

py::tuple unique(const Buf& xb, const std::string& index_dtype, bool with_counts) {
  const char* op = "unique";
  const DeviceBuffer& x = need(op, xb, "x");
  if (!numeric(x.dtype()))
    type_error(op, "x must be float32, float64, int32 or int64, got bool of shape " +
                       shape_str(x.shape()));
  if (x.ndim() != 1) value_error(op, "x must be 1-D, got shape " + shape_str(x.shape()));
  const DType it = dtype_from_name(op, index_dtype);
  if (!index_type(it)) type_error(op, "index_dtype must be int32 or int64, got " + index_dtype);
  const int64_t n = x.numel();
  if (n > std::numeric_limits<int32_t>::max())
    value_error(op, "x " + shape_str(x.shape()) + " has more than 2^31 - 1 elements");
  Buf y = make_buffer({n}, x.dtype());
  Buf idx = make_buffer({n}, it);
  Buf counts = with_counts ? make_buffer({n}, it) : nullptr;
  int64_t k = 0;
  {
    py::gil_scoped_release nogil;
    k = nd::unique(x.dtype(), x.data(), n, y->data(), it, idx->data(),
                   counts ? counts->data() : nullptr);
  }
  if (with_counts) return py::make_tuple(y->view({k}, 0), idx, counts->view({k}, 0));
  return py::make_tuple(y->view({k}, 0), idx);
}

Buf segment_minmax(const Buf& xb, const Buf& ib, int64_t num, bool is_max) {
  const char* op = "segment_minmax";
  const DeviceBuffer& x = need(op, xb, "x");
  const DeviceBuffer& ids = need(op, ib, "ids");
  if (!numeric(x.dtype()))
    type_error(op, "x must be float32, float64, int32 or int64, got bool of shape " +
                       shape_str(x.shape()));
  if (!index_type(ids.dtype()))
    type_error(op, "ids must be int32 or int64, got " +
                       std::string(cuda::dtype_str(ids.dtype())));
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
    nd::segment_minmax(x.dtype(), is_max, x.data(), rows, inner, ids.dtype(), ids.data(), num,
                       y->data());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("segment_minmax", &segment_minmax, py::arg("x"), py::arg("ids"), py::arg("num"),
         py::arg("is_max"),
         "(num, ...) per-segment max (is_max) or min of the rows of x (ids outside [0, num) "
         "dropped; empty segments hold TF's lowest / highest value)");
  cm.def("unique", &unique, py::arg("x"), py::arg("index_dtype") = "int32",
         py::arg("with_counts") = false,
         "(y, idx[, counts]) of a 1-D x: its distinct values in order of first occurrence, "
         "each element's index into y and (with_counts) how often each occurs");
  cm.def("bincount", &bincount, py::arg("x"), py::arg("length"), py::arg("weights") = nullptr,
         py::arg("per_row") = false, py::arg("binary") = false, py::arg("dtype") = "int32",
         "Counts (or weight sums, or 0/1 with binary) of the values of x in [0, length): "
         "(length,), or (rows, length) per row of a 2-D x with per_row");
  cm.def("searchsorted", &searchsorted, py::arg("sorted_sequence"), py::arg("values"),
         py::arg("right") = false, py::arg("out_dtype") = "int32",
         "Per value, its insertion index into the matching row of sorted_sequence (the number "
         "of entries < it, or <= it with right; NaN above every number)");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"bincount", "searchsorted", "unique", "segment_minmax"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_count) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"bincount", "searchsorted", "unique", "segment_minmax"});
  bind_impl(cm);
}
