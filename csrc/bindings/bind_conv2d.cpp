// Conv2d bindings (NHWC input, HWIO filter):
//   conv2d_forward(x, w, b_or_None, strides=(sh, sw), dilations=(dh, dw),
//                  padding=(top, bottom, left, right), relu=False) -> y (N, OH, OW, CO)
//   conv2d_backward(grad_y, x, w, y_or_None, strides, dilations, padding,
//                   need_dx, need_dw, need_db) -> (dx_or_None, dw_or_None, db_or_None)
// y_or_None: the forward output when it fused a ReLU (the gradient is masked by y > 0).
// y and dx come from a small cache of arrays nothing else references any more (a fresh
// multi-MB array costs a page fault per 4 KiB page on every training step).
#include <string>
#include <type_traits>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/recycler.h"
#include "bindings/registry.h"
#include "cpu/conv2d.h"

namespace py = pybind11;
using namespace nabi;

namespace {
const char* kOp = "conv2d";

using nabi::Recycler;

Recycler& out_cache() {
  static Recycler* r = new Recycler();
  return *r;
}

cpu::Conv2dShape make_shape(const py::array& x, const py::array& w,
                            const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& dilations,
                            const std::vector<int64_t>& padding) {
  check_float(kOp, x, "input");
  check_float(kOp, w, "filters");
  check_same_dtype(kOp, x, "input", w, "filters");
  if (x.ndim() != 4)
    value_error(kOp, "input must be 4-D (N, H, W, C), got shape " + shape_str(x));
  if (w.ndim() != 4)
    value_error(kOp, "filters must be 4-D (KH, KW, C_in, C_out), got shape " + shape_str(w));
  if (strides.size() != 2 || dilations.size() != 2 || padding.size() != 4)
    value_error(kOp, "strides and dilations need 2 values, padding 4 (top, bottom, left, right)");
  if (strides[0] < 1 || strides[1] < 1)
    value_error(kOp, "strides must be >= 1, got " + shape_str(strides));
  if (dilations[0] < 1 || dilations[1] < 1)
    value_error(kOp, "dilations must be >= 1, got " + shape_str(dilations));
  for (int64_t p : padding)
    if (p < 0) value_error(kOp, "padding must be >= 0, got " + shape_str(padding));
  if (x.shape(3) != w.shape(2))
    value_error(kOp, "input channels " + std::to_string(x.shape(3)) + " of input " +
                         shape_str(x) + " do not match filters " + shape_str(w));
  cpu::Conv2dShape s;
  s.N = x.shape(0);
  s.H = x.shape(1);
  s.W = x.shape(2);
  s.C = x.shape(3);
  s.KH = w.shape(0);
  s.KW = w.shape(1);
  s.CO = w.shape(3);
  s.sh = strides[0];
  s.sw = strides[1];
  s.dh = dilations[0];
  s.dw = dilations[1];
  s.pt = padding[0];
  s.pl = padding[2];
  const int64_t ekh = (s.KH - 1) * s.dh + 1, ekw = (s.KW - 1) * s.dw + 1;
  const int64_t ph = s.H + padding[0] + padding[1], pw = s.W + padding[2] + padding[3];
  if (s.KH < 1 || s.KW < 1 || ekh > ph || ekw > pw)
    value_error(kOp, "filter " + shape_str(w) + " (dilated " + std::to_string(ekh) + "x" +
                         std::to_string(ekw) + ") is larger than the padded input " +
                         std::to_string(ph) + "x" + std::to_string(pw));
  s.OH = (ph - ekh) / s.sh + 1;
  s.OW = (pw - ekw) / s.sw + 1;
  return s;
}

template <typename F>
void dispatch(const py::array& x, F&& f) {
  if (is_float32(x))
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<double*>(nullptr));
}

