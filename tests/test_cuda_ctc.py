"""CTC on the GPU: tf.nn.ctc_loss (and its gradient), tf.nn.ctc_greedy_decoder and
keras.ops.ctc_decode(strategy="greedy") on GPU tensors run the kernels of csrc/cuda/ctc.cu
(cuda_backend.ctc_loss / ctc_greedy) instead of copying the logits to NumPy and back.

References, independent of nabi:
  ref_brute   sums the probabilities of every alignment (C ** T paths) that collapses to the
              labels; its gradient is analytic: softmax - E[one-hot of the path | the labels].
  ref_ab      a plain-loop forward-backward in probability space with per-step scaling (the
              classic Rabiner form, not nabi's log space), for bigger cases.
  finite differences of the op itself (float64) for the gradient the kernel returns.

Kernel tests take the `backend` fixture ("cuda": the real module, the host simulator under
NABI_TEST_PACKAGE_DIR=build/sim/pkg, skipped without a GPU otherwise; "emu": the NumPy
emulator). Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the
simulator). The copy tests count device-to-host reads around the op on the simulator and the
emulator.
"""
import itertools

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- references
def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _collapse(path, blank):
    out, prev = [], None
    for k in path:
        if k != blank and k != prev:
            out.append(k)
        prev = k
    return out


def ref_brute(x, seq, blank):
    """(-log p(seq | x), d/dx) for one sequence x (T, C), by enumerating all C**T paths."""
    T, C = x.shape
    p = _softmax(x.astype(np.float64))
    total, occ = 0.0, np.zeros((T, C))
    for path in itertools.product(range(C), repeat=T):
        if _collapse(path, blank) == list(seq):
            pr = np.prod([p[t, k] for t, k in enumerate(path)])
            total += pr
            for t, k in enumerate(path):
                occ[t, k] += pr
    if total == 0.0:
        return np.inf, np.zeros((T, C))
    return -np.log(total), p - occ / total


def ref_ab(x, seq, blank):
    """(-log p, gradient) for one sequence x (T, C) by a scaled forward-backward in probability
    space (each alpha / beta row divided by its sum, the logs of the sums kept)."""
    T, C = x.shape
    if T == 0:
        return (np.inf if len(seq) else 0.0), np.zeros((0, C))
    p = _softmax(x.astype(np.float64))
    ext = [blank]
    for k in seq:
        ext += [int(k), blank]
    S = len(ext)

    def allowed(s, s2):  # may a path step from position s2 to s (s2 <= s)?
        if s == s2 or s == s2 + 1:
            return True
        return s == s2 + 2 and ext[s] != blank and ext[s] != ext[s2]
    a = np.zeros((T, S))
    cs = np.zeros(T)
    a[0, 0] = p[0, ext[0]]
    if S > 1:
        a[0, 1] = p[0, ext[1]]
    for t in range(T):
        if t:
            for s in range(S):
                a[t, s] = sum(a[t - 1, s2] for s2 in range(max(0, s - 2), s + 1)
                              if allowed(s, s2)) * p[t, ext[s]]
        cs[t] = a[t].sum()
        if cs[t] == 0:
            return np.inf, np.zeros((T, C))
        a[t] /= cs[t]
    end = a[T - 1, S - 1] + (a[T - 1, S - 2] if S > 1 else 0.0)
    if end == 0:
        return np.inf, np.zeros((T, C))
    logp = np.log(end) + np.log(cs).sum()
    b = np.zeros((T, S))
    b[T - 1, S - 1] = 1.0
    if S > 1:
        b[T - 1, S - 2] = 1.0
    ds = np.zeros(T)   # b rows scaled by the same sums as a, shifted by one step
    for t in range(T - 2, -1, -1):
        for s in range(S):
            b[t, s] = sum(b[t + 1, s2] * p[t + 1, ext[s2]] for s2 in range(s, min(S, s + 3))
                          if allowed(s2, s))
        ds[t] = cs[t + 1]
        b[t] /= ds[t]
    # gamma[t, s] = a_t(s) b_t(s) / p, both scaled: a[t] b[t] summed over s is end / end-scale
    gamma = a * b
    gamma /= gamma.sum(axis=1, keepdims=True)
    occ = np.zeros((T, C))
    for s in range(S):
        occ[:, ext[s]] += gamma[:, s]
    return -logp, p - occ


