// nabi._C.cuda_backend: the CUDA backend's buffers and kernels, one function per kernel entry
// point of csrc/cuda/launchers.h, taking and returning DeviceBuffers.
//
//   DeviceBuffer.from_numpy(arr) / .empty(shape, dtype) / .zeros(shape, dtype)
//   buf.numpy(), buf.shape, buf.dtype, buf.nbytes, buf.size
//   is_available(), device_count(), device_name(i), synchronize(),
//   memory_allocated(), memory_reserved(), empty_cache()
//   matmul(a, b, transpose_a=False, transpose_b=False)            2-D, or 3-D with equal batch
//   gemm_into(a, b, out, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0)
//   set_tf32_enabled(flag) / tf32_enabled()                         opt-in TF32 tensor cores
//   activation_forward(kind, x, alpha=0.0), activation_backward(kind, grad, x, y, alpha=0.0)
//   bias_add_forward(x, b), bias_add_backward(grad)
//   softmax_forward(x), softmax_backward(grad, y), log_softmax_forward(x),
//   log_softmax_backward(grad, y)
//   softmax_xent_forward(labels, logits), sparse_softmax_xent_forward(labels, logits,
//   checked=False) (checked: the caller has range-checked the labels on the host, so the
//   kernel's flag is not read back -- no synchronisation; a bad label still gives NaN rows),
//   sigmoid_xent_forward(labels, logits)                          -> (loss, backprop)
//   reduce_sum(x, axis), reduce_mean(x, axis), reduce_max(x, axis)
//   sgd_update, adam_update, adamw_update, rmsprop_update          (the signatures of nabi._C's
//                                                                   CPU versions, lists of
//                                                                   DeviceBuffers, in place)
//   dropout(x, rate, seed, offset), dropout_backward(grad, rate, seed, offset),
//   random_uniform(shape, seed, offset, dtype="float32"), _philox4x32_10(ctr, key)
//
// Arguments are validated ([op]-prefixed errors) before any kernel is enqueued; the GIL is
// released around the launches. Kernels are asynchronous on one stream; numpy() waits.
//
// Builds without CUDA (NABI_WITH_CUDA undefined) get the same names: is_available() is False,
// device_count() is 0, and every kernel entry and DeviceBuffer constructor raises
// RuntimeError("[name] has no CUDA implementation in this build (built without CUDA)").
// Builds with CUDA on a machine without a driver or GPU: is_available() is False and creating
// a DeviceBuffer raises RuntimeError naming the reason (cudaGetDeviceCount's error).
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/stl.h>
#if defined(NABI_CUDA_SIM)
#include <cuda_runtime.h>  // the host simulator's: nabi_sim::stats
#endif

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/optimizer_args.h"
#include "bindings/registry.h"
#include "cpu/activations.h"

#if defined(NABI_WITH_CUDA)
#include <cmath>

#include "cuda/allocator.h"
#include "cuda/launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

// Every kernel entry point; the same list in both builds (tests check it).
const char* const kKernelEntries[] = {
    "matmul",           "gemm_into",          "activation_forward", "activation_backward",
    "bias_add_forward", "bias_add_backward",  "softmax_forward",    "softmax_backward",
    "log_softmax_forward", "log_softmax_backward", "softmax_xent_forward",
    "sparse_softmax_xent_forward", "sigmoid_xent_forward", "reduce_sum", "reduce_mean",
    "reduce_max",       "sgd_update",         "adam_update",        "adamw_update",
    "rmsprop_update",   "dropout",            "dropout_backward",   "random_uniform",
};

#if defined(NABI_WITH_CUDA)
// ============================ CUDA build ====================================================
using namespace nabi::cudabind;
// ---- matmul ----
struct MM {
  int64_t batch, M, N, K, lda, ldb;
  bool batched;
};

