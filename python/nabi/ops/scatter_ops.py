"""scatter_nd, tensor_scatter_nd_update/add/sub and sequence_mask.

The index tuples are checked on the host (TF's CPU kernels reject an out-of-range index) and
become flat row numbers of the output viewed as (rows, *slice_shape); the scatter itself is
segment_ops' row scatter-add, whose gradient is a gather, so everything after the index check
runs on the tensors' device.
"""
import numpy as np

from .. import dtypes as _dt
from ..framework.device import DeviceArray, to_device
from ._common import Tensor, _wrap, binary_operands, t_
from .array_ops import _shape_arg, gather, reshape, where
from .math_ops import add, subtract
from .segment_ops import _host_ints, _like_device, _scatter_rows
from . import gpu_index_extra as _gx


def _flat_rows(op, indices, shape):
    """indices (..., K) into `shape` -> (flat row numbers of shape[:K], K), range-checked."""
    ind = _host_ints(op, "indices", indices)
    if ind.ndim < 1:
        raise ValueError(f"[{op}] indices must have rank >= 1 (..., K), got a scalar")
    k = ind.shape[-1]
    if k > len(shape):
        raise ValueError(f"[{op}] indices of shape {tuple(ind.shape)} have K={k} coordinates but "
                         f"the output shape {tuple(shape)} has rank {len(shape)}")
    lead = np.asarray(shape[:k], np.int64)
    bad = (ind < 0) | (ind >= lead)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad.any(axis=-1))[0])
        raise IndexError(f"[{op}] indices{list(pos)} = {ind[pos].tolist()} does not index into "
                         f"shape {list(shape)}")
    strides = np.ones(k, np.int64)
    for i in range(k - 2, -1, -1):
        strides[i] = strides[i + 1] * lead[i + 1]
    flat = (ind * strides).sum(axis=-1) if k else np.zeros(ind.shape[:-1], np.int64)
    return flat.astype(np.int64), k


def _check_updates(op, u, ind_shape, shape, k):
    want = tuple(ind_shape[:-1]) + tuple(shape[k:])
    if tuple(u.shape) != want:
        raise ValueError(f"[{op}] updates must have shape indices.shape[:-1] + shape[K:] = "
                         f"{want}, got {tuple(u.shape)} (indices {tuple(ind_shape)}, shape "
                         f"{tuple(shape)})")


def _scatter(op, indices, updates, shape):
    u = t_(updates)
    shape = tuple(shape)
    ind = _gx.device_indices(indices)
    if ind is not None and type(u._data) is DeviceArray and u._data.dtype.kind == "f":
        fl, k = _gx.flat_rows(op, indices, ind, shape)  # GPU indices are not read back
        _check_updates(op, u._data, tuple(ind.shape), shape, k)
        rows = int(np.prod(shape[:k], dtype=np.int64))
        u2 = reshape(u, (fl.size,) + shape[k:])
        return reshape(_gx.scatter_rows(u2, fl, rows), shape)
    flat, k = _flat_rows(op, indices, shape)
    _check_updates(op, u._data, flat.shape + (k,), shape, k)
    rest = shape[k:]
    rows = int(np.prod(shape[:k], dtype=np.int64))
    u2 = reshape(u, (flat.size,) + rest)
    return reshape(_scatter_rows(op, u2, flat.reshape(-1), rows), shape)


def scatter_nd(indices, updates, shape, name=None):
    """A zero tensor of `shape` with `updates` added at `indices` (..., K): duplicates add up,
    as in TF. The gradient to `updates` is gather_nd of the output gradient."""
    return _scatter("scatter_nd", indices, updates, _shape_arg(shape))


def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """`tensor` with `updates` added at `indices` (duplicates add up)."""
    x, u = binary_operands("tensor_scatter_nd_add", tensor, updates)
    return add(x, _scatter("tensor_scatter_nd_add", indices, u, x._data.shape))


