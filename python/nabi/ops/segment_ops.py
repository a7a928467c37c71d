"""Segment reductions (TF's `tf.math.segment_sum`, `segment_mean`, `segment_max`,
`unsorted_segment_sum`).

Segment ids are small integer arrays that are checked on the host (sorted, in range), as
TensorFlow's CPU kernels check them; the segment ops of float GPU data keep GPU ids on the GPU
(here segment_sum / segment_mean / segment_max / unsorted_segment_sum, and extra_math_ops'
segment_min / segment_prod / unsorted_segment_max / min / prod / mean / sqrt_n; int32 /
int64 GPU data too for the sums -- the bincount kernel's integer weight sums --, max / min /
prod -- their kernels -- and the sorted mean, while the unsorted integer mean / sqrt_n take
the host path), checked there
with at most one read: none for unsorted ids whose range the host knows (device.known_range),
else their min and max together; sorted ids one read of their first and last id and order
(the output's size is the last id + 1, as in TF). Checked GPU ids carry that range
(value_range) so the gathers and scatters after the check read nothing more. The data stays on its device: sums are one scatter-add
(`add_at`, the scatter_add kernel on the GPU) whose gradient is a gather of the output
gradient; segment_max is NumPy's `maximum.reduceat` on the host and a segmented
Hillis-Steele scan (log2(n) elementwise steps) on the GPU; its gradient is split evenly
between tied maxima, as TF's. Every rule has a Tensor form (second-order gradients): a
gather of the output gradient times constant shares, so a segment_max gradient is linear in
the upstream gradient and piecewise constant in the data.
"""
import numpy as np

from ..framework.device import DeviceArray, add_at, backend, known_range, to_device
from ..framework.device import take as _dev_take
from ._common import Tensor, _tapes, _wrap, is_float, operand_like, record, t_
from .array_ops import reshape
from .math_ops import divide


def _host_ints(op, name, v):
    """An index argument as a host integer array."""
    a = to_device(v._data, "cpu") if isinstance(v, Tensor) else np.asarray(v)
    if a.dtype.kind not in "iu":
        if a.size == 0 and a.dtype.kind == "f":  # [] from a Python list
            return a.astype(np.int64)
        raise TypeError(f"[{op}] {name} must be integers, got {a.dtype.name} {tuple(a.shape)}")
    return a.astype(np.int64)


def _device_ids(op, x, v, ints=False):
    """segment_ids that stay on the GPU (float GPU data -- or, with ints, int32 / int64 GPU
    data, for the ops whose device path takes them -- and integer GPU ids): the int64 ids, or
    None for the host path (which copies the ids back and checks them there)."""
    d = v._data if isinstance(v, Tensor) else None
    a = x._data
    ok = a.dtype.kind == "f" or (ints and a.dtype in (np.int32, np.int64))
    if type(d) is not DeviceArray or type(a) is not DeviceArray or not ok or \
            d.dtype.kind not in "iu":
        return None
    return d if d.dtype == np.int64 else d.astype(np.int64)  # (astype keeps the known range)


def _ranged(ids, lo, hi):
    """A view of the checked GPU ids that carries their range (lo <= every id <= hi): the
    gathers / scatters that follow check them against it and read nothing back."""
    v = ids.view()
    v.value_range = (int(lo), int(hi))
    return v


def check_unsorted_ids(op, ids, num):
    """Raises the op's error unless every id < num (negative ids are dropped). GPU ids: no
    read for a known range, else one (their min and max together); returns the ids, GPU ones
    as a view that carries their range."""
    if not ids.size:
        return ids
    if type(ids) is DeviceArray:
        rng = known_range(ids)
        if rng is None or rng[1] >= num:
            rng = tuple(int(v) for v in np.stack([ids.min(), ids.max()]).get())
        lo, hi = rng
    else:
        hi = int(ids.max())
    if hi >= num:
        raise ValueError(f"[{op}] segment id {hi} is out of range [0, {num}) "
                         f"(num_segments={num}) for segment_ids of shape {tuple(ids.shape)}")
    return _ranged(ids, lo, hi) if type(ids) is DeviceArray else ids


