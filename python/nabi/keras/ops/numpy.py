"""`keras.ops` NumPy-style ops (Keras 3's keras/src/ops/numpy.py) on nabi's own ops, so that
gradients and devices work as for any nabi op. Argument names follow Keras 3 (x, x1/x2, axis,
keepdims); errors start with the op's name."""
import builtins

import numpy as np

import nabi as tf
from nabi.framework.device import DeviceArray, backend
from nabi.framework.tensor import Tensor, _wrap
from nabi.ops.array_ops import gather_checked

from ._common import (FLOATX, is_kt, norm_axis, pair, shape_of, static_ints, t_, to_float, dt,
                      weak_result)

# the builtins this module's max/min/abs/any shadow
_bmax, _bmin, _babs, _bany = builtins.max, builtins.min, builtins.abs, builtins.any


# ----------------------------------------------------------------------------- elementwise
def _unary(tf_fn, name, floating=True):
    def op(x):
        return tf_fn(to_float(x) if floating else t_(x))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"`keras.ops.{name}(x)`, elementwise."
    return op


abs = _unary(tf.abs, "abs", floating=False)  # noqa: A001
absolute = _unary(tf.abs, "absolute", floating=False)
negative = _unary(tf.negative, "negative", floating=False)
arccos = _unary(tf.acos, "arccos")
arccosh = _unary(tf.acosh, "arccosh")
arcsin = _unary(tf.asin, "arcsin")
arcsinh = _unary(tf.asinh, "arcsinh")
arctan = _unary(tf.atan, "arctan")
arctanh = _unary(tf.atanh, "arctanh")
cos = _unary(tf.cos, "cos")
cosh = _unary(tf.cosh, "cosh")
sin = _unary(tf.sin, "sin")
sinh = _unary(tf.sinh, "sinh")
tan = _unary(tf.tan, "tan")
tanh = _unary(tf.tanh, "tanh")
exp = _unary(tf.exp, "exp")
expm1 = _unary(tf.math.expm1, "expm1")
log = _unary(tf.math.log, "log")
log1p = _unary(tf.math.log1p, "log1p")
sqrt = _unary(tf.sqrt, "sqrt")


def square(x):
    x = t_(x)
    return tf.square(tf.cast(x, tf.int32) if x.dtype.is_bool else x)   # Keras 3: bool -> int32


sign = _unary(tf.sign, "sign", floating=False)
conj = _unary(tf.math.conj, "conj", floating=False)
conjugate = conj
real = _unary(tf.math.real, "real", floating=False)
imag = _unary(tf.math.imag, "imag", floating=False)
copy = _unary(tf.identity, "copy", floating=False)


def log2(x):
    x = to_float(x)
    return tf.math.log(x) / t_(np.log(2.0), x.dtype)


def log10(x):
    x = to_float(x)
    return tf.math.log(x) / t_(np.log(10.0), x.dtype)


def ceil(x):
    x = to_float(x)
    return tf.math.ceil(x) if hasattr(tf.math, "ceil") else -tf.floor(-x)


def floor(x):
    return tf.floor(to_float(x))


def reciprocal(x):
    x = to_float(x)
    return t_(1.0, x.dtype) / x


def round(x, decimals=0):  # noqa: A001
    """Rounds half to even, as NumPy; `decimals` scales by 10**decimals first."""
    x = t_(x)
    if not x.dtype.is_floating:
        if decimals >= 0:
            return x
        f = 10 ** (-decimals)
        xf = tf.cast(x, FLOATX)
        return tf.cast(tf.round(xf / f) * f, x.dtype)
    if decimals == 0:
        return tf.round(x)
    f = t_(10.0 ** decimals, x.dtype)
    return tf.round(x * f) / f


def isfinite(x):
    x = t_(x)
    if not x.dtype.is_floating:
        return tf.ones(shape_of(x), dtype=tf.bool)
    return tf.math.is_finite(x)


def isinf(x):
    x = t_(x)
    if not x.dtype.is_floating:
        return tf.zeros(shape_of(x), dtype=tf.bool)
    return tf.math.is_inf(x)


def isnan(x):
    x = t_(x)
    if not x.dtype.is_floating:
        return tf.zeros(shape_of(x), dtype=tf.bool)
    return tf.math.is_nan(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = t_(x)
    if not x.dtype.is_floating:
        return x
    info = np.finfo(x.dtype.as_numpy_dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = tf.where(tf.math.is_nan(x), t_(nan, x.dtype), x)
    x = tf.where(tf.logical_and(tf.math.is_inf(x), x > 0), t_(posinf, x.dtype), x)
    return tf.where(tf.logical_and(tf.math.is_inf(x), x < 0), t_(neginf, x.dtype), x)


# ----------------------------------------------------------------------------- binary
def _binary(tf_fn, name, floating=False):
    def op(x1, x2):
        a, b = pair(x1, x2)
        if floating and not (a.dtype.is_floating or a.dtype.is_complex):
            a, b = to_float(a), to_float(b)
        return tf_fn(a, b)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"`keras.ops.{name}(x1, x2)`, elementwise with NumPy broadcasting."
    return op


add = _binary(tf.add, "add")
subtract = _binary(tf.subtract, "subtract")
multiply = _binary(tf.multiply, "multiply")
divide = _binary(tf.divide, "divide", floating=True)
true_divide = _binary(tf.divide, "true_divide", floating=True)
floor_divide = _binary(tf.math.floordiv, "floor_divide")


def mod(x1, x2):
    a, b = pair(x1, x2)
    if a.dtype.is_bool:            # Keras 3 computes a bool mod in int32
        a, b = tf.cast(a, tf.int32), tf.cast(b, tf.int32)
    return tf.math.floormod(a, b)


power = _binary(tf.pow, "power")
maximum = _binary(tf.maximum, "maximum")
minimum = _binary(tf.minimum, "minimum")
arctan2 = _binary(tf.atan2, "arctan2", floating=True)
equal = _binary(tf.equal, "equal")
not_equal = _binary(tf.not_equal, "not_equal")
greater = _binary(tf.greater, "greater")
greater_equal = _binary(tf.greater_equal, "greater_equal")
less = _binary(tf.less, "less")
less_equal = _binary(tf.less_equal, "less_equal")


def _logical(tf_fn, name):
    def op(x1, x2):
        return tf_fn(t_(x1, tf.bool), t_(x2, tf.bool))
    op.__name__ = op.__qualname__ = name
    return op


logical_and = _logical(tf.logical_and, "logical_and")
logical_or = _logical(tf.logical_or, "logical_or")
logical_xor = _logical(tf.math.logical_xor, "logical_xor")


def logical_not(x):
    return tf.logical_not(t_(x, tf.bool))


def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)), stable: max + log1p(exp(-|x1 - x2|))."""
    a, b = pair(x1, x2)
    a, b = to_float(a), to_float(b)
    with np.errstate(invalid="ignore"):         # -inf - -inf on the host: handled below
        delta = a - b
    big = tf.maximum(a, b)
    return tf.where(tf.math.is_nan(delta), a + b, big + tf.math.log1p(tf.exp(-tf.abs(delta))))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|x1 - x2| <= atol + rtol * |x2|, as NumPy (infinities are close only to themselves)."""
    a, b = pair(x1, x2)
    if not a.dtype.is_floating:
        return tf.equal(a, b)
    with np.errstate(invalid="ignore"):         # inf - inf: decided by the equality below
        close = tf.abs(a - b) <= t_(atol, a.dtype) + t_(rtol, a.dtype) * tf.abs(b)
    close = tf.logical_or(tf.logical_and(close, tf.math.is_finite(b)), tf.equal(a, b))
    if equal_nan:
        close = tf.logical_or(close, tf.logical_and(tf.math.is_nan(a), tf.math.is_nan(b)))
    return close


