"""More small device-to-host reads that ops no longer make on GPU tensors (after
test_gpu_read_backs.py).

- tf.gather(batch_dims > 0) and keras.ops.take_along_axis with GPU indices stay on the GPU:
  one read (the indices' min and max together; none for a known range, device.known_range),
  then one flat gather of checked ids whose gradient reads nothing.
- tf.debugging.assert_equal / assert_greater / ... decide on the device and read one bool;
  only a failing check reads the values for its message.
- tf.nn.ctc_loss with lengths / labels on the GPU: the kernel flags a bad length or label and
  the op reads that one int, raising the CPU path's error (not a NaN loss).
- tf.image.stateless_random_crop / _flip_*: the seed's draws are host arithmetic (no read).
- Segment ops keep GPU ids on the GPU for int32 / int64 data (sums, max, min), and the
  second-order gradients of segment max / min / prod on GPU ids are device work (no read).

Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the CUDA host
simulator) and compare with independent NumPy references, forward and gradient. Reads are
counted by conftest's reads_on on the emulator (DeviceArray.get) and on the simulator
(device-to-host copies); not on the CPU or a real GPU.
"""
import numpy as np
import pytest

import nabi
from nabi.framework import device as dev
from nabi.framework.tensor import _wrap

from conftest import check_reads, reads_on


def _ids(a, where, known):
    """An integer array on the device: with known=True as a Keras step uploads it (its range
    known on the host), else as a user's constant."""
    if known and where != "/CPU:0":
        return _wrap(dev.to_gpu_all(np.asarray(a), True))
    return nabi.constant(np.asarray(a))


def _np(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _weights(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- gather(batch_dims) / take_along_axis
def ref_gather_batched(p, ind, axis, b):
    """np.take per batch element over the b leading dims (an independent loop)."""
    bshape = p.shape[:b]
    out = None
    for bi in np.ndindex(*bshape):
        r = np.take(p[bi], ind[bi], axis=axis - b)
        if out is None:
            out = np.zeros(bshape + r.shape, p.dtype)
        out[bi] = r
    return out


@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("axis, b", [(1, 1), (2, 1), (2, 2)])
def test_gather_batch_dims_reads_and_gradient(where, monkeypatch, known, axis, b):
    count = reads_on(where, monkeypatch)
    p = _weights((2, 3, 4), 20 + axis + b)
    n = p.shape[axis]
    ishape = p.shape[:b] + (3,)
    ind = np.random.default_rng(axis * 7 + b).integers(0, n, ishape).astype(np.int32)
    want = ref_gather_batched(p, ind, axis, b)
    w = _weights(want.shape, 5)
    with nabi.device(where):
        x = nabi.Variable(p)
        it = _ids(ind, where, known)
        wt = nabi.constant(w)

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.gather(x, it, axis=axis, batch_dims=b)
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    check_reads(r1, 0 if known else 1)   # unknown: min and max in one read
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), want)
    # the gradient: w scattered back by the same indices (NumPy loop)
    gw = np.zeros_like(p)
    for bi in np.ndindex(*p.shape[:b]):
        gm = np.moveaxis(gw[bi], axis - b, 0)
        wm = np.moveaxis(w[bi], tuple(range(axis - b, axis - b + 1)), (0,))
        np.add.at(gm, ind[bi], wm)
    np.testing.assert_allclose(_np(g), gw, rtol=1e-12)


