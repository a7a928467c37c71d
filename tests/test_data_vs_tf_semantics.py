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


def test_map_after_batch_keeps_the_batch_dim_unknown():
    # TF traces map_func on [None, 2] inputs: the mapped spec is [None, 2], not the first
    # batch's [3, 2]; a dimension the input fixes stays fixed
    ds = tf.data.Dataset.from_tensor_slices(np.arange(10.0).reshape(5, 2)).batch(3)
    m = ds.map(lambda x: (x * 2.0, tf.expand_dims(x[:, 0], -1)))
    assert [_shape(s) for s in m.element_spec] == [(None, 2), (None, 1)]
    assert [r[0].shape for r in m.as_numpy_iterator()] == [(3, 2), (2, 2)]
    fixed = ds.unbatch().batch(2, drop_remainder=True).map(lambda x: x + 1.0)
    assert _shape(fixed.element_spec) == (2, 2)


def test_make_csv_dataset_spec_and_values(tmp_path):
    # 3 records, batch_size 2, one epoch: batches of 2 and 1, so every column is [None];
    # column types come from the first record (int32 / float32 / string); the empty field
    # of a numeric column reads as 0 (TF's default for an inferred default)
    p = tmp_path / "t.csv"
    p.write_text('a,b,c,name\n1,2.5,3,x\n4,,6,"y,z"\n7,8.5,,w\n')
    ds = tf.data.experimental.make_csv_dataset(str(p), batch_size=2, label_name="a",
                                               shuffle=False, num_epochs=1)
    feats, label = ds.element_spec
    assert {k: _shape(v) for k, v in feats.items()} == {"b": (None,), "c": (None,),
                                                         "name": (None,)}
    assert _shape(label) == (None,)
    got = list(ds.as_numpy_iterator())
    assert [g[1].tolist() for g in got] == [[1, 4], [7]]
    assert got[0][0]["b"].tolist() == [2.5, 0.0] and got[1][0]["c"].tolist() == [0]
    assert got[0][0]["name"].tolist() == [b"x", b"y,z"]


def test_grayscale_png_uses_libpngs_weights(tmp_path):
    # TF decodes an RGB PNG with channels=1 through libpng's rgb_to_gray(0.299, 0.587):
    # weights 0.299 * 32768 = 9797, 0.587 * 32768 = 19234 (truncated) and 3737 for blue,
    # (9797 R + 19234 G + 3737 B) >> 15. Pillow's 'L' rounds its 16-bit weights instead,
    # which is off by one on about a third of random pixels.
    Image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    p = tmp_path / "c" / "x.png"
    p.parent.mkdir()
    Image.fromarray(rgb).save(p)
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    want = (9797 * r + 19234 * g + 3737 * b) >> 15
    got = tf.io.decode_png(tf.io.read_file(str(p)), channels=1).numpy()[..., 0]
    np.testing.assert_array_equal(got, want)
    ds = tf.keras.utils.image_dataset_from_directory(
        str(tmp_path), image_size=(6, 7), color_mode="grayscale", shuffle=False,
        batch_size=1, interpolation="bilinear")
    (x, _), = list(ds.as_numpy_iterator())
    np.testing.assert_allclose(x[0, ..., 0], want.astype(np.float32), atol=1e-4)


# ------------------------------------------------------------ ImageDataGenerator
def test_flow_validation_subset_is_the_first_samples():
    # Keras: split = int(n * validation_split); validation = x[:split], training = x[split:];
    # the label sets of the two parts must match unless ignore_class_split=True
    I = tf.keras.preprocessing.image
    x = np.arange(10 * 2 * 2 * 1, dtype=np.float32).reshape(10, 2, 2, 1)
    g = I.ImageDataGenerator(validation_split=0.3)
    y = np.array([0, 1] * 5)
    tr = g.flow(x, y, batch_size=20, shuffle=False, subset="training")[0]
    va = g.flow(x, y, batch_size=20, shuffle=False, subset="validation")[0]
    assert va[1].tolist() == [0, 1, 0] and tr[1].tolist() == [1, 0, 1, 0, 1, 0, 1]
    np.testing.assert_array_equal(va[0], x[:3])
    with pytest.raises(ValueError, match="different number of classes"):
        g.flow(x, np.arange(10), subset="training")
    tr = g.flow(x, np.arange(10), batch_size=20, shuffle=False, subset="training",
                ignore_class_split=True)[0]
    assert tr[1].tolist() == list(range(3, 10))


