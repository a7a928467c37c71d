"""conv2d / conv1d / conv2d_transpose: kernels and ops against the naive references in
reference_conv.py, float32 and float64, with float64 central finite differences."""
import numpy as np
import pytest

import nabi as tf
from nabi import _C

import reference_conv as R

rng = np.random.default_rng(1234)

# (N, H, W, C, KH, KW, CO, strides, dilations, padding)
CASES = [
    (2, 7, 9, 3, 3, 3, 4, (1, 1), (1, 1), "SAME"),
    (2, 7, 9, 3, 3, 3, 4, (2, 2), (1, 1), "SAME"),
    (1, 8, 6, 2, 2, 2, 3, (1, 1), (1, 1), "SAME"),      # even kernel: extra pad bottom/right
    (1, 9, 7, 2, 2, 4, 3, (2, 1), (1, 1), "SAME"),
    (3, 6, 5, 4, 1, 1, 5, (1, 1), (1, 1), "VALID"),
    (2, 11, 10, 2, 5, 5, 6, (1, 1), (1, 1), "SAME"),
    (2, 11, 10, 3, 5, 5, 2, (2, 2), (1, 1), "VALID"),
    (1, 9, 9, 2, 3, 3, 4, (1, 1), (2, 2), "SAME"),      # dilation 2
    (2, 10, 8, 3, 3, 2, 4, (2, 1), (2, 1), "VALID"),
    (2, 10, 9, 1, 3, 3, 40, (1, 1), (1, 1), "SAME"),    # C == 1: direct kernel, CO > 32
    (2, 9, 8, 1, 5, 5, 7, (2, 2), (1, 1), "SAME"),
    (1, 8, 8, 1, 3, 3, 5, (1, 2), (2, 1), [[0, 0], [1, 2], [0, 1], [0, 0]]),
    (2, 6, 7, 3, 3, 3, 2, (1, 1), (1, 1), [[2, 0], [1, 3]]),
    # C == 1, CO % 16 == 0: the 4-pixel AVX2 kernel (interior) plus the border path
    (2, 13, 17, 1, 3, 3, 32, (1, 1), (1, 1), "SAME"),
    (1, 12, 19, 1, 3, 2, 16, (2, 3), (1, 2), "SAME"),
    (2, 9, 14, 1, 2, 3, 48, (1, 1), (2, 1), "VALID"),
    # implicit-GEMM forward / backward-data (float32, AVX2): CO off 16, pixels off 6
    (2, 7, 11, 8, 3, 3, 20, (1, 1), (1, 1), "SAME"),
    (3, 9, 8, 16, 3, 2, 33, (2, 1), (2, 1), "SAME"),
    (1, 10, 9, 5, 4, 3, 7, (1, 2), (1, 1), [[0, 0], [3, 1], [0, 2], [0, 0]]),
    # narrow output (float32, CO <= 8): dot-product forward and filter kernels; CO == 1 at
    # stride 1 takes the direct kernel for dx. KW*C = 168 (two 64-blocks and a tail), 15 (a
    # vector tail), row dilation, stride 2, CO at the limit and just past it
    (2, 9, 10, 24, 7, 7, 1, (1, 1), (1, 1), "SAME"),
    (3, 8, 7, 5, 3, 3, 3, (2, 2), (1, 1), "SAME"),
    (2, 9, 8, 12, 3, 3, 1, (1, 1), (2, 1), "SAME"),
    (2, 7, 8, 9, 3, 3, 8, (1, 1), (1, 1), "SAME"),
    (2, 7, 8, 9, 3, 3, 9, (1, 1), (1, 1), "VALID"),
]


def pads_of(H, W, KH, KW, s, d, padding):
    if padding == "SAME":
        return R.same_pads(H, KH, s[0], d[0]) + R.same_pads(W, KW, s[1], d[1])
    if padding == "VALID":
        return (0, 0, 0, 0)
    p = padding if len(padding) == 2 else padding[1:3]
    return (p[0][0], p[0][1], p[1][0], p[1][1])


