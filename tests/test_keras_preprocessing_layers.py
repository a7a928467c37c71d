"""Keras preprocessing layers and utilities (nabi.keras.layers.preprocessing,
nabi.keras.utils.dataset_utils / image_utils), each value against an independent NumPy
reference written here: Normalization statistics vs np.mean/np.var over the reduced axes,
lookups vs Python dicts, Resizing vs per-pixel half-pixel-centre loops, the affine layers vs a
per-pixel transcription of TF's ImageProjectiveTransform, timeseries windows vs the explicit
loops of the TF docs. Model-level tests run on the CPU, the emulated GPU and a real GPU (the
`where` fixture); saving round trips use .keras and .h5."""
import collections
import os
import random

import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.keras import layers

from helpers import assert_array

h5py = pytest.importorskip("h5py", reason="saving needs h5py (the `test` extra)")

EPS = 1e-7   # keras.backend.epsilon()


def _np(t):
    return t.numpy() if isinstance(t, nabi.Tensor) else np.asarray(t)


def _roundtrip(layer):
    """serialize -> deserialize; the rebuilt layer's config must equal the original's."""
    cfg = layers.serialize(layer)
    new = layers.deserialize(cfg)
    assert type(new) is type(layer)
    assert new.get_config() == layer.get_config()
    return new


# ============================================================================ Normalization


def _norm_ref(x, keep):
    """mean/var over every axis not kept, broadcastable (keepdims) -- the NumPy reference."""
    red = tuple(a for a in range(x.ndim) if a not in keep)
    return x.mean(axis=red, keepdims=True), x.var(axis=red, keepdims=True)


@pytest.mark.parametrize("axis,keep", [(-1, (2,)), (1, (1,)), ((1, 2), (1, 2)), (None, ()),
                                       ((-2, -1), (1, 2))])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_normalization_adapt_matches_numpy(axis, keep, batch_size):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(101, 4, 5)) * rng.uniform(0.5, 9, (1, 4, 5)) + rng.uniform(-50, 50, 5)
    layer = layers.Normalization(axis=axis)
    layer.adapt(x, batch_size=batch_size)
    mean, var = _norm_ref(x, keep)
    assert_array(layer.mean, mean, rtol=1e-5, atol=1e-4, dtype="float32")
    assert_array(layer.variance, var, rtol=1e-5, atol=1e-4, dtype="float32")
    n_reduced = x.size // int(np.prod([x.shape[a] for a in keep])) if keep else x.size
    assert int(layer.count.numpy()) == n_reduced
    assert layer.count.numpy().dtype == np.int64
    assert [w.name.split("/")[-1] for w in layer.weights] == ["mean:0", "variance:0", "count:0"]
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    y = layer(x.astype(np.float32))
    ref = (x - mean) / np.maximum(np.sqrt(var), EPS)
    assert_array(y, ref, rtol=1e-4, atol=1e-4, dtype="float32")
    # per-feature standardised output: mean 0, variance 1 over the reduced axes
    red = tuple(a for a in range(3) if a not in keep)
    np.testing.assert_allclose(_np(y).mean(axis=red), 0, atol=1e-4)
    np.testing.assert_allclose(_np(y).var(axis=red), 1, atol=1e-3)


def test_normalization_adapt_sources_agree():
    """A NumPy array, a nabi Tensor, a list, a batched Dataset and steps= all adapt alike."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(70, 3)).astype(np.float32) * [1, 10, 100]
    ref_m, ref_v = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)
    for data, kw in [(x, {}), (nabi.constant(x), {}), (x.tolist(), {}),
                     (nabi.data.Dataset.from_tensor_slices(x).batch(16), {}),
                     (nabi.data.Dataset.from_tensor_slices((x, x[:, 0])).batch(9)
                      .map(lambda a, b: a), {})]:
        layer = layers.Normalization()
        layer.adapt(data, **kw)
        assert_array(layer.mean[0], ref_m, rtol=1e-5, atol=1e-3)
        assert_array(layer.variance[0], ref_v, rtol=1e-5, atol=1e-2)
        assert int(layer.count.numpy()) == 70
    layer = layers.Normalization()
    layer.adapt(x, batch_size=10, steps=2)   # only the first 20 rows
    assert_array(layer.mean[0], x[:20].astype(np.float64).mean(0), rtol=1e-5, atol=1e-3)
    assert int(layer.count.numpy()) == 20
    # adapting again resets the state (Keras)
    layer.adapt(x[20:])
    assert_array(layer.mean[0], x[20:].astype(np.float64).mean(0), rtol=1e-5, atol=1e-3)
    assert int(layer.count.numpy()) == 50
    with pytest.raises(TypeError, match="lambda x, y: x"):
        layers.Normalization().adapt(nabi.data.Dataset.from_tensor_slices((x, x)).batch(4))
    with pytest.raises(ValueError, match="batch_size"):
        layers.Normalization().adapt(nabi.data.Dataset.from_tensor_slices(x), batch_size=4)


def test_normalization_given_stats_invert_and_epsilon():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 6.0, 9.0]], np.float32)
    mean, var = np.array([1.0, 2.0, 3.0]), np.array([4.0, 0.0, 0.25])
    layer = layers.Normalization(mean=mean, variance=var)
    denom = np.maximum(np.sqrt(var), EPS)     # variance 0 -> divide by epsilon
    assert_array(layer(x), (x - mean) / denom, rtol=1e-6)
    assert layer.weights == []                # given statistics are constants, not weights
    inv = layers.Normalization(mean=mean, variance=var, invert=True)
    z = np.array([[0.5, 1e-7, -2.0]], np.float32)
    assert_array(inv(z), mean + z * denom, rtol=1e-6)
    # invert after adapt undoes the normalisation
    rng = np.random.default_rng(2)
    data = rng.normal(size=(50, 4)) * 5 + 3
    fwd, back = layers.Normalization(), layers.Normalization(invert=True)
    fwd.adapt(data)
    back.adapt(data)
    assert_array(back(fwd(data.astype(np.float32))), data, rtol=1e-4, atol=1e-4)
    # scalar mean/variance broadcast over the kept axis
    s = layers.Normalization(mean=2.0, variance=9.0)
    assert_array(s(x), (x - 2.0) / 3.0, rtol=1e-6)
    cfg = _roundtrip(layer).get_config()
    assert cfg["mean"] == [1.0, 2.0, 3.0] and cfg["axis"] == [-1] and cfg["invert"] is False


def test_normalization_single_feature_axis_none():
    """The regression tutorial's horsepower model: Normalization(input_shape=[1,], axis=None)
    adapted on a 1-D array, then Dense(1)."""
    rng = np.random.default_rng(3)
    hp = rng.uniform(40, 230, 150)
    norm = layers.Normalization(input_shape=[1, ], axis=None)
    norm.adapt(hp)
    assert_array(norm.mean, np.full((1,), hp.mean()), rtol=1e-5)
    assert_array(norm.variance, np.full((1,), hp.var()), rtol=1e-5)
    model = keras.Sequential([norm, layers.Dense(units=1)])
    assert model.output_shape == (None, 1)
    w, b = model.layers[1].get_weights()
    pred = model.predict(hp[:10, None], verbose=0)
    ref = ((hp[:10, None] - hp.mean()) / hp.std()) @ w + b
    np.testing.assert_allclose(pred, ref, rtol=1e-4, atol=1e-4)


def test_normalization_errors_name_layer_and_shapes():
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
    layer = layers.Normalization(name="norm")
    layer.adapt(np.ones((10, 9)))
    with pytest.raises(ValueError, match=r"\[norm\].*\(5, 4\)"):
        layer(np.ones((5, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[norm\].*\(6, 3\)"):
        layer.adapt(np.ones((6, 3)))
    with pytest.raises(ValueError, match="Cannot `adapt`"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis"):
        layers.Normalization(axis=3).adapt(np.ones((3, 2)))
    assert layers.Normalization().compute_output_shape((None, 7)) == (None, 7)


def test_basic_regression_flow(where, tmp_path):
    """The 'Basic regression: Predict fuel efficiency' DNN: Normalization adapted on a (N, 9)
    array, then Dense layers; fit reduces the loss; predict equals a NumPy forward pass with
    the model's weights; the adapted statistics survive .keras and .h5 saving."""
    rng = np.random.default_rng(4)
    n = 320
    x = (rng.normal(size=(n, 9)) * rng.uniform(1, 60, 9) + rng.uniform(-100, 300, 9))
    x = x.astype(np.float32)
    true_w = rng.normal(size=(9, 1))
    y = (((x - x.mean(0)) / x.std(0)) @ true_w + 20 + rng.normal(size=(n, 1)) * 0.1)
    y = y.astype(np.float32)
    with nabi.device(where):
        keras.utils.set_random_seed(0)
        normalizer = layers.Normalization(axis=-1)
        normalizer.adapt(np.array(x))
        np.testing.assert_allclose(normalizer.mean.numpy()[0], x.astype(np.float64).mean(0),
                                   rtol=1e-5)
        model = keras.Sequential([normalizer, layers.Dense(64, activation="relu"),
                                  layers.Dense(64, activation="relu"), layers.Dense(1)])
        model.compile(loss="mean_absolute_error", optimizer=keras.optimizers.Adam(0.01))
        before = model.evaluate(x, y, verbose=0)
        hist = model.fit(x, y, validation_split=0.2, epochs=15, verbose=0)
        after = model.evaluate(x, y, verbose=0)
        assert hist.history["loss"][-1] < hist.history["loss"][0]
        assert after < 0.5 * before
        pred = model.predict(x[:16], verbose=0)
        (w1, b1), (w2, b2), (w3, b3) = [layer.get_weights() for layer in model.layers[1:]]
        h = (x[:16].astype(np.float64) - normalizer.mean.numpy()) / \
            np.maximum(np.sqrt(normalizer.variance.numpy()), EPS)
        h = np.maximum(h @ w1 + b1, 0)
        h = np.maximum(h @ w2 + b2, 0)
        np.testing.assert_allclose(pred, h @ w3 + b3, rtol=1e-4, atol=1e-3)
        assert model.count_params() == 19 + 9 * 64 + 64 + 64 * 64 + 64 + 65
        for ext in ("keras", "h5"):
            path = os.fspath(tmp_path / f"dnn.{ext}")
            model.save(path)
            loaded = keras.models.load_model(path)
            norm2 = loaded.layers[0]
            assert isinstance(norm2, layers.Normalization)
            np.testing.assert_array_equal(norm2.mean.numpy(), normalizer.mean.numpy())
            np.testing.assert_array_equal(norm2.variance.numpy(), normalizer.variance.numpy())
            assert int(norm2.count.numpy()) == n
            np.testing.assert_allclose(loaded.predict(x[:16], verbose=0), pred, rtol=1e-6,
                                       atol=1e-6)


