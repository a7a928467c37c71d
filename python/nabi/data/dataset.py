"""`nabi.data.Dataset`: the host-side subset of `tf.data` that Keras notebooks use.

    ds = nabi.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(64)
    model.fit(ds, epochs=3)

An element is a NumPy array or a structure of them: tuples, namedtuples and dicts nest; a list
is one tensor, as in tf.data (`from_tensor_slices([a, b])` stacks a and b). Elements stay NumPy
inside the pipeline; iterating a Dataset hands them out as Tensors on the current device, and
`map`/`filter`/`reduce` functions receive host Tensors (tf.data runs its functions on the CPU).

A pipeline is a chain of small Dataset subclasses, each with a generator `_elements()`. Those
that only choose rows of `from_tensor_slices` arrays (shuffle, take, skip, repeat, cache,
prefetch) also describe their output as a stream of row-index chunks (`_plan()`: `range`s while
the rows are consecutive, index arrays after a shuffle), so `batch()` slices or gathers the
source arrays instead of stacking rows one at a time.

Cardinality follows tf.data: a count, INFINITE_CARDINALITY (-1) or UNKNOWN_CARDINALITY (-2).
"""
import contextlib
import itertools
import threading

import numpy as np

from .. import dtypes as _dt
from ..framework.device import host_scope, place
from ..framework.tensor import Tensor, TensorShape, _host_tensor, _wrap

__all__ = ["Dataset", "DatasetV2", "Iterator", "TensorSpec", "AUTOTUNE",
           "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY"]

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2

_INF, _UNKNOWN = INFINITE_CARDINALITY, UNKNOWN_CARDINALITY
_SHUFFLE_CHUNK = 1024  # shuffled indices are handed on in chunks of this many


# ---------------------------------------------------------------------- element specs
class TensorSpec:
    """The shape (None for unknown dimensions; shape None for an unknown rank) and dtype of one
    component of a dataset's elements."""

    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype=_dt.float32, name=None):
        self.shape = None if shape is None else TensorShape(shape)
        self.dtype = _dt.as_dtype(dtype)
        self.name = name

    @classmethod
    def from_tensor(cls, tensor, name=None):
        a = _leaf_array(tensor)
        return cls(a.shape, _spec_dtype(a.dtype), name)

    def is_compatible_with(self, other):
        """Whether a value or spec fits: same dtype, and shapes equal where both are known."""
        if isinstance(other, TensorSpec):
            shape, dtype = other.shape, other.dtype
        else:
            a = _leaf_array(other)
            shape, dtype = a.shape, _spec_dtype(a.dtype)
        return self.dtype == dtype and _shapes_compatible(self.shape, shape)

    def __eq__(self, other):
        return isinstance(other, TensorSpec) and self.dtype == other.dtype and \
            self.shape == other.shape and (self.shape is None) == (other.shape is None)

    def __hash__(self):
        return hash((None if self.shape is None else tuple(self.shape), self.dtype.name))

    def __repr__(self):
        shape = "<unknown>" if self.shape is None else tuple(self.shape)
        return f"TensorSpec(shape={shape}, dtype=nabi.{self.dtype.name}, name={self.name!r})"


def _spec_dtype(np_dtype):
    try:
        return _dt.as_dtype(np_dtype)
    except TypeError:
        return _dt.DType(np.dtype(np_dtype).name, np_dtype)


# ---------------------------------------------------------------------- composite components
# A component may be a RaggedTensor or a SparseTensor (host containers, kept as they are), or
# a _RaggedRow: a dense row sliced out of a 2-D RaggedTensor, which TF describes as a
# RaggedTensorSpec of ragged_rank 0 and which batches back into a RaggedTensor.
class _RaggedRow(np.ndarray):
    """A row of a sliced RaggedTensor (a plain array otherwise)."""


def _is_composite(a):
    return getattr(type(a), "_is_ragged_tensor", False) or type(a).__name__ == "SparseTensor"


def _plain(a):
    return a.view(np.ndarray) if type(a) is _RaggedRow else a


def _tensor_leaf(a, placed=False):
    """What a component becomes when it is handed to the user or to a function."""
    if isinstance(a, Dataset) or _is_composite(a):
        return a
    a = _plain(a)
    return _wrap(place(a) if placed else a)


class _RaggedColumn:
    """A RaggedTensor as a from_tensor_slices source: rows, slices and gathers of rows."""

    def __init__(self, rt):
        from ..ragged import _as_rows
        self.rt = _as_rows(rt)
        self.ndim = rt.ndim
        self.shape = (len(self.rt),)
        self.dtype = rt.dtype._np

    def __getitem__(self, key):
        if isinstance(key, tuple):
            key = key[0]
        if isinstance(key, slice):
            return self.rt[key]
        r = self.rt._rows[key]
        return r if _is_composite(r) else r.view(_RaggedRow)

    def take(self, idx, axis=0):
        return self.rt._new([self.rt._rows[int(i)] for i in idx])

    def spec(self):
        from ..ragged import RaggedTensorSpec
        return RaggedTensorSpec(self.rt.shape[1:], self.rt.dtype, self.rt.ragged_rank - 1)


class _SparseColumn:
    """A SparseTensor as a from_tensor_slices source."""

    def __init__(self, sp):
        self.sp = sp
        self.ndim = sp.ndim
        self.shape = tuple(int(d) for d in sp._shape)
        self.dtype = sp.dtype._np

    def __getitem__(self, key):
        from ..sparse import _row, _rows_of
        if isinstance(key, tuple):
            key = key[0]
        if isinstance(key, slice):
            return _rows_of(self.sp, range(self.shape[0])[key])
        return _row(self.sp, key)

    def take(self, idx, axis=0):
        from ..sparse import _rows_of
        return _rows_of(self.sp, idx)

    def spec(self):
        from ..sparse import SparseTensorSpec
        return SparseTensorSpec(self.shape[1:], self.sp.dtype)


def _column(a):
    if getattr(type(a), "_is_ragged_tensor", False):
        return _RaggedColumn(a)
    if type(a).__name__ == "SparseTensor":
        return _SparseColumn(a)
    return _plain(a)


def _composite_spec(a):
    if type(a) is _RaggedRow:
        from ..ragged import RaggedTensorSpec
        return RaggedTensorSpec((None,) + a.shape[1:], _spec_dtype(a.dtype), 0)
    if getattr(type(a), "_is_ragged_tensor", False):
        from ..ragged import RaggedTensorSpec
        return RaggedTensorSpec.from_value(a)
    from ..sparse import SparseTensorSpec
    return SparseTensorSpec.from_value(a)


def _shapes_compatible(a, b):
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _spec_of(element):
    return _map(_leaf_spec, element)


def _leaf_spec(a):
    if isinstance(a, Dataset):  # a window() component
        from .transformations import DatasetSpec
        return DatasetSpec(a.element_spec)
    if type(a) is _RaggedRow or _is_composite(a):
        return _composite_spec(a)
    return TensorSpec(a.shape, _spec_dtype(a.dtype))


def _most_specific_compatible(a, b):
    """The spec that covers both (concatenate): dimensions that differ become None."""
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return TensorSpec(None, a.dtype)
    return TensorSpec([x if x == y else None for x, y in zip(a.shape, b.shape)], a.dtype)


# ---------------------------------------------------------------------- structures
def _is_namedtuple(s):
    return isinstance(s, tuple) and hasattr(s, "_fields")


def _map(fn, s):
    """fn over the leaves of a structure of tuples/namedtuples/dicts, keeping the structure."""
    if isinstance(s, dict):
        return type(s)((k, _map(fn, v)) for k, v in s.items())
    if _is_namedtuple(s):
        return type(s)(*(_map(fn, v) for v in s))
    if isinstance(s, tuple):
        return tuple(_map(fn, v) for v in s)
    return fn(s)


def _flatten(s, out=None):
    """The leaves in a fixed order (dict keys sorted, as tf.nest does)."""
    if out is None:
        out = []
    if isinstance(s, dict):
        for k in sorted(s, key=str):
            _flatten(s[k], out)
    elif isinstance(s, tuple):
        for v in s:
            _flatten(v, out)
    else:
        out.append(s)
    return out


def _pack(s, leaves):
    """The structure of s with `leaves` (in _flatten's order) in place of its leaves."""
    it = iter(leaves)

    def build(t):
        if isinstance(t, dict):
            built = {k: build(t[k]) for k in sorted(t, key=str)}
            return type(t)((k, built[k]) for k in t)
        if _is_namedtuple(t):
            return type(t)(*(build(v) for v in t))
        if isinstance(t, tuple):
            return tuple(build(v) for v in t)
        return next(it)
    return build(s)


