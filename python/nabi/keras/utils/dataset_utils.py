"""Dataset utilities (Keras 2.15 semantics): `timeseries_dataset_from_array` and
`split_dataset`, both returning `nabi.data.Dataset`s.

    ds = keras.utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10)
    for inputs, targets in ds:          # inputs (128, 10, ...), targets (128, ...)
        ...

Windows are gathered on the host, a batch at a time, from the start positions that TF's
implementation produces (the same windows and targets in the same order; with shuffle=True the
initial permutation is TF's `np.random.RandomState(seed)` one, the per-epoch buffer shuffle is
nabi's).
"""
import random as _random

import numpy as np

__all__ = ["timeseries_dataset_from_array", "split_dataset"]


def _host_array(a, what):
    from ...framework.tensor import Tensor
    if isinstance(a, Tensor):
        return a.numpy()
    arr = np.asarray(a)
    if arr.ndim == 0:
        raise ValueError(f"[timeseries_dataset_from_array] `{what}` must be an array with at "
                         f"least one dimension (timesteps first), got a scalar")
    return arr


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Sliding windows over `data` (axis 0 is time) as a Dataset.

    Window i starts at timestep `start_index + p_i` with `p_i = i * sequence_stride` and holds
    `sequence_length` steps `sampling_rate` apart; its target is
    `targets[start_index:end_index][p_i]` (with `targets=None` the elements are the windows
    only). Only data in [start_index, end_index) is used. Elements are batched by
    `batch_size` (None: single windows). As TF, which raises for the same checks:
    start_index < len(data), end_index < len(data), 0 < sampling_rate < len(data),
    0 < sequence_stride < len(data).
    """
    from ...data import Dataset
    name = "timeseries_dataset_from_array"
    data = _host_array(data, "data")
    if targets is not None:
        targets = _host_array(targets, "targets")
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"[{name}] `start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= n:
            raise ValueError(f"[{name}] `start_index` must be lower than the length of the "
                             f"data. Received: start_index={start_index}, for data of length "
                             f"{n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"[{name}] `end_index` must be higher than `start_index`. "
                             f"Received: start_index={start_index}, and end_index={end_index}")
        if end_index >= n:
            raise ValueError(f"[{name}] `end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ValueError(f"[{name}] `end_index` must be higher than 0. Received: "
                             f"end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"[{name}] `sampling_rate` must be higher than 0. Received: "
                         f"sampling_rate={sampling_rate}")
    if sampling_rate >= n:
        raise ValueError(f"[{name}] `sampling_rate` must be lower than the length of the data. "
                         f"Received: sampling_rate={sampling_rate}, for data of length {n}")
    if sequence_stride <= 0:
        raise ValueError(f"[{name}] `sequence_stride` must be higher than 0. Received: "
                         f"sequence_stride={sequence_stride}")
    if sequence_stride >= n:
        raise ValueError(f"[{name}] `sequence_stride` must be lower than the length of the "
                         f"data. Received: sequence_stride={sequence_stride}, for data of "
                         f"length {n}")
    if sequence_length is None or int(sequence_length) < 1:
        raise ValueError(f"[{name}] `sequence_length` must be a positive integer. Received: "
                         f"sequence_length={sequence_length}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"[{name}] `batch_size` must be a positive integer or None. Received: "
                         f"batch_size={batch_size}")
    sequence_length, sampling_rate = int(sequence_length), int(sampling_rate)
    if start_index is None:
        start_index = 0
    if end_index is None:
        end_index = n

    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    index_dtype = np.int32 if num_seqs < 2147483647 else np.int64
    start_positions = np.arange(0, max(num_seqs, 0), sequence_stride, dtype=index_dtype)
    if shuffle:
        if seed is None:
            seed = np.random.randint(int(1e6))
        np.random.RandomState(seed).shuffle(start_positions)

    series = data[start_index:end_index]
    tseries = None if targets is None else targets[start_index:end_index]
    steps = np.arange(sequence_length, dtype=np.int64) * sampling_rate

    def windows(pos):
        p = np.asarray(pos.numpy() if hasattr(pos, "numpy") else pos, np.int64)
        x = series[p[..., None] + steps]
        if tseries is None:
            return x
        return x, tseries[p]

    ds = Dataset.from_tensor_slices(start_positions)
    if batch_size is not None:
        if shuffle:
            ds = ds.shuffle(buffer_size=int(batch_size) * 8, seed=seed)
        ds = ds.batch(int(batch_size))
    elif shuffle:
        ds = ds.shuffle(buffer_size=1024, seed=seed)
    return ds.map(windows)


# ----------------------------------------------------------------------------- split_dataset


def _rescale_split_sizes(left_size, right_size, total_length):
    name = "split_dataset"
    lt, rt = type(left_size), type(right_size)
    if (left_size is not None and lt not in (int, float)) and \
            (right_size is not None and rt not in (int, float)):
        raise TypeError(f"[{name}] Invalid `left_size` and `right_size` Types. Expected: "
                        f"integer or float or None, Received: type(left_size)={lt} and "
                        f"type(right_size)={rt}")
    if left_size is not None and lt not in (int, float):
        raise TypeError(f"[{name}] Invalid `left_size` Type. Expected: int or float or None, "
                        f"Received: type(left_size)={lt}.  ")
    if right_size is not None and rt not in (int, float):
        raise TypeError(f"[{name}] Invalid `right_size` Type. Expected: int or float or None,"
                        f"Received: type(right_size)={rt}.")
    if left_size == 0 and right_size == 0:
        raise ValueError(f"[{name}] Both `left_size` and `right_size` are zero. At least one of "
                         "the split sizes must be non-zero.")
    if (lt is int and (left_size <= 0 or left_size >= total_length)) or \
            (lt is float and (left_size <= 0 or left_size >= 1)):
        raise ValueError(f"[{name}] `left_size` should be either a positive integer smaller "
                         f"than {total_length}, or a float within the range `[0, 1]`. "
                         f"Received: left_size={left_size}")
    if (rt is int and (right_size <= 0 or right_size >= total_length)) or \
            (rt is float and (right_size <= 0 or right_size >= 1)):
        raise ValueError(f"[{name}] `right_size` should be either a positive integer and "
                         f"smaller than {total_length} or a float within the range `[0, 1]`. "
                         f"Received: right_size={right_size}")
    if rt is lt is float and right_size + left_size > 1:
        raise ValueError(f"[{name}] The sum of `left_size` and `right_size` is greater than 1. "
                         "It must be less than or equal to 1.")
    if lt is float:
        left_size = round(left_size * total_length)
    elif lt is int:
        left_size = float(left_size)
    if rt is float:
        right_size = round(right_size * total_length)
    elif rt is int:
        right_size = float(right_size)
    if left_size is None:
        left_size = total_length - right_size
    elif right_size is None:
        right_size = total_length - left_size
    if left_size + right_size > total_length:
        raise ValueError(f"[{name}] The sum of `left_size` and `right_size` should be smaller "
                         f"than the {total_length}. Received: left_size + right_size = "
                         f"{left_size + right_size} and total_length = {total_length}")
    for split, side in ((left_size, "left"), (right_size, "right")):
        if split == 0:
            raise ValueError(f"[{name}] With `dataset` of length {total_length}, "
                             f"`left_size`={left_size} and `right_size`={right_size}. Resulting "
                             f"{side} side dataset split will be empty. Adjust any of the "
                             "aforementioned parameters")
    return int(left_size), int(right_size)


def _stack(samples, like):
    if isinstance(like, dict):
        return {k: np.stack([s[k] for s in samples]) for k in like}
    if isinstance(like, tuple):
        return tuple(np.stack([s[i] for s in samples]) for i in range(len(like)))
    return np.stack(samples)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Splits a Dataset, a NumPy array or a list/tuple of arrays (same first dimension) into
    two Datasets: the first `left_size` samples and the last `right_size` ones (ints are
    counts, floats fractions; one of them may be None: the rest). A batched Dataset is
    unbatched first and both splits are batched again with its batch size. `shuffle` shuffles
    the samples first with Python's `random.Random(seed)` (Keras uses the global `random`
    seeded with `seed`, which gives the same order)."""
    from ...data import Dataset
    from ...framework.tensor import Tensor
    if right_size is None and left_size is None:
        raise ValueError("[split_dataset] At least one of the `left_size` or `right_size` must "
                         "be specified. Received: left_size=None and right_size=None")
    batch_size = None
    if isinstance(dataset, Dataset):
        try:
            from ...data.dataset import _BatchDataset
        except ImportError:   # pragma: no cover - the class is private to nabi.data
            _BatchDataset = ()
        if isinstance(dataset, _BatchDataset):
            batch_size = getattr(dataset, "_size", None)
            dataset = dataset.unbatch()
        samples = list(dataset.as_numpy_iterator())
        samples = [tuple(s) if isinstance(s, list) else s for s in samples]
        like = samples[0] if samples else None
    elif isinstance(dataset, (list, tuple)):
        arrays = [a.numpy() if isinstance(a, Tensor) else np.asarray(a) for a in dataset]
        if not arrays:
            raise ValueError("[split_dataset] `dataset` is an empty list/tuple")
        n = len(arrays[0])
        if any(len(a) != n for a in arrays):
            raise ValueError("[split_dataset] Received a list of arrays with different lengths: "
                             f"{[len(a) for a in arrays]}; all arrays must have the same first "
                             "dimension")
        samples = list(zip(*arrays))
        like = tuple(arrays)
    elif isinstance(dataset, (np.ndarray, Tensor)):
        arr = dataset.numpy() if isinstance(dataset, Tensor) else dataset
        samples = list(arr)
        like = None
    else:
        raise TypeError("[split_dataset] The `dataset` argument must be either a "
                        "`nabi.data.Dataset` object or a list/tuple of arrays. Received: "
                        f"dataset={dataset!r} of type {type(dataset)}")
    if shuffle:
        if seed is None:
            seed = _random.randint(0, int(1e6))
        _random.Random(seed).shuffle(samples)
    total = len(samples)
    left_size, right_size = _rescale_split_sizes(left_size, right_size, total)
    left = _stack(samples[:left_size], like)
    right = _stack(samples[-right_size:], like)
    left_ds = Dataset.from_tensor_slices(left)
    right_ds = Dataset.from_tensor_slices(right)
    if batch_size is not None:
        left_ds = left_ds.batch(batch_size)
        right_ds = right_ds.batch(batch_size)
    return left_ds, right_ds
