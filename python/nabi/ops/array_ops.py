"""Creation and shape ops: reshape, transpose, concat, stack, gather, one_hot, pad, slicing..."""
import builtins

import collections as _collections

import numpy as np

from ..framework.device import DeviceArray, add_at, backend, place, to_device, asarray as _asarray
from ..framework.device import in_range, known_range, take as _dev_take

from .. import dtypes as _dt
from ..errors import InvalidArgumentError as _InvalidArgumentError
from ._common import (convert_to_tensor, Tensor, _tapes, _wrap, binary_operands, const_like, contiguous,
                      is_float, norm_axis, record, t_, unbroadcast, unbroadcast_t)

_builtin_range = builtins.range


class _GatherIndexError(_InvalidArgumentError, IndexError):
    """An index out of range: an IndexError, and TF's InvalidArgumentError (what eager TF
    raises, and what the guides catch)."""


# ---------------------------------------------------------------- creation

def static_value(t):
    """A Tensor's value known on the host without reading a device: its _static value (shape,
    size, rank and slices of them), a host tensor's array; None for other device tensors."""
    v = getattr(t, "_static", None)
    if v is not None:
        return v
    return t._data if type(t._data) is np.ndarray else None


def get_static_value(tensor, partial=False):
    """`tf.get_static_value`: the tensor's value as a NumPy array when it is known without
    running (reading) anything -- a host tensor, or a shape/size/rank result and slices of
    it -- else None."""
    if not isinstance(tensor, Tensor):
        return np.asarray(tensor)
    v = static_value(tensor)
    return None if v is None else np.array(v)


def _host_value(t):
    v = static_value(t)
    return t._data if v is None else v  # a device tensor without one is read back


def _shape_arg(shape):
    if isinstance(shape, Tensor):
        shape = _host_value(shape).tolist()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(_host_value(s)) if isinstance(s, Tensor) else int(s) for s in shape)


def _with_static(out, value):
    out._static = value
    return out


def zeros(shape, dtype=_dt.float32, name=None):
    return _wrap(place(np.zeros(_shape_arg(shape), _dt.as_dtype(dtype)._np)))


def ones(shape, dtype=_dt.float32, name=None):
    return _wrap(place(np.ones(_shape_arg(shape), _dt.as_dtype(dtype)._np)))


def zeros_like(input, dtype=None, name=None):  # noqa: A002
    a = t_(input)._data
    return _wrap(np.zeros_like(a, dtype=a.dtype if dtype is None else _dt.as_dtype(dtype)._np))


def ones_like(input, dtype=None, name=None):  # noqa: A002
    a = t_(input)._data
    return _wrap(np.ones_like(a, dtype=a.dtype if dtype is None else _dt.as_dtype(dtype)._np))


def _on_device_of(arr, like):
    """A new host array `arr` moved to the device of the array `like`."""
    return arr if type(like) is np.ndarray else to_device(arr, "cuda")


def fill(dims, value, name=None):
    x = t_(value)
    v = x._data
    if type(v) is DeviceArray:  # a device broadcast: the value is not read back
        out = _wrap(np.broadcast_to(v, tuple(_shape_arg(dims))).copy())
    else:
        out = _wrap(_on_device_of(np.full(_shape_arg(dims), v, dtype=v.dtype), v))
    if _tapes and is_float(v):   # TF: the value's gradient is the sum of the output's
        record((x,), out, lambda g, n: (unbroadcast(g, v.shape),),
               lambda g, n: (unbroadcast_t(g, v.shape),), "fill")
    return out


def range(start, limit=None, delta=1, dtype=None, name=None):  # noqa: A001
    if limit is None:
        start, limit = 0, start
    args = (start, limit, delta)
    vals = [v._data.item() if isinstance(v, Tensor) else v for v in args]
    if dtype is None:  # TF: the widest of the arguments' dtypes in int32 < int64 < f32 < f64
        order = [_dt.int32, _dt.int64, _dt.float32, _dt.float64]

        def arg_dtype(v):
            if isinstance(v, Tensor):
                return v.dtype
            if isinstance(v, (np.ndarray, np.generic)):
                return _dt.as_dtype(v.dtype)
            return _dt.float32 if isinstance(v, float) else _dt.int32
        dtype = max((arg_dtype(v) for v in args),
                    key=lambda d: order.index(d) if d in order else 0)
    return _wrap(place(np.arange(*vals, dtype=_dt.as_dtype(dtype)._np)))


def linspace(start, stop, num, name=None, axis=0):
    """TF's lin_space: float32 for float32 (and Python float) bounds, float64 for float64 or
    integer bounds (TF casts integers to float64); start/stop may be tensors, which broadcast,
    and the new axis goes at `axis`."""
    def arr(v):   # Python floats convert to float32 and Python ints to int32, as TF
        if isinstance(v, Tensor):
            return to_device(v._data, "cpu")
        r = np.asarray(v)
        if isinstance(v, (float, list, tuple)) and r.dtype == np.float64:
            r = r.astype(np.float32)
        return r
    a, b = arr(start), arr(stop)
    dt = np.float64 if any(d == np.float64 or d.kind in "iu" for d in (a.dtype, b.dtype)) \
        else np.float32
    n = int(to_device(t_(num)._data, "cpu")) if isinstance(num, Tensor) else int(num)
    r = np.linspace(a.astype(np.float64), b.astype(np.float64), n, axis=axis).astype(dt)
    out = _wrap(place(r))
    record_linear_ends(out, start, stop, np.arange(n) / builtins.max(n - 1, 1), axis, "linspace")
    return out


