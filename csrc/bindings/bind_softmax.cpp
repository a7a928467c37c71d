// Row-wise softmax bindings (last axis of an array of rank >= 1):
//   softmax_forward(x) -> y            softmax_backward(grad, y) -> dx
//   log_softmax_forward(x) -> y        log_softmax_backward(grad, y) -> dx
#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/softmax.h"

namespace py = pybind11;
using namespace nabi;

namespace {

void rows_cols(const char* op, const py::array& a, const char* name, int64_t* rows,
               int64_t* cols) {
  if (a.ndim() < 1) value_error(op, std::string(name) + " must have rank >= 1, got shape ()");
  *cols = a.shape(a.ndim() - 1);
  *rows = 1;
  for (py::ssize_t i = 0; i + 1 < a.ndim(); ++i) *rows *= a.shape(i);
}

template <bool kLog>
py::array forward(py::array x) {
  const char* op = kLog ? "log_softmax" : "softmax";
  check_float(op, x, "x");
  int64_t rows, cols;
  rows_cols(op, x, "x", &rows, &cols);
  py::array y = empty_like_dtype(x, shape_of(x));
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release nogil;
    if (kLog)
      cpu::log_softmax_forward<T>(xp, yp, rows, cols);
    else
      cpu::softmax_forward<T>(xp, yp, rows, cols);
  };
  if (is_float32(x))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return y;
}

template <bool kLog>
py::array backward(py::array g, py::array y) {
  const char* op = kLog ? "log_softmax" : "softmax";
  check_float(op, g, "grad");
  check_float(op, y, "y");
  check_same_dtype(op, g, "grad", y, "y");
  check_same_shape(op, g, "grad", y, "y");
  int64_t rows, cols;
  rows_cols(op, g, "grad", &rows, &cols);
  py::array dx = empty_like_dtype(g, shape_of(g));
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(g.data());
    const T* yp = static_cast<const T*>(y.data());
    T* dp = static_cast<T*>(dx.mutable_data());
    py::gil_scoped_release nogil;
    if (kLog)
      cpu::log_softmax_backward<T>(gp, yp, dp, rows, cols);
    else
      cpu::softmax_backward<T>(gp, yp, dp, rows, cols);
  };
  if (is_float32(g))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return dx;
}

}  // namespace

NABI_BINDINGS(bind_softmax) {
  m.def("softmax_forward", &forward<false>, py::arg("x"), "Softmax over the last axis");
  m.def("softmax_backward", &backward<false>, py::arg("grad"), py::arg("y"),
        "dx = y * (grad - sum(grad * y, last axis))");
  m.def("log_softmax_forward", &forward<true>, py::arg("x"), "Log-softmax over the last axis");
  m.def("log_softmax_backward", &backward<true>, py::arg("grad"), py::arg("y"),
        "dx = grad - exp(y) * sum(grad, last axis)");
}