MM resolve_mm(const char* op, const DeviceBuffer& a, const DeviceBuffer& b, bool ta, bool tb) {
  same_dtype(op, a, "a", b, "b");
  if (a.ndim() != b.ndim() || (a.ndim() != 2 && a.ndim() != 3))
    value_error(op, "a and b must both be 2-D or both 3-D, got shapes " + shape_str(a.shape()) +
                        " and " + shape_str(b.shape()));
  const bool batched = a.ndim() == 3;
  const int o = batched ? 1 : 0;
  if (batched && a.shape()[0] != b.shape()[0])
    value_error(op, "batch sizes differ: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
  const int64_t ar = a.shape()[o], ac = a.shape()[o + 1];
  const int64_t br = b.shape()[o], bc = b.shape()[o + 1];
  MM s;
  s.batched = batched;
  s.batch = batched ? a.shape()[0] : 1;
  s.M = ta ? ac : ar;
  s.K = ta ? ar : ac;
  const int64_t kb = tb ? bc : br;
  s.N = tb ? br : bc;
  if (s.K != kb)
    value_error(op, "inner dimensions differ: " + shape_str(a.shape()) +
                        (ta ? "^T" : "") + " @ " + shape_str(b.shape()) + (tb ? "^T" : ""));
  s.lda = ac;
  s.ldb = bc;
  return s;
}

void run_mm(const MM& s, bool ta, bool tb, double alpha, const DeviceBuffer& a,
            const DeviceBuffer& b, double beta, const DeviceBuffer& c) {
  by_dtype(a.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* ap = a.ptr<T>();
    const T* bp = b.ptr<T>();
    T* cp = c.ptr<T>();
    py::gil_scoped_release nogil;
    cuda::gemm_batched<T>(ta, tb, s.M, s.N, s.K, T(alpha), ap, s.lda, s.M * s.K, bp, s.ldb,
                          s.K * s.N, T(beta), cp, s.N, s.M * s.N, s.batch);  // one launch
  });
}

Buf matmul(const Buf& ab, const Buf& bb, bool ta, bool tb) {
  const char* op = "matmul";
  const DeviceBuffer& a = need_float(op, ab, "a");
  const DeviceBuffer& b = need_float(op, bb, "b");
  const MM s = resolve_mm(op, a, b, ta, tb);
  std::vector<int64_t> shape;
  if (s.batched) shape.push_back(s.batch);
  shape.push_back(s.M);
  shape.push_back(s.N);
  Buf c = make_buffer(shape, a.dtype());
  run_mm(s, ta, tb, 1.0, a, b, 0.0, *c);
  return c;
}

bool overlaps(const DeviceBuffer& x, const DeviceBuffer& y) {
  if (x.nbytes() == 0 || y.nbytes() == 0 || !x.data() || !y.data()) return false;
  const auto x0 = reinterpret_cast<uintptr_t>(x.data()), x1 = x0 + x.nbytes();
  const auto y0 = reinterpret_cast<uintptr_t>(y.data()), y1 = y0 + y.nbytes();
  return x0 < y1 && y0 < x1;
}

Buf gemm_into(const Buf& ab, const Buf& bb, const Buf& cb, bool ta, bool tb, double alpha,
              double beta) {
  const char* op = "gemm_into";
  const DeviceBuffer& a = need_float(op, ab, "a");
  const DeviceBuffer& b = need_float(op, bb, "b");
  const DeviceBuffer& c = need_float(op, cb, "out");
  const MM s = resolve_mm(op, a, b, ta, tb);
  same_dtype(op, a, "a", c, "out");
  std::vector<int64_t> want;
  if (s.batched) want.push_back(s.batch);
  want.push_back(s.M);
  want.push_back(s.N);
  if (c.shape() != want)
    value_error(op, "out has shape " + shape_str(c.shape()) + ", expected " + shape_str(want));
  // Any overlap of byte ranges, as the CPU binding (bind_gemm.cpp): views at any element
  // offset (DeviceBuffer.view) can overlap without sharing a start, and the kernel reads A/B
  // through __restrict__ while it writes C.
  if (overlaps(c, a) || overlaps(c, b)) value_error(op, "out overlaps an input");
  run_mm(s, ta, tb, alpha, a, b, beta, c);
  return cb;
}

