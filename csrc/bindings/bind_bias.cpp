// Bias bindings:
//   bias_add_forward(x, b) -> y      x (..., C), b (C,)
//   bias_add_backward(grad) -> db    sum over all but the last axis
#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/bias.h"

namespace py = pybind11;
using namespace nabi;

namespace {
const char* kOp = "bias_add";

py::array forward(py::array x, py::array b) {
  check_float(kOp, x, "x");
  check_float(kOp, b, "bias");
  check_same_dtype(kOp, x, "x", b, "bias");
  check_ndim(kOp, b, "bias", 1);
  if (x.ndim() < 1) value_error(kOp, "x must have rank >= 1, got shape ()");
  const int64_t cols = x.shape(x.ndim() - 1);
  if (b.shape(0) != cols)
    value_error(kOp, "bias " + shape_str(b) + " does not match the last axis of x " +
                         shape_str(x));
  int64_t rows = 1;
  for (py::ssize_t i = 0; i + 1 < x.ndim(); ++i) rows *= x.shape(i);
  py::array y = empty_like_dtype(x, shape_of(x));
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    const T* bp = static_cast<const T*>(b.data());
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::bias_add<T>(xp, bp, yp, rows, cols);
  };
  if (is_float32(x))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return y;
}

py::array backward(py::array g) {
  check_float(kOp, g, "grad");
  if (g.ndim() < 1) value_error(kOp, "grad must have rank >= 1, got shape ()");
  const int64_t cols = g.shape(g.ndim() - 1);
  int64_t rows = 1;
  for (py::ssize_t i = 0; i + 1 < g.ndim(); ++i) rows *= g.shape(i);
  py::array db = empty_like_dtype(g, {static_cast<py::ssize_t>(cols)});
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(g.data());
    T* dp = static_cast<T*>(db.mutable_data());
    py::gil_scoped_release nogil;
    cpu::bias_grad<T>(gp, dp, rows, cols);
  };
  if (is_float32(g))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return db;
}
}  // namespace

NABI_BINDINGS(bind_bias) {
  m.def("bias_add_forward", &forward, py::arg("x"), py::arg("b"), "y = x + b (last axis)");
  m.def("bias_add_backward", &backward, py::arg("grad"),
        "db = sum of grad over all but the last axis (float64 accumulation)");
}
