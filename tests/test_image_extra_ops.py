"""tf.image crop_and_resize, the NMS family, sobel_edges, YUV/YIQ and extract_glimpse against
NumPy references written here (per-sample loops in float64, a plain sort-and-scan greedy NMS,
classic eager Soft-NMS), on the CPU and the emulated GPU (`where`): forward values, tape
gradients against float64 central differences of the references, and errors."""
import numpy as np
import pytest

import nabi as tf
from helpers import assert_array

F32, F64 = np.float32, np.float64


def numeric_grad(f, x, c, eps=1e-6):
    """d/dx sum(f(x) * c) by float64 central differences."""
    x = np.array(x, dtype=F64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        fp = np.sum(f(x) * c)
        x[idx] = old - eps
        fm = np.sum(f(x) * c)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def _dev(where, t):
    assert where.split(":")[0].lower().strip("/") in t.device.lower(), t.device


# ------------------------------------------------------------------ crop_and_resize reference


def ref_crop_and_resize(img, boxes, bidx, ch, cw, method="bilinear", extrap=0.0):
    """TF's documented sampling, one output pixel at a time, in float64."""
    B, H, W, C = img.shape
    out = np.zeros((len(boxes), ch, cw, C))
    for n, (y1, x1, y2, x2) in enumerate(boxes):
        im = img[bidx[n]]
        for i in range(ch):
            y = y1 * (H - 1) + i * (y2 - y1) * (H - 1) / (ch - 1) if ch > 1 \
                else 0.5 * (y1 + y2) * (H - 1)
            for j in range(cw):
                x = x1 * (W - 1) + j * (x2 - x1) * (W - 1) / (cw - 1) if cw > 1 \
                    else 0.5 * (x1 + x2) * (W - 1)
                if not (0 <= y <= H - 1 and 0 <= x <= W - 1):
                    out[n, i, j] = extrap
                elif method == "nearest":
                    out[n, i, j] = im[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))]
                else:
                    y0, x0 = int(np.floor(y)), int(np.floor(x))
                    ya, xa = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
                    ty, tx = y - y0, x - x0
                    out[n, i, j] = ((1 - ty) * ((1 - tx) * im[y0, x0] + tx * im[y0, xa])
                                    + ty * ((1 - tx) * im[ya, x0] + tx * im[ya, xa]))
    return out


BOXES = np.array([[0.1, 0.2, 0.8, 0.9],      # inside
                  [0.9, 0.7, 0.15, 0.05],    # flipped corners
                  [-0.3, 0.1, 1.2, 0.6],     # partly outside: extrapolated rows
                  [0.33, 0.41, 0.62, 0.57],  # small
                  [0.0, 0.0, 1.0, 1.0]])     # the whole image
BIDX = np.array([0, 1, 1, 0, 1])


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop", [(3, 4), (1, 1), (1, 5), (6, 1), (7, 5)], ids=str)
def test_crop_and_resize_forward(where, method, crop, rng):
    img = rng.standard_normal((2, 5, 7, 3)).astype(F32)
    want = ref_crop_and_resize(img.astype(F64), BOXES, BIDX, *crop, method, extrap=-2.5)
    with tf.device(where):
        y = tf.image.crop_and_resize(tf.constant(img), tf.constant(BOXES.astype(F32)),
                                     tf.constant(BIDX.astype(np.int32)), crop, method=method,
                                     extrapolation_value=-2.5)
        _dev(where, y)
    assert_array(y, want, rtol=1e-4, atol=1e-4, dtype=F32)


@pytest.mark.parametrize("shape", [(2, 1, 4, 2), (2, 3, 1, 2), (2, 1, 1, 1)], ids=str)
def test_crop_and_resize_one_pixel_sides(where, shape, rng):
    img = rng.standard_normal(shape).astype(F32)
    for method in ("bilinear", "nearest"):
        for crop in [(1, 1), (3, 2)]:
            with tf.device(where):
                y = tf.image.crop_and_resize(img, BOXES, BIDX, crop, method=method)
            want = ref_crop_and_resize(img.astype(F64), BOXES, BIDX, *crop, method)
            assert_array(y, want, rtol=1e-5, atol=1e-5, dtype=F32)


