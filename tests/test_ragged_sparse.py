"""TF's string hashes (FarmHash Fingerprint64, SipHash-2-4, TF Hash64), tf.strings.ngrams,
tf.ragged and tf.sparse, checked against published test values, TF documentation examples,
hand-computed outputs and NumPy."""
import numpy as np
import pytest

import nabi as tf
from nabi.ops.farmhash import fingerprint64, siphash24, tf_hash64

# ============================================================================ hashes

# FarmHash Fingerprint64: TF's fingerprint_test.cc ("IsForeverFrozen") and the test table
# of the Go port github.com/leemcloughlin/gofarmhash (lengths 0..16, 17..32, and > 64).
_GO_LONG = (
    "Go is a tool for managing Go source code.Usage:\tgo command [arguments]The commands are:"
    "    build       compile packages and dependencies    clean       remove object files"
    "    env         print Go environment information    fix         run go tool fix on "
    "packages    fmt         run gofmt on package sources    generate    generate Go files by"
    " processing source    get         download and install packages and dependencies    "
    "install     compile and install packages and dependencies    list        list packages"
    "    run         compile and run Go program    test        test packages    tool        "
    "run specified go tool    version     print Go version    vet         run go tool vet on"
    " packagesUse go help [command] for more information about a command.Additional help "
    "topics:    c           calling between Go and C    filetype    file types    gopath    "
    "  GOPATH environment variable    importpath  import path syntax    packages    "
    "description of package lists    testflag    description of testing flags    testfunc  "
    "  description of testing functionsUse go help [topic] for more information about that "
    "topic.")
FP64 = [
    (b"Hello", 15404698994557526151),
    (b"World", 18308117990299812472),
    (b"", 0x9ae16a3b2f90404f),
    (b"a", 0xb3454265b6df75e3),
    (b"hi", 0x6a5d2fba44f012f8),
    (b"hello world", 0x588fb7478bd6b01b),
    (b"lee@lmmrtech.com", 0x61bec68db00fa2ff),
    (b"docklandsman@gmail.com", 0xb678cf3842309f40),
    (b"fred@example.com", 0x7fbbcd6191d8dce0),
    (_GO_LONG.encode(), 0xafe256550e4567c9),
]


@pytest.mark.parametrize("s,want", FP64, ids=[str(len(s)) for s, _ in FP64])
def test_fingerprint64_known_answers(s, want):
    assert fingerprint64(s) == want


def test_siphash24_reference_vectors():
    # the SipHash paper's vectors: key 00..0f, messages 00..(n-1)
    key = bytes(range(16))
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    assert siphash24(b"", k0, k1) == 0x726fdb47dd0e0e31
    assert siphash24(bytes(range(15)), k0, k1) == 0xa129ca6149be45e5
    assert siphash24(bytes(range(8)), k0, k1) == 0x93f5f5799a932462


def test_hash_bucket_ops_match_tf_docs():
    words = ["Hello", "TensorFlow", "2.x"]
    np.testing.assert_array_equal(tf.strings.to_hash_bucket_fast(words, 3).numpy(), [0, 2, 2])
    np.testing.assert_array_equal(tf.strings.to_hash_bucket(words, 3).numpy(), [2, 0, 1])
    np.testing.assert_array_equal(
        tf.strings.to_hash_bucket_strong(["Hello", "TF"], 3, [1, 2]).numpy(), [2, 0])
    out = tf.strings.to_hash_bucket_fast([["Hello", "World"]], 1000)
    assert out.dtype == tf.int64 and out.shape == (1, 2)
    np.testing.assert_array_equal(out.numpy(), [[15404698994557526151 % 1000,
                                                 18308117990299812472 % 1000]])
    assert tf_hash64(b"Hello") % 3 == 2