def ref_batch(x, labels, lens, tl, blank, time_major, ref=ref_ab):
    """(loss (B,), grad (x's shape)) of the batch, one sequence at a time."""
    xt = x if time_major else np.swapaxes(x, 0, 1)
    T, B, C = xt.shape
    loss, g = np.zeros(B), np.zeros((T, B, C))
    for b in range(B):
        loss[b], g[:tl[b], b] = ref(xt[:tl[b], b], list(labels[b, :lens[b]]), blank)
    return loss, (g if time_major else np.swapaxes(g, 0, 1))


def ref_greedy(x, sl, blank, merge):
    """Per sequence the kept classes of the best path and -sum of the frame maxima; x (T, B, C)."""
    out, scores = [], []
    for b in range(x.shape[1]):
        rows = x[:sl[b], b]
        keep, prev = [], None
        for r in rows:
            k = int(np.argmax(r))
            if k != blank and not (merge and k == prev):
                keep.append(k)
            prev = k
        out.append(keep)
        scores.append(-float(sum(r.max() for r in rows)))
    return out, np.array(scores)


# ---------------------------------------------------------------- the references agree
def test_references_agree():
    rng = np.random.default_rng(0)
    for seq in ([1, 2], [1, 1], [2], []):
        x = rng.standard_normal((4, 3))
        l1, g1 = ref_brute(x, seq, 0)
        l2, g2 = ref_ab(x, seq, 0)
        np.testing.assert_allclose(l2, l1, rtol=1e-12)
        np.testing.assert_allclose(g2, g1, atol=1e-12)


# ---------------------------------------------------------------- kernel level
def _case(rng, T, B, C, lmax, blank, dtype=np.float64):
    x = rng.standard_normal((T, B, C)).astype(dtype)
    choices = [c for c in range(C) if c != blank]
    lens = rng.integers(0, lmax + 1, B)
    labels = np.zeros((B, lmax), np.int32)
    for b in range(B):
        labels[b, :lens[b]] = rng.choice(choices, lens[b])
    tl = rng.integers(0, T + 1, B)
    return x, labels, lens, tl


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("time_major", [True, False])
def test_kernel_vs_brute_force(backend, dtype, time_major):
    rng = np.random.default_rng(1)
    T, C, blank = 4, 3, 2
    x, labels, lens, tl = _case(rng, T, 5, C, 2, blank, dtype)
    labels[0, :2], lens[0], tl[0] = [1, 1], 2, 4      # a repeat needs a blank between: 3 frames
    labels[1, :2], lens[1], tl[1] = [1, 1], 2, 2      # ... so 2 frames are impossible: inf
    lens[2], tl[2] = 0, 0                             # empty over no frames: 0
    xl = x if time_major else np.ascontiguousarray(np.swapaxes(x, 0, 1))
    loss, grad = backend.ctc_loss(_buf(backend, xl), _buf(backend, labels),
                                  _buf(backend, lens.astype(np.int64)),
                                  _buf(backend, tl.astype(np.int32)), blank, time_major, True)
    rl, rg = ref_batch(xl.astype(np.float64), labels, lens, tl, blank, time_major, ref_brute)
    tol = 1e-5 if dtype == np.float32 else 1e-11
    got_l, got_g = _np(backend, loss), _np(backend, grad)
    assert got_l.dtype == dtype and got_g.dtype == dtype and got_g.shape == xl.shape
    assert np.isinf(got_l[1]) and got_l[2] == 0.0
    np.testing.assert_allclose(got_l, rl, rtol=tol)
    np.testing.assert_allclose(got_g, rg, atol=tol)
    loss2, none = backend.ctc_loss(_buf(backend, xl), _buf(backend, labels),
                                   _buf(backend, lens), _buf(backend, tl), blank, time_major,
                                   False)
    assert none is None
    np.testing.assert_array_equal(_np(backend, loss2), got_l)


def test_kernel_bigger_vs_alpha_beta(backend):
    rng = np.random.default_rng(2)
    T, B, C, lmax, blank = 9, 3, 6, 4, 0
    x, labels, lens, tl = _case(rng, T, B, C, lmax, blank)
    labels[0], lens[0], tl[0] = [3, 3, 5, 3], 4, 9
    labels[1, :3], lens[1], tl[1] = [1, 2, 3], 3, 8
    loss, grad = backend.ctc_loss(_buf(backend, x), _buf(backend, labels.astype(np.int64)),
                                  _buf(backend, lens), _buf(backend, tl), blank)
    rl, rg = ref_batch(x, labels, lens, tl, blank, True)
    np.testing.assert_allclose(_np(backend, loss), rl, rtol=1e-11)
    np.testing.assert_allclose(_np(backend, grad), rg, atol=1e-11)


