// nabi._C.cuda_backend: sampling from distributions given on the device
// (csrc/cuda/random_samplers.cu; semantics in csrc/cuda/random_sampler_launchers.h).
//
//   categorical_sample(logits, u, dtype="int64")
//       logits (rows, classes) float32/float64 with classes >= 1, u (rows, n) float64
//       uniforms in [0, 1) (drawn by the host generator); the result (rows, n) int32/int64:
//       the first class whose softmax cdf exceeds u (NumPy's Generator.choice), -1 for a row
//       with a NaN or +inf logit or all logits -inf.
//   gamma_sample(alpha, counter_lo, counter_hi, key, state=None)
//       alpha float64 (any shape) -> standard Gamma(alpha) samples of its shape (float64),
//       sample i (flat) on the Philox substream counter + 256 * i under key; with state (an
//       int64 [3] buffer [counter_lo, counter_hi, key], a Generator's state on the device) the
//       counter and key are read from it on the device instead.
//   poisson_sample(lam, counter_lo, counter_hi, key, state=None)
//       lam float64 (any shape) -> Poisson(lam) counts of its shape (float64), the same
//       substreams.
//   binomial_sample(count, prob, counter_lo, counter_hi, key, state=None)
//       count, prob float64 of one shape -> Binomial(count, prob) counts of it (float64), the
//       same substreams.
//   philox_state_advance(state, n)
//       state int64 [3] -> a new int64 [3] state, its 128-bit counter moved on by 256 * n
//       (a Generator's draw of n values), key kept.
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <cstdint>
#include <limits>
#include <string>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/random_sampler_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

Buf categorical_sample(const Buf& lb, const Buf& ub, const std::string& dtype) {
  const char* op = "categorical_sample";
  const DeviceBuffer& lg = need(op, lb, "logits");
  const DeviceBuffer& u = need(op, ub, "u");
  if (!is_float(lg.dtype()))
    type_error(op, "logits must be float32 or float64, got " +
                       std::string(cuda::dtype_str(lg.dtype())) + " of shape " +
                       shape_str(lg.shape()));
  if (u.dtype() != DType::Float64)
    type_error(op, "u must be float64, got " + std::string(cuda::dtype_str(u.dtype())) +
                       " of shape " + shape_str(u.shape()));
  if (lg.ndim() != 2)
    value_error(op, "logits must be 2-D (rows, classes), got shape " + shape_str(lg.shape()));
  if (u.ndim() != 2 || u.shape()[0] != lg.shape()[0])
    value_error(op, "u must be 2-D (rows, samples) with logits' rows, got logits " +
                        shape_str(lg.shape()) + " and u " + shape_str(u.shape()));
  const int64_t rows = lg.shape()[0], classes = lg.shape()[1], n = u.shape()[1];
  if (classes < 1 && rows > 0 && n > 0)
    value_error(op, "logits must have at least one class, got shape " + shape_str(lg.shape()));
  const DType od = dtype_from_name(op, dtype);
  if (od != DType::Int32 && od != DType::Int64)
    type_error(op, "dtype must be int32 or int64, got " + dtype);
  if (od == DType::Int32 && classes > std::numeric_limits<int32_t>::max())
    value_error(op, "logits " + shape_str(lg.shape()) + " have too many classes for int32");
  Buf y = make_buffer(op, {rows, n}, od);
  Buf cdf = make_buffer(op, {rows * n ? rows : 0, rows * n ? classes : 0}, DType::Float64);
  {
    py::gil_scoped_release nogil;
    nd::categorical_sample(lg.dtype(), lg.data(), rows, classes,
                           static_cast<const double*>(u.data()), n,
                           static_cast<double*>(cdf->data()), od, y->data());
  }
  return y;
}

// A Generator's device state (int64 [3]) or nullptr for None.
const int64_t* philox_state(const char* op, const Buf& sb) {
  if (!sb) return nullptr;
  if (sb->dtype() != DType::Int64 || sb->shape() != std::vector<int64_t>{3})
    value_error(op, "state must be an int64 buffer of shape [3] (counter_lo, counter_hi, key), "
                    "got " + std::string(cuda::dtype_str(sb->dtype())) + " of shape " +
                        shape_str(sb->shape()));
  return static_cast<const int64_t*>(sb->data());
}

Buf gamma_sample(const Buf& ab, uint64_t counter_lo, uint64_t counter_hi, uint64_t key,
                 const Buf& sb) {
  const char* op = "gamma_sample";
  const DeviceBuffer& a = need(op, ab, "alpha");
  if (a.dtype() != DType::Float64)
    type_error(op, "alpha must be float64, got " + std::string(cuda::dtype_str(a.dtype())) +
                       " of shape " + shape_str(a.shape()));
  const int64_t n = a.numel();
  if (n > std::numeric_limits<int64_t>::max() / 256)
    value_error(op, "alpha " + shape_str(a.shape()) + " has too many elements");
  const int64_t* state = philox_state(op, sb);
  Buf y = make_buffer(op, a.shape(), DType::Float64);
  {
    py::gil_scoped_release nogil;
    nd::gamma_sample(static_cast<const double*>(a.data()), n, counter_lo, counter_hi, key,
                     state, static_cast<double*>(y->data()));
  }
  return y;
}

