"""ConvLSTM1D/2D/3D against a NumPy reference (explicit-loop convolutions, Keras's gate order
i, f, c, o): forward, return_sequences/return_state/go_backwards, channels_first,
initial_state, gradients (central differences of the reference), fit, save/load, errors."""
import itertools

import numpy as np
import pytest

import nabi
from nabi import keras

from helpers import assert_array


def _conv_nd(x, w, strides, padding, dil):
    """x (B, *S, C), w (*k, C, F) -> (B, *So, F); TF 'same' puts the extra pad after."""
    n = x.ndim - 2
    S, k = x.shape[1:-1], w.shape[:n]
    pads = []
    for i in range(n):
        eff = (k[i] - 1) * dil[i] + 1
        if padding == "same":
            out = -(-S[i] // strides[i])
            tot = max((out - 1) * strides[i] + eff - S[i], 0)
            pads.append((tot // 2, tot - tot // 2))
        else:
            pads.append((0, 0))
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    So = [(xp.shape[1 + i] - ((k[i] - 1) * dil[i] + 1)) // strides[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0],) + tuple(So) + (w.shape[-1],), np.float64)
    for o in itertools.product(*[range(s) for s in So]):
        for tap in itertools.product(*[range(kk) for kk in k]):
            idx = tuple(o[i] * strides[i] + tap[i] * dil[i] for i in range(n))
            y[(slice(None),) + o] += xp[(slice(None),) + idx] @ w[tap]
    return y


def _hsig(z):          # nabi's hard_sigmoid (Keras 3): relu6(x + 3) / 6
    return np.clip(z + 3.0, 0.0, 6.0) / 6.0


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _ref(x, kernel, rkernel, bias, strides, padding, dil, rec=_sig, backwards=False,
         h0=None, c0=None):
    B, T = x.shape[:2]
    n = x.ndim - 3
    F = rkernel.shape[-1] // 4
    zx = [_conv_nd(x[:, t], kernel, strides, padding, dil) + bias for t in range(T)]
    h = np.zeros(zx[0].shape[:-1] + (F,)) if h0 is None else h0
    c = np.zeros_like(h) if c0 is None else c0
    outs = []
    for t in (range(T - 1, -1, -1) if backwards else range(T)):
        z = zx[t] + _conv_nd(h, rkernel, (1,) * n, "same", (1,) * n)
        i, f, g, o = np.split(z, 4, axis=-1)
        c = rec(f) * c + rec(i) * np.tanh(g)
        h = rec(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1), h, c


CASES = [  # layer, input shape (B, T, *S, C), kwargs
    ("ConvLSTM2D", (2, 3, 5, 6, 2), dict(filters=3, kernel_size=3)),
    ("ConvLSTM2D", (2, 3, 6, 5, 2), dict(filters=2, kernel_size=(3, 2), padding="same",
                                          strides=(2, 1))),
    ("ConvLSTM2D", (1, 2, 7, 7, 1), dict(filters=2, kernel_size=2, dilation_rate=2,
                                          go_backwards=True, recurrent_activation="hard_sigmoid")),
    ("ConvLSTM1D", (2, 4, 7, 3), dict(filters=2, kernel_size=3, padding="same")),
    ("ConvLSTM3D", (1, 2, 3, 4, 4, 1), dict(filters=2, kernel_size=2)),
]


@pytest.mark.parametrize("name,shape,kw", CASES)
def test_conv_lstm_forward_matches_numpy(where, name, shape, kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    n = len(shape) - 3
    F = kw["filters"]
    with nabi.device(where):
        layer = getattr(keras.layers, name)(return_sequences=True, return_state=True,
                                            dtype="float64", **kw)
        seq, h, c = layer(x)
        k, rk, b = (w.numpy() for w in layer.weights)
        assert k.shape == layer.kernel_size + (shape[-1], 4 * F)
        assert rk.shape == layer.kernel_size + (F, 4 * F)
        assert_array(b, np.r_[np.zeros(F), np.ones(F), np.zeros(2 * F)], atol=0)  # forget bias
        b = rng.standard_normal(b.shape)            # a non-trivial bias for the comparison
        layer.weights[2].assign(b)
        seq, h, c = layer(x)
    rec = _hsig if kw.get("recurrent_activation") == "hard_sigmoid" else _sig  # default: sigmoid
    rs, rh, rc = _ref(x, k, rk, b, layer.strides, layer.padding, layer.dilation_rate, rec,
                      kw.get("go_backwards", False))
    assert_array(seq, rs, rtol=1e-10, atol=1e-10)
    assert_array(h, rh, rtol=1e-10, atol=1e-10)
    assert_array(c, rc, rtol=1e-10, atol=1e-10)
    assert tuple(seq.shape) == tuple(layer.compute_output_shape(shape)[0])
    assert n == layer.rank


def test_conv_lstm_gradients_match_central_differences(where):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 4, 2))
    r = rng.standard_normal((2, 3, 4, 4, 2))
    with nabi.device(where):
        layer = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True,
                                        recurrent_activation="sigmoid", dtype="float64")
        tx = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            loss = nabi.reduce_sum(layer(tx) * r)
        grads = tape.gradient(loss, [tx] + layer.trainable_weights)
    k, rk, b = (w.numpy() for w in layer.weights)

    def f(x_, k_, rk_, b_):
        return np.sum(_ref(x_, k_, rk_, b_, (1, 1), "same", (1, 1), _sig)[0] * r)

    params = [x, k, rk, b]
    for pi, g in enumerate(grads):
        g = g.numpy()
        flat = rng.choice(params[pi].size, size=6, replace=False)
        for fi in flat:
            idx = np.unravel_index(fi, params[pi].shape)
            eps = 1e-6
            up = [p.copy() for p in params]
            dn = [p.copy() for p in params]
            up[pi][idx] += eps
            dn[pi][idx] -= eps
            num = (f(*up) - f(*dn)) / (2 * eps)
            assert abs(g[idx] - num) < 1e-6 * max(1.0, abs(num)), (pi, idx, g[idx], num)


def test_conv_lstm_channels_first_and_initial_state():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 5, 2))
    last = keras.layers.ConvLSTM2D(2, 3, return_sequences=True, dtype="float64")
    out_last = last(x)
    first = keras.layers.ConvLSTM2D(2, 3, return_sequences=True, dtype="float64",
                                    data_format="channels_first")
    first.build((2, 3, 2, 5, 5))
    first.set_weights(last.get_weights())
    out_first = first(np.transpose(x, (0, 1, 4, 2, 3)))
    assert_array(out_first, np.transpose(out_last.numpy(), (0, 1, 4, 2, 3)), atol=1e-12)
    h0 = rng.standard_normal((2, 3, 3, 2))
    c0 = rng.standard_normal((2, 3, 3, 2))
    y = last(x, initial_state=[h0, c0])
    k, rk, b = last.get_weights()
    rs, _, _ = _ref(x, k, rk, b, (1, 1), "valid", (1, 1), h0=h0, c0=c0)
    assert_array(y, rs, rtol=1e-10, atol=1e-10)


