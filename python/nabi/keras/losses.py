"""`keras.losses`: Keras 3 loss functions and classes.

Every built-in loss is ONE fused NumPy (or C++) forward with a matching backward recorded on
the GradientTape, instead of a chain of tiny ops. A `Loss` object fuses the sample weighting and
the reduction into the same node, so a training step's loss costs a single tape entry. The
fused gradient flows to `y_pred`; `y_true` is a constant there (as labels are). A `y_true` that
a tape tracks (a loss between two model outputs) takes the composite path instead (the same
formulas written with nabi ops, `_losses_second_order.py`), so its gradient reaches y_true too,
as in TF.

Probabilities are clipped to [epsilon, 1 - epsilon] (epsilon = 1e-7) like Keras; `from_logits`
losses use the stable fused kernels (`nabi.nn.*_cross_entropy_with_logits`).

Reductions: 'sum_over_batch_size' (default; the weighted sum divided by the number of loss
values), 'sum', 'mean_with_sample_weight' (divided by the sum of the weights), 'none'/None.

`_fused_logits_loss(loss, last_activation)` turns a probability cross-entropy that follows a
`softmax`/`sigmoid` output into the equivalent `from_logits=True` loss (what TF-Keras does
internally): see its docstring.
"""
import math

import numpy as np

from ..framework.device import DeviceArray, in_range, kernels, take_along_axis, to_device
from ..framework.device import asarray as _asarray
from ..ops._common import contiguous as _contiguous
from . import _logits_cache, _registry
from . import _losses_second_order as _l2
from ..framework.tape import _tapes, is_unit_seed, record
from ..framework.tensor import Tensor, _wrap, convert_to_tensor

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight")

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge",
           "CategoricalHinge", "Huber", "LogCosh", "KLDivergence", "Poisson", "CosineSimilarity",
           "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "BinaryFocalCrossentropy",
           "CategoricalFocalCrossentropy", "binary_focal_crossentropy",
           "categorical_focal_crossentropy", "hinge", "squared_hinge", "categorical_hinge",
           "huber", "log_cosh", "kl_divergence", "poisson", "cosine_similarity", "get",
           "serialize", "deserialize"]


# --------------------------------------------------------------------------- array helpers


def _pred(y_pred):
    """(tensor, array) for y_pred; non-float predictions become float32."""
    if isinstance(y_pred, Tensor):
        t = y_pred
    else:
        t = convert_to_tensor(y_pred)
    a = t._data
    if a.dtype.kind != "f":
        a = a.astype(np.float32)
    elif a.dtype == np.float16:
        a = a.astype(np.float32)
    return t, a


def _on_device_of(x, like, what="y_true", op="Loss"):
    """`x` (a Tensor, array, list or number) as an array on `like`'s device: host data adopts
    the prediction's device (as Keras converts labels and weights for the op's device); a
    Tensor on another device is an error."""
    if isinstance(x, Tensor):
        a = x._data
        if type(a) is not type(like) and (type(a) is DeviceArray or type(like) is DeviceArray):
            name = lambda v: "cuda:0" if type(v) is DeviceArray else "cpu"  # noqa: E731
            raise ValueError(f"[{op}] {what} is on {name(a)} but y_pred is on {name(like)}; "
                             "move one with .cuda() / .cpu()")
        return a
    a = _asarray(x)
    if type(like) is DeviceArray and type(a) is not DeviceArray:
        a = to_device(a, "cuda")
    return a


def _same_rank(x1, x2):
    """Keras `squeeze_or_expand_to_same_rank` on arrays."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


class _Back:
    """A fused loss's backward: back(g) is d loss / d y_pred for the upstream gradient g of the
    per-sample values (their shape, or a 0-d scale broadcast by the multiply); back.const(c),
    when given, is the same for a constant c (a Python float) in fewer passes -- for the usual
    training step, whose upstream gradient is the tape's seed times the reduction's 1/n, that
    is one scaling of the saved gradient (none when c == 1) instead of broadcasting g first."""
    __slots__ = ("fn", "const")

    def __init__(self, fn, const=None):
        self.fn = fn
        self.const = const

    def __call__(self, g):
        return self.fn(g)


def _times(d, c):
    """d * c for a Python float c, without a pass when c == 1."""
    return d if c == 1.0 else d * c


def _mean_last(e, de_fn):
    """Mean over the last axis of an elementwise loss `e`; de_fn() gives de/dy_pred.

    back(g) accepts g of the values' shape or a 0-d scale (broadcast by the multiply)."""
    if e.ndim == 0:
        return e, _Back(lambda g: g * de_fn(), lambda c: _times(de_fn(), c))
    C = e.shape[-1]
    if C == 1:
        vals = e[..., 0]
        return vals, _Back(lambda g: g[..., None] * de_fn(), lambda c: _times(de_fn(), c))
    vals = np.add.reduce(e, axis=-1)
    vals *= 1.0 / C
    return vals, _Back(lambda g: (g * (1.0 / C))[..., None] * de_fn(),
                       lambda c: _times(de_fn(), c / C))


def _f(x, a):
    return _asarray(x, a.dtype)


def _one_hot_last(idx, C, like):
    """1.0 at `idx` (..., 1) along a new last axis of size C, in `like`'s dtype and device (a
    np.put_along_axis into zeros; on the GPU the one_hot kernel)."""
    if type(like) is np.ndarray:
        out = np.zeros(idx.shape[:-1] + (C,), like.dtype)
        np.put_along_axis(out, idx, 1, axis=-1)
        return out
    return kernels(like).one_hot(idx[..., 0], C, 1.0, 0.0, like.dtype.name)


# --------------------------------------------------------------------------- loss kernels
# Each takes (y_true, y_pred) arrays of the same rank (y_pred float) and returns
# (values, back) where back(g) -> d(sum g * values)/d(y_pred).


def _k_mse(yt, yp):
    d = yp - yt
    return _mean_last(d * d, lambda: 2 * d)


def _k_mae(yt, yp):
    d = yp - yt
    return _mean_last(np.abs(d), lambda: np.sign(d))


def _k_mape(yt, yp):
    den = np.maximum(np.abs(yt), _f(EPSILON, yp))
    d = yp - yt
    return _mean_last(_f(100.0, yp) * np.abs(d) / den, lambda: _f(100.0, yp) * np.sign(d) / den)


