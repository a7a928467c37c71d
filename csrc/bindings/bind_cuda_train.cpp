// nabi._C.cuda_backend training kernels: the fused recurrent layers, the fused dense layer and
// the remaining fused optimizers, with EXACTLY the Python names, argument names, defaults,
// return structures and semantics of the CPU versions in nabi._C (bind_rnn.cpp,
// bind_dense.cpp, bind_optimizers.cpp), DeviceBuffers in place of NumPy arrays:
//
//   lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias_or_None, activation="tanh",
//                recurrent_activation="sigmoid", go_backwards=False, save=True)
//       -> (outputs (B,T,U), h_T, c_T, gates_or_None, cells_or_None, cact_or_None)
//   lstm_backward(d_outputs, d_h, d_c, x, h0, c0, kernel, recurrent_kernel, outputs, gates,
//                 cells, cact, activation, recurrent_activation, go_backwards, need_dx,
//                 has_bias) -> (dx_or_None, dh0, dc0, dkernel, drecurrent, dbias_or_None)
//   gru_forward(x, h0, kernel, recurrent_kernel, bias_or_None, activation="tanh",
//               recurrent_activation="sigmoid", go_backwards=False, reset_after=True,
//               save=True) -> (outputs, h_T, gates_or_None, rh_or_None)
//   gru_backward(d_outputs, d_h, x, h0, kernel, recurrent_kernel, outputs, gates, rh,
//                activation, recurrent_activation, go_backwards, reset_after, need_dx,
//                has_bias) -> (dx_or_None, dh0, dkernel, drecurrent, dbias_or_None)
//   simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias_or_None, activation="tanh",
//                      go_backwards=False) -> (outputs, h_T)
//   simple_rnn_backward(d_outputs, d_h, x, h0, kernel, recurrent_kernel, outputs, activation,
//                       go_backwards, need_dx, has_bias)
//       -> (dx_or_None, dh0, dkernel, drecurrent, dbias_or_None)
//   dense_forward(x, w, b_or_None, activation, alpha=0.0) -> (y, z_or_None)
//   dense_backward(grad_y, x, w, y, z, activation, alpha, need_dx, has_bias)
//       -> (dx_or_None, dw, db_or_None)
//   dense_keeps_z(activation, alpha=0.0) -> bool     (pure; the CPU function, in both builds)
//   adagrad_update(params, grads, accumulators, lr, epsilon)
//   adadelta_update(params, grads, acc_grads, acc_deltas, lr, rho, epsilon)
//   adamax_update(params, grads, ms, us, lr, beta1, beta2, epsilon, t)
//   nadam_update(params, grads, ms, vs, lr, beta1, beta2, epsilon, t, u_product_prev)
//       -> u_product_new                 (lists of DeviceBuffers, updated in place)
//       u_product_prev may also be a one-element float32/float64 DeviceBuffer (a GPU-only
//       extension): the running product is then read and updated in place on the device
//       (same numbers; nothing read back) and the call returns None
//
// Error messages use the CPU op names ("[lstm] ...", "[gru] ...", "[simple_rnn] ...",
// "[dense] ...", "[adagrad] ...") and texts, so a caller sees the same message on either
// backend. Every argument is validated before any kernel is enqueued; the GIL is released
// around the launches. Kernels: csrc/cuda/rnn.cu, dense.cu, optimizers_extra.cu.
//
// Builds without CUDA define the same kernel entries, each raising RuntimeError("[name] has
// no CUDA implementation in this build (built without CUDA)"); dense_keeps_z works in both
// builds and is not a kernel entry (it launches nothing).
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/optimizer_args.h"
#include "bindings/registry.h"
#include "cpu/dense.h"
#include "cpu/rnn_common.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/launchers.h"
#include "cuda/optimizers_extra.h"
#include "cuda/rnn_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

// Every kernel entry point of this file; the same list in both builds.
#define NABI_TRAIN_KERNEL_ENTRIES                                                          \
  "lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward",     \
      "simple_rnn_backward", "dense_forward", "dense_backward", "adagrad_update",           \
      "adadelta_update", "adamax_update", "nadam_update"

