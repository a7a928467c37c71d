"""Index / elementwise ops that used to copy GPU tensors to the host (bench/results/
gpu_host_ops.md), now on the device:

  segment_prod / logcumsumexp / binary_extra   csrc/cuda/index_extra.cu (cuda_backend entries)
  tf.scatter_nd, tensor_scatter_nd_max/min, math.segment_prod, unsorted_segment_prod,
  math.confusion_matrix, dynamic_partition, dynamic_stitch, reverse_sequence,
  unravel_index, fill, linalg.cross, truncatediv, truncatemod, math.nextafter,
  math.cumulative_logsumexp                    python/nabi/ops/gpu_index_extra.py

Everything is compared with independent references written as Python loops here (values and
gradients), on the CPU, the emulated GPU and the real GPU / the host simulator (conftest's
`where`; NABI_TEST_PACKAGE_DIR=build/sim/pkg runs the real kernels). The copy tests count
device-to-host reads around each op (exact on the simulator, DeviceArray.get on the
emulator). Allowed reads, as TF does them: the part sizes of dynamic_partition, the (min,
max) of dynamic_stitch's indices and of confusion_matrix's classes (the result's size), one
bool for a range / zero-divisor check, and the take kernel's index-check flag.
"""
import math

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
NUM = [np.float32, np.float64, np.int32, np.int64]


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- loop references
def ref_segment_prod(x, ids, num):
    out = np.ones((num,) + x.shape[1:], x.dtype)
    for r, s in enumerate(ids):
        if 0 <= s < num:
            out[s] = out[s] * x[r]
    return out


def ref_segment_prod_grad(x, ids, g):
    """d sum(g * prod) / d x[r] = g[ids[r]] * the product of the segment's other rows."""
    d = np.zeros_like(x)
    for r, s in enumerate(ids):
        if s < 0:
            continue
        p = np.ones(x.shape[1:], x.dtype)
        for q, t in enumerate(ids):
            if t == s and q != r:
                p = p * x[q]
        d[r] = g[s] * p
    return d


def _members(n, i, exclusive, reverse):
    if reverse:
        return range(i + 1 if exclusive else i, n)
    return range(0, i if exclusive else i + 1)


def ref_lcse(x, exclusive=False, reverse=False):
    """Along the last axis, in float64 with math.log / math.exp."""
    x2 = x.reshape(-1, x.shape[-1]).astype(np.float64)
    out = np.empty_like(x2)
    n = x2.shape[1]
    for r in range(x2.shape[0]):
        for i in range(n):
            js = list(_members(n, i, exclusive, reverse))
            if not js:
                out[r, i] = -np.inf
                continue
            m = max(x2[r, j] for j in js)
            out[r, i] = m + math.log(sum(math.exp(x2[r, j] - m) for j in js))
    return out.reshape(x.shape)


def ref_lcse_grad(x, g, exclusive=False, reverse=False):
    o = ref_lcse(x, exclusive, reverse)
    d = np.zeros_like(x, np.float64)
    n = x.shape[-1]
    for r in range(x.shape[0]):
        for i in range(n):
            for j in _members(n, i, exclusive, reverse):
                d[r, j] += g[r, i] * math.exp(x[r, j] - o[r, i])
    return d


def ref_trunc(a, b, op):
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), a.dtype)
    for i, (u, v) in enumerate(zip(*[np.broadcast_to(t, out.shape).reshape(-1) for t in (a, b)])):
        if a.dtype.kind == "f":
            q = float(u) / float(v)
            r = math.trunc(q) if math.isfinite(q) else q
            out.flat[i] = r if op == "truncatediv" else math.fmod(float(u), float(v))
        else:
            q = abs(int(u)) // abs(int(v)) * (1 if (u < 0) == (v < 0) else -1)
            out.flat[i] = q if op == "truncatediv" else int(u) - int(v) * q
    return out


def ref_scatter(shape, ind, upd, init=None, fold=None):
    out = np.zeros(shape, upd.dtype) if init is None else init.copy()
    k = ind.shape[-1]
    for j, t in enumerate(ind.reshape(-1, k)):
        u = upd.reshape((-1,) + tuple(shape[k:]))[j]
        out[tuple(t)] = out[tuple(t)] + u if fold is None else fold(out[tuple(t)], u)
    return out


