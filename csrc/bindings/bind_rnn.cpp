// Fused recurrent layer bindings (kernels: csrc/cpu/lstm.cpp, gru.cpp, simple_rnn.cpp).
//   lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias_or_None, activation,
//                recurrent_activation, go_backwards, save)
//       -> (outputs (B,T,U), h_T, c_T, gates_or_None, cells_or_None, cact_or_None)
//   lstm_backward(d_out, d_h, d_c, x, h0, c0, kernel, recurrent_kernel, outputs, gates, cells,
//                 cact, activation, recurrent_activation, go_backwards, need_dx, has_bias)
//       -> (dx_or_None, dh0, dc0, dkernel, drecurrent, dbias_or_None)
//   gru_forward(x, h0, kernel, recurrent_kernel, bias_or_None, activation,
//               recurrent_activation, go_backwards, reset_after, save)
//       -> (outputs, h_T, gates_or_None, rh_or_None)
//   gru_backward(d_out, d_h, x, h0, kernel, recurrent_kernel, outputs, gates, rh, activation,
//                recurrent_activation, go_backwards, reset_after, need_dx, has_bias)
//       -> (dx_or_None, dh0, dkernel, drecurrent, dbias_or_None)
//   simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias_or_None, activation, go_backwards)
//       -> (outputs, h_T)
//   simple_rnn_backward(d_out, d_h, x, h0, kernel, recurrent_kernel, outputs, activation,
//                       go_backwards, need_dx, has_bias)
//       -> (dx_or_None, dh0, dkernel, drecurrent, dbias_or_None)
// Shapes (Keras layout): x (B, T, D), T >= 1; kernel (D, G*U); recurrent_kernel (U, G*U);
// bias (G*U,), GRU reset_after (2, 3U); states (B, U). G = 4 (LSTM), 3 (GRU), 1 (SimpleRNN).
// Activations: tanh, sigmoid, relu, linear, hard_sigmoid.
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/lstm.h"

namespace py = pybind11;
using namespace nabi;

namespace {

using Shape = std::vector<py::ssize_t>;

struct Dims {
  int64_t B, T, D, U;
};

cpu::rnn::RnnAct parse(const char* op, const std::string& s, const char* what) {
  cpu::rnn::RnnAct a;
  if (!cpu::rnn::parse_rnn_act(s, &a))
    value_error(op, std::string("unknown ") + what + " '" + s +
                        "' (expected tanh, sigmoid, relu, linear or hard_sigmoid)");
  return a;
}

void check_arr(const char* op, const py::array& a, const char* name, const py::array& like,
               const Shape& shape) {
  check_float(op, a, name);
  check_same_dtype(op, a, name, like, "x");
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
  if (!ok)
    value_error(op, std::string(name) + " must have shape " +
                        shape_str(std::vector<int64_t>(shape.begin(), shape.end())) + ", got " +
                        shape_str(a));
}

// Validates x, kernel, recurrent_kernel and returns the dimensions.
Dims check_core(const char* op, const py::array& x, const py::array& W, const py::array& R,
                int G) {
  check_float(op, x, "x");
  check_ndim(op, x, "x", 3);
  if (x.shape(1) < 1) value_error(op, "x must have at least one timestep, got shape " + shape_str(x));
  check_float(op, W, "kernel");
  check_same_dtype(op, W, "kernel", x, "x");
  check_ndim(op, W, "kernel", 2);
  check_float(op, R, "recurrent_kernel");
  check_same_dtype(op, R, "recurrent_kernel", x, "x");
  check_ndim(op, R, "recurrent_kernel", 2);
  Dims d{x.shape(0), x.shape(1), x.shape(2), R.shape(0)};
  if (R.shape(1) != G * d.U)
    value_error(op, "recurrent_kernel must have shape (units, " + std::to_string(G) +
                        " * units), got " + shape_str(R));
  if (W.shape(0) != d.D || W.shape(1) != G * d.U)
    value_error(op, "kernel " + shape_str(W) + " does not match x " + shape_str(x) +
                        " and recurrent_kernel " + shape_str(R) + ": expected (" +
                        std::to_string(d.D) + ", " + std::to_string(G * d.U) + ")");
  return d;
}

bool check_bias(const char* op, const py::object& b, const py::array& x, const Shape& shape,
                py::array* out) {
  if (b.is_none()) return false;
  if (!py::isinstance<py::array>(b)) type_error(op, "bias must be a NumPy array or None");
  *out = b.cast<py::array>();
  check_arr(op, *out, "bias", x, shape);
  return true;
}

py::array as_array(const char* op, const py::object& o, const char* name) {
  if (!py::isinstance<py::array>(o)) type_error(op, std::string(name) + " must be a NumPy array");
  return o.cast<py::array>();
}

template <typename T>
const T* cp(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <typename T>
T* mp(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

template <typename F>
void dispatch(const py::array& x, F&& f) {
  if (is_float32(x))
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<double*>(nullptr));
}

// ------------------------------------------------------------------------------ LSTM

py::tuple lstm_forward(py::array x, py::array h0, py::array c0, py::array W, py::array R,
                       py::object b_obj, const std::string& act, const std::string& rec_act,
                       bool go_backwards, bool save) {
  const char* op = "lstm";
  cpu::RnnOpts o;
  o.act = parse(op, act, "activation");
  o.rec_act = parse(op, rec_act, "recurrent_activation");
  o.go_backwards = go_backwards;
  Dims d = check_core(op, x, W, R, 4);
  check_arr(op, h0, "initial h", x, {d.B, d.U});
  check_arr(op, c0, "initial c", x, {d.B, d.U});
  py::array b;
  const bool has_b = check_bias(op, b_obj, x, {4 * d.U}, &b);
  py::array out = empty_like_dtype(x, {d.B, d.T, d.U});
  py::array hT = empty_like_dtype(x, {d.B, d.U});
  py::array cT = empty_like_dtype(x, {d.B, d.U});
  py::array gates = empty_like_dtype(x, {d.B, d.T, 4 * d.U});
  py::array cells, cact;
  if (save) {
    cells = empty_like_dtype(x, {d.B, d.T, d.U});
    cact = empty_like_dtype(x, {d.B, d.T, d.U});
  }
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* bp = has_b ? cp<T>(b) : nullptr;
    T* cellp = save ? mp<T>(cells) : nullptr;
    T* cactp = save ? mp<T>(cact) : nullptr;
    py::gil_scoped_release nogil;
    cpu::lstm_forward<T>(cp<T>(x), cp<T>(h0), cp<T>(c0), cp<T>(W), cp<T>(R), bp, d.B, d.T, d.D,
                         d.U, o, mp<T>(out), mp<T>(hT), mp<T>(cT), mp<T>(gates), cellp, cactp);
  });
  if (!save) return py::make_tuple(out, hT, cT, py::none(), py::none(), py::none());
  return py::make_tuple(out, hT, cT, gates, cells, cact);
}

