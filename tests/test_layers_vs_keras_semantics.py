"""Keras layer semantics that a side-by-side sweep against Keras 3 (TF 2.21) found nabi
getting silently wrong. Each test's expected values come from a NumPy reference written
here; the comment says what Keras does."""
import numpy as np

from nabi import keras

from helpers import assert_array


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_conv_lstm_default_recurrent_activation_is_sigmoid():
    # Keras 3: ConvLSTM1D/2D/3D(recurrent_activation="sigmoid") by default, as LSTM.
    rng = np.random.default_rng(0)
    B, T, S, C, F, k = 2, 3, 5, 2, 2, 2
    x = rng.standard_normal((B, T, S, C))
    layer = keras.layers.ConvLSTM1D(F, k, return_sequences=True, dtype="float64")
    layer(x)
    kern, rkern, bias = (rng.standard_normal(w.shape) for w in layer.get_weights())
    layer.set_weights([kern, rkern, bias])
    assert layer.get_config()["recurrent_activation"] == "sigmoid"
    got = layer(x)

    def conv(v, w, pad):          # v (B, S, Cin), w (k, Cin, Cout); 'same' pads after
        if pad:
            v = np.pad(v, [(0, 0), (0, k - 1), (0, 0)])
        n = v.shape[1] - k + 1
        return np.stack([sum(v[:, j + t] @ w[t] for t in range(k)) for j in range(n)], 1)

    h = np.zeros((B, S - k + 1, F))
    c = np.zeros_like(h)
    outs = []
    for t in range(T):
        z = conv(x[:, t], kern, False) + bias + conv(h, rkern, True)
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    assert_array(got, np.stack(outs, 1), rtol=1e-10, atol=1e-10)


def test_einsum_dense_glorot_fans_follow_the_equation():
    # Keras 3 EinsumDense: a VarianceScaling kernel initializer counts fan_in over the kernel
    # axes that are contracted and fan_out over those that reach the output (so glorot_uniform
    # on 'abc,cde->abde' with c=40, d=8, e=16 draws from U(-l, l), l = sqrt(6 / (40 + 128))),
    # not the conv-kernel rule (fan_in = 8 * 40, fan_out = 16 * 40). MultiHeadAttention's
    # projections are such layers.
    layer = keras.layers.EinsumDense("abc,cde->abde", (None, 8, 16), bias_axes="de")
    layer.build((None, 3, 40))
    k = layer.get_weights()[0]
    limit = np.sqrt(6.0 / (40 + 8 * 16))
    assert k.shape == (40, 8, 16)
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.97 * limit
    assert abs(k.std() - limit / np.sqrt(3.0)) < 0.05 * limit
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16)
    x = np.zeros((1, 3, 40), np.float32)
    mha(x, x)
    q_kernel, out_kernel = mha.get_weights()[0], mha.get_weights()[6]
    assert q_kernel.shape == (40, 4, 16) and out_kernel.shape == (4, 16, 40)
    for w in (q_kernel, out_kernel):          # fan_in + fan_out = 40 + 64 for both
        lim = np.sqrt(6.0 / (40 + 64))
        assert np.abs(w).max() <= lim and np.abs(w).max() > 0.9 * lim