def clip(x, x_min, x_max):
    x = t_(x)
    if x.dtype.is_bool:
        x = tf.cast(x, tf.int32)
    if not x.dtype.is_floating:
        for v in (x_min, x_max):    # Keras 3 (TF) refuses these; a cast would truncate 1.5 to 1
            if isinstance(v, float) and not float(v).is_integer():
                raise TypeError(f"[clip] cannot clip the {x.dtype.name} tensor of shape "
                                f"{shape_of(x)} to the non-integer bound {v!r}; cast x to a "
                                "float first")
    return tf.clip_by_value(x, t_(x_min, x.dtype), t_(x_max, x.dtype))


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("[where] give both x1 and x2, or neither")
    a, b = pair(x1, x2)
    return tf.where(t_(condition, tf.bool), a, b)


# ----------------------------------------------------------------------------- reductions
def _reduce(tf_fn, name, cast=None):
    def op(x, axis=None, keepdims=False):
        x = t_(x)
        if cast is not None:
            x = cast(x)
        return tf_fn(x, axis=norm_axis(name, axis, x.shape.rank), keepdims=keepdims)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"`keras.ops.{name}(x, axis=None, keepdims=False)`."
    return op


def _sum_cast(x):
    """bool -> int32 (what TF can sum)."""
    return tf.cast(x, tf.int32) if x.dtype.is_bool else x


def _acc_cast(x):
    """Keras 3's (JAX's) accumulator for sum and prod: bool, int8, int16 -> int32 and uint8,
    uint16 -> uint32, so that sum([100, 100] as int8) is 200, not -56."""
    d = x.dtype
    if d.is_bool or d in (tf.int8, tf.int16):
        return tf.cast(x, tf.int32)
    if d in (tf.uint8, tf.uint16):
        return tf.cast(x, tf.uint32)
    return x


sum = _reduce(tf.reduce_sum, "sum", _acc_cast)  # noqa: A001
mean = _reduce(tf.reduce_mean, "mean", to_float)
var = _reduce(tf.math.reduce_variance, "var", to_float)
std = _reduce(tf.math.reduce_std, "std", to_float)
all = _reduce(tf.reduce_all, "all", lambda x: t_(x, tf.bool))  # noqa: A001
any = _reduce(tf.reduce_any, "any", lambda x: t_(x, tf.bool))  # noqa: A001


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    x = t_(x)
    r = tf.reduce_max(x, axis=norm_axis("max", axis, x.shape.rank), keepdims=keepdims)
    return r if initial is None else tf.maximum(r, t_(initial, r.dtype))


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    x = t_(x)
    r = tf.reduce_min(x, axis=norm_axis("min", axis, x.shape.rank), keepdims=keepdims)
    return r if initial is None else tf.minimum(r, t_(initial, r.dtype))


amax, amin = max, min


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _acc_cast(t_(x, dt(dtype)))
    return tf.reduce_prod(x, axis=norm_axis("prod", axis, x.shape.rank), keepdims=keepdims)


def count_nonzero(x, axis=None):
    x = t_(x)
    return tf.math.count_nonzero(x, axis=norm_axis("count_nonzero", axis, x.shape.rank),
                                 dtype=tf.int32)


def average(x, axis=None, weights=None):
    x = to_float(x)
    if weights is None:
        return mean(x, axis=axis)
    w = t_(weights)
    x, w = pair(x, w)
    nd = x.shape.rank
    if axis is not None and w.shape.rank == 1 and nd > 1:
        a = norm_axis("average", axis, nd)
        if w.shape[0] != x.shape[a]:
            raise ValueError(f"[average] 1-D weights of length {w.shape[0]} do not match axis "
                             f"{axis} of x, shape {shape_of(x)}")
        w = tf.reshape(w, [-1 if i == a else 1 for i in range(nd)])
    elif w.shape.rank != nd:
        raise ValueError(f"[average] weights of shape {shape_of(w)} do not fit x of shape "
                         f"{shape_of(x)} (give axis with 1-D weights)")
    a = norm_axis("average", axis, nd)
    return tf.reduce_sum(x * w, axis=a) / tf.reduce_sum(w * tf.ones_like(x), axis=a)


def _argreduce(tf_fn, name):
    def op(x, axis=None, keepdims=False):
        x = t_(x)
        if axis is None:
            r = tf_fn(tf.reshape(x, [-1]), axis=0, output_type=tf.int32)
            if keepdims:
                r = tf.reshape(r, [1] * x.shape.rank)
            return r
        a = norm_axis(name, axis, x.shape.rank)
        r = tf_fn(x, axis=a, output_type=tf.int32)
        return tf.expand_dims(r, a) if keepdims else r
    op.__name__ = op.__qualname__ = name
    return op


argmax = _argreduce(tf.argmax, "argmax")
argmin = _argreduce(tf.argmin, "argmin")


def _flat_or(x, axis, op="axis"):
    x = t_(x)
    if axis is None:
        return tf.reshape(x, [-1]), 0
    return x, norm_axis(op, axis, x.shape.rank)


def cumsum(x, axis=None, dtype=None):
    x, a = _flat_or(t_(x, dt(dtype)), axis)
    return tf.cumsum(_sum_cast(x), axis=a)


