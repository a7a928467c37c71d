"""`nabi.data.experimental`: the tf.data.experimental names that TF 2 notebooks still use."""
from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from .extra_ops import assert_cardinality
from .optional import Optional
from .options import (AutoShardPolicy, AutotuneAlgorithm, AutotuneOptions, DistributeOptions,
                      ExternalStatePolicy, OptimizationOptions, ThreadingOptions)
from .readers import CsvDataset, make_csv_dataset
from .transformations import (bucket_by_sequence_length, choose_from_datasets, group_by_window,
                              rejection_resample, sample_from_datasets, scan, unique)

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "AutoShardPolicy",
           "AutotuneAlgorithm", "AutotuneOptions", "Counter", "CsvDataset", "DistributeOptions",
           "ExternalStatePolicy", "OptimizationOptions", "Optional", "RandomDataset", "Reducer",
           "TFRecordWriter", "ThreadingOptions", "assert_cardinality", "at",
           "bucket_by_sequence_length", "cardinality", "choose_from_datasets", "copy_to_device",
           "dense_to_ragged_batch", "dense_to_sparse_batch", "enable_debug_mode",
           "enumerate_dataset", "from_list",
           "get_next_as_optional", "get_single_element", "get_structure", "group_by_reducer",
           "group_by_window", "ignore_errors", "load", "make_csv_dataset", "map_and_batch",
           "parallel_interleave", "parse_example_dataset", "prefetch_to_device",
           "rejection_resample", "sample_from_datasets", "save", "scan", "shuffle_and_repeat",
           "snapshot", "take_while", "unbatch", "unique"]


def cardinality(dataset):
    """dataset.cardinality(): a count, INFINITE_CARDINALITY (-1) or UNKNOWN_CARDINALITY (-2)."""
    return dataset.cardinality()


def Counter(start=0, step=1, dtype="int64"):  # noqa: N802 (TF's name)
    """The deprecated alias of Dataset.counter that the data augmentation tutorial uses."""
    return Dataset.counter(start, step, dtype)


def RandomDataset(seed=None, name=None):  # noqa: N802 (TF's name)
    """The deprecated alias of Dataset.random."""
    return Dataset.random(seed)


def enable_debug_mode():
    """Accepted: nabi's pipelines already run eagerly, in order, in the calling thread (what
    TF's debug mode switches to)."""


def take_while(predicate):
    """The transformation for `dataset.apply`: dataset.take_while(predicate)."""
    def apply(dataset):
        return dataset.take_while(predicate)
    return apply


def dense_to_ragged_batch(batch_size, drop_remainder=False, row_splits_dtype="int64"):
    """The transformation for `dataset.apply`: dataset.ragged_batch(batch_size, ...)."""
    def apply(dataset):
        return dataset.ragged_batch(batch_size, drop_remainder, row_splits_dtype)
    return apply


def dense_to_sparse_batch(batch_size, row_shape):
    """The transformation for `dataset.apply`: dataset.sparse_batch(batch_size, row_shape)."""
    def apply(dataset):
        return dataset.sparse_batch(batch_size, row_shape)
    return apply


def enumerate_dataset(start=0):
    """The transformation for `dataset.apply`: dataset.enumerate(start)."""
    def apply(dataset):
        return dataset.enumerate(start)
    return apply


def unbatch():
    """The transformation for `dataset.apply`: dataset.unbatch()."""
    def apply(dataset):
        return dataset.unbatch()
    return apply


def ignore_errors(log_warning=False):
    """The transformation for `dataset.apply`: dataset.ignore_errors(log_warning)."""
    def apply(dataset):
        return dataset.ignore_errors(log_warning)
    return apply


def map_and_batch(map_func, batch_size, num_parallel_batches=None, drop_remainder=False,
                  num_parallel_calls=None):
    """The transformation for `dataset.apply`: dataset.map(map_func).batch(batch_size, ...)."""
    def apply(dataset):
        return dataset.map(map_func).batch(batch_size, drop_remainder)
    return apply


def shuffle_and_repeat(buffer_size, count=None, seed=None):
    """The transformation for `dataset.apply`: dataset.shuffle(buffer_size, seed)
    .repeat(count), a new order each pass."""
    def apply(dataset):
        return dataset.shuffle(buffer_size, seed).repeat(count)
    return apply


def parallel_interleave(map_func, cycle_length, block_length=1, sloppy=False,
                        buffer_output_elements=None, prefetch_input_elements=None):
    """The transformation for `dataset.apply`: dataset.interleave(map_func, cycle_length,
    block_length); sloppy=True allows any order, and nabi keeps the deterministic one."""
    def apply(dataset):
        return dataset.interleave(map_func, cycle_length, block_length)
    return apply


def parse_example_dataset(features, num_parallel_calls=1, deterministic=None):
    """The transformation for `dataset.apply`: each element (a vector of serialized
    tf.train.Example strings) becomes tf.io.parse_example(element, features)."""
    from ..train.example import parse_example

    def apply(dataset):
        return dataset.map(lambda serialized: parse_example(serialized, features))
    return apply


def copy_to_device(target_device, source_device="/cpu:0"):
    """The transformation for `dataset.apply`: the same dataset (nabi places the elements on
    the current device when the iterator hands them out)."""
    def apply(dataset):
        return dataset.prefetch(1)
    return apply