# ============================================================================ Discretization


def test_discretization_given_boundaries_vs_digitize():
    x = np.array([[-1.5, 1.0, 3.4, .5], [0.0, 3.0, 1.3, 0.0]])
    layer = layers.Discretization(bin_boundaries=[0., 1., 2.])
    out = layer(x)
    assert_array(out, [[0, 2, 3, 1], [1, 3, 2, 1]], dtype="int32")   # the Keras docs example (Keras 3: int32)
    rng = np.random.default_rng(5)
    v = rng.uniform(-3, 5, (7, 11))
    b = [-2.0, -0.5, 0.0, 0.25, 3.0]
    ref = np.array([[sum(1 for e in b if e <= val) for val in row] for row in v])
    assert_array(layers.Discretization(bin_boundaries=b)(v), ref, dtype="int32")


def test_discretization_adapt_and_output_modes():
    x = np.array([[-1.5, 1.0, 3.4, .5], [0.0, 3.0, 1.3, 0.0]])
    layer = layers.Discretization(num_bins=4, epsilon=0.01)
    layer.adapt(x)
    # quantile summary of 8 values: boundaries at cumulative weights 2/8, 4/8, 6/8
    s = np.sort(x.ravel())
    np.testing.assert_allclose(layer.bin_boundaries, [s[1], s[3], s[5]], rtol=1e-6)
    assert_array(layer(x), [[0, 2, 3, 2], [1, 3, 3, 1]], dtype="int32")
    # many values in one batch: the adapted boundaries are close to the true quantiles
    rng = np.random.default_rng(6)
    big = rng.normal(size=(5000, 1))
    d = layers.Discretization(num_bins=5)
    d.adapt(big, batch_size=5000)
    np.testing.assert_allclose(d.bin_boundaries, np.quantile(big, [.2, .4, .6, .8]), atol=0.05)
    counts = np.bincount(_np(d(big)).ravel(), minlength=5)
    assert counts.min() > 900 and counts.max() < 1100
    # batches of 32 (a batched Dataset, or batch_size=32) merge 157 summaries (approximate)
    d32 = layers.Discretization(num_bins=5)
    d32.adapt(big, batch_size=32)
    assert np.all(np.diff(d32.bin_boundaries) > 0)
    np.testing.assert_allclose(d32.bin_boundaries, np.quantile(big, [.2, .4, .6, .8]), atol=0.3)
    # encodings
    b = [0., 1., 2.]
    v = np.array([-1.0, 0.5, 1.5, 7.0, 1.2])
    idx = np.digitize(v, b)
    oh = layers.Discretization(bin_boundaries=b, output_mode="one_hot")(v)
    assert_array(oh, np.eye(4)[idx], dtype="float32")
    mh = layers.Discretization(bin_boundaries=b, output_mode="multi_hot")(v[None])
    assert_array(mh, [[1 if k in idx else 0 for k in range(4)]])
    ct = layers.Discretization(bin_boundaries=b, output_mode="count")(v[None])
    assert_array(ct, [np.bincount(idx, minlength=4)])
    # adapted boundaries live in the config
    new = _roundtrip(layer)
    assert new.bin_boundaries == layer.bin_boundaries
    assert_array(new(x), _np(layer(x)))
    with pytest.raises(ValueError, match="adapt"):
        layers.Discretization(num_bins=3)(x)
    with pytest.raises(ValueError, match="Both `num_bins` and `bin_boundaries`"):
        layers.Discretization(num_bins=3, bin_boundaries=[1.0])
    with pytest.raises(ValueError, match="Cannot adapt"):
        layers.Discretization(bin_boundaries=[0.0]).adapt(x)


# ============================================================================ CategoryEncoding


def _onehot_ref(values, depth):
    out = np.zeros((len(values), depth))
    for i, v in enumerate(values):
        out[i, v] = 1
    return out


