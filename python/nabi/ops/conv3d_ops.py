"""3-D convolution and pooling (`nabi.nn.conv3d`, `conv3d_transpose`, `max_pool3d`,
`avg_pool3d`), TF2 names and semantics, composed from the 2-D ops (no kernels of their own), so
they run and differentiate on every device that runs conv2d and the 2-D pools.

Layout: x (N, D, H, W, C) ('NDHWC', the default) or (N, C, D, H, W) ('NCDHW', transposed to
NDHWC around the composition); conv filters (KD, KH, KW, C_in, C_out); transposed-conv filters
(KD, KH, KW, C_out, C_in), as TF.

- conv3d: depth padded as 'SAME'/'VALID' requires (TF's split: the extra pad at the back); the
  KD strided depth slices x[:, i*dd : i*dd + (Do-1)*sd + 1 : sd] are stacked on the channel
  axis, (N*Do, H, W, KD*C), and convolved once by conv2d with the filter reordered to
  (KH, KW, KD*C, F), which sums over the depth taps inside the GEMM.
- conv3d_transpose: the adjoint of that: conv2d_transpose per (N*Do) slice with the
  (KH, KW, KD*C_out, C_in) filter, then each depth tap's (N, Do, H, W, C_out) block is spread to
  depth positions i*dd + t*sd (zero insertion, then a shift) and the taps are summed; the padded
  borders are cut.
- max_pool3d / avg_pool3d: the 2-D pool over (H, W) on (N*D, H, W, C), then the elementwise
  maximum / the sum of the KD strided depth slices. SAME max pads depth with -inf (padding
  never wins); SAME avg divides by the count of valid depth positions, as the 2-D avg pool
  does in H and W, so the 3-D divisor is the count of valid elements of the box (TF).

Every op checks its arguments before any work (errors start with `[op]`); the gradients come
from the tape through the composing ops (pad, strided slices, concat, reshape, transpose,
conv2d, the 2-D pools, maximum, add_n).
"""
import numpy as np

from ._common import Tensor, t_
from .conv_ops import _float, _same, _spatial
from . import conv_ops as _c2

__all__ = ["conv3d", "conv3d_transpose", "max_pool3d", "avg_pool3d", "convolution",
           "max_pool", "avg_pool"]


# ------------------------------------------------------------------ argument helpers


def _fmt3(op, data_format):
    if data_format is None:
        return "NDHWC"
    f = str(data_format).upper()
    if f not in ("NDHWC", "NCDHW"):
        raise ValueError(f"[{op}] data_format must be 'NDHWC' or 'NCDHW', got {data_format!r}")
    return f


def _check5(op, name, a, fmt):
    if a.ndim != 5:
        layout = "(N, D, H, W, C)" if fmt == "NDHWC" else "(N, C, D, H, W)"
        raise ValueError(f"[{op}] {name} must be 5-D {layout}, got shape {tuple(a.shape)}")


def _padding(op, padding):
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"[{op}] padding must be 'SAME' or 'VALID', got {padding!r}")
    return padding.upper()


def _axis_pads(padding, sizes, ks, st, dl):
    """Per spatial axis (front, back) pads."""
    if padding == "VALID":
        return [(0, 0)] * len(sizes)
    return [_same(n, k, s, d) for n, k, s, d in zip(sizes, ks, st, dl)]


def _check_fits(op, what, sizes, ks, dl, pads, shape, padding):
    eks = [(k - 1) * d + 1 for k, d in zip(ks, dl)]
    padded = [n + p[0] + p[1] for n, p in zip(sizes, pads)]
    if any(e > p for e, p in zip(eks, padded)):
        k_s = "x".join(str(k) for k in ks)
        e_s = "x".join(str(e) for e in eks)
        p_s = "x".join(str(p) for p in padded)
        dil = f" (dilated {e_s})" if e_s != k_s else ""
        raise ValueError(f"[{op}] {what} {k_s}{dil} is larger than the padded input "
                         f"{p_s} (input shape {tuple(shape)}, padding {padding!r})")


def _out_sizes(sizes, ks, st, dl, pads):
    return tuple((n + p[0] + p[1] - (k - 1) * d - 1) // s + 1
                 for n, k, s, d, p in zip(sizes, ks, st, dl, pads))


def _to_ndhwc(x, fmt):
    from .array_ops import transpose
    return transpose(x, (0, 2, 3, 4, 1)) if fmt == "NCDHW" else x


