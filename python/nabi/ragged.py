"""`nabi.ragged`: a minimal `tf.ragged` and nabi's `RaggedTensor`.

    rt = tf.ragged.constant([[3, 1, 4], [1, 5], [9], [2, 6]])
    rt.row_lengths()               # [3, 2, 1, 2]
    tf.reduce_sum(rt, axis=1)      # [8, 6, 9, 8]
    rt.to_tensor()                 # zero-padded (4, 3)

nabi's RaggedTensor has dense outer dimensions `outer_shape` (one, for the usual 2-D ragged
tensor) and one ragged dimension after them; each row is a host NumPy array whose first axis
is the ragged one (any further axes are uniform, TF's "inner dense dimensions"). Rows whose
own lengths vary again (TF's ragged_rank >= 2 with two ragged axes) are not supported and
raise a clear error. It is a host container: `flat_values` is an ordinary Tensor, but ops on
a RaggedTensor (map_flat_values, the reductions, arithmetic) do not record gradients.
"""
import numpy as np

from . import dtypes as _dt
from .framework.device import DeviceArray
from .framework.tensor import Tensor, TensorShape, _utf8_storage, _wrap, convert_to_tensor

__all__ = ["RaggedTensor", "constant", "map_flat_values", "stack", "row_splits_to_segment_ids"]