def test_hash_bucket_errors():
    with pytest.raises(ValueError, match="to_hash_bucket_fast.*num_buckets"):
        tf.strings.to_hash_bucket_fast(["a"], 0)
    with pytest.raises(TypeError, match="to_hash_bucket_fast"):
        tf.strings.to_hash_bucket_fast([1, 2], 3)
    with pytest.raises(ValueError, match="key must be a list of 2"):
        tf.strings.to_hash_bucket_strong(["a"], 3, [1])


def test_hashing_layer_integers_hash_as_decimal_strings():
    h = tf.keras.layers.Hashing(num_bins=7)
    got = h(np.array([[5], [42]], np.int64)).numpy()
    np.testing.assert_array_equal(got, [[fingerprint64(b"5") % 7], [fingerprint64(b"42") % 7]])
    # mask_value takes bin 0, others hash into 1 + h % (num_bins - 1)
    hm = tf.keras.layers.Hashing(num_bins=4, mask_value="")(np.array(["x", ""]))
    np.testing.assert_array_equal(hm.numpy(), [1 + fingerprint64(b"x") % 3, 0])


# ============================================================================ ngrams


def _ng(*a, **k):
    return tf.strings.ngrams(*a, **k).numpy().tolist()


def test_ngrams_tf_doc_examples():
    assert _ng(["A", "B", "C", "D"], 2) == [b"A B", b"B C", b"C D"]
    assert _ng(["TF", "and", "keras"], 1) == [b"TF", b"and", b"keras"]


def test_ngrams_padding_rules():
    # default padding width is ngram_width - 1 on each side
    assert _ng(["a", "b", "c"], 3, pad_values="#") == \
        [b"# # a", b"# a b", b"a b c", b"b c #", b"c # #"]
    # (left, right) pads, a fixed padding width, another separator
    assert _ng(["a", "b", "c"], 3, separator="_", pad_values=("<", ">"), padding_width=1) == \
        [b"<_a_b", b"a_b_c", b"b_c_>"]
    # padding never exceeds width - 1
    assert _ng(["a", "b"], 2, pad_values="#", padding_width=5) == [b"# a", b"a b", b"b #"]
    # a single token with fixed padding 1 and width 3
    assert _ng(["a"], 3, pad_values=("<", ">"), padding_width=1) == [b"< a >"]
    # several widths: all of width 1, then all of width 2, for each row
    assert _ng(["a", "b", "c"], [1, 2]) == [b"a", b"b", b"c", b"a b", b"b c"]


def test_ngrams_short_sequences():
    assert _ng(["a", "b"], 3) == []
    assert _ng(["a", "b"], 3, preserve_short_sequences=True) == [b"a b"]
    assert _ng(["a"], [2, 3], preserve_short_sequences=True) == [b"a"]
    assert _ng([], 2, preserve_short_sequences=True) == []
    # with fixed padding the preserved ngram is the padded sequence
    assert _ng(["a"], 4, pad_values="#", padding_width=1, preserve_short_sequences=True) == \
        [b"# a #"]


def test_ngrams_dense_and_ragged():
    out = tf.strings.ngrams([["a", "b", "c"], ["d", "e", "f"]], 2)
    assert out.shape == (2, 2)
    assert out.numpy().tolist() == [[b"a b", b"b c"], [b"d e", b"e f"]]
    rt = tf.strings.split(["a b c", "d", ""])
    got = tf.strings.ngrams(rt, 2)
    assert isinstance(got, tf.RaggedTensor)
    assert got.to_list() == [[b"a b", b"b c"], [], []]
    got = tf.strings.ngrams(rt, 2, preserve_short_sequences=True)
    assert got.to_list() == [[b"a b", b"b c"], [b"d"], []]
    got = tf.strings.ngrams(tf.ragged.constant([["x", "y"], ["z"]]), 2, pad_values="$")
    assert got.to_list() == [[b"$ x", b"x y", b"y $"], [b"$ z", b"z $"]]