def cumprod(x, axis=None, dtype=None):
    x, a = _flat_or(t_(x, dt(dtype)), axis)
    return tf.math.cumprod(_sum_cast(x), axis=a)


# ----------------------------------------------------------------------------- sorting
def _to_last(x, a):
    nd = x.shape.rank
    if a == nd - 1:
        return x, None
    perm = [i for i in range(nd) if i != a] + [a]
    return tf.transpose(x, perm), np.argsort(perm).tolist()


def argsort(x, axis=-1):
    x, a = _flat_or(x, axis)
    if x.shape.rank == 0:
        return tf.zeros([], tf.int32)
    return tf.argsort(x, axis=a, stable=True)


def _gather_last(x, idx, checked=False):
    """x[..., idx[..., j]] along the last axis (idx has x's leading shape); differentiable.
    checked=True: idx is known to lie in [0, n) (an argsort's), so the rows become one flat
    gather of idx + row * n that reads nothing back on the GPU (gather_checked)."""
    lead = shape_of(x)[:-1]
    n = int(np.prod(lead)) if lead else 1
    m = x.shape[-1]
    xf = tf.reshape(x, [n, m])
    k = idx.shape[-1]
    if checked:
        rows = (np.arange(n, dtype=np.int64) * m).reshape(n, 1)
        flat = tf.reshape(tf.cast(tf.reshape(idx, [n, k]), tf.int64) + rows, [-1])
        r = gather_checked(tf.reshape(xf, [-1]), flat._data, 0)
    else:
        r = tf.gather(xf, tf.reshape(idx, [n, k]), axis=1, batch_dims=1)
    return tf.reshape(r, list(lead) + [k])


def sort(x, axis=-1):
    """Sorted along axis (ascending, NaN last, as NumPy); the gradient flows back through the
    permutation. On the GPU: the sort kernel's argsort and one gather, nothing read back."""
    x, a = _flat_or(x, axis, "sort")
    if x.shape.rank == 0:
        return x
    xt, inv = _to_last(x, a)
    r = _gather_last(xt, tf.argsort(tf.stop_gradient(xt), axis=-1, stable=True), checked=True)
    return r if inv is None else tf.transpose(r, inv)


def take(x, indices, axis=None):
    """x's elements at `indices` along axis (the flattened x when axis is None); negative
    indices count from the end."""
    x, a = _flat_or(x, axis)
    idx = t_(indices)
    if idx.dtype.is_floating:
        raise TypeError(f"[take] indices must be integers, got dtype {idx.dtype.name}")
    n = x.shape[a]
    idx = tf.where(idx < 0, idx + t_(n, idx.dtype), idx)
    return tf.gather(x, idx, axis=a)


def take_along_axis(x, indices, axis=None):
    x = t_(x)
    idx = t_(indices)
    if axis is None:
        x, a = tf.reshape(x, [-1]), 0
        idx = tf.reshape(idx, [-1])
    else:
        a = norm_axis("take_along_axis", axis, x.shape.rank)
    if idx.shape.rank != x.shape.rank:
        raise ValueError(f"[take_along_axis] indices must have x's rank: x {shape_of(x)}, "
                         f"indices {shape_of(idx)}")
    sx, si = list(shape_of(x)), list(shape_of(idx))
    bx, bi = sx[:], si[:]
    bx[a] = bi[a] = 1
    lead = list(np.broadcast_shapes(tuple(bx), tuple(bi)))
    x = tf.broadcast_to(x, [sx[a] if i == a else d for i, d in enumerate(lead)])
    idx = tf.broadcast_to(idx, [si[a] if i == a else d for i, d in enumerate(lead)])
    idx = tf.where(idx < 0, idx + t_(sx[a], idx.dtype), idx)
    xt, inv = _to_last(x, a)
    it, _ = _to_last(idx, a)
    r = _gather_last(xt, tf.cast(it, tf.int32))
    return r if inv is None else tf.transpose(r, inv)


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """NumPy's quantile (methods linear, lower, higher, midpoint, nearest); q's dims lead."""
    methods = ("linear", "lower", "higher", "midpoint", "nearest")
    if method not in methods:
        raise ValueError(f"[quantile] method must be one of {methods}, got {method!r}")
    x = to_float(x)
    nd = x.shape.rank
    qv = np.asarray(q.numpy() if isinstance(q, Tensor) else q, dtype=np.float64)
    if qv.ndim > 1 or np.any(qv < 0) or np.any(qv > 1):
        raise ValueError(f"[quantile] q must be a scalar or 1-D with values in [0, 1], got {q!r}")
    axes = list(range(nd)) if axis is None else norm_axis("quantile", axis, nd)
    axes = sorted([axes] if isinstance(axes, int) else axes)
    keep = [i for i in range(nd) if i not in axes]
    xs = shape_of(x)
    xt = tf.transpose(x, keep + axes)
    n = int(np.prod([xs[i] for i in axes])) if axes else 1
    xt = tf.reshape(xt, [xs[i] for i in keep] + [n])
    srt = sort(xt, axis=-1)
    pos = qv.reshape(-1) * (n - 1)
    lo = np.floor(pos).astype(np.int32)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    if method == "lower":
        hi, frac = lo, np.zeros_like(frac)
    elif method == "higher":
        lo = hi = np.ceil(pos).astype(np.int32)
    elif method == "midpoint":
        hi = np.ceil(pos).astype(np.int32)
        frac = np.where(hi > lo, 0.5, 0.0)
    elif method == "nearest":
        lo = hi = np.clip(np.round(pos), 0, n - 1).astype(np.int32)   # round half to even
    if n:   # positions in [0, n) known on the host: gathers that read nothing back
        last = srt.shape.rank - 1
        vlo, vhi = gather_checked(srt, lo, last), gather_checked(srt, hi, last)
    else:
        vlo = tf.gather(srt, t_(lo), axis=-1)
        vhi = tf.gather(srt, t_(hi), axis=-1)
    # an exact position takes its element as it is (inf + (inf - inf) * 0 would be nan)
    with np.errstate(invalid="ignore"):         # inf - inf on the host: not selected
        r = tf.where(t_(frac > 0), vlo + (vhi - vlo) * t_(frac.astype(x.dtype.as_numpy_dtype)),
                     vlo)                                               # (...keep, nq)
    if n:           # a NaN anywhere in a slice makes its quantiles NaN (sorted last)
        r = tf.where(tf.math.is_nan(srt[..., -1:]), srt[..., -1:], r)
    if keepdims:
        shp = [1 if i in axes else xs[i] for i in range(nd)]
        r = tf.reshape(tf.transpose(r, [r.shape.rank - 1] + list(range(r.shape.rank - 1))),
                       [len(pos)] + shp)
    else:
        r = tf.transpose(r, [r.shape.rank - 1] + list(range(r.shape.rank - 1)))
    return r[0] if qv.ndim == 0 else r


