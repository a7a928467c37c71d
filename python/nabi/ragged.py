"""`nabi.ragged`: `tf.ragged` and nabi's `RaggedTensor`.

    rt = tf.ragged.constant([[3, 1, 4], [1, 5], [9], [2, 6]])
    rt.row_lengths()               # [3, 2, 1, 2]
    tf.reduce_sum(rt, axis=1)      # [8, 6, 9, 8]
    tf.concat([rt, rt], axis=1)    # row-wise concatenation
    rt.to_tensor()                 # zero-padded (4, 3)

nabi's RaggedTensor has dense outer dimensions `outer_shape` (one, for the usual 2-D ragged
tensor) and one ragged dimension after them; each row is a host NumPy array whose first axis
is the ragged one (any further axes are uniform, TF's "inner dense dimensions"). A tensor
with several ragged dimensions (ragged_rank >= 2, e.g. shape [2, None, None]) has one dense
outer dimension and rows that are RaggedTensors themselves. It is a host container:
`flat_values` is an ordinary Tensor, but ops on a RaggedTensor (map_flat_values, the
reductions, arithmetic) do not record gradients.

The public ops of `nabi` / `nabi.math` / `nabi.nn` (tf.add, tf.concat, tf.reduce_mean,
tf.shape, ...) send RaggedTensor arguments here through `dispatch` (wired in
framework/symbolic.py); ops without a ragged rule see the RaggedTensor as before.
"""
import builtins as _builtins
import operator as _operator

import numpy as np

from . import dtypes as _dt
from .framework.device import DeviceArray
from .framework.tensor import Tensor, TensorShape, _utf8_storage, _wrap, convert_to_tensor

_brange = _builtins.range   # tf.ragged.range below shadows the builtin in this module

__all__ = ["RaggedTensor", "RaggedTensorSpec", "DynamicRaggedShape", "constant",
           "stack_dynamic_partitions",
           "map_flat_values", "stack", "boolean_mask", "range", "row_splits_to_segment_ids",
           "segment_ids_to_row_splits"]


def _host(v, op, what="values"):
    if isinstance(v, RaggedTensor):
        raise TypeError(f"[{op}] {what} is a RaggedTensor where a dense value is expected "
                        f"(shape {v.shape})")
    if isinstance(v, Tensor):
        a = v._data
        return a.get() if type(a) is DeviceArray else a
    if isinstance(v, (list, tuple, int, float, bool)):
        # TF's conversion of Python values: ints int32 (int64 past its range), floats float32
        from .framework.tensor import _host_tensor
        return _host_tensor(v)._data
    a = np.asarray(v)
    if a.dtype.kind in "US":
        a = _utf8_storage(a)
    elif a.dtype.kind == "O" and a.size and isinstance(a.reshape(-1)[0], str):
        a = _utf8_storage(a)
    return a


def _host_ints(v, op, what):
    a = _host(v, op, what)
    if a.size == 0:
        return a.astype(np.int64).reshape(-1)
    if a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] {what} must be integers, got dtype {a.dtype} ({a.tolist()!r})")
    if a.ndim != 1:
        raise ValueError(f"[{op}] {what} must be 1-D, got shape {a.shape}")
    return a.astype(np.int64)


def _out(a):
    """A Tensor for a host result: strings stay host object arrays, numbers go to the device."""
    a = np.asarray(a)
    return _wrap(a) if a.dtype.kind == "O" else convert_to_tensor(a)


