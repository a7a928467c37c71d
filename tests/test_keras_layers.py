"""Keras layers: the Layer contract, Dense/core/merge layers against NumPy references."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


def _np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_dense_forward_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    for act, ref in [(None, lambda z: z), ("relu", lambda z: np.maximum(z, 0)),
                     ("sigmoid", _np_sigmoid), ("tanh", np.tanh)]:
        d = layers.Dense(3, activation=act)
        y = d(x)
        W, b = d.get_weights()
        assert W.shape == (7, 3) and b.shape == (3,)
        np.testing.assert_allclose(y.numpy(), ref(x @ W + b), rtol=1e-5, atol=1e-6)


def test_dense_softmax_and_nd_input():
    rng = np.random.default_rng(1)
    d = layers.Dense(4, activation="softmax")
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    y = d(x).numpy()
    W, b = d.get_weights()
    z = x @ W + b
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert y.shape == (2, 3, 4)


def test_dense_gradients_match_hand_derived_numpy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    d = layers.Dense(3, activation="sigmoid")
    d.build((None, 4))
    W = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    d.set_weights([W, b])
    with tf.GradientTape() as tape:
        y = d(x)
        loss = tf.reduce_sum(y * y)
    gW, gb = tape.gradient(loss, [d.kernel, d.bias])
    s = _np_sigmoid(x @ W + b)
    dz = 2 * s * s * (1 - s)
    np.testing.assert_allclose(gW.numpy(), x.T @ dz, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gb.numpy(), dz.sum(0), rtol=1e-4, atol=1e-5)


def test_names_autonumber_and_clear_session():
    a, b = layers.Dense(1), layers.Dense(1)
    assert (a.name, b.name) == ("dense", "dense_1")
    assert layers.Dropout(0.5).name == "dropout"
    keras.backend.clear_session()
    assert layers.Dense(1).name == "dense"
    assert layers.Dense(1, name="custom").name == "custom"


def test_weights_named_like_keras_and_count_params():
    d = layers.Dense(256)
    d.build((None, 784))
    assert [w.name for w in d.weights] == ["dense/kernel:0", "dense/bias:0"]
    assert [w.path for w in d.weights] == ["dense/kernel", "dense/bias"]
    assert d.count_params() == 200960
    assert len(d.trainable_weights) == 2 and d.non_trainable_weights == []
    d.trainable = False
    assert d.trainable_weights == [] and len(d.non_trainable_weights) == 2
    with pytest.raises(ValueError, match="not built|isn't built"):
        layers.Dense(3).count_params()


def test_set_weights_shape_error_names_layer_and_shapes():
    d = layers.Dense(3, name="dense_x")
    d.build((None, 4))
    with pytest.raises(ValueError, match=r"dense_x.*\(4, 3\).*\(5, 3\)"):
        d.set_weights([np.zeros((5, 3)), np.zeros(3)])


def test_bad_input_shape_error():
    d = layers.Dense(10, name="dense_1")
    d(np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError, match=r"\[dense_1\] expected input with last dimension 784, "
                                         r"got shape \(32, 783\)"):
        d(np.zeros((32, 783), np.float32))


def test_init_alias_and_input_dim_kwargs():
    d = layers.Dense(4, init="zeros", input_dim=3)
    assert d._batch_input_shape == (None, 3)
    d.build((None, 3))
    assert np.all(d.get_weights()[0] == 0)
    cfg = d.get_config()
    assert cfg["units"] == 4 and cfg["batch_input_shape"] == [None, 3]
    with pytest.raises(TypeError, match="not understood"):
        layers.Dense(3, bogus=1)


def test_dense_config_roundtrip():
    d = layers.Dense(5, activation="relu", use_bias=False, name="dd")
    cfg = d.get_config()
    d2 = layers.Dense.from_config(cfg)
    assert d2.units == 5 and d2.use_bias is False and d2.name == "dd"
    ser = layers.serialize(d)
    assert ser["class_name"] == "Dense"
    d3 = layers.deserialize(ser)
    assert isinstance(d3, layers.Dense) and d3.get_config()["activation"] == "relu"
    assert layers.get_layer_class("Dense") is layers.Dense


def test_dropout_training_only_and_scaled():
    d = layers.Dropout(0.5, seed=3)
    x = np.ones((200, 50), np.float32)
    np.testing.assert_array_equal(d(x).numpy(), x)
    np.testing.assert_array_equal(d(x, training=False).numpy(), x)
    y = d(x, training=True).numpy()
    assert set(np.unique(y)).issubset({0.0, 2.0})
    assert 0.4 < (y == 0).mean() < 0.6


def test_flatten_reshape_permute_activation_lambda():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(layers.Reshape((4, 3))(x).numpy(), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(layers.Reshape((-1,))(x).numpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(layers.Permute((2, 1))(x).numpy(), x.transpose(0, 2, 1))
    np.testing.assert_allclose(layers.Activation("relu")(x - 10).numpy(), np.maximum(x - 10, 0))
    np.testing.assert_allclose(layers.Lambda(lambda t: t * 2 + 1)(x).numpy(), x * 2 + 1)
    with pytest.raises(ValueError, match="reshape"):
        layers.Reshape((5, 5))(x)


def test_merge_layers_match_numpy():
    rng = np.random.default_rng(4)
    a, b, c = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3))
    np.testing.assert_allclose(layers.Add()([a, b, c]).numpy(), a + b + c, rtol=1e-6)
    np.testing.assert_allclose(layers.Subtract()([a, b]).numpy(), a - b, rtol=1e-6)
    np.testing.assert_allclose(layers.Multiply()([a, b]).numpy(), a * b, rtol=1e-6)
    np.testing.assert_allclose(layers.Average()([a, b]).numpy(), (a + b) / 2, rtol=1e-6)
    np.testing.assert_allclose(layers.Maximum()([a, b]).numpy(), np.maximum(a, b))
    np.testing.assert_allclose(layers.Minimum()([a, b]).numpy(), np.minimum(a, b))
    np.testing.assert_allclose(layers.Concatenate()([a, b]).numpy(), np.concatenate([a, b], 1))
    np.testing.assert_allclose(layers.concatenate([a, b], axis=0).numpy(),
                               np.concatenate([a, b], 0))
    np.testing.assert_allclose(layers.add([a, b]).numpy(), a + b, rtol=1e-6)
    np.testing.assert_allclose(layers.Dot(axes=1)([a, b]).numpy(),
                               (a * b).sum(1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError):
        layers.Subtract()([a, b, c])
    with pytest.raises(ValueError, match="Concatenate"):
        layers.Concatenate()([np.zeros((3, 4, 2), np.float32), np.zeros((3, 5, 2), np.float32)])


def test_custom_layer_subclass_tracks_weights_and_sublayers():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")
            self.c = self.add_weight("c", (), initializer="zeros", trainable=False)

        def call(self, x):
            return x * self.w

    class Block(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(3)
            self.s = Scale()

        def call(self, x, training=None):
            return self.s(self.d(x))

    blk = Block()
    y = blk(np.ones((2, 4), np.float32))
    assert y.shape == (2, 3)
    assert [w.path for w in blk.weights] == ["dense/kernel", "dense/bias", "scale/w", "scale/c"]
    assert len(blk.trainable_weights) == 3 and len(blk.non_trainable_weights) == 1
    assert blk.count_params() == 4 * 3 + 3 + 3 + 1


def test_regularizer_losses_and_add_loss():
    try:
        from nabi.keras import regularizers  # noqa: F401
    except ImportError:
        pytest.skip("nabi.keras.regularizers not available yet")
    d = layers.Dense(2, kernel_regularizer="l2", kernel_initializer="ones")
    d.build((None, 3))
    (l,) = d.losses
    np.testing.assert_allclose(float(l.numpy()), 0.01 * 6, rtol=1e-5)

    class ActLoss(layers.Layer):
        def call(self, x):
            self.add_loss(tf.reduce_sum(x))
            return x
    al = ActLoss()
    al(np.ones((2, 2), np.float32))
    assert len(al.losses) == 1 and float(al.losses[0].numpy()) == 4.0


def test_symbolic_call_shapes():
    inp = keras.Input(shape=(None, 8))
    out = layers.Dense(3)(inp)
    assert tuple(out.shape) == (None, None, 3)
    inp2 = keras.Input(shape=(784,), batch_size=16)
    assert tuple(layers.Dense(5)(inp2).shape) == (16, 5)
    f = layers.Flatten()(keras.Input(shape=(4, 5)))
    assert tuple(f.shape) == (None, 20)
    assert layers.Dense(4).compute_output_shape((None, 7)) == (None, 4)


def test_lambda_config_stores_bytecode_and_needs_unsafe_mode():
    """Keras 3: a lambda's bytecode is stored (marshal + base64, not pickle); rebuilding it
    requires safe_mode=False."""
    import json
    from nabi.keras.layers import core
    scale = 3.0
    lam = layers.Lambda(lambda t, k=2.0: t * k + scale, name="lam_bc")
    cfg = json.loads(json.dumps(lam.get_config()))
    assert cfg["function"]["class_name"] == "__lambda__"
    assert isinstance(cfg["function"]["config"]["code"], str)
    with pytest.raises(ValueError, match="safe_mode=False"):
        layers.Lambda.from_config(cfg)
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    again = layers.Lambda.from_config(cfg, safe_mode=False)
    np.testing.assert_allclose(again(x).numpy(), x * 2.0 + 3.0)
    # Through a whole model config (functional round trip) inside an unsafe scope.
    m = keras.Sequential([layers.Dense(2, input_shape=(2,)), lam])
    js = m.to_json()
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.model_from_json(js)
    with core.SafeModeScope(False):
        m2 = keras.models.model_from_json(js)
    m2.set_weights(m.get_weights())
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_lambda_named_function_round_trips_without_custom_objects():
    lam = layers.Lambda(np.negative)
    cfg = lam.get_config()
    again = layers.Lambda.from_config(cfg)
    assert again.function is np.negative


def test_experimental_preprocessing_import_paths():
    """TF 2.3-2.5 tutorials' import paths of the preprocessing layers and the timeseries
    utility still resolve (TF 2.15 keeps them)."""
    import nabi
    from nabi.keras.layers.experimental import preprocessing
    import nabi.keras.layers.experimental.preprocessing as pre2
    assert preprocessing is pre2
    assert preprocessing.Normalization is nabi.keras.layers.Normalization
    assert preprocessing.Rescaling is nabi.keras.layers.Rescaling
    assert nabi.keras.layers.experimental.preprocessing.RandomFlip is nabi.keras.layers.RandomFlip
    assert nabi.keras.preprocessing.timeseries_dataset_from_array is \
        nabi.keras.utils.timeseries_dataset_from_array


def test_string_input_model_config_and_keras_round_trip(tmp_path):
    """A model on keras.Input(dtype="string") rebuilds from its config and from a .keras file
    (the InputLayer's dtype is stored as NumPy's "object"; loading it used to raise)."""
    import numpy as np
    i = keras.Input(shape=(1,), dtype="string")
    m = keras.Model(i, keras.layers.StringLookup(vocabulary=["a", "b"])(i))
    x = np.array([["a"], ["c"], ["b"]])
    expect = [1, 0, 2]  # index 0 is the one OOV bucket, then the vocabulary in order
    np.testing.assert_array_equal(m.predict(x, verbose=0).ravel(), expect)
    np.testing.assert_array_equal(
        keras.Model.from_config(m.get_config()).predict(x, verbose=0).ravel(), expect)
    path = str(tmp_path / "m.keras")
    m.save(path)
    np.testing.assert_array_equal(keras.models.load_model(path).predict(x, verbose=0).ravel(),
                                  expect)


@pytest.mark.parametrize("stmt", ["import nabi.keras.utils", "import nabi.keras.preprocessing",
                                  "import nabi.keras.layers.experimental.preprocessing",
                                  "from nabi.keras.preprocessing import "
                                  "timeseries_dataset_from_array",
                                  "import nabi.data", "import nabi.train"])
def test_each_module_imports_first_in_a_fresh_process(stmt):
    """Each public module imports on its own in a new interpreter (an import cycle between
    keras.utils and keras.preprocessing once broke `import nabi.keras.utils` alone)."""
    import os
    import subprocess
    import sys
    import nabi
    root = os.path.dirname(os.path.dirname(nabi.__file__))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", stmt], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_unknown_axis_weights_raise_and_unknown_spatial_dims_build():
    """A layer whose weights would depend on an axis of unknown size (None) raises a clear
    error and keeps no weights built from a made-up size; layers that only need room on an
    unknown axis (a VALID 3x3 conv on an image of unknown size) build, as in Keras."""
    from nabi import keras
    L = keras.layers
    dense = L.Dense(4)
    with pytest.raises(ValueError, match=r"\[dense.*unknown size.*axis 1 of input shape "
                                         r"\(None, None\)"):
        dense(keras.Input((None,)))
    assert not dense.built and dense.weights == []
    out = dense(keras.Input((3,)))  # the same layer builds later from a defined size
    assert tuple(out.shape) == (None, 4) and tuple(dense.kernel.shape) == (3, 4)
    with pytest.raises(ValueError, match=r"\[lstm.*axis 2 of input shape \(None, 5, None\)"):
        L.LSTM(3)(keras.Input((5, None)))
    with pytest.raises(ValueError, match=r"\[conv2d.*axis 3"):
        L.Conv2D(2, 3)(keras.Input((8, 8, None)))

    i = keras.Input((None, None, 1))
    x = L.Conv2D(4, 3)(i)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(4, 3)(x)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(5, 3)(x)
    assert tuple(x.shape) == (None, None, None, 5)
    o = L.Dense(2)(L.GlobalMaxPooling2D()(x))
    m = keras.Model(i, o)
    # 40x36 -> conv 38x34 -> pool 19x17 -> conv 17x15 -> pool 8x7 -> conv 6x5
    feat = keras.Model(i, x).predict(np.zeros((1, 40, 36, 1), np.float32), verbose=0)
    assert feat.shape == (1, 6, 5, 5)
    assert m.predict(np.zeros((3, 20, 24, 1), np.float32), verbose=0).shape == (3, 2)
    assert tuple(L.Reshape((-1, 2))(keras.Input((None,))).shape) == (None, None, 2)