def data(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_forward_and_gradients(case, dtype):
    N, H, W, C, KH, KW, CO, s, d, padding = case
    x, w, b = data((N, H, W, C), dtype), data((KH, KW, C, CO), dtype), data((CO,), dtype)
    pads = pads_of(H, W, KH, KW, s, d, padding)
    ref = R.conv2d(x.astype(np.float64), w.astype(np.float64), s, d, pads)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    xt, wt, bt = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(xt, wt, s, padding, dilations=d)
        z = tf.nn.bias_add(y, bt)
        c = data(ref.shape, dtype)
        loss = tf.reduce_sum(z * c)
    np.testing.assert_allclose(y.numpy(), ref, **tol)
    assert y.dtype == tf.as_dtype(dtype)
    dx, dw, db = tape.gradient(loss, [xt, wt, bt])
    c64 = c.astype(np.float64)
    np.testing.assert_allclose(dx.numpy(), R.conv2d_backward_data(c64, x.shape, w.astype(np.float64), s, d, pads), **tol)
    np.testing.assert_allclose(dw.numpy(), R.conv2d_backward_filter(x.astype(np.float64), c64, w.shape, s, d, pads), **tol)
    np.testing.assert_allclose(db.numpy(), c64.sum((0, 1, 2)), **tol)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[2], CASES[7], CASES[9], CASES[11],
                                  CASES[13], CASES[14], CASES[15]])
def test_fused_bias_relu_gradients(case):
    N, H, W, C, KH, KW, CO, s, d, padding = case
    dtype = np.float64
    x, w, b = data((N, H, W, C), dtype), data((KH, KW, C, CO), dtype), data((CO,), dtype)
    pads = pads_of(H, W, KH, KW, s, d, padding)
    z = R.conv2d(x, w, s, d, pads) + b
    xt, wt, bt = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    c = data(z.shape, dtype)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d_bias_activation(xt, wt, bt, s, padding, dilations=d, activation="relu")
        loss = tf.reduce_sum(y * c)
    np.testing.assert_allclose(y.numpy(), np.maximum(z, 0), rtol=1e-10, atol=1e-10)
    dx, dw, db = tape.gradient(loss, [xt, wt, bt])
    gm = c * (z > 0)
    np.testing.assert_allclose(dx.numpy(), R.conv2d_backward_data(gm, x.shape, w, s, d, pads), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw.numpy(), R.conv2d_backward_filter(x, gm, w.shape, s, d, pads), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db.numpy(), gm.sum((0, 1, 2)), rtol=1e-10, atol=1e-10)


def _fd_check(f, arrays, idx_count=6, eps=1e-6):
    """Central finite differences of sum(f(*arrays) * c) at a few random coordinates."""
    out = f(*arrays)
    c = data(out.shape, np.float64)
    vs = [tf.Variable(a) for a in arrays]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(f(*vs) * c)
    grads = tape.gradient(loss, vs)
    for a, g in zip(arrays, grads):
        flat = a.reshape(-1)
        for k in rng.choice(flat.size, size=min(idx_count, flat.size), replace=False):
            old = flat[k]
            flat[k] = old + eps
            lp = float(np.sum(np.asarray(f(*arrays)) * c))
            flat[k] = old - eps
            lm = float(np.sum(np.asarray(f(*arrays)) * c))
            flat[k] = old
            np.testing.assert_allclose(g.numpy().reshape(-1)[k], (lp - lm) / (2 * eps),
                                       rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[7], CASES[10]])
