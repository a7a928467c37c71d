"""CUDA training kernels of nabi._C.cuda_backend: fused LSTM / GRU / SimpleRNN (forward and
BPTT), fused dense (forward and backward) and the Adagrad / Adadelta / Adamax / Nadam
multi-tensor updates (csrc/cuda/rnn.cu, dense.cu, optimizers_extra.cu,
csrc/bindings/bind_cuda_train.cpp).

Every test runs on a `backend` fixture: "cuda" is nabi._C.cuda_backend (skips without a GPU);
"emu" is nabi.framework.cuda_emulator (NumPy stand-in with the same API, whose kernels mirror
the CPU ones). Each function is compared with
  * the CPU nabi._C function of the same name on the same inputs (copied with .numpy()),
  * an independent NumPy reference written here (float64 loops over time, Keras formulas),
  * float64 central differences of that reference for the backward passes.
The last tests run without a GPU: the entry points exist in every build, and in a CUDA build
their Python signatures equal the CPU ones.
"""
import re

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
F32, F64 = np.float32, np.float64
DTYPES = [F32, F64]

RNN_ENTRIES = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
               "simple_rnn_forward", "simple_rnn_backward"]
DENSE_ENTRIES = ["dense_forward", "dense_backward"]
OPT_ENTRIES = ["adagrad_update", "adadelta_update", "adamax_update", "nadam_update"]
ALL_ENTRIES = RNN_ENTRIES + DENSE_ENTRIES + OPT_ENTRIES


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module", params=["cuda", "emu"])
def backend(request):
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    try:
        from nabi.framework import cuda_emulator as emu
    except Exception as e:  # pragma: no cover - depends on the checkout
        pytest.skip(f"nabi.framework.cuda_emulator cannot be imported ({e})")
    return emu


def fn(backend, name):
    f = getattr(backend, name, None)
    if f is None:
        pytest.skip(f"{getattr(backend, '__name__', backend)} has no {name}")
    return f


def up(backend, a):
    return None if a is None else backend.DeviceBuffer.from_numpy(np.ascontiguousarray(a))


def down(b):
    return None if b is None else b.numpy()


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == F32 else dict(rtol=1e-9, atol=1e-11)


def close(actual, expected, dtype, what, **kw):
    t = tol(dtype)
    t.update(kw)
    assert actual is not None, what + " is None"
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected), f"{what}: shape {actual.shape} vs {np.shape(expected)}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype} vs {np.dtype(dtype)}"
    np.testing.assert_allclose(actual, expected, err_msg=what, **t)


