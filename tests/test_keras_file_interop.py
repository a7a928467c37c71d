"""Files written by real Keras 3 (TensorFlow 2.21 / Keras 3.15; tests/data/keras_files, made by
make_fixtures.py there) load in nabi and predict what an independent NumPy forward pass over
the weights read straight from the files (h5py / zipfile) predicts, and what Keras predicted
(stored with the fixtures). Covers `.keras`, `.weights.h5` into a model built in nabi, and the
legacy `.h5`; and nabi's own files follow Keras 3's layout (layers filed by class name and
position, sublayers under their attribute names)."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from reference_conv import conv2d, max_pool, same_pads
from reference_rnn import gru_forward, lstm_forward

h5py = pytest.importorskip("h5py")

D = os.path.join(os.path.dirname(__file__), "data", "keras_files")


@pytest.fixture
def keras():
    from nabi import keras as k
    return k


# ------------------------------------------------------------------ weights read from the files

def _vars(g):
    v = g.get("vars")
    return [] if v is None else [np.asarray(v[k], np.float64) for k in sorted(v, key=int)]


def _snake(name):
    import re
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def file_weights(path):
    """W(key) -> [arrays] with Keras 3's keys ("dense_1", "bidirectional/forward_layer/cell";
    a subclassed model's layers are at the root, under their attribute names)."""
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            f = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    else:
        f = h5py.File(path, "r")
    if "model_weights" not in f:   # .keras or .weights.h5
        return lambda key: _vars(f["layers/" + key] if "layers" in f else f[key])
    # legacy .h5: groups by layer name; Keras 3 keys from the config's classes
    cfg = json.loads(f.attrs["model_config"])
    names, used = {}, {}
    for layer in cfg["config"]["layers"]:
        k = _snake(layer["class_name"])
        used[k] = used.get(k, -1) + 1
        names[k if used[k] == 0 else f"{k}_{used[k]}"] = layer["config"]["name"]
    g = f["model_weights"]

    # a layer's weights are flat there, named by sublayer ("bidirectional/forward_lstm/...")
    marks = {"cell": "/", "forward_layer/cell": "/forward_", "backward_layer/cell": "/backward_",
             "query_dense": "/query/", "key_dense": "/key/", "value_dense": "/value/",
             "output_dense": "/attention_output/"}

    def w(key):
        top, _, sub = key.partition("/")
        lg = g[names[top]]
        return [np.asarray(lg[n], np.float64) for n in lg.attrs["weight_names"]
                if marks.get(sub, "/") in n]
    return w


# ------------------------------------------------------------------ NumPy forward passes

def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _bn(x, gamma, beta, mean, var, eps=1e-3):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _dense(x, W, key):
    k = W(key)
    return x @ k[0] + (k[1] if len(k) > 1 else 0)


def _ln(x, g, b, eps):
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps) * g + b


def ref_mlp(W, x):
    h = np.maximum(_dense(x, W, "dense"), 0)
    return _softmax(_dense(_bn(h, *W("batch_normalization")), W, "dense_1"))


def ref_mlp_func(W, x):
    h = np.tanh(_dense(x, W, "dense"))
    g, mean, var = W("batch_normalization")   # center=False: no beta
    h = _bn(h, g, 0, mean, var)
    o = np.concatenate([_dense(h, W, "dense_1") + _dense(x, W, "dense_2"), h], -1)
    return _dense(o, W, "dense_3")


def ref_cnn(W, x):
    k, b = W("conv2d")
    h = np.maximum(conv2d(x, k, pads=same_pads(8, 3, 1) * 2) + b, 0)
    h = max_pool(_bn(h, *W("batch_normalization")), (2, 2), (2, 2))[0]
    h = conv2d(h, W("conv2d_1")[0]).mean((1, 2))
    return _dense(h, W, "dense")


