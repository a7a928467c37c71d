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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.2, -0.5, 1.5])
def test_leaky_relu_special_values_and_long_arrays(dtype, alpha):
    """Leaky ReLU's vectorised select (activations.cpp is built with -fno-trapping-math):
    NaN stays NaN in both directions, infinities and signed zeros follow x >= 0 ? x : a*x, a
    negative or > 1 slope included, over a length that is not a multiple of any vector width
    and is split between threads."""
    special = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -2.0, 3.0, -1e-30], dtype)
    x = np.concatenate([special, RNG.standard_normal(100003).astype(dtype)])
    y = _C.activation_forward("leaky_relu", x, alpha)
    a = dtype(alpha)
    ref = np.where(x >= 0, x, a * x)
    np.testing.assert_array_equal(y, ref)
    assert np.isnan(y[0])
    g = RNG.standard_normal(x.shape).astype(dtype)
    g[1] = np.nan
    dx = _C.activation_backward("leaky_relu", g, x, y, alpha)
    np.testing.assert_array_equal(dx, np.where(x > 0, g, a * g))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["relu", "relu6"])
def test_relu_backward_special_values_and_long_arrays(dtype, kind):
    """ReLU / ReLU6 backward's vectorised select: g where y is in (0, inf) / (0, 6), else 0
    (a NaN or signed-zero y gives 0, a NaN g passes where the slope is 1), over random signs
    (a per-element branch mispredicts there) and a length split between threads."""
    special = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 6.0, 5.5, 1e-30], dtype)
    y = np.concatenate([special, RNG.standard_normal(100003).astype(dtype) * 4])
    g = RNG.standard_normal(y.shape).astype(dtype)
    g[6] = np.nan
    g[9] = np.nan
    dx = _C.activation_backward(kind, g, y, y)
    keep = (y > 0) if kind == "relu" else ((y > 0) & (y < 6))
    np.testing.assert_array_equal(dx, np.where(keep, g, dtype(0)))


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


# ---------------------------------------------------------------------------------------
# Softmax / log-softmax
# ---------------------------------------------------------------------------------------
def ref_log_softmax(x):
    x = x.astype(np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return (x - m) - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def ref_softmax(x):
    return np.exp(ref_log_softmax(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1), (5, 13), (3, 4, 37), (2, 300)])
