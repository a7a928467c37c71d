"""Second-order gradients: nested GradientTapes (WGAN-GP penalty, Hessians, PINN second
derivatives, jacobian of a gradient), checked against independent NumPy references.

Each op's second-order rule is checked by a Hessian-vector product: with L = sum(f(x) * c),
the nested tapes give H u, and v . H u is compared with the float64 central second
difference of a NumPy implementation of L (reference.fd_hvp),
    (L(x + e u + e v) - L(x + e u - e v) - L(x - e u + e v) + L(x - e u - e v)) / (4 e^2),
whose error is O(e^2) plus rounding ~1e-16 |L| / e^2 (e = 1e-4: about 1e-8 relative).
"""
import math

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.ops import conv_ops, nn_ops

import reference as ref
import reference_conv as rc


def _np(t):
    return None if t is None else np.asarray(t.numpy())


def _away(rng, shape, lo=0.1):
    """Values at least `lo` away from 0 (so kinks of relu-like ops are not crossed)."""
    return rng.choice([-1.0, 1.0], size=shape) * (lo + np.abs(rng.standard_normal(shape)))


def hvp_check(f_tf, f_np, arrays, seed=0, eps=1e-4, rtol=2e-5, atol=1e-7, pairs=3):
    """v . H u from nested tapes vs the NumPy second difference, for `pairs` random v."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, np.float64) for a in arrays]
    out_shape = np.shape(f_np(*arrays))
    c = rng.standard_normal(out_shape)
    us = [rng.standard_normal(a.shape) for a in arrays]
    ts = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as t2:
        t2.watch(ts)
        with tf.GradientTape() as t1:
            t1.watch(ts)
            loss = tf.reduce_sum(f_tf(*ts) * c)
        gs = t1.gradient(loss, ts)
        s = tf.add_n([tf.reduce_sum(g * u) for g, u in zip(gs, us) if g is not None])
    hu = t2.gradient(s, ts)

    def L(xs):
        return float(np.sum(f_np(*xs) * c))
    for _ in range(pairs):
        vs = [rng.standard_normal(a.shape) for a in arrays]
        got = sum(float(np.sum(_np(h) * v)) for h, v in zip(hu, vs) if h is not None)
        want = ref.fd_hvp(L, arrays, us, vs, eps)
        scale = max(1.0, abs(want))
        assert abs(got - want) <= atol * scale + rtol * abs(want) + 1e-6 * scale, (got, want)
        # the first-order gradient on the way, against a central difference
        g1 = sum(float(np.sum(_np(g) * v)) for g, v in zip(gs, vs) if g is not None)
        w1 = ref.fd_directional(L, arrays, vs, eps)
        assert abs(g1 - w1) <= 1e-5 * max(1.0, abs(w1)), (g1, w1)  # O(e^2) error


# ------------------------------------------------------------------ NumPy references

_erf = np.vectorize(math.erf)
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sig(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "negative": (tf.negative, np.negative, None),
    "square": (tf.square, np.square, None),
    "sqrt": (tf.sqrt, np.sqrt, "pos"),
    "rsqrt": (tf.math.rsqrt, lambda x: 1 / np.sqrt(x), "pos"),
    "exp": (tf.exp, np.exp, None),
    "expm1": (tf.math.expm1, np.expm1, None),
    "log": (tf.math.log, np.log, "pos"),
    "log1p": (tf.math.log1p, np.log1p, "pos"),
    "reciprocal": (tf.math.reciprocal, np.reciprocal, "pos"),
    "abs": (tf.abs, lambda x: np.abs(x) ** 3, "away"),  # |x|^3 via pow below
    "sin": (tf.sin, np.sin, None),
    "cos": (tf.cos, np.cos, None),
    "tan": (tf.tan, np.tan, "small"),
    "relu": (tf.nn.relu, lambda x: np.maximum(x, 0) ** 2, "away"),
    "leaky_relu": (tf.nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.2 * x) ** 2, "away"),
    "elu": (tf.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x)), "away"),
    "selu": (tf.nn.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)), "away"),
    "sigmoid": (tf.nn.sigmoid, _sig, None),
    "tanh": (tf.nn.tanh, np.tanh, None),
    "softplus": (tf.nn.softplus, lambda x: np.logaddexp(0, x), None),
    "softsign": (tf.nn.softsign, lambda x: x / (1 + np.abs(x)), "away"),
    "swish": (tf.nn.swish, lambda x: x * _sig(x), None),
    "gelu": (tf.nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), None),
    "gelu_tanh": (lambda x: tf.nn.gelu(x, approximate=True),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
                  None),
    "exponential": (keras.activations.exponential, np.exp, None),
    "erf": (tf.math.erf, _erf, None),
}
# piecewise-linear ops have a zero second derivative: square their output (in both)
_SQUARED = {"relu", "leaky_relu", "abs"}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_hvp(name):
    f_tf, f_np, dom = UNARY[name]
    rng = np.random.default_rng(1)
    shape = (3, 5)
    if dom == "pos":
        x = 0.3 + rng.random(shape) * 2
    elif dom == "away":
        x = _away(rng, shape)
    elif dom == "small":
        x = rng.uniform(-1, 1, shape)
    else:
        x = rng.standard_normal(shape)
    g = (lambda t: tf.square(f_tf(t)) * f_tf(t)) if name == "abs" else \
        (lambda t: tf.square(f_tf(t))) if name in _SQUARED else f_tf
    hvp_check(g, f_np, [x])


BINARY = {
    "add": (lambda x, y: tf.square(x + y), lambda x, y: (x + y) ** 2),
    "subtract": (lambda x, y: tf.square(x - y), lambda x, y: (x - y) ** 2),
    "multiply": (tf.multiply, np.multiply),
    "divide": (tf.divide, np.divide),
    "pow": (tf.pow, np.power),
    "maximum": (lambda x, y: tf.square(tf.maximum(x, y)), lambda x, y: np.maximum(x, y) ** 2),
    "minimum": (lambda x, y: tf.square(tf.minimum(x, y)), lambda x, y: np.minimum(x, y) ** 2),
    "squared_difference": (lambda x, y: tf.square(tf.math.squared_difference(x, y)),
                           lambda x, y: (x - y) ** 4),
    "matmul": (lambda x, y: tf.square(tf.matmul(x, tf.reshape(y, (5, 5)))),
               lambda x, y: (x @ y.reshape(5, 5)) ** 2),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_hvp_broadcasting(name):
    f_tf, f_np = BINARY[name]
    rng = np.random.default_rng(2)
    x = 0.5 + rng.random((3, 5))
    y = 0.5 + rng.random((5,)) if name != "matmul" else rng.standard_normal((25,))
    if name in ("maximum", "minimum"):
        y = x[0] + _away(rng, (5,), 0.05)   # no ties: the choice is stable under e
    if name == "matmul":
        x = rng.standard_normal((3, 5))
    hvp_check(f_tf, f_np, [x, y])


def test_matmul_transposed_and_batched_hvp():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((5, 4))
    hvp_check(lambda a, b: tf.sin(tf.matmul(a, b, transpose_a=True, transpose_b=True)),
              lambda a, b: np.sin(np.swapaxes(a, -1, -2) @ b.T), [a, b])


SHAPE_OPS = {
    "reduce_sum": (lambda x: tf.reduce_sum(tf.sin(x), axis=1), lambda x: np.sin(x).sum(1)),
    "reduce_sum_keep": (lambda x: tf.square(tf.reduce_sum(x, axis=[0, 2], keepdims=True)),
                        lambda x: x.sum((0, 2), keepdims=True) ** 2),
    "reduce_mean": (lambda x: tf.square(tf.reduce_mean(x, axis=-1)),
                    lambda x: x.mean(-1) ** 2),
    "reduce_max": (lambda x: tf.square(tf.reduce_max(x, axis=1)), lambda x: x.max(1) ** 2),
    "reshape": (lambda x: tf.square(tf.reshape(x, (4, 9))), lambda x: x.reshape(4, 9) ** 2),
    "transpose": (lambda x: tf.sin(tf.transpose(x, (2, 0, 1))) * tf.range(3, dtype=tf.float64),
                  lambda x: np.sin(np.transpose(x, (2, 0, 1))) * np.arange(3.0)),
    "expand_squeeze": (lambda x: tf.square(tf.squeeze(tf.expand_dims(x, 1), 1)),
                       lambda x: x ** 2),
    "concat": (lambda x: tf.square(tf.concat([x, tf.sin(x)], axis=1)),
               lambda x: np.concatenate([x, np.sin(x)], 1) ** 2),
    "stack": (lambda x: tf.square(tf.stack([x, tf.exp(x)], axis=1)),
              lambda x: np.stack([x, np.exp(x)], 1) ** 2),
    "getitem": (lambda x: tf.square(x[:, 1:3, ::2]), lambda x: x[:, 1:3, ::2] ** 2),
    "gather": (lambda x: tf.square(tf.gather(x, [2, 0, 2], axis=1)),
               lambda x: np.take(x, [2, 0, 2], axis=1) ** 2),
    "broadcast_to": (lambda x: tf.square(tf.broadcast_to(x[:1], (3, 2, 3, 6))),
                     lambda x: np.broadcast_to(x[:1], (3, 2, 3, 6)) ** 2),
    "tile": (lambda x: tf.square(tf.tile(x, [1, 2, 1])), lambda x: np.tile(x, (1, 2, 1)) ** 2),
    "pad": (lambda x: tf.sin(tf.pad(x, [[0, 0], [1, 2], [0, 1]])),
            lambda x: np.sin(np.pad(x, ((0, 0), (1, 2), (0, 1))))),
    "reverse": (lambda x: tf.square(tf.reverse(x, [1])) * tf.range(6, dtype=tf.float64),
                lambda x: np.flip(x, 1) ** 2 * np.arange(6.0)),
    "where": (lambda x: tf.where(x > 0, tf.square(x), tf.sin(x)),
              lambda x: np.where(x > 0, x ** 2, np.sin(x))),
    "cumsum": (lambda x: tf.square(tf.cumsum(x, axis=2)), lambda x: np.cumsum(x, 2) ** 2),
    "identity": (lambda x: tf.square(tf.identity(x)), lambda x: x ** 2),
    "clip_by_value": (lambda x: tf.square(tf.clip_by_value(x, -0.5, 0.5)),
                      lambda x: np.clip(x, -0.5, 0.5) ** 2),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_and_reduction_hvp(name):
    f_tf, f_np = SHAPE_OPS[name]
    x = _away(np.random.default_rng(4), (2, 3, 6))
    if name == "clip_by_value":   # away from the clip bounds
        x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, x * 1.3, x)
    hvp_check(f_tf, f_np, [x])


def test_cast_and_stop_gradient():
    x = tf.constant(np.array([0.3, -1.1, 2.0]))
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.reduce_sum(tf.cast(tf.cast(x, tf.float32) ** 3, tf.float64)
                              + tf.stop_gradient(x) * x)
        g = t1.gradient(y, x)
    h = t2.gradient(g, x)
    xa = x.numpy()
    np.testing.assert_allclose(g.numpy(), 3 * xa ** 2 + xa, rtol=1e-6)
    np.testing.assert_allclose(h.numpy(), 6 * xa, rtol=1e-6)   # stop_gradient's x is constant
    assert h.dtype == tf.float64


NN_OPS = {
    "softmax": (lambda x: tf.nn.softmax(x) ** 2, lambda x: ref.softmax(x) ** 2),
    "softmax_axis0": (lambda x: tf.nn.softmax(x, axis=0) ** 2, lambda x: ref.softmax(x, 0) ** 2),
    "log_softmax": (lambda x: tf.nn.log_softmax(x) ** 2, lambda x: ref.log_softmax(x) ** 2),
    "bias_add": (lambda x: tf.sin(tf.nn.bias_add(x, x[0] * 2.0)),
                 lambda x: np.sin(x + x[0] * 2.0)),
}


@pytest.mark.parametrize("name", sorted(NN_OPS))
def test_nn_ops_hvp(name):
    f_tf, f_np = NN_OPS[name]
    hvp_check(f_tf, f_np, [np.random.default_rng(5).standard_normal((4, 5))])


def test_cross_entropies_hvp():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((4, 5))
    labels = ref.softmax(rng.standard_normal((4, 5)))
    ids = np.array([0, 3, 4, 1])
    z = rng.random((4, 5))
    # labels = softmax(p): TF's logits gradient softmax - labels assumes labels that sum to 1
    hvp_check(lambda x, p: tf.nn.softmax_cross_entropy_with_logits(tf.nn.softmax(p), x),
              lambda x, p: -(ref.softmax(p) * ref.log_softmax(x)).sum(-1), [logits, labels])
    hvp_check(lambda x: tf.nn.sparse_softmax_cross_entropy_with_logits(ids, x),
              lambda x: -ref.log_softmax(x)[np.arange(4), ids], [logits])
    hvp_check(lambda x, z: tf.nn.sigmoid_cross_entropy_with_logits(z, x),
              lambda x, z: np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))), [logits, z])


_ACT_NP = {"linear": lambda z: z, "tanh": np.tanh, "sigmoid": _sig,
           "relu": lambda z: np.maximum(z, 0), "softplus": lambda z: np.logaddexp(0, z),
           "gelu": lambda z: 0.5 * z * (1 + _erf(z / np.sqrt(2))), "swish": lambda z: z * _sig(z),
           "elu": lambda z: np.where(z > 0, z, np.expm1(z)), "softmax": ref.softmax}


@pytest.mark.parametrize("act", sorted(_ACT_NP))
def test_fused_dense_hvp(act):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    sq = act in ("relu", "linear")   # piecewise linear: square the output
    post = (lambda y: y ** 2) if sq else (lambda y: y)
    hvp_check(lambda x, w, b: post(nn_ops.dense(x, w, b, act)),
              lambda x, w, b: post(_ACT_NP[act](x @ w + b)), [x, w, b])
    hvp_check(lambda x, w: post(nn_ops.dense(x, w, None, act)),
              lambda x, w: post(_ACT_NP[act](x @ w)), [x, w])


def _conv_np(x, w, b, stride, padding):
    H, W = x.shape[1:3]
    KH, KW = w.shape[:2]
    pads = (*rc.same_pads(H, KH, stride), *rc.same_pads(W, KW, stride)) \
        if padding == "SAME" else (0, 0, 0, 0)
    y = rc.conv2d(x, w, (stride, stride), (1, 1), pads)
    return y if b is None else y + b


@pytest.mark.parametrize("stride,padding", [(2, "SAME"), (1, "VALID"), (2, "VALID")])
def test_conv2d_hvp(stride, padding):
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal((2, 7, 6, 2)), rng.standard_normal((3, 3, 2, 3)), \
        rng.standard_normal(3)
    hvp_check(lambda x, w: tf.square(tf.nn.conv2d(x, w, stride, padding)),
              lambda x, w: _conv_np(x, w, None, stride, padding) ** 2, [x, w])
    hvp_check(lambda x, w, b: tf.sin(conv_ops.conv2d_bias_activation(x, w, b, stride, padding)),
              lambda x, w, b: np.sin(_conv_np(x, w, b, stride, padding)), [x, w, b])


def test_conv2d_relu_fused_and_nchw_hvp():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3)), \
        rng.standard_normal(3)
    hvp_check(lambda x, w, b: tf.square(conv_ops.conv2d_bias_activation(
                  x, w, b, 1, "SAME", activation="relu")),
              lambda x, w, b: np.maximum(_conv_np(x, w, b, 1, "SAME"), 0) ** 2, [x, w, b])
    hvp_check(lambda x, w: tf.square(tf.nn.conv2d(tf.transpose(x, (0, 3, 1, 2)), w, 1, "SAME",
                                                  data_format="NCHW")),
              lambda x, w: np.transpose(_conv_np(x, w, None, 1, "SAME"), (0, 3, 1, 2)) ** 2,
              [x, w])


def test_conv2d_transpose_hvp():
    rng = np.random.default_rng(10)
    u, w = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((3, 3, 2, 3))
    pads = (*rc.same_pads(6, 3, 2), *rc.same_pads(6, 3, 2))
    hvp_check(lambda u, w: tf.square(tf.nn.conv2d_transpose(u, w, (2, 6, 6, 2), 2, "SAME")),
              lambda u, w: rc.conv2d_backward_data(u, (2, 6, 6, 2), w, (2, 2), (1, 1), pads) ** 2,
              [u, w])


def test_conv2d_input_gradient_differentiated_wrt_filters_and_input():
    # s = sum(c2 * d/dx sum(c * conv(x, w)^2)): its gradients with respect to w and x, from
    # the NumPy backward-data / backward-filter references by central differences of s.
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 2))
    pads = (*rc.same_pads(6, 3, 2), *rc.same_pads(6, 3, 2))
    c = rng.standard_normal((2, 3, 3, 2))
    c2 = rng.standard_normal(x.shape)

    def s_np(x, w):
        y = rc.conv2d(x, w, (2, 2), (1, 1), pads)
        gx = rc.conv2d_backward_data(2 * y * c, x.shape, w, (2, 2), (1, 1), pads)
        return np.sum(gx * c2)
    tx, tw = tf.constant(x), tf.Variable(w)
    with tf.GradientTape() as t2:
        t2.watch(tx)
        with tf.GradientTape() as t1:
            t1.watch(tx)
            loss = tf.reduce_sum(tf.square(tf.nn.conv2d(tx, tw, 2, "SAME")) * c)
        gx = t1.gradient(loss, tx)
        s = tf.reduce_sum(gx * c2)
    dx, dw = t2.gradient(s, [tx, tw])
    np.testing.assert_allclose(float(s), s_np(x, w), rtol=1e-10)
    for got, num in zip((dx, dw), ref.fd_grads(lambda ps: s_np(*ps), [x, w], 1e-6)):
        np.testing.assert_allclose(got.numpy(), num, rtol=1e-5, atol=1e-6)


def test_conv2d_backprop_ops_match_references():
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 4))
    dy = rng.standard_normal((2, 3, 3, 4))
    pads = (*rc.same_pads(5, 3, 2), *rc.same_pads(5, 3, 2))
    got = conv_ops.conv2d_backprop_input((2, 5, 5, 2), w, dy, 2, "SAME")
    np.testing.assert_allclose(got.numpy(), rc.conv2d_backward_data(dy, x.shape, w, (2, 2),
                                                                    (1, 1), pads), rtol=1e-10)
    got = conv_ops.conv2d_backprop_filter(x, (3, 3, 2, 4), dy, 2, "SAME")
    np.testing.assert_allclose(got.numpy(), rc.conv2d_backward_filter(x, dy, w.shape, (2, 2),
                                                                      (1, 1), pads), rtol=1e-10)
    with pytest.raises(ValueError, match=r"\[conv2d_backprop_input\].*out_backprop.*\(2, 4, 4, 4\)"):
        conv_ops.conv2d_backprop_input((2, 5, 5, 2), w, np.zeros((2, 4, 4, 4)), 2, "SAME")
    with pytest.raises(ValueError, match=r"\[conv2d_backprop_filter\].*filter_sizes"):
        conv_ops.conv2d_backprop_filter(x, (3, 3, 2), dy, 2, "SAME")


# ------------------------------------------------------------------ scalar functions


@pytest.mark.parametrize("name,f,d1,d2", [
    ("cube", lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x),
    ("sin", tf.sin, np.cos, lambda x: -np.sin(x)),
    ("exp_log", lambda x: tf.exp(x) * tf.math.log(x),
     lambda x: np.exp(x) * (np.log(x) + 1 / x),
     lambda x: np.exp(x) * (np.log(x) + 2 / x - 1 / x ** 2)),
    ("softplus", tf.nn.softplus, _sig, lambda x: _sig(x) * (1 - _sig(x))),
    ("tanh", tf.nn.tanh, lambda x: 1 - np.tanh(x) ** 2,
     lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    ("sigmoid", tf.nn.sigmoid, lambda x: _sig(x) * (1 - _sig(x)),
     lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))),
])
def test_scalar_second_derivatives(name, f, d1, d2):
    for v in (0.3, 1.7, 2.5):
        x = tf.Variable(v)       # float32, as a user writes it
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t1:
                y = f(x)
            g = t1.gradient(y, x)
        h = t2.gradient(g, x)
        np.testing.assert_allclose(float(g), d1(np.float64(v)), rtol=2e-5)
        np.testing.assert_allclose(float(h), d2(np.float64(v)), rtol=2e-4, atol=1e-6)
        assert h.dtype == tf.float32


def test_persistent_tape_differentiates_its_own_gradient():
    x = tf.Variable(1.5)
    with tf.GradientTape(persistent=True) as t:
        y = x ** 4
        g = t.gradient(y, x)
    h = t.gradient(g, x)
    np.testing.assert_allclose(float(g), 4 * 1.5 ** 3, rtol=1e-6)
    np.testing.assert_allclose(float(h), 12 * 1.5 ** 2, rtol=1e-6)


# ------------------------------------------------------------------ Hessians of an MLP


def _mlp_np(w1, b1, w2, b2, x, yt):
    h = np.tanh(x @ w1 + b1)
    out = h @ w2 + b2
    return 0.5 * np.mean((out - yt) ** 2), h, out


def _mlp_grad_np(w1, b1, w2, b2, x, yt):
    """Hand-written float64 gradient of the MLP loss w.r.t. (w1, b1, w2, b2)."""
    _, h, out = _mlp_np(w1, b1, w2, b2, x, yt)
    dout = (out - yt) / out.size
    dw2, db2 = h.T @ dout, dout.sum(0)
    dz = (dout @ w2.T) * (1 - h ** 2)
    return [x.T @ dz, dz.sum(0), dw2, db2]


def _mlp_data():
    rng = np.random.default_rng(13)
    return ([rng.standard_normal((3, 4)), rng.standard_normal(4) * 0.1,
             rng.standard_normal((4, 2)), rng.standard_normal(2) * 0.1],
            rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))


def _fd_hessian(params, x, yt, eps=1e-6):
    """The Jacobian of the hand-written gradient (flattened) by central differences."""
    flat = np.concatenate([p.ravel() for p in params])
    sizes = [p.size for p in params]

    def unflat(v):
        out, k = [], 0
        for p, n in zip(params, sizes):
            out.append(v[k:k + n].reshape(p.shape))
            k += n
        return out

    def grad(vs):
        return np.concatenate([g.ravel() for g in _mlp_grad_np(*unflat(vs[0]), x, yt)])
    return ref.fd_grads(grad, [flat], eps)[0]


@pytest.mark.parametrize("keras_layers", [False, True])
def test_mlp_hessian_by_nested_tapes_and_jacobian(keras_layers):
    params, x, yt = _mlp_data()
    H_ref = _fd_hessian(params, x, yt)
    if keras_layers:  # the fused Dense op, float64 layers
        l1 = keras.layers.Dense(4, activation="tanh", dtype="float64")
        l2 = keras.layers.Dense(2, dtype="float64")
        l2(l1(tf.constant(x)))
        l1.set_weights(params[:2])
        l2.set_weights(params[2:])
        vs = [l1.kernel, l1.bias, l2.kernel, l2.bias]

        def model(inp):
            return l2(l1(inp))
    else:
        vs = [tf.Variable(p) for p in params]

        def model(inp):
            h = tf.nn.tanh(tf.matmul(inp, vs[0]) + vs[1])
            return tf.matmul(h, vs[2]) + vs[3]
    xt, yt_t = tf.constant(x), tf.constant(yt)
    with tf.GradientTape(persistent=True) as t2:
        with tf.GradientTape() as t1:
            loss = 0.5 * tf.reduce_mean(tf.square(model(xt) - yt_t))
        gs = t1.gradient(loss, vs)
        flat_g = tf.concat([tf.reshape(g, [-1]) for g in gs], axis=0)
    for g, ref_g in zip(gs, _mlp_grad_np(*params, x, yt)):
        np.testing.assert_allclose(g.numpy(), ref_g, rtol=1e-10, atol=1e-12)
    # Hessian by the jacobian of the gradient
    jac = t2.jacobian(flat_g, vs)
    H = np.concatenate([j.numpy().reshape(flat_g.shape[0], -1) for j in jac], axis=1)
    np.testing.assert_allclose(H, H_ref, rtol=1e-6, atol=1e-8)
    # a Hessian-vector product by a gradient of g . v
    rng = np.random.default_rng(14)
    v = rng.standard_normal(H_ref.shape[0])
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            loss = 0.5 * tf.reduce_mean(tf.square(model(xt) - yt_t))
        gs = t1.gradient(loss, vs)
        flat_g = tf.concat([tf.reshape(g, [-1]) for g in gs], axis=0)
        gv = tf.reduce_sum(flat_g * v)
    hv = np.concatenate([h.numpy().ravel() for h in t2.gradient(gv, vs)])
    np.testing.assert_allclose(hv, H_ref @ v, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ PINN: d2u/dx2


def test_pinn_second_derivative_of_a_tanh_net():
    rng = np.random.default_rng(15)
    net = keras.Sequential([keras.layers.Input((1,), dtype="float64"),
                            keras.layers.Dense(8, activation="tanh", dtype="float64"),
                            keras.layers.Dense(8, activation="tanh", dtype="float64"),
                            keras.layers.Dense(1, dtype="float64")])
    ws = [rng.standard_normal(w.shape) * 0.7 for w in net.get_weights()]
    net.set_weights(ws)
    xs = np.linspace(-1, 1, 7).reshape(-1, 1)
    x = tf.constant(xs)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            u = net(x)
        du = t1.gradient(u, x)
    d2u = t2.gradient(du, x)
    # NumPy forward-mode: first and second derivatives of each layer's output w.r.t. x
    W1, b1, W2, b2, W3, b3 = ws
    z1 = xs @ W1 + b1
    h1 = np.tanh(z1)
    dz1, d2z1 = np.broadcast_to(W1, z1.shape), np.zeros_like(z1)
    dh1 = (1 - h1 ** 2) * dz1
    d2h1 = -2 * h1 * (1 - h1 ** 2) * dz1 ** 2 + (1 - h1 ** 2) * d2z1
    z2 = h1 @ W2 + b2
    h2 = np.tanh(z2)
    dz2, d2z2 = dh1 @ W2, d2h1 @ W2
    dh2 = (1 - h2 ** 2) * dz2
    d2h2 = -2 * h2 * (1 - h2 ** 2) * dz2 ** 2 + (1 - h2 ** 2) * d2z2
    np.testing.assert_allclose(du.numpy(), dh2 @ W3, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d2u.numpy(), d2h2 @ W3, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ WGAN-GP


def _critic(dtype="float64", dropout_seed=None):
    return keras.Sequential([
        keras.layers.Input((6, 6, 1), dtype=dtype),
        keras.layers.ZeroPadding2D(1, dtype=dtype),
        keras.layers.Conv2D(3, 3, strides=2, padding="same", dtype=dtype),
        keras.layers.LeakyReLU(0.2, dtype=dtype),
        keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False, dtype=dtype),
        keras.layers.LeakyReLU(0.2, dtype=dtype),
        keras.layers.Dropout(0.3, seed=dropout_seed, dtype=dtype),
        keras.layers.Flatten(dtype=dtype),
        keras.layers.Dense(1, dtype=dtype)])


def _critic_np(params, x):
    """The critic (inference: dropout is the identity) and d sum(critic) / d x, float64."""
    w1, b1, w2, w3, b3 = params
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    p1 = (*rc.same_pads(8, 3, 2), *rc.same_pads(8, 3, 2))
    z1 = rc.conv2d(xp, w1, (2, 2), (1, 1), p1) + b1
    a1 = np.where(z1 >= 0, z1, 0.2 * z1)
    p2 = (*rc.same_pads(4, 3, 2), *rc.same_pads(4, 3, 2))
    z2 = rc.conv2d(a1, w2, (2, 2), (1, 1), p2)
    a2 = np.where(z2 >= 0, z2, 0.2 * z2)
    out = a2.reshape(len(x), -1) @ w3 + b3
    da2 = np.broadcast_to(w3[:, 0], (len(x), w3.shape[0])).reshape(a2.shape)
    dz2 = da2 * np.where(z2 >= 0, 1.0, 0.2)
    da1 = rc.conv2d_backward_data(dz2, a1.shape, w2, (2, 2), (1, 1), p2)
    dz1 = da1 * np.where(z1 >= 0, 1.0, 0.2)
    dxp = rc.conv2d_backward_data(dz1, xp.shape, w1, (2, 2), (1, 1), p1)
    return out, dxp[:, 1:-1, 1:-1, :]


def _penalty_np(params, x):
    _, g = _critic_np(params, x)
    norm = np.sqrt(np.sum(g ** 2, axis=(1, 2, 3)))
    return np.mean((norm - 1.0) ** 2)


def _gradient_penalty(critic, real, fake, alpha, training):
    """The keras.io WGAN-GP example's penalty."""
    interpolated = real + alpha * (fake - real)
    with tf.GradientTape() as gp_tape:
        gp_tape.watch(interpolated)
        pred = critic(interpolated, training=training)
    grads = gp_tape.gradient(pred, [interpolated])[0]
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
    return tf.reduce_mean((norm - 1.0) ** 2)