def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    """`tensor` with `updates` subtracted at `indices` (duplicates add up)."""
    x, u = binary_operands("tensor_scatter_nd_sub", tensor, updates)
    return subtract(x, _scatter("tensor_scatter_nd_sub", indices, u, x._data.shape))


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """`tensor` with the slices at `indices` replaced by `updates`. Of duplicate indices the
    last update wins (TF leaves the order unspecified); gradients: `tensor` gets the output
    gradient outside the updated slices, `updates` the gradient at their slices (a duplicate
    that was overwritten gets zero)."""
    op = "tensor_scatter_nd_update"
    x, u = binary_operands(op, tensor, updates)
    shape = tuple(x._data.shape)
    ind = _gx.device_indices(indices)
    if ind is not None and type(x._data) is DeviceArray and _gx.gpu_ok(x._data, u._data):
        return _update_device(op, x, u, indices, ind, shape)
    flat, k = _flat_rows(op, indices, shape)
    _check_updates(op, u._data, flat.shape + (k,), shape, k)
    rest = shape[k:]
    rows = int(np.prod(shape[:k], dtype=np.int64))
    f = flat.reshape(-1)
    # keep the last update of each row: unique of the reversed list gives first occurrences
    _, first_rev = np.unique(f[::-1], return_index=True)
    keep = np.sort(f.size - 1 - first_rev)
    u2 = reshape(u, (f.size,) + rest)
    kept = gather(u2, keep) if keep.size != f.size else u2
    new = reshape(_scatter_rows(op, kept, f[keep], rows), shape)
    mask = np.zeros(rows, bool)
    mask[f] = True
    mask = mask.reshape(shape[:k] + (1,) * len(rest))
    return where(_wrap(_like_device(mask, x._data)), new, x)


def _update_device(op, x, u, indices, ind, shape):
    """tensor_scatter_nd_update with GPU indices, on the GPU: the flat rows are checked there
    (one bool read; none for a known range); each row's last update is the largest position
    that writes it (the segment max kernel over the positions 0..n-1), gathered from the
    updates where a row is written, else the tensor's row. Gradients come from the gather
    (an overwritten duplicate gets zero) and the where."""
    fl, k = _gx.flat_rows(op, indices, ind, shape)
    _check_updates(op, u._data, tuple(ind.shape), shape, k)
    rest = tuple(shape[k:])
    rows = int(np.prod(shape[:k], dtype=np.int64))
    f = fl.reshape(-1)
    n = int(f.size)
    if n == 0 or rows == 0:
        from .array_ops import identity
        return identity(x)
    be = _gx.backend()
    pos = DeviceArray(be.arange(0.0, 1.0, n, "int64"))
    last = DeviceArray(be.segment_minmax(pos.buf, f.buf, rows, True))  # -2**63: not written
    hit = np.greater_equal(last, np.int64(0))
    src = np.maximum(last, np.int64(0))
    src.value_range = (0, n - 1)   # our own array: every value in [0, n)
    from .array_ops import gather_checked
    picked = gather_checked(reshape(u, (n,) + rest), src, 0)
    mask = _wrap(hit.reshape((rows,) + (1,) * len(rest)))
    return reshape(where(mask, picked, reshape(x, (rows,) + rest)), shape)


def sequence_mask(lengths, maxlen=None, dtype=_dt.bool, name=None):
    """mask[..., j] = j < lengths[...], of shape lengths.shape + (maxlen,); maxlen defaults to
    max(lengths) (0 when lengths is empty)."""
    op = "sequence_mask"
    ln = t_(lengths)
    a = ln._data
    if a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] lengths must be integers, got {a.dtype.name} {tuple(a.shape)}")
    if maxlen is None:
        maxlen = int(np.max(a)) if a.size else 0
    else:
        if isinstance(maxlen, Tensor):
            maxlen = maxlen._data.item()
        if isinstance(maxlen, (bool, np.bool_)) or not isinstance(maxlen, (int, np.integer)):
            raise TypeError(f"[{op}] maxlen must be an integer, got {maxlen!r}")
    maxlen = int(maxlen)
    if maxlen < 0:
        raise ValueError(f"[{op}] maxlen must be >= 0, got {maxlen}")
    r = np.arange(maxlen, dtype=a.dtype)
    if type(a) is DeviceArray:
        r = to_device(r, "cuda")
    m = np.less(r, np.expand_dims(a, -1))
    dt = _dt.as_dtype(dtype)._np
    return _wrap(m if m.dtype == dt else m.astype(dt))


__all__ = ["scatter_nd", "tensor_scatter_nd_add", "tensor_scatter_nd_sub",
           "tensor_scatter_nd_update", "sequence_mask"]
