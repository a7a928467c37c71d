"""Ops that used to copy GPU tensors to the host, now on CUDA kernels (the inventory of
tools/gpu_host_ops.py, bench/results/gpu_host_ops.md):

  tf.math.bincount  csrc/cuda/bincount.cu      (cuda_backend.bincount)
  tf.searchsorted   csrc/cuda/searchsorted.cu  (cuda_backend.searchsorted)
  tf.unique, tf.unique_with_counts  csrc/cuda/unique.cu  (cuda_backend.unique)
  tf.math.unsorted_segment_max / _min, tf.math.segment_min  csrc/cuda/segment_reduce.cu
                                                            (cuda_backend.segment_minmax)
  tf.signal.overlap_and_add  csrc/cuda/overlap_add.cu  (cuda_backend.overlap_add)
  tf.histogram_fixed_width(_bins)  device arithmetic + the bincount kernel

against independent references (Python loops over NumPy arrays: counts, linear counts of the
entries before a value, a dict of first occurrences).

Kernel tests take the `backend` fixture ("cuda": the real module, which is the host simulator
under NABI_TEST_PACKAGE_DIR=build/sim/pkg and skips without a GPU otherwise; "emu": the NumPy
emulator). Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or the
simulator) and compare each device with the reference (so GPU equals CPU). The copy tests
count device-to-host reads around the op: exactly on the simulator (cuda_backend._sim_stats,
as bench/launch_count.py), through DeviceArray.get on the emulator; they skip, saying why,
where neither counter exists (a real GPU).
"""
import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
INT = [np.int32, np.int64]
NUM = [np.float32, np.float64, np.int32, np.int64]


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))  # (0-d stays 0-d)


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- references
def ref_bincount(x, length, w=None, per_row=False, binary=False, dtype=np.int32):
    x = np.asarray(x)
    rows = x.reshape(x.shape[0], -1) if per_row else x.reshape(1, -1)
    ws = None if w is None else np.asarray(w).reshape(rows.shape)
    out = np.zeros((rows.shape[0], length), dtype if w is None else ws.dtype)
    for r in range(rows.shape[0]):
        for j, v in enumerate(rows[r]):
            if 0 <= v < length:
                if binary:
                    out[r, v] = 1
                else:
                    out[r, v] += 1 if ws is None else ws[r, j]
    return out if per_row else out.reshape(length)


def ref_searchsorted(s, v, side):
    s, v = np.asarray(s), np.asarray(v)
    s2, v2 = s.reshape(-1, s.shape[-1]), v.reshape(-1, v.shape[-1])
    out = np.zeros(v2.shape, np.int64)
    for i in range(v2.shape[0]):
        for j in range(v2.shape[1]):  # a linear count: entries ordered before the value
            x, row = v2[i, j], s2[i]
            if np.isnan(x) if row.dtype.kind == "f" else False:
                before = ~np.isnan(row) if side == "left" else np.ones(row.shape, bool)
            elif side == "left":
                before = row < x
            else:
                before = row <= x
            out[i, j] = int(np.sum(before))
    return out.reshape(v.shape)


def ref_unique(x):
    """(y, idx, counts) by a dict of first occurrences; every NaN is its own value, -0.0 is
    +0.0 (the first occurrence's bits are kept)."""
    seen, y, idx, counts = {}, [], [], []
    for v in np.asarray(x).tolist():
        key = object() if v != v else v  # NaN: a fresh key each time
        if key not in seen:
            seen[key] = len(y)
            y.append(v)
            counts.append(0)
        idx.append(seen[key])
        counts[seen[key]] += 1
    return np.array(y, np.asarray(x).dtype), np.array(idx, np.int64), np.array(counts, np.int64)


def ref_segment(x, ids, num, is_max):
    """(num, ...) per-segment max / min by a loop over the rows (NaN wins; empty segments:
    the lowest / highest finite value, or the integer limits)."""
    x = np.asarray(x)
    fin = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
    y = np.full((num,) + x.shape[1:], fin.min if is_max else fin.max, x.dtype)
    seen = np.zeros(num, bool)
    for r, s in enumerate(ids):
        if not 0 <= s < num:
            continue
        for j in np.ndindex(*x.shape[1:]):
            v, cur = x[(r,) + j], y[(s,) + j]
            if not seen[s] or np.isnan(v) or (not np.isnan(cur) and
                                               (v > cur if is_max else v < cur)):
                y[(s,) + j] = v
        seen[s] = True  # (after the row: the first row of a segment sets every element)
    return y


