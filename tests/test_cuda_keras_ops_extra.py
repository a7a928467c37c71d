"""The keras.ops / tf.bitwise ops that used to copy GPU tensors to the host (the keras.ops
table of bench/results/gpu_host_ops.md), now on the device:

  tf.bitwise.* / keras.ops.bitwise_*   csrc/cuda/bitwise.cu (cuda_backend.bitwise, bitwise_not)
  keras.ops.signbit                    csrc/cuda/bitwise.cu (cuda_backend.signbit)
  keras.ops.nonzero                    device.py's np.nonzero (the count is read back)
  keras.ops.histogram                  min / max, linspace, searchsorted, the bincount kernel
                                       (without a range: one flag, is it finite?)
  keras.ops.sort / median / quantile   the sort kernel's argsort and one checked gather
  keras.ops.logspace / linspace        tensor ops on the ends' device
  keras.ops.slice_update               where(pad(ones), pad(updates), inputs)

against independent references (Python-int bit arithmetic, NumPy's sort / median /
histogram / linspace / logspace / nonzero / signbit, central differences).

Kernel tests take conftest's `backend` fixture (the real module, i.e. the host simulator under
NABI_TEST_PACKAGE_DIR=build/sim/pkg, or the NumPy emulator); op tests its `where` fixture
(CPU, emulated GPU, real GPU or the simulator), so every device is held to the reference and
thus GPU == CPU; the read-back tests its `d2h` counter (simulator: exact copies; emulator:
DeviceArray.get).
"""
import warnings

import numpy as np
import pytest

import nabi

ops = nabi.keras.ops
INT = [np.int32, np.int64]
BIT_OPS = ["and", "or", "xor", "left_shift", "right_shift"]
TF_BIT = {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
          "left_shift": "left_shift", "right_shift": "right_shift"}


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


def _on_gpu(t):
    return type(t._data).__name__ == "DeviceArray"


# ---------------------------------------------------------------- references
def ref_bit(op, a, b):
    """Elementwise on Python ints (unbounded), wrapped back to the dtype's width; shifts
    clamped to [0, bits - 1] as TF's kernels."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    bits = a.dtype.itemsize * 8
    out = []
    for x, y in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist()):
        s = min(max(y, 0), bits - 1)
        v = {"and": x & y, "or": x | y, "xor": x ^ y, "left_shift": x << s,
             "right_shift": x >> s}[op]            # Python's >> is arithmetic
        v &= (1 << bits) - 1
        if v >= 1 << (bits - 1):
            v -= 1 << bits
        out.append(v)
    return np.array(out, a.dtype).reshape(a.shape)


def ref_signbit(a):
    """The top bit of each value's bit pattern."""
    a = np.asarray(a)
    u = a.view(np.uint32 if a.itemsize == 4 else np.uint64) if a.dtype.kind == "f" else a
    if a.dtype.kind == "f":
        return (u >> (a.itemsize * 8 - 1)).astype(bool)
    return a < 0


def _edge_ints(dt):
    i = np.iinfo(dt)
    return np.array([i.min, i.min + 1, -7, -1, 0, 1, 5, i.max - 1, i.max], dt)


def _shifts(dt):
    bits = np.iinfo(dt).bits
    return np.array([-(2 ** 31), -5, -1, 0, 1, 3, bits - 1, bits, bits + 7, 1000], dt)


# ---------------------------------------------------------------- the bitwise kernel
@pytest.mark.parametrize("dt", INT)
@pytest.mark.parametrize("op", BIT_OPS)
def test_bitwise_kernel_edge_values(backend, op, dt):
    a = _edge_ints(dt)[:, None]                   # (9, 1) against (1, 10): every pair
    b = (_shifts(dt) if "shift" in op else np.r_[_edge_ints(dt), 3].astype(dt))[None, :]
    r = _np(backend, backend.bitwise(op, _buf(backend, a), _buf(backend, b)))
    assert r.dtype == dt and r.shape == (9, 10)
    np.testing.assert_array_equal(r, ref_bit(op, a, b))


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((2, 1, 3), (1, 4, 1)), ((), (5,)),
                                    ((5,), ()), ((2, 3), (2, 3)), ((0, 3), (3,)),
                                    ((3, 1, 2, 1), (3, 2, 5)), ((3, 300), (300,)),
                                    ((600,), (600,))])