def test_category_encoding_modes_vs_loops():
    assert_array(layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")([3, 2, 0, 1]),
                 _onehot_ref([3, 2, 0, 1], 4), dtype="float32")
    rows = [[0, 1], [0, 0], [1, 2], [3, 1]]
    mh = np.zeros((4, 4))
    ct = np.zeros((4, 4))
    cw = np.array([[.1, .2], [.1, .1], [.2, .3], [.4, .2]])
    wct = np.zeros((4, 4))
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            mh[i, v] = 1
            ct[i, v] += 1
            wct[i, v] += cw[i, j]
    assert_array(layers.CategoryEncoding(4, output_mode="multi_hot")(rows), mh)
    assert_array(layers.CategoryEncoding(4, output_mode="count")(np.array(rows)), ct)
    assert_array(layers.CategoryEncoding(4, output_mode="count")(np.array(rows),
                                                                 count_weights=cw),
                 wct, rtol=1e-6)
    # (B, 1) one_hot encodes on the last axis; a 1-D multi_hot input is one sample
    assert_array(layers.CategoryEncoding(5, output_mode="one_hot")(np.array([[4], [0]])),
                 _onehot_ref([4, 0], 5))
    assert_array(layers.CategoryEncoding(5)(np.array([4, 0, 4])), [1, 0, 0, 0, 1])
    enc = layers.CategoryEncoding(6, output_mode="one_hot")
    assert enc.compute_output_shape((None, 3)) == (None, 3, 6)
    assert enc.compute_output_shape((None, 1)) == (None, 6)
    assert layers.CategoryEncoding(6).compute_output_shape((None, 3)) == (None, 6)
    with pytest.raises(ValueError, match=r"\[enc\].*0 <= values < num_tokens"):
        layers.CategoryEncoding(3, name="enc")(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="num_tokens must be set"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match="count_weights"):
        layers.CategoryEncoding(3, output_mode="multi_hot")(np.array([[0]]),
                                                            count_weights=np.ones((1, 1)))
    _roundtrip(layers.CategoryEncoding(7, output_mode="count"))


# ============================================================================ lookups


def _keras_vocab(samples, max_tokens=None, specials=1):
    """Keras's adapt order: frequency descending, ties broken by token descending."""
    c = collections.Counter(samples)
    toks = sorted(c, key=lambda t: (c[t], t), reverse=True)
    if max_tokens:
        toks = toks[:max_tokens - specials]
    return toks


def test_string_lookup_vocabulary_adapt_invert():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    table = {t: i + 1 for i, t in enumerate(vocab)}
    ref = [[table.get(t, 0) for t in row] for row in data]
    layer = layers.StringLookup(vocabulary=vocab)
    assert_array(layer(data), ref, dtype="int64")
    assert_array(layer(np.array(data, dtype=object)), ref)
    assert_array(layer(np.char.encode(np.array(data))), ref)   # bytes are decoded
    assert layer.get_vocabulary() == ["[UNK]"] + vocab
    assert layer.vocabulary_size() == 5
    # adapt: frequency order
    corpus = [["d", "c", "c"], ["a", "d", "z"], ["b", "d", "c"], ["q", "q", "a"]]
    flat = [t for row in corpus for t in row]
    learned = layers.StringLookup()
    learned.adapt(corpus)
    assert learned.get_vocabulary(include_special_tokens=False) == _keras_vocab(flat)
    capped = layers.StringLookup(max_tokens=4)
    capped.adapt(np.array(corpus))
    assert capped.get_vocabulary() == ["[UNK]"] + _keras_vocab(flat, 4)
    # invert
    inv = layers.StringLookup(vocabulary=vocab, invert=True)
    got = _np(inv(np.array([[1, 3, 4], [4, 0, 2]])))
    assert got.tolist() == [[b"a", b"c", b"d"], [b"d", b"[UNK]", b"b"]]   # bytes, as TF
    # one_hot / multi_hot against the reference table
    oh = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(np.array(["a", "q", "d"]))
    assert_array(oh, _onehot_ref([1, 0, 4], 5), dtype="float32")
    mh = layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")(data)
    ref_mh = np.zeros((2, 5))
    for i, row in enumerate(data):
        for t in row:
            ref_mh[i, table.get(t, 0)] = 1
    assert_array(mh, ref_mh)
    # mask token: index 0 in 'int' mode, dropped in 'multi_hot'
    m = layers.StringLookup(vocabulary=vocab, mask_token="")
    assert_array(m([["a", "", "q"]]), [[2, 0, 1]])
    assert m.get_vocabulary() == ["", "[UNK]"] + vocab
    mm = layers.StringLookup(vocabulary=vocab, mask_token="", output_mode="multi_hot")
    assert_array(mm([["a", "", "a"]]), [[0, 1, 0, 0, 0]])


def test_string_lookup_vocabulary_file_and_config(tmp_path):
    p = tmp_path / "vocab.txt"
    p.write_text("cat\ndog\nbird\n")
    layer = layers.StringLookup(vocabulary=os.fspath(p))
    assert layer.get_vocabulary() == ["[UNK]", "cat", "dog", "bird"]
    adapted = layers.StringLookup(num_oov_indices=2, name="sl")
    adapted.adapt(np.array(["x", "y", "y", "z", "z", "z"]))
    new = _roundtrip(adapted)
    assert new.get_vocabulary() == adapted.get_vocabulary() == ["[UNK]", "[UNK]", "z", "y", "x"]
    probe = np.array(["x", "z", "unseen", "other", "y"])
    assert_array(new(probe), _np(adapted(probe)))
    assert all(0 <= v < 2 for v in _np(adapted(np.array(["unseen", "other"]))))
    new.adapt(np.array(["k"]))      # an adapted vocabulary may be adapted again
    assert new.get_vocabulary(include_special_tokens=False) == ["k"]
    with pytest.raises(ValueError, match="repeated"):
        layers.StringLookup(vocabulary=["a", "a"])


def test_integer_lookup_vs_dict():
    vocab = [12, 36, 1138, 42]
    table = {t: i + 1 for i, t in enumerate(vocab)}
    x = np.array([[12, 1138, 42], [42, 1000, 36]])
    ref = np.vectorize(lambda t: table.get(t, 0))(x)
    assert_array(layers.IntegerLookup(vocabulary=vocab)(x), ref, dtype="int64")
    # several OOV indices: integers go to floormod(value, num_oov_indices)
    x2 = np.array([[12, 1138, 42], [37, 1000, 36]])
    two = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    ref2 = np.vectorize(lambda t: table[t] + 1 if t in table else t % 2)(x2)
    assert_array(two(x2), ref2)
    # mask token, invert, multi_hot
    m = layers.IntegerLookup(vocabulary=vocab, mask_token=0)
    assert_array(m(np.array([[12, 1138, 42], [42, 0, 36]])), [[2, 4, 5], [5, 0, 3]])
    assert m.get_vocabulary() == [0, -1] + vocab
    inv = layers.IntegerLookup(vocabulary=vocab, invert=True)
    assert_array(inv(np.array([[1, 3, 4], [4, 0, 2]])), [[12, 1138, 42], [42, -1, 36]],
                 dtype="int64")
    mh = layers.IntegerLookup(vocabulary=vocab, output_mode="multi_hot")
    assert_array(mh(np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])),
                 [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    # adapt
    data = np.array([3, 3, 7, 9, 9, 9, 1, 7, 2, 2, 2, 2])
    learned = layers.IntegerLookup()
    learned.adapt(data)
    assert learned.get_vocabulary(include_special_tokens=False) == _keras_vocab(data.tolist())
    # zero OOV indices: unknown values are an error naming the layer
    strict = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=0, name="strict")
    assert_array(strict(np.array([36, 12])), [1, 0])
    strict_masked = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=0, mask_token=0)
    assert_array(strict_masked(np.array([0, 42])), [0, 4])   # the mask is not an OOV value
    with pytest.raises(ValueError, match=r"\[strict\].*OOV values \[5\]"):
        strict(np.array([36, 5]))
    with pytest.raises(ValueError, match="invert"):
        layers.IntegerLookup(invert=True, output_mode="one_hot")
    with pytest.raises(RuntimeError, match="vocabulary"):
        layers.IntegerLookup(output_mode="one_hot")(np.array([1]))
    cfg = _roundtrip(learned).get_config()
    assert cfg["vocabulary"] == _keras_vocab(data.tolist())
    assert cfg["vocabulary_dtype"] == "int64"