def ref_segment_grad(x, ids, num, is_max, g):
    """d sum(g * segment_max(x)) / dx: each element that equals its segment's result gets
    the result's gradient divided by the number of such elements (ties share it)."""
    y = ref_segment(x, ids, num, is_max)
    d = np.zeros_like(x)
    for s in range(num):
        rows = [r for r, i in enumerate(ids) if i == s]
        for j in np.ndindex(*x.shape[1:]):
            hit = [r for r in rows if x[(r,) + j] == y[(s,) + j]]
            for r in hit:
                d[(r,) + j] = g[(s,) + j] / len(hit)
    return d


def ref_overlap_add(x, step):
    """Frames added at multiples of step, element by element in frame order."""
    x = np.asarray(x)
    frames, length = x.shape[-2:]
    lead = x.shape[:-2]
    y = np.zeros(lead + (max((frames - 1) * step + length, 0),), x.dtype)
    for idx in np.ndindex(*lead):
        for f in range(frames):
            for j in range(length):
                y[idx + (f * step + j,)] += x[idx + (f, j)]
    return y


# ---------------------------------------------------------------- bincount kernel
@pytest.mark.parametrize("xd", INT)
@pytest.mark.parametrize("od", NUM)
def test_bincount_kernel_counts(backend, xd, od, rng):
    x = rng.integers(-2, 9, (3, 40)).astype(xd)  # negatives and values >= length are skipped
    y = backend.bincount(_buf(backend, x), 7, dtype=np.dtype(od).name)
    r = _np(backend, y)
    assert r.dtype == od and r.shape == (7,)
    np.testing.assert_array_equal(r, ref_bincount(x, 7, dtype=od))


@pytest.mark.parametrize("wd", NUM)
def test_bincount_kernel_weights_per_row_binary(backend, wd, rng):
    x = rng.integers(0, 6, (4, 25)).astype(np.int64)
    w = (rng.integers(-3, 4, x.shape) * 0.5 if np.dtype(wd).kind == "f"
         else rng.integers(-3, 4, x.shape)).astype(wd)
    r = _np(backend, backend.bincount(_buf(backend, x), 6, _buf(backend, w), True))
    assert r.dtype == wd and r.shape == (4, 6)
    np.testing.assert_allclose(r, ref_bincount(x, 6, w, per_row=True), rtol=1e-6)
    b = _np(backend, backend.bincount(_buf(backend, x), 5, None, True, True, "float32"))
    np.testing.assert_array_equal(b, ref_bincount(x, 5, per_row=True, binary=True,
                                                  dtype=np.float32))


def test_bincount_kernel_empty(backend):
    e = _buf(backend, np.zeros((0,), np.int32))
    assert _np(backend, backend.bincount(e, 3)).tolist() == [0, 0, 0]
    assert _np(backend, backend.bincount(_buf(backend, np.array([1, 2], np.int32)), 0)).shape \
        == (0,)
    r = _np(backend, backend.bincount(_buf(backend, np.zeros((2, 0), np.int32)), 2, None, True))
    assert r.tolist() == [[0, 0], [0, 0]]


def test_bincount_kernel_rejects_bad_arguments(backend):
    x = _buf(backend, np.array([0, 1], np.int32))
    with pytest.raises(TypeError, match=r"\[bincount\] x must be int32 or int64"):
        backend.bincount(_buf(backend, np.array([0.0, 1.0], np.float32)), 2)
    with pytest.raises(ValueError, match=r"\[bincount\] length must be >= 0"):
        backend.bincount(x, -1)
    with pytest.raises(ValueError, match=r"\[bincount\] per_row needs a 2-D x"):
        backend.bincount(x, 2, None, True)
    with pytest.raises(ValueError, match=r"\[bincount\] x and weights shapes differ"):
        backend.bincount(x, 2, _buf(backend, np.ones(3, np.float32)))
    with pytest.raises(TypeError, match=r"\[bincount\] the result must be"):
        backend.bincount(x, 2, dtype="bool")