@pytest.mark.parametrize("op", ["xor", "left_shift"])
def test_bitwise_kernel_broadcasting(backend, op, shapes, rng):
    sa, sb = shapes
    a = rng.integers(-2 ** 31, 2 ** 31, sa).astype(np.int64)
    b = rng.integers(-3, 70, sb).astype(np.int64)
    r = _np(backend, backend.bitwise(op, _buf(backend, a), _buf(backend, b)))
    want = ref_bit(op, a, b)
    assert r.shape == want.shape
    np.testing.assert_array_equal(r, want)


@pytest.mark.parametrize("dt", INT)
def test_bitwise_not_and_signbit_kernels(backend, dt):
    a = _edge_ints(dt)
    np.testing.assert_array_equal(_np(backend, backend.bitwise_not(_buf(backend, a))), ~a)
    np.testing.assert_array_equal(_np(backend, backend.signbit(_buf(backend, a))), a < 0)
    assert _np(backend, backend.bitwise_not(_buf(backend, np.zeros((2, 0), dt)))).shape == (2, 0)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_signbit_kernel_floats(backend, dt):
    t = np.finfo(dt).tiny
    v = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, np.copysign(np.nan, -1.0),
                  t / 4, -t / 4, np.finfo(dt).max, np.finfo(dt).min], dt)
    r = _np(backend, backend.signbit(_buf(backend, v.reshape(3, 4))))
    assert r.dtype == np.bool_
    np.testing.assert_array_equal(r.reshape(-1), ref_signbit(v))


def test_bitwise_kernels_reject_bad_arguments(backend):
    i32, i64 = _buf(backend, np.array([1, 2], np.int32)), _buf(backend, np.array([1, 2]))
    f = _buf(backend, np.array([1.0, 2.0], np.float32))
    with pytest.raises(ValueError, match=r"\[bitwise\] op must be 'and'.*got 'nand'"):
        backend.bitwise("nand", i32, i32)
    with pytest.raises(TypeError, match=r"\[bitwise_and\] x and y must both be int32 or both "
                                        r"int64, got float32 \(2,\) and float32 \(2,\)"):
        backend.bitwise("and", f, f)
    with pytest.raises(TypeError, match=r"\[bitwise_or\] .*int32 \(2,\) and int64 \(2,\)"):
        backend.bitwise("or", i32, i64)
    with pytest.raises(ValueError, match=r"\[bitwise_xor\] shapes \(2,\) and \(3,\) are not "
                                         "broadcastable"):
        backend.bitwise("xor", i64, _buf(backend, np.array([1, 2, 3])))
    with pytest.raises(ValueError, match=r"\[bitwise_left_shift\] at most 8 dimensions"):
        backend.bitwise("left_shift", _buf(backend, np.ones([1] * 9, np.int64)), i64)
    with pytest.raises(TypeError, match=r"\[bitwise_not\] x must be int32 or int64, got "
                                        r"float32 of shape \(2,\)"):
        backend.bitwise_not(f)
    with pytest.raises(TypeError, match=r"\[signbit\] x must be float32, float64, int32 or "
                                        r"int64, got bool of shape \(2,\)"):
        backend.signbit(_buf(backend, np.array([True, False])))


# ---------------------------------------------------------------- bitwise ops on every device
@pytest.mark.parametrize("dt", INT)
def test_tf_bitwise_ops(where, dt, rng):
    a = np.r_[_edge_ints(dt), rng.integers(-1000, 1000, 3).astype(dt)].reshape(3, 4)
    b = np.r_[_edge_ints(dt)[:4]].astype(dt)
    s = _shifts(dt)[[0, 1, 2, 6, 7, 9]].reshape(2, 1, 3)
    with nabi.device(where):
        x, y, sh = nabi.constant(a), nabi.constant(b), nabi.constant(s)
        for op in ("and", "or", "xor"):
            r = getattr(nabi.bitwise, TF_BIT[op])(x, y)           # (3, 4) with (4,)
            assert r.dtype == nabi.as_dtype(dt) and _on_gpu(r) == _on_gpu(x)
            np.testing.assert_array_equal(r.numpy(), ref_bit(op, a, b))
        for op in ("left_shift", "right_shift"):
            r = getattr(nabi.bitwise, op)(x[:, :3], sh)            # (3, 3) with (2, 1, 3)
            assert r.shape == (2, 3, 3)
            np.testing.assert_array_equal(r.numpy(), ref_bit(op, a[:, :3], s))
        np.testing.assert_array_equal(nabi.bitwise.invert(x).numpy(), ~a)
        r = nabi.bitwise.bitwise_xor(x, 6)                          # a Python int adapts
        assert r.dtype == nabi.as_dtype(dt)
        np.testing.assert_array_equal(r.numpy(), ref_bit("xor", a, np.array(6, dt)))
        r = nabi.bitwise.left_shift(nabi.constant(np.array(1, dt)), sh)     # 0-d operand
        np.testing.assert_array_equal(r.numpy(), ref_bit("left_shift", np.array(1, dt), s))


