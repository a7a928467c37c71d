// Host-side entry points of the grayscale-morphology kernels (morphology.cu, behind
// tf.nn.dilation2d / erosion2d on GPU tensors) and of the non-max-suppression kernels
// (nms.cu, behind the tf.image.non_max_suppression family). Plain C++ declarations (no CUDA
// headers) for the g++-compiled bindings (bind_cuda_morphology.cpp, bind_cuda_nms.cpp); only
// in builds with NABI_WITH_CUDA. The conventions of array_launchers.h hold: device pointers
// into C-contiguous buffers, every argument validated by the binding first, empty work
// launches nothing, everything enqueued on nabi::cuda::stream() without synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// ---- morphology.cu --------------------------------------------------------------------------
// Geometry shared by the three entry points: x (B, H, W, C), filter (KH, KW, C), y / g
// (B, OH, OW, C), all of dtype (float32 / float64). Output (oy, ox) reads tap (ty, tx) at input
// row oy*sh + ty*rh - pt and column ox*sw + tx*rw - pl; taps outside the input are skipped.
struct MorphGeom {
  int64_t B, H, W, C, KH, KW, OH, OW, sh, sw, rh, rw, pt, pl;
};
// y = max over the inside taps of x + filter; a window without one (or whose values are all
// -inf) gives the dtype's lowest finite value; NaN propagates (the first NaN tap wins).
void dilation2d_fwd(DType dtype, const MorphGeom& g, const void* x, const void* f, void* y);
// gx (x's shape) and gf (filter's shape) receive each gy element at the input element and
// filter tap of the first maximizing tap (TF's Dilation2DBackprop*); a window with no tap
// above -inf sends it to input (clamp(oy*sh - pt), clamp(ox*sw - pl)) and filter tap (0, 0),
// as TF. Deterministic (no atomics): gx sums in the host path's order, gf by a fixed tree.
// KH*KW*C <= 2^31 - 1 (one block per filter element).
void dilation2d_bwd(DType dtype, const MorphGeom& g, const void* x, const void* f,
                    const void* gy, void* gx, void* gf);

// ---- nms.cu ---------------------------------------------------------------------------------
// G independent greedy hard-NMS problems of n candidates (float32):
//   boxes mode (overlaps == nullptr): boxes (G, n, 4) as (y1, x1, y2, x2) in any corner order,
//     similarity = TF's IOU (0 when either box has no area);
//   overlaps mode (boxes == nullptr, G == 1): similarity of candidate i with kept j =
//     overlaps[i, j] of the (n, n) matrix.
// scores (G, n). Candidates are visited by decreasing score (ties: lower index first; NaN
// and scores <= score_thr are never kept); a candidate is kept unless its similarity with a
// kept one is > thr; at most max_out are kept. idx (G, max_out) int32 gets the kept indices
// in order, zero after them; count (G,) int32 their number.
void nms(const float* boxes, const float* overlaps, const float* scores, int64_t G, int64_t n,
         int64_t max_out, float thr, float score_thr, int32_t* idx, int32_t* count);
// Gaussian Soft-NMS of G box problems (the host path's _greedy_nms with sigma > 0): the
// highest current score first (ties: lower index), weighed by exp(scale * iou^2) (scale =
// -0.5 / sigma, float32) for each box kept since it was last weighed, newest first, until its
// score is <= score_thr; kept when unchanged, re-queued when lowered but still above. idx
// (G, max_out) int32 and out_scores (G, max_out) float32 (zero-padded), count (G,) int32.
void soft_nms(const float* boxes, const float* scores, int64_t G, int64_t n, int64_t max_out,
              float score_thr, float scale, int32_t* idx, float* out_scores, int32_t* count);
// tf.image.combined_non_max_suppression: boxes (nb, n, q, 4) (q = 1: shared by the classes,
// or q = nc) and scores (nb, n, nc) float32; hard NMS per (batch, class) keeping at most
// max_per_class (<= n) each, then per batch the kept (box, score, class) sorted by decreasing
// score (ties: class, then selection order), the first size of them in out_boxes (nb, size, 4)
// (clipped to [0, 1] when clip), out_scores and out_classes (nb, size) float32, zeros after;
// valid (nb,) int32 = min(kept, size). 5 launches, nothing read back.
void combined_nms(const float* boxes, const float* scores, int64_t nb, int64_t n, int64_t q,
                  int64_t nc, int64_t max_per_class, int64_t size, float thr, float score_thr,
                  bool clip, float* out_boxes, float* out_scores, float* out_classes,
                  int32_t* valid);

}  // namespace nabi::cuda::nd

namespace nabi::cuda::nd {

// ---- draw_boxes.cu --------------------------------------------------------------------------
// out = img (n, h, w, depth) of dtype (float32 / float64) with the 1-pixel outlines of boxes
// (n, k, 4) float32 (y_min, x_min, y_max, x_max, normalised) painted in colour table[j % nt]
// (table (nt, depth) of dtype) for box j; a pixel covered by several outlines takes the last
// box's colour. Corners: trunc(float32(coord) * float32(side - 1)); a box with r0 > r1,
// c0 > c1 or a non-finite corner is skipped.
void draw_boxes(DType dtype, const void* img, int64_t n, int64_t h, int64_t w, int64_t depth,
                const float* boxes, int64_t k, const void* table, int64_t nt, void* out);

}  // namespace nabi::cuda::nd