def test_wgan_gp_penalty_gradient_matches_finite_differences():
    rng = np.random.default_rng(16)
    critic = _critic()
    params = [rng.standard_normal(w.shape) * 0.5 for w in critic.get_weights()]
    critic.set_weights(params)
    real, fake = rng.standard_normal((3, 6, 6, 1)), rng.standard_normal((3, 6, 6, 1))
    alpha = rng.random((3, 1, 1, 1))
    x = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        gp = _gradient_penalty(critic, tf.constant(real), tf.constant(fake), alpha, False)
    grads = tape.gradient(gp, critic.trainable_variables)
    # (the emulated GPU's conv kernels sum in another order: ~1e-8 relative)
    np.testing.assert_allclose(float(gp), _penalty_np(params, x), rtol=1e-7)
    nums = ref.fd_grads(lambda ps: _penalty_np(ps, x), params, 1e-6)
    for k, (num, g) in enumerate(zip(nums, grads)):
        # float64 throughout: central differences are good to ~1e-9 here
        if g is None:
            # the output bias only shifts the output: the penalty does not see it (None, as TF)
            assert k == 4
            np.testing.assert_allclose(num, 0.0, atol=1e-8)
            continue
        np.testing.assert_allclose(g.numpy(), num, rtol=1e-6, atol=1e-8)
    assert all(grads[k] is not None for k in (0, 1, 2, 3))
    # the first conv's bias reaches the penalty only through the leaky-relu slopes: zeros,
    # as TF (LeakyReluGrad's gradient for its features is zeros_like), not None
    np.testing.assert_array_equal(grads[1].numpy(), np.zeros(3))