def _k_msle(yt, yp):
    eps = _f(EPSILON, yp)
    cp = np.maximum(yp, eps)
    a = np.log1p(cp)
    b = np.log1p(np.maximum(yt, eps))
    d = a - b
    return _mean_last(d * d, lambda: 2 * d / (cp + 1) * (yp > eps))


def _hinge_labels(yt):
    """0/1 labels become -1/1 (Keras `convert_binary_labels_to_hinge`)."""
    if type(yt) is not np.ndarray:      # GPU: decided on the device, nothing read back
        return np.where(np.all((yt == 0) | (yt == 1)), 2 * yt - 1, yt)
    if yt.size and np.all((yt == 0) | (yt == 1)):
        return 2 * yt - 1
    return yt


def _k_hinge(yt, yp):
    yt = _hinge_labels(yt)
    m = 1 - yt * yp
    return _mean_last(np.maximum(m, 0), lambda: -yt * (m > 0))


def _k_squared_hinge(yt, yp):
    yt = _hinge_labels(yt)
    m = np.maximum(1 - yt * yp, 0)
    return _mean_last(m * m, lambda: -2 * m * yt)


def _k_huber(yt, yp, delta=1.0):
    d = yp - yt
    a = np.abs(d)
    dl = _f(delta, yp)
    small = a <= dl
    e = np.where(small, 0.5 * d * d, dl * a - 0.5 * dl * dl)
    return _mean_last(e, lambda: np.where(small, d, dl * np.sign(d)))


def _k_log_cosh(yt, yp):
    d = yp - yt
    if type(d) is np.ndarray:
        e = d + np.logaddexp(0, -2 * d) - _f(math.log(2.0), yp)
    else:                               # the same value, from ufuncs the GPU has
        a = np.abs(d)
        e = a + np.log1p(np.exp(-2 * a)) - _f(math.log(2.0), yp)
    return _mean_last(e.astype(yp.dtype, copy=False), lambda: np.tanh(d))


def _k_poisson(yt, yp):
    q = yp + _f(EPSILON, yp)
    return _mean_last(yp - yt * np.log(q), lambda: 1 - yt / q)


def _k_bce(yt, yp, from_logits=False, label_smoothing=0.0, axis=-1):
    if label_smoothing:
        yt = yt * _f(1.0 - label_smoothing, yp) + _f(0.5 * label_smoothing, yp)
    if axis not in (-1, yp.ndim - 1) and yp.ndim:
        yt, yp = np.moveaxis(yt, axis, -1), np.moveaxis(yp, axis, -1)
        vals, back = _k_bce(yt, yp, from_logits, 0.0, -1)
        return vals, lambda g: np.moveaxis(back(g), -1, axis)
    if from_logits:
        z = _contiguous(yt if yt.shape == yp.shape else np.broadcast_to(yt, yp.shape))
        e, bp = kernels(yp).sigmoid_xent_forward(z, _contiguous(yp))
        return _mean_last(e, lambda: bp)
    p = np.maximum(yp, EPSILON)
    np.minimum(p, 1.0 - EPSILON, out=p)
    lp = np.log(p)
    l1p = np.log(1.0 - p)
    lp -= l1p
    lp *= yt
    lp += l1p
    e = np.negative(lp, out=lp)         # -(yt log p + (1 - yt) log(1 - p))

    def de():
        d = p - yt
        d /= p * (1.0 - p)
        d *= (p == yp)                  # clipped probabilities get no gradient
        return d
    return _mean_last(e, de)


def _k_cce(yt, yp, from_logits=False, label_smoothing=0.0, axis=-1):
    if yp.ndim == 0:
        raise ValueError("[categorical_crossentropy] y_pred must have rank >= 1")
    if axis not in (-1, yp.ndim - 1):
        yt, yp = np.moveaxis(yt, axis, -1), np.moveaxis(yp, axis, -1)
        vals, back = _k_cce(yt, yp, from_logits, label_smoothing, -1)
        return vals, lambda g: np.moveaxis(back(g), -1, axis)
    if yt.shape != yp.shape:
        raise ValueError(f"[categorical_crossentropy] y_true {yt.shape} and y_pred {yp.shape} must "
                         "have the same shape (use sparse_categorical_crossentropy for class ids)")
    C = yp.shape[-1]
    if label_smoothing:
        yt = yt * _f(1.0 - label_smoothing, yp) + _f(label_smoothing / C, yp)
    lead = yp.shape[:-1]
    if from_logits:
        loss, bp = kernels(yp).softmax_xent_forward(_contiguous(yt).reshape(-1, C),
                                           _contiguous(yp).reshape(-1, C))
        return loss.reshape(lead), _Back(lambda g: (g.reshape(-1, 1) * bp).reshape(yp.shape),
                                         lambda c: _times(bp, c).reshape(yp.shape))
    eps = _f(EPSILON, yp)
    s = yp.sum(axis=-1, keepdims=True)
    q = yp / s
    c = np.clip(q, eps, 1 - eps)
    vals = -(yt * np.log(c)).sum(axis=-1)

    def back(g):
        dq = -yt / c * ((q >= eps) & (q <= 1 - eps))
        dq = dq * g[..., None]
        return (dq - (dq * q).sum(axis=-1, keepdims=True)) / s
    return vals, back


def _labels(yt, yp, op):
    """Integer labels of shape yp.shape[:-1]; a GPU array keeps its host-known value_range
    (dropping a unit last axis and widening integers keep the values: device.known_range)."""
    if yt.ndim == yp.ndim and yt.ndim and yt.shape[-1] == 1:
        yt = yt[..., 0]
    if yt.dtype.kind == "f":
        yt = yt.astype(np.int64)
    elif yt.dtype != np.int64 and yt.dtype != np.int32:
        yt = yt.astype(np.int64)
    if yt.shape != yp.shape[:-1]:
        raise ValueError(f"[{op}] labels of shape {yt.shape} do not match predictions of shape "
                         f"{yp.shape} (expected labels of shape {yp.shape[:-1]})")
    return yt


