// nabi._C.cuda_backend.special(op, x): the special functions of csrc/cuda/special.cu on a
// DeviceBuffer (float32 or float64, any shape, 0-d and empty included); returns a new buffer of
// x's shape and dtype. The op names are listed in csrc/cuda/special.h (cuda_backend.SPECIAL_OPS).
// Checked here before anything is enqueued: an unknown op is a ValueError, a non-float x a
// TypeError, both naming the op and x's shape. Builds without CUDA define the same name,
// raising RuntimeError("[special] has no CUDA implementation in this build ...").
#include <string>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/special.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace sp = nabi::cuda::special;

std::string op_names() {
  std::string s;
  for (const sp::OpName& e : sp::kOps) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

Buf special(const std::string& name, const Buf& xb) {
  const char* op = "special";
  const sp::OpName* e = sp::find_op(name.c_str());
  if (!e) value_error(op, "unknown op '" + name + "' (one of " + op_names() + ")");
  const DeviceBuffer& x = need(op, xb, "x");
  if (!is_float(x.dtype()))
    type_error(op, "'" + name + "' needs x of float32 or float64, got " +
                       cuda::dtype_str(x.dtype()) + " of shape " + shape_str(x.shape()));
  Buf y = make_buffer(x.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    sp::special(e->op, x.dtype(), x.data(), y->data(), x.numel());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("special", &special, py::arg("op"), py::arg("x"),
         "y = op(x) elementwise for the special functions (lgamma, digamma, trigamma, erf, "
         "erfc, erfinv, ndtri, bessel_i0/i0e/i1/i1e/k0/k0e/k1/k1e/j0/j1/y0/y1, dawsn, expint, "
         "fresnel_cos, fresnel_sin, spence)");
  py::list names;
  for (const sp::OpName& e : sp::kOps) names.append(e.name);
  cm.attr("SPECIAL_OPS") = names;
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"special"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_special) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"special"});
  bind_impl(cm);
}