namespace {

// ---- shared by both builds ----
cpu::DenseAct parse_dense_act(const std::string& s) {
  cpu::DenseAct a;
  if (s == "softmax") {
    a.softmax = true;
    return a;
  }
  if (!cpu::parse_activation(s, &a.kind)) value_error("dense", "unknown activation '" + s + "'");
  return a;
}

bool dense_keeps_z(const std::string& activation, double alpha) {
  return cpu::dense_keeps_z(parse_dense_act(activation), alpha);
}

#if defined(NABI_WITH_CUDA)
// ============================ CUDA build ====================================================
using namespace nabi::cudabind;
using Shape = std::vector<int64_t>;

// A DeviceBuffer argument that may be None (-> empty Buf).
Buf opt_buf(const char* op, const py::object& o, const char* name) {
  if (o.is_none()) return Buf();
  if (!py::isinstance<DeviceBuffer>(o))
    type_error(op, std::string(name) + " must be a DeviceBuffer or None, got " + py_type_name(o));
  return o.cast<Buf>();
}

// A DeviceBuffer argument given as an object (None is an error).
Buf req_buf(const char* op, const py::object& o, const char* name) {
  if (!py::isinstance<DeviceBuffer>(o))
    type_error(op, std::string(name) + " must be a DeviceBuffer, got " + py_type_name(o));
  return o.cast<Buf>();
}

// Float, the dtype of `like` (named "x"), and exactly `shape`.
void check_arr(const char* op, const Buf& b, const char* name, const DeviceBuffer& like,
               const char* like_name, const Shape& shape) {
  const DeviceBuffer& a = need_float(op, b, name);
  same_dtype(op, a, name, like, like_name);
  if (a.shape() != shape)
    value_error(op, std::string(name) + " must have shape " + shape_str(shape) + ", got " +
                        shape_str(a.shape()));
}

// ------------------------------------------------------------------------ recurrent layers
struct Dims {
  int64_t B, T, D, U;
};

int parse_rnn(const char* op, const std::string& s, const char* what) {
  cpu::rnn::RnnAct a;
  if (!cpu::rnn::parse_rnn_act(s, &a))
    value_error(op, std::string("unknown ") + what + " '" + s +
                        "' (expected tanh, sigmoid, relu, linear or hard_sigmoid)");
  return static_cast<int>(a);
}

void check_ndim(const char* op, const DeviceBuffer& a, const char* name, int nd) {
  if (a.ndim() != nd)
    value_error(op, std::string(name) + " must be " + std::to_string(nd) + "-D, got shape " +
                        shape_str(a.shape()));
}

// Validates x, kernel, recurrent_kernel (the checks and messages of bind_rnn.cpp).
Dims check_core(const char* op, const Buf& xb, const Buf& Wb, const Buf& Rb, int G) {
  const DeviceBuffer& x = need_float(op, xb, "x");
  check_ndim(op, x, "x", 3);
  if (x.shape()[1] < 1)
    value_error(op, "x must have at least one timestep, got shape " + shape_str(x.shape()));
  const DeviceBuffer& W = need_float(op, Wb, "kernel");
  same_dtype(op, W, "kernel", x, "x");
  check_ndim(op, W, "kernel", 2);
  const DeviceBuffer& R = need_float(op, Rb, "recurrent_kernel");
  same_dtype(op, R, "recurrent_kernel", x, "x");
  check_ndim(op, R, "recurrent_kernel", 2);
  Dims d{x.shape()[0], x.shape()[1], x.shape()[2], R.shape()[0]};
  if (R.shape()[1] != G * d.U)
    value_error(op, "recurrent_kernel must have shape (units, " + std::to_string(G) +
                        " * units), got " + shape_str(R.shape()));
  if (W.shape()[0] != d.D || W.shape()[1] != G * d.U)
    value_error(op, "kernel " + shape_str(W.shape()) + " does not match x " +
                        shape_str(x.shape()) + " and recurrent_kernel " + shape_str(R.shape()) +
                        ": expected (" + std::to_string(d.D) + ", " + std::to_string(G * d.U) +
                        ")");
  return d;
}

Buf check_bias(const char* op, const py::object& o, const DeviceBuffer& x, const Shape& shape) {
  if (o.is_none()) return Buf();
  if (!py::isinstance<DeviceBuffer>(o))
    type_error(op, "bias must be a DeviceBuffer or None, got " + py_type_name(o));
  Buf b = o.cast<Buf>();
  check_arr(op, b, "bias", x, "x", shape);
  return b;
}

template <typename T>
const T* cptr(const Buf& b) {
  return b ? b->ptr<T>() : nullptr;
}
template <typename T>
T* mptr(const Buf& b) {
  return b ? b->ptr<T>() : nullptr;
}

py::object or_none(const Buf& b) { return b ? py::cast(b) : py::none(); }

// LSTM
py::tuple lstm_forward(const Buf& xb, const Buf& h0b, const Buf& c0b, const Buf& Wb,
                       const Buf& Rb, py::object b_obj, const std::string& act,
                       const std::string& rec_act, bool go_backwards, bool save) {
  const char* op = "lstm";
  const int a = parse_rnn(op, act, "activation");
  const int ra = parse_rnn(op, rec_act, "recurrent_activation");
  const Dims d = check_core(op, xb, Wb, Rb, 4);
  const DeviceBuffer& x = *xb;
  check_arr(op, h0b, "initial h", x, "x", {d.B, d.U});
  check_arr(op, c0b, "initial c", x, "x", {d.B, d.U});
  const Buf bb = check_bias(op, b_obj, x, {4 * d.U});
  const DType dt = x.dtype();
  Buf out = make_buffer({d.B, d.T, d.U}, dt);
  Buf hT = make_buffer({d.B, d.U}, dt);
  Buf cT = make_buffer({d.B, d.U}, dt);
  Buf gates = make_buffer({d.B, d.T, 4 * d.U}, dt);
  Buf cells, cact;
  if (save) {
    cells = make_buffer({d.B, d.T, d.U}, dt);
    cact = make_buffer({d.B, d.T, d.U}, dt);
  }
  by_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::lstm_forward<T>(cptr<T>(xb), cptr<T>(h0b), cptr<T>(c0b), cptr<T>(Wb), cptr<T>(Rb),
                          cptr<T>(bb), d.B, d.T, d.D, d.U, a, ra, go_backwards, mptr<T>(out),
                          mptr<T>(hT), mptr<T>(cT), mptr<T>(gates), mptr<T>(cells),
                          mptr<T>(cact));
  });
  if (!save) return py::make_tuple(out, hT, cT, py::none(), py::none(), py::none());
  return py::make_tuple(out, hT, cT, gates, cells, cact);
}

