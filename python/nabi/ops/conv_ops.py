"""Convolution, pooling and fused batch-norm ops (`nabi.nn`), TF2 names and semantics.

Kernels: csrc/cpu/conv2d.cpp (implicit GEMM from a padded image for float32, im2col tiles +
GEMM otherwise, direct for one input channel), depthwise_conv2d.cpp (direct),
pooling.cpp and batchnorm.cpp, all channels last (NHWC). 'NCHW' inputs are transposed
around the kernels. Every op checks its arguments here (errors start with `[op]`) and
records its backward rule on the tape.
"""
import numpy as np

from ..framework.device import asarray as _asarray

from .. import _C
from ..framework.device import kernels, to_device
from ._common import Tensor, _tapes, _wrap, const_like, contiguous, record, t_

__all__ = ["conv2d", "conv1d", "convolution", "conv2d_transpose", "conv1d_transpose",
           "depthwise_conv2d", "separable_conv2d", "batch_norm_channels_last", "max_pool2d",
           "max_pool1d", "max_pool", "avg_pool2d",
           "avg_pool1d", "avg_pool", "max_pool_with_argmax", "fused_batch_norm",
           "conv2d_bias_activation", "conv2d_backprop_input", "conv2d_backprop_filter"]


# ------------------------------------------------------------------ argument helpers


def _float(op, x):
    x = t_(x)
    if x._data.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] expects a float32 or float64 tensor, got "
                        f"{x._data.dtype.name} of shape {tuple(x._data.shape)}")
    return x


def _spatial(op, name, value, n, data_format, default=None):
    """An int or a list of 1, n or n + 2 values -> tuple of n spatial values."""
    if value is None:
        if default is None:
            raise ValueError(f"[{op}] {name} is required")
        value = default
    if isinstance(value, Tensor):
        value = value._data.tolist()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (int, np.integer)):
        vals = (int(value),) * n
    else:
        v = [int(a) for a in value]
        if len(v) == 1:
            vals = (v[0],) * n
        elif len(v) == n:
            vals = tuple(v)
        elif len(v) == n + 2:
            channels_first = data_format is not None and data_format.startswith("NC")
            vals = tuple(v[2:]) if channels_first else tuple(v[1:-1])
            outer = (v[0], v[1]) if channels_first else (v[0], v[-1])
            if outer != (1, 1):
                raise ValueError(f"[{op}] {name} {list(value)} must be 1 in the batch and "
                                 f"channel dimensions")
        else:
            raise ValueError(f"[{op}] {name} must be an int or a list of 1, {n} or {n + 2} "
                             f"values, got {list(value)}")
    for a in vals:
        if a < 1:
            raise ValueError(f"[{op}] {name} must be >= 1, got {list(vals)}")
    return vals


def _same(n, k, s, d=1):
    ek = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + ek - n, 0)
    return total // 2, total - total // 2


def _pads(op, padding, in_sizes, ksizes, strides, dilations, data_format):
    """'SAME' / 'VALID' / explicit lists -> (top, bottom, left, right) for 2-D."""
    if isinstance(padding, str):
        p = padding.upper()
        if p == "VALID":
            return (0, 0, 0, 0)
        if p == "SAME":
            out = []
            for n, k, s, d in zip(in_sizes, ksizes, strides, dilations):
                out.extend(_same(n, k, s, d))
            return tuple(out)
        raise ValueError(f"[{op}] padding must be 'SAME', 'VALID' or a list of pairs, "
                         f"got {padding!r}")
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    pl = [list(p) if isinstance(p, (list, tuple)) else p for p in padding]
    if all(isinstance(p, (int, np.integer)) for p in pl) and len(pl) == 2:
        pl = [[pl[0], pl[0]], [pl[1], pl[1]]]
    if len(pl) == 4:
        channels_first = data_format is not None and data_format.startswith("NC")
        outer = [pl[0], pl[1]] if channels_first else [pl[0], pl[3]]
        if any(list(o) != [0, 0] for o in outer):
            raise ValueError(f"[{op}] explicit padding must be 0 in the batch and channel "
                             f"dimensions, got {padding}")
        pl = pl[2:] if channels_first else pl[1:3]
    if len(pl) != 2 or any(len(p) != 2 for p in pl):
        raise ValueError(f"[{op}] explicit padding must be [[0, 0], [top, bottom], [left, right], "
                         f"[0, 0]] or [[top, bottom], [left, right]], got {padding}")
    out = tuple(int(a) for p in pl for a in p)
    if any(a < 0 for a in out):
        raise ValueError(f"[{op}] padding must be >= 0, got {padding}")
    return out


def _fmt(op, data_format, rank):
    if data_format is None:
        return "NHWC" if rank == 4 else "NWC"
    f = data_format.upper()
    ok = {4: ("NHWC", "NCHW"), 3: ("NWC", "NCW")}[rank]
    if f not in ok:
        raise ValueError(f"[{op}] data_format must be one of {ok}, got {data_format!r}")
    return f


def _to_nhwc(a, fmt):
    return contiguous(np.transpose(a, (0, 2, 3, 1))) if fmt == "NCHW" else contiguous(a)


def _from_nhwc(a, fmt):
    return contiguous(np.transpose(a, (0, 3, 1, 2))) if fmt == "NCHW" else a


def _check_input_4d(op, a, fmt):
    if a.ndim != 4:
        layout = "(N, H, W, C)" if fmt == "NHWC" else "(N, C, H, W)"
        raise ValueError(f"[{op}] input must be 4-D {layout}, got shape {tuple(a.shape)}")


# ------------------------------------------------------------------ convolution


