// Conv2d bindings (NHWC input, HWIO filter):
//   conv2d_forward(x, w, b_or_None, strides=(sh, sw), dilations=(dh, dw),
//                  padding=(top, bottom, left, right), relu=False) -> y (N, OH, OW, CO)
//   conv2d_backward(grad_y, x, w, y_or_None, strides, dilations, padding,
//                   need_dx, need_dw, need_db) -> (dx_or_None, dw_or_None, db_or_None)
//   conv2d_backward_data(grad_y, w, b_or_None, input_shape, strides, dilations, padding,
//                        relu=False) -> [relu](dx + b) (input_shape): the input gradient of a
//                        conv2d of an input_shape input, plus a (C_in,) bias and a ReLU --
//                        the forward of a transposed convolution (Conv2DTranspose) in one pass
// y_or_None: the forward output when it fused a ReLU (the gradient is masked by y > 0).
// y and dx come from a small cache of arrays nothing else references any more (a fresh
// multi-MB array costs a page fault per 4 KiB page on every training step).
#include <algorithm>
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

cpu::Conv2dShape make_shape_of(const std::vector<int64_t>& xs, const py::array& w,
                               const std::vector<int64_t>& strides,
                               const std::vector<int64_t>& dilations,
                               const std::vector<int64_t>& padding);

cpu::Conv2dShape make_shape(const py::array& x, const py::array& w,
                            const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& dilations,
                            const std::vector<int64_t>& padding) {
  check_float(kOp, x, "input");
  check_float(kOp, w, "filters");
  check_same_dtype(kOp, x, "input", w, "filters");
  if (x.ndim() != 4)
    value_error(kOp, "input must be 4-D (N, H, W, C), got shape " + shape_str(x));
  return make_shape_of(std::vector<int64_t>(x.shape(), x.shape() + 4), w, strides, dilations,
                       padding);
}

// The geometry of a conv2d of an input of shape xs (N, H, W, C) with the filters w.
cpu::Conv2dShape make_shape_of(const std::vector<int64_t>& xs, const py::array& w,
                               const std::vector<int64_t>& strides,
                               const std::vector<int64_t>& dilations,
                               const std::vector<int64_t>& padding) {
  for (int64_t d : xs)
    if (d < 0) value_error(kOp, "input shape " + shape_str(xs) + " has a negative dimension");
  if (w.ndim() != 4)
    value_error(kOp, "filters must be 4-D (KH, KW, C_in, C_out), got shape " + shape_str(w));
  if (strides.size() != 2 || dilations.size() != 2 || padding.size() != 4)
    value_error(kOp, "strides and dilations need 2 values, padding 4 (top, bottom, left, right)");
  check_geometry(kOp, "input shape", xs);
  check_geometry(kOp, "strides", strides);
  check_geometry(kOp, "dilations", dilations);
  check_geometry(kOp, "padding", padding);
  if (strides[0] < 1 || strides[1] < 1)
    value_error(kOp, "strides must be >= 1, got " + shape_str(strides));
  if (dilations[0] < 1 || dilations[1] < 1)
    value_error(kOp, "dilations must be >= 1, got " + shape_str(dilations));
  for (int64_t p : padding)
    if (p < 0) value_error(kOp, "padding must be >= 0, got " + shape_str(padding));
  if (xs[3] != w.shape(2))
    value_error(kOp, "input channels " + std::to_string(xs[3]) + " of input " +
                         shape_str(xs) + " do not match filters " + shape_str(w));
  cpu::Conv2dShape s;
  s.N = xs[0];
  s.H = xs[1];
  s.W = xs[2];
  s.C = xs[3];
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
  // The kernels copy each padded image and index it with int64: 2^40 elements bounds it far
  // below an overflow (and above any image that fits in memory).
  const double padded = static_cast<double>(ph) * pw * std::max<int64_t>(s.C, 1);
  if (padded > 1099511627776.0)
    value_error(kOp, "the padded input " + std::to_string(ph) + "x" + std::to_string(pw) + "x" +
                         std::to_string(s.C) + " of input " + shape_str(xs) + " and padding " +
                         shape_str(padding) + " has more than 2^40 elements");
  s.OH = (ph - ekh) / s.sh + 1;
  s.OW = (pw - ekw) / s.sw + 1;
  check_numel(kOp, "input", xs);
  check_numel(kOp, "output", {s.N, s.OH, s.OW, s.CO});
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

// The optional bias: None, or a (n,) array of like's dtype (n: the channels it is added to).
bool get_bias(const py::object& b_obj, const py::array& like, int64_t n, const py::array& w,
              const char* what, py::array* b) {
  if (b_obj.is_none()) return false;
  if (!py::isinstance<py::array>(b_obj)) type_error(kOp, "bias must be a NumPy array or None");
  *b = b_obj.cast<py::array>();
  check_float(kOp, *b, "bias");
  check_same_dtype(kOp, *b, "bias", like, what);
  if (b->ndim() != 1 || b->shape(0) != n)
    value_error(kOp, "bias " + shape_str(*b) + " does not match filters " + shape_str(w) +
                         " (it needs " + std::to_string(n) + " values)");
  return true;
}

py::array forward(py::array x, py::array w, py::object b_obj, std::vector<int64_t> strides,
                  std::vector<int64_t> dilations, std::vector<int64_t> padding, bool relu) {
  cpu::Conv2dShape s = make_shape(x, w, strides, dilations, padding);
  py::array b;
  const bool has_b = get_bias(b_obj, x, s.CO, w, "input", &b);
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

py::array backward_data(py::array grad_y, py::array w, py::object b_obj,
                        std::vector<int64_t> input_shape, std::vector<int64_t> strides,
                        std::vector<int64_t> dilations, std::vector<int64_t> padding, bool relu) {
  check_float(kOp, grad_y, "grad_y");
  check_float(kOp, w, "filters");
  check_same_dtype(kOp, grad_y, "grad_y", w, "filters");
  if (input_shape.size() != 4)
    value_error(kOp, "input_shape must have 4 values (N, H, W, C), got " +
                         shape_str(input_shape));
  cpu::Conv2dShape s = make_shape_of(input_shape, w, strides, dilations, padding);
  if (grad_y.ndim() != 4 || grad_y.shape(0) != s.N || grad_y.shape(1) != s.OH ||
      grad_y.shape(2) != s.OW || grad_y.shape(3) != s.CO)
    value_error(kOp, "grad_y " + shape_str(grad_y) + " does not match the output shape " +
                         shape_str(std::vector<int64_t>{s.N, s.OH, s.OW, s.CO}) +
                         " of input " + shape_str(input_shape) + " and filters " + shape_str(w));
  py::array b;
  const bool has_b = get_bias(b_obj, grad_y, s.C, w, "grad_y", &b);
  const std::vector<py::ssize_t> xshape(input_shape.begin(), input_shape.end());
  py::array dx = out_cache().get(grad_y.dtype(), xshape);
  dispatch(grad_y, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(grad_y.data());
    const T* wp = static_cast<const T*>(w.data());
    const T* bp = has_b ? static_cast<const T*>(b.data()) : nullptr;
    T* dxp = static_cast<T*>(dx.mutable_data());
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_data<T>(s, wp, gp, bp, relu, dxp);
  });
  return dx;
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
  m.def("conv2d_backward_data", &backward_data, py::arg("grad_y"), py::arg("w"), py::arg("b"),
        py::arg("input_shape"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
        py::arg("relu") = false,
        "[relu](dx + b) of conv2d_forward for an input of input_shape: a transposed "
        "convolution with a fused (C_in,) bias and ReLU");
}