py::tuple lstm_backward(const Buf& doutb, const Buf& dhb, const Buf& dcb, const Buf& xb,
                        const Buf& h0b, const Buf& c0b, const Buf& Wb, const Buf& Rb,
                        const Buf& outb, py::object gates_o, py::object cells_o,
                        py::object cact_o, const std::string& act, const std::string& rec_act,
                        bool go_backwards, bool need_dx, bool has_bias) {
  const char* op = "lstm";
  const int a = parse_rnn(op, act, "activation");
  const int ra = parse_rnn(op, rec_act, "recurrent_activation");
  const Dims d = check_core(op, xb, Wb, Rb, 4);
  const Buf gb = req_buf(op, gates_o, "gates"), cb = req_buf(op, cells_o, "cells"),
            ab = req_buf(op, cact_o, "cact");
  const DeviceBuffer& x = *xb;
  check_arr(op, h0b, "initial h", x, "x", {d.B, d.U});
  check_arr(op, c0b, "initial c", x, "x", {d.B, d.U});
  check_arr(op, doutb, "d_outputs", x, "x", {d.B, d.T, d.U});
  check_arr(op, dhb, "d_h", x, "x", {d.B, d.U});
  check_arr(op, dcb, "d_c", x, "x", {d.B, d.U});
  check_arr(op, outb, "outputs", x, "x", {d.B, d.T, d.U});
  check_arr(op, gb, "gates", x, "x", {d.B, d.T, 4 * d.U});
  check_arr(op, cb, "cells", x, "x", {d.B, d.T, d.U});
  check_arr(op, ab, "cact", x, "x", {d.B, d.T, d.U});
  const DType dt = x.dtype();
  Buf dx, db;
  if (need_dx) dx = make_buffer({d.B, d.T, d.D}, dt);
  if (has_bias) db = make_buffer({4 * d.U}, dt);
  Buf dh0 = make_buffer({d.B, d.U}, dt), dc0 = make_buffer({d.B, d.U}, dt);
  Buf dW = make_buffer(Wb->shape(), dt), dR = make_buffer(Rb->shape(), dt);
  by_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::lstm_backward<T>(cptr<T>(doutb), cptr<T>(dhb), cptr<T>(dcb), cptr<T>(xb),
                           cptr<T>(h0b), cptr<T>(c0b), cptr<T>(Wb), cptr<T>(Rb), cptr<T>(outb),
                           cptr<T>(gb), cptr<T>(cb), cptr<T>(ab), d.B, d.T, d.D, d.U, a, ra,
                           go_backwards, mptr<T>(dx), mptr<T>(dh0), mptr<T>(dc0), mptr<T>(dW),
                           mptr<T>(dR), mptr<T>(db));
  });
  return py::make_tuple(or_none(dx), dh0, dc0, dW, dR, or_none(db));
}

