"""keras.utils: to_categorical, normalize, set_random_seed, Sequence, pad_sequences, get_file,
plot_model's missing-dependency error, custom-object registration."""
import importlib.util
import os
import random

import numpy as np
import pytest

from nabi.keras import utils
from nabi.keras.datasets import _fetch
from nabi.keras.preprocessing.sequence import pad_sequences


def _engine():
    """The Keras engine (Sequential, Dense, fit), or a skip saying what is missing."""
    try:
        from nabi import keras
        keras.Sequential, keras.layers.Dense  # noqa: B018
        return keras
    except (ImportError, AttributeError) as e:
        pytest.skip(f"the Keras engine (Sequential/Dense) is not importable yet: {e}")


# --------------------------------------------------------------------------------------------
# to_categorical / normalize

def test_to_categorical():
    y = np.array([0, 2, 1, 2])
    out = utils.to_categorical(y)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[y])
    assert out.dtype == np.float32 and out.shape == (4, 3)
    out5 = utils.to_categorical(y, num_classes=5, dtype="int32")
    assert out5.shape == (4, 5) and out5.dtype == np.int32
    np.testing.assert_array_equal(out5.argmax(1), y)
    # a trailing axis of 1 is dropped, other shapes keep their leading axes (Keras)
    assert utils.to_categorical([[1], [0]]).shape == (2, 2)
    col = utils.to_categorical(np.array([[0, 1], [2, 1]]), 3)
    assert col.shape == (2, 2, 3)
    np.testing.assert_array_equal(col.argmax(-1), [[0, 1], [2, 1]])
    assert utils.to_categorical(3, num_classes=4).tolist() == [0, 0, 0, 1]
    np.testing.assert_array_equal(utils.to_categorical([1.0, 0.0]), [[0, 1], [1, 0]])
    with pytest.raises(ValueError):
        utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError):
        utils.to_categorical([0.5])


@pytest.mark.parametrize("order", [1, 2, np.inf])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_normalize_vs_numpy(order, axis, rng):
    x = rng.standard_normal((5, 7, 3))
    x[1, :, 0] = 0.0
    out = utils.normalize(x, axis=axis, order=order)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    np.testing.assert_allclose(out, x / norm, rtol=1e-12)
    v = np.array([3.0, 4.0])
    np.testing.assert_allclose(utils.normalize(v), [[0.6, 0.8]])   # Keras returns 2-D for 1-D
    assert np.all(utils.normalize(np.zeros((2, 3))) == 0)


# --------------------------------------------------------------------------------------------
# pad_sequences

def test_pad_sequences_vs_hand_computed():
    seqs = [[1, 2, 3], [4, 5], [6], []]
    np.testing.assert_array_equal(pad_sequences(seqs),
                                  [[1, 2, 3], [0, 4, 5], [0, 0, 6], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, padding="post"),
                                  [[1, 2, 3], [4, 5, 0], [6, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2),
                                  [[2, 3], [4, 5], [0, 6], [0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post"),
                                  [[1, 2], [4, 5], [0, 6], [0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=4, value=-1, padding="post"),
                                  [[1, 2, 3, -1], [4, 5, -1, -1], [6, -1, -1, -1],
                                   [-1, -1, -1, -1]])
    out = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0.5, 1.5]])
    assert pad_sequences(seqs).dtype == np.int32
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    feats = pad_sequences([np.ones((2, 2)), np.ones((1, 2))], maxlen=3, dtype="float32")
    assert feats.shape == (2, 3, 2) and feats[1, :2].sum() == 0 and feats[1, 2].sum() == 2
    s = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert s.tolist() == [["a", "b"], ["<pad>", "c"]]
    assert utils.pad_sequences is pad_sequences
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(seqs, padding="middle")
    with pytest.raises(ValueError, match="iterable"):
        pad_sequences([1, 2])


def test_preprocessing_namespace():
    import nabi.keras.preprocessing as pre
    assert pre.sequence.pad_sequences is pad_sequences


# --------------------------------------------------------------------------------------------
# set_random_seed

def test_set_random_seed_python_numpy_nabi():
    import nabi
    utils.set_random_seed(123)
    a = (random.random(), np.random.rand(), nabi.random.normal([3]).numpy())
    utils.set_random_seed(123)
    b = (random.random(), np.random.rand(), nabi.random.normal([3]).numpy())
    assert a[0] == b[0] and a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])
    utils.set_random_seed(124)
    assert random.random() != a[0]
    with pytest.raises(ValueError):
        utils.set_random_seed("x")