def test_gather_batch_dims_second_order(where, monkeypatch):
    """d/dv <gather(v, ids)^T-gradient, u>: the gradient of the gradient reads nothing."""
    count = reads_on(where, monkeypatch)
    p = _weights((2, 5), 30)
    ind = np.array([[4, 0, 4], [1, 1, 3]], np.int64)
    with nabi.device(where):
        x = nabi.Variable(p)
        it = nabi.constant(ind)

        def run():
            with nabi.GradientTape() as t2:
                with nabi.GradientTape() as t1:
                    y = nabi.gather(x, it, axis=1, batch_dims=1)
                    loss = nabi.reduce_sum(y * y * y)
                g = t1.gradient(loss, x)
                s = nabi.reduce_sum(g * g)
            return t2.gradient(s, x)
        _, h = count(run)
    # loss = sum_k x[b, i_k]^3 -> g[b, j] = 3 c_bj x_bj^2 (c: how often j is picked);
    # s = sum g^2 -> ds/dx = 2 g * 6 c x = 36 c^2 x^3
    c = np.zeros_like(p)
    for bi in range(2):
        np.add.at(c[bi], ind[bi], 1)
    np.testing.assert_allclose(_np(h), 36 * c ** 2 * p ** 3, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_keras_take_along_axis_reads_and_gradient(where, monkeypatch, axis):
    count = reads_on(where, monkeypatch)
    p = _weights((3, 4), 40)
    if axis is None:
        ind = np.array([11, -1, 0, 5, 5], np.int64)
        want = p.reshape(-1)[np.where(ind < 0, ind + 12, ind)]
    else:
        shape = (2, 4) if axis == 0 else (3, 2)
        ind = np.random.default_rng(3).integers(-p.shape[axis], p.shape[axis], shape)
        want = np.take_along_axis(p, np.where(ind < 0, ind + p.shape[axis], ind), axis)
    w = _weights(want.shape, 41)
    with nabi.device(where):
        x = nabi.Variable(p)
        it = nabi.constant(ind)
        wt = nabi.constant(w)

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.keras.ops.take_along_axis(x, it, axis=axis)
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    check_reads(r1, 1)   # the user's indices: one range read
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), want)
    # gradient by central differences of the linear map (exact up to rounding)
    gw = np.zeros(p.size)
    for k in range(p.size):
        e = np.zeros(p.size)
        e[k] = 1.0
        pe = e.reshape(p.shape)
        if axis is None:
            col = pe.reshape(-1)[np.where(ind < 0, ind + 12, ind)]
        else:
            col = np.take_along_axis(pe, np.where(ind < 0, ind + p.shape[axis], ind), axis)
        gw[k] = (col * w).sum()
    np.testing.assert_allclose(_np(g), gw.reshape(p.shape), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("known", [True, False])
def test_gather_batch_dims_bad_index_error(where, known):
    p = np.zeros((2, 4), np.float32)
    ind = np.array([[1, 4], [0, 2]], np.int64)
    with nabi.device(where):
        x, it = nabi.constant(p), _ids(ind, where, known)
        with pytest.raises(IndexError, match=r"\[gather\] indices must be in \[0, 4\) for "
                                             r"params of shape \(2, 4\) on axis 1, got range "
                                             r"\[0, 4\]"):
            nabi.gather(x, it, axis=1, batch_dims=1)


# ---------------------------------------------------------------- tf.debugging asserts
_ASSERTS = [("assert_equal", np.equal, "=="), ("assert_none_equal", np.not_equal, "!="),
            ("assert_greater", np.greater, ">"), ("assert_greater_equal", np.greater_equal, ">="),
            ("assert_less", np.less, "<"), ("assert_less_equal", np.less_equal, "<=")]
_X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)


@pytest.mark.parametrize("op, fn, sym", _ASSERTS)
def test_debugging_compare_reads_one_bool(where, monkeypatch, op, fn, sym):
    count = reads_on(where, monkeypatch)
    # y chosen per op so that the check holds (broadcast row), then one that fails at [1, 2]
    good = {"==": _X, "!=": _X + 0.5, ">": _X[0] - 1, ">=": _X[0], "<": _X + 1,
            "<=": _X}[sym]
    bad = good.copy() if good.ndim == 2 else np.broadcast_to(good, _X.shape).copy()
    bad[1, 2] = {"==": 7.0, "!=": 6.0, ">": 6.0, ">=": 7.0, "<": 6.0, "<=": 5.0}[sym]
    assert np.all(fn(_X, good)) and not fn(_X, bad)[1, 2] and fn(_X, bad).sum() == 5
    with nabi.device(where):
        x, yg, yb = nabi.constant(_X), nabi.constant(good), nabi.constant(bad)
        r, out = count(lambda: getattr(nabi.debugging, op)(x, yg))
        assert out is None
        check_reads(r, 1)   # the outcome: one bool
        with pytest.raises(nabi.errors.InvalidArgumentError,
                           match=rf"\[{op}\] condition x {sym} y did not hold for x \(2, 3\) and "
                                 rf"y \(2, 3\): 1 element\(s\) fail, first at \[1, 2\]: "
                                 rf"x = np.float32\(6.0\), y = np.float32\({bad[1, 2]}\)"):
            getattr(nabi.debugging, op)(x, yb)


