"""tf.image ops for detection and colour spaces: crop_and_resize, the non-max-suppression
family, sobel_edges, YUV/YIQ conversions and extract_glimpse, with TF 2.x semantics.

crop_and_resize samples box i at (TF's formula, corners may be flipped)
    in_y = y1 * (H - 1) + r * (y2 - y1) * (H - 1) / (crop_h - 1)   (crop_h == 1: the centre)
and the same for x; a sample outside [0, H - 1] x [0, W - 1] is `extrapolation_value`. The
integer corner indices are worked out on the host from the sample positions; the image values
are gathered with one `gather` over the flattened (B*H*W, C) image and blended with lerp
weights that are nabi tensors computed from `boxes`, so autograd gives TF's two gradients: the
scatter of the weights into the image, and, through the lerp weights, the box gradient of TF's
CropAndResizeGradBoxes (the bilinear slope times d(in_y)/d(y1), d(in_y)/d(y2); zero slope where
a sample lands on a pixel row). 'nearest' takes TF's roundf of the positions; its box gradient
is the bilinear one, as TF approximates it.

NMS is greedy integer selection: host tensors run it like TF's CPU kernel (a priority queue on
(score, then lower index)); GPU tensors run csrc/cuda/nms.cu (the same selection by a sorted
sweep over an IOU bitmask; Soft-NMS by a one-block re-weighing loop), reading back only the
selected count where the output's size depends on it.
"""
import heapq

import numpy as np

from .. import dtypes as _dt
from ..framework import device as _dev
from ..framework.device import DeviceArray, to_device
from ..framework.tape import stop_gradient as _stop_gradient
from ._common import Tensor, _tapes, _wrap, contiguous, t_
from . import array_ops as _ao
from . import math_ops as _mo

__all__ = [
    "crop_and_resize", "non_max_suppression", "non_max_suppression_with_scores",
    "non_max_suppression_padded", "non_max_suppression_overlaps",
    "combined_non_max_suppression", "sobel_edges", "rgb_to_yuv", "yuv_to_rgb", "rgb_to_yiq",
    "yiq_to_rgb", "extract_glimpse",
]

_F = np.float32


# ------------------------------------------------------------------------------------ helpers


def _shape(x):
    return tuple(int(d) for d in x._data.shape)


def _on_gpu(x):
    return type(x._data) is DeviceArray


def _const_on(arr, like):
    """A host NumPy array as a Tensor on `like`'s device."""
    return _wrap(to_device(np.array(arr, order="C"), "cuda" if _on_gpu(like) else "cpu"))


def _host(v):
    """A host NumPy array of a Tensor (copied back from the GPU), array or Python value."""
    if isinstance(v, Tensor):
        return np.asarray(v.numpy())
    return np.asarray(v)


def _int_scalar(op, name, v):
    a = _host(v)
    if a.ndim != 0 or a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] {name} must be an integer scalar, got {v!r}")
    return int(a)


def _float_scalar(op, name, v):
    a = _host(v)
    if a.ndim != 0 or a.dtype.kind not in "iuf":
        raise TypeError(f"[{op}] {name} must be a number, got {v!r}")
    return float(a)


def _check_float(op, x, name):
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] {name} must be a float tensor, got dtype "
                        f"{x._data.dtype.name} and shape {_shape(x)}")


# ------------------------------------------------------------------------------ crop_and_resize


def _sample_positions(lo, hi, n_in, n_out):
    """Sample positions (N, n_out) as a tensor, from box edges lo, hi (N,) float32 tensors,
    in TF's order of float32 operations."""
    if n_out > 1:
        scale = (hi - lo) * _F(n_in - 1) / _F(n_out - 1)                  # (N,)
        steps = _const_on(np.arange(n_out, dtype=_F)[None, :], lo)           # (1, n_out)
        return _ao.expand_dims(lo * _F(n_in - 1), 1) + steps * _ao.expand_dims(scale, 1)
    return _ao.expand_dims((lo + hi) * _F(0.5) * _F(n_in - 1), 1)