class RaggedTensor:
    """Rows of varying length: `RaggedTensor(rows, outer_shape, dtype)` with `rows` the 1-D
    (or N-D, ragged first axis) NumPy arrays in C order over `outer_shape`. A tensor with
    several ragged dimensions (TF's ragged_rank >= 2) has a 1-D `outer_shape` and rows that
    are themselves RaggedTensors. Build one with `tf.ragged.constant` or the `from_row_splits
    / from_row_lengths / from_value_rowids / from_row_starts / from_tensor /
    from_nested_row_splits / from_nested_row_lengths / from_sparse` class methods."""

    _is_ragged_tensor = True   # how framework/symbolic.py's op wrappers spot one, import-free

    def __init__(self, rows, outer_shape, dtype=None, inner_ragged_rank=0):
        self._rows = list(rows)
        self._outer_shape = tuple(int(d) for d in outer_shape)
        if len(self._rows) != int(np.prod(self._outer_shape, dtype=np.int64)):
            raise ValueError(f"[RaggedTensor] {len(self._rows)} rows do not fill the outer "
                             f"shape {self._outer_shape}")
        first = self._rows[0] if self._rows else None
        # _sub: the ragged rank of each row (0 when the rows are NumPy arrays)
        self._sub = first.ragged_rank if isinstance(first, RaggedTensor) else \
            (int(inner_ragged_rank) if first is None else 0)
        if self._sub:
            if len(self._outer_shape) != 1:
                raise ValueError(f"[RaggedTensor] a tensor with several ragged dimensions has "
                                 f"one dense outer dimension, got outer shape "
                                 f"{self._outer_shape}")
            for r in self._rows:
                if not isinstance(r, RaggedTensor) or r.ragged_rank != self._sub or \
                        len(r._outer_shape) != 1:
                    raise ValueError("[RaggedTensor] the rows of a ragged tensor must all be "
                                     f"RaggedTensors of ragged_rank {self._sub}")
        if dtype is not None:
            self._dtype = _dt.as_dtype(dtype)
        elif first is None:
            self._dtype = _dt.string
        elif isinstance(first, RaggedTensor):
            self._dtype = first.dtype
        else:
            self._dtype = _dt.as_dtype(first.dtype)

    def _new(self, rows, outer_shape=None, dtype=None):
        """A RaggedTensor like this one (same ragged rank) over other rows."""
        return RaggedTensor(rows, (len(rows),) if outer_shape is None else outer_shape,
                            self._dtype if dtype is None else dtype, self._sub)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_row_splits(cls, values, row_splits, name=None, validate=True):
        """Row i is values[row_splits[i]:row_splits[i+1]] (`values` may be a RaggedTensor,
        which gives a tensor with one more ragged dimension)."""
        op = "RaggedTensor.from_row_splits"
        s = _host_ints(row_splits, op, "row_splits")
        if isinstance(values, RaggedTensor):
            v = _as_rows(values)
            n = len(v._rows)
        else:
            v = _host(values, op)
            if v.ndim < 1:
                raise ValueError(f"[{op}] values must have rank >= 1, got a scalar {v!r}")
            n = len(v)
        if s.size < 1 or s[0] != 0 or s[-1] != n or np.any(np.diff(s) < 0):
            raise ValueError(f"[{op}] row_splits must be 1-D, start at 0, not decrease and "
                             f"end at len(values)={n}; got {s.tolist()}")
        if isinstance(values, RaggedTensor):
            rows = [v._new(v._rows[s[i]:s[i + 1]]) for i in _brange(len(s) - 1)]
            return cls(rows, (len(s) - 1,), v.dtype, v.ragged_rank)
        return cls([v[s[i]:s[i + 1]] for i in _brange(len(s) - 1)], (len(s) - 1,),
                   _dt.as_dtype(v.dtype) if v.size or v.dtype.kind != "f" else None)

    @classmethod
    def from_row_lengths(cls, values, row_lengths, name=None, validate=True):
        """Row i holds the next row_lengths[i] values."""
        op = "RaggedTensor.from_row_lengths"
        lengths = _host_ints(row_lengths, op, "row_lengths")
        n = _nvalues(values, op)
        if np.any(lengths < 0) or lengths.sum() != n:
            raise ValueError(f"[{op}] row_lengths must be >= 0 and sum to len(values)={n}; "
                             f"got {lengths.tolist()}")
        return cls.from_row_splits(values, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def from_row_starts(cls, values, row_starts, name=None, validate=True):
        op = "RaggedTensor.from_row_starts"
        starts = _host_ints(row_starts, op, "row_starts")
        return cls.from_row_splits(values, np.concatenate([starts, [_nvalues(values, op)]]))

    @classmethod
    def from_row_limits(cls, values, row_limits, name=None, validate=True):
        limits = _host_ints(row_limits, "RaggedTensor.from_row_limits", "row_limits")
        return cls.from_row_splits(values, np.concatenate([[0], limits]))

    @classmethod
    def from_value_rowids(cls, values, value_rowids, nrows=None, name=None, validate=True):
        """values[i] goes to row value_rowids[i]; the ids must not decrease. `nrows` (default
        max id + 1) may add empty rows at the end."""
        op = "RaggedTensor.from_value_rowids"
        ids = _host_ints(value_rowids, op, "value_rowids")
        n = _nvalues(values, op)
        if len(ids) != n:
            raise ValueError(f"[{op}] value_rowids has {len(ids)} entries but values has {n}")
        if np.any(ids < 0) or np.any(np.diff(ids) < 0):
            raise ValueError(f"[{op}] value_rowids must be >= 0 and sorted ascending, got "
                             f"{ids.tolist()}")
        need = int(ids.max()) + 1 if ids.size else 0
        if nrows is None:
            nrows = need
        nrows = int(nrows.numpy() if isinstance(nrows, Tensor) else nrows)
        if nrows < need:
            raise ValueError(f"[{op}] nrows={nrows} is smaller than max(value_rowids)+1="
                             f"{need}")
        lengths = np.bincount(ids, minlength=nrows)
        return cls.from_row_splits(values, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def from_nested_row_splits(cls, flat_values, nested_row_splits, name=None, validate=True):
        """One ragged dimension per row_splits vector, outermost first."""
        if isinstance(nested_row_splits, Tensor) or (
                isinstance(nested_row_splits, (list, tuple)) and nested_row_splits and
                not isinstance(nested_row_splits[0], (list, tuple, np.ndarray, Tensor))):
            nested_row_splits = [nested_row_splits]
        if not len(nested_row_splits):
            raise ValueError("[RaggedTensor.from_nested_row_splits] nested_row_splits is empty")
        out = flat_values
        for s in reversed(list(nested_row_splits)):
            out = cls.from_row_splits(out, s)
        return out

    @classmethod
    def from_nested_row_lengths(cls, flat_values, nested_row_lengths, name=None,
                                validate=True):
        """One ragged dimension per row_lengths vector, outermost first."""
        if not len(nested_row_lengths):
            raise ValueError("[RaggedTensor.from_nested_row_lengths] nested_row_lengths is "
                             "empty")
        out = flat_values
        for ln in reversed(list(nested_row_lengths)):
            out = cls.from_row_lengths(out, ln)
        return out

    @classmethod
    def from_uniform_row_length(cls, values, uniform_row_length, nrows=None, validate=True,
                                name=None):
        """Rows of uniform_row_length values each (nrows of them when the length is 0);
        nabi's static shape reads None for that dimension where TF's holds the length."""
        op = "RaggedTensor.from_uniform_row_length"
        n_vals = _nvalues(values, op)
        L = int(_host(uniform_row_length, op, "uniform_row_length"))
        if L < 0:
            raise ValueError(f"[{op}] uniform_row_length must be >= 0, got {L}")
        n = int(_host(nrows, op, "nrows")) if nrows is not None else \
            (n_vals // L if L else 0)
        if L * n != n_vals:
            raise ValueError(f"[{op}] uniform_row_length={L} times nrows={n} must equal "
                             f"nvals={n_vals}")
        return cls.from_row_splits(values, np.arange(n + 1, dtype=np.int64) * L)

    @classmethod
    def from_nested_value_rowids(cls, flat_values, nested_value_rowids, nested_nrows=None,
                                 name=None, validate=True):
        nrows = [None] * len(nested_value_rowids) if nested_nrows is None else nested_nrows
        out = flat_values
        for ids, n in reversed(list(zip(nested_value_rowids, nrows))):
            out = cls.from_value_rowids(out, ids, n)
        return out

    @classmethod
    def from_tensor(cls, tensor, lengths=None, padding=None, ragged_rank=1, name=None):
        """Rows of a dense tensor (rank >= 2), cut to `lengths`, or with trailing `padding`
        values stripped."""
        op = "RaggedTensor.from_tensor"
        a = _host(tensor, op, "tensor")
        if a.ndim < 2:
            raise ValueError(f"[{op}] tensor must have rank >= 2, got shape {a.shape}")
        if lengths is not None and padding is not None:
            raise ValueError(f"[{op}] give lengths or padding, not both")
        if ragged_rank != 1:
            nested_lengths = isinstance(lengths, (list, tuple)) and \
                _builtins.len(lengths) == ragged_rank and \
                all(np.ndim(x) == 1 for x in lengths)
            if (lengths is not None and not nested_lengths) or not 1 <= ragged_rank < a.ndim:
                raise ValueError(f"[{op}] ragged_rank={ragged_rank} needs 1 <= ragged_rank < "
                                 f"rank {a.ndim}, and lengths (if given) one 1-D list per "
                                 "ragged dimension")
            if nested_lengths:
                # TF: lengths[k] cuts the rows of ragged dimension k + 1, outermost first
                rows = list(a)
                levels = []
                for k in _brange(ragged_rank):
                    ln = _host_ints(lengths[k], op, f"lengths[{k}]")
                    if len(ln) != len(rows):
                        raise ValueError(f"[{op}] lengths[{k}] has {len(ln)} entries for "
                                         f"{len(rows)} rows")
                    if np.any(ln < 0) or np.any(ln > a.shape[k + 1]):
                        raise ValueError(f"[{op}] lengths[{k}] = {ln.tolist()} must be in "
                                         f"[0, {a.shape[k + 1]}]")
                    levels.append(ln)
                    rows = [sub for r, n in zip(rows, ln.tolist()) for sub in r[:n]]
                values = np.array(rows, dtype=a.dtype).reshape((-1,) + a.shape[ragged_rank + 1:])
                return cls.from_nested_row_lengths(values, levels)
            if padding is not None:
                # TF: padding is stripped in the innermost ragged dimension only; the outer
                # ones keep their full (uniform) lengths
                inner = a.reshape((-1,) + a.shape[ragged_rank:])
                rt = cls.from_tensor(inner, padding=padding)
                for k in _brange(ragged_rank - 1, 0, -1):
                    rt = cls.from_row_lengths(
                        rt, np.full(int(np.prod(a.shape[:k])), a.shape[k], np.int64))
                return rt
            inner = a.reshape((-1,) + a.shape[ragged_rank:])
            return cls.from_nested_row_lengths(
                inner, [np.full(int(np.prod(a.shape[:k])), a.shape[k], np.int64)
                        for k in _brange(1, ragged_rank + 1)])
        rows = list(a)
        if lengths is not None:
            ln = _host_ints(lengths, op, "lengths")
            if len(ln) != len(rows):
                raise ValueError(f"[{op}] lengths has {len(ln)} entries for {len(rows)} rows")
            rows = [r[:k] for r, k in zip(rows, ln)]
        elif padding is not None:
            p = padding.encode() if isinstance(padding, str) else padding
            cut = []
            for r in rows:
                k = len(r)
                while k and np.all(r[k - 1] == p):
                    k -= 1
                cut.append(r[:k])
            rows = cut
        return cls(rows, (len(rows),), _dt.as_dtype(a.dtype))

    @classmethod
    def from_sparse(cls, st_input, name=None, row_splits_dtype=None):
        """A 2-D SparseTensor whose entries fill each row from column 0 without gaps (TF's
        "ragged-right" layout), as a RaggedTensor of those rows."""
        from .sparse import SparseTensor
        op = "RaggedTensor.from_sparse"
        if not isinstance(st_input, SparseTensor):
            raise TypeError(f"[{op}] expected a SparseTensor, got {type(st_input).__name__}")
        if st_input.ndim != 2:
            raise ValueError(f"[{op}] rank(st_input) must be 2, got dense_shape "
                             f"{st_input._shape.tolist()}")
        ind = st_input._indices
        nrows = int(st_input._shape[0])
        lengths = np.bincount(ind[:, 0], minlength=nrows) if len(ind) else \
            np.zeros(nrows, np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        want_cols = np.arange(len(ind)) - np.repeat(starts[:-1], lengths)
        if len(ind) and (np.any(np.diff(ind[:, 0]) < 0) or np.any(ind[:, 1] != want_cols)):
            raise ValueError(f"[{op}] SparseTensor is not right-ragged: each row's entries "
                             "must be at columns 0, 1, 2, ... in order (use tf.sparse.reorder "
                             f"first), got indices {ind.tolist()}")
        return cls.from_row_lengths(_host(st_input.values, op), lengths)

    def with_flat_values(self, new_values):
        """The same row partition over new flat values (same number of values)."""
        v = _host(new_values, "RaggedTensor.with_flat_values")
        if v.ndim < 1 or len(v) != self._nvals():
            raise ValueError(f"[RaggedTensor.with_flat_values] expected {self._nvals()} values, "
                             f"got shape {v.shape}")
        return self._rebuild(v)

    def with_values(self, new_values):
        """The same outermost partition over new `values` (a RaggedTensor for a tensor with
        several ragged dimensions)."""
        if not self._sub:
            return self.with_flat_values(new_values)
        return RaggedTensor.from_row_splits(new_values, self._splits())

    def _rebuild(self, v):
        dt = _dt.as_dtype(v.dtype)
        if self._sub:
            rows, k = [], 0
            for r in self._rows:
                m = r._nvals()
                rows.append(r._rebuild(v[k:k + m]))
                k += m
            return RaggedTensor(rows, self._outer_shape, dt, self._sub)
        s = self._splits()
        return RaggedTensor([v[s[i]:s[i + 1]] for i in _brange(len(self._rows))],
                            self._outer_shape, dt)

    # ------------------------------------------------------------------ properties

    def _splits(self):
        return np.concatenate([[0], np.cumsum([len(r) for r in self._rows])]).astype(np.int64)

    def _nested_splits(self):
        """The row_splits of every ragged dimension, outermost first (a dense outer dimension
        counts as a uniform partition, as TF's ragged_rank does)."""
        if self._sub:
            return [self._splits()] + self._values_rt()._nested_splits()
        outer = [np.arange(0, int(np.prod(self._outer_shape[:k + 1])) + 1,
                           self._outer_shape[k], dtype=np.int64) if self._outer_shape[k]
                 else np.zeros(1, np.int64) for k in _brange(1, len(self._outer_shape))]
        return outer + [self._splits()]

    def _values_rt(self):
        """`values` when it is ragged: the rows of every row, one level down."""
        if self._sub:
            return RaggedTensor([s for r in self._rows for s in r._rows],
                                (sum(len(r) for r in self._rows),), self._dtype, self._sub - 1)
        return RaggedTensor(self._rows, (len(self._rows),), self._dtype)

    def _nvals(self):
        if self._sub:
            return int(sum(r._nvals() for r in self._rows))
        return int(sum(len(r) for r in self._rows))

    def _inner(self):
        """The uniform dimensions after the last ragged one."""
        if not self._rows:
            return ()
        first = self._rows[0]
        return first._inner() if self._sub else tuple(first.shape[1:])

    def _flat(self):
        if self._sub:
            parts = [r._flat() for r in self._rows]
        else:
            parts = self._rows
        if parts:
            return np.concatenate(parts)
        return np.zeros((0,) + self._inner(), self._dtype._np)

    def _same_partition(self, other):
        if self._outer_shape != other._outer_shape or self._sub != other._sub:
            return False
        return all(np.array_equal(a, b) for a, b in
                   zip(self._nested_splits(), other._nested_splits()))

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return TensorShape(self._outer_shape + (None,) * (1 + self._sub) + self._inner())

    def get_shape(self):
        return self.shape

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def ragged_rank(self):
        return 1 + self._sub if self._sub else max(1, len(self._outer_shape))

    @property
    def flat_values(self):
        return _out(self._flat())

    @property
    def values(self):
        """The values one ragged level down: the flat values of a 2-D ragged tensor, a
        RaggedTensor when there are more ragged dimensions."""
        if self._sub or len(self._outer_shape) > 1:
            return self._values_rt()
        return self.flat_values

    @property
    def row_splits(self):
        """int64 offsets of the rows in `values`: nrows + 1 entries starting at 0."""
        return _wrap(self._splits())

    @property
    def nested_row_splits(self):
        return tuple(_wrap(s) for s in self._nested_splits())

    def nested_row_lengths(self, name=None):
        return tuple(_wrap(np.diff(s)) for s in self._nested_splits())

    def row_lengths(self, axis=1, name=None):
        axis = int(axis)
        if axis < 0:
            axis += self.ndim
        if axis == 0:       # TF: the number of rows
            return self.nrows()
        if axis == 1:
            return _wrap(np.array([len(r) for r in self._rows],
                                  np.int64).reshape(self._outer_shape))
        if self._sub and axis >= 2:
            return self._new([_host(r.row_lengths(axis - 1), "row_lengths") if r._sub == 0
                              and axis == 2 else r.row_lengths(axis - 1) for r in self._rows],
                             dtype=_dt.int64)
        raise ValueError(f"[RaggedTensor.row_lengths] axis={axis} is not a ragged dimension "
                         f"of a RaggedTensor of shape {self.shape}")

    def row_starts(self, name=None):
        return _wrap(self._splits()[:-1])

    def row_limits(self, name=None):
        return _wrap(self._splits()[1:])

    def nested_value_rowids(self, name=None):
        """The value_rowids of every ragged dimension, outermost first."""
        return tuple(_wrap(np.repeat(np.arange(len(sp) - 1, dtype=np.int64), np.diff(sp)))
                     for sp in self._nested_splits())

    def merge_dims(self, outer_axis, inner_axis):
        """Dimensions outer_axis..inner_axis merged into one, as TF: merging dimension 0 with
        every ragged one gives the flat values (a dense Tensor)."""
        op = "RaggedTensor.merge_dims"
        nd = self.ndim
        a, b = int(outer_axis), int(inner_axis)
        a, b = (a + nd if a < 0 else a), (b + nd if b < 0 else b)
        if not 0 <= a <= b < nd:
            raise ValueError(f"[{op}] need 0 <= outer_axis <= inner_axis < rank {nd}, got "
                             f"outer_axis={outer_axis}, inner_axis={inner_axis}")
        if a == b:
            return self
        splits = [sp.copy() for sp in self._nested_splits()]
        r = len(splits)                       # dimensions 0..r are the partitioned ones
        fv = self._flat()
        if a > r:                             # only the values' inner dense dimensions
            j, k = a - r, b - r
            fv = fv.reshape(fv.shape[:j] + (-1,) + fv.shape[k + 1:])
            return RaggedTensor.from_nested_row_splits(fv, splits)
        if b > r:                             # fold the inner dimensions into the last rows
            k = b - r
            m = int(np.prod(fv.shape[1:k + 1], dtype=np.int64))
            fv = fv.reshape((-1,) + fv.shape[k + 1:])
            splits[-1] = splits[-1] * m
            b = r
        if a == 0:
            kept = splits[b:]
        else:
            composed = splits[a - 1]
            for k in _brange(a, b):
                composed = splits[k][composed]
            kept = splits[:a - 1] + [composed] + splits[b:]
        if not kept:
            return _out(fv)
        return RaggedTensor.from_nested_row_splits(fv, kept)

    def value_rowids(self, name=None):
        return _wrap(np.repeat(np.arange(len(self._rows), dtype=np.int64),
                               [len(r) for r in self._rows]))

    def nrows(self, out_type=None, name=None):
        n = self._outer_shape[0] if self._outer_shape else 1
        return _wrap(np.array(n, np.int64 if out_type is None else _dt.as_dtype(out_type)._np))

    def _bshape(self):
        """The bounding shape as a tuple of ints."""
        if self._sub:
            subs = [r._bshape()[1:] for r in self._rows]
            width = max((len(r) for r in self._rows), default=0)
            if not subs:
                return self._outer_shape + (0,) * (1 + self._sub)
            return self._outer_shape + (width,) + tuple(
                max(s[d] for s in subs) for d in _brange(len(subs[0])))
        width = max((len(r) for r in self._rows), default=0)
        return self._outer_shape + (width,) + self._inner()

    def bounding_shape(self, axis=None, name=None, out_type=None):
        full = np.array(self._bshape(), np.int64 if out_type is None else
                        _dt.as_dtype(out_type)._np)
        return _wrap(full if axis is None else full[axis])

    # ------------------------------------------------------------------ conversion

    def to_list(self):
        def row(r):
            return r.to_list() if isinstance(r, RaggedTensor) else r.tolist()

        def nest(k, depth):
            if depth == len(self._outer_shape):
                return row(self._rows[k])
            step = int(np.prod(self._outer_shape[depth + 1:], dtype=np.int64))
            return [nest(k + i * step, depth + 1) for i in _brange(self._outer_shape[depth])]
        return nest(0, 0)

    def _dense(self, default_value):
        """The zero-padded (default_value-padded) NumPy array of the bounding shape."""
        bs = self._bshape()
        out = np.empty(bs, self._dtype._np)
        out[...] = default_value
        per_row = out.reshape((len(self._rows),) + bs[len(self._outer_shape):])
        for i, r in enumerate(self._rows):
            d = r._dense(default_value) if isinstance(r, RaggedTensor) else r
            per_row[i][tuple(slice(0, s) for s in d.shape)] = d
        return out

    def to_tensor(self, default_value=None, name=None, shape=None):
        """A dense tensor: rows padded with `default_value` (b'' for strings, 0 for numbers)
        to the bounding shape. `shape` (None entries keep the natural size) pads or truncates
        each dimension, as TF does."""
        np_dtype = self._dtype._np
        if default_value is None:
            default_value = b"" if np_dtype.kind == "O" else 0
        elif isinstance(default_value, Tensor):
            default_value = default_value.numpy()
        if isinstance(default_value, str) and np_dtype.kind == "O":
            default_value = default_value.encode("utf-8")
        out = self._dense(default_value)
        if shape is not None:
            shape = list(shape.as_list() if isinstance(shape, TensorShape) else shape)
            if len(shape) != out.ndim:
                raise ValueError(f"[RaggedTensor.to_tensor] shape {shape} must have rank "
                                 f"{out.ndim} for a ragged tensor of shape {self.shape}")
            for d, want in enumerate(shape):
                if want is None or int(want) < 0 or int(want) == out.shape[d]:
                    continue
                want = int(want)
                if want < out.shape[d]:
                    out = out[(slice(None),) * d + (slice(0, want),)]
                else:
                    pad = list(out.shape)
                    pad[d] = want - out.shape[d]
                    fill = np.empty(pad, np_dtype)
                    fill[...] = default_value
                    out = np.concatenate([out, fill], axis=d)
        return _out(np.ascontiguousarray(out))

    def to_sparse(self, name=None):
        """The SparseTensor of every value at its index (dense_shape = bounding_shape)."""
        from .sparse import SparseTensor
        idx = self._value_indices()
        flat = self._flat()
        inner = flat.shape[1:]
        if inner:
            sub = np.array(list(np.ndindex(*inner)), np.int64).reshape(-1, len(inner))
            idx = np.concatenate([np.repeat(idx, len(sub), axis=0),
                                  np.tile(sub, (len(idx), 1))], axis=1)
        vals = flat.reshape(-1)
        return SparseTensor(idx.reshape(-1, self.ndim), _out(vals), np.array(self._bshape()))

    def _value_indices(self):
        """(number of values, ragged rank + 1) int64: each value's index down to the last
        ragged dimension."""
        parts = []
        for k, r in enumerate(self._rows):
            head = np.array(np.unravel_index(k, self._outer_shape), np.int64).reshape(1, -1) \
                if self._outer_shape else np.zeros((1, 0), np.int64)
            sub = r._value_indices() if isinstance(r, RaggedTensor) else \
                np.arange(len(r), dtype=np.int64).reshape(-1, 1)
            parts.append(np.concatenate([np.repeat(head, len(sub), axis=0), sub], axis=1))
        if not parts:
            return np.zeros((0, len(self._outer_shape) + 1 + self._sub), np.int64)
        return np.concatenate(parts)

    def numpy(self):
        """Like TF: an object array of the rows (NumPy arrays) over the outer shape."""
        out = np.empty(len(self._rows), dtype=object)
        out[:] = [r.numpy() if isinstance(r, RaggedTensor) else r for r in self._rows]
        return out.reshape(self._outer_shape)

    # ------------------------------------------------------------------ indexing

    def __len__(self):
        if not self._outer_shape:
            raise TypeError("len() of a scalar RaggedTensor")
        return self._outer_shape[0]

    def __getitem__(self, i):
        if i is Ellipsis:
            return self
        if isinstance(i, tuple) and any(k is Ellipsis for k in i):
            k = [j for j, x in enumerate(i) if x is Ellipsis]
            if len(k) > 1:
                raise IndexError("[RaggedTensor] an index can only have one ellipsis (...)")
            fill = (slice(None),) * max(0, self.ndim - (len(i) - 1))
            i = i[:k[0]] + fill + i[k[0] + 1:]
        if isinstance(i, tuple):
            if len(i) == 0:
                return self
            row = self[i[0]]
            rest = i[1:]
            if not rest:
                return row
            if isinstance(i[0], slice):
                # rt[:, a:b]: the rest indexes inside every selected row, as TF does
                if not all(isinstance(k, slice) for k in rest):
                    raise TypeError(f"[RaggedTensor] after a slice over the rows, nabi takes "
                                    f"only slices inside the rows, got {i!r}")
                rows = [r[rest] for r in row._rows]
                return RaggedTensor(rows, row._outer_shape, self._dtype, self._sub)
            if isinstance(row, RaggedTensor):
                return row[rest]
            return row[rest if len(rest) > 1 else rest[0]]
        n = len(self)
        if isinstance(i, slice):
            if len(self._outer_shape) != 1:
                raise TypeError("[RaggedTensor] slicing is supported on 2-D ragged tensors only")
            return self._new(self._rows[i])
        if isinstance(i, Tensor):
            i = i.numpy().item()
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"[RaggedTensor] indices must be integers or slices, got {i!r}")
        if not -n <= i < n:
            raise IndexError(f"[RaggedTensor] index {i} is out of range for {n} rows")
        i %= n
        if len(self._outer_shape) == 1:
            r = self._rows[i]
            return r if isinstance(r, RaggedTensor) else _out(r)
        step = int(np.prod(self._outer_shape[1:], dtype=np.int64))
        return RaggedTensor(self._rows[i * step:(i + 1) * step], self._outer_shape[1:],
                            self._dtype)

    def __iter__(self):
        for i in _brange(len(self)):
            yield self[i]

    def __repr__(self):
        return f"<nabi.RaggedTensor {self.to_list()!r}>"

    # ------------------------------------------------------------------ elementwise

    def _binary(self, other, fn, op):
        """fn (a Python operator) on the flat values as Tensors, so that the dense ops' TF
        dtype rules apply (int32 ragged + 1.5 raises, int / int is float64)."""
        name = f"RaggedTensor.{op}"
        if isinstance(other, RaggedTensor):
            if not self._same_partition(other):
                raise ValueError(f"[{name}] the operands' row lengths differ: "
                                 f"{_lengths(self)} vs {_lengths(other)}")
            b = other.flat_values
        else:
            b = _dense_operand(other, self, name)
        return self._rebuild(_host(fn(self.flat_values, b), name, "result"))

    def __add__(self, o):
        return self._binary(o, _operator.add, "__add__")

    def __radd__(self, o):
        return self._binary(o, lambda a, b: b + a, "__radd__")

    def __sub__(self, o):
        return self._binary(o, _operator.sub, "__sub__")

    def __rsub__(self, o):
        return self._binary(o, lambda a, b: b - a, "__rsub__")

    def __mul__(self, o):
        return self._binary(o, _operator.mul, "__mul__")

    def __rmul__(self, o):
        return self._binary(o, lambda a, b: b * a, "__rmul__")

    def __truediv__(self, o):
        return self._binary(o, _operator.truediv, "__truediv__")

    def __rtruediv__(self, o):
        return self._binary(o, lambda a, b: b / a, "__rtruediv__")

    def __floordiv__(self, o):
        return self._binary(o, _operator.floordiv, "__floordiv__")

    def __rfloordiv__(self, o):
        return self._binary(o, lambda a, b: b // a, "__rfloordiv__")

    def __mod__(self, o):
        return self._binary(o, _operator.mod, "__mod__")

    def __rmod__(self, o):
        return self._binary(o, lambda a, b: b % a, "__rmod__")

    def __pow__(self, o):
        return self._binary(o, _operator.pow, "__pow__")

    def __rpow__(self, o):
        return self._binary(o, lambda a, b: b ** a, "__rpow__")

    def __neg__(self):
        return self._rebuild(-self._flat())

    def __abs__(self):
        return self._rebuild(np.abs(self._flat()))

    def __lt__(self, o):
        return self._binary(o, _operator.lt, "__lt__")

    def __le__(self, o):
        return self._binary(o, _operator.le, "__le__")

    def __gt__(self, o):
        return self._binary(o, _operator.gt, "__gt__")

    def __ge__(self, o):
        return self._binary(o, _operator.ge, "__ge__")

    def __eq__(self, o):
        """Elementwise, as TF 2's RaggedTensor == (False for None or unmatched shapes)."""
        if o is None:
            return False
        try:
            return self._binary(o, _operator.eq, "__eq__")
        except (ValueError, TypeError):
            return False

    def __ne__(self, o):
        if o is None:
            return True
        try:
            return self._binary(o, _operator.ne, "__ne__")
        except (ValueError, TypeError):
            return True

    def __bool__(self):
        raise TypeError("RaggedTensor may not be used as a boolean (as in TF); use "
                        "tf.reduce_all / tf.reduce_any or compare its to_list()")

    def __and__(self, o):
        return self._binary(o, _operator.and_, "__and__")

    def __rand__(self, o):
        return self._binary(o, _operator.and_, "__rand__")      # commutative

    def __or__(self, o):
        return self._binary(o, _operator.or_, "__or__")

    def __ror__(self, o):
        return self._binary(o, _operator.or_, "__ror__")      # commutative

    def __xor__(self, o):
        return self._binary(o, _operator.xor, "__xor__")

    def __rxor__(self, o):
        return self._binary(o, _operator.xor, "__rxor__")      # commutative

    def __invert__(self):
        return self._rebuild(_host(~self.flat_values, "RaggedTensor.__invert__", "result"))

    __hash__ = object.__hash__


def _lengths(rt):
    return [np.diff(s).tolist() for s in rt._nested_splits()]


def _nest_outer(rt):
    """rt with several dense outer dimensions as TF's layout: one outer dimension and a
    ragged dimension (of uniform lengths) for each further one, so that row_splits,
    value_rowids, gather, boolean_mask, ... see the outermost rows as TF does."""
    outer = rt._outer_shape
    if len(outer) <= 1:
        return rt
    out = RaggedTensor(rt._rows, (len(rt._rows),), rt._dtype, rt._sub)
    for k in _brange(len(outer) - 1, 0, -1):
        out = RaggedTensor.from_row_lengths(
            out, np.full(int(np.prod(outer[:k], dtype=np.int64)), outer[k], np.int64))
    return out


def _as_rows(rt):
    """A RaggedTensor with a 1-D outer shape (a dense outer shape becomes ragged_rank 1 over
    all its rows)."""
    if len(rt._outer_shape) == 1:
        return rt
    return RaggedTensor(rt._rows, (len(rt._rows),), rt._dtype)


def _nvalues(values, op):
    """len(values) for a Tensor, array, list or RaggedTensor (its number of rows)."""
    if isinstance(values, RaggedTensor):
        return len(_as_rows(values)._rows)
    return len(_host(values, op))


def _dense_operand(other, rt, op):
    """A dense operand laid over rt's flat values. Python scalars pass through (the dense op
    applies TF's rules to them); an array or Tensor broadcasts against rt's shape as TF's
    ragged broadcasting does: dimensions of size 1 repeat, a dimension of size k over a
    ragged one needs every row of that dimension to have length k."""
    if isinstance(other, (int, float, bool, complex, np.generic)):
        return other
    t = other if isinstance(other, Tensor) else convert_to_tensor(other, dtype_hint=rt._dtype)
    b = _host(t, op, "operand")
    inner = rt._inner()
    if b.ndim <= len(inner):
        return t
    splits = rt._nested_splits()            # one partition per outer / ragged dimension
    nd = len(splits) + 1 + len(inner)
    if b.ndim > nd:
        raise ValueError(f"[{op}] a dense operand of shape {b.shape} has a higher rank than the "
                         f"RaggedTensor of shape {rt.shape}")
    shown = b.shape
    b = b.reshape((1,) * (nd - b.ndim) + b.shape)
    # the coordinates of every flat value in the outer and ragged dimensions
    pos = np.arange(rt._nvals(), dtype=np.int64)
    coords = []
    for k in _brange(len(splits) - 1, -1, -1):
        s = splits[k]
        lengths = np.diff(s)
        if b.shape[k + 1] != 1 and np.any(lengths != b.shape[k + 1]):
            raise ValueError(f"[{op}] cannot broadcast a dense operand of shape {shown} "
                             f"over the RaggedTensor of shape {rt.shape}: dimension {k + 1} "
                             f"has row lengths {sorted(set(lengths.tolist()))}")
        rowid = np.repeat(np.arange(len(s) - 1, dtype=np.int64), lengths)[pos]
        coords.append(pos - s[rowid])
        pos = rowid
    coords.append(pos)
    coords = coords[::-1]                     # dimension 0 first
    if b.shape[0] != 1 and b.shape[0] != (len(splits[0]) - 1):
        raise ValueError(f"[{op}] cannot broadcast a dense operand of shape {shown} over the "
                         f"RaggedTensor of shape {rt.shape}")
    idx = tuple(c if b.shape[j] != 1 else np.zeros_like(c) for j, c in enumerate(coords))
    return convert_to_tensor(b[idx])


# ----------------------------------------------------------------------------- tf.ragged


def _depth(x):
    d = 0
    while isinstance(x, (list, tuple)):
        if not x:
            return d + 1
        x = x[0]
        d += 1
    return d


def _scalar_and_max_depth(x):
    """(the nesting depth of the first scalar, or None when there is none; the deepest list
    nesting, an empty list counting one level)."""
    if not isinstance(x, (list, tuple)):
        return 0, 0
    sd, md = None, 1
    for v in x:
        s, m = _scalar_and_max_depth(v)
        if s is not None and sd is None:
            sd = s + 1
        md = max(md, m + 1)
    return sd, md


def _leaves_dtype(flat, dtype):
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
        if dt == _dt.string:
            a = np.empty(len(flat), object)
            a[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
            return a
        if (dt.is_integer or dt == _dt.bool) and \
                any(isinstance(v, (float, np.floating)) for v in flat):
            # TF: "Cannot convert [1.5] to EagerTensor of dtype int32" (1.0 too)
            raise TypeError(f"[ragged.constant] cannot convert the float values "
                            f"{[v for v in flat if isinstance(v, (float, np.floating))][:3]!r}"
                            f" to dtype {dt.name}")
        return np.array(flat, dt._np) if flat else np.zeros(0, dt._np)
    if not flat:
        return np.zeros(0, np.float32)
    if all(isinstance(v, (str, bytes)) for v in flat):
        a = np.empty(len(flat), object)
        a[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
        return a
    # TF's tf.constant rules on the leaves: Python floats float32, ints int32 (int64 past its
    # range; NumPy integers too), a NumPy float first keeps its dtype (np.float64: float64),
    # complex numbers complex128
    from .framework.tensor import _host_tensor
    leaves = [int(v) if isinstance(v, np.integer) else v for v in flat]
    try:
        a = _host_tensor(leaves)._data
    except (TypeError, ValueError):
        a = np.array(flat)
    if a.dtype.kind in "fiubc":
        return a
    raise TypeError(f"[ragged.constant] unsupported values {flat[:3]!r} (dtype {a.dtype})")


def _arrays_to_lists(x):
    """NumPy arrays inside a nested list become lists of their NumPy scalars (TF takes
    ragged.constant([np.array([1, 2]), np.array([3])]))."""
    if isinstance(x, np.ndarray) and x.ndim:
        return [_arrays_to_lists(v) for v in x]
    if isinstance(x, (list, tuple)):
        return [_arrays_to_lists(v) for v in x]
    return x


def _leaves(x, out):
    if isinstance(x, (list, tuple)):
        for v in x:
            _leaves(v, out)
    else:
        out.append(x)
    return out


def _nested_constant(pylist, dtype, ragged_rank, inner_shape, op):
    """ragged.constant with `ragged_rank` ragged dimensions (>= 2: rows are RaggedTensors)."""
    if not isinstance(pylist, (list, tuple)):
        raise ValueError(f"[{op}] expected a list at a ragged level, got {pylist!r}")
    if ragged_rank == 1:
        if not pylist:
            return RaggedTensor([], (0,), dtype)
        return constant(pylist, dtype=dtype, ragged_rank=1, inner_shape=inner_shape)
    rows = [_nested_constant(r, dtype, ragged_rank - 1, inner_shape, op) for r in pylist]
    return RaggedTensor(rows, (len(rows),), dtype, ragged_rank - 1)


def constant(pylist, dtype=None, ragged_rank=None, inner_shape=None, name=None,
             row_splits_dtype=None):
    """A RaggedTensor from a nested Python list (numbers, bools or strings). The last
    `ragged_rank` nesting levels before the values (all but the values by default) are
    ragged dimensions, as in TF: [[[1], [2, 3]], [[], [4]]] has shape [2, None, None] even
    though its second level has uniform lengths."""
    op = "ragged.constant"
    if isinstance(pylist, RaggedTensor):
        return pylist
    pylist = _arrays_to_lists(pylist)
    if isinstance(pylist, (int, float, bool, str, bytes, np.generic)) and ragged_rank is None \
            and inner_shape is None:
        from .framework.tensor import convert_to_tensor as scalar_tensor
        return scalar_tensor(pylist, dtype=dtype)      # a scalar: TF's dense Tensor
    if not isinstance(pylist, (list, tuple)):
        raise ValueError(f"[{op}] pylist must be a nested list, got {type(pylist).__name__}")
    sdepth, mdepth = _scalar_and_max_depth(pylist)
    if sdepth is not None and mdepth > sdepth:
        raise ValueError(f"[{op}] invalid pylist: empty lists are nested deeper ({mdepth}) "
                         f"than the values ({sdepth})")
    depth = sdepth if sdepth is not None else mdepth
    if inner_shape is not None:
        inner_shape = tuple(int(d) for d in inner_shape)
        if ragged_rank is not None and (
                ragged_rank + len(inner_shape) + 1 != sdepth if sdepth is not None
                else ragged_rank + len(inner_shape) + 1 < mdepth):
            raise ValueError(f"[{op}] the values are nested {depth} deep, which does not match "
                             f"ragged_rank={ragged_rank} and inner_shape={inner_shape} (they "
                             f"need depth ragged_rank + len(inner_shape) + 1)")
    if ragged_rank is None:
        ragged_rank = depth - 1 if inner_shape is None else depth - 1 - len(inner_shape)
        if sdepth is None:
            ragged_rank = max(1 if depth > 1 else 0, ragged_rank)   # [] is a dense (0,)
    ragged_rank = int(ragged_rank)
    if ragged_rank < 0 or (sdepth is not None and ragged_rank >= sdepth):
        raise ValueError(f"[{op}] ragged_rank must be in [0, {depth - 1}] for values nested "
                         f"{depth} deep, got ragged_rank={ragged_rank}")
    if ragged_rank == 0:   # no ragged dimension: a dense Tensor, as TF returns
        from .framework.tensor import convert_to_tensor
        leaves = _leaves(pylist, [])
        vals = _leaves_dtype(leaves, dtype)
        shp = np.array(pylist, dtype=object).shape if leaves else (0,)
        if inner_shape is not None and tuple(shp) != inner_shape:
            raise ValueError(f"[{op}] the values have shape {tuple(shp)}, not inner_shape "
                             f"{inner_shape}")
        return convert_to_tensor(vals.reshape(shp))
    # ragged_rank 1: one dense outer dimension, ragged rows
    rows_src, outer_shape = [pylist], []
    for d in _brange(ragged_rank):
        if not all(isinstance(x, (list, tuple)) for x in rows_src):
            raise ValueError(f"[{op}] nesting depth {d} mixes lists and scalars")
        lens = sorted({len(x) for x in rows_src})
        if len(lens) > 1 or ragged_rank >= 2:
            # several ragged dimensions: every nesting level below the first is ragged, as in
            # TF, even when its lengths happen to be uniform (shape [2, None, None])
            leaves = _leaves(pylist, [])
            if any(isinstance(v, (str, bytes)) for v in leaves) and \
                    not all(isinstance(v, (str, bytes)) for v in leaves):
                raise TypeError(f"[{op}] the values mix strings and numbers: {leaves[:4]!r}")
            dt = _dt.as_dtype(_leaves_dtype(leaves, dtype).dtype) if dtype is None or \
                _dt.as_dtype(dtype) != _dt.string else _dt.string
            return _nested_constant(pylist, dt, ragged_rank, inner_shape, op)
        outer_shape.append(lens[0] if lens else 0)
        rows_src = [y for x in rows_src for y in x]
    outer_shape = tuple(outer_shape)
    flat_leaves, row_lens, inner = [], [], None
    for r in rows_src:
        if not isinstance(r, (list, tuple)):
            raise ValueError(f"[{op}] expected a list at nesting depth {ragged_rank}, got "
                             f"{r!r}")
        try:
            arr = np.array(r, dtype=object) if r else np.zeros((0,), object)
        except ValueError:
            arr = None
        if arr is None or any(isinstance(v, (list, tuple)) for v in arr.reshape(-1)):
            raise ValueError(f"[{op}] the inner lists of row {r!r} have varying lengths but "
                             f"ragged_rank={ragged_rank} makes them uniform dimensions")
        shp = arr.shape[1:]
        if r:
            if inner is None:
                inner = shp
            elif inner != shp:
                raise ValueError(f"[{op}] inner dimensions differ between rows: {inner} vs "
                                 f"{shp}")
        row_lens.append(len(r))
        flat_leaves.extend(arr.reshape(-1).tolist())
    if inner is None:   # every row empty: inner_shape (or the values' nesting) says
        inner = tuple(inner_shape) if inner_shape is not None else ()
    if inner_shape is not None and tuple(inner_shape) != tuple(inner) and flat_leaves:
        raise ValueError(f"[{op}] inner_shape {tuple(inner_shape)} does not match the values' "
                         f"inner shape {inner}")
    vals = _leaves_dtype(flat_leaves, dtype).reshape((-1,) + tuple(inner))
    splits = np.concatenate([[0], np.cumsum(row_lens)]).astype(np.int64)
    rows = [vals[splits[i]:splits[i + 1]] for i in _brange(len(row_lens))]
    return RaggedTensor(rows, outer_shape, _dt.as_dtype(vals.dtype))


def map_flat_values(op, *args, **kwargs):
    """`op` applied to the flat values of the RaggedTensor arguments (which must share their
    row partition); the result keeps that partition. Other arguments pass through."""
    ragged = [a for a in list(args) + list(kwargs.values()) if isinstance(a, RaggedTensor)]
    if not ragged:          # TF: op applied to the arguments as they are
        return op(*args, **kwargs)
    for r in ragged[1:]:
        if not r._same_partition(ragged[0]):
            raise ValueError("[ragged.map_flat_values] the RaggedTensor arguments have different "
                             f"row lengths: {_lengths(ragged[0])} vs {_lengths(r)}")

    def sub(a):
        return a.flat_values if isinstance(a, RaggedTensor) else a
    out = op(*[sub(a) for a in args], **{k: sub(v) for k, v in kwargs.items()})
    n = ragged[0]._nvals()
    v = _host(out, "ragged.map_flat_values", "op's result")
    if v.ndim < 1 or len(v) != n:
        raise ValueError(f"[ragged.map_flat_values] op must keep the number of values ({n}); "
                         f"its result has shape {v.shape}")
    return ragged[0]._rebuild(v)


def _hint(values):
    """The dtype of the first RaggedTensor among values: Python lists convert to it."""
    return next((v.dtype for v in values if isinstance(v, RaggedTensor)), None)


def _as_ragged(v, op, hint=None):
    """A RaggedTensor for an operand of concat / stack: RaggedTensors as they are, dense
    tensors (rank >= 2) as ragged_rank-1 tensors; rank-1 values stay NumPy rows."""
    if isinstance(v, RaggedTensor):
        return v
    a = _host(v, op)
    if hint is not None and not isinstance(v, (Tensor, np.ndarray)) and \
            a.dtype.kind in "iuf" and hint._np.kind in "iuf":
        a = a.astype(hint._np)
    if a.ndim >= 2:
        return RaggedTensor(list(a), (a.shape[0],), _dt.as_dtype(a.dtype))
    return a


def _check_dtypes(items, op):
    dts = {(it.dtype if isinstance(it, RaggedTensor) else _dt.as_dtype(it.dtype)).name
           for it in items if not (isinstance(it, np.ndarray) and it.size == 0 and
                                   it.dtype.kind == "f")}
    if len(dts) > 1:
        raise TypeError(f"[{op}] the values have different dtypes: {sorted(dts)}")


def concat(values, axis=0, name=None):
    """tf.concat with RaggedTensors (dense operands of rank >= 2 join as ragged ones): axis 0
    appends rows; axis 1 of 2-D tensors joins each row with the matching rows (row-wise
    concatenation); deeper axes recurse into the rows."""
    op = "concat"
    values = list(values)
    vals = [_as_ragged(v, op, _hint(values)) for v in values]
    if not vals:
        raise ValueError(f"[{op}] values is empty")
    ranks = [v.ndim for v in vals]
    if len(set(ranks)) > 1:
        raise ValueError(f"[{op}] all values must have the same rank, got shapes "
                         f"{[tuple(v.shape) for v in vals]}")
    _check_dtypes(vals, op)
    nd = ranks[0]
    axis = int(axis.numpy() if isinstance(axis, Tensor) else axis)
    if not -nd <= axis < nd:
        raise ValueError(f"[{op}] axis {axis} is out of range for rank {nd}")
    axis %= nd
    return _concat(vals, axis, op)


def _concat(vals, axis, op):
    if all(isinstance(v, np.ndarray) for v in vals):
        try:
            return np.concatenate(vals, axis=axis)
        except ValueError:
            raise ValueError(f"[{op}] cannot join rows of shapes {[v.shape for v in vals]} "
                             f"along axis {axis}") from None
    vals = [v if isinstance(v, RaggedTensor) else RaggedTensor([r for r in v], (len(v),))
            for v in vals]
    dt = next((v.dtype for v in vals if v._nvals()), vals[0].dtype)
    if axis == 0:
        subs = {v._sub for v in vals if len(v)}
        inner = {v._inner() for v in vals if v._nvals()}
        if len(subs) > 1 or len(inner) > 1 or \
                len({v._outer_shape[1:] for v in vals}) > 1:
            raise ValueError(f"[{op}] the values' shapes do not fit along axis 0: "
                             f"{[str(v.shape) for v in vals]}")
        rows = [r if isinstance(r, RaggedTensor) else r.astype(dt._np)
                for v in vals for r in v._rows]
        outer = (sum(v._outer_shape[0] for v in vals),) + vals[0]._outer_shape[1:]
        return RaggedTensor(rows, outer, dt, subs.pop() if subs else vals[0]._sub)
    n = {len(v) for v in vals}
    if len(n) > 1:
        raise ValueError(f"[{op}] along axis {axis} the values must have the same number of "
                         f"rows, got shapes {[str(v.shape) for v in vals]}")
    if len(vals[0]._outer_shape) > 1:
        parts = [_concat([v[i] for v in vals], axis - 1, op) for i in _brange(n.pop())]
        rows = [r for p in parts for r in p._rows]
        return RaggedTensor(rows, (len(parts),) + parts[0]._outer_shape, dt) if parts else \
            RaggedTensor([], (0,) + vals[0]._outer_shape[1:], dt)
    rows = [_concat([v._rows[i] for v in vals], axis - 1, op) for i in _brange(n.pop())]
    return RaggedTensor(rows, (len(rows),), dt, vals[0]._sub)


def stack(values, axis=0, name=None):
    """tf.ragged.stack: rank-R tensors (dense, ragged or nested lists) stacked into one
    rank-(R+1) RaggedTensor. axis=0 makes each input one row (1-D inputs become the rows of a
    2-D ragged tensor, 2-D inputs a [n, None, None] tensor); axis=1 pairs up the inputs'
    rows: result[i] = [v[i] for v in values]."""
    op = "ragged.stack"
    vals, values = [], list(values)
    hint = _hint(values)
    for v in values:
        if isinstance(v, RaggedTensor):
            vals.append(_as_rows(v))
        else:
            a = _host(v, op)
            if hint is not None and not isinstance(v, (Tensor, np.ndarray)) and \
                    a.dtype.kind in "iuf" and hint._np.kind in "iuf":
                a = a.astype(hint._np)
            if a.ndim == 0:
                raise ValueError(f"[{op}] cannot stack scalars into a RaggedTensor")
            vals.append(RaggedTensor(list(a), (len(a),), _dt.as_dtype(a.dtype))
                        if a.ndim >= 2 else a)
    if not vals:
        raise ValueError(f"[{op}] values is empty")
    ranks = {v.ndim for v in vals}
    if len(ranks) > 1:
        raise ValueError(f"[{op}] all values must have the same rank, got shapes "
                         f"{[str(TensorShape(v.shape)) for v in vals]}")
    nd = ranks.pop()
    axis = int(axis)
    if not -(nd + 1) <= axis <= nd:
        raise ValueError(f"[{op}] axis {axis} is out of range for inputs of rank {nd}")
    axis %= nd + 1
    _check_dtypes(vals, op)
    if nd == 1:
        if axis != 0:
            raise ValueError(f"[{op}] 1-D values stack along axis 0 only, got axis={axis}")
        dt = next((r.dtype for r in vals if r.size), vals[0].dtype)
        return RaggedTensor([r.astype(dt) for r in vals], (len(vals),), _dt.as_dtype(dt))
    dt = next((v.dtype for v in vals if v._nvals()), vals[0].dtype)
    if axis == 0:
        subs = {v.ragged_rank for v in vals}
        if len(subs) > 1:
            raise ValueError(f"[{op}] nabi stacks RaggedTensors of one ragged_rank, got "
                             f"{sorted(subs)} (shapes {[str(v.shape) for v in vals]})")
        return RaggedTensor(vals, (len(vals),), dt, subs.pop())
    if axis == 1:
        n = {len(v) for v in vals}
        if len(n) > 1:
            raise ValueError(f"[{op}] stacking along axis 1 needs the same number of rows, "
                             f"got shapes {[str(v.shape) for v in vals]}")
        rows = [stack([v[i] if isinstance(v._rows[i], RaggedTensor) else v._rows[i]
                       for v in vals], axis=0) for i in _brange(n.pop())]
        return RaggedTensor(rows, (len(rows),), dt, rows[0].ragged_rank if rows else 1)
    raise ValueError(f"[{op}] nabi stacks RaggedTensors along axis 0 or 1, got axis={axis}")


def stack_dynamic_partitions(data, partitions, num_partitions, name=None):
    """Row i of the result holds the entries of `data` whose partition is i, in order."""
    op = "ragged.stack_dynamic_partitions"
    from .ops.array_ops import gather
    p = _host_ints(np.reshape(_host(partitions, op, "partitions"), -1), op, "partitions")
    n = int(num_partitions)
    if len(p) and (p.min() < 0 or p.max() >= n):
        raise ValueError(f"[{op}] partitions {p.tolist()} must be in [0, {n})")
    d = data if isinstance(data, Tensor) else convert_to_tensor(data)
    if int(d.shape[0] if d.shape.rank else 0) != len(p):
        raise ValueError(f"[{op}] data has {d.shape[0] if d.shape.rank else 0} rows but "
                         f"partitions has {len(p)} entries")
    order = np.argsort(p, kind="stable").astype(np.int64)
    vals = gather(d, order) if d._data.dtype.kind != "O" else _wrap(d.numpy()[order])
    return RaggedTensor.from_value_rowids(vals, p[order], nrows=n)


def boolean_mask(data, mask, name=None):
    """tf.ragged.boolean_mask: the entries of `data` where `mask` is True, as a RaggedTensor
    (a dense tensor when `mask` is 1-D and `data` dense). `mask` (dense or ragged) has the
    shape of data's leading dimensions."""
    op = "ragged.boolean_mask"
    if isinstance(mask, RaggedTensor):
        if mask.dtype != _dt.bool:
            raise TypeError(f"[{op}] mask must be boolean, got {mask.dtype.name}")
        if not isinstance(data, RaggedTensor):
            a = _host(data, op, "data")
            if a.ndim < 2:
                raise ValueError(f"[{op}] a ragged mask of shape {mask.shape} needs data of "
                                 f"rank >= 2, got shape {a.shape}")
            data = RaggedTensor([a[i][:len(m)] for i, m in enumerate(mask._rows)],
                                (len(a),), _dt.as_dtype(a.dtype))
        return _mask_ragged(data, mask, op)
    m = _host(mask, op, "mask")
    if m.dtype.kind != "b":
        raise TypeError(f"[{op}] mask must be boolean, got dtype {m.dtype}")
    if m.ndim == 0:
        raise ValueError(f"[{op}] mask must have rank >= 1, got a scalar")
    if isinstance(data, RaggedTensor):
        if m.ndim != 1:
            raise ValueError(f"[{op}] a dense mask for a RaggedTensor must be 1-D (one entry "
                             f"per row), got shape {m.shape}; pass a RaggedTensor mask")
        rt = _as_rows(data)
        if len(m) != len(rt):
            raise ValueError(f"[{op}] mask of shape {m.shape} does not fit data of shape "
                             f"{data.shape}")
        return rt._new([r for r, k in zip(rt._rows, m) if k])
    a = _host(data, op, "data")
    if a.shape[:m.ndim] != m.shape:
        raise ValueError(f"[{op}] mask of shape {m.shape} does not fit data of shape "
                         f"{a.shape}")
    if m.ndim == 1:
        return _out(a[m])
    return _mask_dense(a, m)


def _mask_dense(a, m):
    if m.ndim == 2:
        return RaggedTensor([a[i][m[i]] for i in _brange(len(m))], (len(m),),
                            _dt.as_dtype(a.dtype))
    rows = [_mask_dense(a[i], m[i]) for i in _brange(len(m))]
    return RaggedTensor(rows, (len(rows),), _dt.as_dtype(a.dtype), m.ndim - 2)


def _mask_ragged(data, mask, op):
    data, mask = _as_rows(data), _as_rows(mask)
    if len(data) != len(mask) or data._sub < mask._sub:
        raise ValueError(f"[{op}] mask of shape {mask.shape} does not fit data of shape "
                         f"{data.shape}")
    rows = []
    for d, k in zip(data._rows, mask._rows):
        if len(d) != len(k):
            raise ValueError(f"[{op}] the mask's row lengths {_lengths(mask)} differ from the "
                             f"data's {_lengths(data)}")
        if isinstance(k, RaggedTensor):
            rows.append(_mask_ragged(d, k, op))
        elif isinstance(d, RaggedTensor):
            rows.append(d._new([r for r, keep in zip(d._rows, k) if keep]))
        else:
            rows.append(d[k])
    return data._new(rows)


def range(starts, limits=None, deltas=1, dtype=None, name=None,  # noqa: A001 (TF's name)
          row_splits_dtype=None):
    """tf.ragged.range: row i is _brange(starts[i], limits[i], deltas[i]); scalars broadcast.
    With one argument it gives the limits (starts 0)."""
    op = "ragged.range"
    if limits is None:
        starts, limits = 0, starts
    parts = [_host(x, op, what) for x, what in ((starts, "starts"), (limits, "limits"),
                                                (deltas, "deltas"))]
    for p, what in zip(parts, ("starts", "limits", "deltas")):
        if p.ndim > 1 or p.dtype.kind not in "iuf":
            raise ValueError(f"[{op}] {what} must be a number or a 1-D vector of numbers, got "
                             f"shape {p.shape} dtype {p.dtype}")
    sizes = {len(p) for p in parts if p.ndim == 1}
    if len(sizes) > 1:
        raise ValueError(f"[{op}] starts, limits and deltas must have the same length, got "
                         f"shapes {[p.shape for p in parts]}")
    n = sizes.pop() if sizes else 1
    if dtype is None:
        kind = "f" if any(p.dtype.kind == "f" for p in parts) else "i"
        big = [p.dtype for p in parts if p.dtype.kind == kind]
        np_dt = np.result_type(*big) if big else np.int32
        if isinstance(starts, (int, float)) or isinstance(limits, (int, float, list)):
            np_dt = np.float32 if kind == "f" else np.int32
        if kind == "f" and np_dt == np.float64 and not any(
                isinstance(p, Tensor) for p in (starts, limits, deltas)):
            np_dt = np.float32
    else:
        np_dt = _dt.as_dtype(dtype)._np
    s, lim, d = (np.broadcast_to(p, (n,)) for p in parts)
    if np.any(d == 0):
        raise ValueError(f"[{op}] deltas must not be 0, got {d.tolist()}")
    rows = [np.arange(a, b, c).astype(np_dt) for a, b, c in zip(s.tolist(), lim.tolist(),
                                                                 d.tolist())]
    return RaggedTensor(rows, (n,), _dt.as_dtype(np_dt))


def _ids_dtype(out_type, given):
    """TF's out_type default for the segment-id helpers: the input's dtype when it is a
    Tensor or array of int32 / int64, else int64."""
    if out_type is not None:
        return _dt.as_dtype(out_type)._np
    d = given._data.dtype if isinstance(given, Tensor) else \
        given.dtype if isinstance(given, np.ndarray) else None
    return d if d in (np.int32, np.int64) else np.int64


def row_splits_to_segment_ids(splits, name=None, out_type=None):
    s = _host_ints(splits, "ragged.row_splits_to_segment_ids", "splits")
    return _wrap(np.repeat(np.arange(len(s) - 1, dtype=np.int64), np.diff(s)).astype(
        _ids_dtype(out_type, splits)))


def segment_ids_to_row_splits(segment_ids, num_segments=None, out_type=None, name=None):
    ids = _host_ints(segment_ids, "ragged.segment_ids_to_row_splits", "segment_ids")
    n = int(num_segments) if num_segments is not None else (int(ids.max()) + 1 if ids.size
                                                              else 0)
    return _wrap(np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=n))]).astype(
        _ids_dtype(out_type, segment_ids)))


# ----------------------------------------------------------------------------- reductions


_IDENTITY = {"reduce_sum": 0, "reduce_prod": 1, "reduce_all": True, "reduce_any": False}
_REDUCERS = {"reduce_sum": np.sum, "reduce_prod": np.prod, "reduce_max": np.max,
             "reduce_min": np.min, "reduce_mean": np.mean, "reduce_all": np.all,
             "reduce_any": np.any}


def reduce(op, rt, axis=None, keepdims=False):
    """TF's ragged reductions: axis None (all values), a ragged axis (each row; an empty row
    gives the identity: 0 for sum, 1 for prod, the dtype's lowest / highest value for max /
    min, NaN for mean), axis 0 (the rows aligned by index: entry k reduces the k-th entries
    of the rows long enough to have one, recursively for several ragged dimensions), an
    inner axis of a tensor with several ragged dimensions (each row reduced, a
    RaggedTensor), or a list of axes (one after another, the highest first; the mean is
    sum / count over them). keepdims keeps each reduced axis with length 1. The mean of
    integers is float64, as TF's ragged mean (sum / count) is."""
    if op not in _REDUCERS:
        raise ValueError(f"[{op}] is not supported on a RaggedTensor")
    fn = _REDUCERS[op]
    flat = rt._flat()
    if op in ("reduce_all", "reduce_any"):
        if flat.dtype.kind != "b":
            raise TypeError(f"[{op}] needs a boolean RaggedTensor, got dtype {rt.dtype.name}")
    elif flat.dtype.kind not in "iufb":
        raise TypeError(f"[{op}] needs a numeric RaggedTensor, got dtype {rt.dtype.name}")
    if op == "reduce_mean" and flat.dtype.kind in "iub":
        rt = rt._rebuild(flat.astype(np.float64))
        flat = rt._flat()
    np_dt = flat.dtype
    nd = rt.ndim
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    if isinstance(axis, (list, tuple, np.ndarray)):
        axes = [int(a) for a in np.reshape(axis, -1).tolist()]
        for a in axes:
            if not -nd <= a < nd:
                raise ValueError(f"[{op}] axis {a} is out of range for a RaggedTensor of rank "
                                 f"{nd}")
        axes = sorted({a % nd for a in axes})
        if not axes:
            return rt
        if len(axes) > 1:
            return _reduce_axes(op, rt, axes, bool(keepdims))
        axis = axes[0]
    if axis is None:
        if flat.size or op in _IDENTITY or op == "reduce_mean":
            with np.errstate(invalid="ignore"):
                r = fn(flat, axis=tuple(_brange(flat.ndim)) or None)
        else:
            r = _empty_ident(op, np_dt, ())
        r = np.asarray(r).astype(np_dt)
        if keepdims:
            r = r.reshape((1,) * nd)
        return _out(r)
    axis = int(axis)
    if not -nd <= axis < nd:
        raise ValueError(f"[{op}] axis {axis} is out of range for a RaggedTensor of rank {nd}")
    axis %= nd
    out = _reduce_axis(op, fn, rt, axis, np_dt, keepdims)
    return out if isinstance(out, RaggedTensor) else _out(out)


def _map_result(x, f):
    """f over the values of a reduction's result (a RaggedTensor or a Tensor)."""
    if isinstance(x, RaggedTensor):
        return x._rebuild(f(x._flat()))
    return _out(f(np.asarray(_host(x, "reduce"))))


def _moment_op(fn, input_tensor, axis=None, keepdims=False, name=None, **kw):
    """TF's ragged reduce_variance (mean of squares - square of mean, clipped at 0; an empty
    row is NaN) and reduce_std (its sqrt)."""
    op = fn.__name__
    rt = input_tensor
    if not isinstance(rt, RaggedTensor):
        return fn(input_tensor, axis=axis, keepdims=keepdims)
    flat = rt._flat()
    if flat.dtype.kind not in "f":
        raise TypeError(f"[{op}] needs a floating-point RaggedTensor, got dtype "
                        f"{rt.dtype.name} (shape {rt.shape})")
    squares = rt._rebuild(flat * flat)
    mean_sq = reduce("reduce_mean", squares, axis, keepdims)
    mean = reduce("reduce_mean", rt, axis, keepdims)
    m = _host(mean, op) if not isinstance(mean, RaggedTensor) else None
    if m is not None:
        var = _map_result(mean_sq, lambda v: np.maximum(v - m * m, 0).astype(v.dtype))
    else:
        mf = mean._flat()
        var = _map_result(mean_sq, lambda v: np.maximum(v - mf * mf, 0).astype(v.dtype))
    if op == "reduce_std":
        return _map_result(var, lambda v: np.sqrt(v).astype(v.dtype))
    return var


def _reduce_axes(op, rt, axes, keepdims):
    """Several axes, as TF's ragged reductions: one axis after another, the highest first
    (the mean is the sum over the axes divided by the count of values summed)."""
    if op == "reduce_mean":
        flat = rt._flat()
        total = _reduce_axes("reduce_sum", rt._rebuild(flat.astype(
            flat.dtype if flat.dtype.kind == "f" else np.float64)), axes, keepdims)
        count = _reduce_axes("reduce_sum", rt._rebuild(np.ones(
            flat.shape, flat.dtype if flat.dtype.kind == "f" else np.float64)), axes, keepdims)
        with np.errstate(invalid="ignore", divide="ignore"):    # an empty group is NaN
            return total / count
    from . import math as _math
    out = rt
    for a in reversed(axes):
        if isinstance(out, RaggedTensor):
            out = reduce(op, out, a, keepdims)
        else:
            out = getattr(_math, op)(out, axis=a, keepdims=keepdims)
    return out


def _expand_dims(x, axis):
    """x (a reduction's result) with a dimension of size 1 inserted at `axis`."""
    if not isinstance(x, RaggedTensor):
        return np.expand_dims(_host(x, "expand_dims"), axis)
    if axis == 0:
        return RaggedTensor.from_row_lengths(x, [x._outer_shape[0]])
    if axis == 1 and len(x._outer_shape) == 1:
        return RaggedTensor.from_row_lengths(x, np.ones(len(x._rows), np.int64))
    if x._sub:
        return x._new([_expand_dims(r, axis - 1) for r in x._rows])
    k = axis - len(x._outer_shape)
    return RaggedTensor([np.expand_dims(r, k) for r in x._rows], x._outer_shape, x._dtype)


def _combine_rows(op, fn, items, np_dt, inner, sub):
    """Axis 0 of a RaggedTensor with several ragged dimensions: entry k of the result reduces
    the k-th entries of the items that have one, recursively (TF aligns them by index)."""
    if sub:
        width = max((len(it._rows) for it in items), default=0)
        rows = [_combine_rows(op, fn, [it._rows[k] for it in items if len(it._rows) > k],
                              np_dt, inner, sub - 1) for k in _brange(width)]
        return RaggedTensor(rows, (width,), _dt.as_dtype(np_dt), sub - 1)
    width = max((len(it) for it in items), default=0)
    out = np.empty((width,) + inner, np_dt)
    for k in _brange(width):
        out[k] = _reduce_rows(op, fn, np.stack([it[k] for it in items if len(it) > k]),
                              np_dt, inner)
    return out


def _reduce_axis(op, fn, rt, axis, np_dt, keepdims):
    ragged_axis = len(rt._outer_shape)
    if rt._sub and keepdims:
        return _expand_dims(_reduce_axis(op, fn, rt, axis, np_dt, False), axis)
    if rt._sub:
        if axis == 0:
            return _combine_rows(op, fn, rt._rows, np_dt, rt._inner(), rt._sub)
        rows = [_reduce_axis(op, fn, r, axis - 1, np_dt, False) for r in rt._rows]
        if rows and not isinstance(rows[0], RaggedTensor) and \
                len({r.shape for r in rows}) == 1 and axis > 1 + rt._sub:
            return np.stack(rows)
        sub = rows[0].ragged_rank if rows and isinstance(rows[0], RaggedTensor) else 0
        return RaggedTensor(rows, (len(rows),), _dt.as_dtype(np_dt), sub)
    inner = rt._inner()
    if axis == ragged_axis:
        out = np.empty((len(rt._rows),) + inner, np_dt)
        for i, r in enumerate(rt._rows):
            out[i] = _reduce_rows(op, fn, r, np_dt, inner)
        out = out.reshape(rt._outer_shape + inner)
        if keepdims:
            out = np.expand_dims(out, axis)
        return out
    if axis == 0 and ragged_axis == 1:
        width = max((len(r) for r in rt._rows), default=0)
        out = np.empty((width,) + inner, np_dt)
        for j in _brange(width):
            col = np.stack([r[j] for r in rt._rows if len(r) > j])
            out[j] = _reduce_rows(op, fn, col, np_dt, inner)
        if keepdims:            # TF: a dense (1, width) result
            return out[None]
        return out
    if axis > ragged_axis:
        rows = [np.asarray(fn(r, axis=axis - ragged_axis)).astype(np_dt) for r in rt._rows]
        if keepdims:
            rows = [np.expand_dims(r, axis - ragged_axis) for r in rows]
        return RaggedTensor(rows, rt._outer_shape, _dt.as_dtype(np_dt))
    raise ValueError(f"[{op}] on a RaggedTensor of shape {rt.shape}, nabi reduces over "
                     f"axis None, 0 (2-D only), the ragged axis {ragged_axis} or an inner "
                     f"axis; got {axis}")


def _empty_ident(op, np_dt, inner):
    if op == "reduce_join":         # tf.strings.reduce_join of an empty row
        return np.full(inner, b"", object)
    if op == "reduce_mean":
        return np.full(inner, np.nan if np_dt.kind == "f" else 0, np_dt)
    if op in _IDENTITY:
        return np.full(inner, _IDENTITY[op], np_dt)
    if np_dt.kind == "f":       # TF: the dtype's lowest / highest finite value, not -inf / inf
        info = np.finfo(np_dt)
        v = info.min if op == "reduce_max" else info.max
    elif np_dt.kind == "b":
        v = op == "reduce_min"
    else:
        info = np.iinfo(np_dt)
        v = info.min if op == "reduce_max" else info.max
    return np.full(inner, v, np_dt)


def _reduce_rows(op, fn, r, np_dt, inner):
    if len(r) == 0:
        return _empty_ident(op, np_dt, inner)
    return np.asarray(fn(r, axis=0)).astype(np_dt)


# ----------------------------------------------------------------------------- shape, spec


class DynamicRaggedShape:
    """What tf.shape returns for a RaggedTensor: the length of every dimension, a number for
    a uniform one and the per-row lengths for a ragged one. Indexing a uniform dimension gives
    its size (a scalar Tensor); a ragged one raises, as in TF."""

    def __init__(self, rt, out_type=_dt.int32):
        self._rt = rt
        self._dtype = _dt.as_dtype(out_type)

    @property
    def rank(self):
        return self._rt.ndim

    @property
    def num_row_partitions(self):
        return self._rt.ragged_rank

    @property
    def dtype(self):
        return self._dtype

    def _lengths(self):
        rt = self._rt
        out = [rt._outer_shape[0] if rt._outer_shape else 1]
        for s in rt._nested_splits():
            ln = np.diff(s)
            out.append(int(ln[0]) if len(ln) and np.all(ln == ln[0]) and
                       len(out) <= len(rt._outer_shape) - 1 else tuple(ln.tolist()))
        return out + list(rt._inner())

    def static_lengths(self):
        return [d if isinstance(d, int) else None for d in self._lengths()]

    def __len__(self):
        return self.rank

    def __getitem__(self, i):
        lengths = self._lengths()
        d = lengths[i]
        if isinstance(d, tuple):
            raise ValueError(f"[shape] Index {i} is not uniform: dimension {i} of a "
                             f"RaggedTensor of shape {self._rt.shape} is ragged")
        return _wrap(np.array(d, self._dtype._np))

    def __repr__(self):
        parts = [str(d) if isinstance(d, int) else "(" + ", ".join(map(str, d)) +
                 ("," if len(d) == 1 else "") + ")" for d in self._lengths()]
        return (f"<DynamicRaggedShape lengths=[{', '.join(parts)}] "
                f"num_row_partitions={self.num_row_partitions}>")


class RaggedTensorSpec:
    """tf.RaggedTensorSpec: the shape, dtype and ragged_rank of a RaggedTensor (a
    dataset's element_spec). ragged_rank 0 describes the dense rows of a sliced 2-D ragged
    tensor, as TF's from_tensor_slices reports them."""

    __slots__ = ("shape", "dtype", "ragged_rank", "row_splits_dtype", "flat_values_spec")

    def __init__(self, shape=None, dtype=_dt.float32, ragged_rank=None,
                 row_splits_dtype=_dt.int64, flat_values_spec=None):
        self.shape = TensorShape(shape) if shape is not None else None
        self.dtype = _dt.as_dtype(dtype)
        if ragged_rank is None:
            ragged_rank = (len(self.shape) - 1) if self.shape is not None else 1
        self.ragged_rank = int(ragged_rank)
        self.row_splits_dtype = _dt.as_dtype(row_splits_dtype)
        self.flat_values_spec = flat_values_spec

    @classmethod
    def from_value(cls, value):
        return cls(value.shape, value.dtype, value.ragged_rank)

    def is_compatible_with(self, other):
        if isinstance(other, RaggedTensor):
            other = RaggedTensorSpec.from_value(other)
        if not isinstance(other, RaggedTensorSpec) or other.dtype != self.dtype:
            return False
        if self.shape is None or other.shape is None:
            return True
        a, b = self.shape.as_list(), other.shape.as_list()
        return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))

    def _key(self):
        return (None if self.shape is None else tuple(self.shape.as_list()), self.dtype.name,
                self.ragged_rank, self.row_splits_dtype.name)

    def __eq__(self, other):
        return isinstance(other, RaggedTensorSpec) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        shape = "<unknown>" if self.shape is None else repr(self.shape)
        return (f"RaggedTensorSpec({shape}, nabi.{self.dtype.name}, {self.ragged_rank}, "
                f"nabi.{self.row_splits_dtype.name})")