def test_ngrams_errors():
    with pytest.raises(ValueError, match="ngrams.*greater than 0"):
        tf.strings.ngrams(["a"], 0)
    with pytest.raises(ValueError, match="pad_values must be provided"):
        tf.strings.ngrams(["a"], 2, padding_width=1)
    with pytest.raises(ValueError, match="padding_width must be greater than 0"):
        tf.strings.ngrams(["a"], 2, pad_values="#", padding_width=0)
    with pytest.raises(TypeError, match="pad_values must be a string"):
        tf.strings.ngrams(["a"], 2, pad_values=3)
    with pytest.raises(ValueError, match="rank > 0"):
        tf.strings.ngrams("a", 2)


# ============================================================================ ragged


def test_ragged_constant_and_properties():
    rt = tf.ragged.constant([[3, 1, 4], [1, 5], [9], [2, 6]])
    assert isinstance(rt, tf.RaggedTensor) and rt.dtype == tf.int32
    assert rt.shape.as_list() == [4, None]
    assert rt.to_list() == [[3, 1, 4], [1, 5], [9], [2, 6]]
    np.testing.assert_array_equal(rt.values.numpy(), [3, 1, 4, 1, 5, 9, 2, 6])
    np.testing.assert_array_equal(rt.flat_values.numpy(), [3, 1, 4, 1, 5, 9, 2, 6])
    np.testing.assert_array_equal(rt.row_splits.numpy(), [0, 3, 5, 6, 8])
    np.testing.assert_array_equal(rt.row_lengths().numpy(), [3, 2, 1, 2])
    np.testing.assert_array_equal(rt.value_rowids().numpy(), [0, 0, 0, 1, 1, 2, 3, 3])
    assert int(rt.nrows()) == 4 and len(rt) == 4
    np.testing.assert_array_equal(rt[1].numpy(), [1, 5])
    np.testing.assert_array_equal(rt[-1].numpy(), [2, 6])
    assert rt[1:3].to_list() == [[1, 5], [9]]
    assert int(rt[0, 2].numpy()) == 4
    assert tf.ragged.constant([[1.5], []]).dtype == tf.float32
    s = tf.ragged.constant([["a", "b"], ["c"]])
    assert s.dtype == tf.string and s.to_list() == [[b"a", b"b"], [b"c"]]
    # a uniform inner dimension (ragged_rank=1)
    r3 = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert r3.shape.as_list() == [2, None, 2]
    np.testing.assert_array_equal(r3.to_tensor().numpy(),
                                  [[[1, 2], [3, 4]], [[5, 6], [0, 0]]])
    # every level below the first is ragged, as in TF, though the second one is uniform
    r2 = tf.ragged.constant([[[1], [2, 3]], [[], [4]]])
    assert r2.shape.as_list() == [2, None, None]
    assert r2.to_list() == [[[1], [2, 3]], [[], [4]]]
    assert r2[1].to_list() == [[], [4]]


def test_ragged_factories():
    v = [3, 1, 4, 1, 5, 9, 2]
    want = [[3, 1, 4, 1], [], [5, 9, 2], [], []]
    rt = tf.RaggedTensor.from_row_splits(v, [0, 4, 4, 7, 7, 7])
    assert rt.to_list() == want
    assert tf.RaggedTensor.from_row_lengths(v, [4, 0, 3, 0, 0]).to_list() == want
    assert tf.RaggedTensor.from_value_rowids(v, [0, 0, 0, 0, 2, 2, 2], nrows=5).to_list() \
        == want
    assert tf.RaggedTensor.from_row_starts(v, [0, 4, 4, 7, 7]).to_list() == want
    assert tf.RaggedTensor.from_tensor([[1, 2, 0], [3, 0, 0]], padding=0).to_list() == \
        [[1, 2], [3]]
    assert tf.RaggedTensor.from_tensor([[1, 2, 0], [3, 0, 0]], lengths=[1, 3]).to_list() == \
        [[1], [3, 0, 0]]
    assert rt.with_flat_values(tf.constant(np.arange(7) * 10)).to_list() == \
        [[0, 10, 20, 30], [], [40, 50, 60], [], []]


