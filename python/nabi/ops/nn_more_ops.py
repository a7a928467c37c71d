"""tf.nn.dilation2d / erosion2d (grayscale morphology), atrous_conv2d / atrous_conv2d_transpose,
the generic N-d tf.nn.pool and tf.nn.conv_transpose.

  * dilation2d: out[b, y, x, c] = max over taps (dy, dx) of
    input[b, y*sh + dy*rh - pad_top, x*sw + dx*rw - pad_left, c] + filters[dy, dx, c], taps that
    fall outside the input skipped (a window with none gives the dtype's lowest value, as TF).
    Host tensors: NumPy (`extra_math_ops._host_op`) from a (B, OH, OW, taps, C) gather; the
    gradient goes, as TF's Dilation2DBackprop*, to the first maximizing tap: the input element
    it read and the filter tap. GPU tensors: csrc/cuda/morphology.cu (cuda_backend.dilation2d
    and dilation2d_grad: the same values; the gradient deterministic, gx with the host bits),
    nothing read back.
  * erosion2d(value, filters) = -dilation2d(-value, filters reversed in both spatial axes), TF's
    own definition (so its gradient is dilation2d's).
  * atrous_conv2d / _transpose: conv2d / conv2d_transpose with stride 1 and dilations = rate.
  * pool: max or average pooling over 1-3 spatial axes; without dilation nabi's max_pool*d /
    avg_pool*d; with dilation (TF allows it only with stride 1 and 'VALID') the windows are
    gathered through a flat index table and reduced (reduce_max / reduce_mean).
  * conv_transpose: conv1d/2d/3d_transpose by the input's rank.
"""
import numpy as np

from ..framework.device import DeviceArray, backend, to_device
from ..framework.tape import record
from ._common import Tensor, _wrap, t_
from . import array_ops as _a
from . import math_ops as _m
from .extra_math_ops import _host_op


def _four(op, name, v):
    if isinstance(v, int):
        v = [1, v, v, 1]
    v = [int(e) for e in v]
    if len(v) == 2:
        v = [1] + v + [1]
    if len(v) != 4 or v[0] != 1 or v[3] != 1 or min(v) < 1:
        raise ValueError(f"[{op}] {name} must be 4 positive values [1, h, w, 1], got {v}")
    return v[1], v[2]


def _same_pad(n, k_eff, s):
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return out, total // 2


