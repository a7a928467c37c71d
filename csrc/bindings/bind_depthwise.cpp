// Depthwise conv2d bindings, CPU (nabi._C) and CUDA (nabi._C.cuda_backend) under the same names,
// arguments and error messages (x NHWC, w (KH, KW, C, M), padding (top, bottom, left, right)):
//   depthwise_conv2d_forward(x, w, strides, dilations, padding) -> y (N, OH, OW, C*M)
//   depthwise_conv2d_backward_data(grad_y, w, input_shape, strides, dilations, padding) -> dx
//   depthwise_conv2d_backward_filter(grad_y, x, filter_shape, strides, dilations, padding) -> dw
// CPU y and dx may be recycled arrays (see out_cache). Shapes are checked here before any
// kernel touches memory; errors start with
// "[depthwise_conv2d]". The CUDA entries take and return DeviceBuffers; builds without CUDA
// define them, raising "... has no CUDA implementation in this build".
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/recycler.h"
#include "bindings/registry.h"
#include "cpu/depthwise_conv2d.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/nn_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {
const char* kOp = "depthwise_conv2d";
using Shape = std::vector<int64_t>;

// y and dx come from a small cache of arrays nothing else references any more (a fresh
// multi-MB array costs a page fault per 4 KiB page on every training step).
Recycler& out_cache() {
  static Recycler* r = new Recycler();
  return *r;
}

// Every field checked; the output size follows from the padded input.
cpu::DepthwiseShape make_shape(const Shape& xs, const Shape& ws, const Shape& strides,
                               const Shape& dilations, const Shape& padding) {
  if (xs.size() != 4)
    value_error(kOp, "input must be 4-D (N, H, W, C), got shape " + shape_str(xs));
  if (ws.size() != 4)
    value_error(kOp, "filter must be 4-D (KH, KW, C, M), got shape " + shape_str(ws));
  for (int64_t v : xs)
    if (v < 0) value_error(kOp, "input shape must be >= 0, got " + shape_str(xs));
  for (int64_t v : ws)
    if (v < 1) value_error(kOp, "filter dimensions must be >= 1, got " + shape_str(ws));
  if (strides.size() != 2 || dilations.size() != 2 || padding.size() != 4)
    value_error(kOp, "strides and dilations need 2 values, padding 4 (top, bottom, left, right)");
  check_geometry(kOp, "input shape", xs);
  check_geometry(kOp, "filter shape", ws);
  check_geometry(kOp, "strides", strides);
  check_geometry(kOp, "dilations", dilations);
  check_geometry(kOp, "padding", padding);
  if (strides[0] < 1 || strides[1] < 1)
    value_error(kOp, "strides must be >= 1, got " + shape_str(strides));
  if (dilations[0] < 1 || dilations[1] < 1)
    value_error(kOp, "dilations must be >= 1, got " + shape_str(dilations));
  for (int64_t p : padding)
    if (p < 0) value_error(kOp, "padding must be >= 0, got " + shape_str(padding));
  if (xs[3] != ws[2])
    value_error(kOp, "input " + shape_str(xs) + " has " + std::to_string(xs[3]) +
                         " channels but filter " + shape_str(ws) + " expects " +
                         std::to_string(ws[2]));
  cpu::DepthwiseShape s;
  s.N = xs[0];
  s.H = xs[1];
  s.W = xs[2];
  s.C = xs[3];
  s.KH = ws[0];
  s.KW = ws[1];
  s.M = ws[3];
  s.sh = strides[0];
  s.sw = strides[1];
  s.dh = dilations[0];
  s.dw = dilations[1];
  s.pt = padding[0];
  s.pl = padding[2];
  const int64_t ekh = (s.KH - 1) * s.dh + 1, ekw = (s.KW - 1) * s.dw + 1;
  const int64_t ph = s.H + padding[0] + padding[1], pw = s.W + padding[2] + padding[3];
  if (ekh > ph || ekw > pw)
    value_error(kOp, "filter " + shape_str(ws) + " (dilated " + std::to_string(ekh) + "x" +
                         std::to_string(ekw) + ") is larger than the padded input " +
                         std::to_string(ph) + "x" + std::to_string(pw) + " of input " +
                         shape_str(xs));
  s.OH = (ph - ekh) / s.sh + 1;
  s.OW = (pw - ekw) / s.sw + 1;
  check_numel(kOp, "input", xs);
  check_numel(kOp, "filter", ws);
  check_numel(kOp, "output", {s.N, s.OH, s.OW, s.C, s.M});
  return s;
}

