// Pooling bindings (NHWC):
//   max_pool2d_forward(x, ksize=(kh, kw), strides=(sh, sw), padding=(t, b, l, r),
//                      with_argmax=True, index_dtype="int32"|"int64") -> (y, argmax_or_None)
//       argmax: flattened index n*H*W*C + (h*W + w)*C + c of the (first) maximum
//   max_pool2d_backward(grad_y, argmax, input_shape, ksize=None, strides=None, padding=None)
//       -> dx; with the window given, non-overlapping windows take the write-once kernel
//   Large outputs (dx, y, argmax) come from a small per-op cache of arrays that nothing else
//   references any more (fresh multi-MB arrays cost a page fault per 4 KiB page each call).
//   avg_pool2d_forward(x, ksize, strides, padding) -> y   (divides by the valid count)
//   avg_pool2d_backward(grad_y, input_shape, ksize, strides, padding) -> dx
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/recycler.h"
#include "bindings/registry.h"
#include "cpu/pooling.h"

namespace py = pybind11;
using namespace nabi;

namespace {

using nabi::Recycler;

Recycler& dx_cache() {
  static Recycler* r = new Recycler();
  return *r;
}

cpu::Pool2dShape make_shape(const std::string& op, const std::vector<int64_t>& in_shape,
                            const std::vector<int64_t>& ksize,
                            const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& padding) {
  if (in_shape.size() != 4)
    value_error(op, "input must be 4-D (N, H, W, C), got shape " + shape_str(in_shape));
  if (ksize.size() != 2 || strides.size() != 2 || padding.size() != 4)
    value_error(op, "ksize and strides need 2 values, padding 4 (top, bottom, left, right)");
  for (int64_t d : in_shape)
    if (d < 0) value_error(op, "input shape must be >= 0, got " + shape_str(in_shape));
  check_geometry(op, "input shape", in_shape);
  check_geometry(op, "ksize", ksize);
  check_geometry(op, "strides", strides);
  check_geometry(op, "padding", padding);
  if (ksize[0] < 1 || ksize[1] < 1)
    value_error(op, "window must be >= 1, got " + shape_str(ksize));
  if (strides[0] < 1 || strides[1] < 1)
    value_error(op, "strides must be >= 1, got " + shape_str(strides));
  for (int64_t p : padding)
    if (p < 0) value_error(op, "padding must be >= 0, got " + shape_str(padding));
  cpu::Pool2dShape s;
  s.N = in_shape[0];
  s.H = in_shape[1];
  s.W = in_shape[2];
  s.C = in_shape[3];
  s.KH = ksize[0];
  s.KW = ksize[1];
  s.sh = strides[0];
  s.sw = strides[1];
  s.pt = padding[0];
  s.pl = padding[2];
  const int64_t ph = s.H + padding[0] + padding[1], pw = s.W + padding[2] + padding[3];
  if (s.KH > ph || s.KW > pw)
    value_error(op, "window " + shape_str(ksize) + " is larger than the padded input " +
                        std::to_string(ph) + "x" + std::to_string(pw));
  s.OH = (ph - s.KH) / s.sh + 1;
  s.OW = (pw - s.KW) / s.sw + 1;
  check_numel(op, "input", in_shape);
  check_numel(op, "output", {s.N, s.OH, s.OW, s.C});
  return s;
}

std::vector<int64_t> shape64(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

std::vector<py::ssize_t> out_shape(const cpu::Pool2dShape& s) { return {s.N, s.OH, s.OW, s.C}; }

void check_grad(const std::string& op, const py::array& g, const cpu::Pool2dShape& s) {
  check_float(op, g, "grad_y");
  if (g.ndim() != 4 || g.shape(0) != s.N || g.shape(1) != s.OH || g.shape(2) != s.OW ||
      g.shape(3) != s.C)
    value_error(op, "grad_y " + shape_str(g) + " does not match the output shape " +
                        shape_str(std::vector<int64_t>{s.N, s.OH, s.OW, s.C}));
}

template <typename F>
void dispatch(const py::array& x, F&& f) {
  if (is_float32(x))
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<double*>(nullptr));
}

py::tuple max_forward(py::array x, std::vector<int64_t> ksize, std::vector<int64_t> strides,
                      std::vector<int64_t> padding, bool with_argmax,
                      const std::string& index_dtype) {
  const std::string op = "max_pool2d";
  check_float(op, x, "input");
  cpu::Pool2dShape s = make_shape(op, shape64(x), ksize, strides, padding);
  if (index_dtype != "int32" && index_dtype != "int64")
    value_error(op, "index_dtype must be 'int32' or 'int64', got '" + index_dtype + "'");
  const bool i64 = index_dtype == "int64";
  if (!i64 && with_argmax && s.N * s.H * s.W * s.C > 2147483647LL)
    value_error(op, "input too large for int32 argmax indices; use index_dtype='int64'");
  py::array y(x.dtype(), out_shape(s));
  py::object idx_out = py::none();
  py::array idx;
  if (with_argmax) {
    idx = i64 ? py::array(py::dtype::of<int64_t>(), out_shape(s))
              : py::array(py::dtype::of<int32_t>(), out_shape(s));
    idx_out = idx;
  }
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    T* yp = static_cast<T*>(y.mutable_data());
    void* ip = with_argmax ? idx.mutable_data() : nullptr;
    py::gil_scoped_release nogil;
    if (i64)
      cpu::max_pool_forward<T, int64_t>(s, xp, yp, static_cast<int64_t*>(ip));
    else
      cpu::max_pool_forward<T, int32_t>(s, xp, yp, static_cast<int32_t*>(ip));
  });
  return py::make_tuple(y, idx_out);
}