def _conv_setup(op, input, filters, strides, padding, data_format, dilations):
    x = _float(op, input)
    if not isinstance(filters, Tensor) and x._data.dtype in (np.float32, np.float64):
        # a NumPy / list argument takes the dtype the input fixes, as TF converts it
        filters = _asarray(np.asarray(filters), x._data.dtype)
    w = _float(op, filters)
    fmt = _fmt(op, data_format, 4)
    _check_input_4d(op, x._data, fmt)
    if w._data.ndim != 4:
        raise ValueError(f"[{op}] filters must be 4-D (KH, KW, C_in, C_out), got shape "
                         f"{tuple(w._data.shape)}")
    if x._data.dtype != w._data.dtype:
        raise TypeError(f"[{op}] input and filters dtypes differ: {x._data.dtype.name} vs "
                        f"{w._data.dtype.name}")
    st = _spatial(op, "strides", strides, 2, fmt, 1)
    dl = _spatial(op, "dilations", dilations, 2, fmt, 1)
    shp = x._data.shape
    H, W, C = (shp[2], shp[3], shp[1]) if fmt == "NCHW" else shp[1:]
    KH, KW, CI, _ = w._data.shape
    if C != CI:
        raise ValueError(f"[{op}] input has {C} channels but filters {tuple(w._data.shape)} "
                         f"expect {CI} (input shape {tuple(shp)}, data_format {fmt})")
    pads = _pads(op, padding, (H, W), (KH, KW), st, dl, fmt)
    ekh, ekw = (KH - 1) * dl[0] + 1, (KW - 1) * dl[1] + 1
    if KH < 1 or KW < 1 or ekh > H + pads[0] + pads[1] or ekw > W + pads[2] + pads[3]:
        raise ValueError(f"[{op}] filter {KH}x{KW} (dilated {ekh}x{ekw}) is larger than the "
                         f"padded input {H + pads[0] + pads[1]}x{W + pads[2] + pads[3]} "
                         f"(input shape {tuple(shp)}, padding {padding!r})")
    return x, w, fmt, st, dl, pads


def _nhwc_shape(shape, fmt):
    s = tuple(int(d) for d in shape)
    return (s[0], s[2], s[3], s[1]) if fmt == "NCHW" else s


def _conv_core(x, w, b, st, dl, pads, fmt, relu):
    """conv2d (+ bias, + relu) of checked Tensors with explicit pads (top, bottom, left,
    right). Its gradients are the two ops below, so it differentiates to any order."""
    X = _to_nhwc(x._data, fmt)
    W_ = contiguous(w._data)
    B = contiguous(b._data) if b is not None else None
    Y = kernels(X).conv2d_forward(X, W_, B, st, dl, pads, relu)
    out = _wrap(_from_nhwc(Y, fmt))
    if _tapes:
        inputs = (x, w) if b is None else (x, w, b)

        def backward(g, needs):
            G = _to_nhwc(g, fmt)
            need_db = len(needs) > 2 and needs[2]
            dx, dw, db = kernels(X).conv2d_backward(G, X, W_, Y if relu else None, st, dl, pads,
                                                    bool(needs[0]), bool(needs[1]),
                                                    bool(need_db))
            if dx is not None:
                dx = _from_nhwc(dx, fmt)
            return (dx, dw) if b is None else (dx, dw, db)

        def backward_t(g, needs):
            if relu:
                from .math_ops import _masked
                g = _masked(g, out._data > 0, inputs)
            dx = _conv2d_backprop_input(g, w, x._data.shape, st, dl, pads, fmt) \
                if needs[0] else None
            dw = _conv2d_backprop_filter(x, g, w._data.shape, st, dl, pads, fmt) \
                if needs[1] else None
            if b is None:
                return dx, dw
            from .math_ops import reduce_sum
            db = reduce_sum(g, (0, 2, 3) if fmt == "NCHW" else (0, 1, 2)) if needs[2] else None
            return dx, dw, db
        record(inputs, out, backward, backward_t, "conv2d")
    return out


def _conv2d_backprop_input(g, w, xshape, st, dl, pads, fmt, b=None, relu=False):
    """The gradient of conv2d with respect to its input (shape xshape, in fmt), from the
    output gradient g and the filters w: a recorded op, linear in g and in w, whose gradients
    are conv2d (for g) and _conv2d_backprop_filter (for w). With b (C_in,) and/or relu it is
    [relu](that + b) in the same kernel call (a Conv2DTranspose layer's forward)."""
    G = _to_nhwc(g._data, fmt)
    W_ = contiguous(w._data)
    B = contiguous(b._data) if b is not None else None
    dx = kernels(G).conv2d_backward_data(G, W_, B, _nhwc_shape(xshape, fmt), st, dl, pads,
                                         bool(relu))
    out = _wrap(_from_nhwc(dx, fmt))
    if _tapes:
        inputs = (g, w) if b is None else (g, w, b)

        def backward(h, needs):
            H = _to_nhwc(h, fmt)
            if relu:  # h where dx > 0, else 0: one kernel pass (np.where made a mask + a copy)
                H = kernels(H).activation_backward("relu", H, dx, dx, 0.0)
            dg = dw = db = None
            if needs[0]:
                dg = _from_nhwc(kernels(H).conv2d_forward(H, W_, None, st, dl, pads, False), fmt)
            if needs[1]:
                _, dw, _ = kernels(H).conv2d_backward(G, H, W_, None, st, dl, pads, False, True,
                                                      False)
            if b is not None and needs[2]:
                db = kernels(H).bias_add_backward(H)
            return (dg, dw) if b is None else (dg, dw, db)

        def backward_t(h, needs):
            if relu:
                from .math_ops import _masked
                h = _masked(h, out._data > 0, inputs)
            dg = _conv_core(h, w, None, st, dl, pads, fmt, False) if needs[0] else None
            dw = _conv2d_backprop_filter(h, g, w._data.shape, st, dl, pads, fmt) \
                if needs[1] else None
            if b is None:
                return dg, dw
            from .math_ops import reduce_sum
            db = reduce_sum(h, (0, 2, 3) if fmt == "NCHW" else (0, 1, 2)) if needs[2] else None
            return dg, dw, db
        record(inputs, out, backward, backward_t,
               "conv2d_backprop_input" if b is None and not relu else "conv2d_transpose")
    return out