Shape out_shape(const cpu::DepthwiseShape& s) { return {s.N, s.OH, s.OW, s.C * s.M}; }

void check_grad_shape(const Shape& gs, const cpu::DepthwiseShape& s) {
  if (gs != out_shape(s))
    value_error(kOp, "grad_y " + shape_str(gs) + " does not match the output shape " +
                         shape_str(out_shape(s)));
}

Shape shape64(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }
std::vector<py::ssize_t> ssize(const Shape& s) {
  return std::vector<py::ssize_t>(s.begin(), s.end());
}

template <typename F>
void dispatch(const py::array& a, F&& f) {
  if (is_float32(a))
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<double*>(nullptr));
}

// ---- CPU ---------------------------------------------------------------------------------
py::array forward(py::array x, py::array w, Shape strides, Shape dilations, Shape padding) {
  check_float(kOp, x, "input");
  check_float(kOp, w, "filter");
  check_same_dtype(kOp, x, "input", w, "filter");
  const cpu::DepthwiseShape s = make_shape(shape64(x), shape64(w), strides, dilations, padding);
  py::array y = out_cache().get(x.dtype(), ssize(out_shape(s)));
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::depthwise_conv2d_forward<T>(s, xp, wp, yp);
  });
  return y;
}

py::array backward_data(py::array g, py::array w, Shape input_shape, Shape strides,
                        Shape dilations, Shape padding) {
  check_float(kOp, g, "grad_y");
  check_float(kOp, w, "filter");
  check_same_dtype(kOp, g, "grad_y", w, "filter");
  const cpu::DepthwiseShape s = make_shape(input_shape, shape64(w), strides, dilations, padding);
  check_grad_shape(shape64(g), s);
  py::array dx = out_cache().get(g.dtype(), ssize(input_shape));
  dispatch(g, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(g.data());
    const T* wp = static_cast<const T*>(w.data());
    T* dp = static_cast<T*>(dx.mutable_data());
    py::gil_scoped_release nogil;
    cpu::depthwise_conv2d_backward_data<T>(s, wp, gp, dp);
  });
  return dx;
}

py::array backward_filter(py::array g, py::array x, Shape filter_shape, Shape strides,
                          Shape dilations, Shape padding) {
  check_float(kOp, g, "grad_y");
  check_float(kOp, x, "input");
  check_same_dtype(kOp, g, "grad_y", x, "input");
  const cpu::DepthwiseShape s = make_shape(shape64(x), filter_shape, strides, dilations, padding);
  check_grad_shape(shape64(g), s);
  py::array dw(g.dtype(), ssize(filter_shape));
  dispatch(g, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(g.data());
    const T* xp = static_cast<const T*>(x.data());
    T* dp = static_cast<T*>(dw.mutable_data());
    py::gil_scoped_release nogil;
    cpu::depthwise_conv2d_backward_filter<T>(s, xp, gp, dp);
  });
  return dw;
}

// ---- CUDA --------------------------------------------------------------------------------
#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;

cuda::DepthwiseDims dims(const cpu::DepthwiseShape& s) {
  return cuda::DepthwiseDims{s.N,  s.H,  s.W,  s.C,  s.KH, s.KW, s.M, s.OH,
                             s.OW, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl};
}

// Filter indices and the per-block tiling of the CUDA kernels are 32-bit.
void check_cuda_limits(const cpu::DepthwiseShape& s) {
  if (static_cast<double>(s.KH) * s.KW * s.C * s.M > 2147483647.0)
    value_error(kOp, "filter is too large for the CUDA kernels (more than 2^31 - 1 values)");
}