def test_ragged_to_tensor():
    rt = tf.ragged.constant([[9, 8, 7], [], [6, 5], [4]])
    np.testing.assert_array_equal(rt.to_tensor().numpy(),
                                  [[9, 8, 7], [0, 0, 0], [6, 5, 0], [4, 0, 0]])
    np.testing.assert_array_equal(rt.to_tensor(default_value=-1).numpy(),
                                  [[9, 8, 7], [-1, -1, -1], [6, 5, -1], [4, -1, -1]])
    np.testing.assert_array_equal(rt.to_tensor(shape=[3, 2]).numpy(),
                                  [[9, 8], [0, 0], [6, 5]])
    np.testing.assert_array_equal(rt.to_tensor(shape=[5, None]).numpy()[4], [0, 0, 0])
    np.testing.assert_array_equal(rt.bounding_shape().numpy(), [4, 3])


def test_ragged_reductions_tf_doc_and_numpy():
    rt = tf.ragged.constant([[3, 1, 4], [1, 5], [9], [2, 6]])
    # tf.reduce_sum on a RaggedTensor (TF's ragged reduce docs)
    np.testing.assert_array_equal(tf.reduce_sum(rt, axis=0).numpy(), [15, 12, 4])
    np.testing.assert_array_equal(tf.reduce_sum(rt, axis=1).numpy(), [8, 6, 9, 8])
    assert int(tf.reduce_sum(rt).numpy()) == 31
    np.testing.assert_array_equal(tf.math.reduce_max(rt, axis=1).numpy(), [4, 5, 9, 6])
    np.testing.assert_array_equal(tf.reduce_min(rt, axis=0).numpy(), [1, 1, 4])
    np.testing.assert_array_equal(tf.reduce_prod(rt, axis=1).numpy(), [12, 5, 9, 12])
    assert tf.reduce_sum(rt, axis=1, keepdims=True).shape == (4, 1)
    rows = [[0.5, 1.5, 4.0], [], [2.0]]
    rf = tf.ragged.constant(rows)
    m = tf.reduce_mean(rf, axis=1).numpy()
    np.testing.assert_allclose(m[[0, 2]], [np.mean(rows[0]), 2.0])
    assert np.isnan(m[1])                          # an empty row's mean, as in TF
    # TF: an empty row's max is float32's lowest finite value, not -inf
    assert tf.reduce_max(rf, axis=1).numpy()[1] == np.finfo(np.float32).min
    np.testing.assert_allclose(tf.reduce_mean(rf).numpy(), np.mean([0.5, 1.5, 4.0, 2.0]))
    np.testing.assert_allclose(tf.reduce_mean(rf, axis=0).numpy(), [1.25, 1.5, 4.0])


def test_ragged_map_flat_values_and_arithmetic():
    rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
    assert tf.ragged.map_flat_values(tf.square, rt).to_list() == [[1.0, 4.0], [], [9.0]]
    assert tf.ragged.map_flat_values(tf.multiply, rt, rt).to_list() == [[1.0, 4.0], [], [9.0]]
    assert (rt * 2 + 1).to_list() == [[3.0, 5.0], [], [7.0]]
    assert (rt - rt).to_list() == [[0.0, 0.0], [], [0.0]]
    assert tf.ragged.stack([[1, 2], [3]]).to_list() == [[1, 2], [3]]
    np.testing.assert_array_equal(
        tf.ragged.row_splits_to_segment_ids([0, 2, 2, 3]).numpy(), [0, 0, 2])


