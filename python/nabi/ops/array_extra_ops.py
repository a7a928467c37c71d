"""Index-driven rearrangements of TF: `tf.dynamic_partition`, `tf.dynamic_stitch`,
`tf.space_to_batch_nd` / `tf.space_to_batch`, `tf.batch_to_space` (and the TF1 spellings
with a scalar block_size).

The integer arguments (partitions, indices, block shapes, paddings, crops) are read on the
host and checked there, as TF's CPU kernels check them; the data never leaves its device.
Each op is a composition of reshape, transpose, pad, concat, slicing and a row gather, so
gradients (and the GPU path) come from those ops:

  dynamic_partition  out[i] = gather(rows(data), where(partitions == i))
  dynamic_stitch     out = gather(concat(rows(data_j)) + [zero row], src) with src[r] the
                     last flat position whose index is r (later entries win), or the zero
                     row for an index no entry names; an overwritten entry gets no gradient
                     (TF's registered gradient gathers for every entry)
  space_to_batch_nd  pad -> reshape (B, H'/b0, b0, W'/b1, b1, ...) -> move the block axes in
                     front of the batch -> reshape (b0*b1*B, H'/b0, W'/b1, ...)
  batch_to_space     the inverse: reshape (b0, b1, B', H, W, ...) -> interleave -> reshape
                     (B', H*b0, W*b1, ...) -> crop
"""
import builtins

import numpy as np

from ..errors import InvalidArgumentError
from ..framework.device import DeviceArray
from ._common import Tensor, binary_operands, const_like, t_
from .array_ops import _on_device_of, concat, gather, getitem, pad, reshape, transpose
from . import gpu_index_extra as _gx


def _shape(a):
    return tuple(a.shape)


def _host_ints(op, name, v, allow_empty_float=True):
    """An integer argument (Tensor, array, list) as a host int64 array."""
    if isinstance(v, Tensor):
        from ..framework.device import to_device
        a = np.asarray(to_device(v._data, "cpu"))
    else:
        a = np.asarray(v)
    if a.dtype.kind not in "iu":
        if a.size == 0 and allow_empty_float:   # [] from a Python list
            return a.astype(np.int64)
        raise TypeError(f"[{op}] {name} must be integers, got {a.dtype.name} {_shape(a)}")
    return a.astype(np.int64)


# ---------------------------------------------------------------- dynamic partition / stitch


def dynamic_partition(data, partitions, num_partitions, name=None):
    """Splits `data` into num_partitions tensors: out[i] holds, in order, the slices
    data[j...] with partitions[j...] == i; partitions' shape is a prefix of data's, and
    out[i] has shape (count_i,) + data.shape[partitions.ndim:]."""
    op = "dynamic_partition"
    x = t_(data)
    a = x._data
    if isinstance(num_partitions, Tensor):
        num_partitions = num_partitions._data.item()
    if isinstance(num_partitions, (bool, np.bool_)) or \
            not isinstance(num_partitions, (int, np.integer)) or num_partitions < 1:
        raise ValueError(f"[{op}] num_partitions must be an integer >= 1, got "
                         f"{num_partitions!r}")
    n = int(num_partitions)
    pd = _gx.device_indices(partitions)
    if pd is not None and type(a) is DeviceArray and a.dtype.kind in "biuf" and \
            (pd.ndim <= a.ndim and _shape(a)[:pd.ndim] == _shape(pd)):
        parts = _gx.dynamic_partition(x, pd, n)  # reads back only the part sizes
        if parts is not None:
            return parts
    p = _host_ints(op, "partitions", partitions)
    if p.ndim > a.ndim or _shape(a)[:p.ndim] != _shape(p):
        raise ValueError(f"[{op}] the partitions shape {_shape(p)} must be a prefix of the data "
                         f"shape {_shape(a)}")
    flat = p.reshape(-1)
    bad = (flat < 0) | (flat >= n)
    if bad.any():
        at = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), p.shape))
        raise InvalidArgumentError(f"[{op}] partitions{list(at)} = {int(p[at])} is not in "
                                   f"[0, {n}) (partitions shape {_shape(p)}, data shape "
                                   f"{_shape(a)})")
    rows = reshape(x, (flat.size,) + _shape(a)[p.ndim:])
    return [gather(rows, _on_device_of(np.nonzero(flat == i)[0].astype(np.int64), a), axis=0)
            for i in builtins.range(n)]


