"""Ops that used to copy GPU tensors to the host (bench/results/gpu_host_ops.md), now on the
device: tf.nn.dilation2d / erosion2d (csrc/cuda/morphology.cu: cuda_backend.dilation2d /
dilation2d_grad), the tf.image non-max-suppression family (csrc/cuda/nms.cu: cuda_backend.nms /
nms_overlaps), tf.image.draw_bounding_boxes (csrc/cuda/draw_boxes.cu: cuda_backend.draw_boxes),
tf.math.invert_permutation (the sort kernel) and tf.linalg.expm (device scaling), against
independent references:

  * dilation: Python loops over the window taps (the first strict maximum, TF's fallback pixel
    and tap (0, 0) for a window with no tap inside), forward and both gradients;
  * NMS: a plain Python greedy loop over the candidates sorted by (score desc, index), with
    TF's IOU in float32 scalars;
  * draw_bounding_boxes: a pixel-by-pixel outline painter; invert_permutation: a loop;
    expm: scipy.linalg.expm and its central differences.

Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the host simulator
under NABI_TEST_PACKAGE_DIR=build/sim/pkg), so every device equals the reference and so each
other (indices bit for bit; morphology values exactly: a max of single sums). Kernel tests
take `backend` (the real module / simulator, or the emulator); read counts take `d2h`.
"""
import math

import numpy as np
import pytest

import nabi

F32 = np.float32


