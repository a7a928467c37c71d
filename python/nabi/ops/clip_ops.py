"""clip_by_norm and clip_by_global_norm (TF's `tf.clip_by_norm`, `tf.clip_by_global_norm`),
composed from existing ops as TensorFlow's are, so gradients flow through the norm too."""
import numpy as np

from ._common import Tensor, _wrap, t_
from .array_ops import ones_like, where
from .linalg_ops import _float_input, _like_device, global_norm
from .math_ops import cast, greater, maximum, minimum, reduce_sum, sqrt


def _scalar_like(op, v, like):
    """A scalar argument as a tensor of like's dtype on like's device."""
    if isinstance(v, Tensor):
        if v._data.size != 1:
            raise ValueError(f"[{op}] clip_norm must be a scalar, got shape {tuple(v._data.shape)}")
        return v if v._data.dtype == like._data.dtype else cast(v, like._data.dtype.name)
    try:
        arr = np.asarray(v, dtype=like._data.dtype)
    except (TypeError, ValueError):
        raise TypeError(f"[{op}] clip_norm must be a number, got {v!r}") from None
    if arr.size != 1:
        raise ValueError(f"[{op}] clip_norm must be a scalar, got shape {arr.shape}")
    return _wrap(_like_device(arr.reshape(()), like._data))


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """t * clip_norm / max(||t||_2, clip_norm), the L2 norm taken over `axes` (all axes when
    None); t is unchanged where its norm is at most clip_norm."""
    x = _float_input("clip_by_norm", t)
    cn = _scalar_like("clip_by_norm", clip_norm, x)
    l2sum = reduce_sum(x * x, axes, keepdims=True)
    pred = greater(l2sum, 0)
    # where() keeps the gradient finite for an all-zero t (as TF does)
    l2sum_safe = where(pred, l2sum, ones_like(l2sum))
    l2norm = where(pred, sqrt(l2sum_safe), l2sum)
    return (x * cn) / maximum(l2norm, cn)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """Scales every tensor of t_list by clip_norm / max(global_norm, clip_norm) and returns
    (the scaled list, the global norm); None entries stay None. A non-finite global norm
    makes every entry NaN, as in TensorFlow."""
    if isinstance(t_list, Tensor) or not isinstance(t_list, (list, tuple)):
        raise TypeError(f"[clip_by_global_norm] t_list should be a sequence (list or tuple) of "
                        f"tensors, got {type(t_list).__name__}")
    if use_norm is None:
        use_norm = global_norm(t_list)
    else:
        use_norm = _float_input("clip_by_global_norm", use_norm)
    cn = _scalar_like("clip_by_global_norm", clip_norm, use_norm)
    one = _wrap(_like_device(np.ones((), use_norm._data.dtype), use_norm._data))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = cn * minimum(one / use_norm, one / cn)
        scale = scale + (use_norm - use_norm)  # NaN when the norm is inf or NaN
    out = []
    for v in t_list:
        if v is None:
            out.append(None)
            continue
        v = t_(v)
        s = scale if v._data.dtype == scale._data.dtype else cast(scale, v._data.dtype.name)
        out.append(v * s)
    return out, use_norm


__all__ = ["clip_by_norm", "clip_by_global_norm"]
