"""Pointwise / row-wise kernels and fused optimizer updates of nabi._C, against
independent NumPy references computed in float64."""
import math

import numpy as np
import pytest

from nabi import _C

RNG = np.random.default_rng(1234)
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    return _erf(np.asarray(x, np.float64)).astype(np.float64)


# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------
SELU_A = 1.6732632423543772848170429916717
SELU_S = 1.0507009873554804934193349852946
C_GELU = math.sqrt(2.0 / math.pi)


def np_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ref_act(kind, x, alpha):
    x = x.astype(np.float64)
    if kind == "linear":
        return x.copy()
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "relu6":
        return np.clip(x, 0, 6)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, alpha * x)
    if kind == "elu":
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    if kind == "selu":
        return SELU_S * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0)))
    if kind == "sigmoid":
        return np_sigmoid(x)
    if kind == "tanh":
        return np.tanh(x)
    if kind == "softplus":
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    if kind == "softsign":
        return x / (1 + np.abs(x))
    if kind == "swish":
        return x * np_sigmoid(x)
    if kind == "gelu":
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if kind == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(C_GELU * (x + 0.044715 * x**3)))
    if kind == "hard_sigmoid":
        return np.clip(x + 3, 0, 6) / 6
    if kind == "exponential":
        return np.exp(x)
    raise KeyError(kind)


def ref_act_grad(kind, x, alpha):
    x = x.astype(np.float64)
    one = np.ones_like(x)
    if kind == "linear":
        return one
    if kind == "relu":
        return (x > 0).astype(np.float64)
    if kind == "relu6":
        return ((x > 0) & (x < 6)).astype(np.float64)
    if kind == "leaky_relu":
        return np.where(x > 0, 1.0, alpha)
    if kind == "elu":
        return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))
    if kind == "selu":
        return SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(np.minimum(x, 0)))
    if kind == "sigmoid":
        s = np_sigmoid(x)
        return s * (1 - s)
    if kind == "tanh":
        return 1 - np.tanh(x) ** 2
    if kind == "softplus":
        return np_sigmoid(x)
    if kind == "softsign":
        return 1 / (1 + np.abs(x)) ** 2
    if kind == "swish":
        s = np_sigmoid(x)
        return s + x * s * (1 - s)
    if kind == "gelu":
        return 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    if kind == "gelu_tanh":
        t = np.tanh(C_GELU * (x + 0.044715 * x**3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C_GELU * (1 + 3 * 0.044715 * x * x)
    if kind == "hard_sigmoid":
        return ((x > -3) & (x < 3)) / 6.0
    if kind == "exponential":
        return np.exp(x)
    raise KeyError(kind)


ACTS = [
    ("linear", 0.0), ("relu", 0.0), ("relu6", 0.0), ("leaky_relu", 0.2), ("elu", 1.0),
    ("elu", 0.7), ("selu", 0.0), ("sigmoid", 0.0), ("tanh", 0.0), ("softplus", 0.0),
    ("softsign", 0.0), ("swish", 0.0), ("gelu", 0.0), ("gelu_tanh", 0.0),
    ("hard_sigmoid", 0.0), ("exponential", 0.0),
]


def act_input(shape, kind):
    x = RNG.uniform(-8, 8, size=shape)
    if kind == "exponential":
        x = x / 2
    # Keep away from kinks so that finite differences are meaningful.
    for k in (0.0, 6.0, -3.0, 3.0):
        near = np.abs(x - k) < 1e-2
        x[near] += 0.05
    return x


@pytest.mark.parametrize("kind,alpha", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward_backward(kind, alpha, dtype):
    x64 = act_input((37, 29), kind)
    x = x64.astype(dtype)
    y = _C.activation_forward(kind, x, alpha)
    assert y.dtype == dtype and y.shape == x.shape
    yref = ref_act(kind, x.astype(np.float64), alpha)
    np.testing.assert_allclose(y, yref, **tol(dtype))
    g = RNG.standard_normal(x.shape).astype(dtype)
    dx = _C.activation_backward(kind, g, x, y, alpha)
    assert dx.dtype == dtype and dx.shape == x.shape
    dref = g.astype(np.float64) * ref_act_grad(kind, x.astype(np.float64), alpha)
    t = tol(dtype)
    if dtype == np.float32:
        t = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, dref, **t)


@pytest.mark.parametrize("kind,alpha", ACTS)
def test_activation_backward_finite_differences(kind, alpha):
    x = act_input((5, 7), kind)
    c = RNG.standard_normal(x.shape)
    h = 1e-6
    num = (ref_act(kind, x + h, alpha) - ref_act(kind, x - h, alpha)) / (2 * h) * c
    y = _C.activation_forward(kind, x, alpha)
    dx = _C.activation_backward(kind, c, x, y, alpha)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-7)


def test_activation_large_inputs_stable():
    x = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4])
    for dtype in DTYPES:
        xd = x.astype(dtype)
        for kind in ("sigmoid", "softplus", "swish", "tanh", "gelu", "gelu_tanh", "softsign"):
            y = _C.activation_forward(kind, xd)
            assert np.all(np.isfinite(y)), (kind, dtype, y)
            np.testing.assert_allclose(y, ref_act(kind, x, 0.0), rtol=1e-6, atol=1e-30)
            dx = _C.activation_backward(kind, np.ones_like(xd), xd, y)
            assert np.all(np.isfinite(dx)), (kind, dtype, dx)


def test_activation_relu_conventions():
    x = np.array([-1.0, 0.0, 1e-30, 5.999, 6.0, 7.0])
    y = _C.activation_forward("relu", x)
    assert list(_C.activation_backward("relu", np.ones_like(x), x, y)) == [0, 0, 1, 1, 1, 1]
    y = _C.activation_forward("relu6", x)
    assert list(_C.activation_backward("relu6", np.ones_like(x), x, y)) == [0, 0, 1, 1, 0, 0]
    y = _C.activation_forward("leaky_relu", x, 0.2)
    np.testing.assert_array_equal(_C.activation_backward("leaky_relu", np.ones_like(x), x, y, 0.2),
                                  [0.2, 0.2, 1, 1, 1, 1])


def test_activation_large_threaded_and_shapes():
    x = RNG.standard_normal((3, 4, 50001)).astype(np.float32)
    y = _C.activation_forward("gelu", x)
    np.testing.assert_allclose(y, ref_act("gelu", x, 0.0), rtol=2e-5, atol=1e-6)
    for shape in [(), (0,), (1,), (0, 3)]:
        x = np.ones(shape)
        assert _C.activation_forward("tanh", x).shape == shape


def test_activation_errors():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"^\[activation\] unknown activation 'foo'"):
        _C.activation_forward("foo", x)
    with pytest.raises(ValueError, match=r"^\[activation\] unknown activation 'foo'"):
        _C.activation_backward("foo", x, x, x)
    with pytest.raises(TypeError, match=r"^\[activation\]"):
        _C.activation_forward("relu", np.ones((2, 3), np.int32))
    with pytest.raises(ValueError, match=r"^\[activation\].*C-contiguous"):
        _C.activation_forward("relu", np.ones((4, 3), np.float32)[::2])
    with pytest.raises(ValueError, match=r"^\[activation\].*\(2, 3\).*\(3, 2\)"):
        _C.activation_backward("relu", x, np.ones((3, 2), np.float32), x)
    with pytest.raises(TypeError, match=r"^\[activation\].*float32 vs float64"):
        _C.activation_backward("relu", x, x.astype(np.float64), x)
