"""`keras.metrics`: Keras 3 metric functions and stateful metric classes.

Metrics are not differentiated, so they compute on arrays directly (Tensors or arrays are
accepted); their state lives in non-trainable Variables (`metric.variables`) updated in place.
Function forms return Tensors.

Devices: a metric computes where its predictions are: on a Tensor's device, or, for host data
(NumPy arrays, lists), on the device of the metric's state, the way host data adopts the device
of the tensors it meets; y_true and sample_weight follow y_pred. Counts computed on another
device than the state's are copied into it explicitly. Reading `result()` as a Python number
is the one synchronisation.
"""
import warnings
import weakref

import numpy as np

from ..framework.device import DeviceArray, in_range, kernels, place, to_device
from ..framework.device import backend as _backend
from ..framework.device import asarray as _asarray

from ..framework.tensor import Tensor, Variable, _wrap
from . import losses as _losses

EPSILON = 1e-7

__all__ = ["Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson",
           "LogCoshError", "CosineSimilarity", "Precision", "Recall", "AUC", "TruePositives",
           "FalsePositives", "TrueNegatives", "FalseNegatives", "accuracy", "binary_accuracy",
           "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "FBetaScore", "F1Score", "IoU", "BinaryIoU",
           "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "R2Score", "SensitivitySpecificityBase",
           "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
           "RecallAtPrecision", "MeanRelativeError", "MeanTensor", "get", "serialize",
           "deserialize"]


def _arr(x):
    return x._data if isinstance(x, Tensor) else _asarray(x)


def _like(x, like, what="y_true"):
    """x as an array on `like`'s device (host data adopts it)."""
    return _losses._on_device_of(x, like, what, "Metric")


def _pair(y_true, y_pred, state=None):
    """(y_true, y_pred) arrays on one device: y_pred's when it is a Tensor or a device array,
    else the device of the array `state` (the metric's state), else the host."""
    yp = _arr(y_pred)
    if state is not None and not isinstance(y_pred, Tensor):
        yp = _like(yp, state, "y_pred")
    return _like(y_true, yp), yp


def _acc(var, x):
    """var += x, copying x explicitly to the variable's device when it was computed elsewhere."""
    d = var._data
    if type(x) is not type(d) and (type(x) is DeviceArray or type(d) is DeviceArray):
        x = to_device(_asarray(x), "cuda" if type(d) is DeviceArray else "cpu")
    d += x


def _kth_largest_gpu(yp, k):
    """The k-th largest value along the last axis (ties counted), keepdims, on the GPU: k - 1
    rounds of masking out the arg-max (k is small; the GPU has no sort)."""
    cur, C = yp, yp.shape[-1]
    for _ in range(k - 1):
        hot = kernels(yp).one_hot(cur.argmax(axis=-1), C, 1.0, 0.0, "float32")
        cur = np.where(hot > 0, -np.inf, cur)
    return cur.max(axis=-1, keepdims=True)


def _floatx():
    return np.float32


# --------------------------------------------------------------------------- array functions


def _a_accuracy(yt, yp):
    yt, yp = _losses._same_rank(yt, yp)
    return (yt == yp).astype(np.float32)


def _a_binary_accuracy(yt, yp, threshold=0.5):
    yt, yp = _losses._same_rank(yt, yp)
    m = (yt == (yp > threshold)).astype(np.float32)
    return m.mean(axis=-1) if m.ndim else m


def _a_categorical_accuracy(yt, yp):
    t = np.argmax(yt, axis=-1)
    shape0 = t.shape
    reshape = False
    if t.ndim == yp.ndim:
        t = t[..., 0]
        reshape = True
    m = (t == np.argmax(yp, axis=-1)).astype(np.float32)
    return m.reshape(shape0) if reshape else m


def _sparse_labels(yt, yp):
    shape0 = yt.shape
    reshape = False
    if yt.ndim == yp.ndim and yt.ndim:
        yt = yt[..., 0] if yt.shape[-1] == 1 else yt.reshape(yt.shape[:-1])
        reshape = True
    return yt, shape0, reshape


def _a_sparse_categorical_accuracy(yt, yp):
    t, shape0, reshape = _sparse_labels(yt, yp)
    m = (t == np.argmax(yp, axis=-1)).astype(np.float32)
    return m.reshape(shape0) if reshape else m


def _in_top_k(targets, yp, k):
    C = yp.shape[-1]
    targets = targets.astype(np.int64)
    if k >= C:
        return np.ones_like(targets, dtype=np.float32)
    if type(yp) is np.ndarray:
        kth = np.partition(yp, C - k, axis=-1)[..., C - k]
    else:
        kth = _kth_largest_gpu(yp, k)[..., 0]
    tv = np.take_along_axis(yp, targets[..., None], axis=-1)[..., 0]
    return (tv >= kth).astype(np.float32)


def _a_top_k(yt, yp, k=5):
    return _in_top_k(np.argmax(yt, axis=-1), yp, k)


def _a_sparse_top_k(yt, yp, k=5):
    t, shape0, reshape = _sparse_labels(yt, yp)
    m = _in_top_k(t, yp, k)
    return m.reshape(shape0) if reshape else m


def _a_cosine(yt, yp, axis=-1):
    return -_losses._k_cosine(*_losses._same_rank(yt, yp), axis=axis)[0]


def _loss_values(kernel, sparse=False):
    def f(yt, yp, **kw):
        if yp.dtype.kind != "f":
            yp = yp.astype(np.float32)
        if not sparse and yt.dtype != yp.dtype:
            yt = yt.astype(yp.dtype)
        if yp.ndim == 0:
            yp = yp.reshape(1)
        if yt.ndim == 0:
            yt = yt.reshape(1)
        yt, yp = _losses._same_rank(yt, yp)
        return kernel(yt, yp, **kw)[0]
    return f


def _tensor_fn(afn, name):
    def f(y_true, y_pred, **kw):
        return _wrap(_asarray(afn(*_pair(y_true, y_pred), **kw)))
    f.__name__ = name
    return f


accuracy = _tensor_fn(_a_accuracy, "accuracy")
binary_accuracy = _tensor_fn(_a_binary_accuracy, "binary_accuracy")
categorical_accuracy = _tensor_fn(_a_categorical_accuracy, "categorical_accuracy")
sparse_categorical_accuracy = _tensor_fn(_a_sparse_categorical_accuracy,
                                         "sparse_categorical_accuracy")
top_k_categorical_accuracy = _tensor_fn(_a_top_k, "top_k_categorical_accuracy")
sparse_top_k_categorical_accuracy = _tensor_fn(_a_sparse_top_k,
                                               "sparse_top_k_categorical_accuracy")
accuracy.__doc__ = "1.0 where y_true == y_pred (elementwise)."
binary_accuracy.__doc__ = "mean(y_true == (y_pred > threshold), axis=-1)."
categorical_accuracy.__doc__ = "argmax(y_true) == argmax(y_pred)."
sparse_categorical_accuracy.__doc__ = "y_true == argmax(y_pred) for integer labels."

