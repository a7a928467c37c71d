"""Max/average pooling and batch normalisation kernels and ops against naive references."""
import numpy as np
import pytest

import nabi as tf
from nabi import _C
from nabi.framework.device import to_device

import reference_conv as R

rng = np.random.default_rng(7)

# (N, H, W, C, k, s, padding)
POOL_CASES = [
    (2, 8, 8, 3, (2, 2), (2, 2), "VALID"),
    (2, 7, 9, 3, (2, 2), (2, 2), "SAME"),
    (1, 7, 6, 2, (3, 3), (2, 2), "SAME"),
    (2, 9, 8, 4, (3, 2), (1, 2), "VALID"),
    (1, 5, 5, 1, (3, 3), (1, 1), "SAME"),
    (3, 6, 7, 5, (2, 3), (3, 1), "SAME"),
    (2, 9, 10, 3, (2, 2), (3, 3), "VALID"),   # stride > window: rows/columns in no window
    (2, 5, 7, 37, (2, 2), (2, 2), "SAME"),    # channel count off the vector width
    (2, 7, 9, 8, (2, 2), (2, 2), "VALID"),    # 2x2/2 AVX2 argmax kernel, odd sizes
    (3, 6, 4, 24, (2, 2), (2, 2), "SAME"),
]


def pads_of(H, W, k, s, padding):
    if padding == "SAME":
        return R.same_pads(H, k[0], s[0]) + R.same_pads(W, k[1], s[1])
    return (0, 0, 0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool(case, dtype):
    N, H, W, C, k, s, padding = case
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    pads = pads_of(H, W, k, s, padding)
    yr, ir = R.max_pool(x, k, s, pads)
    xt = tf.Variable(x)
    g = rng.standard_normal(yr.shape).astype(dtype)
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool2d(xt, k, s, padding)
        loss = tf.reduce_sum(y * g)
    np.testing.assert_array_equal(y.numpy(), yr)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(), R.max_pool_backward(g, ir, x.shape), rtol=1e-6)
    for idt in ("int32", "int64"):
        y2, idx = _C.max_pool2d_forward(x, k, s, pads, True, idt)
        assert idx.dtype == np.dtype(idt)
        np.testing.assert_array_equal(idx, ir)


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_backward_window_path_matches_scatter_and_recycles(case):
    """The write-once kernel (window given, windows disjoint) equals the general scatter, and
    recycled output arrays never alias a result someone still holds."""
    N, H, W, C, k, s, padding = case
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    x[:, ::2, ::2, :] = np.round(x[:, ::2, ::2, :])  # some ties
    pads = pads_of(H, W, k, s, padding)
    for idt in ("int32", "int64"):
        _, idx = _C.max_pool2d_forward(x, k, s, pads, True, idt)
        g = rng.standard_normal(idx.shape).astype(np.float32)
        ref = R.max_pool_backward(g, idx, x.shape)
        held = []
        for _ in range(3):
            dx = _C.max_pool2d_backward(g, idx, x.shape, k, s, pads)
            np.testing.assert_array_equal(dx, ref)
            np.testing.assert_array_equal(_C.max_pool2d_backward(g, idx, x.shape), ref)
            held.append(dx)
        assert len({id(h) for h in held}) == 3
    big = rng.standard_normal((8, 32, 32, 16)).astype(np.float32)
    _, bi = _C.max_pool2d_forward(big, (2, 2), (2, 2), (0, 0, 0, 0), True, "int32")
    bg = rng.standard_normal(bi.shape).astype(np.float32)
    a = _C.max_pool2d_backward(bg, bi, big.shape, (2, 2), (2, 2), (0, 0, 0, 0))
    a_copy = a.copy()
    b = _C.max_pool2d_backward(2 * bg, bi, big.shape, (2, 2), (2, 2), (0, 0, 0, 0))
    assert not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, 2 * a_copy)
    with pytest.raises(ValueError, match=r"\[max_pool2d\] give all of ksize"):
        _C.max_pool2d_backward(bg, bi, big.shape, (2, 2))