// ---- activations / bias ----
cpu::Act parse_act(const std::string& kind) {
  cpu::Act k;
  if (!cpu::parse_activation(kind, &k)) value_error("activation", "unknown activation '" + kind + "'");
  return k;
}

Buf act_fwd(const std::string& kind, const Buf& xb, double alpha) {
  const char* op = "activation";
  const cpu::Act k = parse_act(kind);
  const DeviceBuffer& x = need_float(op, xb, "x");
  Buf y = make_buffer(x.shape(), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::act_forward<T>(static_cast<int>(k), x.ptr<T>(), y->ptr<T>(), x.numel(), T(alpha));
  });
  return y;
}

Buf act_bwd(const std::string& kind, const Buf& gb, const Buf& xb, const Buf& yb, double alpha) {
  const char* op = "activation";
  const cpu::Act k = parse_act(kind);
  const DeviceBuffer& g = need_float(op, gb, "grad");
  const DeviceBuffer& x = need_float(op, xb, "x");
  const DeviceBuffer& y = need_float(op, yb, "y");
  same_dtype(op, g, "grad", x, "x");
  same_dtype(op, g, "grad", y, "y");
  same_shape(op, g, "grad", x, "x");
  same_shape(op, g, "grad", y, "y");
  Buf dx = make_buffer(g.shape(), g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::act_backward<T>(static_cast<int>(k), g.ptr<T>(), x.ptr<T>(), y.ptr<T>(), dx->ptr<T>(),
                          g.numel(), T(alpha));
  });
  return dx;
}

Buf bias_fwd(const Buf& xb, const Buf& bb) {
  const char* op = "bias_add";
  const DeviceBuffer& x = need_float(op, xb, "x");
  const DeviceBuffer& b = need_float(op, bb, "b");
  same_dtype(op, x, "x", b, "b");
  if (x.ndim() < 1) value_error(op, "x must have rank >= 1, got shape ()");
  if (b.ndim() != 1 || b.shape()[0] != last_dim(x))
    value_error(op, "b must be 1-D of size " + std::to_string(last_dim(x)) + " (x's last axis), got " +
                        shape_str(b.shape()));
  Buf y = make_buffer(x.shape(), x.dtype());
  const int64_t cols = last_dim(x), rows = cols ? x.numel() / cols : 0;
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::bias_add<T>(x.ptr<T>(), b.ptr<T>(), y->ptr<T>(), rows, cols);
  });
  return y;
}

Buf bias_bwd(const Buf& gb) {
  const char* op = "bias_add_grad";
  const DeviceBuffer& g = need_float(op, gb, "grad");
  if (g.ndim() < 1) value_error(op, "grad must have rank >= 1, got shape ()");
  const int64_t cols = last_dim(g), rows = cols ? g.numel() / cols : 0;
  Buf db = make_buffer({cols}, g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::bias_grad<T>(g.ptr<T>(), db->ptr<T>(), rows, cols);
  });
  return db;
}

// ---- softmax ----
template <bool kLog>
Buf softmax_fwd(const Buf& xb) {
  const char* op = kLog ? "log_softmax" : "softmax";
  const DeviceBuffer& x = need_float(op, xb, "x");
  if (x.ndim() < 1) value_error(op, "x must have rank >= 1, got shape ()");
  const int64_t cols = last_dim(x), rows = cols ? x.numel() / cols : 0;
  Buf y = make_buffer(x.shape(), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::softmax_forward<T>(x.ptr<T>(), y->ptr<T>(), rows, cols, kLog);
  });
  return y;
}