# Loss functions double as metrics (Keras exports them from keras.metrics too).
mean_squared_error = mse = MSE = _losses.mean_squared_error
mean_absolute_error = mae = MAE = _losses.mean_absolute_error
mean_absolute_percentage_error = mape = MAPE = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = msle = MSLE = _losses.mean_squared_logarithmic_error
binary_crossentropy = _losses.binary_crossentropy
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
categorical_hinge = _losses.categorical_hinge
kl_divergence = kld = KLD = _losses.kl_divergence
poisson = _losses.poisson
log_cosh = logcosh = _losses.log_cosh
binary_focal_crossentropy = _losses.binary_focal_crossentropy      # Keras 2.15 exports these
categorical_focal_crossentropy = _losses.categorical_focal_crossentropy  # as functions only


def cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine of the angle between y_true and y_pred (positive, unlike the loss)."""
    return _wrap(_asarray(_a_cosine(*_pair(y_true, y_pred), axis=axis)))


_ARRAY_FNS = {accuracy: _a_accuracy, binary_accuracy: _a_binary_accuracy,
              categorical_accuracy: _a_categorical_accuracy,
              sparse_categorical_accuracy: _a_sparse_categorical_accuracy,
              top_k_categorical_accuracy: _a_top_k,
              sparse_top_k_categorical_accuracy: _a_sparse_top_k,
              cosine_similarity: _a_cosine}
for _fn, _k in _losses._KERNELS.items():
    _ARRAY_FNS[_fn] = _loss_values(_k, sparse=_fn is _losses.sparse_categorical_crossentropy)


# --------------------------------------------------------------------------- base classes


class Metric:
    """Base class: `update_state(...)`, `result()`, `reset_state()`; state in `variables`."""

    def __init__(self, name=None, dtype=None):
        self.name = name or _losses._snake(type(self).__name__)
        self._dtype = np.dtype(getattr(dtype, "name", dtype) or "float32")
        self._variables = []

    @property
    def dtype(self):
        return self._dtype.name

    @property
    def variables(self):
        return list(self._variables)

    weights = variables

    def add_variable(self, shape=(), initializer="zeros", dtype=None, name=None):
        dt = np.dtype(getattr(dtype, "name", dtype) or self._dtype)
        if callable(initializer) and not isinstance(initializer, str):
            init = _asarray(_arr(initializer(shape, dt)), dt)
        else:
            init = np.full(tuple(shape), 1.0 if initializer == "ones" else 0.0, dt)
        v = Variable(init, trainable=False, name=name or "variable")
        v._metric_init = init.copy()
        self._variables.append(v)
        return v

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None, **kwargs):
        return self.add_variable(shape, initializer, dtype, name)

    def reset_state(self):
        for v in self._variables:
            init = getattr(v, "_metric_init", None)
            if init is None:
                v._data[...] = 0
            else:
                np.copyto(v._data, init)

    def reset_states(self):
        self.reset_state()

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        out = self.result()
        if isinstance(out, Tensor):  # Keras 2 tags the result (result._metric_obj = self)
            key = id(out)
            _RESULT_METRIC[key] = (weakref.ref(out, lambda r: _RESULT_METRIC.pop(key, None)),
                                   self)
        return out

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


_RESULT_METRIC = {}  # id(result Tensor) -> (weakref to it, the Metric whose call returned it)


def metric_of_result(value):
    """The Metric whose __call__ returned the Tensor `value`, else None: Layer.add_metric
    tracks that metric itself (already updated) as Keras 2 does through `_metric_obj`."""
    entry = _RESULT_METRIC.get(id(value))
    return entry[1] if entry is not None and entry[0]() is value else None


def _samplewise(values, sample_weight):
    """Keras 3 `reduce_to_samplewise_values` on arrays (mean reduction)."""
    if sample_weight is not None:
        sw = _like(sample_weight, values, "sample_weight")
        if sw.dtype != values.dtype:
            sw = sw.astype(values.dtype)
        values, sw = _losses._same_rank(values, sw)
        wn, vn = sw.ndim, values.ndim
        if vn > wn:
            values = values.mean(axis=tuple(range(wn, vn)))
        sw = np.broadcast_to(sw, values.shape)
        values = values * sw
        if wn > 1:
            sw = sw.mean(axis=tuple(range(1, wn)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, sample_weight if sample_weight is None else sw


def _track_metric_attributes():
    """Setting or deleting a layer attribute that holds a Metric then invalidates the cached
    `Model.metrics` walk (layers/base.py, _TREE_GEN)."""
    from .layers import base as layer_base
    layer_base._METRIC_TYPES = (Metric,)


_track_metric_attributes()


class Reduce(Metric):
    def __init__(self, reduction, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reduction = reduction
        self.total = self.add_variable((), name="total")
        if reduction == "mean":
            self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None):
        v = _arr(values) if isinstance(values, Tensor) else _like(values, self.total._data,
                                                                  "values")
        self._update(v, sample_weight)

    def _update(self, v, sample_weight):
        """update_state on an array `v` that stays where it is (sample_weight follows it)."""
        if v.dtype != self._dtype:
            v = v.astype(self._dtype)
        if self.reduction == "sum":
            if sample_weight is not None:
                v, _ = _samplewise(v, sample_weight)
            _acc(self.total, v.sum())
            return
        v, sw = _samplewise(v, sample_weight)
        _acc(self.total, np.add.reduce(v, axis=None))
        if sw is not None:
            _acc(self.count, sw.sum())
        else:
            self.count._data += v.shape[0] if v.ndim >= 1 else 1

    def result(self):
        if self.reduction == "sum":
            return _wrap(self.total._data.copy())
        c, t = self.count._data, self.total._data
        if type(c) is np.ndarray:
            return _wrap(_asarray(t / c if c != 0 else 0.0, self._dtype))
        nz = c != 0                     # divide_no_nan on the device, no read back
        return _wrap(np.where(nz, t / np.where(nz, c, 1), 0).astype(self._dtype))


class Mean(Reduce):
    """The (weighted) mean of the values passed to update_state."""

    def __init__(self, name="mean", dtype=None):
        super().__init__("mean", name=name, dtype=dtype)


class Sum(Reduce):
    """The (weighted) sum of the values passed to update_state."""

    def __init__(self, name="sum", dtype=None):
        super().__init__("sum", name=name, dtype=dtype)


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over everything seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"),
                         dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        self._afn = _ARRAY_FNS.get(fn)

    def update_state(self, y_true, y_pred, sample_weight=None):
        kw = self._fn_kwargs
        k = _losses._KERNELS.get(self._fn)
        if k is not None and isinstance(y_pred, Tensor):
            # a cross-entropy on a sigmoid/softmax output reads its logits (TF-Keras'
            # `_keras_logits`), as the loss does
            y_pred, kw = _losses._cached_logits(k, y_pred, kw)
        yt, yp = _pair(y_true, y_pred, self.total._data)
        if self._afn is not None:
            values = self._afn(yt, yp, **kw)
        else:
            values = _arr(self._fn(_wrap(yt), _wrap(yp), **kw))
        return self._update(values, sample_weight)

    def get_config(self):
        cfg = {"name": self.name, "dtype": self.dtype}
        cfg.update(self._fn_kwargs)
        if type(self) is MeanMetricWrapper:
            cfg["fn"] = getattr(self._fn, "__name__", None)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if cls is MeanMetricWrapper:
            config["fn"] = get(config["fn"])
        return cls(**config)


def _wrapper(clsname, fn, default_name, params=()):
    """A MeanMetricWrapper subclass with keyword hyperparameters `params` (name, default)."""
    def __init__(self, *args, name=default_name, dtype=None, **kwargs):
        kw = dict(params)
        names = [p for p, _ in params]
        for a, p in zip(args, names):
            kw[p] = a
        for k in list(kwargs):
            if k in kw:
                kw[k] = kwargs.pop(k)
        if kwargs:
            raise TypeError(f"[{clsname}] unexpected keyword argument(s): {', '.join(kwargs)}")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **kw)
        for k, v in kw.items():
            setattr(self, k, v)
    return type(clsname, (MeanMetricWrapper,), {"__init__": __init__, "__module__": __name__,
                                                "__doc__": f"Keras `{clsname}` metric."})


Accuracy = _wrapper("Accuracy", accuracy, "accuracy")
BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                          (("threshold", 0.5),))
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy,
                               "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                     "sparse_categorical_accuracy")
TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                   "top_k_categorical_accuracy", (("k", 5),))
SparseTopKCategoricalAccuracy = _wrapper("SparseTopKCategoricalAccuracy",
                                         sparse_top_k_categorical_accuracy,
                                         "sparse_top_k_categorical_accuracy", (("k", 5),))
MeanSquaredError = _wrapper("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper("MeanAbsolutePercentageError",
                                       mean_absolute_percentage_error,
                                       "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _wrapper("MeanSquaredLogarithmicError",
                                       mean_squared_logarithmic_error,
                                       "mean_squared_logarithmic_error")
BinaryCrossentropy = _wrapper("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                              (("from_logits", False), ("label_smoothing", 0.0)))
CategoricalCrossentropy = _wrapper("CategoricalCrossentropy", categorical_crossentropy,
                                   "categorical_crossentropy",
                                   (("from_logits", False), ("label_smoothing", 0.0),
                                    ("axis", -1)))
SparseCategoricalCrossentropy = _wrapper("SparseCategoricalCrossentropy",
                                         sparse_categorical_crossentropy,
                                         "sparse_categorical_crossentropy",
                                         (("from_logits", False), ("axis", -1)))
Hinge = _wrapper("Hinge", hinge, "hinge")
SquaredHinge = _wrapper("SquaredHinge", squared_hinge, "squared_hinge")
CategoricalHinge = _wrapper("CategoricalHinge", categorical_hinge, "categorical_hinge")
KLDivergence = _wrapper("KLDivergence", kl_divergence, "kl_divergence")
Poisson = _wrapper("Poisson", poisson, "poisson")
LogCoshError = _wrapper("LogCoshError", log_cosh, "logcosh")
CosineSimilarity = _wrapper("CosineSimilarity", cosine_similarity, "cosine_similarity",
                            (("axis", -1),))


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean squared error."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        yt, yp = _pair(y_true, y_pred, self.total._data)
        yp = yp.astype(self._dtype, copy=False)
        yt = yt.astype(self._dtype, copy=False)
        yt, yp = _losses._same_rank(yt, yp)
        d = yp - yt
        return self._update(d * d, sample_weight)

    def result(self):
        return _wrap(np.sqrt(super().result()._data))


# --------------------------------------------------------------------------- confusion matrix


def _confusion(thresholds, yt, yp, sw, top_k=None, class_id=None, multi_label=False,
               label_weights=None):
    """(tp, fp, tn, fn) per threshold (prediction > threshold is positive), weighted.

    `thresholds` must be sorted ascending and on yp's device (as must yt). With multi_label the
    counts have shape (T, labels). Host arrays: one bucket pass (searchsorted + bincount);
    GPU arrays: a (T, N) comparison and one weighted sum over the samples.
    """
    yp = yp.astype(np.float64, copy=False)
    yt, yp = _losses._same_rank(yt, yp)
    host = type(yp) is np.ndarray
    if top_k is not None:
        if host:
            kth = -np.sort(-yp, axis=-1)[..., min(top_k, yp.shape[-1]) - 1:
                                         min(top_k, yp.shape[-1])]
        else:
            kth = _kth_largest_gpu(yp, min(top_k, yp.shape[-1]))
        yp = np.where(yp >= kth, yp, -np.inf)
    if class_id is not None:
        yt = yt[..., class_id]
        yp = yp[..., class_id]
    pos = np.broadcast_to(yt, yp.shape).astype(bool)
    if sw is None:
        w = np.ones_like(yp, dtype=np.float64)
    else:
        w = _like(sw, yp, "sample_weight").astype(np.float64)
        w, _ = _losses._same_rank(w, yp)
        while w.ndim < yp.ndim:
            w = w[..., None]
        w = np.broadcast_to(w, yp.shape)
    if label_weights is not None:       # AUC(multi_label=False): weights each label's entries
        w = w * _like(label_weights, yp, "label_weights")
    T = len(thresholds)

    def counts(p, po, ww):
        # NaN is above no threshold (TF: NaN > t is false), so bucket 0; NumPy's searchsorted
        # would put it above all of them (the GPU's comparison below already says false)
        idx = np.where(np.isnan(p), 0, np.searchsorted(thresholds, p, side="left"))
        wp = np.where(po, ww, 0.0)
        wn = ww - wp
        cp = np.bincount(idx, weights=wp, minlength=T + 1)
        cn = np.bincount(idx, weights=wn, minlength=T + 1)
        tp = cp.sum() - np.cumsum(cp)[:T]
        fp = cn.sum() - np.cumsum(cn)[:T]
        return tp, fp, cn.sum() - fp, cp.sum() - tp

    if not host:
        shape = (-1, yp.shape[-1]) if multi_label else (-1,)
        p, po, ww = yp.reshape(shape), pos.reshape(shape), w.reshape(shape)
        above = p.reshape((1,) + p.shape) > thresholds.reshape((T,) + (1,) * p.ndim)
        wp = np.where(po, ww, 0.0)
        wn = ww - wp
        tp = (above * wp).sum(axis=1)
        fp = (above * wn).sum(axis=1)
        return tp, fp, wn.sum(axis=0) - fp, wp.sum(axis=0) - tp
    if multi_label:
        L = yp.shape[-1]
        p2, po2, w2 = yp.reshape(-1, L), pos.reshape(-1, L), w.reshape(-1, L)
        res = [counts(p2[:, j], po2[:, j], w2[:, j]) for j in range(L)]
        return tuple(np.stack([r[i] for r in res], axis=1) for i in range(4))
    return counts(yp.ravel(), pos.ravel(), w.ravel())


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


class _ThresholdMetric(Metric):
    _vars = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None,
                 default=0.5):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        if thresholds is None:
            thr = [default]
            self._scalar = True
        elif isinstance(thresholds, (int, float)):
            thr = [float(thresholds)]
            self._scalar = True
        else:
            thr = [float(t) for t in thresholds]
            self._scalar = False
        self.thresholds = thr[0] if self._scalar else thr
        self._thr = _asarray(thr, np.float64)
        self._order = np.argsort(self._thr, kind="stable")
        self._thr_sorted = self._thr[self._order]
        self._inv = np.argsort(self._order, kind="stable")
        self._thr_gpu = None
        for v in self._vars:
            setattr(self, v, self.add_variable((len(thr),), name=v))

    def update_state(self, y_true, y_pred, sample_weight=None):
        yt, yp = _pair(y_true, y_pred, getattr(self, self._vars[0])._data)
        if type(yp) is np.ndarray:
            thr = self._thr_sorted
        else:
            if self._thr_gpu is None:
                # Unsorted thresholds are fine for the GPU's comparison: no reordering after.
                self._thr_gpu = to_device(self._thr, "cuda")
            thr = self._thr_gpu
        tp, fp, tn, fn = _confusion(thr, yt, yp, sample_weight, self.top_k, self.class_id)
        d = {"true_positives": tp, "false_positives": fp, "true_negatives": tn,
             "false_negatives": fn}
        host = type(yp) is np.ndarray
        for v in self._vars:
            _acc(getattr(self, v), (d[v][self._inv] if host else d[v]).astype(self._dtype))

    def _out(self, x):
        x = _asarray(x, self._dtype)
        return _wrap(x[0] if self._scalar else x)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ThresholdMetric):
    """tp / (tp + fp) at each threshold (default 0.5); top_k / class_id as Keras."""
    _vars = ("true_positives", "false_positives")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype,
                         default=0.5 if top_k is None else -1e30)

    def result(self):
        tp, fp = self.true_positives._data, self.false_positives._data
        return self._out(_div(tp, tp + fp))


class Recall(_ThresholdMetric):
    """tp / (tp + fn) at each threshold (default 0.5); top_k / class_id as Keras."""
    _vars = ("true_positives", "false_negatives")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype,
                         default=0.5 if top_k is None else -1e30)

    def result(self):
        tp, fn = self.true_positives._data, self.false_negatives._data
        return self._out(_div(tp, tp + fn))


def _counter(clsname, var, default_name):
    def __init__(self, thresholds=None, name=default_name, dtype=None):
        _ThresholdMetric.__init__(self, thresholds, None, None, name, dtype)

    def result(self):
        return self._out(getattr(self, var)._data)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}
    return type(clsname, (_ThresholdMetric,), {"_vars": (var,), "__init__": __init__,
                                              "result": result, "get_config": get_config,
                                              "__module__": __name__})


TruePositives = _counter("TruePositives", "true_positives", "true_positives")
FalsePositives = _counter("FalsePositives", "false_positives", "false_positives")
TrueNegatives = _counter("TrueNegatives", "true_negatives", "true_negatives")
FalseNegatives = _counter("FalseNegatives", "false_negatives", "false_negatives")


class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at `num_thresholds` thresholds
    (Keras' Riemann sum; 'interpolation' uses Davis & Goadrich interpolation for PR)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        self.curve = str(curve).upper()
        if self.curve not in ("ROC", "PR"):
            raise ValueError(f"[AUC] curve must be 'ROC' or 'PR', got {curve!r}")
        self.summation_method = str(summation_method).lower()
        if self.summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"[AUC] invalid summation_method {summation_method!r}")
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thr = sorted(float(t) for t in thresholds)
            self._user_thresholds = True
        else:
            if num_thresholds <= 1:
                raise ValueError(f"[AUC] num_thresholds must be > 1, got {num_thresholds}")
            self.num_thresholds = num_thresholds
            thr = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._user_thresholds = False
        self._thresholds = _asarray([0.0 - EPSILON] + thr + [1.0 + EPSILON], np.float64)
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else _asarray(label_weights,
                                                                           np.float64)
        self.from_logits = bool(from_logits)
        self._thr_gpu = None
        self._built = False
        if not multi_label or num_labels is not None:
            self._build(num_labels)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, num_labels):
        shape = (self.num_thresholds,) if not self.multi_label else (self.num_thresholds,
                                                                     num_labels)
        self.num_labels = num_labels
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self._built:
            self._build(_arr(y_pred).shape[-1])
        yt, yp = _pair(y_true, y_pred, self.true_positives._data)
        if self.from_logits:
            yp = 1.0 / (1.0 + np.exp(-yp.astype(np.float64)))
        thr = self._thresholds
        if type(yp) is not np.ndarray:
            if self._thr_gpu is None:
                self._thr_gpu = to_device(thr, "cuda")
            thr = self._thr_gpu
        # Keras: with multi_label=False the label weights scale every entry of their label in
        # the flattened confusion counts; with multi_label=True they weight the per-label AUCs
        # in result().
        lw = None if self.multi_label else self.label_weights
        tp, fp, tn, fn = _confusion(thr, yt, yp, sample_weight, multi_label=self.multi_label,
                                    label_weights=lw)
        _acc(self.true_positives, tp.astype(self._dtype))
        _acc(self.false_positives, fp.astype(self._dtype))
        _acc(self.true_negatives, tn.astype(self._dtype))
        _acc(self.false_negatives, fn.astype(self._dtype))

    def _interpolate_pr_auc(self, tp, fp, fn):
        T = self.num_thresholds
        dtp = tp[:T - 1] - tp[1:]
        p = tp + fp
        dp = p[:T - 1] - p[1:]
        prec_slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        ok = (p[:T - 1] > 0) & (p[1:] > 0)
        safe_p_ratio = np.where(ok, _div(p[:T - 1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logr = np.log(np.where(safe_p_ratio > 0, safe_p_ratio, 1.0))
        inc = _div(prec_slope * (dtp + intercept * logr), np.maximum(tp[1:] + fn[1:], 0))
        return inc

    def result(self):
        if not self._built:
            return _wrap(_asarray(0.0, self._dtype))
        tp = self.true_positives._data.astype(np.float64)
        fp = self.false_positives._data.astype(np.float64)
        tn = self.true_negatives._data.astype(np.float64)
        fn = self.false_negatives._data.astype(np.float64)
        T = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            by_label = self._interpolate_pr_auc(tp, fp, fn).sum(axis=0)
        else:
            recall = _div(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _div(fp, fp + tn), recall
            else:
                x, y = recall, _div(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:T - 1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:T - 1], y[1:])
            else:
                heights = np.maximum(y[:T - 1], y[1:])
            by_label = ((x[:T - 1] - x[1:]) * heights).sum(axis=0)
        if self.multi_label:
            if self.label_weights is None:
                val = by_label.mean()
            else:
                lw = _like(self.label_weights, by_label, "label_weights")
                val = _div((by_label * lw).sum(), lw.sum())
        else:
            val = by_label
        return _wrap(_asarray(val, self._dtype))

    def get_config(self):
        cfg = {"num_thresholds": self.num_thresholds, "curve": self.curve,
               "summation_method": self.summation_method, "multi_label": self.multi_label,
               "num_labels": self.num_labels, "from_logits": self.from_logits,
               "name": self.name, "dtype": self.dtype,
               "label_weights": None if self.label_weights is None else
               self.label_weights.tolist()}
        if self._user_thresholds:
            cfg["thresholds"] = [float(t) for t in self._thresholds[1:-1]]
        return cfg


# --------------------------------------------------------------------------- more Keras 2.15 metrics
# F-scores, IoU, R2, the sensitivity/specificity family, MeanRelativeError and MeanTensor. As
# above, they compute where y_pred is; state built on first use (F-scores, R2, MeanTensor) is
# made on that device.


def _placed(y_pred):
    """y_pred as an array: a Tensor's data where it is, host data on the current device."""
    return _arr(y_pred) if isinstance(y_pred, Tensor) else place(_asarray(y_pred))