@pytest.mark.parametrize("op, ok_x, bad_first", [
    ("assert_positive", _X, None), ("assert_negative", -_X, None),
    ("assert_non_negative", _X - 1, None), ("assert_non_positive", 1 - _X, None)])
def test_debugging_sign_asserts(where, monkeypatch, op, ok_x, bad_first):
    count = reads_on(where, monkeypatch)
    bad = -ok_x
    bad[0, 0] = ok_x[0, 0]   # one element stays good: 5 fail (or 6 with a zero flipped)
    with nabi.device(where):
        r, _ = count(lambda: getattr(nabi.debugging, op)(nabi.constant(ok_x)))
        check_reads(r, 1)
        with pytest.raises(nabi.errors.InvalidArgumentError, match=rf"\[{op}\] condition"):
            getattr(nabi.debugging, op)(nabi.constant(bad))


def test_debugging_near_numerics_assert(where, monkeypatch):
    count = reads_on(where, monkeypatch)
    with nabi.device(where):
        x = nabi.constant(_X)
        r, _ = count(lambda: nabi.debugging.assert_near(x, _X * (1 + 1e-7)))
        check_reads(r, 1)
        with pytest.raises(nabi.errors.InvalidArgumentError, match=r"\[assert_near\] condition "
                                                                   r"x ~= y did not hold"):
            nabi.debugging.assert_near(x, _X + 1e-3)
        r, out = count(lambda: nabi.debugging.check_numerics(x, "fine"))
        check_reads(r, 1)
        assert out is x
        with pytest.raises(nabi.errors.InvalidArgumentError,
                           match=r"inf here : \[check_numerics\] tensor of shape \(2, 3\) had "
                                 r"Inf values"):
            with np.errstate(divide="ignore"):
                inf = x / nabi.constant(np.float32(0))
            nabi.debugging.check_numerics(inf, "inf here")
        r, _ = count(lambda: nabi.debugging.Assert(x > 0, ["never shown", x]))
        check_reads(r, 1)
        with pytest.raises(nabi.errors.InvalidArgumentError, match=r"\[Assert\] assertion "
                                                                   r"failed: shown"):
            nabi.debugging.Assert(x > 3, ["shown"])
        r, _ = count(lambda: nabi.debugging.assert_integer(nabi.constant(np.arange(3))))
        check_reads(r, 0)


def test_debugging_shape_errors_on_every_device(where):
    with nabi.device(where):
        with pytest.raises(nabi.errors.InvalidArgumentError,
                           match=r"\[assert_equal\] shapes \(2, 3\) and \(2,\) are not "
                                 r"broadcastable"):
            nabi.debugging.assert_equal(nabi.constant(_X), nabi.constant(np.ones(2, np.float32)))
        # mixed integer widths and a Python list compare as on the host
        nabi.debugging.assert_equal(nabi.constant(np.arange(3, dtype=np.int32)),
                                    nabi.constant(np.arange(3, dtype=np.int64)))
        nabi.debugging.assert_less(nabi.constant(_X), [10.0, 10.0, 10.0])


# ---------------------------------------------------------------- ctc_loss with GPU lengths
def _ctc_ref(x, labels, lens, tl, blank=0):
    """Losses by brute force over all alignments (tiny T, C): -log sum over the paths that
    collapse (merge repeats, drop blanks) to the label sequence, of prod softmax."""
    import itertools
    T, B, C = x.shape
    lp = x - x.max(2, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(2, keepdims=True))
    out = np.zeros(B)
    for b in range(B):
        want = list(labels[b, :lens[b]])
        tot = 0.0
        for path in itertools.product(range(C), repeat=int(tl[b])):
            col = [k for i, k in enumerate(path) if (i == 0 or k != path[i - 1]) and k != blank]
            if col == want:
                tot += np.exp(sum(lp[t, b, k] for t, k in enumerate(path)))
        out[b] = -np.log(tot) if tot > 0 else np.inf
    return out


