// Batch-norm bindings, channels last: x of any rank >= 1 is viewed as (M, C), C = last axis.
//   batch_norm_forward_train(x, gamma_or_None, beta_or_None, eps) -> (y, mean, var, inv_std)
//   batch_norm_forward_infer(x, gamma_or_None, beta_or_None, mean, var, eps) -> y
//   batch_norm_backward(grad_y, x, gamma_or_None, mean, inv_std, training)
//       -> (dx, dgamma, dbeta)
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/batchnorm.h"

namespace py = pybind11;
using namespace nabi;

namespace {
const char* kOp = "batch_norm";

int64_t check_x(const py::array& x, int64_t* M) {
  check_float(kOp, x, "x");
  if (x.ndim() < 1) value_error(kOp, "x must have rank >= 1, got a scalar");
  const int64_t C = x.shape(x.ndim() - 1);
  *M = C > 0 ? x.size() / C : 0;
  return C;
}

py::array vec_or_none(const py::object& o, const char* name, const py::array& x, int64_t C,
                      bool* has) {
  *has = !o.is_none();
  if (!*has) return py::array();
  if (!py::isinstance<py::array>(o))
    type_error(kOp, std::string(name) + " must be a NumPy array or None");
  py::array a = o.cast<py::array>();
  check_float(kOp, a, name);
  check_same_dtype(kOp, a, name, x, "x");
  if (a.ndim() != 1 || a.shape(0) != C)
    value_error(kOp, std::string(name) + " " + shape_str(a) + " must have shape (" +
                         std::to_string(C) + ",) for x " + shape_str(x));
  return a;
}

template <typename T>
const T* ptr(const py::array& a, bool has) {
  return has ? static_cast<const T*>(a.data()) : nullptr;
}

template <typename F>
void dispatch(const py::array& x, F&& f) {
  if (is_float32(x))
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<double*>(nullptr));
}

py::tuple forward_train(py::array x, py::object g_obj, py::object b_obj, double eps) {
  int64_t M;
  const int64_t C = check_x(x, &M);
  bool hg, hb;
  py::array g = vec_or_none(g_obj, "gamma", x, C, &hg);
  py::array b = vec_or_none(b_obj, "beta", x, C, &hb);
  py::array y(x.dtype(), shape_of(x));
  std::vector<py::ssize_t> cs{C};
  py::array mean(x.dtype(), cs), var(x.dtype(), cs), inv(x.dtype(), cs);
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    const T *gp = ptr<T>(g, hg), *bp = ptr<T>(b, hb);
    T* yp = static_cast<T*>(y.mutable_data());
    T* mp = static_cast<T*>(mean.mutable_data());
    T* vp = static_cast<T*>(var.mutable_data());
    T* ip = static_cast<T*>(inv.mutable_data());
    py::gil_scoped_release nogil;
    cpu::batchnorm_forward_train<T>(xp, gp, bp, eps, M, C, yp, mp, vp, ip);
  });
  return py::make_tuple(y, mean, var, inv);
}

py::array forward_infer(py::array x, py::object g_obj, py::object b_obj, py::array mean,
                        py::array var, double eps) {
  int64_t M;
  const int64_t C = check_x(x, &M);
  bool hg, hb, hm, hv;
  py::array g = vec_or_none(g_obj, "gamma", x, C, &hg);
  py::array b = vec_or_none(b_obj, "beta", x, C, &hb);
  vec_or_none(mean, "mean", x, C, &hm);
  vec_or_none(var, "variance", x, C, &hv);
  py::array y(x.dtype(), shape_of(x));
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* xp = static_cast<const T*>(x.data());
    const T *gp = ptr<T>(g, hg), *bp = ptr<T>(b, hb);
    const T* mp = static_cast<const T*>(mean.data());
    const T* vp = static_cast<const T*>(var.data());
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release nogil;
    cpu::batchnorm_forward_infer<T>(xp, gp, bp, mp, vp, eps, M, C, yp);
  });
  return y;
}

py::tuple backward(py::array dy, py::array x, py::object g_obj, py::array mean, py::array inv,
                   bool training) {
  int64_t M;
  const int64_t C = check_x(x, &M);
  check_float(kOp, dy, "grad_y");
  check_same_dtype(kOp, dy, "grad_y", x, "x");
  check_same_shape(kOp, dy, "grad_y", x, "x");
  bool hg, hm, hi;
  py::array g = vec_or_none(g_obj, "gamma", x, C, &hg);
  vec_or_none(mean, "mean", x, C, &hm);
  vec_or_none(inv, "inv_std", x, C, &hi);
  py::array dx(x.dtype(), shape_of(x));
  std::vector<py::ssize_t> cs{C};
  py::array dg(x.dtype(), cs), db(x.dtype(), cs);
  dispatch(x, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* dyp = static_cast<const T*>(dy.data());
    const T* xp = static_cast<const T*>(x.data());
    const T* gp = ptr<T>(g, hg);
    const T* mp = static_cast<const T*>(mean.data());
    const T* ip = static_cast<const T*>(inv.data());
    T* dxp = static_cast<T*>(dx.mutable_data());
    T* dgp = static_cast<T*>(dg.mutable_data());
    T* dbp = static_cast<T*>(db.mutable_data());
    py::gil_scoped_release nogil;
    cpu::batchnorm_backward<T>(dyp, xp, gp, mp, ip, training, M, C, dxp, dgp, dbp);
  });
  return py::make_tuple(dx, dg, db);
}
}  // namespace

NABI_BINDINGS(bind_batchnorm) {
  m.def("batch_norm_forward_train", &forward_train, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("eps"),
        "(y, mean, var, inv_std): batch statistics over all axes but the last");
  m.def("batch_norm_forward_infer", &forward_infer, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("mean"), py::arg("var"), py::arg("eps"),
        "y = (x - mean) / sqrt(var + eps) * gamma + beta, channels last");
  m.def("batch_norm_backward", &backward, py::arg("grad_y"), py::arg("x"), py::arg("gamma"),
        py::arg("mean"), py::arg("inv_std"), py::arg("training"), "(dx, dgamma, dbeta)");
}