def ref_rnn(W, x):
    out = []
    for row in x:   # the mask: each sequence runs over its tokens before the padding
        t = int(np.sum(row != 0))
        e = W("embedding")[0][row[:t]][None]
        z = np.zeros((1, 6))
        fw = lstm_forward(e, z, z, *W("bidirectional/forward_layer/cell"))[0]
        bw = lstm_forward(e, z, z, *W("bidirectional/backward_layer/cell"),
                          go_backwards=True)[0][:, ::-1]
        h = gru_forward(np.concatenate([fw, bw], -1), np.zeros((1, 4)), *W("gru/cell"))[1]
        out.append(_sig(_dense(h, W, "dense"))[0])
    return np.array(out)


def ref_mha(W, x):
    q = np.einsum("bsd,dnh->bsnh", x, W("multi_head_attention/query_dense")[0]) + \
        W("multi_head_attention/query_dense")[1]
    k = np.einsum("bsd,dnh->bsnh", x, W("multi_head_attention/key_dense")[0]) + \
        W("multi_head_attention/key_dense")[1]
    v = np.einsum("bsd,dnh->bsnh", x, W("multi_head_attention/value_dense")[0]) + \
        W("multi_head_attention/value_dense")[1]
    p = _softmax(np.einsum("bqnh,bknh->bnqk", q, k) / np.sqrt(q.shape[-1]))
    a = np.einsum("bnqk,bknh->bqnh", p, v)
    ow, ob = W("multi_head_attention/output_dense")
    a = np.einsum("bqnh,nhd->bqd", a, ow) + ob
    h = _ln(x + a, *W("layer_normalization"), 1e-5)
    return _dense((h + x).mean(1), W, "dense")


def ref_nested(W, x):
    h = np.maximum(_dense(x, W, "sequential/layers/dense"), 0)
    h = _dense(h, W, "sequential/layers/dense_1")
    return _dense(np.concatenate([h, x], -1), W, "dense")


def ref_custom(W, x):
    return _dense(0.5 * _dense(x, W, "scaled_dense"), W, "dense")


def ref_prep(W, x):
    mean, var, _ = W("normalization")
    return _dense((x - mean) / np.sqrt(np.maximum(var, 1e-7)), W, "dense")


# ------------------------------------------------------------------ the same models in nabi

def build(keras, name):
    L = keras.layers
    if name == "mlp":
        return keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="d1"),
                                 L.BatchNormalization(name="bn"), L.Dropout(0.3),
                                 L.Dense(3, activation="softmax", name="out")])
    if name == "mlp_func":
        inp = keras.Input((6,))
        h = L.BatchNormalization(momentum=0.9, epsilon=1e-3, center=False)(
            L.Dense(10, activation="tanh")(inp))
        a, b = L.Dense(4)(h), L.Dense(4, use_bias=False)(inp)
        return keras.Model(inp, L.Dense(2)(L.Concatenate()([L.Add()([a, b]), h])))
    if name == "cnn":
        return keras.Sequential([keras.Input((8, 8, 3)),
                                 L.Conv2D(4, 3, padding="same", activation="relu"),
                                 L.BatchNormalization(), L.MaxPooling2D(2),
                                 L.Conv2D(5, 3, use_bias=False),
                                 L.GlobalAveragePooling2D(), L.Dense(3)])
    if name == "rnn":
        inp = keras.Input((7,), dtype="int32")
        h = L.Bidirectional(L.LSTM(6, return_sequences=True))(
            L.Embedding(20, 5, mask_zero=True)(inp))
        return keras.Model(inp, L.Dense(1, activation="sigmoid")(L.GRU(4)(h)))
    if name == "mha":
        inp = keras.Input((5, 8))
        h = L.LayerNormalization(epsilon=1e-5)(
            L.Add()([inp, L.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp)]))
        return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling1D()(h + inp)))
    if name == "nested":
        inner = keras.Sequential([keras.Input((4,)), L.Dense(6, activation="relu"),
                                  L.Dense(5)])
        inp = keras.Input((4,))
        return keras.Model(inp, L.Dense(2)(L.Concatenate()([inner(inp), inp])))
    if name == "custom":
        inp = keras.Input((4,))
        return keras.Model(inp, L.Dense(2)(_scaled_dense(keras)(3, scale=0.5)(inp)))
    if name == "dict_out":   # the heads in the other order than Keras files them
        inp = keras.Input((4,))
        h = L.Dense(3, activation="tanh")(inp)
        return keras.Model(inp, {"z": L.Dense(2)(h), "a": L.Dense(2)(h)})
    if name == "subclassed":
        model = _two_tower(keras)(4)
        model(np.zeros((1, 5), np.float32))
        return model
    if name == "multi":
        a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
        shared = L.Dense(3)
        inner_in = keras.Input((3,))
        inner = keras.Model(inner_in, L.Dense(2)(L.Dense(5, activation="relu")(inner_in)))
        ha, hb = shared(a), shared(b)
        return keras.Model({"a": a, "b": b},
                           {"o1": inner(ha), "o2": L.Dense(1)(L.Concatenate()([ha, hb]))})
    if name == "prep":
        inp = keras.Input((3,))
        return keras.Model(inp, L.Dense(2)(L.Normalization()(inp)))
    raise KeyError(name)


