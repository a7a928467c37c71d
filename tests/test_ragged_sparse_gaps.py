"""Ragged tensors in tf ops, several ragged dimensions, ragged / sparse tensors in tf.data,
tf.lookup tables and tf.fingerprint. Expected values are the outputs TensorFlow's
documentation prints (the Ragged tensors guide, tf.ragged.*, tf.lookup.*,
tf.data.experimental.dense_to_ragged_batch), published Fingerprint64 values (BigQuery's
FARM_FINGERPRINT, Amazon Redshift's farmFingerprint64) or NumPy / plain-Python references."""
import numpy as np
import pytest

import nabi as tf

ROWS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]


def _np_rows(rt):
    return [np.asarray(r) for r in rt.to_list()]


# ============================================================================ ragged in tf ops


def test_guide_ops_on_ragged_tensors():
    digits = tf.ragged.constant(ROWS)
    # the Ragged tensors guide's first cell and its printed output
    assert tf.add(digits, 3).to_list() == [[6, 4, 7, 4], [], [8, 12, 5], [9], []]
    m = tf.reduce_mean(digits, axis=1)
    assert m.dtype == tf.float64
    np.testing.assert_allclose(m.numpy(), [2.25, np.nan, 5.33333333, 6.0, np.nan], rtol=1e-6)
    assert tf.concat([digits, [[5, 3]]], axis=0).to_list() == \
        [[3, 1, 4, 1], [], [5, 9, 2], [6], [], [5, 3]]
    assert tf.math.square(digits).to_list() == [[9, 1, 16, 1], [], [25, 81, 4], [36], []]
    assert tf.ragged.map_flat_values(tf.math.square, digits).to_list() == \
        [[9, 1, 16, 1], [], [25, 81, 4], [36], []]
    # plain tensors still take the ordinary path
    out = tf.add(tf.constant([1, 2]), 3)
    assert isinstance(out, tf.Tensor) and out.numpy().tolist() == [4, 5]


def test_elementwise_math_matches_numpy():
    rows = [[0.5, -1.5, 2.0], [], [4.0], [3.0, -0.25]]
    rt = tf.ragged.constant(rows)
    other = tf.ragged.constant([[1.0, 2.0, 3.0], [], [0.5], [2.0, 4.0]])
    flat = np.concatenate([np.asarray(r, np.float32) for r in rows])
    oflat = np.array([1.0, 2.0, 3.0, 0.5, 2.0, 4.0], np.float32)
    cases = [(tf.multiply(rt, other), flat * oflat), (tf.subtract(rt, 1.5), flat - 1.5),
             (tf.math.maximum(rt, other), np.maximum(flat, oflat)), (tf.abs(rt), np.abs(flat)),
             (tf.exp(rt), np.exp(flat)), (tf.math.multiply(2.0, rt), 2.0 * flat),
             (rt ** 2, flat ** 2), (tf.nn.relu(rt), np.maximum(flat, 0))]
    for got, want in cases:
        assert isinstance(got, tf.RaggedTensor)
        assert got.row_lengths().numpy().tolist() == [3, 0, 1, 2]
        np.testing.assert_allclose(got.flat_values.numpy(), want, rtol=1e-6)
    less = tf.less(rt, other)
    assert less.dtype == tf.bool and less.flat_values.numpy().tolist() == (flat < oflat).tolist()
    assert tf.cast(rt, tf.int32).to_list() == [[0, -1, 2], [], [4], [3, 0]]
    # a dense (nrows, 1) operand broadcasts one value over each row, as in TF
    col = tf.constant([[10.0], [20.0], [30.0], [40.0]])
    assert tf.add(rt, col).to_list() == [[10.5, 8.5, 12.0], [], [34.0], [43.0, 39.75]]
    assert tf.add_n([rt, rt, rt]).to_list() == [[3 * v for v in r] for r in rows]