// GRU
Shape gru_bias_shape(const Dims& d, bool reset_after) {
  return reset_after ? Shape{2, 3 * d.U} : Shape{3 * d.U};
}

py::tuple gru_forward(const Buf& xb, const Buf& h0b, const Buf& Wb, const Buf& Rb,
                      py::object b_obj, const std::string& act, const std::string& rec_act,
                      bool go_backwards, bool reset_after, bool save) {
  const char* op = "gru";
  const int a = parse_rnn(op, act, "activation");
  const int ra = parse_rnn(op, rec_act, "recurrent_activation");
  const Dims d = check_core(op, xb, Wb, Rb, 3);
  const DeviceBuffer& x = *xb;
  check_arr(op, h0b, "initial h", x, "x", {d.B, d.U});
  const Buf bb = check_bias(op, b_obj, x, gru_bias_shape(d, reset_after));
  const DType dt = x.dtype();
  Buf out = make_buffer({d.B, d.T, d.U}, dt);
  Buf hT = make_buffer({d.B, d.U}, dt);
  Buf gates = make_buffer({d.B, d.T, 3 * d.U}, dt);
  Buf rh = make_buffer({d.B, d.T, d.U}, dt);
  by_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::gru_forward<T>(cptr<T>(xb), cptr<T>(h0b), cptr<T>(Wb), cptr<T>(Rb), cptr<T>(bb), d.B,
                         d.T, d.D, d.U, a, ra, go_backwards, reset_after, mptr<T>(out),
                         mptr<T>(hT), mptr<T>(gates), mptr<T>(rh));
  });
  if (!save) return py::make_tuple(out, hT, py::none(), py::none());
  return py::make_tuple(out, hT, gates, rh);
}

py::tuple gru_backward(const Buf& doutb, const Buf& dhb, const Buf& xb, const Buf& h0b,
                       const Buf& Wb, const Buf& Rb, const Buf& outb, py::object gates_o,
                       py::object rh_o, const std::string& act, const std::string& rec_act,
                       bool go_backwards, bool reset_after, bool need_dx, bool has_bias) {
  const char* op = "gru";
  const int a = parse_rnn(op, act, "activation");
  const int ra = parse_rnn(op, rec_act, "recurrent_activation");
  const Dims d = check_core(op, xb, Wb, Rb, 3);
  const Buf gb = req_buf(op, gates_o, "gates"), rhb = req_buf(op, rh_o, "rh");
  const DeviceBuffer& x = *xb;
  check_arr(op, h0b, "initial h", x, "x", {d.B, d.U});
  check_arr(op, doutb, "d_outputs", x, "x", {d.B, d.T, d.U});
  check_arr(op, dhb, "d_h", x, "x", {d.B, d.U});
  check_arr(op, outb, "outputs", x, "x", {d.B, d.T, d.U});
  check_arr(op, gb, "gates", x, "x", {d.B, d.T, 3 * d.U});
  check_arr(op, rhb, "rh", x, "x", {d.B, d.T, d.U});
  const DType dt = x.dtype();
  Buf dx, db;
  if (need_dx) dx = make_buffer({d.B, d.T, d.D}, dt);
  if (has_bias) db = make_buffer(gru_bias_shape(d, reset_after), dt);
  Buf dh0 = make_buffer({d.B, d.U}, dt);
  Buf dW = make_buffer(Wb->shape(), dt), dR = make_buffer(Rb->shape(), dt);
  by_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::gru_backward<T>(cptr<T>(doutb), cptr<T>(dhb), cptr<T>(xb), cptr<T>(h0b), cptr<T>(Wb),
                          cptr<T>(Rb), cptr<T>(outb), cptr<T>(gb), cptr<T>(rhb), d.B, d.T, d.D,
                          d.U, a, ra, go_backwards, reset_after, mptr<T>(dx), mptr<T>(dh0),
                          mptr<T>(dW), mptr<T>(dR), mptr<T>(db));
  });
  return py::make_tuple(or_none(dx), dh0, dW, dR, or_none(db));
}

