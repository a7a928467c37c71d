"""Integer inputs through Keras's shape and merge layers keep their dtype (Keras casts only
floating inputs to a layer's dtype; Dense and the conv layers still cast integers), `tf.cast`
of a Variable to its own dtype carries the gradient, and UpSampling2D's resize interpolations
(Keras 2: tf.image.resize with half-pixel centres) against NumPy, forward and gradient."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers as L


def _ints(shape, seed=0):
    return np.random.default_rng(seed).integers(-50, 50, shape).astype(np.int64)


SHAPE_LAYERS = [
    ("Reshape", lambda: L.Reshape((6,)), (2, 3, 2), lambda x: x.reshape(2, 6)),
    ("Flatten", lambda: L.Flatten(), (2, 3, 2), lambda x: x.reshape(2, 6)),
    ("Permute", lambda: L.Permute((2, 1)), (2, 3, 2), lambda x: x.transpose(0, 2, 1)),
    ("RepeatVector", lambda: L.RepeatVector(2), (2, 3), lambda x: np.repeat(x[:, None], 2, 1)),
    ("Identity", lambda: L.Identity(), (2, 3), lambda x: x),
    ("Cropping1D", lambda: L.Cropping1D((1, 0)), (2, 3, 2), lambda x: x[:, 1:]),
    ("ZeroPadding1D", lambda: L.ZeroPadding1D(1), (2, 3, 2),
     lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0)))),
    ("ZeroPadding2D", lambda: L.ZeroPadding2D(1), (1, 2, 2, 1),
     lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    ("Cropping2D", lambda: L.Cropping2D(((1, 0), (0, 1))), (1, 3, 3, 2),
     lambda x: x[:, 1:, :2]),
    ("UpSampling1D", lambda: L.UpSampling1D(2), (2, 3, 2), lambda x: np.repeat(x, 2, 1)),
    ("UpSampling2D", lambda: L.UpSampling2D(2), (1, 2, 2, 1),
     lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2)),
    ("Masking", lambda: L.Masking(0), (2, 3, 2), lambda x: x * np.any(x != 0, -1)[..., None]),
]


@pytest.mark.parametrize("name,make,shape,ref", SHAPE_LAYERS, ids=[s[0] for s in SHAPE_LAYERS])
def test_shape_layers_keep_integer_dtype(name, make, shape, ref):
    x = _ints(shape)
    y = make()(x)
    assert y.dtype == tf.int64, name
    np.testing.assert_array_equal(y.numpy(), ref(x))


@pytest.mark.parametrize("name,make,shape,ref", SHAPE_LAYERS, ids=[s[0] for s in SHAPE_LAYERS])
def test_shape_layers_keep_float_dtype(name, make, shape, ref):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    y = make()(x)
    assert y.dtype == tf.float32, name
    np.testing.assert_allclose(y.numpy(), ref(x), rtol=0, atol=0)


def test_symbolic_shapes_keep_integer_dtype_and_dense_casts():
    inp = keras.Input((2,), dtype="int32")
    r = L.Reshape((2, 1))(inp)
    assert r.dtype == tf.int32
    assert L.Flatten()(r).dtype == tf.int32
    d = L.Dense(3)
    out = d(L.Flatten()(r))
    assert out.dtype == tf.float32
    m = keras.Model(inp, out)
    x = np.array([[1, 2], [3, -4]], np.int32)
    w, b = d.get_weights()
    np.testing.assert_allclose(m.predict(x, verbose=0), x.astype(np.float32) @ w + b, rtol=1e-6)


@pytest.mark.parametrize("layer,ref", [
    (L.Add, lambda a, b: a + b), (L.Subtract, lambda a, b: a - b),
    (L.Multiply, lambda a, b: a * b), (L.Maximum, np.maximum), (L.Minimum, np.minimum),
    (lambda: L.Concatenate(axis=-1), lambda a, b: np.concatenate([a, b], -1))])
def test_merge_layers(layer, ref):
    a, b = _ints((2, 3), 2), _ints((2, 3), 3)
    y = layer()([a, b])
    assert y.dtype == tf.int64
    np.testing.assert_array_equal(y.numpy(), ref(a, b))
    # a list that mixes integer and float inputs computes in the layer's float dtype
    bf = b.astype(np.float32) + 0.5
    y = layer()([a, bf])
    assert y.dtype == tf.float32
    np.testing.assert_allclose(y.numpy(), ref(a.astype(np.float32), bf), rtol=1e-6)


def test_average_and_dot_compute_in_float():
    a, b = _ints((2, 3), 4), _ints((2, 3), 5)
    y = L.Average()([a, b])
    assert y.dtype == tf.float32
    np.testing.assert_allclose(y.numpy(), (a + b) / 2.0, rtol=1e-6)
    y = L.Dot(axes=1)([a, b])
    assert y.dtype == tf.float32
    np.testing.assert_allclose(y.numpy(), (a * b).sum(1, keepdims=True), rtol=1e-6)


def test_user_layer_on_reshape_keeps_rule():
    class MyReshape(L.Reshape):
        def call(self, inputs):
            return super().call(inputs)
    assert MyReshape((4,))(_ints((2, 2, 2))).dtype == tf.int64

    class MyDense(L.Dense):
        def call(self, inputs):
            assert inputs.dtype == tf.float32  # Dense casts integers inside, as Keras's does
            return super().call(inputs)
    assert MyDense(2)(_ints((2, 3))).dtype == tf.float32


def test_sequential_flatten_on_uint8_images_trains():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (32, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 3, 32)
    for first in (L.Flatten(input_shape=(4, 4)), L.Flatten()):
        m = keras.Sequential([first, L.Dense(3, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy")
        m.fit(x, y, epochs=1, verbose=0)
        w, b = m.layers[-1].get_weights()
        z = x.reshape(32, -1).astype(np.float64) @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        np.testing.assert_allclose(m.predict(x, verbose=0), p, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- cast of a Variable


def test_cast_variable_to_own_dtype_is_a_differentiable_snapshot():
    v0 = np.random.default_rng(6).standard_normal((3, 2)).astype(np.float32)
    v = tf.Variable(v0)
    with tf.GradientTape() as tape:
        c = tf.cast(v, tf.float32)
        loss = tf.reduce_sum(c * c * c)
    g = tape.gradient(loss, v)
    assert g is not None
    np.testing.assert_allclose(g.numpy(), 3 * v0.astype(np.float64) ** 2, rtol=1e-5)
    v.assign_add(tf.ones_like(v))
    np.testing.assert_array_equal(c.numpy(), v0)  # the value read before the assign


def test_cast_tensor_to_own_dtype_is_the_tensor():
    t = tf.constant([1.0, 2.0])
    assert tf.cast(t, tf.float32) is t


# ---------------------------------------------------------------- UpSampling2D interpolation


def _bilinear_matrix(n_in, n_out):
    """TF2 resize, half-pixel centres: source coordinate (o + 0.5) * n_in / n_out - 0.5,
    clamped at 0, linear between the two neighbours (the upper one clamped to n_in - 1)."""
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        s = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = int(np.floor(s))
        f = s - i0
        i1 = min(i0 + 1, n_in - 1)
        m[o, i0] += 1 - f
        m[o, i1] += f
    return m


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling2d_bilinear_forward_and_gradient(data_format):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 2))
    my, mx = _bilinear_matrix(3, 6), _bilinear_matrix(4, 12)
    ref = np.einsum("oh,nhwc->nowc", my, x)
    ref = np.einsum("pw,nowc->nopc", mx, ref)
    layer = L.UpSampling2D((2, 3), data_format=data_format, interpolation="bilinear")
    xin = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    xv = tf.Variable(xin.astype(np.float32))
    g = rng.standard_normal(ref.shape)
    gin = g if data_format == "channels_last" else g.transpose(0, 3, 1, 2)
    with tf.GradientTape() as tape:
        y = layer(xv)
        loss = tf.reduce_sum(y * tf.constant(gin.astype(np.float32)))
    out = y.numpy() if data_format == "channels_last" else y.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    # d loss / d x = my^T (g) mx, the adjoint of the two resize matrices
    dref = np.einsum("oh,nopc,pw->nhwc", my, g, mx)
    dx = tape.gradient(loss, xv).numpy()
    dx = dx if data_format == "channels_last" else dx.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(dx, dref, rtol=1e-4, atol=1e-4)


def test_upsampling2d_bilinear_in_a_model_and_config():
    m = keras.Sequential([keras.Input((2, 2, 1)), L.UpSampling2D(interpolation="bilinear"),
                          L.Conv2D(1, 1)])
    cfg = m.layers[0].get_config()
    assert cfg["interpolation"] == "bilinear"
    assert m.output_shape == (None, 4, 4, 1)
    m.compile("sgd", "mse")
    x = np.random.default_rng(8).standard_normal((4, 2, 2, 1)).astype(np.float32)
    h = m.fit(x, np.zeros((4, 4, 4, 1), np.float32), epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_upsampling2d_bilinear_int_input_gives_float():
    y = L.UpSampling2D(interpolation="bilinear")(_ints((1, 2, 2, 1)))
    assert y.dtype == tf.float32


def test_upsampling2d_bad_interpolation_names_layer():
    with pytest.raises(ValueError, match="up_sampling2d.*interpolation"):
        L.UpSampling2D(interpolation="cubic-ish")


# ---------------------------------------------------------------- Resizing interpolations


def _keys_cubic_matrix(n_in, n_out, a=-0.5):
    """TF2 resize 'bicubic' (antialias=False, TF's resize_bicubic with half-pixel centres):
    Keys cubic convolution (a = -0.5) at the sub-pixel offset rounded to 1/1024 (TF's
    coefficient table); taps outside the image are dropped and the rest renormalised."""
    def keys(d):
        d = abs(d)
        return ((a + 2) * d ** 3 - (a + 3) * d ** 2 + 1) if d <= 1 else \
            (a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a) if d < 2 else 0.0
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        s = np.float32((o + 0.5) * np.float32(n_in / n_out)) - 0.5
        i0 = int(np.floor(s))
        f = np.rint((s - i0) * 1024) / 1024
        for k, d in zip(range(i0 - 1, i0 + 3), (1 + f, f, 1 - f, 2 - f)):
            if 0 <= k < n_in:
                m[o, k] += keys(d)
        m[o] /= m[o].sum()
    return m


def _area_matrix(n_in, n_out):
    """'area' downscaling: each output pixel averages the input interval it covers."""
    m = np.zeros((n_out, n_in))
    scale = n_in / n_out
    for o in range(n_out):
        lo, hi = o * scale, (o + 1) * scale
        for i in range(n_in):
            m[o, i] = max(0.0, min(hi, i + 1) - max(lo, i)) / scale
    return m


@pytest.mark.parametrize("method,matrix,size", [("bicubic", _keys_cubic_matrix, (9, 5)),
                                                ("area", _area_matrix, (3, 2))])
def test_resizing_layer_interpolations(method, matrix, size):
    x = np.random.default_rng(9).random((2, 6, 4, 3))
    h, w = size
    ref = np.einsum("pw,bowc->bopc", matrix(4, w), np.einsum("oh,bhwc->bowc", matrix(6, h), x))
    y = L.Resizing(h, w, interpolation=method)(x.astype(np.float32))
    assert y.shape == (2, h, w, 3)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    assert L.Resizing(h, w, interpolation=method).get_config()["interpolation"] == method