def test_batch_normalization_training_moments_skip_masked_steps():
    # Keras 3 BatchNormalization(mask=...): while training, mean and (biased) variance count
    # only the unmasked timesteps, sum(m x) / (sum m + 1e-7); every position is normalised with
    # them and the moving statistics move towards them. At inference the mask changes nothing.
    rng = np.random.default_rng(1)
    ids = np.array([[3, 1, 2, 0, 0], [0, 2, 4, 1, 3], [1, 0, 2, 0, 3]])
    inp = keras.Input((5,), dtype="int32")
    emb = keras.layers.Embedding(6, 4, mask_zero=True)
    bn = keras.layers.BatchNormalization(momentum=0.5)
    model = keras.Model(inp, bn(emb(inp)))
    table = rng.standard_normal((6, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    emb.set_weights([table])
    bn.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    got = model(ids, training=True)
    x = table[ids]
    m = (ids != 0)[..., None].astype(float)
    mean = (x * m).sum((0, 1)) / (m.sum() + 1e-7)
    var = (((x - mean) * m) ** 2).sum((0, 1)) / (m.sum() + 1e-7)
    assert_array(got, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-5)
    assert_array(bn.moving_mean, 0.5 * mean, rtol=1e-5, atol=1e-6)
    assert_array(bn.moving_variance, 0.5 + 0.5 * var, rtol=1e-5, atol=1e-6)
    got_inf = model(ids, training=False)
    mm, mv = 0.5 * mean, 0.5 + 0.5 * var
    assert_array(got_inf, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-5)


def _mha_reference(x, w, keep, zero_masked):
    """NumPy MultiHeadAttention (self-attention, 3-D) with a boolean (B, T, S) mask."""
    wq, bq, wk, bk, wv, bv, wo, bo = w
    q = np.einsum("btd,dnh->btnh", x, wq) + bq
    k = np.einsum("btd,dnh->btnh", x, wk) + bk
    v = np.einsum("btd,dnh->btnh", x, wv) + bv
    s = np.einsum("btnh,bsnh->bnts", q / np.sqrt(q.shape[-1]), k)
    s = np.where(keep[:, None], s, -1e9)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if zero_masked:
        p = p * keep[:, None]
    return np.einsum("bnts,bsnh,nhd->btd", p, v, wo) + bo, p


def test_multi_head_attention_fully_masked_query_rows():
    # Keras 3 MultiHeadAttention: with dropout > 0, with return_attention_scores=True or a query
    # of rank > 3 it runs its Softmax layer, which zeroes masked positions after the softmax:
    # a query row whose keys are all masked (a padded query under the Embedding mask) attends
    # to nothing, its output is the output bias. Otherwise (its fused dot_product_attention)
    # such a row attends uniformly. Unmasked rows agree either way.
    rng = np.random.default_rng(2)
    ids = np.array([[3, 1, 2, 0, 0], [4, 2, 5, 1, 3]])
    table = rng.standard_normal((6, 4))
    keep = (ids != 0)[:, :, None] & (ids != 0)[:, None, :]
    x = table[ids]
    for dropout, scores, zero in ((0.5, False, True), (0.0, True, True), (0.0, False, False)):
        emb = keras.layers.Embedding(6, 4, mask_zero=True, dtype="float64")
        mha = keras.layers.MultiHeadAttention(2, 3, dropout=dropout, dtype="float64")
        emb.build((None, 5))
        emb.set_weights([table])
        e = emb(ids)
        mha(e, e)
        w = [rng.standard_normal(a.shape) for a in mha.get_weights()]
        mha.set_weights(w)
        want, p = _mha_reference(x, w, keep, zero)
        got = mha(e, e, return_attention_scores=scores, training=False)
        if scores:
            got, got_p = got
            assert_array(got_p, p, rtol=1e-10, atol=1e-12)
        assert_array(got, want, rtol=1e-10, atol=1e-10)
        if zero:
            assert_array(got[0, 3:], np.broadcast_to(w[7], (2, 4)), rtol=1e-12, atol=1e-12)


def test_selu_gradient_at_zero_is_scale():
    # Keras 3 / TF: SeluGrad takes the linear branch where the output is >= 0, so d selu/dx at
    # x = 0 is scale (1.0507...), not scale * alpha (a zero pre-activation: zero bias, zero
    # padding). Elsewhere scale for x > 0 and scale * alpha * exp(x) for x < 0.
    import nabi
    scale, alpha = 1.0507009873554805, 1.6732632423543772
    x = np.array([-1.5, -1e-3, 0.0, 0.0, 1e-3, 2.0])
    want = np.where(x >= 0, scale, scale * alpha * np.exp(x))
    for dtype in ("float32", "float64"):
        v = nabi.Variable(x.astype(dtype))
        with nabi.GradientTape() as tape:
            y = keras.layers.Activation("selu")(v)
        assert_array(tape.gradient(y, v), want, rtol=1e-6, atol=1e-7)


def test_prelu_gradient_at_zero():
    # Keras PReLU is relu(x) - alpha * relu(-x): at x = 0 the gradient with respect to x is
    # zero (relu'(0) = 0), not alpha; d/d alpha = -relu(-x) = min(x, 0).
    import nabi
    x = np.array([[-2.0, -0.5, 0.0, 0.0, 0.5, 3.0]])
    layer = keras.layers.PReLU(dtype="float64")
    layer.build((None, 6))
    alpha = np.array([0.3, 0.7, 0.4, 1.5, 0.2, 0.9])
    layer.set_weights([alpha])
    v = nabi.Variable(x)
    with nabi.GradientTape() as tape:
        y = layer(v)
    gx, ga = tape.gradient(y, [v, layer.alpha])
    assert_array(y, np.where(x > 0, x, alpha * x), rtol=1e-12, atol=0)
    assert_array(gx, np.where(x > 0, 1.0, np.where(x < 0, alpha, 0.0)), rtol=1e-12, atol=0)
    assert_array(ga, np.minimum(x, 0.0)[0], rtol=1e-12, atol=0)


def test_multi_head_attention_value_and_key_mask_arguments():
    # Keras 3 MultiHeadAttention(query, value, value_mask=..., key_mask=...): (B, S) masks that
    # hide key positions (both combine with AND); query_mask is accepted but Keras 3 takes the
    # query's own Keras mask instead, so an explicit one changes nothing.
    rng = np.random.default_rng(3)
    q, v = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    km = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 1, 0]], bool)
    qm = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    mha = keras.layers.MultiHeadAttention(2, 3, dtype="float64")
    mha(q, v)
    w = [rng.standard_normal(a.shape) for a in mha.get_weights()]
    mha.set_weights(w)
    wq, bq, wk, bk, wv, bv, wo, bo = w

    def reference(keep):
        qq = np.einsum("btd,dnh->btnh", q, wq) + bq
        kk = np.einsum("bsd,dnh->bsnh", v, wk) + bk
        vv = np.einsum("bsd,dnh->bsnh", v, wv) + bv
        s = np.einsum("btnh,bsnh->bnts", qq / np.sqrt(3.0), kk)
        s = np.where(keep[:, None, None, :], s, -1e9)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return np.einsum("bnts,bsnh,nhd->btd", p, vv, wo) + bo

    assert_array(mha(q, v, value_mask=vm), reference(vm), rtol=1e-10, atol=1e-10)
    assert_array(mha(q, v, key_mask=km), reference(km), rtol=1e-10, atol=1e-10)
    assert_array(mha(q, v, value_mask=vm, key_mask=km), reference(vm & km), rtol=1e-10,
                 atol=1e-10)
    assert_array(mha(q, v, query_mask=qm), reference(np.ones((2, 5), bool)), rtol=1e-10,
                 atol=1e-10)