def _k_scce(yt, yp, from_logits=False, ignore_class=None, axis=-1):
    if yp.ndim == 0:
        raise ValueError("[sparse_categorical_crossentropy] y_pred must have rank >= 1")
    if axis not in (-1, yp.ndim - 1):
        yp = np.moveaxis(yp, axis, -1)
        vals, back = _k_scce(yt, yp, from_logits, ignore_class, -1)
        return vals, lambda g: np.moveaxis(back(g), -1, axis)
    lab = _labels(yt, yp, "sparse_categorical_crossentropy")
    valid = None
    if ignore_class is not None:
        valid = lab != ignore_class
        lab = np.where(valid, lab, 0)
    C = yp.shape[-1]
    lead = yp.shape[:-1]
    def bad_label():
        lh = to_device(lab, "cpu")
        bad = lh[(lh < 0) | (lh >= C)].ravel()[0]
        return ValueError(f"[sparse_categorical_crossentropy] label {int(bad)} is out of range "
                          f"for {C} classes")
    on_host = type(lab) is np.ndarray
    # Labels whose range the host knows in [0, C) (a fit's uploaded batch: known_range) are
    # not checked again on the GPU: no read back. Otherwise on the GPU the fused kernel checks
    # the labels itself (its binding then reads one flag back: a synchronisation), and the
    # probability path reads one flag.
    known = not on_host and in_range(lab, C)
    gpu_fused = from_logits and not on_host
    if lab.size:
        if known:
            bad = False
        elif on_host:
            bad = lab.min() < 0 or lab.max() >= C
        else:
            bad = not gpu_fused and ((lab < 0) | (lab >= C)).any()
        if bad:
            raise bad_label()
    if from_logits:
        try:
            loss, bp = kernels(yp).sparse_softmax_xent_forward(
                _contiguous(lab).reshape(-1), _contiguous(yp).reshape(-1, C),
                checked=known)
        except ValueError:
            if gpu_fused:
                raise bad_label() from None
            raise
        vals = loss.reshape(lead)
        if valid is not None:
            vals = np.where(valid, vals, 0).astype(yp.dtype, copy=False)

        def back(g):
            if valid is not None:
                g = g * valid
            return (g.reshape(-1, 1) * bp).reshape(yp.shape)
        if valid is None:
            return vals, _Back(back, lambda c: _times(bp, c).reshape(yp.shape))
        return vals, back
    # Keras (2.15 and 3) clips every probability to [eps, 1 - eps] and then takes the softmax of
    # their logs, i.e. renormalises the CLIPPED values: -log(c_t) + log(sum c). (Normalising
    # first and clipping after differs whenever the rows do not sum to 1, e.g. sigmoid outputs.)
    eps = _f(EPSILON, yp)
    c = np.clip(yp, eps, 1 - eps)
    s = c.sum(axis=-1, keepdims=True)
    idx = lab[..., None]
    ct = take_along_axis(c, idx, -1, checked=True) if type(c) is DeviceArray else \
        np.take_along_axis(c, idx, axis=-1)   # (the labels were checked above)
    vals = (np.log(s) - np.log(ct))[..., 0]
    if valid is not None:
        vals = np.where(valid, vals, 0).astype(yp.dtype, copy=False)

    def back(g):
        gg = (g if valid is None else g * valid)[..., None]
        dct = -gg / ct
        if type(c) is np.ndarray:
            dc = np.zeros_like(c)
            np.put_along_axis(dc, idx, dct, axis=-1)
        else:
            dc = _one_hot_last(idx, C, c) * dct
        dc = dc + gg / s
        return dc * ((yp >= eps) & (yp <= 1 - eps))
    return vals, back, valid


def _k_categorical_hinge(yt, yp):
    pos = (yt * yp).sum(axis=-1)
    nt = 1 - yt
    negs = nt * yp
    am = negs.argmax(axis=-1)
    neg = (np.take_along_axis(negs, am[..., None], axis=-1) if type(negs) is not DeviceArray else
           take_along_axis(negs, am[..., None], -1, checked=True))[..., 0]  # argmax: in range
    m = neg - pos + 1
    vals = np.maximum(m, 0)

    def back(g):
        act = (g * (m > 0))[..., None]
        d = -yt * act
        onehot = _one_hot_last(am[..., None], yp.shape[-1], yp)
        return d + onehot * nt * act
    return vals, back


def _k_kld(yt, yp):
    eps = _f(EPSILON, yp)
    t = np.clip(yt, eps, 1)
    p = np.clip(yp, eps, 1)
    vals = (t * np.log(t / p)).sum(axis=-1)
    return vals, lambda g: g[..., None] * (-t / p) * ((yp >= eps) & (yp <= 1))


def _k_cosine(yt, yp, axis=-1):
    def nrm(x):
        s = (x * x).sum(axis=axis, keepdims=True)
        n = np.sqrt(np.maximum(s, _f(1e-12, x)))
        return x / n, n, s
    th, _, _ = nrm(yt)
    u, n, s = nrm(yp)
    dot = (th * u).sum(axis=axis, keepdims=True)
    vals = -dot.squeeze(axis) if dot.ndim else -dot

    def back(g):
        gg = np.expand_dims(g, axis)
        grad = -(th - u * dot * (s > 1e-12)) / n
        return gg * grad
    return vals, back



# --------------------------------------------------------------------------- focal losses
# Keras 2.15 (keras/backend.py, keras/losses.py), Lin et al. 2018.


def _expand_at(g, ax):
    """The upstream gradient g of values reduced over axis `ax`, with that axis put back
    (0-d scales broadcast as they are)."""
    if np.ndim(g) == 0:
        return g
    shp = list(g.shape)
    shp.insert(ax, 1)
    return g.reshape(tuple(shp))


def _norm_axis(axis, ndim, op):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"[{op}] `axis` must be of type `int`. Received: axis={axis!r} of type "
                         f"{type(axis)}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"[{op}] axis {axis} is out of range for y_pred of rank {ndim}")
    return int(axis) % ndim


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    one = _f(1.0, z)
    return np.where(z >= 0, one / (one + e), e / (one + e)).astype(z.dtype, copy=False)


