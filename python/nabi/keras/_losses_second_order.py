"""Second-order rules of the fused Keras losses (keras/losses.py).

A fused loss records one tape node whose raw backward is its kernel's. When that gradient
must itself be differentiable (a Hessian of a loss, a penalty on a loss gradient), the Tensor
rule recomputes the per-sample values with nabi ops (the composites below, the same formulas
and the same clipping masks as the kernels) under an inner GradientTape and returns its
gradient for the upstream gradient: that backward pass records on the outer tapes, so it is
differentiable with respect to y_pred and the upstream gradient. y_true stays a constant
there; the composites also take y_true as a Tensor, which is losses.py's path for a y_true
that a tape tracks (its gradient is then wanted, as TF gives it).

Composites exist for every built-in fused loss (categorical_hinge takes the kernel's
argmax choice of the largest negative as a constant; the focal losses follow Keras 2.15's
formulas, as their kernels).
"""
import math

import numpy as np

from ..ops import array_ops as _a
from ..ops import math_ops as _m
from ..ops import nn_ops as _nn
from ..ops._common import Tensor, _wrap, const_like, unbroadcast_t

EPSILON = 1e-7


def _c(arr, like):
    """A host or device array as a constant Tensor of like's dtype and device."""
    return const_like(arr if hasattr(arr, "dtype") else np.asarray(arr), like)


def _t(yt, yp):
    """y_true as a Tensor of y_pred's dtype: a constant for a label array; a Tensor y_true
    (one a tape tracks: its gradient is wanted, as TF gives it) is used as it is."""
    if isinstance(yt, Tensor):
        return yt if yt._data.dtype == yp._data.dtype else _m.cast(yt, yp._data.dtype)
    return _c(yt, yp)


def _mean_last(e):
    return _m.reduce_mean(e, -1)


def _mse(yt, yp):
    return _mean_last(_m.square(_m.subtract(yp, _t(yt, yp))))


def _mae(yt, yp):
    return _mean_last(_m.abs(_m.subtract(yp, _t(yt, yp))))


def _mape(yt, yp):
    t = _t(yt, yp)
    den = _m.maximum(_m.abs(t), EPSILON)
    return _mean_last(_m.multiply(_m.divide(_m.abs(_m.subtract(yp, t)), den), 100.0))


def _msle(yt, yp):
    a = _m.log1p(_m.maximum(yp, EPSILON))
    b = _m.log1p(_m.maximum(_t(yt, yp), EPSILON))
    return _mean_last(_m.square(_m.subtract(a, b)))


def _hinge_t(yt, yp):
    """Keras' convert_binary_labels_to_hinge: 0/1 labels become 2 y - 1 (decided on the
    values, as the kernel does)."""
    t = _t(yt, yp)
    from .losses import _hinge_labels
    if not isinstance(yt, Tensor):
        return _c(_hinge_labels(yt), yp)
    d = t._data
    if not d.size:
        return t
    c = np.all((d == 0) | (d == 1)).astype(d.dtype)     # on y_true's device, nothing read back
    return _m.add(_m.multiply(t, _c(c + 1, t)), _c(-c, t))   # 2 t - 1 where c, else t


def _hinge(yt, yp):
    return _mean_last(_nn.relu(_m.subtract(1.0, _m.multiply(_hinge_t(yt, yp), yp))))


def _squared_hinge(yt, yp):
    return _mean_last(_m.square(_nn.relu(_m.subtract(1.0, _m.multiply(_hinge_t(yt, yp),
                                                                       yp)))))


def _huber(yt, yp, delta=1.0):
    d = _m.subtract(yp, _t(yt, yp))
    a = _m.abs(d)
    e = _a.where(_wrap(a._data <= delta), _m.multiply(_m.square(d), 0.5),
                 _m.subtract(_m.multiply(a, float(delta)), 0.5 * delta * delta))
    return _mean_last(e)


def _log_cosh(yt, yp):
    d = _m.subtract(yp, _t(yt, yp))
    return _mean_last(_m.subtract(_m.add(d, _nn.softplus(_m.multiply(d, -2.0))), math.log(2.0)))


def _poisson(yt, yp):
    return _mean_last(_m.subtract(yp, _m.multiply(_t(yt, yp), _m.log(_m.add(yp, EPSILON)))))


def _kld(yt, yp):
    t = _m.clip_by_value(_t(yt, yp), EPSILON, 1.0)
    p = _m.clip_by_value(yp, EPSILON, 1.0)
    return _m.reduce_sum(_m.multiply(t, _m.subtract(_m.log(t), _m.log(p))), -1)