# ----------------------------------------------------------------------------- op dispatch

_UNARY = {
    "abs", "negative", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "square", "sin",
    "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "sigmoid", "floor", "ceil", "round", "rint", "sign", "reciprocal", "erf", "erfc",
    "logical_not", "cast", "saturate_cast", "zeros_like", "ones_like", "identity",
    "stop_gradient", "clip_by_value", "is_nan", "is_inf", "is_finite", "softplus",
    "softsign", "relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "leaky_relu",
    "log_sigmoid", "bitwise_not", "invert", "conj", "real", "imag", "angle",
    "lgamma", "digamma", "exp2", "log2", "log10",
}
_BINARY = {
    "add", "subtract", "multiply", "divide", "truediv", "realdiv", "floordiv", "floormod",
    "mod", "pow", "maximum", "minimum", "squared_difference", "equal", "not_equal",
    "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
    "logical_xor", "atan2", "divide_no_nan", "multiply_no_nan", "truncatediv",
    "truncatemod", "xdivy", "xlogy", "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift",
    "right_shift",
}


def _binary_op(fn, x, y, *args, **kwargs):
    """fn on the flat values: two RaggedTensors of one partition, or one and a dense value
    broadcast over it."""
    name = fn.__name__
    if isinstance(x, RaggedTensor) and isinstance(y, RaggedTensor):
        if not x._same_partition(y):
            raise ValueError(f"[{name}] the RaggedTensors' row lengths differ: "
                             f"{_lengths(x)} vs {_lengths(y)}")
        return map_flat_values(fn, x, y, *args, **kwargs)
    rt, other, first = (x, y, True) if isinstance(x, RaggedTensor) else (y, x, False)
    b = _dense_operand(other, rt, name)
    fv = rt.flat_values
    out = fn(fv, b, *args, **kwargs) if first else fn(b, fv, *args, **kwargs)
    return rt._rebuild(_host(out, name, "result"))


