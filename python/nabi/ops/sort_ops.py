"""top_k and in_top_k (TF's `tf.math.top_k`, `tf.math.in_top_k`, also under `tf.nn`).

top_k orders each row with the sort of tf.sort (array_ops._sort_last: the GPU sort kernel of
csrc/cuda/sort.cu for GPU tensors, NumPy on the host), then takes the values with `gather` on
the input's device, so its gradient (a scatter into the chosen positions) comes from
gather's. in_top_k is elementwise work on either device. Neither reads anything back from the
GPU: the indices they gather at are their own (the sort's, or clipped targets), in range by
construction, so they skip the index checks.
"""
import collections

import numpy as np

from .. import dtypes as _dt
from ..framework.device import DeviceArray, take_along_axis, to_device
from ._common import Tensor, _wrap, t_
from .array_ops import _row_offsets, _sort_last, gather_checked, reshape

TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def _int_arg(op, name, v):
    if isinstance(v, Tensor):
        v = v._data.item() if v._data.size == 1 else v._data
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"[{op}] {name} must be an integer, got {v!r}")
    return int(v)


def _like_device(arr, like):
    return to_device(arr, "cuda" if type(like) is DeviceArray else "cpu")


def top_k(input, k=1, sorted=True, index_type=_dt.int32, name=None):  # noqa: A002
    """The `k` largest entries along the last axis and their indices: (values, indices), each
    of shape input.shape[:-1] + (k,). Equal values keep their order (lower index first);
    `sorted=False` is accepted and returns them sorted too (TF leaves the order unspecified).
    The gradient flows to the input entries that were chosen."""
    x = t_(input)
    a = x._data
    if a.ndim == 0:
        raise ValueError("[top_k] input must have rank >= 1, got a scalar")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"[top_k] input must be numeric, got {a.dtype.name} {tuple(a.shape)}")
    k = _int_arg("top_k", "k", k)
    n = a.shape[-1]
    if not 0 <= k <= n:
        raise ValueError(f"[top_k] k={k} must be in [0, {n}] (the last axis of input shape "
                         f"{tuple(a.shape)})")
    it = np.dtype(_dt.as_dtype(index_type)._np)
    if it.kind not in "iu":
        raise TypeError(f"[top_k] index_type must be an integer type, got {it.name}")
    # descending values, ties in ascending index order, NaN first (on the input's device)
    _, idx = _sort_last(a, True, k, it if it in (np.int32, np.int64) else np.int64)
    lead = tuple(a.shape[:-1])
    rows = int(np.prod(lead, dtype=np.int64))
    flat = np.add(idx.astype(np.int64).reshape(rows, k), _row_offsets(rows, n, a))
    # the sort's own indices: in range by construction, so no check (no read on the GPU)
    values = reshape(gather_checked(reshape(x, (-1,)), flat.reshape(-1), 0), lead + (k,))
    if idx.dtype != it:  # int16 and the like: host-only dtypes, as TF's index_type allows
        idx = _like_device(to_device(idx, "cpu").astype(it), a)
    return TopKV2(values, _wrap(idx))


def in_top_k(targets, predictions, k, name=None):
    """Whether `predictions[i, targets[i]]` is among the `k` largest of row i (TF2 argument
    order; ties at the boundary count as in). Out-of-range targets and non-finite
    predictions give False, as in TensorFlow."""
    p, t = t_(predictions), t_(targets)
    P, T = p._data, t._data
    if P.ndim == 1 and T.ndim == 2:
        raise ValueError(f"[in_top_k] predictions must be (batch, classes) and targets (batch,), "
                         f"got predictions {tuple(P.shape)} and targets {tuple(T.shape)}; the "
                         "TF2 order is in_top_k(targets, predictions, k) (TF1's "
                         "nn.in_top_k took predictions first)")
    if P.ndim != 2:
        raise ValueError(f"[in_top_k] predictions must be 2-D (batch, classes), got shape "
                         f"{tuple(P.shape)}")
    if T.ndim != 1 or T.shape[0] != P.shape[0]:
        raise ValueError(f"[in_top_k] targets must be 1-D with one entry per row of predictions "
                         f"{tuple(P.shape)}, got shape {tuple(T.shape)}")
    if T.dtype.kind not in "iu":
        raise TypeError(f"[in_top_k] targets must be integers, got {T.dtype.name}")
    if P.dtype.kind != "f":
        raise TypeError(f"[in_top_k] predictions must be floating point, got {P.dtype.name}")
    k = _int_arg("in_top_k", "k", k)
    if type(T) is not type(P):
        T = _like_device(T, P)
    n = P.shape[1]
    if P.shape[0] == 0:
        return _wrap(_like_device(np.zeros((0,), bool), P))
    if n == 0:
        return _wrap(_like_device(np.zeros((P.shape[0],), bool), P))
    T = T.astype(np.int64)
    valid = np.logical_and(np.greater_equal(T, 0), np.less(T, n))
    tc = np.clip(T, 0, n - 1)
    tc = tc.reshape(-1, 1)                                           # clipped: in range
    tp = take_along_axis(P, tc, 1, checked=True) if type(P) is DeviceArray else \
        np.take_along_axis(P, tc, axis=1)                            # (batch, 1)
    above = np.sum(np.greater(P, tp), axis=1)                        # strictly larger
    ok = np.logical_and(np.isfinite(tp.reshape(-1)), np.less(above, k))
    return _wrap(np.logical_and(valid, ok))


__all__ = ["TopKV2", "top_k", "in_top_k"]
