// nabi._C.cuda_backend: conv2d, pooling and batch-norm kernels on DeviceBuffers. The same
// Python names, argument names, defaults, return structures, semantics and error messages as
// the CPU functions of nabi._C (csrc/bindings/bind_conv2d.cpp, bind_pooling.cpp,
// bind_batchnorm.cpp), with DeviceBuffers in place of NumPy arrays; every result is a new
// DeviceBuffer (None where the CPU returns None):
//
//   conv2d_forward(x, w, b, strides, dilations, padding, relu=False) -> y (N, OH, OW, CO)
//       x NHWC, w HWIO, b (CO,) or None, padding (top, bottom, left, right)
//   conv2d_backward(grad_y, x, w, y, strides, dilations, padding, need_dx, need_dw, need_db)
//       -> (dx_or_None, dw_or_None, db_or_None); y (or None): the forward output of a fused
//          ReLU, whose mask (y > 0) is applied to grad_y
//   conv2d_backward_data(grad_y, w, b, input_shape, strides, dilations, padding, relu=False)
//       -> [relu](dx + b) of shape input_shape; b (C_in,) or None (a transposed convolution)
//   max_pool2d_forward(x, ksize, strides, padding, with_argmax=True, index_dtype="int32")
//       -> (y, argmax_or_None); argmax int32/int64 = n*H*W*C + (h*W + w)*C + c of the first
//          maximum (-1 for an empty window), interchangeable with the CPU's
//   max_pool2d_backward(grad_y, argmax, input_shape, ksize=None, strides=None, padding=None)
//       -> dx; with the window given and windows disjoint, the gather kernel
//   avg_pool2d_forward(x, ksize, strides, padding) -> y   (mean over the valid elements)
//   avg_pool2d_backward(grad_y, input_shape, ksize, strides, padding) -> dx
//   batch_norm_forward_train(x, gamma, beta, eps) -> (y, mean, var, inv_std)
//   batch_norm_forward_infer(x, gamma, beta, mean, var, eps) -> y
//   batch_norm_backward(grad_y, x, gamma, mean, inv_std, training) -> (dx, dgamma, dbeta)
//       x of any rank >= 1 viewed as (M, C), C = last axis; gamma/beta may be None
//
// Errors start with the CPU op's name ("[conv2d] ...", "[max_pool2d] ...", "[avg_pool2d] ...",
// "[batch_norm] ...") and are raised before anything is enqueued; a few limits of the CUDA
// kernels (32-bit filter indices, grid sizes) are checked as well. The GIL is released
// around the launches. Builds without CUDA define the same names, which raise RuntimeError
// ("... built without CUDA").
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/nn_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
// ============================ CUDA build ====================================================
using namespace nabi::cudabind;

constexpr int64_t kInt32Max = 2147483647LL;
constexpr int64_t kMaxGridY = 65535LL * 64;  // columns of a conv GEMM (64-wide tiles, grid.y)

// ---- conv2d ----
const char* const kConv = "conv2d";

cuda::ConvDims conv_dims_of(const std::vector<int64_t>& xs, const DeviceBuffer& w,
                            const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& dilations,
                            const std::vector<int64_t>& padding);

cuda::ConvDims conv_dims(const DeviceBuffer& x, const DeviceBuffer& w,
                         const std::vector<int64_t>& strides,
                         const std::vector<int64_t>& dilations,
                         const std::vector<int64_t>& padding) {
  const char* op = kConv;
  if (!is_float(x.dtype()))
    type_error(op, std::string("input must be float32 or float64, got ") +
                       cuda::dtype_str(x.dtype()));
  if (!is_float(w.dtype()))
    type_error(op, std::string("filters must be float32 or float64, got ") +
                       cuda::dtype_str(w.dtype()));
  same_dtype(op, x, "input", w, "filters");
  if (x.ndim() != 4)
    value_error(op, "input must be 4-D (N, H, W, C), got shape " + shape_str(x.shape()));
  return conv_dims_of(x.shape(), w, strides, dilations, padding);
}