def _reduce_op(fn, input_tensor, axis=None, keepdims=False, name=None, **kw):
    return reduce(fn.__name__, input_tensor, axis=axis, keepdims=bool(keepdims))


def _concat_op(fn, values, axis=0, name=None):
    if not any(isinstance(v, RaggedTensor) for v in values):
        return fn(values, axis)
    return concat(values, axis)


def _stack_op(fn, values, axis=0, name=None):
    if not any(isinstance(v, RaggedTensor) for v in values):
        return fn(values, axis)
    return stack(values, axis)


def _add_n_op(fn, inputs, name=None):
    inputs = list(inputs)
    out = inputs[0]
    for x in inputs[1:]:
        out = _binary_op(_add, out, x)
    return out


def _add(x, y):
    from .ops.math_ops import add
    return add(x, y)


def _shape_op(fn, input, out_type=None, name=None):  # noqa: A002 (TF's name)
    if not isinstance(input, RaggedTensor):
        return fn(input) if out_type is None else fn(input, out_type)
    return DynamicRaggedShape(input, _dt.int32 if out_type is None else out_type)


def _size_op(fn, input, out_type=None, name=None):  # noqa: A002
    if not isinstance(input, RaggedTensor):
        return fn(input) if out_type is None else fn(input, out_type=out_type)
    dt = _dt.int32 if out_type is None else _dt.as_dtype(out_type)
    return _wrap(np.array(input._flat().size, dt._np))


