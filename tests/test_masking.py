"""Keras mask propagation: Embedding(mask_zero) / Masking -> RNN layers, wrappers, pooling,
merge layers and the masked loss / metrics, against independent NumPy references."""
import numpy as np
import pytest

import nabi as tf
from nabi.keras import layers as L
from nabi.keras.layers.base import get_mask


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_lstm(x, mask, W, U, b, go_backwards=False, zero_output=False):
    """Masked Keras LSTM: masked steps keep the states; the output is zeros (zero_output) or
    the previous output. Returns (outputs in processing order, last output, h, c)."""
    B, T, _ = x.shape
    n = U.shape[0]
    h = np.zeros((B, n))
    c = np.zeros((B, n))
    prev = np.zeros((B, n))
    outs = []
    steps = range(T - 1, -1, -1) if go_backwards else range(T)
    for t in steps:
        z = x[:, t] @ W + h @ U + b
        i, f, g, o = _sig(z[:, :n]), _sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), \
            _sig(z[:, 3 * n:])
        c2 = f * c + i * g
        h2 = o * np.tanh(c2)
        m = mask[:, t:t + 1]
        h = np.where(m, h2, h)
        c = np.where(m, c2, c)
        out = np.where(m, h2, 0.0 if zero_output else prev)
        outs.append(out)
        prev = out
    return np.stack(outs, 1), prev, h, c


def np_gru(x, mask, W, U, b):
    B, T, _ = x.shape
    n = U.shape[0]
    h = np.zeros((B, n))
    prev = np.zeros((B, n))
    for t in range(T):
        xw = x[:, t] @ W + b[0]
        hr = h @ U + b[1]
        z = _sig(xw[:, :n] + hr[:, :n])
        r = _sig(xw[:, n:2 * n] + hr[:, n:2 * n])
        hh = np.tanh(xw[:, 2 * n:] + r * hr[:, 2 * n:])
        h2 = z * h + (1 - z) * hh
        m = mask[:, t:t + 1]
        h = np.where(m, h2, h)
        prev = np.where(m, h2, prev)
    return prev


def np_simple(x, mask, W, U, b):
    B, T, _ = x.shape
    h = np.zeros((B, U.shape[0]))
    for t in range(T):
        h2 = np.tanh(x[:, t] @ W + h @ U + b)
        h = np.where(mask[:, t:t + 1], h2, h)
    return h


IDS = np.array([[3, 5, 2, 0, 0], [1, 0, 4, 4, 0], [7, 7, 7, 7, 7], [2, 3, 0, 0, 0]])


def _emb_lstm_seq(return_sequences=False, units=4):
    return tf.keras.Sequential([L.Embedding(8, 3, mask_zero=True, input_shape=(5,)),
                                L.LSTM(units, return_sequences=return_sequences)])


def test_embedding_attaches_mask_and_lstm_matches_numpy():
    model = _emb_lstm_seq()
    emb, lstm = model.layers
    out = model.predict(IDS, verbose=0)
    E = emb.get_weights()[0].astype(np.float64)
    W, U, b = [w.astype(np.float64) for w in lstm.get_weights()]
    _, last, _, _ = np_lstm(E[IDS], IDS != 0, W, U, b)
    np.testing.assert_allclose(out, last, rtol=1e-5, atol=1e-6)
    # The unmasked result differs (the mask really is applied).
    _, last_nomask, _, _ = np_lstm(E[IDS], np.ones_like(IDS, bool), W, U, b)
    assert np.abs(out - last_nomask).max() > 1e-4
    # The mask is attached to the embedding output.
    y = emb(IDS)
    np.testing.assert_array_equal(get_mask(y).numpy(), IDS != 0)


