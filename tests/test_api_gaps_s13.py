"""API gaps closed in session 13, each against an independent NumPy / plain-Python reference:
keras sparsemax (Keras 3.15's formula), tf.sparse.bincount, tf.sparse.cross / cross_hashed,
tf.strings.unicode_transcode / unicode_script, tf.signal.fftnd family, Keras 3's adaptive
pooling layers."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def assert_array(actual, shape, dtype, values=None, rtol=1e-6, atol=1e-7):
    """Shape, then dtype, then values."""
    a = _np(actual)
    assert a.shape == tuple(shape)
    assert a.dtype == np.dtype(dtype)
    if values is not None:
        if a.dtype.kind in "biuSOU":
            np.testing.assert_array_equal(a, values)
        else:
            np.testing.assert_allclose(a, values, rtol=rtol, atol=atol)


def numeric_grad(f, x, c, eps=1e-6):
    """d sum(f(x) * c) / dx by float64 central differences (f: NumPy in, NumPy out)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (np.sum(f(xp) * c) - np.sum(f(xm) * c)).real / (2 * eps)
    return g


def tape_grad(f, x, c):
    v = tf.Variable(x)
    with tf.GradientTape() as t:
        loss = tf.reduce_sum(f(v) * c)
    return _np(t.gradient(loss, v))


# ------------------------------------------------------------------ sparsemax