// SimpleRNN
py::tuple srnn_forward(const Buf& xb, const Buf& h0b, const Buf& Wb, const Buf& Rb,
                       py::object b_obj, const std::string& act, bool go_backwards) {
  const char* op = "simple_rnn";
  const int a = parse_rnn(op, act, "activation");
  const Dims d = check_core(op, xb, Wb, Rb, 1);
  const DeviceBuffer& x = *xb;
  check_arr(op, h0b, "initial h", x, "x", {d.B, d.U});
  const Buf bb = check_bias(op, b_obj, x, {d.U});
  const DType dt = x.dtype();
  Buf out = make_buffer({d.B, d.T, d.U}, dt);
  Buf hT = make_buffer({d.B, d.U}, dt);
  by_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::simple_rnn_forward<T>(cptr<T>(xb), cptr<T>(h0b), cptr<T>(Wb), cptr<T>(Rb),
                                cptr<T>(bb), d.B, d.T, d.D, d.U, a, go_backwards, mptr<T>(out),
                                mptr<T>(hT));
  });
  return py::make_tuple(out, hT);
}

py::tuple srnn_backward(const Buf& doutb, const Buf& dhb, const Buf& xb, const Buf& h0b,
                        const Buf& Wb, const Buf& Rb, const Buf& outb, const std::string& act,
                        bool go_backwards, bool need_dx, bool has_bias) {
  const char* op = "simple_rnn";
  const int a = parse_rnn(op, act, "activation");
  const Dims d = check_core(op, xb, Wb, Rb, 1);
  const DeviceBuffer& x = *xb;
  check_arr(op, h0b, "initial h", x, "x", {d.B, d.U});
  check_arr(op, doutb, "d_outputs", x, "x", {d.B, d.T, d.U});
  check_arr(op, dhb, "d_h", x, "x", {d.B, d.U});
  check_arr(op, outb, "outputs", x, "x", {d.B, d.T, d.U});
  const DType dt = x.dtype();
  Buf dx, db;
  if (need_dx) dx = make_buffer({d.B, d.T, d.D}, dt);
  if (has_bias) db = make_buffer({d.U}, dt);
  Buf dh0 = make_buffer({d.B, d.U}, dt);
  Buf dW = make_buffer(Wb->shape(), dt), dR = make_buffer(Rb->shape(), dt);
  by_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::simple_rnn_backward<T>(cptr<T>(doutb), cptr<T>(dhb), cptr<T>(xb), cptr<T>(h0b),
                                 cptr<T>(Wb), cptr<T>(Rb), cptr<T>(outb), d.B, d.T, d.D, d.U, a,
                                 go_backwards, mptr<T>(dx), mptr<T>(dh0), mptr<T>(dW),
                                 mptr<T>(dR), mptr<T>(db));
  });
  return py::make_tuple(or_none(dx), dh0, dW, dR, or_none(db));
}

// ------------------------------------------------------------------------------ dense
const char* const kDense = "dense";

void check_xw(const Buf& xb, const Buf& wb) {
  const DeviceBuffer& x = need_float(kDense, xb, "input");
  const DeviceBuffer& w = need_float(kDense, wb, "kernel");
  same_dtype(kDense, x, "input", w, "kernel");
  check_ndim(kDense, x, "input", 2);
  check_ndim(kDense, w, "kernel", 2);
  if (x.shape()[1] != w.shape()[0])
    value_error(kDense, "input " + shape_str(x.shape()) + " does not match kernel " +
                            shape_str(w.shape()));
}

void check_mn(const Buf& ab, const char* name, const DeviceBuffer& x, const DeviceBuffer& w) {
  const DeviceBuffer& a = need_float(kDense, ab, name);
  same_dtype(kDense, a, name, x, "input");
  if (a.ndim() != 2 || a.shape()[0] != x.shape()[0] || a.shape()[1] != w.shape()[1])
    value_error(kDense, std::string(name) + " " + shape_str(a.shape()) +
                            " does not match the output (" + std::to_string(x.shape()[0]) +
                            ", " + std::to_string(w.shape()[1]) + ") of input " +
                            shape_str(x.shape()) + " and kernel " + shape_str(w.shape()));
}

py::tuple dense_forward(const Buf& xb, const Buf& wb, py::object b_obj,
                        const std::string& activation, double alpha) {
  const cpu::DenseAct act = parse_dense_act(activation);
  check_xw(xb, wb);
  const DeviceBuffer& x = *xb;
  const DeviceBuffer& w = *wb;
  const int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[1];
  Buf bb;
  if (!b_obj.is_none()) {
    if (!py::isinstance<DeviceBuffer>(b_obj))
      type_error(kDense, "bias must be a DeviceBuffer or None, got " + py_type_name(b_obj));
    bb = b_obj.cast<Buf>();
    const DeviceBuffer& b = need_float(kDense, bb, "bias");
    same_dtype(kDense, b, "bias", x, "input");
    if (b.ndim() != 1 || b.shape()[0] != N)
      value_error(kDense, "bias " + shape_str(b.shape()) + " does not match kernel " +
                              shape_str(w.shape()));
  }
  const bool keep_z = cpu::dense_keeps_z(act, alpha);
  Buf y = make_buffer({M, N}, x.dtype());
  Buf z;
  if (keep_z) z = make_buffer({M, N}, x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::dense_forward<T>(cptr<T>(xb), cptr<T>(wb), cptr<T>(bb), mptr<T>(y), mptr<T>(z), M, K,
                           N, act.softmax, static_cast<int>(act.kind), static_cast<T>(alpha));
  });
  return py::make_tuple(y, or_none(z));
}

