// nabi._C.cuda_backend: grayscale morphology on DeviceBuffers (csrc/cuda/morphology.cu;
// semantics in csrc/cuda/morph_nms_launchers.h).
//
//   dilation2d(x, filter, strides, rates, pads, out_hw) -> y
//       x (B, H, W, C), filter (KH, KW, C) of one float dtype; strides (sh, sw) >= 1, rates
//       (rh, rw) >= 1, pads (pad_top, pad_left) >= 0, out_hw (OH, OW) >= 0; y (B, OH, OW, C).
//   dilation2d_grad(x, filter, gy, strides, rates, pads) -> (gx, gf)
//       gy (B, OH, OW, C) of x's dtype; gx x's shape, gf the filter's: gy routed to the first
//       maximizing tap of each window (deterministic sums, no atomics).
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/morph_nms_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;
using Pair = std::pair<int64_t, int64_t>;

constexpr int64_t kMaxDim = int64_t{1} << 31;

void check_pair(const char* op, const char* name, const Pair& p, int64_t lo) {
  if (p.first < lo || p.second < lo || p.first > kMaxDim || p.second > kMaxDim)
    value_error(op, std::string(name) + " must be in [" + std::to_string(lo) + ", 2^31], got (" +
                        std::to_string(p.first) + ", " + std::to_string(p.second) + ")");
}

nd::MorphGeom geometry(const char* op, const DeviceBuffer& x, const DeviceBuffer& f,
                       const Pair& strides, const Pair& rates, const Pair& pads, int64_t oh,
                       int64_t ow) {
  if (!is_float(x.dtype()))
    type_error(op, "x must be float32 or float64, got " + std::string(cuda::dtype_str(x.dtype())) +
                       " of shape " + shape_str(x.shape()));
  same_dtype(op, x, "x", f, "filter");
  if (x.ndim() != 4 || f.ndim() != 3)
    value_error(op, "x must be 4-D (B, H, W, C) and filter 3-D (KH, KW, C), got x " +
                        shape_str(x.shape()) + " and filter " + shape_str(f.shape()));
  if (x.shape()[3] != f.shape()[2])
    value_error(op, "x " + shape_str(x.shape()) + " and filter " + shape_str(f.shape()) +
                        " must have the same depth");
  check_pair(op, "strides", strides, 1);
  check_pair(op, "rates", rates, 1);
  check_pair(op, "pads", pads, 0);
  check_pair(op, "the output size", Pair(oh, ow), 0);
  for (int64_t d : x.shape())
    if (d > kMaxDim) value_error(op, "x " + shape_str(x.shape()) + " has a dimension over 2^31");
  for (int64_t d : f.shape())
    if (d > kMaxDim)
      value_error(op, "filter " + shape_str(f.shape()) + " has a dimension over 2^31");
  const auto& xs = x.shape();
  const auto& fs = f.shape();
  if (fs[0] * fs[1] * fs[2] > kMaxDim - 1)  // one gradient block per filter element
    value_error(op, "filter " + shape_str(fs) + " has more than 2^31 - 1 elements");
  return nd::MorphGeom{xs[0], xs[1], xs[2], xs[3], fs[0], fs[1], oh, ow,
                       strides.first, strides.second, rates.first, rates.second,
                       pads.first, pads.second};
}

Buf dilation2d(const Buf& xb, const Buf& fb, Pair strides, Pair rates, Pair pads, Pair out_hw) {
  const char* op = "dilation2d";
  const DeviceBuffer& x = need(op, xb, "x");
  const DeviceBuffer& f = need(op, fb, "filter");
  const nd::MorphGeom g = geometry(op, x, f, strides, rates, pads, out_hw.first, out_hw.second);
  Buf y = make_buffer(op, {g.B, g.OH, g.OW, g.C}, x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::dilation2d_fwd(x.dtype(), g, x.data(), f.data(), y->data());
  }
  return y;
}

py::tuple dilation2d_grad(const Buf& xb, const Buf& fb, const Buf& gb, Pair strides, Pair rates,
                          Pair pads) {
  const char* op = "dilation2d_grad";
  const DeviceBuffer& x = need(op, xb, "x");
  const DeviceBuffer& f = need(op, fb, "filter");
  const DeviceBuffer& gy = need(op, gb, "gy");
  if (gy.ndim() != 4)
    value_error(op, "gy must be 4-D (B, OH, OW, C), got " + shape_str(gy.shape()));
  const nd::MorphGeom g =
      geometry(op, x, f, strides, rates, pads, gy.shape()[1], gy.shape()[2]);
  same_dtype(op, x, "x", gy, "gy");
  if (gy.shape()[0] != g.B || gy.shape()[3] != g.C)
    value_error(op, "gy " + shape_str(gy.shape()) + " must be (B, OH, OW, C) for x " +
                        shape_str(x.shape()));
  Buf gx = make_buffer(op, x.shape(), x.dtype());
  Buf gf = make_buffer(op, f.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::dilation2d_bwd(x.dtype(), g, x.data(), f.data(), gy.data(), gx->data(), gf->data());
  }
  return py::make_tuple(gx, gf);
}

void bind_impl(py::module_& cm) {
  cm.def("dilation2d", &dilation2d, py::arg("x"), py::arg("filter"), py::arg("strides"),
         py::arg("rates"), py::arg("pads"), py::arg("out_hw"),
         "Grayscale dilation of NHWC x by filter (KH, KW, C): max over the inside taps of "
         "x + filter (tf.nn.dilation2d)");
  cm.def("dilation2d_grad", &dilation2d_grad, py::arg("x"), py::arg("filter"), py::arg("gy"),
         py::arg("strides"), py::arg("rates"), py::arg("pads"),
         "Gradients (gx, gf) of dilation2d: gy routed to each window's first maximizing tap "
         "(deterministic)");
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"dilation2d", "dilation2d_grad"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_morphology) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"dilation2d", "dilation2d_grad"});
  bind_impl(cm);
}
