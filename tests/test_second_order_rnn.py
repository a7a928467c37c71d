"""Second-order gradients through the fused recurrent ops (nabi.ops.rnn_ops: lstm, gru,
simple_rnn) and the Keras LSTM / GRU / SimpleRNN layers that run them: Hessian-vector
products of the ops against float64 central second differences of the NumPy recurrences in
reference_rnn.py, and the gradient-penalty pattern (||d loss / d x||^2 differentiated with
respect to the weights) against central differences of a NumPy penalty whose inner gradient
is reference_rnn's hand-written BPTT. Tiny shapes (batch 2, time 3, units 3), float64.
The first-order path (the fused kernels) is checked to give the same numbers as before.
"""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.ops import rnn_ops

import reference as ref
import reference_rnn as rr
from test_second_order import hvp_check

B, T, D, U = 2, 3, 2, 3


def _data(seed, gates, reset_after=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D))
    h0 = 0.5 * rng.standard_normal((B, U))
    c0 = 0.5 * rng.standard_normal((B, U))
    W = 0.6 * rng.standard_normal((D, gates * U))
    R = 0.6 * rng.standard_normal((U, gates * U))
    b = 0.3 * rng.standard_normal((2, gates * U) if (gates == 3 and reset_after)
                                  else (gates * U,))
    return x, h0, c0, W, R, b


def _flat(*parts):
    """The op's outputs side by side, (B, T*U + U [+ U])."""
    return [p.reshape(B, -1) for p in parts]


# ------------------------------------------------------------------ Hessian-vector products


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("act,rec", [("tanh", "sigmoid"), ("linear", "tanh"),
                                     ("relu", "hard_sigmoid")])
def test_lstm_op_hvp_all_inputs(go_backwards, act, rec):
    x, h0, c0, W, R, b = _data(1, 4)

    def f_tf(x, h0, c0, W, R, b):
        out, h, c = rnn_ops.lstm(x, h0, c0, W, R, b, go_backwards, act, rec)
        return tf.concat([tf.reshape(out, (B, -1)), h, c], axis=1)

    def f_np(x, h0, c0, W, R, b):
        out, h, c, _ = rr.lstm_forward(x, h0, c0, W, R, b, go_backwards, act, rec)
        return np.concatenate(_flat(out, h, c), axis=1)
    hvp_check(f_tf, f_np, [x, h0, c0, W, R, b], seed=2)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_op_hvp_all_inputs(go_backwards, reset_after):
    x, h0, _, W, R, b = _data(3, 3, reset_after)

    def f_tf(x, h0, W, R, b):
        out, h = rnn_ops.gru(x, h0, W, R, b, go_backwards, reset_after=reset_after)
        return tf.concat([tf.reshape(out, (B, -1)), h], axis=1)

    def f_np(x, h0, W, R, b):
        out, h, _ = rr.gru_forward(x, h0, W, R, b, go_backwards, reset_after=reset_after)
        return np.concatenate(_flat(out, h), axis=1)
    hvp_check(f_tf, f_np, [x, h0, W, R, b], seed=4)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn_op_hvp_all_inputs_and_no_bias(go_backwards):
    x, h0, _, W, R, b = _data(5, 1)

    def f_tf(x, h0, W, R, b):
        out, h = rnn_ops.simple_rnn(x, h0, W, R, b, go_backwards)
        return tf.concat([tf.reshape(out, (B, -1)), h], axis=1)

    def f_np(x, h0, W, R, b):
        out, h, _ = rr.simple_rnn_forward(x, h0, W, R, b, go_backwards)
        return np.concatenate(_flat(out, h), axis=1)
    hvp_check(f_tf, f_np, [x, h0, W, R, b], seed=6)
    # without a bias (use_bias=False), sigmoid activation
    hvp_check(lambda x, W, R: rnn_ops.simple_rnn(x, None, W, R, None, go_backwards,
                                                 "sigmoid")[0],
              lambda x, W, R: rr.simple_rnn_forward(x, np.zeros((B, U)), W, R, None,
                                                    go_backwards, "sigmoid")[0],
              [x, W, R], seed=7)