template <bool kLog>
Buf softmax_bwd(const Buf& gb, const Buf& yb) {
  const char* op = kLog ? "log_softmax_grad" : "softmax_grad";
  const DeviceBuffer& g = need_float(op, gb, "grad");
  const DeviceBuffer& y = need_float(op, yb, "y");
  same_dtype(op, g, "grad", y, "y");
  same_shape(op, g, "grad", y, "y");
  if (g.ndim() < 1) value_error(op, "grad must have rank >= 1, got shape ()");
  const int64_t cols = last_dim(g), rows = cols ? g.numel() / cols : 0;
  Buf dx = make_buffer(g.shape(), g.dtype());
  by_dtype(g.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::softmax_backward<T>(g.ptr<T>(), y.ptr<T>(), dx->ptr<T>(), rows, cols, kLog);
  });
  return dx;
}

// ---- losses ----
std::vector<int64_t> leading(const DeviceBuffer& b) {
  return std::vector<int64_t>(b.shape().begin(), b.shape().end() - 1);
}

py::tuple softmax_xent(const Buf& zb, const Buf& xb) {
  const char* op = "softmax_cross_entropy_with_logits";
  const DeviceBuffer& x = need_float(op, xb, "logits");
  const DeviceBuffer& z = need_float(op, zb, "labels");
  same_dtype(op, z, "labels", x, "logits");
  if (x.ndim() < 1) value_error(op, "logits must have rank >= 1, got shape ()");
  same_shape(op, z, "labels", x, "logits");
  const int64_t cols = last_dim(x);
  int64_t rows = 1;
  for (int i = 0; i + 1 < x.ndim(); ++i) rows *= x.shape()[i];
  Buf loss = make_buffer(leading(x), x.dtype());
  Buf bp = make_buffer(x.shape(), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::softmax_xent<T>(z.ptr<T>(), x.ptr<T>(), loss->ptr<T>(), bp->ptr<T>(), rows, cols);
  });
  return py::make_tuple(loss, bp);
}

py::tuple sparse_softmax_xent(const Buf& zb, const Buf& xb, bool checked) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  const DeviceBuffer& x = need_float(op, xb, "logits");
  const DeviceBuffer& z = need(op, zb, "labels");
  if (z.dtype() != DType::Int32 && z.dtype() != DType::Int64)
    type_error(op, std::string("labels must be int32 or int64, got ") + cuda::dtype_str(z.dtype()));
  if (x.ndim() < 1) value_error(op, "logits must have rank >= 1, got shape ()");
  if (z.shape() != leading(x))
    value_error(op, "labels " + shape_str(z.shape()) + " must have the shape of logits " +
                        shape_str(x.shape()) + " without its last axis");
  const int64_t cols = last_dim(x), rows = z.numel();
  Buf loss = make_buffer(leading(x), x.dtype());
  Buf bp = make_buffer(x.shape(), x.dtype());
  bool ok = true;
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    if (z.dtype() == DType::Int32)
      ok = cuda::sparse_softmax_xent<T, int32_t>(z.ptr<int32_t>(), x.ptr<T>(), loss->ptr<T>(),
                                                 bp->ptr<T>(), rows, cols, !checked);
    else
      ok = cuda::sparse_softmax_xent<T, int64_t>(z.ptr<int64_t>(), x.ptr<T>(), loss->ptr<T>(),
                                                 bp->ptr<T>(), rows, cols, !checked);
  });
  if (!ok)
    value_error(op, "a label is outside [0, " + std::to_string(cols) + ")");
  return py::make_tuple(loss, bp);
}

py::tuple sigmoid_xent(const Buf& zb, const Buf& xb) {
  const char* op = "sigmoid_cross_entropy_with_logits";
  const DeviceBuffer& x = need_float(op, xb, "logits");
  const DeviceBuffer& z = need_float(op, zb, "labels");
  same_dtype(op, z, "labels", x, "logits");
  same_shape(op, z, "labels", x, "logits");
  Buf loss = make_buffer(x.shape(), x.dtype());
  Buf bp = make_buffer(x.shape(), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::sigmoid_xent<T>(z.ptr<T>(), x.ptr<T>(), loss->ptr<T>(), bp->ptr<T>(), x.numel());
  });
  return py::make_tuple(loss, bp);
}

