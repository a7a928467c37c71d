"""Shared helpers for the op implementations."""
import numpy as np

from ..framework.tape import _tapes, record  # noqa: F401  (re-exported for op modules)
from ..framework.device import DeviceArray, to_device
from ..framework.tensor import Tensor, _host_tensor, _wrap, convert_to_tensor  # noqa: F401


def t_(x, dtype=None):
    """Converts to Tensor (fast path for Tensors)."""
    if isinstance(x, Tensor):
        return x
    return convert_to_tensor(x, dtype=dtype)


def binary_operands(op, x, y):
    """Converts two operands; non-tensors adapt to the other's dtype, two tensors must agree."""
    xt, yt = isinstance(x, Tensor), isinstance(y, Tensor)
    if xt and yt:
        if type(x._data) is not type(y._data):
            raise ValueError(f"[{op}] operands are on different devices: {x.device} "
                             f"{tuple(x._data.shape)} and {y.device} {tuple(y._data.shape)}; move one "
                             "with .cuda() / .cpu() (ops never copy between devices)")
        if x._data.dtype != y._data.dtype:
            from ..errors import _DTypeMismatchError
            raise _DTypeMismatchError(f"[{op}] dtypes differ: {x._data.dtype.name} "
                                      f"{tuple(x._data.shape)} vs {y._data.dtype.name} "
                                      f"{tuple(y._data.shape)}; cast one of them first")
        return x, y
    if xt:
        _check_python_float(op, y, x)
        return x, operand_like(y, x)
    if yt:
        _check_python_float(op, x, y)
        return operand_like(x, y), y
    x = convert_to_tensor(x)
    _check_python_float(op, y, x)   # tf.add([1, 2], [0.5, 1]) raises as TF (it truncated)
    return x, convert_to_tensor(y, dtype_hint=x._data.dtype)


def _has_python_float(v):
    if isinstance(v, float) and not isinstance(v, np.floating):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_python_float(e) for e in v)
    return False


def _check_python_float(op, value, like):
    """TF refuses a Python float operand next to an integer or bool tensor
    (`tf.range(3) * 0.5` raises "Cannot convert 0.5 to EagerTensor of dtype int32"); converting
    it to the tensor's dtype would silently truncate 0.5 to 0."""
    if like._data.dtype.kind in "iub" and _has_python_float(value):
        raise TypeError(f"[{op}] cannot convert {value!r} to the other operand's dtype "
                        f"{like._data.dtype.name} (shape {tuple(like._data.shape)}); cast the "
                        f"tensor first, e.g. tf.cast(x, tf.float32)")


def operand_like(value, like):
    """A non-tensor operand (NumPy array, list, number) as a Tensor of `like`'s dtype (where it
    adapts) on `like`'s device: host data meeting a GPU tensor is converted there, as TensorFlow
    converts constants for the op's device. Two Tensors on different devices stay an error."""
    t = _host_tensor(value, dtype_hint=like._data.dtype)
    if type(like._data) is not type(t._data):
        t = _wrap(to_device(t._data, "cuda" if type(like._data) is DeviceArray else "cpu"))
    return t


def broadcast_shape(op, a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(f"[{op}] shapes {tuple(a)} and {tuple(b)} are not broadcastable") from None


def unbroadcast(g, shape):
    """Sums `g` over the axes that broadcasting added or stretched to reach `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, s in enumerate(shape) if s == 1 and g.shape[i + extra] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=False)
    return g.reshape(shape)


def is_float(a):
    return a.dtype.kind == "f"


def contiguous(a):
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def norm_axis(op, axis, ndim):
    """Normalises an axis argument (int, list, tuple, Tensor, None) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Tensor):
        axis = axis._data.tolist()
    if isinstance(axis, np.ndarray):
        axis = axis.tolist()
    if isinstance(axis, (int, np.integer)):
        axis = [int(axis)]
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"[{op}] axis {a} is out of range for a tensor of rank {ndim}")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def unbroadcast_t(g, shape):
    """`unbroadcast` on Tensors, with recorded ops (for the Tensor backward rules)."""
    gs = g._data.shape
    shape = tuple(shape)
    if gs == shape:
        return g
    from .array_ops import reshape
    from .math_ops import reduce_sum
    extra = len(gs) - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, s in enumerate(shape) if s == 1 and gs[i + extra] != 1)
    if axes:
        g = reduce_sum(g, axes)
    return reshape(g, shape)


def const_like(arr, like):
    """A constant Tensor (tracked by no tape) holding `arr` in the dtype of the Tensor `like`,
    on its device: masks and factors of the Tensor backward rules."""
    a = arr if arr.dtype == like._data.dtype else arr.astype(like._data.dtype)
    if type(a) is not type(like._data):
        a = to_device(np.ascontiguousarray(a), "cuda" if type(like._data) is DeviceArray
                      else "cpu")
    return _wrap(a)


def _axis_in_range(op, axis, ndim, shape):
    """axis as an int in [-ndim, ndim) or a ValueError naming the op (TF raises; `axis % ndim`
    silently picked another axis)."""
    axis = int(axis._data) if hasattr(axis, "_data") else int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"[{op}] axis {axis} is out of range [{-ndim}, {ndim}) for shape "
                         f"{tuple(shape)}")
    return axis % ndim
