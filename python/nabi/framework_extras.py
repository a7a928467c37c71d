"""Small TF 2 top-level names notebooks touch: reverse_sequence, parallel_stack, timestamp,
get_logger, version, UnconnectedGradients, recompute_grad, grad_pass_through,
guarantee_const, and the tf.*_initializer aliases of the Keras initializers."""
import enum as _enum
import logging as _logging
import time as _time

import numpy as np

from .framework.tensor import Tensor, convert_to_tensor

__all__ = ["reverse_sequence", "parallel_stack", "timestamp", "get_logger",
           "UnconnectedGradients", "recompute_grad", "grad_pass_through", "guarantee_const",
           "IndexedSlices"]


class IndexedSlices:
    """tf.IndexedSlices: rows `values[i]` of a tensor at row `indices[i]` (dense_shape the
    whole tensor's shape, optional). Variable.scatter_update / scatter_add take one;
    convert_to_tensor of it is not supported (use tf.scatter_nd or to_dense())."""

    def __init__(self, values, indices, dense_shape=None):
        self.values = values if isinstance(values, Tensor) else convert_to_tensor(values)
        self.indices = indices if isinstance(indices, Tensor) else convert_to_tensor(indices)
        if self.indices._data.dtype.kind not in "iu" or self.indices._data.ndim != 1:
            raise ValueError(f"[IndexedSlices] indices must be a 1-D integer tensor, got "
                             f"{self.indices.dtype.name} {tuple(self.indices.shape)}")
        if self.values._data.ndim < 1 or \
                self.values._data.shape[0] != self.indices._data.shape[0]:
            raise ValueError(f"[IndexedSlices] values {tuple(self.values.shape)} need one row "
                             f"per index ({self.indices._data.shape[0]})")
        self.dense_shape = None if dense_shape is None else convert_to_tensor(dense_shape)

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def shape(self):
        from .framework.tensor import TensorShape
        if self.dense_shape is None:
            return TensorShape([None] + list(self.values.shape[1:]))
        return TensorShape([int(d) for d in self.dense_shape.numpy()])

    def to_dense(self):
        """The dense tensor (rows summed where indices repeat); needs dense_shape."""
        if self.dense_shape is None:
            raise ValueError("[IndexedSlices.to_dense] dense_shape is unknown")
        from .ops import scatter_nd
        from .ops.array_ops import expand_dims
        return scatter_nd(expand_dims(self.indices, -1), self.values, self.dense_shape)

    def __repr__(self):
        return (f"IndexedSlices(indices={self.indices.numpy().tolist()}, values="
                f"{self.values.numpy().tolist()})")


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=0, name=None):  # noqa: A002
    """For each batch entry b, the first seq_lengths[b] elements along seq_axis reversed
    (the rest kept). Composed of transpose and a batched gather, so gradients flow."""
    from .ops import array_ops as _a
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    nd = x.shape.rank
    if seq_axis is None:
        raise ValueError("[reverse_sequence] seq_axis is required")
    sa, ba = int(seq_axis) % nd, int(batch_axis) % nd
    if sa == ba:
        raise ValueError(f"[reverse_sequence] seq_axis and batch_axis must differ, got {sa}")
    B, T = x.shape[ba], x.shape[sa]
    perm = [ba, sa] + [i for i in range(nd) if i not in (ba, sa)]
    from .ops import gpu_index_extra as _gx
    if _gx.gpu_ok(x._data):  # on the device (GPU seq_lengths are not read back)
        L = _gx.dev(seq_lengths._data if isinstance(seq_lengths, Tensor)
                    else np.asarray(seq_lengths, np.int64))
        if L.dtype.kind != "i" or L.size != B or (B and bool(np.any(np.logical_or(
                np.less(L, 0), np.greater(L, T))))):  # one bool read
            raise ValueError(f"[reverse_sequence] seq_lengths must have {B} entries in [0, {T}] "
                             f"for input of shape {tuple(x.shape)}, got "
                             f"{L.get().reshape(-1).tolist()}")
        y = _gx.reverse_sequence_rows(_a.transpose(x, perm), L.astype(np.int64).reshape(-1), B, T)
        return _a.transpose(y, np.argsort(perm).tolist())
    lens = seq_lengths.numpy() if isinstance(seq_lengths, Tensor) else np.asarray(seq_lengths)
    lens = lens.astype(np.int64).reshape(-1)
    if lens.shape[0] != B or np.any(lens < 0) or np.any(lens > T):
        raise ValueError(f"[reverse_sequence] seq_lengths must have {B} entries in [0, {T}] for "
                         f"input of shape {tuple(x.shape)}, got {lens.tolist()}")
    t = np.arange(T)[None, :]
    idx = np.where(t < lens[:, None], lens[:, None] - 1 - t, t)
    perm = [ba, sa] + [i for i in range(nd) if i not in (ba, sa)]
    inv = np.argsort(perm).tolist()
    y = _a.gather(_a.transpose(x, perm), idx, axis=1, batch_dims=1)
    return _a.transpose(y, inv)


def parallel_stack(values, name="parallel_stack"):
    from .ops.array_ops import stack
    return stack(values, axis=0)


def timestamp(name=None):
    """Seconds since the epoch, a float64 scalar."""
    return convert_to_tensor(np.float64(_time.time()))


def get_logger():
    return _logging.getLogger("nabi")


class UnconnectedGradients(str, _enum.Enum):
    NONE = "none"
    ZERO = "zero"


def recompute_grad(f):
    """Returned unchanged: eager tapes keep the activations, and the gradients are the same."""
    return f


def grad_pass_through(f):
    """y = f(x) forward, identity gradient dy/dx = 1 backward."""
    from .framework.tape import stop_gradient
    from .ops.math_ops import add, subtract

    def g(x):
        x = x if isinstance(x, Tensor) else convert_to_tensor(x)
        return add(x, stop_gradient(subtract(f(x), x)))
    return g


def guarantee_const(input, name=None):  # noqa: A002
    from .ops.array_ops import identity
    return identity(input)


_INITIALIZERS = {"constant_initializer": "Constant", "zeros_initializer": "Zeros",
                 "ones_initializer": "Ones", "random_normal_initializer": "RandomNormal",
                 "random_uniform_initializer": "RandomUniform"}
