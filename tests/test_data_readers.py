"""tf.data file readers (TextLineDataset, list_files, CsvDataset, make_csv_dataset), TFRecord
files, tf.train.Example's wire format, parse_single_example / parse_example, and the
interleave / window / scan / unique / group_by_window / bucket_by_sequence_length
transformations. References: hand-built bytes, a bit-by-bit CRC-32C, Python's csv and gzip
modules, NumPy."""
import csv
import gzip
import io
import os
import struct

import numpy as np
import pytest

import nabi as tf
from nabi.compat.v1.errors import InvalidArgumentError
from nabi.data.tfrecord import DataLossError, crc32c, masked_crc32c
from nabi.train.example import DecodeError


# ---------------------------------------------------------------------- references
def crc32c_bitwise(data):
    """CRC-32C one bit at a time (no table): the reference."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(record):
    n = struct.pack("<Q", len(record))
    return n + struct.pack("<I", mask(crc32c_bitwise(n))) + record + \
        struct.pack("<I", mask(crc32c_bitwise(record)))


def ld(number, payload):
    """A length-delimited protobuf field (lengths < 128 here)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def np_list(ds):
    return list(ds.as_numpy_iterator())


# ---------------------------------------------------------------------- CRC-32C
def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(b"\x00" * 32) == 0x8A9136AA   # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    data = bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8))
    assert crc32c(data) == crc32c_bitwise(data)
    assert crc32c(data[100:], crc32c(data[:100])) == crc32c(data)
    assert masked_crc32c(b"123456789") == mask(0xE3069283)


# ---------------------------------------------------------------------- TFRecord
def test_tfrecord_writer_bytes_and_read_back(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    records = [b"hello", b"", b"x" * 300, bytes(range(256))]
    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r)
    with open(path, "rb") as f:
        assert f.read() == b"".join(frame(r) for r in records)
    ds = tf.data.TFRecordDataset(path)
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert np_list(ds) == records
    assert np_list(tf.data.TFRecordDataset([path, path])) == records * 2


def test_tfrecord_reads_hand_framed_file(tmp_path):
    path = tmp_path / "b.tfrecord"
    path.write_bytes(frame(b"abc") + frame(b"defg"))
    assert np_list(tf.data.TFRecordDataset(str(path))) == [b"abc", b"defg"]


@pytest.mark.parametrize("comp", ["GZIP", "ZLIB"])
def test_tfrecord_compressed(tmp_path, comp):
    path = str(tmp_path / "c.tfrecord")
    records = [b"r%d" % i * (i + 1) for i in range(20)]
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type=comp)) as w:
        for r in records:
            w.write(r)
    raw = open(path, "rb").read()
    import zlib
    plain = gzip.decompress(raw) if comp == "GZIP" else zlib.decompress(raw)
    assert plain == b"".join(frame(r) for r in records)
    assert np_list(tf.data.TFRecordDataset(path, compression_type=comp)) == records
    # a gzip file written by Python's gzip module reads too
    other = tmp_path / "d.tfrecord.gz"
    other.write_bytes(gzip.compress(frame(b"one") + frame(b"two")))
    assert np_list(tf.data.TFRecordDataset(str(other), "GZIP")) == [b"one", b"two"]


def test_tfrecord_corrupted_and_truncated(tmp_path):
    good = frame(b"first") + frame(b"second record")
    bad = bytearray(good)
    bad[len(frame(b"first")) + 12 + 2] ^= 0x01  # a data byte of the second record
    p = tmp_path / "bad.tfrecord"
    p.write_bytes(bytes(bad))
    it = tf.data.TFRecordDataset(str(p)).as_numpy_iterator()
    assert next(it) == b"first"
    with pytest.raises(DataLossError, match="corrupted record at 21"):
        next(it)
    bad = bytearray(good)
    bad[0] ^= 0x04  # the length
    p.write_bytes(bytes(bad))
    with pytest.raises(DataLossError, match="corrupted record at 0"):
        np_list(tf.data.TFRecordDataset(str(p)))
    p.write_bytes(good[:-3])
    with pytest.raises(DataLossError, match="truncated record"):
        np_list(tf.data.TFRecordDataset(str(p)))
    with pytest.raises(ValueError, match="compression_type"):
        tf.data.TFRecordDataset(str(p), compression_type="LZ4")


