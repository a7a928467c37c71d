"""Saving: .keras and .h5 round trips, weights files, resumed training, mismatch errors, atomic
writes, JSON/config round trips, custom objects."""
import glob
import json
import os
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs h5py (the `test` extra)")

from nabi.keras import saving  # noqa: E402
from nabi.keras.saving import _common, legacy_h5, saving_lib  # noqa: E402


def _keras():
    try:
        from nabi import keras
        keras.Sequential, keras.Model, keras.Input, keras.layers.Dense  # noqa: B018
        keras.optimizers.Adam  # noqa: B018
        return keras
    except (ImportError, AttributeError) as e:
        pytest.skip(f"the Keras engine (Sequential/Model/Dense/optimizers) is not importable "
                    f"yet: {e}")


@pytest.fixture
def keras():
    return _keras()


def _seed(s=0):
    from nabi.keras import utils
    utils.set_random_seed(s)


def _data(n=64, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    return x, y


def _sequential(keras, hidden=8, d=4, k=3):
    return keras.Sequential([keras.layers.Dense(hidden, activation="relu", input_shape=(d,)),
                             keras.layers.Dense(k, activation="softmax")])


def _functional(keras, d=4, k=3):
    inp = keras.Input(shape=(d,), name="features")
    a = keras.layers.Dense(8, activation="relu", name="branch_a")(inp)
    b = keras.layers.Dense(8, activation="tanh", name="branch_b")(inp)
    h = keras.layers.Concatenate(name="merge")([a, b])
    out = keras.layers.Dense(k, activation="softmax", name="head")(h)
    return keras.Model(inputs=inp, outputs=out, name="two_branch")


def _compiled(keras, build, lr=0.01):
    m = build(keras)
    m.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _load(keras, path, **kw):
    return keras.models.load_model(path, **kw)


# --------------------------------------------------------------------------------------------
# Round trips

@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_round_trip_identical_predictions(keras, tmp_path, ext, kind):
    _seed(1)
    build = _sequential if kind == "sequential" else _functional
    model = _compiled(keras, build)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    before = model.predict(x, verbose=0)
    path = str(tmp_path / f"model{ext}")
    model.save(path)
    loaded = _load(keras, path)
    assert type(loaded).__name__ == type(model).__name__
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    # compile configuration: same optimizer class and learning rate, same loss and metrics
    assert type(loaded.optimizer).__name__ == "Adam"
    np.testing.assert_allclose(float(np.asarray(loaded.optimizer.learning_rate)), 0.01, rtol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    # optimizer state: iterations and every slot restored
    assert int(np.asarray(loaded.optimizer.iterations)) == int(np.asarray(model.optimizer.iterations))
    ov = [np.asarray(v) for v in model.optimizer.variables]
    lv = [np.asarray(v) for v in loaded.optimizer.variables]
    assert len(ov) == len(lv) and len(ov) > 2
    for a, b in zip(ov, lv):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_resumed_training_continues_the_loss_curve(keras, tmp_path, ext):
    x, y = _data(n=96, seed=3)
    _seed(7)
    ref = _compiled(keras, _sequential)
    h_ref = ref.fit(x, y, epochs=6, batch_size=16, shuffle=False, verbose=0).history["loss"]

    _seed(7)
    model = _compiled(keras, _sequential)
    h1 = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
    path = str(tmp_path / f"ckpt{ext}")
    model.save(path)
    del model
    _seed(12345)          # loading must not depend on the random state
    resumed = _load(keras, path)
    h2 = resumed.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h1, h_ref[:3], rtol=1e-6)
    np.testing.assert_allclose(h2, h_ref[3:], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(resumed.predict(x, verbose=0), ref.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_load_without_compile(keras, tmp_path):
    _seed(2)
    model = _compiled(keras, _sequential)
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.keras"))
    loaded = _load(keras, str(tmp_path / "m.keras"), compile=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert getattr(loaded, "optimizer", None) is None


def test_uncompiled_model_round_trip(keras, tmp_path):
    _seed(3)
    model = _functional(keras)
    x, _ = _data()
    for ext in (".keras", ".h5"):
        model.save(str(tmp_path / f"u{ext}"))
        np.testing.assert_array_equal(_load(keras, str(tmp_path / f"u{ext}")).predict(x, verbose=0),
                                      model.predict(x, verbose=0))


# --------------------------------------------------------------------------------------------
# File layouts

def test_keras_zip_layout(keras, tmp_path):
    _seed(4)
    model = _compiled(keras, _sequential)
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert {"config.json", "metadata.json", "model.weights.h5"} <= set(z.namelist())
        cfg = json.loads(z.read("config.json"))
        meta = json.loads(z.read("metadata.json"))
        z.extract("model.weights.h5", str(tmp_path))
    assert cfg["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in cfg["config"]["layers"]
            if layer["class_name"] != "InputLayer"] == ["Dense", "Dense"]
    assert cfg["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert cfg["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    import nabi
    assert meta["nabi_version"] == nabi.__version__ and meta["keras_version"].startswith("3.")
    assert "date_saved" in meta
    # Keras 3 files layers by class name and position (dense, dense_1), not by layer name
    with h5py.File(str(tmp_path / "model.weights.h5"), "r") as f:
        np.testing.assert_array_equal(f["layers/dense/vars/0"][()], model.layers[0].get_weights()[0])
        np.testing.assert_array_equal(f["layers/dense_1/vars/1"][()], model.layers[-1].get_weights()[1])
        nopt = len(f["optimizer/vars"])
        assert nopt == len(model.optimizer.variables)
        assert int(f["optimizer/vars/0"][()]) == int(np.asarray(model.optimizer.iterations)) > 0


def test_legacy_h5_layout(keras, tmp_path):
    _seed(5)
    model = _compiled(keras, _sequential)
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)
    d0 = model.layers[0].name
    with h5py.File(path, "r") as f:
        for a in ("model_config", "training_config", "keras_version", "backend"):
            assert a in f.attrs
        mc = json.loads(f.attrs["model_config"])
        assert mc["class_name"] == "Sequential"
        tc = json.loads(f.attrs["training_config"])
        assert tc["optimizer_config"]["class_name"] == "Adam"
        assert tc["loss"] == "sparse_categorical_crossentropy"
        names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
        assert d0 in names
        wn = [n.decode() for n in f["model_weights"][d0].attrs["weight_names"]]
        assert wn == [f"{d0}/kernel:0", f"{d0}/bias:0"]
        np.testing.assert_array_equal(f[f"model_weights/{d0}/{d0}/kernel:0"][()],
                                      model.layers[0].get_weights()[0])
        assert len(f["optimizer_weights"].attrs["weight_names"]) == len(model.optimizer.variables)


# --------------------------------------------------------------------------------------------
# Weights files

@pytest.mark.parametrize("fname", ["w.weights.h5", "w.h5"])
def test_save_load_weights(keras, tmp_path, fname):
    _seed(6)
    src = _sequential(keras)
    x, _ = _data()
    path = str(tmp_path / fname)
    src.save_weights(path)
    _seed(99)
    dst = _sequential(keras)          # other initial weights and other layer names
    assert not np.array_equal(dst.get_weights()[0], src.get_weights()[0])
    dst.load_weights(path)
    np.testing.assert_array_equal(dst.predict(x, verbose=0), src.predict(x, verbose=0))
    with h5py.File(path, "r") as f:
        if fname.endswith(".weights.h5"):
            assert "layers/dense/vars/0" in f   # Keras 3's path, not the layer name
        else:
            assert "layer_names" in f.attrs


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_load_weights_from_full_model_file(keras, tmp_path, ext):
    _seed(8)
    model = _compiled(keras, _functional)
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / f"full{ext}")
    model.save(path)
    _seed(80)
    other = _functional(keras)
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("fname", ["w.weights.h5", "w.h5", "full.keras", "full.h5"])
def test_mismatched_architecture_error(keras, tmp_path, fname):
    _seed(9)
    src = _compiled(keras, lambda k: _sequential(k, hidden=8))
    path = str(tmp_path / fname)
    if fname.startswith("full"):
        src.save(path)
    else:
        src.save_weights(path)
    dst = _sequential(keras, hidden=16)
    before = [w.copy() for w in dst.get_weights()]
    with pytest.raises(ValueError) as ei:
        dst.load_weights(path)
    msg = str(ei.value)
    assert dst.layers[0].name in msg
    assert "(4, 16)" in msg and "(4, 8)" in msg
    for a, b in zip(before, dst.get_weights()):      # nothing was half-loaded
        np.testing.assert_array_equal(a, b)
    # another layer count names the first layer that differs
    deeper = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)),
                               keras.layers.Dense(8), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"architecture") as ei:
        deeper.load_weights(path)
    assert deeper.layers[1].name in str(ei.value)
    assert "(8, 8)" in str(ei.value) and "(8, 3)" in str(ei.value)