# ---------------------------------------------------------------- references
def ref_geometry(H, W, kh, kw, strides, rates, padding):
    (sh, sw), (rh, rw) = strides, rates
    eh, ew = (kh - 1) * rh + 1, (kw - 1) * rw + 1
    if padding == "SAME":
        oh, ow = -(-H // sh), -(-W // sw)
        pt = max((oh - 1) * sh + eh - H, 0) // 2
        pl = max((ow - 1) * sw + ew - W, 0) // 2
    else:
        oh, ow, pt, pl = (H - eh) // sh + 1, (W - ew) // sw + 1, 0, 0
    return oh, ow, pt, pl


def ref_dilation(x, f, strides, rates, padding, gy=None):
    """(y, gx, gf) by loops: y the max over the inside taps; gy routed to the first maximal
    tap (TF's fallback: input (clamped window origin), tap (0, 0))."""
    B, H, W, C = x.shape
    kh, kw, _ = f.shape
    oh, ow, pt, pl = ref_geometry(H, W, kh, kw, strides, rates, padding)
    (sh, sw), (rh, rw) = strides, rates
    y = np.zeros((B, oh, ow, C), x.dtype)
    gx, gf = np.zeros_like(x), np.zeros_like(f)
    for b in range(B):
        for oy in range(oh):
            for ox in range(ow):
                for c in range(C):
                    best, arg = None, None
                    for ty in range(kh):
                        for tx in range(kw):
                            iy, ix = oy * sh + ty * rh - pt, ox * sw + tx * rw - pl
                            if 0 <= iy < H and 0 <= ix < W:
                                v = x[b, iy, ix, c] + f[ty, tx, c]
                                if v > -np.inf and (best is None or v > best):
                                    best, arg = v, (iy, ix, ty, tx)
                    y[b, oy, ox, c] = np.finfo(x.dtype).min if best is None else best
                    if gy is None:
                        continue
                    if arg is None:
                        iy = min(max(oy * sh - pt, 0), H - 1)
                        ix = min(max(ox * sw - pl, 0), W - 1)
                        arg = (iy, ix, 0, 0)
                    iy, ix, ty, tx = arg
                    gx[b, iy, ix, c] += gy[b, oy, ox, c]
                    gf[ty, tx, c] += gy[b, oy, ox, c]
    return y, gx, gf


def ref_iou(a, b):
    """TF's IOU of two boxes in float32 scalar arithmetic."""
    a, b = [F32(v) for v in a], [F32(v) for v in b]
    ya0, ya1, xa0, xa1 = min(a[0], a[2]), max(a[0], a[2]), min(a[1], a[3]), max(a[1], a[3])
    yb0, yb1, xb0, xb1 = min(b[0], b[2]), max(b[0], b[2]), min(b[1], b[3]), max(b[1], b[3])
    area_a, area_b = F32((ya1 - ya0) * (xa1 - xa0)), F32((yb1 - yb0) * (xb1 - xb0))
    if area_a <= 0 or area_b <= 0:
        return F32(0)
    ih = max(F32(min(ya1, yb1) - max(ya0, yb0)), F32(0))
    iw = max(F32(min(xa1, xb1) - max(xa0, xb0)), F32(0))
    inter = F32(ih * iw)
    return F32(inter / F32(F32(area_a + area_b) - inter))


def ref_nms(sim, scores, max_out, thr, score_thr):
    """Greedy hard NMS: sim(cand, kept) -> float32; candidates by (score desc, index)."""
    scores = np.asarray(scores, F32)
    thr, score_thr = F32(thr), F32(score_thr)
    order = sorted((i for i in range(len(scores)) if scores[i] > score_thr),
                   key=lambda i: (-float(scores[i]), i))
    kept = []
    for i in order:
        if len(kept) >= max_out:
            break
        if all(not sim(i, j) > thr for j in kept):
            kept.append(i)
    return np.asarray(kept, np.int32)


def ref_nms_boxes(boxes, scores, max_out, thr, score_thr=-np.inf):
    return ref_nms(lambda i, j: ref_iou(boxes[i], boxes[j]), scores, max_out, thr, score_thr)


def _on(where, *arrays):
    with nabi.device(where):
        return [nabi.constant(a) for a in arrays]


def _gpu(t):
    return type(t._data).__name__ == "DeviceArray"


# ---------------------------------------------------------------- dilation / erosion
MORPH_CASES = [
    # (x shape, filter (kh, kw), strides, rates, padding)
    ((2, 5, 6, 3), (3, 2), (1, 1), (1, 1), "SAME"),
    ((1, 7, 6, 2), (2, 3), (2, 3), (1, 1), "VALID"),
    ((1, 6, 7, 2), (2, 2), (1, 2), (2, 1), "SAME"),
    ((1, 3, 3, 1), (2, 2), (1, 1), (3, 3), "SAME"),   # every window empty: TF's fallback
    ((2, 4, 3, 2), (3, 3), (2, 1), (2, 1), "SAME"),   # some empty rows, stride and dilation
    ((1, 5, 5, 1), (1, 1), (2, 2), (1, 1), "VALID"),
]


def _morph_inputs(rng, xs, kshape, dtype, ties=True):
    if ties:  # small integers: many equal sums, so the first maximal tap matters
        x = rng.integers(-2, 3, xs).astype(dtype)
        f = rng.integers(-1, 2, kshape + (xs[3],)).astype(dtype)
    else:
        x = rng.standard_normal(xs).astype(dtype)
        f = rng.standard_normal(kshape + (xs[3],)).astype(dtype)
    return x, f


@pytest.mark.parametrize("case", range(len(MORPH_CASES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dilation2d_values_and_gradients(where, rng, case, dtype):
    xs, ks, st, rt, pad = MORPH_CASES[case]
    x, f = _morph_inputs(rng, xs, ks, dtype)
    y_ref, _, _ = ref_dilation(x, f, st, rt, pad)
    gy = rng.integers(-3, 4, y_ref.shape).astype(dtype)  # integers: sums exact in any order
    _, gx_ref, gf_ref = ref_dilation(x, f, st, rt, pad, gy)
    tx, tf_, tg = _on(where, x, f, gy)
    with nabi.GradientTape() as tape:
        tape.watch([tx, tf_])
        y = nabi.nn.dilation2d(tx, tf_, [1, *st, 1], pad, "NHWC", [1, *rt, 1])
        loss = nabi.reduce_sum(y * tg)
    gx, gf = tape.gradient(loss, [tx, tf_])
    assert _gpu(y) == ("GPU" in where) and _gpu(gx) == ("GPU" in where)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(gx.numpy(), gx_ref)
    np.testing.assert_array_equal(gf.numpy(), gf_ref)


def test_dilation2d_gradient_matches_finite_differences(where, rng):
    """Random float64 data (no ties): the analytic gradient is the derivative."""
    xs, ks, st, rt, pad = (1, 4, 5, 2), (2, 2), (1, 2), (1, 1), "SAME"
    x, f = _morph_inputs(rng, xs, ks, np.float64, ties=False)
    w = rng.standard_normal(ref_dilation(x, f, st, rt, pad)[0].shape)

    def loss(xv, fv):
        return float((ref_dilation(xv, fv, st, rt, pad)[0] * w).sum())
    tx, tf_, tw = _on(where, x, f, w)
    with nabi.GradientTape() as tape:
        tape.watch([tx, tf_])
        y = nabi.nn.dilation2d(tx, tf_, [1, *st, 1], pad, "NHWC", [1, 1, 1, 1])
        s = nabi.reduce_sum(y * tw)
    gx, gf = (g.numpy() for g in tape.gradient(s, [tx, tf_]))
    eps = 1e-6
    for arr, g in ((x, gx), (f, gf)):
        for idx in np.ndindex(arr.shape):
            d = np.zeros_like(arr)
            d[idx] = eps
            if arr is x:
                num = (loss(x + d, f) - loss(x - d, f)) / (2 * eps)
            else:
                num = (loss(x, f + d) - loss(x, f - d)) / (2 * eps)
            assert abs(num - g[idx]) < 1e-6, (idx, num, g[idx])


@pytest.mark.parametrize("case", [0, 2, 3, 4])
def test_dilation2d_input_gradient_has_the_host_bits(where, rng, case):
    """Non-integer gy with many ties: gx sums in the host path's order (the kernel's ordered
    gather), so it equals the loop reference bit for bit; gf to rounding (a fixed tree)."""
    xs, ks, st, rt, pad = MORPH_CASES[case]
    x, f = _morph_inputs(rng, xs, ks, np.float32)
    y_ref, _, _ = ref_dilation(x, f, st, rt, pad)
    gy = rng.standard_normal(y_ref.shape).astype(F32)
    _, gx_ref, gf_ref = ref_dilation(x, f, st, rt, pad, gy)
    tx, tf_, tg = _on(where, x, f, gy)
    with nabi.GradientTape() as tape:
        tape.watch([tx, tf_])
        y = nabi.nn.dilation2d(tx, tf_, [1, *st, 1], pad, "NHWC", [1, *rt, 1])
    gx, gf = tape.gradient(y, [tx, tf_], output_gradients=tg)
    np.testing.assert_array_equal(gx.numpy(), gx_ref)
    np.testing.assert_allclose(gf.numpy(), gf_ref, rtol=1e-5, atol=1e-5)

def test_erosion2d_values_and_gradients(where, rng):
    xs, ks, st, rt, pad = (2, 5, 4, 2), (2, 3), (1, 1), (1, 2), "SAME"
    x, f = _morph_inputs(rng, xs, ks, np.float32)
    # erosion(x, f) = -dilation(-x, f reversed spatially)
    fr = f[::-1, ::-1].copy()
    d_ref, _, _ = ref_dilation(-x, fr, st, rt, pad)
    gy = rng.integers(-3, 4, d_ref.shape).astype(F32)
    _, gxn, gfr = ref_dilation(-x, fr, st, rt, pad, -gy)
    tx, tf_, tg = _on(where, x, f, gy)
    with nabi.GradientTape() as tape:
        tape.watch([tx, tf_])
        y = nabi.nn.erosion2d(tx, tf_, [1, *st, 1], pad, "NHWC", [1, *rt, 1])
        loss = nabi.reduce_sum(y * tg)
    gx, gf = tape.gradient(loss, [tx, tf_])
    np.testing.assert_array_equal(y.numpy(), -d_ref)
    np.testing.assert_array_equal(gx.numpy(), -gxn)
    np.testing.assert_array_equal(gf.numpy(), gfr[::-1, ::-1])


def test_dilation2d_specials(where):
    """-inf inputs count as no tap (the lowest value, TF's fallback gradient); NaN wins."""
    x = np.array([-np.inf, -np.inf, 1.0, np.nan, 2.0, -np.inf], F32).reshape(1, 2, 3, 1)
    f = np.zeros((1, 2, 1), F32)
    y_ref = np.array([np.finfo(F32).min, 1.0, np.nan, 2.0], F32).reshape(1, 2, 2, 1)
    tx, tf_ = _on(where, x, f)
    with nabi.GradientTape() as tape:
        tape.watch([tx, tf_])
        y = nabi.nn.dilation2d(tx, tf_, [1, 1, 1, 1], "VALID", "NHWC", [1, 1, 1, 1])
    gx, gf = tape.gradient(y, [tx, tf_])
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(gx.numpy().ravel(), [1, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(gf.numpy().ravel(), [3, 1])


def test_dilation2d_kernel_direct(backend, rng):
    x, f = _morph_inputs(rng, (2, 4, 5, 3), (2, 2), np.float64)
    st, rt, pad = (2, 1), (1, 2), "SAME"
    oh, ow, pt, pl = ref_geometry(4, 5, 2, 2, st, rt, pad)
    gy = rng.integers(-3, 4, (2, oh, ow, 3)).astype(np.float64)
    y_ref, gx_ref, gf_ref = ref_dilation(x, f, st, rt, pad, gy)
    B = backend.DeviceBuffer.from_numpy
    y = backend.dilation2d(B(x), B(f), st, rt, (pt, pl), (oh, ow))
    np.testing.assert_array_equal(y.numpy(), y_ref)
    gx, gf = backend.dilation2d_grad(B(x), B(f), B(gy), st, rt, (pt, pl))
    np.testing.assert_array_equal(gx.numpy(), gx_ref)
    np.testing.assert_array_equal(gf.numpy(), gf_ref)


def test_dilation2d_kernel_errors(backend):
    B = backend.DeviceBuffer.from_numpy
    x, f = B(np.zeros((1, 3, 3, 2), F32)), B(np.zeros((2, 2, 2), F32))
    with pytest.raises(ValueError, match=r"\[dilation2d\].*depth"):
        backend.dilation2d(x, B(np.zeros((2, 2, 3), F32)), (1, 1), (1, 1), (0, 0), (2, 2))
    with pytest.raises(TypeError, match=r"\[dilation2d\]"):
        backend.dilation2d(x, B(np.zeros((2, 2, 2))), (1, 1), (1, 1), (0, 0), (2, 2))
    with pytest.raises(ValueError, match=r"\[dilation2d\] strides"):
        backend.dilation2d(x, f, (0, 1), (1, 1), (0, 0), (2, 2))
    with pytest.raises(ValueError, match=r"\[dilation2d_grad\].*gy"):
        backend.dilation2d_grad(x, f, B(np.zeros((1, 2, 2, 3), F32)), (1, 1), (1, 1), (0, 0))


def test_dilation2d_op_errors(where):
    x, f = _on(where, np.zeros((1, 3, 3, 2), F32), np.zeros((2, 2, 3), F32))
    with pytest.raises(ValueError, match=r"\[dilation2d\].*depth"):
        nabi.nn.dilation2d(x, f, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])
    x, f = _on(where, np.zeros((1, 2, 2, 1), F32), np.zeros((3, 3, 1), F32))
    with pytest.raises(ValueError, match=r"\[dilation2d\].*VALID"):
        nabi.nn.dilation2d(x, f, [1, 1, 1, 1], "VALID", "NHWC", [1, 1, 1, 1])


# ---------------------------------------------------------------- NMS
def _boxes(rng, n, ties=True):
    c = rng.random((n, 2)).astype(F32) * 4
    hw = (rng.random((n, 2)).astype(F32) + 0.3) * 1.5
    b = np.concatenate([c, c + hw], axis=1)
    flip = rng.random(n) < 0.3  # corners in either order
    b[flip] = b[flip][:, [2, 3, 0, 1]]
    b[n // 3] = b[n // 2]  # an identical pair (IOU 1)
    b[1, 2] = b[1, 0]  # a box without area (IOU 0)
    s = rng.integers(0, 6, n).astype(F32) / 8 if ties else rng.random(n).astype(F32)
    return b.astype(F32), s


NMS_CASES = [  # (n, max_out, iou_threshold, score_threshold)
    (40, 40, 0.3, -np.inf),
    (40, 10, 0.5, 0.2),
    (70, 100, 0.1, -np.inf),    # more than 64 boxes: two mask words
    (12, 0, 0.5, -np.inf),      # max_output_size 0
    (12, 5, 0.0, 0.25),
    (12, 5, 1.0, 10.0),         # every score below the threshold
]


@pytest.mark.parametrize("case", range(len(NMS_CASES)))
def test_non_max_suppression(where, rng, case):
    n, mo, thr, st = NMS_CASES[case]
    b, s = _boxes(rng, n)
    ref = ref_nms_boxes(b, s, mo, thr, st)
    tb, ts = _on(where, b, s)
    sel = nabi.image.non_max_suppression(tb, ts, mo, thr, st)
    assert _gpu(sel) == ("GPU" in where)
    assert sel.dtype == nabi.int32
    np.testing.assert_array_equal(sel.numpy(), ref)
    idx, sc = nabi.image.non_max_suppression_with_scores(tb, ts, mo, thr, st)
    np.testing.assert_array_equal(idx.numpy(), ref)
    np.testing.assert_array_equal(sc.numpy(), s[ref])


def test_nms_huge_max_output_size(where, rng):
    """max_output_size far above the number of boxes: the result, not a buffer that large."""
    b, s = _boxes(rng, 9)
    ref = ref_nms_boxes(b, s, 9, 0.5)
    tb, ts = _on(where, b, s)
    np.testing.assert_array_equal(
        nabi.image.non_max_suppression(tb, ts, 2 ** 31 - 1, 0.5).numpy(), ref)
    np.testing.assert_array_equal(
        nabi.image.non_max_suppression_with_scores(tb, ts, 2 ** 31 - 1, 0.5)[0].numpy(), ref)
    np.testing.assert_array_equal(
        nabi.image.non_max_suppression_padded(tb, ts, 2 ** 31 - 1, 0.5)[0].numpy(), ref)
    (to,) = _on(where, np.eye(9, dtype=F32))
    np.testing.assert_array_equal(
        nabi.image.non_max_suppression_overlaps(to, ts, 2 ** 31 - 1, 0.5).numpy(),
        ref_nms(lambda i, j: F32(i == j), s, 9, 0.5, -np.inf))

def test_nms_all_suppressed_and_float64(where):
    b = np.tile(np.array([[0, 0, 1, 1]], np.float64), (5, 1))
    s = np.array([0.1, 0.5, 0.5, 0.2, 0.3])
    tb, ts = _on(where, b, s)
    sel = nabi.image.non_max_suppression(tb, ts, 5, 0.5)
    np.testing.assert_array_equal(sel.numpy(), [1])  # equal scores: the lower index first
    idx, sc = nabi.image.non_max_suppression_with_scores(tb, ts, 5, 0.5)
    assert sc.dtype == nabi.float64
    np.testing.assert_array_equal(sc.numpy(), [0.5])


def ref_soft_nms(boxes, scores, max_out, score_thr, sigma):
    """Gaussian Soft-NMS by a plain loop (float32 scalars): the highest current score first
    (ties: lower index); weighed by exp(-0.5 iou^2 / sigma) against the boxes kept since it was
    last weighed, newest first, until <= score_thr; kept when unchanged, else re-queued."""
    scale = F32(-0.5) / F32(sigma)
    st = F32(score_thr)
    cur = {i: F32(v) for i, v in enumerate(scores) if F32(v) > st}
    since = dict.fromkeys(cur, 0)
    kept, kept_scores = [], []
    while len(kept) < max_out and cur:
        i = min(cur, key=lambda j: (-float(cur[j]), j))
        score = orig = cur.pop(i)
        for j in reversed(kept[since[i]:]):
            u = ref_iou(boxes[i], boxes[j])
            score = F32(score * F32(np.exp(F32(F32(scale * u) * u))))
            if score <= st:
                break
        if score == orig:
            kept.append(i)
            kept_scores.append(score)
        elif score > st:
            cur[i], since[i] = score, len(kept)
    return np.asarray(kept, np.int32), np.asarray(kept_scores, F32)


@pytest.mark.parametrize("mo,st,sigma", [(8, 0.1, 0.5), (15, -np.inf, 0.2), (3, 0.3, 1.0),
                                         (0, 0.0, 0.5)])
def test_nms_soft(where, rng, mo, st, sigma):
    """Soft-NMS (sigma > 0) on every device vs the loop reference: the same indices, scores to
    rounding (the exp of the device and of NumPy may differ in the last bit)."""
    b, s = _boxes(rng, 15, ties=False)
    ref_i, ref_s = ref_soft_nms(b, s, mo, st, sigma)
    tb, ts = _on(where, b, s)
    idx, sc = nabi.image.non_max_suppression_with_scores(tb, ts, mo, 0.5, st, sigma)
    assert _gpu(idx) == ("GPU" in where) and _gpu(sc) == ("GPU" in where)
    np.testing.assert_array_equal(idx.numpy(), ref_i)
    np.testing.assert_allclose(sc.numpy(), ref_s, rtol=1e-6)


def test_soft_nms_kernel_direct(backend, rng):
    bs, ss = zip(*[_boxes(rng, 40, ties=False) for _ in range(2)])
    B = backend.DeviceBuffer.from_numpy
    scale = float(F32(-0.5) / F32(0.3))
    idx, sc, cnt = backend.soft_nms(B(np.stack(bs)), B(np.stack(ss)), 12, 0.05, scale)
    for g in range(2):
        ri, rs = ref_soft_nms(bs[g], ss[g], 12, 0.05, 0.3)
        assert cnt.numpy()[g] == len(ri)
        np.testing.assert_array_equal(idx.numpy()[g, :len(ri)], ri)
        np.testing.assert_allclose(sc.numpy()[g, :len(ri)], rs, rtol=1e-6)
        assert not idx.numpy()[g, len(ri):].any() and not sc.numpy()[g, len(ri):].any()
    with pytest.raises(ValueError, match=r"\[soft_nms\] scale"):
        backend.soft_nms(B(np.stack(bs)), B(np.stack(ss)), 12, 0.05, 0.5)


def test_nms_overlaps(where, rng):
    n = 30
    o = rng.random((n, n)).astype(F32)
    s = (rng.integers(0, 5, n) / 4).astype(F32)
    for mo, thr, st in ((30, 0.6, -np.inf), (4, 0.3, 0.2), (0, 0.5, -np.inf)):
        ref = ref_nms(lambda i, j: o[i, j], s, mo, thr, st)
        to, ts = _on(where, o, s)
        sel = nabi.image.non_max_suppression_overlaps(to, ts, mo, thr, st)
        np.testing.assert_array_equal(sel.numpy(), ref)


def test_nms_padded(where, rng):
    G, n, mo = 3, 20, 6
    bs, ss = zip(*[_boxes(rng, n) for _ in range(G)])
    b, s = np.stack(bs).reshape(3, 1, n, 4), np.stack(ss).reshape(3, 1, n)
    tb, ts = _on(where, b, s)
    idx, nv = nabi.image.non_max_suppression_padded(tb, ts, mo, 0.4, 0.1,
                                                    pad_to_max_output_size=True)
    assert idx.shape == (3, 1, mo) and nv.shape == (3, 1)
    for g in range(G):
        ref = ref_nms_boxes(bs[g], ss[g], mo, 0.4, 0.1)
        want = np.zeros(mo, np.int32)
        want[:len(ref)] = ref
        np.testing.assert_array_equal(idx.numpy()[g, 0], want)
        assert nv.numpy()[g, 0] == len(ref)
    tb, ts = _on(where, bs[0], ss[0])
    idx, nv = nabi.image.non_max_suppression_padded(tb, ts, mo, 0.4, 0.1)
    np.testing.assert_array_equal(idx.numpy(), ref_nms_boxes(bs[0], ss[0], mo, 0.4, 0.1))
    assert nv.shape == () and int(nv.numpy()) == len(idx.numpy())


def ref_combined(b, s, mpc, mts, thr, st, pad_per_class, clip):
    nb, n, q, _ = b.shape
    nc = s.shape[2]
    size = min(mts, mpc * nc) if pad_per_class else mts
    ob, osc, ocl = np.zeros((nb, size, 4), F32), np.zeros((nb, size), F32), \
        np.zeros((nb, size), F32)
    valid = np.zeros(nb, np.int32)
    for k in range(nb):
        rows = []
        for c in range(nc):
            bc = b[k, :, c if q > 1 else 0]
            for i in ref_nms_boxes(bc, s[k, :, c], min(mpc, n), thr, st):
                rows.append((-float(s[k, i, c]), c, len(rows), bc[i]))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        rows = rows[:size]
        valid[k] = len(rows)
        for j, (neg, c, _, box) in enumerate(rows):
            ob[k, j] = np.clip(box, 0, 1) if clip else box
            osc[k, j], ocl[k, j] = -neg, c
    return ob, osc, ocl, valid


@pytest.mark.parametrize("q,pad_per_class,clip,mts", [(1, False, True, 9), (3, True, False, 40),
                                                       (3, False, True, 4)])
def test_combined_non_max_suppression(where, rng, q, pad_per_class, clip, mts):
    nb, n, nc = 2, 14, 3
    b = np.stack([np.stack([_boxes(rng, n)[0] / 3 for _ in range(q)], axis=1)
                  for _ in range(nb)])
    s = (rng.integers(0, 8, (nb, n, nc)) / 8).astype(F32)
    ref = ref_combined(b, s, 4, mts, 0.4, 0.1, pad_per_class, clip)
    tb, ts = _on(where, b, s)
    out = nabi.image.combined_non_max_suppression(tb, ts, 4, mts, 0.4, 0.1,
                                                  pad_per_class=pad_per_class, clip_boxes=clip)
    assert all(_gpu(o) == ("GPU" in where) for o in out)
    for o, r in zip(out, ref):
        np.testing.assert_array_equal(o.numpy(), r)


def test_combined_nms_kernel_direct(backend, rng):
    """The kernel entry vs ref_combined: shared and per-class boxes, score ties across classes,
    NaN scores (never kept), a NaN coordinate (np.clip keeps it), a total cut by the size and
    one padded with zeros, max_output_per_class above n."""
    B = backend.DeviceBuffer.from_numpy
    nb, n, nc = 3, 17, 4
    for q, mpc, mts, clip in ((1, 5, 7, True), (nc, 30, 60, False), (nc, 2, 3, True)):
        b = np.stack([np.stack([_boxes(rng, n)[0] / 3 for _ in range(q)], axis=1)
                      for _ in range(nb)])
        s = (rng.integers(0, 8, (nb, n, nc)) / 8).astype(F32)
        s[0, 3, 1] = s[2, 0, 0] = np.nan
        b[1, 2, 0, 1] = np.nan
        out = backend.combined_nms(B(b), B(s), mpc, mts, 0.4, 0.1, clip)
        ref = ref_combined(b, s, mpc, mts, 0.4, 0.1, False, clip)
        for o, r in zip(out, ref):
            got = o.numpy()
            assert got.dtype == r.dtype and got.shape == r.shape
            np.testing.assert_array_equal(got, r)
    # empty: no boxes, no classes, no batch
    for bs, ss in (((2, 0, 1, 4), (2, 0, 3)), ((2, 5, 1, 4), (2, 5, 0)), ((0, 5, 1, 4), (0, 5, 2))):
        ob, osc, ocl, valid = backend.combined_nms(B(np.zeros(bs, F32)), B(np.zeros(ss, F32)), 3,
                                                   4, 0.5, 0.0, True)
        assert ob.numpy().shape == (bs[0], 4, 4) and not ob.numpy().any()
        assert not osc.numpy().any() and not ocl.numpy().any() and not valid.numpy().any()


@pytest.mark.parametrize("case", ["boxes-3d", "scores-batch", "q", "float64", "mpc-neg",
                                  "size-neg"])
def test_combined_nms_kernel_errors(backend, case):
    B = backend.DeviceBuffer.from_numpy
    b, s = np.zeros((2, 3, 1, 4), F32), np.zeros((2, 3, 2), F32)
    args = {"boxes-3d": (np.zeros((2, 3, 4), F32), s, 2, 2),
            "scores-batch": (b, np.zeros((1, 3, 2), F32), 2, 2),
            "q": (np.zeros((2, 3, 3, 4), F32), s, 2, 2),
            "float64": (b.astype(np.float64), s, 2, 2),
            "mpc-neg": (b, s, -1, 2), "size-neg": (b, s, 2, -1)}[case]
    with pytest.raises((TypeError, ValueError), match=r"\[combined_nms\]"):
        backend.combined_nms(B(args[0]), B(args[1]), args[2], args[3], 0.5, 0.0, True)


def test_combined_nms_launches(d2h, rng):
    """One kernel entry (5 launches on the simulator: gather, sort, mask, sweep, select; it
    was 58 with the per-step array ops), nothing read back."""
    b, s = _boxes(rng, 20)
    with nabi.device("/GPU:0"):
        bb = nabi.constant(np.stack([b, b, b]).reshape(3, 20, 1, 4))
        sc = nabi.constant(np.stack([s, s * 0.5, s]).reshape(3, 20, 1).repeat(4, axis=2))
        reads, launches = d2h(lambda: nabi.image.combined_non_max_suppression(bb, sc, 3, 7))
    assert reads == 0 and 1 <= launches <= 5


def test_empty_inputs(where):
    """No boxes, an empty batch: the same empty / zero results on every device."""
    tb, ts = _on(where, np.zeros((0, 4), F32), np.zeros(0, F32))
    assert nabi.image.non_max_suppression(tb, ts, 3).numpy().shape == (0,)
    idx, nv = nabi.image.non_max_suppression_padded(tb, ts, 3, pad_to_max_output_size=True)
    np.testing.assert_array_equal(idx.numpy(), [0, 0, 0])
    assert int(nv.numpy()) == 0
    tb, ts = _on(where, np.zeros((2, 0, 1, 4), F32), np.zeros((2, 0, 3), F32))
    ob, osc, ocl, valid = nabi.image.combined_non_max_suppression(tb, ts, 2, 3)
    assert ob.numpy().shape == (2, 3, 4) and not ob.numpy().any() and not osc.numpy().any()
    np.testing.assert_array_equal(valid.numpy(), [0, 0])
    tx, tf_ = _on(where, np.zeros((0, 3, 3, 2), F32), np.ones((2, 2, 2), F32))
    with nabi.GradientTape() as tape:
        tape.watch([tx, tf_])
        y = nabi.nn.dilation2d(tx, tf_, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])
    gx, gf = tape.gradient(y, [tx, tf_])
    assert y.shape == (0, 3, 3, 2) and gx.shape == (0, 3, 3, 2)
    np.testing.assert_array_equal(gf.numpy(), np.zeros((2, 2, 2)))

def test_nms_kernel_direct(backend, rng):
    G, n = 2, 70
    bs, ss = zip(*[_boxes(rng, n) for _ in range(G)])
    B = backend.DeviceBuffer.from_numpy
    idx, cnt = backend.nms(B(np.stack(bs)), B(np.stack(ss)), 9, 0.3, 0.05)
    for g in range(G):
        ref = ref_nms_boxes(bs[g], ss[g], 9, 0.3, 0.05)
        assert cnt.numpy()[g] == len(ref)
        np.testing.assert_array_equal(idx.numpy()[g, :len(ref)], ref)
        assert not idx.numpy()[g, len(ref):].any()
    s = np.array([np.nan, 0.5, np.nan, 0.7], F32)  # NaN scores are never kept
    b = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [0, 0, 1, 1], [4, 4, 5, 5]], F32)
    idx, cnt = backend.nms(B(b[None]), B(s[None]), 4, 0.5, -np.inf)
    np.testing.assert_array_equal(idx.numpy(), [[3, 1, 0, 0]])
    assert cnt.numpy()[0] == 2


def test_nms_kernel_errors(backend):
    B = backend.DeviceBuffer.from_numpy
    with pytest.raises(ValueError, match=r"\[nms\] boxes must be 3-D"):
        backend.nms(B(np.zeros((3, 4), F32)), B(np.zeros((1, 3), F32)), 2, 0.5, 0.0)
    with pytest.raises(ValueError, match=r"\[nms\] scores"):
        backend.nms(B(np.zeros((1, 3, 4), F32)), B(np.zeros((1, 2), F32)), 2, 0.5, 0.0)
    with pytest.raises(TypeError, match=r"\[nms\]"):
        backend.nms(B(np.zeros((1, 3, 4))), B(np.zeros((1, 3), F32)), 2, 0.5, 0.0)
    with pytest.raises(ValueError, match=r"\[nms_overlaps\] overlaps must be square"):
        backend.nms_overlaps(B(np.zeros((2, 3), F32)), B(np.zeros(2, F32)), 1, 0.5, 0.0)


def test_nms_op_errors(where):
    tb, ts = _on(where, np.zeros((3, 4), F32), np.zeros(2, F32))
    with pytest.raises(ValueError, match=r"\[non_max_suppression\] scores"):
        nabi.image.non_max_suppression(tb, ts, 2)
    tb, ts = _on(where, np.zeros((3, 4), F32), np.zeros(3, F32))
    with pytest.raises(ValueError, match=r"\[non_max_suppression\] max_output_size"):
        nabi.image.non_max_suppression(tb, ts, -1)


# ---------------------------------------------------------------- read counts
# (the d2h fixture, the read-back counter, is conftest.py's)


def test_morphology_reads_nothing(d2h, rng):
    x, f = _morph_inputs(rng, (1, 4, 4, 2), (2, 2), F32)
    with nabi.device("/GPU:0"):
        tx, tf_ = nabi.constant(x), nabi.constant(f)

        def run():
            with nabi.GradientTape() as tape:
                tape.watch([tx, tf_])
                y = nabi.nn.dilation2d(tx, tf_, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])
                e = nabi.nn.erosion2d(tx, tf_, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])
            tape.gradient([y, e], [tx, tf_])
        reads, launches = d2h(run)
    assert reads == 0 and launches >= 2


def test_nms_reads_only_the_count(d2h, rng):
    b, s = _boxes(rng, 20)
    with nabi.device("/GPU:0"):
        tb, ts = nabi.constant(b), nabi.constant(s)
        reads, _ = d2h(lambda: nabi.image.non_max_suppression(tb, ts, 5, 0.5))
        assert reads == 1  # the selected count (the output's size), as TF eager
        reads, _ = d2h(lambda: nabi.image.non_max_suppression_with_scores(tb, ts, 5, 0.5))
        assert reads == 1
        reads, _ = d2h(lambda: nabi.image.non_max_suppression_with_scores(tb, ts, 5, 0.5, 0.1,
                                                                          0.5))
        assert reads == 1  # Soft-NMS: the count too
        reads, _ = d2h(lambda: nabi.image.non_max_suppression_padded(
            tb, ts, 5, 0.5, pad_to_max_output_size=True))
        assert reads == 0
        bb = nabi.constant(np.stack([b, b]).reshape(2, 20, 1, 4))
        sc = nabi.constant(np.stack([s, s]).reshape(2, 20, 1).repeat(2, axis=2))
        reads, _ = d2h(lambda: nabi.image.combined_non_max_suppression(bb, sc, 3, 5))
        assert reads == 0
        o = nabi.constant(rng.random((20, 20)).astype(F32))
        reads, _ = d2h(lambda: nabi.image.non_max_suppression_overlaps(o, ts, 5, 0.5))
        assert reads == 1


def test_reference_iou_is_tf_formula():
    """The test's reference IOU itself: a known value and the no-area rule."""
    assert math.isclose(ref_iou([0, 0, 2, 2], [1, 1, 3, 3]), 1 / 7, rel_tol=1e-6)
    assert ref_iou([0, 0, 0, 2], [0, 0, 1, 1]) == 0


# ---------------------------------------------------------------- invert_permutation
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_invert_permutation(where, rng, dtype):
    for n in (0, 1, 7, 300):
        p = rng.permutation(n).astype(dtype)
        ref = np.zeros(n, dtype)
        for i, v in enumerate(p):
            ref[v] = i
        (tp,) = _on(where, p)
        y = nabi.math.invert_permutation(tp)
        assert y.dtype == tp.dtype and _gpu(y) == ("GPU" in where)
        np.testing.assert_array_equal(y.numpy(), ref)


@pytest.mark.parametrize("bad", [[0, 0, 1], [0, 3, 1], [-1, 0, 1]])
def test_invert_permutation_errors(where, bad):
    (tp,) = _on(where, np.array(bad, np.int32))
    with pytest.raises(ValueError, match=r"\[invert_permutation\].*permutation"):
        nabi.math.invert_permutation(tp)


# ---------------------------------------------------------------- draw_bounding_boxes
BOX_COLORS = [[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0.5, 0, 0.5, 1],
              [0.5, 0.5, 0, 1], [0.5, 0, 0, 1], [0, 0, 0.5, 1], [0, 1, 1, 1], [1, 0, 1, 1]]


def ref_draw(img, boxes, colors):
    """TF's outline painter, pixel by pixel."""
    out = img.copy()
    n, h, w, depth = img.shape
    for b in range(n):
        for k in range(boxes.shape[1]):
            col = np.asarray(colors[k % len(colors)][:depth], img.dtype)
            y0, x0, y1, x1 = [float(F32(v) * F32(s - 1)) for v, s in
                              zip(boxes[b, k], (h, w, h, w))]
            r0, c0, r1, c1 = math.trunc(y0), math.trunc(x0), math.trunc(y1), math.trunc(x1)
            if r0 > r1 or c0 > c1:
                continue
            for y in range(h):
                for x in range(w):
                    edge_row = (y == r0 or y == r1) and c0 <= x <= c1
                    edge_col = (x == c0 or x == c1) and r0 <= y <= r1
                    if edge_row or edge_col:
                        out[b, y, x] = col
    return out


@pytest.mark.parametrize("depth,colors", [(3, None), (4, "table"), (1, None), (3, "empty")])
def test_draw_bounding_boxes(where, rng, depth, colors):
    img = rng.random((2, 7, 9, depth)).astype(F32)
    bx = (rng.random((2, 13, 4)) * 1.6 - 0.3).astype(F32)
    bx[0, 1] = [0.6, 0.2, 0.3, 0.9]   # inverted: skipped
    bx[1, 2] = [-0.5, -0.5, 1.5, 1.5]  # every edge outside: nothing drawn
    bx[1, 3] = [0.0, 0.0, 1.0, 1.0]    # the image border
    if colors == "table":
        table = rng.random((3, 5)).astype(F32)
    elif colors == "empty":
        table = np.zeros((0, 4), F32)
    else:
        table = None
    ref_colors = np.asarray(BOX_COLORS, F32)
    if depth == 1:
        ref_colors[:, 0] = 1.0
    if table is not None and table.size:
        ref_colors = table
    ref = ref_draw(img, bx, ref_colors)
    ti, tb = _on(where, img, bx)
    args = () if table is None else (table,)
    y = nabi.image.draw_bounding_boxes(ti, tb, *args)
    assert _gpu(y) == ("GPU" in where)
    np.testing.assert_array_equal(y.numpy(), ref)


def test_draw_boxes_kernel_direct(backend, rng):
    img = rng.random((2, 5, 6, 2))
    bx = (rng.random((2, 7, 4)) * 1.4 - 0.2).astype(F32)
    bx[0, 6] = [np.nan, 0.1, 0.5, 0.5]  # a non-finite corner: skipped by the kernel
    table = rng.random((3, 2))
    ref = ref_draw(img, np.where(np.isnan(bx), 0, bx)[:, :6].copy(), table)
    ref = np.concatenate([ref[:1], ref_draw(img[1:], bx[1:], table)])
    B = backend.DeviceBuffer.from_numpy
    out = backend.draw_boxes(B(img), B(bx), B(table)).numpy()
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match=r"\[draw_boxes\] colors"):
        backend.draw_boxes(B(img), B(bx), B(np.zeros((0, 2))))