Buf poisson_sample(const Buf& lb, uint64_t counter_lo, uint64_t counter_hi, uint64_t key,
                   const Buf& sb) {
  const char* op = "poisson_sample";
  const DeviceBuffer& lam = need(op, lb, "lam");
  if (lam.dtype() != DType::Float64)
    type_error(op, "lam must be float64, got " + std::string(cuda::dtype_str(lam.dtype())) +
                       " of shape " + shape_str(lam.shape()));
  const int64_t n = lam.numel();
  if (n > std::numeric_limits<int64_t>::max() / 256)
    value_error(op, "lam " + shape_str(lam.shape()) + " has too many elements");
  const int64_t* state = philox_state(op, sb);
  Buf y = make_buffer(op, lam.shape(), DType::Float64);
  {
    py::gil_scoped_release nogil;
    nd::poisson_sample(static_cast<const double*>(lam.data()), n, counter_lo, counter_hi, key,
                       state, static_cast<double*>(y->data()));
  }
  return y;
}

Buf binomial_sample(const Buf& cb_, const Buf& pb, uint64_t counter_lo, uint64_t counter_hi,
                    uint64_t key, const Buf& sb) {
  const char* op = "binomial_sample";
  const DeviceBuffer& c = need(op, cb_, "count");
  const DeviceBuffer& p = need(op, pb, "prob");
  if (c.dtype() != DType::Float64 || p.dtype() != DType::Float64)
    type_error(op, "count and prob must be float64, got " +
                       std::string(cuda::dtype_str(c.dtype())) + " " + shape_str(c.shape()) +
                       " and " + std::string(cuda::dtype_str(p.dtype())) + " " +
                       shape_str(p.shape()));
  same_shape(op, c, "count", p, "prob");
  const int64_t n = c.numel();
  if (n > std::numeric_limits<int64_t>::max() / 256)
    value_error(op, "count " + shape_str(c.shape()) + " has too many elements");
  const int64_t* state = philox_state(op, sb);
  Buf y = make_buffer(op, c.shape(), DType::Float64);
  {
    py::gil_scoped_release nogil;
    nd::binomial_sample(static_cast<const double*>(c.data()),
                        static_cast<const double*>(p.data()), n, counter_lo, counter_hi, key,
                        state, static_cast<double*>(y->data()));
  }
  return y;
}

Buf philox_state_advance(const Buf& sb, int64_t n) {
  const char* op = "philox_state_advance";
  const int64_t* state = philox_state(op, sb);
  if (!state) type_error(op, "state must be a DeviceBuffer, got None");
  if (n < 0 || n > std::numeric_limits<int64_t>::max() / 256)
    value_error(op, "n must be in [0, 2**55), got " + std::to_string(n));
  Buf out = make_buffer(op, {3}, DType::Int64);
  {
    py::gil_scoped_release nogil;
    nd::philox_state_advance(state, static_cast<uint64_t>(n) * 256,
                             static_cast<int64_t*>(out->data()));
  }
  return out;
}

void bind_impl(py::module_& cm) {
  cm.def("binomial_sample", &binomial_sample, py::arg("count"), py::arg("prob"),
         py::arg("counter_lo"), py::arg("counter_hi"), py::arg("key"),
         py::arg("state") = py::none(),
         "Binomial(count, prob) counts (float64, their shape), sample i on the Philox "
         "substream counter + 256 * i under key (random_ops.py's _binomial_counter)");
  cm.def("poisson_sample", &poisson_sample, py::arg("lam"), py::arg("counter_lo"),
         py::arg("counter_hi"), py::arg("key"), py::arg("state") = py::none(),
         "Poisson(lam) counts (float64, lam's shape), sample i on the Philox substream "
         "counter + 256 * i under key (random_ops.py's _poisson_counter)");
  cm.def("gamma_sample", &gamma_sample, py::arg("alpha"), py::arg("counter_lo"),
         py::arg("counter_hi"), py::arg("key"), py::arg("state") = py::none(),
         "Standard Gamma(alpha) samples (float64, alpha's shape), sample i on the Philox "
         "substream counter + 256 * i under key (random_ops.py's _gamma_counter_std)");
  cm.def("philox_state_advance", &philox_state_advance, py::arg("state"), py::arg("n"),
         "A Generator's int64 [3] state with its counter moved on by 256 * n (a draw of n "
         "values), as a new buffer");
  cm.def("categorical_sample", &categorical_sample, py::arg("logits"), py::arg("u"),
         py::arg("dtype") = "int64",
         "Samples (rows, n) of the softmax distributions of logits (rows, classes) for the "
         "float64 uniforms u (rows, n): the first class whose cdf exceeds u (NumPy's "
         "Generator.choice), -1 for a row without a distribution");
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"categorical_sample", "gamma_sample", "poisson_sample",
                                 "binomial_sample", "philox_state_advance"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_random_samplers) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"categorical_sample", "gamma_sample", "poisson_sample", "binomial_sample",
                   "philox_state_advance"});
  bind_impl(cm);
}
