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

import numpy as np

from .dataset_utils import (batch_and_shuffle, build_directory_datasets, check_directory_args,
                            check_validation_split_arg, index_directory, labels_to_array)

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
    ds = batch_and_shuffle(ds, batch_size, shuffle, seed)
    ds.class_names = class_names
    return ds


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None, shuffle=True,
                                seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A `nabi.data.Dataset` of (texts, labels) batches from a directory of .txt files, one
    subdirectory per class (`labels="inferred"`), or of texts only (`labels=None`), or with
    `labels` given as a list (one per file, in the sorted file order). With
    `subset="both"` returns [training, validation]. The result has `.class_names`."""
    directory, labels, label_mode = check_directory_args(
        _FN, directory, labels, class_names, label_mode, batch_size,
        ("text files", "text samples"))
    if max_length is not None and (not isinstance(max_length, (int, np.integer))
                                   or max_length < 0):
        raise ValueError(f"[{_FN}] `max_length` must be a non-negative integer or None. "
                         f"Received: max_length={max_length!r}")
    check_validation_split_arg(_FN, validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(directory, labels, _FORMATS, _FN,
                                                 class_names=class_names, shuffle=shuffle,
                                                 seed=seed, follow_links=follow_links,
                                                 verbose=verbose)
    num_classes = len(class_names) if class_names else 0

    def make(p, lab, shuffle_split):
        return _make_dataset(p, lab, label_mode, num_classes, max_length, batch_size,
                             shuffle_split, seed, class_names)

    return build_directory_datasets(_FN, directory, paths, labels, label_mode, class_names,
                                    validation_split, subset, shuffle, make, "text files",
                                    _FORMATS)