def record_linear_ends(out, start, stop, w, axis, op):
    """Records out = start + (stop - start) * w[i] along `axis` (start and stop broadcast,
    w the fractions of the way) for the float Tensors among start and stop: TF's linspace is
    differentiable in both ends (its composite of ops)."""
    ends = [(x, c) for x, c in ((start, 1.0 - w), (stop, w))
            if isinstance(x, Tensor) and is_float(x._data)]
    if not _tapes or not ends or out._data.dtype.kind != "f":
        return
    ax = axis % out._data.ndim
    wshape = [1] * out._data.ndim
    wshape[ax] = len(w)
    coefs = [np.asarray(c, dtype=out._data.dtype).reshape(wshape) for _, c in ends]
    ins = tuple(x for x, _ in ends)

    def backward(g, n):   # (a float32 end of a float64 result: the gradient cast back)
        return tuple(unbroadcast((g * _on_device_of(c, g)).sum(axis=ax), x._data.shape)
                     .astype(x._data.dtype) if need else None for x, c, need in zip(ins, coefs, n))

    def backward_t(g, n):
        from .math_ops import cast, multiply, reduce_sum
        return tuple(cast(unbroadcast_t(reduce_sum(multiply(g, const_like(c, g)), ax),
                                        x._data.shape), x.dtype)
                     if need else None for x, c, need in zip(ins, coefs, n))
    record(ins, out, backward, backward_t, op)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=_dt.float32, name=None):
    e = np.eye(num_rows, num_columns, dtype=_dt.as_dtype(dtype)._np)
    if batch_shape:
        e = np.broadcast_to(e, tuple(batch_shape) + e.shape).copy()
    return _wrap(place(e))


def identity(input, name=None):  # noqa: A002
    x = t_(input)
    out = _wrap(x._data.copy() if x._is_variable else x._data)  # a Variable's: a snapshot, as TF
    if _tapes:
        record((x,), out, lambda g, n: (g,), lambda g, n: (g,), "identity")
    return out


def shape(input, out_type=_dt.int32, name=None):  # noqa: A002
    a = t_(input)._data
    v = np.asarray(a.shape, dtype=_dt.as_dtype(out_type)._np)
    return _with_static(_wrap(_on_device_of(v, a)), v)


def size(input, out_type=_dt.int32, name=None):  # noqa: A002
    a = t_(input)._data
    v = np.asarray(a.size, dtype=_dt.as_dtype(out_type)._np)
    return _with_static(_wrap(_on_device_of(v, a)), v)


def rank(input, name=None):  # noqa: A002
    a = t_(input)._data
    v = np.asarray(a.ndim, dtype=np.int32)
    return _with_static(_wrap(_on_device_of(v, a)), v)


# ---------------------------------------------------------------- reshaping


def reshape(tensor, shape, name=None):
    x = t_(tensor)
    a = x._data
    new = _shape_arg(shape)
    try:
        r = a.reshape(new)
    except ValueError:
        raise ValueError(f"[reshape] cannot reshape a tensor of shape {tuple(a.shape)} "
                         f"({a.size} elements) to {new}") from None
    out = _wrap(r)
    if _tapes:
        old = a.shape
        record((x,), out, lambda g, n: (g.reshape(old),), lambda g, n: (reshape(g, old),),
               "reshape")
    return out


def transpose(a, perm=None, conjugate=False, name=None):
    x = t_(a)
    arr = x._data
    if perm is None:  # (_builtin_range: `range` here is the op, a Tensor on the device)
        perm = tuple(reversed(_builtin_range(arr.ndim)))
    perm = tuple(int(p) for p in (perm._data.tolist() if isinstance(perm, Tensor) else perm))
    if sorted(p % max(arr.ndim, 1) for p in perm) != list(_builtin_range(arr.ndim)):
        raise ValueError(f"[transpose] perm {perm} is not a permutation of the axes of a tensor "
                         f"of shape {tuple(arr.shape)}")
    out = _wrap(np.transpose(arr, perm))
    if _tapes:
        inv = tuple(np.argsort(perm))
        record((x,), out, lambda g, n: (np.transpose(g, inv),),
               lambda g, n: (transpose(g, inv),), "transpose")
    if conjugate and arr.dtype.kind == "c":
        from .complex_ops import conj
        out = conj(out)
    return out


def squeeze(input, axis=None, name=None):  # noqa: A002
    x = t_(input)
    a = x._data
    if axis is not None:
        ax = norm_axis("squeeze", axis, a.ndim)
        for i in ax:
            if a.shape[i] != 1:
                raise ValueError(f"[squeeze] cannot squeeze axis {i} of size {a.shape[i]} "
                                 f"(shape {tuple(a.shape)})")
        r = np.squeeze(a, axis=ax)
    else:
        r = np.squeeze(a)
    out = _wrap(r)
    if _tapes:
        old = a.shape
        record((x,), out, lambda g, n: (g.reshape(old),), lambda g, n: (reshape(g, old),),
               "squeeze")
    return out


def expand_dims(input, axis, name=None):  # noqa: A002
    x = t_(input)
    a = x._data
    axis = int(axis._data) if isinstance(axis, Tensor) else int(axis)
    if not -a.ndim - 1 <= axis <= a.ndim:
        raise ValueError(f"[expand_dims] axis {axis} is out of range for shape {tuple(a.shape)}")
    out = _wrap(np.expand_dims(a, axis))
    if _tapes:
        old = a.shape
        record((x,), out, lambda g, n: (g.reshape(old),), lambda g, n: (reshape(g, old),),
               "expand_dims")
    return out