def test_max_pool_2x2_ties_and_nan_match_the_generic_rule():
    """The 2x2/2 vector kernel keeps the first maximum and never picks NaN, as the
    generic loop (checked against the NumPy reference) does."""
    x = np.round(rng.standard_normal((3, 6, 8, 16)) * 0.7).astype(np.float32)  # many ties
    x[0, 1, 1, 3] = np.nan
    x[1, 0, 0, 5] = np.nan
    y, idx = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), True, "int32")
    y64, idx64 = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), True, "int64")
    np.testing.assert_array_equal(idx, idx64)
    np.testing.assert_array_equal(y, y64)
    y_no_idx, none = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), False, "int32")
    assert none is None
    np.testing.assert_array_equal(y_no_idx, y)
    yr, ir = R.max_pool(np.where(np.isnan(x), np.float32(-1e30), x), (2, 2), (2, 2))
    ok = ~np.isnan(y)
    np.testing.assert_array_equal(y[ok], yr[ok])
    np.testing.assert_array_equal(idx[ok], ir[ok])
    assert np.isnan(y[1, 0, 0, 5]) and not np.isnan(y[0, 0, 0, 3])


def test_max_pool_ties_pick_first_and_route_gradient_once():
    x = np.zeros((1, 4, 4, 2), np.float32)
    x[0, 1, 1, 1] = x[0, 0, 1, 1] = 5.0   # tie in window (0, 0), channel 1
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool2d(xt, 2, 2, "VALID")
        loss = tf.reduce_sum(y)
    dx = tape.gradient(loss, xt).numpy()
    # every window sends its gradient to exactly one element: the first maximum
    assert dx.sum() == y.numpy().size
    assert dx[0, 0, 0, 0] == 1 and dx[0, 0, 1, 1] == 1 and dx[0, 1, 1, 1] == 0
    _, ir = R.max_pool(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(dx, R.max_pool_backward(np.ones((1, 2, 2, 2), np.float32), ir, x.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
def test_avg_pool(case, dtype):
    N, H, W, C, k, s, padding = case
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    pads = pads_of(H, W, k, s, padding)
    yr = R.avg_pool(x, k, s, pads)
    xt = tf.Variable(x)
    g = rng.standard_normal(yr.shape).astype(dtype)
    with tf.GradientTape() as tape:
        y = tf.nn.avg_pool2d(xt, k, s, padding)
        loss = tf.reduce_sum(y * g)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), yr, rtol=tol, atol=tol)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(), R.avg_pool_backward(g, x.shape, k, s, pads), rtol=tol, atol=tol)


def test_pool_nchw_1d_and_aliases():
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    y = tf.nn.max_pool2d(x, 2, 2, "SAME", data_format="NCHW").numpy()
    ref, _ = R.max_pool(np.transpose(x, (0, 2, 3, 1)), (2, 2), (2, 2), R.same_pads(6, 2, 2) + R.same_pads(5, 2, 2))
    np.testing.assert_array_equal(y, np.transpose(ref, (0, 3, 1, 2)))
    np.testing.assert_array_equal(tf.nn.max_pool(x, [1, 1, 2, 2], [1, 1, 2, 2], "SAME", "NCHW").numpy(), y)
    x1 = rng.standard_normal((2, 9, 3))
    np.testing.assert_allclose(tf.nn.max_pool1d(x1, 3, 2, "VALID").numpy(),
                               R.max_pool(x1[:, None], (1, 3), (1, 2))[0][:, 0])
    np.testing.assert_allclose(tf.nn.avg_pool1d(x1, 2, 2, "SAME").numpy(),
                               R.avg_pool(x1[:, None], (1, 2), (1, 2), (0, 0, 0, 1))[:, 0])
    np.testing.assert_allclose(tf.nn.avg_pool(x1, 2, 2, "SAME").numpy(),
                               R.avg_pool(x1[:, None], (1, 2), (1, 2), (0, 0, 0, 1))[:, 0])
    out, am = tf.nn.max_pool_with_argmax(np.transpose(x, (0, 2, 3, 1)), 2, 2, "SAME")
    assert am.numpy().max() < 6 * 5 * 3