def segment_counts(ids, num, like):
    """The number of rows of each of num segments (ids >= 0 and < num, checked; negative ids
    dropped) in like's float dtype, on the GPU for GPU ids (a scatter-add, no read)."""
    if type(ids) is not DeviceArray:
        flat = ids.reshape(-1)
        return np.bincount(flat[flat >= 0], minlength=num).astype(like.dtype)
    flat = ids.reshape(-1)
    if like.dtype in (np.int32, np.int64):   # integer counts: the bincount kernel (-1 skipped)
        if not flat.size or not num:
            return np.zeros_like(like, shape=(num,))
        return DeviceArray(backend().bincount(flat.buf, num, None, False, False,
                                              like.dtype.name))
    rng = known_range(ids)
    if rng is None or rng[0] < 0:
        flat = np.where(flat < 0, np.asarray(num, np.int64), flat)
    c = np.zeros_like(like, shape=(num + 1,))
    if flat.size:
        add_at(c, (flat,), np.ones_like(like, shape=(flat.size,)), checked=True)
    return c[:num]


def _take0(arr, ids):
    """np.take(arr, ids, axis=0) of checked ids: GPU ids read no index flag back."""
    if type(ids) is DeviceArray:
        return _dev_take(to_device(arr, "cuda"), ids, 0, checked=True)
    return np.take(arr, ids, axis=0)


def _like_device(arr, like):
    return to_device(arr, "cuda" if type(like) is DeviceArray else "cpu")


def _scatter_rows(op, x, rows, num, nonneg=False):
    """out[r] = sum of x[i] over i with rows[i] == r, for out of shape (num,) + x.shape[1:];
    rows (int64, shape (x.shape[0],), on the host or, checked < num, on the GPU; nonneg: none
    is < 0) < 0 are dropped. Gradient: g gathered at rows."""
    a = x._data
    if a.dtype.kind not in "iuf":
        raise TypeError(f"[{op}] data must be a float or integer tensor, got {a.dtype.name}")
    rest = tuple(a.shape[1:])
    if type(rows) is DeviceArray:  # (rows already checked < num: no flag read in the kernels)
        rng = known_range(rows)
        mapped = rows.view() if nonneg or (rng is not None and rng[0] >= 0) else \
            np.where(rows < 0, np.asarray(num, np.int64), rows)
        mapped.value_range = (0, num)   # our own array object: its values are in [0, num]
    else:
        mapped = np.where(rows < 0, num, rows).astype(np.int64)   # dropped rows: a spare row
    dev = type(a) is DeviceArray
    if dev and type(mapped) is DeviceArray and a.dtype in (np.int32, np.int64):
        r = _int_sums_gpu(a, mapped, num)   # GPU ids, int32 / int64 data: the bincount kernel
    elif dev and a.dtype.kind != "f":  # the GPU scatter_add kernel takes floats: integers (no
        h = np.zeros((num + 1,) + rest, a.dtype)  # gradient) are summed on the host
        np.add.at(h, mapped, to_device(a, "cpu"))
        r = to_device(h[:num], "cuda")
    else:
        z = np.zeros_like(a, shape=(num + 1,) + rest)
        if mapped.size:
            add_at(z, (mapped,), a, checked=True)   # mapped is in [0, num]
        r = z[:num]
    out = _wrap(r)
    if _tapes and is_float(a):
        def bwd(g, n):
            gp = np.concatenate([g, np.zeros_like(g, shape=(1,) + rest)], axis=0)
            if type(gp) is DeviceArray:
                return (_dev_take(gp, to_device(mapped, "cuda"), 0, checked=True),)
            return (np.take(gp, mapped, axis=0),)

        def bwd_t(g, n):  # the same gather, recorded (its gradient scatters again)
            from .array_ops import concat, gather
            from ._common import const_like
            gp = concat([g, const_like(np.zeros((1,) + rest), g)], 0)
            return (gather(gp, mapped, axis=0),)
        record((x,), out, bwd, bwd_t, op)
    return out