// The geometry of a conv2d of an input of shape xs (N, H, W, C) with the filters w.
cuda::ConvDims conv_dims_of(const std::vector<int64_t>& xs, const DeviceBuffer& w,
                            const std::vector<int64_t>& strides,
                            const std::vector<int64_t>& dilations,
                            const std::vector<int64_t>& padding) {
  const char* op = kConv;
  for (int64_t v : xs)
    if (v < 0) value_error(op, "input shape " + shape_str(xs) + " has a negative dimension");
  if (w.ndim() != 4)
    value_error(op, "filters must be 4-D (KH, KW, C_in, C_out), got shape " +
                        shape_str(w.shape()));
  if (strides.size() != 2 || dilations.size() != 2 || padding.size() != 4)
    value_error(op, "strides and dilations need 2 values, padding 4 (top, bottom, left, right)");
  check_geometry(op, "input shape", xs);
  check_geometry(op, "strides", strides);
  check_geometry(op, "dilations", dilations);
  check_geometry(op, "padding", padding);
  if (strides[0] < 1 || strides[1] < 1)
    value_error(op, "strides must be >= 1, got " + shape_str(strides));
  if (dilations[0] < 1 || dilations[1] < 1)
    value_error(op, "dilations must be >= 1, got " + shape_str(dilations));
  for (int64_t p : padding)
    if (p < 0) value_error(op, "padding must be >= 0, got " + shape_str(padding));
  const auto& ws = w.shape();
  if (xs[3] != ws[2])
    value_error(op, "input channels " + std::to_string(xs[3]) + " of input " +
                        shape_str(xs) + " do not match filters " + shape_str(ws));
  cuda::ConvDims d;
  d.N = xs[0];
  d.H = xs[1];
  d.W = xs[2];
  d.C = xs[3];
  d.KH = ws[0];
  d.KW = ws[1];
  d.CO = ws[3];
  d.sh = strides[0];
  d.sw = strides[1];
  d.dh = dilations[0];
  d.dw = dilations[1];
  d.pt = padding[0];
  d.pl = padding[2];
  const int64_t ekh = (d.KH - 1) * d.dh + 1, ekw = (d.KW - 1) * d.dw + 1;
  const int64_t ph = d.H + padding[0] + padding[1], pw = d.W + padding[2] + padding[3];
  if (d.KH < 1 || d.KW < 1 || ekh > ph || ekw > pw)
    value_error(op, "filter " + shape_str(ws) + " (dilated " + std::to_string(ekh) + "x" +
                        std::to_string(ekw) + ") is larger than the padded input " +
                        std::to_string(ph) + "x" + std::to_string(pw));
  d.OH = (ph - ekh) / d.sh + 1;
  d.OW = (pw - ekw) / d.sw + 1;
  check_numel(op, "input", xs);
  check_numel(op, "output", {d.N, d.OH, d.OW, d.CO});
  // Limits of the CUDA kernels: filter indices are decoded in 32 bits, and the channel
  // counts are the GEMM widths (64-wide tiles on grid.y).
  if (d.KH * d.KW * d.C > kInt32Max || d.KH * d.KW * d.CO > kInt32Max)
    value_error(op, "filters " + shape_str(ws) + " are too large for the CUDA kernels (more "
                    "than 2^31 - 1 taps x channels)");
  if (d.C > kMaxGridY || d.CO > kMaxGridY)
    value_error(op, "more than " + std::to_string(kMaxGridY) +
                        " channels are not supported by the CUDA kernels, got filters " +
                        shape_str(ws));
  const int64_t tiles_m = (std::max(d.N * d.OH * d.OW, d.N * d.H * d.W) + 63) / 64;
  if (tiles_m > kInt32Max)
    value_error(op, "input " + shape_str(xs) + " is too large for one CUDA launch");
  return d;
}

std::vector<int64_t> conv_out_shape(const cuda::ConvDims& d) { return {d.N, d.OH, d.OW, d.CO}; }