def _conv2d_backprop_filter(x, g, wshape, st, dl, pads, fmt):
    """The gradient of conv2d with respect to its filters (shape wshape), from the input x
    and the output gradient g: a recorded op, linear in x and in g, whose gradients are
    _conv2d_backprop_input (for x) and conv2d (for g)."""
    X = _to_nhwc(x._data, fmt)
    G = _to_nhwc(g._data, fmt)
    wz = np.zeros_like(X, shape=tuple(int(d) for d in wshape))
    _, dw, _ = kernels(X).conv2d_backward(G, X, wz, None, st, dl, pads, False, True, False)
    out = _wrap(dw)
    if _tapes:
        def backward(h, needs):
            Hc = contiguous(h)
            dx = dg = None
            if needs[0]:
                xz = np.zeros_like(X)
                dx = _from_nhwc(kernels(G).conv2d_backward(G, xz, Hc, None, st, dl, pads, True,
                                                           False, False)[0], fmt)
            if needs[1]:
                dg = _from_nhwc(kernels(X).conv2d_forward(X, Hc, None, st, dl, pads, False), fmt)
            return dx, dg

        def backward_t(h, needs):
            dx = _conv2d_backprop_input(g, h, x._data.shape, st, dl, pads, fmt) \
                if needs[0] else None
            dg = _conv_core(x, h, None, st, dl, pads, fmt, False) if needs[1] else None
            return dx, dg
        record((x, g), out, backward, backward_t, "conv2d_backprop_filter")
    return out


def conv2d_backprop_input(input_sizes, filters=None, out_backprop=None, strides=None,
                          padding=None, use_cudnn_on_gpu=True, data_format="NHWC",
                          dilations=None, name=None, filter=None):  # noqa: A002
    """The gradient of conv2d with respect to its input (TF's Conv2DBackpropInput): an input
    of shape input_sizes, from the filters and the output gradient."""
    op = "conv2d_backprop_input"
    filters = filter if filters is None else filters
    if filters is None or out_backprop is None or padding is None:
        raise ValueError(f"[{op}] filters, out_backprop and padding are required")
    if isinstance(input_sizes, Tensor):
        input_sizes = input_sizes._data.tolist()
    xs = [int(a) for a in input_sizes]
    if len(xs) != 4:
        raise ValueError(f"[{op}] input_sizes must have 4 values, got {input_sizes}")
    g = _float(op, out_backprop)
    w = _float(op, filters)
    fmt = _fmt(op, data_format, 4)
    _check_input_4d(op, g._data, fmt)
    x = _wrap(np.zeros_like(g._data, shape=tuple(xs)))
    _, w, fmt, st, dl, pads = _conv_setup(op, x, w, strides, padding, fmt, dilations)
    _check_out_shape(op, x, w, st, dl, pads, fmt, g)
    return _conv2d_backprop_input(g, w, xs, st, dl, pads, fmt)


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,  # noqa: A002
                           use_cudnn_on_gpu=True, data_format="NHWC", dilations=None, name=None):
    """The gradient of conv2d with respect to its filters (TF's Conv2DBackpropFilter): filters
    of shape filter_sizes, from the input and the output gradient."""
    op = "conv2d_backprop_filter"
    if isinstance(filter_sizes, Tensor):
        filter_sizes = filter_sizes._data.tolist()
    ws = tuple(int(a) for a in filter_sizes)
    if len(ws) != 4:
        raise ValueError(f"[{op}] filter_sizes must have 4 values, got {filter_sizes}")
    x = _float(op, input)
    g = _float(op, out_backprop)
    wz = _wrap(np.zeros_like(x._data, shape=ws))
    x, wz, fmt, st, dl, pads = _conv_setup(op, x, wz, strides, padding, data_format, dilations)
    _check_input_4d(op, g._data, fmt)
    _check_out_shape(op, x, wz, st, dl, pads, fmt, g)
    return _conv2d_backprop_filter(x, g, ws, st, dl, pads, fmt)


