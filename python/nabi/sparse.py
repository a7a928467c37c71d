"""`nabi.sparse`: a minimal `tf.sparse` built on nabi's dense ops.

    sp = tf.sparse.SparseTensor(indices=[[0, 0], [1, 2]], values=[1., 2.], dense_shape=[3, 4])
    tf.sparse.to_dense(sp)                 # (3, 4) with 1 at [0, 0] and 2 at [1, 2]
    tf.sparse.sparse_dense_matmul(sp, w)   # differentiable w.r.t. w and sp.values

A SparseTensor holds `indices` (int64, (N, rank), on the host), `values` (a Tensor of N
values, kept as given so gradients reach it) and `dense_shape` (int64, (rank,)). The ops
that produce dense results (to_dense, sparse_dense_matmul, reduce_sum, add with a dense
operand) are made of scatter_nd / gather / multiply, so they record gradients for the values
and the dense operands.
"""
import numpy as np

from . import dtypes as _dt
from .framework.device import DeviceArray
from .framework.tensor import Tensor, TensorShape, _wrap, convert_to_tensor

__all__ = ["SparseTensor", "SparseTensorSpec", "to_dense", "from_dense", "sparse_dense_matmul",
           "reorder", "reduce_sum", "add", "transpose", "retain", "concat", "slice", "map_values",
           "reshape", "expand_dims", "eye", "fill_empty_rows", "split", "maximum", "minimum",
           "reduce_max", "to_indicator", "softmax", "segment_sum", "segment_mean",
           "segment_sqrt_n", "bincount", "cross", "cross_hashed"]


def _host_int64(v, op, what):
    if isinstance(v, Tensor):
        a = v._data
        a = a.get() if type(a) is DeviceArray else a
    else:
        a = np.asarray(v)
    if a.size == 0:
        return a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] {what} must be integers, got dtype {a.dtype} and shape "
                        f"{a.shape}")
    return a.astype(np.int64)


class SparseTensor:
    """TF's COO sparse tensor: values[i] sits at indices[i] of a tensor of dense_shape."""

    def __init__(self, indices, values, dense_shape):
        op = "SparseTensor"
        ind = _host_int64(indices, op, "indices")
        shape = _host_int64(dense_shape, op, "dense_shape")
        if shape.ndim != 1:
            raise ValueError(f"[{op}] dense_shape must be 1-D, got shape {shape.shape}")
        if ind.size == 0 and not (ind.ndim == 2 and ind.shape[1] == shape.size):
            ind = ind.reshape(0, shape.size)     # [] (a rank-0 tensor keeps its (1, 0))
        if ind.ndim != 2 or ind.shape[1] != shape.size:
            raise ValueError(f"[{op}] indices must have shape (N, rank={shape.size}), got "
                             f"{ind.shape} (dense_shape {shape.tolist()})")
        vals = values if isinstance(values, Tensor) else convert_to_tensor(values)
        if vals._data.ndim != 1 or vals._data.shape[0] != ind.shape[0]:
            raise ValueError(f"[{op}] values must be 1-D with one value per index row "
                             f"({ind.shape[0]}), got shape {tuple(vals._data.shape)}")
        if np.any(shape < 0):
            raise ValueError(f"[{op}] dense_shape must be >= 0, got {shape.tolist()}")
        bad = (ind < 0) | (ind >= shape)
        if bad.any():
            i = int(np.argwhere(bad.any(axis=1))[0, 0])
            raise ValueError(f"[{op}] indices[{i}] = {ind[i].tolist()} is out of bounds for "
                             f"dense_shape {shape.tolist()}")
        self._indices = ind
        self._values = vals
        self._shape = shape

    @classmethod
    def from_value(cls, value):
        return value if isinstance(value, SparseTensor) else from_dense(value)

    @property
    def indices(self):
        return _wrap(self._indices)

    @property
    def values(self):
        return self._values

    @property
    def dense_shape(self):
        return _wrap(self._shape)

    @property
    def shape(self):
        return TensorShape([int(d) for d in self._shape])

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def ndim(self):
        return int(self._shape.size)

    def with_values(self, new_values):
        return SparseTensor(self._indices, new_values, self._shape)

    def get_shape(self):
        return self.shape

    def _cwise(self, other, op, fn):
        """TF's sparse_dense_cwise_mul/div: each value with the dense operand (a scalar or a
        tensor that broadcasts to dense_shape) at its index; the result keeps the indices."""
        if isinstance(other, SparseTensor):
            return NotImplemented
        d = other if isinstance(other, Tensor) else convert_to_tensor(other, dtype=self.dtype) \
            if not isinstance(other, np.ndarray) else convert_to_tensor(other)
        shape = tuple(int(x) for x in self._shape)
        dshape = tuple(d._data.shape)
        try:
            np.broadcast_shapes(dshape, shape)
        except ValueError:
            raise ValueError(f"[SparseTensor.{op}] the dense operand of shape {dshape} does not "
                             f"broadcast to the dense_shape {list(shape)}") from None
        if len(dshape) > len(shape):
            raise ValueError(f"[SparseTensor.{op}] the dense operand of shape {dshape} has a "
                             f"higher rank than the dense_shape {list(shape)}")
        from . import ops as _ops
        if d._data.ndim == 0:
            picked = d
        else:
            full = _ops.broadcast_to(d, shape)
            picked = _ops.gather_nd(full, self._indices)
        return SparseTensor(self._indices, fn(self._values, picked), self._shape)

    def __mul__(self, other):
        from . import ops as _ops
        return self._cwise(other, "__mul__", _ops.multiply)

    __rmul__ = __mul__

    def __truediv__(self, other):
        from . import ops as _ops

        def divide(values, divisor):
            if np.any(np.asarray(divisor.numpy()) == 0):
                from .errors import InvalidArgumentError   # TF's SparseDenseCwiseDiv check
                raise InvalidArgumentError(
                    f"[SparseTensor.__truediv__] cannot divide by zero: the dense operand is "
                    f"0 at an index of the SparseTensor (dense_shape {self._shape.tolist()})")
            return _ops.divide(values, divisor)
        return self._cwise(other, "__truediv__", divide)

    def __repr__(self):
        return (f"SparseTensor(indices={self._indices.tolist()}, values="
                f"{self._values.numpy().tolist()}, dense_shape={self._shape.tolist()})")