def test_conv2d_finite_differences_float64(case):
    N, H, W, C, KH, KW, CO, s, d, padding = case
    x, w, b = data((N, H, W, C), np.float64), data((KH, KW, C, CO), np.float64), data((CO,), np.float64)
    _fd_check(lambda x_, w_, b_: tf.nn.conv2d_bias_activation(x_, w_, b_, s, padding, dilations=d),
              [x, w, b])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nchw_matches_nhwc(dtype):
    x, w = data((2, 3, 7, 6), dtype), data((3, 3, 3, 4), dtype)
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(xt, w, [1, 1, 2, 2], "SAME", data_format="NCHW")
        loss = tf.reduce_sum(y * y)
    ref = np.transpose(tf.nn.conv2d(np.transpose(x, (0, 2, 3, 1)), w, 2, "SAME").numpy(), (0, 3, 1, 2))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)
    dx = tape.gradient(loss, xt).numpy()
    pads = R.same_pads(7, 3, 2) + R.same_pads(6, 3, 2)
    dref = R.conv2d_backward_data(2 * np.transpose(ref, (0, 2, 3, 1)).astype(np.float64),
                                  (2, 7, 6, 3), w.astype(np.float64), (2, 2), (1, 1), pads)
    np.testing.assert_allclose(dx, np.transpose(dref, (0, 3, 1, 2)), rtol=tol * 10, atol=tol * 10)


def test_batch_one_large_image_threads_inside_gemm():
    x, w, b = data((1, 40, 37, 8), np.float32), data((3, 3, 8, 16), np.float32), data((16,), np.float32)
    y = _C.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1, 1, 1), True)
    z = R.conv2d(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1), (1, 1, 1, 1)) + b
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-4, atol=1e-4)
    g = data(y.shape, np.float32)
    dx, dw, db = _C.conv2d_backward(g, x, w, y, (1, 1), (1, 1), (1, 1, 1, 1), True, True, True)
    gm = (g * (z > 0)).astype(np.float64)
    np.testing.assert_allclose(dx, R.conv2d_backward_data(gm, x.shape, w.astype(np.float64), (1, 1), (1, 1), (1, 1, 1, 1)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, R.conv2d_backward_filter(x.astype(np.float64), gm, w.shape, (1, 1), (1, 1), (1, 1, 1, 1)), rtol=1e-4, atol=2e-3)


def test_seed_layer_shapes_batch_100():
    x, w = data((100, 14, 14, 32), np.float32), data((3, 3, 32, 64), np.float32)
    y = tf.nn.conv2d(x, w, 1, "SAME").numpy()
    ref = R.conv2d(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1), (1, 1, 1, 1))
    assert y.shape == (100, 14, 14, 64)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-3)   # tiles span image boundaries


def test_conv1d_and_convolution():
    x, w = data((2, 11, 3), np.float64), data((3, 3, 5), np.float64)
    y = tf.nn.conv1d(x, w, 2, "SAME").numpy()
    ref = R.conv2d(x[:, None], w[None], (1, 2), (1, 1), (0, 0) + R.same_pads(11, 3, 2))[:, 0]
    np.testing.assert_allclose(y, ref, rtol=1e-10)
    np.testing.assert_allclose(tf.nn.convolution(x, w, 2, "SAME").numpy(), ref, rtol=1e-10)
    _fd_check(lambda a, b: tf.nn.conv1d(a, b, 1, "VALID", dilations=2), [x, w])


def test_conv2d_transpose_is_the_adjoint():
    u, w = data((2, 4, 5, 3), np.float64), data((3, 3, 2, 3), np.float64)
    y = tf.nn.conv2d_transpose(u, w, [2, 8, 10, 2], 2, "SAME").numpy()
    pads = R.same_pads(8, 3, 2) + R.same_pads(10, 3, 2)
    np.testing.assert_allclose(y, R.conv2d_backward_data(u, (2, 8, 10, 2), w, (2, 2), (1, 1), pads), rtol=1e-10)
    _fd_check(lambda a, b: tf.nn.conv2d_transpose(a, b, [2, 8, 10, 2], 2, "SAME"), [u, w])


def test_depthwise_conv2d():
    x, w = data((1, 6, 5, 2), np.float64), data((3, 3, 2, 2), np.float64)
    y = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME").numpy()
    pads = (1, 1, 1, 1)
    ref = np.concatenate([R.conv2d(x[..., c:c + 1], w[:, :, c:c + 1, :], (1, 1), (1, 1), pads)
                          for c in range(2)], axis=-1)
    np.testing.assert_allclose(y, ref, rtol=1e-10)


