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