def sparsemax_ref(x, axis=-1):
    """Keras 3.15's sparsemax, transcribed: tau = (sum of the cumsums in the support - 1) / k."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    s = -np.sort(-x, axis=-1)
    cs = np.cumsum(s, axis=-1)
    r = np.arange(1, x.shape[-1] + 1)
    support = s - (cs - 1) / r > 0
    k = support.sum(-1, keepdims=True)
    tau = (np.where(support, cs, 0).sum(-1, keepdims=True) - 1) / k
    return np.moveaxis(np.maximum(x - tau, 0), -1, axis)


def test_sparsemax_keras_examples():
    x = np.array([[0.5, 0.6, 0.1], [1, 2, 3.]], np.float32)
    # Keras 3.15 outputs (checked by hand against keras.ops.sparsemax)
    assert_array(keras.ops.sparsemax(x), (2, 3), np.float32, [[0, 0, 0], [0, 0, 1]])
    assert_array(keras.activations.sparsemax(x, axis=0), (2, 3), np.float32,
                 [[0, 0, 0], [0.25, 1, 1]])
    assert keras.activations.get("sparsemax") is keras.activations.sparsemax
    assert keras.activations.serialize(keras.activations.sparsemax) == "sparsemax"


@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((3, 4, 6), 1), ((7,), 0),
                                        ((2, 3, 4), 0), ((1, 1), -1)])
def test_sparsemax_forward_and_gradient(shape, axis):
    rng = np.random.default_rng(len(shape) + axis)
    x = rng.normal(size=shape) * 0.3
    x.flat[0] += 2.0        # one clear winner in some rows, several in others
    c = rng.normal(size=shape)
    assert_array(keras.ops.sparsemax(x.astype(np.float32), axis=axis), shape, np.float32,
                 sparsemax_ref(x, axis), rtol=1e-5, atol=1e-6)
    assert_array(keras.ops.sparsemax(x, axis=axis), shape, np.float64, sparsemax_ref(x, axis),
                 rtol=1e-12, atol=1e-12)
    g = tape_grad(lambda v: keras.ops.sparsemax(v, axis=axis), x, c)
    np.testing.assert_allclose(g, numeric_grad(lambda a: sparsemax_ref(a, axis), x, c),
                               rtol=1e-3, atol=1e-5)


def test_sparsemax_bad_input():
    with pytest.raises(ValueError, match=r"sparsemax.*axis 2"):
        keras.ops.sparsemax(np.ones((2, 3), np.float32), axis=2)
    with pytest.raises(TypeError, match=r"sparsemax.*int"):
        keras.ops.sparsemax(np.array([1, 2, 3]))


# ------------------------------------------------------------------ tf.sparse.bincount

def sparse_triplet(sp):
    return (_np(sp.indices).tolist(), _np(sp.values).tolist(), _np(sp.values).dtype,
            _np(sp.dense_shape).tolist())


def bincount_ref(rows, weights=None, minlength=None, maxlength=None, binary=False):
    """Plain Python: {(row, value): count or weight sum} over a list of rows of ints."""
    allv = [v for r in rows for v in r]
    size = max(max(allv) + 1 if allv else 1, minlength or 0)
    if maxlength is not None:
        size = min(size, maxlength)
    acc = {}
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if v < size:
                w = 1 if weights is None else weights[i][j]
                acc[(i, v)] = 1 if binary else acc.get((i, v), 0) + w
    return acc, size


def test_sparse_bincount_dense_rows_and_flat():
    d = np.array([[1, 2, 2, 0], [5, 1, 1, 7]])
    for kw in [{}, {"minlength": 10}, {"maxlength": 3}, {"binary_output": True},
               {"minlength": 5, "maxlength": 3}]:
        acc, size = bincount_ref(d.tolist(), minlength=kw.get("minlength"),
                                 maxlength=kw.get("maxlength"), binary=kw.get("binary_output"))
        ind, vals, dt, shape = sparse_triplet(tf.sparse.bincount(d, axis=-1, **kw))
        assert shape == [2, size] and dt == np.int64
        assert dict(zip(map(tuple, ind), vals)) == acc and ind == sorted(ind)
        flat, size = bincount_ref([d.reshape(-1).tolist()], minlength=kw.get("minlength"),
                                  maxlength=kw.get("maxlength"), binary=kw.get("binary_output"))
        ind, vals, dt, shape = sparse_triplet(tf.sparse.bincount(d, axis=0, **kw))
        assert shape == [size] and {(0, i[0]): v for i, v in zip(ind, vals)} == flat


def test_sparse_bincount_weights_dtypes_and_inputs():
    d = np.array([[1, 2, 2, 0], [5, 1, 1, 7]])
    w = np.arange(8.).reshape(2, 4)
    acc, size = bincount_ref(d.tolist(), weights=w.tolist())
    ind, vals, dt, shape = sparse_triplet(tf.sparse.bincount(d, weights=w, axis=-1))
    assert dt == np.float64 and shape == [2, 8] and dict(zip(map(tuple, ind), vals)) == acc
    # TF's values from its docs / a TF 2.21 run: a Python list is int32, float32 weights
    assert sparse_triplet(tf.sparse.bincount([3, 1, 3])) == ([[1], [3]], [1, 2], np.int32, [4])
    assert sparse_triplet(tf.sparse.bincount([1, 1, 3], weights=[0.5, 0.25, 1.], axis=-1,
                                             minlength=2, maxlength=3)) == \
        ([[1]], [0.75], np.float32, [3])
    sp = tf.sparse.from_dense(tf.constant(d))       # the zero is not an entry
    assert sparse_triplet(tf.sparse.bincount(sp, axis=-1)) == (
        [[0, 1], [0, 2], [1, 1], [1, 5], [1, 7]], [1, 2, 2, 1, 1], np.int64, [2, 8])
    spw = sp.with_values(tf.cast(sp.values, tf.float32) * 0.5)
    assert sparse_triplet(tf.sparse.bincount(sp, weights=spw, axis=-1))[1] == \
        [0.5, 2.0, 1.0, 2.5, 3.5]
    r = tf.ragged.constant([[1, 1, 4], [], [2]])
    assert sparse_triplet(tf.sparse.bincount(r, axis=-1)) == (
        [[0, 1], [0, 4], [2, 2]], [2, 1, 1], np.int32, [3, 5])
    assert sparse_triplet(tf.sparse.bincount(r, axis=-1, binary_output=True, minlength=6)) == (
        [[0, 1], [0, 4], [2, 2]], [1, 1, 1], np.int32, [3, 6])
    assert sparse_triplet(tf.sparse.bincount(
        r, weights=tf.ragged.constant([[1., 2, 3], [], [4]]), axis=-1))[1] == [3.0, 3.0, 4.0]
    assert sparse_triplet(tf.sparse.bincount(np.zeros((2, 0), np.int64), axis=-1)) == \
        ([], [], np.int64, [2, 1])
    assert sparse_triplet(tf.sparse.bincount(np.array([4]), maxlength=0))[3] == [0]


def test_sparse_bincount_bad_input():
    d = np.array([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"sparse.bincount.*axis=1"):
        tf.sparse.bincount(d, axis=1)
    with pytest.raises(ValueError, match=r"sparse.bincount.*mutually exclusive"):
        tf.sparse.bincount(d, weights=np.ones((2, 2)), binary_output=True)
    with pytest.raises(ValueError, match=r"sparse.bincount.*non-negative"):
        tf.sparse.bincount([-1, 2])
    with pytest.raises(TypeError, match=r"sparse.bincount.*int32 or int64.*float64"):
        tf.sparse.bincount(np.array([1., 2.]))
    with pytest.raises(ValueError, match=r"sparse.bincount.*\(3,\).*\(4,\)"):
        tf.sparse.bincount(d, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"sparse.bincount.*\(2, 2, 2\)"):
        tf.sparse.bincount(np.zeros((2, 2, 2), np.int32), axis=-1)
    with pytest.raises(ValueError, match=r"sparse.bincount.*SparseTensor"):
        tf.sparse.bincount(tf.sparse.from_dense(tf.constant(d)), weights=[1., 2.])