def _unit(x, axis):
    return _m.multiply(x, _m.rsqrt(_m.maximum(_m.reduce_sum(_m.square(x), axis, keepdims=True),
                                              1e-12)))


def _cosine(yt, yp, axis=-1):
    return _m.negative(_m.reduce_sum(_m.multiply(_unit(_t(yt, yp), axis), _unit(yp, axis)),
                                     axis))


def _smooth(t, label_smoothing, k):
    """Keras' label smoothing: t (1 - s) + s / k."""
    if not label_smoothing:
        return t
    return _m.add(_m.multiply(t, 1.0 - label_smoothing), label_smoothing / k)


def _full(t, yp):
    """t broadcast to y_pred's shape (its gradient sums back)."""
    shape = tuple(yp._data.shape)
    return t if tuple(t._data.shape) == shape else _a.broadcast_to(t, shape)


def _bce(yt, yp, from_logits=False, label_smoothing=0.0, axis=-1):
    z = _full(_smooth(_t(yt, yp), label_smoothing, 2.0), yp)
    if from_logits:
        e = _nn.sigmoid_cross_entropy_with_logits(z, yp)
    else:
        p = _m.clip_by_value(yp, EPSILON, 1.0 - EPSILON)
        e = _m.negative(_m.add(_m.multiply(z, _m.log(p)),
                               _m.multiply(_m.subtract(1.0, z), _m.log(_m.subtract(1.0, p)))))
    return _m.reduce_mean(e, axis)


def _cce(yt, yp, from_logits=False, label_smoothing=0.0, axis=-1):
    C = yp._data.shape[axis]
    t = _smooth(_t(yt, yp), label_smoothing, C)
    if from_logits:
        return _nn.softmax_cross_entropy_with_logits(t, yp, axis=axis)
    q = _m.divide(yp, _m.reduce_sum(yp, axis, keepdims=True))
    c = _m.clip_by_value(q, EPSILON, 1.0 - EPSILON)
    return _m.negative(_m.reduce_sum(_m.multiply(t, _m.log(c)), axis))


def _scce(yt, yp, from_logits=False, ignore_class=None, axis=-1):
    from .losses import _labels
    if isinstance(yt, Tensor):      # integer labels: never differentiable
        yt = yt._data
    nd = yp._data.ndim
    if axis % nd != nd - 1:
        perm = [i for i in range(nd) if i != axis % nd] + [axis % nd]
        yp = _a.transpose(yp, perm)
    lab = _labels(yt, yp._data, "sparse_categorical_crossentropy")
    valid = None
    if ignore_class is not None:
        valid = lab != ignore_class
        lab = np.where(valid, lab, 0)
    C = yp._data.shape[-1]
    if from_logits:
        vals = _nn.sparse_softmax_cross_entropy_with_logits(_wrap(lab), yp)
    else:
        oh = const_like(_a.one_hot(_wrap(lab), C, dtype=yp._data.dtype.name)._data, yp)
        c = _m.clip_by_value(yp, EPSILON, 1.0 - EPSILON)     # clip, then renormalise (Keras)
        ct = _m.reduce_sum(_m.multiply(c, oh), -1)
        vals = _m.subtract(_m.log(_m.reduce_sum(c, -1)), _m.log(ct))
    if valid is not None:
        vals = _m.multiply(vals, _c(valid, vals))
    return vals


def _categorical_hinge(yt, yp):
    from .losses import _one_hot_last
    t = _t(yt, yp)
    pos = _m.reduce_sum(_m.multiply(t, yp), -1)
    negs = _m.multiply(_m.subtract(1.0, t), yp)
    # the largest negative: the kernel's argmax (first of ties), a constant choice
    am = ((1 - t._data) * yp._data).argmax(axis=-1)
    pick = _c(_one_hot_last(am[..., None], yp._data.shape[-1], yp._data), yp)
    neg = _m.reduce_sum(_m.multiply(negs, pick), -1)
    return _nn.relu(_m.add(_m.subtract(neg, pos), 1.0))


def _pow_t(u, gamma):
    """u ** gamma for the focal factor (gamma a float; a small integer gamma as products,
    defined with its derivatives at u == 0 too)."""
    if gamma == 0:
        return None
    if float(gamma).is_integer() and 1 <= gamma <= 4:
        out = u
        for _ in range(int(gamma) - 1):
            out = _m.multiply(out, u)
        return out
    return _m.pow(u, gamma)