def _k3_layer(cls, config, parent=None, shape=None):
    entry = {"module": "keras.layers", "class_name": cls, "registered_name": None,
             "name": config["name"], "config": config, "inbound_nodes": []}
    if parent is not None:
        entry["inbound_nodes"] = [[[parent, 0, 0, {}]]]
    return entry


def test_layer_configs_with_keras3_only_keys_load():
    # Keras 3.15 layer configs carry InputLayer(optional=False),
    # Dense/EinsumDense(quantization_config=None), initializers with input_axes/output_axes,
    # LayerNormalization(rms_scaling=False) and ZeroPadding1D(data_format=...)
    # (channels_first pads the last axis).
    glorot = {"module": "keras.initializers", "class_name": "GlorotUniform",
              "config": {"seed": None, "input_axes": None, "output_axes": None},
              "registered_name": None}
    layers = [
        _k3_layer("InputLayer", {"batch_shape": [None, 3, 4], "dtype": "float32",
                                 "sparse": False, "ragged": False, "name": "inp",
                                 "optional": False}),
        _k3_layer("ZeroPadding1D", {"name": "pad", "trainable": True, "padding": [1, 2],
                                    "data_format": "channels_first"}, "inp", [None, 3, 4]),
        _k3_layer("LayerNormalization", {"name": "ln", "trainable": True, "axis": [-1],
                                         "epsilon": 0.001, "center": True, "scale": True,
                                         "rms_scaling": False}, "pad", [None, 3, 7]),
        _k3_layer("EinsumDense", {"name": "ed", "trainable": True, "equation": "abc,cd->abd",
                                  "output_shape": [None, 5], "bias_axes": "d",
                                  "activation": "linear", "kernel_initializer": glorot,
                                  "quantization_config": None}, "ln", [None, 3, 7]),
        _k3_layer("Dense", {"name": "dense", "trainable": True, "units": 2,
                            "activation": "linear", "use_bias": True,
                            "kernel_initializer": glorot, "quantization_config": None},
                  "ed", [None, 3, 5]),
    ]
    config = {"name": "functional", "trainable": True, "layers": layers,
              "input_layers": [["inp", 0, 0]], "output_layers": [["dense", 0, 0]]}
    model = keras.Model.from_config(config)
    rng = np.random.default_rng(4)
    g, b = rng.standard_normal(7), rng.standard_normal(7)
    k1, b1 = rng.standard_normal((7, 5)), rng.standard_normal(5)
    k2, b2 = rng.standard_normal((5, 2)), rng.standard_normal(2)
    model.set_weights([w.astype(np.float32) for w in (g, b, k1, b1, k2, b2)])
    x = rng.standard_normal((2, 3, 4))
    h = np.pad(x, [(0, 0), (0, 0), (1, 2)])
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-3) * g + b
    want = (h @ k1 + b1) @ k2 + b2
    assert_array(model(x.astype(np.float32)), want, rtol=1e-4, atol=1e-4)
    assert model.layers[1].get_config()["data_format"] == "channels_first"


def test_keras3_only_options_at_other_values_raise():
    # Options nabi does not implement are accepted only at their inert Keras 3 defaults.
    import pytest
    for make in (lambda: keras.layers.Dense(2, quantization_config={"mode": "int8"}),
                 lambda: keras.layers.LayerNormalization(rms_scaling=True),
                 lambda: keras.layers.MultiHeadAttention(2, 2, use_gate=True),
                 lambda: keras.layers.MultiHeadAttention(2, 2, sliding_window=4)):
        with pytest.raises(NotImplementedError, match="not supported by nabi"):
            make()