def test_lookup_then_encoding_structured_data_style():
    """The structured-data tutorial pattern: IntegerLookup adapted on a Dataset column, then
    CategoryEncoding(num_tokens=index.vocabulary_size())."""
    rng = np.random.default_rng(7)
    col = rng.integers(0, 5, (40, 1))
    ds = nabi.data.Dataset.from_tensor_slices(({"age": col}, np.zeros(40))).batch(8)
    index = layers.IntegerLookup(max_tokens=None)
    index.adapt(ds.map(lambda x, y: x["age"]))
    enc = layers.CategoryEncoding(num_tokens=index.vocabulary_size())
    out = _np(enc(index(col)))
    vocab = index.get_vocabulary()
    ref = np.zeros((40, len(vocab)))
    for i, v in enumerate(col[:, 0]):
        ref[i, vocab.index(v)] = 1
    np.testing.assert_array_equal(out, ref)


# ============================================================================ Hashing


def test_hashing_matches_tf_documented_bins():
    """The Keras 2.15 Hashing docstring examples: FarmHash64, with a mask value, SipHash64
    with salt=[133, 137] and salt=133 (same as [133, 133])."""
    inp = [["A"], ["B"], ["C"], ["D"], ["E"]]
    np.testing.assert_array_equal(_np(layers.Hashing(num_bins=3)(inp)),
                                  [[1], [0], [1], [1], [2]])
    np.testing.assert_array_equal(
        _np(layers.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]])),
        [[1], [1], [0], [2], [2]])
    np.testing.assert_array_equal(_np(layers.Hashing(num_bins=3, salt=[133, 137])(inp)),
                                  [[1], [2], [1], [0], [2]])
    np.testing.assert_array_equal(_np(layers.Hashing(num_bins=3, salt=133)(inp)),
                                  [[0], [0], [2], [1], [0]])


def test_hashing_is_deterministic_and_in_range():
    words = np.array([["A"], ["B"], ["C"], ["D"], ["E"], ["A"]])
    h = layers.Hashing(num_bins=3)
    a, b = _np(h(words)), _np(layers.Hashing(num_bins=3)(words))
    assert a.dtype == np.int64 and a.shape == (6, 1)
    np.testing.assert_array_equal(a, b)
    assert a[0, 0] == a[5, 0] and a.min() >= 0 and a.max() < 3
    many = np.array([f"token{i}" for i in range(3000)])
    bins = _np(layers.Hashing(num_bins=10)(many))
    counts = np.bincount(bins, minlength=10)
    assert counts.min() > 200     # spreads over all bins
    # integers hash as their decimal strings
    ints = np.array([[1], [22], [333]])
    np.testing.assert_array_equal(_np(h(ints)), _np(h(np.array([["1"], ["22"], ["333"]]))))
    # mask value takes bin 0
    hm = _np(layers.Hashing(num_bins=4, mask_value="")(np.array(["a", "", "b", ""])))
    assert hm[1] == hm[3] == 0 and 1 <= hm[0] < 4 and 1 <= hm[2] < 4
    # a salt changes the bins, deterministically
    s1 = _np(layers.Hashing(num_bins=1000, salt=[1, 2])(many))
    s2 = _np(layers.Hashing(num_bins=1000, salt=[1, 2])(many))
    np.testing.assert_array_equal(s1, s2)
    assert np.mean(s1 == _np(layers.Hashing(num_bins=1000)(many))) < 0.05
    oh = _np(layers.Hashing(num_bins=3, output_mode="one_hot")(words[:, 0]))
    np.testing.assert_array_equal(oh, np.eye(3)[a[:, 0]])
    _roundtrip(layers.Hashing(num_bins=5, salt=7, mask_value=0))
    with pytest.raises(ValueError, match="string or integer"):
        h(np.array([[1.5]], np.float32))


# ============================================================================ image references


def _bilinear_ref(img, oh, ow):
    """tf.image.resize bilinear (half-pixel centres, no antialias), one pixel at a time."""
    H, W, C = img.shape
    out = np.zeros((oh, ow, C))
    for i in range(oh):
        y = (i + 0.5) * H / oh - 0.5
        ylo, yhi, wy = max(int(np.floor(y)), 0), min(int(np.ceil(y)), H - 1), y - np.floor(y)
        for j in range(ow):
            x = (j + 0.5) * W / ow - 0.5
            xlo, xhi, wx = max(int(np.floor(x)), 0), min(int(np.ceil(x)), W - 1), \
                x - np.floor(x)
            top = img[ylo, xlo] + (img[ylo, xhi] - img[ylo, xlo]) * wx
            bot = img[yhi, xlo] + (img[yhi, xhi] - img[yhi, xlo]) * wx
            out[i, j] = top + (bot - top) * wy
    return out


def _nearest_ref(img, oh, ow):
    H, W, _ = img.shape
    out = np.zeros((oh, ow, img.shape[2]))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = img[min(int(np.floor((i + 0.5) * H / oh)), H - 1),
                            min(int(np.floor((j + 0.5) * W / ow)), W - 1)]
    return out


def _smart_ref(img, oh, ow, ref=_bilinear_ref):
    H, W, _ = img.shape
    ch, cw = min(H, int(W * oh / ow)), min(W, int(H * ow / oh))
    h0, w0 = (H - ch) // 2, (W - cw) // 2
    return ref(img[h0:h0 + ch, w0:w0 + cw], oh, ow)


