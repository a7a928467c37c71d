"""More tf.data transformations: interleave, window, scan, unique, group_by_window and
bucket_by_sequence_length. Dataset's methods of the same names delegate here.

`window` makes a dataset of datasets, as tf.data does: each element is one Dataset per
component of the input's element structure (a single Dataset for a plain element), so
`ds.window(3).flat_map(lambda w: w.batch(3))` works, and a tuple element's window is a tuple
of Datasets (`flat_map(lambda x, y: Dataset.zip((x, y)).batch(3))`).
"""
import collections
import os

import numpy as np

from .dataset import (_INF, _UNKNOWN, Dataset, TensorSpec, _batched_leaf_spec, _call,
                      _flatten, _inner_dataset_spec, _leaf_array, _map, _normalize_output,
                      _pack, _positive, _same_structure, _spec_is_inferred, _spec_of,
                      _UnaryDataset)

__all__ = ["DatasetSpec", "scan", "group_by_window", "bucket_by_sequence_length", "unique"]


class DatasetSpec:
    """The spec of a component that is itself a Dataset (the elements of window())."""

    __slots__ = ("element_spec",)

    def __init__(self, element_spec):
        self.element_spec = element_spec

    def __eq__(self, other):
        return isinstance(other, DatasetSpec) and self.element_spec == other.element_spec

    def __hash__(self):
        return hash(repr(self.element_spec))

    def __repr__(self):
        return f"DatasetSpec({self.element_spec!r}, TensorShape([]))"


class _ListDataset(Dataset):
    """The elements of a Python list (one window's rows)."""

    def __init__(self, elements, spec=None):
        self._list = elements
        self._spec_struct = spec

    def _elements(self):
        return iter(self._list)

    def _card(self):
        return len(self._list)

    def _spec(self):
        if self._spec_struct is not None:
            return self._spec_struct
        return _spec_of(self._list[0]) if self._list else None


def _as_dataset(out, what):
    if not isinstance(out, Dataset):
        raise TypeError(f"[{what}] the function must return a Dataset, got "
                        f"{type(out).__name__}")
    return out


# ---------------------------------------------------------------------- interleave
class _InterleaveDataset(_UnaryDataset):
    """Cycles over cycle_length datasets made by map_func, block_length elements at a time;
    an exhausted one is replaced by the next input element's dataset in the same slot."""

    def __init__(self, input_dataset, map_func, cycle_length, block_length):
        super().__init__(input_dataset)
        if not callable(map_func):
            raise TypeError(f"[interleave] map_func must be callable, got "
                            f"{type(map_func).__name__}")
        self._fn = map_func
        if cycle_length is None or int(_leaf_array(cycle_length)) == -1:
            self._cycle = os.cpu_count() or 1
        else:
            self._cycle = _positive(cycle_length, "interleave", "cycle_length")
        self._block = 1 if block_length is None else _positive(block_length, "interleave",
                                                                 "block_length")

    def _plan(self):
        return None

    def _elements(self):
        inputs = self._input._np_iter()
        slots = [None] * self._cycle
        open_count, index, taken, end = 0, 0, 0, False
        while not end or open_count:
            it = slots[index]
            if it is not None:
                try:
                    element = next(it)
                except StopIteration:
                    slots[index] = None
                    open_count -= 1
                    index, taken = (index + 1) % self._cycle, 0
                    continue
                taken += 1
                if taken == self._block:
                    index, taken = (index + 1) % self._cycle, 0
                yield element
            elif not end:
                try:
                    element = next(inputs)
                except StopIteration:
                    end = True
                    continue
                slots[index] = _as_dataset(_call(self._fn, element), "interleave")._np_iter()
                open_count += 1
            else:
                index, taken = (index + 1) % self._cycle, 0

    def _card(self):
        return _UNKNOWN

    def _spec(self):
        return _inner_dataset_spec(self, lambda element: _call(self._fn, element))


