"""TF 2 math and array ops that notebooks reach for beyond the core set: inverse trig and
hyperbolic functions, lgamma/digamma/erfc/erfinv/ndtri, xlogy/xdivy/xlog1py,
multiply_no_nan/reciprocal_no_nan, truncatediv/truncatemod, roll, repeat,
reduce_euclidean_norm, cumulative_logsumexp, zero_fraction, the remaining segment
reductions, tensor_scatter_nd_max/min, and small shape helpers.

Elementwise ops with a device kernel run through math_ops' `_unary` / `_binary` (so they run
where their input lives); the special functions live in special_ops (a CUDA kernel on the GPU);
the min/max/prod reductions compute on the host in float64 (`_host_op`: copy in, NumPy, copy
back), with analytic gradients.
roll and repeat are compositions of slicing, concat and gather, so their gradients come from
those ops.
"""
import builtins as _b

import numpy as np

from .. import dtypes as _dt
from ..framework.device import DeviceArray, add_at, backend, to_device
from ._common import (Tensor, _tapes, _wrap, binary_operands, is_float, operand_like, record,
                      t_)
from . import math_ops as _m
from . import array_ops as _a
from .segment_ops import _check_data, _device_ids, _host_ints, _take0, check_unsorted_ids
from .segment_ops import segment_counts, sorted_ids
from . import gpu_index_extra as _gx

# ------------------------------------------------------------------------------ helpers


def _host(a):
    return to_device(a, "cpu") if type(a) is DeviceArray else a


def _like(arr, like):
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        arr = arr.copy()
    return to_device(arr, "cuda") if type(like) is DeviceArray else arr


def _host_op(op, inputs, fwd, bwd=None, bwd_t=None):
    """Runs fwd(*host arrays) -> host array on the host and places the result on the first
    input's device; bwd(g, *host arrays, out) -> per-input host gradients (or None)."""
    xs = [t_(x) for x in inputs]
    dev = xs[0]._data
    hs = [_host(x._data) for x in xs]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = fwd(*hs)
    out = _wrap(_like(r, dev))
    if _tapes and bwd is not None and is_float(r):
        def backward(g, needs):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                gs = bwd(_host(g), *hs, r)
            return tuple(None if gi is None else _like(np.asarray(gi, dtype=g.dtype), g)
                         for gi in gs)
        backward_t = None
        if bwd_t is not None:
            def backward_t(g, needs):
                return bwd_t(g, *xs, out)
        record(tuple(xs), out, backward, backward_t, op)
    return out


def _float_in(op, x):
    x = t_(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] expects a float tensor, got {x._data.dtype.name} of shape "
                        f"{tuple(x._data.shape)}")
    return x


# --------------------------------------------------------------- trig / hyperbolic (device)


def asin(x, name=None):
    return _m._unary("asin", x, np.arcsin, lambda g, a, o: g / np.sqrt(1 - a * a),
                     lambda g, x, o: _m.multiply(g, _m.rsqrt(_m.subtract(1.0, _m.square(x)))))


def acos(x, name=None):
    return _m._unary("acos", x, np.arccos, lambda g, a, o: -g / np.sqrt(1 - a * a),
                     lambda g, x, o: _m.negative(_m.multiply(
                         g, _m.rsqrt(_m.subtract(1.0, _m.square(x))))))


def atan(x, name=None):
    return _m._unary("atan", x, np.arctan, lambda g, a, o: g / (1 + a * a),
                     lambda g, x, o: _m.divide(g, _m.add(_m.square(x), 1.0)))


def sinh(x, name=None):
    return _m._unary("sinh", x, np.sinh, lambda g, a, o: g * np.cosh(a),
                     lambda g, x, o: _m.multiply(g, cosh(x)))


def cosh(x, name=None):
    return _m._unary("cosh", x, np.cosh, lambda g, a, o: g * np.sinh(a),
                     lambda g, x, o: _m.multiply(g, sinh(x)))


def asinh(x, name=None):
    return _m._unary("asinh", x, np.arcsinh, lambda g, a, o: g / np.sqrt(a * a + 1),
                     lambda g, x, o: _m.multiply(g, _m.rsqrt(_m.add(_m.square(x), 1.0))))


def acosh(x, name=None):
    # 1 / (sqrt(x - 1) sqrt(x + 1)): sqrt(x^2 - 1) for a real x > 1 (without its cancellation
    # near 1), and acosh's derivative for a complex x (a square root of x^2 - 1 with its sign)
    return _m._unary("acosh", x, np.arccosh,
                     lambda g, a, o: g / (np.sqrt(a - 1) * np.sqrt(a + 1)),
                     lambda g, x, o: _m.multiply(g, _m.rsqrt(_m.subtract(_m.square(x), 1.0))))


def atanh(x, name=None):
    return _m._unary("atanh", x, np.arctanh, lambda g, a, o: g / (1 - a * a),
                     lambda g, x, o: _m.divide(g, _m.subtract(1.0, _m.square(x))))


def rint(x, name=None):
    return _m._unary("rint", x, np.rint, lambda g, a, o: g * 0, _m._zero_t)


def reciprocal_no_nan(x, name=None):
    """1 / x, and 0 where x == 0."""
    def fwd(a):
        z = a == 0
        return np.where(z, np.zeros((), a.dtype), 1 / np.where(z, np.ones((), a.dtype), a))
    return _m._unary("reciprocal_no_nan", x, fwd, lambda g, a, o: -g * o * o,
                     lambda g, x, o: _m.negative(_m.multiply(g, _m.square(o))))


# ------------------------------------------------------------------ special functions
# lgamma, digamma, erf, erfc, erfinv, ndtri: special_ops (the CUDA kernel of csrc/cuda/special.cu
# for GPU tensors, float64 NumPy on the CPU), re-exported here under their old home.
from .special_ops import digamma, erf, erfc, erfinv, lgamma, ndtri  # noqa: E402,F401


# -------------------------------------------------------------------- binary (device)


def _nz(a):
    return np.not_equal(a, np.zeros((), a.dtype))