def dynamic_stitch(indices, data, name=None):
    """Interleaves the values of several tensors into one: merged[indices[m][j...]] =
    data[m][j...], where data[m].shape = indices[m].shape + a common rest shape. The result
    has max(indices) + 1 rows; an index named twice takes the later value (m, then j in
    order); a row no index names is zero."""
    op = "dynamic_stitch"
    if isinstance(indices, Tensor) or isinstance(data, Tensor):
        raise TypeError(f"[{op}] indices and data must be lists of tensors")
    indices, data = list(indices), list(data)
    if not indices or len(indices) != len(data):
        raise ValueError(f"[{op}] indices and data must be non-empty lists of the same length, "
                         f"got {len(indices)} and {len(data)}")
    # host values join the dtype of the first Tensor (else of the first float value)
    conv = [d if isinstance(d, Tensor) else t_(d) for d in data]
    ref = next((d for d in data if isinstance(d, Tensor)), None)
    if ref is None:
        ref = next((c for c in conv if c._data.dtype.kind == "f"), conv[0])
    xs = [binary_operands(op, ref, d)[1] for d in data]
    dids = [_gx.device_indices(v) for v in indices]
    if all(d is not None for d in dids) and all(type(x._data) is DeviceArray for x in xs):
        r = _gx.dynamic_stitch(dids, xs)   # reads back only the indices' (min, max)
        if r is not None:
            return r
    ids = [_host_ints(op, f"indices[{m}]", v) for m, v in enumerate(indices)]
    rest = None
    for m, (ind, x) in enumerate(zip(ids, xs)):
        s = _shape(x._data)
        if s[:ind.ndim] != _shape(ind):
            raise ValueError(f"[{op}] data[{m}] of shape {s} must start with the shape "
                             f"{_shape(ind)} of indices[{m}]")
        if rest is None:
            rest = s[ind.ndim:]
        elif s[ind.ndim:] != rest:
            raise ValueError(f"[{op}] data[{m}] of shape {s} does not match the other data: "
                             f"after the shape {_shape(ind)} of indices[{m}] it must have "
                             f"shape {rest}")
        if ind.size and ind.min() < 0:
            raise InvalidArgumentError(f"[{op}] indices[{m}] holds {int(ind.min())}; indices "
                                       f"must be >= 0 (indices[{m}] shape {_shape(ind)})")
    flat = np.concatenate([ind.reshape(-1) for ind in ids])
    total = flat.size
    num = int(flat.max()) + 1 if total else 0
    src = np.full(num, -1, np.int64)
    np.maximum.at(src, flat, np.arange(total, dtype=np.int64))    # the later position wins
    like = xs[0]
    rows = [reshape(x, (ind.size,) + rest) for ind, x in zip(ids, xs)]
    if (src < 0).any():
        rows.append(const_like(np.zeros((1,) + rest, like._data.dtype), like))
        src = np.where(src < 0, total, src)
    merged = rows[0] if len(rows) == 1 else concat(rows, 0)
    return gather(merged, _on_device_of(src, like._data), axis=0)


# ---------------------------------------------------------------- space <-> batch


def _block_args(op, x, block_shape, pairs, pairs_name):
    """(block shape list, (M, 2) pairs) from the arguments, checked against the input."""
    a = x._data
    b = _host_ints(op, "block_shape", block_shape, allow_empty_float=False)
    if b.ndim != 1 or b.size < 1:
        raise ValueError(f"[{op}] block_shape must be a 1-D list of M >= 1 integers, got "
                         f"shape {_shape(b)}")
    m = b.size
    if (b < 1).any():
        raise ValueError(f"[{op}] block_shape must be >= 1, got {b.tolist()}")
    if a.ndim < 1 + m:
        raise ValueError(f"[{op}] input of shape {_shape(a)} must have rank >= 1 + "
                         f"{m} (a batch axis and the {m} spatial axes of block_shape "
                         f"{b.tolist()})")
    p = _host_ints(op, pairs_name, pairs)
    if p.shape != (m, 2):
        raise ValueError(f"[{op}] {pairs_name} must have shape ({m}, 2) for block_shape "
                         f"{b.tolist()}, got shape {_shape(p)}")
    if (p < 0).any():
        raise ValueError(f"[{op}] {pairs_name} must be >= 0, got {p.tolist()}")
    return [int(v) for v in b], p


