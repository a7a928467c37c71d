"""Elementwise math, reductions, comparisons, casts and matmul (TF2 names).

Elementwise ops and reductions run on NumPy's loops (they are memory-bound); matmul runs
on nabi's own GEMM (csrc/cpu/gemm.cpp). Each op records its backward rule on the tape.
"""
import builtins as _builtins

import numpy as np

from ..framework.device import asarray as _asarray

from .. import _C
from ..framework.device import kernels
from .. import dtypes as _dt
from ._common import (Tensor, _tapes, _wrap, binary_operands, broadcast_shape, const_like,
                      contiguous, is_float, norm_axis, record, t_, unbroadcast, unbroadcast_t)

# ---------------------------------------------------------------- binary elementwise

# Complex gradients, TF's convention: for a real loss L of a complex z the gradient is
# dL/dRe z + i dL/dIm z, i.e. conj(f'(z)) * g for a holomorphic f. These ops are holomorphic
# with real Taylor coefficients (conj(f'(z)) = f'(conj z)), so their real rules applied to the
# conjugated inputs and output give it (matmul too: g @ conj(b)^T; sqrt, rsqrt, log1p, pow's
# principal branches too: f(conj z) = conj f(z) off their cuts). First order only; the
# other ops on complex values record a node that refuses (complex_ops.record_no_gradient).
_COMPLEX_GRAD = frozenset({"add", "subtract", "multiply", "divide", "negative", "exp", "log",
                           "asin", "acos", "atan", "asinh", "acosh", "atanh",
                           "sqrt", "rsqrt", "square", "reciprocal", "sin", "cos", "tan", "sinh",
                           "cosh", "tanh", "expm1", "log1p", "pow"})


def _conj(a):
    return np.conj(a) if a.dtype.kind == "c" else a


def _binary(op, x, y, fwd, bwd, bwd_t=None):
    """bwd(g, a, b, out, needs) on arrays; bwd_t(g, x, y, out, needs) on Tensors (with nabi
    ops, so that the gradient is differentiable), or None (no second-order rule)."""
    x, y = binary_operands(op, x, y)
    xa, ya = x._data, y._data
    if xa.shape != ya.shape:
        broadcast_shape(op, xa.shape, ya.shape)
    out = _wrap(fwd(xa, ya))
    cx = out._data.dtype.kind == "c"
    if _tapes and cx and op not in _COMPLEX_GRAD:
        from .complex_ops import record_no_gradient
        record_no_gradient(op, (x, y), out)
    elif _tapes and (cx or is_float(out._data)):
        xs, ys = xa.shape, ya.shape

        def backward(g, needs):
            if cx and op in ("multiply", "divide", "pow"):  # (add / subtract read no values)
                gx, gy = bwd(g, _conj(xa), _conj(ya), _conj(out._data), needs)
            else:
                gx, gy = bwd(g, xa, ya, out._data, needs)
            return (unbroadcast(gx, xs) if gx is not None else None,
                    unbroadcast(gy, ys) if gy is not None else None)
        backward_t = None
        if bwd_t is not None and not cx:
            def backward_t(g, needs):
                gx, gy = bwd_t(g, x, y, out, needs)
                return (unbroadcast_t(gx, xs) if gx is not None and needs[0] else None,
                        unbroadcast_t(gy, ys) if gy is not None and needs[1] else None)
        record((x, y), out, backward, backward_t, op)
    return out


def add(x, y, name=None):
    return _binary("add", x, y, np.add, lambda g, a, b, o, n: (g, g),
                   lambda g, a, b, o, n: (g, g))


def subtract(x, y, name=None):
    return _binary("subtract", x, y, np.subtract, lambda g, a, b, o, n: (g, -g if n[1] else None),
                   lambda g, a, b, o, n: (g, negative(g) if n[1] else None))


def multiply(x, y, name=None):
    return _binary("multiply", x, y, np.multiply,
                   lambda g, a, b, o, n: (g * b if n[0] else None, g * a if n[1] else None),
                   lambda g, x, y, o, n: (multiply(g, y) if n[0] else None,
                                          multiply(g, x) if n[1] else None))


def divide(x, y, name=None):
    x, y = binary_operands("divide", x, y)
    if x._data.dtype.kind in "iub":  # TF: 8/16-bit ints -> float32, wider -> float64
        small = x._data.dtype.kind in "iu" and x._data.dtype.itemsize <= 2
        ft = _dt.float32 if small else _dt.float64
        x, y = cast(x, ft), cast(y, ft)
    return _binary("divide", x, y, np.true_divide,
                   lambda g, a, b, o, n: (g / b if n[0] else None,
                                          -g * o / b if n[1] else None),
                   lambda g, x, y, o, n: (divide(g, y) if n[0] else None,
                                          negative(divide(multiply(g, o), y)) if n[1] else None))


truediv = divide
realdiv = divide


def divide_no_nan(x, y, name=None):
    def fwd(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b == 0, np.zeros((), a.dtype), a / np.where(b == 0, 1, b))

    def bwd(g, a, b, o, n):
        safe = np.where(b == 0, 1, b)
        z = b == 0
        return (np.where(z, 0, g / safe) if n[0] else None,
                np.where(z, 0, -g * o / safe) if n[1] else None)

    def bwd_t(g, x, y, o, n):
        return (divide_no_nan(g, y) if n[0] else None,
                negative(divide_no_nan(multiply(g, o), y)) if n[1] else None)
    return _binary("divide_no_nan", x, y, fwd, bwd, bwd_t)


def _check_int_divisor(op, a, b):
    """TF raises for an integer division by zero (NumPy silently gives 0)."""
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and bool((b == 0).any()):
        from ..errors import InvalidArgumentError
        raise InvalidArgumentError(f"[{op}] integer division by zero (divisor of shape "
                                   f"{tuple(b.shape)}, dtype {b.dtype.name})")