py::tuple dense_backward(const Buf& gb, const Buf& xb, const Buf& wb, py::object y_obj,
                         py::object z_obj, const std::string& activation, double alpha,
                         bool need_dx, bool has_bias) {
  const cpu::DenseAct act = parse_dense_act(activation);
  check_xw(xb, wb);
  const DeviceBuffer& x = *xb;
  const DeviceBuffer& w = *wb;
  check_mn(gb, "grad_y", x, w);
  const bool keep_z = cpu::dense_keeps_z(act, alpha);
  const bool identity = !act.softmax && act.kind == cpu::Act::Linear;
  Buf act_in;
  if (!identity) {
    const py::object& o = keep_z ? z_obj : y_obj;
    const char* name = keep_z ? "z" : "y";
    if (o.is_none())
      value_error(kDense, std::string("activation '") + activation + "' needs " + name +
                              " for its derivative, got None");
    if (!py::isinstance<DeviceBuffer>(o))
      type_error(kDense, std::string(name) + " must be a DeviceBuffer, got " + py_type_name(o));
    act_in = o.cast<Buf>();
    check_mn(act_in, name, x, w);
  }
  const int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[1];
  Buf dw = make_buffer(w.shape(), x.dtype());
  Buf dx, db;
  if (need_dx) dx = make_buffer(x.shape(), x.dtype());
  if (has_bias) db = make_buffer({N}, x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::dense_backward<T>(cptr<T>(gb), cptr<T>(xb), cptr<T>(wb), cptr<T>(act_in), mptr<T>(dx),
                            mptr<T>(dw), mptr<T>(db), M, K, N, act.softmax,
                            static_cast<int>(act.kind), static_cast<T>(alpha));
  });
  return py::make_tuple(or_none(dx), dw, or_none(db));
}

// ------------------------------------------------------------------------- optimizers
// The validation of bind_cuda.cpp's optimizers (same messages): every list is checked
// completely before anything is enqueued; tensors are split by dtype.
using Slot = OptSlot;

struct DeviceOptLists {
  std::vector<cuda::OptTensor> t32, t64;
  std::vector<int64_t> n32, n64;
  std::vector<Buf> keep;
};

DeviceOptLists validate_opt(const char* op, const std::vector<Slot>& slots) {
  const OptLists lists = check_opt_lists(op, slots, "DeviceBuffers");
  DeviceOptLists out;
  for (size_t i = 0; i < lists.count; ++i) {
    cuda::OptTensor t{};
    Buf p;
    std::string pname;
    for (size_t s = 0; s < slots.size(); ++s) {
      if (!lists.present[s]) continue;
      const std::string name = opt_item_name(slots[s], i);
      py::object o = lists.seqs[s][i];
      if (!py::isinstance<DeviceBuffer>(o))
        type_error(op, name + " must be a DeviceBuffer, got " + py_type_name(o));
      Buf b = o.cast<Buf>();
      need_float(op, b, name.c_str());
      if (s == 0) {
        p = b;
        pname = name;
      } else {
        same_dtype(op, *p, pname.c_str(), *b, name.c_str());
        same_shape(op, *p, pname.c_str(), *b, name.c_str());
        for (size_t q = 0; q < s; ++q)
          if (t[q] && t[q] == b->data() && b->data() && (q == 1 || s == 1))
            value_error(op, name + " is the same buffer as another argument of tensor " +
                                std::to_string(i));
      }
      t[s] = b->data();
      out.keep.push_back(b);
    }
    if (p->dtype() == DType::Float32) {
      out.t32.push_back(t);
      out.n32.push_back(p->numel());
    } else {
      out.t64.push_back(t);
      out.n64.push_back(p->numel());
    }
  }
  return out;
}