class _WGAN(keras.Model):
    """The keras.io "WGAN-GP overriding Model.train_step" example, miniature."""

    def __init__(self, critic, generator, latent_dim, gp_weight):
        super().__init__()
        self.critic, self.generator = critic, generator
        self.latent_dim, self.gp_weight = latent_dim, gp_weight
        self.d_steps = 1

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = tf.shape(real_images)[0]
        for _ in range(self.d_steps):
            z = tf.random.normal(shape=(batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake = self.generator(z, training=True)
                fake_logits = self.critic(fake, training=True)
                real_logits = self.critic(real_images, training=True)
                d_cost = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
                gp = _gradient_penalty(self.critic, real_images, fake, alpha, True)
                d_loss = d_cost + gp * self.gp_weight
            d_grad = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_grad, self.critic.trainable_variables))
        z = tf.random.normal(shape=(batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            gen = self.generator(z, training=True)
            g_loss = -tf.reduce_mean(self.critic(gen, training=True))
        g_grad = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grad, self.generator.trainable_variables))
        self.last_gp = float(gp)
        return {"d_loss": d_loss, "g_loss": g_loss}


def _train_wgan(gp_weight, init):
    tf.random.set_seed(0)
    critic = _critic("float32", dropout_seed=3)
    generator = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(36),
                                  keras.layers.LeakyReLU(0.2), keras.layers.Reshape((6, 6, 1))])
    if init is not None:
        critic.set_weights(init[0])
        generator.set_weights(init[1])
    init = ([w.copy() for w in critic.get_weights()], [w.copy() for w in generator.get_weights()])
    gan = _WGAN(critic, generator, 4, gp_weight)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    images = np.random.default_rng(17).standard_normal((8, 6, 6, 1)).astype(np.float32)
    hist = gan.fit(images, batch_size=4, epochs=1, verbose=0)
    return critic.get_weights(), hist, gan, init