def _from_ndhwc(x, fmt):
    from .array_ops import transpose
    return transpose(x, (0, 4, 1, 2, 3)) if fmt == "NCDHW" else x


def _depth_pad(x, front, back, value=0.0):
    from .array_ops import pad
    if front == 0 and back == 0:
        return x
    return pad(x, [[0, 0], [front, back], [0, 0], [0, 0], [0, 0]], constant_values=value)


def _depth_taps(x, k, s, d, n_out):
    """The k strided depth slices x[:, i*d : i*d + (n_out-1)*s + 1 : s] of a 5-D tensor."""
    from .array_ops import getitem
    span = (n_out - 1) * s + 1
    D = x._data.shape[1]
    out = []
    for i in range(k):
        if i * d == 0 and span == D and s == 1:
            out.append(x)
        else:
            out.append(getitem(x, (slice(None), slice(i * d, i * d + span, s))))
    return out


# ------------------------------------------------------------------ convolution


def conv3d(input, filters, strides, padding, data_format="NDHWC", dilations=None, name=None):
    """3-D convolution (tf.nn.conv3d): input (N, D, H, W, C_in), filters (KD, KH, KW, C_in,
    C_out); strides / dilations an int or 1, 3 or 5 values; padding 'SAME' or 'VALID'."""
    from .array_ops import concat, reshape, transpose
    op = "conv3d"
    x = _float(op, input)
    w = _float(op, filters)
    fmt = _fmt3(op, data_format)
    _check5(op, "input", x._data, fmt)
    if w._data.ndim != 5:
        raise ValueError(f"[{op}] filters must be 5-D (KD, KH, KW, C_in, C_out), got shape "
                         f"{tuple(w._data.shape)}")
    if x._data.dtype != w._data.dtype:
        raise TypeError(f"[{op}] input and filters dtypes differ: {x._data.dtype.name} vs "
                        f"{w._data.dtype.name}")
    st = _spatial(op, "strides", strides, 3, fmt)
    dl = _spatial(op, "dilations", dilations, 3, fmt, 1)
    pad_s = _padding(op, padding)
    shp = tuple(x._data.shape)
    N, D, H, W, C = (shp[0], shp[2], shp[3], shp[4], shp[1]) if fmt == "NCDHW" else shp
    KD, KH, KW, CI, F = w._data.shape
    if min(KD, KH, KW, F) < 1:
        raise ValueError(f"[{op}] filter dimensions must be >= 1, got {tuple(w._data.shape)}")
    if C != CI:
        raise ValueError(f"[{op}] input has {C} channels but filters {tuple(w._data.shape)} "
                         f"expect {CI} (input shape {shp}, data_format {fmt})")
    ks = (KD, KH, KW)
    pads = _axis_pads(pad_s, (D, H, W), ks, st, dl)
    _check_fits(op, "filter", (D, H, W), ks, dl, pads, shp, padding)
    Do, Ho, Wo = _out_sizes((D, H, W), ks, st, dl, pads)

    xl = _to_ndhwc(x, fmt)
    xp = _depth_pad(xl, *pads[0])
    taps = _depth_taps(xp, KD, st[0], dl[0], Do)
    xt = taps[0] if KD == 1 else concat(taps, axis=4)           # (N, Do, H, W, KD*C)
    x2 = reshape(xt, (N * Do, H, W, KD * C))
    w2 = w if KD == 1 else transpose(w, (1, 2, 0, 3, 4))         # (KH, KW, KD, C, F)
    w2 = reshape(w2, (KH, KW, KD * C, F))
    y = _c2.conv2d(x2, w2, st[1:], pad_s, "NHWC", dl[1:])
    y = reshape(y, (N, Do, Ho, Wo, F))
    return _from_ndhwc(y, fmt)