def test_bitwise_small_and_unsigned_ints_follow_the_documented_rule(where):
    """bitwise.py: GPU tensors are int32/int64 (uint8 data is widened to int64 on the way
    there), so on the GPU the ops see and return int64; on the CPU they keep uint8."""
    a, b = np.array([0, 5, 3, 14], np.uint8), np.array([5, 0, 7, 11], np.uint8)
    with nabi.device(where), warnings.catch_warnings():
        warnings.simplefilter("ignore")             # (the GPU's note that uint8 is widened)
        x, y = nabi.constant(a), nabi.constant(b)
        r, inv = nabi.bitwise.bitwise_and(x, y), nabi.bitwise.invert(x)
    on_gpu = where != "/CPU:0"
    dt = np.int64 if on_gpu else np.uint8
    assert r.dtype == nabi.as_dtype(dt) and inv.dtype == nabi.as_dtype(dt)
    np.testing.assert_array_equal(r.numpy(), [0, 0, 3, 10])
    np.testing.assert_array_equal(inv.numpy(), ~a.astype(dt))


def test_keras_bitwise_ops(where, rng):
    a = rng.integers(-50, 50, (4, 3)).astype(np.int32)
    b = rng.integers(-2, 34, (3,)).astype(np.int32)
    with nabi.device(where):
        x, y = nabi.constant(a), nabi.constant(b)
        for name, op in (("bitwise_and", "and"), ("bitwise_or", "or"), ("bitwise_xor", "xor"),
                         ("bitwise_left_shift", "left_shift"),
                         ("bitwise_right_shift", "right_shift")):
            np.testing.assert_array_equal(getattr(ops, name)(x, y).numpy(), ref_bit(op, a, b))
        np.testing.assert_array_equal(ops.bitwise_invert(x).numpy(), ~a)
        np.testing.assert_array_equal(ops.bitwise_not(nabi.constant([True, False])).numpy(),
                                      [False, True])


def test_bitwise_ops_reject_bad_input(where):
    with nabi.device(where):
        with pytest.raises(ValueError, match=r"\[bitwise.bitwise_xor\] shapes \(3,\) and \(2,\) "
                                             "are not broadcastable"):
            nabi.bitwise.bitwise_xor(nabi.constant([1, 2, 3]), nabi.constant([1, 2]))
        with pytest.raises(TypeError, match=r"\[bitwise.left_shift\] x must be an integer "
                                            r"tensor .*got float32 of shape \(2,\)"):
            nabi.bitwise.left_shift(nabi.constant([1.0, 2.0]), nabi.constant([1.0, 2.0]))
        with pytest.raises(TypeError, match=r"\[bitwise_and\] needs integer or bool tensors"):
            ops.bitwise_and(nabi.constant([1.5]), nabi.constant([1.5]))