# ---------------------------------------------------------------- searchsorted kernel
@pytest.mark.parametrize("dt", NUM)
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("od", INT)
def test_searchsorted_kernel(backend, dt, side, od, rng):
    s = np.sort(rng.integers(-5, 6, (3, 17)), axis=-1).astype(dt)  # repeats: left != right
    v = rng.integers(-7, 8, (3, 9)).astype(dt)
    r = _np(backend, backend.searchsorted(_buf(backend, s), _buf(backend, v), side == "right",
                                          np.dtype(od).name))
    assert r.dtype == od and r.shape == v.shape
    np.testing.assert_array_equal(r, ref_searchsorted(s, v, side))


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_kernel_nan_inf_and_shapes(backend, side):
    s = np.array([[-np.inf, -1.0, 0.0, 2.0, np.inf, np.nan, np.nan],
                  [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 3.0]], np.float64)
    v = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5],
                  [0.5, 1.0, np.nan, -1.0, 3.0, 4.0]], np.float64)
    r = _np(backend, backend.searchsorted(_buf(backend, s), _buf(backend, v), side == "right"))
    np.testing.assert_array_equal(r, ref_searchsorted(s, v, side))
    # 1-D, an empty sequence (every index 0), no values
    s1, v1 = np.array([1, 3, 5], np.int32), np.array([0, 3, 6, 4], np.int32)
    r1 = _np(backend, backend.searchsorted(_buf(backend, s1), _buf(backend, v1), side == "right"))
    np.testing.assert_array_equal(r1, ref_searchsorted(s1, v1, side))
    e = backend.searchsorted(_buf(backend, np.zeros((2, 0), np.float32)),
                             _buf(backend, np.ones((2, 3), np.float32)), side == "right")
    assert _np(backend, e).tolist() == [[0, 0, 0], [0, 0, 0]]
    z = backend.searchsorted(_buf(backend, s1), _buf(backend, np.zeros((0,), np.int32)))
    assert _np(backend, z).shape == (0,)


def test_searchsorted_kernel_rejects_bad_arguments(backend):
    s = _buf(backend, np.array([[1.0, 2.0]], np.float32))
    with pytest.raises(TypeError, match=r"\[searchsorted\] sorted_sequence and values dtypes"):
        backend.searchsorted(s, _buf(backend, np.array([[1.0]], np.float64)))
    with pytest.raises(ValueError, match=r"\[searchsorted\] .*same leading axes"):
        backend.searchsorted(s, _buf(backend, np.ones((2, 1), np.float32)))
    with pytest.raises(ValueError, match=r"\[searchsorted\] .*same leading axes"):
        backend.searchsorted(_buf(backend, np.float32(1.0)), _buf(backend, np.float32(1.0)))
    with pytest.raises(TypeError, match=r"\[searchsorted\] out_dtype must be int32 or int64"):
        backend.searchsorted(s, _buf(backend, np.ones((1, 1), np.float32)), False, "float32")
    with pytest.raises(TypeError, match=r"\[searchsorted\] sorted_sequence must be"):
        backend.searchsorted(_buf(backend, np.ones((1, 2), bool)),
                             _buf(backend, np.ones((1, 1), bool)))


# ---------------------------------------------------------------- unique kernel
@pytest.mark.parametrize("dt", NUM)
@pytest.mark.parametrize("n", [1, 7, 300, 2500])  # 2500: the sorts' multi-block path
def test_unique_kernel(backend, dt, n, rng):
    x = rng.integers(-20, 20, n).astype(dt)
    y, idx, c = backend.unique(_buf(backend, x), "int64", True)
    ry, ri, rc = ref_unique(x)
    y, idx, c = _np(backend, y), _np(backend, idx), _np(backend, c)
    assert y.dtype == dt and idx.dtype == np.int64 and c.dtype == np.int64
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ri)
    np.testing.assert_array_equal(c, rc)
    y2, i2 = backend.unique(_buf(backend, x))
    np.testing.assert_array_equal(_np(backend, y2), ry)
    assert _np(backend, i2).dtype == np.int32


