"""Second-order gradients, round 2: pooling, depthwise/separable convolutions, conv1d and the
conv layers, reduce_prod, atan2, divide_no_nan, the inverse trig/hyperbolic functions, layer
normalization, embeddings, the Keras losses; zeros (not None) for variables that reach a
gradient penalty only through the slope of a piecewise-linear op, as TF; a WGAN-GP penalty
through a critic with MaxPooling2D / AveragePooling2D / DepthwiseConv2D.

Every number is checked against NumPy: Hessian-vector products against float64 central second
differences of a NumPy implementation (see test_second_order.hvp_check), penalty gradients
against central differences of a NumPy penalty. Max-pooling inputs have distinct values far
apart (no ties, so the chosen maxima do not change under the differences).
"""
import numpy as np
import pytest

import nabi as tf
from nabi import keras

import reference as ref
import reference_conv as rc
from test_second_order import _away, _np, _sig, hvp_check


def _distinct(rng, shape, gap=0.05):
    """Values at least `gap` apart (max-pooling without ties)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * gap - n * gap / 2).reshape(shape) + rng.uniform(0, gap / 4,
                                                                               shape)


def _pads(H, W, k, s, padding):
    if padding == "VALID":
        return (0, 0, 0, 0)
    return (*rc.same_pads(H, k[0], s[0]), *rc.same_pads(W, k[1], s[1]))


def hvp_vars(loss_tf, variables, loss_np, values, seed=0, eps=1e-4, rtol=2e-5, pairs=2):
    """v . H u for variables (a Keras layer's weights) from nested tapes, against the NumPy
    second difference of loss_np(list of arrays); also the first-order gradient."""
    rng = np.random.default_rng(seed)
    values = [np.asarray(v, np.float64) for v in values]
    us = [rng.standard_normal(v.shape) for v in values]
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            loss = loss_tf()
        gs = t1.gradient(loss, variables)
        s = tf.add_n([tf.reduce_sum(g * u) for g, u in zip(gs, us)])
    hu = t2.gradient(s, variables)

    for _ in range(pairs):
        vs = [rng.standard_normal(v.shape) for v in values]
        got = sum(float(np.sum(_np(h) * v)) for h, v in zip(hu, vs) if h is not None)
        want = ref.fd_hvp(loss_np, values, us, vs, eps)
        scale = max(1.0, abs(want))
        assert abs(got - want) <= 1e-6 * scale + rtol * abs(want), (got, want)
        g1 = sum(float(np.sum(_np(g) * v)) for g, v in zip(gs, vs))
        w1 = ref.fd_directional(loss_np, values, vs, eps)
        assert abs(g1 - w1) <= 1e-5 * max(1.0, abs(w1)), (g1, w1)


# ------------------------------------------------------------------ pooling


POOLS = [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME"), ((3, 2), (1, 1), "SAME"),
         ((2, 3), (1, 2), "VALID")]


@pytest.mark.parametrize("k,s,padding", POOLS)
def test_max_pool2d_hvp(k, s, padding):
    x = _distinct(np.random.default_rng(20), (2, 5, 6, 3))
    pads = _pads(5, 6, k, s, padding)
    hvp_check(lambda x: tf.square(tf.nn.max_pool2d(x, k, s, padding)) * tf.sin(
                  tf.nn.max_pool2d(x, k, s, padding)),
              lambda x: rc.max_pool(x, k, s, pads)[0] ** 2 * np.sin(rc.max_pool(x, k, s, pads)[0]),
              [x])


@pytest.mark.parametrize("k,s,padding", POOLS)
def test_avg_pool2d_hvp(k, s, padding):
    x = np.random.default_rng(21).standard_normal((2, 5, 6, 3))
    pads = _pads(5, 6, k, s, padding)
    hvp_check(lambda x: tf.sin(tf.nn.avg_pool2d(x, k, s, padding)),
              lambda x: np.sin(rc.avg_pool(x, k, s, pads)), [x])


def test_pooling_nchw_and_1d_hvp():
    rng = np.random.default_rng(22)
    x = _distinct(rng, (2, 5, 6, 3))
    pads = _pads(5, 6, (3, 3), (2, 2), "SAME")
    to_nchw = (0, 3, 1, 2)
    hvp_check(lambda x: tf.square(tf.nn.max_pool2d(tf.transpose(x, to_nchw), 3, 2, "SAME",
                                                   data_format="NCHW")),
              lambda x: np.transpose(rc.max_pool(x, (3, 3), (2, 2), pads)[0], to_nchw) ** 2, [x])
    hvp_check(lambda x: tf.sin(tf.nn.avg_pool2d(tf.transpose(x, to_nchw), 3, 2, "SAME",
                                                data_format="NCHW")),
              lambda x: np.sin(np.transpose(rc.avg_pool(x, (3, 3), (2, 2), pads), to_nchw)), [x])
    x1 = _distinct(rng, (2, 7, 3))
    p1 = (0, 0, *rc.same_pads(7, 3, 2))
    hvp_check(lambda x: tf.square(tf.nn.max_pool1d(x, 3, 2, "SAME")),
              lambda x: rc.max_pool(x[:, None], (1, 3), (1, 2), p1)[0][:, 0] ** 2, [x1])
    hvp_check(lambda x: tf.sin(tf.nn.avg_pool1d(x, 3, 2, "SAME")),
              lambda x: np.sin(rc.avg_pool(x[:, None], (1, 3), (1, 2), p1)[:, 0]), [x1])


POOL_LAYERS = {
    "MaxPooling2D": (lambda: keras.layers.MaxPooling2D(2, dtype="float64"),
                     lambda x: rc.max_pool(x, (2, 2), (2, 2))[0]),
    "AveragePooling2D": (lambda: keras.layers.AveragePooling2D(3, 2, "same", dtype="float64"),
                         lambda x: rc.avg_pool(x, (3, 3), (2, 2), _pads(5, 6, (3, 3), (2, 2),
                                                                        "SAME"))),
    "MaxPooling1D": (lambda: keras.layers.MaxPooling1D(2, dtype="float64"),
                     lambda x: rc.max_pool(x.reshape(2, 1, 30, 3), (1, 2), (1, 2))[0][:, 0]),
    "AveragePooling1D": (lambda: keras.layers.AveragePooling1D(3, 2, "same", dtype="float64"),
                         lambda x: rc.avg_pool(x.reshape(2, 1, 30, 3), (1, 3), (1, 2),
                                               (0, 0, *rc.same_pads(30, 3, 2)))[:, 0]),
    "GlobalAveragePooling2D": (lambda: keras.layers.GlobalAveragePooling2D(dtype="float64"),
                               lambda x: x.mean((1, 2))),
    "GlobalMaxPooling2D": (lambda: keras.layers.GlobalMaxPooling2D(dtype="float64"),
                           lambda x: x.max((1, 2))),
    "GlobalAveragePooling1D": (lambda: keras.layers.GlobalAveragePooling1D(dtype="float64"),
                               lambda x: x.reshape(2, 30, 3).mean(1)),
    "GlobalMaxPooling1D": (lambda: keras.layers.GlobalMaxPooling1D(dtype="float64"),
                           lambda x: x.reshape(2, 30, 3).max(1)),
}


@pytest.mark.parametrize("name", sorted(POOL_LAYERS))
def test_pooling_layers_hvp(name):
    make, f_np = POOL_LAYERS[name]
    layer = make()
    x = _distinct(np.random.default_rng(23), (2, 5, 6, 3))
    shape = (2, 30, 3) if "1D" in name else x.shape
    hvp_check(lambda x: tf.square(layer(tf.reshape(x, shape))) * tf.sin(layer(tf.reshape(x,
                                                                                       shape))),
              lambda x: f_np(x) ** 2 * np.sin(f_np(x)), [x])


# ------------------------------------------------------------------ depthwise / separable / conv1d


def _dw_full(w):
    """The depthwise filter (KH, KW, C, M) as a dense conv2d filter (KH, KW, C, C*M)."""
    KH, KW, C, M = w.shape
    full = np.zeros((KH, KW, C, C * M), w.dtype)
    for c in range(C):
        full[:, :, c, c * M:(c + 1) * M] = w[:, :, c, :]
    return full


def _dw_np(x, w, s, d, padding):
    H, W = x.shape[1:3]
    KH, KW = w.shape[:2]
    pads = (0, 0, 0, 0) if padding == "VALID" else \
        (*rc.same_pads(H, KH, s, d), *rc.same_pads(W, KW, s, d))
    return rc.conv2d(x, _dw_full(w), (s, s), (d, d), pads)


@pytest.mark.parametrize("s,d,padding,M", [(1, 1, "SAME", 1), (2, 1, "SAME", 2),
                                           (1, 2, "VALID", 2), (2, 1, "VALID", 1)])
def test_depthwise_conv2d_hvp(s, d, padding, M):
    rng = np.random.default_rng(24)
    x, w = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 3, 3, M))
    hvp_check(lambda x, w: tf.sin(tf.nn.depthwise_conv2d(x, w, [1, s, s, 1], padding,
                                                         dilations=[d, d])),
              lambda x, w: np.sin(_dw_np(x, w, s, d, padding)), [x, w])


def test_depthwise_conv2d_nchw_hvp():
    rng = np.random.default_rng(25)
    x, w = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 2))
    hvp_check(lambda x, w: tf.square(tf.nn.depthwise_conv2d(
                  tf.transpose(x, (0, 3, 1, 2)), w, [1, 1, 1, 1], "SAME", data_format="NCHW")),
              lambda x, w: np.transpose(_dw_np(x, w, 1, 1, "SAME"), (0, 3, 1, 2)) ** 2, [x, w])


def test_depthwise_input_gradient_differentiated_wrt_filter():
    # the gradient penalty pattern: d/dw of a function of d/dx depthwise(x, w)
    rng = np.random.default_rng(26)
    x, w = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 2))
    c = rng.standard_normal((2, 3, 3, 4))
    pads = (*rc.same_pads(5, 3, 2), *rc.same_pads(5, 3, 2))

    def pen_np(w):
        y = rc.conv2d(x, _dw_full(w), (2, 2), (1, 1), pads)
        gx = rc.conv2d_backward_data(np.cos(y) * c, x.shape, _dw_full(w), (2, 2), (1, 1), pads)
        return np.sum(gx ** 2)
    xt, wt = tf.constant(x), tf.Variable(w)
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            t1.watch(xt)
            y = tf.reduce_sum(tf.sin(tf.nn.depthwise_conv2d(xt, wt, [1, 2, 2, 1], "SAME")) * c)
        gx = t1.gradient(y, xt)
        pen = tf.reduce_sum(tf.square(gx))
    dw = t2.gradient(pen, wt)
    np.testing.assert_allclose(float(pen), pen_np(w), rtol=1e-10)
    num = ref.fd_grads(lambda ps: pen_np(ps[0]), [w], 1e-6)[0]
    np.testing.assert_allclose(dw.numpy(), num, rtol=1e-6, atol=1e-7)


def test_separable_conv2d_and_conv1d_hvp():
    rng = np.random.default_rng(27)
    x, dw, pw = rng.standard_normal((2, 6, 5, 2)), rng.standard_normal((3, 3, 2, 2)), \
        rng.standard_normal((1, 1, 4, 3))
    hvp_check(lambda x, dw, pw: tf.sin(tf.nn.separable_conv2d(x, dw, pw, [1, 1, 1, 1], "SAME")),
              lambda x, dw, pw: np.sin(rc.conv2d(_dw_np(x, dw, 1, 1, "SAME"), pw)), [x, dw, pw])
    x1, w1 = rng.standard_normal((2, 9, 3)), rng.standard_normal((3, 3, 4))
    p1 = (0, 0, *rc.same_pads(9, 3, 2))
    hvp_check(lambda x, w: tf.sin(tf.nn.conv1d(x, w, 2, "SAME")),
              lambda x, w: np.sin(rc.conv2d(x[:, None], w[None], (1, 2), (1, 1), p1)[:, 0]),
              [x1, w1])


def _layer_case(name, rng):
    """(layer, input, NumPy forward of (weights list, x))."""
    f64 = {"dtype": "float64"}
    if name == "DepthwiseConv2D":
        layer = keras.layers.DepthwiseConv2D(3, 2, "same", depth_multiplier=2, **f64)
        x = rng.standard_normal((2, 5, 6, 3))

        def f(ws, x):
            return rc.conv2d(x, _dw_full(ws[0]), (2, 2), (1, 1), _pads(5, 6, (3, 3), (2, 2),
                                                                       "SAME")) + ws[1]
    elif name == "SeparableConv2D":
        layer = keras.layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=1, **f64)
        x = rng.standard_normal((2, 5, 6, 3))

        def f(ws, x):
            y = rc.conv2d(x, _dw_full(ws[0]), pads=_pads(5, 6, (3, 3), (1, 1), "SAME"))
            return rc.conv2d(y, ws[1]) + ws[2]
    elif name == "Conv1D":
        layer = keras.layers.Conv1D(4, 3, strides=2, padding="causal", **f64)
        x = rng.standard_normal((2, 9, 3))

        def f(ws, x):
            return rc.conv2d(x[:, None], ws[0][None], (1, 2), (1, 1), (0, 0, 2, 0))[:, 0] + ws[1]
    elif name == "Conv2DTranspose":
        layer = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", **f64)
        x = rng.standard_normal((2, 3, 4, 3))

        def f(ws, x):
            pads = (*rc.same_pads(6, 3, 2), *rc.same_pads(8, 3, 2))
            return rc.conv2d_backward_data(x, (2, 6, 8, 2), ws[0], (2, 2), (1, 1), pads) + ws[1]
    elif name == "LayerNormalization":
        layer = keras.layers.LayerNormalization(axis=[1, 2], epsilon=1e-3, **f64)
        x = rng.standard_normal((3, 4, 2))

        def f(ws, x):
            m = x.mean((1, 2), keepdims=True)
            v = ((x - m) ** 2).mean((1, 2), keepdims=True)   # (analytic: complex steps)
            return (x - m) / np.sqrt(v + 1e-3) * ws[0] + ws[1]
    elif name == "GroupNormalization":
        layer = keras.layers.GroupNormalization(2, epsilon=1e-3, **f64)
        x = rng.standard_normal((3, 5, 4))

        def f(ws, x):
            xg = x.reshape(3, 5, 2, 2)
            m = xg.mean((1, 3), keepdims=True)
            v = ((xg - m) ** 2).mean((1, 3), keepdims=True)
            return ((xg - m) / np.sqrt(v + 1e-3)).reshape(x.shape) * ws[0] + ws[1]
    layer(tf.constant(x))
    ws = [rng.standard_normal(w.shape) * 0.7 + (1.0 if "Normalization" in name and i == 0 else 0)
          for i, w in enumerate(layer.get_weights())]
    layer.set_weights(ws)
    return layer, x, f, ws


LAYERS = ["DepthwiseConv2D", "SeparableConv2D", "Conv1D", "Conv2DTranspose",
          "LayerNormalization", "GroupNormalization"]


@pytest.mark.parametrize("name", LAYERS)
def test_layer_hvp_input_and_weights(name):
    layer, x, f, ws = _layer_case(name, np.random.default_rng(28))
    # with respect to the input (the weights fixed)...
    hvp_check(lambda x: tf.sin(layer(x)), lambda x: np.sin(f(ws, x)), [x])
    # ...and to the weights, through a gradient penalty on the input gradient
    c = np.random.default_rng(29).standard_normal(f(ws, x).shape)
    xt = tf.constant(x)

    def loss_tf():
        with tf.GradientTape() as tin:
            tin.watch(xt)
            y = tf.reduce_sum(tf.sin(layer(xt)) * c)
        return tf.reduce_sum(tf.square(tin.gradient(y, xt)))

    def loss_np(wv):
        def obj(xx):
            return np.sum(np.sin(f(wv, xx)) * c)
        gx = np.zeros(x.shape)     # d obj / dx, the exact derivative by complex steps
        for i in np.ndindex(x.shape):
            e = np.zeros(x.shape)
            e[i] = 1e-20
            gx[i] = np.imag(_complex_obj(f, wv, x, e, c)) / 1e-20
        return np.sum(gx ** 2)
    hvp_vars(loss_tf, layer.trainable_variables, loss_np, ws, pairs=1)


def _complex_obj(f, wv, x, e, c):
    """sum(sin(f(w, x + i e)) * c) with complex arithmetic (f is linear or uses mean/var/sqrt,
    all analytic), for complex-step derivatives exact to rounding."""
    return np.sum(np.sin(f([w.astype(complex) for w in wv], x + 1j * e)) * c)


# ------------------------------------------------------------------ elementwise and reductions


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), ((), False)])
def test_reduce_prod_hvp(axis, keepdims):
    rng = np.random.default_rng(30)
    x = 0.5 + rng.random((3, 4, 2))
    hvp_check(lambda x: tf.sin(tf.reduce_prod(x, axis, keepdims)),
              lambda x: np.sin(np.prod(x, axis, keepdims=keepdims)), [x])


def test_reduce_prod_second_derivative_exact_with_zeros():
    x = np.array([[2.0, 0.0, 3.0, -1.5], [0.0, 0.0, 1.0, 2.0]])
    xt = tf.constant(x)
    with tf.GradientTape() as t2:
        t2.watch(xt)
        with tf.GradientTape() as t1:
            t1.watch(xt)
            y = tf.reduce_sum(tf.reduce_prod(xt, 1))
        g = t1.gradient(y, xt)
    jac = t2.jacobian(g, xt).numpy().reshape(8, 8)
    want_g = np.zeros_like(x)
    want_h = np.zeros((8, 8))
    for r in range(2):
        for i in range(4):
            want_g[r, i] = np.prod(np.delete(x[r], i))
            for j in range(4):
                if i != j:
                    want_h[r * 4 + i, r * 4 + j] = np.prod(np.delete(x[r], [i, j]))
    np.testing.assert_array_equal(g.numpy(), want_g)
    np.testing.assert_array_equal(jac, want_h)


UNARY_MORE = {
    "asin": (tf.math.asin, np.arcsin, (-0.9, 0.9)),
    "acos": (tf.math.acos, np.arccos, (-0.9, 0.9)),
    "atan": (tf.math.atan, np.arctan, (-3, 3)),
    "sinh": (tf.math.sinh, np.sinh, (-2, 2)),
    "cosh": (tf.math.cosh, np.cosh, (-2, 2)),
    "asinh": (tf.math.asinh, np.arcsinh, (-3, 3)),
    "acosh": (tf.math.acosh, np.arccosh, (1.2, 4)),
    "atanh": (tf.math.atanh, np.arctanh, (-0.9, 0.9)),
    "reciprocal_no_nan": (tf.math.reciprocal_no_nan, np.reciprocal, (0.5, 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY_MORE))
def test_inverse_trig_hyperbolic_hvp(name):
    f_tf, f_np, (lo, hi) = UNARY_MORE[name]
    x = np.random.default_rng(31).uniform(lo, hi, (3, 5))
    hvp_check(f_tf, f_np, [x])


def test_atan2_and_divide_no_nan_hvp():
    rng = np.random.default_rng(32)
    y, x = rng.standard_normal((3, 5)), _away(rng, (5,), 0.3)
    hvp_check(tf.math.atan2, np.arctan2, [y, x])
    hvp_check(tf.math.divide_no_nan, np.divide, [y, x])


def test_divide_no_nan_zero_denominator_gives_zero_derivatives():
    x = tf.constant(np.array([1.5, -2.0, 0.7]))
    y = tf.constant(np.array([2.0, 0.0, -0.5]))
    with tf.GradientTape(persistent=True) as t2:
        t2.watch([x, y])
        with tf.GradientTape() as t1:
            t1.watch([x, y])
            z = tf.reduce_sum(tf.math.divide_no_nan(x, y) ** 2)
        gx, gy = t1.gradient(z, [x, y])
    hxx = t2.jacobian(gx, x).numpy()
    hyy = t2.jacobian(gy, y).numpy()
    xa, ya = x.numpy(), y.numpy()
    safe = np.where(ya == 0, 1, ya)
    np.testing.assert_allclose(gx.numpy(), np.where(ya == 0, 0, 2 * xa / safe ** 2))
    np.testing.assert_allclose(gy.numpy(), np.where(ya == 0, 0, -2 * xa ** 2 / safe ** 3))
    np.testing.assert_allclose(hxx, np.diag(np.where(ya == 0, 0, 2 / safe ** 2)))
    np.testing.assert_allclose(hyy, np.diag(np.where(ya == 0, 0, 6 * xa ** 2 / safe ** 4)))


def test_unsorted_segment_sum_hvp():
    rng = np.random.default_rng(33)
    ids = np.array([2, 0, 2, -1, 1, 0])
    x = rng.standard_normal((6, 3))

    def seg_np(x):
        out = np.zeros((3, 3))
        for i, r in enumerate(ids):
            if r >= 0:
                out[r] += x[i]
        return out
    hvp_check(lambda x: tf.sin(tf.math.unsorted_segment_sum(x, ids, 3)),
              lambda x: np.sin(seg_np(x)), [x])


def test_embedding_hessian_vector_product():
    rng = np.random.default_rng(34)
    emb = keras.layers.Embedding(7, 3, dtype="float64")
    ids = np.array([[1, 4, 1], [6, 0, 4]])
    emb(ids)
    E = rng.standard_normal((7, 3))
    emb.set_weights([E])
    W = rng.standard_normal((3, 2))
    c = rng.standard_normal((2, 3, 2))
    hvp_vars(lambda: tf.reduce_sum(tf.tanh(tf.matmul(emb(ids), W)) * c), [emb.embeddings],
             lambda v: np.sum(np.tanh(v[0][ids] @ W) * c), [E])


# ------------------------------------------------------------------ zeros through slopes

SLOPE_OPS = {
    "relu": tf.nn.relu,
    "leaky_relu": lambda z: tf.nn.leaky_relu(z, 0.3),
    "relu6": tf.nn.relu6,
    "abs": tf.abs,
    "maximum": lambda z: tf.maximum(z, 0.1),
    "minimum": lambda z: tf.minimum(0.1, z),
    "clip_by_value": lambda z: tf.clip_by_value(z, -0.5, 0.5),
    "max_pool2d": lambda z: tf.nn.max_pool2d(z, 2, 2, "VALID"),
    "relu_layer": keras.layers.ReLU(dtype="float64"),
}


@pytest.mark.parametrize("name", sorted(SLOPE_OPS))
def test_variable_reaching_penalty_only_through_a_slope_gets_zeros(name):
    # z = x * a + b; the penalty |d sum(f(z) * c) / dx|^2 depends on b only through f's slope
    # (piecewise constant): TF returns zeros for b (its XxxGrad ops' gradients for their
    # features are zeros_like), and a's gradient is the NumPy one
    rng = np.random.default_rng(35)
    x = tf.constant(_distinct(rng, (1, 4, 4, 2)))
    a = tf.Variable(np.array(1.3))
    b = tf.Variable(_away(rng, (2,), 0.2))
    c = rng.standard_normal((1, 2, 2, 2) if name == "max_pool2d" else (1, 4, 4, 2))
    f = SLOPE_OPS[name]
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.reduce_sum(f(x * a + b) * c)
        gx = t1.gradient(y, x)
        pen = tf.reduce_sum(tf.square(gx))
    ga, gb = t2.gradient(pen, [a, b])
    assert gb is not None
    np.testing.assert_array_equal(gb.numpy(), np.zeros(2))
    # d pen / da = 2 pen / a (gx is a * slope * c: pen is a^2 times a constant)
    np.testing.assert_allclose(float(ga), 2 * float(pen) / 1.3, rtol=1e-12)


def test_fused_dense_and_conv_relu_bias_gets_zeros():
    rng = np.random.default_rng(36)
    dense = keras.layers.Dense(3, activation="relu", dtype="float64")
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu", dtype="float64")
    for layer, x in ((dense, rng.standard_normal((4, 5))), (conv, rng.standard_normal((1, 4, 4, 2)))):
        xt = tf.constant(x)
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t1:
                t1.watch(xt)
                y = tf.reduce_sum(layer(xt) * 0.7)
            pen = tf.reduce_sum(tf.square(t1.gradient(y, xt)))
        gk, gb = t2.gradient(pen, [layer.kernel, layer.bias])
        np.testing.assert_array_equal(gb.numpy(), np.zeros(gb.shape))
        assert np.abs(gk.numpy()).max() > 0


class _TinyCritic(keras.Model):
    """A tiny WGAN-GP critic: conv (bias) -> ReLU -> flatten -> dense."""

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(2, 3, padding="same", dtype="float64")
        self.act = keras.layers.ReLU(dtype="float64")
        self.flat = keras.layers.Flatten(dtype="float64")
        self.out = keras.layers.Dense(1, dtype="float64")

    def call(self, x):
        return self.out(self.flat(self.act(self.conv(x))))


def test_tiny_wgan_gp_critic_conv_bias_gradient_is_zeros():
    rng = np.random.default_rng(37)
    critic = _TinyCritic()
    x = rng.standard_normal((3, 4, 4, 1))
    critic(tf.constant(x))
    w, b, w2, b2 = [rng.standard_normal(v.shape) for v in critic.get_weights()]
    critic.set_weights([w, b, w2, b2])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        with tf.GradientTape() as gp:
            gp.watch(xt)
            pred = critic(xt)
        g = gp.gradient(pred, xt)
        pen = tf.reduce_mean((tf.sqrt(tf.reduce_sum(tf.square(g), [1, 2, 3])) - 1.0) ** 2)
    grads = tape.gradient(pen, critic.trainable_variables)
    # NumPy: the penalty and its gradient for the kernels by central differences
    pads = (1, 1, 1, 1)

    def pen_np(w, w2):
        z = rc.conv2d(x, w, pads=pads) + b
        dz = (z > 0) * w2[:, 0].reshape(1, 4, 4, 2)
        gx = rc.conv2d_backward_data(dz, x.shape, w, pads=pads)
        return np.mean((np.sqrt((gx ** 2).sum((1, 2, 3))) - 1) ** 2)
    np.testing.assert_allclose(float(pen), pen_np(w, w2), rtol=1e-12)
    nums = ref.fd_grads(lambda ps: pen_np(*ps), [w, w2], 1e-6)
    for k, num in ((0, nums[0]), (2, nums[1])):
        np.testing.assert_allclose(grads[k].numpy(), num, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(grads[1].numpy(), np.zeros(2))   # TF: zeros
    assert grads[3] is None                                        # TF: None (output bias)


# ------------------------------------------------------------------ WGAN-GP with pooling


def _pool_critic():
    f64 = {"dtype": "float64"}
    return keras.Sequential([
        keras.layers.Input((6, 6, 1), dtype="float64"),
        keras.layers.Conv2D(3, 3, padding="same", **f64),
        keras.layers.LeakyReLU(0.2, **f64),
        keras.layers.MaxPooling2D(2, **f64),
        keras.layers.DepthwiseConv2D(3, padding="same", **f64),
        keras.layers.Activation("tanh", **f64),
        keras.layers.AveragePooling2D(2, 1, padding="valid", **f64),
        keras.layers.Flatten(**f64),
        keras.layers.Dense(1, **f64)])


def _pool_penalty_np(params, x):
    w1, b1, dw, db, w3, b3 = params
    p1 = (1, 1, 1, 1)
    z1 = rc.conv2d(x, w1, pads=p1) + b1
    a1 = np.where(z1 >= 0, z1, 0.2 * z1)
    m, idx = rc.max_pool(a1, (2, 2), (2, 2))
    wf = _dw_full(dw)
    z2 = rc.conv2d(m, wf, pads=p1) + db
    a2 = np.tanh(z2)
    q = rc.avg_pool(a2, (2, 2), (1, 1))
    # d sum(critic) / dx
    dq = np.broadcast_to(w3[:, 0], (len(x), w3.shape[0])).reshape(q.shape)
    da2 = rc.avg_pool_backward(dq, a2.shape, (2, 2), (1, 1))
    dz2 = da2 * (1 - a2 ** 2)
    dm = rc.conv2d_backward_data(dz2, m.shape, wf, pads=p1)
    da1 = rc.max_pool_backward(dm, idx, a1.shape)
    dz1 = da1 * np.where(z1 >= 0, 1.0, 0.2)
    gx = rc.conv2d_backward_data(dz1, x.shape, w1, pads=p1)
    return np.mean((np.sqrt((gx ** 2).sum((1, 2, 3))) - 1.0) ** 2)


def test_wgan_gp_penalty_through_pooling_and_depthwise_critic():
    rng = np.random.default_rng(38)
    critic = _pool_critic()
    params = [rng.standard_normal(w.shape) * 0.6 for w in critic.get_weights()]
    critic.set_weights(params)
    real, fake = rng.standard_normal((2, 6, 6, 1)), rng.standard_normal((2, 6, 6, 1))
    alpha = rng.random((2, 1, 1, 1))
    x = real + alpha * (fake - real)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        with tf.GradientTape() as gp:
            gp.watch(xt)
            pred = critic(xt, training=True)
        g = gp.gradient(pred, [xt])[0]
        pen = tf.reduce_mean((tf.sqrt(tf.reduce_sum(tf.square(g), axis=[1, 2, 3])) - 1.0) ** 2)
    grads = tape.gradient(pen, critic.trainable_variables)
    # (the emulated GPU's kernels sum in another order: ~1e-9 relative on this small value)
    np.testing.assert_allclose(float(pen), _pool_penalty_np(params, x), rtol=1e-7)
    nums = ref.fd_grads(lambda ps: _pool_penalty_np(ps, x), params, 1e-6)
    for k, (num, gk) in enumerate(zip(nums, grads)):
        if k == 5:   # the output bias: unconnected, None as in TF
            assert gk is None
            np.testing.assert_allclose(num, 0.0, atol=1e-8)
            continue
        # the first conv's bias reaches the penalty through the leaky-relu slopes and the
        # max-pool choice (zeros) and through nothing else: zeros
        np.testing.assert_allclose(gk.numpy(), num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ ops still without a rule


def test_multi_output_op_without_rule_raises_naming_it():
    # a two-output op recorded with a raw rule only (as an op without a Tensor rule is)
    from nabi.framework.tape import record
    from nabi.framework.tensor import _wrap

    def sincos(x):
        a = x._data                         # a host or (emulated) device array
        outs = [_wrap(np.sin(a)), _wrap(np.cos(a))]
        record((x,), outs, lambda gs, n: (gs[0] * np.cos(a) - gs[1] * np.sin(a),),
               op="sincos")
        return outs
    x = tf.constant(np.array([0.3, -1.2, 2.0]))
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            s_, c_ = sincos(x)
            y = tf.reduce_sum(s_) + tf.reduce_sum(2 * c_) + tf.reduce_sum(x * x)
        g = t1.gradient(y, x)
        s = tf.reduce_sum(g * g)
    # the first-order gradient is still right
    xv = x.numpy()
    np.testing.assert_allclose(g.numpy(), np.cos(xv) - 2 * np.sin(xv) + 2 * xv, rtol=1e-12)
    with pytest.raises(NotImplementedError, match=r"sincos.*second-order"):
        t2.gradient(s, x)


# ------------------------------------------------------------------ Keras losses

_EPS = 1e-7


def _np_bce(t, p):
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def _np_cos(t, p):
    def nrm(v):
        return v / np.sqrt(np.maximum((v * v).sum(-1, keepdims=True), 1e-12))
    return -(nrm(t) * nrm(p)).sum(-1)


def _loss_cases(rng):
    """name -> (y_true, y_pred, nabi loss(y_true, y_pred), NumPy per-sample loss)."""
    L = keras.losses
    t = rng.random((4, 3))
    p = 0.1 + 0.8 * rng.random((4, 3))
    z = rng.standard_normal((4, 3))
    b01 = (rng.random((4, 3)) > 0.5).astype(float)
    oh = np.eye(3)[[0, 2, 1, 2]]
    ids = np.array([0, 2, 1, 2])
    d = _away(rng, (4, 3), 0.2) * 1.5
    return {
        "mse": (t, z, L.mean_squared_error, lambda t, p: ((p - t) ** 2).mean(-1)),
        "mae": (t, t + d, L.mean_absolute_error, lambda t, p: np.abs(p - t).mean(-1)),
        "mape": (t + 0.5, t + 0.5 + d, L.mean_absolute_percentage_error,
                 lambda t, p: (100 * np.abs(p - t) / np.abs(t)).mean(-1)),
        "msle": (t, p, L.mean_squared_logarithmic_error,
                 lambda t, p: ((np.log1p(p) - np.log1p(t)) ** 2).mean(-1)),
        "hinge": (b01, 0.3 * z, L.hinge,
                  lambda t, p: np.maximum(1 - (2 * t - 1) * p, 0).mean(-1)),
        "squared_hinge": (b01, 0.3 * z, L.squared_hinge,
                          lambda t, p: (np.maximum(1 - (2 * t - 1) * p, 0) ** 2).mean(-1)),
        "huber": (t, t + d, lambda a, b: L.huber(a, b, delta=1.0),
                  lambda t, p: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2,
                                        np.abs(p - t) - 0.5).mean(-1)),
        "log_cosh": (t, z, L.log_cosh, lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
        "poisson": (t, p, L.poisson, lambda t, p: (p - t * np.log(p + _EPS)).mean(-1)),
        "kld": (0.1 + 0.8 * t, p, L.kl_divergence,
                lambda t, p: (t * np.log(t / p)).sum(-1)),
        "cosine": (z, rng.standard_normal((4, 3)), L.cosine_similarity, _np_cos),
        "bce": (t, p, L.binary_crossentropy, lambda t, p: _np_bce(t, p).mean(-1)),
        "bce_logits_smoothing": (
            b01, z, lambda a, b: L.binary_crossentropy(a, b, from_logits=True,
                                                       label_smoothing=0.2),
            lambda t, x: ref.sigmoid_xent(t * 0.8 + 0.1, x)[0].mean(-1)),
        "cce": (oh, p, L.categorical_crossentropy,
                lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
        "cce_logits_axis0": (
            oh.T, z.T, lambda a, b: L.categorical_crossentropy(a, b, from_logits=True, axis=0),
            lambda t, x: -(t * ref.log_softmax(x, 0)).sum(0)),
        "scce": (ids, p, L.sparse_categorical_crossentropy,
                 lambda t, p: -np.log((p / p.sum(-1, keepdims=True))[np.arange(4), t])),
        "scce_logits_ignore": (
            ids, z, lambda a, b: L.sparse_categorical_crossentropy(a, b, from_logits=True,
                                                                   ignore_class=1),
            lambda t, x: np.where(t == 1, 0, -ref.log_softmax(x)[np.arange(4), t])),
    }


@pytest.mark.parametrize("name", sorted(_loss_cases(np.random.default_rng(0))))
def test_loss_function_hvp(name):
    yt, yp, f_tf, f_np = _loss_cases(np.random.default_rng(40))[name]
    # squared, so the piecewise-linear losses (mae, hinge) have a second derivative too
    hvp_check(lambda p: tf.square(f_tf(yt, p)) + f_tf(yt, p), lambda p: f_np(yt, p) ** 2 +
              f_np(yt, p), [yp])


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_loss_objects_with_weights_hvp(reduction):
    rng = np.random.default_rng(41)
    z = rng.standard_normal((4, 3))
    t = (rng.random((4, 3)) > 0.5).astype(float)
    w = rng.random(4)
    div = {"sum_over_batch_size": 4.0, "sum": 1.0, "none": None}[reduction]
    bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction=reduction)
    mse = keras.losses.MeanSquaredError(reduction=reduction)

    def red(v):
        return v * w if div is None else (v * w).sum() / div
    hvp_check(lambda x: tf.sin(bce(t, x, sample_weight=w)),
              lambda x: np.sin(red(ref.sigmoid_xent(t, x)[0].mean(-1))), [z])
    hvp_check(lambda x: tf.sin(mse(t, x, sample_weight=w)),
              lambda x: np.sin(red(((x - t) ** 2).mean(-1))), [z])


def test_focal_losses_hvp():
    # (more cases in test_second_order_rest.py)
    x = np.array([[0.3, -1.2], [0.8, 0.1]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])

    def bfce_np(t, z):
        s = _sig(z)
        pt = t * s + (1 - t) * (1 - s)
        return ((1 - pt) ** 2 * ref.sigmoid_xent(t, z)[0]).mean(-1)
    hvp_check(lambda z: keras.losses.binary_focal_crossentropy(t, z, from_logits=True),
              lambda z: bfce_np(t, z), [x])