def prefetch_to_device(device, buffer_size=None):
    """The transformation for `dataset.apply`: the same dataset (see copy_to_device)."""
    return copy_to_device(device)


def snapshot(path, compression="AUTO", reader_func=None, shard_func=None):
    """The transformation for `dataset.apply`: dataset.snapshot(path, ...)."""
    def apply(dataset):
        return dataset.snapshot(path, compression, reader_func, shard_func)
    return apply


def get_single_element(dataset):
    """dataset.get_single_element()."""
    return dataset.get_single_element()


def get_structure(dataset_or_iterator):
    """The element_spec of a Dataset or an Iterator."""
    spec = getattr(dataset_or_iterator, "element_spec", None)
    if spec is None and not hasattr(dataset_or_iterator, "element_spec"):
        raise TypeError(f"[get_structure] expects a Dataset or an Iterator, got "
                        f"{type(dataset_or_iterator).__name__}")
    return spec


def get_next_as_optional(iterator):
    """iterator.get_next_as_optional()."""
    return iterator.get_next_as_optional()


def save(dataset, path, compression=None, shard_func=None, checkpoint_args=None):
    """dataset.save(path) (the deprecated tf.data.experimental spelling)."""
    return dataset.save(path, compression, shard_func, checkpoint_args)


def load(path, element_spec=None, compression=None, reader_func=None):
    """Dataset.load(path) (the deprecated tf.data.experimental spelling)."""
    return Dataset.load(path, element_spec, compression, reader_func)


def from_list(elements, name=None):
    """A dataset of the given elements, one by one (each a structure: tuples and dicts nest,
    a list is one tensor); they must share structure and dtypes, and their shapes may differ."""
    from .dataset import (_flatten, _leaf_array, _map, _most_specific_compatible, _pack,
                          _same_structure, _spec_of)
    from .transformations import _ListDataset
    if not isinstance(elements, (list, tuple)) or len(elements) == 0:
        raise ValueError("[from_list] elements must be a non-empty list")
    rows = [_map(lambda v: _snapshot_leaf(_leaf_array(v)), e) for e in elements]
    spec = _spec_of(rows[0])
    for i, r in enumerate(rows[1:], 1):
        s = _spec_of(r)
        fa, fb = _flatten(spec), _flatten(s)
        if not _same_structure(rows[0], r) or len(fa) != len(fb) or \
                any(a.dtype != b.dtype for a, b in zip(fa, fb)):
            raise ValueError(f"[from_list] element {i} ({s}) does not match element 0's "
                             f"structure and dtypes ({_spec_of(rows[0])})")
        spec = _pack(spec, [_most_specific_compatible(a, b) for a, b in zip(fa, fb)])
    return _ListDataset(rows, spec)


def _snapshot_leaf(a):
    import numpy as np
    if isinstance(a, np.ndarray):
        a = np.array(a, copy=True)
        a.flags.writeable = False
    return a


def at(dataset, index):
    """The element at position `index` (as Tensors); OutOfRangeError when the dataset has
    no such element."""
    from ..errors import OutOfRangeError
    from .dataset import _leaf_array, _to_tensors
    i = int(_leaf_array(index))
    if i < 0:
        raise OutOfRangeError(f"[at] index must be >= 0, got {i}")
    n = 0
    for element in dataset._np_iter():
        if n == i:
            return _to_tensors(element)
        n += 1
    raise OutOfRangeError(f"[at] index {i} is out of range for a dataset of {n} elements")


class Reducer:
    """group_by_reducer's reducer: init_func(key) -> state, reduce_func(state, element) ->
    state, finalize_func(state) -> output."""

    def __init__(self, init_func, reduce_func, finalize_func):
        self.init_func, self.reduce_func, self.finalize_func = \
            init_func, reduce_func, finalize_func


def group_by_reducer(key_func, reducer):
    """The transformation for `dataset.apply`: groups the elements by key_func(element) (an
    int64 scalar), folds each group with the reducer, and yields finalize_func(state) per
    key, in the order the keys were first seen, once the input ends."""
    from .transformations import _GroupByReducerDataset

    def apply(dataset):
        return _GroupByReducerDataset(dataset, key_func, reducer)
    return apply


class TFRecordWriter:
    """tf.data.experimental.TFRecordWriter(filename, compression_type=None).write(dataset):
    writes a dataset of scalar strings as the records of one TFRecord file."""

    def __init__(self, filename, compression_type=None):
        self._filename, self._compression = filename, compression_type

    def write(self, dataset):
        import numpy as np
        from ..framework.tensor import Tensor
        from .tfrecord import TFRecordOptions
        from .tfrecord import TFRecordWriter as _Writer
        from .. import dtypes as _dt
        spec = dataset.element_spec
        if getattr(spec, "dtype", None) != _dt.string or spec.shape is None or \
                len(spec.shape) != 0:
            raise TypeError(f"[TFRecordWriter.write] the dataset's elements must be scalar "
                            f"strings, got {spec}")
        opts = TFRecordOptions(compression_type=self._compression or "")
        with _Writer(self._filename, opts) as w:
            for element in dataset._np_iter():
                rec = element.item() if isinstance(element, np.ndarray) else element
                if isinstance(rec, Tensor):
                    rec = rec.numpy()
                w.write(rec if isinstance(rec, bytes) else str(rec).encode("utf-8"))