def _axis_plan(pos_t, n_in, nearest):
    """From positions (N, n_out): (lo index, hi index, valid mask, lerp weight tensor), the
    indices int64 on the host, clamped to 0 where the sample is outside [0, n_in - 1]."""
    p = np.asarray(pos_t.numpy(), dtype=_F)
    valid = (p >= 0) & (p <= _F(n_in - 1))
    ps = np.where(valid, p, _F(0))
    lo = np.floor(ps)
    hi = np.ceil(ps)
    if nearest:  # C roundf: halves away from zero (positions are >= 0 here)
        lo = hi = np.where(ps - lo >= _F(0.5), hi, lo)
    vt = _const_on(valid.astype(_F), pos_t) > 0.5
    lerp = _ao.where(vt, pos_t - _const_on(lo.astype(_F), pos_t), _F(0))
    return lo.astype(np.int64), hi.astype(np.int64), valid, lerp


def _crop_sample(flat, boxes, bidx, H, W, ch, cw, nearest):
    """flat: (B*H*W, C) float32 image rows; boxes (N, 4) float32 tensor; bidx (N,) host ints
    -> (N, ch, cw, C) crops, before extrapolation, and the (N, ch, cw) validity mask."""
    n = _shape(boxes)[0]
    py = _sample_positions(boxes[:, 0], boxes[:, 2], H, ch)
    px = _sample_positions(boxes[:, 1], boxes[:, 3], W, cw)
    y0, y1, vy, ly = _axis_plan(py, H, nearest)
    x0, x1, vx, lx = _axis_plan(px, W, nearest)
    base = (bidx.astype(np.int64) * H * W)[:, None, None]
    idx = np.stack([base + (yy * W)[:, :, None] + xx[:, None, :]
                    for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))])
    g = _ao.gather(flat, _const_on(idx, flat))             # (4, N, ch, cw, C)
    valid = vy[:, :, None] & vx[:, None, :]
    if nearest:
        return g[0], valid
    tl, tr, bl, br = g[0], g[1], g[2], g[3]
    lx = _ao.reshape(lx, (n, 1, cw, 1))
    ly = _ao.reshape(ly, (n, ch, 1, 1))
    top = tl + (tr - tl) * lx
    bottom = bl + (br - bl) * lx
    return top + (bottom - top) * ly, valid


def crop_and_resize(image, boxes, box_indices, crop_size, method="bilinear",
                    extrapolation_value=0.0, name=None):
    """`tf.image.crop_and_resize`: crops of `image` (B, H, W, C) at normalized `boxes`
    (N, 4) [y1, x1, y2, x2] (flipped corners flip the crop) from images `box_indices` (N,),
    each resized to `crop_size` (crop_h, crop_w) -> float32 (N, crop_h, crop_w, C).
    Differentiable with respect to the (float) image and the boxes."""
    op = "crop_and_resize"
    x = t_(image)
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] image must be 4-D (batch, height, width, depth), got shape "
                         f"{_shape(x)}")
    B, H, W, C = _shape(x)
    if H == 0 or W == 0:
        raise ValueError(f"[{op}] image dimensions must be positive, got shape {_shape(x)}")
    if isinstance(boxes, Tensor):
        b = boxes
    else:
        b = _const_on(np.asarray(boxes, dtype=_F), x)
    bs = _shape(b)
    if len(bs) != 2 or bs[1] != 4:
        raise ValueError(f"[{op}] boxes must be 2-D (num_boxes, 4), got shape {bs}")
    _check_float(op, b, "boxes")
    bi = _host(box_indices)
    if bi.ndim != 1 or (bi.size and bi.dtype.kind not in "iu"):
        raise ValueError(f"[{op}] box_indices must be a 1-D integer tensor, got shape "
                         f"{bi.shape} and dtype {bi.dtype}")
    if bi.shape[0] != bs[0]:
        raise ValueError(f"[{op}] boxes and box_indices must have the same number of boxes, "
                         f"got boxes of shape {bs} and box_indices of shape {bi.shape}")
    if bi.size and (bi.min() < 0 or bi.max() >= B):
        raise ValueError(f"[{op}] box_indices must be in [0, {B}) for an image of shape "
                         f"{_shape(x)}, got range [{bi.min()}, {bi.max()}]")
    cs = _host(crop_size)
    if cs.shape != (2,) or cs.dtype.kind not in "iu":
        raise ValueError(f"[{op}] crop_size must be 1-D with 2 integers (crop_height, "
                         f"crop_width), got {crop_size!r}")
    ch, cw = int(cs[0]), int(cs[1])
    if ch <= 0 or cw <= 0:
        raise ValueError(f"[{op}] crop_size must be positive, got ({ch}, {cw})")
    m = str(method).lower()
    if m not in ("bilinear", "nearest"):
        raise ValueError(f"[{op}] method must be 'bilinear' or 'nearest', got {method!r}")
    ext = _F(_float_scalar(op, "extrapolation_value", extrapolation_value))
    n = bs[0]
    xf = _mo.cast(x, _dt.float32)
    bf = _mo.cast(b, _dt.float32)
    if n == 0:
        return _const_on(np.zeros((0, ch, cw, C), _F), x)
    flat = _ao.reshape(xf, (B * H * W, C))
    out, valid = _crop_sample(flat, bf, bi, H, W, ch, cw, m == "nearest")
    if m == "nearest" and _tapes and isinstance(boxes, Tensor):
        # TF's box gradient for 'nearest' is the bilinear one: add a zero-valued term that
        # carries it (the image gets no gradient through it).
        lin, _ = _crop_sample(_ao.reshape(_stop_gradient(xf), (B * H * W, C)), bf, bi,
                              H, W, ch, cw, False)
        out = out + (lin - _stop_gradient(lin))
    if not valid.all():
        vt = _const_on(np.broadcast_to(valid[..., None], (n, ch, cw, C)).astype(_F), out) > 0.5
        out = _ao.where(vt, out, ext)
    return out