def test_softmax_fwd_bwd(dtype, shape):
    x = (RNG.standard_normal(shape) * 3).astype(dtype)
    g = RNG.standard_normal(shape).astype(dtype)
    y = _C.softmax_forward(x)
    yr = ref_softmax(x)
    np.testing.assert_allclose(y, yr, **tol(dtype))
    dx = _C.softmax_backward(g, y)
    g64 = g.astype(np.float64)
    dref = yr * (g64 - np.sum(g64 * yr, axis=-1, keepdims=True))
    np.testing.assert_allclose(dx, dref, rtol=1e-4 if dtype == np.float32 else 1e-11,
                               atol=1e-6 if dtype == np.float32 else 1e-13)
    ly = _C.log_softmax_forward(x)
    lr = ref_log_softmax(x)
    np.testing.assert_allclose(ly, lr, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-13)
    ldx = _C.log_softmax_backward(g, ly)
    ldref = g64 - np.exp(lr) * np.sum(g64, axis=-1, keepdims=True)
    np.testing.assert_allclose(ldx, ldref, rtol=1e-4 if dtype == np.float32 else 1e-11,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_softmax_backward_finite_differences():
    x = RNG.standard_normal((3, 6))
    c = RNG.standard_normal((3, 6))
    h = 1e-6
    for fwd, bwd, ref in [(_C.softmax_forward, _C.softmax_backward, ref_softmax),
                          (_C.log_softmax_forward, _C.log_softmax_backward, ref_log_softmax)]:
        num = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += h
            xm[idx] -= h
            num[idx] = (np.sum(ref(xp) * c) - np.sum(ref(xm) * c)) / (2 * h)
        np.testing.assert_allclose(bwd(c, fwd(x)), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_inf_and_huge(dtype):
    x = np.array([[1.0, -np.inf, 2.0, -np.inf],
                  [-np.inf, -np.inf, -np.inf, 0.5],
                  [1e4, -1e4, 1e4 - 1, 0.0],
                  [-1e4, -1e4 + 2, -1e4 + 1, -1e4]], dtype=dtype)
    y = _C.softmax_forward(x)
    assert np.all(np.isfinite(y))
    assert y[0, 1] == 0 and y[0, 3] == 0 and y[1, 3] == 1
    finite = np.where(np.isfinite(x), x.astype(np.float64), -1e300)
    np.testing.assert_allclose(y, ref_softmax(finite), **tol(dtype))
    ly = _C.log_softmax_forward(x)
    assert ly[0, 1] == -np.inf and ly[1, 0] == -np.inf
    fin = np.isfinite(ly)
    np.testing.assert_allclose(ly[fin], ref_log_softmax(finite)[fin], **tol(dtype))
    g = np.ones_like(x)
    dx = _C.softmax_backward(g, y)
    assert np.all(np.isfinite(dx))
    ldx = _C.log_softmax_backward(g, ly)
    assert np.all(np.isfinite(ldx))
    # A row of all -inf has no finite max: NaN, as in TF.
    assert np.all(np.isnan(_C.softmax_forward(np.full((1, 3), -np.inf, dtype))))


def test_softmax_large_threaded():
    x = RNG.standard_normal((4096, 65)).astype(np.float32)
    np.testing.assert_allclose(_C.softmax_forward(x), ref_softmax(x), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(_C.log_softmax_forward(x), ref_log_softmax(x), rtol=1e-5,
                               atol=1e-5)


def test_softmax_errors():
    with pytest.raises(ValueError, match=r"^\[softmax\]"):
        _C.softmax_forward(np.ones((), np.float32))
    with pytest.raises(TypeError, match=r"^\[softmax\]"):
        _C.softmax_forward(np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"^\[softmax\].*C-contiguous"):
        _C.softmax_forward(np.ones((3, 4)).T)
    with pytest.raises(ValueError, match=r"^\[log_softmax\].*\(2, 3\).*\(2, 4\)"):
        _C.log_softmax_backward(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(TypeError, match=r"^\[softmax\]"):
        _C.softmax_backward(np.ones((2, 3)), np.ones((2, 3), np.float32))


# ---------------------------------------------------------------------------------------
# Fused losses
# ---------------------------------------------------------------------------------------
def ref_softmax_xent(labels, logits):
    z = labels.astype(np.float64)
    ls = ref_log_softmax(logits)
    terms = np.where(z != 0, -z * np.where(np.isfinite(ls), ls, 0.0), 0.0)
    return terms.sum(-1), ref_softmax(logits) - z


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent(dtype):
    rows, cols = 9, 11
    logits = (RNG.standard_normal((rows, cols)) * 4).astype(dtype)
    soft = RNG.uniform(0, 1, (rows, cols))
    soft /= soft.sum(1, keepdims=True)
    labels = soft.astype(dtype)
    loss, bp = _C.softmax_xent_forward(labels, logits)
    assert loss.shape == (rows,) and bp.shape == (rows, cols) and loss.dtype == dtype
    lr, bpr = ref_softmax_xent(labels, logits)
    t = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss, lr, **t)
    np.testing.assert_allclose(bp, bpr, **t)
    # Labels that do not sum to one: backprop stays softmax - labels (TF).
    labels2 = (soft * 3).astype(dtype)
    loss2, bp2 = _C.softmax_xent_forward(labels2, logits)
    lr2, bpr2 = ref_softmax_xent(labels2, logits)
    np.testing.assert_allclose(loss2, lr2, **t)
    np.testing.assert_allclose(bp2, bpr2, **t)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_huge_and_inf(dtype):
    logits = np.array([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4 + 3, -1e4, -1e4],
                       [2.0, -np.inf, 1.0, 0.0]], dtype)
    labels = np.array([[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25],
                       [0.5, 0.0, 0.5, 0.0]], dtype)
    loss, bp = _C.softmax_xent_forward(labels, logits)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(bp))
    lr, bpr = ref_softmax_xent(labels, np.where(np.isfinite(logits), logits.astype(np.float64), -1e300))
    np.testing.assert_allclose(loss, lr, rtol=1e-6)
    np.testing.assert_allclose(bp, bpr, rtol=1e-6, atol=1e-7)
    assert loss[0] == pytest.approx(2e4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ldtype", [np.int32, np.int64])
def test_sparse_softmax_xent(dtype, ldtype):
    rows, cols = 13, 5
    logits = (RNG.standard_normal((rows, cols)) * 3).astype(dtype)
    logits[0] = [1e4, -1e4, 0, 3, 9999]
    labels = RNG.integers(0, cols, rows).astype(ldtype)
    loss, bp = _C.sparse_softmax_xent_forward(labels, logits)
    onehot = np.eye(cols)[labels]
    lr, bpr = ref_softmax_xent(onehot, logits)
    t = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss, lr, **t)
    np.testing.assert_allclose(bp, bpr, **t)
    assert np.all(np.isfinite(loss))


def test_sparse_softmax_xent_errors():
    logits = np.zeros((5, 5), np.float32)
    labels = np.array([0, 1, 2, 7, 4], np.int64)
    msg = r"^\[sparse_softmax_cross_entropy_with_logits\] label 7 at row 3 is outside \[0, 5\)"
    with pytest.raises(ValueError, match=msg):
        _C.sparse_softmax_xent_forward(labels, logits)
    with pytest.raises(ValueError, match=r"label -1 at row 0"):
        _C.sparse_softmax_xent_forward(np.array([-1, 0, 0, 0, 0], np.int32), logits)
    with pytest.raises(TypeError, match=r"^\[sparse_softmax_cross_entropy_with_logits\]"):
        _C.sparse_softmax_xent_forward(labels.astype(np.float32), logits)
    with pytest.raises(ValueError, match=r"^\[sparse_softmax_cross_entropy_with_logits\].*\(4,\)"):
        _C.sparse_softmax_xent_forward(labels[:4].copy(), logits)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_xent(dtype):
    x = np.concatenate([RNG.standard_normal(50) * 5, [1e4, -1e4, 0.0, 80.0, -80.0]])
    z = np.concatenate([RNG.uniform(0, 1, 50), [0.0, 1.0, 0.5, 0.3, 0.7]])
    x, z = x.astype(dtype).reshape(5, 11), z.astype(dtype).reshape(5, 11)
    loss, bp = _C.sigmoid_xent_forward(z, x)
    x64, z64 = x.astype(np.float64), z.astype(np.float64)
    lr = np.maximum(x64, 0) - x64 * z64 + np.log1p(np.exp(-np.abs(x64)))
    np.testing.assert_allclose(loss, lr, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(bp, np_sigmoid(x64) - z64, **tol(dtype))
    assert np.all(np.isfinite(loss))
    with pytest.raises(ValueError, match=r"^\[sigmoid_cross_entropy_with_logits\]"):
        _C.sigmoid_xent_forward(z[:2], x)
    with pytest.raises(ValueError, match=r"^\[softmax_cross_entropy_with_logits\]"):
        _C.softmax_xent_forward(z[:, :3].copy(), x)


# ---------------------------------------------------------------------------------------
# Bias add
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (1, 1), (7, 13), (3, 5, 7), (0, 4), (2, 1, 1)])
def test_bias_add(dtype, shape):
    x = RNG.standard_normal(shape).astype(dtype)
    b = RNG.standard_normal(shape[-1]).astype(dtype)
    np.testing.assert_array_equal(_C.bias_add_forward(x, b), x + b)
    db = _C.bias_add_backward(x)
    assert db.shape == (shape[-1],) and db.dtype == dtype
    ref = x.astype(np.float64).reshape(-1, shape[-1]).sum(0)
    np.testing.assert_allclose(db, ref, **tol(dtype))


