"""tf.data / keras.utils input-pipeline semantics that a differential sweep against
TensorFlow 2.21 found nabi getting silently wrong. Each expected value is derived by hand
(or with NumPy) from TF's documented behaviour; the comment on each test says how."""
import numpy as np
import pytest

import nabi as tf


def _shape(spec):
    return None if spec.shape is None else tuple(spec.shape)


def _rows(ds):
    return [np.asarray(e) for e in ds.as_numpy_iterator()]


# ------------------------------------------------------------------ element_spec
def test_flat_map_spec_is_the_inner_datasets_spec():
    # window(3, 2).flat_map(lambda w: w.batch(3)): batch keeps the partial last window, so
    # the inner dataset's spec (and TF's) is [None], not the first element's [3]
    ds = tf.data.Dataset.range(7).window(3, shift=2).flat_map(lambda w: w.batch(3))
    assert _shape(ds.element_spec) == (None,)
    assert [r.tolist() for r in _rows(ds)] == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6]]


def test_interleave_and_group_by_window_spec():
    ds = tf.data.Dataset.range(4).interleave(lambda x: tf.data.Dataset.range(6).batch(4),
                                             cycle_length=2)
    assert _shape(ds.element_spec) == (None,)
    g = tf.data.Dataset.range(10).group_by_window(key_func=lambda x: x % 2,
                                                  reduce_func=lambda k, w: w.batch(3),
                                                  window_size=3)
    assert _shape(g.element_spec) == (None,)


def test_group_by_window_flushes_open_windows_in_key_order():
    # keys x % 4 - 2 of [5, 3, -2, 7, 3, 0, 9] are [-1, 1, 0, 1, 1, -2, -1]; no window of 5
    # fills, so all flush at the end in ascending key order (TF keeps them in a std::map):
    # key -2: [0], key -1: [5, 9], key 0: [-2], key 1: [3, 7, 3]
    ds = tf.data.Dataset.from_tensor_slices(np.array([5, 3, -2, 7, 3, 0, 9], np.int64))
    ds = ds.group_by_window(key_func=lambda x: x % 4 - 2,
                            reduce_func=lambda k, w: w.batch(5), window_size=5)
    assert [r.tolist() for r in _rows(ds)] == [[0], [5, 9], [-2], [3, 7, 3]]


def _lengths_ds(lengths):
    return tf.data.Dataset.from_generator(
        lambda: iter([[1] * n for n in lengths]),
        output_signature=tf.TensorSpec([None], tf.int32))


@pytest.mark.parametrize("kw", [dict(), dict(drop_remainder=True),
                                dict(pad_to_bucket_boundary=True, padding_values=-1)])
def test_bucket_by_sequence_length_spec_and_order(kw):
    # each bucket has its own batch size and padded length, so TF's spec is [None, None]
    lengths = [1, 5, 2, 4, 3, 3, 2, 1]
    ds = _lengths_ds(lengths).bucket_by_sequence_length(
        lambda x: tf.shape(x)[0], bucket_boundaries=[3, 6], bucket_batch_sizes=[2, 2, 2], **kw)
    assert _shape(ds.element_spec) == (None, None)
    # buckets: len < 3 -> 0, 3..5 -> 1. Full batches in arrival order: [1, 2] (bucket 0),
    # [5, 4] (1), [3, 3] (1), [2, 1] (0); nothing left over
    pad = kw.get("padding_values", 0)
    got = [r.tolist() for r in _rows(ds)]
    width = {0: 2, 1: 5}
    exp = []
    for pair, b in [((1, 2), 0), ((5, 4), 1), ((3, 3), 1), ((2, 1), 0)]:
        w = width[b] if kw.get("pad_to_bucket_boundary") else max(pair)
        exp.append([[1] * n + [pad] * (w - n) for n in pair])
    assert got == exp


def test_bucket_leftovers_flush_by_bucket_id():
    # lengths [1, 5, 2, 7, 3, 3, 8, 1] -> full batches [1, 2], [5, 3], [7, 8]; left over:
    # [3] in bucket 1 (arrived first) and [1] in bucket 0: TF flushes bucket 0 first
    ds = _lengths_ds([1, 5, 2, 7, 3, 3, 8, 1]).bucket_by_sequence_length(
        lambda x: tf.shape(x)[0], bucket_boundaries=[3, 6], bucket_batch_sizes=[2, 2, 2])
    assert [r.shape for r in _rows(ds)] == [(2, 2), (2, 5), (2, 8), (1, 1), (1, 3)]


def test_padded_batch_keeps_known_dims_in_spec():
    # padded_shapes defaults to the input's shape: known dims stay known, None stay None
    ds = tf.data.Dataset.from_tensors(np.zeros((2, 3), np.float32)).repeat(3)
    assert _shape(ds.padded_batch(2).element_spec) == (None, 2, 3)
    assert _shape(ds.padded_batch(2, drop_remainder=True).element_spec) == (2, 2, 3)
    g = tf.data.Dataset.from_generator(lambda: iter([np.ones((2, 1)), np.ones((2, 3))]),
                                       output_signature=tf.TensorSpec([2, None], tf.float64))
    assert _shape(g.padded_batch(2).element_spec) == (None, 2, None)


def test_padded_batch_pads_strings_with_empty_bytes():
    ds = tf.data.Dataset.from_generator(lambda: iter([[b"a", b"b"], [b"c"]]),
                                        output_signature=tf.TensorSpec([None], tf.string))
    (batch,) = list(ds.padded_batch(2).as_numpy_iterator())
    assert batch.tolist() == [[b"a", b"b"], [b"c", b""]]
    assert all(type(v) is bytes for v in batch.ravel())
