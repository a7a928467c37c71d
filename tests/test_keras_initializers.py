"""Keras initializers, regularizers, constraints and activations."""
import importlib
import math
import os
import sys
import types

import numpy as np
import pytest

import nabi as tf


def _mod(name):
    try:
        return importlib.import_module(f"nabi.keras.{name}")
    except ImportError:  # the package __init__ is mid-edit elsewhere: load the submodule alone
        pkg = types.ModuleType("nabi.keras")
        pkg.__path__ = [os.path.join(os.path.dirname(tf.__file__), "keras")]
        sys.modules["nabi.keras"] = pkg
        return importlib.import_module(f"nabi.keras.{name}")


I = _mod("initializers")
Rg = _mod("regularizers")
C = _mod("constraints")
A = _mod("activations")

SHAPE = (400, 300)  # fan_in 400, fan_out 300


@pytest.mark.parametrize("name,std,bound", [
    ("glorot_uniform", math.sqrt(2 / 700), math.sqrt(6 / 700)),
    ("glorot_normal", math.sqrt(2 / 700), 2 * math.sqrt(2 / 700) / 0.8796256610342398),
    ("he_normal", math.sqrt(2 / 400), 2 * math.sqrt(2 / 400) / 0.8796256610342398),
    ("he_uniform", math.sqrt(2 / 400), math.sqrt(6 / 400)),
    ("lecun_normal", math.sqrt(1 / 400), 2 * math.sqrt(1 / 400) / 0.8796256610342398),
    ("lecun_uniform", math.sqrt(1 / 400), math.sqrt(3 / 400)),
    ("uniform", 0.1 / math.sqrt(12), 0.05),
    ("random_uniform", 0.1 / math.sqrt(12), 0.05),
    ("normal", 0.05, None),
    ("random_normal", 0.05, None),
    ("truncated_normal", 0.05 * 0.8796256610342398, 0.1),
])
def test_distribution_statistics(name, std, bound):
    w = I.get(name)(SHAPE)
    assert isinstance(w, tf.Tensor) and w.dtype == tf.float32 and tuple(w.shape) == SHAPE
    a = w.numpy().astype(np.float64)
    assert abs(a.mean()) < 5 * std / math.sqrt(a.size)
    np.testing.assert_allclose(a.std(), std, rtol=0.03)
    if bound is not None:
        assert np.abs(a).max() <= bound * (1 + 1e-6)


def test_conv_kernel_fans():
    assert I.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert I.compute_fans((5,)) == (5, 5)
    assert I.compute_fans(()) == (1, 1)
    w = I.HeUniform()((3, 3, 64, 64)).numpy()
    assert np.abs(w).max() <= math.sqrt(6 / 576) * (1 + 1e-6)
    np.testing.assert_allclose(w.std(), math.sqrt(2 / 576), rtol=0.05)


def test_constants_identity_orthogonal():
    np.testing.assert_array_equal(I.get("zeros")((2, 3)).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.get("ones")((4,), dtype="float64").numpy(), np.ones(4))
    assert I.Ones()((2,), dtype=tf.float64).dtype == tf.float64
    np.testing.assert_array_equal(I.Constant(3.5)((2, 2)).numpy(), np.full((2, 2), 3.5))
    np.testing.assert_array_equal(I.Identity(gain=2.0)((3, 3)).numpy(), 2 * np.eye(3))
    for shape in [(6, 4), (4, 6), (2, 3, 8)]:
        q = I.Orthogonal(gain=1.5)(shape).numpy().reshape(-1, shape[-1]).astype(np.float64)
        if q.shape[0] >= q.shape[1]:
            np.testing.assert_allclose(q.T @ q, 2.25 * np.eye(q.shape[1]), atol=1e-5)
        else:
            np.testing.assert_allclose(q @ q.T, 2.25 * np.eye(q.shape[0]), atol=1e-5)
    big = I.Orthogonal()((64, 256)).numpy()
    np.testing.assert_allclose(big @ big.T, np.eye(64), atol=1e-5)


def test_seeds_reproducible():
    for name in ["glorot_uniform", "he_normal", "random_normal", "truncated_normal", "orthogonal"]:
        cls = type(I.get(name))
        a = cls(seed=7)((20, 10)).numpy()
        b = cls(seed=7)((20, 10)).numpy()
        c = cls(seed=8)((20, 10)).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    tf.random.set_seed(123)
    a = [I.GlorotUniform()((5, 5)).numpy(), I.RandomNormal()((3,)).numpy()]
    tf.random.set_seed(123)
    b = [I.GlorotUniform()((5, 5)).numpy(), I.RandomNormal()((3,)).numpy()]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(I.GlorotUniform()((5, 5)).numpy(), a[0])