def test_load_weights_by_name_and_skip_mismatch(keras, tmp_path):
    _seed(10)
    inp = keras.Input(shape=(4,))
    out = keras.layers.Dense(3, name="shared_head")(keras.layers.Dense(8, name="body")(inp))
    src = keras.Model(inp, out)
    path = str(tmp_path / "w.h5")
    src.save_weights(path)
    inp2 = keras.Input(shape=(4,))
    h = keras.layers.Dense(5, name="body")(inp2)              # other shape
    out2 = keras.layers.Dense(3, name="shared_head")(keras.layers.Dense(8, name="extra")(h))
    dst = keras.Model(inp2, out2)
    with pytest.raises(ValueError, match="body"):
        dst.load_weights(path, by_name=True)
    with pytest.warns(UserWarning, match="body"):
        dst.load_weights(path, by_name=True, skip_mismatch=True)
    for a, b in zip(dst.get_layer("shared_head").get_weights(),
                    src.get_layer("shared_head").get_weights()):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------
# Atomic writes

@pytest.mark.parametrize("fname", ["m.keras", "m.h5", "w.weights.h5"])
def test_atomic_write_leaves_no_partial_file(keras, tmp_path, monkeypatch, fname):
    _seed(11)
    model = _compiled(keras, _sequential)
    path = str(tmp_path / fname)
    write = model.save_weights if fname.startswith("w.") else model.save
    write(path)
    good = open(path, "rb").read()
    calls = {"n": 0}
    real = _common.weight_value

    def failing(v):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(v)
    monkeypatch.setattr(_common, "weight_value", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write(path)
    assert open(path, "rb").read() == good                 # the old file is untouched
    assert os.listdir(str(tmp_path)) == [fname]            # no temporary left behind
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="disk on fire"):
        write(str(tmp_path / ("new_" + fname)))
    assert os.listdir(str(tmp_path)) == [fname]            # no partial new file