def _same_structure(a, b):
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b) and \
            all(_same_structure(a[k], b[k]) for k in a)
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and \
            all(_same_structure(x, y) for x, y in zip(a, b))
    return True


def _leaf_array(v):
    """A host NumPy array for one component, with TF's dtypes for Python values
    (floats -> float32, ints -> int32)."""
    if isinstance(v, np.ndarray) and v.dtype.kind in "US":
        return _host_tensor(v).numpy()  # str / bytes arrays become TF's object array of bytes
    if isinstance(v, np.ndarray) or _is_composite(v):
        return v
    if isinstance(v, Tensor):
        a = v.numpy()
        if isinstance(a, bytes):  # a scalar string tensor's numpy() is bytes, as in TF
            return np.array(a, dtype=object)
        return a
    if isinstance(v, Dataset):
        raise TypeError("a Dataset cannot be a component of a dataset element")
    if v is None:
        raise TypeError("None cannot be a component of a dataset element")
    try:
        a = _host_tensor(v).numpy()
    except ValueError as e:
        raise ValueError(f"cannot convert {type(v).__name__} to a tensor ({e}); note that "
                         "tf.data treats a list as one tensor: pass a tuple for several "
                         "components") from None
    if isinstance(a, bytes):    # a Python bytes/str scalar: a 0-d string array, as TF's
        return np.array(a, dtype=object)
    return a


def _strings_of_objects(a):
    """An object array (pandas' string columns: `dict(df)`) as TF converts it: a string
    tensor of UTF-8 bytes; any other object (a NaN, an int, a list) is TF's ValueError."""
    flat = a.ravel()
    if all(type(x) is bytes for x in flat):
        return a
    out = np.empty(flat.shape, dtype=object)
    for i, x in enumerate(flat):
        if isinstance(x, str):
            out[i] = x.encode("utf-8")
        elif isinstance(x, bytes):
            out[i] = bytes(x)
        else:
            raise ValueError(f"Failed to convert a NumPy array to a Tensor (Unsupported object "
                             f"type {type(x).__name__}): an object array must hold only str "
                             f"or bytes, got {x!r} at flat index {i}")
    return out.reshape(a.shape)


def _snapshot(v):
    """A private, read-only copy of a user's value (the dataset does not change if the user's
    array does later, as in TF; read-only, so the rows handed out cannot change it either)."""
    a = _leaf_array(v)
    if isinstance(a, np.ndarray) and a.dtype == object:
        a = _strings_of_objects(a)
    if _is_composite(a):
        return a
    if isinstance(v, (np.ndarray, Tensor)) or not a.flags.c_contiguous:
        a = np.array(a, copy=True, order="C")
    a.flags.writeable = False
    return a


def _normalize_output(out, what):
    """A function's result as a NumPy element: a top-level list becomes a tuple (as tf.data
    does), leaves become arrays."""
    if out is None:
        raise TypeError(f"[{what}] the function returned None; it must return a tensor or a "
                        "structure of tensors")
    if type(out) is list:
        out = tuple(out)
    return _map(lambda v: v if isinstance(v, Dataset) else _leaf_array(v), out)


def _host_tensors(element):
    return _map(_tensor_leaf, element)


def _call(fn, element):
    """Calls fn with the element's components as separate arguments when the element is a
    plain tuple (tf.data's rule), else with the element itself; on the host."""
    args = _host_tensors(element)
    with host_scope():
        if type(args) is tuple:
            return fn(*args)
        return fn(args)


def _to_tensors(element):
    return _map(lambda a: _tensor_leaf(a, True), element)


def _user_numpy(a):
    """What as_numpy_iterator hands out: a NumPy scalar for a 0-d component (as Tensor.numpy
    does in TF), otherwise an array the caller may modify; a RaggedTensor becomes its
    numpy() (nested object arrays of rows), as TF's as_numpy_iterator gives."""
    if getattr(type(a), "_is_ragged_tensor", False):
        return a.numpy()
    if isinstance(a, Dataset) or _is_composite(a):
        return a
    a = _plain(a)
    if a.ndim == 0:
        return a[()]
    return a if a.flags.writeable else a.copy()


_PEEK = threading.local()


@contextlib.contextmanager
def _peeking():
    """While inferring an element_spec from a first element: shuffles do not count an epoch
    and caches do not fill."""
    _PEEK.depth = getattr(_PEEK, "depth", 0) + 1
    try:
        yield
    finally:
        _PEEK.depth -= 1


def _is_peeking():
    return getattr(_PEEK, "depth", 0) > 0


_IGNORE = threading.local()


def _ignoring():
    """True while an ignore_errors() dataset asks its input for an element: map / filter /
    flat_map functions that raise then drop their element instead of ending the pass."""
    return getattr(_IGNORE, "depth", 0) > 0


def _dropped(op, e):
    """A map/filter/flat_map function raised while _ignoring(): log it if asked, go on."""
    if getattr(_IGNORE, "log", False):
        import logging
        logging.getLogger("nabi").warning("[%s] ignore_errors: ignoring error: %s", op, e)


# ---------------------------------------------------------------------- row-index chunks
# A chunk is a `range` (step 1) of source rows or a 1-D int64 array of them; both support
# len() and slicing.
def _as_index_array(c):
    return np.arange(c.start, c.stop, dtype=np.int64) if isinstance(c, range) else c


def _join(pieces):
    if len(pieces) == 1:
        return pieces[0]
    if all(isinstance(p, range) for p in pieces) and \
            all(a.stop == b.start for a, b in zip(pieces, pieces[1:])):
        return range(pieces[0].start, pieces[-1].stop)
    return np.concatenate([_as_index_array(p) for p in pieces])


class _Source:
    """The arrays of a from_tensor_slices dataset: structure, flat components, row count."""

    __slots__ = ("struct", "flat", "n")

    def __init__(self, struct, flat, n):
        self.struct, self.flat, self.n = struct, flat, n

    def row(self, i):
        return _pack(self.struct, [a[i, ...] for a in self.flat])

    def rows(self, c):
        if isinstance(c, range):
            return _pack(self.struct, [a[c.start:c.stop] for a in self.flat])
        return _pack(self.struct, [a.take(c, axis=0) for a in self.flat])


def _plan_elements(plan):
    src, chunks = plan
    for c in chunks():
        if isinstance(c, np.ndarray):
            c = c.tolist()
        for i in c:
            yield src.row(i)


def _take(stream, count):
    """The first `count` items of a chunk stream (count >= 0); the stream is not started when
    count is 0."""
    if count == 0:
        return
    left = count
    for c in stream:
        if len(c) >= left:
            yield c[:left]
            return
        left -= len(c)
        yield c


def _skip(stream, count):
    left = count
    for c in stream:
        if left >= len(c):
            left -= len(c)
            continue
        yield c[left:] if left else c
        left = 0


def _repeat(make, count):
    """The stream `make()` count times (forever when count is None); an empty pass ends it,
    so repeating an empty dataset forever ends."""
    passes = itertools.count() if count is None else range(count)
    for _ in passes:
        empty = True
        for c in make():
            empty = False
            yield c
        if empty:
            return


def _buffer_shuffle(items, buffer_size, rng):
    """tf.data's shuffle: fill a buffer of buffer_size items, then repeatedly hand out one
    chosen uniformly at random and put the next input item in its place; drain at the end."""
    buf = []
    rand, k = [], 0
    for item in items:
        if len(buf) < buffer_size:
            buf.append(item)
            continue
        if k == len(rand):
            rand, k = rng.random(4096).tolist(), 0
        j = int(rand[k] * buffer_size)
        k += 1
        out, buf[j] = buf[j], item
        yield out
    while buf:
        if k == len(rand):
            rand, k = rng.random(4096).tolist(), 0
        j = int(rand[k] * len(buf))
        k += 1
        out = buf[j]
        buf[j] = buf[-1]
        buf.pop()
        yield out


def _shuffle_chunks(stream, buffer_size, rng, n):
    """Shuffled row indices, in chunks. When the whole input (n rows, known) fits in the buffer,
    the buffer algorithm draws a uniform permutation, so one is drawn directly."""
    if 0 <= n <= buffer_size:
        idx = [_as_index_array(c) for c in stream]
        if idx:
            idx = np.concatenate(idx) if len(idx) > 1 else idx[0]
            yield idx[rng.permutation(len(idx))]
        return
    flat = (i for c in stream for i in (c if isinstance(c, range) else c.tolist()))
    out = []
    for i in _buffer_shuffle(flat, buffer_size, rng):
        out.append(i)
        if len(out) == _SHUFFLE_CHUNK:
            yield np.array(out, dtype=np.int64)
            out = []
    if out:
        yield np.array(out, dtype=np.int64)