py::tuple lstm_backward(py::array d_out, py::array d_h, py::array d_c, py::array x, py::array h0,
                        py::array c0, py::array W, py::array R, py::array out, py::object gates_o,
                        py::object cells_o, py::object cact_o, const std::string& act,
                        const std::string& rec_act, bool go_backwards, bool need_dx,
                        bool has_bias) {
  const char* op = "lstm";
  cpu::RnnOpts o;
  o.act = parse(op, act, "activation");
  o.rec_act = parse(op, rec_act, "recurrent_activation");
  o.go_backwards = go_backwards;
  Dims d = check_core(op, x, W, R, 4);
  py::array gates = as_array(op, gates_o, "gates"), cells = as_array(op, cells_o, "cells"),
            cact = as_array(op, cact_o, "cact");
  check_arr(op, h0, "initial h", x, {d.B, d.U});
  check_arr(op, c0, "initial c", x, {d.B, d.U});
  check_arr(op, d_out, "d_outputs", x, {d.B, d.T, d.U});
  check_arr(op, d_h, "d_h", x, {d.B, d.U});
  check_arr(op, d_c, "d_c", x, {d.B, d.U});
  check_arr(op, out, "outputs", x, {d.B, d.T, d.U});
  check_arr(op, gates, "gates", x, {d.B, d.T, 4 * d.U});
  check_arr(op, cells, "cells", x, {d.B, d.T, d.U});
  check_arr(op, cact, "cact", x, {d.B, d.T, d.U});
  py::array dx, db;
  if (need_dx) dx = empty_like_dtype(x, {d.B, d.T, d.D});
  if (has_bias) db = empty_like_dtype(x, {4 * d.U});
  py::array dh0 = empty_like_dtype(x, {d.B, d.U}), dc0 = empty_like_dtype(x, {d.B, d.U});
  py::array dW = empty_like_dtype(x, shape_of(W)), dR = empty_like_dtype(x, shape_of(R));
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* dxp = need_dx ? mp<T>(dx) : nullptr;
    T* dbp = has_bias ? mp<T>(db) : nullptr;
    py::gil_scoped_release nogil;
    cpu::lstm_backward<T>(cp<T>(d_out), cp<T>(d_h), cp<T>(d_c), cp<T>(x), cp<T>(h0), cp<T>(c0),
                          cp<T>(W), cp<T>(R), cp<T>(out), cp<T>(gates), cp<T>(cells),
                          cp<T>(cact), d.B, d.T, d.D, d.U, o, dxp, mp<T>(dh0), mp<T>(dc0),
                          mp<T>(dW), mp<T>(dR), dbp);
  });
  return py::make_tuple(need_dx ? py::object(dx) : py::none(), dh0, dc0, dW, dR,
                        has_bias ? py::object(db) : py::none());
}