def test_ragged_errors():
    with pytest.raises(ValueError, match="from_row_splits.*row_splits"):
        tf.RaggedTensor.from_row_splits([1, 2, 3], [0, 2])
    with pytest.raises(ValueError, match="from_row_lengths.*sum"):
        tf.RaggedTensor.from_row_lengths([1, 2, 3], [1, 1])
    with pytest.raises(ValueError, match="from_value_rowids.*sorted"):
        tf.RaggedTensor.from_value_rowids([1, 2], [1, 0])
    with pytest.raises(ValueError, match="ragged.constant.*varying lengths.*ragged_rank=1"):
        tf.ragged.constant([[[1], [2, 3]], [[3]]], ragged_rank=1)
    with pytest.raises(IndexError, match="out of range for 2 rows"):
        tf.ragged.constant([[1], [2]])[2]
    with pytest.raises(ValueError, match="map_flat_values.*different row lengths"):
        tf.ragged.map_flat_values(tf.add, tf.ragged.constant([[1], [2]]),
                                  tf.ragged.constant([[1, 2], []]))
    with pytest.raises(ValueError, match="row lengths differ"):
        tf.ragged.constant([[1], [2]]) + tf.ragged.constant([[1, 2], []])
    with pytest.raises(ValueError, match="reduce_sum.*axis 5 is out of range"):
        tf.reduce_sum(tf.ragged.constant([[1], [2]]), axis=5)
    with pytest.raises(TypeError, match="reduce_sum.*numeric"):
        tf.reduce_sum(tf.ragged.constant([["a"]]), axis=1)


def test_strings_ragged_is_the_same_class():
    assert tf.strings.RaggedTensor is tf.RaggedTensor is tf.ragged.RaggedTensor
    assert isinstance(tf.strings.split(["a b", "c"]), tf.ragged.RaggedTensor)


# ============================================================================ sparse


def _sp():
    return tf.sparse.SparseTensor(indices=[[0, 0], [1, 2], [2, 3]], values=[1.0, 2.0, 3.0],
                                  dense_shape=[3, 4])


def _dense():
    d = np.zeros((3, 4), np.float32)
    d[0, 0], d[1, 2], d[2, 3] = 1, 2, 3
    return d


def test_sparse_tensor_and_to_dense():
    sp = _sp()
    assert tf.SparseTensor is tf.sparse.SparseTensor
    assert sp.shape.as_list() == [3, 4] and sp.dtype == tf.float32
    np.testing.assert_array_equal(sp.indices.numpy(), [[0, 0], [1, 2], [2, 3]])
    np.testing.assert_array_equal(sp.dense_shape.numpy(), [3, 4])
    np.testing.assert_array_equal(tf.sparse.to_dense(sp).numpy(), _dense())
    want = np.where(_dense() == 0, -1, _dense())
    np.testing.assert_array_equal(tf.sparse.to_dense(sp, default_value=-1.0).numpy(), want)
    s = tf.sparse.SparseTensor([[1]], ["x"], [3])
    assert tf.sparse.to_dense(s).numpy().tolist() == [b"", b"x", b""]


def test_sparse_from_dense_reorder_reduce_add():
    d = _dense()
    sp = tf.sparse.from_dense(d)
    np.testing.assert_array_equal(sp.indices.numpy(), np.argwhere(d))
    np.testing.assert_array_equal(sp.values.numpy(), d[d != 0])
    shuffled = tf.sparse.SparseTensor([[2, 3], [0, 0], [1, 2]], [3.0, 1.0, 2.0], [3, 4])
    with pytest.raises(ValueError, match="to_dense.*out of order.*reorder"):
        tf.sparse.to_dense(shuffled)
    r = tf.sparse.reorder(shuffled)
    np.testing.assert_array_equal(r.indices.numpy(), [[0, 0], [1, 2], [2, 3]])
    np.testing.assert_array_equal(r.values.numpy(), [1.0, 2.0, 3.0])
    assert float(tf.sparse.reduce_sum(sp).numpy()) == 6.0
    np.testing.assert_array_equal(tf.sparse.reduce_sum(sp, axis=1).numpy(), d.sum(axis=1))
    np.testing.assert_array_equal(tf.sparse.reduce_sum(sp, axis=0, keepdims=True).numpy(),
                                  d.sum(axis=0, keepdims=True))
    other = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(tf.sparse.add(sp, tf.constant(other)).numpy(), d + other)
    both = tf.sparse.add(sp, tf.sparse.SparseTensor([[0, 0], [0, 1]], [5.0, 7.0], [3, 4]))
    assert isinstance(both, tf.sparse.SparseTensor)
    want = d.copy()
    want[0, 0] += 5
    want[0, 1] += 7
    np.testing.assert_array_equal(tf.sparse.to_dense(both).numpy(), want)
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.transpose(sp)).numpy(), d.T)


