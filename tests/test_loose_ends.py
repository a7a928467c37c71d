"""Loose ends against TF 2.15 / Keras 2.15 (documented values and NumPy references):
integer true division dtypes, tf.bitwise, tf.config.functions_run_eagerly, uint64 on the GPU,
Keras add_loss (symbolic on Sequential, callables on functional models), ragged tile / map_fn /
tf.strings."""
import warnings

import numpy as np
import pytest

import nabi as tf
from helpers import assert_array


# ------------------------------------------------------------------- (1) int true division
# tf.math.truediv: "cast to float32 for int8 and int16 and float64 for int32 and int64";
# TF's _TRUEDIV_TABLE puts uint8/uint16 with float32 and uint32/uint64 with float64.
@pytest.mark.parametrize("name,want", [("int8", "float32"), ("int16", "float32"),
                                       ("uint8", "float32"), ("uint16", "float32"),
                                       ("int32", "float64"), ("int64", "float64"),
                                       ("uint32", "float64"), ("uint64", "float64")])
def test_integer_truediv_dtype(name, want):
    a_np = np.array([7, 1, 0, 100], name)
    b_np = np.array([2, 3, 5, 7], name)
    with tf.device("/CPU:0"):   # 8/16-bit and unsigned data is widened on the GPU
        a, b = tf.constant(a_np), tf.constant(b_np)
        for out in (a / b, tf.math.truediv(a, b), tf.divide(a, b), a / 2):
            assert out.dtype == getattr(tf, want)
    assert_array(a / b, a_np.astype(want) / b_np.astype(want), dtype=want, rtol=1e-7)
    assert_array(a / 2, a_np.astype(want) / 2, dtype=want, rtol=1e-7)


def test_integer_truediv_docs_example():
    # tf.math.truediv's example: [10, 20, 30] / [2, 4, 5] (int32) -> float64 [5., 5., 6.]
    x = tf.constant([10, 20, 30], dtype=tf.int32)
    y = tf.constant([2, 4, 5], dtype=tf.int32)
    assert_array(x / y, np.array([5.0, 5.0, 6.0]), dtype="float64")


def test_truediv_mixed_dtypes_raise():
    with tf.device("/CPU:0"), pytest.raises(TypeError, match=r"\[divide\].*int8.*int16"):
        tf.constant([1], tf.int8) / tf.constant([1], tf.int16)


# ------------------------------------------------------------------- (4) uint64 on the GPU
def test_uint64_beyond_int64_raises_on_the_gpu(gpu):
    big = np.array([2 ** 64 - 1, 5], np.uint64)
    with tf.device("/GPU:0"):
        with pytest.raises(ValueError, match=r"\[to_device\] a uint64 array of shape \(2,\) "
                                             r"holds values >= 2\*\*63"):
            tf.constant(big)
    with tf.device("/CPU:0"):
        t = tf.constant(big)
    assert t.dtype == tf.uint64
    np.testing.assert_array_equal(t.numpy(), big)           # the host keeps them
    with pytest.raises(ValueError, match=r"\[to_device\] a uint64 array"):
        t.cuda()


def test_uint64_within_int64_is_widened_and_kept(gpu):
    from nabi.framework import device as dev
    dev._WIDENED.discard("uint64")
    top = np.array([0, 2 ** 63 - 1], np.uint64)
    with tf.device("/GPU:0"):
        with pytest.warns(UserWarning, match="values are kept"):
            t = tf.constant(top)
    assert t.is_cuda and t.dtype == tf.int64
    np.testing.assert_array_equal(t.numpy(), top.astype(np.int64))
    assert int(t.numpy()[1]) == 2 ** 63 - 1


# ------------------------------------------------------------------- (3) run_functions_eagerly
def test_functions_run_eagerly_flag_is_reported():
    # TF: False by default; True after tf.config.run_functions_eagerly(True).
    assert tf.config.functions_run_eagerly() is False
    m = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    assert m.run_eagerly is False               # Keras 2: the global flag when unset
    tf.config.run_functions_eagerly(True)
    try:
        assert tf.config.functions_run_eagerly() is True
        assert m.run_eagerly is True
        m.run_eagerly = False                   # an explicit setting wins... (Keras 2 rule 2)
        assert m.run_eagerly is False
        m.compile("sgd", "mse")                 # ...until compile resets it (run_eagerly=None)
        assert m.run_eagerly is True
    finally:
        tf.config.run_functions_eagerly(False)
    assert tf.config.functions_run_eagerly() is False
    m.compile("sgd", "mse", run_eagerly=True)
    assert m.run_eagerly is True
    m.compile("sgd", "mse")
    assert m.run_eagerly is False