def _keras_matrix(theta, tx, ty, h, w):
    # Keras 2.15 apply_affine_transform: rotation @ shift about the centre (h/2 - 0.5,
    # w/2 - 0.5), then rows and columns of the matrix swapped (M' = PMP)
    t = np.deg2rad(theta)
    m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    m = m @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]])
    o = np.array([[1, 0, h / 2 - 0.5], [0, 1, w / 2 - 0.5], [0, 0, 1]])
    r = np.array([[1, 0, -(h / 2 - 0.5)], [0, 1, -(w / 2 - 0.5)], [0, 0, 1]])
    p = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1.0]])
    return p @ (o @ m @ r) @ p


@pytest.mark.parametrize("mode", ["nearest", "constant", "reflect", "wrap"])
@pytest.mark.parametrize("order", [0, 1])
def test_apply_affine_transform_matches_ndimage_modes(mode, order):
    # Keras resamples each channel with scipy.ndimage.affine_transform and its classic
    # (non-grid) modes: 'constant' reads cval outside [0, n-1], 'wrap' has period n - 1
    nd = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(1).uniform(0, 10, (5, 7, 2))
    for theta, tx, ty in [(90, 0, 0), (30, 1.5, -0.5), (0, 2, 0), (-20, 0, 3)]:
        m = _keras_matrix(theta, tx, ty, 5, 7)
        want = np.stack([nd.affine_transform(x[..., c], m[:2, :2], m[:2, 2], order=order,
                                             mode=mode, cval=-1.0) for c in range(2)], -1)
        got = tf.keras.preprocessing.image.apply_affine_transform(
            x, theta=theta, tx=tx, ty=ty, row_axis=0, col_axis=1, channel_axis=2,
            fill_mode=mode, cval=-1.0, order=order)
        np.testing.assert_allclose(got, want, atol=1e-9)
    # the default axes are Keras's channels-first ones (row_axis=1, col_axis=2, channel 0)
    got = tf.keras.preprocessing.image.apply_affine_transform(
        np.moveaxis(x, -1, 0), tx=1, fill_mode=mode, cval=-1.0, order=order)
    assert got.shape == (2, 5, 7)
    np.testing.assert_allclose(got[:, :, :-1], np.moveaxis(x, -1, 0)[:, :, 1:], atol=1e-9)


def test_brightness_goes_through_8_bit_like_keras():
    # apply_brightness_shift(scale=False): the image becomes uint8 (truncated), Pillow's
    # Brightness multiplies and truncates, clipping at 255; float32 comes back
    pytest.importorskip("PIL.Image")
    g = tf.keras.preprocessing.image.ImageDataGenerator()
    x = np.array([[[10.7, 100.2, 250.0], [0.0, 200.9, 5.5]]], np.float32)
    out = g.apply_transform(x, {"brightness": 1.3})
    assert out.dtype == np.float32
    want = np.minimum(np.floor(np.floor(x) * np.float32(1.3)), 255)
    np.testing.assert_array_equal(out, want)


def test_smart_resize():
    # (4, 4) -> (2, 3): the centred crop is rows 1..2 (int(4 * 2 / 3) = 2) at full width,
    # then a half-pixel bilinear resize of the width 4 -> 3 reads columns (j + .5) * 4/3 - .5;
    # x[r, c, k] = 12 r + 3 c + k is linear, so the result is that formula at those points
    x = np.arange(48.0).reshape(4, 4, 3)
    out = tf.keras.preprocessing.image.smart_resize(x, (2, 3))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    cols = (np.arange(3) + 0.5) * 4 / 3 - 0.5
    want = 12 * np.array([1, 2])[:, None, None] + 3 * cols[None, :, None] + np.arange(3)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    u8 = tf.keras.preprocessing.image.smart_resize(x.astype(np.uint8), (2, 2), "nearest")
    assert u8.dtype == np.uint8


def test_range_takes_the_widest_argument_dtype():
    # TF infers tf.range's dtype from its arguments (int32 < int64 < float32 < float64), so
    # Dataset.range(...).map(lambda x: tf.range(x)) yields int64 rows, not int32
    ds = tf.data.Dataset.range(1, 3).map(lambda x: tf.range(x))
    assert [r.dtype for r in ds.as_numpy_iterator()] == [np.int64, np.int64]
    assert tf.range(3).dtype == tf.int32
    assert tf.range(np.float64(2.0)).dtype == tf.float64
    assert tf.range(np.int32(2), np.float32(4)).dtype == tf.float32