def test_kernel_device_values_out_of_range_give_nan(backend):
    """The kernel reads no lengths / labels back: bad ones make that sequence NaN (the op reads
    the status flags of test_gpu_read_backs_2 to raise its error)."""
    x = np.zeros((3, 4, 3))
    labels = np.array([[1, 0], [2, 1], [1, 1], [1, 2]], np.int32)  # row 0 uses the blank 0
    lens = np.array([2, 3, 1, 1], np.int32)                         # row 1: more than lmax
    tl = np.array([3, 3, 4, 3], np.int32)                           # row 2: more than T
    loss, grad = backend.ctc_loss(_buf(backend, x), _buf(backend, labels), _buf(backend, lens),
                                  _buf(backend, tl), 0)
    got, g = _np(backend, loss), _np(backend, grad)
    assert np.isnan(got[:3]).all() and np.isfinite(got[3])
    assert np.isnan(g[:, :3]).all() and np.isfinite(g[:, 3]).all()


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((2, 3), np.float32)), r"logits must be 3-D \(time, batch, classes\), got "
                                           r"shape \(2, 3\)"),
    (dict(x=np.zeros((2, 3, 4), np.int32)), r"logits must be float32 or float64"),
    (dict(labels=np.zeros((2, 2), np.int32)), r"labels \(2, 2\) must have the batch 3 of the "
                                              r"logits \(2, 3, 4\)"),
    (dict(labels=np.zeros((3,), np.int32)), r"labels must be 2-D, got shape \(3,\)"),
    (dict(labels=np.zeros((3, 2), np.float32)), r"labels must be int32 or int64"),
    (dict(ll=np.zeros((4,), np.int32)), r"label_length \(4,\) must have the batch 3"),
    (dict(tl=np.zeros((3, 1), np.int32)), r"logit_length must be 1-D"),
    (dict(blank=4), r"blank 4 is out of range for 4 classes \(logits \(2, 3, 4\)\)"),
    (dict(blank=-1), r"blank -1 is out of range"),
])
def test_kernel_checks_before_launch(backend, bad, match):
    a = dict(x=np.zeros((2, 3, 4), np.float32), labels=np.zeros((3, 2), np.int32),
             ll=np.zeros(3, np.int32), tl=np.zeros(3, np.int32), blank=0)
    a.update(bad)
    with pytest.raises((ValueError, TypeError), match=r"\[ctc_loss\] " + match):
        backend.ctc_loss(_buf(backend, a["x"]), _buf(backend, a["labels"]),
                         _buf(backend, a["ll"]), _buf(backend, a["tl"]), a["blank"])


@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("time_major", [True, False])
def test_kernel_greedy(backend, merge, time_major):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (7, 4, 3)).astype(np.float32)   # ties: the first maximum wins
    sl = np.array([7, 3, 0, 9], np.int64)                  # 9 > T: clamped
    xl = x if time_major else np.ascontiguousarray(np.swapaxes(x, 0, 1))
    dec, cnt, score = backend.ctc_greedy(_buf(backend, xl), _buf(backend, sl), 1, merge,
                                         time_major)
    ref, rs = ref_greedy(x, np.minimum(sl, 7), 1, merge)
    dec, cnt = _np(backend, dec), _np(backend, cnt)
    assert dec.shape == (4, 7) and dec.dtype == np.int64
    for b in range(4):
        assert cnt[b] == len(ref[b])
        assert dec[b].tolist() == ref[b] + [-1] * (7 - len(ref[b]))
    np.testing.assert_allclose(_np(backend, score), rs, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[ctc_greedy\] x \(2, 3, 0\) needs at least one "
                                         r"class"):
        backend.ctc_greedy(_buf(backend, np.zeros((2, 3, 0), np.float32)),
                           _buf(backend, np.zeros(3, np.int32)), 0)