def _tf_transform_ref(img, t, fill_mode, fill_value=0.0, interpolation="bilinear"):
    """TF's ImageProjectiveTransformV3 for one (H, W, C) image and an affine transform
    [a0, a1, a2, b0, b1, b2, 0, 0]: output (x=col, y=row) reads the input at
    (a0 x + a1 y + a2, b0 x + b1 y + b2), mapped by fill_mode, then interpolated with
    out-of-range neighbours read as fill_value."""
    H, W, C = img.shape

    def mapc(v, n):
        if fill_mode == "reflect":
            if v < 0:
                if n <= 1:
                    v = 0.0
                else:
                    sz2 = 2 * n
                    if v < -sz2:
                        v = sz2 * int(-v / sz2) + v
                    v = v + sz2 if v < -n else -v - 1
            elif v > n - 1:
                if n <= 1:
                    v = 0.0
                else:
                    sz2 = 2 * n
                    v -= sz2 * int(v / sz2)
                    if v >= n:
                        v = sz2 - v - 1
            return min(max(v, 0.0), n - 1.0)
        if fill_mode == "nearest":
            return min(max(v, 0.0), n - 1.0)
        return v   # constant

    def read(y, x, c):
        return img[y, x, c] if 0 <= y < H and 0 <= x < W else fill_value

    out = np.zeros((H, W, C))
    for r in range(H):
        for col in range(W):
            x = mapc(t[0] * col + t[1] * r + t[2], W)
            y = mapc(t[3] * col + t[4] * r + t[5], H)
            for c in range(C):
                if interpolation == "nearest":
                    out[r, col, c] = read(int(np.floor(y + 0.5)), int(np.floor(x + 0.5)), c)
                    continue
                y0, x0 = np.floor(y), np.floor(x)
                y1, x1 = y0 + 1, x0 + 1
                v0 = (x1 - x) * read(int(y0), int(x0), c) + (x - x0) * read(int(y0), int(x1), c)
                v1 = (x1 - x) * read(int(y1), int(x0), c) + (x - x0) * read(int(y1), int(x1), c)
                out[r, col, c] = (y1 - y) * v0 + (y - y0) * v1
    return out


def _images(b=2, h=9, w=7, c=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (b, h, w, c)).astype(np.float32)


# ============================================================================ Resizing / crops


@pytest.mark.parametrize("size", [(4, 3), (13, 11), (9, 7), (1, 1), (5, 14)])
def test_resizing_bilinear_and_nearest_vs_loops(size):
    x = _images()
    oh, ow = size
    y = layers.Resizing(oh, ow)(x)
    assert_array(y, np.stack([_bilinear_ref(im.astype(np.float64), oh, ow) for im in x]),
                 rtol=1e-4, atol=1e-3, dtype="float32")
    yn = layers.Resizing(oh, ow, interpolation="nearest")(x)
    assert_array(yn, np.stack([_nearest_ref(im, oh, ow) for im in x]), dtype="float32")
    yc = layers.Resizing(oh, ow, crop_to_aspect_ratio=True)(x)
    assert_array(yc, np.stack([_smart_ref(im.astype(np.float64), oh, ow) for im in x]),
                 rtol=1e-4, atol=1e-3)
    # unbatched input
    assert_array(layers.Resizing(oh, ow)(x[0]), _np(y)[0], rtol=1e-6)


def test_resizing_ramp_and_errors():
    ramp = np.tile(np.arange(8, dtype=np.float32)[None, :, None], (4, 1, 1))
    y = _np(layers.Resizing(4, 3)(ramp))
    src = np.clip((np.arange(3) + 0.5) * 8 / 3 - 0.5, 0, 7)
    np.testing.assert_allclose(y[0, :, 0], src, rtol=1e-5)
    uint8 = (np.arange(2 * 4 * 4 * 1) % 256).astype(np.uint8).reshape(2, 4, 4, 1)
    out = layers.Resizing(2, 2)(uint8)
    assert _np(out).dtype.kind in "iu"   # Keras 3: an integer image keeps its integer dtype
    with pytest.raises(ValueError, match=r"\[rs\].*\(4, 5\)"):
        layers.Resizing(2, 2, name="rs")(np.zeros((4, 5), np.float32))
    with pytest.raises(NotImplementedError, match="interpolation"):
        layers.Resizing(2, 2, interpolation="cubic-spline")
    layer = layers.Resizing(6, 5, interpolation="nearest", crop_to_aspect_ratio=True)
    assert layer.compute_output_shape((None, 32, 30, 3)) == (None, 6, 5, 3)
    assert _roundtrip(layer).get_config()["crop_to_aspect_ratio"] is True


def test_center_crop_and_random_crop():
    x = _images(3, 10, 9)
    c = layers.CenterCrop(4, 5)(x)
    assert_array(c, x[:, 3:7, 2:7], dtype="float32")
    small = layers.CenterCrop(12, 6)(x)          # taller than the image: smart resize
    assert_array(small, np.stack([_smart_ref(im.astype(np.float64), 12, 6) for im in x]),
                 rtol=1e-4, atol=1e-3)
    rc = layers.RandomCrop(4, 5, seed=3)
    for _ in range(5):
        y = _np(rc(x, training=True))
        found = [(i, j) for i in range(7) for j in range(5)
                 if np.array_equal(y, x[:, i:i + 4, j:j + 5])]
        assert len(found) == 1                 # one window, the same for the whole batch
    inf = rc(x, training=False)                 # inference: smart resize
    assert_array(inf, np.stack([_smart_ref(im.astype(np.float64), 4, 5) for im in x]),
                 rtol=1e-4, atol=1e-3)
    offsets = set()
    for _ in range(30):
        y = _np(rc(x))                          # a direct call augments (Keras default)
        offsets.update((i, j) for i in range(7) for j in range(5)
                       if np.array_equal(y, x[:, i:i + 4, j:j + 5]))
    assert len(offsets) > 5
    # a crop is a tensor slice: gradients flow through it
    xt = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(xt)
        s = nabi.reduce_sum(layers.CenterCrop(4, 5)(xt))
    g = tape.gradient(s, xt).numpy()
    ref = np.zeros_like(x)
    ref[:, 3:7, 2:7] = 1
    np.testing.assert_array_equal(g, ref)


# ============================================================================ random layers


def test_random_flip_seeded_per_sample():
    x = _images(64, 5, 6, 2, seed=1)
    y = _np(layers.RandomFlip("horizontal", seed=7)(x, training=True))
    flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(64)]
    kept = [np.array_equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54               # per sample, about half
    # same seeds -> same flips
    nabi.random.set_seed(11)
    a = _np(layers.RandomFlip("vertical", seed=3)(x))
    nabi.random.set_seed(11)
    b = _np(layers.RandomFlip("vertical", seed=3)(x))
    np.testing.assert_array_equal(a, b)
    assert all(np.array_equal(a[i], x[i]) or np.array_equal(a[i], x[i, ::-1])
               for i in range(64))
    both = _np(layers.RandomFlip(seed=5)(x, training=True))
    variants = [lambda im: im, lambda im: im[:, ::-1], lambda im: im[::-1],
                lambda im: im[::-1, ::-1]]
    seen = {next(k for k, f in enumerate(variants) if np.array_equal(both[i], f(x[i])))
            for i in range(64)}
    assert seen == {0, 1, 2, 3}
    np.testing.assert_array_equal(_np(layers.RandomFlip()(x, training=False)), x)
    with pytest.raises(ValueError, match="unknown mode"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"\(5, 6\)"):
        layers.RandomFlip()(np.zeros((5, 6), np.float32))
    assert _roundtrip(layers.RandomFlip("horizontal", seed=2)).get_config()["seed"] == 2


@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_rotation_vs_tf_transform(fill_mode, interpolation):
    x = _images(2, 9, 7, 2, seed=2)
    f = 0.07                                     # a fixed angle: factor=(f, f)
    layer = layers.RandomRotation((f, f), fill_mode=fill_mode, interpolation=interpolation,
                                  fill_value=17.0)
    y = layer(x, training=True)
    a = f * 2 * np.pi
    H, W = 9.0, 7.0
    c, s = np.cos(a), np.sin(a)
    t = [c, -s, ((W - 1) - (c * (W - 1) - s * (H - 1))) / 2, s, c,
         ((H - 1) - (s * (W - 1) + c * (H - 1))) / 2]
    ref = np.stack([_tf_transform_ref(im.astype(np.float64), t, fill_mode, 17.0, interpolation)
                    for im in x])
    assert_array(y, ref, rtol=1e-4, atol=2e-3, dtype="float32")
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)


