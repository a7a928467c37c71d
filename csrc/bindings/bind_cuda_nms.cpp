// nabi._C.cuda_backend: greedy hard non-max suppression and box drawing on DeviceBuffers
// (csrc/cuda/nms.cu, draw_boxes.cu; semantics in csrc/cuda/morph_nms_launchers.h).
//
//   nms(boxes, scores, max_output, iou_threshold, score_threshold) -> (idx, count)
//       boxes (G, n, 4) and scores (G, n) float32: G independent problems; idx (G, max_output)
//       int32 (kept indices by decreasing score, zero after them), count (G,) int32.
//   nms_overlaps(overlaps, scores, max_output, threshold, score_threshold) -> (idx, count)
//       overlaps (n, n) and scores (n,) float32; idx (1, max_output), count (1,).
//   soft_nms(boxes, scores, max_output, score_threshold, scale) -> (idx, scores, count)
//       Gaussian Soft-NMS (scale = -0.5 / sigma < 0): boxes (G, n, 4), scores (G, n) float32;
//       idx (G, max_output) int32 and scores (G, max_output) float32 zero-padded, count (G,).
//   combined_nms(boxes, scores, max_output_per_class, max_total_size, iou_threshold,
//                score_threshold, clip_boxes) -> (boxes, scores, classes, valid)
//       tf.image.combined_non_max_suppression: boxes (nb, n, q, 4) with q 1 or nc, scores
//       (nb, n, nc) float32; (nb, max_total_size, 4), (nb, max_total_size) x 2 float32 and
//       (nb,) int32 (5 launches, nothing read back).
// The thresholds are compared in float32 (the caller rounds them as the host path does).
//   draw_boxes(images, boxes, colors) -> out   (csrc/cuda/draw_boxes.cu)
//       images (n, h, w, depth) float32/float64, boxes (n, k, 4) float32, colors (nt, depth)
//       of the images' dtype: the outlines of tf.image.draw_bounding_boxes, box j in colour
//       colors[j % nt] (the last box wins where outlines cross).
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
#include "cuda/morph_nms_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

void need_f32(const char* op, const DeviceBuffer& b, const char* name) {
  if (b.dtype() != DType::Float32)
    type_error(op, std::string(name) + " must be float32, got " +
                       cuda::dtype_str(b.dtype()) + " of shape " + shape_str(b.shape()));
}

void check_common(const char* op, int64_t n, int64_t max_output) {
  if (n > std::numeric_limits<int32_t>::max())
    value_error(op, "at most 2^31 - 1 boxes, got " + std::to_string(n));
  if (max_output < 0 || max_output > std::numeric_limits<int32_t>::max())
    value_error(op, "max_output must be in [0, 2^31 - 1], got " + std::to_string(max_output));
}

// The checks nms and soft_nms share: float32 boxes (G, n, 4) and scores (G, n), then
// check_common; returns G.
int64_t check_problems(const char* op, const DeviceBuffer& b, const DeviceBuffer& s,
                       int64_t max_output) {
  need_f32(op, b, "boxes");
  need_f32(op, s, "scores");
  if (b.ndim() != 3 || b.shape()[2] != 4)
    value_error(op, "boxes must be 3-D (G, n, 4), got " + shape_str(b.shape()));
  if (s.ndim() != 2 || s.shape()[0] != b.shape()[0] || s.shape()[1] != b.shape()[1])
    value_error(op, "scores must be (G, n) matching boxes " + shape_str(b.shape()) + ", got " +
                        shape_str(s.shape()));
  check_common(op, b.shape()[1], max_output);
  if (b.shape()[0] > std::numeric_limits<int32_t>::max())
    value_error(op, "at most 2^31 - 1 problems, got boxes " + shape_str(b.shape()));
  return b.shape()[0];
}

py::tuple run(const char* op, const DeviceBuffer* boxes, const DeviceBuffer* overlaps,
              const DeviceBuffer& scores, int64_t G, int64_t n, int64_t max_output, double thr,
              double score_thr) {
  Buf idx = make_buffer(op, {G, max_output}, DType::Int32);
  Buf count = make_buffer(op, {G}, DType::Int32);
  {
    py::gil_scoped_release nogil;
    nd::nms(boxes ? static_cast<const float*>(boxes->data()) : nullptr,
            overlaps ? static_cast<const float*>(overlaps->data()) : nullptr,
            static_cast<const float*>(scores.data()), G, n, max_output,
            static_cast<float>(thr), static_cast<float>(score_thr),
            static_cast<int32_t*>(idx->data()), static_cast<int32_t*>(count->data()));
  }
  return py::make_tuple(idx, count);
}