def broadcast_to(input, shape, name=None):  # noqa: A002
    x = t_(input)
    a = x._data
    shp = _shape_arg(shape)
    try:
        r = np.broadcast_to(a, shp)
    except ValueError:
        raise ValueError(f"[broadcast_to] cannot broadcast shape {tuple(a.shape)} to {shp}") from None
    out = _wrap(r)
    if _tapes:
        old = a.shape
        record((x,), out, lambda g, n: (unbroadcast(g, old),),
               lambda g, n: (unbroadcast_t(g, old),), "broadcast_to")
    return out


def concat(values, axis, name=None):
    if isinstance(values, Tensor):   # TF: a single tensor is a list of one (nabi split it
        values = [values]             # along its first axis and joined the pieces)
    ts = [t_(v) for v in values]
    if not ts:
        raise ValueError("[concat] needs at least one tensor")
    for t in ts[1:]:
        binary_operands("concat", ts[0], t)
    arrs = [t._data for t in ts]
    nd = arrs[0].ndim
    if nd == 0:
        raise ValueError("[concat] cannot concatenate scalars")
    axis = int(_host_value(axis)) if isinstance(axis, Tensor) else int(axis)
    if not -nd <= axis < nd:   # (axis % nd wrapped axis=2 of matrices to 0)
        raise ValueError(f"[concat] axis {axis} is out of range for inputs of rank {nd} "
                         f"(first shape {tuple(arrs[0].shape)})")
    ax = axis % nd
    try:
        r = np.concatenate(arrs, axis=ax)
    except ValueError:
        raise ValueError(f"[concat] shapes {[tuple(a.shape) for a in arrs]} differ outside "
                         f"axis {axis}") from None
    out = _wrap(r)
    if _tapes:
        splits = np.cumsum([a.shape[ax] for a in arrs])[:-1]
        bounds = [0] + [int(v) for v in splits] + [r.shape[ax]]

        def backward_t(g, n):
            pre = (builtins.slice(None),) * ax
            return tuple(getitem(g, pre + (builtins.slice(lo, hi),)) if need else None
                         for lo, hi, need in zip(bounds[:-1], bounds[1:], n))
        record(tuple(ts), out, lambda g, n: tuple(np.split(g, splits, axis=ax)), backward_t,
               "concat")
    return out


def stack(values, axis=0, name=None):
    ts = [t_(v) for v in values]
    if not ts:
        raise ValueError("[stack] needs at least one tensor")
    shapes = {t._data.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"[stack] all shapes must match, got {[tuple(t._data.shape) for t in ts]}")
    for t in ts[1:]:
        binary_operands("stack", ts[0], t)
    from ._common import _axis_in_range
    ax = _axis_in_range("stack", axis, ts[0]._data.ndim + 1, ts[0]._data.shape)
    out = _wrap(np.stack([t._data for t in ts], axis=ax))
    if _tapes:
        pre = (builtins.slice(None),) * ax
        record(tuple(ts), out, lambda g, n: tuple(np.moveaxis(g, ax, 0)),
               lambda g, n: tuple(getitem(g, pre + (i,)) if need else None
                                  for i, need in enumerate(n)), "stack")
    return out


def unstack(value, num=None, axis=0, name=None):
    x = t_(value)
    n = x._data.shape[axis]
    return [gather(x, i, axis=axis) for i in _builtin_range(n)]