def test_wgan_gp_train_step_fit_two_steps_penalty_contributes():
    w_pen, hist, gan, init = _train_wgan(10.0, None)
    assert all(np.isfinite(v).all() for v in hist.history["d_loss"])
    assert np.isfinite(gan.last_gp) and gan.last_gp > 0
    w0a, _, _, _ = _train_wgan(0.0, init)
    w0b, _, _, _ = _train_wgan(0.0, init)
    for a, b in zip(w0a, w0b):            # the run is deterministic...
        np.testing.assert_array_equal(a, b)
    # ...so the difference with the penalty is the penalty's gradient at work
    assert any(not np.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(w_pen, w0a))


# ------------------------------------------------------------------ ops without a rule


def test_op_without_second_order_rule_raises_naming_it():
    # digamma has a first-order rule only (its derivative, trigamma, is no nabi op)
    import scipy.special as sp
    x = tf.Variable(np.array([0.5, 1.5, 2.0]))
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            y = tf.reduce_sum(tf.math.digamma(x)) + tf.reduce_sum(x * x)
        g = t1.gradient(y, x)
        s = tf.reduce_sum(g * g)
    # the first-order gradient is still right
    np.testing.assert_allclose(g.numpy(), sp.polygamma(1, x.numpy()) + 2 * x.numpy(),
                               rtol=1e-10)
    with pytest.raises(NotImplementedError, match=r"digamma.*second-order"):
        t2.gradient(s, x)
    # an outer gradient that does not flow through the op's gradient is unaffected
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            y = tf.math.digamma(tf.stop_gradient(x))[-1] * x[0] + tf.reduce_sum(x * x)
        g = t1.gradient(y, x)
        s = tf.reduce_sum(g)
    np.testing.assert_allclose(t2.gradient(s, x).numpy(), [2.0, 2.0, 2.0])