def test_overwrite_false(keras, tmp_path):
    model = _sequential(keras)
    path = str(tmp_path / "m.keras")
    saving.save_model(model, path)
    with pytest.raises(FileExistsError):
        saving.save_model(model, path, overwrite=False)


def test_bad_files(keras, tmp_path):
    p = tmp_path / "junk.keras"
    p.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="neither"):
        _load(keras, str(p))
    with pytest.raises(FileNotFoundError):
        _load(keras, str(tmp_path / "missing.keras"))
    model = _sequential(keras)
    model.save_weights(str(tmp_path / "w.h5"))
    with pytest.raises(ValueError, match="weights-only"):
        _load(keras, str(tmp_path / "w.h5"))
    # no .keras/.h5 ending: TF2 Keras's SavedModel default, a directory (tests/test_saved_model_dir.py)
    saving.save_model(model, str(tmp_path / "model.pb"))
    assert os.path.isdir(tmp_path / "model.pb")
    with pytest.raises(ValueError, match=r"unknown save_format"):
        saving.save_model(model, str(tmp_path / "model2"), save_format="pb")


def test_no_pickle_in_saving_code():
    d = os.path.dirname(saving.__file__)
    for f in glob.glob(os.path.join(d, "*.py")):
        src = open(f, encoding="utf8").read()
        assert "import pickle" not in src and "allow_pickle=True" not in src, f


# --------------------------------------------------------------------------------------------
# JSON and configs

