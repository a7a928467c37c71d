"""`keras.utils.text_dataset_from_directory` (TF 2.15 semantics).

    raw_train_ds = keras.utils.text_dataset_from_directory(
        "aclImdb/train", batch_size=32, validation_split=0.2, subset="training", seed=42)
    raw_train_ds.class_names        # ['neg', 'pos']

Classes are the sorted names of the subdirectories of `directory` (or `class_names`, in that
order); each class's .txt files are found recursively and listed by sorted directory path,
then sorted file name. With `shuffle`, that list is permuted once by
`np.random.RandomState(seed).shuffle`, as Keras does, so for the same seed the files (and the
training / validation split, taken from the end of the list) are the ones TensorFlow picks.
The per-epoch shuffle of the batched dataset (a buffer of 8 batches) uses nabi's Dataset
shuffle, whose random stream is not tf.data's. Texts are read as bytes (`tf.string`), cut to
`max_length` bytes when set; labels are int32 ('int'), float32 of shape (1,) ('binary') or a
float32 one-hot vector ('categorical').
"""
import os

import numpy as np

__all__ = ["text_dataset_from_directory"]

_FN = "text_dataset_from_directory"
_FORMATS = (".txt",)


def _check_split_args(validation_split, subset, shuffle, seed):
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"[{_FN}] `validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"[{_FN}] If `subset` is set, `validation_split` must be set, and "
                         f"inversely. Received: validation_split={validation_split}, "
                         f"subset={subset!r}")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'[{_FN}] `subset` must be either "training", "validation" or "both", '
                         f"received: {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"[{_FN}] If using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument, to make sure that there is no overlap "
                         "between the training and validation subset.")


def _walk_files(directory, follow_links):
    """(root, file name) of the .txt files under `directory`: roots in sorted order, names
    sorted within each (Keras's `iter_valid_files`)."""
    walk = sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0])
    for root, _, files in walk:
        for fname in sorted(files):
            if fname.lower().endswith(_FORMATS):
                yield root, fname


def index_directory(directory, labels, class_names=None, shuffle=True, seed=None,
                    follow_links=False):
    """(file_paths, labels, class_names) as Keras's `dataset_utils.index_directory` lists
    them for .txt files."""
    inferred = isinstance(labels, str) and labels == "inferred"
    if inferred:
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d))]
        if not class_names:
            class_names = subdirs
        elif set(class_names) != set(subdirs):
            raise ValueError(f"[{_FN}] The `class_names` passed did not match the names of the "
                             f"subdirectories of the target directory. Expected: {subdirs}, "
                             f"but received: {list(class_names)}")
    else:
        subdirs = [""]     # explicit or no labels: index from the directory itself down
    class_indices = {name: i for i, name in enumerate(class_names or [""])}
    paths, found = [], []
    for sub in subdirs:
        top = os.path.join(directory, sub)
        for root, fname in _walk_files(top, follow_links):
            paths.append(os.path.join(root, fname))
            found.append(class_indices[sub] if inferred else 0)
    if labels is None:
        class_names = None
        print(f"Found {len(paths)} files.")
    else:
        if inferred:
            labels = np.array(found, dtype=np.int32)
        else:
            if len(labels) != len(paths):
                raise ValueError(f"[{_FN}] Expected the lengths of `labels` to match the number "
                                 f"of files in the target directory. len(labels) is "
                                 f"{len(labels)} while we found {len(paths)} files in "
                                 f"directory {directory}.")
            class_names = sorted(set(np.asarray(labels).tolist()))
            labels = np.asarray(labels)
            if labels.dtype.kind in "iu":
                labels = labels.astype(np.int32)
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


def _split(paths, labels, validation_split, subset):
    """Keras's `get_training_or_validation_split`: validation takes the last
    int(validation_split * n) files, training the rest. (When that count is 0, Keras's
    `samples[:-0]` leaves training empty and validation with every file; here training has
    every file and validation none.)"""
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


def _read_texts(paths, max_length):
    texts = np.empty(len(paths), dtype=object)
    for i, p in enumerate(paths):
        with open(p, "rb") as f:
            data = f.read() if max_length is None else f.read(max_length)
        texts[i] = data
    return texts


def _make_dataset(paths, labels, label_mode, num_classes, max_length, batch_size, shuffle,
                  seed, class_names):
    from ...data import Dataset
    texts = _read_texts(paths, max_length)
    if label_mode is None:
        ds = Dataset.from_tensor_slices(texts)
    else:
        if label_mode == "binary":
            y = labels.astype(np.float32).reshape(-1, 1)
        elif label_mode == "categorical":
            # tf.one_hot(label, num_classes): a label outside [0, num_classes) is all zeros
            lab = labels.astype(np.int64)
            y = np.zeros((len(lab), num_classes), np.float32)
            ok = (lab >= 0) & (lab < num_classes)
            y[np.nonzero(ok)[0], lab[ok]] = 1.0
        else:
            y = labels
        ds = Dataset.from_tensor_slices((texts, y))
    if batch_size is not None:
        if shuffle:
            ds = ds.shuffle(buffer_size=batch_size * 8, seed=seed)
        ds = ds.batch(batch_size)
    elif shuffle:
        ds = ds.shuffle(buffer_size=1024, seed=seed)
    ds.class_names = class_names
    return ds


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None, shuffle=True,
                                seed=None, validation_split=None, subset=None,
                                follow_links=False):
    """A `nabi.data.Dataset` of (texts, labels) batches from a directory of .txt files, one
    subdirectory per class (`labels="inferred"`), or of texts only (`labels=None`), or with
    `labels` given as a list (one per file, in the sorted file order). With
    `subset="both"` returns [training, validation]. The result has `.class_names`."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"[{_FN}] `directory` must be a path, got {type(directory).__name__}")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"[{_FN}] directory {directory!r} does not exist or is not a "
                         "directory")
    if not (labels is None or isinstance(labels, str) and labels == "inferred"):
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError(f"[{_FN}] `labels` argument should be a list/tuple of integer "
                             "labels, of the same size as the number of text files in the "
                             "target directory. If you wish to infer the labels from the "
                             "subdirectory names in the target directory, pass "
                             '`labels="inferred"`. If you wish to get a dataset that only '
                             "contains text samples (no labels), pass "
                             f"`labels=None`. Received: labels={labels!r}")
        if class_names:
            raise ValueError(f'[{_FN}] You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels!r}, and class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'[{_FN}] `label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode!r}')
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"[{_FN}] `batch_size` must be a positive integer or None. Received: "
                         f"batch_size={batch_size!r}")
    if max_length is not None and (not isinstance(max_length, (int, np.integer))
                                   or max_length < 0):
        raise ValueError(f"[{_FN}] `max_length` must be a non-negative integer or None. "
                         f"Received: max_length={max_length!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split_args(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(directory, labels, class_names=class_names,
                                                 shuffle=shuffle, seed=seed,
                                                 follow_links=follow_links)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'[{_FN}] When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    num_classes = len(class_names) if class_names else 0

    def build(which):
        p, lab = _split(paths, labels, validation_split, which)
        if not p:
            kind = {"training": "training ", "validation": "validation "}.get(which, "")
            raise ValueError(f"[{_FN}] No {kind}text files found in directory {directory}. "
                             f"Allowed format: .txt")
        return _make_dataset(p, lab, label_mode, num_classes, max_length, batch_size,
                             shuffle and which != "validation" if subset == "both" else shuffle,
                             seed, class_names)

    if subset == "both":
        return [build("training"), build("validation")]
    return build(subset)