def rnd(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ----------------------------------------------------------------- NumPy references (f64)
def act_np(name, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "linear":
        return x
    if name == "hard_sigmoid":   # Keras 3: relu6(x + 3) / 6
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    raise ValueError(name)


def steps(T, go_backwards):
    """(processed step s, input time t) pairs."""
    return [(s, T - 1 - s if go_backwards else s) for s in range(T)]


def ref_lstm(x, h0, c0, W, R, b, act="tanh", rec="sigmoid", go_backwards=False):
    x, h, c, W, R = (np.asarray(a, F64) for a in (x, h0, c0, W, R))
    B, T, _ = x.shape
    U = R.shape[0]
    bias = np.zeros(4 * U) if b is None else np.asarray(b, F64)
    outs = []
    for _, t in steps(T, go_backwards):
        z = x[:, t] @ W + h @ R + bias
        i = act_np(rec, z[:, :U])
        f = act_np(rec, z[:, U:2 * U])
        g = act_np(act, z[:, 2 * U:3 * U])
        o = act_np(rec, z[:, 3 * U:])
        c = f * c + i * g
        h = o * act_np(act, c)
        outs.append(h)
    return np.stack(outs, axis=1), h, c


def ref_gru(x, h0, W, R, b, act="tanh", rec="sigmoid", go_backwards=False, reset_after=True):
    x, h, W, R = (np.asarray(a, F64) for a in (x, h0, W, R))
    B, T, _ = x.shape
    U = R.shape[0]
    outs = []
    for _, t in steps(T, go_backwards):
        xw = x[:, t] @ W
        if reset_after:
            b_in = np.zeros(3 * U) if b is None else np.asarray(b, F64)[0]
            b_rec = np.zeros(3 * U) if b is None else np.asarray(b, F64)[1]
            hr = h @ R + b_rec
            z = act_np(rec, xw[:, :U] + b_in[:U] + hr[:, :U])
            r = act_np(rec, xw[:, U:2 * U] + b_in[U:2 * U] + hr[:, U:2 * U])
            n = act_np(act, xw[:, 2 * U:] + b_in[2 * U:] + r * hr[:, 2 * U:])
        else:
            bb = np.zeros(3 * U) if b is None else np.asarray(b, F64)
            z = act_np(rec, xw[:, :U] + bb[:U] + h @ R[:, :U])
            r = act_np(rec, xw[:, U:2 * U] + bb[U:2 * U] + h @ R[:, U:2 * U])
            n = act_np(act, xw[:, 2 * U:] + bb[2 * U:] + (r * h) @ R[:, 2 * U:])
        h = z * h + (1.0 - z) * n
        outs.append(h)
    return np.stack(outs, axis=1), h


def ref_srnn(x, h0, W, R, b, act="tanh", go_backwards=False):
    x, h, W, R = (np.asarray(a, F64) for a in (x, h0, W, R))
    T = x.shape[1]
    bias = 0.0 if b is None else np.asarray(b, F64)
    outs = []
    for _, t in steps(T, go_backwards):
        h = act_np(act, x[:, t] @ W + h @ R + bias)
        outs.append(h)
    return np.stack(outs, axis=1), h


def numgrad(f, arrays, idx, eps=1e-6):
    """Central differences of the scalar f(*arrays) w.r.t. arrays[idx] (float64)."""
    arrays = [None if a is None else np.array(a, F64) for a in arrays]
    a = arrays[idx]
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        k = it.multi_index
        old = a[k]
        a[k] = old + eps
        fp = f(*arrays)
        a[k] = old - eps
        fm = f(*arrays)
        a[k] = old
        g[k] = (fp - fm) / (2 * eps)
    return g


# =========================================================================== LSTM
def lstm_inputs(rng, B, T, D, U, dtype, has_bias):
    return dict(x=rnd(rng, (B, T, D), dtype), h0=rnd(rng, (B, U), dtype, 0.5),
                c0=rnd(rng, (B, U), dtype, 0.5), kernel=rnd(rng, (D, 4 * U), dtype, 0.4),
                recurrent_kernel=rnd(rng, (U, 4 * U), dtype, 0.4),
                bias=rnd(rng, (4 * U,), dtype, 0.3) if has_bias else None)


def run_lstm_both(backend, a, act, rec, gb, save=True):
    dev = fn(backend, "lstm_forward")(
        up(backend, a["x"]), up(backend, a["h0"]), up(backend, a["c0"]),
        up(backend, a["kernel"]), up(backend, a["recurrent_kernel"]), up(backend, a["bias"]),
        activation=act, recurrent_activation=rec, go_backwards=gb, save=save)
    cpu = _C.lstm_forward(a["x"], a["h0"], a["c0"], a["kernel"], a["recurrent_kernel"],
                          a["bias"], act, rec, gb, save)
    return dev, cpu


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize("U", [3, 33])
@pytest.mark.parametrize("gb", [False, True])
@pytest.mark.parametrize("has_bias", [True, False])
def test_lstm_forward_backward(backend, dtype, B, T, U, gb, has_bias):
    rng = np.random.default_rng(B * 1000 + T * 100 + U + 7 * gb + 3 * has_bias)
    D = 4
    a = lstm_inputs(rng, B, T, D, U, dtype, has_bias)
    dev, cpu = run_lstm_both(backend, a, "tanh", "sigmoid", gb)
    assert len(dev) == 6
    out, hT, cT = ref_lstm(a["x"], a["h0"], a["c0"], a["kernel"], a["recurrent_kernel"],
                           a["bias"], go_backwards=gb)
    for name, d, c, r in zip(["outputs", "h_T", "c_T"], dev[:3], cpu[:3], [out, hT, cT]):
        close(down(d), r, dtype, name + " vs NumPy")
        close(down(d), c, dtype, name + " vs CPU")
    for name, d, c in zip(["gates", "cells", "cact"], dev[3:], cpu[3:]):
        close(down(d), c, dtype, name + " vs CPU")

    # backward, same upstream gradients on both
    d_out, d_h, d_c = (rnd(rng, s, dtype) for s in [(B, T, U), (B, U), (B, U)])
    dev_in = [up(backend, v) for v in (d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                                       a["recurrent_kernel"])]
    gd = fn(backend, "lstm_backward")(*dev_in, dev[0], dev[3], dev[4], dev[5], "tanh",
                                      "sigmoid", gb, True, has_bias)
    gc = _C.lstm_backward(d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                          a["recurrent_kernel"], cpu[0], cpu[3], cpu[4], cpu[5], "tanh",
                          "sigmoid", gb, True, has_bias)
    assert len(gd) == 6
    names = ["dx", "dh0", "dc0", "dkernel", "drecurrent", "dbias"]
    for name, d, c in zip(names, gd, gc):
        if c is None:
            assert d is None, name + " should be None"
        else:
            close(down(d), c, dtype, name + " vs CPU", rtol=5e-4, atol=5e-5)
    if not has_bias:
        assert gd[5] is None


def test_lstm_backward_matches_central_differences(backend):
    rng = np.random.default_rng(11)
    B, T, D, U = 2, 3, 2, 3
    for gb in (False, True):
        a = lstm_inputs(rng, B, T, D, U, F64, True)
        Co, Ch, Cc = rnd(rng, (B, T, U), F64), rnd(rng, (B, U), F64), rnd(rng, (B, U), F64)
        order = ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]
        arrays = [a[k] for k in order]

        def loss(x, h0, c0, W, R, b):
            o, h, c = ref_lstm(x, h0, c0, W, R, b, go_backwards=gb)
            return np.sum(o * Co) + np.sum(h * Ch) + np.sum(c * Cc)

        f = fn(backend, "lstm_forward")(*[up(backend, v) for v in arrays], "tanh", "sigmoid",
                                        gb, True)
        g = fn(backend, "lstm_backward")(
            up(backend, Co), up(backend, Ch), up(backend, Cc), *[up(backend, v) for v in arrays[:5]],
            f[0], f[3], f[4], f[5], "tanh", "sigmoid", gb, True, True)
        got = dict(zip(["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"],
                       [g[0], g[1], g[2], g[3], g[4], g[5]]))
        for i, k in enumerate(order):
            np.testing.assert_allclose(down(got[k]), numgrad(loss, arrays, i), rtol=1e-6,
                                       atol=1e-8, err_msg=f"d{k} (go_backwards={gb})")


# Unbounded gates (recurrent_activation linear / relu) make the cell grow geometrically, so
# float32 results depend on rounding order far beyond any tolerance: float64 only, fewer steps.
OTHER_LSTM_ACTS = ([(d, a, r, 7) for d in DTYPES
                    for a, r in [("relu", "hard_sigmoid"), ("linear", "sigmoid"),
                                 ("hard_sigmoid", "sigmoid"), ("tanh", "hard_sigmoid")]] +
                   [(F64, "tanh", "linear", 3), (F64, "hard_sigmoid", "relu", 3)])


@pytest.mark.parametrize("dtype,act,rec,T", OTHER_LSTM_ACTS)
def test_lstm_other_activations(backend, dtype, act, rec, T):
    rng = np.random.default_rng(5)
    B, D, U = 5, 3, 33
    a = lstm_inputs(rng, B, T, D, U, dtype, True)
    dev, cpu = run_lstm_both(backend, a, act, rec, True)
    out, hT, cT = ref_lstm(a["x"], a["h0"], a["c0"], a["kernel"], a["recurrent_kernel"],
                           a["bias"], act, rec, True)
    # Unbounded gates (linear, relu) let float32 rounding grow with the state: tolerances
    # relative to the largest value.
    loose = {} if dtype == F64 else dict(rtol=1e-3, atol=1e-4 * max(1.0, np.abs(cT).max()))
    close(down(dev[0]), out, dtype, "outputs vs NumPy", **loose)
    close(down(dev[2]), cT, dtype, "c_T vs NumPy", **loose)
    d_out, d_h, d_c = (rnd(rng, s, dtype) for s in [(B, T, U), (B, U), (B, U)])
    gd = fn(backend, "lstm_backward")(
        *[up(backend, v) for v in (d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                                   a["recurrent_kernel"])],
        dev[0], dev[3], dev[4], dev[5], act, rec, True, False, True)
    gc = _C.lstm_backward(d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                          a["recurrent_kernel"], cpu[0], cpu[3], cpu[4], cpu[5], act, rec, True,
                          False, True)
    assert gd[0] is None and gc[0] is None
    for name, d, c in zip(["dh0", "dc0", "dkernel", "drecurrent", "dbias"], gd[1:], gc[1:]):
        close(down(d), c, dtype, name + " vs CPU", rtol=5e-4, atol=5e-5)


def test_lstm_inference_save_false(backend):
    rng = np.random.default_rng(3)
    a = lstm_inputs(rng, 5, 7, 4, 33, F32, True)
    dev, cpu = run_lstm_both(backend, a, "tanh", "sigmoid", False, save=False)
    assert dev[3] is None and dev[4] is None and dev[5] is None
    for name, d, c in zip(["outputs", "h_T", "c_T"], dev[:3], cpu[:3]):
        close(down(d), c, F32, name + " vs CPU")


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_large_many_blocks(backend, dtype):
    rng = np.random.default_rng(17)
    B, T, D, U = 37, 13, 29, 67   # sizes off every tile multiple; B*U spans many blocks
    a = lstm_inputs(rng, B, T, D, U, dtype, True)
    dev, cpu = run_lstm_both(backend, a, "tanh", "sigmoid", True)
    for name, d, c in zip(["outputs", "h_T", "c_T", "gates", "cells", "cact"], dev, cpu):
        close(down(d), c, dtype, name + " vs CPU")
    d_out, d_h, d_c = (rnd(rng, s, dtype) for s in [(B, T, U), (B, U), (B, U)])
    gd = fn(backend, "lstm_backward")(
        *[up(backend, v) for v in (d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                                   a["recurrent_kernel"])],
        dev[0], dev[3], dev[4], dev[5], "tanh", "sigmoid", True, True, True)
    gc = _C.lstm_backward(d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                          a["recurrent_kernel"], cpu[0], cpu[3], cpu[4], cpu[5], "tanh",
                          "sigmoid", True, True, True)
    for name, d, c in zip(["dx", "dh0", "dc0", "dkernel", "drecurrent", "dbias"], gd, gc):
        close(down(d), c, dtype, name + " vs CPU", rtol=1e-3, atol=2e-4)


@pytest.mark.parametrize("gb", [False, True])
def test_lstm_wide_units(backend, gb):
    """U > 256: the CUDA LSTM leaves its fused per-step kernels (a small GEMM and the cell in
    one launch) for the tiled GEMM plus the cell kernel; both paths must agree with NumPy."""
    rng = np.random.default_rng(23)
    B, T, D, U = 3, 3, 2, 260
    a = lstm_inputs(rng, B, T, D, U, F64, True)
    dev, cpu = run_lstm_both(backend, a, "tanh", "sigmoid", gb)
    out, hT, cT = ref_lstm(a["x"], a["h0"], a["c0"], a["kernel"], a["recurrent_kernel"],
                           a["bias"], go_backwards=gb)
    for name, d, r in zip(["outputs", "h_T", "c_T"], dev[:3], [out, hT, cT]):
        close(down(d), r, F64, name + " vs NumPy")
    d_out, d_h, d_c = (rnd(rng, s, F64) for s in [(B, T, U), (B, U), (B, U)])
    gd = fn(backend, "lstm_backward")(
        *[up(backend, v) for v in (d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                                   a["recurrent_kernel"])],
        dev[0], dev[3], dev[4], dev[5], "tanh", "sigmoid", gb, True, True)
    gc = _C.lstm_backward(d_out, d_h, d_c, a["x"], a["h0"], a["c0"], a["kernel"],
                          a["recurrent_kernel"], cpu[0], cpu[3], cpu[4], cpu[5], "tanh",
                          "sigmoid", gb, True, True)
    for name, d, c in zip(["dx", "dh0", "dc0", "dkernel", "drecurrent", "dbias"], gd, gc):
        close(down(d), c, F64, name + " vs CPU")


# ============================================================================ GRU
def gru_inputs(rng, B, T, D, U, dtype, has_bias, reset_after, wscale=0.4):
    bshape = (2, 3 * U) if reset_after else (3 * U,)
    return dict(x=rnd(rng, (B, T, D), dtype), h0=rnd(rng, (B, U), dtype, 0.5),
                kernel=rnd(rng, (D, 3 * U), dtype, wscale),
                recurrent_kernel=rnd(rng, (U, 3 * U), dtype, wscale),
                bias=rnd(rng, bshape, dtype, 0.3) if has_bias else None)


GRU_ORDER = ["x", "h0", "kernel", "recurrent_kernel", "bias"]


def run_gru_both(backend, a, act, rec, gb, ra, save=True):
    dev = fn(backend, "gru_forward")(*[up(backend, a[k]) for k in GRU_ORDER], activation=act,
                                     recurrent_activation=rec, go_backwards=gb, reset_after=ra,
                                     save=save)
    cpu = _C.gru_forward(*[a[k] for k in GRU_ORDER], act, rec, gb, ra, save)
    return dev, cpu


def gru_backward_both(backend, a, dev, cpu, d_out, d_h, act, rec, gb, ra, need_dx, has_bias):
    gd = fn(backend, "gru_backward")(
        up(backend, d_out), up(backend, d_h), *[up(backend, a[k]) for k in GRU_ORDER[:4]],
        dev[0], dev[2], dev[3], act, rec, gb, ra, need_dx, has_bias)
    gc = _C.gru_backward(d_out, d_h, *[a[k] for k in GRU_ORDER[:4]], cpu[0], cpu[2], cpu[3],
                         act, rec, gb, ra, need_dx, has_bias)
    return gd, gc


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize("U", [3, 33])
@pytest.mark.parametrize("gb", [False, True])
@pytest.mark.parametrize("ra", [True, False])
@pytest.mark.parametrize("has_bias", [True, False])
def test_gru_forward_backward(backend, dtype, B, T, U, gb, ra, has_bias):
    rng = np.random.default_rng(B * 1000 + T * 100 + U + 7 * gb + 5 * ra + 3 * has_bias)
    D = 4
    a = gru_inputs(rng, B, T, D, U, dtype, has_bias, ra)
    dev, cpu = run_gru_both(backend, a, "tanh", "sigmoid", gb, ra)
    assert len(dev) == 4
    out, hT = ref_gru(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], a["bias"],
                      go_backwards=gb, reset_after=ra)
    close(down(dev[0]), out, dtype, "outputs vs NumPy")
    close(down(dev[1]), hT, dtype, "h_T vs NumPy")
    for name, d, c in zip(["outputs", "h_T", "gates", "rh"], dev, cpu):
        close(down(d), c, dtype, name + " vs CPU")
    d_out, d_h = rnd(rng, (B, T, U), dtype), rnd(rng, (B, U), dtype)
    gd, gc = gru_backward_both(backend, a, dev, cpu, d_out, d_h, "tanh", "sigmoid", gb, ra,
                               True, has_bias)
    assert len(gd) == 5
    for name, d, c in zip(["dx", "dh0", "dkernel", "drecurrent", "dbias"], gd, gc):
        if c is None:
            assert d is None, name + " should be None"
        else:
            close(down(d), c, dtype, name + " vs CPU", rtol=5e-4, atol=5e-5)