def median(x, axis=None, keepdims=False):
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def nonzero(x):
    """A tuple of int32 index tensors, one per dimension, on x's device (no gradient). On the
    GPU only the count of nonzero elements is read back (it sizes the result, as in TF and
    JAX eager); a scan and a scatter place the indices (device.py's np.nonzero)."""
    x = t_(x)
    a = x._data
    if a.ndim == 0:
        raise ValueError("[nonzero] x must have rank >= 1 (as NumPy), got a scalar of dtype "
                         f"{x.dtype.name}")
    return tuple(_wrap(i.astype(np.int32)) for i in np.nonzero(a))


def digitize(x, bins):
    """The index i with bins[i-1] <= x < bins[i] (increasing bins), as NumPy."""
    x, b = t_(x), t_(bins)
    if b.shape.rank != 1:
        raise ValueError(f"[digitize] bins must be 1-D, got shape {shape_of(b)}")
    x, b = pair(x, b)
    flat = tf.reshape(x, [-1])
    r = tf.searchsorted(b, flat, side="right")
    return tf.reshape(tf.cast(r, tf.int32), shape_of(x))


def bincount(x, weights=None, minlength=0, sparse=False):
    x = t_(x)
    if x.dtype.is_floating:
        raise TypeError(f"[bincount] x must be integers, got dtype {x.dtype.name}")
    if sparse:
        raise NotImplementedError("[bincount] sparse=True is not supported by nabi")
    if x.shape.rank not in (1, 2):
        raise ValueError(f"[bincount] x must be 1-D or 2-D, got shape {shape_of(x)}")
    w = None if weights is None else t_(weights)
    if w is not None and shape_of(w) != shape_of(x):
        raise ValueError(f"[bincount] weights shape {shape_of(w)} must match x shape "
                         f"{shape_of(x)}")
    return tf.math.bincount(tf.cast(x, tf.int32), weights=w, minlength=int(minlength),
                            axis=None if x.shape.rank == 1 else -1)


# ----------------------------------------------------------------------------- creation
def _like_dev(arr, like):
    """A host array on the device of the array `like` (uploaded for a GPU `like`)."""
    return DeviceArray.from_numpy(arr) if type(like) is DeviceArray else arr


def _np_dtype(dtype, default):
    return tf.as_dtype(dtype or default).as_numpy_dtype


def _host(v):
    return v.numpy() if isinstance(v, Tensor) else v


def array(x, dtype=None):
    return t_(x, dt(dtype))


def arange(start, stop=None, step=1, dtype=None):
    start, stop, step = _host(start), _host(stop), _host(step)
    if step == 0:
        raise ValueError("[arange] step must not be 0")
    if dtype is None:           # Keras 3: result_type of the arguments (a NumPy int64 -> int64)
        dtype = weak_result(*[v for v in (start, stop, step) if v is not None])
    return t_(np.arange(start, stop, step).astype(tf.as_dtype(dtype).as_numpy_dtype))


def _space_dtype(start, stop, dtype):
    """Keras 3: dtype, else result_type(start, stop, float) (float64 ends give float64)."""
    return tf.as_dtype(dtype) if dtype is not None else weak_result(start, stop, 1.0)


def _linspace_t(start, stop, num, endpoint, axis):
    """NumPy's linspace of tensor ends as tensor ops on their device (nothing read back),
    differentiable in the ends: computed in NumPy's dtype (float32 ends: float32; float64 or
    integer ends: float64), y = i * step + start with step = (stop - start) / div, or
    (i / div) * delta where any step is 0 (NumPy's subnormal rule, selected on the device),
    the last entry stop with endpoint. Returns (y, step); step is NaN for div == 0."""
    ends = [start, stop]
    ct = np.result_type(*[v.dtype.as_numpy_dtype if isinstance(v, Tensor) else v
                          for v in ends], float(num))
    dev = next(v for v in ends if isinstance(v, Tensor))._data
    s, e = (tf.cast(v if isinstance(v, Tensor) else _wrap(_like_dev(np.asarray(v, ct), dev)),
                    tf.as_dtype(ct)) for v in ends)
    shape = list(np.broadcast_shapes(tuple(shape_of(s)), tuple(shape_of(e))))
    s, e = tf.broadcast_to(s, shape), tf.broadcast_to(e, shape)
    n = int(num)
    if n < 0:
        raise ValueError(f"[linspace] num must be non-negative, got {n}")
    div = n - 1 if endpoint else n
    i = np.arange(n, dtype=ct).reshape([n] + [1] * len(shape))
    delta = e - s
    if div > 0:
        step = delta / div
        zero = tf.reduce_any(tf.equal(step, 0))
        y = tf.where(zero, delta * (i / ct.type(div)), step * i) + s
    else:
        step = delta * np.asarray(np.nan, ct)
        y = delta * i + s
    if endpoint and n > 1:
        y = tf.concat([y[:-1], e[None]], 0)
    r = len(shape) + 1
    if axis % r:
        perm = list(range(1, r))
        perm.insert(axis % r, 0)
        y = tf.transpose(y, perm)
    return y, step


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    d = _space_dtype(start, stop, dtype)
    if _bany(isinstance(v, Tensor) for v in (start, stop)):
        y, step = _linspace_t(start, stop, num, endpoint, axis)
        y = tf.cast(y, d)
        return (y, tf.cast(step, d)) if retstep else y
    r, step = np.linspace(_host(start), _host(stop), int(num), endpoint=endpoint, retstep=True,
                          axis=axis)
    out = t_(r.astype(d.as_numpy_dtype))
    n = int(num)   # tensor ends get their gradients, as Keras's TF backend (tf.linspace) gives
    from nabi.ops.array_ops import record_linear_ends
    record_linear_ends(out, start, stop, np.arange(n) / builtins.max(n - 1 if endpoint else n, 1),
                       axis, "linspace")
    return (out, t_(np.asarray(step, d.as_numpy_dtype))) if retstep else out


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """base ** linspace(start, stop), as NumPy. Tensor ends compute on their device (nothing
    read back) and are differentiable: the power in float64, as NumPy's (its base becomes an
    int64 / float64 array), then cast to the result's dtype."""
    d = _space_dtype(start, stop, dtype)
    if _bany(isinstance(v, Tensor) for v in (start, stop)):
        y, _ = _linspace_t(start, stop, num, endpoint, axis)
        y = tf.cast(y, tf.float64)
        b = _wrap(_like_dev(np.asarray(_host(base), np.float64), y._data))
        return tf.cast(tf.pow(b, y), d)
    r = np.logspace(_host(start), _host(stop), int(num), endpoint=endpoint, base=base,
                    axis=axis)
    return t_(r.astype(d.as_numpy_dtype))


