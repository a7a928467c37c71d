"""Reuters newswires (the Reuters-21578 set as Keras packs it): 11228 newswires as word-index
lists over 46 topics, as Keras loads them.

Files: `reuters.npz` (object array `x` of index lists, `y` the topics) and
`reuters_word_index.json`. Looked for, in order, in `$NABI_DATASETS/reuters/`,
`$NABI_DATASETS/`, the Keras cache `~/.keras/datasets/` and nabi's cache
`~/.nabi/datasets/reuters/`; with nothing local they are downloaded from Keras's bucket into
nabi's cache (checksum verified).
"""
import json

import numpy as np

from . import _fetch, _sequences

__all__ = ["load_data", "get_word_index", "get_label_names"]

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
NPZ_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"   # sha256
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"                             # md5

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3, **kwargs):
    """Returns `((x_train, y_train), (x_test, y_test))` with Keras 2.x's semantics: all
    newswires shuffled together by `np.random.RandomState(seed)`, indices shifted by
    `index_from` after a `start_char`, sequences of `maxlen` or more dropped, indices outside
    [skip_top, num_words) replaced by `oov_char` (dropped when it is None), then the first
    `int(n * (1 - test_split))` kept for training. x: 1-D object arrays of lists of ints;
    y: int64 topic arrays.
    """
    num_words = _sequences.legacy_kwargs("reuters", num_words, kwargs)
    fpath = _fetch.locate_file("reuters", path, "reuters.npz", ORIGIN + "reuters.npz", NPZ_HASH)
    with np.load(fpath, allow_pickle=True) as f:
        xs, labels = f["x"], f["y"]

    rng = np.random.RandomState(seed)
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    xs, labels = xs[indices], labels[indices]

    xs = _sequences.shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = _sequences.remove_long_seq(maxlen, xs, labels)
        if not xs:
            raise ValueError(f"[datasets.reuters] after filtering for sequences shorter than "
                             f"maxlen={maxlen}, no sequence was kept. Increase maxlen.")
    xs = _sequences.limit_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((_sequences.object_array(xs[:idx]), np.array(labels[:idx])),
            (_sequences.object_array(xs[idx:]), np.array(labels[idx:])))


def get_word_index(path="reuters_word_index.json"):
    """The dict word -> index of the newswires (add `index_from` to match `load_data`)."""
    fpath = _fetch.locate_file("reuters", path, "reuters_word_index.json",
                               ORIGIN + "reuters_word_index.json", WORD_INDEX_HASH)
    with open(fpath, encoding="utf-8") as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed as `load_data`'s labels (a tuple, as in Keras)."""
    return LABEL_NAMES