Buf cuda_forward(const Buf& xb, const Buf& wb, Shape strides, Shape dilations, Shape padding) {
  const DeviceBuffer& x = need_float(kOp, xb, "input");
  const DeviceBuffer& w = need_float(kOp, wb, "filter");
  same_dtype(kOp, x, "input", w, "filter");
  const cpu::DepthwiseShape s = make_shape(x.shape(), w.shape(), strides, dilations, padding);
  check_cuda_limits(s);
  Buf y = make_buffer(out_shape(s), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::depthwise_conv2d_forward<T>(dims(s), x.ptr<T>(), w.ptr<T>(), y->ptr<T>());
  });
  return y;
}

Buf cuda_backward_data(const Buf& gb, const Buf& wb, Shape input_shape, Shape strides,
                       Shape dilations, Shape padding) {
  const DeviceBuffer& g = need_float(kOp, gb, "grad_y");
  const DeviceBuffer& w = need_float(kOp, wb, "filter");
  same_dtype(kOp, g, "grad_y", w, "filter");
  const cpu::DepthwiseShape s = make_shape(input_shape, w.shape(), strides, dilations, padding);
  check_cuda_limits(s);
  check_grad_shape(g.shape(), s);
  Buf dx = make_buffer(input_shape, g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::depthwise_conv2d_backward_data<T>(dims(s), w.ptr<T>(), g.ptr<T>(), dx->ptr<T>());
  });
  return dx;
}

Buf cuda_backward_filter(const Buf& gb, const Buf& xb, Shape filter_shape, Shape strides,
                         Shape dilations, Shape padding) {
  const DeviceBuffer& g = need_float(kOp, gb, "grad_y");
  const DeviceBuffer& x = need_float(kOp, xb, "input");
  same_dtype(kOp, g, "grad_y", x, "input");
  const cpu::DepthwiseShape s = make_shape(x.shape(), filter_shape, strides, dilations, padding);
  check_cuda_limits(s);
  check_grad_shape(g.shape(), s);
  Buf dw = make_buffer(filter_shape, g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::depthwise_conv2d_backward_filter<T>(dims(s), x.ptr<T>(), g.ptr<T>(), dw->ptr<T>());
  });
  return dw;
}
#endif

const char* const kDoc[3] = {
    "NHWC depthwise convolution, filter (KH, KW, C, M); padding (t, b, l, r) -> y (N, OH, OW, C*M)",
    "dx (input_shape) of depthwise_conv2d_forward given grad_y",
    "dw (filter_shape) of depthwise_conv2d_forward given grad_y and x"};
}  // namespace

NABI_BINDINGS(bind_depthwise) {
  m.def("depthwise_conv2d_forward", &forward, py::arg("x"), py::arg("w"), py::arg("strides"),
        py::arg("dilations"), py::arg("padding"), kDoc[0]);
  m.def("depthwise_conv2d_backward_data", &backward_data, py::arg("grad_y"), py::arg("w"),
        py::arg("input_shape"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
        kDoc[1]);
  m.def("depthwise_conv2d_backward_filter", &backward_filter, py::arg("grad_y"), py::arg("x"),
        py::arg("filter_shape"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
        kDoc[2]);
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"depthwise_conv2d_forward", "depthwise_conv2d_backward_data",
                   "depthwise_conv2d_backward_filter"});
#if defined(NABI_WITH_CUDA)
  cm.def("depthwise_conv2d_forward", &cuda_forward, py::arg("x"), py::arg("w"),
         py::arg("strides"), py::arg("dilations"), py::arg("padding"), kDoc[0]);
  cm.def("depthwise_conv2d_backward_data", &cuda_backward_data, py::arg("grad_y"), py::arg("w"),
         py::arg("input_shape"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
         kDoc[1]);
  cm.def("depthwise_conv2d_backward_filter", &cuda_backward_filter, py::arg("grad_y"),
         py::arg("x"), py::arg("filter_shape"), py::arg("strides"), py::arg("dilations"),
         py::arg("padding"), kDoc[2]);
#else
  def_unavailable(cm, {"depthwise_conv2d_forward", "depthwise_conv2d_backward_data",
                       "depthwise_conv2d_backward_filter"});
#endif
}