# ---------------------------------------------------------------------- Dataset
class Dataset:
    """A re-iterable sequence of elements (tf.data.Dataset). Build one with the `from_*` /
    `range` / `zip` constructors and chain the transformations."""

    # -- what subclasses provide -----------------------------------------------------
    def _elements(self):
        """A generator of NumPy elements (used when there is no plan)."""
        raise NotImplementedError

    def _plan(self):
        """(source, make_chunks) when the elements are rows of a from_tensor_slices source;
        make_chunks() gives one pass's row-index chunks."""
        return None

    def _card(self):
        return _UNKNOWN

    def _spec(self):
        with _peeking():
            for element in self._np_iter():
                return _spec_of(element)
        return None

    # -- iteration -------------------------------------------------------------------
    def _np_iter(self):
        """One pass over the elements, as NumPy structures (what Keras's data adapter reads)."""
        plan = self._plan()
        if plan is not None:
            return _plan_elements(plan)
        return self._elements()

    def __iter__(self):
        return Iterator(self)

    def as_numpy_iterator(self):
        """The elements as NumPy arrays (NumPy scalars for 0-d components)."""
        return _NumpyIterator(self)

    def __bool__(self):
        return True  # as tf.data: __len__ must not decide truthiness

    def __len__(self):
        n = self._card()
        if n == _INF:
            raise TypeError("The dataset is infinite.")
        if n == _UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return n

    def cardinality(self):
        """The number of elements as an int64 scalar Tensor: a count, INFINITE_CARDINALITY (-1)
        or UNKNOWN_CARDINALITY (-2)."""
        from ..framework.tensor import constant
        return constant(np.int64(self._card()))

    @property
    def element_spec(self):
        spec = self.__dict__.get("_element_spec_cache")
        if spec is None:
            spec = self._spec()
            self.__dict__["_element_spec_cache"] = spec
        return spec

    def __repr__(self):
        return f"<{type(self).__name__} element_spec={self.element_spec}>"

    # -- constructors ----------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per row of `tensors` (an array/Tensor, or a tuple/dict of them, which
        must all have the same first dimension)."""
        return _TensorSliceDataset(tensors)

    @staticmethod
    def from_tensors(tensors, name=None):
        """A dataset with a single element, `tensors`."""
        return _TensorDataset(tensors)

    @staticmethod
    def range(*args, output_type=_dt.int64, name=None):
        """Like Python's range: Dataset.range(5), range(2, 5), range(1, 10, 2)."""
        return _RangeDataset(args, output_type)

    @staticmethod
    def counter(start=0, step=1, dtype=_dt.int64, name=None):
        """An endless dataset start, start + step, start + 2 * step, ..."""
        return _CounterDataset(start, step, dtype)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None, name=None):
        """Elements yielded by `generator(*args)` (a callable, called once per pass), converted
        to `output_signature` (a structure of TensorSpec) or to output_types/output_shapes."""
        return _GeneratorDataset(generator, output_types, output_shapes, args,
                                 output_signature)

    @staticmethod
    def zip(*datasets, name=None):
        """Elements drawn from several datasets in lockstep: Dataset.zip((a, b)),
        Dataset.zip(a, b) or Dataset.zip({"x": a, "y": b}); ends with the shortest."""
        if len(datasets) == 1 and not isinstance(datasets[0], Dataset):
            datasets = datasets[0]
        elif len(datasets) == 0:
            raise TypeError("[zip] needs at least one dataset")
        return _ZipDataset(datasets)

    @staticmethod
    def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False,
                             rerandomize_each_iteration=None):
        """Elements drawn at random from `datasets`, dataset i with probability weights[i]."""
        from .transformations import sample_from_datasets
        return sample_from_datasets(datasets, weights, seed, stop_on_empty_dataset,
                                    rerandomize_each_iteration)

    @staticmethod
    def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
        """Elements of datasets[i] for each scalar int64 i of choice_dataset in turn."""
        from .transformations import choose_from_datasets
        return choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset)

    # -- transformations -------------------------------------------------------------
    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None):
        """Stacks batch_size consecutive elements along a new first axis; the last batch is
        smaller unless drop_remainder."""
        return _BatchDataset(self, batch_size, drop_remainder)

    def ragged_batch(self, batch_size, drop_remainder=False, row_splits_dtype=_dt.int64,
                     name=None):
        """batch() for elements of different shapes: a component whose shape is not known
        in advance (a map's result, or a None in the element_spec) becomes a RaggedTensor
        of the batch's rows; fully known shapes, scalars and ragged or sparse components
        batch as batch() does."""
        return _RaggedBatchDataset(self, batch_size, drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None,
                     drop_remainder=False, name=None):
        """batch() for elements of different shapes: each component is padded (with
        padding_values, default 0) to padded_shapes, whose None / -1 dimensions take the
        batch's largest size."""
        return _PaddedBatchDataset(self, batch_size, padded_shapes, padding_values,
                                   drop_remainder)

    def unbatch(self, name=None):
        """Splits each element along its first axis into separate elements."""
        return _UnbatchDataset(self)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """Randomly shuffles the elements with a buffer of buffer_size elements (a full
        shuffle when it holds the whole dataset). The order follows nabi.random.set_seed and
        `seed`, and changes every pass unless reshuffle_each_iteration=False."""
        return _ShuffleDataset(self, buffer_size, seed, reshuffle_each_iteration)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """Applies map_func to each element (a tuple element's components are separate
        arguments). The elements are computed in the calling thread, in order: num_parallel_calls
        and deterministic (or Options.deterministic) are accepted and change nothing (an
        ordered result is one that deterministic=False allows)."""
        return _MapDataset(self, map_func)

    def filter(self, predicate, name=None):
        """Keeps the elements for which predicate returns a scalar True."""
        return _FilterDataset(self, predicate)

    def save(self, path, compression=None, shard_func=None, checkpoint_args=None, name=None):
        """Writes every element to the directory `path` (nabi's format, a pickle of the
        host arrays and the element_spec: TensorFlow cannot read it, nor nabi TF's)."""
        import os
        import pickle
        from ..framework.device import to_device
        rows = [_map(lambda a: to_device(a, "cpu"), e) for e in self._np_iter()]
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "nabi_dataset.pkl"), "wb") as f:
            pickle.dump({"elements": rows, "element_spec": self.element_spec}, f)

    @staticmethod
    def load(path, element_spec=None, compression=None, reader_func=None, name=None):
        """The dataset that `Dataset.save(path)` wrote."""
        import os
        import pickle
        from .transformations import _ListDataset
        f = os.path.join(path, "nabi_dataset.pkl")
        if not os.path.isfile(f):
            raise FileNotFoundError(f"[Dataset.load] {path!r} holds no dataset saved by "
                                    "nabi's Dataset.save")
        with open(f, "rb") as fh:
            saved = pickle.load(fh)
        return _ListDataset(saved["elements"], element_spec or saved["element_spec"])

    def rejection_resample(self, class_func, target_dist, initial_dist=None, seed=None,
                           name=None):
        """(class, element) pairs resampled so that the classes follow target_dist."""
        from .transformations import _RejectionResampleDataset
        return _RejectionResampleDataset(self, class_func, target_dist, initial_dist, seed)

    def take_while(self, predicate, name=None):
        """The elements up to (not including) the first for which predicate returns False."""
        return _FilterDataset(self, predicate, stop=True)

    def flat_map(self, map_func, name=None):
        """map_func returns a Dataset per element; their elements are concatenated."""
        return _FlatMapDataset(self, map_func)

    def repeat(self, count=None, name=None):
        """The dataset `count` times (forever when count is None or -1)."""
        return _RepeatDataset(self, count)

    def take(self, count, name=None):
        """The first `count` elements (all of them when count is -1)."""
        return _TakeDataset(self, count)

    def skip(self, count, name=None):
        """All but the first `count` elements (none when count is -1)."""
        return _SkipDataset(self, count)

    def shard(self, num_shards, index, name=None):
        """Every num_shards-th element, starting at `index`."""
        return _ShardDataset(self, num_shards, index)

    def prefetch(self, buffer_size, name=None):
        """Accepted for compatibility: elements are produced on demand."""
        return _PrefetchDataset(self)

    def cache(self, filename="", name=None):
        """Keeps the elements after the first complete pass; later passes replay them (so a
        shuffle or a random map before cache() is fixed, as in TF). With filename="" the
        cache is in memory; otherwise the first complete pass writes files at that prefix
        (`<filename>.index`, `<filename>.data`, and `<filename>.lockfile` while writing), and
        every later pass, in this program or another, reads them instead of the input. A
        second iterator that would write the same unfinished cache raises AlreadyExistsError,
        and a pass that stops early leaves no cache behind."""
        filename = _leaf_array(filename) if isinstance(filename, Tensor) else filename
        if isinstance(filename, np.ndarray):
            filename = filename.item()
        if isinstance(filename, bytes):
            filename = filename.decode("utf-8")
        import os
        filename = os.fspath(filename)
        if filename:
            from .filecache import _FileCacheDataset
            return _FileCacheDataset(self, filename)
        return _CacheDataset(self)

    def snapshot(self, path, compression="AUTO", reader_func=None, shard_func=None,
                 name=None):
        """Like cache(filename), in the directory `path`: the first complete pass writes the
        elements there, later passes and later programs read them; while another iterator
        writes, a pass reads the input. nabi has no graph fingerprint: a snapshot is told
        apart from another one in the same directory by its element_spec and cardinality
        only. compression "GZIP" compresses the data; "AUTO", "SNAPPY", "" or None store it
        uncompressed. reader_func and shard_func change only the file layout in TF and are
        accepted."""
        from .filecache import _SnapshotDataset
        return _SnapshotDataset(self, path, compression)

    def options(self):
        """The tf.data.Options of this dataset: those its inputs carry, merged in order, then
        its own with_options (later ones win). Read-only: change a new Options and call
        with_options."""
        from .options import Options
        opts = Options()
        for d in self._input_datasets():
            opts = opts._merged(d.options())
        own = getattr(self, "_own_options", None)
        if own is not None:
            opts = opts._merged(own)
        return opts._freeze()

    def with_options(self, options, name=None):
        """The same dataset carrying `options` (a tf.data.Options), merged over the options
        it already has (a field set in `options` wins)."""
        from .options import Options
        import copy
        if not isinstance(options, Options):
            raise TypeError(f"[with_options] expects a tf.data.Options, got "
                            f"{type(options).__name__}")
        return _OptionsDataset(self, copy.deepcopy(options))

    def _input_datasets(self):
        """The datasets this one reads (for options()), in order."""
        out = []
        for k in ("_input", "_first", "_second", "_datasets", "_choice"):
            v = self.__dict__.get(k)
            if isinstance(v, list):
                v = tuple(v)
            if v is not None:
                out.extend(d for d in _flatten(v) if isinstance(d, Dataset))
        return out

    def get_single_element(self, name=None):
        """The dataset's only element (as Tensors); InvalidArgumentError when it is empty or
        has more than one."""
        from ..errors import InvalidArgumentError
        it = self._np_iter()
        try:
            first = next(it)
        except StopIteration:
            raise InvalidArgumentError("[get_single_element] Dataset was empty.") from None
        for _ in it:
            raise InvalidArgumentError("[get_single_element] Dataset had more than one "
                                       "element.")
        return _to_tensors(first)

    @staticmethod
    def random(seed=None, rerandomize_each_iteration=None, name=None):
        """An endless dataset of pseudorandom int64 scalars, uniform in [0, 2**32). With a
        seed (or nabi.random.set_seed) the sequence is reproducible; every pass repeats it
        unless rerandomize_each_iteration=True."""
        from .extra_ops import _RandomDataset
        return _RandomDataset(seed, rerandomize_each_iteration)

    def rebatch(self, batch_size, drop_remainder=False, name=None):
        """The rows of the input's batches regrouped: batch_size (a number, or a list of sizes
        used in turn) rows per batch, as unbatch().batch(batch_size) does."""
        from .extra_ops import _RebatchDataset
        return _RebatchDataset(self, batch_size, drop_remainder)

    def sparse_batch(self, batch_size, row_shape, name=None):
        """batch_size elements of different shapes as one SparseTensor of dense_shape
        [rows in the batch] + row_shape (a -1 in row_shape takes the batch's largest size);
        every entry of each element (zeros included) becomes a value."""
        from .extra_ops import _SparseBatchDataset
        return _SparseBatchDataset(self, batch_size, row_shape)

    def ignore_errors(self, log_warning=False, name=None):
        """Drops the elements whose map / filter / flat_map function raises an error (a
        check_numerics or a parse inside map included) anywhere upstream; an error inside a
        batch drops that element only (TF drops the rows batched so far as well). An error
        raised elsewhere (a reader's corrupt file) ends the dataset there instead of
        raising."""
        from .extra_ops import _IgnoreErrorsDataset
        return _IgnoreErrorsDataset(self, log_warning)

    def concatenate(self, dataset, name=None):
        """This dataset's elements followed by `dataset`'s (their elements must match in
        structure and dtype)."""
        return _ConcatenateDataset(self, dataset)

    def enumerate(self, start=0, name=None):
        """(index, element) pairs, index an int64 counting from start."""
        return _EnumerateDataset(self, start)

    def interleave(self, map_func, cycle_length=None, block_length=None,
                   num_parallel_calls=None, deterministic=None, name=None):
        """map_func returns a Dataset per element; cycle_length of them (os.cpu_count() by
        default) are read in turn, block_length (1) elements at a time. Always in that order:
        num_parallel_calls and deterministic=False are accepted (see map)."""
        from .transformations import _InterleaveDataset
        return _InterleaveDataset(self, map_func, cycle_length, block_length)

    def window(self, size, shift=None, stride=1, drop_remainder=False, name=None):
        """A dataset of windows: each is a Dataset (one per component) of `size` elements
        taken every `stride`, windows starting every `shift` (default size) elements."""
        from .transformations import _WindowDataset
        return _WindowDataset(self, size, shift, stride, drop_remainder)

    def scan(self, initial_state, scan_func, name=None):
        """scan_func(state, element) -> (new_state, output): outputs of a running state."""
        from .transformations import _ScanDataset
        return _ScanDataset(self, initial_state, scan_func)

    def unique(self, name=None):
        """The elements (int32, int64 or string) without repeats, in first-seen order."""
        from .transformations import _UniqueDataset
        return _UniqueDataset(self)

    def group_by_window(self, key_func, reduce_func, window_size=None, window_size_func=None,
                        name=None):
        """Groups elements by key_func(element) (an int64); each group of window_size
        elements (and each group left at the end) becomes reduce_func(key, window_dataset)."""
        from .transformations import _GroupByWindowDataset
        return _GroupByWindowDataset(self, key_func, reduce_func, window_size,
                                     window_size_func)

    def bucket_by_sequence_length(self, element_length_func, bucket_boundaries,
                                  bucket_batch_sizes, padded_shapes=None, padding_values=None,
                                  pad_to_bucket_boundary=False, no_padding=False,
                                  drop_remainder=False, name=None):
        """Batches elements of similar length together (padded_batch per bucket)."""
        from .transformations import bucket_by_sequence_length
        return bucket_by_sequence_length(element_length_func, bucket_boundaries,
                                         bucket_batch_sizes, padded_shapes, padding_values,
                                         pad_to_bucket_boundary, no_padding,
                                         drop_remainder)(self)

    @staticmethod
    def list_files(file_pattern, shuffle=None, seed=None, name=None):
        """The files matching a glob pattern (or list of patterns), as scalar strings:
        sorted when shuffle=False, else shuffled each pass."""
        from .readers import list_files
        return list_files(file_pattern, shuffle, seed)

    def apply(self, transformation_func):
        """transformation_func(self), which must return a Dataset."""
        out = transformation_func(self)
        if not isinstance(out, Dataset):
            raise TypeError("[apply] the transformation must return a Dataset, got "
                            f"{type(out).__name__}")
        return out

    def reduce(self, initial_state, reduce_func, name=None):
        """Folds reduce_func(state, element) over the elements, starting from initial_state;
        returns the final state as Tensors."""
        state = _normalize_output(initial_state, "reduce")
        dts = [a.dtype for a in _flatten(state)]
        for element in self._np_iter():
            args = (_host_tensors(state), _host_tensors(element))
            with host_scope():
                new = _normalize_output(reduce_func(*args), "reduce")
            if not _same_structure(state, new):
                raise TypeError(f"[reduce] reduce_func changed the state's structure: started "
                                f"as {_spec_of(state)}, returned {_spec_of(new)}")
            new_dts = [a.dtype for a in _flatten(new)]
            if new_dts != dts:
                raise TypeError(f"[reduce] reduce_func must keep the state's dtypes: the "
                                f"initial state has {[str(d) for d in dts]}, reduce_func "
                                f"returned {[str(d) for d in new_dts]}")
            state = new
        return _to_tensors(state)


