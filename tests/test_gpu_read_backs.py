"""Small device-to-host reads that Keras-reachable ops no longer make on GPU tensors.

Each op below reads nothing back from the GPU when its indices are in range by construction
(computed by nabi itself: top_k's sort order, in_top_k's clipped targets, gather_nd's flat
rows, extract_patches' patch rows, tf.repeat's index list) or were uploaded with a known
value range (device.known_range: a Keras step's batch); ids from a user's GPU tensor are
checked with at most one small read, and bad ids raise the same clear error on every device.
Where the output's size depends on the ids (sorted segment ids: the number of segments is the
last id + 1, as in TF; tf.repeat with GPU repeats) one read of that size is allowed, and the
tests say so. Nadam keeps its running momentum product on the device.

Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the CUDA host
simulator) and compare with independent NumPy references, forward and gradient. Reads are
counted by conftest's reads_on on the emulator (DeviceArray.get) and on the simulator
(device-to-host copies); not on the CPU or a real GPU.
"""
import os

import numpy as np
import pytest

import nabi
from nabi.framework import device as dev
from nabi.framework.tensor import _wrap

from conftest import check_reads, reads_on


def _upload(a, where):
    """An integer array as a Keras step uploads it (its range known on the host)."""
    if where == "/CPU:0":
        return nabi.constant(np.asarray(a))
    return _wrap(dev.to_gpu_all(np.asarray(a), True))


def _ids(a, where, known):
    return _upload(a, where) if known else nabi.constant(np.asarray(a))


def _np(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _weights(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- top_k / in_top_k
def test_top_k_reads_nothing(where, monkeypatch):
    count = reads_on(where, monkeypatch)
    a = np.array([[3.0, 1.0, 4.0, 1.5, 5.0], [9.0, 2.0, 6.0, 5.0, 3.0]], np.float32)
    w = _weights((2, 3), 0)
    with nabi.device(where):
        x = nabi.Variable(a)
        wt = nabi.constant(w.astype(np.float32))

        def fwd():
            with nabi.GradientTape() as tape:
                v, i = nabi.math.top_k(x, 3)
                loss = nabi.reduce_sum(v * wt)
            return v, i, tape, loss
        r1, (v, i, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    check_reads(r1, 0)   # the sort's own indices: no check, no read
    check_reads(r2, 0)
    order = np.argsort(-a, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(_np(i), order)
    np.testing.assert_allclose(_np(v), np.take_along_axis(a, order, 1))
    want = np.zeros_like(a, np.float64)
    for r in range(2):
        want[r, order[r]] = w[r]
    np.testing.assert_allclose(_np(g), want, rtol=1e-6)


@pytest.mark.parametrize("known", [True, False])
def test_in_top_k_reads_nothing(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    p = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1]],
                 np.float32)
    t = np.array([2, 0, 0, 5], np.int32)   # 5: out of range -> False, as TF
    with nabi.device(where):
        pt, tt = nabi.constant(p), _ids(t, where, known)
        r, out = count(lambda: nabi.math.in_top_k(tt, pt, 2))
    check_reads(r, 0)   # clipped targets: in range by construction
    want = [0 <= t[i] < 3 and (p[i] > p[i, t[i]]).sum() < 2 for i in range(4)]
    np.testing.assert_array_equal(_np(out), want)


# ---------------------------------------------------------------- gather_nd
def ref_gather_nd(p, ind):
    return np.array([p[tuple(i)] for i in ind.reshape(-1, ind.shape[-1])]).reshape(
        ind.shape[:-1] + p.shape[ind.shape[-1]:])


@pytest.mark.parametrize("known", [True, False])
def test_gather_nd_reads_and_gradient(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    p = _weights((4, 5, 2), 1).astype(np.float32)
    # (a known range is one bound for every coordinate: below the smallest indexed axis, 4)
    ind = np.array([[3, 1], [0, 0], [3, 1], [1, 2]], np.int64)
    w = _weights((4, 2), 2)
    with nabi.device(where):
        x = nabi.Variable(p)
        it = _ids(ind, where, known)
        wt = nabi.constant(w.astype(np.float32))

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.gather_nd(x, it)
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    check_reads(r1, 0 if known else 1)   # unknown: one bool (every axis checked at once)
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), ref_gather_nd(p, ind))
    want = np.zeros(p.shape)
    for k, (i, j) in enumerate(ind):
        want[i, j] += w[k]
    np.testing.assert_allclose(_np(g), want, rtol=1e-6)


@pytest.mark.parametrize("known", [True, False])
def test_gather_nd_batch_dims_and_host_indices(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    p = _weights((2, 3, 4), 3).astype(np.float32)
    ind = np.array([[[2], [0]], [[1], [1]]], np.int32)
    with nabi.device(where):
        x = nabi.constant(p)
        it = _ids(ind, where, known)
        r1, out = count(lambda: nabi.gather_nd(x, it, batch_dims=1))
        r2, out2 = count(lambda: nabi.gather_nd(x, ind[1]))   # host indices: read nothing
    check_reads(r1, 0 if known else 1)
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), np.stack([ref_gather_nd(p[b], ind[b]) for b in range(2)]))
    np.testing.assert_allclose(_np(out2), ref_gather_nd(p, ind[1]))