def dilation2d(input, filters, strides, padding, data_format, dilations, name=None):  # noqa: A002
    """Grayscale morphological dilation of NHWC input by filters (KH, KW, C)."""
    op = "dilation2d"
    x, f = t_(input), t_(filters)
    if data_format != "NHWC":
        raise ValueError(f"[{op}] data_format must be 'NHWC', got {data_format!r}")
    xs, fs = tuple(x._data.shape), tuple(f._data.shape)
    if len(xs) != 4 or len(fs) != 3:
        raise ValueError(f"[{op}] input must be 4-D (N, H, W, C) and filters 3-D (KH, KW, C), "
                         f"got {xs} and {fs}")
    if xs[3] != fs[2]:
        raise ValueError(f"[{op}] input and filters must have the same depth: input {xs}, "
                         f"filters {fs}")
    if x._data.dtype != f._data.dtype or x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] input {x._data.dtype.name} {xs} and filters "
                        f"{f._data.dtype.name} {fs} must be one float dtype")
    if type(x._data) is not type(f._data):
        raise ValueError(f"[{op}] input {x.device} {xs} and filters {f.device} {fs} are on "
                         "different devices")
    sh, sw = _four(op, "strides", strides)
    rh, rw = _four(op, "dilations", dilations)
    B, H, W, C = xs
    kh, kw = fs[0], fs[1]
    eh, ew = (kh - 1) * rh + 1, (kw - 1) * rw + 1
    pad = str(padding).upper()
    if pad == "SAME":
        (oh, pt), (ow, pl) = _same_pad(H, eh, sh), _same_pad(W, ew, sw)
    elif pad == "VALID":
        if H < eh or W < ew:
            raise ValueError(f"[{op}] the dilated filter ({eh}, {ew}) is larger than the input "
                             f"{xs} with 'VALID' padding")
        oh, ow, pt, pl = (H - eh) // sh + 1, (W - ew) // sw + 1, 0, 0
    else:
        raise ValueError(f"[{op}] padding must be 'SAME' or 'VALID', got {padding!r}")
    if type(x._data) is DeviceArray:
        return _dilation2d_gpu(x, f, (sh, sw), (rh, rw), (pt, pl), (oh, ow))
    iy = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * rh - pt  # (oh, kh)
    ix = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * rw - pl  # (ow, kw)
    vy, vx = (iy >= 0) & (iy < H), (ix >= 0) & (ix < W)
    cy, cx = np.clip(iy, 0, H - 1), np.clip(ix, 0, W - 1)
    valid = (vy[:, None, :, None] & vx[None, :, None, :]).reshape(oh, ow, kh * kw)
    # TF's fallback when no tap is inside: input (max(h_beg, 0), max(w_beg, 0)), filter (0, 0)
    dy0 = np.minimum(np.maximum(np.arange(oh) * sh - pt, 0), H - 1)
    dx0 = np.minimum(np.maximum(np.arange(ow) * sw - pl, 0), W - 1)

    def taps(hx, hf):
        p = hx[:, cy][:, :, :, cx]  # (B, oh, kh, ow, kw, C)
        p = p.transpose(0, 1, 3, 2, 4, 5).reshape(B, oh, ow, kh * kw, C)
        v = p + hf.reshape(1, 1, 1, kh * kw, C)
        return np.where(valid[None, :, :, :, None], v, -np.inf)

    def fwd(hx, hf):
        v = taps(hx, hf)
        out = v.max(axis=3) if kh * kw else np.full((B, oh, ow, C), -np.inf)
        return np.where(np.isneginf(out), np.finfo(hx.dtype).min, out).astype(hx.dtype)

    def bwd(g, hx, hf, out):
        v = taps(hx, hf)
        arg = v.argmax(axis=3)  # (B, oh, ow, C): the first maximizing tap
        none = np.isneginf(v.max(axis=3))
        ty, tx = arg // kw, arg % kw
        oy = np.arange(oh)[None, :, None, None]
        ox = np.arange(ow)[None, None, :, None]
        yy = np.where(none, dy0[oy], cy[oy, ty])
        xx = np.where(none, dx0[ox], cx[ox, tx])
        ty, tx = np.where(none, 0, ty), np.where(none, 0, tx)
        bb = np.arange(B)[:, None, None, None]
        cc = np.arange(C)[None, None, None, :]
        bb, yy, xx, cc = np.broadcast_arrays(bb, yy, xx, cc)
        gx = np.zeros(xs, g.dtype)
        np.add.at(gx, (bb, yy, xx, cc), g)
        gf = np.zeros(fs, g.dtype)
        np.add.at(gf, (ty, tx, np.broadcast_to(cc, ty.shape)), g)
        return gx, gf
    return _host_op(op, [x, f], fwd, bwd)


def _dilation2d_gpu(x, f, strides, rates, pads, out_hw):
    """dilation2d of GPU tensors by csrc/cuda/morphology.cu (same values as the host path);
    the gradient (dilation2d_grad: the first maximizing tap) stays on the device too."""
    be = backend()
    y = _wrap(DeviceArray(be.dilation2d(x._data.buf, f._data.buf, strides, rates, pads,
                                        out_hw)))

    def backward(g, needs):
        g = to_device(g, "cuda")
        if g.dtype != x._data.dtype:
            g = DeviceArray(be.cast(g.buf, x._data.dtype.name))
        gx, gf = be.dilation2d_grad(x._data.buf, f._data.buf, g.buf, strides, rates, pads)
        return DeviceArray(gx), DeviceArray(gf)
    record((x, f), y, backward, None, "dilation2d")
    return y


