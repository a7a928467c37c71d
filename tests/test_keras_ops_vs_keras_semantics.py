"""keras.ops semantics that a differential sweep against Keras 3.15 (TensorFlow backend) found
wrong in nabi; each test says what Keras does and what nabi did before. Expected values come
from NumPy references written here, never from Keras or from nabi itself."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from helpers import assert_array, fd_check  # noqa: F401

ops = keras.ops
RNG = np.random.default_rng(11)


def _np(t):
    return t.numpy() if isinstance(t, tf.Tensor) else np.asarray(t)


# ---------------------------------------------------------------- saturate_cast


@pytest.mark.parametrize("x, dtype, ref", [
    # a bool input is in range: nabi clipped it as if True were every value (all ones)
    (np.array([True, False, True]), "int32", [1, 0, 1]),
    # int32 -> int64 widens: nabi raised OverflowError clipping int32 by int64's limits
    (np.array([5, -7], np.int32), "int64", [5, -7]),
    # float64 -> float32 clamps to float32's finite range (nabi gave inf)
    (np.array([1e300, -1e300, 1.5]), "float32",
     [np.finfo(np.float32).max, np.finfo(np.float32).min, 1.5]),
    # float -> int64: the bound 2**63 - 1 rounds up in float, so it is moved one step inward
    (np.array([3e19, -3e19, 2.0], np.float32), "int64",
     [int(np.nextafter(np.float32(2.0 ** 63), np.float32(0))), -2 ** 63, 2]),
    (np.array([3e9, -3e9, 7.9], np.float32), "int32",
     [int(np.nextafter(np.float32(2.0 ** 31), np.float32(0))), -2 ** 31, 7]),
    (np.array([3 * 10 ** 9, -3 * 10 ** 9, 9], np.int64), "int32", [2 ** 31 - 1, -2 ** 31, 9]),
    # Keras 3 clamps to [0, 1] for a bool target, so negatives become False (nabi: True)
    (np.array([-5.0, 0.0, 0.25, 2.0]), "bool", [False, False, True, True]),
])
def test_saturate_cast(x, dtype, ref):
    # Keras 3: clip to the target range (bounds in x's dtype, rounded inward), then cast
    out = ops.saturate_cast(x, dtype)
    assert out.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(_np(out), np.asarray(ref, dtype=tf.as_dtype(dtype).as_numpy_dtype))
    # the same through the shared op
    np.testing.assert_array_equal(_np(tf.saturate_cast(tf.constant(x), dtype)), _np(out))


def test_saturate_cast_widening_keeps_inf_and_gradient():
    # float32 -> float64 has nothing to clamp: infinities stay (a clamp to float32's range
    # would turn them finite); the gradient passes where no clamp acts
    out = ops.saturate_cast(np.array([np.inf, -np.inf, 1.0], np.float32), "float64")
    np.testing.assert_array_equal(_np(out), [np.inf, -np.inf, 1.0])
    x = tf.Variable(np.array([1e300, 2.0]))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.saturate_cast(x, tf.float32) * tf.constant([0.5, 5.0]))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0.0, 5.0])


# ---------------------------------------------------------------- quantile / median


SPECIAL = np.array([[1.0, np.nan, 2.0, 4.0], [np.inf, -np.inf, 0.0, 1.0],
                    [-0.0, 0.0, 5.0, np.inf]], np.float32)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_median_nan_propagates(axis):
    # Keras 3 (and NumPy): a NaN in a slice makes its median NaN; nabi sorted NaN last and
    # returned the middle element (median of the whole array was 2.0)
    ref = np.median(SPECIAL, axis=axis)
    out = ops.median(SPECIAL, axis=axis)
    np.testing.assert_array_equal(np.isnan(_np(out)), np.isnan(ref))


def test_median_exact_position_next_to_inf():
    # median([-0, 1, inf]) is 1 in Keras 3 and np.median; nabi's interpolation
    # 1 + (inf - 1) * 0 gave nan
    x = np.array([[1.0, np.inf, -0.0], [3.0, -np.inf, 2.0]], np.float32)
    assert_array(ops.median(x, axis=1), np.median(x, axis=1), rtol=0, atol=0)
    assert_array(ops.quantile(x, [0.0, 0.5, 1.0], axis=1),
                 [[-0.0, -np.inf], [1.0, 2.0], [np.inf, 3.0]], rtol=0, atol=0)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_nan_rows(method):
    x = RNG.standard_normal((3, 5))
    x[1, 2] = np.nan
    ref = np.quantile(x, [0.3, 0.8], axis=1, method=method)
    assert_array(ops.quantile(x, [0.3, 0.8], axis=1, method=method), ref, rtol=1e-6, atol=0)


def test_quantile_gradient():
    fd_check(lambda a: ops.quantile(a, [0.3, 0.5], axis=1), [RNG.standard_normal((3, 6))])


# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize("axis", [-1, 0, (0, 1), (1, 2), (0, 1, 2)])
def test_normalize_l2_over_axes(axis):
    # Keras 3: order=2 divides by sqrt(sum(x**2)) over every axis given; nabi took a 2-tuple
    # axis as a matrix norm (the largest singular value)
    x = RNG.standard_normal((2, 3, 4))
    ref = x / np.maximum(np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), 1e-7)
    assert_array(ops.normalize(x, axis=axis), ref, rtol=1e-6, atol=1e-12)
    fd_check(lambda a: ops.normalize(a, axis=axis), [x])