@pytest.mark.parametrize("known", [True, False])
def test_gather_nd_bad_index_error(where, known):
    p = np.zeros((4, 5), np.float32)
    ind = np.array([[1, 2], [0, 7]], np.int64)   # 7 >= 5 (a flat check would alias row 1)
    with nabi.device(where):
        x, it = nabi.constant(p), _ids(ind, where, known)
        with pytest.raises(IndexError, match=r"\[gather_nd\] an index is out of range: "
                                             r"indices\[1\] = \[0, 7\]"):
            nabi.gather_nd(x, it)


# ---------------------------------------------------------------- extract_patches
def ref_patches(img, k, s):
    n, h, w, c = img.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((n, oh, ow, k * k * c))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = img[:, i * s:i * s + k, j * s:j * s + k, :].reshape(n, -1)
    return out


def test_extract_patches_reads_nothing(where, monkeypatch):
    count = reads_on(where, monkeypatch)
    img = _weights((2, 5, 6, 2), 4).astype(np.float32)
    w = _weights((2, 2, 3, 8), 5)
    with nabi.device(where):
        x = nabi.Variable(img)
        wt = nabi.constant(w.astype(np.float32))

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.image.extract_patches(x, [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1],
                                                 "VALID")
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    check_reads(r1, 0)
    check_reads(r2, 0)
    np.testing.assert_allclose(_np(out), ref_patches(img, 2, 2), rtol=1e-6)
    want = np.zeros(img.shape)
    for i in range(2):
        for j in range(3):
            want[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :] += w[:, i, j].reshape(2, 2, 2, 2)
    np.testing.assert_allclose(_np(g), want, rtol=1e-6)


# ---------------------------------------------------------------- sparse softmax CE
def ref_sparse_xent(labels, logits):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    loss = -logp[np.arange(len(labels)), labels]
    grad = np.exp(logp)
    grad[np.arange(len(labels)), labels] -= 1
    return loss, grad