void check_out_like(const py::array& a, const char* name, const py::array& x,
                    const cpu::Conv2dShape& s) {
  check_float(kOp, a, name);
  check_same_dtype(kOp, a, name, x, "input");
  if (a.ndim() != 4 || a.shape(0) != s.N || a.shape(1) != s.OH || a.shape(2) != s.OW ||
      a.shape(3) != s.CO)
    value_error(kOp, std::string(name) + " " + shape_str(a) + " does not match the output shape " +
                         shape_str(std::vector<int64_t>{s.N, s.OH, s.OW, s.CO}));
}

py::array forward(py::array x, py::array w, py::object b_obj, std::vector<int64_t> strides,
                  std::vector<int64_t> dilations, std::vector<int64_t> padding, bool relu) {
  cpu::Conv2dShape s = make_shape(x, w, strides, dilations, padding);
  py::array b;
  const bool has_b = !b_obj.is_none();
  if (has_b) {
    if (!py::isinstance<py::array>(b_obj)) type_error(kOp, "bias must be a NumPy array or None");
    b = b_obj.cast<py::array>();
    check_float(kOp, b, "bias");
    check_same_dtype(kOp, b, "bias", x, "input");
    if (b.ndim() != 1 || b.shape(0) != s.CO)
      value_error(kOp, "bias " + shape_str(b) + " does not match filters " + shape_str(w));
  }
  py::array y = out_cache().get(x.dtype(), std::vector<py::ssize_t>{s.N, s.OH, s.OW, s.CO});
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    const T* bp = has_b ? static_cast<const T*>(b.data()) : nullptr;
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::conv2d_forward<T>(s, xp, wp, bp, relu, yp);
  });
  return y;
}

py::tuple backward(py::array grad_y, py::array x, py::array w, py::object y_obj,
                   std::vector<int64_t> strides, std::vector<int64_t> dilations,
                   std::vector<int64_t> padding, bool need_dx, bool need_dw, bool need_db) {
  cpu::Conv2dShape s = make_shape(x, w, strides, dilations, padding);
  check_out_like(grad_y, "grad_y", x, s);
  py::array yr;
  const bool has_y = !y_obj.is_none();
  if (has_y) {
    if (!py::isinstance<py::array>(y_obj)) type_error(kOp, "y must be a NumPy array or None");
    yr = y_obj.cast<py::array>();
    check_out_like(yr, "y", x, s);
  }
  py::object dx_out = py::none(), dw_out = py::none(), db_out = py::none();
  py::array dx, dw, db;
  if (need_dx) {
    const std::vector<py::ssize_t> xshape(x.shape(), x.shape() + 4);
    dx_out = dx = out_cache().get(x.dtype(), xshape);
  }
  if (need_dw) dw_out = dw = py::array(x.dtype(), shape_of(w));
  if (need_db) db_out = db = py::array(x.dtype(), std::vector<py::ssize_t>{s.CO});
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(grad_y.data());
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    const T* yp = has_y ? static_cast<const T*>(yr.data()) : nullptr;
    T* dxp = need_dx ? static_cast<T*>(dx.mutable_data()) : nullptr;
    T* dwp = need_dw ? static_cast<T*>(dw.mutable_data()) : nullptr;
    T* dbp = need_db ? static_cast<T*>(db.mutable_data()) : nullptr;
    py::gil_scoped_release nogil;
    cpu::conv2d_backward<T>(s, xp, wp, gp, yp, dxp, dwp, dbp);
  });
  return py::make_tuple(dx_out, dw_out, db_out);
}
}  // namespace

NABI_BINDINGS(bind_conv2d) {
  m.def("conv2d_forward", &forward, py::arg("x"), py::arg("w"), py::arg("b"),
        py::arg("strides"), py::arg("dilations"), py::arg("padding"), py::arg("relu") = false,
        "NHWC x HWIO convolution with optional fused bias and ReLU; padding (t, b, l, r)");
  m.def("conv2d_backward", &backward, py::arg("grad_y"), py::arg("x"), py::arg("w"),
        py::arg("y"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
        py::arg("need_dx"), py::arg("need_dw"), py::arg("need_db"),
        "(dx, dw, db) of conv2d_forward (each None unless asked for); y masks a fused ReLU");
}