def _scaled_dense(keras):
    @keras.saving.register_keras_serializable(package="nabitest")
    class ScaledDense(keras.layers.Layer):
        def __init__(self, units, scale=2.0, **kw):
            super().__init__(**kw)
            self.units, self.scale = units, scale

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="ones", name="b")

        def call(self, x):
            return self.scale * (keras.ops.matmul(x, self.w) + self.b)

        def get_config(self):
            return {**super().get_config(), "units": self.units, "scale": self.scale}
    return ScaledDense


def ref_ops(W, x):
    return _dense(np.concatenate([x.mean(1), x[:, 0]], -1) * 2.0, W, "dense")


def _keras_zip(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def ref_prep_text(W, texts, colors, path):
    """TextVectorization (lower, strip punctuation, split on spaces, indices with '' = 0 and
    '[UNK]' = 1, padded to 6) from the vocabulary in the .keras assets; StringLookup (OOV 0)
    from the config's vocabulary."""
    import re
    z = _keras_zip(path)
    vocab = z["assets/layers/text_vectorization/vocabulary.txt"].decode().split("\n")
    cfg = json.loads(z["config.json"])
    colors_vocab = [lc for lc in cfg["config"]["layers"]
                    if lc["class_name"] == "StringLookup"][0]["config"]["vocabulary"]
    rows = []
    for t in texts[:, 0]:
        words = re.sub(r"[^\w\s]", "", t.lower()).split()
        ids = [vocab.index(w) if w in vocab else 1 for w in words][:6]
        ids += [0] * (6 - len(ids))
        rows.append(W("embedding")[0][ids].mean(0))
    c = np.array([colors_vocab.index(v) + 1 if v in colors_vocab else 0 for v in colors[:, 0]])
    return _dense(np.concatenate([np.array(rows), np.eye(4)[c]], -1), W, "dense")


def ref_subclassed(W, x):
    return _dense(np.maximum(_dense(x, W, "d1"), 0), W, "d2")


def ref_dict_out(W, x, path):
    """Which file group holds head "a" and which "z" is read from the layer names Keras keeps
    on each `vars` group (both heads have the same shapes: a swap would be silent)."""
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            f = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    else:
        f = h5py.File(path, "r")
    key = {f["layers"][k]["vars"].attrs["name"]: k for k in f["layers"]}
    h = np.tanh(_dense(x, W, "dense"))
    return np.concatenate([_dense(h, W, key["z"]), _dense(h, W, key["a"])], -1)


def ref_multi(W, a, b):
    ha, hb = _dense(a, W, "dense"), _dense(b, W, "dense")
    h = np.maximum(_dense(ha, W, "functional/layers/dense"), 0)
    o1 = _dense(h, W, "functional/layers/dense_1")
    return np.concatenate([o1, _dense(np.concatenate([ha, hb], -1), W, "dense_1")], -1)


def _two_tower(keras):
    @keras.saving.register_keras_serializable(package="nabitest")
    class TwoTower(keras.Model):
        def __init__(self, units=4, **kw):
            super().__init__(**kw)
            self.units = units
            self.d1 = keras.layers.Dense(units, activation="relu")
            self.d2 = keras.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return TwoTower


REFS = {"ops": ref_ops, "multi": ref_multi, "subclassed": ref_subclassed, "mlp": ref_mlp, "mlp_func": ref_mlp_func, "cnn": ref_cnn, "rnn": ref_rnn,
        "mha": ref_mha, "nested": ref_nested, "custom": ref_custom, "prep": ref_prep}
FILES = sorted(f for f in os.listdir(D) if f.endswith((".keras", ".h5")))


def _io(name):
    d = np.load(os.path.join(D, f"{name}.io.npz"))
    return [d[k] for k in sorted(k for k in d.files if k.startswith("x"))], d["y"]


@pytest.mark.parametrize("fname", FILES)
def test_keras_file_predicts_as_numpy(keras, fname):
    name = fname.split(".")[0]
    if name == "prep_text":
        return _check_prep_text(keras, fname)
    if name == "multi":
        return _check_multi(keras, fname)
    if name == "dict_out":
        return _check_dict_out(keras, fname)
    xs, y_keras = _io(name)
    ref = REFS[name](file_weights(os.path.join(D, fname)), *[x.astype(np.float64)
                                                              if x.dtype.kind == "f" else x
                                                              for x in xs])
    np.testing.assert_allclose(ref, y_keras, rtol=1e-4, atol=1e-5)   # the reference is right
    path = os.path.join(D, fname)
    if fname.endswith(".weights.h5"):
        model = build(keras, name)
        model.load_weights(path)
    else:
        if name == "custom":
            _scaled_dense(keras)
        if name == "subclassed":
            _two_tower(keras)
        model = keras.models.load_model(path)
        if name == "subclassed":   # trained 2 steps with Adam: its state comes back too
            assert int(np.asarray(model.optimizer.iterations)) == 2
    y = np.asarray(model.predict(xs[0] if len(xs) == 1 else xs, verbose=0))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_nabi_weights_file_uses_keras_paths(keras, tmp_path):
    """nabi writes the paths Keras 3 reads: by class name and position, sublayers under their
    attributes; names of the layers do not matter."""
    for name in ("rnn", "mha", "nested", "subclassed"):
        model = build(keras, name)
        p = str(tmp_path / f"{name}.weights.h5")
        model.save_weights(p)
        W = file_weights(p)
        xs, _ = _io(name)
        x = xs[0].astype(np.float64) if xs[0].dtype.kind == "f" else xs[0]
        np.testing.assert_allclose(np.asarray(model.predict(xs[0], verbose=0)),
                                   REFS[name](W, x), rtol=1e-4, atol=1e-5)
        again = build(keras, name)
        again.load_weights(p)
        np.testing.assert_array_equal(np.asarray(again.predict(xs[0], verbose=0)),
                                      np.asarray(model.predict(xs[0], verbose=0)))


def _zip_config(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _classes(cfg):
    """[(module, class_name, registered_name)] of a model config's layers, nested walked."""
    out = []
    for lc in cfg["config"]["layers"]:
        out.append((lc.get("module"), lc["class_name"], lc.get("registered_name")))
        if lc["class_name"] in ("Sequential", "Functional"):
            out.extend(_classes(lc))
    return out


@pytest.mark.parametrize("name", ["mlp", "rnn", "mha", "nested", "custom", "ops"])
def test_nabi_keras_file_names_classes_as_keras(keras, tmp_path, name):
    """What Keras 3 needs to rebuild a nabi .keras file: each object's module and registered
    name as Keras writes them (its own layers, registered custom layers, Keras ops such as
    `x + y` in place of nabi's op layers), no Keras 2 batch_input_shape on layers, compile
    settings it compares with numbers; the file still loads in nabi with equal predictions."""
    if name == "ops":
        L = keras.layers
        inp = keras.Input((4, 3))
        c = keras.ops.concatenate([keras.ops.mean(inp, axis=1), inp[:, 0]], axis=-1) * 2.0
        model = keras.Model(inp, L.Dense(2)(c))
    else:
        model = build(keras, name)
    model.compile(optimizer="adam", loss="mse")
    p = str(tmp_path / "m.keras")
    model.save(p)
    cfg = _zip_config(p)
    want = _zip_config(os.path.join(D, f"{name}.keras"))
    assert (cfg["module"], cfg["class_name"], cfg["registered_name"]) == \
        (want["module"], want["class_name"], want["registered_name"])
    # Keras 3 computes the mask with an op in the graph (NotEqual); nabi's Embedding gives it
    assert _classes(cfg) == [c for c in _classes(want) if c[1] != "NotEqual"]
    for lc in cfg["config"]["layers"]:
        if lc["class_name"] != "InputLayer":
            assert "batch_input_shape" not in lc["config"]
        if lc["class_name"] == "MultiHeadAttention":
            assert "query_shape" not in lc["config"]
            assert lc["inbound_nodes"][0]["args"][1]["class_name"] == "__keras_tensor__"
    cc = cfg["compile_config"]
    assert (cc["run_eagerly"], cc["steps_per_execution"], cc["jit_compile"]) == (False, 1, False)
    if name == "custom":
        _scaled_dense(keras)
    xs, _ = _io(name)
    np.testing.assert_allclose(np.asarray(keras.models.load_model(p).predict(xs[0], verbose=0)),
                               np.asarray(model.predict(xs[0], verbose=0)), rtol=1e-6)


def test_nabi_h5_config_names_nested_classes(keras, tmp_path):
    """The legacy .h5's model_config too: Keras 3 deserialises nested objects (the LSTM in a
    Bidirectional) and registered custom layers by module / registered name."""
    model = build(keras, "rnn")
    p = str(tmp_path / "m.h5")
    model.save(p)
    with h5py.File(p, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
    bi = [lc for lc in cfg["config"]["layers"] if lc["class_name"] == "Bidirectional"][0]
    assert (bi["config"]["layer"]["module"], bi["config"]["layer"]["class_name"]) == \
        ("keras.layers", "LSTM")
    assert all("batch_input_shape" not in lc["config"] for lc in cfg["config"]["layers"]
               if lc["class_name"] != "InputLayer")
    xs, _ = _io("rnn")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(p).predict(xs[0], verbose=0)),
                               np.asarray(model.predict(xs[0], verbose=0)), rtol=1e-6)


def _check_prep_text(keras, fname):
    """The adapted vocabulary is in the .keras assets (nabi read none: every word was OOV);
    the legacy .h5 has none (Keras too loses it), which nabi says with a warning."""
    xs, y_keras = _io("prep_text")
    keras_path = os.path.join(D, "prep_text.keras")
    ref = ref_prep_text(file_weights(keras_path), *xs, keras_path)
    np.testing.assert_allclose(ref, y_keras, rtol=1e-4, atol=1e-5)
    path = os.path.join(D, fname)
    if fname.endswith(".h5"):
        with pytest.warns(UserWarning, match="no vocabulary"):
            keras.models.load_model(path)
        return
    model = keras.models.load_model(path)
    assert model.get_layer("tv").get_vocabulary()[:4] == ["", "[UNK]", "the", "dog"]
    np.testing.assert_allclose(np.asarray(model.predict(list(xs), verbose=0)), ref,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fname", ["mlp.keras", "mlp.h5"])
def test_keras_compile_state_and_adam_slots(keras, fname):
    """Keras's compile state comes back: Adam(1e-2) with its iteration count and every slot
    (m and v of each trainable variable, in Keras's order), the loss and the metrics."""
    path = os.path.join(D, fname)
    model = keras.models.load_model(path)
    opt = model.optimizer
    assert type(opt).__name__ == "Adam"
    assert opt.get_config()["learning_rate"] == pytest.approx(1e-2)
    if fname.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            f = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
        want = _vars(f["optimizer"])
    else:
        f = h5py.File(path, "r")
        og = f["optimizer_weights"]
        want = [np.asarray(og[n], np.float64) for n in og.attrs["weight_names"]]
    got = [np.asarray(v, np.float64) for v in opt.variables]
    assert len(got) == len(want) == 14   # iterations, learning rate, 2 slots x 6 variables
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert int(got[0]) == 8
    assert model.loss == "sparse_categorical_crossentropy"
    x = _io("mlp")[0][0]
    out = model.evaluate(x, np.zeros(len(x)), verbose=0, return_dict=True)
    assert sorted(out) == ["accuracy", "loss"]


def test_transposed_conv_config_has_no_groups(keras):
    """Keras 3's Conv1D/2D/3DTranspose refuse `groups`: nabi's config leaves it out."""
    L = keras.layers
    for layer in (L.Conv1DTranspose(3, 3), L.Conv2DTranspose(3, 3, strides=2),
                  L.Conv3DTranspose(2, 2)):
        cfg = layer.get_config()
        assert "groups" not in cfg
        assert type(layer).from_config(cfg).get_config() == cfg


def _check_multi(keras, fname):
    """A functional model nested in a functional one (Keras numbers its call node 1, nabi
    looked for 0), a layer shared by two inputs, dict inputs and outputs."""
    xs, y_keras = _io("multi")
    path = os.path.join(D, fname)
    ref = ref_multi(file_weights(path), *[x.astype(np.float64) for x in xs])
    np.testing.assert_allclose(ref, y_keras, rtol=1e-4, atol=1e-5)
    if fname.endswith(".weights.h5"):
        model = build(keras, "multi")
        model.load_weights(path)
    else:
        model = keras.models.load_model(path)
    y = model.predict({"a": xs[0], "b": xs[1]}, verbose=0)
    np.testing.assert_allclose(np.concatenate([np.asarray(y["o1"]), np.asarray(y["o2"])], -1),
                               ref, rtol=1e-4, atol=1e-5)


def _check_dict_out(keras, fname):
    """Dict outputs: Keras orders model.layers walking the outputs in sorted key order, and so
    files head "a" before head "z"; nabi walked them in insertion order and loaded each
    head's weights into the other (same shapes: silently)."""
    xs, y_keras = _io("dict_out")
    path = os.path.join(D, fname)
    ref = ref_dict_out(file_weights(path), xs[0].astype(np.float64), path)
    np.testing.assert_allclose(ref, y_keras, rtol=1e-4, atol=1e-5)
    if fname.endswith(".weights.h5"):
        model = build(keras, "dict_out")
        model.load_weights(path)
    else:
        model = keras.models.load_model(path)
    y = model.predict(xs[0], verbose=0)
    np.testing.assert_allclose(np.concatenate([np.asarray(y["z"]), np.asarray(y["a"])], -1),
                               ref, rtol=1e-4, atol=1e-5)


def test_keras_weights_into_smaller_model_warns(keras):
    """Keras 3 loads a weights file into a model that lacks some of its layers without a word
    (the extra weights are dropped); nabi does the same but warns, naming them."""
    L = keras.layers
    model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"),
                              L.BatchNormalization()])
    with pytest.warns(UserWarning, match="'dense_1'"):
        model.load_weights(os.path.join(D, "mlp.weights.h5"))
    W = file_weights(os.path.join(D, "mlp.weights.h5"))
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], W("dense")[0])