def _on_device_like(var, like):
    """Moves a freshly made metric Variable onto the device of the array `like`."""
    var._data = to_device(var._data, "cuda" if type(like) is DeviceArray else "cpu")
    return var


def _bincount(idx, w, size):
    """Weighted bincount of the int64 array `idx` (values in [0, size)) on idx's device. On
    the GPU the bincount kernel (csrc/cuda/bincount.cu), which reads nothing back: callers
    bound idx themselves (the IoU metrics check their class ids, the threshold buckets are in
    range by construction, NaN predictions included; a value outside [0, size) is
    skipped)."""
    if type(idx) is np.ndarray:
        return np.bincount(idx.reshape(-1), weights=np.asarray(w, np.float64).reshape(-1),
                           minlength=size)[:size]
    w = to_device(w, "cuda").astype(np.float64).reshape(-1)
    i = idx.astype(np.int64, copy=False).reshape(-1)
    return DeviceArray(_backend().bincount(i.buf, int(size), w.buf, False, False, "float64"))


def _div_no_nan(a, b):
    """a / b, 0 where b == 0 (tf.math.divide_no_nan; b may be negative)."""
    nz = b != 0
    return np.where(nz, a / np.where(nz, b, 1), 0.0)


def _shape(a):
    return tuple(int(s) for s in a.shape)