// ---- reductions ----
Buf reduce(const char* op, cuda::ReduceOp rop, const Buf& xb, int64_t axis) {
  const DeviceBuffer& x = need_float(op, xb, "x");
  const int64_t nd = x.ndim();
  if (nd < 1) value_error(op, "x must have rank >= 1, got shape ()");
  if (axis < -nd || axis >= nd)
    value_error(op, "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(nd));
  if (axis < 0) axis += nd;
  // NumPy (and the emulator) raise for the max of an empty axis; the kernel would return -inf.
  if (rop == cuda::ReduceOp::Max && x.shape()[axis] == 0)
    value_error(op, "max of an empty axis (x of shape " + shape_str(x.shape()) + ", axis " +
                        std::to_string(axis) + ")");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (int64_t i = axis + 1; i < nd; ++i) inner *= x.shape()[i];
  const int64_t n = x.shape()[axis];
  std::vector<int64_t> out_shape;
  for (int64_t i = 0; i < nd; ++i)
    if (i != axis) out_shape.push_back(x.shape()[i]);
  Buf y = make_buffer(out_shape, x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::reduce_axis<T>(rop, x.ptr<T>(), y->ptr<T>(), outer, n, inner);
  });
  return y;
}

// ---- optimizers ----
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

void sgd(py::object params, py::object grads, py::object moms, double lr, double momentum,
         bool nesterov) {
  const char* op = "sgd";
  if (moms.is_none() && momentum != 0.0)
    value_error(op, "momentum is " + std::to_string(momentum) + " but momentums is None");
  DeviceOptLists L = validate_opt(op, {{"params", params, false}, {"grads", grads, false},
                                 {"momentums", moms, true}});
  py::gil_scoped_release nogil;
  cuda::sgd_update_multi<float>(L.t32, L.n32, lr, momentum, nesterov);
  cuda::sgd_update_multi<double>(L.t64, L.n64, lr, momentum, nesterov);
}

void adam_common(const char* op, py::object params, py::object grads, py::object ms,
                 py::object vs, py::object vhats, double lr, double beta1, double beta2,
                 double epsilon, int64_t t, double weight_decay) {
  check_step(op, t);
  DeviceOptLists L = validate_opt(op, {{"params", params, false}, {"grads", grads, false},
                                 {"ms", ms, false}, {"vs", vs, false}, {"vhats", vhats, true}});
  const double td = static_cast<double>(t);
  const double alpha = lr * std::sqrt(1.0 - std::pow(beta2, td)) / (1.0 - std::pow(beta1, td));
  const double wd_lr = weight_decay * lr;
  py::gil_scoped_release nogil;
  cuda::adam_update_multi<float>(L.t32, L.n32, alpha, beta1, beta2, epsilon, wd_lr);
  cuda::adam_update_multi<double>(L.t64, L.n64, alpha, beta1, beta2, epsilon, wd_lr);
}

void rmsprop(py::object params, py::object grads, py::object vel, py::object moms,
             py::object avgs, double lr, double rho, double momentum, double epsilon,
             bool centered) {
  const char* op = "rmsprop";
  if (moms.is_none() && momentum > 0.0)
    value_error(op, "momentum is " + std::to_string(momentum) + " but momentums is None");
  if (centered && avgs.is_none()) value_error(op, "centered=True needs average_grads, got None");
  DeviceOptLists L = validate_opt(op, {{"params", params, false}, {"grads", grads, false},
                                 {"velocities", vel, false},
                                 // Momentums are used whenever given, as the CPU kernel does
                                 // (bind_optimizers.cpp): with momentum <= 0 it still stores
                                 // mom = mu * mom + inc. Dropping them here left the buffers
                                 // stale, unlike the CPU/emulator.
                                 {"momentums", moms, true},
                                 {"average_grads", centered ? avgs : py::none(), true}});
  py::gil_scoped_release nogil;
  cuda::rmsprop_update_multi<float>(L.t32, L.n32, lr, rho, momentum, epsilon);
  cuda::rmsprop_update_multi<double>(L.t64, L.n64, lr, rho, momentum, epsilon);
}