class SparseTensorSpec:
    """tf.SparseTensorSpec: the dense shape (None for unknown dimensions) and dtype of a
    SparseTensor (a dataset's element_spec)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape=None, dtype=_dt.float32):
        self.shape = None if shape is None else TensorShape(shape)
        self.dtype = _dt.as_dtype(dtype)

    @classmethod
    def from_value(cls, value):
        return cls(value.shape, value.dtype)

    def is_compatible_with(self, other):
        if isinstance(other, SparseTensor):
            other = SparseTensorSpec.from_value(other)
        if not isinstance(other, SparseTensorSpec) or other.dtype != self.dtype:
            return False
        if self.shape is None or other.shape is None:
            return True
        return len(self.shape) == len(other.shape) and all(
            x is None or y is None or x == y for x, y in zip(self.shape, other.shape))

    def _key(self):
        return (None if self.shape is None else tuple(self.shape), self.dtype.name)

    def __eq__(self, other):
        return isinstance(other, SparseTensorSpec) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        shape = "<unknown>" if self.shape is None else repr(self.shape)
        return f"SparseTensorSpec({shape}, nabi.{self.dtype.name})"


def _rows_of(sp, rows):
    """The SparseTensor of the given rows (first-dimension indices, in order) of sp."""
    from .ops.array_ops import gather
    rows = np.asarray(rows, np.int64).reshape(-1)
    ind = sp._indices
    picks, new_ind = [], []
    for k, r in enumerate(rows.tolist()):
        sel = np.nonzero(ind[:, 0] == r)[0]
        picks.append(sel)
        block = ind[sel].copy()
        block[:, 0] = k
        new_ind.append(block)
    sel = np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, np.int64)
    new_ind = np.concatenate(new_ind) if new_ind else np.zeros((0, sp.ndim), np.int64)
    shape = sp._shape.copy()
    shape[0] = len(rows)
    return SparseTensor(new_ind, gather(sp._values, sel) if sp._values._data.dtype.kind != "O"
                        else _wrap(sp._values.numpy()[sel]), shape)


def _row(sp, i):
    """Row i of sp as a SparseTensor of rank - 1 (a dataset slice)."""
    one = _rows_of(sp, [i])
    return SparseTensor(one._indices[:, 1:], one._values, one._shape[1:])


def _batch(sps):
    """SparseTensors of one rank stacked along a new first dimension; the dense shape is the
    largest of each dimension (tf.data's batch of sparse elements)."""
    from .ops.array_ops import concat as dense_concat
    ranks = {sp.ndim for sp in sps}
    if len(ranks) > 1:
        raise ValueError(f"[batch] cannot batch SparseTensors of different ranks: "
                         f"{[sp._shape.tolist() for sp in sps]}")
    ind = [np.concatenate([np.full((len(sp._indices), 1), k, np.int64), sp._indices], axis=1)
           for k, sp in enumerate(sps)]
    shape = np.concatenate([[len(sps)], np.max(np.stack([sp._shape for sp in sps]), axis=0)])
    if sps[0]._values._data.dtype.kind == "O":
        vals = _wrap(np.concatenate([sp._values.numpy().reshape(-1) for sp in sps]))
    else:
        vals = dense_concat([sp._values for sp in sps], 0)
    return SparseTensor(np.concatenate(ind).reshape(-1, len(shape)), vals, shape)


def _check_sparse(op, sp):
    if not isinstance(sp, SparseTensor):
        raise TypeError(f"[{op}] expected a SparseTensor, got {type(sp).__name__}")


def _check_order(op, sp):
    ind = sp._indices
    if len(ind) < 2:
        return
    flat = np.ravel_multi_index(ind.T, sp._shape) if sp._shape.size else np.zeros(len(ind))
    d = np.diff(flat)
    if np.any(d <= 0):
        i = int(np.argmax(d <= 0)) + 1
        what = "repeated" if d[i - 1] == 0 else "out of order"
        from .errors import InvalidArgumentError   # TF's error (a ValueError too)
        raise InvalidArgumentError(f"[{op}] indices[{i}] = {ind[i].tolist()} is {what}. Many "
                                   "sparse ops require sorted indices. Use `tf.sparse.reorder` "
                                   "to create a correctly ordered copy.")


def to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """The dense tensor: the values at their indices, `default_value` (0) elsewhere.
    Differentiable w.r.t. the values."""
    from .ops.array_ops import where
    from .ops.math_ops import cast
    from .ops.scatter_ops import scatter_nd
    op = "sparse.to_dense"
    _check_sparse(op, sp_input)
    if validate_indices:
        _check_order(op, sp_input)
    else:
        sp_input = _last_of_repeats(sp_input)    # TF writes in order: the last value wins
    vals = sp_input._values
    shape = [int(d) for d in sp_input._shape]
    if vals._data.dtype.kind == "O":
        out = np.empty(shape, object)
        out[...] = b"" if default_value is None else (
            default_value.encode() if isinstance(default_value, str) else default_value)
        for i, v in zip(sp_input._indices, vals.numpy().tolist()):
            out[tuple(i)] = v
        return _wrap(out)
    if vals._data.dtype.kind == "b":
        dense = scatter_nd(sp_input._indices, cast(vals, _dt.int32), shape)
        out = cast(dense, _dt.bool)
        if default_value:
            mask = np.zeros(shape, bool)
            mask[tuple(sp_input._indices.T)] = True
            out = where(convert_to_tensor(mask), out, convert_to_tensor(np.ones(shape, bool)))
        return out
    dense = scatter_nd(sp_input._indices, vals, shape)
    if default_value is not None and default_value != 0:
        mask = np.ones(shape, bool)
        if len(sp_input._indices):
            mask[tuple(sp_input._indices.T)] = False
        fill = convert_to_tensor(np.where(mask, default_value, 0).astype(vals._data.dtype))
        dense = dense + fill
    return dense


def _last_of_repeats(sp):
    """sp without the earlier entries of a repeated index (the last one stays)."""
    ind = sp._indices
    if len(ind) < 2 or not sp._shape.size:
        return sp
    flat = np.ravel_multi_index(ind.T, sp._shape)
    _, last_rev = np.unique(flat[::-1], return_index=True)
    if len(last_rev) == len(flat):
        return sp
    keep = np.sort(len(flat) - 1 - last_rev).astype(np.int64)
    return SparseTensor(ind[keep], _take(sp._values, keep), sp._shape)


def _take(values, idx):
    from .ops.array_ops import gather
    if values._data.dtype.kind == "O":
        return _wrap(values.numpy()[idx])
    return gather(values, idx)


def _summed_dense(sp):
    """The dense tensor with repeated indices added up (scatter_nd), as TF's sparse
    reductions and sparse + dense treat them."""
    from .ops.scatter_ops import scatter_nd
    if sp._values._data.dtype.kind in "Ob":
        return to_dense(sp, validate_indices=False)
    return scatter_nd(sp._indices, sp._values, [int(d) for d in sp._shape])


def from_dense(tensor, name=None):
    """A SparseTensor of the nonzero (non-empty, for strings) entries, in row-major order."""
    from .ops.array_ops import gather_nd
    t = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    a = t._data.get() if type(t._data) is DeviceArray else t._data
    nz = (a != b"") if a.dtype.kind == "O" else (a != 0)
    ind = np.argwhere(nz).astype(np.int64)
    if a.ndim == 0:
        raise ValueError("[sparse.from_dense] tensor must have rank >= 1, got a scalar")
    vals = gather_nd(t, ind) if a.dtype.kind != "O" else _wrap(a[nz])
    return SparseTensor(ind, vals, np.array(a.shape, np.int64))


def reorder(sp_input, name=None):
    """The same SparseTensor with its entries in row-major (lexicographic index) order."""
    from .ops.array_ops import gather
    _check_sparse("sparse.reorder", sp_input)
    ind = sp_input._indices
    if len(ind) == 0:
        return sp_input
    perm = np.lexsort(ind.T[::-1]).astype(np.int64)
    return SparseTensor(ind[perm], gather(sp_input._values, perm), sp_input._shape)


def transpose(sp_input, perm=None, name=None):
    """The SparseTensor with its dimensions permuted (reversed by default), reordered."""
    _check_sparse("sparse.transpose", sp_input)
    r = sp_input.ndim
    perm = list(range(r))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(r)):
        raise ValueError(f"[sparse.transpose] perm must be a permutation of 0..{r - 1}, got "
                         f"{perm}")
    sp = SparseTensor(sp_input._indices[:, perm], sp_input._values, sp_input._shape[perm])
    return reorder(sp)