def _check_out_shape(op, x, w, st, dl, pads, fmt, g):
    n, H, W, _ = _nhwc_shape(x._data.shape, fmt)
    KH, KW, _, CO = w._data.shape
    exp = (n, (H + pads[0] + pads[1] - ((KH - 1) * dl[0] + 1)) // st[0] + 1,
           (W + pads[2] + pads[3] - ((KW - 1) * dl[1] + 1)) // st[1] + 1, CO)
    got = _nhwc_shape(g._data.shape, fmt)
    if got != exp:
        raise ValueError(f"[{op}] out_backprop of shape {tuple(g._data.shape)} does not match "
                         f"the input {tuple(x._data.shape)} and filters {tuple(w._data.shape)} "
                         f"(expected {exp} in NHWC)")


def conv2d_bias_activation(input, filters, bias=None, strides=1, padding="VALID",
                           data_format="NHWC", dilations=None, activation=None, name=None):
    """act(conv2d(input, filters) + bias) in one kernel call when act is None or 'relu'
    (the layer's fast path); other activations are applied after the fused bias."""
    op = "conv2d"
    x, w, fmt, st, dl, pads = _conv_setup(op, input, filters, strides, padding, data_format,
                                          dilations)
    b = None
    if bias is not None:
        b = _float(op, bias)
        if b._data.shape != (w._data.shape[3],) or b._data.dtype != x._data.dtype:
            raise ValueError(f"[{op}] bias must have shape ({w._data.shape[3]},) and dtype "
                             f"{x._data.dtype.name}, got {tuple(b._data.shape)} "
                             f"{b._data.dtype.name}")
    act = activation
    relu = act == "relu"
    out = _conv_core(x, w, b, st, dl, pads, fmt, relu)
    if act is not None and not relu:
        from . import nn_ops
        fn = getattr(nn_ops, act, None) if isinstance(act, str) else act
        if fn is None:
            raise ValueError(f"[{op}] unknown activation {act!r}")
        out = fn(out)
    return out


def conv2d(input, filters, strides=1, padding="VALID", data_format="NHWC", dilations=None,
           name=None):
    """2-D convolution, filters HWIO, TF padding ('SAME' pads the extra at the bottom/right)."""
    return conv2d_bias_activation(input, filters, None, strides, padding, data_format, dilations)


def _expand(x, axis):
    from .array_ops import expand_dims
    return expand_dims(x, axis)


def _squeeze(x, axis):
    from .array_ops import squeeze
    return squeeze(x, [axis])


def conv1d(input, filters, stride=1, padding="VALID", data_format="NWC", dilations=None,
           name=None):
    """1-D convolution (N, W, C) with filters (KW, C_in, C_out), via conv2d on H = 1."""
    op = "conv1d"
    x = _float(op, input)
    w = _float(op, filters)
    fmt = _fmt(op, data_format, 3)
    if x._data.ndim != 3:
        raise ValueError(f"[{op}] input must be 3-D ({'N, W, C' if fmt == 'NWC' else 'N, C, W'}),"
                         f" got shape {tuple(x._data.shape)}")
    if w._data.ndim != 3:
        raise ValueError(f"[{op}] filters must be 3-D (KW, C_in, C_out), got shape "
                         f"{tuple(w._data.shape)}")
    s = _spatial(op, "stride", stride, 1, fmt, 1)[0]
    d = _spatial(op, "dilations", dilations, 1, fmt, 1)[0]
    if not isinstance(padding, str):
        pl = [list(p) for p in padding]
        pl = pl[1:2] if len(pl) == 3 and fmt == "NWC" else (pl[2:] if len(pl) == 3 else pl)
        padding = [[0, 0], pl[0]]
    sp_axis = 1 if fmt == "NWC" else 2
    x4 = _expand(x, sp_axis)
    y = conv2d_bias_activation(x4, _expand(w, 0), None, (1, s), padding,
                               "NHWC" if fmt == "NWC" else "NCHW", (1, d))
    return _squeeze(y, sp_axis)


def convolution(input, filters, strides=None, padding="VALID", data_format=None, dilations=None,
                name=None):
    """N-D convolution for N = 1 or 2 (rank 3 or 4 input)."""
    r = t_(input)._data.ndim
    if r == 4:
        return conv2d(input, filters, strides or 1, padding, data_format or "NHWC", dilations)
    if r == 3:
        return conv1d(input, filters, strides or 1, padding, data_format or "NWC", dilations)
    raise ValueError(f"[convolution] input must be 3-D or 4-D, got shape "
                     f"{tuple(t_(input)._data.shape)}")


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NHWC",
                     dilations=None, name=None):
    """Gradient of conv2d w.r.t. its input; filters (KH, KW, C_out, C_in)."""
    return conv2d_transpose_bias_activation(input, filters, output_shape, strides, None,
                                            padding, data_format, dilations)


def conv2d_transpose_bias_activation(input, filters, output_shape, strides, bias=None,
                                     padding="SAME", data_format="NHWC", dilations=None,
                                     activation=None, name=None):
    """act(conv2d_transpose(input, filters, ...) + bias) in one kernel call when act is None
    or 'relu' (Conv2DTranspose's fast path: no separate pass over the output for the bias);
    other activations are applied after. bias: (C_out,) or None."""
    op = "conv2d_transpose"
    u = _float(op, input)
    w = _float(op, filters)
    fmt = _fmt(op, data_format, 4)
    _check_input_4d(op, u._data, fmt)
    if w._data.ndim != 4:
        raise ValueError(f"[{op}] filters must be 4-D (KH, KW, C_out, C_in), got shape "
                         f"{tuple(w._data.shape)}")
    if isinstance(output_shape, Tensor):
        output_shape = output_shape._data.tolist()
    oshape = [int(a) for a in output_shape]
    if len(oshape) != 4:
        raise ValueError(f"[{op}] output_shape must have 4 values, got {output_shape}")
    st = _spatial(op, "strides", strides, 2, fmt, 1)
    dl = _spatial(op, "dilations", dilations, 2, fmt, 1)
    xs = (oshape[0], oshape[2], oshape[3], oshape[1]) if fmt == "NCHW" else tuple(oshape)
    KH, KW, CO_, CI_ = w._data.shape
    U = _to_nhwc(u._data, fmt)
    if xs[3] != CO_ or U.shape[3] != CI_:
        raise ValueError(f"[{op}] filters {tuple(w._data.shape)} do not match input channels "
                         f"{U.shape[3]} and output channels {xs[3]}")
    pads = _pads(op, padding, xs[1:3], (KH, KW), st, dl, fmt)
    exp = ((xs[1] + pads[0] + pads[1] - ((KH - 1) * dl[0] + 1)) // st[0] + 1,
           (xs[2] + pads[2] + pads[3] - ((KW - 1) * dl[1] + 1)) // st[1] + 1)
    U = u._data.shape
    U = (U[2], U[3]) if fmt == "NCHW" else (U[1], U[2])
    if exp != U:
        raise ValueError(f"[{op}] input spatial shape {U} does not match "
                         f"output_shape {tuple(oshape)} (expected {exp})")
    b = None
    if bias is not None:
        b = _float(op, bias)
        if b._data.shape != (CO_,) or b._data.dtype != u._data.dtype:
            raise ValueError(f"[{op}] bias must have shape ({CO_},) and dtype "
                             f"{u._data.dtype.name}, got {tuple(b._data.shape)} "
                             f"{b._data.dtype.name}")
    if u._data.dtype != w._data.dtype:
        raise TypeError(f"[{op}] input and filters dtypes differ: {u._data.dtype.name} vs "
                        f"{w._data.dtype.name}")
    relu = activation == "relu"
    # the filters HW(C_out)(C_in) are those of a conv2d mapping the output (C_out) to u (C_in)
    out = _conv2d_backprop_input(u, w, oshape, st, dl, pads, fmt, b, relu)
    if activation is not None and not relu:
        from . import nn_ops
        fn = getattr(nn_ops, activation, None) if isinstance(activation, str) else activation
        if fn is None:
            raise ValueError(f"[{op}] unknown activation {activation!r}")
        out = fn(out)
    return out


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NWC",
                     dilations=None, name=None):
    fmt = _fmt("conv1d_transpose", data_format, 3)
    s = _spatial("conv1d_transpose", "strides", strides, 1, fmt, 1)[0]
    d = _spatial("conv1d_transpose", "dilations", dilations, 1, fmt, 1)[0]
    oshape = [int(a) for a in (output_shape._data.tolist() if isinstance(output_shape, Tensor)
                               else output_shape)]
    ax = 1 if fmt == "NWC" else 2
    o4 = oshape[:ax] + [1] + oshape[ax:]
    y = conv2d_transpose(_expand(input, ax), _expand(filters, 0), o4, (1, s), padding,
                         "NHWC" if fmt == "NWC" else "NCHW", (1, d))
    return _squeeze(y, ax)