def test_crop_and_resize_integer_image_and_lists():
    img = np.arange(2 * 4 * 5 * 1, dtype=np.int32).reshape(2, 4, 5, 1)
    y = tf.image.crop_and_resize(img, BOXES.tolist(), BIDX.tolist(), [3, 3])
    assert_array(y, ref_crop_and_resize(img.astype(F64), BOXES, BIDX, 3, 3), dtype=F32)
    y0 = tf.image.crop_and_resize(img, np.zeros((0, 4), F32), np.zeros(0, np.int32), [2, 3])
    assert y0.shape == (0, 2, 3, 1) and y0.dtype == tf.float32


def _grad_case(where, method, rng, crop=(3, 4)):
    img = rng.standard_normal((2, 4, 6, 2))
    boxes = np.array([[0.12, 0.17, 0.83, 0.91], [0.86, 0.71, 0.21, 0.07],
                      [-0.2, 0.13, 1.15, 0.62], [0.37, 0.44, 0.61, 0.58]])
    bidx = np.array([1, 0, 1, 0])
    out_shape = (len(boxes),) + crop + (2,)
    c = rng.standard_normal(out_shape)
    with tf.device(where):
        ti = tf.constant(img.astype(F32))
        tb = tf.constant(boxes.astype(F32))
        with tf.GradientTape() as tape:
            tape.watch([ti, tb])
            y = tf.image.crop_and_resize(ti, tb, bidx, crop, method=method)
            loss = tf.reduce_sum(y * tf.constant(c.astype(F32)))
        gi, gb = tape.gradient(loss, [ti, tb])
        _dev(where, gi)
    return img, boxes, bidx, c, gi, gb


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop", [(3, 4), (1, 2)], ids=str)
def test_crop_and_resize_gradients(where, method, crop, rng):
    img, boxes, bidx, c, gi, gb = _grad_case(where, method, rng, crop)
    want_i = numeric_grad(lambda v: ref_crop_and_resize(v, boxes, bidx, *crop, method), img, c)
    assert_array(gi, want_i, rtol=1e-3, atol=1e-4, dtype=F32)
    # TF's box gradient; for 'nearest' it is the bilinear one, as in TF
    want_b = numeric_grad(lambda v: ref_crop_and_resize(img, v, bidx, *crop, "bilinear"),
                          boxes, c)
    assert_array(gb, want_b, rtol=1e-3, atol=1e-3, dtype=F32)


def test_crop_and_resize_errors():
    img = np.zeros((2, 4, 4, 1), F32)
    with pytest.raises(ValueError, match=r"\[crop_and_resize\] image must be 4-D.*\(4, 4, 1\)"):
        tf.image.crop_and_resize(img[0], BOXES, BIDX, [2, 2])
    with pytest.raises(ValueError, match=r"same number of boxes.*\(5, 4\).*\(3,\)"):
        tf.image.crop_and_resize(img, BOXES, [0, 1, 0], [2, 2])
    with pytest.raises(ValueError, match=r"boxes must be 2-D \(num_boxes, 4\).*\(5, 3\)"):
        tf.image.crop_and_resize(img, BOXES[:, :3], BIDX, [2, 2])
    with pytest.raises(ValueError, match=r"method must be 'bilinear' or 'nearest'.*'bicubic'"):
        tf.image.crop_and_resize(img, BOXES, BIDX, [2, 2], method="bicubic")
    with pytest.raises(ValueError, match=r"box_indices must be in \[0, 2\)"):
        tf.image.crop_and_resize(img, BOXES, [0, 1, 2, 0, 0], [2, 2])
    with pytest.raises(ValueError, match=r"crop_size must be positive"):
        tf.image.crop_and_resize(img, BOXES, BIDX, [0, 2])


# ------------------------------------------------------------------------ NMS references


def ref_iou(a, b):
    ya0, ya1 = sorted((a[0], a[2]))
    xa0, xa1 = sorted((a[1], a[3]))
    yb0, yb1 = sorted((b[0], b[2]))
    xb0, xb1 = sorted((b[1], b[3]))
    area_a, area_b = (ya1 - ya0) * (xa1 - xa0), (yb1 - yb0) * (xb1 - xb0)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = max(min(ya1, yb1) - max(ya0, yb0), 0) * max(min(xa1, xb1) - max(xa0, xb0), 0)
    return inter / (area_a + area_b - inter)