void check_out_like(const DeviceBuffer& a, const char* name, const DeviceBuffer& x,
                    const cuda::ConvDims& d) {
  if (!is_float(a.dtype()))
    type_error(kConv, std::string(name) + " must be float32 or float64, got " +
                          cuda::dtype_str(a.dtype()));
  same_dtype(kConv, a, name, x, "input");
  if (a.shape() != conv_out_shape(d))
    value_error(kConv, std::string(name) + " " + shape_str(a.shape()) +
                           " does not match the output shape " + shape_str(conv_out_shape(d)));
}

Buf conv2d_forward(const Buf& xb, const Buf& wb, const Buf& bb, std::vector<int64_t> strides,
                   std::vector<int64_t> dilations, std::vector<int64_t> padding, bool relu) {
  const DeviceBuffer& x = need(kConv, xb, "input");
  const DeviceBuffer& w = need(kConv, wb, "filters");
  const cuda::ConvDims d = conv_dims(x, w, strides, dilations, padding);
  if (bb) {
    const DeviceBuffer& b = *bb;
    if (!is_float(b.dtype()))
      type_error(kConv, std::string("bias must be float32 or float64, got ") +
                            cuda::dtype_str(b.dtype()));
    same_dtype(kConv, b, "bias", x, "input");
    if (b.ndim() != 1 || b.shape()[0] != d.CO)
      value_error(kConv, "bias " + shape_str(b.shape()) + " does not match filters " +
                             shape_str(w.shape()));
  }
  Buf y = make_buffer(conv_out_shape(d), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* bp = bb ? bb->ptr<T>() : nullptr;
    py::gil_scoped_release nogil;
    cuda::conv2d_forward<T>(d, x.ptr<T>(), w.ptr<T>(), bp, relu, y->ptr<T>());
  });
  return y;
}

py::tuple conv2d_backward(const Buf& gb, const Buf& xb, const Buf& wb, const Buf& yb,
                          std::vector<int64_t> strides, std::vector<int64_t> dilations,
                          std::vector<int64_t> padding, bool need_dx, bool need_dw,
                          bool need_db) {
  const DeviceBuffer& x = need(kConv, xb, "input");
  const DeviceBuffer& w = need(kConv, wb, "filters");
  const cuda::ConvDims d = conv_dims(x, w, strides, dilations, padding);
  const DeviceBuffer& g = need(kConv, gb, "grad_y");
  check_out_like(g, "grad_y", x, d);
  if (yb) check_out_like(*yb, "y", x, d);
  Buf dx, dw, db;
  if (need_dx) dx = make_buffer(x.shape(), x.dtype());
  if (need_dw) dw = make_buffer(w.shape(), x.dtype());
  if (need_db) db = make_buffer({d.CO}, x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* yp = yb ? yb->ptr<T>() : nullptr;
    T* dxp = dx ? dx->ptr<T>() : nullptr;
    T* dwp = dw ? dw->ptr<T>() : nullptr;
    T* dbp = db ? db->ptr<T>() : nullptr;
    py::gil_scoped_release nogil;
    cuda::conv2d_backward<T>(d, x.ptr<T>(), w.ptr<T>(), g.ptr<T>(), yp, dxp, dwp, dbp);
  });
  auto obj = [](const Buf& b) -> py::object { return b ? py::cast(b) : py::none(); };
  return py::make_tuple(obj(dx), obj(dw), obj(db));
}