def _k_bfce(yt, yp, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
            label_smoothing=0.0, axis=-1):
    """Keras `binary_focal_crossentropy`, elementwise then the mean over `axis`:
    y <- y (1 - ls) + ls / 2;  s = sigmoid(z) or p;  p_t = y s + (1 - y)(1 - s);
    focal = (1 - p_t)^gamma * bce  (times alpha y + (1 - alpha)(1 - y) with class balancing),
    bce = sigmoid_cross_entropy_with_logits(y, z), or from probabilities (Keras 2's
    backend.binary_crossentropy) c = clip(p, eps, 1 - eps),
    bce = -(y log(c + eps) + (1 - y) log(1 - c + eps)); the focal factor uses p unclipped."""
    op = "binary_focal_crossentropy"
    ax = _norm_axis(axis, yp.ndim, op)
    try:
        full = np.broadcast_shapes(yt.shape, yp.shape)
    except ValueError:
        full = None
    if full != yp.shape:
        raise ValueError(f"[{op}] y_true of shape {yt.shape} and y_pred of shape {yp.shape} are "
                         "incompatible (y_true must match y_pred or broadcast to it)")
    one = _f(1.0, yp)
    if label_smoothing:
        yt = yt * _f(1.0 - label_smoothing, yp) + _f(0.5 * label_smoothing, yp)
    gam = _f(gamma, yp)
    if from_logits:
        z = _contiguous(np.broadcast_to(yt, yp.shape))
        bce, dbce = kernels(yp).sigmoid_xent_forward(z, _contiguous(yp))   # dbce = s - y
        s = _sigmoid(yp)
    else:
        eps = _f(EPSILON, yp)
        s = yp
        c = np.clip(yp, eps, one - eps)
        a1 = c + eps
        a0 = one - c + eps
        bce = -(yt * np.log(a1) + (one - yt) * np.log(a0))
    p_t = yt * s + (one - yt) * (one - s)
    u = one - p_t                               # d u / d s = 1 - 2 y
    f = np.power(u, gam) if gamma != 0 else np.ones_like(u)
    e = f * bce
    w = None
    if apply_class_balancing:
        w = yt * _f(alpha, yp) + (one - yt) * _f(1.0 - alpha, yp)
        e = e * w
    n = yp.shape[ax]
    inv = _f(1.0 / n if n else 0.0, yp)
    vals = np.add.reduce(e, axis=ax) * inv

    def de():
        if gamma != 0:
            df_ds = gam * np.power(u, gam - one) * (one - 2 * yt)
        else:
            df_ds = None
        if from_logits:
            ds = s * (one - s)
            d = f * dbce
            if df_ds is not None:
                d = d + df_ds * ds * bce
        else:
            dc = (yp >= eps) & (yp <= one - eps)          # clip passes the gradient inside
            d = f * (-(yt / a1) + (one - yt) / a0) * dc
            if df_ds is not None:
                d = d + df_ds * bce
        if w is not None:
            d = d * w
        return d

    def back(g):
        return _expand_at(g, ax) * (de() * inv)
    return vals, back


def _k_cfce(yt, yp, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """Keras `categorical_focal_crossentropy`: y <- y (1 - ls) + ls / C (C: the last axis);
    p = softmax(z, axis) or y_pred;  q = p / sum(p, axis);  c = clip(q, eps, 1 - eps);
    loss = sum(alpha * (1 - c)^gamma * (-y log c), axis) (alpha a scalar or a per-class list,
    broadcast against the last axis as Keras multiplies it)."""
    op = "categorical_focal_crossentropy"
    ax = _norm_axis(axis, yp.ndim, op)
    if yt.shape != yp.shape:
        raise ValueError(f"[{op}] y_true {yt.shape} and y_pred {yp.shape} must have the same "
                         "shape (one-hot labels)")
    al = np.asarray(alpha, dtype=np.float64)
    if al.ndim > 1 or (al.ndim == 1 and al.shape[0] not in (1, yp.shape[-1])):
        raise ValueError(f"[{op}] alpha must be a float or a list with one value per class "
                         f"({yp.shape[-1]}); got {alpha!r}")
    al = _asarray(al, yp.dtype) if al.ndim else _f(float(al), yp)
    if type(yp) is DeviceArray and np.ndim(al):
        al = to_device(al, "cuda")
    one = _f(1.0, yp)
    if label_smoothing:     # Keras divides by the LAST axis' size, whatever `axis` is
        yt = yt * _f(1.0 - label_smoothing, yp) + _f(label_smoothing / yp.shape[-1], yp)
    if from_logits:
        m = yp.max(axis=ax, keepdims=True)
        ez = np.exp(yp - m)
        p = ez / ez.sum(axis=ax, keepdims=True)
    else:
        p = yp
    ssum = p.sum(axis=ax, keepdims=True)
    q = p / ssum
    eps = _f(EPSILON, yp)
    c = np.clip(q, eps, one - eps)
    lc = np.log(c)
    u = one - c
    gam = _f(gamma, yp)
    mod = np.power(u, gam) if gamma != 0 else np.ones_like(u)
    cce = -yt * lc
    vals = (al * mod * cce).sum(axis=ax)

    def back(g):
        gg = _expand_at(g, ax)
        dc = al * mod * (-yt / c)
        if gamma != 0:
            dc = dc - al * gam * np.power(u, gam - one) * cce
        dq = gg * dc * ((q >= eps) & (q <= one - eps))
        dp = (dq - (dq * q).sum(axis=ax, keepdims=True)) / ssum
        if from_logits:
            return p * (dp - (dp * p).sum(axis=ax, keepdims=True))
        return dp
    return vals, back

# --------------------------------------------------------------------------- running


def _prep(y_true, y_pred, sparse=False):
    t, yp = _pred(y_pred)
    yt = _on_device_of(y_true, yp)
    if not sparse and yt.dtype != yp.dtype:
        yt = yt.astype(yp.dtype)
    shape0 = yp.shape
    if yp.ndim == 0:
        yp = yp.reshape(1)
    if yt.ndim == 0:
        yt = yt.reshape(1)
    yt, yp = _same_rank(yt, yp)
    return t, yt, yp, shape0


def _grad_to(g, shape0):
    """The gradient for a y_pred of shape `shape0`. Keras broadcasts y_true against y_pred
    (an (n, 10) target with an (n, 1) prediction), so the broadcast axes are summed."""
    shape0 = tuple(shape0)
    if g.shape == shape0:
        return g
    if g.size != int(np.prod(shape0, dtype=np.int64)) and g.ndim >= len(shape0):
        lead = g.ndim - len(shape0)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape0)
                                          if n == 1 and g.shape[lead + i] != 1)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape0)