void adagrad(py::object params, py::object grads, py::object accs, double lr, double epsilon) {
  DeviceOptLists L = validate_opt("adagrad", {{"params", params, false},
                                              {"grads", grads, false},
                                              {"accumulators", accs, false}});
  py::gil_scoped_release nogil;
  cuda::adagrad_update_multi<float>(L.t32, L.n32, lr, epsilon);
  cuda::adagrad_update_multi<double>(L.t64, L.n64, lr, epsilon);
}

void adadelta(py::object params, py::object grads, py::object ag, py::object ad, double lr,
              double rho, double epsilon) {
  DeviceOptLists L = validate_opt("adadelta", {{"params", params, false},
                                               {"grads", grads, false},
                                               {"acc_grads", ag, false},
                                               {"acc_deltas", ad, false}});
  py::gil_scoped_release nogil;
  cuda::adadelta_update_multi<float>(L.t32, L.n32, lr, rho, epsilon);
  cuda::adadelta_update_multi<double>(L.t64, L.n64, lr, rho, epsilon);
}

void adamax(py::object params, py::object grads, py::object ms, py::object us, double lr,
            double beta1, double beta2, double epsilon, int64_t t) {
  const char* op = "adamax";
  check_step(op, t);
  DeviceOptLists L = validate_opt(op, {{"params", params, false},
                                       {"grads", grads, false},
                                       {"ms", ms, false},
                                       {"us", us, false}});
  const double b1p = std::pow(beta1, static_cast<double>(t));
  py::gil_scoped_release nogil;
  cuda::adamax_update_multi<float>(L.t32, L.n32, lr, beta1, beta2, epsilon, b1p);
  cuda::adamax_update_multi<double>(L.t64, L.n64, lr, beta1, beta2, epsilon, b1p);
}

py::object nadam(py::object params, py::object grads, py::object ms, py::object vs, double lr,
                 double beta1, double beta2, double epsilon, int64_t t,
                 py::object u_product_prev) {
  const char* op = "nadam";
  check_step(op, t);
  Buf ub;
  if (py::isinstance<DeviceBuffer>(u_product_prev)) {
    ub = u_product_prev.cast<Buf>();
    const DeviceBuffer& u = need_float(op, ub, "u_product_prev");
    if (u.numel() != 1)
      value_error(op, "u_product_prev must hold one element, got shape " + shape_str(u.shape()));
  } else if (!py::isinstance<py::float_>(u_product_prev) &&
             !py::isinstance<py::int_>(u_product_prev)) {
    type_error(op, "u_product_prev must be a float or a one-element DeviceBuffer, got " +
                       py_type_name(u_product_prev));
  }
  DeviceOptLists L = validate_opt(op, {{"params", params, false},
                                       {"grads", grads, false},
                                       {"ms", ms, false},
                                       {"vs", vs, false}});
  // Keras 3: u_product *= beta1 * (1 - 0.5 * 0.96^t) once per step (bind_optimizers.cpp).
  const double td = static_cast<double>(t);
  const double u_t = beta1 * (1.0 - 0.5 * std::pow(0.96, td));
  const double u_t_1 = beta1 * (1.0 - 0.5 * std::pow(0.96, td + 1.0));
  const double beta2_pow = std::pow(beta2, td);
  if (ub) {  // the running product stays on the device
    const bool dbl = ub->dtype() == DType::Float64;
    py::gil_scoped_release nogil;
    cuda::nadam_update_multi_dev<float>(L.t32, L.n32, lr, beta1, beta2, epsilon, u_t, u_t_1,
                                        beta2_pow, ub->data(), dbl);
    cuda::nadam_update_multi_dev<double>(L.t64, L.n64, lr, beta1, beta2, epsilon, u_t, u_t_1,
                                         beta2_pow, ub->data(), dbl);
    cuda::nadam_store_product(ub->data(), dbl, u_t);
    return py::none();
  }
  const double u_product_t = u_product_prev.cast<double>() * u_t;
  const double u_product_t_1 = u_product_t * u_t_1;
  const double beta2_power = std::pow(beta2, td);
  {
    py::gil_scoped_release nogil;
    cuda::nadam_update_multi<float>(L.t32, L.n32, lr, beta1, beta2, epsilon, u_t, u_t_1,
                                    u_product_t, u_product_t_1, beta2_power);
    cuda::nadam_update_multi<double>(L.t64, L.n64, lr, beta1, beta2, epsilon, u_t, u_t_1,
                                     u_product_t, u_product_t_1, beta2_power);
  }
  return py::float_(u_product_t);
}

