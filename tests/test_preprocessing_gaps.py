"""Keras preprocessing features nabi lacked: keras.layers.HashedCrossing, FeatureSpace crosses,
output_mode="tf_idf" in StringLookup / IntegerLookup, and ImageDataGenerator ZCA whitening.

References are written here, independently of nabi: the documented outputs of the Keras/TF
docstrings (quoted at each test), TF's FingerprintCat64 transcribed from
tensorflow/core/platform/fingerprint.h on Python ints, FarmHash Fingerprint64 known answers,
tf-idf from Python counters, and ZCA from an eigendecomposition of the covariance."""
import math
import warnings

import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.keras import layers
from nabi.keras.preprocessing.image import ImageDataGenerator
from nabi.keras.utils import FeatureSpace

from helpers import assert_array

# ============================================================================ hash reference

_M64 = (1 << 64) - 1
_CROSS_KEY = 0xDECAFCAFFE   # tf.sparse.cross_hashed's default hash_key (_DEFAULT_HASH_KEY)

# FarmHash Fingerprint64 known answers (farmhash's published values, the same table as
# tests/test_ragged_sparse.py checks nabi.ops.farmhash against).
_FP64 = {"Hello": 15404698994557526151, "World": 18308117990299812472,
         "a": 0xb3454265b6df75e3, "hi": 0x6a5d2fba44f012f8,
         "hello world": 0x588fb7478bd6b01b}


def _shift_mix(v):
    return v ^ (v >> 47)


def _cat64(fp1, fp2):
    """FingerprintCat64 of tensorflow/core/platform/fingerprint.h, on Python ints."""
    k = 0xc6a4a7935bd1e995
    r = fp1 ^ k
    r ^= (_shift_mix((fp2 * k) & _M64) * k) & _M64
    r = (r * k) & _M64
    r = (_shift_mix(r) * k) & _M64
    return _shift_mix(r)


def _feature_hash(v):
    """A crossed value's uint64 in TF's HashCrosser: Fingerprint64 of a string, the int64
    bits of an integer."""
    if isinstance(v, str):
        return _FP64[v]
    return int(v) & _M64


def _cross_ref(columns, num_bins):
    """Bins of tf.sparse.cross_hashed for dense columns of scalars (one value per row)."""
    out = []
    for row in zip(*columns):
        h = _CROSS_KEY
        for v in row:
            h = _cat64(h, _feature_hash(v))
        out.append(h % num_bins)
    return np.array(out, np.int64)


# ============================================================================ HashedCrossing

# The examples of the HashedCrossing docstring (keras.io/api/layers/preprocessing_layers/
# categorical/hashed_crossing, tensorflow.org/api_docs/python/tf/keras/layers/HashedCrossing):
# feat1 = ['A', 'B', 'A', 'B', 'A'], feat2 = [101, 101, 101, 102, 102], num_bins=5.
DOC_FEAT1 = np.array(["A", "B", "A", "B", "A"])
DOC_FEAT2 = np.array([101, 101, 101, 102, 102])
DOC_BINS = [1, 4, 1, 1, 3]


def test_hashed_crossing_documented_int_output(where):
    with nabi.device(where):
        out = layers.HashedCrossing(num_bins=5)((DOC_FEAT1, DOC_FEAT2))
    assert_array(out, DOC_BINS, dtype="int64")


def test_hashed_crossing_documented_one_hot_output():
    out = layers.HashedCrossing(num_bins=5, output_mode="one_hot")((DOC_FEAT1, DOC_FEAT2))
    assert_array(out, np.eye(5, dtype=np.float32)[DOC_BINS], dtype="float32")


@pytest.mark.parametrize("num_bins", [1, 2, 7, 1000, 2 ** 40])
def test_hashed_crossing_integers_against_reference(where, num_bins):
    """Integer crosses (negative and large values included; three inputs, as Keras 3
    allows) against the FingerprintCat64 reference."""
    rng = np.random.default_rng(num_bins % 97)
    a = rng.integers(-2 ** 62, 2 ** 62, 11, dtype=np.int64)
    a[:3] = [-1, 0, 2 ** 63 - 1]
    b = rng.integers(-5, 5, 11).astype(np.int32)
    c = rng.integers(0, 3, 11, dtype=np.int64)
    with nabi.device(where):
        two = layers.HashedCrossing(num_bins)([nabi.constant(a), nabi.constant(b)])
        three = layers.HashedCrossing(num_bins)([a, b, c])
    assert_array(two, _cross_ref([a, b], num_bins), dtype="int64")
    assert_array(three, _cross_ref([a, b, c], num_bins), dtype="int64")