def _shape_arg(op, shape):
    s = static_ints(op, shape, "shape")
    return [s] if isinstance(s, int) else list(s)


def zeros(shape, dtype=None):
    return tf.zeros(_shape_arg("zeros", shape), dtype=tf.as_dtype(dtype or FLOATX))


def ones(shape, dtype=None):
    return tf.ones(_shape_arg("ones", shape), dtype=tf.as_dtype(dtype or FLOATX))


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    v = t_(fill_value, dt(dtype or FLOATX))        # Keras 3: float32 unless dtype is given
    return tf.broadcast_to(v, _shape_arg("full", shape))


def zeros_like(x, dtype=None):
    x = t_(x)
    return tf.zeros(shape_of(x), dtype=dt(dtype) or x.dtype)


def ones_like(x, dtype=None):
    x = t_(x)
    return tf.ones(shape_of(x), dtype=dt(dtype) or x.dtype)


def full_like(x, fill_value, dtype=None):
    x = t_(x)
    return tf.broadcast_to(t_(fill_value, dt(dtype) or x.dtype), shape_of(x))


def eye(N, M=None, k=0, dtype=None):
    return t_(np.eye(int(N), None if M is None else int(M), k=int(k),
                     dtype=_np_dtype(dtype, FLOATX)))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    return t_(np.tri(int(N), None if M is None else int(M), k=int(k),
                     dtype=_np_dtype(dtype, FLOATX)))


def _tri_mask(x, k, lower):
    x = t_(x)
    if x.shape.rank < 2:
        raise ValueError(f"[{'tril' if lower else 'triu'}] x must be at least 2-D, got shape "
                         f"{shape_of(x)}")
    n, m = shape_of(x)[-2:]
    mask = np.tri(n, m, k=int(k), dtype=bool)
    if not lower:
        mask = ~np.tri(n, m, k=int(k) - 1, dtype=bool)
    return tf.where(t_(mask), x, tf.zeros_like(x))


def tril(x, k=0):
    return _tri_mask(x, k, True)


def triu(x, k=0):
    return _tri_mask(x, k, False)