def test_random_rotation_quarter_turn_and_range():
    x = _images(3, 6, 6, 1, seed=3)
    y = _np(layers.RandomRotation((0.25, 0.25))(x, training=True))
    np.testing.assert_allclose(y, np.rot90(x, 1, axes=(1, 2)), atol=1e-3)
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation((0.2, 0.1))
    with pytest.raises(NotImplementedError, match="fill_mode"):
        layers.RandomRotation(0.1, fill_mode="mirror")
    cfg = _roundtrip(layers.RandomRotation(0.1, fill_mode="constant", seed=4)).get_config()
    assert {"factor", "fill_mode", "fill_value", "interpolation", "seed"} <= set(cfg)


@pytest.mark.parametrize("hf,wf", [((-0.3, -0.3), None), ((0.25, 0.25), (-0.1, -0.1))])
def test_random_zoom_vs_tf_transform(hf, wf):
    x = _images(2, 8, 10, 2, seed=4)
    y = layers.RandomZoom(hf, wf, fill_mode="reflect")(x, training=True)
    zy = 1 + hf[0]
    zx = zy if wf is None else 1 + wf[0]
    t = [zx, 0, (10 - 1) / 2 * (1 - zx), 0, zy, (8 - 1) / 2 * (1 - zy)]
    ref = np.stack([_tf_transform_ref(im.astype(np.float64), t, "reflect") for im in x])
    assert_array(y, ref, rtol=1e-4, atol=2e-3)
    with pytest.raises(ValueError, match="height_factor"):
        layers.RandomZoom(1.5)


def test_random_translation_vs_tf_transform():
    x = _images(2, 8, 10, 1, seed=5)
    y = layers.RandomTranslation((0.25, 0.25), (-0.2, -0.2), fill_mode="constant")(
        x, training=True)
    # dy = 0.25 * 8 = 2 rows down, dx = -0.2 * 10 = 2 columns left, zeros shifted in
    ref = np.zeros_like(x)
    ref[:, 2:, :8] = x[:, :6, 2:]
    assert_array(y, ref, atol=1e-3)
    t = [1, 0, 1.3, 0, 1, -0.7]
    y2 = layers.RandomTranslation((0.7 / 8, 0.7 / 8), (-0.13, -0.13), fill_mode="nearest")(
        x, training=True)
    ref2 = np.stack([_tf_transform_ref(im.astype(np.float64), t, "nearest") for im in x])
    assert_array(y2, ref2, rtol=1e-4, atol=2e-3)
    with pytest.raises(ValueError, match="width_factor"):
        layers.RandomTranslation(0.1, (0.3, 0.1))


def test_random_contrast_and_brightness():
    x = _images(4, 5, 6, 3, seed=6)
    layer = layers.RandomContrast(0.5, seed=1)
    y = _np(layer(x, training=True)).astype(np.float64)
    mean = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    # one factor for the whole batch: y = clip((x - mean) * f + mean, 0, 255)
    d = (x - mean)
    inside = (y > 1e-3) & (y < 255 - 1e-3) & (np.abs(d) > 1)
    f = np.median((y - mean)[inside] / d[inside])
    assert 0.5 <= f <= 1.5
    np.testing.assert_allclose(y, np.clip(d * f + mean, 0, 255), rtol=1e-4, atol=1e-2)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    with pytest.raises(ValueError, match="factor"):
        layers.RandomContrast(-0.1)

    img = np.random.default_rng(7).uniform(0.3, 0.6, (6, 4, 4, 3)).astype(np.float32)
    br = layers.RandomBrightness(0.1, value_range=(0, 1), seed=2)
    out = _np(br(img, training=True))
    delta = out - img
    per_image = delta.reshape(6, -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image),
                               atol=1e-6)   # one delta per image
    assert np.all(np.abs(per_image[:, 0]) <= 0.1 + 1e-6)
    assert len(set(np.round(per_image[:, 0], 6))) > 1
    clipped = _np(layers.RandomBrightness((0.9, 0.9), value_range=(0, 1))(img))
    np.testing.assert_array_equal(clipped, np.ones_like(img))
    cfg = _roundtrip(br).get_config()
    assert cfg["factor"] == [-0.1, 0.1] and cfg["value_range"] == [0.0, 1.0]
    with pytest.raises(ValueError, match="factor"):
        layers.RandomBrightness(1.5)


# ============================================================================ shapes / configs


def _all_layers():
    return [layers.Resizing(5, 4), layers.CenterCrop(3, 3), layers.RandomCrop(3, 4, seed=1),
            layers.RandomFlip("horizontal", seed=1), layers.RandomRotation(0.2, seed=1),
            layers.RandomZoom(0.2, seed=1), layers.RandomTranslation(0.1, 0.1, seed=1),
            layers.RandomContrast(0.2, seed=1), layers.RandomBrightness(0.2, seed=1)]


@pytest.mark.parametrize("idx", range(9))
def test_image_layers_shapes_configs_symbolic(idx):
    layer = _all_layers()[idx]
    x = _images(2, 8, 7, 3)
    for training in (True, False):
        out = layer(x, training=training)
        assert tuple(out.shape) == layer.compute_output_shape(x.shape)
        assert _np(out).dtype == np.float32
    new = _roundtrip(layer)
    inp = keras.Input((8, 7, 3))
    kt = new(inp)
    assert tuple(kt.shape) == layer.compute_output_shape((None, 8, 7, 3))


def test_augmentation_tutorial_model(where, tmp_path):
    """The data-augmentation tutorial: keras.Sequential([RandomFlip("horizontal"),
    RandomRotation(0.1)]) before a Conv2D; fit trains; predict is deterministic (the
    augmentation is the identity at inference); outputs stay on the input's device; the model
    saves and loads (.keras, .h5)."""
    x = _images(8, 12, 12, 3, seed=8) / 255.0
    y = np.random.default_rng(9).integers(0, 2, 8)
    with nabi.device(where):
        keras.utils.set_random_seed(1)
        data_augmentation = keras.Sequential([layers.RandomFlip("horizontal"),
                                              layers.RandomRotation(0.1)])
        aug = data_augmentation(nabi.constant(x))
        assert ("GPU" in aug.device) == ("GPU" in where)
        assert not np.allclose(aug.numpy(), x)
        model = keras.Sequential([keras.Input((12, 12, 3)), layers.Rescaling(1.0),
                                  data_augmentation,
                                  layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                                  layers.Dense(2)])
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        hist = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        assert np.isfinite(hist.history["loss"]).all()
        p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
        np.testing.assert_array_equal(p1, p2)
        plain = keras.Sequential([keras.Input((12, 12, 3)),
                                  layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                                  layers.Dense(2)])
        plain.set_weights(model.get_weights())
        np.testing.assert_allclose(plain.predict(x, verbose=0), p1, rtol=1e-5, atol=1e-5)
        for ext in ("keras", "h5"):
            path = os.fspath(tmp_path / f"aug.{ext}")
            model.save(path)
            loaded = keras.models.load_model(path)
            np.testing.assert_allclose(loaded.predict(x, verbose=0), p1, rtol=1e-6, atol=1e-6)
            inner = loaded.layers[1]
            assert [type(l).__name__ for l in inner.layers] == ["RandomFlip", "RandomRotation"]