# ---------------------------------------------------------------- signbit / nonzero
@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_signbit_op(where, dt):
    if dt == np.bool_:
        v = np.array([True, False])
    elif np.dtype(dt).kind == "f":
        v = np.array([0.0, -0.0, 2.5, -2.5, np.inf, -np.inf, np.nan, np.copysign(np.nan, -1)],
                     dt)
    else:
        v = _edge_ints(dt)
    with nabi.device(where):
        r = ops.signbit(nabi.constant(v.reshape(1, -1)))
        assert r.dtype == nabi.bool
        np.testing.assert_array_equal(r.numpy().reshape(-1), ref_signbit(v) if dt != np.bool_
                                      else [False, False])


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("dt", [np.float32, np.int32, np.bool_])
def test_nonzero_op(where, shape, dt, rng):
    v = (rng.integers(0, 2, shape) * rng.integers(1, 5, shape)).astype(dt)
    if dt == np.float32 and v.size:
        v.reshape(-1)[0] = np.nan                       # NaN is nonzero, -0.0 is not
        v.reshape(-1)[-1] = -0.0
    with nabi.device(where):
        r = ops.nonzero(nabi.constant(v))
        want = np.nonzero(v)
        assert len(r) == len(want)
        for got, w in zip(r, want):
            assert got.dtype == nabi.int32
            np.testing.assert_array_equal(got.numpy(), w)
        z = ops.nonzero(nabi.constant(np.zeros((2, 3), dt)))
        assert [t.shape for t in z] == [(0,), (0,)]
        with pytest.raises(ValueError, match=r"\[nonzero\] x must have rank >= 1"):
            ops.nonzero(nabi.constant(np.array(1, dt)))


# ---------------------------------------------------------------- histogram
def _check_hist(got, x, **kw):
    h, e = np.histogram(x, **kw)
    c, edges = got
    assert c.dtype == nabi.int32
    np.testing.assert_array_equal(c.numpy(), h)
    assert edges.dtype == nabi.as_dtype(x.dtype if x.dtype.kind == "f" else np.float32)
    np.testing.assert_array_equal(edges.numpy(), e.astype(edges.dtype.as_numpy_dtype))


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64])
def test_histogram_op(where, dt, rng):
    x = (rng.standard_normal(60) * 5).astype(dt)
    edges_hit = np.linspace(-3, 3, 7).astype(dt)            # values exactly on edges
    x = np.r_[x, edges_hit, edges_hit[:1]].astype(dt)
    with nabi.device(where):
        X = nabi.constant(x)
        for kw in ({}, {"bins": 1}, {"bins": 7}, {"bins": 6, "range": (-3, 3)},
                   {"bins": 5, "range": (-2.5, 4.25)}, {"bins": 4, "range": (1, 1)}):
            _check_hist(ops.histogram(X, **kw), x, **kw)
        same = np.full(5, 3, dt)                               # equal min and max: +-0.5
        _check_hist(ops.histogram(nabi.constant(same), bins=4), same, bins=4)
        empty = np.zeros(0, dt)
        _check_hist(ops.histogram(nabi.constant(empty), bins=3), empty, bins=3)


def test_histogram_op_nan_and_errors(where):
    x = np.array([0.5, np.nan, 1.5, 2.0, -np.inf], np.float32)
    with nabi.device(where):
        X = nabi.constant(x)
        _check_hist(ops.histogram(X, bins=4, range=(0, 2)), x, bins=4, range=(0, 2))
        with pytest.raises(ValueError, match="autodetected range"):   # NumPy's error
            ops.histogram(X)                                           # on every device
        with pytest.raises(ValueError, match="autodetected range"):
            ops.histogram(nabi.constant(np.array([1.0, np.inf], np.float32)), bins=3)
        with pytest.raises(ValueError, match=r"\[histogram\] x must be 1-D, got shape"):
            ops.histogram(nabi.constant(np.ones((2, 2), np.float32)))
        with pytest.raises(ValueError, match=r"\[histogram\] bins must be a positive"):
            ops.histogram(X, bins=0)
        with pytest.raises(ValueError, match=r"\[histogram\] range must be finite with min <= "
                                             "max"):
            ops.histogram(X, range=(2.0, 1.0))