DatasetV2 = Dataset


class Iterator:
    """An iterator over a Dataset's elements (as Tensors); `iter(dataset)`."""

    def __init__(self, dataset):
        self._dataset = dataset
        self._it = dataset._np_iter()
        self._consumed = 0
        self._position = None   # an int64 Variable, once a tf.train.Checkpoint tracks this

    def __iter__(self):
        return self

    def __next__(self):
        return _to_tensors(self._next_np())

    def _next_np(self):
        if self._position is not None:
            at = int(self._position.numpy())
            if at != self._mark:                      # a checkpoint restored the position
                self._seek(at)
                self._mark = at
        e = next(self._it)
        self._consumed += 1
        return e

    def _checkpoint_position(self):
        """The Variable a tf.train.Checkpoint saves for this iterator: the number of elements
        consumed. TF saves the whole pipeline's state; nabi restores an iterator by replaying
        its dataset from the start and skipping that many elements, which is exact for a
        deterministic pipeline (a shuffle with a seed included)."""
        from ..framework.tensor import Variable
        if self._position is None:
            self._position = Variable(np.int64(self._consumed), trainable=False,
                                      name="iterator_position")
        else:
            self._position.assign(np.int64(self._consumed))
        self._mark = self._consumed    # the value written; another one is a restore
        return self._position

    def _seek(self, n):
        close = getattr(self._it, "close", None)
        if close is not None:
            close()      # ends a file cache's write before the pass starts again
        self._it = self._dataset._np_iter()
        for _ in range(n):
            next(self._it)
        self._consumed = n

    def get_next(self):
        return self.__next__()

    def get_next_as_optional(self):
        """The next element as a tf.experimental.Optional: empty at the end of the dataset."""
        from .optional import Optional
        try:
            return Optional.from_value(next(self))
        except StopIteration:
            return Optional.empty(self.element_spec)

    next = get_next

    @property
    def element_spec(self):
        return self._dataset.element_spec