def _floor_divide(a, b):
    """TF's FloorDiv: floor(a / b) for floats (1.0 // 0.1 is 10, where Python's and NumPy's
    floor_divide give 9; inf // 2 is inf, not nan), Python's // for integers."""
    if a.dtype.kind in "fc":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.floor(np.true_divide(a, b))
    _check_int_divisor("floordiv", a, b)
    return np.floor_divide(a, b)


def _floor_mod(a, b):
    _check_int_divisor("floormod", a, b)
    return np.mod(a, b)


def floordiv(x, y, name=None):
    return _binary("floordiv", x, y, _floor_divide, lambda g, a, b, o, n: (None, None),
                   lambda g, x, y, o, n: (None, None))


floor_div = floordiv


def floormod(x, y, name=None):
    def bwd_t(g, x, y, o, n):  # floor(x / y) is a constant (zero derivative)
        q = np.floor_divide(x._data, y._data)
        return (g if n[0] else None,
                negative(multiply(g, _zero_grad_step(q, g, (x, y)))) if n[1] else None)
    return _binary("floormod", x, y, _floor_mod,
                   lambda g, a, b, o, n: (g if n[0] else None,
                                          -g * np.floor_divide(a, b) if n[1] else None), bwd_t)


mod = floormod


def pow(x, y, name=None):  # noqa: A001  (TF's name)
    def bwd(g, a, b, o, n):
        gx = gy = None
        if n[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gx = g * b * np.power(a, b - 1)
        if n[1]:
            # TF's rule: log x where x > 0 (a complex x: where x != 0), else 0; a complex
            # x gets conj(z log x) g from _binary's conjugated a and o (log conj x = conj log x
            # with signed zeros)
            pos = (a != 0) if a.dtype.kind == "c" else (a > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                gy = g * o * np.where(pos, np.log(np.where(pos, a, 1)), 0)
        return gx, gy

    def bwd_t(g, x, y, o, n):
        from .array_ops import where
        gx = gy = None
        if n[0]:
            gx = multiply(g, multiply(y, pow(x, subtract(y, 1))))
        if n[1]:
            pos = _wrap(x._data > 0)
            lg = log(where(pos, x, const_like(np.ones(x._data.shape), x)))
            gy = multiply(multiply(g, o), where(pos, lg, const_like(np.zeros(lg._data.shape), x)))
        return gx, gy
    return _binary("pow", x, y, np.power, bwd, bwd_t)


def maximum(x, y, name=None):
    return _binary("maximum", x, y, np.maximum,
                   lambda g, a, b, o, n: (g * (a >= b) if n[0] else None,
                                          g * (a < b) if n[1] else None),
                   lambda g, x, y, o, n: (_masked(g, x._data >= y._data, (x,)) if n[0] else None,
                                          _masked(g, x._data < y._data, (y,)) if n[1] else None))


def minimum(x, y, name=None):
    return _binary("minimum", x, y, np.minimum,
                   lambda g, a, b, o, n: (g * (a <= b) if n[0] else None,
                                          g * (a > b) if n[1] else None),
                   lambda g, x, y, o, n: (_masked(g, x._data <= y._data, (x,)) if n[0] else None,
                                          _masked(g, x._data > y._data, (y,)) if n[1] else None))


def squared_difference(x, y, name=None):
    return _binary("squared_difference", x, y, lambda a, b: np.square(a - b),
                   lambda g, a, b, o, n: (2 * g * (a - b) if n[0] else None,
                                          -2 * g * (a - b) if n[1] else None),
                   lambda g, x, y, o, n: (multiply(g, multiply(subtract(x, y), 2.0)) if n[0]
                                          else None,
                                          multiply(g, multiply(subtract(x, y), -2.0)) if n[1]
                                          else None))


def atan2(y, x, name=None):
    def bwd_t(g, y, x, o, n):
        den = add(square(y), square(x))
        return (divide(multiply(g, x), den) if n[0] else None,
                negative(divide(multiply(g, y), den)) if n[1] else None)
    return _binary("atan2", y, x, np.arctan2,
                   lambda g, a, b, o, n: (g * b / (a * a + b * b), -g * a / (a * a + b * b)),
                   bwd_t)


def _zero_grad_step(value, like, inputs, op="zero_grad_step"):
    """A constant Tensor holding `value` (a slope or mask of a piecewise-linear op, in like's
    dtype and device), recorded as a function of `inputs` with a zero derivative. A Tensor rule
    multiplying by it keeps those inputs connected to the gradient it computes, so a variable
    that reaches a gradient penalty only through such a slope gets zeros, not None (TF's
    ReluGrad, LeakyReluGrad, MaxPoolGrad... give zeros_like(features))."""
    out = const_like(value, like)
    if _tapes:
        from ..framework.tape import _const_like
        ins = tuple(inputs)

        def backward(g, needs):
            return tuple(_const_like(x._data, 0) if need else None for x, need in zip(ins, needs))

        def backward_t(g, needs):
            return tuple(_wrap(_const_like(x._data, 0)) if need else None
                         for x, need in zip(ins, needs))
        record(ins, out, backward, backward_t, op)
    return out


def _masked(g, mask, conn=()):
    """g * mask, the boolean mask a constant (the Tensor rules of maximum, relu...); the
    Tensors in `conn` (the op's inputs) stay connected with a zero derivative."""
    if conn:
        return multiply(g, _zero_grad_step(mask, g, conn))
    return multiply(g, const_like(mask, g))


def add_n(inputs, name=None):
    out = inputs[0]
    for x in inputs[1:]:
        out = add(out, x)
    return out


# ---------------------------------------------------------------- unary elementwise


def _unary(op, x, fwd, bwd=None, bwd_t=None):
    """bwd(g, a, out) on arrays; bwd_t(g, x, out) on Tensors (the second-order rule)."""
    x = t_(x)
    a = x._data
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = _wrap(fwd(a))
    cx = "c" in (a.dtype.kind, out._data.dtype.kind)
    if _tapes and bwd is not None and cx and not (op in _COMPLEX_GRAD and a.dtype.kind == "c"):
        from .complex_ops import record_no_gradient
        record_no_gradient(op, (x,), out)
    elif _tapes and bwd is not None and (cx or is_float(out._data)):
        def backward(g, needs):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                if cx:  # conj(f'(z)) g (_COMPLEX_GRAD)
                    return (bwd(g, _conj(a), _conj(out._data)),)
                return (bwd(g, a, out._data),)
        backward_t = None
        if bwd_t is not None and not cx:
            def backward_t(g, needs):
                return (bwd_t(g, x, out),)
        record((x,), out, backward, backward_t, op)
    return out


def _zero_t(g, x, o):
    return const_like(np.zeros_like(g._data), g)


def negative(x, name=None):
    return _unary("negative", x, np.negative, lambda g, a, o: -g,
                  lambda g, x, o: negative(g))


neg = negative


def abs(x, name=None):  # noqa: A001
    x = t_(x)
    if x._data.dtype.kind == "c":  # |z| in the real dtype (complex tensors live on the host)
        from .complex_ops import abs_complex
        return abs_complex(x)
    return _unary("abs", x, np.abs, lambda g, a, o: g * np.sign(a),
                  lambda g, x, o: multiply(g, _zero_grad_step(np.sign(x._data), g, (x,))))


def sign(x, name=None):
    return _unary("sign", x, np.sign, lambda g, a, o: np.zeros_like(g), _zero_t)


def exp(x, name=None):
    return _unary("exp", x, np.exp, lambda g, a, o: g * o,
                  lambda g, x, o: multiply(g, o))


def expm1(x, name=None):
    return _unary("expm1", x, np.expm1, lambda g, a, o: g * (o + 1),
                  lambda g, x, o: multiply(g, add(o, 1.0)))


def log(x, name=None):
    return _unary("log", x, np.log, lambda g, a, o: g / a,
                  lambda g, x, o: divide(g, x))


def log1p(x, name=None):
    return _unary("log1p", x, np.log1p, lambda g, a, o: g / (1 + a),
                  lambda g, x, o: divide(g, add(x, 1.0)))


def _zero_where_g_zero(g, r):
    """TF's SqrtGrad / RsqrtGrad give 0 where the incoming gradient is 0 (so
    tf.where(x > 0, tf.sqrt(x), 0) and the norm of a zero vector behind a mask have finite
    gradients at x = 0 instead of 0 * inf = nan)."""
    return np.where(g == 0, np.zeros((), r.dtype), r)


def _zero_where_g_zero_t(g, r):
    from .array_ops import where
    return where(_wrap(g._data == 0), const_like(np.zeros_like(g._data), g), r)


def sqrt(x, name=None):
    return _unary("sqrt", x, np.sqrt, lambda g, a, o: _zero_where_g_zero(g, g * 0.5 / o),
                  lambda g, x, o: _zero_where_g_zero_t(g, divide(multiply(g, 0.5), o)))


def rsqrt(x, name=None):
    return _unary("rsqrt", x, lambda a: 1 / np.sqrt(a),
                  lambda g, a, o: _zero_where_g_zero(g, -0.5 * g * o * o * o),
                  lambda g, x, o: _zero_where_g_zero_t(
                      g, multiply(multiply(g, -0.5), multiply(o, multiply(o, o)))))


def square(x, name=None):
    return _unary("square", x, np.square, lambda g, a, o: 2 * g * a,
                  lambda g, x, o: multiply(g, multiply(x, 2.0)))


def reciprocal(x, name=None):
    return _unary("reciprocal", x, np.reciprocal, lambda g, a, o: -g * o * o,
                  lambda g, x, o: negative(multiply(g, multiply(o, o))))


def sin(x, name=None):
    return _unary("sin", x, np.sin, lambda g, a, o: g * np.cos(a),
                  lambda g, x, o: multiply(g, cos(x)))


def cos(x, name=None):
    return _unary("cos", x, np.cos, lambda g, a, o: -g * np.sin(a),
                  lambda g, x, o: negative(multiply(g, sin(x))))


def tan(x, name=None):
    return _unary("tan", x, np.tan, lambda g, a, o: g * (1 + o * o),
                  lambda g, x, o: multiply(g, add(multiply(o, o), 1.0)))


def floor(x, name=None):
    return _unary("floor", x, np.floor, lambda g, a, o: np.zeros_like(g), _zero_t)


def ceil(x, name=None):
    return _unary("ceil", x, np.ceil, lambda g, a, o: np.zeros_like(g), _zero_t)


def round(x, name=None):  # noqa: A001
    return _unary("round", x, np.round, lambda g, a, o: np.zeros_like(g), _zero_t)


def erf(x, name=None):
    # computed on the host (float64) and placed back, so it also runs on the GPU
    from .extra_math_ops import erf as _erf
    return _erf(x)


def is_nan(x, name=None):
    return _unary("is_nan", x, np.isnan)


def is_inf(x, name=None):
    return _unary("is_inf", x, np.isinf)


def is_finite(x, name=None):
    return _unary("is_finite", x, np.isfinite)


def logical_not(x, name=None):
    return _unary("logical_not", x, np.logical_not)


def logical_and(x, y, name=None):
    return _binary("logical_and", x, y, np.logical_and, None)


def logical_or(x, y, name=None):
    return _binary("logical_or", x, y, np.logical_or, None)


def logical_xor(x, y, name=None):
    return _binary("logical_xor", x, y, np.logical_xor, None)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    from ._common import _check_python_float
    t = t_(t)
    a = t._data
    for v in (clip_value_min, clip_value_max):
        _check_python_float("clip_by_value", v, t)   # TF: clip(int tensor, 0.5, 3.5) raises
        if isinstance(v, Tensor) and v._data.dtype != a.dtype:
            raise TypeError(f"[clip_by_value] the bound's dtype {v._data.dtype.name} differs "
                            f"from t's {a.dtype.name} (shape {tuple(a.shape)}); cast one first")
    lo = _asarray(clip_value_min._data if isinstance(clip_value_min, Tensor) else clip_value_min,
                    dtype=a.dtype)
    hi = _asarray(clip_value_max._data if isinstance(clip_value_max, Tensor) else clip_value_max,
                    dtype=a.dtype)
    # TF: maximum(minimum(t, max), min), so min wins where min > max (np.clip: max wins)
    out = _wrap(np.maximum(np.minimum(a, hi), lo))
    if _tapes and is_float(a):
        mask = (a >= lo) & (a <= hi)
        bounds = tuple(v for v in (clip_value_min, clip_value_max) if isinstance(v, Tensor))
        if not bounds:
            record((t,), out, lambda g, n: (g * mask,), lambda g, n: (_masked(g, mask, (t,)),),
                   "clip_by_value")
        else:   # tensor bounds get the gradient where they bind, as TF's ClipByValueGrad
            _record_clip_bounds(t, clip_value_min, clip_value_max, a < lo, a > hi, mask, out)
    return out


def _record_clip_bounds(t, lo, hi, below, above, mask, out):
    """Records clip_by_value with its Tensor bounds as inputs: t's gradient where neither bound
    binds, a bound's where it binds (summed over the axes it was broadcast along)."""
    ins = (t,) + tuple(v for v in (lo, hi) if isinstance(v, Tensor))
    masks = (mask,) + tuple(m for v, m in ((lo, below), (hi, above)) if isinstance(v, Tensor))

    def backward(g, n):
        return tuple(unbroadcast(g * m, x._data.shape) if need else None
                     for x, m, need in zip(ins, masks, n))

    def backward_t(g, n):
        return tuple(unbroadcast_t(_masked(g, m, (x,)), x._data.shape) if need else None
                     for x, m, need in zip(ins, masks, n))
    record(ins, out, backward, backward_t, "clip_by_value")


# ---------------------------------------------------------------- comparisons (no gradient)


def _compare(op, fn):
    def f(x, y, name=None):
        x, y = binary_operands(op, x, y)
        if x._data.shape != y._data.shape:
            broadcast_shape(op, x._data.shape, y._data.shape)
        return _wrap(fn(x._data, y._data))
    f.__name__ = op
    f.__doc__ = f"Elementwise `{op}` with broadcasting; returns a bool tensor."
    return f


equal = _compare("equal", np.equal)
not_equal = _compare("not_equal", np.not_equal)
greater = _compare("greater", np.greater)
greater_equal = _compare("greater_equal", np.greater_equal)
less = _compare("less", np.less)
less_equal = _compare("less_equal", np.less_equal)


def cast(x, dtype, name=None):
    """Casts to `dtype`; the gradient flows between floating types only (as in TF)."""
    x = t_(x)
    dt = _dt.as_dtype(dtype)
    a = x._data
    if a.dtype == dt._np:
        if x._is_variable:  # a snapshot that still carries the gradient, as TF's identity
            from .array_ops import identity
            return identity(x)
        return x
    if a.dtype.kind == "c" or dt.is_complex:
        from .complex_ops import cast_complex
        return cast_complex(x, dt)
    out = _wrap(a.astype(dt._np))
    if _tapes and is_float(a) and dt.is_floating:
        src = a.dtype
        record((x,), out, lambda g, n: (g.astype(src),), lambda g, n: (cast(g, src),), "cast")
    return out


def _value_range(npdt):
    """(lowest, highest) finite value of a NumPy dtype as Python numbers; bool is [0, 1]."""
    if npdt.kind == "b":
        return 0, 1
    info = np.iinfo(npdt) if npdt.kind in "iu" else np.finfo(npdt)
    return (int(info.min), int(info.max)) if npdt.kind in "iu" else (float(info.min),
                                                                      float(info.max))


def _bound_in(v, npdt, inward):
    """The Python number v as a scalar of npdt, moved one step toward 0 when rounding took it
    past v (float32(2**31 - 1) is 2**31, which overflows int32)."""
    b = np.asarray(v).astype(npdt)[()]
    num = int(b) if npdt.kind in "iu" else float(b)
    if (num < v) if inward > 0 else (num > v):
        b = np.nextafter(b, npdt.type(0))
    return b


def saturate_cast(value, dtype, name=None):
    """value clamped to dtype's range, then cast (TF's intent; TF's own overflows for
    float -> int64). Bounds are taken in value's dtype and rounded inward; a side is clamped
    only where dtype's range is narrower, so float32 -> float64 keeps infinities. A bool
    target clamps to [0, 1] as Keras 3 (TF raises); a bool input is always in range."""
    dt = _dt.as_dtype(dtype)
    value = t_(value)
    src = value._data.dtype
    if src.kind == "c" or dt.is_complex:
        if dt.is_integer:
            info = np.iinfo(dt._np)
            value = clip_by_value(value, info.min, info.max)
        return cast(value, dt)
    if src.kind != "b" and src != np.dtype(dt._np):
        lo_in, hi_in = _value_range(src)
        lo_out, hi_out = _value_range(np.dtype(dt._np))
        # float -> integer always clamps: infinities lie past any finite range (TF clamps
        # float16 inf to 65504 before a cast to int32; unclamped it became INT_MIN)
        to_int = src.kind == "f" and np.dtype(dt._np).kind in "iu"
        if lo_out > lo_in or hi_out < hi_in or to_int:
            far = (-np.inf, np.inf) if src.kind == "f" and not to_int else (lo_in, hi_in)
            lo = _bound_in(lo_out, src, +1) if lo_out > lo_in else src.type(far[0])
            hi = _bound_in(hi_out, src, -1) if hi_out < hi_in else src.type(far[1])
            value = clip_by_value(value, lo, hi)
    return cast(value, dt)


# ---------------------------------------------------------------- reductions


def _expand_grad(g, shape, axes, keepdims):
    if not keepdims:
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, shape)


def _expand_grad_t(g, x, o, axes, keepdims):
    """_expand_grad on Tensors: g back to x's shape (reduce_sum's Tensor rule)."""
    from .array_ops import broadcast_to, reshape
    shape = x._data.shape
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    if g._data.shape != kept:
        g = reshape(g, kept)
    return broadcast_to(g, shape) if kept != shape else g


def _reduce(op, x, axis, keepdims, fwd, bwd, bwd_t=None):
    x = t_(x)
    a = x._data
    axes = norm_axis(op, axis, a.ndim)
    out = _wrap(fwd(a, axes, keepdims))
    if _tapes and bwd is not None and a.dtype.kind == "c":
        if op in ("reduce_sum", "reduce_mean"):  # linear: the same rule for complex values
            record((x,), out, lambda g, needs: (bwd(g, a, out._data, axes, keepdims),),
                   None, op)
        elif op == "reduce_prod":  # g times the conjugated product of the others
            record((x,), out, lambda g, needs: (bwd(g, _conj(a), _conj(out._data), axes,
                                                    keepdims),), None, op)
        else:
            from .complex_ops import record_no_gradient
            record_no_gradient(op, (x,), out)
    elif _tapes and bwd is not None and is_float(a):
        def backward(g, needs):
            return (bwd(g, a, out._data, axes, keepdims),)
        backward_t = None
        if bwd_t is not None:
            def backward_t(g, needs):
                return (bwd_t(g, x, out, axes, keepdims),)
        record((x,), out, backward, backward_t, op)
    return out


def _int_keep(a):
    """The accumulation dtype that keeps an integer tensor's dtype (TF: int32 sums are int32;
    NumPy would widen them to int64)."""
    return a.dtype if a.dtype.kind in "iu" else None


def _ragged_reduce(op, rt, axis, keepdims):
    """A reduction of a nabi RaggedTensor (see nabi.ragged.reduce); no gradient."""
    from ..ragged import reduce
    return reduce(op, rt, axis, keepdims)


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    if type(input_tensor).__name__ == "RaggedTensor":
        return _ragged_reduce("reduce_sum", input_tensor, axis, keepdims)
    return _reduce("reduce_sum", input_tensor, axis, keepdims,
                   lambda a, ax, k: np.sum(a, axis=ax, keepdims=k, dtype=_int_keep(a)),
                   lambda g, a, o, ax, k: _expand_grad(g, a.shape, ax, k), _expand_grad_t)


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    if type(input_tensor).__name__ == "RaggedTensor":
        return _ragged_reduce("reduce_mean", input_tensor, axis, keepdims)
    x = t_(input_tensor)
    if x._data.dtype.kind in "iu":
        # TensorFlow's integer mean: the sum divided by the count, rounded toward zero.
        def int_mean(a, ax, k):
            s = np.sum(a, axis=ax, keepdims=k)
            n = max(1, int(np.prod([a.shape[i] for i in ax])))
            q = s // n
            return (q + ((s < 0) & (q * n != s)).astype(q.dtype)).astype(a.dtype)
        return _reduce("reduce_mean", x, axis, keepdims, int_mean, None)

    def fwd(a, ax, k):
        return np.mean(a, axis=ax, keepdims=k, dtype=a.dtype)

    def bwd(g, a, o, ax, k):
        n = int(np.prod([a.shape[i] for i in ax])) if ax else 1
        return _expand_grad(g / max(n, 1), a.shape, ax, k)

    def bwd_t(g, x, o, ax, k):
        sh = x._data.shape
        n = int(np.prod([sh[i] for i in ax])) if ax else 1
        return _expand_grad_t(multiply(g, 1.0 / max(n, 1)), x, o, ax, k)
    return _reduce("reduce_mean", x, axis, keepdims, fwd, bwd, bwd_t)


def _minmax_bwd(g, a, o, ax, k):
    ok = o if k else (np.expand_dims(o, ax) if ax else o)
    gk = g if k else (np.expand_dims(g, ax) if ax else g)
    mask = (a == ok)
    count = mask.sum(axis=ax, keepdims=True).astype(g.dtype)  # an int count would make g float64
    return mask * (gk / count)


def _minmax_bwd_t(g, x, o, ax, k):
    """The gradient is shared among the tied extrema, a constant mask / count."""
    from .array_ops import reshape
    a = x._data
    ok = o._data if k else (np.expand_dims(o._data, ax) if ax else o._data)
    mask = (a == ok)
    m = mask.astype(a.dtype)
    w = m / m.sum(axis=ax, keepdims=True)
    kept = tuple(1 if i in ax else d for i, d in enumerate(a.shape))
    return multiply(reshape(g, kept), const_like(w, g))


def _minmax_fwd(f, a, ax, k):
    """np.max / np.min, except that reducing an empty axis gives the reduction's identity
    (TF: the dtype's lowest value for max, -inf for floats; its highest for min), where NumPy
    raises."""
    if a.size or not ax:
        return f(a, axis=ax, keepdims=k)
    lo = f is np.max
    if a.dtype.kind == "f":
        fill = -np.inf if lo else np.inf
    elif a.dtype.kind == "b":
        fill = not lo
    else:
        info = np.iinfo(a.dtype)
        fill = info.min if lo else info.max
    shape = tuple(1 if i in ax else d for i, d in enumerate(a.shape)) if k else \
        tuple(d for i, d in enumerate(a.shape) if i not in ax)
    from .array_ops import _on_device_of
    return _on_device_of(np.full(shape, fill, a.dtype), a)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    if type(input_tensor).__name__ == "RaggedTensor":
        return _ragged_reduce("reduce_max", input_tensor, axis, keepdims)
    return _reduce("reduce_max", input_tensor, axis, keepdims,
                   lambda a, ax, k: _minmax_fwd(np.max, a, ax, k), _minmax_bwd, _minmax_bwd_t)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    if type(input_tensor).__name__ == "RaggedTensor":
        return _ragged_reduce("reduce_min", input_tensor, axis, keepdims)
    return _reduce("reduce_min", input_tensor, axis, keepdims,
                   lambda a, ax, k: _minmax_fwd(np.min, a, ax, k), _minmax_bwd, _minmax_bwd_t)


def _prod_bwd(g, a, o, ax, k):
    # d prod / d a_i = product of the other elements: exclusive prefix * suffix products
    # (exact with zeros, unlike prod / a_i).
    keep = [i for i in range(a.ndim) if i not in ax]
    perm = keep + list(ax)
    moved = np.transpose(a, perm)
    lead = moved.shape[:len(keep)]
    flat = moved.reshape(lead + (-1,))
    ones = np.ones_like(flat[..., :1])
    left = np.concatenate([ones, np.cumprod(flat[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(flat[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    others = (left * right).reshape(moved.shape)
    gk = g if k else (np.expand_dims(g, ax) if ax else g)
    gk = np.transpose(np.broadcast_to(gk, a.shape), perm)
    inv = np.argsort(perm)
    return np.transpose(others * gk, inv)


def _exclusive_cumprod_t(v, reverse):
    """The exclusive cumulative product of v along its last axis, with recorded ops only
    (slices, concat, multiply): a Hillis-Steele scan of log2(n) steps, exact with zeros and
    differentiable to any order."""
    from .array_ops import concat
    n = v._data.shape[-1]
    lead = (slice(None),) * (v._data.ndim - 1)

    def ones(k):
        return const_like(np.ones(v._data.shape[:-1] + (k,)), v)
    if reverse:   # p_i = v_{i+1}, then p_i *= p_{i+s}
        p = concat([v[lead + (slice(1, None),)], ones(1)], -1)
    else:         # p_i = v_{i-1}, then p_i *= p_{i-s}
        p = concat([ones(1), v[lead + (slice(0, n - 1),)]], -1)
    s = 1
    while s < n:
        if reverse:
            sh = concat([p[lead + (slice(s, None),)], ones(s)], -1)
        else:
            sh = concat([ones(s), p[lead + (slice(0, n - s),)]], -1)
        p = multiply(p, sh)
        s *= 2
    return p


def _prod_bwd_t(g, x, o, ax, k):
    """reduce_prod's Tensor rule: g times the product of the other elements (exclusive prefix
    times suffix products, no division), on the reduced axes moved last and flattened."""
    from .array_ops import reshape, transpose
    a = x._data
    keep = [i for i in range(a.ndim) if i not in ax]
    perm = keep + list(ax)
    lead = tuple(a.shape[i] for i in keep)
    n = int(np.prod([a.shape[i] for i in ax])) if ax else 1
    if n == 0:
        return const_like(np.zeros(a.shape), x)
    moved = transpose(x, perm) if perm != list(range(a.ndim)) else x
    flat = reshape(moved, lead + (n,))
    others = multiply(_exclusive_cumprod_t(flat, False), _exclusive_cumprod_t(flat, True))
    r = reshape(multiply(others, reshape(g, lead + (1,))), tuple(a.shape[i] for i in perm))
    return transpose(r, list(np.argsort(perm))) if perm != list(range(a.ndim)) else r


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    if type(input_tensor).__name__ == "RaggedTensor":
        return _ragged_reduce("reduce_prod", input_tensor, axis, keepdims)
    return _reduce("reduce_prod", input_tensor, axis, keepdims,
                   lambda a, ax, k: np.prod(a, axis=ax, keepdims=k, dtype=_int_keep(a)),
                   _prod_bwd, _prod_bwd_t)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    x = t_(input_tensor)
    m = stop_gradient_value(reduce_max(x, axis, keepdims=True))
    m._data = np.where(np.isfinite(m._data), m._data, 0).astype(m._data.dtype)
    s = log(reduce_sum(exp(x - m), axis, keepdims=True)) + m
    if not keepdims:
        from .array_ops import squeeze
        ax = norm_axis("reduce_logsumexp", axis, x._data.ndim)
        s = squeeze(s, ax) if ax else s
    return s


def stop_gradient_value(x):
    return _wrap(x._data.copy())


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    return _reduce("reduce_any", input_tensor, axis, keepdims,
                   lambda a, ax, k: np.any(a, axis=ax, keepdims=k), None)


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    return _reduce("reduce_all", input_tensor, axis, keepdims,
                   lambda a, ax, k: np.all(a, axis=ax, keepdims=k), None)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    x = t_(input_tensor)
    if x._data.dtype.kind not in "fc":   # TF raises; the integer mean truncated ([1, 2] gave 0)
        raise TypeError(f"[reduce_variance] input must be a float or complex tensor, got "
                        f"{x._data.dtype.name} of shape {tuple(x._data.shape)}; cast it first")
    m = reduce_mean(x, axis, keepdims=True)
    return reduce_mean(square(x - m), axis, keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    x = t_(input_tensor)
    if x._data.dtype.kind not in "fc":
        raise TypeError(f"[reduce_std] input must be a float or complex tensor, got "
                        f"{x._data.dtype.name} of shape {tuple(x._data.shape)}; cast it first")
    return sqrt(reduce_variance(x, axis, keepdims))


def _arg(op, fn, x, axis, output_type):
    x = t_(x)
    a = x._data
    if axis is None:
        axis = 0
    if isinstance(axis, Tensor):
        axis = int(axis._data)
    if a.ndim == 0 or not -a.ndim <= axis < a.ndim:
        raise ValueError(f"[{op}] axis {axis} is out of range for shape {tuple(a.shape)}")
    return _wrap(fn(a, axis=axis).astype(_dt.as_dtype(output_type)._np))


def argmax(input, axis=None, output_type=_dt.int64, name=None):  # noqa: A002
    return _arg("argmax", np.argmax, input, axis, output_type)


def argmin(input, axis=None, output_type=_dt.int64, name=None):  # noqa: A002
    return _arg("argmin", np.argmin, input, axis, output_type)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    x = t_(x)
    a = x._data

    def fwd(v):
        if reverse:
            v = np.flip(v, axis)
        r = np.cumsum(v, axis=axis, dtype=v.dtype)
        if exclusive:
            r = np.concatenate([np.zeros_like(np.take(r, [0], axis)),
                                np.take(r, range(r.shape[axis] - 1), axis)], axis)
        return np.flip(r, axis) if reverse else r
    out = _wrap(fwd(a))
    if _tapes and is_float(a):
        def bwd(g, n):
            gg = np.flip(g, axis) if not reverse else g
            r = np.cumsum(gg, axis=axis)
            if exclusive:
                r = np.concatenate([np.zeros_like(np.take(r, [0], axis)),
                                    np.take(r, range(r.shape[axis] - 1), axis)], axis)
            return (np.flip(r, axis) if not reverse else r,)
        record((x,), out, bwd,
               lambda g, n: (cumsum(g, axis, exclusive=exclusive, reverse=not reverse),), "cumsum")
    return out


def _scan_axis(op, x, axis):
    a = x._data
    if a.ndim == 0:
        raise ValueError(f"[{op}] input must have rank >= 1, got a scalar")
    if isinstance(axis, Tensor):
        axis = axis._data.item()
    axis = int(axis)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"[{op}] axis {axis} is out of range for shape {tuple(a.shape)}")
    return axis % a.ndim


def _axis_slice(v, axis, lo, hi):
    idx = [slice(None)] * v.ndim
    idx[axis] = slice(lo, hi)
    return v[tuple(idx)]


def _shift(v, axis, k, fill):
    """v moved k places along `axis` (k > 0: towards higher indices), the gap filled with
    `fill`; works on host and device arrays."""
    n = v.shape[axis]
    k = _builtins.min(_builtins.abs(k), n) * (1 if k >= 0 else -1)
    if k == 0:
        return v
    shp = list(v.shape)
    shp[axis] = _builtins.abs(k)
    pad = np.full_like(v, fill, shape=tuple(shp))
    if k > 0:
        return np.concatenate([pad, _axis_slice(v, axis, 0, n - k)], axis=axis)
    return np.concatenate([_axis_slice(v, axis, -k, n), pad], axis=axis)


def _cumprod_grad(g, v, axis, exclusive):
    """Gradient of (exclusive) cumprod(v) along `axis`, without dividing by v (exact with
    zeros): grad_i = P_i * S_i, P the exclusive prefix product and S_i = b_i + v_{i+1} S_{i+1}
    (b = g, or g moved one place down when exclusive) -- a suffix scan of affine maps done
    in log2(n) doubling steps of elementwise ops, so it runs on host and device arrays."""
    n = v.shape[axis]
    p = _shift(np.cumprod(v, axis=axis, dtype=v.dtype), axis, 1, 1)
    b = _shift(g, axis, -1, 0) if exclusive else g
    m = _shift(v, axis, -1, 0)
    s = 1
    while s < n:
        b = b + m * _shift(b, axis, -s, 0)
        m = m * _shift(m, axis, -s, 0)
        s *= 2
    return p * b


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Cumulative product along `axis` (TF's `tf.math.cumprod`): `exclusive` starts each
    product at 1, `reverse` runs it from the end. The gradient is exact with zeros."""
    x = t_(x)
    a = x._data
    ax = _scan_axis("cumprod", x, axis)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"[cumprod] input must be a float or integer tensor, got {a.dtype.name} "
                        f"{tuple(a.shape)}")
    v = np.flip(a, ax) if reverse else a
    r = np.cumprod(v, axis=ax, dtype=a.dtype)
    if exclusive:
        r = _shift(r, ax, 1, 1)
    out = _wrap(contiguous(np.flip(r, ax)) if reverse else r)
    if _tapes and is_float(a):
        def bwd(g, n):
            gg = np.flip(g, ax) if reverse else g
            r = _cumprod_grad(gg, v, ax, exclusive)
            return (np.flip(r, ax) if reverse else r,)

        def bwd_t(g, n):
            return (_cumprod_grad_t(g, x, ax, exclusive, reverse),)
        record((x,), out, bwd, bwd_t, "cumprod")
    return out


def _shift_t(v, axis, k, fill):
    """`_shift` on Tensors, with recorded ops (a slice and a constant pad)."""
    from .array_ops import concat
    n = v._data.shape[axis]
    k = _builtins.min(_builtins.abs(k), n) * (1 if k >= 0 else -1)
    if k == 0:
        return v
    shp = list(v._data.shape)
    shp[axis] = _builtins.abs(k)
    pad = const_like(np.full(tuple(shp), fill, v._data.dtype), v)
    idx = [slice(None)] * v._data.ndim
    if k > 0:
        idx[axis] = slice(0, n - k)
        return concat([pad, v[tuple(idx)]], axis)
    idx[axis] = slice(-k, n)
    return concat([v[tuple(idx)], pad], axis)


def _cumprod_grad_t(g, x, axis, exclusive, reverse):
    """`_cumprod_grad` written with nabi ops (cumprod's second-order rule): a polynomial in
    x, so its derivatives stay exact with zeros too."""
    from .array_ops import reverse as _rev
    if reverse:
        g, x = _rev(g, [axis]), _rev(x, [axis])
    n = x._data.shape[axis]
    p = cumprod(x, axis, exclusive=True)
    b = _shift_t(g, axis, -1, 0) if exclusive else g
    m = _shift_t(x, axis, -1, 0)
    s = 1
    while s < n:
        b = add(b, multiply(m, _shift_t(b, axis, -s, 0)))
        if s * 2 < n:
            m = multiply(m, _shift_t(m, axis, -s, 0))
        s *= 2
    r = multiply(p, b)
    return _rev(r, [axis]) if reverse else r


def count_nonzero(input, axis=None, keepdims=False, dtype=_dt.int64, name=None):  # noqa: A002
    """Number of non-zero elements (non-empty strings) along `axis`, as `dtype` (int64)."""
    x = t_(input)
    a = x._data
    axes = norm_axis("count_nonzero", axis, a.ndim)
    dt = _dt.as_dtype(dtype)
    if a.dtype.kind == "O":
        nz = np.vectorize(lambda s: len(s) > 0, otypes=[bool])(a) if a.size else \
            np.zeros(a.shape, bool)
    else:
        nz = np.not_equal(a, 0)
    r = np.sum(nz, axis=axes, keepdims=bool(keepdims))
    r = _asarray(r)
    return _wrap(r.astype(dt._np))


# ---------------------------------------------------------------- matmul


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    """op(a) @ op(b) for rank >= 2 inputs on nabi's GEMM; batch dimensions broadcast."""
    transpose_a = transpose_a or adjoint_a
    transpose_b = transpose_b or adjoint_b
    a, b = binary_operands("matmul", a, b)
    if (adjoint_a or adjoint_b) and a._data.dtype.kind == "c":   # adjoint: the conjugate
        from .complex_ops import conj                              # transpose
        a = conj(a) if adjoint_a else a
        b = conj(b) if adjoint_b else b
    A, B = a._data, b._data
    if A.ndim < 2 or B.ndim < 2:
        raise ValueError(f"[matmul] inputs must be at least 2-D, got shapes {tuple(A.shape)} "
                         f"and {tuple(B.shape)}")
    ka = A.shape[-2] if transpose_a else A.shape[-1]
    kb = B.shape[-1] if transpose_b else B.shape[-2]
    if ka != kb:
        sa = f"{tuple(A.shape)}{'^T' if transpose_a else ''}"
        sb = f"{tuple(B.shape)}{'^T' if transpose_b else ''}"
        from ..errors import InvalidArgumentError   # a ValueError, and TF's eager error
        raise InvalidArgumentError(f"[matmul] inner dimensions differ: {sa} @ {sb}")
    out = _wrap(_mm(A, B, transpose_a, transpose_b))
    cx = A.dtype.kind == "c"
    if _tapes and (cx or is_float(A)):
        ta, tb = transpose_a, transpose_b

        def backward(g, needs):
            A, B = (_conj(a._data), _conj(b._data)) if cx else (a._data, b._data)
            ga = gb = None
            if needs[0]:
                if not ta:
                    ga = _mm(g, B, False, not tb)
                else:
                    ga = _mm(B, g, tb, True)
                ga = unbroadcast(ga, A.shape)
            if needs[1]:
                if not tb:
                    gb = _mm(A, g, not ta, False)
                else:
                    gb = _mm(g, A, True, ta)
                gb = unbroadcast(gb, B.shape)
            return ga, gb

        def backward_t(g, needs):
            ga = gb = None
            if needs[0]:
                ga = matmul(g, b, transpose_b=not tb) if not ta else \
                    matmul(b, g, transpose_a=tb, transpose_b=True)
                ga = unbroadcast_t(ga, A.shape)
            if needs[1]:
                gb = matmul(a, g, transpose_a=not ta) if not tb else \
                    matmul(g, a, transpose_a=True, transpose_b=ta)
                gb = unbroadcast_t(gb, B.shape)
            return ga, gb
        record((a, b), out, backward, None if cx else backward_t, "matmul")
    return out


def _mm(A, B, ta, tb):
    """Raw matmul on arrays: our GEMM for float32/float64, NumPy for other dtypes."""
    if A.dtype.kind != "f" or A.dtype == np.float16:
        A2 = np.swapaxes(A, -1, -2) if ta else A
        B2 = np.swapaxes(B, -1, -2) if tb else B
        return np.matmul(A2, B2)
    if A.ndim == 2 and B.ndim == 2:
        # A transposed view of a C-contiguous matrix is passed as its base with the flag
        # flipped: the GEMM's packing reads either layout, so no copy is made.
        if not A.flags.c_contiguous and A.T.flags.c_contiguous:
            A, ta = A.T, not ta
        if not B.flags.c_contiguous and B.T.flags.c_contiguous:
            B, tb = B.T, not tb
        return kernels(A).matmul(contiguous(A), contiguous(B), ta, tb)
    A, B = contiguous(A), contiguous(B)
    batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A3 = np.broadcast_to(A, batch + A.shape[-2:]).reshape((-1,) + A.shape[-2:]) \
        if A.shape[:-2] != batch else A.reshape((-1,) + A.shape[-2:])
    B3 = np.broadcast_to(B, batch + B.shape[-2:]).reshape((-1,) + B.shape[-2:]) \
        if B.shape[:-2] != batch else B.reshape((-1,) + B.shape[-2:])
    r = kernels(A3).matmul(contiguous(A3), contiguous(B3), ta, tb)
    return r.reshape(batch + r.shape[-2:])


def tensordot(a, b, axes, name=None):
    from .array_ops import reshape, transpose
    a, b = binary_operands("tensordot", a, b)
    if isinstance(axes, int):
        ax_a = list(range(a.ndim - axes, a.ndim))
        ax_b = list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, int) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, int) else list(ax_b)
    ax_a = [i % a.ndim for i in ax_a]
    ax_b = [i % b.ndim for i in ax_b]
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    sa, sb = a._data.shape, b._data.shape
    k = int(np.prod([sa[i] for i in ax_a]))
    at = reshape(transpose(a, free_a + ax_a), (-1, k))
    bt = reshape(transpose(b, ax_b + free_b), (k, -1))
    return reshape(matmul(at, bt), [sa[i] for i in free_a] + [sb[i] for i in free_b])
