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

Second order: the node's raw backward is the fused BPTT kernel. Its Tensor rule (used only
when a gradient must itself be differentiable: a gradient penalty on an RNN, a Hessian)
recomputes the recurrence step by step with nabi ops (matmul, the activations, slices)
under an inner GradientTape and returns that tape's vector-Jacobian product; the outer tapes
record it, so it is differentiable again (with respect to every input and the upstream
gradients). The first-order path never runs it.
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
        record(inputs, outs, backward,
               _recomputed_vjp(inputs, lambda x, h0, c0, W, R, b=None: _lstm_steps(
                   x, h0, c0, W, R, b, go_backwards, act, rec)), "lstm")
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
        record(inputs, outs, backward,
               _recomputed_vjp(inputs, lambda x, h0, W, R, b=None: _gru_steps(
                   x, h0, W, R, b, go_backwards, act, rec, reset_after)), "gru")
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
        record(inputs, outs, backward,
               _recomputed_vjp(inputs, lambda x, h0, W, R, b=None: _simple_rnn_steps(
                   x, h0, W, R, b, go_backwards, act)), "simple_rnn")
    return tuple(outs)


# ----------------------------------------------------------------------------- second order
# The recurrences again, written with differentiable nabi ops (the Tensor rules recompute
# them; the kernels above stay the forward and first-order path).


def _act_t(name):
    from . import nn_ops
    return {"tanh": nn_ops.tanh, "sigmoid": nn_ops.sigmoid, "relu": nn_ops.relu,
            "hard_sigmoid": nn_ops.hard_sigmoid, "linear": lambda v: v}[name]


def _input_projection(x, W):
    """x (B, T, D) @ W (D, N) as one GEMM: (B, T, N)."""
    from .array_ops import reshape
    from .math_ops import matmul
    B, T, D = x._data.shape
    return reshape(matmul(reshape(x, (B * T, D)), W), (B, T, W._data.shape[1]))


def _order(T, go_backwards):
    return range(T - 1, -1, -1) if go_backwards else range(T)


def _cols(z, U, k):
    """The k-th block of U columns of z (B, G*U)."""
    return z[:, k * U:(k + 1) * U]


def _lstm_steps(x, h0, c0, W, R, b, go_backwards, act, rec):
    from .array_ops import stack
    from .math_ops import add, matmul, multiply
    f_act, f_rec = _act_t(act), _act_t(rec)
    U = R._data.shape[0]
    xw = _input_projection(x, W)
    if b is not None:
        xw = add(xw, b)
    h, c, outs = h0, c0, []
    for t in _order(x._data.shape[1], go_backwards):
        z = add(xw[:, t], matmul(h, R))
        i, f, o = f_rec(_cols(z, U, 0)), f_rec(_cols(z, U, 1)), f_rec(_cols(z, U, 3))
        c = add(multiply(f, c), multiply(i, f_act(_cols(z, U, 2))))
        h = multiply(o, f_act(c))
        outs.append(h)
    return [stack(outs, axis=1), h, c]


def _gru_steps(x, h0, W, R, b, go_backwards, act, rec, reset_after):
    from .array_ops import stack
    from .math_ops import add, matmul, multiply, subtract
    f_act, f_rec = _act_t(act), _act_t(rec)
    U = R._data.shape[0]
    xw = _input_projection(x, W)
    b_rec = None
    if b is not None:
        if reset_after:
            xw, b_rec = add(xw, b[0]), b[1]
        else:
            xw = add(xw, b)
    if not reset_after:
        Rzr, Rh = R[:, :2 * U], R[:, 2 * U:]
    h, outs = h0, []
    for t in _order(x._data.shape[1], go_backwards):
        xt = xw[:, t]
        if reset_after:
            hr = matmul(h, R)
            if b_rec is not None:
                hr = add(hr, b_rec)
            z = f_rec(add(_cols(xt, U, 0), _cols(hr, U, 0)))
            r = f_rec(add(_cols(xt, U, 1), _cols(hr, U, 1)))
            n = f_act(add(_cols(xt, U, 2), multiply(r, _cols(hr, U, 2))))
        else:
            hzr = matmul(h, Rzr)
            z = f_rec(add(_cols(xt, U, 0), _cols(hzr, U, 0)))
            r = f_rec(add(_cols(xt, U, 1), _cols(hzr, U, 1)))
            n = f_act(add(_cols(xt, U, 2), matmul(multiply(r, h), Rh)))
        h = add(n, multiply(z, subtract(h, n)))     # z h + (1 - z) n
        outs.append(h)
    return [stack(outs, axis=1), h]


def _simple_rnn_steps(x, h0, W, R, b, go_backwards, act):
    from .array_ops import stack
    from .math_ops import add, matmul
    f_act = _act_t(act)
    xw = _input_projection(x, W)
    if b is not None:
        xw = add(xw, b)
    h, outs = h0, []
    for t in _order(x._data.shape[1], go_backwards):
        h = f_act(add(xw[:, t], matmul(h, R)))
        outs.append(h)
    return [stack(outs, axis=1), h]


def _recomputed_vjp(inputs, steps):
    """The Tensor rule of a fused recurrent node: steps(*inputs) recomputes its outputs with
    nabi ops under an inner tape watching the inputs that need a gradient, and that tape's
    gradient for the upstream gradients is returned (recorded by the outer tapes)."""
    def backward_t(grads, needs):
        from ..framework.tape import GradientTape
        srcs = [x for x, need in zip(inputs, needs) if need]
        if not srcs:
            return [None] * len(inputs)
        with GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(srcs)
            outs = steps(*inputs)
        gs = iter(tape.gradient(outs, srcs, output_gradients=list(grads)))
        return [next(gs) if need else None for need in needs]
    return backward_t
