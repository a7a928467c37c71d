"""The float32 SIMD paths of the fused recurrent kernels (csrc/cpu/rnn_common.cpp,
rnn_kernels_avx512.cpp) on every ISA this CPU runs (portable / avx2 / avx512, forced through
the GEMM dispatcher, which caps rnn::simd_level), against the independent NumPy references
of reference_rnn.py: the packed step GEMM (row tails, partial 16-column panels, panel groups
of 1..4), the fused AVX-512 LSTM cell forward and backward (U not a multiple of 16), batch 1,
every output step (return_sequences), go_backwards, no bias; GRU and SimpleRNN share the step
GEMM and activations, and have fused AVX-512 cell rows of their own (rnn_cells_avx512.cpp: the
reset_after GRU, SimpleRNN's tanh BPTT) and the dynamic batch chunks / kept work buffer of
rnn_batch.h."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import reference_rnn as ref  # noqa: E402

import nabi  # noqa: E402
from nabi import _C  # noqa: E402
from nabi.ops import rnn_ops  # noqa: E402
from helpers import cpu_isas, isa  # noqa: E402,F401  (isa: the per-ISA fixture)

pytestmark = pytest.mark.skipif(not hasattr(_C, "_gemm_force_isa"), reason="CPU build only")

ISAS = cpu_isas()
NGATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def _params(kind, B, T, D, U, bias, reset_after, seed):
    rng = np.random.default_rng(seed)
    G = NGATES[kind]
    p = dict(x=rng.normal(size=(B, T, D)), h0=rng.normal(size=(B, U)) * 0.5,
             kernel=rng.normal(size=(D, G * U)) * 0.4,
             recurrent_kernel=rng.normal(size=(U, G * U)) * 0.4 / np.sqrt(max(1, U // 8)))
    if kind == "lstm":
        p["c0"] = rng.normal(size=(B, U)) * 0.5
    if bias:
        shape = (2, 3 * U) if kind == "gru" and reset_after else (G * U,)
        p["bias"] = rng.normal(size=shape) * 0.3
    return {k: v.astype(np.float32) for k, v in p.items()}


def _ref(kind, p, gouts, gb, reset_after):
    P = {k: v.astype(np.float64) for k, v in p.items()}
    b = P.get("bias")
    if b is None:  # the references take an explicit zero bias
        U = P["recurrent_kernel"].shape[0]
        b = np.zeros((NGATES[kind] * U,))
    if kind == "lstm":
        o, h, c, cache = ref.lstm_forward(P["x"], P["h0"], P["c0"], P["kernel"],
                                          P["recurrent_kernel"], b, gb, "tanh", "sigmoid")
        g = ref.lstm_backward(P["x"], P["kernel"], P["recurrent_kernel"], cache, *gouts,
                              activation="tanh", recurrent_activation="sigmoid")
        return (o, h, c), g
    if kind == "gru":
        o, h, cache = ref.gru_forward(P["x"], P["h0"], P["kernel"], P["recurrent_kernel"], b, gb,
                                      "tanh", "sigmoid", reset_after)
        g = ref.gru_backward(P["x"], P["kernel"], P["recurrent_kernel"], cache, *gouts,
                             activation="tanh", recurrent_activation="sigmoid",
                             reset_after=reset_after)
        return (o, h), g
    o, h, cache = ref.simple_rnn_forward(P["x"], P["h0"], P["kernel"], P["recurrent_kernel"], b,
                                         gb, "tanh")
    return (o, h), ref.simple_rnn_backward(P["x"], P["kernel"], P["recurrent_kernel"], cache,
                                           *gouts, activation="tanh")


def _check(kind, B, T, D, U, gb=False, bias=True, reset_after=True, seed=0):
    p = _params(kind, B, T, D, U, bias, reset_after, seed)
    names = ["x", "h0"] + (["c0"] if kind == "lstm" else []) + ["kernel", "recurrent_kernel"] + \
        (["bias"] if bias else [])
    vs = {n: nabi.Variable(p[n]) for n in names}
    args = [vs[n] for n in names if n != "bias"] + [vs.get("bias")]
    rng = np.random.default_rng(seed + 1)
    nout = 3 if kind == "lstm" else 2
    gouts = [rng.normal(size=(B, T, U))] + [rng.normal(size=(B, U)) for _ in range(nout - 1)]
    with nabi.GradientTape() as tape:
        if kind == "lstm":
            outs = rnn_ops.lstm(*args, go_backwards=gb)
        elif kind == "gru":
            outs = rnn_ops.gru(*args, go_backwards=gb, reset_after=reset_after)
        else:
            outs = rnn_ops.simple_rnn(*args, go_backwards=gb)
        loss = None
        for o, g in zip(outs, gouts):
            term = nabi.reduce_sum(o * g.astype(np.float32))
            loss = term if loss is None else loss + term
    grads = tape.gradient(loss, [vs[n] for n in names])
    outs_ref, gref = _ref(kind, p, gouts, gb, reset_after)
    for o, r, what in zip(outs, outs_ref, ("outputs", "h_T", "c_T")):
        assert o.numpy().dtype == np.float32
        np.testing.assert_allclose(o.numpy(), r, rtol=1e-4, atol=3e-5, err_msg=f"{kind} {what}")
    for n, g in zip(names, grads):
        r = gref[n]
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-3,
                                   atol=2e-4 * max(1.0, float(np.abs(r).max())),
                                   err_msg=f"{kind} d{n}")


# B: 1 (no packing), 5 (one partial row block), 13 and 50 (threaded blocks with row tails);
# U: 5 and 20 (partial 16-lane tails, 4U = 20 / 80 columns), 16, 37 (4U = 148: panel groups
# of 4, 4 and 2, the last panel 4 columns wide).
@pytest.mark.parametrize("B,U", [(1, 5), (1, 20), (5, 16), (5, 37), (13, 20), (50, 37), (50, 64)])
@pytest.mark.parametrize("gb", [False, True])
def test_lstm_vs_numpy(isa, B, U, gb):
    _check("lstm", B, 4, 3, U, gb=gb)


@pytest.mark.parametrize("B,U", [(1, 7), (7, 20), (13, 37)])
def test_lstm_no_bias(isa, B, U):
    _check("lstm", B, 3, 5, U, bias=False)


def test_lstm_large_gates_saturate(isa):
    """Pre-activations far outside the polynomial ranges (|x| >> 10): sigmoid / tanh clamp."""
    p = _params("lstm", 6, 3, 4, 20, True, True, 3)
    x = p["x"] * 40.0
    o, h, c = rnn_ops.lstm(x, p["h0"], p["c0"], p["kernel"], p["recurrent_kernel"], p["bias"])
    P = {k: v.astype(np.float64) for k, v in p.items()}
    ro, rh, rc, _ = ref.lstm_forward(x.astype(np.float64), P["h0"], P["c0"], P["kernel"],
                                     P["recurrent_kernel"], P["bias"], False, "tanh", "sigmoid")
    assert np.isfinite(o.numpy()).all()
    np.testing.assert_allclose(o.numpy(), ro, rtol=1e-4, atol=3e-5)
    np.testing.assert_allclose(c.numpy(), rc, rtol=1e-4, atol=3e-5)


@pytest.mark.parametrize("B,U,ra", [(1, 5, True), (7, 20, False), (13, 37, True), (50, 24, False)])
def test_gru_vs_numpy(isa, B, U, ra):
    _check("gru", B, 4, 3, U, reset_after=ra)


@pytest.mark.parametrize("B,U", [(1, 5), (7, 37), (50, 20)])
def test_simple_rnn_vs_numpy(isa, B, U):
    _check("simple_rnn", B, 4, 3, U, gb=True)


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
def test_nan_propagates(isa, kind):
    """A NaN input reaches that sample's later outputs (the activations do not clamp it
    away) and no other sample's."""
    p = _params(kind, 7, 4, 3, 20, True, True, 5)
    p["x"][2, 1, 0] = np.nan
    args = [p["x"], p["h0"]] + ([p["c0"]] if kind == "lstm" else []) + \
        [p["kernel"], p["recurrent_kernel"], p["bias"]]
    out = getattr(rnn_ops, kind)(*args)[0].numpy()
    assert np.isfinite(out[2, 0]).all() and np.isnan(out[2, 1:]).all()
    assert np.isfinite(np.delete(out, 2, axis=0)).all()