def split(value, num_or_size_splits, axis=0, num=None, name=None):
    x = t_(value)
    a = x._data
    from ._common import _axis_in_range
    ax = _axis_in_range("split", axis, a.ndim, a.shape)
    if isinstance(num_or_size_splits, int):
        if a.shape[ax] % num_or_size_splits:
            raise ValueError(f"[split] axis {axis} of size {a.shape[ax]} is not divisible by "
                             f"{num_or_size_splits}")
        sizes = [a.shape[ax] // num_or_size_splits] * num_or_size_splits
    else:
        sizes = [int(s) for s in num_or_size_splits]
        if -1 in sizes:
            sizes[sizes.index(-1)] = a.shape[ax] - (sum(sizes) + 1)
        if sum(sizes) != a.shape[ax]:
            raise ValueError(f"[split] sizes {sizes} do not add up to {a.shape[ax]}")
    outs, start = [], 0
    for s in sizes:
        idx = [builtins.slice(None)] * a.ndim
        idx[ax] = builtins.slice(start, start + s)
        outs.append(getitem(x, tuple(idx)))
        start += s
    return outs


def tile(input, multiples, name=None):  # noqa: A002
    x = t_(input)
    a = x._data
    reps = _shape_arg(multiples)
    if len(reps) != a.ndim:
        raise ValueError(f"[tile] multiples {reps} must have one entry per axis of {tuple(a.shape)}")
    out = _wrap(np.tile(a, reps))
    if _tapes:
        def bwd(g, n):
            shp = []
            for r, s in zip(reps, a.shape):
                shp += [r, s]
            return (g.reshape(shp).sum(axis=tuple(_builtin_range(0, 2 * a.ndim, 2)))
                    if a.ndim else g,)

        def bwd_t(g, n):
            if not a.ndim:
                return (g,)
            from .math_ops import reduce_sum
            shp = []
            for r, s in zip(reps, a.shape):
                shp += [r, s]
            return (reduce_sum(reshape(g, shp), tuple(_builtin_range(0, 2 * a.ndim, 2))),)
        record((x,), out, bwd, bwd_t, "tile")
    return out


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    x = t_(tensor)
    a = x._data
    p = _asarray(paddings._data if isinstance(paddings, Tensor) else paddings, dtype=np.int64)
    if p.shape != (a.ndim, 2) or (p < 0).any():
        raise ValueError(f"[pad] paddings must be a non-negative ({a.ndim}, 2) list, got {p.tolist()}")
    mode = mode.upper()
    if mode == "CONSTANT":
        r = np.pad(a, p, mode="constant", constant_values=constant_values)
        out = _wrap(r)
        if _tapes:
            sl = tuple(builtins.slice(int(lo), int(lo) + s) for (lo, hi), s in zip(p, a.shape))
            record((x,), out, lambda g, n: (g[sl],), lambda g, n: (getitem(g, sl),), "pad")
        return out
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValueError(f"[pad] unknown mode {mode!r} (expected CONSTANT, REFLECT or SYMMETRIC)")
    # TF: each side's padding must be < the dimension for REFLECT, <= it for SYMMETRIC
    # (NumPy would silently reflect again).
    limit = 0 if mode == "REFLECT" else 1
    for i, ((lo, hi), d) in enumerate(zip(p.tolist(), a.shape)):
        if max(lo, hi) > d - 1 + limit:
            raise ValueError(f"[pad] {mode} paddings {[lo, hi]} on axis {i} must be "
                             f"{'<' if limit == 0 else '<='} the dimension {d} "
                             f"(input shape {tuple(a.shape)})")
    # a mirror pad is a gather along each padded axis; its gradient comes from gather's
    out = x
    for i, ((lo, hi), d) in enumerate(zip(p.tolist(), a.shape)):
        if lo == 0 and hi == 0:
            continue
        idx = np.arange(-lo, d + hi)
        if mode == "REFLECT":
            idx = np.abs(idx)
            idx = np.where(idx > d - 1, 2 * (d - 1) - idx, idx)
        else:
            idx = np.where(idx < 0, -idx - 1, idx)
            idx = np.where(idx > d - 1, 2 * d - 1 - idx, idx)
        out = gather(out, _on_device_of(idx, a), axis=i)
    return out if out is not x else identity(x)


def reverse(tensor, axis, name=None):
    x = t_(tensor)
    ax = norm_axis("reverse", axis, x._data.ndim)
    out = _wrap(np.flip(x._data, ax))
    if _tapes:
        record((x,), out, lambda g, n: (np.flip(g, ax),), lambda g, n: (reverse(g, ax),),
               "reverse")
    return out


# ---------------------------------------------------------------- indexing


def _index_arg(idx):
    if isinstance(idx, Tensor):
        return idx._data
    if isinstance(idx, tuple):
        return tuple(_index_arg(i) for i in idx)
    if isinstance(idx, list):
        return _asarray([_index_arg(i) for i in idx])
    return idx


def _is_advanced(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(i, (np.ndarray, list, DeviceArray)) for i in items)


def getitem(tensor, idx):
    x = t_(tensor)
    a = x._data
    idx = _index_arg(idx)
    try:
        r = a[idx]
    except IndexError as e:
        raise IndexError(f"[getitem] {e} (tensor shape {tuple(a.shape)})") from None
    if isinstance(r, (bytes, str)):  # a string element: as an object scalar (an 'S' array
        r = np.array(r, dtype=object)  # would drop its trailing NUL bytes)
    out = _wrap(r if isinstance(r, np.ndarray) else _asarray(r))
    sv = getattr(x, "_static", None)
    if sv is not None:  # tf.shape(x)[0]: its value stays known on the host
        try:
            out._static = np.asarray(sv[idx])
        except (IndexError, TypeError):
            pass
    if _tapes and is_float(a):
        adv = _is_advanced(idx)

        def bwd(g, n):
            z = np.zeros_like(g, shape=a.shape)
            if adv:
                add_at(z, idx, g)
            else:
                z[idx] = g
            return (z,)
        record((x,), out, bwd, lambda g, n: (_scatter_into(g, idx, a.shape, adv),), "getitem")
    return out


def _scatter_into(g, idx, shape, adv):
    """zeros(shape) with g written (added, for advanced indices) at idx: getitem's gradient
    as a recorded op, whose own gradient is getitem again."""
    ga = g._data
    z = np.zeros_like(ga, shape=shape)
    if adv:
        add_at(z, idx, ga)
    else:
        z[idx] = ga
    out = _wrap(z)
    if _tapes:
        record((g,), out, lambda h, n: (h[idx],), lambda h, n: (getitem(h, idx),),
               "getitem_grad")
    return out


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):  # noqa: A002
    """tf.strided_slice: entry i of begin/end/strides is a Python slice b:e:s, with bit i of
    begin_mask / end_mask dropping b / e, of ellipsis_mask making it `...`, of new_axis_mask
    making it a new axis (None) and of shrink_axis_mask making it the single index b."""
    b, e = _shape_arg(begin), _shape_arg(end)
    s = _shape_arg(strides) if strides is not None else (1,) * len(b)
    if not len(b) == len(e) == len(s):
        raise ValueError(f"[strided_slice] begin, end and strides must have the same length, "
                         f"got {len(b)}, {len(e)} and {len(s)}")
    idx = []
    for i, (bi, ei, si) in enumerate(zip(b, e, s)):
        bit = 1 << i
        if ellipsis_mask & bit:
            idx.append(Ellipsis)
        elif new_axis_mask & bit:
            idx.append(None)
        elif shrink_axis_mask & bit:
            idx.append(int(bi))
        else:
            idx.append(builtins.slice(None if begin_mask & bit else int(bi),
                                      None if end_mask & bit else int(ei), int(si)))
    return getitem(input_, tuple(idx))