def test_errors():
    x = np.zeros((1, 5, 5, 1), np.float32)
    w = np.zeros((3, 3, 1, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[conv2d\] input must be 4-D \(N, H, W, C\), got shape \(28, 28\)"):
        tf.nn.conv2d(np.zeros((28, 28), np.float32), w, 1, "SAME")
    with pytest.raises(ValueError, match=r"\[conv2d\] input has 1 channels but filters"):
        tf.nn.conv2d(x, np.zeros((3, 3, 2, 2), np.float32), 1, "SAME")
    with pytest.raises(ValueError, match=r"\[conv2d\] strides must be >= 1"):
        tf.nn.conv2d(x, w, 0, "SAME")
    with pytest.raises(ValueError, match=r"\[conv2d\] filter 7x7 .* larger than the padded input 5x5"):
        tf.nn.conv2d(x, np.zeros((7, 7, 1, 2), np.float32), 1, "VALID")
    with pytest.raises(TypeError, match=r"\[conv2d\] input and filters dtypes differ"):
        tf.nn.conv2d(x, tf.constant(w.astype(np.float64)), 1, "SAME")
    # a NumPy filter takes the input's dtype, as TF converts it
    y = tf.nn.conv2d(x, w.astype(np.float64), 1, "SAME")
    assert y.dtype == tf.float32
    with pytest.raises(TypeError, match=r"\[conv2d\] expects a float32 or float64"):
        tf.nn.conv2d(x.astype(np.int32), w, 1, "SAME")
    with pytest.raises(ValueError, match=r"\[conv2d\] padding must be"):
        tf.nn.conv2d(x, w, 1, "FULL")
    with pytest.raises(ValueError, match=r"\[conv2d\] filters must be 4-D"):
        tf.nn.conv2d(x, np.zeros((3, 3, 1), np.float32), 1, "SAME")
    with pytest.raises(ValueError, match=r"\[conv2d\] strides \[2, 1, 1, 1\] must be 1 in the batch"):
        tf.nn.conv2d(x, w, [2, 1, 1, 1], "SAME")
    # the binding checks too (direct callers)
    with pytest.raises(ValueError, match=r"\[conv2d\] input must be 4-D"):
        _C.conv2d_forward(np.zeros((5, 5, 1), np.float32), w, None, (1, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"\[conv2d\] strides must be >= 1"):
        _C.conv2d_forward(x, w, None, (0, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"larger than the padded input"):
        _C.conv2d_forward(x, np.zeros((6, 1, 1, 2), np.float32), None, (1, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"\[conv2d\] bias"):
        _C.conv2d_forward(x, w, np.zeros(3, np.float32), (1, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"\[conv2d\] grad_y"):
        _C.conv2d_backward(np.zeros((1, 5, 5, 2), np.float32), x, w, None, (1, 1), (1, 1), (0, 0, 0, 0), True, True, True)
    with pytest.raises(ValueError, match=r"C-contiguous"):
        _C.conv2d_forward(np.zeros((1, 5, 5, 2), np.float32)[..., :1], w, None, (1, 1), (1, 1), (0, 0, 0, 0))


# ------------------------------------------------------------------ Keras layers


def test_conv2d_layer_channels_last_and_first_agree():
    from nabi import keras
    x = data((2, 9, 7, 3), np.float32)
    a = keras.layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu")
    ya = a(x).numpy()
    assert a.kernel.shape == (3, 2, 3, 4) and a.bias.shape == (4,)
    k, b = a.kernel.numpy(), a.bias.numpy()
    ref = np.maximum(R.conv2d(x.astype(np.float64), k.astype(np.float64), (2, 2), (1, 1),
                              R.same_pads(9, 3, 2) + R.same_pads(7, 2, 2)) + b, 0)
    np.testing.assert_allclose(ya, ref, rtol=1e-4, atol=1e-4)
    c = keras.layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu",
                            data_format="channels_first")
    yc = c(np.transpose(x, (0, 3, 1, 2))).numpy()
    c.set_weights([k, b])
    yc = c(np.transpose(x, (0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(np.transpose(yc, (0, 2, 3, 1)), ya, rtol=1e-5, atol=1e-5)


def test_conv_layers_train_and_summary_counts():
    import nabi as tf
    from nabi import keras
    L = keras.layers
    m = keras.Sequential([L.Input((12, 12, 1)), L.Conv2D(8, 3, activation="relu"),
                          L.MaxPooling2D(), L.Conv2D(16, 3, padding="same", dilation_rate=2,
                                                     activation="tanh"),
                          L.BatchNormalization(), L.GlobalAveragePooling2D(), L.Dense(3)])
    assert [tuple(w.shape) for w in m.layers[0].weights] == [(3, 3, 1, 8), (8,)]
    assert m.count_params() == 80 + 1168 + 64 + 51
    assert m.layers[3].weights[2].trainable is False or len(m.layers[3].trainable_weights) == 2
    x = data((6, 12, 12, 1), np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    opt = keras.optimizers.Adam(0.01)
    losses = []
    for _ in range(15):
        with tf.GradientTape() as tape:
            logits = m(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        g = tape.gradient(loss, m.trainable_weights)
        assert all(gi is not None for gi in g)
        opt.apply_gradients(zip(g, m.trainable_weights))
        losses.append(float(loss.numpy()))
    assert losses[-1] < losses[0]


def test_conv1d_upsampling_padding_layers():
    from nabi import keras
    L = keras.layers
    x = data((2, 10, 3), np.float32)
    c = L.Conv1D(4, 3, padding="causal")
    y = c(x).numpy()
    k = c.kernel.numpy()
    xp = np.pad(x, ((0, 0), (2, 0), (0, 0)))
    ref = sum(np.einsum("nwc,co->nwo", xp[:, i:i + 10], k[i]) for i in range(3))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    x4 = data((1, 3, 4, 2), np.float32)
    assert L.ZeroPadding2D(((1, 2), (0, 1)))(x4).shape == (1, 6, 5, 2)
    u = L.UpSampling2D((2, 3))(x4).numpy()
    np.testing.assert_array_equal(u, x4.repeat(2, 1).repeat(3, 2))
    assert L.Cropping2D(((1, 0), (1, 2)))(x4).shape == (1, 2, 1, 2)
    t = L.Conv2DTranspose(5, 3, strides=2, padding="same")
    assert t(x4).shape == (1, 6, 8, 5)
    assert L.Conv2DTranspose(5, 3, strides=2)(x4).shape == (1, 7, 9, 5)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[9], CASES[13], CASES[14],
                                  CASES[15], CASES[16], CASES[17], CASES[18]])
def test_float32_forward_fused_bias_relu(case):
    """The float32 forward kernels (C == 1 direct, implicit GEMM) with bias and ReLU."""
    N, H, W, C, KH, KW, CO, s, d, padding = case
    x, w, b = (data((N, H, W, C), np.float32), data((KH, KW, C, CO), np.float32),
               data((CO,), np.float32))
    pads = pads_of(H, W, KH, KW, s, d, padding)
    ref = np.maximum(R.conv2d(x.astype(np.float64), w.astype(np.float64), s, d, pads) + b, 0)
    for bias in (b, None):
        y = _C.conv2d_forward(x, w, bias, s, d, pads, True)
        r = ref if bias is not None else np.maximum(
            R.conv2d(x.astype(np.float64), w.astype(np.float64), s, d, pads), 0)
        np.testing.assert_allclose(y, r, rtol=1e-5, atol=1e-5)


def test_recycled_outputs_never_alias_live_arrays():
    """conv2d_forward/backward reuse large output arrays only once nothing references them."""
    x = data((8, 16, 16, 32), np.float32)
    w = data((3, 3, 32, 64), np.float32)
    pads = (1, 1, 1, 1)
    y1 = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), pads, False)
    y1c = y1.copy()
    y2 = _C.conv2d_forward(2 * x, w, None, (1, 1), (1, 1), pads, False)
    assert not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, y1c)
    np.testing.assert_allclose(y2, 2 * y1c, rtol=1e-5, atol=1e-4)
    view = y2[:, 1:]
    del y2
    y3 = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), pads, False)
    assert not np.shares_memory(y3, view)
    dx1, _, _ = _C.conv2d_backward(y1, x, w, None, (1, 1), (1, 1), pads, True, False, False)
    d1 = dx1.copy()
    dx2, _, _ = _C.conv2d_backward(y1, x, w, None, (1, 1), (1, 1), pads, True, False, False)
    assert not np.shares_memory(dx1, dx2)
    np.testing.assert_array_equal(dx2, d1)


@pytest.mark.parametrize("shape", [
    (2, 7, 11, 8, 3, 3, 20, (1, 1), (1, 1), (1, 1, 1, 1)),
    (2, 9, 8, 12, 3, 2, 5, (1, 1), (2, 1), (2, 2, 0, 1)),     # row dilation 2
    (1, 6, 7, 16, 2, 3, 9, (1, 1), (1, 1), (3, 0, 4, 1)),     # padding past KH-1 / KW-1
    (3, 10, 9, 32, 5, 5, 17, (1, 1), (1, 1), (2, 2, 2, 2)),
    (3, 10, 9, 8, 3, 3, 16, (1, 1), (1, 1), (1, 1, 1, 1)),    # CO % 16 == 0: filter kernel
    (2, 11, 9, 5, 3, 3, 32, (2, 2), (1, 1), (1, 1, 1, 1)),    # stride 2, KW*C off 6
    (2, 9, 10, 7, 2, 4, 48, (1, 2), (2, 1), (1, 2, 0, 3)),
    (3, 12, 11, 1, 3, 3, 32, (1, 1), (1, 1), (0, 0, 0, 0)),   # C == 1 (first layer)
    # stride > 1: dx by sub-pixel phases (implicit GEMM per phase), incl. phases no tap
    # reaches (1x1 stride 2), stride 3 with uneven taps, the GAN's 4x4/2, large padding
    (2, 9, 8, 6, 1, 1, 4, (2, 2), (1, 1), (0, 0, 0, 0)),
    (2, 10, 11, 4, 4, 4, 8, (3, 2), (1, 1), (1, 2, 2, 1)),
    (1, 14, 14, 16, 4, 4, 16, (2, 2), (1, 1), (1, 1, 1, 1)),
    (2, 7, 9, 3, 5, 3, 2, (2, 3), (1, 1), (4, 0, 0, 2)),
    (2, 8, 8, 20, 3, 3, 24, (2, 2), (1, 1), (0, 1, 0, 1)),
    # narrow output (CO <= 8): forward/filter dot-product kernels, CO == 1 dx direct kernel
    (2, 9, 10, 24, 7, 7, 1, (1, 1), (1, 1), (3, 3, 3, 3)),
    (2, 7, 9, 5, 3, 3, 3, (2, 2), (1, 1), (1, 1, 1, 1)),
    (1, 8, 9, 12, 3, 3, 1, (1, 1), (2, 1), (2, 2, 1, 1)),     # row dilation 2
    (2, 6, 7, 6, 2, 3, 1, (1, 1), (1, 1), (3, 0, 4, 1)),      # padding past KH-1: im2col dx
    (2, 7, 8, 9, 3, 3, 8, (1, 1), (1, 1), (1, 1, 1, 1)),
])
def test_float32_backward_with_relu_mask(shape):
    """Float32 backward (implicit-GEMM backward-data for stride 1, backward-filter for
    CO % 16 == 0), with and without the fused-ReLU mask, against the float64 reference."""
    N, H, W, C, KH, KW, CO, st, d, pads = shape
    x, w = data((N, H, W, C), np.float32), data((KH, KW, C, CO), np.float32)
    y = _C.conv2d_forward(x, w, None, st, d, pads, True)
    g = data(y.shape, np.float32)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for masked in (False, True):
        for need in ((True, True, True), (False, True, False), (False, False, True)):
            dx, dw, db = _C.conv2d_backward(g, x, w, y if masked else None, st, d, pads, *need)
            gm = (g * (y > 0)).astype(np.float64) if masked else g.astype(np.float64)
            if need[0]:
                ref = R.conv2d_backward_data(gm, x.shape, w64, st, d, pads)
                np.testing.assert_allclose(dx, ref, rtol=1e-4, atol=1e-4)
            else:
                assert dx is None
            if need[1]:
                ref = R.conv2d_backward_filter(x64, gm, w.shape, st, d, pads)
                np.testing.assert_allclose(dw, ref, rtol=1e-4, atol=1e-3)
            else:
                assert dw is None
            if need[2]:
                np.testing.assert_allclose(db, gm.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
            else:
                assert db is None


# The AVX-512 implicit-GEMM tiles (csrc/cpu/conv2d_avx512.cpp; AVX2 machines take the 6x16
# kernel for the same shapes): tile height 7 (7x7, 14x14 outputs), 8 (8x8) and 6 (6x5), a
# prime pixel count (a short last tile), output channels past a 32-column panel (masked),
# and K cut into filter-row chunks (KW*C > 192 / 2) -- forward with bias and ReLU, dx at
# stride 1 and by sub-pixel phases (Conv2DTranspose), with and without the ReLU mask.
@pytest.mark.parametrize("shape", [
    (2, 7, 7, 48, 3, 3, 40, (1, 1), (1, 1), (1, 1, 1, 1)),
    (2, 8, 8, 24, 3, 3, 64, (1, 1), (1, 1), (1, 1, 1, 1)),
    (1, 6, 5, 16, 3, 3, 20, (1, 1), (1, 1), (1, 1, 1, 1)),
    (2, 13, 1, 8, 3, 1, 33, (1, 1), (1, 1), (1, 1, 0, 0)),
    (2, 9, 9, 36, 3, 3, 70, (1, 1), (1, 1), (1, 1, 1, 1)),
    (2, 14, 14, 40, 4, 4, 24, (2, 2), (1, 1), (1, 1, 1, 1)),
    (1, 14, 14, 72, 4, 4, 64, (2, 2), (1, 1), (1, 1, 1, 1)),
])
def test_float32_implicit_gemm_tiles(shape):
    N, H, W, C, KH, KW, CO, st, d, pads = shape
    x, w, b = (data((N, H, W, C), np.float32), data((KH, KW, C, CO), np.float32),
               data((CO,), np.float32))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = R.conv2d(x64, w64, st, d, pads)
    tol = dict(rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(_C.conv2d_forward(x, w, None, st, d, pads, False), ref, **tol)
    y = _C.conv2d_forward(x, w, b, st, d, pads, True)
    np.testing.assert_allclose(y, np.maximum(ref + b, 0), **tol)
    g = data(y.shape, np.float32)
    for masked in (False, True):
        dx, _, _ = _C.conv2d_backward(g, x, w, y if masked else None, st, d, pads, True, False,
                                      False)
        gm = (g * (y > 0)).astype(np.float64) if masked else g.astype(np.float64)
        np.testing.assert_allclose(dx, R.conv2d_backward_data(gm, x.shape, w64, st, d, pads),
                                   **tol)


# Conv2DTranspose's output_padding (shared checker with Conv1D/3DTranspose): zeros allowed per
# axis, each smaller than its stride, as Keras.
def test_conv2d_transpose_output_padding_per_axis():
    from nabi import keras
    from reference_conv import conv2d_backward_data
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 2))
    layer = keras.layers.Conv2DTranspose(3, 3, strides=2, output_padding=(0, 1),
                                         use_bias=False, dtype="float64")
    y = layer(x)
    # valid: (n - 1) * s + k + output_padding
    assert tuple(y.shape) == (2, 7, 10, 3)
    w = layer.kernel.numpy()                  # (kh, kw, filters, in): conv from 3 to 2 channels
    np.testing.assert_allclose(y.numpy(), conv2d_backward_data(x, (2, 7, 10, 3), w,
                                                               strides=(2, 2)), atol=1e-12)
    with pytest.raises(ValueError, match=r"strides \(2, 2\) must be greater than output padding"):
        keras.layers.Conv2DTranspose(3, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"output_padding must be a non-negative int or a tuple "
                                         r"of 2"):
        keras.layers.Conv2DTranspose(3, 3, strides=2, output_padding=(1, 1, 1))