// ------------------------------------------------------------------------------- GRU

Shape gru_bias_shape(const Dims& d, bool reset_after) {
  return reset_after ? Shape{2, 3 * d.U} : Shape{3 * d.U};
}

py::tuple gru_forward(py::array x, py::array h0, py::array W, py::array R, py::object b_obj,
                      const std::string& act, const std::string& rec_act, bool go_backwards,
                      bool reset_after, bool save) {
  const char* op = "gru";
  cpu::RnnOpts o;
  o.act = parse(op, act, "activation");
  o.rec_act = parse(op, rec_act, "recurrent_activation");
  o.go_backwards = go_backwards;
  o.reset_after = reset_after;
  Dims d = check_core(op, x, W, R, 3);
  check_arr(op, h0, "initial h", x, {d.B, d.U});
  py::array b;
  const bool has_b = check_bias(op, b_obj, x, gru_bias_shape(d, reset_after), &b);
  py::array out = empty_like_dtype(x, {d.B, d.T, d.U});
  py::array hT = empty_like_dtype(x, {d.B, d.U});
  py::array gates = empty_like_dtype(x, {d.B, d.T, 3 * d.U});
  py::array rh = empty_like_dtype(x, {d.B, d.T, d.U});
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* bp = has_b ? cp<T>(b) : nullptr;
    py::gil_scoped_release nogil;
    cpu::gru_forward<T>(cp<T>(x), cp<T>(h0), cp<T>(W), cp<T>(R), bp, d.B, d.T, d.D, d.U, o,
                        mp<T>(out), mp<T>(hT), mp<T>(gates), mp<T>(rh));
  });
  if (!save) return py::make_tuple(out, hT, py::none(), py::none());
  return py::make_tuple(out, hT, gates, rh);
}

py::tuple gru_backward(py::array d_out, py::array d_h, py::array x, py::array h0, py::array W,
                       py::array R, py::array out, py::object gates_o, py::object rh_o,
                       const std::string& act, const std::string& rec_act, bool go_backwards,
                       bool reset_after, bool need_dx, bool has_bias) {
  const char* op = "gru";
  cpu::RnnOpts o;
  o.act = parse(op, act, "activation");
  o.rec_act = parse(op, rec_act, "recurrent_activation");
  o.go_backwards = go_backwards;
  o.reset_after = reset_after;
  Dims d = check_core(op, x, W, R, 3);
  py::array gates = as_array(op, gates_o, "gates"), rh = as_array(op, rh_o, "rh");
  check_arr(op, h0, "initial h", x, {d.B, d.U});
  check_arr(op, d_out, "d_outputs", x, {d.B, d.T, d.U});
  check_arr(op, d_h, "d_h", x, {d.B, d.U});
  check_arr(op, out, "outputs", x, {d.B, d.T, d.U});
  check_arr(op, gates, "gates", x, {d.B, d.T, 3 * d.U});
  check_arr(op, rh, "rh", x, {d.B, d.T, d.U});
  py::array dx, db;
  if (need_dx) dx = empty_like_dtype(x, {d.B, d.T, d.D});
  if (has_bias) db = empty_like_dtype(x, gru_bias_shape(d, reset_after));
  py::array dh0 = empty_like_dtype(x, {d.B, d.U});
  py::array dW = empty_like_dtype(x, shape_of(W)), dR = empty_like_dtype(x, shape_of(R));
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* dxp = need_dx ? mp<T>(dx) : nullptr;
    T* dbp = has_bias ? mp<T>(db) : nullptr;
    py::gil_scoped_release nogil;
    cpu::gru_backward<T>(cp<T>(d_out), cp<T>(d_h), cp<T>(x), cp<T>(h0), cp<T>(W), cp<T>(R),
                         cp<T>(out), cp<T>(gates), cp<T>(rh), d.B, d.T, d.D, d.U, o, dxp,
                         mp<T>(dh0), mp<T>(dW), mp<T>(dR), dbp);
  });
  return py::make_tuple(need_dx ? py::object(dx) : py::none(), dh0, dW, dR,
                        has_bias ? py::object(db) : py::none());
}

// ------------------------------------------------------------------------- SimpleRNN