def _cached_logits(kernel, y_pred, kw):
    """(y_pred, kw) for a probability cross-entropy: the cached logits with from_logits=True
    when y_pred is a tagged sigmoid/softmax output (TF-Keras' `_keras_logits`), else as given."""
    if kw.get("from_logits") or not isinstance(y_pred, Tensor):
        return y_pred, kw
    if kernel is _k_bce or kernel is _k_bfce:
        kind = "sigmoid"
    elif kernel is _k_cce or kernel is _k_scce:
        if kw.get("axis", -1) not in (-1, y_pred.ndim - 1):
            return y_pred, kw
        kind = "softmax"
    else:
        return y_pred, kw
    z = _logits_cache.logits_of(y_pred, kind)
    if z is None:
        return y_pred, kw
    kw = dict(kw)
    kw["from_logits"] = True
    return z, kw


def _tracked(y_true):
    """Whether a recording tape tracks y_true (a Tensor computed from watched values or
    variables): its gradient is wanted, as TF gives it (a loss between two model outputs)."""
    if not _tapes or not isinstance(y_true, Tensor) or y_true._data.dtype.kind != "f":
        return False
    for tape in _tapes:
        if tape._paused:
            continue
        if id(y_true) in tape._tracked or (
                tape._watch_vars and getattr(y_true, "trainable", False) and
                getattr(y_true, "_is_variable", False)):
            return True
    return False


def _composite_values(kernel, y_true, y_pred, kw):
    """The per-sample values of a built-in loss written with nabi ops (the composites of
    _losses_second_order.py, the kernels' formulas), so that the gradient reaches y_true as well
    as y_pred: the path for a y_true a tape tracks. The fused kernels treat y_true as a
    constant, as labels are."""
    from ..ops import array_ops as _a, math_ops as _m
    from ._losses_second_order import composite
    comp = composite(kernel)
    yp = y_pred if isinstance(y_pred, Tensor) else convert_to_tensor(y_pred)
    if yp._data.dtype.kind != "f" or yp._data.dtype == np.float16:
        yp = _m.cast(yp, np.float32)
    _on_device_of(y_true, yp._data)             # a Tensor on another device is an error
    yt = y_true
    if yp.ndim == 0:
        yp = _a.reshape(yp, (1,))
    if yt.ndim == 0:
        yt = _a.reshape(yt, (1,))
    r1, r2 = yt.ndim, yp.ndim                   # Keras squeeze_or_expand_to_same_rank
    if r1 == r2 + 1 and yt.shape[-1] == 1:
        if r2 == 1:
            yp = _a.expand_dims(yp, -1)
        else:
            yt = _a.squeeze(yt, -1)
    elif r2 == r1 + 1 and yp.shape[-1] == 1:
        if r1 == 1:
            yt = _a.expand_dims(yt, -1)
        else:
            yp = _a.squeeze(yp, -1)
    return comp(yt, yp, **kw)


def _run(kernel, y_true, y_pred, sparse=False, **kw):
    y_pred, kw = _cached_logits(kernel, y_pred, kw)
    if not sparse and _tracked(y_true):
        return _composite_values(kernel, y_true, y_pred, kw)
    t, yt, yp, shape0 = _prep(y_true, y_pred, sparse)
    res = kernel(yt, yp, **kw)
    vals, back = res[0], res[1]
    out = _wrap(_asarray(vals, dtype=yp.dtype))
    if _tapes and t._data.dtype.kind == "f":
        from ._losses_second_order import backward_t, op_name
        record((t,), out, lambda g, n: (_grad_to(back(g), shape0),),
               backward_t(kernel, kw, t, yt, yp), op_name(kernel))
    return out