def test_preprocessing_state_survives_saving(where, tmp_path):
    """Adapted Normalization weights, an adapted IntegerLookup vocabulary, Discretization
    boundaries and a salted Hashing survive .keras and .h5 saving in a functional model."""
    rng = np.random.default_rng(10)
    num = rng.normal(size=(60, 2)).astype(np.float32) * 4 + 1
    cat = rng.choice([3, 8, 21, 40], size=(60, 1))
    with nabi.device(where):
        norm = layers.Normalization()
        norm.adapt(num)
        lookup = layers.IntegerLookup(output_mode="one_hot")
        lookup.adapt(cat)
        disc = layers.Discretization(num_bins=3)
        disc.adapt(num[:, :1])
        a = keras.Input((2,), name="num")
        b = keras.Input((1,), name="cat", dtype="int64")
        c = keras.Input((1,), name="raw")
        e = keras.Input((1,), name="hashed", dtype="int64")
        h = layers.Concatenate()([norm(a), lookup(b),
                                  layers.CategoryEncoding(3, output_mode="one_hot")(disc(c)),
                                  layers.Hashing(5, salt=3, output_mode="one_hot")(e)])
        model = keras.Model([a, b, c, e], layers.Dense(1)(h))
        ids = np.array([[3], [8], [99], [40], [21], [3], [8]])
        feats = [num[:7], ids, num[:7, :1], ids * 7]
        ref = model.predict(feats, verbose=0)
        for ext in ("keras", "h5"):
            path = os.fspath(tmp_path / f"m.{ext}")
            model.save(path)
            loaded = keras.models.load_model(path)
            np.testing.assert_allclose(loaded.predict(feats, verbose=0), ref, rtol=1e-6,
                                       atol=1e-6)
            got = {type(l).__name__: l for l in loaded.layers}
            assert got["IntegerLookup"].get_vocabulary() == lookup.get_vocabulary()
            assert got["Discretization"].bin_boundaries == disc.bin_boundaries


# ============================================================================ timeseries


def _ts_ref(data, targets, length, stride=1, rate=1, start=None, end=None):
    """The windows and targets of TF's timeseries_dataset_from_array, by explicit loops."""
    start = start or 0
    end = len(data) if end is None else end
    num = end - start - (length - 1) * rate
    if targets is not None:
        num = min(num, len(targets))
    xs, ys = [], []
    for p in range(0, max(num, 0), stride):
        xs.append([data[start + p + k * rate] for k in range(length)])
        if targets is not None:
            ys.append(targets[start + p])
    return np.array(xs), (np.array(ys) if targets is not None else None)


def _collect(ds, with_targets=True):
    xs, ys = [], []
    for el in ds:
        if with_targets:
            xs.append(el[0].numpy())
            ys.append(el[1].numpy())
        else:
            xs.append(el.numpy())
    x = np.concatenate(xs) if xs and xs[0].ndim > 0 else np.array(xs)
    return x, (np.concatenate(ys) if with_targets else None)


@pytest.mark.parametrize("length,stride,rate,start,end,bs", [
    (10, 1, 1, None, None, 128), (5, 3, 2, None, None, 7), (4, 2, 3, 5, 60, 4),
    (1, 1, 1, 3, None, 1), (7, 5, 1, None, 40, None), (20, 1, 4, 2, 97, 16)])
def test_timeseries_windows_vs_loops(length, stride, rate, start, end, bs):
    data = np.arange(100 * 2, dtype=np.float64).reshape(100, 2)
    targets = np.arange(100) * 10
    ds = keras.utils.timeseries_dataset_from_array(data, targets, sequence_length=length,
                                                   sequence_stride=stride, sampling_rate=rate,
                                                   batch_size=bs, start_index=start,
                                                   end_index=end)
    assert isinstance(ds, nabi.data.Dataset)
    ref_x, ref_y = _ts_ref(data, targets, length, stride, rate, start, end)
    if bs is None:
        got = [(el[0].numpy(), el[1].numpy()) for el in ds]
        x, y = np.stack([g[0] for g in got]), np.array([g[1] for g in got])
    else:
        sizes = [el[0].shape[0] for el in ds]
        assert all(s == bs for s in sizes[:-1]) and 0 < sizes[-1] <= bs
        assert len(ds) == len(sizes)
        x, y = _collect(ds)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)
    assert x.dtype == np.float64
    nt = keras.utils.timeseries_dataset_from_array(data, None, sequence_length=length,
                                                   sequence_stride=stride, sampling_rate=rate,
                                                   batch_size=bs or 3, start_index=start,
                                                   end_index=end)
    np.testing.assert_array_equal(_collect(nt, False)[0],
                                  _ts_ref(data, None, length, stride, rate, start, end)[0])


def test_timeseries_tf_docs_examples():
    # Example 1: steps [0-9] predict step 10
    data = np.arange(200)
    dataset = keras.utils.timeseries_dataset_from_array(data[:-10], data[10:],
                                                        sequence_length=10)
    for inputs, targets in dataset:
        assert np.array_equal(inputs[0].numpy(), data[:10])
        assert np.array_equal(targets[0].numpy(), data[10])
        break
    # Example 3: many-to-many with two datasets
    X = np.arange(20)
    Y = X * 2
    sample_length = 5
    inp = keras.utils.timeseries_dataset_from_array(X, None, sequence_length=sample_length,
                                                    sequence_stride=sample_length)
    tgt = keras.utils.timeseries_dataset_from_array(Y, None, sequence_length=sample_length,
                                                    sequence_stride=sample_length)
    for inputs, targets in zip(inp, tgt):
        assert np.array_equal(inputs[0].numpy(), X[:sample_length])
        assert np.array_equal(targets[1].numpy(), Y[sample_length:2 * sample_length])
        break
    # Example 2 shape: sampling_rate=6, sequence_length=120 on an hourly series
    hourly = np.random.default_rng(0).normal(size=(1000, 3))
    delay = 6 * (120 + 24 - 1)
    ds = keras.utils.timeseries_dataset_from_array(hourly, hourly[delay:, 0],
                                                   sequence_length=120, sampling_rate=6,
                                                   batch_size=32)
    xb, yb = next(iter(ds))
    assert tuple(xb.shape) == (32, 120, 3) and tuple(yb.shape) == (32,)
    np.testing.assert_array_equal(xb.numpy()[3], hourly[3:3 + 120 * 6:6])
    np.testing.assert_array_equal(yb.numpy()[3], hourly[delay + 3, 0])