def test_model_from_json(keras):
    _seed(12)
    model = _functional(keras)
    js = model.to_json()
    cfg = json.loads(js)
    assert cfg["class_name"] in ("Functional", "Model")
    assert {"layers", "input_layers", "output_layers"} <= set(cfg["config"])
    clone = keras.models.model_from_json(js)
    assert clone is not model and [layer.name for layer in clone.layers] == \
        [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    x, _ = _data()
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert saving.model_from_json(saving.model_to_json(model)).count_params() == \
        model.count_params()
    seq = _sequential(keras)
    seq2 = saving.model_from_json(seq.to_json())
    assert type(seq2).__name__ == "Sequential" and seq2.count_params() == seq.count_params()
    with pytest.raises(ValueError):
        saving.model_from_json("{not json")


def test_get_config_from_config(keras):
    _seed(13)
    seq = _sequential(keras)
    cfg = seq.get_config()
    json.dumps(cfg)
    seq2 = keras.Sequential.from_config(cfg)
    assert seq2.get_config() == cfg
    assert [tuple(w.shape) for w in seq2.get_weights()] == [tuple(w.shape) for w in seq.get_weights()]
    fn = _functional(keras)
    fcfg = fn.get_config()
    json.dumps(fcfg)
    fn2 = keras.Model.from_config(fcfg)
    assert fn2.get_config() == fcfg
    fn2.set_weights(fn.get_weights())
    x, _ = _data()
    np.testing.assert_array_equal(fn2.predict(x, verbose=0), fn.predict(x, verbose=0))


# --------------------------------------------------------------------------------------------
# Custom objects

def test_custom_layer_round_trip(keras, tmp_path):
    @saving.register_keras_serializable(package="NabiTests")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(int(input_shape[-1]),),
                                     initializer="ones")
            self.built = True

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    _seed(14)
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(4,)), Scale(3.0, name="scale")])
    model.compile(optimizer="sgd", loss="mse")
    x, _ = _data()
    model.fit(x, x, epochs=1, verbose=0)
    for ext in (".keras", ".h5"):
        path = str(tmp_path / f"c{ext}")
        model.save(path)
        loaded = _load(keras, path)
        assert type(loaded.layers[-1]).__name__ == "Scale" and loaded.layers[-1].factor == 3.0
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        with saving.custom_object_scope({"Scale": Scale}):
            _load(keras, path)
        _load(keras, path, custom_objects={"Scale": Scale})


def test_tf_checkpoint_weights_as_in_the_save_and_load_tutorial(keras, tmp_path, monkeypatch):
    """TF2 Keras writes save_weights to a name without an .h5/.keras ending as a TF
    checkpoint (path.index + path.data-00000-of-00001 + the directory's `checkpoint` file), so
    the "Save and load models" tutorial's ModelCheckpoint(".../cp-{epoch:04d}.ckpt",
    save_weights_only=True) + tf.train.latest_checkpoint + load_weights works."""
    import nabi as tf
    monkeypatch.chdir(tmp_path)
    r = np.random.default_rng(3)
    x = r.standard_normal((40, 6)).astype(np.float32)
    y = r.integers(0, 3, 40)

    def create_model():
        m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3)])
        m.compile(optimizer="adam", metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    model = create_model()
    cb = keras.callbacks.ModelCheckpoint(filepath="training_2/cp-{epoch:04d}.ckpt",
                                         save_weights_only=True)
    model.save_weights("training_2/cp-0000.ckpt")
    model.fit(x, y, epochs=3, batch_size=8, callbacks=[cb], verbose=0)
    files = sorted(os.listdir("training_2"))
    assert "checkpoint" in files and "cp-0003.ckpt.index" in files, files
    assert "cp-0003.ckpt.data-00000-of-00001" in files, files
    latest = tf.train.latest_checkpoint("training_2")
    assert latest == os.path.join("training_2", "cp-0003.ckpt")
    saved = [w.copy() for w in model.get_weights()]
    fresh = create_model()
    assert not np.allclose(fresh.get_weights()[0], saved[0])
    fresh.load_weights(latest)
    for a, b in zip(fresh.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(fresh.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0))
    # the manual form, and a missing checkpoint
    model.save_weights("./checkpoints/my_checkpoint")
    assert tf.train.latest_checkpoint("./checkpoints").endswith("my_checkpoint")
    other = create_model()
    other.load_weights("./checkpoints/my_checkpoint")
    np.testing.assert_array_equal(other.get_weights()[2], saved[2])
    with pytest.raises(ValueError, match="by_name"):
        other.load_weights("./checkpoints/my_checkpoint", by_name=True)
    with pytest.raises(FileNotFoundError):
        other.load_weights("./checkpoints/nothing_here")