@pytest.mark.parametrize("known", [True, False])
def test_sparse_softmax_xent_reads(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    logits = _weights((4, 3), 6)
    labels = np.array([2, 0, 1, 2], np.int32)
    with nabi.device(where):
        x = nabi.Variable(logits.astype(np.float32))
        lt = _ids(labels, where, known)

        def fwd():
            with nabi.GradientTape() as tape:
                loss = nabi.nn.sparse_softmax_cross_entropy_with_logits(lt, x)
                s = nabi.reduce_sum(loss)
            return loss, tape, s
        r1, (loss, tape, s) = count(fwd)
        r2, g = count(lambda: tape.gradient(s, x))
    # unknown: the kernel checks the labels, one 4-byte flag read (the emulator's kernel runs
    # on host copies, so it counts none)
    check_reads(r1, 0 if known else (0 if os.environ.get("NABI_EMULATE_CUDA") == "1" else 1))
    check_reads(r2, 0)
    rl, rg = ref_sparse_xent(labels, logits)
    np.testing.assert_allclose(_np(loss), rl, rtol=1e-5)
    np.testing.assert_allclose(_np(g), rg, rtol=1e-5, atol=1e-6)


def test_sparse_softmax_xent_bad_label(where):
    with nabi.device(where):
        x = nabi.constant(np.zeros((2, 3), np.float32))
        with pytest.raises(ValueError, match="sparse_softmax"):
            nabi.nn.sparse_softmax_cross_entropy_with_logits(nabi.constant([1, 3]), x)


# ---------------------------------------------------------------- repeat
@pytest.mark.parametrize("kind", ["int", "host", "gpu"])
def test_repeat_reads(where, monkeypatch, kind):
    count = reads_on(where, monkeypatch)
    a = _weights((3, 2), 7).astype(np.float32)
    reps = {"int": 2, "host": [1, 0, 3], "gpu": [1, 0, 3]}[kind]
    with nabi.device(where):
        x = nabi.Variable(a)
        rt = nabi.constant(np.array(reps, np.int32)) if kind == "gpu" else reps

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.repeat(x, rt, axis=0)
                loss = nabi.reduce_sum(out * out)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    # GPU repeats: one read of them (the output's size depends on them; TF reads them too)
    check_reads(r1, 1 if kind == "gpu" else 0)
    check_reads(r2, 0)
    want = np.repeat(a, reps, axis=0)
    np.testing.assert_allclose(_np(out), want)
    np.testing.assert_allclose(_np(g), 2 * a * np.broadcast_to(
        np.array(reps).reshape(-1, 1) if kind != "int" else 2, (3, 1)), rtol=1e-6)


# ---------------------------------------------------------------- segment ops
def ref_segment(data, ids, num, kind, empty):
    out = np.full((num,) + data.shape[1:], np.nan)
    for s in range(num):
        rows = data[ids == s]
        if len(rows):
            out[s] = {"max": rows.max(0), "min": rows.min(0), "prod": rows.prod(0),
                      "mean": rows.mean(0), "sqrt_n": rows.sum(0) / np.sqrt(len(rows)),
                      "sum": rows.sum(0)}[kind]
        else:
            out[s] = empty
    return out


def ref_segment_grad(data, ids, num, kind, w):
    """d sum(w * segment_kind(data)) / d data, by central differences (float64)."""
    g = np.zeros_like(data)
    e = 1e-6
    for i in np.ndindex(data.shape):
        d1, d2 = data.copy(), data.copy()
        d1[i] += e
        d2[i] -= e
        f1 = np.nansum(w * ref_segment(d1, ids, num, kind, 0.0))
        f2 = np.nansum(w * ref_segment(d2, ids, num, kind, 0.0))
        g[i] = (f1 - f2) / (2 * e)
    return g


SORTED = np.array([0, 0, 2, 2, 2, 4], np.int32)       # segments 1 and 3 empty
UNSORTED = np.array([3, -1, 0, 3, 1, 0], np.int64)   # segment 2 empty, row 1 dropped
_SORTED_OPS = {"mean": "segment_mean", "max": "segment_max", "min": "segment_min",
               "prod": "segment_prod"}
_UNSORTED_OPS = {"max": "unsorted_segment_max", "min": "unsorted_segment_min",
                 "prod": "unsorted_segment_prod", "mean": "unsorted_segment_mean",
                 "sqrt_n": "unsorted_segment_sqrt_n", "sum": "unsorted_segment_sum"}


def _data(seed):
    # distinct values, none zero: max / min have no ties, prod's gradient is prod / x
    d = np.random.default_rng(seed).permutation(12).reshape(6, 2) + 1.0
    return d * np.where(np.arange(12).reshape(6, 2) % 3 == 0, -0.5, 0.25)


@pytest.mark.parametrize("kind", sorted(_SORTED_OPS))
def test_sorted_segment_ops_on_gpu_ids(where, monkeypatch, kind):
    count = reads_on(where, monkeypatch)
    d = _data(8)
    num = 5
    w = _weights((num, 2), 9)
    with nabi.device(where):
        x = nabi.Variable(d)
        ids = nabi.constant(SORTED)
        wt = nabi.constant(w)

        def fwd():
            with nabi.GradientTape() as tape:
                out = getattr(nabi.math, _SORTED_OPS[kind])(x, ids)
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    # one read: the number of segments is the last id + 1 (data-dependent, as TF), read with
    # the first id and the order check
    check_reads(r1, 1)
    check_reads(r2, 0)
    empty = 1.0 if kind == "prod" else 0.0
    np.testing.assert_allclose(_np(out), ref_segment(d, SORTED, num, kind, empty), rtol=1e-12)
    np.testing.assert_allclose(_np(g), ref_segment_grad(d, SORTED, num, kind, w), rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("kind", sorted(_UNSORTED_OPS))
def test_unsorted_segment_ops_on_gpu_ids(where, monkeypatch, kind, known):
    count = reads_on(where, monkeypatch)
    d = _data(10)
    num = 4
    w = _weights((num, 2), 11)
    with nabi.device(where):
        x = nabi.Variable(d)
        ids = _ids(UNSORTED, where, known)
        wt = nabi.constant(w)

        def fwd():
            with nabi.GradientTape() as tape:
                out = getattr(nabi.math, _UNSORTED_OPS[kind])(x, ids, num)
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, g = count(lambda: tape.gradient(loss, x))
    check_reads(r1, 0 if known else 1)   # unknown: min and max in one read
    check_reads(r2, 0)
    fi = np.finfo(np.float64)
    empty = {"max": fi.min, "min": fi.max, "prod": 1.0}.get(kind, 0.0)
    np.testing.assert_allclose(_np(out), ref_segment(d, UNSORTED, num, kind, empty),
                               rtol=1e-12)
    wz = w.copy()
    wz[2] = 0   # the empty segment's finite identity has no gradient
    np.testing.assert_allclose(_np(g), ref_segment_grad(d, UNSORTED, num, kind, wz),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("op", sorted(_UNSORTED_OPS.values()))
def test_unsorted_segment_bad_id_error(where, op, known):
    with nabi.device(where):
        x = nabi.constant(np.ones((3, 2)))
        ids = _ids(np.array([0, 4, 1], np.int64), where, known)
        with pytest.raises(ValueError, match=rf"\[{op}\] segment id 4 is out of range \[0, 3\)"):
            getattr(nabi.math, op)(x, ids, 3)


@pytest.mark.parametrize("op", sorted(_SORTED_OPS.values()) + ["segment_sum"])
@pytest.mark.parametrize("ids, msg", [([0, 2, 1], "must be sorted ascending"),
                                      ([-1, 0, 0], "must be non-negative")])
def test_sorted_segment_bad_ids_error(where, op, ids, msg):
    with nabi.device(where):
        x = nabi.constant(np.ones((3, 2)))
        with pytest.raises(ValueError, match=rf"\[{op}\] segment.*{msg}"):
            getattr(nabi.math, op)(x, nabi.constant(np.array(ids, np.int64)))


# ---------------------------------------------------------------- tensor_scatter_nd_update
@pytest.mark.parametrize("known", [True, False])
def test_tensor_scatter_nd_update_on_gpu_indices(where, monkeypatch, known):
    count = reads_on(where, monkeypatch)
    t = _weights((4, 3, 2), 12)
    # [2, 1] twice: the last wins (a known range is one bound below every axis: 3)
    ind = np.array([[2, 1], [0, 0], [2, 1], [1, 2]], np.int64)
    u = _weights((4, 2), 13)
    w = _weights((4, 3, 2), 14)
    with nabi.device(where):
        tt, ut = nabi.Variable(t), nabi.Variable(u)
        it = _ids(ind, where, known)
        wt = nabi.constant(w)

        def fwd():
            with nabi.GradientTape() as tape:
                out = nabi.tensor_scatter_nd_update(tt, it, ut)
                loss = nabi.reduce_sum(out * wt)
            return out, tape, loss
        r1, (out, tape, loss) = count(fwd)
        r2, (gt, gu) = count(lambda: tape.gradient(loss, [tt, ut]))
    check_reads(r1, 0 if known else 1)   # unknown: one bool (every axis checked at once)
    check_reads(r2, 0)
    want = t.copy()
    for k, (i, j) in enumerate(ind):
        want[i, j] = u[k]
    np.testing.assert_allclose(_np(out), want)
    gtw = w.copy()
    gtw[ind[:, 0], ind[:, 1]] = 0
    guw = np.array([w[i, j] for i, j in ind])
    guw[0] = 0   # overwritten by the later duplicate
    np.testing.assert_allclose(_np(gt), gtw)
    np.testing.assert_allclose(_np(gu), guw)


@pytest.mark.parametrize("known", [True, False])
def test_tensor_scatter_nd_update_bad_index_error(where, known):
    with nabi.device(where):
        t = nabi.constant(np.zeros((4, 3)))
        it = _ids(np.array([[1, 2], [0, 3]], np.int64), where, known)
        with pytest.raises(IndexError, match=r"\[tensor_scatter_nd_update\] indices\[1\] = "
                                             r"\[0, 3\] does not index into shape \[4, 3\]"):
            nabi.tensor_scatter_nd_update(t, it, nabi.constant(np.ones(2)))


# ---------------------------------------------------------------- Nadam
def ref_nadam_steps(p, grads, lr, b1, b2, eps, u_dtype):
    """Keras 3's Nadam in float64, the momentum product stored in u_dtype after each step (as
    the optimizer's variable holds it); (params, u_product)."""
    p = p.astype(np.float64)
    m, v, u = np.zeros_like(p), np.zeros_like(p), 1.0
    for t, g in enumerate(grads, 1):
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        up = u * u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - up * u_t1) + (1 - u_t) * g / (1 - up)
        p = p - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
        u = float(np.asarray(up, u_dtype))
    return p, u


@pytest.mark.parametrize("u_dtype", [np.float32, np.float64])
def test_nadam_kernel_device_product_same_numbers(backend, u_dtype):
    """The kernel's device-product variant gives the float variant's numbers bit for bit."""
    rng = np.random.default_rng(15)
    shapes, dts = [(3, 5), (7,), (2, 2, 3)], [np.float32, np.float64, np.float32]
    p = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
    up = [backend.DeviceBuffer.from_numpy(a) for a in p]
    state = [[backend.DeviceBuffer.from_numpy(np.zeros_like(a)) for a in p] for _ in "ab"]
    fp = [backend.DeviceBuffer.from_numpy(a) for a in p]
    fstate = [[backend.DeviceBuffer.from_numpy(np.zeros_like(a)) for a in p] for _ in "ab"]
    u_dev = backend.DeviceBuffer.from_numpy(np.ones((), u_dtype))
    u = 1.0
    for t in range(1, 6):
        g = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
        gd = [backend.DeviceBuffer.from_numpy(a) for a in g]
        assert backend.nadam_update(up, gd, state[0], state[1], 0.01, 0.9, 0.999, 1e-7, t,
                                    u_dev) is None
        u = float(np.asarray(backend.nadam_update(fp, gd, fstate[0], fstate[1], 0.01, 0.9,
                                                  0.999, 1e-7, t, u), u_dtype))
        assert u_dev.numpy().item() == u
    for a, b in zip(up + state[0] + state[1], fp + fstate[0] + fstate[1]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match=r"\[nadam\] u_product_prev must hold one element"):
        backend.nadam_update(up, gd, state[0], state[1], 0.01, 0.9, 0.999, 1e-7, 6,
                             backend.DeviceBuffer.from_numpy(np.ones(2, u_dtype)))


def test_nadam_keeps_its_product_on_the_device(where, monkeypatch):
    count = reads_on(where, monkeypatch)
    rng = np.random.default_rng(16)
    p0 = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(4)]
    with nabi.device(where):
        w = nabi.Variable(p0)
        opt = nabi.keras.optimizers.Nadam(0.01)
        gts = [nabi.constant(g) for g in grads]
        opt.apply_gradients([(gts[0], w)])   # builds the slots (first step)
        reads = []
        for g in gts[1:]:
            r, _ = count(lambda: opt.apply_gradients([(g, w)]))
            reads.append(r)
    for r in reads:
        check_reads(r, 0)   # was one 4-byte read of the product a step
    want, u = ref_nadam_steps(p0, [g.astype(np.float64) for g in grads], 0.01, 0.9, 0.999,
                              1e-7, np.float32)
    np.testing.assert_allclose(_np(w), want, rtol=2e-5, atol=2e-6)
    assert float(_np(opt._u_product)) == u   # the same product, rounded as the variable holds it


@pytest.mark.parametrize("op", ["segment_sum", "segment_max"])
def test_keras_segment_ops_one_read(where, monkeypatch, op):
    count = reads_on(where, monkeypatch)
    d = _data(17)
    ids = np.array([1, 0, 3, 1, 0, 1], np.int32)   # no num_segments: 4, from the ids
    with nabi.device(where):
        x, it = nabi.constant(d), nabi.constant(ids)
        r, out = count(lambda: getattr(nabi.keras.ops, op)(x, it))
    check_reads(r, 1)   # the number of segments (max + 1) with the min: one read
    kind = op.split("_")[1]
    fi = np.finfo(np.float64)
    np.testing.assert_allclose(_np(out), ref_segment(d, ids, 4, kind, fi.min if kind == "max"
                                                     else 0.0), rtol=1e-12)