# ---------------------------------------------------------------------- Example
def small_example():
    return tf.train.Example(features=tf.train.Features(feature={
        "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 300, -1])),
        "f": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5, -2.0])),
        "b": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"ab", b""])),
    }))


def small_example_bytes():
    i_list = ld(1, b"\x01" + b"\xac\x02" + b"\xff" * 9 + b"\x01")   # packed varints
    f_list = ld(1, struct.pack("<2f", 1.5, -2.0))                    # packed floats
    b_list = ld(1, b"ab") + ld(1, b"")
    entry = (ld(1, ld(1, b"i") + ld(2, ld(3, i_list))) +
             ld(1, ld(1, b"f") + ld(2, ld(2, f_list))) +
             ld(1, ld(1, b"b") + ld(2, ld(1, b_list))))
    return ld(1, entry)


def test_example_wire_format():
    assert small_example().SerializeToString() == small_example_bytes()
    ex = tf.train.Example.FromString(small_example_bytes())
    feat = ex.features.feature
    assert list(feat) == ["i", "f", "b"]
    assert feat["i"].int64_list.value == [1, 300, -1]
    assert feat["f"].float_list.value == [1.5, -2.0]
    assert feat["b"].bytes_list.value == [b"ab", b""]
    assert feat["i"].WhichOneof("kind") == "int64_list"
    assert ex == small_example()
    ex2 = tf.train.Example()
    assert ex2.ParseFromString(small_example_bytes()) == len(small_example_bytes())
    assert ex2 == ex
    assert tf.train.Example().SerializeToString() == b""
    # deterministic serialization sorts the map keys
    det = ex.SerializeToString(deterministic=True)
    assert tf.train.Example.FromString(det) == ex and det.index(b"\x01b") < det.index(b"\x01f")


def test_example_parses_unpacked_and_skips_unknown_fields():
    ints = b"\x08\x05" + b"\x08\x07"                          # unpacked int64s
    floats = b"\x0d" + struct.pack("<f", 0.25)                # one unpacked float
    unknown = b"\x28\x01" + ld(7, b"zz")                      # fields 5 and 7: skipped
    entry = ld(1, ld(1, b"x") + ld(2, ld(3, ints))) + ld(1, ld(1, b"y") +
                                                          ld(2, ld(2, floats)))
    ex = tf.train.Example.FromString(ld(1, entry) + unknown)
    assert ex.features.feature["x"].int64_list.value == [5, 7]
    assert ex.features.feature["y"].float_list.value == [0.25]
    with pytest.raises(DecodeError):
        tf.train.Example.FromString(small_example_bytes()[:-3])


def test_example_type_errors():
    with pytest.raises(TypeError, match="expected one of: bytes"):
        tf.train.BytesList(value=["text"])
    with pytest.raises(TypeError, match="expected one of: int"):
        tf.train.Int64List(value=[1.5])
    with pytest.raises(ValueError, match="one of a kind"):
        tf.train.Feature(int64_list=tf.train.Int64List(value=[1]),
                         float_list=tf.train.FloatList(value=[1.0]))
    assert tf.train.FloatList(value=[0.1]).value == [float(np.float32(0.1))]


def write_examples(path, n, options=None):
    rng = np.random.default_rng(3)
    rows = []
    with tf.io.TFRecordWriter(path, options) as w:
        for k in range(n):
            img = rng.random(6).astype(np.float32)
            toks = list(range(k % 4))
            name = b"item%d" % k
            rows.append((img, k, toks, name))
            ex = tf.train.Example(features=tf.train.Features(feature={
                "img": tf.train.Feature(float_list=tf.train.FloatList(value=img)),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[k])),
                "toks": tf.train.Feature(int64_list=tf.train.Int64List(value=toks)),
                "name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name])),
            }))
            w.write(ex.SerializeToString())
    return rows