# ---------------------------------------------------------------------- window
class _WindowDataset(_UnaryDataset):
    def __init__(self, input_dataset, size, shift, stride, drop_remainder):
        super().__init__(input_dataset)
        self._size = _positive(size, "window", "size")
        self._shift = self._size if shift is None else _positive(shift, "window", "shift")
        self._stride = _positive(stride, "window", "stride")
        self._drop = bool(drop_remainder)

    def _plan(self):
        return None

    def _windows(self):
        """Lists of the elements of each window."""
        it = self._input._np_iter()
        size, shift, stride = self._size, self._shift, self._stride
        span = (size - 1) * stride + 1
        buf, buf_start, start, ended = [], 0, 0, False
        while True:
            while not ended and buf_start + len(buf) < start + span:
                try:
                    buf.append(next(it))
                except StopIteration:
                    ended = True
            rows = buf[start - buf_start::stride][:size]
            if not rows or (len(rows) < size and self._drop):
                return
            yield rows
            start += shift
            drop = min(start - buf_start, len(buf))
            del buf[:drop]
            buf_start += drop
            while not ended and buf_start < start:  # elements between windows
                try:
                    next(it)
                    buf_start += 1
                except StopIteration:
                    ended = True
            if ended and buf_start + len(buf) <= start:
                return

    def _elements(self):
        spec = self._input.element_spec
        for rows in self._windows():
            flats = [_flatten(r) for r in rows]
            parts = [_ListDataset([f[k] for f in flats], s)
                     for k, s in enumerate(_flatten(spec))]
            yield _pack(rows[0], parts)

    def _card(self):
        n = self._input._card()
        if n < 0:
            return n
        if self._drop:
            span = (self._size - 1) * self._stride + 1
            return 0 if n < span else (n - span) // self._shift + 1
        return -(-n // self._shift)

    def _spec(self):
        spec = self._input.element_spec
        return _pack(spec, [DatasetSpec(s) for s in _flatten(spec)])


# ---------------------------------------------------------------------- scan
class _ScanDataset(_UnaryDataset):
    def __init__(self, input_dataset, initial_state, scan_func):
        super().__init__(input_dataset)
        if not callable(scan_func):
            raise TypeError(f"[scan] scan_func must be callable, got {type(scan_func).__name__}")
        self._state0 = _normalize_output(initial_state, "scan")
        self._fn = scan_func

    def _plan(self):
        return None

    def _elements(self):
        state = self._state0
        dts = [a.dtype for a in _flatten(state)]
        for element in self._input._np_iter():
            out = _call(lambda s, e: self._fn(s, e), (state, element))
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise TypeError("[scan] scan_func must return a pair (new_state, "
                                f"output_element), got {type(out).__name__}")
            new, value = (_normalize_output(o, "scan") for o in out)
            if not _same_structure(state, new) or \
                    [a.dtype for a in _flatten(new)] != dts:
                raise TypeError(f"[scan] scan_func must keep the state's structure and "
                                f"dtypes: the initial state is {_spec_of(self._state0)}, "
                                f"scan_func returned {_spec_of(new)}")
            state = new
            yield value

    def _spec(self):
        return Dataset._spec(self)


def scan(initial_state, scan_func):
    """tf.data.experimental.scan: a transformation for Dataset.apply."""
    return lambda ds: _ScanDataset(ds, initial_state, scan_func)


# ---------------------------------------------------------------------- unique
_UNIQUE_KINDS = {np.dtype(np.int32), np.dtype(np.int64), np.dtype(object)}


class _UniqueDataset(_UnaryDataset):
    def _plan(self):
        return None

    def _elements(self):
        seen = set()
        for element in self._input._np_iter():
            if not isinstance(element, np.ndarray) or element.dtype not in _UNIQUE_KINDS:
                what = (f"dtype {element.dtype}" if isinstance(element, np.ndarray)
                        else "a structure of several components")
                raise TypeError("[unique] Dataset.unique() only supports datasets with "
                                "elements of type int32, int64 or string in a single "
                                f"component, got {what}")
            key = (element.shape, tuple(element.reshape(-1).tolist()))
            if key not in seen:
                seen.add(key)
                yield element

    def _card(self):
        n = self._input._card()
        return n if n == _INF else _UNKNOWN


def unique():
    """tf.data.experimental.unique: a transformation for Dataset.apply."""
    return lambda ds: _UniqueDataset(ds)


# ---------------------------------------------------------------------- rejection_resample
class _RejectionResampleDataset(_UnaryDataset):
    """(class, element) pairs, each element of class c kept with probability
    a_c = (target_c / initial_c) / max_k (target_k / initial_k), so that the kept classes follow
    target_dist. initial_dist, when not given, is estimated from the counts seen so far (as
    TF does). TF also mixes in unresampled elements early on to waste fewer; nabi only
    rejects, so the kept elements follow target_dist from the start."""

    def __init__(self, input_dataset, class_func, target_dist, initial_dist, seed):
        super().__init__(input_dataset)
        self._class_func = class_func
        self._target = np.asarray(_leaf_array(target_dist), np.float64).reshape(-1)
        if self._target.min() < 0 or not np.isclose(self._target.sum(), 1.0):
            raise ValueError(f"[rejection_resample] target_dist must be a probability "
                             f"distribution, got {self._target.tolist()}")
        self._initial = None if initial_dist is None else \
            np.asarray(_leaf_array(initial_dist), np.float64).reshape(-1)
        self._seed = seed

    def _plan(self):
        return None

    def _card(self):
        n = self._input._card()
        return n if n == _INF else _UNKNOWN

    def _spec(self):
        from .dataset import TensorSpec
        return (TensorSpec(shape=(), dtype="int32"), self._input.element_spec)

    def _elements(self):
        rng = np.random.default_rng(self._seed)
        counts = np.zeros(len(self._target))
        for element in self._input._np_iter():
            c = int(_leaf_array(_call(self._class_func, element)))
            if not 0 <= c < len(self._target):
                raise ValueError(f"[rejection_resample] class_func returned {c}, outside "
                                 f"[0, {len(self._target)})")
            counts[c] += 1
            initial = self._initial if self._initial is not None else counts / counts.sum()
            ratio = np.divide(self._target, initial, out=np.zeros_like(initial),
                              where=initial > 0)
            if rng.uniform() < ratio[c] / ratio.max():
                yield (np.array(c, np.int32), element)


def rejection_resample(class_func, target_dist, initial_dist=None, seed=None):
    """tf.data.experimental.rejection_resample: a transformation for Dataset.apply."""
    return lambda ds: _RejectionResampleDataset(ds, class_func, target_dist, initial_dist,
                                                seed)


# ---------------------------------------------------------------------- group_by_window
def _int_result(value, what):
    a = _leaf_array(value)
    if a.shape != () or a.dtype.kind not in "iu":
        raise ValueError(f"[group_by_window] {what} must return a scalar integer (int64), got "
                         f"shape {a.shape} dtype {a.dtype}")
    return int(a)


class _GroupByWindowDataset(_UnaryDataset):
    def __init__(self, input_dataset, key_func, reduce_func, window_size, window_size_func):
        super().__init__(input_dataset)
        if (window_size is None) == (window_size_func is None):
            raise ValueError("[group_by_window] Either the `window_size` argument or the "
                             "`window_size_func` argument must be specified.")
        if window_size is not None:
            size = _positive(window_size, "group_by_window", "window_size")
            window_size_func = lambda key: size  # noqa: E731
        self._key, self._reduce, self._size_fn = key_func, reduce_func, window_size_func

    def _plan(self):
        return None

    def _reduce_window(self, key, rows):
        ds = _ListDataset(rows, self._input.element_spec)
        with_key = np.array(key, dtype=np.int64)
        return _as_dataset(_call(self._reduce, (with_key, ds)), "group_by_window")

    def _flush(self, key, rows):
        yield from self._reduce_window(key, rows)._np_iter()

    def _elements(self):
        groups, sizes = collections.OrderedDict(), {}
        for element in self._input._np_iter():
            key = _int_result(_call(self._key, element), "key_func")
            if key not in sizes:
                size = _int_result(_call(self._size_fn, np.array(key, dtype=np.int64)),
                                   "window_size_func")
                if size <= 0:
                    raise ValueError(f"[group_by_window] window_size_func returned {size} "
                                     f"for key {key}; window sizes must be positive")
                sizes[key] = size
            rows = groups.setdefault(key, [])
            rows.append(element)
            if len(rows) == sizes[key]:
                del groups[key]
                yield from self._flush(key, rows)
        # TF keeps the open windows in a std::map: at the end they flush in key order
        for key in sorted(groups):
            yield from self._flush(key, groups[key])

    def _card(self):
        n = self._input._card()
        return n if n == _INF else _UNKNOWN

    def _spec(self):
        def make(element):
            key = _int_result(_call(self._key, element), "key_func")
            return self._reduce_window(key, [element])
        return _inner_dataset_spec(self, make)


def group_by_window(key_func, reduce_func, window_size=None, window_size_func=None):
    """tf.data.experimental.group_by_window: a transformation for Dataset.apply."""
    return lambda ds: _GroupByWindowDataset(ds, key_func, reduce_func, window_size,
                                            window_size_func)


# ---------------------------------------------------------------------- group_by_reducer
class _GroupByReducerDataset(_UnaryDataset):
    """tf.data.experimental.group_by_reducer: one output per key, after the input ends."""

    def __init__(self, input_dataset, key_func, reducer):
        super().__init__(input_dataset)
        for f in ("init_func", "reduce_func", "finalize_func"):
            if not callable(getattr(reducer, f, None)):
                raise TypeError(f"[group_by_reducer] reducer.{f} must be callable")
        self._key, self._reducer = key_func, reducer

    def _plan(self):
        return None

    def _elements(self):
        from .dataset import _host_tensors
        from ..framework.device import host_scope
        r = self._reducer
        states = collections.OrderedDict()
        for element in self._input._np_iter():
            key = _int_result(_call(self._key, element), "key_func")
            if key not in states:
                init = _call(r.init_func, np.array(key, dtype=np.int64))
                states[key] = _normalize_output(init, "group_by_reducer")
            state = states[key]
            with host_scope():
                new = r.reduce_func(_host_tensors(state), _host_tensors(element))
            new = _normalize_output(new, "group_by_reducer")
            if not _same_structure(state, new):
                raise TypeError(f"[group_by_reducer] reduce_func changed the state's "
                                f"structure: {_spec_of(state)} became {_spec_of(new)}")
            states[key] = new
        for state in states.values():
            yield _normalize_output(_call(r.finalize_func, state), "group_by_reducer")

    def _card(self):
        return _UNKNOWN

    def _spec(self):
        return Dataset._spec(self)


# ---------------------------------------------------------------------- bucketing
def _bucketed(ds, element_length_func, bucket_boundaries, bucket_batch_sizes, padded_shapes,
              padding_values, pad_to_bucket_boundary, no_padding, drop_remainder):
    op = "bucket_by_sequence_length"
    bounds = [int(b) for b in bucket_boundaries]
    sizes = [int(b) for b in bucket_batch_sizes]
    if len(sizes) != len(bounds) + 1:
        raise ValueError(f"[{op}] len(bucket_batch_sizes) must equal len(bucket_boundaries) + "
                         f"1, got {len(sizes)} and {len(bounds)}")
    if any(a >= b for a, b in zip(bounds, bounds[1:])) or any(b <= 0 for b in bounds):
        raise ValueError(f"[{op}] bucket_boundaries must be positive and increasing, got "
                         f"{bounds}")
    if any(s <= 0 for s in sizes):
        raise ValueError(f"[{op}] bucket_batch_sizes must be positive, got {sizes}")

    def key(*args):
        length = _leaf_array(element_length_func(*args))
        if length.shape != () or length.dtype.kind not in "iu":
            raise ValueError(f"[{op}] element_length_func must return a scalar integer, got "
                             f"shape {length.shape} dtype {length.dtype}")
        n = int(length)
        bucket = int(np.searchsorted(bounds, n, side="right"))
        if pad_to_bucket_boundary and bucket == len(bounds):
            raise ValueError(f"[{op}] When pad_to_bucket_boundary=True, elements must have "
                             f"length < max(bucket_boundaries) = {bounds[-1]}; got an "
                             f"element of length {n}")
        return np.int64(bucket)

    def window_size(bucket):
        return np.int64(sizes[int(_leaf_array(bucket))])

    def reduce(bucket, window):
        b = int(_leaf_array(bucket))
        if no_padding:
            return window.batch(sizes[b], drop_remainder=drop_remainder)
        shapes = padded_shapes
        if pad_to_bucket_boundary:
            fill = bounds[b] - 1
            if shapes is None:
                spec = window.element_spec
                shapes = _pack(spec, [None if s.shape is None else
                                      tuple([fill] + [None] * (len(s.shape) - 1))
                                      if len(s.shape) else () for s in _flatten(spec)])
            else:
                shapes = _fill_none(shapes, fill)
        return window.padded_batch(sizes[b], padded_shapes=shapes,
                                   padding_values=padding_values,
                                   drop_remainder=drop_remainder)

    return _BucketDataset(ds, key, reduce, None, window_size)


class _BucketDataset(_GroupByWindowDataset):
    def _spec(self):
        # TF: each bucket has its own batch size and padded length, so the batch dimension
        # and every dimension the input leaves unknown (or that a map inferred) is None
        spec = self._input.element_spec
        if spec is None:
            return None
        loose = _spec_is_inferred(self._input)

        def leaf(s):
            if loose and type(s).__name__ == "TensorSpec" and s.shape is not None:
                return TensorSpec((None,) * (len(s.shape) + 1), s.dtype)
            return _batched_leaf_spec(s, None)
        return _map(leaf, spec)


def _fill_none(shapes, fill):
    if isinstance(shapes, dict):
        return {k: _fill_none(v, fill) for k, v in shapes.items()}
    if isinstance(shapes, tuple) and shapes and isinstance(shapes[0], (tuple, list, dict)):
        return tuple(_fill_none(s, fill) for s in shapes)
    return tuple(fill if d is None or int(d) < 0 else int(d) for d in shapes)


def bucket_by_sequence_length(element_length_func, bucket_boundaries, bucket_batch_sizes,
                              padded_shapes=None, padding_values=None,
                              pad_to_bucket_boundary=False, no_padding=False,
                              drop_remainder=False):
    """tf.data.experimental.bucket_by_sequence_length: a transformation for Dataset.apply."""
    return lambda ds: _bucketed(ds, element_length_func, bucket_boundaries, bucket_batch_sizes,
                                padded_shapes, padding_values, pad_to_bucket_boundary,
                                no_padding, drop_remainder)


# ---------------------------------------------------------------- sample / choose
def _check_inputs(datasets, what):
    datasets = list(datasets)
    if not datasets:
        raise ValueError(f"[{what}] `datasets` must be a non-empty list of Datasets")
    for d in datasets:
        if not isinstance(d, Dataset):
            raise TypeError(f"[{what}] `datasets` must hold Datasets, got {type(d).__name__}")
    spec = datasets[0].element_spec
    for d in datasets[1:]:
        if not _same_structure(spec, d.element_spec) or \
                [s.dtype for s in _flatten(spec)] != [s.dtype for s in _flatten(d.element_spec)]:
            raise TypeError(f"[{what}] all datasets must have the same element structure and "
                            f"dtypes, got {spec} and {d.element_spec}")
    return datasets


class _DirectedInterleaveDataset(Dataset):
    """Elements taken from `datasets` in the order of an index stream (TF's
    DirectedInterleaveDataset). An exhausted input ends the dataset when stop_on_empty,
    else it is dropped (a sampler then renormalises its weights over the others)."""

    def __init__(self, datasets, stop_on_empty, what):
        self._datasets = _check_inputs(datasets, what)
        self._stop = bool(stop_on_empty)
        self._what = what

    def _indices(self, alive):
        raise NotImplementedError

    def _elements(self):
        its = [d._np_iter() for d in self._datasets]
        alive = [True] * len(its)
        for i in self._indices(alive):
            if not alive[i]:
                continue
            try:
                yield next(its[i])
            except StopIteration:
                if self._stop:
                    return
                alive[i] = False
                if not any(alive):
                    return

    def _card(self):
        cards = [d._card() for d in self._datasets]
        if all(n == _INF for n in cards):
            return _INF
        return _UNKNOWN

    def _spec(self):
        return self._datasets[0].element_spec


class _SampleDataset(_DirectedInterleaveDataset):
    def __init__(self, datasets, weights, seed, stop_on_empty, rerandomize):
        super().__init__(datasets, stop_on_empty, "sample_from_datasets")
        n = len(self._datasets)
        if isinstance(weights, Dataset):
            self._weights = weights
        else:
            w = np.full(n, 1.0 / n) if weights is None else \
                np.asarray(_leaf_array(weights), np.float64).reshape(-1)
            if w.shape != (n,):
                raise ValueError(f"[sample_from_datasets] `weights` must have one entry per "
                                 f"dataset ({n}), got shape {w.shape}")
            self._weights = w
        from ..ops.random_ops import _generator
        self._base = int(_generator(None if seed is None else int(seed)).integers(2 ** 63))
        self._rerandomize = bool(rerandomize)
        self._passes = 0

    def _indices(self, alive):
        if self._rerandomize:
            self._passes += 1
            rng = np.random.default_rng([self._base, self._passes])
        else:
            rng = np.random.default_rng(self._base)
        stream = self._weights._np_iter() if isinstance(self._weights, Dataset) else None
        while any(alive):
            w = self._weights if stream is None else next(stream, None)
            if w is None:
                return  # the weights dataset ended
            w = np.asarray(w, np.float64).reshape(-1)
            w = np.where(alive, np.maximum(w, 0.0), 0.0)
            if w.sum() <= 0:
                return
            yield int(rng.choice(len(w), p=w / w.sum()))


class _ChooseDataset(_DirectedInterleaveDataset):
    def __init__(self, datasets, choice_dataset, stop_on_empty):
        super().__init__(datasets, stop_on_empty, "choose_from_datasets")
        if not isinstance(choice_dataset, Dataset):
            raise TypeError(f"[choose_from_datasets] `choice_dataset` must be a Dataset, got "
                            f"{type(choice_dataset).__name__}")
        spec = choice_dataset.element_spec
        if getattr(spec, "dtype", None) != "int64" or tuple(spec.shape) != ():
            raise TypeError(f"[choose_from_datasets] `choice_dataset` must be a dataset of "
                            f"scalar int64 tensors, got {spec}")
        self._choice = choice_dataset

    def _indices(self, alive):
        n = len(self._datasets)
        for c in self._choice._np_iter():
            i = int(c)
            if not 0 <= i < n:
                raise ValueError(f"[choose_from_datasets] selected index {i} is out of range "
                                 f"for {n} datasets")
            if not alive[i]:
                continue  # TF skips choices of an exhausted input
            yield i

    def _card(self):
        if self._choice._card() == _INF and _DirectedInterleaveDataset._card(self) == _INF:
            return _INF
        return _UNKNOWN


def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False,
                         rerandomize_each_iteration=None):
    """Elements drawn at random from `datasets`, dataset i chosen with probability
    weights[i] (uniform when None; a list, array or a Dataset of weight vectors)."""
    return _SampleDataset(datasets, weights, seed, stop_on_empty_dataset,
                          rerandomize_each_iteration)


def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
    """Elements of datasets[i] for each i of choice_dataset (scalar int64) in turn."""
    return _ChooseDataset(datasets, choice_dataset, stop_on_empty_dataset)