def test_reductions_axis1_match_numpy():
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal(n).astype(np.float32) for n in (3, 1, 7, 2)]
    rt = tf.RaggedTensor.from_row_lengths(np.concatenate(rows), [len(r) for r in rows])
    for fn, ref in ((tf.reduce_sum, np.sum), (tf.reduce_mean, np.mean),
                    (tf.reduce_max, np.max), (tf.math.reduce_min, np.min)):
        got = fn(rt, axis=1)
        assert got.shape == (4,)
        np.testing.assert_allclose(got.numpy(), [ref(r) for r in rows], rtol=1e-5)
    np.testing.assert_allclose(tf.reduce_sum(rt).numpy(), np.concatenate(rows).sum(), rtol=1e-5)
    b = tf.ragged.constant([[True, False], [], [True]])
    assert tf.reduce_any(b, axis=1).numpy().tolist() == [True, False, True]
    assert tf.reduce_all(b, axis=1).numpy().tolist() == [False, True, True]


def test_concat_rowwise_and_stack():
    x = tf.ragged.constant([[1, 2], [3], [4, 5, 6]])
    y = tf.ragged.constant([[7], [8, 9], []])
    xs, ys = x.to_list(), y.to_list()
    assert tf.concat([x, y], axis=1).to_list() == [a + b for a, b in zip(xs, ys)]
    assert tf.concat([x, y], axis=-1).to_list() == [a + b for a, b in zip(xs, ys)]
    assert tf.concat([x, y], axis=0).to_list() == xs + ys
    # tf.ragged.stack's documented examples
    t1 = tf.ragged.constant([[1, 2], [3, 4, 5]])
    t2 = tf.ragged.constant([[6], [7, 8, 9]])
    s0 = tf.ragged.stack([t1, t2], axis=0)
    assert s0.to_list() == [[[1, 2], [3, 4, 5]], [[6], [7, 8, 9]]]
    assert s0.shape.as_list() == [2, None, None] and s0.ragged_rank == 2
    assert tf.ragged.stack([t1, t2], axis=1).to_list() == [[[1, 2], [6]], [[3, 4, 5], [7, 8, 9]]]
    t3 = tf.constant([[1, 2, 3], [4, 5, 6]])
    t4 = tf.constant([[5], [6], [7]])
    assert tf.ragged.stack([t3, t4], axis=0).to_list() == [[[1, 2, 3], [4, 5, 6]],
                                                           [[5], [6], [7]]]
    assert tf.stack([t1, t2]).to_list() == s0.to_list()


def test_boolean_mask_range_gather_docs():
    # tf.ragged.boolean_mask's documented examples
    assert tf.ragged.boolean_mask(
        data=[[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        mask=[[True, False, True], [False, True, False], [True, True, True]]).to_list() == \
        [[1, 3], [5], [7, 8, 9]]
    rt = tf.ragged.constant([[1, 2, 3], [4], [5, 6]])
    assert tf.ragged.boolean_mask(
        rt, tf.ragged.constant([[False, True, True], [False], [True, True]])).to_list() == \
        [[2, 3], [], [5, 6]]
    assert tf.ragged.boolean_mask(rt, tf.constant([True, False, True])).to_list() == \
        [[1, 2, 3], [5, 6]]
    assert tf.boolean_mask(rt, [False, True, True]).to_list() == [[4], [5, 6]]
    # tf.ragged.range's documented examples
    assert tf.ragged.range([3, 5, 2]).to_list() == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1]]
    assert tf.ragged.range([0, 5, 8], [3, 3, 12]).to_list() == [[0, 1, 2], [], [8, 9, 10, 11]]
    assert tf.ragged.range([0, 5, 8], [3, 3, 12], 2).to_list() == [[0, 2], [], [8, 10]]
    r = tf.ragged.range([0.0, 1.0], 2.0, 0.5)
    assert r.dtype == tf.float32 and r.to_list() == [[0.0, 0.5, 1.0, 1.5], [1.0, 1.5]]
    assert tf.gather(rt, [2, 0]).to_list() == [[5, 6], [1, 2, 3]]


def test_sparse_conversions():
    # RaggedTensor.from_sparse's documented example
    st = tf.sparse.SparseTensor(indices=[[0, 0], [0, 1], [0, 2], [1, 0], [3, 0]],
                                values=[1, 2, 3, 4, 5], dense_shape=[4, 3])
    assert tf.RaggedTensor.from_sparse(st).to_list() == [[1, 2, 3], [4], [], [5]]
    rt = tf.ragged.constant([[1, 2], [], [3, 4, 5]])
    sp = rt.to_sparse()
    want_idx = [[i, j] for i, r in enumerate(rt.to_list()) for j in range(len(r))]
    assert sp.indices.numpy().tolist() == want_idx
    assert sp.values.numpy().tolist() == [1, 2, 3, 4, 5]
    assert sp.dense_shape.numpy().tolist() == [3, 3]
    np.testing.assert_array_equal(tf.sparse.to_dense(sp).numpy(), rt.to_tensor().numpy())
    assert tf.RaggedTensor.from_sparse(sp).to_list() == rt.to_list()