@pytest.mark.parametrize("ra", [True, False])
def test_gru_backward_matches_central_differences(backend, ra):
    rng = np.random.default_rng(12)
    B, T, D, U = 2, 3, 2, 3
    for gb in (False, True):
        a = gru_inputs(rng, B, T, D, U, F64, True, ra)
        Co, Ch = rnd(rng, (B, T, U), F64), rnd(rng, (B, U), F64)
        arrays = [a[k] for k in GRU_ORDER]

        def loss(x, h0, W, R, b):
            o, h = ref_gru(x, h0, W, R, b, go_backwards=gb, reset_after=ra)
            return np.sum(o * Co) + np.sum(h * Ch)

        f = fn(backend, "gru_forward")(*[up(backend, v) for v in arrays], "tanh", "sigmoid", gb,
                                       ra, True)
        g = fn(backend, "gru_backward")(up(backend, Co), up(backend, Ch),
                                        *[up(backend, v) for v in arrays[:4]], f[0], f[2], f[3],
                                        "tanh", "sigmoid", gb, ra, True, True)
        got = dict(zip(["x", "h0", "kernel", "recurrent_kernel", "bias"], g))
        for i, k in enumerate(GRU_ORDER):
            np.testing.assert_allclose(down(got[k]), numgrad(loss, arrays, i), rtol=1e-6,
                                       atol=1e-8,
                                       err_msg=f"d{k} (go_backwards={gb}, reset_after={ra})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ra", [True, False])
