// nabi._C.cuda_backend: tf.signal kernels on DeviceBuffers (csrc/cuda/overlap_add.cu;
// semantics in csrc/cuda/signal_launchers.h).
//
//   overlap_add(x, frame_step)   x (..., frames, frame_length) float32/float64/int32/int64,
//                                frame_step >= 1: (..., max((frames - 1) * frame_step +
//                                frame_length, 0)), the frames added at multiples of
//                                frame_step (tf.signal.overlap_and_add)
//
// Arguments are checked here before anything is enqueued ("[overlap_add] ..." errors naming
// the shapes); the GIL is released around the launch. Builds without CUDA define the same
// name, raising RuntimeError.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/signal_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

Buf overlap_add(const Buf& xb, int64_t frame_step) {
  const char* op = "overlap_add";
  const DeviceBuffer& x = need(op, xb, "x");
  if (x.dtype() == DType::Bool)
    type_error(op, "x must be float32, float64, int32 or int64, got bool of shape " +
                       shape_str(x.shape()));
  if (x.ndim() < 2)
    value_error(op, "x must have rank >= 2 (..., frames, frame_length), got shape " +
                        shape_str(x.shape()));
  if (frame_step < 1)
    value_error(op, "frame_step must be >= 1, got " + std::to_string(frame_step));
  const std::vector<int64_t>& s = x.shape();
  const int64_t frames = s[s.size() - 2], length = s.back();
  int64_t n = (frames - 1) * frame_step + length;
  if (frames > 0 && (frames - 1) > (std::numeric_limits<int64_t>::max() - length) / frame_step)
    value_error(op, "the output of x " + shape_str(s) + " with frame_step " +
                        std::to_string(frame_step) + " is too long");
  if (n < 0) n = 0;
  std::vector<int64_t> out(s.begin(), s.end() - 2);
  int64_t outer = 1;
  for (int64_t d : out) outer *= d;
  out.push_back(n);
  Buf y = make_buffer(out, x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::overlap_add(x.dtype(), x.data(), outer, frames, length, frame_step, n, y->data());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("overlap_add", &overlap_add, py::arg("x"), py::arg("frame_step"),
         "(..., (frames - 1) * frame_step + frame_length): the frames of x (..., frames, "
         "frame_length) added at multiples of frame_step");
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"overlap_add"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_signal) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"overlap_add"});
  bind_impl(cm);
}