Buf conv2d_backward_data(const Buf& gb, const Buf& wb, const Buf& bb,
                         std::vector<int64_t> input_shape, std::vector<int64_t> strides,
                         std::vector<int64_t> dilations, std::vector<int64_t> padding,
                         bool relu) {
  const DeviceBuffer& g = need(kConv, gb, "grad_y");
  const DeviceBuffer& w = need(kConv, wb, "filters");
  if (!is_float(g.dtype()))
    type_error(kConv, std::string("grad_y must be float32 or float64, got ") +
                          cuda::dtype_str(g.dtype()));
  if (!is_float(w.dtype()))
    type_error(kConv, std::string("filters must be float32 or float64, got ") +
                          cuda::dtype_str(w.dtype()));
  same_dtype(kConv, g, "grad_y", w, "filters");
  if (input_shape.size() != 4)
    value_error(kConv, "input_shape must have 4 values (N, H, W, C), got " +
                           shape_str(input_shape));
  const cuda::ConvDims d = conv_dims_of(input_shape, w, strides, dilations, padding);
  if (g.shape() != conv_out_shape(d))
    value_error(kConv, "grad_y " + shape_str(g.shape()) + " does not match the output shape " +
                           shape_str(conv_out_shape(d)) + " of input " +
                           shape_str(input_shape) + " and filters " + shape_str(w.shape()));
  if (bb) {
    const DeviceBuffer& b = *bb;
    if (!is_float(b.dtype()))
      type_error(kConv, std::string("bias must be float32 or float64, got ") +
                            cuda::dtype_str(b.dtype()));
    same_dtype(kConv, b, "bias", g, "grad_y");
    if (b.ndim() != 1 || b.shape()[0] != d.C)
      value_error(kConv, "bias " + shape_str(b.shape()) + " does not match filters " +
                             shape_str(w.shape()) + " (it needs " + std::to_string(d.C) +
                             " values)");
  }
  Buf dx = make_buffer(input_shape, g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* bp = bb ? bb->ptr<T>() : nullptr;
    py::gil_scoped_release nogil;
    cuda::conv2d_backward_data<T>(d, w.ptr<T>(), g.ptr<T>(), bp, relu, dx->ptr<T>());
  });
  return dx;
}

// ---- pooling ----
cuda::PoolDims pool_dims(const std::string& op, const std::vector<int64_t>& in_shape,
                         const std::vector<int64_t>& ksize, const std::vector<int64_t>& strides,
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
  cuda::PoolDims s;
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

std::vector<int64_t> pool_out_shape(const cuda::PoolDims& s) { return {s.N, s.OH, s.OW, s.C}; }

void check_pool_grad(const std::string& op, const DeviceBuffer& g, const cuda::PoolDims& s) {
  if (!is_float(g.dtype()))
    type_error(op, std::string("grad_y must be float32 or float64, got ") +
                       cuda::dtype_str(g.dtype()));
  if (g.shape() != pool_out_shape(s))
    value_error(op, "grad_y " + shape_str(g.shape()) + " does not match the output shape " +
                        shape_str(pool_out_shape(s)));
}

void check_input_shape(const std::string& op, const std::vector<int64_t>& input_shape) {
  if (input_shape.size() != 4)
    value_error(op, "input_shape must have 4 values, got " + shape_str(input_shape));
  for (int64_t v : input_shape)
    if (v < 0) value_error(op, "input_shape must be >= 0, got " + shape_str(input_shape));
  check_geometry(op, "input_shape", input_shape);
  check_numel(op, "input_shape", input_shape);
}

py::tuple max_pool2d_forward(const Buf& xb, std::vector<int64_t> ksize,
                             std::vector<int64_t> strides, std::vector<int64_t> padding,
                             bool with_argmax, const std::string& index_dtype) {
  const std::string op = "max_pool2d";
  const DeviceBuffer& x = need_float(op.c_str(), xb, "input");
  const cuda::PoolDims s = pool_dims(op, x.shape(), ksize, strides, padding);
  if (index_dtype != "int32" && index_dtype != "int64")
    value_error(op, "index_dtype must be 'int32' or 'int64', got '" + index_dtype + "'");
  const bool i64 = index_dtype == "int64";
  if (!i64 && with_argmax && s.N * s.H * s.W * s.C > kInt32Max)
    value_error(op, "input too large for int32 argmax indices; use index_dtype='int64'");
  Buf y = make_buffer(pool_out_shape(s), x.dtype());
  Buf idx;
  if (with_argmax) idx = make_buffer(pool_out_shape(s), i64 ? DType::Int64 : DType::Int32);
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    if (i64)
      cuda::max_pool2d_forward<T, int64_t>(s, x.ptr<T>(), y->ptr<T>(),
                                           idx ? idx->ptr<int64_t>() : nullptr);
    else
      cuda::max_pool2d_forward<T, int32_t>(s, x.ptr<T>(), y->ptr<T>(),
                                           idx ? idx->ptr<int32_t>() : nullptr);
  });
  return py::make_tuple(y, idx ? py::cast(idx) : py::none());
}

