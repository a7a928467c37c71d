"""Fused recurrent ops (nabi.ops.rnn_ops -> csrc/cpu/lstm.cpp, gru.cpp, simple_rnn.cpp) against
the independent NumPy step-by-step references in reference_rnn.py (forward and BPTT), and
float64 central differences; Keras layers (when the Keras base exists) for
return_sequences/return_state, stateful carry-over and errors."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import reference_rnn as ref  # noqa: E402

import nabi  # noqa: E402
from nabi import _C  # noqa: E402
from nabi.ops import rnn_ops  # noqa: E402
from nabi.framework.device import to_device  # noqa: E402

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
GRAD_NAMES = {"lstm": ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"],
              "gru": ["x", "h0", "kernel", "recurrent_kernel", "bias"],
              "simple_rnn": ["x", "h0", "kernel", "recurrent_kernel", "bias"]}
NGATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def make(kind, B, T, D, U, dtype, seed=0, reset_after=True, scale=0.5):
    rng = np.random.default_rng(seed)
    G = NGATES[kind]
    p = dict(x=rng.normal(size=(B, T, D)), h0=rng.normal(size=(B, U)) * 0.5,
             kernel=rng.normal(size=(D, G * U)) * scale,
             recurrent_kernel=rng.normal(size=(U, G * U)) * scale)
    if kind == "lstm":
        p["c0"] = rng.normal(size=(B, U)) * 0.5
    if kind == "gru" and reset_after:
        p["bias"] = rng.normal(size=(2, 3 * U)) * 0.3
    else:
        p["bias"] = rng.normal(size=(G * U,)) * 0.3
    return {k: v.astype(dtype) for k, v in p.items()}


def run_ref(kind, p, go_backwards, act, rec, reset_after):
    if kind == "lstm":
        o, h, c, cache = ref.lstm_forward(p["x"], p["h0"], p["c0"], p["kernel"],
                                          p["recurrent_kernel"], p["bias"], go_backwards, act, rec)
        return (o, h, c), cache
    if kind == "gru":
        o, h, cache = ref.gru_forward(p["x"], p["h0"], p["kernel"], p["recurrent_kernel"],
                                      p["bias"], go_backwards, act, rec, reset_after)
        return (o, h), cache
    o, h, cache = ref.simple_rnn_forward(p["x"], p["h0"], p["kernel"], p["recurrent_kernel"],
                                         p["bias"], go_backwards, act)
    return (o, h), cache


def run_ref_bwd(kind, p, cache, gouts, act, rec, reset_after):
    P = {k: v.astype(np.float64) for k, v in p.items()}
    if kind == "lstm":
        return ref.lstm_backward(P["x"], P["kernel"], P["recurrent_kernel"], cache, *gouts,
                                 activation=act, recurrent_activation=rec)
    if kind == "gru":
        return ref.gru_backward(P["x"], P["kernel"], P["recurrent_kernel"], cache, *gouts,
                                activation=act, recurrent_activation=rec, reset_after=reset_after)
    return ref.simple_rnn_backward(P["x"], P["kernel"], P["recurrent_kernel"], cache, *gouts,
                                   activation=act)


def run_op(kind, args, go_backwards, act, rec, reset_after):
    if kind == "lstm":
        return rnn_ops.lstm(*args, go_backwards=go_backwards, activation=act,
                            recurrent_activation=rec)
    if kind == "gru":
        return rnn_ops.gru(*args, go_backwards=go_backwards, activation=act,
                           recurrent_activation=rec, reset_after=reset_after)
    return rnn_ops.simple_rnn(*args, go_backwards=go_backwards, activation=act)


def op_with_grads(kind, p, gouts, go_backwards, act, rec, reset_after):
    names = GRAD_NAMES[kind]
    vs = [nabi.Variable(p[n]) for n in names]
    with nabi.GradientTape() as tape:
        outs = run_op(kind, vs, go_backwards, act, rec, reset_after)
        loss = None
        for o, g in zip(outs, gouts):
            term = nabi.reduce_sum(o * g.astype(p["x"].dtype))
            loss = term if loss is None else loss + term
    grads = tape.gradient(loss, vs)
    return [o.numpy() for o in outs], dict(zip(names, [g.numpy() for g in grads]))


CASES = [
    # kind, B, T, D, U, go_backwards, act, rec, reset_after
    ("lstm", 3, 5, 4, 6, False, "tanh", "sigmoid", True),
    ("lstm", 3, 5, 4, 6, True, "tanh", "sigmoid", True),
    ("lstm", 1, 1, 3, 5, False, "tanh", "sigmoid", True),
    ("lstm", 2, 4, 3, 9, False, "relu", "hard_sigmoid", True),
    ("lstm", 2, 3, 2, 4, True, "linear", "tanh", True),
    ("gru", 3, 5, 4, 6, False, "tanh", "sigmoid", True),
    ("gru", 3, 5, 4, 6, True, "tanh", "sigmoid", True),
    ("gru", 3, 5, 4, 6, False, "tanh", "sigmoid", False),
    ("gru", 3, 5, 4, 6, True, "tanh", "sigmoid", False),
    ("gru", 1, 1, 3, 5, False, "tanh", "sigmoid", True),
    ("gru", 1, 1, 3, 5, False, "tanh", "sigmoid", False),
    ("gru", 2, 4, 3, 9, False, "relu", "hard_sigmoid", False),
    ("gru", 2, 4, 3, 7, True, "sigmoid", "tanh", True),
    ("simple_rnn", 3, 5, 4, 6, False, "tanh", None, True),
    ("simple_rnn", 3, 5, 4, 6, True, "tanh", None, True),
    ("simple_rnn", 1, 1, 3, 5, False, "relu", None, True),
    ("simple_rnn", 2, 4, 3, 7, False, "sigmoid", None, True),
    ("simple_rnn", 2, 4, 3, 7, True, "linear", None, True),
]


def _case_id(c):
    return f"{c[0]}-B{c[1]}T{c[2]}D{c[3]}U{c[4]}-{'bw' if c[5] else 'fw'}-{c[6]}-{c[7]}" + \
        ("" if c[0] != "gru" else ("-ra" if c[8] else "-rb"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_forward_and_bptt_vs_numpy(case, dtype):
    kind, B, T, D, U, gb, act, rec, ra = case
    rec = rec or "sigmoid"
    p = make(kind, B, T, D, U, dtype, reset_after=ra)
    outs_ref, cache = run_ref(kind, p, gb, act, rec, ra)
    rng = np.random.default_rng(1)
    gouts = [rng.normal(size=o.shape) for o in outs_ref]
    outs, grads = op_with_grads(kind, p, gouts, gb, act, rec, ra)
    for o, r in zip(outs, outs_ref):
        assert o.dtype == dtype
        np.testing.assert_allclose(o, r, **TOL[dtype])
    gref = run_ref_bwd(kind, p, cache, gouts, act, rec, ra)
    for n in GRAD_NAMES[kind]:
        assert grads[n].dtype == dtype and grads[n].shape == p[n].shape, n
        tol = dict(TOL[dtype])
        if dtype == np.float32:
            tol["atol"] = 1e-4 * max(1.0, float(np.abs(gref[n]).max()))
        np.testing.assert_allclose(grads[n], gref[n], err_msg=n, **tol)


@pytest.mark.parametrize("kind,ra", [("lstm", True), ("gru", True), ("gru", False),
                                     ("simple_rnn", True)])
@pytest.mark.parametrize("gb", [False, True])
def test_central_differences_float64(kind, ra, gb):
    p = make(kind, 2, 3, 3, 4, np.float64, seed=3, reset_after=ra)
    rng = np.random.default_rng(5)
    outs0, _ = run_ref(kind, p, gb, "tanh", "sigmoid", ra)
    gouts = [rng.normal(size=o.shape) for o in outs0]
    _, grads = op_with_grads(kind, p, gouts, gb, "tanh", "sigmoid", ra)
    names = GRAD_NAMES[kind]

    def loss(q):
        outs = run_op(kind, [q[n] for n in names], gb, "tanh", "sigmoid", ra)
        return sum(float(np.sum(o.numpy() * g)) for o, g in zip(outs, gouts))

    eps = 1e-6
    for n in names:
        num = np.zeros_like(p[n])
        for idx in np.ndindex(p[n].shape):
            q = {k: v.copy() for k, v in p.items()}
            q[n][idx] += eps
            lp = loss(q)
            q[n][idx] -= 2 * eps
            lm = loss(q)
            num[idx] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(grads[n], num, rtol=1e-6, atol=1e-7, err_msg=n)


def test_partial_output_gradients_and_no_bias():
    """Only h_T used (return_sequences=False), no bias, initial states None."""
    p = make("lstm", 2, 4, 3, 5, np.float64)
    x, W, R = (nabi.Variable(p[k]) for k in ("x", "kernel", "recurrent_kernel"))
    with nabi.GradientTape() as tape:
        o, h, c = rnn_ops.lstm(x, None, None, W, R, None)
        loss = nabi.reduce_sum(h * h)
    gx, gW, gR = tape.gradient(loss, [x, W, R])
    z = np.zeros((2, 5))
    ro, rh, rc, cache = ref.lstm_forward(p["x"], z, z, p["kernel"], p["recurrent_kernel"], None)
    np.testing.assert_allclose(h.numpy(), rh, rtol=1e-12, atol=1e-12)
    g = ref.lstm_backward(p["x"], p["kernel"], p["recurrent_kernel"], cache, np.zeros(ro.shape),
                          2 * rh, np.zeros(rc.shape))
    np.testing.assert_allclose(gx.numpy(), g["x"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gW.numpy(), g["kernel"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gR.numpy(), g["recurrent_kernel"], rtol=1e-9, atol=1e-12)


def test_larger_threaded_batch_float32():
    """Batch split across threads (B=37, U=64) still matches the reference."""
    for kind, ra in (("lstm", True), ("gru", True), ("gru", False), ("simple_rnn", True)):
        p = make(kind, 37, 6, 10, 64, np.float32, reset_after=ra, scale=0.2)
        outs_ref, cache = run_ref(kind, p, False, "tanh", "sigmoid", ra)
        rng = np.random.default_rng(2)
        gouts = [rng.normal(size=o.shape) for o in outs_ref]
        outs, grads = op_with_grads(kind, p, gouts, False, "tanh", "sigmoid", ra)
        for o, r in zip(outs, outs_ref):
            np.testing.assert_allclose(o, r, rtol=1e-4, atol=3e-5)
        gref = run_ref_bwd(kind, p, cache, gouts, "tanh", "sigmoid", ra)
        for n in GRAD_NAMES[kind]:
            np.testing.assert_allclose(grads[n], gref[n], rtol=1e-3,
                                       atol=2e-4 * max(1.0, float(np.abs(gref[n]).max())),
                                       err_msg=f"{kind} {n}")


def test_state_carry_equals_long_sequence():
    """Running two halves with the final state carried equals running the whole sequence."""
    p = make("lstm", 2, 6, 3, 5, np.float64)
    args = [p[k] for k in ("kernel", "recurrent_kernel", "bias")]
    o, h, c = rnn_ops.lstm(p["x"], p["h0"], p["c0"], *args)
    o1, h1, c1 = rnn_ops.lstm(p["x"][:, :3], p["h0"], p["c0"], *args)
    o2, h2, c2 = rnn_ops.lstm(p["x"][:, 3:], h1, c1, *args)
    np.testing.assert_allclose(np.concatenate([o1.numpy(), o2.numpy()], 1), o.numpy(), rtol=1e-12)
    np.testing.assert_allclose(h2.numpy(), h.numpy(), rtol=1e-12)
    np.testing.assert_allclose(c2.numpy(), c.numpy(), rtol=1e-12)


def test_errors():
    p = make("lstm", 2, 3, 4, 5, np.float32)
    z = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match=r"^\[lstm\].*kernel"):
        _C.lstm_forward(p["x"], z, z, p["kernel"][:3], p["recurrent_kernel"], None)
    with pytest.raises(ValueError, match=r"^\[lstm\].*recurrent_kernel"):
        _C.lstm_forward(p["x"], z, z, p["kernel"], p["recurrent_kernel"][:, :7], None)
    with pytest.raises(TypeError, match=r"^\[lstm\].*dtypes differ"):
        _C.lstm_forward(p["x"].astype(np.float64), z, z, p["kernel"], p["recurrent_kernel"], None)
    with pytest.raises(ValueError, match=r"^\[lstm\].*C-contiguous"):
        _C.lstm_forward(np.asfortranarray(p["x"]), z, z, p["kernel"], p["recurrent_kernel"], None)
    with pytest.raises(ValueError, match=r"^\[lstm\] initial h"):
        _C.lstm_forward(p["x"], z[:1], z, p["kernel"], p["recurrent_kernel"], None)
    with pytest.raises(ValueError, match=r"^\[lstm\] bias"):
        _C.lstm_forward(p["x"], z, z, p["kernel"], p["recurrent_kernel"], z)
    with pytest.raises(ValueError, match=r"^\[lstm\] unknown activation"):
        _C.lstm_forward(p["x"], z, z, p["kernel"], p["recurrent_kernel"], None, "softmax")
    with pytest.raises(ValueError, match=r"^\[lstm\] x must have at least one timestep"):
        _C.lstm_forward(p["x"][:, :0].copy(), z, z, p["kernel"], p["recurrent_kernel"], None)
    with pytest.raises(TypeError, match=r"^\[lstm\].*float32 or float64"):
        _C.lstm_forward(p["x"].astype(np.int32), z, z, p["kernel"], p["recurrent_kernel"], None)
    g = make("gru", 2, 3, 4, 5, np.float32, reset_after=True)
    with pytest.raises(ValueError, match=r"^\[gru\] bias"):
        _C.gru_forward(g["x"], g["h0"], g["kernel"], g["recurrent_kernel"], g["bias"],
                       reset_after=False)
    with pytest.raises(ValueError, match=r"^\[simple_rnn\]"):
        _C.simple_rnn_forward(g["x"], g["h0"], g["kernel"], g["recurrent_kernel"], None)
    with pytest.raises(ValueError, match=r"^\[lstm\] x must be 3-D"):
        rnn_ops.lstm(p["x"][0], None, None, p["kernel"], p["recurrent_kernel"])
    with pytest.raises(ValueError, match=r"^\[lstm\] unsupported activation"):
        rnn_ops.lstm(p["x"], None, None, p["kernel"], p["recurrent_kernel"], activation="softmax")


# ------------------------------------------------------------------------- Keras layers


def _layers():
    try:
        from nabi.keras import layers
    except ImportError as e:  # the Keras engine lands separately
        pytest.skip(f"nabi.keras is not importable yet: {e}")
    return layers


def _ref_layer(kind, layer, x, init=None, go_backwards=False, reset_after=True):
    ws = [w.astype(np.float64) for w in layer.get_weights()]
    B, U = x.shape[0], ws[1].shape[0]
    z = np.zeros((B, U))
    if kind == "lstm":
        h0, c0 = (init if init is not None else (z, z))
        o, h, c, _ = ref.lstm_forward(x, h0, c0, *ws, go_backwards=go_backwards)
        return o, [h, c]
    if kind == "gru":
        h0 = init[0] if init is not None else z
        o, h, _ = ref.gru_forward(x, h0, *ws, go_backwards=go_backwards, reset_after=reset_after)
        return o, [h]
    h0 = init[0] if init is not None else z
    o, h, _ = ref.simple_rnn_forward(x, h0, *ws, go_backwards=go_backwards)
    return o, [h]


LAYER_CASES = [("lstm", True), ("gru", True), ("gru", False), ("simple_rnn", True)]


def _make_layer(L, kind, units, reset_after=True, **kw):
    if kind == "lstm":
        return L.LSTM(units, **kw)
    if kind == "gru":
        return L.GRU(units, reset_after=reset_after, **kw)
    return L.SimpleRNN(units, **kw)


@pytest.mark.parametrize("kind,ra", LAYER_CASES)
@pytest.mark.parametrize("rs,rst", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("gb", [False, True])
def test_layer_outputs_vs_numpy(kind, ra, rs, rst, gb):
    L = _layers()
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    layer = _make_layer(L, kind, 6, ra, return_sequences=rs, return_state=rst, go_backwards=gb)
    out = layer(x)
    w = layer.get_weights()
    G = NGATES[kind]
    assert w[0].shape == (5, G * 6) and w[1].shape == (6, G * 6)
    assert w[2].shape == ((2, 18) if kind == "gru" and ra else (G * 6,))
    if kind == "lstm":  # unit_forget_bias
        np.testing.assert_array_equal(w[2], np.r_[np.zeros(6), np.ones(6), np.zeros(12)])
    ro, rstates = _ref_layer(kind, layer, x.astype(np.float64), go_backwards=gb, reset_after=ra)
    expect = ro if rs else rstates[0]
    if rst:
        assert isinstance(out, list) and len(out) == 1 + len(rstates)
        for o, r in zip(out[1:], rstates):
            np.testing.assert_allclose(o.numpy(), r, rtol=1e-4, atol=1e-5)
        out = out[0]
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,ra", LAYER_CASES)
def test_layer_gradients_and_generic_rnn(kind, ra):
    """Gradients through the fused layer == NumPy BPTT; the generic RNN(cell) Python loop with
    the same weights gives the same outputs and gradients."""
    L = _layers()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3))
    layer = _make_layer(L, kind, 4, ra, return_sequences=True, dtype="float64")
    cell = {"lstm": lambda: L.LSTMCell(4, dtype="float64"),
            "gru": lambda: L.GRUCell(4, reset_after=ra, dtype="float64"),
            "simple_rnn": lambda: L.SimpleRNNCell(4, dtype="float64")}[kind]()
    generic = L.RNN(cell, return_sequences=True, dtype="float64")
    layer(x)
    generic(x)
    generic.set_weights(layer.get_weights())
    gout = rng.normal(size=(2, 5, 4))
    results = []
    for lay in (layer, generic):
        xv = nabi.Variable(x)
        with nabi.GradientTape() as tape:
            y = lay(xv)
            loss = nabi.reduce_sum(y * gout)
        grads = tape.gradient(loss, [xv] + lay.trainable_weights)
        results.append((y.numpy(), [g.numpy() for g in grads]))
    _, cache_states = _ref_layer(kind, layer, x, reset_after=ra)
    ws = layer.get_weights()
    z = np.zeros((2, 4))
    if kind == "lstm":
        o, h, c, cache = ref.lstm_forward(x, z, z, *ws)
        g = ref.lstm_backward(x, ws[0], ws[1], cache, gout, z, z)
    elif kind == "gru":
        o, h, cache = ref.gru_forward(x, z, *ws, reset_after=ra)
        g = ref.gru_backward(x, ws[0], ws[1], cache, gout, z, reset_after=ra)
    else:
        o, h, cache = ref.simple_rnn_forward(x, z, *ws)
        g = ref.simple_rnn_backward(x, ws[0], ws[1], cache, gout, z)
    expect = [g["x"], g["kernel"], g["recurrent_kernel"], g["bias"]]
    for y, grads in results:
        np.testing.assert_allclose(y, o, rtol=1e-10, atol=1e-12)
        for a, b in zip(grads, expect):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind,ra", LAYER_CASES)
def test_stateful_carry_over_and_reset(kind, ra):
    L = _layers()
    rng = np.random.default_rng(2)
    x1 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    x2 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    layer = _make_layer(L, kind, 5, ra, stateful=True, return_sequences=True,
                        batch_input_shape=(2, 3, 4))
    y1 = layer(x1).numpy()
    y2 = layer(x2).numpy()
    whole, _ = _ref_layer(kind, layer, np.concatenate([x1, x2], 1).astype(np.float64),
                          reset_after=ra)
    np.testing.assert_allclose(np.concatenate([y1, y2], 1), whole, rtol=1e-4, atol=1e-5)
    layer.reset_states()
    y3 = layer(x2).numpy()
    fresh, _ = _ref_layer(kind, layer, x2.astype(np.float64), reset_after=ra)
    np.testing.assert_allclose(y3, fresh, rtol=1e-4, atol=1e-5)
    layer.reset_state()  # alias
    np.testing.assert_allclose(layer(x2).numpy(), fresh, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=layer.name + r".*batch size 2.*batch of 3"):
        layer(rng.normal(size=(3, 3, 4)).astype(np.float32))
    # batch_size= fixes the batch too; stateless reset is harmless.
    l2 = _make_layer(L, kind, 5, ra, stateful=True, batch_size=1, input_shape=(3, 4))
    l2(x1[:1])
    with pytest.raises(ValueError, match=r"batch size 1"):
        l2(x1)
    stateless = _make_layer(L, kind, 5, ra)
    stateless.reset_states()
    stateless(x1)
    stateless.reset_states()


def test_stateful_states_survive_training_step():
    """States carry across gradient steps (the tape does not see them) and reset to zeros."""
    L = _layers()
    layer = L.LSTM(3, stateful=True, batch_input_shape=(1, 2, 1))
    x = np.ones((1, 2, 1), np.float32)
    with nabi.GradientTape() as tape:
        y = layer(x)
        loss = nabi.reduce_sum(y)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None for g in grads)
    s1 = [s.copy() for s in layer.states]
    layer(x)
    assert not np.allclose(layer.states[0], s1[0])
    layer.reset_states()
    assert all(np.all(s == 0) for s in layer.states)


@pytest.mark.parametrize("kind,ra", LAYER_CASES)
def test_default_zero_states_are_reused_and_stay_zero(kind, ra):
    """A stateless layer without initial_state reuses one set of zero states per batch size
    (no fresh zeros, and on a GPU no upload, every step): results match explicit zero states
    for alternating batch sizes, through training steps, and the reused zeros stay zero."""
    L = _layers()
    make = {"lstm": lambda: L.LSTM(4, return_state=True),
            "gru": lambda: L.GRU(4, reset_after=ra, return_state=True),
            "simple_rnn": lambda: L.SimpleRNN(4, return_state=True)}[kind]
    layer = make()
    r = np.random.default_rng(3)
    n_states = 2 if kind == "lstm" else 1
    opt = nabi.keras.optimizers.SGD(0.1)
    for B in (5, 3, 5, 3):
        x = nabi.constant(r.standard_normal((B, 6, 2)).astype(np.float32))
        zeros = [nabi.constant(np.zeros((B, 4), np.float32)) for _ in range(n_states)]
        with nabi.GradientTape() as tape:
            outs = layer(x)
            loss = sum(nabi.reduce_sum(o * o) for o in outs)
        want = layer(x, initial_state=zeros)
        for a, b in zip(outs, want):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
        grads = tape.gradient(loss, layer.trainable_weights)
        opt.apply_gradients(zip(grads, layer.trainable_weights))
    cache = layer._zero_state_cache
    assert sorted(k[0] for k in cache) == [3, 5]
    for zs in cache.values():
        assert len(zs) == n_states
        assert all(type(z) is type(x._data) for z in zs)  # on the input's device
        assert all(np.all(to_device(z, "cpu") == 0) for z in zs)


def test_initial_state_and_bidirectional_and_wrappers():
    L = _layers()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    h0 = rng.normal(size=(2, 5)).astype(np.float32)
    c0 = rng.normal(size=(2, 5)).astype(np.float32)
    lstm = L.LSTM(5, return_sequences=True)
    y = lstm(x, initial_state=[h0, c0])
    ro, _ = _ref_layer("lstm", lstm, x.astype(np.float64), init=(h0, c0))
    np.testing.assert_allclose(y.numpy(), ro, rtol=1e-4, atol=1e-5)

    bi = L.Bidirectional(L.LSTM(5, return_sequences=True))
    yb = bi(x).numpy()
    assert yb.shape == (2, 4, 10) and len(bi.get_weights()) == 6
    fw, bw = bi.forward_layer, bi.backward_layer
    rf, _ = _ref_layer("lstm", fw, x.astype(np.float64))
    rb, _ = _ref_layer("lstm", bw, x.astype(np.float64), go_backwards=True)
    np.testing.assert_allclose(yb, np.concatenate([rf, rb[:, ::-1]], -1), rtol=1e-4, atol=1e-5)
    bs = L.Bidirectional(L.GRU(5), merge_mode="sum")
    assert bs(x).shape == (2, 5)

    td = L.TimeDistributed(L.RepeatVector(2))
    assert td(x).shape == (2, 4, 2, 3)
    rv = L.RepeatVector(3)
    assert rv(x[:, 0]).shape == (2, 3, 3)

    emb = L.Embedding(10, 4, mask_zero=True)
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    e = emb(ids)
    assert e.shape == (2, 4, 4) and emb.get_weights()[0].shape == (10, 4)
    np.testing.assert_array_equal(emb.compute_mask(ids).numpy(), ids != 0)
    np.testing.assert_allclose(e.numpy()[1, 0], emb.get_weights()[0][3])
    with nabi.GradientTape() as tape:
        loss = nabi.reduce_sum(emb(ids))
    g = tape.gradient(loss, emb.trainable_weights)[0].numpy()
    np.testing.assert_allclose(g[:, 0], np.bincount(ids.ravel(), minlength=10))
    # Masked steps keep the state: outputs of sample 0 after its last real step are repeated
    # (return_sequences=False gives the state at the last real step).
    lm = L.LSTM(3)
    masked = lm(e, mask=ids != 0).numpy()
    short = lm(e[:1, :2]).numpy()
    np.testing.assert_allclose(masked[:1], short, rtol=1e-5, atol=1e-6)


def test_rnn_dropout_masks_follow_nabis_seed():
    """dropout / recurrent_dropout masks come from nabi's seeded stream: nabi.random.set_seed
    makes them repeat whatever NumPy's global generator does."""
    def run(numpy_seed):
        np.random.seed(numpy_seed)
        nabi.random.set_seed(4)
        layer = nabi.keras.layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5)
        return layer(np.ones((2, 3, 5), np.float32), training=True).numpy()
    np.testing.assert_array_equal(run(1), run(2))
