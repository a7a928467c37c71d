// Activation bindings:
//   activation_forward(kind, x, alpha=0.0) -> y
//   activation_backward(kind, grad, x, y, alpha=0.0) -> dx
//   activation_backward_uses_y(kind, alpha=0.0) -> bool   (which of x / y the backward reads)
#include <string>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/activations.h"

namespace py = pybind11;
using namespace nabi;

namespace {
const char* kOp = "activation";

cpu::Act parse_or_throw(const std::string& kind) {
  cpu::Act k;
  if (!cpu::parse_activation(kind, &k)) value_error(kOp, "unknown activation '" + kind + "'");
  return k;
}

py::array forward(const std::string& kind, py::array x, double alpha) {
  cpu::Act k = parse_or_throw(kind);
  check_float(kOp, x, "x");
  py::array y = empty_like_dtype(x, shape_of(x));
  const int64_t n = x.size();
  if (is_float32(x)) {
    const float* xp = static_cast<const float*>(x.data());
    float* yp = static_cast<float*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::act_forward<float>(k, xp, yp, n, float(alpha));
  } else {
    const double* xp = static_cast<const double*>(x.data());
    double* yp = static_cast<double*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::act_forward<double>(k, xp, yp, n, alpha);
  }
  return y;
}

py::array backward(const std::string& kind, py::array g, py::array x, py::array y, double alpha) {
  cpu::Act k = parse_or_throw(kind);
  check_float(kOp, g, "grad");
  check_float(kOp, x, "x");
  check_float(kOp, y, "y");
  check_same_dtype(kOp, g, "grad", x, "x");
  check_same_dtype(kOp, g, "grad", y, "y");
  check_same_shape(kOp, g, "grad", x, "x");
  check_same_shape(kOp, g, "grad", y, "y");
  py::array dx = empty_like_dtype(g, shape_of(g));
  const int64_t n = g.size();
  if (is_float32(g)) {
    auto gp = static_cast<const float*>(g.data());
    auto xp = static_cast<const float*>(x.data());
    auto yp = static_cast<const float*>(y.data());
    auto dp = static_cast<float*>(dx.mutable_data());
    py::gil_scoped_release nogil;
    cpu::act_backward<float>(k, gp, xp, yp, dp, n, float(alpha));
  } else {
    auto gp = static_cast<const double*>(g.data());
    auto xp = static_cast<const double*>(x.data());
    auto yp = static_cast<const double*>(y.data());
    auto dp = static_cast<double*>(dx.mutable_data());
    py::gil_scoped_release nogil;
    cpu::act_backward<double>(k, gp, xp, yp, dp, n, alpha);
  }
  return dx;
}
}  // namespace

NABI_BINDINGS(bind_activations) {
  m.def("activation_forward", &forward, py::arg("kind"), py::arg("x"), py::arg("alpha") = 0.0,
        "y = act(x), elementwise, float32/float64, C-contiguous");
  m.def("activation_backward", &backward, py::arg("kind"), py::arg("grad"), py::arg("x"),
        py::arg("y"), py::arg("alpha") = 0.0, "dx = act'(x) * grad (y is the forward output)");
  m.def(
      "activation_backward_uses_y",
      [](const std::string& kind, double alpha) {
        return cpu::act_backward_uses_y(parse_or_throw(kind), alpha);
      },
      py::arg("kind"), py::arg("alpha") = 0.0,
      "Whether activation_backward computes the derivative from y alone (else from x)");
}