@pytest.mark.parametrize("on_device", ["labels", "lens", "tl", "all", "none"])
def test_ctc_loss_device_lengths_read_once(where, monkeypatch, on_device):
    count = reads_on(where, monkeypatch)
    x = _weights((4, 2, 3), 50)
    labels, lens, tl = np.array([[1, 2], [2, 0]], np.int32), np.array([2, 1]), np.array([4, 3])
    with nabi.device(where):
        xt = nabi.Variable(x)
        lab = nabi.constant(labels) if on_device in ("labels", "all") else labels
        ll = nabi.constant(lens) if on_device in ("lens", "all") else lens
        tt = nabi.constant(tl) if on_device in ("tl", "all") else tl

        def fwd():
            with nabi.GradientTape() as tape:
                loss = nabi.nn.ctc_loss(lab, xt, ll, tt)
                s = nabi.reduce_sum(loss)
            return loss, tape, s
        r1, (loss, tape, s) = count(fwd)
        r2, g = count(lambda: tape.gradient(s, xt))
    check_reads(r1, 0 if on_device == "none" else 1)   # the kernel's flags: one int
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(loss), _ctc_ref(x, labels, lens, tl), rtol=1e-10)
    # gradient vs central differences of the brute-force reference
    h, fd = 1e-6, np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = h
        fd[i] = (_ctc_ref(x + e, labels, lens, tl).sum() -
                 _ctc_ref(x - e, labels, lens, tl).sum()) / (2 * h)
    np.testing.assert_allclose(_np(g), fd, atol=1e-7)


@pytest.mark.parametrize("kw, match", [
    (dict(lens=[3, 1]), r"label_length must be in \[0, 2\], got \[3, 1\]"),
    (dict(lens=[2, -1]), r"label_length must be in \[0, 2\], got \[2, -1\]"),
    (dict(tl=[4, 2]), r"logit_length must be in \[0, 3\], got \[4, 2\]"),
    (dict(labels=[[1, 0], [2, 0]], lens=[2, 1]), r"labels\[0\] = \[1, 0\] must lie in \[0, 3\) "
                                                 r"and not use the blank 0"),
    (dict(labels=[[1, 2], [3, 0]]), r"labels\[1\] = \[3\] must lie in \[0, 3\) and not use "
                                    r"the blank 0"),
    (dict(labels=[[1, 2], [-1, 0]]), r"labels\[1\] = \[-1\] must lie in \[0, 3\)"),
])
@pytest.mark.parametrize("on_device", ["labels", "lens", "tl", "all"])
def test_ctc_loss_device_values_clear_errors(where, kw, match, on_device):
    """Out-of-range lengths / labels held on the device raise the CPU path's error (not a NaN
    loss), whichever of them are on the device."""
    a = dict(labels=[[1, 2], [2, 0]], lens=[2, 1], tl=[3, 2])
    a.update(kw)
    with nabi.device(where):
        x = nabi.constant(np.zeros((3, 2, 3), np.float32))
        lab = np.array(a["labels"], np.int32)
        ll, tt = np.array(a["lens"]), np.array(a["tl"])
        lab = nabi.constant(lab) if on_device in ("labels", "all") else lab
        ll = nabi.constant(ll) if on_device in ("lens", "all") else ll
        tt = nabi.constant(tt) if on_device in ("tl", "all") else tt
        with pytest.raises(ValueError, match=r"\[ctc_loss\] " + match):
            nabi.nn.ctc_loss(lab, x, ll, tt)


def test_ctc_kernel_status(backend):
    """The kernel's status flags: 0 good, 1 a length out of range, 2 a bad label or the
    blank; those sequences' loss is NaN, the others' unchanged."""
    x = _weights((3, 4, 3), 60)
    lab = np.array([[1, 2], [1, 0], [0, 1], [1, 5]], np.int32)
    ll = np.array([2, 3, 1, 2], np.int64)
    tl = np.array([3, 3, 3, -1], np.int32)

    def up(v):
        return backend.DeviceBuffer.from_numpy(np.array(v, order="C"))

    def down(b):
        return b.numpy() if hasattr(b, "numpy") else backend.to_numpy(b)
    res = backend.ctc_loss(up(x), up(lab), up(ll), up(tl), 0, True, True, True)
    assert len(res) == 3
    loss, st = down(res[0]), down(res[2])
    assert st.dtype == np.int32
    np.testing.assert_array_equal(st, [0, 1, 2, 1])
    assert np.isnan(loss[1:]).all()
    np.testing.assert_allclose(loss[0], _ctc_ref(x[:, :1], lab[:1], [2], [3])[0], rtol=1e-10)
    assert len(backend.ctc_loss(up(x), up(lab), up(ll), up(tl), 0)) == 2   # status=False


# ---------------------------------------------------------------- stateless image draws
@pytest.mark.parametrize("op", ["stateless_random_flip_left_right",
                                "stateless_random_flip_up_down", "stateless_random_crop"])