def ref_reverse_sequence(x, lens):
    out = x.copy()
    for b, n in enumerate(lens):
        for t in range(n):
            out[b, t] = x[b, n - 1 - t]
    return out


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("dt", NUM)
def test_segment_prod_kernel(backend, dt, rng):
    x = rng.integers(-3, 4, (9, 2, 3)).astype(dt)
    ids = np.array([0, 2, 0, -1, 2, 2, 7, 1, 0], np.int64)  # -1 and 7 (>= num) are dropped
    r = _np(backend, backend.segment_prod(_buf(backend, x), _buf(backend, ids), 4))
    assert r.dtype == dt and r.shape == (4, 2, 3)
    np.testing.assert_allclose(r, ref_segment_prod(x, ids, 4), rtol=1e-6)
    e = _np(backend, backend.segment_prod(_buf(backend, x[:0]), _buf(backend, ids[:0]), 2))
    np.testing.assert_array_equal(e, np.ones((2, 2, 3), dt))


def test_segment_prod_kernel_rejects(backend):
    x = _buf(backend, np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match=r"\[segment_prod\] ids must be int32 or int64"):
        backend.segment_prod(x, _buf(backend, np.zeros(3, np.float32)), 2)
    with pytest.raises(ValueError, match=r"\[segment_prod\] ids must be 1-D"):
        backend.segment_prod(x, _buf(backend, np.zeros(2, np.int32)), 2)
    with pytest.raises(ValueError, match=r"\[segment_prod\] num must be >= 0"):
        backend.segment_prod(x, _buf(backend, np.zeros(3, np.int32)), -1)
    with pytest.raises(TypeError, match=r"\[segment_prod\] x must be"):
        backend.segment_prod(_buf(backend, np.ones(3, bool)), _buf(backend, np.zeros(3, np.int32)),
                             2)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_logcumsumexp_kernel(backend, dt, exclusive, reverse, rng):
    x = (rng.standard_normal((3, 7, 2)) * 5).astype(dt)
    x[0, 2, 0] = -np.inf
    r = _np(backend, backend.logcumsumexp(_buf(backend, x), 1, exclusive, reverse))
    want = np.moveaxis(ref_lcse(np.moveaxis(x, 1, -1), exclusive, reverse), -1, 1)
    assert r.dtype == dt and r.shape == x.shape
    np.testing.assert_allclose(r, want, rtol=1e-5 if dt == np.float32 else 1e-12)
    with pytest.raises(ValueError, match=r"\[logcumsumexp\] axis 3 is out of range"):
        backend.logcumsumexp(_buf(backend, x), 3)
    with pytest.raises(TypeError, match=r"\[logcumsumexp\] x must be float32 or float64"):
        backend.logcumsumexp(_buf(backend, np.ones(3, np.int32)), 0)


@pytest.mark.parametrize("dt", NUM)
def test_binary_extra_kernel(backend, dt, rng):
    a = rng.integers(-20, 21, 40).astype(dt)
    b = rng.integers(1, 7, 40).astype(dt) * np.where(rng.random(40) < 0.5, -1, 1).astype(dt)
    if np.dtype(dt).kind == "f":
        a = a + np.array(0.25, dt)
    for op in ("truncatediv", "truncatemod"):
        r = _np(backend, backend.binary_extra(op, _buf(backend, a), _buf(backend, b)))
        assert r.dtype == dt
        np.testing.assert_array_equal(r, ref_trunc(a, b, op))
    if np.dtype(dt).kind == "f":
        r = _np(backend, backend.binary_extra("nextafter", _buf(backend, a), _buf(backend, b)))
        np.testing.assert_array_equal(r, np.nextafter(a, b))
    else:
        mn = np.iinfo(dt).min
        x, y = np.array([mn, 5, -5], dt), np.array([-1, 0, 0], dt)  # wrap, x / 0 == 0
        assert _np(backend, backend.binary_extra("truncatediv", _buf(backend, x),
                                                 _buf(backend, y))).tolist() == [mn, 0, 0]
        assert _np(backend, backend.binary_extra("truncatemod", _buf(backend, x),
                                                 _buf(backend, y))).tolist() == [0, 0, 0]