py::tuple nms(const Buf& bb, const Buf& sb, int64_t max_output, double iou_threshold,
              double score_threshold) {
  const char* op = "nms";
  const DeviceBuffer& b = need(op, bb, "boxes");
  const DeviceBuffer& s = need(op, sb, "scores");
  const int64_t G = check_problems(op, b, s, max_output), n = b.shape()[1];
  return run(op, &b, nullptr, s, G, n, max_output, iou_threshold, score_threshold);
}

py::tuple nms_overlaps(const Buf& ob, const Buf& sb, int64_t max_output, double threshold,
                       double score_threshold) {
  const char* op = "nms_overlaps";
  const DeviceBuffer& o = need(op, ob, "overlaps");
  const DeviceBuffer& s = need(op, sb, "scores");
  need_f32(op, o, "overlaps");
  need_f32(op, s, "scores");
  if (o.ndim() != 2 || o.shape()[0] != o.shape()[1])
    value_error(op, "overlaps must be square (n, n), got " + shape_str(o.shape()));
  if (s.ndim() != 1 || s.shape()[0] != o.shape()[0])
    value_error(op, "scores must be (n,) matching overlaps " + shape_str(o.shape()) + ", got " +
                        shape_str(s.shape()));
  const int64_t n = o.shape()[0];
  check_common(op, n, max_output);
  return run(op, nullptr, &o, s, 1, n, max_output, threshold, score_threshold);
}

py::tuple soft_nms(const Buf& bb, const Buf& sb, int64_t max_output, double score_threshold,
                   double scale) {
  const char* op = "soft_nms";
  const DeviceBuffer& b = need(op, bb, "boxes");
  const DeviceBuffer& s = need(op, sb, "scores");
  const int64_t G = check_problems(op, b, s, max_output), n = b.shape()[1];
  if (!(scale < 0.0))
    value_error(op, "scale (-0.5 / sigma) must be negative, got " + std::to_string(scale));
  Buf idx = make_buffer(op, {G, max_output}, DType::Int32);
  Buf sc = make_buffer(op, {G, max_output}, DType::Float32);
  Buf count = make_buffer(op, {G}, DType::Int32);
  {
    py::gil_scoped_release nogil;
    nd::soft_nms(static_cast<const float*>(b.data()), static_cast<const float*>(s.data()), G, n,
                 max_output, static_cast<float>(score_threshold), static_cast<float>(scale),
                 static_cast<int32_t*>(idx->data()), static_cast<float*>(sc->data()),
                 static_cast<int32_t*>(count->data()));
  }
  return py::make_tuple(idx, sc, count);
}

py::tuple combined_nms(const Buf& bb, const Buf& sb, int64_t max_output_per_class,
                       int64_t max_total_size, double iou_threshold, double score_threshold,
                       bool clip_boxes) {
  const char* op = "combined_nms";
  const DeviceBuffer& b = need(op, bb, "boxes");
  const DeviceBuffer& s = need(op, sb, "scores");
  need_f32(op, b, "boxes");
  need_f32(op, s, "scores");
  if (b.ndim() != 4 || b.shape()[3] != 4)
    value_error(op, "boxes must be 4-D (batch, num_boxes, q, 4), got " + shape_str(b.shape()));
  if (s.ndim() != 3 || s.shape()[0] != b.shape()[0] || s.shape()[1] != b.shape()[1])
    value_error(op, "scores must be (batch, num_boxes, num_classes) matching boxes " +
                        shape_str(b.shape()) + ", got " + shape_str(s.shape()));
  const int64_t nb = b.shape()[0], n = b.shape()[1], q = b.shape()[2], nc = s.shape()[2];
  if (q != 1 && q != nc)
    value_error(op, "boxes' q must be 1 or num_classes=" + std::to_string(nc) + ", got boxes " +
                        shape_str(b.shape()));
  check_common(op, n, max_output_per_class);
  if (max_total_size < 0 || max_total_size > std::numeric_limits<int32_t>::max())
    value_error(op, "max_total_size must be in [0, 2^31 - 1], got " +
                        std::to_string(max_total_size));
  if (nc > 0 && nb > std::numeric_limits<int32_t>::max() / nc)
    value_error(op, "at most 2^31 - 1 (batch, class) problems, got scores " +
                        shape_str(s.shape()));
  const int64_t m = max_output_per_class < n ? max_output_per_class : n;
  Buf ob = make_buffer(op, {nb, max_total_size, 4}, DType::Float32);
  Buf os = make_buffer(op, {nb, max_total_size}, DType::Float32);
  Buf oc = make_buffer(op, {nb, max_total_size}, DType::Float32);
  Buf valid = make_buffer(op, {nb}, DType::Int32);
  {
    py::gil_scoped_release nogil;
    nd::combined_nms(static_cast<const float*>(b.data()), static_cast<const float*>(s.data()),
                     nb, n, q, nc, m, max_total_size, static_cast<float>(iou_threshold),
                     static_cast<float>(score_threshold), clip_boxes,
                     static_cast<float*>(ob->data()), static_cast<float*>(os->data()),
                     static_cast<float*>(oc->data()), static_cast<int32_t*>(valid->data()));
  }
  return py::make_tuple(ob, os, oc, valid);
}