def test_sparse_dense_matmul_and_gradients():
    sp = _sp()
    rng = np.random.default_rng(0)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(tf.sparse.sparse_dense_matmul(sp, b).numpy(), _dense() @ b,
                               rtol=1e-6)
    bt = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        tf.sparse.sparse_dense_matmul(sp, bt, adjoint_b=True).numpy(), _dense() @ bt.T,
        rtol=1e-6)
    c = rng.standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_allclose(
        tf.sparse.sparse_dense_matmul(sp, c, adjoint_a=True).numpy(), _dense().T @ c,
        rtol=1e-6)
    # gradients w.r.t. the dense operand and the sparse values: for L = sum(G * (A @ B)),
    # dL/dB = A^T G and dL/dvalues[k] = (G @ B^T)[row_k, col_k]
    g = rng.standard_normal((3, 5)).astype(np.float32)
    w = tf.Variable(b)
    vals = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    with tf.GradientTape() as tape:
        a = tf.sparse.SparseTensor([[0, 0], [1, 2], [2, 3]], vals, [3, 4])
        loss = tf.reduce_sum(tf.sparse.sparse_dense_matmul(a, w) * g)
    gw, gv = tape.gradient(loss, [w, vals])
    np.testing.assert_allclose(gw.numpy(), _dense().T @ g, rtol=1e-5, atol=1e-6)
    full = g @ b.T
    np.testing.assert_allclose(gv.numpy(), [full[0, 0], full[1, 2], full[2, 3]], rtol=1e-5)
    # to_dense is differentiable w.r.t. the values too
    with tf.GradientTape() as tape:
        a = tf.sparse.SparseTensor([[0, 1], [2, 2]], vals[:2], [3, 3])
        loss = tf.reduce_sum(tf.sparse.to_dense(a) * np.arange(9.0, dtype=np.float32)
                             .reshape(3, 3))
    np.testing.assert_allclose(tape.gradient(loss, vals).numpy(), [1.0, 8.0, 0.0])


def test_sparse_errors():
    with pytest.raises(ValueError, match=r"SparseTensor.*indices\[1\] = \[3, 0\] is out of "
                                         r"bounds for dense_shape \[3, 4\]"):
        tf.sparse.SparseTensor([[0, 0], [3, 0]], [1.0, 2.0], [3, 4])
    with pytest.raises(ValueError, match="SparseTensor.*one value per index row"):
        tf.sparse.SparseTensor([[0, 0]], [1.0, 2.0], [3, 4])
    with pytest.raises(ValueError, match=r"SparseTensor.*indices must have shape \(N, rank=2\)"):
        tf.sparse.SparseTensor([[0, 0, 0]], [1.0], [3, 4])
    with pytest.raises(ValueError, match="sparse_dense_matmul.*inner dimensions"):
        tf.sparse.sparse_dense_matmul(_sp(), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="to_dense.*repeated"):
        tf.sparse.to_dense(tf.sparse.SparseTensor([[0, 0], [0, 0]], [1.0, 2.0], [2, 2]))
    with pytest.raises(TypeError, match="sparse.add.*SparseTensor"):
        tf.sparse.add(np.ones(2), np.ones(2))
