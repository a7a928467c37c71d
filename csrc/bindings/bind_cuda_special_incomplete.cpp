// nabi._C.cuda_backend.special_incomplete(op, u, v, w=None): the special functions of two or
// three arguments of csrc/cuda/special_incomplete.cu on DeviceBuffers (tf.math.igamma,
// igammac, betainc, zeta, polygamma and their gradients' pieces; the ops and their argument
// names are listed in csrc/cuda/special_incomplete.h and cuda_backend.INCOMPLETE_OPS).
// The arguments must already have one shape (broadcast on the device first) and one float
// dtype; the result is a new buffer of that shape and dtype.
// Checked here before anything is enqueued: an unknown op or a wrong number of arguments is a
// ValueError, a non-float argument or differing dtypes a TypeError, differing shapes a
// ValueError, all naming the op and the shapes. The GIL is released around the launch. Builds
// without CUDA define the same name, raising RuntimeError.
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/special_incomplete.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace si = nabi::cuda::special_incomplete;

std::string op_names() {
  std::string s;
  for (const si::OpInfo& e : si::kOps) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

// The arguments' names in TF's order (for the messages).
std::vector<const char*> arg_names(si::Op op) {
  switch (op) {
    case si::Op::Zeta: return {"x", "q"};
    case si::Op::Polygamma: return {"n", "x"};
    case si::Op::Betainc:
    case si::Op::BetaincDx: return {"a", "b", "x"};
    default: return {"a", "x"};
  }
}

std::string shapes_str(const std::vector<const DeviceBuffer*>& bs,
                       const std::vector<const char*>& names) {
  std::string s;
  for (size_t i = 0; i < bs.size(); ++i)
    s += (i ? ", " : "") + std::string(names[i]) + " " + shape_str(bs[i]->shape());
  return s;
}

Buf special_incomplete(const std::string& name, const Buf& ub, const Buf& vb, const Buf& wb) {
  const si::OpInfo* e = si::find_op(name.c_str());
  if (!e)
    value_error("special_incomplete", "unknown op '" + name + "' (one of " + op_names() + ")");
  const char* op = e->name;
  const std::vector<const char*> names = arg_names(e->op);
  if (e->arity == 2 && wb)
    value_error(op, "takes 2 arguments (" + std::string(names[0]) + ", " + names[1] +
                        "), got a third");
  if (e->arity == 3 && !wb)
    value_error(op, "takes 3 arguments (a, b, x), got 2");
  std::vector<const DeviceBuffer*> bs = {&need(op, ub, names[0]), &need(op, vb, names[1])};
  if (e->arity == 3) bs.push_back(&need(op, wb, names[2]));
  for (size_t i = 0; i < bs.size(); ++i)
    if (!is_float(bs[i]->dtype()))
      type_error(op, std::string(names[i]) + " must be float32 or float64, got " +
                         cuda::dtype_str(bs[i]->dtype()) + " of shape " +
                         shape_str(bs[i]->shape()));
  for (size_t i = 1; i < bs.size(); ++i) {
    if (bs[i]->dtype() != bs[0]->dtype())
      type_error(op, "dtypes differ: " + std::string(names[0]) + " " +
                         cuda::dtype_str(bs[0]->dtype()) + ", " + names[i] + " " +
                         cuda::dtype_str(bs[i]->dtype()));
    if (bs[i]->shape() != bs[0]->shape())
      value_error(op, "the arguments must have one shape (broadcast them first), got " +
                          shapes_str(bs, names));
  }
  Buf y = make_buffer(op, bs[0]->shape(), bs[0]->dtype());
  {
    py::gil_scoped_release nogil;
    si::incomplete(e->op, bs[0]->dtype(), bs[0]->data(), bs[1]->data(),
                   e->arity == 3 ? bs[2]->data() : nullptr, y->data(), bs[0]->numel());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("special_incomplete", &special_incomplete, py::arg("op"), py::arg("u"), py::arg("v"),
         py::arg("w") = nullptr,
         "y = op(u, v) or op(u, v, w) elementwise, the arguments of one shape and float dtype: "
         "igamma, igammac, igamma_grad_a, igamma_dx (a, x), zeta (x, q), polygamma (n, x), "
         "betainc, betainc_dx (a, b, x)");
  py::list names;
  for (const si::OpInfo& e : si::kOps) names.append(e.name);
  cm.attr("INCOMPLETE_OPS") = names;
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"special_incomplete"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_special_incomplete) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"special_incomplete"});
  bind_impl(cm);
}