def test_kernel_pack(backend):
    dec = np.array([[4, 2, -1, -1], [-1, -1, -1, -1], [1, 1, 3, -1]], np.int64)
    offs = np.array([0, 2, 2, 5], np.int64)
    v = backend.ctc_pack(_buf(backend, dec), _buf(backend, offs), 5)
    assert _np(backend, v).tolist() == [4, 2, 1, 1, 3]
    with pytest.raises(ValueError, match=r"\[ctc_pack\] offsets must be int64 of shape \(4,\)"):
        backend.ctc_pack(_buf(backend, dec), _buf(backend, offs[:3]), 5)
    with pytest.raises(ValueError, match=r"\[ctc_pack\] total 13 must be in \[0, 12\]"):
        backend.ctc_pack(_buf(backend, dec), _buf(backend, offs), 13)


# ---------------------------------------------------------------- op level
def _loss_and_grad(where, x, labels, lens, tl, **kw):
    with nabi.device(where):
        xt = nabi.constant(x)
        w = nabi.constant(np.arange(1, x.shape[1 if kw.get("logits_time_major", True) else 0]
                                    + 1, dtype=x.dtype))
        with nabi.GradientTape() as tape:
            tape.watch(xt)
            loss = nabi.nn.ctc_loss(labels, xt, lens, tl, **kw)
            total = nabi.reduce_sum(loss * w)
        g = tape.gradient(total, xt)
        on_gpu = type(loss._data).__name__ == "DeviceArray"
        assert on_gpu == (where != "/CPU:0")
        return np.asarray(loss), np.asarray(g), np.asarray(w)


@pytest.mark.parametrize("time_major", [True, False])
@pytest.mark.parametrize("blank_index", [None, 0, -1, 2])
def test_ctc_loss_op(where, time_major, blank_index):
    rng = np.random.default_rng(4)
    T, B, C = 6, 4, 5
    blank = {None: 0, -1: C - 1}.get(blank_index, blank_index)
    x, labels, lens, tl = _case(rng, T, B, C, 3, blank)
    others = [c for c in range(C) if c != blank]
    labels[0], lens[0], tl[0] = [others[1]] * 3, 3, 6  # repeats: 5 frames at least
    labels[1], lens[1], tl[1] = [others[0]] * 3, 3, 4  # impossible: inf, zero gradient
    xl = x if time_major else np.ascontiguousarray(np.swapaxes(x, 0, 1))
    loss, g, w = _loss_and_grad(where, xl, labels, lens, tl, logits_time_major=time_major,
                                blank_index=blank_index)
    rl, rg = ref_batch(xl, labels, lens, tl, blank, time_major)
    assert np.isinf(loss[1])
    np.testing.assert_allclose(loss, rl, rtol=1e-11)
    wshape = (1, B, 1) if time_major else (B, 1, 1)
    np.testing.assert_allclose(g, rg * w.reshape(wshape), atol=1e-10)


def test_ctc_loss_float32_and_device_lengths(where):
    """float32 logits; labels and lengths as tensors of the device (int64 labels, int32
    lengths)."""
    rng = np.random.default_rng(5)
    x, labels, lens, tl = _case(rng, 5, 3, 4, 2, 0, np.float32)
    with nabi.device(where):
        lab_t, ll_t = nabi.constant(labels.astype(np.int64)), nabi.constant(lens.astype(np.int32))
        tl_t = nabi.constant(tl.astype(np.int32))
    loss, g, w = _loss_and_grad(where, x, lab_t, ll_t, tl_t)
    rl, rg = ref_batch(x.astype(np.float64), labels, lens, tl, 0, True)
    assert loss.dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(loss, rl, rtol=2e-6)
    np.testing.assert_allclose(g, rg * w.reshape(1, -1, 1), atol=2e-6)


def test_ctc_loss_sparse_labels(where):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 3, 4))
    st = nabi.sparse.SparseTensor([[0, 0], [0, 1], [2, 0]], nabi.constant([1, 3, 2], "int64"),
                                  [3, 2])
    loss, g, w = _loss_and_grad(where, x, st, None, [5, 4, 3])
    labels = np.array([[1, 3], [0, 0], [2, 0]])
    rl, rg = ref_batch(x, labels, [2, 0, 1], [5, 4, 3], 0, True)
    np.testing.assert_allclose(loss, rl, rtol=1e-11)
    np.testing.assert_allclose(g, rg * w.reshape(1, -1, 1), atol=1e-10)