class _NumpyIterator(Iterator):
    def __next__(self):
        return _map(_user_numpy, self._next_np())

    def __repr__(self):
        return f"<NumpyIterator over {type(self._dataset).__name__}>"


# ---------------------------------------------------------------------- sources
class _TensorSliceDataset(Dataset):
    def __init__(self, tensors):
        struct = _map(_snapshot, tensors)
        flat = _flatten(struct)
        if not flat:
            raise ValueError("[from_tensor_slices] needs at least one tensor")
        for a in flat:
            if a.ndim == 0:
                raise ValueError("[from_tensor_slices] every component must have at least one "
                                 f"dimension to slice, got a scalar of dtype {a.dtype}")
        flat = [_column(a) for a in flat]
        struct = _pack(struct, flat)
        shapes = [a.shape for a in flat]
        if len({s[0] for s in shapes}) > 1:
            raise ValueError("[from_tensor_slices] all components must have the same size in "
                             f"their first dimension, got shapes {[tuple(s) for s in shapes]}")
        self._src = _Source(struct, flat, shapes[0][0])

    def _plan(self):
        n = self._src.n
        return self._src, lambda: iter((range(0, n),) if n else ())

    def _card(self):
        return self._src.n

    def _spec(self):
        return _map(lambda a: a.spec() if isinstance(a, (_RaggedColumn, _SparseColumn)) else
                    TensorSpec(a.shape[1:], _spec_dtype(a.dtype)), self._src.struct)


class _TensorDataset(Dataset):
    def __init__(self, tensors):
        self._element = _map(_snapshot, tensors)

    def _elements(self):
        yield self._element

    def _card(self):
        return 1

    def _spec(self):
        return _spec_of(self._element)


class _RangeDataset(Dataset):
    def __init__(self, args, output_type):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"[range] takes 1 to 3 arguments (stop / start, stop[, step]), "
                            f"got {len(args)}")
        self._range = range(*(int(_leaf_array(a)) for a in args))
        self._dtype = _dt.as_dtype(output_type)._np

    def _elements(self):
        dt = self._dtype
        for i in self._range:
            yield np.array(i, dtype=dt)

    def _card(self):
        return len(self._range)

    def _spec(self):
        return TensorSpec((), self._dtype)


class _CounterDataset(Dataset):
    """start, start + step, ... without end (tf.data.Dataset.counter)."""

    def __init__(self, start, step, dtype):
        self._start, self._step = int(_leaf_array(start)), int(_leaf_array(step))
        self._dtype = _dt.as_dtype(dtype)._np

    def _elements(self):
        i = self._start
        while True:
            yield np.array(i, dtype=self._dtype)
            i += self._step

    def _card(self):
        return _INF

    def _spec(self):
        return TensorSpec((), self._dtype)


def _as_spec(s, what):
    if isinstance(s, TensorSpec) or type(s).__name__ == "RaggedTensorSpec":
        return s
    if hasattr(s, "shape") and hasattr(s, "dtype"):
        return TensorSpec(None if s.shape is None else tuple(s.shape), s.dtype)
    raise TypeError(f"[from_generator] {what} must be a structure of TensorSpec, got "
                    f"{type(s).__name__}")


class _GeneratorDataset(Dataset):
    def __init__(self, generator, output_types, output_shapes, args, output_signature):
        if not callable(generator):
            raise TypeError("[from_generator] `generator` must be a Python callable (a "
                            "generator function), not a generator object: it is called once "
                            "per pass")
        if output_signature is not None:
            if output_types is not None or output_shapes is not None:
                raise TypeError("[from_generator] pass either output_signature or "
                                "output_types/output_shapes, not both")
            if type(output_signature) is list:
                output_signature = tuple(output_signature)
            spec = _map(lambda s: _as_spec(s, "output_signature"), output_signature)
        elif output_types is not None:
            if type(output_types) is list:
                output_types = tuple(output_types)
            if output_shapes is None:
                spec = _map(lambda t: TensorSpec(None, t), output_types)
            else:
                shapes = _flat_shapes(output_shapes, output_types)
                spec = _pack(output_types, [TensorSpec(s, t) for s, t in
                                            zip(shapes, _flatten(output_types))])
        else:
            raise TypeError("[from_generator] the element signature is missing: pass "
                            "output_signature (or output_types)")
        self._gen = generator
        self._args = () if args is None else tuple(_leaf_array(a) for a in args)
        self._spec_struct = spec

    def _spec(self):
        return self._spec_struct

    def _elements(self):
        spec = self._spec_struct
        for value in self._gen(*self._args):
            yield _conform(value, spec)


class _ShapeLeaf:
    """A shape kept whole while flattening output_shapes along output_types' structure."""

    __slots__ = ("dims",)

    def __init__(self, dims):
        self.dims = dims


def _shape_structure(shapes, like):
    """Shapes laid out like the structure `like`, with _ShapeLeaf leaves (a shape is itself a
    tuple or list, so it must not be flattened)."""
    if isinstance(like, dict):
        return {k: _shape_structure(shapes[k], v) for k, v in like.items()}
    if isinstance(like, tuple):
        if not isinstance(shapes, (tuple, list)) or len(shapes) != len(like):
            raise ValueError(f"shapes {shapes!r} do not match the element structure {like!r}")
        return tuple(_shape_structure(s, t) for s, t in zip(shapes, like))
    return _ShapeLeaf(_shape_tuple(shapes))


def _shape_tuple(s):
    """A shape argument as a tuple of ints/None (None: unknown rank). An int n is the 1-D
    shape [n] and a TensorShape or an int vector works too, as TF's as_shape allows."""
    if s is None:
        return None
    if isinstance(s, Tensor):
        s = s.numpy()
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        return (int(s),)
    if isinstance(s, np.ndarray):
        return tuple(int(v) for v in s.reshape(-1))
    if isinstance(s, TensorShape):
        return None if s.rank is None else tuple(s.as_list())
    return tuple(None if d is None else int(d) for d in s)


def _flat_shapes(shapes, like):
    """The shapes (tuples, or None) for like's flat components."""
    return [leaf.dims for leaf in _flatten(_shape_structure(shapes, like))]