def conv3d_transpose(input, filters, output_shape, strides, padding="SAME",
                     data_format="NDHWC", dilations=None, name=None):
    """Gradient of conv3d w.r.t. its input (tf.nn.conv3d_transpose): input (N, Do, Ho, Wo,
    C_in), filters (KD, KH, KW, C_out, C_in), output_shape the 5 values of the result (in
    data_format's layout); conv3d of the result with `filters` has the shape of `input`."""
    from .array_ops import expand_dims, getitem, pad, reshape, transpose
    from .math_ops import add_n
    op = "conv3d_transpose"
    u = _float(op, input)
    w = _float(op, filters)
    fmt = _fmt3(op, data_format)
    _check5(op, "input", u._data, fmt)
    if w._data.ndim != 5:
        raise ValueError(f"[{op}] filters must be 5-D (KD, KH, KW, C_out, C_in), got shape "
                         f"{tuple(w._data.shape)}")
    if u._data.dtype != w._data.dtype:
        raise TypeError(f"[{op}] input and filters dtypes differ: {u._data.dtype.name} vs "
                        f"{w._data.dtype.name}")
    if isinstance(output_shape, Tensor):
        output_shape = output_shape._data.tolist()
    try:
        oshape = [int(a) for a in np.asarray(output_shape).reshape(-1)]
    except (TypeError, ValueError):
        raise ValueError(f"[{op}] output_shape must be 5 integers, got {output_shape!r}") from None
    if len(oshape) != 5:
        raise ValueError(f"[{op}] output_shape must have 5 values, got {list(oshape)}")
    st = _spatial(op, "strides", strides, 3, fmt)
    dl = _spatial(op, "dilations", dilations, 3, fmt, 1)
    pad_s = _padding(op, padding)
    ushp = tuple(u._data.shape)
    N, Do, Ho, Wo, CIu = (ushp[0], ushp[2], ushp[3], ushp[4], ushp[1]) if fmt == "NCDHW" \
        else ushp
    ON, D, H, W, CO = (oshape[0], oshape[2], oshape[3], oshape[4], oshape[1]) \
        if fmt == "NCDHW" else tuple(oshape)
    KD, KH, KW, CO_, CI_ = w._data.shape
    if min(KD, KH, KW) < 1:
        raise ValueError(f"[{op}] filter dimensions must be >= 1, got {tuple(w._data.shape)}")
    if ON != N:
        raise ValueError(f"[{op}] output_shape {tuple(oshape)} has batch {ON} but input "
                         f"{ushp} has batch {N}")
    if CO != CO_ or CIu != CI_:
        raise ValueError(f"[{op}] filters {tuple(w._data.shape)} (KD, KH, KW, C_out, C_in) do "
                         f"not match input channels {CIu} (input shape {ushp}) and output "
                         f"channels {CO} (output_shape {tuple(oshape)})")
    if min(D, H, W) < 1:
        raise ValueError(f"[{op}] output_shape must have positive spatial sizes, got "
                         f"{tuple(oshape)}")
    ks = (KD, KH, KW)
    pads = _axis_pads(pad_s, (D, H, W), ks, st, dl)
    _check_fits(op, "filter", (D, H, W), ks, dl, pads, tuple(oshape), padding)
    exp = _out_sizes((D, H, W), ks, st, dl, pads)
    if exp != (Do, Ho, Wo):
        raise ValueError(f"[{op}] input spatial shape {(Do, Ho, Wo)} does not match "
                         f"output_shape {tuple(oshape)} (expected {exp}; input shape {ushp}, "
                         f"padding {padding!r}, strides {list(st)})")

    ul = _to_ndhwc(u, fmt)
    u2 = reshape(ul, (N * Do, Ho, Wo, CI_))
    w2 = w if KD == 1 else transpose(w, (1, 2, 0, 3, 4))         # (KH, KW, KD, C_out, C_in)
    w2 = reshape(w2, (KH, KW, KD * CO, CI_))
    y = _c2.conv2d_transpose(u2, w2, (N * Do, H, W, KD * CO), st[1:], pad_s, "NHWC", dl[1:])
    y = reshape(y, (N, Do, H, W, KD, CO))
    z = transpose(y, (4, 0, 1, 2, 3, 5))                          # (KD, N, Do, H, W, C_out)
    sd, dd = st[0], dl[0]
    span = (Do - 1) * sd + 1
    if sd > 1:  # zero insertion: tap block t lands at depth t*sd
        z = expand_dims(z, 3)
        z = pad(z, [[0, 0]] * 3 + [[0, sd - 1]] + [[0, 0]] * 3)
        z = reshape(z, (KD, N, Do * sd, H, W, CO))
        z = getitem(z, (slice(None), slice(None), slice(0, span)))
    pf, pb = pads[0]
    Dp = D + pf + pb
    parts = []
    for i in range(KD):
        zi = getitem(z, i)                                        # (N, span, H, W, C_out)
        parts.append(_depth_pad(zi, i * dd, Dp - i * dd - span))
    full = parts[0] if KD == 1 else add_n(parts)
    if pf or pb:
        full = getitem(full, (slice(None), slice(pf, pf + D)))
    return _from_ndhwc(full, fmt)