def _bfce(yt, yp, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
          label_smoothing=0.0, axis=-1):
    y = _full(_smooth(_t(yt, yp), label_smoothing, 2.0), yp)
    if from_logits:
        bce = _nn.sigmoid_cross_entropy_with_logits(y, yp)
        s = _nn.sigmoid(yp)
    else:
        s = yp
        c = _m.clip_by_value(yp, EPSILON, 1.0 - EPSILON)
        bce = _m.negative(_m.add(
            _m.multiply(y, _m.log(_m.add(c, EPSILON))),
            _m.multiply(_m.subtract(1.0, y), _m.log(_m.add(_m.subtract(1.0, c), EPSILON)))))
    # 1 - p_t, p_t = y s + (1 - y)(1 - s)
    u = _m.subtract(1.0, _m.add(_m.multiply(y, s),
                                _m.multiply(_m.subtract(1.0, y), _m.subtract(1.0, s))))
    f = _pow_t(u, gamma)
    e = bce if f is None else _m.multiply(f, bce)
    if apply_class_balancing:
        e = _m.multiply(e, _m.add(_m.multiply(y, alpha), _m.multiply(_m.subtract(1.0, y),
                                                                    1.0 - alpha)))
    return _m.reduce_mean(e, axis)


def _cfce(yt, yp, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    t = _smooth(_t(yt, yp), label_smoothing, yp._data.shape[-1])
    al = np.asarray(alpha, dtype=np.float64)
    p = _nn.softmax(yp, axis=axis) if from_logits else yp
    q = _m.divide(p, _m.reduce_sum(p, axis, keepdims=True))
    c = _m.clip_by_value(q, EPSILON, 1.0 - EPSILON)
    cce = _m.multiply(_m.negative(t), _m.log(c))
    mod = _pow_t(_m.subtract(1.0, c), gamma)
    e = cce if mod is None else _m.multiply(mod, cce)
    e = _m.multiply(e, float(al) if al.ndim == 0 else _c(al, yp))
    return _m.reduce_sum(e, axis)


def composites():
    from . import losses as L
    return {L._k_mse: _mse, L._k_mae: _mae, L._k_mape: _mape, L._k_msle: _msle,
            L._k_hinge: _hinge, L._k_squared_hinge: _squared_hinge, L._k_huber: _huber,
            L._k_log_cosh: _log_cosh, L._k_poisson: _poisson, L._k_kld: _kld,
            L._k_cosine: _cosine, L._k_bce: _bce, L._k_cce: _cce, L._k_scce: _scce,
            L._k_categorical_hinge: _categorical_hinge, L._k_bfce: _bfce, L._k_cfce: _cfce}


_COMPOSITES = None
_NAMES = {}


def composite(kernel):
    """The composite (nabi ops) of a fused loss kernel."""
    global _COMPOSITES
    if _COMPOSITES is None:
        _COMPOSITES = composites()
    return _COMPOSITES[kernel]


def op_name(kernel):
    """The loss function's name for a kernel (errors name it)."""
    name = _NAMES.get(kernel)
    if name is None:
        from .losses import _KERNELS
        name = next((fn.__name__ for fn, k in _KERNELS.items() if k is kernel),
                    kernel.__name__.lstrip("_"))
        _NAMES[kernel] = name
    return name


def backward_t(kernel, kw, t, yt, yp_arr, scale=None):
    """The Tensor rule of a fused loss node with input t (y_pred) and kernel arrays yt, yp_arr
    (after the loss's preparation); scale the reduction's d out / d values (None: the values
    themselves are the output). None where the loss has no composite."""
    global _COMPOSITES
    if _COMPOSITES is None:
        _COMPOSITES = composites()
    comp = _COMPOSITES.get(kernel)
    if comp is None:
        return None

    def rule(g, needs):
        from ..framework.tape import GradientTape
        with GradientTape() as tape:
            tape.watch(t)
            yp = t if t._data.dtype == yp_arr.dtype else _m.cast(t, yp_arr.dtype)
            yp = _a.reshape(yp, yp_arr.shape)
            vals = comp(yt, yp, **kw)
        og = g
        if scale is not None:
            og = _m.multiply(og, scale if isinstance(scale, float) else _c(scale, og))
        vs = tuple(vals._data.shape)
        if tuple(og._data.shape) != vs:
            if np.broadcast_shapes(tuple(og._data.shape), vs) == vs:
                og = _a.broadcast_to(og, vs)
            else:
                og = unbroadcast_t(og, vs)
        return (tape.gradient(vals, t, output_gradients=og),)
    return rule