# ------------------------------------------------------------------------------ NMS (host)


def _iou_one(boxes, i, js):
    """IOU of box i with boxes js (float32, TF's formula: corners in any order, 0 for an
    empty box)."""
    bi, bj = boxes[i], boxes[js]
    ymin_i, ymax_i = min(bi[0], bi[2]), max(bi[0], bi[2])
    xmin_i, xmax_i = min(bi[1], bi[3]), max(bi[1], bi[3])
    ymin_j, ymax_j = np.minimum(bj[:, 0], bj[:, 2]), np.maximum(bj[:, 0], bj[:, 2])
    xmin_j, xmax_j = np.minimum(bj[:, 1], bj[:, 3]), np.maximum(bj[:, 1], bj[:, 3])
    area_i = (ymax_i - ymin_i) * (xmax_i - xmin_i)
    area_j = (ymax_j - ymin_j) * (xmax_j - xmin_j)
    ih = np.maximum(np.minimum(ymax_i, ymax_j) - np.maximum(ymin_i, ymin_j), _F(0))
    iw = np.maximum(np.minimum(xmax_i, xmax_j) - np.maximum(xmin_i, xmin_j), _F(0))
    inter = ih * iw
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_i + area_j - inter)
    return np.where((area_i <= 0) | (area_j <= 0), _F(0), iou).astype(_F)


def _greedy_nms(sim_fn, scores, max_out, thr, score_thr, sigma=0.0):
    """TF's DoNonMaxSuppressionOp: (selected indices, their scores) as Python lists.
    sim_fn(i, js) gives the similarities of candidate i with the selected boxes js."""
    scores = scores.astype(_F)
    thr, score_thr = _F(thr), _F(score_thr)
    soft = sigma > 0
    scale = _F(-0.5) / _F(sigma) if soft else _F(0)
    heap = [(-s, i, 0, s) for i, s in enumerate(scores) if s > score_thr]
    heapq.heapify(heap)  # highest score first, then the lower index (TF's comparator)
    sel, sel_scores = [], []
    while len(sel) < max_out and heap:
        _, i, begin, score = heapq.heappop(heap)
        orig = score
        hard = False
        if begin < len(sel):
            sims = sim_fn(i, np.asarray(sel[begin:], np.int64))[::-1]
            if not soft:
                hard = bool((sims > thr).any())
            else:
                w = np.exp(scale * sims * sims).astype(_F)
                for wj in w:
                    score = _F(score * wj)
                    if score <= score_thr:
                        break
        if hard:
            continue
        if score == orig:
            sel.append(i)
            sel_scores.append(score)
        elif score > score_thr:
            heapq.heappush(heap, (-score, i, len(sel), score))
    return sel, sel_scores


# ------------------------------------------------------------------------------ NMS (GPU)
# GPU tensors run csrc/cuda/nms.cu (cuda_backend.nms / nms_overlaps: sort by score, IOU
# bitmask, one-block greedy sweep), the same selection as the host path; what they read back
# is only a data-dependent output size (the selected count: one int32), nothing for the
# fixed-size padded and combined outputs. Soft-NMS (soft_nms_sigma > 0) runs nms.cu's
# soft_nms_kernel (the host loop's order; its exp is the device's, so scores agree to rounding).


def _f32_dev(x):
    """A GPU tensor's array as float32 on the device (the host path's astype(float32))."""
    a = x._data
    return a if a.dtype == _F else a.astype(_F)