# ---------------------------------------------------------------- sort / median / quantile
def _central(f, x, h=1e-6):
    """d sum(f(x)) / dx by central differences (float64)."""
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.reshape(-1)[i] = h
        g.reshape(-1)[i] = (np.sum(f(x + e)) - np.sum(f(x - e))) / (2 * h)
    return g


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort_op_and_gradient(where, axis, rng):
    x = rng.permutation(24).reshape(4, 6).astype(np.float64) * 0.5 - 3   # distinct values
    w = rng.standard_normal(24 if axis is None else (4, 6))
    with nabi.device(where):
        X = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = ops.sort(X, axis=axis)
            loss = nabi.reduce_sum(y * nabi.constant(w))
        np.testing.assert_array_equal(y.numpy(), np.sort(x, axis=axis))
        dx = tape.gradient(loss, X)
        assert _on_gpu(dx) == _on_gpu(X)
        np.testing.assert_allclose(dx.numpy(), _central(lambda v: np.sort(v, axis=axis) * w, x),
                                   rtol=1e-6, atol=1e-8)
        v = np.array([[3, np.nan, -1, 2, np.inf, -0.0]], np.float32)    # NaN last, as NumPy
        np.testing.assert_array_equal(ops.sort(nabi.constant(v)).numpy(), np.sort(v))
        vi = rng.integers(-5, 5, (3, 7)).astype(np.int32)
        np.testing.assert_array_equal(ops.sort(nabi.constant(vi), axis=0).numpy(),
                                      np.sort(vi, axis=0))
        with pytest.raises(ValueError, match=r"\[sort\] axis 2 is out of range"):
            ops.sort(X, axis=2)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_median_op_and_gradient(where, axis, keepdims, rng):
    x = rng.permutation(30).reshape(5, 6).astype(np.float64) * 0.25 + 1   # distinct: no ties
    with nabi.device(where):
        X = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            m = ops.median(X, axis=axis, keepdims=keepdims)
            loss = nabi.reduce_sum(m * m)
        want = np.median(x, axis=axis, keepdims=keepdims)
        assert m.shape == want.shape
        np.testing.assert_array_equal(m.numpy(), want)
        np.testing.assert_allclose(
            tape.gradient(loss, X).numpy(),
            _central(lambda v: np.median(v, axis=axis, keepdims=keepdims) ** 2, x),
            rtol=1e-6, atol=1e-8)
        q = ops.quantile(nabi.constant(x.astype(np.float32)), [0.1, 0.5, 0.9], axis=1)
        np.testing.assert_allclose(q.numpy(), np.quantile(x.astype(np.float32), [0.1, 0.5, 0.9],
                                                          axis=1), rtol=1e-6)


# ---------------------------------------------------------------- linspace / logspace
@pytest.mark.parametrize("num,endpoint,axis", [(5, True, 0), (6, False, 1), (1, True, 0),
                                               (7, True, -1), (0, True, 0)])
def test_linspace_logspace_tensor_ends(where, num, endpoint, axis, rng):
    a = rng.standard_normal(3).astype(np.float32)
    b = a + rng.standard_normal(3).astype(np.float32)
    b[1] = a[1]                                        # a zero step: NumPy's (i / div) * delta
    with nabi.device(where):
        A, B = nabi.constant(a), nabi.constant(b)
        r = ops.linspace(A, B, num, endpoint=endpoint, axis=axis)
        assert r.dtype == nabi.float32 and _on_gpu(r) == _on_gpu(A)
        np.testing.assert_array_equal(r.numpy(), np.linspace(a, b, num, endpoint=endpoint,
                                                             axis=axis))
        r = ops.logspace(A, B, num, endpoint=endpoint, base=3, axis=axis)
        np.testing.assert_allclose(r.numpy(), np.logspace(a, b, num, endpoint=endpoint, base=3,
                                                          axis=axis).astype(np.float32),
                                   rtol=2e-7)
        r = ops.logspace(nabi.constant(np.int32(1)), 3, 4)   # integer ends: computed in float64
        assert r.dtype == nabi.float32
        np.testing.assert_allclose(r.numpy(), np.logspace(np.int32(1), 3, 4).astype(np.float32),
                                   rtol=1e-7)


def test_linspace_logspace_gradients(where, rng):
    a, b = rng.standard_normal(2), rng.standard_normal(2)
    w = rng.standard_normal((2, 5))
    with nabi.device(where):
        A, B = nabi.Variable(a), nabi.Variable(b)
        with nabi.GradientTape(persistent=True) as tape:
            lin = nabi.reduce_sum(ops.linspace(A, B, 5, axis=1) * nabi.constant(w))
            log = nabi.reduce_sum(ops.logspace(A, B, 5, base=2, axis=1) * nabi.constant(w))
        for loss, f in ((lin, np.linspace), (log, lambda p, q, n, axis: np.logspace(
                p, q, n, base=2, axis=axis))):
            da, db = tape.gradient(loss, [A, B])
            assert _on_gpu(da) == _on_gpu(A)
            np.testing.assert_allclose(da.numpy(), _central(lambda v: f(v, b, 5, axis=1) * w, a),
                                       rtol=1e-6)
            np.testing.assert_allclose(db.numpy(), _central(lambda v: f(a, v, 5, axis=1) * w, b),
                                       rtol=1e-6)