def test_shape_size_rank():
    rt = tf.ragged.constant(ROWS)
    s = tf.shape(rt)
    assert repr(s) == "<DynamicRaggedShape lengths=[5, (4, 0, 3, 1, 0)] num_row_partitions=1>"
    assert int(s[0]) == 5 and s.rank == 2
    with pytest.raises(ValueError, match="Index 1 is not uniform"):
        s[1]
    assert int(tf.size(rt)) == 8 and int(tf.rank(rt)) == 2
    assert rt.shape.as_list() == [5, None]


def test_several_ragged_dimensions():
    # the guide's "Multiple ragged dimensions" tensor, built three ways
    inner = tf.RaggedTensor.from_row_splits(values=[10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
                                            row_splits=[0, 3, 3, 5, 9, 10])
    rt = tf.RaggedTensor.from_row_splits(values=inner, row_splits=[0, 1, 1, 5])
    want = [[[10, 11, 12]], [], [[], [13, 14], [15, 16, 17, 18], [19]]]
    assert rt.to_list() == want
    assert rt.shape.as_list() == [3, None, None] and rt.ragged_rank == 2 and rt.ndim == 3
    rt2 = tf.RaggedTensor.from_nested_row_lengths(
        flat_values=[10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
        nested_row_lengths=([1, 0, 4], [3, 0, 2, 4, 1]))
    assert rt2.to_list() == want
    assert tf.ragged.constant(want).to_list() == want
    assert [s.numpy().tolist() for s in rt.nested_row_splits] == [[0, 1, 1, 5],
                                                                  [0, 3, 3, 5, 9, 10]]
    assert rt.flat_values.numpy().tolist() == list(range(10, 20))
    assert rt.values.to_list() == [[10, 11, 12], [], [13, 14], [15, 16, 17, 18], [19]]
    assert rt[2].to_list() == want[2] and rt[2, 2].numpy().tolist() == [15, 16, 17, 18]
    # to_tensor against a NumPy padding of the nested lists
    ref = np.zeros((3, 4, 4), np.int32)
    for i, row in enumerate(want):
        for j, r in enumerate(row):
            ref[i, j, :len(r)] = r
    np.testing.assert_array_equal(rt.to_tensor().numpy(), ref)
    assert rt.bounding_shape().numpy().tolist() == [3, 4, 4]
    assert (rt + 1).to_list() == [[[v + 1 for v in r] for r in row] for row in want]
    assert tf.reduce_sum(rt, axis=2).to_list() == [[sum(r) for r in row] for row in want]
    assert int(tf.reduce_sum(rt)) == sum(range(10, 20))
    assert repr(tf.shape(rt)) == ("<DynamicRaggedShape lengths=[3, (1, 0, 4), (3, 0, 2, 4, 1)] "
                                  "num_row_partitions=2>")


def test_ragged_op_errors():
    a = tf.ragged.constant([[1], [2, 3]])
    b = tf.ragged.constant([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"\[add\].*row lengths differ"):
        tf.add(a, b)
    with pytest.raises(ValueError, match=r"\[concat\].*same rank"):
        tf.concat([a, tf.constant([1, 2])], axis=0)
    with pytest.raises(ValueError, match=r"\[concat\].*same number of rows"):
        tf.concat([a, tf.ragged.constant([[1]])], axis=1)
    with pytest.raises(ValueError, match=r"\[multiply\].*shape \(3,\)"):
        tf.multiply(a, tf.constant([1, 2, 3]))
    with pytest.raises(ValueError, match=r"ragged.boolean_mask.*does not fit"):
        tf.ragged.boolean_mask(a, tf.constant([True, False, True]))
    with pytest.raises(ValueError, match=r"ragged.range.*deltas must not be 0"):
        tf.ragged.range([1, 2], 5, 0)
    with pytest.raises(ValueError, match=r"from_sparse.*not right-ragged"):
        tf.RaggedTensor.from_sparse(tf.sparse.SparseTensor([[0, 1]], [1], [2, 3]))


# ============================================================================ tf.data


def test_dataset_slices_and_batches_of_ragged():
    rt = tf.ragged.constant([[1, 2], [3], [4, 5, 6], []])
    ds = tf.data.Dataset.from_tensor_slices(rt)
    spec = ds.element_spec
    assert isinstance(spec, tf.RaggedTensorSpec)
    assert spec.shape.as_list() == [None] and spec.dtype == tf.int32 and spec.ragged_rank == 0
    rows = list(ds)
    assert all(isinstance(r, tf.Tensor) for r in rows)
    assert [r.numpy().tolist() for r in rows] == rt.to_list()
    batches = list(ds.batch(3))
    assert [b.to_list() for b in batches] == [[[1, 2], [3], [4, 5, 6]], [[]]]
    bspec = ds.batch(3).element_spec
    assert bspec.shape.as_list() == [None, None] and bspec.ragged_rank == 1
    assert [b.to_list() for b in ds.shuffle(4, seed=3).batch(4)][0] != []
    got = sorted(map(tuple, list(ds.shuffle(4, seed=3).batch(4))[0].to_list()))
    assert got == sorted(map(tuple, rt.to_list()))


def test_dense_to_ragged_batch_doc_and_batch_error():
    # tf.data.experimental.dense_to_ragged_batch's documented example
    ds = tf.data.Dataset.from_tensor_slices(np.arange(6)).map(lambda x: tf.range(x))
    out = ds.apply(tf.data.experimental.dense_to_ragged_batch(batch_size=2))
    assert [b.to_list() for b in out] == [[[], [0]], [[0, 1], [0, 1, 2]],
                                          [[0, 1, 2, 3], [0, 1, 2, 3, 4]]]
    assert [b.to_list() for b in ds.ragged_batch(4)] == [[[], [0], [0, 1], [0, 1, 2]],
                                                         [[0, 1, 2, 3], [0, 1, 2, 3, 4]]]
    # fully known shapes batch as dense tensors
    dense = list(tf.data.Dataset.from_tensor_slices(np.arange(6)).ragged_batch(4))
    assert isinstance(dense[0], tf.Tensor) and dense[0].numpy().tolist() == [0, 1, 2, 3]
    # TF's message for batch() of elements of different shapes
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Cannot batch tensors with different shapes in component 0\. "
                             r"First element had shape \[0\] and element 1 had shape \[1\]"):
        list(ds.batch(2))


def test_dataset_sparse_slices_and_batch():
    sp = tf.sparse.SparseTensor(indices=[[0, 0], [1, 2], [2, 3], [2, 1]][:3] + [[3, 1]],
                                values=[1.0, 2.0, 3.0, 4.0], dense_shape=[4, 4])
    ds = tf.data.Dataset.from_tensor_slices(sp)
    assert isinstance(ds.element_spec, tf.SparseTensorSpec)
    assert ds.element_spec.shape.as_list() == [4] and ds.element_spec.dtype == tf.float32
    rows = list(ds)
    dense = tf.sparse.to_dense(sp).numpy()
    for i, r in enumerate(rows):
        assert isinstance(r, tf.SparseTensor)
        np.testing.assert_array_equal(tf.sparse.to_dense(r).numpy(), dense[i])
    batches = list(ds.batch(3))
    assert isinstance(batches[0], tf.SparseTensor)
    assert batches[0].dense_shape.numpy().tolist() == [3, 4]
    np.testing.assert_array_equal(tf.sparse.to_dense(batches[0]).numpy(), dense[:3])
    np.testing.assert_array_equal(tf.sparse.to_dense(batches[1]).numpy(), dense[3:])
    assert ds.batch(3).element_spec.shape.as_list() == [None, 4]


def test_lookup_in_dataset_map_and_on_ragged():
    init = tf.lookup.KeyValueTensorInitializer(tf.constant(["a", "b", "c"]),
                                               tf.constant([1, 2, 3], dtype=tf.int64))
    table = tf.lookup.StaticHashTable(init, default_value=-1)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(["c", "x", "a"])).map(table.lookup)
    assert [int(v) for v in ds] == [3, -1, 1]
    words = tf.ragged.constant([["a", "b"], [], ["z", "c", "a"]])
    ids = table.lookup(words)
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.to_list() == [[1, 2], [], [-1, 3, 1]]
    wds = tf.data.Dataset.from_tensor_slices(words).map(table.lookup).ragged_batch(3)
    assert [b.to_list() for b in wds] == [[[1, 2], [], [-1, 3, 1]]]


# ============================================================================ tf.lookup


def test_static_hash_table_doc():
    keys_tensor = tf.constant(["a", "b", "c"])
    vals_tensor = tf.constant([7, 8, 9])
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys_tensor, vals_tensor), default_value=-1)
    out = table.lookup(tf.constant(["a", "f"]))
    assert out.dtype == tf.int32 and out.numpy().tolist() == [7, -1]
    assert table[tf.constant(["a", "f"])].numpy().tolist() == [7, -1]
    assert int(table.size()) == 3
    assert table.key_dtype == tf.string and table.value_dtype == tf.int32
    k, v = table.export()
    assert dict(zip(k.numpy().tolist(), v.numpy().tolist())) == {b"a": 7, b"b": 8, b"c": 9}
    # int64 keys to float values, a 2-D lookup keeps its shape
    t2 = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant([3, 5], dtype=tf.int64), tf.constant([0.5, 1.5])), default_value=-1.0)
    got = t2.lookup(tf.constant([[5, 3], [4, 5]], dtype=tf.int64))
    assert got.shape == (2, 2) and got.numpy().tolist() == [[1.5, 0.5], [-1.0, 1.5]]
    # string values
    t3 = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant([1, 2], dtype=tf.int64), tf.constant(["one", "two"])), default_value="?")
    assert t3.lookup(tf.constant([2, 7], dtype=tf.int64)).numpy().tolist() == [b"two", b"?"]
    with pytest.raises(TypeError, match=r"StaticHashTable.lookup.*Keys must be dtype string, "
                                        r"got int32"):
        table.lookup(tf.constant([1, 2]))


