// nabi._C.cuda_backend: bit-level elementwise ops on DeviceBuffers (csrc/cuda/bitwise.cu;
// semantics in csrc/cuda/bitwise_launchers.h).
//
//   bitwise(op, a, b)   op "and" / "or" / "xor" / "left_shift" / "right_shift"; a and b int32
//                       or int64 of one dtype, NumPy-broadcast against each other (at most 8
//                       dims); returns the broadcast shape in that dtype. Shifts clamp the
//                       amount to [0, bits - 1] (TF), left shifts wrap, right shifts are
//                       arithmetic. Errors name the op as bitwise_and / bitwise_or /
//                       bitwise_xor / bitwise_left_shift / bitwise_right_shift.
//   bitwise_not(x)      ~x of an int32/int64 x.
//   signbit(x)          bool: the sign bit of float32/float64 x (-0.0 and negative NaNs too),
//                       x < 0 for int32/int64.
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/bitwise_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

bool int_type(DType d) { return d == DType::Int32 || d == DType::Int64; }

struct OpName {
  const char* arg;
  const char* name;  // as the Python op (and its errors) names it
  nd::BitOp op;
};
constexpr OpName kOps[] = {{"and", "bitwise_and", nd::BitOp::And},
                           {"or", "bitwise_or", nd::BitOp::Or},
                           {"xor", "bitwise_xor", nd::BitOp::Xor},
                           {"left_shift", "bitwise_left_shift", nd::BitOp::LeftShift},
                           {"right_shift", "bitwise_right_shift", nd::BitOp::RightShift}};

// Element strides of a C-contiguous operand of shape s seen through the broadcast shape out
// (right-aligned; 0 on a dimension it broadcasts along or lacks).
std::vector<int64_t> bcast_strides(const std::vector<int64_t>& s, const std::vector<int64_t>& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  const size_t lead = out.size() - s.size();
  for (size_t i = s.size(); i-- > 0;) {
    st[lead + i] = s[i] == 1 ? 0 : stride;
    stride *= s[i];
  }
  return st;
}

Buf bitwise(const std::string& opname, const Buf& ab, const Buf& bb) {
  const OpName* k = nullptr;
  for (const OpName& o : kOps)
    if (opname == o.arg) k = &o;
  if (!k)
    value_error("bitwise", "op must be 'and', 'or', 'xor', 'left_shift' or 'right_shift', "
                           "got '" + opname + "'");
  const char* op = k->name;
  const DeviceBuffer& a = need(op, ab, "x");
  const DeviceBuffer& b = need(op, bb, "y");
  if (!int_type(a.dtype()) || a.dtype() != b.dtype())
    type_error(op, "x and y must both be int32 or both int64, got " +
                       std::string(cuda::dtype_str(a.dtype())) + " " + shape_str(a.shape()) +
                       " and " + cuda::dtype_str(b.dtype()) + " " + shape_str(b.shape()));
  const std::vector<int64_t>& sa = a.shape();
  const std::vector<int64_t>& sb = b.shape();
  const size_t nd_out = std::max(sa.size(), sb.size());
  if (nd_out > static_cast<size_t>(nd::kBitMaxDims))
    value_error(op, "at most 8 dimensions, got shapes " + shape_str(sa) + " and " +
                        shape_str(sb));
  std::vector<int64_t> out(nd_out, 1);
  for (size_t i = 0; i < nd_out; ++i) {  // from the innermost dimension
    const int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1;
    const int64_t db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      value_error(op, "shapes " + shape_str(sa) + " and " + shape_str(sb) +
                          " are not broadcastable");
    out[nd_out - 1 - i] = da == 1 ? db : da;
  }
  const std::vector<int64_t> st_a = bcast_strides(sa, out), st_b = bcast_strides(sb, out);
  Buf y = make_buffer(op, out, a.dtype());
  {
    py::gil_scoped_release nogil;
    nd::bitwise_binary(k->op, a.dtype(), a.data(), st_a.data(), b.data(), st_b.data(),
                       static_cast<int>(out.size()), out.data(), y->data());
  }
  return y;
}

Buf bitwise_not(const Buf& xb) {
  const char* op = "bitwise_not";
  const DeviceBuffer& x = need(op, xb, "x");
  if (!int_type(x.dtype()))
    type_error(op, "x must be int32 or int64, got " + std::string(cuda::dtype_str(x.dtype())) +
                       " of shape " + shape_str(x.shape()));
  Buf y = make_buffer(op, x.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::bitwise_not(x.dtype(), x.data(), x.numel(), y->data());
  }
  return y;
}

Buf signbit(const Buf& xb) {
  const char* op = "signbit";
  const DeviceBuffer& x = need(op, xb, "x");
  if (x.dtype() == DType::Bool)
    type_error(op, "x must be float32, float64, int32 or int64, got bool of shape " +
                       shape_str(x.shape()));
  Buf y = make_buffer(op, x.shape(), DType::Bool);
  {
    py::gil_scoped_release nogil;
    nd::signbit(x.dtype(), x.data(), x.numel(), static_cast<bool*>(y->data()));
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("bitwise", &bitwise, py::arg("op"), py::arg("a"), py::arg("b"),
         "a (op) b for op and / or / xor / left_shift / right_shift on int32/int64 buffers of "
         "one dtype, NumPy-broadcast; shifts clamped to [0, bits - 1] as TF");
  cm.def("bitwise_not", &bitwise_not, py::arg("x"), "~x of an int32/int64 buffer");
  cm.def("signbit", &signbit, py::arg("x"),
         "bool: the sign bit of float32/float64 x (-0.0 and negative NaNs included), or x < 0 "
         "for int32/int64");
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"bitwise", "bitwise_not", "signbit"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_bitwise) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"bitwise", "bitwise_not", "signbit"});
  bind_impl(cm);
}