def test_unique_kernel_nan_signed_zero_and_empty(backend):
    x = np.array([np.nan, 0.0, -0.0, 2.5, np.nan, 2.5, -np.inf, np.inf], np.float64)
    y, idx, c = (_np(backend, b) for b in backend.unique(_buf(backend, x), "int32", True))
    ry, ri, rc = ref_unique(x)
    np.testing.assert_array_equal(y, ry)  # (NaN == NaN in assert_array_equal)
    assert not np.signbit(y[1])           # the first occurrence: +0.0
    np.testing.assert_array_equal(idx, ri)
    np.testing.assert_array_equal(c, rc)
    e = backend.unique(_buf(backend, np.zeros((0,), np.float32)), "int32", True)
    assert [_np(backend, b).shape for b in e] == [(0,), (0,), (0,)]


def test_unique_kernel_rejects_bad_arguments(backend):
    with pytest.raises(ValueError, match=r"\[unique\] x must be 1-D"):
        backend.unique(_buf(backend, np.ones((2, 2), np.float32)))
    with pytest.raises(TypeError, match=r"\[unique\] x must be float32"):
        backend.unique(_buf(backend, np.ones(2, bool)))
    with pytest.raises(TypeError, match=r"\[unique\] index_dtype must be int32 or int64"):
        backend.unique(_buf(backend, np.ones(2, np.float32)), "float32")


# ---------------------------------------------------------------- segment max / min kernel
@pytest.mark.parametrize("dt", NUM)
@pytest.mark.parametrize("is_max", [True, False])
@pytest.mark.parametrize("idt", INT)
def test_segment_minmax_kernel(backend, dt, is_max, idt, rng):
    x = rng.integers(-50, 50, (30, 2, 3)).astype(dt)
    if np.dtype(dt).kind == "f":
        x[4, 1, 2] = np.nan
        x[5, 0, 0] = -np.inf
    ids = rng.integers(-1, 8, 30).astype(idt)  # -1 and 7 (>= num) are dropped; some empty
    ids[[4, 5]] = 2
    y = _np(backend, backend.segment_minmax(_buf(backend, x), _buf(backend, ids), 6, is_max))
    assert y.dtype == dt and y.shape == (6, 2, 3)
    np.testing.assert_array_equal(y, ref_segment(x, ids, 6, is_max))


def test_segment_minmax_kernel_edges(backend):
    x = np.zeros((0, 2), np.float32)
    y = _np(backend, backend.segment_minmax(_buf(backend, x), _buf(backend, np.zeros(0, np.int32)),
                                            3, True))
    np.testing.assert_array_equal(y, np.full((3, 2), np.finfo(np.float32).min, np.float32))
    one = _buf(backend, np.array([5], np.int64))
    assert _np(backend, backend.segment_minmax(one, _buf(backend, np.array([0], np.int32)), 0,
                                               False)).shape == (0,)
    with pytest.raises(ValueError, match=r"\[segment_minmax\] ids must be 1-D"):
        backend.segment_minmax(_buf(backend, np.ones((3, 2), np.float32)),
                               _buf(backend, np.zeros(2, np.int32)), 2, True)
    with pytest.raises(TypeError, match=r"\[segment_minmax\]"):
        backend.segment_minmax(_buf(backend, np.ones(3, np.float32)),
                               _buf(backend, np.zeros(3, np.float32)), 2, True)
    with pytest.raises(TypeError, match=r"\[segment_minmax\] x must be"):
        backend.segment_minmax(_buf(backend, np.ones(3, bool)),
                               _buf(backend, np.zeros(3, np.int32)), 2, True)
    with pytest.raises(ValueError, match=r"\[segment_minmax\] num must be >= 0"):
        backend.segment_minmax(_buf(backend, np.ones(3, np.float32)),
                               _buf(backend, np.zeros(3, np.int32)), -1, True)


# ---------------------------------------------------------------- overlap_add kernel
@pytest.mark.parametrize("dt", NUM)
@pytest.mark.parametrize("shape,step", [((2, 5, 6), 2), ((4, 3), 3), ((3, 4), 7), ((1, 2, 3, 4), 1),
                                        ((0, 4), 2), ((2, 0, 3), 1)])
def test_overlap_add_kernel(backend, dt, shape, step, rng):
    x = (rng.standard_normal(shape) * 8).astype(dt)
    y = _np(backend, backend.overlap_add(_buf(backend, x), step))
    assert y.dtype == dt
    np.testing.assert_array_equal(y, ref_overlap_add(x, step))  # same order: exact