py::tuple srnn_forward(py::array x, py::array h0, py::array W, py::array R, py::object b_obj,
                       const std::string& act, bool go_backwards) {
  const char* op = "simple_rnn";
  cpu::RnnOpts o;
  o.act = parse(op, act, "activation");
  o.go_backwards = go_backwards;
  Dims d = check_core(op, x, W, R, 1);
  check_arr(op, h0, "initial h", x, {d.B, d.U});
  py::array b;
  const bool has_b = check_bias(op, b_obj, x, {d.U}, &b);
  py::array out = empty_like_dtype(x, {d.B, d.T, d.U});
  py::array hT = empty_like_dtype(x, {d.B, d.U});
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* bp = has_b ? cp<T>(b) : nullptr;
    py::gil_scoped_release nogil;
    cpu::simple_rnn_forward<T>(cp<T>(x), cp<T>(h0), cp<T>(W), cp<T>(R), bp, d.B, d.T, d.D, d.U,
                               o, mp<T>(out), mp<T>(hT));
  });
  return py::make_tuple(out, hT);
}

py::tuple srnn_backward(py::array d_out, py::array d_h, py::array x, py::array h0, py::array W,
                        py::array R, py::array out, const std::string& act, bool go_backwards,
                        bool need_dx, bool has_bias) {
  const char* op = "simple_rnn";
  cpu::RnnOpts o;
  o.act = parse(op, act, "activation");
  o.go_backwards = go_backwards;
  Dims d = check_core(op, x, W, R, 1);
  check_arr(op, h0, "initial h", x, {d.B, d.U});
  check_arr(op, d_out, "d_outputs", x, {d.B, d.T, d.U});
  check_arr(op, d_h, "d_h", x, {d.B, d.U});
  check_arr(op, out, "outputs", x, {d.B, d.T, d.U});
  py::array dx, db;
  if (need_dx) dx = empty_like_dtype(x, {d.B, d.T, d.D});
  if (has_bias) db = empty_like_dtype(x, {d.U});
  py::array dh0 = empty_like_dtype(x, {d.B, d.U});
  py::array dW = empty_like_dtype(x, shape_of(W)), dR = empty_like_dtype(x, shape_of(R));
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* dxp = need_dx ? mp<T>(dx) : nullptr;
    T* dbp = has_bias ? mp<T>(db) : nullptr;
    py::gil_scoped_release nogil;
    cpu::simple_rnn_backward<T>(cp<T>(d_out), cp<T>(d_h), cp<T>(x), cp<T>(h0), cp<T>(W),
                                cp<T>(R), cp<T>(out), d.B, d.T, d.D, d.U, o, dxp, mp<T>(dh0),
                                mp<T>(dW), mp<T>(dR), dbp);
  });
  return py::make_tuple(need_dx ? py::object(dx) : py::none(), dh0, dW, dR,
                        has_bias ? py::object(db) : py::none());
}

}  // namespace

NABI_BINDINGS(bind_rnn) {
  m.def("lstm_forward", &lstm_forward, py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"),
        py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
        py::arg("go_backwards") = false, py::arg("save") = true,
        "Fused LSTM over a whole sequence: (outputs, h_T, c_T, gates, cells, cact)");
  m.def("lstm_backward", &lstm_backward, py::arg("d_outputs"), py::arg("d_h"), py::arg("d_c"),
        py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("outputs"), py::arg("gates"), py::arg("cells"),
        py::arg("cact"), py::arg("activation"), py::arg("recurrent_activation"),
        py::arg("go_backwards"), py::arg("need_dx"), py::arg("has_bias"),
        "LSTM backpropagation through time: (dx, dh0, dc0, dkernel, drecurrent, dbias)");
  m.def("gru_forward", &gru_forward, py::arg("x"), py::arg("h0"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("activation") = "tanh",
        py::arg("recurrent_activation") = "sigmoid", py::arg("go_backwards") = false,
        py::arg("reset_after") = true, py::arg("save") = true,
        "Fused GRU over a whole sequence: (outputs, h_T, gates, rh)");
  m.def("gru_backward", &gru_backward, py::arg("d_outputs"), py::arg("d_h"), py::arg("x"),
        py::arg("h0"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("outputs"),
        py::arg("gates"), py::arg("rh"), py::arg("activation"), py::arg("recurrent_activation"),
        py::arg("go_backwards"), py::arg("reset_after"), py::arg("need_dx"),
        py::arg("has_bias"), "GRU backpropagation through time: (dx, dh0, dkernel, drecurrent, dbias)");
  m.def("simple_rnn_forward", &srnn_forward, py::arg("x"), py::arg("h0"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("activation") = "tanh",
        py::arg("go_backwards") = false, "Fused SimpleRNN over a whole sequence: (outputs, h_T)");
  m.def("simple_rnn_backward", &srnn_backward, py::arg("d_outputs"), py::arg("d_h"),
        py::arg("x"), py::arg("h0"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("outputs"), py::arg("activation"), py::arg("go_backwards"), py::arg("need_dx"),
        py::arg("has_bias"),
        "SimpleRNN backpropagation through time: (dx, dh0, dkernel, drecurrent, dbias)");
}