def _conform(value, spec):
    """A generator's value converted to the signature (dtype, shape, structure)."""
    if type(spec).__name__ == "RaggedTensorSpec":
        from .. import ragged as _ragged
        if not getattr(type(value), "_is_ragged_tensor", False):
            try:  # a nested list: the RaggedTensor it spells
                value = _ragged.constant(value, dtype=spec.dtype, ragged_rank=spec.ragged_rank)
            except Exception as e:  # noqa: BLE001
                raise TypeError(f"[from_generator] the generator yielded {value!r}, which is "
                                f"not a RaggedTensor matching {spec} ({e})") from None
        if not spec.is_compatible_with(value):
            raise TypeError(f"[from_generator] the generator yielded {value!r}, which does "
                            f"not match {spec}")
        return value
    if isinstance(spec, TensorSpec):
        a = value.numpy() if isinstance(value, Tensor) else value
        want = spec.dtype._np
        try:
            a = np.asarray(a, dtype=want) if want.kind != "O" else np.asarray(a, dtype=object)
        except (TypeError, ValueError) as e:
            raise TypeError(f"[from_generator] the generator yielded {value!r}, which cannot "
                            f"be converted to {spec.dtype.name} ({e})") from None
        if not _shapes_compatible(spec.shape, a.shape):
            raise TypeError(f"[from_generator] the generator yielded an element of shape "
                            f"{a.shape} where an element of shape {tuple(spec.shape)} was "
                            "expected")
        return a
    if isinstance(spec, dict):
        if not isinstance(value, dict) or set(value) != set(spec):
            raise TypeError("[from_generator] the generator yielded an element that does not "
                            f"match the expected structure {spec}: {value!r}")
        return type(spec)((k, _conform(value[k], s)) for k, s in spec.items())
    if not isinstance(value, (tuple, list)) or len(value) != len(spec):
        raise TypeError("[from_generator] the generator yielded an element that does not "
                        f"match the expected structure {spec}: {value!r}")
    parts = [_conform(v, s) for v, s in zip(value, spec)]
    return type(spec)(*parts) if _is_namedtuple(spec) else tuple(parts)


class _ZipDataset(Dataset):
    def __init__(self, datasets):
        if type(datasets) is list:
            datasets = tuple(datasets)
        for d in _flatten(datasets):
            if not isinstance(d, Dataset):
                raise TypeError(f"[zip] expects Datasets (a tuple or dict of them), got a "
                                f"{type(d).__name__}")
        self._datasets = datasets

    def _elements(self):
        its = [d._np_iter() for d in _flatten(self._datasets)]
        while True:
            parts = []
            for it in its:
                try:
                    parts.append(next(it))
                except StopIteration:
                    return
            yield _pack(self._datasets, parts)

    def _card(self):
        out = _INF
        for d in _flatten(self._datasets):
            n = d._card()
            if n == _UNKNOWN:
                return _UNKNOWN
            if n != _INF and (out == _INF or n < out):
                out = n
        return out

    def _spec(self):
        return _map(lambda d: d.element_spec, self._datasets)


# ---------------------------------------------------------------------- transformations
class _UnaryDataset(Dataset):
    """A transformation of one input dataset; by default the same elements, count and spec."""

    def __init__(self, input_dataset):
        if not isinstance(input_dataset, Dataset):
            raise TypeError(f"expected a Dataset, got {type(input_dataset).__name__}")
        self._input = input_dataset

    def _elements(self):
        return self._input._np_iter()

    def _plan(self):
        return self._input._plan()

    def _card(self):
        return self._input._card()

    def _spec(self):
        return self._input.element_spec


class _PrefetchDataset(_UnaryDataset):
    """prefetch(): the same elements (they are produced on demand)."""


class _OptionsDataset(_UnaryDataset):
    """with_options(): the same elements, carrying options (see Dataset.options)."""

    def __init__(self, input_dataset, options):
        super().__init__(input_dataset)
        self._own_options = options


def _positive(value, what, arg):
    v = int(_leaf_array(value))
    if v <= 0:
        raise ValueError(f"[{what}] {arg} must be greater than zero, got {v}")
    return v


def _stack(elements, what, ragged=None):
    """Stacks a list of elements along a new first axis, component by component. Ragged
    components (and those `ragged` marks, for ragged_batch) become RaggedTensors, sparse
    ones SparseTensors."""
    first = elements[0]
    flats = [_flatten(e) for e in elements]
    out = []
    for k in range(len(flats[0])):
        parts = [f[k] for f in flats]
        p0 = parts[0]
        if type(p0) is _RaggedRow or _is_composite(p0) or (ragged and ragged[k]):
            out.append(_stack_composite(parts, what, k))
            continue
        s0 = p0.shape
        for i, p in enumerate(parts):
            if p.shape != s0:
                from ..errors import InvalidArgumentError
                raise InvalidArgumentError(
                    f"Cannot batch tensors with different shapes in component {k}. First "
                    f"element had shape {list(s0)} and element {i} had shape {list(p.shape)}. "
                    f"[{what}: shapes {s0} and {p.shape}; use padded_batch or ragged_batch]")
        out.append(np.stack(parts))
    return _pack(first, out)


def _stack_composite(parts, what, k):
    if type(parts[0]).__name__ == "SparseTensor":
        from ..sparse import _batch
        if not all(type(p).__name__ == "SparseTensor" for p in parts):
            raise TypeError(f"[{what}] component {k} mixes SparseTensors and dense tensors")
        return _batch(parts)
    from ..ragged import RaggedTensor, stack
    if any(getattr(type(p), "_is_ragged_tensor", False) for p in parts):
        return stack(parts, axis=0)
    if any(p.ndim == 0 for p in parts):
        raise ValueError(f"[{what}] component {k}: scalars cannot form ragged rows")
    rows = [_plain(p) for p in parts]
    inner = {r.shape[1:] for r in rows}
    if len(inner) > 1:
        lens = [np.array([r.shape[d] for r in rows]) for d in range(rows[0].ndim)]
        flat = np.concatenate([r.reshape(-1) for r in rows])
        return RaggedTensor.from_nested_row_lengths(
            flat, [lens[0]] + [np.repeat(lens[d], np.prod(np.stack(lens[:d]), axis=0))
                               for d in range(1, len(lens))])
    return RaggedTensor(rows, (len(rows),), _spec_dtype(rows[0].dtype))


def _batched_leaf_spec(s, dim, ragged=False):
    kind = type(s).__name__
    if kind == "RaggedTensorSpec" or (ragged and kind == "TensorSpec" and s.shape is not None
                                      and len(s.shape)):
        from ..ragged import RaggedTensorSpec
        shape = None if s.shape is None else (dim,) + tuple(
            None if ragged and i == 0 else d for i, d in enumerate(s.shape))
        rank = s.ragged_rank if kind == "RaggedTensorSpec" else 0
        return RaggedTensorSpec(shape, s.dtype, rank + 1)
    if kind == "SparseTensorSpec":
        from ..sparse import SparseTensorSpec
        return SparseTensorSpec(None if s.shape is None else (dim,) + tuple(s.shape), s.dtype)
    return TensorSpec(None if s.shape is None else (dim,) + tuple(s.shape), s.dtype)


def _batched_spec(spec, dim):
    return _map(lambda s: _batched_leaf_spec(s, dim), spec)


def _batch_card(n, size, drop):
    if n < 0:
        return n
    return n // size if drop else -(-n // size)


class _BatchDataset(_UnaryDataset):
    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        self._size = _positive(batch_size, "batch", "batch_size")
        self._drop = bool(drop_remainder)

    def _plan(self):
        return None

    def _elements(self):
        plan = self._input._plan()
        if plan is not None:
            yield from self._gathered(*plan)
            return
        size, buf = self._size, []
        for element in self._input._np_iter():
            buf.append(element)
            if len(buf) == size:
                yield _stack(buf, "batch")
                buf = []
        if buf and not self._drop:
            yield _stack(buf, "batch")

    def _gathered(self, src, chunks):
        """Batches of source rows: a slice for consecutive rows, else one gather."""
        size, pieces, have = self._size, [], 0
        for c in chunks():
            while len(c):
                k = min(size - have, len(c))
                pieces.append(c[:k])
                have += k
                c = c[k:]
                if have == size:
                    yield src.rows(_join(pieces))
                    pieces, have = [], 0
        if have and not self._drop:
            yield src.rows(_join(pieces))

    def _card(self):
        return _batch_card(self._input._card(), self._size, self._drop)

    def _spec(self):
        return _batched_spec(self._input.element_spec, self._size if self._drop else None)


def _spec_is_inferred(ds):
    """Whether ds's element_spec was read off its first element (a map's or flat_map's
    result) rather than declared, so its shapes say nothing about later elements."""
    while isinstance(ds, Dataset):
        if isinstance(ds, (_MapDataset, _FlatMapDataset)) or type(ds).__name__ in (
                "_InterleaveDataset", "_ScanDataset", "_GroupByWindowDataset"):
            return True
        if isinstance(ds, (_BatchDataset, _PaddedBatchDataset, _UnbatchDataset)):
            return False
        ds = getattr(ds, "_input", None)
    return False