SPEC = {"img": tf.io.FixedLenFeature([2, 3], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "name": tf.io.FixedLenFeature([], tf.string),
        "toks": tf.io.VarLenFeature(tf.int64),
        "missing": tf.io.FixedLenFeature([2], tf.float32, default_value=[-1.0, -2.0])}


@pytest.mark.parametrize("comp", [None, "GZIP"])
def test_write_then_read_examples(tmp_path, comp):
    path = str(tmp_path / "ex.tfrecord")
    rows = write_examples(path, 7, comp)
    ds = tf.data.TFRecordDataset(path, compression_type=comp).map(
        lambda r: tf.io.parse_single_example(r, {k: v for k, v in SPEC.items()
                                                 if k != "toks"}))
    got = np_list(ds)
    assert len(got) == 7
    for g, (img, k, toks, name) in zip(got, rows):
        np.testing.assert_array_equal(g["img"], img.reshape(2, 3))
        assert g["img"].dtype == np.float32 and g["label"].dtype == np.int64
        assert g["label"] == k and g["name"] == name
        np.testing.assert_array_equal(g["missing"], [-1.0, -2.0])
    # VarLenFeature: a sparse result
    rec = np_list(tf.data.TFRecordDataset(path, compression_type=comp))[3]
    p = tf.io.parse_single_example(rec, SPEC)
    np.testing.assert_array_equal(p["toks"].values.numpy(), [0, 1, 2])
    np.testing.assert_array_equal(p["toks"].indices.numpy(), [[0], [1], [2]])
    np.testing.assert_array_equal(p["toks"].dense_shape.numpy(), [3])


def test_parse_example_batch(tmp_path):
    path = str(tmp_path / "ex.tfrecord")
    rows = write_examples(path, 5)
    batch = next(iter(tf.data.TFRecordDataset(path).batch(5)))
    p = tf.io.parse_example(batch, SPEC)
    np.testing.assert_array_equal(p["img"].numpy(), np.stack([r[0] for r in rows])
                                  .reshape(5, 2, 3))
    np.testing.assert_array_equal(p["label"].numpy(), np.arange(5))
    toks = p["toks"]
    want_idx = [(i, j) for i, r in enumerate(rows) for j in range(len(r[2]))]
    np.testing.assert_array_equal(toks.indices.numpy(), want_idx)
    np.testing.assert_array_equal(toks.values.numpy(), [v for r in rows for v in r[2]])
    np.testing.assert_array_equal(toks.dense_shape.numpy(), [5, 3])
    dense = np.zeros((5, 3), np.int64)
    for (i, j), v in zip(want_idx, toks.values.numpy()):
        dense[i, j] = v
    np.testing.assert_array_equal(tf.sparse.to_dense(toks).numpy(), dense)
    seq = tf.io.parse_example(batch, {"toks": tf.io.FixedLenSequenceFeature(
        [], tf.int64, allow_missing=True)})["toks"].numpy()
    np.testing.assert_array_equal(seq, dense)


def test_parse_errors():
    data = small_example_bytes()
    with pytest.raises(InvalidArgumentError, match="Feature: nope .* is required"):
        tf.io.parse_single_example(data, {"nope": tf.io.FixedLenFeature([], tf.int64)})
    with pytest.raises(InvalidArgumentError, match="Data types don't match"):
        tf.io.parse_single_example(data, {"i": tf.io.FixedLenFeature([3], tf.float32)})
    with pytest.raises(InvalidArgumentError, match="Values size: 3 but output shape: \\[2\\]"):
        tf.io.parse_single_example(data, {"i": tf.io.FixedLenFeature([2], tf.int64)})
    with pytest.raises(ValueError, match="float32, int64 or string"):
        tf.io.FixedLenFeature([], tf.int32)
    with pytest.raises(InvalidArgumentError, match="Could not parse example"):
        tf.io.parse_single_example(b"\x0a\x05ab", {"i": tf.io.VarLenFeature(tf.int64)})


def test_serialize_tensor_round_trip():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    s = tf.io.serialize_tensor(tf.constant(x)).numpy()
    # TensorProto: dtype=1 (DT_FLOAT), shape dims 2 and 3, tensor_content
    shape = ld(2, b"\x08\x02") + ld(2, b"\x08\x03")
    assert s == b"\x08\x01" + ld(2, shape) + b"\x22\x18" + x.tobytes()
    np.testing.assert_array_equal(tf.io.parse_tensor(s, tf.float32).numpy(), x)
    strs = tf.io.parse_tensor(tf.io.serialize_tensor(tf.constant(["a", "bc"])), tf.string)
    assert strs.numpy().tolist() == [b"a", b"bc"]
    with pytest.raises(InvalidArgumentError, match="Type mismatch"):
        tf.io.parse_tensor(s, tf.int64)


# ---------------------------------------------------------------------- text lines
def test_text_line_dataset(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"first\nsecond\r\n\nlast no newline")
    b.write_bytes("ünï\n".encode("utf-8"))
    ds = tf.data.TextLineDataset([str(a), str(b)])
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert np_list(ds) == [b"first", b"second", b"", b"last no newline",
                           "ünï".encode("utf-8")]
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(b"x\ny\n" * 5))
    assert np_list(tf.data.TextLineDataset(str(gz), compression_type="GZIP")) == \
        [b"x", b"y"] * 5
    files = tf.data.Dataset.from_tensor_slices([str(a), str(b)])
    assert len(np_list(tf.data.TextLineDataset(files))) == 5
    with pytest.raises(FileNotFoundError, match="TextLineDataset"):
        np_list(tf.data.TextLineDataset(str(tmp_path / "none.txt")))