def _nms_gpu(boxes_dev, scores_dev, mo, thr, st):
    """(idx (G, mo) int32 DeviceArray, count (G,) int32 DeviceArray) of G box problems (the
    unpadded callers pass min(max_output_size, n): no more can be kept, and a huge
    max_output_size must not size the buffer)."""
    be = _dev.backend()
    i, c = be.nms(boxes_dev.buf, scores_dev.buf, int(mo), float(_F(thr)), float(_F(st)))
    return DeviceArray(i), DeviceArray(c)


def _first_count(idx, count):
    """idx[0, :count[0]] as a fresh GPU tensor: one 4-byte read (the output's size)."""
    nv = int(count.get().reshape(-1)[0])
    return _wrap(contiguous(idx[0, :nv]))


def _nms_args(op, boxes, scores, max_output_size, iou_threshold, score_threshold):
    b, s = t_(boxes), t_(scores)
    bs, ss = _shape(b), _shape(s)
    if len(bs) != 2 or bs[1] != 4:
        raise ValueError(f"[{op}] boxes must be 2-D (num_boxes, 4), got shape {bs}")
    if len(ss) != 1 or ss[0] != bs[0]:
        raise ValueError(f"[{op}] scores must be 1-D (num_boxes,) matching boxes, got scores "
                         f"of shape {ss} and boxes of shape {bs}")
    mo = _int_scalar(op, "max_output_size", max_output_size)
    if mo < 0:
        raise ValueError(f"[{op}] max_output_size must be non-negative, got {mo}")
    thr = _float_scalar(op, "iou_threshold", iou_threshold)
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"[{op}] iou_threshold must be in [0, 1], got {thr}")
    st = _float_scalar(op, "score_threshold", score_threshold)
    return b, s, mo, thr, st


def _indices_on(sel, like, n=None):
    a = np.asarray(sel, np.int32).reshape(-1 if n is None else n)
    return _const_on(a, like)


def non_max_suppression(boxes, scores, max_output_size, iou_threshold=0.5,
                        score_threshold=float("-inf"), name=None):
    """Greedy NMS: int32 indices (M,) of the kept boxes, in decreasing score (ties: lower
    index first); a box is dropped when its IOU with a kept one is > iou_threshold, or its
    score is <= score_threshold."""
    op = "non_max_suppression"
    b, s, mo, thr, st = _nms_args(op, boxes, scores, max_output_size, iou_threshold,
                                  score_threshold)
    if _on_gpu(b) and _on_gpu(s):
        n = _shape(b)[0]
        return _first_count(*_nms_gpu(_f32_dev(b).reshape(1, n, 4),
                                      _f32_dev(s).reshape(1, n), min(mo, n), thr, st))
    bh = _host(b).astype(_F)
    sel, _ = _greedy_nms(lambda i, js: _iou_one(bh, i, js), _host(s), mo, thr, st)
    return _indices_on(sel, b)


def non_max_suppression_with_scores(boxes, scores, max_output_size, iou_threshold=0.5,
                                    score_threshold=float("-inf"), soft_nms_sigma=0.0,
                                    name=None):
    """NMS returning (selected_indices int32 (M,), selected_scores (M,)); soft_nms_sigma > 0
    is TF's Gaussian Soft-NMS: a candidate's score is multiplied by exp(-0.5 iou^2 / sigma)
    for each kept box and it is re-queued (kept only while its score is > score_threshold)."""
    op = "non_max_suppression_with_scores"
    b, s, mo, thr, st = _nms_args(op, boxes, scores, max_output_size, iou_threshold,
                                  score_threshold)
    sigma = _float_scalar(op, "soft_nms_sigma", soft_nms_sigma)
    if sigma < 0:
        raise ValueError(f"[{op}] soft_nms_sigma must be non-negative, got {sigma}")
    dt = s._data.dtype if s._data.dtype.kind == "f" else np.dtype(_F)
    if _on_gpu(b) and _on_gpu(s) and sigma == 0:
        n = _shape(b)[0]
        s32 = _f32_dev(s)
        sel = _first_count(*_nms_gpu(_f32_dev(b).reshape(1, n, 4), s32.reshape(1, n),
                                     min(mo, n), thr, st))
        sc = _dev.take(s32, sel._data, 0, True)  # the kept indices lie in [0, n)
        return sel, _wrap(sc if sc.dtype == dt else sc.astype(dt))
    if _on_gpu(b) and _on_gpu(s):  # Soft-NMS: soft_nms_kernel, one read (the count)
        n = _shape(b)[0]
        i, sc, c = _dev.backend().soft_nms(_f32_dev(b).reshape(1, n, 4).buf,
                                           _f32_dev(s).reshape(1, n).buf, min(mo, n),
                                           float(_F(st)), float(_F(-0.5) / _F(sigma)))
        nv = int(DeviceArray(c).get().reshape(-1)[0])
        sc = DeviceArray(sc)[0, :nv]
        return (_wrap(contiguous(DeviceArray(i)[0, :nv])),
                _wrap(contiguous(sc if sc.dtype == dt else sc.astype(dt))))
    bh = _host(b).astype(_F)
    sel, sc = _greedy_nms(lambda i, js: _iou_one(bh, i, js), _host(s), mo, thr, st, sigma)
    return _indices_on(sel, b), _const_on(np.asarray(sc, dt).reshape(-1), b)


