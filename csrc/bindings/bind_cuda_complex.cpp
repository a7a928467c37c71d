// nabi._C.cuda_backend: complex64 / complex128 kernels on DeviceBuffers (csrc/cuda/complex.cu,
// csrc/cuda/fft.cu; semantics in csrc/cuda/complex_launchers.h).
//
//   complex_unary(op, x)           x complex: 'real', 'imag', 'abs', 'angle' (the part dtype),
//                                  'conj', 'neg', 'exp', 'expm1', 'log', 'log1p', 'sqrt',
//                                  'square', 'reciprocal', 'sign', 'sin', 'cos', 'tan', 'sinh',
//                                  'cosh', 'tanh', 'asin', 'acos', 'atan', 'asinh', 'acosh',
//                                  'atanh' (x's dtype)
//   complex_binary(op, a, b)       NumPy broadcasting: 'add', 'sub', 'mul', 'div', 'pow' on
//                                  complex a, b of one dtype; 'make' on float a (re), b (im) of
//                                  one dtype -> complex (tf.complex)
//   complex_prod(x, axis)          the product of x along one axis (reduce_prod), NumPy's
//                                  order; 1 over an empty axis
//   fft_c2c(x, inverse, scale)     x (..., n) complex: the DFT of each innermost row (inverse:
//                                  exp(+...), unscaled), times scale
//   fft_hermitian(x, n)            x (..., m) complex: (..., n), the Hermitian completion of
//                                  x's first n // 2 + 1 bins (zero-padded), as irfft reads them
//
// Arguments are checked here before anything is enqueued ("[fft_c2c] ..." errors naming the
// shapes and dtypes); the GIL is released around the launches. Builds without CUDA define the
// same names, raising RuntimeError.
#include <cstdint>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "bindings/nd_shapes.h"
#include "cuda/allocator.h"
#include "cuda/complex_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;

const DeviceBuffer& need_complex(const char* op, const Buf& b, const char* name) {
  const DeviceBuffer& r = need(op, b, name);
  if (!cuda::is_complex_dtype(r.dtype()))
    type_error(op, std::string(name) + " must be complex64 or complex128, got " +
                       cuda::dtype_str(r.dtype()) + " of shape " + shape_str(r.shape()));
  check_rank(op, r.shape(), name);
  return r;
}

Buf complex_unary(const std::string& name, const Buf& xb) {
  const char* op = "complex_unary";
  using U = nd::ComplexUnaryOp;
  U u;
  if (name == "real") u = U::Real;
  else if (name == "imag") u = U::Imag;
  else if (name == "abs") u = U::Abs;
  else if (name == "angle") u = U::Angle;
  else if (name == "conj") u = U::Conj;
  else if (name == "neg") u = U::Neg;
  else if (name == "exp") u = U::Exp;
  else if (name == "expm1") u = U::Expm1;
  else if (name == "log") u = U::Log;
  else if (name == "log1p") u = U::Log1p;
  else if (name == "sqrt") u = U::Sqrt;
  else if (name == "square") u = U::Square;
  else if (name == "reciprocal") u = U::Reciprocal;
  else if (name == "sign") u = U::Sign;
  else if (name == "sin") u = U::Sin;
  else if (name == "cos") u = U::Cos;
  else if (name == "tan") u = U::Tan;
  else if (name == "sinh") u = U::Sinh;
  else if (name == "cosh") u = U::Cosh;
  else if (name == "tanh") u = U::Tanh;
  else if (name == "asin") u = U::Asin;
  else if (name == "acos") u = U::Acos;
  else if (name == "atan") u = U::Atan;
  else if (name == "asinh") u = U::Asinh;
  else if (name == "acosh") u = U::Acosh;
  else if (name == "atanh") u = U::Atanh;
  else value_error(op, "unknown op '" + name + "' (real, imag, abs, angle, conj, neg, exp, "
                       "expm1, log, log1p, sqrt, square, reciprocal, sign, sin, cos, tan, "
                       "sinh, cosh, tanh, asin, acos, atan, asinh, acosh, atanh)");
  const DeviceBuffer& x = need_complex(op, xb, "x");
  const bool same = u >= U::Conj;
  Buf y = make_buffer(x.shape(), same ? x.dtype() : nd::complex_part_dtype(x.dtype()));
  {
    py::gil_scoped_release nogil;
    nd::complex_unary(u, x.dtype(), x.data(), y->data(), x.numel());
  }
  return y;
}