def _quiet(f):
    """Runs a forward/backward rule with NumPy's invalid/divide warnings off (the masked-out
    lanes may hold log(-1) or inf * 0)."""
    def g(*args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return f(*args)
    return g


def xlogy(x, y, name=None):
    """x * log(y), and 0 where x == 0 (even where y == 0)."""
    def fwd(a, b):
        return a * np.log(np.where(_nz(a), b, np.ones((), b.dtype)))

    def bwd(g, a, b, o, n):
        z = np.zeros((), g.dtype)
        sb = np.where(_nz(a), b, np.ones((), b.dtype))
        return (np.where(_nz(a), g * np.log(sb), z) if n[0] else None,
                np.where(_nz(a), g * a / sb, z) if n[1] else None)
    def bwd_t(g, x, y, o, n):  # g log(y) and g x / y where x != 0, with the ops themselves
        return (_m.multiply(g, xlogy(_nz_t(x, g), y)) if n[0] else None,
                _m.multiply(g, xdivy(x, y)) if n[1] else None)
    return _m._binary("xlogy", x, y, _quiet(fwd), _quiet(bwd), bwd_t)


def xlog1py(x, y, name=None):
    """x * log1p(y), and 0 where x == 0."""
    def fwd(a, b):
        return a * np.log1p(np.where(_nz(a), b, np.zeros((), b.dtype)))

    def bwd(g, a, b, o, n):
        z = np.zeros((), g.dtype)
        sb = np.where(_nz(a), b, np.zeros((), b.dtype))
        return (np.where(_nz(a), g * np.log1p(sb), z) if n[0] else None,
                np.where(_nz(a), g * a / (1 + sb), z) if n[1] else None)
    def bwd_t(g, x, y, o, n):
        return (_m.multiply(g, xlog1py(_nz_t(x, g), y)) if n[0] else None,
                _m.multiply(g, xdivy(x, _m.add(y, 1.0))) if n[1] else None)
    return _m._binary("xlog1py", x, y, _quiet(fwd), _quiet(bwd), bwd_t)


def xdivy(x, y, name=None):
    """x / y, and 0 where x == 0 (even where y == 0)."""
    def fwd(a, b):
        return a / np.where(_nz(a), b, np.ones((), b.dtype))

    def bwd(g, a, b, o, n):
        z = np.zeros((), g.dtype)
        sb = np.where(_nz(a), b, np.ones((), b.dtype))
        return (np.where(_nz(a), g / sb, z) if n[0] else None,
                np.where(_nz(a), -g * a / (sb * sb), z) if n[1] else None)
    def bwd_t(g, x, y, o, n):
        return (_m.multiply(g, xdivy(_nz_t(x, g), y)) if n[0] else None,
                _m.negative(_m.multiply(g, xdivy(x, _m.square(y)))) if n[1] else None)
    return _m._binary("xdivy", x, y, _quiet(fwd), _quiet(bwd), bwd_t)


def multiply_no_nan(x, y, name=None):
    """x * y, and 0 where y == 0 (even where x is inf or NaN)."""
    def fwd(a, b):
        return np.where(_nz(b), a * b, np.zeros((), a.dtype))

    def bwd(g, a, b, o, n):
        z = np.zeros((), g.dtype)
        return (np.where(_nz(b), g * b, z) if n[0] else None,
                np.where(_nz(g), a * g, z) if n[1] else None)
    def bwd_t(g, x, y, o, n):
        return (multiply_no_nan(g, y) if n[0] else None,
                multiply_no_nan(x, g) if n[1] else None)
    return _m._binary("multiply_no_nan", x, y, _quiet(fwd), _quiet(bwd), bwd_t)


def _nz_t(x, like):
    """1 where the Tensor x is non-zero, else 0: a constant in like's dtype (the masks of the
    x*f(y) ops' second-order rules; their derivative in x is zero)."""
    return _m._zero_grad_step(_nz(x._data), like, (x,))


def _int_operands(op, x, y):
    x, y = binary_operands(op, x, y)
    a, b = _host(x._data), _host(y._data)
    _m.broadcast_shape(op, a.shape, b.shape)
    if a.dtype.kind in "iu" and np.any(b == 0):
        raise ZeroDivisionError(f"[{op}] integer division by zero (x {tuple(a.shape)}, "
                                f"y {tuple(b.shape)})")
    return x, y, a, b


def _trunc_gpu(op, x, y):
    """The operands when either is a GPU tensor of a kernel dtype (else None): truncatediv /
    integer truncatemod then run on the binary_extra kernel (gpu_index_extra)."""
    x, y = binary_operands(op, x, y)
    a, b = x._data, y._data
    if not _gx.gpu_ok(a, b):
        return None
    _m.broadcast_shape(op, a.shape, b.shape)
    return x, y


def truncatediv(x, y, name=None):
    """x / y rounded toward zero (C semantics); floats too (TF: truncatediv(7.5, 2.) is 3.0,
    where nabi divided exactly), with no gradient (TF registers none). GPU tensors run the
    binary_extra kernel (integers read back one bool: whether some divisor is 0)."""
    xy = _trunc_gpu("truncatediv", x, y)
    if xy is not None:
        return _gx.binary_extra("truncatediv", xy[0]._data, xy[1]._data)
    x, y, a, b = _int_operands("truncatediv", x, y)
    if a.dtype.kind == "f":
        with np.errstate(divide="ignore", invalid="ignore"):
            return _wrap(_like(np.trunc(np.true_divide(a, b)).astype(a.dtype), x._data))
    q = (np.abs(a) // np.abs(b)) * np.sign(a) * np.sign(b)
    return _wrap(_like(q.astype(a.dtype), x._data))


def truncatemod(x, y, name=None):
    """The remainder of truncatediv: x - y * trunc(x / y), with the sign of x (C fmod).
    Integer GPU tensors run the binary_extra kernel; float ones the device ops below."""
    xy = _trunc_gpu("truncatemod", x, y)
    if xy is not None:
        x, y = xy
        if x._data.dtype.kind != "f":
            return _gx.binary_extra("truncatemod", x._data, y._data)
        a = b = x._data
    else:
        x, y, a, b = _int_operands("truncatemod", x, y)
    if a.dtype.kind != "f":
        return _wrap(_like(np.fmod(a, b).astype(a.dtype), x._data))
    q = _m.divide(x, y)
    t = _m.multiply(_m.sign(q), _m.floor(_m.abs(q)))
    return _m.subtract(x, _m.multiply(y, t))


def scalar_mul(scalar, x, name=None):
    return _m.multiply(x, scalar)


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    return _m.add_n(inputs)


# ----------------------------------------------------------------------- array (composed)


def _int_list(op, name, v):
    a = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
    if a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] {name} must be integers, got {a.dtype.name}")
    return [int(i) for i in a.reshape(-1)], a.ndim


def roll(input, shift, axis, name=None):  # noqa: A002
    """Elements shifted `shift` places along `axis` (lists pair up; shifts on the same axis
    add up), those leaving one end coming back at the other."""
    x = t_(input)
    nd = x._data.ndim
    shifts, sd = _int_list("roll", "shift", shift)
    axes, ad = _int_list("roll", "axis", axis)
    if sd > 1 or ad > 1 or len(shifts) != len(axes):
        raise ValueError(f"[roll] shift {shifts} and axis {axes} must be scalars or 1-D lists "
                         "of the same length")
    total = {}
    for s, ax in zip(shifts, axes):
        if not -nd <= ax < nd:
            raise ValueError(f"[roll] axis {ax} is out of range for shape "
                             f"{tuple(x._data.shape)}")
        total[ax % nd] = total.get(ax % nd, 0) + s
    out = x
    for ax, s in sorted(total.items()):
        n = x._data.shape[ax]
        k = s % n if n else 0
        if k == 0:
            continue
        lo = [_b.slice(None)] * nd
        hi = [_b.slice(None)] * nd
        lo[ax] = _b.slice(n - k, n)
        hi[ax] = _b.slice(0, n - k)
        out = _a.concat([_a.getitem(out, tuple(lo)), _a.getitem(out, tuple(hi))], axis=ax)
    return out if out is not x else _a.identity(x)


def repeat(input, repeats, axis=None, name=None):  # noqa: A002
    """Each element repeated `repeats` times (a scalar, or one count per element along
    axis) along `axis`; axis=None repeats the flattened input."""
    x = t_(input)
    if axis is None:
        x = _a.reshape(x, [-1])
        axis = 0
    nd = x._data.ndim
    if nd == 0:
        x = _a.reshape(x, [1])
        nd = 1
    axis = int(axis)
    if not -nd <= axis < nd:
        raise ValueError(f"[repeat] axis {axis} is out of range for shape {tuple(x._data.shape)}")
    axis %= nd
    reps, rd = _int_list("repeat", "repeats", repeats)
    n = x._data.shape[axis]
    if rd > 1 or (len(reps) != 1 and len(reps) != n):
        raise ValueError(f"[repeat] repeats must be a scalar or have one entry per element of "
                         f"axis {axis} (size {n}), got {len(reps)} entries")
    if any(r < 0 for r in reps):
        raise ValueError(f"[repeat] repeats must be non-negative, got {reps}")
    # GPU repeats are read back (one read: the output's size depends on them, as in TF);
    # Python / host repeats read nothing. idx is in [0, n) by construction: gathered unchecked
    idx = np.repeat(np.arange(n), reps if len(reps) == n else reps[0]).astype(np.int64)
    return _a.gather_checked(x, idx, axis)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    """sqrt(sum(x**2)) over axis (integer inputs give integer results, truncated)."""
    x = t_(input_tensor)
    if x._data.dtype.kind in "iu":
        f = _m.cast(x, _dt.float64)
        r = _m.sqrt(_m.reduce_sum(_m.square(f), axis=axis, keepdims=keepdims))
        return _m.cast(_m.floor(r), x.dtype)
    return _m.sqrt(_m.reduce_sum(_m.square(x), axis=axis, keepdims=keepdims))


def zero_fraction(value, name=None):
    """The fraction of zeros in `value`, a float32 scalar."""
    x = t_(value)
    return _m.reduce_mean(_m.cast(_m.equal(x, 0), _dt.float32))


def _logcumsumexp(x, axis):
    """Inclusive running log-sum-exp along axis (host, float64 accumulation)."""
    def fwd(a):
        return np.logaddexp.accumulate(a.astype(np.float64), axis=axis).astype(a.dtype)

    def bwd(g, a, o):
        # dx_i = sum_{j >= i} g_j exp(x_i - out_j): the reverse running log-sum-exp of
        # log|g_j| - out_j, one pass for the positive and one for the negative g.
        a64, o64, g64 = a.astype(np.float64), o.astype(np.float64), g.astype(np.float64)
        res = np.zeros_like(a64)
        for sgn in (1.0, -1.0):
            part = np.where(sgn * g64 > 0, np.log(np.abs(g64)) - o64, -np.inf)
            rev = np.flip(np.logaddexp.accumulate(np.flip(part, axis), axis=axis), axis)
            res += sgn * np.exp(a64 + rev)
        return (res,)

    def bwd_t(g, xt, out):  # the VJP of the scan recomputed with nabi ops (second order)
        from ..framework.tape import GradientTape
        with GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(xt)
            v = _logcumsumexp_t(xt, axis)
        return (tape.gradient(v, xt, output_gradients=g),)
    return _host_op("cumulative_logsumexp", [x], fwd, bwd, bwd_t)


def _logcumsumexp_t(x, axis):
    """The inclusive running log-sum-exp with nabi ops: a Hillis-Steele scan of
    logaddexp(a, b) = max(a, b) + log1p(exp(-|a - b|)) (log2(n) steps, stable)."""
    n = x._data.shape[axis]
    nd = x._data.ndim

    def sl(v, lo, hi):
        idx = [slice(None)] * nd
        idx[axis] = slice(lo, hi)
        return v[tuple(idx)]
    v = x
    s = 1
    while s < n:
        a, b = sl(v, s, n), sl(v, 0, n - s)
        lae = _m.add(_m.maximum(a, b), _m.log1p(_m.exp(_m.negative(_m.abs(_m.subtract(a,
                                                                                     b))))))
        v = _a.concat([sl(v, 0, s), lae], axis)
        s *= 2
    return v


def _lcse_rule_t(x, ax, exclusive, reverse):
    """cumulative_logsumexp with Tensor ops only (the GPU path's second-order rule)."""
    n = x._data.shape[ax]
    v = _a.reverse(x, [ax]) if reverse else x
    if exclusive and n:
        shp = list(v._data.shape)
        shp[ax] = 1
        lead = _wrap(np.full_like(x._data, -np.inf, shape=tuple(shp)))
        idx = [_b.slice(None)] * len(shp)
        idx[ax] = _b.slice(0, n - 1)
        v = _a.concat([lead, _a.getitem(v, tuple(idx))], axis=ax)
    out = _logcumsumexp_t(v, ax)
    return _a.reverse(out, [ax]) if reverse else out


def cumulative_logsumexp(x, axis=0, exclusive=False, reverse=False, name=None):
    """log(cumsum(exp(x))) along axis, computed stably; exclusive starts at -inf."""
    x = _float_in("cumulative_logsumexp", x)
    ax = _m._scan_axis("cumulative_logsumexp", x, axis)
    if type(x._data) is DeviceArray:  # the logcumsumexp kernel (gpu_index_extra)
        return _gx.cumulative_logsumexp(x, ax, exclusive, reverse, lambda t: _lcse_rule_t(
            t, ax, exclusive, reverse))
    n = x._data.shape[ax]
    v = _a.reverse(x, [ax]) if reverse else x
    if exclusive and n:
        shp = list(v._data.shape)
        shp[ax] = 1
        lead = _a.fill(shp, -np.inf)
        lead = _m.cast(lead, x.dtype)
        if type(x._data) is DeviceArray:
            lead = _wrap(to_device(_host(lead._data), "cuda"))
        idx = [_b.slice(None)] * len(shp)
        idx[ax] = _b.slice(0, n - 1)
        v = _a.concat([lead, _a.getitem(v, tuple(idx))], axis=ax)
    out = _logcumsumexp(v, ax)
    return _a.reverse(out, [ax]) if reverse else out


# -------------------------------------------------------------------- segment reductions


def _segment_reduce(op, x, ids, num, kind):
    """kind in max/min/prod over rows grouped by ids (-1 rows dropped); empty segments give
    TF's identity: the dtype's lowest (max), highest (min), 1 (prod) -- or 0 for the sorted
    segment_min / segment_max, handled by the caller."""
    a = x._data
    if a.dtype.kind not in "iuf":
        raise TypeError(f"[{op}] data must be a float or integer tensor, got {a.dtype.name}")
    rest = tuple(a.shape[ids.ndim:])
    if (type(a) is DeviceArray and kind != "prod"
            and a.dtype in (np.float32, np.float64, np.int32, np.int64)):
        return _segment_minmax_gpu(op, x, ids, num, kind)
    if type(a) is DeviceArray and kind == "prod" and _gx.gpu_ok(a):  # the segment_prod kernel
        return _gx.segment_prod(op, x, ids, num, lambda g, xt, o: _segment_grad_t(
            g, xt, o, ids, kind))   # (second order: GPU ids stay there, no read)

    def fwd(h):
        h2 = h.reshape((ids.size,) + rest)
        flat = ids.reshape(-1)
        keep = flat >= 0
        if kind == "prod":
            r = np.ones((num,) + rest, h.dtype)
            np.multiply.at(r, flat[keep], h2[keep])
            return r
        if h.dtype.kind == "f":
            init = -np.inf if kind == "max" else np.inf
        else:
            info = np.iinfo(h.dtype)
            init = info.min if kind == "max" else info.max
        r = np.full((num,) + rest, init, h.dtype)
        (np.maximum if kind == "max" else np.minimum).at(r, flat[keep], h2[keep])
        if h.dtype.kind == "f":   # TF: an empty segment holds numeric_limits::lowest() (max)
            empty = np.bincount(flat[keep], minlength=num) == 0   # or max() (min): finite
            fi = np.finfo(h.dtype)
            r[empty] = fi.min if kind == "max" else fi.max
        return r

    def bwd(g, h, o):
        h2 = h.reshape((ids.size,) + rest)
        flat = ids.reshape(-1)
        keep = flat >= 0
        safe = np.where(keep, flat, 0)
        gr = np.where(keep.reshape((-1,) + (1,) * len(rest)), g[safe], 0)
        if kind == "prod":
            zero = h2 == 0
            nz = np.ones_like(o)
            np.multiply.at(nz, flat[keep], np.where(zero, 1, h2)[keep])
            zc = np.zeros(o.shape, np.int64)
            np.add.at(zc, flat[keep], zero[keep].astype(np.int64))
            zcr, nzr = zc[safe], nz[safe]
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(zcr == 0, nzr / np.where(zero, 1, h2),
                             np.where((zcr == 1) & zero, nzr, 0))
            return ((gr * d).reshape(h.shape),)
        sel = (h2 == o[safe]) & keep.reshape((-1,) + (1,) * len(rest))
        cnt = np.zeros(o.shape, g.dtype)
        np.add.at(cnt, flat[keep], sel[keep].astype(g.dtype))
        return ((np.where(sel, gr / np.maximum(cnt[safe], 1), 0)).reshape(h.shape),)
    return _host_op(op, [x], fwd, bwd, lambda g, xt, o: (_segment_grad_t(
        g, xt, o, ids, kind),))


def _segment_minmax_gpu(op, x, ids, num, kind):
    """Segment max / min of a GPU tensor on the kernel of csrc/cuda/segment_reduce.cu (the
    data stays on the GPU; host ids, already read for their checks, go up once; GPU ids,
    checked, stay there); the gradient (ties share it evenly, rows of id -1 get none) is GPU
    array work too, its gathers and scatter at checked ids (no read back)."""
    a = x._data
    rest = tuple(a.shape[ids.ndim:])
    on_gpu = type(ids) is DeviceArray
    flat = ids.reshape(-1) if on_gpu else np.ascontiguousarray(ids.reshape(-1))
    a2 = a.reshape((flat.size,) + rest)
    y = DeviceArray(backend().segment_minmax(a2.buf, to_device(flat, "cuda").buf, num,
                                             kind == "max"))
    out = _wrap(y)
    if _tapes and is_float(a):
        # rows of id -1: a padding segment num
        ext = np.where(flat < 0, np.asarray(num, np.int64), flat) if on_gpu else \
            to_device(np.where(flat >= 0, flat, num), "cuda")
        keep = np.greater_equal(flat, 0) if on_gpu else to_device(flat >= 0, "cuda")
        keep = keep.reshape((-1,) + (1,) * len(rest))

        def backward(g, needs):
            g = to_device(g, "cuda")
            zero = np.zeros_like(g, shape=(1,) + rest)
            chosen = _take0(np.concatenate([y, zero], axis=0), ext)
            sel = np.logical_and(np.equal(a2, chosen), keep)
            cnt = np.zeros_like(g, shape=(num + 1,) + rest)
            add_at(cnt, (ext,), sel.astype(g.dtype), checked=True)
            share = np.concatenate([g, zero], axis=0) / np.maximum(cnt, np.ones((), g.dtype))
            gr = np.where(sel, _take0(share, ext), np.zeros((), g.dtype))
            return (gr.reshape(a.shape),)

        record((x,), out, backward,   # (second order: GPU ids stay there, no read)
               lambda g, needs: (_segment_grad_t(g, x, out, ids, kind),), op)
    return out


def _segment_grad_t(g, x, out, ids, kind):
    """The Tensor rule of `_segment_reduce` (second order): g gathered at each row's segment
    times d out / d row -- for max/min the tie shares, constant (connected to x with a zero
    derivative); for prod the product of the segment's other rows, a prefix times a suffix
    cumprod of the rows laid out per segment (exact with zeros, differentiable again).
    Checked GPU ids of max / min stay on the GPU (_segment_grad_t_gpu: no read)."""
    if type(ids) is DeviceArray:
        if kind == "prod":
            return _segment_prod_grad_t_gpu(g, x, out, ids)
        return _segment_grad_t_gpu(g, x, out, ids)
    h = _host(x._data)
    rest = tuple(h.shape[ids.ndim:])
    flat = ids.reshape(-1)
    keep = flat >= 0
    safe = np.where(keep, flat, 0)
    gr = _a.gather(g, safe, axis=0)                               # (rows,) + rest
    rows = _a.reshape(x, (flat.size,) + rest)
    if kind != "prod":
        h2 = h.reshape((flat.size,) + rest)
        o = _host(out._data)
        kp = keep.reshape((-1,) + (1,) * len(rest))
        sel = (h2 == o[safe]) & kp
        cnt = np.zeros(o.shape, h.dtype)
        np.add.at(cnt, flat[keep], sel[keep].astype(h.dtype))
        w = np.where(sel, 1.0 / np.maximum(cnt[safe], 1), 0).astype(h.dtype)
        d = _m.multiply(gr, _m._zero_grad_step(w, g, (x,)))
        return _a.reshape(d, h.shape)
    # prod: row i sits at (segment, position) in a (num, L) + rest layout padded with ones
    num = int(out._data.shape[0])
    pos = np.zeros(flat.size, np.int64)
    counts = np.zeros(num, np.int64)
    for i in np.flatnonzero(keep):
        pos[i] = counts[flat[i]]
        counts[flat[i]] += 1
    L = int(counts.max()) if counts.size else 0
    if L == 0 or not keep.any():
        return _m._zero_grad_step(np.zeros_like(h), g, (x,))
    slot = np.full((num, L), flat.size, np.int64)                 # flat.size: the ones row
    slot[flat[keep], pos[keep]] = np.flatnonzero(keep)
    ones = _a.ones_like(rows[:1])
    padded = _a.gather(_a.concat([rows, ones], 0), slot.reshape(-1), axis=0)
    padded = _a.reshape(padded, (num, L) + rest)
    others = _m.multiply(_m.cumprod(padded, 1, exclusive=True),
                         _m.cumprod(padded, 1, exclusive=True, reverse=True))
    back = np.where(keep, safe * L + pos, 0)
    d = _a.gather(_a.reshape(others, (num * L,) + rest), back, axis=0)
    d = _m.multiply(_m.multiply(gr, d), _m._zero_grad_step(
        keep.reshape((-1,) + (1,) * len(rest)).astype(h.dtype), g, (x,)))
    return _a.reshape(d, h.shape)


def _segment_grad_t_gpu(g, x, out, ids):
    """_segment_grad_t of max / min for checked GPU ids (in [-1, num)): the tie shares of the
    first-order rule as device arrays (a constant, connected to x with a zero derivative) times
    g gathered at each row's segment by gather_checked (rows of id -1 read a zero row num):
    nothing read back, and its own gradient a scatter-add at the same ids."""
    a = x._data
    rest = tuple(a.shape[ids.ndim:])
    flat = ids.reshape(-1)
    num = int(out._data.shape[0])
    ext = np.where(flat < 0, np.asarray(num, np.int64), flat)       # in [0, num]
    keep = np.greater_equal(flat, 0).reshape((-1,) + (1,) * len(rest))
    a2 = a.reshape((flat.size,) + rest)
    pad = np.zeros_like(a2, shape=(1,) + rest)
    chosen = _take0(np.concatenate([out._data, pad], axis=0), ext)
    sel = np.logical_and(np.equal(a2, chosen), keep)
    cnt = np.zeros_like(a2, shape=(num + 1,) + rest)
    if flat.size:
        add_at(cnt, (ext,), sel.astype(a2.dtype), checked=True)
    one = np.ones((), a2.dtype)
    w = np.where(sel, one / np.maximum(_take0(cnt, ext), one), np.zeros((), a2.dtype))
    gp = _a.concat([g, _wrap(np.zeros_like(g._data, shape=(1,) + rest))], 0)
    gr = _a.gather_checked(gp, ext, 0)                              # (rows,) + rest
    d = _m.multiply(gr, _m._zero_grad_step(w, g, (x,)))
    return _a.reshape(d, a.shape)


def _segment_prod_grad_t_gpu(g, x, out, ids):
    """_segment_grad_t of prod for checked GPU ids (in [-1, num)), on the device with no read:
    the rows sorted by segment (the sort kernel's stable argsort; rows of id -1 form a segment
    num of their own, masked at the end), each row's segment start / end by the searchsorted
    kernel, then the product of the segment's other rows as an exclusive prefix times an
    exclusive suffix product, each a segmented Hillis-Steele scan of ceil(log2 n) steps of
    Tensor ops (exact with zeros, differentiable again), gathered back to the rows' order."""
    from .array_ops import _sort_last
    a = x._data
    rest = tuple(a.shape[ids.ndim:])
    flat = ids.reshape(-1)
    n = flat.size
    num = int(out._data.shape[0])
    if n == 0:
        return _m._zero_grad_step(np.zeros_like(a), g, (x,))
    ext = np.where(flat < 0, np.asarray(num, np.int64), flat)       # in [0, num]
    sv, order = _sort_last(ext, False, index_dtype=np.int64)
    inv = _sort_last(order, False, index_dtype=np.int64)[1]         # the inverse permutation
    be = backend()
    start = DeviceArray(be.searchsorted(sv.buf, sv.buf, False, "int64"))
    end = DeviceArray(be.searchsorted(sv.buf, sv.buf, True, "int64")) - np.asarray(1, np.int64)
    pos = DeviceArray(be.arange(0.0, 1.0, n, "int64"))              # (start, step, count)
    full = (n,) + rest

    def mask(m):
        return _wrap(np.broadcast_to(m.reshape((n,) + (1,) * len(rest)), full))
    rows = _a.reshape(x, full)
    v = _a.gather_checked(rows, order, 0)                            # sorted by segment
    ones = _wrap(np.ones_like(a, shape=(1,) + rest))
    pre, suf, step = v, v, 1
    while step < n:   # inclusive segmented scans: pre forward, suf backward
        pre = _a.where(mask(pos - np.asarray(step, np.int64) >= start),
                       _m.multiply(pre, _a.concat([pre[:step], pre[:n - step]], 0)), pre)
        suf = _a.where(mask(pos + np.asarray(step, np.int64) <= end),
                       _m.multiply(suf, _a.concat([suf[step:], suf[n - step:]], 0)), suf)
        step *= 2
    # exclusive: the neighbour's inclusive product inside the segment, else 1
    one = _a.ones_like(v)
    pre = _a.where(mask(pos > start), _a.concat([ones, pre[:n - 1]], 0), one)
    suf = _a.where(mask(pos < end), _a.concat([suf[1:], ones], 0), one)
    others = _a.gather_checked(_m.multiply(pre, suf), inv, 0)       # back in row order
    gp = _a.concat([g, _wrap(np.zeros_like(g._data, shape=(1,) + rest))], 0)
    gr = _a.gather_checked(gp, ext, 0)                              # 0 for rows of id -1
    d = _m.multiply(gr, others)
    return _a.reshape(d, a.shape)


def _num_segments(op, num_segments, ids):
    """num_segments as an int, and the ids checked against it (GPU ids: at most one read);
    (num, the checked ids)."""
    if isinstance(num_segments, Tensor):
        num_segments = num_segments.numpy().item()
    if isinstance(num_segments, (bool, np.bool_)) or \
            not isinstance(num_segments, (int, np.integer)):
        raise TypeError(f"[{op}] num_segments must be an integer, got {num_segments!r}")
    num = int(num_segments)
    if num < 0:
        raise ValueError(f"[{op}] num_segments must be >= 0, got {num}")
    return num, check_unsorted_ids(op, ids, num)


def _unsorted_ids(op, x, segment_ids, ints=False):
    """GPU ids of float GPU data (with ints, also int32 / int64 data) stay on the GPU (int64);
    others come to the host."""
    dids = _device_ids(op, x, segment_ids, ints)
    return dids if dids is not None else _host_ints(op, "segment_ids", segment_ids)


def _unsorted(op, kind, data, segment_ids, num_segments):
    x = t_(data)
    num, ids = _num_segments(op, num_segments, _unsorted_ids(op, x, segment_ids, ints=True))
    _check_data(op, x, ids)
    return _segment_reduce(op, x, ids, num, kind)


def unsorted_segment_max(data, segment_ids, num_segments, name=None):
    """Per-segment maxima; empty segments hold the dtype's lowest value (-finfo.max for
    floats, as TF's numeric_limits::lowest(), not -inf)."""
    return _unsorted("unsorted_segment_max", "max", data, segment_ids, num_segments)


def unsorted_segment_min(data, segment_ids, num_segments, name=None):
    """Per-segment minima; empty segments hold the dtype's highest value (finfo.max for
    floats, not +inf)."""
    return _unsorted("unsorted_segment_min", "min", data, segment_ids, num_segments)


def unsorted_segment_prod(data, segment_ids, num_segments, name=None):
    """Per-segment products; empty segments are 1."""
    return _unsorted("unsorted_segment_prod", "prod", data, segment_ids, num_segments)


def _counts(op, data, segment_ids, num_segments):
    from .segment_ops import unsorted_segment_sum
    x = t_(data)
    num, ids = _num_segments(op, num_segments, _unsorted_ids(op, x, segment_ids))
    _check_data(op, x, ids)
    s = unsorted_segment_sum(x, _wrap(ids), num)   # (checked GPU ids: no second read)
    c = segment_counts(ids, num, s._data if type(ids) is DeviceArray else np.zeros(0))
    c = c.reshape((num,) + (1,) * (s._data.ndim - 1))
    return x, s, c


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """Per-segment means; empty segments are 0."""
    x, s, c = _counts("unsorted_segment_mean", data, segment_ids, num_segments)
    if type(c) is DeviceArray:
        return _m.divide(s, _wrap(np.maximum(c, np.ones((), c.dtype))))
    return _m.divide(s, _wrap(_like(np.maximum(c, 1).astype(s._data.dtype), s._data)))


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    """Per-segment sums divided by sqrt(count); empty segments are 0."""
    x, s, c = _counts("unsorted_segment_sqrt_n", data, segment_ids, num_segments)
    if type(c) is DeviceArray:
        return _m.divide(s, _wrap(np.sqrt(np.maximum(c, np.ones((), c.dtype)))))
    return _m.divide(s, _wrap(_like(np.sqrt(np.maximum(c, 1)).astype(s._data.dtype), s._data)))


def _sorted(op, kind, data, segment_ids):
    x = t_(data)
    # GPU ids: one read (the size, the checks); int32 / int64 data too (the min / prod kernels)
    ids, num = sorted_ids(op, x, segment_ids, ints=True)
    out = _segment_reduce(op, x, ids, num, kind)
    if kind != "prod" and type(ids) is DeviceArray:   # empty segments -> 0, on the GPU
        a = out._data
        empty = np.equal(segment_counts(ids, num, a), np.zeros((), a.dtype))
        return _a.where(_wrap(empty.reshape((num,) + (1,) * (a.ndim - 1))),
                        _a.zeros_like(out), out)
    if kind != "prod":  # TF's sorted segment_min/max leave empty segments at 0
        present = np.zeros(num, bool)
        present[ids] = True
        if not present.all():
            mask = np.broadcast_to(present.reshape((num,) + (1,) * (out._data.ndim - 1)),
                                   out._data.shape)
            out = _a.where(_wrap(_like(mask, out._data)), out, _a.zeros_like(out))
    return out


def segment_min(data, segment_ids, name=None):
    """Per-segment minima of the rows (ids sorted ascending); empty segments are 0."""
    return _sorted("segment_min", "min", data, segment_ids)


def segment_prod(data, segment_ids, name=None):
    """Per-segment products of the rows (ids sorted ascending); empty segments are 1."""
    return _sorted("segment_prod", "prod", data, segment_ids)


# ---------------------------------------------------------------- tensor_scatter_nd_max/min


def _tensor_scatter_minmax(op, kind, tensor, indices, updates):
    from .scatter_ops import _check_updates, _flat_rows
    t = t_(tensor)
    u = updates if isinstance(updates, Tensor) else operand_like(updates, t)
    if t._data.dtype != u._data.dtype:
        raise TypeError(f"[{op}] tensor {t._data.dtype.name} {tuple(t._data.shape)} and updates "
                        f"{u._data.dtype.name} {tuple(u._data.shape)} must have one dtype")
    shape = tuple(t._data.shape)
    if _gx.gpu_ok(t._data, u._data) and type(t._data) is DeviceArray:  # no host copy
        ind = _gx.device_indices(indices)
        if ind is None:
            flat, k = _flat_rows(op, indices, shape)   # host indices: no read-back
            ishape, fl_d = flat.shape + (k,), _gx.dev(flat.reshape(-1))
        else:
            fl_d, k = _gx.flat_rows(op, indices, ind, shape)
            ishape = tuple(ind.shape)
        _check_updates(op, u._data, ishape, shape, k)
        rows, rest = int(np.prod(shape[:k], dtype=np.int64)), shape[k:]
        return _gx.tensor_scatter_minmax(op, kind, t, u, fl_d, rows, rest, shape,
                                         lambda g, tt, ut, ot: _scatter_minmax_rule_t(
                                             g, tt, ut, ot, _host(fl_d), rows, rest, shape))
    flat, k = _flat_rows(op, indices, shape)
    _check_updates(op, u._data, flat.shape + (k,), shape, k)
    rows = int(np.prod(shape[:k], dtype=np.int64))
    rest = shape[k:]
    fl = flat.reshape(-1)
    red = np.maximum if kind == "max" else np.minimum

    def fwd(a, b):
        r = a.reshape((rows,) + rest).copy()
        red.at(r, fl, b.reshape((fl.size,) + rest))
        return r.reshape(shape)

    def bwd(g, a, b, o):
        o2, g2 = o.reshape((rows,) + rest), g.reshape((rows,) + rest)
        b2 = b.reshape((fl.size,) + rest)
        xi = (a.reshape((rows,) + rest) == o2).astype(g.dtype)
        yi = (b2 == o2[fl]).astype(g.dtype)
        tot = xi.copy()
        np.add.at(tot, fl, yi)
        tot = np.maximum(tot, 1)
        return ((xi / tot * g2).reshape(shape),
                (yi / tot[fl] * g2[fl]).reshape(b.shape))

    def bwd_t(g, tt, ut, ot):  # the same shares as constants times g (second order)
        return _scatter_minmax_rule_t(g, tt, ut, ot, fl, rows, rest, shape)
    return _host_op(op, [t, u], fwd, bwd, bwd_t)


def _scatter_minmax_rule_t(g, tt, ut, ot, fl, rows, rest, shape):
    """tensor_scatter_nd_max/min's Tensor rule: the tie shares as constants times g."""
    a, b, o = _host(tt._data), _host(ut._data), _host(ot._data)
    o2, b2 = o.reshape((rows,) + rest), b.reshape((fl.size,) + rest)
    xi = (a.reshape((rows,) + rest) == o2).astype(a.dtype)
    yi = (b2 == o2[fl]).astype(a.dtype)
    tot = xi.copy()
    np.add.at(tot, fl, yi)
    tot = np.maximum(tot, 1)
    g2 = _a.reshape(g, (rows,) + rest)
    gt = _m.multiply(g2, _m._zero_grad_step(xi / tot, g, (tt, ut)))
    gu = _m.multiply(_a.gather(g2, fl, axis=0), _m._zero_grad_step(yi / tot[fl], g,
                                                                   (tt, ut)))
    return (_a.reshape(gt, shape), _a.reshape(gu, ut._data.shape))


def tensor_scatter_nd_max(tensor, indices, updates, name=None):
    """tensor with each indexed slice replaced by max(slice, update) (duplicates all count)."""
    return _tensor_scatter_minmax("tensor_scatter_nd_max", "max", tensor, indices, updates)


def tensor_scatter_nd_min(tensor, indices, updates, name=None):
    """tensor with each indexed slice replaced by min(slice, update) (duplicates all count)."""
    return _tensor_scatter_minmax("tensor_scatter_nd_min", "min", tensor, indices, updates)


# ------------------------------------------------------------------------- shape helpers


def identity_n(input, name=None):  # noqa: A002
    return [_a.identity(t) for t in input]


def ensure_shape(x, shape, name=None):
    """x unchanged when its shape matches `shape` (None entries match anything), else an
    InvalidArgumentError naming both shapes."""
    from ..errors import InvalidArgumentError
    t = t_(x)
    want = getattr(shape, "as_list", lambda: shape)() if shape is not None else None
    if want is None:
        return t
    have = tuple(t._data.shape)
    want = list(want)
    if len(want) != len(have) or any(w is not None and int(w) != h for w, h in zip(want, have)):
        raise InvalidArgumentError(f"[ensure_shape] shape of tensor {have} is not compatible "
                                   f"with expected shape {tuple(want)}")
    return t


def shape_n(input, out_type=_dt.int32, name=None):  # noqa: A002
    return [_a.shape(t, out_type=out_type) for t in input]


def broadcast_static_shape(shape_x, shape_y):
    from ..framework.tensor import TensorShape
    a = [None if d is None else int(d) for d in getattr(shape_x, "as_list", lambda: shape_x)()]
    b = [None if d is None else int(d) for d in getattr(shape_y, "as_list", lambda: shape_y)()]
    out = []
    for i in range(1, _b.max(len(a), len(b)) + 1):
        p = a[-i] if i <= len(a) else 1
        q = b[-i] if i <= len(b) else 1
        if p == 1:
            out.append(q)
        elif q == 1 or q is None or p == q:
            out.append(p if q is not None or p is not None else None)
        elif p is None:
            out.append(q)
        else:
            raise ValueError(f"[broadcast_static_shape] incompatible shapes for broadcasting: "
                             f"{tuple(a)} and {tuple(b)}")
    return TensorShape(out[::-1])


def broadcast_dynamic_shape(shape_x, shape_y):
    a = _a._shape_arg(shape_x)
    b = _a._shape_arg(shape_y)
    try:
        r = np.broadcast_shapes(a, b)
    except ValueError:
        from ..errors import InvalidArgumentError
        raise InvalidArgumentError(f"[broadcast_dynamic_shape] incompatible shapes for "
                                   f"broadcasting: {a} and {b}") from None
    dt = shape_x.dtype if isinstance(shape_x, Tensor) else _dt.int32
    return _wrap(np.asarray(r, dtype=dt._np))


def invert_permutation(x, name=None):
    """The inverse permutation y (y[x[i]] = i) of a 1-D int32/int64 permutation of 0..n-1.
    GPU tensors stay on the GPU: y is the stable argsort of x (the sort kernel), and x is a
    permutation exactly when its sorted values are 0..n-1: one bool read for the check (the
    values themselves are read only to name a bad input)."""
    d = t_(x)._data
    if type(d) is DeviceArray and d.ndim == 1 and d.dtype in (np.int32, np.int64):
        sv, inv = _a._sort_last(d, False, None, d.dtype)
        if d.size and not bool(np.all(np.equal(sv, DeviceArray(backend().arange(
                0, 1, d.size, d.dtype.name))))):
            raise ValueError(f"[invert_permutation] x must be a 1-D permutation of 0..n-1, got "
                             f"{to_device(d, 'cpu').tolist()}")
        return _wrap(inv)
    p = _host(d)
    if p.ndim != 1 or sorted(p.tolist()) != list(range(p.size)):
        raise ValueError(f"[invert_permutation] x must be a 1-D permutation of 0..n-1, got "
                         f"{p.tolist()}")
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=p.dtype)
    return _wrap(inv)