def _host(v, op, what="values"):
    if isinstance(v, RaggedTensor):
        raise TypeError(f"[{op}] {what} is a RaggedTensor; nabi supports one ragged dimension")
    if isinstance(v, Tensor):
        a = v._data
        return a.get() if type(a) is DeviceArray else a
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
    (or N-D, ragged first axis) NumPy arrays in C order over `outer_shape`. Build one with
    `tf.ragged.constant` or the `from_row_splits / from_row_lengths / from_value_rowids /
    from_row_starts / from_tensor` class methods."""

    def __init__(self, rows, outer_shape, dtype=None):
        self._rows = list(rows)
        self._outer_shape = tuple(int(d) for d in outer_shape)
        if len(self._rows) != int(np.prod(self._outer_shape, dtype=np.int64)):
            raise ValueError(f"[RaggedTensor] {len(self._rows)} rows do not fill the outer "
                             f"shape {self._outer_shape}")
        self._dtype = _dt.as_dtype(dtype) if dtype is not None else (
            _dt.as_dtype(self._rows[0].dtype) if self._rows else _dt.string)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_row_splits(cls, values, row_splits, name=None, validate=True):
        """Row i is values[row_splits[i]:row_splits[i+1]]."""
        op = "RaggedTensor.from_row_splits"
        v = _host(values, op)
        s = _host_ints(row_splits, op, "row_splits")
        if v.ndim < 1:
            raise ValueError(f"[{op}] values must have rank >= 1, got a scalar {v!r}")
        if s.size < 1 or s[0] != 0 or s[-1] != len(v) or np.any(np.diff(s) < 0):
            raise ValueError(f"[{op}] row_splits must be 1-D, start at 0, not decrease and "
                             f"end at len(values)={len(v)}; got {s.tolist()}")
        return cls([v[s[i]:s[i + 1]] for i in range(len(s) - 1)], (len(s) - 1,),
                   _dt.as_dtype(v.dtype) if v.size or v.dtype.kind != "f" else None)

    @classmethod
    def from_row_lengths(cls, values, row_lengths, name=None, validate=True):
        """Row i holds the next row_lengths[i] values."""
        op = "RaggedTensor.from_row_lengths"
        lengths = _host_ints(row_lengths, op, "row_lengths")
        n = len(_host(values, op))
        if np.any(lengths < 0) or lengths.sum() != n:
            raise ValueError(f"[{op}] row_lengths must be >= 0 and sum to len(values)={n}; "
                             f"got {lengths.tolist()}")
        return cls.from_row_splits(values, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def from_row_starts(cls, values, row_starts, name=None, validate=True):
        op = "RaggedTensor.from_row_starts"
        starts = _host_ints(row_starts, op, "row_starts")
        n = len(_host(values, op))
        return cls.from_row_splits(values, np.concatenate([starts, [n]]))

    @classmethod
    def from_value_rowids(cls, values, value_rowids, nrows=None, name=None, validate=True):
        """values[i] goes to row value_rowids[i]; the ids must not decrease. `nrows` (default
        max id + 1) may add empty rows at the end."""
        op = "RaggedTensor.from_value_rowids"
        ids = _host_ints(value_rowids, op, "value_rowids")
        n = len(_host(values, op))
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
    def from_tensor(cls, tensor, lengths=None, padding=None, ragged_rank=1, name=None):
        """Rows of a dense tensor (rank >= 2), cut to `lengths`, or with trailing `padding`
        values stripped."""
        op = "RaggedTensor.from_tensor"
        a = _host(tensor, op, "tensor")
        if a.ndim < 2:
            raise ValueError(f"[{op}] tensor must have rank >= 2, got shape {a.shape}")
        if lengths is not None and padding is not None:
            raise ValueError(f"[{op}] give lengths or padding, not both")
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

    def with_flat_values(self, new_values):
        """The same row partition over new flat values (same number of values)."""
        v = _host(new_values, "RaggedTensor.with_flat_values")
        if len(v) != self._nvals():
            raise ValueError(f"[RaggedTensor.with_flat_values] expected {self._nvals()} values, "
                             f"got shape {v.shape}")
        s = self._splits()
        return RaggedTensor([v[s[i]:s[i + 1]] for i in range(len(self._rows))],
                            self._outer_shape, _dt.as_dtype(v.dtype))

    with_values = with_flat_values

    # ------------------------------------------------------------------ properties

    def _splits(self):
        return np.concatenate([[0], np.cumsum([len(r) for r in self._rows])]).astype(np.int64)

    def _nvals(self):
        return int(sum(len(r) for r in self._rows))

    def _flat(self):
        if self._rows:
            return np.concatenate(self._rows)
        return np.zeros(0, self._dtype._np)

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        inner = tuple(self._rows[0].shape[1:]) if self._rows else ()
        return TensorShape(self._outer_shape + (None,) + inner)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def ragged_rank(self):
        return max(1, len(self._outer_shape))

    @property
    def flat_values(self):
        return _out(self._flat())

    @property
    def values(self):
        return self.flat_values

    @property
    def row_splits(self):
        """int64 offsets of the rows in flat_values: nrows + 1 entries starting at 0."""
        return _wrap(self._splits())

    def row_lengths(self, axis=1, name=None):
        return _wrap(np.array([len(r) for r in self._rows], np.int64).reshape(self._outer_shape))

    def row_starts(self, name=None):
        return _wrap(self._splits()[:-1])

    def row_limits(self, name=None):
        return _wrap(self._splits()[1:])

    def value_rowids(self, name=None):
        return _wrap(np.repeat(np.arange(len(self._rows), dtype=np.int64),
                               [len(r) for r in self._rows]))

    def nrows(self, out_type=None, name=None):
        n = self._outer_shape[0] if self._outer_shape else 1
        return _wrap(np.array(n, np.int64 if out_type is None else _dt.as_dtype(out_type)._np))

    def bounding_shape(self, axis=None, name=None):
        width = max((len(r) for r in self._rows), default=0)
        inner = tuple(self._rows[0].shape[1:]) if self._rows else ()
        full = np.array(self._outer_shape + (width,) + inner, np.int64)
        return _wrap(full if axis is None else full[axis])

    # ------------------------------------------------------------------ conversion

    def to_list(self):
        def nest(k, depth):
            if depth == len(self._outer_shape):
                return self._rows[k].tolist()
            step = int(np.prod(self._outer_shape[depth + 1:], dtype=np.int64))
            return [nest(k + i * step, depth + 1) for i in range(self._outer_shape[depth])]
        return nest(0, 0)

    def to_tensor(self, default_value=None, name=None, shape=None):
        """A dense tensor: rows padded with `default_value` (b'' for strings, 0 for numbers)
        to the longest row. `shape` (None entries keep the natural size) pads or truncates
        the row count (for a 2-D ragged tensor) and the row width, as TF does."""
        width = max((len(r) for r in self._rows), default=0)
        inner = tuple(self._rows[0].shape[1:]) if self._rows else ()
        nrows = None
        if shape is not None:
            shape = list(shape.as_list() if isinstance(shape, TensorShape) else shape)
            nd = len(self._outer_shape) + 1 + len(inner)
            if len(shape) != nd:
                raise ValueError(f"[RaggedTensor.to_tensor] shape {shape} must have rank {nd} "
                                 f"for a ragged tensor of shape {self.shape}")
            r = len(self._outer_shape)
            if shape[r] is not None:
                width = int(shape[r])
            if r == 1 and shape[0] is not None:
                nrows = int(shape[0])
        np_dtype = self._dtype._np
        if default_value is None:
            default_value = b"" if np_dtype.kind == "O" else 0
        elif isinstance(default_value, Tensor):
            default_value = default_value.numpy()
        if isinstance(default_value, str) and np_dtype.kind == "O":
            default_value = default_value.encode("utf-8")
        out = np.empty((len(self._rows), width) + inner, dtype=np_dtype)
        out[...] = default_value
        for i, r in enumerate(self._rows):
            k = min(len(r), width)
            out[i, :k] = r[:k]
        out = out.reshape(self._outer_shape + (width,) + inner)
        if nrows is not None:
            if nrows <= out.shape[0]:
                out = out[:nrows]
            else:
                pad = np.empty((nrows - out.shape[0],) + out.shape[1:], np_dtype)
                pad[...] = default_value
                out = np.concatenate([out, pad])
        return _out(out)

    def numpy(self):
        """Like TF: an object array of the rows (NumPy arrays) over the outer shape."""
        out = np.empty(len(self._rows), dtype=object)
        out[:] = [r for r in self._rows]
        return out.reshape(self._outer_shape)

    # ------------------------------------------------------------------ indexing

    def __len__(self):
        if not self._outer_shape:
            raise TypeError("len() of a scalar RaggedTensor")
        return self._outer_shape[0]

    def __getitem__(self, i):
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
                return RaggedTensor(rows, row._outer_shape, self._dtype)
            if isinstance(row, RaggedTensor):
                return row[rest]
            return row[rest if len(rest) > 1 else rest[0]]
        n = len(self)
        if isinstance(i, slice):
            if len(self._outer_shape) != 1:
                raise TypeError("[RaggedTensor] slicing is supported on 2-D ragged tensors only")
            rows = self._rows[i]
            return RaggedTensor(rows, (len(rows),), self._dtype)
        if isinstance(i, Tensor):
            i = i.numpy().item()
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"[RaggedTensor] indices must be integers or slices, got {i!r}")
        if not -n <= i < n:
            raise IndexError(f"[RaggedTensor] index {i} is out of range for {n} rows")
        i %= n
        if len(self._outer_shape) == 1:
            return _out(self._rows[i])
        step = int(np.prod(self._outer_shape[1:], dtype=np.int64))
        return RaggedTensor(self._rows[i * step:(i + 1) * step], self._outer_shape[1:],
                            self._dtype)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        return f"<nabi.RaggedTensor {self.to_list()!r}>"

    # ------------------------------------------------------------------ elementwise

    def _binary(self, other, fn, op):
        if isinstance(other, RaggedTensor):
            if other._outer_shape != self._outer_shape or \
                    [len(r) for r in other._rows] != [len(r) for r in self._rows]:
                raise ValueError(f"[RaggedTensor.{op}] the operands' row lengths differ: "
                                 f"{self.row_lengths().numpy().tolist()} vs "
                                 f"{other.row_lengths().numpy().tolist()}")
            b = other._flat()
        else:
            b = _host(other, f"RaggedTensor.{op}", "operand")
            if b.ndim > 0:
                raise ValueError(f"[RaggedTensor.{op}] a RaggedTensor combines with a scalar "
                                 f"or a RaggedTensor of the same row lengths, got shape "
                                 f"{b.shape}")
        out = fn(self._flat(), b)
        if out.dtype != self._flat().dtype and out.dtype.kind == self._flat().dtype.kind:
            out = out.astype(self._flat().dtype)
        return self.with_flat_values(out)

    def __add__(self, o):
        return self._binary(o, np.add, "__add__")

    def __radd__(self, o):
        return self._binary(o, lambda a, b: b + a, "__radd__")

    def __sub__(self, o):
        return self._binary(o, np.subtract, "__sub__")

    def __rsub__(self, o):
        return self._binary(o, lambda a, b: b - a, "__rsub__")

    def __mul__(self, o):
        return self._binary(o, np.multiply, "__mul__")

    def __rmul__(self, o):
        return self._binary(o, lambda a, b: b * a, "__rmul__")

    def __truediv__(self, o):
        return self._binary(o, np.true_divide, "__truediv__")

    def __neg__(self):
        return self.with_flat_values(-self._flat())


# ----------------------------------------------------------------------------- tf.ragged


def _depth(x):
    d = 0
    while isinstance(x, (list, tuple)):
        if not x:
            return d + 1
        x = x[0]
        d += 1
    return d


def _leaves_dtype(flat, dtype):
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
        if dt == _dt.string:
            a = np.empty(len(flat), object)
            a[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
            return a
        return np.array(flat, dt._np) if flat else np.zeros(0, dt._np)
    if not flat:
        return np.zeros(0, np.float32)
    if all(isinstance(v, (str, bytes)) for v in flat):
        a = np.empty(len(flat), object)
        a[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
        return a
    a = np.array(flat)
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    if a.dtype.kind in "iu":
        if a.size and (a.max() > np.iinfo(np.int32).max or a.min() < np.iinfo(np.int32).min):
            return a.astype(np.int64)
        return a.astype(np.int32)
    if a.dtype.kind == "b":
        return a
    raise TypeError(f"[ragged.constant] unsupported values {flat[:3]!r} (dtype {a.dtype})")


def constant(pylist, dtype=None, ragged_rank=None, inner_shape=None, name=None,
             row_splits_dtype=None):
    """A RaggedTensor from a nested Python list (numbers, bools or strings): the last nesting
    level before the values, or `ragged_rank` levels from the outside, is the ragged one; the
    levels above it must have uniform lengths and deeper levels form uniform inner
    dimensions."""
    op = "ragged.constant"
    if isinstance(pylist, RaggedTensor):
        return pylist
    if not isinstance(pylist, (list, tuple)):
        raise ValueError(f"[{op}] pylist must be a nested list, got {type(pylist).__name__}")
    depth = _depth(pylist)
    if ragged_rank is None:
        ragged_rank = depth - 1 if inner_shape is None else depth - 1 - len(inner_shape)
    ragged_rank = int(ragged_rank)
    if ragged_rank < 1:
        raise ValueError(f"[{op}] ragged_rank must be >= 1 (a nested list of depth >= 2), "
                         f"got ragged_rank={ragged_rank} for depth {depth}")
    # the levels above the ragged one must have uniform lengths: nabi's dense outer shape
    rows_src, outer_shape = [pylist], []
    for d in range(ragged_rank):
        if not all(isinstance(x, (list, tuple)) for x in rows_src):
            raise ValueError(f"[{op}] nesting depth {d} mixes lists and scalars")
        lens = sorted({len(x) for x in rows_src})
        if len(lens) > 1:
            raise ValueError(f"[{op}] nabi's RaggedTensor has one ragged dimension; level {d} "
                             f"has varying lengths {lens} (ragged_rank={ragged_rank})")
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
            raise ValueError(f"[{op}] nabi's RaggedTensor has one ragged dimension; the "
                             f"inner lists of row {r!r} have varying lengths")
        shp = arr.shape[1:]
        if r:
            if inner is None:
                inner = shp
            elif inner != shp:
                raise ValueError(f"[{op}] inner dimensions differ between rows: {inner} vs "
                                 f"{shp}")
        row_lens.append(len(r))
        flat_leaves.extend(arr.reshape(-1).tolist())
    inner = inner or ()
    if inner_shape is not None and tuple(inner_shape) != tuple(inner) and flat_leaves:
        raise ValueError(f"[{op}] inner_shape {tuple(inner_shape)} does not match the values' "
                         f"inner shape {inner}")
    vals = _leaves_dtype(flat_leaves, dtype).reshape((-1,) + tuple(inner))
    splits = np.concatenate([[0], np.cumsum(row_lens)]).astype(np.int64)
    rows = [vals[splits[i]:splits[i + 1]] for i in range(len(row_lens))]
    return RaggedTensor(rows, outer_shape, _dt.as_dtype(vals.dtype))


def map_flat_values(op, *args, **kwargs):
    """`op` applied to the flat values of the RaggedTensor arguments (which must share their
    row lengths); the result keeps their row partition. Other arguments pass through."""
    ragged = [a for a in list(args) + list(kwargs.values()) if isinstance(a, RaggedTensor)]
    if not ragged:
        raise ValueError("[ragged.map_flat_values] expected at least one RaggedTensor argument")
    lens = [len(r) for r in ragged[0]._rows]
    for r in ragged[1:]:
        if [len(x) for x in r._rows] != lens or r._outer_shape != ragged[0]._outer_shape:
            raise ValueError("[ragged.map_flat_values] the RaggedTensor arguments have different "
                             "row lengths")

    def sub(a):
        return a.flat_values if isinstance(a, RaggedTensor) else a
    out = op(*[sub(a) for a in args], **{k: sub(v) for k, v in kwargs.items()})
    n = ragged[0]._nvals()
    v = _host(out, "ragged.map_flat_values", "op's result")
    if v.ndim < 1 or len(v) != n:
        raise ValueError(f"[ragged.map_flat_values] op must keep the number of values ({n}); "
                         f"its result has shape {v.shape}")
    return ragged[0].with_flat_values(v)


def stack(values, axis=0, name=None):
    """Stacks 2-D RaggedTensors (or nested lists / 1-D tensors as rows) along axis 0: the
    result's rows are the inputs' rows in order (TF's stack of 1-D rows), for 1-D inputs;
    2-D RaggedTensors concatenate their rows."""
    if axis != 0:
        raise ValueError(f"[ragged.stack] only axis=0 is supported, got axis={axis}")
    rows = []
    for v in values:
        if isinstance(v, RaggedTensor):
            raise ValueError("[ragged.stack] stacking RaggedTensors would need two ragged "
                             "dimensions, which nabi does not support; use concat-like "
                             "RaggedTensor.from_row_lengths instead")
        a = _host(v, "ragged.stack")
        if a.ndim != 1:
            raise ValueError(f"[ragged.stack] expected 1-D rows, got shape {a.shape}")
        rows.append(a)
    kinds = {r.dtype.kind for r in rows if r.size}
    if len(kinds) > 1:
        raise TypeError(f"[ragged.stack] rows have different dtypes: {[r.dtype for r in rows]}")
    dt = next((r.dtype for r in rows if r.size), rows[0].dtype if rows else np.float32)
    return RaggedTensor([r.astype(dt) for r in rows], (len(rows),), _dt.as_dtype(dt))


def row_splits_to_segment_ids(splits, name=None, out_type=None):
    s = _host_ints(splits, "ragged.row_splits_to_segment_ids", "splits")
    return _wrap(np.repeat(np.arange(len(s) - 1, dtype=np.int64), np.diff(s)))


# ----------------------------------------------------------------------------- reductions


_IDENTITY = {"reduce_sum": 0, "reduce_prod": 1}


def reduce(op, rt, axis=None, keepdims=False):
    """TF's ragged reductions: axis None (all values), the ragged axis (each row, a dense
    result; an empty row gives the identity: 0 for sum, 1 for prod, the dtype's lowest /
    highest value for max / min, NaN for mean), or axis 0 of a 2-D ragged tensor (each
    column over the rows long enough to have it)."""
    fns = {"reduce_sum": np.sum, "reduce_prod": np.prod, "reduce_max": np.max,
           "reduce_min": np.min, "reduce_mean": np.mean}
    if op not in fns:
        raise ValueError(f"[{op}] is not supported on a RaggedTensor")
    fn = fns[op]
    flat = rt._flat()
    if flat.dtype.kind not in "iufb":
        raise TypeError(f"[{op}] needs a numeric RaggedTensor, got dtype {rt.dtype.name}")
    np_dt = flat.dtype
    nd = rt.ndim
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"[{op}] a RaggedTensor reduces over one axis or all, got "
                             f"axis={axis}")
        axis = axis[0]
    if axis is None:
        if op == "reduce_mean" and flat.dtype.kind in "iu":
            r = np.array(int(flat.sum()) // max(1, flat.size), np_dt)
        else:
            r = fn(flat, axis=tuple(range(flat.ndim)) or None) if flat.size or op in \
                _IDENTITY or op == "reduce_mean" else _empty_ident(op, np_dt, ())
        r = np.asarray(r).astype(np_dt)
        if keepdims:
            r = r.reshape((1,) * nd)
        return _out(r)
    axis = int(axis)
    if not -nd <= axis < nd:
        raise ValueError(f"[{op}] axis {axis} is out of range for a RaggedTensor of rank {nd}")
    axis %= nd
    ragged_axis = len(rt._outer_shape)
    inner = tuple(rt.shape.as_list()[ragged_axis + 1:])
    if axis == ragged_axis:
        out = np.empty((len(rt._rows),) + inner, np_dt)
        for i, r in enumerate(rt._rows):
            out[i] = _reduce_rows(op, fn, r, np_dt, inner)
        out = out.reshape(rt._outer_shape + inner)
        if keepdims:
            out = np.expand_dims(out, axis)
        return _out(out)
    if axis == 0 and ragged_axis == 1:
        width = max((len(r) for r in rt._rows), default=0)
        out = np.empty((width,) + inner, np_dt)
        for j in range(width):
            col = np.stack([r[j] for r in rt._rows if len(r) > j])
            out[j] = _reduce_rows(op, fn, col, np_dt, inner)
        if keepdims:
            return RaggedTensor([out], (1,), _dt.as_dtype(np_dt))
        return _out(out)
    raise ValueError(f"[{op}] on a RaggedTensor of shape {rt.shape}, nabi reduces over "
                     f"axis None, 0 (2-D only) or the ragged axis {ragged_axis}; got {axis}")


def _empty_ident(op, np_dt, inner):
    if op == "reduce_mean":
        return np.full(inner, np.nan if np_dt.kind == "f" else 0, np_dt)
    if op in _IDENTITY:
        return np.full(inner, _IDENTITY[op], np_dt)
    if np_dt.kind == "f":
        v = -np.inf if op == "reduce_max" else np.inf
    elif np_dt.kind == "b":
        v = op == "reduce_min"
    else:
        info = np.iinfo(np_dt)
        v = info.min if op == "reduce_max" else info.max
    return np.full(inner, v, np_dt)


def _reduce_rows(op, fn, r, np_dt, inner):
    if len(r) == 0:
        return _empty_ident(op, np_dt, inner)
    if op == "reduce_mean" and np_dt.kind in "iu":
        return (r.sum(axis=0) // len(r)).astype(np_dt)   # TF: integer sum / integer count
    return np.asarray(fn(r, axis=0)).astype(np_dt)