def retain(sp_input, to_retain):
    """The entries where the boolean vector `to_retain` is True."""
    from .ops.array_ops import gather
    keep = np.asarray(to_retain.numpy() if isinstance(to_retain, Tensor) else to_retain, bool)
    if keep.shape != (len(sp_input._indices),):
        raise ValueError(f"[sparse.retain] to_retain must have shape "
                         f"({len(sp_input._indices)},), got {keep.shape}")
    idx = np.nonzero(keep)[0].astype(np.int64)
    return SparseTensor(sp_input._indices[idx], gather(sp_input._values, idx),
                        sp_input._shape)


def sparse_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """op(sp_a) (M, K) @ op(b) (K, N) -> dense (M, N) without densifying sp_a: each entry
    value * b[col, :] is added into row `row` of the result (op: the conjugate transpose
    when adjoint_*). A dense `sp_a` with a SparseTensor `b` works too, through
    (A B)^T = B^T A^T. Gradients flow to the dense operand and to the sparse values."""
    from .ops.array_ops import transpose as dtranspose
    op = "sparse.sparse_dense_matmul"
    if isinstance(b, SparseTensor) and not isinstance(sp_a, SparseTensor):
        at = sp_a if isinstance(sp_a, Tensor) else convert_to_tensor(sp_a, dtype=b.dtype)
        rows, cols, vals, n, k = _entries(op, b, not adjoint_b, conj=adjoint_b)
        if at._data.ndim != 2:
            raise ValueError(f"[{op}] the dense operand must be 2-D, got shape "
                             f"{tuple(at._data.shape)}")
        dense = at if adjoint_a else dtranspose(at)           # op(A)^T, conjugated below
        if adjoint_a and at.dtype.is_complex:
            from .ops.complex_ops import conj
            dense = conj(at)
        return dtranspose(_spmm(op, rows, cols, vals, n, k, dense, adjoint_a, adjoint_b))
    _check_sparse(op, sp_a)
    rows, cols, vals, m, k = _entries(op, sp_a, adjoint_a, conj=adjoint_a)
    bt = b if isinstance(b, Tensor) else convert_to_tensor(b, dtype=sp_a.dtype)
    if bt._data.ndim != 2:
        raise ValueError(f"[{op}] the dense operand must be 2-D, got shape "
                         f"{tuple(bt._data.shape)}")
    if adjoint_b:
        bt = dtranspose(bt, conjugate=True)
    return _spmm(op, rows, cols, vals, m, k, bt, adjoint_a, adjoint_b)


def _entries(op, sp, transposed, conj):
    """(rows, cols, values, n_rows, n_cols) of the 2-D sp, or of its (conjugate) transpose."""
    _check_sparse(op, sp)
    if sp.ndim != 2:
        raise ValueError(f"[{op}] the SparseTensor must be 2-D, got dense_shape "
                         f"{sp._shape.tolist()}")
    rows, cols = sp._indices[:, 0], sp._indices[:, 1]
    m, k = int(sp._shape[0]), int(sp._shape[1])
    vals = sp._values
    if conj and vals.dtype.is_complex:
        from .ops.complex_ops import conj as dconj
        vals = dconj(vals)
    if transposed:
        rows, cols, m, k = cols, rows, k, m
    return rows, cols, vals, m, k


def _spmm(op, rows, cols, vals, m, k, bt, adjoint_a, adjoint_b):
    from .ops.array_ops import gather, reshape
    from .ops.math_ops import multiply
    from .ops.segment_ops import unsorted_segment_sum
    if bt.dtype != vals.dtype:
        raise TypeError(f"[{op}] dtypes differ: SparseTensor {vals.dtype.name}, dense "
                        f"{bt.dtype.name}")
    if bt._data.shape[0] != k:
        raise ValueError(f"[{op}] inner dimensions differ: sparse ({m}, {k}) @ dense "
                         f"{tuple(bt._data.shape)} (adjoint_a={adjoint_a}, "
                         f"adjoint_b={adjoint_b})")
    picked = gather(bt, cols)                                        # (nnz, N)
    contrib = multiply(picked, reshape(vals, (-1, 1)))
    if contrib.dtype.is_complex:      # the segment sum is real: add the two parts apart
        from .ops.complex_ops import complex as dcomplex, imag, real
        return dcomplex(unsorted_segment_sum(real(contrib), rows, m),
                        unsorted_segment_sum(imag(contrib), rows, m))
    return unsorted_segment_sum(contrib, rows, m)


