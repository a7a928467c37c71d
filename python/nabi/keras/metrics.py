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
import numpy as np

from ..framework.device import DeviceArray, kernels, to_device
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
           "sparse_top_k_categorical_accuracy", "get", "serialize", "deserialize"]


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
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


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
        yt, yp = _pair(y_true, y_pred, self.total._data)
        if self._afn is not None:
            values = self._afn(yt, yp, **self._fn_kwargs)
        else:
            values = _arr(self._fn(_wrap(yt), _wrap(yp), **self._fn_kwargs))
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


def _confusion(thresholds, yt, yp, sw, top_k=None, class_id=None, multi_label=False):
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
    T = len(thresholds)

    def counts(p, po, ww):
        idx = np.searchsorted(thresholds, p, side="left")
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
        tp, fp, tn, fn = _confusion(thr, yt, yp, sample_weight, multi_label=self.multi_label)
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

_CLASSES = {c.__name__: c for c in (
    Metric, Mean, Sum, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, LogCoshError, CosineSimilarity, Precision, Recall,
    AUC, TruePositives, FalsePositives, TrueNegatives, FalseNegatives)}


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
        cls = _CLASSES.get(identifier)
        if cls is not None and cls not in (Metric, Mean, Sum, MeanMetricWrapper) or \
                identifier in ("Mean", "Sum"):
            return cls()
        raise ValueError(f"[metrics.get] unknown metric {identifier!r}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"[metrics.get] could not interpret metric identifier {identifier!r}")