def _central_diff(f, x0, h):
    """Central finite differences of the scalar f at x0, one element at a time."""
    fd = np.zeros_like(x0)
    for i in np.ndindex(*x0.shape):
        e = np.zeros_like(x0)
        e[i] = h
        fd[i] = (f(x0 + e) - f(x0 - e)) / (2 * h)
    return fd


def _penalty_grad(x, loss_of, weight=1.0):
    """d/dx of sum(weight * (d loss_of(x) / dx)^2) through nested tapes; returns
    (that gradient, the loss)."""
    with nabi.GradientTape() as outer:
        outer.watch(x)
        with nabi.GradientTape() as inner:
            inner.watch(x)
            loss = loss_of(x)
            total = nabi.reduce_sum(loss)
        g = inner.gradient(total, x)
        pen = nabi.reduce_sum(g * g * weight)
    return outer.gradient(pen, x), loss


def test_ctc_loss_gradient_vs_finite_differences(where):
    rng = np.random.default_rng(7)
    x, labels, lens, tl = _case(rng, 5, 2, 4, 2, 0)
    lens[:], tl[:] = 2, [5, 4]
    labels[:] = [[1, 2], [3, 3]]
    _, g, w = _loss_and_grad(where, x, labels, lens, tl)

    def f(z):
        with nabi.device(where):
            return float(np.asarray(nabi.nn.ctc_loss(labels, nabi.constant(z), lens, tl)) @ w)
    np.testing.assert_allclose(g, _central_diff(f, x, 1e-6), atol=1e-7)


def test_ctc_loss_second_order(where):
    """The gradient of a penalty on the gradient (nested tapes) vs finite differences of the
    same penalty on the reference's analytic gradient."""
    rng = np.random.default_rng(13)
    x0 = rng.standard_normal((3, 2, 3))
    labels, lens, tl = np.array([[1, 2], [2, 0]]), [2, 1], [3, 2]

    def pen_np(z):
        return (ref_batch(z, labels, lens, tl, 0, True)[1] ** 2).sum()
    with nabi.device(where):
        got, _ = _penalty_grad(nabi.constant(x0),
                               lambda x: nabi.nn.ctc_loss(labels, x, lens, tl))
    np.testing.assert_allclose(np.asarray(got), _central_diff(pen_np, x0, 1e-5), atol=1e-7)


@pytest.mark.parametrize("time_major, blank_index", [(True, None), (False, 2)])
def test_ctc_loss_second_order_device_lengths(where, time_major, blank_index):
    """Second order with labels and lengths held on the device (the Tensor rule keeps them
    there): empty labels, logit_length 0, an impossible alignment, repeats, the blank inside
    the classes; a weighted penalty on the gradient vs finite differences of the same penalty
    on the reference's gradient."""
    rng = np.random.default_rng(17)
    T, B, C = 5, 5, 4
    blank = 0 if blank_index is None else blank_index
    others = [c for c in range(C) if c != blank]
    x0 = rng.standard_normal((T, B, C))
    labels = np.zeros((B, 3), np.int64)
    lens, tl = np.array([3, 0, 2, 1, 3]), np.array([5, 3, 4, 0, 2])
    labels[0] = [others[0], others[0], others[2]]       # a repeat: needs a blank between
    labels[2, :2] = [others[1], others[2]]
    labels[3, 0] = others[1]
    labels[4] = [others[0], others[0], others[1]]       # impossible in 2 frames
    if not time_major:
        x0 = np.ascontiguousarray(np.swapaxes(x0, 0, 1))
    w = rng.standard_normal(x0.shape)
    with nabi.device(where):
        x = nabi.constant(x0)
        lab_t, ll_t, tl_t = (nabi.constant(v) for v in (labels, lens.astype(np.int32), tl))
        got, loss = _penalty_grad(x, lambda x: nabi.nn.ctc_loss(
            lab_t, x, ll_t, tl_t, logits_time_major=time_major,
            blank_index=blank_index) * np.arange(1.0, 6.0), w)   # (+inf: the 5th)
        assert type(got._data).__name__ == ("ndarray" if where == "/CPU:0" else "DeviceArray")
    assert np.isinf(np.asarray(loss)[4])
    sh = (1, B, 1) if time_major else (B, 1, 1)

    def pen_scaled(z):   # (the loss weights 1..5)
        gz = ref_batch(z, labels, lens, tl, blank, time_major)[1]
        return ((gz * np.arange(1.0, 6.0).reshape(sh)) ** 2 * w).sum()
    fd = _central_diff(pen_scaled, x0, 1e-5)
    np.testing.assert_allclose(np.asarray(got), fd, atol=1e-7)
    assert np.abs(fd).max() > 1e-3