def depthwise_conv2d(input, filter, strides, padding, data_format=None, dilations=None,
                     name=None):
    """Depthwise 2-D convolution, filter (KH, KW, C, M): output channel c*M + m sees only input
    channel c (tf.nn.depthwise_conv2d). Kernels: csrc/cpu/depthwise_conv2d.cpp and
    csrc/cuda/depthwise_conv2d.cu (forward, backward-data, backward-filter)."""
    op = "depthwise_conv2d"
    x = _float(op, input)
    w = _float(op, filter)
    fmt = _fmt(op, data_format, 4)
    _check_input_4d(op, x._data, fmt)
    if w._data.ndim != 4:
        raise ValueError(f"[{op}] filter must be 4-D (KH, KW, C, M), got shape "
                         f"{tuple(w._data.shape)}")
    if x._data.dtype != w._data.dtype:
        raise TypeError(f"[{op}] input and filter dtypes differ: {x._data.dtype.name} vs "
                        f"{w._data.dtype.name}")
    st = _spatial(op, "strides", strides, 2, fmt, 1)
    dl = _spatial(op, "dilations", dilations, 2, fmt, 1)
    shp = x._data.shape
    H, W, C = (shp[2], shp[3], shp[1]) if fmt == "NCHW" else shp[1:]
    KH, KW, CF, M = w._data.shape
    if C != CF:
        raise ValueError(f"[{op}] input has {C} channels but filter {tuple(w._data.shape)} "
                         f"expects {CF} (input shape {tuple(shp)}, data_format {fmt})")
    if min(KH, KW, M) < 1:
        raise ValueError(f"[{op}] filter dimensions must be >= 1, got {tuple(w._data.shape)}")
    pads = _pads(op, padding, (H, W), (KH, KW), st, dl, fmt)
    ekh, ekw = (KH - 1) * dl[0] + 1, (KW - 1) * dl[1] + 1
    if ekh > H + pads[0] + pads[1] or ekw > W + pads[2] + pads[3]:
        raise ValueError(f"[{op}] filter {KH}x{KW} (dilated {ekh}x{ekw}) is larger than the "
                         f"padded input {H + pads[0] + pads[1]}x{W + pads[2] + pads[3]} "
                         f"(input shape {tuple(shp)}, padding {padding!r})")
    return _depthwise_core(x, w, st, dl, pads, fmt)


def _depthwise_core(x, w, st, dl, pads, fmt):
    """depthwise_conv2d of checked Tensors with explicit pads. Its gradients are the two ops
    below (the pattern of _conv_core), so it differentiates to any order."""
    X = _to_nhwc(x._data, fmt)
    W_ = contiguous(w._data)
    Y = kernels(X).depthwise_conv2d_forward(X, W_, st, dl, pads)
    out = _wrap(_from_nhwc(Y, fmt))
    if _tapes:
        xshape, wshape = tuple(X.shape), tuple(W_.shape)

        def backward(g, needs):
            G = _to_nhwc(g, fmt)
            dx = dw = None
            if needs[0]:
                dx = _from_nhwc(kernels(G).depthwise_conv2d_backward_data(
                    G, W_, xshape, st, dl, pads), fmt)
            if needs[1]:
                dw = kernels(G).depthwise_conv2d_backward_filter(G, X, wshape, st, dl, pads)
            return dx, dw

        def backward_t(g, needs):
            dx = _depthwise_backprop_input(g, w, x._data.shape, st, dl, pads, fmt) \
                if needs[0] else None
            dw = _depthwise_backprop_filter(x, g, wshape, st, dl, pads, fmt) \
                if needs[1] else None
            return dx, dw
        record((x, w), out, backward, backward_t, "depthwise_conv2d")
    return out


def _depthwise_backprop_input(g, w, xshape, st, dl, pads, fmt):
    """The gradient of depthwise_conv2d with respect to its input (shape xshape, in fmt): a
    recorded op linear in g and in w, whose gradients are depthwise_conv2d (for g) and
    _depthwise_backprop_filter (for w)."""
    G = _to_nhwc(g._data, fmt)
    W_ = contiguous(w._data)
    xs = _nhwc_shape(xshape, fmt)
    out = _wrap(_from_nhwc(kernels(G).depthwise_conv2d_backward_data(G, W_, xs, st, dl, pads),
                           fmt))
    if _tapes:
        def backward(h, needs):
            H = _to_nhwc(h, fmt)
            dg = dw = None
            if needs[0]:
                dg = _from_nhwc(kernels(H).depthwise_conv2d_forward(H, W_, st, dl, pads), fmt)
            if needs[1]:
                dw = kernels(H).depthwise_conv2d_backward_filter(G, H, tuple(W_.shape), st, dl,
                                                                 pads)
            return dg, dw

        def backward_t(h, needs):
            dg = _depthwise_core(h, w, st, dl, pads, fmt) if needs[0] else None
            dw = _depthwise_backprop_filter(h, g, w._data.shape, st, dl, pads, fmt) \
                if needs[1] else None
            return dg, dw
        record((g, w), out, backward, backward_t, "depthwise_conv2d_backprop_input")
    return out