def test_lstm_op_hvp_float32_close_to_float64():
    x, h0, c0, W, R, b = _data(8, 4)
    rng = np.random.default_rng(9)
    u = [rng.standard_normal(a.shape) for a in (W, R, b)]

    def hu(dtype):
        ts = [tf.constant(a.astype(dtype)) for a in (x, h0, c0, W, R, b)]
        with tf.GradientTape() as t2:
            t2.watch(ts[3:])
            with tf.GradientTape() as t1:
                t1.watch(ts[3:])
                out, h, c = rnn_ops.lstm(*ts)
                loss = tf.reduce_sum(tf.sin(out)) + tf.reduce_sum(c * c)
            gs = t1.gradient(loss, ts[3:])
            s = tf.add_n([tf.reduce_sum(g * v.astype(dtype)) for g, v in zip(gs, u)])
        return [r.numpy() for r in t2.gradient(s, ts[3:])]
    for a, e in zip(hu(np.float32), hu(np.float64)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, e, rtol=2e-4, atol=2e-5)


# ------------------------------------------------------------------ gradient penalty, layers


def _np_layer(kind, ws, x, h0=None, c0=None, go_backwards=False, reset_after=True):
    """The layer's forward (outputs, h_T[, c_T]) and a BPTT closure, float64 NumPy."""
    W, R, b = ws
    h0 = np.zeros((len(x), U)) if h0 is None else h0
    if kind == "LSTM":
        c0 = np.zeros((len(x), U)) if c0 is None else c0
        out, h, c, cache = rr.lstm_forward(x, h0, c0, W, R, b, go_backwards)
        return (out, h, c), lambda do, dh, dc: rr.lstm_backward(x, W, R, cache, do, dh, dc)
    if kind == "GRU":
        out, h, cache = rr.gru_forward(x, h0, W, R, b, go_backwards, reset_after=reset_after)
        return (out, h), lambda do, dh, dc: rr.gru_backward(x, W, R, cache, do, dh,
                                                             reset_after=reset_after)
    out, h, cache = rr.simple_rnn_forward(x, h0, W, R, b, go_backwards)
    return (out, h), lambda do, dh, dc: rr.simple_rnn_backward(x, W, R, cache, do, dh)