// ---- dropout / random ----
void check_rate(const char* op, double rate) {
  if (!(rate >= 0.0 && rate < 1.0))
    value_error(op, "rate must be in [0, 1), got " + std::to_string(rate));
}

Buf dropout_impl(const char* op, const Buf& xb, double rate, uint64_t seed, uint64_t offset) {
  check_rate(op, rate);
  const DeviceBuffer& x = need_float(op, xb, "x");
  Buf y = make_buffer(x.shape(), x.dtype());
  by_dtype(x.dtype(), [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::dropout<T>(x.ptr<T>(), y->ptr<T>(), x.numel(), rate, seed, offset);
  });
  return y;
}

Buf random_uniform(std::vector<int64_t> shape, uint64_t seed, uint64_t offset,
                   const std::string& dtype) {
  const char* op = "random_uniform";
  const DType d = dtype_from_name(op, dtype);
  if (!is_float(d)) type_error(op, "dtype must be float32 or float64, got " + dtype);
  Buf y = make_buffer(op, shape, d);
  by_dtype(d, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    py::gil_scoped_release nogil;
    cuda::random_uniform<T>(y->ptr<T>(), y->numel(), seed, offset);
  });
  return y;
}

void bind_impl(py::module_& cm) {
  py::class_<DeviceBuffer, Buf>(cm, "DeviceBuffer",
                                "An owning CUDA device allocation with a dtype and a C-contiguous "
                                "shape (from the caching allocator)")
      .def_static("from_numpy", &from_numpy, py::arg("arr"), "Copy a NumPy array to the GPU")
      .def_static(
          "empty",
          [](std::vector<int64_t> shape, const std::string& dtype) {
            return make_buffer(std::move(shape), dtype_from_name("DeviceBuffer", dtype));
          },
          py::arg("shape"), py::arg("dtype") = "float32", "Uninitialised buffer")
      .def_static(
          "zeros",
          [](std::vector<int64_t> shape, const std::string& dtype) {
            Buf b = make_buffer(std::move(shape), dtype_from_name("DeviceBuffer", dtype));
            cuda::memset_zero(b->data(), b->nbytes());
            return b;
          },
          py::arg("shape"), py::arg("dtype") = "float32", "Zero-filled buffer")
      .def("numpy", [](const DeviceBuffer& b) { return to_numpy(b); },
           "Copy to a new NumPy array (waits for the GPU)")
      .def(
          "view",
          [](const DeviceBuffer& b, std::vector<int64_t> shape, int64_t offset) {
            try {
              return b.view(shape, offset);
            } catch (const std::invalid_argument&) {
              value_error("DeviceBuffer.view", "a view of shape " + shape_str(shape) +
                                                   " at element offset " +
                                                   std::to_string(offset) + " leaves a buffer of " +
                                                   std::to_string(b.storage()->nbytes) + " bytes");
            }
          },
          py::arg("shape"), py::arg("offset") = 0,
          "A buffer over the same memory (no copy): a reshape, or a contiguous run of elements "
          "starting offset elements after this one's start")
      .def_property_readonly("shape", &shape_tuple)
      .def_property_readonly("dtype", [](const DeviceBuffer& b) { return std::string(cuda::dtype_str(b.dtype())); })
      .def_property_readonly("nbytes", [](const DeviceBuffer& b) { return b.nbytes(); })
      .def_property_readonly("size", [](const DeviceBuffer& b) { return b.numel(); })
      .def_property_readonly("ndim", [](const DeviceBuffer& b) { return b.ndim(); })
      .def("__repr__", [](const DeviceBuffer& b) {
        return "<DeviceBuffer shape=" + shape_str(b.shape()) + " dtype=" +
               cuda::dtype_str(b.dtype()) + ">";
      });

  cm.def("is_available", []() { return cuda::is_available(); });
  cm.def("device_count", []() { return cuda::device_count(); });
  cm.def("device_name", [](int i) { return cuda::device_name(i); }, py::arg("index") = 0);
  cm.def("unavailable_reason", []() { return cuda::unavailable_reason(); });
  cm.def("synchronize", []() {
    py::gil_scoped_release nogil;
    cuda::synchronize();
  });
  cm.def("memory_allocated", []() { return cuda::memory_allocated(); });
  cm.def("memory_reserved", []() { return cuda::memory_reserved(); });
  cm.def("empty_cache", []() {
    py::gil_scoped_release nogil;
    cuda::empty_cache();
  });
  cm.def("_size_class", [](size_t n) { return cuda::size_class(n); }, py::arg("nbytes"));
  cm.def("set_tf32_enabled", [](bool on) { cuda::gemm_set_tf32(on); }, py::arg("enabled"));
  cm.def("tf32_enabled", []() { return cuda::gemm_tf32_enabled(); });
#if defined(NABI_CUDA_SIM)
  // Host simulator only: what the kernels asked of the runtime since the last reset
  // (tools/launch_count.py).
  cm.def(
      "_sim_stats",
      [](bool reset) {
        const nabi_sim::Stats s = nabi_sim::stats(reset);
        py::dict d, launches;
        for (const auto& [name, n] : s.launches) launches[py::str(name)] = n;
        d["launches"] = launches;
        d["h2d"] = s.h2d, d["d2h"] = s.d2h, d["d2d"] = s.d2d;
        d["h2d_bytes"] = s.h2d_bytes, d["d2h_bytes"] = s.d2h_bytes, d["d2d_bytes"] = s.d2d_bytes;
        d["memsets"] = s.memsets, d["mallocs"] = s.mallocs, d["frees"] = s.frees;
        d["syncs"] = s.syncs, d["event_waits"] = s.event_waits;
        return d;
      },
      py::arg("reset") = false);
#endif

  cm.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false,
         py::arg("transpose_b") = false);
  cm.def("gemm_into", &gemm_into, py::arg("a"), py::arg("b"), py::arg("out"),
         py::arg("transpose_a") = false, py::arg("transpose_b") = false,
         py::arg("alpha") = 1.0, py::arg("beta") = 0.0);
  cm.def("activation_forward", &act_fwd, py::arg("kind"), py::arg("x"), py::arg("alpha") = 0.0);
  cm.def("activation_backward", &act_bwd, py::arg("kind"), py::arg("grad"), py::arg("x"),
         py::arg("y"), py::arg("alpha") = 0.0);
  cm.def("bias_add_forward", &bias_fwd, py::arg("x"), py::arg("b"));
  cm.def("bias_add_backward", &bias_bwd, py::arg("grad"));
  cm.def("softmax_forward", &softmax_fwd<false>, py::arg("x"));
  cm.def("softmax_backward", &softmax_bwd<false>, py::arg("grad"), py::arg("y"));
  cm.def("log_softmax_forward", &softmax_fwd<true>, py::arg("x"));
  cm.def("log_softmax_backward", &softmax_bwd<true>, py::arg("grad"), py::arg("y"));
  cm.def("softmax_xent_forward", &softmax_xent, py::arg("labels"), py::arg("logits"));
  cm.def("sparse_softmax_xent_forward", &sparse_softmax_xent, py::arg("labels"),
         py::arg("logits"), py::arg("checked") = false);
  cm.def("sigmoid_xent_forward", &sigmoid_xent, py::arg("labels"), py::arg("logits"));
  cm.def("reduce_sum", [](const Buf& x, int64_t axis) {
    return reduce("reduce_sum", cuda::ReduceOp::Sum, x, axis); }, py::arg("x"), py::arg("axis") = -1);
  cm.def("reduce_mean", [](const Buf& x, int64_t axis) {
    return reduce("reduce_mean", cuda::ReduceOp::Mean, x, axis); }, py::arg("x"), py::arg("axis") = -1);
  cm.def("reduce_max", [](const Buf& x, int64_t axis) {
    return reduce("reduce_max", cuda::ReduceOp::Max, x, axis); }, py::arg("x"), py::arg("axis") = -1);
  cm.def("sgd_update", &sgd, py::arg("params"), py::arg("grads"), py::arg("momentums"),
         py::arg("lr"), py::arg("momentum"), py::arg("nesterov"));
  def_adam_updates(cm, &adam_common);
  cm.def("rmsprop_update", &rmsprop, py::arg("params"), py::arg("grads"), py::arg("velocities"),
         py::arg("momentums"), py::arg("average_grads"), py::arg("lr"), py::arg("rho"),
         py::arg("momentum"), py::arg("epsilon"), py::arg("centered"));
  cm.def("dropout", [](const Buf& x, double rate, uint64_t seed, uint64_t offset) {
    return dropout_impl("dropout", x, rate, seed, offset); },
         py::arg("x"), py::arg("rate"), py::arg("seed"), py::arg("offset") = 0);
  cm.def("dropout_backward", [](const Buf& g, double rate, uint64_t seed, uint64_t offset) {
    return dropout_impl("dropout_backward", g, rate, seed, offset); },
         py::arg("grad"), py::arg("rate"), py::arg("seed"), py::arg("offset") = 0,
         "The forward's mask and scale applied to grad (same seed and offset)");
  cm.def("random_uniform", &random_uniform, py::arg("shape"), py::arg("seed"),
         py::arg("offset") = 0, py::arg("dtype") = "float32",
         "Uniform [0, 1) from Philox 4x32-10 (24-bit resolution), the dropout stream");
  cm.def(
      "_philox4x32_10",
      [](std::vector<uint32_t> ctr, std::vector<uint32_t> key) {
        if (ctr.size() != 4 || key.size() != 2)
          value_error("philox", "ctr must have 4 words and key 2");
        uint32_t out[4];
        cuda::philox4x32_10_host(ctr.data(), key.data(), out);
        return std::vector<uint32_t>(out, out + 4);
      },
      py::arg("ctr"), py::arg("key"), "Host evaluation of the kernels' Philox 4x32-10");
}