# ------------------------------------------------------------------ pooling


def _pool3d(op, input, ksize, strides, padding, data_format, is_max):
    from .array_ops import reshape
    from . import math_ops as _m
    x = _float(op, input)
    fmt = _fmt3(op, data_format)
    _check5(op, "input", x._data, fmt)
    k = _spatial(op, "ksize", ksize, 3, fmt)
    st = _spatial(op, "strides", strides, 3, fmt)
    pad_s = _padding(op, padding)
    shp = tuple(x._data.shape)
    N, D, H, W, C = (shp[0], shp[2], shp[3], shp[4], shp[1]) if fmt == "NCDHW" else shp
    pads = _axis_pads(pad_s, (D, H, W), k, st, (1, 1, 1))
    _check_fits(op, "window", (D, H, W), k, (1, 1, 1), pads, shp, padding)
    Do, Ho, Wo = _out_sizes((D, H, W), k, st, (1, 1, 1), pads)

    xl = _to_ndhwc(x, fmt)
    pool2d = _c2.max_pool2d if is_max else _c2.avg_pool2d
    y = pool2d(reshape(xl, (N * D, H, W, C)), k[1:], st[1:], pad_s, "NHWC")
    y = reshape(y, (N, D, Ho, Wo, C))
    pf, pb = pads[0]
    kd, sd = k[0], st[0]
    if kd == 1 and sd == 1:
        return _from_ndhwc(y, fmt)
    yp = _depth_pad(y, pf, pb, -np.inf if is_max else 0.0)
    taps = _depth_taps(yp, kd, sd, 1, Do)
    if is_max:
        out = taps[0]
        for t in taps[1:]:
            out = _m.maximum(out, t)
    else:
        out = taps[0] if kd == 1 else _m.add_n(taps)
        starts = np.arange(Do) * sd - pf                     # window [start, start + kd)
        cnt = np.minimum(starts + kd, D) - np.maximum(starts, 0)
        if (cnt != 1).any():
            inv = (1.0 / cnt).astype(x._data.dtype).reshape(1, Do, 1, 1, 1)
            out = _m.multiply(out, inv)
    return _from_ndhwc(out, fmt)


def max_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):
    """3-D max pooling (tf.nn.max_pool3d) over (D, H, W) windows; ksize / strides an int or 1,
    3 or 5 values; 'SAME' windows ignore the padded positions."""
    return _pool3d("max_pool3d", input, ksize, strides, padding, data_format, True)


def avg_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):
    """3-D average pooling (tf.nn.avg_pool3d); 'SAME' windows divide by their count of valid
    (unpadded) elements, as TF."""
    return _pool3d("avg_pool3d", input, ksize, strides, padding, data_format, False)


# ---------------------------------------------- rank-generic entries, extended to rank 5


def _rank_check(op, input):
    shp = tuple(t_(input)._data.shape)
    if len(shp) not in (3, 4, 5):
        raise ValueError(f"[{op}] input must be 3-D, 4-D or 5-D, got shape {shp}")


def convolution(input, filters, strides=None, padding="VALID", data_format=None, dilations=None,
                name=None):
    """N-D convolution for N = 1, 2 or 3 (rank 3, 4 or 5 input), as tf.nn.convolution."""
    _rank_check("convolution", input)
    if t_(input)._data.ndim == 5:
        return conv3d(input, filters, strides or 1, padding, data_format or "NDHWC", dilations)
    return _c2.convolution(input, filters, strides, padding, data_format, dilations)


def max_pool(input, ksize, strides, padding, data_format=None, name=None):
    """tf.nn.max_pool: rank 3, 4 or 5 input."""
    _rank_check("max_pool", input)
    if t_(input)._data.ndim == 5:
        return max_pool3d(input, ksize, strides, padding, data_format or "NDHWC")
    return _c2.max_pool(input, ksize, strides, padding, data_format)


def avg_pool(input, ksize, strides, padding, data_format=None, name=None):
    """tf.nn.avg_pool: rank 3, 4 or 5 input."""
    _rank_check("avg_pool", input)
    if t_(input)._data.ndim == 5:
        return avg_pool3d(input, ksize, strides, padding, data_format or "NDHWC")
    return _c2.avg_pool(input, ksize, strides, padding, data_format)