def _rank_op(fn, input, name=None):  # noqa: A002
    return _wrap(np.array(input.ndim, np.int32))


def _boolean_mask_op(fn, tensor, mask, axis=None, name=None):
    if axis not in (None, 0):
        raise ValueError(f"[boolean_mask] a RaggedTensor is masked from axis 0, got "
                         f"axis={axis}")
    return boolean_mask(tensor, mask)


def _gather_op(fn, params, indices, validate_indices=None, axis=None, batch_dims=0,
               name=None):
    if isinstance(indices, RaggedTensor) and not isinstance(params, RaggedTensor) and \
            axis in (None, 0) and not batch_dims:
        # TF: dense params gathered by ragged indices keep the indices' row partition
        return indices.with_flat_values(fn(params, indices.flat_values))
    if not isinstance(params, RaggedTensor) or isinstance(indices, RaggedTensor):
        raise TypeError(f"[gather] nabi gathers rows of a RaggedTensor by dense indices; got "
                        f"params {type(params).__name__}, indices {type(indices).__name__}")
    if axis not in (None, 0) or batch_dims:
        raise ValueError(f"[gather] a RaggedTensor is gathered along axis 0, got axis={axis}")
    rt = _as_rows(params)
    idx = _host_ints(np.reshape(_host(indices, "gather", "indices"), -1), "gather", "indices")
    shape = np.shape(_host(indices, "gather", "indices"))
    n = len(rt)
    bad = (idx < 0) | (idx >= n)         # TF refuses negative indices too
    if bad.any():
        raise ValueError(f"[gather] indices {idx[bad].tolist()} are out of range [0, {n}) "
                         f"for a RaggedTensor of {n} rows")
    if shape == ():
        return rt[int(idx[0])]
    rows = rt._new([rt._rows[int(i)] for i in idx])
    if len(shape) > 1:
        return RaggedTensor.from_nested_row_lengths(
            rows, [np.full(int(np.prod(shape[:k])), shape[k], np.int64)
                   for k in _brange(1, len(shape))])
    return rows