@pytest.mark.parametrize("act,rec", [("relu", "hard_sigmoid"), ("linear", "sigmoid"),
                                     ("tanh", "hard_sigmoid"), ("tanh", "sigmoid")])
def test_gru_other_activations_and_large(backend, dtype, ra, act, rec):
    rng = np.random.default_rng(8)
    B, T, D, U = 37, 7, 29, 67   # sizes off every tile multiple; B*U spans many blocks
    a = gru_inputs(rng, B, T, D, U, dtype, True, ra, wscale=0.15)
    dev, cpu = run_gru_both(backend, a, act, rec, False, ra)
    out, hT = ref_gru(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], a["bias"], act, rec,
                      False, ra)
    loose = {} if dtype == F64 else dict(rtol=1e-3, atol=1e-4 * max(1.0, np.abs(out).max()))
    close(down(dev[0]), out, dtype, "outputs vs NumPy", **loose)
    for name, d, c in zip(["outputs", "h_T", "gates", "rh"], dev, cpu):
        close(down(d), c, dtype, name + " vs CPU", rtol=5e-4, atol=5e-5)
    d_out, d_h = rnd(rng, (B, T, U), dtype), rnd(rng, (B, U), dtype)
    gd, gc = gru_backward_both(backend, a, dev, cpu, d_out, d_h, act, rec, False, ra, True, True)
    for name, d, c in zip(["dx", "dh0", "dkernel", "drecurrent", "dbias"], gd, gc):
        close(down(d), c, dtype, name + " vs CPU", rtol=1e-3, atol=2e-4)


def test_gru_save_false(backend):
    rng = np.random.default_rng(4)
    a = gru_inputs(rng, 5, 7, 4, 33, F32, True, True)
    dev, cpu = run_gru_both(backend, a, "tanh", "sigmoid", True, True, save=False)
    assert dev[2] is None and dev[3] is None
    close(down(dev[0]), cpu[0], F32, "outputs vs CPU")
    close(down(dev[1]), cpu[1], F32, "h_T vs CPU")


# ====================================================================== SimpleRNN
SRNN_ORDER = ["x", "h0", "kernel", "recurrent_kernel", "bias"]