@pytest.mark.parametrize("batch", [False, True])
def test_stateless_image_draws_read_nothing(where, monkeypatch, op, batch):
    """The seed is a host value and the Philox draws are host arithmetic (TF keeps stateless
    seeds in host memory): no upload-and-read of the draws. The result is one of the op's
    possible outcomes (NumPy), the same on every device for the same seed."""
    count = reads_on(where, monkeypatch)
    img = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    a = img if batch else img[0]
    h, w = a.shape[-3], a.shape[-2]
    outs = []
    for seed in [(1, 2), (3, 4), (7, 0), (11, 5)]:
        with nabi.device(where):
            x = nabi.constant(a)
            if op == "stateless_random_crop":
                size = list(a.shape[:-3]) + [2, 3, 3]
                r, out = count(lambda: nabi.image.stateless_random_crop(x, size, seed))
            else:
                r, out = count(lambda: getattr(nabi.image, op)(x, seed))
        check_reads(r, 0)
        got = _np(out)
        ax = -2 if op.endswith("left_right") else -3
        if op == "stateless_random_crop":
            wins = [a[..., i:i + 2, j:j + 3, :] for i in range(h - 1) for j in range(w - 2)]
            assert any(np.array_equal(got, v) for v in wins)
        else:
            imgs = a if batch else a[None]
            g = got if batch else got[None]
            for k in range(len(imgs)):
                assert (np.array_equal(g[k], imgs[k]) or
                        np.array_equal(g[k], np.flip(imgs[k], ax)))
        outs.append(got)
    with nabi.device("/CPU:0"):   # the same draws on the host
        for seed, got in zip([(1, 2), (3, 4), (7, 0), (11, 5)], outs):
            if op == "stateless_random_crop":
                want = nabi.image.stateless_random_crop(
                    nabi.constant(a), list(a.shape[:-3]) + [2, 3, 3], seed)
            else:
                want = getattr(nabi.image, op)(nabi.constant(a), seed)
            np.testing.assert_array_equal(got, _np(want))


# ---------------------------------------------------------------- segment ops: GPU ids
UNSORTED = np.array([3, -1, 0, 3, 1, 0], np.int64)   # segment 2 empty, row 1 dropped
SORTED = np.array([0, 0, 2, 2, 2, 4], np.int64)      # segments 1 and 3 empty


def _seg_data(seed):
    # ties inside segments 0 and 3 (rows 2, 5 and 0, 3 share column 0): the shares split
    d = np.random.default_rng(seed).permutation(12).reshape(6, 2) + 1.0
    d[5, 0] = d[2, 0]
    d[3, 0] = d[0, 0]
    return d


def ref_tie_shares(d, ids, num, kind):
    """share[i] = 1 / (number of rows of i's segment at its max / min) where row i is one."""
    f = np.max if kind == "max" else np.min
    sh = np.zeros_like(d)
    for s in range(num):
        rows = np.flatnonzero(ids == s)
        if rows.size:
            best = f(d[rows], axis=0)
            sel = d[rows] == best
            sh[rows] = sel / sel.sum(0)
    return sh


def _second_order(where, count, op, d, w0, ids, v, num):
    """For segment op (data d, weights w0 per segment, GPU ids uploaded with their range):
    g = d/dx sum(w * op(x)), then d/dw and d/dx of sum(v * g). Returns (reads during the
    forward and first gradient, reads during the second-order gradients, g, dw, dx)."""
    unsorted = op.startswith("unsorted")
    with nabi.device(where):
        x, w = nabi.Variable(d), nabi.Variable(w0)
        it = _ids(ids, where, True)
        vt = nabi.constant(v)

        def fwd():
            with nabi.GradientTape(persistent=True) as t2:
                with nabi.GradientTape() as t1:
                    f = getattr(nabi.math, op)
                    out = f(x, it, num) if unsorted else f(x, it)
                    loss = nabi.reduce_sum(out * w)
                g = t1.gradient(loss, x)
                pen = nabi.reduce_sum(g * vt)
            return g, t2, pen
        r1, (g, t2, pen) = count(fwd)
        r2, (dw, dx) = count(lambda: (t2.gradient(pen, w), t2.gradient(pen, x)))
    return r1, r2, g, dw, dx