def test_directory_datasets_skip_hidden_class_dirs(tmp_path):
    # Keras's index_directory ignores class subdirectories whose name starts with '.'
    # (e.g. .ipynb_checkpoints); files in hidden folders inside a class are still read
    for rel, text in [("a/1.txt", "a1"), ("b/2.txt", "b2"), ("b/.h/3.txt", "b3"),
                      (".ipynb_checkpoints/4.txt", "x")]:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    ds = tf.keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=10,
                                                    shuffle=False)
    assert ds.class_names == ["a", "b"]
    (x, y), = list(ds.as_numpy_iterator())
    assert x.tolist() == [b"a1", b"b2", b"b3"] and y.tolist() == [0, 1, 1]


def test_object_string_columns_become_bytes():
    # pandas string columns are object arrays of str: TF converts them to string tensors
    # (UTF-8 bytes); an object array holding anything else (NaN, ints) is a ValueError
    cols = {"s": np.array(["a", "bé"], dtype=object), "i": np.array([1, 2])}
    ds = tf.data.Dataset.from_tensor_slices(cols)
    assert ds.element_spec["s"].dtype == tf.string
    assert [e["s"] for e in ds.as_numpy_iterator()] == [b"a", "bé".encode("utf-8")]
    (b,) = list(ds.batch(2).as_numpy_iterator())
    assert b["s"].tolist() == [b"a", "bé".encode("utf-8")]
    with pytest.raises(ValueError, match="Unsupported object type float"):
        tf.data.Dataset.from_tensor_slices({"s": np.array(["a", np.nan], dtype=object)})
    with pytest.raises(ValueError, match="Unsupported object type int"):
        tf.data.Dataset.from_tensors(np.array([1, 2], dtype=object))


def test_as_numpy_iterator_gives_ragged_as_object_rows():
    # TF's as_numpy_iterator calls RaggedTensor.numpy(): an object array of row arrays
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1, 2], [3]])).batch(2)
    (b,) = list(ds.as_numpy_iterator())
    assert isinstance(b, np.ndarray) and b.dtype == object and b.shape == (2,)
    assert [r.tolist() for r in b] == [[1, 2], [3]]


def test_from_generator_with_a_ragged_signature():
    # output_signature=tf.RaggedTensorSpec: the generator yields RaggedTensors (was a
    # TypeError); the spec stays ragged, batching stacks them, and a map keeps [None, None]
    def gen():
        yield tf.ragged.constant([[1], [2, 3]], dtype=tf.int32)
        yield tf.ragged.constant([[4, 5, 6]], dtype=tf.int32)
    sig = tf.RaggedTensorSpec(shape=(None, None), dtype=tf.int32)
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    assert type(ds.element_spec).__name__ == "RaggedTensorSpec"
    assert [r.to_list() for r in ds] == [[[1], [2, 3]], [[4, 5, 6]]]
    (b,) = list(ds.batch(2))
    assert b.to_list() == [[[1], [2, 3]], [[4, 5, 6]]]
    m = ds.map(lambda r: r * 2)
    assert tuple(m.element_spec.shape) == (None, None)
    assert [r.row_lengths().numpy().tolist() for r in ds] == [[1, 2], [3]]


def test_num_parallel_reads_interleaves_files(tmp_path):
    # TextLineDataset / TFRecordDataset(num_parallel_reads=k) read k files at once and output
    # their records interleaved one at a time; a finished file's slot takes the next file
    paths = []
    for k, n in enumerate([3, 1, 2]):
        p = tmp_path / f"{k}.txt"
        p.write_text("".join(f"{k}{j}\n" for j in range(n)))
        paths.append(str(p))
    lines = [x.decode() for x in
             tf.data.TextLineDataset(paths, num_parallel_reads=2).as_numpy_iterator()]
    # slots [file0, file1]: 00 10 01, file1 ends (its turn passes), 02, slot 1 takes file2:
    # 20, file0 ends, 21 (the order TF 2.21 gives for these files)
    assert lines == ["00", "10", "01", "02", "20", "21"]
    seq = [x.decode() for x in tf.data.TextLineDataset(paths).as_numpy_iterator()]
    assert seq == ["00", "01", "02", "10", "20", "21"]
    recs = []
    for k in range(2):
        p = str(tmp_path / f"{k}.tfr")
        with tf.io.TFRecordWriter(p) as w:
            for j in range(k + 2):
                w.write(b"%d%d" % (k, j))
        recs.append(p)
    got = list(tf.data.TFRecordDataset(recs, num_parallel_reads=2).as_numpy_iterator())
    assert got == [b"00", b"10", b"01", b"11", b"12"]