def test_hashed_crossing_strings_and_mixed_against_reference():
    words = ["Hello", "World", "a", "hi", "hello world", "a"]
    ints = [3, -7, 0, 3, 12, 99]
    got = layers.HashedCrossing(64)((np.array(words), np.array(words[::-1])))
    assert_array(got, _cross_ref([words, words[::-1]], 64))
    got = layers.HashedCrossing(1 << 20)([nabi.constant(words), np.array(ints)])
    assert_array(got, _cross_ref([words, ints], 1 << 20))
    # the order of the inputs matters (FingerprintCat64 is not commutative)
    got = layers.HashedCrossing(1 << 20)([np.array(ints), np.array(words)])
    assert_array(got, _cross_ref([ints, words], 1 << 20))
    # bytes and str give the same bins
    got_b = layers.HashedCrossing(64)((np.array([w.encode() for w in words]), np.array(ints)))
    assert_array(got_b, _cross_ref([words, ints], 64))


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_hashed_crossing_shapes_and_dtypes(mode):
    nb = 9
    a = np.array([4, 5, 6, 4])
    b = np.array(["hi", "a", "a", "hi"])
    ref = _cross_ref([a, b], nb)
    layer = layers.HashedCrossing(nb, output_mode=mode)
    cases = [((a, b), ref), ((a[:, None], b[:, None]), ref[:, None]),
             ((a[0], b[0]), ref[0]), (([4, 5, 6, 4], ["hi", "a", "a", "hi"]), ref)]
    for inputs, want in cases:
        out = layer(inputs)
        if mode == "int":
            assert_array(out, want, dtype="int64")
        else:   # (batch, 1) and (batch,) give (batch, num_bins); a scalar (1, num_bins),
            # as in Keras 3.15
            want_oh = np.eye(nb, dtype=np.float32)[np.asarray(want).reshape(-1)]
            assert_array(out, want_oh, dtype="float32")
        assert tuple(layer.compute_output_shape([np.shape(inputs[0])] * 2)) == \
            tuple(out.shape)
    out = layers.HashedCrossing(nb, dtype="int32")((a, b))
    assert_array(out, ref, dtype="int32")


def test_hashed_crossing_config_round_trip_and_functional_model(where):
    layer = layers.HashedCrossing(num_bins=13, output_mode="one_hot", name="cross")
    cfg = layer.get_config()
    assert (cfg["num_bins"], cfg["output_mode"], cfg["sparse"], cfg["name"]) == \
        (13, "one_hot", False, "cross")
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is layers.HashedCrossing and again.get_config() == cfg
    a_in = keras.Input(shape=(1,), dtype="string", name="a")
    b_in = keras.Input(shape=(1,), dtype="int64", name="b")
    out = layers.HashedCrossing(13, output_mode="one_hot", name="hc")([a_in, b_in])
    assert tuple(out.shape) == (None, 13)
    model = keras.Model([a_in, b_in], out)
    words = np.array([["Hello"], ["a"], ["hi"]])
    ints = np.array([[1], [2], [3]], np.int64)
    with nabi.device(where):
        got = model.predict([words, ints], verbose=0)
    assert_array(got, np.eye(13)[_cross_ref([words[:, 0], ints[:, 0]], 13)])
    rebuilt = keras.Model.from_config(model.get_config())
    assert_array(rebuilt.predict([words, ints], verbose=0), got)


def test_hashed_crossing_errors_name_the_layer_and_shapes():
    layer = layers.HashedCrossing(4, name="hx")
    with pytest.raises(ValueError, match=r"\[hx\].*list or tuple"):
        layer(nabi.constant([1, 2]))
    with pytest.raises(ValueError, match=r"\[hx\].*at least two"):
        layer([np.array([1, 2])])
    with pytest.raises(ValueError, match=r"\[hx\].*equal shape.*\(2,\).*\(3,\)"):
        layer([np.array([1, 2]), np.array([1, 2, 3])])
    with pytest.raises(ValueError, match=r"\[hx\].*\(batch_size, 1\).*\(2, 2\)"):
        layer([np.ones((2, 2), np.int64), np.ones((2, 2), np.int64)])
    with pytest.raises(ValueError, match=r"\[hx\].*integer or string.*float32"):
        layer([np.array([1.5, 2.0], np.float32), np.array([1, 2])])
    with pytest.raises(ValueError, match="output_mode"):
        layers.HashedCrossing(4, output_mode="multi_hot")
    with pytest.raises(ValueError, match=r"HashedCrossing.*num_bins"):
        layers.HashedCrossing(0)
    with pytest.raises(ValueError, match="sparse"):
        layers.HashedCrossing(4, output_mode="one_hot", sparse=True)