def test_lstm_threaded_chunks_repeatable(isa):
    """Batch chunks are handed to the threads dynamically (a thread may get none, or several):
    the weight gradients of repeated runs all match the reference."""
    for B in (5, 9, 33):
        p = _params("lstm", B, 5, 3, 20, True, True, B)
        gouts = [np.ones((B, 5, 20)), np.zeros((B, 20)), np.zeros((B, 20))]
        _, gref = _ref("lstm", p, gouts, False, True)
        vs = [nabi.Variable(p[n]) for n in ("kernel", "recurrent_kernel", "bias")]
        for _ in range(8):
            with nabi.GradientTape() as tape:
                o, _, _ = rnn_ops.lstm(p["x"], p["h0"], p["c0"], *vs)
                loss = nabi.reduce_sum(o)
            for g, n in zip(tape.gradient(loss, vs), ("kernel", "recurrent_kernel", "bias")):
                np.testing.assert_allclose(g.numpy(), gref[n], rtol=1e-3,
                                           atol=2e-4 * max(1.0, float(np.abs(gref[n]).max())),
                                           err_msg=f"B={B} d{n}")


@pytest.mark.parametrize("kind,ra", [("gru", True), ("gru", False), ("simple_rnn", True)])
@pytest.mark.parametrize("gb", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_simple_rnn_batch_chunks(isa, kind, ra, gb, bias):
    """GRU (reset_after both ways) and SimpleRNN on the dynamic batch chunks (rnn_batch.h) and
    the kept work buffer: batch 1 (one short chunk: SimpleRNN writes the outputs directly),
    a long batch-2 sequence (one chunk through the per-thread parts), 5 / 9 / 33 rows (one or
    several chunks per thread), each run twice (the reused buffer is never assumed zero),
    forward and every gradient against the NumPy references."""
    for B, T in ((1, 5), (2, 130), (5, 5), (9, 4), (33, 3)):
        for rep in range(2):
            _check(kind, B, T, 3, 37 if B == 9 else 20, gb=gb, bias=bias, reset_after=ra,
                   seed=B + rep)
