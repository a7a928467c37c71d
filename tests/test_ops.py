"""Every op: forward vs the NumPy reference (float32 and float64), gradients vs the
reference backward and vs float64 central differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nabi
import reference as ref
from helpers import assert_array, fd_check, tape_grads

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float64, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, shape).astype(dtype)


BROADCAST_CASES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                   ((1,), (5, 2)), ((), (2, 3)), ((7, 1, 13), (1, 5, 1))]

BINARY = {
    "add": (nabi.add, np.add, lambda g, a, b: (g, g)),
    "subtract": (nabi.subtract, np.subtract, lambda g, a, b: (g, -g)),
    "multiply": (nabi.multiply, np.multiply, lambda g, a, b: (g * b, g * a)),
    "divide": (nabi.divide, np.divide, lambda g, a, b: (g / b, -g * a / b ** 2)),
    "maximum": (nabi.maximum, np.maximum, lambda g, a, b: (g * (a >= b), g * (a < b))),
    "minimum": (nabi.minimum, np.minimum, lambda g, a, b: (g * (a <= b), g * (a > b))),
    "pow": (nabi.pow, np.power, lambda g, a, b: (g * b * a ** (b - 1), g * a ** b * np.log(a))),
    "squared_difference": (nabi.squared_difference, lambda a, b: (a - b) ** 2,
                           lambda g, a, b: (2 * g * (a - b), -2 * g * (a - b))),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa,sb", BROADCAST_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_forward_and_grad(name, sa, sb, dtype):
    f, npf, bwd = BINARY[name]
    lo = 0.5 if name in ("pow", "divide") else -2.0
    a, b = rand(*sa, dtype=dtype, lo=lo), rand(*sb, dtype=dtype, lo=lo)
    y, (ga, gb), c = tape_grads(f, [a, b])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_array(y, npf(a.astype(np.float64), b.astype(np.float64)), rtol=tol * 10, atol=tol,
                 dtype=dtype)
    ra, rb = bwd(c.astype(np.float64), *np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64)))
    assert_array(ga, ref.unbroadcast(ra, sa), rtol=tol * 100, atol=tol * 10, dtype=dtype)
    assert_array(gb, ref.unbroadcast(rb, sb), rtol=tol * 100, atol=tol * 10, dtype=dtype)


@pytest.mark.parametrize("name", ["add", "multiply", "divide", "pow"])
def test_binary_finite_differences(name):
    fd_check(BINARY[name][0], [rand(3, 4, lo=0.5), rand(4, lo=0.5)])


UNARY = {
    "exp": (nabi.exp, np.exp, lambda x: np.exp(x)),
    "log": (nabi.math.log, np.log, lambda x: 1 / x),
    "sqrt": (nabi.sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    "square": (nabi.square, np.square, lambda x: 2 * x),
    "abs": (nabi.abs, np.abs, np.sign),
    "negative": (nabi.negative, np.negative, lambda x: -np.ones_like(x)),
    "rsqrt": (nabi.rsqrt, lambda x: x ** -0.5, lambda x: -0.5 * x ** -1.5),
    "sin": (nabi.sin, np.sin, np.cos),
    "log1p": (nabi.math.log1p, np.log1p, lambda x: 1 / (1 + x)),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary(name, dtype):
    f, npf, d = UNARY[name]
    x = rand(5, 7, dtype=dtype, lo=0.2, hi=3.0)
    y, (g,), c = tape_grads(f, [x])
    tol = 2e-6 if dtype == np.float32 else 1e-12
    assert_array(y, npf(x.astype(np.float64)), rtol=tol * 10, atol=tol, dtype=dtype)
    assert_array(g, c * d(x.astype(np.float64)), rtol=tol * 10, atol=tol, dtype=dtype)


def test_clip_where_cast():
    x = rand(4, 5)
    y, (g,), c = tape_grads(lambda t: nabi.clip_by_value(t, -0.5, 0.5), [x])
    assert_array(y, np.clip(x, -0.5, 0.5))
    assert_array(g, c * ((x >= -0.5) & (x <= 0.5)))
    cond = x > 0
    y, (ga, gb), c = tape_grads(lambda a, b: nabi.where(cond, a, b), [x, -x])
    assert_array(y, np.where(cond, x, -x))
    assert_array(ga, np.where(cond, c, 0))
    assert_array(gb, np.where(cond, 0, c))
    y, (g,), c = tape_grads(lambda t: nabi.cast(t, nabi.float32), [x])
    assert y.dtype == nabi.float32 and g.dtype == nabi.float64
    assert nabi.cast(nabi.constant([1.7, -1.7]), nabi.int32).numpy().tolist() == [1, -1]
    xi = nabi.constant([1., 2.])
    with nabi.GradientTape() as tape:
        tape.watch(xi)
        y = nabi.cast(nabi.cast(xi, nabi.int32), nabi.float32)
    assert tape.gradient(y, xi) is None  # no gradient through integers, as in TF


REDUCTIONS = [("reduce_sum", np.sum), ("reduce_mean", np.mean), ("reduce_max", np.max),
              ("reduce_min", np.min), ("reduce_prod", np.prod)]


@pytest.mark.parametrize("name,npf", REDUCTIONS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), [1, 2]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, npf, axis, keepdims):
    x = rand(3, 4, 5, lo=0.5, hi=1.5)
    f = getattr(nabi, name)
    y, (g,), c = tape_grads(lambda t: f(t, axis=axis, keepdims=keepdims), [x])
    ax = tuple(axis) if isinstance(axis, list) else axis
    assert_array(y, npf(x, axis=ax, keepdims=keepdims), rtol=1e-10)
    axes = tuple(range(3)) if ax is None else tuple(a % 3 for a in (ax if isinstance(ax, tuple) else (ax,)))
    gb = ref.reduce_grad(c, x.shape, axes, keepdims)
    if name == "reduce_sum":
        exp = gb
    elif name == "reduce_mean":
        exp = gb / np.prod([x.shape[a] for a in axes])
    elif name == "reduce_prod":
        exp = gb * ref.reduce_grad(np.prod(x, axis=axes, keepdims=keepdims), x.shape, axes, keepdims) / x
    else:
        m = ref.reduce_grad(npf(x, axis=axes, keepdims=keepdims), x.shape, axes, keepdims)
        exp = gb * (x == m)
    assert_array(g, exp, rtol=1e-9)


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                                  "reduce_prod", "reduce_logsumexp", "reduce_std",
                                  "reduce_variance"])
def test_float32_reduction_gradients_stay_float32(name, where):
    """A float32 input's gradient is float32 on every device (reduce_max's divided by an
    integer tie count and came back float64, which the next layer's backward rejected --
    GlobalMaxPooling2D under a GAN's discriminator)."""
    x = rand(2, 3, 4, lo=0.5, hi=1.5).astype(np.float32)
    x[0, 1, :2] = x[0, 1, 2]  # a tie for max and min along the last axis
    f = getattr(nabi, name, None) or getattr(nabi.math, name)
    with nabi.device(where):
        t = nabi.constant(x)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            # the activation's backward takes the reduction's gradient and checks its dtype
            y = nabi.reduce_sum(f(nabi.nn.relu(t), axis=[1, 2]) * 2.0)
        g = tape.gradient(y, t)
    assert g.dtype == nabi.float32, (name, g.dtype)
    assert g.numpy().dtype == np.float32 and g.shape == x.shape
    assert np.isfinite(g.numpy()).all()