def test_lstm_return_sequences_carries_previous_output_and_mask():
    model = _emb_lstm_seq(return_sequences=True)
    emb, lstm = model.layers
    y = model(IDS)
    E = emb.get_weights()[0].astype(np.float64)
    W, U, b = [w.astype(np.float64) for w in lstm.get_weights()]
    seq, _, _, _ = np_lstm(E[IDS], IDS != 0, W, U, b, zero_output=False)
    np.testing.assert_allclose(y.numpy(), seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(get_mask(y).numpy(), IDS != 0)


def test_functional_masked_lstm_gru_simplernn():
    inp = tf.keras.Input((5,), dtype="int32")
    e = L.Embedding(8, 3, mask_zero=True)(inp)
    a = L.LSTM(4)(e)
    g = L.GRU(3)(e)
    s = L.SimpleRNN(2)(e)
    model = tf.keras.Model(inp, [a, g, s])
    oa, og, os_ = model.predict(IDS, verbose=0)
    E = model.layers[1].get_weights()[0].astype(np.float64)
    x = E[IDS]
    m = IDS != 0
    la, lg, ls = [model.get_layer(n) for n in (model.layers[2].name, model.layers[3].name,
                                               model.layers[4].name)]
    _, last, _, _ = np_lstm(x, m, *[w.astype(np.float64) for w in la.get_weights()])
    np.testing.assert_allclose(oa, last, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(og, np_gru(x, m, *[w.astype(np.float64) for w in lg.get_weights()]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(os_, np_simple(x, m, *[w.astype(np.float64)
                                                      for w in ls.get_weights()]),
                               rtol=1e-5, atol=1e-6)


def test_bidirectional_masked_zero_outputs():
    model = tf.keras.Sequential([L.Embedding(8, 3, mask_zero=True, input_shape=(5,)),
                                 L.Bidirectional(L.LSTM(3, return_sequences=True))])
    y = model.predict(IDS, verbose=0)
    emb, bi = model.layers
    E = emb.get_weights()[0].astype(np.float64)
    x = E[IDS]
    m = IDS != 0
    fw = [w.astype(np.float64) for w in bi.forward_layer.get_weights()]
    bw = [w.astype(np.float64) for w in bi.backward_layer.get_weights()]
    sf, _, _, _ = np_lstm(x, m, *fw, zero_output=True)
    sb, _, _, _ = np_lstm(x, m, *bw, go_backwards=True, zero_output=True)
    ref = np.concatenate([sf, sb[:, ::-1]], axis=-1)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    assert np.all(y[IDS == 0] == 0)


def test_masking_layer_timedistributed_and_pooling():
    x = np.random.RandomState(0).randn(3, 4, 2).astype(np.float32)
    x[0, 2:] = 0.0
    x[1, 0] = 0.0
    m = np.any(x != 0, axis=-1)
    model = tf.keras.Sequential([L.Masking(0.0, input_shape=(4, 2)),
                                 L.TimeDistributed(L.Dense(3)),
                                 L.Activation("relu"),
                                 L.Dropout(0.5),
                                 L.GlobalAveragePooling1D()])
    y = model.predict(x, verbose=0)
    W, b = model.layers[1].layer.get_weights()
    h = np.maximum(x @ W + b, 0)
    ref = (h * m[..., None]).sum(1) / m.sum(1, keepdims=True)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    # GlobalAveragePooling1D consumes the mask.
    z = model(x)
    assert get_mask(z) is None


def test_masking_then_lstm_matches_numpy():
    x = np.random.RandomState(1).randn(3, 5, 2)
    x[0, 3:] = 0.0
    x[2, 1] = 0.0
    model = tf.keras.Sequential([L.Masking(input_shape=(5, 2)), L.LSTM(3)])
    y = model.predict(x.astype(np.float32), verbose=0)
    W, U, b = [w.astype(np.float64) for w in model.layers[1].get_weights()]
    _, last, _, _ = np_lstm(x, np.any(x != 0, -1), W, U, b)
    np.testing.assert_allclose(y, last, rtol=1e-5, atol=1e-5)


def test_merge_layers_combine_masks():
    a = tf.keras.Input((4,), dtype="int32")
    b = tf.keras.Input((4,), dtype="int32")
    ea = L.Embedding(5, 2, mask_zero=True)(a)
    eb = L.Embedding(5, 2, mask_zero=True)(b)
    model = tf.keras.Model([a, b], [L.Add()([ea, eb]), L.Concatenate()([ea, eb])])
    ia = np.array([[1, 2, 0, 0]])
    ib = np.array([[1, 0, 3, 0]])
    outs = model([ia, ib])
    want = (ia != 0) & (ib != 0)
    for o in outs:
        np.testing.assert_array_equal(get_mask(o).numpy(), want)


def test_no_mask_costs_nothing_and_flatten_drops_mask():
    model = tf.keras.Sequential([L.Dense(3, input_shape=(2,))])
    y = model(np.ones((2, 2), np.float32))
    assert get_mask(y) is None


def test_masked_loss_and_metrics_match_numpy():
    """return_sequences model: the loss and accuracy average over unmasked steps only."""
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([L.Embedding(8, 3, mask_zero=True, input_shape=(5,)),
                                 L.LSTM(4, return_sequences=True),
                                 L.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    y = np.random.RandomState(0).randint(0, 3, IDS.shape)
    loss, acc = model.evaluate(IDS, y, verbose=0, batch_size=4)
    p = model.predict(IDS, verbose=0).astype(np.float64)
    m = IDS != 0
    ce = -np.log(np.clip(np.take_along_axis(p, y[..., None], -1)[..., 0], 1e-7, 1))
    ref_loss = (ce * m).sum() / m.sum()
    ref_acc = ((p.argmax(-1) == y) * m).sum() / m.sum()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4)
    np.testing.assert_allclose(acc, ref_acc, rtol=1e-6)
    # Unmasked loss would differ.
    assert abs(ce.mean() - ref_loss) > 1e-5
    # Training works and the gradient ignores padded targets: changing them changes nothing.
    y2 = y.copy()
    y2[~m] = (y2[~m] + 1) % 3
    np.testing.assert_allclose(model.evaluate(IDS, y2, verbose=0, batch_size=4)[0], loss,
                               rtol=1e-6)
    h = model.fit(IDS, y, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_masked_fit_gradients_match_between_padding_variants():
    """A padded sequence trains exactly like its unpadded prefix (LSTM final output)."""
    def make():
        tf.keras.utils.set_random_seed(7)
        m = tf.keras.Sequential([L.Embedding(6, 3, mask_zero=True), L.LSTM(2), L.Dense(1)])
        m.compile(tf.keras.optimizers.SGD(0.1), "mse")
        return m
    ids = np.array([[1, 2, 3]])
    padded = np.array([[1, 2, 3, 0, 0]])
    y = np.array([[0.5]])
    a, b = make(), make()
    a.predict(ids, verbose=0)
    b.predict(padded, verbose=0)
    b.set_weights(a.get_weights())
    a.fit(ids, y, epochs=3, verbose=0)
    b.fit(padded, y, epochs=3, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_lambda_mask_argument():
    lam = L.Lambda(lambda x: x * 2, mask=lambda inputs, mask: mask)
    emb = L.Embedding(5, 2, mask_zero=True)
    y = lam(emb(np.array([[1, 0, 2]])))
    np.testing.assert_array_equal(get_mask(y).numpy(), [[True, False, True]])


def test_masking_layer_config_and_namespace():
    layer = tf.keras.layers.Masking(mask_value=-1.0)
    assert layer.get_config()["mask_value"] == -1.0
    assert L.Masking.from_config(layer.get_config()).mask_value == -1.0


def test_custom_scalar_loss_on_a_masked_output():
    # The Transformer tutorial's masked_loss returns a scalar; compiled on a model whose
    # output still carries a Keras mask, Keras 2 broadcasts the scalar against the mask
    # weights (rescaled so the valid entries average to 1): the loss is the scalar itself.
    import nabi as tf
    from nabi import keras
    inp = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(inp)
    out = keras.layers.Dense(3)(h)
    m = keras.Model(inp, out)

    def masked_loss(y, p):
        per = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                         reduction="none")(y, p)
        return tf.reduce_mean(per)
    m.compile("adam", masked_loss)
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]] * 4, "int32")
    y = np.random.default_rng(0).integers(0, 3, (8, 5))
    hist = m.fit(x, y, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(hist).all()
    logits = m.predict(x, verbose=0).astype(np.float64)
    lse = np.log(np.exp(logits).sum(-1))
    ce = lse - np.take_along_axis(logits, y[..., None], -1)[..., 0]
    np.testing.assert_allclose(m.evaluate(x, y, verbose=0), ce.mean(), rtol=1e-5)