def test_get_serialize():
    g = I.get("glorot_uniform")
    assert isinstance(g, I.GlorotUniform)
    assert isinstance(I.get("GlorotUniform"), I.GlorotUniform)
    cfg = I.serialize(I.VarianceScaling(2.0, "fan_out", "uniform", seed=3))
    v = I.deserialize(cfg)
    assert (v.scale, v.mode, v.distribution, v.seed) == (2.0, "fan_out", "uniform", 3)
    assert I.deserialize(I.serialize(I.RandomUniform(-1, 1))).maxval == 1
    assert I.get(g) is g
    f = lambda shape, dtype=None: tf.zeros(shape)  # noqa: E731
    assert I.get(f) is f
    with pytest.raises(ValueError):
        I.get("nope")


def test_regularizers():
    w = tf.Variable(np.array([[1.0, -2.0], [3.0, 0.5]], np.float32))
    with tf.GradientTape() as tape:
        r = Rg.L1L2(l1=0.1, l2=0.01)(w)
    np.testing.assert_allclose(float(r), 0.1 * 6.5 + 0.01 * 14.25, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(r, w).numpy(),
                               0.1 * np.sign(w.numpy()) + 0.02 * w.numpy(), rtol=1e-6)
    assert math.isclose(float(Rg.l2(0.5)(w)), 0.5 * 14.25, rel_tol=1e-6)
    assert math.isclose(float(Rg.L1()(w)), 0.01 * 6.5, rel_tol=1e-6)
    assert Rg.get("l2").l2 == 0.01
    r2 = Rg.deserialize(Rg.serialize(Rg.L1L2(l1=0.3, l2=0.2)))
    assert (r2.l1, r2.l2) == (0.3, 0.2)
    assert float(Rg.OrthogonalRegularizer()(np.eye(3, dtype=np.float32))) == 0.0


def test_constraints():
    w = np.array([[3.0, 0.1], [4.0, -0.2]], np.float32)
    np.testing.assert_allclose(C.MaxNorm(1.0)(w).numpy(), [[0.6, 0.1 / (1e-7 + 0.2236068) * 0.2236068],
                                                           [0.8, -0.2]], rtol=1e-5)
    np.testing.assert_allclose(C.NonNeg()(w).numpy(), [[3.0, 0.1], [4.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(C.UnitNorm()(w).numpy(), axis=0), [1, 1], rtol=1e-5)
    n = np.linalg.norm(C.MinMaxNorm(0.5, 1.0)(w).numpy(), axis=0)
    np.testing.assert_allclose(n, [1.0, 0.5], rtol=1e-5)
    assert isinstance(C.get("non_neg"), C.NonNeg)
    assert C.deserialize(C.serialize(C.MaxNorm(3, axis=1))).max_value == 3


def test_activations():
    x = np.linspace(-4, 4, 17).astype(np.float32)
    ref = {
        "linear": x, "relu": np.maximum(x, 0), "sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x),
        "elu": np.where(x > 0, x, np.expm1(x)), "softplus": np.log1p(np.exp(x)),
        "softsign": x / (1 + np.abs(x)), "swish": x / (1 + np.exp(-x)),
        "silu": x / (1 + np.exp(-x)), "leaky_relu": np.where(x > 0, x, 0.2 * x),
        "relu6": np.clip(x, 0, 6), "exponential": np.exp(x),
        "hard_sigmoid": np.clip(x / 6 + 0.5, 0, 1),
        "selu": 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        "mish": x * np.tanh(np.log1p(np.exp(x))),
        "gelu": 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    }
    for name, r in ref.items():
        f = A.get(name)
        np.testing.assert_allclose(f(tf.constant(x)).numpy(), r, rtol=1e-5, atol=1e-6, err_msg=name)
        assert A.serialize(f) in (name, "swish" if name == "silu" else name)
    z = np.array([[1.0, 2.0, 3.0]], np.float32)
    sm = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(A.softmax(z).numpy(), sm, rtol=1e-6)
    np.testing.assert_allclose(A.log_softmax(z).numpy(), np.log(sm), rtol=1e-5)
    np.testing.assert_allclose(A.relu(x, max_value=2.0).numpy(), np.clip(x, 0, 2))
    np.testing.assert_allclose(A.relu(x, threshold=1.0).numpy(), np.where(x > 1, x, 0))
    np.testing.assert_allclose(A.relu(x, negative_slope=0.1).numpy(), np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    np.testing.assert_allclose(A.relu(x, negative_slope=0.1, max_value=3.0).numpy(),
                               np.where(x > 0, np.minimum(x, 3), 0.1 * x), rtol=1e-6)
    assert A.get(None) is A.linear and A.get("relu").__name__ == "relu"
    assert A.deserialize("tanh") is A.tanh
    with pytest.raises(ValueError):
        A.get("nope")
    # differentiable
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(A.mish(v))
    assert np.all(np.isfinite(tape.gradient(y, v).numpy()))
