"""The rest of TF 2.15's tf.data surface: Dataset.random, rebatch, sparse_batch,
ignore_errors, tf.data.experimental.assert_cardinality, and the small experimental helpers
(get_structure, from_list, at, map_and_batch, ...)."""
import logging

import numpy as np

from .. import dtypes as _dt
from ..errors import FailedPreconditionError, InvalidArgumentError
from .dataset import (_INF, _UNKNOWN, Dataset, TensorSpec, _UnaryDataset, _UnbatchDataset,
                      _IGNORE, _batched_spec, _flatten, _is_peeking, _leaf_array,
                      _stack)



# ---------------------------------------------------------------------- Dataset.random
class _RandomDataset(Dataset):
    """Endless int64 scalars uniform in [0, 2**32), from a seeded NumPy generator."""

    def __init__(self, seed, rerandomize):
        from ..ops.random_ops import _generator
        self._base = int(_generator(None if seed is None else int(seed)).integers(2 ** 63))
        self._rerandomize = bool(rerandomize)
        self._passes = 0

    def _elements(self):
        if self._rerandomize and not _is_peeking():
            self._passes += 1
            rng = np.random.default_rng([self._base, self._passes])
        else:
            rng = np.random.default_rng(self._base)
        while True:
            for v in rng.integers(0, 2 ** 32, 256, dtype=np.int64):
                yield np.array(v, dtype=np.int64)

    def _card(self):
        return _INF

    def _spec(self):
        return TensorSpec((), _dt.int64)


# ---------------------------------------------------------------------- rebatch
def _sizes(batch_size):
    a = np.asarray(_leaf_array(batch_size) if not isinstance(batch_size, (list, tuple))
                   else batch_size)
    if a.dtype.kind not in "iu" or a.ndim > 1:
        raise TypeError(f"[rebatch] batch_size must be an int or a 1-D list of ints, got "
                        f"{batch_size!r}")
    sizes = [int(v) for v in a.reshape(-1)]
    if not sizes or any(v <= 0 for v in sizes):
        raise InvalidArgumentError(f"[rebatch] batch sizes must be positive, got {sizes}")
    return sizes, a.ndim == 0


class _RebatchDataset(_UnaryDataset):
    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        self._sizes, self._scalar = _sizes(batch_size)
        self._drop = bool(drop_remainder)
        self._rows = _UnbatchDataset(input_dataset)

    def _plan(self):
        return None

    def _elements(self):
        rows = self._rows._np_iter()
        k = 0
        while True:
            size = self._sizes[k % len(self._sizes)]
            k += 1
            buf = []
            for row in rows:
                buf.append(row)
                if len(buf) == size:
                    break
            if len(buf) < size:          # the rows ran out
                if buf and not self._drop:
                    yield _stack(buf, "rebatch")
                return
            yield _stack(buf, "rebatch")

    def _card(self):
        n = self._rows._card()
        if n == _INF:
            return _INF
        if n < 0 or len(self._sizes) != 1:
            return _UNKNOWN
        s = self._sizes[0]
        return n // s if self._drop else -(-n // s)

    def _spec(self):
        dim = self._sizes[0] if (self._drop and len(set(self._sizes)) == 1) else None
        return _batched_spec(self._rows.element_spec, dim)