def non_max_suppression_padded(boxes, scores, max_output_size, iou_threshold=0.5,
                               score_threshold=float("-inf"), pad_to_max_output_size=False,
                               name=None, sorted_input=False, canonicalized_coordinates=False,
                               tile_size=512):
    """Greedy NMS over boxes (..., num_boxes, 4) and scores (..., num_boxes) -> (indices,
    num_valid int32 (...)). With pad_to_max_output_size the indices are (..., max_output_size)
    int32, zero after the valid ones; without it (only for one set of boxes) (num_valid,).
    sorted_input, canonicalized_coordinates and tile_size are accepted for TF's signature and
    change nothing here (the host kernel needs no tiling). The selection is the greedy one of
    non_max_suppression; TF's tiled graph differs in corner cases only: it orders the corners
    of all boxes by those of the first box, and it drops a kept box whose four coordinates are
    all <= 0 (here every box is ordered by itself and such a box is kept)."""
    op = "non_max_suppression_padded"
    b, s = t_(boxes), t_(scores)
    bs, ss = _shape(b), _shape(s)
    if len(bs) < 2 or bs[-1] != 4:
        raise ValueError(f"[{op}] boxes must be (..., num_boxes, 4), got shape {bs}")
    if ss != bs[:-1]:
        raise ValueError(f"[{op}] scores must have shape (..., num_boxes) = {bs[:-1]} to match "
                         f"boxes of shape {bs}, got {ss}")
    if not pad_to_max_output_size and len(bs) > 2:
        raise ValueError(f"[{op}] 'pad_to_max_output_size' (value {pad_to_max_output_size}) "
                         f"must be True for batched input, got boxes of shape {bs}")
    mo = _int_scalar(op, "max_output_size", max_output_size)
    if mo < 0:
        raise ValueError(f"[{op}] max_output_size must be non-negative, got {mo}")
    thr = _float_scalar(op, "iou_threshold", iou_threshold)
    st = _float_scalar(op, "score_threshold", score_threshold)
    lead = bs[:-2]
    G = int(np.prod(lead, dtype=np.int64))  # (not reshape(-1, ...): n may be 0)
    if _on_gpu(b) and _on_gpu(s):
        n = bs[-2]
        idx, nv = _nms_gpu(_f32_dev(b).reshape(G, n, 4), _f32_dev(s).reshape(G, n),
                           mo if pad_to_max_output_size else min(mo, n), thr, st)
        if not pad_to_max_output_size:
            return _first_count(idx, nv), _wrap(nv.reshape(()))
        return _wrap(idx.reshape(lead + (mo,))), _wrap(nv.reshape(lead))
    bh = _host(b).astype(_F).reshape((G,) + bs[-2:])
    sh = _host(s).astype(_F).reshape(G, bs[-2])
    idx = np.zeros((bh.shape[0], mo), np.int32)
    nv = np.zeros(bh.shape[0], np.int32)
    for k in range(bh.shape[0]):
        sel, _ = _greedy_nms(lambda i, js, bk=bh[k]: _iou_one(bk, i, js), sh[k], mo, thr, st)
        idx[k, :len(sel)] = sel
        nv[k] = len(sel)
    if not pad_to_max_output_size:
        return _const_on(idx[0, :nv[0]], b), _const_on(nv.reshape(()), b)
    return _const_on(idx.reshape(lead + (mo,)), b), _const_on(nv.reshape(lead), b)