def test_reduce_max_ties_split_gradient_and_prod_with_zero():
    x = np.array([[1., 3., 3.], [2., 2., 0.]])
    _, (g,), c = tape_grads(lambda t: nabi.reduce_max(t, axis=1), [x], c=np.ones(2))
    assert_array(g, [[0, .5, .5], [.5, .5, 0]])
    fd_check(lambda t: nabi.reduce_prod(t, axis=1), [np.array([[1., 0., 3.], [2., 0., 0.]])])


def test_arg_and_comparisons():
    x = rand(4, 6)
    assert nabi.argmax(x, axis=1).numpy().tolist() == np.argmax(x, 1).tolist()
    assert nabi.argmin(x, axis=0).dtype == nabi.int64
    a, b = nabi.constant([1, 2, 3]), nabi.constant([3, 2, 1])
    for f, npf in [(nabi.equal, np.equal), (nabi.not_equal, np.not_equal), (nabi.greater, np.greater),
                   (nabi.less, np.less), (nabi.greater_equal, np.greater_equal),
                   (nabi.less_equal, np.less_equal)]:
        assert f(a, b).numpy().tolist() == npf([1, 2, 3], [3, 2, 1]).tolist()
    with pytest.raises(ValueError, match=r"\[argmax\] axis 3"):
        nabi.argmax(x, axis=3)