def test_static_vocabulary_table_docs(tmp_path):
    init = tf.lookup.KeyValueTensorInitializer(
        keys=tf.constant(["emerson", "lake", "palmer"]),
        values=tf.constant([0, 1, 2], dtype=tf.int64))
    table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=5)
    input_tensor = tf.constant(["emerson", "lake", "palmer", "king", "crimson"])
    assert table[input_tensor].numpy().tolist() == [0, 1, 2, 6, 7]
    assert int(table.size()) == 8
    # the TextFileInitializer example
    f = tmp_path / "vocab.txt"
    f.write_text("\n".join(["emerson", "lake", "palmer", "crimnson"]))
    init = tf.lookup.TextFileInitializer(
        str(f), key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER)
    table = tf.lookup.StaticVocabularyTable(init, 3)
    got = table.lookup(tf.constant(["palmer", "crimnson", "king", "tarkus", "black", "moon"]))
    assert got.dtype == tf.int64 and got.numpy().tolist() == [2, 3, 5, 6, 6, 4]
    with pytest.raises(ValueError, match="num_oov_buckets must be > 0"):
        tf.lookup.StaticVocabularyTable(init, 0)


def test_text_file_initializer_columns(tmp_path):
    f = tmp_path / "table.tsv"
    f.write_text("apple\t10\nbanana\t20\ncherry\t30\n")
    init = tf.lookup.TextFileInitializer(str(f), tf.string, 0, tf.int64, 1)
    table = tf.lookup.StaticHashTable(init, -1)
    assert table.lookup(tf.constant(["cherry", "apple", "kiwi"])).numpy().tolist() == \
        [30, 10, -1]
    by_number = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        str(f), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER, tf.string, 0), "")
    assert by_number.lookup(tf.constant([1, 5], dtype=tf.int64)).numpy().tolist() == \
        [b"banana", b""]
    two = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        str(f), tf.string, 0, tf.int64, 1, vocab_size=2), -1)
    assert int(two.size()) == 2
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size"):
        tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            str(f), tf.string, 0, tf.int64, 1, vocab_size=7), -1)
    with pytest.raises(ValueError, match="whole line must be a string"):
        tf.lookup.TextFileInitializer(str(f), tf.int64, tf.lookup.TextFileIndex.WHOLE_LINE,
                                      tf.int64, 1)