def _depthwise_backprop_filter(x, g, wshape, st, dl, pads, fmt):
    """The gradient of depthwise_conv2d with respect to its filter (shape wshape): a recorded
    op linear in x and in g, whose gradients are _depthwise_backprop_input (for x) and
    depthwise_conv2d (for g)."""
    X = _to_nhwc(x._data, fmt)
    G = _to_nhwc(g._data, fmt)
    ws = tuple(int(d) for d in wshape)
    out = _wrap(kernels(X).depthwise_conv2d_backward_filter(G, X, ws, st, dl, pads))
    if _tapes:
        def backward(h, needs):
            Hc = contiguous(h)
            dx = dg = None
            if needs[0]:
                dx = _from_nhwc(kernels(G).depthwise_conv2d_backward_data(
                    G, Hc, tuple(X.shape), st, dl, pads), fmt)
            if needs[1]:
                dg = _from_nhwc(kernels(X).depthwise_conv2d_forward(X, Hc, st, dl, pads), fmt)
            return dx, dg

        def backward_t(h, needs):
            dx = _depthwise_backprop_input(g, h, x._data.shape, st, dl, pads, fmt) \
                if needs[0] else None
            dg = _depthwise_core(x, h, st, dl, pads, fmt) if needs[1] else None
            return dx, dg
        record((x, g), out, backward, backward_t, "depthwise_conv2d_backprop_filter")
    return out


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,
                     data_format=None, dilations=None, name=None):
    """depthwise_conv2d (strides, dilations) followed by a 1x1 conv2d with pointwise_filter
    (1, 1, C*M, F), as tf.nn.separable_conv2d."""
    op = "separable_conv2d"
    dwf = _float(op, depthwise_filter)
    pwf = _float(op, pointwise_filter)
    if dwf._data.ndim != 4:
        raise ValueError(f"[{op}] depthwise_filter must be 4-D (KH, KW, C, M), got shape "
                         f"{tuple(dwf._data.shape)}")
    cm = dwf._data.shape[2] * dwf._data.shape[3]
    ps = tuple(pwf._data.shape)
    if len(ps) != 4 or ps[:3] != (1, 1, cm):
        raise ValueError(f"[{op}] pointwise_filter must have shape (1, 1, {cm}, F) for "
                         f"depthwise_filter {tuple(dwf._data.shape)}, got {ps}")
    fmt = _fmt(op, data_format, 4)
    y = depthwise_conv2d(input, dwf, strides, padding, fmt, dilations)
    return conv2d(y, pwf, 1, "VALID", fmt)


# ------------------------------------------------------------------ pooling


def _pool_setup(op, input, ksize, strides, padding, data_format):
    x = _float(op, input)
    fmt = _fmt(op, data_format, 4)
    _check_input_4d(op, x._data, fmt)
    k = _spatial(op, "ksize", ksize, 2, fmt)
    st = _spatial(op, "strides", strides, 2, fmt, k)
    shp = x._data.shape
    H, W = (shp[2], shp[3]) if fmt == "NCHW" else shp[1:3]
    pads = _pads(op, padding, (H, W), k, st, (1, 1), fmt)
    if k[0] > H + pads[0] + pads[1] or k[1] > W + pads[2] + pads[3]:
        raise ValueError(f"[{op}] window {k[0]}x{k[1]} is larger than the padded input "
                         f"{H + pads[0] + pads[1]}x{W + pads[2] + pads[3]} (input shape "
                         f"{tuple(shp)}, padding {padding!r})")
    return x, fmt, k, st, pads


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):
    op = "max_pool2d"
    x, fmt, k, st, pads = _pool_setup(op, input, ksize, strides, padding, data_format)
    X = _to_nhwc(x._data, fmt)
    need_idx = bool(_tapes)
    idx_dtype = "int32" if X.size < 2 ** 31 else "int64"
    Y, idx = kernels(X).max_pool2d_forward(X, k, st, pads, need_idx, idx_dtype)
    out = _wrap(_from_nhwc(Y, fmt))
    if _tapes:
        xshape = X.shape
        record((x,), out, lambda g, n: (
            _from_nhwc(kernels(idx).max_pool2d_backward(_to_nhwc(g, fmt), idx, xshape, k, st, pads),
                       fmt),),
               lambda g, n: (_max_pool_scatter(g, x, idx, k, st, pads, fmt),), "max_pool2d")
    return out


def _max_pool_scatter(g, x, idx, k, st, pads, fmt):
    """max_pool2d's gradient: g added at the argmax positions idx (constants), as a recorded
    op linear in g, whose gradient for g gathers at idx. The pooled input x is an input with
    a zero derivative (TF's MaxPoolGrad gives zeros_like(orig_input)), so a variable that
    reaches a penalty only through the choice of the maxima gets zeros, not None."""
    xshape = _nhwc_shape(x._data.shape, fmt)
    dx = kernels(idx).max_pool2d_backward(_to_nhwc(g._data, fmt), idx, xshape, k, st, pads)
    out = _wrap(_from_nhwc(dx, fmt))
    if _tapes:
        from ..framework.tape import _const_like

        def backward(h, needs):
            dg = _from_nhwc(np.take(_to_nhwc(h, fmt), idx), fmt) if needs[0] else None
            return dg, (_const_like(x._data, 0) if needs[1] else None)

        def backward_t(h, needs):
            dg = _max_pool_gather(h, idx, k, st, pads, fmt) if needs[0] else None
            return dg, (_wrap(_const_like(x._data, 0)) if needs[1] else None)
        record((g, x), out, backward, backward_t, "max_pool2d_grad")
    return out


def _max_pool_gather(h, idx, k, st, pads, fmt):
    """h at the argmax positions idx (the pooled shape): the gradient of _max_pool_scatter
    for g, a recorded op whose own gradient is that scatter."""
    out = _wrap(_from_nhwc(np.take(_to_nhwc(h._data, fmt), idx), fmt))
    if _tapes:
        xshape = _nhwc_shape(h._data.shape, fmt)

        def backward(u, needs):
            return (_from_nhwc(kernels(idx).max_pool2d_backward(_to_nhwc(u, fmt), idx, xshape,
                                                                 k, st, pads), fmt),)

        def backward_t(u, needs):
            return (_max_pool_scatter(u, h, idx, k, st, pads, fmt),)
        record((h,), out, backward, backward_t, "max_pool2d_grad_grad")
    return out