def non_max_suppression_overlaps(overlaps, scores, max_output_size, overlap_threshold=0.5,
                                 score_threshold=float("-inf"), name=None):
    """Greedy NMS on a given (num_boxes, num_boxes) overlap matrix: a box is dropped when
    overlaps[box, kept] > overlap_threshold. int32 indices (M,)."""
    op = "non_max_suppression_overlaps"
    o, s = t_(overlaps), t_(scores)
    os_, ss = _shape(o), _shape(s)
    if len(os_) != 2 or os_[0] != os_[1]:
        raise ValueError(f"[{op}] overlaps must be a square 2-D (num_boxes, num_boxes) "
                         f"tensor, got shape {os_}")
    if len(ss) != 1 or ss[0] != os_[0]:
        raise ValueError(f"[{op}] scores must be 1-D (num_boxes,) matching overlaps, got "
                         f"scores of shape {ss} and overlaps of shape {os_}")
    mo = _int_scalar(op, "max_output_size", max_output_size)
    if mo < 0:
        raise ValueError(f"[{op}] max_output_size must be non-negative, got {mo}")
    thr = _float_scalar(op, "overlap_threshold", overlap_threshold)
    st = _float_scalar(op, "score_threshold", score_threshold)
    if _on_gpu(o) and _on_gpu(s):
        i, c = _dev.backend().nms_overlaps(_f32_dev(o).buf, _f32_dev(s).buf,
                                           min(mo, os_[0]), float(_F(thr)), float(_F(st)))
        return _first_count(DeviceArray(i), DeviceArray(c))
    oh = _host(o).astype(_F)
    sel, _ = _greedy_nms(lambda i, js: oh[i, js], _host(s), mo, thr, st)
    return _indices_on(sel, o)


def combined_non_max_suppression(boxes, scores, max_output_size_per_class, max_total_size,
                                 iou_threshold=0.5, score_threshold=float("-inf"),
                                 pad_per_class=False, clip_boxes=True, name=None):
    """Per-class greedy NMS over a batch: boxes (B, N, q, 4) with q = 1 (shared) or
    num_classes, scores (B, N, num_classes). Returns (nmsed_boxes (B, D, 4), nmsed_scores
    (B, D), nmsed_classes (B, D) float32, valid_detections (B,) int32), the detections of all
    classes sorted by score (ties: class, then selection order), zero-padded to D =
    max_total_size (pad_per_class: min(max_total_size, max_output_size_per_class *
    num_classes)); clip_boxes clips the coordinates to [0, 1]."""
    op = "combined_non_max_suppression"
    b, s = t_(boxes), t_(scores)
    bs, ss = _shape(b), _shape(s)
    if len(bs) != 4 or bs[-1] != 4:
        raise ValueError(f"[{op}] boxes must be 4-D (batch, num_boxes, q, 4), got shape {bs}")
    if len(ss) != 3 or ss[:2] != bs[:2]:
        raise ValueError(f"[{op}] scores must be 3-D (batch, num_boxes, num_classes) matching "
                         f"boxes, got scores of shape {ss} and boxes of shape {bs}")
    nb, n, q, _ = bs
    nc = ss[2]
    if q != 1 and q != nc:
        raise ValueError(f"[{op}] boxes' third dimension q must be 1 or num_classes={nc}, got "
                         f"boxes of shape {bs}")
    mpc = _int_scalar(op, "max_output_size_per_class", max_output_size_per_class)
    mts = _int_scalar(op, "max_total_size", max_total_size)
    if mpc <= 0 or mts <= 0:
        raise ValueError(f"[{op}] max_output_size_per_class and max_total_size must be > 0, got "
                         f"{mpc} and {mts}")
    thr = _float_scalar(op, "iou_threshold", iou_threshold)
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"[{op}] iou_threshold must be in [0, 1], got {thr}")
    st = _float_scalar(op, "score_threshold", score_threshold)
    size = min(mts, mpc * nc) if pad_per_class else mts
    if _on_gpu(b) and _on_gpu(s):
        return _combined_gpu(b, s, min(mpc, n), size, thr, st, clip_boxes)
    bh = _host(b).astype(_F)
    sh = _host(s).astype(_F)
    ob = np.zeros((nb, size, 4), _F)
    osc = np.zeros((nb, size), _F)
    ocl = np.zeros((nb, size), _F)
    valid = np.zeros(nb, np.int32)
    for k in range(nb):
        found = []  # (score, class, box coordinates)
        for c in range(nc):
            bc = bh[k, :, c if q > 1 else 0, :]
            sel, _ = _greedy_nms(lambda i, js, bc=bc: _iou_one(bc, i, js), sh[k, :, c],
                                 min(mpc, n), thr, st)
            found += [(sh[k, i, c], c, bc[i]) for i in sel]
        found.sort(key=lambda r: -r[0])  # stable: equal scores keep class order
        found = found[:size]
        valid[k] = len(found)
        for j, (sc, c, box) in enumerate(found):
            ob[k, j] = np.clip(box, _F(0), _F(1)) if clip_boxes else box
            osc[k, j] = sc
            ocl[k, j] = c
    return (_const_on(ob, b), _const_on(osc, b), _const_on(ocl, b), _const_on(valid, b))