def test_mutable_and_dense_hash_tables():
    t = tf.lookup.experimental.MutableHashTable(key_dtype=tf.string, value_dtype=tf.int64,
                                                default_value=-1)
    t.insert(tf.constant(["a", "b", "c"]), tf.constant([1, 2, 3], dtype=tf.int64))
    t.insert(tf.constant(["b"]), tf.constant([20], dtype=tf.int64))
    assert t.lookup(tf.constant(["a", "b", "z"])).numpy().tolist() == [1, 20, -1]
    t.remove(tf.constant(["a", "nope"]))
    assert int(t.size()) == 2
    k, v = t.export()
    assert dict(zip(k.numpy().tolist(), v.numpy().tolist())) == {b"b": 20, b"c": 3}
    # vector values: default_value gives their shape
    vt = tf.lookup.experimental.MutableHashTable(tf.int64, tf.float32, [0.0, 0.0])
    vt.insert(tf.constant([7], dtype=tf.int64), tf.constant([[1.0, 2.0]]))
    assert vt.lookup(tf.constant([7, 8], dtype=tf.int64)).numpy().tolist() == \
        [[1.0, 2.0], [0.0, 0.0]]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Expected shape \[1, 2\]"):
        vt.insert(tf.constant([1], dtype=tf.int64), tf.constant([1.0]))
    d = tf.lookup.experimental.DenseHashTable(tf.int64, tf.int64, default_value=-1,
                                              empty_key=0, deleted_key=-1)
    d.insert(tf.constant([5, 6], dtype=tf.int64), tf.constant([50, 60], dtype=tf.int64))
    assert d.lookup(tf.constant([6, 9], dtype=tf.int64)).numpy().tolist() == [60, -1]
    d.erase(tf.constant([6], dtype=tf.int64))
    assert int(d.size()) == 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty_key"):
        d.insert(tf.constant([0], dtype=tf.int64), tf.constant([1], dtype=tf.int64))
    with pytest.raises(tf.errors.FailedPreconditionError, match="different value for same key"):
        tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(["a", "a"], [1, 2]), -1)


