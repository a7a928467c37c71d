// nabi._C.cuda_backend: counting on DeviceBuffers (csrc/cuda/bincount.cu; semantics in
// csrc/cuda/count_launchers.h).
//
//   bincount(x, length, weights=None, per_row=False, binary=False, dtype="int32")
//       x int32/int64; per_row: x is (rows, n) and the result (rows, length), else x is any
//       shape and the result (length,). Values outside [0, length) are skipped. With weights
//       (x's shape, float32/float64/int32/int64) the result has the weights' dtype (dtype is
//       then ignored), else dtype (float32/float64/int32/int64).
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
  Buf y = per_row ? make_buffer({rows, length}, out) : make_buffer({length}, out);
  {
    py::gil_scoped_release nogil;
    nd::bincount(x.dtype(), x.data(), rows, n, length, wb ? wb->data() : nullptr, binary, out,
                 y->data());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("bincount", &bincount, py::arg("x"), py::arg("length"), py::arg("weights") = nullptr,
         py::arg("per_row") = false, py::arg("binary") = false, py::arg("dtype") = "int32",
         "Counts (or weight sums, or 0/1 with binary) of the values of x in [0, length): "
         "(length,), or (rows, length) per row of a 2-D x with per_row");
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"bincount"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_count) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"bincount"});
  bind_impl(cm);
}
