"""Shared helpers for `nabi.keras.ops`: tensors from NumPy-style arguments, Keras 3's dtype
promotion for two operands, and NumPy's axis conventions."""
import builtins

import numpy as np

import nabi as tf
from nabi.framework.tensor import Tensor

FLOATX = "float32"


def is_kt(v):
    return getattr(type(v), "_is_keras_tensor", False)


def t_(x, dtype=None):
    """x as a nabi Tensor (Tensors and Variables pass through; NumPy arrays keep their dtype,
    Python floats become float32, as in Keras 3)."""
    if not isinstance(x, Tensor):
        if isinstance(x, (list, tuple)) and any(isinstance(e, Tensor) for e in x):
            x = tf.stack([t_(e) for e in x])
        elif dtype is not None and _py_scalar(x) and tf.as_dtype(dtype).is_floating:
            # straight to the float dtype: via float32 first, float64 would lose np.pi's digits
            x = tf.convert_to_tensor(np.asarray(x, dtype=tf.as_dtype(dtype).as_numpy_dtype))
        else:
            x = tf.convert_to_tensor(x)
    if dtype is not None:
        dtype = tf.as_dtype(dtype)
        if x.dtype != dtype:
            x = tf.cast(x, dtype)
    return x


def dt(dtype):
    return None if dtype is None else tf.as_dtype(dtype)


def to_float(x):
    """x, cast to float32 unless it is already floating or complex (Keras 3: sqrt of an int
    tensor is float32)."""
    x = t_(x)
    if x.dtype.is_floating or x.dtype.is_complex:
        return x
    return tf.cast(x, FLOATX)


def _rank(d):
    if d.is_bool:
        return 0
    if d.is_integer:
        return 1
    if d.is_floating:
        return 2
    return 3


def result_dtype(d1, d2):
    """Keras 3's promotion for two tensors: bool < int < float < complex, and within a kind the
    wider type (an int with a float gives the float)."""
    if d1 == d2:
        return d1
    r1, r2 = _rank(d1), _rank(d2)
    if r1 != r2:
        return d1 if r1 > r2 else d2
    return tf.as_dtype(np.promote_types(d1.as_numpy_dtype, d2.as_numpy_dtype).name)


def _py_scalar(v):
    return isinstance(v, (builtins.bool, int, float, complex)) and not isinstance(v, np.generic)


def weak_result(*vals):
    """Keras 3's result_type of values where Python scalars are weak: a dtype-carrying value
    (NumPy scalar or array, Tensor) sets the dtype, a Python float lifts an int/bool result
    to float32, a Python int lifts bool to int32; only Python scalars: float32 > int32 > bool."""
    d, weak = None, set()
    for v in vals:
        vd = getattr(v, "dtype", None)
        if vd is not None and not _py_scalar(v):
            vd = tf.as_dtype(vd if not isinstance(vd, np.dtype) else vd.name)
            d = vd if d is None else result_dtype(d, vd)
        elif isinstance(v, builtins.bool):
            weak.add("b")
        elif isinstance(v, int):
            weak.add("i")
        elif isinstance(v, float):
            weak.add("f")
    if "f" in weak and (d is None or not (d.is_floating or d.is_complex)):
        return tf.as_dtype(FLOATX)
    if "i" in weak and (d is None or d.is_bool):
        return tf.int32
    return d if d is not None else tf.bool


def pair(x1, x2):
    """Two operands as Tensors of one dtype; a Python number takes the tensor's dtype (a weak
    type), unless it is a float and the tensor is not (then both become float32)."""
    s1, s2 = _py_scalar(x1), _py_scalar(x2)
    if s1 and s2:               # two Python scalars: Keras 3's weak promotion (1 + 2.5 -> f32)
        d = weak_result(x1, x2)
        return t_(np.asarray(x1, d.as_numpy_dtype)), t_(np.asarray(x2, d.as_numpy_dtype))
    if s1 or s2:
        s, t = (x1, x2) if s1 else (x2, x1)
        t = t_(t)
        d = t.dtype
        if isinstance(s, float) and not (d.is_floating or d.is_complex):
            d = tf.as_dtype(FLOATX)
        elif isinstance(s, int) and not isinstance(s, builtins.bool) and d.is_bool:
            d = tf.int32
        elif isinstance(s, complex) and not d.is_complex:
            d = tf.complex64
        t = t_(t, d)
        s = t_(np.asarray(s, dtype=d.as_numpy_dtype))
        return (s, t) if s1 else (t, s)
    a, b = t_(x1), t_(x2)
    d = result_dtype(a.dtype, b.dtype)
    return t_(a, d), t_(b, d)


def shape_of(x):
    return tuple(t_(x).shape.as_list())


def norm_axis(op, axis, ndim):
    """A non-negative axis (or list of them) checked against ndim; None stays None."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        axes = [norm_axis(op, a, ndim) for a in axis]
        if len(set(axes)) != len(axes):     # Keras 3 / NumPy raise (a sum would count once)
            raise ValueError(f"[{op}] axis {tuple(axis)} repeats an axis (input of rank {ndim})")
        return axes
    if isinstance(axis, Tensor):
        axis = int(axis.numpy())
    a = int(axis)
    if not -ndim <= a < max(ndim, 1):
        raise ValueError(f"[{op}] axis {axis} is out of range for an input of rank {ndim}")
    return a % max(ndim, 1)


def static_ints(op, v, what):
    """A Python int or tuple of ints from an int, a sequence, an array or a Tensor."""
    if isinstance(v, Tensor):
        v = v.numpy()
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return tuple(int(e.numpy()) if isinstance(e, Tensor) else int(e) for e in v)
    try:
        return int(v)
    except (TypeError, ValueError):
        raise TypeError(f"[{op}] {what} must be an int or a sequence of ints, got {v!r}") from None