Buf max_pool2d_backward(const Buf& gb, const Buf& ib, std::vector<int64_t> input_shape,
                        std::optional<std::vector<int64_t>> ksize,
                        std::optional<std::vector<int64_t>> strides,
                        std::optional<std::vector<int64_t>> padding) {
  const std::string op = "max_pool2d";
  const DeviceBuffer& g = need_float(op.c_str(), gb, "grad_y");
  check_input_shape(op, input_shape);
  const DeviceBuffer& idx = need(op.c_str(), ib, "argmax");
  const bool i64 = idx.dtype() == DType::Int64;
  if (!i64 && idx.dtype() != DType::Int32)
    type_error(op, std::string("argmax must be int32 or int64, got ") +
                       cuda::dtype_str(idx.dtype()));
  same_shape(op.c_str(), g, "grad_y", idx, "argmax");
  if (g.ndim() != 4 || g.shape()[0] != input_shape[0] || g.shape()[3] != input_shape[3])
    value_error(op, "grad_y " + shape_str(g.shape()) + " does not match input_shape " +
                        shape_str(input_shape));
  cuda::PoolDims s{};
  bool disjoint = false;
  if (ksize && strides && padding) {
    s = pool_dims(op, input_shape, *ksize, *strides, *padding);
    check_pool_grad(op, g, s);
    disjoint = s.sh >= s.KH && s.sw >= s.KW;
  } else if (ksize || strides || padding) {
    value_error(op, "give all of ksize, strides and padding, or none");
  }
  s.N = input_shape[0];
  s.H = input_shape[1];
  s.W = input_shape[2];
  s.C = input_shape[3];
  s.OH = g.shape()[1];
  s.OW = g.shape()[2];
  Buf dx = make_buffer(input_shape, g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    if (disjoint) {
      if (i64)
        cuda::max_pool2d_backward_disjoint<T, int64_t>(s, g.ptr<T>(), idx.ptr<int64_t>(),
                                                       dx->ptr<T>());
      else
        cuda::max_pool2d_backward_disjoint<T, int32_t>(s, g.ptr<T>(), idx.ptr<int32_t>(),
                                                       dx->ptr<T>());
    } else if (i64) {
      cuda::max_pool2d_backward<T, int64_t>(s, g.ptr<T>(), idx.ptr<int64_t>(), dx->ptr<T>());
    } else {
      cuda::max_pool2d_backward<T, int32_t>(s, g.ptr<T>(), idx.ptr<int32_t>(), dx->ptr<T>());
    }
  });
  return dx;
}

Buf avg_pool2d_forward(const Buf& xb, std::vector<int64_t> ksize, std::vector<int64_t> strides,
                       std::vector<int64_t> padding) {
  const std::string op = "avg_pool2d";
  const DeviceBuffer& x = need_float(op.c_str(), xb, "input");
  const cuda::PoolDims s = pool_dims(op, x.shape(), ksize, strides, padding);
  Buf y = make_buffer(pool_out_shape(s), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::avg_pool2d_forward<T>(s, x.ptr<T>(), y->ptr<T>());
  });
  return y;
}

Buf avg_pool2d_backward(const Buf& gb, std::vector<int64_t> input_shape,
                        std::vector<int64_t> ksize, std::vector<int64_t> strides,
                        std::vector<int64_t> padding) {
  const std::string op = "avg_pool2d";
  const cuda::PoolDims s = pool_dims(op, input_shape, ksize, strides, padding);
  check_input_shape(op, input_shape);
  const DeviceBuffer& g = need(op.c_str(), gb, "grad_y");
  check_pool_grad(op, g, s);
  Buf dx = make_buffer(input_shape, g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::avg_pool2d_backward<T>(s, g.ptr<T>(), dx->ptr<T>());
  });
  return dx;
}

// ---- batch norm ----
const char* const kBn = "batch_norm";