# ============================================================================ tf_idf lookups

# The tf_idf examples of the StringLookup / IntegerLookup docstrings (keras.io/api/layers/
# preprocessing_layers/categorical/string_lookup and integer_lookup): vocabulary
# ["a", "b", "c", "d"] / [12, 36, 1138, 42], idf_weights [0.25, 0.75, 0.6, 0.4]; the OOV
# weight is the mean, 0.5.
DOC_IDF = [0.25, 0.75, 0.6, 0.4]
DOC_TFIDF = [[0.0, 0.25, 0.0, 0.6, 0.8], [1.0, 0.0, 0.75, 0.0, 0.4]]


def test_string_lookup_tf_idf_documented(where):
    data = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    with nabi.device(where):
        layer = layers.StringLookup(output_mode="tf_idf")
        layer.set_vocabulary(["a", "b", "c", "d"], idf_weights=DOC_IDF)
        assert_array(layer(data), DOC_TFIDF, dtype="float32")
        by_init = layers.StringLookup(output_mode="tf_idf", vocabulary=["a", "b", "c", "d"],
                                      idf_weights=np.array(DOC_IDF))
        assert_array(by_init(nabi.constant(data)), DOC_TFIDF, dtype="float32")
        # the docstring's second example: the whole vocabulary, the OOV weight (0.9) included
        full = layers.StringLookup(output_mode="tf-idf")
        full.set_vocabulary(["[UNK]", "a", "b", "c", "d"],
                            idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
        assert_array(full(data), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]])


def test_integer_lookup_tf_idf_documented(where):
    data = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    with nabi.device(where):
        layer = layers.IntegerLookup(output_mode="tf_idf", vocabulary=[12, 36, 1138, 42],
                                     idf_weights=DOC_IDF)
        assert_array(layer(data), DOC_TFIDF, dtype="float32")
        assert_array(layer(data[0]), DOC_TFIDF[0], dtype="float32")   # a 1-D input: one row


def _tf_idf_reference(train_docs, docs, num_oov=1, max_tokens=None):
    """Keras's adapt: vocabulary by count (descending, ties by token descending), idf =
    log(1 + documents / (1 + documents with the token)), the OOV weights their mean; the
    output counts each index in a row and weights it."""
    counts, dfs = {}, {}
    for d in train_docs:
        for t in d:
            counts[t] = counts.get(t, 0) + 1
        for t in set(d):
            dfs[t] = dfs.get(t, 0) + 1
    vocab = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
    if max_tokens:
        vocab = vocab[:max_tokens - num_oov]
    idf = [math.log(1 + len(train_docs) / (1 + dfs[t])) for t in vocab]
    weights = [float(np.mean(idf))] * num_oov + idf
    index = {t: i + num_oov for i, t in enumerate(vocab)}
    out = np.zeros((len(docs), num_oov + len(vocab)))
    for r, d in enumerate(docs):
        for t in d:
            out[r, index.get(t, 0)] += 1
    return vocab, out * np.array(weights)


def test_string_lookup_tf_idf_adapt_against_reference(where):
    rng = np.random.default_rng(3)
    words = np.array(["ant", "bee", "cat", "dog", "eel", "fox", "gnu"])
    train = words[rng.integers(0, 7, (40, 5)) % (rng.integers(1, 8, (40, 1)))]
    test = np.concatenate([words[rng.integers(0, 7, (6, 5))],
                           [["yak", "ant", "yak", "zebu", "bee"]]])
    vocab, want = _tf_idf_reference(train.tolist(), test.tolist())
    with nabi.device(where):
        layer = layers.StringLookup(output_mode="tf_idf")
        layer.adapt(nabi.data.Dataset.from_tensor_slices(train).batch(7))
        assert layer.get_vocabulary() == ["[UNK]"] + vocab
        assert_array(layer(test), want, dtype="float32")
        # an array adapts in batches of 32 rows, with the same documents
        again = layers.StringLookup(output_mode="tf_idf")
        again.adapt(train)
        assert_array(again(test), want)