def slice(input_, begin, size, name=None):  # noqa: A001
    b = _shape_arg(begin)
    s = _shape_arg(size)
    a = t_(input_)._data
    idx = tuple(builtins.slice(bi, (a.shape[i] if si == -1 else bi + si))
                for i, (bi, si) in enumerate(zip(b, s)))
    return getitem(input_, idx)


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    x = t_(params)
    a = x._data
    ind = indices._data if isinstance(indices, Tensor) else _asarray(indices)
    if ind.dtype.kind not in "iu":
        raise TypeError(f"[gather] indices must be integers, got {ind.dtype}")
    if type(ind) is DeviceArray and type(a) is not DeviceArray:
        if a.dtype.kind not in "biuf":   # strings stay on the host (TF: no GPU string gather)
            ind = to_device(ind, "cpu")
        elif not isinstance(params, Tensor):   # host data adapts to the indices' device
            x = _wrap(to_device(a, "cuda"))
            a = x._data
    # TF: axis defaults to batch_dims, the first non-batch dimension
    axis = int(batch_dims) if axis is None else int(axis)
    if not -a.ndim <= axis < max(a.ndim, 1):   # (a % ndim wrapped axis=2 of a matrix to 0)
        raise ValueError(f"[gather] axis {axis} is out of range for params of shape "
                         f"{tuple(a.shape)}")
    ax = axis % max(a.ndim, 1)
    if batch_dims:
        return _gather_batched(x, ind, axis, int(batch_dims))
    check_ids(ind, a.shape[ax], lambda lo, hi: _GatherIndexError(  # TF (CPU): negative is out
        f"[gather] indices must be in [0, {a.shape[ax]}) for params of shape {tuple(a.shape)} "
        f"on axis {ax}, got range [{lo}, {hi}]"))                 # of range too
    return gather_checked(x, ind, ax)


def check_ids(ind, n, error):
    """Raises error(lo, hi) unless every integer id of `ind` is in [0, n). A GPU array reads
    nothing back when its range is known on the host (known_range: the batch ids of a Keras
    step), else one read: its min and max together. (Callers then take gather_checked, whose
    kernels read back no index flag of their own.)"""
    if not ind.size or in_range(ind, n):
        return
    if type(ind) is DeviceArray:
        lo, hi = (int(v) for v in np.stack([ind.min(), ind.max()]).get())
    else:
        lo, hi = int(ind.min()), int(ind.max())
    if lo < 0 or hi >= n:
        raise error(lo, hi)


def gather_checked(x, ind, ax):
    """gather(x, ind, axis=ax) of integer ids already checked to lie in [0, n) (check_ids): on
    the GPU the take kernel and its gradient's scatter_add read no index flag back."""
    a = x._data

    def take(v):   # (also the gradient's gradient: the same checked ids)
        if type(v) is DeviceArray:
            ii = ind if type(ind) is DeviceArray else DeviceArray.from_numpy(np.asarray(ind))
            if ii.dtype != np.int32 and ii.dtype != np.int64:
                ii = ii.astype(np.int64)
            return _dev_take(v, ii, ax, checked=True)
        return np.take(v, ind, axis=ax)
    out = _wrap(take(a))
    if _tapes and is_float(a):
        def bwd(g, n):
            if type(g) is DeviceArray:  # the scatter_add kernel, straight into z's axis ax
                z = np.zeros_like(g, shape=a.shape)
                add_at(z, (builtins.slice(None),) * ax + (ind,), g, checked=True)
                return (z,)
            z = np.zeros(a.shape, g.dtype)
            zm = np.moveaxis(z, ax, 0)
            gm = np.moveaxis(g, tuple(_builtin_range(ax, ax + ind.ndim)),
                             tuple(_builtin_range(ind.ndim)))
            np.add.at(zm, ind, gm)
            return (z,)

        def bwd_t(g, n):
            z = bwd(g._data, n)[0]
            o = _wrap(z)
            if _tapes:  # a scatter-add; its own gradient gathers again
                record((g,), o, lambda h, m: (take(h),),
                       lambda h, m: (gather_checked(h, ind, ax),), "gather_grad")
            return (o,)
        record((x,), out, bwd, bwd_t, "gather")
    return out