def _int_sums_gpu(a, rows, num):
    """out[r] = sum of the int32 / int64 GPU rows a[i] with rows[i] == r (rows in [0, num]:
    row num is dropped), wrapping as the dtype does: the bincount kernel's integer weight sums,
    one row of bins per trailing element (rows broadcast to (inner, n), a transposed to it)."""
    n = a.shape[0]
    rest = tuple(a.shape[1:])
    inner = int(np.prod(rest, dtype=np.int64)) if rest else 1
    if n == 0 or inner == 0 or num == 0:
        return np.zeros_like(a, shape=(num,) + rest)
    w = a.reshape(n, inner).T                       # (inner, n) (device arrays: C-contiguous)
    x = np.broadcast_to(rows.reshape(1, n), (inner, n))
    if x.dtype != np.int64:
        x = x.astype(np.int64)
    y = DeviceArray(backend().bincount(x.buf, num, w.buf, True, False, a.dtype.name))
    return y.T.reshape((num,) + rest)                # (inner, num) -> (num,) + rest


def _check_data(op, x, ids):
    a = x._data
    if a.ndim < ids.ndim or tuple(a.shape[:ids.ndim]) != tuple(ids.shape):
        raise ValueError(f"[{op}] segment_ids of shape {tuple(ids.shape)} must be a prefix of "
                         f"the data shape {tuple(a.shape)}")


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """out[s] = sum of data[i] over the i with segment_ids[i] == s; segment_ids has the shape
    of a prefix of data's; negative ids are dropped; out has shape
    (num_segments,) + data.shape[segment_ids.ndim:]."""
    op = "unsorted_segment_sum"
    x = t_(data)
    dids = _device_ids(op, x, segment_ids, ints=True)
    ids = dids if dids is not None else _host_ints(op, "segment_ids", segment_ids)
    if isinstance(num_segments, Tensor):
        num_segments = num_segments._data.item()
    if isinstance(num_segments, (bool, np.bool_)) or \
            not isinstance(num_segments, (int, np.integer)):
        raise TypeError(f"[{op}] num_segments must be an integer, got {num_segments!r}")
    num = int(num_segments)
    if num < 0:
        raise ValueError(f"[{op}] num_segments must be >= 0, got {num}")
    _check_data(op, x, ids)
    ids = check_unsorted_ids(op, ids, num)   # GPU ids of unknown range: one read
    a = x._data
    x2 = reshape(x, (ids.size,) + tuple(a.shape[ids.ndim:]))
    return _scatter_rows(op, x2, ids.reshape(-1), num)


def _sorted_ids(op, x, segment_ids):
    ids = _host_ints(op, "segment_ids", segment_ids)
    a = x._data
    if ids.ndim != 1:
        raise ValueError(f"[{op}] segment_ids must be 1-D, got shape {tuple(ids.shape)}")
    if a.ndim == 0 or a.shape[0] != ids.shape[0]:
        raise ValueError(f"[{op}] segment_ids of shape {tuple(ids.shape)} must have one entry "
                         f"per row of data, shape {tuple(a.shape)}")
    if ids.size and ids[0] < 0:
        raise ValueError(f"[{op}] segment ids must be non-negative, got {int(ids.min())}")
    if ids.size > 1 and np.any(np.diff(ids) < 0):
        i = int(np.argmax(np.diff(ids) < 0))
        raise ValueError(f"[{op}] segment_ids must be sorted ascending: segment_ids[{i + 1}] = "
                         f"{int(ids[i + 1])} follows {int(ids[i])} (use unsorted_segment_sum "
                         "for unsorted ids)")
    num = int(ids[-1]) + 1 if ids.size else 0
    return ids, num


