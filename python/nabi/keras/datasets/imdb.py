"""IMDB movie reviews (Maas et al. 2011): 25000 + 25000 reviews as word-index lists, labelled
positive (1) or negative (0), as Keras loads them.

Files: `imdb.npz` (object arrays `x_train`, `x_test` of index lists, `y_train`, `y_test`) and
`imdb_word_index.json` (word -> index, 1 the most frequent). Looked for, in order, in
`$NABI_DATASETS/imdb/`, `$NABI_DATASETS/`, the Keras cache `~/.keras/datasets/` and nabi's cache
`~/.nabi/datasets/imdb/`; with nothing local they are downloaded from Keras's bucket into nabi's
cache (checksum verified).
"""
import json

import numpy as np

from . import _fetch, _sequences

__all__ = ["load_data", "get_word_index"]

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
NPZ_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"   # sha256
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"                             # md5


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3, **kwargs):
    """Returns `((x_train, y_train), (x_test, y_test))` with Keras 2.x's semantics: each split
    shuffled by its own draw of `np.random.RandomState(seed)` (train first), indices shifted by
    `index_from` after a `start_char`, sequences of `maxlen` or more dropped, indices outside
    [skip_top, num_words) replaced by `oov_char` (dropped when it is None). x: 1-D object arrays
    of lists of ints; y: the file's label arrays (int64).
    """
    num_words = _sequences.legacy_kwargs("imdb", num_words, kwargs)
    fpath = _fetch.locate_file("imdb", path, "imdb.npz", ORIGIN + "imdb.npz", NPZ_HASH)
    with np.load(fpath, allow_pickle=True) as f:
        x_train, labels_train = f["x_train"], f["y_train"]
        x_test, labels_test = f["x_test"], f["y_test"]

    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    x_train = _sequences.shift(x_train, start_char, index_from)
    x_test = _sequences.shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _sequences.remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = _sequences.remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"[datasets.imdb] after filtering for sequences shorter than "
                             f"maxlen={maxlen}, no sequence was kept (train: {len(x_train)}, "
                             f"test: {len(x_test)}). Increase maxlen.")
    xs = _sequences.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(labels_train), np.asarray(labels_test)])
    idx = len(x_train)
    return ((_sequences.object_array(xs[:idx]), labels[:idx]),
            (_sequences.object_array(xs[idx:]), labels[idx:]))


def get_word_index(path="imdb_word_index.json"):
    """The dict word -> index of the IMDB reviews (index 1 the most frequent word; add
    `index_from` to match `load_data`'s sequences)."""
    fpath = _fetch.locate_file("imdb", path, "imdb_word_index.json",
                               ORIGIN + "imdb_word_index.json", WORD_INDEX_HASH)
    with open(fpath, encoding="utf-8") as f:
        return json.load(f)