def _gather_batched(x, ind, axis, b):
    """gather with batch_dims=b: out[i..., j...] = gather(params[i...], indices[i...]) for the
    b leading batch dimensions. One flat gather: the batch and the gathered axis become one
    row axis, each batch's indices offset by its row block; gradients come from
    reshape/transpose/gather. GPU indices stay on the GPU: checked with one read (their min
    and max together; none for a known range, check_ids), then gather_checked, whose kernels
    and gradients read nothing more."""
    a = x._data
    if type(ind) is DeviceArray and type(a) is not DeviceArray:   # host params: host ids
        ind = _on_host(ind)
    if b < 0:
        b += ind.ndim
    ax = axis if axis >= 0 else axis + a.ndim
    if not 0 <= b <= ind.ndim or b > ax or ax >= a.ndim:
        raise ValueError(f"[gather] need 0 <= batch_dims ({b}) <= axis ({axis}) < rank of params "
                         f"{tuple(a.shape)} and batch_dims <= rank of indices {tuple(ind.shape)}")
    if tuple(a.shape[:b]) != tuple(ind.shape[:b]):
        raise ValueError(f"[gather] the batch dimensions of params {tuple(a.shape)} and indices "
                         f"{tuple(ind.shape)} differ (batch_dims={b})")
    n = a.shape[ax]
    check_ids(ind, n, lambda lo, hi: _GatherIndexError(
        f"[gather] indices must be in [0, {n}) for params of shape {tuple(a.shape)} on axis "
        f"{ax}, got range [{lo}, {hi}]"))
    bshape = tuple(a.shape[:b])
    nb = int(np.prod(bshape, dtype=np.int64))
    mids = tuple(a.shape[b:ax])
    rest = tuple(a.shape[ax + 1:])
    ishape = tuple(ind.shape[b:])
    p = reshape(x, (nb,) + tuple(a.shape[b:]))
    k = len(mids)
    # (nb, mids, n, rest) -> (nb, n, mids, rest) -> (nb * n, mids, rest)
    perm = [0, k + 1] + list(_builtin_range(1, k + 1)) + list(_builtin_range(k + 2, p._data.ndim))
    p = reshape(transpose(p, perm), (nb * n,) + mids + rest)
    offs = (np.arange(nb, dtype=np.int64) * n).reshape((nb,) + (1,) * len(ishape))
    if type(ind) is DeviceArray:         # (checked: every id in [0, n); the offsets go up)
        offs = to_device(offs, "cuda")
    flat = ind.reshape((nb,) + ishape).astype(np.int64) + offs
    g = gather_checked(p, flat, 0)       # (nb, ishape, mids, rest)
    ni = len(ishape)
    perm = [0] + list(_builtin_range(1 + ni, 1 + ni + k)) + list(_builtin_range(1, 1 + ni)) + \
        list(_builtin_range(1 + ni + k, g._data.ndim))
    return reshape(transpose(g, perm), bshape + mids + ishape + rest)


def gather_nd(params, indices, batch_dims=0, name=None):
    """Slices of `params` at the index tuples in the last axis of `indices` (..., K); the
    result has shape indices.shape[:-1] + params.shape[batch_dims + K:]. With batch_dims = b
    the first b axes of params and indices are batch axes indexed together."""
    x = t_(params)
    ind = _asarray(indices._data if isinstance(indices, Tensor) else indices)
    a = x._data
    if ind.ndim < 1 or (ind.dtype.kind not in "iu" and ind.size):
        raise ValueError(f"[gather_nd] indices must be an integer tensor of rank >= 1 (..., K), "
                         f"got shape {tuple(ind.shape)} ({ind.dtype})")
    b = int(batch_dims._data.item() if isinstance(batch_dims, Tensor) else batch_dims)
    # GPU indices whose range the host knows (known_range) to lie inside every indexed axis
    # are not checked again: no read back (the batch coordinates added below are in range)
    dims = tuple(a.shape[b:b + ind.shape[-1]])
    rng = known_range(ind) if len(dims) == ind.shape[-1] else None
    known = rng is not None and rng[0] >= 0 and (not dims or rng[1] < min(dims))
    if b:
        if not 0 < b < ind.ndim or b > a.ndim or tuple(a.shape[:b]) != tuple(ind.shape[:b]):
            raise ValueError(f"[gather_nd] batch_dims={b} needs params {tuple(a.shape)} and "
                             f"indices {tuple(ind.shape)} to share their first {b} dimensions "
                             "(and indices to have more)")
        # prepend each index tuple's batch coordinates, then gather with batch_dims=0
        grid = np.indices(ind.shape[:b], dtype=np.int64)             # (b, *B)
        grid = np.moveaxis(grid, 0, -1).reshape(ind.shape[:b] + (1,) * (ind.ndim - 1 - b) + (b,))
        grid = np.broadcast_to(grid, ind.shape[:-1] + (b,))
        if type(ind) is not np.ndarray:
            grid = to_device(np.ascontiguousarray(grid), "cuda")
        ind = np.concatenate([grid, ind.astype(np.int64)], axis=-1)
    if ind.shape[-1] > a.ndim:
        raise ValueError(f"[gather_nd] indices of shape {tuple(ind.shape)} have "
                         f"{ind.shape[-1]} coordinates but params {tuple(a.shape)} has rank "
                         f"{a.ndim}")
    if ind.size and not known:
        lead = np.asarray(a.shape[:ind.shape[-1]], np.int64)
        dev_ind = type(ind) is not np.ndarray
        # one device-side test for GPU indices (one read: a bool); the details (error path
        # only) on the host
        if not dev_ind or bool(np.any((ind < 0) | (ind >= to_device(lead, "cuda")))):
            h = to_device(ind, "cpu")
            bad = (h < 0) | (h >= lead)
            if bad.any():
                pos = tuple(int(i) for i in np.argwhere(bad.any(axis=-1))[0])
                raise IndexError(f"[gather_nd] an index is out of range: indices{list(pos)} = "
                                 f"{h[pos].tolist()} does not index into params of shape "
                                 f"{list(a.shape)}")
    if type(a) is not np.ndarray:
        return _gather_nd_device(x, ind)
    ind = ind.astype(np.int64)
    idx = tuple(np.moveaxis(ind, -1, 0))
    return getitem(x, idx if ind.ndim > 1 else tuple(int(i) for i in ind))


