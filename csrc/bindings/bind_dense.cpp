// Fused dense bindings:
//   dense_forward(x, w, b_or_None, activation, alpha=0.0) -> (y, z_or_None)
//   dense_backward(grad_y, x, w, y, z_or_None, activation, alpha, need_dx, has_bias)
//       -> (dx_or_None, dw, db_or_None)
//   dense_keeps_z(activation, alpha=0.0) -> bool
// activation: any activation_forward kind, or "softmax" (row softmax of z).
// z is returned only when the derivative cannot be computed from y alone; backward then
// needs z (y may be None), otherwise it needs y (z may be None).
#include <string>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/dense.h"

namespace py = pybind11;
using namespace nabi;

namespace {
const char* kOp = "dense";

cpu::DenseAct parse_act(const std::string& s) {
  cpu::DenseAct a;
  if (s == "softmax") {
    a.softmax = true;
    return a;
  }
  if (!cpu::parse_activation(s, &a.kind)) value_error(kOp, "unknown activation '" + s + "'");
  return a;
}

void check_xw(const py::array& x, const py::array& w) {
  check_float(kOp, x, "input");
  check_float(kOp, w, "kernel");
  check_same_dtype(kOp, x, "input", w, "kernel");
  check_ndim(kOp, x, "input", 2);
  check_ndim(kOp, w, "kernel", 2);
  if (x.shape(1) != w.shape(0))
    value_error(kOp, "input " + shape_str(x) + " does not match kernel " + shape_str(w));
}

void check_mn(const py::array& a, const char* name, const py::array& x, const py::array& w) {
  check_float(kOp, a, name);
  check_same_dtype(kOp, a, name, x, "input");
  if (a.ndim() != 2 || a.shape(0) != x.shape(0) || a.shape(1) != w.shape(1))
    value_error(kOp, std::string(name) + " " + shape_str(a) + " does not match the output (" +
                         std::to_string(x.shape(0)) + ", " + std::to_string(w.shape(1)) +
                         ") of input " + shape_str(x) + " and kernel " + shape_str(w));
}

py::tuple forward(py::array x, py::array w, py::object b_obj, const std::string& activation,
                  double alpha) {
  cpu::DenseAct act = parse_act(activation);
  check_xw(x, w);
  const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(1);
  py::array b;
  const bool has_b = !b_obj.is_none();
  if (has_b) {
    if (!py::isinstance<py::array>(b_obj))
      type_error(kOp, "bias must be a NumPy array or None");
    b = b_obj.cast<py::array>();
    check_float(kOp, b, "bias");
    check_same_dtype(kOp, b, "bias", x, "input");
    if (b.ndim() != 1 || b.shape(0) != N)
      value_error(kOp, "bias " + shape_str(b) + " does not match kernel " + shape_str(w));
  }
  const bool keep_z = cpu::dense_keeps_z(act, alpha);
  py::array y = empty_like_dtype(x, {static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
  py::object z_out = py::none();
  py::array z;
  if (keep_z) {
    z = empty_like_dtype(x, {static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
    z_out = z;
  }
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    const T* bp = has_b ? static_cast<const T*>(b.data()) : nullptr;
    T* yp = static_cast<T*>(y.mutable_data());
    T* zp = keep_z ? static_cast<T*>(z.mutable_data()) : nullptr;
    py::gil_scoped_release nogil;
    cpu::dense_forward<T>(xp, wp, bp, yp, zp, M, K, N, act, static_cast<T>(alpha));
  };
  if (is_float32(x))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return py::make_tuple(y, z_out);
}

py::tuple backward(py::array grad_y, py::array x, py::array w, py::object y_obj,
                   py::object z_obj, const std::string& activation, double alpha, bool need_dx,
                   bool has_bias) {
  cpu::DenseAct act = parse_act(activation);
  check_xw(x, w);
  check_mn(grad_y, "grad_y", x, w);
  const bool keep_z = cpu::dense_keeps_z(act, alpha);
  const bool identity = !act.softmax && act.kind == cpu::Act::Linear;
  py::array act_in;
  if (!identity) {
    py::object& o = keep_z ? z_obj : y_obj;
    const char* name = keep_z ? "z" : "y";
    if (o.is_none())
      value_error(kOp, std::string("activation '") + activation + "' needs " + name +
                           " for its derivative, got None");
    if (!py::isinstance<py::array>(o)) type_error(kOp, std::string(name) + " must be an array");
    act_in = o.cast<py::array>();
    check_mn(act_in, name, x, w);
  }
  const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(1);
  py::array dw = empty_like_dtype(x, shape_of(w));
  py::object dx_out = py::none(), db_out = py::none();
  py::array dx, db;
  if (need_dx) {
    dx = empty_like_dtype(x, shape_of(x));
    dx_out = dx;
  }
  if (has_bias) {
    db = empty_like_dtype(x, {static_cast<py::ssize_t>(N)});
    db_out = db;
  }
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(grad_y.data());
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    const T* ap = identity ? nullptr : static_cast<const T*>(act_in.data());
    T* dxp = need_dx ? static_cast<T*>(dx.mutable_data()) : nullptr;
    T* dwp = static_cast<T*>(dw.mutable_data());
    T* dbp = has_bias ? static_cast<T*>(db.mutable_data()) : nullptr;
    py::gil_scoped_release nogil;
    cpu::dense_backward<T>(gp, xp, wp, ap, dxp, dwp, dbp, M, K, N, act, static_cast<T>(alpha));
  };
  if (is_float32(x))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return py::make_tuple(dx_out, dw, db_out);
}
}  // namespace

NABI_BINDINGS(bind_dense) {
  m.def("dense_forward", &forward, py::arg("x"), py::arg("w"), py::arg("b"),
        py::arg("activation"), py::arg("alpha") = 0.0,
        "(y, z_or_None): y = act(x @ w + b); z kept only when act' needs it");
  m.def("dense_backward", &backward, py::arg("grad_y"), py::arg("x"), py::arg("w"), py::arg("y"),
        py::arg("z"), py::arg("activation"), py::arg("alpha"), py::arg("need_dx"),
        py::arg("has_bias"), "(dx_or_None, dw, db_or_None) of the fused dense layer");
  m.def(
      "dense_keeps_z",
      [](const std::string& activation, double alpha) {
        return cpu::dense_keeps_z(parse_act(activation), alpha);
      },
      py::arg("activation"), py::arg("alpha") = 0.0,
      "Whether dense_forward returns z (the derivative needs the pre-activation)");
}