def test_shape_ops_forward_and_grad():
    x = rand(2, 3, 4)
    cases = [
        (lambda t: nabi.reshape(t, (4, -1)), lambda a: a.reshape(4, -1)),
        (lambda t: nabi.transpose(t, (2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
        (lambda t: nabi.transpose(t), lambda a: a.T),
        (lambda t: nabi.expand_dims(t, 1), lambda a: a[:, None]),
        (lambda t: nabi.squeeze(nabi.expand_dims(t, 0), 0), lambda a: a),
        (lambda t: nabi.tile(t, (2, 1, 3)), lambda a: np.tile(a, (2, 1, 3))),
        (lambda t: nabi.pad(t, [[1, 0], [0, 2], [1, 1]]), lambda a: np.pad(a, [[1, 0], [0, 2], [1, 1]])),
        (lambda t: nabi.gather(t, [2, 0, 2], axis=1), lambda a: a[:, [2, 0, 2]]),
        (lambda t: t[:, 1:, ::-2], lambda a: a[:, 1:, ::-2]),
        (lambda t: nabi.broadcast_to(t[:, :1], (2, 3, 4)), lambda a: np.broadcast_to(a[:, :1], (2, 3, 4))),
        (lambda t: nabi.reverse(t, [1]), lambda a: a[:, ::-1]),
    ]
    for f, npf in cases:
        assert_array(f(nabi.constant(x)), npf(x), rtol=1e-12)
        fd_check(f, [x])


def test_concat_stack_split_unstack():
    a, b = rand(2, 3), rand(2, 5)
    assert_array(nabi.concat([a, b], axis=1), np.concatenate([a, b], 1))
    fd_check(lambda s, t: nabi.concat([s, t], axis=-1), [a, b])
    c, d = rand(2, 3), rand(2, 3)
    assert_array(nabi.stack([c, d], axis=1), np.stack([c, d], 1))
    fd_check(lambda s, t: nabi.stack([s, t], axis=2), [c, d])
    parts = nabi.split(nabi.constant(b), [2, 3], axis=1)
    assert [p.shape for p in parts] == [(2, 2), (2, 3)]
    assert len(nabi.unstack(nabi.constant(c), axis=1)) == 3
    with pytest.raises(ValueError, match=r"\[concat\]"):
        nabi.concat([a, rand(3, 3)], axis=1)


def test_one_hot_and_gather_errors():
    oh = nabi.one_hot([0, 2, -1, 5], 3)
    assert_array(oh, [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=np.float32)
    with pytest.raises(IndexError, match=r"\[gather\]"):
        nabi.gather(nabi.constant([1., 2.]), [2])
    with pytest.raises(ValueError, match=r"\[reshape\] cannot reshape"):
        nabi.reshape(nabi.constant([1., 2., 3.]), (2, 2))
    with pytest.raises(ValueError, match=r"\[transpose\]"):
        nabi.transpose(nabi.ones((2, 3)), (0, 0))


# ---------------------------------------------------------------- matmul

MATMUL_SHAPES = [(1, 1, 1), (7, 13, 5), (63, 65, 129), (72, 73, 74), (1, 300, 1), (100, 784, 16)]


@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul(m, k, n, ta, tb, dtype):
    a = rand(*((k, m) if ta else (m, k)), dtype=dtype)
    b = rand(*((n, k) if tb else (k, n)), dtype=dtype)
    A, B = a.astype(np.float64), b.astype(np.float64)
    opA, opB = (A.T if ta else A), (B.T if tb else B)
    y, (ga, gb), c = tape_grads(lambda s, t: nabi.matmul(s, t, transpose_a=ta, transpose_b=tb), [a, b])
    tol = 1e-4 * np.sqrt(k) if dtype == np.float32 else 1e-10
    assert_array(y, opA @ opB, rtol=tol, atol=tol, dtype=dtype)
    gA, gB = c @ opB.T, opA.T @ c
    assert_array(ga, gA.T if ta else gA, rtol=tol, atol=tol * np.sqrt(n))
    assert_array(gb, gB.T if tb else gB, rtol=tol, atol=tol * np.sqrt(m))


def test_matmul_batched_broadcast_and_noncontiguous():
    a, b = rand(3, 4, 5), rand(1, 5, 2)
    assert_array(nabi.matmul(a, b), np.matmul(a, b), rtol=1e-12)
    fd_check(lambda s, t: nabi.matmul(s, t), [a, b])
    fd_check(lambda s, t: nabi.matmul(s, t, transpose_b=True), [rand(2, 3, 4), rand(5, 4)])
    big = rand(10, 12)
    assert_array(nabi.matmul(big[::2, 1::2], big[1::2, ::2].T), big[::2, 1::2] @ big[1::2, ::2].T,
                 rtol=1e-12)


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"\[matmul\] inner dimensions differ: \(3, 4\) @ \(5, 2\)"):
        nabi.matmul(nabi.ones((3, 4)), nabi.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\[matmul\] inputs must be at least 2-D"):
        nabi.matmul(nabi.ones((3,)), nabi.ones((3, 2)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.booleans(), st.booleans())
def test_matmul_property(m, k, n, ta, tb):
    a = rand(*((k, m) if ta else (m, k)), dtype=np.float32)
    b = rand(*((n, k) if tb else (k, n)), dtype=np.float32)
    ref_ = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    assert_array(nabi.matmul(a, b, transpose_a=ta, transpose_b=tb), ref_, rtol=1e-4, atol=1e-4)


shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3)


@settings(max_examples=60, deadline=None)
@given(shapes, shapes, st.data())
def test_broadcasting_property(sa, sb, data):
    # Make sb broadcast-compatible with sa by replacing some dims with 1.
    sb = sb[:len(sa)]
    sb = [1 if data.draw(st.booleans()) else sa[len(sa) - len(sb) + i] for i in range(len(sb))]
    a, b = rand(*sa), rand(*sb)
    y, (ga, gb), c = tape_grads(nabi.multiply, [a, b])
    assert_array(y, a * b, rtol=1e-12)
    ca, cb = np.broadcast_arrays(a, b)
    assert_array(ga, ref.unbroadcast(c * cb, tuple(sa)), rtol=1e-10, atol=1e-12)
    assert_array(gb, ref.unbroadcast(c * ca, tuple(sb)), rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data())
def test_reduction_property(shape, data):
    x = rand(*shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = data.draw(st.booleans())
    assert_array(nabi.reduce_sum(x, axis=axis, keepdims=keep), np.sum(x, axis=axis, keepdims=keep),
                 rtol=1e-12)
    assert_array(nabi.reduce_mean(x, axis=axis, keepdims=keep), np.mean(x, axis=axis, keepdims=keep),
                 rtol=1e-12)


def test_kernels_accept_unpickled_arrays():
    """An unpickled array (a dataset loaded from a pickle file) carries its own dtype instance,
    equal to NumPy's float32 but not the same object: the kernels compare dtypes by
    equivalence, so it trains like any other array."""
    import pickle
    r = np.random.default_rng(3)
    a = pickle.loads(pickle.dumps(r.standard_normal((5, 4)).astype(np.float32)))
    b = pickle.loads(pickle.dumps(r.standard_normal((4, 3)).astype(np.float32)))
    labels = pickle.loads(pickle.dumps(np.array([0, 2, 1, 2, 0], np.int32)))
    assert a.dtype is not np.dtype(np.float32) and a.dtype == np.float32
    np.testing.assert_allclose(nabi.matmul(a, b).numpy(),
                               a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-6)
    logits = a @ b
    loss = nabi.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    ref_loss = np.log(np.exp(z).sum(1)) - z[np.arange(5), labels]
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5, atol=1e-6)


def test_integer_reduce_mean_rounds_toward_zero():
    """TensorFlow's integer mean divides the sum by the count in integer arithmetic, rounding
    toward zero: mean(-8..-1) = -36 / 8 -> -4 (a floor division would give -5)."""
    x = np.arange(-8, 0, dtype=np.int32)
    y = nabi.reduce_mean(x)
    assert y.numpy().dtype == np.int32 and int(y.numpy()) == -4
    m = np.array([[-7, 0, 7], [-1, -1, 1], [5, 6, 6]], np.int64)
    # Row sums 0, -1, 17 over 3: 0, 0 (not -1), 5; column sums -3, 5, 14: -1, 1, 4.
    np.testing.assert_array_equal(nabi.reduce_mean(m, axis=1).numpy(), [0, 0, 5])
    np.testing.assert_array_equal(nabi.reduce_mean(m, axis=0).numpy(), [-1, 1, 4])