def _where_op(fn, condition, x=None, y=None, name=None):
    """tf.where(cond, x, y) with RaggedTensors of one partition (or dense x / y broadcast over
    it), elementwise on the flat values as TF's ragged where."""
    if x is None or y is None:
        raise ValueError("[where] a RaggedTensor condition needs x and y on nabi (TF's "
                         "coordinates form of where is not supported for ragged tensors)")
    ref = next(a for a in (condition, x, y) if isinstance(a, RaggedTensor))
    parts = []
    for a in (condition, x, y):
        if isinstance(a, RaggedTensor):
            if not a._same_partition(ref):
                raise ValueError(f"[where] the RaggedTensors' row lengths differ: "
                                 f"{_lengths(ref)} vs {_lengths(a)}")
            parts.append(a.flat_values)
        else:
            parts.append(_dense_operand(a, ref, "where"))
    return ref._rebuild(_host(fn(*parts), "where", "result"))


def _embedding_lookup_op(fn, params, ids, *args, **kwargs):
    """tf.nn.embedding_lookup(params, ragged_ids): the rows of params, in the ids' ragged
    layout (shape ids.shape + params.shape[1:]), as TF's ragged dispatch."""
    if isinstance(params, RaggedTensor) or not isinstance(ids, RaggedTensor):
        raise TypeError("[embedding_lookup] nabi takes dense params and ragged ids, got params "
                        f"{type(params).__name__}, ids {type(ids).__name__}")
    return ids.with_flat_values(fn(params, ids.flat_values, *args, **kwargs))


