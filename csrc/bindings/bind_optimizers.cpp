// Multi-tensor fused optimizer bindings (Keras 3 update rules, in place):
//   sgd_update(params, grads, momentums_or_None, lr, momentum, nesterov)
//   adam_update(params, grads, ms, vs, vhats_or_None, lr, beta1, beta2, epsilon, t)
//   adamw_update(params, grads, ms, vs, vhats_or_None, lr, beta1, beta2, epsilon, t,
//                weight_decay)               (p -= p * weight_decay * lr, then Adam)
//   rmsprop_update(params, grads, velocities, momentums_or_None, average_grads_or_None,
//                  lr, rho, momentum, epsilon, centered)
//   adagrad_update(params, grads, accumulators, lr, epsilon)
//   adadelta_update(params, grads, acc_grads, acc_deltas, lr, rho, epsilon)
//   adamax_update(params, grads, ms, us, lr, beta1, beta2, epsilon, t)
//   nadam_update(params, grads, ms, vs, lr, beta1, beta2, epsilon, t, u_product_prev)
//       -> u_product_new
//   global_norm(grads) -> float;  clip_by_global_norm_scale(grads, clipnorm) -> float (the norm)
// Every list is validated completely (lengths, array type, dtype, shape, contiguity,
// writeability) before any tensor is touched; then the GIL is released and all tensors are
// updated in one loop (each large tensor threaded).
#include <cmath>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/optimizer_args.h"
#include "bindings/registry.h"
#include "cpu/optimizers.h"

namespace py = pybind11;
using namespace nabi;

namespace {

using Slot = OptSlot;

struct Item {
  bool f32;
  int64_t n;
  std::vector<void*> ptr;  // one per slot, null for an absent optional slot
};

struct Packed {
  std::vector<Item> items;
  std::vector<py::array> keep;  // keeps every array alive while the GIL is released
};

Packed validate(const char* op, const std::vector<Slot>& slots) {
  const OptLists lists = check_opt_lists(op, slots, "arrays");
  const size_t count = lists.count;
  Packed out;
  out.items.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    Item item;
    py::array p;
    std::string pname;
    for (size_t s = 0; s < slots.size(); ++s) {
      if (!lists.present[s]) {
        item.ptr.push_back(nullptr);
        continue;
      }
      const std::string name = opt_item_name(slots[s], i);
      py::object o = lists.seqs[s][i];
      if (!py::isinstance<py::array>(o))
        type_error(op, name + " must be a NumPy array, got " + py_type_name(o));
      py::array a = o.cast<py::array>();
      check_float(op, a, name.c_str());
      if (slots[s].writeable) check_writeable(op, a, name.c_str());
      if (s == 0) {
        p = a;
        pname = name;
        item.f32 = is_float32(a);
        item.n = a.size();
      } else {
        check_same_dtype(op, p, pname.c_str(), a, name.c_str());
        check_same_shape(op, p, pname.c_str(), a, name.c_str());
      }
      item.ptr.push_back(slots[s].writeable ? a.mutable_data() : const_cast<void*>(a.data()));
      out.keep.push_back(a);
    }
    out.items.push_back(std::move(item));
  }
  return out;
}

// Runs f(item, T-tag) for every tensor with the GIL released.
template <typename F>
void run_all(const Packed& pk, F&& f) {
  py::gil_scoped_release nogil;
  for (const Item& it : pk.items) {
    if (it.n == 0) continue;
    if (it.f32)
      f(it, static_cast<float*>(nullptr));
    else
      f(it, static_cast<double*>(nullptr));
  }
}

template <typename T>
T* P(const Item& it, size_t k) {
  return static_cast<T*>(it.ptr[k]);
}

void sgd(py::object params, py::object grads, py::object moms, double lr, double momentum,
         bool nesterov) {
  const char* op = "sgd";
  if (moms.is_none() && momentum != 0.0)
    value_error(op, "momentum is " + std::to_string(momentum) + " but momentums is None");
  Packed pk = validate(op, {{"params", params, false, true},
                            {"grads", grads, false, false},
                            {"momentums", moms, true, true}});
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::sgd_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), it.n, lr, momentum, nesterov);
  });
}

void adam_common(const char* op, py::object params, py::object grads, py::object ms,
                 py::object vs, py::object vhats, double lr, double beta1, double beta2,
                 double epsilon, int64_t t, double weight_decay) {
  check_step(op, t);
  Packed pk = validate(op, {{"params", params, false, true},
                            {"grads", grads, false, false},
                            {"ms", ms, false, true},
                            {"vs", vs, false, true},
                            {"vhats", vhats, true, true}});
  const double td = static_cast<double>(t);
  const double alpha = lr * std::sqrt(1.0 - std::pow(beta2, td)) / (1.0 - std::pow(beta1, td));
  const double wd_lr = weight_decay * lr;
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::adam_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), P<T>(it, 3), P<T>(it, 4), it.n,
                        alpha, beta1, beta2, epsilon, wd_lr);
  });
}

void rmsprop(py::object params, py::object grads, py::object vel, py::object moms,
             py::object avgs, double lr, double rho, double momentum, double epsilon,
             bool centered) {
  const char* op = "rmsprop";
  if (moms.is_none() && momentum > 0.0)
    value_error(op, "momentum is " + std::to_string(momentum) + " but momentums is None");
  if (centered && avgs.is_none()) value_error(op, "centered=True needs average_grads, got None");
  Packed pk = validate(op, {{"params", params, false, true},
                            {"grads", grads, false, false},
                            {"velocities", vel, false, true},
                            {"momentums", moms, true, true},
                            {"average_grads", centered ? avgs : py::none(), true, true}});
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::rmsprop_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), P<T>(it, 3), P<T>(it, 4),
                           it.n, lr, rho, momentum, epsilon);
  });
}