def _combined_gpu(b, s, m, size, thr, st, clip_boxes):
    """combined_non_max_suppression on the device, nothing read back: cuda_backend.combined_nms
    (nms.cu: the (batch, class) problems gathered, hard NMS on all of them, then each batch's
    kept candidates ranked by score, ties in class-major selection order as the host path's
    stable sort) in 5 launches (and a cast for non-float32 inputs)."""
    r = _dev.backend().combined_nms(contiguous(_f32_dev(b)).buf, contiguous(_f32_dev(s)).buf,
                                    int(m), int(size), float(_F(thr)), float(_F(st)),
                                    bool(clip_boxes))
    return tuple(_wrap(DeviceArray(x)) for x in r)


# ------------------------------------------------------------------------------ sobel, colour


def sobel_edges(image):
    """Sobel filters of each channel of a 4-D float batch (N, H, W, C) -> (N, H, W, C, 2):
    [..., 0] the vertical (dy) and [..., 1] the horizontal (dx) response, over a 1-pixel
    REFLECT padding (so H and W must be >= 2), as TF's 3x3 depthwise convolution."""
    op = "sobel_edges"
    x = t_(image)
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] image must be 4-D (batch, height, width, depth), got shape "
                         f"{_shape(x)}")
    _check_float(op, x, "image")
    n, H, W, C = _shape(x)
    if H < 2 or W < 2:
        raise ValueError(f"[{op}] image height and width must be >= 2 for the REFLECT padding, "
                         f"got shape {_shape(x)}")
    p = _ao.concat([x[:, 1:2], x, x[:, H - 2:H - 1]], axis=1)
    p = _ao.concat([p[:, :, 1:2], p, p[:, :, W - 2:W - 1]], axis=2)
    rows = [p[:, i:i + H] for i in range(3)]                     # (N, H, W + 2, C) each
    cols = [p[:, :, j:j + W] for j in range(3)]                  # (N, H + 2, W, C) each
    # dy = [1 2 1] across of (row below - row above); dx = [1 2 1] down of (right - left)
    ddy = rows[2] - rows[0]
    dy = ddy[:, :, 0:W] + ddy[:, :, 1:W + 1] * 2.0 + ddy[:, :, 2:W + 2]
    ddx = cols[2] - cols[0]
    dx = ddx[:, 0:H] + ddx[:, 1:H + 1] * 2.0 + ddx[:, 2:H + 2]
    return _ao.stack([dy, dx], axis=-1)


# TF's matrices (tensordot of the last axis with these, rows = input channels)
_RGB_TO_YUV = [[0.299, -0.14714119, 0.61497538],
               [0.587, -0.28886916, -0.51496512],
               [0.114, 0.43601035, -0.10001026]]
_YUV_TO_RGB = [[1, 1, 1], [0, -0.394642334, 2.03206185], [1.13988303, -0.58062185, 0]]
_RGB_TO_YIQ = [[0.299, 0.59590059, 0.2115],
               [0.587, -0.27455667, -0.52273617],
               [0.114, -0.32134392, 0.31119955]]
_YIQ_TO_RGB = [[1, 1, 1], [0.95598634, -0.27201283, -1.10674021],
               [0.6208248, -0.64720424, 1.70423049]]


def _colour_matrix(op, images, kernel):
    x = t_(images)
    _check_float(op, x, "images")
    s = _shape(x)
    if len(s) < 1 or s[-1] != 3:
        raise ValueError(f"[{op}] images must have 3 channels in the last dimension, got "
                         f"shape {s}")
    k = _const_on(np.asarray(kernel, dtype=x._data.dtype), x)
    return _mo.tensordot(x, k, [[len(s) - 1], [0]])


def rgb_to_yuv(images):
    """RGB -> YUV (TF's matrix), float images with a last dimension of 3."""
    return _colour_matrix("rgb_to_yuv", images, _RGB_TO_YUV)