def test_list_files(tmp_path):
    names = [str(tmp_path / f"f{i}.csv") for i in (3, 1, 2)]
    for n in names:
        open(n, "w").close()
    (tmp_path / "other.txt").write_text("")
    pattern = str(tmp_path / "*.csv")
    got = [x.decode() for x in np_list(tf.data.Dataset.list_files(pattern, shuffle=False))]
    assert got == sorted(names)
    shuffled = [x.decode() for x in np_list(tf.data.Dataset.list_files(pattern, seed=1))]
    assert sorted(shuffled) == sorted(names)
    with pytest.raises(InvalidArgumentError, match="No files matched pattern"):
        tf.data.Dataset.list_files(str(tmp_path / "*.none"))


# ---------------------------------------------------------------------- CSV
CSV_TEXT = ('name,age,score,note\n'
            'alice,30,1.5,"hello, world"\n'
            'bob,,2.25,"say ""hi"""\n'
            '"carol",41,,plain\n'
            '\n'
            'dave,7,-3e2,"two\nlines"\n')


def reference_rows(text):
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    return rows[0], rows[1:]


def test_csv_dataset_against_csv_module(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(CSV_TEXT)
    header, rows = reference_rows(CSV_TEXT)
    ds = tf.data.experimental.CsvDataset(str(p), [tf.string, [-1], [0.0], [""]], header=True)
    assert ds.element_spec == (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int32),
                               tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.string))
    got = np_list(ds)
    assert len(got) == len(rows)
    for g, r in zip(got, rows):
        assert g[0] == r[0].encode()
        assert g[1] == (int(r[1]) if r[1] else -1) and g[1].dtype == np.int32
        assert g[2] == np.float32(float(r[2]) if r[2] else 0.0)
        assert g[3] == r[3].encode()
    sel = np_list(tf.data.experimental.CsvDataset(str(p), [[0.0], ["?"]], header=True,
                                                  select_cols=[2, 3], na_value="plain"))
    assert [s[1] for s in sel] == [b"hello, world", b'say "hi"', b"?", b"two\nlines"]