def meshgrid(*x, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError(f"[meshgrid] indexing must be 'xy' or 'ij', got {indexing!r}")
    return tf.meshgrid(*[tf.reshape(t_(e), [-1]) for e in x], indexing=indexing)  # NumPy ravels


# ----------------------------------------------------------------------------- shapes
def ndim(x):
    if is_kt(x):
        return len(x.shape)
    return len(shape_of(x))


def size(x):
    return t_(int(np.prod(shape_of(x))), tf.int32)


def reshape(x, newshape):
    return tf.reshape(t_(x), _shape_arg("reshape", newshape))


def ravel(x):
    return tf.reshape(t_(x), [-1])


def expand_dims(x, axis):
    x = t_(x)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    out_nd = x.shape.rank + len(axes)
    axes = sorted(norm_axis("expand_dims", list(axes), out_nd))
    for a in axes:
        x = tf.expand_dims(x, a)
    return x


def squeeze(x, axis=None):
    x = t_(x)
    s = shape_of(x)
    if axis is None:
        return tf.reshape(x, [d for d in s if d != 1])
    axes = norm_axis("squeeze", axis if isinstance(axis, (list, tuple)) else [axis], len(s))
    for a in axes:
        if s[a] != 1:
            raise ValueError(f"[squeeze] cannot squeeze axis {a} of size {s[a]} (shape {s})")
    return tf.reshape(x, [d for i, d in enumerate(s) if i not in axes])


def transpose(x, axes=None):
    x = t_(x)
    if axes is None:
        axes = list(range(x.shape.rank))[::-1]
    return tf.transpose(x, [norm_axis("transpose", a, x.shape.rank) for a in axes])


def swapaxes(x, axis1, axis2):
    x = t_(x)
    nd = x.shape.rank
    p = list(range(nd))
    a, b = norm_axis("swapaxes", axis1, nd), norm_axis("swapaxes", axis2, nd)
    p[a], p[b] = p[b], p[a]
    return tf.transpose(x, p)


def moveaxis(x, source, destination):
    x = t_(x)
    nd = x.shape.rank
    src = source if isinstance(source, (list, tuple)) else [source]
    dst = destination if isinstance(destination, (list, tuple)) else [destination]
    if len(src) != len(dst):
        raise ValueError(f"[moveaxis] source {source} and destination {destination} must have "
                         "the same number of axes")
    src = [norm_axis("moveaxis", a, nd) for a in src]
    dst = [norm_axis("moveaxis", a, nd) for a in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tf.transpose(x, order)


def broadcast_to(x, shape):
    return tf.broadcast_to(t_(x), _shape_arg("broadcast_to", shape))


def flip(x, axis=None):
    x = t_(x)
    nd = x.shape.rank
    axes = list(range(nd)) if axis is None else norm_axis(
        "flip", axis if isinstance(axis, (list, tuple)) else [axis], nd)
    return tf.reverse(x, axes) if axes else x


def roll(x, shift, axis=None):
    x = t_(x)
    if axis is None:
        return tf.reshape(tf.roll(tf.reshape(x, [-1]), shift, 0), shape_of(x))
    return tf.roll(x, shift, axis)


def tile(x, repeats):
    x = t_(x)
    reps = _shape_arg("tile", repeats)
    nd = x.shape.rank
    if len(reps) < nd:
        reps = [1] * (nd - len(reps)) + reps
    elif len(reps) > nd:
        x = tf.reshape(x, [1] * (len(reps) - nd) + list(shape_of(x)))
    return tf.tile(x, reps)


def repeat(x, repeats, axis=None):
    x = t_(x)
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    return tf.repeat(x, repeats, axis=axis)


def _same_dtype(xs):
    ts = [t_(e) for e in xs]
    d = ts[0].dtype
    from ._common import result_dtype
    for t in ts[1:]:
        d = result_dtype(d, t.dtype)
    return [t_(t, d) for t in ts]


def concatenate(xs, axis=0):
    ts = _same_dtype(xs)
    if axis is None:
        return tf.concat([tf.reshape(t, [-1]) for t in ts], 0)
    nd = ts[0].shape.rank
    for t in ts[1:]:
        s0, s1 = shape_of(ts[0]), shape_of(t)
        a = norm_axis("concatenate", axis, nd)
        if len(s1) != nd or _bany(s0[i] != s1[i] for i in range(nd) if i != a):
            raise ValueError(f"[concatenate] shapes {s0} and {s1} differ off axis {axis}")
    return tf.concat(ts, axis)


def append(x1, x2, axis=None):
    return concatenate([x1, x2], axis=axis)


def stack(x, axis=0):
    return tf.stack(_same_dtype(x), axis=axis)


def hstack(xs):
    ts = _same_dtype(xs)
    return tf.concat(ts, 0 if ts[0].shape.rank == 1 else 1)


def vstack(xs):
    ts = [tf.reshape(t, [1, -1]) if t.shape.rank < 2 else t for t in _same_dtype(xs)]
    return tf.concat(ts, 0)


def split(x, indices_or_sections, axis=0):
    x = t_(x)
    a = norm_axis("split", axis, x.shape.rank)
    n = shape_of(x)[a]
    ios = static_ints("split", indices_or_sections, "indices_or_sections")
    if isinstance(ios, int):
        if ios <= 0 or n % ios:
            raise ValueError(f"[split] {ios} sections do not divide axis {axis} of size {n} "
                             f"(shape {shape_of(x)})")
        sizes = [n // ios] * ios
    else:
        pts = [0] + [_bmin(_bmax(p if p >= 0 else p + n, 0), n) for p in ios] + [n]
        sizes = [_bmax(pts[i + 1] - pts[i], 0) for i in range(len(pts) - 1)]
    return list(tf.split(x, sizes, axis=a))


def pad(x, pad_width, mode="constant", constant_values=None):
    x = t_(x)
    nd = x.shape.rank
    pw = np.asarray(_host(pad_width), dtype=np.int64)
    if pw.ndim == 0:
        pw = np.full((nd, 2), int(pw))
    elif pw.ndim == 1 and pw.size == 2:
        pw = np.tile(pw.reshape(1, 2), (nd, 1))
    elif pw.shape == (1, 2):
        pw = np.tile(pw, (nd, 1))
    if pw.shape != (nd, 2) or np.any(pw < 0):
        raise ValueError(f"[pad] pad_width {pad_width!r} does not fit an input of shape "
                         f"{shape_of(x)}: need (before, after) per axis, non-negative")
    modes = {"constant": "CONSTANT", "reflect": "REFLECT", "symmetric": "SYMMETRIC"}
    if mode not in modes:
        raise ValueError(f"[pad] mode must be one of {sorted(modes)}, got {mode!r}")
    if mode != "constant" and constant_values is not None:
        raise ValueError("[pad] constant_values is only for mode='constant'")
    if mode == "constant":
        cv = 0 if constant_values is None else constant_values
        return tf.pad(x, pw.tolist(), constant_values=cv)
    # reflect/symmetric as a gather of mirrored positions per axis: runs on every device
    for a, (lo, hi) in enumerate(pw.tolist()):
        if lo == 0 and hi == 0:
            continue
        n = shape_of(x)[a]
        limit = n - 1 if mode == "reflect" else n
        if lo > limit or hi > limit:
            raise ValueError(f"[pad] mode={mode!r} pads at most {limit} on axis {a} of size {n}, "
                             f"got ({lo}, {hi})")
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            pos = np.abs(pos)
            pos = np.where(pos > n - 1, 2 * (n - 1) - pos, pos)
        else:
            pos = np.where(pos < 0, -pos - 1, pos)
            pos = np.where(pos > n - 1, 2 * n - 1 - pos, pos)
        # host indices: checked on the host, so a GPU x reads nothing back
        x = tf.gather(x, pos.astype(np.int32), axis=a)
    return x


# ----------------------------------------------------------------------------- linear algebra
def matmul(x1, x2):
    """NumPy's matmul: 1-D operands are promoted and the added axis removed; batch dims
    broadcast."""
    a, b = pair(x1, x2)
    if a.shape.rank == 0 or b.shape.rank == 0:
        raise ValueError(f"[matmul] operands must be at least 1-D, got shapes {shape_of(a)} "
                         f"and {shape_of(b)}")
    va, vb = a.shape.rank == 1, b.shape.rank == 1
    if va:
        a = tf.expand_dims(a, 0)
    if vb:
        b = tf.expand_dims(b, -1)
    if shape_of(a)[-1] != shape_of(b)[-2]:
        raise ValueError(f"[matmul] inner dimensions differ: shapes {shape_of(x1 if not va else a)}"
                         f" and {shape_of(b)}")
    boolean = a.dtype.is_bool
    if a.dtype == tf.int8:          # Keras 3: int8 @ int8 accumulates and returns int32
        a, b = tf.cast(a, tf.int32), tf.cast(b, tf.int32)
    if boolean:     # counts in float32 (exact below 2**24 terms; GPU matmul is float only)
        a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    r = tf.matmul(a, b)
    if va:
        r = tf.squeeze(r, -2)
    if vb:
        r = tf.squeeze(r, -1)
    return tf.not_equal(r, 0) if boolean else r    # bool @ bool is bool (Keras 3, NumPy)


def dot(x1, x2):
    a, b = pair(x1, x2)
    if a.shape.rank == 0 or b.shape.rank == 0:
        return a * b
    if b.shape.rank == 1:
        if shape_of(a)[-1] != shape_of(b)[0]:
            raise ValueError(f"[dot] shapes {shape_of(a)} and {shape_of(b)} are not aligned")
        return tf.reduce_sum(a * b, axis=-1)
    if shape_of(a)[-1] != shape_of(b)[-2]:
        raise ValueError(f"[dot] shapes {shape_of(a)} and {shape_of(b)} are not aligned")
    return tf.tensordot(a, b, [[a.shape.rank - 1], [b.shape.rank - 2]])


def vdot(x1, x2):
    a, b = pair(x1, x2)
    return tf.reduce_sum(tf.math.conj(tf.reshape(a, [-1])) * tf.reshape(b, [-1]))


def inner(x1, x2):
    a, b = pair(x1, x2)
    if a.shape.rank == 0 or b.shape.rank == 0:
        return a * b
    return tf.tensordot(a, b, [[a.shape.rank - 1], [b.shape.rank - 1]])


def outer(x1, x2):
    a, b = pair(x1, x2)
    return tf.reshape(a, [-1, 1]) * tf.reshape(b, [1, -1])


def tensordot(x1, x2, axes=2):
    a, b = pair(x1, x2)
    return tf.tensordot(a, b, axes)


def einsum(subscripts, *operands):
    ts = _same_dtype(operands)
    return tf.einsum(subscripts, *ts)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """NumPy's cross product of 3-vectors (or 2-vectors, with z = 0) along the given axes."""
    a, b = pair(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"[cross] vectors must have 2 or 3 components, got shapes "
                         f"{shape_of(x1)} and {shape_of(x2)} along the chosen axes")
    if na == 2 and nb == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    if na == 2:
        a = tf.pad(a, [[0, 0]] * (a.shape.rank - 1) + [[0, 1]])
    if nb == 2:
        b = tf.pad(b, [[0, 0]] * (b.shape.rank - 1) + [[0, 1]])
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    r = tf.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(r, -1, axisc)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal `offset` of the planes (axis1, axis2), placed last (as NumPy)."""
    x = t_(x)
    nd = x.shape.rank
    if nd < 2:
        raise ValueError(f"[diagonal] x must be at least 2-D, got shape {shape_of(x)}")
    a1, a2 = norm_axis("diagonal", axis1, nd), norm_axis("diagonal", axis2, nd)
    if a1 == a2:
        raise ValueError(f"[diagonal] axis1 and axis2 must differ, got {axis1} and {axis2}")
    rest = [i for i in range(nd) if i not in (a1, a2)]
    xt = tf.transpose(x, rest + [a1, a2])
    s = shape_of(xt)
    n, m = s[-2:]
    k = int(offset)
    rows = np.arange(_bmax(0, -k), n)
    cols = rows + k
    ok = cols < m
    rows, cols = rows[ok], cols[ok]
    flat = tf.reshape(xt, list(s[:-2]) + [n * m])
    return tf.gather(flat, t_((rows * m + cols).astype(np.int32)), axis=len(s) - 2)


def diag(x, k=0):
    """A 1-D x: the square matrix with x on diagonal k; a 2-D x: its diagonal k."""
    x = t_(x)
    k = int(k)
    if x.shape.rank == 2:
        return diagonal(x, k)
    if x.shape.rank != 1:
        raise ValueError(f"[diag] x must be 1-D or 2-D, got shape {shape_of(x)}")
    L = shape_of(x)[0]
    n = L + _babs(k)
    src = np.zeros((n, n), dtype=np.int32)        # 0 picks the padded zero
    i = np.arange(L)
    src[i + _bmax(0, -k), i + _bmax(0, k)] = i + 1
    padded = tf.concat([tf.zeros([1], x.dtype), x], 0)
    return tf.reshape(tf.gather(padded, t_(src.reshape(-1))), [n, n])


def trace(x, offset=0, axis1=0, axis2=1):
    x = t_(x)
    d = diagonal(x, offset, axis1, axis2)
    return tf.reduce_sum(_acc_cast(d), axis=-1)


def diff(a, n=1, axis=-1):
    x = t_(a)
    ax = norm_axis("diff", axis, x.shape.rank)
    for _ in range(int(n)):
        hi = [slice(None)] * x.shape.rank
        lo = [slice(None)] * x.shape.rank
        hi[ax], lo[ax] = slice(1, None), slice(None, -1)
        x = (tf.not_equal(x[tuple(hi)], x[tuple(lo)]) if x.dtype.is_bool
             else x[tuple(hi)] - x[tuple(lo)])
    return x


# ----------------------------------------------------------------------------- more of Keras 3
def hypot(x1, x2):
    """max * sqrt(1 + (min / max)**2) of the magnitudes, as Keras 3: no overflow where
    x1**2 would (hypot(1e20, 1e20) in float32)."""
    a, b = pair(x1, x2)
    a, b = _to_float_wide(a), _to_float_wide(b)
    a, b = tf.abs(a), tf.abs(b)
    hi, lo = tf.maximum(a, b), tf.minimum(a, b)
    safe = tf.where(tf.logical_or(hi == 0, tf.math.is_inf(hi)), tf.ones_like(hi), hi)
    r = lo / safe
    return tf.where(tf.math.is_inf(hi), hi, hi * tf.sqrt(1.0 + tf.square(r)))


def trunc(x):
    x = t_(x)
    if not x.dtype.is_floating:
        return x
    return tf.where(x < 0, -tf.floor(-x), tf.floor(x))


def signbit(x):
    """True where the sign bit is set (also for -0.0 and -nan), as NumPy."""
    x = t_(x)
    if x.dtype.is_bool or x.dtype.is_unsigned:
        return tf.zeros(shape_of(x), tf.bool)
    if not x.dtype.is_floating:
        return x < 0
    a = x._data
    if type(a) is DeviceArray:   # the sign bit on the device (csrc/cuda/bitwise.cu)
        return _wrap(DeviceArray(backend().signbit(a.buf)))
    return _wrap(np.signbit(a))


def _to_float_wide(x):
    """x as float: int64 becomes float64, other ints and bool float32 (Keras 3's rule for
    deg2rad, rad2deg, hypot and correlate)."""
    x = t_(x)
    return tf.cast(x, tf.float64) if x.dtype == tf.int64 else to_float(x)


def deg2rad(x):
    x = _to_float_wide(x)
    return x * t_(np.pi / 180.0, x.dtype)


def rad2deg(x):
    x = _to_float_wide(x)
    return x * t_(180.0 / np.pi, x.dtype)


def exp2(x):
    x = to_float(x)
    return tf.pow(t_(2.0, x.dtype), x)


def select(condlist, choicelist, default=0):
    """The first choice whose condition holds, elementwise; `default` where none does."""
    if len(condlist) != len(choicelist) or not condlist:
        raise ValueError(f"[select] condlist and choicelist must be non-empty and of one length, "
                         f"got {len(condlist)} and {len(choicelist)}")
    choices = _same_dtype(list(choicelist) + [default])
    out = choices[-1]
    for c, v in zip(reversed(condlist), reversed(choices[:-1])):
        out = tf.where(t_(c, tf.bool), v, out)
    return out


def searchsorted(sorted_sequence, values, side="left"):
    if side not in ("left", "right"):
        raise ValueError(f"[searchsorted] side must be 'left' or 'right', got {side!r}")
    s, v = pair(sorted_sequence, values)
    if s.shape.rank != 1:
        raise ValueError(f"[searchsorted] sorted_sequence must be 1-D, got shape {shape_of(s)}")
    r = tf.searchsorted(s, tf.reshape(v, [-1]), side=side)
    return tf.reshape(tf.cast(r, tf.int32), shape_of(v))


def histogram(x, bins=10, range=None):  # noqa: A002
    """(counts, bin_edges) of a 1-D x over `bins` equal bins, as NumPy: int32 counts, edges in
    x's float dtype (float32 for integer x). Host tensors use np.histogram; GPU tensors stay on
    the GPU (_histogram_gpu: nothing read back with a range, one flag without), with the same
    counts and edges."""
    x = t_(x)
    if x.shape.rank != 1:
        raise ValueError(f"[histogram] x must be 1-D, got shape {shape_of(x)}")
    nb = int(bins)
    if nb < 1:
        raise ValueError(f"[histogram] bins must be a positive integer, got {bins!r}")
    if range is not None:
        lo, hi = (_host(v) for v in range)
        if lo > hi or not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"[histogram] range must be finite with min <= max, got {range!r}")
    out = x.dtype.as_numpy_dtype if x.dtype.is_floating else np.float32
    if type(x._data) is DeviceArray:
        c, e = _histogram_gpu(x, nb, range)
        return c, tf.cast(e, out)
    h, e = np.histogram(x._data, bins=nb, range=range)
    return _wrap(h.astype(np.int32)), _wrap(e.astype(out))


def _histogram_gpu(x, nb, range_):  # noqa: A002
    """np.histogram's uniform bins on the device. The outer edges are x's min and max (or the
    range), moved out by 0.5 when equal; the edges are NumPy's linspace of them in NumPy's
    bin dtype (x's float dtype, float64 for integer x); then each value's bin is the last edge
    <= it (searchsorted, right), the top edge itself in the last bin, values outside the range
    and NaN in none, counted by the bincount kernel. NumPy finds the same bins (an estimate
    corrected against these edges). Without a range, one flag (is the autodetected range
    finite?) is read back, so NaN / inf data raise NumPy's error instead of giving counts
    that are silently empty."""
    a = x._data
    ft = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)   # NumPy's bin dtype
    if range_ is not None or a.size == 0:   # edges known on the host: NumPy's own
        lo, hi = (0, 1) if range_ is None else (_host(v) for v in range_)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bt = np.result_type(lo, hi, a.dtype)
        bt = np.result_type(bt, float) if bt.kind in "iub" else bt
        edges = _wrap(DeviceArray.from_numpy(np.linspace(lo, hi, nb + 1, endpoint=True,
                                                         dtype=bt)))
    else:
        xt = tf.stop_gradient(x)
        lo, hi = tf.cast(tf.reduce_min(xt), ft), tf.cast(tf.reduce_max(xt), ft)
        eq = tf.equal(lo, hi)
        lo, hi = tf.where(eq, lo - 0.5, lo), tf.where(eq, hi + 0.5, hi)
        edges = tf.cast(_linspace_t(lo, hi, nb + 1, True, 0)[0], ft)
        ok = tf.logical_and(tf.math.is_finite(lo), tf.math.is_finite(hi))
        if not bool(ok.numpy()):      # the one read: NumPy raises here, so must we
            raise ValueError(f"[histogram] autodetected range of [{float(lo.numpy())}, "
                             f"{float(hi.numpy())}] is not finite (x of shape {shape_of(x)}); "
                             "pass a finite range")
    v = tf.cast(tf.stop_gradient(x), edges.dtype)
    idx = tf.searchsorted(edges, v, side="right") - 1
    idx = tf.where(tf.equal(v, edges[-1]), nb - 1, idx)   # the top edge: the last bin
    counts = backend().bincount(idx._data.buf, nb, None, False, False, "int32")
    return _wrap(DeviceArray(counts)), edges


def _int_pair(op, x, y):
    a, b = pair(x, y)
    if a.dtype.is_floating or a.dtype.is_complex:
        raise TypeError(f"[{op}] needs integer or bool tensors, got {a.dtype.name}")
    return a, b


def bitwise_and(x, y):
    return tf.bitwise.bitwise_and(*_int_pair("bitwise_and", x, y))


def bitwise_or(x, y):
    return tf.bitwise.bitwise_or(*_int_pair("bitwise_or", x, y))


def bitwise_xor(x, y):
    return tf.bitwise.bitwise_xor(*_int_pair("bitwise_xor", x, y))


def bitwise_invert(x):
    x = t_(x)
    if x.dtype.is_bool:
        return tf.logical_not(x)
    if not x.dtype.is_integer:
        raise TypeError(f"[bitwise_invert] needs an integer or bool tensor, got {x.dtype.name}")
    return tf.bitwise.invert(x)


bitwise_not = bitwise_invert


def bitwise_left_shift(x, y):
    return tf.bitwise.left_shift(*_int_pair("bitwise_left_shift", x, y))


def bitwise_right_shift(x, y):
    return tf.bitwise.right_shift(*_int_pair("bitwise_right_shift", x, y))


def argpartition(x, kth, axis=-1):
    """Indices that partition x around its kth element along axis; a full stable sort is one
    such partition."""
    x = t_(x)
    n = shape_of(x)[norm_axis("argpartition", axis, x.shape.rank)]
    if not -n <= int(kth) < n:
        raise ValueError(f"[argpartition] kth={kth} is out of range for axis {axis} of size {n}")
    return argsort(x, axis=axis)


def correlate(x1, x2, mode="valid"):
    """NumPy's 1-D cross-correlation: c[k] = sum_n x1[n + k] * conj(x2[n]), modes 'valid',
    'same', 'full'."""
    a, b = pair(x1, x2)
    a, b = _to_float_wide(a), _to_float_wide(b)
    if a.shape.rank != 1 or b.shape.rank != 1:
        raise ValueError(f"[correlate] x1 and x2 must be 1-D, got {shape_of(a)} and {shape_of(b)}")
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"[correlate] mode must be 'valid', 'same' or 'full', got {mode!r}")
    n, m = shape_of(a)[0], shape_of(b)[0]
    swap = m > n
    if swap:                         # NumPy: correlate(a, b) = correlate(b, a)[::-1]
        a, b, n, m = b, a, m, n
    pad = {"valid": (0, 0), "same": (m // 2, m - 1 - m // 2), "full": (m - 1, m - 1)}[mode]
    xa = tf.reshape(tf.pad(a, [list(pad)]), [1, -1, 1])
    y = tf.reshape(tf.nn.convolution(xa, tf.reshape(b, [m, 1, 1]), padding="VALID"), [-1])
    return tf.reverse(y, [0]) if swap else y