# ---------------------------------------------------------------- slice_update
def test_slice_update_op_and_gradient(where, rng):
    x = rng.standard_normal((4, 5, 3))
    u = rng.standard_normal((2, 3, 3))
    w = rng.standard_normal((4, 5, 3))
    with nabi.device(where):
        X, U = nabi.Variable(x), nabi.Variable(u)
        with nabi.GradientTape() as tape:
            y = ops.slice_update(X, [1, 2, 0], U)
            loss = nabi.reduce_sum(y * nabi.constant(w))
        want = x.copy()
        want[1:3, 2:5, :] = u
        np.testing.assert_array_equal(y.numpy(), want)
        dx, du = tape.gradient(loss, [X, U])
        gx = w.copy()
        gx[1:3, 2:5, :] = 0
        np.testing.assert_array_equal(dx.numpy(), gx)
        np.testing.assert_array_equal(du.numpy(), w[1:3, 2:5, :])
        xi = np.arange(12, dtype=np.int32).reshape(3, 4)
        r = ops.slice_update(nabi.constant(xi), [0, 3], np.array([[-1], [-2]]))  # host updates
        wi = xi.copy()
        wi[0:2, 3:4] = [[-1], [-2]]
        np.testing.assert_array_equal(r.numpy(), wi)
        assert _on_gpu(r) == (where != "/CPU:0")
        with pytest.raises(ValueError, match=r"\[slice_update\] updates of shape \(2, 3, 3\) at "
                                             r"\[3, 2, 0\] do not fit inputs of shape \(4, 5, 3\)"):
            ops.slice_update(X, [3, 2, 0], U)


# ---------------------------------------------------------------- nothing read back
def test_bitwise_and_signbit_read_nothing_back(d2h):
    with nabi.device("/GPU:0"):
        x = nabi.constant(np.arange(-6, 6, dtype=np.int32).reshape(3, 4))
        y = nabi.constant(np.array([1, 2, 31, 40], np.int32))
        f = nabi.constant(np.array([-0.0, 1.0, -2.0], np.float32))
        for fn in (nabi.bitwise.bitwise_and, nabi.bitwise.bitwise_or, nabi.bitwise.bitwise_xor,
                   nabi.bitwise.left_shift, nabi.bitwise.right_shift, ops.bitwise_and,
                   ops.bitwise_left_shift):
            reads, launches = d2h(lambda: fn(x, y))
            assert (reads, launches) == (0, 1), fn
        assert d2h(lambda: nabi.bitwise.invert(x)) == (0, 1)
        assert d2h(lambda: ops.signbit(f)) == (0, 1)
        assert _on_gpu(nabi.bitwise.bitwise_and(x, y)) and _on_gpu(ops.signbit(f))


def test_keras_ops_read_nothing_back_but_nonzeros_count(d2h):
    with nabi.device("/GPU:0"):
        v = nabi.constant(np.array([0.5, 2.0, 0.0, 1.5, 3.0, 2.0], np.float32))
        m = nabi.constant(np.array([[0, 1, 0], [2, 0, 3]], np.int32))
        assert d2h(lambda: ops.nonzero(m))[0] == 1                      # the count
        assert d2h(lambda: ops.histogram(v, bins=3))[0] == 1    # the range-is-finite flag
        assert d2h(lambda: ops.histogram(v, bins=3, range=(0, 2)))[0] == 0
        assert d2h(lambda: ops.logspace(v[:2], v[2:4], 4))[0] == 0
        assert d2h(lambda: ops.linspace(v[:2], v[2:4], 4, axis=1))[0] == 0
        X = nabi.Variable(np.arange(12, dtype=np.float32).reshape(3, 4))
        U = nabi.Variable(np.ones((2, 2), np.float32))

        def fwd_bwd(f):
            def run():
                with nabi.GradientTape() as tape:
                    loss = nabi.reduce_sum(f())
                tape.gradient(loss, [X, U])
            return run
        for f in (lambda: ops.sort(X, axis=0), lambda: ops.sort(X, axis=None),
                  lambda: ops.median(X, axis=1), lambda: ops.median(X),
                  lambda: ops.quantile(X, [0.25, 0.75]),
                  lambda: ops.slice_update(X, [1, 1], U)):
            assert d2h(fwd_bwd(f))[0] == 0