def test_csv_dataset_errors(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("1,2\n3,\n")
    with pytest.raises(InvalidArgumentError, match="Field 1 is required but missing in "
                                                   "record 1"):
        np_list(tf.data.experimental.CsvDataset(str(p), [tf.int32, tf.int32]))
    p.write_text("1,x\n")
    with pytest.raises(InvalidArgumentError, match="Field 1 in record 0 is not a valid "
                                                   "int64: x"):
        np_list(tf.data.experimental.CsvDataset(str(p), [tf.int32, tf.int64]))
    p.write_text("1,2,3\n")
    with pytest.raises(InvalidArgumentError, match="Expect 2 fields but have 3"):
        np_list(tf.data.experimental.CsvDataset(str(p), [tf.int32, tf.int32]))
    p.write_text('1,"a"b\n')
    with pytest.raises(InvalidArgumentError, match="Quote inside a string"):
        np_list(tf.data.experimental.CsvDataset(str(p), [tf.int32, tf.string]))


def test_make_csv_dataset_inference_and_label(tmp_path):
    text = "x,y,word,big,label\n" + "".join(
        f"{i},{i * 0.5},w{i},{2 ** 40 if i == 3 else i},{i % 2}\n" for i in range(10))
    text = text.replace("4,2.0,w4", "4,,w4")  # a missing value: filled with 0
    p = tmp_path / "m.csv"
    p.write_text(text)
    ds = tf.data.experimental.make_csv_dataset(str(p), batch_size=4, label_name="label",
                                               num_epochs=1, shuffle=False)
    batches = np_list(ds)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    feats, label = batches[0]
    assert list(feats) == ["x", "y", "word", "big"]
    assert feats["x"].dtype == np.int32 and feats["y"].dtype == np.float32
    assert feats["word"].dtype == object and feats["big"].dtype == np.int64
    assert label.dtype == np.int32
    _, rows = reference_rows(text)
    all_x = np.concatenate([b[0]["x"] for b in batches])
    np.testing.assert_array_equal(all_x, [int(r[0]) for r in rows])
    all_y = np.concatenate([b[0]["y"] for b in batches])
    np.testing.assert_array_equal(all_y, [np.float32(r[1] or 0) for r in rows])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]),
                                  [int(r[4]) for r in rows])
    # num_epochs=None repeats forever and drops the short batch; shuffle keeps the rows
    ds = tf.data.experimental.make_csv_dataset(str(p), batch_size=3, select_columns=["x",
                                                                                    "word"],
                                               shuffle_seed=5)
    seen = [b["x"] for b in ds.take(10).as_numpy_iterator()]
    assert all(len(s) == 3 for s in seen)
    assert set(np.concatenate(seen).tolist()) <= set(range(10))
    assert list(next(iter(ds.as_numpy_iterator()))) == ["x", "word"]
    with pytest.raises(ValueError, match="`label_name` provided must be one of the columns"):
        tf.data.experimental.make_csv_dataset(str(p), 2, label_name="nope")


def test_make_csv_dataset_iris():
    root = os.environ.get("NABI_DATASETS")
    path = os.path.join(root or "", "iris", "iris_training.csv")
    if not root or not os.path.exists(path):
        pytest.skip("NABI_DATASETS/iris/iris_training.csv not found")
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    want = np.array([[float(v) for v in r[:4]] for r in rows], np.float32)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    ds = tf.data.experimental.make_csv_dataset(path, 32, column_names=names,
                                               label_name="species", num_epochs=1,
                                               shuffle=False)
    feats = np_list(ds)
    got = np.concatenate([np.stack([b[0][n] for n in names[:4]], 1) for b in feats])
    np.testing.assert_array_equal(got, want)
    labels = np.concatenate([b[1] for b in feats])
    np.testing.assert_array_equal(labels, [int(r[4]) for r in rows])
    batch = next(iter(tf.data.experimental.make_csv_dataset(path, 32, column_names=names,
                                                            label_name="species")))
    assert tuple(batch[0]["petal_length"].shape) == (32,)


