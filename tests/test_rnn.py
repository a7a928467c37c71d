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