def max_pool_with_argmax(input, ksize, strides, padding, data_format="NHWC",
                         output_dtype="int64", include_batch_in_index=False, name=None):
    """(output, argmax); argmax flattens ((b * H + y) * W + x) * C + c (b only when
    include_batch_in_index), as TF."""
    out = max_pool2d(input, ksize, strides, padding, data_format)
    x, fmt, k, st, pads = _pool_setup("max_pool_with_argmax", input, ksize, strides, padding,
                                      data_format)
    X = _to_nhwc(x._data, fmt)
    _, idx = kernels(X).max_pool2d_forward(X, k, st, pads, True, "int64")
    if not include_batch_in_index:
        idx = idx % (X.shape[1] * X.shape[2] * X.shape[3])
    odt = np.dtype(getattr(output_dtype, "as_numpy_dtype", output_dtype))
    return out, _wrap(idx.astype(odt))


def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):
    op = "avg_pool2d"
    x, fmt, k, st, pads = _pool_setup(op, input, ksize, strides, padding, data_format)
    return _avg_pool_core(x, k, st, pads, fmt)


def _avg_pool_core(x, k, st, pads, fmt):
    """avg_pool2d with explicit pads: linear, its gradient is _avg_pool_backprop, whose
    gradient is this op again (the two are adjoint), so it differentiates to any order."""
    X = _to_nhwc(x._data, fmt)
    Y = kernels(X).avg_pool2d_forward(X, k, st, pads)
    out = _wrap(_from_nhwc(Y, fmt))
    if _tapes:
        xshape = X.shape
        record((x,), out, lambda g, n: (
            _from_nhwc(kernels(g).avg_pool2d_backward(_to_nhwc(g, fmt), xshape, k, st, pads), fmt),),
               lambda g, n: (_avg_pool_backprop(g, x._data.shape, k, st, pads, fmt),),
               "avg_pool2d")
    return out


def _avg_pool_backprop(g, xshape, k, st, pads, fmt):
    """avg_pool2d's gradient (an input of shape xshape, in fmt) as a recorded op."""
    xs = _nhwc_shape(xshape, fmt)
    out = _wrap(_from_nhwc(kernels(g._data).avg_pool2d_backward(_to_nhwc(g._data, fmt), xs, k,
                                                                st, pads), fmt))
    if _tapes:
        record((g,), out, lambda h, n: (
            _from_nhwc(kernels(h).avg_pool2d_forward(_to_nhwc(h, fmt), k, st, pads), fmt),),
               lambda h, n: (_avg_pool_core(h, k, st, pads, fmt),), "avg_pool2d_grad")
    return out


def _pool1d(fn, op, input, ksize, strides, padding, data_format):
    x = _float(op, input)
    fmt = _fmt(op, data_format, 3)
    if x._data.ndim != 3:
        raise ValueError(f"[{op}] input must be 3-D (N, W, C), got shape {tuple(x._data.shape)}")
    k = _spatial(op, "ksize", ksize, 1, fmt)[0]
    s = _spatial(op, "strides", strides, 1, fmt, (k,))[0]
    if not isinstance(padding, str):
        raise ValueError(f"[{op}] padding must be 'SAME' or 'VALID', got {padding!r}")
    ax = 1 if fmt == "NWC" else 2
    y = fn(_expand(x, ax), (1, k), (1, s), padding, "NHWC" if fmt == "NWC" else "NCHW")
    return _squeeze(y, ax)


def max_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):
    return _pool1d(max_pool2d, "max_pool1d", input, ksize, strides, padding, data_format)


def avg_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):
    return _pool1d(avg_pool2d, "avg_pool1d", input, ksize, strides, padding, data_format)