# ---------------------------------------------------------------------- transformations
def test_interleave_tf_docs_example():
    ds = tf.data.Dataset.range(1, 6).interleave(
        lambda x: tf.data.Dataset.from_tensors(x).repeat(6), cycle_length=2, block_length=4)
    assert np_list(ds) == [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                           3, 3, 4, 4, 5, 5, 5, 5, 5, 5]


def test_interleave_files(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text("".join(f"{i}-{k}\n" for k in range(2)))
    files = tf.data.Dataset.list_files(str(tmp_path / "*.txt"), shuffle=False)
    got = np_list(files.interleave(tf.data.TextLineDataset, cycle_length=3))
    assert got == [b"0-0", b"1-0", b"2-0", b"0-1", b"1-1", b"2-1"]


def test_window():
    wins = [np_list(w) for w in tf.data.Dataset.range(7).window(3, shift=2)]
    assert wins == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6]]
    ds = tf.data.Dataset.range(10).window(3, shift=4, stride=2, drop_remainder=True)
    got = np_list(ds.flat_map(lambda w: w.batch(3)))
    np.testing.assert_array_equal(got, [[0, 2, 4], [4, 6, 8]])
    assert int(ds.cardinality()) == 2
    pairs = tf.data.Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 10)).window(2)
    got = np_list(pairs.flat_map(lambda x, y: tf.data.Dataset.zip((x, y)).batch(2)))
    assert [(a.tolist(), b.tolist()) for a, b in got] == \
        [([0, 1], [0, 10]), ([2, 3], [20, 30]), ([4], [40])]


def test_scan_unique():
    ds = tf.data.Dataset.range(6).scan(np.int64(0), lambda s, x: (s + x, s))
    assert np_list(ds) == list(np.concatenate([[0], np.cumsum(np.arange(5))]))
    u = tf.data.Dataset.from_tensor_slices(np.array([3, 1, 3, 2, 1], np.int32)).unique()
    assert np_list(u) == [3, 1, 2]
    s = tf.data.Dataset.from_tensor_slices(["b", "a", "b"]).apply(tf.data.experimental.unique())
    assert np_list(s) == [b"b", b"a"]
    with pytest.raises(TypeError, match="int32, int64 or string"):
        np_list(tf.data.Dataset.from_tensor_slices(np.ones(3, np.float32)).unique())


def test_group_by_window():
    ds = tf.data.Dataset.range(10).group_by_window(
        key_func=lambda x: x % 2, reduce_func=lambda k, w: w.batch(3), window_size=3)
    got = [b.tolist() for b in np_list(ds)]
    assert got == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    with pytest.raises(ValueError, match="window_size"):
        tf.data.Dataset.range(3).group_by_window(lambda x: x, lambda k, w: w)


def test_bucket_by_sequence_length():
    seqs = [[1], [2, 2], [3, 3, 3, 3, 3], [4], [5, 5, 5, 5, 5, 5], [6, 6]]

    def gen():
        yield from (np.array(s, np.int64) for s in seqs)
    ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([None], tf.int64))
    out = ds.bucket_by_sequence_length(lambda x: tf.shape(x)[0], bucket_boundaries=[3],
                                       bucket_batch_sizes=[2, 2])
    got = [b.tolist() for b in np_list(out)]
    # a bucket's batch comes out as soon as it is full; what is left, at the end
    assert got == [[[1, 0], [2, 2]], [[3, 3, 3, 3, 3, 0], [5, 5, 5, 5, 5, 5]],
                   [[4, 0], [6, 6]]]
    out = ds.apply(tf.data.experimental.bucket_by_sequence_length(
        lambda x: tf.shape(x)[0], [3, 7], [2, 2, 2], pad_to_bucket_boundary=True))
    shapes = [b.shape for b in np_list(out)]
    assert shapes == [(2, 2), (2, 6), (2, 2)]
