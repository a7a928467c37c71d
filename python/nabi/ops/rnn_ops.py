"""Fused recurrent ops over a whole sequence: `lstm`, `gru`, `simple_rnn`.

Forward and backpropagation through time run in C++ (csrc/cpu/lstm.cpp, gru.cpp,
simple_rnn.cpp): the input projection of every timestep is one GEMM, each step one GEMM
for the recurrent part plus one pointwise pass, and the weight gradients are accumulated
with big GEMMs over all timesteps. Each op records ONE tape node (multi-output) for the whole
sequence, with gradients for x, the initial states and every weight.

Keras layout: x (batch, time, features); kernel (features, G*units), recurrent_kernel
(units, G*units); LSTM gates i, f, c, o; GRU gates z, r, h, bias (2, 3*units) when
reset_after (input and recurrent bias rows) else (3*units,). Outputs are returned in
processed order (reversed time when go_backwards), as Keras does.
"""
import numpy as np

from ..framework.device import asarray as _asarray

from .. import _C
from ..framework.device import kernels
from ._common import Tensor, _tapes, _wrap, contiguous, convert_to_tensor, record

__all__ = ["lstm", "gru", "simple_rnn", "activation_name"]

_ACTS = {"tanh", "sigmoid", "relu", "linear", "hard_sigmoid"}


def activation_name(op, act, what="activation"):
    """Maps a Keras activation (name, callable or None) to a kernel activation name."""
    if act is None:
        return "linear"
    if callable(act):
        name = getattr(act, "__name__", None) or getattr(act, "name", None)
    else:
        name = str(act)
    if name in ("hard_silu",):
        name = None
    if name == "hardsigmoid":
        name = "hard_sigmoid"
    if name not in _ACTS:
        raise ValueError(f"[{op}] unsupported {what} {act!r}: the fused kernel supports "
                         f"{sorted(_ACTS)}")
    return name


def _as_float_tensor(op, v, name, dtype=None):
    if v is None:
        return None
    t = v if isinstance(v, Tensor) else convert_to_tensor(v, dtype_hint=dtype)
    a = t._data
    if a.dtype.kind != "f" or a.dtype == np.float16:
        if dtype is not None and a.dtype.kind in "iub":
            t = convert_to_tensor(a.astype(dtype))
        else:
            raise TypeError(f"[{op}] {name} must be float32 or float64, got {a.dtype.name}")
    if dtype is not None and t._data.dtype != dtype:
        raise TypeError(f"[{op}] {name} has dtype {t._data.dtype.name} but x is {np.dtype(dtype).name}")
    return t


def _prepare(op, x, states, kernel, recurrent_kernel, bias):
    x = _as_float_tensor(op, x, "x")
    xd = x._data
    if xd.ndim != 3:
        raise ValueError(f"[{op}] x must be 3-D (batch, time, features), got shape {tuple(xd.shape)}")
    dt = xd.dtype
    kernel = _as_float_tensor(op, kernel, "kernel", dt)
    recurrent_kernel = _as_float_tensor(op, recurrent_kernel, "recurrent_kernel", dt)
    bias = _as_float_tensor(op, bias, "bias", dt)
    units = recurrent_kernel._data.shape[0] if recurrent_kernel._data.ndim == 2 else None
    if units is None:
        raise ValueError(f"[{op}] recurrent_kernel must be 2-D, got shape "
                         f"{tuple(recurrent_kernel._data.shape)}")
    out_states = []
    for name, s in states:
        if s is None:
            out_states.append(_wrap(np.zeros_like(xd, shape=(xd.shape[0], units))))
        else:
            s = _as_float_tensor(op, s, name, dt)
            if s._data.shape != (xd.shape[0], units):
                raise ValueError(f"[{op}] {name} must have shape ({xd.shape[0]}, {units}) for x of "
                                 f"shape {tuple(xd.shape)}, got {tuple(s._data.shape)}")
            out_states.append(s)
    return x, out_states, kernel, recurrent_kernel, bias