void adagrad(py::object params, py::object grads, py::object accs, double lr, double epsilon) {
  Packed pk = validate("adagrad", {{"params", params, false, true},
                                   {"grads", grads, false, false},
                                   {"accumulators", accs, false, true}});
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::adagrad_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), it.n, lr, epsilon);
  });
}

void adadelta(py::object params, py::object grads, py::object ag, py::object ad, double lr,
              double rho, double epsilon) {
  Packed pk = validate("adadelta", {{"params", params, false, true},
                                    {"grads", grads, false, false},
                                    {"acc_grads", ag, false, true},
                                    {"acc_deltas", ad, false, true}});
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::adadelta_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), P<T>(it, 3), it.n, lr, rho,
                            epsilon);
  });
}

void adamax(py::object params, py::object grads, py::object ms, py::object us, double lr,
            double beta1, double beta2, double epsilon, int64_t t) {
  const char* op = "adamax";
  check_step(op, t);
  Packed pk = validate(op, {{"params", params, false, true},
                            {"grads", grads, false, false},
                            {"ms", ms, false, true},
                            {"us", us, false, true}});
  const double b1p = std::pow(beta1, static_cast<double>(t));
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::adamax_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), P<T>(it, 3), it.n, lr, beta1,
                          beta2, epsilon, b1p);
  });
}

double nadam(py::object params, py::object grads, py::object ms, py::object vs, double lr,
             double beta1, double beta2, double epsilon, int64_t t, double u_product_prev) {
  const char* op = "nadam";
  check_step(op, t);
  Packed pk = validate(op, {{"params", params, false, true},
                            {"grads", grads, false, false},
                            {"ms", ms, false, true},
                            {"vs", vs, false, true}});
  // Keras 3: u_product *= beta1 * (1 - 0.5 * 0.96^t) once per step, before the updates.
  const double td = static_cast<double>(t);
  const double u_t = beta1 * (1.0 - 0.5 * std::pow(0.96, td));
  const double u_t_1 = beta1 * (1.0 - 0.5 * std::pow(0.96, td + 1.0));
  const double u_product_t = u_product_prev * u_t;
  const double u_product_t_1 = u_product_t * u_t_1;
  const double beta2_power = std::pow(beta2, td);
  run_all(pk, [&](const Item& it, auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::nadam_update<T>(P<T>(it, 0), P<T>(it, 1), P<T>(it, 2), P<T>(it, 3), it.n, lr, beta1,
                         beta2, epsilon, u_t, u_t_1, u_product_t, u_product_t_1, beta2_power);
  });
  return u_product_t;
}

double global_norm_impl(const char* op, py::object grads) {
  Packed pk = validate(op, {{"grads", grads, false, false}});
  double s = 0;
  {
    py::gil_scoped_release nogil;
    for (const Item& it : pk.items)
      s += it.f32 ? cpu::sum_squares(static_cast<const float*>(it.ptr[0]), it.n)
                  : cpu::sum_squares(static_cast<const double*>(it.ptr[0]), it.n);
  }
  return std::sqrt(s);
}

}  // namespace

NABI_BINDINGS(bind_optimizers) {
  m.def("sgd_update", &sgd, py::arg("params"), py::arg("grads"), py::arg("momentums"),
        py::arg("lr"), py::arg("momentum"), py::arg("nesterov"));
  def_adam_updates(m, &adam_common);
  m.def("rmsprop_update", &rmsprop, py::arg("params"), py::arg("grads"), py::arg("velocities"),
        py::arg("momentums"), py::arg("average_grads"), py::arg("lr"), py::arg("rho"),
        py::arg("momentum"), py::arg("epsilon"), py::arg("centered"));
  m.def("adagrad_update", &adagrad, py::arg("params"), py::arg("grads"),
        py::arg("accumulators"), py::arg("lr"), py::arg("epsilon"));
  m.def("adadelta_update", &adadelta, py::arg("params"), py::arg("grads"), py::arg("acc_grads"),
        py::arg("acc_deltas"), py::arg("lr"), py::arg("rho"), py::arg("epsilon"));
  m.def("adamax_update", &adamax, py::arg("params"), py::arg("grads"), py::arg("ms"),
        py::arg("us"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"),
        py::arg("t"));
  m.def("nadam_update", &nadam, py::arg("params"), py::arg("grads"), py::arg("ms"),
        py::arg("vs"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"),
        py::arg("t"), py::arg("u_product_prev"), "Returns the new u_product");
  m.def(
      "global_norm", [](py::object g) { return global_norm_impl("global_norm", g); },
      py::arg("grads"), "sqrt(sum of squares of every gradient), accumulated in float64");
  m.def(
      "clip_by_global_norm_scale",
      [](py::object g, double clipnorm) {
        if (!(clipnorm > 0))
          value_error("clip_by_global_norm", "clipnorm must be > 0, got " +
                                                 std::to_string(clipnorm));
        return global_norm_impl("clip_by_global_norm", g);
      },
      py::arg("grads"), py::arg("clipnorm"),
      "Returns the global L2 norm (float64 accumulation); the caller scales by "
      "clipnorm / max(norm, clipnorm)");
}