def test_set_random_seed_gives_identical_models():
    keras = _engine()

    def build():
        utils.set_random_seed(42)
        m = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)),
                              keras.layers.Dense(3)])
        return [w.copy() for w in m.get_weights()]
    w1, w2 = build(), build()
    assert len(w1) == 4
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    utils.set_random_seed(43)
    m3 = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)),
                           keras.layers.Dense(3)])
    assert not np.array_equal(m3.get_weights()[0], w1[0])


# --------------------------------------------------------------------------------------------
# Sequence

class _Batches(utils.Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_sequence_protocol(rng):
    x = rng.standard_normal((10, 2)).astype(np.float32)
    y = rng.standard_normal((10, 1)).astype(np.float32)
    seq = _Batches(x, y, 4)
    assert len(seq) == 3 and seq[2][0].shape == (2, 2)
    batches = list(seq)
    assert len(batches) == 3
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    with pytest.raises(NotImplementedError):
        utils.Sequence()[0]


def test_sequence_in_fit(rng):
    keras = _engine()
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    seq = _Batches(x, y, 16)
    try:
        hist = model.fit(seq, epochs=5, verbose=0)
    except (TypeError, ValueError, NotImplementedError) as e:
        pytest.skip(f"the engine's fit does not take a keras.utils.Sequence yet: {e}")
    assert len(hist.history["loss"]) == 5
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert seq.epochs_ended == 5


# --------------------------------------------------------------------------------------------
# get_file, plot_model, registration

def test_get_file_cache_and_hash(tmp_path, monkeypatch):
    import hashlib
    payload = b"hello nabi"
    sha = hashlib.sha256(payload).hexdigest()
    calls = []

    def fake(url, dest, timeout=60):
        calls.append(url)
        with open(dest, "wb") as f:
            f.write(payload)
    monkeypatch.setattr(_fetch, "_download", fake)
    p = utils.get_file("x.txt", origin="https://example.invalid/x.txt", file_hash=sha,
                       cache_dir=str(tmp_path))
    assert p == os.path.join(str(tmp_path), "datasets", "x.txt") and open(p, "rb").read() == payload
    assert utils.get_file("x.txt", origin="https://example.invalid/x.txt", file_hash=sha,
                          cache_dir=str(tmp_path)) == p
    assert len(calls) == 1                       # cached
    with pytest.raises(ValueError, match="hash"):    # Keras raises ValueError too
        utils.get_file("y.txt", origin="https://example.invalid/y.txt", file_hash="0" * 64,
                       cache_dir=str(tmp_path))
    assert not os.path.exists(os.path.join(str(tmp_path), "datasets", "y.txt"))

    def offline(url, dest, timeout=60):
        raise OSError("offline")
    monkeypatch.setattr(_fetch, "_download", offline)
    with pytest.raises(OSError, match="put the file at"):
        utils.get_file("z.txt", origin="https://example.invalid/z.txt", cache_dir=str(tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("pydot") is not None,
                    reason="pydot is installed: the missing-dependency error cannot be shown")
def test_plot_model_missing_pydot_error():
    with pytest.raises(ImportError, match="pydot") as ei:
        utils.plot_model(object(), to_file="m.png")
    assert "graphviz" in str(ei.value).lower()
    with pytest.raises(ImportError, match="pydot"):
        utils.model_to_dot(object())


def test_model_to_dot_with_pydot(tmp_path):
    pytest.importorskip("pydot", reason="pydot (optional) is not installed")
    keras = _engine()
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    h = keras.layers.Add(name="add")([keras.layers.Dense(4, name="da")(a), b])
    m = keras.Model([a, b], keras.layers.Dense(2, name="out")(h))
    dot = utils.model_to_dot(m, show_shapes=True).to_string()
    for name in ("a: InputLayer", "da: Dense", "add: Add", "out: Dense", "(None, 2)"):
        assert name in dot
    assert dot.count("->") == 4
    utils.plot_model(m, to_file=str(tmp_path / "m.dot"))
    assert "digraph" in (tmp_path / "m.dot").read_text()


def test_register_keras_serializable_and_scope():
    @utils.register_keras_serializable(package="TestPkg")
    class Thing:
        def __init__(self, k=1):
            self.k = k

        def get_config(self):
            return {"k": self.k}

    assert utils.get_custom_objects()["TestPkg>Thing"] is Thing
    assert utils.get_registered_name(Thing) == "TestPkg>Thing"
    cfg = utils.serialize_keras_object(Thing(5))
    assert cfg["class_name"] == "Thing" and cfg["config"] == {"k": 5}
    assert cfg["registered_name"] == "TestPkg>Thing"
    back = utils.deserialize_keras_object(cfg)
    assert isinstance(back, Thing) and back.k == 5

    class Local:
        def __init__(self, a=0):
            self.a = a

    with pytest.raises(ValueError, match="Unknown"):
        utils.deserialize_keras_object({"class_name": "Local", "config": {"a": 2}})
    with utils.custom_object_scope({"Local": Local}):
        assert utils.deserialize_keras_object({"class_name": "Local", "config": {"a": 2}}).a == 2
    assert utils.deserialize_keras_object({"class_name": "Local", "config": {}},
                                          custom_objects={"Local": Local}).a == 0
    import nabi.keras.saving as saving
    assert saving.register_keras_serializable is utils.register_keras_serializable


def test_timeseries_generator_windows_and_fit():
    from nabi import keras
    TG = keras.preprocessing.sequence.TimeseriesGenerator
    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    targets = np.arange(20, dtype=np.float32) * 10

    def ref(length, sampling_rate, stride, start, end, batch_size, reverse):
        rows = list(range(start + length, (len(data) - 1 if end is None else end) + 1, stride))
        batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        out = []
        for b in batches:
            xs = np.array([data[r - length:r:sampling_rate] for r in b])
            out.append((xs[:, ::-1] if reverse else xs, targets[b]))
        return out

    for kw in (dict(length=3, batch_size=4), dict(length=5, sampling_rate=2, stride=3,
                                                    batch_size=2),
               dict(length=2, start_index=4, end_index=15, batch_size=3, reverse=True)):
        g = TG(data, targets, **kw)
        want = ref(kw["length"], kw.get("sampling_rate", 1), kw.get("stride", 1),
                   kw.get("start_index", 0), kw.get("end_index"), kw["batch_size"],
                   kw.get("reverse", False))
        assert len(g) == len(want)
        for i, (x, y) in enumerate(want):
            gx, gy = g[i]
            np.testing.assert_array_equal(gx, x)
            np.testing.assert_array_equal(gy, y)
    g = TG(data, targets, length=3, batch_size=4, shuffle=True)
    x, y = g[0]
    assert x.shape == (4, 3, 2) and np.all(y / 10 >= 3)
    np.testing.assert_array_equal(x[:, -1, 0] / 2 + 1, y / 10)   # window ends before target
    m = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    m.compile("adam", "mse")
    hist = m.fit(TG(data / 40, targets / 200, length=3, batch_size=4), epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    with pytest.raises(ValueError, match=r"Data and targets have to be of same length"):
        TG(data, targets[:5], length=3)
    with pytest.raises(ValueError, match=r"start_index\+length=21 > end_index=19"):
        TG(data, targets, length=21)
    with pytest.raises(IndexError, match=r"batch index 9 out of range"):
        TG(data, targets, length=3, batch_size=4)[9]
