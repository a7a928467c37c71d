// nabi._C.cuda_backend: image resampling on DeviceBuffers (csrc/cuda/image_transform.cu;
// semantics in csrc/cuda/image_transform_launchers.h).
//
//   affine_transform(images, transforms, fill_mode="reflect", interpolation="bilinear",
//                    fill_value=0.0)
//       images (B, H, W, C) float32/float64 NHWC; transforms (B, 8) or (1, 8) float32, rows
//       [a0, a1, a2, b0, b1, b2, c0, c1] mapping output (x=col, y=row) to the input point, as
//       tf.raw_ops.ImageProjectiveTransformV3; fill_mode reflect / wrap / constant / nearest,
//       interpolation bilinear / nearest. Returns (B, H, W, C) of the images' dtype.
//   affine_transform_grad(grads, transforms, fill_mode="reflect", interpolation="bilinear")
//       the gradient of affine_transform with respect to the images (its adjoint): grads
//       (B, H, W, C) float32/float64, transforms as above; returns (B, H, W, C) of grads' dtype
//       (csrc/cuda/image_transform_grad.cu).
//
// Every argument is checked here, before anything is enqueued ("[affine_transform] ..."
// TypeError / ValueError naming the shapes); the GIL is released around the launch. Builds
// without CUDA define the same name, raising RuntimeError.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/image_transform_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

nd::FillMode fill_mode_of(const char* op, const std::string& s) {
  if (s == "reflect") return nd::FillMode::Reflect;
  if (s == "wrap") return nd::FillMode::Wrap;
  if (s == "constant") return nd::FillMode::Constant;
  if (s == "nearest") return nd::FillMode::Nearest;
  value_error(op, "fill_mode must be 'reflect', 'wrap', 'constant' or 'nearest', got '" + s +
                      "'");
}

// The checks shared by affine_transform and its gradient: x (B, H, W, C) float images (or
// their gradient, named `what`), t (B, 8) / (1, 8) float32, H and W below 2^24.
const DeviceBuffer& check_images(const char* op, const Buf& xb, const Buf& tb, const char* what,
                                 const std::string& interpolation) {
  const DeviceBuffer& x = need_float(op, xb, what);
  const DeviceBuffer& t = need(op, tb, "transforms");
  if (x.ndim() != 4)
    value_error(op, std::string(what) + " must be 4-D (batch, height, width, channels), got "
                "shape " + shape_str(x.shape()));
  if (t.dtype() != DType::Float32)
    type_error(op, "transforms must be float32, got " + std::string(cuda::dtype_str(t.dtype())) +
                       " of shape " + shape_str(t.shape()));
  const int64_t B = x.shape()[0], H = x.shape()[1], W = x.shape()[2];
  if (t.ndim() != 2 || t.shape()[1] != 8 || (t.shape()[0] != B && t.shape()[0] != 1))
    value_error(op, "transforms must have shape (" + std::to_string(B) + ", 8) or (1, 8) for " +
                        what + " of shape " + shape_str(x.shape()) + ", got " +
                        shape_str(t.shape()));
  constexpr int64_t kMaxSide = int64_t(1) << 24;  // float32 pixel coordinates stay exact
  if (H >= kMaxSide || W >= kMaxSide)
    value_error(op, std::string("height and width must be below 2^24, got ") + what +
                        " of shape " + shape_str(x.shape()));
  if (interpolation != "bilinear" && interpolation != "nearest")
    value_error(op, "interpolation must be 'bilinear' or 'nearest', got '" + interpolation + "'");
  return x;
}

Buf affine_transform(const Buf& xb, const Buf& tb, const std::string& fill_mode,
                     const std::string& interpolation, double fill_value) {
  const char* op = "affine_transform";
  const DeviceBuffer& x = check_images(op, xb, tb, "images", interpolation);
  const nd::FillMode mode = fill_mode_of(op, fill_mode);
  const bool nearest = interpolation == "nearest";
  const int64_t B = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3];
  Buf y = make_buffer(op, x.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::affine_transform(x.dtype(), x.data(), static_cast<const float*>(tb->data()),
                         tb->shape()[0], B, H, W, C, mode, nearest, fill_value, y->data());
  }
  return y;
}

Buf affine_transform_grad(const Buf& gb, const Buf& tb, const std::string& fill_mode,
                          const std::string& interpolation) {
  const char* op = "affine_transform_grad";
  const DeviceBuffer& g = check_images(op, gb, tb, "grads", interpolation);
  const nd::FillMode mode = fill_mode_of(op, fill_mode);
  const bool nearest = interpolation == "nearest";
  const int64_t B = g.shape()[0], H = g.shape()[1], W = g.shape()[2], C = g.shape()[3];
  Buf dx = make_buffer(op, g.shape(), g.dtype());
  {
    py::gil_scoped_release nogil;
    nd::affine_transform_grad(g.dtype(), g.data(), static_cast<const float*>(tb->data()),
                              tb->shape()[0], B, H, W, C, mode, nearest, dx->data());
  }
  return dx;
}

void bind_impl(py::module_& cm) {
  cm.def("affine_transform", &affine_transform, py::arg("images"), py::arg("transforms"),
         py::arg("fill_mode") = "reflect", py::arg("interpolation") = "bilinear",
         py::arg("fill_value") = 0.0,
         "Projective transform of NHWC images (tf.raw_ops.ImageProjectiveTransformV3): "
         "per-image 8-parameter rows mapping output pixels to input points");
  cm.def("affine_transform_grad", &affine_transform_grad, py::arg("grads"),
         py::arg("transforms"), py::arg("fill_mode") = "reflect",
         py::arg("interpolation") = "bilinear",
         "Gradient of affine_transform with respect to the images (its adjoint): each output "
         "pixel's gradient times its interpolation weights, added into the source pixels read");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"affine_transform", "affine_transform_grad"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_image_transform) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"affine_transform", "affine_transform_grad"});
  bind_impl(cm);
}