def test_overlap_add_kernel_rejects_bad_arguments(backend):
    with pytest.raises(ValueError, match=r"\[overlap_add\] x must have rank >= 2"):
        backend.overlap_add(_buf(backend, np.ones(3, np.float32)), 1)
    with pytest.raises(ValueError, match=r"\[overlap_add\] frame_step must be >= 1"):
        backend.overlap_add(_buf(backend, np.ones((2, 3), np.float32)), 0)
    with pytest.raises(TypeError, match=r"\[overlap_add\] x must be"):
        backend.overlap_add(_buf(backend, np.ones((2, 3), bool)), 1)


# ---------------------------------------------------------------- ops on every device
def test_bincount_op(where, rng):
    x = rng.integers(0, 7, (3, 12)).astype(np.int32)
    w = rng.random((3, 12)).astype(np.float32)
    with nabi.device(where):
        X, W = nabi.constant(x), nabi.constant(w)
        r = nabi.math.bincount(X)
        assert r.dtype == nabi.int32
        np.testing.assert_array_equal(r.numpy(), ref_bincount(x, int(x.max()) + 1))
        rw = nabi.math.bincount(X, weights=W, minlength=10)
        assert rw.dtype == nabi.float32 and rw.shape == (10,)
        np.testing.assert_allclose(rw.numpy(), ref_bincount(x, 10, w), rtol=1e-5)
        rm = nabi.math.bincount(X, maxlength=3, dtype=nabi.float64)
        np.testing.assert_array_equal(rm.numpy(), ref_bincount(x, 3, dtype=np.float64))
        rr = nabi.math.bincount(X, axis=-1, binary_output=True)
        np.testing.assert_array_equal(rr.numpy(), ref_bincount(x, int(x.max()) + 1,
                                                               per_row=True, binary=True))
        assert nabi.math.bincount(nabi.constant(np.zeros((0,), np.int32))).shape == (0,)
        with pytest.raises(ValueError, match=r"\[bincount\] arr must be non-negative"):
            nabi.math.bincount(nabi.constant(np.array([1, -1], np.int32)))
        with pytest.raises(ValueError, match=r"\[bincount\] weights must have arr's shape"):
            nabi.math.bincount(X, weights=nabi.constant(np.ones(3, np.float32)))
        with pytest.raises(ValueError, match=r"\[bincount\] axis=-1 needs a 2-D arr"):
            nabi.math.bincount(nabi.constant(np.array([1], np.int32)), axis=-1)


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_op(where, side, rng):
    s = np.sort(rng.standard_normal((2, 3, 11)).astype(np.float32), axis=-1)
    s[0, 0, 4:7] = s[0, 0, 4]  # ties
    v = rng.standard_normal((2, 3, 5)).astype(np.float32)
    v[0, 0, 0] = s[0, 0, 4]
    with nabi.device(where):
        for out in (nabi.int32, nabi.int64):
            r = nabi.searchsorted(nabi.constant(s), nabi.constant(v), side=side, out_type=out)
            assert r.dtype == out
            np.testing.assert_array_equal(r.numpy(), ref_searchsorted(s, v, side))
        # digitize-like use: int bins and values
        b, q = np.array([0, 2, 4, 8], np.int64), np.array([-1, 2, 5, 9, 4], np.int64)
        r = nabi.searchsorted(nabi.constant(b), nabi.constant(q), side=side)
        np.testing.assert_array_equal(r.numpy(), ref_searchsorted(b, q, side))
        with pytest.raises(ValueError, match=r"\[searchsorted\] .*same leading axes"):
            nabi.searchsorted(nabi.constant(s), nabi.constant(v[0]))