@pytest.mark.parametrize("op, kind, ids", [
    ("unsorted_segment_max", "max", UNSORTED), ("unsorted_segment_min", "min", UNSORTED),
    ("segment_min", "min", SORTED), ("segment_max", "max", SORTED)])
def test_segment_minmax_second_order_on_gpu_ids(where, monkeypatch, op, kind, ids):
    """The gradient of a penalty on the first-order gradient: linear in the upstream weights
    (d/dw), zero (not None) w.r.t. the data; nothing read back after the forward's checks."""
    count = reads_on(where, monkeypatch)
    d = _seg_data(70)
    num = 5
    w0, v = _weights((num, 2), 71), _weights((6, 2), 72)
    w0[[1, 2, 3]] = 0   # (the empty segments: 0 or the finite identity, no gradient)
    unsorted = op.startswith("unsorted")
    r1, r2, g, dw, dx = _second_order(where, count, op, d, w0, ids, v, num)
    check_reads(r1, 0 if unsorted else 1)   # sorted: the size (last id + 1), as TF
    check_reads(r2, 0)
    sh = ref_tie_shares(d, ids, num, kind)
    keep = ids >= 0
    gw = np.zeros_like(d)
    gw[keep] = w0[ids[keep]] * sh[keep]
    np.testing.assert_allclose(_np(g), gw, rtol=1e-12)
    want_dw = np.zeros_like(w0)
    np.add.at(want_dw, ids[keep], (v * sh)[keep])
    np.testing.assert_allclose(_np(dw), want_dw, rtol=1e-12)
    assert dx is not None
    np.testing.assert_array_equal(_np(dx), np.zeros_like(d))


def ref_int_segment(d, ids, num, kind, empty):
    out = np.full((num,) + d.shape[1:], empty, d.dtype)
    for s in range(num):
        rows = d[ids == s]
        if rows.size:
            out[s] = {"sum": lambda r: r.sum(0, dtype=d.dtype), "max": lambda r: r.max(0),
                      "min": lambda r: r.min(0)}[kind](rows)
    return out


_INT_OPS = [("unsorted_segment_sum", "sum", False), ("unsorted_segment_max", "max", False),
            ("unsorted_segment_min", "min", False), ("segment_sum", "sum", True),
            ("segment_max", "max", True), ("segment_min", "min", True)]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("op, kind, is_sorted", _INT_OPS)
def test_int_segment_ops_keep_gpu_ids(where, monkeypatch, op, kind, is_sorted, known, dtype):
    """Integer data with GPU ids: sums by the bincount kernel's integer weight sums (wrapping
    as the dtype), max / min by the segment kernel; the ids are not copied to the host."""
    count = reads_on(where, monkeypatch)
    rng = np.random.default_rng(80)
    d = rng.integers(-50, 50, (6, 2, 3)).astype(dtype)
    d[0, 0, 0] = np.iinfo(dtype).max    # + a positive row of segment 3 / 0: wraps around
    ids = SORTED if is_sorted else UNSORTED
    num = 5
    with nabi.device(where):
        x, it = nabi.constant(d), _ids(ids, where, known)
        f = getattr(nabi.math, op)
        r, out = count(lambda: f(x, it) if is_sorted else f(x, it, num))
    # sorted: one read (the size); unsorted: none for a known range, else min and max
    check_reads(r, 1 if is_sorted or not known else 0)
    info = np.iinfo(dtype)
    empty = 0 if is_sorted or kind == "sum" else (info.min if kind == "max" else info.max)
    with np.errstate(over="ignore"):
        want = ref_int_segment(d, ids, num, kind, empty)
    got = _np(out)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["unsorted_segment_sum", "segment_sum"])
def test_int_segment_sum_2d_ids_and_bad_ids(where, op):
    """2-D unsorted ids over int data on the GPU (rows of id -1 dropped); a bad id raises the
    same error on every device."""
    d = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    with nabi.device(where):
        if op == "unsorted_segment_sum":
            ids = np.array([[1, -1, 0], [1, 2, 0]])
            out = nabi.math.unsorted_segment_sum(nabi.constant(d), nabi.constant(ids), 3)
            want = np.zeros((3, 4), np.int32)
            for i in np.ndindex(2, 3):
                if ids[i] >= 0:
                    want[ids[i]] += d[i]
            np.testing.assert_array_equal(_np(out), want)
            with pytest.raises(ValueError, match=r"\[unsorted_segment_sum\] segment id 3 is out "
                                                 r"of range \[0, 3\)"):
                nabi.math.unsorted_segment_sum(nabi.constant(d), nabi.constant(ids + 1), 3)
        else:
            with pytest.raises(ValueError, match=r"\[segment_sum\] segment_ids must be sorted "
                                                 r"ascending"):
                nabi.math.segment_sum(nabi.constant(d[0]), nabi.constant(np.array([0, 2, 1])))