def test_ctc_loss_second_order_without_labels(where):
    """labels of shape (B, 0): only the blank path; the penalty's gradient vs finite
    differences on the reference."""
    x0 = np.random.default_rng(18).standard_normal((3, 2, 3))
    labels, lens, tl = np.zeros((2, 0), np.int64), [0, 0], [3, 2]
    with nabi.device(where):
        got, _ = _penalty_grad(nabi.constant(x0), lambda x: nabi.nn.ctc_loss(
            nabi.constant(labels), x, lens, tl))

    def pen_np(z):
        return (ref_batch(z, labels, lens, tl, 0, True)[1] ** 2).sum()
    np.testing.assert_allclose(np.asarray(got), _central_diff(pen_np, x0, 1e-5), atol=1e-7)


@pytest.mark.parametrize("kw, match", [
    (dict(lens=[3, 1]), r"label_length must be in \[0, 2\], got \[3, 1\]"),
    (dict(tl=[4, 2]), r"logit_length must be in \[0, 3\], got \[4, 2\]"),
    (dict(tl=[3]), r"batch sizes differ: labels \(2, 2\), label_length \(2,\), logit_length "
                   r"\(1,\), logits \(3, 2, 3\)"),
    (dict(labels=[[1, 0], [2, 0]], lens=[2, 1]), r"labels\[0\] = \[1, 0\] must lie in \[0, 3\) "
                                                 r"and not use the blank 0"),
    (dict(blank_index=3), r"blank_index 3 is out of range for 3 classes"),
    (dict(lens=None), r"label_length is required with dense labels"),
])
def test_ctc_loss_errors(where, kw, match):
    a = dict(labels=[[1, 2], [2, 0]], lens=[2, 1], tl=[3, 2], blank_index=None)
    a.update(kw)
    with nabi.device(where):
        x = nabi.constant(np.zeros((3, 2, 3), np.float32))
        with pytest.raises(ValueError, match=r"\[ctc_loss\] " + match):
            nabi.nn.ctc_loss(np.array(a["labels"], np.int32), x, a["lens"], a["tl"],
                             blank_index=a["blank_index"])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # (CPU path)
def test_ctc_loss_float_labels_and_nan_logits(where):
    """Float labels are refused on every device (the CPU's message); a NaN logit makes its
    sequence's loss +inf with a zero gradient (the CPU path's rule), the others unaffected."""
    x = np.random.default_rng(14).standard_normal((4, 2, 3))
    x[1, 0, 2] = np.nan
    with nabi.device(where):
        with pytest.raises(ValueError, match=r"\[ctc_loss\] labels must be a 2-D integer tensor"):
            nabi.nn.ctc_loss(nabi.constant([[1.0], [2.0]]), nabi.constant(x), [1, 1], [4, 4])
    loss, g, _ = _loss_and_grad(where, x, np.array([[1], [2]]), [1, 1], [4, 4])
    rl, rg = ref_batch(x, np.array([[1], [2]]), [1, 1], [4, 4], 0, True)
    assert np.isinf(loss[0]) and (g[:, 0] == 0).all()
    np.testing.assert_allclose(loss[1], rl[1], rtol=1e-11)
    np.testing.assert_allclose(g[:, 1], 2 * rg[:, 1], atol=1e-10)


def test_keras_ctc_loss(where):
    """keras.ops.ctc_loss: batch-major logits, the blank (mask_index) 0."""
    rng = np.random.default_rng(8)
    B, T, C = 2, 5, 4
    y_pred = _softmax(rng.standard_normal((B, T, C))).astype(np.float32)
    labels = np.array([[1, 2], [2, 0]], np.int32)
    with nabi.device(where):
        got = np.asarray(nabi.keras.ops.ctc_loss(nabi.constant(labels),
                                                 nabi.constant(np.log(y_pred)),
                                                 nabi.constant([2, 1]), nabi.constant([5, 4])))
    rl, _ = ref_batch(np.log(y_pred.astype(np.float64)), labels, [2, 1], [5, 4], 0, False)
    np.testing.assert_allclose(got, rl, rtol=2e-6)