py::array max_backward(py::array g, py::array idx, std::vector<int64_t> input_shape,
                       std::optional<std::vector<int64_t>> ksize,
                       std::optional<std::vector<int64_t>> strides,
                       std::optional<std::vector<int64_t>> padding) {
  const std::string op = "max_pool2d";
  check_float(op, g, "grad_y");
  if (input_shape.size() != 4)
    value_error(op, "input_shape must have 4 values, got " + shape_str(input_shape));
  for (int64_t d : input_shape)
    if (d < 0) value_error(op, "input_shape must be >= 0, got " + shape_str(input_shape));
  check_geometry(op, "input_shape", input_shape);
  check_numel(op, "input_shape", input_shape);
  const bool i64 = has_dtype<int64_t>(idx);
  if (!i64 && !has_dtype<int32_t>(idx))
    type_error(op, std::string("argmax must be int32 or int64, got ") + dtype_name(idx));
  if (!(idx.flags() & py::array::c_style)) value_error(op, "argmax must be C-contiguous");
  if (reinterpret_cast<uintptr_t>(idx.data()) % static_cast<uintptr_t>(idx.itemsize()))
    value_error(op, "argmax " + shape_str(idx) + " is not aligned to its element size");
  check_same_shape(op, g, "grad_y", idx, "argmax");
  if (g.ndim() != 4 || g.shape(0) != input_shape[0] || g.shape(3) != input_shape[3])
    value_error(op, "grad_y " + shape_str(g) + " does not match input_shape " +
                        shape_str(input_shape));
  cpu::Pool2dShape s{};
  bool disjoint = false;
  if (ksize && strides && padding) {
    s = make_shape(op, input_shape, *ksize, *strides, *padding);
    check_grad(op, g, s);
    disjoint = s.sh >= s.KH && s.sw >= s.KW;
  } else if (ksize || strides || padding) {
    value_error(op, "give all of ksize, strides and padding, or none");
  }
  s.N = input_shape[0];
  s.H = input_shape[1];
  s.W = input_shape[2];
  s.C = input_shape[3];
  s.OH = g.shape(1);
  s.OW = g.shape(2);
  py::array dx = dx_cache().get(g.dtype(), std::vector<py::ssize_t>(input_shape.begin(),
                                                                    input_shape.end()));
  dispatch(g, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(g.data());
    T* dp = static_cast<T*>(dx.mutable_data());
    const void* ip = idx.data();
    py::gil_scoped_release nogil;
    if (disjoint) {
      if (i64)
        cpu::max_pool_backward_disjoint<T, int64_t>(s, gp, static_cast<const int64_t*>(ip), dp);
      else
        cpu::max_pool_backward_disjoint<T, int32_t>(s, gp, static_cast<const int32_t*>(ip), dp);
    } else if (i64) {
      cpu::max_pool_backward<T, int64_t>(s, gp, static_cast<const int64_t*>(ip), dp);
    } else {
      cpu::max_pool_backward<T, int32_t>(s, gp, static_cast<const int32_t*>(ip), dp);
    }
  });
  return dx;
}

py::array avg_forward(py::array x, std::vector<int64_t> ksize, std::vector<int64_t> strides,
                      std::vector<int64_t> padding) {
  const std::string op = "avg_pool2d";
  check_float(op, x, "input");
  cpu::Pool2dShape s = make_shape(op, shape64(x), ksize, strides, padding);
  py::array y(x.dtype(), out_shape(s));
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::avg_pool_forward<T>(s, xp, yp);
  });
  return y;
}

py::array avg_backward(py::array g, std::vector<int64_t> input_shape, std::vector<int64_t> ksize,
                       std::vector<int64_t> strides, std::vector<int64_t> padding) {
  const std::string op = "avg_pool2d";
  cpu::Pool2dShape s = make_shape(op, input_shape, ksize, strides, padding);
  check_grad(op, g, s);
  py::array dx(g.dtype(), std::vector<py::ssize_t>(input_shape.begin(), input_shape.end()));
  dispatch(g, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = static_cast<const T*>(g.data());
    T* dp = static_cast<T*>(dx.mutable_data());
    py::gil_scoped_release nogil;
    cpu::avg_pool_backward<T>(s, gp, dp);
  });
  return dx;
}
}  // namespace

NABI_BINDINGS(bind_pooling) {
  m.def("max_pool2d_forward", &max_forward, py::arg("x"), py::arg("ksize"), py::arg("strides"),
        py::arg("padding"), py::arg("with_argmax") = true, py::arg("index_dtype") = "int32",
        "(y, argmax_or_None) of NHWC max pooling; padding (t, b, l, r)");
  m.def("max_pool2d_backward", &max_backward, py::arg("grad_y"), py::arg("argmax"),
        py::arg("input_shape"), py::arg("ksize") = py::none(), py::arg("strides") = py::none(),
        py::arg("padding") = py::none(), "dx: grad_y scattered to the argmax positions");
  m.def("avg_pool2d_forward", &avg_forward, py::arg("x"), py::arg("ksize"), py::arg("strides"),
        py::arg("padding"), "NHWC average pooling over the valid (non-padding) elements");
  m.def("avg_pool2d_backward", &avg_backward, py::arg("grad_y"), py::arg("input_shape"),
        py::arg("ksize"), py::arg("strides"), py::arg("padding"), "dx of avg_pool2d_forward");
}