def test_bias_add_backward_large_accurate():
    # float32 with a big constant offset: naive float32 running sums lose digits.
    g = (RNG.standard_normal((200003, 3)) + 1000.0).astype(np.float32)
    ref = g.astype(np.float64).sum(0)
    np.testing.assert_allclose(_C.bias_add_backward(g), ref, rtol=1e-7)
    g2 = RNG.standard_normal((3, 20011)).astype(np.float32)
    np.testing.assert_allclose(_C.bias_add_backward(g2), g2.astype(np.float64).sum(0), rtol=1e-6)


def test_bias_add_errors():
    with pytest.raises(ValueError, match=r"^\[bias_add\].*\(4,\).*\(2, 3\)"):
        _C.bias_add_forward(np.ones((2, 3)), np.ones(4))
    with pytest.raises(TypeError, match=r"^\[bias_add\]"):
        _C.bias_add_forward(np.ones((2, 3)), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"^\[bias_add\]"):
        _C.bias_add_forward(np.ones((2, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"^\[bias_add\].*C-contiguous"):
        _C.bias_add_backward(np.ones((3, 2)).T)


# ---------------------------------------------------------------------------------------
# Fused dense
# ---------------------------------------------------------------------------------------
DENSE_ACTS = [("linear", 0.0), ("relu", 0.0), ("sigmoid", 0.0), ("tanh", 0.0), ("elu", 1.0),
              ("gelu", 0.0), ("swish", 0.0), ("leaky_relu", 0.2), ("softmax", 0.0),
              ("selu", 0.0), ("softplus", 0.0)]
Y_SUFFICES = {"linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "leaky_relu",
              "hard_sigmoid", "exponential"}


def ref_dense(x, w, b, kind, alpha):
    z = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        z = z + b
    y = ref_softmax(z) if kind == "softmax" else ref_act(kind, z, alpha)
    return y, z


def ref_dense_backward(g, x, w, z, kind, alpha):
    g = g.astype(np.float64)
    if kind == "softmax":
        y = ref_softmax(z)
        dz = y * (g - np.sum(g * y, axis=1, keepdims=True))
    else:
        dz = g * ref_act_grad(kind, z, alpha)
    return dz @ w.T, x.astype(np.float64).T @ dz, dz.sum(0)


@pytest.mark.parametrize("kind,alpha", DENSE_ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,K,N,bias", [(1, 7, 5, True), (13, 17, 11, True), (31, 3, 1, False),
                                        (64, 37, 29, True)])
def test_dense(kind, alpha, dtype, M, K, N, bias):
    x = RNG.standard_normal((M, K)).astype(dtype)
    w = (RNG.standard_normal((K, N)) / math.sqrt(K)).astype(dtype)
    b = RNG.standard_normal(N).astype(dtype) if bias else None
    y, z = _C.dense_forward(x, w, b, kind, alpha)
    yr, zr = ref_dense(x, w, b, kind, alpha)
    t = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert y.dtype == dtype and y.shape == (M, N)
    np.testing.assert_allclose(y, yr, **t)
    assert _C.dense_keeps_z(kind, alpha) == (kind not in Y_SUFFICES)
    if kind in Y_SUFFICES:
        assert z is None
    else:
        assert z.shape == (M, N) and z.dtype == dtype
        np.testing.assert_allclose(z, zr, **t)
    g = RNG.standard_normal((M, N)).astype(dtype)
    dx, dw, db = _C.dense_backward(g, x, w, y, z, kind, alpha, True, bias)
    dxr, dwr, dbr = ref_dense_backward(g, x, w, zr, kind, alpha)
    t = dict(rtol=2e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dx, dxr, **t)
    np.testing.assert_allclose(dw, dwr, **t)
    if bias:
        np.testing.assert_allclose(db, dbr, **t)
    else:
        assert db is None
    dx2, dw2, db2 = _C.dense_backward(g, x, w, y, z, kind, alpha, False, False)
    assert dx2 is None and db2 is None
    np.testing.assert_array_equal(dw2, dw)


def test_dense_large_matches_reference():
    x = RNG.standard_normal((257, 131)).astype(np.float32)
    w = (RNG.standard_normal((131, 67)) / 10).astype(np.float32)
    b = RNG.standard_normal(67).astype(np.float32)
    y, z = _C.dense_forward(x, w, b, "gelu")
    yr, zr = ref_dense(x, w, b, "gelu", 0.0)
    np.testing.assert_allclose(y, yr, rtol=1e-4, atol=1e-5)
    g = RNG.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = _C.dense_backward(g, x, w, None, z, "gelu", 0.0, True, True)
    dxr, dwr, dbr = ref_dense_backward(g, x, w, zr, "gelu", 0.0)
    np.testing.assert_allclose(dx, dxr, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(dw, dwr, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, dbr, rtol=1e-4, atol=1e-4)


def test_dense_errors():
    x = np.ones((100, 783), np.float32)
    w = np.ones((784, 256), np.float32)
    with pytest.raises(ValueError, match=r"^\[dense\] input \(100, 783\) does not match kernel \(784, 256\)"):
        _C.dense_forward(x, w, None, "relu")
    x = np.ones((4, 3), np.float32)
    w = np.ones((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"^\[dense\] bias \(4,\) does not match kernel \(3, 5\)"):
        _C.dense_forward(x, w, np.ones(4, np.float32), "relu")
    with pytest.raises(TypeError, match=r"^\[dense\]"):
        _C.dense_forward(x, w.astype(np.float64), None, "relu")
    with pytest.raises(ValueError, match=r"^\[dense\] unknown activation 'foo'"):
        _C.dense_forward(x, w, None, "foo")
    with pytest.raises(ValueError, match=r"^\[dense\].*C-contiguous"):
        _C.dense_forward(np.ones((3, 4), np.float32).T, w, None, "relu")
    y, z = _C.dense_forward(x, w, None, "gelu")
    with pytest.raises(ValueError, match=r"^\[dense\].*needs z"):
        _C.dense_backward(y, x, w, y, None, "gelu", 0.0, True, False)
    with pytest.raises(ValueError, match=r"^\[dense\] grad_y \(4, 4\)"):
        _C.dense_backward(np.ones((4, 4), np.float32), x, w, y, z, "gelu", 0.0, True, False)


# ---------------------------------------------------------------------------------------
# Fused optimizer updates (NumPy transcriptions of the Keras 3 update_step rules)
# ---------------------------------------------------------------------------------------
def np_sgd(p, g, s, lr, momentum, nesterov, t):
    if not s:
        return p - lr * g
    m = momentum * s["m"] - lr * g
    s["m"] = m
    return p + (momentum * m - lr * g if nesterov else m)


def np_adam(p, g, s, lr, b1, b2, eps, t, amsgrad=False, wd=0.0):
    p = p - p * wd * lr
    alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["v"] = s["v"] + (g * g - s["v"]) * (1 - b2)
    v = s["v"]
    if amsgrad:
        s["vh"] = np.maximum(s["vh"], s["v"])
        v = s["vh"]
    return p - s["m"] * alpha / (np.sqrt(v) + eps)


def np_rmsprop(p, g, s, lr, rho, momentum, eps, centered):
    s["vel"] = rho * s["vel"] + (1 - rho) * g * g
    if centered:
        s["avg"] = rho * s["avg"] + (1 - rho) * g
        den = s["vel"] - s["avg"] ** 2 + eps
    else:
        den = s["vel"] + eps
    inc = lr * g / np.sqrt(den)
    if momentum > 0:
        s["mom"] = momentum * s["mom"] + inc
        return p - s["mom"]
    return p - inc


def np_adagrad(p, g, s, lr, eps):
    s["acc"] = s["acc"] + g * g
    return p - lr * g / np.sqrt(s["acc"] + eps)


def np_adadelta(p, g, s, lr, rho, eps):
    s["ag"] = rho * s["ag"] + (1 - rho) * g * g
    delta = -np.sqrt(s["ad"] + eps) * g / np.sqrt(s["ag"] + eps)
    s["ad"] = rho * s["ad"] + (1 - rho) * delta * delta
    return p + lr * delta


def np_adamax(p, g, s, lr, b1, b2, eps, t):
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["u"] = np.maximum(b2 * s["u"], np.abs(g))
    return p - lr * s["m"] / ((1 - b1**t) * (s["u"] + eps))


def np_nadam(p, g, s, lr, b1, b2, eps, t, u_product_t):
    # u_product_t already includes this step's factor (Keras updates it before the vars).
    u_t = b1 * (1 - 0.5 * 0.96**t)
    u_t_1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
    u_product_t_1 = u_product_t * u_t_1
    s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
    s["v"] = s["v"] + (g * g - s["v"]) * (1 - b2)
    m_hat = u_t_1 * s["m"] / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product_t)
    v_hat = s["v"] / (1 - b2**t)
    return p - m_hat * lr / (np.sqrt(v_hat) + eps)


SHAPES = [(3, 4), (5,)]


def make_problem(dtype, state_names):
    params = [RNG.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[RNG.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(3)]
    states = {k: [np.zeros(s, dtype) for s in SHAPES] for k in state_names}
    ref_params = [p.astype(np.float64) for p in params]
    ref_states = [{k: np.zeros(s) for k in state_names} for s in SHAPES]
    return params, grads, states, ref_params, ref_states


def opt_tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def run_opt(dtype, state_names, call, ref_step):
    params, grads, states, ref_params, ref_states = make_problem(dtype, state_names)
    ids = [id(p) for p in params]
    for step in range(1, 4):
        out = call(params, grads[step - 1], states, step)
        for i in range(len(SHAPES)):
            ref_params[i] = ref_step(ref_params[i], grads[step - 1][i].astype(np.float64),
                                     ref_states[i], step, out)
        for i in range(len(SHAPES)):
            np.testing.assert_allclose(params[i], ref_params[i], **opt_tol(dtype))
            for k in state_names:
                np.testing.assert_allclose(states[k][i], ref_states[i][k], **opt_tol(dtype))
    assert [id(p) for p in params] == ids  # updated in place
    return params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_update(dtype, momentum, nesterov):
    names = ["m"] if momentum else []
    run_opt(dtype, names,
            lambda p, g, s, t: _C.sgd_update(p, g, s["m"] if momentum else None, 0.1, momentum,
                                             nesterov),
            lambda p, g, s, t, _: np_sgd(p, g, s, 0.1, momentum, nesterov, t))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_update(dtype, amsgrad):
    names = ["m", "v"] + (["vh"] if amsgrad else [])
    run_opt(dtype, names,
            lambda p, g, s, t: _C.adam_update(p, g, s["m"], s["v"], s["vh"] if amsgrad else None,
                                              0.01, 0.9, 0.999, 1e-7, t),
            lambda p, g, s, t, _: np_adam(p, g, s, 0.01, 0.9, 0.999, 1e-7, t, amsgrad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_update(dtype):
    run_opt(dtype, ["m", "v"],
            lambda p, g, s, t: _C.adamw_update(p, g, s["m"], s["v"], None, 0.01, 0.9, 0.999,
                                               1e-7, t, 0.004),
            lambda p, g, s, t, _: np_adam(p, g, s, 0.01, 0.9, 0.999, 1e-7, t, False, 0.004))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.9, False), (0.0, True),
                                               (0.5, True)])
def test_rmsprop_update(dtype, momentum, centered):
    names = ["vel"] + (["mom"] if momentum else []) + (["avg"] if centered else [])
    run_opt(dtype, names,
            lambda p, g, s, t: _C.rmsprop_update(p, g, s["vel"], s["mom"] if momentum else None,
                                                 s["avg"] if centered else None, 0.01, 0.9,
                                                 momentum, 1e-7, centered),
            lambda p, g, s, t, _: np_rmsprop(p, g, s, 0.01, 0.9, momentum, 1e-7, centered))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adagrad_update(dtype):
    def call(p, g, s, t):
        if t == 1:
            for a in s["acc"]:
                a[...] = 0.1  # Keras initial_accumulator_value
        return _C.adagrad_update(p, g, s["acc"], 0.05, 1e-7)

    def ref(p, g, s, t, _):
        if t == 1:
            s["acc"] = s["acc"] + 0.1
        return np_adagrad(p, g, s, 0.05, 1e-7)

    run_opt(dtype, ["acc"], call, ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adadelta_update(dtype):
    run_opt(dtype, ["ag", "ad"],
            lambda p, g, s, t: _C.adadelta_update(p, g, s["ag"], s["ad"], 1.0, 0.95, 1e-7),
            lambda p, g, s, t, _: np_adadelta(p, g, s, 1.0, 0.95, 1e-7))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamax_update(dtype):
    run_opt(dtype, ["m", "u"],
            lambda p, g, s, t: _C.adamax_update(p, g, s["m"], s["u"], 0.002, 0.9, 0.999, 1e-7, t),
            lambda p, g, s, t, _: np_adamax(p, g, s, 0.002, 0.9, 0.999, 1e-7, t))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nadam_update(dtype):
    u = {"prod": 1.0}
    expected = {"prod": 1.0}

    def call(p, g, s, t):
        new = _C.nadam_update(p, g, s["m"], s["v"], 0.002, 0.9, 0.999, 1e-7, t, u["prod"])
        expected["prod"] *= 0.9 * (1 - 0.5 * 0.96**t)
        assert new == pytest.approx(expected["prod"], rel=1e-14)
        u["prod"] = new
        return new

    run_opt(dtype, ["m", "v"], call,
            lambda p, g, s, t, new: np_nadam(p, g, s, 0.002, 0.9, 0.999, 1e-7, t, new))


def test_optimizer_large_tensor_threaded():
    p = RNG.standard_normal(300007).astype(np.float32)
    g = RNG.standard_normal(300007).astype(np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    ref = np_adam(p.astype(np.float64), g.astype(np.float64), {"m": 0.0, "v": 0.0}, 0.01, 0.9,
                  0.999, 1e-7, 1)
    _C.adam_update([p], [g], [m], [v], None, 0.01, 0.9, 0.999, 1e-7, 1)
    np.testing.assert_allclose(p, ref, rtol=2e-5, atol=2e-6)


def test_global_norm():
    gs = [RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal(200001)]
    ref = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in gs))
    assert _C.global_norm(gs) == pytest.approx(ref, rel=1e-12)
    assert _C.clip_by_global_norm_scale(gs, 1.0) == pytest.approx(ref, rel=1e-12)
    assert _C.global_norm([]) == 0.0
    with pytest.raises(ValueError, match=r"^\[clip_by_global_norm\]"):
        _C.clip_by_global_norm_scale(gs, 0.0)


def test_optimizer_errors():
    p = [np.zeros((2, 3), np.float32), np.zeros(4, np.float32)]
    g = [np.ones((2, 3), np.float32), np.ones(4, np.float32)]
    st = lambda: [np.zeros_like(a) for a in p]  # noqa: E731
    args = (0.01, 0.9, 0.999, 1e-7, 1)
    # list length mismatch
    with pytest.raises(ValueError, match=r"^\[adam\] list lengths differ"):
        _C.adam_update(p, g[:1], st(), st(), None, *args)
    # wrong dtype
    with pytest.raises(TypeError, match=r"^\[adam\] params\[1\] and grads\[1\] dtypes differ: float32 vs float64"):
        _C.adam_update(p, [g[0], g[1].astype(np.float64)], st(), st(), None, *args)
    with pytest.raises(TypeError, match=r"^\[sgd\] params\[0\] must be float32 or float64"):
        _C.sgd_update([np.zeros(3, np.int32)], [np.zeros(3, np.int32)], None, 0.1, 0.0, False)
    # mismatched shapes
    with pytest.raises(ValueError, match=r"^\[adam\] params\[1\] and vs\[1\] shapes differ: \(4,\) vs \(5,\)"):
        _C.adam_update(p, g, st(), [np.zeros((2, 3), np.float32), np.zeros(5, np.float32)],
                       None, *args)
    # non-contiguous
    nc = np.zeros((4, 6), np.float32)[:, ::2]
    with pytest.raises(ValueError, match=r"^\[adagrad\] grads\[0\] must be C-contiguous"):
        _C.adagrad_update([np.zeros((4, 3), np.float32)], [nc], [np.zeros((4, 3), np.float32)],
                          0.1, 1e-7)
    # read-only param
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"^\[rmsprop\] params\[0\] is read-only"):
        _C.rmsprop_update([ro], [np.ones(4, np.float32)], [np.zeros(4, np.float32)], None, None,
                          0.01, 0.9, 0.0, 1e-7, False)
    with pytest.raises(ValueError, match=r"^\[adam\] step t must be >= 1"):
        _C.adam_update(p, g, st(), st(), None, 0.01, 0.9, 0.999, 1e-7, 0)
    with pytest.raises(TypeError, match=r"^\[nadam\] ms\[0\] must be a NumPy array"):
        _C.nadam_update(p, g, [1.0, 2.0], st(), 0.01, 0.9, 0.999, 1e-7, 1, 1.0)
    with pytest.raises(ValueError, match=r"^\[sgd\] momentum"):
        _C.sgd_update(p, g, None, 0.1, 0.9, False)
    # Validation happens before any update: nothing changed after the failures above.
    assert all(np.all(a == 0) for a in p)
    # A failure on the second tensor leaves the first untouched too.
    with pytest.raises(ValueError):
        _C.sgd_update(p, [g[0], np.ones(5, np.float32)], None, 0.1, 0.0, False)
    assert np.all(p[0] == 0)