def _gather_nd_device(x, ind):
    """gather_nd of a GPU tensor: the index tuples become flat row numbers of params viewed as
    (rows, *rest) -- one elementwise pass -- and gather (with its scatter gradient) does the
    rest. The caller (gather_nd) has range-checked every index per axis (a flat check would
    let [0, 7] of a (4, 5) tensor alias row 1), so the flat rows are in range by construction
    and the gather checks nothing (no read back)."""
    a = x._data
    k = ind.shape[-1]
    if ind.dtype.kind not in "iu" or k > a.ndim:
        raise ValueError(f"[gather_nd] indices of shape {tuple(ind.shape)} ({ind.dtype}) do not "
                         f"index params of shape {tuple(a.shape)}")
    ind = to_device(ind, "cuda").astype(np.int64)
    lead = np.asarray(a.shape[:k], np.int64)
    strides = np.cumprod(np.concatenate([lead[1:], [1]])[::-1])[::-1].astype(np.int64)
    flat = np.sum(ind * to_device(strides, "cuda"), axis=-1)
    rows = reshape(x, (int(np.prod(lead, dtype=np.int64)),) + tuple(a.shape[k:]))
    return gather_checked(rows, flat, 0)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    if not isinstance(indices, Tensor):
        indices = convert_to_tensor(indices)
    ind = _asarray(indices._data if isinstance(indices, Tensor) else indices)
    if ind.dtype.kind not in "iu":   # TF: uint8/int8/int32/int64 only (0.5 was truncated)
        raise TypeError(f"[one_hot] indices must be integers, got {ind.dtype.name} of shape "
                        f"{tuple(ind.shape)}")
    ind = ind.astype(np.int64)
    if dtype is not None:
        dt = _dt.as_dtype(dtype)._np
    else:   # TF: the dtype of on_value / off_value when given, else float32
        v = on_value if on_value is not None else off_value
        if v is None or (isinstance(v, float) and not isinstance(v, np.floating)):
            dt = np.float32
        elif isinstance(v, Tensor):
            dt = v.dtype._np
        elif isinstance(v, bool):
            dt = np.bool_
        elif isinstance(v, int) and not isinstance(v, np.integer):
            dt = np.int32
        else:
            dt = np.asarray(v).dtype
    if isinstance(on_value, Tensor):
        on_value = to_device(on_value._data, "cpu").item()
    if isinstance(off_value, Tensor):
        off_value = to_device(off_value._data, "cpu").item()
    on = 1 if on_value is None else on_value
    off = 0 if off_value is None else off_value
    depth = int(depth)
    if type(ind) is DeviceArray:
        r = DeviceArray(backend().one_hot(ind.buf, depth, float(on), float(off), np.dtype(dt).name))
        return _wrap(np.moveaxis(r, -1, axis) if axis is not None and axis != -1 else r)
    r = np.full(ind.shape + (depth,), off, dtype=dt)
    valid = (ind >= 0) & (ind < depth)
    flat = r.reshape(-1, depth)
    fi = ind.reshape(-1)
    rows = np.nonzero(valid.reshape(-1))[0]
    flat[rows, fi[rows]] = on
    if axis is not None and axis != -1:
        r = np.moveaxis(r, -1, axis)
    return _wrap(r)


def where(condition, x=None, y=None, name=None):
    c = t_(condition)._data.astype(bool)
    if x is None and y is None:
        return _wrap(np.argwhere(c).astype(np.int64))
    x, y = binary_operands("where", x, y)
    xa, ya = x._data, y._data
    out = _wrap(np.where(c, xa, ya))
    if _tapes and is_float(xa):
        def bwd(g, n):
            z = np.zeros((), g.dtype)
            return (unbroadcast(np.where(c, g, z), xa.shape) if n[0] else None,
                    unbroadcast(np.where(c, z, g), ya.shape) if n[1] else None)

        def bwd_t(g, n):
            z = const_like(np.zeros_like(g._data), g)
            return (unbroadcast_t(where(_wrap(c), g, z), xa.shape) if n[0] else None,
                    unbroadcast_t(where(_wrap(c), z, g), ya.shape) if n[1] else None)
        record((x, y), out, bwd, bwd_t, "where")
    return out


def boolean_mask(tensor, mask, axis=None, name=None):
    x = t_(tensor)
    m = _asarray(t_(mask)._data, dtype=bool)
    a = x._data
    from ._common import _axis_in_range
    ax = 0 if axis is None else _axis_in_range("boolean_mask", axis, a.ndim, a.shape)
    if m.ndim == 0 or tuple(a.shape[ax:ax + m.ndim]) != tuple(m.shape):
        raise ValueError(f"[boolean_mask] the mask's shape {tuple(m.shape)} must match the "
                         f"tensor's shape {tuple(a.shape)} from axis {ax}")
    # the masked axes merge into one, then a gather of the kept positions (on either device)
    keep = np.nonzero(to_device(m, "cpu").reshape(-1))[0]
    if m.ndim > 1:
        x = reshape(x, tuple(a.shape[:ax]) + (-1,) + tuple(a.shape[ax + m.ndim:]))
    return gather(x, _on_device_of(keep, a), axis=ax)


def _on_host(a):
    """Ops without a GPU kernel (unique, some index arithmetic) copy a GPU array to the host,
    run there, and copy the result back (as TF soft-places an op without a GPU kernel)."""
    return to_device(a, "cpu")


# ---------------------------------------------------------------- sorting

def _sort_direction(op, direction):
    d = str(direction).upper() if isinstance(direction, str) else direction
    if d not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f"[{op}] direction must be 'ASCENDING' or 'DESCENDING', got "
                         f"{direction!r}")
    return d == "DESCENDING"


def _sort_axis(op, axis, a):
    if isinstance(axis, Tensor):
        axis = to_device(_host_value(axis), "cpu")
    if isinstance(axis, np.ndarray) and axis.ndim == 0:
        axis = axis[()]
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"[{op}] axis must be an integer, got {axis!r}")
    axis = int(axis)
    if a.ndim == 0:
        raise ValueError(f"[{op}] values must have rank >= 1, got a scalar")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"[{op}] axis {axis} is out of range for values of shape "
                         f"{tuple(a.shape)}")
    return axis % a.ndim


