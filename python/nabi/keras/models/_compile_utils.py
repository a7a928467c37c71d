"""What `compile()` resolves: per-output losses (with the fused logits head), loss weights,
metric trackers (built-in ones on arrays) and target conversions.

On the GPU the trackers compute where the predictions are and keep their running sums there;
`result()` / `logs()` read them back (the one synchronisation)."""
import inspect

import numpy as np

from ...framework.device import DeviceArray, backend, to_device
from ...framework.device import asarray as _asarray

from ...framework.tensor import Tensor, Variable, _wrap
from ...ops import math_ops as _m
from .. import _logits_cache
from ..layers import base as _base

_LOSS_ALIASES = {
    "mse": "mean_squared_error", "MSE": "mean_squared_error",
    "mae": "mean_absolute_error", "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error", "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error", "MSLE": "mean_squared_logarithmic_error",
    "kld": "kl_divergence", "KLD": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
    "bce": "binary_crossentropy", "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
}

_ACC_NAMES = ("accuracy", "acc")
_FAST_METRICS = {
    "binary_accuracy": "binary", "categorical_accuracy": "categorical",
    "sparse_categorical_accuracy": "sparse",
    "mse": "mse", "mean_squared_error": "mse", "mae": "mae", "mean_absolute_error": "mae",
}


def canonical_loss_name(loss):
    """The Keras function name of a loss identifier (string, function or Loss object)."""
    if loss is None:
        return None
    if isinstance(loss, str):
        return _LOSS_ALIASES.get(loss, loss)
    fn = getattr(loss, "fn", None)
    if fn is not None:
        return canonical_loss_name(getattr(fn, "__name__", None))
    name = type(loss).__name__
    if name in _LOSS_ALIASES:
        return _LOSS_ALIASES[name]
    n = getattr(loss, "__name__", None)
    return _LOSS_ALIASES.get(n, n)


def _losses_module():
    from .. import losses
    return losses


def resolve_loss(identifier):
    """A callable (y_true, y_pred, sample_weight=None) -> scalar Tensor."""
    if identifier is None:
        return None
    L = _losses_module()
    obj = L.get(identifier) if not callable(identifier) or isinstance(identifier, str) \
        else identifier
    if isinstance(obj, getattr(L, "Loss", ())):
        return obj
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}
    if "sample_weight" in params:
        return obj
    wrapper = getattr(L, "LossFunctionWrapper", None)
    if wrapper is not None:
        return wrapper(obj, name=getattr(obj, "__name__", None))
    return _PerSampleWrapper(obj)


def _like(x, like):
    """Host data `x` as an array on `like`'s device (labels and weights follow predictions)."""
    a = x._data if isinstance(x, Tensor) else _asarray(x)
    if type(like) is DeviceArray and type(a) is not DeviceArray:
        a = to_device(a, "cuda")
    return a


def _accumulate(acc, s, scale=1):
    """acc + s * scale for a running sum: Python floats for host values; on the GPU the sum
    stays a float64 device scalar, read back once by result() / logs()."""
    if type(s) is DeviceArray:
        s = s.astype(np.float64)
        return acc + (s if type(scale) in (int, float) and scale == 1 else s * scale)
    return acc + float(s) * scale


def _match_rank(y, pred):
    """Keras 2 `match_dtype_and_rank` for losses: rank-1 targets against (N, 1) predictions
    become (N, 1), so a Loss subclass's call (HOML's HuberLoss) pairs them row by row instead
    of broadcasting to (N, N)."""
    y = _wrap(y)
    p = pred._data if isinstance(pred, Tensor) else pred
    if y._data.ndim == 1 and getattr(p, "ndim", 0) == 2 and p.shape[-1] == 1:
        y = _wrap(y._data.reshape(-1, 1))
    return y


class _PerSampleWrapper:
    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", "loss")

    def __call__(self, y_true, y_pred, sample_weight=None):
        vals = self.fn(y_true, y_pred)
        if not isinstance(vals, Tensor):
            vals = _wrap(_asarray(vals, np.float32))
        if sample_weight is not None:
            w = _asarray(_like(sample_weight, vals._data), vals._data.dtype)
            w = w.reshape((-1,) + (1,) * (vals._data.ndim - 1))
            vals = _m.multiply(vals, _wrap(w))
        n = vals._data.size
        return _m.multiply(_m.reduce_sum(vals), 1.0 / max(n, 1))


def serialize_optimizer(opt):
    if opt is None:
        return None
    try:
        from .. import optimizers
        return optimizers.serialize(opt)
    except (ImportError, AttributeError, ValueError, TypeError, NotImplementedError):
        # e.g. a LearningRateSchedule subclass without get_config (the Transformer
        # tutorial's CustomSchedule): compile must still work, as in Keras 2
        try:
            config = opt.get_config() if hasattr(opt, "get_config") else {}
        except NotImplementedError:
            config = {}
        return {"class_name": type(opt).__name__, "config": config}


def _ser_loss_one(l):
    if l is None or isinstance(l, str):
        return l
    try:
        return _losses_module().serialize(l)
    except (ImportError, AttributeError, ValueError, TypeError):
        return getattr(l, "__name__", getattr(l, "name", type(l).__name__))