def yuv_to_rgb(images):
    """YUV -> RGB (TF's matrix)."""
    return _colour_matrix("yuv_to_rgb", images, _YUV_TO_RGB)


def rgb_to_yiq(images):
    """RGB -> YIQ (TF's matrix)."""
    return _colour_matrix("rgb_to_yiq", images, _RGB_TO_YIQ)


def yiq_to_rgb(images):
    """YIQ -> RGB (TF's matrix)."""
    return _colour_matrix("yiq_to_rgb", images, _YIQ_TO_RGB)


# ------------------------------------------------------------------------------ extract_glimpse


def _glimpse_origin(off, n_in, n_g, centered, normalized):
    """TF2's (ExtractGlimpseV2) top-left corner of a glimpse along one axis, in float32,
    truncated toward zero."""
    v = _F(off)
    if normalized:
        v = v * _F(n_in)
        if centered:
            v = v / _F(2) + _F(n_in) / _F(2) - _F(n_g) / _F(2)
    elif centered:
        v = v + _F(n_in) / _F(2)
    return int(v)


def extract_glimpse(input, size, offsets, centered=True, normalized=True,  # noqa: A002
                    noise="uniform", name=None):
    """`tf.image.extract_glimpse` (TF2): windows of `size` (gh, gw) from a 4-D batch at
    `offsets` (B, 2) given as (y, x) -> float32 (B, gh, gw, C). Pixels outside the image are
    `noise`: 'zero', 'uniform' (in [min, max] of that image) or 'gaussian' (each channel's
    mean and standard deviation, clipped to its range), drawn from nabi's random stream."""
    op = "extract_glimpse"
    x = t_(input)
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] input must be 4-D (batch, height, width, channels), got shape "
                         f"{_shape(x)}")
    B, H, W, C = _shape(x)
    sz = _host(size)
    if sz.shape != (2,) or sz.dtype.kind not in "iu" or (sz <= 0).any():
        raise ValueError(f"[{op}] size must be 1-D with 2 positive integers (height, width), "
                         f"got {size!r}")
    gh, gw = int(sz[0]), int(sz[1])
    off = _host(offsets).astype(_F)
    if off.shape != (B, 2):
        raise ValueError(f"[{op}] offsets must be (batch, 2) = ({B}, 2) for input of shape "
                         f"{_shape(x)}, got shape {off.shape}")
    if noise not in ("uniform", "gaussian", "zero"):
        raise ValueError(f"[{op}] noise must be 'uniform', 'gaussian' or 'zero', got {noise!r}")
    xf = _mo.cast(x, _dt.float32)
    rows = np.zeros((B, gh, gw), np.int64)
    inside = np.zeros((B, gh, gw), bool)
    for k in range(B):
        oy = _glimpse_origin(off[k, 0], H, gh, centered, normalized)
        ox = _glimpse_origin(off[k, 1], W, gw, centered, normalized)
        yy = oy + np.arange(gh)[:, None]
        xx = ox + np.arange(gw)[None, :]
        ok = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        inside[k] = ok
        rows[k] = np.where(ok, k * H * W + np.clip(yy, 0, H - 1) * W + np.clip(xx, 0, W - 1), 0)
    out = _ao.gather(_ao.reshape(xf, (B * H * W, C)), _const_on(rows, x))
    if inside.all():
        return out
    if noise == "zero":
        fill = np.zeros((B, gh, gw, C), _F)
    else:
        from .random_ops import _generator
        rng = _generator(None)
        img = np.asarray(xf.numpy(), dtype=_F)
        if noise == "uniform":
            lo = img.min(axis=(1, 2, 3)).reshape(B, 1, 1, 1)
            hi = img.max(axis=(1, 2, 3)).reshape(B, 1, 1, 1)
            fill = lo + rng.random((B, gh, gw, C)).astype(_F) * (hi - lo)
        else:
            mean = img.mean(axis=(1, 2), keepdims=True)
            std = img.std(axis=(1, 2), keepdims=True)
            fill = np.clip(mean + rng.standard_normal((B, gh, gw, C)).astype(_F) * std,
                           img.min(axis=(1, 2), keepdims=True),
                           img.max(axis=(1, 2), keepdims=True))
    vt = _const_on(np.broadcast_to(inside[..., None], (B, gh, gw, C)).astype(_F), x) > 0.5
    return _ao.where(vt, out, _const_on(fill.astype(_F), x))