def space_to_batch_nd(input, block_shape, paddings, name=None):  # noqa: A002
    """Zero-pads the M spatial axes (1..M) of input (B, S1..SM, rest...) by paddings (M, 2),
    splits each padded axis into (S'/b, b) blocks and moves the block offsets into the batch:
    the result has shape (B * prod(block_shape), S'1/b1, ..., S'M/bM, rest...), the batch
    index being (offset in block..., original batch)."""
    op = "space_to_batch_nd"
    x = t_(input)
    bs, p = _block_args(op, x, block_shape, paddings, "paddings")
    a = x._data
    m = len(bs)
    shp = _shape(a)
    padded = [shp[1 + i] + int(p[i].sum()) for i in builtins.range(m)]
    for i in builtins.range(m):
        if padded[i] % bs[i]:
            raise ValueError(f"[{op}] padded spatial axis {1 + i} of size {padded[i]} (input "
                             f"shape {shp}, paddings {p.tolist()}) is not divisible by "
                             f"block_shape[{i}] = {bs[i]}")
    rest = shp[1 + m:]
    if p.any():
        full = np.zeros((a.ndim, 2), np.int64)
        full[1:1 + m] = p
        x = pad(x, full)
    inner = []
    for i in builtins.range(m):
        inner += [padded[i] // bs[i], bs[i]]
    y = reshape(x, (shp[0],) + tuple(inner) + rest)
    k = len(rest)
    perm = [2 + 2 * i for i in builtins.range(m)] + [0] + \
        [1 + 2 * i for i in builtins.range(m)] + [1 + 2 * m + j for j in builtins.range(k)]
    y = transpose(y, perm)
    return reshape(y, (shp[0] * int(np.prod(bs)),) +
                   tuple(padded[i] // bs[i] for i in builtins.range(m)) + rest)


def space_to_batch(input, block_shape, paddings, name=None):  # noqa: A002
    """TF2's `tf.space_to_batch` (and `tf.nn.space_to_batch`): `space_to_batch_nd`."""
    return space_to_batch_nd(input, block_shape, paddings)


def batch_to_space(input, block_shape, crops, name=None):  # noqa: A002
    """The inverse of space_to_batch_nd: input (B, S1..SM, rest...) with B divisible by
    prod(block_shape) becomes (B / prod(block_shape), S1*b1, ..., SM*bM, rest...), then each
    spatial axis is cropped by crops (M, 2) (start, end)."""
    op = "batch_to_space"
    x = t_(input)
    bs, c = _block_args(op, x, block_shape, crops, "crops")
    a = x._data
    m = len(bs)
    shp = _shape(a)
    nb = int(np.prod(bs))
    if shp[0] % nb:
        raise ValueError(f"[{op}] the batch size {shp[0]} of input shape {shp} is not "
                         f"divisible by the product {nb} of block_shape {bs}")
    full = [shp[1 + i] * bs[i] for i in builtins.range(m)]
    for i in builtins.range(m):
        if c[i].sum() > full[i]:
            raise ValueError(f"[{op}] crops {c[i].tolist()} of spatial axis {1 + i} exceed its "
                             f"size {full[i]} (= {shp[1 + i]} * block {bs[i]}; input shape "
                             f"{shp})")
    rest = shp[1 + m:]
    k = len(rest)
    y = reshape(x, tuple(bs) + (shp[0] // nb,) + shp[1:])
    perm = [m]
    for i in builtins.range(m):
        perm += [m + 1 + i, i]
    perm += [2 * m + 1 + j for j in builtins.range(k)]
    y = reshape(transpose(y, perm), (shp[0] // nb,) + tuple(full) + rest)
    if not c.any():
        return y
    sl = (builtins.slice(None),) + tuple(builtins.slice(int(c[i, 0]), full[i] - int(c[i, 1]))
                                         for i in builtins.range(m))
    return getitem(y, sl)


def batch_to_space_nd(input, block_shape, crops, name=None):  # noqa: A002
    """TF1's `tf.compat.v1.batch_to_space_nd`: `batch_to_space`."""
    return batch_to_space(input, block_shape, crops)


def _block_size(op, block_size, block_shape):
    if block_size is None:
        block_size = block_shape
    if isinstance(block_size, Tensor):
        block_size = block_size._data.item()
    if isinstance(block_size, (bool, np.bool_)) or \
            not isinstance(block_size, (int, np.integer)) or block_size < 2:
        raise ValueError(f"[{op}] block_size must be an integer >= 2, got {block_size!r}")
    return [int(block_size)] * 2


def _check_4d(op, input):  # noqa: A002
    x = t_(input)
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] input must be 4-D (batch, height, width, depth), got shape "
                         f"{_shape(x._data)}")
    return x


def space_to_batch_v1(input, paddings, block_size=None, name=None,  # noqa: A002
                      block_shape=None):
    """TF1's `tf.compat.v1.space_to_batch`: a 4-D input and a scalar block_size for both
    spatial axes."""
    x = _check_4d("space_to_batch", input)
    return space_to_batch_nd(x, _block_size("space_to_batch", block_size, block_shape),
                             paddings)


def batch_to_space_v1(input, crops, block_size, name=None, block_shape=None):  # noqa: A002
    """TF1's `tf.compat.v1.batch_to_space`: a 4-D input and a scalar block_size for both
    spatial axes."""
    x = _check_4d("batch_to_space", input)
    return batch_to_space(x, _block_size("batch_to_space", block_size, block_shape), crops)


__all__ = ["dynamic_partition", "dynamic_stitch", "space_to_batch_nd", "space_to_batch",
           "batch_to_space", "batch_to_space_nd"]