#else
// ============================ build without CUDA ==========================================
struct NoCudaBuffer {};


void bind_impl(py::module_& cm) {
  py::class_<NoCudaBuffer>(cm, "DeviceBuffer",
                           "CUDA device buffer (unavailable: nabi was built without CUDA)")
      .def_static("from_numpy", [](py::object) -> py::object { no_cuda("DeviceBuffer"); },
                  py::arg("arr"))
      .def_static("empty", [](py::object, py::object) -> py::object { no_cuda("DeviceBuffer"); },
                  py::arg("shape"), py::arg("dtype") = "float32")
      .def_static("zeros", [](py::object, py::object) -> py::object { no_cuda("DeviceBuffer"); },
                  py::arg("shape"), py::arg("dtype") = "float32");
  cm.def("is_available", []() { return false; });
  cm.def("device_count", []() { return 0; });
  cm.def("device_name", [](int) -> std::string { no_cuda("device_name"); }, py::arg("index") = 0);
  cm.def("unavailable_reason", []() { return std::string("nabi was built without CUDA"); });
  cm.def("synchronize", []() {});
  cm.def("memory_allocated", []() { return size_t(0); });
  cm.def("memory_reserved", []() { return size_t(0); });
  cm.def("empty_cache", []() {});
  cm.def("set_tf32_enabled", [](bool) {}, py::arg("enabled"));
  cm.def("tf32_enabled", []() { return false; });
  cm.def("_philox4x32_10", [](py::object, py::object) -> py::object { no_cuda("philox"); },
         py::arg("ctr"), py::arg("key"));
  for (const char* name : kKernelEntries) def_unavailable(cm, {name});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda) {
  py::module_ cm = cuda_module(m);
  py::list names = cm.attr("KERNEL_ENTRIES").cast<py::list>();
  for (const char* n : kKernelEntries) names.append(n);
  bind_impl(cm);
}