# ------------------------------------------------------------------ batch norm, custom_gradient


def _bn_np(x, gamma, beta, eps, axis, mean=None, var=None):
    red = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shp = [1] * x.ndim
    shp[axis] = -1
    if mean is None:
        mean, var = x.mean(red, keepdims=True), x.var(red, keepdims=True)
    else:
        mean, var = mean.reshape(shp), var.reshape(shp)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shp) + beta.reshape(shp)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_norm_hvp(training, axis):
    rng = np.random.default_rng(18)
    x = rng.standard_normal((4, 3, 2, 3))
    gamma, beta = 1 + rng.random(3), rng.standard_normal(3)
    mm, mv = rng.standard_normal(3), 0.5 + rng.random(3)
    kw = {} if training else {"moving_mean": mm, "moving_variance": mv}
    hvp_check(lambda x, g, b: tf.sin(conv_ops.batch_norm_channels_last(
                  x, g, b, 1e-3, training, axis=axis, **kw)[0]),
              lambda x, g, b: np.sin(_bn_np(x, g, b, 1e-3, axis,
                                            *((None, None) if training else (mm, mv)))),
              [x, gamma, beta])


def test_keras_batch_normalization_gradient_penalty():
    # d/dgamma of the squared input-gradient norm of BatchNormalization in training mode,
    # against central differences of the NumPy layer
    rng = np.random.default_rng(19)
    x = rng.standard_normal((5, 3))
    c = rng.standard_normal((5, 3))
    layer = keras.layers.BatchNormalization(dtype="float64")
    layer.build((None, 3))
    gamma = 1 + rng.random(3)
    layer.gamma.assign(gamma)

    def pen_np(gm):
        def f(xx):
            return np.sum(np.tanh(_bn_np(xx, gm, np.zeros(3), layer.epsilon, -1)) * c)
        gx = ref.fd_grads(lambda ps: f(ps[0]), [x], 1e-5)[0]
        return np.sum(gx ** 2)
    xt = tf.constant(x)
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            t1.watch(xt)
            y = tf.reduce_sum(tf.tanh(layer(xt, training=True)) * c)
        gx = t1.gradient(y, xt)
        pen = tf.reduce_sum(tf.square(gx))
    dgamma = t2.gradient(pen, layer.gamma)
    num = ref.fd_grads(lambda ps: pen_np(ps[0]), [gamma], 1e-4)[0]
    # nested central differences (1e-5 inside, 1e-4 outside): good to ~1e-5 relative
    np.testing.assert_allclose(dgamma.numpy(), num, rtol=1e-4, atol=1e-6)


def test_custom_gradient_is_differentiated_again():
    @tf.custom_gradient
    def softplus(x):
        def grad(dy):
            return dy * tf.sigmoid(x)
        return tf.math.log1p(tf.exp(x)), grad
    xs = np.array([-1.0, 0.5, 2.0])
    x = tf.constant(xs)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.reduce_sum(softplus(x))
        g = t1.gradient(y, x)
    h = t2.gradient(g, x)
    np.testing.assert_allclose(g.numpy(), _sig(xs), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), _sig(xs) * (1 - _sig(xs)), rtol=1e-12)