def srnn_inputs(rng, B, T, D, U, dtype, has_bias):
    return dict(x=rnd(rng, (B, T, D), dtype), h0=rnd(rng, (B, U), dtype, 0.5),
                kernel=rnd(rng, (D, U), dtype, 0.4), recurrent_kernel=rnd(rng, (U, U), dtype, 0.3),
                bias=rnd(rng, (U,), dtype, 0.3) if has_bias else None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize("U", [3, 33])
@pytest.mark.parametrize("gb", [False, True])
@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_simple_rnn_forward_backward(backend, dtype, B, T, U, gb, has_bias, act):
    rng = np.random.default_rng(B * 1000 + T * 100 + U + 7 * gb + 3 * has_bias)
    D = 4
    a = srnn_inputs(rng, B, T, D, U, dtype, has_bias)
    dev = fn(backend, "simple_rnn_forward")(*[up(backend, a[k]) for k in SRNN_ORDER],
                                            activation=act, go_backwards=gb)
    cpu = _C.simple_rnn_forward(*[a[k] for k in SRNN_ORDER], act, gb)
    assert len(dev) == 2
    out, hT = ref_srnn(*[a[k] for k in SRNN_ORDER], act, gb)
    for name, d, c, r in zip(["outputs", "h_T"], dev, cpu, [out, hT]):
        close(down(d), r, dtype, name + " vs NumPy")
        close(down(d), c, dtype, name + " vs CPU")
    d_out, d_h = rnd(rng, (B, T, U), dtype), rnd(rng, (B, U), dtype)
    gd = fn(backend, "simple_rnn_backward")(
        up(backend, d_out), up(backend, d_h), *[up(backend, a[k]) for k in SRNN_ORDER[:4]],
        dev[0], act, gb, True, has_bias)
    gc = _C.simple_rnn_backward(d_out, d_h, *[a[k] for k in SRNN_ORDER[:4]], cpu[0], act, gb,
                                True, has_bias)
    assert len(gd) == 5
    for name, d, c in zip(["dx", "dh0", "dkernel", "drecurrent", "dbias"], gd, gc):
        if c is None:
            assert d is None, name + " should be None"
        else:
            close(down(d), c, dtype, name + " vs CPU", rtol=5e-4, atol=5e-5)


def test_simple_rnn_backward_matches_central_differences(backend):
    rng = np.random.default_rng(13)
    B, T, D, U = 2, 4, 3, 3
    for gb in (False, True):
        a = srnn_inputs(rng, B, T, D, U, F64, True)
        Co, Ch = rnd(rng, (B, T, U), F64), rnd(rng, (B, U), F64)
        arrays = [a[k] for k in SRNN_ORDER]

        def loss(x, h0, W, R, b):
            o, h = ref_srnn(x, h0, W, R, b, "tanh", gb)
            return np.sum(o * Co) + np.sum(h * Ch)

        f = fn(backend, "simple_rnn_forward")(*[up(backend, v) for v in arrays], "tanh", gb)
        g = fn(backend, "simple_rnn_backward")(up(backend, Co), up(backend, Ch),
                                               *[up(backend, v) for v in arrays[:4]], f[0],
                                               "tanh", gb, True, True)
        got = dict(zip(["x", "h0", "kernel", "recurrent_kernel", "bias"], g))
        for i, k in enumerate(SRNN_ORDER):
            np.testing.assert_allclose(down(got[k]), numgrad(loss, arrays, i), rtol=1e-6,
                                       atol=1e-8, err_msg=f"d{k} (go_backwards={gb})")


def test_simple_rnn_need_dx_false(backend):
    rng = np.random.default_rng(2)
    a = srnn_inputs(rng, 5, 7, 4, 33, F64, True)
    f = fn(backend, "simple_rnn_forward")(*[up(backend, a[k]) for k in SRNN_ORDER])
    d_out, d_h = rnd(rng, (5, 7, 33), F64), rnd(rng, (5, 33), F64)
    g = fn(backend, "simple_rnn_backward")(up(backend, d_out), up(backend, d_h),
                                           *[up(backend, a[k]) for k in SRNN_ORDER[:4]], f[0],
                                           "tanh", False, False, False)
    assert g[0] is None and g[4] is None
    gc = _C.simple_rnn_backward(d_out, d_h, *[a[k] for k in SRNN_ORDER[:4]], down(f[0]), "tanh",
                                False, False, False)
    for name, d, c in zip(["dh0", "dkernel", "drecurrent"], g[1:4], gc[1:4]):
        close(down(d), c, F64, name + " vs CPU")


@pytest.mark.parametrize("kind", ["gru_ra", "gru", "simple_rnn"])
@pytest.mark.parametrize("B,U", [(3, 260), (37, 67)], ids=["wide", "many_tiles"])
@pytest.mark.parametrize("gb", [False, True])
def test_gru_and_simple_rnn_wide_and_many_tiles(backend, kind, B, U, gb):
    """U > 256 leaves the CUDA fused per-step kernels (the reset_after GRU's and SimpleRNN's:
    recurrent GEMM + cell in one launch) for the tiled GEMM plus a pointwise kernel; B=37,
    U=67 runs the fused ones over several 16 x 16 tiles each way, with partial edge tiles.
    Forward against NumPy, gradients against the CPU kernel (itself checked against NumPy in
    tests/test_rnn.py)."""
    rng = np.random.default_rng(U + B + gb)
    T, D = 4, 5
    d_out, d_h = rnd(rng, (B, T, U), F64), rnd(rng, (B, U), F64)
    if kind == "simple_rnn":
        a = srnn_inputs(rng, B, T, D, U, F64, True)
        a["recurrent_kernel"] *= 16.0 / U  # keep the tanh off saturation at every width
        dev = fn(backend, "simple_rnn_forward")(*[up(backend, a[k]) for k in SRNN_ORDER],
                                                "tanh", gb)
        refs = ref_srnn(*[a[k] for k in SRNN_ORDER], "tanh", gb)
        gd = fn(backend, "simple_rnn_backward")(
            up(backend, d_out), up(backend, d_h), *[up(backend, a[k]) for k in SRNN_ORDER[:4]],
            dev[0], "tanh", gb, True, True)
        gc = _C.simple_rnn_backward(d_out, d_h, *[a[k] for k in SRNN_ORDER[:4]], down(dev[0]),
                                    "tanh", gb, True, True)
    else:
        ra = kind == "gru_ra"
        a = gru_inputs(rng, B, T, D, U, F64, True, ra, wscale=min(0.4, 4.0 / U))
        dev, cpu = run_gru_both(backend, a, "tanh", "sigmoid", gb, ra)
        refs = ref_gru(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], a["bias"], "tanh",
                       "sigmoid", gb, ra)
        gd, gc = gru_backward_both(backend, a, dev, cpu, d_out, d_h, "tanh", "sigmoid", gb, ra,
                                   True, True)
    for name, d, r in zip(["outputs", "h_T"], dev[:2], refs):
        close(down(d), r, F64, name + " vs NumPy")
    for name, d, c in zip(["dx", "dh0", "dkernel", "drecurrent", "dbias"], gd, gc):
        close(down(d), c, F64, name + " vs CPU")


# ========================================================================== dense
def dense_act_np(name, z, alpha):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(z))
    if name == "leaky_relu":
        return np.where(z >= 0, z, alpha * z)
    if name == "swish":
        return z / (1 + np.exp(-z))
    if name == "softplus":
        return np.log1p(np.exp(z))
    if name == "hard_sigmoid":
        return np.clip(z + 3, 0, 6) / 6
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def ref_dense(x, w, b, act, alpha):
    z = np.asarray(x, F64) @ np.asarray(w, F64)
    if b is not None:
        z = z + np.asarray(b, F64)
    return dense_act_np(act, z, alpha)


DENSE_ACTS = [("linear", 0.0), ("relu", 0.0), ("tanh", 0.0), ("sigmoid", 0.0), ("elu", 1.0),
              ("leaky_relu", 0.2), ("swish", 0.0), ("softplus", 0.0), ("hard_sigmoid", 0.0),
              ("softmax", 0.0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (5, 3, 7), (67, 129, 33), (4, 0, 3),
                                   (257, 20, 131)])  # K = 0; several GEMM tiles each way
@pytest.mark.parametrize("act,alpha", DENSE_ACTS)
@pytest.mark.parametrize("has_bias", [True, False])
def test_dense_forward_backward(backend, dtype, M, K, N, act, alpha, has_bias):
    rng = np.random.default_rng(M + K + N)
    x, w = rnd(rng, (M, K), dtype), rnd(rng, (K, N), dtype, 1 / np.sqrt(max(K, 1)))
    b = rnd(rng, (N,), dtype, 0.5) if has_bias else None
    y, z = fn(backend, "dense_forward")(up(backend, x), up(backend, w), up(backend, b), act,
                                        alpha)
    yc, zc = _C.dense_forward(x, w, b, act, alpha)
    assert (z is None) == (zc is None) == (not _C.dense_keeps_z(act, alpha))
    close(down(y), ref_dense(x, w, b, act, alpha), dtype, "y vs NumPy")
    close(down(y), yc, dtype, "y vs CPU")
    if zc is not None:
        close(down(z), zc, dtype, "z vs CPU")
    g = rnd(rng, (M, N), dtype)
    gd = fn(backend, "dense_backward")(up(backend, g), up(backend, x), up(backend, w), y, z, act,
                                       alpha, True, has_bias)
    gc = _C.dense_backward(g, x, w, yc, zc, act, alpha, True, has_bias)
    assert len(gd) == 3
    for name, d, c in zip(["dx", "dw", "db"], gd, gc):
        if c is None:
            assert d is None, name + " should be None"
        else:
            close(down(d), c, dtype, name + " vs CPU", rtol=5e-4, atol=5e-5)


@pytest.mark.parametrize("act,alpha", [("linear", 0.0), ("tanh", 0.0), ("elu", 1.0),
                                       ("swish", 0.0), ("softmax", 0.0), ("sigmoid", 0.0)])
