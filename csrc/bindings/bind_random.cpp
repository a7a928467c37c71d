// Random-op bindings:
//   box_muller(u1, v1) -> (f0, f1)   TF's Box-Muller step (csrc/cpu/box_muller.cpp) on two
//                                    C-contiguous float32 or float64 arrays of one shape
#include <utility>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/box_muller.h"

namespace py = pybind11;
using namespace nabi;

namespace {

py::tuple box_muller(py::array u1, py::array v1) {
  const char* op = "box_muller";
  check_float(op, u1, "u1");
  check_float(op, v1, "v1");
  check_same_dtype(op, u1, "u1", v1, "v1");
  check_same_shape(op, u1, "u1", v1, "v1");
  py::array f0 = empty_like_dtype(u1, shape_of(u1));
  py::array f1 = empty_like_dtype(u1, shape_of(u1));
  const int64_t n = u1.size();
  if (is_float32(u1)) {
    auto a = static_cast<const float*>(u1.data());
    auto b = static_cast<const float*>(v1.data());
    auto p = static_cast<float*>(f0.mutable_data());
    auto q = static_cast<float*>(f1.mutable_data());
    py::gil_scoped_release nogil;
    cpu::box_muller(a, b, p, q, n);
  } else {
    auto a = static_cast<const double*>(u1.data());
    auto b = static_cast<const double*>(v1.data());
    auto p = static_cast<double*>(f0.mutable_data());
    auto q = static_cast<double*>(f1.mutable_data());
    py::gil_scoped_release nogil;
    cpu::box_muller(a, b, p, q, n);
  }
  return py::make_tuple(f0, f1);
}

}  // namespace

NABI_BINDINGS(bind_random) {
  m.def("box_muller", &box_muller, py::arg("u1"), py::arg("v1"),
        "TF's Box-Muller step: (sin(v1) * r, cos(v1) * r) with r = sqrt(-2 log u1), element "
        "by element with the C library's logf / sincosf (log / sincos for float64)");
}