def _sorted_device_ids(op, x, ids):
    """_sorted_ids for GPU ids (int64 DeviceArray): the first id, the last and whether any id
    falls, read back together (one read: the output's size needs the last id anyway)."""
    a = x._data
    if ids.ndim != 1 or a.ndim == 0 or a.shape[0] != ids.shape[0]:
        return _sorted_ids(op, x, _wrap(ids))   # (the host path's shape errors)
    if ids.size == 0:
        return ids, 0
    falls = (ids[1:] < ids[:-1]).any() if ids.size > 1 else np.zeros((), bool)
    first, last, bad = (int(v) for v in np.stack(
        [ids[0], ids[-1], falls.astype(np.int64)]).get())
    if first < 0 or bad:
        return _sorted_ids(op, x, _wrap(ids))   # the host path raises its error
    return _ranged(ids, first, last), last + 1


def sorted_ids(op, x, segment_ids, ints=False):
    """(ids, number of segments) of sorted segment ids, checked: GPU ids of float GPU data
    (with ints, also int32 / int64 data) stay on the GPU (one read, _sorted_device_ids),
    others come to the host."""
    dids = _device_ids(op, x, segment_ids, ints)
    if dids is not None:
        return _sorted_device_ids(op, x, dids)
    return _sorted_ids(op, x, segment_ids)


def segment_sum(data, segment_ids, name=None):
    """Sums of the rows of `data` per segment; `segment_ids` (one per row) sorted ascending.
    The output has ids[-1] + 1 rows; empty segments are 0. GPU ids stay on the GPU (one read:
    the last id, with the order and sign checks)."""
    x = t_(data)
    dids = _device_ids("segment_sum", x, segment_ids, ints=True)
    if dids is not None:
        ids, num = _sorted_device_ids("segment_sum", x, dids)
        return _scatter_rows("segment_sum", x, ids, num, nonneg=True)
    ids, num = _sorted_ids("segment_sum", x, segment_ids)
    return _scatter_rows("segment_sum", x, ids, num)


