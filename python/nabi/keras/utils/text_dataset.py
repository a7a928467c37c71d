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

from .dataset_utils import (check_validation_split_arg, get_training_or_validation_split,
                            index_directory, labels_to_array)

__all__ = ["text_dataset_from_directory"]

_FN = "text_dataset_from_directory"
_FORMATS = (".txt",)


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
        y = labels_to_array(labels, label_mode, num_classes)
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
    check_validation_split_arg(_FN, validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(directory, labels, _FORMATS, _FN,
                                                 class_names=class_names, shuffle=shuffle,
                                                 seed=seed, follow_links=follow_links)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'[{_FN}] When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    num_classes = len(class_names) if class_names else 0

    def build(which):
        p, lab = get_training_or_validation_split(paths, labels, validation_split, which)
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
