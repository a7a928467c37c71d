"""nabi.nn ops through the Python API: activations, softmax, fused losses, bias_add, the
fused dense op and dropout, against tests/reference.py."""
import numpy as np
import pytest

import nabi
import reference as ref
from helpers import assert_array, fd_check, tape_grads

RNG = np.random.default_rng(1)
ACTS = {"relu": nabi.nn.relu, "relu6": nabi.nn.relu6, "leaky_relu": nabi.nn.leaky_relu,
        "elu": nabi.nn.elu, "selu": nabi.nn.selu, "sigmoid": nabi.nn.sigmoid,
        "tanh": nabi.nn.tanh, "softplus": nabi.nn.softplus, "softsign": nabi.nn.softsign,
        "swish": nabi.nn.swish, "gelu": nabi.nn.gelu}


@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7, 13), (2, 3, 5)])
def test_activation(name, dtype, shape):
    x = RNG.uniform(-8, 8, shape).astype(dtype)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from kinks for the gradient check
    x[np.abs(x - 6) < 1e-3] = 5.0
    fwd, d = ref.ACTIVATIONS[name]
    y, (g,), c = tape_grads(ACTS[name], [x])
    tol = 2e-6 if dtype == np.float32 else 1e-12
    assert_array(y, fwd(x.astype(np.float64)), rtol=tol * 10, atol=tol, dtype=dtype)
    assert_array(g, c * d(x.astype(np.float64)), rtol=tol * 10, atol=tol * 10, dtype=dtype)


@pytest.mark.parametrize("name", ["elu", "selu", "softplus", "swish", "gelu", "sigmoid", "tanh"])
def test_activation_finite_differences(name):
    fd_check(ACTS[name], [RNG.uniform(-3, 3, (4, 5))])


def test_activation_extremes_and_errors():
    big = np.array([-1e4, -80., 0., 80., 1e4], np.float32)
    for f in (nabi.nn.sigmoid, nabi.nn.softplus, nabi.nn.tanh, nabi.nn.swish):
        assert np.all(np.isfinite(f(big).numpy()))
    with pytest.raises(TypeError, match=r"\[relu\] expects a float32 or float64"):
        nabi.nn.relu(nabi.constant([1, 2]))


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax(axis, dtype):
    x = RNG.normal(0, 3, (5, 7)).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    y, (g,), c = tape_grads(lambda t: nabi.nn.softmax(t, axis=axis), [x])
    r = ref.softmax(x.astype(np.float64), axis)
    assert_array(y, r, rtol=tol * 10, atol=tol, dtype=dtype)
    assert_array(g, ref.softmax_grad(c, r, axis), rtol=tol * 100, atol=tol * 10)
    y, (g,), c = tape_grads(lambda t: nabi.nn.log_softmax(t, axis=axis), [x])
    r = ref.log_softmax(x.astype(np.float64), axis)
    assert_array(y, r, rtol=tol * 10, atol=tol * 10, dtype=dtype)
    assert_array(g, ref.log_softmax_grad(c, r, axis), rtol=tol * 100, atol=tol * 10)
    fd_check(lambda t: nabi.nn.softmax(t, axis=axis), [RNG.normal(0, 1, (3, 4))])


def test_softmax_large_and_neg_inf_logits():
    x = np.array([[1e4, 0., -1e4], [0., -np.inf, 1.]], np.float32)
    y = nabi.nn.softmax(x).numpy()
    assert np.all(np.isfinite(y))
    assert_array(y[0], [1, 0, 0])
    assert_array(y[1], ref.softmax(np.array([0., -np.inf, 1.])), rtol=1e-6)
    assert np.isfinite(nabi.nn.log_softmax(x).numpy()[0]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy(dtype):
    logits = RNG.normal(0, 2, (6, 5)).astype(dtype)
    labels = RNG.dirichlet(np.ones(5), 6).astype(dtype)  # soft labels
    y, (gl, gx), c = tape_grads(lambda l, x: nabi.nn.softmax_cross_entropy_with_logits(l, x),
                                [labels, logits])
    loss, back = ref.softmax_xent(labels.astype(np.float64), logits.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_array(y, loss, rtol=tol, atol=tol, dtype=dtype)
    assert_array(gx, c[:, None] * back, rtol=tol * 10, atol=tol)
    assert_array(gl, -c[:, None] * ref.log_softmax(logits.astype(np.float64)), rtol=tol * 10, atol=tol)
    fd_check(lambda l, x: nabi.nn.softmax_cross_entropy_with_logits(l, x),
             [labels.astype(np.float64), logits.astype(np.float64)])


def test_cross_entropies_huge_logits_finite():
    logits = np.array([[1e4, -1e4, 0.], [-1e4, 1e4, 5.]], np.float32)
    labels = np.array([[0., 1., 0.], [0., 1., 0.]], np.float32)
    loss = nabi.nn.softmax_cross_entropy_with_logits(labels, logits).numpy()
    assert np.all(np.isfinite(loss)) and loss[0] == pytest.approx(2e4, rel=1e-6) and loss[1] < 1e-3
    sp = nabi.nn.sparse_softmax_cross_entropy_with_logits(np.array([1, 1]), logits).numpy()
    assert_array(sp, loss, rtol=1e-6)
    sg = nabi.nn.sigmoid_cross_entropy_with_logits(labels, logits).numpy()
    assert np.all(np.isfinite(sg))


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
def test_sparse_softmax_cross_entropy(label_dtype):
    logits = RNG.normal(0, 2, (8, 5))
    labels = RNG.integers(0, 5, 8).astype(label_dtype)
    y, (gx,), c = tape_grads(lambda x: nabi.nn.sparse_softmax_cross_entropy_with_logits(labels, x),
                             [logits])
    loss, back = ref.sparse_softmax_xent(labels, logits)
    assert_array(y, loss, rtol=1e-12)
    assert_array(gx, c[:, None] * back, rtol=1e-10)
    with pytest.raises(ValueError, match=r"\[sparse_softmax_cross_entropy_with_logits\]"):
        nabi.nn.sparse_softmax_cross_entropy_with_logits(np.array([0, 7]), logits[:2])


def test_sigmoid_cross_entropy():
    logits = RNG.normal(0, 3, (4, 3))
    labels = RNG.uniform(0, 1, (4, 3))
    y, (gl, gx), c = tape_grads(lambda l, x: nabi.nn.sigmoid_cross_entropy_with_logits(l, x),
                                [labels, logits])
    loss, back = ref.sigmoid_xent(labels, logits)
    assert_array(y, loss, rtol=1e-12)
    assert_array(gx, c * back, rtol=1e-10)
    assert_array(gl, -c * logits, rtol=1e-10)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (3, 5, 7)])