def test_integer_lookup_tf_idf_adapt_max_tokens_and_two_oov_indices():
    rng = np.random.default_rng(5)
    train = rng.integers(0, 9, (30, 4)) * 11
    test = np.array([[0, 11, 22, 500], [500, 501, 33, 0]])
    vocab, want = _tf_idf_reference(train.tolist(), test.tolist(), num_oov=2, max_tokens=7)
    layer = layers.IntegerLookup(output_mode="tf_idf", num_oov_indices=2, max_tokens=7)
    layer.adapt(train)
    assert layer.get_vocabulary()[2:] == vocab
    # with two OOV indices an OOV integer goes to index floormod(value, 2) (Keras)
    got = layer(test).numpy()
    oov_w = want[0, 0] if want[0, 0] else want[1, 0]
    want_cols = want[:, 2:]
    assert_array(got[:, 2:], want_cols)
    oov_counts = np.zeros((2, 2))
    for r, row in enumerate(test):
        for v in row:
            if v not in vocab:
                oov_counts[r, v % 2] += 1
    assert_array(got[:, :2], oov_counts * oov_w)


def test_tf_idf_one_dimensional_batches_are_one_document():
    """Keras 3.15 (index_lookup.update_state): a 1-D batch of a Dataset is one document, so 40
    scalars batched by 32 make two documents; a 1-D array is one document per element (see
    test_preprocessing_vs_keras_semantics.py)."""
    tokens = np.array(["x"] * 30 + ["y"] * 2 + ["y"] * 4 + ["z"] * 4)
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.adapt(nabi.data.Dataset.from_tensor_slices(tokens).batch(32))
    # documents: first 32 tokens {x, y}, last 8 {y, z}; idf = log(1 + 2 / (1 + df))
    w = {"x": math.log(1 + 2 / 2), "y": math.log(1 + 2 / 3), "z": math.log(1 + 2 / 2)}
    assert layer.get_vocabulary() == ["[UNK]", "x", "y", "z"]
    mean = np.mean([w["x"], w["y"], w["z"]])
    assert_array(layer(["y", "y", "q"]), [mean, 0, 2 * w["y"], 0])


def test_tf_idf_pad_to_max_tokens_and_mask_token():
    layer = layers.StringLookup(output_mode="tf_idf", max_tokens=8, pad_to_max_tokens=True,
                                mask_token="", vocabulary=["a", "b"], idf_weights=[1.0, 3.0])
    # no mask index outside 'int' mode: index 0 is the OOV one (weight 2 = mean); the mask
    # token is dropped; indices past the vocabulary weigh 0
    out = layer([["a", "", "b", "b", "q"]])
    assert_array(out, [[2.0, 1.0, 6.0, 0, 0, 0, 0, 0]], dtype="float32")
    assert tuple(layer.compute_output_shape((None, 5))) == (None, 8)