class FBetaScore(Metric):
    """F-beta score from per-class tp/fp/fn counts (Keras 2.15 `FBetaScore`).

    Inputs are (batch, num_classes). `threshold=None` marks the row's maximum (every tied one,
    and not a 0 row) as the predicted class; otherwise `y_pred > threshold`. `average`: None
    (one score per class), 'micro' (global counts), 'macro' (mean of the per-class scores) or
    'weighted' (mean weighted by each class's support); 0/0 gives 0."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        cls = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"[{cls}] Invalid `average` argument value. Expected one of: "
                             f"{{None, 'micro', 'macro', 'weighted'}}. Received: "
                             f"average={average!r}")
        if not isinstance(beta, float):
            raise ValueError(f"[{cls}] Invalid `beta` argument value. It should be a Python "
                             f"float. Received: beta={beta!r} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"[{cls}] Invalid `beta` argument value. It should be > 0. "
                             f"Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"[{cls}] Invalid `threshold` argument value. It should be a "
                                 f"Python float. Received: threshold={threshold!r} of type "
                                 f"'{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"[{cls}] Invalid `threshold` argument value. It should verify "
                                 f"0 < threshold <= 1. Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False
        self._num_classes = None

    def _build(self, yt, yp):
        cls = type(self).__name__
        if yp.ndim != 2 or yt.ndim != 2:
            raise ValueError(f"[{cls}] {cls} expects 2D inputs with shape (batch_size, "
                             f"output_dim). Received input shapes: y_pred.shape={_shape(yp)} "
                             f"and y_true.shape={_shape(yt)}.")
        self._num_classes = int(yp.shape[-1])
        shape = () if self.average == "micro" else (self._num_classes,)
        for v in ("true_positives", "false_positives", "false_negatives",
                  "intermediate_weights"):
            setattr(self, v, _on_device_like(self.add_variable(shape, name=v), yp))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        cls = type(self).__name__
        if self._built:
            yt, yp = _pair(y_true, y_pred, self.true_positives._data)
        else:
            yp = _placed(y_pred)
            yt = _like(y_true, yp)
            self._build(yt, yp)
        if yp.ndim != 2 or _shape(yt) != _shape(yp) or yp.shape[-1] != self._num_classes:
            raise ValueError(f"[{cls}] expects y_true and y_pred of one shape (batch_size, "
                             f"{self._num_classes}). Received input shapes: "
                             f"y_pred.shape={_shape(yp)} and y_true.shape={_shape(yt)}.")
        dt = self._dtype
        yt, yp = yt.astype(dt), yp.astype(dt)
        if self.threshold is None:
            hot = (yp >= yp.max(axis=-1, keepdims=True)) & (np.abs(yp) > 1e-9)
        else:
            hot = yp > self.threshold
        pred = hot.astype(dt)
        if sample_weight is not None:
            sw = _like(sample_weight, yp, "sample_weight").astype(dt)
            if sw.ndim and sw.size == yp.shape[0]:
                sw = sw.reshape(-1, 1)
            elif sw.size != 1:
                raise ValueError(f"[{cls}] sample_weight must have one weight per sample: "
                                 f"received sample_weight.shape={_shape(sw)} for "
                                 f"y_pred.shape={_shape(yp)}")
            else:
                sw = sw.reshape(())
        else:
            sw = None

        def wsum(v):
            if sw is not None:
                v = v * sw
            return v.sum(axis=self.axis)

        _acc(self.true_positives, wsum(pred * yt))
        _acc(self.false_positives, wsum(pred * (1 - yt)))
        _acc(self.false_negatives, wsum((1 - pred) * yt))
        _acc(self.intermediate_weights, wsum(yt))

    def result(self):
        if not self._built:
            return _wrap(_asarray(0.0, self._dtype))
        tp = self.true_positives._data.astype(np.float64)
        fp = self.false_positives._data.astype(np.float64)
        fn = self.false_negatives._data.astype(np.float64)
        precision = _div(tp, tp + fp)
        recall = _div(tp, tp + fn)
        b2 = self.beta * self.beta
        f = _div(precision * recall, b2 * precision + recall) * (1 + b2)
        if self.average == "weighted":
            iw = self.intermediate_weights._data.astype(np.float64)
            f = (f * _div(iw, iw.sum())).sum()
        elif self.average is not None:
            f = f.mean()
        return _wrap(_asarray(f, self._dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.average,
                "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score: FBetaScore with beta=1 (Keras 2.15 `F1Score`)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        cfg = super().get_config()
        del cfg["beta"]
        return cfg


class _IoUBase(Metric):
    """A weighted (num_classes, num_classes) confusion matrix `total_cm` (rows: true class,
    columns: predicted class), accumulated over the flattened labels and predictions."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype)
        cls = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 1:
            raise ValueError(f"[{cls}] `num_classes` must be a positive integer. Received: "
                             f"num_classes={num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = axis
        self.total_cm = self.add_variable((self.num_classes, self.num_classes),
                                          name="total_confusion_matrix")
        self._eye = None

    _pred_in_range = False   # _dense_pred's ids are in [0, num_classes) by construction

    def _dense_pred(self, yp):
        """Hook: BinaryIoU thresholds the predictions here."""
        return yp

    def update_state(self, y_true, y_pred, sample_weight=None):
        cls, C = type(self).__name__, self.num_classes
        yt, yp = _pair(y_true, y_pred, self.total_cm._data)
        yp = self._dense_pred(yp)
        # ids known (on the host) to lie in [0, C): an argmax over at most C columns, 0/1
        # predictions of BinaryIoU, integer GPU labels of a known range (device.in_range)
        t_known, p_known = in_range(yt, C), self._pred_in_range or in_range(yp, C)
        try:
            if not self.sparse_y_true:
                t_known = yt.shape[self.axis] <= C
                yt = yt.argmax(axis=self.axis)
            if not self.sparse_y_pred:
                p_known = yp.shape[self.axis] <= C
                yp = yp.argmax(axis=self.axis)
        except (ValueError, IndexError) as e:
            raise ValueError(f"[{cls}] cannot take the argmax over axis={self.axis} of "
                             f"y_true.shape={_shape(yt)} / y_pred.shape={_shape(yp)}: "
                             f"{e}") from None
        if yt.size != yp.size:
            raise ValueError(f"[{cls}] y_true and y_pred must hold as many labels: received "
                             f"y_true.shape={_shape(yt)} and y_pred.shape={_shape(yp)} (after "
                             f"argmax where sparse_y_true/sparse_y_pred is False)")
        t, p = yt.reshape(-1), yp.reshape(-1)
        # Keras casts labels to the metric dtype, then to int64 (truncation).
        if t.dtype.kind == "f" or t.dtype == np.bool_:
            t = t.astype(self._dtype)
        if p.dtype.kind == "f" or p.dtype == np.bool_:
            p = p.astype(self._dtype)
        t, p = t.astype(np.int64), p.astype(np.int64)
        if sample_weight is None:
            w = np.ones_like(t, dtype=np.float64)
        else:
            w = _like(sample_weight, yt, "sample_weight").astype(np.float64)
            if w.size == t.size:
                w = w.reshape(-1)
            elif w.size == 1:
                w = np.broadcast_to(w.reshape(()), t.shape)
            else:
                ww, _ = _losses._same_rank(w, yt)
                if ww.ndim > yt.ndim or _shape(ww) != _shape(yt)[:ww.ndim]:
                    raise ValueError(f"[{cls}] sample_weight of shape {_shape(w)} does not "
                                     f"match y_true of shape {_shape(yt)}")
                w = np.broadcast_to(ww.reshape(_shape(ww) + (1,) * (yt.ndim - ww.ndim)),
                                    _shape(yt)).reshape(-1)
        if self.ignore_class is not None:
            keep = t != int(self.ignore_class)
            w = np.where(keep, w, 0.0)
            t = np.where(keep, t, 0)
            p = np.where(keep, p, 0)
        bad_t, bad_p = (t < 0) | (t >= C), (p < 0) | (p >= C)
        if not (t_known and p_known) and bool((bad_t | bad_p).any()):   # a GPU read
            which, v = ("y_true", t) if bool(bad_t.any()) else ("y_pred", p)
            lo, hi = int(v.min()), int(v.max())
            raise ValueError(f"[{cls}] {which} holds class ids in [{lo}, {hi}], out of range "
                             f"for num_classes={C} (valid: 0 to {C - 1})")
        cm = _bincount(t * C + p, w, C * C).reshape(C, C)
        _acc(self.total_cm, cm.astype(self._dtype))

    def _per_class(self):
        """(true positives, tp + fp + fn) per class, float64, on the state's device."""
        cm = self.total_cm._data.astype(np.float64)
        if self._eye is None or type(self._eye) is not type(cm):
            self._eye = _like(np.eye(self.num_classes), cm, "eye")
        tp = (cm * self._eye).sum(axis=1)
        return tp, cm.sum(axis=0) + cm.sum(axis=1) - tp


class IoU(_IoUBase):
    """Intersection-over-union tp / (tp + fp + fn) averaged over `target_class_ids`, skipping
    classes that never occur in y_true or y_pred (denominator 0) (Keras 2.15 `IoU`)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        ids = [int(i) for i in target_class_ids]
        if not ids:
            raise ValueError(f"[{type(self).__name__}] `target_class_ids` must name at least "
                             "one class. Received: target_class_ids=[]")
        if max(ids) >= self.num_classes or min(ids) < 0:
            bad = max(ids) if max(ids) >= self.num_classes else min(ids)
            raise ValueError(f"[{type(self).__name__}] Target class id {bad} is out of range, "
                             f"which is [0, {self.num_classes}).")
        self.target_class_ids = ids
        # gather(target_class_ids) as multiplicities, so that the result stays on the device
        self._mult = np.bincount(ids, minlength=self.num_classes).astype(np.float64)
        self._mult_dev = None

    def result(self):
        tp, den = self._per_class()
        if self._mult_dev is None or type(self._mult_dev) is not type(tp):
            self._mult_dev = _like(self._mult, tp, "target_class_ids")
        m = self._mult_dev
        valid = (m * (den != 0)).sum()
        return _wrap(_asarray(_div((m * _div(tp, den)).sum(), valid), self._dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "target_class_ids": list(self.target_class_ids),
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU for classes 0/1 after `y_pred >= threshold` makes predictions 1 (Keras 2.15)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    _pred_in_range = True    # 0 / 1

    def _dense_pred(self, yp):
        return (yp.astype(self._dtype) >= self.threshold).astype(self._dtype)

    def get_config(self):
        return {"target_class_ids": list(self.target_class_ids), "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over all num_classes classes that occur (Keras 2.15 `MeanIoU`)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        n = num_classes if isinstance(num_classes, (int, np.integer)) and \
            not isinstance(num_classes, bool) and num_classes > 0 else None
        if n is None:
            raise ValueError(f"[{type(self).__name__}] `num_classes` must be a positive "
                             f"integer. Received: num_classes={num_classes!r}")
        super().__init__(num_classes, list(range(int(n))), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU with one-hot y_true (argmax over `axis`) (Keras 2.15 `OneHotIoU`)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": list(self.target_class_ids),
                "name": self.name, "dtype": self.dtype, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot y_true (argmax over `axis`) (Keras 2.15 `OneHotMeanIoU`)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class R2Score(Metric):
    """Coefficient of determination per output column, aggregated (Keras 2.15 `R2Score`).

    class_aggregation: None (one score per column), 'uniform_average' or
    'variance_weighted_average'. num_regressors > 0 gives the adjusted R2
    1 - (1 - R2) (n - 1) / (n - p - 1), n counting every element of y_true seen, as Keras does
    (with a warning and the plain R2 when n - 1 <= p)."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(f"[R2Score] Invalid value for argument `class_aggregation`. "
                             f"Expected one of {valid}. Received: "
                             f"class_aggregation={class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError("[R2Score] Invalid value for argument `num_regressors`. Expected a "
                             f"value >= 0. Received: num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable((), dtype="int32", name="num_samples")
        self._built = False

    def _build(self, yt, yp):
        if yp.ndim != 2 or yt.ndim != 2:
            raise ValueError("[R2Score] R2Score expects 2D inputs with shape (batch_size, "
                             f"output_dim). Received input shapes: y_pred.shape={_shape(yp)} "
                             f"and y_true.shape={_shape(yt)}.")
        C = int(yp.shape[-1])
        self.num_samples = _on_device_like(self.num_samples, yp)
        self.squared_sum = _on_device_like(self.add_variable((C,), name="squared_sum"), yp)
        self.sum = _on_device_like(self.add_variable((C,), name="sum"), yp)
        self.total_mse = _on_device_like(self.add_variable((C,), name="residual"), yp)
        self.count = _on_device_like(self.add_variable((C,), name="count"), yp)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._built:
            yt, yp = _pair(y_true, y_pred, self.sum._data)
        else:
            yp = _placed(y_pred)
            yt = _like(y_true, yp)
            self._build(yt, yp)
        C = int(self.sum.shape[0])
        if yp.ndim != 2 or _shape(yt) != _shape(yp) or yp.shape[-1] != C:
            raise ValueError("[R2Score] expects y_true and y_pred of one shape (batch_size, "
                             f"{C}). Received input shapes: y_pred.shape={_shape(yp)} and "
                             f"y_true.shape={_shape(yt)}.")
        dt = self._dtype
        yt, yp = yt.astype(dt), yp.astype(dt)
        if sample_weight is None:
            w = np.ones_like(yt)
        else:
            w = _like(sample_weight, yt, "sample_weight").astype(dt)
            if w.ndim == 1:
                w = w.reshape(-1, 1)
            try:
                w = np.broadcast_to(w, _shape(yt))
            except ValueError:
                raise ValueError(f"[R2Score] sample_weight of shape {_shape(w)} cannot be "
                                 f"broadcast to y_true of shape {_shape(yt)}") from None
        wyt = yt * w
        _acc(self.sum, wyt.sum(axis=0))
        _acc(self.squared_sum, (yt * wyt).sum(axis=0))
        d = yt - yp
        _acc(self.total_mse, (d * d * w).sum(axis=0))
        _acc(self.count, w.sum(axis=0))
        self.num_samples._data += int(yt.size)

    def result(self):
        if not self._built:
            return _wrap(_asarray(0.0, self._dtype))
        s = self.sum._data.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s / self.count._data.astype(np.float64)
            total = self.squared_sum._data.astype(np.float64) - s * mean
            raw = 1 - self.total_mse._data.astype(np.float64) / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = (total * raw).sum() / total.sum()
        else:
            r2 = raw
        if self.num_regressors != 0:
            n = int(self.num_samples._data)
            p = self.num_regressors
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 "
                              "score. Falling back to standard R2 score.", stacklevel=2)
            elif p == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard "
                              "R2 score.", stacklevel=2)
            else:
                r2 = 1.0 - (1.0 - r2) * (n - 1.0) / (n - p - 1.0)
        return _wrap(_asarray(r2, self._dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype,
                "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class SensitivitySpecificityBase(Metric):
    """tp/tn/fp/fn at `num_thresholds` thresholds [0, 1/(n-1), ..., 1] ([0.5] when n is 1).

    As Keras's bucketed update: predictions are clipped to [0, 1] and p counts as positive at
    threshold i when ceil(p * (n - 1)) - 1 >= i, computed in float32 (so p == i / (n - 1) is
    negative there, up to the float32 rounding of the product)."""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(f"[{type(self).__name__}] Argument `num_thresholds` must be an "
                             f"integer > 0. Received: num_thresholds={num_thresholds}")
        self.value = value
        self.class_id = class_id
        n = int(num_thresholds)
        for v in ("true_positives", "true_negatives", "false_positives", "false_negatives"):
            setattr(self, v, self.add_variable((n,), name=v))
        if n == 1:
            self.thresholds = [0.5]
        else:
            self.thresholds = [0.0] + [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)] + [1.0]

    def update_state(self, y_true, y_pred, sample_weight=None):
        cls = type(self).__name__
        yt, yp = _pair(y_true, y_pred, self.true_positives._data)
        yt, yp = yt.astype(np.float32), yp.astype(np.float32)
        yt, yp = _losses._same_rank(yt, yp)
        if _shape(yt) != _shape(yp):
            raise ValueError(f"[{cls}] y_true and y_pred must have the same shape. Received: "
                             f"y_true.shape={_shape(yt)}, y_pred.shape={_shape(yp)}")
        if sample_weight is None:
            w = np.ones_like(yp, dtype=np.float64)
        else:
            w = _like(sample_weight, yp, "sample_weight").astype(np.float64)
            w, _ = _losses._same_rank(w, yp)
            if w.ndim > yp.ndim:
                raise ValueError(f"[{cls}] sample_weight of shape {_shape(w)} does not match "
                                 f"y_pred of shape {_shape(yp)}")
            w = w.reshape(_shape(w) + (1,) * (yp.ndim - w.ndim))
            try:
                w = np.broadcast_to(w, _shape(yp))
            except ValueError:
                raise ValueError(f"[{cls}] sample_weight of shape {_shape(w)} cannot be "
                                 f"broadcast to y_pred of shape {_shape(yp)}") from None
        if self.class_id is not None:
            if yp.ndim == 0 or not -yp.shape[-1] <= self.class_id < yp.shape[-1]:
                raise ValueError(f"[{cls}] class_id={self.class_id} is out of range for "
                                 f"y_pred of shape {_shape(yp)}")
            yt, yp, w = yt[..., self.class_id], yp[..., self.class_id], w[..., self.class_id]
        n = len(self.thresholds)
        if n == 1:
            b = np.where(yp > np.float32(0.5), 0, -1).astype(np.int64)
        else:
            b = (np.ceil(np.clip(yp, np.float32(0.0), np.float32(1.0)) * np.float32(n - 1))
                 - np.float32(1.0))
            # NaN is above no threshold (TF: NaN > t is false): slot 0, as a prediction of 0
            b = np.where(np.isnan(yp), -1.0, b).astype(np.int64)
        pos = yt != 0
        wp = np.where(pos, w, 0.0)
        wn = w - wp
        idx = (b + 1).reshape(-1)      # slot 0: positive at no threshold
        cp, cn = _bincount(idx, wp, n + 1), _bincount(idx, wn, n + 1)
        tp = cp.sum() - np.cumsum(cp)[:n]
        fp = cn.sum() - np.cumsum(cn)[:n]
        dt = self._dtype
        _acc(self.true_positives, tp.astype(dt))
        _acc(self.false_positives, fp.astype(dt))
        _acc(self.true_negatives, (cn.sum() - fp).astype(dt))
        _acc(self.false_negatives, (cp.sum() - tp).astype(dt))

    def _rates(self):
        tp = self.true_positives._data.astype(np.float64)
        tn = self.true_negatives._data.astype(np.float64)
        fp = self.false_positives._data.astype(np.float64)
        fn = self.false_negatives._data.astype(np.float64)
        return {"recall": _div(tp, tp + fn), "precision": _div(tp, tp + fp),
                "specificity": _div(tn, tn + fp)}

    def _max_under_constraint(self, constrained, dependent):
        """max(dependent where constrained >= value), 0 when no threshold qualifies."""
        ok = constrained >= self.value
        best = np.where(ok, dependent, -1.0).max()
        return _wrap(_asarray(np.where(best >= 0, best, 0.0), self._dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_id": self.class_id}


class _AtMetric(SensitivitySpecificityBase):
    """Best `_dependent` rate over the thresholds whose `_constrained` rate is >= the value
    (the `_arg` constructor argument); 0 when none is."""
    _arg = _constrained = _dependent = None

    def _init(self, value, num_thresholds, class_id, name, dtype):
        if value < 0 or value > 1:
            raise ValueError(f"[{type(self).__name__}] Argument `{self._arg}` must be in the "
                             f"range [0, 1]. Received: {self._arg}={value}")
        setattr(self, self._arg, value)
        self.num_thresholds = num_thresholds
        super().__init__(value, num_thresholds=num_thresholds, class_id=class_id, name=name,
                         dtype=dtype)

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r[self._constrained], r[self._dependent])

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_thresholds": self.num_thresholds, self._arg: getattr(self, self._arg)})
        return cfg


class SensitivityAtSpecificity(_AtMetric):
    """Best sensitivity (recall) at a threshold whose specificity is >= `specificity`."""
    _arg, _constrained, _dependent = "specificity", "specificity", "recall"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._init(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtMetric):
    """Best specificity at a threshold whose sensitivity (recall) is >= `sensitivity`."""
    _arg, _constrained, _dependent = "sensitivity", "recall", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._init(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtMetric):
    """Best precision at a threshold whose recall is >= `recall`."""
    _arg, _constrained, _dependent = "recall", "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._init(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtMetric):
    """Best recall at a threshold whose precision is >= `precision`."""
    _arg, _constrained, _dependent = "precision", "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._init(precision, num_thresholds, class_id, name, dtype)


class MeanRelativeError(Mean):
    """mean(|y_true - y_pred| / normalizer), 0 where the normalizer is 0 (Keras 2.15)."""

    def __init__(self, normalizer, name=None, dtype=None):
        super().__init__(name=name or "mean_relative_error", dtype=dtype)
        self.normalizer = _asarray(_arr(normalizer) if isinstance(normalizer, Tensor)
                                   else normalizer).astype(self._dtype)
        if type(self.normalizer) is DeviceArray:
            self.normalizer = self.normalizer.get()
        self._norm_dev = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        yt, yp = _pair(y_true, y_pred, self.total._data)
        dt = self._dtype
        yt, yp = yt.astype(dt), yp.astype(dt)
        yp, yt = _losses._same_rank(yp, yt)
        if _shape(yt) != _shape(yp):
            raise ValueError(f"[MeanRelativeError] y_true and y_pred must have the same shape. "
                             f"Received: y_true.shape={_shape(yt)}, y_pred.shape={_shape(yp)}")
        if self._norm_dev is None or type(self._norm_dev) is not type(yp):
            self._norm_dev = _like(self.normalizer, yp, "normalizer")
        nz = self._norm_dev
        if nz.ndim == yp.ndim + 1 and nz.shape[-1] == 1:
            nz = nz.reshape(_shape(nz)[:-1])
        try:
            np.broadcast_shapes(_shape(nz), _shape(yp))
        except ValueError:
            raise ValueError(f"[MeanRelativeError] normalizer of shape {_shape(nz)} cannot be "
                             f"broadcast to y_pred of shape {_shape(yp)}") from None
        rel = _div_no_nan(np.abs(yt - yp), nz).astype(dt)
        self._update(rel, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "normalizer": self.normalizer.tolist()}


class MeanTensor(Metric):
    """The element-wise (weighted) mean of the tensors given to update_state (Keras 2.15)."""

    def __init__(self, name="mean_tensor", dtype=None, shape=None):
        super().__init__(name=name, dtype=dtype)
        self._shape = None
        self._total = self._count = None
        self._built = False
        if shape is not None:
            self._build(tuple(int(s) for s in shape), None)

    def _build(self, shape, like):
        self._shape = tuple(shape)
        self._total = self.add_variable(self._shape, name="total")
        self._count = self.add_variable(self._shape, name="count")
        if like is not None:
            _on_device_like(self._total, like)
            _on_device_like(self._count, like)
        self._built = True

    @property
    def total(self):
        return self._total if self._built else None

    @property
    def count(self):
        return self._count if self._built else None

    def update_state(self, values, sample_weight=None):
        if self._built:
            v = _arr(values) if isinstance(values, Tensor) else _like(values, self._total._data,
                                                                      "values")
        else:
            v = _placed(values)
        v = v.astype(self._dtype)
        if not self._built:
            self._build(_shape(v), v)
        elif _shape(v) != self._shape:
            raise ValueError("[MeanTensor] MeanTensor input values must always have the same "
                             f"shape. Expected shape (set during the first call): {self._shape}. "
                             f"Got: {_shape(v)}.")
        num = np.ones_like(v)
        if sample_weight is not None:
            sw = _like(sample_weight, v, "sample_weight").astype(self._dtype)
            sw, _ = _losses._same_rank(sw, v)
            if sw.ndim == v.ndim - 1:          # Keras squeeze_or_expand_dimensions
                sw = sw.reshape(_shape(sw) + (1,))
            try:
                sw = np.broadcast_to(sw, _shape(v))
            except ValueError:
                raise ValueError(f"[MeanTensor] sample_weight of shape {_shape(sw)} cannot be "
                                 f"broadcast to values of shape {_shape(v)}") from None
            num = num * sw
            v = v * sw
        _acc(self._total, v)
        _acc(self._count, num)

    def result(self):
        if not self._built:
            raise ValueError("[MeanTensor] MeanTensor does not have any value yet. Please call "
                             "the MeanTensor instance or use `.update_state(value)` before "
                             "retrieving the result.")
        return _wrap(_asarray(_div(self._total._data, self._count._data), self._dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype,
                "shape": None if self._shape is None else list(self._shape)}


# The focal cross-entropies are metric functions too where keras.losses has them.
for _fname in ("binary_focal_crossentropy", "categorical_focal_crossentropy"):
    if hasattr(_losses, _fname):
        globals()[_fname] = getattr(_losses, _fname)
        __all__.append(_fname)


# --------------------------------------------------------------------------- lookup

_FUNCS = {"accuracy": accuracy, "acc": accuracy, "binary_accuracy": binary_accuracy,
          "categorical_accuracy": categorical_accuracy,
          "sparse_categorical_accuracy": sparse_categorical_accuracy,
          "top_k_categorical_accuracy": top_k_categorical_accuracy,
          "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
          "cosine_similarity": cosine_similarity}
for _n, _fn in _losses._FUNCS.items():
    if _n not in ("huber", "huber_loss", "cosine_similarity"):
        _FUNCS.setdefault(_n, _fn)
# Keras 2's metric aliases (keras.metrics.bce, ...); Keras 3 knows "bce" too
_FUNCS.update(bce=_losses.binary_crossentropy, BCE=_losses.binary_crossentropy,
              cosine_proximity=cosine_similarity)

_CLASSES = {c.__name__: c for c in (
    Metric, Mean, Sum, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, LogCoshError, CosineSimilarity, Precision, Recall,
    AUC, TruePositives, FalsePositives, TrueNegatives, FalseNegatives, FBetaScore, F1Score,
    IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU, R2Score, SensitivityAtSpecificity,
    SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision, MeanRelativeError,
    MeanTensor)}
for _fname in ("binary_focal_crossentropy", "categorical_focal_crossentropy"):
    if _fname in globals():
        _FUNCS[_fname] = globals()[_fname]


def _snake(name):
    """Keras's to_snake_case: 'AUC' -> 'auc', 'BinaryIoU' -> 'binary_io_u'."""
    import re
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# Keras 3 also knows each metric class by its snake_case name (metrics=["auc", "precision"])
_SNAKE = {_snake(n): c for n, c in _CLASSES.items()
          if c not in (Metric, MeanMetricWrapper) and _snake(n) not in _FUNCS}


def serialize(metric):
    return _losses._serialize(metric, Metric, _FUNCS, "metrics")


def deserialize(config, custom_objects=None):
    return _losses._deserialize(config, custom_objects, _CLASSES, get, deserialize, "metrics",
                                "metric")


def get(identifier):
    """A metric from a function name ('accuracy', 'mse'), a class name ('AUC'), a config dict,
    or a callable. Function names give the function; class names an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        f = _FUNCS.get(identifier)
        if f is not None:
            return f
        cls = _CLASSES.get(identifier) or _SNAKE.get(identifier)
        if cls is not None and cls not in (Metric, Mean, Sum, MeanMetricWrapper) or \
                identifier in ("Mean", "Sum", "mean", "sum"):
            try:
                return cls()
            except TypeError as e:    # MeanIoU, IoU, PrecisionAtRecall...: arguments needed
                raise ValueError(f"[metrics.get] {identifier} cannot be made from its name "
                                 f"alone ({e}); pass an instance, e.g. "
                                 f"keras.metrics.{cls.__name__}(...)") from None
        raise ValueError(f"[metrics.get] unknown metric {identifier!r}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"[metrics.get] could not interpret metric identifier {identifier!r}")