class _RaggedBatchDataset(_BatchDataset):
    """ragged_batch / dense_to_ragged_batch: dense components of unknown shape batch into
    RaggedTensors."""

    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset, batch_size, drop_remainder)
        inferred = _spec_is_inferred(input_dataset)
        spec = input_dataset.element_spec
        self._ragged = [type(sp).__name__ == "TensorSpec" and
                        (sp.shape is None or (len(sp.shape) > 0 and
                                              (inferred or None in tuple(sp.shape))))
                        for sp in _flatten(spec)] if spec is not None else None

    def _elements(self):
        size, buf = self._size, []
        for element in self._input._np_iter():
            buf.append(element)
            if len(buf) == size:
                yield _stack(buf, "ragged_batch", self._ragged)
                buf = []
        if buf and not self._drop:
            yield _stack(buf, "ragged_batch", self._ragged)

    def _spec(self):
        spec = self._input.element_spec
        dim = self._size if self._drop else None
        flat = _flatten(spec)
        return _pack(spec, [_batched_leaf_spec(sp, dim, bool(r))
                            for sp, r in zip(flat, self._ragged)])


class _PaddedBatchDataset(_UnaryDataset):
    def __init__(self, input_dataset, batch_size, padded_shapes, padding_values,
                 drop_remainder):
        super().__init__(input_dataset)
        self._size = _positive(batch_size, "padded_batch", "batch_size")
        self._shapes = padded_shapes
        self._values = padding_values
        self._drop = bool(drop_remainder)

    def _plan(self):
        return None

    def _pad(self, buf):
        first = buf[0]
        flats = [_flatten(e) for e in buf]
        n = len(flats[0])
        if self._shapes is None:
            shapes = [None] * n
        elif isinstance(first, (tuple, dict)):
            shapes = _flat_shapes(self._shapes, first)
        else:
            shapes = [_shape_tuple(self._shapes)]
        if self._values is None:
            values = [None] * n
        elif isinstance(first, (tuple, dict)) and isinstance(self._values, (tuple, dict)):
            values = _flatten(self._values)
        else:
            values = [self._values] * n
        out = []
        for k in range(n):
            parts = [f[k] for f in flats]
            rank = parts[0].ndim
            if any(p.ndim != rank for p in parts):
                raise ValueError(f"[padded_batch] component {k} has elements of different "
                                 f"ranks: {[p.shape for p in parts]}")
            biggest = [max(p.shape[d] for p in parts) for d in range(rank)]
            want = shapes[k]
            if want is not None:
                want = list(want)
                if len(want) != rank:
                    raise ValueError(f"[padded_batch] padded shape {tuple(want)} for component "
                                     f"{k} does not have the elements' rank {rank}")
                for d in range(rank):
                    if want[d] is None or int(want[d]) < 0:
                        want[d] = biggest[d]
                    elif int(want[d]) < biggest[d]:
                        raise ValueError(f"[padded_batch] component {k} has an element of "
                                         f"shape {tuple(biggest)} larger than the padded "
                                         f"shape {tuple(shapes[k])}")
            else:
                want = biggest
            pad = values[k]
            if pad is None:
                kind = parts[0].dtype.kind
                pad = "" if kind == "U" else b"" if kind in "OS" else 0  # TF strings: bytes
            else:
                pad = _leaf_array(pad)
            arr = np.full([len(parts)] + [int(w) for w in want], pad, dtype=parts[0].dtype)
            for i, p in enumerate(parts):
                arr[(i,) + tuple(slice(0, s) for s in p.shape)] = p
            out.append(arr)
        return _pack(first, out)

    def _elements(self):
        size, buf = self._size, []
        for element in self._input._np_iter():
            buf.append(element)
            if len(buf) == size:
                yield self._pad(buf)
                buf = []
        if buf and not self._drop:
            yield self._pad(buf)

    def _card(self):
        return _batch_card(self._input._card(), self._size, self._drop)

    def _spec(self):
        spec = self._input.element_spec
        dim = self._size if self._drop else None
        if self._shapes is None:
            # TF pads to the input's own shape: its known dimensions stay known (unless the
            # spec was read off a map's first element, which says nothing about the rest)
            loose = _spec_is_inferred(self._input)
            return _map(lambda s: TensorSpec(None if s.shape is None else (dim,) + tuple(
                None if loose else d for d in s.shape), s.dtype), spec)
        flat_spec = _flatten(spec)
        shapes = _flat_shapes(self._shapes, spec) \
            if isinstance(spec, (tuple, dict)) else [_shape_tuple(self._shapes)]
        out = [TensorSpec(None if shp is None and s.shape is None else
                          (dim,) + tuple(None if d is None or int(d) < 0 else int(d)
                                         for d in (shp if shp is not None else
                                                   (None,) * len(s.shape))), s.dtype)
               for s, shp in zip(flat_spec, shapes)]
        return _pack(spec, out)


class _UnbatchDataset(_UnaryDataset):
    def _plan(self):
        return None

    def _elements(self):
        for element in self._input._np_iter():
            flat = [_column(a) for a in _flatten(element)]
            if any(a.ndim == 0 for a in flat):
                raise ValueError("[unbatch] every component needs a first (batch) dimension; "
                                 f"got shapes {[a.shape for a in flat]}")
            n = flat[0].shape[0]
            if any(a.shape[0] != n for a in flat):
                raise ValueError("[unbatch] the components' first dimensions differ: "
                                 f"{[a.shape for a in flat]}")
            for i in range(n):
                yield _pack(element, [a[i, ...] for a in flat])

    def _batch_dim(self):
        dims = {None if s.shape is None or not len(s.shape) else s.shape[0]
                for s in _flatten(self._input.element_spec)}
        return dims.pop() if len(dims) == 1 else None

    def _card(self):
        n = self._input._card()
        if n < 0:
            return n
        d = self._batch_dim()
        return _UNKNOWN if d is None else n * d

    def _spec(self):
        return _map(_unbatched_leaf_spec, self._input.element_spec)


def _unbatched_leaf_spec(s):
    kind = type(s).__name__
    shape = None if s.shape is None else tuple(s.shape)[1:]
    if kind == "RaggedTensorSpec":
        from ..ragged import RaggedTensorSpec
        return RaggedTensorSpec(shape, s.dtype, max(0, s.ragged_rank - 1))
    if kind == "SparseTensorSpec":
        from ..sparse import SparseTensorSpec
        return SparseTensorSpec(shape, s.dtype)
    return TensorSpec(shape, s.dtype)


class _ShuffleDataset(_UnaryDataset):
    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        self._buffer = int(_leaf_array(buffer_size))
        if self._buffer == AUTOTUNE:
            raise ValueError("[shuffle] buffer_size must be given (AUTOTUNE is not supported)")
        if self._buffer <= 0:
            raise ValueError(f"[shuffle] buffer_size must be greater than zero, got "
                             f"{self._buffer}")
        from ..ops.random_ops import _generator
        # The seed for this shuffle: from the op seed (and the global one) when given, else
        # the next draw of the global generator (so nabi.random.set_seed fixes it).
        self._base = int(_generator(None if seed is None else int(seed)).integers(2 ** 63))
        self._reshuffle = bool(reshuffle_each_iteration)
        self._passes = 0

    def _rng(self):
        """This pass's generator: a new order each pass when reshuffling."""
        if not self._reshuffle or _is_peeking():
            return np.random.default_rng(self._base)
        self._passes += 1
        return np.random.default_rng([self._base, self._passes])

    def _plan(self):
        plan = self._input._plan()
        if plan is None:
            return None
        src, chunks = plan
        n = self._input._card()

        def make():
            yield from _shuffle_chunks(chunks(), self._buffer, self._rng(), n)
        return src, make

    def _elements(self):
        yield from _buffer_shuffle(self._input._np_iter(), self._buffer, self._rng())