def _tile_op(fn, input, multiples, name=None):  # noqa: A002 (TF's name)
    """tf.tile of a RaggedTensor (TF's ragged tile): every dimension, ragged ones included,
    repeated multiples[i] times; a ragged row of length k becomes one of length
    k * multiples[axis]."""
    if not isinstance(input, RaggedTensor):
        raise TypeError("[tile] multiples must be a dense list or Tensor of ints, got a "
                        "RaggedTensor")
    m = _host_ints(np.reshape(_host(multiples, "tile", "multiples"), -1), "tile", "multiples")
    if len(m) != input.ndim:
        raise ValueError(f"[tile] multiples has {len(m)} entries but the RaggedTensor has rank "
                         f"{input.ndim} (shape {input.shape})")
    if (m < 0).any():
        raise ValueError(f"[tile] multiples must be >= 0, got {m.tolist()}")
    return _tile(input, m)


def _tile(rt, m):
    k = len(rt._outer_shape)
    rows = [_tile(r, m[k:]) if isinstance(r, RaggedTensor) else np.tile(r, m[k:])
            for r in rt._rows]
    order = np.tile(np.arange(len(rows)).reshape(rt._outer_shape), m[:k])
    return RaggedTensor([rows[i] for i in order.reshape(-1)], order.shape, rt._dtype, rt._sub)