void bind_impl(py::module_& cm) {
  cm.def("lstm_forward", &lstm_forward, py::arg("x"), py::arg("h0"), py::arg("c0"),
         py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
         py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
         py::arg("go_backwards") = false, py::arg("save") = true,
         "Fused LSTM over a whole sequence: (outputs, h_T, c_T, gates, cells, cact)");
  cm.def("lstm_backward", &lstm_backward, py::arg("d_outputs"), py::arg("d_h"), py::arg("d_c"),
         py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("kernel"),
         py::arg("recurrent_kernel"), py::arg("outputs"), py::arg("gates"), py::arg("cells"),
         py::arg("cact"), py::arg("activation"), py::arg("recurrent_activation"),
         py::arg("go_backwards"), py::arg("need_dx"), py::arg("has_bias"),
         "LSTM backpropagation through time: (dx, dh0, dc0, dkernel, drecurrent, dbias)");
  cm.def("gru_forward", &gru_forward, py::arg("x"), py::arg("h0"), py::arg("kernel"),
         py::arg("recurrent_kernel"), py::arg("bias"), py::arg("activation") = "tanh",
         py::arg("recurrent_activation") = "sigmoid", py::arg("go_backwards") = false,
         py::arg("reset_after") = true, py::arg("save") = true,
         "Fused GRU over a whole sequence: (outputs, h_T, gates, rh)");
  cm.def("gru_backward", &gru_backward, py::arg("d_outputs"), py::arg("d_h"), py::arg("x"),
         py::arg("h0"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("outputs"),
         py::arg("gates"), py::arg("rh"), py::arg("activation"),
         py::arg("recurrent_activation"), py::arg("go_backwards"), py::arg("reset_after"),
         py::arg("need_dx"), py::arg("has_bias"),
         "GRU backpropagation through time: (dx, dh0, dkernel, drecurrent, dbias)");
  cm.def("simple_rnn_forward", &srnn_forward, py::arg("x"), py::arg("h0"), py::arg("kernel"),
         py::arg("recurrent_kernel"), py::arg("bias"), py::arg("activation") = "tanh",
         py::arg("go_backwards") = false, "Fused SimpleRNN over a whole sequence: (outputs, h_T)");
  cm.def("simple_rnn_backward", &srnn_backward, py::arg("d_outputs"), py::arg("d_h"),
         py::arg("x"), py::arg("h0"), py::arg("kernel"), py::arg("recurrent_kernel"),
         py::arg("outputs"), py::arg("activation"), py::arg("go_backwards"), py::arg("need_dx"),
         py::arg("has_bias"),
         "SimpleRNN backpropagation through time: (dx, dh0, dkernel, drecurrent, dbias)");
  cm.def("dense_forward", &dense_forward, py::arg("x"), py::arg("w"), py::arg("b"),
         py::arg("activation"), py::arg("alpha") = 0.0,
         "(y, z_or_None): y = act(x @ w + b); z kept only when act' needs it");
  cm.def("dense_backward", &dense_backward, py::arg("grad_y"), py::arg("x"), py::arg("w"),
         py::arg("y"), py::arg("z"), py::arg("activation"), py::arg("alpha"),
         py::arg("need_dx"), py::arg("has_bias"),
         "(dx_or_None, dw, db_or_None) of the fused dense layer");
  cm.def("adagrad_update", &adagrad, py::arg("params"), py::arg("grads"),
         py::arg("accumulators"), py::arg("lr"), py::arg("epsilon"));
  cm.def("adadelta_update", &adadelta, py::arg("params"), py::arg("grads"),
         py::arg("acc_grads"), py::arg("acc_deltas"), py::arg("lr"), py::arg("rho"),
         py::arg("epsilon"));
  cm.def("adamax_update", &adamax, py::arg("params"), py::arg("grads"), py::arg("ms"),
         py::arg("us"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"),
         py::arg("t"));
  cm.def("nadam_update", &nadam, py::arg("params"), py::arg("grads"), py::arg("ms"),
         py::arg("vs"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"),
         py::arg("t"), py::arg("u_product_prev"), "Returns the new u_product");
}

#else
// ============================ build without CUDA ==========================================
void bind_impl(py::module_& cm) { def_unavailable(cm, {NABI_TRAIN_KERNEL_ENTRIES}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_train) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {NABI_TRAIN_KERNEL_ENTRIES});
  bind_impl(cm);
  cm.def("dense_keeps_z", &dense_keeps_z, py::arg("activation"), py::arg("alpha") = 0.0,
         "Whether dense_forward returns z (the derivative needs the pre-activation); the same "
         "pure function as nabi._C.dense_keeps_z");
}