def test_dense_backward_matches_central_differences(backend, act, alpha):
    rng = np.random.default_rng(21)
    M, K, N = 3, 4, 5
    x, w, b = rnd(rng, (M, K), F64), rnd(rng, (K, N), F64, 0.5), rnd(rng, (N,), F64, 0.5)
    C = rnd(rng, (M, N), F64)
    y, z = fn(backend, "dense_forward")(up(backend, x), up(backend, w), up(backend, b), act,
                                        alpha)
    dx, dw, db = fn(backend, "dense_backward")(up(backend, C), up(backend, x), up(backend, w), y,
                                               z, act, alpha, True, True)

    def loss(x, w, b):
        return np.sum(ref_dense(x, w, b, act, alpha) * C)

    for i, (name, got) in enumerate(zip(["dx", "dw", "db"], [dx, dw, db])):
        np.testing.assert_allclose(down(got), numgrad(loss, [x, w, b], i), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_dense_backward_optional_outputs(backend):
    rng = np.random.default_rng(1)
    x, w = rnd(rng, (5, 3), F32), rnd(rng, (3, 7), F32)
    y, z = fn(backend, "dense_forward")(up(backend, x), up(backend, w), None, "relu")
    assert z is None
    dx, dw, db = fn(backend, "dense_backward")(up(backend, np.ones((5, 7), F32)), up(backend, x),
                                               up(backend, w), y, None, "relu", 0.0, False, False)
    assert dx is None and db is None
    close(down(dw), _C.dense_backward(np.ones((5, 7), F32), x, w, down(y), None, "relu", 0.0,
                                      False, False)[1], F32, "dw vs CPU")


def test_dense_keeps_z_is_the_cpu_function(backend):
    for act, alpha in DENSE_ACTS + [("gelu", 0.0), ("selu", 0.0), ("leaky_relu", -0.5)]:
        assert fn(backend, "dense_keeps_z")(act, alpha) == _C.dense_keeps_z(act, alpha), act


# ===================================================================== optimizers
def opt_tensors(rng, dtypes, shapes):
    return [rnd(rng, s, d) for s, d in zip(shapes, dtypes)]


SHAPES = [(3,), (5, 7), (10007,), (0,), (1,), (129, 33)]   # one over several 4096-blocks, one empty


def ref_adagrad(p, g, acc, lr, eps):
    acc = acc + g * g
    return p - lr * g / np.sqrt(acc + eps), acc


def ref_adadelta(p, g, ag, ad, lr, rho, eps):
    ag = rho * ag + (1 - rho) * g * g
    delta = -np.sqrt(ad + eps) / np.sqrt(ag + eps) * g
    ad = rho * ad + (1 - rho) * delta * delta
    return p + lr * delta, ag, ad


def ref_adamax(p, g, m, u, lr, b1, b2, eps, t):
    m = b1 * m + (1 - b1) * g
    u = np.maximum(b2 * u, np.abs(g))
    return p - lr * m / ((1 - b1 ** t) * (u + eps)), m, u


def ref_nadam(p, g, m, v, lr, b1, b2, eps, t, u_prod):
    u_t = b1 * (1 - 0.5 * 0.96 ** t)
    u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
    u_prod_t = u_prod * u_t
    u_prod_t1 = u_prod_t * u_t1
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = u_t1 * m / (1 - u_prod_t1) + (1 - u_t) * g / (1 - u_prod_t)
    v_hat = v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, u_prod_t


def opt_tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == F32 else dict(rtol=1e-12, atol=1e-13)


def check_states(backend, dev_lists, cpu_lists, ref_lists, dtypes, names):
    for name, dl, cl, rl in zip(names, dev_lists, cpu_lists, ref_lists):
        for k, (d, c, r, dt) in enumerate(zip(dl, cl, rl, dtypes)):
            got = d.numpy()
            assert got.dtype == dt and got.shape == c.shape
            np.testing.assert_allclose(got, r, err_msg=f"{name}[{k}] vs NumPy", **opt_tol(dt))
            np.testing.assert_allclose(got, c, err_msg=f"{name}[{k}] vs CPU", **opt_tol(dt))


MIXED = [F32, F64, F32, F64, F32, F64]


@pytest.mark.parametrize("dtypes", [[F32] * 6, [F64] * 6, MIXED], ids=["f32", "f64", "mixed"])
def test_adagrad_steps(backend, dtypes):
    rng = np.random.default_rng(31)
    p, acc = opt_tensors(rng, dtypes, SHAPES), [np.full(s, 0.1, d) for s, d in zip(SHAPES, dtypes)]
    dp, dacc = [up(backend, a) for a in p], [up(backend, a) for a in acc]
    cp, cacc = [a.copy() for a in p], [a.copy() for a in acc]
    rp, racc = [a.astype(F64) for a in p], [a.astype(F64) for a in acc]
    for step in range(4):
        g = opt_tensors(rng, dtypes, SHAPES)
        assert fn(backend, "adagrad_update")(dp, [up(backend, a) for a in g], dacc, 0.05,
                                             1e-7) is None
        _C.adagrad_update(cp, g, cacc, 0.05, 1e-7)
        for k in range(len(p)):
            rp[k], racc[k] = ref_adagrad(rp[k], g[k].astype(F64), racc[k], 0.05, 1e-7)
    check_states(backend, [dp, dacc], [cp, cacc], [rp, racc], dtypes, ["params", "accumulators"])


@pytest.mark.parametrize("dtypes", [[F32] * 6, [F64] * 6, MIXED], ids=["f32", "f64", "mixed"])
def test_adadelta_steps(backend, dtypes):
    rng = np.random.default_rng(32)
    p = opt_tensors(rng, dtypes, SHAPES)
    ag = [np.zeros(s, d) for s, d in zip(SHAPES, dtypes)]
    ad = [np.zeros(s, d) for s, d in zip(SHAPES, dtypes)]
    dp, dag, dad = ([up(backend, a) for a in L] for L in (p, ag, ad))
    cp, cag, cad = ([a.copy() for a in L] for L in (p, ag, ad))
    rp, rag, rad = ([a.astype(F64) for a in L] for L in (p, ag, ad))
    for step in range(4):
        g = opt_tensors(rng, dtypes, SHAPES)
        fn(backend, "adadelta_update")(dp, [up(backend, a) for a in g], dag, dad, 1.0, 0.95, 1e-6)
        _C.adadelta_update(cp, g, cag, cad, 1.0, 0.95, 1e-6)
        for k in range(len(p)):
            rp[k], rag[k], rad[k] = ref_adadelta(rp[k], g[k].astype(F64), rag[k], rad[k], 1.0,
                                                 0.95, 1e-6)
    check_states(backend, [dp, dag, dad], [cp, cag, cad], [rp, rag, rad], dtypes,
                 ["params", "acc_grads", "acc_deltas"])


@pytest.mark.parametrize("dtypes", [[F32] * 6, [F64] * 6, MIXED], ids=["f32", "f64", "mixed"])
def test_adamax_steps(backend, dtypes):
    rng = np.random.default_rng(33)
    p = opt_tensors(rng, dtypes, SHAPES)
    m = [np.zeros(s, d) for s, d in zip(SHAPES, dtypes)]
    u = [np.zeros(s, d) for s, d in zip(SHAPES, dtypes)]
    dp, dm, du = ([up(backend, a) for a in L] for L in (p, m, u))
    cp, cm, cu = ([a.copy() for a in L] for L in (p, m, u))
    rp, rm, ru = ([a.astype(F64) for a in L] for L in (p, m, u))
    for t in range(1, 5):
        g = opt_tensors(rng, dtypes, SHAPES)
        fn(backend, "adamax_update")(dp, [up(backend, a) for a in g], dm, du, 0.01, 0.9, 0.999,
                                     1e-7, t)
        _C.adamax_update(cp, g, cm, cu, 0.01, 0.9, 0.999, 1e-7, t)
        for k in range(len(p)):
            rp[k], rm[k], ru[k] = ref_adamax(rp[k], g[k].astype(F64), rm[k], ru[k], 0.01, 0.9,
                                             0.999, 1e-7, t)
    check_states(backend, [dp, dm, du], [cp, cm, cu], [rp, rm, ru], dtypes, ["params", "ms", "us"])


@pytest.mark.parametrize("dtypes", [[F32] * 6, [F64] * 6, MIXED], ids=["f32", "f64", "mixed"])
def test_nadam_steps(backend, dtypes):
    rng = np.random.default_rng(34)
    p = opt_tensors(rng, dtypes, SHAPES)
    m = [np.zeros(s, d) for s, d in zip(SHAPES, dtypes)]
    v = [np.zeros(s, d) for s, d in zip(SHAPES, dtypes)]
    dp, dm, dv = ([up(backend, a) for a in L] for L in (p, m, v))
    cp, cm, cv = ([a.copy() for a in L] for L in (p, m, v))
    rp, rm, rv = ([a.astype(F64) for a in L] for L in (p, m, v))
    ud = uc = ur = 1.0
    for t in range(1, 5):
        g = opt_tensors(rng, dtypes, SHAPES)
        ud = fn(backend, "nadam_update")(dp, [up(backend, a) for a in g], dm, dv, 0.002, 0.9,
                                         0.999, 1e-7, t, ud)
        uc = _C.nadam_update(cp, g, cm, cv, 0.002, 0.9, 0.999, 1e-7, t, uc)
        new_ur = ur
        for k in range(len(p)):
            rp[k], rm[k], rv[k], new_ur = ref_nadam(rp[k], g[k].astype(F64), rm[k], rv[k], 0.002,
                                                    0.9, 0.999, 1e-7, t, ur)
        ur = new_ur
        assert isinstance(ud, float)
        assert ud == pytest.approx(uc, rel=1e-15) and ud == pytest.approx(ur, rel=1e-12)
    check_states(backend, [dp, dm, dv], [cp, cm, cv], [rp, rm, rv], dtypes, ["params", "ms", "vs"])


def test_optimizers_many_tensors_several_launches(backend):
    """More tensors than one launch takes (kMaxTensorsPerLaunch = 48)."""
    rng = np.random.default_rng(35)
    n = 61
    shapes = [(int(k % 7) + 1, int(k % 5) * 300 + 1) for k in range(n)]
    dtypes = [F32] * n
    p = opt_tensors(rng, dtypes, shapes)
    acc = [np.full(s, 0.1, F32) for s in shapes]
    dp, dacc = [up(backend, a) for a in p], [up(backend, a) for a in acc]
    g = opt_tensors(rng, dtypes, shapes)
    fn(backend, "adagrad_update")(dp, [up(backend, a) for a in g], dacc, 0.1, 1e-7)
    for k in range(n):
        rp, racc = ref_adagrad(p[k].astype(F64), g[k].astype(F64), acc[k].astype(F64), 0.1, 1e-7)
        np.testing.assert_allclose(dp[k].numpy(), rp, err_msg=f"params[{k}]", **opt_tol(F32))
        np.testing.assert_allclose(dacc[k].numpy(), racc, err_msg=f"accumulators[{k}]",
                                   **opt_tol(F32))


# ===================================================================== bad inputs
def test_rnn_bad_inputs(backend):
    rng = np.random.default_rng(0)
    a = lstm_inputs(rng, 2, 3, 4, 5, F32, True)
    d = {k: up(backend, v) for k, v in a.items()}
    f = fn(backend, "lstm_forward")
    args = lambda **kw: [kw.get(k, d[k]) for k in  # noqa: E731
                         ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]]
    with pytest.raises(ValueError, match=r"^\[lstm\].*kernel"):
        f(*args(kernel=up(backend, np.zeros((3, 20), F32))))
    with pytest.raises(ValueError, match=r"^\[lstm\].*recurrent_kernel"):
        f(*args(recurrent_kernel=up(backend, np.zeros((5, 19), F32))))
    with pytest.raises(TypeError, match=r"^\[lstm\].*dtypes differ"):
        f(*args(kernel=up(backend, a["kernel"].astype(F64))))
    with pytest.raises(ValueError, match=r"^\[lstm\] initial h"):
        f(*args(h0=up(backend, np.zeros((2, 4), F32))))
    with pytest.raises(ValueError, match=r"^\[lstm\] bias"):
        f(*args(bias=up(backend, np.zeros((19,), F32))))
    with pytest.raises(ValueError, match=r"^\[lstm\] unknown activation"):
        f(*args(), activation="softmax")
    with pytest.raises(ValueError, match=r"^\[lstm\] unknown recurrent_activation"):
        f(*args(), recurrent_activation="gelu")
    with pytest.raises(ValueError, match=r"^\[lstm\] x must have at least one timestep"):
        f(*args(x=up(backend, np.zeros((2, 0, 4), F32))))
    with pytest.raises(ValueError, match=r"^\[lstm\] x must be 3-D"):
        f(*args(x=up(backend, np.zeros((2, 4), F32))))
    with pytest.raises(TypeError, match=r"^\[lstm\] x must be float32 or float64"):
        f(*args(x=up(backend, np.zeros((2, 3, 4), np.int32))))
    fw = f(*args())
    with pytest.raises(TypeError, match=r"^\[lstm\] gates must be a"):
        fn(backend, "lstm_backward")(fw[0], d["h0"], d["c0"], d["x"], d["h0"], d["c0"],
                                     d["kernel"], d["recurrent_kernel"], fw[0], None, fw[4],
                                     fw[5], "tanh", "sigmoid", False, True, True)
    with pytest.raises(ValueError, match=r"^\[lstm\] d_outputs must have shape"):
        fn(backend, "lstm_backward")(d["h0"], d["h0"], d["c0"], d["x"], d["h0"], d["c0"],
                                     d["kernel"], d["recurrent_kernel"], fw[0], fw[3], fw[4],
                                     fw[5], "tanh", "sigmoid", False, True, True)
    g = gru_inputs(rng, 2, 3, 4, 5, F32, True, True)
    gd = {k: up(backend, v) for k, v in g.items()}
    with pytest.raises(ValueError, match=r"^\[gru\] bias"):   # (2, 3U) given, (3U,) expected
        fn(backend, "gru_forward")(*[gd[k] for k in GRU_ORDER], reset_after=False)
    with pytest.raises(ValueError, match=r"^\[gru\].*recurrent_kernel"):
        fn(backend, "gru_forward")(gd["x"], gd["h0"], gd["kernel"], d["recurrent_kernel"], None)
    s = srnn_inputs(rng, 2, 3, 4, 5, F32, True)
    sd = {k: up(backend, v) for k, v in s.items()}
    with pytest.raises(ValueError, match=r"^\[simple_rnn\] x must be 3-D"):
        fn(backend, "simple_rnn_forward")(up(backend, np.zeros((2, 4), F32)), sd["h0"],
                                          sd["kernel"], sd["recurrent_kernel"], None)
    with pytest.raises(ValueError, match=r"^\[simple_rnn\] unknown activation"):
        fn(backend, "simple_rnn_forward")(*[sd[k] for k in SRNN_ORDER], activation="elu")