def _arr(t):
    return contiguous(t._data)


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, go_backwards=False, activation="tanh",
         recurrent_activation="sigmoid"):
    """Fused LSTM: returns (outputs (B, T, U), h_T (B, U), c_T (B, U))."""
    act = activation_name("lstm", activation)
    rec = activation_name("lstm", recurrent_activation, "recurrent_activation")
    x, (h0, c0), kernel, recurrent_kernel, bias = _prepare(
        "lstm", x, [("h0", h0), ("c0", c0)], kernel, recurrent_kernel, bias)
    xa, h0a, c0a, Wa, Ra = _arr(x), _arr(h0), _arr(c0), _arr(kernel), _arr(recurrent_kernel)
    ba = None if bias is None else _arr(bias)
    save = bool(_tapes)
    out, hT, cT, gates, cells, cact = kernels(xa).lstm_forward(xa, h0a, c0a, Wa, Ra, ba, act, rec,
                                                      bool(go_backwards), save)
    outs = [_wrap(out), _wrap(hT), _wrap(cT)]
    if save:
        inputs = [x, h0, c0, kernel, recurrent_kernel] + ([bias] if bias is not None else [])

        def backward(grads, needs):
            g_out, g_h, g_c = (contiguous(_asarray(g, xa.dtype)) for g in grads)
            dx, dh0, dc0, dW, dR, db = kernels(xa).lstm_backward(
                g_out, g_h, g_c, xa, h0a, c0a, Wa, Ra, out, gates, cells, cact, act, rec,
                bool(go_backwards), bool(needs[0]), bias is not None)
            res = [dx, dh0, dc0, dW, dR]
            if bias is not None:
                res.append(db)
            return res
        record(inputs, outs, backward)
    return tuple(outs)


def gru(x, h0, kernel, recurrent_kernel, bias=None, go_backwards=False, activation="tanh",
        recurrent_activation="sigmoid", reset_after=True):
    """Fused GRU: returns (outputs (B, T, U), h_T (B, U))."""
    act = activation_name("gru", activation)
    rec = activation_name("gru", recurrent_activation, "recurrent_activation")
    x, (h0,), kernel, recurrent_kernel, bias = _prepare(
        "gru", x, [("h0", h0)], kernel, recurrent_kernel, bias)
    xa, h0a, Wa, Ra = _arr(x), _arr(h0), _arr(kernel), _arr(recurrent_kernel)
    ba = None if bias is None else _arr(bias)
    save = bool(_tapes)
    out, hT, gates, rh = kernels(xa).gru_forward(xa, h0a, Wa, Ra, ba, act, rec, bool(go_backwards),
                                        bool(reset_after), save)
    outs = [_wrap(out), _wrap(hT)]
    if save:
        inputs = [x, h0, kernel, recurrent_kernel] + ([bias] if bias is not None else [])

        def backward(grads, needs):
            g_out, g_h = (contiguous(_asarray(g, xa.dtype)) for g in grads)
            dx, dh0, dW, dR, db = kernels(xa).gru_backward(
                g_out, g_h, xa, h0a, Wa, Ra, out, gates, rh, act, rec, bool(go_backwards),
                bool(reset_after), bool(needs[0]), bias is not None)
            res = [dx, dh0, dW, dR]
            if bias is not None:
                res.append(db)
            return res
        record(inputs, outs, backward)
    return tuple(outs)


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, go_backwards=False,
               activation="tanh"):
    """Fused SimpleRNN: returns (outputs (B, T, U), h_T (B, U))."""
    act = activation_name("simple_rnn", activation)
    x, (h0,), kernel, recurrent_kernel, bias = _prepare(
        "simple_rnn", x, [("h0", h0)], kernel, recurrent_kernel, bias)
    xa, h0a, Wa, Ra = _arr(x), _arr(h0), _arr(kernel), _arr(recurrent_kernel)
    ba = None if bias is None else _arr(bias)
    out, hT = kernels(xa).simple_rnn_forward(xa, h0a, Wa, Ra, ba, act, bool(go_backwards))
    outs = [_wrap(out), _wrap(hT)]
    if _tapes:
        inputs = [x, h0, kernel, recurrent_kernel] + ([bias] if bias is not None else [])

        def backward(grads, needs):
            g_out, g_h = (contiguous(_asarray(g, xa.dtype)) for g in grads)
            dx, dh0, dW, dR, db = kernels(xa).simple_rnn_backward(
                g_out, g_h, xa, h0a, Wa, Ra, out, act, bool(go_backwards), bool(needs[0]),
                bias is not None)
            res = [dx, dh0, dW, dR]
            if bias is not None:
                res.append(db)
            return res
        record(inputs, outs, backward)
    return tuple(outs)
