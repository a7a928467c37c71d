"""`tf.sets`: set operations along the last axis. Each row of the last axis is a set (its
distinct values; with a dense input every value counts, zeros included, as in TF; with a
SparseTensor only the present values). Results are SparseTensors whose rows hold the sorted
values, of dense_shape batch_shape + [largest row]; `size` is a dense int32 count.

    a = tf.constant([[1, 5, 9], [10, 0, 0]])
    tf.sparse.to_dense(tf.sets.union(a, tf.constant([[5, 6, 9, 11], [13, 0, 0, 0]])))
    # [[1, 5, 6, 9, 11], [0, 10, 13, 0, 0]]
"""
import numpy as np

from .framework.device import DeviceArray
from .framework.tensor import Tensor, convert_to_tensor

__all__ = ["union", "intersection", "difference", "size", "set_union", "set_intersection",
           "set_difference", "set_size"]


def _rows(x, op, what):
    """(batch_shape, list of Python sets in row-major order, NumPy dtype)."""
    from .sparse import SparseTensor
    if isinstance(x, SparseTensor):
        shape = tuple(int(d) for d in x._shape)
        if len(shape) < 2:
            raise ValueError(f"[sets.{op}] {what} must have rank >= 2, got dense_shape "
                             f"{list(shape)}")
        vals = x.values._data
        vals = vals.get() if type(vals) is DeviceArray else np.asarray(vals)
        batch = shape[:-1]
        n = int(np.prod(batch, dtype=np.int64))
        rows = [set() for _ in range(n)]
        flat = np.ravel_multi_index(x._indices[:, :-1].T, batch) if len(x._indices) else []
        for r, v in zip(np.asarray(flat).tolist(), vals.tolist()):
            rows[r].add(v)
        return batch, rows, vals.dtype
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    a = t._data
    a = a.get() if type(a) is DeviceArray else np.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"[sets.{op}] {what} must have rank >= 2 (sets along the last axis), "
                         f"got shape {a.shape}")
    if a.dtype.kind == "f" or a.dtype.kind == "c" or a.dtype.kind == "b":
        raise TypeError(f"[sets.{op}] {what} must hold integers or strings, got "
                        f"{a.dtype.name} {a.shape}")
    flat = a.reshape(-1, a.shape[-1])
    return a.shape[:-1], [set(r) for r in flat.tolist()], a.dtype


def _result(batch, rows, dtype):
    from .sparse import SparseTensor
    rows = [sorted(r) for r in rows]
    width = max((len(r) for r in rows), default=0)
    idx, vals = [], []
    for i, r in enumerate(rows):
        prefix = list(np.unravel_index(i, batch)) if batch else []
        for j, v in enumerate(r):
            idx.append([int(p) for p in prefix] + [j])
            vals.append(v)
    rank = len(batch) + 1
    ind = np.array(idx, np.int64).reshape(-1, rank)
    values = np.array(vals, dtype=dtype) if dtype.kind != "O" and dtype.kind not in "SU" \
        else np.array(vals, dtype=object)
    return SparseTensor(ind, convert_to_tensor(values), list(batch) + [width])


def _binary(a, b, op, fn):
    ba, ra, da = _rows(a, op, "a")
    bb, rb, _ = _rows(b, op, "b")
    if tuple(ba) != tuple(bb):
        raise ValueError(f"[sets.{op}] a and b must have the same batch shape (all but the last "
                         f"axis), got {list(ba)} and {list(bb)}")
    return _result(tuple(ba), [fn(x, y) for x, y in zip(ra, rb)], da)


def union(a, b, validate_indices=True):
    return _binary(a, b, "union", lambda x, y: x | y)


def intersection(a, b, validate_indices=True):
    return _binary(a, b, "intersection", lambda x, y: x & y)


def difference(a, b, aminusb=True, validate_indices=True):
    """a - b per row (b - a with aminusb=False)."""
    return _binary(a, b, "difference", (lambda x, y: x - y) if aminusb else
                   (lambda x, y: y - x))


def size(a, validate_indices=True):
    """The number of distinct values in each row: int32 of the batch shape."""
    batch, rows, _ = _rows(a, "size", "a")
    return convert_to_tensor(np.array([len(r) for r in rows], np.int32).reshape(batch))


set_union, set_intersection, set_difference, set_size = union, intersection, difference, size