class _MapDataset(_UnaryDataset):
    def __init__(self, input_dataset, fn):
        super().__init__(input_dataset)
        if not callable(fn):
            raise TypeError(f"[map] map_func must be callable, got {type(fn).__name__}")
        self._fn = fn

    def _plan(self):
        return None

    def _elements(self):
        fn = self._fn
        for element in self._input._np_iter():
            if _ignoring():
                try:
                    out = _normalize_output(_call(fn, element), "map")
                except Exception as e:  # noqa: BLE001 (ignore_errors drops any error)
                    _dropped("map", e)
                    continue
                yield out
            else:
                yield _normalize_output(_call(fn, element), "map")

    def _spec(self):
        # From the first element (the function is not traced), except that axis i is taken
        # as unknown where an input component leaves axis i unknown (a batch() without
        # drop_remainder, a padded or generated length) and the first element has the same
        # length there: `ds.batch(32).map(f)` is [None, ...] as in TF, not [32, ...] (a
        # looser spec stays compatible with later elements; a tighter one is wrong).
        with _peeking():
            try:
                for element in self._input._np_iter():
                    out = _normalize_output(_call(self._fn, element), "map")
                    break
                else:
                    return None
            except Exception:  # noqa: BLE001 (iteration raises it with its context)
                return Dataset._spec(self)
        spec = _spec_of(out)
        sizes = set()  # (axis, length) pairs the input leaves unknown
        for sp, a in zip(_flatten(self._input.element_spec or ()), _flatten(element)):
            if type(sp).__name__ in ("TensorSpec", "RaggedTensorSpec") and \
                    sp.shape is not None:
                shape = tuple(getattr(a, "shape", ()))
                sizes.update((i, n) for i, (d, n) in enumerate(zip(sp.shape, shape))
                             if d is None and n is not None)
        if not sizes:
            return spec

        def relax(sp):
            kind = type(sp).__name__
            if kind not in ("TensorSpec", "RaggedTensorSpec") or sp.shape is None:
                return sp
            shape = tuple(None if (i, d) in sizes else d for i, d in enumerate(sp.shape))
            if kind == "TensorSpec":
                return TensorSpec(shape, sp.dtype)
            return type(sp)(shape, sp.dtype, sp.ragged_rank, sp.row_splits_dtype)
        return _map(relax, spec)


class _FilterDataset(_UnaryDataset):
    def __init__(self, input_dataset, predicate, stop=False):
        super().__init__(input_dataset)
        self._op = "take_while" if stop else "filter"
        if not callable(predicate):
            raise TypeError(f"[{self._op}] predicate must be callable, got "
                            f"{type(predicate).__name__}")
        self._pred = predicate
        self._stop = stop      # take_while: end at the first False

    def _plan(self):
        return None

    def _elements(self):
        pred = self._pred
        for element in self._input._np_iter():
            try:
                r = _leaf_array(_call(pred, element))
                if r.shape != () or r.dtype != np.bool_:
                    raise ValueError(f"[{self._op}] predicate must return a scalar boolean, "
                                     f"got shape {r.shape} dtype {r.dtype}")
            except Exception as e:  # noqa: BLE001
                if not _ignoring():
                    raise
                _dropped(self._op, e)
                continue
            if r:
                yield element
            elif self._stop:
                return

    def _card(self):
        return _UNKNOWN


def _inner_dataset_spec(ds, make):
    """element_spec of a flat_map / interleave / group_by_window: the spec of the Dataset the
    function builds from the first input element (as TF reads it off the traced function's
    result), not the shapes of its first element: `window(3).flat_map(lambda w: w.batch(3))`
    is [None] as in TF, since batch keeps the last partial batch."""
    with _peeking():
        for element in ds._input._np_iter():
            try:
                inner = make(element)
            except Exception:  # noqa: BLE001 (iteration raises it with its context)
                break
            if isinstance(inner, Dataset):
                return inner.element_spec
            break
    return Dataset._spec(ds)


class _FlatMapDataset(_UnaryDataset):
    def __init__(self, input_dataset, fn):
        super().__init__(input_dataset)
        self._fn = fn

    def _plan(self):
        return None

    def _elements(self):
        for element in self._input._np_iter():
            try:
                ds = _call(self._fn, element)
                if not isinstance(ds, Dataset):
                    raise TypeError(f"[flat_map] map_func must return a Dataset, got "
                                    f"{type(ds).__name__}")
            except Exception as e:  # noqa: BLE001
                if not _ignoring():
                    raise
                _dropped("flat_map", e)
                continue
            yield from ds._np_iter()

    def _card(self):
        return _UNKNOWN

    def _spec(self):
        return _inner_dataset_spec(self, lambda element: _call(self._fn, element))


def _count(value):
    return -1 if value is None else int(_leaf_array(value))


class _RepeatDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _count(count)

    def _times(self):
        return None if self._count < 0 else self._count

    def _plan(self):
        plan = self._input._plan()
        if plan is None:
            return None
        src, chunks = plan
        return src, lambda: _repeat(chunks, self._times())

    def _elements(self):
        return _repeat(self._input._np_iter, self._times())

    def _card(self):
        n, c = self._input._card(), self._count
        if c < 0:
            return 0 if n == 0 else _INF
        if c == 0:
            return 0
        return n if n < 0 else c * n


class _TakeDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _count(count)

    def _plan(self):
        plan = self._input._plan()
        if plan is None or self._count < 0:
            return plan
        src, chunks = plan
        return src, lambda: _take(chunks(), self._count)

    def _elements(self):
        if self._count < 0:
            return self._input._np_iter()
        return self._first_elements()

    def _first_elements(self):
        if self._count == 0:
            return  # the input is not started
        yield from itertools.islice(self._input._np_iter(), self._count)

    def _card(self):
        n, c = self._input._card(), self._count
        if c < 0:
            return n
        if n == _UNKNOWN:
            return _UNKNOWN
        return c if n == _INF else min(n, c)


class _SkipDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _count(count)

    def _plan(self):
        plan = self._input._plan()
        if plan is None:
            return None
        src, chunks = plan
        if self._count < 0:
            return src, lambda: iter(())
        return src, lambda: _skip(chunks(), self._count)

    def _elements(self):
        if self._count < 0:
            return iter(())
        return itertools.islice(self._input._np_iter(), self._count, None)

    def _card(self):
        n, c = self._input._card(), self._count
        if n < 0:
            return n
        return 0 if c < 0 else max(0, n - c)


class _ShardDataset(_UnaryDataset):
    def __init__(self, input_dataset, num_shards, index):
        super().__init__(input_dataset)
        self._num = _positive(num_shards, "shard", "num_shards")
        self._index = int(_leaf_array(index))
        if not 0 <= self._index < self._num:
            raise ValueError(f"[shard] index must be in [0, num_shards={self._num}), got "
                             f"{self._index}")

    def _plan(self):
        return None

    def _elements(self):
        return itertools.islice(self._input._np_iter(), self._index, None, self._num)

    def _card(self):
        n = self._input._card()
        if n < 0:
            return n
        return max(0, -(-(n - self._index) // self._num))


class _CacheDataset(_UnaryDataset):
    def __init__(self, input_dataset):
        super().__init__(input_dataset)
        self._stored = None  # what one complete pass produced (chunks, or elements)

    def _replay_or_record(self, make):
        if self._stored is not None:
            yield from self._stored
            return
        record = []
        for item in make():
            record.append(item)
            yield item
        if not _is_peeking():
            self._stored = record  # only a complete pass is kept, as in TF

    def _plan(self):
        plan = self._input._plan()
        if plan is None:
            return None
        src, chunks = plan
        return src, lambda: self._replay_or_record(chunks)

    def _elements(self):
        return self._replay_or_record(self._input._np_iter)


class _ConcatenateDataset(Dataset):
    def __init__(self, first, second):
        if not isinstance(second, Dataset):
            raise TypeError(f"[concatenate] expects a Dataset, got {type(second).__name__}")
        a, b = first.element_spec, second.element_spec
        if a is not None and b is not None:
            fa, fb = _flatten(a), _flatten(b)
            if not _same_structure(a, b) or len(fa) != len(fb) or \
                    any(x.dtype != y.dtype for x, y in zip(fa, fb)):
                raise TypeError(f"[concatenate] the datasets' elements do not match: {a} and "
                                f"{b}")
        self._first, self._second = first, second

    def _elements(self):
        yield from self._first._np_iter()
        yield from self._second._np_iter()

    def _card(self):
        n1, n2 = self._first._card(), self._second._card()
        if n1 == _INF or n2 == _INF:
            return _INF
        if n1 == _UNKNOWN or n2 == _UNKNOWN:
            return _UNKNOWN
        return n1 + n2

    def _spec(self):
        a, b = self._first.element_spec, self._second.element_spec
        if a is None or b is None:
            return a if b is None else b
        return _pack(a, [_most_specific_compatible(x, y)
                         for x, y in zip(_flatten(a), _flatten(b))])


class _EnumerateDataset(_UnaryDataset):
    def __init__(self, input_dataset, start):
        super().__init__(input_dataset)
        self._start = int(_leaf_array(start))

    def _plan(self):
        return None

    def _elements(self):
        for i, element in enumerate(self._input._np_iter(), self._start):
            yield (np.array(i, dtype=np.int64), element)

    def _spec(self):
        return (TensorSpec((), _dt.int64), self._input.element_spec)
