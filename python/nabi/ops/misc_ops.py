"""Small TF ops that notebooks reach for, composed of other ops: `tf.meshgrid`,
`tf.nn.embedding_lookup`, `tf.math.confusion_matrix`."""
import numpy as np

from .. import dtypes as _dt
from ..framework.device import place
from ._common import Tensor, _wrap, t_
from .array_ops import broadcast_to, gather, reshape


def meshgrid(*args, **kwargs):
    """N-d coordinate grids from N 1-D tensors (NumPy's and TF's `meshgrid`). With
    indexing='xy' (the default) the first two output axes are swapped, as for plotting.
    Differentiable: each output is a reshape and a broadcast of its input."""
    indexing = kwargs.pop("indexing", "xy")
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"[meshgrid] unexpected keyword arguments {sorted(kwargs)}")
    if indexing not in ("xy", "ij"):
        raise ValueError(f"[meshgrid] indexing must be 'xy' or 'ij', got {indexing!r}")
    ts = [t_(a) for a in args]
    for i, t in enumerate(ts):
        if t._data.ndim != 1:
            raise ValueError(f"[meshgrid] every input must be 1-D, got shape "
                             f"{tuple(t._data.shape)} for input {i}")
    n = len(ts)
    sizes = [int(t._data.shape[0]) for t in ts]
    if indexing == "xy" and n >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    outs = []
    for i, t in enumerate(ts):
        ax = i
        if indexing == "xy" and n >= 2 and i < 2:
            ax = 1 - i
        shape = [1] * n
        shape[ax] = sizes[ax]
        outs.append(broadcast_to(reshape(t, shape), sizes))
    return outs


def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at `ids` (`tf.nn.embedding_lookup`): gather on axis 0, so the
    gradient flows to the rows looked up."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError(f"[embedding_lookup] partitioned params (a list of "
                                      f"{len(params)} tensors) are not supported")
        params = params[0]
    if max_norm is not None:
        raise NotImplementedError("[embedding_lookup] max_norm is not supported")
    return gather(params, ids, axis=0)


def _host_ints(name, v):
    a = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and a.size and
                                         np.all(a == np.round(a))) and a.size:
        raise TypeError(f"[confusion_matrix] {name} must hold integer class ids, got dtype "
                        f"{a.dtype}")
    return a.astype(np.int64).reshape(-1) if a.ndim <= 1 else a


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype=_dt.int32,
                     name=None):
    """The (num_classes, num_classes) matrix whose [i, j] counts (or sums the weights of) the
    samples with label i predicted as j (`tf.math.confusion_matrix`). Counting happens on
    the host (labels and predictions are small integer vectors); the result is placed on the
    current device."""
    y = _host_ints("labels", labels)
    p = _host_ints("predictions", predictions)
    if y.ndim != 1 or p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"[confusion_matrix] labels and predictions must be 1-D of the same "
                         f"length, got shapes {tuple(np.shape(y))} and {tuple(np.shape(p))}")
    if y.size and (y.min() < 0 or p.min() < 0):
        raise ValueError("[confusion_matrix] labels and predictions must be non-negative, got "
                         f"minimums {y.min()} and {p.min()}")
    if num_classes is None:
        num_classes = int(max(y.max(initial=-1), p.max(initial=-1))) + 1
    num_classes = int(num_classes)
    if y.size and (y.max() >= num_classes or p.max() >= num_classes):
        raise ValueError(f"[confusion_matrix] labels and predictions must be < num_classes="
                         f"{num_classes}, got maximums {y.max()} and {p.max()}")
    dt = _dt.as_dtype(dtype)._np
    w = None
    if weights is not None:
        w = weights.numpy() if isinstance(weights, Tensor) else np.asarray(weights)
        w = np.broadcast_to(w, y.shape) if w.ndim == 0 else w.reshape(-1)
        if w.shape != y.shape:
            raise ValueError(f"[confusion_matrix] weights must have the labels' shape "
                             f"{tuple(y.shape)}, got {tuple(np.shape(weights))}")
    m = np.zeros((num_classes, num_classes), dtype=np.float64 if w is not None else np.int64)
    np.add.at(m, (y, p), 1 if w is None else w)
    return _wrap(place(m.astype(dt)))