def test_draw_bounding_boxes_errors(where):
    ti, tb = _on(where, np.zeros((1, 4, 4, 3), F32), np.zeros((2, 1, 4), F32))
    with pytest.raises(ValueError, match=r"\[draw_bounding_boxes\] boxes"):
        nabi.image.draw_bounding_boxes(ti, tb)
    (tb,) = _on(where, np.zeros((1, 1, 4), F32))
    with pytest.raises(ValueError, match=r"\[draw_bounding_boxes\] colors"):
        nabi.image.draw_bounding_boxes(ti, tb, np.zeros((2, 2), F32))


# ---------------------------------------------------------------- expm
def test_expm_values_and_gradient(where, rng):
    sl = pytest.importorskip("scipy.linalg")
    a = rng.standard_normal((3, 4, 4))
    a[1] *= 40.0          # many squarings
    a[2] *= 0.01          # none
    w = rng.standard_normal(a.shape)
    ta, tw = _on(where, a, w)
    with nabi.GradientTape() as tape:
        tape.watch(ta)
        e = nabi.linalg.expm(ta)
        s = nabi.reduce_sum(e * tw)
    g = tape.gradient(s, ta).numpy()
    ref = np.stack([sl.expm(m) for m in a])
    np.testing.assert_allclose(e.numpy(), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    eps = 1e-6
    for b in (0, 2):  # central differences of the scipy reference
        for idx in np.ndindex(4, 4):
            d = np.zeros((4, 4))
            d[idx] = eps
            num = ((sl.expm(a[b] + d) - sl.expm(a[b] - d)) * w[b]).sum() / (2 * eps)
            assert abs(num - g[b][idx]) < 1e-6 * max(1.0, abs(num)), (b, idx)


def test_expm_float32(where, rng):
    sl = pytest.importorskip("scipy.linalg")
    a = (rng.standard_normal((2, 3, 3)) * 4).astype(F32)
    (ta,) = _on(where, a)
    e = nabi.linalg.expm(ta)
    assert e.dtype == nabi.float32
    ref = np.stack([sl.expm(m.astype(np.float64)) for m in a])
    np.testing.assert_allclose(e.numpy(), ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


def test_new_gpu_paths_read_counts(d2h, rng):
    with nabi.device("/GPU:0"):
        p = nabi.constant(rng.permutation(50).astype(np.int32))
        reads, _ = d2h(lambda: nabi.math.invert_permutation(p))
        assert reads == 1  # the permutation check's flag
        img = nabi.constant(rng.random((1, 6, 6, 3)).astype(F32))
        bx = nabi.constant(rng.random((1, 4, 4)).astype(F32))
        reads, _ = d2h(lambda: nabi.image.draw_bounding_boxes(img, bx))
        assert reads == 0
        a = nabi.constant(rng.standard_normal((2, 3, 3)) * 10)

        def run():
            with nabi.GradientTape() as tape:
                tape.watch(a)
                y = nabi.reduce_sum(nabi.linalg.expm(a))
            tape.gradient(y, a)
        reads, _ = d2h(run)
        # the number of squarings (the largest s) and tf.linalg.solve's singularity check
        # (the host path's np.linalg.solve raises too); the 1-norms stay on the device
        assert reads == 2, reads