def ref_nms(sim, scores, max_out, thr, score_thr):
    """Sort once by (score desc, index asc), keep a box unless it overlaps a kept one."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if len(keep) == max_out or scores[i] <= score_thr:
            break
        if all(sim(i, k) <= thr for k in keep):
            keep.append(i)
    return keep


def ref_soft_nms(boxes, scores, max_out, score_thr, sigma):
    """Classic eager Soft-NMS (Bodla et al.): take the best, rescale every other by
    exp(-0.5 iou^2 / sigma), drop those at or under the threshold."""
    live = {i: float(s) for i, s in enumerate(scores) if s > score_thr}
    keep, kept_scores = [], []
    while live and len(keep) < max_out:
        i = min(live, key=lambda k: (-live[k], k))
        keep.append(i)
        kept_scores.append(live.pop(i))
        for k in list(live):
            live[k] *= np.exp(-0.5 * ref_iou(boxes[i], boxes[k]) ** 2 / sigma)
            if live[k] <= score_thr:
                del live[k]
    return keep, kept_scores


def random_boxes(rng, n, flip=True):
    c = rng.uniform(0, 10, (n, 2))
    hw = rng.uniform(0.5, 4, (n, 2))
    b = np.concatenate([c - hw / 2, c + hw / 2], 1)[:, [0, 1, 2, 3]]
    if flip:  # swap corners of some boxes
        sw = rng.random(n) < 0.3
        b[sw] = b[sw][:, [2, 3, 0, 1]]
    return b.astype(F32)


@pytest.mark.parametrize("thr,score_thr,max_out", [(0.5, -np.inf, 10), (0.3, 0.2, 100),
                                                   (0.0, -np.inf, 50), (1.0, 0.5, 7)])
def test_nms_matches_reference(where, thr, score_thr, max_out, rng):
    boxes = random_boxes(rng, 60)
    scores = rng.random(60).astype(F32)
    want = ref_nms(lambda i, k: ref_iou(boxes[i], boxes[k]), scores, max_out, thr, score_thr)
    with tf.device(where):
        sel = tf.image.non_max_suppression(tf.constant(boxes), tf.constant(scores), max_out,
                                           iou_threshold=thr, score_threshold=score_thr)
        _dev(where, sel)
        sel2, sc = tf.image.non_max_suppression_with_scores(
            tf.constant(boxes), tf.constant(scores), max_out, thr, score_thr)
    assert sel.dtype == tf.int32 and sel2.dtype == tf.int32 and sc.dtype == tf.float32
    np.testing.assert_array_equal(sel.numpy(), want)
    np.testing.assert_array_equal(sel2.numpy(), want)
    assert_array(sc, scores[want])


def test_nms_ties_thresholds_and_flipped_corners():
    boxes = np.array([[0, 0, 1, 2], [1, 1, 0, 0], [0, 0, 1, 2], [5, 5, 6, 6], [7, 7, 8, 8]], F32)
    scores = np.array([0.5, 0.9, 0.9, 0.3, 0.2], F32)
    # boxes 1 and 2 tie at 0.9: the lower index comes first; box 2's IOU with box 1 (given
    # with flipped corners) is exactly 0.5, not above the threshold, so it stays; box 0
    # duplicates box 2
    sel = tf.image.non_max_suppression(boxes, scores, 10, iou_threshold=0.5)
    np.testing.assert_array_equal(sel.numpy(), [1, 2, 3, 4])
    sel = tf.image.non_max_suppression(boxes, scores, 10, iou_threshold=0.49)
    np.testing.assert_array_equal(sel.numpy(), [1, 3, 4])
    sel = tf.image.non_max_suppression(boxes, scores, 10, 0.5, score_threshold=0.3)  # strict
    np.testing.assert_array_equal(sel.numpy(), [1, 2])
    sel = tf.image.non_max_suppression(boxes, scores, 0)
    assert sel.shape == (0,) and sel.dtype == tf.int32


@pytest.mark.parametrize("sigma,score_thr", [(0.5, 0.0), (0.2, 0.05), (1.0, -np.inf)])
def test_soft_nms_matches_classic(where, sigma, score_thr, rng):
    boxes = random_boxes(rng, 40)
    scores = rng.random(40).astype(F32)
    want, want_s = ref_soft_nms(boxes.astype(F64), scores.astype(F64), 25, score_thr, sigma)
    with tf.device(where):
        sel, sc = tf.image.non_max_suppression_with_scores(
            tf.constant(boxes), tf.constant(scores), 25, iou_threshold=0.5,
            score_threshold=score_thr, soft_nms_sigma=sigma)
        _dev(where, sc)
    np.testing.assert_array_equal(sel.numpy(), want)
    assert_array(sc, want_s, rtol=1e-5, atol=1e-6, dtype=F32)


def test_nms_padded(where, rng):
    boxes = np.stack([random_boxes(rng, 30) for _ in range(6)]).reshape(2, 3, 30, 4)
    scores = rng.random((2, 3, 30)).astype(F32)
    with tf.device(where):
        idx, nv = tf.image.non_max_suppression_padded(
            tf.constant(boxes), tf.constant(scores), 12, iou_threshold=0.3, score_threshold=0.4,
            pad_to_max_output_size=True)
        _dev(where, idx)
        one, n1 = tf.image.non_max_suppression_padded(tf.constant(boxes[0, 0]),
                                                      tf.constant(scores[0, 0]), 12, 0.3, 0.4)
    assert idx.shape == (2, 3, 12) and idx.dtype == tf.int32
    assert nv.shape == (2, 3) and nv.dtype == tf.int32
    for a in range(2):
        for b in range(3):
            bx, s = boxes[a, b], scores[a, b]
            want = ref_nms(lambda i, k: ref_iou(bx[i], bx[k]), s, 12, 0.3, 0.4)
            assert nv.numpy()[a, b] == len(want)
            np.testing.assert_array_equal(idx.numpy()[a, b],
                                          want + [0] * (12 - len(want)))
    want = ref_nms(lambda i, k: ref_iou(boxes[0, 0, i], boxes[0, 0, k]), scores[0, 0], 12, 0.3,
                   0.4)
    np.testing.assert_array_equal(one.numpy(), want)
    assert n1.shape == () and int(n1.numpy()) == len(want)
    with pytest.raises(ValueError, match=r"pad_to_max_output_size.*must be True for batched"):
        tf.image.non_max_suppression_padded(boxes, scores, 5)


def test_nms_overlaps(where, rng):
    ov = rng.random((25, 25)).astype(F32)
    ov = (ov + ov.T) / 2
    scores = rng.random(25).astype(F32)
    want = ref_nms(lambda i, k: ov[i, k], scores, 20, 0.6, 0.1)
    with tf.device(where):
        sel = tf.image.non_max_suppression_overlaps(tf.constant(ov), tf.constant(scores), 20,
                                                    overlap_threshold=0.6, score_threshold=0.1)
        _dev(where, sel)
    np.testing.assert_array_equal(sel.numpy(), want)


@pytest.mark.parametrize("q", [1, 3])
@pytest.mark.parametrize("pad_per_class,clip", [(False, True), (True, False)])
def test_combined_nms(where, q, pad_per_class, clip, rng):
    nb, n, nc = 2, 20, 3
    boxes = (np.stack([random_boxes(rng, n * q, flip=False) for _ in range(nb)])
             / 8.0).reshape(nb, n, q, 4)
    scores = rng.random((nb, n, nc)).astype(F32)
    mpc, mts = 4, 10
    with tf.device(where):
        ob, osc, ocl, nv = tf.image.combined_non_max_suppression(
            tf.constant(boxes), tf.constant(scores), mpc, mts, iou_threshold=0.4,
            score_threshold=0.2, pad_per_class=pad_per_class, clip_boxes=clip)
        _dev(where, ob)
    size = min(mts, mpc * nc) if pad_per_class else mts
    assert ob.shape == (nb, size, 4) and osc.shape == (nb, size) and ocl.shape == (nb, size)
    assert ocl.dtype == tf.float32 and nv.dtype == tf.int32
    for k in range(nb):
        found = []
        for c in range(nc):
            bc = boxes[k, :, c if q > 1 else 0]
            for i in ref_nms(lambda i, j: ref_iou(bc[i], bc[j]), scores[k, :, c], mpc, 0.4, 0.2):
                found.append((scores[k, i, c], c, bc[i]))
        found = sorted(found, key=lambda r: -r[0])[:size]
        assert nv.numpy()[k] == len(found)
        wb = np.zeros((size, 4))
        ws, wc = np.zeros(size), np.zeros(size)
        for j, (s, c, b) in enumerate(found):
            wb[j] = np.clip(b, 0, 1) if clip else b
            ws[j], wc[j] = s, c
        assert_array(ob.numpy()[k], wb)
        assert_array(osc.numpy()[k], ws)
        assert_array(ocl.numpy()[k], wc)


def test_nms_errors():
    b = np.zeros((4, 4), F32)
    s = np.zeros(4, F32)
    with pytest.raises(ValueError, match=r"\[non_max_suppression\] boxes must be 2-D.*\(4,\)"):
        tf.image.non_max_suppression(s, s, 3)
    with pytest.raises(ValueError, match=r"scores must be 1-D.*\(3,\).*\(4, 4\)"):
        tf.image.non_max_suppression(b, s[:3], 3)
    with pytest.raises(ValueError, match=r"iou_threshold must be in \[0, 1\]"):
        tf.image.non_max_suppression(b, s, 3, iou_threshold=1.5)
    with pytest.raises(ValueError, match=r"max_output_size must be non-negative"):
        tf.image.non_max_suppression(b, s, -1)
    with pytest.raises(ValueError, match=r"soft_nms_sigma must be non-negative"):
        tf.image.non_max_suppression_with_scores(b, s, 3, soft_nms_sigma=-1.0)
    with pytest.raises(ValueError, match=r"overlaps must be a square.*\(4, 3\)"):
        tf.image.non_max_suppression_overlaps(np.zeros((4, 3), F32), s, 3)
    with pytest.raises(ValueError, match=r"q must be 1 or num_classes=3"):
        tf.image.combined_non_max_suppression(np.zeros((1, 4, 2, 4), F32),
                                              np.zeros((1, 4, 3), F32), 2, 4)


# ------------------------------------------------------------------------------- sobel_edges


def ref_sobel(x):
    ky = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], F64)
    kx = ky.T
    N, H, W, C = x.shape
    p = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    out = np.zeros((N, H, W, C, 2))
    for i in range(H):
        for j in range(W):
            win = p[:, i:i + 3, j:j + 3, :]
            out[:, i, j, :, 0] = np.einsum("nhwc,hw->nc", win, ky)
            out[:, i, j, :, 1] = np.einsum("nhwc,hw->nc", win, kx)
    return out


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 2, 2, 1), (1, 3, 9, 2)], ids=str)
def test_sobel_edges(where, shape, rng):
    x = rng.standard_normal(shape)
    c = rng.standard_normal(shape + (2,))
    with tf.device(where):
        y = tf.image.sobel_edges(tf.constant(x.astype(F32)))
        _dev(where, y)
        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(tf.image.sobel_edges(t) * tf.constant(c))
        g = tape.gradient(loss, t)
    assert_array(y, ref_sobel(x), rtol=1e-4, atol=1e-4, dtype=F32)
    assert_array(g, numeric_grad(ref_sobel, x, c), rtol=1e-6, atol=1e-6, dtype=F64)
    with pytest.raises(ValueError, match=r"\[sobel_edges\] image must be 4-D.*got shape"):
        tf.image.sobel_edges(x[0].astype(F32))
    with pytest.raises(ValueError, match=r"height and width must be >= 2.*\(1, 1, 4, 1\)"):
        tf.image.sobel_edges(np.zeros((1, 1, 4, 1), F32))


# ------------------------------------------------------------------------------ YUV and YIQ


def ref_rgb_to_yuv(x):
    """Y = luma, U = 0.492111 (B - Y), V = 0.877283 (R - Y) (the analogue YUV definitions)."""
    y = x @ np.array([0.299, 0.587, 0.114])
    return np.stack([y, 0.492111 * (x[..., 2] - y), 0.877283 * (x[..., 0] - y)], -1)


@pytest.mark.parametrize("shape", [(4, 5, 3), (2, 3, 4, 3), (3,)], ids=str)
def test_yuv_yiq(where, shape, rng):
    x = rng.random(shape)
    with tf.device(where):
        t = tf.constant(x.astype(F32))
        yuv = tf.image.rgb_to_yuv(t)
        _dev(where, yuv)
        back = tf.image.yuv_to_rgb(yuv)
        yiq = tf.image.rgb_to_yiq(t)
        back2 = tf.image.yiq_to_rgb(yiq)
        doc = tf.image.rgb_to_yiq(tf.constant([[[1.0, 2.0, 3.0]]]))
    assert_array(yuv, ref_rgb_to_yuv(x), rtol=1e-5, atol=1e-5, dtype=F32)
    assert_array(back, x, atol=1e-5, dtype=F32)
    assert_array(back2, x, atol=2e-4, dtype=F32)  # TF's YIQ pair is inverse to ~1e-4 only
    # NTSC YIQ to the usual 4 digits; TF's documented example exactly
    want_yiq = x @ np.array([[0.299, 0.5959, 0.2115], [0.587, -0.2746, -0.5227],
                             [0.114, -0.3213, 0.3112]])
    assert_array(yiq, want_yiq, atol=2e-4, dtype=F32)
    assert_array(doc, [[[1.815, -0.91724455, 0.09962624]]], rtol=1e-6, atol=1e-6)


def test_colour_gradients_and_errors(where, rng):
    x = rng.random((2, 3, 3))
    c = rng.standard_normal((2, 3, 3))
    for fn, ref in [(tf.image.rgb_to_yuv, ref_rgb_to_yuv)]:
        with tf.device(where):
            t = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(t)
                loss = tf.reduce_sum(fn(t) * tf.constant(c))
            g = tape.gradient(loss, t)
        assert_array(g, numeric_grad(ref, x, c), rtol=1e-5, atol=1e-5, dtype=F64)
    with pytest.raises(ValueError, match=r"\[rgb_to_yiq\] images must have 3 channels.*\(2, 4\)"):
        tf.image.rgb_to_yiq(np.zeros((2, 4), F32))
    with pytest.raises(TypeError, match=r"\[yuv_to_rgb\] images must be a float tensor"):
        tf.image.yuv_to_rgb(np.zeros((2, 3), np.int32))


# --------------------------------------------------------------------------- extract_glimpse


def ref_glimpse(x, size, offsets, centered, normalized):
    """TF2's rules: the offsets are the (y, x) centre, except in un-normalized un-centered mode
    (and normalized un-centered mode) where they are the top-left corner; zero outside."""
    B, H, W, C = x.shape
    gh, gw = size
    out = np.zeros((B, gh, gw, C))
    for b in range(B):
        corner = []
        for o, n, g in ((offsets[b][0], H, gh), (offsets[b][1], W, gw)):
            o = np.float32(o)
            if normalized and centered:
                v = (o + 1) / 2 * n - g / 2
            elif normalized:
                v = o * n
            elif centered:
                v = o + n / 2
            else:
                v = o
            corner.append(int(np.trunc(np.float32(v))))
        for i in range(gh):
            for j in range(gw):
                yy, xx = corner[0] + i, corner[1] + j
                if 0 <= yy < H and 0 <= xx < W:
                    out[b, i, j] = x[b, yy, xx]
    return out


def test_extract_glimpse_doc_example():
    x = np.arange(9, dtype=F32).reshape(1, 3, 3, 1)
    y = tf.image.extract_glimpse(x, size=(2, 2), offsets=[[1, 1]], centered=False,
                                 normalized=False)
    assert_array(y, np.array([4, 5, 7, 8], F32).reshape(1, 2, 2, 1), dtype=F32)


@pytest.mark.parametrize("centered,normalized,offsets", [
    (True, True, [[0.0, 0.0], [-0.9, 0.5], [0.3, -0.35]]),
    (False, True, [[0.1, 0.2], [0.0, 0.0], [0.7, 0.9]]),
    (True, False, [[0.0, 0.0], [-3.0, 2.0], [1.5, -4.5]]),
    (False, False, [[0.0, 0.0], [-2.0, 5.0], [4.0, 1.0]])])
def test_extract_glimpse_zero_noise(where, centered, normalized, offsets, rng):
    x = rng.standard_normal((3, 6, 7, 2)).astype(F32)
    want = ref_glimpse(x.astype(F64), (3, 4), offsets, centered, normalized)
    with tf.device(where):
        y = tf.image.extract_glimpse(tf.constant(x), [3, 4], tf.constant(np.array(offsets, F32)),
                                     centered=centered, normalized=normalized, noise="zero")
        _dev(where, y)
    assert_array(y, want, dtype=F32)


def test_extract_glimpse_noise_range(rng):
    x = rng.random((2, 4, 4, 3)).astype(F32) * 5 + 1
    y = tf.image.extract_glimpse(x, [6, 6], [[0.0, 0.0], [0.9, 0.9]]).numpy()
    inside = ref_glimpse(x.astype(F64), (6, 6), [[0.0, 0.0], [0.9, 0.9]], True, True)
    for b in range(2):
        outside = inside[b] == 0
        assert (y[b][outside] >= x[b].min()).all() and (y[b][outside] <= x[b].max()).all()
        np.testing.assert_allclose(y[b][~outside], inside[b][~outside], rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[extract_glimpse\] noise must be"):
        tf.image.extract_glimpse(x, [2, 2], [[0.0, 0.0]] * 2, noise="pink")
    with pytest.raises(ValueError, match=r"offsets must be \(batch, 2\) = \(2, 2\)"):
        tf.image.extract_glimpse(x, [2, 2], [[0.0, 0.0]])