@pytest.mark.parametrize("out", ["int32", "int64"])
def test_unique_ops(where, out, rng):
    x = rng.integers(0, 9, 40).astype(np.int64)
    f = np.array([1.5, np.nan, -0.0, 1.5, 0.0, np.nan], np.float32)
    with nabi.device(where):
        for a in (x, f):
            ry, ri, rc = ref_unique(a)
            y, idx = nabi.unique(nabi.constant(a), out_idx=getattr(nabi, out))
            assert idx.dtype == getattr(nabi, out)
            np.testing.assert_array_equal(y.numpy(), ry)
            np.testing.assert_array_equal(idx.numpy(), ri)
            y, idx, c = nabi.unique_with_counts(nabi.constant(a), out_idx=getattr(nabi, out))
            assert c.dtype == getattr(nabi, out)
            np.testing.assert_array_equal(y.numpy(), ry)
            np.testing.assert_array_equal(idx.numpy(), ri)
            np.testing.assert_array_equal(c.numpy(), rc)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_unsorted_segment_minmax_ops_and_gradients(where, kind, rng):
    x = rng.integers(-4, 5, (9, 3)).astype(np.float64)  # small ints: ties
    ids = np.array([0, 3, 3, 1, -1, 0, 2, 1, 0], np.int32)  # no empty segment: finite loss
    g = rng.standard_normal((4, 3))
    op = getattr(nabi.math, "unsorted_segment_" + kind)
    with nabi.device(where):
        X = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = op(X, nabi.constant(ids), 4)
            loss = nabi.reduce_sum(y * nabi.constant(g))
        dx = tape.gradient(loss, X)
        np.testing.assert_array_equal(y.numpy(), ref_segment(x, ids, 4, kind == "max"))
        np.testing.assert_allclose(dx.numpy(), ref_segment_grad(x, ids, 4, kind == "max", g),
                                   rtol=1e-12)
        xi = rng.integers(-9, 9, (7,)).astype(np.int32)
        yi = op(nabi.constant(xi), [1, 1, 0, 2, 2, 2, 0], 4)
        assert yi.dtype == nabi.int32
        np.testing.assert_array_equal(yi.numpy(), ref_segment(xi, [1, 1, 0, 2, 2, 2, 0], 4,
                                                              kind == "max"))
        # the sorted segment_min / segment_max (empty segments 0, as TF)
        s = getattr(nabi.math, "segment_" + kind)(nabi.constant(x[:6]), [0, 0, 2, 2, 2, 4])
        r = ref_segment(x[:6], [0, 0, 2, 2, 2, 4], 5, kind == "max")
        r[[1, 3]] = 0
        np.testing.assert_array_equal(s.numpy(), r)


def test_overlap_and_add_op_and_gradient(where, rng):
    x = rng.standard_normal((2, 5, 6))
    w = rng.standard_normal((2, 14))
    with nabi.device(where):
        X = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = nabi.signal.overlap_and_add(X, 2)
            loss = nabi.reduce_sum(y * nabi.constant(w))
        np.testing.assert_array_equal(y.numpy(), ref_overlap_add(x, 2))
        idx = 2 * np.arange(5)[:, None] + np.arange(6)[None, :]
        np.testing.assert_array_equal(tape.gradient(loss, X).numpy(), w[:, idx])


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32])
def test_histogram_fixed_width_ops(where, dt, rng):
    v = (rng.standard_normal(50) * 4).astype(dt)
    lo, hi, n = -3.0, 5.0, 7
    bins = []
    for x in v.astype(np.float64).tolist():  # the bin of each value, clamped to the ends
        k = int(np.floor((x - lo) / (hi - lo) * n))
        bins.append(min(max(k, 0), n - 1))
    with nabi.device(where):
        h = nabi.histogram_fixed_width(nabi.constant(v), [lo, hi], nbins=n)
        assert h.dtype == nabi.int32
        np.testing.assert_array_equal(h.numpy(), np.array([bins.count(k) for k in range(n)]))
        h64 = nabi.histogram_fixed_width(nabi.constant(v), nabi.constant([lo, hi]), nbins=n,
                                         dtype=nabi.int64)
        assert h64.dtype == nabi.int64 and int(h64.numpy().sum()) == v.size
        b = nabi.histogram_fixed_width_bins(nabi.constant(v.reshape(5, 10)), [lo, hi], nbins=n)
        np.testing.assert_array_equal(b.numpy(), np.array(bins).reshape(5, 10))
        with pytest.raises(ValueError, match=r"\[histogram_fixed_width\] value_range"):
            nabi.histogram_fixed_width(nabi.constant(v), [1.0, 1.0], nbins=n)