def _unary_op(fn, *args, **kwargs):
    return map_flat_values(fn, *args, **kwargs)


def _binary_dispatch(fn, *args, **kwargs):
    if len(args) >= 2:
        return _binary_op(fn, *args, **kwargs)
    names = [k for k in kwargs if k not in ("name",)]
    x = args[0] if args else kwargs.pop(names[0])
    rest = [k for k in kwargs if k != "name"]
    y = kwargs.pop(rest[0])
    return _binary_op(fn, x, y, **kwargs)


_HANDLERS = {"concat": _concat_op, "stack": _stack_op, "add_n": _add_n_op,
             "shape": _shape_op, "size": _size_op, "rank": _rank_op,
             "boolean_mask": _boolean_mask_op, "gather": _gather_op, "tile": _tile_op,
             "where": _where_op, "where_v2": _where_op,
             "embedding_lookup": _embedding_lookup_op}
_HANDLERS.update({k: _reduce_op for k in _REDUCERS})
_HANDLERS.update({k: _moment_op for k in ("reduce_variance", "reduce_std")})
_HANDLERS.update({k: _unary_op for k in _UNARY})
_HANDLERS.update({k: _binary_dispatch for k in _BINARY})


def dispatch(fn, args, kwargs):
    """Runs the public op `fn` on arguments that include a RaggedTensor: its ragged rule, or
    `fn` itself for ops without one (which then see the RaggedTensor as before)."""
    handler = _HANDLERS.get(fn.__name__)
    if handler is None:
        return fn(*args, **kwargs)
    return handler(fn, *args, **kwargs)