def test_dense_bad_inputs(backend):
    f = fn(backend, "dense_forward")
    x, w = up(backend, np.zeros((5, 3), F32)), up(backend, np.zeros((3, 7), F32))
    with pytest.raises(ValueError, match=r"^\[dense\] input \(5, 3\) does not match kernel"):
        f(x, up(backend, np.zeros((4, 7), F32)), None, "relu")
    with pytest.raises(ValueError, match=r"^\[dense\] unknown activation 'nope'"):
        f(x, w, None, "nope")
    with pytest.raises(TypeError, match=r"^\[dense\] input and kernel dtypes differ"):
        f(x, up(backend, np.zeros((3, 7), F64)), None, "relu")
    with pytest.raises(ValueError, match=r"^\[dense\] bias"):
        f(x, w, up(backend, np.zeros((6,), F32)), "relu")
    with pytest.raises(ValueError, match=r"^\[dense\] activation 'elu' needs z"):
        fn(backend, "dense_backward")(up(backend, np.zeros((5, 7), F32)), x, w, None, None, "elu",
                                      1.0, True, True)
    with pytest.raises(ValueError, match=r"^\[dense\] grad_y"):
        fn(backend, "dense_backward")(up(backend, np.zeros((5, 6), F32)), x, w, None, None,
                                      "linear", 0.0, True, True)