def reduce_sum(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The sum over `axis` (all by default) as a dense tensor (a SparseTensor with
    output_is_sparse=True): the implicit zeros add nothing."""
    from .ops.array_ops import gather_nd, reshape
    from .ops.math_ops import reduce_sum as dense_sum
    _check_sparse("sparse.reduce_sum", sp_input)
    out = dense_sum(_summed_dense(sp_input), axis=axis, keepdims=bool(keepdims))
    if not output_is_sparse:
        return out
    # TF's SparseReduceSumSparse: one entry per group of input entries (even one summing
    # to 0), in row-major order
    r, ind = sp_input.ndim, sp_input._indices
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    axes = set(range(r)) if axis is None else {int(a) % r for a in np.atleast_1d(axis).tolist()}
    if keepdims:
        key = ind.copy()
        key[:, sorted(axes)] = 0
    else:
        key = ind[:, [d for d in range(r) if d not in axes]]
    out_shape = np.array(out.shape, np.int64)
    if key.shape[1] == 0:
        n = 1 if len(ind) else 0
        vals = reshape(out, [1])[:n]
        return SparseTensor(np.zeros((n, 0), np.int64), vals, out_shape)
    uniq = np.unique(key, axis=0) if len(key) else key
    return SparseTensor(uniq, gather_nd(out, uniq), out_shape)


def add(a, b, threshold=0, name=None):
    """SparseTensor + dense -> dense; SparseTensor + SparseTensor -> SparseTensor (equal
    indices add up; entries whose magnitude is below `threshold` are dropped)."""
    from .ops.math_ops import add as dense_add
    op = "sparse.add"
    if isinstance(a, SparseTensor) and isinstance(b, SparseTensor):
        if a._shape.tolist() != b._shape.tolist():
            raise ValueError(f"[{op}] dense shapes differ: {a._shape.tolist()} vs "
                             f"{b._shape.tolist()}")
        from .ops.array_ops import concat
        from .ops.segment_ops import unsorted_segment_sum
        ind = np.concatenate([a._indices, b._indices])
        flat = np.ravel_multi_index(ind.T, a._shape) if len(ind) else np.zeros(0, np.int64)
        uniq, inv = np.unique(flat, return_inverse=True)
        vals = unsorted_segment_sum(concat([a._values, b._values], 0), inv.astype(np.int64),
                                    len(uniq))
        new_ind = np.stack(np.unravel_index(uniq, a._shape), axis=1).astype(np.int64) \
            if len(uniq) else np.zeros((0, a.ndim), np.int64)
        out = SparseTensor(new_ind.reshape(-1, a.ndim), vals, a._shape)
        if threshold:
            # TF's SparseAdd thresholds only the sums of an index present in both operands;
            # an entry of one operand alone is kept whatever its magnitude
            both = np.bincount(inv, minlength=len(uniq)) > 1
            keep = ~both | (np.abs(vals.numpy()) >= threshold)
            out = retain(out, keep)
        return out
    if isinstance(a, SparseTensor):
        return dense_add(_summed_dense(a), b)
    if isinstance(b, SparseTensor):
        return dense_add(a, _summed_dense(b))
    raise TypeError(f"[{op}] at least one operand must be a SparseTensor, got "
                    f"{type(a).__name__} and {type(b).__name__}")


def concat(axis, sp_inputs, expand_nonconcat_dims=False, name=None, concat_dim=None):
    """SparseTensors joined along `axis` (entries of later inputs shifted by the sizes before
    them), in row-major order. The other dimensions must agree, or with
    expand_nonconcat_dims=True grow to the largest."""
    from .ops.array_ops import concat as dense_concat, gather
    op = "sparse.concat"
    if concat_dim is not None:
        axis = concat_dim
    sps = list(sp_inputs)
    if not sps:
        raise ValueError(f"[{op}] sp_inputs is empty")
    for sp in sps:
        _check_sparse(op, sp)
    rank = sps[0].ndim
    if any(sp.ndim != rank for sp in sps):
        raise ValueError(f"[{op}] the inputs have ranks {[sp.ndim for sp in sps]}")
    ax = int(axis) % rank
    shapes = np.stack([sp._shape for sp in sps])
    other = [d for d in range(rank) if d != ax]
    if not expand_nonconcat_dims and len({tuple(r) for r in shapes[:, other]}) > 1:
        raise ValueError(f"[{op}] the dense shapes {shapes.tolist()} differ outside axis {ax} "
                         "(pass expand_nonconcat_dims=True to grow them)")
    out_shape = shapes.max(axis=0)
    out_shape[ax] = shapes[:, ax].sum()
    offsets = np.concatenate([[0], np.cumsum(shapes[:, ax])[:-1]])
    ind = []
    for sp, off in zip(sps, offsets):
        i = sp._indices.copy()
        i[:, ax] += off
        ind.append(i)
    ind = np.concatenate(ind).reshape(-1, rank)
    vals = dense_concat([sp._values for sp in sps], 0)
    perm = np.lexsort(ind.T[::-1]).astype(np.int64) if len(ind) else np.zeros(0, np.int64)
    return SparseTensor(ind[perm], gather(vals, perm), out_shape)


def slice(sp_input, start, size, name=None):  # noqa: A001  (TF's name)
    """The entries inside the box [start, start + size), moved to start at 0; the box is
    clipped to the dense shape (a box past the end gives an empty dimension)."""
    from .ops.array_ops import gather
    op = "sparse.slice"
    _check_sparse(op, sp_input)
    start = _host_int64(start, op, "start").reshape(-1)
    size = _host_int64(size, op, "size").reshape(-1)
    if start.size != sp_input.ndim or size.size != sp_input.ndim:
        raise ValueError(f"[{op}] start {start.tolist()} and size {size.tolist()} must have "
                         f"one entry per dimension ({sp_input.ndim})")
    if np.any(size < 0) or np.any(start < 0):
        raise ValueError(f"[{op}] start {start.tolist()} and size {size.tolist()} must be "
                         "non-negative")
    end = np.minimum(start + size, sp_input._shape)
    ind = sp_input._indices
    keep = np.all((ind >= start) & (ind < end), axis=1)
    idx = np.nonzero(keep)[0].astype(np.int64)
    return SparseTensor(ind[idx] - start, gather(sp_input._values, idx),
                        np.maximum(end - start, 0))


def map_values(op, *args, **kwargs):
    """`op` applied to the values of the SparseTensor arguments (which must share their
    indices and dense shape); other arguments pass through. Returns a SparseTensor."""
    name = "sparse.map_values"
    sps = [a for a in list(args) + list(kwargs.values()) if isinstance(a, SparseTensor)]
    if not sps:
        raise ValueError(f"[{name}] no SparseTensor among the arguments")
    first = sps[0]
    for sp in sps[1:]:
        if not (np.array_equal(sp._indices, first._indices) and
                np.array_equal(sp._shape, first._shape)):
            raise ValueError(f"[{name}] the SparseTensors' indices or dense shapes differ")

    def vals(a):
        return a._values if isinstance(a, SparseTensor) else a
    out = op(*[vals(a) for a in args], **{k: vals(v) for k, v in kwargs.items()})
    return SparseTensor(first._indices, out, first._shape)


# ----------------------------------------------------------------------------- more tf.sparse


def reshape(sp_input, shape, name=None):
    """The same entries in a dense shape of the same size (one dimension may be -1): each
    index is re-read in row-major order; the entries keep their order."""
    op = "sparse.reshape"
    _check_sparse(op, sp_input)
    new = _host_int64(shape, op, "shape").reshape(-1)
    total = int(np.prod(sp_input._shape, dtype=np.int64))
    if (new == -1).sum() > 1 or np.any(new < -1):
        raise ValueError(f"[{op}] shape {new.tolist()} may hold one -1 and sizes >= 0")
    if (new == -1).any():
        known = int(np.prod(new[new != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise ValueError(f"[{op}] cannot reshape dense_shape {sp_input._shape.tolist()} "
                             f"into {new.tolist()}")
        new[new == -1] = total // known
    if int(np.prod(new, dtype=np.int64)) != total:
        raise ValueError(f"[{op}] cannot reshape dense_shape {sp_input._shape.tolist()} "
                         f"({total} entries) into {new.tolist()}")
    ind = sp_input._indices
    if len(ind) and sp_input._shape.size:
        flat = np.ravel_multi_index(ind.T, sp_input._shape)
        out = np.stack(np.unravel_index(flat, new), axis=1).astype(np.int64).reshape(-1, new.size)
    else:
        out = np.zeros((len(ind), new.size), np.int64)
    return SparseTensor(out, sp_input._values, new)


def expand_dims(sp_input, axis=None, name=None):
    """A dimension of size 1 inserted at `axis` (the last position by default, as TF)."""
    op = "sparse.expand_dims"
    _check_sparse(op, sp_input)
    r = sp_input.ndim
    axis = -1 if axis is None else int(axis.numpy() if isinstance(axis, Tensor) else axis)
    if not -r - 1 <= axis <= r:
        raise ValueError(f"[{op}] axis {axis} is out of range for a rank-{r} SparseTensor")
    axis %= r + 1
    ind = np.insert(sp_input._indices, axis, 0, axis=1)
    return SparseTensor(ind.reshape(-1, r + 1), sp_input._values,
                        np.insert(sp_input._shape, axis, 1))


def eye(num_rows, num_columns=None, dtype=_dt.float32, name=None):
    """A 2-D SparseTensor with ones on the main diagonal."""
    n = int(num_rows)
    m = n if num_columns is None else int(num_columns)
    k = np.arange(min(n, m), dtype=np.int64)
    return SparseTensor(np.stack([k, k], axis=1).reshape(-1, 2),
                        convert_to_tensor(np.ones(len(k), _dt.as_dtype(dtype)._np)), [n, m])


def fill_empty_rows(sp_input, default_value, name=None):
    """(sp with an entry default_value at [row, 0, ...] for every row without entries, the
    bool vector of those rows). Entries are grouped by row, in their order within a row."""
    op = "sparse.fill_empty_rows"
    _check_sparse(op, sp_input)
    from .ops.array_ops import concat as dense_concat, gather
    ind, n = sp_input._indices, int(sp_input._shape[0])
    empty = np.ones(n, bool)
    empty[ind[:, 0]] = False
    rows = np.nonzero(empty)[0].astype(np.int64)
    fill = np.zeros((len(rows), sp_input.ndim), np.int64)
    fill[:, 0] = rows
    all_ind = np.concatenate([ind, fill]).reshape(-1, sp_input.ndim)
    dv = convert_to_tensor(np.full(len(rows), default_value, sp_input._values._data.dtype))
    vals = dense_concat([sp_input._values, dv], 0) if sp_input._values._data.dtype.kind != "O" \
        else _wrap(np.concatenate([sp_input._values.numpy(), dv.numpy()]))
    order = np.argsort(all_ind[:, 0], kind="stable").astype(np.int64)
    vals = gather(vals, order) if vals._data.dtype.kind != "O" else _wrap(vals.numpy()[order])
    return SparseTensor(all_ind[order], vals, sp_input._shape), _wrap(empty)


def split(sp_input=None, num_split=None, axis=None, name=None, keyword_required=None):
    """num_split SparseTensors along `axis`; as TF, the first size % num_split pieces are
    one longer than the others."""
    op = "sparse.split"
    _check_sparse(op, sp_input)
    r = sp_input.ndim
    axis = int(axis) % r
    k = int(num_split)
    if k < 1:
        raise ValueError(f"[{op}] num_split must be >= 1, got {k}")
    size = int(sp_input._shape[axis])
    sizes = [size // k + (1 if i < size % k else 0) for i in _builtin_range(k)]
    out, start = [], 0
    for s in sizes:
        st = np.zeros(r, np.int64)
        st[axis] = start
        sz = sp_input._shape.copy()
        sz[axis] = s
        out.append(slice(sp_input, st, sz))
        start += s
    return out


def _builtin_range(n):
    import builtins
    return builtins.range(n)


def _union_op(op, a, b, fn):
    _check_sparse(op, a)
    _check_sparse(op, b)
    if a._shape.tolist() != b._shape.tolist():
        raise ValueError(f"[{op}] dense shapes differ: {a._shape.tolist()} vs "
                         f"{b._shape.tolist()}")
    if a.dtype != b.dtype:
        raise TypeError(f"[{op}] dtypes differ: {a.dtype.name} vs {b.dtype.name}")
    ind = np.concatenate([a._indices, b._indices]).reshape(-1, a.ndim)
    if not len(ind):
        return SparseTensor(ind, a._values, a._shape)
    flat = np.ravel_multi_index(ind.T, a._shape)
    uniq = np.unique(flat)
    va, vb = np.zeros(len(uniq), a._values._data.dtype), np.zeros(len(uniq), b._values._data.dtype)
    va[np.searchsorted(uniq, flat[:len(a._indices)])] = a._values.numpy()
    vb[np.searchsorted(uniq, flat[len(a._indices):])] = b._values.numpy()
    new_ind = np.stack(np.unravel_index(uniq, a._shape), axis=1).astype(np.int64)
    return SparseTensor(new_ind, convert_to_tensor(fn(va, vb)), a._shape)


def maximum(sp_a, sp_b, name=None):
    """Elementwise max over the union of the indices (a missing entry counts as 0, as TF)."""
    return _union_op("sparse.maximum", sp_a, sp_b, np.maximum)


def minimum(sp_a, sp_b, name=None):
    """Elementwise min over the union of the indices (a missing entry counts as 0, as TF)."""
    return _union_op("sparse.minimum", sp_a, sp_b, np.minimum)


def reduce_max(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The max over `axis` of the entries present (implicit zeros take no part); a dense
    result holds 0 where a group has no entry, as TF's SparseReduceMax."""
    op = "sparse.reduce_max"
    _check_sparse(op, sp_input)
    r, ind = sp_input.ndim, sp_input._indices
    vals = sp_input._values.numpy()
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    axes = set(range(r)) if axis is None else {int(a) % r for a in np.atleast_1d(axis).tolist()}
    keep = [d for d in range(r) if d not in axes]
    out_shape = [1 if (d in axes) else int(sp_input._shape[d]) for d in range(r)] if keepdims \
        else [int(sp_input._shape[d]) for d in keep]
    key = ind.copy() if keepdims else ind[:, keep]
    if keepdims:
        key[:, sorted(axes)] = 0
    if key.shape[1]:
        uniq, inv = np.unique(key, axis=0, return_inverse=True) if len(key) else (key, None)
    else:
        uniq, inv = np.zeros((1 if len(key) else 0, 0), np.int64), np.zeros(len(key), np.int64)
    res = np.full(len(uniq), -np.inf if vals.dtype.kind == "f" else np.iinfo(vals.dtype).min,
                  vals.dtype)
    if len(key):
        np.maximum.at(res, np.asarray(inv).reshape(-1), vals)
    if output_is_sparse:
        return SparseTensor(uniq.reshape(len(uniq), -1), convert_to_tensor(res), out_shape)
    dense = np.zeros(out_shape, vals.dtype)
    if len(uniq) and uniq.shape[1]:
        dense[tuple(uniq.T)] = res
    elif len(uniq):
        dense = dense + res.reshape(dense.shape)
    return convert_to_tensor(dense)


def to_indicator(sp_input, vocab_size, name=None):
    """Dense bool [..., vocab_size]: True at [i..., v] for every entry value v of row i..."""
    op = "sparse.to_indicator"
    _check_sparse(op, sp_input)
    vals = sp_input._values.numpy()
    if vals.dtype.kind not in "iu":
        raise TypeError(f"[{op}] the values must be integers, got {sp_input.dtype.name}")
    n = int(vocab_size)
    if len(vals) and (vals.min() < 0 or vals.max() >= n):
        raise ValueError(f"[{op}] values {vals.tolist()} must be in [0, {n})")
    out = np.zeros([int(d) for d in sp_input._shape[:-1]] + [n], bool)
    if len(vals):
        out[tuple(sp_input._indices[:, :-1].T) + (vals,)] = True
    return convert_to_tensor(out)


def softmax(sp_input, name=None):
    """Softmax over the last dimension among the entries present (the implicit zeros take no
    part), as TF's sparse softmax; the result keeps the indices. Entries must be ordered."""
    from .ops.math_ops import exp, subtract, divide
    from .ops.array_ops import gather
    from .ops.segment_ops import unsorted_segment_sum
    op = "sparse.softmax"
    _check_sparse(op, sp_input)
    _check_order(op, sp_input)
    ind = sp_input._indices
    if not len(ind):
        return sp_input
    groups, seg = np.unique(ind[:, :-1], axis=0, return_inverse=True)
    seg = np.asarray(seg, np.int64).reshape(-1)
    v = sp_input._values
    vh = v.numpy()
    mx = np.full(len(groups), -np.inf, vh.dtype)
    np.maximum.at(mx, seg, vh)
    shifted = subtract(v, convert_to_tensor(mx[seg]))
    e = exp(shifted)
    den = unsorted_segment_sum(e, seg, len(groups))
    return SparseTensor(ind, divide(e, gather(den, seg)), sp_input._shape)


def _sparse_segment(op, data, indices, segment_ids, num_segments, reducer):
    """TF's SparseSegment* ops: the rows data[indices] reduced by segment_ids (sorted, as TF
    requires); num_segments sizes the result (default: the last id + 1); an empty segment
    is 0."""
    from .ops.array_ops import gather
    d = data if isinstance(data, Tensor) else convert_to_tensor(data)
    idx = _host_int64(indices, op, "indices").reshape(-1)
    ids = _host_int64(segment_ids, op, "segment_ids").reshape(-1)
    if idx.shape != ids.shape:
        raise ValueError(f"[{op}] indices and segment_ids need one entry each, got "
                         f"{idx.size} and {ids.size}")
    rows = int(d.shape[0]) if d.shape.rank else 0
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        raise ValueError(f"[{op}] indices {idx.tolist()} are out of range [0, {rows})")
    if ids.size and (np.any(np.diff(ids) < 0) or ids[0] < 0):
        raise ValueError(f"[{op}] segment_ids {ids.tolist()} must be sorted and >= 0")
    n = int(num_segments.numpy() if isinstance(num_segments, Tensor) else num_segments) \
        if num_segments is not None else (int(ids[-1]) + 1 if ids.size else 0)
    if ids.size and ids[-1] >= n:
        raise ValueError(f"[{op}] segment_ids {ids.tolist()} must be < num_segments {n}")
    return reducer(gather(d, idx), ids, n)


def segment_sum(data, indices, segment_ids, num_segments=None, name=None):
    """sum over each segment of data[indices] (tf.sparse.segment_sum)."""
    from .ops.segment_ops import unsorted_segment_sum
    return _sparse_segment("sparse.segment_sum", data, indices, segment_ids, num_segments,
                           unsorted_segment_sum)


def segment_mean(data, indices, segment_ids, num_segments=None, name=None):
    """mean over each segment of data[indices] (0 for an empty one)."""
    from .ops.extra_math_ops import unsorted_segment_mean
    return _sparse_segment("sparse.segment_mean", data, indices, segment_ids, num_segments,
                           unsorted_segment_mean)


def segment_sqrt_n(data, indices, segment_ids, num_segments=None, name=None):
    """sum / sqrt(count) over each segment of data[indices] (0 for an empty one)."""
    from .ops.extra_math_ops import unsorted_segment_sqrt_n
    return _sparse_segment("sparse.segment_sqrt_n", data, indices, segment_ids, num_segments,
                           unsorted_segment_sqrt_n)


# ----------------------------------------------------------------------------- bincount

def _host_any(x):
    if not isinstance(x, (Tensor, np.ndarray)):
        x = convert_to_tensor(x)        # Python lists take TF's dtypes (int32, float32)
    a = x._data if isinstance(x, Tensor) else x
    return np.asarray(a.get() if type(a) is DeviceArray else a)


def _count_input(op, x, what):
    """(row of each value or None, flat host values, number of rows or None) of a
    SparseTensor, RaggedTensor or dense input (a dense input of rank 2 has rows)."""
    from .ragged import RaggedTensor
    if isinstance(x, SparseTensor):
        if x.ndim < 2:
            return None, _host_any(x._values), None
        return x._indices[:, 0], _host_any(x._values), int(x._shape[0])
    if isinstance(x, RaggedTensor):
        if x.ndim != 2:
            raise ValueError(f"[{op}] a RaggedTensor {what} must be 2-D, got shape {x.shape}")
        splits = x.row_splits.numpy()
        rows = np.repeat(np.arange(len(splits) - 1), np.diff(splits))
        return rows, _host_any(x.flat_values), len(splits) - 1
    a = _host_any(x)
    if a.ndim == 2:
        return np.repeat(np.arange(a.shape[0]), a.shape[1]), a.reshape(-1), a.shape[0]
    return None, a.reshape(-1), None


def bincount(values, weights=None, axis=0, minlength=None, maxlength=None,
             binary_output=False, name=None):
    """tf.sparse.bincount: how often each value occurs (or the sum of its weights), as a
    SparseTensor holding only the values present. axis=0 counts over the whole input (1-D
    result); axis=-1 counts each row of a 2-D dense, RaggedTensor or SparseTensor input
    (batch = first index) into a (rows, size) result. size = max(max value + 1, minlength)
    (1 without values), at most maxlength; values >= maxlength are dropped. Counts have the
    values' dtype, weighted sums the weights' dtype. No gradient (TF defines none)."""
    from .ragged import RaggedTensor
    op = "sparse.bincount"
    if axis is None:
        axis = 0
    if axis not in (0, -1):
        raise ValueError(f"[{op}] Unsupported value for argument axis={axis}. Only 0 and -1 "
                         "are currently supported.")
    if weights is not None and binary_output:
        raise ValueError(f"[{op}] Arguments `binary_output` and `weights` are mutually "
                         "exclusive. Please specify only one.")
    if isinstance(values, SparseTensor) and weights is not None and \
            not isinstance(weights, SparseTensor):
        raise ValueError(f"[{op}] weights must be a SparseTensor if values is a SparseTensor, "
                         f"got {type(weights).__name__}")
    if isinstance(values, RaggedTensor) and weights is not None and \
            not isinstance(weights, RaggedTensor):
        raise ValueError(f"[{op}] weights must be a RaggedTensor if values is a RaggedTensor, "
                         f"got {type(weights).__name__}")
    rows, v, nrows = _count_input(op, values, "values")
    if v.size and v.dtype.kind not in "iu":
        raise TypeError(f"[{op}] values must be int32 or int64, got dtype {v.dtype} "
                        f"(shape {v.shape})")
    if axis == -1 and rows is None and not isinstance(values, SparseTensor) and \
            _host_any(values).ndim > 2:
        raise ValueError(f"[{op}] with axis=-1 values must be 1-D or 2-D, got shape "
                         f"{_host_any(values).shape}")
    out_dt = _dt.int64 if v.dtype == np.int64 else _dt.int32
    if weights is not None:
        _, w, _ = _count_input(op, weights, "weights")
        if w.shape != v.shape:
            raise ValueError(f"[{op}] weights and values must have the same shape: weights "
                             f"{w.shape}, values {v.shape} (flattened)")
        out_dt = _dt.as_dtype(w.dtype)
    v = v.astype(np.int64)
    if v.size and v.min() < 0:
        raise ValueError(f"[{op}] values must all be non-negative, got {int(v.min())}")
    size = max(int(v.max()) + 1 if v.size else 1, int(minlength or 0))
    if maxlength is not None:
        size = min(size, int(maxlength))
    keep = v < size
    per_row = axis == -1 and rows is not None
    r = rows[keep] if per_row else np.zeros(int(keep.sum()), np.int64)
    key = r * size + v[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    if binary_output:
        counts = np.ones(len(uniq))
    elif weights is not None:
        counts = np.bincount(inv.reshape(-1), weights=w[keep].astype(np.float64),
                             minlength=len(uniq))
    else:
        counts = np.bincount(inv.reshape(-1), minlength=len(uniq))
    if per_row:
        ind = np.stack([uniq // size, uniq % size], axis=1) if size else \
            np.zeros((0, 2), np.int64)
        shape = [nrows, size]
    else:
        ind = (uniq % size if size else uniq).reshape(-1, 1)
        shape = [size]
    return SparseTensor(ind.astype(np.int64), _wrap(counts.astype(out_dt.as_numpy_dtype)),
                        np.array(shape, np.int64))


# ----------------------------------------------------------------------------- cross

def _cross_columns(op, inputs):
    """Per input: (its flat host values, the row of each) and the batch size. Strings stay
    bytes; other values become int64 (floats truncated, bools 0/1) as TF casts them."""
    from .ragged import RaggedTensor
    if not isinstance(inputs, list):
        raise TypeError(f"[{op}] Inputs must be a list, got {type(inputs).__name__}")
    # TF's kernel takes the SparseTensors first, then the dense inputs, each in list order
    inputs = [x for x in inputs if isinstance(x, SparseTensor)] + \
        [x for x in inputs if not isinstance(x, SparseTensor)]
    cols, batch = [], None
    for i, x in enumerate(inputs):
        if isinstance(x, RaggedTensor) or not isinstance(x, (SparseTensor, Tensor, np.ndarray)):
            raise TypeError(f"[{op}] All inputs must be Tensor or SparseTensor, got "
                            f"{type(x).__name__} at position {i}")
        if isinstance(x, SparseTensor):
            if x.ndim != 2:
                raise ValueError(f"[{op}] a SparseTensor input must be 2-D, got dense_shape "
                                 f"{x._shape.tolist()} at position {i}")
            order = np.argsort(x._indices[:, 0], kind="stable")   # grouped by row, in order
            vals, rows, n = _host_any(x._values)[order], x._indices[order, 0], int(x._shape[0])
        else:
            a = _host_any(x)
            if a.ndim != 2:
                raise ValueError(f"[{op}] Dense inputs should be a matrix but received shape "
                                 f"{a.shape} at position {i}")
            vals, rows, n = a.reshape(-1), np.repeat(np.arange(a.shape[0]), a.shape[1]), \
                a.shape[0]
        if batch is not None and n != batch:
            raise ValueError(f"[{op}] Expected batch size {batch} got {n} at input {i} "
                             f"(shape {x.shape})")
        batch = n
        if vals.dtype.kind in "USO":
            from .framework.tensor import _utf8_storage
            vals = _utf8_storage(np.asarray(vals, dtype=object))
        elif vals.dtype.kind in "biuf":
            vals = vals.astype(np.int64)
        else:
            raise TypeError(f"[{op}] inputs must hold strings or numbers, got dtype "
                            f"{vals.dtype} at position {i}")
        cols.append((vals, rows))
    return cols, batch or 0


def _cross(op, inputs, combine):
    """Each row's cartesian product of its features (the last input varies fastest), each
    tuple reduced by `combine(list of per-column arrays) -> flat array`."""
    import itertools
    cols, batch = _cross_columns(op, inputs)
    per_col = []
    for vals, rows in cols:
        splits = np.searchsorted(rows, np.arange(batch + 1))
        per_col.append((vals, splits))
    pos_rows, picks = [], [[] for _ in cols]
    for b in range(batch):
        ranges = [range(int(s[b]), int(s[b + 1])) for _, s in per_col]
        for tup in itertools.product(*ranges) if cols else ():
            pos_rows.append(b)
            for k, j in enumerate(tup):
                picks[k].append(j)
    rows = np.asarray(pos_rows, np.int64)
    counts = np.bincount(rows, minlength=batch) if batch else np.zeros(0, np.int64)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    vals = combine([c[0][np.asarray(p, np.int64)] for c, p in zip(cols, picks)], len(rows))
    width = int(counts.max()) if len(counts) else 0
    return SparseTensor(np.stack([rows, within], axis=1).astype(np.int64).reshape(-1, 2),
                        _wrap(vals), np.array([batch, width], np.int64))


def cross(inputs, name=None, separator=None):
    """tf.sparse.cross: per row (batch = first dimension), every combination of one value
    from each input, joined as strings with `separator` (default '_X_'), the last input
    varying fastest; as in TF the SparseTensor inputs come first, then the dense ones.
    Inputs: a list of 2-D dense Tensors and SparseTensors of strings or integers (floats are
    truncated to integers, as TF casts them). SparseTensor entries are taken row by row in
    their order (TF assumes ordered indices). Result: a (batch, most combinations in a row)
    SparseTensor of strings."""
    op = "sparse.cross"
    sep = (b"_X_" if separator is None else separator.encode("utf-8")
           if isinstance(separator, str) else bytes(separator))

    def join(parts, n):
        texts = [p.tolist() if p.dtype == object else [str(v).encode() for v in p.tolist()]
                 for p in parts]
        out = np.empty(n, dtype=object)
        out[:] = [sep.join(t) for t in zip(*texts)] if texts else []
        return out
    return _cross(op, inputs, join)


def cross_hashed(inputs, num_buckets=0, hash_key=None, name=None):
    """tf.sparse.cross_hashed: the combinations of `cross`, each hashed as TF hashes it
    (FingerprintCat64 folding, from `hash_key` (default 0xDECAFCAFFE), of each string's
    FarmHash Fingerprint64 or each integer's int64 bits) and taken modulo `num_buckets`
    (modulo 2**63 - 1 when it is 0): int64 bucket numbers equal to TF's."""
    from .keras.layers.preprocessing import (_CROSS_HASH_KEY, _feature_fingerprints,
                                             _fingerprint_cat64)
    op = "sparse.cross_hashed"
    if int(num_buckets) < 0:
        raise ValueError(f"[{op}] num_buckets must be >= 0, got {num_buckets}")
    key = np.uint64(_CROSS_HASH_KEY if hash_key is None else int(hash_key) & 0xFFFFFFFFFFFFFFFF)
    mod = np.uint64(int(num_buckets) if int(num_buckets) > 0 else 2 ** 63 - 1)

    def fold(parts, n):
        h = np.full(n, key, np.uint64)
        for p in parts:
            h = _fingerprint_cat64(h, _feature_fingerprints(p))
        return (h % mod).astype(np.int64)
    return _cross(op, inputs, fold)