def _depth_max_pool(input, k, strides, padding):
    """TF's depthwise max pooling (NHWC, ksize (1, 1, 1, k)): the max over each group of k
    consecutive channels; TF's rules: stride k in depth, 1 elsewhere, k divides the depth."""
    op = "max_pool"
    x = t_(input)
    st = list(strides) if isinstance(strides, (list, tuple)) else [strides] * 4
    shape = tuple(x._data.shape)
    if len(st) != 4 or st[0] != 1 or st[1] != 1 or st[2] != 1 or st[3] != k:
        raise ValueError(f"[{op}] depthwise max pooling (ksize (1, 1, 1, {k})) needs strides "
                         f"(1, 1, 1, {k}), got {strides}")
    if shape[3] % k:
        raise ValueError(f"[{op}] depthwise max pooling: the depth window {k} must divide the "
                         f"input depth {shape[3]} (input shape {shape})")
    if str(padding).upper() != "VALID":
        raise ValueError(f"[{op}] depthwise max pooling needs padding 'VALID', got {padding!r}")
    from .array_ops import reshape
    from .math_ops import reduce_max
    return reduce_max(reshape(x, shape[:3] + (shape[3] // k, k)), axis=-1)


def max_pool(input, ksize, strides, padding, data_format=None, name=None):
    r = t_(input)._data.ndim
    if r == 4 and (data_format or "NHWC") == "NHWC" and isinstance(ksize, (list, tuple)) \
            and len(ksize) == 4 and ksize[3] != 1 and ksize[0] == ksize[1] == ksize[2] == 1:
        return _depth_max_pool(input, int(ksize[3]), strides, padding)
    if r == 4:
        return max_pool2d(input, ksize, strides, padding, data_format or "NHWC")
    if r == 3:
        return max_pool1d(input, ksize, strides, padding, data_format or "NWC")
    raise ValueError(f"[max_pool] input must be 3-D or 4-D, got shape {tuple(t_(input)._data.shape)}")


def avg_pool(input, ksize, strides, padding, data_format=None, name=None):
    r = t_(input)._data.ndim
    if r == 4:
        return avg_pool2d(input, ksize, strides, padding, data_format or "NHWC")
    if r == 3:
        return avg_pool1d(input, ksize, strides, padding, data_format or "NWC")
    raise ValueError(f"[avg_pool] input must be 3-D or 4-D, got shape {tuple(t_(input)._data.shape)}")


# ------------------------------------------------------------------ batch normalisation


def _bn_vec(op, v, name, C, dtype):
    if v is None:
        return None
    v = t_(v) if isinstance(v, Tensor) else t_(_asarray(v, dtype))
    if v._data.shape != (C,):
        raise ValueError(f"[{op}] {name} must have shape ({C},), got {tuple(v._data.shape)}")
    if v._data.dtype != dtype:
        raise TypeError(f"[{op}] {name} dtype {v._data.dtype.name} differs from x {dtype.name}")
    return v


def batch_norm_channels_last(x, gamma, beta, epsilon, training, moving_mean=None,
                             moving_variance=None, axis=-1):
    """Batch normalisation over all axes but `axis` (the layer's kernel call).

    training: y uses the batch statistics; returns (y, batch_mean, batch_var) with the biased
    variance as NumPy arrays. Otherwise y uses moving_mean/moving_variance; returns (y, None,
    None). Gradients flow to x, gamma and beta (statistics are treated as in Keras)."""
    op = "batch_norm"
    x = _float(op, x)
    a = x._data
    if a.ndim < 1:
        raise ValueError(f"[{op}] x must have rank >= 1, got a scalar")
    ax = axis % a.ndim
    moved = ax != a.ndim - 1
    X = contiguous(np.moveaxis(a, ax, -1) if moved else a)
    C = X.shape[-1]
    g = _bn_vec(op, gamma, "gamma", C, X.dtype)
    b = _bn_vec(op, beta, "beta", C, X.dtype)
    G = contiguous(g._data) if g is not None else None
    B = contiguous(b._data) if b is not None else None
    eps = float(epsilon)
    if training:
        Y, mean, var, inv = kernels(X).batch_norm_forward_train(X, G, B, eps)
    else:
        m_ = _asarray(t_(moving_mean)._data if isinstance(moving_mean, Tensor) else moving_mean,
                        X.dtype)
        v_ = _asarray(t_(moving_variance)._data if isinstance(moving_variance, Tensor)
                        else moving_variance, X.dtype)
        if type(X) is not np.ndarray:  # host moving statistics meet a GPU batch: upload them
            m_, v_ = to_device(m_, "cuda"), to_device(v_, "cuda")
        mean, var = contiguous(m_.reshape(C)), contiguous(v_.reshape(C))
        Y = kernels(X).batch_norm_forward_infer(X, G, B, mean, var, eps)
        inv = (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(X.dtype)
    out = _wrap(np.moveaxis(Y, -1, ax) if moved else Y)
    if _tapes:
        inputs = [x]
        if g is not None:
            inputs.append(g)
        if b is not None:
            inputs.append(b)

        def backward(gr, needs):
            GR = contiguous(np.moveaxis(gr, ax, -1) if moved else gr)
            dx, dg, db = kernels(X).batch_norm_backward(GR, X, G, mean, inv, bool(training))
            res = [np.moveaxis(dx, -1, ax) if moved else dx]
            if g is not None:
                res.append(dg)
            if b is not None:
                res.append(db)
            return tuple(res)

        def backward_t(gr, needs):
            from . import math_ops as m
            from .array_ops import reshape
            red = tuple(i for i in range(a.ndim) if i != ax)
            bshape = tuple(C if i == ax else 1 for i in range(a.ndim))
            if training:  # the batch statistics depend on x: recomputed with recorded ops
                xc = m.subtract(x, m.reduce_mean(x, red, keepdims=True))
                inv_t = m.rsqrt(m.add(m.reduce_mean(m.square(xc), red, keepdims=True), eps))
            else:
                inv_t = const_like(inv.reshape(bshape), x)
                xc = m.subtract(x, const_like(mean.reshape(bshape), x))
            xhat = m.multiply(xc, inv_t)
            dxhat = m.multiply(gr, reshape(g, bshape)) if g is not None else gr
            if training:
                dx = m.multiply(inv_t, m.subtract(
                    m.subtract(dxhat, m.reduce_mean(dxhat, red, keepdims=True)),
                    m.multiply(xhat, m.reduce_mean(m.multiply(dxhat, xhat), red,
                                                   keepdims=True))))
            else:
                dx = m.multiply(dxhat, inv_t)
            res = [dx if needs[0] else None]
            k = 1
            if g is not None:
                res.append(m.reduce_sum(m.multiply(gr, xhat), red) if needs[k] else None)
                k += 1
            if b is not None:
                res.append(m.reduce_sum(gr, red) if needs[k] else None)
            return tuple(res)
        record(tuple(inputs), out, backward, backward_t, "batch_norm")
    if training:
        return out, mean, var
    return out, None, None


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, exponential_avg_factor=1.0,
                     name=None):
    """TF's fused batch norm: (y, batch_mean, batch_variance). In training the returned
    variance is Bessel-corrected (as TF's); with exponential_avg_factor < 1 the returned
    statistics are blended with `mean`/`variance` (running averages)."""
    op = "fused_batch_norm"
    x = _float(op, x)
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] x must be 4-D, got shape {tuple(x._data.shape)}")
    fmt = _fmt(op, data_format, 4)
    axis = 1 if fmt == "NCHW" else 3
    if is_training:
        y, m, v = batch_norm_channels_last(x, scale, offset, epsilon, True, axis=axis)
        M = x._data.size // x._data.shape[axis]
        v = v * (M / max(M - 1, 1))
        f = float(exponential_avg_factor)
        if f != 1.0 and mean is not None and variance is not None:
            m = (1 - f) * _asarray(t_(mean)._data) + f * m
            v = (1 - f) * _asarray(t_(variance)._data) + f * v
        return y, _wrap(_asarray(m, x._data.dtype)), _wrap(_asarray(v, x._data.dtype))
    if mean is None or variance is None:
        raise ValueError(f"[{op}] mean and variance are required when is_training=False")
    y, _, _ = batch_norm_channels_last(x, scale, offset, epsilon, False, mean, variance,
                                       axis=axis)
    return y, t_(mean), t_(variance)