int64_t bn_check_x(const DeviceBuffer& x, int64_t* M) {
  if (!is_float(x.dtype()))
    type_error(kBn, std::string("x must be float32 or float64, got ") +
                        cuda::dtype_str(x.dtype()));
  if (x.ndim() < 1) value_error(kBn, "x must have rank >= 1, got a scalar");
  const int64_t C = x.shape().back();
  *M = C > 0 ? x.numel() / C : 0;
  return C;
}

// gamma, beta, mean, var, inv_std: absent (null) or a (C,) buffer of x's dtype.
void bn_check_vec(const Buf& b, const char* name, const DeviceBuffer& x, int64_t C) {
  if (!b) return;
  if (!is_float(b->dtype()))
    type_error(kBn, std::string(name) + " must be float32 or float64, got " +
                        cuda::dtype_str(b->dtype()));
  same_dtype(kBn, *b, name, x, "x");
  if (b->ndim() != 1 || b->shape()[0] != C)
    value_error(kBn, std::string(name) + " " + shape_str(b->shape()) + " must have shape (" +
                         std::to_string(C) + ",) for x " + shape_str(x.shape()));
}

template <typename T>
const T* opt_ptr(const Buf& b) {
  return b ? b->ptr<T>() : nullptr;
}

py::tuple batch_norm_forward_train(const Buf& xb, const Buf& gb, const Buf& bb, double eps) {
  const DeviceBuffer& x = need(kBn, xb, "x");
  int64_t M;
  const int64_t C = bn_check_x(x, &M);
  bn_check_vec(gb, "gamma", x, C);
  bn_check_vec(bb, "beta", x, C);
  Buf y = make_buffer(x.shape(), x.dtype());
  Buf mean = make_buffer({C}, x.dtype()), var = make_buffer({C}, x.dtype()),
      inv = make_buffer({C}, x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = opt_ptr<T>(gb);
    const T* bp = opt_ptr<T>(bb);
    py::gil_scoped_release nogil;
    cuda::batch_norm_forward_train<T>(x.ptr<T>(), gp, bp, eps, M, C, y->ptr<T>(),
                                      mean->ptr<T>(), var->ptr<T>(), inv->ptr<T>());
  });
  return py::make_tuple(y, mean, var, inv);
}

Buf batch_norm_forward_infer(const Buf& xb, const Buf& gb, const Buf& bb, const Buf& mb,
                             const Buf& vb, double eps) {
  const DeviceBuffer& x = need(kBn, xb, "x");
  int64_t M;
  const int64_t C = bn_check_x(x, &M);
  bn_check_vec(gb, "gamma", x, C);
  bn_check_vec(bb, "beta", x, C);
  need(kBn, mb, "mean");
  bn_check_vec(mb, "mean", x, C);
  need(kBn, vb, "variance");
  bn_check_vec(vb, "variance", x, C);
  Buf y = make_buffer(x.shape(), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = opt_ptr<T>(gb);
    const T* bp = opt_ptr<T>(bb);
    py::gil_scoped_release nogil;
    cuda::batch_norm_forward_infer<T>(x.ptr<T>(), gp, bp, mb->ptr<T>(), vb->ptr<T>(), eps, M, C,
                                      y->ptr<T>());
  });
  return y;
}

py::tuple batch_norm_backward(const Buf& dyb, const Buf& xb, const Buf& gb, const Buf& mb,
                              const Buf& ib, bool training) {
  const DeviceBuffer& x = need(kBn, xb, "x");
  int64_t M;
  const int64_t C = bn_check_x(x, &M);
  const DeviceBuffer& dy = need(kBn, dyb, "grad_y");
  if (!is_float(dy.dtype()))
    type_error(kBn, std::string("grad_y must be float32 or float64, got ") +
                        cuda::dtype_str(dy.dtype()));
  same_dtype(kBn, dy, "grad_y", x, "x");
  same_shape(kBn, dy, "grad_y", x, "x");
  bn_check_vec(gb, "gamma", x, C);
  need(kBn, mb, "mean");
  bn_check_vec(mb, "mean", x, C);
  need(kBn, ib, "inv_std");
  bn_check_vec(ib, "inv_std", x, C);
  Buf dx = make_buffer(x.shape(), x.dtype());
  Buf dg = make_buffer({C}, x.dtype()), db = make_buffer({C}, x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* gp = opt_ptr<T>(gb);
    py::gil_scoped_release nogil;
    cuda::batch_norm_backward<T>(dy.ptr<T>(), x.ptr<T>(), gp, mb->ptr<T>(), ib->ptr<T>(),
                                 training, M, C, dx->ptr<T>(), dg->ptr<T>(), db->ptr<T>());
  });
  return py::make_tuple(dx, dg, db);
}