def test_timeseries_shuffle_and_errors():
    data = np.arange(50)
    targets = data + 1000
    ds = keras.utils.timeseries_dataset_from_array(data, targets, sequence_length=4,
                                                   batch_size=5, shuffle=True, seed=3)
    x, y = _collect(ds)
    ref_x, ref_y = _ts_ref(data, targets, 4)
    assert sorted(map(tuple, x)) == sorted(map(tuple, ref_x))
    np.testing.assert_array_equal(y, x[:, 0] + 1000)     # targets follow their windows
    assert not np.array_equal(x, ref_x)
    x2, _ = _collect(keras.utils.timeseries_dataset_from_array(
        data, targets, sequence_length=4, batch_size=5, shuffle=True, seed=3))
    np.testing.assert_array_equal(x2, x)                 # the same seed gives the same order
    mk = keras.utils.timeseries_dataset_from_array
    with pytest.raises(ValueError, match="start_index"):
        mk(data, None, 4, start_index=50)
    with pytest.raises(ValueError, match="end_index"):
        mk(data, None, 4, end_index=50)
    with pytest.raises(ValueError, match="end_index"):
        mk(data, None, 4, start_index=10, end_index=5)
    with pytest.raises(ValueError, match="sampling_rate"):
        mk(data, None, 4, sampling_rate=0)
    with pytest.raises(ValueError, match="sequence_stride"):
        mk(data, None, 4, sequence_stride=50)


# ============================================================================ split_dataset


def test_split_dataset():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    left, right = keras.utils.split_dataset((x, y), left_size=0.8)
    lx, ly = _collect(left.batch(100))
    rx, ry = _collect(right.batch(100))
    np.testing.assert_array_equal(lx, x[:40])
    np.testing.assert_array_equal(ry, y[40:])
    left, right = keras.utils.split_dataset(x, left_size=10, right_size=5)
    assert len(left) == 10 and len(right) == 5
    np.testing.assert_array_equal(_collect(right.batch(5), False)[0], x[-5:])
    # a batched Dataset is unbatched, split, and batched again
    ds = nabi.data.Dataset.from_tensor_slices((x, y)).batch(8)
    left, right = keras.utils.split_dataset(ds, right_size=0.2)
    assert [tuple(b[0].shape) for b in left] == [(8, 2)] * 5
    assert len(right) == 2
    # shuffle: Python's random with the seed (as Keras)
    order = list(range(50))
    random.Random(5).shuffle(order)
    left, _ = keras.utils.split_dataset(y, left_size=20, shuffle=True, seed=5)
    np.testing.assert_array_equal(_collect(left.batch(50), False)[0], y[order[:20]])
    with pytest.raises(ValueError, match="At least one"):
        keras.utils.split_dataset(x)
    with pytest.raises(ValueError, match="left_size"):
        keras.utils.split_dataset(x, left_size=1.5)
    with pytest.raises(TypeError, match="dataset"):
        keras.utils.split_dataset("not data", left_size=0.5)


# ============================================================================ image utils


def test_image_utils():
    from nabi.keras.preprocessing import image
    assert keras.utils.array_to_img is image.array_to_img
    assert keras.utils.img_to_array is image.img_to_array
    a = keras.utils.img_to_array(np.ones((3, 4)))
    assert a.shape == (3, 4, 1) and a.dtype == np.float32
    try:
        import PIL
    except ImportError:
        PIL = None
    if PIL is not None:   # a PIL image, as Keras returns (more in tests/test_image_utils.py)
        img = keras.utils.array_to_img(np.array([[[0.0], [0.5]], [[1.0], [0.25]]]))
        np.testing.assert_array_equal(np.asarray(img), [[0, 127], [255, 63]])
    else:
        with pytest.raises(ImportError, match="Pillow"):
            keras.utils.array_to_img(np.zeros((2, 2, 1)))
        with pytest.raises(ImportError, match="Pillow"):
            keras.utils.load_img("missing.png")
        with pytest.raises(ImportError, match="Pillow"):
            keras.utils.save_img("out.png", np.zeros((2, 2, 3)))


def test_sequential_without_input_takes_strings(where, tmp_path):
    """A Sequential with no Input whose first layer is a StringLookup builds a string input
    from the first batch (fit, predict and a Dataset alike), as Keras does."""
    vocab = ["a", "b", "c"]
    x = np.array([["a", "b"], ["c", "z"], ["b", "b"]])
    ids = np.array([[vocab.index(t) + 1 if t in vocab else 0 for t in row] for row in x])

    def make():
        return keras.Sequential([layers.StringLookup(vocabulary=vocab),
                                 layers.Embedding(5, 3)])

    with nabi.device(where):
        m = make()
        emb = None
        out = m.predict(x, verbose=0)  # builds from the strings
        emb = m.layers[1].get_weights()[0]
        assert_array(out, emb[ids], rtol=0, atol=0)
        assert m.input_shape == (None, 2)

        m = make()
        m.compile("sgd", "mse")
        m.fit(x, np.zeros((3, 2, 3), np.float32), epochs=1, verbose=0)
        assert_array(m.predict(x, verbose=0), m.layers[1].get_weights()[0][ids], atol=0)

        m = make()
        m.compile("sgd", "mse")
        ds = nabi.data.Dataset.from_tensor_slices((x, np.zeros((3, 2, 3), np.float32))).batch(2)
        m.fit(ds, epochs=1, verbose=0)
        path = str(tmp_path / "m.keras")
        m.save(path)
        back = keras.models.load_model(path)
        assert_array(back.predict(x, verbose=0), m.predict(x, verbose=0), atol=0)


def test_random_height_and_width(where):
    rng = np.random.default_rng(11)
    img = rng.random((2, 6, 5, 3)).astype(np.float32)
    with nabi.device(where):
        h = layers.RandomHeight(factor=(0.5, 0.5), seed=3)     # factor 1.5 exactly
        y = h(img, training=True)
        assert tuple(y.shape) == (2, 9, 5, 3)
        assert_array(y, np.stack([_bilinear_ref(i, 9, 5) for i in img]), rtol=1e-5,
                     atol=1e-6)
        w = layers.RandomWidth(factor=(-0.4, -0.4), interpolation="nearest")
        z = w(img, training=True)                                # int(0.6 * 5) = 3
        assert tuple(z.shape) == (2, 6, 3, 3)
        assert_array(z, np.stack([_nearest_ref(i, 6, 3) for i in img]), atol=0)
        assert_array(h(img, training=False), img, atol=0)        # inference: unchanged
        r = layers.RandomHeight(0.3, seed=1)
        for _ in range(4):
            hh = r(img, training=True).shape[1]
            assert int(0.7 * 6) <= hh <= int(1.3 * 6)
    assert h.compute_output_shape((None, 6, 5, 3)) == (None, None, 5, 3)
    assert w.compute_output_shape((None, 6, 5, 3)) == (None, 6, None, 3)
    m = keras.Sequential([keras.Input((6, 5, 3)), layers.RandomHeight(0.2),
                          layers.RandomWidth(0.2), layers.Resizing(6, 5),
                          layers.Flatten(), layers.Dense(1)])
    m.compile("sgd", "mse")
    m.fit(img, np.ones((2, 1), np.float32), epochs=1, verbose=0)
    cfg = layers.RandomWidth.from_config(w.get_config()).get_config()
    assert cfg["factor"] == (-0.4, -0.4) and cfg["interpolation"] == "nearest"
    with pytest.raises(ValueError, match=r"larger than -1"):
        layers.RandomHeight((-1.5, 0.2))
    with pytest.raises(ValueError, match=r"upper bound less"):
        layers.RandomWidth((0.3, 0.1))
    assert keras.layers.experimental.preprocessing.TextVectorization is \
        keras.layers.TextVectorization