@pytest.mark.parametrize("op, ids", [("unsorted_segment_prod", UNSORTED),
                                     ("segment_prod", SORTED),
                                     ("unsorted_segment_prod",
                                      np.array([2, 0, 2, -1, 0, 2, 0, 2], np.int64))])
def test_segment_prod_second_order_on_gpu_ids(where, monkeypatch, op, ids):
    """Second order of segment_prod with GPU ids: d/dx and d/dw of sum(v * d/dx sum(w *
    prod)) vs explicit NumPy products of the other rows (zeros included: one zero in a
    segment, two in another); nothing read back after the forward's checks."""
    count = reads_on(where, monkeypatch)
    n = ids.size
    d = np.random.default_rng(90).uniform(0.5, 1.5, (n, 2)) * np.where(
        np.arange(2 * n).reshape(n, 2) % 3 == 0, -1.0, 1.0)
    d[0, 1] = 0.0                      # one zero in row 0's segment, column 1
    zs = np.flatnonzero(ids == ids[2])
    d[zs[:2], 0] = 0.0                 # two zeros in row 2's segment, column 0
    num = int(ids.max()) + 1
    w0, v = _weights((num, 2), 91), _weights((n, 2), 92)
    unsorted = op.startswith("unsorted")
    r1, r2, g, dw, dx = _second_order(where, count, op, d, w0, ids, v, num)
    check_reads(r1, 0 if unsorted else 1)
    check_reads(r2, 0)
    others = np.zeros_like(d)                 # prod of the segment's other rows
    dx_ref = np.zeros_like(d)
    for i in range(n):
        if ids[i] < 0:
            continue
        seg = [k for k in np.flatnonzero(ids == ids[i]) if k != i]
        others[i] = np.prod(d[seg], axis=0)
        for j in seg:                         # d others_i / d x_j
            rest = [k for k in seg if k != j]
            dx_ref[j] += v[i] * w0[ids[i]] * np.prod(d[rest], axis=0)
    keep = ids >= 0
    gw = np.zeros_like(d)
    gw[keep] = w0[ids[keep]] * others[keep]
    np.testing.assert_allclose(_np(g), gw, rtol=1e-12, atol=1e-15)
    want_dw = np.zeros_like(w0)
    np.add.at(want_dw, ids[keep], (v * others)[keep])
    np.testing.assert_allclose(_np(dw), want_dw, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_np(dx), dx_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op, is_sorted", [("segment_prod", True), ("unsorted_segment_prod", False),
                                           ("segment_mean", True)])
def test_int_segment_prod_mean_keep_gpu_ids(where, monkeypatch, op, is_sorted, dtype):
    """Integer prod (the segment_prod kernel, wrapping as the dtype) and sorted integer mean
    (rounded toward zero, as TF's integer kernel) with GPU ids: the ids are not copied back."""
    count = reads_on(where, monkeypatch)
    d = np.random.default_rng(85).integers(-9, 10, (6, 3)).astype(dtype)
    d[2, 0], d[4, 0] = -7, 1            # segment 2 of SORTED: -7 + x + 1 ...
    ids = SORTED if is_sorted else UNSORTED
    num = 5
    with nabi.device(where):
        x, it = nabi.constant(d), nabi.constant(ids)
        f = getattr(nabi.math, op)
        r, out = count(lambda: f(x, it) if is_sorted else f(x, it, num))
    check_reads(r, 1)   # sorted: the size with the checks; unsorted: min and max
    want = np.zeros((num, 3), dtype) if op == "segment_mean" else np.ones((num, 3), dtype)
    for s in range(num):
        rows = d[ids == s].astype(np.int64)
        if rows.size and op == "segment_mean":
            tot = rows.sum(0)
            want[s] = np.trunc(tot / len(rows)).astype(dtype)
        elif rows.size:
            want[s] = np.prod(rows, axis=0).astype(dtype)
    got = _np(out)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