void bind_impl(py::module_& cm) {
  cm.def("conv2d_forward", &conv2d_forward, py::arg("x"), py::arg("w"), py::arg("b"),
         py::arg("strides"), py::arg("dilations"), py::arg("padding"), py::arg("relu") = false,
         "NHWC x HWIO convolution with optional fused bias and ReLU; padding (t, b, l, r)");
  cm.def("conv2d_backward", &conv2d_backward, py::arg("grad_y"), py::arg("x"), py::arg("w"),
         py::arg("y"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
         py::arg("need_dx"), py::arg("need_dw"), py::arg("need_db"),
         "(dx, dw, db) of conv2d_forward (each None unless asked for); y masks a fused ReLU");
  cm.def("conv2d_backward_data", &conv2d_backward_data, py::arg("grad_y"), py::arg("w"),
         py::arg("b"), py::arg("input_shape"), py::arg("strides"), py::arg("dilations"),
         py::arg("padding"), py::arg("relu") = false,
         "[relu](dx + b) of conv2d_forward for an input of input_shape: a transposed "
         "convolution with a fused (C_in,) bias and ReLU");
  cm.def("max_pool2d_forward", &max_pool2d_forward, py::arg("x"), py::arg("ksize"),
         py::arg("strides"), py::arg("padding"), py::arg("with_argmax") = true,
         py::arg("index_dtype") = "int32",
         "(y, argmax_or_None) of NHWC max pooling; padding (t, b, l, r)");
  cm.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_y"), py::arg("argmax"),
         py::arg("input_shape"), py::arg("ksize") = py::none(), py::arg("strides") = py::none(),
         py::arg("padding") = py::none(), "dx: grad_y scattered to the argmax positions");
  cm.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("x"), py::arg("ksize"),
         py::arg("strides"), py::arg("padding"),
         "NHWC average pooling over the valid (non-padding) elements");
  cm.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_y"), py::arg("input_shape"),
         py::arg("ksize"), py::arg("strides"), py::arg("padding"), "dx of avg_pool2d_forward");
  cm.def("batch_norm_forward_train", &batch_norm_forward_train, py::arg("x"), py::arg("gamma"),
         py::arg("beta"), py::arg("eps"),
         "(y, mean, var, inv_std): batch statistics over all axes but the last");
  cm.def("batch_norm_forward_infer", &batch_norm_forward_infer, py::arg("x"), py::arg("gamma"),
         py::arg("beta"), py::arg("mean"), py::arg("var"), py::arg("eps"),
         "y = (x - mean) / sqrt(var + eps) * gamma + beta, channels last");
  cm.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_y"), py::arg("x"),
         py::arg("gamma"), py::arg("mean"), py::arg("inv_std"), py::arg("training"),
         "(dx, dgamma, dbeta)");
}

#else
// ============================ build without CUDA ==========================================
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"conv2d_forward", "conv2d_backward", "conv2d_backward_data",
                       "max_pool2d_forward",
                       "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
                       "batch_norm_forward_train", "batch_norm_forward_infer",
                       "batch_norm_backward"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_nn) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"conv2d_forward", "conv2d_backward", "conv2d_backward_data",
                   "max_pool2d_forward",
                   "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
                   "batch_norm_forward_train", "batch_norm_forward_infer",
                   "batch_norm_backward"});
  bind_impl(cm);
}
