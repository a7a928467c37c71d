"""More of the TF API that notebooks use: tf.nn.space_to_depth / depth_to_space,
tf.math.bincount, tf.searchsorted, tf.unique_with_counts, tf.histogram_fixed_width,
tf.math.log_sigmoid / polyval, tf.custom_gradient, tf.py_function / numpy_function,
tf.config.run_functions_eagerly and the one-device tf.distribute strategies. NumPy
references throughout."""

import numpy as np
import pytest

import nabi
from nabi import keras

from helpers import assert_array


# ------------------------------------------------------------------- space_to_depth family
def _s2d_ref(x, b):
    N, H, W, C = x.shape
    y = np.zeros((N, H // b, W // b, b * b * C), x.dtype)
    for i in range(H // b):
        for j in range(W // b):
            for bi in range(b):
                for bj in range(b):
                    y[:, i, j, (bi * b + bj) * C:(bi * b + bj + 1) * C] = \
                        x[:, i * b + bi, j * b + bj, :]
    return y


def _d2s_ref(x, b):
    N, H, W, C = x.shape
    c = C // (b * b)
    y = np.zeros((N, H * b, W * b, c), x.dtype)
    for i in range(H):
        for j in range(W):
            for bi in range(b):
                for bj in range(b):
                    y[:, i * b + bi, j * b + bj, :] = x[:, i, j, (bi * b + bj) * c:
                                                        (bi * b + bj + 1) * c]
    return y


@pytest.mark.parametrize("b", [2, 3])
def test_space_to_depth_and_back_forward_and_gradient(where, b):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2 * b, 3 * b, 3)).astype(np.float32)
    ys = _s2d_ref(x, b)
    r = rng.standard_normal(ys.shape).astype(np.float32)
    with nabi.device(where):
        tx = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = nabi.nn.space_to_depth(tx, b)
            loss = nabi.reduce_sum(y * r)
        g = tape.gradient(loss, tx)
        assert_array(y, ys, atol=0)
        assert_array(g, _d2s_ref(r, b), atol=0)      # d sum(S(x) r)/dx = S^-1(r)
        z = rng.standard_normal((2, 2, 3, 2 * b * b)).astype(np.float32)
        rz = rng.standard_normal(_d2s_ref(z, b).shape).astype(np.float32)
        tz = nabi.Variable(z)
        with nabi.GradientTape() as tape:
            d = nabi.nn.depth_to_space(tz, b)
            loss = nabi.reduce_sum(d * rz)
        assert_array(d, _d2s_ref(z, b), atol=0)
        assert_array(tape.gradient(loss, tz), _s2d_ref(rz, b), atol=0)
    # NCHW is the same shuffle on the transposed layout
    y_nchw = nabi.nn.space_to_depth(x.transpose(0, 3, 1, 2), b, data_format="NCHW")
    assert_array(y_nchw, ys.transpose(0, 3, 1, 2), atol=0)


def test_space_to_depth_errors():
    with pytest.raises(ValueError, match=r"\[space_to_depth\].*divisible.*\(1, 3, 4, 2\)"):
        nabi.nn.space_to_depth(np.zeros((1, 3, 4, 2), np.float32), 2)
    with pytest.raises(ValueError, match=r"\[depth_to_space\].*depth 6.*divisible by.*4"):
        nabi.nn.depth_to_space(np.zeros((1, 2, 2, 6), np.float32), 2)
    with pytest.raises(ValueError, match=r"\[space_to_depth\].*4-D.*\(4, 4\)"):
        nabi.nn.space_to_depth(np.zeros((4, 4), np.float32), 2)
    with pytest.raises(ValueError, match=r"\[depth_to_space\].*block_size.*1"):
        nabi.nn.depth_to_space(np.zeros((1, 2, 2, 4), np.float32), 1)


def test_depth_to_space_in_a_subpixel_model():
    # the Keras super-resolution example's upscaling: Conv2D then depth_to_space in a Lambda
    rng = np.random.default_rng(1)
    inp = keras.Input((4, 4, 1))
    h = keras.layers.Conv2D(4, 3, padding="same")(inp)
    out = keras.layers.Lambda(lambda t: nabi.nn.depth_to_space(t, 2))(h)
    m = keras.Model(inp, out)
    m.compile("adam", "mse")
    x = rng.standard_normal((8, 4, 4, 1)).astype(np.float32)
    y = rng.standard_normal((8, 8, 8, 1)).astype(np.float32)
    assert m.predict(x, verbose=0).shape == (8, 8, 8, 1)
    h0 = m.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert h0[-1] < h0[0]


# ----------------------------------------------------------------------------- counting
def test_bincount(where):
    a = np.array([1, 1, 2, 5, 0, 1], np.int32)
    w = np.array([0.5, 1.0, 2.0, 0.25, 1.0, 3.0], np.float32)
    with nabi.device(where):
        assert_array(nabi.math.bincount(a), np.bincount(a), atol=0)
        assert_array(nabi.math.bincount(a, minlength=9), np.bincount(a, minlength=9), atol=0)
        assert_array(nabi.math.bincount(a, maxlength=3), np.bincount(a)[:3], atol=0)
        r = nabi.math.bincount(a, weights=w)
        assert r.dtype == nabi.float32
        assert_array(r, np.bincount(a, weights=w).astype(np.float32))
        assert_array(nabi.math.bincount(a, binary_output=True),
                     (np.bincount(a) > 0).astype(np.int32), atol=0)
        m = np.array([[0, 2, 2], [3, 3, 1]], np.int32)
        assert_array(nabi.math.bincount(m, axis=-1),
                     np.stack([np.bincount(r_, minlength=4) for r_ in m]), atol=0)
    with pytest.raises(ValueError, match=r"\[bincount\].*non-negative.*-1"):
        nabi.math.bincount(np.array([1, -1], np.int32))
    with pytest.raises(TypeError, match=r"\[bincount\].*integers.*float32"):
        nabi.math.bincount(np.array([1.0], np.float32))


def test_searchsorted_unique_with_counts_histogram(where):
    s = np.array([[0.0, 1.0, 3.0, 3.0, 7.0], [1.0, 2.0, 4.0, 8.0, 9.0]], np.float32)
    v = np.array([[3.0, -1.0, 7.5], [8.0, 2.0, 10.0]], np.float32)
    x = np.array([4, 1, 4, 2, 1, 1, 9], np.int32)
    h = np.array([-1.0, 0.0, 1.5, 2.0, 5.0, 15.0], np.float32)
    with nabi.device(where):
        for side in ("left", "right"):
            ref = np.stack([np.searchsorted(s[i], v[i], side=side) for i in range(2)])
            assert_array(nabi.searchsorted(s, v, side=side), ref, atol=0)
        y, idx, cnt = nabi.unique_with_counts(x)
        assert_array(y, [4, 1, 2, 9], atol=0)
        assert_array(idx, [0, 1, 0, 2, 1, 1, 3], atol=0)
        assert_array(cnt, [2, 3, 1, 1], atol=0)
        # 5 bins of width 1 over [0, 5]; -1 clips into bin 0, 5.0 and 15 into bin 4
        assert_array(nabi.histogram_fixed_width(h, [0.0, 5.0], nbins=5), [2, 1, 1, 0, 2],
                     atol=0)
    with pytest.raises(ValueError, match=r"\[searchsorted\].*\(2, 5\).*\(3, 3\)"):
        nabi.searchsorted(s, np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[histogram_fixed_width\].*increasing"):
        nabi.histogram_fixed_width(h, [1.0, 1.0])


# ---------------------------------------------------------------------------- small math
def test_log_sigmoid_and_polyval_with_gradients(where):
    x = np.array([-30.0, -2.0, 0.0, 1.5, 40.0], np.float64)
    with nabi.device(where):
        tx = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = nabi.math.log_sigmoid(tx)
            loss = nabi.reduce_sum(y)
        assert_array(y, -np.logaddexp(0.0, -x), rtol=1e-12, atol=1e-12)
        assert_array(tape.gradient(loss, tx), 1.0 / (1.0 + np.exp(x)), rtol=1e-12,
                     atol=1e-12)
        c = [nabi.Variable(np.float64(2.0)), nabi.Variable(np.float64(-3.0)),
             nabi.Variable(np.float64(0.5))]
        with nabi.GradientTape() as tape:
            p = nabi.math.polyval(c, tx)
            loss = nabi.reduce_sum(p)
        gc = tape.gradient(loss, c + [tx])
    assert_array(p, 2 * x ** 2 - 3 * x + 0.5, rtol=1e-12)
    assert_array(gc[0], np.sum(x ** 2), rtol=1e-12)
    assert_array(gc[1], np.sum(x), rtol=1e-12)
    assert_array(gc[2], len(x), rtol=1e-12)
    assert_array(gc[3], 4 * x - 3, rtol=1e-12)


# ------------------------------------------------------------------------ custom_gradient
def test_custom_gradient_replaces_the_gradient(where):
    @nabi.custom_gradient
    def clip_grad(x):
        def grad(upstream):
            return nabi.clip_by_value(upstream, -1.0, 1.0)
        return nabi.identity(x), grad

    @nabi.custom_gradient
    def log1pexp(x):           # the TF docs' numerically stable example
        e = nabi.exp(x)

        def grad(upstream):
            return upstream * (1 - 1 / (1 + e))
        return nabi.math.log(1 + e), grad

    x = np.array([-2.0, 0.5, 3.0], np.float32)
    with nabi.device(where):
        tx = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = clip_grad(tx) * np.float32(5.0)
            loss = nabi.reduce_sum(y)
        g = tape.gradient(loss, tx)
        assert_array(y, 5 * x)
        assert_array(g, [1.0, 1.0, 1.0])           # 5 clipped to 1
        with nabi.GradientTape() as tape:
            z = log1pexp(tx * 2.0)
        assert_array(z, np.log1p(np.exp(2 * x)), rtol=1e-5)
        assert_array(tape.gradient(z, tx), 2 / (1 + np.exp(-2 * x)), rtol=1e-5)
        # with no tape recording it just runs the function
        assert_array(clip_grad(x), x)


def test_custom_gradient_with_variables_and_several_outputs():
    w = nabi.Variable(np.array([2.0, -1.0], np.float32), name="w")

    @nabi.custom_gradient
    def scaled(x):
        y = x * w

        def grad(dy, variables=None):
            # a deliberately different rule, to see it is the one used
            return dy * 10.0, [nabi.reduce_sum(dy) * nabi.ones_like(w)]
        return y, grad

    @nabi.custom_gradient
    def split2(x):
        def grad(da, db):
            return da * 2.0 + db * 3.0
        return (nabi.identity(x), nabi.identity(x)), grad

    x = nabi.Variable(np.array([1.0, 4.0], np.float32))
    with nabi.GradientTape() as tape:
        loss = nabi.reduce_sum(scaled(x))
    gx, gw = tape.gradient(loss, [x, w])
    assert_array(gx, [10.0, 10.0])
    assert_array(gw, [2.0, 2.0])
    with nabi.GradientTape() as tape:
        a, b = split2(x)
        loss = nabi.reduce_sum(a) + nabi.reduce_sum(b * b)
    assert_array(tape.gradient(loss, x), 2.0 + 3.0 * 2 * np.array([1.0, 4.0]))

    @nabi.custom_gradient
    def no_var_kw(x):
        return x * w, lambda dy: dy
    with nabi.GradientTape():
        with pytest.raises(TypeError, match=r"\[custom_gradient\] no_var_kw reads trainable "
                                            r"variables.*variables"):
            no_var_kw(x)

    @nabi.custom_gradient
    def bad_shape(x):
        return nabi.identity(x), lambda dy: nabi.ones((3,))
    with nabi.GradientTape() as tape:
        loss = nabi.reduce_sum(bad_shape(x))
    with pytest.raises(ValueError, match=r"\[custom_gradient\] bad_shape.*\(3,\).*\(2,\)"):
        tape.gradient(loss, x)


# ---------------------------------------------------------------- py_function & friends
def test_py_function_and_numpy_function_in_dataset_map():
    def np_double(a):
        return (a * 2).astype(np.int64), np.float64(a.sum())

    def py_scale(t):
        return t * 3.0

    ds = nabi.data.Dataset.from_tensor_slices(np.arange(6, dtype=np.float32).reshape(3, 2))
    ds = ds.map(lambda t: nabi.numpy_function(np_double, [t], [nabi.int32, nabi.float32]))
    got = [(a.numpy(), b.numpy()) for a, b in ds]
    assert got[1][0].dtype == np.int32 and got[1][1].dtype == np.float32
    assert_array(got[2][0], [8, 10], atol=0)
    assert_array(got[2][1], 9.0)
    x = nabi.Variable(np.array([1.0, 2.0], np.float32))
    with nabi.GradientTape() as tape:
        y = nabi.py_function(py_scale, [x], nabi.float32)
        loss = nabi.reduce_sum(y * y)
    assert_array(tape.gradient(loss, x), 18.0 * np.array([1.0, 2.0]))
    assert nabi.py_function(py_scale, [np.float64(1.0)], nabi.float32).dtype == nabi.float32
    with pytest.raises(ValueError, match=r"\[numpy_function\] .*returned 2.*lists 1"):
        nabi.numpy_function(np_double, [np.ones(2)], [nabi.int32])
    nabi.config.run_functions_eagerly(True)
    assert nabi.config.functions_run_eagerly()
    nabi.config.run_functions_eagerly(False)


# ---------------------------------------------------------------------------- distribute
def test_distribute_one_device_strategies_train_a_model():
    strategy = nabi.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 1
    assert nabi.distribute.get_strategy() is not strategy
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    with strategy.scope():
        assert nabi.distribute.get_strategy() is strategy and nabi.distribute.has_strategy()
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.SGD(0.1), "mse")
    assert not nabi.distribute.has_strategy()
    ds = strategy.experimental_distribute_dataset(
        nabi.data.Dataset.from_tensor_slices((x, y)).batch(16))
    h = m.fit(ds, epochs=5, verbose=0).history["loss"]
    assert h[-1] < 0.5 * h[0]
    v = nabi.constant([[1.0, 2.0], [3.0, 4.0]])
    assert_array(strategy.run(lambda a: a * 2, args=(v,)), [[2.0, 4.0], [6.0, 8.0]])
    assert strategy.reduce("SUM", v, axis=None) is v
    assert_array(strategy.reduce(nabi.distribute.ReduceOp.MEAN, v, axis=0), [2.0, 3.0])
    assert_array(strategy.reduce(nabi.distribute.ReduceOp.SUM, v, axis=0), [4.0, 6.0])
    ds2 = strategy.distribute_datasets_from_function(
        lambda ctx: nabi.data.Dataset.range(ctx.get_per_replica_batch_size(4)))
    assert [int(t) for t in ds2] == [0, 1, 2, 3]
    cpu = nabi.distribute.OneDeviceStrategy("/cpu:0")
    with cpu.scope():
        t = nabi.constant([1.0])
    assert "CPU" in t.device.upper()
    with pytest.raises(ValueError, match=r"\[MirroredStrategy\] nabi trains on one device"):
        nabi.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"])
    with pytest.raises(NotImplementedError, match=r"\[TPUStrategy\]"):
        nabi.distribute.TPUStrategy()
    with pytest.raises(ValueError, match="TPU"):       # Kaggle's probe falls back on this
        nabi.distribute.cluster_resolver.TPUClusterResolver()
    with pytest.raises(ValueError, match=r"reduce_op must be SUM or MEAN"):
        strategy.reduce("MAX", v, axis=0)


# ----------------------------------------------------------------- jacobian / batch_jacobian
def test_jacobian_and_batch_jacobian(where):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(3)
    W = rng.standard_normal((3, 2))
    xb = rng.standard_normal((4, 3))
    with nabi.device(where):
        tx, tw = nabi.Variable(x), nabi.Variable(W)
        unused = nabi.Variable(np.ones(2))
        with nabi.GradientTape(persistent=True) as tape:
            y = nabi.matmul(nabi.reshape(tx * tx, (1, 3)), tw)          # (1, 2)
            z = nabi.reduce_sum(nabi.sin(tx))                          # scalar
        jx, jw, ju = tape.jacobian(y, [tx, tw, unused])
        jz = tape.jacobian(z, tx)
        jzero = tape.jacobian(y, unused, unconnected_gradients="zero")
        # y[0, k] = sum_i x_i^2 W[i, k]:  dy[0,k]/dx_i = 2 x_i W[i,k]; dy[0,k]/dW[i,m] = x_i^2 [k==m]
        assert tuple(jx.shape) == (1, 2, 3) and tuple(jw.shape) == (1, 2, 3, 2)
        assert_array(jx, (2 * x[:, None] * W).T[None], rtol=1e-12)
        refw = np.zeros((1, 2, 3, 2))
        for k in range(2):
            refw[0, k, :, k] = x ** 2
        assert_array(jw, refw, rtol=1e-12)
        assert ju is None
        assert_array(jzero, np.zeros((1, 2, 2)), atol=0)
        assert_array(jz, np.cos(x), rtol=1e-12)
        txb = nabi.Variable(xb)
        with nabi.GradientTape() as tape:
            h = nabi.tanh(nabi.matmul(txb, tw))                        # (4, 2)
        bj = tape.batch_jacobian(h, txb)
        # dh[b,k]/dx[b,i] = (1 - h^2)[b,k] W[i,k]
        hb = np.tanh(xb @ W)
        assert tuple(bj.shape) == (4, 2, 3)
        assert_array(bj, (1 - hb ** 2)[:, :, None] * W.T[None], rtol=1e-12)
        with pytest.raises(RuntimeError, match="non-persistent GradientTape"):
            tape.jacobian(h, txb)
        with nabi.GradientTape() as tape:
            h = nabi.tanh(nabi.matmul(txb, tw))
        with pytest.raises(ValueError, match=r"\[GradientTape.batch_jacobian\].*\(4, 2\).*\(3, 2\)"):
            tape.batch_jacobian(h, tw)


def test_gradient_of_a_gradient_is_differentiable():
    x = nabi.Variable(3.0)
    w = nabi.Variable(2.0)
    with nabi.GradientTape() as outer:
        with nabi.GradientTape() as inner:
            y = x * x * x
        dy = inner.gradient(y, x)                    # 27, a first-order value
        penalty = (dy - 1.0) ** 2                    # WGAN-GP's shape of loss
        loss = w * 5.0 + penalty
    assert float(dy) == 27.0
    gw, gx = outer.gradient(loss, [w, x])
    # d loss / dx = 2 (3x^2 - 1) * 6x = 2 * 26 * 18
    assert float(gw) == 5.0 and float(gx) == 2 * 26 * 18
    # a loss that does not use the inner gradient is unaffected
    with nabi.GradientTape() as outer:
        with nabi.GradientTape() as inner:
            y = x * x
        inner.gradient(y, x)
        z = x * 4.0
    assert float(outer.gradient(z, x)) == 4.0


def test_relu_family_propagates_nan(where):
    # TF (and NumPy's maximum) keep NaN through relu/relu6/hard_sigmoid; silencing it to 0
    # hides a diverged model from TerminateOnNaN.
    x = np.array([np.nan, -1.0, 2.0, 7.0], np.float32)
    with nabi.device(where):
        for fn in (nabi.nn.relu, nabi.nn.relu6, keras.activations.hard_sigmoid):
            y = fn(x).numpy()
            assert np.isnan(y[0]) and not np.isnan(y[1:]).any(), fn
        # the fused epilogues: Conv2D(activation='relu') and Dense(activation='relu')
        img = np.zeros((1, 4, 4, 2), np.float32)
        img[0, 1, 1, 0] = np.nan
        conv = keras.layers.Conv2D(8, 3, padding="same", activation="relu")
        out = conv(img).numpy()
        assert np.isnan(out[0, 0:3, 0:3]).all() and not np.isnan(out[0, 3, 3]).any()
        dense = keras.layers.Dense(3, activation="relu")
        d = dense(np.array([[np.nan, 1.0], [1.0, 2.0]], np.float32)).numpy()
        assert np.isnan(d[0]).all() and not np.isnan(d[1]).any()
        rnn = keras.layers.SimpleRNN(2, activation="relu")
        r = rnn(np.array([[[np.nan], [1.0]]], np.float32)).numpy()
        assert np.isnan(r).all()


def test_set_shape_and_tensorshape_helpers():
    t = nabi.constant(np.zeros((2, 3), np.float32))
    t.set_shape([2, None])
    t.set_shape(nabi.TensorShape([2, 3]))
    with pytest.raises(ValueError, match=r"\[set_shape\].*\(2, 3\).*\(3, 3\)"):
        t.set_shape([3, 3])
    with pytest.raises(ValueError, match=r"not compatible"):
        t.set_shape([2, 3, 1])
    s = nabi.TensorShape([None, 4])
    assert s.concatenate([5]) == (None, 4, 5)
    assert s.merge_with([7, None]) == (7, 4)
    assert s.is_compatible_with([3, 4]) and not s.is_compatible_with([3, 5])
    with pytest.raises(ValueError):
        s.merge_with([1, 2, 3])


def test_none_is_not_a_tensor():
    # TF raises; a NaN (tf.cast(None)) or an object tensor holding None hid the mistake
    for fn in (nabi.constant, nabi.convert_to_tensor, lambda v: nabi.cast(v, "float32"),
               lambda v: nabi.add(v, 1.0)):
        with pytest.raises(ValueError, match=r"Attempt to convert a value \(None\)"):
            fn(None)