def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true) ** 2, axis=-1)."""
    return _run(_k_mse, y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|, axis=-1)."""
    return _run(_k_mae, y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1)."""
    return _run(_k_mape, y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log1p(max(y_pred, eps)) - log1p(max(y_true, eps))) ** 2, axis=-1)."""
    return _run(_k_msle, y_true, y_pred)


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0), axis=-1); 0/1 labels become -1/1."""
    return _run(_k_hinge, y_true, y_pred)


def squared_hinge(y_true, y_pred):
    return _run(_k_squared_hinge, y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)."""
    return _run(_k_categorical_hinge, y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """mean(0.5 d^2 if |d| <= delta else delta (|d| - delta / 2), axis=-1)."""
    return _run(_k_huber, y_true, y_pred, delta=delta)


def log_cosh(y_true, y_pred):
    return _run(_k_log_cosh, y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """sum(t * log(t / p), axis=-1) with t, p clipped to [eps, 1]."""
    return _run(_k_kld, y_true, y_pred)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + eps), axis=-1)."""
    return _run(_k_poisson, y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)."""
    return _run(_k_cosine, y_true, y_pred, axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return _run(_k_bce, y_true, y_pred, from_logits=from_logits,
                label_smoothing=float(label_smoothing), axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return _run(_k_cce, y_true, y_pred, from_logits=from_logits,
                label_smoothing=float(label_smoothing), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    return _run(_k_scce, y_true, y_pred, sparse=True, from_logits=from_logits,
                ignore_class=ignore_class, axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Keras 2.15 binary focal cross-entropy (Lin et al. 2018), the mean over `axis`."""
    return _run(_k_bfce, y_true, y_pred, apply_class_balancing=bool(apply_class_balancing),
                alpha=float(alpha), gamma=float(gamma), from_logits=bool(from_logits),
                label_smoothing=float(label_smoothing), axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Keras 2.15 categorical focal cross-entropy: sum(alpha (1 - p)^gamma (-y log p), axis)."""
    _warn_one_class(y_pred, "categorical_focal_crossentropy")
    return _run(_k_cfce, y_true, y_pred, alpha=alpha, gamma=float(gamma),
                from_logits=bool(from_logits), label_smoothing=float(label_smoothing), axis=axis)


def _warn_one_class(y_pred, op):
    shp = getattr(y_pred, "shape", None)
    if shp is None:
        shp = np.shape(y_pred)
    shp = tuple(shp)
    if shp and shp[-1] == 1:
        import warnings
        warnings.warn(f"In loss {op}, expected y_pred.shape to be (batch_size, num_classes) with "
                      f"num_classes > 1. Received: y_pred.shape={shp}. Consider using "
                      "'binary_crossentropy' if you only have 2 classes.", SyntaxWarning,
                      stacklevel=3)


# Keras' aliases
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

_KERNELS = {mean_squared_error: _k_mse, mean_absolute_error: _k_mae,
            mean_absolute_percentage_error: _k_mape, mean_squared_logarithmic_error: _k_msle,
            hinge: _k_hinge, squared_hinge: _k_squared_hinge,
            categorical_hinge: _k_categorical_hinge, huber: _k_huber, log_cosh: _k_log_cosh,
            kl_divergence: _k_kld, poisson: _k_poisson, cosine_similarity: _k_cosine,
            binary_crossentropy: _k_bce, categorical_crossentropy: _k_cce,
            sparse_categorical_crossentropy: _k_scce,
            binary_focal_crossentropy: _k_bfce,
            categorical_focal_crossentropy: _k_cfce}


# --------------------------------------------------------------------------- reduction


def _weights(sw, vals):
    """Sample weights as an array broadcastable to `vals` (Keras rank rules)."""
    w = _on_device_of(sw, vals, "sample_weight")
    if w.dtype != vals.dtype:
        w = w.astype(vals.dtype)
    if vals.ndim == 0:      # a custom loss returned a scalar: Keras 2 broadcasts it (below)
        return w
    if w.ndim == vals.ndim + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    elif vals.ndim == w.ndim + 1 and vals.shape[-1] == 1 and w.ndim == 1:
        w = w[..., None]
    while w.ndim < vals.ndim:
        w = w[..., None]
    if w.ndim > vals.ndim:
        raise ValueError(f"[Loss] sample_weight of shape {np.shape(sw)} does not match the loss "
                         f"values of shape {vals.shape}")
    try:
        np.broadcast_shapes(w.shape, vals.shape)
    except ValueError:
        raise ValueError(f"[Loss] sample_weight of shape {np.shape(sw)} cannot be broadcast to "
                         f"the loss values of shape {vals.shape}") from None
    return w


def _reduce_arrays(vals, w, reduction):
    """(output array, d output / d vals as a scale array or float)."""
    if vals.ndim == 0 and w is not None and w.ndim > 0 and reduction not in (None, "none"):
        # A scalar loss with per-element weights (a custom loss on a masked output): Keras 2
        # multiplies the scalar by the weights and reduces that, i.e. scales it by sum(w),
        # mean(w), or 1 (0 without weight) for mean_with_sample_weight.
        if reduction == "sum":
            f = w.sum()
        elif reduction == "mean_with_sample_weight":
            f = (w.sum() != 0).astype(vals.dtype)
        else:
            f = np.mean(w)
        f = f.astype(vals.dtype) if hasattr(f, "astype") else vals.dtype.type(f)
        return vals * f, f
    if reduction is None or reduction == "none" or vals.ndim == 0 or vals.shape == (0,):
        if w is None:
            return vals, None
        out = vals * w
        if out.shape != vals.shape:
            out = np.broadcast_to(out, np.broadcast_shapes(out.shape, vals.shape))
        return out, w
    wv = vals if w is None else vals * w
    if type(wv) is DeviceArray and wv.size and (reduction in ("sum_over_batch_size", "mean") or (
            reduction == "mean_with_sample_weight" and w is None)):
        # the mean in ONE kernel (float64 accumulation, the division inside), not sum + divide
        inv = 1.0 / wv.size
        return np.mean(wv), (inv if w is None else w * inv)
    total = np.add.reduce(wv, axis=None, dtype=np.float64 if vals.dtype == np.float32 and
                          vals.size > 4096 else None)
    if reduction == "sum":
        return _asarray(total, vals.dtype), (1.0 if w is None else w)
    if reduction == "mean_with_sample_weight" and w is not None:
        div = np.broadcast_to(w, wv.shape).sum()
        if type(div) is DeviceArray:    # divide_no_nan on the device, nothing read back
            inv = np.where(div != 0, 1.0 / np.where(div != 0, div, 1), 0).astype(vals.dtype)
            return (total * inv).astype(vals.dtype), w * inv
        div = float(div)
    else:
        div = float(wv.size)
    if div == 0:
        return _asarray(0.0, vals.dtype), 0.0
    return _asarray(total / div, vals.dtype), ((1.0 / div) if w is None else w * (1.0 / div))


class Loss:
    """Base class: subclasses implement `call(y_true, y_pred)` returning per-sample losses."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS and reduction is not None and reduction != "auto":
            raise ValueError(f"[Loss] invalid reduction {reduction!r}; expected one of "
                             f"{', '.join(map(repr, _REDUCTIONS))} or None")
        if reduction == "auto":
            reduction = "sum_over_batch_size"
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        kernel = getattr(self, "_kernel", None)
        if kernel is not None:
            return self._fused_call(kernel, y_true, y_pred, sample_weight)
        from .. import ops as _ops
        vals = self.call(y_true, y_pred)
        if not isinstance(vals, Tensor):
            vals = convert_to_tensor(vals)
        return _reduce_tensor(_ops, vals, sample_weight, self.reduction)

    def _fused_call(self, kernel, y_true, y_pred, sample_weight):
        y_pred, kw = _cached_logits(kernel, y_pred, self._kw)
        if not self._sparse and _tracked(y_true):
            from .. import ops as _ops
            return _reduce_tensor(_ops, _composite_values(kernel, y_true, y_pred, kw),
                                  sample_weight, self.reduction)
        t, yt, yp, shape0 = _prep(y_true, y_pred, self._sparse)
        res = kernel(yt, yp, **kw)
        vals, back = res[0], res[1]
        if vals.dtype != yp.dtype:
            vals = vals.astype(yp.dtype)
        w = None if sample_weight is None else _weights(sample_weight, vals)
        if len(res) > 2 and res[2] is not None and self.reduction not in (None, "none"):
            m = res[2].astype(vals.dtype)           # ignore_class mask, Keras' apply_mask
            if self.reduction in ("sum_over_batch_size", "mean"):
                m = m * _f(m.size / (m.sum() + EPSILON), vals)
            w = m if w is None else w * m
        out, scale = _reduce_arrays(vals, w, self.reduction)
        res_t = _wrap(out)
        if _tapes and t._data.dtype.kind == "f":
            const = getattr(back, "const", None)

            def backward(g, needs):
                if const is not None and is_unit_seed(g) and (scale is None or
                                                              type(scale) is float):
                    return (_grad_to(const(1.0 if scale is None else scale), shape0),)
                return (_grad_to(back(g if scale is None else g * scale), shape0),)
            record((t,), res_t, backward, _l2.backward_t(kernel, kw, t, yt, yp, scale),
                   _l2.op_name(kernel))
        return res_t

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _reduce_tensor(ops, vals, sample_weight, reduction):
    if sample_weight is not None:
        w = _weights(sample_weight, vals._data)
        vals = ops.multiply(vals, _wrap(w))
    if reduction is None or reduction == "none" or vals.ndim == 0:
        return vals
    total = ops.reduce_sum(vals)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        div = np.broadcast_to(w, vals._data.shape).sum()
        if type(div) is DeviceArray:    # divide_no_nan on the device, nothing read back
            return ops.multiply(total, _wrap(np.where(div != 0, 1.0 / np.where(div != 0, div, 1),
                                                      0).astype(vals._data.dtype)))
        div = float(div)
    else:
        div = float(vals._data.size)
    return ops.multiply(total, 0.0 if div == 0 else 1.0 / div)


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or
                                   (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class LossFunctionWrapper(Loss):
    """Wraps a loss function `fn(y_true, y_pred, **kwargs)` into a `Loss`."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        k = _KERNELS.get(fn)
        if k is not None:
            self._kernel = k
            self._kw = kwargs
            self._sparse = fn is sparse_categorical_crossentropy

    def call(self, y_true, y_pred):
        # Keras 2 losses_utils.squeeze_or_expand_dimensions on tensors: the side with one more
        # dimension loses a trailing 1, so a custom fn sees y_pred (n,) for labels (n,) rather
        # than broadcasting (n,) against (n, 1) to (n, n)
        if isinstance(y_true, Tensor) and isinstance(y_pred, Tensor):
            rt, rp = y_true.shape.rank, y_pred.shape.rank
            if rt is not None and rp is not None:
                from ..ops import array_ops
                if rp == rt + 1 and y_pred.shape[-1] == 1:
                    y_pred = array_ops.squeeze(y_pred, -1)
                elif rt == rp + 1 and y_true.shape[-1] == 1:
                    y_true = array_ops.squeeze(y_true, -1)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["fn"] = serialize(self.fn)
        cfg.update(self._fn_kwargs)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["fn"] = deserialize(config["fn"]) if "fn" in config else None
        return cls(**config)


class _Builtin(LossFunctionWrapper):
    _fn = None
    _args = ()

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(type(self)._fn, reduction=reduction,
                         name=name or type(self)._default_name, dtype=dtype, **kwargs)

    def get_config(self):
        cfg = {"name": self.name, "reduction": self.reduction}
        cfg.update(self._fn_kwargs)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("fn", None)
        return cls(**config)


def _builtin(clsname, fn, default_name, signature_doc):
    cls = type(clsname, (_Builtin,), {"_fn": staticmethod(fn), "_default_name": default_name,
                                      "__doc__": f"Keras `{clsname}`: {signature_doc}",
                                      "__module__": __name__})
    return cls


MeanSquaredError = _builtin("MeanSquaredError", mean_squared_error, "mean_squared_error",
                            "mean squared error")
MeanAbsoluteError = _builtin("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error",
                             "mean absolute error")
MeanAbsolutePercentageError = _builtin("MeanAbsolutePercentageError",
                                       mean_absolute_percentage_error,
                                       "mean_absolute_percentage_error", "MAPE")
MeanSquaredLogarithmicError = _builtin("MeanSquaredLogarithmicError",
                                       mean_squared_logarithmic_error,
                                       "mean_squared_logarithmic_error", "MSLE")
Hinge = _builtin("Hinge", hinge, "hinge", "hinge loss")
SquaredHinge = _builtin("SquaredHinge", squared_hinge, "squared_hinge", "squared hinge loss")
CategoricalHinge = _builtin("CategoricalHinge", categorical_hinge, "categorical_hinge",
                            "categorical hinge loss")
LogCosh = _builtin("LogCosh", log_cosh, "log_cosh", "log(cosh(error))")
KLDivergence = _builtin("KLDivergence", kl_divergence, "kl_divergence", "KL divergence")
Poisson = _builtin("Poisson", poisson, "poisson", "Poisson loss")


class Huber(_Builtin):
    """Keras `Huber(delta=1.0)`."""
    _fn = staticmethod(huber)
    _default_name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, delta=float(delta))


class CosineSimilarity(_Builtin):
    """Keras `CosineSimilarity(axis=-1)`: -cos(y_true, y_pred)."""
    _fn = staticmethod(cosine_similarity)
    _default_name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, axis=axis)


class _SmoothedCrossentropy(_Builtin):
    """The (from_logits, label_smoothing, axis) cross-entropies; `name` defaults to the class's
    `_default_name`."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Keras `BinaryCrossentropy(from_logits=False, label_smoothing=0.0, axis=-1)`."""
    _fn = staticmethod(binary_crossentropy)
    _default_name = "binary_crossentropy"


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Keras `CategoricalCrossentropy(from_logits=False, label_smoothing=0.0, axis=-1)`."""
    _fn = staticmethod(categorical_crossentropy)
    _default_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_Builtin):
    """Keras `SparseCategoricalCrossentropy(from_logits=False, ignore_class=None)`."""
    _fn = staticmethod(sparse_categorical_crossentropy)
    _default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None, axis=-1):
        kw = {"from_logits": bool(from_logits), "ignore_class": ignore_class}
        if axis != -1:
            kw["axis"] = axis
        super().__init__(reduction=reduction, name=name, dtype=dtype, **kw)
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class


class BinaryFocalCrossentropy(_Builtin):
    """Keras `BinaryFocalCrossentropy(apply_class_balancing=False, alpha=0.25, gamma=2.0,
    from_logits=False, label_smoothing=0.0, axis=-1)`."""
    _fn = staticmethod(binary_focal_crossentropy)
    _default_name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=bool(apply_class_balancing), alpha=float(alpha),
                         gamma=float(gamma), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis


class CategoricalFocalCrossentropy(_Builtin):
    """Keras `CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0, axis=-1)`; alpha may be a list with one weight per class."""
    _fn = staticmethod(categorical_focal_crossentropy)
    _default_name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        if isinstance(alpha, (list, tuple, np.ndarray)):
            alpha = [float(a) for a in np.asarray(alpha).ravel()]
        else:
            alpha = float(alpha)
        super().__init__(reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         gamma=float(gamma), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)
        self.alpha = alpha
        self.gamma = float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def __call__(self, y_true, y_pred, sample_weight=None):
        _warn_one_class(y_pred, "categorical_focal_crossentropy")
        return super().__call__(y_true, y_pred, sample_weight)


# --------------------------------------------------------------------------- lookup

_FUNCS = {"mean_squared_error": mean_squared_error, "mse": mse, "MSE": MSE,
          "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": MAE,
          "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mape,
          "MAPE": MAPE, "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
          "msle": msle, "MSLE": MSLE, "hinge": hinge, "squared_hinge": squared_hinge,
          "categorical_hinge": categorical_hinge, "huber": huber, "huber_loss": huber,
          "log_cosh": log_cosh, "logcosh": logcosh, "kl_divergence": kl_divergence,
          "kld": kld, "KLD": KLD, "kullback_leibler_divergence": kl_divergence,
          "poisson": poisson, "cosine_similarity": cosine_similarity,
          "binary_crossentropy": binary_crossentropy,
          "categorical_crossentropy": categorical_crossentropy,
          "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
          "binary_focal_crossentropy": binary_focal_crossentropy,
          "categorical_focal_crossentropy": categorical_focal_crossentropy}

_CLASSES = {c.__name__: c for c in (Loss, LossFunctionWrapper, MeanSquaredError,
                                    MeanAbsoluteError, MeanAbsolutePercentageError,
                                    MeanSquaredLogarithmicError, Hinge, SquaredHinge,
                                    CategoricalHinge, Huber, LogCosh, KLDivergence, Poisson,
                                    CosineSimilarity, BinaryCrossentropy,
                                    CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                    BinaryFocalCrossentropy, CategoricalFocalCrossentropy)}


def serialize(loss):
    """A Loss object -> its Keras 3 dict; a built-in function -> Keras' function dict."""
    if loss is None:
        return None
    return _serialize(loss, Loss, _FUNCS, "losses")


def deserialize(name, custom_objects=None):
    return _deserialize(name, custom_objects, _CLASSES, get, deserialize, "losses", "loss")


def _serialize(obj, base, funcs, where):
    """losses/metrics `serialize`: an object of class `base` -> its Keras 3 dict, a built-in
    function (named in `funcs`) -> Keras' function dict."""
    module = "keras." + where
    if isinstance(obj, base):
        return _registry.serialize_object(obj, module)
    out = _registry.serialize_function(obj, funcs, module)
    if out is None:
        raise ValueError(f"[{where}.serialize] cannot serialize {obj!r}")
    return out


def _deserialize(config, custom_objects, classes, get, deserialize, where, kind):
    """losses/metrics `deserialize`: a name (custom_objects first), a function dict, or a class
    dict."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return custom_objects[config]
        return get(config)
    if isinstance(config, dict):
        if config.get("class_name") == "function":
            return deserialize(config.get("config", {}), custom_objects)
        return _registry.from_class_dict(config, custom_objects, classes, where, kind)
    raise ValueError(f"[{where}.deserialize] cannot interpret {config!r}")


def get(identifier):
    """A loss from a name (function or class name), a config dict, or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        f = _FUNCS.get(identifier)
        if f is not None:
            return f
        cls = _CLASSES.get(identifier)
        if cls is not None and cls not in (Loss, LossFunctionWrapper):
            return cls()
        raise ValueError(f"[losses.get] unknown loss {identifier!r}; known: "
                         f"{', '.join(sorted(set(_FUNCS) | set(_CLASSES)))}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"[losses.get] could not interpret loss identifier {identifier!r}")


def _fused_logits_loss(loss, last_activation):
    """The `from_logits=True` equivalent of a probability cross-entropy after `last_activation`.

    If the model's output is `softmax(z)` (last axis) and `loss` is categorical or sparse
    categorical cross-entropy on probabilities, or the output is `sigmoid(z)` and `loss` is
    binary cross-entropy, returns a Loss to apply to the pre-activation logits `z` instead (same
    reduction, label smoothing, ignore_class and name). Otherwise returns None.

    `loss` may be a name, a built-in function or a Loss object; `last_activation` a name or an
    activation function. This is what TF-Keras does internally: the value is the same up to the
    1e-7 probability clipping (the logits form is not capped at -log(1e-7)), and it is stable
    and cheaper: one fused C++ pass instead of softmax, renormalise, clip, log. The engine decides
    whether to use it (it must then compute the pre-activation output in training).
    """
    act = getattr(last_activation, "__name__", last_activation)
    if act not in ("softmax", "sigmoid"):
        return None
    if isinstance(loss, str):
        loss = _FUNCS.get(loss) or (_CLASSES[loss]() if loss in _CLASSES and
                                    loss not in ("Loss", "LossFunctionWrapper") else loss)
    reduction, name, kw = "sum_over_batch_size", None, {}
    if isinstance(loss, LossFunctionWrapper):
        fn, kw, reduction, name = loss.fn, dict(loss._fn_kwargs), loss.reduction, loss.name
    else:
        fn = loss
    if kw.get("from_logits"):
        return None
    kw.pop("from_logits", None)
    if act == "softmax" and fn is categorical_crossentropy:
        if kw.get("axis", -1) != -1:
            return None
        return CategoricalCrossentropy(from_logits=True,
                                       label_smoothing=kw.get("label_smoothing", 0.0),
                                       reduction=reduction,
                                       name=name or "categorical_crossentropy")
    if act == "softmax" and fn is sparse_categorical_crossentropy:
        if kw.get("axis", -1) != -1:
            return None
        return SparseCategoricalCrossentropy(from_logits=True,
                                             ignore_class=kw.get("ignore_class"),
                                             reduction=reduction,
                                             name=name or "sparse_categorical_crossentropy")
    if act == "sigmoid" and fn is binary_focal_crossentropy:
        # Keras 2 takes the bce from the sigmoid's logits (`_get_logits`) while the focal
        # factor uses the sigmoid output: exactly the from_logits form on the logits.
        return BinaryFocalCrossentropy(
            apply_class_balancing=kw.get("apply_class_balancing", False),
            alpha=kw.get("alpha", 0.25), gamma=kw.get("gamma", 2.0), from_logits=True,
            label_smoothing=kw.get("label_smoothing", 0.0), axis=kw.get("axis", -1),
            reduction=reduction, name=name or "binary_focal_crossentropy")
    if act == "sigmoid" and fn is binary_crossentropy:
        return BinaryCrossentropy(from_logits=True,
                                  label_smoothing=kw.get("label_smoothing", 0.0),
                                  axis=kw.get("axis", -1), reduction=reduction,
                                  name=name or "binary_crossentropy")
    return None