def unravel_index(indices, dims, name=None):
    """(len(dims),) + indices.shape coordinates of the flat indices in an array of shape dims.
    GPU indices stay on the GPU (device floordiv / mod; one bool read for the range check)."""
    i = t_(indices)._data
    d = _host(dims._data) if isinstance(dims, Tensor) else np.asarray(dims)  # (a shape)
    if type(i) is DeviceArray and i.dtype in (np.int32, np.int64):
        return _gx.unravel_index(i, d.astype(np.int64).reshape(-1))
    ind = _host(i)
    if ind.size and (ind.min() < 0 or ind.max() >= np.prod(d)):
        raise ValueError(f"[unravel_index] indices must be in [0, {int(np.prod(d))}) for dims "
                         f"{d.tolist()}")
    return _wrap(np.stack(np.unravel_index(ind, tuple(d))).astype(ind.dtype))


def histogram_fixed_width_bins(values, value_range, nbins=100, dtype=_dt.int32, name=None):
    """The bin (0..nbins-1) of each value for nbins equal bins over value_range; values
    outside fall into the first or last bin."""
    rng = _host(value_range._data) if isinstance(value_range, Tensor) else value_range
    lo, hi = [float(z) for z in np.asarray(rng, np.float64).reshape(-1)]
    if not hi > lo:
        raise ValueError(f"[histogram_fixed_width_bins] value_range must be [lo, hi] with "
                         f"lo < hi, got {[lo, hi]}")
    n = int(nbins.numpy() if isinstance(nbins, Tensor) else nbins)
    d = t_(values)._data
    if type(d) is DeviceArray and d.dtype.name in ("float32", "float64", "int32", "int64"):
        from .misc_ops import _fixed_width_bins_gpu  # the device arithmetic, no host copy
        return _wrap(_fixed_width_bins_gpu(d, lo, hi, n).astype(_dt.as_dtype(dtype)._np))
    v = _host(d).astype(np.float64)
    b = np.clip(np.floor((v - lo) / (hi - lo) * n), 0, n - 1)
    return _wrap(b.astype(_dt.as_dtype(dtype)._np))


__all__ = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "rint",
           "reciprocal_no_nan", "lgamma", "digamma", "erf", "erfc", "erfinv", "ndtri", "xlogy",
           "xlog1py", "xdivy", "multiply_no_nan", "truncatediv", "truncatemod", "scalar_mul",
           "accumulate_n", "roll", "repeat", "reduce_euclidean_norm", "zero_fraction",
           "cumulative_logsumexp", "unsorted_segment_max", "unsorted_segment_min",
           "unsorted_segment_prod", "unsorted_segment_mean", "unsorted_segment_sqrt_n",
           "segment_min", "segment_prod", "tensor_scatter_nd_max", "tensor_scatter_nd_min",
           "identity_n", "ensure_shape", "shape_n", "broadcast_static_shape",
           "broadcast_dynamic_shape", "invert_permutation", "unravel_index",
           "histogram_fixed_width_bins"]