def segment_mean(data, segment_ids, name=None):
    """Means of the rows of `data` per segment (ids sorted ascending); empty segments are 0.
    Integer data divides rounding toward zero, as TF's integer kernel."""
    x = t_(data)
    ids, num = sorted_ids("segment_mean", x, segment_ids, ints=True)
    s = _scatter_rows("segment_mean", x, ids, num, nonneg=True)
    a = s._data
    if type(ids) is DeviceArray:   # GPU data and ids: the counts on the GPU too
        counts = np.maximum(segment_counts(ids, num, a), np.ones((), a.dtype))
        counts = counts.reshape((num,) + (1,) * (a.ndim - 1))
        if a.dtype.kind in "iu":   # int32 / int64: rounded toward zero, as the host path
            return _wrap(np.multiply(np.sign(a), np.floor_divide(np.abs(a), counts)))
        return divide(s, _wrap(counts))
    counts = np.maximum(np.bincount(ids, minlength=num), 1)
    shp = (num,) + (1,) * (a.ndim - 1)
    if a.dtype.kind in "iu":
        h = to_device(a, "cpu")
        c = counts.reshape(shp)
        q = (np.abs(h) // c) * np.sign(h)
        return _wrap(_like_device(q.astype(a.dtype), a))
    return divide(s, operand_like(counts.reshape(shp).astype(a.dtype), s))


def _segmented_max_scan(a, ids, num):
    """Device-side segment max (ids sorted, non-empty): an inclusive Hillis-Steele max-scan that
    stops at segment starts, then each segment's last row."""
    n = a.shape[0]
    pos = np.arange(n)
    start = np.searchsorted(ids, ids, side="left")          # first row of each row's segment
    bshape = (n,) + (1,) * (a.ndim - 1)
    v = a
    s = 1
    while s < n:
        take = to_device((pos - s >= start).reshape(bshape), "cuda")
        shifted = np.concatenate([v[:s], v[:n - s]], axis=0)  # rows < s are never taken
        v = np.where(take, np.maximum(v, shifted), v)
        s *= 2
    return v


def segment_max(data, segment_ids, name=None):
    """Maxima of the rows of `data` per segment (ids sorted ascending); empty segments are 0
    (TF's segment_max). Ties share the gradient evenly."""
    op = "segment_max"
    x = t_(data)
    ids, num = sorted_ids(op, x, segment_ids, ints=True)
    a = x._data
    if a.dtype.kind not in "iuf":
        raise TypeError(f"[{op}] data must be a float or integer tensor, got {a.dtype.name}")
    rest = tuple(a.shape[1:])
    if type(ids) is DeviceArray:   # GPU ids (float GPU data): the kernel, empty segments -> 0
        r = np.zeros_like(a, shape=(num,) + rest)
        if ids.size:
            r = DeviceArray(backend().segment_minmax(a.buf, ids.buf, num, True))
            empty = np.equal(segment_counts(ids, num, a), np.zeros((), a.dtype))
            r = np.where(empty.reshape((num,) + (1,) * len(rest)), np.zeros((), a.dtype), r)
    elif type(a) is DeviceArray:
        present = np.unique(ids)
        if ids.size and a.dtype in (np.float32, np.float64, np.int32, np.int64):
            # the segment max kernel (csrc/cuda/segment_reduce.cu); empty segments -> 0
            r = DeviceArray(backend().segment_minmax(a.buf, to_device(ids, "cuda").buf, num,
                                                     True))
            if present.size < num:
                empty = ~np.isin(np.arange(num), present)
                r = np.where(to_device(empty.reshape((num,) + (1,) * len(rest)), "cuda"),
                             np.zeros((), a.dtype), r)
        elif ids.size:
            v = _segmented_max_scan(a, ids, num)
            ends = np.searchsorted(ids, np.arange(num), side="right") - 1
            rowmap = np.where(np.isin(np.arange(num), present), ends, ids.size)
            vz = np.concatenate([v, np.zeros_like(v, shape=(1,) + rest)], axis=0)
            r = np.take(vz, rowmap, axis=0)
        else:
            r = np.zeros_like(a, shape=(num,) + rest)
    else:
        present = np.unique(ids)
        r = np.zeros((num,) + rest, a.dtype)
        if ids.size:
            starts = np.searchsorted(ids, present, side="left")
            r[present] = np.maximum.reduceat(a, starts, axis=0)
    out = _wrap(r)
    if _tapes and is_float(a):
        def bwd(g, n):
            if ids.size == 0:
                return (np.zeros_like(a),)
            chosen = _take0(out._data, ids)
            sel = np.equal(a, chosen)
            cnt = np.zeros_like(g)
            add_at(cnt, (ids,), sel.astype(g.dtype), checked=True)
            share = g / np.maximum(cnt, np.ones((), g.dtype))
            return (np.where(sel, _take0(share, ids), np.zeros((), g.dtype)),)

        def bwd_t(g, n):
            # the same rule on Tensors: g gathered at the rows, times the tie shares (a
            # constant connected to x with a zero derivative: the choice of the maxima)
            from .array_ops import gather
            from .math_ops import _zero_grad_step, multiply
            if ids.size == 0:
                return (_zero_grad_step(np.zeros_like(a), g, (x,)),)
            return (multiply(gather(g, ids, axis=0), _zero_grad_step(_tie_shares(), g, (x,))),)

        def _tie_shares():
            chosen = _take0(out._data, ids)
            sel = np.equal(a, chosen).astype(a.dtype)
            cnt = np.zeros_like(out._data)
            add_at(cnt, (ids,), sel, checked=True)
            return sel / np.maximum(_take0(cnt, ids), np.ones((), a.dtype))
        record((x,), out, bwd, bwd_t, op)
    return out


__all__ = ["segment_sum", "segment_mean", "segment_max", "unsorted_segment_sum"]