LAYERS = {
    "LSTM": (keras.layers.LSTM, 4, {}),
    "GRU": (keras.layers.GRU, 3, {}),
    "GRU_v1": (keras.layers.GRU, 3, {"reset_after": False}),
    "SimpleRNN": (keras.layers.SimpleRNN, 1, {}),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("return_sequences,go_backwards", [(False, False), (True, True)])
def test_layer_gradient_penalty_wrt_weights(name, return_sequences, go_backwards):
    cls, gates, kw = LAYERS[name]
    kind = name.split("_")[0]
    reset_after = kw.get("reset_after", True)
    x, _, _, W, R, b = _data(10, gates, reset_after)
    layer = cls(U, return_sequences=return_sequences, go_backwards=go_backwards,
                dtype="float64", **kw)
    xt = tf.constant(x)
    layer(xt)
    layer.set_weights([W, R, b])
    c = np.random.default_rng(11).standard_normal((B, T, U) if return_sequences else (B, U))

    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            t1.watch(xt)
            loss = tf.reduce_sum(layer(xt) * c)
        gx = t1.gradient(loss, xt)
        pen = tf.reduce_sum(tf.square(gx))
    grads = t2.gradient(pen, layer.trainable_variables)

    def pen_np(ws):
        _, back = _np_layer(kind, ws, x, go_backwards=go_backwards, reset_after=reset_after)
        zero = np.zeros((B, U))
        if return_sequences:
            g = back(c, zero, zero)
        else:
            g = back(np.zeros((B, T, U)), c, zero)
        return np.sum(g["x"] ** 2)
    np.testing.assert_allclose(float(pen), pen_np([W, R, b]), rtol=1e-10)
    for got, num in zip(grads, ref.fd_grads(pen_np, [W, R, b], 1e-6)):
        np.testing.assert_allclose(got.numpy(), num, rtol=1e-6, atol=1e-8)


def test_lstm_return_state_initial_state_penalty_wrt_weights_and_states():
    x, h0, c0, W, R, b = _data(12, 4)
    layer = keras.layers.LSTM(U, return_sequences=True, return_state=True, dtype="float64")
    xt, h0t, c0t = tf.constant(x), tf.constant(h0), tf.constant(c0)
    layer(xt)
    layer.set_weights([W, R, b])
    rng = np.random.default_rng(13)
    c1, c2, c3 = rng.standard_normal((B, T, U)), rng.standard_normal((B, U)), \
        rng.standard_normal((B, U))
    with tf.GradientTape() as t2:
        t2.watch([h0t, c0t])
        with tf.GradientTape() as t1:
            t1.watch([xt, h0t])
            seq, h, cs = layer(xt, initial_state=[h0t, c0t])
            loss = tf.reduce_sum(seq * c1) + tf.reduce_sum(h * c2) + tf.reduce_sum(cs * c3)
        gx, gh = t1.gradient(loss, [xt, h0t])
        pen = tf.reduce_sum(tf.square(gx)) + tf.reduce_sum(tf.square(gh))
    grads = t2.gradient(pen, layer.trainable_variables + [h0t, c0t])

    def pen_np(ps):
        W, R, b, h0, c0 = ps
        _, back = _np_layer("LSTM", [W, R, b], x, h0, c0)
        g = back(c1, c2, c3)
        return np.sum(g["x"] ** 2) + np.sum(g["h0"] ** 2)
    params = [W, R, b, h0, c0]
    np.testing.assert_allclose(float(pen), pen_np(params), rtol=1e-10)
    for got, num in zip(grads, ref.fd_grads(pen_np, params, 1e-6)):
        np.testing.assert_allclose(got.numpy(), num, rtol=1e-6, atol=1e-8)


def test_bidirectional_gru_penalty_and_hessian_by_persistent_tape():
    # a persistent tape differentiating its own gradient (inside its context)
    x, _, _, W, R, b = _data(14, 3)
    rng = np.random.default_rng(15)
    Wb, Rb, bb = (0.6 * rng.standard_normal(a.shape) for a in (W, R, b))
    layer = keras.layers.Bidirectional(keras.layers.GRU(U, dtype="float64"), dtype="float64")
    xt = tf.constant(x)
    layer(xt)
    layer.set_weights([W, R, b, Wb, Rb, bb])
    c = rng.standard_normal((B, 2 * U))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.tanh(layer(xt)) * c)
        gx = tape.gradient(loss, xt)
        pen = tf.reduce_sum(tf.square(gx))
    grads = tape.gradient(pen, layer.trainable_variables)

    def pen_np(ws):
        (of, hf), backf = _np_layer("GRU", ws[:3], x)
        (ob, hb), backb = _np_layer("GRU", ws[3:], x, go_backwards=True)
        y = np.concatenate([hf, hb], axis=1)
        dy = (1 - np.tanh(y) ** 2) * c
        zero = np.zeros((B, T, U))
        gf = backf(zero, dy[:, :U], None)["x"]
        gb = backb(zero, dy[:, U:], None)["x"]
        return np.sum((gf + gb) ** 2)
    params = [W, R, b, Wb, Rb, bb]
    np.testing.assert_allclose(float(pen), pen_np(params), rtol=1e-10)
    for got, num in zip(grads, ref.fd_grads(pen_np, params, 1e-6)):
        np.testing.assert_allclose(got.numpy(), num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ masks (the cell loop)


def _masked_lstm_np(ws, x, mask):
    """Keras LSTM with a mask: a masked step keeps the states and repeats the output."""
    W, R, b = ws
    h, c = np.zeros((B, U)), np.zeros((B, U))
    for t in range(T):
        out, hn, cn, _ = rr.lstm_forward(x[:, t:t + 1], h, c, W, R, b)
        m = mask[:, t:t + 1]
        h, c = m * hn + (1 - m) * h, m * cn + (1 - m) * c
    return h


def test_masked_lstm_layer_gradient_penalty():
    x, _, _, W, R, b = _data(16, 4)
    x[1, 2] = 0.0                                            # masked by Masking(0)
    mask = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    model = keras.Sequential([keras.layers.Input((T, D), dtype="float64"),
                              keras.layers.Masking(0.0, dtype="float64"),
                              keras.layers.LSTM(U, dtype="float64")])
    lstm = model.layers[-1]
    lstm.set_weights([W, R, b])
    c = np.random.default_rng(17).standard_normal((B, U))
    xt = tf.constant(x)
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            t1.watch(xt)
            loss = tf.reduce_sum(model(xt) * c)
        gx = t1.gradient(loss, xt)
        pen = tf.reduce_sum(tf.square(gx))
    grads = t2.gradient(pen, lstm.trainable_variables)

    def pen_np(ws):
        # the inner gradient by central differences (1e-5), masked entries held at 0
        def obj(ps):
            return np.sum(_masked_lstm_np(ws, ps[0], mask) * c)
        g = ref.fd_grads(obj, [x], 1e-5)[0]
        return np.sum((g * mask[..., None]) ** 2)
    np.testing.assert_allclose(float(pen), pen_np([W, R, b]), rtol=1e-7)
    # nested central differences (1e-5 inside, 1e-4 outside): good to ~1e-6 relative
    for got, num in zip(grads, ref.fd_grads(pen_np, [W, R, b], 1e-4)):
        np.testing.assert_allclose(got.numpy(), num, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ first order unchanged


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_v1", "simple_rnn"])
def test_first_order_gradients_unchanged(kind, monkeypatch):
    # a single tape runs the fused BPTT kernels and never the recomputed recurrence (made to
    # raise here); the inner gradient of a nested pair (the recomputed, recorded rule) agrees
    # with it to rounding; both equal reference_rnn's BPTT
    gates = {"lstm": 4, "gru": 3, "gru_v1": 3, "simple_rnn": 1}[kind]
    reset_after = kind != "gru_v1"
    x, h0, c0, W, R, b = _data(18, gates, reset_after)
    rng = np.random.default_rng(19)
    do, dh, dc = rng.standard_normal((B, T, U)), rng.standard_normal((B, U)), \
        rng.standard_normal((B, U))
    arrays = [x, h0] + ([c0] if kind == "lstm" else []) + [W, R, b]
    names = ["x", "h0"] + (["c0"] if kind == "lstm" else []) + ["kernel", "recurrent_kernel",
                                                                 "bias"]

    def run(ts):
        if kind == "lstm":
            out, h, c = rnn_ops.lstm(*ts, go_backwards=True)
            return tf.reduce_sum(out * do) + tf.reduce_sum(h * dh) + tf.reduce_sum(c * dc)
        if kind == "simple_rnn":
            out, h = rnn_ops.simple_rnn(*ts, go_backwards=True)
        else:
            out, h = rnn_ops.gru(*ts, go_backwards=True, reset_after=reset_after)
        return tf.reduce_sum(out * do) + tf.reduce_sum(h * dh)
    if kind == "lstm":
        _, _, _, cache = rr.lstm_forward(x, h0, c0, W, R, b, True)
        want = rr.lstm_backward(x, W, R, cache, do, dh, dc)
    elif kind == "simple_rnn":
        _, _, cache = rr.simple_rnn_forward(x, h0, W, R, b, True)
        want = rr.simple_rnn_backward(x, W, R, cache, do, dh)
    else:
        _, _, cache = rr.gru_forward(x, h0, W, R, b, True, reset_after=reset_after)
        want = rr.gru_backward(x, W, R, cache, do, dh, reset_after=reset_after)
    ts = [tf.constant(a) for a in arrays]

    def forbidden(*a, **k):
        raise AssertionError("the first-order path ran the recomputed recurrence")
    with monkeypatch.context() as mp:
        for f in ("_lstm_steps", "_gru_steps", "_simple_rnn_steps"):
            mp.setattr(rnn_ops, f, forbidden)
        with tf.GradientTape() as tape:
            tape.watch(ts)
            loss = run(ts)
        single = tape.gradient(loss, ts)
    with tf.GradientTape() as t2:
        t2.watch(ts)
        with tf.GradientTape() as t1:
            t1.watch(ts)
            loss = run(ts)
        nested = t1.gradient(loss, ts)
    for name, g1, g2 in zip(names, single, nested):
        np.testing.assert_allclose(g1.numpy(), want[name], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g2.numpy(), g1.numpy(), rtol=1e-12, atol=1e-14)