# ============================================================================ tf.fingerprint


def _le_bytes(v):
    return list(np.array([v], "<u8").view(np.uint8))


def test_fingerprint_published_values():
    # BigQuery FARM_FINGERPRINT("alphabet") = -2427165924636348523;
    # Redshift farmFingerprint64('Amazon Redshift') = 8085098817162212970
    fp = tf.fingerprint(tf.constant(["alphabet", "Amazon Redshift"]))
    assert fp.dtype == tf.uint8 and fp.shape == (2, 8)
    assert fp.numpy().tolist() == [_le_bytes(-2427165924636348523 % 2 ** 64),
                                   _le_bytes(8085098817162212970)]
    # numbers hash as their little-endian bytes: b"alphabet" as uint8 or as two int32
    raw = np.frombuffer(b"alphabet", np.uint8)
    assert tf.fingerprint(raw[None, :]).numpy().tolist() == \
        [_le_bytes(-2427165924636348523 % 2 ** 64)]
    as_i32 = np.frombuffer(b"alphabet", "<i4").reshape(1, 2)
    assert tf.fingerprint(tf.constant(as_i32)).numpy().tolist() == \
        [_le_bytes(-2427165924636348523 % 2 ** 64)]
    # a row of several strings: the fingerprint of its strings' fingerprints, in order
    two = tf.fingerprint(tf.constant([["alphabet", "Amazon Redshift"]]))
    inner = np.array(_le_bytes(-2427165924636348523 % 2 ** 64) +
                     _le_bytes(8085098817162212970), np.uint8)
    assert two.numpy().tolist() == tf.fingerprint(inner[None, :]).numpy().tolist()
    # the same data reshaped to the same rows gives the same fingerprints
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_array_equal(tf.fingerprint(x).numpy(),
                                  tf.fingerprint(x.reshape(4, 2, 3)).numpy())
    with pytest.raises(ValueError, match=r"\[fingerprint\].*at least one dimension"):
        tf.fingerprint(tf.constant(3))
    with pytest.raises(ValueError, match=r"\[fingerprint\] Unsupported fingerprint method"):
        tf.fingerprint(tf.constant([1]), method="md5")