Buf draw_boxes(const Buf& ib, const Buf& bb, const Buf& tb) {
  const char* op = "draw_boxes";
  const DeviceBuffer& img = need_float(op, ib, "images");
  const DeviceBuffer& b = need(op, bb, "boxes");
  const DeviceBuffer& t = need(op, tb, "colors");
  need_f32(op, b, "boxes");
  same_dtype(op, img, "images", t, "colors");
  if (img.ndim() != 4)
    value_error(op, "images must be 4-D (batch, H, W, depth), got " + shape_str(img.shape()));
  const auto& is = img.shape();
  if (b.ndim() != 3 || b.shape()[0] != is[0] || b.shape()[2] != 4)
    value_error(op, "boxes must be (batch=" + std::to_string(is[0]) + ", num_boxes, 4), got " +
                        shape_str(b.shape()));
  if (t.ndim() != 2 || t.shape()[1] != is[3] || (t.shape()[0] == 0 && b.shape()[1] > 0))
    value_error(op, "colors must be (num_colors >= 1, depth=" + std::to_string(is[3]) +
                        "), got " + shape_str(t.shape()));
  Buf out = make_buffer(op, is, img.dtype());
  {
    py::gil_scoped_release nogil;
    nd::draw_boxes(img.dtype(), img.data(), is[0], is[1], is[2], is[3],
                   static_cast<const float*>(b.data()), b.shape()[1], t.data(), t.shape()[0],
                   out->data());
  }
  return out;
}

void bind_impl(py::module_& cm) {
  cm.def("draw_boxes", &draw_boxes, py::arg("images"), py::arg("boxes"), py::arg("colors"),
         "images (n, h, w, depth) with the 1-pixel outlines of boxes (n, k, 4) float32 in "
         "colors[j % num_colors] (num_colors, depth): tf.image.draw_bounding_boxes");
  cm.def("soft_nms", &soft_nms, py::arg("boxes"), py::arg("scores"), py::arg("max_output"),
         py::arg("score_threshold"), py::arg("scale"),
         "Gaussian Soft-NMS of G problems (scale = -0.5 / sigma, float32) -> (indices, scores "
         "(G, max_output) zero-padded, counts (G,))");
  cm.def("nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("max_output"),
         py::arg("iou_threshold"), py::arg("score_threshold"),
         "Greedy hard NMS of G problems: boxes (G, n, 4), scores (G, n) float32 -> (indices "
         "(G, max_output) int32 zero-padded, counts (G,) int32)");
  cm.def("combined_nms", &combined_nms, py::arg("boxes"), py::arg("scores"),
         py::arg("max_output_per_class"), py::arg("max_total_size"), py::arg("iou_threshold"),
         py::arg("score_threshold"), py::arg("clip_boxes"),
         "tf.image.combined_non_max_suppression: per-(batch, class) NMS, then each batch's kept "
         "detections by decreasing score -> (boxes (nb, size, 4), scores, classes (nb, size) "
         "float32, valid (nb,) int32)");
  cm.def("nms_overlaps", &nms_overlaps, py::arg("overlaps"), py::arg("scores"),
         py::arg("max_output"), py::arg("threshold"), py::arg("score_threshold"),
         "Greedy hard NMS on an (n, n) overlap matrix -> (indices (1, max_output), counts (1,))");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"nms", "nms_overlaps", "soft_nms", "draw_boxes", "combined_nms"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_nms) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"nms", "nms_overlaps", "soft_nms", "draw_boxes", "combined_nms"});
  bind_impl(cm);
}