@pytest.mark.parametrize("merge", [True, False])
def test_ctc_greedy_decoder_op(where, merge):
    rng = np.random.default_rng(9)
    x = rng.integers(0, 4, (6, 3, 4)).astype(np.float32)
    sl = np.array([6, 2, 0])
    with nabi.device(where):
        (st,), neg = nabi.nn.ctc_greedy_decoder(nabi.constant(x), nabi.constant(sl),
                                                merge_repeated=merge)
        ind, vals, shape = st.indices.numpy(), np.asarray(st.values), st.dense_shape.numpy()
        neg = np.asarray(neg)
    ref, rs = ref_greedy(x, sl, 3, merge)
    assert shape.tolist() == [3, max(len(r) for r in ref)]
    assert ind.tolist() == [[b, j] for b in range(3) for j in range(len(ref[b]))]
    assert vals.tolist() == [k for r in ref for k in r] and vals.dtype == np.int64
    np.testing.assert_allclose(neg.reshape(-1), rs, rtol=1e-6)


def test_keras_ctc_decode_greedy(where):
    rng = np.random.default_rng(10)
    x = rng.integers(0, 4, (3, 6, 4)).astype(np.float32)
    with nabi.device(where):
        dec, scores = nabi.keras.ops.ctc_decode(nabi.constant(x), nabi.constant([6, 3, 0]),
                                                mask_index=0)
        dec, scores = np.asarray(dec), np.asarray(scores)
    ref, rs = ref_greedy(np.swapaxes(x, 0, 1), [6, 3, 0], 0, True)
    assert dec.shape == (1, 3, 6) and dec.dtype == np.int32
    for b in range(3):
        assert dec[0, b].tolist() == ref[b] + [-1] * (6 - len(ref[b]))
    np.testing.assert_allclose(scores.reshape(-1), rs, rtol=1e-6)


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's: f -> (reads, launches))


def test_ctc_loss_and_gradient_stay_on_the_gpu(d2h):
    rng = np.random.default_rng(11)
    x0, labels, lens, tl = _case(rng, 5, 3, 4, 2, 0, np.float32)
    x = nabi.constant(x0)
    lab, ll, tlt = nabi.constant(labels), nabi.constant(lens), nabi.constant(tl)

    def step():
        with nabi.GradientTape() as tape:
            tape.watch(x)
            loss = nabi.reduce_mean(nabi.nn.ctc_loss(lab, x, ll, tlt))
        g = tape.gradient(loss, x)
        assert type(g._data).__name__ == "DeviceArray"
    # one read: the kernel's flags for a bad length / label on the device (their maximum,
    # one int, so that a bad value raises the CPU path's error instead of giving NaN)
    assert d2h(step)[0] == 1
    # host-side lengths are checked on the host and uploaded: still no read-back
    assert d2h(lambda: nabi.nn.ctc_loss(labels, x, lens, tl))[0] == 0


def test_ctc_loss_second_order_reads_only_the_flag(d2h):
    """The gradient of a penalty on the gradient, lengths and labels on the device: the
    forward's flag read only (the second-order rule used to copy labels, lengths and losses
    to the host); host lengths: none."""
    rng = np.random.default_rng(14)
    x0, labels, lens, tl = _case(rng, 4, 3, 4, 2, 0)
    x = nabi.constant(x0)

    def second(lab, ll, tlt):
        def run():
            got, _ = _penalty_grad(x, lambda x: nabi.nn.ctc_loss(lab, x, ll, tlt))
            assert type(got._data).__name__ == "DeviceArray"
        return run
    assert d2h(second(nabi.constant(labels), nabi.constant(lens), nabi.constant(tl)))[0] == 1
    assert d2h(second(labels, lens, tl))[0] == 0


def test_greedy_decoders_read_back_at_most_the_counts(d2h):
    x0 = np.random.default_rng(12).standard_normal((5, 2, 4)).astype(np.float32)
    x, xb = nabi.constant(x0), nabi.constant(np.swapaxes(x0, 0, 1))
    assert d2h(lambda: nabi.keras.ops.ctc_decode(xb, nabi.constant([5, 3])))[0] == 0
    assert d2h(lambda: nabi.nn.ctc_greedy_decoder(x, nabi.constant([5, 3])))[0] == 1