def _sort_last(a, descending, k=None, index_dtype=np.int64):
    """(values, indices) of the array `a` (host or GPU) sorted along its last axis, the first k
    (None: all) of each row: ties keep ascending index order in both directions (TF's
    descending sort is top_k's order), NaN sorts above every number (last ascending, first
    descending). GPU arrays use the sort kernel (csrc/cuda/sort.cu), host arrays NumPy."""
    n = a.shape[-1]
    k = n if k is None else int(k)
    if type(a) is DeviceArray:
        x = a.astype(np.int32) if a.dtype == np.bool_ else a
        v, i = backend().sort(x.buf, bool(descending), k, np.dtype(index_dtype).name)
        v, i = DeviceArray(v), DeviceArray(i)
        return (v.astype(np.bool_) if a.dtype == np.bool_ else v), i
    if descending:  # a stable ascending sort of the reversed row, reversed back (no negation:
        # -x overflows the lowest integer, and would reverse tied elements)
        order = (n - 1 - np.argsort(a[..., ::-1], axis=-1, kind="stable"))[..., ::-1]
    else:
        order = np.argsort(a, axis=-1, kind="stable")
    order = np.ascontiguousarray(order[..., :k])
    return np.take_along_axis(a, order, axis=-1), order.astype(index_dtype, copy=False)


def _row_offsets(rows, n, like):
    """(rows, 1) int64 offsets r * n on the device of `like`: a row-wise index array plus these
    is a flat index into the (rows, n) array."""
    if type(like) is DeviceArray:
        return DeviceArray(backend().arange(0.0, float(n), rows, "int64")).reshape(rows, 1)
    return (np.arange(rows, dtype=np.int64) * n).reshape(rows, 1)


def _unsort(g, order):
    """The gradient of a last-axis sort: g[..., j] goes back to position order[..., j]."""
    if type(g) is not DeviceArray:
        z = np.zeros(g.shape, g.dtype)
        np.put_along_axis(z, order, g, axis=-1)
        return z
    n = g.shape[-1]
    rows = g.size // n if n else 0
    if rows == 0:
        return DeviceArray.full(g.shape, 0, g.dtype)
    flat = np.add(order.astype(np.int64).reshape(rows, n), _row_offsets(rows, n, g))
    return DeviceArray(backend().scatter_add(g.reshape(-1).buf, flat.reshape(-1).buf, 0,
                                             rows * n)).reshape(g.shape)


def sort(values, axis=-1, direction="ASCENDING", name=None):
    """tf.sort: stable; DESCENDING is top_k's order (ties keep ascending index order); NaN sorts
    above every number. The gradient flows back to each sorted element's place."""
    x = t_(values)
    a = x._data
    desc = _sort_direction("sort", direction)
    ax = _sort_axis("sort", axis, a)
    v, order = _sort_last(np.moveaxis(a, ax, -1), desc)
    out = _wrap(contiguous(np.moveaxis(v, -1, ax)))
    if _tapes and is_float(a):
        where = "cuda" if type(order) is DeviceArray else "cpu"

        def bwd(g, n):  # computed on the forward's device, returned on g's
            z = _unsort(to_device(np.moveaxis(g, ax, -1), where), order)
            z = contiguous(np.moveaxis(z, -1, ax))
            return (to_device(z, "cuda" if type(g) is DeviceArray else "cpu"),)
        record((x,), out, bwd, None, "sort")
    return out


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """tf.argsort (int32): always stable, DESCENDING in top_k's order (ties keep ascending
    index order), NaN above every number."""
    x = t_(values)
    a = x._data
    desc = _sort_direction("argsort", direction)
    ax = _sort_axis("argsort", axis, a)
    _, order = _sort_last(np.moveaxis(a, ax, -1), desc, index_dtype=np.int32)
    return _wrap(contiguous(np.moveaxis(order, -1, ax)))


def _unique_on_gpu(d, out_idx, with_counts):
    """tf.unique on the GPU (csrc/cuda/unique.cu, sort-based; only the number of distinct
    values is read back), or None where the kernel does not apply (then the host runs it)."""
    it = np.dtype(_dt.as_dtype(out_idx)._np)
    if (type(d) is not DeviceArray or d.ndim != 1 or it not in (np.int32, np.int64)
            or d.dtype not in (np.float32, np.float64, np.int32, np.int64)):
        return None
    return tuple(_wrap(DeviceArray(b)) for b in backend().unique(d.buf, it.name, with_counts))


def unique(x, out_idx=_dt.int32, name=None):
    d = t_(x)._data
    on_gpu = _unique_on_gpu(d, out_idx, False)
    if on_gpu is not None:
        return Unique(*on_gpu)
    if type(d) is not np.ndarray:
        v, i = unique(_wrap(_on_host(d)), out_idx)
        return Unique(_wrap(to_device(v._data, "cuda")), _wrap(to_device(i._data, "cuda")))
    a = d
    # equal_nan=False: TF keeps every NaN as its own value (NaN != NaN)
    vals, first, inv = np.unique(a, return_index=True, return_inverse=True,
                                 **({"equal_nan": False} if a.dtype.kind in "fc" else {}))
    order = np.argsort(first)
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return Unique(_wrap(vals[order]), _wrap(remap[inv].astype(_dt.as_dtype(out_idx)._np)))


Unique = _collections.namedtuple("Unique", "y idx")  # tf.unique's result


def contiguous_copy(x):
    return _wrap(contiguous(t_(x)._data))
