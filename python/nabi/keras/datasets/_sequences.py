"""The word-index sequence handling that `imdb` and `reuters` share (Keras 2.x's steps, in
Keras's order): index shift and start mark, `maxlen` filter, vocabulary cut with an OOV mark."""
import warnings

import numpy as np

__all__ = ["shift", "remove_long_seq", "limit_vocabulary", "object_array", "legacy_kwargs"]


def legacy_kwargs(name, num_words, kwargs):
    """Keras's `nb_words` (renamed `num_words`); anything else unknown is a TypeError."""
    if "nb_words" in kwargs:
        warnings.warn(f"[datasets.{name}] the `nb_words` argument of load_data has been renamed "
                      "`num_words`", stacklevel=3)
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError(f"[datasets.{name}] load_data: unrecognized keyword arguments: "
                        f"{sorted(kwargs)}")
    return num_words


def shift(seqs, start_char, index_from):
    """Adds `index_from` to every index and puts `start_char` (unless None) in front."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in seqs]
    return [[w + index_from for w in x] for x in seqs]


def remove_long_seq(maxlen, seqs, labels):
    """Keeps the sequences strictly shorter than `maxlen` (Keras's `len(x) < maxlen`)."""
    keep = [i for i, x in enumerate(seqs) if len(x) < maxlen]
    return [seqs[i] for i in keep], [labels[i] for i in keep]


def limit_vocabulary(xs, num_words, skip_top, oov_char):
    """Indices outside [skip_top, num_words) become `oov_char`, or are dropped when it is None.
    `num_words` None (or 0) means the largest index, which Keras's `w < num_words` then also
    turns into `oov_char`."""
    if not num_words:
        num_words = max(max(x) for x in xs if len(x))
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(seqs):
    """A 1-D object array of lists. (Keras's `np.array(seqs, dtype="object")` turns into a 2-D
    array when all sequences happen to have the same length; this never does.)"""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out
