// Argument checks shared by the multi-tensor optimizer bindings, CPU (bind_optimizers.cpp) and
// CUDA (bind_cuda.cpp): the per-tensor list arguments (params, grads, slots) and the step.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"

namespace nabi {

// One per-tensor list argument of a fused optimizer call.
struct OptSlot {
  const char* name;
  py::object obj;          // a list/tuple of tensors, or None
  bool optional;           // None allowed
  bool writeable = false;  // CPU: the arrays are updated in place
};

struct OptLists {
  std::vector<py::sequence> seqs;  // one per slot (empty for an absent optional slot)
  std::vector<bool> present;
  size_t count = 0;                // tensors per list
};

inline std::string py_type_name(const py::handle& o) {
  return std::string(py::str(py::type::of(o).attr("__name__")));
}

// Every required slot is a list or tuple (an optional one may also be None) and all have the
// length of the first; `what` names the elements in messages ("arrays", "DeviceBuffers").
inline OptLists check_opt_lists(const char* op, const std::vector<OptSlot>& slots,
                                const char* what) {
  OptLists out;
  out.seqs.resize(slots.size());
  out.present.assign(slots.size(), false);
  for (size_t s = 0; s < slots.size(); ++s) {
    const OptSlot& sl = slots[s];
    if (sl.obj.is_none()) {
      if (!sl.optional)
        type_error(op, std::string(sl.name) + " must be a list of " + what + ", got None");
      continue;
    }
    if (!py::isinstance<py::list>(sl.obj) && !py::isinstance<py::tuple>(sl.obj))
      type_error(op, std::string(sl.name) + " must be a list of " + what + ", got " +
                         py_type_name(sl.obj));
    out.seqs[s] = sl.obj.cast<py::sequence>();
    out.present[s] = true;
    const size_t len = py::len(out.seqs[s]);
    if (s == 0)
      out.count = len;
    else if (len != out.count)
      value_error(op, "list lengths differ: " + std::string(slots[0].name) + " has " +
                          std::to_string(out.count) + ", " + sl.name + " has " +
                          std::to_string(len));
  }
  return out;
}

// "name[i]", how messages name the i-th tensor of a list argument.
inline std::string opt_item_name(const OptSlot& slot, size_t i) {
  return std::string(slot.name) + "[" + std::to_string(i) + "]";
}

inline void check_step(const char* op, int64_t t) {
  if (t < 1) value_error(op, "step t must be >= 1, got " + std::to_string(t));
}

// Registers adam_update and adamw_update (adamw: one more argument, weight_decay) on `m`,
// both served by `common(op, params, grads, ms, vs, vhats, lr, beta1, beta2, epsilon, t, wd)`.
template <typename Common>
void def_adam_updates(py::module_& m, Common common) {
  m.def(
      "adam_update",
      [common](py::object p, py::object g, py::object ms, py::object vs, py::object vh,
               double lr, double b1, double b2, double eps, int64_t t) {
        common("adam", p, g, ms, vs, vh, lr, b1, b2, eps, t, 0.0);
      },
      py::arg("params"), py::arg("grads"), py::arg("ms"), py::arg("vs"), py::arg("vhats"),
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"), py::arg("t"));
  m.def(
      "adamw_update",
      [common](py::object p, py::object g, py::object ms, py::object vs, py::object vh,
               double lr, double b1, double b2, double eps, int64_t t, double wd) {
        common("adamw", p, g, ms, vs, vh, lr, b1, b2, eps, t, wd);
      },
      py::arg("params"), py::arg("grads"), py::arg("ms"), py::arg("vs"), py::arg("vhats"),
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"), py::arg("t"),
      py::arg("weight_decay"));
}

}  // namespace nabi