def test_tf_idf_config_round_trip_and_saving(tmp_path, where):
    rng = np.random.default_rng(9)
    train = rng.choice(["p", "q", "r", "s"], (20, 3))
    layer = layers.StringLookup(output_mode="tf_idf", name="tfidf")
    layer.adapt(train)
    cfg = layer.get_config()
    assert cfg["output_mode"] == "tf_idf" and len(cfg["idf_weights"]) == len(cfg["vocabulary"])
    again = layers.deserialize(layers.serialize(layer))
    docs = [["p", "q", "q"], ["s", "zz", "r"]]
    assert_array(again(docs), layer(docs))
    given = layers.IntegerLookup(output_mode="tf_idf", vocabulary=[12, 36, 1138, 42],
                                 idf_weights=DOC_IDF)
    assert_array(layers.IntegerLookup.from_config(given.get_config())(
        np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])), DOC_TFIDF)
    with nabi.device(where):
        inp = keras.Input(shape=(3,), dtype="string")
        model = keras.Model(inp, layers.Dense(2, kernel_initializer="ones")(layer(inp)))
        path = str(tmp_path / "tfidf.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        want = layer(docs).numpy().sum(axis=1, keepdims=True).repeat(2, axis=1)
        assert_array(model.predict(np.array(docs), verbose=0), want)
        assert_array(loaded.predict(np.array(docs), verbose=0), want)


def test_tf_idf_errors():
    with pytest.raises(ValueError, match=r"\[lk\].*idf_weights.*must be set"):
        layers.StringLookup(output_mode="tf_idf", vocabulary=["a"], name="lk")
    layer = layers.StringLookup(output_mode="tf_idf", name="lk2")
    with pytest.raises(ValueError, match=r"\[lk2\].*same length.*2.*3"):
        layer.set_vocabulary(["a", "b", "c"], idf_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[lk2\].*1-D.*\(2, 2\)"):
        layer.set_vocabulary(["a", "b"], idf_weights=[[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"\[lk2\].*does not support loading a vocabulary"):
        layer.set_vocabulary("/nonexistent/vocab.txt", idf_weights=[1.0])
    with pytest.raises(ValueError, match="should only be set if"):
        layers.IntegerLookup(vocabulary=[1, 2], idf_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"idf_weights.*needs a `vocabulary`"):
        layers.IntegerLookup(output_mode="tf_idf", idf_weights=[1.0, 2.0])
    with pytest.raises(RuntimeError, match="vocabulary"):
        layers.StringLookup(output_mode="tf_idf")(["a"])


# ============================================================================ FeatureSpace


def _heart_like(n, seed):
    rng = np.random.default_rng(seed)
    return {"sex": rng.integers(0, 2, n).astype(np.int64),
            "ca": rng.integers(0, 4, n).astype(np.int64),
            "thal": rng.choice(["normal", "fixed", "reversible"], n),
            "age": rng.uniform(29, 77, n).astype(np.float32)}


def _lookup_index(layer, values):
    vocab = layer.get_vocabulary()
    return np.array([vocab.index(v) for v in np.asarray(values).tolist()], np.int64)


def test_feature_space_crosses_concat_against_reference(where):
    """The Keras 3 structured-data example's space: crosses hash the preprocessed features
    (lookup indices, Discretization bins) and come after the features, in sorted order."""
    cols = _heart_like(96, 0)
    ds = nabi.data.Dataset.from_tensor_slices(cols).batch(32)
    fs = FeatureSpace(
        features={"sex": FeatureSpace.integer_categorical(num_oov_indices=0),
                  "ca": FeatureSpace.integer_categorical(num_oov_indices=0),
                  "thal": FeatureSpace.string_categorical(num_oov_indices=0),
                  "age": FeatureSpace.float_discretized(num_bins=5)},
        crosses=[FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64),
                 FeatureSpace.cross(feature_names=("thal", "ca"), crossing_dim=16)],
        output_mode="concat")
    assert [c.name for c in fs.crosses] == ["sex_X_age", "thal_X_ca"]
    fs.adapt(ds)
    pre = fs.preprocessors
    bounds = np.asarray(pre["age"].bin_boundaries)
    idx = {"sex": _lookup_index(pre["sex"], cols["sex"]),
           "ca": _lookup_index(pre["ca"], cols["ca"]),
           "thal": _lookup_index(pre["thal"], cols["thal"]),
           "age": np.digitize(cols["age"], bounds)}
    width = {"sex": 2, "ca": 4, "thal": 3, "age": 5}
    parts = [np.eye(width[n])[idx[n]] for n in sorted(width)]
    parts.append(np.eye(64)[_cross_ref([idx["sex"], idx["age"]], 64)])
    parts.append(np.eye(16)[_cross_ref([idx["thal"], idx["ca"]], 16)])
    want = np.concatenate(parts, axis=1)
    with nabi.device(where):
        got = fs({k: nabi.constant(v) for k, v in cols.items()})
    assert_array(got, want, dtype="float32")
    # one sample of scalars
    one = fs({k: v[5] for k, v in cols.items()})
    assert_array(one, want[5])
    # the symbolic pipeline gives the same encoding
    enc = fs.get_encoded_features()
    assert tuple(enc.shape) == (None, want.shape[1])
    model = keras.Model(inputs=fs.get_inputs(), outputs=enc)
    with nabi.device(where):
        pred = model.predict({k: v[:, None] for k, v in cols.items()}, verbose=0)
    assert_array(pred, want)


def test_feature_space_cross_tuples_dict_and_int_mode():
    cols = _heart_like(40, 1)
    ds = nabi.data.Dataset.from_tensor_slices(cols).batch(16)
    fs = FeatureSpace(features={"sex": "integer_categorical", "thal": "string_categorical"},
                      crosses=[("thal", "sex")], crossing_dim=8, output_mode="dict")
    fs.adapt(ds.map(lambda x: {"sex": x["sex"], "thal": x["thal"]}))
    d = fs({"sex": cols["sex"], "thal": cols["thal"]})
    assert list(d) == ["sex", "thal", "thal_X_sex"]
    assert {k: tuple(v.shape) for k, v in d.items()} == {
        "sex": (40, 3), "thal": (40, 4), "thal_X_sex": (40, 8)}
    idx_s = _lookup_index(fs.preprocessors["sex"], cols["sex"])
    idx_t = _lookup_index(fs.preprocessors["thal"], cols["thal"])
    assert_array(d["thal_X_sex"], np.eye(8)[_cross_ref([idx_t, idx_s], 8)])

    fs_int = FeatureSpace(
        features={"sex": "integer_categorical", "thal": "string_categorical"},
        crosses=[FeatureSpace.cross(("sex", "thal"), crossing_dim=1000, output_mode="int")],
        output_mode="dict")
    fs_int.adapt(ds.map(lambda x: {"sex": x["sex"], "thal": x["thal"]}))
    d = fs_int({"sex": cols["sex"], "thal": cols["thal"]})
    assert_array(d["sex_X_thal"], _cross_ref([idx_s, idx_t], 1000)[:, None], dtype="int64")


def test_feature_space_crosses_config_round_trip():
    cols = _heart_like(48, 2)
    ds = nabi.data.Dataset.from_tensor_slices(cols).batch(16)
    fs = FeatureSpace(
        features={"sex": FeatureSpace.integer_categorical(num_oov_indices=0),
                  "thal": FeatureSpace.string_categorical(),
                  "age": FeatureSpace.float_discretized(num_bins=4)},
        crosses=[FeatureSpace.cross(("sex", "age"), crossing_dim=32)], output_mode="concat")
    fs.adapt(ds.map(lambda x: {k: x[k] for k in ("sex", "thal", "age")}))
    cfg = fs.get_config()
    assert cfg["crosses"] == [{"feature_names": ["sex", "age"], "crossing_dim": 32,
                               "output_mode": "one_hot"}]
    again = FeatureSpace.from_config(cfg)
    assert [c.name for c in again.crosses] == ["sex_X_age"]
    x = {k: cols[k] for k in ("sex", "thal", "age")}
    assert_array(again(x), fs(x))
    assert again.get_config()["crosses"] == cfg["crosses"]


def test_feature_space_cross_errors():
    with pytest.raises(ValueError, match=r"FeatureSpace.*unknown features \['nope'\]"):
        FeatureSpace(features={"a": "integer_categorical"},
                     crosses=[FeatureSpace.cross(("a", "nope"), crossing_dim=4)])
    with pytest.raises(ValueError, match="crossing_dim"):
        FeatureSpace(features={"a": "integer_categorical", "b": "integer_categorical"},
                     crosses=[("a", "b")], crossing_dim=None)
    with pytest.raises(ValueError, match=r"FeatureSpace.cross.*output_mode"):
        FeatureSpace.cross(("a", "b"), crossing_dim=4, output_mode="float")
    with pytest.raises(ValueError, match=r"FeatureSpace.cross.*at least two"):
        FeatureSpace.cross(("a",), crossing_dim=4)
    # a cross of a float feature: its HashedCrossing (named after the cross) refuses it
    fs = FeatureSpace(features={"a": "integer_categorical", "b": "float_normalized"},
                      crosses=[("a", "b")], crossing_dim=4)
    ds = nabi.data.Dataset.from_tensor_slices(
        {"a": np.arange(8, dtype=np.int64), "b": np.linspace(0, 1, 8).astype(np.float32)})
    with pytest.raises(ValueError, match=r"\[a_X_b\].*integer or string.*float32"):
        fs.adapt(ds.batch(4))


# ============================================================================ ZCA whitening


def _zca_reference(x, eps):
    """Keras 2.15's ZCA matrix (image.py fit: x -= per-channel mean, then with X^T = U S V^T,
    W = U diag(sqrt(n) / (S + eps)) U^T), computed instead from the eigendecomposition of
    Sigma = X^T X / n: S = sqrt(n * lambda), so the weights are 1 / (sqrt(lambda) +
    eps / sqrt(n)). Valid for full-rank data (n >= d)."""
    x = x.astype(np.float64)
    n = x.shape[0]
    xc = x - x.mean(axis=(0, 1, 2), keepdims=True)
    flat = xc.reshape(n, -1)
    lam, v = np.linalg.eigh(flat.T @ flat / n)
    w = v @ np.diag(1.0 / (np.sqrt(np.maximum(lam, 0)) + eps / math.sqrt(n))) @ v.T
    return w, x.mean(axis=(0, 1, 2))


def _images(n=120, h=3, w=4, c=2, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(h * w * c, h * w * c))
    return ((rng.normal(size=(n, h * w * c)) @ mix).reshape(n, h, w, c) * 10 + 50) \
        .astype(np.float32)


def test_zca_fit_and_standardize_against_reference():
    x = _images()
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # featurewise_center given: no warning
        gen = ImageDataGenerator(featurewise_center=True, zca_whitening=True)
    gen.fit(x)
    w_ref, mean_ref = _zca_reference(x, 1e-6)
    assert gen.zca_whitening_matrix.shape == (24, 24)
    assert gen.zca_whitening_matrix.dtype == np.float32
    np.testing.assert_allclose(gen.zca_whitening_matrix, w_ref, rtol=2e-3, atol=2e-5)
    assert gen.principal_components is gen.zca_whitening_matrix
    assert_array(gen.mean.reshape(-1), mean_ref, rtol=1e-5)
    z = gen.standardize(x.copy())
    want = ((x - mean_ref).reshape(len(x), -1) @ w_ref).reshape(x.shape)
    assert_array(z, want, rtol=2e-3, atol=2e-3, dtype="float32")
    # whitened: the second moments of the whitened training images are the identity
    flat = want.reshape(len(x), -1)
    np.testing.assert_allclose(flat.T @ flat / len(x), np.eye(24), atol=1e-4)
    # one image (3-D) is standardized like a row of the batch
    assert_array(gen.standardize(x[7].copy()), want[7], rtol=2e-3, atol=2e-3)


def test_zca_epsilon_channels_first_and_flow():
    x = _images(seed=1)
    gen = ImageDataGenerator(featurewise_center=True, zca_whitening=True, zca_epsilon=0.5)
    gen.fit(x)
    w_ref, mean_ref = _zca_reference(x, 0.5)
    np.testing.assert_allclose(gen.zca_whitening_matrix, w_ref, rtol=2e-3, atol=2e-5)
    want = ((x - mean_ref).reshape(len(x), -1) @ w_ref).reshape(x.shape)
    # flow yields standardized batches
    xb, yb = next(iter(gen.flow(x, np.arange(len(x)), batch_size=len(x), shuffle=False)))
    assert_array(xb, want, rtol=2e-3, atol=2e-3)
    # channels_first: the same whitening of the same images, axes moved
    gen_cf = ImageDataGenerator(featurewise_center=True, zca_whitening=True, zca_epsilon=0.5,
                                data_format="channels_first")
    x_cf = np.moveaxis(x, -1, 1)
    gen_cf.fit(x_cf)
    assert_array(np.moveaxis(gen_cf.standardize(x_cf.copy()), 1, -1), want, rtol=2e-3,
                 atol=2e-3)


def test_zca_overrides_center_and_std_with_warnings():
    with pytest.warns(UserWarning, match="featurewise_center"):
        gen = ImageDataGenerator(zca_whitening=True)
    assert gen.featurewise_center is True
    with pytest.warns(UserWarning, match="featurewise_std_normalization"):
        gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True,
                                 zca_whitening=True)
    assert gen.featurewise_std_normalization is False


def test_zca_errors():
    gen = ImageDataGenerator(featurewise_center=True, zca_whitening=True)
    with pytest.raises(ValueError, match=r"ImageDataGenerator.*fit"):
        gen.standardize(np.zeros((2, 3, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"ImageDataGenerator.fit.*4-D.*\(3, 4, 2\)"):
        gen.fit(np.zeros((3, 4, 2), np.float32))
    gen.fit(_images(n=40))
    with pytest.raises(ValueError, match=r"ImageDataGenerator.standardize.*24 values.*\(5, 5, 2\)"):
        gen.standardize(np.zeros((2, 5, 5, 2), np.float32))