def test_optimizer_bad_inputs(backend):
    p = [up(backend, np.zeros((3,), F32)), up(backend, np.zeros((4,), F32))]
    g1 = [up(backend, np.zeros((3,), F32))]
    with pytest.raises(ValueError, match=r"^\[adagrad\] list lengths differ"):
        fn(backend, "adagrad_update")(p, g1, p, 0.1, 1e-7)
    bad = [up(backend, np.zeros((3,), F32)), up(backend, np.zeros((5,), F32))]
    with pytest.raises(ValueError, match=r"^\[nadam\].*shapes differ"):
        fn(backend, "nadam_update")(p, bad, [up(backend, np.zeros((3,), F32)),
                                             up(backend, np.zeros((4,), F32))], p, 0.1, 0.9,
                                    0.999, 1e-7, 1, 1.0)
    with pytest.raises(ValueError, match=r"^\[adamax\] step t must be >= 1"):
        fn(backend, "adamax_update")(p, p, p, p, 0.1, 0.9, 0.999, 1e-7, 0)
    with pytest.raises(TypeError, match=r"^\[adadelta\] acc_grads must be a list"):
        fn(backend, "adadelta_update")(p, p, None, p, 1.0, 0.95, 1e-6)


# ============================================================ contract (no GPU needed)
def test_entries_registered_and_callable():
    entries = list(cb.KERNEL_ENTRIES)
    for name in ALL_ENTRIES:
        assert name in entries, name
        assert callable(getattr(cb, name)), name
    assert "dense_keeps_z" not in entries     # launches nothing: a plain function in every build
    for act, alpha in DENSE_ACTS + [("gelu", 0.0), ("leaky_relu", -0.5)]:
        assert cb.dense_keeps_z(act, alpha) == _C.dense_keeps_z(act, alpha), act
    assert cb.dense_keeps_z("elu") is True and cb.dense_keeps_z("relu") is False


@pytest.mark.skipif(bool(cb.built_with_cuda), reason="nabi built with CUDA")
@pytest.mark.parametrize("name", ALL_ENTRIES)
def test_entries_raise_without_cuda(name):
    with pytest.raises(RuntimeError, match=r"^\[" + name + r"\] has no CUDA implementation.*"
                       r"built without CUDA"):
        getattr(cb, name)(None, None)


def _signature(f):
    """[(name, default or None)] from a pybind11 docstring's first line."""
    line = f.__doc__.strip().splitlines()[0]
    inner = line[line.index("(") + 1:line.rindex(")")]
    out = []
    for part in filter(None, (p.strip() for p in inner.split(", "))):
        m = re.match(r"(\w+)(?::[^=]*)?(?:=\s*(.*))?$", part)
        out.append((m.group(1), m.group(2).strip() if m.group(2) else None))
    return out


@pytest.mark.skipif(not cb.built_with_cuda, reason="nabi built without CUDA")
@pytest.mark.parametrize("name", ALL_ENTRIES + ["dense_keeps_z"])
def test_signatures_equal_the_cpu_ones(name):
    assert _signature(getattr(cb, name)) == _signature(getattr(_C, name))


@pytest.mark.skipif(not cb.built_with_cuda or cb.is_available(),
                    reason="needs a CUDA build on a machine without a GPU")
def test_bad_arguments_rejected_before_any_allocation():
    """Validation runs before any device work, so it is visible even without a GPU."""
    with pytest.raises(TypeError, match=r"^\[lstm\] x must be a DeviceBuffer, got None"):
        cb.lstm_forward(None, None, None, None, None, None)
    with pytest.raises(ValueError, match=r"^\[lstm\] unknown activation 'bogus'"):
        cb.lstm_forward(None, None, None, None, None, None, activation="bogus")
    with pytest.raises(ValueError, match=r"^\[dense\] unknown activation 'bogus'"):
        cb.dense_forward(None, None, None, "bogus")
    with pytest.raises(ValueError, match=r"^\[adagrad\] list lengths differ"):
        cb.adagrad_update([], [None], [], 0.1, 1e-7)