def test_pool_errors():
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match=r"\[max_pool2d\] input must be 4-D"):
        tf.nn.max_pool2d(np.zeros((4, 4), np.float32), 2, 2, "VALID")
    with pytest.raises(ValueError, match=r"\[max_pool2d\] strides must be >= 1"):
        tf.nn.max_pool2d(x, 2, 0, "VALID")
    with pytest.raises(ValueError, match=r"\[avg_pool2d\] window 5x5 is larger"):
        tf.nn.avg_pool2d(x, 5, 1, "VALID")
    with pytest.raises(ValueError, match=r"\[max_pool2d\] window"):
        _C.max_pool2d_forward(x, (5, 5), (1, 1), (0, 0, 0, 0), True, "int32")
    with pytest.raises(ValueError, match=r"index_dtype"):
        _C.max_pool2d_forward(x, (2, 2), (1, 1), (0, 0, 0, 0), True, "int8")


# ------------------------------------------------------------------ batch norm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 5, 6, 3), (7, 4), (2, 3, 5)])
def test_batch_norm_training(shape, dtype):
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    C = shape[-1]
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    eps = 1e-3
    yr, mr, vr = R.batch_norm_train(x.astype(np.float64), gamma, beta, eps)
    xt, gt, bt = tf.Variable(x), tf.Variable(gamma), tf.Variable(beta)
    g = rng.standard_normal(shape).astype(dtype)
    with tf.GradientTape() as tape:
        y, m, v = tf.nn.batch_norm_channels_last(xt, gt, bt, eps, True)
        loss = tf.reduce_sum(y * g)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.numpy(), yr, rtol=tol, atol=tol)
    # the batch statistics come back as raw arrays on the op's device
    m, v = to_device(m, "cpu"), to_device(v, "cpu")
    np.testing.assert_allclose(m, mr, rtol=tol, atol=tol)
    np.testing.assert_allclose(v, vr, rtol=tol, atol=tol)
    dx, dg, db = tape.gradient(loss, [xt, gt, bt])
    rdx, rdg, rdb = R.batch_norm_train_backward(g.astype(np.float64), x.astype(np.float64), gamma.astype(np.float64), eps)
    np.testing.assert_allclose(dx.numpy(), rdx, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(dg.numpy(), rdg, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(db.numpy(), rdb, rtol=tol * 10, atol=tol * 10)


def test_batch_norm_finite_differences_and_inference():
    x = rng.standard_normal((3, 4, 2))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    c = rng.standard_normal(x.shape)

    def f(x_, g_, b_):
        return tf.nn.batch_norm_channels_last(x_, g_, b_, 1e-3, True)[0]
    vs = [tf.Variable(a) for a in (x, gamma, beta)]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(f(*vs) * c)
    grads = [g.numpy() for g in tape.gradient(loss, vs)]
    for a, g in zip((x, gamma, beta), grads):
        flat = a.reshape(-1)
        for k in range(min(5, flat.size)):
            old = flat[k]
            flat[k] = old + 1e-6
            lp = np.sum(f(x, gamma, beta).numpy() * c)
            flat[k] = old - 1e-6
            lm = np.sum(f(x, gamma, beta).numpy() * c)
            flat[k] = old
            np.testing.assert_allclose(g.reshape(-1)[k], (lp - lm) / 2e-6, rtol=1e-6, atol=1e-7)
    mm, mv = rng.standard_normal(2), rng.random(2) + 0.5
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        y, _, _ = tf.nn.batch_norm_channels_last(xt, gamma, beta, 1e-3, False, mm, mv)
        loss = tf.reduce_sum(y * c)
    np.testing.assert_allclose(y.numpy(), (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(), c * gamma / np.sqrt(mv + 1e-3), rtol=1e-12)


def test_fused_batch_norm_nchw_and_bessel():
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y, m, v = tf.nn.fused_batch_norm(x, np.ones(3, np.float32), np.zeros(3, np.float32), data_format="NCHW")
    xm = np.moveaxis(x, 1, -1).reshape(-1, 3)
    np.testing.assert_allclose(m.numpy(), xm.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v.numpy(), xm.var(0, ddof=1), rtol=1e-5)
    ref = (x - xm.mean(0)[None, :, None, None]) / np.sqrt(xm.var(0)[None, :, None, None] + 1e-3)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[batch_norm\] gamma must have shape \(3,\)"):
        tf.nn.batch_norm_channels_last(np.moveaxis(x, 1, -1), np.ones(4, np.float32), None, 1e-3, True)


# ------------------------------------------------------------------ Keras layers


def test_pooling_layers():
    from nabi import keras
    L = keras.layers
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    y = L.MaxPooling2D()(x).numpy()
    np.testing.assert_array_equal(y, R.max_pool(x, (2, 2), (2, 2))[0])
    y = L.AveragePooling2D(3, strides=2, padding="same")(x).numpy()
    np.testing.assert_allclose(y, R.avg_pool(x, (3, 3), (2, 2), R.same_pads(7, 3, 2) + R.same_pads(6, 3, 2)), rtol=1e-5)
    xc = np.transpose(x, (0, 3, 1, 2))
    yc = L.MaxPooling2D(data_format="channels_first")(xc).numpy()
    np.testing.assert_array_equal(np.transpose(yc, (0, 2, 3, 1)), R.max_pool(x, (2, 2), (2, 2))[0])
    np.testing.assert_allclose(L.GlobalAveragePooling2D()(x).numpy(), x.mean((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(L.GlobalMaxPooling2D(keepdims=True)(x).numpy(), x.max((1, 2), keepdims=True))
    x1 = rng.standard_normal((2, 9, 4)).astype(np.float32)
    assert L.MaxPooling1D(2)(x1).shape == (2, 4, 4)
    assert L.AveragePooling1D(3, padding="same")(x1).shape == (2, 3, 4)
    np.testing.assert_allclose(L.GlobalAveragePooling1D()(x1).numpy(), x1.mean(1), rtol=1e-5)


def test_batch_normalization_layer_training_and_inference():
    from nabi import keras
    bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = (rng.standard_normal((8, 4, 4, 3)) * 2 + 3).astype(np.float32)
    y = bn(x, training=True).numpy()
    assert [w.name.split("/")[-1].split(":")[0] for w in bn.weights] == \
        ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    yr, mr, vr = R.batch_norm_train(x.astype(np.float64), 1.0, 0.0, 1e-3)
    np.testing.assert_allclose(y, yr, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mr, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * vr, rtol=1e-4)
    mm, mv = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    yi = bn(x, training=False).numpy()
    np.testing.assert_allclose(yi, (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)   # inference leaves them alone
    bn1 = keras.layers.BatchNormalization(axis=1)
    xc = np.transpose(x, (0, 3, 1, 2))
    np.testing.assert_allclose(np.transpose(bn1(xc, training=True).numpy(), (0, 2, 3, 1)), yr, rtol=1e-4, atol=1e-4)


def test_spatial_dropout_drops_whole_maps():
    from nabi import keras
    x = np.ones((4, 5, 5, 6), np.float32)
    y = keras.layers.SpatialDropout2D(0.5, seed=1)(x, training=True).numpy()
    per_map = y.reshape(4, 25, 6)
    assert np.all((per_map == per_map[:, :1]))
    assert set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_array_equal(keras.layers.SpatialDropout2D(0.5)(x, training=False).numpy(), x)
    y1 = keras.layers.SpatialDropout1D(0.5, seed=2)(np.ones((3, 7, 4), np.float32), training=True).numpy()
    assert np.all(y1 == y1[:, :1])