def serialize_loss(loss):
    if isinstance(loss, dict):
        return {k: _ser_loss_one(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [_ser_loss_one(v) for v in loss]
    return _ser_loss_one(loss)


def _ser_metric_one(m):
    if m is None or isinstance(m, str):
        return m
    if isinstance(m, (list, tuple)):
        return [_ser_metric_one(v) for v in m]
    if isinstance(m, dict):
        return {k: _ser_metric_one(v) for k, v in m.items()}
    try:
        from .. import metrics
        return metrics.serialize(m)
    except (ImportError, AttributeError, ValueError, TypeError):
        return getattr(m, "name", getattr(m, "__name__", type(m).__name__))


def serialize_metrics(metrics):
    if metrics is None:
        return None
    return _ser_metric_one(metrics)


# ----------------------------------------------------------------------------- trackers


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _StateVariable(Variable):
    """A live view of one running sum of a tracker (`total` or `count`) as a float32 metric
    Variable, for Keras's `metric.variables`: reading it reads the tracker's state (the GPU
    sum is read back then); assign/assign_add write it. The tracker keeps its state where it
    is (a Python float or a float64 device scalar), so fit's per-batch path pays nothing."""

    def __init__(self, owner, attr):
        self._owner = owner
        self._attr = attr
        self._name = attr
        self.trainable = False
        self._constraint = None
        self._aggregation = None

    @property
    def _data(self):
        v = getattr(self._owner, self._attr)
        if type(v) is DeviceArray:
            v = to_device(v, "cpu")
        return np.asarray(v, np.float32).reshape(())

    def _store(self, value):
        a = value._data if isinstance(value, Tensor) else value
        if type(a) is DeviceArray:
            a = to_device(a, "cpu")
        a = np.asarray(a, np.float64)
        if a.size != 1:
            raise ValueError(f"[{self._owner.name}.{self._attr}] a metric state variable is a "
                             f"scalar; got a value of shape {a.shape}")
        setattr(self._owner, self._attr, float(a.reshape(())))
        return self

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return self._store(value)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self._store(np.float64(float(self._data)) + np.asarray(_data(delta), np.float64))

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self._store(np.float64(float(self._data)) - np.asarray(_data(delta), np.float64))


class _TrackerAPI:
    """Keras's Metric API on a compile tracker (what `model.metrics` lists): `result()` is a
    float32 scalar Tensor, `variables` the state, `dtype`, `get_config()`. fit's logs read the
    Python value through `_value()` instead."""

    @property
    def dtype(self):
        return "float32"

    def result(self):
        return _wrap(np.asarray(self._value(), np.float32))

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def reset_states(self):
        self.reset_state()


class _SumCount(_TrackerAPI):
    """A running mean kept as `total` and `count` (Keras's Mean state variables)."""

    def _value(self):
        count = float(self.count)
        return float(self.total) / count if count else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    @property
    def variables(self):
        return [_StateVariable(self, "total"), _StateVariable(self, "count")]

    weights = variables


def _mean_last_axis(v):
    """v.mean(axis=-1); a host array's size-1 last axis (a (n, 1) output) is taken as it is,
    the same values without np.mean's fixed cost at every step."""
    if type(v) is np.ndarray and v.shape[-1] == 1:
        return v[..., 0]
    return v.mean(axis=-1)


class FastMetric(_SumCount):
    """A stateful mean metric computed on NumPy arrays (accuracy, mse, mae): Keras's
    MeanMetricWrapper of the matching function, with state `total` and `count`."""

    _FNS = {"binary": "binary_accuracy", "categorical": "categorical_accuracy",
            "sparse": "sparse_categorical_accuracy", "mse": "mean_squared_error",
            "mae": "mean_absolute_error"}

    def __init__(self, name, kind, weighted=False):
        self.name = name
        self.kind = kind
        self.weighted = weighted
        self.logits = None  # None, "sigmoid" or "softmax": y_pred arrives as logits
        self.total = 0.0
        self.count = 0.0

    def _values(self, yt, yp):
        kind = self.kind
        if kind == "binary":
            thr = 0.0 if self.logits else 0.5
            if yt.shape != yp.shape and yt.size == yp.size:
                yt = yt.reshape(yp.shape)
            v = (yt == (yp > thr)).astype(np.float32)
            return _mean_last_axis(v) if v.ndim > 1 else v
        if kind == "categorical":
            return (np.argmax(yt, axis=-1) == np.argmax(yp, axis=-1)).astype(np.float32)
        if kind == "sparse":
            pred = np.argmax(yp, axis=-1)
            yt = yt.reshape(pred.shape) if yt.size == pred.size else yt
            return (yt == pred).astype(np.float32)
        if self.logits == "sigmoid":
            yp = _sigmoid(yp)
        elif self.logits == "softmax":
            yp = _softmax(yp)
        if yt.shape != yp.shape and yt.size == yp.size:
            yt = yt.reshape(yp.shape)
        d = yt - yp
        v = d * d if kind == "mse" else np.abs(d)
        return _mean_last_axis(v) if v.ndim > 1 else v

    def _count_on_device(self, yt, yp):
        """An unweighted categorical / sparse accuracy update on the GPU in ONE kernel
        (argmax_match_count): the matches are added straight into the running total, a
        float64 device scalar this metric alone holds. False when the general path is needed
        (shapes NumPy would pair differently, a total that is not such a scalar)."""
        if type(yt) is not DeviceArray or yp.dtype.kind != "f" or not yp.shape or \
                yp.shape[-1] == 0:
            return False
        rows = yp.size // yp.shape[-1]
        sparse = self.kind == "sparse"
        if sparse:
            # _values compares yt reshaped to argmax's shape when the sizes match
            if yt.size != rows or yt.dtype.kind not in "biuf":
                return False
        elif yt.shape != yp.shape or yt.dtype != yp.dtype:
            return False
        t = self.total
        if type(t) is not DeviceArray:
            t = DeviceArray.full((), float(t), np.float64)
        elif t.dtype != np.float64 or t.shape != ():
            return False
        backend().argmax_match_count(yp.buf, yt.buf, sparse, t.buf)
        self.total = t
        self.count += rows
        return True

    def update(self, yt, yp, sw, mask=None):
        if (type(yp) is DeviceArray and self.kind in ("categorical", "sparse") and
                mask is None and (sw is None or not self.weighted) and
                self._count_on_device(yt, yp)):
            return
        v = self._values(yt, yp)
        if mask is not None:
            w = _mask_weights(mask, v, sw if self.weighted else None)
            self.total = _accumulate(self.total, (v * w).sum())
            self.count = _accumulate(self.count, np.broadcast_to(w, v.shape).sum())
        elif sw is not None and self.weighted:
            w = _sw_to_rank(sw, v.ndim)
            self.total = _accumulate(self.total, (v * w).sum())
            self.count = _accumulate(self.count, np.broadcast_to(w, v.shape).sum())
        else:
            self.total = _accumulate(self.total, v.sum())
            self.count += v.size

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Keras's update_state: y_pred is the model's output (probabilities, not the fused
        head's logits) and a given sample_weight applies, as on any Keras metric."""
        yp = y_pred._data if isinstance(y_pred, Tensor) else _asarray(y_pred)
        saved = self.logits, self.weighted
        self.logits, self.weighted = None, True
        try:
            self.update(_like(y_true, yp), yp,
                        None if sample_weight is None else _like(sample_weight, yp))
        finally:
            self.logits, self.weighted = saved

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "fn": self._FNS[self.kind]}

    def __repr__(self):
        return f"<MeanMetricWrapper name={self.name}>"


def _log_value(v):
    """A metric result as a log value: a float, or a NumPy array for a vector result (as
    Keras logs F1Score(average=None) per class; the progress bar shows its mean)."""
    a = _asarray(v._data if isinstance(v, Tensor) else v)
    if type(a) is DeviceArray:          # a GPU result is read back explicitly
        a = to_device(a, "cpu")
    a = np.asarray(a)
    return float(a) if a.size == 1 else a.copy()


class LossMean(_SumCount):
    """Keras 2's per-output `Mean(name="<output>_loss")` of a multi-output model (what
    compiled_loss lists after the "loss" Mean): the batch-size weighted mean of one output's
    unweighted loss. The running sums stay where the losses are (a device scalar on the GPU)."""

    def __init__(self, name):
        self.name = name
        self.total = 0.0
        self.count = 0.0

    def add(self, loss, n):
        self.total = _accumulate(self.total, loss, n)
        self.count += n

    def update_state(self, values, sample_weight=None):
        v = _asarray(_data(values), np.float64)
        if sample_weight is None:
            self.total = _accumulate(self.total, v.sum())
            self.count += v.size
        else:
            w = np.broadcast_to(_asarray(_data(sample_weight), np.float64), v.shape)
            self.total = _accumulate(self.total, (v * w).sum())
            self.count += float(w.sum())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    def __repr__(self):
        return f"<Mean name={self.name}>"


def _cached_logits_kind(tracker, pred):
    """('sigmoid'/'softmax', logits) when `tracker` is a probability cross-entropy metric and
    `pred` a tagged sigmoid/softmax output (keras/_logits_cache.py), else (None, None)."""
    if tracker.logits is not None or not isinstance(pred, Tensor) or \
            not isinstance(tracker, ObjectMetric):
        return None, None
    fn = getattr(tracker.metric, "_fn", None)
    from .. import losses as _L
    if fn not in (_L.binary_crossentropy, _L.categorical_crossentropy,
                  _L.sparse_categorical_crossentropy, _L.binary_focal_crossentropy) or \
            tracker.metric._fn_kwargs.get("from_logits"):
        return None, None
    for kind in ("sigmoid", "softmax"):
        z = _logits_cache.logits_of(pred, kind)
        if z is not None:
            return kind, z
    return None, None


class ObjectMetric(_TrackerAPI):
    """Adapts a Keras Metric object (update_state/result/reset_state) to the tracker API; the
    Metric API (result, variables, get_config...) is the wrapped metric's."""

    def __init__(self, name, metric, weighted=False):
        self.name = name
        self.metric = metric
        self.weighted = weighted
        self.logits = None

    def update(self, yt, yp, sw, mask=None):
        z = yp if self.logits in ("sigmoid", "softmax") else None
        if self.logits == "sigmoid":
            yp = _sigmoid(yp)
        elif self.logits == "softmax":
            yp = _softmax(yp)
        sw_t = _wrap(sw) if (sw is not None and self.weighted) else None
        if mask is not None:
            m = _asarray(mask, np.float32)
            if sw_t is not None:
                m = m * _sw_to_rank(_asarray(sw, np.float32), m.ndim)
            sw_t = _wrap(m)
        yt = _wrap(yt)
        yp = _wrap(yp)
        if z is not None:       # a cross-entropy metric reads the logits, as TF-Keras does
            _logits_cache.tag(yp, self.logits, _wrap(z))
        # Keras 2 `match_dtype_and_rank`: rank-1 targets against rank-2 predictions become
        # (N, 1) (the training guide's CategoricalTruePositives reshapes argmax to (-1, 1)).
        if yt._data.ndim == 1 and yp._data.ndim == 2:
            yt = _wrap(yt._data.reshape(-1, 1))
            if sw_t is not None and sw_t._data.ndim == 1:
                sw_t = _wrap(sw_t._data.reshape(-1, 1))
        self.metric.update_state(yt, yp, sample_weight=sw_t)

    def _value(self):
        r = self.metric.result()
        if isinstance(r, dict):
            return {k: _log_value(v) for k, v in r.items()}
        return _log_value(r)

    def result(self):
        return self.metric.result()

    def reset_state(self):
        m = self.metric
        (getattr(m, "reset_state", None) or getattr(m, "reset_states"))()

    def update_state(self, *a, **k):
        return self.metric.update_state(*a, **k)

    @property
    def dtype(self):
        return getattr(self.metric, "dtype", "float32")

    @property
    def variables(self):
        return list(getattr(self.metric, "variables", []))

    weights = variables

    def get_config(self):
        cfg = dict(self.metric.get_config()) if hasattr(self.metric, "get_config") else {}
        cfg["name"] = self.name
        return cfg

    def __getattr__(self, attr):     # thresholds, num_classes...: the wrapped metric's
        if attr.startswith("__") or attr == "metric":
            raise AttributeError(attr)
        return getattr(self.metric, attr)

    def __repr__(self):
        return f"<{type(self.metric).__name__} name={self.name}>"


def _mask_weights(mask, v, sw):
    """Keras `apply_mask` for metrics (reduction 'sum'): the mask times the sample weights,
    shaped to broadcast against the per-step metric values `v`."""
    m = _asarray(mask, np.float32)
    while m.ndim < v.ndim:
        m = m[..., None]
    while m.ndim > v.ndim and m.shape[-1] == 1:
        m = m[..., 0]
    if sw is not None:
        m = m * _sw_to_rank(_asarray(_like(sw, m), np.float32), m.ndim)
    return m


def _output_sw(sw, i):
    """Output i's sample weights: its entry of a per-output list, else the shared array."""
    return sw[i] if isinstance(sw, list) else sw


def _map_output_sw(fn, sw, n_out):
    """fn over a user's sample weights: one for all outputs, or a list/tuple of one per output
    (entries may be None)."""
    if sw is None:
        return None
    if n_out > 1 and isinstance(sw, (list, tuple)) and len(sw) == n_out:
        return [None if w is None else fn(w) for w in sw]
    return fn(sw)


def _sw_to_rank(sw, ndim):
    """Sample weights, one per sample (n,) or per timestep (n, T), shaped to broadcast
    against values of rank `ndim` (Keras `squeeze_or_expand_to_same_rank`): trailing axes of
    1 added, or a trailing axis of 1 dropped."""
    while sw.ndim > ndim and sw.shape[-1] == 1:
        sw = sw[..., 0]
    return sw.reshape(sw.shape + (1,) * (ndim - sw.ndim))


def _loss_mask_weights(mask, sw):
    """Keras `apply_mask` for 'sum_over_batch_size' losses: valid steps weigh total/valid, so
    the mean runs over the unmasked steps only; sample weights multiply in."""
    m = _asarray(mask, np.float32)
    scale = m.size / (m.sum() + 1e-7)
    m = m * (np.float32(scale) if type(m) is np.ndarray else scale.astype(np.float32))
    if sw is not None:
        m = m * _sw_to_rank(_asarray(_like(sw, m), np.float32), m.ndim)
    return m


def _output_masks(preds):
    """Per-output Keras masks (NumPy bool arrays or None), or None when no output has one."""
    if not _base._MASKS:
        return None
    out = []
    for p in preds:
        m = _base.get_mask(p) if isinstance(p, Tensor) else None
        out.append(None if m is None else _asarray(m._data if isinstance(m, Tensor) else m))
    return out if any(m is not None for m in out) else None


class _FnMetric:
    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", "metric")
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        v = self.fn(y_true, y_pred)
        a = _asarray(v._data if isinstance(v, Tensor) else v, dtype=np.float64)
        if sample_weight is not None:
            w = _asarray(_like(sample_weight, a), np.float64).reshape(
                (-1,) + (1,) * (a.ndim - 1))
            self.total = _accumulate(self.total, (a * w).sum())
            self.count = _accumulate(self.count, np.broadcast_to(w, a.shape).sum())
        else:
            self.total = _accumulate(self.total, a.sum())
            self.count += a.size

    def result(self):
        count = float(self.count)
        return float(self.total) / count if count else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0


# ----------------------------------------------------------------------------- CompileState


class CompileState:
    def __init__(self, model, loss, metrics, loss_weights, weighted_metrics):
        self.model = model
        self.loss_arg = loss
        self.metrics_arg = metrics
        self.weighted_metrics_arg = weighted_metrics
        self.loss_weights_arg = loss_weights
        self.resolved = False
        self.fused_layer = None
        self.has_metrics = False
        self.loss_fns = []
        self.loss_weights = []
        self.trackers = []
        self.output_names = []
        self.n_out = 1
        self.reg_pairs = []
        self.out_loss_trackers = []
        self._names = ["loss"]
        self._loss_tracker = None
        self._noted = None
        self.plain_loss_fns = []

    # -- output structure ------------------------------------------------------------
    def _per_output(self, arg, names, what):
        n = len(names)
        if isinstance(arg, dict):
            unknown = set(arg) - set(names)
            if unknown:
                raise ValueError(f"[{self.model.name}.compile] unknown output name(s) "
                                 f"{sorted(unknown)} in {what}; the outputs are {names}")
            return [arg.get(k) for k in names]
        if isinstance(arg, (list, tuple)) and what == "loss":
            if len(arg) != n:
                raise ValueError(f"[{self.model.name}.compile] {what} is a list of {len(arg)} "
                                 f"entries but the model has {n} outputs")
            return list(arg)
        return [arg] * n

    def target_is_sparse(self, i):
        lf = self._raw_losses[i] if self.resolved else None
        return canonical_loss_name(lf) == "sparse_categorical_crossentropy"

    def prepare_targets(self, ys):
        """Converts target arrays once: sparse labels stay integers, the rest become float32."""
        out = []
        for i, y in enumerate(ys):
            if y is None:        # an output without a target (Keras 2: y=[y1, None])
                out.append(None)
                continue
            raw = self._raw_loss_for(i)
            sparse = canonical_loss_name(raw) == "sparse_categorical_crossentropy"
            a = y._data if isinstance(y, Tensor) else _asarray(y)
            if sparse:
                if a.dtype.kind == "f":
                    a = a.astype(np.int64)
                elif a.dtype.kind not in "iu":
                    a = a.astype(np.int64)
            elif a.dtype != np.float32:
                a = a.astype(np.float32)
            out.append(a if type(a) is DeviceArray else np.ascontiguousarray(a))
        return out

    def _raw_loss_for(self, i):
        arg = self.loss_arg
        if isinstance(arg, dict):
            names = self._guess_output_names()
            return arg.get(names[i]) if i < len(names) else None
        if isinstance(arg, (list, tuple)):
            return arg[i] if i < len(arg) else None
        return arg

    def _guess_output_names(self):
        names = getattr(self.model, "_output_names", None)
        if names:
            return list(names)
        return self.output_names or ["output_1"]

    # -- resolution ------------------------------------------------------------------
    def ensure_resolved(self, handler):
        if not self.resolved:
            xs, ys = handler.peek()
            self.ensure_resolved_arrays(xs, ys)

    def ensure_resolved_arrays(self, xs, ys):
        if self.resolved:
            return
        # the probe runs the first 2 rows: stateful RNNs take it as shape inference, so their
        # batch size (batch_input_shape) and stored states stay as they are
        quiet = [la for la in self.model._flatten_layers()
                 if getattr(la, "stateful", False) and hasattr(la, "_symbolic_depth")]
        for la in quiet:
            la._symbolic_depth += 1
        try:
            preds = self.model._predict_step([x[:2] for x in xs])
        finally:
            for la in quiet:
                la._symbolic_depth -= 1
        self.resolve_from(preds, ys)

    def resolve_from(self, preds, ys, fuse=True):
        """Resolves losses and metrics for these predictions (arrays, first rows enough) and
        targets. fuse=False (a user's train_step/test_step computes the predictions): no fused
        logits head, since the model's output is then the activation's, not the logits."""
        if self.resolved:
            return
        model = self.model
        self.n_out = len(preds)
        names = getattr(model, "_output_names", None)
        if not names or len(names) != self.n_out:
            names = [f"output_{i + 1}" for i in range(self.n_out)]
        self.output_names = list(names)
        raw = self._per_output(self.loss_arg, names, "loss")
        self._raw_losses = raw
        self.loss_fns = [resolve_loss(l) for l in raw]
        self.plain_loss_fns = list(self.loss_fns)
        lw = self.loss_weights_arg
        if lw is None:
            self.loss_weights = [1.0] * self.n_out
        elif isinstance(lw, dict):
            self.loss_weights = [float(lw.get(k, 1.0)) for k in names]
        else:
            lw = list(lw)
            if len(lw) != self.n_out:
                raise ValueError(f"[{model.name}.compile] loss_weights has {len(lw)} entries but "
                                 f"the model has {self.n_out} outputs")
            self.loss_weights = [float(w) for w in lw]
        # The fused logits head (what TF-Keras does with `_keras_logits`).
        self.fused_layer = None
        self.fused_act = None
        if fuse and self.n_out == 1 and raw[0] is not None:
            layer = _output_dense(model)
            # not when the layer has an activity regularizer: it must see the probabilities
            # (a logits head would hand it the pre-activation)
            if layer is not None and layer._fused in ("sigmoid", "softmax") and \
                    getattr(layer, "activity_regularizer", None) is None:
                fl = None
                try:
                    fl = _losses_module()._fused_logits_loss(raw[0], layer._fused)
                except (ImportError, AttributeError):
                    fl = None
                if fl is not None:
                    self.loss_fns[0] = fl
                    self.fused_layer = layer
                    self.fused_act = layer._fused
        # Metrics.
        ys_s = ys if ys is not None else [None] * self.n_out
        self.trackers = []
        for weighted, arg in ((False, self.metrics_arg), (True, self.weighted_metrics_arg)):
            if not arg:
                continue
            if isinstance(arg, dict):
                per = [arg.get(k) for k in names]
            elif isinstance(arg, (list, tuple)) and self.n_out > 1 and len(arg) == self.n_out \
                    and all(isinstance(a, (list, tuple)) or a is None for a in arg):
                per = list(arg)
            else:
                per = [arg] * self.n_out
            for i, ms in enumerate(per):
                if ms is None:
                    continue
                if not isinstance(ms, (list, tuple)):
                    ms = [ms]
                for m in ms:
                    t = self._make_tracker(m, i, raw[i], ys_s[i], preds[i], weighted)
                    if self.n_out > 1:
                        t.name = f"{names[i]}_{t.name}"
                    if weighted and any(o.name == t.name for o, _ in self.trackers):
                        t.name = "weighted_" + t.name
                    # two metrics of one name (metrics=[AUC(), AUC(curve="PR")]): Keras names
                    # each instance uniquely (auc, auc_1), so both reach the logs
                    base, k = t.name, 0
                    while any(o.name == t.name for o, _ in self.trackers):
                        k += 1
                        t.name = f"{base}_{k}"
                    if i == 0 and self.fused_layer is not None:
                        t.logits = self.fused_act
                    self.trackers.append((t, i))
        self.has_metrics = bool(self.trackers)
        self.reg_pairs = []
        for l in model._flatten_layers():
            self.reg_pairs.extend(l._regularized)
        # Keras 2: a Mean "<output>_loss" per output that has a loss, when there are several
        self.out_loss_trackers = [LossMean(f"{n}_loss") if self.n_out > 1 and fn is not None
                                  else None for n, fn in zip(names, self.loss_fns)]
        self._names = ["loss"] + [t.name for t in self.out_loss_trackers if t is not None] + \
            [t.name for t, _ in self.trackers]
        self.resolved = True

    def _make_tracker(self, m, i, raw_loss, yt, yp, weighted):
        if isinstance(m, str):
            key = m
            if m in _ACC_NAMES:
                lname = canonical_loss_name(raw_loss)
                if lname == "sparse_categorical_crossentropy":
                    kind = "sparse"
                elif lname == "categorical_crossentropy":
                    kind = "categorical"
                elif lname == "binary_crossentropy":
                    kind = "binary"
                else:
                    p_last = yp.shape[-1] if yp.ndim else 1
                    t_shape = yt.shape if yt is not None else yp.shape
                    t_last = t_shape[-1] if len(t_shape) else 1
                    if p_last == 1:
                        kind = "binary"
                    elif len(t_shape) < yp.ndim or (t_last == 1 and p_last > 1):
                        kind = "sparse"
                    else:
                        kind = "categorical"
                return FastMetric(m, kind, weighted)
            if key in _FAST_METRICS:
                return FastMetric(m, _FAST_METRICS[key], weighted)
            from .. import metrics as M
            obj = M.get(m)
            if not hasattr(obj, "update_state"):
                obj = _wrap_fn_metric(obj)
                return ObjectMetric(m, obj, weighted)
            # a class name ('AUC', 'F1Score') logs under the instance's name ('auc'), as Keras
            return ObjectMetric(getattr(obj, "name", m), obj, weighted)
        if hasattr(m, "update_state"):
            return ObjectMetric(getattr(m, "name", type(m).__name__), m, weighted)
        if callable(m):
            name = getattr(m, "__name__", "metric")
            if name in _FAST_METRICS:
                return FastMetric(name, _FAST_METRICS[name], weighted)
            return ObjectMetric(name, _wrap_fn_metric(m), weighted)
        raise ValueError(f"[{self.model.name}.compile] could not interpret metric {m!r}")

    # -- per step ----------------------------------------------------------------------
    def compute_loss(self, ys, preds, sw, sink):
        total = None
        all_sw = sw
        fns = self.loss_fns
        multi = self.n_out > 1
        vals = [] if multi else None
        masks = _output_masks(preds)
        for i in range(self.n_out):
            fn = fns[i]
            if fn is None:
                continue
            if ys is None or ys[i] is None:
                raise ValueError(f"[{self.model.name}] the model was compiled with a loss for "
                                 f"output {self.output_names[i]!r} but no target (y) was given")
            sw = _output_sw(all_sw, i)
            swi = None if sw is None else _wrap(sw)
            if masks is not None and masks[i] is not None:
                swi = _wrap(_loss_mask_weights(masks[i], sw))
            yt = _match_rank(ys[i], preds[i])
            l = fn(yt, preds[i], sample_weight=swi) if swi is not None else fn(yt, preds[i])
            if l._data.ndim:
                # a Loss with reduction='none': Keras differentiates the per-sample values (the
                # gradient of their sum) and logs their mean; this scalar has the mean's value
                # and the sum's gradient (the constant is off the tape)
                tot = _m.reduce_sum(l)
                l = _m.subtract(tot, _wrap(tot._data - np.mean(l._data, dtype=l._data.dtype)))
            if multi:
                vals.append((i, l))
            w = self.loss_weights[i]
            if w != 1.0:
                l = _m.multiply(l, w)
            total = l if total is None else _m.add(total, l)
        if multi:
            n = len(ys[0]) if ys else 0
            for i, l in vals:
                self.out_loss_trackers[i].add(l._data, n)
        for s in sink:
            s = _m.reduce_sum(s) if s._data.ndim else s
            total = s if total is None else _m.add(total, s)
        for reg, var in self.reg_pairs:
            r = reg(var)
            total = r if total is None else _m.add(total, r)
        if self.model._has_callable_losses():     # Keras 2: called on every batch
            for v in self.model._callable_loss_values():
                v = _m.reduce_sum(v) if v._data.ndim else v
                total = v if total is None else _m.add(total, v)
        if total is None:
            raise ValueError(f"[{self.model.name}] no loss to optimise: compile() was given no "
                             "loss and the model adds no losses")
        return total

    def update_metrics(self, ys, preds, sw):
        masks = _output_masks(preds)
        for t, i in self.trackers:
            p = preds[i]
            yt = ys[i] if ys is not None else None
            if yt is None and ys is not None:    # no target for this output: Keras skips it
                continue
            yp = p._data if isinstance(p, Tensor) else _asarray(p)
            kind, z = _cached_logits_kind(t, p)
            if kind is not None:        # a sigmoid/softmax head that is not a fused Dense:
                yp = z._data            # its cross-entropy metrics see the logits
                t.logits = kind
            try:
                if masks is not None and masks[i] is not None:
                    t.update(yt, yp, _output_sw(sw, i), masks[i])
                else:
                    t.update(yt, yp, _output_sw(sw, i))
            finally:
                if kind is not None:
                    t.logits = None

    def logs(self, loss):
        out = {"loss": loss}
        for t in self.out_loss_trackers:
            if t is not None and float(t.count):
                out[t.name] = t._value()
        for t, _ in self.trackers:
            r = t._value()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[t.name] = r
        for m in self.model._added_metric_objects():  # Keras 2 layer.add_metric
            if m.name not in out:
                out[m.name] = float(m.result().numpy())
        return out

    def step_logs(self, loss, n):
        """Adds a step's loss (for n samples) to the "loss" Mean; returns the running logs."""
        t = self.loss_tracker()
        from ..metrics import _acc
        _acc(t.total, loss * n if n != 1 else loss)
        t.count._data += n
        return self.logs(float(t.result().numpy()))

    def note_epoch_loss(self, loss, n):
        """Records an epoch's mean loss over n samples (the built-in steps sum their losses
        apart): what model.metrics[0], the "loss" Mean, then holds. Only noted -- nothing is
        copied to the device -- unless that Mean exists already."""
        self._noted = (float(loss), n)
        if self._loss_tracker is not None:
            self._set_loss_tracker()

    def _set_loss_tracker(self):
        t = self._loss_tracker
        t.reset_state()
        loss, n = self._noted
        from ..metrics import _acc
        _acc(t.total, np.float32(loss * n))
        t.count._data += n

    def loss_tracker_for_metrics(self):
        """The "loss" Mean for model.metrics: the one compiled_loss updates, or (after the
        built-in steps) one made on the host holding the noted epoch loss; None before any."""
        if self._loss_tracker is None and self._noted is not None:
            from ...framework.device import host_scope
            with host_scope():
                self.loss_tracker()
            self._set_loss_tracker()
        return self._loss_tracker

    def names(self):
        return list(self._names)

    def loss_tracker(self):
        """Keras's `Mean(name="loss")` over the steps' total losses (model.metrics[0]); made
        when first used."""
        t = self._loss_tracker
        if t is None:
            from .. import metrics as M
            t = self._loss_tracker = M.Mean(name="loss")
        return t

    def reset(self):
        self._noted = None
        if self._loss_tracker is not None:
            self._loss_tracker.reset_state()
        for t, _ in self.trackers:
            t.reset_state()
        for m in self.model._added_metric_objects():
            m.reset_state()
        for t in self.out_loss_trackers:
            if t is not None:
                t.reset_state()

    def all_trackers(self):
        return [t for t, _ in self.trackers]

    def output_loss_trackers(self):
        """The per-output "<output>_loss" Means (multi-output models; [] otherwise)."""
        return [t for t in self.out_loss_trackers if t is not None]

    def note_batch_loss(self, loss, n):
        """train_on_batch / test_on_batch: adds a batch's loss to the noted running mean (reset
        with the metrics, as Keras's "loss" Mean is); returns that mean."""
        if self._noted is not None:
            l0, n0 = self._noted
            loss, n = (l0 * n0 + float(loss) * n) / (n0 + n), n0 + n
        self.note_epoch_loss(float(loss), n)
        return self._noted[0]


def _tensor(v):
    return v if isinstance(v, Tensor) else _wrap(_asarray(v))


def _flat_tensors(struct):
    """A Tensor or a list, tuple or dict of them (or of arrays) as a list of Tensors; Tensors
    are kept as they are (so that the tape sees them)."""
    if isinstance(struct, dict):
        return [_tensor(v) for v in struct.values()]
    if isinstance(struct, (list, tuple)):
        return [_tensor(v) for v in struct]
    return [_tensor(struct)]


def _data(t):
    return t._data if isinstance(t, Tensor) else _asarray(t)


class LossesContainer:
    """`model.compiled_loss` (Keras 2's LossesContainer), for a user's train_step/test_step:
    `compiled_loss(y_true, y_pred, sample_weight=None, regularization_losses=None)` is the
    compiled losses (weighted per output) plus the given regularization losses, as a scalar
    Tensor on the tape; each call adds it, weighted by the batch size, to the "loss" Mean
    that model.metrics lists first."""

    def __init__(self, cs):
        self._cs = cs
        self._built = False

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        cs = self._cs
        preds = _flat_tensors(y_pred)
        ys = None if y_true is None else _flat_tensors(y_true)
        cs.resolve_from([_data(p) for p in preds],
                        None if ys is None else [_data(y) for y in ys], fuse=False)
        name = cs.model.name
        if len(preds) != cs.n_out:
            raise ValueError(f"[{name}.compiled_loss] y_pred has {len(preds)} outputs but the "
                             f"model was resolved with {cs.n_out}")
        swt = _map_output_sw(_tensor, sample_weight, cs.n_out)
        masks = _output_masks(preds)
        total = None
        for i, fn in enumerate(cs.plain_loss_fns):
            if fn is None:
                continue
            if ys is None or i >= len(ys):
                raise ValueError(f"[{name}.compiled_loss] the model was compiled with a loss "
                                 f"for output {cs.output_names[i]!r} but no target was given")
            swi = _output_sw(swt, i)
            if masks is not None and masks[i] is not None:
                swi = _wrap(_loss_mask_weights(masks[i], None if swi is None else swi._data))
            l = fn(ys[i], preds[i]) if swi is None else fn(ys[i], preds[i], sample_weight=swi)
            ot = cs.out_loss_trackers[i] if i < len(cs.out_loss_trackers) else None
            if ot is not None:
                ot.add(l._data, preds[i]._data.shape[0] if preds[i]._data.ndim else 1)
            w = cs.loss_weights[i]
            if w != 1.0:
                l = _m.multiply(l, w)
            total = l if total is None else _m.add(total, l)
        for r in regularization_losses or ():
            r = _tensor(r)
            r = _m.reduce_sum(r) if r._data.ndim else r
            total = r if total is None else _m.add(total, r)
        if total is None:  # Keras: no compiled loss and no regularization -> 0
            total = _wrap(np.zeros((), np.float32))
        n = preds[0]._data.shape[0] if preds[0]._data.ndim else 1
        tracker = cs.loss_tracker()
        from ..metrics import _acc
        d = total._data
        _acc(tracker.total, d * np.float32(n) if n != 1 else d)
        tracker.count._data += n
        self._built = True
        return total

    @property
    def metrics(self):
        """Keras: [] until a step computed the loss, then the "loss" Mean (also after the
        built-in fit/evaluate steps, which sum their losses apart)."""
        if self._built:
            return [self._cs.loss_tracker()] + self._cs.output_loss_trackers()
        t = self._cs.loss_tracker_for_metrics()
        return [] if t is None else [t] + self._cs.output_loss_trackers()

    def reset_state(self):
        if self._cs._loss_tracker is not None:
            self._cs._loss_tracker.reset_state()
        for t in self._cs.output_loss_trackers():
            t.reset_state()


class MetricsContainer:
    """`model.compiled_metrics` (Keras 2's MetricsContainer): update_state(y_true, y_pred,
    sample_weight=None) updates the compiled metrics; `.metrics` lists them."""

    def __init__(self, cs):
        self._cs = cs

    def update_state(self, y_true, y_pred, sample_weight=None):
        cs = self._cs
        preds = [_data(p) for p in _flat_tensors(y_pred)]
        ys = None if y_true is None else [_data(y) for y in _flat_tensors(y_true)]
        cs.resolve_from(preds, ys, fuse=False)
        sw = _map_output_sw(_data, sample_weight, cs.n_out)
        masks = _output_masks(_flat_tensors(y_pred))
        for t, i in cs.trackers:
            saved, t.logits = t.logits, None   # y_pred here is the activation's output
            try:
                yt = ys[i] if ys is not None and i < len(ys) else None
                if masks is not None and masks[i] is not None:
                    t.update(yt, preds[i], _output_sw(sw, i), masks[i])
                else:
                    t.update(yt, preds[i], _output_sw(sw, i))
            finally:
                t.logits = saved

    @property
    def metrics(self):
        return self._cs.all_trackers()

    def reset_state(self):
        for t, _ in self._cs.trackers:
            t.reset_state()


def _wrap_fn_metric(fn):
    try:
        from .. import metrics as M
        w = getattr(M, "MeanMetricWrapper", None)
        if w is not None:
            return w(fn, name=getattr(fn, "__name__", None))
    except ImportError:
        pass
    return _FnMetric(fn)


def _output_dense(model):
    """The Dense layer producing the model's single output, if it is called only there."""
    from ..layers.core import Dense
    layer = None
    if type(model).__name__ == "Sequential" or hasattr(model, "_seq_layers"):
        layers = getattr(model, "_seq_layers", [])
        if layers:
            layer = layers[-1]
            while layer is not None and hasattr(layer, "_seq_layers"):
                layer = layer._seq_layers[-1] if layer._seq_layers else None
            if layer is not None and any(l is layer for l in layers[:-1]):
                layer = None
    elif getattr(model, "_is_graph_network", False):
        outs = model._flat_output_kts
        if len(outs) == 1:
            layer = outs[0]._keras_history[0]
            node_count = sum(1 for st in model._steps if st[0] is layer)
            if node_count != 1:
                layer = None
    if isinstance(layer, Dense) and not layer._emit_logits:
        return layer
    return None