def erosion2d(value, filters, strides, padding, data_format, dilations, name=None):
    """Grayscale morphological erosion: -dilation2d(-value, filters reversed spatially)."""
    f = t_(filters)
    if f._data.ndim == 3:
        f = _a.reverse(f, [0, 1])
    return _m.negative(dilation2d(_m.negative(t_(value)), f, strides, padding, data_format,
                                  dilations))


def _rate(op, rate):
    if isinstance(rate, Tensor):
        rate = rate.numpy()
    r = int(np.asarray(rate).reshape(-1)[0]) if np.ndim(rate) else int(rate)
    if r < 1:
        raise ValueError(f"[{op}] rate {rate} cannot be less than one")
    return r


def atrous_conv2d(value, filters, rate, padding, name=None):
    """2-D convolution with holes: conv2d(value, filters, 1, padding, dilations=rate)."""
    from .conv_ops import conv2d
    r = _rate("atrous_conv2d", rate)
    return conv2d(value, filters, strides=1, padding=padding, dilations=r)


def atrous_conv2d_transpose(value, filters, output_shape, rate, padding, name=None):
    """The transpose of atrous_conv2d: conv2d_transpose with stride 1 and dilations = rate;
    filters (KH, KW, out_channels, in_channels)."""
    from .conv_ops import conv2d_transpose
    op = "atrous_conv2d_transpose"
    r = _rate(op, rate)
    v, f = t_(value), t_(filters)
    vs, fs = tuple(v._data.shape), tuple(f._data.shape)
    if len(vs) != 4 or len(fs) != 4 or vs[3] != fs[3]:
        raise ValueError(f"[{op}] value (N, H, W, C_in) {vs} and filters (KH, KW, C_out, C_in) "
                         f"{fs} must agree on C_in")
    osh = [int(e) for e in (output_shape.numpy() if isinstance(output_shape, Tensor)
                            else output_shape)]
    if len(osh) != 4 or osh[3] != fs[2]:
        raise ValueError(f"[{op}] output_shape {osh} must be 4 values ending in filters' "
                         f"C_out {fs[2]}")
    return conv2d_transpose(v, f, osh, strides=1, padding=padding, dilations=r)


def _n_list(op, name, v, n, default=1):
    if v is None:
        return [default] * n
    if isinstance(v, int):
        return [int(v)] * n
    v = [int(e) for e in v]
    if len(v) != n:
        raise ValueError(f"[{op}] {name} must have {n} values (one per spatial axis), got {v}")
    return v