def test_variance_scaling_input_output_axes():
    # Keras 3 VarianceScaling(input_axes=..., output_axes=...): fans are the products of the
    # kernel dimensions on those axes (here fan_in 40, fan_out 8 * 16).
    init = keras.initializers.GlorotUniform(seed=1, input_axes=[0], output_axes=[1, 2])
    w = np.asarray(init((40, 8, 16)))
    limit = np.sqrt(6.0 / (40 + 128))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.97 * limit
    assert init.get_config() == {"seed": 1, "input_axes": [0], "output_axes": [1, 2]}
    assert keras.initializers.GlorotUniform(seed=1).get_config() == {"seed": 1}


def test_spatial_dropout3d():
    # Keras SpatialDropout3D: in training whole (sample, channel) feature volumes are zeroed
    # with probability rate and the kept ones scaled by 1 / (1 - rate); identity at inference.
    x = np.random.default_rng(5).uniform(1.0, 2.0, (4, 3, 2, 3, 6)).astype(np.float32)
    for fmt, red in (("channels_last", (1, 2, 3)), ("channels_first", (2, 3, 4))):
        layer = keras.layers.SpatialDropout3D(0.5, data_format=fmt, seed=1)
        y = np.asarray(layer(x, training=True))
        kept = y != 0
        assert np.all(kept.all(red) | (~kept).all(red))          # one decision per volume
        assert 0 < kept.mean() < 1
        np.testing.assert_allclose(y[kept], 2.0 * x[kept], rtol=1e-6)
        assert_array(layer(x, training=False), x, rtol=0, atol=0)
        assert layer.get_config()["data_format"] == fmt


def test_keras3_activations_by_name():
    # Keras 3's activations beyond Keras 2's, usable by name in Activation and Dense.
    x = np.concatenate([np.linspace(-3, 3, 13), [-1.0, 1.0, 0.5, -0.5, 0.0]]).reshape(3, 6)
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)            # softplus
    want = {
        "celu": np.maximum(x, 0) + np.minimum(0, np.expm1(x)),
        "hard_shrink": np.where(np.abs(x) > 0.5, x, 0.0),
        "hard_tanh": np.clip(x, -1, 1),
        "log_sigmoid": -(sp - x),
        "soft_shrink": np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
        "sparse_plus": np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
        "squareplus": (x + np.sqrt(x * x + 4)) / 2,
        "tanh_shrink": x - np.tanh(x),
        "glu": x[:, :3] / (1 + np.exp(-x[:, 3:])),
    }
    for name, ref in want.items():
        got = keras.layers.Activation(name, dtype="float64")(x)
        assert_array(got, ref, rtol=1e-12, atol=1e-12)
        assert keras.layers.Activation(name).get_config()["activation"] == name
    dense = keras.layers.Dense(2, activation="tanh_shrink", dtype="float64")
    dense.build((None, 6))
    w, b = np.arange(12.0).reshape(6, 2) / 20, np.array([0.1, -0.2])
    dense.set_weights([w, b])
    z = x @ w + b
    assert_array(dense(x), z - np.tanh(z), rtol=1e-12, atol=1e-12)
    assert_array(keras.activations.threshold(x, 0.5, -1.0), np.where(x > 0.5, x, -1.0),
                 rtol=0, atol=0)


def test_rms_normalization_layer():
    # Keras 3 RMSNormalization(axis=-1, epsilon=1e-6): x * rsqrt(mean(x^2) + eps) * scale,
    # scale (ones at first) of the normalised axes' shape; gradients through the tape.
    import nabi
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5))
    for axis in (-1, [1, 2]):
        layer = keras.layers.RMSNormalization(axis=axis, dtype="float64")
        layer.build(x.shape)
        ax = tuple(axis) if isinstance(axis, list) else (axis,)
        scale = rng.standard_normal(tuple(x.shape[a] for a in ax))
        layer.set_weights([scale])
        want = x / np.sqrt((x * x).mean(ax, keepdims=True) + 1e-6) * scale
        assert_array(layer(x), want, rtol=1e-12, atol=1e-12)
    v = nabi.Variable(x)
    c = rng.standard_normal(x.shape)
    layer = keras.layers.RMSNormalization(dtype="float64")
    with nabi.GradientTape() as tape:
        y = nabi.reduce_sum(layer(v) * c)
    g = tape.gradient(y, v).numpy()
    r = 1 / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6)    # d/dx of sum(c * x * r)
    want = c * r - x * (c * x).sum(-1, keepdims=True) * r ** 3 / x.shape[-1]
    assert_array(g, want, rtol=1e-9, atol=1e-10)
    assert layer.get_config()["axis"] == [-1] and layer.get_config()["epsilon"] == 1e-6