# ---------------------------------------------------------------------- sparse_batch
class _SparseBatchDataset(_UnaryDataset):
    def __init__(self, input_dataset, batch_size, row_shape):
        super().__init__(input_dataset)
        self._size = int(_leaf_array(batch_size))
        if self._size <= 0:
            raise ValueError(f"[sparse_batch] batch_size must be positive, got {self._size}")
        rs = np.asarray(_leaf_array(row_shape) if not isinstance(row_shape, (list, tuple))
                        else row_shape, dtype=np.int64).reshape(-1)
        if np.any(rs < -1):
            raise ValueError(f"[sparse_batch] row_shape dimensions must be >= -1, got "
                             f"{rs.tolist()}")
        self._row_shape = [int(v) for v in rs]

    def _plan(self):
        return None

    def _batch(self, buf):
        from ..sparse import SparseTensor
        rank = len(self._row_shape)
        shape = []
        for d, want in enumerate(self._row_shape):
            big = max(a.shape[d] for a in buf)
            if want >= 0 and big > want:
                bad = next(a for a in buf if a.shape[d] > want)
                raise InvalidArgumentError(
                    f"[sparse_batch] an element of shape {list(bad.shape)} does not fit "
                    f"row_shape {self._row_shape} (dimension {d})")
            shape.append(want if want >= 0 else big)
        idx, vals = [], []
        for b, a in enumerate(buf):
            if a.size == 0:
                continue
            grid = np.indices(a.shape).reshape(rank, -1).T
            idx.append(np.concatenate([np.full((len(grid), 1), b, np.int64), grid], axis=1))
            vals.append(a.reshape(-1))
        if idx:
            ind, val = np.concatenate(idx).astype(np.int64), np.concatenate(vals)
        else:
            dt = buf[0].dtype
            ind, val = np.zeros((0, rank + 1), np.int64), np.zeros((0,), dt)
        return SparseTensor(ind, val, [len(buf)] + shape)

    def _elements(self):
        rank = len(self._row_shape)
        buf = []
        for element in self._input._np_iter():
            flat = _flatten(element)
            if len(flat) != 1 or not isinstance(flat[0], np.ndarray):
                raise TypeError("[sparse_batch] elements must be single dense tensors")
            a = np.asarray(flat[0])
            if a.ndim != rank:
                raise InvalidArgumentError(
                    f"[sparse_batch] an element of shape {list(a.shape)} has rank {a.ndim}, "
                    f"row_shape {self._row_shape} has rank {rank}")
            buf.append(a)
            if len(buf) == self._size:
                yield self._batch(buf)
                buf = []
        if buf:
            yield self._batch(buf)

    def _card(self):
        n = self._input._card()
        return n if n < 0 else -(-n // self._size)

    def _spec(self):
        from ..sparse import SparseTensorSpec
        spec = self._input.element_spec
        shape = [None] + [None if d < 0 else d for d in self._row_shape]
        return SparseTensorSpec(shape, _flatten(spec)[0].dtype)


# ---------------------------------------------------------------------- ignore_errors
class _IgnoreErrorsDataset(_UnaryDataset):
    def __init__(self, input_dataset, log_warning):
        super().__init__(input_dataset)
        self._log = bool(log_warning)

    def _plan(self):
        return None

    def _card(self):
        return _UNKNOWN

    def _elements(self):
        it = self._input._np_iter()
        while True:
            _IGNORE.depth = getattr(_IGNORE, "depth", 0) + 1
            prev_log, _IGNORE.log = getattr(_IGNORE, "log", False), self._log
            try:
                element = next(it)
            except StopIteration:
                return
            except Exception as e:   # an error that ended the input's pass: stop here
                if self._log:
                    logging.getLogger("nabi").warning("ignore_errors: ignoring error: %s", e)
                return
            finally:
                _IGNORE.depth -= 1
                _IGNORE.log = prev_log
            yield element


# ---------------------------------------------------------------------- assert_cardinality
def _card_text(n):
    return "an infinite number of" if n == _INF else str(n)


class _AssertCardinalityDataset(_UnaryDataset):
    def __init__(self, input_dataset, expected):
        super().__init__(input_dataset)
        self._expected = int(_leaf_array(expected))
        if self._expected < 0 and self._expected != _INF:
            raise ValueError(f"[assert_cardinality] expected_cardinality must be >= 0 or "
                             f"INFINITE_CARDINALITY, got {self._expected}")

    def _plan(self):
        return None

    def _card(self):
        return self._expected

    def _elements(self):
        n = 0
        want = self._expected
        for element in self._input._np_iter():
            n += 1
            if want != _INF and n > want:
                raise FailedPreconditionError(
                    f"Input dataset was expected to contain {want} elements but contained "
                    f"at least {n} elements.")
            yield element
        if want == _INF or n < want:
            raise FailedPreconditionError(
                f"Input dataset was expected to contain {_card_text(want)} elements but "
                f"contained only {n} elements.")


def assert_cardinality(expected_cardinality):
    """tf.data.experimental.assert_cardinality: for `dataset.apply`; the dataset reports
    expected_cardinality and raises FailedPreconditionError when it turns out wrong."""
    def apply(dataset):
        return _AssertCardinalityDataset(dataset, expected_cardinality)
    return apply