def pool(input, window_shape, pooling_type, strides=None, padding="VALID",  # noqa: A002
         data_format=None, dilations=None, name=None):
    """Max ("MAX") or average ("AVG") pooling over N = len(window_shape) spatial axes (1-3),
    optionally dilated (then strides must be 1 and padding 'VALID', as TF)."""
    from . import conv_ops as _c
    from . import conv3d_ops as _c3
    op = "pool"
    x = t_(input)
    n = len(window_shape)
    if not 1 <= n <= 3 or x._data.ndim != n + 2:
        raise ValueError(f"[{op}] input must have rank len(window_shape) + 2 with 1 to 3 spatial "
                         f"axes, got input {tuple(x._data.shape)} and window {list(window_shape)}")
    if pooling_type not in ("MAX", "AVG"):
        raise ValueError(f"[{op}] pooling_type must be 'MAX' or 'AVG', got {pooling_type!r}")
    win = _n_list(op, "window_shape", window_shape, n)
    st = _n_list(op, "strides", strides, n)
    dil = _n_list(op, "dilations", dilations, n)
    if min(win + st + dil) < 1:
        raise ValueError(f"[{op}] window_shape {win}, strides {st} and dilations {dil} must be "
                         "positive")
    pad = str(padding).upper()
    if pad not in ("SAME", "VALID"):
        raise ValueError(f"[{op}] padding must be 'SAME' or 'VALID', got {padding!r}")
    first = data_format is not None and str(data_format).startswith("NC")
    if any(d > 1 for d in dil):
        if any(s > 1 for s in st):
            raise ValueError(f"[{op}] strides > 1 are not supported with dilations > 1: strides "
                             f"{st}, dilations {dil}")
        if pad != "VALID":
            raise ValueError(f"[{op}] 'SAME' padding is not implemented for dilations > 1 "
                             f"(dilations {dil}), as TF")
    if any(s > w for s, w in zip(st, win)):
        raise ValueError(f"[{op}] strides {st} > window_shape {win} are not supported, as TF")
    if all(d == 1 for d in dil):
        fmt = data_format or {1: "NWC", 2: "NHWC", 3: "NDHWC"}[n]
        fn = {(1, "MAX"): _c.max_pool1d, (1, "AVG"): _c.avg_pool1d,
              (2, "MAX"): _c.max_pool2d, (2, "AVG"): _c.avg_pool2d,
              (3, "MAX"): _c3.max_pool3d, (3, "AVG"): _c3.avg_pool3d}[(n, pooling_type)]
        return fn(x, win, st, pad, fmt)
    if first:
        x = _a.transpose(x, [0] + list(range(2, n + 2)) + [1])
    shp = tuple(x._data.shape)
    sp = shp[1:-1]
    eff = [(w - 1) * d + 1 for w, d in zip(win, dil)]
    if any(s < e for s, e in zip(sp, eff)):
        raise ValueError(f"[{op}] the dilated window {eff} is larger than the input's spatial "
                         f"shape {list(sp)}")
    outs = [s - e + 1 for s, e in zip(sp, eff)]
    # flat index table (*outs, *win): sum over axes of (o + k d) * stride_of_axis
    strides_flat = np.cumprod((sp[1:] + (1,))[::-1])[::-1]
    tab = np.zeros(tuple(outs) + tuple(win), np.int64)
    for i in range(n):
        o = np.arange(outs[i]).reshape([-1 if j == i else 1 for j in range(n)] + [1] * n)
        k = np.arange(win[i]).reshape([1] * n + [-1 if j == i else 1 for j in range(n)])
        tab = tab + (o + k * dil[i]) * int(strides_flat[i])
    flat = _a.reshape(x, (shp[0], int(np.prod(sp)), shp[-1]))
    g = _a.gather(flat, tab, axis=1)  # (B, *outs, *win, C)
    axes = list(range(n + 1, 2 * n + 1))
    y = _m.reduce_max(g, axis=axes) if pooling_type == "MAX" else _m.reduce_mean(g, axis=axes)
    if first:
        y = _a.transpose(y, [0, n + 1] + list(range(1, n + 1)))
    return y


def conv_transpose(input, filters, output_shape, strides, padding="SAME",  # noqa: A002
                   data_format=None, dilations=None, name=None):
    """conv1d_transpose / conv2d_transpose / conv3d_transpose by the input's rank (3, 4, 5)."""
    from . import conv_ops as _c
    from . import conv3d_ops as _c3
    x = t_(input)
    r = x._data.ndim
    if r not in (3, 4, 5):
        raise ValueError(f"[conv_transpose] input must have rank 3, 4 or 5 (1-3 spatial axes), "
                         f"got shape {tuple(x._data.shape)}")
    n = r - 2
    fmt = data_format or {1: "NWC", 2: "NHWC", 3: "NDHWC"}[n]
    fn = {1: _c.conv1d_transpose, 2: _c.conv2d_transpose, 3: _c3.conv3d_transpose}[n]
    return fn(x, filters, output_shape, strides, padding=padding, data_format=fmt,
              dilations=dilations)


__all__ = ["dilation2d", "erosion2d", "atrous_conv2d", "atrous_conv2d_transpose", "pool",
           "conv_transpose"]