Buf complex_binary(const std::string& name, const Buf& ab, const Buf& bb) {
  const char* op = "complex_binary";
  using B = nd::ComplexBinaryOp;
  B o;
  if (name == "add") o = B::Add;
  else if (name == "sub") o = B::Sub;
  else if (name == "mul") o = B::Mul;
  else if (name == "div") o = B::Div;
  else if (name == "pow") o = B::Pow;
  else if (name == "make") o = B::Make;
  else value_error(op, "unknown op '" + name + "' (add, sub, mul, div, pow, make)");
  const DeviceBuffer& a = need(op, ab, "a");
  const DeviceBuffer& b = need(op, bb, "b");
  check_rank(op, a.shape(), "a");
  check_rank(op, b.shape(), "b");
  same_dtype(op, a, "a", b, "b");
  if (o == B::Make ? !is_float(a.dtype()) : !cuda::is_complex_dtype(a.dtype()))
    type_error(op, "'" + name + "' needs operands of " +
                       (o == B::Make ? "float32 or float64" : "complex64 or complex128") +
                       ", got " + cuda::dtype_str(a.dtype()) + " " + shape_str(a.shape()) +
                       " and " + shape_str(b.shape()));
  Shape out;
  if (!broadcast_shapes({&a.shape(), &b.shape()}, &out))
    value_error(op, "shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                        " are not broadcastable");
  const DType yd = o == B::Make ? nd::complex_of_dtype(a.dtype()) : a.dtype();
  Buf y = make_buffer(op, out, yd);
  const Shape as = broadcast_strides(a.shape(), out), bs = broadcast_strides(b.shape(), out);
  {
    py::gil_scoped_release nogil;
    nd::complex_binary(o, yd, a.data(), as, b.data(), bs, y->data(), out);
  }
  return y;
}

Buf complex_prod(const Buf& xb, int64_t axis) {
  const char* op = "complex_prod";
  const DeviceBuffer& x = need_complex(op, xb, "x");
  const int64_t nd = x.ndim();
  if (axis < -nd || axis >= nd || nd == 0)
    value_error(op, "axis " + std::to_string(axis) + " is out of range for x " +
                        shape_str(x.shape()));
  if (axis < 0) axis += nd;
  int64_t outer = 1, inner = 1;
  Shape out;
  for (int64_t d = 0; d < nd; ++d) {
    if (d < axis) outer *= x.shape()[d];
    if (d > axis) inner *= x.shape()[d];
    if (d != axis) out.push_back(x.shape()[d]);
  }
  Buf y = make_buffer(op, out, x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::complex_prod(x.dtype(), x.data(), outer, x.shape()[axis], inner, y->data());
  }
  return y;
}

// Rows of the innermost axis: (batch, n).
void rows_of(const DeviceBuffer& x, int64_t* batch, int64_t* n) {
  *n = x.ndim() ? x.shape().back() : 1;
  *batch = *n ? x.numel() / *n : 0;
}

Buf fft_c2c(const Buf& xb, bool inverse, double scale) {
  const char* op = "fft_c2c";
  const DeviceBuffer& x = need_complex(op, xb, "x");
  if (x.ndim() < 1)
    value_error(op, "x must have rank >= 1 (..., n), got a scalar");
  int64_t batch, n;
  rows_of(x, &batch, &n);
  if (n >= (int64_t{1} << 31))
    value_error(op, "rows of length " + std::to_string(n) + " (x " + shape_str(x.shape()) +
                        ") are too long (< 2^31)");
  Buf y = make_buffer(x.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::fft_c2c(x.dtype(), x.data(), batch, n, inverse, scale, y->data());
  }
  return y;
}

Buf fft_hermitian(const Buf& xb, int64_t n) {
  const char* op = "fft_hermitian";
  const DeviceBuffer& x = need_complex(op, xb, "x");
  if (x.ndim() < 1)
    value_error(op, "x must have rank >= 1 (..., m), got a scalar");
  if (n < 0) value_error(op, "n must be >= 0, got " + std::to_string(n));
  int64_t batch, m;
  rows_of(x, &batch, &m);
  if (m == 0) {
    batch = 1;
    for (size_t d = 0; d + 1 < x.shape().size(); ++d) batch *= x.shape()[d];
  }
  Shape out = x.shape();
  out.back() = n;
  Buf y = make_buffer(op, out, x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::fft_hermitian(x.dtype(), x.data(), batch, m, n, y->data());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("complex_unary", &complex_unary, py::arg("op"), py::arg("x"),
         "op(x) of a complex x: real, imag, abs, angle (part dtype), conj, neg, exp, log, "
         "sqrt, sin, tanh, asin, atanh, ... (x's dtype)");
  cm.def("complex_binary", &complex_binary, py::arg("op"), py::arg("a"), py::arg("b"),
         "op(a, b) with broadcasting: add, sub, mul, div, pow (complex), make (float re, im)");
  cm.def("complex_prod", &complex_prod, py::arg("x"), py::arg("axis"),
         "the product of complex x along axis (NumPy's order; 1 over an empty axis)");
  cm.def("fft_c2c", &fft_c2c, py::arg("x"), py::arg("inverse") = false, py::arg("scale") = 1.0,
         "the DFT of x's innermost rows (inverse: exp(+2 pi i kt/n), unscaled) times scale");
  cm.def("fft_hermitian", &fft_hermitian, py::arg("x"), py::arg("n"),
         "(..., n): the Hermitian completion of x's first n // 2 + 1 bins (irfft's input)");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"complex_unary", "complex_binary", "complex_prod", "fft_c2c",
                       "fft_hermitian"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_complex) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"complex_unary", "complex_binary", "complex_prod", "fft_c2c",
                   "fft_hermitian"});
  bind_impl(cm);
}