def test_conv_lstm_model_fits_saves_and_loads(tmp_path):
    rng = np.random.default_rng(3)
    nabi.random.set_seed(0)
    m = keras.Sequential([
        keras.Input((4, 6, 6, 1)),
        keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True, dropout=0.1,
                                recurrent_dropout=0.1),
        keras.layers.BatchNormalization(),
        keras.layers.ConvLSTM2D(2, 3, padding="same"),
        keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    assert m.output_shape == (None, 6, 6, 1)
    m.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    x = rng.random((8, 4, 6, 6, 1)).astype(np.float32)
    y = (x[:, -1] > 0.5).astype(np.float32)
    h = m.fit(x, y, epochs=6, batch_size=4, verbose=0).history["loss"]
    assert h[-1] < h[0]
    p = m.predict(x, verbose=0)
    for ext in (".keras", ".h5"):
        m.save(str(tmp_path / f"m{ext}"))
        r = keras.models.load_model(str(tmp_path / f"m{ext}"))
        assert_array(r.predict(x, verbose=0), p, rtol=1e-6, atol=1e-6)
        assert r.layers[0].get_config()["recurrent_dropout"] == pytest.approx(0.1)


def test_conv_lstm_errors():
    with pytest.raises(ValueError, match=r"\[conv_lst.*\] expected input of rank 5.*\(2, 3, 4, 5\)"):
        keras.layers.ConvLSTM2D(2, 3)(np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same'"):
        keras.layers.ConvLSTM2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"filters must be a positive integer"):
        keras.layers.ConvLSTM1D(0, 3)
    with pytest.raises(NotImplementedError, match=r"stateful=True"):
        keras.layers.ConvLSTM2D(2, 3, stateful=True)
    with pytest.raises(ValueError, match=r"too small"):
        keras.layers.ConvLSTM2D(2, 5)(np.zeros((1, 2, 3, 3, 1), np.float32))
    layer = keras.layers.ConvLSTM2D(2, 3)
    layer(np.zeros((1, 2, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"expected 1 input channels.*\(1, 2, 4, 4, 3\)"):
        layer(np.zeros((1, 2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"initial state must have shape \(1, 2, 2, 2\)"):
        layer(np.zeros((1, 2, 4, 4, 1), np.float32),
              initial_state=[np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 2))])