def test_bias_add(shape):
    x, b = RNG.normal(size=shape), RNG.normal(size=shape[-1])
    y, (gx, gb), c = tape_grads(nabi.nn.bias_add, [x, b])
    assert_array(y, x + b, rtol=1e-12)
    assert_array(gx, c, rtol=1e-12)
    assert_array(gb, c.reshape(-1, shape[-1]).sum(0), rtol=1e-10)
    xf = RNG.normal(size=(2, 3, 4, 4))
    y = nabi.nn.bias_add(xf, np.arange(3.), data_format="NCHW")
    assert_array(y, xf + np.arange(3.).reshape(1, 3, 1, 1))
    with pytest.raises(ValueError, match=r"\[bias_add\]"):
        nabi.nn.bias_add(x, np.ones(shape[-1] + 1))


@pytest.mark.parametrize("act", [None, "relu", "sigmoid", "tanh", "softmax", "elu", "gelu"])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (100, 31, 17)])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_dense(act, m, k, n, bias):
    x, w, b = RNG.normal(size=(m, k)), RNG.normal(size=(k, n)) / np.sqrt(k), RNG.normal(size=n)
    args = [x, w, b] if bias else [x, w]
    y, grads, c = tape_grads(lambda *t: nabi.nn.dense(t[0], t[1], t[2] if bias else None, act), args)
    z = x @ w + (b if bias else 0)
    if act is None:
        yr, dz = z, c
    elif act == "softmax":
        yr = ref.softmax(z)
        dz = ref.softmax_grad(c, yr)
    else:
        f, d = ref.ACTIVATIONS[act]
        yr, dz = f(z), c * d(z)
    assert_array(y, yr, rtol=1e-10, atol=1e-12)
    assert_array(grads[0], dz @ w.T, rtol=1e-9, atol=1e-12)
    assert_array(grads[1], x.T @ dz, rtol=1e-9, atol=1e-12)
    if bias:
        assert_array(grads[2], dz.sum(0), rtol=1e-9, atol=1e-12)


def test_fused_dense_float32_and_errors():
    x, w, b = (RNG.normal(size=s).astype(np.float32) for s in [(100, 784), (784, 256), (256,)])
    y = nabi.nn.dense(x, w, b, "relu")
    assert_array(y, np.maximum(x.astype(np.float64) @ w + b, 0), rtol=1e-4, atol=1e-3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"\[dense\] input \(100, 783\) does not match kernel \(784, 256\)"):
        nabi.nn.dense(x[:, :783], w, b)


def test_dropout():
    x = np.ones((200, 50), np.float32)
    nabi.random.set_seed(3)
    y, (g,), c = tape_grads(lambda t: nabi.nn.dropout(t, rate=0.25), [x], c=np.ones((200, 50), np.float32))
    yv = y.numpy()
    kept = yv != 0
    assert 0.7 < kept.mean() < 0.8
    assert_array(yv[kept], np.full(kept.sum(), 1 / 0.75))
    assert_array(g.numpy(), yv)
    with pytest.raises(ValueError, match=r"\[dropout\] rate"):
        nabi.nn.dropout(x, rate=1.0)


def test_moments_and_batch_normalization():
    x = RNG.normal(size=(8, 3))
    mean, var = nabi.nn.moments(nabi.constant(x), axes=[0])
    assert_array(mean, x.mean(0), rtol=1e-12)
    assert_array(var, x.var(0), rtol=1e-12)
    y = nabi.nn.batch_normalization(x, x.mean(0), x.var(0), 0.5, 2.0, 1e-3)
    assert_array(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3) * 2 + 0.5, rtol=1e-10)