def test_binary_extra_kernel_rejects(backend):
    a = _buf(backend, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[binary_extra\] op must be"):
        backend.binary_extra("div", a, a)
    with pytest.raises(ValueError, match=r"\[binary_extra\] a and b shapes differ"):
        backend.binary_extra("truncatediv", a, _buf(backend, np.ones(2, np.float32)))
    with pytest.raises(TypeError, match=r"\[binary_extra\] a and b dtypes differ"):
        backend.binary_extra("truncatediv", a, _buf(backend, np.ones(3, np.float64)))
    with pytest.raises(TypeError, match=r"\[binary_extra\] nextafter takes float32 or float64"):
        i = _buf(backend, np.ones(3, np.int32))
        backend.binary_extra("nextafter", i, i)


# ---------------------------------------------------------------- ops on every device
def _grad(f, *xs):
    with nabi.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        y = f(*xs)
    return y, tape


@pytest.mark.parametrize("sorted_ids", [True, False])
def test_segment_prod_op_and_gradient(where, sorted_ids, rng):
    x = rng.uniform(0.5, 1.5, (7, 3))
    x[1, 0] = 0.0                      # one zero in segment 0, column 0
    x[2, 1] = x[4, 1] = 0.0 if sorted_ids else x[2, 1]   # two zeros: gradient 0 there
    ids = np.array([0, 0, 0, 2, 2, 2, 3]) if sorted_ids else np.array([2, 0, 2, -1, 0, 3, 0])
    num = 4
    g = rng.standard_normal((num, 3))
    with nabi.device(where):
        X = nabi.constant(x)
        f = (lambda t: nabi.math.segment_prod(t, nabi.constant(ids.astype(np.int32)))) \
            if sorted_ids else \
            (lambda t: nabi.math.unsorted_segment_prod(t, nabi.constant(ids.astype(np.int32)),
                                                       num))
        y, tape = _grad(f, X)
        np.testing.assert_allclose(y.numpy(), ref_segment_prod(x, ids, num), rtol=1e-12)
        d = tape.gradient(y, X, output_gradients=nabi.constant(g))
        np.testing.assert_allclose(d.numpy(), ref_segment_prod_grad(x, ids, g), rtol=1e-10,
                                   atol=1e-12)
        yi = nabi.math.unsorted_segment_prod(nabi.constant(np.array([[2, 3], [4, 5]], np.int32)),
                                             nabi.constant(np.array([1, 1], np.int32)), 2)
        assert yi.numpy().tolist() == [[1, 1], [8, 15]]


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative_logsumexp_op_and_gradient(where, exclusive, reverse, rng):
    x = rng.standard_normal((3, 6)) * 3
    g = rng.standard_normal((3, 6))
    with nabi.device(where):
        X = nabi.constant(x)
        y, tape = _grad(lambda t: nabi.math.cumulative_logsumexp(
            t, axis=1, exclusive=exclusive, reverse=reverse), X)
        np.testing.assert_allclose(y.numpy(), ref_lcse(x, exclusive, reverse), rtol=1e-12)
        d = tape.gradient(y, X, output_gradients=nabi.constant(g))
        np.testing.assert_allclose(d.numpy(), ref_lcse_grad(x, g, exclusive, reverse),
                                   rtol=1e-9, atol=1e-12)
        y0 = nabi.math.cumulative_logsumexp(nabi.constant(x.T.astype(np.float32)), axis=0)
        np.testing.assert_allclose(y0.numpy(), ref_lcse(x.astype(np.float32)).T, rtol=1e-5)


def test_cumulative_logsumexp_second_order(where):
    x = np.array([[0.3, -1.2, 2.0]])
    with nabi.device(where):
        X = nabi.constant(x)
        with nabi.GradientTape() as t2:
            t2.watch(X)
            with nabi.GradientTape() as t1:
                t1.watch(X)
                y = nabi.reduce_sum(nabi.math.cumulative_logsumexp(X, axis=1))
            d = t1.gradient(y, X)
            s = nabi.reduce_sum(d * d)
        h = t2.gradient(s, X).numpy()
    eps = 1e-6   # central differences of sum(d^2), d from the loop reference

    def f(v):
        return float(np.sum(ref_lcse_grad(v, np.ones_like(v)) ** 2))
    fd = np.array([[(f(x + eps * e) - f(x - eps * e)) / (2 * eps)
                    for e in np.eye(3).reshape(3, 1, 3)]]).reshape(1, 3)
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_tensor_scatter_nd_minmax_op_and_gradient(where, kind, rng):
    t = rng.standard_normal((5, 3))
    ind = np.array([[0], [3], [0], [4]])
    u = rng.standard_normal((4, 3))    # distinct values: no ties
    fold = np.maximum if kind == "max" else np.minimum
    want = ref_scatter(t.shape, ind, u, t, fold)
    g = rng.standard_normal(t.shape)
    op = nabi.tensor_scatter_nd_max if kind == "max" else nabi.tensor_scatter_nd_min
    with nabi.device(where):
        T, U = nabi.constant(t), nabi.constant(u)
        for I in (nabi.constant(ind.astype(np.int32)), ind.tolist()):
            y, tape = _grad(lambda a, b: op(a, I, b), T, U)
            np.testing.assert_array_equal(y.numpy(), want)
            dt, du = tape.gradient(y, [T, U], output_gradients=nabi.constant(g))
            np.testing.assert_array_equal(dt.numpy(), np.where(want == t, g, 0))
            gu = np.array([[g[r[0], c] if u[j, c] == want[r[0], c] else 0 for c in range(3)]
                           for j, r in enumerate(ind)])
            np.testing.assert_array_equal(du.numpy(), gu)
        ti = op(nabi.constant(np.array([[1, 9], [5, 5]], np.int64)),
                nabi.constant(np.array([[1], [1]], np.int32)),
                nabi.constant(np.array([[7, 2], [3, 8]], np.int64)))
        assert ti.numpy().tolist() == ([[1, 9], [7, 8]] if kind == "max" else [[1, 9], [3, 2]])
        with pytest.raises(IndexError, match=r"does not index into shape"):
            op(T, nabi.constant(np.array([[5]], np.int32)), nabi.constant(u[:1]))


def test_scatter_nd_op_and_gradient(where, rng):
    ind = np.array([[0, 1], [2, 0], [0, 1], [1, 2]])   # a duplicate adds up
    u = rng.standard_normal((4, 5))
    g = rng.standard_normal((3, 3, 5))
    with nabi.device(where):
        U = nabi.constant(u)
        y, tape = _grad(lambda b: nabi.scatter_nd(nabi.constant(ind.astype(np.int64)), b,
                                                  [3, 3, 5]), U)
        np.testing.assert_allclose(y.numpy(), ref_scatter((3, 3, 5), ind, u), rtol=1e-12)
        d = tape.gradient(y, U, output_gradients=nabi.constant(g))
        np.testing.assert_array_equal(d.numpy(), np.stack([g[tuple(i)] for i in ind]))
        with pytest.raises(IndexError, match=r"\[scatter_nd\] indices\[1\] = \[3, 0\] does "
                                             r"not index into shape \[3, 3, 5\]"):
            nabi.scatter_nd(nabi.constant(np.array([[0, 0], [3, 0]], np.int32)), U[:2],
                            [3, 3, 5])


def test_confusion_matrix_op_and_weight_gradient(where):
    y = np.array([0, 1, 2, 1, 2])
    p = np.array([0, 2, 2, 1, 2])
    w = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    want = np.zeros((3, 3), np.int64)
    for a, b in zip(y, p):
        want[a, b] += 1
    with nabi.device(where):
        Y, P = nabi.constant(y.astype(np.int32)), nabi.constant(p.astype(np.int32))
        m = nabi.math.confusion_matrix(Y, P)    # size from the data: one (min, max) read
        assert m.dtype == nabi.int32 and m.numpy().tolist() == want.tolist()
        W = nabi.constant(w)
        mw, tape = _grad(lambda t: nabi.math.confusion_matrix(Y, P, num_classes=4, weights=t,
                                                              dtype=nabi.float64), W)
        ww = np.zeros((4, 4))
        for a, b, c in zip(y, p, w):
            ww[a, b] += c
        np.testing.assert_allclose(mw.numpy(), ww)
        g = np.arange(16.0).reshape(4, 4)
        np.testing.assert_array_equal(tape.gradient(mw, W, output_gradients=nabi.constant(g))
                                      .numpy(), [g[a, b] for a, b in zip(y, p)])
        with pytest.raises(ValueError, match=r"\[confusion_matrix\] labels and predictions "
                                             r"must be < num_classes=2"):
            nabi.math.confusion_matrix(Y, P, num_classes=2)
        with pytest.raises(ValueError, match=r"must be non-negative"):
            nabi.math.confusion_matrix(nabi.constant(np.array([-1], np.int32)),
                                       nabi.constant(np.array([0], np.int32)))


def test_dynamic_partition_and_stitch(where, rng):
    x = rng.standard_normal((6, 2))
    parts = np.array([2, 0, 2, 1, 0, 2])
    gs = [rng.standard_normal((int((parts == i).sum()), 2)) for i in range(4)]
    with nabi.device(where):
        X = nabi.constant(x)
        out, tape = _grad(lambda t: nabi.dynamic_partition(
            t, nabi.constant(parts.astype(np.int32)), 4), X)
        assert len(out) == 4
        for i in range(4):   # loop reference: the rows of partition i in order
            np.testing.assert_array_equal(out[i].numpy(),
                                          np.array([x[j] for j in range(6) if parts[j] == i])
                                          .reshape(-1, 2))
        d = tape.gradient(out, X, output_gradients=[nabi.constant(gi) for gi in gs])
        want = np.zeros_like(x)
        seen = [0] * 4
        for j, q in enumerate(parts):
            want[j] = gs[q][seen[q]]
            seen[q] += 1
        np.testing.assert_array_equal(d.numpy(), want)
        with pytest.raises(Exception, match=r"\[dynamic_partition\] partitions\[1\] = 4 is not "
                                            r"in \[0, 4\)"):
            nabi.dynamic_partition(X[:2], nabi.constant(np.array([0, 4], np.int32)), 4)

        i0, i1 = np.array([0, 4]), np.array([[1, 4], [5, 0]])   # 4 twice, 0 twice, 2 and 3 none
        d0, d1 = rng.standard_normal((2, 3)), rng.standard_normal((2, 2, 3))
        D0, D1 = nabi.constant(d0), nabi.constant(d1)
        s, tape = _grad(lambda a, b: nabi.dynamic_stitch(
            [nabi.constant(i0.astype(np.int32)), nabi.constant(i1.astype(np.int32))], [a, b]),
            D0, D1)
        ref = np.zeros((6, 3))
        src = {}
        for m, (ii, dd) in enumerate([(i0, d0), (i1, d1)]):
            for j, k in enumerate(ii.reshape(-1)):
                ref[k] = dd.reshape(-1, 3)[j]
                src[k] = (m, j)
        np.testing.assert_array_equal(s.numpy(), ref)
        g = rng.standard_normal((6, 3))
        g0, g1 = tape.gradient(s, [D0, D1], output_gradients=nabi.constant(g))
        w0, w1 = np.zeros((2, 3)), np.zeros((4, 3))   # the later write of a row wins
        for k, (m, j) in src.items():
            (w0 if m == 0 else w1)[j] = g[k]
        np.testing.assert_array_equal(g0.numpy(), w0)
        np.testing.assert_array_equal(g1.numpy(), w1.reshape(2, 2, 3))


def test_reverse_sequence_unravel_fill_cross(where, rng):
    x = rng.standard_normal((3, 5, 2))
    lens = np.array([2, 5, 0])
    g = rng.standard_normal((3, 5, 2))
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    with nabi.device(where):
        X = nabi.constant(x)
        y, tape = _grad(lambda t: nabi.reverse_sequence(t, nabi.constant(lens.astype(np.int32)),
                                                        seq_axis=1, batch_axis=0), X)
        np.testing.assert_array_equal(y.numpy(), ref_reverse_sequence(x, lens))
        np.testing.assert_array_equal(tape.gradient(y, X, output_gradients=nabi.constant(g))
                                      .numpy(), ref_reverse_sequence(g, lens))
        yt = nabi.reverse_sequence(nabi.constant(np.swapaxes(x, 0, 1)), lens.tolist(),
                                   seq_axis=0, batch_axis=1)
        np.testing.assert_array_equal(yt.numpy(),
                                      np.swapaxes(ref_reverse_sequence(x, lens), 0, 1))
        with pytest.raises(ValueError, match=r"\[reverse_sequence\] seq_lengths must have 3 "
                                             r"entries in \[0, 5\]"):
            nabi.reverse_sequence(X, nabi.constant(np.array([1, 6, 0], np.int32)), seq_axis=1)

        flat = np.array([[0, 7, 23], [11, 5, 18]])
        u = nabi.unravel_index(nabi.constant(flat.astype(np.int32)), [2, 3, 4]).numpy()
        want = np.zeros((3, 2, 3), np.int64)
        for i, v in np.ndenumerate(flat):
            want[:, i[0], i[1]] = [v // 12, v // 4 % 3, v % 4]
        assert u.dtype == np.int32
        np.testing.assert_array_equal(u, want)
        with pytest.raises(ValueError, match=r"\[unravel_index\] indices must be in \[0, 24\)"):
            nabi.unravel_index(nabi.constant(np.array([24], np.int32)), [2, 3, 4])

        f = nabi.fill([2, 3], nabi.constant(np.float32(1.5)))
        assert f.dtype == nabi.float32
        np.testing.assert_array_equal(f.numpy(), [[1.5] * 3] * 2)
        assert nabi.fill([2], 7).numpy().tolist() == [7, 7]

        c = nabi.linalg.cross(nabi.constant(a), nabi.constant(b)).numpy()
        for r in range(4):
            np.testing.assert_allclose(c[r], [a[r, 1] * b[r, 2] - a[r, 2] * b[r, 1],
                                              a[r, 2] * b[r, 0] - a[r, 0] * b[r, 2],
                                              a[r, 0] * b[r, 1] - a[r, 1] * b[r, 0]],
                                       rtol=1e-12)


@pytest.mark.parametrize("dt", NUM)
def test_truncatediv_truncatemod_nextafter_ops(where, dt, rng):
    a = rng.integers(-20, 21, (3, 4)).astype(dt)
    b = (rng.integers(1, 7, (4,)) * np.array([1, -1, 1, -1])).astype(dt)
    if np.dtype(dt).kind == "f":
        a = a + np.array(0.5, dt)
    with nabi.device(where):
        A, B = nabi.constant(a), nabi.constant(b)
        q, r = nabi.truncatediv(A, B), nabi.truncatemod(A, B)
        assert q.dtype == A.dtype and r.dtype == A.dtype
        np.testing.assert_array_equal(q.numpy(), ref_trunc(a, b, "truncatediv"))
        np.testing.assert_allclose(r.numpy(), ref_trunc(a, b, "truncatemod"), rtol=1e-6)
        if np.dtype(dt).kind == "f":
            n = nabi.math.nextafter(A, B).numpy()
            for i, v in np.ndenumerate(a):   # one step of the dtype toward b
                t = b[i[1]]
                assert n[i] != v and (n[i] > v) == (t > v)
                assert np.nextafter(n[i], v) == v
        else:
            with pytest.raises(ZeroDivisionError, match=r"\[truncatediv\] integer division by "
                                                         r"zero"):
                nabi.truncatediv(A, nabi.constant(np.zeros(4, dt)))


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's)


def test_ops_do_not_copy_their_inputs_to_the_host(d2h):
    """Reads per op (the emulator counts DeviceArray.get; the take kernel's index-check flag
    is a read on the simulator only, so the simulator may count one more where a gather
    runs)."""
    i32 = np.int32
    with nabi.device("/GPU:0"):
        f = nabi.constant(np.linspace(-2, 2, 12).reshape(4, 3))
        f2 = nabi.constant(np.linspace(1, 3, 12).reshape(4, 3))
        ids = nabi.constant(np.array([1, 0, 1, -1], i32))
        iv = nabi.constant(np.array([7, -7, 9, 3], i32))
        jv = nabi.constant(np.array([2, 2, -4, 5], i32))
        ind = nabi.constant(np.array([[0], [2], [0]], i32))
        upd = nabi.constant(np.ones((3, 3)))
        none = [  # no read at all
            lambda: nabi.math.cumulative_logsumexp(f, axis=1, exclusive=True),
            lambda: nabi.truncatediv(f, f2), lambda: nabi.truncatemod(f, f2),
            lambda: nabi.math.nextafter(f, f2), lambda: nabi.linalg.cross(f, f2),
            lambda: nabi.fill([5, 2], nabi.constant(2.5)),
            lambda: nabi.math.unsorted_segment_prod(f, [1, 0, 1, -1], 2),   # host ids: free
        ]
        for k, op in enumerate(none):
            assert (k, d2h(op)[0]) == (k, 0)
        small = [  # one bool / flag, or the result's size (as TF)
            (lambda: nabi.truncatediv(iv, jv), 1),            # any(y == 0)
            (lambda: nabi.truncatemod(iv, jv), 1),
            (lambda: nabi.unravel_index(nabi.constant(np.array([3, 5], i32)), [2, 3]), 1),
            (lambda: nabi.math.unsorted_segment_prod(f, ids, 2), 1),   # the ids' check
            (lambda: nabi.scatter_nd(ind, upd, [4, 3]), 2),   # range bool + scatter flag
            (lambda: nabi.tensor_scatter_nd_max(f, ind, upd), 1),
            (lambda: nabi.tensor_scatter_nd_min(f, ind, upd), 1),
            (lambda: nabi.math.confusion_matrix(iv[:2] * 0 + 1, jv[:2] * 0 + 2), 1),
            (lambda: nabi.dynamic_partition(f, nabi.constant(np.array([1, 0, 1, 1], i32)),
                                            2), 2),
            (lambda: nabi.dynamic_stitch([nabi.constant(np.array([0, 2], i32)),
                                          nabi.constant(np.array([1, 3], i32))],
                                         [f[:2], f2[:2]]), 2),
            (lambda: nabi.reverse_sequence(f, nabi.constant(np.array([1, 3, 0, 2], i32)),
                                           seq_axis=1), 2),
        ]
        for k, (op, most) in enumerate(small):
            reads, launches = d2h(op)
            assert (k, reads <= most, launches >= 1) == (k, True, True), reads
        x = nabi.constant(np.linspace(0.5, 1.5, 12).reshape(4, 3))
        with nabi.GradientTape() as tape:   # gradients stay on the device too
            tape.watch(x)
            y = nabi.reduce_sum(nabi.math.unsorted_segment_prod(x, [1, 0, 1, 0], 2)) + \
                nabi.reduce_sum(nabi.math.cumulative_logsumexp(x, axis=1)) + \
                nabi.reduce_sum(nabi.tensor_scatter_nd_max(x, [[0], [3]], x[:2] * 2))
        reads, _ = d2h(lambda: tape.gradient(y, x))
        assert reads <= 8    # only the gathers' index-check flags (simulator)
        ii = nabi.constant(np.array([[0], [2]], i32))
        with nabi.GradientTape() as tape:
            tape.watch(x)
            parts = nabi.dynamic_partition(x, nabi.constant(np.array([1, 0, 1, 1], i32)), 2)
            y = nabi.reduce_sum(nabi.scatter_nd(ii, x[:2], [4, 3])) + \
                nabi.reduce_sum(nabi.reverse_sequence(x, nabi.constant(np.array([1, 3, 0, 2], i32)),
                                                      seq_axis=1)) + \
                nabi.reduce_sum(nabi.dynamic_stitch([nabi.constant(np.array([1, 0], i32))],
                                                    [x[:2]])) + \
                nabi.reduce_sum(parts[0]) + nabi.reduce_sum(parts[1] * 2) + \
                nabi.reduce_sum(nabi.math.confusion_matrix(ids[:2] * 0, ids[:2] * 0 + 1,
                                                           num_classes=2, weights=x[0, :2],
                                                           dtype=nabi.float64))
        reads, _ = d2h(lambda: tape.gradient(y, x))
        assert reads <= 8
        r = nabi.math.segment_prod(f, [0, 0, 1, 1])
    assert type(r._data).__name__ == "DeviceArray"