def test_keras_ops_using_the_kernels(where, rng):
    """keras.ops.bincount and keras.ops.digitize (Keras models' preprocessing) on the kernels."""
    x = rng.integers(0, 5, 20).astype(np.int32)
    bins = np.array([0.0, 0.5, 1.0], np.float32)
    v = rng.random(9).astype(np.float32) * 1.4 - 0.2
    with nabi.device(where):
        ops = nabi.keras.ops
        np.testing.assert_array_equal(np.asarray(ops.bincount(nabi.constant(x))),
                                      ref_bincount(x, 5))
        np.testing.assert_array_equal(np.asarray(ops.digitize(nabi.constant(v), bins)),
                                      ref_searchsorted(bins, v, "right"))
        d = rng.standard_normal((6, 2)).astype(np.float32)
        ids = np.array([1, 0, 1, 2, 2, 0], np.int32)
        np.testing.assert_array_equal(np.asarray(ops.segment_max(nabi.constant(d), ids, 3)),
                                      ref_segment(d, ids, 3, True))


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's)


def test_bincount_does_not_copy_its_input_to_the_host(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(np.array([[0, 3, 3, 9], [1, 1, 5, 2]], np.int32))
        w = nabi.constant(np.ones((2, 4), np.float32))
        reads, launches = d2h(lambda: nabi.math.bincount(x, weights=w))
        assert reads == 2 and launches >= 1  # only the minimum and the maximum come back
        reads, _ = d2h(lambda: nabi.math.bincount(nabi.constant(np.zeros((0,), np.int32)),
                                                  minlength=4))
        assert reads == 0
        r = nabi.math.bincount(x, weights=w)
    assert type(r._data).__name__ == "DeviceArray"


def test_searchsorted_does_not_copy_to_the_host(d2h):
    with nabi.device("/GPU:0"):
        s = nabi.constant(np.array([[1.0, 2.0, 3.0], [0.0, 5.0, 6.0]], np.float32))
        v = nabi.constant(np.array([[2.5, 0.0], [7.0, 5.0]], np.float32))
        reads, launches = d2h(lambda: nabi.searchsorted(s, v, side="right"))
        assert reads == 0 and launches >= 1
        r = nabi.searchsorted(s, v)
    assert type(r._data).__name__ == "DeviceArray"


def test_unique_reads_back_only_its_size(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(np.array([5, 2, 5, 9, 2, 2], np.int32))
        reads, launches = d2h(lambda: nabi.unique(x))
        assert reads <= 1 and launches >= 1  # the number of distinct values (simulator)
        reads, _ = d2h(lambda: nabi.unique_with_counts(x))
        assert reads <= 1
        y, idx, c = nabi.unique_with_counts(x)
    assert all(type(t._data).__name__ == "DeviceArray" for t in (y, idx, c))


def test_segment_max_keeps_the_data_on_the_gpu(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(np.arange(12, dtype=np.float32).reshape(6, 2))
        reads, launches = d2h(lambda: nabi.math.unsorted_segment_max(x, [0, 1, 1, 0, 2, 2], 3))
        assert reads == 0 and launches >= 1  # host ids: nothing comes back
        ids = nabi.constant(np.array([0, 1, 1, 0, 2, 2], np.int32))
        reads, _ = d2h(lambda: nabi.math.unsorted_segment_min(x, ids, 3))
        assert reads == 1  # GPU ids: read once for their checks; the data stays
        r = nabi.math.unsorted_segment_max(x, ids, 3)
    assert type(r._data).__name__ == "DeviceArray"


def test_overlap_and_add_stays_on_the_gpu(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(np.ones((3, 4, 8), np.float32))
        reads, launches = d2h(lambda: nabi.signal.overlap_and_add(x, 4))
        assert reads == 0 and launches >= 1


def test_histogram_fixed_width_stays_on_the_gpu(d2h):
    with nabi.device("/GPU:0"):
        v = nabi.constant(np.linspace(-1.0, 6.0, 40, dtype=np.float32))
        reads, launches = d2h(lambda: nabi.histogram_fixed_width(v, [0.0, 5.0], nbins=5))
        assert reads == 0 and launches >= 1
        reads, _ = d2h(lambda: nabi.histogram_fixed_width_bins(v, [0.0, 5.0], nbins=5))
        assert reads == 0
