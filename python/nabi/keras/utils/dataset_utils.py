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
import os
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


# ------------------------------------------------------------------------------- directories
# Shared by text_dataset_from_directory and image_dataset_from_directory (Keras keeps these
# in keras/utils/dataset_utils.py too).


def check_directory_args(fn, directory, labels, class_names, label_mode, batch_size,
                         what):
    """The argument checks text_ and image_dataset_from_directory share, with Keras's
    messages (`what` is "image files"/"images" or "text files"/"text samples" as Keras words
    it). Returns (directory as str, labels, label_mode), with labels and label_mode both None
    when either is."""
    files, samples = what
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"[{fn}] `directory` must be a path, got {type(directory).__name__}")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"[{fn}] directory {directory!r} does not exist or is not a "
                         "directory")
    if not (labels is None or isinstance(labels, str) and labels == "inferred"):
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError(f"[{fn}] `labels` argument should be a list/tuple of integer "
                             f"labels, of the same size as the number of {files} in the "
                             "target directory. If you wish to infer the labels from the "
                             "subdirectory names in the target directory, pass "
                             '`labels="inferred"`. If you wish to get a dataset that only '
                             f"contains {samples} (no labels), pass `labels=None`. Received: "
                             f"labels={labels!r}")
        if class_names:
            raise ValueError(f'[{fn}] You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels!r}, and class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'[{fn}] `label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode!r}')
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                   or isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"[{fn}] `batch_size` must be a positive integer or None. Received: "
                         f"batch_size={batch_size!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    return directory, labels, label_mode


def build_directory_datasets(fn, directory, paths, labels, label_mode, class_names,
                             validation_split, subset, shuffle, make, empty, formats):
    """The dataset(s) of an indexed directory: the training and/or validation split, each made
    by `make(paths, labels, shuffle)`; [training, validation] for subset="both" (where the
    validation set is not shuffled). `empty` names what was not found and `formats` the file
    endings looked for, in the error."""
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'[{fn}] When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")

    def build(which):
        p, lab = get_training_or_validation_split(paths, labels, validation_split, which)
        if not p:
            kind = {"training": "training ", "validation": "validation "}.get(which, "")
            raise ValueError(f"[{fn}] No {kind}{empty} found in directory {directory}. "
                             f"Allowed formats: {formats}")
        return make(p, lab, shuffle and which != "validation" if subset == "both" else shuffle)

    if subset == "both":
        return [build("training"), build("validation")]
    return build(subset)


def batch_and_shuffle(ds, batch_size, shuffle, seed):
    """Keras's per-epoch shuffle (a buffer of 8 batches, or 1024 elements unbatched), then
    the batching."""
    if batch_size is not None:
        if shuffle:
            ds = ds.shuffle(buffer_size=batch_size * 8, seed=seed)
        return ds.batch(batch_size)
    if shuffle:
        ds = ds.shuffle(buffer_size=1024, seed=seed)
    return ds


def check_validation_split_arg(fn, validation_split, subset, shuffle, seed):
    """Keras's checks of validation_split / subset / seed; errors name `fn`."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"[{fn}] `validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"[{fn}] If `subset` is set, `validation_split` must be set, and "
                         f"inversely. Received: validation_split={validation_split}, "
                         f"subset={subset!r}")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'[{fn}] `subset` must be either "training", "validation" or "both", '
                         f"received: {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"[{fn}] If using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument, to make sure that there is no overlap "
                         "between the training and validation subset.")


def iter_valid_files(directory, follow_links, formats):
    """(root, file name) of the files under `directory` whose names end with one of
    `formats` (case-insensitive): roots in sorted order, names sorted within each."""
    walk = sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0])
    for root, _, files in walk:
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_directory(directory, labels, formats, fn, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """(file_paths, labels, class_names) as Keras's `dataset_utils.index_directory` lists
    them: classes are the sorted subdirectories (or `class_names`), each one's files found
    recursively in sorted order, then (with shuffle) one np.random.RandomState(seed)
    permutation of the whole list."""
    inferred = isinstance(labels, str) and labels == "inferred"
    if inferred:
        # Keras skips hidden class directories (.ipynb_checkpoints, .git, ...)
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if not class_names:
            class_names = subdirs
        elif set(class_names) != set(subdirs):
            raise ValueError(f"[{fn}] The `class_names` passed did not match the names of the "
                             f"subdirectories of the target directory. Expected: {subdirs}, "
                             f"but received: {list(class_names)}")
    else:
        subdirs = [""]     # explicit or no labels: index from the directory itself down
    class_indices = {name: i for i, name in enumerate(class_names or [""])}
    paths, found = [], []
    for sub in subdirs:
        top = os.path.join(directory, sub)
        for root, fname in iter_valid_files(top, follow_links, formats):
            paths.append(os.path.join(root, fname))
            found.append(class_indices[sub] if inferred else 0)
    if labels is None:
        class_names = None
        if verbose:
            print(f"Found {len(paths)} files.")
    else:
        if inferred:
            labels = np.array(found, dtype=np.int32)
        else:
            if len(labels) != len(paths):
                raise ValueError(f"[{fn}] Expected the lengths of `labels` to match the number "
                                 f"of files in the target directory. len(labels) is "
                                 f"{len(labels)} while we found {len(paths)} files in "
                                 f"directory {directory}.")
            class_names = sorted(set(np.asarray(labels).tolist()))
            labels = np.asarray(labels)
            if labels.dtype.kind in "iu":
                labels = labels.astype(np.int32)
            elif labels.dtype.kind == "f":    # Python floats become float32 tensors in Keras
                labels = labels.astype(np.float32)
        if verbose:
            print(f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    if shuffle:
        # one global permutation, the same one Keras draws for paths and labels
        if seed is None:
            seed = np.random.randint(1e6)
        order = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(order)
        paths = [paths[i] for i in order]
        if labels is not None:
            labels = labels[order]
    return paths, labels, class_names


def get_training_or_validation_split(paths, labels, validation_split, subset):
    """Keras's split: validation takes the last int(validation_split * n) files, training
    the rest. (When that count is 0, Keras's `samples[:-0]` leaves training empty and
    validation with every file; here training has every file and validation none.)"""
    if not validation_split:
        return paths, labels
    num_val = int(validation_split * len(paths))
    cut = len(paths) - num_val
    if subset == "training":
        print(f"Using {cut} files for training.")
        sl = slice(0, cut)
    else:
        print(f"Using {num_val} files for validation.")
        sl = slice(cut, len(paths))
    return paths[sl], (None if labels is None else labels[sl])


def labels_to_array(labels, label_mode, num_classes):
    """Labels as the datasets yield them: int32 ('int'), float32 (n, 1) ('binary') or
    float32 one-hot ('categorical'; tf.one_hot gives all zeros outside [0, num_classes))."""
    if label_mode == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    if label_mode == "categorical":
        lab = labels.astype(np.int64)
        y = np.zeros((len(lab), num_classes), np.float32)
        ok = (lab >= 0) & (lab < num_classes)
        y[np.nonzero(ok)[0], lab[ok]] = 1.0
        return y
    return labels
